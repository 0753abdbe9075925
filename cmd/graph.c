/*
 * cmd/graph.c - `pgconverge graph`: the topology as a Graphviz DOT graph.
 */
#include "cmd/cmd.h"

static const PgcOptionHelp graph_option_help[] = {
	{"output", NULL, "write the graph to FILE instead of stdout"},
	{NULL, NULL, NULL},
};

const PgcCommandSpec graph_spec = {
	.usage = "graph " USAGE_SOURCE USAGE_NEWLINE "[--cluster NAME] [--live] [-o FILE]",
	.description =
		"Prints the topology as a Graphviz DOT graph: one box per cluster, its nodes\n"
		"grouped by region, an edge for each replication stream (cascading replicas\n"
		"from their upstream, synchronous standbys marked), the pooler and balancer in\n"
		"front and the backup repository. With --live the nodes are observed and drawn\n"
		"by state: running, down, lagging, or in a role other than the desired one.\n"
		"\n"
		"  pgconverge graph -f pgconverge.yaml | dot -Tsvg > topology.svg\n"
		"\n"
		"Not implemented yet.\n",
	.options = OPT_SOURCE | OPT_CLUSTER | OPT_LIVE | OPT_OUTPUT,
	.option_help = graph_option_help,
	.exit_codes = "  0   the graph was written\n"
		      "  1   error\n",
};

int cmd_graph(const PgcOptions *opts)
{
	return cmd_not_implemented(opts);
}
