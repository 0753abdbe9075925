/*
 * reconcile/ha/failover.c - candidate choice and the failover decision
 * (failover.h). Pure: everything comes in as arguments.
 */
#include "reconcile/ha/failover.h"
#include "reconcile/pg/lsn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- LSNs ------------------------------------------------------------------ */

/* bytes_text - "123 bytes", "12.5 kB", "16.0 MB" for messages. */
static const char *bytes_text(PgcArena *a, uint64_t b)
{
	if (b < 10 * 1024)
		return arena_printf(a, "%" PRIu64 " bytes", b);
	if (b < 1024ull * 1024)
		return arena_printf(a, "%.1f kB", (double)b / 1024.0);
	return arena_printf(a, "%.1f MB", (double)b / (1024.0 * 1024.0));
}

/* duration_text - a duration in ms as "2.1 s" or "5 min". */
static const char *duration_text(PgcArena *a, int64_t ms)
{
	if (ms % 60000 == 0 && ms >= 60000)
		return arena_printf(a, "%lld min", (long long)(ms / 60000));
	if (ms % 1000 == 0)
		return arena_printf(a, "%lld s", (long long)(ms / 1000));
	return arena_printf(a, "%.1f s", (double)ms / 1000.0);
}

/* ---- observed state helpers ------------------------------------------------ */

static const PgcObsCluster *obs_cluster(const PgcObserved *obs, const char *name)
{
	if (obs == NULL)
		return NULL;
	for (size_t i = 0; i < obs->n_clusters; i++)
		if (strcmp(obs->clusters[i].name, name) == 0)
			return &obs->clusters[i];
	return NULL;
}

static const PgcObsNode *obs_node(const PgcObsCluster *oc, const char *name)
{
	if (oc == NULL)
		return NULL;
	for (size_t i = 0; i < oc->n_nodes; i++)
		if (strcmp(oc->nodes[i].name, name) == 0)
			return &oc->nodes[i];
	return NULL;
}

/* node_position - max(received, replayed) of a standby; false when neither is known. */
static bool node_position(const PgcObsNode *o, uint64_t *pos)
{
	uint64_t r = 0, p = 0;
	bool has_r = lsn_parse(o->receive_lsn, &r) == 0;
	bool has_p = lsn_parse(o->replay_lsn, &p) == 0;

	if (!has_r && !has_p)
		return false;
	*pos = r > p ? r : p;
	return true;
}

const char *failover_live_primary(const PgcObserved *obs, const char *cluster)
{
	const char *found = NULL;

	for (size_t i = 0; obs != NULL && i < obs->n_clusters; i++) {
		const PgcObsCluster *oc = &obs->clusters[i];

		if (strcmp(oc->name, cluster) != 0)
			continue;
		for (size_t j = 0; j < oc->n_nodes; j++) {
			if (!oc->nodes[j].reachable || oc->nodes[j].in_recovery)
				continue;
			if (found != NULL)
				return NULL;
			found = oc->nodes[j].name;
		}
	}
	return found;
}

void failover_view_from_observed(const PgcObserved *obs, const char *cluster, const char *primary,
				 PgcPrimaryView *view)
{
	const PgcObsNode *o = obs_node(obs_cluster(obs, cluster), primary);

	memset(view, 0, sizeof(*view));
	if (o == NULL || !o->reachable || o->in_recovery)
		return;
	view->primary = o->name;
	view->seen_at = obs->observed_at;
	view->current_lsn = o->current_lsn;
	view->timeline = o->timeline;
	view->replicas = o->replicas;
	view->n_replicas = o->n_replicas;
}

/* ---- candidate choice ------------------------------------------------------ */

static bool is_sync_state(const char *s)
{
	return s != NULL && (strcmp(s, "sync") == 0 || strcmp(s, "quorum") == 0);
}

/* view_sync_state - the sync_state of node in the view, or NULL when it was not streaming. */
static const char *view_sync_state(const PgcPrimaryView *v, const char *node)
{
	for (size_t i = 0; i < v->n_replicas; i++)
		if (v->replicas[i].application_name != NULL &&
		    strcmp(v->replicas[i].application_name, node) == 0)
			return v->replicas[i].sync_state ? v->replicas[i].sync_state : "unknown";
	return NULL;
}

