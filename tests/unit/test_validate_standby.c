/*
 * tests/unit/test_validate_standby.c - standby clusters (`standby_of`): what
 * the loader fills in (the source's replication user and password), each
 * validation error with its position, key and hint, and the offline plan of
 * a standby cluster built from nothing (its leader cloned from the source's
 * primary through a slot there, no SQL write on it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "reconcile/observe/graph.h"
#include "reconcile/planner.h"
#include "reconcile/pg/layout.h"
#include "reconcile/postgres/plan_conf.h"
#include "reconcile/postgres/plan_postgres.h"
#include "schema/pgcatalog.h"
#include "reconcile/standby/plan_standby.h"
#include "reconcile/standby/standby_status.h"
#include "schema/topology.h"

#define SOURCE "version: 1\nclusters:\n" EU

#define EU                                                                      \
	"  eu:\n"                                                               \
	"    primary: eu1\n"                                                    \
	"    nodes:\n"                                                          \
	"      eu1: {port: 25470, data_dir: data/eu1}\n"                        \
	"      eu2: {port: 25471, data_dir: data/eu2}\n"                        \
	"    settings: {max_connections: 100}\n"                               \
	"    replication: {user: repl, password: {env: REPL_PW}}\n"            \
	"    roles:\n"                                                          \
	"      app: {login: true}\n"                                            \
	"    databases:\n"                                                      \
	"      appdb: {owner: app}\n"

/* us: lines 14-19 of the file. */
#define STANDBY(of, extra)                                                      \
	"  us:\n"                                                               \
	"    standby_of: " of "\n"                                              \
	"    primary: us1\n"                                                    \
	"    nodes:\n"                                                          \
	"      us1: {port: 25472, data_dir: data/us1}\n"                        \
	"      us2: {port: 25473, data_dir: data/us2}\n" extra

static PgcTopology *load(const char *yaml, PgcDiagList *diags)
{
	PgcLoadOptions opts = {.base_dir = "/srv/topo", .offline = true};

	return topology_load_buffer(yaml, strlen(yaml), "t.yaml", &opts, diags);
}

/* errors - every error and warning as diag_format() prints it, sorted (malloc'd). */
static char *errors(PgcDiagList *diags)
{
	size_t len = 1;
	char *out = calloc(1, 1);

	diag_sort(diags);
	for (size_t i = 0; i < diags->n; i++) {
		char *s = diag_format(&diags->items[i]);

		len += strlen(s) + 1;
		out = realloc(out, len);
		strcat(out, s);
		strcat(out, "\n");
		free(s);
	}
	return out;
}

/* expect - loading yaml reports exactly want. */
static void expect(const char *yaml, const char *want)
{
	PgcDiagList diags = {0};
	PgcTopology *t = load(yaml, &diags);
	char *got = errors(&diags);

	assert_string_equal(got, want);
	free(got);
	topology_free(t);
	diag_free(&diags);
}

static void test_valid_inherits_replication(void **state)
{
	PgcDiagList diags = {0};
	PgcTopology *t;
	const PgcCluster *us;

	(void)state;
	t = load(SOURCE STANDBY("eu", "    settings: {max_connections: 100}\n"), &diags);
	assert_non_null(t);
	assert_int_equal(diags.n, 0);
	us = topology_cluster(t, "us");
	assert_string_equal(us->standby_of.v, "eu");
	assert_int_equal(us->standby_of.pos.line, 15);
	/* It streams as the source's replication user, not the default. */
	assert_string_equal(us->replication.user.v, "repl");
	assert_false(us->replication.user.set);
	assert_int_equal(us->replication.password.kind, SECRET_ENV);
	assert_string_equal(us->replication.password.ref, "REPL_PW");
	/* Nothing of the planner's live copy is set by the loader. */
	assert_null(us->standby_upstream);
	assert_null(us->standby_slot);
	assert_int_equal(us->n_kept_slots, 0);
	topology_free(t);
	diag_free(&diags);
}

