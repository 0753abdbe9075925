/*
 * reconcile/backup/drill.c - the restore drill (drill.h). Its copy's files,
 * programs and server go through its host (this machine, 127.0.0.1); left
 * outside it: the repository, the bind test of a free port and the scratch
 * folder's mkdtemp(), which are this machine's by definition of a drill.
 */
#include "reconcile/backup/drill.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/clock.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/proc.h"
#include "reconcile/backup/backup.h"
#include "reconcile/backup/drill_conf.h"
#include "reconcile/pg/layout.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/backup/restore_choose.h"
#include "reconcile/backup/restore_copy.h"
#include "reconcile/backup/restore_wait.h"
#include "reconcile/backup/walarchive.h"
#include "reconcile/postgres/plan_conf.h"

#define DRILL_STOP_TIMEOUT_S 60

static const char *now_iso(PgcArena *a)
{
	char buf[CLOCK_UTC_SIZE];

	return arena_strdup(a, clock_utc_now(CLOCK_UTC_ISO, buf, sizeof buf));
}

/* ---- helpers ----------------------------------------------------------------- */

/* free_port - a loopback TCP port nobody holds (a bind test) and no socket of h uses, or 0. */
static int free_port(PgcHost *h)
{
	int span = DRILL_PORT_MAX - DRILL_PORT_MIN + 1;
	int start = (int)(((unsigned)getpid() * 7919u + (unsigned)time(NULL)) % (unsigned)span);

	for (int i = 0; i < span; i++) {
		int port = DRILL_PORT_MIN + (start + i) % span;
		struct sockaddr_in sin = {0};
		char sock[64];
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

		if (fd < 0)
			return 0;
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
		close(fd);
		snprintf(sock, sizeof sock, "%s/.s.PGSQL.%d", PGC_SOCKET_DIR, port);
		if (ok && !host_exists(h, sock))
			return port;
	}
	return 0;
}

/* scratch_dir - a new folder for the drill, owned by uid/gid, mode 0700; NULL (reported). */
static const char *scratch_dir(PgcArena *a, const PgcCluster *c, uid_t uid, gid_t gid)
{
	const char *tmp = getenv("TMPDIR");
	char *path = arena_printf(a, "%s/pgconverge-drill-%s.XXXXXX",
				  tmp != NULL && *tmp == '/' ? tmp : "/var/tmp", c->name);

	if (mkdtemp(path) == NULL) {
		log_error("could not create a scratch folder \"%s\" for the restore drill: %s", path,
			  strerror(errno));
		return NULL;
	}
	if ((uid != FS_NO_UID && chown(path, uid, gid) != 0) || chmod(path, 0700) != 0) {
		log_error("could not give the scratch folder \"%s\" to os_user \"%s\": %s", path,
			  c->os_user.v, strerror(errno));
		rmdir(path);
		return NULL;
	}
	return path;
}

/* stop_server - pg_ctl stop of the drill's copy (fast, then immediate). */
static void stop_server(PgcHost *h, const PgcCluster *c, const char *data_dir)
{
	PgcArena *a = arena_new();
	const char *modes[] = {"fast", "immediate"};

	for (size_t i = 0; i < 2; i++) {
		const char *argv[] = {arena_printf(a, "%s/pg_ctl", c->bin_dir.v), "stop", "-D", data_dir,
				      "-m", modes[i], "-w", "-t",
				      arena_printf(a, "%d", DRILL_STOP_TIMEOUT_S), NULL};
		PgcProcSpec spec = {.argv = argv, .timeout_ms = (DRILL_STOP_TIMEOUT_S + 10) * 1000};
		PgcProcResult res;
		bool stopped;

		spec.run_as = host_os_user(h);
		if (host_run(h, &spec, &res) != 0)
			break;
		/* 0 stopped; 1 also when no server runs (no postmaster.pid): nothing left either way. */
		stopped = res.status == 0 ||
			  !host_exists(h, arena_printf(a, "%s/postmaster.pid", data_dir));
		proc_result_free(&res);
		if (stopped)
			break;
	}
	arena_free(a);
}

/* ---- the check query ------------------------------------------------------------ */

typedef struct {
	long long rows;
	long long tables;
	const char *message;
} CheckResult;

