/*
 * reconcile/ha/switchover.c - planned switchover with rollback (switchover.h).
 */
#include "reconcile/ha/switchover.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/engine/frontdoor.h"
#include "reconcile/ha/failover.h"
#include "reconcile/ha/ha.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/pg/lsn.h"

#define POLL_MS 50
#define QUERY_TIMEOUT_MS 5000
#define DEFAULT_CATCHUP_BYTES (16ull * 1024 * 1024)

const char *switchover_outcome_name(PgcSwitchoverOutcome o)
{
	switch (o) {
	case SWITCHOVER_DONE:
		return "done";
	case SWITCHOVER_REFUSED:
		return "refused";
	case SWITCHOVER_ROLLED_BACK:
		return "rolled-back";
	case SWITCHOVER_FAILED:
		return "failed";
	}
	return "unknown";
}

void switchover_defaults(PgcSwitchoverOptions *o, const PgcSwitchoverOptions *in)
{
	if (in != NULL)
		*o = *in;
	else
		memset(o, 0, sizeof(*o));
	if (o->catchup_timeout_s <= 0)
		o->catchup_timeout_s = 60;
	if (o->catchup_bytes == 0)
		o->catchup_bytes = DEFAULT_CATCHUP_BYTES;
	if (o->stop_timeout_s <= 0)
		o->stop_timeout_s = 60;
	if (o->replay_timeout_s <= 0)
		o->replay_timeout_s = 60;
	if (o->promote_timeout_s <= 0)
		o->promote_timeout_s = 60;
	if (o->ready_timeout_s <= 0)
		o->ready_timeout_s = 60;
}

/* fail - keeps the step and a one-line error, logs it. Returns -1. */
static int fail(PgcSwitchoverResult *res, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(PgcSwitchoverResult *res, const char *step, const char *fmt, ...)
{
	va_list ap;

	res->step = step;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof res->error, fmt, ap);
	va_end(ap);
	log_error("%s", res->error);
	res->error[strcspn(res->error, "\n")] = '\0';
	return -1;
}

/*
 * wait_caught_up - the target streams from the primary with a replay lag
 * of at most max bytes. 0, or -1 with the last state seen in err.
 */
static int wait_caught_up(const PgcCluster *c, const PgcNode *from, const PgcNode *to,
			  uint64_t max, int timeout_s, char *err, size_t errlen)
{
	double deadline = clock_ms() + timeout_s * 1000.0;
	const char *params[1] = {to->name};
	PGconn *conn = ha_connect(c, from, 0, err, errlen);
	int rc = -1;

	if (conn == NULL)
		return -1;
	for (;;) {
		PGresult *r = NULL;
		PgcPgError e;

		if (pgsql_query(conn,
				"SELECT state, pg_catalog.pg_wal_lsn_diff("
				"pg_catalog.pg_current_wal_lsn(), replay_lsn)::bigint "
				"FROM pg_catalog.pg_stat_replication WHERE application_name = $1 "
				"ORDER BY backend_start DESC LIMIT 1",
				1, params, QUERY_TIMEOUT_MS, &r, &e) != 0) {
			snprintf(err, errlen, "%s (SQLSTATE %s)", e.message, e.sqlstate);
			break;
		}
		if (PQntuples(r) == 0) {
			snprintf(err, errlen, "\"%s\" does not stream from \"%s\"", to->name, from->name);
		} else if (strcmp(PQgetvalue(r, 0, 0), "streaming") != 0) {
			snprintf(err, errlen, "\"%s\" is in state \"%s\", not streaming", to->name,
				 PQgetvalue(r, 0, 0));
		} else if (PQgetisnull(r, 0, 1)) {
			snprintf(err, errlen, "the replay position of \"%s\" is unknown", to->name);
		} else {
			long long lag = strtoll(PQgetvalue(r, 0, 1), NULL, 10);

			if (lag <= (long long)max) {
				PQclear(r);
				rc = 0;
				break;
			}
			snprintf(err, errlen, "\"%s\" is %lld bytes behind, more than %llu", to->name,
				 lag, (unsigned long long)max);
		}
		PQclear(r);
		if (clock_ms() >= deadline)
			break;
		clock_sleep_ms(200);
	}
	PQfinish(conn);
	return rc;
}

