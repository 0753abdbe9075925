/*
 * tests/unit/test_validate_monitoring.c - the monitoring section's checks
 * (schema/validate_monitoring.c): log settings pgBadger cannot parse, its
 * schedule and output folder, and pg_stat_statements' parameters as the
 * catalog knows them. Exact messages and hints.
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
#include "schema/validate.h"

/*
 * check - loads a one-node cluster with monitoring (mon), cluster settings
 * and node settings (both YAML flow maps or NULL) and compares every
 * diagnostic, as diag_format() prints them, one per line, with want.
 */
static void check(const char *mon, const char *settings, const char *node_settings, const char *want)
{
	PgcLoadOptions opts = {.base_dir = "/srv/topo", .offline = true};
	PgcDiagList diags = {0};
	char *yaml = NULL, *got = NULL;
	size_t len = 0;
	FILE *f;
	PgcTopology *t;

	assert_true(asprintf(&yaml,
			     "version: 1\n"
			     "clusters:\n"
			     "  main:\n"
			     "    nodes:\n"
			     "      pg1: {port: 25432, data_dir: data/pg1%s%s}\n"
			     "%s%s%s"
			     "    monitoring: %s\n",
			     node_settings ? ", settings: " : "", node_settings ? node_settings : "",
			     settings ? "    settings: " : "", settings ? settings : "",
			     settings ? "\n" : "", mon) > 0);
	t = topology_load_buffer(yaml, strlen(yaml), "t.yaml", &opts, &diags);
	f = open_memstream(&got, &len);
	for (size_t i = 0; i < diags.n; i++) {
		char *s = diag_format(&diags.items[i]);

		fprintf(f, "%s\n", s);
		free(s);
	}
	fclose(f);
	if (strcmp(got, want) != 0)
		fail_msg("for\n%s\ngot:\n%s\nwanted:\n%s", yaml, got, want);
	topology_free(t);
	diag_free(&diags);
	free(got);
	free(yaml);
}

/* Database Monitoring's explain role is pgconverge's: neither the Agent's nor a declared role. */
static void test_datadog_explain_role_reserved(void **state)
{
	(void)state;
	check("{datadog: {conf_dir: /etc/dd, password: {env: DD}, user: pgconverge_explain}}", NULL,
	      NULL,
	      "t.yaml:6:74: error: clusters.main.monitoring.datadog.user: \"pgconverge_explain\" is "
	      "the role that owns Database Monitoring's explain function\n"
	      "  hint: use a role of its own, e.g. datadog\n");
	check("{pg_stat_statements: true, datadog: {conf_dir: /etc/dd, password: {env: DD}, dbm: true}}",
	      "{}\n    roles:\n      pgconverge_explain: {}", NULL,
	      "t.yaml:8:7: error: clusters.main.roles.pgconverge_explain: \"pgconverge_explain\" is "
	      "pgconverge's: with monitoring.datadog.dbm it owns Database Monitoring's explain "
	      "function, a member of pg_read_all_data only\n"
	      "  hint: rename the role\n");
	/* Without dbm it owns nothing: the name is free. */
	check("{datadog: {conf_dir: /etc/dd, password: {env: DD}}}",
	      "{}\n    roles:\n      pgconverge_explain: {}", NULL, "");
}

static void test_pgbadger_defaults_valid(void **state)
{
	(void)state;
	check("{pgbadger: true, pg_stat_statements: true}", NULL, NULL, "");
	check("{pgbadger: {every: 10m, keep: 3, output: /var/reports}}",
	      "{logging_collector: on, log_destination: 'stderr,csvlog', lc_messages: en_US.UTF-8, "
	      "log_line_prefix: '%m [%p] %q%u@%d '}",
	      NULL, "");
	/* csvlog only: the prefix does not matter. */
	check("{pgbadger: true}", "{log_destination: csvlog, log_line_prefix: '%u '}", NULL, "");
	/* Without pgBadger, no check. */
	check("{pg_stat_statements: true}",
	      "{logging_collector: off, lc_messages: de_DE.UTF-8, log_destination: syslog}", NULL, "");
}

static void test_pgbadger_log_settings(void **state)
{
	(void)state;
	check("{pgbadger: true}", "{logging_collector: false}", NULL,
	      "t.yaml:6:35: error: clusters.main.settings.logging_collector: logging_collector is "
	      "off, but monitoring.pgbadger reads the log files the logging collector writes\n"
	      "  hint: remove it: monitoring.pgbadger turns logging_collector on\n");
	check("{pgbadger: true}", "{log_destination: 'syslog,eventlog'}", NULL,
	      "t.yaml:6:33: error: clusters.main.settings.log_destination: log_destination "
	      "\"syslog,eventlog\" writes no log file pgBadger reads: expected stderr, csvlog or "
	      "jsonlog in the list\n"
	      "  hint: remove it (monitoring.pgbadger sets log_destination: stderr), or add stderr "
	      "to the list\n");
	check("{pgbadger: true}", "{lc_messages: fr_FR.UTF-8}", NULL,
	      "t.yaml:6:29: error: clusters.main.settings.lc_messages: lc_messages \"fr_FR.UTF-8\" "
	      "translates the server's messages, but pgBadger parses the English ones\n"
	      "  hint: remove it (monitoring.pgbadger sets lc_messages: C), or use C or an en_US "
	      "locale\n");
	check("{pgbadger: true}", "{log_min_duration_statement: -1}", NULL,
	      "t.yaml:6:44: warning: clusters.main.settings.log_min_duration_statement: "
	      "log_min_duration_statement is -1: no statement is logged with its duration, so "
	      "pgBadger's query reports stay empty\n"
	      "  hint: remove it (monitoring.pgbadger logs statements of 250ms or more), or set a "
	      "duration such as 250ms\n");
}

