/*
 * tests/unit/test_validate.c - semantic validation: what the data-driven
 * case files cannot show (the parsed maintenance window in the model, the
 * local checks that offline skips, secret file modes made on the fly, a
 * hand-built model without positions) and address rules in detail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/diag.h"
#include "schema/topology.h"
#include "schema/validate.h"

/* load - a topology from text, relative paths under /srv/topo. */
static PgcTopology *load(const char *yaml, bool offline, PgcDiagList *diags)
{
	PgcLoadOptions opts = {.base_dir = "/srv/topo", .offline = offline};

	return topology_load_buffer(yaml, strlen(yaml), "t.yaml", &opts, diags);
}

/* diag_text - diagnostic i as diag_format() prints it (static buffer). */
static const char *diag_text(const PgcDiagList *diags, size_t i)
{
	static char buf[2048];
	char *s;

	assert_true(i < diags->n);
	s = diag_format(&diags->items[i]);
	snprintf(buf, sizeof(buf), "%s", s);
	free(s);
	return buf;
}

static char *window_yaml(const char *window)
{
	char *s = NULL;

	assert_true(asprintf(&s,
			     "version: 1\n"
			     "clusters:\n"
			     "  main:\n"
			     "    nodes:\n"
			     "      pg1: {port: 25432, data_dir: data/pg1}\n"
			     "    maintenance: {restart: window, window: \"%s\"}\n",
			     window) > 0);
	return s;
}

static void test_window_fills_model(void **state)
{
	static const struct {
		const char *window;
		unsigned mask;
		int start, end;
		const char *tz;
	} cases[] = {
		{"Mon-Fri 23:30-01:00 Europe/Paris", 0x3e, 1410, 60, "Europe/Paris"},
		{"daily 02:00-04:00", 0x7f, 120, 240, "UTC"},
		{"Fri-Mon 22:00-24:00 UTC", 0x63, 1320, 1440, "UTC"},
		{"Sat,Sun 1:05-2:00", 0x41, 65, 120, "UTC"},
		{"sun,Wed-Thu 00:00-00:01 Etc/UTC", 0x19, 0, 1, "Etc/UTC"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		PgcDiagList diags = {0};
		char *yaml = window_yaml(cases[i].window);
		PgcTopology *t = load(yaml, false, &diags);
		const PgcMaintenance *m;

		assert_non_null(t);
		if (diags.n != 0)
			fail_msg("window \"%s\": %s", cases[i].window, diag_text(&diags, 0));
		m = &t->clusters[0].maintenance;
		assert_int_equal(m->days_mask, cases[i].mask);
		assert_int_equal(m->start_min, cases[i].start);
		assert_int_equal(m->end_min, cases[i].end);
		assert_string_equal(m->tz, cases[i].tz);
		topology_free(t);
		diag_free(&diags);
		free(yaml);
	}
}

static void test_window_errors(void **state)
{
	static const struct {
		const char *window;
		const char *message;
	} cases[] = {
		{"Sun", "expected \"DAYS HH:MM-HH:MM [TZ]\", e.g. \"Sun 02:00-04:00 UTC\""},
		{"Sun 02:00-04:00 UTC extra", "expected \"DAYS HH:MM-HH:MM [TZ]\", e.g. \"Sun 02:00-04:00 UTC\""},
		{"Sun, 02:00-04:00", "the list of days ends with a comma"},
		{"Mon-Funday 01:00-02:00",
		 "unknown day \"Mon-Funday\": expected daily, a day (Sun, Mon, Tue, Wed, Thu, Fri, Sat), "
		 "a list such as Sat,Sun or a range such as Mon-Fri"},
		{"Sun 02:60-03:00",
		 "invalid time range \"02:60-03:00\": expected HH:MM-HH:MM, hours 00 to 23 and minutes 00 "
		 "to 59, e.g. 02:00-04:00"},
		{"Sun 24:00-01:00",
		 "invalid time range \"24:00-01:00\": expected HH:MM-HH:MM, hours 00 to 23 and minutes 00 "
		 "to 59, e.g. 02:00-04:00"},
		{"Sun 0200-0400",
		 "invalid time range \"0200-0400\": expected HH:MM-HH:MM, hours 00 to 23 and minutes 00 to "
		 "59, e.g. 02:00-04:00"},
		{"Sun 00:00-24:00 UTC", "start and end are both 00:00: expected a window of at least one minute"},
		{"Sun 02:00-04:00 ../etc/passwd",
		 "invalid time zone \"../etc/passwd\": expected UTC or an IANA name such as Europe/Paris"},
		{"Sun 02:00-04:00 Europe",
		 "unknown time zone \"Europe\": expected UTC or a zone under /usr/share/zoneinfo such as "
		 "Europe/Paris"},
	};
	size_t i;

	(void)state;
	unsetenv("TZDIR");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		PgcDiagList diags = {0};
		char *yaml = window_yaml(cases[i].window), *want = NULL;
		PgcTopology *t = load(yaml, false, &diags);

		assert_non_null(t);
		assert_int_equal(diags.n, 1);
		assert_true(asprintf(&want, "t.yaml:6:44: error: clusters.main.maintenance.window: invalid "
				     "window \"%s\": %s", cases[i].window, cases[i].message) > 0);
		assert_string_equal(diag_text(&diags, 0), want);
		/* A window that does not parse leaves the model untouched. */
		assert_int_equal(t->clusters[0].maintenance.days_mask, 0);
		assert_null(t->clusters[0].maintenance.tz);
		free(want);
		topology_free(t);
		diag_free(&diags);
		free(yaml);
	}
}

