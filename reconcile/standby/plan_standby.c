/*
 * reconcile/standby/plan_standby.c - standby clusters in the plan
 * (plan_standby.h).
 */
#include "reconcile/standby/plan_standby.h"

#include <string.h>

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

static const PgcObsNode *find_in(const PgcObsCluster *oc, size_t n, const char *cluster, const char *node)
{
	for (size_t i = 0; i < n; i++) {
		if (!same(oc[i].name, cluster))
			continue;
		for (size_t j = 0; j < oc[i].n_nodes; j++)
			if (same(oc[i].nodes[j].name, node))
				return &oc[i].nodes[j];
	}
	return NULL;
}

/* find_obs - (cluster, node) among the observed clusters, else among the sources observed for them. */
static const PgcObsNode *find_obs(const PgcObserved *obs, const char *cluster, const char *node)
{
	const PgcObsNode *o;

	if (obs == NULL)
		return NULL;
	o = find_in(obs->clusters, obs->n_clusters, cluster, node);
	return o != NULL ? o : find_in(obs->sources, obs->n_sources, cluster, node);
}

/* takes_writes - src's node n was observed reachable and out of recovery. */
static const PgcObsNode *takes_writes(const PgcObserved *obs, const PgcCluster *src, const PgcNode *n)
{
	const PgcObsNode *o = n != NULL ? find_obs(obs, src->name, n->name) : NULL;

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
	const PgcObsNode *o = find_obs(obs, c->name, c->primary.v);

	for (size_t i = 0; o != NULL && o->reachable && o->upstream_host != NULL && i < src->n_nodes; i++)
		if (same(src->nodes[i].host.v, o->upstream_host) && src->nodes[i].port.v == o->upstream_port)
			return &src->nodes[i];
	return NULL;
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
	if (src == NULL && n_standbys == 0)
		return c;
	copy = arena_alloc(a, sizeof(*copy));
	*copy = *c;
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
		/* It replays the source's catalog: these are what it holds. */
		copy->roles = src->roles;
		copy->n_roles = src->n_roles;
		copy->databases = src->databases;
		copy->n_databases = src->n_databases;
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
