/*
 * tests/unit/test_exec_pgbouncer.c - PgBouncer's executors on the fake host:
 * the start command (as the os_user's host runs it, detached), a running
 * pooler left alone, a start that fails, and the files written before the
 * userlist is read (folder 0700, admin.pass and pgbouncer.ini 0600).
 *
 * And the front-door hooks against a stand-in for the admin console
 * (support/fake_console.h): a repoint whose RELOAD or RECONNECT fails
 * still RESUMEs (the paused marker goes only when RESUME took), a pooler
 * left paused by a run that stopped is held by the next switchover, and a
 * PAUSE that timed out is RESUMEd on a new connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pwd.h>
#include <unistd.h>

#include "common/fstree.h"
#include "common/log.h"
#include "reconcile/engine/plan.h"
#include "reconcile/pgbouncer/pgbouncer.h"
#include "reconcile/pgbouncer/pgbouncer_conf.h"
#include "support/exec_fixture.h"
#include "support/fake_console.h"
#include "support/fake_host.h"

static const char *const yaml =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    primary: pg1\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 1, data_dir: /srv/pgc/pg1}\n"
	"    pooler:\n"
	"      pgbouncer: {port: 6432}\n";

typedef struct {
	PgcTopology *t;
	PgcHost *h;
	PgcAction act;
	PgcExecCtx ctx;
	PgcArena *a;
} Fx;

static int setup(void **state)
{
	Fx *f = calloc(1, sizeof *f);

	f->t = fixture_topology(yaml);
	f->h = fake_host_new("postgres");
	f->a = arena_new();
	f->act.kind = ACT_PGBOUNCER_START;
	f->act.id = "main/-/pgbouncer-start";
	f->act.cluster = "main";
	f->act.payload.path = "/srv/pgc/pgbouncer/pgbouncer.ini";
	f->act.payload.content = pgbouncer_ini(f->a, &f->t->clusters[0]);
	f->act.payload.target = "pg1";
	fixture_ctx(&f->ctx, f->t, "pg1", f->h, &f->act);
	f->ctx.ready_timeout_s = 0;
	log_capture_begin(); /* the failures are expected */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fx *f = *state;

	free(log_capture_end());
	fixture_ctx_done(&f->ctx);
	host_free(f->h);
	arena_free(f->a);
	topology_free(f->t);
	free(f);
	return 0;
}

static void test_start_runs_pgbouncer(void **state)
{
	Fx *f = *state;

	/* it starts, but never answers: the wait runs out */
	assert_int_equal(pgbouncer_start_run(&f->ctx), -1);
	assert_non_null(strstr(fake_host_calls(f->h), "run pgbouncer -d /srv/pgc/pgbouncer/pgbouncer.ini\n"));
	assert_non_null(strstr(f->ctx.error, "did not answer within 0 s"));
}

static void test_start_leaves_a_running_one(void **state)
{
	Fx *f = *state;
	const char *const argv[] = {"pgbouncer", "-d", "/srv/pgc/pgbouncer/pgbouncer.ini", NULL};

	fake_host_put(f->h, "/srv/pgc/pgbouncer/pgbouncer.pid", "4242\n");
	fake_host_proc(f->h, 4242, 1, "pgbouncer", "/srv/pgc/pgbouncer", argv);
	assert_int_equal(pgbouncer_start_run(&f->ctx), 0);
	assert_true(f->ctx.nothing_to_do);
	assert_null(strstr(fake_host_calls(f->h), "run "));
}

static void test_start_stale_pid(void **state)
{
	Fx *f = *state;
	const char *const argv[] = {"postgres", NULL};

	/* the pid was reused by another program: not a running pooler */
	fake_host_put(f->h, "/srv/pgc/pgbouncer/pgbouncer.pid", "4242\n");
	fake_host_proc(f->h, 4242, 1, "postgres", "/", argv);
	fake_host_script(f->h, "pgbouncer -d", 1, "FATAL cannot load config file\n");
	assert_int_equal(pgbouncer_start_run(&f->ctx), -1);
	assert_false(f->ctx.nothing_to_do);
	assert_non_null(strstr(fake_host_calls(f->h), "run pgbouncer -d"));
}

