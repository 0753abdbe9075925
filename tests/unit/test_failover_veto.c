/*
 * tests/unit/test_failover_veto.c - the failover veto
 * (reconcile/engine/failover_veto.h) and the standby component's row
 * (reconcile/standby/standby_veto.c), on hand-built observed states: a
 * source cluster fenced after a region failover, a region switch pending
 * (its standby leader in recovery, or down), a detach pending, and
 * ordinary clusters that no rule holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "reconcile/engine/failover_veto.h"
#include "reconcile/observe/observe.h"
#include "reconcile/standby/standby_veto.h"
#include "schema/topology.h"

/* eu on ports 26101/26102, us on 26103/26104; the first line of each: its standby_of, or its replication user. */
static const char *const yaml =
	"version: 1\n"
	"clusters:\n"
	"  eu:\n"
	"    %s\n"
	"    primary: eu1\n"
	"    failover: {mode: %s}\n"
	"    nodes:\n"
	"      eu1: {host: 127.0.0.1, port: 26101, data_dir: d/eu1}\n"
	"      eu2: {host: 127.0.0.1, port: 26102, data_dir: d/eu2}\n"
	"  us:\n"
	"    %s\n"
	"    primary: us1\n"
	"    failover: {mode: %s}\n"
	"    nodes:\n"
	"      us1: {host: 127.0.0.1, port: 26103, data_dir: d/us1}\n"
	"      us2: {host: 127.0.0.1, port: 26104, data_dir: d/us2}\n";

/* topo - eu and us; each a standby_of line or "" (a primary cluster, failover.mode auto). */
static PgcTopology *topo(const char *eu_line, const char *us_line)
{
	PgcLoadOptions opts = {.base_dir = "/srv/pgc", .offline = true};
	PgcDiagList diags = {0};
	PgcTopology *t;
	char buf[2048];

	snprintf(buf, sizeof buf, yaml, eu_line[0] ? eu_line : "replication: {user: replicator}",
		 eu_line[0] ? "manual" : "auto", us_line[0] ? us_line : "replication: {user: replicator}",
		 us_line[0] ? "manual" : "auto");
	t = topology_load_buffer(buf, strlen(buf), "t.yaml", &opts, &diags);
	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		diag_free(&diags);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	return t;
}

typedef struct {
	bool reachable, in_recovery;
	unsigned tli;
	int upstream_port; /* 0: none */
} NodeSpec;

/*
 * obs_of - cluster `own` observed (obs->clusters) and the other one as the
 * observation of `own` alone holds it (obs->sources), node i as spec[c][i].
 */
static PgcObserved *obs_of(const PgcTopology *t, size_t own, const NodeSpec spec[2][2])
{
	PgcArena *a = arena_new();
	PgcObserved *o = arena_calloc(a, 1, sizeof *o);

	o->arena = a;
	o->observed_at = "2026-12-08T00:00:00Z";
	o->n_clusters = 1;
	o->clusters = arena_calloc(a, 1, sizeof *o->clusters);
	o->n_sources = 1;
	o->sources = arena_calloc(a, 1, sizeof *o->sources);
	for (size_t c = 0; c < 2; c++) {
		PgcObsCluster *oc = c == own ? &o->clusters[0] : &o->sources[0];

		oc->name = t->clusters[c].name;
		oc->n_nodes = 2;
		oc->nodes = arena_calloc(a, 2, sizeof *oc->nodes);
		for (size_t i = 0; i < 2; i++) {
			PgcObsNode *n = &oc->nodes[i];

			n->name = t->clusters[c].nodes[i].name;
			n->cluster = oc->name;
			n->local = true;
			n->dir_state = DIR_INITIALIZED;
			n->system_identifier = 7; /* one cluster's copies */
			n->reachable = spec[c][i].reachable;
			n->in_recovery = spec[c][i].in_recovery;
			n->standby_signal = spec[c][i].in_recovery;
			n->timeline = spec[c][i].tli;
			n->replay_delay_s = -1;
			n->wal_receiver_last_msg_age_s = -1;
			if (spec[c][i].upstream_port != 0) {
				n->upstream_host = "127.0.0.1";
				n->upstream_port = spec[c][i].upstream_port;
			}
		}
	}
	return o;
}

/* veto - failover_veto() through the registry's table, checked against the row itself. */
static const char *veto(PgcArena *a, const PgcTopology *t, const PgcObserved *o, size_t c)
{
	const char *v = failover_veto(a, t, o, &t->clusters[c]);
	const char *row = standby_failover_veto(a, t, o, &t->clusters[c]);

	if (v == NULL)
		assert_null(row);
	else
		assert_string_equal(v, row);
	return v;
}

/* us promoted by a region failover (timeline 2) while the file says standby_of: eu. */
static void test_fenced_source(void **state)
{
	PgcTopology *t = topo("", "standby_of: eu");
	const NodeSpec lost[2][2] = {
	    {{false, false, 1, 0}, {false, false, 1, 0}},
	    {{true, false, 2, 0}, {true, true, 2, 26103}},
	};
	/* eu2 came back as eu's standby (a start by hand of a fenced node), eu1 still down. */
	const NodeSpec back[2][2] = {
	    {{false, false, 1, 0}, {true, true, 1, 26101}},
	    {{true, false, 2, 0}, {true, true, 2, 26103}},
	};
	PgcArena *a = arena_new();
	PgcObserved *o;
	const char *v;

	(void)state;
	o = obs_of(t, 0, lost);
	v = veto(a, t, o, 0);
	assert_non_null(v);
	assert_non_null(strstr(v, "cluster \"eu\" is fenced"));
	assert_non_null(strstr(v, "\"us/us1\" takes writes (timeline 2)"));
	assert_non_null(strstr(v, "second writable cluster"));
	assert_non_null(strstr(v, "swap standby_of"));
	observe_free(o);
	o = obs_of(t, 0, back);
	assert_non_null(veto(a, t, o, 0));
	observe_free(o);
	/* The promoted standby cluster itself: not this row's business (validation keeps it manual). */
	o = obs_of(t, 1, lost);
	assert_null(veto(a, t, o, 1));
	observe_free(o);
	topology_free(t);
	arena_free(a);
}

