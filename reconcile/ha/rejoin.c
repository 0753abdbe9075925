/*
 * reconcile/ha/rejoin.c - rejoining a node as a replica with pg_rewind
 * (rejoin.h).
 */
#include "reconcile/ha/rejoin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reconcile/pg/lsn.h"
#include "common/clock.h"
#include "common/log.h"
#include "reconcile/engine/exec.h"
#include "reconcile/ha/failover.h"
#include "reconcile/ha/fence.h"
#include "reconcile/ha/ha.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/postgres/plan_conf.h"

#define QUERY_TIMEOUT_MS 10000
#define CHECKPOINT_TIMEOUT_MS 120000
/* How long a running standby may take to stream before it is stopped and rewound. */
#define STREAM_WAIT_MS 5000
/* How long a killed postmaster may stay a zombie before its parent reaps it. */
#define REAP_WAIT_MS 30000

void rejoin_defaults(PgcRejoinOptions *o)
{
	memset(o, 0, sizeof(*o));
	o->allow_start = true;
	o->timeout_s = 600;
	o->ready_timeout_s = 60;
}

const char *rejoin_outcome_name(PgcRejoinOutcome o)
{
	switch (o) {
	case REJOIN_FAILED:
		return "failed";
	case REJOIN_FOLLOWING:
		return "following";
	case REJOIN_FOLLOWED:
		return "followed";
	case REJOIN_REWOUND:
		return "rewound";
	case REJOIN_MOVED_ASIDE:
		return "moved-aside";
	case REJOIN_CLONED:
		return "cloned";
	}
	return "unknown";
}

/* ---- pure helpers ------------------------------------------------------------ */

int rejoin_parse_history(const char *history, unsigned tli, uint64_t *lsn)
{
	for (const char *line = history; line != NULL && *line != '\0';) {
		const char *eol = strchr(line, '\n');
		char buf[128], lsn_text[64];
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		unsigned t;

		if (len >= sizeof buf)
			len = sizeof buf - 1;
		memcpy(buf, line, len);
		buf[len] = '\0';
		if (buf[0] != '#' && sscanf(buf, "%u %63s", &t, lsn_text) == 2 && t == tli &&
		    lsn_parse(lsn_text, lsn) == 0)
			return 0;
		line = eol ? eol + 1 : NULL;
	}
	return -1;
}

bool rejoin_needs_rewind(const char *state, unsigned node_tli, uint64_t checkpoint,
			 unsigned primary_tli, bool fork_known, uint64_t fork)
{
	bool clean = state != NULL &&
		     (strcmp(state, "shut down") == 0 || strcmp(state, "shut down in recovery") == 0);

	if (node_tli == primary_tli)
		return false;
	if (node_tli > primary_tli || !fork_known || !clean)
		return true;
	/* Its last record is its shutdown checkpoint: the primary must have it. */
	return checkpoint >= fork;
}

bool rejoin_found_primary(PgcArena *a, const PgcObsNode *o, const PgcObsNode *live_primary,
			  const char **reason)
{
	*reason = NULL;
	if (o == NULL || live_primary == NULL || o == live_primary || !o->reachable || o->in_recovery)
		return false;
	*reason = arena_printf(a, "node \"%s\" accepts writes on timeline %u while \"%s\" is the "
			       "primary (timeline %u)",
			       o->name, o->timeline, live_primary->name, live_primary->timeline);
	return true;
}

/* ---- steps ---------------------------------------------------------------------- */

/* primary_timeline - CHECKPOINT, then the primary's timeline and its history file. */
static int primary_timeline(PgcArena *a, const PgcCluster *x, const PgcNode *p, unsigned *tli,
			    const char **history)
{
	const char *v;
	char err[600];

	*history = NULL;
	if (ha_exec(x, p, "CHECKPOINT", CHECKPOINT_TIMEOUT_MS, err, sizeof err) != 0) {
		log_error("could not run CHECKPOINT on the primary \"%s/%s\": %s", x->name, p->name,
			  err);
		return -1;
	}
	if (ha_query_value(a, x, p,
			   "SELECT ('x' || substr(pg_catalog.pg_walfile_name("
			   "pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int",
			   QUERY_TIMEOUT_MS, &v, err, sizeof err) != 0 ||
	    v == NULL) {
		log_error("could not read the timeline of the primary \"%s/%s\": %s", x->name, p->name,
			  err);
		return -1;
	}
	*tli = (unsigned)strtoul(v, NULL, 10);
	if (*tli <= 1)
		return 0;
	if (ha_query_value(a, x, p,
			   arena_printf(a, "SELECT pg_catalog.pg_read_file('pg_wal/%08X.history')",
					*tli),
			   QUERY_TIMEOUT_MS, history, err, sizeof err) != 0) {
		log_warn("could not read the timeline history of the primary \"%s/%s\": %s", x->name,
			 p->name, err);
		*history = NULL;
	}
	return 0;
}

