/*
 * cmd/converge.c - loading, observing and planning for plan/apply/status.
 */
#include "cmd/converge.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reconcile/plan_offline.h"

PgcTopology *converge_load(const PgcOptions *opts)
{
	PgcDiagList diags = {0};
	PgcTopology *t = options_load_topology(opts, &diags);

	if (t != NULL && opts->cluster != NULL && topology_cluster(t, opts->cluster) == NULL) {
		PgcPos none = {0, 0};

		diag_error(&diags, opts->source_name, none, NULL, "see the clusters: section of the file",
			   "unknown cluster \"%s\"", opts->cluster);
	}
	diag_sort(&diags);
	diag_print(stderr, &diags, options_color(opts, stderr));
	if (diag_count(&diags, DIAG_ERROR) > 0) {
		topology_free(t);
		t = NULL;
	}
	diag_free(&diags);
	return t;
}

PgcObserved *converge_observe(const PgcOptions *opts, const PgcTopology *t)
{
	PgcObserveOptions o = {.connect_timeout_s = 3, .query_timeout_ms = 5000,
			       .only_cluster = opts->cluster};

	return observe_topology(t, &o);
}

PgcPlan *converge_plan(const PgcOptions *opts, const PgcTopology *t, const PgcObserved *obs,
		       bool allow_restart, bool allow_switchover)
{
	PgcPolicy policy = {.allow_restart = allow_restart, .allow_switchover = allow_switchover,
			    .now = time(NULL), .only_cluster = opts->cluster};
	PgcPlan *p = plan_build(t, obs, &policy);

	if (p == NULL)
		return NULL;
	/* File digest, or git repository, ref and commit: saved plans are bound to it. */
	plan_set_source(p, opts->source);
	return p;
}

void converge_print_plan(const PgcOptions *opts, const PgcPlan *p)
{
	if (options_format_is(opts, "json")) {
		json_t *j = plan_to_json(p);

		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
		json_decref(j);
	} else if (options_format_is(opts, "markdown")) {
		plan_print_markdown(stdout, p);
	} else {
		plan_print_text(stdout, p, options_color(opts, stdout));
	}
}
