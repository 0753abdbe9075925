/*
 * reconcile/pgbouncer/plan_pgbouncer.h - the PgBouncer part of the plan.
 *
 * From the live cluster (its primary is the one that runs now) and the
 * observed pooler (observe_pgbouncer.h):
 *   pooler down (or never started)       pgbouncer-config if its files differ, then
 *                                        pgbouncer-start (impact none)
 *   running, ini or userlist differ, or  pgbouncer-config: rewrite + RELOAD (impact reload);
 *   its databases point elsewhere        a moved primary is such a change
 *   running, a setting RELOAD does not   pgbouncer-restart (impact restart), blocked unless
 *   take differs (listen_addr ...)       restart_ok (--allow-restart or the window)
 *   running and all the same             nothing
 * An unobserved pooler (plan --offline) is planned as a new one; one on
 * another machine is planned blocked.
 */
#ifndef PGC_RECONCILE_PGBOUNCER_PLAN_PGBOUNCER_H
#define PGC_RECONCILE_PGBOUNCER_PLAN_PGBOUNCER_H

#include <stdbool.h>

#include "reconcile/engine/builder.h"
#include "reconcile/observe/observe_pgbouncer.h"
#include "schema/topology.h"

/*
 * plan_pgbouncer_cluster - appends c's pooler actions to b. o is the
 * observed pooler (NULL: not observed). restart_ok: the policy allows a
 * restart now; otherwise a restart is emitted blocked.
 */
void plan_pgbouncer_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObsPgbouncer *o,
			    bool restart_ok);

#endif
