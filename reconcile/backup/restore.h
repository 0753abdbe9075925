/*
 * reconcile/backup/restore.h - point-in-time restore of a cluster declared with
 * bootstrap.from_backup: the ACT_RESTORE executor. Which base backup and
 * which WAL range (pure, for the plan) are in restore_choose.h; the
 * configuration a restore runs with (pure) in restore_conf.h; the copy
 * steps in restore_copy.h and the start and wait steps in restore_wait.h,
 * which drill.c reuses.
 *
 * A restore, as apply carries it out (restore_run), checking first at
 * every step so that a killed run converges when run again:
 *
 *   1. the base backup is copied, as os_user, into
 *      <parent>/.<name>.pgconverge-restore (a folder of ours by its name: a
 *      leftover is removed and copied again) while pg_verifybackup checks
 *      the backup in the repository (both only read it); a backup that
 *      fails the check ends the restore there and its copy is removed. The
 *      copy is then given the restore's files: pgconverge.conf
 *      (restore_command fetching from the source repository,
 *      recovery_target_*, 'latest' timeline), pg_hba.conf, pg_ident.conf
 *      and recovery.signal; only then is it renamed to data_dir, so the
 *      data directory never looks initialised without being a restore;
 *   2. the server is started (pg_ctl without -w: replay may take long) and
 *      watched until it is promoted, or paused at its target with
 *      target_action pause; a server that stops on the way (a damaged
 *      archive: wal-fetch exits 200; the target not reached) is reported
 *      with its log's FATAL line and nothing is promoted;
 *   3. after promotion, pgconverge.conf is rewritten without the recovery
 *      settings and the configuration reloaded: restore_command goes at
 *      once; recovery_target_* (context postmaster, used only by archive
 *      recovery) stay in the running server's memory, inert, until its
 *      next start, and pg_settings reports them pending_restart. The
 *      planner does not count that on a server out of recovery, so the
 *      restored cluster plans to zero actions without a restart. Replicas
 *      are cloned by the next pass.
 *
 * Restoring in place is never done: the data directory must be absent or
 * empty, or hold this very restore (recovery.signal, the source's system
 * identifier).
 */
#ifndef PGC_RECONCILE_BACKUP_RESTORE_H
#define PGC_RECONCILE_BACKUP_RESTORE_H

#include "reconcile/engine/exec.h"

/* The folder a restore copies into, beside the data directory. */
#define RESTORE_TEMP_SUFFIX ".pgconverge-restore"

/* ---- the executor --------------------------------------------------------- */

int restore_run(PgcExecCtx *ctx); /* ACT_RESTORE on a node (a drill has no node: drill.h) */

#endif
