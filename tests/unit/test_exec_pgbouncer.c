/*
 * tests/unit/test_exec_pgbouncer.c - PgBouncer's executors on the fake host:
 * the start command (as the os_user's host runs it, detached), a running
 * pooler left alone, a start that fails, and the files written before the
 * userlist is read (folder 0700, admin.pass and pgbouncer.ini 0600).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "reconcile/engine/plan.h"
#include "reconcile/pgbouncer/pgbouncer.h"
#include "reconcile/pgbouncer/pgbouncer_conf.h"
#include "support/exec_fixture.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_runs_pgbouncer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_leaves_a_running_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_stale_pid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_files_before_the_userlist, setup, teardown),
	};

	return cmocka_run_group_tests_name("exec_pgbouncer", tests, NULL, NULL);
}
