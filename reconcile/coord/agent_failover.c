/*
 * reconcile/coord/agent_failover.c - failover through etcd (agent.h): the
 * leader's watch of the primary and its decision, the candidate agent's
 * promotion, and the decision's later states.
 */
#include "reconcile/coord/agent.h"
#include "reconcile/coord/agent_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/ha/failover_run.h"
#include "reconcile/ha/ha.h"
#include "reconcile/ha/promote.h"
#include "reconcile/transport/host.h"

/* How often a failover that stays blocked is logged again. */
#define AG_BLOCKED_LOG_MS 10000
/* After a failed promotion, the wait before the candidate's agent tries again. */
#define AG_PROMOTE_RETRY_MS 5000

/* verdict - records the leader's verdict on c's primary; logs a change. */
static void verdict(AgCluster *ac, PgcHaVerdict v, const char *reason)
{
	int64_t now = (int64_t)clock_ms();
	bool again = v == HA_BLOCKED && now - ac->logged_ms >= AG_BLOCKED_LOG_MS;

	if (v != ac->verdict || again || (v != HA_HEALTHY && strcmp(ac->reason, reason) != 0 &&
					  v != HA_SUSPECT)) {
		ac->logged_ms = now;
		if (v == HA_HEALTHY && ac->verdict != HA_HEALTHY)
			log_info("cluster \"%s\": %s", ac->name, reason);
		else if (v == HA_SUSPECT && ac->verdict == HA_HEALTHY)
			log_warn("cluster \"%s\": %s", ac->name, reason);
		else if (v == HA_BLOCKED)
			log_warn("cluster \"%s\": no failover: %s", ac->name, reason);
	}
	ac->verdict = v;
	snprintf(ac->reason, sizeof ac->reason, "%s", reason);
}

/* journal - one coordination event in the journal (the failover's timeline). */
static void journal(PgcCoordAgent *ag, const char *cluster, const char *event, const PgcDecision *d,
		    const char *detail)
{
	json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "kind", "coord-failover", "event", event,
			       "cluster", cluster, "from", d->from ? d->from : "", "to",
			       d->to ? d->to : "", "token", (json_int_t)d->token);

	json_object_set_new(ev, "agent", json_string(ag->self ? ag->self : ""));
	if (detail != NULL)
		json_object_set_new(ev, "detail", json_string(detail));
	(void)ha_journal_event(ag->state_dir, ev);
	json_decref(ev);
}

/*
 * write_decision - d into P/C/decision (key dk) in a transaction on cmp;
 * *ok: the comparisons held and it was written.
 */
static PgcEtcdStatus write_decision(PgcCoordAgent *ag, const char *dk, const PgcDecision *d,
				    const PgcEtcdCompare *cmp, size_t n_cmp, bool *ok)
{
	json_t *j = coord_decision_json(d);
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	PgcEtcdStatus st;

	json_decref(j);
	if (text == NULL)
		abort();
	{
		PgcEtcdOp op = {dk, text, strlen(text), 0};

		*ok = false;
		st = etcd_txn(ag->etcd, cmp, n_cmp, &op, 1, ok, NULL);
	}
	free(text);
	if (st != ETCD_OK)
		*ok = false;
	return st;
}

/*
 * put_decision - d into P/C/decision if the leader key still has our token
 * and the decision key's mod_revision is still dkv's (none: absent), and
 * when extra is given, that key's too. true when written.
 */
static bool put_decision(PgcCoordAgent *ag, AgCluster *ac, const PgcDecision *d,
			 const PgcEtcdKv *dkv, const PgcEtcdCompare *extra)
{
	PgcArena *a = arena_new();
	const char *dk = coord_key_decision(a, ag->prefix, ac->name);
	PgcEtcdCompare cmp[3] = {
		{coord_key_leader(a, ag->prefix, ac->name), ETCD_CMP_CREATE_REVISION, ac->token, NULL},
		{dk, dkv ? ETCD_CMP_MOD_REVISION : ETCD_CMP_CREATE_REVISION,
		 dkv ? dkv->mod_revision : 0, NULL},
	};
	size_t n = 2;
	bool ok;

	if (extra != NULL)
		cmp[n++] = *extra;
	(void)write_decision(ag, dk, d, cmp, n, &ok);
	arena_free(a);
	return ok;
}

