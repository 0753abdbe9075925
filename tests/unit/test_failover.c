/*
 * tests/unit/test_failover.c - reconcile/ha/failover.c: candidate choice (sync
 * eligibility, quorum coverage, LSN order, region, declaration order,
 * max_lag, partition rule, --to), the probe/decision loop, and the
 * topology after a failover. Observed states are built by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/arena.h"
#include "reconcile/pg/lsn.h"
#include "reconcile/ha/failover.h"
#include "reconcile/ha/fence.h"
#include "reconcile/ha/ha.h"
#include "reconcile/ha/rejoin.h"
#include "reconcile/observe/observe.h"
#include "reconcile/engine/plan.h"
#include "schema/topology.h"
#include "reconcile/postgres/plan_conf.h"

/* %1$s: replication block, %2$s: failover block, %3$s: pg4 line */
static const char *const base_yaml =
	"version: 1\n"
	"clusters:\n"
	"  c:\n"
	"    primary: pg1\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 26001, data_dir: d/pg1, region: east}\n"
	"      pg2: {host: 127.0.0.1, port: 26002, data_dir: d/pg2, region: east}\n"
	"      pg3: {host: 127.0.0.1, port: 26003, data_dir: d/pg3, region: west}\n"
	"%3$s"
	"%1$s"
	"%2$s";

static PgcTopology *topo(const char *replication, const char *failover, const char *pg4)
{
	PgcLoadOptions opts = {.base_dir = "/srv/pgc", .offline = true};
	PgcDiagList diags = {0};
	char buf[4096];
	PgcTopology *t;

	snprintf(buf, sizeof buf, base_yaml, replication ? replication : "",
		 failover ? failover : "    failover: {mode: auto, detect_after: 2s}\n",
		 pg4 ? pg4 : "");
	t = topology_load_buffer(buf, strlen(buf), "test.yaml", &opts, &diags);
	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		diag_free(&diags);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	return t;
}

#define SYNC_ANY1 "    replication: {synchronous: {method: any, count: 1}}\n"
#define SYNC_FIRST1 "    replication: {synchronous: {method: first, count: 1}}\n"
#define PG4_FROM_PG2 "      pg4: {host: 127.0.0.1, port: 26004, data_dir: d/pg4, replicate_from: pg2}\n"

/*
 * obs_dead_primary - pg1 unreachable (its socket is gone), every other node
 * a reachable standby of system 7 at LSN 0/3000000, not streaming.
 */
static PgcObserved *obs_dead_primary(const PgcTopology *t)
{
	const PgcCluster *c = &t->clusters[0];
	PgcArena *a = arena_new();
	PgcObserved *o = arena_calloc(a, 1, sizeof(*o));

	o->arena = a;
	o->observed_at = "2026-11-29T03:00:00Z";
	o->n_clusters = 1;
	o->clusters = arena_calloc(a, 1, sizeof(PgcObsCluster));
	o->clusters[0].name = c->name;
	o->clusters[0].n_nodes = c->n_nodes;
	o->clusters[0].nodes = arena_calloc(a, c->n_nodes, sizeof(PgcObsNode));
	for (size_t j = 0; j < c->n_nodes; j++) {
		PgcObsNode *n = &o->clusters[0].nodes[j];

		n->name = c->nodes[j].name;
		n->cluster = c->name;
		n->local = true;
		n->dir_state = DIR_INITIALIZED;
		n->system_identifier = 7;
		n->wal_receiver_last_msg_age_s = -1;
		if (strcmp(n->name, "pg1") == 0) {
			n->conn_error = "connection to server failed: No such file or directory";
			n->postmaster_alive = false;
			continue;
		}
		n->postmaster_alive = true;
		n->reachable = true;
		n->in_recovery = true;
		n->receive_lsn = "0/3000000";
		n->replay_lsn = "0/3000000";
		n->wal_receiver_status = "waiting";
	}
	return o;
}

static PgcObsNode *onode(PgcObserved *o, const char *name)
{
	for (size_t j = 0; j < o->clusters[0].n_nodes; j++)
		if (strcmp(o->clusters[0].nodes[j].name, name) == 0)
			return &o->clusters[0].nodes[j];
	fail_msg("no observed node %s", name);
	return NULL;
}

static const PgcCandidate *cand(const PgcChoice *ch, const char *name)
{
	for (size_t i = 0; i < ch->n_candidates; i++)
		if (strcmp(ch->candidates[i].node, name) == 0)
			return &ch->candidates[i];
	fail_msg("no candidate %s", name);
	return NULL;
}

typedef struct {
	PgcTopology *t;
	PgcObserved *o;
	PgcArena *a;
	PgcChoice ch;
} Fx;

static void fx_init(Fx *f, const char *replication, const char *failover, const char *pg4)
{
	f->t = topo(replication, failover, pg4);
	f->o = obs_dead_primary(f->t);
	f->a = arena_new();
	memset(&f->ch, 0, sizeof f->ch);
}

static void fx_free(Fx *f)
{
	arena_free(f->a);
	arena_free(f->o->arena);
	topology_free(f->t);
}

