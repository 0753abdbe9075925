/*
 * tests/unit/test_plan_monitoring.c - pgBadger reports in the plan, on
 * hand-built observed states (reconcile/monitoring/plan_monitoring.c): due
 * or not after `every`, disabled, offline, new nodes, nodes of another
 * machine, an unreadable state file; the action's payload and its saved
 * plan round trip; and the pure parts of a run (pgbadger_files.c: which
 * log files, which report days) and of its state file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/arena.h"
#include "common/diag.h"
#include "reconcile/engine/action.h"
#include "reconcile/engine/builder.h"
#include "reconcile/engine/plan.h"
#include "reconcile/monitoring/pgbadger_files.h"
#include "reconcile/monitoring/plan_monitoring.h"
#include "reconcile/observe/observe.h"
#include "reconcile/observe/observe_pgbadger.h"
#include "reconcile/planner.h"
#include "schema/topology.h"

/* 2026-12-07 12:00:00 UTC */
#define NOON ((time_t)1796644800)

static PgcTopology *load(const char *monitoring, const char *pg2_host)
{
	PgcLoadOptions opts = {.base_dir = "/srv/pgc", .offline = true};
	PgcDiagList diags = {0};
	char yaml[2048];
	PgcTopology *t;

	snprintf(yaml, sizeof yaml,
		 "version: 1\n"
		 "clusters:\n"
		 "  main:\n"
		 "    primary: pg1\n"
		 "    nodes:\n"
		 "      pg1: {host: 127.0.0.1, port: 25432, data_dir: /srv/pgc/pg1}\n"
		 "      pg2: {host: %s, port: 25433, data_dir: /srv/pgc/pg2,\n"
		 "            settings: {log_directory: /var/log/pg2, log_line_prefix: '%%m [%%p] '}}\n"
		 "%s",
		 pg2_host, monitoring);
	t = topology_load_buffer(yaml, strlen(yaml), "t.yaml", &opts, &diags);
	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	return t;
}

/* observed - both nodes initialized and running on this machine, no report yet. */
static PgcObserved *observed(const PgcTopology *t)
{
	PgcArena *a = arena_new();
	PgcObserved *o = arena_calloc(a, 1, sizeof(*o));
	const PgcCluster *c = &t->clusters[0];

	o->arena = a;
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
		n->reachable = true;
		n->dir_state = DIR_INITIALIZED;
		if (c->monitoring.pgbadger.set) {
			n->pgbadger = arena_calloc(a, 1, sizeof(PgcObsPgbadger));
			n->pgbadger->path = "state";
		}
	}
	return o;
}

/* ran - node j's state file records a successful run at epoch `at`. */
static void ran(PgcObserved *o, size_t j, time_t at, bool ok)
{
	PgcObsPgbadger *pb = o->clusters[0].nodes[j].pgbadger;

	pb->exists = true;
	pb->last_run = "2026-12-07T11:00:00Z";
	pb->last_run_epoch = (double)at;
	pb->ok = ok;
}

/* plan - monitoring's actions alone, at now. */
static PgcPlan *plan(const PgcTopology *t, const PgcObserved *o, time_t now)
{
	PgcArena *a = arena_new();
	PgcPlan *p = arena_calloc(a, 1, sizeof(*p));
	PgcPolicy pol = {.now = now};
	PgcPlanBuilder b;

	p->arena = a;
	builder_init(&b, p);
	plan_monitoring_cluster(&b, &t->clusters[0], o, &pol);
	return p;
}

static char *ids(const PgcPlan *p)
{
	static char buf[4096];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < p->n_actions; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s\n", p->actions[i].id,
					p->actions[i].blocked ? " (blocked)" : "");
	return buf;
}

static char *argv_of(const PgcAction *a)
{
	static char buf[4096];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < a->payload.n_params; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", i ? " " : "",
					a->payload.params[i]);
	return buf;
}

