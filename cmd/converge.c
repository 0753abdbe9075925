/*
 * cmd/converge.c - loading, observing and planning for plan/apply/status,
 * and apply's passes, which reconcile repeats.
 */
#include "cmd/converge.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cmd/exitcodes.h"
#include "common/strutil.h"
#include "reconcile/engine/apply.h"
#include "reconcile/ha/failover.h"
#include "reconcile/ha/failover_run.h"
#include "reconcile/ha/ha.h"
#include "reconcile/engine/journal.h"
#include "reconcile/plan_offline.h"
#include "reconcile/standby/region_failover.h"
#include "reconcile/transport/host.h"
#include "schema/source.h"
#include "schema/source_applied.h"

/* load - the topology with its diagnostics printed, or logged one a line. */
static PgcTopology *load(const PgcOptions *opts, bool to_log, char *err, size_t errlen)
{
	PgcDiagList diags = {0};
	PgcTopology *t = options_load_topology(opts, &diags);
	size_t i;

	if (t != NULL && opts->cluster != NULL && topology_cluster(t, opts->cluster) == NULL) {
		PgcPos none = {0, 0};

		diag_error(&diags, opts->source_name, none, NULL, "see the clusters: section of the file",
			   "unknown cluster \"%s\"", opts->cluster);
	}
	diag_sort(&diags);
	if (!to_log)
		diag_print(stderr, &diags, options_color(opts, stderr));
	for (i = 0; to_log && i < diags.n; i++) {
		const PgcDiag *d = &diags.items[i];
		char pos[32] = "";

		if (d->pos.line > 0)
			snprintf(pos, sizeof pos, ":%d:%d", d->pos.line, d->pos.col);
		PgcArena *a = arena_new();

		/* The key and the message hold names from the file: one line each. */
		log_msg(d->level == DIAG_ERROR ? LOG_ERROR : LOG_WARN, "%s%s: %s%s%s%s%s",
			str_text(a, d->file ? d->file : opts->source_name), pos,
			d->key ? str_text(a, d->key) : "", d->key ? ": " : "", str_text(a, d->message),
			d->hint ? "\nhint: " : "", d->hint ? str_text(a, d->hint) : "");
		arena_free(a);
	}
	if (err != NULL && errlen > 0) {
		err[0] = '\0';
		for (i = 0; i < diags.n; i++) {
			if (diags.items[i].level == DIAG_ERROR) {
				snprintf(err, errlen, "%s: %s", opts->source_name, diags.items[i].message);
				break;
			}
		}
	}
	if (diag_count(&diags, DIAG_ERROR) > 0) {
		topology_free(t);
		t = NULL;
	}
	diag_free(&diags);
	return t;
}

/* choose_fail - choose_self()'s error, printed or logged like load()'s. */
static int choose_fail(bool to_log, char *err, size_t errlen, const char *hint, const char *fmt,
		       ...) __attribute__((format(printf, 5, 6)));

static int choose_fail(bool to_log, char *err, size_t errlen, const char *hint, const char *fmt,
		       ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (to_log)
		log_error("%s\nhint: %s", msg, hint);
	else
		cmd_error(hint, "%s", msg);
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
	return -1;
}

int converge_choose_self(const PgcOptions *opts, const PgcTopology *t, bool to_log, char *err,
			 size_t errlen)
{
	const char **hosts;
	size_t n = 0, total = 0;
	char list[512] = "";
	size_t used = 0;
	int rc = 0;

	if (opts->as_host != NULL) {
		host_set_self(opts->as_host);
		return 0;
	}
	if (!t->etcd.set)
		return 0;
	for (size_t i = 0; i < t->n_clusters; i++)
		total += t->clusters[i].n_nodes;
	hosts = calloc(total + 1, sizeof *hosts);
	if (hosts == NULL)
		abort();
	for (size_t i = 0; i < t->n_clusters; i++) {
		for (size_t k = 0; k < t->clusters[i].n_nodes; k++) {
			const char *h = t->clusters[i].nodes[k].host.v;
			size_t j;

			if (h == NULL || !host_is_machine(h))
				continue;
			for (j = 0; j < n && strcasecmp(hosts[j], h) != 0; j++)
				;
			if (j == n)
				hosts[n++] = h;
		}
	}
	if (n == 1) {
		host_set_self(hosts[0]);
		log_debug("this machine is the agent of host \"%s\"", hosts[0]);
	} else if (n == 0) {
		rc = choose_fail(to_log, err, errlen,
				 "run it on one of the topology's hosts, or say which one this agent "
				 "is with --as HOST",
				 "no host of the topology is an address of this machine");
	} else {
		for (size_t j = 0; j < n && used < sizeof list; j++)
			used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
						 j ? ", " : "", hosts[j]);
		rc = choose_fail(to_log, err, errlen,
				 arena_printf(opts->arena, "e.g. --as %s; each host runs its own agent",
					      hosts[0]),
				 "several hosts of the topology are addresses of this machine (%s): "
				 "say which one this agent is with --as HOST",
				 list);
	}
	free(hosts);
	return rc;
}

