/*
 * reconcile/postgres/plan_postgres.c - the PostgreSQL servers' part of the
 * pure planner: (topology, observed, policy) -> an ordered list of
 * explained actions (plan_postgres.h; the steps live in plan_settings.c,
 * plan_node.c, plan_roles.c and plan_orphans.c).
 *
 * Per cluster, nodes are visited in tree order (the primary, then its
 * replicas, then cascaded ones: an upstream always before the nodes that
 * stream from it). Each node is first analysed (what exists, what differs),
 * then actions are emitted in three steps:
 *
 *   1. per node in tree order: create (initdb, or slot + clone), passfile,
 *      config, hba, start; or, on a running node, reset-alter-system,
 *      config, hba, passfile, reload. The replication user is created right
 *      after the primary's actions, since clones log in as it.
 *   2. the restart chain: replicas one at a time in tree order (upstream
 *      before cascaded), each depending on the previous one, the primary
 *      last. When a ">= on standbys" parameter is raised, the primary's
 *      configuration waits until every standby restarted with the new
 *      value; when one is lowered, the primary goes first and the standbys'
 *      configuration waits for its restart. A plan that raises one such
 *      parameter and lowers another keeps the lowered values for this run
 *      and lowers them on the next, so that neither order is broken; a
 *      raise whose standby restarts are blocked keeps the primary's raised
 *      values, so that its other changes are not held back with it.
 *   3. on the primary: roles, memberships, databases, extensions.
 *   4. replicas that stream from nobody: a start (on a running server it
 *      waits until the replica streams), after every repair.
 *
 * Data directories that must not be started or touched: a replica's
 * initialized directory without standby.signal gets a blocked start (it
 * would run as a second primary); a replica's directory named by the clone
 * marker (observe_clone_marker_path) is pgconverge's own unfinished copy and
 * is planned like a new node: the clone empties it and copies again.
 *
 * Roles, databases and slots are planned from what the servers report. On
 * a new primary they are all created; on a primary that exists but is down
 * (or cannot be reached) they are planned on the next pass, once it is up.
 *
 * No I/O here: the clock comes in the policy, and everything a plan holds
 * is in its arena.
 */
#include "reconcile/postgres/plan_postgres.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "reconcile/postgres/plan_work.h"

static const PgcObsNode *find_obs(const PgcObserved *obs, const char *cluster, const char *node)
{
	size_t i, j;

	for (i = 0; obs != NULL && i < obs->n_clusters; i++) {
		if (!streq(obs->clusters[i].name, cluster))
			continue;
		for (j = 0; j < obs->clusters[i].n_nodes; j++)
			if (streq(obs->clusters[i].nodes[j].name, node))
				return &obs->clusters[i].nodes[j];
	}
	/* A standby cluster's source, observed for it alone (--cluster). */
	for (i = 0; obs != NULL && i < obs->n_sources; i++) {
		if (!streq(obs->sources[i].name, cluster))
			continue;
		for (j = 0; j < obs->sources[i].n_nodes; j++)
			if (streq(obs->sources[i].nodes[j].name, node))
				return &obs->sources[i].nodes[j];
	}
	return NULL;
}
/* ---- the cluster --------------------------------------------------------------- */

static int node_depth(const PgcCluster *c, const PgcNode *n)
{
	int d = 0;

	while (n != NULL && d <= (int)c->n_nodes) {
		const PgcNode *up = cluster_upstream(c, n);

		if (up == NULL || up == n)
			return d;
		n = up;
		d++;
	}
	return (int)c->n_nodes + 1; /* a cycle: validation refuses it */
}

static const char *restart_block_reason(Ctx *x)
{
	const PgcMaintenance *m = &x->c->maintenance;

	if (m->restart == RESTART_WINDOW && m->window.v != NULL)
		return arena_printf(x->a, "outside the maintenance window \"%s\"; run with "
				    "--allow-restart to restart now, or apply during the window",
				    m->window.v);
	return arena_printf(x->a, "restarts need --allow-restart (cluster \"%s\" has "
			    "maintenance.restart: never)", x->c->name);
}

static PgcObsNode *offline_node(Ctx *x, const PgcNode *n)
{
	PgcObsNode *o = arena_calloc(x->a, 1, sizeof(*o));

	o->name = n->name;
	o->cluster = x->c->name;
	o->local = true;
	o->dir_state = DIR_ABSENT;
	return o;
}

/* held - node is one an HA action of this pass takes care of. */
static bool held(const char **nodes, size_t n, const char *node)
{
	for (size_t i = 0; node != NULL && i < n; i++)
		if (strcmp(nodes[i], node) == 0)
			return true;
	return false;
}

PgcPostgresPlanner *plan_postgres_new(PgcPlanBuilder *b, const PgcPolicy *policy, bool pretend)
{
	Ctx *x = arena_calloc(b->a, 1, sizeof(*x));

	x->b = b;
	x->a = b->a;
	x->policy = policy;
	x->pretend = pretend;
	return x;
}

