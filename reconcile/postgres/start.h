/*
 * reconcile/postgres/start.h - the start and restart actions (ACT_START,
 * ACT_RESTART) over pg/pgctl.h.
 */
#ifndef PGC_RECONCILE_POSTGRES_START_H
#define PGC_RECONCILE_POSTGRES_START_H

#include "reconcile/engine/exec.h"

/*
 * start_run - ACT_START: starts the node's server unless it runs, waits
 * until it accepts connections and, for a standby, until it streams
 * (STREAM_CHECK_TIMEOUT_S when it was already running). 0 / -1 (reported).
 */
int start_run(PgcExecCtx *ctx);

/*
 * start_restart - ACT_RESTART: pg_ctl restart -m fast and the same waits;
 * in the lower-primary-first phase a standby first replays its upstream's
 * WAL up to the upstream's position of now. 0 / -1 (reported).
 */
int start_restart(PgcExecCtx *ctx);

#endif
