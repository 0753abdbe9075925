/*
 * reconcile/backup/walarchive_status.c - pg_stat_archiver and the archive backlog
 * of a node, for `status` (walarchive_status.h). Kept apart from walarchive.c,
 * which the lean wal-push/wal-fetch executable links without libpq.
 */
#include "reconcile/backup/walarchive_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "reconcile/pg/pgsql.h"

static const char *value_or_null(PgcArena *a, const PGresult *r, int col)
{
	return PQgetisnull(r, 0, col) ? NULL : arena_strdup(a, PQgetvalue(r, 0, col));
}

int walarchive_archiver_status(PgcArena *a, PGconn *conn, int timeout_ms, PgcArchiverStatus *out,
			       char *err, size_t errlen)
{
	static const char *const sql =
		"SELECT archived_count, last_archived_wal,"
		" to_char(last_archived_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
		" extract(epoch FROM now() - last_archived_time),"
		" failed_count, last_failed_wal,"
		" to_char(last_failed_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
		" coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false),"
		" current_setting('archive_mode'),"
		" to_char(stats_reset AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
		" FROM pg_catalog.pg_stat_archiver";
	static const char *const ready_sql =
		"SELECT count(*) FROM pg_catalog.pg_ls_archive_statusdir() WHERE name LIKE '%.ready'";
	PGresult *r = NULL;
	PgcPgError e;

	memset(out, 0, sizeof(*out));
	out->last_archived_age_s = -1;
	out->ready_count = -1;
	if (pgsql_query(conn, sql, 0, NULL, timeout_ms, &r, &e) != 0) {
		snprintf(err, errlen, "could not read pg_stat_archiver: %s (SQLSTATE %s)", e.message,
			 e.sqlstate);
		return -1;
	}
	out->archived_count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	out->last_archived_wal = value_or_null(a, r, 1);
	out->last_archived_time = value_or_null(a, r, 2);
	if (!PQgetisnull(r, 0, 3))
		out->last_archived_age_s = strtod(PQgetvalue(r, 0, 3), NULL);
	out->failed_count = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
	out->last_failed_wal = value_or_null(a, r, 5);
	out->last_failed_time = value_or_null(a, r, 6);
	out->failing = strcmp(PQgetvalue(r, 0, 7), "t") == 0;
	out->archive_mode = value_or_null(a, r, 8);
	out->stats_reset = value_or_null(a, r, 9);
	PQclear(r);
	r = NULL;
	/* Needs superuser or pg_monitor; without it the backlog stays unknown. */
	if (pgsql_query(conn, ready_sql, 0, NULL, timeout_ms, &r, &e) == 0) {
		out->ready_count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	} else {
		log_debug("archive backlog unknown: %s (SQLSTATE %s)", e.message, e.sqlstate);
	}
	return 0;
}