static void test_chain_of_three(void **state)
{
	(void)state;
	expect(SOURCE STANDBY("eu", "    settings: {max_connections: 100}\n")
	       "  ap:\n"
	       "    standby_of: us\n"
	       "    nodes:\n"
	       "      ap1: {port: 25474, data_dir: data/ap1}\n"
	       "    settings: {max_connections: 100}\n",
	       "");
}

static void test_unknown_source(void **state)
{
	(void)state;
	expect(SOURCE STANDBY("ue", "    settings: {max_connections: 100}\n"),
	       "t.yaml:15:17: error: clusters.us.standby_of: standby_of names cluster \"ue\", which "
	       "is not in the topology\n  hint: did you mean \"eu\"?\n");
}

static void test_self(void **state)
{
	(void)state;
	expect(SOURCE STANDBY("us", "    settings: {max_connections: 100}\n"),
	       "t.yaml:15:17: error: clusters.us.standby_of: cluster \"us\" cannot be a standby of "
	       "itself\n  hint: name the cluster whose primary it follows\n");
}

static void test_cycle(void **state)
{
	(void)state;
	expect("version: 1\n"
	       "clusters:\n"
	       "  a:\n"
	       "    standby_of: b\n"
	       "    nodes: {a1: {port: 25470, data_dir: data/a1}}\n"
	       "  b:\n"
	       "    standby_of: a\n"
	       "    nodes: {b1: {port: 25471, data_dir: data/b1}}\n",
	       "t.yaml:4:17: error: clusters.a.standby_of: standby clusters form a cycle: \"a\" -> "
	       "\"b\" -> \"a\"\n  hint: one cluster of the chain must be the primary one: remove "
	       "its standby_of\n"
	       "t.yaml:7:17: error: clusters.b.standby_of: standby clusters form a cycle: \"b\" -> "
	       "\"a\" -> \"b\"\n  hint: one cluster of the chain must be the primary one: remove "
	       "its standby_of\n");
}

static void test_major_version(void **state)
{
	(void)state;
	expect(SOURCE STANDBY("eu", "    settings: {max_connections: 100}\n"
				    "    postgres: {version: 16}\n"),
	       "t.yaml:21:25: error: clusters.us.postgres.version: standby cluster \"us\" runs "
	       "postgresql 16, its source \"eu\" 15\n  hint: set postgres.version: 15 on both: "
	       "physical replication needs one major version\n"
	       "t.yaml:21:25: error: clusters.us.postgres.version: unknown postgresql major version "
	       "16: expected one of 15\n");
}

static void test_smaller_settings(void **state)
{
	(void)state;
	/* The default (100) is not less than eu's; a node's own 50 is. */
	expect(SOURCE "  us:\n"
		      "    standby_of: eu\n"
		      "    primary: us1\n"
		      "    nodes:\n"
		      "      us1: {port: 25472, data_dir: data/us1, settings: {max_connections: 50}}\n"
		      "    settings: {max_worker_processes: 4}\n",
	       "t.yaml:18:74: error: clusters.us.nodes.us1.settings.max_connections: max_connections "
	       "50 on \"us1\" of standby cluster \"us\" is lower than 100 on \"eu1\" of its source "
	       "\"eu\": a standby does not start with less than its primary\n"
	       "  hint: set max_connections: 100 (or more) under clusters.us.settings\n"
	       "t.yaml:19:38: error: clusters.us.settings.max_worker_processes: max_worker_processes "
	       "4 on \"us1\" of standby cluster \"us\" is lower than 8 on \"eu1\" of its source \"eu\": "
	       "a standby does not start with less than its primary\n"
	       "  hint: set max_worker_processes: 8 (or more) under clusters.us.settings\n");
}

