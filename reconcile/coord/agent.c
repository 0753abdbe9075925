/*
 * reconcile/coord/agent.c - the agent's session (lease and keep-alive), its
 * ticks and apply's filter (agent.h). Leadership and what it publishes are
 * agent_publish.c, failover agent_failover.c, self-fencing agent_fence.c.
 */
#include "reconcile/coord/agent.h"
#include "reconcile/coord/agent_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/engine/secret.h"
#include "reconcile/transport/host.h"

#define AG_DEFAULT_PREFIX "/pgconverge"
#define AG_DEFAULT_TTL_MS 10000
/* After a failed contact, the next try comes this soon (or at the next tick). */
#define AG_RETRY_MS 1000
/* A leader tick this long (a probe that waited): etcd is read again for a decision. */
#define AG_SLOW_PROBE_MS 200
/* New coordination.etcd settings that did not work are tried again this often. */
#define AG_RECONFIG_RETRY_MS 10000

/* ---- state ------------------------------------------------------------------- */

static void str_set(char **dst, const char *src)
{
	free(*dst);
	*dst = NULL;
	if (src != NULL && (*dst = strdup(src)) == NULL)
		abort();
}

PgcCoordAgent *coord_agent_new(const PgcCoordAgentConfig *cfg)
{
	PgcCoordAgent *ag = calloc(1, sizeof(*ag));

	if (ag == NULL)
		abort();
	str_set(&ag->self, cfg->self);
	str_set(&ag->state_dir, cfg->state_dir);
	str_set(&ag->version, cfg->version ? cfg->version : "unknown");
	str_set(&ag->only_cluster, cfg->only_cluster);
	ag->ttl_ms = AG_DEFAULT_TTL_MS;
	clock_utc_now(CLOCK_UTC_ISO_MS, ag->started_at, sizeof ag->started_at);
	ag_switchover_attach(ag);
	return ag;
}

void coord_agent_free(PgcCoordAgent *ag)
{
	if (ag == NULL)
		return;
	ag_switchover_detach(ag);
	/* Our keys go at once: the others need not wait for the ttl. */
	if (ag->etcd != NULL && ag->lease != 0 && coord_agent_in_session(ag))
		(void)etcd_lease_revoke(ag->etcd, ag->lease);
	ag_session_stop(ag->sess);
	etcd_close(ag->etcd);
	for (size_t i = 0; i < ag->n_cl; i++) {
		arena_free(ag->cl[i]->snap);
		free(ag->cl[i]);
	}
	for (size_t i = 0; i < ag->n_nodes; i++) {
		free(ag->nodes[i]->member);
		free(ag->nodes[i]->member_state);
		free(ag->nodes[i]);
	}
	free(ag->cl);
	free(ag->nodes);
	free(ag->self);
	free(ag->state_dir);
	free(ag->version);
	free(ag->only_cluster);
	free(ag->cfg_id);
	free(ag->bad_cfg_id);
	free(ag->prefix);
	free(ag);
}

AgCluster *ag_cluster(PgcCoordAgent *ag, const char *name)
{
	AgCluster **v, *c;

	for (size_t i = 0; i < ag->n_cl; i++)
		if (strcmp(ag->cl[i]->name, name) == 0)
			return ag->cl[i];
	v = realloc(ag->cl, (ag->n_cl + 1) * sizeof(*v));
	c = calloc(1, sizeof(*c));
	if (v == NULL || c == NULL)
		abort();
	ag->cl = v;
	ag->cl[ag->n_cl++] = c;
	snprintf(c->name, sizeof c->name, "%s", name);
	failover_probe_init(&c->st);
	c->last_failover_ms = -1;
	return c;
}

AgNode *ag_node(PgcCoordAgent *ag, const char *cluster, const char *node)
{
	AgNode **v, *n;

	for (size_t i = 0; i < ag->n_nodes; i++)
		if (strcmp(ag->nodes[i]->cluster, cluster) == 0 && strcmp(ag->nodes[i]->node, node) == 0)
			return ag->nodes[i];
	v = realloc(ag->nodes, (ag->n_nodes + 1) * sizeof(*v));
	n = calloc(1, sizeof(*n));
	if (v == NULL || n == NULL)
		abort();
	ag->nodes = v;
	ag->nodes[ag->n_nodes++] = n;
	snprintf(n->cluster, sizeof n->cluster, "%s", cluster);
	snprintf(n->node, sizeof n->node, "%s", node);
	return n;
}

