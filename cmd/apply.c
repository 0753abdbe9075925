/*
 * cmd/apply.c - `pgconverge apply`: carry out a plan, freshly made or saved
 * with `plan -o`, within the disruption policy.
 */
#include "cmd/cmd.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/converge.h"
#include "cmd/exitcodes.h"
#include "common/lock.h"

const PgcCommandSpec apply_spec = {
	.usage = "apply [-f FILE | --git REPO [--ref REF] [--path PATH]" USAGE_NEWLINE
		 " | PLAN.json] [--allow-restart] [--allow-switchover]" USAGE_NEWLINE
		 "[--cluster NAME] [--state-dir DIR] [--allow-rewind]" USAGE_NEWLINE
		 "[--require-signed [--allowed-signers FILE]]" USAGE_NEWLINE
		 "[--wait-lock DURATION] [--jobs N]",
	.description =
		"Plans as 'plan' does, or takes a plan saved with 'plan -o', and carries out its\n"
		"actions in order while holding the state directory's lock, recording each step\n"
		"in the journal. A run killed half way converges when run again.\n"
		"\n"
		"Actions that do not wait for one another run at the same time (--jobs, default\n"
		"4): the replicas of a new cluster are cloned and started side by side. An\n"
		"upstream's restart or reload still waits for its replicas, a replica for its\n"
		"upstream, restarts roll one at a time, and a switchover, rejoin, restore or\n"
		"backup runs alone. The first failure stops the run: nothing starts after it,\n"
		"what already runs finishes.\n"
		"\n"
		"Disruption is explicit: an action that restarts a server needs the maintenance\n"
		"window open now (maintenance.restart) or --allow-restart; an action that moves\n"
		"the primary needs --allow-switchover. Blocked actions, and those that depend\n"
		"on them, are listed with the reason; the others are applied. Nothing deletes a\n"
		"data directory, or a backup outside the declared retention.\n"
		"\n"
		"The primary is the node the servers say accepts writes: after a failover the\n"
		"plan follows it. When 'primary:' names another node, a switchover to it is\n"
		"planned (it streams and is caught up; fast shutdown of the primary; the\n"
		"target replays its shutdown checkpoint and is promoted; the old primary\n"
		"follows it), with --allow-switchover, or with failover.failback: auto inside\n"
		"the maintenance policy; allowed, it is the only action of its cluster in that\n"
		"pass. An old primary back on an older timeline is stopped at once and\n"
		"rejoined with pg_rewind; two primaries on one timeline (a split brain) block\n"
		"the cluster's plan. Swapping standby_of between two clusters is a region\n"
		"switch (one region-switch action, the same policy as a switchover): the\n"
		"source's primary stops cleanly, the standby leader replays its shutdown\n"
		"checkpoint and is promoted, the old primary follows it without a copy.\n"
		"Removing standby_of from a standby cluster (not a swap) detaches it, with the\n"
		"same policy: its leader is promoted where its replay stands and the cluster\n"
		"takes writes apart from its source, which keeps running.\n"
		"\n"
		"A saved plan is refused when the servers no longer match the fingerprints it\n"
		"was made from, or when its actions are not exactly those planned now (same\n"
		"actions, order, impact, phase, dependencies, changes and payload): plan again.\n"
		"With a saved plan, -f names the topology it was made from (its digest must\n"
		"match). It is planned again over the cluster it was made for (plan --cluster,\n"
		"saved in it; every cluster when it has none): --cluster is then not needed, and\n"
		"one that names another cluster, or any with a plan of every cluster, is refused.\n"
		"\n"
		"After applying, apply observes again and plans again (up to 5 passes) until\n"
		"nothing is left but blocked actions: exit 0 means the servers match the file.\n"
		"\n"
		"With --git, the source (repository, ref, commit, path) goes to the journal and,\n"
		"after a run that converged or was only held back by policy, to\n"
		"STATE_DIR/applied.json. A commit that does not descend from the last applied\n"
		"one (a force-push, a reset branch, a stale ref) is refused: it would roll the\n"
		"clusters back; --allow-rewind applies it anyway. --require-signed applies only\n"
		"commits with an ssh signature from the allowed signers file. A plan made with\n"
		"'plan --offline' is refused: it was not made from the servers.\n"
		"\n"
		"When another run (apply, reconcile) holds the state directory's lock, apply\n"
		"exits 4 at once, or with --wait-lock waits that long for it.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_ALLOW_REWIND | OPT_CLUSTER | OPT_ALLOW_RESTART |
		   OPT_ALLOW_SWITCHOVER | OPT_WAIT_LOCK | OPT_JOBS | OPT_AS,
	.max_args = 1,
	.args_help = "  PLAN.json   a plan saved by 'pgconverge plan -o PLAN.json' (instead of -f)\n",
	.exit_codes = "  0   converged (with coordination: only other hosts' actions are left)\n"
		      "  1   an action failed (the journal tells which), or another error\n"
		      "  3   some actions were blocked by policy\n"
		      "  4   another run holds the state directory's lock\n",
};