/* count_tables - count(*) of every user table of one database; -1 (err filled) on failure. */
static int count_tables(PgcArena *a, const char *socket_dir, int port, const char *user,
			const char *db, int timeout_ms, CheckResult *cr, char *err, size_t errlen)
{
	static const char *const list_sql =
		"SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c"
		" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
		" WHERE c.relkind = 'r' AND n.nspname <> 'information_schema'"
		" AND n.nspname !~ '^pg_' ORDER BY 1";
	char cerr[512];
	PGconn *conn = pgsql_connect(pgsql_conninfo_socket(a, socket_dir, port, user, db), 0, cerr,
				     sizeof cerr);
	PGresult *r = NULL;
	PgcPgError e;
	int rc = -1;

	if (conn == NULL) {
		snprintf(err, errlen, "could not connect to database \"%s\" of the restored copy: %.300s", db,
			 cerr);
		return -1;
	}
	if (pgsql_query(conn, list_sql, 0, NULL, timeout_ms, &r, &e) != 0) {
		snprintf(err, errlen, "could not list the tables of database \"%s\": %.300s", db, e.message);
		goto cleanup;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		const char *table = PQgetvalue(r, i, 0);
		PGresult *cnt = NULL;

		if (pgsql_query(conn, arena_printf(a, "SELECT count(*) FROM %s", table), 0, NULL,
				timeout_ms, &cnt, &e) != 0) {
			snprintf(err, errlen,
				 "reading table %.100s of database \"%.60s\" failed: %.250s (SQLSTATE %.5s)",
				 table, db, e.message, e.sqlstate);
			goto cleanup;
		}
		cr->rows += strtoll(PQgetvalue(cnt, 0, 0), NULL, 10);
		cr->tables++;
		PQclear(cnt);
	}
	rc = 0;
cleanup:
	PQclear(r);
	PQfinish(conn);
	return rc;
}

/*
 * check - the drill's check: backup.verify.query in the cluster's first
 * declared database (postgres when none), or the row counts of every user
 * table of every database. 0, or -1 with err filled.
 */
static int check(PgcArena *a, const PgcCluster *c, const char *socket_dir, int port, int timeout_s,
		 CheckResult *cr, char *err, size_t errlen)
{
	const char *user = c->os_user.v;
	int timeout_ms = timeout_s * 1000;
	char cerr[512];
	PGconn *conn;
	PGresult *r = NULL;
	PgcPgError e;
	int rc = -1;

	memset(cr, 0, sizeof(*cr));
	if (c->backup.verify.query.set) {
		const char *db = c->n_databases > 0 ? c->databases[0].name : "postgres";

		conn = pgsql_connect(pgsql_conninfo_socket(a, socket_dir, port, user, db), 0, cerr,
				     sizeof cerr);
		if (conn == NULL) {
			snprintf(err, errlen, "could not connect to database \"%.60s\" of the restored copy: %.300s",
				 db, cerr);
			return -1;
		}
		if (pgsql_query(conn, c->backup.verify.query.v, 0, NULL, timeout_ms, &r, &e) != 0) {
			snprintf(err, errlen, "backup.verify.query failed in database \"%.60s\": %.300s (SQLSTATE %s)",
				 db, e.message, e.sqlstate);
		} else {
			cr->rows = PQntuples(r);
			cr->message = arena_printf(a, "backup.verify.query returned %d row%s%s%s", PQntuples(r),
						   PQntuples(r) == 1 ? "" : "s",
						   PQntuples(r) > 0 && PQnfields(r) > 0 ? ", first value " : "",
						   PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0)
											: "");
			PQclear(r);
			rc = 0;
		}
		PQfinish(conn);
		return rc;
	}
	conn = pgsql_connect(pgsql_conninfo_socket(a, socket_dir, port, user, NULL), 0, cerr, sizeof cerr);
	if (conn == NULL) {
		snprintf(err, errlen, "could not connect to the restored copy: %.300s", cerr);
		return -1;
	}
	if (pgsql_query(conn,
			"SELECT datname FROM pg_catalog.pg_database WHERE datallowconn AND NOT "
			"datistemplate ORDER BY 1",
			0, NULL, timeout_ms, &r, &e) != 0) {
		snprintf(err, errlen, "could not list the databases of the restored copy: %.300s", e.message);
		PQfinish(conn);
		return -1;
	}
	PQfinish(conn);
	rc = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++)
		rc = count_tables(a, socket_dir, port, user, PQgetvalue(r, i, 0), timeout_ms, cr, err,
				  errlen);
	if (rc == 0)
		cr->message = arena_printf(a, "%d database%s, %lld table%s, %lld rows", PQntuples(r),
					   PQntuples(r) == 1 ? "" : "s", cr->tables,
					   cr->tables == 1 ? "" : "s", cr->rows);
	PQclear(r);
	return rc;
}

/* ---- recording ------------------------------------------------------------------- */

typedef struct {
	const char *id;
	json_t *drill;
} DrillRecord;

static int record_edit(json_t *root, void *arg)
{
	DrillRecord *rec = arg;
	json_t *base = json_object_get(root, "base"), *e;
	size_t i;

	json_array_foreach(base, i, e) {
		if (json_is_string(json_object_get(e, "id")) &&
		    strcmp(json_string_value(json_object_get(e, "id")), rec->id) == 0) {
			json_object_set(e, "drill", rec->drill);
			return 0;
		}
	}
	return 1;
}

