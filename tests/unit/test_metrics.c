/*
 * tests/unit/test_metrics.c - common/metrics.c: Prometheus families and
 * samples, label values escaped as the text format wants; the monitoring
 * families of observe_stats_metrics() on a hand-built observation; the
 * --metrics-listen address parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/metrics.h"
#include "common/metrics_http.h"
#include "reconcile/observe/observe_stats.h"

/* WRITTEN - runs stmt writing to f, a memory stream into buf (NUL-terminated; caller frees). */
#define WRITTEN(buf, len, f, stmt)                                                     \
	do {                                                                           \
		f = open_memstream(&buf, &len);                                        \
		assert_non_null(f);                                                    \
		stmt;                                                                  \
		assert_int_equal(fclose(f), 0);                                        \
	} while (0)

static void test_family(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	WRITTEN(buf, len, f, metrics_family(f, "pgconverge_x", "gauge", "what x is"));
	assert_string_equal(buf, "# HELP pgconverge_x what x is\n# TYPE pgconverge_x gauge\n");
	free(buf);
}

static void test_samples(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	WRITTEN(buf, len, f, metrics_sample(f, "pgconverge_x", NULL, "%zu", (size_t)3));
	assert_string_equal(buf, "pgconverge_x 3\n");
	free(buf);
	WRITTEN(buf, len, f,
		metrics_sample(f, "pgconverge_up", METRICS_LABELS("cluster", "main", "node", "pg1"),
			       "%d", 1));
	assert_string_equal(buf, "pgconverge_up{cluster=\"main\",node=\"pg1\"} 1\n");
	free(buf);
	WRITTEN(buf, len, f,
		metrics_sample(f, "pgconverge_age", METRICS_LABELS("path", NULL), "%.3f", 1.5));
	assert_string_equal(buf, "pgconverge_age{path=\"\"} 1.500\n");
	free(buf);
}

static void test_label_escaping(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	WRITTEN(buf, len, f,
		metrics_sample(f, "pgconverge_x", METRICS_LABELS("backup", "x\"} 1\nforged{a=\"\\"),
			       "%d", 0));
	assert_string_equal(buf, "pgconverge_x{backup=\"x\\\"} 1\\nforged{a=\\\"\\\\\"} 0\n");
	free(buf);
}

/* ---- observe_stats_metrics ---------------------------------------------------- */

/* has_line - true when text holds line as a whole line. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static size_t count_prefix(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);

	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		n += strncmp(p, prefix, len) == 0;
	return n;
}

/*
 * observation - cluster "main": pg1 a primary with figures (two databases,
 * appdb declared with its index usage, a name that needs escaping without),
 * pg2 a replica 4096 bytes and 1.5 s behind, not local (no /proc figures),
 * pg3 down (no figures).
 */
static void observation(PgcObserved *o, PgcObsCluster *c, PgcObsNode *n, PgcObsStats *s,
			PgcObsStatsDatabase *d)
{
	memset(o, 0, sizeof *o);
	o->clusters = c;
	o->n_clusters = 1;
	*c = (PgcObsCluster){.name = "main", .nodes = n, .n_nodes = 3};
	n[0] = (PgcObsNode){.name = "pg1", .cluster = "main", .reachable = true,
			    .current_lsn = "0/3001000", .replay_delay_s = -1, .stats = &s[0]};
	n[1] = (PgcObsNode){.name = "pg2", .cluster = "main", .reachable = true,
			    .in_recovery = true, .replay_lsn = "0/3000000", .replay_delay_s = 1.5,
			    .stats = &s[1]};
	n[2] = (PgcObsNode){.name = "pg3", .cluster = "main", .replay_delay_s = -1};
	memset(s, 0, 2 * sizeof *s);
	s[0].connections[OBS_CONN_ACTIVE] = 3;
	s[0].connections[OBS_CONN_IDLE_IN_XACT] = 1;
	s[0].max_connections = 100;
	s[0].wal_bytes = 50335744;
	s[0].wal_generated_bytes = 1234;
	s[0].databases = d;
	s[0].n_databases = 2;
	s[0].proc_read = true;
	s[0].processes = 7;
	s[0].cpu_seconds = 12.345;
	s[0].io_read = true;
	s[0].read_bytes = 8192;
	s[0].write_bytes = 65536;
	d[0] = (PgcObsStatsDatabase){.name = "appdb", .blks_read = 10, .blks_hit = 990,
				     .blk_read_time_s = 0.25, .blk_write_time_s = 0.5,
				     .temp_bytes = 4096, .temp_files = 1, .xact_commit = 42,
				     .xact_rollback = 2, .size_bytes = 8000000, .index_read = true,
				     .idx_scan = 7, .seq_scan = 3, .unused_indexes = 1};
	d[1] = (PgcObsStatsDatabase){.name = "we\"ird\\db", .blks_read = 1, .size_bytes = -1};
	s[1].max_connections = 100;
	s[1].wal_bytes = 50331648;
	s[1].wal_generated_bytes = -1;
	s[1].error = "could not read pg_stat_wal: boom";
}