/* ag_mark_present - the clusters and nodes of t on this host. */
void ag_mark_present(PgcCoordAgent *ag, const PgcTopology *t)
{
	for (size_t i = 0; i < ag->n_cl; i++)
		ag->cl[i]->present = false;
	for (size_t i = 0; i < ag->n_nodes; i++)
		ag->nodes[i]->present = false;
	for (size_t i = 0; t != NULL && i < t->n_clusters; i++) {
		const PgcCluster *c = &t->clusters[i];

		if (ag->only_cluster != NULL && strcmp(ag->only_cluster, c->name) != 0)
			continue;
		for (size_t j = 0; j < c->n_nodes; j++) {
			if (!ag_is_self(ag, c->nodes[j].host.v))
				continue;
			ag_cluster(ag, c->name)->present = true;
			ag_node(ag, c->name, c->nodes[j].name)->present = true;
		}
	}
}

/* ---- the etcd client -------------------------------------------------------- */

/* drop_session - the lease is gone: no leadership either. */
static void drop_session(PgcCoordAgent *ag)
{
	/* The thread's last_ok_sent_ms stays: self-fencing counts from it. */
	ag->lease = 0;
	/* The next lease, even one granted in the same tick, publishes everything again. */
	ag->was_in_session = false;
	if (ag->sess != NULL)
		ag_session_set_lease(ag->sess, 0, 0);
	for (size_t i = 0; i < ag->n_cl; i++) {
		if (ag->cl[i]->token != 0)
			log_warn("cluster \"%s\": no longer the leader (the agent's lease is gone)",
				 ag->cl[i]->name);
		ag->cl[i]->token = 0;
	}
}

/*
 * open_clients - the loop's client and the keep-alive thread's own (one
 * client serves one thread) from t's coordination.etcd; 0, or -1 with
 * err set (nothing left open).
 */
static int open_clients(const PgcTopology *t, int64_t ttl_ms, PgcEtcdClient **loop_client,
			PgcEtcdClient **thread_client, char *err, size_t errlen)
{
	PgcArena *a = arena_new();
	PgcEtcdConfig cfg;
	const char **eps;
	char *password = NULL;

	*loop_client = *thread_client = NULL;
	memset(&cfg, 0, sizeof cfg);
	eps = arena_calloc(a, t->etcd.endpoints.n + 1, sizeof(char *));
	for (size_t i = 0; i < t->etcd.endpoints.n; i++)
		eps[i] = t->etcd.endpoints.items[i].v;
	cfg.endpoints = eps;
	cfg.n_endpoints = t->etcd.endpoints.n;
	cfg.user = t->etcd.user.set ? t->etcd.user.v : NULL;
	if (cfg.user != NULL) {
		password = secret_resolve(&t->etcd.password, "coordination.etcd.password", err,
					  errlen);
		if (password == NULL) {
			arena_free(a);
			return -1;
		}
		cfg.password = password;
	}
	cfg.ca_file = t->etcd.ca_file.set ? t->etcd.ca_file.v : NULL;
	cfg.cert_file = t->etcd.cert_file.set ? t->etcd.cert_file.v : NULL;
	cfg.key_file = t->etcd.key_file.set ? t->etcd.key_file.v : NULL;
	/* A request must not eat the margin between self-fencing and the lease's end. */
	cfg.timeout_ms = (int)(ttl_ms / 10 < 500 ? 500 : ttl_ms / 10 > 2000 ? 2000 : ttl_ms / 10);
	*loop_client = etcd_open(&cfg, err, errlen);
	if (*loop_client != NULL && (*thread_client = etcd_open(&cfg, err, errlen)) == NULL) {
		etcd_close(*loop_client);
		*loop_client = NULL;
	}
	secret_free(password);
	arena_free(a);
	return *loop_client != NULL ? 0 : -1;
}