static void test_window_zone_offline_and_tzdir(void **state)
{
	char dir[] = "/tmp/pgc-tzdir-XXXXXX";
	char *yaml = window_yaml("Sun 02:00-04:00 Europe/Paris"), *want = NULL;
	PgcDiagList diags = {0};
	PgcTopology *t;

	(void)state;
	assert_non_null(mkdtemp(dir));
	setenv("TZDIR", dir, 1);
	t = load(yaml, false, &diags);
	assert_int_equal(diags.n, 1);
	assert_true(asprintf(&want, "t.yaml:6:44: error: clusters.main.maintenance.window: invalid window "
			     "\"Sun 02:00-04:00 Europe/Paris\": unknown time zone \"Europe/Paris\": "
			     "expected UTC or a zone under %s such as Europe/Paris", dir) > 0);
	assert_string_equal(diag_text(&diags, 0), want);
	topology_free(t);
	diag_free(&diags);

	/* Offline: the zone is not looked up, the window still parses. */
	t = load(yaml, true, &diags);
	assert_int_equal(diags.n, 0);
	assert_string_equal(t->clusters[0].maintenance.tz, "Europe/Paris");
	assert_int_equal(t->clusters[0].maintenance.days_mask, 0x01);
	topology_free(t);
	diag_free(&diags);

	unsetenv("TZDIR");
	rmdir(dir);
	free(want);
	free(yaml);
}

static void test_secret_file_modes(void **state)
{
	char dir[] = "/tmp/pgc-secret-XXXXXX";
	static const struct {
		const char *name;
		int mode;       /* -1: a directory */
		const char *problem;
	} cases[] = {
		{"group-read", 0640, "is readable by group or others (mode 0640): expected mode 600 or stricter"},
		{"other-read", 0604, "is readable by group or others (mode 0604): expected mode 600 or stricter"},
		{"group-write", 0620, "is accessible by group or others (mode 0620): expected mode 600 or stricter"},
		{"dir", -1, "is not a regular file"},
		{"owner-only", 0400, NULL},
		{"owner-rw", 0600, NULL},
	};
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = NULL, *yaml = NULL, *want = NULL;
		PgcDiagList diags = {0};
		PgcTopology *t;

		assert_true(asprintf(&path, "%s/%s", dir, cases[i].name) > 0);
		if (cases[i].mode < 0) {
			assert_int_equal(mkdir(path, 0700), 0);
		} else {
			FILE *f = fopen(path, "w");

			assert_non_null(f);
			fputs("x\n", f);
			fclose(f);
			assert_int_equal(chmod(path, (mode_t)cases[i].mode), 0);
		}
		assert_true(asprintf(&yaml,
				     "version: 1\n"
				     "clusters:\n"
				     "  main:\n"
				     "    nodes:\n"
				     "      pg1: {port: 25432, data_dir: data/pg1}\n"
				     "    replication:\n"
				     "      password: {file: %s}\n",
				     path) > 0);
		t = load(yaml, false, &diags);
		assert_non_null(t);
		if (cases[i].problem == NULL) {
			assert_int_equal(diags.n, 0);
		} else {
			assert_int_equal(diags.n, 1);
			assert_true(asprintf(&want, "t.yaml:7:24: error: clusters.main.replication.password.file: "
					     "secret file \"%s\" %s%s%s", path, cases[i].problem,
					     cases[i].mode >= 0 ? "\n  hint: chmod 600 " : "",
					     cases[i].mode >= 0 ? path : "") > 0);
			assert_string_equal(diag_text(&diags, 0), want);
		}
		topology_free(t);
		diag_free(&diags);

		/* Offline: the file is not looked at. */
		t = load(yaml, true, &diags);
		assert_int_equal(diags.n, 0);
		topology_free(t);
		diag_free(&diags);

		if (cases[i].mode < 0)
			rmdir(path);
		else
			unlink(path);
		free(path);
		free(yaml);
		free(want);
	}
	rmdir(dir);
}