/*
 * watched_primary - the node the leader probes: the member that reports a
 * primary, else the node the last decision promoted, else the last view's
 * primary, else the file's.
 */
static const char *watched_primary(PgcCoordAgent *ag, AgCluster *ac, const PgcCluster *c,
				   PgcArena *a, const PgcDecision *d)
{
	const char *p = ag_other_primary(ag, ac, a, "");
	const PgcEtcdKv *kv;
	PgcPrimaryView v;

	if (p != NULL && cluster_node(c, p) != NULL)
		return p;
	if (d->state == DECISION_PROMOTED || d->state == DECISION_DONE ||
	    d->state == DECISION_DECIDED)
		if (cluster_node(c, d->to) != NULL)
			return d->to;
	kv = ag_snap_get(ac, coord_key_primary(a, ag->prefix, ac->name));
	if (kv != NULL && coord_primary_parse(a, kv->value, &v) == 0 &&
	    cluster_node(c, v.primary) != NULL)
		return v.primary;
	return c->primary.v;
}

/* retarget - probe node from now on: a new probe history, the failover time kept. */
static void retarget(AgCluster *ac, const char *node)
{
	int64_t last = ac->st.last_failover_ms;

	if (strcmp(ac->primary, node) == 0 && ac->st.primary != NULL)
		return;
	snprintf(ac->primary, sizeof ac->primary, "%s", node);
	failover_probe_init(&ac->st);
	ac->st.last_failover_ms = last;
	ac->st.primary = ac->primary;
}

/*
 * forget_probes - a decision is in progress: the probe history starts
 * again after it (failover time kept), so that a primary stopped or
 * restarted by it does not count as failing since before it (a failover
 * right after an abandoned switchover).
 */
static void forget_probes(AgCluster *ac)
{
	int64_t last = ac->st.last_failover_ms;

	failover_probe_init(&ac->st);
	ac->st.last_failover_ms = last;
	ac->st.primary = NULL; /* retarget() watches it again */
}

/*
 * settle - moves a decision on (coord_decision_next): decided becomes
 * promoted once the candidate's member reports a primary (its agent's own
 * mark may have failed: the decision must not stay decided, blocking every
 * later failover, over a lost write); a new leader re-stamps one still
 * decided; promoted becomes done. Only a change is written: a decision
 * already done stays as it is (its `at` too).
 */
static void settle(PgcCoordAgent *ag, AgCluster *ac, PgcArena *a, const PgcDecision *d,
		   const PgcEtcdKv *dkv)
{
	PgcDecision nd = *d;
	PgcMember fm, tm;
	const PgcEtcdKv *tkv = ag_snap_member(ag, ac, a, d->to, &tm),
			*fkv = ag_snap_member(ag, ac, a, d->from, &fm);
	char now[40];

	nd.state = coord_decision_next(d, tkv ? &tm : NULL, fkv ? &fm : NULL, 0);
	if (nd.state == d->state && !(d->state == DECISION_DECIDED && d->token != ac->token))
		return;
	clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
	nd.token = ac->token;
	nd.leader = ag->self;
	nd.at = now;
	if (!put_decision(ag, ac, &nd, dkv, NULL))
		return;
	if (nd.state == DECISION_PROMOTED) {
		log_info("cluster \"%s\": \"%s\" reports a primary: the decision to promote it in "
			 "place of \"%s\" is marked promoted", ac->name, d->to, d->from);
		journal(ag, ac->name, "promoted", &nd, "marked by the leader");
	} else if (nd.state == DECISION_DONE) {
		log_info("cluster \"%s\": \"%s\" runs as a replica again: the failover to \"%s\" "
			 "is done", ac->name, d->from, d->to);
		journal(ag, ac->name, "done", &nd, NULL);
	} else {
		log_info("cluster \"%s\": resuming the decision to promote \"%s\" in place of "
			 "\"%s\" (token %lld)", ac->name, d->to, d->from, (long long)ac->token);
		journal(ag, ac->name, "resumed", &nd, NULL);
	}
}