static bool view_has_sync(const PgcPrimaryView *v)
{
	for (size_t i = 0; i < v->n_replicas; i++)
		if (is_sync_state(v->replicas[i].sync_state))
			return true;
	return false;
}

/* follows - true when node n's upstream in the topology is the node named primary. */
static bool follows(const PgcCluster *c, const PgcNode *n, const char *primary)
{
	const PgcNode *up;

	if (n->replicate_from.set)
		return strcmp(n->replicate_from.v, primary) == 0;
	up = cluster_node(c, c->primary.v);
	return up != NULL && strcmp(up->name, primary) == 0;
}

/* streams_from - true when standby o's WAL receiver is connected to node p. */
static bool streams_from(const PgcCluster *c, const PgcNode *n, const PgcObsNode *o,
			 const PgcNode *p)
{
	if (o->upstream_host != NULL)
		return strcmp(o->upstream_host, p->host.v) == 0 && o->upstream_port == (int)p->port.v;
	return follows(c, n, p->name);
}

/*
 * partition_witness - a replica whose WAL receiver got a message from the
 * primary within detect_after, or NULL.
 */
static const PgcObsNode *partition_witness(const PgcCluster *c, const PgcObsCluster *oc,
					   const PgcNode *p)
{
	double limit_s = (double)c->failover.detect_after.ms / 1000.0;

	for (size_t i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];
		const PgcObsNode *o = obs_node(oc, n->name);

		if (n == p || o == NULL || !o->reachable || !o->in_recovery)
			continue;
		if (o->wal_receiver_status == NULL || strcmp(o->wal_receiver_status, "streaming") != 0)
			continue;
		if (o->wal_receiver_last_msg_age_s < 0 || o->wal_receiver_last_msg_age_s >= limit_s)
			continue;
		if (streams_from(c, n, o, p))
			return o;
	}
	return NULL;
}

/* reference_sysid - the cluster's system identifier: the primary's, else the first standby's. */
static uint64_t reference_sysid(const PgcCluster *c, const PgcObsCluster *oc, const char *primary)
{
	const PgcObsNode *o = obs_node(oc, primary);

	if (o != NULL && o->system_identifier != 0)
		return o->system_identifier;
	for (size_t i = 0; i < c->n_nodes; i++) {
		o = obs_node(oc, c->nodes[i].name);
		if (o != NULL && o->reachable && o->in_recovery && o->system_identifier != 0)
			return o->system_identifier;
	}
	return 0;
}

/* better - true when candidate x ranks before y: position, region, then order. */
static bool better(const PgcCandidate *x, const PgcCandidate *y)
{
	if (x->position != y->position)
		return x->position > y->position;
	if (x->in_preferred_region != y->in_preferred_region)
		return x->in_preferred_region;
	return false; /* declaration order: x comes later in the list */
}

/* node_names - "\"a\", \"b\"" of the candidates flagged in mask. */
static const char *names_of(PgcArena *a, const PgcChoice *ch, const bool *mask)
{
	const char *s = NULL;

	for (size_t i = 0; i < ch->n_candidates; i++) {
		if (!mask[i])
			continue;
		s = s ? arena_printf(a, "%s, \"%s\"", s, ch->candidates[i].node)
		      : arena_printf(a, "\"%s\"", ch->candidates[i].node);
	}
	return s ? s : "none";
}

/*
 * sync_members - marks the synchronous standbys (mask) and returns how many
 * of them must be compared so that one of them surely holds every
 * acknowledged commit. Returns 0 when replication is asynchronous.
 */
