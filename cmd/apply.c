/*
 * cmd/apply.c - `pgconverge apply`: carry out a plan, freshly made or saved
 * with `plan -o`, within the disruption policy.
 */
#include "cmd/cmd.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/converge.h"
#include "cmd/exitcodes.h"
#include "common/lock.h"
#include "reconcile/apply.h"
#include "reconcile/journal.h"
#include "schema/source.h"

const PgcCommandSpec apply_spec = {
	.usage = "apply [-f FILE | --git REPO [--ref REF] [--path PATH]" USAGE_NEWLINE
		 " | PLAN.json] [--allow-restart] [--allow-switchover]" USAGE_NEWLINE
		 "[--cluster NAME] [--state-dir DIR] [--allow-rewind]" USAGE_NEWLINE
		 "[--require-signed [--allowed-signers FILE]]",
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
		"was made from: plan again. With a saved plan, -f names the topology it was\n"
		"made from (its digest must match).\n"
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
		"'plan --offline' is refused: it was not made from the servers.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_ALLOW_REWIND | OPT_CLUSTER | OPT_ALLOW_RESTART |
		   OPT_ALLOW_SWITCHOVER,
	.max_args = 1,
	.args_help = "  PLAN.json   a plan saved by 'pgconverge plan -o PLAN.json' (instead of -f)\n",
	.exit_codes = "  0   converged\n"
		      "  1   an action failed (the journal tells which), or another error\n"
		      "  3   some actions were blocked by policy\n"
		      "  4   another run holds the state directory's lock\n",
};

#define APPLY_MAX_PASSES 5

static size_t count_runnable(const PgcPlan *p)
{
	return p->n_actions - plan_count_blocked(p);
}

/*
 * finish - the exit code from the last plan: converged, blocked, or
 * failed to converge (actions left that should have run).
 */
static int finish(const PgcPlan *p)
{
	if (p->n_actions == 0) {
		printf("converged: the live state matches the topology\n");
		return EXIT_OK;
	}
	if (count_runnable(p) == 0) {
		printf("%zu action%s blocked by policy; everything else is converged\n", p->n_actions,
		       p->n_actions == 1 ? "" : "s");
		return EXIT_BLOCKED;
	}
	log_error("not converged after %d passes: %zu actions remain", APPLY_MAX_PASSES,
		  count_runnable(p));
	return EXIT_ERROR;
}

static int apply_one_plan(const PgcOptions *opts, const PgcTopology *t, const PgcPlan *p)
{
	PgcApplyOptions ao = {.state_dir = opts->state_dir, .action_timeout_s = 600,
			      .ready_timeout_s = 60};
	PgcApplyResult res = {0};

	if (apply_plan(t, p, &ao, &res) != 0) {
		log_error("apply stopped at the first failure: %zu done, %zu failed, %zu blocked, %zu not "
			  "run",
			  res.done, res.failed, res.skipped_blocked, res.skipped_dependency);
		return -1;
	}
	log_info("%zu action%s done", res.done, res.done == 1 ? "" : "s");
	return 0;
}

/* check_saved_plan - the saved plan still describes this topology and these servers. */
static int check_saved_plan(const PgcPlan *saved, const PgcPlan *now)
{
	size_t i, j;

	if (saved->source_digest != NULL && now->source_digest != NULL &&
	    strcmp(saved->source_digest, now->source_digest) != 0) {
		cmd_error("run 'pgconverge plan -o PLAN.json' again",
			  "the topology file changed since the plan was saved");
		return -1;
	}
	for (i = 0; i < saved->n_fp; i++) {
		for (j = 0; j < now->n_fp; j++)
			if (strcmp(saved->fp_nodes[i], now->fp_nodes[j]) == 0)
				break;
		if (j == now->n_fp || strcmp(saved->fp_values[i], now->fp_values[j]) != 0) {
			cmd_error("run 'pgconverge plan -o PLAN.json' again",
				  "node \"%s\" changed since the plan was saved", saved->fp_nodes[i]);
			return -1;
		}
	}
	return 0;
}