/*
 * seed_last_failover - the anti-flap history (failover.min_interval) from
 * decision d's `at`: the time of the last decision was kept only in the
 * memory of the leader that made it, so a new leader could fail over again
 * at once. `at` is the decision's last change (decided, promoted, done,
 * abandoned): the window counts from there, never less than from the
 * decision itself. On the monotonic clock, no earlier than its zero.
 */
static void seed_last_failover(AgCluster *ac, const PgcDecision *d, int64_t now)
{
	struct timespec ts;
	int64_t age, seen;

	clock_gettime(CLOCK_REALTIME, &ts);
	age = coord_decision_age_ms(d->at, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	if (age < 0)
		return;
	seen = now - age > 0 ? now - age : 0;
	if (seen > ac->last_failover_ms) {
		ac->last_failover_ms = seen;
		ac->st.last_failover_ms = seen;
	}
}

/* probe_timeout - a probe's bound: the probe interval, within 1 to 5 s. */
static int probe_timeout(const PgcCluster *c)
{
	int64_t ms = c->failover.probe_interval.ms;

	return ms < 1000 ? 1000 : ms > 5000 ? 5000 : (int)ms;
}

/*
 * decide - the failover decision, written before anyone acts: compared
 * with the token, the decision key as read, and the old primary's member
 * key as evaluated (absent: still absent), so that a claim to start it
 * (agent_fence.c) and this decision never both succeed.
 */
static bool decide(PgcCoordAgent *ag, AgCluster *ac, PgcArena *a, const char *from,
		   const char *to, const PgcEtcdKv *mkv, const PgcEtcdKv *dkv, const char *reason)
{
	PgcEtcdCompare mcmp = {coord_key_member(a, ag->prefix, ac->name, from),
			       mkv ? ETCD_CMP_MOD_REVISION : ETCD_CMP_CREATE_REVISION,
			       mkv ? mkv->mod_revision : 0, NULL};
	PgcDecision d = {"failover", from, to, ac->token, ag->self, DECISION_DECIDED,
			 NULL, NULL, NULL, NULL, NULL};
	char now[40];

	clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
	d.at = now;
	if (!put_decision(ag, ac, &d, dkv, &mcmp)) {
		log_info("cluster \"%s\": the failover decision was not written: etcd changed since "
			 "it was read (evaluating again)", ac->name);
		return false;
	}
	ac->last_failover_ms = (int64_t)clock_ms();
	ac->st.last_failover_ms = ac->last_failover_ms;
	log_warn("cluster \"%s\": failover decided (token %lld): promote \"%s\" in place of \"%s\": "
		 "%s", ac->name, (long long)ac->token, to, from, reason);
	journal(ag, ac->name, "decided", &d, reason);
	return true;
}

/*
 * observe_others - the cluster observed afresh without the failed primary:
 * its probes already failed for detect_after, and waiting out the connect
 * timeout of a host that is gone would only delay the decision. The
 * candidate choice needs the others only (failover_choose takes the
 * primary's last position from P/C/primary).
 */
static PgcObserved *observe_others(PgcArena *a, const PgcTopology *t, const PgcCluster *c,
				   const char *primary)
{
	PgcTopology tt = *t;
	PgcCluster *cc = arena_alloc(a, sizeof(*cc));

	*cc = *c;
	cc->nodes = arena_calloc(a, c->n_nodes, sizeof(PgcNode));
	cc->n_nodes = 0;
	for (size_t i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].name, primary) != 0)
			cc->nodes[cc->n_nodes++] = c->nodes[i];
	tt.clusters = cc;
	tt.n_clusters = 1;
	return failover_observe(&tt, c->name);
}