static size_t sync_members(const PgcCluster *c, const char *primary, const PgcPrimaryView *last,
			   PgcChoice *ch, bool *mask, size_t *n_members)
{
	long long k = c->replication.synchronous.count.set ? c->replication.synchronous.count.v : 1;
	bool seen = last != NULL && last->primary != NULL && strcmp(last->primary, primary) == 0 &&
		    view_has_sync(last);
	size_t m = 0;

	*n_members = 0;
	if (c->replication.synchronous.method == SYNC_OFF)
		return 0;
	ch->sync_declared = !seen;
	for (size_t i = 0; i < ch->n_candidates; i++) {
		const PgcNode *n = cluster_node(c, ch->candidates[i].node);

		if (seen)
			mask[i] = is_sync_state(view_sync_state(last, n->name));
		else
			mask[i] = follows(c, n, primary);
		ch->candidates[i].was_sync = mask[i];
		if (mask[i])
			m++;
	}
	*n_members = m;
	if (m == 0)
		return 1; /* nobody was synchronous: the choice fails below */
	/* FIRST k as seen: each "sync" standby flushed every acknowledged commit. */
	if (seen && c->replication.synchronous.method == SYNC_FIRST)
		return 1;
	return (long long)m > k ? (size_t)((long long)m - k + 1) : 1;
}

/* fill_candidate - everything about one standby except the synchronous rule. */
static void fill_candidate(PgcArena *a, const PgcCluster *c, const PgcObsCluster *oc,
			   const PgcNode *n, uint64_t sysid, PgcCandidate *cd)
{
	const PgcObsNode *o = obs_node(oc, n->name);

	cd->node = n->name;
	cd->in_preferred_region = c->failover.prefer_region.set && n->region.set &&
				  strcmp(c->failover.prefer_region.v, n->region.v) == 0;
	if (o == NULL)
		cd->why_not = "not observed";
	else if (!o->reachable)
		cd->why_not = arena_printf(a, "not reachable: %s",
					   o->conn_error ? o->conn_error : "no connection");
	else if (!o->in_recovery)
		cd->why_not = "not a standby: it accepts writes";
	else if (sysid != 0 && o->system_identifier != 0 && o->system_identifier != sysid)
		cd->why_not = arena_printf(a, "belongs to another database system (system "
					   "identifier %llu, expected %llu)",
					   (unsigned long long)o->system_identifier,
					   (unsigned long long)sysid);
	else if (!node_position(o, &cd->position))
		cd->why_not = "its WAL position is unknown";
	cd->has_position = cd->why_not == NULL;
	cd->eligible = cd->has_position;
}

/* choose_to - applies --to: the asked node, if it is eligible and not behind. */
static int choose_to(PgcArena *a, const PgcCluster *c, PgcChoice *ch, const char *to,
		     const PgcCandidate *best, bool stopping)
{
	const PgcCandidate *t = NULL;

	for (size_t i = 0; i < ch->n_candidates; i++)
		if (strcmp(ch->candidates[i].node, to) == 0)
			t = &ch->candidates[i];
	if (strcmp(to, ch->primary) == 0) {
		ch->reason = arena_printf(a, "node \"%s\" is the primary being replaced", to);
		return -1;
	}
	if (t == NULL) {
		ch->reason = arena_printf(a, "cluster \"%s\" has no node \"%s\"", c->name, to);
		return -1;
	}
	if (!t->eligible) {
		ch->reason = arena_printf(a, "node \"%s\" cannot be promoted: %s", to, t->why_not);
		return -1;
	}
	if (best != NULL && best->position > t->position && !stopping) {
		uint64_t behind = best->position - t->position;

		if (c->replication.synchronous.method != SYNC_OFF) {
			ch->reason = arena_printf(
			    a,
			    "node \"%s\" received %s less WAL than \"%s\" (%s < %s): promoting it "
			    "could lose acknowledged transactions",
			    to, bytes_text(a, behind), best->node, lsn_text(a, t->position),
			    lsn_text(a, best->position));
			return -1;
		}
		ch->chosen = t->node;
		ch->reason = arena_printf(a, "node \"%s\" as asked, %s behind \"%s\" (asynchronous "
					  "replication: transactions past %s are lost)",
					  to, bytes_text(a, behind), best->node,
					  lsn_text(a, t->position));
		return 0;
	}
	ch->chosen = t->node;
	ch->reason = arena_printf(a, "node \"%s\" as asked, at %s", to, lsn_text(a, t->position));
	return 0;
}

