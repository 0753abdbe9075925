/*
 * reconcile/pgpool/plan_pgpool.h - the Pgpool-II part of the plan
 * (balancer.pgpool). Pure: from the cluster as it runs now (its live
 * primary) and the observed Pgpool-II (observe_pgpool.h).
 *
 * Actions, with their ids (cluster-wide: node "-"), after everything else
 * planned for the cluster so far (they depend on it):
 *
 *   CLUSTER/-/pgpool-config   the rendered pgpool.conf or pool_hba.conf
 *                             differs from the files in dir, or pool_passwd
 *                             does not hold the declared passwords, or the
 *                             PCP files are missing. Impact none when
 *                             Pgpool-II does not run, reload when it does
 *                             and every changed parameter is one a reload
 *                             applies. Blocked when its machine (the first
 *                             node's) is not this one.
 *   CLUSTER/-/pgpool-restart  the same, when a changed parameter needs a
 *                             start (listen address, ports, backends,
 *                             load_balance_mode ...) and Pgpool-II runs:
 *                             impact restart, blocked unless --allow-restart
 *                             or the maintenance policy allows it.
 *   CLUSTER/-/pgpool-start    Pgpool-II does not run: impact none.
 *   CLUSTER/-/pgpool-follow   Pgpool-II runs and its `SHOW pool_nodes`
 *                             disagrees with the live roles: another
 *                             primary than the live one (when that one
 *                             answers as a primary), a standby that
 *                             streams held down, a node that does not answer
 *                             held up. payload.target = the live primary;
 *                             impact none.
 *
 * A converged Pgpool-II plans nothing. Memory: the plan's arena.
 */
#ifndef PGC_RECONCILE_PGPOOL_PLAN_PGPOOL_H
#define PGC_RECONCILE_PGPOOL_PLAN_PGPOOL_H

#include "reconcile/engine/builder.h"
#include "reconcile/observe/observe.h"

/* plan_pgpool_cluster - c's Pgpool-II actions (nothing without balancer.pgpool). */
void plan_pgpool_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObserved *obs,
			 const PgcPolicy *policy);

#endif
