/*
 * reconcile/pgpool/pgpool.c - Pgpool-II's executors and front-door hooks
 * (pgpool.h).
 */
#include "reconcile/pgpool/pgpool.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/engine/secret.h"
#include "reconcile/observe/observe_pgpool.h"
#include "reconcile/pg/pgsql.h"

#define PGPOOL_RUN_TIMEOUT_MS 60000
#define PCP_TIMEOUT_MS 30000
#define PGPOOL_POLL_MS 200
/* How long pgpool_follow waits for Pgpool-II to show a promotion it was told,
 * and the pgpool-follow action for a standby it started to stream. */
#define FOLLOW_WAIT_S 15
/* How long a PCP call that fails right after an attach or promotion is retried. */
#define PCP_SETTLE_S 5

/* A Pgpool-II of a cluster on this machine: its host, the cluster, an arena for the call. */
typedef struct {
	const PgcCluster *c;
	PgcHost *h;
	bool own_host;            /* h is ours to free */
	PgcArena *a;
	char err[512];
} Pool;

static const char *file(Pool *p, const char *name)
{
	return observe_pgpool_file(p->a, p->c, name);
}

static const char *prog(Pool *p, const char *name)
{
	return arena_printf(p->a, "%s/%s", PGPOOL_BIN_DIR, name);
}

/*
 * pool_open - p for c, on host h when given (an executor's context: tests
 * give a fake), else on the first node's host; -1 (reported) when that
 * machine is not this one.
 */
static int pool_open(Pool *p, const PgcCluster *c, PgcArena *a, PgcHost *h)
{
	memset(p, 0, sizeof *p);
	p->c = c;
	p->a = a;
	p->h = h;
	if (h == NULL && c->n_nodes > 0) {
		p->h = host_for(c->nodes[0].host.v, c->os_user.v);
		p->own_host = true;
	}
	if (p->h == NULL) {
		log_error("cannot manage the Pgpool-II of cluster \"%s\": it runs on the machine of "
			  "node \"%s\", which is not this one", c->name,
			  c->n_nodes ? c->nodes[0].name : "?");
		return -1;
	}
	return 0;
}

static void pool_close(Pool *p)
{
	if (p->own_host)
		host_free(p->h);
	p->h = NULL;
}

/* ---- the process ---------------------------------------------------------- */

static long running_pid(Pool *p)
{
	char *buf = NULL, comm[64];
	size_t len = 0;
	long pid = 0;

	if (host_read_file(p->h, file(p, PGPOOL_PID_FILE), &buf, &len, 64) == 0) {
		pid = strtol(buf, NULL, 10);
		free(buf);
	}
	if (pid > 0 && host_proc_state(p->h, pid) == HOST_PROC_LIVE &&
	    host_proc_comm(p->h, pid, comm, sizeof comm) == 0 && strcmp(comm, "pgpool") == 0)
		return pid;
	return 0;
}

/* run - a pgpool or pcp_* command as the os_user; its output in *out (arena). 0 when it exited 0. */
static int run(Pool *p, const char *const *argv, const char *const *env, bool detach,
	       int timeout_ms, const char **out)
{
	PgcProcSpec spec = {.argv = argv, .env_extra = env, .timeout_ms = timeout_ms,
			    .detach = detach, .cwd = p->c->pgpool.dir.v};
	PgcProcResult res;
	int rc;

	*out = "";
	if (host_run(p->h, &spec, &res) != 0) {
		snprintf(p->err, sizeof p->err, "could not run %s", argv[0]);
		return -1;
	}
	*out = arena_strdup(p->a, res.output);
	rc = res.status == 0 && !res.timed_out ? 0 : -1;
	if (rc != 0)
		proc_report_failed("Pgpool-II command", argv[0], &res, p->err, sizeof p->err);
	proc_result_free(&res);
	return rc;
}

/* port_open - something accepts TCP connections on host:port. */
static bool port_open(const char *host, long port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char service[16];
	bool ok = false;

	snprintf(service, sizeof service, "%ld", port);
	if (getaddrinfo(host, service, &hints, &ai) != 0)
		return false;
	for (struct addrinfo *x = ai; x != NULL && !ok; x = x->ai_next) {
		int fd = socket(x->ai_family, x->ai_socktype | SOCK_CLOEXEC, x->ai_protocol);

		if (fd < 0)
			continue;
		ok = connect(fd, x->ai_addr, x->ai_addrlen) == 0;
		close(fd);
	}
	freeaddrinfo(ai);
	return ok;
}

