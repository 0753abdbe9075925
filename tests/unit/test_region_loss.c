/*
 * tests/unit/test_region_loss.c - reconcile/standby/region_loss.c: the
 * data-loss estimate of a region failover, and the planner's rule after
 * one (the promoted standby cluster is never demoted; its source is
 * fenced), on hand-built observed states.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/log.h"
#include "reconcile/engine/builder.h"
#include "reconcile/engine/failover_veto.h"
#include "reconcile/engine/plan.h"
#include "reconcile/observe/observe.h"
#include "reconcile/planner.h"
#include "reconcile/standby/region_loss.h"
#include "reconcile/standby/region_failover.h"
#include "reconcile/transport/host.h"
#include "schema/topology.h"
#include "support/exec_fixture.h"
#include "support/fake_host.h"

/* ---- the estimate ------------------------------------------------------------ */

static void test_zero_only_when_proven(void **state)
{
	PgcLossInput in = {0};
	PgcLossEstimate e;

	(void)state;
	in.source_clean_shutdown = true;
	in.source_checkpoint_lsn = 0x3000028;
	in.leader_replayed = 0x30000A0; /* past the shutdown checkpoint */
	region_loss_estimate(&in, &e);
	assert_int_equal(e.kind, LOSS_ZERO);

	/* Not replayed yet: not proven, and nothing else to go on. */
	in.leader_replayed = 0x3000028;
	region_loss_estimate(&in, &e);
	assert_int_equal(e.kind, LOSS_UNKNOWN);

	/* A crash (not clean): never zero, even with nothing known missing. */
	in.source_clean_shutdown = false;
	in.leader_replayed = 0x30000A0;
	in.leader_received = 0x30000A0;
	in.have_record = true;
	in.rec_source_lsn = 0x3000000;
	in.rec_age_s = 12.5;
	region_loss_estimate(&in, &e);
	assert_int_equal(e.kind, LOSS_ESTIMATED);
	assert_int_equal(e.bytes, 0);
	assert_true(e.seconds > 12.4 && e.seconds < 12.6);
}

static void test_from_receiver_then_record(void **state)
{
	PgcLossInput in = {0};
	PgcLossEstimate e;
	PgcArena *a = arena_new();

	(void)state;
	in.receiver_row = true;
	in.latest_end_lsn = 0x5000000;
	in.flushed_lsn = 0x4FF0000;
	in.latest_end_age_s = 3;
	in.have_record = true;
	in.rec_source_lsn = 0x9000000;
	in.rec_age_s = 100;
	region_loss_estimate(&in, &e);
	assert_int_equal(e.kind, LOSS_ESTIMATED);
	assert_int_equal(e.bytes, 0x10000);
	assert_true(e.seconds == 3);
	assert_non_null(strstr(region_loss_text(a, &e), "at least 65536 bytes"));

	/* The receiver row gone: the record, against what the leader has now. */
	in.receiver_row = false;
	in.leader_received = 0x8000000;
	region_loss_estimate(&in, &e);
	assert_int_equal(e.kind, LOSS_ESTIMATED);
	assert_int_equal(e.bytes, 0x1000000);
	assert_true(e.seconds == 100);

	in.have_record = false;
	region_loss_estimate(&in, &e);
	assert_int_equal(e.kind, LOSS_UNKNOWN);
	assert_non_null(strstr(region_loss_text(a, &e), "unknown"));
	arena_free(a);
}

/* ---- the planner's rule --------------------------------------------------------- */

static const char *const yaml =
	"version: 1\n"
	"clusters:\n"
	"  eu:\n"
	"    primary: eu1\n"
	"    nodes:\n"
	"      eu1: {host: 127.0.0.1, port: 26101, data_dir: d/eu1}\n"
	"      eu2: {host: 127.0.0.1, port: 26102, data_dir: d/eu2}\n"
	"    replication: {user: replicator}\n"
	"  us:\n"
	"    %s\n"
	"    primary: us1\n"
	"    nodes:\n"
	"      us1: {host: 127.0.0.1, port: 26103, data_dir: d/us1}\n"
	"      us2: {host: 127.0.0.1, port: 26104, data_dir: d/us2}\n";

