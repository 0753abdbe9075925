/*
 * reconcile/pg/pgsql.c - bounded libpq connections and queries (see pgsql.h).
 */
#include "reconcile/pg/pgsql.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/pg/layout.h"
#include "reconcile/transport/host.h"

/* The failure of this thread's last pgsql_query(). */
static _Thread_local PgcPgError last_error;

/* copy_first_line - the first line of msg, without trailing white space. */
static void copy_first_line(char *dst, size_t size, const char *msg)
{
	size_t n = 0;

	if (size == 0)
		return;
	if (msg == NULL)
		msg = "";
	while (msg[n] != '\0' && msg[n] != '\n')
		n++;
	while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\t' || msg[n - 1] == '\r'))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(dst, msg, n);
	dst[n] = '\0';
}

/* notice_to_log - libpq notice processor: server notices are debug output. */
static void notice_to_log(void *arg, const char *message)
{
	char line[512];

	(void)arg;
	copy_first_line(line, sizeof line, message);
	log_debug("server notice: %s", line);
}

char *pgsql_conninfo_value(PgcArena *a, const char *value)
{
	size_t n = 0;
	char *out, *p;

	if (value == NULL)
		value = "";
	for (const char *s = value; *s != '\0'; s++)
		n += (*s == '\'' || *s == '\\') ? 2 : 1;
	out = p = arena_alloc(a, n + 3);
	*p++ = '\'';
	for (const char *s = value; *s != '\0'; s++) {
		if (*s == '\'' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p++ = '\'';
	*p = '\0';
	return out;
}

/*
 * conninfo - the common part of every conninfo pgconverge builds.
 * tcp_user_timeout (TCP only; libpq ignores it on a socket) bounds what
 * connect_timeout does not: PQcancel()'s own connection, which libpq 15
 * opens without connect_timeout, blocked for about 70 s against a host cut
 * off the network. PGSQL_TCP_USER_TIMEOUT_S long, so that a burst of loss
 * on a long link does not break a connection (pg_rewind's among them).
 */
static char *conninfo(PgcArena *a, const char *host, int port, const char *user,
		      const char *dbname)
{
	return arena_printf(a,
			    "host=%s port=%d user=%s dbname=%s connect_timeout=%d "
			    "tcp_user_timeout=%d application_name=pgconverge client_encoding=UTF8",
			    pgsql_conninfo_value(a, host), port, pgsql_conninfo_value(a, user),
			    pgsql_conninfo_value(a, dbname != NULL ? dbname : "postgres"),
			    PGSQL_CONNECT_TIMEOUT_S, PGSQL_TCP_USER_TIMEOUT_S * 1000);
}

char *pgsql_conninfo_local(PgcArena *a, int port, const char *os_user, const char *dbname)
{
	return conninfo(a, PGC_SOCKET_DIR, port, os_user, dbname);
}

char *pgsql_conninfo_socket(PgcArena *a, const char *socket_dir, int port, const char *os_user,
			    const char *dbname)
{
	return conninfo(a, socket_dir, port, os_user, dbname);
}

char *pgsql_conninfo_tcp(PgcArena *a, const char *host, int port, const char *user,
			 const char *dbname)
{
	return conninfo(a, host, port, user, dbname);
}

char *pgsql_node_conninfo(PgcArena *a, const PgcCluster *c, const PgcNode *n, const char *dbname)
{
	if (host_is_local(n->host.v))
		return pgsql_conninfo_local(a, (int)n->port.v, c->os_user.v, dbname);
	return pgsql_conninfo_tcp(a, n->host.v, (int)n->port.v, c->os_user.v, dbname);
}

/*
 * wait_socket - waits until fd is readable (or writable) or the deadline
 * passes. Returns 1 ready, 0 timed out, -1 poll error (errno).
 */
static int wait_socket(int fd, bool for_write, long long deadline)
{
	for (;;) {
		long long left = deadline - clock_ms();
		struct pollfd pfd = {.fd = fd, .events = for_write ? POLLOUT : POLLIN};
		int rc;

		if (left <= 0)
			return 0;
		rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (rc > 0)
			return 1;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

/* timeout_message - worded as libpq words its own connection failures. */
static void timeout_message(const PGconn *conn, int timeout_s, char *err, size_t errlen)
{
	const char *host = PQhost(conn), *port = PQport(conn);

	if (host != NULL && host[0] == '/')
		snprintf(err, errlen,
			 "connection to server on socket \"%s/.s.PGSQL.%s\" failed: timeout expired "
			 "after %d s", host, port != NULL ? port : "5432", timeout_s);
	else
		snprintf(err, errlen,
			 "connection to server at \"%s\", port %s failed: timeout expired after %d s",
			 host != NULL ? host : "?", port != NULL ? port : "5432", timeout_s);
}

PGconn *pgsql_connect(const char *conninfo_str, int timeout_s, char *err, size_t errlen)
{
	PGconn *conn;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	long long deadline;
	char ignored[1];

	if (err == NULL || errlen == 0) {
		err = ignored;
		errlen = sizeof ignored;
	}
	err[0] = '\0';
	if (timeout_s <= 0)
		timeout_s = PGSQL_CONNECT_TIMEOUT_S;
	deadline = clock_ms() + (long long)timeout_s * 1000;
	conn = PQconnectStart(conninfo_str);
	if (conn == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (PQstatus(conn) == CONNECTION_BAD)
		goto failed;
	/* libpq's own connect_timeout only applies to PQconnectdb: the deadline here does it. */
	while (st != PGRES_POLLING_OK) {
		int rc;

		if (st == PGRES_POLLING_FAILED)
			goto failed;
		rc = wait_socket(PQsocket(conn), st == PGRES_POLLING_WRITING, deadline);
		if (rc == 0) {
			timeout_message(conn, timeout_s, err, errlen);
			PQfinish(conn);
			return NULL;
		}
		if (rc < 0) {
			snprintf(err, errlen, "could not wait for the connection: %s", strerror(errno));
			PQfinish(conn);
			return NULL;
		}
		st = PQconnectPoll(conn);
	}
	PQsetNoticeProcessor(conn, notice_to_log, NULL);
	return conn;

failed:
	copy_first_line(err, errlen, PQerrorMessage(conn));
	PQfinish(conn);
	return NULL;
}

/* set_error - fills e (and the thread's last error). */
static void set_error(PgcPgError *e, const char *sqlstate, const char *message, bool timed_out,
		      bool conn_bad)
{
	snprintf(e->sqlstate, sizeof e->sqlstate, "%s", sqlstate != NULL ? sqlstate : "");
	copy_first_line(e->message, sizeof e->message, message);
	e->timed_out = timed_out;
	e->conn_bad = conn_bad;
}

/* conn_error - a failure of the connection itself (not of a statement). */
static void conn_error(PGconn *conn, PgcPgError *e)
{
	set_error(e, PGSQL_STATE_CONNECTION, PQerrorMessage(conn), false,
		  PQstatus(conn) == CONNECTION_BAD);
	if (e->message[0] == '\0')
		snprintf(e->message, sizeof e->message, "connection lost");
}

/* result_error - a statement's error result. */
static void result_error(const PGresult *r, PgcPgError *e)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

	set_error(e, state != NULL ? state : PGSQL_STATE_CONNECTION,
		  primary != NULL ? primary : PQresultErrorMessage(r), false, false);
	if (e->message[0] == '\0')
		snprintf(e->message, sizeof e->message, "%s", PQresStatus(PQresultStatus(r)));
}

static void *cancel_main(void *arg)
{
	PGcancel *c = arg;
	char buf[256];

	if (!PQcancel(c, buf, sizeof buf))
		log_debug("could not send a cancel request: %s", buf);
	PQfreeCancel(c);
	return NULL;
}

/*
 * cancel - asks the server to cancel the running statement. PQcancel()
 * opens its own short connection and is safe to call from any thread, but
 * its connect is blocking and has no timeout (libpq 15): to a host cut off
 * from the network it waits as long as TCP retries. So it runs in a
 * detached thread of its own, and the caller waits PGSQL_CANCEL_GRACE_MS
 * for the server's answer as before; without a thread, here.
 */
static void cancel(PGconn *conn)
{
	PGcancel *c = PQgetCancel(conn);
	pthread_attr_t at;
	pthread_t th;
	bool started = false;

	if (c == NULL)
		return;
	if (pthread_attr_init(&at) == 0) {
		started = pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED) == 0 &&
			  pthread_create(&th, &at, cancel_main, c) == 0;
		pthread_attr_destroy(&at);
	}
	if (!started)
		(void)cancel_main(c);
}

/*
 * collect - reads every result of the statement sent, waiting on the
 * socket until deadline; on expiry cancels once and waits a grace period.
 * Keeps the first error or the last successful result.
 */
static int collect(PGconn *conn, long long deadline, int timeout_ms, PGresult **res,
		   PgcPgError *e)
{
	PGresult *keep = NULL;
	bool failed = false, cancelled = false;

	for (;;) {
		PGresult *r;

		while (PQisBusy(conn)) {
			int rc = wait_socket(PQsocket(conn), false, deadline);

			if (rc == 0) {
				if (cancelled) {
					/* The server did not answer the cancel: give the connection up. */
					set_error(e, PGSQL_STATE_TIMEOUT, "", true, true);
					snprintf(e->message, sizeof e->message,
						 "query timed out after %d ms and could not be cancelled",
						 timeout_ms);
					PQclear(keep);
					return -1;
				}
				cancel(conn);
				cancelled = true;
				deadline = clock_ms() + PGSQL_CANCEL_GRACE_MS;
				continue;
			}
			if (rc < 0 || !PQconsumeInput(conn)) {
				if (rc < 0)
					set_error(e, PGSQL_STATE_CONNECTION, strerror(errno), false, true);
				else
					conn_error(conn, e);
				e->conn_bad = true;
				PQclear(keep);
				return -1;
			}
		}
		r = PQgetResult(conn);
		if (r == NULL)
			break;
		switch (PQresultStatus(r)) {
		case PGRES_COMMAND_OK:
		case PGRES_TUPLES_OK:
			if (!failed) {
				PQclear(keep);
				keep = r;
				r = NULL;
			}
			break;
		default:
			if (!failed)
				result_error(r, e);
			failed = true;
			break;
		}
		PQclear(r);
	}
	if (cancelled) {
		/* Whatever came back, the statement did not finish in time. */
		set_error(e, PGSQL_STATE_TIMEOUT, "", true, false);
		snprintf(e->message, sizeof e->message, "query timed out after %d ms", timeout_ms);
		failed = true;
	}
	if (failed) {
		PQclear(keep);
		e->conn_bad = PQstatus(conn) == CONNECTION_BAD;
		return -1;
	}
	if (res != NULL)
		*res = keep;
	else
		PQclear(keep);
	return 0;
}

int pgsql_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
		int timeout_ms, PGresult **res, PgcPgError *err)
{
	PgcPgError local;
	PgcPgError *e = err != NULL ? err : &local;
	long long deadline;
	int rc;

	memset(e, 0, sizeof *e);
	if (res != NULL)
		*res = NULL;
	if (timeout_ms <= 0)
		timeout_ms = PGSQL_QUERY_TIMEOUT_MS;
	deadline = clock_ms() + timeout_ms;
	if (conn == NULL || sql == NULL) {
		set_error(e, PGSQL_STATE_CONNECTION, "no connection", false, true);
		rc = -1;
	} else if (PQstatus(conn) != CONNECTION_OK) {
		conn_error(conn, e);
		e->conn_bad = true;
		rc = -1;
	} else if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0)) {
		conn_error(conn, e);
		rc = -1;
	} else {
		rc = collect(conn, deadline, timeout_ms, res, e);
	}
	if (rc == 0)
		memset(&last_error, 0, sizeof last_error);
	else
		last_error = *e;
	return rc;
}