static void test_roles_databases_replication(void **state)
{
	(void)state;
	expect(SOURCE STANDBY("eu", "    settings: {max_connections: 100}\n"
				    "    roles:\n"
				    "      app: {login: true}\n"
				    "      other: {}\n"
				    "      appdb_owner: {login: false}\n"
				    "    databases:\n"
				    "      appdb: {owner: postgres}\n"
				    "    replication: {user: mine}\n"),
	       "t.yaml:23:7: error: clusters.us.roles.other: role \"other\" of standby cluster \"us\" "
	       "is not a role of its source \"eu\": a standby cluster refuses writes\n"
	       "  hint: declare it under clusters.eu (the source), or remove it here: a standby "
	       "cluster has its source's roles and databases\n"
	       "t.yaml:24:7: error: clusters.us.roles.appdb_owner: role \"appdb_owner\" of standby "
	       "cluster \"us\" is not a role of its source \"eu\": a standby cluster refuses writes\n"
	       "  hint: declare it under clusters.eu (the source), or remove it here: a standby "
	       "cluster has its source's roles and databases\n"
	       "t.yaml:26:7: error: clusters.us.databases.appdb: database \"appdb\" of standby "
	       "cluster \"us\" differs from the source's (line 13): a standby cluster refuses "
	       "writes\n"
	       "  hint: declare it under clusters.eu (the source), or remove it here: a standby "
	       "cluster has its source's roles and databases\n"
	       "t.yaml:27:25: error: clusters.us.replication: standby cluster \"us\" streams with "
	       "the replication user and password of its source \"eu\": it cannot declare its own\n"
	       "  hint: set them under clusters.eu.replication, or remove them here\n");
}

static void test_bootstrap_initdb(void **state)
{
	(void)state;
	expect(SOURCE STANDBY("eu", "    settings: {max_connections: 100}\n"
				    "    initdb: {locale: C}\n"),
	       "t.yaml:21:13: error: clusters.us.initdb: standby_of and initdb are exclusive\n"
	       "  hint: remove the initdb section: a standby cluster is a copy of its source\n");
}

static void test_no_automatic_failover(void **state)
{
	(void)state;
	expect(SOURCE STANDBY("eu", "    settings: {max_connections: 100}\n"
				    "    failover: {mode: auto}\n"),
	       "t.yaml:21:22: error: clusters.us.failover.mode: a standby cluster cannot fail over "
	       "automatically: automatic cross-region failover needs coordination.etcd and at least "
	       "three regions voting, and is not supported; promoting one of its nodes forks it from "
	       "its source \"eu\"\n"
	       "  hint: use failover.mode manual, and when the source's region is lost promote it "
	       "with 'pgconverge failover --cluster us --force'\n");
}

/* find - the plan's action with id, or NULL. */
static const PgcAction *find(const PgcPlan *p, const char *id)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (strcmp(p->actions[i].id, id) == 0)
			return &p->actions[i];
	return NULL;
}

static bool depends(const PgcAction *a, const char *id)
{
	for (size_t i = 0; i < a->n_depends_on; i++)
		if (strcmp(a->depends_on[i], id) == 0)
			return true;
	return false;
}

static void test_offline_plan(void **state)
{
	PgcDiagList diags = {0};
	PgcTopology *t;
	PgcPlan *p;
	const PgcAction *clone, *slot, *conf;

	(void)state;
	/* The standby cluster first in the file: the source is planned first all the same. */
	t = load("version: 1\nclusters:\n" STANDBY("eu", "    settings: {max_connections: 100}\n") EU,
		 &diags);
	assert_non_null(t);
	assert_int_equal(diags.n, 0);
	p = plan_build(t, NULL, NULL);
	assert_non_null(p);
	assert_non_null(find(p, "eu/eu1/initdb"));
	assert_null(find(p, "us/us1/initdb"));
	slot = find(p, "eu/eu1/create-slot:pgc_standby_us");
	assert_non_null(slot);
	assert_true(depends(slot, "eu/eu1/start"));
	clone = find(p, "us/us1/clone");
	assert_non_null(clone);
	assert_string_equal(clone->payload.upstream, "eu/eu1");
	assert_true(depends(clone, "eu/eu1/start"));
	assert_true(depends(clone, slot->id));
	assert_true(depends(clone, "eu/eu1/create-role:repl"));
	/* us2 cascades from us1. */
	assert_string_equal(find(p, "us/us2/clone")->payload.upstream, "us1");
	conf = find(p, "us/us1/config");
	assert_non_null(conf);
	assert_non_null(strstr(conf->payload.content, "primary_slot_name = 'pgc_standby_us'"));
	assert_non_null(strstr(conf->payload.content, "port=25470 user=repl application_name=us-us1"));
	/* No SQL write is planned on the standby cluster. */
	for (size_t i = 0; i < p->n_actions; i++) {
		const PgcAction *a = &p->actions[i];

		if (strcmp(a->cluster, "us") == 0)
			assert_true(a->kind != ACT_CREATE_ROLE && a->kind != ACT_CREATE_DATABASE &&
				    a->kind != ACT_ALTER_ROLE && a->kind != ACT_GRANT_ROLE);
	}
	plan_free(p);
	topology_free(t);
	diag_free(&diags);
}

