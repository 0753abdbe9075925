/*
 * reconcile/monitoring/plan_monitoring.h - the pure planning of a
 * cluster's monitoring actions: pgBadger reports. (pg_stat_statements is
 * the postgres component's: its preload and settings are in the node's
 * configuration, its extension among the databases' extensions.)
 *
 * Actions, with their ids:
 *
 *   CLUSTER/NODE/pgbadger  ACT_PGBADGER, impact none: monitoring.pgbadger
 *                          .every says "a report no older than this"; due
 *                          when the node's state file (observe_pgbadger.h)
 *                          records no run, or a run that long ago. Planned
 *                          for nodes whose data directory exists on this
 *                          machine (a node being created has no log yet);
 *                          blocked, with the reason, on a node of another
 *                          machine or when the state file cannot be read.
 *                          One change: "last pgbadger run", from the last
 *                          run's time (null: none) to "now". payload: see
 *                          engine/plan.h.
 *
 * Nothing offline (plan --offline: no node exists yet), nothing when
 * monitoring.pgbadger is off.
 */
#ifndef PGC_RECONCILE_MONITORING_PLAN_MONITORING_H
#define PGC_RECONCILE_MONITORING_PLAN_MONITORING_H

#include "reconcile/engine/builder.h"
#include "reconcile/engine/plan.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

/* The pgBadger the Debian package installs: the only program the action runs. */
#define PGC_PGBADGER "/usr/bin/pgbadger"

/*
 * plan_monitoring_cluster - appends cluster c's monitoring actions to the
 * plan b builds, from the observed state obs (NULL: offline) at policy->now.
 */
void plan_monitoring_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObserved *obs,
			     const PgcPolicy *policy);

/*
 * plan_pgbadger_argv - pgBadger's argv for node n without the log files
 * (program first), NULL-terminated, in arena: incremental HTML reports in
 * the node's report folder, the format and log_line_prefix the node
 * writes (pg/serverlog.h), its pid and temporary files kept there too.
 */
const char **plan_pgbadger_argv(PgcArena *arena, const PgcCluster *c, const PgcNode *n);

/*
 * plan_pgbadger_index - the cluster's <output>/index.html: a link to each
 * node's report (<node>/index.html). The same bytes for every node's action.
 */
const char *plan_pgbadger_index(PgcArena *arena, const PgcCluster *c);

#endif