/*
 * configure - (re)opens the client when t names other endpoints or
 * credentials. With a session already working, the new settings must
 * first reach etcd (a lease granted through them) before the old session
 * is given up: a bad edit of coordination.etcd (a typo in an endpoint, a
 * missing certificate, a wrong password) would otherwise leave the agent
 * with no session, no keep-alive thread and so no self-fencing. Until
 * they work, the old session goes on (logged once per edit, tried again
 * every AG_RECONFIG_RETRY_MS).
 */
static int configure(PgcCoordAgent *ag, const PgcTopology *t)
{
	PgcArena *a;
	PgcEtcdClient *loop_client = NULL, *thread_client = NULL;
	const char *id;
	char err[512] = "";
	int64_t lease = 0, ttl_ms;
	double sent = 0;
	int rc = -1;

	if (t == NULL || !t->etcd.set)
		return ag->etcd != NULL ? 0 : -1;
	a = arena_new();
	ttl_ms = t->etcd.ttl.set && t->etcd.ttl.ms > 0 ? t->etcd.ttl.ms : AG_DEFAULT_TTL_MS;
	/*
	 * The ttl is part of the settings: a new ttl is a new lease. Changed in
	 * place, the agent would count its session (and its leadership) by the
	 * new ttl while etcd expires the old lease by the old one.
	 */
	id = coord_etcd_config_id(a, &t->etcd, ttl_ms);
	if (ag->etcd != NULL && ag->cfg_id != NULL && strcmp(ag->cfg_id, id) == 0) {
		rc = 0;
		goto cleanup;
	}
	if (ag->etcd != NULL && ag->bad_cfg_id != NULL && strcmp(ag->bad_cfg_id, id) == 0 &&
	    clock_ms() < ag->next_reconfig_ms) {
		rc = 0; /* the old session goes on */
		goto cleanup;
	}
	if (open_clients(t, ttl_ms, &loop_client, &thread_client, err, sizeof err) == 0 &&
	    ag->etcd != NULL) {
		sent = clock_ms();
		if (etcd_lease_grant(loop_client, (ttl_ms + 999) / 1000, &lease) != ETCD_OK) {
			snprintf(err, sizeof err, "%s", etcd_error(loop_client));
			etcd_close(loop_client);
			etcd_close(thread_client);
			loop_client = thread_client = NULL;
		}
	}
	if (loop_client == NULL) {
		if (ag->etcd == NULL) {
			log_error("cannot use coordination.etcd: %s", err);
			goto cleanup;
		}
		if (ag->bad_cfg_id == NULL || strcmp(ag->bad_cfg_id, id) != 0)
			log_error("coordination.etcd changed, but the new settings do not work (%s): "
				  "keeping the session with the previous ones", err);
		str_set(&ag->bad_cfg_id, id);
		ag->next_reconfig_ms = clock_ms() + AG_RECONFIG_RETRY_MS;
		rc = 0;
		goto cleanup;
	}
	if (ag->etcd != NULL) {
		log_info("coordination.etcd changed: the new settings work, leaving the old session");
		if (ag->lease != 0)
			(void)etcd_lease_revoke(ag->etcd, ag->lease);
		drop_session(ag);
		ag_session_stop(ag->sess);
		ag->sess = NULL;
		etcd_close(ag->etcd);
	}
	ag->etcd = loop_client;
	ag->ttl_ms = ttl_ms;
	ag->sess = ag_session_start(thread_client, ag->ttl_ms);
	if (ag->sess == NULL) {
		if (lease != 0)
			(void)etcd_lease_revoke(ag->etcd, lease);
		etcd_close(ag->etcd);
		ag->etcd = NULL;
		goto cleanup;
	}
	str_set(&ag->cfg_id, id);
	str_set(&ag->bad_cfg_id, NULL);
	str_set(&ag->prefix, t->etcd.prefix.set ? t->etcd.prefix.v : AG_DEFAULT_PREFIX);
	ag->next_grant_ms = 0;
	if (lease != 0) {
		/* The lease that proved the new settings is the new session's. */
		ag->lease = lease;
		ag_session_set_lease(ag->sess, lease, sent);
		log_info("etcd: lease %llx granted (ttl %lld ms)", (long long)lease,
			 (long long)ag->ttl_ms);
	}
	rc = 0;
cleanup:
	arena_free(a);
	return rc;
}

/* ---- the session ---------------------------------------------------------------- */

