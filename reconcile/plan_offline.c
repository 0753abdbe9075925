/*
 * reconcile/plan_offline.c - the plan from one topology revision to the next,
 * without servers: the base becomes a make-believe observed state and
 * the real planner does the rest (see plan_offline.h).
 */
#include "reconcile/plan_offline.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile/datadog/plan_datadog.h"
#include "reconcile/engine/builder.h"
#include "reconcile/observe/observe_pgpool.h"
#include "reconcile/pgpool/pgpool_conf.h"
#include "reconcile/postgres/plan_conf.h"
#include "reconcile/standby/plan_standby.h"

static bool streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool is_primary(const PgcCluster *c, const PgcNode *n)
{
	return streq(c->primary.v, n->name);
}

/* takes_writes - n is c's primary and c no standby cluster (whose leader replays its source's WAL). */
static bool takes_writes(const PgcCluster *c, const PgcNode *n)
{
	return is_primary(c, n) && !c->standby_of.set;
}

static bool has_replicas(const PgcCluster *c)
{
	return c->n_nodes > 1;
}

static const char *os_user_of(const PgcCluster *c)
{
	return c->os_user.v != NULL ? c->os_user.v : "postgres";
}

static const PgcRole *declared_role(const PgcCluster *c, const char *name)
{
	size_t i;

	for (i = 0; c != NULL && i < c->n_roles; i++)
		if (strcmp(c->roles[i].name, name) == 0)
			return &c->roles[i];
	return NULL;
}

/* role_password - the password a role gets, as the planner decides it (replication user included). */
static PgcSecret role_password(const PgcCluster *c, const char *name)
{
	const PgcRole *r = declared_role(c, name);
	PgcSecret s;

	memset(&s, 0, sizeof s);
	if (c == NULL)
		return s;
	if (r != NULL)
		s = r->password;
	if (has_replicas(c) && streq(name, c->replication.user.v) &&
	    c->replication.password.kind != SECRET_NONE)
		s = c->replication.password;
	return s;
}

/*
 * password_matches - what observe would say of the base's password against
 * the head's: a different secret reference means a new password (0); the
 * same reference cannot be told apart (-1, the planner leaves it).
 */
static int password_matches(const PgcSecret *base, const PgcSecret *head)
{
	if (base->kind == SECRET_NONE || head->kind == SECRET_NONE)
		return -1;
	return base->kind == head->kind && streq(base->ref, head->ref) ? -1 : 0;
}

static void fill_role(PgcArena *a, PgcObsRole *o, const PgcRole *r, const PgcCluster *bc,
		      const PgcCluster *hc, const char *name)
{
	PgcSecret bp = role_password(bc, name), hp = role_password(hc, name);
	size_t i;

	o->name = name;
	o->connection_limit = -1;
	if (r != NULL) {
		o->login = r->login.v;
		o->superuser = r->superuser.v;
		o->createdb = r->createdb.v;
		o->createrole = r->createrole.v;
		o->replication = r->replication.v;
		o->bypassrls = r->bypassrls.v;
		o->connection_limit = r->connection_limit.set ? (int)r->connection_limit.v : -1;
		o->member_of = arena_calloc(a, r->member_of.n + 1, sizeof(char *));
		for (i = 0; i < r->member_of.n; i++)
			o->member_of[i] = r->member_of.items[i].v;
		o->n_member_of = r->member_of.n;
	}
	if (has_replicas(bc) && streq(name, bc->replication.user.v)) {
		/* The replication user as the planner creates it. */
		o->login = true;
		if (!o->superuser)
			o->replication = true;
	}
	o->has_password = bp.kind != SECRET_NONE;
	o->password_matches = password_matches(&bp, &hp);
}

