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
 * The status files are written by cmd/reconcile_status.c, automatic
 * failover between passes is reconcile/ha/auto_failover.c.
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
#include "cmd/reconcile_status.h"
#include "cmd/status.h"
#include "common/clock.h"
#include "common/fsutil.h"
#include "common/lock.h"
#include "common/metrics_http.h"
#include "reconcile/coord/agent.h"
#include "reconcile/engine/apply.h"
#include "reconcile/ha/auto_failover.h"
#include "reconcile/transport/host.h"
#include "reconcile/postgres/plan_conf.h"

const PgcCommandSpec reconcile_spec = {
	.usage = "reconcile " USAGE_SOURCE USAGE_NEWLINE
		 "[--interval DURATION | --once] [--wait-lock DURATION] [--jobs N]" USAGE_NEWLINE
		 "[--cluster NAME] [--state-dir DIR] [--allow-rewind]" USAGE_NEWLINE
		 "[--allow-switchover]" USAGE_NEWLINE
		 "[--require-signed [--allowed-signers FILE]]" USAGE_NEWLINE
		 "[--metrics-listen ADDR:PORT]",
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
		"--metrics-listen ADDR:PORT serves the same metrics over HTTP at /metrics (any\n"
		"other path: 404), with every node's figures as 'status --format prometheus'\n"
		"gives them: connections by state against max_connections, blocks read and hit,\n"
		"I/O time, temporary bytes, commits and rollbacks, database sizes, index and\n"
		"sequential scans and unused indexes of the declared databases, WAL bytes,\n"
		"replication lag, and for nodes on this machine the CPU seconds and storage bytes\n"
		"of the server's processes (from /proc). Each pass observes them and renders the\n"
		"text once; a request is answered from that text without waiting for a pass\n"
		"(503 until the first pass ends). Not with --once.\n"
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
		"primary.\n"
		"\n"
		"With coordination.etcd in the topology, this is the agent of one host (--as\n"
		"HOST): it holds an etcd lease (coordination.etcd.ttl, renewed every ttl/5),\n"
		"publishes its nodes' state under it, and carries out only its own host's\n"
		"actions; the agent that holds a cluster's leader key also carries out the\n"
		"cluster-wide ones (SQL on the primary). Without a live lease a pass applies\n"
		"nothing. Automatic failover is then decided by the leader and written to\n"
		"etcd first; the candidate's agent promotes it, and every agent runs a pass at\n"
		"once (whatever --interval is) when etcd names another primary, so that its\n"
		"replicas follow it. A primary whose agent has had\n"
		"no etcd contact for 3/5 of the ttl and sees no replica streaming stops it\n"
		"(self-fencing), and starts it again only when etcd shows nothing replaced it.\n"
		"\n"
		"--allow-switchover lets each pass switch over to the node 'primary:' names, as\n"
		"apply --allow-switchover does. With coordination.etcd the leader checks the\n"
		"target, writes the switchover to etcd, and the agents of the two hosts carry\n"
		"it out: the old primary's stops it cleanly, the target's promotes it once it\n"
		"replayed the shutdown checkpoint; give it to every agent.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_ALLOW_REWIND | OPT_CLUSTER | OPT_INTERVAL |
		   OPT_ONCE | OPT_WAIT_LOCK | OPT_JOBS | OPT_METRICS_LISTEN | OPT_AS |
		   OPT_ALLOW_SWITCHOVER,
	.exit_codes = "  0   stopped by SIGTERM or SIGINT; with --once: converged\n"
		      "  1   error; with --once: the pass failed or was cut short by a signal\n"
		      "  3   with --once: some actions were blocked by policy\n"
		      "  4   another run holds the state directory's lock (with --once), or\n"
		      "      another reconcile loop runs on this state directory\n",
};

#define PID_FILE "reconcile.pid"
/* The first retry after a failed pass; doubled up to --interval. */
#define RETRY_FIRST_MS 5000

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
	PgcPassOutcome last_outcome;
	bool have_last;
	char *last_source;           /* commit or digest of the last pass, for "source changed" */
	PgcTopology *topo;           /* the last topology that loaded: the probes between passes use it */
	PgcAutoFailover *af;         /* the primaries watched between passes */
	json_t *status;              /* the last status.json written, for HA updates between passes */
	PgcMetricsHttp *http;        /* --metrics-listen: serves the last pass's metrics; NULL without */
	PgcCoordAgent *coord;        /* coordination.etcd: this host's agent; NULL without */
} Loop;

