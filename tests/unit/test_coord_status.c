/*
 * tests/unit/test_coord_status.c - the coordination state `status` shows
 * (reconcile/coord/coord_status.c): sorting etcd's keys into clusters,
 * agents, members, decision and fenced nodes, and the text and JSON
 * rendering, on hand-made keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reconcile/coord/coord_status.h"
#include "schema/topology.h"

static const char topology_yaml[] =
	"version: 1\n"
	"coordination:\n"
	"  etcd:\n"
	"    endpoints: [http://10.0.0.9:2379]\n"
	"    prefix: /pgc\n"
	"clusters:\n"
	"  main:\n"
	"    primary: pg1\n"
	"    nodes:\n"
	"      pg1: {host: db1, port: 5432, data_dir: /srv/pg1}\n"
	"      pg2: {host: db2, port: 5432, data_dir: /srv/pg2}\n"
	"      pg3: {host: db2, port: 5433, data_dir: /srv/pg3}\n"
	"  other:\n"
	"    nodes:\n"
	"      o1: {host: db3, port: 5432, data_dir: /srv/o1}\n";

/* 2026-12-07T12:00:00Z */
#define NOW ((time_t)1796644800)

static PgcTopology *load(void)
{
	PgcLoadOptions lo = {.offline = true};
	PgcDiagList diags = {0};
	PgcTopology *t;

	t = topology_load_buffer(topology_yaml, strlen(topology_yaml), "t.yaml", &lo, &diags);
	assert_non_null(t);
	if (diag_count(&diags, DIAG_ERROR) != 0)
		diag_print(stderr, &diags, false);
	assert_int_equal(diag_count(&diags, DIAG_ERROR), 0);
	diag_free(&diags);
	return t;
}

#define KV(k, v, rev) {.key = (k), .value = (v), .value_len = sizeof(v) - 1, .create_revision = (rev)}

static const PgcEtcdKv kvs[] = {
	KV("/pgc/agents/db1", "{\"host\":\"db1\",\"pid\":4242,\"version\":\"1.4.0\",\"started_at\":"
			      "\"2026-12-07T11:00:00.000Z\",\"reported_at\":\"2026-12-07T11:59:57.500Z\","
			      "\"nodes\":[\"main/pg1\"]}", 3),
	KV("/pgc/agents/db9", "{\"host\":\"db9\"}", 4),
	KV("/pgc/main/decision", "{\"kind\":\"failover\",\"from\":\"pg2\",\"to\":\"pg1\",\"token\":17,"
				 "\"leader\":\"db1\",\"state\":\"promoted\",\"at\":\"2026-12-07T11:58:00.000Z\"}", 20),
	KV("/pgc/main/fenced/pg2", "{\"by\":\"self\",\"reason\":\"no etcd for 6s\",\"at\":\"2026-12-07T11:57:00.000Z\"}", 19),
	KV("/pgc/main/leader", "db1", 17),
	KV("/pgc/main/members/pg1", "{\"host\":\"db1\",\"role\":\"primary\",\"running\":true,\"timeline\":3,"
				    "\"lsn\":\"0/5000060\",\"receiver\":{\"status\":null,\"upstream\":null,"
				    "\"last_msg_age_ms\":null},\"reported_at\":\"2026-12-07T11:59:58.000Z\"}", 21),
	KV("/pgc/main/members/pg3", "{\"host\":\"db2\",\"role\":\"replica\",\"running\":true,\"timeline\":3,"
				    "\"lsn\":\"0/5000000\",\"receiver\":{\"status\":\"streaming\",\"upstream\":"
				    "\"db1:5432\",\"last_msg_age_ms\":120},\"reported_at\":\"2026-12-07T11:58:30Z\"}", 22),
	KV("/pgc/main/members/px", "not json", 23),
	KV("/pgc/main/primary", "{\"node\":\"pg1\"}", 24),
	KV("/pgc/gone/leader", "db7", 25),
	KV("/pgcx/main/leader", "db8", 26),
};

