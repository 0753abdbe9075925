/*
 * reconcile/ha/promote.c - promotion and re-pointing the replicas (promote.h).
 */
#include "reconcile/ha/promote.h"

#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "reconcile/pg/lsn.h"
#include "common/clock.h"
#include "common/log.h"
#include "reconcile/engine/frontdoor.h"
#include "reconcile/ha/failover.h"
#include "reconcile/ha/ha.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/transport/host.h"

#define POLL_MS 50
#define QUERY_TIMEOUT_MS 5000

void promote_defaults(PgcPromoteOptions *o)
{
	memset(o, 0, sizeof(*o));
	o->replay_timeout_s = 60;
	o->promote_timeout_s = 60;
	o->write_timeout_s = 30;
	o->stream_timeout_s = 30;
	rejoin_defaults(&o->rejoin);
}

bool promote_replay_busy(const PgcWalSample *x)
{
	static const char *const idle[][2] = {
	    {"Activity", "RecoveryWalStream"},
	    {"Timeout", "RecoveryRetrieveRetryInterval"},
	};

	if (x->paused)
		return true;
	for (size_t i = 0; i < sizeof idle / sizeof idle[0]; i++)
		if (strcmp(x->wait_type, idle[i][0]) == 0 && strcmp(x->wait_event, idle[i][1]) == 0)
			return false;
	return true;
}

bool promote_replay_settled(PgcReplaySettle *s, const PgcWalSample *x, double now_ms)
{
	bool busy = promote_replay_busy(x);
	/* Two idle waits are the same state: the startup process goes from one to the other. */
	bool same = s->n_samples > 0 && s->last.in_recovery == x->in_recovery &&
		    s->last.has_received == x->has_received && s->last.received == x->received &&
		    s->last.replayed == x->replayed && s->last.streaming == x->streaming &&
		    promote_replay_busy(&s->last) == busy;

	if (!same)
		s->since_ms = now_ms;
	s->last = *x;
	s->n_samples++;
	if (!x->in_recovery)
		return true;
	/* Caught up with what it received: the rule for a clean stop (and a live upstream). */
	if (x->has_received && x->replayed >= x->received)
		return true;
	/* More may come, or replay is held back or still working: not final. */
	if (x->streaming || busy)
		return false;
	/* What is left is an incomplete last record, which is never replayed. */
	return now_ms - s->since_ms >= PROMOTE_SETTLE_MS;
}

/*
 * wal_sample - one PgcWalSample of the standby on conn; its WAL receiver's
 * "host:port" in sender. The startup process's wait event needs a
 * superuser or pg_read_all_stats (ha_connect() is the cluster's OS user);
 * without, it reads as none: busy, never settled.
 */
static int wal_sample(PGconn *conn, PgcWalSample *x, char *sender, size_t senderlen, char *err,
		      size_t errlen)
{
	PGresult *r = NULL;
	PgcPgError e;

	memset(x, 0, sizeof(*x));
	if (pgsql_query(conn,
			"SELECT pg_catalog.pg_is_in_recovery(), "
			"pg_catalog.pg_last_wal_receive_lsn()::text, "
			"pg_catalog.pg_last_wal_replay_lsn()::text, "
			"(SELECT status = 'streaming' FROM pg_catalog.pg_stat_wal_receiver), "
			"CASE WHEN pg_catalog.pg_is_in_recovery() "
			"THEN pg_catalog.pg_is_wal_replay_paused() END, "
			"(SELECT coalesce(sender_host, '') || ':' || coalesce(sender_port::text, '') "
			"FROM pg_catalog.pg_stat_wal_receiver), "
			"s.wait_event_type, s.wait_event "
			"FROM (SELECT 1) AS one LEFT JOIN (SELECT wait_event_type, wait_event "
			"FROM pg_catalog.pg_stat_activity WHERE backend_type = 'startup' LIMIT 1) AS s "
			"ON true",
			0, NULL, QUERY_TIMEOUT_MS, &r, &e) != 0) {
		snprintf(err, errlen, "%s (SQLSTATE %s)", e.message, e.sqlstate);
		return -1;
	}
	x->in_recovery = PQgetvalue(r, 0, 0)[0] == 't';
	x->has_received =
	    !PQgetisnull(r, 0, 1) && lsn_parse(PQgetvalue(r, 0, 1), &x->received) == 0;
	if (PQgetisnull(r, 0, 2) || lsn_parse(PQgetvalue(r, 0, 2), &x->replayed) != 0)
		x->replayed = 0;
	x->streaming = PQgetvalue(r, 0, 3)[0] == 't';
	x->paused = PQgetvalue(r, 0, 4)[0] == 't';
	snprintf(sender, senderlen, "%s", PQgetisnull(r, 0, 5) ? "" : PQgetvalue(r, 0, 5));
	snprintf(x->wait_type, sizeof x->wait_type, "%s", PQgetvalue(r, 0, 6));
	snprintf(x->wait_event, sizeof x->wait_event, "%s", PQgetvalue(r, 0, 7));
	PQclear(r);
	return 0;
}

