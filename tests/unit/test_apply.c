/*
 * tests/unit/test_apply.c - the executor without servers: the password
 * placeholder, the include-line test, passfile escaping, secrets, the
 * journal, and apply_plan()'s skip rules (blocked, failed dependency,
 * node on another host, a stop request).
 */
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/arena.h"
#include "common/diag.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "reconcile/engine/action.h"
#include "reconcile/engine/exec.h"
#include "reconcile/postgres/config.h"
#include "reconcile/postgres/initdb.h"
#include "reconcile/postgres/sql_actions.h"
#include "reconcile/pg/conf.h"
#include "reconcile/pg/passfile.h"
#include "reconcile/engine/secret.h"
#include "reconcile/engine/apply.h"
#include "reconcile/engine/journal.h"

static char tmpdir[] = "/tmp/pgc-apply-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- password placeholder ---------------------------------------------- */

static void test_password_statement(void **state)
{
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(
	    sql_password_statement(a, "CREATE ROLE app WITH LOGIN PASSWORD $1", "'v'"),
	    "CREATE ROLE app WITH LOGIN PASSWORD 'v'");
	/* $1 inside a quoted name or string is not the placeholder. */
	assert_string_equal(sql_password_statement(a, "ALTER ROLE \"a$1\" PASSWORD $1", "'v'"),
			    "ALTER ROLE \"a$1\" PASSWORD 'v'");
	assert_string_equal(sql_password_statement(a, "ALTER ROLE \"a\"\"$1\" PASSWORD $1", "'v'"),
			    "ALTER ROLE \"a\"\"$1\" PASSWORD 'v'");
	assert_string_equal(sql_password_statement(a, "COMMENT ON ROLE x IS E'\\'$1' ; $1", "'v'"),
			    "COMMENT ON ROLE x IS E'\\'$1' ; 'v'");
	/* None, two, or $10 (another parameter): refused. */
	assert_null(sql_password_statement(a, "CREATE ROLE app", "'v'"));
	assert_null(sql_password_statement(a, "CREATE ROLE app PASSWORD $1 $1", "'v'"));
	assert_null(sql_password_statement(a, "CREATE ROLE app PASSWORD $10", "'v'"));
	arena_free(a);
}

/* ---- include line ------------------------------------------------------------ */

static void test_conf_has_include(void **state)
{
	(void)state;
	assert_true(conf_has_include("a = 1\ninclude 'pgconverge.conf'\n"));
	assert_true(conf_has_include("  include = 'pgconverge.conf'  # managed"));
	assert_true(conf_has_include("include '/data/pg1/pgconverge.conf'\n"));
	assert_false(conf_has_include("#include 'pgconverge.conf'\n"));
	assert_false(conf_has_include("include_if_exists 'pgconverge.conf'\n"));
	assert_false(conf_has_include("include 'my-pgconverge.conf'\n"));
	assert_false(conf_has_include("include 'pgconverge.conf.bak'\n"));
	assert_false(conf_has_include(""));
}

/* ---- passfile ------------------------------------------------------------------ */

static void test_passfile_escape(void **state)
{
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(config_passfile_escape(a, "plain"), "plain");
	assert_string_equal(config_passfile_escape(a, "a:b\\c"), "a\\:b\\\\c");
	assert_string_equal(config_passfile_escape(a, ""), "");
	arena_free(a);
}