static void test_first_run_due(void **state)
{
	PgcTopology *t = load("    monitoring: {pgbadger: {every: 1h, keep: 7}}\n", "127.0.0.1");
	PgcObserved *o = observed(t);
	PgcPlan *p = plan(t, o, NOON);
	const PgcAction *a;

	(void)state;
	assert_string_equal(ids(p), "main/pg1/pgbadger\nmain/pg2/pgbadger\n");
	a = &p->actions[0];
	assert_int_equal(a->kind, ACT_PGBADGER);
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_string_equal(a->reason, "no pgBadger report of node \"pg1\" yet (pgbadger.every 1h): "
				       "parse the log files its server finished writing into "
				       "/srv/pgc/reports/main/pg1");
	assert_string_equal(a->payload.path, "/srv/pgc/pg1/log");
	assert_string_equal(a->payload.target, "/srv/pgc/reports/main/pg1");
	assert_string_equal(argv_of(a),
			    "/usr/bin/pgbadger --incremental --outdir /srv/pgc/reports/main/pg1 "
			    "--no-week --format stderr --prefix %t [%p]: user=%u,db=%d,app=%a,client=%h  "
			    "--title pgBadger: main/pg1 --pid-dir /srv/pgc/reports/main/pg1 --tempdir "
			    "/srv/pgc/reports/main/pg1 --quiet");
	assert_int_equal(a->n_changes, 1);
	assert_string_equal(a->changes[0].key, "last pgbadger run");
	assert_null(a->changes[0].from);
	assert_string_equal(a->changes[0].to, "now");
	assert_non_null(strstr(a->payload.content, "<a href=\"pg1/index.html\">pg1</a>"));
	assert_non_null(strstr(a->payload.content, "<a href=\"pg2/index.html\">pg2</a>"));
	assert_non_null(strstr(a->payload.content, "its last 7 days"));
	/* The node's own log folder and prefix. */
	a = &p->actions[1];
	assert_string_equal(a->payload.path, "/var/log/pg2");
	assert_non_null(strstr(argv_of(a), "--prefix %m [%p]  --title"));
	/* Every node's action carries the same index. */
	assert_string_equal(p->actions[0].payload.content, p->actions[1].payload.content);
	plan_free(p);
	observe_free(o);
	topology_free(t);
}

static void test_due_after_every(void **state)
{
	PgcTopology *t = load("    monitoring: {pgbadger: {every: 1h}}\n", "127.0.0.1");
	PgcObserved *o = observed(t);
	PgcPlan *p;

	(void)state;
	ran(o, 0, NOON - 3599, true);
	ran(o, 1, NOON - 3600 - 125, false);
	p = plan(t, o, NOON);
	/* pg1 ran 59m 59s ago: not due; pg2 1h 2m ago, and failed. */
	assert_string_equal(ids(p), "main/pg2/pgbadger\n");
	assert_string_equal(p->actions[0].reason,
			    "the last pgBadger run on node \"pg2\" was 1h 2m ago and failed, "
			    "pgbadger.every is 1h: parse the log files its server finished writing "
			    "into /srv/pgc/reports/main/pg2");
	assert_string_equal(p->actions[0].changes[0].from, "2026-12-07T11:00:00Z");
	plan_free(p);
	/* Both recent: zero actions (a converged cluster with reports). */
	ran(o, 1, NOON - 60, true);
	p = plan(t, o, NOON);
	assert_int_equal(p->n_actions, 0);
	plan_free(p);
	/* Exactly every later: due (pg1, which ran since, is not). */
	ran(o, 0, NOON, true);
	p = plan(t, o, NOON + 3600 - 60);
	assert_string_equal(ids(p), "main/pg2/pgbadger\n");
	plan_free(p);
	observe_free(o);
	topology_free(t);
}

