/*
 * reconcile/coord/agent_publish.c - the leadership of the agent's clusters
 * and what it publishes in etcd: its agent key, its nodes' member keys and,
 * as a leader, the cluster's primary view (agent.h, agent_int.h).
 */
#include "reconcile/coord/agent.h"
#include "reconcile/coord/agent_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/ha/ha.h"
#include "reconcile/transport/host.h"

/* ---- leadership ------------------------------------------------------------------ */

/* ag_lead - keeps or takes the leadership of c (its snapshot is fresh). */
void ag_lead(PgcCoordAgent *ag, AgCluster *c)
{
	PgcArena *a = arena_new();
	const char *key = coord_key_leader(a, ag->prefix, c->name);
	const PgcEtcdKv *kv = ag_snap_get(c, key);
	PgcEtcdCompare cmp = {key, ETCD_CMP_CREATE_REVISION, 0, NULL};
	PgcEtcdOp op = {key, ag->self, ag->self ? strlen(ag->self) : 0, ag->lease};
	bool ok = false;
	int64_t rev = 0;

	/* A leader names its host: an agent that does not know it (no --as) never leads. */
	if (ag->self == NULL)
		goto cleanup;

	snprintf(c->leader, sizeof c->leader, "%s", kv ? kv->value : "");
	if (c->token != 0) {
		if (kv != NULL && kv->create_revision == c->token && kv->lease == ag->lease)
			goto cleanup;
		log_warn("cluster \"%s\": no longer the leader (%s)", c->name,
			 kv ? arena_printf(a, "\"%s\" leads", kv->value) : "the leader key is gone");
		c->token = 0;
	}
	if (kv != NULL) {
		/* Ours from this very lease (a reply that got lost): take it back. */
		if (kv->lease == ag->lease && strcmp(kv->value, ag->self) == 0)
			c->token = kv->create_revision;
		goto cleanup;
	}
	if (etcd_txn(ag->etcd, &cmp, 1, &op, 1, &ok, &rev) != ETCD_OK || !ok)
		goto cleanup;
	c->token = rev;
	snprintf(c->leader, sizeof c->leader, "%s", ag->self);
	log_info("cluster \"%s\": this agent leads it now (token %lld)", c->name, (long long)rev);
cleanup:
	arena_free(a);
}

/* ---- publishing -------------------------------------------------------------------- */

/*
 * ag_put_member - puts the member under the lease, unless only reported_at
 * changed since the last put under this lease: its mod_revision then moves
 * only when its state does, which the leader's decision compares.
 */
int ag_put_member(PgcCoordAgent *ag, AgNode *n, const PgcMember *m)
{
	PgcArena *a = arena_new();
	PgcMember bare = *m;
	json_t *j = coord_member_json(m), *jb;
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS), *state;
	int rc = -1;

	bare.reported_at = NULL;
	jb = coord_member_json(&bare);
	state = json_dumps(jb, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	json_decref(jb);
	if (text == NULL || state == NULL)
		abort();
	if (n->member_state != NULL && strcmp(n->member_state, state) == 0 &&
	    n->member_lease == ag->lease && coord_agent_in_session(ag)) {
		free(text);
		free(state);
		arena_free(a);
		return 0;
	}
	free(n->member);
	n->member = text;
	free(n->member_state);
	n->member_state = NULL;
	if (ag->etcd != NULL && coord_agent_in_session(ag) &&
	    etcd_put(ag->etcd, coord_key_member(a, ag->prefix, n->cluster, n->node), text,
		     strlen(text), ag->lease) == ETCD_OK) {
		n->member_state = state;
		n->member_lease = ag->lease;
		state = NULL;
		rc = 0;
	}
	free(state);
	arena_free(a);
	return rc;
}

static void put_agent_key(PgcCoordAgent *ag)
{
	PgcArena *a = arena_new();
	json_t *nodes = json_array(), *j;
	char now[40], *text;

	for (size_t i = 0; i < ag->n_nodes; i++)
		if (ag->nodes[i]->present)
			json_array_append_new(nodes, json_string(arena_printf(a, "%s/%s",
									      ag->nodes[i]->cluster,
									      ag->nodes[i]->node)));
	clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
	j = json_pack("{s:s,s:I,s:s,s:s,s:s,s:o}", "host", ag->self ? ag->self : "", "pid",
		      (json_int_t)getpid(), "version", ag->version, "started_at", ag->started_at,
		      "reported_at", now, "nodes", nodes);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	if (text != NULL)
		(void)etcd_put(ag->etcd, coord_key_agent(a, ag->prefix, ag->self ? ag->self : "local"),
			       text, strlen(text), ag->lease);
	free(text);
	json_decref(j);
	arena_free(a);
}

