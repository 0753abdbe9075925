/*
 * reconcile/datadog/plan_datadog.h - monitoring.datadog's part of the plan
 * (reconcile/planner.c calls both, in this order).
 *
 * The Agent's login role goes through the postgres component's role
 * machinery: plan_datadog_roles() gives the postgres planner a cluster
 * whose roles include it (LOGIN, member of pg_monitor, the password from
 * monitoring.datadog.password), so that create-role / alter-role /
 * grant-role carry it like any declared role, the password as a secret
 * reference only, and it is never reported as an orphan.
 *
 * plan_datadog_cluster() then appends:
 *   datadog-conf  the check file, when absent, different (masked: the
 *                 password is compared by observe), of another mode, or
 *                 holding another password; impact none (the Agent reads
 *                 it when it starts or reloads its checks);
 *   datadog-dbm   with dbm: true, on the primary, the databases ("postgres"
 *                 and the declared ones) that lack Database Monitoring's
 *                 objects (datadog.h); after the role and the databases.
 *
 * Pure: no I/O. Memory: the plan's arena.
 */
#ifndef PGC_RECONCILE_DATADOG_PLAN_DATADOG_H
#define PGC_RECONCILE_DATADOG_PLAN_DATADOG_H

#include "common/arena.h"
#include "reconcile/engine/builder.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

/*
 * plan_datadog_roles - c itself without monitoring.datadog; otherwise a
 * shallow copy in a whose roles hold monitoring.datadog.user: added, or
 * the declared role of that name with LOGIN, pg_monitor and the
 * monitoring.datadog password (which observe checks for that name too).
 */
const PgcCluster *plan_datadog_roles(PgcArena *a, const PgcCluster *c);

/* plan_datadog_cluster - appends cluster c's datadog actions (c: with the live primary). */
void plan_datadog_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObserved *obs);

/*
 * plan_datadog_pretend - what observe would find had base been applied, for
 * `plan --offline --base` planning head: base's check file (masked), and
 * Database Monitoring where base had it. NULL without base or without
 * monitoring.datadog in head.
 */
PgcObsDatadog *plan_datadog_pretend(PgcArena *a, const PgcCluster *base, const PgcCluster *head);

#endif