/* synth_roles - the roles of the base cluster: the same on every node (physical replicas). */
static void synth_roles(PgcArena *a, const PgcCluster *bc, const PgcCluster *hc, PgcObsNode *o)
{
	const char *repl = has_replicas(bc) ? bc->replication.user.v : NULL;
	size_t i, k = 0;

	o->roles = arena_calloc(a, bc->n_roles + 1, sizeof(*o->roles));
	for (i = 0; i < bc->n_roles; i++) {
		if (strcmp(bc->roles[i].name, os_user_of(bc)) == 0)
			continue;
		fill_role(a, &o->roles[k++], &bc->roles[i], bc, hc, bc->roles[i].name);
	}
	if (repl != NULL && declared_role(bc, repl) == NULL)
		fill_role(a, &o->roles[k++], NULL, bc, hc, repl);
	o->n_roles = k;
}

static void synth_databases(PgcArena *a, const PgcCluster *bc, PgcObsNode *o)
{
	size_t i, j;

	o->databases = arena_calloc(a, bc->n_databases + 1, sizeof(*o->databases));
	for (i = 0; i < bc->n_databases; i++) {
		const PgcDatabase *d = &bc->databases[i];
		PgcObsDatabase *od = &o->databases[i];

		od->name = d->name;
		/* "postgres" names the bootstrap superuser, as the planner reads it. */
		od->owner = d->owner.v == NULL || strcmp(d->owner.v, "postgres") == 0 ? os_user_of(bc)
										      : d->owner.v;
		od->extensions = arena_calloc(a, d->extensions.n + 1, sizeof(char *));
		for (j = 0; j < d->extensions.n; j++)
			od->extensions[j] = d->extensions.items[j].v;
		od->n_extensions = d->extensions.n;
	}
	o->n_databases = bc->n_databases;
}

/*
 * synth_slots - a slot on n for each base replica streaming from it, and on
 * a source's primary (or standby leader), its standby clusters' slots (bc:
 * the live copy).
 */
static void synth_slots(PgcArena *a, const PgcCluster *bc, const PgcNode *n, PgcObsNode *o)
{
	size_t i;

	o->slots = arena_calloc(a, bc->n_nodes + bc->n_kept_slots + 1, sizeof(*o->slots));
	/* on its primary: a standby leader's too, when it is the source of another */
	if (is_primary(bc, n))
		for (i = 0; i < bc->n_kept_slots; i++) {
			o->slots[o->n_slots].slot_name = bc->kept_slots[i];
			o->slots[o->n_slots].slot_type = "physical";
			o->slots[o->n_slots].active = true;
			o->n_slots++;
		}
	if (!bc->replication.slots.v)
		return;
	for (i = 0; i < bc->n_nodes; i++) {
		const PgcNode *up = cluster_upstream(bc, &bc->nodes[i]);

		/* a standby leader's upstream is in another cluster */
		if (up == NULL || up == &bc->nodes[i] || cluster_node(bc, up->name) != up ||
		    strcmp(up->name, n->name) != 0)
			continue;
		o->slots[o->n_slots].slot_name = plan_slot_name(a, bc->nodes[i].name);
		o->slots[o->n_slots].slot_type = "physical";
		o->slots[o->n_slots].active = true;
		o->n_slots++;
	}
}

/*
 * synth_node - the head node hn as the base left it: running as the base
 * declares it when the base has a node of that name in the same data
 * directory, else absent (to be created). bc is the base cluster as the
 * planner saw it (plan_standby_live: a standby cluster's leader streams
 * from its source's primary with its slot and archive, a source keeps its
 * standby clusters' slots), so that an unchanged file plans nothing.
 */
