/*
 * reconcile/standby/region_switch.c - the region switch (region_switch.h).
 */
#include "reconcile/standby/region_switch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/engine/action.h"
#include "reconcile/engine/frontdoor.h"
#include "reconcile/ha/ha.h"
#include "reconcile/ha/promote.h"
#include "reconcile/ha/rejoin.h"
#include "reconcile/ha/switchover.h"
#include "reconcile/pg/lsn.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/postgres/plan_conf.h"
#include "reconcile/standby/plan_standby.h"
#include "reconcile/standby/region_failover.h"

#define QUERY_TIMEOUT_MS 5000
#define CATCHUP_BYTES (16ull * 1024 * 1024)

typedef struct {
	PgcExecCtx *ctx;
	PgcArena *a;
	const PgcCluster *s, *x;          /* as in the file: S standby_of X now */
	const PgcCluster *s_new, *x_new;  /* their live copies once L is the primary */
	const PgcCluster *x_old;          /* X as S's standby cluster, as it ran (the rollback) */
	const PgcNode *l, *p;
	PgcHost *hp;                      /* P's host */
	PgcSwitchoverOptions o;
	bool paused;                      /* S's front doors paused by this run */
	bool stopped;                     /* P stopped by this run (the write gap is known) */
	const char *outcome;              /* "done", "refused", "rolled-back", "failed" */
	const char *step;
	uint64_t checkpoint;
	double stopped_at_ms, write_gap_ms;
	unsigned timeline;
	PgcRejoinResult rejoin;
	const char *rejoin_decision;
	char error[600];
} Rx;

/* fail - the step and a one-line error, logged. Returns -1. */
static int fail(Rx *r, const char *step, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(Rx *r, const char *step, const char *fmt, ...)
{
	va_list ap;

	r->step = step;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof r->error, fmt, ap);
	va_end(ap);
	log_error("%s", r->error);
	r->error[strcspn(r->error, "\n")] = '\0';
	return -1;
}

/* ---- the clusters as they run, before and after -------------------------------------- */

static size_t index_in(const PgcTopology *t, const PgcCluster *c)
{
	for (size_t i = 0; i < t->n_clusters; i++)
		if (strcmp(t->clusters[i].name, c->name) == 0)
			return i;
	return t->n_clusters;
}

/* views - the live copies the planner makes once L is X's primary, and X as it ran before. */
static void views(Rx *r, const PgcTopology *t)
{
	const char **live = arena_calloc(r->a, t->n_clusters + 1, sizeof(char *));
	PgcCluster *old = arena_alloc(r->a, sizeof(*old));
	size_t xi = index_in(t, r->x);

	if (xi < t->n_clusters)
		live[xi] = r->l->name;
	r->x_new = plan_standby_live(r->a, t, r->x, NULL, live);
	r->s_new = plan_standby_live(r->a, t, r->s, NULL, live);
	/* What plan_standby_live made of X while it was S's standby cluster. */
	*old = *r->x;
	old->standby_upstream = r->p;
	old->standby_upstream_ref = arena_printf(r->a, "%s/%s", r->s->name, r->p->name);
	old->standby_slot = standby_slot_name(r->a, r->x->name);
	old->roles = r->s->roles;
	old->n_roles = r->s->n_roles;
	old->databases = r->s->databases;
	old->n_databases = r->s->n_databases;
	old->kept_slots = NULL;
	old->n_kept_slots = 0;
	old->standby_hosts = NULL;
	old->n_standby_hosts = 0;
	r->x_old = old;
}

/*
 * merged - x_new with P as one more replica of L, for rejoin.h (which
 * rejoins a replica of a cluster's primary): it decides on the rewind and
 * writes standby.signal; P's files are then rendered from s_new. No slot
 * (P streams through pgc_standby_<S>, made here). *name: P's name in it.
 */
static const PgcCluster *merged(Rx *r, const char **name)
{
	PgcCluster *m = arena_alloc(r->a, sizeof(*m));
	PgcNode *n;

	*m = *r->x_new;
	m->nodes = arena_calloc(r->a, r->x_new->n_nodes + 1, sizeof(PgcNode));
	memcpy(m->nodes, r->x_new->nodes, r->x_new->n_nodes * sizeof(PgcNode));
	n = &m->nodes[m->n_nodes++];
	*n = *r->p;
	if (cluster_node(r->x_new, r->p->name) != NULL)
		n->name = arena_printf(r->a, "%s-%s", r->s->name, r->p->name);
	memset(&n->replicate_from, 0, sizeof n->replicate_from);
	m->replication.slots.v = false;
	*name = n->name;
	return m;
}