int promote_wait_replayed(const PgcCluster *c, const PgcNode *n, int timeout_s, uint64_t *lsn,
			  uint64_t *received)
{
	double deadline = clock_ms() + timeout_s * 1000.0;
	PgcReplaySettle st = {0};
	PgcWalSample x = {0};
	char err[600] = "", sender[300] = "";
	char a[32], b[32];
	PGconn *conn = ha_connect(c, n, 0, err, sizeof err);

	if (conn == NULL) {
		log_error("could not connect to the candidate \"%s/%s\": %s", c->name, n->name, err);
		return -1;
	}
	for (;;) {
		if (wal_sample(conn, &x, sender, sizeof sender, err, sizeof err) != 0) {
			log_error("could not read the WAL positions of \"%s/%s\": %s", c->name, n->name,
				  err);
			break;
		}
		if (promote_replay_settled(&st, &x, clock_ms())) {
			PQfinish(conn);
			*lsn = x.replayed;
			*received = x.has_received && x.received > x.replayed ? x.received : x.replayed;
			if (x.in_recovery && *received > *lsn)
				log_info("candidate \"%s/%s\" received up to %s, %llu bytes past its last "
					 "complete record at %s: an incomplete record, never replayed",
					 c->name, n->name, lsn_format(*received, b, sizeof b),
					 (unsigned long long)(*received - *lsn),
					 lsn_format(*lsn, a, sizeof a));
			return 0;
		}
		if (clock_ms() >= deadline) {
			if (x.paused)
				log_error("candidate \"%s/%s\" has not replayed the WAL it received after "
					  "%d s: replay is paused at %s\n"
					  "hint: pg_wal_replay_resume() on it, or promote another node with "
					  "--to",
					  c->name, n->name, timeout_s,
					  lsn_format(x.replayed, a, sizeof a));
			else if (promote_replay_busy(&x) && x.wait_event[0] != '\0')
				log_error("candidate \"%s/%s\" has not replayed the WAL it received after "
					  "%d s: replay waits at %s on \"%s\" (wait_event_type \"%s\"), not "
					  "for WAL\n"
					  "hint: BufferPin, Lock and RecoveryConflict waits are queries on it "
					  "that hold replay back: cancel them; RecoveryApplyDelay is "
					  "recovery_min_apply_delay; or promote another node with --to",
					  c->name, n->name, timeout_s,
					  lsn_format(x.replayed, a, sizeof a), x.wait_event,
					  x.wait_type);
			else if (x.streaming)
				log_error("candidate \"%s/%s\" still streams WAL from \"%s\" after %d s: "
					  "replayed %s of %s\n"
					  "hint: its upstream is alive; stop it, or promote a node that "
					  "does not stream from it",
					  c->name, n->name, sender, timeout_s,
					  lsn_format(x.replayed, a, sizeof a),
					  lsn_format(x.received, b, sizeof b));
			else
				log_error("candidate \"%s/%s\" was still replaying the WAL it received after "
					  "%d s: replayed %s of %s\n"
					  "hint: fail over again once it has caught up",
					  c->name, n->name, timeout_s,
					  lsn_format(x.replayed, a, sizeof a),
					  lsn_format(x.received, b, sizeof b));
			break;
		}
		clock_sleep_ms(POLL_MS);
	}
	PQfinish(conn);
	return -1;
}