static void test_build(void **state)
{
	PgcTopology *t = load();
	PgcArena *a = arena_new();
	const PgcCoordStatusCluster *m, *o;
	PgcCoordStatus s;

	(void)state;
	coord_status_build(a, t, "/pgc", kvs, sizeof(kvs) / sizeof(kvs[0]), NOW, &s);
	assert_null(s.error);
	assert_int_equal(s.n_clusters, 2);
	m = coord_status_find(&s, "main");
	o = coord_status_find(&s, "other");
	assert_non_null(m);
	assert_non_null(o);
	assert_null(coord_status_find(&s, "gone"));

	assert_string_equal(m->leader, "db1");
	assert_int_equal(m->token, 17);
	/* One agent per distinct host of the cluster's nodes; db9 is no host of it. */
	assert_int_equal(m->n_agents, 2);
	assert_string_equal(m->agents[0].host, "db1");
	assert_true(m->agents[0].present);
	assert_int_equal(m->agents[0].pid, 4242);
	assert_string_equal(m->agents[0].version, "1.4.0");
	assert_true(m->agents[0].age_s > 2.49 && m->agents[0].age_s < 2.51);
	assert_string_equal(m->agents[1].host, "db2");
	assert_false(m->agents[1].present);
	assert_true(m->agents[1].age_s < 0);

	/* The topology's nodes in its order, then a member it does not declare. */
	assert_int_equal(m->n_members, 4);
	assert_string_equal(m->members[0].node, "pg1");
	assert_true(m->members[0].present);
	assert_string_equal(m->members[0].role, "primary");
	assert_int_equal(m->members[0].timeline, 3);
	assert_null(m->members[0].receiver);
	assert_int_equal(m->members[0].last_msg_age_ms, -1);
	assert_string_equal(m->members[1].node, "pg2");
	assert_false(m->members[1].present);
	assert_string_equal(m->members[2].node, "pg3");
	assert_string_equal(m->members[2].receiver, "streaming");
	assert_string_equal(m->members[2].upstream, "db1:5432");
	assert_int_equal(m->members[2].last_msg_age_ms, 120);
	assert_true(m->members[2].age_s == 90);
	/* A value that is not JSON: there, everything unknown. */
	assert_string_equal(m->members[3].node, "px");
	assert_true(m->members[3].present);
	assert_null(m->members[3].role);

	assert_true(m->decision.present);
	assert_string_equal(m->decision.kind, "failover");
	assert_string_equal(m->decision.state, "promoted");
	assert_int_equal(m->decision.token, 17);
	assert_int_equal(m->n_fenced, 1);
	assert_string_equal(m->fenced[0].node, "pg2");
	assert_string_equal(m->fenced[0].by, "self");

	assert_null(o->leader);
	assert_int_equal(o->n_members, 1);
	assert_false(o->members[0].present);
	assert_false(o->decision.present);
	arena_free(a);
	topology_free(t);
}

static char *render_text(const PgcCoordStatusCluster *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	coord_status_text(f, c);
	fclose(f);
	return buf;
}

static void test_text(void **state)
{
	PgcTopology *t = load();
	PgcArena *a = arena_new();
	PgcCoordStatus s;
	char *text;

	(void)state;
	coord_status_build(a, t, "/pgc", kvs, sizeof(kvs) / sizeof(kvs[0]), NOW, &s);
	text = render_text(coord_status_find(&s, "main"));
	assert_string_equal(
		text,
		"  coordination: leader db1 (fencing token 17)\n"
		"  AGENT                       LAST REPORT\n"
		"  db1                         2s ago (2026-12-07T11:59:57.500Z), pid 4242, version 1.4.0\n"
		"  db2                         NONE: no agent key (gone, or cut off from etcd)\n"
		"  MEMBER     HOST             ROLE      TL  LSN          RECEIVER                         REPORTED\n"
		"  pg1        db1              primary   3   0/5000060    -                                2s ago\n"
		"  pg2        not published: its agent is gone or cut off from etcd\n"
		"  pg3        db2              replica   3   0/5000000    streaming from db1:5432, 120 ms  1m ago\n"
		"  px         -                ?         -   -            -                                ?\n"
		"  decision   failover pg2 -> pg1: promoted at 2026-12-07T11:58:00.000Z (token 17, leader db1)\n"
		"  fenced     pg2 by self at 2026-12-07T11:57:00.000Z: no etcd for 6s\n");
	free(text);
	text = render_text(coord_status_find(&s, "other"));
	assert_string_equal(text,
			    "  coordination: NO LEADER (no agent holds other/leader)\n"
			    "  AGENT                       LAST REPORT\n"
			    "  db3                         NONE: no agent key (gone, or cut off from etcd)\n"
			    "  MEMBER     HOST             ROLE      TL  LSN          RECEIVER                         REPORTED\n"
			    "  o1         not published: its agent is gone or cut off from etcd\n");
	free(text);
	arena_free(a);
	topology_free(t);
}