/*
 * wal_end - where the valid WAL of a stopped node's timeline tli ends,
 * read with pg_waldump from `from` on: its last message names the first
 * position without a valid record. 0 with *end, or -1 when unknown.
 */
static int wal_end(const PgcCluster *x, const PgcNode *n, PgcHost *h, unsigned tli, uint64_t from,
		   uint64_t *end)
{
	PgcArena *a = arena_new();
	char lsn[32];
	const char *argv[] = {arena_printf(a, "%s/pg_waldump", x->bin_dir.v),
			      "--quiet",
			      "--path",
			      arena_printf(a, "%s/pg_wal", n->data_dir.v),
			      "--timeline",
			      arena_printf(a, "%u", tli),
			      "--start",
			      lsn_format(from, lsn, sizeof lsn),
			      NULL};
	const char *env[] = {"LC_ALL=C", NULL};
	PgcProcSpec spec = {.argv = argv, .env_extra = env, .timeout_ms = 60000};
	PgcProcResult res;
	int rc = -1;

	spec.run_as = host_os_user(h);
	*end = 0;
	if (host_run(h, &spec, &res) != 0) {
		arena_free(a);
		return -1;
	}
	for (const char *p = res.output; p != NULL && (p = strstr(p, " at ")) != NULL; p += 4) {
		char word[32];
		uint64_t v;

		if (sscanf(p + 4, "%31[0-9A-Fa-f/]", word) == 1 && lsn_parse(word, &v) == 0 &&
		    v > *end) {
			*end = v;
			rc = 0;
		}
	}
	proc_result_free(&res);
	arena_free(a);
	return rc;
}

/* node_state - 1 running as a primary, 2 as a standby, 3 running but not answering, 0 stopped. */
static int node_state(const PgcCluster *x, const PgcNode *n, PgcHost *h)
{
	PgcArena *a = arena_new();
	const char *v = NULL;
	char err[600];
	bool standby;
	int rc;

	if (ha_postmaster_pid(h, n) == 0) {
		arena_free(a);
		return 0;
	}
	rc = ha_query_value(a, x, n, "SELECT pg_catalog.pg_is_in_recovery()", QUERY_TIMEOUT_MS, &v,
			    err, sizeof err);
	/* v lives in the arena: read it before freeing. */
	standby = rc == 0 && v != NULL && strcmp(v, "t") == 0;
	arena_free(a);
	if (rc != 0) {
		log_warn("node \"%s/%s\" runs but does not answer: %s", x->name, n->name, err);
		return 3;
	}
	return standby ? 2 : 1;
}

/* streams_from_upstream - the standby's WAL receiver streams from its upstream in x. */
static bool streams_from_upstream(const PgcCluster *x, const PgcNode *n)
{
	const PgcNode *up = cluster_upstream(x, n);
	PgcArena *a = arena_new();
	const char *v = NULL;
	char err[600];
	bool ok;

	if (up == NULL) {
		arena_free(a);
		return false;
	}
	ok = ha_query_value(a, x, n,
			    "SELECT status || ' ' || coalesce(sender_host, '') || ' ' || "
			    "coalesce(sender_port::text, '') FROM pg_catalog.pg_stat_wal_receiver",
			    QUERY_TIMEOUT_MS, &v, err, sizeof err) == 0 &&
	     v != NULL &&
	     strcmp(v, arena_printf(a, "streaming %s %lld", up->host.v, up->port.v)) == 0;
	arena_free(a);
	return ok;
}