/* coordinated - the last topology declares coordination.etcd: the agent decides, not auto_failover. */
static bool coordinated(const Loop *lp)
{
	return lp->topo != NULL && lp->topo->etcd.set;
}

/* ---- automatic failover between passes ------------------------------------------ */

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
		(void)reconcile_status_file_write(opts, lp->status);
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
		int64_t due;

		if (left <= 0)
			break;
		if (coordinated(lp) && lp->coord != NULL) {
			due = coord_agent_next_tick_in(lp->coord, lp->topo);
			if (due > 0) {
				int64_t w = due < left ? due : (int64_t)left + 1;
				double t0 = mono_ms();

				/* A change in etcd (a decision, a member gone) ends the wait; without
				 * a watch (etcd does not answer), the rest of it is slept. */
				if (coord_agent_wait(lp->coord, lp->topo, w) < 0)
					sleep_until_woken(w - (int64_t)(mono_ms() - t0));
			}
			if (stop_requested || hup_requested || mono_ms() >= deadline)
				break;
			if (coord_agent_tick(lp->coord, lp->topo, &stop_requested))
				return true;
			continue;
		}
		due = auto_failover_next_probe_in(lp->af, lp->topo);
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

/* ---- scheduling and the log -------------------------------------------------- */

/* duration_text - ms as --interval takes it: "30s", "5m", "1500ms". */
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

static int64_t retry_delay_ms(const PgcOptions *opts, int retries)
{
	int64_t d = RETRY_FIRST_MS;
	int i;

	for (i = 1; i < retries && d < opts->interval_ms; i++)
		d *= 2;
	return d < opts->interval_ms ? d : opts->interval_ms;
}

/* earliest_window - when the first maintenance window a blocked restart waits for opens; 0 none. */
static time_t earliest_window(const PgcPass *ps)
{
	const PgcPlan *p = ps->res.plan;
	time_t best = 0;
	size_t i;

	for (i = 0; p != NULL && i < p->n_actions; i++) {
		const PgcCluster *c = reconcile_waits_for_window(ps->t, &p->actions[i], ps->finished);
		time_t at = c ? maintenance_window_next_open(&c->maintenance, ps->finished) : (time_t)-1;

		if (at != (time_t)-1 && (best == 0 || at < best))
			best = at;
	}
	return best;
}