int failover_choose(PgcArena *a, const PgcCluster *c, const PgcObserved *obs, const char *primary,
		    const PgcPrimaryView *last, const PgcChooseOptions *opts, PgcChoice *out)
{
	const PgcObsCluster *oc = obs_cluster(obs, c->name);
	const PgcNode *p = cluster_node(c, primary);
	const PgcObsNode *po = obs_node(oc, primary);
	PgcChooseOptions none = {NULL, false, false};
	const PgcCandidate *best = NULL;
	const PgcObsNode *witness;
	size_t required, n_members, compared = 0;
	uint64_t sysid, v;
	bool *mask, *cmp;

	if (opts == NULL)
		opts = &none;
	memset(out, 0, sizeof(*out));
	out->primary = primary;
	if (p == NULL) {
		out->reason = arena_printf(a, "cluster \"%s\" has no node \"%s\"", c->name, primary);
		return -1;
	}
	out->candidates = arena_calloc(a, c->n_nodes, sizeof(PgcCandidate));
	sysid = reference_sysid(c, oc, primary);
	for (size_t i = 0; i < c->n_nodes; i++)
		if (&c->nodes[i] != p)
			fill_candidate(a, c, oc, &c->nodes[i], sysid,
				       &out->candidates[out->n_candidates++]);

	/* The highest position known to exist: what a candidate's lag is measured from. */
	if (last != NULL && last->primary != NULL && strcmp(last->primary, primary) == 0 &&
	    lsn_parse(last->current_lsn, &v) == 0) {
		out->primary_position = v;
		out->primary_position_known = true;
	}
	if (po != NULL && po->reachable && !po->in_recovery &&
	    lsn_parse(po->current_lsn, &v) == 0 && v > out->primary_position) {
		out->primary_position = v;
		out->primary_position_known = true;
	}
	for (size_t i = 0; i < out->n_candidates; i++) {
		PgcCandidate *cd = &out->candidates[i];

		if (cd->has_position && cd->position >= out->primary_position) {
			out->primary_position = cd->position;
			out->primary_position_known = true;
		}
	}

	if (opts->check_partition && (witness = partition_witness(c, oc, p)) != NULL) {
		out->partition = true;
		out->reason = arena_printf(
		    a,
		    "replica \"%s\" received WAL from primary \"%s\" %.1f s ago, within "
		    "failover.detect_after (%s): the primary is running and only pgconverge "
		    "cannot reach it",
		    witness->name, primary, witness->wal_receiver_last_msg_age_s,
		    duration_text(a, c->failover.detect_after.ms));
		return -1;
	}

	mask = arena_calloc(a, out->n_candidates + 1, sizeof(bool));
	cmp = arena_calloc(a, out->n_candidates + 1, sizeof(bool));
	required = sync_members(c, primary, last, out, mask, &n_members);
	for (size_t i = 0; i < out->n_candidates; i++) {
		PgcCandidate *cd = &out->candidates[i];

		cd->lag_bytes = cd->has_position && out->primary_position > cd->position
				    ? out->primary_position - cd->position
				    : 0;
		if (mask[i] && cd->has_position) {
			cmp[i] = true;
			compared++;
		}
		if (!cd->eligible)
			continue;
		if (required > 0 && !mask[i]) {
			cd->eligible = false;
			cd->why_not = out->sync_declared
					  ? "not among the synchronous standbys of the primary "
					    "(synchronous_standby_names)"
					  : arena_printf(a, "was not a synchronous standby when the "
							 "primary was last seen (%s)",
							 last->seen_at ? last->seen_at : "earlier");
		} else if (c->failover.max_lag.set && cd->lag_bytes > (uint64_t)c->failover.max_lag.bytes) {
			cd->eligible = false;
			cd->why_not = arena_printf(a, "%s behind the last known primary position %s, "
						   "more than failover.max_lag (%s)",
						   bytes_text(a, cd->lag_bytes),
						   lsn_text(a, out->primary_position),
						   bytes_text(a, (uint64_t)c->failover.max_lag.bytes));
		}
	}
	if (required > 0 && n_members == 0) {
		out->reason = arena_printf(a, "no standby was synchronous when primary \"%s\" was last "
					   "seen: any of them may lack acknowledged transactions",
					   primary);
		return -1;
	}
	if (required > 0 && compared < required) {
		out->reason = arena_printf(
		    a,
		    "only %zu of the %zu synchronous standbys (%s) can be compared, %zu are needed: "
		    "an acknowledged transaction may exist only on the others",
		    compared, n_members, names_of(a, out, mask), required);
		return -1;
	}

	for (size_t i = 0; i < out->n_candidates; i++) {
		const PgcCandidate *cd = &out->candidates[i];

		if (cd->eligible && (best == NULL || better(cd, best)))
			best = cd;
	}
	if (opts->to != NULL)
		return choose_to(a, c, out, opts->to, best, opts->primary_stopping);
	if (best == NULL) {
		out->reason = out->n_candidates == 0
				  ? arena_printf(a, "cluster \"%s\" has no replica", c->name)
				  : arena_printf(a, "no replica of cluster \"%s\" can be promoted",
						 c->name);
		return -1;
	}
	out->chosen = best->node;
	out->reason = arena_printf(a, "node \"%s\" has the most WAL (%s)%s%s", best->node,
				   lsn_text(a, best->position),
				   best->was_sync ? " among the synchronous standbys" : "",
				   best->in_preferred_region
				       ? arena_printf(a, " and is in the preferred region \"%s\"",
						      c->failover.prefer_region.v)
				       : "");
	return 0;
}

