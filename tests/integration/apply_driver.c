/*
 * tests/integration/apply_driver.c - runs apply_plan() on a plan built by
 * hand for test_apply.sh: a primary from initdb to roles, databases and an
 * extension, then a replica cloned through a slot and started.
 *
 *   apply_driver hand TOPOLOGY STATE_DIR
 *   apply_driver plan TOPOLOGY STATE_DIR
 *
 * "hand" applies the plan below, built by hand. "plan" observes the live
 * state (observe_topology), builds the plan with plan_build(), prints it
 * (text) on stderr and applies it; it prints "actions=N" first.
 *
 * For "hand", the topology has one cluster "main" with nodes pg1 (primary) and pg2
 * (replica), replication user/password and slots, role "app" with a
 * password and database "appdb" owned by it with extension
 * pg_stat_statements. The plan also holds one blocked action (a restart
 * without --allow-restart) and one that depends on it, so the skip rules
 * are exercised. Prints the counters on stdout:
 *   done=N failed=N blocked=N dependency=N
 * and exits with 0 when apply_plan() returned 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/arena.h"
#include "common/diag.h"
#include "common/log.h"
#include "reconcile/engine/apply.h"
#include "reconcile/observe/observe.h"
#include "reconcile/engine/plan.h"
#include "reconcile/planner.h"
#include "schema/topology.h"
#include "reconcile/postgres/plan_conf.h"

typedef struct {
	PgcArena *a;
	PgcAction items[32];
	size_t n;
} Builder;

static PgcAction *add(Builder *b, PgcActionKind kind, const char *node, const char *id_tail,
		      const char *reason)
{
	PgcAction *x = &b->items[b->n++];

	memset(x, 0, sizeof(*x));
	x->kind = kind;
	x->cluster = "main";
	x->node = node;
	x->id = arena_printf(b->a, "main/%s/%s", node, id_tail);
	x->reason = reason;
	x->impact = IMPACT_NONE;
	return x;
}

static void deps(Builder *b, PgcAction *x, const char *d1, const char *d2, const char *d3)
{
	const char *all[3] = {d1, d2, d3};

	x->depends_on = arena_calloc(b->a, 3, sizeof(char *));
	for (size_t i = 0; i < 3; i++)
		if (all[i] != NULL)
			x->depends_on[x->n_depends_on++] = arena_printf(b->a, "main/%s", all[i]);
}

/* run_planned - observe, plan_build, apply: the path `pgconverge apply` takes. */
static int run_planned(const PgcTopology *t, const char *state_dir)
{
	PgcObserveOptions oo = {0};
	PgcPolicy policy = {0};
	PgcApplyOptions ao = {0};
	PgcApplyResult res = {0};
	PgcObserved *obs;
	PgcPlan *p;
	int rc = 0;

	obs = observe_topology(t, &oo);
	if (obs == NULL)
		return 1;
	policy.now = time(NULL);
	p = plan_build(t, obs, &policy);
	printf("actions=%zu\n", p->n_actions);
	plan_print_text(stderr, p, false);
	ao.state_dir = state_dir;
	ao.action_timeout_s = 300;
	ao.ready_timeout_s = 60;
	if (p->n_actions > 0) {
		rc = apply_plan(t, p, &ao, &res);
		printf("done=%zu failed=%zu blocked=%zu dependency=%zu\n", res.done, res.failed,
		       res.skipped_blocked, res.skipped_dependency);
	}
	plan_free(p);
	observe_free(obs);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	PgcDiagList diags = {0};
	PgcLoadOptions lopts = {0};
	PgcApplyOptions aopts = {0};
	PgcApplyResult res;
	PgcTopology *t;
	PgcCluster *c;
	PgcNode *pg1, *pg2;
	PgcRole *app;
	PgcPlan plan = {0};
	Builder b = {0};
	PgcAction *x;
	int rc;

	if (argc != 4 || (strcmp(argv[1], "hand") != 0 && strcmp(argv[1], "plan") != 0)) {
		fprintf(stderr, "usage: apply_driver hand|plan TOPOLOGY STATE_DIR\n");
		return 2;
	}
	log_set_level(LOG_DEBUG);
	t = topology_load_file(argv[2], &lopts, &diags);
	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		return 2;
	}
	if (strcmp(argv[1], "plan") == 0) {
		rc = run_planned(t, argv[3]);
		topology_free(t);
		diag_free(&diags);
		return rc;
	}
	c = topology_cluster(t, "main");
	pg1 = c ? cluster_node(c, "pg1") : NULL;
	pg2 = c ? cluster_node(c, "pg2") : NULL;
	app = NULL;
	for (size_t i = 0; c != NULL && i < c->n_roles; i++)
		if (strcmp(c->roles[i].name, "app") == 0)
			app = &c->roles[i];
	if (pg1 == NULL || pg2 == NULL || app == NULL) {
		fprintf(
		    stderr,
		    "apply_driver: the topology needs cluster main, nodes pg1, pg2, role app\n");
		return 2;
	}
	b.a = arena_new();

	/* The primary. */
	x = add(&b, ACT_INITDB, "pg1", "initdb", "data directory is absent");
	x->payload.path = pg1->data_dir.v;
	x = add(&b, ACT_WRITE_CONFIG, "pg1", "config", "managed settings differ");
	x->payload.content = plan_managed_conf(b.a, c, pg1);
	deps(&b, x, "pg1/initdb", NULL, NULL);
	x = add(&b, ACT_WRITE_HBA, "pg1", "hba", "access rules differ");
	x->payload.content = plan_hba_conf(b.a, c, pg1);
	x->payload.ident = plan_ident_conf(b.a, c);
	deps(&b, x, "pg1/initdb", NULL, NULL);
	x = add(&b, ACT_START, "pg1", "start", "server is not running");
	deps(&b, x, "pg1/config", "pg1/hba", NULL);
	x = add(&b, ACT_RELOAD, "pg1", "reload", "configuration files changed");
	x->impact = IMPACT_RELOAD;
	deps(&b, x, "pg1/start", NULL, NULL);

	x = add(&b, ACT_CREATE_ROLE, "pg1", "create-role:replicator", "role is missing");
	x->payload.sql = "CREATE ROLE replicator WITH LOGIN REPLICATION PASSWORD $1";
	x->payload.target = "replicator";
	x->payload.secret = c->replication.password;
	deps(&b, x, "pg1/start", NULL, NULL);
	x = add(&b, ACT_CREATE_ROLE, "pg1", "create-role:app", "role is missing");
	x->payload.sql = "CREATE ROLE app WITH LOGIN PASSWORD $1";
	x->payload.target = "app";
	x->payload.secret = app->password;
	deps(&b, x, "pg1/start", NULL, NULL);
	x = add(&b, ACT_ALTER_ROLE, "pg1", "alter-role:app", "connection limit differs");
	x->payload.sql = "ALTER ROLE app WITH CONNECTION LIMIT 20 PASSWORD $1";
	x->payload.target = "app";
	x->payload.secret = app->password;
	deps(&b, x, "pg1/create-role:app", NULL, NULL);
	x = add(&b, ACT_CREATE_DATABASE, "pg1", "create-database:appdb", "database is missing");
	x->payload.sql = "CREATE DATABASE appdb OWNER app";
	x->payload.target = "appdb";
	deps(&b, x, "pg1/create-role:app", NULL, NULL);
	x = add(&b, ACT_ALTER_DATABASE, "pg1", "alter-database:appdb", "owner differs");
	x->payload.sql = "ALTER DATABASE appdb OWNER TO app";
	x->payload.target = "appdb";
	deps(&b, x, "pg1/create-database:appdb", NULL, NULL);
	x = add(&b, ACT_CREATE_EXTENSION, "pg1", "create-extension:appdb:pg_stat_statements",
		"extension is missing");
	x->payload.sql = "CREATE EXTENSION IF NOT EXISTS pg_stat_statements";
	x->payload.target = "pg_stat_statements";
	x->payload.database = "appdb";
	deps(&b, x, "pg1/create-database:appdb", NULL, NULL);
	x = add(&b, ACT_CREATE_SLOT, "pg1", "create-slot:pg2", "replica pg2 has no slot");
	x->payload.sql = "SELECT pg_catalog.pg_create_physical_replication_slot($1, true)";
	x->payload.params = arena_calloc(b.a, 1, sizeof(char *));
	x->payload.params[0] = "pg2";
	x->payload.n_params = 1;
	x->payload.target = "pg2";
	deps(&b, x, "pg1/start", NULL, NULL);

	/* The replica. */
	x = add(&b, ACT_CLONE, "pg2", "clone", "data directory is absent");
	x->payload.path = pg2->data_dir.v;
	x->payload.upstream = "pg1";
	x->payload.secret = c->replication.password;
	x->impact = IMPACT_REBUILD;
	deps(&b, x, "pg1/create-slot:pg2", "pg1/create-role:replicator", "pg1/reload");
	x = add(&b, ACT_WRITE_CONFIG, "pg2", "config", "managed settings differ");
	x->payload.content = plan_managed_conf(b.a, c, pg2);
	deps(&b, x, "pg2/clone", NULL, NULL);
	x = add(&b, ACT_WRITE_HBA, "pg2", "hba", "access rules differ");
	x->payload.content = plan_hba_conf(b.a, c, pg2);
	x->payload.ident = plan_ident_conf(b.a, c);
	deps(&b, x, "pg2/clone", NULL, NULL);
	x = add(&b, ACT_WRITE_PASSFILE, "pg2", "passfile", "replication passfile is missing");
	x->payload.target = c->replication.user.v;
	x->payload.upstream = "pg1";
	x->payload.secret = c->replication.password;
	deps(&b, x, "pg2/clone", NULL, NULL);
	x = add(&b, ACT_START, "pg2", "start", "server is not running");
	deps(&b, x, "pg2/config", "pg2/hba", "pg2/passfile");

	/* Policy: a blocked restart, and an action that depends on it. */
	x = add(&b, ACT_RESTART, "pg1", "restart", "shared_buffers changed");
	x->impact = IMPACT_RESTART;
	x->blocked = true;
	x->blocked_reason = "restart needed: use --allow-restart";
	x = add(&b, ACT_RELOAD, "pg2", "reload", "after the primary's restart");
	deps(&b, x, "pg1/restart", NULL, NULL);

	plan.arena = b.a;
	plan.actions = b.items;
	plan.n_actions = b.n;
	aopts.state_dir = argv[3];
	aopts.action_timeout_s = 300;
	aopts.ready_timeout_s = 60;
	rc = apply_plan(t, &plan, &aopts, &res);
	printf("done=%zu failed=%zu blocked=%zu dependency=%zu\n", res.done, res.failed,
	       res.skipped_blocked, res.skipped_dependency);
	arena_free(b.a);
	topology_free(t);
	diag_free(&diags);
	return rc == 0 ? 0 : 1;
}
