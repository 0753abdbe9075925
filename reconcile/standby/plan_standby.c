/*
 * reconcile/standby/plan_standby.c - standby clusters in the plan
 * (plan_standby.h).
 */
#include "reconcile/standby/plan_standby.h"

#include <string.h>

#include "reconcile/postgres/plan_conf.h"
#include "reconcile/standby/region_loss.h"
#include "reconcile/standby/standby_archive.h"

static bool same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

const char *standby_slot_name(PgcArena *a, const char *cluster)
{
	char *s = arena_printf(a, "pgc_standby_%s", cluster);

	for (char *p = s; *p; p++)
		if (*p == '-')
			*p = '_';
	return s;
}

/* takes_writes - src's node n was observed reachable and out of recovery. */
static const PgcObsNode *takes_writes(const PgcObserved *obs, const PgcCluster *src, const PgcNode *n)
{
	const PgcObsNode *o = n != NULL ? observe_node_find_any(obs, src->name, n->name) : NULL;

	return o != NULL && o->reachable && !o->in_recovery ? o : NULL;
}

const PgcNode *standby_source_primary(const PgcCluster *src, const PgcObserved *obs, const char *live)
{
	const PgcNode *best = NULL, *lp = live != NULL ? cluster_node(src, live) : NULL;
	unsigned best_tli = 0;

	/* Offline, or a source that is a standby cluster too (its primary, its
	 * leader, is in recovery and never changes by itself). */
	if (obs == NULL || obs->pretend || src->standby_of.set)
		return lp != NULL ? lp : cluster_node(src, src->primary.v);
	if (takes_writes(obs, src, lp) != NULL)
		return lp;
	for (size_t i = 0; i < src->n_nodes; i++) {
		const PgcObsNode *o = takes_writes(obs, src, &src->nodes[i]);

		if (o != NULL && (best == NULL || o->timeline > best_tli)) {
			best = &src->nodes[i];
			best_tli = o->timeline;
		}
	}
	return best;
}

/* leader_upstream - the node of src that c's standby leader streams from now, as observed, or NULL. */
static const PgcNode *leader_upstream(const PgcCluster *src, const PgcCluster *c, const PgcObserved *obs)
{
	const PgcObsNode *o = observe_node_find_any(obs, c->name, c->primary.v);

	for (size_t i = 0; o != NULL && o->reachable && o->upstream_host != NULL && i < src->n_nodes; i++)
		if (same(src->nodes[i].host.v, o->upstream_host) && src->nodes[i].port.v == o->upstream_port)
			return &src->nodes[i];
	return NULL;
}

/*
 * let_go - y's primary was seen answering and not streaming from (nor
 * configured for) a node of c: y's slot on c is of no use to it. Not seen
 * (not observed, down, offline): it may still need the slot.
 */
static bool let_go(const PgcCluster *c, const PgcCluster *y, const PgcObserved *obs)
{
	const PgcObsNode *o = obs != NULL && !obs->pretend ? observe_node_find_any(obs, y->name, y->primary.v) : NULL;

	if (o == NULL || !o->reachable)
		return false;
	for (size_t i = 0; o->in_recovery && o->upstream_host != NULL && i < c->n_nodes; i++)
		if (same(c->nodes[i].host.v, o->upstream_host) && c->nodes[i].port.v == o->upstream_port)
			return false;
	return true;
}

static size_t cluster_index(const PgcTopology *t, const PgcCluster *c)
{
	for (size_t i = 0; i < t->n_clusters; i++)
		if (same(t->clusters[i].name, c->name))
			return i;
	return t->n_clusters;
}