/*
 * A model built by hand, as a caller other than the loader could: no
 * positions, no hosts, validate called with NULL options.
 */
static void test_hand_built_model(void **state)
{
	PgcTopology t;
	PgcCluster c;
	PgcNode nodes[2];
	PgcDiagList diags = {0};

	(void)state;
	memset(&t, 0, sizeof(t));
	memset(&c, 0, sizeof(c));
	memset(nodes, 0, sizeof(nodes));
	t.arena = arena_new();
	t.file = "hand.yaml";
	t.clusters = &c;
	t.n_clusters = 1;
	c.name = "main";
	c.pg_version.v = 15;
	c.nodes = nodes;
	c.n_nodes = 2;
	c.replication.slots.v = true;
	c.initdb.data_checksums.v = true;
	nodes[0].name = "a";
	nodes[0].port.v = 5432;
	nodes[0].data_dir.v = "/srv/pg/a";
	nodes[1].name = "b";
	nodes[1].port.v = 5433;
	nodes[1].data_dir.v = "/srv/pg/a";

	topology_validate(&t, NULL, &diags);
	diag_sort(&diags);
	assert_int_equal(diags.n, 2);
	assert_string_equal(diag_text(&diags, 0),
			    "hand.yaml: error: clusters.main: missing required key \"primary\": a cluster with "
			    "more than one node needs it\n  hint: name the node that accepts writes, e.g. "
			    "\"primary: a\"");
	assert_string_equal(diag_text(&diags, 1),
			    "hand.yaml: error: clusters.main.nodes.b.data_dir: data directory \"/srv/pg/a\" is "
			    "already used by clusters.main.nodes.a\n  hint: give each node its own data "
			    "directory");
	diag_free(&diags);
	arena_free(t.arena);
}

static void test_listen_address_rules(void **state)
{
	/* A pooler on every address clashes with a loopback node on its port,
	 * not with a node on another machine; two loopback addresses share a
	 * filesystem, two remote hosts do not. */
	static const char yaml[] =
		"version: 1\n"
		"clusters:\n"
		"  main:\n"
		"    primary: pg1\n"
		"    nodes:\n"
		"      pg1: {host: 127.0.0.1, port: 25432, data_dir: /srv/pg/1}\n"
		"      pg2: {host: 10.0.0.2, port: 6432, data_dir: /srv/pg/1}\n"
		"      pg3: {host: 10.0.0.3, port: 6432, data_dir: /srv/pg/1}\n"
		"      pg4: {host: 127.0.0.4, port: 6433, data_dir: /srv/pg/1/x}\n"
		"    pooler:\n"
		"      pgbouncer: {port: 6433, listen_address: 0.0.0.0}\n"
		"    balancer:\n"
		"      haproxy: {write_port: 25432, listen_address: 127.0.0.2}\n";
	PgcDiagList diags = {0};
	PgcTopology *t = load(yaml, true, &diags);

	(void)state;
	assert_non_null(t);
	assert_int_equal(diags.n, 2);
	assert_string_equal(diag_text(&diags, 0),
			    "t.yaml:9:52: error: clusters.main.nodes.pg4.data_dir: data directory "
			    "\"/srv/pg/1/x\" is inside the data directory \"/srv/pg/1\" of clusters.main.nodes.pg1 "
			    "(line 6)\n  hint: keep data directories side by side");
	assert_string_equal(diag_text(&diags, 1),
			    "t.yaml:11:25: error: clusters.main.pooler.pgbouncer.port: port 6433 on \"0.0.0.0\" "
			    "is already used by clusters.main.nodes.pg4.port on \"127.0.0.4\" (line 9)\n  hint: "
			    "give each server its own port");
	topology_free(t);
	diag_free(&diags);
}

