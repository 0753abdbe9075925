/*
 * reconcile/engine/apply.c - runs a plan's actions, journaling each one.
 *
 * The order is the planner's; independent actions run at the same time, up
 * to opts->jobs (what waits for what: apply_order.h). Apply adds three
 * rules (and a fourth: an action another host carries out is left to it,
 * with what waits for it): a blocked action is never run, an action runs only when every
 * action it depends on (that is part of this plan) succeeded, and the first
 * failure stops the run: nothing starts after it, what runs finishes (the
 * next run plans afresh from what is then live). A dependency id that is
 * not in the plan counts as met: the planner left it out because there was
 * nothing to do. The scheduler (the calling thread) writes the actions'
 * start and end lines; actions run in their own threads (a switchover or
 * rejoin adds its own event line from there: those run alone).
 */
#include "reconcile/engine/apply.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/engine/action.h"
#include "reconcile/engine/apply_order.h"
#include "reconcile/engine/exec.h"
#include "reconcile/engine/journal.h"

/* run_action - the executor of the action's kind (the registry, action.h). */
static int run_action(PgcExecCtx *ctx)
{
	const PgcActionDef *d = action_def(ctx->a->kind);

	if (d == NULL || d->run == NULL)
		return exec_fail(ctx, "action \"%s\" has an unknown kind %d", ctx->a->id,
				  (int)ctx->a->kind);
	return d->run(ctx);
}

/* execute - one action with its context; returns its outcome. */
static int execute(const PgcTopology *t, const PgcAction *a, const PgcApplyOptions *opts,
		   PgcExecCtx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->t = t;
	ctx->a = a;
	ctx->state_dir = opts->state_dir;
	ctx->arena = arena_new();
	ctx->action_timeout_s =
	    opts->action_timeout_s > 0 ? opts->action_timeout_s : APPLY_DEFAULT_ACTION_TIMEOUT_S;
	ctx->ready_timeout_s =
	    opts->ready_timeout_s > 0 ? opts->ready_timeout_s : APPLY_DEFAULT_READY_TIMEOUT_S;
	ctx->c = a->cluster ? topology_cluster(t, a->cluster) : NULL;
	if (ctx->c == NULL)
		return exec_fail(ctx, "cannot run \"%s\": cluster \"%s\" is not in the topology",
				  a->id, a->cluster ? a->cluster : "");
	if (a->node != NULL) {
		ctx->n = cluster_node(ctx->c, a->node);
		if (ctx->n == NULL)
			return exec_fail(ctx,
					  "cannot run \"%s\": node \"%s\" is not in cluster \"%s\"",
					  a->id, a->node, ctx->c->name);
		ctx->host = host_for(ctx->n->host.v, ctx->c->os_user.v);
	}
	return run_action(ctx);
}

/* ---- running actions side by side ----------------------------------------- */

/* ST_ELSEWHERE: another host carries it out, or it waits for what one does. */
typedef enum { ST_PENDING, ST_RUNNING, ST_OK, ST_FAILED, ST_SKIPPED, ST_ELSEWHERE } ActionState;

/* A dependency the planner left out of the plan: nothing to do, met. */
#define DEP_ABSENT ((size_t)-1)

typedef struct Run Run;

/* One action running in its own thread. */
typedef struct {
	Run *run;
	size_t i;
	PgcExecCtx ctx;
	double start;
	int rc;
	pthread_t thread;
} Job;

struct Run {
	const PgcTopology *t;
	const PgcPlan *p;
	const PgcApplyOptions *opts;
	PgcApplyResult *res;
	PgcJournal *journal;
	const PgcActionOrder *order;
	size_t **deps;         /* per action: the plan index of each depends_on, DEP_ABSENT if not in it */
	ActionState *state;
	Job **jobs;            /* per action while it runs */
	size_t running, max_running;
	const char *failed_id; /* the first action that failed */
	bool journal_broken;
	/* finished jobs, handed from their threads to the scheduler */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t *finished;
	size_t n_finished;
};

static void *job_main(void *arg)
{
	Job *job = arg;
	Run *run = job->run;

	job->rc = execute(run->t, &run->p->actions[job->i], run->opts, &job->ctx);
	pthread_mutex_lock(&run->mu);
	run->finished[run->n_finished++] = job->i;
	pthread_cond_signal(&run->cv);
	pthread_mutex_unlock(&run->mu);
	return NULL;
}

/* skip_as - an action that will not run, in state st, journaled with why. */
static void skip_as(Run *run, size_t i, ActionState st, const char *why)
{
	run->state[i] = st;
	if (!run->journal_broken &&
	    journal_end(run->journal, &run->p->actions[i], JOURNAL_SKIPPED, 0, why) != 0)
		run->journal_broken = true;
}

