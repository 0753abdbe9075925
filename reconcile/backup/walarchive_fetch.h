/*
 * reconcile/backup/walarchive_fetch.h - `pgconverge wal-fetch`
 * (restore_command): an archived file handed back, decompressed and
 * checked against its checksum; and the reads of the archive a push also
 * needs to compare what is there. Layout and checksum format are in
 * walarchive.h. Errors are reported where they happen.
 */
#ifndef PGC_RECONCILE_BACKUP_WALARCHIVE_FETCH_H
#define PGC_RECONCILE_BACKUP_WALARCHIVE_FETCH_H

#include <stddef.h>
#include <sys/types.h>

#include "common/digest.h"
#include "schema/topology.h"

/*
 * Exit codes of `pgconverge wal-fetch`, as restore_command. PostgreSQL takes
 * any non-zero status as "not in the archive" and ends recovery there (or,
 * on a standby, goes back to streaming), except a status above 125, which
 * makes it stop recovery with a FATAL error. A file the archive holds but
 * cannot hand over intact (checksum mismatch, undecodable, unreadable
 * repository, destination not writable) therefore exits with
 * WAL_FETCH_EXIT_FAILED: a restore must never end early and be promoted
 * short of its target because of a damaged archive.
 */
#define WAL_FETCH_EXIT_OK 0
#define WAL_FETCH_EXIT_NOT_FOUND 1
#define WAL_FETCH_EXIT_FAILED 200

/*
 * walarchive_fetch - writes the archived file name, decompressed and
 * checked against its checksum, to dest_path (atomically).
 * Returns 0 when written; 1 when the archive does not hold it (nothing
 * logged at the default level: recovery asks for files past the archive's
 * end and for timelines that do not exist, as a matter of course); -1
 * (reported) on any other failure, including a missing repository folder.
 */
int walarchive_fetch(const char *repository, const char *name, const char *dest_path);

/*
 * walarchive_fetch_exit - walarchive_fetch() as the command `pgconverge
 * wal-fetch` runs it: the exit code (WAL_FETCH_EXIT_*).
 */
int walarchive_fetch_exit(const char *repository, const char *name, const char *dest_path);

/*
 * walarchive_fetch_exit_unreachable_ok - the same for `wal-fetch
 * --unreachable-ok`, the restore_command of a standby cluster's nodes on
 * their source's archive (reconcile/standby/standby_archive.h): a
 * repository folder that cannot be reached (missing, not a folder: a
 * mount absent on this host) reads as an empty archive, exit
 * WAL_FETCH_EXIT_NOT_FOUND with a warning, so that the standby goes on
 * streaming instead of stopping. Only for a server that never ends
 * recovery by itself: a standby waits for its stream, a restore would end
 * early. Damaged files still exit WAL_FETCH_EXIT_FAILED.
 */
int walarchive_fetch_exit_unreachable_ok(const char *repository, const char *name,
					 const char *dest_path);

/*
 * walarchive_read_checksum - the hex digest of a checksum file; 1 when
 * absent, -1 when unreadable or malformed (reported). Read guarded
 * (fs_read_file_guarded: no planted link, hard link or FIFO) with owner the
 * repository's (FS_NO_UID when not root).
 */
int walarchive_read_checksum(const char *path, uid_t owner, char hex[DIGEST_HEX_LEN + 1]);

/*
 * walarchive_read_archived - reads and decompresses an archived data file
 * into *data (malloc'd) and its SHA-256 into hex, guarded as
 * walarchive_read_checksum() is. 0, or -1 (reported).
 */
int walarchive_read_archived(const char *path, uid_t owner, PgcCompression c, void **data,
			     size_t *len, char hex[DIGEST_HEX_LEN + 1]);

#endif
