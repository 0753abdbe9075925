/*
 * tests/unit/test_plan_region_switch.c - the region switch in the plan
 * (plan_region_switch(), reconcile/standby/plan_standby.h) on hand-built
 * observed states: two clusters eu (eu1, eu2) and us (us1, us2), the file
 * swapping standby_of between them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/diag.h"
#include "reconcile/planner.h"
#include "schema/topology.h"

#define COMMON                                                                  \
	"    settings: {max_connections: 100}\n"

#define PRIMARY_PART                                                            \
	"    replication: {user: repl, password: {env: REPL_PW}}\n"            \
	"    roles:\n"                                                          \
	"      app: {login: true}\n"

#define EU_NODES                                                                \
	"  eu:\n"                                                               \
	"    primary: eu1\n"                                                    \
	"    nodes:\n"                                                          \
	"      eu1: {port: 25470, data_dir: data/eu1}\n"                        \
	"      eu2: {port: 25471, data_dir: data/eu2}\n" COMMON

#define US_NODES                                                                \
	"  us:\n"                                                               \
	"    primary: us1\n"                                                    \
	"    nodes:\n"                                                          \
	"      us1: {port: 25472, data_dir: data/us1}\n"                        \
	"      us2: {port: 25473, data_dir: data/us2}\n" COMMON

/* BEFORE: eu the primary cluster, us its standby cluster. AFTER: swapped. */
#define BEFORE "version: 1\nclusters:\n" EU_NODES PRIMARY_PART US_NODES "    standby_of: eu\n"
#define AFTER "version: 1\nclusters:\n" EU_NODES "    standby_of: us\n" US_NODES PRIMARY_PART

/* DETACHED: us without standby_of, eu keeping none for it (not a swap). */
#define DETACHED "version: 1\nclusters:\n" EU_NODES PRIMARY_PART US_NODES PRIMARY_PART
/* DETACHED_BARE: only the standby_of line deleted (us streams as eu's replication user until detached). */
#define DETACHED_BARE "version: 1\nclusters:\n" EU_NODES PRIMARY_PART US_NODES

static PgcTopology *load(const char *yaml)
{
	PgcLoadOptions opts = {.base_dir = "/srv/topo", .offline = true};
	PgcDiagList diags = {0};
	PgcTopology *t = topology_load_buffer(yaml, strlen(yaml), "t.yaml", &opts, &diags);

	assert_non_null(t);
	assert_int_equal(diag_count(&diags, DIAG_ERROR), 0);
	diag_free(&diags);
	return t;
}

/*
 * observed - eu1 takes writes; eu2 streams from eu1; us1 streams from eu1
 * (the standby leader); us2 from us1. All local, running.
 */
static PgcObserved *observed(const PgcTopology *t)
{
	PgcArena *a = arena_new();
	PgcObserved *o = arena_calloc(a, 1, sizeof(*o));

	o->arena = a;
	o->observed_at = "2026-12-07T03:00:00Z";
	o->n_clusters = t->n_clusters;
	o->clusters = arena_calloc(a, t->n_clusters, sizeof(PgcObsCluster));
	for (size_t i = 0; i < t->n_clusters; i++) {
		const PgcCluster *c = &t->clusters[i];

		o->clusters[i].name = c->name;
		o->clusters[i].n_nodes = c->n_nodes;
		o->clusters[i].nodes = arena_calloc(a, c->n_nodes, sizeof(PgcObsNode));
		for (size_t j = 0; j < c->n_nodes; j++) {
			PgcObsNode *n = &o->clusters[i].nodes[j];
			bool eu1 = strcmp(c->nodes[j].name, "eu1") == 0;

			n->name = c->nodes[j].name;
			n->cluster = c->name;
			n->local = true;
			n->dir_state = DIR_INITIALIZED;
			n->pg_version_major = 15;
			n->system_identifier = 7441234567890123456ULL;
			n->timeline = 1;
			n->cluster_state = eu1 ? "in production" : "in archive recovery";
			n->data_checksums = true;
			n->standby_signal = !eu1;
			n->postmaster_pid = 4000 + (long)j;
			n->postmaster_alive = true;
			n->reachable = true;
			n->server_version_num = 150010;
			n->in_recovery = !eu1;
			n->wal_receiver_last_msg_age_s = eu1 ? -1 : 0.2;
			if (!eu1) {
				bool from_us1 = strcmp(n->name, "us2") == 0;

				n->upstream_host = "127.0.0.1";
				n->upstream_port = from_us1 ? 25472 : 25470;
				n->wal_receiver_status = "streaming";
			}
		}
	}
	return o;
}