static void test_frontdoor_ports_and_defaults(void **state)
{
	/* Pgpool-II's PCP port defaults to its port + 1: here a node's port. A
	 * read port on a cluster without replicas is only a warning. */
	static const char yaml[] =
		"version: 1\n"
		"clusters:\n"
		"  main:\n"
		"    nodes:\n"
		"      pg1: {port: 25401, data_dir: /srv/pg/main/pg1}\n"
		"    balancer:\n"
		"      pgpool: {port: 25400}\n"
		"      haproxy: {write_port: 25402, read_port: 25403}\n"
		"    monitoring: {pgbadger: {keep: 3}, datadog: {conf_dir: /etc/dd, password: {env: DD}}}\n";
	PgcDiagList diags = {0};
	PgcTopology *t = load(yaml, true, &diags);
	const PgcCluster *c;

	(void)state;
	assert_non_null(t);
	assert_int_equal(diags.n, 2);
	assert_string_equal(diag_text(&diags, 0),
			    "t.yaml:7:22: error: clusters.main.balancer.pgpool.pcp_port: port 25401 on "
			    "\"127.0.0.1\" is already used by clusters.main.nodes.pg1.port (line 5)\n  hint: "
			    "give each server its own port");
	assert_string_equal(diag_text(&diags, 1),
			    "t.yaml:8:47: warning: clusters.main.balancer.haproxy.read_port: read_port sends "
			    "reads to replicas, but cluster \"main\" has none: reads go to the primary\n  hint: "
			    "add a replica, or remove read_port");
	c = &t->clusters[0];
	assert_int_equal(c->pgpool.pcp_port.v, 25401);
	assert_true(c->pgpool.load_balance.v);
	assert_string_equal(c->pgpool.dir.v, "/srv/pg/main/pgpool");
	assert_string_equal(c->haproxy.dir.v, "/srv/pg/main/haproxy");
	assert_int_equal(c->haproxy.max_lag.bytes, 16 << 20);
	assert_true(c->monitoring.pgbadger.set);
	assert_int_equal(c->monitoring.pgbadger.keep.v, 3);
	assert_int_equal(c->monitoring.pgbadger.every.ms, 3600 * 1000);
	assert_true(c->monitoring.datadog.set);
	assert_string_equal(c->monitoring.datadog.user.v, "datadog");
	assert_false(c->pgbouncer.set);
	topology_free(t);
	diag_free(&diags);
}

static void test_pgbadger_false_and_bad_type(void **state)
{
	static const char yaml[] =
		"version: 1\n"
		"clusters:\n"
		"  a:\n"
		"    nodes: {n: {port: 25410, data_dir: /srv/a/n}}\n"
		"    monitoring: {pgbadger: false}\n"
		"  b:\n"
		"    nodes: {n: {port: 25411, data_dir: /srv/b/n}}\n"
		"    monitoring: {pgbadger: 3}\n";
	PgcDiagList diags = {0};
	PgcTopology *t = load(yaml, true, &diags);

	(void)state;
	assert_non_null(t);
	assert_int_equal(diags.n, 1);
	assert_string_equal(diag_text(&diags, 0),
			    "t.yaml:8:28: error: clusters.b.monitoring.pgbadger: expected true, false or a "
			    "mapping with every, keep and output, got an integer\n  hint: e.g. pgbadger: true, or "
			    "pgbadger: {every: 1h, keep: 14}");
	assert_false(t->clusters[0].monitoring.pgbadger.set);
	topology_free(t);
	diag_free(&diags);
}

static void test_standby_minimum_reported_at_primary(void **state)
{
	static const char yaml[] =
		"version: 1\n"
		"clusters:\n"
		"  main:\n"
		"    primary: pg1\n"
		"    nodes:\n"
		"      pg1: {port: 25432, data_dir: data/pg1, settings: {max_worker_processes: 16}}\n"
		"      pg2: {port: 25433, data_dir: data/pg2}\n";
	PgcDiagList diags = {0};
	PgcTopology *t = load(yaml, true, &diags);

	(void)state;
	assert_int_equal(diags.n, 1);
	assert_string_equal(diag_text(&diags, 0),
			    "t.yaml:6:79: error: clusters.main.nodes.pg1.settings.max_worker_processes: "
			    "max_worker_processes 8 on replica \"pg2\" is lower than 16 on the primary \"pg1\": "
			    "a standby does not start with less than its primary\n  hint: use the same value on "
			    "every node: any of them may become the primary");
	topology_free(t);
	diag_free(&diags);
}

