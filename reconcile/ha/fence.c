/*
 * reconcile/ha/fence.c - stopping or killing an old primary, or running
 * failover.fence_command (fence.h).
 */
#include "reconcile/ha/fence.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/proc.h"
#include "reconcile/engine/exec.h"
#include "reconcile/ha/ha.h"
#include "reconcile/transport/host.h"
#include "reconcile/pg/pgctl.h"

#define KILL_WAIT_MS 5000
#define FENCE_OUTPUT_MAX 4096

const char *fence_method_name(PgcFenceMethod m)
{
	switch (m) {
	case FENCE_NONE:
		return "none";
	case FENCE_ALREADY_DOWN:
		return "already-down";
	case FENCE_STOPPED:
		return "stopped";
	case FENCE_KILLED:
		return "killed";
	case FENCE_COMMAND:
		return "fence-command";
	}
	return "unknown";
}

/* gone - waits up to ms for pid to disappear; true when it did. */
static bool gone(PgcHost *h, long pid, int ms)
{
	double deadline = clock_ms() + ms;

	for (;;) {
		if (!ha_pid_alive(h, pid))
			return true;
		if (clock_ms() >= deadline)
			return false;
		clock_sleep_ms(20);
	}
}

/* proc_is_postgres_in - pid is named postgres/postmaster and works in dir (realpath). */
static bool proc_is_postgres_in(PgcHost *h, long pid, const char *real_dir)
{
	char comm[64] = "", cwd[PATH_MAX];

	if (host_proc_comm(h, pid, comm, sizeof comm) != 0)
		return false;
	if (strcmp(comm, "postgres") != 0 && strcmp(comm, "postmaster") != 0)
		return false;
	if (host_proc_cwd(h, pid, cwd, sizeof cwd) != 0)
		return false;
	return strcmp(cwd, real_dir) == 0;
}

/* Orphans - what kill_orphans' walk over the host's processes collects. */
typedef struct {
	const char *real;
	long pids[256];
	int n;
} Orphans;

/* kill_orphan - one process of the walk: SIGKILL when it is a postgres of the directory. */
static int kill_orphan(PgcHost *h, long pid, void *arg)
{
	Orphans *o = arg;

	if (pid <= 1)
		return 0;
	if (ha_pid_alive(h, pid) && proc_is_postgres_in(h, pid, o->real) &&
	    host_signal(h, pid, SIGKILL) == 0)
		o->pids[o->n++] = pid;
	return o->n < (int)(sizeof o->pids / sizeof o->pids[0]) ? 0 : 1;
}

/*
 * kill_orphans - SIGKILLs every postgres process working in the data
 * directory: the backends of a postmaster that died keep their client
 * connections until they notice. Returns how many were killed.
 */
static int kill_orphans(PgcHost *h, const char *data_dir)
{
	char *real = host_realpath(h, data_dir);
	Orphans o = {.real = real, .n = 0};

	if (real == NULL)
		return 0;
	(void)host_proc_each(h, kill_orphan, &o);
	free(real);
	for (int i = 0; i < o.n; i++)
		(void)gone(h, o.pids[i], KILL_WAIT_MS);
	return o.n;
}

/* kill_postmaster - SIGKILL to the postmaster after checking it is one; true when gone. */
static bool kill_postmaster(PgcHost *h, const PgcNode *n)
{
	long pid = ha_postmaster_pid(h, n);

	if (pid == 0)
		return true;
	if (host_signal(h, pid, SIGKILL) != 0 && errno != ESRCH) {
		log_warn("could not kill the postmaster %ld of node \"%s\": %s", pid, n->name,
			 strerror(errno));
		return false;
	}
	return gone(h, pid, KILL_WAIT_MS);
}

/* stop_local - pg_ctl stop (fast, then immediate), then SIGKILL. 0 when stopped. */
static int stop_local(PgcHost *h, const PgcCluster *c, const PgcNode *n, const PgcFenceOptions *o,
		      PgcFenceResult *res)
{
	int fast_s = o->fast_timeout_s > 0 ? o->fast_timeout_s : 10;
	int imm_s = o->immediate_timeout_s > 0 ? o->immediate_timeout_s : 5;

	if (ha_postmaster_pid(h, n) == 0) {
		res->method = FENCE_ALREADY_DOWN;
		snprintf(res->detail, sizeof res->detail, "no server was running for \"%s\"",
			 n->data_dir.v);
		return 0;
	}
	if (o->graceful && pgctl_stop(h, c, n, "fast", fast_s) == 0 && ha_postmaster_pid(h, n) == 0) {
		res->method = FENCE_STOPPED;
		res->clean = true;
		snprintf(res->detail, sizeof res->detail, "stopped with a fast shutdown");
		return 0;
	}
	if (pgctl_stop(h, c, n, "immediate", imm_s) == 0 && ha_postmaster_pid(h, n) == 0) {
		res->method = FENCE_STOPPED;
		snprintf(res->detail, sizeof res->detail, "stopped with an immediate shutdown");
		return 0;
	}
	/* Wedged: pg_ctl's signal had no effect in time. */
	if (kill_postmaster(h, n)) {
		res->method = FENCE_KILLED;
		snprintf(res->detail, sizeof res->detail, "killed its postmaster with SIGKILL");
		return 0;
	}
	return -1;
}