static const char *reach_host(const PgcCluster *c)
{
	const char *l = c->pgpool.listen_address.v;

	return l == NULL || !strcmp(l, "*") || !strcmp(l, "0.0.0.0") || !l[0] ? "127.0.0.1"
	       : !strcmp(l, "::")                                           ? "::1"
									    : l;
}

/* start - pgpool in daemon mode, then waits (timeout_s) until it runs and takes connections. */
static int start(Pool *p, int timeout_s)
{
	const char *argv[] = {prog(p, "pgpool"), "-f", file(p, PGPOOL_CONF_FILE),
			      "-F", file(p, PGPOOL_PCP_FILE), "-a", file(p, PGPOOL_HBA_FILE),
			      "-k", file(p, PGPOOL_KEY_FILE), "-D", NULL};
	double deadline = clock_ms() + 1000.0 * timeout_s;
	const char *out;

	if (running_pid(p) > 0)
		return 0;
	log_info("starting the Pgpool-II of cluster \"%s\" on port %lld", p->c->name,
		 (long long)p->c->pgpool.port.v);
	if (run(p, argv, NULL, true, PGPOOL_RUN_TIMEOUT_MS, &out) != 0) {
		log_error("could not start the Pgpool-II of cluster \"%s\": %s", p->c->name, p->err);
		return -1;
	}
	for (;;) {
		if (running_pid(p) > 0 && port_open(reach_host(p->c), p->c->pgpool.port.v) &&
		    port_open("127.0.0.1", p->c->pgpool.pcp_port.v))
			return 0;
		if (clock_ms() >= deadline)
			break;
		clock_sleep_ms(PGPOOL_POLL_MS);
	}
	snprintf(p->err, sizeof p->err, "Pgpool-II did not take connections on port %lld within %d s",
		 (long long)p->c->pgpool.port.v, timeout_s);
	log_error("%s\nhint: look at %s", p->err, file(p, PGPOOL_LOG_FILE));
	return -1;
}

/* stop - `pgpool -m fast stop`, then waits (timeout_s) until the process is gone. */
static int stop(Pool *p, int timeout_s)
{
	const char *argv[] = {prog(p, "pgpool"), "-f", file(p, PGPOOL_CONF_FILE), "-m", "fast",
			      "stop", NULL};
	double deadline = clock_ms() + 1000.0 * timeout_s;
	const char *out;

	if (running_pid(p) == 0)
		return 0;
	log_info("stopping the Pgpool-II of cluster \"%s\"", p->c->name);
	(void)run(p, argv, NULL, false, 1000 * timeout_s, &out);
	while (running_pid(p) > 0) {
		if (clock_ms() >= deadline) {
			log_error("the Pgpool-II of cluster \"%s\" did not stop within %d s", p->c->name,
				  timeout_s);
			return -1;
		}
		clock_sleep_ms(PGPOOL_POLL_MS);
	}
	return 0;
}

/* ---- the files ------------------------------------------------------------ */

static char *random_hex(PgcArena *a, size_t bytes)
{
	unsigned char raw[64];
	char *hex = arena_alloc(a, 2 * bytes + 1);

	if (bytes > sizeof raw || getrandom(raw, bytes, 0) != (ssize_t)bytes)
		return NULL;
	for (size_t i = 0; i < bytes; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof raw);
	return hex;
}

static int put(Pool *p, const char *name, const char *data, bool *changed)
{
	bool ch = false;

	if (host_write_file(p->h, file(p, name), data, strlen(data), 0600, &ch) != 0)
		return -1;
	*changed = *changed || ch;
	return 0;
}

/* read_line - the first line of dir/name (arena), NULL when absent. */
static char *read_line(Pool *p, const char *name)
{
	char *buf = NULL, *line, *nl;
	size_t len = 0;

	if (host_read_file(p->h, file(p, name), &buf, &len, 4096) != 0)
		return NULL;
	if ((nl = memchr(buf, '\n', len)) != NULL)
		len = (size_t)(nl - buf);
	line = arena_strndup(p->a, buf, len);
	explicit_bzero(buf, len);
	free(buf);
	return line;
}