const PgcCluster *plan_standby_live(PgcArena *a, const PgcTopology *t, const PgcCluster *c,
				    const PgcObserved *obs, const char *const *live_primaries)
{
	const PgcCluster *src = c->standby_of.set ? topology_cluster(t, c->standby_of.v) : NULL;
	PgcCluster *copy = NULL;
	size_t n_standbys = 0, n_hosts = 0;

	for (size_t i = 0; i < t->n_clusters; i++)
		if (t->clusters[i].standby_of.set && same(t->clusters[i].standby_of.v, c->name)) {
			n_standbys++;
			n_hosts += t->clusters[i].n_nodes;
		}
	if (src == NULL && n_standbys == 0 && t->n_clusters < 2)
		return c;
	copy = arena_alloc(a, sizeof(*copy));
	*copy = *c;
	/* Slots of the other clusters that no longer stream from c (a detached
	 * standby cluster's, once its leader is promoted): dropped when unused. */
	copy->released_slots = arena_calloc(a, t->n_clusters, sizeof(char *));
	copy->n_released_slots = 0;
	for (size_t i = 0; i < t->n_clusters; i++)
		if (!same(t->clusters[i].name, c->name) &&
		    !(t->clusters[i].standby_of.set && same(t->clusters[i].standby_of.v, c->name)) &&
		    let_go(c, &t->clusters[i], obs))
			copy->released_slots[copy->n_released_slots++] =
			    standby_slot_name(a, t->clusters[i].name);
	if (src != NULL) {
		size_t si = cluster_index(t, src);
		const PgcNode *up = standby_source_primary(
		    src, obs, live_primaries != NULL && si < t->n_clusters ? live_primaries[si] : NULL);

		/* The source's primary not seen (unreachable, or not observed): the
		 * leader keeps the upstream it has, else (being built) src's primary. */
		if (up == NULL)
			up = leader_upstream(src, c, obs);
		if (up == NULL)
			up = cluster_node(src, src->primary.v);
		if (up != NULL) {
			copy->standby_upstream = up;
			copy->standby_upstream_ref = arena_printf(a, "%s/%s", src->name, up->name);
			copy->standby_slot = standby_slot_name(a, c->name);
		}
		copy->standby_archive = standby_archive_repository(t, c);
		/* It replays its chain's catalog: the roles and databases of the
		 * chain's root (a source that is a standby cluster too has none of its own). */
		const PgcCluster *root = topology_roles_view(a, t, c);

		copy->roles = root->roles;
		copy->n_roles = root->n_roles;
		copy->databases = root->databases;
		copy->n_databases = root->n_databases;
	}
	if (n_standbys > 0) {
		copy->kept_slots = arena_calloc(a, n_standbys, sizeof(char *));
		copy->standby_hosts = arena_calloc(a, n_hosts, sizeof(char *));
		copy->n_kept_slots = 0;
		copy->n_standby_hosts = 0;
		for (size_t i = 0; i < t->n_clusters; i++) {
			const PgcCluster *s = &t->clusters[i];

			if (!s->standby_of.set || !same(s->standby_of.v, c->name))
				continue;
			copy->kept_slots[copy->n_kept_slots++] = standby_slot_name(a, s->name);
			for (size_t j = 0; j < s->n_nodes; j++)
				copy->standby_hosts[copy->n_standby_hosts++] = s->nodes[j].host.v;
		}
	}
	return copy;
}

size_t *plan_standby_order(PgcArena *a, const PgcTopology *t)
{
	size_t *order = arena_calloc(a, t->n_clusters + 1, sizeof(size_t));
	bool *done = arena_calloc(a, t->n_clusters + 1, sizeof(bool));
	size_t n = 0;

	/* Each round takes the clusters whose source is placed (or absent: a
	 * cycle, which validation refuses, ends in the last round as written). */
	for (size_t round = 0; round <= t->n_clusters && n < t->n_clusters; round++)
		for (size_t i = 0; i < t->n_clusters; i++) {
			const PgcCluster *c = &t->clusters[i];
			const PgcCluster *src = c->standby_of.set ? topology_cluster(t, c->standby_of.v) : NULL;
			size_t si = src != NULL ? cluster_index(t, src) : t->n_clusters;

			if (done[i] || (si < t->n_clusters && !done[si] && round < t->n_clusters))
				continue;
			done[i] = true;
			order[n++] = i;
		}
	return order;
}

/* wait_for - act waits for the actions of this plan that bring up (cluster, node) and the slot. */
static void wait_for(PgcPlanBuilder *b, size_t ai, const char *cluster, const char *node,
		     const char *slot)
{
	PgcPlan *p = b->p;

	for (size_t i = 0; i < p->n_actions; i++) {
		const PgcAction *s = &p->actions[i];
		bool up = s->kind == ACT_INITDB || s->kind == ACT_CLONE || s->kind == ACT_START ||
			  s->kind == ACT_RESTART || s->kind == ACT_RELOAD || s->kind == ACT_WRITE_HBA ||
			  s->kind == ACT_CREATE_ROLE || s->kind == ACT_ALTER_ROLE ||
			  (s->kind == ACT_CREATE_SLOT && same(s->payload.target, slot));

		if (i == ai || s->blocked || !up || !same(s->cluster, cluster) || !same(s->node, node))
			continue;
		builder_depend(b, &p->actions[ai], s->id);
	}
}

