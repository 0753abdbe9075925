/*
 * reconcile/backup/backup_catalog.h - the catalog of a backup repository:
 * REPO/catalog.json, the record of every base and logical backup taken
 * into it.
 *
 * Format (format_version 1), one JSON object:
 *
 *   {"format_version": 1,
 *    "base": [{"id": "20261126T101500Z", "path": "base/20261126T101500Z",
 *              "cluster": "main", "source_node": "pg2", "source_role": "replica",
 *              "started_at": "2026-11-26T10:15:00Z", "finished_at": "...",
 *              "timeline": 1, "start_lsn": "0/2000028", "stop_lsn": "0/2000138",
 *              "start_wal": "000000010000000000000002", "wal_included": true,
 *              "wal_segment_size": 16777216, "size_bytes": 31457280,
 *              "system_identifier": "7312...", "server_version_num": 150004,
 *              "verify": {"ok": true, "at": "...", "message": "backup successfully verified"}}],
 *    "logical": [{"id": "...", "kind": "dump", "database": "appdb",
 *                 "path": "logical/20261126T101500Z/appdb.dump", "cluster": "main",
 *                 "source_node": "pg1", "started_at": "...", "finished_at": "...",
 *                 "size_bytes": 1234, "verify": {"ok": true, ...}},
 *                {"id": "...", "kind": "globals", "path": ".../globals.sql", ...}]}
 *
 * An entry's path is one of the layout's own (backup_catalog_path_ok):
 * "base/NAME" or "logical/NAME/FILE", each name of [A-Za-z0-9._-] and not
 * hidden. A catalog with any other path is refused as a whole: the catalog
 * is writable by the servers' os_user, and retention, which runs as root,
 * removes what its entries name.
 *
 * Entries are kept sorted by id (a UTC timestamp, so also by age). An entry
 * that retention has decided to remove carries "deleting": true until its
 * files are gone, so that a run killed half way finishes the removal next
 * time and nothing ever restores from a half-deleted backup. Keys this
 * version does not know are kept as they are when the catalog is rewritten.
 *
 * Writers: backup_catalog_update() holds an flock() on REPO/catalog.lock
 * while it reads, edits and rewrites the catalog (fs_write_atomic), so two
 * writers (a backup finishing while retention runs, or two hosts on a
 * shared repository with working flock) never lose each other's entries.
 * Readers need no lock: the file is replaced atomically.
 */
#ifndef PGC_RECONCILE_BACKUP_BACKUP_CATALOG_H
#define PGC_RECONCILE_BACKUP_BACKUP_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/arena.h"

#define BACKUP_CATALOG_FILE "catalog.json"

/*
 * backup_catalog_json - the catalog document of repository as it is on
 * disk, read without following a link planted in the repository (a refusal
 * is reported); NULL when absent, unreadable or not JSON. The caller owns
 * the reference (json_decref). For readers that only look (drill records).
 */
json_t *backup_catalog_json(const char *repository);
#define BACKUP_CATALOG_LOCK "catalog.lock"
#define BACKUP_CATALOG_FORMAT 1
#define BACKUP_BASE_DIR "base"
#define BACKUP_LOGICAL_DIR "logical"
/* How long a writer waits for another to finish its update. */
#define BACKUP_CATALOG_LOCK_WAIT_MS 60000

/* The outcome of a check: pg_verifybackup for a base backup, pg_restore --list for a dump. */
typedef struct {
	bool known;          /* the check ran */
	bool ok;
	const char *at;      /* ISO 8601 UTC */
	const char *message; /* the tool's first line (or its failure) */
} PgcBackupCheck;

