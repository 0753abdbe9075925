/*
 * cmd/graph.c - `pgconverge graph`: the topology as a Graphviz DOT graph.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/converge.h"
#include "cmd/exitcodes.h"
#include "common/fsutil.h"
#include "reconcile/observe/graph.h"

static const PgcOptionHelp graph_option_help[] = {
	{"output", NULL, "write the graph to FILE instead of stdout"},
	{"live", NULL, "observe the nodes and draw them by state (connects to servers)"},
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
		"A replica is lagging when it does not stream, or replays more than\n"
		"failover.max_lag (16MB when not set) behind the live primary. Nothing is\n"
		"changed; without --live no PostgreSQL server is contacted. -o replaces FILE\n"
		"atomically.\n"
		"\n"
		"  pgconverge graph -f pgconverge.yaml | dot -Tsvg > topology.svg\n"
		"  pgconverge graph -f pgconverge.yaml --live -o topology.dot\n",
	.options = OPT_SOURCE | OPT_CLUSTER | OPT_LIVE | OPT_OUTPUT,
	.option_help = graph_option_help,
	.exit_codes = "  0   the graph was written (down nodes are in it)\n"
		      "  1   error: the topology does not load, or the graph cannot be written\n",
};

/* write_file - the graph rendered in memory, then written atomically to path. */
static int write_file(const PgcTopology *t, const PgcOptions *opts, const PgcObserved *obs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	int rc;

	if (mem == NULL)
		abort(); /* out of memory, as arena.h does */
	rc = graph_render(mem, t, opts->cluster, obs);
	if (fclose(mem) != 0 || rc != 0) {
		cmd_error(NULL, "could not render the graph: %s", strerror(errno));
		free(buf);
		return -1;
	}
	/* fs_write_atomic reports its own failure. */
	rc = fs_write_atomic(opts->output, buf, len, 0644, FS_NO_UID, FS_NO_GID, NULL);
	free(buf);
	return rc;
}

int cmd_graph(const PgcOptions *opts)
{
	PgcTopology *t;
	PgcObserved *obs = NULL;
	int rc = EXIT_ERROR;

	t = converge_load(opts);
	if (t == NULL)
		return EXIT_ERROR;
	if (opts->live) {
		obs = converge_observe(opts, t);
		if (obs == NULL)
			goto cleanup;
	}
	if (opts->output != NULL) {
		if (write_file(t, opts, obs) != 0)
			goto cleanup;
	} else if (graph_render(stdout, t, opts->cluster, obs) != 0) {
		goto cleanup; /* main's finish() reports a stdout that cannot be written */
	}
	rc = EXIT_OK;
cleanup:
	observe_free(obs);
	topology_free(t);
	return rc;
}
