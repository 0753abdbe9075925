/*
 * tests/unit/test_proc.c - common/proc.c against real programs, and the
 * logger it reports through (common/log.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/proc.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static int run(PgcProcSpec *spec, PgcProcResult *res)
{
	if (spec->timeout_ms == 0)
		spec->timeout_ms = 10000;
	return proc_run(spec, res);
}

static void assert_no_children(void)
{
	/* Every child proc_run() started has been reaped. */
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_exit_codes(void **state)
{
	PgcProcSpec spec = {.argv = ARGV("/bin/sh", "-c", "exit 3")};
	PgcProcResult res;
	char buf[64];

	(void)state;
	assert_int_equal(run(&spec, &res), 0);
	assert_int_equal(res.status, 3);
	assert_int_equal(res.term_signal, 0);
	assert_false(res.timed_out);
	assert_string_equal(res.output, "");
	assert_string_equal(proc_status_text(&res, buf, sizeof(buf)), "exited with code 3");
	proc_result_free(&res);

	spec.argv = ARGV("true");  /* a bare name, found in PATH */
	assert_int_equal(run(&spec, &res), 0);
	assert_int_equal(res.status, 0);
	proc_result_free(&res);

	spec.argv = ARGV("/bin/sh", "-c", "kill -9 $$");
	assert_int_equal(run(&spec, &res), 0);
	assert_int_equal(res.status, 128 + SIGKILL);
	assert_int_equal(res.term_signal, SIGKILL);
	assert_string_equal(proc_status_text(&res, buf, sizeof(buf)),
			    "was terminated by signal 9 (Killed)");
	proc_result_free(&res);
	assert_no_children();
}

static void test_output_both_streams(void **state)
{
	PgcProcSpec spec = {.argv = ARGV("/bin/sh", "-c", "echo out; echo err >&2; echo out2")};
	PgcProcResult res;

	(void)state;
	assert_int_equal(run(&spec, &res), 0);
	assert_string_equal(res.output, "out\nerr\nout2\n");
	assert_int_equal(res.output_len, 13);
	assert_false(res.truncated);
	proc_result_free(&res);
}

static void test_output_tail_kept(void **state)
{
	PgcProcSpec spec = {.argv = ARGV("/usr/bin/seq", "1", "200000"), .max_output = 16};
	PgcProcResult res;
	char *all = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&all, &len);
	int i;

	(void)state;
	for (i = 1; i <= 200000; i++)
		fprintf(f, "%d\n", i);
	fclose(f);
	assert_int_equal(run(&spec, &res), 0);
	assert_true(res.truncated);
	assert_int_equal(res.output_len, 16);
	assert_string_equal(res.output, all + len - 16);
	proc_result_free(&res);
	free(all);
}

static void test_timeout_term(void **state)
{
	PgcProcSpec spec = {.argv = ARGV("/bin/sleep", "30"), .timeout_ms = 300};
	PgcProcResult res;
	char buf[64];

	(void)state;
	assert_int_equal(proc_run(&spec, &res), 0);
	assert_true(res.timed_out);
	assert_int_equal(res.term_signal, SIGTERM);
	assert_int_equal(res.status, 128 + SIGTERM);
	assert_true(res.elapsed_ms >= 300);
	assert_true(res.elapsed_ms < 1500);
	assert_string_equal(proc_status_text(&res, buf, sizeof(buf)), "timed out after 300 ms");
	proc_result_free(&res);
	assert_no_children();
}

static void test_timeout_kill_after_grace(void **state)
{
	/* The shell and its sleep ignore SIGTERM: only SIGKILL to the group ends them. */
	PgcProcSpec spec = {.argv = ARGV("/bin/sh", "-c", "trap '' TERM; /bin/sleep 30; echo no"),
			    .timeout_ms = 200};
	PgcProcResult res;

	(void)state;
	assert_int_equal(proc_run(&spec, &res), 0);
	assert_true(res.timed_out);
	assert_int_equal(res.term_signal, SIGKILL);
	assert_true(res.elapsed_ms >= 200 + PROC_KILL_GRACE_MS);
	assert_true(res.elapsed_ms < 200 + PROC_KILL_GRACE_MS + 1500);
	assert_string_equal(res.output, "");
	proc_result_free(&res);
	assert_no_children();
}