static void test_config_files_before_the_userlist(void **state)
{
	Fx *f = *state;
	const char *pass;

	f->act.kind = ACT_PGBOUNCER_CONFIG;
	/* no server on port 1: the userlist cannot be read, the rest is written */
	assert_int_equal(pgbouncer_config_run(&f->ctx), -1);
	assert_non_null(strstr(fake_host_calls(f->h), "mkdir /srv/pgc/pgbouncer 0700\n"));
	assert_non_null(strstr(fake_host_calls(f->h), "write /srv/pgc/pgbouncer/admin.pass 0600\n"));
	assert_non_null(strstr(fake_host_calls(f->h), "write /srv/pgc/pgbouncer/pgbouncer.ini 0600\n"));
	assert_string_equal(fake_host_get(f->h, "/srv/pgc/pgbouncer/pgbouncer.ini"),
			    f->act.payload.content);
	pass = fake_host_get(f->h, "/srv/pgc/pgbouncer/admin.pass");
	assert_int_equal(strlen(pass), 33);
	assert_null(fake_host_get(f->h, "/srv/pgc/pgbouncer/userlist.txt"));

	/* run again: the admin password stays */
	fake_host_clear(f->h);
	assert_int_equal(pgbouncer_config_run(&f->ctx), -1);
	assert_null(strstr(fake_host_calls(f->h), "write /srv/pgc/pgbouncer/admin.pass"));
}

/* ---- front door, against a stand-in console ---------------------------------- */

typedef struct {
	char dir[64];
	PgcTopology *t;
	const PgcCluster *c;
	pid_t console;
	bool capturing;
	char *log;     /* the captured log, once taken */
} Door;

static int door_setup(void **state)
{
	Door *d = calloc(1, sizeof *d);
	struct passwd *pw = getpwuid(geteuid());
	char yaml_buf[1024];

	snprintf(d->dir, sizeof d->dir, "/tmp/pgc-door.XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	/* the hooks run as this process's user, on this machine */
	snprintf(yaml_buf, sizeof yaml_buf,
		 "version: 1\n"
		 "clusters:\n"
		 "  main:\n"
		 "    primary: pg1\n"
		 "    os_user: %s\n"
		 "    nodes:\n"
		 "      pg1: {host: 127.0.0.1, port: 1, data_dir: /srv/pgc/pg1}\n"
		 "    pooler:\n"
		 "      pgbouncer: {port: 6431, dir: %s, pause_timeout: 300ms}\n",
		 pw->pw_name, d->dir);
	d->t = fixture_topology(yaml_buf);
	d->c = &d->t->clusters[0];
	*state = d;
	return 0;
}

static const char *door_log(Door *d);

static int door_teardown(void **state)
{
	Door *d = *state;

	fake_console_stop(d->console);
	(void)door_log(d);
	free(d->log);
	topology_free(d->t);
	if (fs_remove_tree("/tmp", d->dir) != 0)
		fprintf(stderr, "cannot remove %s\n", d->dir);
	free(d);
	return 0;
}

/* door_start - admin.pass, the marker when paused, and the console answering by rules. */
static void door_start(Door *d, bool paused, const FakeConsoleRule *rules, size_t n)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/admin.pass", d->dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("secret\n", f);
	fclose(f);
	if (paused) {
		snprintf(path, sizeof path, "%s/paused", d->dir);
		assert_non_null(f = fopen(path, "w"));
		fputs("PAUSE for a switchover\n", f);
		fclose(f);
	}
	d->console = fake_console_start(d->dir, 6431, rules, n);
	assert_true(d->console > 0);
	log_capture_begin();
	d->capturing = true;
}

static bool door_paused(Door *d)
{
	char path[128];

	snprintf(path, sizeof path, "%s/paused", d->dir);
	return access(path, F_OK) == 0;
}

/* door_log - the captured log (taken once). */
static const char *door_log(Door *d)
{
	if (d->capturing) {
		d->log = log_capture_end();
		d->capturing = false;
	}
	return d->log;
}

