/*
 * reconcile/observe/observe_stats.c - the monitoring figures of one node
 * (observe_stats.h): SQL on the SQL probe's connections (a replica's
 * declared databases on their own), /proc through the host.
 */
#include "reconcile/observe/observe_stats.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/log.h"
#include "reconcile/pg/pgsql.h"

const char *const obs_conn_state_names[OBS_CONN_STATES] = {
	[OBS_CONN_ACTIVE] = "active",
	[OBS_CONN_IDLE] = "idle",
	[OBS_CONN_IDLE_IN_XACT] = "idle in transaction",
	[OBS_CONN_IDLE_IN_XACT_ABORTED] = "idle in transaction (aborted)",
	[OBS_CONN_FASTPATH] = "fastpath function call",
	[OBS_CONN_DISABLED] = "disabled",
	[OBS_CONN_OTHER] = "other",
};

/* stats_failed - notes the first failure; the figures stay as far as they were read. */
static void stats_failed(Probe *p, const char *what, const char *why)
{
	PgcObsStats *s = p->out->stats;

	log_debug("node \"%s\": monitoring figures: could not read %s: %s", p->label, what, why);
	if (s->error == NULL)
		s->error = m_printf(p, "could not read %s: %s", what, why);
}

/* stats_query - one bounded query; NULL after stats_failed(). */
static PGresult *stats_query(Probe *p, PGconn *conn, const char *what, const char *sql)
{
	PgcPgError e;
	PGresult *r = NULL;

	if (pgsql_query(conn, sql, 0, NULL, p->opts->query_timeout_ms, &r, &e) == 0)
		return r;
	stats_failed(p, what, e.message);
	return NULL;
}

static long long cell_ll(const PGresult *r, int row, int c, long long dflt)
{
	return PQgetisnull(r, row, c) ? dflt : strtoll(PQgetvalue(r, row, c), NULL, 10);
}

static double cell_d(const PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? 0 : strtod(PQgetvalue(r, row, c), NULL);
}

static void sql_connections(Probe *p, PGconn *conn)
{
	PgcObsStats *s = p->out->stats;
	PGresult *r = stats_query(p, conn, "pg_stat_activity",
				  "SELECT state, count(*) FROM pg_stat_activity"
				  " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
				  " GROUP BY state");

	if (r == NULL)
		return;
	for (int i = 0; i < PQntuples(r); i++) {
		int k = OBS_CONN_OTHER;

		for (int j = 0; j < OBS_CONN_OTHER && !PQgetisnull(r, i, 0); j++)
			if (strcmp(PQgetvalue(r, i, 0), obs_conn_state_names[j]) == 0)
				k = j;
		s->connections[k] += cell_ll(r, i, 1, 0);
	}
	PQclear(r);
}

static void sql_wal(Probe *p, PGconn *conn)
{
	PgcObsStats *s = p->out->stats;
	PGresult *r = stats_query(p, conn, "the WAL position",
				  "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()"
				  " ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::bigint,"
				  " current_setting('max_connections')::bigint");

	if (r == NULL)
		return;
	s->wal_bytes = cell_ll(r, 0, 0, -1);
	s->max_connections = cell_ll(r, 0, 1, -1);
	PQclear(r);
	/* pg_stat_wal came with PostgreSQL 14. */
	if (p->out->server_version_num < 140000)
		return;
	r = stats_query(p, conn, "pg_stat_wal", "SELECT wal_bytes::bigint FROM pg_stat_wal");
	if (r == NULL)
		return;
	if (PQntuples(r) > 0)
		s->wal_generated_bytes = cell_ll(r, 0, 0, -1);
	PQclear(r);
}