/* What apply writes, observe reads back the way libpq does. */
static void test_passfile_render_parse(void **state)
{
	PgcArena *a = arena_new();
	PgcPassfileEntry e;
	char *line, buf[256];

	(void)state;
	line = passfile_render(a, "127.0.0.1", "25432", "repl:user", "re:pl\\i'cator");
	assert_string_equal(line, "127.0.0.1:25432:*:repl\\:user:re\\:pl\\\\i'cator\n");
	assert_int_equal(passfile_parse(line, buf, sizeof buf, &e), 0);
	assert_string_equal(e.host, "127.0.0.1");
	assert_string_equal(e.port, "25432");
	assert_string_equal(e.database, "*");
	assert_string_equal(e.user, "repl:user");
	assert_string_equal(e.password, "re:pl\\i'cator");
	free(line);
	line = passfile_render(a, NULL, NULL, "u", "p");
	assert_string_equal(line, "*:*:*:u:p\n");
	free(line);
	/* libpq cuts a line at its line break: such a password is not rendered. */
	assert_null(passfile_render(a, "h", "1", "u", "pass\nword"));
	assert_null(passfile_render(a, "h", "1", "u", "password\r"));

	/* Comments and blank lines are skipped, a CRLF is stripped, an unescaped ':' ends the password. */
	assert_int_equal(passfile_parse("# c\n\nh:1:*:u:pw:rest\r\n", buf, sizeof buf, &e), 0);
	assert_string_equal(e.password, "pw");
	assert_int_equal(passfile_parse("h:1:*:u:\n", buf, sizeof buf, &e), 0);
	assert_string_equal(e.password, "");
	assert_int_equal(passfile_parse("h:1:*:u\n", buf, sizeof buf, &e), -1);
	assert_null(e.user);
	assert_int_equal(passfile_parse("", buf, sizeof buf, &e), -1);
	assert_int_equal(passfile_parse("h:1:*:u:p\n", buf, 4, &e), -1);
	arena_free(a);
}

/* ---- secrets ------------------------------------------------------------------- */

static void write_file(const char *path, const char *content, mode_t mode)
{
	assert_int_equal(
	    fs_write_atomic(path, content, strlen(content), mode, FS_NO_UID, FS_NO_GID, NULL), 0);
}

static void test_secret_env(void **state)
{
	PgcSecret s = {.kind = SECRET_ENV, .ref = "PGC_UNIT_SECRET", .set = true};
	char err[512] = "", *v;

	(void)state;
	unsetenv("PGC_UNIT_SECRET");
	assert_null(secret_resolve(&s, "password of role \"app\"", err, sizeof(err)));
	assert_string_equal(err,
			    "the password of role \"app\" is not available: environment variable "
			    "\"PGC_UNIT_SECRET\" is not set\n"
			    "hint: export PGC_UNIT_SECRET before running pgconverge");
	setenv("PGC_UNIT_SECRET", "", 1);
	assert_null(secret_resolve(&s, "x", err, sizeof(err)));
	assert_non_null(strstr(err, "\"PGC_UNIT_SECRET\" is empty"));
	setenv("PGC_UNIT_SECRET", "s3:cret", 1);
	v = secret_resolve(&s, "x", err, sizeof(err));
	assert_string_equal(v, "s3:cret");
	secret_free(v);
	/* A variable is taken as it is: only files lose their final newline. So
	 * one that ends with a line break is refused, naming the variable, never
	 * the value (a passfile cannot hold it). */
	setenv("PGC_UNIT_SECRET", "s3cret\n", 1);
	assert_null(secret_resolve(&s, "replication password", err, sizeof(err)));
	assert_string_equal(err, "refusing the replication password from environment variable "
				 "\"PGC_UNIT_SECRET\": it has a line break inside; a secret is one "
				 "line (a replication passfile cannot hold a line break)\n"
				 "hint: leave one line in environment variable \"PGC_UNIT_SECRET\" "
				 "(one trailing newline is ignored)");
	assert_null(strstr(err, "s3cret"));
	setenv("PGC_UNIT_SECRET", "s3\rcret", 1);
	assert_null(secret_resolve(&s, "x", err, sizeof(err)));
	assert_non_null(strstr(err, "line break"));
	unsetenv("PGC_UNIT_SECRET");
}