static void test_repoint_reload_reconnect_resume(void **state)
{
	Door *d = *state;
	char *cl;

	door_start(d, true, NULL, 0);
	assert_int_equal(pgbouncer_repoint(d->c, "pg0", "pg1"), 0);
	cl = fake_console_log(d->dir);
	assert_string_equal(cl, "1 RELOAD\n1 RECONNECT\n1 RESUME\n");
	free(cl);
	assert_false(door_paused(d));
	assert_non_null(strstr(door_log(d), "points at \"pg1\" (was \"pg0\")"));
}

static void test_repoint_resumes_after_a_failed_reconnect(void **state)
{
	Door *d = *state;
	const FakeConsoleRule rules[] = {
		{.cmd = "RECONNECT", .reply = FAKE_CONSOLE_ERROR, .message = "RECONNECT failed"},
	};
	char *cl;

	door_start(d, true, rules, 1);
	assert_int_equal(pgbouncer_repoint(d->c, "pg0", "pg1"), -1);
	/* RESUME all the same, on a connection of its own */
	cl = fake_console_log(d->dir);
	assert_string_equal(cl, "1 RELOAD\n1 RECONNECT\n2 RESUME\n");
	free(cl);
	assert_false(door_paused(d));
	assert_non_null(strstr(door_log(d), "RECONNECT failed (RECONNECT)"));
	assert_non_null(strstr(door_log(d), "resumed its clients, but does not point at \"pg1\""));
}

static void test_repoint_resumes_after_a_failed_reload(void **state)
{
	Door *d = *state;
	const FakeConsoleRule rules[] = {
		{.cmd = "RELOAD", .reply = FAKE_CONSOLE_ERROR, .message = "cannot reload"},
	};
	char *cl;

	door_start(d, true, rules, 1);
	assert_int_equal(pgbouncer_repoint(d->c, "pg0", "pg1"), -1);
	cl = fake_console_log(d->dir);
	assert_string_equal(cl, "1 RELOAD\n2 RESUME\n");
	free(cl);
	assert_false(door_paused(d));
}

static void test_repoint_keeps_the_marker_when_resume_fails(void **state)
{
	Door *d = *state;
	const FakeConsoleRule rules[] = {
		{.cmd = "RELOAD", .reply = FAKE_CONSOLE_ERROR, .message = "cannot reload"},
		{.cmd = "RESUME", .reply = FAKE_CONSOLE_ERROR, .message = "cannot resume"},
	};
	char *cl;

	door_start(d, true, rules, 2);
	assert_int_equal(pgbouncer_repoint(d->c, "pg0", "pg1"), -1);
	cl = fake_console_log(d->dir);
	assert_string_equal(cl, "1 RELOAD\n2 RESUME\n");
	free(cl);
	/* the next pass sees it paused and RESUMEs */
	assert_true(door_paused(d));
	assert_non_null(strstr(door_log(d), "is still PAUSED"));
}

static void test_repoint_resume_not_paused_is_done(void **state)
{
	Door *d = *state;
	const FakeConsoleRule rules[] = {
		{.cmd = "RECONNECT", .reply = FAKE_CONSOLE_ERROR, .message = "RECONNECT failed"},
		{.cmd = "RESUME", .reply = FAKE_CONSOLE_ERROR, .message = "pooler is not paused/suspended"},
	};

	door_start(d, true, rules, 2);
	assert_int_equal(pgbouncer_repoint(d->c, "pg0", "pg1"), -1);
	assert_false(door_paused(d));
}

static void test_pause(void **state)
{
	Door *d = *state;
	char *cl;

	door_start(d, false, NULL, 0);
	assert_int_equal(pgbouncer_pause(d->c, "pg0", "pg1"), 0);
	cl = fake_console_log(d->dir);
	assert_string_equal(cl, "1 PAUSE\n");
	free(cl);
	assert_true(door_paused(d));
}

