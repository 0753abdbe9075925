/*
 * reconcile/coord/agent_fence.c - what an agent checks on its own nodes
 * between passes (agent.h): a primary whose server is gone is published
 * down at once; a primary cut off from etcd and from its replicas stops
 * itself (self-fencing); a self-fenced node starts again only under the
 * rules of agent.h; and the claim before any start that brings a primary
 * up.
 */
#include "reconcile/coord/agent_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/ha/fence.h"
#include "reconcile/ha/ha.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/transport/host.h"

#define AG_START_TIMEOUT_S 60

bool ag_is_self(const PgcCoordAgent *ag, const char *host)
{
	if (host == NULL)
		return false;
	return ag->self != NULL ? strcasecmp(ag->self, host) == 0 : host_is_local(host);
}

/* standby_signal - n's standby.signal as host_read_file finds it: 0 there, 1 absent, -1 error. */
static int standby_signal(PgcHost *h, const PgcNode *n)
{
	char path[PATH_MAX], *buf = NULL;
	size_t len;
	int rc;

	snprintf(path, sizeof path, "%s/standby.signal", n->data_dir.v);
	rc = host_read_file(h, path, &buf, &len, 1024);
	free(buf);
	return rc;
}

bool ag_would_be_primary(const PgcCluster *c, const PgcNode *n)
{
	PgcHost *h = host_for(n->host.v, c->os_user.v);
	bool primary;

	/* Unknown counts as a primary: the claim is what keeps a start safe. */
	if (h == NULL)
		return true;
	primary = coord_would_be_primary(standby_signal(h, n));
	host_free(h);
	return primary;
}

/*
 * looks_primary - a postmaster runs for n now and it is not known to be a
 * replica: what the keep-alive thread must watch even before any pass
 * (coord_fence_watches).
 */
static bool looks_primary(const PgcCluster *c, const PgcNode *n)
{
	PgcHost *h = host_for(n->host.v, c->os_user.v);
	bool yes;

	if (h == NULL)
		return false;
	yes = coord_fence_watches(false, ha_postmaster_pid(h, n) != 0, standby_signal(h, n));
	host_free(h);
	return yes;
}

/* put_starting - the claim's member value: starting, under the lease. */
static char *starting_value(const PgcNode *n)
{
	PgcMember m;
	json_t *j;
	char now[40], *text;

	memset(&m, 0, sizeof m);
	clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
	m.host = n->host.v;
	m.role = MEMBER_STARTING;
	m.last_msg_age_ms = -1;
	m.reported_at = now;
	j = coord_member_json(&m);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (text == NULL)
		abort();
	return text;
}

bool ag_claim_start(PgcCoordAgent *ag, const PgcCluster *c, const PgcNode *n)
{
	AgCluster *ac = ag_cluster(ag, c->name);
	PgcArena *a = arena_new();
	const PgcEtcdKv *dkv, *pkv;
	const char *other, *dk, *pk;
	PgcDecision d;
	PgcPrimaryView view;
	char *text = NULL;
	bool ok = false;

	if (!coord_agent_in_session(ag) || ag_snapshot(ag, ac) != 0) {
		log_warn("node \"%s/%s\" is not started: etcd cannot be read to check that no "
			 "failover replaces it", c->name, n->name);
		goto cleanup;
	}
	dkv = ag_snap_decision(ag, ac, a, &d);
	if (coord_decision_holds_back(dkv ? &d : NULL, n->name)) {
		log_warn("node \"%s/%s\" is not started as a primary: a %s (%s) moves the primary "
			 "role to \"%s\"; it rejoins as a replica", c->name, n->name,
			 d.kind ? d.kind : "failover", coord_decision_state_name(d.state), d.to);
		goto cleanup;
	}
	other = ag_other_primary(ag, ac, a, n->name);
	if (other != NULL) {
		log_warn("node \"%s/%s\" is not started as a primary: \"%s\" is the primary", c->name,
			 n->name, other);
		goto cleanup;
	}
	pk = coord_key_primary(a, ag->prefix, c->name);
	pkv = ag_snap_get(ac, pk);
	if (pkv == NULL || coord_primary_parse(a, pkv->value, &view) != 0)
		memset(&view, 0, sizeof view);
	if (coord_view_holds_back(&view, n->name)) {
		log_warn("node \"%s/%s\" is not started as a primary: \"%s\" was the primary last "
			 "seen (%s)", c->name, n->name, view.primary,
			 view.seen_at ? view.seen_at : "?");
		goto cleanup;
	}
	dk = coord_key_decision(a, ag->prefix, c->name);
	text = starting_value(n);
	{
		/* What was checked above must still hold when the claim lands: the
		 * decision, the primary's last view and every other member (a member
		 * absent then must still be absent). */
		PgcEtcdCompare *cmp = arena_calloc(a, c->n_nodes + 2, sizeof(*cmp));
		size_t n_cmp = 0;
		PgcEtcdOp op = {coord_key_member(a, ag->prefix, c->name, n->name), text,
				strlen(text), ag->lease};

		cmp[n_cmp++] = (PgcEtcdCompare){dk, dkv ? ETCD_CMP_MOD_REVISION
							: ETCD_CMP_CREATE_REVISION,
						dkv ? dkv->mod_revision : 0, NULL};
		cmp[n_cmp++] = (PgcEtcdCompare){pk, pkv ? ETCD_CMP_MOD_REVISION
							: ETCD_CMP_CREATE_REVISION,
						pkv ? pkv->mod_revision : 0, NULL};
		for (size_t i = 0; i < c->n_nodes; i++) {
			const char *mk = coord_key_member(a, ag->prefix, c->name, c->nodes[i].name);
			const PgcEtcdKv *mkv = ag_snap_get(ac, mk);

			if (strcmp(c->nodes[i].name, n->name) == 0)
				continue;
			cmp[n_cmp++] = (PgcEtcdCompare){mk, mkv ? ETCD_CMP_MOD_REVISION
								: ETCD_CMP_CREATE_REVISION,
							mkv ? mkv->mod_revision : 0, NULL};
		}
		if (etcd_txn(ag->etcd, cmp, n_cmp, &op, 1, &ok, NULL) != ETCD_OK)
			ok = false;
	}
	if (ok) {
		AgNode *an = ag_node(ag, c->name, n->name);

		free(an->member_state);
		an->member_state = NULL;
	}
	if (!ok)
		log_warn("node \"%s/%s\" is not started: a failover decision or another member "
			 "changed meanwhile",
			 c->name, n->name);
cleanup:
	free(text);
	arena_free(a);
	return ok;
}