static void skip(Run *run, size_t i, const char *why)
{
	skip_as(run, i, ST_SKIPPED, why);
}

/* elsewhere - true when another host carries action a out. */
static bool elsewhere(const Run *run, const PgcAction *a)
{
	return a->delegated ||
	       (run->opts->mine != NULL && !run->opts->mine(a, run->opts->mine_arg));
}

/*
 * unmet_dependency - the id of a dependency of action i that did not (or
 * cannot) succeed, or NULL; *wait is set when one has yet to finish. A
 * dependency left to another host is returned in *other (when none failed):
 * action i waits for that host rather than failing with it.
 */
static const char *unmet_dependency(const Run *run, size_t i, bool *wait, const char **other)
{
	const PgcAction *a = &run->p->actions[i];

	*wait = false;
	*other = NULL;
	for (size_t d = 0; d < a->n_depends_on; d++) {
		size_t j = run->deps[i][d];

		if (j == DEP_ABSENT)
			continue;
		/* A dependency placed after its dependent cannot have run yet. */
		if (j >= i || run->state[j] == ST_FAILED || run->state[j] == ST_SKIPPED)
			return a->depends_on[d];
		if (run->state[j] == ST_ELSEWHERE) {
			if (*other == NULL)
				*other = a->depends_on[d];
		} else if (run->state[j] != ST_OK) {
			*wait = true;
		}
	}
	return NULL;
}

static bool may_start(const Run *run, size_t i)
{
	const PgcActionOrder *o = &run->order[i];

	for (size_t k = 0; k < o->n_before; k++)
		if (run->state[o->before[k]] == ST_PENDING || run->state[o->before[k]] == ST_RUNNING)
			return false;
	return true;
}

static void launch(Run *run, size_t i)
{
	const PgcAction *a = &run->p->actions[i];
	Job *job;

	if (journal_start(run->journal, a) != 0) {
		run->journal_broken = true;
		return;
	}
	job = calloc(1, sizeof(*job));
	if (job == NULL)
		abort();
	job->run = run;
	job->i = i;
	log_info("%s: %s", a->id, a->reason ? a->reason : plan_action_name(a->kind));
	job->start = clock_ms();
	run->state[i] = ST_RUNNING;
	run->jobs[i] = job;
	run->running++;
	if (pthread_create(&job->thread, NULL, job_main, job) != 0) {
		log_error("could not start a thread for \"%s\"", a->id);
		abort();
	}
}

/*
 * schedule - one pass over the actions not yet started, in plan order:
 * resolves those that will not run and starts those whose waits are over,
 * while there is room.
 */
static void schedule(Run *run)
{
	const PgcApplyOptions *opts = run->opts;
	PgcApplyResult *res = run->res;

	for (size_t i = 0; i < run->p->n_actions && !run->journal_broken; i++) {
		const PgcAction *a = &run->p->actions[i];
		const char *dep, *other;
		bool wait;

		if (run->state[i] != ST_PENDING)
			continue;
		/* Before blocked: a policy holding another host's action is that host's business. */
		if (elsewhere(run, a)) {
			char why[512];

			if (a->runs_on != NULL)
				snprintf(why, sizeof(why), "not run here: carried out on \"%s\"", a->runs_on);
			else
				snprintf(why, sizeof(why), "not run here: carried out by the cluster's leader");
			log_info("skipped \"%s\": %s", a->id, why);
			res->skipped_elsewhere++;
			skip_as(run, i, ST_ELSEWHERE, why);
			continue;
		}
		if (a->blocked) {
			log_info("skipped \"%s\": blocked: %s", a->id,
				 a->blocked_reason ? a->blocked_reason : "by policy");
			res->skipped_blocked++;
			skip(run, i, a->blocked_reason ? a->blocked_reason : "blocked by policy");
			continue;
		}
		if (!res->stopped && opts->stop != NULL && *opts->stop) {
			res->stopped = true;
			log_info("stopping: the remaining actions are left for the next run");
		}
		if (res->stopped) {
			res->skipped_stopped++;
			skip(run, i, "not run: pgconverge was asked to stop");
			continue;
		}
		/* After a failure nothing else starts: the next run plans afresh
		 * from what is then live, which is safer than pressing on. */
		dep = run->failed_id != NULL ? run->failed_id : unmet_dependency(run, i, &wait, &other);
		if (dep == NULL && other != NULL) {
			char why[512];

			snprintf(why, sizeof(why), "not run: waits for \"%s\", carried out elsewhere",
				 other);
			log_info("skipped \"%s\": %s", a->id, why);
			res->skipped_elsewhere++;
			skip_as(run, i, ST_ELSEWHERE, why);
			continue;
		}
		if (dep != NULL) {
			char why[512];

			snprintf(why, sizeof(why), "not run: \"%s\" did not succeed", dep);
			log_warn("skipped \"%s\": %s", a->id, why);
			res->skipped_dependency++;
			skip(run, i, why);
			continue;
		}
		if (!wait && run->running < run->max_running && may_start(run, i))
			launch(run, i);
	}
}

