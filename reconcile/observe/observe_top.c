/*
 * reconcile/observe/observe_top.c - statements, index usage and sequential
 * scans of a cluster's live primary (observe_top.h).
 */
#include "reconcile/observe/observe_top.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "reconcile/pg/pgsql.h"

/* The catalog queries; $1 is the row limit. */
static const char stats_reset_sql[] =
	"SELECT to_char(stats_reset AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	" FROM pg_stat_database WHERE datname = current_database()";

static const char pgss_schema_sql[] =
	"SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
	" WHERE e.extname = 'pg_stat_statements'";

/* %s: the extension's schema (quoted), then the time columns of the server's version. */
static const char statements_sql[] =
	"SELECT s.query, pg_get_userbyid(s.userid), s.calls, s.%s, s.%s, s.rows"
	" FROM %s.pg_stat_statements s"
	" WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
	/* a role statement may hold a password or its verifier (pgconverge's own
	 * are not tracked: sql_actions.c): never shown */
	" AND s.query !~* '^\\s*(CREATE|ALTER)\\s+(ROLE|USER)\\M'"
	" ORDER BY s.%s DESC LIMIT $1";

/* Indexes that do not exist for a constraint: not unique, no primary key, none behind one. */
#define INDEX_SQL(cond, order)                                                                   \
	"SELECT s.schemaname, s.relname, s.indexrelname, s.idx_scan,"                            \
	" pg_relation_size(s.indexrelid)"                                                        \
	" FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid"            \
	" WHERE NOT i.indisunique AND NOT i.indisprimary"                                        \
	" AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = s.indexrelid)"       \
	" AND " cond " ORDER BY " order " LIMIT $1"

static const char unused_sql[] =
	INDEX_SQL("s.idx_scan = 0", "pg_relation_size(s.indexrelid) DESC, 1, 2, 3");

static const char rare_sql[] = INDEX_SQL(
	"s.idx_scan > 0 AND s.idx_scan < $2", "s.idx_scan, pg_relation_size(s.indexrelid) DESC, 1, 2, 3");

static const char seq_sql[] =
	"SELECT schemaname, relname, seq_scan, seq_tup_read, COALESCE(idx_scan, 0), n_live_tup,"
	" pg_relation_size(relid)"
	" FROM pg_stat_user_tables"
	" WHERE seq_scan > COALESCE(idx_scan, 0) AND seq_tup_read > 0"
	" ORDER BY seq_tup_read DESC, 1, 2 LIMIT $1";

typedef struct {
	PgcArena *a;
	PGconn *conn;
	const char *limit;
	PgcTopDatabase *d;
} Q;

/* run - one query; NULL on failure, with d->error set (the first one kept). */
static PGresult *run(Q *q, const char *what, const char *sql, int nparams, const char **params)
{
	PGresult *r = NULL;
	PgcPgError e;

	if (pgsql_query(q->conn, sql, nparams, params, 0, &r, &e) == 0)
		return r;
	if (q->d->error == NULL)
		q->d->error = arena_printf(q->a, "could not read %s: %s (SQLSTATE %s)", what, e.message,
					   e.sqlstate);
	return NULL;
}

static const char *cell(Q *q, PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : arena_strdup(q->a, PQgetvalue(r, row, col));
}