static void test_nothing_planned(void **state)
{
	PgcTopology *off = load("    monitoring: {pg_stat_statements: true, pgbadger: false}\n", "127.0.0.1");
	PgcTopology *t = load("    monitoring: {pgbadger: true}\n", "127.0.0.1");
	PgcObserved *o = observed(off);
	PgcPlan *p;
	PgcPolicy pol = {.now = NOON};

	(void)state;
	/* Disabled: nothing, whatever is observed. */
	p = plan(off, o, NOON);
	assert_int_equal(p->n_actions, 0);
	plan_free(p);
	observe_free(o);
	/* New nodes (nothing logged yet), and a node not looked at. */
	o = observed(t);
	o->clusters[0].nodes[0].dir_state = DIR_ABSENT;
	o->clusters[0].nodes[1].pgbadger = NULL;
	p = plan(t, o, NOON);
	assert_int_equal(p->n_actions, 0);
	plan_free(p);
	observe_free(o);
	/* Offline: the whole plan has no pgbadger action. */
	p = plan_build(t, NULL, &pol);
	for (size_t i = 0; i < p->n_actions; i++)
		assert_int_not_equal(p->actions[i].kind, ACT_PGBADGER);
	plan_free(p);
	topology_free(off);
	topology_free(t);
}

static void test_blocked(void **state)
{
	PgcTopology *t = load("    monitoring: {pgbadger: true}\n", "192.0.2.7");
	PgcObserved *o = observed(t);
	PgcPlan *p;

	(void)state;
	o->clusters[0].nodes[1].local = false;
	o->clusters[0].nodes[1].dir_state = DIR_UNKNOWN;
	o->clusters[0].nodes[1].pgbadger = NULL;
	o->clusters[0].nodes[0].pgbadger->exists = true;
	o->clusters[0].nodes[0].pgbadger->error = "\"state\" is malformed: not a JSON object";
	p = plan(t, o, NOON);
	assert_string_equal(ids(p), "main/pg1/pgbadger (blocked)\nmain/pg2/pgbadger (blocked)\n");
	assert_string_equal(p->actions[0].blocked_reason, "\"state\" is malformed: not a JSON object");
	assert_string_equal(p->actions[1].blocked_reason,
			    "node's host \"192.0.2.7\" is not this machine: pgBadger reads the "
			    "server's log files where they are");
	plan_free(p);
	/* Another machine's node that does not answer: nothing to report on. */
	o->clusters[0].nodes[1].reachable = false;
	p = plan(t, o, NOON);
	assert_string_equal(ids(p), "main/pg1/pgbadger (blocked)\n");
	plan_free(p);
	observe_free(o);
	topology_free(t);
}

/* A saved plan keeps the action whole: what plan shows is what apply does. */
static void test_saved_plan_round_trip(void **state)
{
	PgcTopology *t = load("    monitoring: {pgbadger: true}\n", "127.0.0.1");
	PgcObserved *o = observed(t);
	PgcPlan *p = plan(t, o, NOON), *q;
	json_t *j = plan_to_json(p);
	char err[256], why[256];

	(void)state;
	q = plan_from_json(j, err, sizeof err);
	if (q == NULL)
		fail_msg("%s", err);
	assert_int_equal(plan_compare_actions(q, p, why, sizeof why), 0);
	assert_int_equal(q->actions[0].kind, ACT_PGBADGER);
	assert_string_equal(plan_action_name(ACT_PGBADGER), "pgbadger");
	assert_true(action_has(ACT_PGBADGER, ACTION_NEEDS_HOST));
	json_decref(j);
	plan_free(q);
	plan_free(p);
	observe_free(o);
	topology_free(t);
}

/* ---- the run's pure parts ------------------------------------------------------------ */