/* pcp_files - pcp.conf and pcppass: the PCP password kept when pcppass holds one for this port. */
static int pcp_files(Pool *p, bool *changed)
{
	const char *prefix = arena_printf(p->a, "127.0.0.1:%lld:%s:", (long long)p->c->pgpool.pcp_port.v,
					  PGPOOL_PCP_USER);
	char *line = read_line(p, PGPOOL_PCPPASS_FILE), *pw;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	int rc;

	if (line != NULL && strncmp(line, prefix, strlen(prefix)) == 0 && line[strlen(prefix)])
		pw = line + strlen(prefix);
	else if ((pw = random_hex(p->a, 16)) == NULL)
		return -1;
	if (EVP_Digest(pw, strlen(pw), md, &n, EVP_md5(), NULL) != 1)
		return -1;
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	rc = put(p, PGPOOL_PCPPASS_FILE, arena_printf(p->a, "%s%s\n", prefix, pw), changed);
	if (rc == 0)
		rc = put(p, PGPOOL_PCP_FILE, arena_printf(p->a, "%s:%s\n", PGPOOL_PCP_USER, hex),
			 changed);
	explicit_bzero(pw, strlen(pw));
	return rc;
}

/* write_files - everything in dir (pgpool.h); *changed when a file changed. */
static int write_files(PgcExecCtx *ctx, Pool *p, bool *changed)
{
	const PgcPayload *pl = &ctx->a->payload;
	char *key, *passwd = NULL;
	int rc;

	*changed = false;
	if (pl->content == NULL || pl->ident == NULL)
		return exec_fail(ctx, "action \"%s\" carries no pgpool.conf or pool_hba.conf", ctx->a->id);
	if (host_mkdir_p(p->h, p->c->pgpool.dir.v, 0700) != 0)
		return exec_note(ctx, "could not create the Pgpool-II folder \"%s\"", p->c->pgpool.dir.v);
	if (put(p, PGPOOL_CONF_FILE, pl->content, changed) != 0 ||
	    put(p, PGPOOL_HBA_FILE, pl->ident, changed) != 0)
		return exec_note(ctx, "could not write the Pgpool-II configuration in \"%s\"",
				 p->c->pgpool.dir.v);
	key = read_line(p, PGPOOL_KEY_FILE);
	if (key == NULL || key[0] == '\0') {
		if ((key = random_hex(p->a, 32)) == NULL ||
		    put(p, PGPOOL_KEY_FILE, arena_printf(p->a, "%s\n", key), changed) != 0)
			return exec_fail(ctx, "could not write the Pgpool-II key file in \"%s\"",
					 p->c->pgpool.dir.v);
	}
	rc = pgpool_passwd_render(p->c, key, &passwd, p->err, sizeof p->err);
	explicit_bzero(key, strlen(key));
	if (rc != 0)
		return exec_fail(ctx, "cannot write pool_passwd of cluster \"%s\": %s", p->c->name,
				 p->err);
	rc = put(p, PGPOOL_PASSWD_FILE, passwd, changed);
	secret_free(passwd);
	if (rc != 0 || pcp_files(p, changed) != 0)
		return exec_fail(ctx, "could not write the Pgpool-II password files in \"%s\"",
				 p->c->pgpool.dir.v);
	return 0;
}

int pgpool_config_run(PgcExecCtx *ctx)
{
	Pool p;
	bool changed;
	int rc = -1;

	if (pool_open(&p, topology_roles_view(ctx->arena, ctx->t, ctx->c), ctx->arena, ctx->host) != 0)
		return exec_note(ctx, "Pgpool-II is not on this machine");
	if (write_files(ctx, &p, &changed) != 0)
		goto cleanup;
	ctx->nothing_to_do = !changed;
	if (changed && running_pid(&p) > 0) {
		const char *argv[] = {prog(&p, "pgpool"), "-f", file(&p, PGPOOL_CONF_FILE), "-F",
				      file(&p, PGPOOL_PCP_FILE), "-a", file(&p, PGPOOL_HBA_FILE),
				      "reload", NULL};
		const char *out;

		log_info("reloading the Pgpool-II of cluster \"%s\"", ctx->c->name);
		if (run(&p, argv, NULL, false, PGPOOL_RUN_TIMEOUT_MS, &out) != 0) {
			exec_fail(ctx, "could not reload the Pgpool-II of cluster \"%s\": %s",
				  ctx->c->name, p.err);
			goto cleanup;
		}
	}
	rc = 0;
cleanup:
	pool_close(&p);
	return rc;
}

