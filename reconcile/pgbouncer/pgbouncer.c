/*
 * reconcile/pgbouncer/pgbouncer.c - PgBouncer's executors and front-door
 * hooks (pgbouncer.h).
 */
#include "reconcile/pgbouncer/pgbouncer.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/observe/observe_pgbouncer.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/pgbouncer/pgbouncer_conf.h"

#define PGBOUNCER_BIN "/usr/sbin/pgbouncer"
#define ADMIN_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 10000

/* pooler_host - the host of c's pooler, or NULL (reported) when it is not this machine. */
static PgcHost *pooler_host(const PgcCluster *c)
{
	PgcHost *h = host_is_local(pgbouncer_host(c)) ? host_for(pgbouncer_host(c), c->os_user.v)
						      : NULL;

	if (h == NULL)
		log_error("the PgBouncer of cluster \"%s\" runs on \"%s\", not on this machine",
			  c->name, pgbouncer_host(c));
	return h;
}

/* running - the pooler's pid when it runs, else 0. */
static long running(PgcHost *h, const PgcCluster *c)
{
	PgcArena *a = arena_new();
	char *buf = NULL, comm[64];
	size_t len;
	long pid = 0;

	if (host_read_file(h, pgbouncer_path(a, c, PGBOUNCER_PIDFILE), &buf, &len, 64) == 0)
		pid = strtol(buf, NULL, 10);
	free(buf);
	arena_free(a);
	if (pid <= 0 || host_proc_state(h, pid) != HOST_PROC_LIVE ||
	    host_proc_comm(h, pid, comm, sizeof comm) != 0 || strcmp(comm, "pgbouncer") != 0)
		return 0;
	return pid;
}

/* admin - runs cmds on the console in turn; 0, or -1 with err. "not paused" is no failure. */
static int admin(PgcHost *h, const PgcCluster *c, const char *const *cmds, char *err, size_t len)
{
	PGconn *conn = pgbouncer_admin_connect(h, c, 0, err, len);
	int rc = 0;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		PQfinish(conn);
		return -1;
	}
	for (; rc == 0 && *cmds != NULL; cmds++)
		if (pgbouncer_admin_query(conn, *cmds, ADMIN_TIMEOUT_MS, NULL, err, len) != 0 &&
		    !(strcmp(*cmds, "RESUME") == 0 && strstr(err, "not paused") != NULL)) {
			char what[64];

			snprintf(what, sizeof what, "%s", *cmds);
			snprintf(err + strlen(err), len - strlen(err), " (%s)", what);
			rc = -1;
		}
	PQfinish(conn);
	return rc;
}

/* paused_mark - writes (on) or removes the paused marker; errors are logged, not fatal. */
static void paused_mark(PgcHost *h, const PgcCluster *c, bool on, const char *what)
{
	PgcArena *a = arena_new();
	const char *path = pgbouncer_path(a, c, PGBOUNCER_PAUSED);
	bool changed;

	if (on)
		(void)host_write_file(h, path, what, strlen(what), 0600, &changed);
	else if (host_remove_file(h, path) < 0)
		log_warn("cannot remove \"%s\": %s", path, strerror(errno));
	arena_free(a);
}

/*
 * reload_running - cmds on the console of the running pooler pid. A console
 * that refuses the admin password (admin.pass was made anew, the pooler
 * still has the old userlist) takes it after SIGHUP, which makes PgBouncer
 * read its files as RELOAD does; then once more.
 */
static int reload_running(PgcHost *h, const PgcCluster *c, long pid, const char *const *cmds,
			  char *err, size_t len)
{
	if (admin(h, c, cmds, err, len) == 0)
		return 0;
	if (host_signal(h, pid, SIGHUP) != 0)
		return -1;
	clock_sleep_ms(300);
	return admin(h, c, cmds, err, len);
}

/* admin_pass_ensure - dir (0700) and admin.pass (0600), generated once. */
static int admin_pass_ensure(PgcArena *a, PgcHost *h, const PgcCluster *c)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *path = pgbouncer_path(a, c, PGBOUNCER_ADMIN_PASS);
	unsigned char raw[32];
	char pass[sizeof raw + 2];
	bool changed;
	int rc;

	if (host_mkdir_p(h, c->pgbouncer.dir.v, 0700) != 0)
		return -1;
	if (host_exists(h, path))
		return 0;
	if (RAND_bytes(raw, sizeof raw) != 1) {
		log_error("cannot generate the password of PgBouncer's admin user: no randomness");
		return -1;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		pass[i] = alphabet[raw[i] % 64];
	pass[sizeof raw] = '\n';
	pass[sizeof raw + 1] = '\0';
	rc = host_write_file(h, path, pass, sizeof raw + 1, 0600, &changed);
	explicit_bzero(raw, sizeof raw);
	explicit_bzero(pass, sizeof pass);
	return rc;
}

