/*
 * reconcile/ha/ha.c - shared I/O of failover, switchover and rejoin (ha.h).
 */
#include "reconcile/ha/ha.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reconcile/engine/action.h"
#include "reconcile/pg/lsn.h"
#include "common/clock.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "reconcile/engine/exec.h"
#include "reconcile/pg/layout.h"
#include "reconcile/postgres/config.h"
#include "reconcile/postgres/plan_conf.h"
#include "reconcile/postgres/replication.h"
#include "reconcile/engine/journal.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/observe/observe_parse.h"

#define CACHE_MAX_BYTES (4 * 1024 * 1024)
#define CONTROLDATA_TIMEOUT_MS 30000

/* ---- time --------------------------------------------------------------------- */

/* ---- the cache ------------------------------------------------------------------ */

static const char *jget_str(PgcArena *a, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? arena_strdup(a, json_string_value(v)) : NULL;
}

static json_t *jstr_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* cache_path - STATE_DIR/ha.json, malloc'd. */
static char *cache_path(const char *state_dir)
{
	return fs_path_join(state_dir, HA_CACHE_FILE);
}

/* cache_load - the whole cache file as JSON (an empty object when absent or bad). */
static json_t *cache_load(const char *state_dir)
{
	char *path = cache_path(state_dir), *buf = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *root = NULL;
	int rc;

	if (access(path, F_OK) != 0) {
		free(path);
		return json_object();
	}
	rc = fs_read_file(path, &buf, &len, CACHE_MAX_BYTES);
	if (rc == 0) {
		root = json_loadb(buf, len, 0, &jerr);
		if (root == NULL || !json_is_object(root))
			log_warn("ignoring the HA cache \"%s\": %s", path,
				 root == NULL ? jerr.text : "not a JSON object");
	}
	free(buf);
	free(path);
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		root = json_object();
	}
	return root;
}

int ha_cache_read(PgcArena *a, const char *state_dir, const char *cluster, PgcHaCache *out)
{
	json_t *root = cache_load(state_dir), *cl, *reps, *fo;

	memset(out, 0, sizeof(*out));
	out->last_failover_unix_ms = -1;
	cl = json_object_get(json_object_get(root, "clusters"), cluster);
	if (!json_is_object(cl))
		goto done;
	out->view.primary = jget_str(a, cl, "primary");
	out->view.seen_at = jget_str(a, cl, "seen_at");
	out->view.current_lsn = jget_str(a, cl, "current_lsn");
	if (json_is_integer(json_object_get(cl, "timeline")))
		out->view.timeline = (unsigned)json_integer_value(json_object_get(cl, "timeline"));
	reps = json_object_get(cl, "replicas");
	if (json_is_array(reps) && json_array_size(reps) > 0) {
		PgcObsReplica *r = arena_calloc(a, json_array_size(reps), sizeof(*r));
		size_t i;
		json_t *e;

		json_array_foreach(reps, i, e) {
			r[i].application_name = jget_str(a, e, "application_name");
			r[i].state = jget_str(a, e, "state");
			r[i].sync_state = jget_str(a, e, "sync_state");
			r[i].sent_lsn = jget_str(a, e, "sent_lsn");
			r[i].flush_lsn = jget_str(a, e, "flush_lsn");
			r[i].replay_lsn = jget_str(a, e, "replay_lsn");
		}
		out->view.replicas = r;
		out->view.n_replicas = json_array_size(reps);
	}
	fo = json_object_get(cl, "last_failover");
	if (json_is_object(fo)) {
		out->last_failover_at = jget_str(a, fo, "at");
		out->last_failover_from = jget_str(a, fo, "from");
		out->last_failover_to = jget_str(a, fo, "to");
		if (json_is_integer(json_object_get(fo, "at_unix_ms")))
			out->last_failover_unix_ms = json_integer_value(json_object_get(fo, "at_unix_ms"));
	}
done:
	json_decref(root);
	return 0;
}