static void test_env_extra_and_logging(void **state)
{
	const char *const env[] = {"PGPASSWORD=hunter2-secret", "EXTRA_ONE=1", NULL};
	PgcProcSpec spec = {.argv = ARGV("/usr/bin/env"), .env_extra = env};
	PgcProcResult res;
	PgcLogLevel old = log_get_level();
	char *log;

	(void)state;
	log_set_level(LOG_DEBUG);
	log_capture_begin();
	assert_int_equal(run(&spec, &res), 0);
	log = log_capture_end();
	log_set_level(old);

	assert_non_null(strstr(res.output, "\nPGPASSWORD=hunter2-secret\n"));
	assert_non_null(strstr(res.output, "\nEXTRA_ONE=1\n"));
	assert_non_null(strstr(log, "debug: running: /usr/bin/env (timeout 10000 ms, env "
				    "PGPASSWORD, env EXTRA_ONE)\n"));
	assert_non_null(strstr(log, "debug: \"/usr/bin/env\" exited with code 0 in "));
	assert_null(strstr(log, "hunter2"));
	free(log);
	proc_result_free(&res);
}

static void test_env_scrubbed(void **state)
{
	PgcProcSpec spec = {.argv = ARGV("/usr/bin/env")};
	PgcProcResult res;

	(void)state;
	setenv("PGPASSWORD", "leaked", 1);
	setenv("PGHOST", "elsewhere", 1);
	setenv("APP_SECRET_FOR_TEST", "leaked-too", 1);
	setenv("KEEP_ME_FOR_TEST", "kept", 1);
	proc_scrub_env("APP_SECRET_FOR_TEST");
	proc_scrub_env("APP_SECRET_FOR_TEST"); /* twice is fine */
	assert_int_equal(run(&spec, &res), 0);
	assert_null(strstr(res.output, "leaked"));
	assert_null(strstr(res.output, "PGHOST"));
	assert_non_null(strstr(res.output, "KEEP_ME_FOR_TEST=kept\n"));
	assert_non_null(strstr(res.output, "PATH="));
	proc_result_free(&res);
	unsetenv("PGPASSWORD");
	unsetenv("PGHOST");
	unsetenv("APP_SECRET_FOR_TEST");
	unsetenv("KEEP_ME_FOR_TEST");
}

static void test_stdin_data(void **state)
{
	PgcProcSpec spec = {.argv = ARGV("/bin/cat"), .stdin_data = "line one\nline two\n"};
	PgcProcResult res;

	(void)state;
	assert_int_equal(run(&spec, &res), 0);
	assert_string_equal(res.output, "line one\nline two\n");
	proc_result_free(&res);

	/* Without stdin_data, stdin is /dev/null: cat ends at once. */
	spec.stdin_data = NULL;
	assert_int_equal(run(&spec, &res), 0);
	assert_int_equal(res.status, 0);
	assert_string_equal(res.output, "");
	proc_result_free(&res);
}

static void test_stdin_large_no_deadlock(void **state)
{
	/* Far more than a pipe holds in both directions at once. */
	size_t n = 3 * 1024 * 1024, i;
	char *data = malloc(n + 1);
	PgcProcSpec spec = {.argv = ARGV("/bin/cat"), .max_output = n};
	PgcProcResult res;

	(void)state;
	for (i = 0; i < n; i++)
		data[i] = (char)('a' + i % 26);
	data[n] = '\0';
	spec.stdin_data = data;
	assert_int_equal(run(&spec, &res), 0);
	assert_int_equal(res.output_len, n);
	assert_memory_equal(res.output, data, n);
	proc_result_free(&res);

	/* A child that reads nothing: no SIGPIPE for us, just its exit. */
	spec.argv = ARGV("/bin/true");
	assert_int_equal(run(&spec, &res), 0);
	assert_int_equal(res.status, 0);
	proc_result_free(&res);
	free(data);
}