/* ag_republish - what the last lease carried, under the new one. */
void ag_republish(PgcCoordAgent *ag)
{
	PgcArena *a = arena_new();

	put_agent_key(ag);
	for (size_t i = 0; i < ag->n_nodes; i++) {
		AgNode *n = ag->nodes[i];

		if (n->present && n->member != NULL)
			(void)etcd_put(ag->etcd, coord_key_member(a, ag->prefix, n->cluster, n->node),
				       n->member, strlen(n->member), ag->lease);
	}
	arena_free(a);
}

/* obs_node_of - node of cluster in obs, or NULL. */
static const PgcObsNode *obs_node_of(const PgcObserved *obs, const char *cluster, const char *node)
{
	for (size_t i = 0; obs != NULL && i < obs->n_clusters; i++) {
		if (strcmp(obs->clusters[i].name, cluster) != 0)
			continue;
		for (size_t j = 0; j < obs->clusters[i].n_nodes; j++)
			if (strcmp(obs->clusters[i].nodes[j].name, node) == 0)
				return &obs->clusters[i].nodes[j];
	}
	return NULL;
}

/* put_primary_view - the leader's P/C/primary, compared with its token. */
static void put_primary_view(PgcCoordAgent *ag, AgCluster *ac, const PgcObserved *obs)
{
	PgcArena *a = arena_new();
	const char *live = failover_live_primary(obs, ac->name);
	PgcPrimaryView v;
	json_t *j;
	char *text = NULL, now[40];
	bool ok;

	if (live == NULL)
		goto cleanup;
	failover_view_from_observed(obs, ac->name, live, &v);
	if (v.primary == NULL)
		goto cleanup;
	clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
	j = coord_primary_json(&v, now);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (text != NULL) {
		const char *lk = coord_key_leader(a, ag->prefix, ac->name);
		PgcEtcdCompare cmp = {lk, ETCD_CMP_CREATE_REVISION, ac->token, NULL};
		PgcEtcdOp op = {coord_key_primary(a, ag->prefix, ac->name), text, strlen(text), 0};

		(void)etcd_txn(ag->etcd, &cmp, 1, &op, 1, &ok, NULL);
	}
cleanup:
	free(text);
	arena_free(a);
}

/* server_runs - a postmaster runs for n's data directory (n on this host). */
static bool server_runs(const PgcCluster *c, const PgcNode *n)
{
	PgcHost *h = host_for(n->host.v, c->os_user.v);
	bool runs = h == NULL || ha_postmaster_pid(h, n) != 0;

	host_free(h);
	return runs;
}

void coord_agent_after_pass(PgcCoordAgent *ag, const PgcTopology *t, const PgcObserved *obs)
{
	PgcArena *a;
	char now[40];

	ag->pass_t = NULL;
	if (ag->etcd == NULL || obs == NULL || t == NULL)
		return;
	a = arena_new();
	ag_mark_present(ag, t);
	clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
	for (size_t i = 0; i < ag->n_nodes; i++) {
		AgNode *n = ag->nodes[i];
		const PgcCluster *c = topology_cluster(t, n->cluster);
		const PgcNode *tn = c ? cluster_node(c, n->node) : NULL;
		PgcMember m;

		if (!n->present || tn == NULL)
			continue;
		coord_member_from_observed(a, tn, obs_node_of(obs, n->cluster, n->node), n->fenced,
					   now, &m);
		/* The observation is a pass old: a server that died since is down now. */
		if (m.running && !server_runs(c, tn)) {
			m.role = n->fenced ? MEMBER_FENCED : MEMBER_DOWN;
			m.running = false;
		}
		/* Only as a replica: a fenced node runs as the primary again only
		 * through fenced_tick's claim (which unfences it itself); one seen
		 * running as a primary otherwise is stopped again by the thread. */
		if (n->fenced && m.role == MEMBER_REPLICA && coord_agent_in_session(ag))
			ag_unfence(ag, n, "it runs as a replica");
		else if (!n->fenced && n->fenced_recorded && coord_agent_in_session(ag))
			ag_unfence(ag, n, "its record is removed");
		n->was_primary = m.role == MEMBER_PRIMARY;
		(void)ag_put_member(ag, n, &m);
	}
	if (coord_agent_in_session(ag)) {
		put_agent_key(ag);
		for (size_t i = 0; i < ag->n_cl; i++)
			if (ag->cl[i]->present && ag->cl[i]->token != 0)
				put_primary_view(ag, ag->cl[i], obs);
	}
	arena_free(a);
}
