/*
 * reconcile/ha/plan_ha.c - the live primary, switchover, rejoin and split
 * brain in the plan (plan_ha.h). Pure: the clock is the policy's.
 */
#include "reconcile/ha/plan_ha.h"

#include <string.h>

#include "reconcile/engine/builder.h"
#include "reconcile/ha/failover.h"
#include "reconcile/postgres/plan_conf.h"

typedef struct {
	const PgcNode *n;         /* in the file's cluster */
	const PgcObsNode *o;      /* NULL: not observed */
	bool writable;            /* answers and is not in recovery */
	bool running;             /* answers, or its postmaster is alive */
	bool down_primary;        /* local, down, with a primary's control file */
} HaNode;

typedef struct {
	PgcPlanBuilder *b;
	PgcArena *a;
	const PgcCluster *c;      /* as in the file */
	const PgcCluster *live;   /* with the live primary */
	const PgcPolicy *policy;
	const PgcObserved *obs;
	HaNode *nodes;            /* in the file's order */
	size_t n;
	HaNode *lp;               /* the live primary */
	PgcHaPlan *out;
	size_t n_ha_actions;      /* HA actions planned before the switchover */
} Hx;

/* ---- helpers ------------------------------------------------------------------- */

static bool streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* primary_control - a control file state that only a primary leaves behind. */
static bool primary_control(const char *state)
{
	return streq(state, "in production") || streq(state, "shut down");
}

static const PgcObsNode *find_obs(const PgcObserved *obs, const char *cluster, const char *node)
{
	for (size_t i = 0; obs != NULL && i < obs->n_clusters; i++) {
		if (!streq(obs->clusters[i].name, cluster))
			continue;
		for (size_t j = 0; j < obs->clusters[i].n_nodes; j++)
			if (streq(obs->clusters[i].nodes[j].name, node))
				return &obs->clusters[i].nodes[j];
	}
	return NULL;
}

static HaNode *ha_node(Hx *x, const char *name)
{
	for (size_t i = 0; name != NULL && i < x->n; i++)
		if (strcmp(x->nodes[i].n->name, name) == 0)
			return &x->nodes[i];
	return NULL;
}

static void hold(Hx *x, const char *node)
{
	const char **v = arena_calloc(x->a, x->out->n_held + 1, sizeof(char *));

	if (x->out->n_held)
		memcpy(v, x->out->held, x->out->n_held * sizeof(char *));
	v[x->out->n_held++] = node;
	x->out->held = v;
}

bool plan_ha_holds(const PgcHaPlan *h, const char *node)
{
	for (size_t i = 0; h != NULL && node != NULL && i < h->n_held; i++)
		if (strcmp(h->held[i], node) == 0)
			return true;
	return false;
}

/* ---- emitting ------------------------------------------------------------------- */

static PgcAction *emit(Hx *x, PgcActionKind kind, const char *node, PgcImpact impact,
		       const char *reason)
{
	x->n_ha_actions++;
	return builder_emit(x->b, kind, x->c->name, node, NULL, impact, reason);
}

static const char *remote_reason(Hx *x, const PgcNode *n)
{
	return arena_printf(x->a, "node's host \"%s\" is not this machine; pgconverge can only "
			    "rejoin or switch over nodes that run here",
			    n->host.v);
}

/* ---- the live primary ------------------------------------------------------------- */

/*
 * followed - the node most reachable standbys stream (or try to stream)
 * from, a standby itself excluded; NULL when none.
 */
static HaNode *followed(Hx *x)
{
	size_t *votes = arena_calloc(x->a, x->n + 1, sizeof(size_t)), best = 0;
	HaNode *win = NULL;

	for (size_t i = 0; i < x->n; i++) {
		const PgcObsNode *o = x->nodes[i].o;

		if (o == NULL || !o->reachable || !o->in_recovery || o->upstream_host == NULL)
			continue;
		for (size_t j = 0; j < x->n; j++) {
			const HaNode *u = &x->nodes[j];

			if (u->o != NULL && u->o->reachable && u->o->in_recovery)
				continue;
			if (streq(u->n->host.v, o->upstream_host) && u->n->port.v == o->upstream_port)
				votes[j]++;
		}
	}
	for (size_t j = 0; j < x->n; j++) {
		if (votes[j] > best) {
			best = votes[j];
			win = &x->nodes[j];
		}
	}
	return win;
}