static PgcTopology *load(const char *buf)
{
	PgcLoadOptions opts = {.base_dir = "/srv/pgc", .offline = true};
	PgcDiagList diags = {0};
	PgcTopology *t;

	t = topology_load_buffer(buf, strlen(buf), "t.yaml", &opts, &diags);
	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		diag_free(&diags);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	return t;
}

static PgcTopology *topo(const char *standby_line)
{
	char buf[2048];

	snprintf(buf, sizeof buf, yaml, standby_line);
	return load(buf);
}

typedef struct {
	bool reachable, in_recovery, standby_signal;
	unsigned tli;
	int upstream_port; /* 0: none */
} NodeSpec;

/* obs_of - both clusters observed, node i of each as spec[cluster][i]. */
static PgcObserved *obs_of(const PgcTopology *t, const NodeSpec spec[2][2])
{
	PgcArena *a = arena_new();
	PgcObserved *o = arena_calloc(a, 1, sizeof *o);

	o->arena = a;
	o->observed_at = "2026-12-07T23:00:00Z";
	o->n_clusters = 2;
	o->clusters = arena_calloc(a, 2, sizeof *o->clusters);
	for (size_t c = 0; c < 2; c++) {
		PgcObsCluster *oc = &o->clusters[c];

		oc->name = t->clusters[c].name;
		oc->n_nodes = 2;
		oc->nodes = arena_calloc(a, 2, sizeof *oc->nodes);
		for (size_t i = 0; i < 2; i++) {
			PgcObsNode *n = &oc->nodes[i];

			n->name = t->clusters[c].nodes[i].name;
			n->cluster = oc->name;
			n->local = true;
			n->dir_state = DIR_INITIALIZED;
			n->system_identifier = 7;
			n->pg_version_major = 15;
			n->cluster_state = "in production";
			n->reachable = spec[c][i].reachable;
			n->in_recovery = spec[c][i].in_recovery;
			n->standby_signal = spec[c][i].standby_signal;
			n->timeline = spec[c][i].tli;
			n->server_version_num = 150000;
			n->connections = -1;
			n->replay_delay_s = -1;
			n->wal_receiver_last_msg_age_s = -1;
			n->current_lsn = "0/5000000";
			n->replay_lsn = "0/5000000";
			if (spec[c][i].upstream_port != 0) {
				n->upstream_host = "127.0.0.1";
				n->upstream_port = spec[c][i].upstream_port;
			}
		}
	}
	return o;
}

static size_t count_cluster(const PgcPlan *p, const char *cluster)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_actions; i++)
		if (strcmp(p->actions[i].cluster, cluster) == 0)
			n++;
	return n;
}

static const PgcAction *find(const PgcPlan *p, const char *id)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (strcmp(p->actions[i].id, id) == 0)
			return &p->actions[i];
	return NULL;
}

/* The region is lost (eu down), us1 promoted on timeline 2, us2 cascading. */
static void test_promoted_never_demoted(void **state)
{
	PgcTopology *t = topo("standby_of: eu");
	const NodeSpec spec[2][2] = {
	    {{false, false, false, 1, 0}, {false, false, false, 1, 0}},
	    {{true, false, false, 2, 0}, {true, true, true, 2, 26103}},
	};
	PgcObserved *o = obs_of(t, spec);
	PgcPolicy pol = {.allow_restart = true, .allow_switchover = true};
	PgcRegionState st;
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	assert_true(region_loss_state(t, o, &t->clusters[1], &st));
	assert_true(st.promoted);
	assert_string_equal(st.writer, "us1");
	assert_true(region_loss_state(t, o, &t->clusters[0], &st));
	assert_true(st.fenced);
	assert_string_equal(st.by_cluster, "us");

	p = plan_build(t, o, &pol);
	/* us: one blocked action, nothing that would make us1 a standby again. */
	assert_int_equal(count_cluster(p, "us"), 1);
	a = find(p, "us/-/switchover");
	assert_non_null(a);
	assert_true(a->blocked);
	assert_int_equal(a->impact, IMPACT_SWITCHOVER);
	assert_non_null(strstr(a->reason, "promoted by a region failover"));
	assert_non_null(strstr(a->reason, "swapping standby_of"));
	/* eu: both nodes down with a primary's control file: marked read-only, never started. */
	assert_non_null(find(p, "eu/eu1/fence"));
	assert_false(find(p, "eu/eu1/fence")->blocked);
	assert_non_null(find(p, "eu/eu2/fence"));
	assert_null(find(p, "eu/eu1/start"));
	assert_non_null(find(p, "eu/-/fence"));
	assert_true(find(p, "eu/-/fence")->blocked);
	plan_free(p);
	observe_free(o);
	topology_free(t);
}