int ha_cache_write(const char *state_dir, const char *cluster, const PgcHaCache *cache)
{
	json_t *root, *clusters, *cl, *reps;
	char *path, *text;
	int rc;

	if (fs_mkdir_p(state_dir, 0700, FS_NO_UID, FS_NO_GID) != 0)
		return -1;
	root = cache_load(state_dir);
	clusters = json_object_get(root, "clusters");
	if (!json_is_object(clusters)) {
		clusters = json_object();
		json_object_set_new(root, "clusters", clusters);
	}
	cl = json_object();
	json_object_set_new(cl, "primary", jstr_or_null(cache->view.primary));
	json_object_set_new(cl, "seen_at", jstr_or_null(cache->view.seen_at));
	json_object_set_new(cl, "current_lsn", jstr_or_null(cache->view.current_lsn));
	json_object_set_new(cl, "timeline", json_integer(cache->view.timeline));
	reps = json_array();
	for (size_t i = 0; i < cache->view.n_replicas; i++) {
		const PgcObsReplica *r = &cache->view.replicas[i];

		json_array_append_new(
		    reps, json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "application_name",
				    jstr_or_null(r->application_name), "state", jstr_or_null(r->state),
				    "sync_state", jstr_or_null(r->sync_state), "sent_lsn",
				    jstr_or_null(r->sent_lsn), "flush_lsn", jstr_or_null(r->flush_lsn),
				    "replay_lsn", jstr_or_null(r->replay_lsn)));
	}
	json_object_set_new(cl, "replicas", reps);
	if (cache->last_failover_unix_ms >= 0)
		json_object_set_new(cl, "last_failover",
				    json_pack("{s:o,s:I,s:o,s:o}", "at",
					      jstr_or_null(cache->last_failover_at), "at_unix_ms",
					      (json_int_t)cache->last_failover_unix_ms, "from",
					      jstr_or_null(cache->last_failover_from), "to",
					      jstr_or_null(cache->last_failover_to)));
	json_object_set_new(clusters, cluster, cl);
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	if (text == NULL)
		abort();
	path = cache_path(state_dir);
	rc = fs_write_atomic(path, text, strlen(text), 0600, FS_NO_UID, FS_NO_GID, NULL);
	free(path);
	free(text);
	return rc;
}

/* ---- one node ------------------------------------------------------------------------ */

PGconn *ha_connect(const PgcCluster *c, const PgcNode *n, int timeout_s, char *err, size_t errlen)
{
	PgcArena *a = arena_new();
	PGconn *conn = pgsql_connect(pgsql_node_conninfo(a, c, n, NULL), timeout_s, err, errlen);

	arena_free(a);
	return conn;
}

int ha_query_value(PgcArena *a, const PgcCluster *c, const PgcNode *n, const char *sql,
		   int timeout_ms, const char **value, char *err, size_t errlen)
{
	int timeout_s = timeout_ms > 0 && timeout_ms < PGSQL_CONNECT_TIMEOUT_S * 1000
			    ? (timeout_ms + 999) / 1000
			    : PGSQL_CONNECT_TIMEOUT_S;
	PGconn *conn = ha_connect(c, n, timeout_s, err, errlen);
	PGresult *r = NULL;
	PgcPgError e;
	int rc = -1;

	*value = NULL;
	if (conn == NULL)
		return -1;
	if (pgsql_query(conn, sql, 0, NULL, timeout_ms, &r, &e) != 0) {
		snprintf(err, errlen, "%s (SQLSTATE %s)", e.message, e.sqlstate);
	} else if (PQntuples(r) < 1 || PQnfields(r) < 1) {
		snprintf(err, errlen, "the query returned no row");
	} else {
		if (!PQgetisnull(r, 0, 0))
			*value = arena_strdup(a, PQgetvalue(r, 0, 0));
		rc = 0;
	}
	PQclear(r);
	PQfinish(conn);
	return rc;
}

