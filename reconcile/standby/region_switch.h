/*
 * reconcile/standby/region_switch.h - the region switch: the file swapped
 * standby_of between two clusters (S, the primary cluster until now, says
 * `standby_of: X`; X, its standby cluster until now, says nothing), and
 * ACT_REGION_SWITCH (plan_region_switch(), plan_standby.h) moves the
 * primary role from S's primary P to X's leader L, without copying either
 * side again.
 *
 * region_switch_run(), payload.target "switch", steps that each check the
 * live state first, so that a run killed half way converges when repeated:
 *   1. L is still a standby: P answers as a primary and L streams from it
 *      (application_name X-L in P's pg_stat_replication) with a replay lag
 *      of at most 16 MB, waited for (switchover_check-like); a P found shut
 *      down cleanly (a run that stopped after step 2) goes on at step 3;
 *   2. S's front doors paused (engine/frontdoor.h), CHECKPOINT on P, P
 *      stopped with pg_ctl -m fast; its control file says "shut down", and
 *      its latest checkpoint is the shutdown checkpoint;
 *   3. L replays that checkpoint (bounded): it then holds every
 *      transaction P ever acknowledged;
 *   4. L promoted with X's configuration as a primary cluster (promote.h;
 *      X's own front doors re-pointed there), its pg_hba.conf lets S's
 *      hosts in, and slot pgc_standby_<S> is created on it (reserving WAL
 *      at once);
 * A failure in steps 1 to 4, before the promotion, rolls back: L's files
 * as they were (S's standby leader's), P started again as the primary,
 * S's front doors resumed.
 *   5. P rejoins as S's standby leader streaming from L through that slot:
 *      a clean shutdown before the promotion point needs no rewind;
 *      pg_rewind only when P's timeline diverged (rejoin.h decides); its
 *      files then rendered as S's standby leader's, started, streaming.
 *      S's other nodes keep cascading from P: they follow the new timeline
 *      by themselves (recovery_target_timeline latest);
 *   6. S's front doors resumed (pointing at P, read-only now), slot
 *      pgc_standby_<X> dropped from P (a slot on a standby holds WAL);
 *   7. the write gap measured: from P's stop to the first commit on L.
 * payload.target "rejoin" (L was promoted already: a region failover came
 * first) and a run that stopped after step 4 do only steps 4 (the slot,
 * pg_hba.conf), 5 and 6: P, fenced at once if it still takes writes, is
 * rewound when it diverged (what it wrote past the fork is measured and
 * reported, then discarded).
 *
 * Both nodes must be on this machine. One journal line "region-switch"
 * with what was done (outcome, write gap, rejoin decision).
 *
 * payload.target "detach" (the file removed X's standby_of, S keeps
 * running): only L, on this machine, is touched. pg_promote first
 * (PostgreSQL ends the stream and replays what L received: X forks from S
 * there), so that a run killed half way leaves L either streaming as
 * before or promoted; then promote_run() with no old primary (X's files as
 * a primary cluster, its replicas' slots and files, its front doors, the
 * first write). L out of recovery already: nothing to do. Journal line
 * "region-switch" with "target": "detach", outcome, timeline.
 */
#ifndef PGC_RECONCILE_STANDBY_REGION_SWITCH_H
#define PGC_RECONCILE_STANDBY_REGION_SWITCH_H

#include "reconcile/engine/exec.h"

/*
 * region_switch_run - ACT_REGION_SWITCH: ctx->c is X, ctx->n its primary
 * L, payload.upstream "S/P". 0 when L is X's primary and P streams from
 * it (already, or now), or, for a detach, when L takes writes; -1
 * (reported, with a one-line summary for the journal) when refused,
 * rolled back or failed.
 */
int region_switch_run(PgcExecCtx *ctx);

#endif
