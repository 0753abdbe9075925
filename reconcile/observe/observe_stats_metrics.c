/*
 * reconcile/observe/observe_stats_metrics.c - the monitoring figures in
 * Prometheus' text format (observe_stats_metrics(), observe_stats.h).
 *
 * Two tables drive it: the families with one sample per node, and those
 * with one per node and database. Counters end in _total, sizes in _bytes,
 * times in _seconds; every family gets its # HELP and # TYPE even when no
 * node has a sample, so that a scrape always names the same families.
 */
#include "reconcile/observe/observe_stats.h"

#include "common/metrics.h"
#include "reconcile/pg/lsn.h"

/* ---- per node ---------------------------------------------------------------- */

/* A node's value for a family; false when it has none. */
typedef bool (*NodeValue)(const PgcObsCluster *oc, const PgcObsNode *n, double *v);

typedef struct {
	const char *name;
	const char *type;
	const char *help;
	NodeValue value;
	const char *fmt;           /* "%.0f" for counts and bytes, "%.3f" for seconds */
} NodeFamily;

static bool v_max_connections(const PgcObsCluster *oc, const PgcObsNode *n, double *v)
{
	(void)oc;
	*v = (double)n->stats->max_connections;
	return n->stats->max_connections >= 0;
}

static bool v_wal_bytes(const PgcObsCluster *oc, const PgcObsNode *n, double *v)
{
	(void)oc;
	*v = (double)n->stats->wal_bytes;
	return n->stats->wal_bytes >= 0;
}

static bool v_wal_generated(const PgcObsCluster *oc, const PgcObsNode *n, double *v)
{
	(void)oc;
	*v = (double)n->stats->wal_generated_bytes;
	return n->stats->wal_generated_bytes >= 0;
}

/* live_primary_lsn - the write position of the cluster's live primary, 0 unknown. */
static uint64_t live_primary_lsn(const PgcObsCluster *oc)
{
	for (size_t i = 0; i < oc->n_nodes; i++)
		if (oc->nodes[i].reachable && !oc->nodes[i].in_recovery)
			return lsn_value(oc->nodes[i].current_lsn);
	return 0;
}

static bool v_lag_bytes(const PgcObsCluster *oc, const PgcObsNode *n, double *v)
{
	uint64_t primary = live_primary_lsn(oc), replay = lsn_value(n->replay_lsn);

	if (!n->reachable || !n->in_recovery || primary == 0 || replay == 0)
		return false;
	*v = primary > replay ? (double)(primary - replay) : 0;
	return true;
}

static bool v_lag_seconds(const PgcObsCluster *oc, const PgcObsNode *n, double *v)
{
	(void)oc;
	*v = n->replay_delay_s;
	return n->reachable && n->in_recovery && n->replay_delay_s >= 0;
}

static bool v_processes(const PgcObsCluster *oc, const PgcObsNode *n, double *v)
{
	(void)oc;
	*v = (double)n->stats->processes;
	return n->stats->proc_read;
}

static bool v_cpu(const PgcObsCluster *oc, const PgcObsNode *n, double *v)
{
	(void)oc;
	*v = n->stats->cpu_seconds;
	return n->stats->proc_read;
}

static bool v_read_bytes(const PgcObsCluster *oc, const PgcObsNode *n, double *v)
{
	(void)oc;
	*v = (double)n->stats->read_bytes;
	return n->stats->io_read;
}

static bool v_write_bytes(const PgcObsCluster *oc, const PgcObsNode *n, double *v)
{
	(void)oc;
	*v = (double)n->stats->write_bytes;
	return n->stats->io_read;
}

static bool v_stats_error(const PgcObsCluster *oc, const PgcObsNode *n, double *v)
{
	(void)oc;
	*v = n->stats->error != NULL;
	return true;
}