int ha_exec(const PgcCluster *c, const PgcNode *n, const char *sql, int timeout_ms, char *err,
	    size_t errlen)
{
	PGconn *conn = ha_connect(c, n, PGSQL_CONNECT_TIMEOUT_S, err, errlen);
	PgcPgError e;
	int rc = 0;

	if (conn == NULL)
		return -1;
	if (pgsql_query(conn, sql, 0, NULL, timeout_ms, NULL, &e) != 0) {
		snprintf(err, errlen, "%s (SQLSTATE %s)", e.message, e.sqlstate);
		rc = -1;
	}
	PQfinish(conn);
	return rc;
}

int ha_probe(const PgcCluster *c, const PgcNode *n, int timeout_ms, char *err, size_t errlen)
{
	PgcArena *a = arena_new();
	const char *v;
	int rc = ha_query_value(a, c, n, "SELECT pg_catalog.pg_is_in_recovery()", timeout_ms, &v,
				err, errlen);

	if (rc == 0 && (v == NULL || strcmp(v, "f") != 0)) {
		snprintf(err, errlen, "it is in recovery: not a primary");
		rc = -1;
	}
	arena_free(a);
	return rc;
}

/* control_line - the value after "key:" on a line of pg_controldata's output. */
static int control_line(const char *text, const char *key, char *buf, size_t size)
{
	size_t klen = strlen(key);

	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);

		if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == ':') {
			const char *v = line + klen + 1;
			size_t vlen = len - klen - 1;

			while (vlen > 0 && (*v == ' ' || *v == '\t')) {
				v++;
				vlen--;
			}
			while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\r'))
				vlen--;
			if (vlen >= size)
				vlen = size - 1;
			memcpy(buf, v, vlen);
			buf[vlen] = '\0';
			return 0;
		}
		line = eol ? eol + 1 : NULL;
	}
	return -1;
}

int ha_parse_controldata(const char *text, PgcControl *out)
{
	char buf[128];

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		return -1;
	if (control_line(text, "Database system identifier", buf, sizeof buf) != 0)
		return -1;
	out->system_identifier = strtoull(buf, NULL, 10);
	if (control_line(text, "Database cluster state", out->state, sizeof out->state) != 0)
		return -1;
	if (control_line(text, "Latest checkpoint location", buf, sizeof buf) != 0 ||
	    lsn_parse(buf, &out->checkpoint_lsn) != 0)
		return -1;
	if (control_line(text, "Latest checkpoint's TimeLineID", buf, sizeof buf) != 0)
		return -1;
	out->timeline = (unsigned)strtoul(buf, NULL, 10);
	return 0;
}

int ha_controldata(PgcHost *h, const PgcCluster *c, const PgcNode *n, PgcControl *out)
{
	PgcArena *a = arena_new();
	const char *argv[] = {arena_printf(a, "%s/pg_controldata", c->bin_dir.v), "-D",
			      n->data_dir.v, NULL};
	const char *env[] = {"LC_ALL=C", NULL};
	PgcProcSpec spec = {.argv = argv, .env_extra = env, .timeout_ms = CONTROLDATA_TIMEOUT_MS};
	PgcProcResult res;
	int rc = -1;

	spec.run_as = host_os_user(h);
	if (host_run(h, &spec, &res) != 0)
		goto cleanup;
	if (res.status != 0 || res.timed_out)
		proc_report_failed(arena_printf(a, "could not read the control file of node \"%s/%s\"",
						  c->name, n->name),
				     argv[0], &res, NULL, 0);
	else if (ha_parse_controldata(res.output, out) != 0)
		log_error("could not read the control file of node \"%s/%s\": unexpected output of %s",
			  c->name, n->name, argv[0]);
	else
		rc = 0;
	proc_result_free(&res);
cleanup:
	arena_free(a);
	return rc;
}

bool ha_pid_alive(PgcHost *h, long pid)
{
	return host_proc_state(h, pid) == HOST_PROC_LIVE;
}

