/*
 * cmd/converge.h - what plan, apply, status and reconcile share: load the
 * topology, observe, build a plan and fill its source information, and
 * apply's passes (converge_run), which reconcile repeats.
 */
#ifndef PGC_CMD_CONVERGE_H
#define PGC_CMD_CONVERGE_H

#include <signal.h>

#include "cmd/cmd.h"
#include "common/lock.h"
#include "reconcile/observe/observe.h"
#include "reconcile/engine/plan.h"
#include "reconcile/planner.h"

/*
 * converge_load - loads and validates the topology named by opts, printing
 * the diagnostics; NULL when it has errors (the caller exits 1). For the
 * commands that take --as (not plan --offline), it then chooses which
 * host this machine acts for (converge_choose_self); NULL when it cannot.
 */
PgcTopology *converge_load(const PgcOptions *opts);

/*
 * converge_choose_self - which host of t this machine is the agent of,
 * given to host_set_self() before anything is observed: --as HOST when
 * given; else, when t has coordination.etcd, the one host among the nodes'
 * that is an address of this machine. Several (every 127.0.0.x of a demo
 * on one machine) or none is an error (printed, or logged when to_log;
 * copied into err): --as must say. Without coordination and --as, nothing
 * changes (every address of this machine is local). 0, or -1.
 */
int converge_choose_self(const PgcOptions *opts, const PgcTopology *t, bool to_log, char *err,
			 size_t errlen);

/* converge_observe - observes the clusters opts selects; NULL on internal error. */
PgcObserved *converge_observe(const PgcOptions *opts, const PgcTopology *t);

/* converge_plan - plan_build with the policy from opts, source info filled. */
PgcPlan *converge_plan(const PgcOptions *opts, const PgcTopology *t, const PgcObserved *obs,
		       bool allow_restart, bool allow_switchover);

/*
 * converge_look - loads (converge_load), observes and plans without
 * restarts or switchovers allowed, as plan and status do. 0, or -1 after
 * an error (reported); *t, *obs and *p are set as far as they were made,
 * NULL otherwise: the caller frees them.
 */
int converge_look(const PgcOptions *opts, PgcTopology **t, PgcObserved **obs, PgcPlan **p);

/*
 * converge_lock - takes the state directory's lock, waiting up to wait_ms.
 * 0 when held; -1 otherwise: *rc becomes EXIT_LOCKED when another run
 * holds it (lock_acquire said who), and is left alone on an error
 * (reported).
 */
int converge_lock(const PgcOptions *opts, int wait_ms, PgcLock *lock, int *rc);

/* converge_print_plan - the plan on stdout in --format (text by default). */
void converge_print_plan(const PgcOptions *opts, const PgcPlan *p);

/* Passes of observe-plan-apply in one run, until only blocked actions remain. */
#define CONVERGE_MAX_PASSES 5

/* PgcConvergeRun - how converge_run() applies: apply's and reconcile's settings. */
typedef struct {
	bool allow_restart;
	bool allow_switchover;
	PgcPlan *saved;               /* apply PLAN.json: carried out in the first pass; NULL: plan afresh */
	const char *saved_name;       /* its file, for messages */
	bool print;                   /* plans and the outcome on stdout (apply); else the log only */
	bool journal_source_lazily;   /* journal the source only when an action is about to run */
	volatile sig_atomic_t *stop;  /* non-zero: stop after the current action; may be NULL */
	/* PgcApplyOptions.mine: false for an action another host carries out (an
	 * agent's own filter); NULL: every action is ours. Such actions, and what
	 * waits for them, do not keep a run from converging. */
	bool (*mine)(const PgcAction *a, void *arg);
	void *mine_arg;
} PgcConvergeRun;

/*
 * PgcConvergeResult - what a run left. plan and observed are the last ones
 * made (what is still to do: blocked actions, or those that did not
 * converge); either may be NULL after an error. converge_result_free().
 */
typedef struct {
	PgcPlan *plan;
	PgcObserved *observed;
	size_t done;                  /* actions carried out, every pass */
	int passes;                   /* passes that applied something */
	bool stopped;                 /* *stop cut the run short */
	char error[1024];             /* one line on what failed; "" when nothing did */
} PgcConvergeResult;

/*
 * converge_run - apply's core, shared with reconcile: with the state lock
 * held by the caller, checks a git source against the last applied commit
 * (no rollback) and journals it, then observes, plans and applies up to
 * CONVERGE_MAX_PASSES times until nothing runnable is left, and records the
 * source in STATE_DIR/applied.json when the run converged or was only held
 * back by policy, and the live primary's replicas and position in
 * STATE_DIR/ha.json (what failover needs once it is gone). Returns EXIT_OK
 * (converged), EXIT_BLOCKED (only blocked actions left) or EXIT_ERROR
 * (reported; res->error says it in one line).
 */
int converge_run(const PgcOptions *opts, const PgcTopology *t, const PgcConvergeRun *run,
		 PgcConvergeResult *res);
void converge_result_free(PgcConvergeResult *res);


/*
 * converge_load_logged - converge_load() for a long-running command: the
 * diagnostics go through the logger (one line each, JSON with --log-format
 * json); the first error's text is copied into err. NULL on errors.
 */
PgcTopology *converge_load_logged(const PgcOptions *opts, char *err, size_t errlen);

#endif