static const NodeFamily node_families[] = {
	{"pgconverge_max_connections", "gauge", "the server's max_connections", v_max_connections,
	 "%.0f"},
	{"pgconverge_wal_bytes_total", "counter",
	 "WAL position in bytes: pg_current_wal_lsn() on a primary, the last replayed on a replica",
	 v_wal_bytes, "%.0f"},
	{"pgconverge_wal_generated_bytes_total", "counter",
	 "WAL the server wrote itself since its statistics were reset (pg_stat_wal, PostgreSQL 14+)",
	 v_wal_generated, "%.0f"},
	{"pgconverge_replication_lag_bytes", "gauge",
	 "bytes of WAL a replica has yet to replay, against the live primary's position",
	 v_lag_bytes, "%.0f"},
	{"pgconverge_replication_lag_seconds", "gauge",
	 "seconds since the last replayed commit while a replica is behind, 0 when caught up",
	 v_lag_seconds, "%.3f"},
	{"pgconverge_processes", "gauge",
	 "the postmaster and its live child processes (local nodes only)", v_processes, "%.0f"},
	{"pgconverge_process_cpu_seconds_total", "counter",
	 "CPU time (user + system) of the postmaster, its live children and the children it "
	 "waited for, from /proc (local nodes only)",
	 v_cpu, "%.2f"},
	{"pgconverge_process_read_bytes_total", "counter",
	 "bytes the server's processes made storage fetch (/proc/PID/io read_bytes of the "
	 "postmaster, which includes the exited children it waited for, and of its live "
	 "children; local nodes only)",
	 v_read_bytes, "%.0f"},
	{"pgconverge_process_write_bytes_total", "counter",
	 "bytes the server's processes sent to storage (/proc/PID/io write_bytes of the "
	 "postmaster, which includes the exited children it waited for, and of its live "
	 "children; local nodes only)",
	 v_write_bytes, "%.0f"},
	{"pgconverge_stats_error", "gauge",
	 "1 when some monitoring figures of the node could not be read (see the debug log)",
	 v_stats_error, "%.0f"},
};

static void node_family(FILE *f, const PgcObserved *o, const NodeFamily *fam)
{
	metrics_family(f, fam->name, fam->type, fam->help);
	for (size_t c = 0; c < o->n_clusters; c++) {
		const PgcObsCluster *oc = &o->clusters[c];

		for (size_t i = 0; i < oc->n_nodes; i++) {
			const PgcObsNode *n = &oc->nodes[i];
			double v;

			if (n->stats != NULL && fam->value(oc, n, &v))
				metrics_sample(f, fam->name,
					       METRICS_LABELS("cluster", oc->name, "node", n->name),
					       fam->fmt, v);
		}
	}
}

static void connections_family(FILE *f, const PgcObserved *o)
{
	metrics_family(f, "pgconverge_connections", "gauge",
		       "client connections by state (pg_stat_activity; pgconverge's own excluded)");
	for (size_t c = 0; c < o->n_clusters; c++) {
		const PgcObsCluster *oc = &o->clusters[c];

		for (size_t i = 0; i < oc->n_nodes; i++) {
			const PgcObsNode *n = &oc->nodes[i];

			if (n->stats == NULL || n->stats->max_connections < 0)
				continue;
			for (int k = 0; k < OBS_CONN_STATES; k++)
				metrics_sample(f, "pgconverge_connections",
					       METRICS_LABELS("cluster", oc->name, "node", n->name,
							      "state", obs_conn_state_names[k]),
					       "%lld", n->stats->connections[k]);
		}
	}
}

/* ---- per node and database ------------------------------------------------------ */

typedef bool (*DbValue)(const PgcObsStatsDatabase *d, double *v);

typedef struct {
	const char *name;
	const char *type;
	const char *help;
	DbValue value;
	const char *fmt;
} DbFamily;

#define DB_FIELD(fn, field)                                        \
	static bool fn(const PgcObsStatsDatabase *d, double *v)    \
	{                                                          \
		*v = (double)d->field;                             \
		return true;                                       \
	}
#define DB_INDEX_FIELD(fn, field)                                  \
	static bool fn(const PgcObsStatsDatabase *d, double *v)    \
	{                                                          \
		*v = (double)d->field;                             \
		return d->index_read;                              \
	}

DB_FIELD(d_blks_read, blks_read)
DB_FIELD(d_blks_hit, blks_hit)
DB_FIELD(d_read_time, blk_read_time_s)
DB_FIELD(d_write_time, blk_write_time_s)
DB_FIELD(d_temp_bytes, temp_bytes)
DB_FIELD(d_temp_files, temp_files)
DB_FIELD(d_commit, xact_commit)
DB_FIELD(d_rollback, xact_rollback)
DB_INDEX_FIELD(d_idx_scan, idx_scan)
DB_INDEX_FIELD(d_seq_scan, seq_scan)
DB_INDEX_FIELD(d_unused, unused_indexes)

