/*
 * cmd/reconcile.c - `pgconverge reconcile`: apply's passes again and again,
 * for drift repair, from a loop (--interval) or a timer (--once).
 *
 * One pass: take the state lock (or give up: exit 4, or retry later), load
 * the topology afresh (a git source is fetched; an unreachable remote falls
 * back to the last fetched commit), then converge_run() as apply does with
 * the topology's own policy (no --allow-restart: restarts wait for the
 * maintenance window, and each pass plans with the current time, so they
 * run once it opens), then write STATE_DIR/status.json and
 * STATE_DIR/pgconverge.prom and release the lock. The status files are only
 * written under the lock, so a pass that did not get it leaves them alone.
 *
 * The loop holds STATE_DIR/reconcile.pid (an flock, like the state lock) for
 * its whole life, so a second loop on the same state directory exits 4,
 * while the state lock is held only during a pass: an `apply` or a
 * `reconcile --once` by hand runs between two passes, never inside one.
 *
 * Signals: SIGTERM and SIGINT set a flag that apply checks between actions
 * (the current one finishes) and the loop checks between passes; SIGHUP
 * starts the next pass now. The handlers only set flags and write a byte
 * to a pipe that the sleep between passes polls, so a signal that arrives
 * just before the sleep still ends it.
 *
 * Memory: each pass owns everything it allocates (topology, observation,
 * plans, JSON) and frees it before the next; the loop keeps only a few
 * counters and the last source id.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "cmd/converge.h"
#include "cmd/exitcodes.h"
#include "common/clock.h"
#include "common/fsutil.h"
#include "common/lock.h"
#include "reconcile/engine/apply.h"
#include "common/metrics.h"
#include "reconcile/ha/auto_failover.h"

const PgcCommandSpec reconcile_spec = {
	.usage = "reconcile " USAGE_SOURCE USAGE_NEWLINE
		 "[--interval DURATION | --once] [--wait-lock DURATION] [--jobs N]" USAGE_NEWLINE
		 "[--cluster NAME] [--state-dir DIR] [--allow-rewind]" USAGE_NEWLINE
		 "[--require-signed [--allowed-signers FILE]]",
	.description =
		"Runs apply's passes every --interval until stopped, reading the topology afresh\n"
		"each time (a git source is fetched; when the remote cannot be reached, the last\n"
		"fetched commit is used, with a warning): repairs drift such as a stopped server\n"
		"or a setting changed by ALTER SYSTEM. Restarts and switchovers happen only as\n"
		"the topology's maintenance policy allows: a restart outside the window waits,\n"
		"and runs at the first pass once the window is open. A failed pass is logged\n"
		"and retried after 5s, 10s, 20s ... up to --interval.\n"
		"\n"
		"After each pass, STATE_DIR/status.json tells the outcome, the source and commit,\n"
		"the actions still pending or blocked (with why, and when the maintenance window\n"
		"opens) and when the next pass runs; STATE_DIR/pgconverge.prom has the same as\n"
		"Prometheus metrics for node_exporter's textfile collector. Both are replaced\n"
		"atomically.\n"
		"\n"
		"The state directory's lock is held during a pass only: 'apply' or 'reconcile\n"
		"--once' can run between two passes. A second loop on the same state directory\n"
		"exits 4. SIGTERM or SIGINT stops after the current action; SIGHUP starts the\n"
		"next pass now (options stay as given; the topology is always read afresh).\n"
		"With --once, runs one pass and exits with apply's codes, for a systemd timer or\n"
		"cron (--interval is then ignored). Logs one line per event; --log-format json\n"
		"for journald.\n"
		"\n"
		"Automatic failover (failover.mode: auto): between passes, the live primary of\n"
		"each such cluster is probed every failover.probe_interval, whatever --interval\n"
		"is. Failed for failover.detect_after, it is fenced and the best replica\n"
		"promoted, as 'pgconverge failover' does; not while a replica still receives\n"
		"its WAL, nor within failover.min_interval of the last failover unless it is\n"
		"confirmed down. The event and its timings go to the journal, status.json\n"
		"shows each cluster's HA state, and the next pass runs at once from the new\n"
		"primary.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_ALLOW_REWIND | OPT_CLUSTER | OPT_INTERVAL |
		   OPT_ONCE | OPT_WAIT_LOCK | OPT_JOBS,
	.exit_codes = "  0   stopped by SIGTERM or SIGINT; with --once: converged\n"
		      "  1   error; with --once: the pass failed or was cut short by a signal\n"
		      "  3   with --once: some actions were blocked by policy\n"
		      "  4   another run holds the state directory's lock (with --once), or\n"
		      "      another reconcile loop runs on this state directory\n",
};

#define STATUS_FILE "status.json"
#define METRICS_FILE "pgconverge.prom"
#define PID_FILE "reconcile.pid"
#define STATUS_FORMAT_VERSION 1
/* The first retry after a failed pass; doubled up to --interval. */
#define RETRY_FIRST_MS 5000

typedef enum {
	OUT_CONVERGED,
	OUT_BLOCKED,
	OUT_FAILED,
	OUT_INTERRUPTED,
	OUT_LOCKED,
	OUT_COUNT
} Outcome;