/* better_down - a down primary that ranks before *best: newer timeline, then followed, then declared. */
static bool better_down(Hx *x, const HaNode *d, const HaNode *best, const HaNode *fol)
{
	if (best == NULL)
		return true;
	if (d->o->timeline != best->o->timeline)
		return d->o->timeline > best->o->timeline;
	if ((d == fol) != (best == fol))
		return d == fol;
	return streq(d->n->name, x->c->primary.v) && !streq(best->n->name, x->c->primary.v);
}

/*
 * conflict - the blocked action of primaries pgconverge cannot choose
 * between (what says why): nothing else is planned for the cluster.
 */
static void conflict(Hx *x, const char *what)
{
	PgcAction *act = emit(x, ACT_REJOIN, NULL, IMPACT_REBUILD, what);

	builder_block(act, arena_printf(x->a,
				"split brain: pgconverge cannot tell which of them holds the transactions "
				"clients were told are committed, so it changes nothing in cluster \"%s\"; "
				"stop the node whose writes are to be given up and move its data directory "
				"aside (it keeps those writes for inspection): the next apply clones it "
				"again from the other",
				x->c->name));
	x->out->owned = true;
}

/* same_timeline - the reason of two (or more) writable nodes on one timeline. */
static const char *same_timeline(Hx *x, unsigned tli)
{
	const char *names = NULL;
	size_t count = 0;

	for (size_t i = 0; i < x->n; i++) {
		const HaNode *h = &x->nodes[i];

		if (!h->writable || h->o->timeline != tli)
			continue;
		names = names ? arena_printf(x->a, "%s and \"%s\"", names, h->n->name)
			      : arena_printf(x->a, "\"%s\"", h->n->name);
		count++;
	}
	return arena_printf(x->a, "%zu nodes accept writes on timeline %u: %s", count, tli, names);
}

/*
 * live_primary - x->lp from the observed servers (plan_ha.h says how);
 * false after a split brain was planned.
 */
static bool live_primary(Hx *x)
{
	HaNode *top = NULL, *down = NULL, *cand, *fol = followed(x);
	size_t ties = 0;

	for (size_t i = 0; i < x->n; i++) {
		HaNode *h = &x->nodes[i];

		if (!h->writable)
			continue;
		if (top == NULL || h->o->timeline > top->o->timeline) {
			top = h;
			ties = 1;
		} else if (h->o->timeline == top->o->timeline) {
			ties++;
			/* Equal timelines: the file's primary, if it is among them. */
			if (streq(h->n->name, x->c->primary.v))
				top = h;
		}
	}
	for (size_t i = 0; i < x->n; i++) {
		HaNode *h = &x->nodes[i];

		if (h->down_primary && better_down(x, h, down, fol))
			down = h;
	}
	if (top != NULL && ties > 1) {
		conflict(x, same_timeline(x, top->o->timeline));
		return false;
	}
	/* A down primary on a newer timeline than every writable node: it crashed,
	 * and the writable ones are old primaries. */
	cand = down != NULL && (top == NULL || down->o->timeline > top->o->timeline) ? down : top;
	/*
	 * The newest timeline says which primary came last, unless the replicas
	 * stream from another one that still takes writes (a standby promoted by
	 * hand, say): then nobody knows where the clients write.
	 */
	if (cand != NULL && fol != NULL && fol->writable && fol != cand) {
		conflict(x, arena_printf(x->a,
					 "\"%s\" is the primary on the newest timeline %u, but the "
					 "replicas stream from \"%s\", which accepts writes on timeline %u",
					 cand->n->name, cand->o->timeline, fol->n->name, fol->o->timeline));
		return false;
	}
	if (cand != NULL)
		x->lp = cand;
	else if (fol != NULL)
		x->lp = fol;
	else
		x->lp = ha_node(x, x->c->primary.v);
	return x->lp != NULL;
}

