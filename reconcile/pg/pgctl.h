/*
 * reconcile/pg/pgctl.h - a node's server process through pg_ctl: status,
 * start, stop, restart, reload, and the waits that make "started" mean
 * "accepts connections" (and, for a standby, "streams from its upstream").
 *
 * pg_ctl runs on the node's host as the cluster's os_user (host_run), from
 * the cluster's bin_dir. Starting leaves a postmaster behind, so start and
 * restart run pg_ctl detached (its own session: a Ctrl-C at pgconverge's
 * terminal does not reach the server) and the server writes its stderr to
 * PGCTL_LOG_FILE inside the data directory (pg_ctl -l), never to the pipe
 * pgconverge reads (common/proc.h, "Daemons and the output pipe").
 *
 * All functions report failures themselves (log_error, with pg_ctl's
 * output or the tail of the server log) and return -1; callers do not log
 * them again.
 */
#ifndef PGC_RECONCILE_PG_PGCTL_H
#define PGC_RECONCILE_PG_PGCTL_H

#include <stdbool.h>

#include "reconcile/pg/layout.h"
#include "reconcile/transport/host.h"
#include "schema/topology.h"

/* The server's log while no logging_collector takes over, relative to the data dir. */
#define PGCTL_LOG_DIR "log"
#define PGCTL_LOG_FILE "log/pgconverge-start.log"

/* pgctl_status - 1 running, 0 not running, -1 error (no data directory: reported). */
int pgctl_status(PgcHost *h, const PgcCluster *c, const PgcNode *n);

/*
 * pgctl_ensure_socket_dir - creates PGC_SOCKET_DIR (owned by os_user, mode
 * 2775) when missing; an existing folder is left as it is.
 */
int pgctl_ensure_socket_dir(PgcHost *h);

/*
 * pgctl_start - starts the server unless it runs already, then waits (at
 * most timeout_s) until it accepts connections. 0 when it runs.
 */
int pgctl_start(PgcHost *h, const PgcCluster *c, const PgcNode *n, int timeout_s);

/*
 * pgctl_start_if_stopped - pg_ctl start unless the server runs; *started
 * tells which. No wait for connections.
 */
int pgctl_start_if_stopped(PgcHost *h, const PgcCluster *c, const PgcNode *n, int timeout_s,
			   bool *started);

/* pgctl_stop - pg_ctl stop -m MODE (fast, smart, immediate); 0 also when it was not running. */
int pgctl_stop(PgcHost *h, const PgcCluster *c, const PgcNode *n, const char *mode, int timeout_s);

/* pgctl_restart - pg_ctl restart -m fast, then waits until it accepts connections. */
int pgctl_restart(PgcHost *h, const PgcCluster *c, const PgcNode *n, int timeout_s);

/* pgctl_reload - pg_ctl reload (SIGHUP); the server must be running. */
int pgctl_reload(PgcHost *h, const PgcCluster *c, const PgcNode *n, int timeout_s);

/*
 * pgctl_wait_ready - polls PQping on the node's local socket until the
 * server accepts connections; -1 (reported) after timeout_s seconds.
 */
int pgctl_wait_ready(const PgcCluster *c, const PgcNode *n, int timeout_s);

/*
 * pgctl_wait_streaming - polls pg_stat_wal_receiver on a standby until its
 * status is "streaming"; -1 (reported, with the last status seen) after
 * timeout_s seconds.
 */
int pgctl_wait_streaming(const PgcCluster *c, const PgcNode *n, int timeout_s);

/* pgctl_is_standby - 1 when the data directory holds standby.signal, 0 not, -1 error. */
int pgctl_is_standby(PgcHost *h, const PgcNode *n);

#endif
