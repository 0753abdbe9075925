/*
 * tests/unit/test_graph.c - the DOT renderer (reconcile/observe/graph.c): exact
 * output for a small topology, the --cluster filter, escaping of odd paths
 * and names, and nodes drawn from a hand-built observed state.
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
#include "common/diag.h"
#include "reconcile/observe/graph.h"
#include "reconcile/observe/observe.h"
#include "reconcile/observe/observe_pgbouncer.h"
#include "schema/topology.h"

/*
 * A primary, a replica in another region, a replica cascading from it, a
 * second direct replica; synchronous ANY 1; pooler, balancer and backup
 * declared; and a second, single-node cluster.
 */
static const char *const main_yaml =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    primary: pg1\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 25432, data_dir: data/pg1, region: eu-west}\n"
	"      pg2: {host: 127.0.0.1, port: 25433, data_dir: data/pg2, region: us-east}\n"
	"      pg3: {port: 25434, data_dir: data/pg3, region: us-east, replicate_from: pg2}\n"
	"      pg4: {port: 25435, data_dir: data/pg4, region: eu-west}\n"
	"    replication:\n"
	"      synchronous: {method: any, count: 1}\n"
	"%s"
	"    backup:\n"
	"      repository: backups/main\n"
	"      wal_archive: true\n"
	"      base: {every: 24h, keep: 7}\n"
	"    pooler: {pgbouncer: {port: 6432}}\n"
	"    balancer: {haproxy: {write_port: 5000, read_port: 5001}}\n"
	"  other:\n"
	"    nodes:\n"
	"      o1: {port: 25440, data_dir: data/o1}\n";

static PgcTopology *load_named(const char *yaml, const char *name)
{
	PgcLoadOptions opts = {.base_dir = "/srv/pgc", .offline = true};
	PgcDiagList diags = {0};
	PgcTopology *t = topology_load_buffer(yaml, strlen(yaml), name, &opts, &diags);

	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		diag_free(&diags);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	return t;
}

/* load_main - main_yaml with extra lines in the main cluster (6 spaces for its keys' values). */
static PgcTopology *load_main(const char *extra)
{
	char yaml[4096];

	snprintf(yaml, sizeof yaml, main_yaml, extra);
	return load_named(yaml, "test.yaml");
}

/* render - graph_render() into a malloc'd string. */
static char *render(const PgcTopology *t, const char *only, const PgcObserved *obs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(graph_render(f, t, only, obs), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void assert_text(const char *got, const char *want)
{
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "--- got ---\n%s--- want ---\n%s", got, want);
		fail_msg("the DOT text differs");
	}
}

#define HEADER(label)                                                                              \
	"digraph \"pgconverge\" {\n"                                                               \
	"\tgraph [label=\"" label "\", labelloc=\"t\", fontname=\"Helvetica\", compound=\"true\"];\n" \
	"\tnode [fontname=\"Helvetica\", shape=\"box\", style=\"rounded,filled\", fillcolor=\"white\"];\n" \
	"\tedge [fontname=\"Helvetica\", fontsize=\"10\"];\n"

#define OTHER_CLUSTER(o1_extra)                                                                    \
	"\tsubgraph \"cluster_other\" {\n"                                                          \
	"\t\tgraph [label=\"cluster other\\npostgres 15, failover manual\", style=\"rounded\"];\n"  \
	"\t\t\"other/o1\" [label=\"o1\\nprimary\\n127.0.0.1:25440" o1_extra "];\n"                  \
	"\t}\n"

#define MAIN_EDGES                                                                                 \
	"\t\"main/pg1\" -> \"main/pg2\" [label=\"sync (any 1)\", penwidth=\"2\"];\n"               \
	"\t\"main/pg2\" -> \"main/pg3\";\n"                                                         \
	"\t\"main/pg1\" -> \"main/pg4\" [label=\"sync (any 1)\", penwidth=\"2\"];\n"               \
	"\t\"main:pgbouncer\" -> \"main/pg1\" [label=\"pool\"];\n"                                  \
	"\t\"main:haproxy\" -> \"main/pg1\" [label=\"write\"];\n"                                   \
	"\t\"main:haproxy\" -> \"main/pg2\" [label=\"read\", style=\"dashed\"];\n"                  \
	"\t\"main:haproxy\" -> \"main/pg3\" [label=\"read\", style=\"dashed\"];\n"                  \
	"\t\"main:haproxy\" -> \"main/pg4\" [label=\"read\", style=\"dashed\"];\n"                  \
	"\t\"main/pg1\" -> \"repository:/srv/pgc/backups/main\" [label=\"base every 1d, keep 7\\nWAL " \
	"archive\", ltail=\"cluster_main\"];\n"

