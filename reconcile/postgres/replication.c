/*
 * reconcile/postgres/replication.c - ACT_CREATE_SLOT, ACT_DROP_SLOT and ACT_CLONE.
 *
 * A replica is made by copying its upstream with pg_basebackup into an
 * absent or empty data directory, then marking it a standby
 * (standby.signal). Its primary_conninfo and primary_slot_name live in the
 * managed include file, which the plan's next config action for the node
 * rewrites: the copy still holds the upstream's.
 *
 * The replication password reaches pg_basebackup only through a passfile
 * named by PGPASSFILE in the child's environment: never argv, never
 * PGPASSWORD. The passfile is created 0600 for os_user beside the data
 * directory (the data directory must be empty for pg_basebackup); it is
 * the replica's own passfile (plan_passfile_path), which its
 * primary_conninfo names, so it stays.
 *
 * Interrupted clones. A run killed during pg_basebackup leaves a partial
 * copy (and pg_basebackup itself may run on: its parent's death does not
 * stop it). So a marker file beside the data directory
 * (observe_clone_marker_path: pg_basebackup needs the directory itself
 * empty) is written before the copy starts and removed once the copy is
 * complete and marked a standby. While it names the directory, the
 * directory's content is our own unfinished copy: the next clone stops the
 * pg_basebackup processes the killed run left copying into it, empties it
 * and copies again. A folder the marker does not name is never emptied.
 */
#include "reconcile/postgres/replication.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fstree.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "reconcile/engine/exec.h"
#include "reconcile/postgres/config.h"
#include "reconcile/postgres/initdb.h"
#include "reconcile/observe/observe.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/engine/secret.h"
#include "reconcile/postgres/plan_conf.h"
#include "reconcile/observe/observe_parse.h"

int replication_create_slot(PgcExecCtx *ctx)
{
	const PgcPayload *pl = &ctx->a->payload;

	if (ctx->n == NULL || pl->target == NULL)
		return exec_fail(ctx, "action \"%s\" names no node or no slot", ctx->a->id);
	return replication_create_slot_node(ctx, pl->target, pl->sql, pl->n_params, pl->params);
}

int replication_create_slot_node(PgcExecCtx *ctx, const char *slot, const char *sql,
				 size_t n_params, const char **sql_params)
{
	const char *params[1] = {slot};
	PGresult *r = NULL;
	PgcPgError e;
	PGconn *conn;
	int rc = -1;

	conn = exec_connect(ctx, ctx->n, NULL);
	if (conn == NULL)
		return -1;
	if (pgsql_query(
		conn, "SELECT slot_type FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
		1, params, 0, &r, &e) != 0) {
		exec_fail(ctx, "could not look for slot \"%s\" on node \"%s\": %s (SQLSTATE %s)",
			   slot, exec_node_label(ctx, ctx->n), e.message, e.sqlstate);
		goto cleanup;
	}
	if (PQntuples(r) > 0) {
		if (strcmp(PQgetvalue(r, 0, 0), "physical") != 0) {
			exec_fail(ctx,
				   "slot \"%s\" on node \"%s\" exists but is a %s slot\n"
				   "hint: drop it, or rename the replica node",
				   slot, exec_node_label(ctx, ctx->n), PQgetvalue(r, 0, 0));
			goto cleanup;
		}
		ctx->nothing_to_do = true;
		rc = 0;
		goto cleanup;
	}
	/* The plan's statement, or one that reserves WAL at once: the replica
	 * needs it from the start of its copy on. */
	if (sql != NULL)
		rc = pgsql_query(conn, sql, (int)n_params, sql_params, ctx->action_timeout_s * 1000,
				 NULL, &e);
	else
		rc = pgsql_query(conn,
				 "SELECT pg_catalog.pg_create_physical_replication_slot($1, true)",
				 1, params, ctx->action_timeout_s * 1000, NULL, &e);
	if (rc != 0) {
		rc = -1;
		exec_fail(ctx, "could not create slot \"%s\" on node \"%s\": %s (SQLSTATE %s)",
			   slot, exec_node_label(ctx, ctx->n), e.message, e.sqlstate);
		goto cleanup;
	}
	log_info("created replication slot \"%s\" on node \"%s\"", slot,
		 exec_node_label(ctx, ctx->n));
	rc = 0;
cleanup:
	PQclear(r);
	PQfinish(conn);
	return rc;
}