/* ---- SQL ---------------------------------------------------------------------------------- */

/* query - one statement with parameters on n of c; the result (or NULL) for the caller to clear. */
static int query(const PgcCluster *c, const PgcNode *n, const char *sql, int np,
		 const char *const *params, PGresult **res, char *err, size_t errlen)
{
	PGconn *conn = ha_connect(c, n, 0, err, errlen);
	PgcPgError e;
	int rc;

	*res = NULL;
	if (conn == NULL)
		return -1;
	rc = pgsql_query(conn, sql, np, params, QUERY_TIMEOUT_MS, res, &e);
	if (rc != 0)
		snprintf(err, errlen, "%s (SQLSTATE %s)", e.message, e.sqlstate);
	PQfinish(conn);
	return rc;
}

/* caught_up - L (application_name X-L on P) streams from P with a replay lag of at most max bytes, waited for. */
static int caught_up(Rx *r, char *err, size_t errlen)
{
	const char *app = arena_printf(r->a, "%s-%s", r->x->name, r->l->name);
	const char *params[1] = {app};
	double deadline = clock_ms() + r->o.catchup_timeout_s * 1000.0;

	for (;;) {
		PGresult *res = NULL;

		if (query(r->s, r->p,
			  "SELECT state, pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), "
			  "replay_lsn)::bigint FROM pg_catalog.pg_stat_replication "
			  "WHERE application_name = $1 ORDER BY backend_start DESC LIMIT 1",
			  1, params, &res, err, errlen) != 0) {
			PQclear(res);
			return -1;
		}
		if (PQntuples(res) == 0)
			snprintf(err, errlen, "\"%s\" does not stream from \"%s\"", r->l->name, r->p->name);
		else if (strcmp(PQgetvalue(res, 0, 0), "streaming") != 0)
			snprintf(err, errlen, "\"%s\" is in state \"%s\", not streaming", r->l->name,
				 PQgetvalue(res, 0, 0));
		else if (PQgetisnull(res, 0, 1))
			snprintf(err, errlen, "the replay position of \"%s\" is unknown", r->l->name);
		else if (strtoll(PQgetvalue(res, 0, 1), NULL, 10) <= (long long)r->o.catchup_bytes) {
			PQclear(res);
			return 0;
		} else
			snprintf(err, errlen, "\"%s\" is %s bytes behind, more than %llu", r->l->name,
				 PQgetvalue(res, 0, 1), (unsigned long long)r->o.catchup_bytes);
		PQclear(res);
		if (clock_ms() >= deadline)
			return -1;
		clock_sleep_ms(200);
	}
}

/* ensure_slot - slot name on n, reserving WAL at once, unless it exists. 0 / -1 (reported). */
static int ensure_slot(Rx *r, const PgcCluster *c, const PgcNode *n, const char *name)
{
	const char *params[1] = {name};
	PGresult *res = NULL;
	char err[600];
	int rc = query(c, n,
		       "SELECT pg_catalog.pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS "
		       "(SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)",
		       1, params, &res, err, sizeof err);

	if (rc != 0)
		fail(r, "slot", "could not create slot \"%s\" on \"%s/%s\": %s", name, c->name, n->name,
		     err);
	else if (PQntuples(res) > 0)
		log_info("created slot \"%s\" on \"%s/%s\"", name, c->name, n->name);
	PQclear(res);
	return rc;
}

/* drop_slot - slot name on n, when there and unused. Only warns: the next pass plans it too. */
static void drop_slot(const PgcCluster *c, const PgcNode *n, const char *name)
{
	const char *params[1] = {name};
	PGresult *res = NULL;
	char err[600];

	if (query(c, n,
		  "SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM "
		  "pg_catalog.pg_replication_slots WHERE slot_name = $1 AND NOT active",
		  1, params, &res, err, sizeof err) != 0)
		log_warn("could not drop slot \"%s\" on \"%s/%s\": %s", name, c->name, n->name, err);
	else if (PQntuples(res) > 0)
		log_info("dropped slot \"%s\" on \"%s/%s\": it streams from elsewhere now", name, c->name,
			 n->name);
	PQclear(res);
}