static void test_run_as(void **state)
{
	PgcProcSpec spec = {.argv = ARGV("/usr/bin/id", "-u"), .run_as = "postgres", .cwd = NULL};
	PgcProcResult res;
	struct passwd *pw = getpwnam("postgres");
	char expect[64];

	(void)state;
	if (geteuid() != 0 || pw == NULL) {
		skip();
		return;
	}
	snprintf(expect, sizeof(expect), "%u\n", (unsigned)pw->pw_uid);
	assert_int_equal(run(&spec, &res), 0);
	assert_string_equal(res.output, expect);
	proc_result_free(&res);

	snprintf(expect, sizeof(expect), "%u\n", (unsigned)pw->pw_gid);
	spec.argv = ARGV("/usr/bin/id", "-g");
	assert_int_equal(run(&spec, &res), 0);
	assert_string_equal(res.output, expect);
	proc_result_free(&res);

	spec.argv = ARGV("/usr/bin/env");
	assert_int_equal(run(&spec, &res), 0);
	snprintf(expect, sizeof(expect), "\nHOME=%s\n", pw->pw_dir);
	assert_non_null(strstr(res.output, expect));
	assert_non_null(strstr(res.output, "\nUSER=postgres\n"));
	assert_non_null(strstr(res.output, "\nLOGNAME=postgres\n"));
	proc_result_free(&res);

	/* Supplementary groups come from the group database (initgroups). */
	{
		gid_t groups[64];
		int ng = 64, i;
		char *words;

		assert_true(getgrouplist("postgres", pw->pw_gid, groups, &ng) >= 0);
		spec.argv = ARGV("/usr/bin/id", "-G");
		assert_int_equal(run(&spec, &res), 0);
		assert_int_equal(asprintf(&words, " %s", res.output) > 0, 1);
		words[strlen(words) - 1] = ' '; /* " g1 g2 ... " */
		for (i = 0; i < ng; i++) {
			snprintf(expect, sizeof(expect), " %u ", (unsigned)groups[i]);
			assert_non_null(strstr(words, expect));
		}
		free(words);
		proc_result_free(&res);
	}
}

static void test_run_as_cwd_fallback(void **state)
{
	/* From a folder postgres cannot enter, the child starts in its home. */
	PgcProcSpec spec = {.argv = ARGV("/bin/pwd"), .run_as = "postgres"};
	PgcProcResult res;
	struct passwd *pw = getpwnam("postgres");
	char dir[] = "/tmp/pgc-proc-XXXXXX", cwd[4096], expect[4200];

	(void)state;
	if (geteuid() != 0 || pw == NULL) {
		skip();
		return;
	}
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0700), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(run(&spec, &res), 0);
	assert_int_equal(chdir(cwd), 0);
	rmdir(dir);
	snprintf(expect, sizeof(expect), "%s\n", pw->pw_dir);
	assert_string_equal(res.output, expect);
	proc_result_free(&res);
}

static void test_cwd(void **state)
{
	PgcProcSpec spec = {.argv = ARGV("/bin/pwd"), .cwd = "/usr/share"};
	PgcProcResult res;
	char *log;

	(void)state;
	assert_int_equal(run(&spec, &res), 0);
	assert_string_equal(res.output, "/usr/share\n");
	proc_result_free(&res);

	spec.cwd = "/nonexistent-pgc-dir";
	log_capture_begin();
	assert_int_equal(run(&spec, &res), -1);
	log = log_capture_end();
	assert_string_equal(log, "error: could not run \"/bin/pwd\": could not change to folder "
				 "\"/nonexistent-pgc-dir\": No such file or directory\n");
	assert_null(res.output);
	free(log);
	assert_no_children();
}

static void test_not_startable(void **state)
{
	PgcProcSpec spec = {.argv = ARGV("/nonexistent/pgc-prog", "x")};
	PgcProcResult res;
	char *log;

	(void)state;
	log_capture_begin();
	assert_int_equal(run(&spec, &res), -1);
	log = log_capture_end();
	assert_string_equal(log, "error: could not execute \"/nonexistent/pgc-prog\": "
				 "No such file or directory\n");
	assert_null(res.output);
	free(log);

	spec.argv = ARGV("pgc-no-such-program");
	log_capture_begin();
	assert_int_equal(run(&spec, &res), -1);
	log = log_capture_end();
	assert_string_equal(log,
			    "error: could not run \"pgc-no-such-program\": program not found in PATH\n");
	free(log);

	spec.argv = ARGV("/etc/passwd"); /* exists, not executable */
	log_capture_begin();
	assert_int_equal(run(&spec, &res), -1);
	log = log_capture_end();
	assert_string_equal(log, "error: could not execute \"/etc/passwd\": Permission denied\n");
	free(log);

	spec.argv = ARGV("/bin/true");
	spec.timeout_ms = -1;
	log_capture_begin();
	assert_int_equal(proc_run(&spec, &res), -1);
	log = log_capture_end();
	assert_string_equal(log, "error: could not run \"/bin/true\": no timeout given\n");
	free(log);

	spec.timeout_ms = 1000;
	spec.env_extra = ARGV("NOEQUALS");
	log_capture_begin();
	assert_int_equal(proc_run(&spec, &res), -1);
	log = log_capture_end();
	assert_string_equal(log, "error: could not run \"/bin/true\": environment entry 1 is not "
				 "NAME=value\n");
	free(log);

	/* run_as only matters to root; others run the program as themselves. */
	spec.env_extra = NULL;
	spec.run_as = "pgc-no-such-user";
	log_capture_begin();
	if (geteuid() == 0) {
		assert_int_equal(proc_run(&spec, &res), -1);
		log = log_capture_end();
		assert_string_equal(log, "error: could not find user \"pgc-no-such-user\"\n"
					 "  hint: create the user, or set os_user to an existing one\n");
	} else {
		assert_int_equal(proc_run(&spec, &res), 0);
		assert_int_equal(res.status, 0);
		proc_result_free(&res);
		log = log_capture_end();
		assert_string_equal(log, "");
	}
	free(log);
	assert_no_children();
}

