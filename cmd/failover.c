/*
 * cmd/failover.c - `pgconverge failover`: a manual promotion, with the same
 * fencing and checks as automatic failover.
 */
#include "cmd/cmd.h"

static const PgcOptionHelp failover_option_help[] = {
	{"to", NULL, "promote NODE (default: the best candidate, see above)"},
	{NULL, NULL, NULL},
};

const PgcCommandSpec failover_spec = {
	.usage = "failover " USAGE_SOURCE USAGE_NEWLINE
		 "--cluster NAME [--to NODE] [--state-dir DIR]",
	.description =
		"Promotes a replica now, with the checks and fencing of automatic failover: the\n"
		"old primary is fenced first (stopped when reachable, failover.fence_command\n"
		"otherwise); the candidate must be within failover.max_lag of the last known\n"
		"primary position; then it is promoted, the other replicas follow it, and the\n"
		"old primary is rejoined with pg_rewind when it comes back. Without --to, the\n"
		"candidate is the replica that received the most WAL, preferring\n"
		"failover.prefer_region.\n"
		"\n"
		"To move the primary while it is healthy, change 'primary:' in the topology and\n"
		"apply with --allow-switchover instead: a switchover loses no transaction.\n"
		"\n"
		"Not implemented yet.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_CLUSTER | OPT_CLUSTER_REQUIRED | OPT_TO,
	.option_help = failover_option_help,
	.exit_codes = "  0   promoted\n"
		      "  1   refused (the reason is printed) or failed\n"
		      "  4   another run holds the state directory's lock\n",
};

int cmd_failover(const PgcOptions *opts)
{
	return cmd_not_implemented(opts);
}
