/*
 * reconcile/standby/standby_status.c - a standby cluster's chain and
 * cross-region lag (standby_status.h).
 */
#include "reconcile/standby/standby_status.h"

#include <string.h>

#include "reconcile/pg/lsn.h"

static const PgcObsNode *obs_node(const PgcObsCluster *oc, const char *name)
{
	for (size_t i = 0; oc != NULL && name != NULL && i < oc->n_nodes; i++)
		if (oc->nodes[i].name != NULL && strcmp(oc->nodes[i].name, name) == 0)
			return &oc->nodes[i];
	return NULL;
}

/* head_lsn - how far cluster c has WAL: its writable node's position, else its primary's replay. */
static uint64_t head_lsn(const PgcCluster *c, const PgcObsCluster *oc)
{
	const PgcObsNode *o;

	for (size_t i = 0; oc != NULL && i < oc->n_nodes; i++)
		if (oc->nodes[i].reachable && !oc->nodes[i].in_recovery)
			return lsn_value(oc->nodes[i].current_lsn);
	o = obs_node(oc, c->primary.v);
	if (o == NULL || !o->reachable)
		return 0;
	return lsn_value(o->replay_lsn);
}

bool standby_status(PgcArena *a, const PgcTopology *t, const PgcObserved *obs, const PgcCluster *c,
		    PgcStandbyStatus *st)
{
	const PgcCluster *src, *at = c;
	const PgcObsNode *leader;
	uint64_t head, replay;
	size_t hops = 0;

	memset(st, 0, sizeof(*st));
	st->lag_seconds = -1;
	if (!c->standby_of.set || (src = topology_cluster(t, c->standby_of.v)) == NULL)
		return false;
	st->source = src->name;
	st->chain = c->name;
	while (at->standby_of.set && hops++ < t->n_clusters) {
		at = topology_cluster(t, at->standby_of.v);
		if (at == NULL)
			break;
		st->chain = arena_printf(a, "%s -> %s", at->name, st->chain);
	}
	leader = obs_node(observe_cluster_find_any(obs, c->name), c->primary.v);
	head = head_lsn(src, observe_cluster_find_any(obs, src->name));
	if (leader == NULL || !leader->reachable || !leader->in_recovery)
		return true;
	for (size_t i = 0; i < src->n_nodes; i++)
		if (leader->upstream_host != NULL && strcmp(src->nodes[i].host.v, leader->upstream_host) == 0 &&
		    src->nodes[i].port.v == leader->upstream_port)
			st->upstream = src->nodes[i].name;
	replay = lsn_value(leader->replay_lsn);
	if (head == 0 || replay == 0)
		return true;
	st->lag_known = true;
	st->lag_bytes = head > replay ? head - replay : 0;
	st->lag_seconds = leader->replay_delay_s;
	return true;
}