/* ---- rejoins ------------------------------------------------------------------------- */

/* rewind_impossible - pg_rewind needs data checksums or wal_log_hints. */
static bool rewind_impossible(const PgcObsNode *o)
{
	return o->dir_state == DIR_INITIALIZED && o->system_identifier != 0 && !o->data_checksums &&
	       !o->wal_log_hints;
}

static bool rebuild_allowed(Hx *x)
{
	return x->policy->allow_restart || maintenance_window_open(&x->c->maintenance, x->policy->now);
}

static void emit_rejoin(Hx *x, HaNode *h, const char *reason)
{
	const PgcObsNode *o = h->o;
	bool rebuild = rewind_impossible(o);
	PgcAction *act = emit(x, ACT_REJOIN, h->n->name, rebuild ? IMPACT_REBUILD : IMPACT_RESTART,
			      reason);
	const char *from;

	act->payload.path = h->n->data_dir.v;
	act->payload.upstream = x->lp->n->name;
	act->payload.target = rebuild_allowed(x) ? "rebuild" : "rewind";
	from = h->writable ? arena_printf(x->a, "primary on timeline %u", o->timeline)
	       : o->timeline ? arena_printf(x->a, "down on timeline %u", o->timeline)
			     : "down";
	builder_change(x->b, act, "role", from,
	       x->lp->o != NULL && x->lp->o->timeline
		   ? arena_printf(x->a, "replica of \"%s\" on timeline %u", x->lp->n->name,
				  x->lp->o->timeline)
		   : arena_printf(x->a, "replica of \"%s\"", x->lp->n->name));
	if (!o->local)
		builder_delegate(x->b, act, remote_reason(x, h->n));
	else if (rebuild && !h->writable && !rebuild_allowed(x))
		builder_block(act, arena_printf(x->a,
					"node \"%s\" has neither data checksums nor wal_log_hints, so "
					"pg_rewind cannot rejoin it: it must be cloned again (its data "
					"directory moved aside, never deleted); run with --allow-restart, "
					"or apply inside the maintenance window",
					h->n->name));
	hold(x, h->n->name);
}

/* standby_behind - a running standby left on an older timeline that does not stream. */
static const char *standby_behind(Hx *x, const HaNode *h, unsigned ltl)
{
	const PgcObsNode *o = h->o;

	if (!o->reachable || !o->in_recovery || o->recovery_signal || o->timeline == 0 || ltl == 0 ||
	    o->timeline >= ltl || streq(o->wal_receiver_status, "streaming"))
		return NULL;
	return arena_printf(x->a,
			    "standby \"%s\" is on timeline %u, behind the primary \"%s\" on timeline "
			    "%u, and does not stream: rejoin it (pg_rewind when its history diverged)",
			    h->n->name, o->timeline, x->lp->n->name, ltl);
}

/*
 * needs_rejoin - why node h cannot simply be (re)started or configured as a
 * replica of the live primary, or NULL. *now false: only once the primary runs.
 */
