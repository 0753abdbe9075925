/*
 * reconcile/monitoring/pgbadger.c - a node's pgBadger report (pgbadger.h).
 */
#include "reconcile/monitoring/pgbadger.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/monitoring/pgbadger_files.h"
#include "reconcile/monitoring/plan_monitoring.h"
#include "reconcile/observe/observe_pgbadger.h"
#include "reconcile/pg/pgctl.h"

#define FIND "/usr/bin/find"
#define LIST_TIMEOUT_MS 30000
#define ROTATE_TIMEOUT_MS 30000
/* How long a run waits for the logging collector to switch files. */
#define ROTATE_WAIT_MS 3000
#define SMALL_FILE_MAX (1024 * 1024)

/* run - a program as os_user; its output in *out (arena) when it exits 0, else -1 reported. */
static int run(PgcExecCtx *ctx, const char *const *argv, const char *cwd, int timeout_ms,
	       const char **out)
{
	static const char *const env[] = {"LC_ALL=C", NULL};
	PgcProcSpec spec = {.argv = argv, .env_extra = env, .cwd = cwd, .timeout_ms = timeout_ms};
	PgcProcResult res;
	int rc = -1;

	if (host_run(ctx->host, &spec, &res) != 0)
		return exec_note(ctx, "could not run %s", argv[0]);
	if (res.timed_out)
		exec_fail(ctx, "%s timed out after %d s", argv[0], timeout_ms / 1000);
	else if (res.status != 0)
		exec_fail(ctx, "%s exited with code %d: %s", argv[0], res.status, res.output);
	else
		rc = 0;
	if (rc == 0 && out != NULL)
		*out = arena_strdup(ctx->arena, res.output);
	proc_result_free(&res);
	return rc;
}

/* read_small - a small file's text in arena; NULL when absent or unreadable. */
static const char *read_small(PgcExecCtx *ctx, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	const char *s;

	if (host_read_file(ctx->host, path, &buf, &len, SMALL_FILE_MAX) != 0)
		return NULL;
	s = arena_strndup(ctx->arena, buf, len);
	free(buf);
	return s;
}