/*
 * write_files - dir, admin.pass, pgbouncer.ini (ini) and userlist.txt (read
 * from the primary of c named primary; the roles of topology_roles_view(t, c)). *changed: the ini or the userlist
 * changed; *ini_changed: the ini did.
 */
static int write_files(PgcArena *a, PgcHost *h, const PgcTopology *t, const PgcCluster *c,
		       const char *ini, const char *primary, bool *changed, bool *ini_changed,
		       char *err, size_t len)
{
	const PgcNode *p = cluster_node(c, primary);
	PGconn *conn = NULL;
	char *pass = NULL, *users = NULL;
	bool absent, ch = false;
	int rc = -1;

	*changed = *ini_changed = false;
	if (admin_pass_ensure(a, h, c) != 0) {
		snprintf(err, len, "cannot prepare %s", c->pgbouncer.dir.v);
		return -1;
	}
	if (host_write_file(h, pgbouncer_path(a, c, PGBOUNCER_INI), ini, strlen(ini), 0600,
			    ini_changed) != 0) {
		snprintf(err, len, "cannot write %s/%s", c->pgbouncer.dir.v, PGBOUNCER_INI);
		return -1;
	}
	if (p == NULL) {
		snprintf(err, len, "no node \"%s\" to read the roles from", primary);
		return -1;
	}
	if ((pass = pgbouncer_admin_pass(h, c, &absent, err, len)) == NULL)
		goto cleanup;
	conn = pgsql_connect(pgsql_node_conninfo(a, c, p, NULL), 0, err, len);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		goto cleanup;
	/* a standby cluster's: its source's roles, which its leader replays */
	if ((users = pgbouncer_userlist(conn, topology_roles_view(a, t, c), pass, 0, err, len)) == NULL)
		goto cleanup;
	if (host_write_file(h, pgbouncer_path(a, c, PGBOUNCER_USERLIST), users, strlen(users), 0600,
			    &ch) != 0) {
		snprintf(err, len, "cannot write %s/%s", c->pgbouncer.dir.v, PGBOUNCER_USERLIST);
		goto cleanup;
	}
	*changed = *ini_changed || ch;
	rc = 0;
cleanup:
	PQfinish(conn);
	pgbouncer_secret_free(pass);
	pgbouncer_secret_free(users);
	return rc;
}

/* wait_ready - the pooler runs and its console answers, within timeout_s. */
static int wait_ready(PgcHost *h, const PgcCluster *c, int timeout_s, char *err, size_t len)
{
	static const char *const show[] = {"SHOW VERSION", NULL};
	double deadline = clock_ms() + timeout_s * 1000.0;

	for (;;) {
		if (running(h, c) > 0 && admin(h, c, show, err, len) == 0)
			return 0;
		if (clock_ms() > deadline)
			return -1;
		clock_sleep_ms(50);
	}
}

static int start(PgcHost *h, const PgcCluster *c, int timeout_s, char *err, size_t len)
{
	PgcArena *a = arena_new();
	const char *ini = pgbouncer_path(a, c, PGBOUNCER_INI);
	const char *argv[] = {host_reaches(h, PGBOUNCER_BIN) ? PGBOUNCER_BIN : "pgbouncer", "-d", ini,
			      NULL};
	PgcProcSpec spec = {.argv = argv, .cwd = c->pgbouncer.dir.v, .timeout_ms = 15000,
			    .detach = true};
	PgcProcResult res;
	int rc = -1;

	log_info("starting PgBouncer of cluster \"%s\" on %s:%lld", c->name,
		 c->pgbouncer.listen_address.v, c->pgbouncer.port.v);
	if (host_run(h, &spec, &res) != 0) {
		snprintf(err, len, "cannot run %s", argv[0]);
		goto cleanup;
	}
	if (res.status != 0 || res.timed_out) {
		proc_report_failed("PgBouncer start", argv[0], &res, err, len);
		proc_result_free(&res);
		goto cleanup;
	}
	proc_result_free(&res);
	if (wait_ready(h, c, timeout_s, err, len) != 0) {
		snprintf(err + strlen(err), len - strlen(err),
			 "%sPgBouncer did not answer within %d s (see %s/%s)", err[0] ? "; " : "",
			 timeout_s, c->pgbouncer.dir.v, PGBOUNCER_LOGFILE);
		goto cleanup;
	}
	rc = 0;
cleanup:
	arena_free(a);
	return rc;
}

