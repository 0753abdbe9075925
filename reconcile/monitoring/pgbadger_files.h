/*
 * reconcile/monitoring/pgbadger_files.h - the pure decisions of a pgBadger
 * run (reconcile/monitoring/pgbadger.c): which log files to hand pgBadger,
 * and which of its day folders are past monitoring.pgbadger.keep.
 *
 * A log file the server may still write is never handed over: pgBadger
 * would store a half-written entry, and its own incremental position (the
 * last line's time) cannot take that back. The server names the files its
 * logging collector writes in data_dir/current_logfiles; every other file
 * of the log folder is complete. Each complete file is parsed once (its
 * name, size and modification time are kept in the state file).
 */
#ifndef PGC_RECONCILE_MONITORING_PGBADGER_FILES_H
#define PGC_RECONCILE_MONITORING_PGBADGER_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/arena.h"
#include "reconcile/observe/observe_pgbadger.h"

typedef struct {
	const char *name;         /* in the log folder */
	int64_t size;
	double mtime;             /* epoch seconds */
} PgcLogFile;

/*
 * pgbadger_parse_listing - the lines "NAME\tSIZE\tMTIME" (find -printf
 * '%f\t%s\t%T@\n') into *out; returns their number. Malformed lines and
 * names with a slash are skipped. In arena.
 */
size_t pgbadger_parse_listing(PgcArena *arena, const char *text, PgcLogFile **out);

/*
 * pgbadger_current - the file names (without folder) in current_logfiles'
 * text ("stderr log/postgresql-....log" per line); returns their number.
 */
size_t pgbadger_current(PgcArena *arena, const char *text, const char ***out);

/*
 * pgbadger_pick - the files to parse, oldest first (modification time, then
 * name), into out (room for n): those of format ("stderr": neither .csv
 * nor .json; "csv": .csv; "jsonlog": .json) that are not in current (when
 * current_known; otherwise the newest file is taken as the one being
 * written), not parsed already with the same size and time, and modified
 * at or after since. Returns their number.
 */
size_t pgbadger_pick(const PgcLogFile *files, size_t n, const char *format,
		     const char *const *current, size_t n_current, bool current_known,
		     const PgcObsPgbadgerFile *parsed, size_t n_parsed, double since,
		     const PgcLogFile **out);

/*
 * pgbadger_cutoff - the oldest day (YYYYMMDD, local time) a report is kept
 * for, at now with keep days: today and the keep - 1 days before.
 */
int pgbadger_cutoff(time_t now, long long keep);

/*
 * pgbadger_expired - of dirs ("YYYY/MM/DD", relative to the node's report
 * folder), those of a day before cutoff, into *out; returns their number.
 * Anything else (pgBadger's other files, a folder of another shape) is
 * never listed.
 */
size_t pgbadger_expired(PgcArena *arena, const char *const *dirs, size_t n, int cutoff,
			const char ***out);

#endif
