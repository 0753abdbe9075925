/*
 * tests/integration/observe_probe.c - prints observe_topology()'s JSON for
 * a topology file, so test_observe.sh checks the observe module through
 * the product code before the CLI shows it (`status --format json`).
 *
 *   observe_probe TOPOLOGY.yaml [CLUSTER]
 *   observe_probe --query CONNINFO TIMEOUT_MS SQL [PARAM...]
 *
 * The second form checks reconcile/pg/pgsql.c against a live server: it prints
 * "value VALUE" (first cell) or "error SQLSTATE timed_out=0|1 conn_bad=0|1:
 * MESSAGE", then "after ok" when the connection still runs SELECT 1.
 *
 * Exit: 0 printed, 1 the topology did not load or observe failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/log.h"
#include "reconcile/observe/observe.h"
#include "reconcile/pg/pgsql.h"
#include "schema/topology.h"

static int query_mode(int argc, char **argv)
{
	char err[512];
	PGconn *conn;
	PGresult *r = NULL;
	PgcPgError e;

	if (argc < 5) {
		fprintf(stderr, "usage: observe_probe --query CONNINFO TIMEOUT_MS SQL [PARAM...]\n");
		return 1;
	}
	conn = pgsql_connect(argv[2], 3, err, sizeof err);
	if (conn == NULL) {
		printf("connect failed: %s\n", err);
		return 1;
	}
	if (pgsql_query(conn, argv[4], argc - 5, (const char *const *)argv + 5, atoi(argv[3]), &r,
			&e) == 0)
		printf("value %s\n", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "(no rows)");
	else
		printf("error %s timed_out=%d conn_bad=%d: %s\n", e.sqlstate, e.timed_out, e.conn_bad,
		       e.message);
	PQclear(r);
	if (pgsql_query(conn, "SELECT 1", 0, NULL, 2000, NULL, &e) == 0)
		printf("after ok\n");
	else
		printf("after error %s: %s\n", e.sqlstate, e.message);
	PQfinish(conn);
	return 0;
}

int main(int argc, char **argv)
{
	PgcDiagList diags = {0};
	PgcLoadOptions lopts = {0};
	PgcObserveOptions oopts = {.connect_timeout_s = 3, .query_timeout_ms = 5000};
	PgcTopology *t;
	PgcObserved *o;
	json_t *j;
	int rc = 1;

	if (argc > 1 && strcmp(argv[1], "--query") == 0)
		return query_mode(argc, argv);
	if (argc < 2) {
		fprintf(stderr, "usage: observe_probe TOPOLOGY.yaml [CLUSTER]\n");
		return 1;
	}
	if (getenv("OBSERVE_PROBE_DEBUG") != NULL)
		log_set_level(LOG_DEBUG);
	oopts.only_cluster = argc > 2 ? argv[2] : NULL;
	t = topology_load_file(argv[1], &lopts, &diags);
	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		goto cleanup;
	}
	o = observe_topology(t, &oopts);
	if (o == NULL)
		goto cleanup;
	j = observe_to_json(o);
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
	json_decref(j);
	observe_free(o);
	rc = 0;

cleanup:
	topology_free(t);
	diag_free(&diags);
	return rc;
}