static void test_pause_when_left_paused(void **state)
{
	Door *d = *state;
	const FakeConsoleRule rules[] = {
		{.cmd = "PAUSE", .reply = FAKE_CONSOLE_ERROR, .message = "already suspended/paused"},
		{.cmd = "SHOW POOLS", .nth = 1, .reply = FAKE_CONSOLE_POOLS, .busy = 1},
		{.cmd = "SHOW POOLS", .reply = FAKE_CONSOLE_POOLS, .busy = 0},
	};
	char *cl;

	/* a run that stopped after its PAUSE left the marker */
	door_start(d, true, rules, 3);
	assert_int_equal(pgbouncer_pause(d->c, "pg0", "pg1"), 0);
	cl = fake_console_log(d->dir);
	assert_string_equal(cl, "1 PAUSE\n1 SHOW POOLS\n1 SHOW POOLS\n");
	free(cl);
	assert_true(door_paused(d));
	assert_non_null(strstr(door_log(d), "is paused already"));
}

static void test_pause_when_left_paused_busy(void **state)
{
	Door *d = *state;
	const FakeConsoleRule rules[] = {
		{.cmd = "PAUSE", .reply = FAKE_CONSOLE_ERROR, .message = "already suspended/paused"},
		{.cmd = "SHOW POOLS", .reply = FAKE_CONSOLE_POOLS, .busy = 2},
	};
	char *cl;

	/* a transaction still runs after pause_timeout: refused, and resumed */
	door_start(d, true, rules, 2);
	assert_int_equal(pgbouncer_pause(d->c, "pg0", "pg1"), -1);
	cl = fake_console_log(d->dir);
	assert_non_null(strstr(cl, "1 SHOW POOLS\n2 RESUME\n"));
	free(cl);
	assert_false(door_paused(d));
	assert_non_null(strstr(door_log(d), "2 server connections still busy after 300 ms"));
}

static void test_pause_paused_by_someone_else(void **state)
{
	Door *d = *state;
	const FakeConsoleRule rules[] = {
		{.cmd = "PAUSE", .reply = FAKE_CONSOLE_ERROR, .message = "already suspended/paused"},
	};

	/* no marker: pgconverge did not pause it, the switchover is refused */
	door_start(d, false, rules, 1);
	assert_int_equal(pgbouncer_pause(d->c, "pg0", "pg1"), -1);
	assert_non_null(strstr(door_log(d), "already suspended/paused"));
}

static void test_pause_timeout_resumes_on_a_new_connection(void **state)
{
	Door *d = *state;
	const FakeConsoleRule rules[] = {
		{.cmd = "PAUSE", .reply = FAKE_CONSOLE_HANG},
	};
	char *cl;

	door_start(d, false, rules, 1);
	assert_int_equal(pgbouncer_pause(d->c, "pg0", "pg1"), -1);
	/* PAUSE on connection 1 is cancelled (2); its result is never read:
	 * RESUME goes on a new connection (3) */
	cl = fake_console_log(d->dir);
	assert_string_equal(cl, "1 PAUSE\n2 CANCEL\n3 RESUME\n");
	free(cl);
	assert_false(door_paused(d));
	assert_non_null(strstr(door_log(d), "\"PAUSE\" did not finish within 300 ms"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_runs_pgbouncer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_leaves_a_running_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_stale_pid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_files_before_the_userlist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repoint_reload_reconnect_resume, door_setup,
						door_teardown),
		cmocka_unit_test_setup_teardown(test_repoint_resumes_after_a_failed_reconnect,
						door_setup, door_teardown),
		cmocka_unit_test_setup_teardown(test_repoint_resumes_after_a_failed_reload, door_setup,
						door_teardown),
		cmocka_unit_test_setup_teardown(test_repoint_keeps_the_marker_when_resume_fails,
						door_setup, door_teardown),
		cmocka_unit_test_setup_teardown(test_repoint_resume_not_paused_is_done, door_setup,
						door_teardown),
		cmocka_unit_test_setup_teardown(test_pause, door_setup, door_teardown),
		cmocka_unit_test_setup_teardown(test_pause_when_left_paused, door_setup, door_teardown),
		cmocka_unit_test_setup_teardown(test_pause_when_left_paused_busy, door_setup,
						door_teardown),
		cmocka_unit_test_setup_teardown(test_pause_paused_by_someone_else, door_setup,
						door_teardown),
		cmocka_unit_test_setup_teardown(test_pause_timeout_resumes_on_a_new_connection,
						door_setup, door_teardown),
	};

	return cmocka_run_group_tests_name("exec_pgbouncer", tests, NULL, NULL);
}