static void test_offline_plan_chain(void **state)
{
	PgcDiagList diags = {0};
	PgcTopology *t;
	PgcPlan *p;
	const PgcAction *clone;

	(void)state;
	t = load(SOURCE STANDBY("eu", "    settings: {max_connections: 100}\n")
		 "  ap:\n"
		 "    standby_of: us\n"
		 "    nodes:\n"
		 "      ap1: {port: 25474, data_dir: data/ap1}\n"
		 "    settings: {max_connections: 100}\n",
		 &diags);
	assert_non_null(t);
	assert_int_equal(diags.n, 0);
	p = plan_build(t, NULL, NULL);
	assert_non_null(p);
	/* us's leader keeps ap's slot; ap's leader is copied from it, after it is up. */
	assert_non_null(find(p, "us/us1/create-slot:pgc_standby_ap"));
	assert_null(find(p, "eu/eu1/create-slot:pgc_standby_ap"));
	clone = find(p, "ap/ap1/clone");
	assert_non_null(clone);
	assert_string_equal(clone->payload.upstream, "us/us1");
	assert_true(depends(clone, "us/us1/start"));
	assert_true(depends(clone, "us/us1/create-slot:pgc_standby_ap"));
	plan_free(p);
	{
		/* ap replays eu's catalog through us, which declares none of its own. */
		PgcArena *a = arena_new();
		const PgcCluster *ap = plan_standby_live(a, t, topology_cluster(t, "ap"), NULL, NULL);

		assert_int_equal(ap->n_roles, 1);
		assert_string_equal(ap->roles[0].name, "app");
		assert_int_equal(ap->n_databases, 1);
		assert_string_equal(ap->databases[0].name, "appdb");
		arena_free(a);
	}
	topology_free(t);
	diag_free(&diags);
}

/*
 * test_status_and_graph - the chain, the node the leader streams from and
 * its lag behind the source's write position, in status and graph, from a
 * hand-built observed state (eu1 the primary at 0/3000100, us1 replaying
 * 0/3000000 from eu1, 1.5 s behind).
 */