int promote_node(const PgcCluster *c, const PgcNode *n, int timeout_s)
{
	const char *params[1];
	char err[600], secs[16];
	PGconn *conn = ha_connect(c, n, 0, err, sizeof err);
	PGresult *r = NULL;
	PgcPgError e;
	int rc = -1;

	if (conn == NULL) {
		log_error("could not connect to \"%s/%s\" to promote it: %s", c->name, n->name, err);
		return -1;
	}
	if (pgsql_query(conn, "SELECT pg_catalog.pg_is_in_recovery()", 0, NULL, QUERY_TIMEOUT_MS, &r,
			&e) != 0) {
		log_error("could not promote \"%s/%s\": %s (SQLSTATE %s)", c->name, n->name, e.message,
			  e.sqlstate);
		goto cleanup;
	}
	if (PQgetvalue(r, 0, 0)[0] != 't') {
		log_info("node \"%s/%s\" is already out of recovery", c->name, n->name);
		rc = 0;
		goto cleanup;
	}
	PQclear(r);
	r = NULL;
	snprintf(secs, sizeof secs, "%d", timeout_s);
	params[0] = secs;
	if (pgsql_query(conn, "SELECT pg_catalog.pg_promote(true, $1::int)", 1, params,
			(timeout_s + 10) * 1000, &r, &e) != 0) {
		log_error("could not promote \"%s/%s\": %s (SQLSTATE %s)", c->name, n->name, e.message,
			  e.sqlstate);
		goto cleanup;
	}
	if (PQgetvalue(r, 0, 0)[0] != 't') {
		log_error("node \"%s/%s\" was asked to promote but is still in recovery after %d s\n"
			  "hint: look at its server log",
			  c->name, n->name, timeout_s);
		goto cleanup;
	}
	rc = 0;
cleanup:
	PQclear(r);
	PQfinish(conn);
	return rc;
}

unsigned promote_timeline(const PgcCluster *c, const PgcNode *n)
{
	PgcArena *a = arena_new();
	const char *v = NULL;
	char err[600];
	unsigned tli = 0;

	if (ha_query_value(a, c, n,
			   "SELECT ('x' || substr(pg_catalog.pg_walfile_name("
			   "pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int",
			   QUERY_TIMEOUT_MS, &v, err, sizeof err) == 0 &&
	    v != NULL)
		tli = (unsigned)strtoul(v, NULL, 10);
	arena_free(a);
	return tli;
}

/*
 * standby_position - 1 a standby, 0 not running or not a standby, -1 error.
 * For a standby: *pos max(received, replayed), *replayed, and *final true
 * when no WAL receiver runs (nothing more arrives until it is re-pointed,
 * so *pos is what it will have).
 */
static int standby_position(const PgcCluster *x, const PgcNode *n, uint64_t *pos,
			    uint64_t *replayed, bool *final)
{
	char err[600], sender[300];
	PGconn *conn = ha_connect(x, n, 0, err, sizeof err);
	PgcWalSample w;
	int rc;

	if (conn == NULL)
		return 0;
	rc = wal_sample(conn, &w, sender, sizeof sender, err, sizeof err);
	PQfinish(conn);
	if (rc != 0)
		return -1;
	*pos = w.has_received && w.received > w.replayed ? w.received : w.replayed;
	*replayed = w.replayed;
	*final = sender[0] == '\0';
	return w.in_recovery ? 1 : 0;
}

