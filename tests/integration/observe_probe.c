/*
 * tests/integration/observe_probe.c - prints observe_topology()'s JSON for
 * a topology file, so test_observe.sh checks the observe module through
 * the product code before the CLI shows it (`status --format json`).
 *
 *   observe_probe TOPOLOGY.yaml [CLUSTER]
 *
 * Exit: 0 printed, 1 the topology did not load or observe failed.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/diag.h"
#include "common/log.h"
#include "reconcile/observe.h"
#include "schema/topology.h"

int main(int argc, char **argv)
{
	PgcDiagList diags = {0};
	PgcLoadOptions lopts = {0};
	PgcObserveOptions oopts = {.connect_timeout_s = 3, .query_timeout_ms = 5000};
	PgcTopology *t;
	PgcObserved *o;
	json_t *j;
	int rc = 1;

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