/* ---- the failover loop ------------------------------------------------------ */

void failover_probe_init(PgcProbeState *st)
{
	memset(st, 0, sizeof(*st));
	st->first_failure_ms = -1;
	st->last_success_ms = -1;
	st->last_probe_ms = -1;
	st->last_failover_ms = -1;
}

void failover_probe_record(PgcProbeState *st, const char *primary, int64_t now_ms, bool ok,
			   const char *error)
{
	if (st->primary == NULL || primary == NULL || strcmp(st->primary, primary) != 0) {
		int64_t failover = st->last_failover_ms;

		failover_probe_init(st);
		st->last_failover_ms = failover;
		st->primary = primary;
	}
	st->last_probe_ms = now_ms;
	if (ok) {
		st->failures = 0;
		st->first_failure_ms = -1;
		st->last_success_ms = now_ms;
		st->last_error[0] = '\0';
		return;
	}
	if (st->failures++ == 0)
		st->first_failure_ms = now_ms;
	snprintf(st->last_error, sizeof(st->last_error), "%s", error ? error : "probe failed");
	st->last_error[strcspn(st->last_error, "\n")] = '\0';
}

const char *failover_verdict_name(PgcHaVerdict v)
{
	switch (v) {
	case HA_HEALTHY:
		return "healthy";
	case HA_SUSPECT:
		return "suspect";
	case HA_PROMOTE:
		return "promote";
	case HA_BLOCKED:
		return "blocked";
	}
	return "unknown";
}

const char *failover_fence_refusal(PgcArena *a, const PgcCluster *c, const PgcNode *n,
				   const PgcObsNode *o)
{
	bool local = o != NULL ? o->local : false;

	if (local || (c->failover.fence_command.set && c->failover.fence_command.n > 0))
		return NULL;
	return arena_printf(a, "node \"%s\" is on host \"%s\", not on this machine, so pgconverge "
			    "cannot stop it, and failover.fence_command is not set",
			    n->name, n->host.v);
}

/* confirmed_down - a local data directory with no live postmaster. */
static bool confirmed_down(const PgcObsNode *o)
{
	return o != NULL && o->local && o->dir_state == DIR_INITIALIZED && !o->postmaster_alive;
}