/* pidfile_pid - the pid postmaster.pid names; 0 when the file is absent or unreadable. */
static long pidfile_pid(PgcHost *h, const PgcNode *n)
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	long pid;

	snprintf(path, sizeof path, "%s/postmaster.pid", n->data_dir.v);
	if (host_read_file(h, path, &buf, &len, 64 * 1024) != 0) {
		free(buf);
		return 0;
	}
	pid = observe_parse_pidfile(buf);
	free(buf);
	return pid;
}

long ha_postmaster_pid(PgcHost *h, const PgcNode *n)
{
	char comm[64] = "";
	long pid = pidfile_pid(h, n);

	if (!ha_pid_alive(h, pid))
		return 0;
	/* A stale file after a crash may name a pid that now belongs to anything. */
	if (host_proc_comm(h, pid, comm, sizeof comm) != 0)
		return 0;
	return strcmp(comm, "postgres") == 0 || strcmp(comm, "postmaster") == 0 ? pid : 0;
}

int ha_wait_reaped(PgcHost *h, const PgcNode *n, int timeout_ms)
{
	double deadline = clock_ms() + timeout_ms;
	PgcHostProcState st;
	long pid = pidfile_pid(h, n);

	if (pid <= 0 || pid > INT_MAX)
		return 0;
	while ((st = host_proc_state(h, pid)) != HOST_PROC_GONE) {
		if (st == HOST_PROC_LIVE || clock_ms() >= deadline)
			return -1;
		clock_sleep_ms(20);
	}
	return 0;
}

/* ---- apply's executors outside a plan ------------------------------------------------------ */

/*
 * node_init - an executor context for node n of c, without an action:
 * the typed executors (config.h, replication.h) take what they write as
 * arguments. Timeouts as apply's defaults unless timeout_s is given.
 */
static void node_init(PgcExecCtx *ctx, const PgcCluster *c, const PgcNode *n, int timeout_s)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->arena = arena_new();
	ctx->c = c;
	ctx->n = n;
	ctx->action_timeout_s = timeout_s > 0 ? timeout_s : APPLY_DEFAULT_ACTION_TIMEOUT_S;
	ctx->ready_timeout_s = APPLY_DEFAULT_READY_TIMEOUT_S;
	ctx->host = host_for(n->host.v, c->os_user.v);
}

static void node_done(PgcExecCtx *ctx)
{
	host_free(ctx->host);
	arena_free(ctx->arena);
}

/* node_need_host - exec_need_host() for the step a plan would call "CLUSTER/NODE/<kind>". */
static int node_need_host(PgcExecCtx *ctx, PgcActionKind kind)
{
	return exec_need_host_for(ctx, arena_printf(ctx->arena, "%s/%s/%s", ctx->c->name,
						    ctx->n->name, plan_action_name(kind)));
}

int ha_write_node_files(const PgcCluster *c, const PgcNode *n, bool hba, bool *changed)
{
	PgcExecCtx ctx;
	int rc = -1;

	*changed = false;
	node_init(&ctx, c, n, 0);
	if (node_need_host(&ctx, ACT_WRITE_CONFIG) != 0 ||
	    config_write_node(&ctx, NULL, plan_managed_conf(ctx.arena, c, n)) != 0)
		goto cleanup;
	*changed = !ctx.nothing_to_do;
	if (c->replication.password.kind != SECRET_NONE && cluster_upstream(c, n) != NULL) {
		ctx.nothing_to_do = false;
		if (config_write_passfile_node(&ctx, NULL, NULL, NULL, NULL) != 0)
			goto cleanup;
		*changed = *changed || !ctx.nothing_to_do;
	}
	if (hba) {
		if (config_write_hba_node(&ctx, NULL, plan_hba_conf(ctx.arena, c, n),
					  plan_ident_conf(ctx.arena, c)) != 0)
			goto cleanup;
	}
	rc = 0;
cleanup:
	node_done(&ctx);
	return rc;
}