/*
 * gone_between_probes - the leader need not wait for the next probe of
 * its primary (nor for that probe's timeout, when the primary's host is
 * cut off): its last probe failed within a probe round, and its member key
 * is gone or reports it down (the tick a watch woke when the lease
 * expired). failover_evaluate() then still counts detect_after from the
 * first failed probe.
 */
static bool gone_between_probes(PgcCoordAgent *ag, AgCluster *ac, const PgcCluster *c,
				PgcArena *a, const PgcDecision *d, const PgcEtcdKv *dkv, bool leads,
				int64_t now)
{
	PgcMember m;
	const PgcEtcdKv *mkv;
	const char *why;

	if (!leads || (dkv != NULL && coord_decision_in_progress(d)) || ac->st.primary == NULL ||
	    ac->st.failures == 0 ||
	    now - ac->st.last_probe_ms > c->failover.probe_interval.ms + probe_timeout(c) ||
	    strcmp(watched_primary(ag, ac, c, a, d), ac->primary) != 0)
		return false;
	mkv = ag_snap_member(ag, ac, a, ac->primary, &m);
	return coord_primary_gone(a, mkv ? &m : NULL, &why);
}

bool ag_leader_tick(PgcCoordAgent *ag, const PgcTopology *t, const PgcCluster *c, AgCluster *ac)
{
	PgcArena *a;
	PgcEvaluateOptions eo = {0};
	PgcPrimaryView view, *last = NULL;
	const PgcEtcdKv *dkv, *mkv, *vkv;
	const PgcCluster *live;
	PgcObserved *obs = NULL;
	PgcDecision d;
	PgcMember m;
	PgcHaDecision hd;
	const char *primary, *why;
	char err[512] = "";
	int64_t now = (int64_t)clock_ms();
	bool ok, decided = false, leads, between;

	if (c->failover.mode != FAILOVER_AUTO || c->n_nodes < 2)
		return false;
	a = arena_new();
	leads = ac->token != 0 && coord_agent_in_session(ag);
	dkv = ag_snap_decision(ag, ac, a, &d);
	if (dkv != NULL)
		seed_last_failover(ac, &d, now);
	if (dkv != NULL && leads)
		settle(ag, ac, a, &d, dkv);
	between = now < ac->next_probe_ms;
	if (between && !gone_between_probes(ag, ac, c, a, &d, dkv, leads, now))
		goto cleanup;
	if (!between)
		ac->next_probe_ms = now + c->failover.probe_interval.ms;
	/* The candidate's agent carries a decided failover (or a switchover) out: no
	 * second one meanwhile. A decision written since the last probe (the leader
	 * may have waited for it in its pass, not probing): the history starts again. */
	if (dkv != NULL && (coord_decision_in_progress(&d) ||
			    dkv->mod_revision != ac->probe_decision_rev)) {
		forget_probes(ac);
		ac->probe_decision_rev = dkv->mod_revision;
		if (coord_decision_in_progress(&d))
			goto cleanup;
	}
	primary = watched_primary(ag, ac, c, a, &d);
	/* A switchover just abandoned: its old primary's agent starts it again. */
	if (dkv != NULL) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		if (coord_switchover_rolling_back(&d, primary,
						  coord_decision_age_ms(d.at, (int64_t)ts.tv_sec * 1000 +
									      ts.tv_nsec / 1000000),
						  COORD_ROLLBACK_GRACE_MS)) {
			forget_probes(ac);
			goto cleanup;
		}
	}
	retarget(ac, primary);
	live = strcmp(primary, c->primary.v) == 0 ? c
						  : failover_topology(a, c, c->primary.v, primary);
	if (between) {
		ok = false; /* its last probe failed (gone_between_probes) */
		snprintf(err, sizeof err, "%s", ac->st.last_error);
	} else {
		ok = ha_probe(live, cluster_node(live, primary), probe_timeout(c), err,
			      sizeof err) == 0;
		failover_probe_record(&ac->st, ac->primary, now, ok, err);
	}
	if (ok) {
		verdict(ac, HA_HEALTHY, arena_printf(a, "primary \"%s\" answers", primary));
		goto cleanup;
	}
	/* The others only keep the probe history, for when they lead. */
	if (!leads)
		goto cleanup;
	mkv = ag_snap_member(ag, ac, a, primary, &m);
	if (!coord_primary_gone(a, mkv ? &m : NULL, &why)) {
		verdict(ac, HA_BLOCKED,
			arena_printf(a, "primary \"%s\" fails its probes from this agent (%s), but %s: "
				     "only this agent lost it", primary, err, why));
		goto cleanup;
	}
	eo.now_ms = now;
	eo.min_interval_ms = c->failover.min_interval.ms;
	eo.fenced_elsewhere = true;
	eo.confirmed_down = mkv != NULL;
	failover_evaluate(a, live, NULL, NULL, &ac->st, &eo, &hd);
	if (hd.verdict == HA_SUSPECT) {
		verdict(ac, hd.verdict, arena_printf(a, "%s; %s", hd.reason, why));
		goto cleanup;
	}
	obs = observe_others(a, t, live, primary);
	if (obs == NULL)
		goto cleanup;
	vkv = ag_snap_get(ac, coord_key_primary(a, ag->prefix, ac->name));
	if (vkv != NULL && coord_primary_parse(a, vkv->value, &view) == 0 &&
	    strcmp(view.primary, primary) == 0)
		last = &view;
	failover_evaluate(a, live, obs, last, &ac->st, &eo, &hd);
	verdict(ac, hd.verdict, arena_printf(a, "%s (%s)", hd.reason, why));
	if (hd.verdict != HA_PROMOTE)
		goto cleanup;
	/* The observation took a while: decide on what etcd holds now. */
	if (ag_snapshot(ag, ac) != 0)
		goto cleanup;
	dkv = ag_snap_decision(ag, ac, a, &d);
	mkv = ag_snap_member(ag, ac, a, primary, &m);
	if ((dkv != NULL && coord_decision_in_progress(&d)) ||
	    !coord_primary_gone(a, mkv ? &m : NULL, &why))
		goto cleanup;
	decided = decide(ag, ac, a, primary, hd.candidate, mkv, dkv, hd.reason);
	if (!decided)
		ac->next_probe_ms = 0; /* evaluated again at the next tick */