static void test_pick_files(void **state)
{
	PgcArena *a = arena_new();
	PgcLogFile *files;
	const char **current;
	const PgcLogFile *out[16];
	PgcObsPgbadgerFile parsed[] = {{"postgresql-1.log", 100, 1000.0},
				       {"postgresql-2.log", 50, 2000.0}};
	size_t n, nc, k;

	(void)state;
	n = pgbadger_parse_listing(a,
				   "postgresql-3.log\t300\t3000.5\n"
				   "postgresql-1.log\t100\t1000.0\n"
				   "postgresql-2.log\t70\t2500.0\n" /* grew since: parsed again */
				   "postgresql-3.csv\t10\t3000.5\n"
				   "postgresql-4.log\t10\t4000\n"
				   "old.log\t10\t10\n"
				   "bad line\n"
				   "x\tnotanumber\t1\n"
				   "../up.log\t1\t1\n",
				   &files);
	assert_int_equal(n, 6);
	nc = pgbadger_current(a, "stderr log/postgresql-4.log\ncsvlog log/postgresql-4.csv\n",
			      &current);
	assert_int_equal(nc, 2);
	assert_string_equal(current[0], "postgresql-4.log");
	k = pgbadger_pick(files, n, "stderr", current, nc, true, parsed, 2, 100, out);
	assert_int_equal(k, 2);
	assert_string_equal(out[0]->name, "postgresql-2.log");
	assert_string_equal(out[1]->name, "postgresql-3.log");
	/* Without current_logfiles the newest file is taken as the one being written. */
	k = pgbadger_pick(files, n, "stderr", NULL, 0, false, NULL, 0, 0, out);
	assert_int_equal(k, 4);
	assert_string_equal(out[0]->name, "old.log");
	assert_string_equal(out[3]->name, "postgresql-3.log");
	/* csvlog: the .csv files only. */
	k = pgbadger_pick(files, n, "csv", current, nc, true, NULL, 0, 0, out);
	assert_int_equal(k, 1);
	assert_string_equal(out[0]->name, "postgresql-3.csv");
	arena_free(a);
}

static void test_expired_days(void **state)
{
	PgcArena *a = arena_new();
	const char *dirs[] = {"2026/12/07", "2026/12/01", "2026/11/30", "2025/12/31", "2026/12/xx",
			      "2026/week-49", "notes"};
	const char **old;
	size_t k;
	int cutoff;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	cutoff = pgbadger_cutoff(NOON, 7);
	assert_int_equal(cutoff, 20261201);
	k = pgbadger_expired(a, dirs, sizeof dirs / sizeof *dirs, cutoff, &old);
	assert_int_equal(k, 2);
	assert_string_equal(old[0], "2026/11/30");
	assert_string_equal(old[1], "2025/12/31");
	assert_int_equal(pgbadger_cutoff(NOON, 1), 20261207);
	arena_free(a);
}

static void test_state_file(void **state)
{
	PgcArena *a = arena_new();
	PgcObsPgbadgerFile files[] = {{"postgresql-1.log", 100, 1000.25}};
	PgcObsPgbadger s = {.last_run = "2026-12-07T12:00:00Z", .last_run_epoch = 1796644800,
			    .ok = false, .last_error = "pgbadger exited with code 1", .parsed = files,
			    .n_parsed = 1},
		       r = {0};
	char *text = observe_pgbadger_render(&s);

	(void)state;
	assert_int_equal(observe_pgbadger_parse(a, text, strlen(text), &r), 0);
	assert_string_equal(r.last_run, s.last_run);
	assert_true(r.last_run_epoch == s.last_run_epoch);
	assert_false(r.ok);
	assert_string_equal(r.last_error, "pgbadger exited with code 1");
	assert_int_equal(r.n_parsed, 1);
	assert_string_equal(r.parsed[0].name, "postgresql-1.log");
	assert_int_equal(r.parsed[0].size, 100);
	assert_true(r.parsed[0].mtime == 1000.25);
	free(text);
	memset(&r, 0, sizeof r);
	assert_int_equal(observe_pgbadger_parse(a, "[1]", 3, &r), -1);
	assert_string_equal(r.error, "not a JSON object");
	memset(&r, 0, sizeof r);
	assert_int_equal(observe_pgbadger_parse(a, "{\"ok\": true}", 12, &r), -1);
	assert_string_equal(r.error, "\"last_run\", \"last_run_epoch\" or \"parsed\" is missing or malformed");
	arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_run_due),
		cmocka_unit_test(test_due_after_every),
		cmocka_unit_test(test_nothing_planned),
		cmocka_unit_test(test_blocked),
		cmocka_unit_test(test_saved_plan_round_trip),
		cmocka_unit_test(test_pick_files),
		cmocka_unit_test(test_expired_days),
		cmocka_unit_test(test_state_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
