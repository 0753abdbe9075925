/*
 * reconcile/coord/agent_fence.c - what an agent checks on its own nodes
 * between passes (agent.h): a primary whose server is gone is published
 * down at once; a primary cut off from etcd and from its replicas stops
 * itself (self-fencing); a self-fenced node starts again only under the
 * rules of agent.h; and the claim before any start that brings a primary
 * up.
 */
#include "reconcile/coord/agent.h"
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

/* role_member - node n's member with only its role known, reported at now. */
static void role_member(const PgcNode *n, PgcMemberRole role, const char *now, PgcMember *m)
{
	memset(m, 0, sizeof(*m));
	m->node = n->name;
	m->host = n->host.v;
	m->role = role;
	m->last_msg_age_ms = -1;
	m->reported_at = now;
}

/* put_role - publishes node n (an) with only its role known (down, fenced), now. */
static int put_role(PgcCoordAgent *ag, AgNode *an, const PgcNode *n, PgcMemberRole role)
{
	PgcMember m;
	char now[40];

	clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
	role_member(n, role, now, &m);
	return ag_put_member(ag, an, &m);
}

/* starting_value - the claim's member value: starting (JSON text, caller frees). */
static char *starting_value(const PgcNode *n)
{
	PgcMember m;
	json_t *j;
	char now[40], *text;

	clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
	role_member(n, MEMBER_STARTING, now, &m);
	j = coord_member_json(&m);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (text == NULL)
		abort();
	return text;
}

/* as_read - a comparison that key is still as kv was read (absent: still absent). */
static PgcEtcdCompare as_read(const char *key, const PgcEtcdKv *kv)
{
	return (PgcEtcdCompare){key, kv ? ETCD_CMP_MOD_REVISION : ETCD_CMP_CREATE_REVISION,
				kv ? kv->mod_revision : 0, NULL};
}

/* own_timeline - n's timeline from its control file (pg_controldata); 0 unknown. */
static unsigned own_timeline(const PgcCluster *c, const PgcNode *n)
{
	PgcHost *h = host_for(n->host.v, c->os_user.v);
	PgcControl ctl;
	unsigned tli = 0;

	if (h != NULL && ha_controldata(h, c, n, &ctl) == 0)
		tli = ctl.timeline;
	host_free(h);
	return tli;
}

/* take_record - the fence of node an as recorded in P/C/fenced/NODE (kv), held from now on. */
static void take_record(AgNode *an, const PgcEtcdKv *kv)
{
	PgcArena *a = arena_new();
	PgcFenced f;

	(void)coord_fenced_parse(a, kv->value, &f);
	snprintf(an->fence_reason, sizeof an->fence_reason, "%s",
		 f.reason ? f.reason : "recorded fenced");
	an->fenced = true;
	an->fenced_recorded = true;
	an->was_primary = false;
	log_warn("cluster \"%s\": node \"%s\" is recorded fenced (%s: %s): it stays stopped until "
		 "its agent may start it as the primary (a claim) or it rejoins as a replica",
		 an->cluster, an->node, f.at ? f.at : "?", an->fence_reason);
	arena_free(a);
}

/*
 * claim_refusal - why node n of c may not be claimed now, from c's
 * snapshot (coord_claim_refusal), or NULL; *dkv and *pkv: the decision and
 * P/C/primary as read. The control file is read only when everything
 * else lets the claim through and P/C/primary names n with a timeline.
 */