/* streams_from - n (of c) is a standby whose WAL receiver streams from up. */
static bool streams_from(Rx *r, const PgcCluster *c, const PgcNode *n, const PgcNode *up)
{
	const char *v = NULL;
	char err[600];

	return ha_query_value(r->a, c, n,
			      "SELECT status || ' ' || coalesce(sender_host, '') || ' ' || "
			      "coalesce(sender_port::text, '') FROM pg_catalog.pg_stat_wal_receiver",
			      QUERY_TIMEOUT_MS, &v, err, sizeof err) == 0 &&
	       v != NULL && strcmp(v, arena_printf(r->a, "streaming %s %lld", up->host.v, up->port.v)) == 0;
}

/* ---- steps 1 to 4 ---------------------------------------------------------------------------- */

/* rollback - L's files as S's standby leader's, P started again as the primary, front doors resumed. */
static void rollback(Rx *r)
{
	log_warn("region switch from \"%s/%s\" to \"%s/%s\" failed before the promotion: starting "
		 "\"%s\" again as the primary",
		 r->s->name, r->p->name, r->x->name, r->l->name, r->p->name);
	r->outcome = "failed";
	if (switchover_restore_target(r->x_old, r->l) != 0)
		log_warn("the files of \"%s/%s\" could not be put back (the next pass does)", r->x->name,
			 r->l->name);
	if (pgctl_start(r->hp, r->s, r->p, r->o.ready_timeout_s) == 0 &&
	    switchover_in_recovery(r->s, r->p) == 0) {
		r->outcome = "rolled-back";
		log_info("rolled back: \"%s/%s\" is the primary again", r->s->name, r->p->name);
	} else {
		log_error("node \"%s/%s\" did not start again as the primary", r->s->name, r->p->name);
	}
	if (r->paused)
		(void)frontdoor_resume(r->s, r->p->name);
	r->paused = false;
}

/* stop_source - steps 1 and 2, or a P found shut down cleanly. 0, or -1 (nothing changed, or rolled back). */
static int stop_source(Rx *r)
{
	char err[600];
	int state = switchover_in_recovery(r->s, r->p);

	if (state == 1)
		return fail(r, "check", "cannot switch regions: \"%s/%s\" is a standby and \"%s/%s\" "
			    "is not promoted: neither takes writes", r->s->name, r->p->name,
			    r->x->name, r->l->name);
	if (state < 0) {
		PgcControl ctl;

		/* A run that stopped after its fast shutdown: it goes on from there. */
		if (ha_postmaster_pid(r->hp, r->p) != 0 || ha_controldata(r->hp, r->s, r->p, &ctl) != 0 ||
		    strcmp(ctl.state, "shut down") != 0)
			return fail(r, "check", "cannot switch regions: the primary \"%s/%s\" does not "
				    "answer and was not shut down cleanly\nhint: start it (or wait for "
				    "it), then apply again", r->s->name, r->p->name);
		log_info("the primary \"%s/%s\" is shut down cleanly already: going on from its shutdown "
			 "checkpoint", r->s->name, r->p->name);
		r->checkpoint = ctl.checkpoint_lsn;
		r->stopped_at_ms = clock_ms();
		return 0;
	}
	if (caught_up(r, err, sizeof err) != 0)
		return fail(r, "check", "cannot switch regions from \"%s/%s\" to \"%s/%s\": %s",
			    r->s->name, r->p->name, r->x->name, r->l->name, err);
	switchover_checkpoint(r->s, r->p, 300000);
	r->stopped_at_ms = clock_ms();
	if (frontdoor_pause(r->s, r->p->name, r->p->name) != 0)
		return fail(r, "pause", "cannot switch regions: the clients of cluster \"%s\" could not "
			    "be held before its primary stops", r->s->name);
	r->paused = true;
	if (switchover_stop(r->hp, r->s, r->p, r->o.stop_timeout_s, &r->checkpoint, err,
			    sizeof err) != 0) {
		fail(r, "stop", "%s", err);
		rollback(r);
		return -1;
	}
	r->stopped = true;
	return 0;
}

