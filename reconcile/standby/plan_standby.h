/*
 * reconcile/standby/plan_standby.h - standby clusters (`standby_of`) in the
 * plan: pure, called by plan_build() (reconcile/planner.c).
 *
 * A standby cluster's primary, its "standby leader", streams from the
 * source cluster's live primary through a physical slot there; its other
 * nodes cascade from it as usual. The postgres planner does the work from a
 * live copy of each cluster (plan_standby_live):
 *
 *   - on a standby cluster: standby_upstream is the source's live primary
 *     (when no node of the source was seen taking writes: the node the
 *     leader streams from now, else, the leader being built, `primary:`),
 *     so cluster_upstream() of its primary is that node: a new leader is
 *     cloned from it (payload.upstream "SOURCE/NODE"), its primary_conninfo
 *     and passfile point at it, its primary_slot_name is standby_slot; and
 *     no role, database or replication user is planned (it refuses writes;
 *     it replays the source's, whose roles and databases the copy carries);
 *   - on a cluster of a topology of several: released_slots are the
 *     slots of the other clusters that are no standby clusters of it (a
 *     detached one's) and whose primary was seen answering, not streaming
 *     from (nor configured for) a node of it: dropped once unused,
 *     wherever they are;
 *   - on a source cluster: kept_slots are its standby clusters' slots,
 *     created on its live primary (so re-created on a new primary after a
 *     failover or switchover; a standby leader then re-points with a
 *     reload) and dropped, once unused, on the nodes that are no longer
 *     primary; standby_hosts get replication lines in pg_hba.conf.
 *
 * plan_standby_order puts sources before their standby clusters, and
 * plan_standby_link makes a new standby leader's copy (and the check that a
 * running one streams again) wait for what the same plan does on its
 * source's primary (created, started, its slot), and
 * the drop of a standby cluster's slot on a former primary of its source
 * wait for what re-points the leader (its configuration, passfile, reload).
 *
 * Memory: everything is in the plan's arena.
 */
#ifndef PGC_RECONCILE_STANDBY_PLAN_STANDBY_H
#define PGC_RECONCILE_STANDBY_PLAN_STANDBY_H

#include <stddef.h>

#include "reconcile/engine/builder.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

/* standby_slot_name - the slot standby cluster `cluster` streams through: pgc_standby_<cluster>. */
const char *standby_slot_name(PgcArena *a, const char *cluster);

/*
 * standby_source_primary - the node of src that is its primary now, as
 * observed: live (the name plan_ha found for it in this pass, NULL when not
 * planned) if it was seen taking writes, else the reachable node that takes
 * writes (the newest timeline among several). NULL when none was seen: the
 * source is unreachable or was not observed, so that a standby leader keeps
 * the upstream it streams from (plan_standby_live) instead of being pointed
 * at a declared primary that may be a replica by now. Offline (obs NULL or
 * pretend), or when src is itself a standby cluster: live, else src's
 * `primary:`.
 */
const PgcNode *standby_source_primary(const PgcCluster *src, const PgcObserved *obs, const char *live);

/*
 * plan_standby_live - c as the postgres planner must see it: c itself when
 * it is neither a standby cluster nor a source, else a copy with the fields
 * above filled in. t is the whole topology; live_primary(i) the live
 * primary's name of t's cluster i found in this pass, or NULL.
 */
const PgcCluster *plan_standby_live(PgcArena *a, const PgcTopology *t, const PgcCluster *c,
				    const PgcObserved *obs, const char *const *live_primaries);

/* plan_standby_order - t's clusters' indexes, each source before its standby clusters. */
size_t *plan_standby_order(PgcArena *a, const PgcTopology *t);

/*
 * plan_region_switch - the region switches the file asks for: a cluster X
 * without standby_of whose standby cluster S (standby_of: X) still looks
 * like the primary cluster (a node of S takes writes, or S's declared
 * primary is down with a primary's control file), unless S's writer was
 * promoted by a region failover and the file left as it was
 * (region_loss_state(): that rule holds both clusters). One action per pair,
 * X/<X's primary L>/region-switch (impact switchover; payload.upstream
 * "S/P", P the node of S that is its primary now):
 *   - L is a standby (it streamed from P): payload.target "switch", the
 *     lossless switch (region_switch.h). Runnable when L streams from P
 *     (or P was shut down cleanly: a run that stopped half way), both run
 *     on this machine, no coordination, and the policy lets a switchover
 *     run (--allow-switchover, or failover.failback auto and the
 *     maintenance policy open, for both clusters: as plan_ha does);
 *   - L takes writes already (a region failover came first):
 *     payload.target "rejoin": only P rejoins as S's standby leader.
 *     Impact restart; runnable when P is on this machine (like plan_ha's
 *     rejoin of an old primary, no flag: P must stop taking writes).
 * Runnable, it is the only action of both clusters: skip[] (one per
 * cluster of t) is set for them and the next pass plans the rest from the
 * new shape. Blocked, the clusters are planned as they still run, from the
 * returned topology: a copy of t with each pending switch's standby_of
 * swapped back (a blocked rejoin skips S instead), so that nothing turns P
 * into a standby or re-points L before the switch. The returned topology
 * is t when nothing is pending.
 *
 * The detach: a cluster X without standby_of whose primary L is seen in
 * recovery streaming from (or configured to stream from: primary_conninfo)
 * a node P of another cluster S that is not standby_of X (that is the
 * swap above): X/L/region-switch, payload.target "detach", payload.upstream
 * "S/P", impact switchover, blocked by the same policy (X's) as the switch,
 * and with coordination; delegated when L is on another host. Runnable,
 * skip[X] is set (the action is X's only one; the executor promotes L).
 * Either way the returned topology gives X standby_of: S back (with S's
 * replication user and password, as schema/load.c's inherit_standby does):
 * blocked, X is planned as the standby cluster it still is; runnable, S
 * keeps X's slot and pg_hba.conf lines in this pass. The next pass drops
 * the slot: plan_standby_live() lists, on every cluster c of a topology of
 * several, released_slots: pgc_standby_<Y> of each other cluster Y that is
 * no standby cluster of c and whose primary is seen not streaming from c,
 * which the postgres planner drops once unused.
 *
 * Offline or made-up observations: t, nothing planned. Memory: b's arena.
 */
const PgcTopology *plan_region_switch(PgcPlanBuilder *b, const PgcTopology *t,
				      const PgcObserved *obs, const PgcPolicy *policy, bool *skip);

/* plan_standby_link - after every cluster is planned: the cross-cluster dependencies. */
void plan_standby_link(PgcPlanBuilder *b, const PgcTopology *t);

#endif
