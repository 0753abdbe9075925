/*
 * reconcile/plan_offline.h - `plan --offline`: what a change of the topology will
 * do, without contacting any server (review in CI).
 *
 * plan_offline() builds an observed state in which every node of the base
 * topology runs exactly as the base declares it (its managed configuration,
 * pg_hba.conf, roles, databases, extensions and slots; a standby cluster
 * and its source as the planner's live copy has them, plan_standby_live:
 * the leader streaming from the source's declared primary through its slot,
 * kept there), and hands it with
 * the head topology to the real planner (plan_build). The result is the plan
 * a live run would make if the servers matched the base: the settings that
 * need a reload and those that need a restart (from the parameter catalog),
 * new nodes to initialise or clone, role and database changes, and what the
 * policy blocks. On top of the planner's output:
 *   - a change of a cluster's primary is a switchover: the new primary's
 *     configuration action carries impact "switchover" and is blocked
 *     unless policy->allow_switchover;
 *   - nodes and clusters the head no longer declares, and data directories
 *     that moved, are listed as orphans (pgconverge never removes them).
 * The plan is marked offline and carries no fingerprints: `apply` refuses
 * it, since it was not made from the servers.
 *
 * Pure: no I/O. Memory: the plan's arena, plus strings of head (as with
 * plan_build): free the plan before head; base may be freed right away.
 */
#ifndef PGC_RECONCILE_PLAN_OFFLINE_H
#define PGC_RECONCILE_PLAN_OFFLINE_H

#include "reconcile/engine/plan.h"
#include "reconcile/planner.h"
#include "schema/source.h"

/*
 * plan_offline - the plan from base to head; base NULL means nothing exists
 * yet (every cluster is created). Never fails except on memory.
 */
PgcPlan *plan_offline(const PgcTopology *base, const PgcTopology *head, const PgcPolicy *policy);

/*
 * plan_set_source - fills the plan's source fields from what was loaded:
 * kind, path, digest, and for git the ref and commit (copied into the
 * plan's arena). A NULL or empty src leaves the plan as it is.
 */
void plan_set_source(PgcPlan *p, const PgcSource *src);

#endif