/* eu1 comes back writable on the older timeline: it is stopped; us still not touched. */
static void test_source_back_is_fenced(void **state)
{
	PgcTopology *t = topo("standby_of: eu");
	NodeSpec spec[2][2] = {
	    {{true, false, false, 1, 0}, {false, false, true, 1, 0}},
	    {{true, false, false, 2, 0}, {true, true, true, 2, 26103}},
	};
	PgcObserved *o = obs_of(t, spec);
	PgcPlan *p = plan_build(t, o, NULL);
	const PgcAction *a = find(p, "eu/eu1/fence");

	(void)state;
	assert_non_null(a);
	assert_false(a->blocked);
	assert_int_equal(a->impact, IMPACT_RESTART);
	assert_non_null(strstr(a->reason, "takes writes (timeline 1)"));
	assert_null(find(p, "eu/eu2/fence")); /* down and marked already */
	assert_int_equal(count_cluster(p, "us"), 1);
	{
		/* A saved plan keeps the fence: kind, node, impact and blocks. */
		char err[256];
		json_t *j = plan_to_json(p);
		PgcPlan *q = plan_from_json(j, err, sizeof err);

		assert_non_null(q);
		assert_int_equal(q->n_actions, p->n_actions);
		assert_int_equal(find(q, "eu/eu1/fence")->kind, ACT_FENCE);
		assert_string_equal(find(q, "eu/eu1/fence")->node, "eu1");
		assert_int_equal(find(q, "eu/eu1/fence")->impact, IMPACT_RESTART);
		assert_false(find(q, "eu/eu1/fence")->blocked);
		assert_true(find(q, "eu/-/fence")->blocked);
		assert_true(find(q, "us/-/switchover")->blocked);
		plan_free(q);
		json_decref(j);
	}
	plan_free(p);
	observe_free(o);

	/* eu failed over inside its region before it came back: the same timeline
	 * number on both sides cannot say which is newer: nothing stopped, both held. */
	spec[0][0].tli = 2;
	o = obs_of(t, spec);
	p = plan_build(t, o, NULL);
	assert_null(find(p, "eu/eu1/fence"));
	assert_true(find(p, "eu/-/fence")->blocked);
	assert_true(find(p, "us/-/switchover")->blocked);
	plan_free(p);
	observe_free(o);

	/* Timelines that cannot be compared: nothing stopped, both held. */
	spec[0][0].tli = 0;
	o = obs_of(t, spec);
	p = plan_build(t, o, NULL);
	assert_null(find(p, "eu/eu1/fence"));
	assert_true(find(p, "eu/-/fence")->blocked);
	assert_non_null(strstr(find(p, "eu/-/fence")->reason, "timelines unknown"));
	assert_non_null(strstr(find(p, "eu/-/fence")->reason, "stop the other by hand"));
	assert_true(find(p, "us/-/switchover")->blocked);
	plan_free(p);
	observe_free(o);
	topology_free(t);
}

