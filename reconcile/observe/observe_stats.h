/*
 * reconcile/observe/observe_stats.h - the monitoring figures of a node
 * (PgcObsStats, the node's `stats`): connections by state, I/O, WAL,
 * database sizes, index usage, and for nodes on this machine the CPU time
 * and storage I/O of the server's processes, read from /proc through the
 * host transport. What `status --format prometheus` and the reconcile
 * loop's /metrics endpoint show (observe_stats_metrics()).
 *
 * Gathered only when PgcObserveOptions.stats asks for it: plan and apply
 * do not pay for it. Best effort: a query that fails sets `error` and
 * leaves the figures it would have given unknown, but never makes the node
 * unreachable nor the observation incomplete (the planner never reads
 * these figures).
 *
 * Cost: a few queries on the connections the SQL probe opens anyway; on a
 * replica, one connection per declared database for the index usage (at
 * most OBS_STATS_MAX_DATABASES, each connect and query bounded as every
 * probe's); and one walk of the host's process list.
 *
 * Memory: in the observation's arena, as the rest of the model.
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_STATS_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_STATS_H

#include <stdbool.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "reconcile/observe/observe_model.h"
#include "reconcile/observe/observe_probe.h"
#include "reconcile/transport/host.h"

/* At most this many declared databases get a connection for index usage, per node. */
#define OBS_STATS_MAX_DATABASES 16

/* The states of pg_stat_activity.state a client backend can be in. */
typedef enum {
	OBS_CONN_ACTIVE,
	OBS_CONN_IDLE,
	OBS_CONN_IDLE_IN_XACT,
	OBS_CONN_IDLE_IN_XACT_ABORTED,
	OBS_CONN_FASTPATH,
	OBS_CONN_DISABLED,
	OBS_CONN_OTHER,            /* NULL state, or one a later version adds */
	OBS_CONN_STATES
} PgcObsConnState;

/* obs_conn_state_names - the label of each state, as pg_stat_activity spells it ("other"). */
extern const char *const obs_conn_state_names[OBS_CONN_STATES];

/* One row of pg_stat_database (a database that is not a template), with its size and index usage. */
typedef struct {
	const char *name;
	long long blks_read, blks_hit;
	double blk_read_time_s, blk_write_time_s; /* need track_io_timing, else 0 */
	long long temp_bytes, temp_files;
	long long xact_commit, xact_rollback;
	long long size_bytes;      /* pg_database_size(); -1 unknown */
	bool index_read;           /* a declared database whose index usage was read */
	long long idx_scan;        /* sum of pg_stat_user_tables.idx_scan */
	long long seq_scan;        /* sum of pg_stat_user_tables.seq_scan */
	long long unused_indexes;  /* idx_scan = 0, neither unique, primary nor a constraint's */
} PgcObsStatsDatabase;

struct PgcObsStats {
	const char *error;         /* the first thing that could not be read; NULL: all was */
	long long connections[OBS_CONN_STATES]; /* client backends per state */
	long long max_connections; /* -1 unknown */
	long long wal_bytes;       /* the WAL position in bytes: pg_current_wal_lsn() on a
	                            * primary, the last replayed on a replica; -1 unknown */
	long long wal_generated_bytes; /* pg_stat_wal.wal_bytes (14+): WAL this server wrote
	                                * since its statistics were reset; -1 unknown */
	PgcObsStatsDatabase *databases;
	size_t n_databases;

	/* The server's processes (local nodes only: proc_read). */
	bool proc_read;
	long processes;            /* the postmaster and its live children */
	double cpu_seconds;        /* their user + system time, with the exited children's
	                            * the postmaster waited for */
	bool io_read;              /* read_bytes/write_bytes are known */
	unsigned long long read_bytes, write_bytes; /* /proc/PID/io of the same processes
	                            * (the postmaster's includes the children it waited for) */

	/* The probe's own: index usage read before pg_stat_database's rows. */
	PgcObsStatsDatabase *early;
	size_t n_early;
};

/*
 * The probe, in three calls so that the figures use the SQL probe's
 * connections rather than opening their own (observe_pool.c,
 * observe_sql.c):
 *
 * observe_stats_begin - allocates p->out->stats and reads the /proc
 * figures; h is the node's host when it is this machine (after the files
 * probe: the postmaster's pid), NULL otherwise.
 *
 * observe_stats_database - the index usage of declared database dbname,
 * through the SQL probe's connection to it (dbconn), as the last use of
 * that connection: a query that times out may leave it unusable.
 *
 * observe_stats_server - the rest, through the SQL probe's connection to
 * "postgres" once it has read everything the planner needs (same reason);
 * declared databases the SQL probe did not visit (a replica's) get a
 * connection of their own.
 *
 * observe_stats_unreachable - the server could not be reached (why).
 *
 * Each does nothing when the figures were not asked for (stats NULL), and
 * reports nothing: failures go to stats->error (and the debug log).
 */
void observe_stats_begin(Probe *p, PgcHost *h);
void observe_stats_database(Probe *p, PGconn *dbconn, const char *dbname);
void observe_stats_server(Probe *p, PGconn *conn);
void observe_stats_unreachable(Probe *p, const char *why);

/*
 * observe_stats_metrics - the monitoring families of every node of o in
 * Prometheus' text format, each with its # HELP and # TYPE (also when no
 * node has a sample), labels cluster, node, and database or state. Nodes
 * without stats are skipped. Replication lag is computed against the
 * cluster's live primary, as status does.
 */
void observe_stats_metrics(FILE *f, const PgcObserved *o);

#endif