/* Unavailable (another host may have it) versus refused (this one has it, unusable). */
static void test_secret_status(void **state)
{
	char *path = fs_path_join(tmpdir, "secret-status");
	PgcSecret s = {.kind = SECRET_FILE, .ref = path, .set = true};
	PgcSecretStatus st;
	char err[512] = "", *v;

	(void)state;
	unlink(path);
	assert_null(secret_resolve_status(&s, "x", &st, err, sizeof(err)));
	assert_int_equal(st, SECRET_UNAVAILABLE);
	write_file(path, "two\nlines\n", 0600);
	assert_null(secret_resolve_status(&s, "x", &st, err, sizeof(err)));
	assert_int_equal(st, SECRET_REFUSED);
	write_file(path, "one\n", 0644);
	assert_null(secret_resolve_status(&s, "x", &st, err, sizeof(err)));
	assert_int_equal(st, SECRET_REFUSED);
	write_file(path, "one\n", 0600);
	v = secret_resolve_status(&s, "x", &st, err, sizeof(err));
	assert_int_equal(st, SECRET_FOUND);
	assert_string_equal(v, "one");
	secret_free(v);
	s.kind = SECRET_ENV;
	s.ref = "PGC_UNIT_SECRET_UNSET";
	unsetenv("PGC_UNIT_SECRET_UNSET");
	assert_null(secret_resolve_status(&s, "x", &st, err, sizeof(err)));
	assert_int_equal(st, SECRET_UNAVAILABLE);
	unlink(path);
	free(path);
}

static void test_secret_file(void **state)
{
	char *path = fs_path_join(tmpdir, "secret");
	PgcSecret s = {.kind = SECRET_FILE, .ref = path, .set = true};
	char err[512] = "", *v, *expect, *big;

	(void)state;
	write_file(path, "pa:ss\n", 0600);
	v = secret_resolve(&s, "replication password", err, sizeof(err));
	assert_string_equal(v, "pa:ss");
	secret_free(v);

	write_file(path, "pa:ss\r\n", 0400);
	v = secret_resolve(&s, "replication password", err, sizeof(err));
	assert_string_equal(v, "pa:ss");
	secret_free(v);

	write_file(path, "pa:ss\n", 0640);
	assert_null(secret_resolve(&s, "replication password", err, sizeof(err)));
	assert_true(asprintf(&expect,
			     "refusing the replication password from file \"%s\": it is accessible "
			     "by group or others (mode 0640)\nhint: chmod 600 \"%s\"",
			     path, path) > 0);
	assert_string_equal(err, expect);
	free(expect);

	write_file(path, "\n", 0600);
	assert_null(secret_resolve(&s, "replication password", err, sizeof(err)));
	assert_non_null(strstr(err, "is empty"));

	/* One trailing newline is the file's end, a second one a line of the secret. */
	write_file(path, "pa:ss\n\n", 0600);
	assert_null(secret_resolve(&s, "replication password", err, sizeof(err)));
	assert_true(asprintf(&expect,
			     "refusing the replication password from file \"%s\": it has a line "
			     "break inside; a secret is one line (a replication passfile cannot "
			     "hold a line break)\nhint: leave one line in file \"%s\" (one trailing "
			     "newline is ignored)",
			     path, path) > 0);
	assert_string_equal(err, expect);
	free(expect);
	write_file(path, "pa\nss\n", 0600);
	assert_null(secret_resolve(&s, "replication password", err, sizeof(err)));
	assert_null(strstr(err, "pa\nss"));
	assert_non_null(strstr(err, "line break"));

	/* 64 KiB is the limit: exactly that is a secret, one byte more is refused. */
	big = malloc(65538);
	assert_non_null(big);
	memset(big, 'x', 65537);
	big[65536] = '\0';
	write_file(path, big, 0600);
	v = secret_resolve(&s, "replication password", err, sizeof(err));
	assert_non_null(v);
	assert_int_equal(strlen(v), 65536);
	secret_free(v);
	big[65536] = 'x';
	big[65537] = '\0';
	write_file(path, big, 0600);
	assert_null(secret_resolve(&s, "replication password", err, sizeof(err)));
	assert_non_null(strstr(err, "larger than 65536 bytes"));
	free(big);

	unlink(path);
	assert_null(secret_resolve(&s, "replication password", err, sizeof(err)));
	assert_non_null(strstr(err, "No such file or directory"));

	s.kind = SECRET_NONE;
	assert_null(secret_resolve(&s, "replication password", err, sizeof(err)));
	assert_string_equal(err, "no replication password is declared");
	free(path);
}

