/*
 * reconcile/haproxy/haproxy.c - starting, reloading and steering HAProxy
 * (haproxy.h).
 */
#include "reconcile/haproxy/haproxy.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/haproxy/haproxy_conf.h"
#include "reconcile/observe/observe_haproxy.h"
#include "reconcile/transport/host.h"

#define HAPROXY_BIN "/usr/sbin/haproxy"
#define CHECK_TIMEOUT_MS 15000
#define START_TIMEOUT_MS 30000
#define POLL_MS 100

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* bin - HAProxy's program on h: Debian's, else the one in PATH. */
static const char *bin(PgcHost *h)
{
	return host_reaches(h, HAPROXY_BIN) ? HAPROXY_BIN : "haproxy";
}

int haproxy_write_cfg(PgcHost *h, const PgcCluster *c, const char *content)
{
	PgcArena *a = arena_new();
	bool changed;
	int rc = -1;

	if (host_mkdir_p(h, c->haproxy.dir.v, 0700) != 0)
		goto cleanup;
	if (host_write_file(h, haproxy_path(a, c, HAPROXY_CFG_NAME), content, strlen(content), 0600,
			    &changed) != 0)
		goto cleanup;
	rc = 0;
cleanup:
	arena_free(a);
	return rc;
}

long haproxy_master(PgcHost *h, const PgcCluster *c)
{
	PgcArena *a = arena_new();
	char *buf = NULL, tmp[32], comm[64];
	size_t len = 0;
	long pid = 0;

	if (host_read_file(h, haproxy_path(a, c, HAPROXY_PID_NAME), &buf, &len, 64) == 0) {
		memcpy(tmp, buf, len < sizeof tmp - 1 ? len : sizeof tmp - 1);
		tmp[len < sizeof tmp - 1 ? len : sizeof tmp - 1] = '\0';
		pid = atol(tmp);
	}
	free(buf);
	arena_free(a);
	if (pid <= 0 || pid > INT_MAX || host_proc_state(h, pid) != HOST_PROC_LIVE ||
	    host_proc_comm(h, pid, comm, sizeof comm) != 0 || strcmp(comm, "haproxy") != 0)
		return 0;
	return pid;
}

/* loaded - what `show info` says now: 0 with *digest (in a) and *worker; -1 no answer. */
static int loaded(PgcArena *a, PgcHost *h, const PgcCluster *c, const char **digest, long *worker)
{
	PgcObsHaproxy o = {0};
	char *out, err[256];

	if (observe_haproxy_cli(h, haproxy_path(a, c, HAPROXY_SOCK_NAME), "show info",
				HAPROXY_CLI_TIMEOUT_MS, &out, err, sizeof err) != 0)
		return -1;
	observe_haproxy_parse_info(a, out, &o);
	free(out);
	*digest = o.digest;
	*worker = o.worker_pid;
	return 0;
}

/* wait_loaded - until a worker other than old_worker shows digest; 0, or -1 after timeout_s. */
static int wait_loaded(PgcHost *h, const PgcCluster *c, const char *digest, long old_worker,
		       int timeout_s)
{
	double deadline = clock_ms() + timeout_s * 1000.0;
	PgcArena *a = arena_new();
	int rc = -1;

	do {
		const char *d = NULL;
		long w = 0;

		if (loaded(a, h, c, &d, &w) == 0 && d != NULL && strcmp(d, digest) == 0 &&
		    w != old_worker) {
			rc = 0;
			break;
		}
		sleep_ms(POLL_MS);
	} while (clock_ms() < deadline);
	arena_free(a);
	return rc;
}

typedef struct {
	long master;
	long *out;
	size_t n, max;
} Children;

static int child_of(PgcHost *h, long pid, void *arg)
{
	Children *k = arg;

	if (k->n < k->max && host_proc_parent(h, pid) == k->master)
		k->out[k->n++] = pid;
	return 0;
}

/* workers - master's children (its workers) into out; their number, -1 when unknown. */
static ssize_t workers(PgcHost *h, long master, long *out, size_t max)
{
	ssize_t n = host_proc_children(h, master, out, max);
	Children k = {master, out, 0, max};

	if (n >= 0)
		return n;
	if (host_proc_each(h, child_of, &k) != 0)
		return -1;
	return (ssize_t)k.n;
}

