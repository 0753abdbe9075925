/*
 * cmd/plan.c - `pgconverge plan`: observe the live servers and print the
 * ordered actions that would converge them on the topology.
 */
#include "cmd/cmd.h"

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
		"Not implemented yet.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_ALLOW_REWIND | OPT_CLUSTER | OPT_FORMAT |
		   OPT_OUTPUT | OPT_OFFLINE,
	.formats = plan_formats,
	.option_help = plan_option_help,
	.exit_codes = "  0   no changes: the servers match the topology\n"
		      "  1   error\n"
		      "  2   changes are pending\n",
};

int cmd_plan(const PgcOptions *opts)
{
	return cmd_not_implemented(opts);
}