static void test_topology(void **state)
{
	PgcTopology *t = load_main("");
	char *got = render(t, NULL, NULL);

	(void)state;
	assert_text(
	    got,
	    HEADER("test.yaml")
	    "\tsubgraph \"cluster_main\" {\n"
	    "\t\tgraph [label=\"cluster main\\npostgres 15, failover manual\", style=\"rounded\"];\n"
	    "\t\tsubgraph \"cluster_main/eu-west\" {\n"
	    "\t\t\tgraph [label=\"region eu-west\", style=\"dashed\"];\n"
	    "\t\t\t\"main/pg1\" [label=\"pg1\\nprimary\\n127.0.0.1:25432\", penwidth=\"2\"];\n"
	    "\t\t\t\"main/pg4\" [label=\"pg4\\nreplica\\n127.0.0.1:25435\"];\n"
	    "\t\t}\n"
	    "\t\tsubgraph \"cluster_main/us-east\" {\n"
	    "\t\t\tgraph [label=\"region us-east\", style=\"dashed\"];\n"
	    "\t\t\t\"main/pg2\" [label=\"pg2\\nreplica\\n127.0.0.1:25433\"];\n"
	    "\t\t\t\"main/pg3\" [label=\"pg3\\nreplica\\n127.0.0.1:25434\"];\n"
	    "\t\t}\n"
	    "\t\t\"main:pgbouncer\" [label=\"pgbouncer\\n127.0.0.1:6432\\ntransaction pooling\", "
	    "shape=\"component\"];\n"
	    "\t\t\"main:haproxy\" [label=\"haproxy\\nwrite 127.0.0.1:5000\\nread 127.0.0.1:5001\", "
	    "shape=\"component\"];\n"
	    "\t}\n"
	    OTHER_CLUSTER("\", penwidth=\"2\"")
	    "\t\"repository:/srv/pgc/backups/main\" [label=\"backup repository\\n/srv/pgc/backups/main\", "
	    "shape=\"cylinder\"];\n"
	    MAIN_EDGES
	    "}\n");
	free(got);
	topology_free(t);
}

static void test_cluster_filter(void **state)
{
	PgcTopology *t = load_main("");
	char *got = render(t, "other", NULL);

	(void)state;
	assert_text(got, HEADER("test.yaml") OTHER_CLUSTER("\", penwidth=\"2\"") "}\n");
	free(got);
	/* A name that is not there draws an empty graph (the command refuses it before). */
	got = render(t, "nosuch", NULL);
	assert_text(got, HEADER("test.yaml") "}\n");
	free(got);
	topology_free(t);
}

/* Names cannot hold odd characters (schema/load.c); paths, restore targets and the file name can. */
static void test_escaping(void **state)
{
	static const char *const yaml =
		"version: 1\n"
		"clusters:\n"
		"  main:\n"
		"    nodes:\n"
		"      pg1: {port: 25432, data_dir: data/pg1}\n"
		"    backup:\n"
		"      repository: \"backups/a \\\"q\\\" \\\\ dir\\nline\"\n"
		"  restored:\n"
		"    bootstrap:\n"
		"      from_backup:\n"
		"        repository: \"backups/a \\\"q\\\" \\\\ dir\\nline\"\n"
		"        target_name: \"before \\\"deploy\\\"\"\n"
		"    nodes:\n"
		"      r1: {port: 25440, data_dir: data/r1}\n";
	PgcTopology *t = load_named(yaml, "odd \"name\" \\.yaml");
	char *got = render(t, NULL, NULL);

	(void)state;
	assert_string_equal(t->clusters[0].backup.repository.v, "/srv/pgc/backups/a \"q\" \\ dir\nline");
	assert_text(
	    got,
	    HEADER("odd \\\"name\\\" \\\\.yaml")
	    "\tsubgraph \"cluster_main\" {\n"
	    "\t\tgraph [label=\"cluster main\\npostgres 15, failover manual\", style=\"rounded\"];\n"
	    "\t\t\"main/pg1\" [label=\"pg1\\nprimary\\n127.0.0.1:25432\", penwidth=\"2\"];\n"
	    "\t}\n"
	    "\tsubgraph \"cluster_restored\" {\n"
	    "\t\tgraph [label=\"cluster restored\\npostgres 15, failover manual\", style=\"rounded\"];\n"
	    "\t\t\"restored/r1\" [label=\"r1\\nprimary\\n127.0.0.1:25440\", penwidth=\"2\"];\n"
	    "\t}\n"
	    /* One repository node for both clusters; in the label, the path's line
	     * break shows as \n (str_text), it does not start a line of its own. */
	    "\t\"repository:/srv/pgc/backups/a \\\"q\\\" \\\\ dir\\nline\" [label=\"backup "
	    "repository\\n/srv/pgc/backups/a \\\"q\\\" \\\\ dir\\\\nline\", shape=\"cylinder\"];\n"
	    "\t\"main/pg1\" -> \"repository:/srv/pgc/backups/a \\\"q\\\" \\\\ dir\\nline\" "
	    "[label=\"backups\", ltail=\"cluster_main\"];\n"
	    "\t\"repository:/srv/pgc/backups/a \\\"q\\\" \\\\ dir\\nline\" -> \"restored/r1\" "
	    "[label=\"restore to restore point before \\\"deploy\\\"\", style=\"dashed\"];\n"
	    "}\n");
	free(got);

	/* Only the restored cluster: its restore source is still drawn. */
	got = render(t, "restored", NULL);
	assert_non_null(strstr(got, "\t\"repository:/srv/pgc/backups/a \\\"q\\\" \\\\ dir\\nline\" [label="));
	assert_null(strstr(got, "main/pg1"));
	free(got);
	topology_free(t);
}

