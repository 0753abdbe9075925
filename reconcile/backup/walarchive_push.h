/*
 * reconcile/backup/walarchive_push.h - `pgconverge wal-push`
 * (archive_command): a WAL file made durable in the archive. Layout,
 * durability and atomicity are described in walarchive.h. Errors are
 * reported where they happen.
 */
#ifndef PGC_RECONCILE_BACKUP_WALARCHIVE_PUSH_H
#define PGC_RECONCILE_BACKUP_WALARCHIVE_PUSH_H

#include <stdbool.h>

#include "schema/topology.h"

/* `pgconverge wal-push` exits 0 once the file is durable, 1 otherwise: PostgreSQL retries. */
#define WAL_PUSH_EXIT_OK 0
#define WAL_PUSH_EXIT_FAILED 1

/*
 * walarchive_push - archives the file at src_path (relative paths: to the
 * current folder, which for archive_command is the data directory) under
 * name in repository, compressed with c.
 * Returns 0 when the file is durable in the archive: written now, or
 * already there with the same content (*already set; PostgreSQL retries a
 * push whose success it did not see, and another push of the same file may
 * have published it a moment before). Returns -1 (reported) on any
 * failure, including a file of that name already archived with different
 * content, which is never overwritten, also when the two pushes run at the
 * same moment. already may be NULL.
 */
int walarchive_push(const char *repository, const char *src_path, const char *name,
		    PgcCompression c, bool *already);

/*
 * walarchive_push_exit - walarchive_push() as the command `pgconverge
 * wal-push` runs it: the exit code (WAL_PUSH_EXIT_*), with a push that
 * found the same content already archived said at info level.
 */
int walarchive_push_exit(const char *repository, const char *src_path, const char *name,
			PgcCompression c);

/*
 * Tests only: when true, pushes act as on a file system without hard links
 * or rename flags (no_link), or without locks (no_lock).
 */
extern bool walarchive_test_no_link;
extern bool walarchive_test_no_lock;

#endif