/* stop - SIGTERM (PgBouncer's immediate shutdown), SIGKILL after STOP_TIMEOUT_MS. */
static void stop(PgcHost *h, const PgcCluster *c)
{
	long pid = running(h, c);
	double deadline = clock_ms() + STOP_TIMEOUT_MS;
	bool killed = false;

	if (pid == 0)
		return;
	log_info("stopping PgBouncer of cluster \"%s\" (pid %ld)", c->name, pid);
	(void)host_signal(h, pid, SIGTERM);
	while (host_proc_state(h, pid) == HOST_PROC_LIVE) {
		if (clock_ms() > deadline) {
			if (killed)
				return; /* the start that follows reports it */
			(void)host_signal(h, pid, SIGKILL);
			killed = true;
			deadline = clock_ms() + STOP_TIMEOUT_MS;
		}
		clock_sleep_ms(20);
	}
}

/* ---- executors ------------------------------------------------------------ */

/*
 * ctx_host - the pooler's host: ctx->host when the caller gave one (tests
 * give a fake), else the pooler's own (the actions are cluster-wide, so
 * apply gives none). *own: the caller frees it.
 */
static PgcHost *ctx_host(PgcExecCtx *ctx, bool *own)
{
	PgcHost *h;

	*own = ctx->host == NULL;
	if (!*own)
		return ctx->host;
	if ((h = pooler_host(ctx->c)) == NULL)
		exec_note(ctx, "the pooler's host \"%s\" is not this machine", pgbouncer_host(ctx->c));
	return h;
}

int pgbouncer_config_run(PgcExecCtx *ctx)
{
	/* RESUME: a switchover that died may have left it paused (dir/paused) */
	static const char *const reload[] = {"RELOAD", "RESUME", NULL};
	static const char *const reconnect[] = {"RELOAD", "RECONNECT", "RESUME", NULL};
	const PgcPayload *pl = &ctx->a->payload;
	bool own, changed, ini_changed;
	PgcHost *h = ctx_host(ctx, &own);
	long pid;
	char err[512] = "";
	int rc = -1;

	if (h == NULL)
		return -1;
	if (write_files(ctx->arena, h, ctx->t, ctx->c, pl->content, pl->target, &changed, &ini_changed, err,
			sizeof err) != 0) {
		exec_fail(ctx, "cannot write the files of PgBouncer (cluster \"%s\"): %s",
			  ctx->c->name, err);
		goto cleanup;
	}
	if ((pid = running(h, ctx->c)) > 0) {
		if (reload_running(h, ctx->c, pid, ini_changed ? reconnect : reload, err, sizeof err) != 0) {
			exec_fail(ctx, "cannot reload PgBouncer (cluster \"%s\"): %s", ctx->c->name, err);
			goto cleanup;
		}
		paused_mark(h, ctx->c, false, NULL);
		log_info("PgBouncer of cluster \"%s\" reloaded: it points at \"%s\"", ctx->c->name,
			 pl->target);
	} else if (!changed) {
		ctx->nothing_to_do = true;
	}
	rc = 0;
cleanup:
	if (own)
		host_free(h);
	return rc;
}

int pgbouncer_start_run(PgcExecCtx *ctx)
{
	bool own;
	PgcHost *h = ctx_host(ctx, &own);
	char err[1024] = "";
	int rc = 0;

	if (h == NULL)
		return -1;
	if (running(h, ctx->c) > 0)
		ctx->nothing_to_do = true;
	else if (start(h, ctx->c, ctx->ready_timeout_s, err, sizeof err) != 0)
		rc = exec_fail(ctx, "cannot start PgBouncer (cluster \"%s\"): %s", ctx->c->name, err);
	else
		paused_mark(h, ctx->c, false, NULL); /* a new process is not paused */
	if (own)
		host_free(h);
	return rc;
}