bool coord_agent_in_session(const PgcCoordAgent *ag)
{
	int64_t lease;
	double last_ok;
	bool expired;

	if (ag == NULL || ag->sess == NULL || ag->lease == 0)
		return false;
	ag_session_get(ag->sess, &lease, &last_ok, &expired, NULL);
	/* The session also ends when the keep-alive thread fenced a primary (no etcd
	 * contact since): a pass must not restart what it has just stopped. */
	return lease == ag->lease && !expired && last_ok >= 0 &&
	       clock_ms() - last_ok < (double)ag->ttl_ms && !ag_session_cut(ag->sess);
}

bool coord_agent_leads(const PgcCoordAgent *ag, const char *cluster)
{
	if (cluster == NULL || !coord_agent_in_session(ag))
		return false;
	for (size_t i = 0; i < ag->n_cl; i++)
		if (strcmp(ag->cl[i]->name, cluster) == 0)
			return ag->cl[i]->token != 0;
	return false;
}

static void contact_failed(PgcCoordAgent *ag, const char *what)
{
	if (!ag->lost_logged)
		log_warn("no contact with etcd (%s: %s): acting on nothing until it answers", what,
			 etcd_error(ag->etcd));
	ag->lost_logged = true;
}

/*
 * session_tick - the loop's side of the session: a lease when there is
 * none (or etcd said it expired); the keep-alive thread renews it.
 */
static void session_tick(PgcCoordAgent *ag)
{
	int64_t lease, id = 0;
	double last_ok, sent;
	bool expired, failed;

	ag_session_get(ag->sess, &lease, &last_ok, &expired, &failed);
	if (ag->lease != 0 && expired) {
		log_warn("etcd: lease %llx expired: a new session starts", (long long)ag->lease);
		drop_session(ag);
	} else if (ag->lease != 0 && !coord_agent_in_session(ag)) {
		contact_failed(ag, "keep-alive");
		drop_session(ag);
	} else if (ag->lease != 0) {
		if (failed)
			contact_failed(ag, "keep-alive");
		else if (ag->lost_logged && clock_ms() - last_ok < (double)ag->ttl_ms / 5.0) {
			log_info("etcd answers again");
			ag->lost_logged = false;
		}
		return;
	}
	if (clock_ms() < ag->next_grant_ms)
		return;
	sent = clock_ms();
	ag_session_tried(ag->sess);
	if (etcd_lease_grant(ag->etcd, (ag->ttl_ms + 999) / 1000, &id) != ETCD_OK) {
		contact_failed(ag, "lease grant");
		ag->next_grant_ms = clock_ms() + AG_RETRY_MS;
		return;
	}
	ag->lease = id;
	ag_session_set_lease(ag->sess, id, sent);
	if (ag->lost_logged)
		log_info("etcd answers again");
	ag->lost_logged = false;
	log_info("etcd: lease %llx granted (ttl %lld ms)", (long long)id, (long long)ag->ttl_ms);
}

/* ---- the snapshot of a cluster ------------------------------------------------- */

int ag_snapshot(PgcCoordAgent *ag, AgCluster *c)
{
	PgcArena *a = arena_new();
	const char *prefix = coord_key_cluster(a, ag->prefix, c->name);
	PgcEtcdKv *kvs = NULL;
	size_t n = 0;
	int64_t rev = 0;

	if (etcd_get_prefix(ag->etcd, a, prefix, &kvs, &n, &rev) != ETCD_OK) {
		arena_free(a);
		c->snap_ok = false;
		return -1;
	}
	c->snap_rev = rev;
	arena_free(c->snap);
	c->snap = a;
	c->kvs = kvs;
	c->n_kvs = n;
	c->snap_ok = true;
	return 0;
}

const PgcEtcdKv *ag_snap_get(const AgCluster *c, const char *key)
{
	for (size_t i = 0; c->snap_ok && i < c->n_kvs; i++)
		if (strcmp(c->kvs[i].key, key) == 0)
			return &c->kvs[i];
	return NULL;
}

const PgcEtcdKv *ag_snap_member(PgcCoordAgent *ag, const AgCluster *c, PgcArena *a,
				const char *node, PgcMember *m)
{
	const PgcEtcdKv *kv = ag_snap_get(c, coord_key_member(a, ag->prefix, c->name, node));

	memset(m, 0, sizeof(*m));
	if (kv == NULL || coord_member_parse(a, node, kv->value, m) != 0)
		return NULL;
	return kv;
}