cleanup:
	observe_free(obs);
	arena_free(a);
	return decided;
}

/* ---- the candidate's side ---------------------------------------------------------- */

/*
 * mark - decision d (as read: dkv) moved to state, compared with its
 * mod_revision. true when written; when not, the decision stays decided
 * until this agent's next try, or (promoted) until the leader marks it once
 * this node's member reports a primary (settle).
 */
static bool mark(PgcCoordAgent *ag, AgCluster *ac, PgcArena *a, const PgcDecision *d,
		 const PgcEtcdKv *dkv, PgcDecisionState state)
{
	PgcDecision nd = *d;
	char now[40];
	const char *dk = coord_key_decision(a, ag->prefix, ac->name);
	PgcEtcdCompare cmp = {dk, ETCD_CMP_MOD_REVISION, dkv->mod_revision, NULL};
	PgcEtcdStatus st;
	bool ok;

	nd.state = state;
	clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
	nd.at = now;
	st = write_decision(ag, dk, &nd, &cmp, 1, &ok);
	if (ok)
		journal(ag, ac->name, coord_decision_state_name(state), &nd, NULL);
	else
		log_warn("cluster \"%s\": the decision to promote \"%s\" could not be marked %s "
			 "(%s): trying again", ac->name, d->to, coord_decision_state_name(state),
			 st != ETCD_OK ? etcd_error(ag->etcd) : "it changed since it was read");
	return ok;
}