int pgpool_start_run(PgcExecCtx *ctx)
{
	Pool p;
	int rc;

	if (pool_open(&p, topology_roles_view(ctx->arena, ctx->t, ctx->c), ctx->arena, ctx->host) != 0)
		return exec_note(ctx, "Pgpool-II is not on this machine");
	if (running_pid(&p) > 0) {
		ctx->nothing_to_do = true;
		pool_close(&p);
		return 0;
	}
	rc = start(&p, ctx->ready_timeout_s);
	if (rc != 0)
		exec_note(ctx, "could not start the Pgpool-II of cluster \"%s\"", ctx->c->name);
	pool_close(&p);
	return rc;
}

int pgpool_restart_run(PgcExecCtx *ctx)
{
	Pool p;
	bool changed;
	int rc = -1;

	if (pool_open(&p, topology_roles_view(ctx->arena, ctx->t, ctx->c), ctx->arena, ctx->host) != 0)
		return exec_note(ctx, "Pgpool-II is not on this machine");
	if (write_files(ctx, &p, &changed) != 0)
		goto cleanup;
	if (stop(&p, ctx->ready_timeout_s) != 0 || start(&p, ctx->ready_timeout_s) != 0) {
		exec_note(ctx, "could not restart the Pgpool-II of cluster \"%s\"", ctx->c->name);
		goto cleanup;
	}
	rc = 0;
cleanup:
	pool_close(&p);
	return rc;
}

/* ---- following the live roles (PCP) ------------------------------------------ */

typedef struct {
	int status;               /* 0 init, 1 up (no connection yet), 2 up, 3 down, -1 unknown */
	bool primary;
} PcpNode;

/* pcp - pcp_<cmd> -n id, the PCP password through PCPPASSFILE. 0 on success (an
 * "ERROR" or "FATAL" in its output is a failure: pcp_* exit 0 after some of them). */
static int pcp(Pool *p, const char *cmd, int id, const char **out)
{
	const char *argv[] = {prog(p, cmd), "-h", "127.0.0.1", "-p",
			      arena_printf(p->a, "%lld", (long long)p->c->pgpool.pcp_port.v),
			      "-U", PGPOOL_PCP_USER, "-w", "-n", arena_printf(p->a, "%d", id), NULL};
	const char *env[] = {arena_printf(p->a, "PCPPASSFILE=%s", file(p, PGPOOL_PCPPASS_FILE)),
			     NULL};

	if (run(p, argv, env, false, PCP_TIMEOUT_MS, out) != 0)
		return -1;
	if (strstr(*out, "ERROR") != NULL || strstr(*out, "FATAL") != NULL) {
		snprintf(p->err, sizeof p->err, "%s -n %d: %.300s", cmd, id, *out);
		return -1;
	}
	return 0;
}

/* node_info - status and role of backend id (pcp_node_info). */
static int node_info(Pool *p, int id, PcpNode *out)
{
	const char *text;

	out->status = -1;
	out->primary = false;
	if (pcp(p, "pcp_node_info", id, &text) != 0)
		return -1;
	if (!observe_pgpool_parse_node_info(text, &out->status, &out->primary)) {
		snprintf(p->err, sizeof p->err, "pcp_node_info -n %d: unexpected output: %.200s", id,
			 text);
		return -1;
	}
	return 0;
}

/*
 * node_info_settled - node_info(), retried until deadline: Pgpool-II's main
 * process restarts its PCP process after an attach or a promotion, and a
 * call in that moment fails with "unable to read data from socket".
 */