/*
 * load_as - load() and, for the commands that act as one host's agent
 * (--as), the choice of that host; plan --offline needs no host, and
 * status without --as none either (it runs from anywhere).
 */
static PgcTopology *load_as(const PgcOptions *opts, bool to_log, char *err, size_t errlen)
{
	PgcTopology *t = load(opts, to_log, err, errlen);

	if (t == NULL || opts->offline || (opts->command->spec->options & OPT_AS) == 0)
		return t;
	/* status reads what it can from anywhere: it needs a host only when told one. */
	if (opts->as_host == NULL && strcmp(opts->command->name, "status") == 0)
		return t;
	if (converge_choose_self(opts, t, to_log, err, errlen) != 0) {
		topology_free(t);
		return NULL;
	}
	return t;
}

PgcTopology *converge_load(const PgcOptions *opts)
{
	return load_as(opts, false, NULL, 0);
}

PgcTopology *converge_load_logged(const PgcOptions *opts, char *err, size_t errlen)
{
	return load_as(opts, true, err, errlen);
}

PgcObserved *converge_observe(const PgcOptions *opts, const PgcTopology *t)
{
	PgcObserveOptions o = {.connect_timeout_s = 3, .query_timeout_ms = 5000,
			       .only_cluster = opts->cluster, .stats = opts->observe_stats};

	return observe_topology(t, &o);
}

PgcPlan *converge_plan(const PgcOptions *opts, const PgcTopology *t, const PgcObserved *obs,
		       bool allow_restart, bool allow_switchover)
{
	PgcPolicy policy = {.allow_restart = allow_restart, .allow_switchover = allow_switchover,
			    .now = time(NULL), .only_cluster = opts->cluster};
	PgcPlan *p = plan_build(t, obs, &policy);

	if (p == NULL)
		return NULL;
	/* File digest, or git repository, ref and commit: saved plans are bound to it. */
	plan_set_source(p, opts->source);
	return p;
}

int converge_look(const PgcOptions *opts, PgcTopology **t, PgcObserved **obs, PgcPlan **p)
{
	*obs = NULL;
	*p = NULL;
	*t = converge_load(opts);
	if (*t == NULL)
		return -1;
	*obs = converge_observe(opts, *t);
	if (*obs == NULL)
		return -1;
	*p = converge_plan(opts, *t, *obs, false, false);
	return *p == NULL ? -1 : 0;
}

int converge_lock(const PgcOptions *opts, int wait_ms, PgcLock *lock, int *rc)
{
	switch (lock_acquire(opts->state_dir, wait_ms, lock)) {
	case 0:
		return 0;
	case 1:
		*rc = EXIT_LOCKED;
		return -1;
	default:
		return -1;
	}
}

void converge_print_plan(const PgcOptions *opts, const PgcPlan *p)
{
	if (options_format_is(opts, "json")) {
		cmd_print_json(plan_to_json(p), JSON_INDENT(2) | JSON_SORT_KEYS);
	} else if (options_format_is(opts, "markdown")) {
		plan_print_markdown(stdout, p);
	} else {
		plan_print_text(stdout, p, options_color(opts, stdout));
	}
}

/* ---- apply's passes ------------------------------------------------------ */