bool plan_postgres_begin(Ctx *x, const PgcCluster *c, const PgcObserved *obs,
			 const char **held_nodes, size_t n_held)
{
	size_t i;

	x->c = c;
	x->major = (int)c->pg_version.v;
	x->nw = c->n_nodes;
	x->w = arena_calloc(x->a, c->n_nodes + 1, sizeof(NodeWork));
	x->pw = NULL;
	x->standby_up_o = obs != NULL && c->standby_upstream != NULL && c->standby_of.set
				  ? find_obs(obs, c->standby_of.v, c->standby_upstream->name)
				  : NULL;
	x->phase = NULL;
	x->phase_dir = 0;
	x->last_restart = NULL;
	x->repl_role_id = NULL;
	x->role_ids = NULL;
	x->hba = NULL;
	x->hba_rules = NULL;
	x->hba_old = NULL;
	x->diff = NULL;
	x->restart_ok = x->policy->allow_restart || maintenance_window_open(&c->maintenance,
									     x->policy->now);
	x->restart_block = x->restart_ok ? NULL : restart_block_reason(x);

	for (i = 0; i < c->n_nodes; i++) {
		NodeWork *nw = &x->w[i];

		nw->n = &c->nodes[i];
		nw->o = obs ? find_obs(obs, c->name, c->nodes[i].name) : offline_node(x, &c->nodes[i]);
		if (held(held_nodes, n_held, c->nodes[i].name))
			nw->o = NULL; /* an HA action of this pass takes care of it */
		nw->primary = c->primary.v != NULL && strcmp(c->primary.v, c->nodes[i].name) == 0;
		nw->depth = node_depth(c, nw->n);
		if (nw->o != NULL) {
			nw->remote = !nw->o->local;
			nw->reachable = nw->o->reachable;
			nw->running = nw->o->reachable || nw->o->postmaster_alive;
		}
		plan_settings_analyze(x, nw, NULL, 0);
		if (nw->primary)
			x->pw = nw;
	}
	return x->pw != NULL; /* no primary: validation refuses that */
}

bool plan_postgres_cluster(Ctx *x)
{
	const PgcCluster *c = x->c;
	size_t *order, i, j, k;
	bool new_restore;

	/* A cluster restored from a backup is created by the restore, not by initdb. */
	new_restore = c->bootstrap.set && x->pw->state == NS_NEW;
	if (new_restore)
		return false;

	plan_settings_phase(x);

	/* Tree order: by depth, then as written. */
	order = arena_calloc(x->a, c->n_nodes + 1, sizeof(size_t));
	for (i = 0; i < c->n_nodes; i++)
		order[i] = i;
	for (i = 1; i < c->n_nodes; i++)
		for (j = i; j > 0 && x->w[order[j - 1]].depth > x->w[order[j]].depth; j--) {
			k = order[j];
			order[j] = order[j - 1];
			order[j - 1] = k;
		}

	/* 1. create, configure and start, node by node. */
	for (k = 0; k < c->n_nodes; k++) {
		NodeWork *nw = &x->w[order[k]];

		switch (nw->state) {
		case NS_SKIP:
			break;
		case NS_NEW:
			plan_node_new(x, nw);
			break;
		case NS_DOWN:
			plan_node_config(x, nw);
			plan_node_passfile(x, nw);
			plan_node_hba(x, nw);
			plan_node_start(x, nw, "the server is not running");
			break;
		case NS_RUNNING:
			if (!nw->primary)
				plan_node_slot(x, nw);
			if (x->phase_dir > 0 && nw->primary && nw->has_ge)
				break; /* after the standbys' restarts */
			if (x->phase_dir < 0 && !nw->primary && nw->has_ge)
				break; /* after the primary's restart */
			plan_node_running(x, nw);
			break;
		case NS_FOREIGN:
		case NS_NOT_STANDBY:
		case NS_UNKNOWN:
		case NS_REMOTE_DOWN:
			plan_node_blocked(x, nw);
			break;
		}
		if (nw->primary) {
			plan_roles_repl(x);
			plan_node_kept_slots(x, nw);
		}
	}

	/* 2. restarts, one node at a time. */
	if (x->phase_dir < 0) {
		plan_node_running(x, x->pw);
		plan_node_restart(x, x->pw);
	}
	for (k = 0; k < c->n_nodes; k++) {
		NodeWork *nw = &x->w[order[k]];

		if (nw->primary || nw->state != NS_RUNNING)
			continue;
		plan_node_running(x, nw);
		plan_node_restart(x, nw);
	}
	if (x->phase_dir >= 0 && x->pw->state == NS_RUNNING) {
		plan_node_running(x, x->pw);
		plan_node_restart(x, x->pw);
	}

	/* 3. what lives inside the primary. */
	plan_roles_and_databases(x);
	plan_orphans_find(x);

	/* 4. replicas that stream from nobody, checked after every repair: last, so
	 * that one nothing here can repair (its WAL gone from the upstream, say)
	 * fails its check without holding back the rest of the cluster. */
	for (k = 0; k < c->n_nodes; k++)
		plan_node_stream_check(x, &x->w[order[k]]);
	return true;
}
/* ---- fingerprints ---------------------------------------------------------------- */

static void add_fingerprint(Ctx *x, const char *cluster, const PgcObsNode *o)
{
	builder_fingerprint(x->b, arena_printf(x->a, "%s/%s", cluster, o->name),
			    observe_node_fingerprint(x->a, o));
}

void plan_postgres_fingerprints(Ctx *x, const PgcCluster *c, const PgcObserved *obs)
{
	for (size_t j = 0; obs != NULL && j < c->n_nodes; j++) {
		const PgcObsNode *o = find_obs(obs, c->name, c->nodes[j].name);

		if (o != NULL)
			add_fingerprint(x, c->name, o);
	}
}
