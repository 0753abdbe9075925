/*
 * reconcile/coord/agent_switchover.c - switchover through etcd (agent.h,
 * coord.h): the leader's executor of ACT_SWITCHOVER (check, write the
 * decision, wait for it bounded), and each agent's part for its own nodes
 * (the old primary's stop, the target's promotion, the restart after an
 * abandon), carried out from its ticks and from the leader's wait.
 */
#include "reconcile/coord/agent.h"
#include "reconcile/coord/agent_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/ha/ha.h"
#include "reconcile/ha/promote.h"
#include "reconcile/ha/switchover.h"
#include "reconcile/pg/lsn.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/transport/host.h"

/* The leader's wait polls etcd this often. */
#define SO_POLL_MS 100
/* A switchover still stopping this long after its last write: the leader abandons it. */
#define SO_GIVE_UP_MS 90000
/* The old primary's CHECKPOINT before its stop, well under SO_GIVE_UP_MS. */
#define SO_CHECKPOINT_MS 30000
/* After a refused or failed restart of an abandoned switchover's old primary. */
#define SO_RESTART_RETRY_MS 5000
#define SO_START_TIMEOUT_S 60
/* A switchover rolled back is not tried again (same nodes) before this. */
#define SO_RETRY_AFTER_MS 300000

/* The loop's agent, for the executor (one per process; the loop's thread only). */
static PgcCoordAgent *g_agent;
static int64_t g_next_restart_ms;

void ag_switchover_attach(PgcCoordAgent *ag)
{
	g_agent = ag;
}

void ag_switchover_detach(PgcCoordAgent *ag)
{
	if (g_agent == ag)
		g_agent = NULL;
}

static double gap_ms(const PgcDecision *d);

/* journal - one switchover event in the journal (with the write gap once known). */
static void journal(PgcCoordAgent *ag, const char *cluster, const char *event, const PgcDecision *d,
		    const char *detail)
{
	json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "kind", "coord-switchover", "event",
			       event, "cluster", cluster, "from", d->from ? d->from : "", "to",
			       d->to ? d->to : "", "token", (json_int_t)d->token);

	json_object_set_new(ev, "agent", json_string(ag->self ? ag->self : ""));
	if (d->checkpoint != NULL)
		json_object_set_new(ev, "checkpoint", json_string(d->checkpoint));
	if (gap_ms(d) >= 0)
		json_object_set_new(ev, "write_gap_ms", json_integer((json_int_t)(gap_ms(d) + 0.5)));
	if (detail != NULL)
		json_object_set_new(ev, "detail", json_string(detail));
	(void)ha_journal_event(ag->state_dir, ev);
	json_decref(ev);
}

/*
 * put_rev - d into P/C/decision if the decision key's mod_revision is still
 * dkv's (NULL: the key is absent) and, as_leader, the leader key still has
 * our token. true when written; *rev (may be NULL) its new mod_revision.
 */
static bool put_rev(PgcCoordAgent *ag, AgCluster *ac, const PgcDecision *d,
		    const PgcEtcdKv *dkv, bool as_leader, int64_t *rev)
{
	PgcArena *a = arena_new();
	json_t *j = coord_decision_json(d);
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	const char *dk = coord_key_decision(a, ag->prefix, ac->name);
	PgcEtcdCompare cmp[2] = {
		{dk, dkv ? ETCD_CMP_MOD_REVISION : ETCD_CMP_CREATE_REVISION,
		 dkv ? dkv->mod_revision : 0, NULL},
		{coord_key_leader(a, ag->prefix, ac->name), ETCD_CMP_CREATE_REVISION, ac->token, NULL},
	};
	PgcEtcdOp op = {dk, text, text ? strlen(text) : 0, 0};
	PgcEtcdStatus st;
	bool ok = false;

	json_decref(j);
	if (text == NULL)
		abort();
	st = etcd_txn(ag->etcd, cmp, as_leader ? 2 : 1, &op, 1, &ok, rev);
	if (st != ETCD_OK || !ok)
		log_warn("cluster \"%s\": the switchover to \"%s\" could not be marked %s (%s)",
			 ac->name, d->to, coord_decision_state_name(d->state),
			 st != ETCD_OK ? etcd_error(ag->etcd) : "it changed since it was read");
	else
		journal(ag, ac->name, coord_decision_state_name(d->state), d, d->why);
	free(text);
	arena_free(a);
	return st == ETCD_OK && ok;
}