/* pg_rewind_run - pg_rewind against the primary; 0 ok, 1 failed before touching anything, -1 failed. */
static int pg_rewind_run(const PgcCluster *x, const PgcNode *n, const PgcNode *p, PgcHost *h,
			 int timeout_s, char *detail, size_t detail_len)
{
	PgcArena *a = arena_new();
	const char *passfile = plan_passfile_path(a, n->data_dir.v);
	const char *argv[] = {arena_printf(a, "%s/pg_rewind", x->bin_dir.v),
			      "--target-pgdata",
			      n->data_dir.v,
			      "--source-server",
			      pgsql_node_conninfo(a, x, p, NULL),
			      NULL};
	const char *env[3] = {"LC_ALL=C", NULL, NULL};
	PgcProcSpec spec = {0};
	PgcProcResult res;
	int rc = -1;

	if (host_reaches(h, passfile))
		env[1] = arena_printf(a, "PGPASSFILE=%s", passfile);
	spec.argv = argv;
	spec.env_extra = env;
	spec.run_as = host_os_user(h);
	spec.timeout_ms = timeout_s * 1000;
	if (host_run(h, &spec, &res) != 0) {
		snprintf(detail, detail_len, "pg_rewind could not be started");
		arena_free(a);
		return 1;
	}
	if (res.status == 0 && !res.timed_out) {
		rc = 0;
		log_info("pg_rewind of node \"%s/%s\" from \"%s\": %s", x->name, n->name, p->name,
			 strstr(res.output, "no rewind required") ? "no rewind required" : "done");
	} else {
		proc_report_failed(arena_printf(a, "could not rewind node \"%s/%s\" from \"%s\"",
						  x->name, n->name, p->name),
				     argv[0], &res, detail, detail_len);
		/* A source it cannot reach: nothing was changed yet. */
		if (strstr(res.output, "could not connect") != NULL ||
		    strstr(res.output, "connection to server") != NULL)
			rc = 1;
	}
	proc_result_free(&res);
	arena_free(a);
	return rc;
}

/* move_aside - renames the data directory to DIR.diverged-TIMESTAMP. */
static int move_aside(PgcHost *h, const PgcNode *n, char *to, size_t to_len)
{
	char stamp[CLOCK_UTC_SIZE];

	clock_utc_format(time(NULL), 0, CLOCK_UTC_BASIC, stamp, sizeof stamp);
	snprintf(to, to_len, "%s.diverged-%s", n->data_dir.v, stamp);
	if (host_rename(h, n->data_dir.v, to) != 0) {
		log_error("could not move the data directory \"%s\" to \"%s\": %s", n->data_dir.v, to,
			  strerror(errno));
		return -1;
	}
	log_warn("moved the diverged data directory of node \"%s\" to \"%s\" (it is kept)", n->name,
		 to);
	return 0;
}

/* stash_signal - standby.signal renamed away (1), or put back (0). */
static void stash_signal(PgcHost *h, const PgcNode *n, bool away)
{
	char sig[PATH_MAX + 32], stash[PATH_MAX + 48];

	snprintf(sig, sizeof sig, "%s/standby.signal", n->data_dir.v);
	snprintf(stash, sizeof stash, "%s/standby.signal.pgconverge-rewind", n->data_dir.v);
	if (away)
		(void)host_rename(h, sig, stash);
	else if (host_reaches(h, stash))
		(void)host_rename(h, stash, sig);
}

/*
 * drop_stale_slots - the slots a former upstream kept for replicas that now
 * stream from another node: inactive, they would hold WAL on it forever.
 * Only slots named after a node of the cluster (pgconverge's convention).
 */
static void drop_stale_slots(const PgcCluster *x, const PgcNode *n)
{
	PgcArena *a = arena_new();
	char err[600];
	PGconn *conn = ha_connect(x, n, 0, err, sizeof err);

	for (size_t i = 0; conn != NULL && i < x->n_nodes; i++) {
		const PgcNode *m = &x->nodes[i];
		const char *params[1] = {plan_slot_name(a, m->name)};
		PGresult *r = NULL;
		PgcPgError e;

		if (m == n || cluster_upstream(x, m) == n)
			continue;
		if (pgsql_query(conn,
				"SELECT pg_catalog.pg_drop_replication_slot(slot_name) "
				"FROM pg_catalog.pg_replication_slots "
				"WHERE slot_name = $1 AND slot_type = 'physical' AND NOT active",
				1, params, QUERY_TIMEOUT_MS, &r, &e) != 0)
			log_warn("could not drop the stale slot \"%s\" on node \"%s/%s\": %s", params[0],
				 x->name, n->name, e.message);
		else if (PQntuples(r) > 0)
			log_info("dropped slot \"%s\" on node \"%s/%s\": \"%s\" streams from \"%s\" now",
				 params[0], x->name, n->name, m->name,
				 cluster_upstream(x, m) ? cluster_upstream(x, m)->name : m->name);
		PQclear(r);
	}
	PQfinish(conn);
	arena_free(a);
}