static const char *claim_refusal(PgcCoordAgent *ag, AgCluster *ac, const PgcCluster *c,
				 const PgcNode *n, PgcArena *a, const PgcEtcdKv **dkv,
				 const PgcEtcdKv **pkv)
{
	AgNode *an = ag_node(ag, c->name, n->name);
	const PgcEtcdKv *fkv = ag_snap_get(ac, coord_key_fenced(a, ag->prefix, c->name, n->name));
	PgcDecision *d = arena_alloc(a, sizeof(*d));
	PgcPrimaryView *v = arena_alloc(a, sizeof(*v));
	/* Its agent started it through a claim and the record's removal lags: not held. */
	bool lags = !an->fenced && an->fenced_recorded;
	PgcClaimFacts f = {n->name, NULL, NULL, NULL, 0, fkv != NULL && !lags, an->fenced};
	const char *why;

	*dkv = ag_snap_decision(ag, ac, a, d);
	*pkv = ag_snap_get(ac, coord_key_primary(a, ag->prefix, c->name));
	if (*pkv == NULL || coord_primary_parse(a, (*pkv)->value, v) != 0)
		memset(v, 0, sizeof(*v));
	f.decision = *dkv ? d : NULL;
	f.other_primary = ag_other_primary(ag, ac, a, n->name);
	f.view = v;
	why = coord_claim_refusal(a, &f);
	if (why == NULL && v->primary != NULL && strcmp(v->primary, n->name) == 0 && v->timeline > 0) {
		f.timeline = own_timeline(c, n);
		why = coord_claim_refusal(a, &f);
	}
	/* A record this agent does not hold (it was restarted): taken back. */
	if (f.recorded_fenced && !an->fenced)
		take_record(an, fkv);
	return why;
}

/*
 * claim_start - the claim (ag_claim_start). from_tick: for fenced_tick,
 * on the tick's snapshot, and a refusal is not logged (it would be every
 * tick).
 */
