/*
 * reconcile/engine/apply_order.c - the waits between a plan's actions: see
 * apply_order.h for the rules.
 */
#include "reconcile/engine/apply_order.h"

#include <stdbool.h>
#include <string.h>

#include "reconcile/engine/action.h"

#define NONE ((size_t)-1)

typedef struct {
	PgcArena *arena;
	const PgcTopology *t;
	const PgcPlan *p;
	size_t *first_node;  /* per cluster: index of its first node in the flat numbering */
	bool **upstream;     /* per cluster: upstream[m * n_nodes + n]: m is upstream of n */
	bool *one_at_a_time; /* per cluster */
	size_t *last_node;   /* per node (flat): latest action on it so far, or NONE */
	size_t *last_cluster;/* per cluster: latest cluster-wide action, or NONE */
	size_t last_all;     /* latest action everything waits for, or NONE */
	PgcActionOrder *out;
} Order;

static size_t cluster_index(const PgcTopology *t, const char *name)
{
	if (name == NULL)
		return NONE;
	for (size_t c = 0; c < t->n_clusters; c++)
		if (strcmp(t->clusters[c].name, name) == 0)
			return c;
	return NONE;
}

static size_t node_index(const PgcCluster *c, const char *name)
{
	if (name == NULL)
		return NONE;
	for (size_t n = 0; n < c->n_nodes; n++)
		if (strcmp(c->nodes[n].name, name) == 0)
			return n;
	return NONE;
}

/* upstream_matrix - which nodes of c are upstream (directly or not) of which. */
static bool *upstream_matrix(PgcArena *arena, const PgcCluster *c)
{
	size_t nn = c->n_nodes;
	bool *up = arena_calloc(arena, nn * nn + 1, sizeof(bool));

	for (size_t n = 0; n < nn; n++) {
		const PgcNode *u = cluster_upstream(c, &c->nodes[n]);

		/* A chain longer than the cluster would be a cycle: validation
		 * refuses those; the bound only keeps a bad input from looping. */
		for (size_t hops = 0; u != NULL && hops < nn; hops++) {
			size_t m = (size_t)(u - c->nodes);

			if (m >= nn || m == n)
				break;
			up[m * nn + n] = true;
			u = cluster_upstream(c, u);
		}
	}
	return up;
}

static void wait_for(Order *o, size_t i, size_t j, size_t *cap)
{
	PgcActionOrder *e = &o->out[i];

	if (j == NONE || j >= i)
		return;
	for (size_t k = 0; k < e->n_before; k++)
		if (e->before[k] == j)
			return;
	e->before = arena_grow(o->arena, e->before, e->n_before, cap, 8, sizeof(size_t));
	e->before[e->n_before++] = j;
}

static void wait_for_cluster(Order *o, size_t i, size_t c, size_t *cap)
{
	const PgcCluster *cl = &o->t->clusters[c];

	for (size_t n = 0; n < cl->n_nodes; n++)
		wait_for(o, i, o->last_node[o->first_node[c] + n], cap);
	wait_for(o, i, o->last_cluster[c], cap);
}

/* order_node_action - an action on node n of cluster c that may run beside others. */
static void order_node_action(Order *o, size_t i, size_t c, size_t n, size_t *cap)
{
	const PgcAction *a = &o->p->actions[i];
	const PgcCluster *cl = &o->t->clusters[c];
	size_t nn = cl->n_nodes, base = o->first_node[c];
	size_t source = action_has(a->kind, ACTION_COPIES_UPSTREAM)
			    ? node_index(cl, a->payload.upstream) : NONE;

	wait_for(o, i, o->last_cluster[c], cap);
	wait_for(o, i, o->last_node[base + n], cap);
	for (size_t m = 0; m < nn; m++) {
		if (m == n)
			continue;
		if (o->upstream[c][m * nn + n] || m == source)
			wait_for(o, i, o->last_node[base + m], cap);
		else if (o->upstream[c][n * nn + m] && !action_has(a->kind, ACTION_ADDS_INSIDE))
			wait_for(o, i, o->last_node[base + m], cap);
	}
	o->last_node[base + n] = i;
}

PgcActionOrder *apply_order_build(PgcArena *arena, const PgcTopology *t, const PgcPlan *p)
{
	Order o = {.arena = arena, .t = t, .p = p, .last_all = NONE};
	size_t n_flat = 0;

	o.out = arena_calloc(arena, p->n_actions + 1, sizeof(PgcActionOrder));
	o.first_node = arena_calloc(arena, t->n_clusters + 1, sizeof(size_t));
	o.upstream = arena_calloc(arena, t->n_clusters + 1, sizeof(bool *));
	o.one_at_a_time = arena_calloc(arena, t->n_clusters + 1, sizeof(bool));
	o.last_cluster = arena_calloc(arena, t->n_clusters + 1, sizeof(size_t));
	for (size_t c = 0; c < t->n_clusters; c++) {
		o.first_node[c] = n_flat;
		n_flat += t->clusters[c].n_nodes;
		o.upstream[c] = upstream_matrix(arena, &t->clusters[c]);
		o.last_cluster[c] = NONE;
	}
	o.last_node = arena_calloc(arena, n_flat + 1, sizeof(size_t));
	for (size_t k = 0; k < n_flat; k++)
		o.last_node[k] = NONE;
	/* A switchover, rejoin or restore changes who is upstream of whom. */
	for (size_t i = 0; i < p->n_actions; i++) {
		const PgcAction *a = &p->actions[i];
		size_t c = cluster_index(t, a->cluster);

		if (c != NONE && action_has(a->kind, ACTION_REWIRES))
			o.one_at_a_time[c] = true;
	}

	for (size_t i = 0; i < p->n_actions; i++) {
		const PgcAction *a = &p->actions[i];
		size_t c = cluster_index(t, a->cluster), cap = 0;
		size_t n = c != NONE ? node_index(&t->clusters[c], a->node) : NONE;

		wait_for(&o, i, o.last_all, &cap);
		for (size_t d = 0; d < a->n_depends_on; d++) {
			const PgcAction *dep = plan_find_action(p, a->depends_on[d]);

			if (dep != NULL)
				wait_for(&o, i, (size_t)(dep - p->actions), &cap);
		}
		if (c == NONE || (a->node != NULL && n == NONE) || action_has(a->kind, ACTION_RUNS_ALONE)) {
			for (size_t k = 0; k < t->n_clusters; k++)
				wait_for_cluster(&o, i, k, &cap);
			o.last_all = i;
		} else if (n == NONE || o.one_at_a_time[c]) {
			/* Cluster-wide (create-repository ...): a barrier within the cluster. */
			wait_for_cluster(&o, i, c, &cap);
			o.last_cluster[c] = i;
		} else {
			order_node_action(&o, i, c, n, &cap);
		}
	}
	return o.out;
}