/* record - the drill's outcome on the backup's entry; 0, or -1 (reported). */
static int record(const char *repo, const char *id, json_t *drill)
{
	DrillRecord rec = {id, drill};
	uid_t uid;
	gid_t gid;

	if (walarchive_owner(repo, &uid, &gid) != 0)
		return -1;
	return backup_catalog_update(repo, uid, gid, record_edit, &rec);
}

/* last_drill_at - when the entry's recorded drill finished (epoch), ok or not; 0 none. */
static double last_drill_at(const char *repo, const char *id, bool *ok)
{
	json_t *root = backup_catalog_json(repo), *e;
	double at = 0;
	size_t i;

	*ok = false;
	json_array_foreach(json_object_get(root, "base"), i, e) {
		json_t *d = json_object_get(e, "drill");

		if (!json_is_object(d) || !json_is_string(json_object_get(e, "id")) ||
		    strcmp(json_string_value(json_object_get(e, "id")), id) != 0)
			continue;
		if (restore_parse_time(json_string_value(json_object_get(d, "at")), &at) != 0)
			at = 0;
		*ok = json_is_true(json_object_get(d, "ok"));
	}
	json_decref(root);
	return at;
}

/* ---- the drill --------------------------------------------------------------------- */

typedef struct {
	PgcExecCtx *ctx;
	PgcHost *h;
	const char *scratch, *data, *log_file;
	bool started;
	int port;
	double t_copy, t_replay, t_check;
	const char *replayed_to;
	CheckResult cr;
	char err[512];
} Drill;

/* drill_steps - copy, verify, start, replay, check; 0, or -1 with d->err. */
static int drill_steps(Drill *d, const PgcBaseBackupInfo *e, uid_t uid, gid_t gid)
{
	PgcExecCtx *ctx = d->ctx;
	const PgcCluster *c = ctx->c;
	const char *repo = c->backup.repository.v;
	const char *conninfo;
	PgcRestoreWait w = {0};
	double t0 = (clock_ms() / 1000.0);
	PGconn *conn;

	if (restore_copy_tree(arena_printf(ctx->arena, "%s/%s", repo, e->path), d->data, uid, gid,
			      e->size_bytes, true,
			      arena_printf(ctx->arena, "restore drill of %s", e->id)) != 0) {
		snprintf(d->err, sizeof d->err, "could not copy base backup %s into \"%s\"", e->id,
			 d->data);
		return -1;
	}
	if (restore_verify_copy(d->h, c, d->data, ctx->action_timeout_s, d->err, sizeof d->err) != 0)
		return -1;
	d->t_copy = (clock_ms() / 1000.0) - t0;
	d->port = free_port(d->h);
	if (d->port == 0) {
		snprintf(d->err, sizeof d->err, "no free port between %d and %d for the drill's server",
			 DRILL_PORT_MIN, DRILL_PORT_MAX);
		return -1;
	}
	if (restore_prepare_copy(d->h, ctx->arena, d->data,
				 drill_conf(ctx->arena, c, d->port, d->scratch), drill_hba(ctx->arena, c),
				 plan_ident_conf(ctx->arena, c)) != 0) {
		snprintf(d->err, sizeof d->err, "could not prepare the copy \"%s\"", d->data);
		return -1;
	}
	t0 = (clock_ms() / 1000.0);
	if (restore_start_server(d->h, c, d->data, d->log_file, ctx->ready_timeout_s) != 0) {
		snprintf(d->err, sizeof d->err, "could not start the restored copy");
		return -1;
	}
	d->started = true;
	conninfo = pgsql_conninfo_socket(ctx->arena, d->scratch, d->port, c->os_user.v, NULL);
	w.host = d->h;
	w.label = arena_printf(ctx->arena, "the restore drill of base backup %s", e->id);
	w.conninfo = conninfo;
	w.data_dir = d->data;
	w.log_file = d->log_file;
	w.timeout_s = ctx->action_timeout_s;
	w.progress = true;
	w.error = d->err;
	w.error_len = sizeof d->err;
	if (restore_wait(&w) != RESTORE_PROMOTED)
		return -1;
	d->t_replay = (clock_ms() / 1000.0) - t0;
	conn = pgsql_connect(conninfo, 0, d->err, sizeof d->err);
	if (conn != NULL) {
		PGresult *r = NULL;
		PgcPgError pe;

		/* Where replay ended (it stays there after promotion). */
		if (pgsql_query(conn, "SELECT pg_last_wal_replay_lsn()", 0, NULL, 0, &r, &pe) == 0) {
			d->replayed_to = arena_strdup(ctx->arena, PQgetvalue(r, 0, 0));
			PQclear(r);
		}
		PQfinish(conn);
	}
	d->err[0] = '\0';
	t0 = (clock_ms() / 1000.0);
	if (check(ctx->arena, c, d->scratch, d->port, ctx->action_timeout_s, &d->cr, d->err,
		  sizeof d->err) != 0)
		return -1;
	d->t_check = (clock_ms() / 1000.0) - t0;
	return 0;
}

