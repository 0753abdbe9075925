/*
 * tests/unit/test_plan_pgpool.c - Pgpool-II in the plan, on hand-built
 * observed states: a fresh cluster, a converged one (no action), a dead
 * Pgpool-II, its view of the roles drifting from the live ones, a
 * configuration change (reload, or a restart under policy); and the pure
 * parts: pgpool.conf, pool_hba.conf, pool_passwd's AES lines (checked
 * against pg_enc's output for the same key and password) and the diff of
 * two pgpool.conf texts.
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
#include "common/diag.h"
#include "reconcile/engine/builder.h"
#include "reconcile/engine/plan.h"
#include "reconcile/engine/secret.h"
#include "reconcile/observe/observe.h"
#include "reconcile/observe/observe_pgpool.h"
#include "reconcile/pgpool/pgpool_conf.h"
#include "reconcile/pgpool/plan_pgpool.h"
#include "schema/topology.h"

static const char *const yaml =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    primary: pg1\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 25432, data_dir: /srv/pgc/pg1}\n"
	"      pg2: {host: 127.0.0.1, port: 25433, data_dir: /srv/pgc/pg2}\n"
	"      pg3: {host: 127.0.0.1, port: 25434, data_dir: /srv/pgc/pg3}\n"
	"    hba:\n"
	"      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}\n"
	"      - {type: host, database: replication, user: replicator, address: 127.0.0.1/32, method: scram-sha-256}\n"
	"      - {type: host, database: all, user: evil, address: 0.0.0.0/0, method: reject}\n"
	"      - {type: local, database: all, user: all, method: peer}\n"
	"    roles:\n"
	"      app: {login: true, password: {env: PGC_TEST_APP_PW}}\n"
	"      admin: {login: true, superuser: true, password: {env: PGC_TEST_ADMIN_PW}}\n"
	"      nologin: {password: {env: PGC_TEST_APP_PW}}\n"
	"    balancer:\n"
	"      pgpool: {port: 9999, load_balance: true, max_lag: 1MB}\n";

typedef struct {
	PgcTopology *t;
	PgcCluster *c;
	PgcArena *a;
	PgcObserved *o;
	PgcObsPgpool pp;
	PgcPlan *p;
	PgcPolicy policy;
} Fx;

static void running(Fx *f, size_t i, bool replica)
{
	PgcObsNode *n = &f->o->clusters[0].nodes[i];

	n->dir_state = DIR_INITIALIZED;
	n->reachable = true;
	n->postmaster_alive = true;
	n->in_recovery = replica;
	n->wal_receiver_status = replica ? "streaming" : NULL;
}

static void row(Fx *f, int id, const char *status, const char *role)
{
	PgcObsPgpoolNode *r = &f->pp.nodes[id];

	r->id = id;
	r->host = "127.0.0.1";
	r->port = 25432 + id;
	r->status = status;
	r->role = role;
	r->lb_weight = 1.0 / 3;
	r->delay = 0;
}

/* converged - everything as pgconverge wants it: pg1 primary, pg2 and pg3 stream. */
static void converged(Fx *f)
{
	running(f, 0, false);
	running(f, 1, true);
	running(f, 2, true);
	f->pp.looked = true;
	f->pp.conf = pgpool_render_conf(f->a, f->c);
	f->pp.hba = pgpool_render_hba(f->a, f->c);
	f->pp.pcp_ok = true;
	f->pp.passwd_ok = 1;
	f->pp.pid = 4242;
	f->pp.alive = true;
	f->pp.reachable = true;
	f->pp.n_nodes = 3;
	f->pp.nodes = arena_calloc(f->a, 3, sizeof *f->pp.nodes);
	row(f, 0, "up", "primary");
	row(f, 1, "up", "standby");
	row(f, 2, "waiting", "standby");
}