int ha_reload(const PgcCluster *c, const PgcNode *n)
{
	PgcExecCtx ctx;
	int rc;

	node_init(&ctx, c, n, 60);
	rc = config_reload(&ctx);
	node_done(&ctx);
	return rc;
}

int ha_create_slot(const PgcCluster *c, const PgcNode *n, const char *replica)
{
	PgcExecCtx ctx;
	int rc;

	if (!c->replication.slots.v)
		return 0;
	node_init(&ctx, c, n, 60);
	rc = replication_create_slot_node(&ctx, plan_slot_name(ctx.arena, replica), NULL, 0, NULL);
	node_done(&ctx);
	return rc;
}

int ha_clone(const PgcCluster *c, const PgcNode *n, int timeout_s)
{
	PgcExecCtx ctx;
	int rc;

	node_init(&ctx, c, n, timeout_s);
	rc = node_need_host(&ctx, ACT_CLONE) != 0 ? -1 : replication_clone_node(&ctx, NULL, NULL);
	node_done(&ctx);
	return rc;
}

/* ---- the first-write watcher ------------------------------------------------------------------ */

struct PgcWriteWatch {
	pthread_t thread;
	char *conninfo;
	double deadline_ms;
	double at_ms;
	int ok;
	char err[600];
};

static void *write_watch_main(void *arg)
{
	PgcWriteWatch *w = arg;
	PGconn *conn = NULL;

	while (clock_ms() < w->deadline_ms) {
		double left = w->deadline_ms - clock_ms();
		PgcPgError e;

		if (conn == NULL) {
			conn = pgsql_connect(w->conninfo, 2, w->err, sizeof w->err);
			if (conn == NULL) {
				clock_sleep_ms(50);
				continue;
			}
		}
		/* Takes a transaction id, so the commit writes a record and, with
		 * synchronous replication, waits for a synchronous standby. */
		if (pgsql_query(conn, "SELECT pg_catalog.txid_current()", 0, NULL,
				left > 1 ? (int)left : 1, NULL, &e) == 0) {
			w->at_ms = clock_ms();
			w->ok = 1;
			break;
		}
		snprintf(w->err, sizeof w->err, "%s (SQLSTATE %s)", e.message, e.sqlstate);
		if (e.conn_bad) {
			PQfinish(conn);
			conn = NULL;
		}
		clock_sleep_ms(50);
	}
	PQfinish(conn);
	return NULL;
}

PgcWriteWatch *ha_write_watch_start(const PgcCluster *c, const PgcNode *n, int timeout_s)
{
	PgcWriteWatch *w = calloc(1, sizeof(*w));
	PgcArena *a = arena_new();
	int rc;

	if (w == NULL)
		abort();
	w->conninfo = strdup(pgsql_node_conninfo(a, c, n, NULL));
	arena_free(a);
	if (w->conninfo == NULL)
		abort();
	w->deadline_ms = clock_ms() + (double)timeout_s * 1000.0;
	snprintf(w->err, sizeof w->err, "no write was tried");
	rc = pthread_create(&w->thread, NULL, write_watch_main, w);
	if (rc != 0) {
		log_error("could not start the write watcher: %s", strerror(rc));
		free(w->conninfo);
		free(w);
		return NULL;
	}
	return w;
}

int ha_write_watch_wait(PgcWriteWatch *w, double *at_ms, char *err, size_t errlen)
{
	int rc;

	pthread_join(w->thread, NULL);
	rc = w->ok ? 0 : -1;
	if (rc == 0)
		*at_ms = w->at_ms;
	else
		snprintf(err, errlen, "%s", w->err);
	free(w->conninfo);
	free(w);
	return rc;
}

/* ---- the journal ------------------------------------------------------------------------------------ */

int ha_journal_event(const char *state_dir, json_t *event)
{
	PgcJournal *j = journal_open(state_dir);
	int rc;

	if (j == NULL)
		return -1;
	rc = journal_event(j, event);
	journal_close(j);
	return rc;
}