int drill_run(PgcExecCtx *ctx)
{
	const PgcCluster *c = ctx->c;
	const char *repo = c->backup.repository.v, *id = ctx->a->payload.target;
	const PgcBaseBackupInfo *e = NULL;
	PgcBackupCatalog *cat;
	Drill d;
	json_t *rec;
	double t0 = (clock_ms() / 1000.0), at;
	uid_t uid = FS_NO_UID;
	gid_t gid = FS_NO_GID;
	bool ok_before;
	int rc = -1, drc;

	memset(&d, 0, sizeof d);
	d.ctx = ctx;
	if (repo == NULL)
		return exec_fail(ctx, "cluster \"%s\" has no backup repository to drill", c->name);
	cat = backup_catalog_load(repo);
	if (cat == NULL)
		return exec_note(ctx, "could not read the catalog of \"%s\"", repo);
	for (size_t i = 0; id != NULL && i < cat->n_base; i++)
		if (strcmp(cat->base[i].id, id) == 0)
			e = &cat->base[i];
	if (e == NULL || e->deleting) {
		exec_fail(ctx, "cannot drill base backup %s of \"%s\": it is %s", id ? id : "(none named)",
			   repo, e == NULL ? "not in the catalog" : "being deleted");
		goto cleanup;
	}
	/* Checked first: a drill that succeeded within the period is not run again. */
	at = last_drill_at(repo, id, &ok_before);
	if (ok_before && c->backup.verify.every.set &&
	    (double)time(NULL) - at < (double)c->backup.verify.every.ms / 1000) {
		ctx->nothing_to_do = true;
		rc = 0;
		goto cleanup;
	}
	d.h = host_for("127.0.0.1", c->os_user.v);
	if (d.h == NULL || (geteuid() == 0 && host_os_ids(d.h, &uid, &gid) != 0)) {
		exec_fail(ctx, "cannot run the restore drill as os_user \"%s\"", c->os_user.v);
		goto cleanup;
	}
	d.scratch = scratch_dir(ctx->arena, c, uid, gid);
	if (d.scratch == NULL) {
		exec_note(ctx, "could not create the drill's scratch folder");
		goto cleanup;
	}
	d.data = arena_printf(ctx->arena, "%s/data", d.scratch);
	d.log_file = arena_printf(ctx->arena, "%s/server.log", d.scratch);
	log_info("restore drill of base backup %s of cluster \"%s\" in \"%s\"", id, c->name, d.scratch);
	drc = drill_steps(&d, e, uid, gid);
	if (d.started)
		stop_server(d.h, c, d.data);
	if (host_remove_tree(d.h, exec_parent_dir(ctx->arena, d.scratch), d.scratch) != 0)
		log_warn("the drill's scratch folder \"%s\" could not be removed", d.scratch);

	rec = json_pack("{s:b s:s s:f s:f s:f s:f s:I s:I s:o s:i s:s?}", "ok", drc == 0, "at",
			now_iso(ctx->arena), "duration_s", (clock_ms() / 1000.0) - t0, "copy_s", d.t_copy,
			"replay_s", d.t_replay, "check_s", d.t_check, "rows",
			(json_int_t)(drc == 0 ? d.cr.rows : -1), "tables", (json_int_t)d.cr.tables,
			"replayed_to", d.replayed_to ? json_string(d.replayed_to) : json_null(), "port",
			d.port, "message", drc == 0 ? d.cr.message : d.err);
	rc = record(repo, id, rec) == 0 ? 0 : -1;
	json_decref(rec);
	if (drc != 0) {
		rc = exec_fail(ctx, "restore drill of base backup %s of cluster \"%s\" FAILED: %s", id,
				c->name, d.err[0] ? d.err : "see the messages above");
	} else if (rc != 0) {
		exec_note(ctx, "could not record the drill in the catalog of \"%s\"", repo);
	} else {
		log_info("restore drill of base backup %s passed in %.1f s: %s (replayed to %s)", id,
			 (clock_ms() / 1000.0) - t0, d.cr.message, d.replayed_to ? d.replayed_to : "?");
	}
cleanup:
	host_free(d.h);
	backup_catalog_free(cat);
	return rc;
}