/* Not this rule: a healthy standby cluster, a swap in progress, and the swapped file. */
static void test_rule_stops(void **state)
{
	PgcTopology *t = topo("standby_of: eu");
	PgcTopology *swapped;
	const NodeSpec healthy[2][2] = {
	    {{true, false, false, 1, 0}, {true, true, true, 1, 26101}},
	    {{true, true, true, 1, 26101}, {true, true, true, 1, 26103}},
	};
	/* The file swapped (us: standby_of eu became eu: standby_of us) and eu1
	 * still writable while us1 streams from it: the region switch's work. */
	const NodeSpec switching[2][2] = {
	    {{true, false, false, 1, 0}, {true, true, true, 1, 26101}},
	    {{true, true, true, 1, 26101}, {true, true, true, 1, 26103}},
	};
	/* After a region failover and the swap: eu down (fenced), us writable. */
	const NodeSpec after[2][2] = {
	    {{false, false, true, 1, 0}, {false, false, true, 1, 0}},
	    {{true, false, false, 2, 0}, {true, true, true, 2, 26103}},
	};
	/* Swapped, the region switch not run yet and us1 down: eu1 is no promoted standby. */
	const NodeSpec waiting[2][2] = {
	    {{true, false, false, 1, 0}, {true, true, true, 1, 26101}},
	    {{false, false, true, 1, 0}, {false, false, true, 1, 0}},
	};
	/* eu came back writable by hand after the swap: older timeline, not promoted. */
	const NodeSpec back[2][2] = {
	    {{true, false, false, 1, 0}, {false, false, true, 1, 0}},
	    {{true, false, false, 2, 0}, {true, true, true, 2, 26103}},
	};
	PgcRegionState st;
	PgcObserved *o;

	(void)state;
	o = obs_of(t, healthy);
	assert_false(region_loss_state(t, o, &t->clusters[0], &st));
	assert_false(region_loss_state(t, o, &t->clusters[1], &st));
	observe_free(o);

	/* Offline: nothing. */
	assert_false(region_loss_state(t, NULL, &t->clusters[1], &st));

	swapped = load(
	    "version: 1\n"
	    "clusters:\n"
	    "  eu:\n"
	    "    standby_of: us\n"
	    "    primary: eu1\n"
	    "    nodes:\n"
	    "      eu1: {host: 127.0.0.1, port: 26101, data_dir: d/eu1}\n"
	    "      eu2: {host: 127.0.0.1, port: 26102, data_dir: d/eu2}\n"
	    "  us:\n"
	    "    primary: us1\n"
	    "    nodes:\n"
	    "      us1: {host: 127.0.0.1, port: 26103, data_dir: d/us1}\n"
	    "      us2: {host: 127.0.0.1, port: 26104, data_dir: d/us2}\n"
	    "    replication: {user: replicator}\n");
	assert_non_null(swapped);
	o = obs_of(swapped, switching);
	assert_false(region_loss_state(swapped, o, &swapped->clusters[0], &st));
	assert_false(region_loss_state(swapped, o, &swapped->clusters[1], &st));
	observe_free(o);
	o = obs_of(swapped, waiting);
	assert_false(region_loss_state(swapped, o, &swapped->clusters[0], &st));
	assert_false(region_loss_state(swapped, o, &swapped->clusters[1], &st));
	observe_free(o);
	o = obs_of(swapped, after);
	assert_false(region_loss_state(swapped, o, &swapped->clusters[0], &st));
	assert_false(region_loss_state(swapped, o, &swapped->clusters[1], &st));
	observe_free(o);
	o = obs_of(swapped, back);
	assert_false(region_loss_state(swapped, o, &swapped->clusters[0], &st));
	assert_false(region_loss_state(swapped, o, &swapped->clusters[1], &st));
	observe_free(o);
	topology_free(swapped);
	topology_free(t);
}

/* all_blocked - every action of cluster in p is blocked (held: nothing runs). */
static bool all_blocked(const PgcPlan *p, const char *cluster)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (strcmp(p->actions[i].cluster, cluster) == 0 && !p->actions[i].blocked)
			return false;
	return true;
}

/*
 * An operator adds standby_of: eu to us, a cluster of its own that takes
 * writes (another system identifier): no region failover. Whatever the
 * timelines, nothing of eu is stopped and both are held, saying why.
 */
