/*
 * reconcile/ha/ha_apply.c - apply's switchover and rejoin executors (ha_apply.h).
 */
#include "reconcile/ha/ha_apply.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "reconcile/engine/action.h"
#include "reconcile/ha/failover.h"
#include "reconcile/ha/fence.h"
#include "reconcile/ha/ha.h"
#include "reconcile/ha/promote.h"
#include "reconcile/ha/rejoin.h"
#include "reconcile/ha/switchover.h"
#include "reconcile/pg/lsn.h"

#define PROBE_TIMEOUT_MS 5000

/* live_cluster - ctx's cluster with `primary` as its primary (the file's, or a copy). */
static const PgcCluster *live_cluster(PgcExecCtx *ctx, const char *primary)
{
	if (strcmp(primary, ctx->c->primary.v) == 0)
		return ctx->c;
	return failover_topology(ctx->arena, ctx->c, ctx->c->primary.v, primary);
}

/* event - a journal line's common fields; the caller adds its own and calls journal(). */
static json_t *event(PgcExecCtx *ctx, const char *name)
{
	return json_pack("{s:s,s:s,s:s?,s:s,s:s}", "event", name, "cluster", ctx->c->name, "node",
			 ctx->n ? ctx->n->name : NULL, "action", ctx->a->id, "kind",
			 plan_action_name(ctx->a->kind));
}

static void journal(PgcExecCtx *ctx, json_t *ev)
{
	(void)ha_journal_event(ctx->state_dir, ev);
	json_decref(ev);
}

static json_t *ms_or_null(double ms)
{
	return ms >= 0 ? json_integer((json_int_t)(ms + 0.5)) : json_null();
}

/* named_node - the node called name in ctx's cluster, or a reported failure (NULL). */
static const PgcNode *named_node(PgcExecCtx *ctx, const char *what, const char *name)
{
	const PgcNode *n = name != NULL ? cluster_node(ctx->c, name) : NULL;

	if (n == NULL)
		exec_fail(ctx, "cannot run \"%s\": its %s \"%s\" is not a node of cluster \"%s\"",
			   ctx->a->id, what, name ? name : "", ctx->c->name);
	return n;
}

/* ---- switchover ----------------------------------------------------------------- */

int ha_apply_switchover(PgcExecCtx *ctx)
{
	const PgcAction *a = ctx->a;
	const PgcNode *to, *from;
	const PgcCluster *x;
	PgcSwitchoverResult res;
	char err[600], lsn[32];
	json_t *ev;
	int rc;

	if ((to = named_node(ctx, "target", a->payload.target)) == NULL ||
	    (from = named_node(ctx, "current primary", a->payload.upstream)) == NULL)
		return -1;
	if (ctx->n == NULL || ctx->n != to)
		return exec_fail(ctx, "cannot run \"%s\": it must name its target \"%s\" as its node",
				  a->id, to->name);
	if (exec_need_host(ctx) != 0)
		return -1;
	/* Done already: a run that stopped after the promotion, or someone else did it. */
	if (ha_probe(ctx->c, to, PROBE_TIMEOUT_MS, err, sizeof err) == 0) {
		log_info("\"%s\" is already the primary of cluster \"%s\"", to->name, ctx->c->name);
		ctx->nothing_to_do = true;
		return 0;
	}
	x = live_cluster(ctx, from->name);
	rc = switchover_run(x, to->name, NULL, &res);

	ev = event(ctx, "switchover");
	json_object_set_new(ev, "from", json_string(from->name));
	json_object_set_new(ev, "to", json_string(to->name));
	json_object_set_new(ev, "outcome", json_string(switchover_outcome_name(res.outcome)));
	json_object_set_new(ev, "failed_step", res.step ? json_string(res.step) : json_null());
	json_object_set_new(ev, "error", res.error[0] ? json_string(res.error) : json_null());
	json_object_set_new(ev, "write_gap_ms", ms_or_null(res.write_gap_ms));
	json_object_set_new(ev, "duration_ms", ms_or_null(res.elapsed_ms));
	if (res.shutdown_checkpoint != 0)
		json_object_set_new(ev, "shutdown_checkpoint",
				    json_string(lsn_format(res.shutdown_checkpoint, lsn,
								    sizeof lsn)));
	if (res.outcome == SWITCHOVER_DONE) {
		json_object_set_new(ev, "timeline", json_integer(res.promote.timeline));
		json_object_set_new(ev, "replicas_following",
				    json_integer((json_int_t)res.promote.repointed));
		json_object_set_new(ev, "old_primary_rejoin",
				    json_pack("{s:s,s:s}", "outcome",
					      rejoin_outcome_name(res.old_primary.outcome), "decision",
					      res.old_primary.decision));
	}
	journal(ctx, ev);
	if (rc != 0)
		return exec_note(ctx, "switchover to \"%s\" %s: %s", to->name,
				  switchover_outcome_name(res.outcome), res.error);
	if (res.write_gap_ms >= 0)
		log_info("switched over cluster \"%s\" from \"%s\" to \"%s\": write gap %.0f ms",
			 ctx->c->name, from->name, to->name, res.write_gap_ms);
	if (res.promote.frontdoor_failed)
		log_warn("switchover of cluster \"%s\" to \"%s\": a pooler or balancer in front of it "
			 "was not re-pointed (see the log above); the next reconcile pass retries",
			 ctx->c->name, to->name);
	if (res.old_primary.outcome == REJOIN_FAILED || res.old_primary.outcome == REJOIN_MOVED_ASIDE)
		log_warn("the old primary \"%s\" did not rejoin: %s", from->name,
			 res.old_primary.decision[0] ? res.old_primary.decision : "see the log above");
	return 0;
}