static void test_status_and_graph(void **state)
{
	PgcDiagList diags = {0};
	PgcTopology *t;
	PgcObsNode eu[2] = {{0}}, us[2] = {{0}};
	PgcObsCluster oc[2] = {{.name = "eu", .nodes = eu, .n_nodes = 2},
			       {.name = "us", .nodes = us, .n_nodes = 2}};
	PgcObserved obs = {.clusters = oc, .n_clusters = 2};
	PgcStandbyStatus st;
	char *dot = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	t = load(SOURCE STANDBY("eu", "    settings: {max_connections: 100}\n"), &diags);
	assert_non_null(t);
	obs.arena = arena_new();
	eu[0] = (PgcObsNode){.name = "eu1", .cluster = "eu", .reachable = true, .current_lsn = "0/3000100"};
	eu[1] = (PgcObsNode){.name = "eu2", .cluster = "eu", .reachable = true, .in_recovery = true};
	us[0] = (PgcObsNode){.name = "us1", .cluster = "us", .reachable = true, .in_recovery = true,
			     .replay_lsn = "0/3000000", .upstream_host = "127.0.0.1",
			     .upstream_port = 25470, .replay_delay_s = 1.5};
	us[1] = (PgcObsNode){.name = "us2", .cluster = "us", .reachable = true, .in_recovery = true};

	assert_false(standby_status(obs.arena, t, &obs, topology_cluster(t, "eu"), &st));
	assert_true(standby_status(obs.arena, t, &obs, topology_cluster(t, "us"), &st));
	assert_string_equal(st.chain, "eu -> us");
	assert_string_equal(st.source, "eu");
	assert_string_equal(st.upstream, "eu1");
	assert_true(st.lag_known);
	assert_int_equal(st.lag_bytes, 0x100);
	assert_true(st.lag_seconds > 1.4 && st.lag_seconds < 1.6);

	f = open_memstream(&dot, &len);
	assert_int_equal(graph_render(f, t, NULL, &obs), 0);
	fclose(f);
	assert_non_null(strstr(dot, "\"eu/eu1\" -> \"us/us1\" [label=\"standby of eu\\nlag 256 B, 1.5 s\", "
				    "style=\"dashed\", penwidth=\"2\"];"));
	free(dot);
	arena_free(obs.arena);
	topology_free(t);
	diag_free(&diags);
}

/* leader_up - the node plan_standby_live points us's leader at. */
static const char *leader_up(PgcArena *a, const PgcTopology *t, const PgcObserved *obs, const char *live_eu)
{
	const char *live[3] = {live_eu, NULL, NULL};
	const PgcCluster *c = plan_standby_live(a, t, topology_cluster(t, "us"), obs, live);

	assert_non_null(c->standby_upstream);
	assert_string_equal(c->standby_upstream_ref, arena_printf(a, "eu/%s", c->standby_upstream->name));
	return c->standby_upstream->name;
}

/*
 * test_leader_upstream_after_source_failover - eu failed over to eu2 while
 * the file still says eu1: the standby leader is pointed at the primary
 * seen taking writes, and at its current upstream when none is seen (the
 * source unreachable, or not observed with --cluster us): never at the
 * declared eu1, a replica by now, without the slot.
 */
static void test_leader_upstream_after_source_failover(void **state)
{
	PgcDiagList diags = {0};
	PgcTopology *t;
	PgcObsNode eu[2] = {{0}}, us[2] = {{0}};
	PgcObsCluster only_us = {.name = "us", .nodes = us, .n_nodes = 2};
	PgcObsCluster src = {.name = "eu", .nodes = eu, .n_nodes = 2};
	PgcObsCluster both[2] = {{.name = "eu", .nodes = eu, .n_nodes = 2},
				 {.name = "us", .nodes = us, .n_nodes = 2}};
	PgcObserved obs = {0};
	PgcArena *a = arena_new();

	(void)state;
	t = load(SOURCE STANDBY("eu", "    settings: {max_connections: 100}\n"), &diags);
	assert_non_null(t);
	eu[0] = (PgcObsNode){.name = "eu1", .cluster = "eu", .reachable = true, .in_recovery = true,
			     .timeline = 2};
	eu[1] = (PgcObsNode){.name = "eu2", .cluster = "eu", .reachable = true, .timeline = 2};
	/* us1 streams from eu2, the live primary. */
	us[0] = (PgcObsNode){.name = "us1", .cluster = "us", .reachable = true, .in_recovery = true,
			     .upstream_host = "127.0.0.1", .upstream_port = 25471};
	us[1] = (PgcObsNode){.name = "us2", .cluster = "us", .reachable = true, .in_recovery = true};

	/* plan --cluster us, eu observed as its source: eu2 takes writes. */
	obs = (PgcObserved){.clusters = &only_us, .n_clusters = 1, .sources = &src, .n_sources = 1};
	assert_string_equal(leader_up(a, t, &obs, NULL), "eu2");
	/* ... even with the leader still pointed at eu1: it is re-pointed to eu2. */
	us[0].upstream_port = 25470;
	assert_string_equal(leader_up(a, t, &obs, NULL), "eu2");
	us[0].upstream_port = 25471;

	/* eu not observed at all: us1 keeps eu2. */
	obs = (PgcObserved){.clusters = &only_us, .n_clusters = 1};
	assert_string_equal(leader_up(a, t, &obs, NULL), "eu2");

	/* A whole pass, eu unreachable: plan_ha falls back to the declared eu1; us1 keeps eu2. */
	eu[0].reachable = eu[1].reachable = false;
	obs = (PgcObserved){.clusters = both, .n_clusters = 2};
	assert_string_equal(leader_up(a, t, &obs, "eu1"), "eu2");
	/* eu1 seen taking writes (the file's primary again): us1 follows it. */
	eu[0] = (PgcObsNode){.name = "eu1", .cluster = "eu", .reachable = true, .timeline = 3};
	assert_string_equal(leader_up(a, t, &obs, "eu1"), "eu1");

	/* Being built: no source seen, the leader not there yet: the declared primary. */
	eu[0].reachable = false;
	us[0] = (PgcObsNode){.name = "us1", .cluster = "us"};
	assert_string_equal(leader_up(a, t, &obs, "eu1"), "eu1");
	/* Offline: the live (declared) primary, as before. */
	assert_string_equal(leader_up(a, t, NULL, "eu1"), "eu1");

	arena_free(a);
	topology_free(t);
	diag_free(&diags);
}