static const char *needs_rejoin(Hx *x, const HaNode *h, bool *now)
{
	const PgcObsNode *o = h->o, *lo = x->lp->o;
	unsigned ltl = lo != NULL ? lo->timeline : 0;

	*now = true;
	if (h == x->lp || o == NULL)
		return NULL;
	if (h->writable)
		return arena_printf(x->a,
				    "node \"%s\" accepts writes on timeline %u while \"%s\" is the "
				    "primary%s: stop it at once (standby.signal), rewind it with "
				    "pg_rewind and restart it as a replica; what it wrote alone is given up",
				    h->n->name, o->timeline, x->lp->n->name,
				    ltl ? arena_printf(x->a, " on timeline %u", ltl) : "");
	*now = false;
	if (h->running || !o->local || o->dir_state != DIR_INITIALIZED)
		return h->running ? standby_behind(x, h, ltl) : NULL;
	if (h->down_primary)
		return arena_printf(x->a,
				    "node \"%s\" is down with a primary's control file (\"%s\", "
				    "timeline %u) while \"%s\" is the primary: rejoin it as a replica "
				    "(pg_rewind when its history diverged), then start it",
				    h->n->name, o->cluster_state, o->timeline, x->lp->n->name);
	if (o->timeline != 0 && ltl != 0 && o->timeline < ltl)
		return arena_printf(x->a,
				    "node \"%s\" is down on timeline %u, behind the primary \"%s\" on "
				    "timeline %u: rejoin it as a replica (pg_rewind when its history "
				    "diverged), then start it",
				    h->n->name, o->timeline, x->lp->n->name, ltl);
	return NULL;
}

static void plan_rejoins(Hx *x)
{
	bool primary_up = x->lp->writable;

	for (size_t i = 0; i < x->n; i++) {
		HaNode *h = &x->nodes[i];
		bool now;
		const char *why = needs_rejoin(x, h, &now);

		if (why == NULL)
			continue;
		if (now || primary_up)
			emit_rejoin(x, h, why);
		else
			hold(x, h->n->name); /* rejoined once the primary runs again */
	}
}

/* ---- a primary that automatic failover replaces ---------------------------------------- */

/*
 * withhold_start - failover.mode auto, the live primary is down here and a
 * replica can be promoted: reconcile's failover decides, not a restart.
 */
static void withhold_start(Hx *x)
{
	const PgcCluster *c = x->live;
	const HaNode *l = x->lp;
	PgcChooseOptions co = {NULL, false, false};
	PgcChoice ch;
	PgcAction *act;

	if (c->failover.mode != FAILOVER_AUTO || l->o == NULL || !l->o->local || l->running ||
	    l->o->dir_state != DIR_INITIALIZED || plan_ha_holds(x->out, l->n->name))
		return;
	/* Nobody to promote, or no way to fence: starting it again is the way back. */
	if (failover_fence_refusal(x->a, c, cluster_node(c, l->n->name), l->o) != NULL ||
	    failover_choose(x->a, c, x->obs, l->n->name, NULL, &co, &ch) != 0)
		return;
	act = emit(x, ACT_START, l->n->name, IMPACT_NONE, "the primary is not running");
	act->payload.path = l->n->data_dir.v;
	builder_block(act, arena_printf(x->a,
				"failover.mode is auto: 'pgconverge reconcile' promotes \"%s\" once "
				"\"%s\" has failed its probes for failover.detect_after, instead of "
				"starting it again ('pgconverge failover --cluster %s' does it now); "
				"to keep \"%s\" as the primary, start it by hand",
				ch.chosen, l->n->name, c->name, l->n->name));
	hold(x, l->n->name);
}

/* ---- switchover ------------------------------------------------------------------------- */

/* streams_from - standby d streams from the live primary. */
static bool streams_from(Hx *x, const HaNode *d)
{
	const PgcObsNode *lo = x->lp->o, *o = d->o;

	if (o == NULL || !o->reachable || !o->in_recovery)
		return false;
	for (size_t i = 0; lo != NULL && lo->reachable && i < lo->n_replicas; i++)
		if (streq(lo->replicas[i].application_name, d->n->name) &&
		    streq(lo->replicas[i].state, "streaming"))
			return true;
	return streq(o->wal_receiver_status, "streaming") && streq(o->upstream_host, x->lp->n->host.v) &&
	       o->upstream_port == x->lp->n->port.v;
}

