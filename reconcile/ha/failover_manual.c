/*
 * reconcile/ha/failover_manual.c - a failover by hand (failover_manual.h).
 */
#include "reconcile/ha/failover_manual.h"

#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/ha/failover_run.h"
#include "reconcile/ha/fence.h"
#include "reconcile/ha/promote.h"
#include "reconcile/ha/rejoin.h"
#include "reconcile/transport/host.h"

static double since(const PgcManualFailover *in, double at)
{
	return at > 0 ? at - in->t0 : -1;
}

/* journal_line - the event with "event" and, at the end, its outcome. */
static void journal_line(PgcManualFailover *in, const char *event, const char *outcome,
			 const char *error)
{
	json_object_set_new(in->event, "event", json_string(event));
	if (outcome != NULL) {
		json_object_set_new(in->event, "outcome", json_string(outcome));
		json_object_set_new(in->event, "duration_ms", failover_event_ms(clock_ms() - in->t0));
	}
	if (error != NULL)
		json_object_set_new(in->event, "error", json_string(error));
	(void)ha_journal_event(in->state_dir, in->event);
}

static const char *rejoin_text(PgcArena *a, const PgcPromoteResult *pr, const char *old)
{
	if (!pr->old_rejoined && pr->old_rejoin.outcome == REJOIN_FAILED &&
	    pr->old_rejoin.decision[0] == '\0')
		return arena_printf(a, "\"%s\" is fenced; it rejoins as a replica when it is back", old);
	return arena_strdup(a, pr->old_rejoin.decision);
}

