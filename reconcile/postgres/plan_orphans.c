/*
 * reconcile/postgres/plan_orphans.c - what the servers hold that the file
 * does not declare: reported as orphans, never removed, except a slot a
 * replica left behind when it moved to another upstream (plan_work.h).
 */
#include "reconcile/postgres/plan_work.h"

#include <string.h>
#include <strings.h>

/* ---- orphans ------------------------------------------------------------------ */

/* repoints - the plan rewrites the node's upstream or slot settings. */
static bool repoints(const NodeWork *kw)
{
	if (kw->id_config == NULL)
		return false;
	for (size_t i = 0; i < kw->n_deltas; i++)
		if (streq(kw->deltas[i].key, "primary_conninfo") ||
		    streq(kw->deltas[i].key, "primary_slot_name"))
			return true;
	return false;
}

/*
 * gone_elsewhere - the replica is seen streaming without this slot: from a
 * node other than up, or from up with another primary_slot_name (none).
 */
static bool gone_elsewhere(const NodeWork *kw, const NodeWork *up, const char *slot)
{
	const PgcObsNode *o = kw->o;
	const PgcObsSetting *s;

	if (o == NULL || !o->reachable || !o->in_recovery ||
	    !streq(o->wal_receiver_status, "streaming") || o->upstream_port <= 0)
		return false;
	if (o->upstream_port != (int)up->n->port.v ||
	    (o->upstream_host != NULL && up->n->host.v != NULL &&
	     !streq(o->upstream_host, up->n->host.v)))
		return true;
	s = find_setting(o, "primary_slot_name");
	return s != NULL && !streq(s->setting, slot);
}

/*
 * emit_stale_slot - a physical slot on nw named after replica kw that does
 * not stream through it any more (re-pointed, or slots turned off): it
 * would hold WAL back on nw for ever. Dropped when this plan re-points kw
 * (after that) or kw is seen streaming without it; dropped once unused (in
 * use while kw switches over: the drop waits for it).
 * false when the slot is not for dropping (then it is reported as an orphan).
 */
static bool emit_stale_slot(Ctx *x, const NodeWork *nw, const PgcObsSlot *s)
{
	const NodeWork *kw = NULL;
	PgcAction *act;

	if (!streq(s->slot_type, "physical"))
		return false;
	for (size_t k = 0; k < x->nw && kw == NULL; k++)
		if (streq(s->slot_name, plan_slot_name(x->a, x->w[k].n->name)))
			kw = &x->w[k];
	/* Only on evidence that the replica lets go of it: a down or unseen
	 * replica still points at it and needs it when it comes back. */
	if (kw == NULL || (!repoints(kw) && !gone_elsewhere(kw, nw, s->slot_name)))
		return false;
	act = emit(x, ACT_DROP_SLOT, nw, s->slot_name, IMPACT_NONE,
		   arena_printf(x->a,
				"physical slot \"%s\" on \"%s\" is named after replica \"%s\", "
				"which %s: unused, it would hold WAL back on \"%s\" for ever",
				s->slot_name, nw->n->name, kw->n->name,
				!x->c->replication.slots.v ? "streams without a slot now (replication.slots "
							     "is false)"
				: kw == nw			   ? "is this node"
							   : "does not stream from it any more",
				nw->n->name));
	act->payload.path = NULL;
	act->payload.target = s->slot_name;
	builder_change(x->b, act, arena_printf(x->a, "slot \"%s\"", s->slot_name),
	       s->active ? "in use (the replica is switching over)" : "unused", NULL);
	builder_depend(x->b, act, kw->id_config);
	builder_depend(x->b, act, kw->id_reload);
	builder_depend(x->b, act, kw->id_restart);
	builder_depend(x->b, act, kw->id_start);
	return true;
}

/*
 * kept_slot - a slot a standby cluster streams through (PgcCluster.kept_slots):
 * expected on the primary. On another node it was left by a switchover or
 * failover of this cluster (the standby leader follows the new primary):
 * dropped, else it would hold WAL back there. In use, the leader still
 * streams from here: the drop waits until the plan has re-pointed it
 * (reconcile/standby/ links the two), and with --cluster (the standby
 * cluster not planned) it is left for a later pass. true when the slot is
 * one of them.
 */
static bool kept_slot(Ctx *x, const NodeWork *nw, const PgcObsSlot *s)
{
	PgcAction *act;
	bool kept = false;

	for (size_t i = 0; i < x->c->n_kept_slots && !kept; i++)
		kept = streq(s->slot_name, x->c->kept_slots[i]);
	if (!kept || nw->primary || (s->active && x->policy->only_cluster != NULL))
		return kept;
	act = emit(x, ACT_DROP_SLOT, nw, s->slot_name, IMPACT_NONE,
		   arena_printf(x->a,
				"physical slot \"%s\" on \"%s\" served a standby cluster when \"%s\" was "
				"the primary; the slot lives on the primary \"%s\" now: unused here, it "
				"would hold WAL back for ever",
				s->slot_name, nw->n->name, nw->n->name, x->pw ? x->pw->n->name : "?"));
	act->payload.path = NULL;
	act->payload.target = s->slot_name;
	builder_change(x->b, act, arena_printf(x->a, "slot \"%s\"", s->slot_name),
		       s->active ? "in use (until the standby leader is re-pointed)" : "unused", NULL);
	return true;
}