/* policy_block - why the policy holds the switchover, or NULL when it allows it. */
static const char *policy_block(Hx *x, const char *to)
{
	const PgcMaintenance *m = &x->c->maintenance;
	const char *from = x->lp->n->name;

	if (x->policy->allow_switchover)
		return NULL;
	if (!x->c->failover.failback_auto)
		return arena_printf(x->a,
				    "failover.failback is manual: pgconverge does not move the primary "
				    "by itself; to keep \"%s\", set 'primary: %s' in the topology; to "
				    "switch over to \"%s\", run apply with --allow-switchover",
				    from, from, to);
	if (maintenance_window_open(m, x->policy->now))
		return NULL;
	if (m->restart == RESTART_WINDOW && m->window.v != NULL)
		return arena_printf(x->a, "outside the maintenance window \"%s\"; run with "
				    "--allow-switchover to switch over now, or apply during the window",
				    m->window.v);
	return arena_printf(x->a, "switchovers need --allow-switchover (cluster \"%s\" has "
			    "maintenance.restart: never)", x->c->name);
}

/* conf_value - the value plan_conf_params() gives parameter name on node n of c, or NULL. */
static const char *conf_value(Hx *x, const PgcCluster *c, const char *node, const char *name)
{
	const PgcNode *n = cluster_node(c, node);
	PgcConfParam *params;
	size_t np = n ? plan_conf_params(x->a, c, n, &params) : 0;

	for (size_t i = 0; i < np; i++)
		if (strcmp(params[i].name, name) == 0)
			return params[i].value;
	return NULL;
}

static void switchover(Hx *x)
{
	const PgcCluster *c = x->c;
	const char *to = c->primary.v, *from = x->lp->n->name, *why, *slots = NULL, *sync;
	const char *remote = NULL;
	HaNode *d;
	PgcAction *act = &x->out->pending;

	if (to == NULL)
		return;
	d = ha_node(x, to);

	builder_fill(x->b, act, ACT_SWITCHOVER, c->name, to, NULL, IMPACT_SWITCHOVER,
	     arena_printf(x->a,
			  "'primary:' names \"%s\" but \"%s\" is the live primary: switch over "
			  "without losing a committed transaction: check that \"%s\" streams from "
			  "\"%s\" and is caught up; CHECKPOINT and a fast shutdown of \"%s\" (writes "
			  "stop here); wait until \"%s\" replayed its shutdown checkpoint; promote "
			  "\"%s\"; restart \"%s\" as its replica; re-point the other replicas and "
			  "cascades; create their slots and set synchronous_standby_names on \"%s\"; "
			  "a failure before the promotion starts \"%s\" again as the primary",
			  to, from, to, from, from, to, to, from, to, from));
	act->payload.target = to;
	act->payload.upstream = from;
	builder_change(x->b, act, "primary", from, to);
	builder_change(x->b, act, arena_printf(x->a, "role of \"%s\"", from), "primary",
	       arena_printf(x->a, "replica of \"%s\"", to));
	for (size_t i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];
		const PgcNode *now = cluster_upstream(x->live, cluster_node(x->live, n->name));
		const PgcNode *then = cluster_upstream(c, n);

		if (strcmp(n->name, from) == 0 || strcmp(n->name, to) == 0)
			continue;
		if (now != NULL && then != NULL && strcmp(now->name, then->name) != 0)
			builder_change(x->b, act, arena_printf(x->a, "upstream of \"%s\"", n->name), now->name,
			       then->name);
		if (c->replication.slots.v && then != NULL && strcmp(then->name, to) == 0)
			slots = slots ? arena_printf(x->a, "%s, %s", slots, plan_slot_name(x->a, n->name))
				      : plan_slot_name(x->a, n->name);
	}
	if (c->replication.slots.v)
		builder_change(x->b, act, arena_printf(x->a, "slots on \"%s\"", to), NULL,
		       slots ? arena_printf(x->a, "%s, %s", plan_slot_name(x->a, from), slots)
			     : plan_slot_name(x->a, from));
	sync = conf_value(x, c, to, "synchronous_standby_names");
	if (sync != NULL)
		builder_change(x->b, act, arena_printf(x->a, "synchronous_standby_names on \"%s\"", to),
		       conf_value(x, x->live, to, "synchronous_standby_names"), sync);

	/* What the servers allow first, the policy last: only its reason names a flag. */
	if (d == NULL || d->o == NULL)
		why = arena_printf(x->a, "node \"%s\" was not observed", to);
	else if (x->lp->o == NULL && x->b->coordinated)
		why = arena_printf(x->a, "node \"%s\" was not observed", from);
	/* With coordination, each host's agent does its node's part (reconcile/coord/). */
	else if (!x->b->coordinated && (x->lp->o == NULL || !x->lp->o->local))
		why = remote = remote_reason(x, x->lp->n);
	else if (!x->b->coordinated && !d->o->local)
		why = remote = remote_reason(x, d->n);
	else if (!x->lp->writable)
		why = arena_printf(x->a, "the primary \"%s\" is not running: the switchover waits "
				   "until it runs", from);
	else if (plan_ha_holds(x->out, to))
		why = arena_printf(x->a, "\"%s\" rejoins as a replica first (see its rejoin action)",
				   to);
	else if (!streams_from(x, d))
		why = arena_printf(x->a, "\"%s\" does not stream from \"%s\" (%s): the switchover "
				   "waits until it does",
				   to, from,
				   d->o->reachable ? d->o->in_recovery ? "its WAL receiver is not streaming"
								    : "it is not a standby"
						   : "it does not answer");
	else if (x->n_ha_actions > 0)
		why = "other nodes rejoin first (see their rejoin actions): the switchover waits for "
		      "the next pass";
	else
		why = policy_block(x, to);
	if (why == NULL) {
		/* The only action of the cluster: the next pass plans from the new primary. */
		*builder_append(x->b) = *act;
		x->out->owned = true;
		return;
	}
	if (why == remote)
		builder_delegate(x->b, act, why);
	else
		builder_block(act, why);
	x->out->has_pending = true;
}