const PgcEtcdKv *ag_snap_decision(PgcCoordAgent *ag, const AgCluster *c, PgcArena *a,
				  PgcDecision *d)
{
	const PgcEtcdKv *kv = ag_snap_get(c, coord_key_decision(a, ag->prefix, c->name));

	memset(d, 0, sizeof(*d));
	if (kv == NULL || coord_decision_parse(a, kv->value, d) != 0)
		return NULL;
	return kv;
}

const char *ag_other_primary(PgcCoordAgent *ag, const AgCluster *c, PgcArena *a,
			     const char *node)
{
	const char *members = arena_printf(a, "%s/%s/members/", ag->prefix, c->name);
	size_t len = strlen(members);

	for (size_t i = 0; c->snap_ok && i < c->n_kvs; i++) {
		const char *name = c->kvs[i].key + len;
		PgcMember m;

		if (strncmp(c->kvs[i].key, members, len) != 0 || strcmp(name, node) == 0)
			continue;
		if (coord_member_parse(a, name, c->kvs[i].value, &m) == 0 &&
		    (m.role == MEMBER_PRIMARY || m.role == MEMBER_STARTING))
			return m.node;
	}
	return NULL;
}

/* ---- ticks -------------------------------------------------------------------------- */

/*
 * etcd_primary - the primary etcd names for c now: the candidate of a
 * decision marked promoted, else a member that reports a primary; NULL
 * none (the primary is down and nothing was promoted yet).
 */
static const char *etcd_primary(PgcCoordAgent *ag, const AgCluster *ac, PgcArena *a)
{
	const char *members = arena_printf(a, "%s/%s/members/", ag->prefix, ac->name);
	size_t len = strlen(members);
	PgcDecision d;

	if (ag_snap_decision(ag, ac, a, &d) != NULL && d.state == DECISION_PROMOTED && d.to != NULL)
		return d.to;
	for (size_t i = 0; ac->snap_ok && i < ac->n_kvs; i++) {
		PgcMember m;

		if (strncmp(ac->kvs[i].key, members, len) == 0 &&
		    coord_member_parse(a, ac->kvs[i].key + len, ac->kvs[i].value, &m) == 0 &&
		    m.role == MEMBER_PRIMARY && m.running)
			return m.node;
	}
	return NULL;
}

/*
 * primary_moved - the primary etcd names for c (fresh snapshot) is another
 * node than at the last look (or the first one it names), and this host
 * has a node of c besides it: its replicas follow the new primary (or are
 * cloned from the first) at a pass now, not at the next --interval (with
 * synchronous replication the new primary's first write waits for one of
 * them). At the agent's start the pass runs anyway.
 */
static bool primary_moved(PgcCoordAgent *ag, AgCluster *ac, const PgcCluster *c)
{
	PgcArena *a = arena_new();
	const char *p = etcd_primary(ag, ac, a);
	bool moved = false;

	if (p != NULL && strcmp(p, ac->seen_primary) != 0) {
		for (size_t j = 0; j < c->n_nodes; j++)
			if (strcmp(c->nodes[j].name, p) != 0 && ag_is_self(ag, c->nodes[j].host.v))
				moved = true;
		if (moved)
			log_info("cluster \"%s\": \"%s\" is the primary now%s%s%s: a pass runs now "
				 "for the nodes of this host", ac->name, p,
				 ac->seen_primary[0] ? " (was \"" : "", ac->seen_primary,
				 ac->seen_primary[0] ? "\")" : "");
		snprintf(ac->seen_primary, sizeof ac->seen_primary, "%s", p);
	}
	arena_free(a);
	return moved;
}

