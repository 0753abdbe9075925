/*
 * reconcile/ha/ha_apply.h - apply's executors for the HA actions the planner
 * makes (plan_ha.h): ACT_SWITCHOVER runs switchover_run(), ACT_REJOIN runs
 * rejoin_node(), each on the cluster as it is live (failover_topology()
 * with payload.upstream, the primary the plan was made from, when it is not
 * the file's primary).
 *
 * Both check before they act, like every action: a switchover whose target
 * already is the primary, or a rejoin of a node that already streams, does
 * nothing. Besides apply's own start/end lines, each writes one journal
 * line with what it did ("event":"switchover" with the write gap, or
 * "event":"rejoin" with its outcome), through ha_journal_event().
 */
#ifndef PGC_RECONCILE_HA_HA_APPLY_H
#define PGC_RECONCILE_HA_HA_APPLY_H

#include "reconcile/engine/exec.h"

/*
 * ha_apply_switchover - ACT_SWITCHOVER: moves the primary role from
 * payload.upstream to payload.target (the action's node). 0 when the
 * target is the primary (already, or now); -1 when refused, rolled back or
 * failed (reported, with switchover_run()'s one-line error kept).
 */
int ha_apply_switchover(PgcExecCtx *ctx);

/*
 * ha_apply_rejoin - ACT_REJOIN: the action's node back as a replica of
 * payload.upstream. When that primary does not answer, the node is only
 * fenced (stopped, standby.signal), which is enough for now: the next pass
 * rejoins it. A node down with a primary's control file on the live
 * primary's own timeline wrote on that timeline too: pg_rewind cannot undo
 * it, so it is refused with a hint (move its data directory aside) rather
 * than started as a replica of a history it does not share. 0 / -1.
 */
int ha_apply_rejoin(PgcExecCtx *ctx);

#endif