static PgcObsNode *onode(PgcObserved *o, const char *name)
{
	for (size_t i = 0; i < o->n_clusters; i++)
		for (size_t j = 0; j < o->clusters[i].n_nodes; j++)
			if (strcmp(o->clusters[i].nodes[j].name, name) == 0)
				return &o->clusters[i].nodes[j];
	fail_msg("no observed node \"%s\"", name);
	return NULL;
}

static PgcPlan *plan(const PgcTopology *t, const PgcObserved *o, bool allow_switchover)
{
	PgcPolicy pol = {.allow_switchover = allow_switchover, .now = 1796000000};

	return plan_build(t, o, &pol);
}

static size_t count_kind(const PgcPlan *p, PgcActionKind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_actions; i++)
		n += p->actions[i].kind == kind;
	return n;
}

/* The swap while us1 streams from eu1: one action, blocked without the flag. */
static void test_swap_blocked(void **state)
{
	PgcTopology *t = load(AFTER);
	PgcObserved *o = observed(t);
	PgcPlan *p = plan(t, o, false);
	const PgcAction *a;

	(void)state;
	assert_int_equal(count_kind(p, ACT_REGION_SWITCH), 1);
	a = plan_find_action(p, "us/us1/region-switch");
	assert_non_null(a);
	assert_int_equal(a->kind, ACT_REGION_SWITCH);
	assert_int_equal(a->impact, IMPACT_SWITCHOVER);
	assert_true(a->blocked);
	assert_non_null(strstr(a->blocked_reason, "--allow-switchover"));
	assert_string_equal(a->payload.target, "switch");
	assert_string_equal(a->payload.upstream, "eu/eu1");
	assert_non_null(strstr(a->reason, "replayed its shutdown checkpoint"));
	assert_true(a->n_changes >= 4);
	plan_free(p);
	arena_free(o->arena);
	topology_free(t);
}

/*
 * Blocked, the clusters are planned as they run: exactly the actions the
 * file before the swap gives on the same observed state (nothing turns
 * eu1 into a standby, nothing re-points us1).
 */
static void test_swap_blocked_plans_as_before(void **state)
{
	PgcTopology *t = load(AFTER), *before = load(BEFORE);
	PgcObserved *o = observed(t);
	PgcPlan *p = plan(t, o, false), *q = plan(before, o, false);

	(void)state;
	assert_int_equal(p->actions[0].kind, ACT_REGION_SWITCH);
	assert_int_equal(p->n_actions, q->n_actions + 1);
	for (size_t i = 0; i < q->n_actions; i++) {
		assert_string_equal(p->actions[i + 1].id, q->actions[i].id);
		assert_int_equal(p->actions[i + 1].impact, q->actions[i].impact);
		if (p->actions[i + 1].payload.content != NULL)
			assert_string_equal(p->actions[i + 1].payload.content, q->actions[i].payload.content);
	}
	for (size_t i = 1; i < p->n_actions; i++)
		assert_true(p->actions[i].kind != ACT_SWITCHOVER && p->actions[i].kind != ACT_REJOIN &&
			    p->actions[i].kind != ACT_CLONE);
	plan_free(p);
	plan_free(q);
	arena_free(o->arena);
	topology_free(t);
	topology_free(before);
}

/* Runnable, it is the only action of both clusters. */
static void test_swap_runnable_alone(void **state)
{
	PgcTopology *t = load(AFTER);
	PgcObserved *o = observed(t);
	PgcPlan *p = plan(t, o, true);

	(void)state;
	assert_int_equal(p->n_actions, 1);
	assert_int_equal(p->actions[0].kind, ACT_REGION_SWITCH);
	assert_string_equal(p->actions[0].id, "us/us1/region-switch");
	assert_false(p->actions[0].blocked);
	plan_free(p);
	arena_free(o->arena);
	topology_free(t);
}