/* repointed_after - drop-slot ai waits for what re-points standby cluster s's leader. */
static void repointed_after(PgcPlanBuilder *b, size_t ai, const PgcCluster *s)
{
	PgcPlan *p = b->p;

	for (size_t i = 0; i < p->n_actions; i++) {
		const PgcAction *r = &p->actions[i];

		if ((r->kind == ACT_WRITE_CONFIG || r->kind == ACT_WRITE_PASSFILE || r->kind == ACT_RELOAD ||
		     r->kind == ACT_RESTART || r->kind == ACT_START) &&
		    !r->blocked && same(r->cluster, s->name) && same(r->node, s->primary.v))
			builder_depend(b, &p->actions[ai], r->id);
	}
}

void plan_standby_link(PgcPlanBuilder *b, const PgcTopology *t)
{
	PgcPlan *p = b->p;

	for (size_t i = 0; i < p->n_actions; i++) {
		if (p->actions[i].kind != ACT_DROP_SLOT)
			continue;
		for (size_t k = 0; k < t->n_clusters; k++)
			if (t->clusters[k].standby_of.set && same(p->actions[i].cluster, t->clusters[k].standby_of.v) &&
			    same(p->actions[i].payload.target, standby_slot_name(b->a, t->clusters[k].name)))
				repointed_after(b, i, &t->clusters[k]);
	}
	for (size_t i = 0; i < p->n_actions; i++) {
		const PgcAction *a = &p->actions[i];
		const char *ref = a->payload.upstream, *slash;
		const PgcCluster *c;

		if ((a->kind != ACT_CLONE && a->kind != ACT_WRITE_PASSFILE && a->kind != ACT_START) || ref == NULL ||
		    (slash = strchr(ref, '/')) == NULL || a->cluster == NULL)
			continue;
		c = topology_cluster(t, a->cluster);
		if (c == NULL)
			continue;
		wait_for(b, i, arena_strndup(b->a, ref, (size_t)(slash - ref)), slash + 1,
			 standby_slot_name(b->a, c->name));
	}
}

/* ---- the region switch ---------------------------------------------------------- */

typedef struct {
	PgcPlanBuilder *b;
	const PgcObserved *obs;
	const PgcPolicy *policy;
	const PgcCluster *s, *x;  /* S (standby_of: X now) and X, as in the file */
	const PgcNode *l, *p;     /* X's primary; S's primary now */
	const PgcObsNode *ol, *op;
} Rs;

/* was_primary - o is down, on this machine, with a primary's control file. */
static bool was_primary(const PgcObsNode *o)
{
	return o != NULL && o->local && o->dir_state == DIR_INITIALIZED && !o->reachable &&
	       !o->postmaster_alive &&
	       (same(o->cluster_state, "in production") || same(o->cluster_state, "shut down"));
}

/*
 * fenced_primary - o was S's primary and got a standby.signal since (the
 * region-loss fence, or a rejoin killed half way), while X's leader already
 * takes writes (the rejoin case): still S's old primary for the rejoin, but
 * only when no node of S is seen on a newer timeline (an old primary of S's
 * own failover is not).
 */
static bool fenced_primary(const Rs *r, const PgcObsNode *o)
{
	const PgcObsCluster *oc = observe_cluster_find_any(r->obs, r->s->name);

	if (!was_primary(o) || !o->standby_signal || o->timeline == 0 || r->ol == NULL ||
	    !r->ol->reachable || r->ol->in_recovery)
		return false;
	for (size_t i = 0; oc != NULL && i < oc->n_nodes; i++)
		if (oc->nodes[i].timeline == 0 || oc->nodes[i].timeline > o->timeline)
			return false;
	return true;
}

static bool streams_from(const PgcObsNode *o, const PgcNode *up)
{
	return o != NULL && o->reachable && o->in_recovery && same(o->wal_receiver_status, "streaming") &&
	       same(o->upstream_host, up->host.v) && o->upstream_port == up->port.v;
}

/*
 * s_primary - the node of S that is its primary now: the one taking writes
 * (the newest timeline among several), else S's declared primary when it is
 * down with a primary's control file. NULL: S does not look like a primary
 * cluster (its leader is a standby, or it is being built).
 */