static int choose(Fx *f, const PgcPrimaryView *last, const char *to, bool partition)
{
	PgcChooseOptions co = {to, partition, false};

	return failover_choose(f->a, &f->t->clusters[0], f->o, "pg1", last, &co, &f->ch);
}

/* ---- LSNs ----------------------------------------------------------------- */

static void test_lsn(void **state)
{
	uint64_t v = 0;
	char buf[32];

	(void)state;
	assert_int_equal(lsn_parse("16/B374D848", &v), 0);
	assert_true(v == 0x16B374D848ull);
	assert_string_equal(lsn_format(v, buf, sizeof buf), "16/B374D848");
	assert_int_equal(lsn_parse("0/0", &v), 0);
	assert_true(v == 0);
	assert_string_equal(lsn_format(0x3000060, buf, sizeof buf), "0/3000060");
	assert_int_equal(lsn_parse(NULL, &v), -1);
	assert_int_equal(lsn_parse("", &v), -1);
	assert_int_equal(lsn_parse("0/", &v), -1);
	assert_int_equal(lsn_parse("/10", &v), -1);
	assert_int_equal(lsn_parse("1/2x", &v), -1);
	assert_int_equal(lsn_parse("100000000/0", &v), -1);
}

/* ---- ordering ------------------------------------------------------------------ */

static void test_highest_lsn_wins(void **state)
{
	Fx f;

	(void)state;
	fx_init(&f, NULL, NULL, NULL);
	onode(f.o, "pg3")->receive_lsn = "0/3000200";
	assert_int_equal(choose(&f, NULL, NULL, false), 0);
	assert_string_equal(f.ch.chosen, "pg3");
	assert_string_equal(f.ch.reason, "node \"pg3\" has the most WAL (0/3000200)");
	assert_int_equal(f.ch.n_candidates, 2);
	assert_true(cand(&f.ch, "pg2")->eligible);
	assert_true(cand(&f.ch, "pg2")->lag_bytes == 0x200);
	assert_true(f.ch.primary_position == 0x3000200);
	fx_free(&f);
}

static void test_replayed_counts_when_higher(void **state)
{
	Fx f;

	(void)state;
	fx_init(&f, NULL, NULL, NULL);
	/* After a restart the receive position starts at a segment boundary. */
	onode(f.o, "pg2")->receive_lsn = NULL;
	onode(f.o, "pg2")->replay_lsn = "0/3000100";
	assert_int_equal(choose(&f, NULL, NULL, false), 0);
	assert_string_equal(f.ch.chosen, "pg2");
	assert_true(cand(&f.ch, "pg2")->position == 0x3000100);
	fx_free(&f);
}

static void test_region_breaks_tie(void **state)
{
	Fx f;

	(void)state;
	fx_init(&f, NULL, "    failover: {mode: auto, prefer_region: west}\n", NULL);
	assert_int_equal(choose(&f, NULL, NULL, false), 0);
	assert_string_equal(f.ch.chosen, "pg3");
	assert_string_equal(f.ch.reason, "node \"pg3\" has the most WAL (0/3000000) and is in the "
					 "preferred region \"west\"");
	fx_free(&f);

	/* More WAL beats the region. */
	fx_init(&f, NULL, "    failover: {mode: auto, prefer_region: west}\n", NULL);
	onode(f.o, "pg2")->receive_lsn = "0/3000008";
	assert_int_equal(choose(&f, NULL, NULL, false), 0);
	assert_string_equal(f.ch.chosen, "pg2");
	fx_free(&f);
}

static void test_declaration_order_breaks_tie(void **state)
{
	Fx f;

	(void)state;
	fx_init(&f, NULL, NULL, NULL);
	assert_int_equal(choose(&f, NULL, NULL, false), 0);
	assert_string_equal(f.ch.chosen, "pg2");
	fx_free(&f);
}

static void test_ineligible_reasons(void **state)
{
	Fx f;

	(void)state;
	fx_init(&f, NULL, NULL, PG4_FROM_PG2);
	onode(f.o, "pg2")->reachable = false;
	onode(f.o, "pg2")->conn_error = "timeout expired";
	onode(f.o, "pg3")->in_recovery = false;
	onode(f.o, "pg4")->system_identifier = 9;
	assert_int_equal(choose(&f, NULL, NULL, false), -1);
	assert_null(f.ch.chosen);
	assert_string_equal(f.ch.reason, "no replica of cluster \"c\" can be promoted");
	assert_string_equal(cand(&f.ch, "pg2")->why_not, "not reachable: timeout expired");
	assert_string_equal(cand(&f.ch, "pg3")->why_not, "not a standby: it accepts writes");
	/* pg1 is down: the first reachable standby's identifier is the reference. */
	assert_string_equal(cand(&f.ch, "pg4")->why_not,
			    "belongs to another database system (system identifier 9, expected 7)");
	fx_free(&f);

	fx_init(&f, NULL, NULL, NULL);
	onode(f.o, "pg2")->receive_lsn = NULL;
	onode(f.o, "pg2")->replay_lsn = NULL;
	assert_int_equal(choose(&f, NULL, NULL, false), 0);
	assert_string_equal(cand(&f.ch, "pg2")->why_not, "its WAL position is unknown");
	assert_string_equal(f.ch.chosen, "pg3");
	fx_free(&f);
}