/* promote_leader - steps 3 and 4 (the promotion). 0 once L is a primary; -1 rolled back or failed. */
static int promote_leader(Rx *r, PgcPromoteResult *pr)
{
	PgcPromoteOptions po;
	uint64_t seen;
	char err[600], l1[32], l2[32];

	if (switchover_wait_replayed(r->x_old, r->l, r->checkpoint, r->o.replay_timeout_s, &seen, err,
				     sizeof err) != 0) {
		fail(r, "catch-up", "\"%s/%s\" did not replay the shutdown checkpoint %s of \"%s\" within "
		     "%d s (replayed up to %s)%s%s", r->x->name, r->l->name,
		     lsn_format(r->checkpoint, l1, sizeof l1), r->p->name, r->o.replay_timeout_s,
		     lsn_format(seen, l2, sizeof l2), err[0] ? ": " : "", err);
		rollback(r);
		return -1;
	}
	log_info("\"%s/%s\" replayed the shutdown checkpoint %s of \"%s/%s\"", r->x->name, r->l->name,
		 lsn_format(r->checkpoint, l1, sizeof l1), r->s->name, r->p->name);
	promote_defaults(&po);
	po.replay_timeout_s = r->o.replay_timeout_s;
	po.promote_timeout_s = r->o.promote_timeout_s;
	po.stream_timeout_s = r->o.ready_timeout_s;
	if (promote_run(r->x_new, NULL, &po, pr) == 0)
		return 0;
	/* Asked to promote, it may still do so: roll back only once it cannot. */
	if (!pr->promoted && switchover_in_recovery(r->x_old, r->l) != 0 &&
	    (!pr->requested || switchover_unpromote_target(r->x_old, r->l, r->o.ready_timeout_s) == 0)) {
		fail(r, "promote", "could not promote \"%s/%s\"", r->x->name, r->l->name);
		rollback(r);
		return -1;
	}
	if (!pr->promoted && switchover_in_recovery(r->x_old, r->l) != 0) {
		r->outcome = "failed";
		return fail(r, "promote", "could not promote \"%s/%s\", and it may still promote: "
			    "\"%s/%s\" is not started again", r->x->name, r->l->name, r->s->name,
			    r->p->name);
	}
	log_warn("node \"%s/%s\" was promoted although the promotion reported a failure", r->x->name,
		 r->l->name);
	pr->promoted = true;
	return 0;
}

/* ---- steps 4 (after the promotion) to 6 ------------------------------------------------------- */

/* rejoin_source - step 5: P streams from L as S's standby leader. */
static int rejoin_source(Rx *r)
{
	PgcRejoinOptions ro;
	const PgcCluster *m;
	const char *name;
	bool changed;

	if (switchover_in_recovery(r->s_new, r->p) == 1) {
		/* A standby already (a run that stopped here): its files, a reload. */
		if (ha_write_node_files(r->s_new, r->p, true, &changed) != 0 ||
		    (changed && ha_reload(r->s_new, r->p) != 0))
			return fail(r, "rejoin", "could not write the files of \"%s/%s\"", r->s->name,
				    r->p->name);
		for (int i = 0; i < 50 && !streams_from(r, r->s_new, r->p, r->l); i++)
			clock_sleep_ms(200);
		if (streams_from(r, r->s_new, r->p, r->l)) {
			r->rejoin_decision = arena_printf(r->a, "node \"%s\" already streams from \"%s\"",
							  r->p->name, r->l->name);
			return 0;
		}
	}
	m = merged(r, &name);
	rejoin_defaults(&ro);
	ro.allow_start = false;
	ro.ready_timeout_s = r->o.ready_timeout_s;
	if (rejoin_node_on(r->hp, m, name, &ro, &r->rejoin) != 0)
		return fail(r, "rejoin", "\"%s/%s\" could not rejoin as a standby of \"%s/%s\": %s",
			    r->s->name, r->p->name, r->x->name, r->l->name, r->rejoin.decision);
	r->rejoin_decision = arena_strdup(r->a, r->rejoin.decision);
	if (r->rejoin.outcome == REJOIN_MOVED_ASIDE)
		return fail(r, "rejoin", "%s", r->rejoin.decision);
	if (ha_write_node_files(r->s_new, r->p, true, &changed) != 0)
		return fail(r, "rejoin", "could not write the files of \"%s/%s\"", r->s->name, r->p->name);
	if (r->rejoin.outcome == REJOIN_FOLLOWING) {
		if (changed && ha_reload(r->s_new, r->p) != 0)
			return fail(r, "rejoin", "could not reload \"%s/%s\"", r->s->name, r->p->name);
	} else if (pgctl_start(r->hp, r->s_new, r->p, r->o.ready_timeout_s) != 0) {
		return fail(r, "rejoin", "could not start \"%s/%s\" as a standby of \"%s/%s\"", r->s->name,
			    r->p->name, r->x->name, r->l->name);
	}
	if (pgctl_wait_streaming(r->s_new, r->p, r->o.ready_timeout_s) != 0)
		return fail(r, "rejoin", "\"%s/%s\" does not stream from \"%s/%s\"", r->s->name,
			    r->p->name, r->x->name, r->l->name);
	return 0;
}