bool coord_agent_tick(PgcCoordAgent *ag, const PgcTopology *t, const volatile sig_atomic_t *stop)
{
	bool due = false, in;
	double t0;

	if (configure(ag, t) != 0)
		return false;
	ag_mark_present(ag, t);
	session_tick(ag);
	in = coord_agent_in_session(ag);
	if (in && !ag->was_in_session) {
		ag_republish(ag);
		due = true;
	}
	ag->was_in_session = in;
	for (size_t i = 0; in && i < ag->n_cl && !(stop && *stop); i++) {
		AgCluster *ac = ag->cl[i];
		const PgcCluster *c = topology_cluster(t, ac->name);

		if (!ac->present || c == NULL || ag_snapshot(ag, ac) != 0)
			continue;
		ag_lead(ag, ac);
		due |= primary_moved(ag, ac, c);
		due |= ag_candidate_tick(ag, t, c, ac);
		due |= ag_switchover_tick(ag, t, c, ac);
		/* Every agent probes the primary: a new leader has its history at once. A
		 * decision for a node of this host is carried out now, not a pass later. */
		t0 = clock_ms();
		if (ag_leader_tick(ag, t, c, ac) && ag_snapshot(ag, ac) == 0)
			due |= ag_candidate_tick(ag, t, c, ac);
		/* A probe of a primary cut off from the network takes its whole
		 * timeout: a decision written meanwhile is not left for the next tick. */
		else if (clock_ms() - t0 >= AG_SLOW_PROBE_MS && ag_snapshot(ag, ac) == 0)
			due |= ag_candidate_tick(ag, t, c, ac);
	}
	if (!(stop && *stop))
		due |= ag_local_tick(ag, t);
	return due;
}

int64_t coord_agent_next_tick_in(const PgcCoordAgent *ag, const PgcTopology *t)
{
	(void)ag;
	if (t == NULL || !t->etcd.set)
		return -1;
	return AG_LOCAL_CHECK_MS;
}

int coord_agent_wait(PgcCoordAgent *ag, const PgcTopology *t, int64_t ms)
{
	PgcArena *a;
	const char *prefix = NULL;
	int64_t from = 0;
	size_t present = 0;
	bool changed = false;
	PgcEtcdStatus st;

	(void)t;
	if (ms <= 0)
		return 0;
	for (size_t i = 0; ag->etcd != NULL && i < ag->n_cl; i++) {
		if (!ag->cl[i]->present)
			continue;
		present++;
		if (!ag->cl[i]->snap_ok || ag->cl[i]->snap_rev <= 0) {
			from = -1;
			break;
		}
		if (from == 0 || ag->cl[i]->snap_rev + 1 < from)
			from = ag->cl[i]->snap_rev + 1;
	}
	if (present == 0 || from <= 0 || !coord_agent_in_session(ag))
		return -1;
	a = arena_new();
	for (size_t i = 0; i < ag->n_cl; i++)
		if (ag->cl[i]->present)
			prefix = present == 1 ? coord_key_cluster(a, ag->prefix, ag->cl[i]->name)
					      : arena_printf(a, "%s/", ag->prefix);
	/* From the revision after the last reads: a change since then answers at once. */
	st = etcd_watch_prefix(ag->etcd, prefix, from, (int)ms, &changed, NULL);
	arena_free(a);
	return st != ETCD_OK ? -1 : changed ? 1 : 0;
}

bool coord_agent_before_pass(PgcCoordAgent *ag, const PgcTopology *t)
{
	(void)coord_agent_tick(ag, t, NULL);
	if (!coord_agent_in_session(ag)) {
		if (!ag->skip_logged)
			log_warn("no etcd session: this pass applies nothing (an agent acts only while "
				 "its lease is live)");
		ag->skip_logged = true;
		return false;
	}
	if (ag->skip_logged)
		log_info("etcd session live again: passes apply again");
	ag->skip_logged = false;
	ag->pass_t = t;
	for (size_t i = 0; i < ag->n_nodes; i++)
		ag->nodes[i]->claim = 0;
	return true;
}

/* ---- apply's filter ----------------------------------------------------------------- */

/*
 * slot_owner - the host of the replica whose physical slot create-slot act
 * makes (slot names follow plan_slot_name(): the node's name, '-' -> '_'),
 * or NULL. Its agent creates it: that replica's clone waits for it, and
 * the leader's plan never has it while the replica does not run.
 */
static const char *slot_owner(const PgcTopology *t, const PgcAction *act)
{
	const PgcCluster *c = t ? topology_cluster(t, act->cluster) : NULL;
	const char *slot = act->payload.target;

	for (size_t i = 0; c != NULL && slot != NULL && i < c->n_nodes; i++) {
		const char *a = c->nodes[i].name, *b = slot;

		while (*a != '\0' && (*a == *b || (*a == '-' && *b == '_'))) {
			a++;
			b++;
		}
		if (*a == '\0' && *b == '\0')
			return c->nodes[i].host.v;
	}
	return NULL;
}

