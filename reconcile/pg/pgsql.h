/*
 * reconcile/pg/pgsql.h - the one way pgconverge talks SQL: libpq with bounded
 * connects and queries, parameters instead of interpolation, SQLSTATE kept.
 *
 * Every call is bounded. pgsql_connect() drives PQconnectStart/PQconnectPoll
 * with poll() until a deadline (connect_timeout is also put in the conninfo
 * by pgsql_conninfo_*). pgsql_query() sends with PQsendQueryParams, waits on
 * PQsocket() with poll() until the deadline, and on expiry sends PQcancel()
 * and drains the result for a short grace period; a connection whose result
 * could not be drained is reported as timed out and must be PQfinish()ed.
 *
 * Parallelism: observe runs one probe per node on a pool of threads
 * (pthreads), each probe with its own connections and these bounded,
 * non-blocking calls, so a dead or slow node costs at most its own timeouts
 * and never stalls the others. This was preferred to one poll loop driving
 * every node's state machine: a probe is a dozen queries plus pg_controldata,
 * which read straight through as code, and the pool gives the same bound.
 * One thread, one PGconn: never share a connection between threads; libpq
 * is built thread-safe on Debian (PQisthreadsafe()).
 *
 * Notices (NOTICE, WARNING) from the server go to log_debug().
 *
 * Errors: pgsql_exec() reports a failure with log_error() ("query failed:
 * MESSAGE (SQLSTATE XXXXX)"); pgsql_query() reports nothing and fills a
 * PgcPgError, for callers to whom failure is a normal outcome (observe).
 * Both also record the failure as this thread's last error, readable with
 * pgsql_last_sqlstate() / pgsql_last_error(). SQL text is never logged: a
 * statement may carry a password verifier.
 *
 * Memory: PGconn and PGresult are libpq's (PQfinish / PQclear); strings
 * returned with an arena argument belong to that arena.
 */
#ifndef PGC_RECONCILE_PG_PGSQL_H
#define PGC_RECONCILE_PG_PGSQL_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "common/arena.h"
#include "reconcile/pg/layout.h"
#include "schema/topology.h"

/* Default bounds used when a caller passes 0. */
#define PGSQL_CONNECT_TIMEOUT_S 3
/* tcp_user_timeout of every TCP connection: unacknowledged data this long ends it. */
#define PGSQL_TCP_USER_TIMEOUT_S 10
#define PGSQL_QUERY_TIMEOUT_MS 5000
/* How long a cancelled query may take to come back before the connection is given up. */
#define PGSQL_CANCEL_GRACE_MS 2000

/* SQLSTATE values pgconverge sets itself when the server gave none. */
#define PGSQL_STATE_TIMEOUT "57014"    /* query_canceled: our deadline expired */
#define PGSQL_STATE_CONNECTION "08006" /* connection_failure: socket/protocol trouble */

typedef struct {
	char sqlstate[6];   /* five characters + NUL; "" when the call succeeded */
	char message[512];  /* first line of PQerrorMessage / PQresultErrorMessage, trimmed */
	bool timed_out;     /* the deadline expired (the query was cancelled) */
	bool conn_bad;      /* the connection is unusable afterwards */
} PgcPgError;

/*
 * pgsql_conninfo_local - conninfo for a node on this machine, through the
 * unix socket in PGC_SOCKET_DIR (pg/layout.h) as the cluster's superuser (peer
 * authentication mapped by the managed pg_hba/pg_ident):
 *   host=/var/run/postgresql port=PORT user=OS_USER dbname=DBNAME
 *   connect_timeout=3 application_name=pgconverge client_encoding=UTF8
 * Values are quoted as conninfo requires. dbname NULL means "postgres".
 */
char *pgsql_conninfo_local(PgcArena *a, int port, const char *os_user, const char *dbname);

/*
 * pgsql_conninfo_socket - the same with an explicit socket folder (tests,
 * and servers whose unix_socket_directories differs).
 */