/* follow - steps 4 to 6 once L is X's primary. */
static int follow(Rx *r)
{
	bool changed;

	/* S's hosts may stream from L now; the slot keeps L's WAL for P from here on. */
	if (ha_write_node_files(r->x_new, r->l, true, &changed) != 0 ||
	    (changed && ha_reload(r->x_new, r->l) != 0))
		return fail(r, "hba", "could not write the files of \"%s/%s\"", r->x->name, r->l->name);
	if (ensure_slot(r, r->x_new, r->l, standby_slot_name(r->a, r->s->name)) != 0)
		return -1;
	if (rejoin_source(r) != 0)
		return -1;
	if (r->paused)
		(void)frontdoor_resume(r->s_new, r->p->name);
	r->paused = false;
	drop_slot(r->s_new, r->p, standby_slot_name(r->a, r->x->name));
	/*
	 * S's other nodes cascade from P as before; they follow the timeline by
	 * themselves. Their slots on P are there after a clean switch; pg_rewind
	 * leaves pg_replslot empty, so they are made again (on a standby too).
	 */
	for (size_t i = 0; i < r->s_new->n_nodes; i++) {
		const PgcNode *n = &r->s_new->nodes[i];

		if (n == r->p || cluster_upstream(r->s_new, n) != r->p || !r->s_new->replication.slots.v)
			continue;
		(void)ensure_slot(r, r->s_new, r->p, plan_slot_name(r->a, n->name));
		r->step = NULL;
		r->error[0] = '\0';
	}
	for (size_t i = 0; i < r->s->n_nodes; i++) {
		const PgcNode *n = &r->s->nodes[i];

		if (n != r->p && host_is_local(n->host.v) &&
		    pgctl_wait_streaming(r->s_new, n, r->o.ready_timeout_s) != 0)
			log_warn("\"%s/%s\" does not stream yet (the next pass looks at it)", r->s->name,
				 n->name);
	}
	return 0;
}

/* ---- the action ---------------------------------------------------------------------------------- */

static json_t *ms_or_null(double ms)
{
	return ms >= 0 ? json_integer((json_int_t)(ms + 0.5)) : json_null();
}

static void journal(Rx *r, double elapsed_ms)
{
	PgcExecCtx *ctx = r->ctx;
	char lsn[32];
	json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "event", "region-switch", "cluster",
			       r->x->name, "node", r->l->name, "action", ctx->a->id, "kind",
			       plan_action_name(ctx->a->kind), "from",
			       arena_printf(r->a, "%s/%s", r->s->name, r->p->name));

	json_object_set_new(ev, "outcome", json_string(r->outcome));
	json_object_set_new(ev, "failed_step", r->step ? json_string(r->step) : json_null());
	json_object_set_new(ev, "error", r->error[0] ? json_string(r->error) : json_null());
	json_object_set_new(ev, "write_gap_ms", ms_or_null(r->write_gap_ms));
	json_object_set_new(ev, "duration_ms", ms_or_null(elapsed_ms));
	if (r->checkpoint != 0)
		json_object_set_new(ev, "shutdown_checkpoint",
				    json_string(lsn_format(r->checkpoint, lsn, sizeof lsn)));
	if (r->timeline != 0)
		json_object_set_new(ev, "timeline", json_integer(r->timeline));
	if (r->rejoin_decision != NULL)
		json_object_set_new(ev, "rejoin", json_string(r->rejoin_decision));
	(void)ha_journal_event(ctx->state_dir, ev);
	json_decref(ev);
}