int failover_manual(PgcArena *a, PgcManualFailover *in, const PgcFailoverReporter *rep,
		    PgcManualFailoverResult *out)
{
	const PgcCluster *c = in->c, *live;
	PgcChooseOptions co = {in->to, false, false};
	const PgcNode *old_node;
	const PgcObsNode *old_obs;
	PgcFenceOptions fo = {0};
	PgcFoundPrimary fp;
	PgcPrimaryView view;
	PgcFenceResult fr;
	PgcPromoteOptions po;
	PgcPromoteResult pr;
	PgcChoice ch;
	PgcCluster *x;
	const char *refusal, *chosen, *old;
	double t_detected, t_fenced, timings[4];

	memset(out, 0, sizeof *out);
	if (failover_find_primary(a, c, in->obs, &in->cache, &fp) != 0) {
		rep->refused(rep->ctx,
			     "the node on the older timeline is an old primary: stop it, then run "
			     "'pgconverge failover' again",
			     arena_printf(a, "cluster \"%s\" has %zu nodes that accept writes: %s",
					  c->name, fp.n_writable, fp.writable));
		return -1;
	}
	old = out->old = fp.old;
	if (strcmp(old, c->primary.v) != 0)
		live = failover_topology(a, c, c->primary.v, old);
	else
		live = c;
	old_node = cluster_node(live, old);
	old_obs = observe_node_find(in->obs, c->name, old);
	if (in->to != NULL && fp.alive && strcmp(in->to, old) == 0) {
		out->nothing_to_do = true;
		return 0;
	}

	/* What the primary looked like: now if it answers, else as last cached. */
	failover_last_view(in->state_dir, c->name, in->obs, old, &in->cache, &view);
	t_detected = clock_ms();

	co.primary_stopping = fp.alive;
	if (failover_choose(a, live, in->obs, old, &view, &co, &ch) != 0) {
		rep->refused(rep->ctx, NULL,
			     arena_printf(a, "refusing to fail over cluster \"%s\" (primary \"%s\"): %s",
					  c->name, old, ch.reason));
		rep->candidates(rep->ctx, &ch);
		return -1;
	}
	if (!fp.alive) {
		PgcChooseOptions pc = {NULL, true, false};
		PgcChoice pch;

		/* Automatic failover would wait here; a manual one fences first. */
		if (failover_choose(a, live, in->obs, old, &view, &pc, &pch) != 0 && pch.partition)
			log_warn("%s; it is fenced before the promotion", pch.reason);
	}
	refusal = failover_fence_refusal(a, live, old_node, old_obs);
	if (refusal != NULL) {
		rep->refused(rep->ctx, "set failover.fence_command, or stop it by hand and run this again",
			     arena_printf(a, "refusing to promote \"%s\": the primary \"%s\" cannot be "
					  "fenced: %s", ch.chosen, old, refusal));
		return -1;
	}
	log_info("failing over cluster \"%s\" from \"%s\" (%s): %s", c->name, old,
		 fp.alive ? "it answers: stopping it first" : "it does not answer", ch.reason);

	failover_event_begin(a, in->event, c->name, ch.chosen, old, "manual");
	journal_line(in, "start", NULL, NULL);

	/* Fence. A healthy primary stops with a fast shutdown: its replicas get all of its WAL. */
	fo.graceful = fp.alive;
	fo.mark_standby = true;
	if (fence_node(live, old_node, &fo, &fr) != 0) {
		journal_line(in, "end", "failed", fr.detail);
		return -1;
	}
	t_fenced = clock_ms();
	failover_event_fence(in->event, &fr);

	/* Positions may have moved while it stopped: choose again. */
	co.primary_stopping = false;
	in->obs_after = failover_observe(in->t, c->name);
	if (in->obs_after == NULL ||
	    failover_choose(a, live, in->obs_after, old, &view, &co, &ch) != 0) {
		const char *why = in->obs_after == NULL ? "could not observe the cluster" : ch.reason;

		rep->refused(rep->ctx, NULL,
			     arena_printf(a, "fenced \"%s\", but cannot promote a replica of cluster "
					  "\"%s\": %s", old, c->name, why));
		if (in->obs_after != NULL)
			rep->candidates(rep->ctx, &ch);
		failover_restart_old(live, old, &fr);
		journal_line(in, "end", "failed", why);
		return -1;
	}
	chosen = ch.chosen;
	json_object_set_new(in->event, "node", json_string(chosen));
	json_object_set_new(in->event, "new_primary", json_string(chosen));
	json_object_set_new(in->event, "reason", json_string(ch.reason));

	x = failover_topology(a, live, old, chosen);
	promote_defaults(&po);
	po.rejoin_old = old_node != NULL && host_is_local(old_node->host.v);
	if (promote_run(x, old, &po, &pr) != 0) {
		rep->refused(rep->ctx, "look at the log above; the old primary stays fenced",
			     arena_printf(a, "could not promote \"%s\" in cluster \"%s\"", chosen,
					  c->name));
		if (!pr.promoted)
			failover_restart_old(live, old, &fr);
		journal_line(in, "end", "failed", "promotion failed");
		return -1;
	}
	/* The new primary, and when this failover happened (anti-flap). */
	failover_record(in->state_dir, c->name, &in->cache, old, chosen, in->t0_iso, in->t0_unix_ms);

	timings[0] = since(in, t_detected);
	timings[1] = since(in, t_fenced);
	timings[2] = since(in, pr.promoted_at_ms);
	timings[3] = since(in, pr.writable_at_ms);
	failover_event_promoted(in->event, timings, NULL, &pr, po.rejoin_old,
				rejoin_text(a, &pr, old));
	journal_line(in, "end", "ok", NULL);

	out->chosen = chosen;
	out->reason = ch.reason;
	out->fence_detail = arena_strdup(a, fr.detail);
	out->switch_lsn = pr.switch_lsn;
	out->timeline = pr.timeline;
	out->detected_ms = timings[0];
	out->fenced_ms = timings[1];
	out->promoted_ms = timings[2];
	out->first_write_ms = timings[3];
	out->wrote = pr.writable_at_ms > 0;
	out->write_timeout_s = po.write_timeout_s;
	out->repointed = pr.repointed;
	out->repoint_failed = pr.repoint_failed;
	out->rejoin_old = po.rejoin_old;
	out->rejoin = rejoin_text(a, &pr, old);
	return 0;
}