/* converge_us - us's node idx as apply leaves it (c: us's live copy, its leader on eu1), running. */
static void converge_us(PgcArena *a, const PgcCluster *c, size_t idx, PgcObsNode *on)
{
	const PgcNode *n = &c->nodes[idx];
	const PgcNode *up = cluster_upstream(c, n);
	PgcConfParam *params;
	size_t np = plan_conf_params(a, c, n, &params);

	*on = (PgcObsNode){.name = n->name, .cluster = "us", .local = true, .dir_state = DIR_INITIALIZED,
			   .pg_version_major = 15, .system_identifier = 7441234567890123456ULL,
			   .timeline = 1, .cluster_state = "in archive recovery", .data_checksums = true,
			   .include_line = true, .managed_conf = plan_managed_conf(a, c, n),
			   .hba_conf = plan_hba_conf(a, c, n), .standby_signal = true,
			   .postmaster_pid = 4000 + (long)idx, .postmaster_alive = true, .reachable = true,
			   .server_version_num = 150010, .in_recovery = true,
			   .upstream_host = up->host.v, .upstream_port = (int)up->port.v,
			   .wal_receiver_status = "streaming", .wal_receiver_last_msg_age_s = 0.2};
	on->settings = arena_calloc(a, np + 1, sizeof(PgcObsSetting));
	for (size_t i = 0; i < np; i++) {
		const PgcParam *p = pgcatalog_lookup(15, params[i].name);
		PgcObsSetting *st = &on->settings[on->n_settings++];
		char out[1024], err[256];

		st->name = params[i].name;
		st->setting = p != NULL && pgparam_normalize(p, params[i].value, out, sizeof out, err,
							       sizeof err) == 0
				      ? arena_strdup(a, out)
				      : params[i].value;
		st->normalized = st->setting;
		st->unit = p ? p->unit : NULL;
		st->source = "configuration file";
		st->sourcefile = arena_printf(a, "%s/%s", n->data_dir.v, PGC_MANAGED_CONF);
		st->context = p ? pgcatalog_context_name(p->context) : "postmaster";
	}
	on->primary_conninfo = "redacted";
	on->passfile = (PgcObsPassfile){.read = true, .exists = true, .host = up->host.v,
					.port = arena_printf(a, "%lld", up->port.v),
					.user = c->replication.user.v, .password = PASSFILE_PW_MATCHES};
}

/* ids - the plan's action ids, one a line. */
static char *ids(PgcArena *a, const PgcPlan *p)
{
	char *s = "";

	for (size_t i = 0; i < p->n_actions; i++)
		s = arena_printf(a, "%s%s\n", s, p->actions[i].id);
	return s;
}