/* elsewhere - another host carries a out: delegated, or not the run's own. */
static bool elsewhere(const PgcConvergeRun *run, const PgcAction *a)
{
	return a->delegated || (run->mine != NULL && !run->mine(a, run->mine_arg));
}

/*
 * count_held - actions a run cannot carry out: blocked, left to another
 * host (elsewhere), or waiting (through depends_on, transitively) for one
 * of those. An action held behind a blocked restart waits for the policy as
 * the restart does; were it counted runnable, apply would pass again and
 * again and end "not converged". *blocked counts those held by policy
 * (blocked, or behind a blocked one); the rest wait for other hosts.
 */
static size_t count_held(const PgcConvergeRun *run, const PgcPlan *p, size_t *blocked)
{
	/* 0 runnable, 1 held by policy, 2 left to another host */
	unsigned char *held = calloc(p->n_actions + 1, 1);
	size_t i, j, n = 0, nb = 0;

	if (held == NULL)
		abort();
	/* A dependency comes before its dependents: the plan is in execution order. */
	for (i = 0; i < p->n_actions; i++) {
		const PgcAction *a = &p->actions[i];

		/* As apply decides: another host's first, then the policy, then what it waits for. */
		held[i] = elsewhere(run, a) ? 2 : a->blocked ? 1 : 0;
		for (j = 0; held[i] == 0 && j < a->n_depends_on; j++) {
			const PgcAction *d = plan_find_action(p, a->depends_on[j]);

			if (d != NULL && held[d - p->actions] == 1)
				held[i] = 1;
		}
		for (j = 0; held[i] == 0 && j < a->n_depends_on; j++) {
			const PgcAction *d = plan_find_action(p, a->depends_on[j]);

			if (d != NULL)
				held[i] = held[d - p->actions];
		}
		n += held[i] != 0;
		nb += held[i] == 1;
	}
	free(held);
	if (blocked != NULL)
		*blocked = nb;
	return n;
}

static size_t count_runnable(const PgcConvergeRun *run, const PgcPlan *p)
{
	return p->n_actions - count_held(run, p, NULL);
}

/*
 * finish - the exit code from the last plan: converged, blocked, or
 * failed to converge (actions left that should have run).
 */
static int finish(const PgcConvergeRun *run, const PgcPlan *p, PgcConvergeResult *res)
{
	if (p->n_actions == 0) {
		if (run->print)
			printf("converged: the live state matches the topology\n");
		return EXIT_OK;
	}
	if (count_runnable(run, p) == 0) {
		size_t blocked, held = count_held(run, p, &blocked);

		/* Only other hosts' work left: this host has converged. */
		if (blocked == 0) {
			if (run->print)
				printf("converged here: %zu action%s wait%s for other hosts\n", held,
				       held == 1 ? "" : "s", held == 1 ? "s" : "");
			return EXIT_OK;
		}
		if (run->print) {
			printf("%zu action%s blocked by policy; everything else is converged\n",
			       blocked, blocked == 1 ? "" : "s");
			/* What holds them, and what would let them through. */
			for (size_t i = 0; i < p->n_actions; i++)
				if (p->actions[i].blocked && !elsewhere(run, &p->actions[i]))
					str_fprintf_line(stdout, "  %s: %s\n", p->actions[i].id,
					       p->actions[i].blocked_reason ? p->actions[i].blocked_reason
									    : "by policy");
		}
		return EXIT_BLOCKED;
	}
	snprintf(res->error, sizeof res->error, "not converged after %d passes: %zu actions remain",
		 CONVERGE_MAX_PASSES, count_runnable(run, p));
	log_error("%s", res->error);
	return EXIT_ERROR;
}

static void print_or_log_plan(const PgcOptions *opts, const PgcConvergeRun *run, const PgcPlan *p)
{
	if (run->print)
		plan_print_text(stdout, p, options_color(opts, stdout));
	else
		log_info("%zu action%s to apply, %zu blocked by policy", count_runnable(run, p),
			 count_runnable(run, p) == 1 ? "" : "s", plan_count_blocked(p));
}