/* A saved plan with the action reads back the same (kind, payload, changes). */
static void test_saved_plan_round_trip(void **state)
{
	PgcTopology *t = load(AFTER);
	PgcObserved *o = observed(t);
	PgcPlan *p = plan(t, o, true), *back;
	json_t *j = plan_to_json(p);
	char err[256], why[256];

	(void)state;
	back = plan_from_json(j, err, sizeof err);
	assert_non_null(back);
	assert_int_equal(plan_compare_actions(back, p, why, sizeof why), 0);
	assert_int_equal(back->actions[0].kind, ACT_REGION_SWITCH);
	assert_string_equal(back->actions[0].payload.upstream, "eu/eu1");
	json_decref(j);
	plan_free(back);
	plan_free(p);
	arena_free(o->arena);
	topology_free(t);
}

/* us1 does not stream from eu1: blocked even with the flag, and why. */
static void test_swap_waits_for_stream(void **state)
{
	PgcTopology *t = load(AFTER);
	PgcObserved *o = observed(t);
	PgcPlan *p;

	(void)state;
	onode(o, "us1")->wal_receiver_status = NULL;
	p = plan(t, o, true);
	assert_int_equal(count_kind(p, ACT_REGION_SWITCH), 1);
	assert_true(p->actions[0].blocked);
	assert_non_null(strstr(p->actions[0].blocked_reason, "does not stream from \"eu1\""));
	assert_true(p->n_actions >= 1);
	plan_free(p);
	arena_free(o->arena);
	topology_free(t);
}

/* us1 promoted already (a region failover), eu1 down as a primary: only the rejoin. */
static void test_already_promoted_rejoin_only(void **state)
{
	PgcTopology *t = load(AFTER);
	PgcObserved *o = observed(t);
	PgcObsNode *us1 = onode(o, "us1"), *eu1 = onode(o, "eu1");
	PgcPlan *p;

	(void)state;
	us1->in_recovery = false;
	us1->standby_signal = false;
	us1->upstream_host = NULL;
	us1->wal_receiver_status = NULL;
	us1->timeline = 2;
	eu1->reachable = false;
	eu1->postmaster_alive = false;
	eu1->postmaster_pid = 0;
	p = plan(t, o, false);
	assert_int_equal(p->n_actions, 1);
	assert_string_equal(p->actions[0].id, "us/us1/region-switch");
	assert_string_equal(p->actions[0].payload.target, "rejoin");
	assert_int_equal(p->actions[0].impact, IMPACT_RESTART);
	assert_false(p->actions[0].blocked);
	plan_free(p);
	/* eu1 still taking writes: the same (it is fenced by the rejoin). */
	eu1->reachable = true;
	eu1->postmaster_alive = true;
	p = plan(t, o, false);
	assert_int_equal(p->n_actions, 1);
	assert_string_equal(p->actions[0].payload.target, "rejoin");
	plan_free(p);
	arena_free(o->arena);
	topology_free(t);
}

/*
 * eu1 fenced after us's region failover (down, a primary's control file and
 * the fence's standby.signal): the swapped file still rejoins it; not when
 * a node of eu is on a newer timeline (eu1 is then an old primary of eu's
 * own failover, not eu's primary).
 */