static void test_defaults_too_small_for_many_nodes(void **state)
{
	char *yaml = strdup("version: 1\nclusters:\n  big:\n    primary: n0\n    nodes:\n"), *tmp;
	PgcDiagList diags = {0};
	PgcTopology *t;
	int i;

	(void)state;
	for (i = 0; i < 12; i++) {
		assert_true(asprintf(&tmp, "%s      n%d: {port: %d, data_dir: data/n%d}\n", yaml, i, 25500 + i,
				     i) > 0);
		free(yaml);
		yaml = tmp;
	}
	t = load(yaml, true, &diags);
	assert_int_equal(diags.n, 2);
	assert_string_equal(diag_text(&diags, 0),
			    "t.yaml:3:3: error: clusters.big.settings: the default max_wal_senders 10 is too "
			    "small for cluster \"big\": expected at least 12\n  hint: any node may become the "
			    "primary: 1 per replica (11), plus 1 while pg_basebackup copies a node");
	assert_string_equal(diag_text(&diags, 1),
			    "t.yaml:3:3: error: clusters.big.settings: the default max_replication_slots 10 is "
			    "too small for cluster \"big\": expected at least 12\n  hint: any node may become the "
			    "primary: 1 per replica (11), plus 1 for pg_basebackup's temporary slot");
	topology_free(t);
	diag_free(&diags);
	free(yaml);
}

static void test_two_cycles_each_reported_once(void **state)
{
	static const char yaml[] =
		"version: 1\n"
		"clusters:\n"
		"  main:\n"
		"    primary: p\n"
		"    nodes:\n"
		"      p: {port: 25432, data_dir: data/p}\n"
		"      d: {port: 25433, data_dir: data/d, replicate_from: c}\n"
		"      c: {port: 25434, data_dir: data/c, replicate_from: d}\n"
		"      x: {port: 25435, data_dir: data/x, replicate_from: y}\n"
		"      y: {port: 25436, data_dir: data/y, replicate_from: z}\n"
		"      z: {port: 25437, data_dir: data/z, replicate_from: x}\n"
		"      w: {port: 25438, data_dir: data/w, replicate_from: z}\n";
	PgcDiagList diags = {0};
	PgcTopology *t = load(yaml, true, &diags);

	(void)state;
	assert_int_equal(diags.n, 2);
	assert_string_equal(diag_text(&diags, 0),
			    "t.yaml:7:58: error: clusters.main.nodes.d.replicate_from: replication cycle d -> c "
			    "-> d: every replica must lead back to the primary \"p\"\n  hint: remove "
			    "replicate_from from one of these nodes to make it stream from the primary");
	assert_string_equal(diag_text(&diags, 1),
			    "t.yaml:9:58: error: clusters.main.nodes.x.replicate_from: replication cycle x -> y "
			    "-> z -> x: every replica must lead back to the primary \"p\"\n  hint: remove "
			    "replicate_from from one of these nodes to make it stream from the primary");
	topology_free(t);
	diag_free(&diags);
}

static void test_structure_errors_skip_validation(void **state)
{
	/* A port of the wrong type is a structure error: the semantic problem
	 * next to it (an unknown primary) is not reported on top. */
	static const char yaml[] =
		"version: 1\n"
		"clusters:\n"
		"  main:\n"
		"    primary: nope\n"
		"    nodes:\n"
		"      pg1: {port: five, data_dir: data/pg1}\n";
	PgcDiagList diags = {0};
	PgcTopology *t = load(yaml, true, &diags);

	(void)state;
	assert_int_equal(diags.n, 1);
	assert_int_equal(diags.items[0].level, DIAG_ERROR);
	assert_string_equal(diags.items[0].key, "clusters.main.nodes.pg1.port");
	topology_free(t);
	diag_free(&diags);
}

/* big - a growable text buffer for generated inputs. */
typedef struct {
	char *s;
	size_t n, cap;
} Big;