char *pgsql_conninfo_socket(PgcArena *a, const char *socket_dir, int port, const char *os_user,
			    const char *dbname);

/*
 * pgsql_conninfo_tcp - conninfo for a node reached over TCP (host is a name
 * or address), same user/dbname/timeout/application_name conventions.
 */
char *pgsql_conninfo_tcp(PgcArena *a, const char *host, int port, const char *user,
			 const char *dbname);

/*
 * pgsql_node_conninfo - how pgconverge reaches node n of cluster c as the
 * superuser (c's os_user): pgsql_conninfo_local() for a node on this
 * machine (host_is_local()), pgsql_conninfo_tcp() otherwise. dbname NULL
 * means "postgres". Owned by a.
 */
char *pgsql_node_conninfo(PgcArena *a, const PgcCluster *c, const PgcNode *n, const char *dbname);

/* pgsql_conninfo_value - one conninfo value quoted: 'it\'s' ('' when empty). */
char *pgsql_conninfo_value(PgcArena *a, const char *value);

/*
 * pgsql_connect - opens a connection within timeout_s seconds (0: the
 * default). Returns the connection, or NULL with libpq's message (first
 * line, trimmed, e.g. "connection to server on socket ... failed: No such
 * file or directory") in err. Nothing is logged: an unreachable node is an
 * observation, not an error. The notice processor is installed.
 */
PGconn *pgsql_connect(const char *conninfo, int timeout_s, char *err, size_t errlen);

/*
 * pgsql_query - runs one statement (parameters $1..$n as text, NULL for SQL
 * NULL; params may be NULL when nparams is 0) within timeout_ms (0: the
 * default). Returns 0 when the statement succeeded (PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK); *res then holds the result (caller PQclear()s) unless
 * res is NULL. Returns -1 on failure with err filled (err may be NULL) and
 * *res NULL. Only one statement per call; nothing is logged.
 */
int pgsql_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
		int timeout_ms, PGresult **res, PgcPgError *err);

/*
 * pgsql_exec - pgsql_query() that reports a failure with log_error():
 *   query failed: MESSAGE (SQLSTATE XXXXX)
 * The SQLSTATE stays readable with pgsql_last_sqlstate().
 */
int pgsql_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
	       int timeout_ms, PGresult **res);

/*
 * pgsql_last_sqlstate / pgsql_last_error - this thread's last failure from
 * pgsql_query/pgsql_exec ("" after a success). Thread-local storage: valid
 * until the thread's next call.
 */
const char *pgsql_last_sqlstate(void);
const char *pgsql_last_error(void);

/*
 * pgsql_quote_ident - name as an SQL identifier, with PostgreSQL's
 * quote_ident() rule: left bare when it is only lowercase ASCII letters,
 * digits and '_', does not start with a digit and is not a keyword (the
 * reserved/type/column-name keywords of PostgreSQL 15's kwlist.h, which is
 * what quote_ident() checks: unreserved keywords stay bare); otherwise
 * wrapped in double quotes with '"' doubled. Deterministic and free of any
 * connection, so the pure planner can use it.
 */
char *pgsql_quote_ident(PgcArena *a, const char *name);

/*
 * pgsql_quote_literal - value as an SQL string literal: '...' with ' doubled;
 * a value holding a backslash is written E'...' with \ doubled too, so the
 * result is right whatever standard_conforming_strings says.
 */
char *pgsql_quote_literal(PgcArena *a, const char *value);

/*
 * pgsql_is_keyword - true when name (lowercase) is a keyword that
 * quote_ident() would quote. Exposed for tests.
 */
bool pgsql_is_keyword(const char *name);

/* pgsql_server_label - "HOST:PORT" of a connection for messages (host may be a socket folder), into buf. */
const char *pgsql_server_label(const PGconn *conn, char *buf, size_t size);

#endif