int pgbouncer_restart_run(PgcExecCtx *ctx)
{
	const PgcPayload *pl = &ctx->a->payload;
	bool own, changed, ini_changed;
	PgcHost *h = ctx_host(ctx, &own);
	char err[1024] = "";
	int rc = -1;

	if (h == NULL)
		return -1;
	if (write_files(ctx->arena, h, ctx->t, ctx->c, pl->content, pl->target, &changed, &ini_changed, err,
			sizeof err) != 0) {
		exec_fail(ctx, "cannot write the files of PgBouncer (cluster \"%s\"): %s",
			  ctx->c->name, err);
		goto cleanup;
	}
	stop(h, ctx->c);
	if (start(h, ctx->c, ctx->ready_timeout_s, err, sizeof err) != 0) {
		exec_fail(ctx, "cannot restart PgBouncer (cluster \"%s\"): %s", ctx->c->name, err);
		goto cleanup;
	}
	paused_mark(h, ctx->c, false, NULL);
	rc = 0;
cleanup:
	if (own)
		host_free(h);
	return rc;
}

/* ---- front door ------------------------------------------------------------- */

bool pgbouncer_declared(const PgcCluster *c)
{
	return c->pgbouncer.set && c->pgbouncer.dir.v != NULL;
}

/* pool_sum - the column name of a SHOW POOLS result, summed over its rows (0 when absent). */
static long pool_sum(PGresult *r, const char *name)
{
	int f = PQfnumber(r, name);
	long sum = 0;

	for (int i = 0; f >= 0 && i < PQntuples(r); i++)
		sum += strtol(PQgetvalue(r, i, f), NULL, 10);
	return sum;
}

/*
 * wait_drained - a pooler that was paused already (by a run that stopped
 * before its RESUME) holds its clients once no server connection is busy
 * any more (SHOW POOLS: sv_active and sv_tested 0, what PAUSE itself waits
 * for), within deadline. 0, or -1 with err (conn is then to be closed).
 */
static int wait_drained(PGconn *conn, double deadline, int timeout_ms, char *err, size_t len)
{
	for (;;) {
		PGresult *r = NULL;
		double left = deadline - clock_ms();
		long busy;

		if (pgbouncer_admin_query(conn, "SHOW POOLS", left > 200 ? (int)left : 200, &r, err,
					  len) != 0)
			return -1;
		busy = pool_sum(r, "sv_active") + pool_sum(r, "sv_tested");
		PQclear(r);
		if (busy == 0)
			return 0;
		if (clock_ms() > deadline) {
			snprintf(err, len, "%ld server connection%s still busy after %d ms", busy,
				 busy == 1 ? "" : "s", timeout_ms);
			return -1;
		}
		clock_sleep_ms(50);
	}
}

int pgbouncer_pause(const PgcCluster *c, const char *from, const char *to)
{
	static const char *const resume[] = {"RESUME", NULL};
	int timeout_ms = c->pgbouncer.pause_timeout.ms > 0 ? (int)c->pgbouncer.pause_timeout.ms : 10000;
	PgcArena *a = arena_new();
	PgcHost *h = pooler_host(c);
	PGconn *conn = NULL;
	char err[512] = "";
	double t0 = clock_ms();
	bool marked;
	int rc = -1;

	if (h == NULL)
		goto cleanup;
	if (running(h, c) == 0) {
		log_warn("PgBouncer of cluster \"%s\" is not running: no client to hold", c->name);
		rc = 0;
		goto cleanup;
	}
	conn = pgbouncer_admin_connect(h, c, 0, err, sizeof err);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		log_error("cannot reach the console of PgBouncer (cluster \"%s\"): %s", c->name, err);
		goto cleanup;
	}
	/* left by a run that stopped between its PAUSE and its RESUME */
	marked = host_exists(h, pgbouncer_path(a, c, PGBOUNCER_PAUSED));
	paused_mark(h, c, true, "PAUSE for a switchover\n");
	if (pgbouncer_admin_query(conn, "PAUSE", timeout_ms, NULL, err, sizeof err) != 0) {
		char e2[512] = "";

		/* PgBouncer refuses a second PAUSE ("already suspended/paused"):
		 * the pause that run left holds the clients once it drained */
		if (marked && strstr(err, "already") != NULL) {
			log_info("PgBouncer of cluster \"%s\" is paused already (%s/%s was left by a "
				 "run that did not finish): it holds its clients once its server "
				 "connections are released", c->name, c->pgbouncer.dir.v,
				 PGBOUNCER_PAUSED);
			if (wait_drained(conn, t0 + timeout_ms, timeout_ms, err, sizeof err) == 0)
				goto paused;
		}
		log_error("PgBouncer (cluster \"%s\") could not pause before the switchover from \"%s\" "
			  "to \"%s\": %s\nhint: transactions longer than pooler.pgbouncer.pause_timeout "
			  "hold it; try again when they are done", c->name, from, to, err);
		/* a PAUSE that timed out was cancelled, its result never read: the
		 * connection is not used again, RESUME goes on a new one */
		PQfinish(conn);
		conn = NULL;
		if (admin(h, c, resume, e2, sizeof e2) != 0)
			log_error("cannot RESUME PgBouncer (cluster \"%s\"): %s", c->name, e2);
		else
			paused_mark(h, c, false, NULL);
		goto cleanup;
	}