/* put - put_rev() without the new revision. */
static bool put(PgcCoordAgent *ag, AgCluster *ac, const PgcDecision *d, const PgcEtcdKv *dkv,
		bool as_leader)
{
	return put_rev(ag, ac, d, dkv, as_leader, NULL);
}

/* moved - d as it moves to state now, stamped by this agent's clock. */
static PgcDecision moved(PgcArena *a, const PgcDecision *d, PgcDecisionState state)
{
	PgcDecision nd = *d;
	char now[40];

	nd.state = state;
	nd.at = arena_strdup(a, clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now));
	return nd;
}

/* iso_ago - the wall-clock time ms_ago milliseconds ago, ISO with milliseconds, in a. */
static const char *iso_ago(PgcArena *a, double ms_ago)
{
	struct timespec ts;
	int64_t ms;
	char buf[40];

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - (int64_t)(ms_ago > 0 ? ms_ago : 0);
	return arena_strdup(a, clock_utc_format((time_t)(ms / 1000), (long)(ms % 1000),
						CLOCK_UTC_ISO_MS, buf, sizeof buf));
}

/* live_cluster - c with `primary` as its primary (c itself, or a copy in a). */
static const PgcCluster *live_cluster(PgcArena *a, const PgcCluster *c, const char *primary)
{
	if (c->primary.v != NULL && strcmp(c->primary.v, primary) == 0)
		return c;
	return failover_topology(a, c, c->primary.v, primary);
}

/* server_runs - a postmaster runs for n (on this host); unknown counts as running. */
static bool server_runs(const PgcCluster *c, const PgcNode *n)
{
	PgcHost *h = host_for(n->host.v, c->os_user.v);
	bool runs = h == NULL || ha_postmaster_pid(h, n) != 0;

	host_free(h);
	return runs;
}

/* ---- each agent's part ----------------------------------------------------------------- */

/*
 * part_restart - the switchover was abandoned and its old primary n (here)
 * does not run: started again as the primary, after a claim (agent.h).
 */
static bool part_restart(PgcCoordAgent *ag, const PgcCluster *c, const PgcNode *n,
			 const PgcDecision *d)
{
	AgNode *an = ag_node(ag, c->name, n->name);
	PgcHost *h;
	bool started = false;

	/* A self-fenced node is its fence's to start; a replica is the planner's. */
	if ((an != NULL && an->fenced) || (int64_t)clock_ms() < g_next_restart_ms ||
	    !ag_would_be_primary(c, n))
		return false;
	g_next_restart_ms = (int64_t)clock_ms() + SO_RESTART_RETRY_MS;
	if (!ag_claim_start(ag, c, n))
		return false;
	log_warn("cluster \"%s\": the switchover to \"%s\" was abandoned (%s): starting \"%s\" "
		 "again as the primary", c->name, d->to, d->why ? d->why : "no reason given",
		 n->name);
	if ((h = host_for(n->host.v, c->os_user.v)) != NULL &&
	    pgctl_start(h, c, n, SO_START_TIMEOUT_S) == 0) {
		log_info("rolled back: \"%s/%s\" is the primary again", c->name, n->name);
		if (an != NULL)
			an->was_primary = true;
		started = true;
	} else {
		log_error("cluster \"%s\": could not start \"%s\" again after the abandoned "
			  "switchover: trying again", c->name, n->name);
	}
	host_free(h);
	return started;
}

/*
 * part_stop - the old primary n (here), decision stopping: CHECKPOINT
 * (bounded), stopped_at into the decision (a transaction on it as read: not
 * written, the switchover was abandoned or changed, and n is not stopped),
 * fast shutdown, its shutdown checkpoint into the decision (stopped). A
 * stop that fails abandons the switchover; a server that went down then
 * is started again.
 */
