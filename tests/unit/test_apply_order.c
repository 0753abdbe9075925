/*
 * tests/unit/test_apply_order.c - which earlier actions each action waits
 * for when apply runs independent ones at the same time (apply_order.h):
 * replicas set up side by side, upstream before downstream, a restart or
 * reload of an upstream after its replicas, cluster-wide and run-alone
 * actions, clusters independent of each other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/diag.h"
#include "reconcile/engine/apply_order.h"

static const char topology_yaml[] =
    "version: 1\n"
    "clusters:\n"
    "  main:\n"
    "    primary: pg1\n"
    "    nodes:\n"
    "      pg1: {host: 127.0.0.1, port: 25901, data_dir: /d/pg1}\n"
    "      pg2: {host: 127.0.0.1, port: 25902, data_dir: /d/pg2}\n"
    "      pg3: {host: 127.0.0.1, port: 25903, data_dir: /d/pg3}\n"
    "      pg4: {host: 127.0.0.1, port: 25904, data_dir: /d/pg4, replicate_from: pg2}\n"
    "  other:\n"
    "    primary: x1\n"
    "    nodes:\n"
    "      x1: {host: 127.0.0.1, port: 25911, data_dir: /d/x1}\n"
    "      x2: {host: 127.0.0.1, port: 25912, data_dir: /d/x2}\n";

typedef struct {
	PgcTopology *t;
	PgcDiagList diags;
	PgcArena *arena;
} Fixture;

static int setup(void **state)
{
	static Fixture f;
	PgcLoadOptions lo = {.offline = true};

	memset(&f, 0, sizeof(f));
	f.t = topology_load_buffer(topology_yaml, strlen(topology_yaml), "t.yaml", &lo, &f.diags);
	if (f.t == NULL || diag_count(&f.diags, DIAG_ERROR) != 0)
		return -1;
	f.arena = arena_new();
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	Fixture *f = *state;

	arena_free(f->arena);
	topology_free(f->t);
	diag_free(&f->diags);
	return 0;
}

/* act - an action of kind on cluster/node (node NULL: cluster-wide), id "cluster/node/name". */
static PgcAction act(Fixture *f, const char *cluster, const char *node, PgcActionKind kind,
		     const char *name)
{
	PgcAction a;

	memset(&a, 0, sizeof(a));
	a.id = arena_printf(f->arena, "%s/%s/%s", cluster, node ? node : "-", name);
	a.cluster = cluster;
	a.node = node;
	a.kind = kind;
	return a;
}

static void depend(Fixture *f, PgcAction *a, const char *id)
{
	const char **deps = arena_calloc(f->arena, a->n_depends_on + 1, sizeof(char *));

	if (a->n_depends_on)
		memcpy(deps, a->depends_on, a->n_depends_on * sizeof(char *));
	deps[a->n_depends_on++] = id;
	a->depends_on = deps;
}

/*
 * waits - the indices action i waits for, ascending, as "0,2,5" ("" for
 * none), so that a test states the whole set at once.
 */
static const char *waits(Fixture *f, const PgcActionOrder *o, size_t i)
{
	const char *s = "";
	size_t n = o[i].n_before;
	size_t sorted[64];

	assert_true(n <= 64);
	if (n > 0)
		memcpy(sorted, o[i].before, n * sizeof(size_t));
	for (size_t a = 0; a < n; a++)
		for (size_t b = a + 1; b < n; b++)
			if (sorted[b] < sorted[a]) {
				size_t tmp = sorted[a];

				sorted[a] = sorted[b];
				sorted[b] = tmp;
			}
	for (size_t k = 0; k < n; k++) {
		assert_true(sorted[k] < i);
		s = arena_printf(f->arena, "%s%s%zu", s, k ? "," : "", sorted[k]);
	}
	return s;
}

/* A new cluster: the primary first, then both replicas at once, each after its own slot. */
static void test_replicas_side_by_side(void **state)
{
	Fixture *f = *state;
	PgcAction a[10];
	PgcPlan p = {.actions = a, .n_actions = 10};
	PgcActionOrder *o;

	a[0] = act(f, "main", "pg1", ACT_INITDB, "initdb");
	a[1] = act(f, "main", "pg1", ACT_START, "start");
	a[2] = act(f, "main", "pg1", ACT_CREATE_ROLE, "create-role:replicator");
	a[3] = act(f, "main", "pg1", ACT_CREATE_SLOT, "create-slot:pg2");
	a[4] = act(f, "main", "pg2", ACT_CLONE, "clone");
	depend(f, &a[4], a[3].id);
	depend(f, &a[4], a[2].id);
	a[5] = act(f, "main", "pg2", ACT_START, "start");
	a[6] = act(f, "main", "pg1", ACT_CREATE_SLOT, "create-slot:pg3");
	a[7] = act(f, "main", "pg3", ACT_CLONE, "clone");
	depend(f, &a[7], a[6].id);
	a[8] = act(f, "main", "pg3", ACT_START, "start");
	/* A reload of the primary waits for what its replicas were doing before it. */
	a[9] = act(f, "main", "pg1", ACT_RELOAD, "reload");
	o = apply_order_build(f->arena, f->t, &p);

	assert_string_equal(waits(f, o, 0), "");
	assert_string_equal(waits(f, o, 1), "0");
	assert_string_equal(waits(f, o, 4), "2,3");
	assert_string_equal(waits(f, o, 5), "3,4");
	/* The slot for pg3 only adds to the primary: it does not wait for pg2. */
	assert_string_equal(waits(f, o, 6), "3");
	/* pg3's clone and start run beside pg2's. */
	assert_string_equal(waits(f, o, 7), "6");
	assert_string_equal(waits(f, o, 8), "6,7");
	assert_string_equal(waits(f, o, 9), "5,6,8");
}