static void test_stats_families(void **state)
{
	PgcObserved o;
	PgcObsCluster c;
	PgcObsNode n[3];
	PgcObsStats s[2];
	PgcObsStatsDatabase d[2];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	observation(&o, &c, n, s, d);
	WRITTEN(buf, len, f, observe_stats_metrics(f, &o));
	/* Every family: HELP then TYPE, and as many of each. */
	assert_int_equal(count_prefix(buf, "# HELP "), count_prefix(buf, "# TYPE "));
	assert_int_equal(count_prefix(buf, "# TYPE "), 23);
	assert_true(has_line(buf, "# TYPE pgconverge_connections gauge"));
	assert_true(has_line(buf, "# TYPE pgconverge_process_cpu_seconds_total counter"));
	assert_true(has_line(buf, "# TYPE pgconverge_database_size_bytes gauge"));
	/* Connections: every state of a node with figures, zeros included. */
	assert_true(has_line(buf, "pgconverge_connections{cluster=\"main\",node=\"pg1\",state=\"active\"} 3"));
	assert_true(has_line(buf, "pgconverge_connections{cluster=\"main\",node=\"pg1\",state=\"idle in transaction\"} 1"));
	assert_true(has_line(buf, "pgconverge_connections{cluster=\"main\",node=\"pg2\",state=\"idle\"} 0"));
	assert_int_equal(count_prefix(buf, "pgconverge_connections{"), 2 * OBS_CONN_STATES);
	assert_true(has_line(buf, "pgconverge_max_connections{cluster=\"main\",node=\"pg1\"} 100"));
	/* WAL, and pg_stat_wal unknown on pg2: no sample. */
	assert_true(has_line(buf, "pgconverge_wal_bytes_total{cluster=\"main\",node=\"pg1\"} 50335744"));
	assert_true(has_line(buf, "pgconverge_wal_generated_bytes_total{cluster=\"main\",node=\"pg1\"} 1234"));
	assert_null(strstr(buf, "pgconverge_wal_generated_bytes_total{cluster=\"main\",node=\"pg2\"}"));
	/* Lag: the replica only, against the primary's position. */
	assert_true(has_line(buf, "pgconverge_replication_lag_bytes{cluster=\"main\",node=\"pg2\"} 4096"));
	assert_true(has_line(buf, "pgconverge_replication_lag_seconds{cluster=\"main\",node=\"pg2\"} 1.500"));
	assert_null(strstr(buf, "pgconverge_replication_lag_bytes{cluster=\"main\",node=\"pg1\"}"));
	/* /proc: pg1 only. */
	assert_true(has_line(buf, "pgconverge_processes{cluster=\"main\",node=\"pg1\"} 7"));
	assert_true(has_line(buf, "pgconverge_process_cpu_seconds_total{cluster=\"main\",node=\"pg1\"} 12.35"));
	assert_true(has_line(buf, "pgconverge_process_read_bytes_total{cluster=\"main\",node=\"pg1\"} 8192"));
	assert_true(has_line(buf, "pgconverge_process_write_bytes_total{cluster=\"main\",node=\"pg1\"} 65536"));
	assert_null(strstr(buf, "pgconverge_processes{cluster=\"main\",node=\"pg2\"}"));
	assert_true(has_line(buf, "pgconverge_stats_error{cluster=\"main\",node=\"pg1\"} 0"));
	assert_true(has_line(buf, "pgconverge_stats_error{cluster=\"main\",node=\"pg2\"} 1"));
	/* Databases: seconds with decimals, index usage only where read, names escaped. */
	assert_true(has_line(buf, "pgconverge_database_blocks_hit_total{cluster=\"main\",node=\"pg1\",database=\"appdb\"} 990"));
	assert_true(has_line(buf, "pgconverge_database_block_read_seconds_total{cluster=\"main\",node=\"pg1\",database=\"appdb\"} 0.250"));
	assert_true(has_line(buf, "pgconverge_database_xact_commit_total{cluster=\"main\",node=\"pg1\",database=\"appdb\"} 42"));
	assert_true(has_line(buf, "pgconverge_database_size_bytes{cluster=\"main\",node=\"pg1\",database=\"appdb\"} 8000000"));
	assert_true(has_line(buf, "pgconverge_database_index_scans_total{cluster=\"main\",node=\"pg1\",database=\"appdb\"} 7"));
	assert_true(has_line(buf, "pgconverge_database_seq_scans_total{cluster=\"main\",node=\"pg1\",database=\"appdb\"} 3"));
	assert_true(has_line(buf, "pgconverge_database_unused_indexes{cluster=\"main\",node=\"pg1\",database=\"appdb\"} 1"));
	assert_true(has_line(buf, "pgconverge_database_blocks_read_total{cluster=\"main\",node=\"pg1\",database=\"we\\\"ird\\\\db\"} 1"));
	assert_null(strstr(buf, "pgconverge_database_unused_indexes{cluster=\"main\",node=\"pg1\",database=\"we"));
	assert_null(strstr(buf, "pgconverge_database_size_bytes{cluster=\"main\",node=\"pg1\",database=\"we"));
	/* The node without figures has no sample at all. */
	assert_null(strstr(buf, "node=\"pg3\""));
	free(buf);
}