/* ---- synchronous replication -------------------------------------------------- */

static void test_sync_seen_first(void **state)
{
	PgcObsReplica reps[2] = {
		{.application_name = "pg2", .state = "streaming", .sync_state = "sync"},
		{.application_name = "pg3", .state = "streaming", .sync_state = "potential"},
	};
	PgcPrimaryView last = {.primary = "pg1", .seen_at = "2026-11-29T02:59:59Z",
			       .current_lsn = "0/3000000", .replicas = reps, .n_replicas = 2};
	Fx f;

	(void)state;
	fx_init(&f, SYNC_FIRST1, NULL, NULL);
	/* pg3 has more WAL, but only pg2 surely has every acknowledged commit. */
	onode(f.o, "pg3")->receive_lsn = "0/3000400";
	assert_int_equal(choose(&f, &last, NULL, false), 0);
	assert_string_equal(f.ch.chosen, "pg2");
	assert_false(f.ch.sync_declared);
	assert_true(cand(&f.ch, "pg2")->was_sync);
	assert_false(cand(&f.ch, "pg3")->eligible);
	assert_string_equal(cand(&f.ch, "pg3")->why_not,
			    "was not a synchronous standby when the primary was last seen "
			    "(2026-11-29T02:59:59Z)");
	assert_string_equal(f.ch.reason, "node \"pg2\" has the most WAL (0/3000000) among the "
					 "synchronous standbys");
	fx_free(&f);

	/* The synchronous one is gone: FIRST needs one of them, so nobody. */
	fx_init(&f, SYNC_FIRST1, NULL, NULL);
	onode(f.o, "pg2")->reachable = false;
	onode(f.o, "pg2")->conn_error = "no route to host";
	assert_int_equal(choose(&f, &last, NULL, false), -1);
	assert_string_equal(f.ch.reason, "only 0 of the 1 synchronous standbys (\"pg2\") can be "
					 "compared, 1 are needed: an acknowledged transaction may "
					 "exist only on the others");
	fx_free(&f);
}

static void test_sync_quorum_coverage(void **state)
{
	Fx f;

	(void)state;
	/* ANY 1 of pg2, pg3, never seen: both must be compared. */
	fx_init(&f, SYNC_ANY1, NULL, NULL);
	onode(f.o, "pg3")->reachable = false;
	onode(f.o, "pg3")->conn_error = "timeout expired";
	assert_int_equal(choose(&f, NULL, NULL, false), -1);
	assert_null(f.ch.chosen);
	assert_true(f.ch.sync_declared);
	assert_string_equal(f.ch.reason, "only 1 of the 2 synchronous standbys (\"pg2\", \"pg3\") "
					 "can be compared, 2 are needed: an acknowledged "
					 "transaction may exist only on the others");
	fx_free(&f);

	/* Both answer: the one with more WAL has every acknowledged commit. */
	fx_init(&f, SYNC_ANY1, NULL, NULL);
	onode(f.o, "pg3")->receive_lsn = "0/3000010";
	assert_int_equal(choose(&f, NULL, NULL, false), 0);
	assert_string_equal(f.ch.chosen, "pg3");
	fx_free(&f);
}

static void test_sync_declared_excludes_cascade(void **state)
{
	Fx f;

	(void)state;
	fx_init(&f, SYNC_ANY1, NULL, PG4_FROM_PG2);
	onode(f.o, "pg4")->receive_lsn = "0/4000000";
	assert_int_equal(choose(&f, NULL, NULL, false), 0);
	assert_string_equal(f.ch.chosen, "pg2");
	assert_false(cand(&f.ch, "pg4")->eligible);
	assert_string_equal(cand(&f.ch, "pg4")->why_not,
			    "not among the synchronous standbys of the primary "
			    "(synchronous_standby_names)");
	fx_free(&f);
}

static void test_sync_seen_async_only(void **state)
{
	PgcObsReplica reps[1] = {
		{.application_name = "pg2", .state = "streaming", .sync_state = "async"},
	};
	PgcPrimaryView last = {.primary = "pg1", .seen_at = "T", .replicas = reps, .n_replicas = 1};
	Fx f;

	(void)state;
	/* Seen without any synchronous standby: the declared list is used. */
	fx_init(&f, SYNC_ANY1, NULL, NULL);
	assert_int_equal(choose(&f, &last, NULL, false), 0);
	assert_true(f.ch.sync_declared);
	assert_string_equal(f.ch.chosen, "pg2");
	fx_free(&f);
}

/* ---- max_lag ----------------------------------------------------------------- */

