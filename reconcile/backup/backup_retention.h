/*
 * reconcile/backup/backup_retention.h - retention of a backup repository
 * (backup.base.keep, backup.logical.keep).
 *
 * Retention is computed by a pure function so that `plan` can list what it
 * would delete, then executed by backup_retention_apply(). Only entries of
 * the catalog and WAL files that walarchive_list() recognises are ever
 * deleted. Errors are reported where they happen; functions return 0 / -1.
 */
#ifndef PGC_RECONCILE_BACKUP_BACKUP_RETENTION_H
#define PGC_RECONCILE_BACKUP_BACKUP_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/progress.h"
#include "reconcile/backup/backup_catalog.h"
#include "reconcile/backup/walarchive.h"
#include "schema/topology.h"

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

#endif