static void test_fenced_primary_rejoined(void **state)
{
	PgcTopology *t = load(AFTER);
	PgcObserved *o = observed(t);
	PgcObsNode *us1 = onode(o, "us1"), *eu1 = onode(o, "eu1"), *eu2 = onode(o, "eu2");
	PgcPlan *p;

	(void)state;
	us1->in_recovery = false;
	us1->standby_signal = false;
	us1->upstream_host = NULL;
	us1->wal_receiver_status = NULL;
	us1->timeline = 2;
	eu1->reachable = eu1->postmaster_alive = false;
	eu1->postmaster_pid = 0;
	eu1->standby_signal = true;
	eu1->cluster_state = "shut down";
	eu2->reachable = eu2->postmaster_alive = false;
	eu2->postmaster_pid = 0;
	eu2->cluster_state = "shut down in recovery";
	p = plan(t, o, false);
	assert_true(p->n_actions >= 1);
	assert_string_equal(p->actions[0].id, "us/us1/region-switch");
	assert_string_equal(p->actions[0].payload.target, "rejoin");
	assert_string_equal(p->actions[0].payload.upstream, "eu/eu1");
	plan_free(p);
	/* eu2 on a newer timeline than eu1: eu1 is not eu's primary. */
	eu2->timeline = 3;
	p = plan(t, o, false);
	for (size_t i = 0; i < p->n_actions; i++)
		assert_true(p->actions[i].kind != ACT_REGION_SWITCH ||
			    strcmp(p->actions[i].payload.upstream, "eu/eu1") != 0);
	plan_free(p);
	arena_free(o->arena);
	topology_free(t);
}

/* Switched already: eu1 a standby streaming from us1, nothing of the switch is planned. */
static void test_switched_no_action(void **state)
{
	PgcTopology *t = load(AFTER);
	PgcObserved *o = observed(t);
	PgcObsNode *us1 = onode(o, "us1"), *eu1 = onode(o, "eu1");
	PgcPlan *p;

	(void)state;
	us1->in_recovery = false;
	us1->standby_signal = false;
	us1->upstream_host = NULL;
	us1->wal_receiver_status = NULL;
	us1->timeline = 2;
	eu1->in_recovery = true;
	eu1->standby_signal = true;
	eu1->cluster_state = "in archive recovery";
	eu1->upstream_host = "127.0.0.1";
	eu1->upstream_port = 25472;
	eu1->wal_receiver_status = "streaming";
	p = plan(t, o, true);
	assert_int_equal(count_kind(p, ACT_REGION_SWITCH), 0);
	for (size_t i = 0; i < p->n_actions; i++)
		assert_true(p->actions[i].kind != ACT_SWITCHOVER && p->actions[i].kind != ACT_REJOIN &&
			    p->actions[i].kind != ACT_CLONE);
	plan_free(p);
	arena_free(o->arena);
	topology_free(t);
}

/* The file before the swap: no region switch. */
static void test_no_swap_no_action(void **state)
{
	PgcTopology *t = load(BEFORE);
	PgcObserved *o = observed(t);
	PgcPlan *p = plan(t, o, true);

	(void)state;
	assert_int_equal(count_kind(p, ACT_REGION_SWITCH), 0);
	plan_free(p);
	arena_free(o->arena);
	topology_free(t);
}

/* --cluster us: eu not observed, us1 streams from eu1: blocked, us planned as it runs. */
static void test_only_new_primary_cluster(void **state)
{
	PgcTopology *t = load(AFTER), *before = load(BEFORE);
	PgcObserved *o = observed(t);
	PgcPolicy pol = {.allow_switchover = true, .only_cluster = "us"};
	PgcPlan *p, *q;

	(void)state;
	/* only us observed */
	o->clusters = &o->clusters[1];
	o->n_clusters = 1;
	p = plan_build(t, o, &pol);
	q = plan_build(before, o, &pol);
	assert_int_equal(count_kind(p, ACT_REGION_SWITCH), 1);
	assert_true(p->actions[0].blocked);
	assert_non_null(strstr(p->actions[0].blocked_reason, "without --cluster"));
	assert_int_equal(p->n_actions, q->n_actions + 1);
	for (size_t i = 0; i < q->n_actions; i++) {
		assert_string_equal(p->actions[i + 1].id, q->actions[i].id);
		if (p->actions[i + 1].payload.content != NULL)
			assert_string_equal(p->actions[i + 1].payload.content, q->actions[i].payload.content);
	}
	plan_free(p);
	plan_free(q);
	arena_free(o->arena);
	topology_free(t);
	topology_free(before);
}