/* parse - S and P from payload.upstream "S/P"; 0, or -1 (reported). */
static int parse(Rx *r)
{
	PgcExecCtx *ctx = r->ctx;
	const char *ref = ctx->a->payload.upstream, *slash = ref ? strchr(ref, '/') : NULL;

	r->x = ctx->c;
	r->l = ctx->n;
	if (slash != NULL)
		r->s = topology_cluster(ctx->t, arena_strndup(r->a, ref, (size_t)(slash - ref)));
	if (r->s != NULL)
		r->p = cluster_node(r->s, slash + 1);
	if (r->l == NULL || r->p == NULL || !r->s->standby_of.set ||
	    strcmp(r->s->standby_of.v, r->x->name) != 0 || r->x->standby_of.set)
		return exec_fail(ctx, "cannot run \"%s\": \"%s\" is not a node of a standby cluster of "
				 "\"%s\" in the topology", ctx->a->id, ref ? ref : "", r->x->name);
	return 0;
}

/* ---- the detach ------------------------------------------------------------------------------------ */

/*
 * detach_run - payload.target "detach": X lost standby_of; its primary L,
 * S's standby leader until now, is promoted where its replay stands.
 * pg_promote first (PostgreSQL stops the WAL receiver and replays what it
 * received), so that a run killed half way leaves L either streaming as
 * before or promoted; then promote_run() for the rest (X's files as a
 * primary cluster, its replicas' slots and files, its front doors, the
 * first write).
 */
static int detach_run(PgcExecCtx *ctx)
{
	PgcArena *a = ctx->arena;
	const PgcCluster *x = ctx->c, *xl;
	const PgcNode *l = ctx->n;
	const char **live = arena_calloc(a, ctx->t->n_clusters + 1, sizeof(char *));
	const char *from = ctx->a->payload.upstream ? ctx->a->payload.upstream : "?";
	const char *outcome = "refused", *error = NULL;
	PgcPromoteOptions po;
	PgcPromoteResult pr;
	double start = clock_ms();
	size_t xi;
	int state, rc = -1;
	json_t *ev;

	memset(&pr, 0, sizeof pr);
	if (l == NULL || x->standby_of.set)
		return exec_fail(ctx, "cannot run \"%s\": cluster \"%s\" is a standby cluster in the "
				 "topology: plan again", ctx->a->id, x->name);
	if (exec_need_host(ctx) != 0)
		return -1;
	if (!host_is_local(l->host.v))
		return exec_fail(ctx, "cannot run \"%s\": \"%s/%s\" is on host \"%s\", not on this "
				 "machine\nhint: run pgconverge on that host", ctx->a->id, x->name,
				 l->name, l->host.v);
	xi = index_in(ctx->t, x);
	if (xi < ctx->t->n_clusters)
		live[xi] = l->name;
	/* X as a primary cluster (with its own standby clusters' slots, if any). */
	xl = plan_standby_live(a, ctx->t, x, NULL, live);
	state = switchover_in_recovery(xl, l);
	if (state == 0) {
		log_info("\"%s/%s\" takes writes already: cluster \"%s\" is detached", x->name, l->name,
			 x->name);
		ctx->nothing_to_do = true;
		return 0;
	}
	if (state < 0) {
		error = arena_printf(a, "\"%s/%s\" does not answer", x->name, l->name);
		goto done;
	}
	promote_defaults(&po);
	if (ctx->ready_timeout_s > 0)
		po.stream_timeout_s = ctx->ready_timeout_s;
	log_info("detaching cluster \"%s\" from \"%s\": promoting \"%s/%s\"", x->name, from,
		 x->name, l->name);
	outcome = "failed";
	if (promote_node(xl, l, po.promote_timeout_s) != 0) {
		error = arena_printf(a, "could not promote \"%s/%s\"", x->name, l->name);
		goto done;
	}
	/* Not a region failover: a commit that puts standby_of back must not fence the source. */
	region_detached_set(ctx->state_dir, x->name,
			    strchr(from, '/') != NULL ? arena_strndup(a, from, (size_t)(strchr(from, '/') - from))
						     : from);
	if (promote_run(xl, NULL, &po, &pr) != 0) {
		error = arena_printf(a, "\"%s/%s\" is promoted, but its cluster's files could not be "
				     "written (the next pass does)", x->name, l->name);
		goto done;
	}
	outcome = "done";
	rc = 0;
	log_info("detached cluster \"%s\" from \"%s\": \"%s/%s\" takes writes on timeline %u; "
		 "%zu replica(s) follow it", x->name, from, x->name, l->name, pr.timeline, pr.repointed);
done:
	ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "event", "region-switch", "target", "detach",
		       "cluster", x->name, "node", l->name, "action", ctx->a->id, "kind",
		       plan_action_name(ctx->a->kind), "from", from, "outcome", outcome);
	json_object_set_new(ev, "error", error ? json_string(error) : json_null());
	json_object_set_new(ev, "duration_ms", ms_or_null(clock_ms() - start));
	if (pr.timeline != 0)
		json_object_set_new(ev, "timeline", json_integer(pr.timeline));
	(void)ha_journal_event(ctx->state_dir, ev);
	json_decref(ev);
	if (rc != 0)
		return exec_fail(ctx, "detach of cluster \"%s\" %s: %s", x->name, outcome, error);
	return 0;
}

