/*
 * tests/unit/test_strutil.c - the growable buffer and the escaping of text
 * that may come from a server or a file, for a terminal (plan, status) and
 * for markdown (a pull request comment).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/log.h"
#include "common/strutil.h"

static void test_strbuf_grows(void **state)
{
	PgcStrBuf b = PGC_STRBUF_INIT;
	PgcArena *a = arena_new();
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < 10000; i++)
		strbuf_addf(&b, "%zu,", i % 10);
	assert_int_equal(b.len, 20000);
	assert_true(b.cap >= b.len + 1 && b.cap <= 2 * (b.len + 1) + 256);
	assert_memory_equal(b.data, "0,1,2,", 6);
	s = strbuf_finish(&b, a);
	assert_null(b.data);
	assert_int_equal(strlen(s), 20000);
	s = strbuf_finish(&b, a);
	assert_string_equal(s, "");
	arena_free(a);
}

static void test_text_escapes_controls(void **state)
{
	PgcArena *a = arena_new();
	const char *clean = "app_user \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac C:\\dir \"q\" `b` [x](y)";

	(void)state;
	/* Ordinary names, UTF-8 and backslashes included, are the same pointer. */
	assert_ptr_equal(str_text(a, clean), clean);
	assert_null(str_text(a, NULL));
	assert_string_equal(str_text(a, "evil\n+ fake line"), "evil\\n+ fake line");
	assert_string_equal(str_text(a, "a\rb\tc"), "a\\rb\\tc");
	assert_string_equal(str_text(a, "\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
	assert_string_equal(str_text(a, "bell\a del\x7f nul-less\x01"), "bell\\x07 del\\x7f nul-less\\x01");
	/* C1 controls (CSI as U+009B), separators and bidirectional overrides. */
	assert_string_equal(str_text(a, "x\xc2\x9b" "31my"), "x\\u009b31my");
	assert_string_equal(str_text(a, "a\xe2\x80\xa8" "b"), "a\\u2028b");
	assert_string_equal(str_text(a, "admin\xe2\x80\xae" "txt.exe"), "admin\\u202etxt.exe");
	/* Bytes that are not UTF-8 (a lone C1 byte, a cut sequence, an overlong form). */
	assert_string_equal(str_text(a, "a\x9b" "b"), "a\\x9bb");
	assert_string_equal(str_text(a, "a\xe6\x97"), "a\\xe6\\x97");
	assert_string_equal(str_text(a, "\xc0\xaf"), "\\xc0\\xaf");
	assert_true(str_text_clean(clean));
	assert_false(str_text_clean("a\nb"));
	arena_free(a);
}

static char *line_of(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	str_fput_line(f, s);
	fclose(f);
	return buf;
}

/* status prints formatted lines through str_fput_line: only the format's own newlines stay. */
static void test_fput_line(void **state)
{
	char *out;

	(void)state;
	out = line_of("  pg2        replica     \x1b[2J10.0.0.1\n+ fake:5432\n");
	assert_string_equal(out, "  pg2        replica     \\x1b[2J10.0.0.1\\n+ fake:5432\n");
	free(out);
	out = line_of("\nbackups\n");
	assert_string_equal(out, "\nbackups\n");
	free(out);
	out = line_of("last applied: x\r\n\n");
	assert_string_equal(out, "last applied: x\\r\n\n");
	free(out);
	out = line_of("\n");
	assert_string_equal(out, "\n");
	free(out);
}

/*
 * failover and apply print server text (a connection error, a fencing
 * command's output, a blocked action's reason) through str_fprintf_line:
 * the values are escaped, the format's trailing newline stays.
 */
static void test_fprintf_line(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	str_fprintf_line(f, "  candidate %-6s %s\n", "pg2",
			 "connection failed: FATAL:  \x1b[31mno\rpg_hba.conf entry\nok: forged");
	str_fprintf_line(f, "  %s: %s\n", "main/pg1/restart", "by policy");
	fclose(f);
	assert_string_equal(buf, "  candidate pg2    connection failed: FATAL:  \\x1b[31mno\\rpg_hba.conf "
				 "entry\\nok: forged\n"
				 "  main/pg1/restart: by policy\n");
	free(buf);
}

static const char *md(PgcArena *a, const char *s, int kind)
{
	PgcStrBuf b = PGC_STRBUF_INIT;

	if (kind == 0)
		strbuf_add_md_text(&b, s);
	else
		strbuf_add_md_code(&b, s, kind == 2);
	return strbuf_finish(&b, a);
}

static void test_markdown(void **state)
{
	PgcArena *a = arena_new();

	(void)state;
	/* Prose: no link, image, HTML or cell break can start; ordinary text unchanged. */
	assert_string_equal(md(a, "max_connections (8 parameters): \"x\" -> y", 0),
			    "max_connections (8 parameters): \"x\" -&gt; y");
	assert_string_equal(md(a, "`![x](http://e.invalid/a.png)`", 0),
			    "\\`!\\[x\\](http://e.invalid/a.png)\\`");
	assert_string_equal(md(a, "<img src=x onerror=y> a|b & \\[", 0),
			    "&lt;img src=x onerror=y&gt; a\\|b &amp; \\\\\\[");
	assert_string_equal(md(a, "evil\n+ fake", 0), "evil\\\\n+ fake");
	/* Code spans: a fence longer than any backtick run, padded where needed. */
	assert_string_equal(md(a, "main/pg1", 1), "`main/pg1`");
	assert_string_equal(md(a, "a`b", 1), "``a`b``");
	assert_string_equal(md(a, "`![x](http://e.invalid/a.png)`", 1),
			    "`` `![x](http://e.invalid/a.png)` ``");
	assert_string_equal(md(a, "x ``` y", 1), "````x ``` y````");
	assert_string_equal(md(a, " x ", 1), "`  x  `");
	assert_string_equal(md(a, "", 1), "` `");
	assert_string_equal(md(a, "r|x\n", 2), "`r\\|x\\n`");
	assert_string_equal(md(a, "r|x", 1), "`r|x`");
	arena_free(a);
}

/* Log lines in text format: a name's escape sequence is made visible, its
 * line break indents (it cannot start a line of level "error:"). */
static void test_log_text(void **state)
{
	const char *const f[] = {"role", "\x1b]0;x\x07\x9b", NULL};
	char *out;

	(void)state;
	log_capture_begin();
	log_error("cannot drop role \"%s\"", "\x1b[2Jevil\nerror: forged");
	log_fields(LOG_ERROR, f, "role left in place");
	out = log_capture_end();
	assert_string_equal(out, "error: cannot drop role \"\\x1b[2Jevil\n"
				 "  error: forged\"\n"
				 "error: role left in place role=\"\\x1b]0;x\\x07\\x9b\"\n");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strbuf_grows),
		cmocka_unit_test(test_text_escapes_controls),
		cmocka_unit_test(test_fput_line),
		cmocka_unit_test(test_fprintf_line),
		cmocka_unit_test(test_markdown),
		cmocka_unit_test(test_log_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