paused:
	log_info("PgBouncer of cluster \"%s\" paused in %.0f ms: clients wait for \"%s\"", c->name,
		 clock_ms() - t0, to);
	rc = 0;
cleanup:
	PQfinish(conn);
	host_free(h);
	arena_free(a);
	return rc;
}

/*
 * release - after a repoint that failed part way: RESUME on a console of
 * its own, so that the clients PAUSE held do not wait for the next pass;
 * the marker goes only once RESUME took. Reported either way.
 */
static void release(PgcHost *h, const PgcCluster *x, const char *to)
{
	static const char *const resume[] = {"RESUME", NULL};
	char err[512] = "";

	if (running(h, x) == 0)
		return;
	if (admin(h, x, resume, err, sizeof err) == 0) {
		paused_mark(h, x, false, NULL);
		log_warn("PgBouncer of cluster \"%s\" resumed its clients, but does not point at "
			 "\"%s\" yet: the next reconcile pass points it there", x->name, to);
	} else {
		log_error("PgBouncer of cluster \"%s\" is still PAUSED: its clients wait until it "
			  "is resumed (RESUME on its console; the next reconcile pass sends it): %s",
			  x->name, err);
	}
}

int pgbouncer_repoint(const PgcCluster *x, const char *from, const char *to)
{
	static const char *const cmds[] = {"RELOAD", "RECONNECT", "RESUME", NULL};
	PgcArena *a = arena_new();
	PgcHost *h = pooler_host(x);
	const char *ini = pgbouncer_ini(a, x);
	bool changed;
	char err[512] = "";
	int rc = -1;

	if (h == NULL)
		goto cleanup;
	if (host_mkdir_p(h, x->pgbouncer.dir.v, 0700) != 0 ||
	    host_write_file(h, pgbouncer_path(a, x, PGBOUNCER_INI), ini, strlen(ini), 0600,
			    &changed) != 0) {
		log_error("cannot point PgBouncer (cluster \"%s\") at \"%s\": its ini cannot be written",
			  x->name, to);
		release(h, x, to);
		goto cleanup;
	}
	if (running(h, x) == 0) {
		log_warn("PgBouncer of cluster \"%s\" is not running: it will point at \"%s\" when it "
			 "starts", x->name, to);
		paused_mark(h, x, false, NULL);
		rc = 0;
		goto cleanup;
	}
	if (admin(h, x, cmds, err, sizeof err) != 0) {
		log_error("cannot point PgBouncer (cluster \"%s\") at \"%s\": %s", x->name, to, err);
		release(h, x, to);
		goto cleanup;
	}
	paused_mark(h, x, false, NULL);
	log_info("PgBouncer of cluster \"%s\" points at \"%s\" (was \"%s\")", x->name, to,
		 from ? from : "-");
	rc = 0;
cleanup:
	host_free(h);
	arena_free(a);
	return rc;
}

int pgbouncer_resume(const PgcCluster *c, const char *from)
{
	static const char *const resume[] = {"RESUME", NULL};
	PgcHost *h = pooler_host(c);
	char err[512] = "";
	int rc = -1;

	if (h == NULL)
		return -1;
	if (running(h, c) == 0 || admin(h, c, resume, err, sizeof err) == 0) {
		paused_mark(h, c, false, NULL);
		rc = 0;
	} else
		log_error("cannot RESUME PgBouncer (cluster \"%s\", primary \"%s\"): %s", c->name, from,
			  err);
	host_free(h);
	return rc;
}
