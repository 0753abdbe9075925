/*
 * reconcile/standby/standby_follow.h - standby clusters as a front door of
 * their source (engine/frontdoor.h): when a failover or switchover promotes
 * a new primary `to` of a source cluster x, each standby cluster's leader
 * on this machine streams from `to` at once, instead of at the next pass.
 *
 * repoint, for each standby cluster s of x (PgcCluster.standbys) whose
 * leader L (s's `primary:`) is on this machine, answers and is in recovery:
 *   - creates the physical slot pgc_standby_<s> on `to` when missing;
 *   - writes L's managed configuration and replication passfile as the
 *     planner renders them with `to` as the upstream (standby_follow_live),
 *     then reloads L when a file changed.
 * A leader on another host, unreachable, or taking writes (promoted by a
 * region switch or failover) is skipped: the next pass plans for it. A
 * failure is reported (-1) and left to the next pass, which plans from the
 * live primary as always, and then has nothing to do for s's leader (the
 * same rendering); the slot on the former primary is still the planner's
 * to drop. Bounded in time (connections and queries of a few seconds) and
 * idempotent (an unchanged file is not written, L not reloaded).
 */
#ifndef PGC_RECONCILE_STANDBY_STANDBY_FOLLOW_H
#define PGC_RECONCILE_STANDBY_STANDBY_FOLLOW_H

#include <stdbool.h>

#include "common/arena.h"
#include "schema/topology.h"

/* How long the hook waits for one connection or query (ms). */
#define STANDBY_FOLLOW_QUERY_TIMEOUT_MS 5000

/* The front door's row (reconcile/registry.c): declared, repoint. */
bool standby_follow_declared(const PgcCluster *c);
int standby_follow_repoint(const PgcCluster *x, const char *from, const char *to);

/*
 * standby_follow_live - pure: standby cluster s of x as the planner's live
 * copy renders it (plan_standby_live) once node `to` of x is x's primary:
 * its leader's upstream `to`, its slot, x's roles and databases, and, when s
 * is itself a source, its own standby clusters' slots and hosts. NULL when
 * s is not a standby cluster of x or x has no node `to`. In a's arena.
 */
const PgcCluster *standby_follow_live(PgcArena *a, const PgcCluster *x, const PgcCluster *s,
				      const char *to);

#endif