static const PgcNode *s_primary(Rs *r, const PgcObsNode **out)
{
	const PgcNode *best = NULL;
	const PgcObsNode *bo = NULL;

	for (size_t i = 0; i < r->s->n_nodes; i++) {
		const PgcObsNode *o = takes_writes(r->obs, r->s, &r->s->nodes[i]);

		if (o != NULL && (bo == NULL || o->timeline > bo->timeline)) {
			best = &r->s->nodes[i];
			bo = o;
		}
	}
	if (best == NULL && r->s->primary.v != NULL) {
		bo = observe_node_find_any(r->obs, r->s->name, r->s->primary.v);
		best = (was_primary(bo) && !bo->standby_signal && !bo->recovery_signal) ||
			       fenced_primary(r, bo)
			   ? cluster_node(r->s, r->s->primary.v)
			   : NULL;
	}
	*out = best != NULL ? bo : NULL;
	return best;
}

/* policy_block - why the switchover policy of c holds the switch (or the detach: detach), plan_ha.c's rule, or NULL. */
static const char *policy_block(Rs *r, const PgcCluster *c, bool detach)
{
	const PgcMaintenance *m = &c->maintenance;
	PgcArena *a = r->b->a;
	const char *verb = detach ? "detach" : "switch";

	if (r->policy->allow_switchover)
		return NULL;
	if (!c->failover.failback_auto)
		return arena_printf(a, "failover.failback of cluster \"%s\" is manual: pgconverge does "
				    "not %s by itself; run apply with --allow-switchover to %s, or put "
				    "standby_of back as it was",
				    c->name, detach ? "detach a standby cluster" : "move the primary region",
				    verb);
	if (maintenance_window_open(m, r->policy->now))
		return NULL;
	if (m->restart == RESTART_WINDOW && m->window.v != NULL)
		return arena_printf(a, "outside the maintenance window \"%s\" of cluster \"%s\"; run "
				    "with --allow-switchover to %s now, or apply during the window",
				    m->window.v, c->name, verb);
	return arena_printf(a, "a %s needs --allow-switchover (cluster \"%s\" has "
			    "maintenance.restart: never)", detach ? "detach" : "region switch", c->name);
}

static const char *remote(Rs *r, const PgcNode *n)
{
	return arena_printf(r->b->a, "node's host \"%s\" is not this machine; pgconverge can only "
			    "switch regions between nodes that run here", n->host.v);
}

/* switch_block - why the lossless switch cannot run in this pass, or NULL; *remote: a node is on another host. */
static const char *switch_block(Rs *r, bool *is_remote)
{
	PgcArena *a = r->b->a;
	const char *why;

	if (r->b->coordinated)
		return "a region switch is not done with coordination.etcd yet: switch on a topology "
		       "without coordination";
	*is_remote = !r->op->local || !r->ol->local;
	if (*is_remote)
		return remote(r, !r->op->local ? r->p : r->l);
	if (r->op->reachable && !streams_from(r->ol, r->p))
		return arena_printf(a, "\"%s\" does not stream from \"%s\" (%s): the region switch "
				    "waits until it does", r->l->name, r->p->name,
				    r->ol->wal_receiver_status ? r->ol->wal_receiver_status
							       : "no WAL receiver");
	if (!r->op->reachable && !same(r->op->cluster_state, "shut down"))
		return arena_printf(a, "the primary \"%s\" of cluster \"%s\" is down without a clean "
				    "shutdown (%s): the region switch waits until it runs",
				    r->p->name, r->s->name,
				    r->op->cluster_state ? r->op->cluster_state : "state unknown");
	if ((why = policy_block(r, r->x, false)) != NULL)
		return why;
	return policy_block(r, r->s, false);
}