static void synth_node(PgcArena *a, const PgcCluster *bc, const PgcCluster *hc, const PgcNode *hn,
		       const char **hba, PgcObsNode *o)
{
	const PgcNode *bn = bc != NULL ? cluster_node(bc, hn->name) : NULL;

	o->name = hn->name;
	o->cluster = hc->name;
	o->local = true; /* planned as if pgconverge ran on the node's host */
	o->dir_state = DIR_ABSENT;
	if (bn == NULL || !streq(bn->data_dir.v, hn->data_dir.v))
		return;
	o->dir_state = DIR_INITIALIZED;
	o->pg_version_major = (int)bc->pg_version.v;
	o->timeline = 1;
	o->cluster_state = takes_writes(bc, bn) ? "in production" : "in archive recovery";
	o->data_checksums = bc->initdb.data_checksums.v;
	o->include_line = true;
	o->managed_conf = plan_managed_conf(a, bc, bn);
	if (*hba == NULL) /* the same for every node of the cluster: rendered once */
		*hba = plan_hba_conf(a, bc, bn);
	o->hba_conf = *hba;
	o->standby_signal = !takes_writes(bc, bn);
	o->postmaster_alive = true;
	o->reachable = true;
	o->server_version_num = (int)bc->pg_version.v * 10000;
	o->in_recovery = !takes_writes(bc, bn);
	if (o->in_recovery)
		o->wal_receiver_status = "streaming";
	/* No pg_settings rows: the planner compares the managed files, in canonical form. */
	/* With monitoring.datadog's role, as the planner sees the roles. */
	synth_roles(a, plan_datadog_roles(a, bc), plan_datadog_roles(a, hc), o);
	synth_databases(a, bc, o);
	synth_slots(a, bc, bn, o);
}

/* synth_pgpool - base's Pgpool-II as pgconverge left it: its files, running, every node attached. */
static PgcObsPgpool *synth_pgpool(PgcArena *a, const PgcCluster *bc, const PgcCluster *hc)
{
	PgcObsPgpool *pp = arena_calloc(a, 1, sizeof(*pp));

	pp->looked = true;
	pp->conf = pgpool_render_conf(a, bc);
	pp->hba = pgpool_render_hba(a, bc);
	pp->pcp_ok = true;
	pp->passwd_ok = -1;
	pp->alive = true;
	pp->reachable = true;
	pp->nodes = arena_calloc(a, hc->n_nodes + 1, sizeof(*pp->nodes));
	for (size_t j = 0; j < hc->n_nodes; j++) {
		const PgcNode *bn = cluster_node(bc, hc->nodes[j].name);

		pp->nodes[pp->n_nodes].id = (int)j;
		pp->nodes[pp->n_nodes].status = bn != NULL ? "up" : "down";
		pp->nodes[pp->n_nodes++].role = bn != NULL && is_primary(bc, bn) ? "primary" : "standby";
	}
	return pp;
}

static PgcObserved *synth_observed(PgcArena *a, const PgcTopology *base, const PgcTopology *head)
{
	PgcObserved *obs = arena_calloc(a, 1, sizeof(*obs));
	size_t i, j;

	obs->arena = a;
	obs->observed_at = "offline";
	obs->pretend = true;
	obs->clusters = arena_calloc(a, head->n_clusters + 1, sizeof(*obs->clusters));
	obs->n_clusters = head->n_clusters;
	for (i = 0; i < head->n_clusters; i++) {
		const PgcCluster *hc = &head->clusters[i];
		const PgcCluster *bc = base != NULL ? topology_cluster(base, hc->name) : NULL;
		PgcObsCluster *oc = &obs->clusters[i];
		/* The base as the planner saw it, its sources' primaries as declared. */
		const PgcCluster *live = bc != NULL ? plan_standby_live(a, base, bc, NULL, NULL) : NULL;
		const char *hba = NULL;

		oc->name = hc->name;
		oc->nodes = arena_calloc(a, hc->n_nodes + 1, sizeof(*oc->nodes));
		oc->n_nodes = hc->n_nodes;
		for (j = 0; j < hc->n_nodes; j++)
			synth_node(a, live, hc, &hc->nodes[j], &hba, &oc->nodes[j]);
		oc->datadog = plan_datadog_pretend(a, bc, hc);
		if (bc != NULL && bc->pgpool.set)
			oc->pgpool = synth_pgpool(a, live, hc);
	}
	return obs;
}

/* ---- after planning ------------------------------------------------------ */

static const char *own(PgcPlan *p, const char *s)
{
	return arena_strdup(p->arena, s);
}

/*
 * OwnMap - source pointer to its copy, so that a string shared by many
 * changes (the rules of a cluster's pg_hba.conf, listed for every new node)
 * is copied once: open addressing, doubled at half full.
 */