/* finish - files, standby.signal, the slot, start, streaming. */
static int finish(const PgcCluster *x, const PgcNode *n, PgcHost *h, const PgcRejoinOptions *o)
{
	const PgcNode *up = cluster_upstream(x, n);
	char sig[PATH_MAX + 32];
	bool changed;

	if (ha_write_node_files(x, n, true, &changed) != 0)
		return -1;
	snprintf(sig, sizeof sig, "%s/standby.signal", n->data_dir.v);
	if (host_write_file(h, sig, "", 0, 0600, &changed) != 0)
		return -1;
	if (up != NULL && ha_create_slot(x, up, n->name) != 0)
		return -1;
	if (!o->allow_start)
		return 0;
	if (pgctl_start(h, x, n, o->ready_timeout_s) != 0)
		return -1;
	drop_stale_slots(x, n);
	return pgctl_wait_streaming(x, n, o->ready_timeout_s);
}

/*
 * rebuild - the data directory cannot be rewound: moved aside, then cloned
 * again when the policy allows it, or the decision left for the plan.
 */
static int rebuild(const PgcCluster *x, const PgcNode *n, PgcHost *h, const PgcRejoinOptions *o,
		   PgcRejoinResult *res, const char *why)
{
	const char *up = cluster_upstream(x, n)->name;

	if (move_aside(h, n, res->moved_to, sizeof res->moved_to) != 0)
		return -1;
	if (!o->allow_rebuild) {
		res->outcome = REJOIN_MOVED_ASIDE;
		snprintf(res->decision, sizeof res->decision,
			 "node \"%s\" cannot be rewound (%s); its data directory was moved to \"%s\" "
			 "and it must be cloned again from \"%s\" (impact rebuild, allowed by the "
			 "policy only)",
			 n->name, why, res->moved_to, up);
		log_warn("%s", res->decision);
		return 0;
	}
	if (ha_clone(x, n, o->timeout_s) != 0 || finish(x, n, h, o) != 0)
		return -1;
	res->outcome = REJOIN_CLONED;
	snprintf(res->decision, sizeof res->decision,
		 "node \"%s\" could not be rewound (%s); its data directory was moved to \"%s\" and "
		 "it was cloned again from \"%s\"",
		 n->name, why, res->moved_to, up);
	return 0;
}

int rejoin_node(const PgcCluster *x, const char *node, const PgcRejoinOptions *opts,
		PgcRejoinResult *res)
{
	const PgcNode *n = cluster_node(x, node);
	PgcHost *h = NULL;
	int rc;

	if (n != NULL && host_is_local(n->host.v))
		h = host_for(n->host.v, x->os_user.v);
	rc = rejoin_node_on(h, x, node, opts, res);
	host_free(h);
	return rc;
}

