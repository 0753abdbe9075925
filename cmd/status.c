/*
 * cmd/status.c - `pgconverge status`: the observed state of every node next
 * to the desired one.
 */
#include "cmd/cmd.h"

static const char *const status_formats[] = {"text", "json", "prometheus", NULL};

const PgcCommandSpec status_spec = {
	.usage = "status " USAGE_SOURCE USAGE_NEWLINE
		 "[--cluster NAME] [--format text|json|prometheus]" USAGE_NEWLINE
		 "[--state-dir DIR]",
	.description =
		"Observes every node and prints, per cluster and node: running or not, role,\n"
		"timeline, upstream, replication state and lag, slots, a pending restart, drift\n"
		"from the topology (settings, hba, roles, databases), the last backup and the\n"
		"last archived WAL, and the last apply recorded in the state directory. Nothing\n"
		"is changed. --format prometheus writes metrics in the text exposition format,\n"
		"e.g. for node_exporter's textfile collector.\n"
		"\n"
		"Not implemented yet.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_CLUSTER | OPT_FORMAT,
	.formats = status_formats,
	.exit_codes = "  0   the status was printed (down nodes and drift are in it)\n"
		      "  1   error\n",
};

int cmd_status(const PgcOptions *opts)
{
	return cmd_not_implemented(opts);
}
