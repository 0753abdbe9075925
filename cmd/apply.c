/*
 * cmd/apply.c - `pgconverge apply`: carry out a plan, freshly made or saved
 * with `plan -o`, within the disruption policy.
 */
#include "cmd/cmd.h"

const PgcCommandSpec apply_spec = {
	.usage = "apply [-f FILE | --git REPO [--ref REF] [--path PATH]" USAGE_NEWLINE
		 " | PLAN.json] [--allow-restart] [--allow-switchover]" USAGE_NEWLINE
		 "[--cluster NAME] [--state-dir DIR] [--allow-rewind]",
	.description =
		"Plans as 'plan' does, or takes a plan saved with 'plan -o', and carries out its\n"
		"actions in order while holding the state directory's lock, recording each step\n"
		"in the journal. A run killed half way converges when run again.\n"
		"\n"
		"Disruption is explicit: an action that restarts a server needs the maintenance\n"
		"window open now (maintenance.restart) or --allow-restart; an action that moves\n"
		"the primary needs --allow-switchover. Blocked actions, and those that depend\n"
		"on them, are listed with the reason; the others are applied. Nothing deletes a\n"
		"data directory, or a backup outside the declared retention.\n"
		"\n"
		"A saved plan is refused when the servers no longer match the fingerprints it\n"
		"was made from: plan again.\n"
		"\n"
		"Not implemented yet.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_ALLOW_REWIND | OPT_CLUSTER | OPT_ALLOW_RESTART |
		   OPT_ALLOW_SWITCHOVER,
	.max_args = 1,
	.args_help = "  PLAN.json   a plan saved by 'pgconverge plan -o PLAN.json' (instead of -f)\n",
	.exit_codes = "  0   converged\n"
		      "  1   an action failed (the journal tells which), or another error\n"
		      "  3   some actions were blocked by policy\n"
		      "  4   another run holds the state directory's lock\n",
};

int cmd_apply(const PgcOptions *opts)
{
	return cmd_not_implemented(opts);
}