/* A cascade waits for its whole upstream chain; a sibling branch does not. */
static void test_cascade(void **state)
{
	Fixture *f = *state;
	PgcAction a[6];
	PgcPlan p = {.actions = a, .n_actions = 6};
	PgcActionOrder *o;

	a[0] = act(f, "main", "pg1", ACT_WRITE_CONFIG, "config");
	a[1] = act(f, "main", "pg2", ACT_RESTART, "restart");
	a[2] = act(f, "main", "pg3", ACT_RESTART, "restart");
	a[3] = act(f, "main", "pg4", ACT_RELOAD, "reload");
	/* A clone from pg3 (as its payload says) waits for pg3 too. */
	a[4] = act(f, "main", "pg4", ACT_CLONE, "clone");
	a[4].payload.upstream = "pg3";
	/* A restart of pg2 waits for its cascade pg4, not for its sibling pg3. */
	a[5] = act(f, "main", "pg2", ACT_RESTART, "restart-again");
	o = apply_order_build(f->arena, f->t, &p);

	assert_string_equal(waits(f, o, 1), "0");
	assert_string_equal(waits(f, o, 2), "0");
	assert_string_equal(waits(f, o, 3), "0,1");
	assert_string_equal(waits(f, o, 4), "0,1,2,3");
	assert_string_equal(waits(f, o, 5), "0,1,4");
}

/* Cluster-wide actions go alone in their cluster; other clusters are independent. */
static void test_cluster_wide_and_clusters(void **state)
{
	Fixture *f = *state;
	PgcAction a[6];
	PgcPlan p = {.actions = a, .n_actions = 6};
	PgcActionOrder *o;

	a[0] = act(f, "main", "pg2", ACT_START, "start");
	a[1] = act(f, "other", "x2", ACT_START, "start");
	a[2] = act(f, "main", NULL, ACT_CREATE_ROLE, "cluster-wide");
	a[3] = act(f, "main", "pg3", ACT_START, "start");
	a[4] = act(f, "other", "x1", ACT_RELOAD, "reload");
	/* An unknown node: waits for everything, everything after waits for it. */
	a[5] = act(f, "main", "nope", ACT_START, "start");
	o = apply_order_build(f->arena, f->t, &p);

	assert_string_equal(waits(f, o, 1), "");
	assert_string_equal(waits(f, o, 2), "0");
	assert_string_equal(waits(f, o, 3), "2");
	assert_string_equal(waits(f, o, 4), "1");
	assert_string_equal(waits(f, o, 5), "0,1,2,3,4");
}

/* Backups, retention, restores, switchovers and rejoins run alone. */
static void test_runs_alone(void **state)
{
	Fixture *f = *state;
	PgcAction a[5];
	PgcPlan p = {.actions = a, .n_actions = 5};
	PgcActionOrder *o;

	a[0] = act(f, "main", "pg2", ACT_START, "start");
	a[1] = act(f, "other", "x2", ACT_START, "start");
	a[2] = act(f, "other", NULL, ACT_BACKUP, "backup");
	a[3] = act(f, "main", "pg3", ACT_START, "start");
	a[4] = act(f, "other", "x2", ACT_RELOAD, "reload");
	o = apply_order_build(f->arena, f->t, &p);

	assert_string_equal(waits(f, o, 2), "0,1");
	assert_string_equal(waits(f, o, 3), "2");
	assert_string_equal(waits(f, o, 4), "1,2");
}

/* A switchover anywhere in a cluster: its actions go one at a time. */
static void test_switchover_cluster_in_sequence(void **state)
{
	Fixture *f = *state;
	PgcAction a[5];
	PgcPlan p = {.actions = a, .n_actions = 5};
	PgcActionOrder *o;

	a[0] = act(f, "main", "pg2", ACT_WRITE_CONFIG, "config");
	a[1] = act(f, "main", "pg3", ACT_WRITE_CONFIG, "config");
	a[2] = act(f, "other", "x2", ACT_RELOAD, "reload");
	a[3] = act(f, "main", "pg2", ACT_SWITCHOVER, "switchover");
	a[4] = act(f, "main", "pg4", ACT_RELOAD, "reload");
	o = apply_order_build(f->arena, f->t, &p);

	assert_string_equal(waits(f, o, 1), "0");
	assert_string_equal(waits(f, o, 2), "");
	assert_string_equal(waits(f, o, 3), "1,2");
	/* (1 again: redundant, harmless) */
	assert_string_equal(waits(f, o, 4), "1,3");
}

/* A dependency on a later action is not a wait (apply refuses to run it). */
static void test_later_dependency(void **state)
{
	Fixture *f = *state;
	PgcAction a[2];
	PgcPlan p = {.actions = a, .n_actions = 2};
	PgcActionOrder *o;

	a[0] = act(f, "main", "pg2", ACT_START, "start");
	depend(f, &a[0], "main/pg3/start");
	a[1] = act(f, "main", "pg3", ACT_START, "start");
	o = apply_order_build(f->arena, f->t, &p);

	assert_string_equal(waits(f, o, 0), "");
	assert_string_equal(waits(f, o, 1), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replicas_side_by_side),
	    cmocka_unit_test(test_cascade),
	    cmocka_unit_test(test_cluster_wide_and_clusters),
	    cmocka_unit_test(test_runs_alone),
	    cmocka_unit_test(test_switchover_cluster_in_sequence),
	    cmocka_unit_test(test_later_dependency),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