static PgcAction *emit_switch(Rs *r, bool rejoin)
{
	PgcArena *a = r->b->a;
	const char *sp = arena_printf(a, "%s/%s", r->s->name, r->p->name);
	const char *xl = arena_printf(a, "%s/%s", r->x->name, r->l->name);
	const char *slot_s = standby_slot_name(a, r->s->name), *slot_x = standby_slot_name(a, r->x->name);
	PgcAction *act;

	act = builder_emit(
	    r->b, ACT_REGION_SWITCH, r->x->name, r->l->name, NULL,
	    rejoin ? IMPACT_RESTART : IMPACT_SWITCHOVER,
	    rejoin ? arena_printf(a,
				  "cluster \"%s\" is the primary one now and \"%s\" was promoted "
				  "already (a region failover): \"%s\", still taking writes or down as "
				  "a primary, rejoins as the standby leader of \"%s\" streaming from "
				  "\"%s\": fenced if it runs; pg_rewind only when its timeline diverged "
				  "(what it wrote past the fork is discarded, and measured); slot %s on "
				  "\"%s\"; started with standby.signal; no copy; the other nodes of "
				  "\"%s\" keep cascading from it",
				  r->x->name, xl, sp, r->s->name, xl, slot_s, r->l->name, r->s->name)
		   : arena_printf(a,
				  "standby_of moved: cluster \"%s\" becomes the primary one and \"%s\" "
				  "its standby cluster, a lossless region switch: check that \"%s\" "
				  "streams from \"%s\" and is caught up; pause the poolers and "
				  "balancers of \"%s\"; CHECKPOINT and a fast shutdown of \"%s\" "
				  "(writes stop here); wait until \"%s\" replayed its shutdown "
				  "checkpoint; promote \"%s\"; create slot %s on it; restart \"%s\" as "
				  "the standby leader of \"%s\" streaming from \"%s\", without a copy "
				  "(pg_rewind only when its timeline diverged); the other nodes of "
				  "\"%s\" keep cascading from it; re-point the poolers and balancers; "
				  "drop slot %s from \"%s\"; a failure before the promotion starts "
				  "\"%s\" again as the primary",
				  r->x->name, r->s->name, xl, sp, r->s->name, sp, xl, xl, slot_s, sp,
				  r->s->name, xl, r->s->name, slot_x, sp, sp));
	act->payload.target = rejoin ? "rejoin" : "switch";
	act->payload.upstream = sp;
	if (!rejoin) {
		builder_change(r->b, act, arena_printf(a, "standby_of of \"%s\"", r->x->name), r->s->name,
			       NULL);
		builder_change(r->b, act, arena_printf(a, "role of \"%s\"", xl),
			       arena_printf(a, "standby leader streaming from \"%s\"", sp), "primary");
	}
	builder_change(r->b, act, arena_printf(a, "standby_of of \"%s\"", r->s->name), NULL,
		       r->x->name);
	builder_change(r->b, act, arena_printf(a, "role of \"%s\"", sp), "primary",
		       arena_printf(a, "standby leader streaming from \"%s\"", xl));
	builder_change(r->b, act, arena_printf(a, "slots on \"%s\"", xl), NULL, slot_s);
	builder_change(r->b, act, arena_printf(a, "slots on \"%s\"", sp), slot_x, NULL);
	return act;
}

/* swap_back - t's copy (made once, in *copy) where S is a primary cluster again and X its standby. */
static void swap_back(PgcArena *a, const PgcTopology *t, PgcTopology **copy, size_t si, size_t xi)
{
	if (*copy == NULL) {
		*copy = arena_alloc(a, sizeof(**copy));
		**copy = *t;
		(*copy)->clusters = arena_calloc(a, t->n_clusters + 1, sizeof(PgcCluster));
		memcpy((*copy)->clusters, t->clusters, t->n_clusters * sizeof(PgcCluster));
	}
	(*copy)->clusters[xi].standby_of = t->clusters[si].standby_of;
	(*copy)->clusters[xi].standby_of.v = t->clusters[si].name;
	memset(&(*copy)->clusters[si].standby_of, 0, sizeof(PgcStr));
	/* The roles and databases the file moved to X are S's while S is the primary. */
	(*copy)->clusters[si].roles = t->clusters[xi].roles;
	(*copy)->clusters[si].n_roles = t->clusters[xi].n_roles;
	(*copy)->clusters[si].databases = t->clusters[xi].databases;
	(*copy)->clusters[si].n_databases = t->clusters[xi].n_databases;
}

/* unobserved_switch - L streams from a node of S, which this pass did not observe (--cluster). */
static bool unobserved_switch(Rs *r)
{
	for (size_t i = 0; i < r->s->n_nodes; i++)
		if (observe_node_find_any(r->obs, r->s->name, r->s->nodes[i].name) != NULL)
			return false;
	for (size_t i = 0; r->ol != NULL && r->ol->reachable && r->ol->in_recovery && i < r->s->n_nodes; i++)
		if (same(r->ol->upstream_host, r->s->nodes[i].host.v) &&
		    r->ol->upstream_port == r->s->nodes[i].port.v)
			return true;
	return false;
}

