/*
 * reconcile/observe/observe_top.h - a quick look at where a cluster's time
 * goes, without pgBadger or an agent (`status --top`): on the live primary,
 * per declared database (or "postgres" when none is declared),
 *   - the statements with the most total execution time, from
 *     pg_stat_statements when it is installed in that database (its view
 *     covers every database: the rows are those of this one);
 *   - indexes never scanned (idx_scan 0), and rarely scanned ones (fewer
 *     than OBS_TOP_RARE_SCANS), leaving out unique indexes, primary keys
 *     and indexes behind a constraint, which exist for their constraint;
 *   - tables read mostly by sequential scans (more sequential than index
 *     scans), the most rows read that way first.
 * Every figure counts from the last statistics reset (stats_reset).
 *
 * Read-only; every connect and query bounded (pgsql.h). Memory: the
 * PgcTop's arena; observe_top_free().
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_TOP_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_TOP_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "reconcile/observe/observe_model.h"
#include "schema/topology.h"

/* An index scanned fewer times than this (and at least once) is "rarely used". */
#define OBS_TOP_RARE_SCANS 50
/* Rows per section when the caller asks for 0. */
#define OBS_TOP_DEFAULT_LIMIT 10

typedef struct {
	const char *query;        /* normalised by pg_stat_statements ($1 for constants) */
	const char *user;
	long long calls;
	double total_ms, mean_ms;
	long long rows;
} PgcTopStatement;

typedef struct {
	const char *schema, *table, *index;
	long long scans;          /* idx_scan */
	long long size_bytes;
} PgcTopIndex;

typedef struct {
	const char *schema, *table;
	long long seq_scan, seq_rows; /* seq_scan, seq_tup_read */
	long long idx_scan;
	long long live_rows;      /* n_live_tup */
	long long size_bytes;
} PgcTopTable;

typedef struct {
	const char *name;
	const char *error;        /* the database could not be read; the rest is empty */
	const char *stats_reset;  /* pg_stat_database.stats_reset (ISO 8601), NULL: never */
	bool pgss;                /* pg_stat_statements is installed and answered */
	const char *pgss_note;    /* why there are no statements (not installed, not
	                           * preloaded ...), with what to do; NULL when pgss */
	PgcTopStatement *statements;
	size_t n_statements;
	PgcTopIndex *unused;
	size_t n_unused;
	PgcTopIndex *rare;
	size_t n_rare;
	PgcTopTable *seq_tables;
	size_t n_seq_tables;
} PgcTopDatabase;

typedef struct {
	PgcArena *arena;
	const char *cluster;
	const char *node;         /* the live primary asked */
	const char *error;        /* no live primary answered; no databases then */
	PgcTopDatabase *dbs;
	size_t n_dbs;
} PgcTop;

/*
 * observe_top - the report for cluster c from its live primary, found in
 * oc (observe_topology()'s observation of c), limit rows per section (0:
 * OBS_TOP_DEFAULT_LIMIT). Never NULL: failures are in ->error and in each
 * database's error.
 */
PgcTop *observe_top(const PgcCluster *c, const PgcObsCluster *oc, int limit);

void observe_top_free(PgcTop *t);

#endif