static void test_unrelated_clusters_held(void **state)
{
	PgcTopology *t = topo("standby_of: eu");
	NodeSpec spec[2][2] = {
	    {{true, false, false, 1, 0}, {true, true, true, 1, 26101}},
	    {{true, false, false, 3, 0}, {true, true, true, 3, 26103}},
	};
	PgcRegionState st;

	(void)state;
	for (int round = 0; round < 2; round++) {
		PgcObserved *o;
		PgcPlan *p;

		/* Then us on the older timeline: still unrelated, not a region switch's rejoin. */
		if (round == 1)
			spec[1][0].tli = spec[1][1].tli = 1, spec[0][0].tli = spec[0][1].tli = 2;
		o = obs_of(t, spec);
		o->clusters[1].nodes[0].system_identifier = 8;
		o->clusters[1].nodes[1].system_identifier = 8;
		assert_true(region_loss_state(t, o, &t->clusters[1], &st));
		assert_true(st.promoted);
		assert_int_equal(st.kin, REGION_UNRELATED);
		assert_true(region_loss_state(t, o, &t->clusters[0], &st));
		assert_int_equal(st.kin, REGION_UNRELATED);
		assert_false(st.can_fence);
		p = plan_build(t, o, NULL);
		assert_null(find(p, "eu/eu1/fence"));
		assert_null(find(p, "eu/eu2/fence"));
		assert_int_equal(count_cluster(p, "eu"), 1);
		assert_true(find(p, "eu/-/fence")->blocked);
		assert_non_null(strstr(find(p, "eu/-/fence")->reason, "unrelated"));
		assert_non_null(strstr(find(p, "eu/-/fence")->reason, "held, not fenced"));
		assert_int_equal(count_cluster(p, "us"), 1);
		assert_true(find(p, "us/-/switchover")->blocked);
		assert_non_null(strstr(find(p, "us/-/switchover")->reason,
				       "unrelated (different system identifiers)"));
		assert_null(strstr(find(p, "us/-/switchover")->reason, "promoted by a region failover"));
		plan_free(p);
		{
			/* A failover of eu is refused, with the planner's words (not a region failover's). */
			PgcArena *a = arena_new();
			const char *veto = failover_veto(a, t, o, &t->clusters[0]);

			assert_non_null(veto);
			assert_non_null(strstr(veto, "different system identifiers"));
			assert_non_null(strstr(veto, "fix standby_of"));
			assert_null(strstr(veto, "promoted by a region failover"));
			arena_free(a);
		}
		observe_free(o);
	}
	topology_free(t);
}

/* eu's identity not known (its control files unread): held, never an unblocked fence. */
static void test_unknown_sysid_held(void **state)
{
	PgcTopology *t = topo("standby_of: eu");
	const NodeSpec spec[2][2] = {
	    {{false, false, false, 1, 0}, {false, false, false, 1, 0}},
	    {{true, false, false, 2, 0}, {true, true, true, 2, 26103}},
	};
	PgcObserved *o = obs_of(t, spec);
	PgcRegionState st;
	PgcPlan *p;

	(void)state;
	o->clusters[0].nodes[0].system_identifier = 0;
	o->clusters[0].nodes[1].system_identifier = 0;
	assert_true(region_loss_state(t, o, &t->clusters[0], &st));
	assert_int_equal(st.kin, REGION_UNKNOWN);
	assert_string_equal(st.unknown, "system identifiers unknown");
	p = plan_build(t, o, NULL);
	assert_null(find(p, "eu/eu1/fence"));
	assert_null(find(p, "eu/eu2/fence"));
	assert_true(all_blocked(p, "eu"));
	assert_true(all_blocked(p, "us"));
	assert_int_equal(count_cluster(p, "us"), 1);
	plan_free(p);
	observe_free(o);
	topology_free(t);
}

/*
 * The file swapped (eu: standby_of us), eu1 still the writer, the region
 * switch waiting, us's nodes on other machines and not answering: no
 * timeline to compare. Not "promoted by a region failover", us not fenced.
 */