/* ---- the detach ------------------------------------------------------------------ */

/*
 * detached_from - the node of another cluster of t that X's primary, in
 * recovery, streams from (or is configured to: upstream_host comes from its
 * primary_conninfo), *si its cluster's index; NULL when none, or when that
 * cluster is standby_of X (a swap: the region switch above).
 */
static const PgcNode *detached_from(const PgcTopology *t, size_t xi, const PgcObsNode *ol, size_t *si)
{
	const PgcCluster *x = &t->clusters[xi];

	if (x->standby_of.set || ol == NULL || !ol->reachable || !ol->in_recovery ||
	    ol->upstream_host == NULL)
		return NULL;
	for (size_t i = 0; i < t->n_clusters; i++) {
		const PgcCluster *s = &t->clusters[i];

		if (i == xi)
			continue;
		for (size_t j = 0; j < s->n_nodes; j++)
			if (same(s->nodes[j].host.v, ol->upstream_host) && s->nodes[j].port.v == ol->upstream_port) {
				if (s->standby_of.set && same(s->standby_of.v, x->name))
					return NULL;
				*si = i;
				return &s->nodes[j];
			}
	}
	return NULL;
}

/* attach_back - t's copy (made once, in *copy) where X is S's standby cluster again, as it runs. */
static void attach_back(PgcArena *a, const PgcTopology *t, PgcTopology **copy, size_t si, size_t xi)
{
	PgcCluster *x;

	if (*copy == NULL) {
		*copy = arena_alloc(a, sizeof(**copy));
		**copy = *t;
		(*copy)->clusters = arena_calloc(a, t->n_clusters + 1, sizeof(PgcCluster));
		memcpy((*copy)->clusters, t->clusters, t->n_clusters * sizeof(PgcCluster));
	}
	x = &(*copy)->clusters[xi];
	x->standby_of.set = true;
	x->standby_of.v = t->clusters[si].name;
	/* It streams with S's replication user and password (schema/load.c's
	 * inherit_standby), whatever the file now declares for X. */
	x->replication.user = t->clusters[si].replication.user;
	x->replication.password = t->clusters[si].replication.password;
}

static PgcAction *emit_detach(Rs *r)
{
	PgcArena *a = r->b->a;
	const char *sp = arena_printf(a, "%s/%s", r->s->name, r->p->name);
	const char *xl = arena_printf(a, "%s/%s", r->x->name, r->l->name);
	const char *slot_x = standby_slot_name(a, r->x->name);
	PgcAction *act;

	act = builder_emit(
	    r->b, ACT_REGION_SWITCH, r->x->name, r->l->name, NULL, IMPACT_SWITCHOVER,
	    arena_printf(a,
			 "standby_of removed: cluster \"%s\" is detached from \"%s\" and becomes a "
			 "primary cluster of its own: \"%s\", its standby leader streaming from "
			 "\"%s\", is promoted where its replay stands (it forks from \"%s\": from then "
			 "on the two clusters take writes apart, and nothing written on either "
			 "reaches the other); the other nodes of \"%s\" keep cascading from it; "
			 "\"%s\" keeps running untouched, and a later pass drops slot %s from "
			 "\"%s\"; to keep \"%s\" a standby cluster, put standby_of: %s back",
			 r->x->name, r->s->name, xl, sp, r->s->name, r->x->name, r->s->name, slot_x, sp,
			 r->x->name, r->s->name));
	act->payload.target = "detach";
	act->payload.upstream = sp;
	builder_change(r->b, act, arena_printf(a, "standby_of of \"%s\"", r->x->name), r->s->name, NULL);
	builder_change(r->b, act, arena_printf(a, "role of \"%s\"", xl),
		       arena_printf(a, "standby leader streaming from \"%s\"", sp), "primary");
	builder_change(r->b, act, arena_printf(a, "slots on \"%s\"", sp), slot_x,
		       "dropped by a later pass");
	return act;
}

/*
 * plan_detach - X (xi) without standby_of whose primary still streams from
 * a node of S: the detach, alone (runnable) or X planned as S's standby
 * cluster (blocked). S is planned as before in this pass either way: it
 * keeps X's slot and pg_hba.conf lines until X's leader is promoted.
 */