/* has_data_dir - node n's data directory (on its host) holds a PostgreSQL cluster. */
static bool has_data_dir(const PgcCluster *x, const PgcNode *n)
{
	PgcHost *h = host_for(n->host.v, x->os_user.v);
	char path[PATH_MAX];
	bool found;

	if (h == NULL)
		return false;
	snprintf(path, sizeof path, "%s/PG_VERSION", n->data_dir.v);
	found = host_reaches(h, path);
	host_free(h);
	return found;
}

int promote_repoint(const PgcCluster *x, const char *skip, uint64_t switch_lsn,
		    uint64_t received_lsn, const PgcRejoinOptions *rejoin, bool local_only,
		    size_t *ok, size_t *failed)
{
	int rc = 0;

	*ok = 0;
	*failed = 0;
	for (size_t i = 0; i < x->n_nodes; i++) {
		const PgcNode *n = &x->nodes[i];
		uint64_t pos = 0, replayed = 0;
		bool changed = false, final = false;
		char a[32], b[32];
		int st;

		if (strcmp(n->name, x->primary.v) == 0 || (skip != NULL && strcmp(n->name, skip) == 0))
			continue;
		if (!host_is_local(n->host.v) && local_only)
			continue;
		if (!host_is_local(n->host.v)) {
			log_error("cannot re-point replica \"%s/%s\": it is on host \"%s\", not on this "
				  "machine\nhint: run pgconverge apply on that host",
				  x->name, n->name, n->host.v);
			(*failed)++;
			rc = -1;
			continue;
		}
		st = standby_position(x, n, &pos, &replayed, &final);
		if (st != 1 && !has_data_dir(x, n)) {
			log_warn("replica \"%s/%s\" has no data directory \"%s\": the next apply clones "
				 "it from \"%s\"",
				 x->name, n->name, n->data_dir.v, cluster_upstream(x, n)->name);
			(*failed)++;
			continue;
		}
		if (st == 1 && switch_lsn > 0 &&
		    (replayed > switch_lsn ||
		     pos > (final && received_lsn > switch_lsn ? received_lsn : switch_lsn))) {
			PgcRejoinResult rr;

			/* It may have a record the new primary never had: it cannot follow as it is. */
			log_warn("replica \"%s/%s\" received WAL up to %s, past the promotion point %s: "
				 "rejoining it with pg_rewind",
				 x->name, n->name, lsn_format(pos, a, sizeof a),
				 lsn_format(switch_lsn, b, sizeof b));
			if (rejoin_node(x, n->name, rejoin, &rr) != 0 ||
			    rr.outcome == REJOIN_MOVED_ASIDE) {
				(*failed)++;
				rc = -1;
			} else {
				(*ok)++;
			}
			continue;
		}
		if (ha_write_node_files(x, n, false, &changed) != 0 ||
		    (st == 1 && changed && ha_reload(x, n) != 0)) {
			(*failed)++;
			rc = -1;
			continue;
		}
		if (st == 1)
			log_info("replica \"%s/%s\" now follows \"%s\"", x->name, n->name,
				 cluster_upstream(x, n)->name);
		else
			log_warn("replica \"%s/%s\" is not running: its files now name \"%s\" as its "
				 "upstream",
				 x->name, n->name, cluster_upstream(x, n)->name);
		(*ok)++;
	}
	return rc;
}

/* create_slots - the slots of the new primary's direct replicas, except skip. */
static void create_slots(const PgcCluster *x, const PgcNode *p, const char *skip)
{
	for (size_t i = 0; i < x->n_nodes; i++) {
		const PgcNode *n = &x->nodes[i];
		const PgcNode *up = cluster_upstream(x, n);

		if (up == NULL || up != p || (skip != NULL && strcmp(n->name, skip) == 0))
			continue;
		(void)ha_create_slot(x, p, n->name); /* reported; the replica then streams without */
	}
}

/* wait_streaming - every local running standby of x streams from its upstream. */
static void wait_streaming(const PgcCluster *x, const char *skip, int timeout_s)
{
	for (size_t i = 0; i < x->n_nodes; i++) {
		const PgcNode *n = &x->nodes[i];
		uint64_t pos, replayed;
		bool final;

		if (strcmp(n->name, x->primary.v) == 0 || (skip != NULL && strcmp(n->name, skip) == 0) ||
		    !host_is_local(n->host.v) || standby_position(x, n, &pos, &replayed, &final) != 1)
			continue;
		(void)pgctl_wait_streaming(x, n, timeout_s);
	}
}