static void test_max_lag(void **state)
{
	PgcPrimaryView last = {.primary = "pg1", .seen_at = "T", .current_lsn = "0/3200000"};
	Fx f;

	(void)state;
	fx_init(&f, NULL, "    failover: {mode: auto, max_lag: 1MB}\n", NULL);
	onode(f.o, "pg3")->receive_lsn = "0/3100000"; /* 1 MB behind: allowed */
	assert_int_equal(choose(&f, &last, NULL, false), 0);
	assert_string_equal(f.ch.chosen, "pg3");
	assert_true(f.ch.primary_position == 0x3200000);
	assert_false(cand(&f.ch, "pg2")->eligible);
	assert_string_equal(cand(&f.ch, "pg2")->why_not,
			    "2.0 MB behind the last known primary position 0/3200000, more than "
			    "failover.max_lag (1.0 MB)");
	fx_free(&f);

	fx_init(&f, NULL, "    failover: {mode: auto, max_lag: 1MB}\n", NULL);
	assert_int_equal(choose(&f, &last, NULL, false), -1);
	assert_string_equal(f.ch.reason, "no replica of cluster \"c\" can be promoted");
	fx_free(&f);

	/* A view of another node says nothing about pg1's position. */
	last.primary = "pg2";
	fx_init(&f, NULL, "    failover: {mode: auto, max_lag: 1MB}\n", NULL);
	assert_int_equal(choose(&f, &last, NULL, false), 0);
	assert_true(f.ch.primary_position == 0x3000000);
	fx_free(&f);
}

/* ---- partition rule -------------------------------------------------------------- */

static void test_partition_rule(void **state)
{
	Fx f;
	PgcObsNode *n;

	(void)state;
	fx_init(&f, NULL, NULL, NULL);
	n = onode(f.o, "pg3");
	n->wal_receiver_status = "streaming";
	n->wal_receiver_last_msg_age_s = 0.4;
	n->upstream_host = "127.0.0.1";
	n->upstream_port = 26001;
	assert_int_equal(choose(&f, NULL, NULL, true), -1);
	assert_true(f.ch.partition);
	assert_string_equal(f.ch.reason,
			    "replica \"pg3\" received WAL from primary \"pg1\" 0.4 s ago, within "
			    "failover.detect_after (2 s): the primary is running and only pgconverge "
			    "cannot reach it");
	/* The rule is the loop's: a manual failover fences first. */
	assert_int_equal(choose(&f, NULL, NULL, false), 0);
	fx_free(&f);

	/* A message older than detect_after, or from another upstream, does not count. */
	fx_init(&f, NULL, NULL, NULL);
	n = onode(f.o, "pg3");
	n->wal_receiver_status = "streaming";
	n->wal_receiver_last_msg_age_s = 2.5;
	assert_int_equal(choose(&f, NULL, NULL, true), 0);
	n->wal_receiver_last_msg_age_s = 0.1;
	n->upstream_host = "127.0.0.1";
	n->upstream_port = 26002;
	assert_int_equal(choose(&f, NULL, NULL, true), 0);
	assert_false(f.ch.partition);
	fx_free(&f);
}

/* ---- --to ------------------------------------------------------------------------- */

static void test_to(void **state)
{
	Fx f;

	(void)state;
	fx_init(&f, NULL, NULL, NULL);
	assert_int_equal(choose(&f, NULL, "pg3", false), 0);
	assert_string_equal(f.ch.chosen, "pg3");
	assert_string_equal(f.ch.reason, "node \"pg3\" as asked, at 0/3000000");
	assert_int_equal(choose(&f, NULL, "pg1", false), -1);
	assert_string_equal(f.ch.reason, "node \"pg1\" is the primary being replaced");
	assert_int_equal(choose(&f, NULL, "pg9", false), -1);
	assert_string_equal(f.ch.reason, "cluster \"c\" has no node \"pg9\"");
	onode(f.o, "pg2")->receive_lsn = "0/3000100";
	assert_int_equal(choose(&f, NULL, "pg3", false), 0);
	assert_string_equal(f.ch.reason, "node \"pg3\" as asked, 256 bytes behind \"pg2\" "
					 "(asynchronous replication: transactions past 0/3000000 "
					 "are lost)");
	onode(f.o, "pg3")->reachable = false;
	onode(f.o, "pg3")->conn_error = "refused";
	assert_int_equal(choose(&f, NULL, "pg3", false), -1);
	assert_string_equal(f.ch.reason, "node \"pg3\" cannot be promoted: not reachable: refused");
	fx_free(&f);

	/* With synchronous replication a node behind the best is refused. */
	fx_init(&f, SYNC_ANY1, NULL, NULL);
	onode(f.o, "pg2")->receive_lsn = "0/3000100";
	assert_int_equal(choose(&f, NULL, "pg3", false), -1);
	assert_string_equal(f.ch.reason, "node \"pg3\" received 256 bytes less WAL than \"pg2\" "
					 "(0/3000000 < 0/3000100): promoting it could lose "
					 "acknowledged transactions");
	assert_int_equal(choose(&f, NULL, "pg2", false), 0);
	/* Before a clean stop of a running primary the positions are not final. */
	{
		PgcChooseOptions co = {"pg3", false, true};

		assert_int_equal(failover_choose(f.a, &f.t->clusters[0], f.o, "pg1", NULL, &co, &f.ch),
				 0);
		assert_string_equal(f.ch.chosen, "pg3");
	}
	fx_free(&f);
}