static void test_swap_waiting_timelines_unknown(void **state)
{
	PgcTopology *t = load("version: 1\n"
			      "clusters:\n"
			      "  eu:\n"
			      "    standby_of: us\n"
			      "    primary: eu1\n"
			      "    nodes:\n"
			      "      eu1: {host: 127.0.0.1, port: 26101, data_dir: d/eu1}\n"
			      "      eu2: {host: 127.0.0.1, port: 26102, data_dir: d/eu2}\n"
			      "  us:\n"
			      "    primary: us1\n"
			      "    nodes:\n"
			      "      us1: {host: 10.9.9.1, port: 26103, data_dir: d/us1}\n"
			      "      us2: {host: 10.9.9.2, port: 26104, data_dir: d/us2}\n"
			      "    replication: {user: replicator}\n");
	const NodeSpec spec[2][2] = {
	    {{true, false, false, 1, 0}, {true, true, true, 1, 26101}},
	    {{false, false, false, 0, 0}, {false, false, false, 0, 0}},
	};
	PgcObserved *o = obs_of(t, spec);
	PgcRegionState st;
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		o->clusters[1].nodes[i].local = false;
		o->clusters[1].nodes[i].dir_state = DIR_UNKNOWN;
		o->clusters[1].nodes[i].system_identifier = 0;
	}
	assert_true(region_loss_state(t, o, &t->clusters[0], &st));
	assert_int_equal(st.kin, REGION_UNKNOWN);
	assert_string_equal(st.unknown, "timelines unknown");
	assert_true(region_loss_state(t, o, &t->clusters[1], &st));
	assert_int_equal(st.kin, REGION_UNKNOWN);
	p = plan_build(t, o, NULL);
	a = find(p, "eu/-/switchover");
	assert_non_null(a);
	assert_true(a->blocked);
	assert_non_null(strstr(a->reason, "timelines of \"us\" are unknown"));
	assert_null(strstr(a->reason, "was promoted by a region failover"));
	assert_int_equal(count_cluster(p, "eu"), 1);
	a = find(p, "us/-/fence");
	assert_non_null(a);
	assert_true(a->blocked);
	assert_non_null(strstr(a->reason, "held, not fenced"));
	assert_non_null(strstr(a->reason, "timelines unknown"));
	assert_true(all_blocked(p, "us"));
	plan_free(p);
	observe_free(o);
	topology_free(t);
}

/* ---- the failover's refusals and journal -------------------------------------------- */

typedef struct {
	int n;
	char hint[512], message[512];
} Refusals;

static void on_refused(void *ctx, const char *hint, const char *message)
{
	Refusals *r = ctx;

	r->n++;
	snprintf(r->hint, sizeof r->hint, "%s", hint != NULL ? hint : "");
	snprintf(r->message, sizeof r->message, "%s", message);
}

/* obs_nodes - an observation of t's clusters, every node down and not local, as filled by the test. */
static PgcObserved *obs_nodes(const PgcTopology *t)
{
	PgcArena *a = arena_new();
	PgcObserved *o = arena_calloc(a, 1, sizeof *o);

	o->arena = a;
	o->n_clusters = t->n_clusters;
	o->clusters = arena_calloc(a, t->n_clusters, sizeof *o->clusters);
	for (size_t c = 0; c < t->n_clusters; c++) {
		o->clusters[c].name = t->clusters[c].name;
		o->clusters[c].n_nodes = t->clusters[c].n_nodes;
		o->clusters[c].nodes = arena_calloc(a, t->clusters[c].n_nodes, sizeof(PgcObsNode));
		for (size_t i = 0; i < t->clusters[c].n_nodes; i++) {
			o->clusters[c].nodes[i].name = t->clusters[c].nodes[i].name;
			o->clusters[c].nodes[i].cluster = t->clusters[c].name;
			o->clusters[c].nodes[i].conn_error = "connection refused";
		}
	}
	return o;
}

