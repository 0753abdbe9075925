/*
 * reconcile/ha/failover_run.c - the steps that manual and automatic
 * failover share (failover_run.h).
 */
#include "reconcile/ha/failover_run.h"

#include <string.h>

#include "common/log.h"
#include "reconcile/ha/rejoin.h"
#include "reconcile/pg/lsn.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/transport/host.h"

/* writable_nodes - the reachable nodes that are not in recovery. */
static size_t writable_nodes(const PgcObserved *obs, const char **names, unsigned *tlis)
{
	const PgcObsCluster *oc = &obs->clusters[0];
	size_t n = 0;

	for (size_t i = 0; i < oc->n_nodes; i++) {
		if (oc->nodes[i].reachable && !oc->nodes[i].in_recovery) {
			names[n] = oc->nodes[i].name;
			tlis[n++] = oc->nodes[i].timeline;
		}
	}
	return n;
}

/* followed_node - the node most reachable standbys stream (or try to stream) from, or NULL. */
static const char *followed_node(PgcArena *a, const PgcCluster *c, const PgcObserved *obs)
{
	const PgcObsCluster *oc = &obs->clusters[0];
	size_t best = 0, *votes = arena_calloc(a, c->n_nodes + 1, sizeof(size_t));
	const char *name = NULL;

	for (size_t i = 0; i < oc->n_nodes; i++) {
		const PgcObsNode *o = &oc->nodes[i];

		if (!o->reachable || !o->in_recovery || o->upstream_host == NULL)
			continue;
		for (size_t j = 0; j < c->n_nodes; j++) {
			const PgcNode *n = &c->nodes[j];
			const PgcObsNode *on = observe_node_find(obs, c->name, n->name);

			/* A standby that others cascade from is not the primary. */
			if (on != NULL && on->reachable && on->in_recovery)
				continue;
			if (strcmp(n->host.v, o->upstream_host) == 0 && (int)n->port.v == o->upstream_port)
				votes[j]++;
		}
	}
	for (size_t j = 0; j < c->n_nodes; j++) {
		if (votes[j] > best) {
			best = votes[j];
			name = c->nodes[j].name;
		}
	}
	return name;
}

int failover_find_primary(PgcArena *a, const PgcCluster *c, const PgcObserved *obs,
			  const PgcHaCache *cache, PgcFoundPrimary *out)
{
	const char **names = arena_calloc(a, c->n_nodes + 1, sizeof(char *));
	unsigned *tlis = arena_calloc(a, c->n_nodes + 1, sizeof(unsigned));
	size_t n = writable_nodes(obs, names, tlis);

	memset(out, 0, sizeof *out);
	out->n_writable = n;
	if (n > 1) {
		const char *list = NULL;

		for (size_t i = 0; i < n; i++)
			list = list ? arena_printf(a, "%s, \"%s\" (timeline %u)", list, names[i], tlis[i])
				    : arena_printf(a, "\"%s\" (timeline %u)", names[i], tlis[i]);
		out->writable = list;
		return -1;
	}
	if (n == 1) {
		out->old = names[0];
		out->alive = true;
		return 0;
	}
	out->old = followed_node(a, c, obs);
	if (out->old == NULL && cache != NULL && cache->view.primary != NULL &&
	    cluster_node(c, cache->view.primary) != NULL)
		out->old = cache->view.primary;
	if (out->old == NULL)
		out->old = c->primary.v;
	return 0;
}

void failover_restart_old(const PgcCluster *live, const char *old, const PgcFenceResult *fr)
{
	const PgcNode *n = cluster_node(live, old);
	PgcHost *h;

	if (!fr->clean || n == NULL || (h = host_for(n->host.v, live->os_user.v)) == NULL)
		return;
	if (fr->marked_standby)
		(void)fence_unmark(live, n);
	if (pgctl_start(h, live, n, 60) == 0)
		log_info("nothing was promoted: \"%s/%s\" runs again as the primary", live->name, old);
	host_free(h);
}

PgcObserved *failover_observe(const PgcTopology *t, const char *cluster)
{
	PgcObserveOptions o = {.connect_timeout_s = 3, .query_timeout_ms = 5000,
			       .only_cluster = cluster};

	return observe_topology(t, &o);
}