int rejoin_node_on(PgcHost *h, const PgcCluster *x, const char *node,
		   const PgcRejoinOptions *opts, PgcRejoinResult *res)
{
	PgcRejoinOptions defaults;
	const PgcRejoinOptions *o = opts;
	const PgcNode *n = cluster_node(x, node);
	const PgcNode *p = cluster_node(x, x->primary.v);
	PgcArena *a = arena_new();
	double start = clock_ms();
	const char *history = NULL;
	PgcControl ctl;
	bool rewind, stashed = false;
	int state, rc = -1, rw;
	char detail[512] = "", fork[32];

	memset(res, 0, sizeof(*res));
	if (o == NULL) {
		rejoin_defaults(&defaults);
		o = &defaults;
	}
	if (n == NULL || p == NULL || n == p) {
		log_error("cannot rejoin node \"%s\" of cluster \"%s\": %s", node, x->name,
			  n == NULL ? "no such node" : p == NULL ? "the cluster has no primary"
							 : "it is the primary");
		goto cleanup;
	}
	if (h == NULL) {
		log_error("cannot rejoin node \"%s/%s\": it is on host \"%s\", not on this machine\n"
			  "hint: run pgconverge on that host",
			  x->name, node, n->host.v);
		goto cleanup;
	}

	state = node_state(x, n, h);
	if (state == 1) {
		PgcFenceOptions fo = {.graceful = false, .mark_standby = true};
		PgcFenceResult fr;

		res->was_primary = true;
		log_warn("node \"%s/%s\" runs as a primary while \"%s\" is the primary: stopping it",
			 x->name, node, p->name);
		if (fence_node_on(h, x, n, &fo, &fr) != 0)
			goto cleanup;
	} else if (state == 2) {
		bool changed;

		/*
		 * Pointed at its upstream first: primary_conninfo is reloaded
		 * (PostgreSQL 13 and later), and a standby behind the new
		 * primary's fork point follows its timeline without a restart.
		 * One that cannot (it went past the fork) is stopped and rewound
		 * below. A standby that just started may still be connecting.
		 */
		if (ha_write_node_files(x, n, false, &changed) != 0 ||
		    (changed && ha_reload(x, n) != 0))
			goto cleanup;
		for (int i = 0; i < STREAM_WAIT_MS / 200 && !streams_from_upstream(x, n); i++)
			clock_sleep_ms(200);
		if (streams_from_upstream(x, n)) {
			res->outcome = REJOIN_FOLLOWING;
			snprintf(res->decision, sizeof res->decision,
				 changed ? "node \"%s\" streams from \"%s\" since a reload"
					 : "node \"%s\" already streams from \"%s\"",
				 node, cluster_upstream(x, n)->name);
			rc = 0;
			goto cleanup;
		}
		if (pgctl_stop(h, x, n, "fast", o->ready_timeout_s) != 0)
			goto cleanup;
	} else if (state == 3) {
		if (pgctl_stop(h, x, n, "fast", o->ready_timeout_s) != 0 &&
		    pgctl_stop(h, x, n, "immediate", o->ready_timeout_s) != 0)
			goto cleanup;
	}

	if (ha_wait_reaped(h, n, REAP_WAIT_MS) != 0) {
		log_error("cannot rejoin node \"%s/%s\": the process named by its postmaster.pid still "
			  "exists after %d s", x->name, node, REAP_WAIT_MS / 1000);
		goto cleanup;
	}
	if (ha_controldata(h, x, n, &ctl) != 0)
		goto cleanup;
	res->node_timeline = ctl.timeline;
	if (primary_timeline(a, x, p, &res->primary_timeline, &history) != 0)
		goto cleanup;
	if (history != NULL && ctl.timeline < res->primary_timeline &&
	    rejoin_parse_history(history, ctl.timeline, &res->fork_lsn) == 0)
		res->fork_known = true;
	if (res->fork_known) {
		uint64_t end = 0;

		/* Its WAL past the fork point is what the rewind throws away. */
		if (wal_end(x, n, h, ctl.timeline, res->fork_lsn, &end) != 0 || end < ctl.checkpoint_lsn)
			end = ctl.checkpoint_lsn;
		if (end > res->fork_lsn) {
			res->unreplicated_known = true;
			res->unreplicated_bytes = end - res->fork_lsn;
		}
	}
	rewind = rejoin_needs_rewind(ctl.state, ctl.timeline, ctl.checkpoint_lsn,
				     res->primary_timeline, res->fork_known, res->fork_lsn);

	if (res->was_primary && ctl.timeline == res->primary_timeline) {
		/* Two primaries wrote on one timeline: pg_rewind cannot see the fork. */
		snprintf(detail, sizeof detail,
			 "it accepted writes on the primary's own timeline %u, which pg_rewind "
			 "cannot undo",
			 ctl.timeline);
		log_error("cannot rewind node \"%s/%s\": %s", x->name, node, detail);
		rc = rebuild(x, n, h, o, res, detail);
		goto cleanup;
	}
	if (rewind) {
		/* pg_rewind finishes a crashed node's recovery in single-user mode,
		 * which refuses to run with standby.signal present. */
		if (strcmp(ctl.state, "shut down") != 0 &&
		    strcmp(ctl.state, "shut down in recovery") != 0) {
			stash_signal(h, n, true);
			stashed = true;
		}
		rw = pg_rewind_run(x, n, p, h, o->timeout_s, detail, sizeof detail);
		if (stashed)
			stash_signal(h, n, false);
		if (rw == 1)
			goto cleanup;
		if (rw != 0) {
			rc = rebuild(x, n, h, o, res, detail);
			goto cleanup;
		}
	}
	if (finish(x, n, h, o) != 0)
		goto cleanup;
	res->outcome = rewind ? REJOIN_REWOUND : REJOIN_FOLLOWED;
	snprintf(res->decision, sizeof res->decision, "node \"%s\" %s and streams from \"%s\"%s",
		 node,
		 rewind ? "was rewound with pg_rewind" : "needed no rewind (clean shutdown before "
							 "the fork point)",
		 cluster_upstream(x, n)->name,
		 res->unreplicated_known
		     ? arena_printf(a, "; it held %llu bytes of WAL past the fork point %s that "
				    "the primary never had",
				    (unsigned long long)res->unreplicated_bytes,
				    lsn_format(res->fork_lsn, fork, sizeof fork))
		     : "");
	rc = 0;
cleanup:
	res->elapsed_ms = clock_ms() - start;
	if (rc != 0) {
		res->outcome = REJOIN_FAILED;
		if (res->decision[0] == '\0')
			snprintf(res->decision, sizeof res->decision, "node \"%s\" was not rejoined%s%s",
				 node, detail[0] ? ": " : "", detail);
	} else {
		log_info("%s (%.0f ms)", res->decision, res->elapsed_ms);
	}
	arena_free(a);
	return rc;
}
