/*
 * reconcile/planner.c - plan_build(): the components' planners in turn
 * (planner.h).
 */
#include "reconcile/planner.h"

#include <string.h>

#include "reconcile/backup/plan_backup.h"
#include "reconcile/datadog/plan_datadog.h"
#include "reconcile/engine/action.h"
#include "reconcile/engine/builder.h"
#include "reconcile/ha/plan_ha.h"
#include "reconcile/pgpool/plan_pgpool.h"
#include "reconcile/monitoring/plan_monitoring.h"
#include "reconcile/haproxy/plan_haproxy.h"
#include "reconcile/observe/observe_haproxy.h"
#include "reconcile/observe/observe_pgbouncer.h"
#include "reconcile/pgbouncer/plan_pgbouncer.h"
#include "reconcile/postgres/plan_conf.h"
#include "reconcile/postgres/plan_postgres.h"
#include "reconcile/standby/plan_standby.h"
#include "reconcile/standby/region_loss.h"

/* plan_cluster - cluster c's actions, from every component's planner in turn. */
static void plan_cluster(PgcPlanBuilder *b, PgcPostgresPlanner *pg, const PgcTopology *t,
			 size_t ci, const PgcObserved *obs, const PgcPolicy *policy,
			 const char **live_primaries)
{
	const PgcCluster *c = &t->clusters[ci];
	PgcHaPlan ha;

	/* ---- after a region failover: the promoted standby cluster and its fenced
	 * source are planned alone: reconcile/standby/region_loss.c ---- */
	if (plan_region_loss_cluster(b, t, c, obs))
		return;
	/* ---- the live primary, switchover, rejoin: reconcile/ha/plan_ha.c ---- */
	plan_ha_cluster(b, c, obs, policy, &ha);
	live_primaries[ci] = ha.live_primary;
	if (ha.owned)
		return;
	c = ha.live; /* planned from the primary that runs, not only the file's */
	/* ---- */
	/* standby clusters and their sources: reconcile/standby/plan_standby.c */
	c = plan_standby_live(b->a, t, c, obs, live_primaries);
	/* monitoring.datadog's login role among the roles: reconcile/datadog/plan_datadog.c */
	c = plan_datadog_roles(b->a, c);

	if (!plan_postgres_begin(pg, c, obs, ha.held, ha.n_held))
		return; /* no primary: validation refuses that */

	/* ---- backups, retention, drills and restores: reconcile/backup/plan_backup.c ---- */
	if (plan_backup_cluster(b, c, obs, policy))
		return; /* being restored: the rest waits until it is promoted */
	/* ---- */

	if (!plan_postgres_cluster(pg))
		return; /* created by its restore, not by initdb */

	/* ---- the Datadog Agent's check file and DBM: reconcile/datadog/plan_datadog.c ---- */
	plan_datadog_cluster(b, c, obs);
	/* ---- Pgpool-II: reconcile/pgpool/plan_pgpool.c ---- */
	plan_pgpool_cluster(b, c, obs, policy);
	/* ---- pgBadger reports: reconcile/monitoring/plan_monitoring.c ---- */
	plan_monitoring_cluster(b, c, obs, policy);
	/* ---- */
	/* ---- HAProxy, pointed at the live primary: reconcile/haproxy/plan_haproxy.c ---- */
	plan_haproxy_cluster(b, c, obs);
	/* ---- the pooler, pointing at the live primary: reconcile/pgbouncer/ ---- */
	plan_pgbouncer_cluster(b, c,
			       obs && !obs->pretend ? observe_pgbouncer_find(obs, c->name) : NULL,
			       policy->allow_restart || maintenance_window_open(&c->maintenance,
										policy->now));
	/* ---- */

	/* a switchover that waits: after everything planned from the live primary. */
	plan_ha_finish(b, &ha);
}

/*
 * front_door_host - the host a pooler's or balancer's action runs on (its
 * executors find the same one: observe_pgbouncer.h, observe_haproxy.h;
 * Pgpool-II's is the first node's too), or NULL for other kinds.
 */
