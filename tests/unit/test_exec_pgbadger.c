/*
 * tests/unit/test_exec_pgbadger.c - the pgbadger action's executor
 * (reconcile/monitoring/pgbadger.c) on the fake host: what it asks of the
 * node's machine (rotation, listings, pgBadger's command line with the
 * complete log files only, removal of old days inside the report folder),
 * the state file it leaves (also after a failure), and the check that
 * makes a second run do nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/arena.h"
#include "reconcile/engine/builder.h"
#include "reconcile/engine/plan.h"
#include "reconcile/monitoring/pgbadger.h"
#include "reconcile/monitoring/plan_monitoring.h"
#include "reconcile/observe/observe.h"
#include "reconcile/observe/observe_pgbadger.h"
#include "support/exec_fixture.h"
#include "support/fake_host.h"

#define OUT "/srv/pgc/reports/main/pg1"

static const char yaml[] =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 25432, data_dir: /srv/pgc/pg1}\n"
	"    monitoring: {pgbadger: {every: 1h, keep: 3, output: /srv/pgc/reports/main}}\n";

/* action - the planner's pgbadger action for pg1 (the node initialized, no report yet). */
static PgcPlan *action(const PgcTopology *t)
{
	PgcArena *a = arena_new();
	PgcPlan *p = arena_calloc(a, 1, sizeof(*p));
	PgcObserved o = {0};
	PgcObsCluster oc = {0};
	PgcObsNode on = {0};
	PgcObsPgbadger pb = {0};
	PgcPolicy pol = {.now = time(NULL)};
	PgcPlanBuilder b;

	p->arena = a;
	on.name = "pg1";
	on.local = true;
	on.dir_state = DIR_INITIALIZED;
	on.pgbadger = &pb;
	oc.name = "main";
	oc.nodes = &on;
	oc.n_nodes = 1;
	o.clusters = &oc;
	o.n_clusters = 1;
	builder_init(&b, p);
	plan_monitoring_cluster(&b, &t->clusters[0], &o, &pol);
	assert_int_equal(p->n_actions, 1);
	return p;
}

/* listing - the log folder as find prints it: a.log complete, b.log current, pg_ctl's log. */
static const char *listing(char *buf, size_t size)
{
	double now = (double)time(NULL);

	snprintf(buf, size,
		 "postgresql-a.log\t100\t%.1f\n"
		 "postgresql-b.log\t50\t%.1f\n"
		 "pgconverge-start.log\t10\t%.1f\n"
		 "postgresql-ancient.log\t10\t%.1f\n",
		 now - 600, now - 5, now - 900, now - 10 * 86400);
	return buf;
}