int region_switch_run(PgcExecCtx *ctx)
{
	Rx r;
	PgcPromoteResult pr;
	double start = clock_ms();
	int state, rc = -1;

	if (ctx->a->payload.target != NULL && strcmp(ctx->a->payload.target, "detach") == 0)
		return detach_run(ctx);
	memset(&r, 0, sizeof r);
	r.ctx = ctx;
	r.a = ctx->arena;
	r.outcome = "refused";
	r.write_gap_ms = -1;
	switchover_defaults(&r.o, NULL);
	r.o.catchup_bytes = CATCHUP_BYTES;
	r.o.ready_timeout_s = ctx->ready_timeout_s > 0 ? ctx->ready_timeout_s : r.o.ready_timeout_s;
	if (parse(&r) != 0 || exec_need_host(ctx) != 0)
		return -1;
	if (!host_is_local(r.p->host.v) || (r.hp = host_for(r.p->host.v, r.s->os_user.v)) == NULL)
		return exec_fail(ctx, "cannot run \"%s\": \"%s/%s\" is on host \"%s\", not on this "
				 "machine\nhint: run pgconverge on that host", ctx->a->id, r.s->name,
				 r.p->name, r.p->host.v);
	views(&r, ctx->t);

	/* Done already: L takes writes and P streams from it. */
	state = switchover_in_recovery(r.x_new, r.l);
	if (state == 0 && switchover_in_recovery(r.s_new, r.p) == 1 &&
	    streams_from(&r, r.s_new, r.p, r.l)) {
		log_info("\"%s/%s\" is the primary and \"%s/%s\" streams from it already", r.x->name,
			 r.l->name, r.s->name, r.p->name);
		ctx->nothing_to_do = true;
		rc = 0;
		goto cleanup;
	}
	if (state < 0) {
		fail(&r, "check", "cannot switch regions: \"%s/%s\" does not answer", r.x->name,
		     r.l->name);
		goto done;
	}
	if (state == 1) {
		if (strcmp(ctx->a->payload.target, "switch") != 0) {
			fail(&r, "check", "\"%s/%s\" is a standby again: plan again", r.x->name, r.l->name);
			goto done;
		}
		if (stop_source(&r) != 0 || promote_leader(&r, &pr) != 0)
			goto done;
		r.timeline = pr.timeline;
		/* Stopped by an earlier run: when writes stopped is not known. */
		if (pr.writable_at_ms > 0 && r.stopped)
			r.write_gap_ms = pr.writable_at_ms - r.stopped_at_ms;
	}
	/* From here on there is no way back: L is X's primary. */
	r.outcome = "failed";
	if (follow(&r) != 0)
		goto done;
	r.outcome = "done";
	rc = 0;
	if (state == 1)
		log_info("switched regions: \"%s/%s\" is the primary, \"%s/%s\" its standby leader; "
			 "write gap %s", r.x->name, r.l->name, r.s->name, r.p->name,
			 r.write_gap_ms >= 0 ? arena_printf(r.a, "%.0f ms", r.write_gap_ms)
			 : !r.stopped	     ? "unknown (an earlier run stopped the old primary)"
					     : "unknown (no write committed in time)");
	else
		log_info("\"%s/%s\" rejoined as the standby leader of cluster \"%s\": %s", r.s->name,
			 r.p->name, r.s->name, r.rejoin_decision ? r.rejoin_decision : "done");
done:
	if (r.paused)
		(void)frontdoor_resume(r.s, r.p->name);
	journal(&r, clock_ms() - start);
	if (rc != 0)
		exec_note(ctx, "region switch to \"%s/%s\" %s: %s", r.x->name, r.l->name, r.outcome,
			  r.error);
cleanup:
	host_free(r.hp);
	return rc;
}