/* The file swapped (eu: standby_of us), the region switch not run yet. */
static void test_switch_pending(void **state)
{
	PgcTopology *t = topo("standby_of: us", "");
	/* us1 still eu1's standby leader, us2 cascading: us1 looks like a failed primary. */
	const NodeSpec leader_in_recovery[2][2] = {
	    {{true, false, 1, 0}, {true, true, 1, 26101}},
	    {{true, true, 1, 26101}, {true, true, 1, 26103}},
	};
	/* us1 down as well: eu1 still takes writes. */
	const NodeSpec leader_down[2][2] = {
	    {{true, false, 1, 0}, {true, true, 1, 26101}},
	    {{false, false, 1, 0}, {true, true, 1, 26103}},
	};
	/* Timelines not known (nodes on other machines): the safe side. */
	const NodeSpec unknown[2][2] = {
	    {{true, false, 0, 0}, {true, true, 0, 26101}},
	    {{false, false, 0, 0}, {true, true, 0, 26103}},
	};
	PgcArena *a = arena_new();
	PgcObserved *o;
	const char *v;

	(void)state;
	o = obs_of(t, 1, leader_in_recovery);
	v = veto(a, t, o, 1);
	assert_non_null(v);
	assert_non_null(strstr(v, "\"us/us1\" is still a standby leader streaming from \"eu/eu1\""));
	assert_non_null(strstr(v, "region switch is pending"));
	assert_non_null(strstr(v, "fork"));
	observe_free(o);

	o = obs_of(t, 1, leader_down);
	v = veto(a, t, o, 1);
	assert_non_null(v);
	assert_non_null(strstr(v, "\"eu/eu1\" still takes writes (timeline 1)"));
	assert_non_null(strstr(v, "region switch has not run"));
	observe_free(o);

	o = obs_of(t, 1, unknown);
	assert_non_null(veto(a, t, o, 1));
	observe_free(o);
	topology_free(t);
	arena_free(a);
}

/* us lost its standby_of (a detach), us1 still streams from eu1. */
static void test_detach_pending(void **state)
{
	PgcTopology *t = topo("", "");
	const NodeSpec detaching[2][2] = {
	    {{true, false, 1, 0}, {true, true, 1, 26101}},
	    {{true, true, 1, 26101}, {true, true, 1, 26103}},
	};
	PgcArena *a = arena_new();
	PgcObserved *o = obs_of(t, 1, detaching);
	const char *v;

	(void)state;
	v = veto(a, t, o, 1);
	assert_non_null(v);
	assert_non_null(strstr(v, "\"us/us1\" is still a standby leader streaming from \"eu/eu1\""));
	assert_non_null(strstr(v, "detach pending"));
	/* eu itself is an ordinary primary cluster. */
	assert_null(veto(a, t, o, 0));
	observe_free(o);
	topology_free(t);
	arena_free(a);
}

/* No rule holds: ordinary failovers stay possible. */
static void test_ordinary(void **state)
{
	PgcTopology *plain = topo("", "");
	PgcTopology *chain = topo("", "standby_of: eu");
	PgcTopology *swapped = topo("standby_of: us", "");
	/* eu1 died, eu2 its replica: the textbook failover. */
	const NodeSpec primary_down[2][2] = {
	    {{false, false, 1, 0}, {true, true, 1, 26101}},
	    {{true, false, 1, 0}, {true, true, 1, 26103}},
	};
	/* A healthy chain: us streams from eu; eu1 died. */
	const NodeSpec chain_down[2][2] = {
	    {{false, false, 1, 0}, {true, true, 1, 26101}},
	    {{true, true, 1, 26101}, {true, true, 1, 26103}},
	};
	/* Swapped and switched (us on timeline 2); eu1 started by hand as a primary on
	 * its old timeline 1 and us1 died: us's own failover is not vetoed. */
	const NodeSpec old_back[2][2] = {
	    {{true, false, 1, 0}, {false, false, 1, 0}},
	    {{false, false, 2, 0}, {true, true, 2, 26103}},
	};
	PgcArena *a = arena_new();
	PgcObserved *o;

	(void)state;
	o = obs_of(plain, 0, primary_down);
	assert_null(veto(a, plain, o, 0));
	observe_free(o);
	o = obs_of(chain, 0, chain_down);
	assert_null(veto(a, chain, o, 0));
	observe_free(o);
	/* The standby cluster us of that chain, its leader streaming from eu: its
	 * own region failover is not vetoed (the leader streams from its source). */
	o = obs_of(chain, 1, chain_down);
	assert_null(veto(a, chain, o, 1));
	observe_free(o);
	o = obs_of(swapped, 1, old_back);
	assert_null(veto(a, swapped, o, 1));
	/* Nothing observed, or a pretend observation: no veto. */
	assert_null(failover_veto(a, swapped, NULL, &swapped->clusters[1]));
	o->pretend = true;
	assert_null(failover_veto(a, swapped, o, &swapped->clusters[0]));
	observe_free(o);
	topology_free(plain);
	topology_free(chain);
	topology_free(swapped);
	arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fenced_source),
	    cmocka_unit_test(test_switch_pending),
	    cmocka_unit_test(test_detach_pending),
	    cmocka_unit_test(test_ordinary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
