/*
 * cmd/plan.c - `pgconverge plan`: observe the live servers and print the
 * ordered actions that would converge them on the topology.
 */
#include "cmd/cmd.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/converge.h"
#include "cmd/exitcodes.h"
#include "common/fsutil.h"

static const char *const plan_formats[] = {"text", "json", "markdown", NULL};

static const PgcOptionHelp plan_option_help[] = {
	{"output", "PLAN.json", "also save the plan as JSON, for 'pgconverge apply PLAN.json'"},
	{"offline", NULL, "plan without connecting to servers (for review in CI)"},
	{NULL, NULL, NULL},
};

const PgcCommandSpec plan_spec = {
	.usage = "plan " USAGE_SOURCE USAGE_NEWLINE
		 "[-o PLAN.json] [--format text|json|markdown] [--cluster NAME]" USAGE_NEWLINE
		 "[--offline] [--state-dir DIR] [--allow-rewind]",
	.description =
		"Loads and validates the topology, observes every node (all probed in parallel:\n"
		"running or not, role, timeline, settings, replication) and prints the ordered\n"
		"actions that would make the live servers match the file. Each action shows its\n"
		"reason, its changes (key: from -> to), its impact (none, reload, restart,\n"
		"switchover, rebuild) and what it depends on. Nothing is changed.\n"
		"\n"
		"With -o, the plan is also saved as JSON with the topology's digest and each\n"
		"node's observed fingerprint (system identifier, timeline, config digest):\n"
		"'pgconverge apply PLAN.json' carries out exactly that plan, and refuses it when\n"
		"the servers changed since. --format markdown suits a pull request comment.\n"
		"\n"
		"Restarts are shown blocked unless the cluster's maintenance policy allows them\n"
		"now; 'apply --allow-restart' lifts that. --offline (a plan without servers, from\n"
		"a diff of two topology revisions) is not implemented yet.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_ALLOW_REWIND | OPT_CLUSTER | OPT_FORMAT |
		   OPT_OUTPUT | OPT_OFFLINE,
	.formats = plan_formats,
	.option_help = plan_option_help,
	.exit_codes = "  0   no changes: the servers match the topology\n"
		      "  1   error\n"
		      "  2   changes are pending\n",
};

/* save_plan - the JSON plan, written atomically to path. */
static int save_plan(const PgcPlan *p, const char *path)
{
	json_t *j = plan_to_json(p);
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	bool changed;
	int rc;

	json_decref(j);
	if (text == NULL)
		return -1;
	rc = fs_write_atomic(path, text, strlen(text), 0644, FS_NO_UID, FS_NO_GID, &changed);
	free(text);
	return rc;
}

int cmd_plan(const PgcOptions *opts)
{
	PgcTopology *t;
	PgcObserved *obs = NULL;
	PgcPlan *p = NULL;
	int rc = EXIT_ERROR;

	if (opts->offline) {
		cmd_error("run 'pgconverge plan' on a host that reaches the servers",
			  "'plan --offline' is not implemented yet");
		return EXIT_ERROR;
	}
	t = converge_load(opts);
	if (t == NULL)
		return EXIT_ERROR;
	obs = converge_observe(opts, t);
	if (obs == NULL)
		goto cleanup;
	p = converge_plan(opts, t, obs, false, false);
	if (p == NULL)
		goto cleanup;
	converge_print_plan(opts, p);
	if (opts->output != NULL && save_plan(p, opts->output) != 0)
		goto cleanup;
	rc = p->n_actions == 0 ? EXIT_OK : EXIT_CHANGES;
cleanup:
	plan_free(p);
	observe_free(obs);
	topology_free(t);
	return rc;
}
