/*
 * tests/unit/test_plan_hba.c - pg_hba.conf rendering: byte-identical to the
 * former renderer (kept here as the reference) on realistic topologies, one
 * exact golden file, and the scale that used to exhaust memory (1,000 nodes
 * on distinct hosts x 2,000 rules, planned offline in one process).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "common/arena.h"
#include "common/diag.h"
#include "common/strutil.h"
#include "reconcile/engine/plan.h"
#include "reconcile/plan_offline.h"
#include "schema/topology.h"
#include "reconcile/postgres/plan_conf.h"

/* ---- the former renderer, verbatim: the reference for normal inputs ----- */

static const char *old_hba_address(PgcArena *a, const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (strchr(host, '/') != NULL)
		return host;
	if (inet_pton(AF_INET, host, buf) == 1)
		return arena_printf(a, "%s/32", host);
	if (inet_pton(AF_INET6, host, buf) == 1)
		return arena_printf(a, "%s/128", host);
	return host;
}

static const char *old_hba_line(PgcArena *a, const char *type, const char *db, const char *user,
				const char *addr, const char *method, const char *options)
{
	const char *l;

	if (addr != NULL)
		l = arena_printf(a, "%-7s %-15s %-15s %-23s %s", type, db, user, addr, method);
	else
		l = arena_printf(a, "%-7s %-15s %-15s %-23s %s", type, db, user, "", method);
	if (options != NULL && *options)
		l = arena_printf(a, "%s %s", l, options);
	return arena_printf(a, "%s\n", l);
}

static const char *old_hba_conf(PgcArena *arena, const PgcCluster *c)
{
	const char *os_user = c->os_user.v ? c->os_user.v : "postgres";
	const char *out;
	const char **seen;
	size_t i, j, n_seen = 0;

	out = arena_printf(arena,
			   "# pg_hba.conf - managed by pgconverge for cluster \"%s\".\n"
			   "# Rewritten on every apply: change the hba list in the topology file instead.\n"
			   "# TYPE DATABASE        USER            ADDRESS                 METHOD\n"
			   "\n"
			   "# pgconverge itself, as the bootstrap superuser over the unix socket.\n",
			   c->name);
	out = arena_printf(arena, "%s%s%s", out,
			   old_hba_line(arena, "local", "all", os_user, NULL, "peer", "map=pgconverge"),
			   old_hba_line(arena, "local", "replication", os_user, NULL, "peer",
					"map=pgconverge"));
	if (c->n_nodes > 1) {
		const char *method = c->replication.password.kind != SECRET_NONE ? "scram-sha-256"
										  : "trust";

		out = arena_printf(arena, "%s# Streaming replication between the cluster's nodes.\n", out);
		seen = arena_calloc(arena, c->n_nodes, sizeof(char *));
		for (i = 0; i < c->n_nodes; i++) {
			const char *addr = old_hba_address(arena, c->nodes[i].host.v);

			for (j = 0; j < n_seen; j++)
				if (strcmp(seen[j], addr) == 0)
					break;
			if (j < n_seen)
				continue;
			seen[n_seen++] = addr;
			out = arena_printf(arena, "%s%s", out,
					   old_hba_line(arena, "host", "replication", c->replication.user.v,
							addr, method, NULL));
		}
	}
	if (c->n_hba > 0)
		out = arena_printf(arena, "%s# The topology's rules, in order.\n", out);
	for (i = 0; i < c->n_hba; i++) {
		const PgcHbaRule *r = &c->hba[i];
		bool local = strcmp(r->type.v, "local") == 0;

		out = arena_printf(arena, "%s%s", out,
				   old_hba_line(arena, r->type.v, r->database.v ? r->database.v : "all",
						r->user.v ? r->user.v : "all",
						local ? NULL : (r->address.v ? r->address.v : ""),
						r->method.v, r->options.set ? r->options.v : NULL));
	}
	return out;
}

/* ---- topologies ------------------------------------------------------------ */

static PgcTopology *load_yaml(const char *yaml)
{
	PgcLoadOptions opts = {.base_dir = "/srv/pgc", .offline = true};
	PgcDiagList diags = {0};
	PgcTopology *t = topology_load_buffer(yaml, strlen(yaml), "test.yaml", &opts, &diags);

	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		diag_free(&diags);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	return t;
}

/* Three nodes on one host, a password, every kind of rule. */
static const char *const yaml_one_host =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    primary: pg1\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 25432, data_dir: data/pg1}\n"
	"      pg2: {host: 127.0.0.1, port: 25433, data_dir: data/pg2}\n"
	"      pg3: {port: 25434, data_dir: data/pg3}\n"
	"    hba:\n"
	"      - {type: local, database: all, user: all, method: peer}\n"
	"      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}\n"
	"      - {type: hostssl, database: appdb, user: app, address: 10.0.0.0/8, method: cert, options: clientcert=verify-full}\n"
	"      - {type: host, address: 0.0.0.0/0, method: reject}\n"
	"    replication:\n"
	"      user: replicator\n"
	"      password: {env: REPL_PASSWORD}\n";