static void set_node(PgcObserved *o, size_t c, size_t i, bool reachable, bool in_recovery)
{
	o->clusters[c].nodes[i].reachable = reachable;
	o->clusters[c].nodes[i].in_recovery = in_recovery;
	o->clusters[c].nodes[i].timeline = 1;
	o->clusters[c].nodes[i].system_identifier = 7;
}

static int try_failover(const PgcTopology *t, const char *cluster, PgcObserved *o, Refusals *r)
{
	PgcArena *a = arena_new();
	PgcFailoverReporter rep = {on_refused, NULL, r};
	PgcRegionFailover in = {.state_dir = "/nonexistent/state", .t = t,
				.c = topology_cluster(t, cluster), .obs = o, .force = true,
				.event = json_object()};
	PgcRegionFailoverResult res;
	int rc;

	memset(r, 0, sizeof *r);
	rc = region_failover(a, &in, &rep, &res);
	json_decref(in.event);
	arena_free(a);
	return rc;
}

/*
 * eu's primary crashed but eu2 answers: eu can fail over by itself, so
 * promoting us, even with --force, would make two writers. Refused.
 */
static void test_failover_refused_while_a_source_node_answers(void **state)
{
	PgcTopology *t = topo("standby_of: eu");
	PgcObserved *o = obs_nodes(t);
	Refusals r;

	(void)state;
	set_node(o, 1, 0, true, true); /* us1, the standby leader */
	set_node(o, 0, 1, true, true); /* eu2: a replica of eu, alive */
	assert_int_equal(try_failover(t, "us", o, &r), -1);
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(r.message, "\"eu/eu2\" answers (in recovery)"));
	assert_non_null(strstr(r.message, "even with --force"));
	assert_non_null(strstr(r.hint, "fail \"eu\" over within its region"));
	assert_non_null(strstr(r.hint, "swap standby_of"));
	observe_free(o);
	topology_free(t);
}

/* root -> eu -> us: eu is lost but root still takes writes: refused. */
static void test_failover_refused_while_the_chain_writes(void **state)
{
	PgcTopology *t = load("version: 1\n"
			      "clusters:\n"
			      "  root:\n"
			      "    primary: r1\n"
			      "    nodes:\n"
			      "      r1: {host: 127.0.0.1, port: 26105, data_dir: d/r1}\n"
			      "    replication: {user: replicator}\n"
			      "  eu:\n"
			      "    standby_of: root\n"
			      "    primary: eu1\n"
			      "    nodes:\n"
			      "      eu1: {host: 127.0.0.1, port: 26101, data_dir: d/eu1}\n"
			      "  us:\n"
			      "    standby_of: eu\n"
			      "    primary: us1\n"
			      "    nodes:\n"
			      "      us1: {host: 127.0.0.1, port: 26103, data_dir: d/us1}\n");
	PgcObserved *o = obs_nodes(t);
	Refusals r;

	(void)state;
	set_node(o, 2, 0, true, true);  /* us1 */
	set_node(o, 0, 0, true, false); /* r1 takes writes */
	assert_int_equal(try_failover(t, "us", o, &r), -1);
	assert_non_null(strstr(r.message, "\"root/r1\" up the chain takes writes"));
	assert_non_null(strstr(r.hint, "make \"us\" a standby of \"root\""));
	observe_free(o);
	topology_free(t);
}

/* The journal's estimate, bytes > 0 and 0: every key there. */
static void test_estimate_json(void **state)
{
	PgcLossEstimate e = {.kind = LOSS_ESTIMATED, .bytes = 65536, .seconds = 3.5};
	json_t *j;

	(void)state;
	snprintf(e.basis, sizeof e.basis, "from the receiver");
	j = region_estimate_json(&e);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "estimated");
	assert_int_equal(json_integer_value(json_object_get(j, "bytes")), 65536);
	assert_true(json_real_value(json_object_get(j, "seconds")) == 3.5);
	assert_string_equal(json_string_value(json_object_get(j, "basis")), "from the receiver");
	json_decref(j);
	e.kind = LOSS_ZERO;
	e.bytes = 0;
	e.seconds = -1;
	j = region_estimate_json(&e);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "bytes")), 0);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "zero");
	json_decref(j);
}