/* ---- journal ---------------------------------------------------------------------- */

/* read_lines - the journal's lines parsed; count in *n. */
static json_t **read_lines(const char *path, size_t *n)
{
	json_t **out = calloc(64, sizeof(json_t *));
	char *buf, *line, *save = NULL;
	size_t len;

	*n = 0;
	assert_int_equal(fs_read_file(path, &buf, &len, 1 << 20), 0);
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		json_error_t e;

		out[*n] = json_loads(line, 0, &e);
		assert_non_null(out[*n]);
		(*n)++;
	}
	free(buf);
	return out;
}

static const char *jget(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void free_lines(json_t **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(l[i]);
	free(l);
}

static void test_journal(void **state)
{
	char *dir = fs_path_join(tmpdir, "state-journal");
	char *path = fs_path_join(dir, "journal.jsonl");
	PgcAction a = {.id = "main/pg1/config",
		       .kind = ACT_WRITE_CONFIG,
		       .cluster = "main",
		       .node = "pg1",
		       .impact = IMPACT_RELOAD};
	PgcJournal *j;
	struct stat st;
	json_t **l;
	size_t n;

	(void)state;
	j = journal_open(dir);
	assert_non_null(j);
	assert_string_equal(journal_path(j), path);
	assert_int_equal(journal_start(j, &a), 0);
	assert_int_equal(journal_end(j, &a, JOURNAL_FAILED, 12.4, "could not write \"x\"\nhint: y"),
			 0);
	journal_close(j);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	l = read_lines(path, &n);
	assert_int_equal(n, 2);
	assert_string_equal(jget(l[0], "event"), "start");
	assert_string_equal(jget(l[0], "action"), "main/pg1/config");
	assert_string_equal(jget(l[0], "kind"), plan_action_name(ACT_WRITE_CONFIG));
	assert_string_equal(jget(l[0], "impact"), "reload");
	assert_null(json_object_get(l[0], "outcome"));
	assert_string_equal(jget(l[1], "event"), "end");
	assert_string_equal(jget(l[1], "outcome"), "failed");
	assert_int_equal(json_integer_value(json_object_get(l[1], "duration_ms")), 12);
	/* Only the first line of an error is kept. */
	assert_string_equal(jget(l[1], "error"), "could not write \"x\"");
	assert_string_equal(jget(l[0], "run"), jget(l[1], "run"));
	free_lines(l, n);
	free(path);
	free(dir);
}

/* ---- apply_plan: skip rules ---------------------------------------------------------- */

static const char topology_yaml[] =
    "version: 1\n"
    "clusters:\n"
    "  main:\n"
    "    primary: pg1\n"
    "    nodes:\n"
    "      pg1: {host: 127.0.0.1, port: 25999, data_dir: /nonexistent/pg1}\n"
    "      far: {host: 192.0.2.10, port: 5432, data_dir: /data/far}\n";

static void test_apply_skip_rules(void **state)
{
	PgcDiagList diags = {0};
	PgcLoadOptions lo = {.offline = true};
	PgcTopology *t;
	PgcAction acts[5];
	const char *dep_restart[] = {"main/pg1/restart"};
	const char *dep_far[] = {"main/far/config"};
	PgcPlan p = {0};
	PgcApplyOptions o = {0};
	PgcApplyResult r;
	char *dir = fs_path_join(tmpdir, "state-apply"), *path, *logtext;
	json_t **l;
	size_t n;

	(void)state;
	t = topology_load_buffer(topology_yaml, strlen(topology_yaml), "t.yaml", &lo, &diags);
	assert_non_null(t);
	assert_int_equal(diag_count(&diags, DIAG_ERROR), 0);

	memset(acts, 0, sizeof(acts));
	acts[0] = (PgcAction){.id = "main/pg1/restart",
			      .kind = ACT_RESTART,
			      .cluster = "main",
			      .node = "pg1",
			      .impact = IMPACT_RESTART,
			      .blocked = true,
			      .blocked_reason = "needs --allow-restart"};
	acts[1] = (PgcAction){.id = "main/pg1/reload",
			      .kind = ACT_RELOAD,
			      .cluster = "main",
			      .node = "pg1",
			      .depends_on = dep_restart,
			      .n_depends_on = 1};
	acts[2] = (PgcAction){.id = "main/far/config",
			      .kind = ACT_WRITE_CONFIG,
			      .cluster = "main",
			      .node = "far",
			      .payload = {.content = "port = 5432\n"}};
	acts[3] = (PgcAction){.id = "main/far/start",
			      .kind = ACT_START,
			      .cluster = "main",
			      .node = "far",
			      .depends_on = dep_far,
			      .n_depends_on = 1};
	/* Independent of the failure, but after it: never run. */
	acts[4] = (PgcAction){.id = "main/pg1/hba",
			      .kind = ACT_WRITE_HBA,
			      .cluster = "main",
			      .node = "pg1",
			      .payload = {.content = "local all all peer\n"}};
	p.actions = acts;
	p.n_actions = 5;
	o.state_dir = dir;

	log_capture_begin();
	assert_int_equal(apply_plan(t, &p, &o, &r), -1);
	logtext = log_capture_end();
	assert_int_equal(r.done, 0);
	assert_int_equal(r.failed, 1);
	assert_int_equal(r.skipped_blocked, 1);
	assert_int_equal(r.skipped_dependency, 3);
	assert_non_null(strstr(logtext,
			       "error: cannot run \"main/far/config\": node \"main/far\" is on "
			       "host \"192.0.2.10\", not on this machine\n"
			       "  hint: run pgconverge on that host"));
	assert_non_null(
	    strstr(logtext, "skipped \"main/pg1/reload\": not run: \"main/pg1/restart\" did not succeed"));
	free(logtext);

	path = fs_path_join(dir, "journal.jsonl");
	l = read_lines(path, &n);
	/* blocked: end only; dependency: end only; failed: start and end; not run: end only */
	assert_int_equal(n, 6);
	assert_string_equal(jget(l[0], "action"), "main/pg1/restart");
	assert_string_equal(jget(l[0], "outcome"), "skipped");
	assert_string_equal(jget(l[0], "error"), "needs --allow-restart");
	assert_string_equal(jget(l[1], "outcome"), "skipped");
	assert_string_equal(jget(l[1], "error"), "not run: \"main/pg1/restart\" did not succeed");
	assert_string_equal(jget(l[2], "event"), "start");
	assert_string_equal(jget(l[3], "outcome"), "failed");
	assert_string_equal(jget(l[3], "error"),
			    "cannot run \"main/far/config\": node \"main/far\" is "
			    "on host \"192.0.2.10\", not on this machine");
	assert_string_equal(jget(l[4], "action"), "main/far/start");
	assert_string_equal(jget(l[4], "outcome"), "skipped");
	assert_string_equal(jget(l[5], "action"), "main/pg1/hba");
	assert_string_equal(jget(l[5], "error"), "not run: \"main/far/config\" did not succeed");
	free_lines(l, n);

	/* No state folder: nothing runs. */
	o.state_dir = NULL;
	log_capture_begin();
	assert_int_equal(apply_plan(t, &p, &o, &r), -1);
	logtext = log_capture_end();
	assert_string_equal(
	    logtext, "error: cannot apply the plan: no state folder given for the journal\n");
	free(logtext);

	free(path);
	free(dir);
	topology_free(t);
	diag_free(&diags);
}

/* mine_here - the test's agent: 127.0.0.1's actions, and the leader's (runs_on NULL). */
static bool mine_here(const PgcAction *a, void *arg)
{
	return a->runs_on == NULL || strcmp(a->runs_on, (const char *)arg) == 0;
}

/*
 * Another host's actions (not mine, or delegated) are not run, nor what
 * waits for them: counted apart, neither failed nor blocked, journaled.
 */
static void test_apply_elsewhere(void **state)
{
	PgcDiagList diags = {0};
	PgcLoadOptions lo = {.offline = true};
	PgcTopology *t;
	PgcAction acts[5];
	const char *dep_far[] = {"main/far/config"};
	const char *dep_restart[] = {"main/pg1/restart"};
	PgcPlan p = {0};
	PgcApplyOptions o = {.mine = mine_here, .mine_arg = "127.0.0.1"};
	PgcApplyResult r;
	char *dir = fs_path_join(tmpdir, "state-elsewhere"), *path, *logtext;
	json_t **l;
	size_t n;

	(void)state;
	t = topology_load_buffer(topology_yaml, strlen(topology_yaml), "t.yaml", &lo, &diags);
	assert_non_null(t);
	memset(acts, 0, sizeof(acts));
	acts[0] = (PgcAction){.id = "main/far/config", .kind = ACT_WRITE_CONFIG, .cluster = "main",
			      .node = "far", .runs_on = "192.0.2.10",
			      .payload = {.content = "port = 5432\n"}};
	/* Ours (the leader's), but it waits for the other host's action. */
	acts[1] = (PgcAction){.id = "main/pg1/reload", .kind = ACT_RELOAD, .cluster = "main",
			      .node = "pg1", .depends_on = dep_far, .n_depends_on = 1};
	/* Delegated by the planner: never run, whatever mine() says. */
	acts[2] = (PgcAction){.id = "main/far/hba", .kind = ACT_WRITE_HBA, .cluster = "main",
			      .node = "far", .runs_on = "127.0.0.1", .delegated = true,
			      .payload = {.content = "local all all peer\n"}};
	/* Blocked on the other host: its business, not counted blocked here. */
	acts[3] = (PgcAction){.id = "main/far/restart", .kind = ACT_RESTART, .cluster = "main",
			      .node = "far", .runs_on = "192.0.2.10", .blocked = true,
			      .blocked_reason = "needs --allow-restart"};
	acts[4] = (PgcAction){.id = "main/pg1/start", .kind = ACT_START, .cluster = "main",
			      .node = "pg1", .runs_on = "127.0.0.1", .depends_on = dep_restart,
			      .n_depends_on = 1, .blocked = true, .blocked_reason = "needs --allow-restart"};
	p.actions = acts;
	p.n_actions = 5;
	o.state_dir = dir;

	log_capture_begin();
	assert_int_equal(apply_plan(t, &p, &o, &r), 0);
	logtext = log_capture_end();
	assert_int_equal(r.done + r.failed + r.skipped_dependency + r.skipped_stopped, 0);
	assert_int_equal(r.skipped_elsewhere, 4);
	assert_int_equal(r.skipped_blocked, 1);
	assert_string_equal(r.error, "");
	assert_non_null(strstr(logtext, "skipped \"main/far/config\": not run here: carried out on "
					"\"192.0.2.10\""));
	free(logtext);

	path = fs_path_join(dir, "journal.jsonl");
	l = read_lines(path, &n);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(jget(l[i], "outcome"), "skipped");
	assert_string_equal(jget(l[0], "error"), "not run here: carried out on \"192.0.2.10\"");
	assert_string_equal(jget(l[1], "action"), "main/pg1/reload");
	assert_string_equal(jget(l[1], "error"),
			    "not run: waits for \"main/far/config\", carried out elsewhere");
	assert_string_equal(jget(l[2], "error"), "not run here: carried out on \"127.0.0.1\"");
	assert_string_equal(jget(l[3], "error"), "not run here: carried out on \"192.0.2.10\"");
	assert_string_equal(jget(l[4], "error"), "needs --allow-restart");
	free_lines(l, n);

	/* Without mine(), a delegated action is still left to its host. */
	o.mine = NULL;
	acts[2].runs_on = NULL;
	p.actions = &acts[2];
	p.n_actions = 1;
	assert_int_equal(apply_plan(t, &p, &o, &r), 0);
	assert_int_equal(r.skipped_elsewhere, 1);
	assert_int_equal(r.done + r.failed, 0);

	free(path);
	free(dir);
	topology_free(t);
	diag_free(&diags);
}

/* A stop request: no action starts after it; not a failure; journaled. */
static void test_apply_stop(void **state)
{
	PgcDiagList diags = {0};
	PgcLoadOptions lo = {.offline = true};
	PgcTopology *t;
	PgcAction acts[2];
	PgcPlan p = {0};
	volatile sig_atomic_t stop = 1;
	PgcApplyOptions o = {.stop = &stop};
	PgcApplyResult r;
	char *dir = fs_path_join(tmpdir, "state-stop"), *path, *logtext;
	json_t **l;
	size_t n;

	(void)state;
	t = topology_load_buffer(topology_yaml, strlen(topology_yaml), "t.yaml", &lo, &diags);
	assert_non_null(t);
	memset(acts, 0, sizeof(acts));
	acts[0] = (PgcAction){.id = "main/far/config", .kind = ACT_WRITE_CONFIG, .cluster = "main",
			      .node = "far", .payload = {.content = "port = 5432\n"}};
	acts[1] = (PgcAction){.id = "main/pg1/restart", .kind = ACT_RESTART, .cluster = "main",
			      .node = "pg1", .blocked = true, .blocked_reason = "needs --allow-restart"};
	p.actions = acts;
	p.n_actions = 2;
	o.state_dir = dir;

	log_capture_begin();
	assert_int_equal(apply_plan(t, &p, &o, &r), 0);
	logtext = log_capture_end();
	assert_true(r.stopped);
	assert_int_equal(r.done + r.failed + r.skipped_dependency, 0);
	assert_int_equal(r.skipped_stopped, 1);
	assert_int_equal(r.skipped_blocked, 1);
	assert_string_equal(r.error, "");
	assert_non_null(strstr(logtext, "info: stopping: the remaining actions are left for the next run\n"));
	free(logtext);
	path = fs_path_join(dir, "journal.jsonl");
	l = read_lines(path, &n);
	assert_int_equal(n, 2);
	assert_string_equal(jget(l[0], "action"), "main/far/config");
	assert_string_equal(jget(l[0], "outcome"), "skipped");
	assert_string_equal(jget(l[0], "error"), "not run: pgconverge was asked to stop");
	free_lines(l, n);

	/* Not stopped: the failure's message is in the result, one line. */
	stop = 0;
	log_capture_begin();
	assert_int_equal(apply_plan(t, &p, &o, &r), -1);
	free(log_capture_end());
	assert_false(r.stopped);
	assert_string_equal(r.error, "main/far/config: cannot run \"main/far/config\": node "
				     "\"main/far\" is on host \"192.0.2.10\", not on this machine");

	free(path);
	free(dir);
	topology_free(t);
	diag_free(&diags);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_password_statement), cmocka_unit_test(test_conf_has_include),
	    cmocka_unit_test(test_passfile_escape),    cmocka_unit_test(test_passfile_render_parse),
	    cmocka_unit_test(test_secret_env),	       cmocka_unit_test(test_secret_status),
	    cmocka_unit_test(test_secret_file),	       cmocka_unit_test(test_journal),
	    cmocka_unit_test(test_apply_skip_rules),  cmocka_unit_test(test_apply_stop),
	    cmocka_unit_test(test_apply_elsewhere),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