/*
 * begin_source - (git sources) before any action: refuse a commit that
 * does not descend from the last applied one, and journal the source.
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

static int apply_one_plan(const PgcOptions *opts, const PgcTopology *t, const PgcPlan *p,
			  const PgcConvergeRun *run, PgcConvergeResult *res)
{
	PgcApplyOptions ao = {.state_dir = opts->state_dir, .action_timeout_s = 600,
			      .ready_timeout_s = 60, .stop = run->stop, .jobs = opts->jobs,
			      .mine = run->mine, .mine_arg = run->mine_arg};
	PgcApplyResult ar = {0};
	int rc;

	rc = apply_plan(t, p, &ao, &ar);

	res->done += ar.done;
	res->passes++;
	if (ar.stopped)
		res->stopped = true;
	if (rc != 0) {
		snprintf(res->error, sizeof res->error, "%s",
			 ar.error[0] ? ar.error : "the journal cannot be written");
		log_error("apply stopped at the first failure: %zu done, %zu failed, %zu blocked, %zu not "
			  "run",
			  ar.done, ar.failed, ar.skipped_blocked, ar.skipped_dependency);
		return -1;
	}
	if (ar.skipped_elsewhere > 0)
		log_info("%zu action%s done, %zu left to other hosts", ar.done, ar.done == 1 ? "" : "s",
			 ar.skipped_elsewhere);
	else
		log_info("%zu action%s done", ar.done, ar.done == 1 ? "" : "s");
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * check_saved_plan - the saved plan still describes this topology and these
 * servers, and its action list is exactly the one the planner makes now:
 * same actions in the same order, with the same impact, phase,
 * dependencies, changes and payload (plan_compare_actions). Its blocked
 * flags are then this run's policy's. A saved plan is a reviewed copy of a
 * plan, never a script, so an edited, reordered or forged file cannot make
 * apply write, run or order anything else.
 */
static int check_saved_plan(PgcPlan *saved, const PgcPlan *now)
{
	static const char *const again = "run 'pgconverge plan -o PLAN.json' again";
	char why[512];
	size_t i, j;

	if (saved->source_digest == NULL && saved->source_commit == NULL) {
		cmd_error(again, "the saved plan names no topology source (digest or commit)");
		return -1;
	}
	if ((saved->source_digest != NULL && !same_str(saved->source_digest, now->source_digest)) ||
	    (saved->source_commit != NULL && !same_str(saved->source_commit, now->source_commit))) {
		cmd_error(again, "the topology changed since the plan was saved");
		return -1;
	}
	for (i = 0; i < saved->n_fp; i++) {
		for (j = 0; j < now->n_fp; j++)
			if (strcmp(saved->fp_nodes[i], now->fp_nodes[j]) == 0)
				break;
		if (j == now->n_fp || strcmp(saved->fp_values[i], now->fp_values[j]) != 0) {
			cmd_error(again, "node \"%s\" changed since the plan was saved", saved->fp_nodes[i]);
			return -1;
		}
	}
	/* The whole list, in order: the order and the dependencies are what
	 * apply schedules by, so a reordered or edited list is not the plan. */
	if (plan_compare_actions(saved, now, why, sizeof why) != 0) {
		cmd_error(again, "%s", why);
		return -1;
	}
	for (i = 0; i < saved->n_actions; i++) {
		/* The policy is this run's (its flags, the window now), not the file's;
		 * the reason, a sentence, is the one of this run too. */
		saved->actions[i].blocked = now->actions[i].blocked;
		saved->actions[i].blocked_reason = arena_strdup(saved->arena, now->actions[i].blocked_reason);
		saved->actions[i].reason = arena_strdup(saved->arena, now->actions[i].reason);
		/* Which host carries it out is this run's view too (--as). */
		saved->actions[i].delegated = now->actions[i].delegated;
		saved->actions[i].runs_on = arena_strdup(saved->arena, now->actions[i].runs_on);
	}
	saved->coordinated = now->coordinated;
	return 0;
}

static bool stop_requested(const PgcConvergeRun *run)
{
	return run->stop != NULL && *run->stop;
}