int switchover_wait_replayed(const PgcCluster *c, const PgcNode *n, uint64_t lsn, int timeout_s,
			      uint64_t *seen, char *err, size_t errlen)
{
	double deadline = clock_ms() + timeout_s * 1000.0;
	PGconn *conn = NULL;

	*seen = 0;
	for (;;) {
		PGresult *r = NULL;
		PgcPgError e;

		if (conn == NULL)
			conn = ha_connect(c, n, 0, err, errlen);
		if (conn != NULL) {
			if (pgsql_query(conn, "SELECT pg_catalog.pg_last_wal_replay_lsn()::text", 0, NULL,
					QUERY_TIMEOUT_MS, &r, &e) != 0) {
				snprintf(err, errlen, "%s (SQLSTATE %s)", e.message, e.sqlstate);
				if (e.conn_bad) {
					PQfinish(conn);
					conn = NULL;
				}
			} else {
				uint64_t v;

				if (!PQgetisnull(r, 0, 0) && lsn_parse(PQgetvalue(r, 0, 0), &v) == 0)
					*seen = v;
				PQclear(r);
				/* The replay position is the end of the last record replayed. */
				if (*seen > lsn) {
					PQfinish(conn);
					return 0;
				}
			}
		}
		if (clock_ms() >= deadline)
			break;
		clock_sleep_ms(POLL_MS);
	}
	PQfinish(conn);
	return -1;
}

int switchover_in_recovery(const PgcCluster *c, const PgcNode *n)
{
	PgcArena *a = arena_new();
	const char *v = NULL;
	char err[600];
	int rc = ha_query_value(a, c, n, "SELECT pg_catalog.pg_is_in_recovery()", QUERY_TIMEOUT_MS,
				&v, err, sizeof err);
	int out = rc != 0 ? -1 : v != NULL && strcmp(v, "t") == 0 ? 1 : 0;

	/* v lives in the arena: read it before freeing. */
	arena_free(a);
	return out;
}

int switchover_restore_target(const PgcCluster *c, const PgcNode *to)
{
	bool changed = false;

	if (ha_write_node_files(c, to, false, &changed) != 0 ||
	    (changed && switchover_in_recovery(c, to) == 1 && ha_reload(c, to) != 0))
		return -1;
	return 0;
}

int switchover_check(const PgcCluster *c, const PgcNode *from, const PgcNode *to,
		     const PgcSwitchoverOptions *o, char *err, size_t errlen)
{
	char why[600];

	if (switchover_in_recovery(c, from) != 0) {
		snprintf(err, errlen, "cannot switch over cluster \"%s\": \"%s\" does not answer as a "
			 "primary", c->name, from->name);
		return -1;
	}
	if (wait_caught_up(c, from, to, o->catchup_bytes, o->catchup_timeout_s, why, sizeof why) !=
	    0) {
		snprintf(err, errlen, "cannot switch over cluster \"%s\" to \"%s\": %s", c->name,
			 to->name, why);
		return -1;
	}
	return 0;
}

void switchover_checkpoint(const PgcCluster *c, const PgcNode *from, int timeout_ms)
{
	char err[600];

	if (ha_exec(c, from, "CHECKPOINT", timeout_ms, err, sizeof err) != 0)
		log_warn("CHECKPOINT on \"%s/%s\" failed: %s", c->name, from->name, err);
}

int switchover_stop(PgcHost *h, const PgcCluster *c, const PgcNode *from, int timeout_s,
		    uint64_t *checkpoint, char *err, size_t errlen)
{
	PgcControl ctl;

	*checkpoint = 0;
	log_info("stopping the primary \"%s/%s\" (fast shutdown)", c->name, from->name);
	if (pgctl_stop(h, c, from, "fast", timeout_s) != 0) {
		snprintf(err, errlen, "could not stop the primary \"%s/%s\" cleanly", c->name,
			 from->name);
		return -1;
	}
	if (ha_controldata(h, c, from, &ctl) != 0) {
		snprintf(err, errlen, "could not read the control file of \"%s/%s\"", c->name,
			 from->name);
		return -1;
	}
	if (strcmp(ctl.state, "shut down") != 0) {
		snprintf(err, errlen,
			 "the primary \"%s/%s\" stopped in state \"%s\", not \"shut down\"", c->name,
			 from->name, ctl.state);
		return -1;
	}
	*checkpoint = ctl.checkpoint_lsn;
	return 0;
}

bool switchover_unpromoted(const char *state)
{
	/* A promotion ends recovery with "in production" in the control file; a
	 * standby that crashed still reads "in archive recovery". */
	return state != NULL && (strcmp(state, "shut down in recovery") == 0 ||
				 strcmp(state, "in archive recovery") == 0);
}