/* Synchronous FIRST: the first count direct replicas are sync, the rest potential; cascades never. */
static void test_sync_first(void **state)
{
	static const char *const yaml =
		"version: 1\n"
		"clusters:\n"
		"  main:\n"
		"    primary: pg2\n"
		"    nodes:\n"
		"      pg1: {port: 25432, data_dir: data/pg1}\n"
		"      pg2: {port: 25433, data_dir: data/pg2}\n"
		"      pg3: {port: 25434, data_dir: data/pg3, replicate_from: pg1}\n"
		"      pg4: {port: 25435, data_dir: data/pg4}\n"
		"    replication:\n"
		"      synchronous: {method: first, count: 1}\n";
	PgcTopology *t = load_named(yaml, "test.yaml");
	char *got = render(t, NULL, NULL);

	(void)state;
	assert_non_null(strstr(got, "\t\"main/pg2\" -> \"main/pg1\" [label=\"sync (first 1, priority 1)\", "
				    "penwidth=\"2\"];\n"
				    "\t\"main/pg1\" -> \"main/pg3\";\n"
				    "\t\"main/pg2\" -> \"main/pg4\" [label=\"potential sync (first 1, "
				    "priority 2)\", penwidth=\"2\"];\n"));
	free(got);
	topology_free(t);
}

/* ---- observed states -------------------------------------------------------- */

static PgcObsNode *obs_node(PgcObsCluster *oc, const char *cluster, const char *name)
{
	PgcObsNode *n = &oc->nodes[oc->n_nodes++];

	n->name = name;
	n->cluster = cluster;
	n->local = true;
	n->dir_state = DIR_INITIALIZED;
	n->replay_delay_s = -1;
	n->wal_receiver_last_msg_age_s = -1;
	n->connections = -1;
	return n;
}

static PgcObsNode *primary_node(PgcObsCluster *oc, const char *cluster, const char *name,
				const char *lsn)
{
	PgcObsNode *n = obs_node(oc, cluster, name);

	n->reachable = true;
	n->postmaster_alive = true;
	n->current_lsn = lsn;
	return n;
}

static PgcObsNode *replica_node(PgcObsCluster *oc, const char *cluster, const char *name,
				const char *replay)
{
	PgcObsNode *n = obs_node(oc, cluster, name);

	n->reachable = true;
	n->postmaster_alive = true;
	n->in_recovery = true;
	n->standby_signal = true;
	n->wal_receiver_status = "streaming";
	n->receive_lsn = replay;
	n->replay_lsn = replay;
	return n;
}

/*
 * sample_obs - main: pg1 the primary at 0/9000000, pg2 1 MB behind
 * (running), pg3 32 MB behind (lagging), pg4 a primary though the topology
 * wants a replica; other: o1 down.
 */
