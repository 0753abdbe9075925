/*
 * tests/unit/test_plan_pgbouncer.c - the PgBouncer part of the plan on
 * hand-built observed poolers: fresh, converged (zero actions), config
 * drift (reload), userlist drift, a listener change (restart, blocked by
 * the policy), dead (start), a moved primary (reload), one on another
 * machine; and the rendered ini.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/arena.h"
#include "common/diag.h"
#include "reconcile/engine/builder.h"
#include "reconcile/engine/plan.h"
#include "reconcile/observe/observe_pgbouncer.h"
#include "reconcile/pgbouncer/pgbouncer_conf.h"
#include "reconcile/pgbouncer/plan_pgbouncer.h"
#include "schema/topology.h"

static const char *const yaml =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    primary: pg1\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 25432, data_dir: /srv/pgc/pg1}\n"
	"      pg2: {host: 127.0.0.1, port: 25433, data_dir: /srv/pgc/pg2}\n"
	"    roles:\n"
	"      app: {login: true, password: {env: APP_PASSWORD}}\n"
	"    databases:\n"
	"      appdb: {owner: app}\n"
	"      my-db: {}\n"
	"    pooler:\n"
	"      pgbouncer: {port: 6432, pool_mode: transaction, default_pool_size: 10}\n";

typedef struct {
	PgcTopology *t;
	PgcArena *a;
	PgcPlan *p;
	PgcPlanBuilder b;
	PgcObsPgbouncer o;        /* converged by setup */
	PgcCluster *c;
} Fx;