/*
 * test_leader_stream_check - a running standby leader that streams from
 * nobody gets the stream check replicas get (a start that waits for it to
 * stream, and fails when it cannot follow the source's timeline), when its
 * upstream on the source answers; plan --cluster us.
 */
static void test_leader_stream_check(void **state)
{
	PgcDiagList diags = {0};
	PgcTopology *t;
	PgcArena *a = arena_new();
	PgcObsNode eu[2] = {{0}}, us[2] = {{0}};
	PgcObsCluster only_us = {.name = "us", .nodes = us, .n_nodes = 2};
	PgcObsCluster src = {.name = "eu", .nodes = eu, .n_nodes = 2};
	PgcObserved obs = {.clusters = &only_us, .n_clusters = 1, .sources = &src, .n_sources = 1};
	PgcPolicy pol = {.only_cluster = "us", .now = 1700000000};
	const char *live[3] = {"eu1", NULL, NULL};
	const PgcCluster *c;
	const PgcAction *chk = NULL;
	PgcPlan *p;

	(void)state;
	t = load(SOURCE STANDBY("eu", "    settings: {max_connections: 100}\n"), &diags);
	assert_non_null(t);
	obs.arena = a;
	c = plan_standby_live(a, t, topology_cluster(t, "us"), NULL, live);
	converge_us(a, c, 0, &us[0]);
	converge_us(a, c, 1, &us[1]);
	us[0].slots = arena_calloc(a, 1, sizeof(PgcObsSlot));
	us[0].slots[0] = (PgcObsSlot){.slot_name = "us2", .active = true};
	us[0].n_slots = 1;
	eu[0] = (PgcObsNode){.name = "eu1", .cluster = "eu", .reachable = true, .timeline = 1};
	eu[1] = (PgcObsNode){.name = "eu2", .cluster = "eu", .reachable = true, .in_recovery = true};
	eu[0].replicas = arena_calloc(a, 1, sizeof(PgcObsReplica));
	eu[0].replicas[0] = (PgcObsReplica){.application_name = "us-us1", .state = "streaming"};
	eu[0].n_replicas = 1;

	/* Converged and streaming: nothing to do. */
	p = plan_build(t, &obs, &pol);
	assert_string_equal(ids(a, p), "");
	plan_free(p);

	/* Neither side streams: checked. */
	us[0].wal_receiver_status = NULL;
	eu[0].n_replicas = 0;
	p = plan_build(t, &obs, &pol);
	assert_string_equal(ids(a, p), "us/us1/start\n");
	chk = &p->actions[0];
	assert_int_equal(chk->impact, IMPACT_NONE);
	assert_false(chk->blocked);
	assert_string_equal(chk->payload.upstream, "eu/eu1");
	assert_string_equal(chk->reason,
			    "standby leader \"us1\" runs but does not stream from \"eu/eu1\" (no WAL "
			    "receiver; \"eu/eu1\" has no walsender for it): check that it streams again, "
			    "waiting for its WAL receiver to reconnect; one that cannot follow the "
			    "source's timeline must be cloned again");
	plan_free(p);

	/* Its upstream does not answer: not checked (nothing to wait for). */
	eu[0].reachable = false;
	p = plan_build(t, &obs, &pol);
	assert_string_equal(ids(a, p), "");
	plan_free(p);

	arena_free(a);
	topology_free(t);
	diag_free(&diags);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_inherits_replication),
		cmocka_unit_test(test_chain_of_three),
		cmocka_unit_test(test_unknown_source),
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_cycle),
		cmocka_unit_test(test_major_version),
		cmocka_unit_test(test_smaller_settings),
		cmocka_unit_test(test_roles_databases_replication),
		cmocka_unit_test(test_bootstrap_initdb),
		cmocka_unit_test(test_no_automatic_failover),
		cmocka_unit_test(test_offline_plan),
		cmocka_unit_test(test_offline_plan_chain),
		cmocka_unit_test(test_status_and_graph),
		cmocka_unit_test(test_leader_upstream_after_source_failover),
		cmocka_unit_test(test_leader_stream_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