typedef struct {
	const char **from, **to;
	size_t n, mask;
} OwnMap;

static size_t ptr_hash(const char *s)
{
	uintptr_t v = (uintptr_t)s;

	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdu;
	v ^= v >> 33;
	return (size_t)v;
}

static void own_map_grow(OwnMap *m)
{
	OwnMap g;
	size_t i, k;

	g.mask = m->mask ? 2 * m->mask + 1 : 255;
	g.n = m->n;
	g.from = calloc(g.mask + 1, sizeof(char *));
	g.to = calloc(g.mask + 1, sizeof(char *));
	if (g.from == NULL || g.to == NULL)
		abort();
	for (i = 0; m->mask && i <= m->mask; i++) {
		if (m->from[i] == NULL)
			continue;
		for (k = ptr_hash(m->from[i]) & g.mask; g.from[k] != NULL; k = (k + 1) & g.mask)
			;
		g.from[k] = m->from[i];
		g.to[k] = m->to[i];
	}
	free(m->from);
	free(m->to);
	*m = g;
}

/* own_map_put - records from -> to (from not in the map yet). */
static void own_map_put(OwnMap *m, const char *from, const char *to)
{
	size_t k;

	if (2 * (m->n + 1) > m->mask)
		own_map_grow(m);
	for (k = ptr_hash(from) & m->mask; m->from[k] != NULL; k = (k + 1) & m->mask)
		;
	m->from[k] = from;
	m->to[k] = to;
	m->n++;
}

static const char *own_once(PgcPlan *p, OwnMap *m, const char *s)
{
	const char *copy;
	size_t k;

	if (s == NULL)
		return NULL;
	for (k = m->mask ? ptr_hash(s) & m->mask : 0; m->mask && m->from[k] != NULL; k = (k + 1) & m->mask)
		if (m->from[k] == s)
			return m->to[k];
	copy = own(p, s);
	own_map_put(m, s, copy);
	/* A change list shared by several actions is met again, already copied. */
	own_map_put(m, copy, copy);
	return copy;
}

/* own_strings - copies what may point into the make-believe state (freed next). */
static void own_strings(PgcPlan *p)
{
	OwnMap m = {NULL, NULL, 0, 0};
	size_t i, j;

	for (i = 0; i < p->n_actions; i++) {
		PgcAction *act = &p->actions[i];

		for (j = 0; j < act->n_changes; j++) {
			act->changes[j].key = own_once(p, &m, act->changes[j].key);
			act->changes[j].from = own_once(p, &m, act->changes[j].from);
			act->changes[j].to = own_once(p, &m, act->changes[j].to);
		}
		/* a slot's name may be the make-believe one */
		act->payload.target = own_once(p, &m, act->payload.target);
	}
	free(m.from);
	free(m.to);
	for (i = 0; i < p->n_orphans; i++) {
		p->orphans[i].kind = own(p, p->orphans[i].kind);
		p->orphans[i].name = own(p, p->orphans[i].name);
		p->orphans[i].node = own(p, p->orphans[i].node);
	}
}

static void add_orphan(PgcPlanBuilder *b, const char *cluster, const char *node, const char *kind,
		       const char *name, const char *message)
{
	PgcPlan *p = b->p;

	builder_orphan(b, own(p, cluster), own(p, node), kind, own(p, name), message);
}

static bool selected(const PgcPolicy *policy, const char *cluster)
{
	return policy->only_cluster == NULL || strcmp(policy->only_cluster, cluster) == 0;
}

