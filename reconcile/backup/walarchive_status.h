/*
 * reconcile/backup/walarchive_status.h - pg_stat_archiver of a node and
 * its archive backlog, for `status` and its metrics. Apart from
 * walarchive.h, which the lean wal-push/wal-fetch executable uses without
 * libpq.
 */
#ifndef PGC_RECONCILE_BACKUP_WALARCHIVE_STATUS_H
#define PGC_RECONCILE_BACKUP_WALARCHIVE_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/arena.h"

/*
 * PgcArchiverStatus - pg_stat_archiver of a node, plus the archive backlog:
 * for `status` and its metrics.
 */
typedef struct {
	int64_t archived_count;
	const char *last_archived_wal;   /* NULL when none yet */
	const char *last_archived_time;  /* ISO 8601, NULL when none */
	double last_archived_age_s;      /* seconds since last_archived_time, -1 unknown */
	int64_t failed_count;
	const char *last_failed_wal;     /* NULL when none */
	const char *last_failed_time;    /* NULL when none */
	bool failing;                    /* the last attempt failed (last failure after last success) */
	int64_t ready_count;             /* segments waiting in pg_wal/archive_status (.ready); -1 unknown */
	const char *archive_mode;        /* off, on, always */
	const char *stats_reset;
} PgcArchiverStatus;

/*
 * walarchive_archiver_status - reads pg_stat_archiver, archive_mode and the
 * count of .ready files (pg_ls_archive_statusdir(): superuser or pg_monitor)
 * over conn within timeout_ms (0: default). Strings owned by a.
 * 0, or -1 with err filled (nothing logged: for status, an unreachable or
 * unprivileged node is an observation).
 */
int walarchive_archiver_status(PgcArena *a, PGconn *conn, int timeout_ms, PgcArchiverStatus *out,
			       char *err, size_t errlen);

#endif