/* ---- the loop ------------------------------------------------------------------------ */

static void evaluate(Fx *f, const PgcProbeState *st, int64_t now, PgcHaDecision *d)
{
	PgcEvaluateOptions eo = {.now_ms = now, .min_interval_ms = 0};

	failover_evaluate(f->a, &f->t->clusters[0], f->o, NULL, st, &eo, d);
}

static void test_evaluate(void **state)
{
	PgcProbeState st;
	PgcHaDecision d;
	Fx f;

	(void)state;
	fx_init(&f, NULL, NULL, NULL);
	failover_probe_init(&st);
	evaluate(&f, &st, 0, &d);
	assert_int_equal(d.verdict, HA_HEALTHY);
	assert_string_equal(d.reason, "primary \"pg1\" has not been probed yet");

	failover_probe_record(&st, "pg1", 1000, true, NULL);
	evaluate(&f, &st, 1000, &d);
	assert_int_equal(d.verdict, HA_HEALTHY);
	assert_string_equal(failover_verdict_name(d.verdict), "healthy");

	/* One failure: suspect, whatever the time. */
	failover_probe_record(&st, "pg1", 2000, false, "connection refused\nsecond line");
	evaluate(&f, &st, 4000, &d);
	assert_int_equal(d.verdict, HA_SUSPECT);
	assert_string_equal(d.reason, "primary \"pg1\" has failed 1 probe in a row for 3 s "
				      "(connection refused); it is declared failed after 2 s");

	/* Two failures, 1.5 s since the last success: still suspect. */
	failover_probe_record(&st, "pg1", 2500, false, "connection refused");
	evaluate(&f, &st, 2500, &d);
	assert_int_equal(d.verdict, HA_SUSPECT);
	assert_int_equal(d.failed_for_ms, 1500);

	/* Failed for detect_after since the last success: promote. */
	failover_probe_record(&st, "pg1", 3000, false, "connection refused");
	evaluate(&f, &st, 3000, &d);
	assert_int_equal(d.verdict, HA_PROMOTE);
	assert_string_equal(d.candidate, "pg2");
	assert_string_equal(d.reason, "primary \"pg1\" has failed 3 probes in a row for 2 s "
				      "(connection refused): promote node \"pg2\" has the most WAL "
				      "(0/3000000)");

	/* A success resets it. */
	failover_probe_record(&st, "pg1", 3100, true, NULL);
	assert_int_equal(st.failures, 0);
	evaluate(&f, &st, 3100, &d);
	assert_int_equal(d.verdict, HA_HEALTHY);

	/* Without probes during a switchover (60 s), the old history would
	 * count the primary as failing since its last success: two failed
	 * probes would promote at once. The agent starts the history again
	 * during a decision (failover_probe_init): failing from its first failure. */
	failover_probe_record(&st, "pg1", 63100, false, "connection refused");
	failover_probe_record(&st, "pg1", 63600, false, "connection refused");
	evaluate(&f, &st, 63600, &d);
	assert_int_equal(d.verdict, HA_PROMOTE);
	failover_probe_init(&st);
	failover_probe_record(&st, "pg1", 63100, false, "connection refused");
	failover_probe_record(&st, "pg1", 63600, false, "connection refused");
	evaluate(&f, &st, 63600, &d);
	assert_int_equal(d.verdict, HA_SUSPECT);
	assert_int_equal(d.failed_for_ms, 500);
	fx_free(&f);
}

static void test_evaluate_blocked(void **state)
{
	PgcProbeState st;
	PgcHaDecision d;
	PgcObsNode *n;
	Fx f;

	(void)state;
	fx_init(&f, NULL, "    failover: {mode: manual, detect_after: 2s}\n", NULL);
	failover_probe_init(&st);
	failover_probe_record(&st, "pg1", 0, false, "timeout expired");
	failover_probe_record(&st, "pg1", 2000, false, "timeout expired");
	evaluate(&f, &st, 2000, &d);
	assert_int_equal(d.verdict, HA_BLOCKED);
	assert_string_equal(d.reason, "primary \"pg1\" has failed 2 probes in a row for 2 s "
				      "(timeout expired), and failover.mode is manual: run "
				      "'pgconverge failover --cluster c'");
	fx_free(&f);

	/* Partition: a replica still hears from the primary. */
	fx_init(&f, NULL, NULL, NULL);
	n = onode(f.o, "pg2");
	n->wal_receiver_status = "streaming";
	n->wal_receiver_last_msg_age_s = 0.2;
	evaluate(&f, &st, 2000, &d);
	assert_int_equal(d.verdict, HA_BLOCKED);
	assert_true(d.choice.partition);
	assert_string_equal(failover_verdict_name(d.verdict), "blocked");
	fx_free(&f);

	/* Not on this machine and no fence_command: nobody can fence it. */
	fx_init(&f, NULL, NULL, NULL);
	onode(f.o, "pg1")->local = false;
	evaluate(&f, &st, 2000, &d);
	assert_int_equal(d.verdict, HA_BLOCKED);
	assert_string_equal(d.reason, "primary \"pg1\" has failed 2 probes in a row for 2 s "
				      "(timeout expired), but it cannot be fenced: node \"pg1\" is "
				      "on host \"127.0.0.1\", not on this machine, so pgconverge "
				      "cannot stop it, and failover.fence_command is not set");
	fx_free(&f);

	fx_init(&f, NULL, "    failover: {mode: auto, fence_command: [/bin/true]}\n", NULL);
	onode(f.o, "pg1")->local = false;
	evaluate(&f, &st, 20000, &d);
	assert_int_equal(d.verdict, HA_PROMOTE);
	fx_free(&f);
}

