/*
 * reconcile/postgres/start.c - the start and restart actions: pg_ctl
 * (pg/pgctl.h) plus the waits that make a standby "back" only when it
 * streams again, and a restart of a standby wait for its replay first.
 */
#include "reconcile/postgres/start.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/log.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/transport/host.h"

/* How often a standby's replay position is polled before its restart. */
#define RESTART_POLL_MS 200

/*
 * STREAM_CHECK_TIMEOUT_S - how long start waits for a standby that was
 * already running to stream again (the plan's check of a replica that
 * streams from nobody). Its WAL receiver retries every
 * wal_retrieve_retry_interval (5 s by default): a few tries are enough, and
 * a replica that stays broken must not hold up every loop pass (and the
 * failover decision made between passes) for the whole ready timeout.
 */
#define STREAM_CHECK_TIMEOUT_S 20

/* after_start - a standby is only back when it streams again. */
static int after_start(PgcExecCtx *ctx, bool started)
{
	int standby = pgctl_is_standby(ctx->host, ctx->n);
	int timeout_s = ctx->ready_timeout_s;

	if (!started && timeout_s > STREAM_CHECK_TIMEOUT_S)
		timeout_s = STREAM_CHECK_TIMEOUT_S;
	if (standby < 0)
		return exec_note(ctx, "could not look for standby.signal");
	if (standby == 1 && pgctl_wait_streaming(ctx->c, ctx->n, timeout_s) != 0)
		return exec_note(ctx, "standby \"%s\" is not streaming after %d s",
				  exec_node_label(ctx, ctx->n), timeout_s);
	return 0;
}

int start_run(PgcExecCtx *ctx)
{
	bool started;

	if (exec_need_host(ctx) != 0)
		return -1;
	if (pgctl_start_if_stopped(ctx->host, ctx->c, ctx->n, ctx->ready_timeout_s, &started) != 0 ||
	    pgctl_wait_ready(ctx->c, ctx->n, ctx->ready_timeout_s) != 0)
		return exec_note(ctx, "could not start the server of node \"%s\"",
				  exec_node_label(ctx, ctx->n));
	ctx->nothing_to_do = !started;
	return after_start(ctx, started);
}

/*
 * wait_caught_up - before a standby restarts, it replays its upstream's WAL
 * up to the upstream's position of now. Its pg_control then holds the
 * primary's current parameter values (the XLOG_PARAMETER_CHANGE record a
 * primary writes when it starts with new ones): a standby restarted with a
 * lowered max_connections (& co) before it replayed the primary's lowering
 * refuses to start ("recovery aborted because of insufficient parameter
 * settings") and stays down. An upstream that does not answer is not
 * waited for (a warning): the restart goes ahead as before.
 * Used in the lower-primary-first phase (plan.h), the one where it matters.
 */
static int wait_caught_up(PgcExecCtx *ctx)
{
	const PgcNode *up = cluster_upstream(ctx->c, ctx->n);
	double deadline = clock_ms() + (long long)ctx->ready_timeout_s * 1000;
	const char *params[1] = {NULL};
	PGconn *uc = NULL, *conn = NULL;
	PGresult *r = NULL;
	PgcPgError e;
	char err[512], lsn[64];
	int rc = -1;

	if (up == NULL || up == ctx->n)
		return 0;
	uc = pgsql_connect(pgsql_node_conninfo(ctx->arena, ctx->c, up, NULL), 0, err, sizeof(err));
	if (uc == NULL || pgsql_query(uc,
				      "SELECT CASE WHEN pg_catalog.pg_is_in_recovery() "
				      "THEN pg_catalog.pg_last_wal_replay_lsn() "
				      "ELSE pg_catalog.pg_current_wal_lsn() END",
				      0, NULL, 0, &r, &e) != 0 ||
	    PQgetisnull(r, 0, 0)) {
		log_warn("restarting standby \"%s\" without waiting for it to catch up: its "
			 "upstream \"%s\" gives no WAL position",
			 exec_node_label(ctx, ctx->n), up->name);
		rc = 0;
		goto cleanup;
	}
	snprintf(lsn, sizeof(lsn), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	r = NULL;
	params[0] = lsn;
	conn = pgsql_connect(pgsql_node_conninfo(ctx->arena, ctx->c, ctx->n, NULL), 0, err,
			     sizeof(err));
	for (;;) {
		if (conn != NULL &&
		    pgsql_query(conn, "SELECT pg_catalog.pg_last_wal_replay_lsn() >= $1::pg_lsn", 1,
				params, 0, &r, &e) == 0) {
			bool done = !PQgetisnull(r, 0, 0) && strcmp(PQgetvalue(r, 0, 0), "t") == 0;

			PQclear(r);
			r = NULL;
			if (done) {
				rc = 0;
				break;
			}
		}
		if (clock_ms() >= deadline) {
			exec_fail(ctx,
				   "standby \"%s\" has not replayed its upstream's WAL up to %s after "
				   "%d s: restarted now, it could refuse to start\n"
				   "hint: look at its replication from \"%s\"",
				   exec_node_label(ctx, ctx->n), lsn, ctx->ready_timeout_s,
				   up->name);
			break;
		}
		clock_sleep_ms(RESTART_POLL_MS);
	}
cleanup:
	PQclear(r);
	PQfinish(conn);
	PQfinish(uc);
	return rc;
}

int start_restart(PgcExecCtx *ctx)
{
	int standby;

	if (exec_need_host(ctx) != 0)
		return -1;
	standby = pgctl_is_standby(ctx->host, ctx->n);
	if (standby < 0)
		return exec_note(ctx, "could not look for standby.signal");
	/* Only a lowering needs it: then the primary restarted first, with the new values. */
	if (standby == 1 && ctx->a->phase != NULL &&
	    strcmp(ctx->a->phase, "lower-primary-first") == 0 && wait_caught_up(ctx) != 0)
		return -1;
	if (pgctl_restart(ctx->host, ctx->c, ctx->n, ctx->ready_timeout_s) != 0)
		return exec_note(ctx, "could not restart the server of node \"%s\"",
				  exec_node_label(ctx, ctx->n));
	return after_start(ctx, true);
}