/* record_fence - P/C/fenced/NODE, once etcd answers again. */
static void record_fence(PgcCoordAgent *ag, AgNode *an)
{
	PgcArena *a = arena_new();
	char now[40], *text;
	json_t *j;

	clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
	j = json_pack("{s:s,s:s,s:s}", "by", "self", "reason", an->fence_reason, "at", now);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (text != NULL &&
	    etcd_put(ag->etcd, coord_key_fenced(a, ag->prefix, an->cluster, an->node), text,
		     strlen(text), 0) == ETCD_OK)
		an->fenced_recorded = true;
	free(text);
	arena_free(a);
}

void ag_unfence(PgcCoordAgent *ag, AgNode *an, const char *how)
{
	PgcArena *a = arena_new();

	if (etcd_delete(ag->etcd, coord_key_fenced(a, ag->prefix, an->cluster, an->node)) == ETCD_OK) {
		an->fenced = false;
		an->fenced_recorded = false;
		log_info("cluster \"%s\": node \"%s\" is no longer fenced: %s", an->cluster, an->node,
			 how);
	}
	arena_free(a);
}

/*
 * fenced_tick - a self-fenced node once etcd answers: recorded, then
 * started again as the primary when nothing replaces it (a claim first).
 * A decision naming another node leaves it to the planner's rejoin.
 */
static bool fenced_tick(PgcCoordAgent *ag, const PgcCluster *c, const PgcNode *n, AgNode *an,
			PgcHost *h)
{
	AgCluster *ac = ag_cluster(ag, c->name);
	PgcArena *a = arena_new();
	PgcDecision d;
	PgcMember m;
	PgcPrimaryView view;
	const PgcEtcdKv *dkv, *pkv;
	bool started = false;

	if (!an->fenced_recorded)
		record_fence(ag, an);
	(void)ag_snap_member(ag, ac, a, n->name, &m);
	if (m.role != MEMBER_FENCED) {
		PgcMember fm;
		char now[40];

		memset(&fm, 0, sizeof fm);
		clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
		fm.node = n->name;
		fm.host = n->host.v;
		fm.role = MEMBER_FENCED;
		fm.last_msg_age_ms = -1;
		fm.reported_at = now;
		(void)ag_put_member(ag, an, &fm);
	}
	dkv = ag_snap_decision(ag, ac, a, &d);
	pkv = ag_snap_get(ac, coord_key_primary(a, ag->prefix, c->name));
	if (pkv == NULL || coord_primary_parse(a, pkv->value, &view) != 0)
		memset(&view, 0, sizeof view);
	/* Checked here too, quietly: the claim would log its refusal every tick. */
	if (coord_decision_holds_back(dkv ? &d : NULL, n->name) ||
	    ag_other_primary(ag, ac, a, n->name) != NULL || coord_view_holds_back(&view, n->name))
		goto cleanup; /* the planner rejoins it once the new primary runs */
	if (!ag_would_be_primary(c, n) || !ag_claim_start(ag, c, n))
		goto cleanup;
	log_info("cluster \"%s\": nothing replaced the self-fenced primary \"%s\": starting it "
		 "again", c->name, n->name);
	/* The thread keeps a fenced node stopped: not this start, which has a claim. */
	ag_session_release(ag->sess, c->name, n->name);
	if (pgctl_start(h, c, n, AG_START_TIMEOUT_S) != 0)
		goto cleanup; /* still fenced: the next update_watch keeps it stopped again */
	/* Unfenced here whatever etcd answers: its record goes later if not now. */
	an->fenced = false;
	an->fenced_recorded = true;
	ag_unfence(ag, an, "started again as the primary");
	an->was_primary = true;
	started = true;
cleanup:
	arena_free(a);
	return started;
}