/* observe_and_plan - a fresh observation and plan into res; -1 on errors. */
static int observe_and_plan(const PgcOptions *opts, const PgcTopology *t,
			    const PgcConvergeRun *run, PgcConvergeResult *res)
{
	plan_free(res->plan);
	res->plan = NULL;
	observe_free(res->observed);
	res->observed = converge_observe(opts, t);
	if (res->observed == NULL) {
		snprintf(res->error, sizeof res->error, "cannot observe the servers");
		return -1;
	}
	res->plan = converge_plan(opts, t, res->observed, run->allow_restart, run->allow_switchover);
	if (res->plan == NULL) {
		snprintf(res->error, sizeof res->error, "cannot build the plan");
		return -1;
	}
	return 0;
}

int converge_run(const PgcOptions *opts, const PgcTopology *t, const PgcConvergeRun *run,
		 PgcConvergeResult *res)
{
	bool source_journaled = false, settled = false;
	int rc = EXIT_ERROR, pass;

	memset(res, 0, sizeof(*res));
	if (run->journal_source_lazily) {
		/* The rollback check still comes first: a rewound commit is never planned. */
		if (source_check_rewind(opts->state_dir, opts->source, opts->allow_rewind) != 0) {
			snprintf(res->error, sizeof res->error,
				 "the commit does not descend from the last applied one");
			return EXIT_ERROR;
		}
	} else {
		if (begin_source(opts) != 0) { /* git source: no rollback */
			snprintf(res->error, sizeof res->error, "cannot record the source");
			return EXIT_ERROR;
		}
		source_journaled = true;
	}
	for (pass = 1; pass <= CONVERGE_MAX_PASSES; pass++) {
		const PgcPlan *todo;

		if (stop_requested(run)) {
			res->stopped = true;
			break;
		}
		if (observe_and_plan(opts, t, run, res) != 0)
			return EXIT_ERROR;
		todo = res->plan;
		if (pass == 1 && run->saved != NULL) {
			/* Exactly the saved plan, once; later passes only confirm. */
			if (check_saved_plan(run->saved, res->plan) != 0) {
				snprintf(res->error, sizeof res->error, "the saved plan is stale");
				return EXIT_ERROR;
			}
			todo = run->saved;
			if (run->print)
				plan_print_text(stdout, todo, options_color(opts, stdout));
			if (count_runnable(run, todo) == 0) {
				settled = true;
				break;
			}
		} else {
			if (count_runnable(run, todo) == 0) {
				settled = true;
				break;
			}
			if (pass > 1)
				log_info("pass %d: the servers moved on; %zu more action%s", pass,
					 count_runnable(run, todo), count_runnable(run, todo) == 1 ? "" : "s");
			print_or_log_plan(opts, run, todo);
		}
		if (!source_journaled) {
			if (begin_source(opts) != 0) {
				snprintf(res->error, sizeof res->error, "cannot record the source");
				return EXIT_ERROR;
			}
			source_journaled = true;
		}
		if (apply_one_plan(opts, t, todo, run, res) != 0)
			return EXIT_ERROR;
		if (run->saved != NULL)
			break;
	}
	/* What is left after the last apply: plan once more. */
	if (!settled && observe_and_plan(opts, t, run, res) != 0)
		return EXIT_ERROR;
	if (res->stopped && count_runnable(run, res->plan) > 0) {
		snprintf(res->error, sizeof res->error, "stopped before converging: %zu action%s left",
			 count_runnable(run, res->plan), count_runnable(run, res->plan) == 1 ? "" : "s");
		log_info("%s", res->error);
		return EXIT_ERROR;
	}
	rc = finish(run, res->plan, res);
	failover_save_views(opts->state_dir, t, res->observed);
	region_record_save(opts->state_dir, t, res->observed);
	/* git source: what was applied, for the next rewind check and status. */
	if ((rc == EXIT_OK || rc == EXIT_BLOCKED) &&
	    source_applied_write(opts->state_dir, opts->source, time(NULL), rc == EXIT_OK) != 0) {
		snprintf(res->error, sizeof res->error, "cannot record the applied source");
		rc = EXIT_ERROR;
	}
	return rc;
}

void converge_result_free(PgcConvergeResult *res)
{
	plan_free(res->plan);
	observe_free(res->observed);
	res->plan = NULL;
	res->observed = NULL;
}