static bool same(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * rotate - asks the running server for a new log file and waits (briefly)
 * until current_logfiles names it. A failure only costs freshness: the
 * files already complete are parsed all the same.
 */
static void rotate(PgcExecCtx *ctx, const char *label)
{
	const char *dd = ctx->n->data_dir.v;
	const char *cur = arena_printf(ctx->arena, "%s/current_logfiles", dd);
	const char *before, *pg_ctl = arena_printf(ctx->arena, "%s/pg_ctl", ctx->c->bin_dir.v);
	const char *argv[] = {pg_ctl, "logrotate", "-s", "-D", dd, NULL};
	PgcProcSpec spec = {.argv = argv, .timeout_ms = ROTATE_TIMEOUT_MS};
	PgcProcResult res;
	double until;
	bool ok;

	if (!host_exists(ctx->host, arena_printf(ctx->arena, "%s/postmaster.pid", dd)))
		return;
	before = read_small(ctx, cur);
	if (before == NULL)
		return; /* no logging collector: nobody writes the folder */
	if (host_run(ctx->host, &spec, &res) != 0)
		return;
	ok = !res.timed_out && res.status == 0;
	if (!ok)
		log_warn("node \"%s\": the server's log was not rotated (%s): the report covers the "
			 "log files it had finished before", label,
			 res.timed_out ? "timed out" : res.output);
	proc_result_free(&res);
	if (!ok)
		return;
	for (until = clock_ms() + ROTATE_WAIT_MS; clock_ms() < until; clock_sleep_ms(100))
		if (!same(read_small(ctx, cur), before))
			return;
	log_debug("node \"%s\": current_logfiles did not change within %d ms", label,
		  ROTATE_WAIT_MS);
}

/* list_logs - the log folder's regular files, as os_user (the folder is its, 0700). */
static size_t list_logs(PgcExecCtx *ctx, const char *dir, PgcLogFile **files, int *rc)
{
	const char *argv[] = {FIND, dir, "-maxdepth", "1", "-type", "f", "-printf",
			      "%f\\t%s\\t%T@\\n", NULL};
	const char *out, *start_log = strrchr(PGCTL_LOG_FILE, '/') + 1;
	size_t n;

	*files = NULL;
	*rc = 0;
	if (!host_exists(ctx->host, dir))
		return 0; /* the logging collector has not started yet */
	if (run(ctx, argv, NULL, LIST_TIMEOUT_MS, &out) != 0) {
		*rc = exec_note(ctx, "could not list the log folder \"%s\"", dir);
		return 0;
	}
	n = pgbadger_parse_listing(ctx->arena, out, files);
	/* pg_ctl's own log (its -l file) is the postmaster's stderr, not the collector's. */
	for (size_t i = 0; i < n; i++)
		if (strcmp((*files)[i].name, start_log) == 0)
			(*files)[i--] = (*files)[--n];
	return n;
}

/*
 * prune - removes the report's day folders older than keep days (and the
 * month and year folders they leave empty), inside dir only.
 */
static int prune(PgcExecCtx *ctx, const char *dir, time_t now)
{
	const char *argv[] = {FIND, dir, "-mindepth", "3", "-maxdepth", "3", "-type", "d",
			      "-printf", "%P\\n", NULL};
	const char *out, **dirs = NULL, **old;
	size_t n = 0, cap = 0, n_old;

	if (run(ctx, argv, NULL, LIST_TIMEOUT_MS, &out) != 0)
		return exec_note(ctx, "could not list the report folder \"%s\"", dir);
	for (const char *p = out; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		dirs = arena_grow(ctx->arena, dirs, n, &cap, 16, sizeof(*dirs));
		dirs[n++] = arena_strndup(ctx->arena, p, len);
		p += len + (eol ? 1 : 0);
	}
	n_old = pgbadger_expired(ctx->arena, dirs, n,
				 pgbadger_cutoff(now, ctx->c->monitoring.pgbadger.keep.v), &old);
	for (size_t i = 0; i < n_old; i++) {
		const char *day = arena_printf(ctx->arena, "%s/%s", dir, old[i]);
		const char *month = arena_printf(ctx->arena, "%s/%.7s", dir, old[i]);
		const char *year = arena_printf(ctx->arena, "%s/%.4s", dir, old[i]);

		if (host_remove_tree(ctx->host, dir, day) != 0)
			return exec_note(ctx, "could not remove the old report \"%s\"", day);
		log_info("removed the pgBadger report of %s (older than %lld days)", old[i],
			 ctx->c->monitoring.pgbadger.keep.v);
		if (host_dir_state(ctx->host, month) == 1)
			host_remove_tree(ctx->host, dir, month);
		if (host_dir_state(ctx->host, year) == 1)
			host_remove_tree(ctx->host, dir, year);
	}
	return 0;
}

/* save - the state file: this run, and the complete files parsed (still in the folder). */
static int save(PgcExecCtx *ctx, const char *dir, const PgcObsPgbadger *st)
{
	const char *path = arena_printf(ctx->arena, "%s/%s", dir, PGBADGER_STATE_FILE);
	char *text = observe_pgbadger_render(st);
	int rc;

	if (text == NULL)
		return exec_fail(ctx, "could not render \"%s\"", path);
	rc = host_write_file(ctx->host, path, text, strlen(text), 0640, NULL);
	free(text);
	return rc == 0 ? 0 : exec_note(ctx, "could not write \"%s\"", path);
}

/* remember - the parsed entries whose file is still in the listing, then the new ones. */
static void remember(PgcExecCtx *ctx, PgcObsPgbadger *st, const PgcObsPgbadger *prev,
		     const PgcLogFile *files, size_t n, const PgcLogFile *const *done, size_t n_done)
{
	st->parsed = arena_calloc(ctx->arena, (prev ? prev->n_parsed : 0) + n_done + 1,
				  sizeof(*st->parsed));
	st->n_parsed = 0;
	for (size_t i = 0; prev != NULL && i < prev->n_parsed; i++) {
		bool kept = false, again = false;

		for (size_t j = 0; j < n && !kept; j++)
			kept = strcmp(files[j].name, prev->parsed[i].name) == 0;
		for (size_t j = 0; j < n_done && !again; j++)
			again = strcmp(done[j]->name, prev->parsed[i].name) == 0;
		if (kept && !again)
			st->parsed[st->n_parsed++] = prev->parsed[i];
	}
	for (size_t j = 0; j < n_done; j++)
		st->parsed[st->n_parsed++] =
			(PgcObsPgbadgerFile){done[j]->name, done[j]->size, done[j]->mtime};
}

int pgbadger_run(PgcExecCtx *ctx)
{
	const PgcAction *a = ctx->a;
	const PgcPayload *pl = &a->payload;
	const char *label, *dir, *root, *logdir, **argv, *fmt = "stderr";
	const char *cur_text, **current = NULL;
	const PgcLogFile **pick;
	PgcObsPgbadger *prev, st = {0};
	PgcLogFile *files;
	size_t n_files, n_cur = 0, n_pick, k = 0;
	time_t now;
	char iso[CLOCK_UTC_SIZE];
	int rc;

	if (exec_need_host(ctx) != 0)
		return -1;
	label = exec_node_label(ctx, ctx->n);
	if (pl->path == NULL || pl->target == NULL || pl->n_params == 0 ||
	    strcmp(pl->params[0], PGC_PGBADGER) != 0)
		return exec_fail(ctx, "action \"%s\" does not name the log folder, the report folder "
				 "and %s", a->id, PGC_PGBADGER);
	dir = pl->target;
	logdir = pl->path;
	root = exec_parent_dir(ctx->arena, dir);

	/* 1. a run that finished already (a killed apply, a saved plan applied late). */
	prev = observe_pgbadger_read(ctx->arena, ctx->host, ctx->c, ctx->n);
	if (prev != NULL && prev->exists && prev->error == NULL &&
	    (double)time(NULL) - prev->last_run_epoch < (double)ctx->c->monitoring.pgbadger.every.ms / 1000) {
		ctx->nothing_to_do = true;
		return 0;
	}
	if (prev != NULL && prev->error != NULL)
		return exec_fail(ctx, "%s", prev->error);

	/* 2. the folders. */
	if (host_mkdir_p(ctx->host, root, 0750) != 0 || host_mkdir_p(ctx->host, dir, 0750) != 0)
		return exec_note(ctx, "could not create the report folder \"%s\"", dir);

	/* 3. what was logged until now into a complete file. */
	rotate(ctx, label);

	/* 4. the complete files not parsed yet, oldest first. */
	now = time(NULL);
	n_files = list_logs(ctx, logdir, &files, &rc);
	if (rc != 0)
		return -1;
	cur_text = read_small(ctx, arena_printf(ctx->arena, "%s/current_logfiles", ctx->n->data_dir.v));
	if (cur_text != NULL)
		n_cur = pgbadger_current(ctx->arena, cur_text, &current);
	for (size_t i = 0; i + 1 < pl->n_params; i++)
		if (strcmp(pl->params[i], "--format") == 0)
			fmt = pl->params[i + 1];
	pick = arena_calloc(ctx->arena, n_files + 1, sizeof(*pick));
	n_pick = pgbadger_pick(files, n_files, fmt, current, n_cur, cur_text != NULL,
			       prev ? prev->parsed : NULL, prev ? prev->n_parsed : 0,
			       (double)now - (double)ctx->c->monitoring.pgbadger.keep.v * 86400, pick);

	rc = prune(ctx, dir, now);
	if (rc == 0 && n_pick > 0) {
		argv = arena_calloc(ctx->arena, pl->n_params + n_pick + 1, sizeof(char *));
		for (size_t i = 0; i < pl->n_params; i++)
			argv[k++] = pl->params[i];
		for (size_t i = 0; i < n_pick; i++)
			argv[k++] = arena_printf(ctx->arena, "%s/%s", logdir, pick[i]->name);
		argv[k] = NULL;
		log_info("node \"%s\": pgBadger parses %zu log file%s into \"%s\"", label, n_pick,
			 n_pick == 1 ? "" : "s", dir);
		rc = run(ctx, argv, dir, ctx->action_timeout_s * 1000, NULL);
	} else if (rc == 0) {
		log_info("node \"%s\": no complete log file to parse yet", label);
	}

	/* 5. the index, and the state: also after a failure, with its error. */
	if (host_write_file(ctx->host, arena_printf(ctx->arena, "%s/index.html", root),
			    pl->content ? pl->content : "", pl->content ? strlen(pl->content) : 0,
			    0640, NULL) != 0)
		rc = exec_note(ctx, "could not write \"%s/index.html\"", root);
	/* The end of the run: the next one is due every after it, however long this one took. */
	now = time(NULL);
	st.last_run = clock_utc_format(now, 0, CLOCK_UTC_ISO, iso, sizeof iso);
	st.last_run_epoch = (double)now;
	st.ok = rc == 0;
	st.last_error = rc == 0 ? NULL : ctx->error;
	remember(ctx, &st, prev, files, n_files, rc == 0 ? pick : NULL, rc == 0 ? n_pick : 0);
	if (save(ctx, dir, &st) != 0)
		return -1;
	return rc;
}