static int setup(void **state)
{
	Fx *f = calloc(1, sizeof *f);
	PgcLoadOptions lo = {.base_dir = "/srv/pgc", .offline = true, .tool_path = "/usr/bin/pgconverge"};
	PgcDiagList diags = {0};

	f->t = topology_load_buffer(yaml, strlen(yaml), "t.yaml", &lo, &diags);
	if (f->t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	f->c = &f->t->clusters[0];
	f->a = arena_new();
	f->p = arena_calloc(f->a, 1, sizeof *f->p);
	f->p->arena = f->a;
	builder_init(&f->b, f->p);
	f->o = (PgcObsPgbouncer){.local = true, .pid = 4242, .alive = true,
				 .ini = pgbouncer_ini(f->a, f->c), .admin_pass = true,
				 .userlist_digest = "aaaa1111", .userlist_want = "aaaa1111",
				 .console = true, .points_host = "127.0.0.1", .points_port = 25432};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fx *f = *state;

	arena_free(f->a);
	topology_free(f->t);
	free(f);
	return 0;
}

static const PgcChange *change(const PgcAction *act, const char *key)
{
	for (size_t i = 0; i < act->n_changes; i++)
		if (strcmp(act->changes[i].key, key) == 0)
			return &act->changes[i];
	fail_msg("action %s has no change %s", act->id, key);
	return NULL;
}

static void test_ini_render(void **state)
{
	Fx *f = *state;
	const char *ini = pgbouncer_ini(f->a, f->c);

	assert_non_null(strstr(ini, "[databases]\n"
				    "appdb = host=127.0.0.1 port=25432 dbname=appdb\n"
				    "\"my-db\" = host=127.0.0.1 port=25432 dbname='my-db'\n"
				    "postgres = host=127.0.0.1 port=25432 dbname=postgres\n"));
	assert_non_null(strstr(ini, "listen_addr = 127.0.0.1\nlisten_port = 6432\n"
				    "unix_socket_dir = /srv/pgc/pgbouncer\n"));
	assert_non_null(strstr(ini, "auth_type = scram-sha-256\n"
				    "auth_file = /srv/pgc/pgbouncer/userlist.txt\n"
				    "admin_users = pgconverge\npool_mode = transaction\n"));
	assert_non_null(strstr(ini, "default_pool_size = 10\n"));
	/* same input, same bytes */
	assert_string_equal(ini, pgbouncer_ini(f->a, f->c));
}

static void test_ini_parse(void **state)
{
	Fx *f = *state;
	PgcIniEntry *e;
	size_t n = pgbouncer_ini_parse(f->a, "; c\n[databases]\n x = host=h \n\n[pgbouncer]\nlisten_port=1\n",
				       &e);

	assert_int_equal(n, 2);
	assert_string_equal(pgbouncer_ini_get(e, n, "databases.x"), "host=h");
	assert_string_equal(pgbouncer_ini_get(e, n, "pgbouncer.listen_port"), "1");
	assert_null(pgbouncer_ini_get(e, n, "pgbouncer.x"));
	assert_true(pgbouncer_needs_restart("pgbouncer.listen_addr"));
	assert_false(pgbouncer_needs_restart("pgbouncer.pool_mode"));
}

static void test_fresh(void **state)
{
	Fx *f = *state;
	PgcObsPgbouncer none = {.local = true};

	plan_pgbouncer_cluster(&f->b, f->c, &none, false);
	assert_int_equal(f->p->n_actions, 2);
	assert_int_equal(f->p->actions[0].kind, ACT_PGBOUNCER_CONFIG);
	assert_string_equal(f->p->actions[0].id, "main/-/pgbouncer-config");
	assert_int_equal(f->p->actions[0].impact, IMPACT_NONE);
	assert_string_equal(f->p->actions[0].payload.path, "/srv/pgc/pgbouncer/pgbouncer.ini");
	assert_string_equal(f->p->actions[0].payload.target, "pg1");
	assert_null(change(&f->p->actions[0], "userlist.txt")->from);
	assert_int_equal(f->p->actions[1].kind, ACT_PGBOUNCER_START);
	assert_int_equal(f->p->actions[1].impact, IMPACT_NONE);
	assert_false(f->p->actions[1].blocked);
	assert_int_equal(f->p->actions[1].n_depends_on, 1);
	assert_string_equal(f->p->actions[1].depends_on[0], "main/-/pgbouncer-config");
}

static void test_offline(void **state)
{
	Fx *f = *state;

	plan_pgbouncer_cluster(&f->b, f->c, NULL, false);
	assert_int_equal(f->p->n_actions, 2);
	assert_int_equal(f->p->actions[0].kind, ACT_PGBOUNCER_CONFIG);
	assert_int_equal(f->p->actions[1].kind, ACT_PGBOUNCER_START);
}

static void test_converged(void **state)
{
	Fx *f = *state;

	plan_pgbouncer_cluster(&f->b, f->c, &f->o, false);
	assert_int_equal(f->p->n_actions, 0);
	/* the primary does not answer: the verifiers are unknown, not drift */
	f->o.userlist_want = NULL;
	plan_pgbouncer_cluster(&f->b, f->c, &f->o, true);
	assert_int_equal(f->p->n_actions, 0);
}

static void test_config_drift_reloads(void **state)
{
	Fx *f = *state;
	const PgcChange *ch;

	f->o.ini = "[databases]\npostgres = host=127.0.0.1 port=25432 dbname=postgres\n"
		   "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = 6432\n"
		   "unix_socket_dir = /srv/pgc/pgbouncer\npidfile = /srv/pgc/pgbouncer/pgbouncer.pid\n"
		   "pool_mode = session\nmax_client_conn = 5\n";
	plan_pgbouncer_cluster(&f->b, f->c, &f->o, false);
	assert_int_equal(f->p->n_actions, 1);
	assert_int_equal(f->p->actions[0].kind, ACT_PGBOUNCER_CONFIG);
	assert_int_equal(f->p->actions[0].impact, IMPACT_RELOAD);
	assert_false(f->p->actions[0].blocked);
	ch = change(&f->p->actions[0], "pgbouncer.ini: pgbouncer.pool_mode");
	assert_string_equal(ch->from, "session");
	assert_string_equal(ch->to, "transaction");
	ch = change(&f->p->actions[0], "pgbouncer.ini: databases.appdb");
	assert_null(ch->from);
	assert_string_equal(f->p->actions[0].payload.content, pgbouncer_ini(f->a, f->c));
}

static void test_userlist_drift_reloads(void **state)
{
	Fx *f = *state;
	const PgcChange *ch;

	f->o.userlist_want = "bbbb2222";
	plan_pgbouncer_cluster(&f->b, f->c, &f->o, false);
	assert_int_equal(f->p->n_actions, 1);
	assert_int_equal(f->p->actions[0].impact, IMPACT_RELOAD);
	ch = change(&f->p->actions[0], "userlist.txt");
	assert_string_equal(ch->from, "sha256:aaaa1111");
	assert_string_equal(ch->to, "sha256:bbbb2222");
	assert_int_equal(f->p->actions[0].n_changes, 1);
}

static void test_listen_change_restart_blocked(void **state)
{
	Fx *f = *state;
	PgcArena *a = f->a;
	const char *ini = pgbouncer_ini(a, f->c);
	const char *at = strstr(ini, "listen_port = 6432");
	char *old = arena_strdup(a, ini);

	memcpy(old + (at - ini), "listen_port = 6000", 18);
	f->o.ini = old;
	plan_pgbouncer_cluster(&f->b, f->c, &f->o, false);
	assert_int_equal(f->p->n_actions, 1);
	assert_int_equal(f->p->actions[0].kind, ACT_PGBOUNCER_RESTART);
	assert_int_equal(f->p->actions[0].impact, IMPACT_RESTART);
	assert_true(f->p->actions[0].blocked);
	assert_non_null(strstr(f->p->actions[0].blocked_reason, "--allow-restart"));
	assert_string_equal(change(&f->p->actions[0], "pgbouncer.ini: pgbouncer.listen_port")->from,
			    "6000");

	/* allowed: the same action, not blocked */
	plan_pgbouncer_cluster(&f->b, f->c, &f->o, true);
	assert_int_equal(f->p->n_actions, 2);
	assert_int_equal(f->p->actions[1].kind, ACT_PGBOUNCER_RESTART);
	assert_false(f->p->actions[1].blocked);

	/* not running: the files and a start, no restart */
	f->o.alive = false;
	plan_pgbouncer_cluster(&f->b, f->c, &f->o, false);
	assert_int_equal(f->p->n_actions, 4);
	assert_int_equal(f->p->actions[2].kind, ACT_PGBOUNCER_CONFIG);
	assert_int_equal(f->p->actions[2].impact, IMPACT_NONE);
	assert_int_equal(f->p->actions[3].kind, ACT_PGBOUNCER_START);
}

static void test_dead_starts(void **state)
{
	Fx *f = *state;

	f->o.alive = false;
	f->o.console = false;
	plan_pgbouncer_cluster(&f->b, f->c, &f->o, false);
	assert_int_equal(f->p->n_actions, 1);
	assert_int_equal(f->p->actions[0].kind, ACT_PGBOUNCER_START);
	assert_int_equal(f->p->actions[0].impact, IMPACT_NONE);
	assert_string_equal(f->p->actions[0].reason, "PgBouncer (pid 4242) is not running");
	assert_int_equal(f->p->actions[0].n_depends_on, 0);
}

static void test_primary_moved_reloads(void **state)
{
	Fx *f = *state;
	PgcCluster live = *f->c;
	const PgcChange *ch;

	live.primary.v = "pg2";
	plan_pgbouncer_cluster(&f->b, &live, &f->o, false);
	assert_int_equal(f->p->n_actions, 1);
	assert_int_equal(f->p->actions[0].kind, ACT_PGBOUNCER_CONFIG);
	assert_int_equal(f->p->actions[0].impact, IMPACT_RELOAD);
	assert_string_equal(f->p->actions[0].payload.target, "pg2");
	ch = change(&f->p->actions[0], "pgbouncer.ini: databases.postgres");
	assert_string_equal(ch->from, "host=127.0.0.1 port=25432 dbname=postgres");
	assert_string_equal(ch->to, "host=127.0.0.1 port=25433 dbname=postgres");
	ch = change(&f->p->actions[0], "loaded [databases]");
	assert_string_equal(ch->from, "127.0.0.1:25432");
	assert_string_equal(ch->to, "127.0.0.1:25433");
}

static void test_loaded_elsewhere_reloads(void **state)
{
	Fx *f = *state;

	/* the file is right, the running pooler was not told */
	f->o.points_port = 25433;
	plan_pgbouncer_cluster(&f->b, f->c, &f->o, false);
	assert_int_equal(f->p->n_actions, 1);
	assert_int_equal(f->p->actions[0].impact, IMPACT_RELOAD);
	assert_int_equal(f->p->actions[0].n_changes, 1);
	assert_string_equal(f->p->actions[0].changes[0].key, "loaded [databases]");
}

static void test_left_paused_resumes(void **state)
{
	Fx *f = *state;
	const PgcChange *ch;

	/* a switchover died between PAUSE and RESUME */
	f->o.paused = true;
	plan_pgbouncer_cluster(&f->b, f->c, &f->o, false);
	assert_int_equal(f->p->n_actions, 1);
	assert_int_equal(f->p->actions[0].kind, ACT_PGBOUNCER_CONFIG);
	assert_int_equal(f->p->actions[0].impact, IMPACT_RELOAD);
	assert_string_equal(f->p->actions[0].reason,
			    "PgBouncer was paused by a switchover that did not finish: RESUME");
	ch = change(&f->p->actions[0], "state");
	assert_string_equal(ch->from, "paused");
	assert_string_equal(ch->to, "running");
	/* not running: a new process is not paused; only the start */
	f->o.alive = false;
	plan_pgbouncer_cluster(&f->b, f->c, &f->o, false);
	assert_int_equal(f->p->n_actions, 2);
	assert_int_equal(f->p->actions[1].kind, ACT_PGBOUNCER_START);
}

static void test_remote_blocked(void **state)
{
	Fx *f = *state;
	PgcObsPgbouncer remote = {.local = false, .error = "host is not this machine"};

	plan_pgbouncer_cluster(&f->b, f->c, &remote, true);
	assert_int_equal(f->p->n_actions, 2);
	assert_true(f->p->actions[0].blocked);
	assert_true(f->p->actions[1].blocked);
	assert_non_null(strstr(f->p->actions[1].blocked_reason, "not this machine"));
}

static void test_status_line_and_json(void **state)
{
	Fx *f = *state;
	json_t *j;

	f->o.cl_active = 3;
	f->o.cl_waiting = 2;
	assert_string_equal(observe_pgbouncer_line(f->a, &f->o),
			    "up (pid 4242), points at 127.0.0.1:25432, 3 active, 2 waiting");
	j = observe_pgbouncer_json(&f->o);
	assert_true(json_is_true(json_object_get(j, "up")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "points_at"), "port")),
			 25432);
	assert_int_equal(json_integer_value(json_object_get(j, "clients_waiting")), 2);
	assert_null(json_object_get(j, "userlist_digest"));
	json_decref(j);
	f->o.alive = false;
	assert_string_equal(observe_pgbouncer_line(f->a, &f->o), "down");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ini_render, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ini_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_converged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_drift_reloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_userlist_drift_reloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_change_restart_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_starts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_primary_moved_reloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loaded_elsewhere_reloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_left_paused_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_line_and_json, setup, teardown),
	};

	return cmocka_run_group_tests_name("plan_pgbouncer", tests, NULL, NULL);
}