/* Hosts of every form, some shared, no password, another OS user. */
static const char *const yaml_mixed_hosts =
	"version: 1\n"
	"clusters:\n"
	"  edge:\n"
	"    primary: a\n"
	"    os_user: pgsql\n"
	"    nodes:\n"
	"      a: {host: 10.1.0.1, port: 5432, data_dir: /d/a}\n"
	"      b: {host: '::1', port: 5432, data_dir: /d/b}\n"
	"      c: {host: db3.example.com, port: 5432, data_dir: /d/c}\n"
	"      d: {host: 10.1.0.1, port: 5433, data_dir: /d/d}\n"
	"      e: {host: '::1', port: 5433, data_dir: /d/e}\n"
	"      f: {host: 10.1.0.2, port: 5432, data_dir: /d/f, replicate_from: d}\n"
	"    replication: {user: repl}\n";

/* One node: no replication block, no rules. */
static const char *const yaml_single =
	"version: 1\n"
	"clusters:\n"
	"  solo:\n"
	"    primary: only\n"
	"    nodes:\n"
	"      only: {host: 127.0.0.1, port: 25440, data_dir: data/only}\n";

static void assert_same_as_before(const char *yaml)
{
	PgcTopology *t = load_yaml(yaml);
	PgcArena *a = arena_new();
	size_t i, j;

	for (i = 0; i < t->n_clusters; i++)
		for (j = 0; j < t->clusters[i].n_nodes; j++)
			assert_string_equal(plan_hba_conf(a, &t->clusters[i], &t->clusters[i].nodes[j]),
					    old_hba_conf(a, &t->clusters[i]));
	arena_free(a);
	topology_free(t);
}

static void test_same_as_before(void **state)
{
	(void)state;
	assert_same_as_before(yaml_one_host);
	assert_same_as_before(yaml_mixed_hosts);
	assert_same_as_before(yaml_single);
}

static void test_golden(void **state)
{
	PgcTopology *t = load_yaml(yaml_mixed_hosts);
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(
		plan_hba_conf(a, &t->clusters[0], &t->clusters[0].nodes[0]),
		"# pg_hba.conf - managed by pgconverge for cluster \"edge\".\n"
		"# Rewritten on every apply: change the hba list in the topology file instead.\n"
		"# TYPE DATABASE        USER            ADDRESS                 METHOD\n"
		"\n"
		"# pgconverge itself, as the bootstrap superuser over the unix socket.\n"
		"local   all             pgsql                                   peer map=pgconverge\n"
		"local   replication     pgsql                                   peer map=pgconverge\n"
		"# Streaming replication between the cluster's nodes.\n"
		"host    replication     repl            10.1.0.1/32             trust\n"
		"host    replication     repl            ::1/128                 trust\n"
		"host    replication     repl            db3.example.com         trust\n"
		"host    replication     repl            10.1.0.2/32             trust\n");
	arena_free(a);
	topology_free(t);
}

/* ---- scale ----------------------------------------------------------------- */

/* big_yaml - one cluster of n nodes on distinct hosts with r rules; rule k
 * of the head (k >= 0) uses md5 instead of scram-sha-256. */
static char *big_yaml(size_t n, size_t r, long changed)
{
	PgcStrBuf b = PGC_STRBUF_INIT;
	char *out;
	size_t i;

	strbuf_addf(&b, "version: 1\nclusters:\n  big:\n    primary: n0\n"
			"    replication: {user: replicator}\n"
			"    settings: {max_wal_senders: %zu, max_replication_slots: %zu}\n"
			"    hba:\n", n + 10, n + 10);
	for (i = 0; i < r; i++)
		strbuf_addf(&b, "      - {type: host, database: db%zu, user: u%zu, address: 10.%zu.%zu.0/24, "
				"method: %s}\n", i, i, i / 250, i % 250,
			    (long)i == changed ? "md5" : "scram-sha-256");
	strbuf_adds(&b, "    nodes:\n");
	for (i = 0; i < n; i++)
		strbuf_addf(&b, "      n%zu: {host: 192.168.%zu.%zu, port: 5432, data_dir: /data/n%zu}\n", i,
			    i / 250, i % 250 + 1, i);
	out = strdup(b.data);
	strbuf_release(&b);
	return out;
}