static void test_run(void **state)
{
	PgcTopology *t = fixture_topology(yaml);
	PgcPlan *p = action(t);
	PgcHost *h = fake_host_new("postgres");
	PgcExecCtx ctx;
	PgcArena *a = arena_new();
	PgcObsPgbadger st = {0};
	const char *calls, *text;
	char buf[1024];

	(void)state;
	fake_host_mkdir(h, "/srv/pgc/pg1/log");
	fake_host_put(h, "/srv/pgc/pg1/current_logfiles", "stderr log/postgresql-b.log\n");
	fake_host_script(h, "/usr/bin/find /srv/pgc/pg1/log", 0, listing(buf, sizeof buf));
	fake_host_script(h, "/usr/bin/find " OUT " -mindepth 3", 0, "2020/01/01\n2099/01/01\n");
	fixture_ctx(&ctx, t, "pg1", h, &p->actions[0]);
	assert_int_equal(pgbadger_run(&ctx), 0);
	assert_false(ctx.nothing_to_do);
	fixture_ctx_done(&ctx);
	calls = fake_host_calls(h);
	/* The server is down (no postmaster.pid): no rotation. */
	assert_null(strstr(calls, "logrotate"));
	assert_non_null(strstr(calls, "mkdir /srv/pgc/reports/main 0750\nmkdir " OUT " 0750\n"));
	/* pgBadger over the complete file only: not the current one, not pg_ctl's, not one past keep. */
	assert_non_null(strstr(calls, "run /usr/bin/pgbadger --incremental --outdir " OUT " --no-week "
				      "--format stderr --prefix %t [%p]: user=%u,db=%d,app=%a,"
				      "client=%h  --title pgBadger: main/pg1 --pid-dir " OUT
				      " --tempdir " OUT " --quiet /srv/pgc/pg1/log/postgresql-a.log\n"));
	/* The old day goes, inside the report folder; a day to come stays. */
	assert_non_null(strstr(calls, "tree " OUT " " OUT "/2020/01/01\n"));
	assert_null(strstr(calls, "2099/01/01\n"));
	assert_non_null(fake_host_get(h, "/srv/pgc/reports/main/index.html"));
	text = fake_host_get(h, OUT "/pgconverge-state.json");
	assert_non_null(text);
	assert_int_equal(observe_pgbadger_parse(a, text, strlen(text), &st), 0);
	assert_true(st.ok);
	assert_int_equal(st.n_parsed, 1);
	assert_string_equal(st.parsed[0].name, "postgresql-a.log");

	/* Again at once: the state file says it ran; nothing is run. */
	fake_host_clear(h);
	fixture_ctx(&ctx, t, "pg1", h, &p->actions[0]);
	assert_int_equal(pgbadger_run(&ctx), 0);
	assert_true(ctx.nothing_to_do);
	fixture_ctx_done(&ctx);
	assert_null(strstr(fake_host_calls(h), "run "));

	arena_free(a);
	host_free(h);
	plan_free(p);
	topology_free(t);
}

static void test_failure_recorded(void **state)
{
	PgcTopology *t = fixture_topology(yaml);
	PgcPlan *p = action(t);
	PgcHost *h = fake_host_new("postgres");
	PgcExecCtx ctx;
	PgcArena *a = arena_new();
	PgcObsPgbadger st = {0};
	const char *text;
	char buf[1024];

	(void)state;
	fake_host_mkdir(h, "/srv/pgc/pg1/log");
	fake_host_put(h, "/srv/pgc/pg1/current_logfiles", "stderr log/postgresql-b.log\n");
	fake_host_script(h, "/usr/bin/find /srv/pgc/pg1/log", 0, listing(buf, sizeof buf));
	fake_host_script(h, "/usr/bin/pgbadger", 1, "FATAL: cannot parse\n");
	fixture_ctx(&ctx, t, "pg1", h, &p->actions[0]);
	assert_int_equal(pgbadger_run(&ctx), -1);
	assert_string_equal(ctx.error, "/usr/bin/pgbadger exited with code 1: FATAL: cannot parse");
	fixture_ctx_done(&ctx);
	text = fake_host_get(h, OUT "/pgconverge-state.json");
	assert_non_null(text);
	assert_int_equal(observe_pgbadger_parse(a, text, strlen(text), &st), 0);
	assert_false(st.ok);
	assert_string_equal(st.last_error, "/usr/bin/pgbadger exited with code 1: FATAL: cannot parse");
	/* The file is not taken as parsed: the next run hands it over again. */
	assert_int_equal(st.n_parsed, 0);
	arena_free(a);
	host_free(h);
	plan_free(p);
	topology_free(t);
}

/* A saved plan naming another program is refused before anything runs. */
static void test_refuses_other_program(void **state)
{
	PgcTopology *t = fixture_topology(yaml);
	PgcPlan *p = action(t);
	PgcHost *h = fake_host_new("postgres");
	PgcExecCtx ctx;

	(void)state;
	p->actions[0].payload.params[0] = "/bin/sh";
	fixture_ctx(&ctx, t, "pg1", h, &p->actions[0]);
	assert_int_equal(pgbadger_run(&ctx), -1);
	assert_string_equal(ctx.error, "action \"main/pg1/pgbadger\" does not name the log folder, "
				       "the report folder and /usr/bin/pgbadger");
	fixture_ctx_done(&ctx);
	assert_string_equal(fake_host_calls(h), "");
	host_free(h);
	plan_free(p);
	topology_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_failure_recorded),
		cmocka_unit_test(test_refuses_other_program),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