/* With no figures anywhere, every family is still named, without samples. */
static void test_stats_families_empty(void **state)
{
	PgcObserved o;
	PgcObsCluster c;
	PgcObsNode n[3];
	PgcObsStats s[2];
	PgcObsStatsDatabase d[2];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	observation(&o, &c, n, s, d);
	n[0].stats = n[1].stats = NULL;
	WRITTEN(buf, len, f, observe_stats_metrics(f, &o));
	assert_int_equal(count_prefix(buf, "# TYPE "), 23);
	assert_int_equal(count_prefix(buf, "pgconverge_"), 0);
	free(buf);
}

static void test_listen_address(void **state)
{
	char host[64];
	int port = 0;

	(void)state;
	assert_int_equal(metrics_http_parse_listen("127.0.0.1:9187", host, sizeof host, &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9187);
	assert_int_equal(metrics_http_parse_listen("[::1]:80", host, sizeof host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 80);
	assert_int_equal(metrics_http_parse_listen(":9187", host, sizeof host, &port), 0);
	assert_string_equal(host, "");
	assert_int_equal(metrics_http_parse_listen("localhost:65535", host, sizeof host, &port), 0);
	assert_string_equal(host, "localhost");
	assert_int_equal(metrics_http_parse_listen("127.0.0.1", host, sizeof host, &port), -1);
	assert_int_equal(metrics_http_parse_listen("127.0.0.1:", host, sizeof host, &port), -1);
	assert_int_equal(metrics_http_parse_listen("127.0.0.1:0", host, sizeof host, &port), -1);
	assert_int_equal(metrics_http_parse_listen("127.0.0.1:65536", host, sizeof host, &port), -1);
	assert_int_equal(metrics_http_parse_listen("127.0.0.1:80x", host, sizeof host, &port), -1);
	assert_int_equal(metrics_http_parse_listen("::1:80", host, sizeof host, &port), -1);
	assert_int_equal(metrics_http_parse_listen(NULL, host, sizeof host, &port), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family),
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_stats_families),
		cmocka_unit_test(test_stats_families_empty),
		cmocka_unit_test(test_listen_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
