/*
 * reconcile/backup/backup.h - base and logical backups of a cluster into its
 * backup repository (backup.repository), and the repository itself.
 *
 * Repository layout (the WAL archive's part is in walarchive.h):
 *
 *   REPO/catalog.json              the record of every backup (backup_catalog.h)
 *   REPO/catalog.lock              flock()ed by catalog writers
 *   REPO/base/ID/                  pg_basebackup -Fp -X stream -c fast, with its
 *                                  backup_manifest; ID.partial while being taken
 *   REPO/logical/ID/DB.dump        pg_dump -Fc of database DB
 *   REPO/logical/ID/globals.sql    pg_dumpall --globals-only (roles, tablespaces)
 *
 * ID is the UTC start time, 20261126T101500Z. The repository and everything
 * in it belong to the cluster's os_user, mode 0700/0600: the servers write
 * WAL into it (wal-push runs as os_user) and pg_basebackup/pg_dump run as
 * that user. Base backups include the WAL they need (-X stream), so each
 * one restores on its own; the archive adds point-in-time recovery on top.
 *
 * Programs run from the cluster's bin_dir as os_user (common/proc.h), and
 * connect through the local socket in PGC_SOCKET_DIR as the superuser
 * os_user: a base backup needs a replication connection, so pg_hba.conf must
 * allow `local replication <os_user> peer` (map=pgconverge when pgconverge
 * runs as root).
 *
 * Choosing the source node is in backup_source.h, retention in
 * backup_retention.h.
 *
 * Errors are reported where they happen; functions return 0 / -1.
 */
#ifndef PGC_RECONCILE_BACKUP_BACKUP_H
#define PGC_RECONCILE_BACKUP_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reconcile/pg/layout.h"
#include "common/arena.h"
#include "reconcile/backup/backup_catalog.h"
#include "reconcile/backup/backup_source.h"
#include "reconcile/engine/exec.h"
#include "schema/topology.h"

/* Default bound on one pg_basebackup / pg_dump / pg_verifybackup run. */
#define BACKUP_DEFAULT_TIMEOUT_S (24 * 3600)

/* ---- taking backups ----------------------------------------------------- */

typedef struct {
	bool progress;            /* show bytes, rate and ETA on stderr (a terminal) */
	int timeout_s;            /* per program; 0: BACKUP_DEFAULT_TIMEOUT_S */
} PgcBackupOptions;

/*
 * backup_repository_init - creates the repository folder and its base/,
 * logical/ and wal/ folders when missing, owned by the cluster's os_user
 * (when running as root), mode 0700; missing folders above the repository
 * are created owned by the caller, mode 0755. Created without following
 * links (fs_mkdirat): the folders below the repository must be folders,
 * not symlinks. An existing repository folder is used as it is (it may be
 * a mount point or a link to one), with a warning when it does not belong
 * to os_user. 0, or -1 (reported).
 */
int backup_repository_init(const PgcCluster *c);

/*
 * backup_take_base - pg_basebackup of source into REPO/base/ID.partial,
 * renamed to REPO/base/ID when complete, checked with pg_verifybackup and
 * recorded in the catalog (with the check's result). *out (when not NULL)
 * gets the recorded entry, its strings owned by a. Returns 0 when the
 * backup is complete and verified; -1 otherwise (reported; a backup that
 * failed verification stays, recorded as such, for inspection; a copy that
 * failed is removed).
 */
int backup_take_base(PgcArena *a, const PgcCluster *c, const PgcBackupSource *source,
		     const PgcBackupOptions *opts, PgcBaseBackupInfo *out);

/*
 * backup_take_logical - pg_dump -Fc of each database of
 * backup.logical.databases and pg_dumpall --globals-only from source into
 * REPO/logical/ID/, each checked (pg_restore --list) and recorded in the
 * catalog. *out / *n_out (when not NULL) get the recorded entries, owned
 * by a. 0 when every dump succeeded, -1 otherwise (reported; the dumps that
 * succeeded are recorded all the same).
 */
int backup_take_logical(PgcArena *a, const PgcCluster *c, const PgcBackupSource *source,
			const PgcBackupOptions *opts, PgcLogicalBackupInfo **out, size_t *n_out);

/*
 * backup_repository_create - ACT_CREATE_REPOSITORY: the cluster's backup
 * repository and its base/, logical/ and wal/ folders, owned by os_user,
 * made without following links (backup_repository_init). Nothing to do
 * when they all exist.
 */
int backup_repository_create(PgcExecCtx *ctx);

#endif