bool ag_candidate_tick(PgcCoordAgent *ag, const PgcTopology *t, const PgcCluster *c, AgCluster *ac)
{
	PgcArena *a;
	const PgcEtcdKv *dkv;
	const PgcNode *to;
	const PgcCluster *x;
	PgcDecision d;
	PgcPromoteOptions po;
	PgcPromoteResult pr;
	double t0;
	char err[512];
	bool done = false;

	(void)t;
	if ((int64_t)clock_ms() < ac->promote_retry_ms)
		return false;
	a = arena_new();
	dkv = ag_snap_decision(ag, ac, a, &d);
	if (dkv == NULL || d.state != DECISION_DECIDED || (to = cluster_node(c, d.to)) == NULL ||
	    !ag_is_self(ag, to->host.v)) {
		ac->promote_failures = 0; /* no decision in progress here: the next one counts anew */
		goto cleanup;
	}
	x = failover_topology(a, c, d.from, d.to);
	/* Promoted already (marking it promoted failed): mark it, do not promote again. */
	if (ha_probe(x, cluster_node(x, d.to), 2000, err, sizeof err) == 0) {
		done = mark(ag, ac, a, &d, dkv, DECISION_PROMOTED);
		if (!done)
			ac->promote_retry_ms = (int64_t)clock_ms() + AG_PROMOTE_RETRY_MS;
		goto cleanup;
	}
	log_warn("cluster \"%s\": promoting \"%s\" in place of \"%s\", as decided by \"%s\" (token "
		 "%lld)", c->name, d.to, d.from, d.leader ? d.leader : "?", (long long)d.token);
	promote_defaults(&po);
	po.local_only = true;
	t0 = clock_ms();
	if (promote_run(x, d.from, &po, &pr) != 0) {
		ac->promote_retry_ms = (int64_t)clock_ms() + AG_PROMOTE_RETRY_MS;
		journal(ag, c->name, "promote-failed", &d, NULL);
		/*
		 * A candidate that cannot promote would hold the decision decided
		 * forever (no other failover meanwhile): after COORD_PROMOTE_ATTEMPTS
		 * its agent, the only one that knows nothing was promoted, abandons
		 * it, and the leader may decide again (after failover.min_interval).
		 */
		if (coord_decision_next(&d, NULL, NULL, ++ac->promote_failures) != DECISION_ABANDONED) {
			log_error("cluster \"%s\": could not promote \"%s\" (attempt %d of %d): "
				  "trying again in %d s", c->name, d.to, ac->promote_failures,
				  COORD_PROMOTE_ATTEMPTS, AG_PROMOTE_RETRY_MS / 1000);
		} else if (ha_probe(x, cluster_node(x, d.to), 2000, err, sizeof err) == 0) {
			(void)mark(ag, ac, a, &d, dkv, DECISION_PROMOTED); /* it did promote */
		} else if (mark(ag, ac, a, &d, dkv, DECISION_ABANDONED)) {
			log_error("cluster \"%s\": could not promote \"%s\" in %d attempts: the failover "
				  "decision is abandoned", c->name, d.to, ac->promote_failures);
			ac->promote_failures = 0;
		}
		goto cleanup;
	}
	log_info("cluster \"%s\": \"%s\" promoted in %.0f ms; first write %s", c->name, d.to,
		 pr.promoted_at_ms - t0,
		 pr.writable_at_ms > 0 ? arena_printf(a, "after %.0f ms", pr.writable_at_ms - t0)
				       : "not within the bound");
	if (!mark(ag, ac, a, &d, dkv, DECISION_PROMOTED))
		ac->promote_retry_ms = (int64_t)clock_ms() + AG_PROMOTE_RETRY_MS;
	done = true;
cleanup:
	arena_free(a);
	return done;
}