/* A value from etcd cannot forge a line of the report. */
static void test_text_escapes(void **state)
{
	static const PgcEtcdKv evil[] = {
		KV("/pgc/main/leader", "db1\nerror: forged", 5),
	};
	PgcTopology *t = load();
	PgcArena *a = arena_new();
	PgcCoordStatus s;
	char *text;

	(void)state;
	coord_status_build(a, t, "/pgc", evil, 1, NOW, &s);
	text = render_text(coord_status_find(&s, "main"));
	assert_non_null(strstr(text, "leader db1\\nerror: forged (fencing token 5)\n"));
	free(text);
	arena_free(a);
	topology_free(t);
}

static void test_json(void **state)
{
	PgcTopology *t = load();
	PgcArena *a = arena_new();
	PgcCoordStatus s;
	json_t *j;
	char *text;

	(void)state;
	coord_status_build(a, t, "/pgc", kvs, sizeof(kvs) / sizeof(kvs[0]), NOW, &s);
	s.revision = 26;
	j = coord_status_json(&s, coord_status_find(&s, "main"));
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
		text,
		"{\"agents\":[{\"age_s\":2.5,\"host\":\"db1\",\"pid\":4242,\"present\":true,"
		"\"reported_at\":\"2026-12-07T11:59:57.500Z\",\"started_at\":\"2026-12-07T11:00:00.000Z\","
		"\"version\":\"1.4.0\"},{\"age_s\":null,\"host\":\"db2\",\"pid\":null,\"present\":false,"
		"\"reported_at\":null,\"started_at\":null,\"version\":null}],"
		"\"decision\":{\"at\":\"2026-12-07T11:58:00.000Z\",\"from\":\"pg2\",\"kind\":\"failover\","
		"\"leader\":\"db1\",\"state\":\"promoted\",\"to\":\"pg1\",\"token\":17},\"error\":null,"
		"\"fenced\":[{\"at\":\"2026-12-07T11:57:00.000Z\",\"by\":\"self\",\"node\":\"pg2\","
		"\"reason\":\"no etcd for 6s\"}],\"leader\":{\"host\":\"db1\",\"token\":17},"
		"\"members\":[{\"age_s\":2.0,\"host\":\"db1\",\"lsn\":\"0/5000060\",\"node\":\"pg1\","
		"\"present\":true,\"receiver\":null,\"reported_at\":\"2026-12-07T11:59:58.000Z\","
		"\"role\":\"primary\",\"running\":true,\"timeline\":3},{\"node\":\"pg2\",\"present\":false},"
		"{\"age_s\":90.0,\"host\":\"db2\",\"lsn\":\"0/5000000\",\"node\":\"pg3\",\"present\":true,"
		"\"receiver\":{\"last_msg_age_ms\":120,\"status\":\"streaming\",\"upstream\":\"db1:5432\"},"
		"\"reported_at\":\"2026-12-07T11:58:30Z\",\"role\":\"replica\",\"running\":true,\"timeline\":3},"
		"{\"age_s\":null,\"host\":null,\"lsn\":null,\"node\":\"px\",\"present\":true,\"receiver\":null,"
		"\"reported_at\":null,\"role\":null,\"running\":false,\"timeline\":null}],"
		"\"prefix\":\"/pgc\",\"revision\":26}");
	free(text);
	json_decref(j);

	/* etcd could not be read: the reason, nothing else. */
	s.error = "etcd: get prefix \"/pgc/\" on http://10.0.0.9:2379: Connection refused";
	j = coord_status_json(&s, NULL);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, "{\"error\":\"etcd: get prefix \\\"/pgc/\\\" on http://10.0.0.9:2379: "
				  "Connection refused\",\"prefix\":\"/pgc\"}");
	free(text);
	json_decref(j);
	arena_free(a);
	topology_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_escapes),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
