/*
 * reconcile/backup/restore_copy.h - the copy steps a restore (restore.h)
 * and a restore drill (drill.h) share: a base backup copied out of its
 * repository without following any link planted there, checked with
 * pg_verifybackup, and given the files the new server starts with.
 * Errors are reported where they happen; functions return 0 / -1.
 */
#ifndef PGC_RECONCILE_BACKUP_RESTORE_COPY_H
#define PGC_RECONCILE_BACKUP_RESTORE_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/arena.h"
#include "reconcile/transport/host.h"
#include "schema/topology.h"

/*
 * restore_copy_tree - copies the base backup folder src into dest (which
 * must not exist), owned by uid/gid (FS_NO_UID: the caller's), every file
 * fsynced, folders 0700. Symbolic links (tablespaces) are refused. With
 * progress, a line of bytes, rate and ETA (total: the expected size) is
 * redrawn on stderr when it is a terminal. 0, or -1 (reported).
 */
int restore_copy_tree(const char *src, const char *dest, uid_t uid, gid_t gid, int64_t total,
		      bool progress, const char *what);

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
 * restore_prepare_copy - readies a verified copy in dir, on host h, for
 * starting: removes what the backup brought that does not belong to the
 * new server (backup_manifest, standby.signal, the source's pgconverge
 * start log), adds the include line to postgresql.conf when missing,
 * writes conf as pgconverge.conf, hba and ident as pg_hba.conf and
 * pg_ident.conf, and recovery.signal (through the host: owned by its
 * os_user, guarded as root), and syncs dir. 0, or -1 (reported).
 */
int restore_prepare_copy(PgcHost *h, PgcArena *a, const char *dir, const char *conf,
			 const char *hba, const char *ident);

#endif