/* The offline plan (plan --offline): no region switch, nothing observed. */
static void test_offline(void **state)
{
	PgcTopology *t = load(AFTER);
	PgcPlan *p = plan_build(t, NULL, NULL);

	(void)state;
	assert_int_equal(count_kind(p, ACT_REGION_SWITCH), 0);
	plan_free(p);
	topology_free(t);
}

/* ---- the detach: standby_of removed from us, eu unchanged ---- */

/* One action, us/us1/region-switch "detach", blocked without the flag. */
static void test_detach_blocked(void **state)
{
	PgcTopology *t = load(DETACHED);
	PgcObserved *o = observed(t);
	PgcPlan *p = plan(t, o, false);
	const PgcAction *a;

	(void)state;
	assert_int_equal(count_kind(p, ACT_REGION_SWITCH), 1);
	a = plan_find_action(p, "us/us1/region-switch");
	assert_non_null(a);
	assert_int_equal(a->impact, IMPACT_SWITCHOVER);
	assert_string_equal(a->payload.target, "detach");
	assert_string_equal(a->payload.upstream, "eu/eu1");
	assert_true(a->blocked);
	assert_non_null(strstr(a->blocked_reason, "--allow-switchover"));
	assert_non_null(strstr(a->blocked_reason, "to detach"));
	assert_non_null(strstr(a->reason, "forks from \"eu\""));
	assert_non_null(strstr(a->reason, "keeps running"));
	assert_true(a->n_changes >= 2);
	plan_free(p);
	arena_free(o->arena);
	topology_free(t);
}

/*
 * Blocked, us is planned as the standby cluster it still is: exactly the
 * actions of the file with standby_of on the same observed state (no role
 * created on the read-only us1, its conninfo and slot kept, no trust line).
 */
static void blocked_plans_as_standby(const char *yaml)
{
	PgcTopology *t = load(yaml), *before = load(BEFORE);
	PgcObserved *o = observed(t);
	PgcPlan *p = plan(t, o, false), *q = plan(before, o, false);

	assert_int_equal(p->actions[0].kind, ACT_REGION_SWITCH);
	assert_int_equal(p->n_actions, q->n_actions + 1);
	for (size_t i = 0; i < q->n_actions; i++) {
		assert_string_equal(p->actions[i + 1].id, q->actions[i].id);
		assert_int_equal(p->actions[i + 1].impact, q->actions[i].impact);
		if (p->actions[i + 1].payload.content != NULL)
			assert_string_equal(p->actions[i + 1].payload.content, q->actions[i].payload.content);
	}
	for (size_t i = 1; i < p->n_actions; i++) {
		assert_true(p->actions[i].kind != ACT_DROP_SLOT && p->actions[i].kind != ACT_CLONE &&
			    p->actions[i].kind != ACT_SWITCHOVER);
		if (strcmp(p->actions[i].cluster, "us") == 0)
			assert_true(p->actions[i].kind != ACT_CREATE_ROLE);
	}
	plan_free(p);
	plan_free(q);
	arena_free(o->arena);
	topology_free(t);
	topology_free(before);
}

static void test_detach_blocked_plans_as_standby(void **state)
{
	(void)state;
	blocked_plans_as_standby(DETACHED);
	blocked_plans_as_standby(DETACHED_BARE);
}

/* Runnable: the only action of us; eu is planned as before (it keeps us's slot in this pass). */
static void test_detach_runnable_alone(void **state)
{
	PgcTopology *t = load(DETACHED), *before = load(BEFORE);
	PgcObserved *o = observed(t);
	PgcPlan *p = plan(t, o, true), *q = plan(before, o, true);
	size_t n_eu = 0;

	(void)state;
	assert_string_equal(p->actions[0].id, "us/us1/region-switch");
	assert_string_equal(p->actions[0].payload.target, "detach");
	assert_false(p->actions[0].blocked);
	for (size_t i = 1; i < p->n_actions; i++)
		assert_string_equal(p->actions[i].cluster, "eu");
	for (size_t i = 0; i < q->n_actions; i++)
		if (strcmp(q->actions[i].cluster, "eu") == 0) {
			assert_true(n_eu + 1 < p->n_actions);
			assert_string_equal(p->actions[++n_eu].id, q->actions[i].id);
		}
	assert_int_equal(p->n_actions, n_eu + 1);
	plan_free(p);
	plan_free(q);
	arena_free(o->arena);
	topology_free(t);
	topology_free(before);
}