static const char *const outcome_names[OUT_COUNT] = {"converged", "blocked", "failed",
						      "interrupted", "locked"};

/* ---- signals ------------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t hup_requested;
static int wake_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	char c = 1;

	if (sig == SIGHUP) {
		hup_requested = 1;
	} else {
		stop_requested = 1;
		stop_signal = sig;
	}
	if (wake_pipe[1] >= 0 && write(wake_pipe[1], &c, 1) < 0) {
		/* The pipe is full: the sleep wakes up anyway. */
	}
	errno = saved;
}

static const int handled_signals[] = {SIGTERM, SIGINT, SIGHUP};

static int signals_install(void)
{
	struct sigaction sa;
	size_t i;

	if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		log_error("could not create a pipe for signals: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* Restart interrupted calls: an action must not fail because of a signal. */
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++) {
		if (sigaction(handled_signals[i], &sa, NULL) != 0) {
			log_error("could not install a signal handler: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void signals_remove(void)
{
	size_t i;

	for (i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++)
		signal(handled_signals[i], SIG_DFL);
	for (i = 0; i < 2; i++) {
		if (wake_pipe[i] >= 0)
			close(wake_pipe[i]);
		wake_pipe[i] = -1;
	}
}

static void drain_wake_pipe(void)
{
	char buf[64];

	while (read(wake_pipe[0], buf, sizeof buf) > 0)
		;
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* sleep_until_woken - waits ms, or less when a signal arrives. */
static void sleep_until_woken(int64_t ms)
{
	double deadline = mono_ms() + (double)ms;

	while (!stop_requested && !hup_requested) {
		double left = deadline - mono_ms();
		struct pollfd p = {.fd = wake_pipe[0], .events = POLLIN};

		if (left <= 0)
			break;
		if (poll(&p, 1, left > 60000 ? 60000 : (int)left + 1) > 0)
			drain_wake_pipe();
	}
}

/* ---- the loop's own lock: one loop per state directory -------------------- */

/*
 * pidfile_lock - flock on STATE_DIR/reconcile.pid, which holds the loop's
 * pid (for `kill -HUP`). Like the state lock it goes away with the process.
 * 0 held (fd in *fd); 1 another loop holds it (reported); -1 error (reported).
 */
static int pidfile_lock(const PgcOptions *opts, int *fd)
{
	char *path = fs_path_join(opts->state_dir, PID_FILE), buf[32];
	double deadline = mono_ms() + (double)options_wait_lock_ms(opts);
	ssize_t n;
	int rc = -1;

	*fd = -1;
	if (fs_mkdir_p(opts->state_dir, 0700, FS_NO_UID, FS_NO_GID) != 0)
		goto cleanup;
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (*fd < 0) {
		log_error("could not open \"%s\": %s", path, strerror(errno));
		goto cleanup;
	}
	while (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			log_error("could not lock \"%s\": %s", path, strerror(errno));
			goto fail;
		}
		if (mono_ms() >= deadline || stop_requested) {
			n = pread(*fd, buf, sizeof buf - 1, 0);
			buf[n > 0 ? n : 0] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			log_error("another reconcile loop runs on state directory \"%s\" (pid %s)\n"
				  "hint: stop that one first; 'pgconverge reconcile --once' can still run "
				  "between its passes",
				  opts->state_dir, buf[0] ? buf : "unknown");
			rc = 1;
			goto fail;
		}
		usleep(50 * 1000);
	}
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(*fd, 0) != 0 || pwrite(*fd, buf, (size_t)n, 0) != n) {
		log_error("could not write \"%s\": %s", path, strerror(errno));
		goto fail;
	}
	rc = 0;
	goto cleanup;
fail:
	close(*fd);
	*fd = -1;
cleanup:
	free(path);
	return rc;
}

static void pidfile_unlock(int fd)
{
	if (fd < 0)
		return;
	/* Emptied first, so that nobody reads a finished loop's pid. */
	if (ftruncate(fd, 0) != 0)
		log_debug("could not empty the pid file: %s", strerror(errno));
	close(fd);
}

/* ---- what survives between passes ----------------------------------------- */

/*
 * Loop - the state kept from pass to pass; the counters are also carried
 * over from the last status file, so that timer runs (--once) count on.
 */
typedef struct {
	long pass;
	time_t started;
	int retries;                 /* failed or locked passes in a row: the backoff */
	Outcome last_outcome;
	bool have_last;
	char *last_source;           /* commit or digest of the last pass, for "source changed" */
	PgcTopology *topo;           /* the last topology that loaded: the probes between passes use it */
	PgcAutoFailover *af;         /* the primaries watched between passes */
	json_t *status;              /* the last status.json written, for HA updates between passes */
} Loop;

/* Totals - the counters status.json carries from run to run. */
typedef struct {
	json_int_t passes[OUT_COUNT];
	json_int_t actions;
	json_int_t consecutive_failures;
	char last_success[32];
	char last_converged[32];
} Totals;

static void totals_read(const char *path, Totals *tot)
{
	json_t *j = json_load_file(path, 0, NULL), *t, *v;
	int i;

	memset(tot, 0, sizeof *tot);
	if (j == NULL)
		return; /* none yet, or unreadable: counting starts again */
	t = json_object_get(j, "totals");
	for (i = 0; i < OUT_COUNT; i++)
		tot->passes[i] = json_integer_value(json_object_get(json_object_get(t, "passes"),
								    outcome_names[i]));
	tot->actions = json_integer_value(json_object_get(t, "actions_done"));
	tot->consecutive_failures = json_integer_value(json_object_get(j, "consecutive_failures"));
	v = json_object_get(j, "last_success_at");
	if (json_is_string(v))
		snprintf(tot->last_success, sizeof tot->last_success, "%s", json_string_value(v));
	v = json_object_get(j, "last_converged_at");
	if (json_is_string(v))
		snprintf(tot->last_converged, sizeof tot->last_converged, "%s", json_string_value(v));
	json_decref(j);
}

/* ---- automatic failover between passes ------------------------------------------ */

static int status_file_write(const PgcOptions *opts, json_t *j);

/*
 * ha_status_update - changed verdicts into status.json between passes,
 * under the lock as a pass writes it (a busy lock: the next change or pass).
 */
static void ha_status_update(const PgcOptions *opts, Loop *lp)
{
	char *path;
	int fd;
	json_t *clusters = lp->status ? json_object_get(lp->status, "clusters") : NULL;

	if (!auto_failover_status_update(lp->af, lp->topo, clusters))
		return;
	path = fs_path_join(opts->state_dir, LOCK_FILE_NAME);
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	/* A run by hand holds it: quietly left for the next change or pass. */
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
		(void)status_file_write(opts, lp->status);
	if (fd >= 0)
		close(fd);
	free(path);
}

/* ha_tick - the probes that are due; true when a pass is due now (a failover, a second primary). */
static bool ha_tick(const PgcOptions *opts, Loop *lp)
{
	bool failed_over = auto_failover_tick(lp->af, lp->topo, &stop_requested);

	ha_status_update(opts, lp);
	return failed_over;
}

/*
 * sleep_and_probe - waits ms (less when a signal arrives), probing the
 * primaries of failover.mode auto clusters at their probe_interval
 * meanwhile. true when the next pass must run at once: a cluster failed
 * over, or a second primary appeared.
 */
static bool sleep_and_probe(const PgcOptions *opts, Loop *lp, int64_t ms)
{
	double deadline = mono_ms() + (double)ms;

	while (!stop_requested && !hup_requested) {
		double left = deadline - mono_ms();
		int64_t due = auto_failover_next_probe_in(lp->af, lp->topo);

		if (left <= 0)
			break;
		if (due < 0 || (double)due >= left) {
			sleep_until_woken((int64_t)left + 1);
			continue;
		}
		if (due > 0)
			sleep_until_woken(due);
		if (stop_requested || hup_requested)
			break;
		if (ha_tick(opts, lp))
			return true;
	}
	return false;
}

/* ---- one pass ---------------------------------------------------------------- */

/* Pass - what one pass did, for the log and the status files. */
typedef struct {
	long number;
	time_t started, finished;
	double duration_ms;
	Outcome outcome;
	int rc;                      /* the exit code --once gives */
	char error[1024];
	const PgcTopology *t;        /* NULL when it did not load */
	PgcConvergeResult res;
	time_t next;                 /* next pass (wall clock); 0 with --once */
	const char *next_reason;
	time_t window_opens;         /* earliest window a blocked restart waits for; 0 none */
} Pass;

static const char *iso(time_t t, char *buf, size_t size)
{
	return source_format_time(t, buf, size);
}

static const char *duration_text(int64_t ms, char *buf, size_t size)
{
	static const struct {
		int64_t ms;
		const char *unit;
	} units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
	size_t i;

	for (i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (ms >= units[i].ms && ms % units[i].ms == 0) {
			snprintf(buf, size, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
			return buf;
		}
	}
	snprintf(buf, size, "%lldms", (long long)ms);
	return buf;
}

/*
 * waits_for_window - the cluster of a blocked restart (or switchover) that
 * its maintenance window will let through, while the window is closed; NULL
 * otherwise (one blocked while the window is open is blocked for another
 * reason).
 */
static const PgcCluster *waits_for_window(const PgcTopology *t, const PgcAction *a, time_t now)
{
	const PgcCluster *c = t != NULL && a->cluster != NULL ? topology_cluster(t, a->cluster) : NULL;

	if (c == NULL || !a->blocked || c->maintenance.restart != RESTART_WINDOW ||
	    maintenance_window_open(&c->maintenance, now))
		return NULL;
	/* A switchover waits for the window only with failback: auto (plan_ha.h). */
	if (a->impact == IMPACT_RESTART ||
	    (a->impact == IMPACT_SWITCHOVER && c->failover.failback_auto))
		return c;
	return NULL;
}

static json_t *str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *source_json(const PgcSource *src)
{
	json_t *o;

	if (src == NULL || src->kind == NULL)
		return json_null();
	o = json_object();
	json_object_set_new(o, "kind", json_string(src->kind));
	json_object_set_new(o, "path", str_or_null(src->path));
	json_object_set_new(o, "digest", str_or_null(src->digest));
	if (strcmp(src->kind, "git") == 0) {
		json_object_set_new(o, "repository", str_or_null(src->repository));
		json_object_set_new(o, "ref", str_or_null(src->ref));
		json_object_set_new(o, "commit", str_or_null(src->commit));
		json_object_set_new(o, "subject", str_or_null(src->subject));
		json_object_set_new(o, "stale", json_boolean(src->stale));
	}
	return o;
}

static json_t *pending_json(const Pass *ps, time_t now)
{
	const PgcPlan *p = ps->res.plan;
	json_t *list = json_array();
	char buf[32];
	size_t i;

	for (i = 0; p != NULL && i < p->n_actions; i++) {
		const PgcAction *a = &p->actions[i];
		const PgcCluster *wc = waits_for_window(ps->t, a, now);
		json_t *o = json_object();

		json_object_set_new(o, "id", json_string(a->id));
		json_object_set_new(o, "action", json_string(plan_action_name(a->kind)));
		json_object_set_new(o, "cluster", str_or_null(a->cluster));
		json_object_set_new(o, "node", str_or_null(a->node));
		json_object_set_new(o, "impact", json_string(plan_impact_name(a->impact)));
		json_object_set_new(o, "reason", str_or_null(a->reason));
		json_object_set_new(o, "blocked", json_boolean(a->blocked));
		json_object_set_new(o, "blocked_reason", str_or_null(a->blocked ? a->blocked_reason : NULL));
		if (wc != NULL) {
			time_t at = maintenance_window_next_open(&wc->maintenance, now);

			json_object_set_new(o, "waiting_for", json_string("maintenance_window"));
			json_object_set_new(o, "window", str_or_null(wc->maintenance.window.v));
			json_object_set_new(o, "window_opens_at",
					    at != (time_t)-1 ? json_string(iso(at, buf, sizeof buf))
							     : json_null());
		} else {
			/* Blocked for good until someone acts (a flag, another host); else
			 * the next pass tries it again. */
			json_object_set_new(o, "waiting_for",
					    json_string(a->blocked ? "operator" : "next_pass"));
		}
		json_array_append_new(list, o);
	}
	return list;
}

static const char *restart_policy_name(PgcRestartPolicy r)
{
	return r == RESTART_ALWAYS ? "always" : r == RESTART_WINDOW ? "window" : "never";
}

static bool cluster_selected(const PgcOptions *opts, const PgcCluster *c)
{
	return opts->cluster == NULL || strcmp(opts->cluster, c->name) == 0;
}

static json_t *clusters_json(const PgcOptions *opts, const Loop *lp, const Pass *ps, time_t now)
{
	json_t *all = json_object();
	char buf[32];
	size_t i;

	for (i = 0; ps->t != NULL && i < ps->t->n_clusters; i++) {
		const PgcCluster *c = &ps->t->clusters[i];
		const PgcMaintenance *m = &c->maintenance;
		time_t at = maintenance_window_next_open(m, now);
		json_t *o = json_object(), *mj = json_object(), *ha;
		size_t k, pending = 0, blocked = 0;

		if (!cluster_selected(opts, c))
			continue;
		for (k = 0; ps->res.plan != NULL && k < ps->res.plan->n_actions; k++) {
			const PgcAction *a = &ps->res.plan->actions[k];

			if (a->cluster != NULL && strcmp(a->cluster, c->name) == 0) {
				pending++;
				blocked += a->blocked;
			}
		}
		json_object_set_new(mj, "restart", json_string(restart_policy_name(m->restart)));
		json_object_set_new(mj, "window", str_or_null(m->window.v));
		json_object_set_new(mj, "open", json_boolean(maintenance_window_open(m, now)));
		json_object_set_new(mj, "next_open_at",
				    at != (time_t)-1 ? json_string(iso(at, buf, sizeof buf)) : json_null());
		json_object_set_new(o, "maintenance", mj);
		json_object_set_new(o, "pending_actions", json_integer((json_int_t)pending));
		json_object_set_new(o, "blocked_actions", json_integer((json_int_t)blocked));
		if ((ha = auto_failover_cluster_json(lp->af, c)) != NULL)
			json_object_set_new(o, "ha", ha);
		json_object_set_new(all, c->name, o);
	}
	return all;
}

static json_t *status_json(const PgcOptions *opts, const Loop *lp, const Pass *ps,
			   const Totals *tot)
{
	json_t *j = json_object(), *last = json_object(), *totals = json_object(),
	       *passes = json_object();
	char buf[32];
	int i;

	json_object_set_new(j, "format_version", json_integer(STATUS_FORMAT_VERSION));
	json_object_set_new(j, "pid", json_integer((json_int_t)getpid()));
	json_object_set_new(j, "mode", json_string(opts->once ? "once" : "interval"));
	json_object_set_new(j, "interval_seconds",
			    opts->once ? json_null() : json_real((double)opts->interval_ms / 1000.0));
	json_object_set_new(j, "started_at", json_string(iso(lp->started, buf, sizeof buf)));
	json_object_set_new(j, "pass", json_integer((json_int_t)ps->number));

	json_object_set_new(last, "started_at", json_string(iso(ps->started, buf, sizeof buf)));
	json_object_set_new(last, "finished_at", json_string(iso(ps->finished, buf, sizeof buf)));
	json_object_set_new(last, "duration_seconds", json_real(ps->duration_ms / 1000.0));
	json_object_set_new(last, "outcome", json_string(outcome_names[ps->outcome]));
	json_object_set_new(last, "exit_code", json_integer(ps->rc));
	json_object_set_new(last, "error", ps->error[0] ? json_string(ps->error) : json_null());
	json_object_set_new(last, "actions_done", json_integer((json_int_t)ps->res.done));
	json_object_set_new(j, "last_pass", last);

	json_object_set_new(j, "last_success_at", tot->last_success[0] ? json_string(tot->last_success)
								       : json_null());
	json_object_set_new(j, "last_converged_at",
			    tot->last_converged[0] ? json_string(tot->last_converged) : json_null());
	json_object_set_new(j, "consecutive_failures", json_integer(tot->consecutive_failures));
	json_object_set_new(j, "next_pass_at",
			    ps->next ? json_string(iso(ps->next, buf, sizeof buf)) : json_null());
	json_object_set_new(j, "next_pass_reason", str_or_null(ps->next ? ps->next_reason : NULL));
	json_object_set_new(j, "source", source_json(opts->source));
	json_object_set_new(j, "pending", pending_json(ps, ps->finished));
	json_object_set_new(j, "clusters", clusters_json(opts, lp, ps, ps->finished));

	for (i = 0; i < OUT_COUNT; i++)
		json_object_set_new(passes, outcome_names[i], json_integer(tot->passes[i]));
	json_object_set_new(totals, "passes", passes);
	json_object_set_new(totals, "actions_done", json_integer(tot->actions));
	json_object_set_new(j, "totals", totals);
	return j;
}

/* ---- Prometheus textfile ---------------------------------------------------- */

static void metrics_write(FILE *f, const PgcOptions *opts, const Loop *lp, const Pass *ps,
			  const Totals *tot)
{
	const PgcPlan *p = ps->res.plan;
	const PgcSource *src = opts->source;
	size_t i;
	int k;

	metrics_family(f, "pgconverge_reconcile_last_pass_timestamp_seconds", "gauge",
		       "when the last reconcile pass ended");
	metrics_sample(f, "pgconverge_reconcile_last_pass_timestamp_seconds", NULL, "%lld",
		       (long long)ps->finished);
	metrics_family(f, "pgconverge_reconcile_last_pass_duration_seconds", "gauge",
		       "how long the last reconcile pass took");
	metrics_sample(f, "pgconverge_reconcile_last_pass_duration_seconds", NULL, "%.3f",
		       ps->duration_ms / 1000.0);
	metrics_family(f, "pgconverge_reconcile_last_pass_outcome", "gauge",
		       "1 for the outcome of the last reconcile pass, 0 for the others");
	for (k = 0; k < OUT_COUNT; k++)
		metrics_sample(f, "pgconverge_reconcile_last_pass_outcome",
			       METRICS_LABELS("outcome", outcome_names[k]), "%d",
			       ps->outcome == (Outcome)k);
	metrics_family(f, "pgconverge_reconcile_passes_total", "counter",
		       "reconcile passes by outcome, since status.json was created");
	for (k = 0; k < OUT_COUNT; k++)
		metrics_sample(f, "pgconverge_reconcile_passes_total",
			       METRICS_LABELS("outcome", outcome_names[k]), "%lld",
			       (long long)tot->passes[k]);
	metrics_family(f, "pgconverge_reconcile_actions_total", "counter",
		       "actions carried out by reconcile passes");
	metrics_sample(f, "pgconverge_reconcile_actions_total", NULL, "%lld", (long long)tot->actions);
	metrics_family(f, "pgconverge_reconcile_consecutive_failures", "gauge",
		       "failed reconcile passes in a row");
	metrics_sample(f, "pgconverge_reconcile_consecutive_failures", NULL, "%lld",
		       (long long)tot->consecutive_failures);
	if (tot->last_success[0]) {
		struct tm tm = {0};

		if (strptime(tot->last_success, "%Y-%m-%dT%H:%M:%SZ", &tm) != NULL) {
			metrics_family(f, "pgconverge_reconcile_last_success_timestamp_seconds", "gauge",
				       "when a reconcile pass last converged or was held back only by policy");
			metrics_sample(f, "pgconverge_reconcile_last_success_timestamp_seconds", NULL,
				       "%lld", (long long)timegm(&tm));
		}
	}
	metrics_family(f, "pgconverge_reconcile_pending_actions", "gauge",
		       "actions left after the last pass, blocked ones included");
	metrics_sample(f, "pgconverge_reconcile_pending_actions", NULL, "%zu", p ? p->n_actions : 0);
	metrics_family(f, "pgconverge_reconcile_blocked_actions", "gauge",
		       "actions the maintenance policy held back in the last pass");
	metrics_sample(f, "pgconverge_reconcile_blocked_actions", NULL, "%zu",
		       p ? plan_count_blocked(p) : 0);
	if (ps->next) {
		metrics_family(f, "pgconverge_reconcile_next_pass_timestamp_seconds", "gauge",
			       "when the reconcile loop runs its next pass");
		metrics_sample(f, "pgconverge_reconcile_next_pass_timestamp_seconds", NULL, "%lld",
			       (long long)ps->next);
	}
	if (src != NULL && src->kind != NULL) {
		metrics_family(f, "pgconverge_reconcile_source_info", "gauge",
			       "the topology source of the last pass");
		metrics_sample(f, "pgconverge_reconcile_source_info",
			       METRICS_LABELS("kind", src->kind, "path", src->path, "ref", src->ref,
					      "commit", src->commit, "digest", src->digest),
			       "1");
		metrics_family(f, "pgconverge_reconcile_source_stale", "gauge",
			       "1 when the git remote could not be fetched and the last fetched commit was used");
		metrics_sample(f, "pgconverge_reconcile_source_stale", NULL, "%d", src->stale ? 1 : 0);
	}
	if (ps->t == NULL)
		return;
	metrics_family(f, "pgconverge_maintenance_window_open", "gauge",
		       "1 when the cluster's maintenance policy allows restarts now");
	for (i = 0; i < ps->t->n_clusters; i++)
		if (cluster_selected(opts, &ps->t->clusters[i]))
			metrics_sample(f, "pgconverge_maintenance_window_open",
				       METRICS_LABELS("cluster", ps->t->clusters[i].name), "%d",
				       maintenance_window_open(&ps->t->clusters[i].maintenance,
							       ps->finished));
	metrics_family(f, "pgconverge_maintenance_window_next_open_timestamp_seconds", "gauge",
		       "when the cluster's maintenance window next opens (absent: never)");
	for (i = 0; i < ps->t->n_clusters; i++) {
		time_t at = maintenance_window_next_open(&ps->t->clusters[i].maintenance, ps->finished);

		if (cluster_selected(opts, &ps->t->clusters[i]) && at != (time_t)-1)
			metrics_sample(f, "pgconverge_maintenance_window_next_open_timestamp_seconds",
				       METRICS_LABELS("cluster", ps->t->clusters[i].name), "%lld",
				       (long long)at);
	}
	auto_failover_metrics(f, lp->af, lp->topo);
}

/* status_file_write - status.json from j, atomically. 0 or -1 (reported). */
static int status_file_write(const PgcOptions *opts, json_t *j)
{
	char *path = fs_path_join(opts->state_dir, STATUS_FILE);
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
	int rc;

	if (text == NULL || (text = realloc(text, strlen(text) + 2)) == NULL)
		abort();
	strcat(text, "\n");
	/* No secret is in it; node_exporter's user reads the metrics beside it. */
	rc = fs_write_atomic(path, text, strlen(text), 0644, FS_NO_UID, FS_NO_GID, NULL);
	free(text);
	free(path);
	return rc;
}

/*
 * write_status - status.json and pgconverge.prom, each atomically; the
 * status document is kept for the HA updates between passes. 0 or -1
 * (reported).
 */
static int write_status(const PgcOptions *opts, Loop *lp, const Pass *ps, const Totals *tot)
{
	json_t *j = status_json(opts, lp, ps, tot);
	char *path = NULL, *mbuf = NULL;
	size_t mlen = 0;
	FILE *mf;
	int rc = -1;

	json_decref(lp->status);
	lp->status = j;
	if (status_file_write(opts, j) != 0)
		goto cleanup;
	path = fs_path_join(opts->state_dir, METRICS_FILE);
	mf = open_memstream(&mbuf, &mlen);
	if (mf == NULL)
		abort();
	metrics_write(mf, opts, lp, ps, tot);
	fclose(mf);
	if (fs_write_atomic(path, mbuf, mlen, 0644, FS_NO_UID, FS_NO_GID, NULL) != 0)
		goto cleanup;
	rc = 0;
cleanup:
	free(mbuf);
	free(path);
	return rc;
}

/* ---- scheduling and the log -------------------------------------------------- */

static int64_t retry_delay_ms(const PgcOptions *opts, int retries)
{
	int64_t d = RETRY_FIRST_MS;
	int i;

	for (i = 1; i < retries && d < opts->interval_ms; i++)
		d *= 2;
	return d < opts->interval_ms ? d : opts->interval_ms;
}

/* earliest_window - when the first maintenance window a blocked restart waits for opens; 0 none. */
static time_t earliest_window(const Pass *ps)
{
	const PgcPlan *p = ps->res.plan;
	time_t best = 0;
	size_t i;

	for (i = 0; p != NULL && i < p->n_actions; i++) {
		const PgcCluster *c = waits_for_window(ps->t, &p->actions[i], ps->finished);
		time_t at = c ? maintenance_window_next_open(&c->maintenance, ps->finished) : (time_t)-1;

		if (at != (time_t)-1 && (best == 0 || at < best))
			best = at;
	}
	return best;
}

/* schedule - when the next pass runs; returns the delay in ms. */
static int64_t schedule(const PgcOptions *opts, Loop *lp, Pass *ps)
{
	int64_t delay;

	ps->window_opens = earliest_window(ps);
	if (opts->once) {
		ps->next = 0;
		return 0;
	}
	if (ps->outcome == OUT_CONVERGED || ps->outcome == OUT_BLOCKED) {
		lp->retries = 0;
		delay = opts->interval_ms;
		ps->next_reason = "interval";
		/* A restart waiting for the window runs as soon as it opens. */
		if (ps->window_opens != 0 && (int64_t)(ps->window_opens - ps->finished) * 1000 < delay) {
			delay = (int64_t)(ps->window_opens - ps->finished) * 1000;
			delay = delay > 0 ? delay : 0;
			ps->next_reason = "maintenance_window";
		}
	} else {
		lp->retries++;
		delay = retry_delay_ms(opts, lp->retries);
		ps->next_reason = "retry";
	}
	ps->next = ps->finished + (time_t)((delay + 999) / 1000);
	return delay;
}

/* source_id - what identifies the source's content: the commit, or the file's digest. */
static const char *source_id(const PgcSource *s)
{
	if (s == NULL || s->kind == NULL)
		return NULL;
	return s->commit != NULL ? s->commit : s->digest;
}

static void log_source_change(const PgcOptions *opts, Loop *lp)
{
	const PgcSource *s = opts->source;
	const char *id = source_id(s);

	if (id == NULL || (lp->last_source != NULL && strcmp(lp->last_source, id) == 0))
		return;
	if (s->commit != NULL)
		log_info("source: commit %.12s (ref %s, %s)%s%s%s", s->commit, s->ref ? s->ref : "?",
			 s->path ? s->path : "?", s->subject ? ": \"" : "", s->subject ? s->subject : "",
			 s->subject ? "\"" : "");
	else
		log_info("source: %s (%s)", s->path ? s->path : opts->source_name, id);
	free(lp->last_source);
	lp->last_source = strdup(id);
	if (lp->last_source == NULL)
		abort();
}

/* log_pass - one line for the pass; an unchanged quiet pass goes to debug. */
static void log_pass(const PgcOptions *opts, const Loop *lp, const Pass *ps, int64_t delay_ms)
{
	const PgcPlan *p = ps->res.plan;
	char num[24], dur[24], done[24], next[32], win[64] = "";
	const char *json_fields[] = {"pass", num, "outcome", outcome_names[ps->outcome],
				     "duration_ms", dur, "actions_done", done, NULL};
	const char *const *f = opts->log_format == LOG_FORMAT_JSON ? json_fields : NULL;
	bool quiet = lp->have_last && lp->last_outcome == ps->outcome && ps->res.done == 0;
	PgcLogLevel level = quiet ? LOG_DEBUG : LOG_INFO;

	snprintf(num, sizeof num, "%ld", ps->number);
	snprintf(dur, sizeof dur, "%.0f", ps->duration_ms);
	snprintf(done, sizeof done, "%zu", ps->res.done);
	duration_text(delay_ms, next, sizeof next);
	if (ps->window_opens != 0) {
		char at[32];

		snprintf(win, sizeof win, "; window opens %s", iso(ps->window_opens, at, sizeof at));
	}
	switch (ps->outcome) {
	case OUT_CONVERGED:
		log_fields(level, f, "pass %ld converged: %zu action%s done (%.1f s)", ps->number,
			   ps->res.done, ps->res.done == 1 ? "" : "s", ps->duration_ms / 1000.0);
		break;
	case OUT_BLOCKED:
		log_fields(level, f, "pass %ld: %zu action%s done, %zu waiting for the policy%s (%.1f s)",
			   ps->number, ps->res.done, ps->res.done == 1 ? "" : "s",
			   p ? plan_count_blocked(p) : 0, win, ps->duration_ms / 1000.0);
		break;
	case OUT_LOCKED:
		/* lock_acquire() said who holds it; --once simply exits 4. */
		if (!opts->once)
			log_fields(LOG_WARN, f, "pass %ld skipped: another run holds the lock; next "
				   "try in %s", ps->number, next);
		break;
	case OUT_INTERRUPTED:
		log_fields(LOG_INFO, f, "pass %ld cut short by a signal: %s", ps->number, ps->error);
		break;
	default:
		if (opts->once)
			log_fields(LOG_ERROR, f, "pass %ld failed: %s", ps->number, ps->error);
		else
			log_fields(LOG_ERROR, f, "pass %ld failed: %s; next try in %s", ps->number,
				   ps->error, next);
		break;
	}
}

/* ---- the pass itself ------------------------------------------------------------ */

static Outcome outcome_of(int rc, const PgcConvergeResult *res)
{
	if (res->stopped && rc == EXIT_ERROR)
		return OUT_INTERRUPTED;
	return rc == EXIT_OK ? OUT_CONVERGED : rc == EXIT_BLOCKED ? OUT_BLOCKED : OUT_FAILED;
}

/*
 * run_pass - one pass, its status files and its log line; returns its exit
 * code for --once and sets *delay_ms to the wait before the next one.
 */
static int run_pass(const PgcOptions *opts, Loop *lp, int64_t *delay_ms)
{
	PgcConvergeRun run = {.print = false, .journal_source_lazily = true, .stop = &stop_requested};
	PgcLock lock = {.fd = -1, .path = NULL};
	PgcTopology *t = NULL;
	char *status_path = NULL;
	double t0 = mono_ms();
	Totals tot;
	Pass ps;

	memset(&ps, 0, sizeof ps);
	ps.number = ++lp->pass;
	ps.started = time(NULL);
	switch (lock_acquire(opts->state_dir, options_wait_lock_ms(opts), &lock)) {
	case 0:
		break;
	case 1:
		ps.outcome = OUT_LOCKED;
		ps.rc = EXIT_LOCKED;
		break;
	default:
		ps.outcome = OUT_FAILED;
		ps.rc = EXIT_ERROR;
		snprintf(ps.error, sizeof ps.error, "cannot lock state directory \"%s\"", opts->state_dir);
		break;
	}
	if (lock.fd >= 0) {
		status_path = fs_path_join(opts->state_dir, STATUS_FILE);
		totals_read(status_path, &tot);
		t = converge_load_logged(opts, ps.error, sizeof ps.error);
		ps.t = t;
		if (t == NULL) {
			ps.outcome = OUT_FAILED;
			ps.rc = EXIT_ERROR;
			if (ps.error[0] == '\0')
				snprintf(ps.error, sizeof ps.error, "%s: cannot load the topology",
					 opts->source_name);
		} else {
			log_source_change(opts, lp);
			ps.rc = converge_run(opts, t, &run, &ps.res);
			ps.outcome = outcome_of(ps.rc, &ps.res);
			snprintf(ps.error, sizeof ps.error, "%s", ps.res.error);
			auto_failover_after_pass(lp->af, t, ps.res.observed);
		}
	}
	ps.finished = time(NULL);
	ps.duration_ms = mono_ms() - t0;
	*delay_ms = schedule(opts, lp, &ps);
	if (lock.fd >= 0) {
		char now[32];

		tot.passes[ps.outcome]++;
		tot.actions += (json_int_t)ps.res.done;
		if (ps.outcome == OUT_CONVERGED || ps.outcome == OUT_BLOCKED) {
			tot.consecutive_failures = 0;
			snprintf(tot.last_success, sizeof tot.last_success, "%s",
				 iso(ps.finished, now, sizeof now));
			if (ps.outcome == OUT_CONVERGED)
				snprintf(tot.last_converged, sizeof tot.last_converged, "%s", now);
		} else if (ps.outcome == OUT_FAILED) {
			tot.consecutive_failures++;
		}
		if (write_status(opts, lp, &ps, &tot) != 0 && ps.rc == EXIT_OK) {
			ps.rc = EXIT_ERROR;
			ps.outcome = OUT_FAILED;
			snprintf(ps.error, sizeof ps.error, "cannot write the status files");
		}
	}
	log_pass(opts, lp, &ps, *delay_ms);
	lp->last_outcome = ps.outcome;
	lp->have_last = true;
	lock_release(&lock);
	converge_result_free(&ps.res);
	/* Kept for the probes until the next pass loads the file again; a file
	 * that does not load leaves the last good one watched. */
	if (t != NULL) {
		topology_free(lp->topo);
		lp->topo = t;
	}
	free(status_path);
	return ps.rc;
}

int cmd_reconcile(const PgcOptions *opts)
{
	Loop lp = {.started = time(NULL), .af = auto_failover_new(opts->state_dir, opts->cluster)};
	char every[32];
	int64_t delay = 0;
	int pid_fd = -1, rc;

	if (signals_install() != 0) {
		signals_remove();
		return EXIT_ERROR;
	}
	if (opts->once) {
		rc = run_pass(opts, &lp, &delay);
		if (stop_requested && rc == EXIT_OK)
			log_info("stopped by signal %d after the pass", (int)stop_signal);
		goto done;
	}
	rc = pidfile_lock(opts, &pid_fd);
	if (rc != 0) {
		rc = rc == 1 ? EXIT_LOCKED : EXIT_ERROR;
		goto done;
	}
	log_info("reconciling %s every %s (state directory \"%s\", pid %ld)", opts->source_name,
		 duration_text(opts->interval_ms, every, sizeof every), opts->state_dir, (long)getpid());
	while (!stop_requested) {
		hup_requested = 0;
		run_pass(opts, &lp, &delay);
		if (stop_requested)
			break;
		if (hup_requested) {
			/* Asked during the pass: the next one starts at once. */
			log_info("SIGHUP: reading the topology again now");
			lp.retries = 0;
			continue;
		}
		if (sleep_and_probe(opts, &lp, delay)) {
			log_info("the primary of a cluster changed: the next pass runs now");
			lp.retries = 0;
			continue;
		}
		if (hup_requested && !stop_requested) {
			log_info("SIGHUP: reading the topology again now");
			lp.retries = 0;
		}
	}
	log_info("stopped by %s after %ld pass%s", stop_signal == SIGINT ? "SIGINT" : "SIGTERM",
		 lp.pass, lp.pass == 1 ? "" : "es");
	rc = EXIT_OK;
done:
	pidfile_unlock(pid_fd);
	signals_remove();
	free(lp.last_source);
	topology_free(lp.topo);
	json_decref(lp.status);
	auto_failover_free(lp.af);
	return rc;
}
