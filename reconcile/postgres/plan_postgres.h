/*
 * reconcile/postgres/plan_postgres.h - the PostgreSQL servers' part of the
 * plan: per cluster, create, configure, start and restart its nodes, then
 * its roles, memberships, databases and extensions; orphans are reported.
 * Pure, like the rest of the planner (plan_build() in reconcile/planner.h
 * calls it, between the HA and backup planners; the decisions it takes are
 * listed there and explained in plan_postgres.c).
 *
 * One planner per plan, used cluster after cluster: plan_postgres_begin()
 * analyses the cluster's nodes, plan_postgres_cluster() appends its
 * actions. Memory: the plan's arena.
 */
#ifndef PGC_RECONCILE_POSTGRES_PLAN_POSTGRES_H
#define PGC_RECONCILE_POSTGRES_PLAN_POSTGRES_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "reconcile/engine/builder.h"
#include "reconcile/engine/plan.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

typedef struct PgcPostgresPlanner PgcPostgresPlanner;

/*
 * plan_postgres_new - a planner appending to the plan b builds. pretend:
 * the observed state is made up (plan --offline).
 */
PgcPostgresPlanner *plan_postgres_new(PgcPlanBuilder *b, const PgcPolicy *policy, bool pretend);

/*
 * plan_postgres_begin - analyses cluster c (the one to plan from: with the
 * live primary) against obs (NULL: offline, every node local and absent).
 * The held nodes (n_held of them) are left alone: an HA action of this
 * pass takes care of them. False when c has no primary (validation refuses
 * that): nothing more is planned for it.
 */
bool plan_postgres_begin(PgcPostgresPlanner *x, const PgcCluster *c, const PgcObserved *obs,
			 const char **held, size_t n_held);

/*
 * plan_postgres_cluster - appends the actions of the cluster begun. False
 * when the cluster is left to its restore (bootstrap.from_backup, primary
 * with no data yet): nothing was planned.
 */
bool plan_postgres_cluster(PgcPostgresPlanner *x);

/* plan_postgres_fingerprints - records the fingerprint of every observed node of c. */
void plan_postgres_fingerprints(PgcPostgresPlanner *x, const PgcCluster *c, const PgcObserved *obs);

/*
 * plan_pending_restart - the setting waits for a restart that would act on
 * it: pending_restart, except recovery_target_* on a server out of
 * recovery (a restored cluster after its promotion keeps them in memory
 * but never uses them: only archive recovery reads them, at start-up, and
 * whatever next starts the server reads the file). Shared by the plan and
 * status so that neither shows a restart nobody needs.
 */
bool plan_pending_restart(const PgcObsNode *o, const PgcObsSetting *s);

/*
 * plan_replica_streams - false when replica o (node name) answers, is a
 * standby (not an archive recovery) and streams from nobody: no WAL
 * receiver, or a stopped one, and its upstream up (NULL: unknown), when it
 * answers, lists no walsender for it. A WAL receiver that is starting,
 * waiting, restarting or stopping counts: it is reconnecting right now. The plan
 * checks such a replica (a start action that waits until it streams);
 * status flags it. Pure.
 */
bool plan_replica_streams(const PgcObsNode *o, const PgcObsNode *up, const char *name);

#endif