static long long cell_ll(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void read_statements(Q *q, int server_version)
{
	const char *params[1] = {q->limit};
	bool v13 = server_version >= 130000;
	const char *total = v13 ? "total_exec_time" : "total_time";
	PGresult *r;
	PgcPgError e;
	int rows;

	r = run(q, "pg_extension", pgss_schema_sql, 0, NULL);
	if (r == NULL)
		return;
	if (PQntuples(r) == 0) {
		PQclear(r);
		q->d->pgss_note = arena_printf(
		    q->a, "pg_stat_statements is not installed in database \"%s\"; hint: set "
			  "'monitoring: {pg_stat_statements: true}' in the topology and apply",
		    q->d->name);
		return;
	}
	const char *sql = arena_printf(q->a, statements_sql, total, v13 ? "mean_exec_time" : "mean_time",
				       pgsql_quote_ident(q->a, PQgetvalue(r, 0, 0)), total);
	PQclear(r);
	r = NULL;
	if (pgsql_query(q->conn, sql, 1, params, 0, &r, &e) != 0) {
		/* 55000: installed, but the library is not in shared_preload_libraries. */
		q->d->pgss_note = arena_printf(
		    q->a, "pg_stat_statements does not answer in database \"%s\": %s%s", q->d->name,
		    e.message,
		    strcmp(e.sqlstate, "55000") == 0
			    ? "; hint: set 'monitoring: {pg_stat_statements: true}' in the topology "
			      "and apply (a restart)"
			    : "");
		return;
	}
	q->d->pgss = true;
	rows = PQntuples(r);
	q->d->statements = arena_calloc(q->a, (size_t)rows + 1, sizeof *q->d->statements);
	for (int i = 0; i < rows; i++) {
		PgcTopStatement *s = &q->d->statements[q->d->n_statements++];

		s->query = cell(q, r, i, 0);
		s->user = cell(q, r, i, 1);
		s->calls = cell_ll(r, i, 2);
		s->total_ms = strtod(PQgetvalue(r, i, 3), NULL);
		s->mean_ms = strtod(PQgetvalue(r, i, 4), NULL);
		s->rows = cell_ll(r, i, 5);
	}
	PQclear(r);
}

static void read_indexes(Q *q, const char *sql, const char *what, PgcTopIndex **out, size_t *n)
{
	char rare[16];
	const char *params[2] = {q->limit, rare};
	PGresult *r;
	int rows;

	snprintf(rare, sizeof rare, "%d", OBS_TOP_RARE_SCANS);
	r = run(q, what, sql, sql == rare_sql ? 2 : 1, params);
	if (r == NULL)
		return;
	rows = PQntuples(r);
	*out = arena_calloc(q->a, (size_t)rows + 1, sizeof **out);
	for (int i = 0; i < rows; i++) {
		PgcTopIndex *x = &(*out)[(*n)++];

		x->schema = cell(q, r, i, 0);
		x->table = cell(q, r, i, 1);
		x->index = cell(q, r, i, 2);
		x->scans = cell_ll(r, i, 3);
		x->size_bytes = cell_ll(r, i, 4);
	}
	PQclear(r);
}

static void read_seq_tables(Q *q)
{
	const char *params[1] = {q->limit};
	PGresult *r = run(q, "pg_stat_user_tables", seq_sql, 1, params);
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	q->d->seq_tables = arena_calloc(q->a, (size_t)rows + 1, sizeof *q->d->seq_tables);
	for (int i = 0; i < rows; i++) {
		PgcTopTable *t = &q->d->seq_tables[q->d->n_seq_tables++];

		t->schema = cell(q, r, i, 0);
		t->table = cell(q, r, i, 1);
		t->seq_scan = cell_ll(r, i, 2);
		t->seq_rows = cell_ll(r, i, 3);
		t->idx_scan = cell_ll(r, i, 4);
		t->live_rows = cell_ll(r, i, 5);
		t->size_bytes = cell_ll(r, i, 6);
	}
	PQclear(r);
}

static void read_database(PgcTop *t, const PgcCluster *c, const PgcNode *n, bool local,
			  PgcTopDatabase *d, int limit)
{
	const char *ci = local ? pgsql_conninfo_local(t->arena, (int)n->port.v, c->os_user.v, d->name)
			       : pgsql_conninfo_tcp(t->arena, n->host.v, (int)n->port.v, c->os_user.v,
						    d->name);
	Q q = {t->arena, NULL, arena_printf(t->arena, "%d", limit), d};
	char err[512];
	PGresult *r;

	q.conn = pgsql_connect(ci, 0, err, sizeof err);
	if (q.conn == NULL) {
		d->error = arena_printf(t->arena, "could not connect to database \"%s\": %s", d->name,
					err);
		return;
	}
	r = run(&q, "pg_stat_database", stats_reset_sql, 0, NULL);
	if (r != NULL) {
		if (PQntuples(r) > 0)
			d->stats_reset = cell(&q, r, 0, 0);
		PQclear(r);
	}
	read_statements(&q, PQserverVersion(q.conn));
	read_indexes(&q, unused_sql, "pg_stat_user_indexes", &d->unused, &d->n_unused);
	read_indexes(&q, rare_sql, "pg_stat_user_indexes", &d->rare, &d->n_rare);
	read_seq_tables(&q);
	PQfinish(q.conn);
}

PgcTop *observe_top(const PgcCluster *c, const PgcObsCluster *oc, int limit)
{
	PgcArena *a = arena_new();
	PgcTop *t = arena_calloc(a, 1, sizeof *t);
	const PgcObsNode *on = NULL;
	const PgcNode *n;

	t->arena = a;
	t->cluster = arena_strdup(a, c->name);
	if (limit <= 0)
		limit = OBS_TOP_DEFAULT_LIMIT;
	for (size_t i = 0; oc != NULL && i < oc->n_nodes && on == NULL; i++)
		if (oc->nodes[i].reachable && !oc->nodes[i].in_recovery)
			on = &oc->nodes[i];
	n = on != NULL ? cluster_node(c, on->name) : NULL;
	if (n == NULL) {
		t->error = arena_printf(a, "cluster \"%s\" has no primary that answers", c->name);
		return t;
	}
	t->node = arena_strdup(a, n->name);
	t->dbs = arena_calloc(a, c->n_databases + 1, sizeof *t->dbs);
	if (c->n_databases == 0)
		t->dbs[t->n_dbs++].name = "postgres";
	for (size_t i = 0; i < c->n_databases; i++)
		t->dbs[t->n_dbs++].name = arena_strdup(a, c->databases[i].name);
	for (size_t i = 0; i < t->n_dbs; i++)
		read_database(t, c, n, on->local, &t->dbs[i], limit);
	return t;
}

void observe_top_free(PgcTop *t)
{
	if (t != NULL)
		arena_free(t->arena);
}
