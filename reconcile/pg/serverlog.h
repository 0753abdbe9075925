/*
 * reconcile/pg/serverlog.h - the server log settings pgBadger needs, and
 * where a node's server writes its log files.
 *
 * One table for both sides: the postgres component writes the preset into
 * pgconverge.conf (reconcile/postgres/plan_conf.c) and the monitoring
 * component reads the same values to run pgBadger (which log folder, which
 * format, which log_line_prefix), so that the two never disagree.
 */
#ifndef PGC_RECONCILE_PG_SERVERLOG_H
#define PGC_RECONCILE_PG_SERVERLOG_H

#include <stddef.h>

#include "common/arena.h"
#include "schema/topology.h"

typedef struct {
	const char *name;
	const char *value;
} PgcLogParam;

/*
 * serverlog_pgbadger - the preset monitoring.pgbadger adds to a node's
 * settings, sorted by name; *n gets its length. The topology's own values
 * win (schema/validate_monitoring.c refuses those pgBadger cannot parse).
 */
const PgcLogParam *serverlog_pgbadger(size_t *n);

/*
 * serverlog_setting - the value of a log parameter on node n: its
 * effective settings, else the pgBadger preset when the cluster has
 * monitoring.pgbadger, else PostgreSQL's default for log_directory
 * ("log"), log_destination ("stderr"), log_line_prefix ("%m [%p] ") and
 * log_filename; NULL for other names. Not normalised.
 */
const char *serverlog_setting(const PgcCluster *c, const PgcNode *n, const char *name);

/*
 * serverlog_dir - the folder node n's logging collector writes to:
 * log_directory, relative to the data directory unless absolute. In arena.
 */
const char *serverlog_dir(PgcArena *arena, const PgcCluster *c, const PgcNode *n);

/*
 * serverlog_format - the format pgBadger reads ("stderr", "csv" or
 * "jsonlog"): stderr when log_destination has it, else csvlog, else
 * jsonlog; NULL when it has none of them (validation refuses that).
 */
const char *serverlog_format(const PgcCluster *c, const PgcNode *n);

#endif