static void test_evaluate_anti_flap(void **state)
{
	PgcProbeState st;
	PgcHaDecision d;
	Fx f;

	(void)state;
	fx_init(&f, NULL, NULL, NULL);
	failover_probe_init(&st);
	st.last_failover_ms = 0;
	failover_probe_record(&st, "pg1", 60000, false, "timeout expired");
	assert_true(st.last_failover_ms == 0); /* kept across the new history */
	failover_probe_record(&st, "pg1", 63000, false, "timeout expired");
	/* Down for sure (no postmaster for its local data directory): allowed. */
	evaluate(&f, &st, 63000, &d);
	assert_int_equal(d.verdict, HA_PROMOTE);

	/* Only unreachable (its postmaster runs): within min_interval, blocked. */
	onode(f.o, "pg1")->postmaster_alive = true;
	evaluate(&f, &st, 63000, &d);
	assert_int_equal(d.verdict, HA_BLOCKED);
	assert_string_equal(d.reason, "primary \"pg1\" has failed 2 probes in a row for 3 s "
				      "(timeout expired), but the last failover was 63 s ago, within "
				      "failover.min_interval (5 min), and the primary is not "
				      "confirmed down (a local data directory without a running "
				      "server)");
	/* After min_interval it may go again. */
	failover_probe_record(&st, "pg1", 301000, false, "timeout expired");
	evaluate(&f, &st, 301000, &d);
	assert_int_equal(d.verdict, HA_PROMOTE);
	fx_free(&f);
}

/* Coordinated agents: the primary's own agent fenced it, or its lease expired. */
static void test_evaluate_coordinated(void **state)
{
	PgcEvaluateOptions eo = {.now_ms = 63000, .min_interval_ms = 0};
	PgcProbeState st;
	PgcHaDecision d;
	Fx f;

	(void)state;
	fx_init(&f, NULL, NULL, NULL);
	onode(f.o, "pg1")->local = false;
	onode(f.o, "pg1")->postmaster_alive = true;
	failover_probe_init(&st);
	st.last_failover_ms = 0;
	failover_probe_record(&st, "pg1", 60000, false, "connection refused");
	failover_probe_record(&st, "pg1", 63000, false, "connection refused");
	/* Elsewhere, no fence_command: refused, unless fenced elsewhere. */
	failover_evaluate(f.a, &f.t->clusters[0], f.o, NULL, &st, &eo, &d);
	assert_int_equal(d.verdict, HA_BLOCKED);
	eo.fenced_elsewhere = true;
	failover_evaluate(f.a, &f.t->clusters[0], f.o, NULL, &st, &eo, &d);
	assert_int_equal(d.verdict, HA_BLOCKED);
	assert_non_null(strstr(d.reason, "within failover.min_interval"));
	/* Its own agent saw no postmaster: confirmed down, min_interval does not hold. */
	eo.confirmed_down = true;
	failover_evaluate(f.a, &f.t->clusters[0], f.o, NULL, &st, &eo, &d);
	assert_int_equal(d.verdict, HA_PROMOTE);
	assert_string_equal(d.candidate, "pg2");
	/* The partition rule still holds. */
	onode(f.o, "pg2")->wal_receiver_status = "streaming";
	onode(f.o, "pg2")->wal_receiver_last_msg_age_s = 0.5;
	failover_evaluate(f.a, &f.t->clusters[0], f.o, NULL, &st, &eo, &d);
	assert_int_equal(d.verdict, HA_BLOCKED);
	assert_true(d.choice.partition);
	fx_free(&f);
}

static void test_probe_record_new_primary(void **state)
{
	PgcProbeState st;

	(void)state;
	failover_probe_init(&st);
	failover_probe_record(&st, "pg1", 10, false, "x");
	failover_probe_record(&st, "pg1", 20, false, "y");
	assert_int_equal(st.failures, 2);
	assert_true(st.first_failure_ms == 10);
	assert_string_equal(st.last_error, "y");
	failover_probe_record(&st, "pg2", 30, false, "z");
	assert_string_equal(st.primary, "pg2");
	assert_int_equal(st.failures, 1);
	assert_true(st.first_failure_ms == 30);
	assert_true(st.last_success_ms == -1);
}

/* ---- the topology after a failover --------------------------------------------------- */