/* The pause between two looks at a slot that is still in use. */
#define DROP_SLOT_POLL_MS 100

/*
 * slot_user - who holds an active slot: "pid N (application A from ADDR)",
 * or NULL when it is not in use (or gone). Owned by ctx->arena.
 */
static const char *slot_user(PgcExecCtx *ctx, PGconn *conn, const char *slot, PgcPgError *e,
			     bool *failed)
{
	const char *params[1] = {slot};
	const char *user = NULL;
	PGresult *r = NULL;

	*failed = pgsql_query(conn,
			      "SELECT s.active_pid, coalesce(a.application_name, ''), "
			      "coalesce(host(a.client_addr), 'local') "
			      "FROM pg_catalog.pg_replication_slots s "
			      "LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = s.active_pid "
			      "WHERE s.slot_name = $1 AND s.active",
			      1, params, 0, &r, e) != 0;
	if (!*failed && PQntuples(r) > 0)
		user = arena_printf(ctx->arena, "pid %s (application \"%s\" from %s)",
				    PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
	PQclear(r);
	return user;
}

int replication_drop_slot(PgcExecCtx *ctx)
{
	const char *slot = ctx->a->payload.target;
	const char *params[1] = {slot};
	double deadline = clock_ms() + (double)ctx->ready_timeout_s * 1000.0;
	const char *user = NULL;
	PGresult *r = NULL;
	PgcPgError e;
	PGconn *conn;
	bool failed;
	int rc = -1;

	if (ctx->n == NULL || slot == NULL)
		return exec_fail(ctx, "action \"%s\" names no node or no slot", ctx->a->id);
	conn = exec_connect(ctx, ctx->n, NULL);
	if (conn == NULL)
		return -1;
	for (;;) {
		PQclear(r);
		r = NULL;
		if (pgsql_query(conn,
				"SELECT slot_type FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
				1, params, 0, &r, &e) != 0) {
			exec_fail(ctx, "could not look for slot \"%s\" on node \"%s\": %s (SQLSTATE %s)",
				   slot, exec_node_label(ctx, ctx->n), e.message, e.sqlstate);
			goto cleanup;
		}
		if (PQntuples(r) == 0) {
			ctx->nothing_to_do = true;
			rc = 0;
			goto cleanup;
		}
		if (strcmp(PQgetvalue(r, 0, 0), "physical") != 0) {
			exec_fail(ctx, "refusing to drop slot \"%s\" on node \"%s\": it is a %s slot",
				   slot, exec_node_label(ctx, ctx->n), PQgetvalue(r, 0, 0));
			goto cleanup;
		}
		user = slot_user(ctx, conn, slot, &e, &failed);
		if (failed) {
			exec_fail(ctx, "could not look at slot \"%s\" on node \"%s\": %s (SQLSTATE %s)",
				   slot, exec_node_label(ctx, ctx->n), e.message, e.sqlstate);
			goto cleanup;
		}
		/* Dropping a slot in use fails (55006): the walsender may take a moment to go. */
		if (user == NULL) {
			if (pgsql_query(conn, "SELECT pg_catalog.pg_drop_replication_slot($1)", 1, params,
					ctx->action_timeout_s * 1000, NULL, &e) == 0)
				break;
			if (strcmp(e.sqlstate, "55006") != 0 && strcmp(e.sqlstate, "42704") != 0) {
				exec_fail(ctx, "could not drop slot \"%s\" on node \"%s\": %s (SQLSTATE %s)",
					   slot, exec_node_label(ctx, ctx->n), e.message, e.sqlstate);
				goto cleanup;
			}
		}
		if (clock_ms() >= deadline) {
			exec_fail(ctx,
				   "slot \"%s\" on node \"%s\" is still in use after %d s%s%s\n"
				   "hint: the replica it is named after should stream from its new "
				   "upstream; look at its pg_stat_wal_receiver and server log",
				   slot, exec_node_label(ctx, ctx->n), ctx->ready_timeout_s,
				   user ? ", by " : "", user ? user : "");
			goto cleanup;
		}
		clock_sleep_ms(DROP_SLOT_POLL_MS);
	}
	log_info("dropped replication slot \"%s\" on node \"%s\"", slot,
		 exec_node_label(ctx, ctx->n));
	rc = 0;
cleanup:
	PQclear(r);
	PQfinish(conn);
	return rc;
}

/*
 * file_holds - 1 when path (on the context's host, at most max bytes) is
 * there and holds what test (NULL: anything) looks for, 0 when it does not
 * or is absent, -1 when it cannot be read (reported).
 */
static int file_holds(PgcExecCtx *ctx, const char *path, size_t max,
		      bool (*test)(PgcExecCtx *ctx, const char *text))
{
	char *buf = NULL;
	size_t len;
	int r = host_read_file(ctx->host, path, &buf, &len, max);

	if (r == 0)
		r = test == NULL || test(ctx, buf) ? 1 : 0;
	else if (r == 1)
		r = 0;
	free(buf);
	return r;
}

/* file_exists - 1 present, 0 absent, -1 error (reported), on the context's host. */
static int file_exists(PgcExecCtx *ctx, const char *path)
{
	return file_holds(ctx, path, 1024 * 1024, NULL);
}

/*
 * write_clone_passfile - the replica's own passfile (plan_passfile_path,
 * beside its data directory, 0600, owned by os_user), written before the
 * copy so that pg_basebackup finds the password through PGPASSFILE and
 * nothing is left behind by a killed run but the file the node keeps.
 */
static int write_clone_passfile(PgcExecCtx *ctx, const PgcNode *up, const char *password,
				const char **path)
{
	char *text = config_passfile_text(ctx, up, ctx->c->replication.user.v, password);
	bool changed;
	int rc;

	*path = plan_passfile_path(ctx->arena, ctx->n->data_dir.v);
	if (text == NULL)
		return exec_fail(ctx, "cannot write passfile \"%s\": the replication password has a "
				  "line break, which a passfile cannot hold", *path);
	rc = host_write_file(ctx->host, *path, text, strlen(text), 0600, &changed);
	secret_free(text);
	if (rc != 0)
		return exec_note(ctx, "could not write passfile \"%s\"", *path);
	return 0;
}

/* basebackup_argv - the plan's argv (ctx->a), or the one reconcile.md describes. */
static const char **basebackup_argv(PgcExecCtx *ctx, const PgcNode *up)
{
	const PgcCluster *c = ctx->c;
	const char **argv;
	bool bad = false;
	size_t k = 0;

	/* Only a plan's action carries an argv (checked); HA flows use the default. */
	if (ctx->a != NULL) {
		argv = exec_payload_argv(ctx, "pg_basebackup", &bad);
		if (argv != NULL || bad)
			return argv;
	}
	argv = arena_calloc(ctx->arena, 20, sizeof(char *));
	argv[k++] = arena_printf(ctx->arena, "%s/pg_basebackup", c->bin_dir.v);
	argv[k++] = "-D";
	argv[k++] = ctx->n->data_dir.v;
	argv[k++] = "-h";
	argv[k++] = up->host.v;
	argv[k++] = "-p";
	argv[k++] = arena_printf(ctx->arena, "%lld", up->port.v);
	argv[k++] = "-U";
	argv[k++] = c->replication.user.v;
	argv[k++] = "-X";
	argv[k++] = "stream";
	argv[k++] = "-c";
	argv[k++] = "fast";
	if (c->replication.slots.v) {
		argv[k++] = "-S";
		argv[k++] = plan_slot_name(ctx->arena, ctx->n->name);
	}
	argv[k++] = "--no-password";
	argv[k] = NULL;
	return argv;
}

/* run_basebackup - pg_basebackup from upstream into the (empty) data directory. */
static int run_basebackup(PgcExecCtx *ctx, const PgcNode *up, const char *passfile)
{
	const char **argv = basebackup_argv(ctx, up);
	const char *env[2] = {NULL, NULL};
	PgcProcSpec spec = {0};
	PgcProcResult res;
	int rc = -1;

	if (argv == NULL)
		return -1;
	if (passfile != NULL)
		env[0] = arena_printf(ctx->arena, "PGPASSFILE=%s", passfile);
	spec.argv = argv;
	spec.env_extra = env;
	spec.run_as = ctx->c->os_user.v;
	spec.timeout_ms = ctx->action_timeout_s * 1000;
	if (host_run(ctx->host, &spec, &res) != 0)
		return exec_note(ctx, "could not run pg_basebackup");
	if (res.status != 0 || res.timed_out)
		proc_report_failed(arena_printf(ctx->arena,
						  "could not copy node \"%s\" into \"%s\"",
						  exec_node_label(ctx, up), ctx->n->data_dir.v),
				     argv[0], &res, ctx->error, sizeof(ctx->error));
	else
		rc = 0;
	proc_result_free(&res);
	return rc;
}

/* ---- interrupted clones ---------------------------------------------------- */

/* marker_text - the marker's content: the line observe_clone_marker_names() looks for, and why. */
static const char *marker_text(PgcExecCtx *ctx)
{
	char at[CLOCK_UTC_SIZE];

	clock_utc_format(time(NULL), 0, CLOCK_UTC_ISO, at, sizeof at);
	return arena_printf(ctx->arena,
			    "# pgconverge: a copy into the data directory below began at %s and has\n"
			    "# not finished. While this file names the folder, pgconverge takes its\n"
			    "# content for an unfinished copy: the next apply empties it and copies\n"
			    "# again. Remove this file only together with the folder's content.\n"
			    "node=%s\n"
			    "data_dir=%s\n",
			    at, exec_node_label(ctx, ctx->n), ctx->n->data_dir.v);
}

static bool names_this_node(PgcExecCtx *ctx, const char *text)
{
	return observe_clone_marker_names(text, ctx->n->data_dir.v);
}

/* marker_state - 1 when the marker names this node's data directory, 0 not, -1 error. */
static int marker_state(PgcExecCtx *ctx, const char *marker)
{
	return file_holds(ctx, marker, 64 * 1024, names_this_node);
}

static bool says_copied(PgcExecCtx *ctx, const char *text)
{
	(void)ctx;
	return strncmp(text, "copied=", 7) == 0 || strstr(text, "\ncopied=") != NULL;
}

/*
 * marker_copied - 1 when the marker records that pg_basebackup finished
 * ("copied=" line), 0 not, -1 error. standby.signal cannot tell: a copy
 * from a standby (a cascaded replica) carries the upstream's own.
 */
static int marker_copied(PgcExecCtx *ctx, const char *marker)
{
	return file_holds(ctx, marker, 64 * 1024, says_copied);
}

/* marker_remove - the copy is complete: the marker goes, durably. */
static int marker_remove(PgcExecCtx *ctx, const char *marker)
{
	int saved;

	if (host_remove_file(ctx->host, marker) < 0) {
		saved = errno;
		return exec_fail(ctx, "could not remove clone marker \"%s\": %s", marker,
				  strerror(saved));
	}
	if (host_sync_dir(ctx->host, exec_parent_dir(ctx->arena, marker)) != 0)
		return exec_note(ctx, "could not sync the folder of \"%s\"", marker);
	return 0;
}

/* cmdline_target - the -D/--pgdata argument of a pg_basebackup command line, or NULL. */
static const char *cmdline_target(const char *args, size_t len)
{
	const char *arg0 = args, *base = strrchr(arg0, '/'), *target = NULL;
	size_t off;

	if (strcmp(base ? base + 1 : arg0, "pg_basebackup") != 0)
		return NULL;
	for (off = strlen(args) + 1; off < len; off += strlen(args + off) + 1) {
		const char *arg = args + off, *next = args + off + strlen(arg) + 1;

		if ((strcmp(arg, "-D") == 0 || strcmp(arg, "--pgdata") == 0) && next < args + len)
			target = next;
		else if (strncmp(arg, "-D", 2) == 0 && arg[2] != '\0')
			target = arg + 2;
		else if (strncmp(arg, "--pgdata=", 9) == 0)
			target = arg + 9;
	}
	return target;
}

/*
 * live_run - the pid of a live pgconverge (other than this one) that pid
 * descends from, or 0: then pid belongs to a run that is gone.
 */
static pid_t live_run(PgcHost *h, pid_t pid)
{
	char name[64];
	int depth;

	for (depth = 0; depth < 8 && pid > 1; depth++) {
		name[0] = '\0';
		pid = (pid_t)host_proc_parent(h, pid);
		if (pid != 0)
			(void)host_proc_comm(h, pid, name, sizeof name);
		if (pid > 1 && pid != getpid() && strcmp(name, "pgconverge") == 0)
			return pid;
	}
	return 0;
}

/* Scan - what basebackup_scan's walk over the host's processes collects. */
typedef struct {
	const char *want;
	pid_t *pids;
	size_t max, found;
} Scan;

/* scan_one - one process of the walk: kept when it is a pg_basebackup copying into want. */
static int scan_one(PgcHost *h, long pid, void *arg)
{
	Scan *x = arg;
	char args[8192], cwd[4096];
	const char *target;
	char *abs;
	ssize_t len;
	int crc;

	if ((len = host_proc_cmdline(h, pid, args, sizeof args)) <= 0 ||
	    (target = cmdline_target(args, (size_t)len)) == NULL)
		return 0;
	crc = host_proc_cwd(h, pid, cwd, sizeof cwd);
	if (target[0] != '/' && crc != 0)
		return 0;
	if (crc != 0)
		cwd[0] = '\0';
	abs = fs_path_resolve(target[0] == '/' ? "/" : cwd, target);
	if (abs != NULL && strcmp(abs, x->want) == 0)
		x->pids[x->found++] = (pid_t)pid;
	free(abs);
	return x->found < x->max ? 0 : 1;
}

/*
 * basebackup_scan - the pids of pg_basebackup processes copying into dir
 * (their -D resolved against their working folder), at most max, on the
 * context's host.
 */
static size_t basebackup_scan(PgcExecCtx *ctx, const char *dir, pid_t *pids, size_t max)
{
	Scan x = {.pids = pids, .max = max, .found = 0};
	char *want = fs_path_resolve("/", dir);

	if (want != NULL && max > 0) {
		x.want = want;
		(void)host_proc_each(ctx->host, scan_one, &x);
	}
	free(want);
	return x.found;
}

/*
 * stop_orphans - stops the pg_basebackup processes still copying into dir
 * for a run that is gone: a killed run's copy, and the WAL streaming child
 * that pg_basebackup forks and leaves running (holding the slot, forever)
 * when it is itself killed. Their copy is about to be thrown away. One
 * that belongs to a live pgconverge run fails the action instead.
 * 1 when something was stopped, 0 nothing ran, -1 error (reported).
 */
static int stop_orphans(PgcExecCtx *ctx, const char *dir)
{
	struct timespec nap = {0, 200 * 1000 * 1000};
	pid_t pids[16], owner;
	size_t n, i;
	int round;

	for (round = 0; (n = basebackup_scan(ctx, dir, pids, 16)) > 0; round++) {
		for (i = 0; i < n; i++) {
			if ((owner = live_run(ctx->host, pids[i])) != 0)
				return exec_fail(ctx,
						  "another pgconverge run (pid %ld) is copying into \"%s\" "
						  "(pg_basebackup pid %ld)\nhint: let it finish; runs on "
						  "the same clusters should share one state directory",
						  (long)owner, dir, (long)pids[i]);
			if (round == 0)
				log_warn("stopping pg_basebackup (pid %ld), left copying into \"%s\" "
					 "by an interrupted run",
					 (long)pids[i], dir);
			(void)host_signal(ctx->host, pids[i], round < 10 ? SIGTERM : SIGKILL);
		}
		if (round == 50)
			return exec_fail(ctx, "pg_basebackup (pid %ld) still copies into \"%s\" after "
					  "SIGKILL", (long)pids[0], dir);
		nanosleep(&nap, NULL);
	}
	return round > 0 ? 1 : 0;
}

/*
 * wait_slot_free - waits until the replica's slot on up has no walsender:
 * the one of a stopped pg_basebackup takes a moment to notice. 0, or -1
 * (reported).
 */
static int wait_slot_free(PgcExecCtx *ctx, const PgcNode *up)
{
	const char *params[1] = {plan_slot_name(ctx->arena, ctx->n->name)};
	struct timespec nap = {0, 200 * 1000 * 1000};
	PGresult *r = NULL;
	PgcPgError e;
	PGconn *conn = exec_connect(ctx, up, NULL);
	long busy = 0;
	int i;

	if (conn == NULL)
		return -1;
	for (i = 0; i < 100; i++) {
		if (pgsql_query(conn,
				"SELECT active_pid FROM pg_catalog.pg_replication_slots "
				"WHERE slot_name = $1 AND active",
				1, params, 0, &r, &e) != 0) {
			PQfinish(conn);
			return exec_fail(ctx, "could not look at slot \"%s\" on node \"%s\": %s "
					  "(SQLSTATE %s)", params[0], exec_node_label(ctx, up),
					  e.message, e.sqlstate);
		}
		busy = PQntuples(r) > 0 ? atol(PQgetvalue(r, 0, 0)) : 0;
		PQclear(r);
		r = NULL;
		if (busy == 0)
			break;
		nanosleep(&nap, NULL);
	}
	PQfinish(conn);
	if (busy != 0)
		return exec_fail(ctx, "slot \"%s\" on node \"%s\" is still in use by pid %ld",
				  params[0], exec_node_label(ctx, up), busy);
	return 0;
}

/* server_running - true when postmaster.pid in dir names a live process. */
static bool server_running(PgcExecCtx *ctx, const char *dir)
{
	char *buf = NULL;
	size_t len;
	long pid = 0;

	if (host_read_file(ctx->host, arena_printf(ctx->arena, "%s/postmaster.pid", dir), &buf,
			   &len, 64 * 1024) == 0)
		pid = atol(buf);
	free(buf);
	return pid > 0 && host_proc_state(ctx->host, pid) != HOST_PROC_GONE;
}

/*
 * restart_interrupted - dir holds the copy of a run that stopped before it
 * finished. 1: the copy had finished (the marker says "copied=") and only
 * the last steps were left; 0: dir was emptied for a new copy; -1: error
 * (reported).
 */
static int restart_interrupted(PgcExecCtx *ctx, const PgcNode *up, const char *dir,
			       const char *marker)
{
	int r;

	if (server_running(ctx, dir))
		return exec_fail(ctx,
				  "refusing to copy into \"%s\" for node \"%s\": a server runs on "
				  "the unfinished copy there\nhint: stop it, then apply again",
				  dir, exec_node_label(ctx, ctx->n));
	r = stop_orphans(ctx, dir);
	if (r < 0 || (r == 1 && ctx->c->replication.slots.v && wait_slot_free(ctx, up) != 0))
		return -1;
	r = marker_copied(ctx, marker);
	if (r < 0)
		return exec_note(ctx, "could not read clone marker \"%s\"", marker);
	if (r == 1)
		return 1;
	if (host_dir_state(ctx->host, dir) <= 1)
		return 0; /* absent or empty: nothing to remove */
	log_warn("removing the unfinished copy in \"%s\" left by an interrupted run", dir);
	/* Through descriptors: a link planted in the copy (pg_tblspc, or a
	 * folder swapped for one meanwhile) is removed, never followed. The
	 * data directory itself stays: it may be a mount point. */
	if (host_empty_dir(ctx->host, dir) != 0)
		return exec_note(ctx, "could not empty \"%s\"", dir);
	return 0;
}

/* clone_into - creates the folders, writes the replica's passfile, copies. */
static int clone_into(PgcExecCtx *ctx, const PgcNode *up, const PgcSecret *secret,
		      const char *marker)
{
	const char *dir = ctx->n->data_dir.v;
	const char *parent = exec_parent_dir(ctx->arena, dir);
	const char *text, *passfile = NULL;
	char *pw = NULL, err[512];
	bool changed;
	int rc;

	if (host_mkdir_p(ctx->host, parent, 0755) != 0 || host_mkdir_p(ctx->host, dir, 0700) != 0)
		return exec_note(ctx, "could not create data directory \"%s\"", dir);
	/* Before the first byte is copied: from here on a kill leaves a partial copy. */
	text = marker_text(ctx);
	if (host_write_file(ctx->host, marker, text, strlen(text), 0600, &changed) != 0)
		return exec_note(ctx, "could not write clone marker \"%s\"", marker);
	if (secret->kind != SECRET_NONE) {
		pw = secret_resolve(secret, "replication password", err, sizeof(err));
		if (pw == NULL)
			return exec_fail(ctx, "cannot copy node \"%s\": %s",
					  exec_node_label(ctx, up), err);
		rc = write_clone_passfile(ctx, up, pw, &passfile);
		secret_free(pw);
		if (rc != 0)
			return -1;
	}
	rc = run_basebackup(ctx, up, passfile);
	/* The copy is whole: say so in the marker, for a run killed from here on. */
	if (rc == 0) {
		text = arena_printf(ctx->arena, "%scopied=%ld\n", text, (long)time(NULL));
		if (host_write_file(ctx->host, marker, text, strlen(text), 0600, &changed) != 0)
			return exec_note(ctx, "could not update clone marker \"%s\"", marker);
	}
	return rc;
}

/* finish_clone - standby.signal, and a server log of its own (the copy holds the upstream's). */
static int finish_clone(PgcExecCtx *ctx)
{
	const char *dir = ctx->n->data_dir.v;
	const char *sig_path = arena_printf(ctx->arena, "%s/standby.signal", dir);
	const char *log_dir = arena_printf(ctx->arena, "%s/%s", dir, PGCTL_LOG_DIR);
	const char *log_path = arena_printf(ctx->arena, "%s/%s", dir, PGCTL_LOG_FILE);
	bool changed;

	if (host_write_file(ctx->host, sig_path, "", 0, 0600, &changed) != 0)
		return exec_note(ctx, "could not write \"%s\"", sig_path);
	if (host_mkdir_p(ctx->host, log_dir, 0700) != 0 ||
	    host_write_file(ctx->host, log_path, "", 0, 0600, &changed) != 0)
		return exec_note(ctx, "could not write \"%s\"", log_path);
	return 0;
}

int replication_clone(PgcExecCtx *ctx)
{
	if (exec_need_host(ctx) != 0)
		return -1;
	return replication_clone_node(ctx, ctx->a->payload.upstream, &ctx->a->payload.secret);
}

int replication_clone_node(PgcExecCtx *ctx, const char *upname, const PgcSecret *secret)
{
	const char *dir, *marker;
	const PgcNode *up;
	int kind, r;

	if (secret == NULL || secret->kind == SECRET_NONE)
		secret = &ctx->c->replication.password;
	dir = ctx->n->data_dir.v;
	/* "CLUSTER/NODE": a standby cluster's primary copies another cluster's. */
	up = upname ? topology_node_ref(ctx->t, ctx->c, upname) : cluster_upstream(ctx->c, ctx->n);
	if (up == NULL)
		return exec_fail(ctx,
				  "cannot copy node \"%s\": upstream \"%s\" is not in the cluster",
				  exec_node_label(ctx, ctx->n), upname ? upname : "(none)");
	marker = observe_clone_marker_path(ctx->arena, dir);
	r = marker_state(ctx, marker);
	if (r < 0)
		return exec_note(ctx, "could not read clone marker \"%s\"", marker);
	if (r == 1) {
		r = restart_interrupted(ctx, up, dir, marker);
		if (r < 0)
			return -1;
		if (r == 1) /* complete: killed after the copy, before the marker went */
			return finish_clone(ctx) != 0 ? -1 : marker_remove(ctx, marker);
	}
	kind = initdb_data_dir_usable(ctx, dir, "copy into");
	if (kind < 0)
		return -1;
	if (kind == 2) {
		/* Done before, or copied by a run that stopped before standby.signal. */
		r = file_exists(ctx, arena_printf(ctx->arena, "%s/standby.signal", dir));
		if (r < 0)
			return exec_note(ctx, "could not look for standby.signal in \"%s\"", dir);
		if (r == 1) {
			ctx->nothing_to_do = true;
			return 0;
		}
		r = file_exists(ctx, arena_printf(ctx->arena, "%s/backup_label", dir));
		if (r < 0)
			return exec_note(ctx, "could not look for backup_label in \"%s\"", dir);
		if (r == 0)
			return exec_fail(
			    ctx,
			    "refusing to copy into \"%s\" for node \"%s\": it holds a "
			    "PostgreSQL data directory that is not a standby\n"
			    "hint: pgconverge never deletes a data directory; move it away "
			    "to have the node copied again",
			    dir, exec_node_label(ctx, ctx->n));
		return finish_clone(ctx);
	}
	if (clone_into(ctx, up, secret, marker) != 0)
		return -1;
	if (finish_clone(ctx) != 0 || marker_remove(ctx, marker) != 0)
		return -1;
	log_info("copied node \"%s\" into \"%s\" for standby \"%s\"", exec_node_label(ctx, up),
		 dir, exec_node_label(ctx, ctx->n));
	return 0;
}