void failover_evaluate(PgcArena *a, const PgcCluster *c, const PgcObserved *obs,
		       const PgcPrimaryView *last, const PgcProbeState *st,
		       const PgcEvaluateOptions *opts, PgcHaDecision *out)
{
	int64_t min_interval = opts->min_interval_ms > 0 ? opts->min_interval_ms
							  : FAILOVER_DEFAULT_MIN_INTERVAL_MS;
	int64_t detect = c->failover.detect_after.ms;
	const char *primary = st->primary ? st->primary : c->primary.v;
	const PgcNode *p = cluster_node(c, primary);
	const PgcObsNode *po = obs_node(obs_cluster(obs, c->name), primary);
	PgcChooseOptions co = {NULL, true, false};
	const char *fence, *failed;
	int64_t since;

	memset(out, 0, sizeof(*out));
	if (st->last_probe_ms < 0) {
		out->verdict = HA_HEALTHY;
		out->reason = arena_printf(a, "primary \"%s\" has not been probed yet", primary);
		return;
	}
	if (st->failures == 0) {
		out->verdict = HA_HEALTHY;
		out->reason = arena_printf(a, "primary \"%s\" answered its last probe", primary);
		return;
	}
	since = st->last_success_ms >= 0 ? st->last_success_ms : st->first_failure_ms;
	out->failed_for_ms = opts->now_ms - since;
	failed = arena_printf(a, "primary \"%s\" has failed %d probe%s in a row for %s (%s)",
			      primary, st->failures, st->failures == 1 ? "" : "s",
			      duration_text(a, out->failed_for_ms), st->last_error);
	if (st->failures < FAILOVER_MIN_FAILED_PROBES || out->failed_for_ms < detect) {
		out->verdict = HA_SUSPECT;
		out->reason = arena_printf(a, "%s; it is declared failed after %s", failed,
					   duration_text(a, detect));
		return;
	}
	out->verdict = HA_BLOCKED;
	if (c->failover.mode != FAILOVER_AUTO) {
		out->reason = arena_printf(
		    a, "%s, and failover.mode is %s: run 'pgconverge failover --cluster %s'", failed,
		    c->failover.mode == FAILOVER_OFF ? "off" : "manual", c->name);
		return;
	}
	if (p == NULL) {
		out->reason = arena_printf(a, "cluster \"%s\" has no node \"%s\"", c->name, primary);
		return;
	}
	if (st->last_failover_ms >= 0 && opts->now_ms - st->last_failover_ms < min_interval &&
	    !confirmed_down(po) && !opts->confirmed_down) {
		out->reason = arena_printf(
		    a,
		    "%s, but the last failover was %s ago, within failover.min_interval (%s), and "
		    "the primary is not confirmed down (a local data directory without a running "
		    "server)",
		    failed, duration_text(a, opts->now_ms - st->last_failover_ms),
		    duration_text(a, min_interval));
		return;
	}
	fence = opts->fenced_elsewhere ? NULL : failover_fence_refusal(a, c, p, po);
	if (fence != NULL) {
		out->reason = arena_printf(a, "%s, but it cannot be fenced: %s", failed, fence);
		return;
	}
	if (failover_choose(a, c, obs, primary, last, &co, &out->choice) != 0) {
		out->reason = arena_printf(a, "%s, but no replica is promoted: %s", failed,
					   out->choice.reason);
		return;
	}
	out->verdict = HA_PROMOTE;
	out->candidate = out->choice.chosen;
	out->reason = arena_printf(a, "%s: promote %s", failed, out->choice.reason);
}

/* ---- the topology after a failover ----------------------------------------- */

PgcCluster *failover_topology(PgcArena *a, const PgcCluster *c, const char *old_primary,
			      const char *new_primary)
{
	PgcCluster *copy = arena_alloc(a, sizeof(*copy));

	*copy = *c;
	copy->nodes = arena_calloc(a, c->n_nodes ? c->n_nodes : 1, sizeof(PgcNode));
	memcpy(copy->nodes, c->nodes, c->n_nodes * sizeof(PgcNode));
	copy->primary.v = arena_strdup(a, new_primary);
	copy->primary.set = true;
	for (size_t i = 0; i < copy->n_nodes; i++) {
		PgcNode *n = &copy->nodes[i];

		/* The new primary and the nodes that followed the old one by name
		 * follow the default upstream, the new primary, from now on. */
		if (n->replicate_from.set &&
		    (strcmp(n->name, new_primary) == 0 ||
		     (old_primary != NULL && strcmp(n->replicate_from.v, old_primary) == 0))) {
			n->replicate_from.set = false;
			n->replicate_from.v = NULL;
		}
	}
	return copy;
}