int switchover_unpromote_target(const PgcCluster *c, const PgcNode *to, int timeout_s)
{
	PgcHost *h = host_for(to->host.v, c->os_user.v);
	PgcControl ctl;
	char path[PATH_MAX];
	int rc = -1;

	if (h == NULL)
		return -1;
	log_warn("the promotion of \"%s/%s\" was requested but not confirmed: stopping it, to roll "
		 "back only if it cannot promote", c->name, to->name);
	snprintf(path, sizeof path, "%s/promote.signal", to->data_dir.v);
	if (pgctl_stop(h, c, to, "fast", timeout_s) == 0 && host_remove_file(h, path) >= 0 &&
	    ha_controldata(h, c, to, &ctl) == 0) {
		if (switchover_unpromoted(ctl.state))
			rc = 0;
		else
			log_error("node \"%s/%s\" stopped in state \"%s\": it may have promoted, no "
				  "rollback", c->name, to->name, ctl.state);
	}
	if (rc == 0 && switchover_restore_target(c, to) != 0)
		log_warn("the files of \"%s/%s\" could not be put back as a replica of \"%s\" (the "
			 "next pass does)", c->name, to->name, c->primary.v);
	/* Unpromoted: a replica again; otherwise as it is, so that it is seen. */
	if (pgctl_start(h, c, to, timeout_s) != 0)
		log_warn("node \"%s/%s\" could not be started again (the next pass does)", c->name,
			 to->name);
	host_free(h);
	return rc;
}

/*
 * rollback - the target was not promoted: its files back as the topology c
 * says (a replica of the old primary), and the old primary started again.
 */
static int rollback(const PgcCluster *c, const PgcNode *from, const PgcNode *to, PgcHost *h,
		    int timeout_s)
{
	int rc = 0;

	log_warn("switchover of cluster \"%s\" failed before the promotion: starting \"%s\" again as "
		 "the primary",
		 c->name, from->name);
	if (switchover_restore_target(c, to) != 0)
		rc = -1;
	if (pgctl_start(h, c, from, timeout_s) != 0)
		return -1;
	if (switchover_in_recovery(c, from) != 0) {
		log_error("node \"%s/%s\" started again but is not a primary", c->name, from->name);
		return -1;
	}
	log_info("rolled back: \"%s/%s\" is the primary again", c->name, from->name);
	return rc;
}

