/*
 * reconcile/standby/standby_veto.c - the standby component's failover veto
 * (standby_veto.h).
 */
#include "reconcile/standby/standby_veto.h"

#include <string.h>

#include "reconcile/standby/region_loss.h"

static bool same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* node_at - the node of t at host:port (its cluster in *cluster), NULL when none. */
static const PgcNode *node_at(const PgcTopology *t, const char *host, int port,
			      const PgcCluster **cluster)
{
	for (size_t i = 0; i < t->n_clusters; i++)
		for (size_t j = 0; j < t->clusters[i].n_nodes; j++) {
			const PgcNode *n = &t->clusters[i].nodes[j];

			if (same(n->host.v, host) && n->port.v == port) {
				*cluster = &t->clusters[i];
				return n;
			}
		}
	return NULL;
}

static const char *tli_text(PgcArena *a, unsigned tli)
{
	return tli > 0 ? arena_printf(a, "timeline %u", tli) : "timeline unknown";
}

/* fenced - rule 1: c is fenced after the region failover of its standby cluster. */
static const char *fenced(PgcArena *a, const PgcTopology *t, const PgcObserved *obs,
			  const PgcCluster *c)
{
	PgcRegionState st;

	if (!region_loss_state(t, obs, c, &st) || !st.fenced)
		return NULL;
	if (st.kin != REGION_FAILOVER)
		return arena_printf(a, "cluster \"%s\" is held: \"%s/%s\" of its standby cluster \"%s\" "
				       "takes writes (%s) and cannot be told apart from it (%s); "
				       "promoting a node of \"%s\" could make a second writable "
				       "cluster; fix standby_of in the topology (or rebuild \"%s\")",
				    c->name, st.by_cluster, st.by_node != NULL ? st.by_node : "?",
				    st.by_cluster, tli_text(a, st.by_tli),
				    st.kin == REGION_UNRELATED ? "different system identifiers"
							       : "system identifiers or timelines unknown",
				    c->name, st.by_cluster);
	return arena_printf(a, "cluster \"%s\" is fenced: its standby cluster \"%s\" was promoted by a "
			       "region failover and \"%s/%s\" takes writes (%s); promoting a node of "
			       "\"%s\" would make a second writable cluster; swap standby_of in the "
			       "topology (\"%s\": standby_of: %s) and apply: the region switch rejoins it",
			    c->name, st.by_cluster, st.by_cluster, st.by_node != NULL ? st.by_node : "?",
			    tli_text(a, st.by_tli), c->name, c->name, st.by_cluster);
}

/* standby_of_c - the first cluster of t declared standby_of: c, NULL none. */
static const PgcCluster *standby_of_c(const PgcTopology *t, const PgcCluster *c)
{
	for (size_t i = 0; i < t->n_clusters; i++)
		if (t->clusters[i].standby_of.set && same(t->clusters[i].standby_of.v, c->name) &&
		    &t->clusters[i] != c)
			return &t->clusters[i];
	return NULL;
}

/* leader - rule 2: a node of c in recovery that streams from outside c (c no standby cluster). */
static const char *leader(PgcArena *a, const PgcTopology *t, const PgcObserved *obs,
			  const PgcCluster *c)
{
	const PgcObsCluster *oc = observe_cluster_find_any(obs, c->name);
	const PgcCluster *pending = standby_of_c(t, c);

	/* A standby cluster's leader streams from its source: what it is for
	 * (its region failover asks only the other rules). */
	if (c->standby_of.set)
		return NULL;

	for (size_t i = 0; oc != NULL && i < oc->n_nodes; i++) {
		const PgcObsNode *o = &oc->nodes[i];
		const PgcCluster *uc = NULL;
		const PgcNode *un;
		const char *from;

		if (!o->reachable || !o->in_recovery || o->upstream_host == NULL)
			continue;
		un = node_at(t, o->upstream_host, o->upstream_port, &uc);
		if (uc == c)
			continue;
		from = un != NULL ? arena_printf(a, "\"%s/%s\"", uc->name, un->name)
				  : arena_printf(a, "%s:%d, no node of \"%s\"", o->upstream_host,
						 o->upstream_port, c->name);
		if (pending != NULL)
			return arena_printf(
			    a, "\"%s/%s\" is still a standby leader streaming from %s: a region switch is "
			       "pending (the topology says \"%s\": standby_of: %s); promoting another node "
			       "of \"%s\" would fork it; let apply carry out the region switch, which "
			       "promotes \"%s\" without losing a transaction",
			    c->name, o->name, from, pending->name, c->name, c->name, o->name);
		return arena_printf(
		    a, "\"%s/%s\" is still a standby leader streaming from %s although \"%s\" has no "
		       "standby_of (a detach pending); promoting another node of \"%s\" would fork it; "
		       "let apply make \"%s\" the primary",
		    c->name, o->name, from, c->name, c->name, o->name);
	}
	return NULL;
}

/* source_writes - rule 3: c has no writer and S (standby_of: c) still takes writes. */
static const char *source_writes(PgcArena *a, const PgcTopology *t, const PgcObserved *obs,
				 const PgcCluster *c)
{
	const PgcObsCluster *oc = observe_cluster_find_any(obs, c->name);
	unsigned newest = 0;

	for (size_t i = 0; oc != NULL && i < oc->n_nodes; i++) {
		if (oc->nodes[i].reachable && !oc->nodes[i].in_recovery)
			return NULL; /* c takes writes: its own failover is its business */
		if (oc->nodes[i].timeline > newest)
			newest = oc->nodes[i].timeline;
	}
	for (size_t i = 0; i < t->n_clusters; i++) {
		const PgcCluster *s = &t->clusters[i];
		const PgcObsCluster *os;

		if (s == c || !s->standby_of.set || !same(s->standby_of.v, c->name) ||
		    (os = observe_cluster_find_any(obs, s->name)) == NULL)
			continue;
		for (size_t j = 0; j < os->n_nodes; j++) {
			const PgcObsNode *o = &os->nodes[j];

			if (!o->reachable || o->in_recovery)
				continue;
			/* c's history newer: c took over once (an old primary of s back by hand). */
			if (o->timeline > 0 && newest > 0 && o->timeline < newest)
				continue;
			return arena_printf(
			    a, "\"%s/%s\" still takes writes (%s) although the topology says \"%s\": "
			       "standby_of: %s: the region switch has not run; promoting a node of \"%s\" "
			       "would make a second writable cluster; bring \"%s\"'s primary \"%s\" back "
			       "and apply",
			    s->name, o->name, tli_text(a, o->timeline), s->name, c->name, c->name, c->name,
			    c->primary.v);
		}
	}
	return NULL;
}

const char *standby_failover_veto(PgcArena *a, const PgcTopology *t, const PgcObserved *obs,
				  const PgcCluster *c)
{
	const char *why;

	if (t == NULL || obs == NULL || obs->pretend || c == NULL)
		return NULL;
	if ((why = fenced(a, t, obs, c)) != NULL || (why = leader(a, t, obs, c)) != NULL)
		return why;
	return source_writes(a, t, obs, c);
}