/* schedule - when the next pass runs; returns the delay in ms. */
static int64_t schedule(const PgcOptions *opts, Loop *lp, PgcPass *ps)
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
static void log_pass(const PgcOptions *opts, const Loop *lp, const PgcPass *ps, int64_t delay_ms)
{
	const PgcPlan *p = ps->res.plan;
	char num[24], dur[24], done[24], next[32], win[64] = "";
	const char *json_fields[] = {"pass", num, "outcome", reconcile_outcome_names[ps->outcome],
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

		snprintf(win, sizeof win, "; window opens %s", source_format_time(ps->window_opens, at, sizeof at));
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

/* ---- the /metrics endpoint ------------------------------------------------------ */

/*
 * metrics_publish - the pass's metrics, then every node's as `status
 * --format prometheus` shows them (from the pass's last observation, made
 * with the monitoring figures), become what /metrics answers. Rendered
 * here, once per pass: a request only copies the text.
 */
static void metrics_publish(const PgcOptions *opts, Loop *lp, const PgcPass *ps,
			    const PgcPassTotals *tot)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (lp->http == NULL)
		return;
	f = open_memstream(&text, &len);
	if (f == NULL)
		abort();
	reconcile_metrics_write(f, opts, lp->af, lp->topo, ps, tot);
	if (ps->res.observed != NULL && ps->res.plan != NULL)
		status_prometheus(f, ps->res.observed, ps->res.plan);
	if (fclose(f) != 0)
		abort();
	metrics_http_publish(lp->http, text, len);
}

/* ---- the pass itself ------------------------------------------------------------ */

/*
 * coord_pass_begins - with coordination.etcd: this host's agent (made on
 * the first such pass) ticks with t and becomes apply's filter. false when
 * it has no etcd session: the pass applies nothing.
 */
static bool coord_pass_begins(const PgcOptions *opts, Loop *lp, const PgcTopology *t,
			      PgcConvergeRun *run)
{
	if (lp->coord == NULL) {
		PgcCoordAgentConfig cfg = {host_self(), opts->state_dir, PGC_VERSION, opts->cluster};

		lp->coord = coord_agent_new(&cfg);
	}
	if (!coord_agent_before_pass(lp->coord, t))
		return false;
	run->mine = coord_agent_mine;
	run->mine_arg = lp->coord;
	return true;
}

static PgcPassOutcome outcome_of(int rc, const PgcConvergeResult *res)
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
	PgcConvergeRun run = {.print = false, .journal_source_lazily = true, .stop = &stop_requested,
			      .allow_switchover = opts->allow_switchover};
	PgcLock lock = {.fd = -1, .path = NULL};
	PgcTopology *t = NULL;
	char *status_path = NULL;
	double t0 = mono_ms();
	PgcPassTotals tot;
	PgcPass ps;

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
		status_path = fs_path_join(opts->state_dir, RECONCILE_STATUS_FILE);
		reconcile_totals_read(status_path, &tot);
		t = converge_load_logged(opts, ps.error, sizeof ps.error);
		ps.t = t;
		if (t == NULL) {
			ps.outcome = OUT_FAILED;
			ps.rc = EXIT_ERROR;
			if (ps.error[0] == '\0')
				snprintf(ps.error, sizeof ps.error, "%s: cannot load the topology",
					 opts->source_name);
		} else if (t->etcd.set && !coord_pass_begins(opts, lp, t, &run)) {
			/* No etcd session: this agent acts on nothing (the agent said why). */
			ps.outcome = OUT_BLOCKED;
			ps.rc = EXIT_BLOCKED;
		} else {
			log_source_change(opts, lp);
			ps.rc = converge_run(opts, t, &run, &ps.res);
			ps.outcome = outcome_of(ps.rc, &ps.res);
			snprintf(ps.error, sizeof ps.error, "%s", ps.res.error);
			if (t->etcd.set)
				coord_agent_after_pass(lp->coord, t, ps.res.observed);
			else
				auto_failover_after_pass(lp->af, t, ps.res.observed);
		}
	}
	ps.finished = time(NULL);
	ps.duration_ms = mono_ms() - t0;
	if (t != NULL && t->etcd.set && lp->coord != NULL)
		ps.coordination = coord_agent_status_json(lp->coord);
	*delay_ms = schedule(opts, lp, &ps);
	if (lock.fd >= 0) {
		char now[32];

		tot.passes[ps.outcome]++;
		tot.actions += (json_int_t)ps.res.done;
		if (ps.outcome == OUT_CONVERGED || ps.outcome == OUT_BLOCKED) {
			tot.consecutive_failures = 0;
			snprintf(tot.last_success, sizeof tot.last_success, "%s",
				 source_format_time(ps.finished, now, sizeof now));
			if (ps.outcome == OUT_CONVERGED)
				snprintf(tot.last_converged, sizeof tot.last_converged, "%s", now);
		} else if (ps.outcome == OUT_FAILED) {
			tot.consecutive_failures++;
		}
		if (reconcile_status_write(opts, lp->started, lp->af, lp->topo, &ps, &tot, &lp->status) != 0 && ps.rc == EXIT_OK) {
			ps.rc = EXIT_ERROR;
			ps.outcome = OUT_FAILED;
			snprintf(ps.error, sizeof ps.error, "cannot write the status files");
		}
		metrics_publish(opts, lp, &ps, &tot);
	}
	log_pass(opts, lp, &ps, *delay_ms);
	lp->last_outcome = ps.outcome;
	lp->have_last = true;
	lock_release(&lock);
	converge_result_free(&ps.res);
	json_decref(ps.coordination);
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
	if (opts->metrics_listen != NULL) {
		lp.http = metrics_http_start(opts->metrics_listen);
		if (lp.http == NULL) {
			rc = EXIT_ERROR;
			goto done;
		}
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
	metrics_http_stop(lp.http);
	pidfile_unlock(pid_fd);
	signals_remove();
	free(lp.last_source);
	topology_free(lp.topo);
	json_decref(lp.status);
	auto_failover_free(lp.af);
	coord_agent_free(lp.coord);
	return rc;
}
