/*
 * reconcile/pgbouncer/pgbouncer.h - the PgBouncer component's executors and
 * its front-door hooks (engine/frontdoor.h).
 *
 * The pooler's files live in pooler.pgbouncer.dir (0700, owned by the
 * os_user): pgbouncer.ini and userlist.txt (0600), admin.pass (0600: the
 * admin console's password, generated once), pgbouncer.pid,
 * pgbouncer.log and the unix socket. Everything goes through the host
 * transport, as the os_user; pgconverge talks to the running pooler through
 * its admin console (observe_pgbouncer.h).
 *
 * Executors (engine/exec.h's contract):
 *   pgbouncer_config_run   writes the ini (payload.content), the userlist (the
 *                          primary payload.target's SCRAM verifiers, read now,
 *                          of topology_roles_view's roles: a standby cluster's
 *                          are its source's)
 *                          and admin.pass if absent; RELOAD (and RECONNECT when
 *                          the ini changed) when the pooler runs
 *   pgbouncer_start_run    starts `pgbouncer -d` unless it runs; waits until its
 *                          console answers
 *   pgbouncer_restart_run  the files, then stop (SIGTERM) and start
 *
 * Front door (registry.c's row):
 *   pause    PAUSE within pooler.pgbouncer.pause_timeout (cancelled and RESUMEd
 *            when it runs out: -1); a pooler that is not running holds nothing (0).
 *            A pooler paused already while dir/paused exists (a run stopped
 *            before its RESUME) refuses PAUSE: it holds its clients once no
 *            server connection is busy (SHOW POOLS), within the same bound
 *   repoint  rewrite the ini for the new primary, RELOAD, RECONNECT, RESUME;
 *            when a step fails, RESUME all the same on a console of its own
 *            (dir/paused removed only once it took), and -1
 *   resume   RESUME
 */
#ifndef PGC_RECONCILE_PGBOUNCER_PGBOUNCER_H
#define PGC_RECONCILE_PGBOUNCER_PGBOUNCER_H

#include <stdbool.h>

#include "reconcile/engine/exec.h"
#include "schema/topology.h"

int pgbouncer_config_run(PgcExecCtx *ctx);
int pgbouncer_start_run(PgcExecCtx *ctx);
int pgbouncer_restart_run(PgcExecCtx *ctx);

bool pgbouncer_declared(const PgcCluster *c);
int pgbouncer_pause(const PgcCluster *c, const char *from, const char *to);
int pgbouncer_repoint(const PgcCluster *x, const char *from, const char *to);
int pgbouncer_resume(const PgcCluster *c, const char *from);

#endif