int haproxy_reload_wait(PgcHost *h, const PgcCluster *c, long master, const char *digest,
			int timeout_s)
{
	double deadline = clock_ms() + timeout_s * 1000.0;
	PgcArena *a = arena_new();
	long old[64];
	ssize_t n_old = workers(h, master, old, sizeof old / sizeof *old);
	int rc = -1;

	log_info("reloading HAProxy of cluster \"%s\" (master pid %ld)", c->name, master);
	if (host_signal(h, master, SIGUSR2) != 0) {
		log_error("could not signal HAProxy's master (pid %ld) of cluster \"%s\": %m", master,
			  c->name);
		goto cleanup;
	}
	do {
		const char *d = NULL;
		long w = 0;
		bool fresh = true;

		if (loaded(a, h, c, &d, &w) == 0 && d != NULL && strcmp(d, digest) == 0) {
			for (ssize_t i = 0; i < n_old; i++)
				fresh = fresh && old[i] != w;
			if (fresh) {
				rc = 0;
				break;
			}
		}
		sleep_ms(POLL_MS);
	} while (clock_ms() < deadline);
	if (rc != 0)
		log_error("HAProxy of cluster \"%s\" shows no new worker with the configuration %s "
			  "after %d s", c->name, digest, timeout_s);
cleanup:
	arena_free(a);
	return rc;
}

/* check_cfg - haproxy -c on the written file, as the os_user. */
static int check_cfg(PgcExecCtx *ctx, PgcHost *h, const char *path)
{
	const char *argv[] = {bin(h), "-c", "-q", "-f", path, NULL};
	PgcProcSpec spec = {.argv = argv, .cwd = ctx->c->haproxy.dir.v,
			    .timeout_ms = CHECK_TIMEOUT_MS};
	PgcProcResult res;
	int rc = 0;

	if (host_run(h, &spec, &res) != 0)
		return exec_note(ctx, "could not run %s", argv[0]);
	if (res.status != 0 || res.timed_out) {
		proc_report_failed("the check of haproxy.cfg", argv[0], &res, ctx->error,
				   sizeof ctx->error);
		rc = -1;
	}
	proc_result_free(&res);
	return rc;
}

/* start - haproxy -W -D -f cfg as the os_user, in its own session. */
static int start(PgcExecCtx *ctx, PgcHost *h, const char *path)
{
	const char *argv[] = {bin(h), "-W", "-D", "-f", path, NULL};
	PgcProcSpec spec = {.argv = argv, .cwd = ctx->c->haproxy.dir.v,
			    .timeout_ms = START_TIMEOUT_MS, .detach = true};
	PgcProcResult res;
	int rc = 0;

	log_info("starting HAProxy of cluster \"%s\" (%s)", ctx->c->name, path);
	if (host_run(h, &spec, &res) != 0)
		return exec_note(ctx, "could not run %s", argv[0]);
	if (res.status != 0 || res.timed_out) {
		proc_report_failed("HAProxy's start", argv[0], &res, ctx->error, sizeof ctx->error);
		rc = -1;
	}
	proc_result_free(&res);
	return rc;
}

/*
 * prepare - the host, and the payload's haproxy.cfg checked (haproxy -c, as
 * haproxy.cfg.new) then renamed into place; *digest the digest it carries.
 */
static PgcHost *prepare(PgcExecCtx *ctx, const char **digest)
{
	const PgcPayload *pl = &ctx->a->payload;
	const char *want = haproxy_path(ctx->arena, ctx->c, HAPROXY_CFG_NAME);
	const char *next = arena_printf(ctx->arena, "%s.new", want);
	bool changed;
	PgcHost *h;

	if (pl->path == NULL || pl->content == NULL || strcmp(pl->path, want) != 0) {
		exec_fail(ctx, "cannot run \"%s\": the plan does not carry %s", ctx->a->id, want);
		return NULL;
	}
	*digest = observe_haproxy_digest_of(ctx->arena, pl->content);
	if (*digest == NULL) {
		exec_fail(ctx, "cannot run \"%s\": its haproxy.cfg carries no digest", ctx->a->id);
		return NULL;
	}
	h = host_for(haproxy_host_name(ctx->c), ctx->c->os_user.v);
	if (h == NULL) {
		exec_fail(ctx, "cannot run \"%s\": HAProxy's host \"%s\" is not this machine",
			  ctx->a->id, haproxy_host_name(ctx->c));
		return NULL;
	}
	/* Checked under another name first: a file HAProxy refuses never replaces
	 * the one a restart would load. */
	if (host_mkdir_p(h, ctx->c->haproxy.dir.v, 0700) != 0 ||
	    host_write_file(h, next, pl->content, strlen(pl->content), 0600, &changed) != 0 ||
	    check_cfg(ctx, h, next) != 0) {
		exec_note(ctx, "haproxy.cfg of cluster \"%s\" not applied", ctx->c->name);
		host_free(h);
		return NULL;
	}
	if (host_rename(h, next, pl->path) != 0 || host_sync_dir(h, ctx->c->haproxy.dir.v) != 0) {
		exec_fail(ctx, "could not rename \"%s\" to \"%s\": %m", next, pl->path);
		host_free(h);
		return NULL;
	}
	return h;
}

