/*
 * reconcile/pg/pgctl.c - pg_ctl and the waits around it (pgctl.h), and the
 * ACT_START / ACT_RESTART actions.
 */
#include "reconcile/pg/pgctl.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/proc.h"
#include "reconcile/pg/layout.h"
#include "reconcile/pg/pgsql.h"

#define POLL_INTERVAL_MS 50
/* pg_ctl itself waits -t seconds; its process gets this much more before it is killed. */
#define PGCTL_GRACE_S 30
/* Lines of the server log shown when a start fails. */
#define LOG_TAIL_LINES 15
#define LOG_READ_MAX (8 * 1024 * 1024)

/* pgctl_prog - the pg_ctl of the cluster's bin_dir, in arena. */
static const char *pgctl_prog(PgcArena *a, const PgcCluster *c)
{
	return arena_printf(a, "%s/pg_ctl", c->bin_dir.v);
}

/*
 * log_tail_text - the last lines of the server log (pg_ctl -l), for a
 * failed start, or NULL when it cannot be read. Owned by arena.
 */
static const char *log_tail_text(PgcArena *a, PgcHost *h, const PgcNode *n)
{
	const char *path = arena_printf(a, "%s/%s", n->data_dir.v, PGCTL_LOG_FILE);
	char *buf = NULL;
	size_t len = 0;
	const char *tail = NULL;
	int lines = 0;

	if (host_read_file(h, path, &buf, &len, LOG_READ_MAX) != 0) {
		free(buf);
		return NULL;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	tail = buf;
	for (size_t i = len; i > 0; i--) {
		if (buf[i - 1] == '\n' && ++lines == LOG_TAIL_LINES) {
			tail = buf + i;
			break;
		}
	}
	tail = len > 0 ? arena_printf(a, "server log \"%s\" ends with:\n%s", path, tail) : NULL;
	free(buf);
	return tail;
}

/*
 * run_pgctl - runs pg_ctl with argv[1..] (argv[0] is filled in here);
 * returns 0 and the result (caller frees it) when it ran, -1 when it could
 * not be started (reported).
 */
static int run_pgctl(PgcHost *h, const char **argv, bool detach, int timeout_s, PgcProcResult *res)
{
	PgcProcSpec spec = {0};

	spec.argv = argv;
	spec.run_as = host_os_user(h);
	spec.timeout_ms = (timeout_s + PGCTL_GRACE_S) * 1000;
	spec.detach = detach;
	return host_run(h, &spec, res);
}

/*
 * run_pgctl_checked - run_pgctl() in the foreground that must exit 0:
 * 0, or -1 with what failed reported (what: "could not ... node ...").
 */
static int run_pgctl_checked(PgcHost *h, const char **argv, int timeout_s, const char *what)
{
	PgcProcResult res;
	int rc = -1;

	if (run_pgctl(h, argv, false, timeout_s, &res) != 0)
		return -1;
	if (res.status != 0 || res.timed_out)
		proc_report_failed(what, argv[0], &res, NULL, 0);
	else
		rc = 0;
	proc_result_free(&res);
	return rc;
}

int pgctl_status(PgcHost *h, const PgcCluster *c, const PgcNode *n)
{
	PgcArena *a = arena_new();
	const char *argv[] = {pgctl_prog(a, c), "status", "-D", n->data_dir.v, NULL};
	PgcProcResult res;
	int rc = -1;

	if (run_pgctl(h, argv, false, 10, &res) != 0)
		goto cleanup;
	/* pg_ctl status: 0 running, 3 not running, 4 no accessible data directory. */
	if (res.status == 0 && !res.timed_out)
		rc = 1;
	else if (res.status == 3 && !res.timed_out)
		rc = 0;
	else
		proc_report_failed(
		    arena_printf(a, "could not get the status of the server in \"%s\"",
				 n->data_dir.v),
		    argv[0], &res, NULL, 0);
	proc_result_free(&res);
cleanup:
	arena_free(a);
	return rc;
}

int pgctl_ensure_socket_dir(PgcHost *h)
{
	/* Left as it is when it exists; setgid so that sockets and lock
	 * files keep the os_user's group. */
	return host_mkdir_p(h, PGC_SOCKET_DIR, 02775);
}

int pgctl_is_standby(PgcHost *h, const PgcNode *n)
{
	PgcArena *a = arena_new();
	char *buf = NULL;
	size_t len;
	int rc = host_read_file(h, arena_printf(a, "%s/standby.signal", n->data_dir.v), &buf, &len,
				4096);

	free(buf);
	arena_free(a);
	if (rc < 0)
		return -1;
	return rc == 0 ? 1 : 0;
}

/* prepare_start - the socket folder and the folder of the server log. */
static int prepare_start(PgcHost *h, PgcArena *a, const PgcNode *n)
{
	if (pgctl_ensure_socket_dir(h) != 0)
		return -1;
	return host_mkdir_p(h, arena_printf(a, "%s/%s", n->data_dir.v, PGCTL_LOG_DIR), 0700);
}

/* start_or_restart - pg_ctl start|restart -w, detached, with its log file. */
static int start_or_restart(PgcHost *h, const PgcCluster *c, const PgcNode *n, bool restart,
			    int timeout_s)
{
	PgcArena *a = arena_new();
	const char *argv[14];
	PgcProcResult res;
	size_t k = 0;
	int rc = -1;

	if (prepare_start(h, a, n) != 0)
		goto cleanup;
	argv[k++] = pgctl_prog(a, c);
	argv[k++] = restart ? "restart" : "start";
	argv[k++] = "-D";
	argv[k++] = n->data_dir.v;
	argv[k++] = "-w";
	argv[k++] = "-t";
	argv[k++] = arena_printf(a, "%d", timeout_s);
	argv[k++] = "-l";
	argv[k++] = arena_printf(a, "%s/%s", n->data_dir.v, PGCTL_LOG_FILE);
	if (restart) {
		argv[k++] = "-m";
		argv[k++] = "fast";
	}
	argv[k] = NULL;

	/* Detached: the postmaster it leaves behind outlives pgconverge. */
	if (run_pgctl(h, argv, true, timeout_s, &res) != 0)
		goto cleanup;
	if (res.status != 0 || res.timed_out) {
		const char *what = arena_printf(a, "could not %s the server of node \"%s/%s\"",
						restart ? "restart" : "start", c->name, n->name);
		const char *tail = log_tail_text(a, h, n);

		proc_report_failed(what, argv[0], &res, NULL, 0);
		if (tail != NULL)
			log_error("%s", tail);
	} else {
		rc = 0;
	}
	proc_result_free(&res);
cleanup:
	arena_free(a);
	return rc;
}

int pgctl_start_if_stopped(PgcHost *h, const PgcCluster *c, const PgcNode *n, int timeout_s,
			    bool *started)
{
	int running = pgctl_status(h, c, n);

	*started = false;
	if (running < 0)
		return -1;
	if (running == 1)
		return 0;
	if (start_or_restart(h, c, n, false, timeout_s) != 0)
		return -1;
	*started = true;
	log_info("started the server of node \"%s/%s\"", c->name, n->name);
	return 0;
}

int pgctl_start(PgcHost *h, const PgcCluster *c, const PgcNode *n, int timeout_s)
{
	bool started;

	if (pgctl_start_if_stopped(h, c, n, timeout_s, &started) != 0)
		return -1;
	return pgctl_wait_ready(c, n, timeout_s);
}

int pgctl_restart(PgcHost *h, const PgcCluster *c, const PgcNode *n, int timeout_s)
{
	if (start_or_restart(h, c, n, true, timeout_s) != 0)
		return -1;
	log_info("restarted the server of node \"%s/%s\"", c->name, n->name);
	return pgctl_wait_ready(c, n, timeout_s);
}

int pgctl_stop(PgcHost *h, const PgcCluster *c, const PgcNode *n, const char *mode, int timeout_s)
{
	PgcArena *a = arena_new();
	const char *argv[10];
	int running, rc;
	size_t k = 0;

	running = pgctl_status(h, c, n);
	if (running <= 0) {
		arena_free(a);
		return running;
	}
	argv[k++] = pgctl_prog(a, c);
	argv[k++] = "stop";
	argv[k++] = "-D";
	argv[k++] = n->data_dir.v;
	argv[k++] = "-m";
	argv[k++] = mode ? mode : "fast";
	argv[k++] = "-w";
	argv[k++] = "-t";
	argv[k++] = arena_printf(a, "%d", timeout_s);
	argv[k] = NULL;
	rc = run_pgctl_checked(h, argv, timeout_s,
			       arena_printf(a, "could not stop the server of node \"%s/%s\"",
					    c->name, n->name));
	arena_free(a);
	return rc;
}

int pgctl_reload(PgcHost *h, const PgcCluster *c, const PgcNode *n, int timeout_s)
{
	PgcArena *a = arena_new();
	const char *argv[] = {pgctl_prog(a, c), "reload", "-D", n->data_dir.v, NULL};
	int rc = run_pgctl_checked(h, argv, timeout_s,
				   arena_printf(a, "could not reload the server of node \"%s/%s\"",
						c->name, n->name));

	arena_free(a);
	return rc;
}

static const char *ping_text(PGPing p)
{
	switch (p) {
	case PQPING_OK:
		return "accepting connections";
	case PQPING_REJECT:
		return "rejecting connections";
	case PQPING_NO_RESPONSE:
		return "no response";
	case PQPING_NO_ATTEMPT:
		return "no attempt made (bad connection parameters)";
	}
	return "unknown";
}

int pgctl_wait_ready(const PgcCluster *c, const PgcNode *n, int timeout_s)
{
	PgcArena *a = arena_new();
	const char *conninfo = pgsql_conninfo_local(a, (int)n->port.v, c->os_user.v, NULL);
	double deadline = clock_ms() + (long long)timeout_s * 1000;
	PGPing p;

	for (;;) {
		p = PQping(conninfo);
		if (p == PQPING_OK || p == PQPING_NO_ATTEMPT || clock_ms() >= deadline)
			break;
		clock_sleep_ms(POLL_INTERVAL_MS);
	}
	arena_free(a);
	if (p == PQPING_OK)
		return 0;
	log_error(
	    "server of node \"%s/%s\" is not accepting connections on port %lld after %d s: %s\n"
	    "hint: look at the server log \"%s/%s\"",
	    c->name, n->name, n->port.v, timeout_s, ping_text(p), n->data_dir.v, PGCTL_LOG_FILE);
	return -1;
}

int pgctl_wait_streaming(const PgcCluster *c, const PgcNode *n, int timeout_s)
{
	PgcArena *a = arena_new();
	const char *conninfo = pgsql_conninfo_local(a, (int)n->port.v, c->os_user.v, NULL);
	double deadline = clock_ms() + (long long)timeout_s * 1000;
	char last[512] = "no WAL receiver";
	PGconn *conn = NULL;
	int rc = -1;

	for (;;) {
		PgcPgError e;
		PGresult *r = NULL;

		/* Connect and query in the same pass: a replica that streams at
		 * once must not wait a poll interval for nothing. */
		if (conn == NULL)
			conn = pgsql_connect(conninfo, 0, last, sizeof(last));
		if (conn == NULL) {
			/* not accepting connections yet */
		} else if (pgsql_query(conn, "SELECT status FROM pg_catalog.pg_stat_wal_receiver",
				       0, NULL, 0, &r, &e) != 0) {
			snprintf(last, sizeof(last), "%s", e.message);
			if (e.conn_bad) {
				PQfinish(conn);
				conn = NULL;
			}
		} else {
			if (PQntuples(r) > 0 && strcmp(PQgetvalue(r, 0, 0), "streaming") == 0)
				rc = 0;
			else
				snprintf(last, sizeof(last), "%s",
					 PQntuples(r) > 0 ? PQgetvalue(r, 0, 0)
							  : "no WAL receiver");
			PQclear(r);
		}
		if (rc == 0 || clock_ms() >= deadline)
			break;
		clock_sleep_ms(POLL_INTERVAL_MS);
	}
	PQfinish(conn);
	arena_free(a);
	if (rc != 0)
		log_error(
		    "standby \"%s/%s\" is not streaming from its upstream after %d s: %s\n"
		    "hint: look at the server log \"%s/%s\" and at the upstream's pg_hba.conf",
		    c->name, n->name, timeout_s, last, n->data_dir.v, PGCTL_LOG_FILE);
	return rc;
}
