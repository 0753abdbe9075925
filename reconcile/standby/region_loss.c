/*
 * reconcile/standby/region_loss.c - the data-loss estimate of a region
 * failover and the planner's rule after one (region_loss.h).
 */
#include "reconcile/standby/region_loss.h"

#include <stdio.h>
#include <string.h>

#include "reconcile/pg/lsn.h"

/* ---- the estimate ------------------------------------------------------------ */

void region_loss_estimate(const PgcLossInput *in, PgcLossEstimate *out)
{
	memset(out, 0, sizeof *out);
	out->seconds = -1;
	if (in->source_clean_shutdown && in->source_checkpoint_lsn > 0 &&
	    in->leader_replayed > in->source_checkpoint_lsn) {
		/* Replaying the shutdown checkpoint moves the replay position past its start. */
		out->kind = LOSS_ZERO;
		snprintf(out->basis, sizeof out->basis,
			 "the source's primary was shut down cleanly and the standby leader replayed "
			 "its shutdown checkpoint");
		return;
	}
	if (in->receiver_row && in->latest_end_lsn > 0) {
		out->kind = LOSS_ESTIMATED;
		out->bytes = in->latest_end_lsn > in->flushed_lsn ? in->latest_end_lsn - in->flushed_lsn : 0;
		out->seconds = in->latest_end_age_s;
		snprintf(out->basis, sizeof out->basis,
			 "from the standby leader's WAL receiver: the source's last reported end of WAL "
			 "minus what it flushed, and the time since that report");
		return;
	}
	if (in->have_record) {
		out->kind = LOSS_ESTIMATED;
		out->bytes = in->rec_source_lsn > in->leader_received ? in->rec_source_lsn - in->leader_received
								      : 0;
		out->seconds = in->rec_age_s;
		snprintf(out->basis, sizeof out->basis,
			 "from the last time pgconverge saw the source's primary (apply or status): its "
			 "position then minus what the standby leader has now, and the time since");
		return;
	}
	out->kind = LOSS_UNKNOWN;
	snprintf(out->basis, sizeof out->basis,
		 "the standby leader has no WAL receiver and pgconverge never recorded the source's "
		 "position (no apply or status saw both)");
}

const char *region_loss_text(PgcArena *a, const PgcLossEstimate *e)
{
	switch (e->kind) {
	case LOSS_ZERO:
		return arena_printf(a, "nothing is lost: %s", e->basis);
	case LOSS_ESTIMATED:
		if (e->seconds >= 0)
			return arena_printf(a, "at least %llu bytes of WAL, plus whatever the source wrote in "
					       "the last %.1f s (%s)",
					    (unsigned long long)e->bytes, e->seconds, e->basis);
		return arena_printf(a, "at least %llu bytes of WAL, plus whatever the source wrote since "
				       "(%s)", (unsigned long long)e->bytes, e->basis);
	case LOSS_UNKNOWN:
	default:
		return arena_printf(a, "unknown: %s", e->basis);
	}
}

/* ---- the planner's rule -------------------------------------------------------- */

static bool same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* writer - oc's node that takes writes, the newest timeline first; NULL when none. */
static const PgcObsNode *writer(const PgcObsCluster *oc)
{
	const PgcObsNode *best = NULL;

	for (size_t i = 0; oc != NULL && i < oc->n_nodes; i++) {
		const PgcObsNode *o = &oc->nodes[i];

		if (o->reachable && !o->in_recovery && (best == NULL || o->timeline > best->timeline))
			best = o;
	}
	return best;
}

/* max_timeline - the newest timeline known among oc's nodes, 0 none known. */
static unsigned max_timeline(const PgcObsCluster *oc)
{
	unsigned m = 0;

	for (size_t i = 0; oc != NULL && i < oc->n_nodes; i++)
		if (oc->nodes[i].timeline > m)
			m = oc->nodes[i].timeline;
	return m;
}

/* streams_from - a reachable standby of ocs streams from a node of c (a swap being carried out). */
static bool streams_from(const PgcObsCluster *ocs, const PgcCluster *c)
{
	for (size_t i = 0; ocs != NULL && i < ocs->n_nodes; i++) {
		const PgcObsNode *o = &ocs->nodes[i];

		if (!o->reachable || !o->in_recovery || o->upstream_host == NULL)
			continue;
		for (size_t j = 0; j < c->n_nodes; j++)
			if (same(c->nodes[j].host.v, o->upstream_host) && c->nodes[j].port.v == o->upstream_port)
				return true;
	}
	return false;
}