int switchover_run(const PgcCluster *c, const char *to_name, const PgcSwitchoverOptions *opts,
		   PgcSwitchoverResult *res)
{
	PgcSwitchoverOptions o;
	const PgcNode *from = cluster_node(c, c->primary.v);
	const PgcNode *to = cluster_node(c, to_name);
	PgcArena *a = arena_new();
	double start = clock_ms();
	PgcPromoteOptions po;
	PgcHost *h = NULL;
	PgcCluster *x;
	uint64_t seen;
	char err[600], l1[32], l2[32];
	int rc = -1;

	memset(res, 0, sizeof(*res));
	res->write_gap_ms = -1;
	res->outcome = SWITCHOVER_REFUSED;
	switchover_defaults(&o, opts);

	/* 1. checks: nothing is changed until they pass. */
	if (from == NULL || to == NULL) {
		fail(res, "check", "cannot switch over cluster \"%s\": no node \"%s\"", c->name,
		     from == NULL ? c->primary.v : to_name);
		goto cleanup;
	}
	if (from == to) {
		fail(res, "check", "node \"%s\" is already the primary of cluster \"%s\"", to_name,
		     c->name);
		goto cleanup;
	}
	if (!host_is_local(from->host.v) || (h = host_for(from->host.v, c->os_user.v)) == NULL) {
		fail(res, "check",
		     "cannot switch over cluster \"%s\": the primary \"%s\" is on host \"%s\", not on "
		     "this machine\nhint: run pgconverge on that host",
		     c->name, from->name, from->host.v);
		goto cleanup;
	}
	if (!host_is_local(to->host.v)) {
		fail(res, "check",
		     "cannot switch over cluster \"%s\": the target \"%s\" is on host \"%s\", not on "
		     "this machine",
		     c->name, to->name, to->host.v);
		goto cleanup;
	}
	if (switchover_check(c, from, to, &o, err, sizeof err) != 0) {
		fail(res, "check", "%s", err);
		goto cleanup;
	}
	/* 2. A checkpoint now makes the shutdown checkpoint short. */
	switchover_checkpoint(c, from, 300000);

	/* 3. Poolers and balancers hold their clients, then the old primary
	 * refuses writes. */
	res->stopped_at_ms = clock_ms();
	if (frontdoor_pause(c, from->name, to->name) != 0) {
		fail(res, "pause", "cannot switch over cluster \"%s\": its clients could not be held "
		     "before the primary stops", c->name);
		goto cleanup;
	}
	if (switchover_stop(h, c, from, o.stop_timeout_s, &res->shutdown_checkpoint, err,
			    sizeof err) != 0) {
		fail(res, "stop", "%s", err);
		goto rollback;
	}

	/* 4. The target holds every transaction once it replayed the shutdown checkpoint. */
	if (switchover_wait_replayed(c, to, res->shutdown_checkpoint, o.replay_timeout_s, &seen, err,
			       sizeof err) != 0) {
		fail(res, "catch-up",
		     "target \"%s/%s\" did not replay the shutdown checkpoint %s of \"%s\" within %d s "
		     "(replayed up to %s)%s%s",
		     c->name, to->name, lsn_format(res->shutdown_checkpoint, l1, sizeof l1),
		     from->name, o.replay_timeout_s, lsn_format(seen, l2, sizeof l2),
		     err[0] ? ": " : "", err);
		goto rollback;
	}
	log_info("target \"%s/%s\" replayed the shutdown checkpoint %s of \"%s\"", c->name, to->name,
		 lsn_format(res->shutdown_checkpoint, l1, sizeof l1), from->name);

	/* 5, 6. Promote, re-point, rejoin the old primary. */
	x = failover_topology(a, c, from->name, to->name);
	promote_defaults(&po);
	po.replay_timeout_s = o.replay_timeout_s;
	po.promote_timeout_s = o.promote_timeout_s;
	po.stream_timeout_s = o.ready_timeout_s;
	po.rejoin_old = true;
	po.rejoin.ready_timeout_s = o.ready_timeout_s;
	if (promote_run(x, from->name, &po, &res->promote) != 0) {
		/* Asked to promote, it may still do so: only once it cannot. */
		if (!res->promote.promoted && switchover_in_recovery(c, to) != 0 &&
		    (!res->promote.requested ||
		     switchover_unpromote_target(c, to, o.ready_timeout_s) == 0)) {
			fail(res, "promote", "could not promote \"%s/%s\"", c->name, to->name);
			goto rollback;
		}
		if (!res->promote.promoted && switchover_in_recovery(c, to) != 0) {
			fail(res, "promote", "could not promote \"%s/%s\", and it may still promote: "
			     "\"%s\" is not started again", c->name, to->name, from->name);
			res->outcome = SWITCHOVER_FAILED;
			goto cleanup;
		}
		/* Promoted after all (e.g. pg_promote's wait ran out): no way back. */
		log_warn("node \"%s/%s\" was promoted although the promotion reported a failure",
			 c->name, to->name);
		res->promote.promoted = true;
		if (frontdoor_repoint(x, from->name, to->name) != 0) {
			res->promote.frontdoor_failed = true;
			log_warn("cluster \"%s\": a pooler or balancer does not point at \"%s\" yet "
				 "(see above; one still paused holds its clients until it is resumed)",
				 c->name, to->name);
		}
	}
	res->promoted_at_ms = res->promote.promoted_at_ms;
	res->writable_at_ms = res->promote.writable_at_ms;
	res->old_primary = res->promote.old_rejoin;
	if (res->writable_at_ms > 0)
		res->write_gap_ms = res->writable_at_ms - res->stopped_at_ms;
	res->outcome = SWITCHOVER_DONE;
	log_info("switched cluster \"%s\" over from \"%s\" to \"%s\": write gap %s", c->name,
		 from->name, to->name,
		 res->write_gap_ms >= 0 ? arena_printf(a, "%.0f ms", res->write_gap_ms)
					: "unknown (no write committed in time)");
	rc = 0;
	goto cleanup;

rollback:
	res->outcome = rollback(c, from, to, h, o.ready_timeout_s) == 0 ? SWITCHOVER_ROLLED_BACK
									    : SWITCHOVER_FAILED;
	(void)frontdoor_resume(c, from->name);
cleanup:
	res->elapsed_ms = clock_ms() - start;
	host_free(h);
	arena_free(a);
	return rc;
}
