/*
 * reconcile/planner.c - plan_build(): the components' planners in turn
 * (planner.h).
 */
#include "reconcile/planner.h"

#include <string.h>

#include "reconcile/backup/plan_backup.h"
#include "reconcile/datadog/plan_datadog.h"
#include "reconcile/engine/builder.h"
#include "reconcile/ha/plan_ha.h"
#include "reconcile/pgpool/plan_pgpool.h"
#include "reconcile/monitoring/plan_monitoring.h"
#include "reconcile/postgres/plan_postgres.h"

/* plan_cluster - cluster c's actions, from every component's planner in turn. */
static void plan_cluster(PgcPlanBuilder *b, PgcPostgresPlanner *pg, const PgcCluster *c,
			 const PgcObserved *obs, const PgcPolicy *policy)
{
	PgcHaPlan ha;

	/* ---- the live primary, switchover, rejoin: reconcile/ha/plan_ha.c ---- */
	plan_ha_cluster(b, c, obs, policy, &ha);
	if (ha.owned)
		return;
	c = ha.live; /* planned from the primary that runs, not only the file's */
	/* ---- */
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

	/* a switchover that waits: after everything planned from the live primary. */
	plan_ha_finish(b, &ha);
}

PgcPlan *plan_build(const PgcTopology *t, const PgcObserved *obs, const PgcPolicy *policy)
{
	PgcArena *a = arena_new();
	PgcPlan *p = arena_calloc(a, 1, sizeof(*p));
	PgcPolicy none;
	PgcPlanBuilder b;
	PgcPostgresPlanner *pg;
	size_t i;

	if (policy == NULL) {
		memset(&none, 0, sizeof none);
		policy = &none;
	}
	p->arena = a;
	builder_init(&b, p);
	p->source_kind = "file";
	p->source_path = t->file ? arena_strdup(a, t->file) : NULL;
	p->offline = obs == NULL;
	p->cluster = policy->only_cluster ? arena_strdup(a, policy->only_cluster) : NULL;
	pg = plan_postgres_new(&b, policy, obs == NULL || obs->pretend);
	for (i = 0; i < t->n_clusters; i++) {
		const PgcCluster *c = &t->clusters[i];

		if (policy->only_cluster != NULL && strcmp(policy->only_cluster, c->name) != 0)
			continue;
		plan_cluster(&b, pg, c, obs, policy);
		plan_postgres_fingerprints(pg, c, obs);
	}
	return p;
}
