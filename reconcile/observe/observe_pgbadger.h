/*
 * reconcile/observe/observe_pgbadger.h - what observe knows of a node's
 * pgBadger reports: the state file the pgbadger action leaves in the
 * node's report folder (<monitoring.pgbadger.output>/<node>/
 * pgconverge-state.json), read through the node's host.
 *
 * The planner schedules the next run from last_run (like backups from the
 * catalog); the executor (reconcile/monitoring/pgbadger.c) reads the list
 * of log files already parsed, and writes the file back with
 * observe_pgbadger_render(), so that reader and writer share one format:
 *
 *   {"last_run": "2026-12-07T14:30:00Z", "last_run_epoch": 1796654200,
 *    "ok": true, "error": null,
 *    "parsed": [{"name": "postgresql-2026-12-07_142250.log",
 *                "size": 2188, "mtime": 1796654170}]}
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_PGBADGER_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_PGBADGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "reconcile/observe/observe_model.h"
#include "reconcile/transport/host.h"
#include "schema/topology.h"

#define PGBADGER_STATE_FILE "pgconverge-state.json"

/* One log file a run handed to pgBadger: parsed whole, never again. */
typedef struct {
	const char *name;         /* in the log folder */
	int64_t size;
	double mtime;             /* epoch seconds */
} PgcObsPgbadgerFile;

struct PgcObsPgbadger {
	const char *path;         /* the state file */
	bool exists;              /* false: no run yet */
	const char *error;        /* could not be read or parsed; the fields below are empty */
	const char *last_run;     /* ISO 8601 UTC of the last run, NULL none */
	double last_run_epoch;    /* its epoch seconds, 0 none */
	bool ok;                  /* the last run succeeded */
	const char *last_error;   /* why it failed, or NULL */
	PgcObsPgbadgerFile *parsed;
	size_t n_parsed;
};

/* observe_pgbadger_dir - <output>/<node>: the node's pgBadger folder, in arena. */
const char *observe_pgbadger_dir(PgcArena *arena, const PgcCluster *c, const PgcNode *n);

/*
 * observe_pgbadger_read - the state of node n's reports, read through h
 * (NULL: not looked at, when the cluster has no monitoring.pgbadger).
 * Never fails: an unreadable or malformed file sets error. In arena.
 */
PgcObsPgbadger *observe_pgbadger_read(PgcArena *arena, PgcHost *h, const PgcCluster *c,
				      const PgcNode *n);

/* observe_pgbadger_copy - a deep copy of s (NULL: NULL) in arena. */
PgcObsPgbadger *observe_pgbadger_copy(PgcArena *arena, const PgcObsPgbadger *s);

/*
 * observe_pgbadger_parse - the state file's text into out (path and exists
 * left alone): 0, or -1 with out->error set. Strings in arena.
 */
int observe_pgbadger_parse(PgcArena *arena, const char *text, size_t len, PgcObsPgbadger *out);

/* observe_pgbadger_render - the state file's text for s (malloc'd, ends with a newline). */
char *observe_pgbadger_render(const PgcObsPgbadger *s);

#endif