/* ---- the fence executor, on a fake host --------------------------------------------- */

static const char fence_yaml[] =
    "version: 1\n"
    "clusters:\n"
    "  eu:\n"
    "    primary: eu1\n"
    "    postgres: {version: 15, bin_dir: /pg/bin}\n"
    "    os_user: postgres\n"
    "    nodes:\n"
    "      eu1: {host: 127.0.0.1, port: 25991, data_dir: /data/eu1}\n";

/* A node down: standby.signal is written once; the second run has nothing to do. */
static void test_fence_run_marks_once(void **state)
{
	PgcTopology *t = fixture_topology(fence_yaml);
	PgcHost *h = fake_host_new("postgres");
	PgcAction act = {.kind = ACT_FENCE, .id = "eu/eu1/fence", .payload = {.upstream = "us"}};
	char dir[] = "/tmp/pgc-unit-fence.XXXXXX";
	PgcExecCtx ctx;
	char *log;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fake_host_mkdir(h, "/data/eu1");
	fixture_ctx(&ctx, t, "eu1", h, &act);
	log_capture_begin();
	assert_int_equal(region_fence_run(&ctx), 0);
	assert_false(ctx.nothing_to_do);
	assert_string_equal(fake_host_get(h, "/data/eu1/standby.signal"), "");
	fixture_ctx_done(&ctx);
	fixture_ctx(&ctx, t, "eu1", h, &act);
	assert_int_equal(region_fence_run(&ctx), 0);
	assert_true(ctx.nothing_to_do);
	fixture_ctx_done(&ctx);
	/* The cluster's blocked line is no action to run. */
	fixture_ctx(&ctx, t, "eu1", h, &act);
	ctx.n = NULL;
	assert_int_equal(region_fence_run(&ctx), -1);
	fixture_ctx_done(&ctx);
	/* us recorded as detached from eu here: not a region failover, nothing is fenced. */
	assert_int_equal(host_remove_file(h, "/data/eu1/standby.signal"), 0);
	region_detached_set(dir, "us", "eu");
	fixture_ctx(&ctx, t, "eu1", h, &act);
	ctx.state_dir = dir;
	assert_int_equal(region_fence_run(&ctx), -1);
	assert_null(fake_host_get(h, "/data/eu1/standby.signal"));
	fixture_ctx_done(&ctx);
	/* A region failover of us since: the record is gone and the fence acts again. */
	region_detached_set(dir, "us", NULL);
	fixture_ctx(&ctx, t, "eu1", h, &act);
	ctx.state_dir = dir;
	assert_int_equal(region_fence_run(&ctx), 0);
	assert_string_equal(fake_host_get(h, "/data/eu1/standby.signal"), "");
	fixture_ctx_done(&ctx);
	log = log_capture_end();
	assert_non_null(strstr(log, "was detached from \"eu\""));
	free(log);
	{
		char path[sizeof dir + 32];

		snprintf(path, sizeof path, "%s/standby.json", dir);
		(void)unlink(path);
		(void)rmdir(dir);
	}
	host_free(h);
	topology_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zero_only_when_proven),
	    cmocka_unit_test(test_from_receiver_then_record),
	    cmocka_unit_test(test_promoted_never_demoted),
	    cmocka_unit_test(test_source_back_is_fenced),
	    cmocka_unit_test(test_rule_stops),
	    cmocka_unit_test(test_unrelated_clusters_held),
	    cmocka_unit_test(test_unknown_sysid_held),
	    cmocka_unit_test(test_swap_waiting_timelines_unknown),
	    cmocka_unit_test(test_failover_refused_while_a_source_node_answers),
	    cmocka_unit_test(test_failover_refused_while_the_chain_writes),
	    cmocka_unit_test(test_estimate_json),
	    cmocka_unit_test(test_fence_run_marks_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
