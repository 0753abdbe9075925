/*
 * reconcile/engine/apply.h - executes a plan in its order; actions that do not
 * wait for one another (reconcile/engine/apply_order.h) run at the same time.
 *
 * Each action is idempotent (it checks before it acts) so a run killed half
 * way converges when run again. Every action's start and end go to the
 * journal (STATE_DIR/journal.jsonl, one JSON object per line, fsynced).
 * Blocked actions are skipped, and so is every action that depends on a
 * skipped one. Actions another host carries out (delegated ones, and those
 * opts->mine disowns) are skipped as done elsewhere, and so are the
 * actions that wait for them: the next pass plans them again. The first failed action stops the run: no action starts
 * after it (those already running finish), the others are reported as not
 * run, and the next run plans afresh.
 */
#ifndef PGC_RECONCILE_ENGINE_APPLY_H
#define PGC_RECONCILE_ENGINE_APPLY_H

#include <signal.h>
#include <stdbool.h>

#include "reconcile/engine/plan.h"
#include "schema/topology.h"

/* Independent actions (two replicas' clones) run side by side, this many at most. */
#define APPLY_DEFAULT_JOBS 4

typedef struct {
	const char *state_dir;    /* journal lives here; created when missing */
	int action_timeout_s;     /* per external program; default 600 */
	int ready_timeout_s;      /* wait for a started server to accept connections; default 60 */
	int jobs;                 /* actions run at the same time at most; 0: APPLY_DEFAULT_JOBS */
	/* Set (non-zero) by a signal handler: no action starts after it; those
	 * running finish. NULL: never stop. */
	volatile sig_atomic_t *stop;
	/*
	 * Whether this run carries a out (an agent: the action runs on its host,
	 * or it is the cluster's leader); false: another host does, so a is not
	 * run, nor is what depends on it (PgcApplyResult.skipped_elsewhere).
	 * NULL: every action is ours. Called from the scheduler's thread only.
	 */
	bool (*mine)(const PgcAction *a, void *arg);
	void *mine_arg;
} PgcApplyOptions;

typedef struct {
	size_t done;
	size_t failed;
	size_t skipped_blocked;   /* blocked by policy */
	size_t skipped_dependency;/* not run: something it depends on, or an earlier action, failed */
	size_t skipped_stopped;   /* not run: *opts->stop was set */
	/* not run: another host carries it out (delegated, or not opts->mine), or
	 * it depends on such an action. Neither a failure nor blocked. */
	size_t skipped_elsewhere;
	bool stopped;             /* *opts->stop was set before the last action */
	char error[1024];         /* the failed action's error, one line; "" when none failed */
} PgcApplyResult;

/*
 * apply_plan - runs the plan's unblocked actions. Returns 0 when every
 * action it ran succeeded (blocked ones may remain: see res), -1 when one
 * failed (reported where it failed, with the program's output or SQLSTATE).
 * A stop request is not a failure: 0, with res->stopped and the actions
 * left journaled as skipped.
 */
int apply_plan(const PgcTopology *t, const PgcPlan *p, const PgcApplyOptions *opts,
	       PgcApplyResult *res);

#endif
