/*
 * reconcile/observe/observe_stats.c - the monitoring figures of one node
 * (observe_stats.h): SQL on its own connection, /proc through the host.
 */
#include "reconcile/observe/observe_stats.h"

#include <pthread.h>
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

/* connect_db - as the SQL probe connects: the unix socket for a local node, TCP otherwise. */
static PGconn *connect_db(Probe *p, const char *dbname, char *err, size_t errlen)
{
	const char *ci =
		p->out->local
			? pgsql_conninfo_local(p->scratch, (int)p->node->port.v, p->c->os_user.v, dbname)
			: pgsql_conninfo_tcp(p->scratch, p->node->host.v, (int)p->node->port.v,
					     p->c->os_user.v, dbname);

	return pgsql_connect(ci, p->opts->connect_timeout_s, err, errlen);
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

/*
 * index_usage - the declared databases' index usage: statistics of tables
 * are per database, so one connection each (bounded: at most
 * OBS_STATS_MAX_DATABASES, and none after a connect fails).
 */
static void index_usage(Probe *p, PGconn *conn)
{
	PgcObsStats *s = p->out->stats;
	size_t done = 0;

	for (size_t i = 0; i < s->n_databases; i++) {
		PgcObsStatsDatabase *d = &s->databases[i];
		char err[512];
		PGconn *dbconn;

		if (!declared(p->c, d->name))
			continue;
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
		dbconn = connect_db(p, d->name, err, sizeof err);
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
 * The I/O tracker: /proc/PID/io counts a process's bytes until it exits,
 * and nothing adds them to its parent's. So that a server's total does not
 * drop when a backend exits, the last figures of each process are kept
 * between observations, and those of a process that is gone are added to
 * the node's "exited" sum. What a process did after its last observation,
 * and processes that lived between two observations, are not counted; the
 * sums start again with this pgconverge process and with a new postmaster.
 */
typedef struct {
	long pid;
	unsigned long long start;
	unsigned long long rd, wr;
} TrackedProc;

typedef struct {
	char *key;                     /* "cluster/node" */
	long pm_pid;
	unsigned long long pm_start;
	unsigned long long exited_rd, exited_wr;
	TrackedProc *procs;
	size_t n_procs;
} TrackedNode;

static pthread_mutex_t track_lock = PTHREAD_MUTEX_INITIALIZER;
static TrackedNode *tracked;
static size_t n_tracked;

/* ProcWalk - one node's processes as host_proc_each() finds them. */
typedef struct {
	PgcHost *h;
	long pm;
	long count;
	double cpu_s;
	bool io_ok;                    /* every live process's io could be read */
	unsigned long long pm_start;
	TrackedProc *procs;            /* live ones with their io, malloc'd */
	size_t n_procs, cap;
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
	if (pid == w->pm)
		w->pm_start = st.start_ticks;
	if (st.state == 'Z')
		return 0;
	if (host_proc_io(h, pid, &io) != 0) {
		w->io_ok = false;
		return 0;
	}
	if (w->n_procs == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 32;
		w->procs = realloc(w->procs, w->cap * sizeof *w->procs);
		if (w->procs == NULL)
			abort();
	}
	w->procs[w->n_procs++] = (TrackedProc){pid, st.start_ticks, io.read_bytes, io.write_bytes};
	return 0;
}

static TrackedNode *tracked_node(const char *key)
{
	for (size_t i = 0; i < n_tracked; i++)
		if (strcmp(tracked[i].key, key) == 0)
			return &tracked[i];
	tracked = realloc(tracked, (n_tracked + 1) * sizeof *tracked);
	if (tracked == NULL)
		abort();
	tracked[n_tracked] = (TrackedNode){.key = strdup(key)};
	if (tracked[n_tracked].key == NULL)
		abort();
	return &tracked[n_tracked++];
}

/*
 * io_track - the node's totals: the exited processes' last figures plus
 * the live ones'; w->procs becomes the node's tracked list (taken).
 */
static void io_track(const char *key, ProcWalk *w, unsigned long long *rd, unsigned long long *wr)
{
	TrackedNode *t;

	pthread_mutex_lock(&track_lock);
	t = tracked_node(key);
	if (t->pm_pid != w->pm || t->pm_start != w->pm_start) {
		/* Another postmaster: its counters start from zero. */
		t->exited_rd = t->exited_wr = 0;
		t->n_procs = 0;
		t->pm_pid = w->pm;
		t->pm_start = w->pm_start;
	}
	for (size_t i = 0; i < t->n_procs; i++) {
		const TrackedProc *old = &t->procs[i];
		bool live = false;

		for (size_t j = 0; j < w->n_procs && !live; j++)
			live = w->procs[j].pid == old->pid && w->procs[j].start == old->start;
		if (!live) {
			t->exited_rd += old->rd;
			t->exited_wr += old->wr;
		}
	}
	free(t->procs);
	t->procs = w->procs;
	t->n_procs = w->n_procs;
	w->procs = NULL;
	*rd = t->exited_rd;
	*wr = t->exited_wr;
	for (size_t i = 0; i < t->n_procs; i++) {
		*rd += t->procs[i].rd;
		*wr += t->procs[i].wr;
	}
	pthread_mutex_unlock(&track_lock);
}

void observe_stats_io_forget(void)
{
	pthread_mutex_lock(&track_lock);
	for (size_t i = 0; i < n_tracked; i++) {
		free(tracked[i].key);
		free(tracked[i].procs);
	}
	free(tracked);
	tracked = NULL;
	n_tracked = 0;
	pthread_mutex_unlock(&track_lock);
}

/* proc_figures - CPU and I/O of the postmaster and its children, from the host's process list. */
static void proc_figures(Probe *p, PgcHost *h)
{
	PgcObsStats *s = p->out->stats;
	ProcWalk w = {.h = h, .pm = p->out->postmaster_pid, .io_ok = true};

	if (h == NULL || !p->out->postmaster_alive || w.pm <= 0)
		return;
	if (host_proc_each(h, walk_one, &w) != 0 || w.count == 0) {
		stats_failed(p, "the server's processes", "the process list cannot be read");
		free(w.procs);
		return;
	}
	s->proc_read = true;
	s->processes = w.count;
	s->cpu_seconds = w.cpu_s;
	if (!w.io_ok) {
		/* Not root nor the server's account: /proc/PID/io is not ours to read. */
		stats_failed(p, "the server's processes' I/O", "/proc/PID/io cannot be read");
		free(w.procs);
		return;
	}
	io_track(p->label, &w, &s->read_bytes, &s->write_bytes);
	s->io_read = true;
	free(w.procs);
}

void observe_stats_probe(Probe *p, PgcHost *h)
{
	PgcObsNode *o = p->out;
	PgcObsStats *s = m_alloc(p, 1, sizeof *s);
	char err[512];
	PGconn *conn;

	o->stats = s;
	s->max_connections = s->wal_bytes = s->wal_generated_bytes = -1;
	proc_figures(p, h);
	conn = connect_db(p, "postgres", err, sizeof err);
	if (conn == NULL) {
		stats_failed(p, "the server", err);
		return;
	}
	sql_connections(p, conn);
	sql_wal(p, conn);
	sql_databases(p, conn);
	index_usage(p, conn);
	PQfinish(conn);
}