/* promoted - c is declared a standby cluster and takes writes; fills st's promoted part. */
static bool promoted(const PgcTopology *t, const PgcObserved *obs, const PgcCluster *c,
		     PgcRegionState *st)
{
	const PgcCluster *src = c->standby_of.set ? topology_cluster(t, c->standby_of.v) : NULL;
	const PgcObsNode *w, *other;
	const PgcObsCluster *ocs;
	uint64_t src_sysid = 0;
	bool unrelated = false;

	if (src == NULL || (w = writer(observe_cluster_find_any(obs, c->name))) == NULL)
		return false;
	ocs = observe_cluster_find_any(obs, src->name);
	if (streams_from(ocs, c))
		return false;
	other = writer(ocs);
	/* The system identifiers known on S's side: one differing from the
	 * writer's makes them unrelated clusters, whatever their timelines. */
	for (size_t i = 0; ocs != NULL && i < ocs->n_nodes; i++) {
		uint64_t id = ocs->nodes[i].system_identifier;

		if (id == 0 || unrelated)
			continue;
		src_sysid = id;
		unrelated = w->system_identifier != 0 && id != w->system_identifier;
	}
	if (!unrelated) {
		/* The source's writer on a newer timeline: c's is the old one (S came
		 * back after the swap, or c was promoted by hand long ago): not this rule. */
		if (other != NULL && other->timeline > 0 && w->timeline > 0 && other->timeline > w->timeline)
			return false;
		/* No writer there and c's history no newer than the source's: c was not
		 * promoted from it (the file was swapped and the region switch waits,
		 * its target down or not streaming). */
		if (other == NULL && w->timeline > 0 && w->timeline <= max_timeline(ocs))
			return false;
	}
	st->promoted = true;
	st->writer = w->name;
	st->writer_tli = w->timeline;
	st->other = other != NULL ? other->name : NULL;
	st->other_tli = other != NULL ? other->timeline : 0;
	st->sysid = w->system_identifier;
	st->source_sysid = src_sysid;
	/* Unknown timelines or identifiers: held on the safe side (a writer is
	 * never demoted), but not called a region failover and nothing fenced:
	 * a swapped file whose region switch waits for S looks the same. */
	if (unrelated)
		st->kin = REGION_UNRELATED;
	else if (w->timeline == 0 || (other != NULL ? other->timeline == 0 : max_timeline(ocs) == 0))
		st->kin = REGION_UNKNOWN, st->unknown = "timelines unknown";
	else if (w->system_identifier == 0 || src_sysid == 0)
		st->kin = REGION_UNKNOWN, st->unknown = "system identifiers unknown";
	else
		st->kin = REGION_FAILOVER;
	return true;
}

bool region_loss_state(const PgcTopology *t, const PgcObserved *obs, const PgcCluster *c,
		       PgcRegionState *st)
{
	memset(st, 0, sizeof *st);
	if (obs == NULL || obs->pretend)
		return false;
	if (promoted(t, obs, c, st))
		return true;
	for (size_t i = 0; i < t->n_clusters; i++) {
		const PgcCluster *x = &t->clusters[i];
		PgcRegionState xs;
		const PgcObsCluster *oc;

		memset(&xs, 0, sizeof xs);
		if (!x->standby_of.set || !same(x->standby_of.v, c->name) || !promoted(t, obs, x, &xs))
			continue;
		st->fenced = true;
		st->kin = xs.kin;
		st->unknown = xs.unknown;
		st->sysid = xs.sysid;
		st->source_sysid = xs.source_sysid;
		st->by_cluster = x->name;
		st->by_node = xs.writer;
		st->by_tli = xs.writer_tli;
		/* Every writer of c on a known timeline older than the promoted one's,
		 * and only after a region failover (same system identifier). */
		st->can_fence = st->kin == REGION_FAILOVER && st->by_tli > 0;
		oc = observe_cluster_find_any(obs, c->name);
		for (size_t j = 0; oc != NULL && j < oc->n_nodes; j++) {
			const PgcObsNode *o = &oc->nodes[j];

			if (!o->reachable || o->in_recovery)
				continue;
			if (st->writer == NULL)
				st->writer = o->name, st->writer_tli = o->timeline;
			if (o->timeline == 0 || o->timeline >= st->by_tli ||
			    o->system_identifier != st->sysid)
				st->can_fence = false;
		}
		return true;
	}
	return false;
}

static const char *tli_text(PgcArena *a, unsigned tli)
{
	return tli > 0 ? arena_printf(a, "timeline %u", tli) : "timeline unknown";
}

static const char *sysid_text(PgcArena *a, uint64_t id)
{
	return id != 0 ? arena_printf(a, "%llu", (unsigned long long)id) : "unknown";
}