int pgsql_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
	       int timeout_ms, PGresult **res)
{
	PgcPgError e;

	if (pgsql_query(conn, sql, nparams, params, timeout_ms, res, &e) == 0)
		return 0;
	log_error("query failed: %s (SQLSTATE %s)", e.message, e.sqlstate);
	return -1;
}

const char *pgsql_last_sqlstate(void)
{
	return last_error.sqlstate;
}

const char *pgsql_last_error(void)
{
	return last_error.message;
}

/*
 * Keywords quote_ident() quotes: every PostgreSQL 15 keyword whose category
 * is not UNRESERVED_KEYWORD (SELECT word FROM pg_get_keywords() WHERE
 * catcode <> 'U'), sorted for bsearch.
 */
static const char *const quoted_keywords[] = {
	"all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric",
	"authorization", "between", "bigint", "binary", "bit", "boolean", "both", "case", "cast",
	"char", "character", "check", "coalesce", "collate", "collation", "column", "concurrently",
	"constraint", "create", "cross", "current_catalog", "current_date", "current_role",
	"current_schema", "current_time", "current_timestamp", "current_user", "dec", "decimal",
	"default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "exists",
	"extract", "false", "fetch", "float", "for", "foreign", "freeze", "from", "full", "grant",
	"greatest", "group", "grouping", "having", "ilike", "in", "initially", "inner", "inout",
	"int", "integer", "intersect", "interval", "into", "is", "isnull", "join", "lateral",
	"leading", "least", "left", "like", "limit", "localtime", "localtimestamp", "national",
	"natural", "nchar", "none", "normalize", "not", "notnull", "null", "nullif", "numeric",
	"offset", "on", "only", "or", "order", "out", "outer", "overlaps", "overlay", "placing",
	"position", "precision", "primary", "real", "references", "returning", "right", "row",
	"select", "session_user", "setof", "similar", "smallint", "some", "substring", "symmetric",
	"table", "tablesample", "then", "time", "timestamp", "to", "trailing", "treat", "trim",
	"true", "union", "unique", "user", "using", "values", "varchar", "variadic", "verbose",
	"when", "where", "window", "with", "xmlattributes", "xmlconcat", "xmlelement", "xmlexists",
	"xmlforest", "xmlnamespaces", "xmlparse", "xmlpi", "xmlroot", "xmlserialize", "xmltable",
};