static const char *front_door_host(const PgcCluster *c, PgcActionKind kind)
{
	switch (kind) {
	case ACT_PGBOUNCER_CONFIG:
	case ACT_PGBOUNCER_START:
	case ACT_PGBOUNCER_RESTART:
		return pgbouncer_host(c);
	case ACT_HAPROXY_START:
	case ACT_HAPROXY_RELOAD:
	case ACT_HAPROXY_SERVERS:
		return haproxy_host_name(c);
	case ACT_PGPOOL_CONFIG:
	case ACT_PGPOOL_START:
	case ACT_PGPOOL_RESTART:
	case ACT_PGPOOL_FOLLOW:
		return c->n_nodes > 0 ? c->nodes[0].host.v : NULL;
	default:
		return NULL;
	}
}

/*
 * attribute - with coordination, which host carries each action out
 * (PgcAction.runs_on): the front door's for its kinds, the node's for kinds
 * that need its machine, and none (the cluster's leader) for cluster-wide
 * work. A switchover needs the machines of both nodes and is orchestrated
 * by the leader. Done once here rather than in every planner, so that a
 * new kind is attributed by its registry row.
 */
static void attribute(const PgcTopology *t, PgcPlan *p)
{
	if (!t->etcd.set)
		return;
	for (size_t i = 0; i < p->n_actions; i++) {
		PgcAction *a = &p->actions[i];
		const PgcCluster *c = a->cluster ? topology_cluster(t, a->cluster) : NULL;
		const PgcNode *n = c != NULL && a->node != NULL ? cluster_node(c, a->node) : NULL;
		const char *host = NULL;

		if (c == NULL)
			continue;
		host = front_door_host(c, a->kind);
		if (host == NULL && a->kind != ACT_SWITCHOVER && n != NULL &&
		    action_has(a->kind, ACTION_NEEDS_HOST))
			host = n->host.v;
		a->runs_on = host != NULL ? arena_strdup(p->arena, host) : NULL;
	}
}

PgcPlan *plan_build(const PgcTopology *t, const PgcObserved *obs, const PgcPolicy *policy)
{
	PgcArena *a = arena_new();
	PgcPlan *p = arena_calloc(a, 1, sizeof(*p));
	PgcPolicy none;
	PgcPlanBuilder b;
	PgcPostgresPlanner *pg;
	const char **live;
	bool *skip;
	size_t i, *order;

	if (policy == NULL) {
		memset(&none, 0, sizeof none);
		policy = &none;
	}
	p->arena = a;
	builder_init(&b, p);
	b.coordinated = t->etcd.set;
	p->coordinated = t->etcd.set;
	p->source_kind = "file";
	p->source_path = t->file ? arena_strdup(a, t->file) : NULL;
	p->offline = obs == NULL;
	p->cluster = policy->only_cluster ? arena_strdup(a, policy->only_cluster) : NULL;
	pg = plan_postgres_new(&b, policy, obs == NULL || obs->pretend);
	/* Sources before their standby clusters, whose live copies name their primaries. */
	live = arena_calloc(a, t->n_clusters + 1, sizeof(char *));
	/* A swap of standby_of: the region switch alone, or the clusters as they run. */
	skip = arena_calloc(a, t->n_clusters + 1, sizeof(bool));
	t = plan_region_switch(&b, t, obs, policy, skip);
	order = plan_standby_order(a, t);
	for (i = 0; i < t->n_clusters; i++) {
		const PgcCluster *c = &t->clusters[order[i]];

		if (policy->only_cluster != NULL && strcmp(policy->only_cluster, c->name) != 0)
			continue;
		if (!skip[order[i]])
			plan_cluster(&b, pg, t, order[i], obs, policy, live);
		plan_postgres_fingerprints(pg, c, obs);
	}
	plan_standby_link(&b, t);
	attribute(t, p);
	return p;
}