/* unblock - a saved plan's policy blocks lifted by this run's flags. */
static void unblock(const PgcOptions *opts, PgcPlan *p)
{
	size_t i;

	for (i = 0; i < p->n_actions; i++) {
		PgcAction *a = &p->actions[i];

		if (!a->blocked || a->blocked_reason == NULL)
			continue;
		if ((opts->allow_restart && strstr(a->blocked_reason, "--allow-restart") != NULL) ||
		    (opts->allow_switchover && strstr(a->blocked_reason, "--allow-switchover") != NULL)) {
			a->blocked = false;
			a->blocked_reason = NULL;
		}
	}
}

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
 * begin_source - (git sources, issue 4) before any action: refuse a commit
 * that does not descend from the last applied one, and journal the source.
 */
static int begin_source(const PgcOptions *opts)
{
	PgcJournal *j;
	int rc;

	if (source_check_rewind(opts->state_dir, opts->source, opts->allow_rewind) != 0)
		return -1;
	j = journal_open(opts->state_dir);
	if (j == NULL)
		return -1;
	rc = journal_source(j, opts->source);
	journal_close(j);
	return rc;
}

int cmd_apply(const PgcOptions *opts)
{
	PgcTopology *t = NULL;
	PgcObserved *obs = NULL;
	PgcPlan *p = NULL, *saved = NULL;
	PgcLock lock = {.fd = -1, .path = NULL};
	int rc = EXIT_ERROR, pass;

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
	t = converge_load(opts);
	if (t == NULL)
		goto cleanup;
	switch (lock_acquire(opts->state_dir, 0, &lock)) {
	case 0:
		break;
	case 1:
		rc = EXIT_LOCKED;
		goto cleanup;
	default:
		goto cleanup;
	}
	if (begin_source(opts) != 0) /* git source: no rollback (issue 4) */
		goto cleanup;
	for (pass = 1; pass <= APPLY_MAX_PASSES; pass++) {
		obs = converge_observe(opts, t);
		if (obs == NULL)
			goto cleanup;
		p = converge_plan(opts, t, obs, opts->allow_restart, opts->allow_switchover);
		if (p == NULL)
			goto cleanup;
		if (pass == 1 && saved != NULL) {
			/* Exactly the saved plan, once; later passes only confirm. */
			if (check_saved_plan(saved, p) != 0)
				goto cleanup;
			unblock(opts, saved);
			plan_print_text(stdout, saved, options_color(opts, stdout));
			if (count_runnable(saved) > 0 && apply_one_plan(opts, t, saved) != 0)
				goto cleanup;
		} else {
			if (count_runnable(p) == 0)
				break;
			if (pass > 1)
				log_info("pass %d: the servers moved on; %zu more action%s", pass,
					 count_runnable(p), count_runnable(p) == 1 ? "" : "s");
			plan_print_text(stdout, p, options_color(opts, stdout));
			if (apply_one_plan(opts, t, p) != 0)
				goto cleanup;
		}
		plan_free(p);
		p = NULL;
		observe_free(obs);
		obs = NULL;
		if (saved != NULL)
			break;
	}
	if (p == NULL) {
		obs = converge_observe(opts, t);
		if (obs == NULL)
			goto cleanup;
		p = converge_plan(opts, t, obs, opts->allow_restart, opts->allow_switchover);
		if (p == NULL)
			goto cleanup;
	}
	rc = finish(p);
	/* git source (issue 4): what was applied, for the next rewind check and status. */
	if ((rc == EXIT_OK || rc == EXIT_BLOCKED) &&
	    source_applied_write(opts->state_dir, opts->source, time(NULL), rc == EXIT_OK) != 0)
		rc = EXIT_ERROR;
cleanup:
	lock_release(&lock);
	plan_free(p);
	plan_free(saved);
	observe_free(obs);
	topology_free(t);
	return rc;
}