static void plan_detach(PgcPlanBuilder *b, const PgcTopology *t, const PgcObserved *obs,
			const PgcPolicy *policy, bool *skip, PgcTopology **copy, size_t xi)
{
	Rs r = {.b = b, .obs = obs, .policy = policy, .x = &t->clusters[xi]};
	const char *why = NULL;
	size_t si = t->n_clusters;
	PgcAction *act;

	if (skip[xi] || (r.l = cluster_node(r.x, r.x->primary.v)) == NULL)
		return;
	r.ol = observe_node_find_any(obs, r.x->name, r.l->name);
	if ((r.p = detached_from(t, xi, r.ol, &si)) == NULL)
		return;
	r.s = &t->clusters[si];
	act = emit_detach(&r);
	if (b->coordinated)
		why = "detaching a standby cluster is not done with coordination.etcd yet: detach on a "
		      "topology without coordination";
	else if (!r.ol->local)
		builder_delegate(b, act, arena_printf(b->a, "node's host \"%s\" is not this machine; "
						      "pgconverge promotes only nodes that run here",
						      r.l->host.v));
	else
		why = policy_block(&r, r.x, true);
	if (why != NULL)
		builder_block(act, why);
	else if (r.ol->local)
		skip[xi] = true;
	/* Blocked: X planned as it runs; runnable: X skipped, and S keeps X's
	 * slot and pg_hba.conf lines in this pass. */
	attach_back(b->a, t, copy, si, xi);
}

const PgcTopology *plan_region_switch(PgcPlanBuilder *b, const PgcTopology *t,
				      const PgcObserved *obs, const PgcPolicy *policy, bool *skip)
{
	PgcTopology *copy = NULL;

	if (obs == NULL || obs->pretend)
		return t;
	for (size_t si = 0; si < t->n_clusters; si++) {
		Rs r = {.b = b, .obs = obs, .policy = policy, .s = &t->clusters[si]};
		PgcRegionState loss;
		const char *why;
		bool is_remote = false;
		size_t xi;
		PgcAction *act;

		if (!r.s->standby_of.set || (r.x = topology_cluster(t, r.s->standby_of.v)) == NULL ||
		    r.x->standby_of.set || (r.l = cluster_node(r.x, r.x->primary.v)) == NULL)
			continue;
		/* S's writer is newer than X's history: S was promoted by a region
		 * failover and the file was not changed; not a switch the file asks
		 * for (region_loss.c holds both clusters). */
		if (region_loss_state(t, obs, r.s, &loss) && loss.promoted)
			continue;
		xi = cluster_index(t, r.x);
		r.ol = observe_node_find_any(obs, r.x->name, r.l->name);
		if (unobserved_switch(&r)) {
			/* Planned as it runs: the switch needs S observed. */
			if ((r.p = cluster_node(r.s, r.s->primary.v)) != NULL)
				builder_block(emit_switch(&r, false),
					      arena_printf(b->a, "cluster \"%s\" was not observed: plan and "
							   "apply the region switch without --cluster",
							   r.s->name));
			swap_back(b->a, t, &copy, si, xi);
			continue;
		}
		if ((r.p = s_primary(&r, &r.op)) == NULL)
			continue;
		if (r.ol != NULL && r.ol->reachable && !r.ol->in_recovery) {
			act = emit_switch(&r, true);
			if (b->coordinated)
				builder_block(act, "a region switch is not done with coordination.etcd yet");
			else if (!r.op->local || !r.ol->local)
				/* It writes both nodes' files: both must be on this machine. */
				builder_delegate(b, act, remote(&r, !r.op->local ? r.p : r.l));
			else
				skip[xi] = true;
			skip[si] = true;
			continue;
		}
		act = emit_switch(&r, false);
		if (r.ol == NULL || !r.ol->reachable)
			why = arena_printf(b->a, "the leader \"%s\" of cluster \"%s\" does not answer: the "
					   "region switch waits until it runs",
					   r.l->name, r.x->name);
		else
			why = switch_block(&r, &is_remote);
		if (why == NULL) {
			skip[si] = skip[xi] = true;
			continue;
		}
		if (is_remote)
			builder_delegate(b, act, why);
		else
			builder_block(act, why);
		swap_back(b->a, t, &copy, si, xi);
	}
	/* standby_of removed without a swap: the detach. */
	for (size_t xi = 0; xi < t->n_clusters; xi++)
		plan_detach(b, t, obs, policy, skip, &copy, xi);
	return copy != NULL ? copy : t;
}