/* plan_held - the promoted side when it cannot be called a region failover: held, blocked. */
static void plan_held(PgcPlanBuilder *b, const PgcCluster *c, const PgcRegionState *st)
{
	const char *src = c->standby_of.v;
	PgcAction *act;

	if (st->kin == REGION_UNRELATED) {
		act = builder_emit(
		    b, ACT_SWITCHOVER, c->name, NULL, NULL, IMPACT_REBUILD,
		    arena_printf(b->a, "cluster \"%s\" takes writes (\"%s\", system identifier %s) although "
				       "the topology says standby_of: %s, whose system identifier is %s: the "
				       "clusters are unrelated (different system identifiers), this is no region "
				       "failover; nothing is planned for \"%s\" nor for \"%s\" and nothing is "
				       "stopped; remove standby_of from \"%s\" if it is a cluster of its own, or "
				       "rebuild it from \"%s\" by hand (giving up its data)",
				 c->name, st->writer, sysid_text(b->a, st->sysid), src,
				 sysid_text(b->a, st->source_sysid), c->name, src, c->name, src));
		builder_change(b, act, arena_printf(b->a, "system identifier of %s", c->name),
			       sysid_text(b->a, st->sysid), sysid_text(b->a, st->source_sysid));
		builder_block(act, arena_printf(b->a, "unrelated clusters (different system identifiers): "
						      "fix standby_of of \"%s\" in the topology (no flag lifts "
						      "this)",
						c->name));
		return;
	}
	act = builder_emit(
	    b, ACT_SWITCHOVER, c->name, NULL, NULL, IMPACT_SWITCHOVER,
	    arena_printf(b->a, "cluster \"%s\" takes writes (\"%s\", %s) although the topology says "
			       "standby_of: %s, and the %s of \"%s\" are unknown (its nodes are not "
			       "observed here): it may have been promoted by a region failover, or the file "
			       "was swapped and the region switch waits for \"%s\"; nothing is planned for "
			       "\"%s\" (a writer is never made a standby on a guess) and nothing of \"%s\" "
			       "is fenced, until \"%s\" can be observed",
			 c->name, st->writer, tli_text(b->a, st->writer_tli), src,
			 strcmp(st->unknown, "timelines unknown") == 0 ? "timelines" : "system identifiers",
			 src, src, c->name, src, src));
	builder_block(act, arena_printf(b->a, "%s: observe \"%s\" and \"%s\" together (no flag lifts "
					      "this)",
					st->unknown, src, c->name));
}

static void plan_promoted(PgcPlanBuilder *b, const PgcCluster *c, const PgcRegionState *st)
{
	const char *src = c->standby_of.v;

	if (st->kin != REGION_FAILOVER) {
		plan_held(b, c, st);
		return;
	}
	const char *reason = arena_printf(
	    b->a,
	    "cluster \"%s\" was promoted by a region failover: \"%s\" takes writes (%s) although the "
	    "topology says standby_of: %s; making it a standby again would give up the writes taken "
	    "since, so nothing is planned for \"%s\"%s; make \"%s\" a standby of \"%s\" by swapping "
	    "standby_of (remove it from \"%s\", set standby_of: %s on \"%s\")",
	    c->name, st->writer, tli_text(b->a, st->writer_tli), src, c->name,
	    st->other != NULL ? arena_printf(b->a, " (\"%s/%s\" takes writes too, %s)", src, st->other,
					     tli_text(b->a, st->other_tli))
			      : "",
	    src, c->name, c->name, c->name, src);
	PgcAction *act = builder_emit(b, ACT_SWITCHOVER, c->name, NULL, NULL, IMPACT_SWITCHOVER, reason);

	builder_change(b, act, arena_printf(b->a, "standby_of of %s", c->name), src, NULL);
	builder_change(b, act, arena_printf(b->a, "standby_of of %s", src), NULL, c->name);
	builder_block(act, arena_printf(b->a, "promoted by a region failover: swap standby_of between "
					      "\"%s\" and \"%s\" in the topology (no flag lifts this)",
					src, c->name));
}