static bool claim_start(PgcCoordAgent *ag, const PgcCluster *c, const PgcNode *n, bool from_tick)
{
	AgCluster *ac = ag_cluster(ag, c->name);
	PgcArena *a = arena_new();
	const PgcEtcdKv *dkv, *pkv;
	const char *why;
	char *text = NULL;
	bool ok = false;

	if (!coord_agent_in_session(ag) || (!from_tick && ag_snapshot(ag, ac) != 0) ||
	    !ac->snap_ok) {
		if (!from_tick)
			log_warn("node \"%s/%s\" is not started: etcd cannot be read to check that no "
				 "failover replaces it", c->name, n->name);
		goto cleanup;
	}
	why = claim_refusal(ag, ac, c, n, a, &dkv, &pkv);
	if (why != NULL) {
		if (!from_tick)
			log_warn("node \"%s/%s\" is not started as a primary: %s", c->name, n->name, why);
		goto cleanup;
	}
	text = starting_value(n);
	{
		/* What was checked above must still hold when the claim lands: the
		 * decision, the primary's last view and every other member (a member
		 * absent then must still be absent). */
		PgcEtcdCompare *cmp = arena_calloc(a, c->n_nodes + 2, sizeof(*cmp));
		size_t n_cmp = 0;
		PgcEtcdOp op = {coord_key_member(a, ag->prefix, c->name, n->name), text,
				strlen(text), ag->lease};

		cmp[n_cmp++] = as_read(coord_key_decision(a, ag->prefix, c->name), dkv);
		cmp[n_cmp++] = as_read(coord_key_primary(a, ag->prefix, c->name), pkv);
		for (size_t i = 0; i < c->n_nodes; i++) {
			const char *mk = coord_key_member(a, ag->prefix, c->name, c->nodes[i].name);

			if (strcmp(c->nodes[i].name, n->name) != 0)
				cmp[n_cmp++] = as_read(mk, ag_snap_get(ac, mk));
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

bool ag_claim_start(PgcCoordAgent *ag, const PgcCluster *c, const PgcNode *n)
{
	return claim_start(ag, c, n, false);
}

/* record_fence - P/C/fenced/NODE, once etcd answers again. */
static void record_fence(PgcCoordAgent *ag, AgNode *an)
{
	PgcArena *a = arena_new();
	char now[40], *text;
	json_t *j;

	clock_utc_now(CLOCK_UTC_ISO_MS, now, sizeof now);
	j = coord_fenced_json(&(PgcFenced){"self", an->fence_reason, now});
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
 * started again as the primary when nothing replaces it (a claim first,
 * checked quietly on the tick's snapshot: its refusal would be logged
 * every tick). A decision naming another node leaves it to the planner's
 * rejoin.
 */
static bool fenced_tick(PgcCoordAgent *ag, const PgcCluster *c, const PgcNode *n, AgNode *an,
			PgcHost *h)
{
	AgCluster *ac = ag_cluster(ag, c->name);
	PgcArena *a = arena_new();
	PgcMember m;
	bool started = false;

	if (!an->fenced_recorded)
		record_fence(ag, an);
	(void)ag_snap_member(ag, ac, a, n->name, &m);
	if (m.role != MEMBER_FENCED)
		(void)put_role(ag, an, n, MEMBER_FENCED);
	if (!ag_would_be_primary(c, n) || !claim_start(ag, c, n, true))
		goto cleanup; /* the planner rejoins it once the new primary runs */
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

/*
 * fence_record_tick - node n's record P/C/fenced/NODE in the tick's
 * snapshot, for an agent that does not hold it (coord_fence_record_step):
 * an agent restarted since the fence takes it back before any pass can
 * start the node, and a record whose node rejoined, or whose removal
 * failed after the claimed start, goes.
 */
static void fence_record_tick(PgcCoordAgent *ag, const PgcCluster *c, const PgcNode *n,
			      AgNode *an, PgcHost *h)
{
	AgCluster *ac = ag_cluster(ag, c->name);
	PgcArena *a = arena_new();
	const PgcEtcdKv *kv = ag_snap_get(ac, coord_key_fenced(a, ag->prefix, c->name, n->name));
	bool runs;

	if (kv == NULL || an->fenced) {
		arena_free(a);
		return;
	}
	runs = ha_postmaster_pid(h, n) != 0;
	switch (coord_fence_record_step(true, an->fenced, an->fenced_recorded, runs,
					runs ? standby_signal(h, n) : 1)) {
	case COORD_FENCE_RECORD_ADOPT:
		take_record(an, kv);
		break;
	case COORD_FENCE_RECORD_CLEAR:
		ag_unfence(ag, an, an->fenced_recorded ? "started again as the primary"
						       : "it runs as a replica");
		break;
	case COORD_FENCE_RECORD_NONE:
		break;
	}
	arena_free(a);
}

/* update_watch - the primaries of this host the keep-alive thread watches for self-fencing. */
/* replica_names - the names of c's nodes other than n, "\n"-separated (AgWatch.replicas). */
static const char *replica_names(PgcArena *a, const PgcCluster *c, const PgcNode *n)
{
	const char *out = "";

	for (size_t i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].name, n->name) != 0)
			out = arena_printf(a, "%s%s%s", out, *out ? "\n" : "", c->nodes[i].name);
	return out;
}

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
		w[n].replicas = strdup(replica_names(a, c, nd));
		w[n].reply_window_ms = coord_reply_window_ms(ag->ttl_ms, c->failover.detect_after.ms);
		if (!w[n].cluster || !w[n].node || !w[n].host || !w[n].os_user || !w[n].data_dir ||
		    !w[n].conninfo || !w[n].replicas)
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
		h = host_for(n->host.v, c->os_user.v);
		if (h == NULL)
			continue;
		if (in)
			fence_record_tick(ag, c, n, an, h);
		if (!an->was_primary && !an->fenced) {
			host_free(h);
			continue;
		}
		pid = ha_postmaster_pid(h, n);
		if (an->fenced) {
			if (in)
				due |= fenced_tick(ag, c, n, an, h);
		} else if (pid == 0) {
			/* Confirmed here: the leader need not wait for the lease. */
			if (!in || put_role(ag, an, n, MEMBER_DOWN) == 0) {
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