/* ---- rejoin ------------------------------------------------------------------------- */

/*
 * fence_only - the live primary does not answer: a node that runs stops
 * taking writes now; the rejoin waits for a pass in which the primary runs.
 */
static int fence_only(PgcExecCtx *ctx, const PgcCluster *x, const PgcNode *primary,
		      const char *why)
{
	PgcFenceOptions fo = {.graceful = false, .mark_standby = true};
	PgcFenceResult fr;
	json_t *ev;

	if (ha_postmaster_pid(ctx->host, ctx->n) == 0) {
		log_info("node \"%s/%s\" is down; it rejoins once the primary \"%s\" answers (%s)",
			 ctx->c->name, ctx->n->name, primary->name, why);
		ctx->nothing_to_do = true;
		return 0;
	}
	if (fence_node(x, ctx->n, &fo, &fr) != 0)
		return exec_note(ctx, "could not fence node \"%s/%s\": %s", ctx->c->name, ctx->n->name,
				  fr.detail);
	log_warn("fenced \"%s/%s\" (%s); it rejoins once the primary \"%s\" answers (%s)",
		 ctx->c->name, ctx->n->name, fr.detail, primary->name, why);
	ev = event(ctx, "rejoin");
	json_object_set_new(ev, "primary", json_string(primary->name));
	json_object_set_new(ev, "outcome", json_string("fenced"));
	json_object_set_new(ev, "fence", json_pack("{s:s,s:s}", "method", fence_method_name(fr.method),
						   "detail", fr.detail));
	journal(ctx, ev);
	return 0;
}

/*
 * same_timeline_fork - a node that is down with a primary's control file on
 * the live primary's own timeline wrote there too; -1 (reported) when so.
 */
static int same_timeline_fork(PgcExecCtx *ctx, const PgcCluster *x, const PgcNode *primary)
{
	PgcControl ctl;
	unsigned tli;

	if (ha_postmaster_pid(ctx->host, ctx->n) != 0 || ha_controldata(ctx->host, x, ctx->n, &ctl) != 0)
		return 0; /* running: rejoin_node() sees it as a primary; unreadable: it reports */
	if (strcmp(ctl.state, "in production") != 0 && strcmp(ctl.state, "shut down") != 0)
		return 0;
	tli = promote_timeline(x, primary);
	if (tli == 0 || ctl.timeline < tli)
		return 0;
	return exec_fail(ctx,
			  "node \"%s/%s\" ran as a primary on timeline %u, the timeline the primary "
			  "\"%s\" writes on: pg_rewind cannot undo that, and it cannot follow as it is\n"
			  "hint: move its data directory \"%s\" aside (it holds writes the primary never "
			  "had); the next apply clones it again",
			  ctx->c->name, ctx->n->name, ctl.timeline, primary->name, ctx->n->data_dir.v);
}

int ha_apply_rejoin(PgcExecCtx *ctx)
{
	const PgcAction *a = ctx->a;
	const PgcNode *primary;
	const PgcCluster *x;
	PgcRejoinOptions o;
	PgcRejoinResult res;
	char err[600];
	json_t *ev;
	int rc;

	if (ctx->n == NULL)
		return exec_fail(ctx, "cannot run \"%s\": it names no node (a split brain is resolved "
				  "by hand)", a->id);
	if ((primary = named_node(ctx, "primary", a->payload.upstream)) == NULL)
		return -1;
	if (primary == ctx->n)
		return exec_fail(ctx, "cannot run \"%s\": node \"%s\" is the primary", a->id,
				  primary->name);
	if (exec_need_host(ctx) != 0)
		return -1;
	x = live_cluster(ctx, primary->name);
	if (ha_probe(x, cluster_node(x, primary->name), PROBE_TIMEOUT_MS, err, sizeof err) != 0)
		return fence_only(ctx, x, primary, err);
	if (same_timeline_fork(ctx, x, primary) != 0)
		return -1;

	rejoin_defaults(&o);
	o.allow_rebuild = a->payload.target != NULL && strcmp(a->payload.target, "rebuild") == 0;
	o.timeout_s = ctx->action_timeout_s;
	o.ready_timeout_s = ctx->ready_timeout_s;
	rc = rejoin_node(x, ctx->n->name, &o, &res);

	ev = event(ctx, "rejoin");
	json_object_set_new(ev, "primary", json_string(primary->name));
	json_object_set_new(ev, "outcome", json_string(rejoin_outcome_name(res.outcome)));
	json_object_set_new(ev, "was_primary", json_boolean(res.was_primary));
	json_object_set_new(ev, "decision", json_string(res.decision));
	json_object_set_new(ev, "unreplicated_bytes",
			    res.unreplicated_known ? json_integer((json_int_t)res.unreplicated_bytes)
						   : json_null());
	json_object_set_new(ev, "moved_to", res.moved_to[0] ? json_string(res.moved_to) : json_null());
	json_object_set_new(ev, "duration_ms", ms_or_null(res.elapsed_ms));
	journal(ctx, ev);
	if (rc != 0)
		return exec_note(ctx, "could not rejoin node \"%s/%s\" as a replica of \"%s\"",
				  ctx->c->name, ctx->n->name, primary->name);
	if (res.outcome == REJOIN_FOLLOWING)
		ctx->nothing_to_do = true;
	if (res.decision[0] != '\0')
		log_info("%s", res.decision);
	if (res.unreplicated_known && res.unreplicated_bytes > 0)
		log_warn("node \"%s/%s\" held %" PRIu64 " bytes of WAL past the fork point that the "
			 "primary \"%s\" never had; they are given up",
			 ctx->c->name, ctx->n->name, res.unreplicated_bytes, primary->name);
	return 0;
}