void failover_save_views(const char *state_dir, const PgcTopology *t, const PgcObserved *obs)
{
	for (size_t i = 0; obs != NULL && i < obs->n_clusters; i++) {
		const PgcCluster *c = topology_cluster(t, obs->clusters[i].name);
		const char *primary = c ? failover_live_primary(obs, c->name) : NULL;
		PgcArena *a;
		PgcHaCache cache;

		if (primary == NULL || c->n_nodes < 2)
			continue;
		a = arena_new();
		(void)ha_cache_read(a, state_dir, c->name, &cache);
		failover_view_from_observed(obs, c->name, primary, &cache.view);
		(void)ha_cache_write(state_dir, c->name, &cache);
		arena_free(a);
	}
}

void failover_last_view(const char *state_dir, const char *cluster, const PgcObserved *obs,
			const char *old, const PgcHaCache *cache, PgcPrimaryView *view)
{
	failover_view_from_observed(obs, cluster, old, view);
	if (view->primary != NULL) {
		PgcHaCache c = *cache;

		c.view = *view;
		(void)ha_cache_write(state_dir, cluster, &c);
	} else if (cache->view.primary != NULL && strcmp(cache->view.primary, old) == 0) {
		*view = cache->view;
	}
}

json_t *failover_event_ms(double ms)
{
	return ms >= 0 ? json_integer((json_int_t)(ms + 0.5)) : json_null();
}

void failover_event_begin(PgcArena *a, json_t *ev, const char *cluster, const char *node,
			  const char *old, const char *mode)
{
	json_object_set_new(ev, "node", json_string(node));
	json_object_set_new(ev, "action",
			    json_string(arena_printf(a, "%s/%s/failover", cluster, node)));
	json_object_set_new(ev, "kind", json_string("failover"));
	json_object_set_new(ev, "impact", json_string("switchover"));
	json_object_set_new(ev, "old_primary", json_string(old));
	json_object_set_new(ev, "mode", json_string(mode));
}

void failover_event_fence(json_t *ev, const PgcFenceResult *fr)
{
	json_object_set_new(ev, "fence",
			    json_pack("{s:s,s:s,s:b}", "method", fence_method_name(fr->method),
				      "detail", fr->detail, "clean", fr->clean));
}

void failover_event_promoted(json_t *ev, const double timings[4], const char *timings_from,
			     const PgcPromoteResult *pr, bool rejoin_old, const char *decision)
{
	char lsn[32];

	json_object_set_new(ev, "timings_ms",
			    json_pack("{s:o,s:o,s:o,s:o}", "detected", failover_event_ms(timings[0]),
				      "fenced", failover_event_ms(timings[1]), "promoted",
				      failover_event_ms(timings[2]), "first_write",
				      failover_event_ms(timings[3])));
	if (timings_from != NULL)
		json_object_set_new(ev, "timings_from", json_string(timings_from));
	json_object_set_new(ev, "switch_lsn",
			    json_string(lsn_format(pr->switch_lsn, lsn, sizeof lsn)));
	json_object_set_new(ev, "timeline", json_integer(pr->timeline));
	json_object_set_new(ev, "replicas_following", json_integer((json_int_t)pr->repointed));
	json_object_set_new(ev, "replicas_left", json_integer((json_int_t)pr->repoint_failed));
	json_object_set_new(ev, "old_primary_rejoin",
			    json_pack("{s:s,s:s}", "outcome",
				      rejoin_old ? rejoin_outcome_name(pr->old_rejoin.outcome)
						 : "not-local",
				      "decision", decision));
}

void failover_record(const char *state_dir, const char *cluster, const PgcHaCache *base,
		     const char *old, const char *new_primary, const char *at_iso,
		     int64_t at_unix_ms)
{
	PgcHaCache c = *base;

	memset(&c.view, 0, sizeof c.view);
	c.view.primary = new_primary;
	c.last_failover_at = at_iso;
	c.last_failover_unix_ms = at_unix_ms;
	c.last_failover_from = old;
	c.last_failover_to = new_primary;
	(void)ha_cache_write(state_dir, cluster, &c);
}