static void test_pgbadger_prefix(void **state)
{
	static const char hint[] =
		"  hint: remove it (monitoring.pgbadger sets '%t [%p]: user=%u,db=%d,app=%a,client=%h '), "
		"or start it with '%m [%p] '\n";
	char want[1024];

	(void)state;
	snprintf(want, sizeof want,
		 "t.yaml:6:33: error: clusters.main.settings.log_line_prefix: log_line_prefix \"%%u@%%d \" "
		 "has no time (%%t, %%m or %%n) and no process id (%%p or %%c): pgBadger cannot parse "
		 "the log lines\n%s", hint);
	check("{pgbadger: true}", "{log_line_prefix: '%u@%d '}", NULL, want);
	snprintf(want, sizeof want,
		 "t.yaml:6:33: error: clusters.main.settings.log_line_prefix: log_line_prefix \"[%%p] \" "
		 "has no time (%%t, %%m or %%n): pgBadger cannot parse the log lines\n%s", hint);
	check("{pgbadger: true}", "{log_line_prefix: '[%p] '}", NULL, want);
	/* "%%t" is a percent sign and a t, not a time. */
	snprintf(want, sizeof want,
		 "t.yaml:5:74: error: clusters.main.nodes.pg1.settings.log_line_prefix: log_line_prefix "
		 "\"%%%%t %%m \" has no process id (%%p or %%c): pgBadger cannot parse the log lines\n%s",
		 hint);
	check("{pgbadger: true}", NULL, "{log_line_prefix: '%%t %m '}", want);
	/* Padding, and a session id instead of the pid. */
	check("{pgbadger: true}", "{log_line_prefix: '%-10m %c '}", NULL, "");
}

static void test_pgbadger_schedule_and_output(void **state)
{
	(void)state;
	check("{pgbadger: {every: 0s}}", NULL, NULL,
	      "t.yaml:6:36: error: clusters.main.monitoring.pgbadger.every: expected a duration of "
	      "at least 1m, got 0ms\n"
	      "  hint: pgBadger reports are for hours and days, e.g. every: 1h\n");
	check("{pgbadger: {every: 30s}}", NULL, NULL,
	      "t.yaml:6:36: error: clusters.main.monitoring.pgbadger.every: expected a duration of "
	      "at least 1m, got 30s\n"
	      "  hint: pgBadger reports are for hours and days, e.g. every: 1h\n");
	check("{pgbadger: {every: 1m}}", NULL, NULL, "");
	check("{pgbadger: {output: data}}", NULL, NULL,
	      "t.yaml:6:37: error: clusters.main.monitoring.pgbadger.output: pgBadger's output "
	      "\"/srv/topo/data\" holds node \"pg1\"'s data_dir \"/srv/topo/data/pg1\": its "
	      "retention removes folders there\n"
	      "  hint: choose a folder of its own, e.g. reports/main\n");
	check("{pgbadger: {output: data/pg1/reports}}", NULL, NULL,
	      "t.yaml:6:37: error: clusters.main.monitoring.pgbadger.output: pgBadger's output "
	      "\"/srv/topo/data/pg1/reports\" is inside node \"pg1\"'s data_dir \"/srv/topo/data/pg1\"\n"
	      "  hint: choose a folder outside every data directory\n");
	/* A sibling whose name starts the same is neither. */
	check("{pgbadger: {output: data/pg1-reports}}", NULL, NULL, "");
}

static void test_pg_stat_statements_params(void **state)
{
	(void)state;
	check("{pg_stat_statements: true}",
	      "{pg_stat_statements.max: 20000, pg_stat_statements.track: ALL, "
	      "pg_stat_statements.track_utility: false, pg_stat_statements.save: on, "
	      "pg_stat_statements.track_planning: true}",
	      NULL, "");
	check("{pg_stat_statements: true}", "{pg_stat_statements.maxx: 20000}", NULL,
	      "t.yaml:6:16: error: clusters.main.settings.pg_stat_statements.maxx: unknown parameter "
	      "\"pg_stat_statements.maxx\" for postgresql 15\n"
	      "  hint: did you mean \"pg_stat_statements.max\"?\n");
	check("{pg_stat_statements: true}", "{pg_stat_statements.max: 10}", NULL,
	      "t.yaml:6:40: error: clusters.main.settings.pg_stat_statements.max: value 10 is out of "
	      "range: expected 100 to 1073741823\n");
	check("{pg_stat_statements: true}", "{pg_stat_statements.track: some}", NULL,
	      "t.yaml:6:42: error: clusters.main.settings.pg_stat_statements.track: invalid value "
	      "\"some\": expected one of none, top, all\n");
	/* Other modules' parameters stay placeholders PostgreSQL accepts. */
	check("{pg_stat_statements: true}", "{auto_explain.log_min_duration: 1s}", NULL, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_datadog_explain_role_reserved),
		cmocka_unit_test(test_pgbadger_defaults_valid),
		cmocka_unit_test(test_pgbadger_log_settings),
		cmocka_unit_test(test_pgbadger_prefix),
		cmocka_unit_test(test_pgbadger_schedule_and_output),
		cmocka_unit_test(test_pg_stat_statements_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