int promote_run(const PgcCluster *x, const char *old_primary, const PgcPromoteOptions *opts,
		PgcPromoteResult *res)
{
	PgcPromoteOptions defaults;
	const PgcPromoteOptions *o = opts;
	const PgcNode *p = cluster_node(x, x->primary.v);
	PgcWriteWatch *watch = NULL;
	bool changed = false;
	char lsn[32];

	memset(res, 0, sizeof(*res));
	if (o == NULL) {
		promote_defaults(&defaults);
		o = &defaults;
	}
	if (p == NULL) {
		log_error("cluster \"%s\" has no node \"%s\" to promote", x->name, x->primary.v);
		return -1;
	}
	if (promote_wait_replayed(x, p, o->replay_timeout_s, &res->switch_lsn,
				  &res->received_lsn) != 0)
		return -1;
	res->replayed_at_ms = clock_ms();
	log_info("candidate \"%s/%s\" replayed every complete record it received (%s)", x->name,
		 p->name, lsn_format(res->switch_lsn, lsn, sizeof lsn));

	/* Before the promotion: the first commits it acknowledges are already
	 * on a synchronous standby, and it stops asking the old primary for WAL. */
	if (ha_write_node_files(x, p, false, &changed) != 0 || (changed && ha_reload(x, p) != 0))
		return -1;
	/* The old primary's slot, made while the candidate is a standby: it
	 * reserves WAL from the candidate's last restartpoint, so the checkpoint
	 * that follows the promotion keeps the old timeline's segments that the
	 * old primary replays after pg_rewind (pg_rewind removes its own copies). */
	if (old_primary != NULL && cluster_node(x, old_primary) != NULL &&
	    cluster_upstream(x, cluster_node(x, old_primary)) == p)
		(void)ha_create_slot(x, p, old_primary); /* reported; the rejoin then races that checkpoint */
	res->requested = true;
	if (promote_node(x, p, o->promote_timeout_s) != 0)
		return -1;
	res->promoted = true;
	res->promoted_at_ms = clock_ms();
	log_info("promoted \"%s/%s\"", x->name, p->name);
	watch = ha_write_watch_start(x, p, o->write_timeout_s);
	/* Clients follow as soon as it takes writes: before the other replicas
	 * are re-pointed and the old primary rejoins, which may take long. */
	if (frontdoor_repoint(x, old_primary, p->name) != 0) {
		res->frontdoor_failed = true;
		log_warn("cluster \"%s\": \"%s\" is promoted, but its clients may not reach it yet: "
			 "a pooler or balancer in front of it was not re-pointed (see above; one still "
			 "paused holds its clients until it is resumed)", x->name, p->name);
	}

	create_slots(x, p, old_primary);
	(void)promote_repoint(x, old_primary, res->switch_lsn, res->received_lsn, &o->rejoin,
			      o->local_only, &res->repointed, &res->repoint_failed);
	if (o->rejoin_old && old_primary != NULL && cluster_node(x, old_primary) != NULL) {
		res->old_rejoined = rejoin_node(x, old_primary, &o->rejoin, &res->old_rejoin) == 0 &&
				    res->old_rejoin.outcome != REJOIN_MOVED_ASIDE;
	}
	if (watch != NULL &&
	    ha_write_watch_wait(watch, &res->writable_at_ms, res->write_error,
				sizeof res->write_error) != 0) {
		res->writable_at_ms = 0;
		log_warn("no write committed on the new primary \"%s/%s\" within %d s: %s", x->name,
			 p->name, o->write_timeout_s, res->write_error);
	}
	res->timeline = promote_timeline(x, p);
	wait_streaming(x, o->rejoin_old ? NULL : old_primary, o->stream_timeout_s);
	return 0;
}
