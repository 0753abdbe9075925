/*
 * reconcile/backup/walarchive.h - the WAL archive inside a backup repository:
 * its layout (names, paths, owner) and the listing retention works on (the
 * compression names and the commands the planner writes into the managed
 * configuration are in reconcile/pg/walarchive_cmd.h). What
 * `pgconverge wal-push` (archive_command) and `wal-fetch` (restore_command)
 * do is in walarchive_push.h and walarchive_fetch.h, the codecs in
 * walarchive_compress.h, pg_stat_archiver for `status` in
 * walarchive_status.h.
 *
 * Layout, below the repository folder (backup.repository):
 *
 *   wal/TTTTTTTT/NAME[.gz|.zst]     a segment, a .partial segment or a
 *   wal/TTTTTTTT/NAME.sha256        .backup file of timeline TTTTTTTT (the
 *                                   first 8 hex digits of NAME), and its
 *                                   checksum
 *   wal/history/TTTTTTTT.history    timeline history files (never removed
 *   wal/history/TTTTTTTT.history.sha256   by retention: they are tiny and
 *                                   every later timeline needs them)
 *
 * The checksum file is one line in sha256sum(1) form, "HEX  NAME\n", HEX
 * being the SHA-256 of the file's uncompressed content: so a file pushed
 * again is compared by content whatever compression either push used, and
 * `zstd -dc F.zst | sha256sum` checks it by hand.
 *
 * Durability and atomicity: a push writes the data and then its checksum
 * to temp files beside their final names, fsyncs both, then, holding an
 * flock() on the folder's hidden ".lock" file, looks again for a copy of
 * the name, renames the checksum into place first and publishes the data
 * second with link() (renameat2(RENAME_NOREPLACE) where the file system
 * has no hard links), which never replaces a file; it fsyncs the folder
 * once and succeeds only when both are durable under their names. So of
 * two pushes of one name at the same moment exactly one publishes; the
 * other compares, as a retry does: the same content succeeds, other
 * content fails and leaves the published copy and its checksum as they
 * were. A push killed between the two steps leaves a checksum without
 * data, which reads as "not archived" (fetch says not found, the next push
 * rewrites it); a killed push never leaves a visible partial data file
 * (the temp files are hidden ".NAME.tmp.*" names that nothing reads).
 * Other files (fetched ones, a rewritten checksum) go through
 * fs_write_atomic().
 *
 * Ownership: the repository folder must exist (it may be a mount point, and
 * a missing mount must not turn into an archive on the root file system).
 * Folders and files created below it are owned by the repository folder's
 * owner when pgconverge runs as root, so that the server's os_user can keep
 * writing there; otherwise by the caller. Modes are 0700 and 0600.
 *
 * Errors are reported where they happen (log_error, with a hint) and
 * functions return -1; callers do not log them again.
 */
#ifndef PGC_RECONCILE_BACKUP_WALARCHIVE_H
#define PGC_RECONCILE_BACKUP_WALARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/arena.h"
#include "reconcile/pg/walarchive_cmd.h"
#include "schema/topology.h"

#define WALARCHIVE_DIR "wal"
#define WALARCHIVE_HISTORY_DIR "history"
#define WALARCHIVE_CHECKSUM_SUFFIX ".sha256"

/* The largest file accepted (PostgreSQL's largest wal_segment_size is 1GB). */
#define WALARCHIVE_MAX_FILE ((size_t)1 << 30)

typedef enum {
	WAL_FILE_SEGMENT = 0, /* 000000010000000000000003 */
	WAL_FILE_PARTIAL,     /* 000000010000000000000003.partial (last segment of an old timeline) */
	WAL_FILE_BACKUP,      /* 000000010000000000000003.00000028.backup (backup history) */
	WAL_FILE_HISTORY,     /* 00000002.history */
} PgcWalFileKind;

/* PgcWalName - what a WAL file name says. */
typedef struct {
	PgcWalFileKind kind;
	unsigned timeline;
	uint32_t log;   /* the middle 8 hex digits (0 for history files) */
	uint32_t seg;   /* the last 8 hex digits (0 for history files) */
} PgcWalName;

/*
 * walarchive_parse_name - checks that name is one of the four forms above
 * (hex digits upper-case, as PostgreSQL writes them, no folder) and fills
 * out. Returns 0, or -1 (nothing logged) for anything else; wal-push and
 * wal-fetch refuse such names, and retention never touches such files.
 */
int walarchive_parse_name(const char *name, PgcWalName *out);

/*
 * walarchive_segno - the segment number of a segment, .partial or .backup
 * name for segments of segsize bytes (a power of two, 1MB..1GB):
 * log * (2^32 / segsize) + seg. Its first byte is at LSN segno * segsize.
 */
uint64_t walarchive_segno(const PgcWalName *n, uint64_t segsize);


/*
 * walarchive_dir - the folder holding name in the repository:
 * REPO/wal/TTTTTTTT or REPO/wal/history. name must parse. Owned by a.
 */
const char *walarchive_dir(PgcArena *a, const char *repository, const char *name);

/* walarchive_path - REPO/wal/.../NAME plus the compression's suffix. Owned by a. */
const char *walarchive_path(PgcArena *a, const char *repository, const char *name,
			    PgcCompression c);

/* walarchive_checksum_path - REPO/wal/.../NAME.sha256. Owned by a. */
const char *walarchive_checksum_path(PgcArena *a, const char *repository, const char *name);

/* One file of the archive, as retention sees it. */
typedef struct {
	const char *name;     /* WAL file name, without compression suffix */
	const char *path;     /* absolute path of the data file */
	const char *checksum_path; /* absolute path of its .sha256 (may not exist) */
	PgcWalName parsed;
	int64_t size;         /* bytes on disk of the data file */
	int64_t mtime;        /* when it was archived (seconds since the epoch): no record in it is later */
} PgcWalEntry;

/*
 * walarchive_list - every archived file of the repository (segments,
 * .partial, .backup and history files that have a data file), sorted by
 * name. Files whose names do not parse, hidden temp files and checksum
 * files without data are left out: nothing outside the layout is ever
 * listed, so retention can never pick it. A repository without a wal/
 * folder lists nothing. Owned by a. 0, or -1 (reported).
 */
int walarchive_list(PgcArena *a, const char *repository, PgcWalEntry **entries, size_t *n);

/*
 * walarchive_owner - the uid/gid files created in the repository get:
 * the repository folder's owner when running as root, else FS_NO_UID /
 * FS_NO_GID (leave as created). 0, or -1 when the folder cannot be
 * examined (reported with a hint: it must exist).
 */
int walarchive_owner(const char *repository, uid_t *uid, gid_t *gid);

/*
 * walarchive_find - the data file of name in the archive: its path and
 * compression, or NULL when there is none. Any suffix is looked for, since
 * an earlier push may have used another compression. Owned by a.
 */
const char *walarchive_find(PgcArena *a, const char *repository, const char *name,
			    PgcCompression *c);

#endif
