/*
 * cmd/status.c - `pgconverge status`: the observed state of every node next
 * to the desired one.
 */
#include "cmd/cmd.h"

#include <string.h>
#include <time.h>

#include "cmd/converge.h"
#include "cmd/exitcodes.h"

static const char *const status_formats[] = {"text", "json", "prometheus", NULL};

const PgcCommandSpec status_spec = {
	.usage = "status " USAGE_SOURCE USAGE_NEWLINE
		 "[--cluster NAME] [--format text|json|prometheus]" USAGE_NEWLINE
		 "[--state-dir DIR]",
	.description =
		"Observes every node and prints, per cluster and node: running or not, role,\n"
		"timeline, upstream and replication state, pending restarts, and how many\n"
		"actions a plan would take to converge it (drift). Nothing is changed.\n"
		"--format json prints the whole observed model; --format prometheus writes\n"
		"metrics in the text exposition format, e.g. for node_exporter's textfile\n"
		"collector. The last applied source is shown too: the git commit (or the file's\n"
		"digest) 'apply' recorded in the state directory, and when. Backups are not\n"
		"shown yet.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_CLUSTER | OPT_FORMAT,
	.formats = status_formats,
	.exit_codes = "  0   the status was printed (down nodes and drift are in it)\n"
		      "  1   error\n",
};

static const char *role_of(const PgcObsNode *n)
{
	if (!n->reachable)
		return n->postmaster_alive ? "unreachable" : "down";
	return n->in_recovery ? "replica" : "primary";
}

static size_t node_pending(const PgcPlan *p, const char *cluster, const char *node)
{
	size_t i, n = 0;

	for (i = 0; i < p->n_actions; i++)
		if (p->actions[i].node != NULL && strcmp(p->actions[i].cluster, cluster) == 0 &&
		    strcmp(p->actions[i].node, node) == 0)
			n++;
	return n;
}

static bool node_pending_restart(const PgcObsNode *n)
{
	size_t i;

	for (i = 0; i < n->n_settings; i++)
		if (n->settings[i].pending_restart)
			return true;
	return false;
}

/* live_primary_lsn - the write position of the cluster's live primary, 0 unknown. */
static uint64_t live_primary_lsn(const PgcObsCluster *oc)
{
	size_t i;

	for (i = 0; i < oc->n_nodes; i++)
		if (oc->nodes[i].reachable && !oc->nodes[i].in_recovery)
			return lsn_parse(oc->nodes[i].current_lsn);
	return 0;
}

static void format_lag(const PgcObsNode *n, uint64_t primary_lsn, char *buf, size_t size)
{
	uint64_t replay = lsn_parse(n->replay_lsn);

	if (!n->reachable || !n->in_recovery || primary_lsn == 0 || replay == 0) {
		snprintf(buf, size, "-");
		return;
	}
	if (n->replay_delay_s >= 0)
		snprintf(buf, size, "%llu B, %.1f s",
			 (unsigned long long)(primary_lsn > replay ? primary_lsn - replay : 0),
			 n->replay_delay_s);
	else
		snprintf(buf, size, "%llu B",
			 (unsigned long long)(primary_lsn > replay ? primary_lsn - replay : 0));
}

