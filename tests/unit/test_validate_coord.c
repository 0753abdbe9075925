/*
 * tests/unit/test_validate_coord.c - coordination.etcd: the model the
 * loader fills (defaults, paths resolved against the topology's folder)
 * and each error with its position, key, expectation and hint.
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
#include "schema/topology.h"

#define NODES "clusters:\n  main:\n    nodes:\n      pg1: {port: 25432, data_dir: data/pg1}\n"

/* load - a topology from text, relative paths under /srv/topo. */
static PgcTopology *load(const char *yaml, PgcDiagList *diags)
{
	PgcLoadOptions opts = {.base_dir = "/srv/topo", .offline = true};

	return topology_load_buffer(yaml, strlen(yaml), "t.yaml", &opts, diags);
}

/* all_text - every diagnostic as diag_format() prints it, one after the other (malloc'd). */
static char *all_text(const PgcDiagList *diags)
{
	size_t len = 1;
	char *out = calloc(1, 1);

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

static void test_etcd_defaults(void **state)
{
	PgcDiagList diags = {0};
	PgcTopology *t;

	(void)state;
	t = load("version: 1\n" NODES, &diags);
	assert_non_null(t);
	assert_int_equal(diags.n, 0);
	assert_false(t->etcd.set);
	topology_free(t);

	t = load("version: 1\n"
		 "coordination:\n"
		 "  etcd: {endpoints: [http://127.0.0.1:2379, \"http://[::1]:2379\"]}\n" NODES,
		 &diags);
	assert_non_null(t);
	assert_int_equal(diags.n, 0);
	assert_true(t->etcd.set);
	assert_int_equal(t->etcd.endpoints.n, 2);
	assert_string_equal(t->etcd.endpoints.items[1].v, "http://[::1]:2379");
	assert_string_equal(t->etcd.prefix.v, "/pgconverge");
	assert_false(t->etcd.prefix.set);
	assert_int_equal(t->etcd.ttl.ms, 10000);
	assert_false(t->etcd.user.set);
	assert_false(t->etcd.password.set);
	assert_int_equal(t->coordination_pos.line, 3);
	topology_free(t);
}

static void test_etcd_full(void **state)
{
	PgcDiagList diags = {0};
	PgcTopology *t;

	(void)state;
	t = load("version: 1\n"
		 "coordination:\n"
		 "  etcd:\n"
		 "    endpoints: [https://etcd1:2379, https://10.0.0.6:2379]\n"
		 "    prefix: /pg/prod\n"
		 "    ttl: 15s\n"
		 "    user: agent\n"
		 "    password: {env: ETCD_PW}\n"
		 "    ca_file: tls/ca.pem\n"
		 "    cert_file: /etc/pgc/agent.pem\n"
		 "    key_file: tls/agent.key\n" NODES,
		 &diags);
	assert_non_null(t);
	if (diags.n != 0) {
		char *s = all_text(&diags);

		fail_msg("%s", s);
	}
	assert_string_equal(t->etcd.prefix.v, "/pg/prod");
	assert_int_equal(t->etcd.ttl.ms, 15000);
	assert_string_equal(t->etcd.user.v, "agent");
	assert_int_equal(t->etcd.password.kind, SECRET_ENV);
	assert_string_equal(t->etcd.password.ref, "ETCD_PW");
	/* Relative paths resolve against the topology's folder. */
	assert_string_equal(t->etcd.ca_file.v, "/srv/topo/tls/ca.pem");
	assert_string_equal(t->etcd.cert_file.v, "/etc/pgc/agent.pem");
	assert_string_equal(t->etcd.key_file.v, "/srv/topo/tls/agent.key");
	topology_free(t);
	/* ttl at its bounds */
	t = load("version: 1\ncoordination: {etcd: {endpoints: [http://a:1], ttl: 2s}}\n" NODES, &diags);
	assert_int_equal(diags.n, 0);
	topology_free(t);
	t = load("version: 1\ncoordination: {etcd: {endpoints: [http://a:1], ttl: 1min}}\n" NODES, &diags);
	assert_int_equal(diags.n, 0);
	topology_free(t);
}

static void test_etcd_errors(void **state)
{
	static const struct {
		const char *etcd;   /* the lines under "  etcd:\n" */
		const char *errors; /* every diagnostic, as printed */
	} cases[] = {
		{"    endpoints: [http://127.0.0.1:2379/v3]\n",
		 "t.yaml:4:17: error: coordination.etcd.endpoints[0]: endpoint "
		 "\"http://127.0.0.1:2379/v3\": expected no path, query or user part after the port\n"
		 "  hint: write http://HOST:PORT or https://HOST:PORT, e.g. http://10.0.0.5:2379\n"},
		{"    endpoints: [127.0.0.1:2379, \"http://h:0\", \"http://:2379\", \"http://h\"]\n",
		 "t.yaml:4:17: error: coordination.etcd.endpoints[0]: endpoint \"127.0.0.1:2379\": "
		 "expected a URL starting with http:// or https://\n"
		 "  hint: write http://HOST:PORT or https://HOST:PORT, e.g. http://10.0.0.5:2379\n"
		 "t.yaml:4:33: error: coordination.etcd.endpoints[1]: endpoint \"http://h:0\": "
		 "expected a port number from 1 to 65535\n"
		 "  hint: write http://HOST:PORT or https://HOST:PORT, e.g. http://10.0.0.5:2379\n"
		 "t.yaml:4:47: error: coordination.etcd.endpoints[2]: endpoint \"http://:2379\": "
		 "expected a host name or address before the port\n"
		 "  hint: write http://HOST:PORT or https://HOST:PORT, e.g. http://10.0.0.5:2379\n"
		 "t.yaml:4:63: error: coordination.etcd.endpoints[3]: endpoint \"http://h\": "
		 "expected a port after the host\n"
		 "  hint: write http://HOST:PORT or https://HOST:PORT, e.g. http://10.0.0.5:2379\n"},
		{"    endpoints: []\n",
		 "t.yaml:4:16: error: coordination.etcd.endpoints: expected at least one endpoint\n"
		 "  hint: write http://HOST:PORT or https://HOST:PORT, e.g. http://10.0.0.5:2379\n"},
		{"    prefix: /pgconverge\n",
		 "t.yaml:4:5: error: coordination.etcd: missing required key \"endpoints\"\n"},
		{"    endpoints: [http://a:1, https://b:2]\n",
		 "t.yaml:4:29: error: coordination.etcd.endpoints[1]: endpoint \"https://b:2\": expected "
		 "http like the first endpoint\n"
		 "  hint: use https for every endpoint, or http for every one\n"},
		{"    endpoints: [http://a:1]\n    prefix: pgconverge/\n",
		 "t.yaml:5:13: error: coordination.etcd.prefix: expected a key prefix starting with \"/\", "
		 "without a trailing \"/\" or an empty part, got \"pgconverge/\"\n"
		 "  hint: e.g. \"/pgconverge\" or \"/pgconverge/prod\"\n"},
		{"    endpoints: [http://a:1]\n    ttl: 61s\n",
		 "t.yaml:5:10: error: coordination.etcd.ttl: expected a lease between 2s and 60s, got 61s\n"
		 "  hint: a short ttl fails over sooner but mistakes a pause for a death; the default is "
		 "10s\n"},
		{"    endpoints: [http://a:1]\n    ttl: 1500ms\n",
		 "t.yaml:5:10: error: coordination.etcd.ttl: expected a lease between 2s and 60s, got "
		 "1500ms\n"
		 "  hint: a short ttl fails over sooner but mistakes a pause for a death; the default is "
		 "10s\n"},
		{"    endpoints: [http://a:1]\n    password: {env: PW}\n",
		 "t.yaml:5:21: error: coordination.etcd.password: expected user with password: etcd "
		 "authenticates with both\n"
		 "  hint: add user: the etcd user's name\n"},
		{"    endpoints: [http://a:1]\n    user: agent\n",
		 "t.yaml:5:11: error: coordination.etcd.user: expected password with user: etcd "
		 "authenticates with both\n"
		 "  hint: add password: {env: VARIABLE} or {file: PATH}\n"},
		{"    endpoints: [https://a:1]\n    key_file: k.pem\n",
		 "t.yaml:5:15: error: coordination.etcd.key_file: expected cert_file with key_file\n"
		 "  hint: add cert_file: the client certificate\n"},
		{"    endpoints: [http://a:1]\n    ca_file: ca.pem\n",
		 "t.yaml:5:14: error: coordination.etcd.ca_file: expected https endpoints with ca_file: "
		 "TLS files are for https only\n"
		 "  hint: use https:// endpoints, or remove the TLS files\n"},
		{"    endpoints: [http://a:1]\n    endpiont: x\n",
		 "t.yaml:5:5: error: coordination.etcd.endpiont: unknown key \"endpiont\"\n"
		 "  hint: did you mean \"endpoints\"?\n"},
		{"    endpoints: http://a:1\n",
		 "t.yaml:4:16: error: coordination.etcd.endpoints: expected a list of strings, got a "
		 "string\n"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		PgcDiagList diags = {0};
		char *yaml = NULL, *got;
		PgcTopology *t;

		assert_true(asprintf(&yaml, "version: 1\ncoordination:\n  etcd:\n%s" NODES,
				     cases[i].etcd) > 0);
		t = load(yaml, &diags);
		got = all_text(&diags);
		if (strcmp(got, cases[i].errors) != 0)
			fail_msg("case %zu:\n%s\nexpected:\n%s", i, got, cases[i].errors);
		free(got);
		free(yaml);
		topology_free(t);
		diag_free(&diags);
	}
}

static void test_coordination_errors(void **state)
{
	PgcDiagList diags = {0};
	PgcTopology *t;
	char *got;

	(void)state;
	t = load("version: 1\ncoordination: {zookeeper: {}}\n" NODES, &diags);
	got = all_text(&diags);
	assert_string_equal(got, "t.yaml:2:15: error: coordination: missing required key \"etcd\"\n"
				 "t.yaml:2:16: error: coordination.zookeeper: unknown key \"zookeeper\"\n");
	free(got);
	topology_free(t);
	diag_free(&diags);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_etcd_defaults),
		cmocka_unit_test(test_etcd_full),
		cmocka_unit_test(test_etcd_errors),
		cmocka_unit_test(test_coordination_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