static int setup(void **state)
{
	Fx *f = calloc(1, sizeof(*f));
	PgcLoadOptions lo = {.base_dir = "/srv/pgc", .offline = true, .tool_path = "/usr/bin/pgconverge"};
	PgcDiagList diags = {0};
	PgcObsCluster *oc;

	f->t = topology_load_buffer(yaml, strlen(yaml), "t.yaml", &lo, &diags);
	if (f->t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	f->c = &f->t->clusters[0];
	f->a = arena_new();
	f->o = arena_calloc(f->a, 1, sizeof(*f->o));
	f->o->arena = f->a;
	f->o->n_clusters = 1;
	f->o->clusters = oc = arena_calloc(f->a, 1, sizeof(PgcObsCluster));
	oc->name = f->c->name;
	oc->n_nodes = f->c->n_nodes;
	oc->nodes = arena_calloc(f->a, f->c->n_nodes, sizeof(PgcObsNode));
	for (size_t j = 0; j < f->c->n_nodes; j++) {
		oc->nodes[j].name = f->c->nodes[j].name;
		oc->nodes[j].cluster = f->c->name;
		oc->nodes[j].local = true;
		oc->nodes[j].dir_state = DIR_ABSENT;
	}
	f->pp.passwd_ok = -1;
	oc->pgpool = &f->pp;
	f->p = arena_calloc(f->a, 1, sizeof(*f->p));
	f->p->arena = f->a;
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

static void plan_of(Fx *f)
{
	PgcPlanBuilder b;

	f->p->n_actions = 0;
	f->p->actions = NULL;
	builder_init(&b, f->p);
	plan_pgpool_cluster(&b, f->c, f->o, &f->policy);
}

static const PgcAction *find(Fx *f, const char *id)
{
	for (size_t i = 0; i < f->p->n_actions; i++)
		if (strcmp(f->p->actions[i].id, id) == 0)
			return &f->p->actions[i];
	return NULL;
}

static const char *change_to(const PgcAction *a, const char *key)
{
	for (size_t i = 0; i < a->n_changes; i++)
		if (strcmp(a->changes[i].key, key) == 0)
			return a->changes[i].to ? a->changes[i].to : "(null)";
	return NULL;
}

/* ---- renderers ------------------------------------------------------------------------ */

static void test_render_conf(void **state)
{
	Fx *f = *state;
	const char *conf = pgpool_render_conf(f->a, f->c);

	assert_non_null(strstr(conf, "backend_clustering_mode = 'streaming_replication'\n"));
	assert_non_null(strstr(conf, "listen_addresses = '127.0.0.1'\nport = 9999\n"));
	assert_non_null(strstr(conf, "pcp_listen_addresses = '127.0.0.1'\npcp_port = 10000\n"));
	assert_non_null(strstr(conf, "pid_file_name = '/srv/pgc/pgpool/pgpool.pid'\n"));
	assert_non_null(strstr(conf, "unix_socket_directories = '/srv/pgc/pgpool'\n"));
	/* Pgpool-II never fails over by itself. */
	assert_non_null(strstr(conf, "failover_on_backend_error = off\n"));
	assert_non_null(strstr(conf, "failover_command = ''\n"));
	assert_non_null(strstr(conf, "follow_primary_command = ''\n"));
	assert_non_null(strstr(conf, "health_check_period = 0\n"));
	assert_non_null(strstr(conf, "auto_failback = off\n"));
	assert_non_null(strstr(conf, "load_balance_mode = on\n"));
	/* The check logs in as the superuser role with a password; lag in bytes. */
	assert_non_null(strstr(conf, "sr_check_user = 'admin'\n"));
	assert_non_null(strstr(conf, "sr_check_password = ''\n"));
	assert_non_null(strstr(conf, "delay_threshold = 1048576\n"));
	assert_non_null(strstr(conf, "backend_hostname2 = '127.0.0.1'\nbackend_port2 = 25434\n"
				     "backend_weight2 = 1\nbackend_data_directory2 = '/srv/pgc/pg3'\n"
				     "backend_flag2 = 'ALLOW_TO_FAILOVER'\n"
				     "backend_application_name2 = 'pg3'\n"));
	assert_null(strstr(conf, "backend_hostname3"));
}

static void test_render_hba(void **state)
{
	Fx *f = *state;

	assert_string_equal(pgpool_render_hba(f->a, f->c),
			    "# pool_hba.conf of cluster \"main\", written by pgconverge from its hba "
			    "rules: edits are overwritten.\n"
			    "host all all 127.0.0.1/32 scram-sha-256\n"
			    "host all evil 0.0.0.0/0 reject\n");
}

static void test_passwd_aes(void **state)
{
	Fx *f = *state;
	char *out = NULL, err[256];

	(void)f;
	setenv("PGC_TEST_APP_PW", "apppw", 1);
	setenv("PGC_TEST_ADMIN_PW", "s3cret", 1);
	assert_int_equal(pgpool_passwd_render(f->c, "mykey", &out, err, sizeof err), 0);
	/* `pg_enc -K mykey apppw` prints AESOzjAKSSlWAVUr0yKsaR3Gw== */
	assert_non_null(strstr(out, "app:AESOzjAKSSlWAVUr0yKsaR3Gw==\n"));
	assert_non_null(strstr(out, "admin:AES"));
	assert_null(strstr(out, "nologin"));
	assert_null(strstr(out, "apppw"));
	secret_free(out);
	unsetenv("PGC_TEST_ADMIN_PW");
	assert_int_equal(pgpool_passwd_render(f->c, "mykey", &out, err, sizeof err), 1);
	assert_null(out);
	unsetenv("PGC_TEST_APP_PW");
}

static void test_conf_diff(void **state)
{
	Fx *f = *state;
	const char **k, **from, **to;
	bool restart;
	const char *a = "# c\nport = 9999\ndelay_threshold = 10\nbackend_weight0 = 1\n";

	assert_int_equal(pgpool_conf_diff(f->a, a, a, &k, &from, &to, &restart), 0);
	assert_false(restart);
	assert_int_equal(pgpool_conf_diff(f->a, a, "port   =  9999\ndelay_threshold = 20\n"
					  "backend_weight0 = 2\n", &k, &from, &to, &restart), 2);
	assert_false(restart);
	assert_string_equal(k[0], "delay_threshold");
	assert_string_equal(from[0], "10");
	assert_string_equal(to[0], "20");
	assert_int_equal(pgpool_conf_diff(f->a, a, "port = 9998\ndelay_threshold = 10\n",
					  &k, &from, &to, &restart), 2);
	assert_true(restart);
	assert_string_equal(k[1], "backend_weight0");
	assert_null(to[1]);
}

/* ---- the plan ------------------------------------------------------------------------- */

static void test_fresh(void **state)
{
	Fx *f = *state;
	const PgcAction *cfg, *start;

	running(f, 0, false);
	f->pp.looked = true;
	f->pp.passwd_ok = 0;
	plan_of(f);
	assert_int_equal(f->p->n_actions, 2);
	cfg = find(f, "main/-/pgpool-config");
	start = find(f, "main/-/pgpool-start");
	assert_non_null(cfg);
	assert_non_null(start);
	assert_int_equal(cfg->kind, ACT_PGPOOL_CONFIG);
	assert_int_equal(cfg->impact, IMPACT_NONE);
	assert_false(cfg->blocked);
	assert_string_equal(cfg->payload.content, pgpool_render_conf(f->a, f->c));
	assert_string_equal(cfg->payload.ident, pgpool_render_hba(f->a, f->c));
	assert_string_equal(cfg->payload.path, "/srv/pgc/pgpool");
	assert_non_null(change_to(cfg, "pgpool.conf"));
	assert_string_equal(change_to(cfg, "pool_passwd"), "(the declared passwords)");
	assert_int_equal(start->impact, IMPACT_NONE);
	assert_int_equal(start->n_depends_on, 1);
	assert_string_equal(start->depends_on[0], "main/-/pgpool-config");
	/* Offline (no observation at all): the same two. */
	f->o->clusters[0].pgpool = NULL;
	plan_of(f);
	assert_int_equal(f->p->n_actions, 2);
}

static void test_converged_plans_nothing(void **state)
{
	Fx *f = *state;

	converged(f);
	plan_of(f);
	assert_int_equal(f->p->n_actions, 0);
	/* Passwords that cannot be checked here are not drift. */
	f->pp.passwd_ok = -1;
	plan_of(f);
	assert_int_equal(f->p->n_actions, 0);
}

static void test_dead_is_started(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	converged(f);
	f->pp.alive = false;
	f->pp.reachable = false;
	plan_of(f);
	assert_int_equal(f->p->n_actions, 1);
	a = find(f, "main/-/pgpool-start");
	assert_non_null(a);
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_false(a->blocked);
	assert_string_equal(a->reason, "Pgpool-II is not running (its pid file names a process that "
				       "is gone): start it");
}

static void test_roles_drift_follows(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	converged(f);
	/* After a failover Pgpool-II was not told of: it still sees pg2 as the primary. */
	row(f, 0, "down", "standby");
	row(f, 1, "up", "primary");
	plan_of(f);
	assert_int_equal(f->p->n_actions, 1);
	a = find(f, "main/-/pgpool-follow");
	assert_non_null(a);
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_string_equal(a->payload.target, "pg1");
	assert_int_equal(a->n_changes, 1);
	assert_string_equal(a->changes[0].key, "pgpool.backend0(pg1)");
	assert_string_equal(a->changes[0].from, "down standby");
	assert_string_equal(a->changes[0].to, "up primary");

	/* The live primary does not answer: nothing to tell Pgpool-II yet. */
	f->o->clusters[0].nodes[0].reachable = false;
	plan_of(f);
	assert_int_equal(f->p->n_actions, 0);

	/* A standby that streams but is held down; a node that is gone but held up. */
	converged(f);
	row(f, 1, "down", "standby");
	f->o->clusters[0].nodes[2].reachable = false;
	plan_of(f);
	a = find(f, "main/-/pgpool-follow");
	assert_non_null(a);
	assert_int_equal(a->n_changes, 2);
	assert_string_equal(change_to(a, "pgpool.backend1(pg2)"), "up standby");
	assert_string_equal(change_to(a, "pgpool.backend2(pg3)"), "down");

	/* A standby held down that does not stream yet: nothing to do. */
	converged(f);
	row(f, 2, "down", "standby");
	f->o->clusters[0].nodes[2].wal_receiver_status = "startup";
	plan_of(f);
	assert_int_equal(f->p->n_actions, 0);
}

static void test_config_change_reloads(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	converged(f);
	f->pp.conf = arena_printf(f->a, "%s", pgpool_render_conf(f->a, f->c));
	*strstr((char *)f->pp.conf, "delay_threshold = 1048576") = '#';
	plan_of(f);
	assert_int_equal(f->p->n_actions, 1);
	a = find(f, "main/-/pgpool-config");
	assert_non_null(a);
	assert_int_equal(a->impact, IMPACT_RELOAD);
	assert_false(a->blocked);
	assert_string_equal(change_to(a, "delay_threshold"), "1048576");

	/* pool_passwd out of date (a password changed): a reload too. */
	converged(f);
	f->pp.passwd_ok = 0;
	plan_of(f);
	a = find(f, "main/-/pgpool-config");
	assert_non_null(a);
	assert_int_equal(a->impact, IMPACT_RELOAD);
}

static void test_restart_under_policy(void **state)
{
	Fx *f = *state;
	const PgcAction *a;
	char *conf;

	converged(f);
	conf = arena_strdup(f->a, pgpool_render_conf(f->a, f->c));
	memcpy(strstr(conf, "load_balance_mode = on"), "load_balance_mode = of", 22);
	f->pp.conf = conf;
	plan_of(f);
	assert_int_equal(f->p->n_actions, 1);
	a = find(f, "main/-/pgpool-restart");
	assert_non_null(a);
	assert_int_equal(a->kind, ACT_PGPOOL_RESTART);
	assert_int_equal(a->impact, IMPACT_RESTART);
	assert_true(a->blocked);
	assert_non_null(strstr(a->blocked_reason, "--allow-restart"));
	assert_string_equal(change_to(a, "load_balance_mode"), "on");
	f->policy.allow_restart = true;
	plan_of(f);
	a = find(f, "main/-/pgpool-restart");
	assert_non_null(a);
	assert_false(a->blocked);
	/* Not running: the change is only written, then it starts. */
	f->pp.alive = false;
	plan_of(f);
	assert_int_equal(f->p->n_actions, 2);
	assert_int_equal(find(f, "main/-/pgpool-config")->impact, IMPACT_NONE);
	assert_non_null(find(f, "main/-/pgpool-start"));
}

static void test_not_this_machine(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	f->pp.looked = false;
	plan_of(f);
	a = find(f, "main/-/pgpool-config");
	assert_non_null(a);
	assert_true(a->blocked);
	assert_non_null(strstr(a->blocked_reason, "not this one"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_render_conf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_hba, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passwd_aes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conf_diff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_converged_plans_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_is_started, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roles_drift_follows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_change_reloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_under_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_this_machine, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