static PgcPlan *read_saved_plan(const char *path)
{
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr);
	char err[256];
	PgcPlan *p;

	if (j == NULL) {
		cmd_error("give a file written by 'pgconverge plan -o'", "cannot read plan \"%s\": %s (line %d)",
			  path, jerr.text, jerr.line);
		return NULL;
	}
	p = plan_from_json(j, err, sizeof(err));
	json_decref(j);
	if (p == NULL)
		cmd_error("give a file written by 'pgconverge plan -o'", "invalid plan \"%s\": %s", path, err);
	return p;
}

/*
 * scope_saved_plan - the options to apply saved with, in *scoped: a saved
 * plan is planned again over the clusters it was made for (its "cluster",
 * all when it has none), whatever --cluster says. A --cluster that names
 * another scope is refused rather than compared to a plan of other clusters.
 */
static int scope_saved_plan(const PgcOptions *opts, const PgcPlan *saved, const char *path,
			    PgcOptions *scoped)
{
	/* cmd_error escapes the names: the plan file is not trusted. */
	if (opts->cluster != NULL && saved->cluster == NULL) {
		cmd_error("apply it without --cluster, or run 'pgconverge plan --cluster NAME -o "
			  "PLAN.json' for one cluster",
			  "plan \"%s\" was made for all clusters, not --cluster \"%s\"", path,
			  opts->cluster);
		return -1;
	}
	if (opts->cluster != NULL && strcmp(opts->cluster, saved->cluster) != 0) {
		cmd_error("apply it without --cluster (its clusters are its own), or plan again with "
			  "--cluster NAME",
			  "plan \"%s\" was made for --cluster \"%s\", not \"%s\"", path,
			  saved->cluster, opts->cluster);
		return -1;
	}
	*scoped = *opts;
	scoped->cluster = saved->cluster;
	return 0;
}

int cmd_apply(const PgcOptions *opts)
{
	PgcTopology *t = NULL;
	PgcPlan *saved = NULL;
	PgcLock lock = {.fd = -1, .path = NULL};
	PgcConvergeRun run = {.allow_restart = opts->allow_restart,
			      .allow_switchover = opts->allow_switchover,
			      .print = true};
	PgcConvergeResult res = {0};
	PgcOptions scoped;
	int rc = EXIT_ERROR;

	if (opts->n_args == 1 && (saved = read_saved_plan(opts->args[0])) == NULL)
		return EXIT_ERROR;
	if (saved != NULL && saved->offline) {
		cmd_error("run 'pgconverge plan -o PLAN.json' without --offline on a host that reaches "
			  "the servers",
			  "plan \"%s\" was made with --offline, not from the servers: it cannot be applied",
			  opts->args[0]);
		plan_free(saved);
		return EXIT_ERROR;
	}
	if (saved != NULL && scope_saved_plan(opts, saved, opts->args[0], &scoped) != 0) {
		plan_free(saved);
		return EXIT_ERROR;
	}
	if (saved != NULL)
		opts = &scoped;
	t = converge_load(opts);
	if (t == NULL)
		goto cleanup;
	if (converge_lock(opts, options_wait_lock_ms(opts), &lock, &rc) != 0)
		goto cleanup;
	run.saved = saved;
	run.saved_name = saved != NULL ? opts->args[0] : NULL;
	rc = converge_run(opts, t, &run, &res);
cleanup:
	lock_release(&lock);
	converge_result_free(&res);
	plan_free(saved);
	topology_free(t);
	return rc;
}