static void format_conns(const PgcObsNode *n, char *buf, size_t size)
{
	const PgcObsSetting *max = obs_setting(n, "max_connections");

	if (n->connections < 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%d/%s", n->connections, max ? max->setting : "?");
}

static void print_text(const PgcTopology *t, const PgcObserved *o, const PgcPlan *p)
{
	size_t c, i;

	for (c = 0; c < o->n_clusters; c++) {
		const PgcObsCluster *oc = &o->clusters[c];
		const PgcCluster *tc = topology_cluster(t, oc->name);
		uint64_t plsn = live_primary_lsn(oc);

		printf("cluster %s (desired primary %s)\n", oc->name,
		       tc && tc->primary.v ? tc->primary.v : "-");
		printf("  %-10s %-11s %-3s %-6s %-12s %-16s %-10s %-20s %-8s %s\n", "NODE", "ROLE", "TL",
		       "PORT", "LSN", "UPSTREAM", "WAL RECV", "LAG", "CONNS", "DRIFT");
		for (i = 0; i < oc->n_nodes; i++) {
			const PgcObsNode *n = &oc->nodes[i];
			const PgcNode *tn = tc ? cluster_node(tc, n->name) : NULL;
			char up[64] = "-", tl[16] = "-", port[16] = "-", lag[64], conns[32];
			const char *lsn = n->in_recovery ? n->replay_lsn : n->current_lsn;
			size_t pending = node_pending(p, oc->name, n->name);

			if (n->upstream_host != NULL)
				snprintf(up, sizeof(up), "%s:%d", n->upstream_host, n->upstream_port);
			if (n->timeline > 0)
				snprintf(tl, sizeof(tl), "%u", n->timeline);
			if (tn != NULL)
				snprintf(port, sizeof(port), "%lld", tn->port.v);
			format_lag(n, plsn, lag, sizeof(lag));
			format_conns(n, conns, sizeof(conns));
			printf("  %-10s %-11s %-3s %-6s %-12s %-16s %-10s %-20s %-8s %s%s\n", n->name,
			       role_of(n), tl, port, lsn && n->reachable ? lsn : "-", up,
			       n->wal_receiver_status ? n->wal_receiver_status : "-", lag, conns,
			       pending == 0 ? "in sync" : "",
			       node_pending_restart(n) ? " (restart pending)" : "");
			if (pending > 0)
				printf("  %-10s %zu action%s pending: see 'pgconverge plan'\n", "", pending,
				       pending == 1 ? "" : "s");
			if (!n->reachable && n->conn_error != NULL)
				printf("  %-10s %s\n", "", n->conn_error);
		}
	}
}

static void print_prometheus(const PgcObserved *o, const PgcPlan *p)
{
	size_t c, i;

	printf("# HELP pgconverge_node_up 1 when pgconverge could connect to the node\n");
	printf("# TYPE pgconverge_node_up gauge\n");
	for (c = 0; c < o->n_clusters; c++)
		for (i = 0; i < o->clusters[c].n_nodes; i++)
			printf("pgconverge_node_up{cluster=\"%s\",node=\"%s\"} %d\n", o->clusters[c].name,
			       o->clusters[c].nodes[i].name, o->clusters[c].nodes[i].reachable ? 1 : 0);
	printf("# HELP pgconverge_node_in_recovery 1 for a replica, 0 for a primary\n");
	printf("# TYPE pgconverge_node_in_recovery gauge\n");
	for (c = 0; c < o->n_clusters; c++)
		for (i = 0; i < o->clusters[c].n_nodes; i++)
			if (o->clusters[c].nodes[i].reachable)
				printf("pgconverge_node_in_recovery{cluster=\"%s\",node=\"%s\"} %d\n",
				       o->clusters[c].name, o->clusters[c].nodes[i].name,
				       o->clusters[c].nodes[i].in_recovery ? 1 : 0);
	printf("# HELP pgconverge_node_timeline the node's timeline from pg_control\n");
	printf("# TYPE pgconverge_node_timeline gauge\n");
	for (c = 0; c < o->n_clusters; c++)
		for (i = 0; i < o->clusters[c].n_nodes; i++)
			if (o->clusters[c].nodes[i].timeline > 0)
				printf("pgconverge_node_timeline{cluster=\"%s\",node=\"%s\"} %u\n",
				       o->clusters[c].name, o->clusters[c].nodes[i].name,
				       o->clusters[c].nodes[i].timeline);
	printf("# HELP pgconverge_node_pending_actions actions a plan would take on the node\n");
	printf("# TYPE pgconverge_node_pending_actions gauge\n");
	for (c = 0; c < o->n_clusters; c++)
		for (i = 0; i < o->clusters[c].n_nodes; i++)
			printf("pgconverge_node_pending_actions{cluster=\"%s\",node=\"%s\"} %zu\n",
			       o->clusters[c].name, o->clusters[c].nodes[i].name,
			       node_pending(p, o->clusters[c].name, o->clusters[c].nodes[i].name));
	printf("# HELP pgconverge_plan_blocked_actions actions blocked by policy\n");
	printf("# TYPE pgconverge_plan_blocked_actions gauge\n");
	printf("pgconverge_plan_blocked_actions %zu\n", plan_count_blocked(p));
}

/* ---- the last applied source (issue 4) ---- */

typedef struct {
	PgcSource src;
	time_t at;
	bool converged;
	bool known;
} LastApplied;

static void last_applied_read(const PgcOptions *opts, LastApplied *la)
{
	memset(la, 0, sizeof(*la));
	la->known = source_applied_read(opts->state_dir, &la->src, &la->at, &la->converged) == 0;
}

static void last_applied_text(const LastApplied *la)
{
	char at[32];

	if (!la->known) {
		printf("last applied: nothing recorded in this state directory\n\n");
		return;
	}
	source_format_time(la->at, at, sizeof at);
	if (la->src.commit != NULL)
		printf("last applied: commit %.12s (ref %s, %s) at %s%s\n\n", la->src.commit,
		       la->src.ref ? la->src.ref : "?", la->src.path ? la->src.path : "?", at,
		       la->converged ? "" : ", some actions held back by policy");
	else
		printf("last applied: %s (%s) at %s%s\n\n", la->src.path ? la->src.path : "?",
		       la->src.digest ? la->src.digest : "no digest", at,
		       la->converged ? "" : ", some actions held back by policy");
}

static json_t *last_applied_json(const LastApplied *la)
{
	char at[32];
	json_t *o;

	if (!la->known)
		return json_null();
	o = json_object();
	json_object_set_new(o, "kind", json_string(la->src.kind));
#define SET(k, v) json_object_set_new(o, k, (v) ? json_string(v) : json_null())
	SET("repository", la->src.repository);
	SET("ref", la->src.ref);
	SET("commit", la->src.commit);
	SET("path", la->src.path);
	SET("digest", la->src.digest);
	SET("applied_at", source_format_time(la->at, at, sizeof at));
#undef SET
	json_object_set_new(o, "converged", json_boolean(la->converged));
	return o;
}

static void last_applied_prometheus(const LastApplied *la)
{
	if (!la->known)
		return;
	printf("# HELP pgconverge_last_applied_timestamp_seconds when apply last ran to the end\n");
	printf("# TYPE pgconverge_last_applied_timestamp_seconds gauge\n");
	if (la->src.commit != NULL)
		printf("pgconverge_last_applied_timestamp_seconds{commit=\"%.40s\"} %lld\n",
		       la->src.commit, (long long)la->at);
	else
		printf("pgconverge_last_applied_timestamp_seconds %lld\n", (long long)la->at);
}

/* ---- */

int cmd_status(const PgcOptions *opts)
{
	LastApplied la;
	PgcTopology *t;
	PgcObserved *obs = NULL;
	PgcPlan *p = NULL;
	int rc = EXIT_ERROR;

	t = converge_load(opts);
	if (t == NULL)
		return EXIT_ERROR;
	obs = converge_observe(opts, t);
	if (obs == NULL)
		goto cleanup;
	p = converge_plan(opts, t, obs, false, false);
	if (p == NULL)
		goto cleanup;
	last_applied_read(opts, &la);
	if (options_format_is(opts, "json")) {
		json_t *j = observe_to_json(obs);

		json_object_set_new(j, "last_applied", last_applied_json(&la));
		json_object_set_new(j, "pending_actions", json_integer((json_int_t)p->n_actions));
		json_object_set_new(j, "blocked_actions", json_integer((json_int_t)plan_count_blocked(p)));
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
		json_decref(j);
	} else if (options_format_is(opts, "prometheus")) {
		print_prometheus(obs, p);
		last_applied_prometheus(&la);
	} else {
		last_applied_text(&la);
		print_text(t, obs, p);
	}
	source_reset(&la.src);
	rc = EXIT_OK;
cleanup:
	plan_free(p);
	observe_free(obs);
	topology_free(t);
	return rc;
}