static long peak_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/*
 * 1,000 nodes on distinct hosts with 2,000 rules: every new node lists all
 * 3,002 rules, and against a base that differs in one rule each node lists
 * exactly the two lines that differ. The former code needed tens of GB here.
 */
static void test_scale(void **state)
{
	char *head_yaml = big_yaml(1000, 2000, 5), *base_yaml = big_yaml(1000, 2000, -1);
	PgcTopology *head = load_yaml(head_yaml), *base = load_yaml(base_yaml);
	PgcPlan *p;
	size_t i, n_hba = 0;
	const PgcAction *first = NULL;

	(void)state;
	p = plan_offline(NULL, head, NULL);
	assert_non_null(p);
	for (i = 0; i < p->n_actions; i++) {
		const PgcAction *a = &p->actions[i];

		if (a->kind != ACT_WRITE_HBA)
			continue;
		n_hba++;
		assert_int_equal(a->n_changes, 2 + 1000 + 2000);
		if (first == NULL)
			first = a;
		assert_string_equal(a->payload.content, first->payload.content);
		assert_string_equal(a->changes[3001].to, first->changes[3001].to);
	}
	assert_int_equal(n_hba, 1000);
	plan_free(p);

	p = plan_offline(base, head, NULL);
	assert_non_null(p);
	for (i = 0, n_hba = 0; i < p->n_actions; i++) {
		const PgcAction *a = &p->actions[i];

		if (a->kind != ACT_WRITE_HBA)
			continue;
		n_hba++;
		assert_int_equal(a->n_changes, 2);
		assert_string_equal(a->changes[0].to, "host db5 u5 10.0.5.0/24 md5");
		assert_null(a->changes[0].from);
		assert_string_equal(a->changes[1].from, "host db5 u5 10.0.5.0/24 scram-sha-256");
		assert_null(a->changes[1].to);
	}
	assert_int_equal(n_hba, 1000);
	plan_free(p);
	/* Both topologies and both plans: a few tens of MB (it was > 8 GB). */
	assert_true(peak_rss_kb() < 400 * 1024);
	topology_free(base);
	topology_free(head);
	free(base_yaml);
	free(head_yaml);
}

/*
 * Nodes with the same old and new pg_hba.conf share one list of changes.
 * Every action holding a list another one points at is marked
 * changes_shared, the one that made it as well as those that borrow it,
 * even once a later diff (the second cluster's) took the planner's place:
 * an append to any of them copies the list rather than writing into the
 * others' (builder_change(); no change follows hba_changes today, so only
 * the marks are reachable from here).
 */
static void test_shared_change_lists_marked(void **state)
{
	static const char yaml[] =
		"version: 1\n"
		"clusters:\n"
		"  one:\n"
		"    primary: a1\n"
		"    nodes:\n"
		"      a1: {host: 10.0.0.1, port: 25432, data_dir: data/a1}\n"
		"      a2: {host: 10.0.0.2, port: 25432, data_dir: data/a2}\n"
		"      a3: {host: 10.0.0.3, port: 25432, data_dir: data/a3}\n"
		"    hba:\n"
		"      - {type: host, address: 10.1.0.0/16, method: scram-sha-256}\n"
		"  two:\n"
		"    primary: b1\n"
		"    nodes:\n"
		"      b1: {host: 10.0.0.4, port: 25432, data_dir: data/b1}\n"
		"      b2: {host: 10.0.0.5, port: 25432, data_dir: data/b2}\n"
		"    hba:\n"
		"      - {type: host, address: 10.2.0.0/16, method: md5}\n";
	PgcTopology *t = load_yaml(yaml);
	PgcPlan *p;
	const PgcAction *hba[8];
	size_t i, j, n = 0, pairs = 0;

	(void)state;
	p = plan_offline(NULL, t, NULL);
	assert_non_null(p);
	for (i = 0; i < p->n_actions; i++)
		if (p->actions[i].kind == ACT_WRITE_HBA) {
			assert_true(n < 8);
			hba[n++] = &p->actions[i];
		}
	assert_int_equal(n, 5);
	for (i = 0; i < n; i++) {
		assert_true(hba[i]->n_changes > 0);
		for (j = i + 1; j < n; j++) {
			if (hba[i]->changes != hba[j]->changes)
				continue;
			pairs++;
			assert_true(hba[i]->changes_shared);
			assert_true(hba[j]->changes_shared);
			assert_string_equal(hba[i]->cluster, hba[j]->cluster);
		}
	}
	/* a1-a2, a1-a3, a2-a3 and b1-b2: one list per cluster. */
	assert_int_equal(pairs, 4);
	plan_free(p);
	topology_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_before),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_scale),
		cmocka_unit_test(test_shared_change_lists_marked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