static void test_detached_grandchild(void **state)
{
	/* The shell exits at once but leaves a sleep holding its stdout. */
	PgcProcSpec spec = {.argv = ARGV("/bin/sh", "-c", "/bin/sleep 20 & echo $!"),
			    .detach = true, .timeout_ms = 15000};
	PgcProcResult res;
	long grandchild;

	(void)state;
	assert_int_equal(proc_run(&spec, &res), 0);
	assert_false(res.timed_out);
	assert_int_equal(res.status, 0);
	assert_true(res.elapsed_ms < 2000);
	grandchild = strtol(res.output, NULL, 10);
	assert_true(grandchild > 1);
	/* It is still running, in the session the shell led. */
	assert_int_equal(kill((pid_t)grandchild, 0), 0);
	assert_true(getsid((pid_t)grandchild) != getsid(0));
	kill((pid_t)grandchild, SIGKILL);
	proc_result_free(&res);
	assert_no_children();

	/* Without detach the rule is the same: return when the child exits. */
	spec.detach = false;
	assert_int_equal(proc_run(&spec, &res), 0);
	assert_true(res.elapsed_ms < 2000);
	grandchild = strtol(res.output, NULL, 10);
	assert_true(grandchild > 1);
	assert_int_equal(getsid((pid_t)grandchild), getsid(0));
	assert_true(getpgid((pid_t)grandchild) != getpgid(0));
	kill((pid_t)grandchild, SIGKILL);
	proc_result_free(&res);
}

static void test_fds_and_signals_not_inherited(void **state)
{
	PgcProcSpec spec = {.argv = ARGV("/bin/ls", "/proc/self/fd")};
	PgcProcResult res;
	int leak = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */

	(void)state;
	assert_true(leak > 2);
	assert_int_equal(run(&spec, &res), 0);
	/* 0-2 and the folder ls itself opened to list them. */
	assert_string_equal(res.output, "0\n1\n2\n3\n");
	proc_result_free(&res);
	close(leak);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	spec.argv = ARGV("/bin/grep", "^SigIgn", "/proc/self/status");
	assert_int_equal(run(&spec, &res), 0);
	/* Signals 32 and 33 are glibc's own (NPTL): no process can change them,
	 * and an ignoring parent (make, CI) passes them on; check the rest. */
	assert_true(strncmp(res.output, "SigIgn:\t", 8) == 0);
	assert_int_equal(strtoull(res.output + 8, NULL, 16) & 0x7fffffffULL, 0);
	proc_result_free(&res);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
}

static void test_format_argv(void **state)
{
	char *s = proc_format_argv(ARGV("/usr/bin/pg_ctl", "-D", "/data/my dir", "it's", "",
					"-o", "--port=5432", "a$b"));

	(void)state;
	assert_string_equal(s, "/usr/bin/pg_ctl -D '/data/my dir' 'it'\\''s' '' -o --port=5432 'a$b'");
	free(s);
}

static void test_user_lookup(void **state)
{
	uid_t uid;
	gid_t gid;
	char *home = NULL, *log;
	struct passwd *pw = getpwnam("root");

	(void)state;
	assert_int_equal(proc_user_lookup("root", &uid, &gid, &home), 0);
	assert_int_equal(uid, 0);
	assert_int_equal(gid, 0);
	assert_string_equal(home, pw->pw_dir);
	free(home);

	log_capture_begin();
	assert_int_equal(proc_user_lookup("pgc-no-such-user", &uid, &gid, NULL), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "error: could not find user \"pgc-no-such-user\"\n"));
	free(log);
}

/* --- common/log.c --- */