static void test_failover_topology(void **state)
{
	PgcTopology *t = topo(SYNC_ANY1, NULL,
			      "      pg4: {host: 127.0.0.1, port: 26004, data_dir: d/pg4, "
			      "replicate_from: pg1}\n"
			      "      pg5: {host: 127.0.0.1, port: 26005, data_dir: d/pg5, "
			      "replicate_from: pg3}\n");
	PgcArena *a = arena_new();
	const PgcCluster *c = &t->clusters[0];
	PgcCluster *x = failover_topology(a, c, "pg1", "pg2");
	PgcConfParam *params;
	size_t np;

	(void)state;
	assert_string_equal(x->primary.v, "pg2");
	assert_string_equal(c->primary.v, "pg1"); /* the original is untouched */
	assert_null(cluster_upstream(x, cluster_node(x, "pg2")));
	assert_string_equal(cluster_upstream(x, cluster_node(x, "pg1"))->name, "pg2");
	assert_string_equal(cluster_upstream(x, cluster_node(x, "pg3"))->name, "pg2");
	assert_string_equal(cluster_upstream(x, cluster_node(x, "pg4"))->name, "pg2");
	assert_string_equal(cluster_upstream(x, cluster_node(x, "pg5"))->name, "pg3");
	assert_string_equal(cluster_upstream(c, cluster_node(c, "pg4"))->name, "pg1");

	/* The files rendered from the copy: the new primary lists its replicas. */
	np = plan_conf_params(a, x, cluster_node(x, "pg2"), &params);
	for (size_t i = 0; i < np; i++) {
		assert_string_not_equal(params[i].name, "primary_conninfo");
		if (strcmp(params[i].name, "synchronous_standby_names") == 0)
			assert_string_equal(params[i].value, "ANY 1 (\"pg1\", \"pg3\", \"pg4\")");
	}
	np = plan_conf_params(a, x, cluster_node(x, "pg1"), &params);
	for (size_t i = 0; i < np; i++)
		if (strcmp(params[i].name, "primary_conninfo") == 0)
			assert_string_equal(params[i].value, "host=127.0.0.1 port=26002 "
							     "user=replicator application_name=pg1");
	arena_free(a);
	topology_free(t);
}


/* ---- fencing a node elsewhere: failover.fence_command ------------------------------ */

static PgcTopology *remote_topo(const char *fence)
{
	PgcLoadOptions opts = {.base_dir = "/srv/pgc", .offline = true};
	PgcDiagList diags = {0};
	char buf[2048];
	PgcTopology *t;

	snprintf(buf, sizeof buf,
		 "version: 1\n"
		 "clusters:\n"
		 "  c:\n"
		 "    primary: pg1\n"
		 "    nodes:\n"
		 "      pg1: {host: 192.0.2.10, port: 26001, data_dir: d/pg1}\n"
		 "      pg2: {host: 127.0.0.1, port: 26002, data_dir: d/pg2}\n"
		 "%s",
		 fence);
	t = topology_load_buffer(buf, strlen(buf), "test.yaml", &opts, &diags);
	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	return t;
}

static void test_fence_command(void **state)
{
	char dir[] = "/tmp/pgc-fence-XXXXXX", script[64], out[64], yaml[256], got[256] = "";
	PgcFenceResult r;
	PgcTopology *t;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(script, sizeof script, "%s/fence.sh", dir);
	snprintf(out, sizeof out, "%s/fenced", dir);
	f = fopen(script, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\necho \"$PGC_CLUSTER $PGC_NODE $PGC_HOST $PGC_PORT $2\" > \"$1\"\n", f);
	fclose(f);
	assert_int_equal(chmod(script, 0700), 0);

	snprintf(yaml, sizeof yaml, "    failover: {fence_command: [%s, %s, 'two words']}\n", script, out);
	t = remote_topo(yaml);
	assert_int_equal(fence_node(&t->clusters[0], cluster_node(&t->clusters[0], "pg1"), NULL, &r), 0);
	assert_int_equal(r.method, FENCE_COMMAND);
	assert_string_equal(fence_method_name(r.method), "fence-command");
	f = fopen(out, "r");
	assert_non_null(f);
	assert_non_null(fgets(got, sizeof got, f));
	fclose(f);
	/* argv, not a shell: "two words" arrives as one argument. */
	assert_string_equal(got, "c pg1 192.0.2.10 26001 two words\n");
	topology_free(t);

	t = remote_topo("    failover: {fence_command: [/bin/false]}\n");
	assert_int_equal(fence_node(&t->clusters[0], cluster_node(&t->clusters[0], "pg1"), NULL, &r), -1);
	assert_int_equal(r.method, FENCE_NONE);
	assert_string_equal(r.detail, "failover.fence_command failed for node \"c/pg1\": false exited "
				      "with code 1");
	topology_free(t);

	t = remote_topo("");
	assert_int_equal(fence_node(&t->clusters[0], cluster_node(&t->clusters[0], "pg1"), NULL, &r), -1);
	assert_string_equal(r.detail, "node \"pg1\" is on host \"192.0.2.10\", not on this machine, and "
				      "failover.fence_command is not set");
	topology_free(t);
	unlink(out);
	unlink(script);
	rmdir(dir);
}