static int node_info_settled(Pool *p, int id, PcpNode *out, double deadline)
{
	while (node_info(p, id, out) != 0) {
		if (clock_ms() >= deadline)
			return -1;
		clock_sleep_ms(PGPOOL_POLL_MS);
	}
	return 0;
}

/*
 * attach - backend id up in Pgpool-II: pcp_attach_node when it shows the
 * node down, then wait until it shows it up (its main process carries the
 * attach out after the call returns), so that the next pass observes what
 * this one did. A call that fails while Pgpool-II restarts its PCP process
 * is made again.
 */
static int attach(Pool *p, int id)
{
	double deadline = clock_ms() + 1000.0 * FOLLOW_WAIT_S;
	bool asked = false;
	PcpNode st;
	const char *out;

	for (;;) {
		int known = node_info(p, id, &st) == 0;

		if (known && st.status != 3)
			return 0;
		if (known && !asked)
			asked = pcp(p, "pcp_attach_node", id, &out) == 0;
		if (clock_ms() >= deadline) {
			if (asked)
				snprintf(p->err, sizeof p->err,
					 "backend %d is not shown up %d s after pcp_attach_node", id,
					 FOLLOW_WAIT_S);
			return -1;
		}
		clock_sleep_ms(PGPOOL_POLL_MS);
	}
}

/* live - 1 node n answers as a primary, 2 it is a standby that streams, 3 it is
 * a standby whose WAL receiver does not stream (yet), 0 it does not answer. */
static int live(Pool *p, const PgcNode *n)
{
	char err[256];
	PGconn *conn = pgsql_connect(pgsql_node_conninfo(p->a, p->c, n, NULL), 0, err, sizeof err);
	PGresult *r = NULL;
	PgcPgError e;
	int st = 0;

	if (conn != NULL &&
	    pgsql_query(conn,
			"SELECT pg_catalog.pg_is_in_recovery(), EXISTS (SELECT 1 FROM "
			"pg_catalog.pg_stat_wal_receiver WHERE status = 'streaming')",
			0, NULL, 0, &r, &e) == 0) {
		bool rec = strcmp(PQgetvalue(r, 0, 0), "t") == 0;

		st = !rec ? 1 : strcmp(PQgetvalue(r, 0, 1), "t") == 0 ? 2 : 3;
	}
	PQclear(r);
	PQfinish(conn);
	return st;
}

/*
 * live_settled - live(), but a standby that answers and does not stream yet
 * (one the same plan has just started or re-pointed) is given until
 * `deadline` to start streaming; 3 when it still does not.
 */
static int live_settled(Pool *p, const PgcNode *n, double deadline)
{
	int st = live(p, n);

	while (st == 3 && clock_ms() < deadline) {
		clock_sleep_ms(PGPOOL_POLL_MS);
		st = live(p, n);
	}
	return st;
}

/*
 * follow - see pgpool_follow(). settle: a standby that answers but does not
 * stream yet is waited for (FOLLOW_WAIT_S) before it is attached or detached,
 * so that one pass converges after the plan started it; the failover path
 * passes false, where no live node may delay the new primary.
 */