static void sql_databases(Probe *p, PGconn *conn)
{
	PgcObsStats *s = p->out->stats;
	PGresult *r = stats_query(
		p, conn, "pg_stat_database",
		"SELECT d.datname, s.blks_read, s.blks_hit, s.blk_read_time / 1000,"
		" s.blk_write_time / 1000, s.temp_bytes, s.temp_files, s.xact_commit, s.xact_rollback,"
		" pg_database_size(d.oid)"
		" FROM pg_database d JOIN pg_stat_database s ON s.datid = d.oid"
		" WHERE NOT d.datistemplate AND d.datallowconn ORDER BY d.datname");
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	s->databases = m_alloc(p, (size_t)rows, sizeof *s->databases);
	s->n_databases = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		PgcObsStatsDatabase *d = &s->databases[i];

		d->name = m_strdup(p, PQgetvalue(r, i, 0));
		d->blks_read = cell_ll(r, i, 1, 0);
		d->blks_hit = cell_ll(r, i, 2, 0);
		d->blk_read_time_s = cell_d(r, i, 3);
		d->blk_write_time_s = cell_d(r, i, 4);
		d->temp_bytes = cell_ll(r, i, 5, 0);
		d->temp_files = cell_ll(r, i, 6, 0);
		d->xact_commit = cell_ll(r, i, 7, 0);
		d->xact_rollback = cell_ll(r, i, 8, 0);
		d->size_bytes = cell_ll(r, i, 9, -1);
	}
	PQclear(r);
}

/* sql_index_usage - one database's scans and unused indexes, through conn (connected to it). */
static void sql_index_usage(Probe *p, PGconn *conn, PgcObsStatsDatabase *d)
{
	PGresult *r = stats_query(
		p, conn, arena_printf(p->scratch, "the index usage of \"%s\"", d->name),
		"SELECT coalesce(sum(idx_scan), 0)::bigint, coalesce(sum(seq_scan), 0)::bigint,"
		" (SELECT count(*) FROM pg_stat_user_indexes u JOIN pg_index i"
		"  ON i.indexrelid = u.indexrelid"
		"  WHERE u.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary"
		"  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = u.indexrelid))"
		" FROM pg_stat_user_tables");

	if (r == NULL)
		return;
	d->idx_scan = cell_ll(r, 0, 0, 0);
	d->seq_scan = cell_ll(r, 0, 1, 0);
	d->unused_indexes = cell_ll(r, 0, 2, 0);
	d->index_read = true;
	PQclear(r);
}

static bool declared(const PgcCluster *c, const char *name)
{
	for (size_t i = 0; i < c->n_databases; i++)
		if (strcmp(c->databases[i].name, name) == 0)
			return true;
	return false;
}

void observe_stats_database(Probe *p, PGconn *dbconn, const char *dbname)
{
	PgcObsStats *s = p->out->stats;
	PgcObsStatsDatabase *d;

	if (s == NULL || s->n_early >= OBS_STATS_MAX_DATABASES)
		return;
	d = &s->early[s->n_early++];
	d->name = m_strdup(p, dbname);
	sql_index_usage(p, dbconn, d);
}

/* early_usage - the index usage observe_stats_database() read for name, or NULL. */
static const PgcObsStatsDatabase *early_usage(const PgcObsStats *s, const char *name)
{
	for (size_t i = 0; i < s->n_early; i++)
		if (strcmp(s->early[i].name, name) == 0)
			return &s->early[i];
	return NULL;
}

/*
 * index_usage - the declared databases' index usage: statistics of tables
 * are per database. Those read through the SQL probe's own connections
 * (observe_stats_database(), on a primary) are taken as they are; the
 * others (on a replica, which the SQL probe does not read database by
 * database) get a connection each, bounded: at most
 * OBS_STATS_MAX_DATABASES, and none after a connect fails.
 */
static void index_usage(Probe *p, PGconn *conn)
{
	PgcObsStats *s = p->out->stats;
	size_t done = 0;

	for (size_t i = 0; i < s->n_databases; i++) {
		PgcObsStatsDatabase *d = &s->databases[i];
		const PgcObsStatsDatabase *e = early_usage(s, d->name);
		char err[512];
		PGconn *dbconn;

		if (!declared(p->c, d->name))
			continue;
		if (e != NULL) {
			d->index_read = e->index_read;
			d->idx_scan = e->idx_scan;
			d->seq_scan = e->seq_scan;
			d->unused_indexes = e->unused_indexes;
			continue;
		}
		if (done++ >= OBS_STATS_MAX_DATABASES) {
			stats_failed(p, "the index usage of every declared database",
				     arena_printf(p->scratch, "more than %d declared databases",
						  OBS_STATS_MAX_DATABASES));
			return;
		}
		if (strcmp(d->name, "postgres") == 0) {
			sql_index_usage(p, conn, d);
			continue;
		}
		dbconn = probe_connect(p, d->name, err, sizeof err);
		if (dbconn == NULL) {
			stats_failed(p, arena_printf(p->scratch, "the index usage of \"%s\"", d->name), err);
			return;
		}
		sql_index_usage(p, dbconn, d);
		PQfinish(dbconn);
	}
}