typedef struct {
	const char *id;               /* UTC start time, e.g. 20261126T101500Z */
	const char *path;             /* relative to the repository: base/ID */
	const char *cluster;
	const char *source_node;
	const char *source_role;      /* "primary" or "replica" */
	const char *started_at;       /* ISO 8601 UTC */
	const char *finished_at;
	unsigned timeline;            /* the timeline the backup starts on */
	const char *start_lsn;        /* "0/2000028" */
	const char *stop_lsn;
	uint64_t start_lsn_v;         /* parsed; 0 when unknown */
	uint64_t stop_lsn_v;
	const char *start_wal;        /* the segment holding start_lsn */
	bool wal_included;            /* taken with -X stream: restorable without the archive */
	int64_t wal_segment_size;     /* bytes; 0 unknown */
	int64_t size_bytes;
	const char *system_identifier;
	int server_version_num;
	PgcBackupCheck verify;
	bool deleting;
} PgcBaseBackupInfo;

typedef struct {
	const char *id;
	const char *kind;             /* "dump" (pg_dump -Fc) or "globals" (pg_dumpall --globals-only) */
	const char *database;         /* NULL for globals */
	const char *path;             /* relative to the repository */
	const char *cluster;
	const char *source_node;
	const char *started_at;
	const char *finished_at;
	int64_t size_bytes;
	PgcBackupCheck verify;
	bool deleting;
} PgcLogicalBackupInfo;

typedef struct {
	PgcArena *arena;
	PgcBaseBackupInfo *base;      /* sorted by id, oldest first */
	size_t n_base;
	PgcLogicalBackupInfo *logical;/* sorted by id, then path */
	size_t n_logical;
} PgcBackupCatalog;

/*
 * backup_catalog_path_ok - path (relative to the repository) is "base/NAME"
 * (logical false) or "logical/NAME/FILE" (logical true), each component a
 * name of [A-Za-z0-9._-] that does not start with '.': nothing above or
 * beside the layout's folders, no deeper path, no "..".
 */
bool backup_catalog_path_ok(const char *path, bool logical);

/*
 * backup_catalog_load - reads REPO/catalog.json. A repository without a
 * catalog gives an empty one. NULL when the file cannot be read or is not a
 * catalog (reported). Free with backup_catalog_free().
 */
PgcBackupCatalog *backup_catalog_load(const char *repository);

/*
 * backup_catalog_from_json - the catalog in a parsed document; pure, for
 * tests and for callers that hold the document. NULL with the reason in err
 * when root is not a catalog of a known format.
 */
PgcBackupCatalog *backup_catalog_from_json(const json_t *root, char *err, size_t errlen);

void backup_catalog_free(PgcBackupCatalog *cat);

/* backup_catalog_base_to_json / _logical_to_json - one entry as the catalog stores it (new reference). */
json_t *backup_catalog_base_to_json(const PgcBaseBackupInfo *b);
json_t *backup_catalog_logical_to_json(const PgcLogicalBackupInfo *l);

/*
 * PgcCatalogEdit - changes the document root in place (its "base" and
 * "logical" arrays exist). Returns 0 to write the result, 1 when nothing
 * changed, -1 on failure (reported; the catalog is left as it was).
 */
typedef int (*PgcCatalogEdit)(json_t *root, void *arg);

/*
 * backup_catalog_update - under the repository's catalog lock, reads the
 * catalog (or starts an empty one), calls edit, sorts the arrays by id and
 * writes the result atomically, owned by uid/gid (FS_NO_UID/FS_NO_GID to
 * leave it), mode 0600. 0, or -1 (reported; also when the lock could not be
 * taken within BACKUP_CATALOG_LOCK_WAIT_MS).
 */
int backup_catalog_update(const char *repository, uid_t uid, gid_t gid, PgcCatalogEdit edit,
			  void *arg);

/* Edits for backup_catalog_update(): arg is the entry (json_t *) to add; the caller keeps its reference. */
int backup_catalog_add_base(json_t *root, void *entry);
int backup_catalog_add_logical(json_t *root, void *entry);

/*
 * PgcCatalogMark - a set of entries to mark "deleting" (mark = true) or to
 * drop (mark = false), by path (relative to the repository; unique per
 * entry). For backup_catalog_update() with backup_catalog_mark().
 */
typedef struct {
	const char **paths;
	size_t n;
	bool mark;
} PgcCatalogMark;

int backup_catalog_mark(json_t *root, void *mark);

#endif