/* ---- rejoin's decisions and pg_controldata -------------------------------------------- */

static void test_rejoin_history(void **state)
{
	const char *h = "1\t0/3000148\tno recovery target specified\n"
			"\n"
			"2\t0/5000000\tno recovery target specified\n";
	uint64_t v = 0;

	(void)state;
	assert_int_equal(rejoin_parse_history(h, 1, &v), 0);
	assert_true(v == 0x3000148);
	assert_int_equal(rejoin_parse_history(h, 2, &v), 0);
	assert_true(v == 0x5000000);
	assert_int_equal(rejoin_parse_history(h, 3, &v), -1);
	assert_int_equal(rejoin_parse_history("", 1, &v), -1);
	assert_int_equal(rejoin_parse_history(NULL, 1, &v), -1);
}

static void test_rejoin_needs_rewind(void **state)
{
	(void)state;
	/* Same timeline: it follows. */
	assert_false(rejoin_needs_rewind("in production", 2, 0x9000000, 2, false, 0));
	/* Clean shutdown before the fork: its last record is on the primary too. */
	assert_false(rejoin_needs_rewind("shut down", 1, 0x3000028, 2, true, 0x30000A0));
	assert_false(rejoin_needs_rewind("shut down in recovery", 1, 0x3000028, 2, true, 0x30000A0));
	/* The shutdown checkpoint itself is past the fork: rewind. */
	assert_true(rejoin_needs_rewind("shut down", 1, 0x30000A0, 2, true, 0x30000A0));
	/* Crashed: its WAL may go on past the last checkpoint. */
	assert_true(rejoin_needs_rewind("in production", 1, 0x3000028, 2, true, 0x30000A0));
	assert_true(rejoin_needs_rewind("shut down", 1, 0x3000028, 2, false, 0));
	assert_true(rejoin_needs_rewind("shut down", 3, 0x3000028, 2, true, 0x30000A0));
}

static void test_rejoin_found_primary(void **state)
{
	PgcArena *a = arena_new();
	PgcObsNode live = {.name = "pg2", .reachable = true, .in_recovery = false, .timeline = 2};
	PgcObsNode old = {.name = "pg1", .reachable = true, .in_recovery = false, .timeline = 1};
	const char *why;

	(void)state;
	assert_true(rejoin_found_primary(a, &old, &live, &why));
	assert_string_equal(why, "node \"pg1\" accepts writes on timeline 1 while \"pg2\" is the "
				 "primary (timeline 2)");
	old.in_recovery = true;
	assert_false(rejoin_found_primary(a, &old, &live, &why));
	assert_null(why);
	assert_false(rejoin_found_primary(a, &live, &live, &why));
	arena_free(a);
}

static void test_parse_controldata(void **state)
{
	const char *text = "pg_control version number:            1300\n"
			   "Database system identifier:           7301234567890123456\n"
			   "Database cluster state:               shut down\n"
			   "Latest checkpoint location:           0/40475A0\n"
			   "Latest checkpoint's REDO location:    0/40475A0\n"
			   "Latest checkpoint's TimeLineID:       2\n"
			   "Latest checkpoint's PrevTimeLineID:   2\n";
	PgcControl c;

	(void)state;
	assert_int_equal(ha_parse_controldata(text, &c), 0);
	assert_string_equal(c.state, "shut down");
	assert_int_equal(c.timeline, 2);
	assert_true(c.checkpoint_lsn == 0x40475A0);
	assert_true(c.system_identifier == 7301234567890123456ull);
	assert_int_equal(ha_parse_controldata("Database system identifier: 1\n", &c), -1);
	assert_int_equal(ha_parse_controldata(NULL, &c), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lsn),
		cmocka_unit_test(test_highest_lsn_wins),
		cmocka_unit_test(test_replayed_counts_when_higher),
		cmocka_unit_test(test_region_breaks_tie),
		cmocka_unit_test(test_declaration_order_breaks_tie),
		cmocka_unit_test(test_ineligible_reasons),
		cmocka_unit_test(test_sync_seen_first),
		cmocka_unit_test(test_sync_quorum_coverage),
		cmocka_unit_test(test_sync_declared_excludes_cascade),
		cmocka_unit_test(test_sync_seen_async_only),
		cmocka_unit_test(test_max_lag),
		cmocka_unit_test(test_partition_rule),
		cmocka_unit_test(test_to),
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_evaluate_blocked),
		cmocka_unit_test(test_evaluate_anti_flap),
		cmocka_unit_test(test_probe_record_new_primary),
		cmocka_unit_test(test_failover_topology),
		cmocka_unit_test(test_fence_command),
		cmocka_unit_test(test_evaluate_coordinated),
		cmocka_unit_test(test_rejoin_history),
		cmocka_unit_test(test_rejoin_needs_rewind),
		cmocka_unit_test(test_rejoin_found_primary),
		cmocka_unit_test(test_parse_controldata),
	};

	return cmocka_run_group_tests_name("failover", tests, NULL, NULL);
}
