/*
 * cmd/reconcile.c - `pgconverge reconcile`: plan and apply in a loop, for
 * drift repair and automatic failover.
 */
#include "cmd/cmd.h"

const PgcCommandSpec reconcile_spec = {
	.usage = "reconcile " USAGE_SOURCE USAGE_NEWLINE
		 "[--interval DURATION] [--once] [--cluster NAME]" USAGE_NEWLINE
		 "[--state-dir DIR] [--allow-rewind]",
	.description =
		"Runs plan and apply in a loop, every --interval, reading the topology afresh\n"
		"each pass: repairs drift and, with failover.mode auto, watches the primary\n"
		"every failover.probe_interval and promotes the best replica once the primary\n"
		"has been unreachable for failover.detect_after, fencing it first. Restarts and\n"
		"switchovers happen only as the topology's maintenance policy allows.\n"
		"\n"
		"Holds the state directory's lock while it runs and stops cleanly on SIGTERM or\n"
		"SIGINT after the current action. With --once, runs one pass and exits, for a\n"
		"systemd timer or cron.\n"
		"\n"
		"Not implemented yet.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_ALLOW_REWIND | OPT_CLUSTER | OPT_INTERVAL |
		   OPT_ONCE,
	.exit_codes = "  0   stopped by SIGTERM or SIGINT; with --once: converged\n"
		      "  1   error; with --once: an action failed\n"
		      "  3   with --once: some actions were blocked by policy\n"
		      "  4   another run holds the state directory's lock\n",
};

int cmd_reconcile(const PgcOptions *opts)
{
	return cmd_not_implemented(opts);
}