static void big_add(Big *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void big_add(Big *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (b->s != NULL && b->n + (size_t)n < b->cap)
			break;
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	b->n += (size_t)n;
}

#define ONE_NODE "version: 1\nclusters:\n  main:\n    nodes:\n      pg1: {port: 25432, data_dir: d}\n"

/* 100,000 nested "[" are refused as soon as the 64th level opens (the top mapping is the
 * first), not after libyaml built them all. */
static void test_deep_nesting_refused_while_parsing(void **state)
{
	static const char *const opens[] = {"[", "{a: "};
	static const char *const expect[] = {
		"t.yaml:2:74: error: clusters%s: nesting too deep: expected at most 64 levels of mappings and "
		"lists",
		"t.yaml:2:263: error: clusters%s: nesting too deep: expected at most 64 levels of mappings and "
		"lists",
	};
	size_t k, i;

	(void)state;
	for (k = 0; k < 2; k++) {
		PgcDiagList diags = {0};
		Big b = {0}, path = {0};
		char *want = NULL;
		PgcTopology *t;

		big_add(&b, "version: 1\nclusters: ");
		for (i = 0; i < 100000; i++)
			big_add(&b, "%s", opens[k]);
		big_add(&path, "%s", "");
		for (i = 0; i < 63; i++)
			big_add(&path, "%s", k == 0 ? "[0]" : ".a");
		assert_true(asprintf(&want, expect[k], path.s) > 0);
		t = topology_load_buffer(b.s, b.n, "t.yaml", NULL, &diags);
		assert_null(t);
		assert_int_equal(diags.n, 1);
		assert_string_equal(diag_text(&diags, 0), want);
		diag_free(&diags);
		free(want);
		free(b.s);
		free(path.s);
	}
}

/* A "\0" escape is refused, never used as the string before it. */
static void test_nul_in_scalar_refused(void **state)
{
	static const char yaml[] = ONE_NODE "    settings: {application_name: \"a\\0b\"}\n";
	PgcDiagList diags = {0};
	PgcTopology *t;

	(void)state;
	t = load(yaml, true, &diags);
	assert_null(t);
	assert_int_equal(diags.n, 1);
	assert_string_equal(diag_text(&diags, 0),
			    "t.yaml:6:34: error: clusters.main.settings.application_name: invalid string: it "
			    "holds a NUL character (\\0), which no name, path or setting can contain\n"
			    "  hint: remove the \\0 escape");
	diag_free(&diags);
}

/*
 * Text from the file reaches the terminal escaped, whichever part of the
 * diagnostic holds it (here the key path and a value in the message), and
 * once: the JSON form keeps the raw text, for jansson to escape.
 */
static void test_diag_print_escapes_file_text(void **state)
{
	static const char yaml[] = ONE_NODE "    \"x\\e[31mRED\\rY\": 1\n"
					    "    os_user: \"pg\\e]0;t\\x07\\nhost all all 0.0.0.0/0 trust\"\n";
	PgcDiagList diags = {0};
	PgcTopology *t;
	char *out = NULL, *key = NULL, *msg = NULL;
	size_t len = 0, i;
	FILE *f;
	json_t *j;

	(void)state;
	t = load(yaml, true, &diags);
	topology_free(t);
	assert_int_equal(diag_count(&diags, DIAG_ERROR), 2);
	f = open_memstream(&out, &len);
	assert_non_null(f);
	diag_print(f, &diags, true);
	fclose(f);
	/* Only the level's colour is an escape sequence, and every line is a diagnostic's or a hint's. */
	for (i = 0; i < len; i++) {
		assert_int_not_equal(out[i], '\r');
		assert_int_not_equal(out[i], '\a');
		if (out[i] == '\033')
			assert_true(strncmp(out + i, "\033[1;31m", 7) == 0 ||
				    strncmp(out + i, "\033[1;33m", 7) == 0 || strncmp(out + i, "\033[0m", 4) == 0);
		if (out[i] == '\n' && i + 1 < len)
			assert_true(strncmp(out + i + 1, "t.yaml:", 7) == 0 ||
				    strncmp(out + i + 1, "  hint: ", 8) == 0);
	}
	assert_non_null(strstr(out, "clusters.main.x\\x1b[31mRED\\rY: "));
	assert_non_null(strstr(out, "\"pg\\x1b]0;t\\x07\\nhost all all 0.0.0.0/0 trust\""));
	/* Escaped once: no "\\n" from a message escaped before diag_print. */
	assert_null(strstr(out, "\\\\"));
	for (i = 0; i < diags.n; i++) {
		char *s = diag_format(&diags.items[i]);

		assert_null(strchr(s, '\033'));
		assert_null(strchr(s, '\r'));
		free(s);
	}
	/* JSON: raw, jansson escapes it. */
	j = diag_to_json(&diags);
	for (i = 0; i < json_array_size(json_object_get(j, "diagnostics")); i++) {
		json_t *d = json_array_get(json_object_get(j, "diagnostics"), i);
		const char *k = json_string_value(json_object_get(d, "key"));
		const char *m = json_string_value(json_object_get(d, "message"));

		if (k != NULL && strstr(k, "\033[31mRED\rY") != NULL)
			key = strdup(k);
		if (m != NULL && strstr(m, "\"pg\033]0;t\a\nhost all") != NULL)
			msg = strdup(m);
	}
	assert_non_null(key);
	assert_non_null(msg);
	json_decref(j);
	free(key);
	free(msg);
	free(out);
	diag_free(&diags);
}

/* A chain of 100,000 memberships is walked without recursion; closed, it is one cycle. */
static void test_long_role_chain(void **state)
{
	size_t closed, i;

	(void)state;
	for (closed = 0; closed < 2; closed++) {
		PgcDiagList diags = {0};
		Big b = {0};
		PgcTopology *t;

		big_add(&b, ONE_NODE "    roles:\n");
		for (i = 0; i < 100000; i++)
			big_add(&b, "      r%zu: {member_of: [r%zu]}\n", i, i + 1);
		big_add(&b, "      r100000: {%s}\n", closed ? "member_of: [r0]" : "");
		t = topology_load_buffer(b.s, b.n, "t.yaml", NULL, &diags);
		assert_non_null(t);
		assert_int_equal(t->clusters[0].n_roles, 100001);
		if (!closed) {
			assert_int_equal(diags.n, 0);
		} else {
			assert_int_equal(diags.n, 1);
			assert_string_equal(diag_text(&diags, 0),
					    "t.yaml:7:24: error: clusters.main.roles.r0.member_of[0]: circular role "
					    "membership r0 -> r1 -> r2 -> r3 -> r4 -> r5 -> r6 -> r7 -> ... (100001 "
					    "roles) -> r0\n"
					    "  hint: remove one of these memberships");
		}
		topology_free(t);
		diag_free(&diags);
		free(b.s);
	}
}

/* Duplicates among 40,000 settings are still found, by name regardless of case. */
static void test_many_settings_duplicate_found(void **state)
{
	PgcDiagList diags = {0};
	Big b = {0};
	PgcTopology *t;
	size_t i;

	(void)state;
	big_add(&b, ONE_NODE "    settings:\n");
	for (i = 0; i < 40000; i++)
		big_add(&b, "      app.p%zu: %zu\n", i, i);
	big_add(&b, "      APP.P123: 1\n");
	t = topology_load_buffer(b.s, b.n, "t.yaml", NULL, &diags);
	assert_non_null(t);
	assert_int_equal(diags.n, 1);
	assert_string_equal(diag_text(&diags, 0),
			    "t.yaml:40007:7: error: clusters.main.settings.APP.P123: parameter \"APP.P123\" is "
			    "set twice\n"
			    "  hint: first set at line 130, column 7 as \"app.p123\"");
	topology_free(t);
	diag_free(&diags);
	free(b.s);
}

/* hba names are kept in pg_hba.conf's syntax, as written: the renderer writes them unchanged. */
static void test_hba_fields_kept_as_written(void **state)
{
	static const char yaml[] = ONE_NODE
		"    hba:\n"
		"      - {type: host, address: 10.0.0.0/8, method: md5, database: '\"my db\",app',\n"
		"         user: '\"o\"\"brien\"', options: 'ldapbasedn=\"dc=a, dc=b\"'}\n";
	PgcDiagList diags = {0};
	PgcTopology *t;

	(void)state;
	t = load(yaml, true, &diags);
	assert_non_null(t);
	assert_int_equal(diags.n, 0);
	assert_string_equal(t->clusters[0].hba[0].database.v, "\"my db\",app");
	assert_string_equal(t->clusters[0].hba[0].user.v, "\"o\"\"brien\"");
	assert_string_equal(t->clusters[0].hba[0].options.v, "ldapbasedn=\"dc=a, dc=b\"");
	topology_free(t);
	diag_free(&diags);
}

/* 30,000 unknown memberships: every one reported, suggestions only while they are cheap. */
static void test_many_unknown_roles_bounded_suggestions(void **state)
{
	PgcDiagList diags = {0};
	Big b = {0};
	PgcTopology *t;
	size_t i;

	(void)state;
	big_add(&b, ONE_NODE "    roles:\n");
	for (i = 0; i < 30000; i++)
		big_add(&b, "      r%zu: {member_of: [x%zu]}\n", i, i);
	t = topology_load_buffer(b.s, b.n, "t.yaml", NULL, &diags);
	assert_non_null(t);
	assert_int_equal(diags.n, 30000);
	assert_string_equal(diag_text(&diags, 0),
			    "t.yaml:7:24: error: clusters.main.roles.r0.member_of[0]: unknown role \"x0\": "
			    "expected a role declared under clusters.main.roles or a predefined role such as "
			    "\"pg_monitor\"\n"
			    "  hint: did you mean \"r0\"?");
	assert_string_equal(diag_text(&diags, 29999),
			    "t.yaml:30006:28: error: clusters.main.roles.r29999.member_of[0]: unknown role "
			    "\"x29999\": expected a role declared under clusters.main.roles or a predefined role "
			    "such as \"pg_monitor\"");
	topology_free(t);
	diag_free(&diags);
	free(b.s);
}

/* 32 kB of aliases that would expand to a billion settings stop at the budget. */
static void test_alias_bomb_stops_at_budget(void **state)
{
	PgcDiagList diags = {0};
	Big b = {0};
	PgcTopology *t;
	size_t i;

	(void)state;
	big_add(&b, "version: 1\nx-s: &S {");
	for (i = 0; i < 1000; i++)
		big_add(&b, "%sapp.p%zu: 1", i ? ", " : "", i);
	big_add(&b, "}\nx-n: &N {port: 25432, data_dir: d, settings: *S}\nx-c: &C {nodes: {");
	for (i = 0; i < 1000; i++)
		big_add(&b, "%sn%zu: *N", i ? ", " : "", i);
	big_add(&b, "}, settings: *S}\nclusters: {");
	for (i = 0; i < 1000; i++)
		big_add(&b, "%sc%zu: *C", i ? ", " : "", i);
	big_add(&b, "}\n");
	t = topology_load_buffer(b.s, b.n, "t.yaml", NULL, &diags);
	assert_non_null(t);
	assert_int_equal(diag_count(&diags, DIAG_ERROR), 1);
	assert_string_equal(diag_text(&diags, 0),
			    "t.yaml:2:6: error: document too large: more than 1000000 mappings, entries and "
			    "list items to read\n"
			    "  hint: reduce the use of aliases: each use counts again");
	topology_free(t);
	diag_free(&diags);
	free(b.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_fills_model),
		cmocka_unit_test(test_window_errors),
		cmocka_unit_test(test_window_zone_offline_and_tzdir),
		cmocka_unit_test(test_secret_file_modes),
		cmocka_unit_test(test_hand_built_model),
		cmocka_unit_test(test_listen_address_rules),
		cmocka_unit_test(test_standby_minimum_reported_at_primary),
		cmocka_unit_test(test_defaults_too_small_for_many_nodes),
		cmocka_unit_test(test_two_cycles_each_reported_once),
		cmocka_unit_test(test_structure_errors_skip_validation),
		cmocka_unit_test(test_deep_nesting_refused_while_parsing),
		cmocka_unit_test(test_nul_in_scalar_refused),
		cmocka_unit_test(test_long_role_chain),
		cmocka_unit_test(test_many_settings_duplicate_found),
		cmocka_unit_test(test_hba_fields_kept_as_written),
		cmocka_unit_test(test_many_unknown_roles_bounded_suggestions),
		cmocka_unit_test(test_alias_bomb_stops_at_budget),
		cmocka_unit_test(test_diag_print_escapes_file_text),
		cmocka_unit_test(test_frontdoor_ports_and_defaults),
		cmocka_unit_test(test_pgbadger_false_and_bad_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