static bool d_size(const PgcObsStatsDatabase *d, double *v)
{
	*v = (double)d->size_bytes;
	return d->size_bytes >= 0;
}

static const DbFamily db_families[] = {
	{"pgconverge_database_blocks_read_total", "counter",
	 "blocks read from outside shared buffers (pg_stat_database.blks_read)", d_blks_read, "%.0f"},
	{"pgconverge_database_blocks_hit_total", "counter",
	 "blocks found in shared buffers (pg_stat_database.blks_hit)", d_blks_hit, "%.0f"},
	{"pgconverge_database_block_read_seconds_total", "counter",
	 "time spent reading blocks (pg_stat_database.blk_read_time; 0 unless track_io_timing is on)",
	 d_read_time, "%.3f"},
	{"pgconverge_database_block_write_seconds_total", "counter",
	 "time spent writing blocks (pg_stat_database.blk_write_time; 0 unless track_io_timing is "
	 "on)",
	 d_write_time, "%.3f"},
	{"pgconverge_database_temp_bytes_total", "counter",
	 "bytes written to temporary files by queries (pg_stat_database.temp_bytes)", d_temp_bytes,
	 "%.0f"},
	{"pgconverge_database_temp_files_total", "counter",
	 "temporary files created by queries (pg_stat_database.temp_files)", d_temp_files, "%.0f"},
	{"pgconverge_database_xact_commit_total", "counter",
	 "transactions committed (pg_stat_database.xact_commit)", d_commit, "%.0f"},
	{"pgconverge_database_xact_rollback_total", "counter",
	 "transactions rolled back (pg_stat_database.xact_rollback)", d_rollback, "%.0f"},
	{"pgconverge_database_size_bytes", "gauge", "the database's size (pg_database_size)", d_size,
	 "%.0f"},
	{"pgconverge_database_index_scans_total", "counter",
	 "index scans on the user tables of a declared database (sum of pg_stat_user_tables.idx_scan)",
	 d_idx_scan, "%.0f"},
	{"pgconverge_database_seq_scans_total", "counter",
	 "sequential scans on the user tables of a declared database (sum of "
	 "pg_stat_user_tables.seq_scan)",
	 d_seq_scan, "%.0f"},
	{"pgconverge_database_unused_indexes", "gauge",
	 "indexes of a declared database never scanned since the statistics were reset, other "
	 "than unique, primary key and constraint indexes",
	 d_unused, "%.0f"},
};

static void db_family(FILE *f, const PgcObserved *o, const DbFamily *fam)
{
	metrics_family(f, fam->name, fam->type, fam->help);
	for (size_t c = 0; c < o->n_clusters; c++) {
		const PgcObsCluster *oc = &o->clusters[c];

		for (size_t i = 0; i < oc->n_nodes; i++) {
			const PgcObsNode *n = &oc->nodes[i];

			for (size_t k = 0; n->stats != NULL && k < n->stats->n_databases; k++) {
				const PgcObsStatsDatabase *d = &n->stats->databases[k];
				double v;

				if (fam->value(d, &v))
					metrics_sample(f, fam->name,
						       METRICS_LABELS("cluster", oc->name, "node",
								      n->name, "database", d->name),
						       fam->fmt, v);
			}
		}
	}
}

/*
 * pooler_families - the hook for the poolers' figures (clients waiting,
 * server connections per pool, queries and bytes from PgBouncer's SHOW
 * STATS / SHOW POOLS, Pgpool-II's and HAProxy's counters) once their probes
 * fill oc->pgbouncer, oc->pgpool and oc->haproxy: one family each here,
 * labelled cluster (and pool/database), sampled only where the cluster has
 * that pooler. Nothing yet.
 */
static void pooler_families(FILE *f, const PgcObserved *o)
{
	(void)f;
	(void)o;
}

void observe_stats_metrics(FILE *f, const PgcObserved *o)
{
	connections_family(f, o);
	for (size_t i = 0; i < sizeof node_families / sizeof node_families[0]; i++)
		node_family(f, o, &node_families[i]);
	for (size_t i = 0; i < sizeof db_families / sizeof db_families[0]; i++)
		db_family(f, o, &db_families[i]);
	pooler_families(f, o);
}
