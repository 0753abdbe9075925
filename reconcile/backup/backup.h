/*
 * reconcile/backup/backup.h - base and logical backups of a cluster into its
 * backup repository (backup.repository), and retention.
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
 * Retention (backup.base.keep, backup.logical.keep) is computed by a pure
 * function so that `plan` can list what it would delete, then executed by
 * backup_retention_apply(). Only entries of the catalog and WAL files that
 * walarchive_list() recognises are ever deleted.
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
#include "common/progress.h"
#include "reconcile/backup/backup_catalog.h"
#include "reconcile/observe/observe.h"
#include "reconcile/backup/walarchive.h"
#include "reconcile/engine/exec.h"
#include "schema/topology.h"

/* Default bound on one pg_basebackup / pg_dump / pg_verifybackup run. */
#define BACKUP_DEFAULT_TIMEOUT_S (24 * 3600)

/* ---- choosing the source (pure) ----------------------------------------- */

typedef struct {
	const PgcNode *node;      /* NULL when no node can be used */
	bool replica;             /* node is a streaming replica */
	const char *reason;       /* one sentence: why this node, or why none; owned by the arena */
} PgcBackupSource;

/*
 * backup_pick_source - where to take a backup of c from, given what observe
 * saw. A base backup comes from a healthy replica when there is one (local,
 * reachable, in recovery, its WAL receiver streaming), so the primary does
 * not pay for the copy; otherwise from the primary (the node that is
 * reachable and not in recovery, the desired primary first). A logical
 * backup always comes from the primary: a long pg_dump on a standby is
 * cancelled by recovery conflicts unless the standby is configured for it.
 * Nodes on other hosts are never chosen (the copy is written locally).
 * Returns 0 with out->node set, or -1 with out->reason saying why none fits.
 */
int backup_pick_source(PgcArena *a, const PgcCluster *c, const PgcObserved *obs, bool logical,
		       PgcBackupSource *out);

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

/* ---- retention ---------------------------------------------------------- */

typedef struct {
	int keep_base;            /* backup.base.keep; <= 0: base backups are not pruned */
	int keep_logical;         /* backup.logical.keep, per database; <= 0: not pruned */
} PgcRetentionPolicy;

/* backup_retention_policy - the policy a cluster declares. */
PgcRetentionPolicy backup_retention_policy(const PgcCluster *c);

typedef struct {
	const PgcBaseBackupInfo **base;       /* base backups to remove, oldest first */
	size_t n_base;
	const PgcLogicalBackupInfo **logical; /* dumps to remove */
	size_t n_logical;
	const PgcWalEntry **wal;              /* archived WAL files to remove */
	size_t n_wal;
	/* The oldest base backup kept: WAL before its start is removed. NULL
	 * when no valid base backup is kept, and then no WAL is removed. */
	const PgcBaseBackupInfo *oldest_kept;
	int64_t bytes;                        /* what the removal frees, as recorded/listed */
} PgcRetention;

/*
 * backup_retention_compute - what the policy removes; pure.
 *
 * Base backups: the keep_base newest valid ones (verified, not being
 * deleted) are kept; every base backup older than the oldest of those is
 * removed, valid or not; a failed one newer than it stays (for inspection)
 * until it ages out. Fewer valid backups than keep_base: nothing is removed.
 * Entries already marked deleting are always in the list (a run killed half
 * way finishes). Logical: the same, per database (and for globals).
 * WAL: segments, .partial and .backup files of timelines up to the oldest
 * kept backup's, whose segment lies entirely before its start LSN. History
 * files are never removed. Arrays are allocated in a; entries point into
 * cat and wal.
 */
void backup_retention_compute(PgcArena *a, const PgcBackupCatalog *cat, const PgcWalEntry *wal,
			      size_t n_wal, const PgcRetentionPolicy *policy, PgcRetention *out);

/*
 * backup_retention_apply - removes what r lists from repository: marks the
 * catalog entries deleting, removes their files (base folders recursively),
 * then drops the entries; WAL data files before their checksum files. Only
 * paths of the layout's shape are removed (backup_catalog_path_ok, and WAL
 * files below REPO/wal/), each reached from the repository folder without
 * following a symlink (fs_remove_tree): the repository is writable by
 * os_user, and a link planted in it is refused, or removed itself, never
 * followed. 0, or -1 (reported; what was not removed stays marked and is
 * removed by the next run; an entry refused stays until the catalog is
 * fixed).
 */
int backup_retention_apply(const char *repository, const PgcRetention *r);

/*
 * backup_retention_run - loads the catalog and the archive listing of c's
 * repository, computes retention with c's policy and applies it; *removed
 * (may be NULL) gets what was removed, owned by a. 0, or -1 (reported).
 */
int backup_retention_run(PgcArena *a, const PgcCluster *c, PgcRetention *removed);

/*
 * backup_format_bytes - the former name of progress_format_bytes()
 * (common/progress.h), kept for the callers not yet renamed.
 */
#define backup_format_bytes progress_format_bytes

/*
 * backup_repository_create - ACT_CREATE_REPOSITORY: the cluster's backup
 * repository and its base/, logical/ and wal/ folders, owned by os_user,
 * made without following links (backup_repository_init). Nothing to do
 * when they all exist.
 */
int backup_repository_create(PgcExecCtx *ctx);

#endif