/*
 * released_slot - a slot pgc_standby_<Y> of a cluster Y of the file that is
 * no standby cluster of this one (PgcCluster.released_slots: detached, or
 * moved to another source): dropped once unused, wherever it is; in use
 * (Y's leader still streams through it), reported as an orphan. true when
 * the drop is planned.
 */
static bool released_slot(Ctx *x, const NodeWork *nw, const PgcObsSlot *s)
{
	PgcAction *act;
	bool released = false;

	for (size_t i = 0; i < x->c->n_released_slots && !released; i++)
		released = streq(s->slot_name, x->c->released_slots[i]);
	if (!released || s->active || !streq(s->slot_type, "physical"))
		return false;
	act = emit(x, ACT_DROP_SLOT, nw, s->slot_name, IMPACT_NONE,
		   arena_printf(x->a,
				"physical slot \"%s\" on \"%s\" served a standby cluster that is no "
				"standby cluster of \"%s\" any more (detached, or streaming from "
				"elsewhere): unused, it would hold WAL back for ever",
				s->slot_name, nw->n->name, x->c->name));
	act->payload.path = NULL;
	act->payload.target = s->slot_name;
	builder_change(x->b, act, arena_printf(x->a, "slot \"%s\"", s->slot_name), "unused", NULL);
	return true;
}

void plan_orphans_find(Ctx *x)
{
	const PgcCluster *c = x->c;
	const NodeWork *pw = x->pw;
	const char *os_user = c->os_user.v ? c->os_user.v : "postgres";
	size_t i, j, k;

	if (pw != NULL && pw->state == NS_RUNNING && pw->reachable) {
		for (i = 0; i < pw->o->n_roles; i++) {
			const char *name = pw->o->roles[i].name;

			if (name == NULL || strncmp(name, "pg_", 3) == 0 || strcmp(name, os_user) == 0 ||
			    streq(name, c->replication.user.v) || plan_roles_declared(c, name) != NULL)
				continue;
			/* Database Monitoring's explain role (reconcile/datadog/datadog.h) */
			if (c->monitoring.datadog.set && c->monitoring.datadog.dbm.v &&
			    streq(name, PGC_DATADOG_EXPLAIN_ROLE))
				continue;
			orphan(x, pw->n->name, "role", name,
			       arena_printf(x->a, "role \"%s\" exists but is not in the topology; "
					    "pgconverge leaves it in place", name));
		}
		for (i = 0; i < pw->o->n_databases; i++) {
			const char *name = pw->o->databases[i].name;
			bool declared = false;

			if (name == NULL || strcmp(name, "postgres") == 0 ||
			    strcmp(name, "template0") == 0 || strcmp(name, "template1") == 0)
				continue;
			for (j = 0; j < c->n_databases; j++)
				declared |= strcmp(c->databases[j].name, name) == 0;
			if (!declared)
				orphan(x, pw->n->name, "database", name,
				       arena_printf(x->a, "database \"%s\" exists but is not in the "
						    "topology; pgconverge leaves it in place", name));
		}
	}
	for (i = 0; i < x->nw; i++) {
		const NodeWork *nw = &x->w[i];

		if (nw->state != NS_RUNNING || !nw->reachable)
			continue;
		for (j = 0; j < nw->o->n_slots; j++) {
			const PgcObsSlot *s = &nw->o->slots[j];
			bool expected = false;

			for (k = 0; k < c->n_nodes && c->replication.slots.v; k++) {
				const PgcNode *up = cluster_upstream(c, &c->nodes[k]);

				if (up == nw->n && streq(s->slot_name, plan_slot_name(x->a, c->nodes[k].name)))
					expected = true;
			}
			if (!expected && s->slot_name != NULL && !kept_slot(x, nw, s) &&
			    !released_slot(x, nw, s) && !emit_stale_slot(x, nw, s))
				orphan(x, nw->n->name, "slot", s->slot_name,
				       arena_printf(x->a, "%s replication slot \"%s\" on \"%s\" serves no "
						    "replica of the topology; it holds WAL back until "
						    "it is dropped",
						    s->slot_type ? s->slot_type : "replication",
						    s->slot_name, nw->n->name));
		}
		for (j = 0; j < nw->o->n_auto_conf; j++) {
			const PgcObsAutoConf *ac = &nw->o->auto_conf[j];

			if (ac->name == NULL || conf_get(nw->want, nw->n_want, ac->name) != NULL)
				continue;
			orphan(x, nw->n->name, "alter-system", ac->name,
			       arena_printf(x->a, "%s = '%s' is set by ALTER SYSTEM "
					    "(postgresql.auto.conf); pgconverge leaves it in place",
					    ac->name, ac->value ? ac->value : ""));
		}
	}
}