/* ---- public --------------------------------------------------------------------------- */

void plan_ha_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObserved *obs,
		     const PgcPolicy *policy, PgcHaPlan *out)
{
	Hx x;

	memset(out, 0, sizeof(*out));
	out->live = c;
	out->live_primary = c->primary.v;
	if (obs == NULL || obs->pretend || c->n_nodes < 2 || c->primary.v == NULL)
		return;
	memset(&x, 0, sizeof x);
	x.b = b;
	x.a = b->a;
	x.c = c;
	x.live = c;
	x.policy = policy;
	x.obs = obs;
	x.out = out;
	x.n = c->n_nodes;
	x.nodes = arena_calloc(x.a, c->n_nodes, sizeof(HaNode));
	for (size_t i = 0; i < c->n_nodes; i++) {
		HaNode *h = &x.nodes[i];
		const PgcObsNode *o = find_obs(obs, c->name, c->nodes[i].name);

		h->n = &c->nodes[i];
		h->o = o;
		if (o == NULL)
			continue;
		h->writable = o->reachable && !o->in_recovery;
		h->running = o->reachable || o->postmaster_alive;
		h->down_primary = o->local && o->dir_state == DIR_INITIALIZED && !h->running &&
				  !o->standby_signal && !o->recovery_signal &&
				  primary_control(o->cluster_state);
	}
	if (!live_primary(&x))
		return;
	if (strcmp(x.lp->n->name, c->primary.v) != 0) {
		x.live = failover_topology(x.a, c, c->primary.v, x.lp->n->name);
		out->live = x.live;
		out->live_primary = x.live->primary.v;
	}
	plan_rejoins(&x);
	withhold_start(&x);
	if (x.live != c)
		switchover(&x);
}

void plan_ha_finish(PgcPlanBuilder *b, const PgcHaPlan *h)
{
	if (h->has_pending)
		*builder_append(b) = h->pending;
}