/* ---- the server's processes: /proc through the host ------------------------ */

/*
 * ProcWalk - one node's processes as host_proc_each() finds them. Like
 * its cutime and cstime, the kernel adds the storage I/O of every child
 * the postmaster has waited for to the postmaster's own /proc/PID/io: the
 * postmaster's figures plus its live children's make totals that only
 * grow (for as long as the postmaster lives).
 */
typedef struct {
	long pm;
	long count;
	double cpu_s;
	bool io_ok;                    /* every live process's io could be read */
	unsigned long long rd, wr;
} ProcWalk;

static int walk_one(PgcHost *h, long pid, void *arg)
{
	ProcWalk *w = arg;
	PgcHostProcStat st;
	PgcHostProcIo io;

	if (host_proc_stat(h, pid, &st) != 0 || (pid != w->pm && st.ppid != w->pm))
		return 0;
	w->count++;
	/* A child's own waited-for children (archive_command ...) count too. */
	w->cpu_s += st.cpu_s + st.children_cpu_s;
	/* A zombie's figures are its parent's once reaped; until then they are lost. */
	if (st.state == 'Z')
		return 0;
	if (host_proc_io(h, pid, &io) != 0) {
		w->io_ok = false;
		return 0;
	}
	w->rd += io.read_bytes;
	w->wr += io.write_bytes;
	return 0;
}

/* At most this many children of a postmaster are listed directly (then: the walk). */
#define STATS_MAX_CHILDREN 8192

/*
 * walk_children - walk_one() for the postmaster and the children the host
 * lists for it: a few reads instead of one per process of the machine.
 * -1 when the host cannot list them.
 */
static int walk_children(PgcHost *h, ProcWalk *w)
{
	long *kids = malloc(STATS_MAX_CHILDREN * sizeof *kids);
	ssize_t n = kids ? host_proc_children(h, w->pm, kids, STATS_MAX_CHILDREN) : -1;

	if (n < 0 || n == STATS_MAX_CHILDREN) {
		free(kids);
		return -1;
	}
	walk_one(h, w->pm, w);
	for (ssize_t i = 0; i < n; i++)
		walk_one(h, kids[i], w);
	free(kids);
	return 0;
}

/* proc_figures - CPU and I/O of the postmaster and its children, from the host's processes. */
static void proc_figures(Probe *p, PgcHost *h)
{
	PgcObsStats *s = p->out->stats;
	ProcWalk w = {.pm = p->out->postmaster_pid, .io_ok = true};

	if (h == NULL || !p->out->postmaster_alive || w.pm <= 0)
		return;
	if (walk_children(h, &w) != 0) {
		w = (ProcWalk){.pm = p->out->postmaster_pid, .io_ok = true};
		if (host_proc_each(h, walk_one, &w) != 0)
			w.count = 0;
	}
	if (w.count == 0) {
		stats_failed(p, "the server's processes", "the process list cannot be read");
		return;
	}
	s->proc_read = true;
	s->processes = w.count;
	s->cpu_seconds = w.cpu_s;
	if (!w.io_ok) {
		/* Neither root nor the server's account: /proc/PID/io is not ours to read. */
		stats_failed(p, "the server's processes' I/O", "/proc/PID/io cannot be read");
		return;
	}
	s->io_read = true;
	s->read_bytes = w.rd;
	s->write_bytes = w.wr;
}

void observe_stats_begin(Probe *p, PgcHost *h)
{
	PgcObsStats *s = m_alloc(p, 1, sizeof *s);

	p->out->stats = s;
	s->max_connections = s->wal_bytes = s->wal_generated_bytes = -1;
	s->early = m_alloc(p, OBS_STATS_MAX_DATABASES, sizeof *s->early);
	proc_figures(p, h);
}

void observe_stats_server(Probe *p, PGconn *conn)
{
	if (p->out->stats == NULL)
		return;
	sql_connections(p, conn);
	sql_wal(p, conn);
	sql_databases(p, conn);
	index_usage(p, conn);
}

void observe_stats_unreachable(Probe *p, const char *why)
{
	if (p->out->stats != NULL)
		stats_failed(p, "the server", why);
}