static char *log_to_file(void (*emit)(void))
{
	FILE *f = tmpfile();
	char *buf;
	long n;

	log_set_output(f);
	emit();
	log_set_output(NULL);
	n = ftell(f);
	buf = calloc(1, (size_t)n + 1);
	rewind(f);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static void emit_text(void)
{
	const char *const fields[] = {"node", "pg1", "note", "two words", NULL};

	log_info("server \"%s\" started", "pg1");
	log_debug("not shown at info level");
	log_error("could not start \"pg2\": exit 1\nhint: look at the log");
	log_fields(LOG_WARN, fields, "slow");
}

static void test_log_text(void **state)
{
	char *out;

	(void)state;
	log_set_level(LOG_INFO);
	out = log_to_file(emit_text);
	/* A file is not a terminal: each line starts with a UTC timestamp. */
	assert_int_equal(strlen(out) > 21, 1);
	assert_true(out[4] == '-' && out[10] == 'T' && out[19] == 'Z' && out[20] == ' ');
	assert_non_null(strstr(out, "Z info: server \"pg1\" started\n"));
	assert_non_null(strstr(out, "Z error: could not start \"pg2\": exit 1\n  hint: look at the log\n"));
	assert_non_null(strstr(out, "Z warning: slow node=pg1 note=\"two words\"\n"));
	assert_null(strstr(out, "not shown"));
	free(out);

	log_set_output(stderr);
	log_capture_begin();
	log_set_color(true);
	log_warn("w");
	log_set_color(false);
	out = log_capture_end();
	assert_string_equal(out, "warning: w\n"); /* captures are plain */
	free(out);
}

static void emit_json(void)
{
	const char *const fields[] = {"cluster", "main", NULL};

	log_set_format(LOG_FORMAT_JSON);
	log_error("bad \"quote\" \\ tab\tand \x01 and \xff\nhint: do \"x\"");
	log_fields(LOG_INFO, fields, "é ok");
	log_set_format(LOG_FORMAT_TEXT);
}

static void test_log_json(void **state)
{
	char *out, *line2;

	(void)state;
	log_set_level(LOG_INFO);
	out = log_to_file(emit_json);
	assert_true(strncmp(out, "{\"ts\":\"", 7) == 0);
	assert_true(out[30] == 'Z' && out[26] == '.');
	assert_non_null(strstr(out, "Z\",\"level\":\"error\",\"msg\":\"bad \\\"quote\\\" \\\\ tab\\tand "
				    "\\u0001 and \xef\xbf\xbd\",\"hint\":\"do \\\"x\\\"\"}\n"));
	line2 = strchr(out, '\n') + 1;
	assert_non_null(strstr(line2, "\",\"level\":\"info\",\"msg\":\"\xc3\xa9 ok\","
				      "\"cluster\":\"main\"}\n"));
	free(out);
}

static void test_log_levels(void **state)
{
	PgcLogFormat f;
	char *out;

	(void)state;
	log_set_level(LOG_INFO);
	log_adjust_level(+1);
	assert_int_equal(log_get_level(), LOG_DEBUG);
	log_adjust_level(+5);
	assert_int_equal(log_get_level(), LOG_DEBUG);
	log_adjust_level(-2);
	assert_int_equal(log_get_level(), LOG_WARN);
	assert_false(log_enabled(LOG_INFO));
	log_capture_begin();
	log_info("hidden");
	log_warn("shown");
	out = log_capture_end();
	assert_string_equal(out, "warning: shown\n");
	free(out);
	log_adjust_level(-9);
	assert_int_equal(log_get_level(), LOG_ERROR);
	log_set_level(LOG_INFO);

	assert_int_equal(log_parse_format("json", &f), 0);
	assert_int_equal(f, LOG_FORMAT_JSON);
	assert_int_equal(log_parse_format("text", &f), 0);
	assert_int_equal(f, LOG_FORMAT_TEXT);
	assert_int_equal(log_parse_format("xml", &f), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_output_both_streams),
		cmocka_unit_test(test_output_tail_kept),
		cmocka_unit_test(test_timeout_term),
		cmocka_unit_test(test_timeout_kill_after_grace),
		cmocka_unit_test(test_env_extra_and_logging),
		cmocka_unit_test(test_env_scrubbed),
		cmocka_unit_test(test_stdin_data),
		cmocka_unit_test(test_stdin_large_no_deadlock),
		cmocka_unit_test(test_run_as),
		cmocka_unit_test(test_run_as_cwd_fallback),
		cmocka_unit_test(test_cwd),
		cmocka_unit_test(test_not_startable),
		cmocka_unit_test(test_detached_grandchild),
		cmocka_unit_test(test_fds_and_signals_not_inherited),
		cmocka_unit_test(test_format_argv),
		cmocka_unit_test(test_user_lookup),
		cmocka_unit_test(test_log_text),
		cmocka_unit_test(test_log_json),
		cmocka_unit_test(test_log_levels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
