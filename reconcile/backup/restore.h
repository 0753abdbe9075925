/*
 * reconcile/backup/restore.h - point-in-time restore of a cluster declared with
 * bootstrap.from_backup: the ACT_RESTORE executor. drill.c reuses the copy,
 * start and wait steps. Which base backup and which WAL range (pure, for
 * the plan) are in restore_choose.h; the configuration a restore runs with
 * (pure) in restore_conf.h.
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/arena.h"
#include "reconcile/engine/exec.h"
#include "reconcile/backup/backup_catalog.h"
#include "reconcile/observe/observe.h"
#include "reconcile/engine/plan.h"
#include "schema/topology.h"

/* The folder a restore copies into, beside the data directory. */
#define RESTORE_TEMP_SUFFIX ".pgconverge-restore"

/* ---- shared with drill.c ---------------------------------------------------- */

/*
 * restore_copy_tree - copies the base backup folder src into dest (which
 * must not exist), owned by uid/gid (FS_NO_UID: the caller's), every file
 * fsynced, folders 0700. Symbolic links (tablespaces) are refused. With
 * progress, a line of bytes, rate and ETA (total: the expected size) is
 * redrawn on stderr when it is a terminal. 0, or -1 (reported).
 */
int restore_copy_tree(const char *src, const char *dest, uid_t uid, gid_t gid, int64_t total,
		      bool progress, const char *what);

/* restore_remove_tree - removes path recursively, refusing anything not strictly inside parent. */
int restore_remove_tree(const char *parent, const char *path);

/*
 * restore_verify_copy - pg_verifybackup of a fresh copy (before anything
 * in it changes), as os_user. 0, or -1 (reported with the tool's output;
 * its first line in err).
 */
int restore_verify_copy(PgcHost *h, const PgcCluster *c, const char *dir, int timeout_s, char *err,
			size_t errlen);

/*
 * restore_verify_backup - pg_verifybackup of a base backup folder in its
 * repository, as the folder's owner when pgconverge runs as root (the
 * restoring cluster's os_user may be another account). It only reads, so
 * it may run while the folder is being copied; thread-safe. 0, or -1
 * (reported with the tool's output; its first line in err).
 */
int restore_verify_backup(const PgcCluster *c, const char *dir, int timeout_s, char *err,
			  size_t errlen);

/*
 * restore_prepare_copy - readies a verified copy in dir for starting:
 * removes what the backup brought that does not belong to the new server
 * (backup_manifest, standby.signal, the source's pgconverge start log),
 * adds the include line to postgresql.conf when missing, writes conf as
 * pgconverge.conf, hba and ident as pg_hba.conf and pg_ident.conf, and
 * recovery.signal; owned by uid/gid. 0, or -1 (reported).
 */
int restore_prepare_copy(PgcArena *a, const char *dir, const char *conf, const char *hba,
			 const char *ident, uid_t uid, gid_t gid);

/*
 * restore_start_server - pg_ctl start without waiting (recovery may take
 * long; restore_wait watches it), detached, as os_user, its log in
 * log_file. 0, or -1 (reported).
 */
int restore_start_server(PgcHost *h, const PgcCluster *c, const char *data_dir,
			 const char *log_file, int timeout_s);

/* How a watched recovery ended. */
typedef enum {
	RESTORE_PROMOTED,    /* out of recovery */
	RESTORE_PAUSED,      /* paused at its target (target_action pause) */
	RESTORE_FAILED,      /* the server stopped, or the wait timed out (reported) */
} PgcRestoreOutcome;

typedef struct {
	PgcHost *host;            /* reads the server's files (as root: guarded); NULL: plain reads */
	const char *label;        /* "cluster/node" or "drill of cluster/backup", for messages */
	const char *conninfo;     /* the server's local socket, as os_user */
	const char *data_dir;     /* its postmaster.pid tells whether it still runs */
	const char *log_file;     /* read for the FATAL line when it stops */
	int64_t log_offset;       /* the log's size before this start: only what follows is read */
	int timeout_s;
	bool want_pause;          /* target_action pause: "paused" is the end */
	uint64_t goal_lsn;        /* for the progress line: the target or the archive's end; 0 unknown */
	bool progress;            /* show the replayed LSN on a terminal */
	char *error;              /* one line on failure */
	size_t error_len;
} PgcRestoreWait;

/*
 * restore_wait - polls the server until recovery ends (promotion), or it is
 * paused with want_pause; a paused server that should promote is resumed
 * (pg_wal_replay_resume). Reports a server that stopped with its log's
 * last FATAL/PANIC line and tail.
 */
PgcRestoreOutcome restore_wait(const PgcRestoreWait *w);

/* restore_file_size - bytes in a file, 0 when absent. */
int64_t restore_file_size(const char *path);

/* ---- the executor --------------------------------------------------------- */

int restore_run(PgcExecCtx *ctx); /* ACT_RESTORE on a node (a drill has no node: drill.h) */

#endif