/* update_watch - the primaries of this host the keep-alive thread watches for self-fencing. */
static void update_watch(PgcCoordAgent *ag, const PgcTopology *t)
{
	PgcArena *a = arena_new();
	AgWatch *w = calloc(ag->n_nodes + 1, sizeof(*w));
	size_t n = 0;

	if (w == NULL)
		abort();
	for (size_t i = 0; i < ag->n_nodes; i++) {
		AgNode *an = ag->nodes[i];
		const PgcCluster *c = topology_cluster(t, an->cluster);
		const PgcNode *nd = c ? cluster_node(c, an->node) : NULL;

		if (!an->present || nd == NULL)
			continue;
		/* Only failover.mode auto promotes anyone behind a primary's back. A
		 * fenced node stays listed, whatever the mode now: the thread keeps it
		 * stopped (a pass's restart may have raced the fence). */
		if (!an->fenced && (c->failover.mode != FAILOVER_AUTO || c->n_nodes < 2))
			continue;
		/* was_primary comes from a pass, and a pass needs a session: an agent
		 * restarted while cut off from etcd has had none, and its primary must
		 * be watched all the same. So a running server that is not known to be
		 * a replica is watched too, from what this host shows now. */
		if (!an->fenced && !an->was_primary && !looks_primary(c, nd))
			continue;
		w[n].fenced = w[n].taken = an->fenced;
		w[n].cluster = strdup(c->name);
		w[n].node = strdup(nd->name);
		w[n].host = strdup(nd->host.v);
		w[n].os_user = strdup(c->os_user.v);
		w[n].data_dir = strdup(nd->data_dir.v);
		w[n].conninfo = strdup(pgsql_node_conninfo(a, c, nd, "postgres"));
		w[n].port = nd->port.v;
		w[n].reply_window_ms = coord_reply_window_ms(ag->ttl_ms, c->failover.detect_after.ms);
		if (!w[n].cluster || !w[n].node || !w[n].host || !w[n].os_user || !w[n].data_dir ||
		    !w[n].conninfo)
			abort();
		n++;
	}
	ag_session_watch(ag->sess, w, n);
	arena_free(a);
}

bool ag_local_tick(PgcCoordAgent *ag, const PgcTopology *t)
{
	bool due = false, in = coord_agent_in_session(ag);

	for (size_t i = 0; t != NULL && i < ag->n_nodes; i++) {
		AgNode *an = ag->nodes[i];
		const PgcCluster *c = topology_cluster(t, an->cluster);
		const PgcNode *n = c ? cluster_node(c, an->node) : NULL;
		PgcHost *h;
		long pid;

		if (!an->present || n == NULL)
			continue;
		if (ag_session_take_fence(ag->sess, an->cluster, an->node, an->fence_reason,
					  sizeof an->fence_reason)) {
			an->fenced = true;
			an->fenced_recorded = false;
			an->was_primary = false;
			due = true;
		}
		if (!an->was_primary && !an->fenced)
			continue;
		h = host_for(n->host.v, c->os_user.v);
		if (h == NULL)
			continue;
		pid = ha_postmaster_pid(h, n);
		if (an->fenced) {
			if (in)
				due |= fenced_tick(ag, c, n, an, h);
		} else if (pid == 0) {
			PgcMember m;
			char now[40];

			/* Confirmed here: the leader need not wait for the lease. */
			memset(&m, 0, sizeof m);
			clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
			m.node = n->name;
			m.host = n->host.v;
			m.role = MEMBER_DOWN;
			m.last_msg_age_ms = -1;
			m.reported_at = now;
			if (!in || ag_put_member(ag, an, &m) == 0) {
				log_warn("cluster \"%s\": primary \"%s\" has no running server%s", c->name,
					 n->name, in ? ": reported down" : "");
				an->was_primary = false;
			}
		}
		host_free(h);
	}
	if (t != NULL && ag->sess != NULL)
		update_watch(ag, t);
	return due;
}