static bool part_stop(PgcCoordAgent *ag, AgCluster *ac, const PgcCluster *c, const PgcNode *n,
		      PgcArena *a, const PgcDecision *d, const PgcEtcdKv *dkv)
{
	PgcSwitchoverOptions o;
	PgcDecision nd;
	PgcHost *h = host_for(n->host.v, c->os_user.v);
	const PgcCluster *live = live_cluster(a, c, n->name);
	PgcDecision sd;
	PgcEtcdKv skv;
	int64_t rev = 0;
	uint64_t lsn = 0;
	char err[600], l[32];
	int rc;

	switchover_defaults(&o, NULL);
	if (h == NULL)
		return false;
	log_warn("cluster \"%s\": switching over to \"%s\", as decided by \"%s\" (token %lld): "
		 "stopping \"%s\"", c->name, d->to, d->leader ? d->leader : "?", (long long)d->token,
		 n->name);
	if (ha_postmaster_pid(h, n) != 0)
		switchover_checkpoint(live, n, SO_CHECKPOINT_MS);
	/* The stop is announced first: the leader's give-up then carries stopped_at,
	 * and this agent starts n again after an abandon (SWITCHOVER_PART_RESTART). */
	sd = moved(a, d, DECISION_STOPPING);
	sd.stopped_at = sd.at;
	if (!put_rev(ag, ac, &sd, dkv, false, &rev) || rev <= 0) {
		log_warn("cluster \"%s\": \"%s\" is not stopped: its stop could not be announced "
			 "in the decision (tried again at the next tick, unless it was abandoned)",
			 c->name, n->name);
		host_free(h);
		return true;
	}
	skv = *dkv;
	skv.mod_revision = rev;
	dkv = &skv;
	d = &sd;
	rc = switchover_stop(h, live, n, o.stop_timeout_s, &lsn, err, sizeof err);
	host_free(h);
	if (rc == 0) {
		nd = moved(a, d, DECISION_STOPPED);
		nd.checkpoint = arena_strdup(a, lsn_format(lsn, l, sizeof l));
		if (put(ag, ac, &nd, dkv, false))
			log_info("cluster \"%s\": \"%s\" stopped cleanly, shutdown checkpoint %s: "
				 "\"%s\" is promoted once it replayed it", c->name, n->name,
				 nd.checkpoint, d->to);
		/* Not written: the next tick reads the decision again (abandoned: a restart). */
		return true;
	}
	log_error("cluster \"%s\": switchover to \"%s\": %s", c->name, d->to, err);
	nd = moved(a, d, DECISION_ABANDONED);
	nd.why = arena_strdup(a, err);
	if (put(ag, ac, &nd, dkv, false) && !server_runs(c, n))
		(void)part_restart(ag, c, n, &nd);
	return true;
}

/* abandon_promotion - the target was not promoted: its files back, the decision abandoned. */
static void abandon_promotion(PgcCoordAgent *ag, AgCluster *ac, const PgcCluster *c,
			      const PgcNode *to, PgcArena *a, const PgcDecision *d,
			      const PgcEtcdKv *dkv, const char *why)
{
	PgcDecision nd = moved(a, d, DECISION_ABANDONED);
	const PgcCluster *before = live_cluster(a, c, d->from);

	log_error("cluster \"%s\": switchover from \"%s\" to \"%s\" abandoned before the "
		  "promotion: %s", c->name, d->from, d->to, why);
	if (switchover_restore_target(before, cluster_node(before, to->name)) != 0)
		log_warn("cluster \"%s\": the files of \"%s\" could not be put back as a replica of "
			 "\"%s\" (the next pass does)", c->name, to->name, d->from);
	nd.why = why;
	(void)put(ag, ac, &nd, dkv, false);
}