/* start_or_reload - the shared body: start when nothing runs, else reload when asked. */
static int start_or_reload(PgcExecCtx *ctx, bool reload)
{
	const char *digest = NULL, *d = NULL;
	long pid, worker = 0;
	PgcHost *h = prepare(ctx, &digest);
	int rc = -1;

	if (h == NULL)
		return -1;
	pid = haproxy_master(h, ctx->c);
	if (pid == 0) {
		if (start(ctx, h, ctx->a->payload.path) != 0)
			goto cleanup;
	} else if (loaded(ctx->arena, h, ctx->c, &d, &worker) == 0 && d != NULL &&
		   strcmp(d, digest) == 0) {
		ctx->nothing_to_do = true; /* it runs with this structure already */
		rc = 0;
		goto cleanup;
	} else if (!reload) {
		ctx->nothing_to_do = true; /* started meanwhile; the next pass compares */
		rc = 0;
		goto cleanup;
	} else {
		log_info("reloading HAProxy of cluster \"%s\" (master pid %ld)", ctx->c->name, pid);
		if (host_signal(h, pid, SIGUSR2) != 0) {
			exec_fail(ctx, "could not signal HAProxy's master (pid %ld): %m", pid);
			goto cleanup;
		}
	}
	if (wait_loaded(h, ctx->c, digest, worker, ctx->ready_timeout_s) != 0) {
		exec_fail(ctx, "HAProxy of cluster \"%s\" does not show the configuration %s after "
			       "%d s", ctx->c->name, digest, ctx->ready_timeout_s);
		goto cleanup;
	}
	rc = 0;
cleanup:
	host_free(h);
	return rc;
}

int haproxy_start_run(PgcExecCtx *ctx)
{
	return start_or_reload(ctx, false);
}

int haproxy_reload_run(PgcExecCtx *ctx)
{
	return start_or_reload(ctx, true);
}

int haproxy_send(PgcHost *h, const PgcCluster *c, const char *cmd)
{
	PgcArena *a = arena_new();
	char *out = NULL, err[512];
	int rc = -1;

	log_debug("HAProxy of cluster \"%s\": %s", c->name, cmd);
	if (observe_haproxy_cli(h, haproxy_path(a, c, HAPROXY_SOCK_NAME), cmd,
				HAPROXY_CLI_TIMEOUT_MS, &out, err, sizeof err) != 0) {
		log_error("HAProxy of cluster \"%s\" did not take \"%s\": %s", c->name, cmd, err);
		goto cleanup;
	}
	for (char *p = out; *p; p++)
		if (*p != '\n' && *p != ' ' && *p != '\r') {
			out[strcspn(out, "\n")] = '\0';
			log_error("HAProxy of cluster \"%s\" refused \"%s\": %s", c->name, cmd, p);
			goto cleanup;
		}
	rc = 0;
cleanup:
	free(out);
	arena_free(a);
	return rc;
}

int haproxy_servers_run(PgcExecCtx *ctx)
{
	const PgcPayload *pl = &ctx->a->payload;
	const char *digest = NULL, *d = NULL;
	long worker;
	PgcHost *h;
	int rc = -1;

	for (size_t i = 0; i < pl->n_params; i++)
		if (!haproxy_command_ok(pl->params[i]))
			return exec_fail(ctx, "cannot run \"%s\": \"%s\" is not a server state command",
					 ctx->a->id, pl->params[i]);
	if ((h = prepare(ctx, &digest)) == NULL)
		return -1;
	if (pl->n_params == 0) {
		rc = 0; /* only the file */
		goto cleanup;
	}
	if (loaded(ctx->arena, h, ctx->c, &d, &worker) != 0 || d == NULL || strcmp(d, digest) != 0) {
		exec_fail(ctx, "HAProxy of cluster \"%s\" does not run the configuration %s: the "
			       "next pass reloads or starts it", ctx->c->name, digest);
		goto cleanup;
	}
	for (size_t i = 0; i < pl->n_params; i++) {
		if (haproxy_send(h, ctx->c, pl->params[i]) != 0) {
			exec_note(ctx, "HAProxy of cluster \"%s\" refused \"%s\"", ctx->c->name,
				  pl->params[i]);
			goto cleanup;
		}
		log_info("HAProxy of cluster \"%s\": %s", ctx->c->name, pl->params[i]);
	}
	rc = 0;
cleanup:
	host_free(h);
	return rc;
}