/*
 * starts_replica - start act brings a replica up: it follows the clone of
 * the node in the same plan (apply asks before the clone has run, so the
 * data directory cannot tell yet), or standby.signal is there.
 */
static bool starts_replica(const PgcAction *act, const PgcCluster *c, const PgcNode *n)
{
	for (size_t i = 0; i < act->n_depends_on; i++) {
		const char *d = act->depends_on[i];
		size_t l = strlen(d);

		if (l > 6 && strcmp(d + l - 6, "/clone") == 0)
			return true;
	}
	return !ag_would_be_primary(c, n);
}

bool coord_agent_mine(const PgcAction *act, void *arg)
{
	PgcCoordAgent *ag = arg;
	const char *runs_on = act->runs_on;

	bool leads = coord_agent_leads(ag, act->cluster), mine;
	const PgcCluster *c;
	const PgcNode *n;
	AgNode *an;

	if (!coord_agent_in_session(ag))
		return false;
	if (act->kind == ACT_CREATE_SLOT && runs_on == NULL && slot_owner(ag->pass_t, act) != NULL)
		runs_on = slot_owner(ag->pass_t, act);
	/* A reload follows the node's own configuration files, which only its agent sees. */
	if (act->kind == ACT_RELOAD && runs_on == NULL && act->node != NULL && ag->pass_t != NULL &&
	    (c = topology_cluster(ag->pass_t, act->cluster)) != NULL &&
	    (n = cluster_node(c, act->node)) != NULL)
		runs_on = n->host.v;
	if (ag->self != NULL)
		mine = coord_action_mine(runs_on, ag->self, true, leads);
	else
		mine = runs_on == NULL ? leads : host_is_local(runs_on);
	if (!mine || act->node == NULL || ag->pass_t == NULL)
		return mine;
	c = topology_cluster(ag->pass_t, act->cluster);
	n = c ? cluster_node(c, act->node) : NULL;
	if (n == NULL || coord_start_rule(act->kind, false, false) == COORD_START_FREE)
		return true;
	an = ag_node(ag, c->name, n->name);
	switch (coord_start_rule(act->kind, starts_replica(act, c, n), an->fenced)) {
	case COORD_START_FREE:
		return true;
	case COORD_START_REFUSED:
		/* Its agent keeps it stopped; it starts again only through fenced_tick
		 * (agent_fence.c), once the fence is recorded and a claim passed. */
		if (an->claim == 0)
			log_warn("node \"%s/%s\" is not started: it is self-fenced", c->name, n->name);
		an->claim = -1;
		return false;
	case COORD_START_CLAIM:
		break;
	}
	/* apply asks again while it schedules: one claim per pass. */
	if (an->claim == 0)
		an->claim = ag_claim_start(ag, c, n) ? 1 : -1;
	return an->claim > 0;
}

/* ---- status --------------------------------------------------------------------------- */

json_t *coord_agent_status_json(const PgcCoordAgent *ag)
{
	json_t *o = json_object(), *cl = json_object();
	PgcArena *a = arena_new();

	json_object_set_new(o, "self", ag->self ? json_string(ag->self) : json_null());
	json_object_set_new(o, "session", json_boolean(coord_agent_in_session(ag)));
	json_object_set_new(o, "ttl_ms", json_integer((json_int_t)ag->ttl_ms));
	for (size_t i = 0; i < ag->n_cl; i++) {
		AgCluster *c = ag->cl[i];
		PgcDecision d;
		json_t *cj;

		if (!c->present)
			continue;
		cj = json_pack("{s:s,s:b}", "leader", c->leader, "leading", c->token != 0);
		if (ag->prefix != NULL && ag_snap_decision((PgcCoordAgent *)ag, c, a, &d) != NULL)
			json_object_set_new(cj, "decision", coord_decision_json(&d));
		json_object_set_new(cl, c->name, cj);
	}
	json_object_set_new(o, "clusters", cl);
	arena_free(a);
	return o;
}