/*
 * part_promote - the target n (here), decision stopped: waits (bounded)
 * until it replayed past the old primary's shutdown checkpoint, then
 * promotes it (promote_run, this host's replicas only) and marks it
 * promoted with the time of its first commit. Not in time, or not
 * promoted: abandoned (the old primary's agent starts it again).
 */
static bool part_promote(PgcCoordAgent *ag, AgCluster *ac, const PgcCluster *c, const PgcNode *n,
			 PgcArena *a, const PgcDecision *d, const PgcEtcdKv *dkv)
{
	PgcSwitchoverOptions o;
	PgcPromoteOptions po;
	PgcPromoteResult pr;
	PgcDecision nd;
	const PgcCluster *x;
	uint64_t lsn, seen = 0;
	char err[600] = "", l[32];
	double t0 = clock_ms();

	switchover_defaults(&o, NULL);
	if (lsn_parse(d->checkpoint, &lsn) != 0) {
		abandon_promotion(ag, ac, c, n, a, d, dkv,
				  arena_printf(a, "the decision's checkpoint \"%s\" is not an LSN",
					       d->checkpoint));
		return true;
	}
	if (switchover_wait_replayed(c, n, lsn, o.replay_timeout_s, &seen, err, sizeof err) != 0) {
		abandon_promotion(ag, ac, c, n, a, d, dkv,
				  arena_printf(a, "\"%s\" did not replay the shutdown checkpoint %s of "
					       "\"%s\" within %d s (replayed up to %s)%s%s",
					       n->name, d->checkpoint, d->from, o.replay_timeout_s,
					       lsn_format(seen, l, sizeof l), err[0] ? ": " : "", err));
		return true;
	}
	log_info("cluster \"%s\": \"%s\" replayed the shutdown checkpoint %s of \"%s\": promoting it",
		 c->name, n->name, d->checkpoint, d->from);
	/* As switchover_run(): from the cluster as it is live, `from` its primary. */
	x = failover_topology(a, live_cluster(a, c, d->from), d->from, n->name);
	promote_defaults(&po);
	po.local_only = true;
	po.replay_timeout_s = o.replay_timeout_s;
	po.promote_timeout_s = o.promote_timeout_s;
	if (promote_run(x, d->from, &po, &pr) != 0 && !pr.promoted &&
	    switchover_in_recovery(x, n) != 0) {
		const PgcCluster *before = live_cluster(a, c, d->from);

		/* Asked to promote, it may still do so: abandoned only once it cannot. */
		if (pr.requested && switchover_unpromote_target(before, cluster_node(before, n->name),
								o.ready_timeout_s) != 0) {
			log_warn("cluster \"%s\": \"%s\" may still promote: the switchover stays "
				 "stopped, checked again at the next tick", c->name, n->name);
			return true;
		}
		abandon_promotion(ag, ac, c, n, a, d, dkv,
				  arena_printf(a, "could not promote \"%s\"", n->name));
		return true;
	}
	nd = moved(a, d, DECISION_PROMOTED);
	if (pr.writable_at_ms > 0)
		nd.writable_at = iso_ago(a, clock_ms() - pr.writable_at_ms);
	log_info("cluster \"%s\": \"%s\" promoted in %.0f ms after the replay; first write %s",
		 c->name, n->name, pr.promoted_at_ms - t0,
		 pr.writable_at_ms > 0 ? arena_printf(a, "after %.0f ms", pr.writable_at_ms - t0)
				       : "not within the bound");
	/* The gap is known here first (the leader may have stopped waiting for the mark). */
	if (gap_ms(&nd) >= 0)
		log_info("cluster \"%s\": switchover from \"%s\" to \"%s\": write gap %.0f ms (from "
			 "the stop of \"%s\" to the first commit on \"%s\", the two hosts' clocks)",
			 c->name, d->from, n->name, gap_ms(&nd), d->from, n->name);
	(void)put(ag, ac, &nd, dkv, false); /* not written: marked at the next tick */
	return true;
}

/* ---- the leader's part ---------------------------------------------------------------- */