/* removed - what the base declared and the head no longer does: left in place. */
static void removed(PgcPlan *p, const PgcTopology *base, const PgcTopology *head,
		    const PgcPolicy *policy)
{
	PgcPlanBuilder b;
	size_t i, j;

	builder_init(&b, p);
	for (i = 0; base != NULL && i < base->n_clusters; i++) {
		const PgcCluster *bc = &base->clusters[i];
		const PgcCluster *hc = topology_cluster(head, bc->name);

		if (!selected(policy, bc->name))
			continue;
		if (hc == NULL) {
			add_orphan(&b, bc->name, NULL, "cluster", bc->name,
				   arena_printf(p->arena,
						"cluster \"%s\" is no longer in the topology; pgconverge "
						"leaves its %zu server%s and data directories in place: "
						"stop and remove them by hand",
						bc->name, bc->n_nodes, bc->n_nodes == 1 ? "" : "s"));
			continue;
		}
		for (j = 0; j < bc->n_nodes; j++) {
			const PgcNode *bn = &bc->nodes[j];
			const PgcNode *hn = cluster_node(hc, bn->name);

			if (hn == NULL)
				add_orphan(&b, bc->name, bn->name, "node", bn->name,
					   arena_printf(p->arena,
							"node \"%s\" is no longer in the topology; "
							"pgconverge leaves its server and data directory "
							"\"%s\" in place: stop and remove them by hand",
							bn->name, bn->data_dir.v));
			else if (!streq(bn->data_dir.v, hn->data_dir.v))
				add_orphan(&b, bc->name, bn->name, "node", bn->name,
					   arena_printf(p->arena,
							"data_dir of \"%s\" moves from \"%s\" to \"%s\": the "
							"node is created anew there; stop the server in the "
							"old data directory, which is left in place",
							bn->name, bn->data_dir.v, hn->data_dir.v));
		}
	}
}

/*
 * switchovers - a cluster whose primary changes: the new primary's first
 * action (its configuration, which drops primary_conninfo) stands for the
 * switchover, blocked unless the policy allows it.
 */
static void switchovers(PgcPlan *p, const PgcTopology *base, const PgcTopology *head,
			const PgcPolicy *policy)
{
	size_t i, k;

	for (i = 0; base != NULL && i < head->n_clusters; i++) {
		const PgcCluster *hc = &head->clusters[i];
		const PgcCluster *bc = topology_cluster(base, hc->name);

		if (bc == NULL || !selected(policy, hc->name) || streq(bc->primary.v, hc->primary.v) ||
		    bc->primary.v == NULL || hc->primary.v == NULL)
			continue;
		for (k = 0; k < p->n_actions; k++) {
			PgcAction *act = &p->actions[k];

			if (!streq(act->cluster, hc->name) || !streq(act->node, hc->primary.v))
				continue;
			act->impact = IMPACT_SWITCHOVER;
			act->reason = arena_printf(p->arena,
						   "the primary moves from \"%s\" to \"%s\": a switchover "
						   "(\"%s\" is promoted, \"%s\" follows it); %s",
						   bc->primary.v, hc->primary.v, hc->primary.v,
						   bc->primary.v, act->reason);
			if (!policy->allow_switchover) {
				act->blocked = true;
				act->blocked_reason = "moving the primary needs --allow-switchover";
			}
			break;
		}
	}
}

PgcPlan *plan_offline(const PgcTopology *base, const PgcTopology *head, const PgcPolicy *policy)
{
	PgcArena *a = arena_new();
	PgcPolicy none;
	PgcObserved *obs;
	PgcPlan *p;

	if (policy == NULL) {
		memset(&none, 0, sizeof none);
		policy = &none;
	}
	obs = synth_observed(a, base, head);
	p = plan_build(head, obs, policy);
	if (p == NULL) {
		arena_free(a);
		return NULL;
	}
	own_strings(p);
	arena_free(a);
	/* Nothing was observed: no fingerprint, and apply must refuse it. */
	p->offline = true;
	p->n_fp = 0;
	p->fp_nodes = NULL;
	p->fp_values = NULL;
	switchovers(p, base, head, policy);
	removed(p, base, head, policy);
	return p;
}

void plan_set_source(PgcPlan *p, const PgcSource *src)
{
	bool git;

	if (p == NULL || src == NULL || src->kind == NULL)
		return;
	git = strcmp(src->kind, "git") == 0;
	p->source_kind = own(p, src->kind);
	p->source_path = own(p, src->path);
	p->source_digest = own(p, src->digest);
	p->source_ref = git ? own(p, src->ref) : NULL;
	p->source_commit = git ? own(p, src->commit) : NULL;
}