static PgcObserved *sample_obs(void)
{
	PgcArena *a = arena_new();
	PgcObserved *o = arena_calloc(a, 1, sizeof(*o));
	PgcObsCluster *m, *other;

	o->arena = a;
	o->observed_at = "2026-11-29T03:00:00Z";
	o->n_clusters = 2;
	o->clusters = arena_calloc(a, 2, sizeof(PgcObsCluster));
	m = &o->clusters[0];
	m->name = "main";
	m->nodes = arena_calloc(a, 4, sizeof(PgcObsNode));
	primary_node(m, "main", "pg1", "0/9000000");
	replica_node(m, "main", "pg2", "0/8F00000");
	replica_node(m, "main", "pg3", "0/7000000");
	primary_node(m, "main", "pg4", "0/6000000");
	other = &o->clusters[1];
	other->name = "other";
	other->nodes = arena_calloc(a, 1, sizeof(PgcObsNode));
	obs_node(other, "other", "o1")->conn_error = "connection refused";
	return o;
}

static void test_live(void **state)
{
	PgcTopology *t = load_main("");
	PgcObserved *o = sample_obs();
	char *got = render(t, NULL, o);

	(void)state;
	assert_text(
	    got,
	    HEADER("test.yaml\\nobserved 2026-11-29T03:00:00Z")
	    "\tsubgraph \"cluster_main\" {\n"
	    "\t\tgraph [label=\"cluster main\\npostgres 15, failover manual\", style=\"rounded\"];\n"
	    "\t\tsubgraph \"cluster_main/eu-west\" {\n"
	    "\t\t\tgraph [label=\"region eu-west\", style=\"dashed\"];\n"
	    "\t\t\t\"main/pg1\" [label=\"pg1\\nprimary\\n127.0.0.1:25432\\nrunning\", penwidth=\"2\", "
	    "fillcolor=\"#c8e6c9\"];\n"
	    "\t\t\t\"main/pg4\" [label=\"pg4\\nreplica\\n127.0.0.1:25435\\nprimary (desired: replica)\", "
	    "fillcolor=\"#ffcc80\"];\n"
	    "\t\t}\n"
	    "\t\tsubgraph \"cluster_main/us-east\" {\n"
	    "\t\t\tgraph [label=\"region us-east\", style=\"dashed\"];\n"
	    "\t\t\t\"main/pg2\" [label=\"pg2\\nreplica\\n127.0.0.1:25433\\nrunning\", "
	    "fillcolor=\"#c8e6c9\"];\n"
	    "\t\t\t\"main/pg3\" [label=\"pg3\\nreplica\\n127.0.0.1:25434\\nlag 32 MB\", "
	    "fillcolor=\"#fff59d\"];\n"
	    "\t\t}\n"
	    "\t\t\"main:pgbouncer\" [label=\"pgbouncer\\n127.0.0.1:6432\\ntransaction pooling\", "
	    "shape=\"component\"];\n"
	    "\t\t\"main:haproxy\" [label=\"haproxy\\nwrite 127.0.0.1:5000\\nread 127.0.0.1:5001\", "
	    "shape=\"component\"];\n"
	    "\t}\n"
	    OTHER_CLUSTER("\\ndown\", penwidth=\"2\", fillcolor=\"#ef9a9a\", "
			  "style=\"rounded,filled,dashed\"")
	    "\t\"repository:/srv/pgc/backups/main\" [label=\"backup repository\\n/srv/pgc/backups/main\", "
	    "shape=\"cylinder\"];\n"
	    MAIN_EDGES
	    "}\n");
	free(got);
	observe_free(o);
	topology_free(t);
}

/* find_label - the label of node id in DOT text, copied into buf. */
static const char *find_label(const char *dot, const char *id, char *buf, size_t size)
{
	char key[128];
	const char *p, *end;

	snprintf(key, sizeof key, "\"%s\" [label=\"", id);
	p = strstr(dot, key);
	assert_non_null(p);
	p += strlen(key);
	end = strchr(p, '"');
	assert_non_null(end);
	snprintf(buf, size, "%.*s", (int)(end - p), p);
	return buf;
}