/*
 * leader_part - moves a switchover on from what the members show: stopped
 * becomes promoted once `to` reports a primary (its agent's own mark may
 * have failed), promoted becomes done once `from` runs as a replica; a
 * switchover whose old primary's agent did not stop it in time is
 * abandoned (coord_switchover_give_up).
 */
static bool leader_part(PgcCoordAgent *ag, AgCluster *ac, PgcArena *a, const PgcDecision *d,
			const PgcEtcdKv *dkv)
{
	PgcMember fm, tm;
	const PgcEtcdKv *tkv = ag_snap_member(ag, ac, a, d->to, &tm),
			*fkv = ag_snap_member(ag, ac, a, d->from, &fm);
	PgcDecisionState next = coord_decision_next(d, tkv ? &tm : NULL, fkv ? &fm : NULL, 0);
	struct timespec ts;
	PgcDecision nd;
	int64_t age;

	if ((d->state == DECISION_STOPPED && next == DECISION_PROMOTED) ||
	    (d->state == DECISION_PROMOTED && next == DECISION_DONE)) {
		nd = moved(a, d, next);
		nd.token = ac->token;
		nd.leader = ag->self;
		if (put(ag, ac, &nd, dkv, true) && next == DECISION_DONE)
			log_info("cluster \"%s\": \"%s\" runs as a replica of \"%s\": the switchover "
				 "is done", ac->name, d->from, d->to);
		return true;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	age = coord_decision_age_ms(d->at, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	if (coord_switchover_give_up(d, fkv ? &fm : NULL, age, SO_GIVE_UP_MS)) {
		nd = moved(a, d, DECISION_ABANDONED);
		nd.token = ac->token;
		nd.leader = ag->self;
		nd.why = fkv == NULL && d->stopped_at == NULL
				 ? arena_printf(a, "the agent of \"%s\" is gone", d->from)
				 : arena_printf(a, "the agent of \"%s\" did not stop it within %d s",
						d->from, SO_GIVE_UP_MS / 1000);
		(void)put(ag, ac, &nd, dkv, true);
		return true;
	}
	return false;
}

bool ag_switchover_tick(PgcCoordAgent *ag, const PgcTopology *t, const PgcCluster *c,
			AgCluster *ac)
{
	PgcArena *a;
	const PgcEtcdKv *dkv;
	const PgcNode *from, *to;
	PgcDecision d;
	bool acted = false;

	(void)t;
	a = arena_new();
	dkv = ag_snap_decision(ag, ac, a, &d);
	if (dkv == NULL || d.kind == NULL || strcmp(d.kind, "switchover") != 0 ||
	    d.state == DECISION_DONE || (from = cluster_node(c, d.from)) == NULL ||
	    (to = cluster_node(c, d.to)) == NULL)
		goto cleanup;
	if (ac->token != 0 && coord_agent_leads(ag, ac->name) && leader_part(ag, ac, a, &d, dkv))
		goto cleanup; /* the decision changed: parts at the next tick, on a fresh read */
	if (ag_is_self(ag, from->host.v)) {
		bool runs = d.state == DECISION_ABANDONED ? server_runs(c, from) : true;

		switch (coord_switchover_part(&d, from->name, runs, false)) {
		case SWITCHOVER_PART_STOP:
			acted = part_stop(ag, ac, c, from, a, &d, dkv);
			goto cleanup;
		case SWITCHOVER_PART_RESTART:
			acted = part_restart(ag, c, from, &d);
			goto cleanup;
		default:
			break;
		}
	}
	if (ag_is_self(ag, to->host.v) && d.state == DECISION_STOPPED) {
		bool primary = switchover_in_recovery(c, to) == 0 && server_runs(c, to);
		PgcDecision nd;

		switch (coord_switchover_part(&d, to->name, true, primary)) {
		case SWITCHOVER_PART_PROMOTE:
			acted = part_promote(ag, ac, c, to, a, &d, dkv);
			break;
		case SWITCHOVER_PART_MARK_PROMOTED:
			nd = moved(a, &d, DECISION_PROMOTED);
			acted = put(ag, ac, &nd, dkv, false);
			break;
		default:
			break;
		}
	}
cleanup:
	arena_free(a);
	return acted;
}

/* ---- the leader's executor --------------------------------------------------------------- */

/* gap_ms - writable_at - stopped_at (two hosts' wall clocks), -1 when unknown. */
static double gap_ms(const PgcDecision *d)
{
	/* Both ages from one instant well past them: neither lies ahead. */
	struct timespec ts;
	int64_t far, s, w;

	if (d->stopped_at == NULL || d->writable_at == NULL)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	far = (int64_t)ts.tv_sec * 1000 + 86400000;
	s = coord_decision_age_ms(d->stopped_at, far);
	w = coord_decision_age_ms(d->writable_at, far);
	return s < 0 || w < 0 ? -1 : (double)(s - w);
}

static bool same_switchover(const PgcDecision *d, const char *from, const char *to)
{
	return d->kind != NULL && strcmp(d->kind, "switchover") == 0 && strcmp(d->from, from) == 0 &&
	       strcmp(d->to, to) == 0;
}

/*
 * missing - why no agent would carry a switchover from -> to out
 * (coord_switchover_missing, from etcd: the agent keys read now, the
 * members from ac's snapshot), NULL when they would.
 */
static const char *missing(PgcCoordAgent *ag, AgCluster *ac, PgcArena *a, const PgcCluster *live,
			   const PgcNode *from, const PgcNode *to)
{
	PgcMember fm, tm;
	const PgcEtcdKv *fkv = ag_snap_member(ag, ac, a, from->name, &fm),
			*tkv = ag_snap_member(ag, ac, a, to->name, &tm);
	bool agent[2] = {false, false};
	const char *host[2] = {cluster_node(live, from->name)->host.v,
			       cluster_node(live, to->name)->host.v};

	for (int i = 0; i < 2; i++) {
		PgcEtcdKv kv;

		if (etcd_get(ag->etcd, a, coord_key_agent(a, ag->prefix, host[i]), &kv, &agent[i],
			     NULL) != ETCD_OK)
			return "etcd cannot be read";
	}
	return coord_switchover_missing(agent[0], agent[1], fkv ? &fm : NULL, tkv ? &tm : NULL);
}

/* report - the journal line of the executor, as ha_apply_switchover writes it. */
static void report(PgcExecCtx *ctx, const char *from, const char *to, const char *outcome,
		   const PgcDecision *d, double elapsed_ms, const char *error)
{
	double gap = d != NULL ? gap_ms(d) : -1;
	json_t *ev = json_pack("{s:s,s:s,s:s?,s:s,s:s}", "event", "switchover", "cluster",
			       ctx->c->name, "node", ctx->n ? ctx->n->name : NULL, "action",
			       ctx->a->id, "kind", "switchover");

	json_object_set_new(ev, "from", json_string(from));
	json_object_set_new(ev, "to", json_string(to));
	json_object_set_new(ev, "outcome", json_string(outcome));
	json_object_set_new(ev, "coordinated", json_true());
	json_object_set_new(ev, "error", error ? json_string(error) : json_null());
	json_object_set_new(ev, "write_gap_ms",
			    gap >= 0 ? json_integer((json_int_t)(gap + 0.5)) : json_null());
	json_object_set_new(ev, "duration_ms", json_integer((json_int_t)(elapsed_ms + 0.5)));
	if (d != NULL && d->checkpoint != NULL)
		json_object_set_new(ev, "shutdown_checkpoint", json_string(d->checkpoint));
	(void)ha_journal_event(ctx->state_dir, ev);
	json_decref(ev);
}

int coord_switchover_apply(PgcExecCtx *ctx)
{
	PgcCoordAgent *ag = g_agent;
	const PgcAction *act = ctx->a;
	const PgcCluster *c = ctx->c, *live;
	const PgcNode *to, *from;
	PgcSwitchoverOptions o;
	AgCluster *ac;
	PgcArena *a = ctx->arena;
	const PgcEtcdKv *dkv;
	PgcDecision d, nd;
	double start = clock_ms(), deadline, next_look = 0;
	const PgcCluster *live_to;
	bool promoted_unmarked = false;
	const char *why;
	char err[600], now[40];

	to = act->payload.target ? cluster_node(c, act->payload.target) : NULL;
	from = act->payload.upstream ? cluster_node(c, act->payload.upstream) : NULL;
	if (to == NULL || from == NULL || to == from)
		return exec_fail(ctx, "cannot run \"%s\": it must name two nodes of cluster \"%s\"",
				  act->id, c->name);
	if (ag == NULL)
		return exec_fail(ctx, "cannot switch over cluster \"%s\" from here: with "
				  "coordination.etcd the agents carry switchovers out ('pgconverge "
				  "reconcile --allow-switchover' on every host)", c->name);
	ac = ag_cluster(ag, c->name);
	if (ac == NULL || !coord_agent_leads(ag, c->name))
		return exec_fail(ctx, "cannot switch over cluster \"%s\": this agent does not lead it",
				  c->name);
	live = live_cluster(a, c, from->name);
	if (ha_probe(live, cluster_node(live, to->name), 5000, err, sizeof err) == 0) {
		log_info("\"%s\" is already the primary of cluster \"%s\"", to->name, c->name);
		ctx->nothing_to_do = true;
		return 0;
	}
	live_to = live_cluster(a, c, to->name);
	switchover_defaults(&o, NULL);
	if (ag_snapshot(ag, ac) != 0)
		return exec_fail(ctx, "cannot switch over cluster \"%s\": etcd cannot be read",
				  c->name);
	dkv = ag_snap_decision(ag, ac, a, &d);
	if (dkv != NULL && coord_decision_in_progress(&d) && !same_switchover(&d, from->name, to->name))
		return exec_fail(ctx, "cannot switch over cluster \"%s\": a %s from \"%s\" to \"%s\" "
				  "is in progress (%s)", c->name, d.kind ? d.kind : "decision",
				  d.from, d.to, coord_decision_state_name(d.state));
	/* Rolled back: not again at every pass, each one stopping the primary. */
	if (dkv != NULL && d.state == DECISION_ABANDONED && same_switchover(&d, from->name, to->name)) {
		struct timespec ts;
		int64_t age;

		clock_gettime(CLOCK_REALTIME, &ts);
		age = coord_decision_age_ms(d.at, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		if (age >= 0 && age < SO_RETRY_AFTER_MS)
			return exec_fail(ctx, "switchover of cluster \"%s\" to \"%s\" not tried again "
					  "yet: it was rolled back %lld s ago (%s); again after %d s",
					  c->name, to->name, (long long)(age / 1000),
					  d.why ? d.why : "no reason given", SO_RETRY_AFTER_MS / 1000);
	}
	if (dkv != NULL && coord_decision_in_progress(&d)) {
		log_info("cluster \"%s\": resuming the switchover from \"%s\" to \"%s\" (%s)", c->name,
			 from->name, to->name, coord_decision_state_name(d.state));
	} else {
		/* 1. Checks, changing nothing; then the decision, before anyone acts. */
		if (switchover_check(live, cluster_node(live, from->name), cluster_node(live, to->name),
				     &o, err, sizeof err) != 0) {
			report(ctx, from->name, to->name, "refused", NULL, clock_ms() - start, err);
			return exec_fail(ctx, "%s", err);
		}
		if ((why = missing(ag, ac, a, live, from, to)) != NULL) {
			report(ctx, from->name, to->name, "refused", NULL, clock_ms() - start, why);
			return exec_fail(ctx, "cannot switch over cluster \"%s\" to \"%s\": %s",
					  c->name, to->name, why);
		}
		memset(&nd, 0, sizeof nd);
		nd.kind = "switchover";
		nd.from = from->name;
		nd.to = to->name;
		nd.token = ac->token;
		nd.leader = ag->self;
		nd.state = DECISION_STOPPING;
		nd.at = clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
		if (!put(ag, ac, &nd, dkv, true))
			return exec_fail(ctx, "cannot switch over cluster \"%s\": the decision could not "
					  "be written (etcd changed since it was read, or this agent no "
					  "longer leads)", c->name);
		log_warn("cluster \"%s\": switchover decided (token %lld): \"%s\" stops, \"%s\" is "
			 "promoted once it replayed its shutdown checkpoint", c->name,
			 (long long)ac->token, from->name, to->name);
	}
	/* 2.-5. The agents of both hosts carry it out; this one does its own part here. */
	deadline = clock_ms() +
		   (o.stop_timeout_s + o.replay_timeout_s + o.promote_timeout_s + 30) * 1000.0;
	for (;;) {
		if (!coord_agent_leads(ag, c->name)) {
			report(ctx, from->name, to->name, "failed", NULL, clock_ms() - start,
			       "this agent no longer leads");
			return exec_fail(ctx, "switchover of cluster \"%s\" to \"%s\": this agent no "
					  "longer leads the cluster; the agents carry the decision on",
					  c->name, to->name);
		}
		if (ag_snapshot(ag, ac) == 0) {
			(void)ag_switchover_tick(ag, ctx->t, c, ac);
			if (ag_snapshot(ag, ac) == 0) {
				dkv = ag_snap_decision(ag, ac, a, &d);
				if (dkv == NULL || !same_switchover(&d, from->name, to->name)) {
					report(ctx, from->name, to->name, "failed", NULL,
					       clock_ms() - start, "the decision was replaced");
					return exec_fail(ctx, "switchover of cluster \"%s\" to \"%s\": the "
							  "decision was replaced in etcd", c->name,
							  to->name);
				}
				if (d.state == DECISION_PROMOTED || d.state == DECISION_DONE)
					break;
				/*
				 * Promoted, not marked yet: its agent waits for the first
				 * commit, which may need the old primary to stream again -
				 * the next pass here, when this host is the old primary's.
				 */
				if (d.state == DECISION_STOPPED && clock_ms() >= next_look &&
				    switchover_in_recovery(live_to, cluster_node(live_to, to->name)) == 0) {
					promoted_unmarked = true;
					break;
				}
				if (clock_ms() >= next_look)
					next_look = clock_ms() + 500;
				if (d.state == DECISION_ABANDONED) {
					report(ctx, from->name, to->name, "rolled-back", &d,
					       clock_ms() - start, d.why);
					return exec_fail(ctx, "switchover of cluster \"%s\" to \"%s\" "
							  "rolled back: %s", c->name, to->name,
							  d.why ? d.why : "abandoned");
				}
			}
		}
		if (clock_ms() >= deadline) {
			report(ctx, from->name, to->name, "failed", NULL, clock_ms() - start,
			       "not carried out in time");
			return exec_fail(ctx, "switchover of cluster \"%s\" to \"%s\" not carried out "
					  "within %.0f s (state %s): the agents carry the decision on",
					  c->name, to->name, (clock_ms() - start) / 1000.0,
					  coord_decision_state_name(d.state));
		}
		clock_sleep_ms(SO_POLL_MS);
	}
	report(ctx, from->name, to->name, "done", &d, clock_ms() - start, NULL);
	if (promoted_unmarked)
		log_info("switched over cluster \"%s\" from \"%s\" to \"%s\": \"%s\" takes writes "
			 "(its agent reports the write gap once its first commit is acknowledged)",
			 c->name, from->name, to->name, to->name);
	else if (gap_ms(&d) >= 0)
		log_info("switched over cluster \"%s\" from \"%s\" to \"%s\": write gap %.0f ms "
			 "(shutdown checkpoint %s)", c->name, from->name, to->name, gap_ms(&d),
			 d.checkpoint ? d.checkpoint : "?");
	else
		log_info("switched over cluster \"%s\" from \"%s\" to \"%s\": write gap unknown (no "
			 "write committed in time)", c->name, from->name, to->name);
	return 0;
}