/* Detached: us1 takes writes; its slot on eu1 is dropped once unused, never while us1 may need it. */
static void test_detached_drops_slot(void **state)
{
	PgcTopology *t = load(DETACHED);
	PgcObserved *o = observed(t);
	PgcObsNode *us1 = onode(o, "us1"), *eu1 = onode(o, "eu1");
	PgcObsSlot slot = {.slot_name = "pgc_standby_us", .slot_type = "physical", .active = false};
	const PgcAction *a;
	PgcPlan *p;

	(void)state;
	us1->in_recovery = false;
	us1->standby_signal = false;
	us1->upstream_host = NULL;
	us1->wal_receiver_status = NULL;
	us1->timeline = 2;
	eu1->slots = &slot;
	eu1->n_slots = 1;
	p = plan(t, o, false);
	assert_int_equal(count_kind(p, ACT_REGION_SWITCH), 0);
	a = NULL;
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].kind == ACT_DROP_SLOT)
			a = &p->actions[i];
	assert_non_null(a);
	assert_string_equal(a->cluster, "eu");
	assert_string_equal(a->node, "eu1");
	assert_string_equal(a->payload.target, "pgc_standby_us");
	plan_free(p);
	/* Still in use (something streams through it): left alone. */
	slot.active = true;
	p = plan(t, o, false);
	assert_int_equal(count_kind(p, ACT_DROP_SLOT), 0);
	plan_free(p);
	/* us1 not seen (down): it may still need the slot, left alone. */
	slot.active = false;
	us1->reachable = false;
	p = plan(t, o, false);
	assert_int_equal(count_kind(p, ACT_DROP_SLOT), 0);
	plan_free(p);
	/* us1 seen in recovery, still configured for eu1 (a detach pending, its
	 * stream broken for a moment): left alone. */
	us1->reachable = true;
	us1->in_recovery = true;
	us1->upstream_host = "127.0.0.1";
	us1->upstream_port = 25470;
	p = plan(t, o, false);
	assert_int_equal(count_kind(p, ACT_DROP_SLOT), 0);
	plan_free(p);
	eu1->slots = NULL;
	eu1->n_slots = 0;
	arena_free(o->arena);
	topology_free(t);
}

/* us1 streams from nowhere in another cluster (a plain primary cluster's replica state): no detach. */
static void test_detach_needs_stream_from_other_cluster(void **state)
{
	PgcTopology *t = load(DETACHED);
	PgcObserved *o = observed(t);
	PgcPlan *p;

	(void)state;
	onode(o, "us1")->upstream_port = 25473; /* us2, a node of us itself */
	p = plan(t, o, true);
	assert_int_equal(count_kind(p, ACT_REGION_SWITCH), 0);
	plan_free(p);
	arena_free(o->arena);
	topology_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_swap_blocked),
	    cmocka_unit_test(test_swap_blocked_plans_as_before),
	    cmocka_unit_test(test_swap_runnable_alone),
	    cmocka_unit_test(test_saved_plan_round_trip),
	    cmocka_unit_test(test_swap_waits_for_stream),
	    cmocka_unit_test(test_already_promoted_rejoin_only),
	    cmocka_unit_test(test_fenced_primary_rejoined),
	    cmocka_unit_test(test_switched_no_action),
	    cmocka_unit_test(test_no_swap_no_action),
	    cmocka_unit_test(test_only_new_primary_cluster),
	    cmocka_unit_test(test_offline),
	    cmocka_unit_test(test_detach_blocked),
	    cmocka_unit_test(test_detach_blocked_plans_as_standby),
	    cmocka_unit_test(test_detach_runnable_alone),
	    cmocka_unit_test(test_detached_drops_slot),
	    cmocka_unit_test(test_detach_needs_stream_from_other_cluster),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