static void test_live_states(void **state)
{
	PgcTopology *t = load_main("    failover: {max_lag: 64MB}\n");
	PgcObserved *o = sample_obs();
	PgcObsNode *n = o->clusters[0].nodes;
	char *got, buf[256];

	(void)state;
	/* Within failover.max_lag: not lagging. */
	got = render(t, NULL, o);
	assert_string_equal(find_label(got, "main/pg3", buf, sizeof buf),
			    "pg3\\nreplica\\n127.0.0.1:25434\\nrunning");
	free(got);

	n[0].in_recovery = true;           /* the desired primary in recovery */
	n[1].wal_receiver_status = NULL;   /* a replica that does not stream */
	n[3].reachable = false;            /* a server that runs but does not answer */
	n[3].postmaster_alive = true;
	o->clusters[1].nodes[0].reachable = true; /* o1 in archive recovery */
	o->clusters[1].nodes[0].in_recovery = true;
	o->clusters[1].nodes[0].recovery_signal = true;
	got = render(t, NULL, o);
	assert_string_equal(find_label(got, "main/pg1", buf, sizeof buf),
			    "pg1\\nprimary\\n127.0.0.1:25432\\nreplica (desired: primary)");
	assert_string_equal(find_label(got, "main/pg2", buf, sizeof buf),
			    "pg2\\nreplica\\n127.0.0.1:25433\\nnot streaming");
	assert_string_equal(find_label(got, "main/pg4", buf, sizeof buf),
			    "pg4\\nreplica\\n127.0.0.1:25435\\nunreachable");
	assert_string_equal(find_label(got, "other/o1", buf, sizeof buf),
			    "o1\\nprimary\\n127.0.0.1:25440\\nin recovery (desired: primary)");
	/* No live primary: the lag cannot be measured, the replica is running. */
	assert_string_equal(find_label(got, "main/pg3", buf, sizeof buf),
			    "pg3\\nreplica\\n127.0.0.1:25434\\nrunning");
	free(got);
	observe_free(o);
	topology_free(t);
}

static void test_live_pooler(void **state)
{
	PgcTopology *t = load_main("");
	PgcObserved *o = sample_obs();
	PgcObsPgbouncer pb = {.listen_addr = "127.0.0.1", .port = 6432, .local = true, .pid = 7,
			      .alive = true, .console = true, .points_host = "127.0.0.1",
			      .points_port = 25433, .cl_active = 1};
	char *got, buf[256];

	(void)state;
	o->clusters[0].pgbouncer = &pb;
	/* it points at pg2 (not the file's primary): the edge says so */
	got = render(t, NULL, o);
	assert_string_equal(find_label(got, "main:pgbouncer", buf, sizeof buf),
			    "pgbouncer\\n127.0.0.1:6432\\ntransaction pooling\\nup (pid 7), points at "
			    "127.0.0.1:25433, 1 active, 0 waiting");
	assert_non_null(strstr(got, "\t\"main:pgbouncer\" -> \"main/pg2\" [label=\"pool\"];\n"));
	free(got);
	pb.alive = pb.console = false;
	got = render(t, NULL, o);
	assert_string_equal(find_label(got, "main:pgbouncer", buf, sizeof buf),
			    "pgbouncer\\n127.0.0.1:6432\\ntransaction pooling\\ndown");
	assert_non_null(strstr(got, "shape=\"component\", style=\"dashed\"];"));
	assert_non_null(strstr(got, "\t\"main:pgbouncer\" -> \"main/pg1\" [label=\"pool\"];\n"));
	free(got);
	observe_free(o);
	topology_free(t);
}

static void test_lag_units(void **state)
{
	PgcTopology *t = load_main("");
	PgcObserved *o = sample_obs();
	PgcObsNode *n = o->clusters[0].nodes;
	char *got, buf[256];

	(void)state;
	n[0].current_lsn = "1/0";          /* 4 GB */
	n[1].replay_lsn = "0/FF800000";    /* 8 MB behind: under the default 16 MB */
	n[2].replay_lsn = "0/A0000000";    /* 1.5 GB behind */
	n[3].in_recovery = true;           /* pg4 a replica again, 20 MB behind */
	n[3].wal_receiver_status = "streaming";
	n[3].replay_lsn = "0/FEC00000";
	got = render(t, NULL, o);
	assert_string_equal(find_label(got, "main/pg2", buf, sizeof buf),
			    "pg2\\nreplica\\n127.0.0.1:25433\\nrunning");
	assert_string_equal(find_label(got, "main/pg3", buf, sizeof buf),
			    "pg3\\nreplica\\n127.0.0.1:25434\\nlag 1.5 GB");
	assert_string_equal(find_label(got, "main/pg4", buf, sizeof buf),
			    "pg4\\nreplica\\n127.0.0.1:25435\\nlag 20 MB");
	free(got);
	observe_free(o);
	topology_free(t);
}

static void test_write_error(void **state)
{
	PgcTopology *t = load_main("");
	FILE *ro = fopen("/dev/null", "r");

	(void)state;
	assert_non_null(ro);
	assert_int_equal(graph_render(ro, t, NULL, NULL), -1);
	fclose(ro);
	topology_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topology),
		cmocka_unit_test(test_cluster_filter),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_sync_first),
		cmocka_unit_test(test_live),
		cmocka_unit_test(test_live_states),
		cmocka_unit_test(test_live_pooler),
		cmocka_unit_test(test_lag_units),
		cmocka_unit_test(test_write_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