static int cmp_word(const void *key, const void *elem)
{
	return strcmp((const char *)key, *(const char *const *)elem);
}

bool pgsql_is_keyword(const char *name)
{
	return name != NULL &&
	       bsearch(name, quoted_keywords, sizeof quoted_keywords / sizeof quoted_keywords[0],
		       sizeof quoted_keywords[0], cmp_word) != NULL;
}

char *pgsql_quote_ident(PgcArena *a, const char *name)
{
	bool safe;
	size_t n = 0;
	char *out, *p;

	if (name == NULL)
		name = "";
	safe = name[0] != '\0' && !(name[0] >= '0' && name[0] <= '9');
	for (const char *s = name; *s != '\0' && safe; s++)
		safe = (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_';
	if (safe && !pgsql_is_keyword(name))
		return arena_strdup(a, name);
	for (const char *s = name; *s != '\0'; s++)
		n += *s == '"' ? 2 : 1;
	out = p = arena_alloc(a, n + 3);
	*p++ = '"';
	for (const char *s = name; *s != '\0'; s++) {
		if (*s == '"')
			*p++ = '"';
		*p++ = *s;
	}
	*p++ = '"';
	*p = '\0';
	return out;
}

char *pgsql_quote_literal(PgcArena *a, const char *value)
{
	bool backslash;
	size_t n = 0;
	char *out, *p;

	if (value == NULL)
		value = "";
	backslash = strchr(value, '\\') != NULL;
	for (const char *s = value; *s != '\0'; s++)
		n += (*s == '\'' || *s == '\\') ? 2 : 1;
	out = p = arena_alloc(a, n + 4);
	if (backslash)
		*p++ = 'E';
	*p++ = '\'';
	for (const char *s = value; *s != '\0'; s++) {
		if (*s == '\'' || (*s == '\\' && backslash))
			*p++ = *s;
		*p++ = *s;
	}
	*p++ = '\'';
	*p = '\0';
	return out;
}

const char *pgsql_server_label(const PGconn *conn, char *buf, size_t size)
{
	const char *host = conn != NULL ? PQhost(conn) : NULL;
	const char *port = conn != NULL ? PQport(conn) : NULL;

	snprintf(buf, size, "%s:%s", host != NULL ? host : "?", port != NULL ? port : "?");
	return buf;
}