static void plan_fenced(PgcPlanBuilder *b, const PgcCluster *c, const PgcObserved *obs,
			const PgcRegionState *st)
{
	const char *by = arena_printf(b->a, "\"%s/%s\" (%s)", st->by_cluster, st->by_node,
				      tli_text(b->a, st->by_tli));
	PgcAction *act;

	if (st->kin != REGION_FAILOVER) {
		/* No region failover that can be told: held, nothing stopped or marked. */
		act = builder_emit(
		    b, ACT_FENCE, c->name, NULL, NULL, IMPACT_NONE,
		    st->kin == REGION_UNRELATED
			? arena_printf(b->a, "cluster \"%s\" is held, not fenced: \"%s\" declares standby_of: "
					     "%s but takes writes on \"%s\" with another system identifier (%s, "
					     "\"%s\"'s is %s): the clusters are unrelated, this is no region "
					     "failover; nothing of \"%s\" is stopped or changed until standby_of of "
					     "\"%s\" is fixed",
				       c->name, st->by_cluster, c->name, st->by_node,
				       sysid_text(b->a, st->sysid), c->name,
				       sysid_text(b->a, st->source_sysid), c->name, st->by_cluster)
			: arena_printf(b->a, "cluster \"%s\" is held, not fenced (%s): its standby cluster "
					     "\"%s\" takes writes on %s, which may be a region failover or a "
					     "swap waiting for its region switch; nothing of \"%s\" is stopped "
					     "or changed%s until both can be observed",
				       c->name, st->unknown, st->by_cluster, by, c->name,
				       st->writer != NULL
					   ? arena_printf(b->a, " (\"%s\" takes writes too: find which "
								"cluster has the newest writes and stop "
								"the other by hand)",
							  st->writer)
					   : ""));
		builder_block(act, st->kin == REGION_UNRELATED
				       ? arena_printf(b->a, "unrelated clusters (different system "
							    "identifiers): fix standby_of of \"%s\" in the "
							    "topology (no flag lifts this)",
						      st->by_cluster)
				       : arena_printf(b->a, "%s: observe \"%s\" and \"%s\" together (no flag "
							    "lifts this)",
						      st->unknown, c->name, st->by_cluster));
		return;
	}
	for (size_t i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];
		const PgcObsNode *o = observe_node_find_any(obs, c->name, n->name);
		bool writes = o != NULL && o->reachable && !o->in_recovery;

		if (o == NULL)
			continue;
		if (writes && st->can_fence) {
			act = builder_emit(
			    b, ACT_FENCE, c->name, n->name, NULL, IMPACT_RESTART,
			    arena_printf(b->a, "\"%s\" takes writes (%s) but its standby cluster \"%s\" was "
					       "promoted by a region failover and takes writes on %s: stop it and "
					       "write standby.signal, so that it can never take writes again until "
					       "\"%s\" is a standby of \"%s\"",
					 n->name, tli_text(b->a, o->timeline), st->by_cluster, by, c->name,
					 st->by_cluster));
			builder_change(b, act, "takes writes", "yes", "no");
			act->payload.upstream = st->by_cluster; /* the promoted cluster (its executor checks it) */
			if (!o->local && c->failover.fence_command.n == 0)
				builder_delegate(b, act, arena_printf(b->a, "\"%s\" is not on this machine and "
									   "no failover.fence_command is set: "
									   "stop it on its host",
								      n->name));
		} else if (!writes && o->local && o->dir_state == DIR_INITIALIZED &&
			   (!o->standby_signal || o->postmaster_alive) && !(o->reachable && o->in_recovery)) {
			act = builder_emit(
			    b, ACT_FENCE, c->name, n->name, NULL, IMPACT_NONE,
			    arena_printf(b->a, "\"%s\" is down with a primary's data directory while its "
					       "standby cluster \"%s\" was promoted by a region failover (%s): "
					       "write standby.signal (stopping what is left of it), so that a start "
					       "by hand brings it back read-only",
					 n->name, st->by_cluster, by));
			builder_change(b, act, "standby.signal", "absent", "present");
			act->payload.upstream = st->by_cluster;
		}
	}
	act = builder_emit(
	    b, ACT_FENCE, c->name, NULL, NULL, IMPACT_NONE,
	    arena_printf(b->a, "cluster \"%s\" is fenced: its standby cluster \"%s\" was promoted by a "
			       "region failover and \"%s\" takes writes (%s); \"%s\" must not take writes: "
			       "its nodes are stopped and marked read-only, nothing of it is started%s, "
			       "until the topology makes it a standby of \"%s\" (swap standby_of; the "
			       "region switch then rejoins it with pg_rewind)",
			 c->name, st->by_cluster, st->by_node, tli_text(b->a, st->by_tli), c->name,
			 st->can_fence ? ""
				       : arena_printf(b->a, "; \"%s\" takes writes on a timeline that cannot be "
							    "compared with \"%s\"'s: stop it by hand",
						      st->writer != NULL ? st->writer : "?", st->by_cluster),
			 st->by_cluster));
	builder_block(act, arena_printf(b->a, "fenced after the region failover of \"%s\": swap "
					      "standby_of in the topology (no flag lifts this)",
					st->by_cluster));
}

bool plan_region_loss_cluster(PgcPlanBuilder *b, const PgcTopology *t, const PgcCluster *c,
			      const PgcObserved *obs)
{
	PgcRegionState st;

	if (!region_loss_state(t, obs, c, &st))
		return false;
	if (st.promoted)
		plan_promoted(b, c, &st);
	else
		plan_fenced(b, c, obs, &st);
	return true;
}