/* finish - the scheduler's side of a job that ended: outcome, journal, log. */
static void finish(Run *run, size_t i)
{
	Job *job = run->jobs[i];
	const PgcAction *a = &run->p->actions[i];
	PgcApplyResult *res = run->res;
	PgcExecCtx *ctx = &job->ctx;
	double ms = clock_ms() - job->start;

	pthread_join(job->thread, NULL);
	run->running--;
	if (job->rc == 0) {
		run->state[i] = ST_OK;
		res->done++;
		log_info("%s: %s (%.0f ms)", a->id, ctx->nothing_to_do ? "already done" : "done", ms);
	} else {
		run->state[i] = ST_FAILED;
		res->failed++;
		if (run->failed_id == NULL) {
			run->failed_id = a->id;
			if (ctx->error[0] == '\0')
				snprintf(ctx->error, sizeof(ctx->error), "failed: see the log");
			snprintf(res->error, sizeof(res->error), "%s: %s", a->id, ctx->error);
		} else if (ctx->error[0] == '\0') {
			snprintf(ctx->error, sizeof(ctx->error), "failed: see the log");
		}
	}
	if (!run->journal_broken &&
	    journal_end(run->journal, a, job->rc == 0 ? JOURNAL_OK : JOURNAL_FAILED, ms,
			job->rc == 0 ? NULL : ctx->error) != 0)
		run->journal_broken = true;
	host_free(ctx->host);
	arena_free(ctx->arena);
	free(job);
	run->jobs[i] = NULL;
}

int apply_plan(const PgcTopology *t, const PgcPlan *p, const PgcApplyOptions *opts,
	       PgcApplyResult *res)
{
	size_t n = p->n_actions ? p->n_actions : 1;
	PgcArena *arena;
	Run run;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (opts == NULL || opts->state_dir == NULL) {
		log_error("cannot apply the plan: no state folder given for the journal");
		return -1;
	}
	memset(&run, 0, sizeof(run));
	run.journal = journal_open(opts->state_dir);
	if (run.journal == NULL)
		return -1;
	arena = arena_new();
	run.t = t;
	run.p = p;
	run.opts = opts;
	run.res = res;
	run.order = apply_order_build(arena, t, p);
	/* Looked up once: the scheduler checks them on every pass. */
	run.deps = arena_calloc(arena, n, sizeof(size_t *));
	for (size_t i = 0; i < p->n_actions; i++) {
		const PgcAction *a = &p->actions[i];

		run.deps[i] = arena_calloc(arena, a->n_depends_on + 1, sizeof(size_t));
		for (size_t d = 0; d < a->n_depends_on; d++) {
			const PgcAction *dep = plan_find_action(p, a->depends_on[d]);

			run.deps[i][d] = dep != NULL ? (size_t)(dep - p->actions) : DEP_ABSENT;
		}
	}
	run.state = arena_calloc(arena, n, sizeof(ActionState));
	run.jobs = arena_calloc(arena, n, sizeof(Job *));
	run.finished = arena_calloc(arena, n, sizeof(size_t));
	run.max_running = opts->jobs > 0 ? (size_t)opts->jobs : APPLY_DEFAULT_JOBS;
	pthread_mutex_init(&run.mu, NULL);
	pthread_cond_init(&run.cv, NULL);

	for (;;) {
		size_t done[64], n_done = 0;

		schedule(&run);
		if (run.running == 0)
			break;
		pthread_mutex_lock(&run.mu);
		while (run.n_finished == 0)
			pthread_cond_wait(&run.cv, &run.mu);
		while (run.n_finished > 0 && n_done < sizeof(done) / sizeof(done[0]))
			done[n_done++] = run.finished[--run.n_finished];
		pthread_mutex_unlock(&run.mu);
		for (size_t k = 0; k < n_done; k++)
			finish(&run, done[k]);
	}

	if (run.journal_broken) {
		log_error("stopped applying the plan: the journal \"%s\" cannot be written",
			  journal_path(run.journal));
		rc = -1;
	} else if (run.failed_id != NULL) {
		rc = -1;
	}
	pthread_cond_destroy(&run.cv);
	pthread_mutex_destroy(&run.mu);
	arena_free(arena);
	journal_close(run.journal);
	return rc;
}