/* run_fence_command - failover.fence_command with the node in its environment. */
static int run_fence_command(const PgcCluster *c, const PgcNode *n, int timeout_s,
			     PgcFenceResult *res)
{
	const PgcStrList *fc = &c->failover.fence_command;
	PgcArena *a = arena_new();
	const char **argv = arena_calloc(a, fc->n + 1, sizeof(char *));
	const char *env[5];
	PgcProcSpec spec = {0};
	PgcProcResult pr;
	int rc = -1;

	for (size_t i = 0; i < fc->n; i++)
		argv[i] = fc->items[i].v;
	env[0] = arena_printf(a, "PGC_CLUSTER=%s", c->name);
	env[1] = arena_printf(a, "PGC_NODE=%s", n->name);
	env[2] = arena_printf(a, "PGC_HOST=%s", n->host.v);
	env[3] = arena_printf(a, "PGC_PORT=%lld", n->port.v);
	env[4] = NULL;
	spec.argv = argv;
	spec.env_extra = env;
	spec.timeout_ms = timeout_s * 1000;
	spec.max_output = FENCE_OUTPUT_MAX;
	if (proc_run(&spec, &pr) != 0) {
		snprintf(res->detail, sizeof res->detail, "failover.fence_command could not be started");
		goto cleanup;
	}
	if (pr.status != 0 || pr.timed_out) {
		proc_report_failed(arena_printf(a, "failover.fence_command failed for node \"%s/%s\"",
						  c->name, n->name),
				     argv[0], &pr, res->detail, sizeof res->detail);
	} else {
		res->method = FENCE_COMMAND;
		snprintf(res->detail, sizeof res->detail, "failover.fence_command (%s) succeeded",
			 argv[0]);
		rc = 0;
	}
	proc_result_free(&pr);
cleanup:
	arena_free(a);
	return rc;
}

/* mark_standby - standby.signal, so that a restart cannot make the node a primary again. */
static void mark_standby(PgcHost *h, const PgcNode *n, PgcFenceResult *res)
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t len;
	bool changed = false;

	snprintf(path, sizeof path, "%s/standby.signal", n->data_dir.v);
	if (host_read_file(h, path, &buf, &len, 1024) == 0) {
		free(buf);
		return;
	}
	free(buf);
	if (host_write_file(h, path, "", 0, 0600, &changed) != 0) {
		log_warn("could not write \"%s\": if the old primary is started again it will accept "
			 "writes until pgconverge stops it",
			 path);
		return;
	}
	res->marked_standby = true;
}

int fence_node(const PgcCluster *c, const PgcNode *n, const PgcFenceOptions *opts,
	       PgcFenceResult *res)
{
	PgcHost *h = NULL;
	int rc;

	if (host_is_local(n->host.v))
		h = host_for(n->host.v, c->os_user.v);
	rc = fence_node_on(h, c, n, opts, res);
	host_free(h);
	return rc;
}

int fence_node_on(PgcHost *h, const PgcCluster *c, const PgcNode *n, const PgcFenceOptions *opts,
		  PgcFenceResult *res)
{
	PgcFenceOptions none = {0};
	const PgcFenceOptions *o = opts ? opts : &none;
	bool has_command = c->failover.fence_command.set && c->failover.fence_command.n > 0;
	int cmd_s = o->command_timeout_s > 0 ? o->command_timeout_s : 30;
	double start = clock_ms();
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (h != NULL && stop_local(h, c, n, o, res) == 0) {
		res->orphans_killed = kill_orphans(h, n->data_dir.v);
		if (res->orphans_killed > 0) {
			size_t l = strlen(res->detail);

			snprintf(res->detail + l, sizeof res->detail - l,
				 "; killed %d backend%s left behind", res->orphans_killed,
				 res->orphans_killed == 1 ? "" : "s");
		}
		if (o->mark_standby)
			mark_standby(h, n, res);
		rc = 0;
	} else if (has_command) {
		if (h != NULL)
			log_warn("could not stop node \"%s/%s\": trying failover.fence_command", c->name,
				 n->name);
		rc = run_fence_command(c, n, cmd_s, res);
	} else if (h != NULL) {
		snprintf(res->detail, sizeof res->detail,
			 "the server of \"%s\" could neither be stopped nor killed", n->data_dir.v);
	} else {
		snprintf(res->detail, sizeof res->detail,
			 "node \"%s\" is on host \"%s\", not on this machine, and "
			 "failover.fence_command is not set",
			 n->name, n->host.v);
	}
	res->elapsed_ms = clock_ms() - start;
	if (rc != 0) {
		res->method = FENCE_NONE;
		log_error("could not fence node \"%s/%s\": %s\n"
			  "hint: stop it by hand, or %s failover.fence_command (e.g. a call to the "
			  "host's power or network API)",
			  c->name, n->name, res->detail, has_command ? "fix" : "set");
	} else {
		log_info("fenced node \"%s/%s\": %s (%.0f ms)", c->name, n->name, res->detail,
			 res->elapsed_ms);
	}
	return rc;
}

int fence_unmark(const PgcCluster *c, const PgcNode *n)
{
	PgcHost *h = host_for(n->host.v, c->os_user.v);
	int rc;

	if (h == NULL) {
		log_error("could not remove \"%s/standby.signal\": node \"%s\" is on host \"%s\", "
			  "not on this machine",
			  n->data_dir.v, n->name, n->host.v);
		return -1;
	}
	rc = fence_unmark_on(h, n);
	host_free(h);
	return rc;
}

int fence_unmark_on(PgcHost *h, const PgcNode *n)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/standby.signal", n->data_dir.v);
	switch (host_remove_file(h, path)) {
	case 1:
		return 0;
	case 0:
		break;
	default:
		log_error("could not remove \"%s\": %s", path, strerror(errno));
		return -1;
	}
	/* The removal must survive a crash, or the node comes back as a standby. */
	return host_sync_dir(h, n->data_dir.v);
}