static int follow(Pool *p, const char *primary, bool settle)
{
	const PgcCluster *c = p->c;
	PcpNode *nodes = arena_calloc(p->a, c->n_nodes ? c->n_nodes : 1, sizeof *nodes);
	double read_by = clock_ms() + 1000.0 * PCP_SETTLE_S;
	int pi = -1, rc = 0;
	const char *out;

	for (size_t i = 0; i < c->n_nodes; i++) {
		if (strcmp(c->nodes[i].name, primary) == 0)
			pi = (int)i;
		if (node_info_settled(p, (int)i, &nodes[i], read_by) != 0) {
			log_error("cannot read the Pgpool-II state of cluster \"%s\": %s", c->name,
				  p->err);
			return -1;
		}
	}
	if (pi < 0) {
		log_error("cluster \"%s\" has no node \"%s\"", c->name, primary);
		return -1;
	}
	if (!nodes[pi].primary || nodes[pi].status == 3) {
		double deadline = clock_ms() + 1000.0 * FOLLOW_WAIT_S;

		if (live(p, &c->nodes[pi]) != 1) {
			log_error("Pgpool-II of cluster \"%s\" not pointed at \"%s\": it does not "
				  "answer as a primary", c->name, primary);
			return -1;
		}
		if (nodes[pi].status == 3) {
			log_info("Pgpool-II of cluster \"%s\": attaching \"%s\"", c->name, primary);
			if (pcp(p, "pcp_attach_node", pi, &out) != 0)
				goto failed;
		}
		if (!nodes[pi].primary) {
			log_info("Pgpool-II of cluster \"%s\": \"%s\" is the primary", c->name, primary);
			if (pcp(p, "pcp_promote_node", pi, &out) != 0)
				goto failed;
		}
		/* The promotion is carried out by Pgpool-II's main process, after the call. */
		while (node_info(p, pi, &nodes[pi]) != 0 || !nodes[pi].primary || nodes[pi].status == 3) {
			if (clock_ms() >= deadline) {
				log_error("Pgpool-II of cluster \"%s\" does not show \"%s\" as its "
					  "primary after %d s", c->name, primary, FOLLOW_WAIT_S);
				return -1;
			}
			clock_sleep_ms(PGPOOL_POLL_MS);
		}
		/* Pgpool-II marks the other nodes down as the last step of the
		 * promotion: wait for it (bounded), or an attach made now would be
		 * undone by it. */
		deadline = clock_ms() + 1000.0 * PCP_SETTLE_S;
		for (size_t i = 0; i < c->n_nodes; i++) {
			if ((int)i == pi)
				continue;
			do {
				if (node_info_settled(p, (int)i, &nodes[i], deadline) != 0)
					goto failed;
				if (nodes[i].status == 3 || clock_ms() >= deadline)
					break;
				clock_sleep_ms(PGPOOL_POLL_MS);
			} while (true);
		}
	}
	double settle_by = clock_ms() + (settle ? 1000.0 * FOLLOW_WAIT_S : 0.0);

	for (size_t i = 0; i < c->n_nodes; i++) {
		int st;

		if ((int)i == pi)
			continue;
		st = live_settled(p, &c->nodes[i], settle_by);
		if (nodes[i].status == 3 && st == 2) {
			log_info("Pgpool-II of cluster \"%s\": attaching the standby \"%s\"", c->name,
				 c->nodes[i].name);
			if (attach(p, (int)i) != 0) {
				log_error("%s", p->err);
				rc = -1;
			}
		} else if (nodes[i].status != 3 && (st == 0 || st == 3)) {
			log_info("Pgpool-II of cluster \"%s\": detaching \"%s\", which does not stream",
				 c->name, c->nodes[i].name);
			if (pcp(p, "pcp_detach_node", (int)i, &out) != 0) {
				log_error("%s", p->err);
				rc = -1;
			}
		}
	}
	return rc;
failed:
	log_error("cannot point the Pgpool-II of cluster \"%s\" at \"%s\": %s", c->name, primary,
		  p->err);
	return -1;
}

static int follow_live(const PgcCluster *c, const char *primary, bool settle)
{
	PgcArena *a = arena_new();
	Pool p;
	int rc = -1;

	if (pool_open(&p, c, a, NULL) == 0) {
		if (running_pid(&p) == 0) {
			log_warn("the Pgpool-II of cluster \"%s\" does not run: the next reconcile pass "
				 "starts it", c->name);
		} else {
			rc = follow(&p, primary, settle);
		}
		pool_close(&p);
	}
	arena_free(a);
	return rc;
}

int pgpool_follow(const PgcCluster *c, const char *primary)
{
	return follow_live(c, primary, false);
}

int pgpool_follow_run(PgcExecCtx *ctx)
{
	const char *to = ctx->a != NULL ? ctx->a->payload.target : NULL;

	if (to == NULL)
		return exec_fail(ctx, "action \"%s\" names no primary", ctx->a ? ctx->a->id : "?");
	if (follow_live(ctx->c, to, true) != 0)
		return exec_note(ctx, "Pgpool-II of cluster \"%s\" does not follow the live roles",
				 ctx->c->name);
	return 0;
}

bool pgpool_declared(const PgcCluster *c)
{
	return c->pgpool.set;
}

int pgpool_repoint(const PgcCluster *x, const char *from, const char *to)
{
	(void)from;
	return pgpool_follow(x, to);
}
