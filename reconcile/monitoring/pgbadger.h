/*
 * reconcile/monitoring/pgbadger.h - the pgbadger action's executor: one
 * node's incremental pgBadger report.
 */
#ifndef PGC_RECONCILE_MONITORING_PGBADGER_H
#define PGC_RECONCILE_MONITORING_PGBADGER_H

#include "reconcile/engine/exec.h"

/*
 * pgbadger_run - ACT_PGBADGER (payload: engine/plan.h). On the node's
 * machine, as its os_user, through ctx->host:
 *   1. nothing to do when the node's state file records a run within
 *      monitoring.pgbadger.every (a run killed after it finished);
 *   2. the report folder made (0750, os_user's), with its parent;
 *   3. when the server runs, `pg_ctl logrotate`, and a short wait until
 *      current_logfiles names the new file: what was logged until now is
 *      then in a file the server has finished writing;
 *   4. the log files pgbadger_pick() chooses (never one current_logfiles
 *      names), handed to pgBadger (payload.params) in one run; day folders
 *      older than keep days removed from the report folder, nothing else;
 *   5. <output>/index.html (payload.content) and the state file written,
 *      also after a failed run (with its error), so that the next run
 *      waits for the next period.
 * 0, or -1 reported.
 */
int pgbadger_run(PgcExecCtx *ctx);

#endif
