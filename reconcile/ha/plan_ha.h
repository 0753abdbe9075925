/*
 * reconcile/ha/plan_ha.h - the high-availability part of the plan: which node
 * is the primary now, and the switchover, rejoin and split-brain actions.
 * Pure, like the rest of the planner: called by plan_build()
 * (reconcile/planner.c) for every observed cluster, before its per-node
 * work (plan_ha_cluster) and after it (plan_ha_finish).
 *
 * The live primary comes from the servers, never from the file alone:
 *   - the node that accepts writes (reachable, not in recovery);
 *   - with several, the one on the newest timeline; the others are old
 *     primaries that came back. Two on the same (newest) timeline is a
 *     split brain: nothing is planned for the cluster but a blocked action
 *     that explains it; so is a primary on the newest timeline while the
 *     replicas stream from another node that takes writes (a standby
 *     promoted by hand: nobody knows where the clients write);
 *   - a node that is down with a primary's control file (no standby.signal,
 *     "in production" or "shut down") on a newer timeline than every
 *     writable node is the primary that crashed: it is started, the
 *     writable ones are old primaries;
 *   - with no writable node: the down primary on the newest timeline, else
 *     the node the reachable standbys stream (or try to stream) from, else
 *     `primary:` from the file.
 * When the live primary is not the file's, the cluster is planned from
 * failover_topology() with the live primary, so configuration, slots and
 * primary_conninfo follow the live primary, never the old one.
 *
 * Actions, with their ids:
 *
 *   CLUSTER/-/rejoin           blocked, impact rebuild: a split brain (see
 *                              above). The only action of the cluster;
 *                              never runnable, no flag lifts it.
 *   CLUSTER/NODE/rejoin        ACT_REJOIN: NODE back as a replica of the
 *                              live primary (payload.upstream) with
 *                              rejoin_node(): an old primary that runs as a
 *                              primary on an older timeline (fenced at once:
 *                              never blocked), or a local node that is down
 *                              on an older timeline (or with a primary's
 *                              control file) while the live primary runs.
 *                              Impact restart; rebuild when pg_rewind cannot
 *                              work (neither data checksums nor
 *                              wal_log_hints), which is blocked (unless the
 *                              node runs as a primary) outside the restart
 *                              policy. payload.target is "rebuild" when the
 *                              restart policy allows a clone when pg_rewind
 *                              fails, else "rewind" (the data directory is
 *                              then only moved aside, never deleted).
 *   CLUSTER/PRIMARY/start      blocked: failover.mode auto, the live primary
 *                              is down and a replica can be promoted: the
 *                              reconcile loop fails over instead of starting
 *                              it again.
 *   CLUSTER/TARGET/switchover  ACT_SWITCHOVER, impact switchover: `primary:`
 *                              names TARGET, the live primary is
 *                              payload.upstream. The steps are in the
 *                              reason, the moves in changes. Runnable when
 *                              TARGET streams from the live primary, both
 *                              are on this machine, nothing else of the HA
 *                              family is planned, and the policy allows it:
 *                              --allow-switchover, or failover.failback auto
 *                              with the maintenance policy open (restart:
 *                              always, or inside the window). Runnable, it
 *                              is the cluster's only action (the next pass
 *                              plans the rest from the new primary);
 *                              blocked, it comes last, after the actions
 *                              planned from the live primary.
 *
 * The file cannot tell a failover from an edit of `primary:`: with
 * failback manual both wait for --allow-switchover (or for `primary:` to
 * name the live primary), so that a failover is never undone behind the
 * operator's back.
 *
 * Memory: everything is in the plan's arena.
 */
#ifndef PGC_RECONCILE_HA_PLAN_HA_H
#define PGC_RECONCILE_HA_PLAN_HA_H

#include <stdbool.h>
#include <stddef.h>

#include "reconcile/observe/observe.h"
#include "reconcile/engine/builder.h"
#include "reconcile/engine/plan.h"
#include "schema/topology.h"

typedef struct {
	const PgcCluster *live;       /* the cluster to plan from: c, or a copy whose primary is
	                               * the live one */
	const char *live_primary;     /* its primary's name */
	bool owned;                   /* HA planned everything for this cluster in this pass */
	const char **held;            /* nodes the rest of the planner leaves alone in this pass
	                               * (rejoined by an HA action, or not started on purpose) */
	size_t n_held;
	PgcAction pending;            /* the switchover, appended by plan_ha_finish() */
	bool has_pending;
} PgcHaPlan;

/*
 * plan_ha_cluster - the live primary of cluster c and the HA actions that
 * come first (split brain, rejoins, a withheld start), appended to the plan
 * b builds.
 * obs NULL or made up (plan --offline): out->live is c and nothing is
 * planned. Never fails.
 */
void plan_ha_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObserved *obs,
		     const PgcPolicy *policy, PgcHaPlan *out);

/* plan_ha_holds - true when node is one the rest of the planner must leave alone. */
bool plan_ha_holds(const PgcHaPlan *h, const char *node);

/* plan_ha_finish - appends the blocked switchover, if any, after the cluster's other actions. */
void plan_ha_finish(PgcPlanBuilder *b, const PgcHaPlan *h);

#endif
