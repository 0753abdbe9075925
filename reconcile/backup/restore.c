/*
 * reconcile/backup/restore.c - point-in-time restore (restore.h): the
 * ACT_RESTORE executor. The choice of backup is in restore_choose.c, the
 * configuration in restore_conf.c, the copy in restore_copy.c, starting and
 * watching the server in restore_wait.c. The node's data directory, the
 * folder beside it and its server are reached through ctx->host; left
 * outside it: the repository (catalog, copy, pg_verifybackup: a folder of
 * this machine, maybe a shared mount) and the data directory's parent,
 * made with fs_mkdir_p as pgconverge's own (host_mkdir_p gives os_user).
 */
#include "reconcile/backup/restore.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/clock.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "reconcile/backup/backup.h"
#include "reconcile/backup/backup_catalog.h"
#include "reconcile/backup/restore_conf.h"
#include "reconcile/backup/restore_copy.h"
#include "reconcile/backup/restore_wait.h"
#include "reconcile/backup/walarchive.h"
#include "reconcile/engine/plan.h"
#include "reconcile/pg/layout.h"
#include "reconcile/pg/lsn.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/postgres/config.h"
#include "reconcile/postgres/initdb.h"
#include "reconcile/postgres/plan_conf.h"
#include "reconcile/observe/observe_parse.h"

/* ---- the executor ----------------------------------------------------------------------- */

/* entry_of - the catalog entry with this id, or NULL. */
static const PgcBaseBackupInfo *entry_of(const PgcBackupCatalog *cat, const char *id)
{
	size_t i;

	for (i = 0; cat != NULL && id != NULL && i < cat->n_base; i++)
		if (strcmp(cat->base[i].id, id) == 0)
			return &cat->base[i];
	return NULL;
}

/* temp_path - <parent>/.<name>.pgconverge-restore beside the data directory. */
static const char *temp_path(PgcArena *a, const char *dir)
{
	const char *slash = strrchr(dir, '/');

	return arena_printf(a, "%.*s.%s%s", (int)(slash - dir + 1), dir, slash + 1, RESTORE_TEMP_SUFFIX);
}

/* A pg_verifybackup of the repository's backup, run beside the copy. */
typedef struct {
	const PgcCluster *c;
	const char *dir;
	int timeout_s;
	int rc;
	char err[512];
} VerifyJob;

static void *verify_main(void *arg)
{
	VerifyJob *j = arg;

	j->rc = restore_verify_backup(j->c, j->dir, j->timeout_s, j->err, sizeof j->err);
	return NULL;
}

/*
 * copy_verified - src copied into temp while pg_verifybackup checks src:
 * both only read the backup, so the check costs no time of its own (and
 * on a cold cache one read of the repository serves both). 0 only when the
 * copy is complete and synced and the backup passed; when it did not, the
 * copy is removed (reported, its first line in err).
 */
static int copy_verified(PgcExecCtx *ctx, const char *src, const char *temp, const char *parent,
			 uid_t uid, gid_t gid, const PgcBaseBackupInfo *e, char *err, size_t errlen)
{
	VerifyJob job = {ctx->c, src, ctx->action_timeout_s, -1, ""};
	pthread_t thread;
	bool threaded = pthread_create(&thread, NULL, verify_main, &job) == 0;
	int rc;

	if (!threaded)
		verify_main(&job);
	rc = restore_copy_tree(src, temp, uid, gid, e->size_bytes, true,
			       arena_printf(ctx->arena, "restore of %s", ctx->n->name));
	if (threaded)
		pthread_join(thread, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "could not copy base backup %s into \"%s\"", e->id, temp);
		return -1;
	}
	if (job.rc != 0) {
		snprintf(err, errlen, "%s", job.err);
		/* Ours, and a copy of a backup that failed its check: of no use to anyone. */
		if (host_remove_tree(ctx->host, parent, temp) != 0)
			log_warn("could not remove \"%s\", the copy of a backup that failed verification",
				 temp);
		return -1;
	}
	return 0;
}

/* fresh_copy - the backup copied, checked and prepared beside data_dir, then renamed to it. */
static int fresh_copy(PgcExecCtx *ctx, uid_t uid, gid_t gid)
{
	const PgcCluster *c = ctx->c;
	const char *repo = c->bootstrap.repository.v, *dir = ctx->n->data_dir.v;
	const char *parent = exec_parent_dir(ctx->arena, dir), *temp = temp_path(ctx->arena, dir);
	const char *id = ctx->a->payload.target, *src, *conf;
	const PgcBaseBackupInfo *e;
	PgcBackupCatalog *cat = backup_catalog_load(repo);
	char why[256];
	int rc = -1;

	if (cat == NULL)
		return exec_note(ctx, "could not read the catalog of \"%s\"", repo);
	e = entry_of(cat, id);
	if (e == NULL || e->deleting || !e->verify.ok) {
		exec_fail(ctx, "cannot restore base backup %s from \"%s\": it is %s\n"
			   "hint: run 'pgconverge plan' again to choose another backup",
			   id ? id : "(none named)", repo,
			   e == NULL ? "not in the catalog" : e->deleting ? "being deleted" : "not verified");
		goto cleanup;
	}
	src = arena_printf(ctx->arena, "%s/%s", repo, e->path);
	if (host_exists(ctx->host, temp)) {
		/* Ours by its name: an interrupted restore's copy. */
		log_info("removing \"%s\", the copy of an interrupted restore", temp);
		if (host_remove_tree(ctx->host, parent, temp) != 0) {
			exec_note(ctx, "could not remove \"%s\"", temp);
			goto cleanup;
		}
	}
	if (fs_mkdir_p(parent, 0755, FS_NO_UID, FS_NO_GID) != 0) {
		exec_note(ctx, "could not create \"%s\"", parent);
		goto cleanup;
	}
	log_info("restoring node \"%s\" from base backup %s of \"%s\"",
		 exec_node_label(ctx, ctx->n), id, repo);
	if (copy_verified(ctx, src, temp, parent, uid, gid, e, why, sizeof why) != 0) {
		exec_note(ctx, "%s", why);
		goto cleanup;
	}
	conf = ctx->a->payload.content ? ctx->a->payload.content
				       : restore_managed_conf(ctx->arena, c, ctx->n);
	if (restore_prepare_copy(ctx->host, ctx->arena, temp, conf,
				 plan_hba_conf(ctx->arena, c, ctx->n), plan_ident_conf(ctx->arena, c)) != 0) {
		exec_note(ctx, "could not prepare the restored copy \"%s\"", temp);
		goto cleanup;
	}
	/* Only now the data directory appears, complete and marked for recovery. */
	if (host_rename(ctx->host, temp, dir) != 0) {
		int err = errno;

		exec_fail(ctx, "could not rename \"%s\" to \"%s\": %s%s", temp, dir, strerror(err),
			   err == EBUSY || err == EXDEV
				   ? "\nhint: the data directory is a mount point; give the node a "
				     "data_dir inside it"
				   : "");
		goto cleanup;
	}
	if (host_sync_dir(ctx->host, parent) != 0) {
		exec_note(ctx, "could not sync \"%s\"", parent);
		goto cleanup;
	}
	rc = 0;
cleanup:
	backup_catalog_free(cat);
	return rc;
}

/*
 * finish - the promoted server's configuration without the recovery
 * settings, loaded. No restart: restore_command (sighup) goes with the
 * reload, and recovery_target_* (read only at server start, used only by
 * archive recovery) stay in the running server's memory, inert, until its
 * next start reads the file; pg_settings shows them pending_restart, which
 * the planner does not count on a server out of recovery.
 */
static int finish(PgcExecCtx *ctx, bool running)
{
	const PgcNode *n = ctx->n;
	const char *path = arena_printf(ctx->arena, "%s/%s", n->data_dir.v, PGC_MANAGED_CONF);
	const char *conf = plan_managed_conf(ctx->arena, ctx->c, n);
	bool changed = false;

	if (host_write_file(ctx->host, path, conf, strlen(conf), 0600, &changed) != 0)
		return exec_note(ctx, "could not write \"%s\"", path);
	if (!running)
		return pgctl_start(ctx->host, ctx->c, n, ctx->ready_timeout_s) == 0
			       ? 0
			       : exec_note(ctx, "could not start node \"%s\"",
					    exec_node_label(ctx, n));
	if (!changed)
		return 0;
	ctx->nothing_to_do = false;
	if (config_reload(ctx) != 0)
		return -1;
	log_info("node \"%s\": the restore's recovery settings are removed from %s and the "
		 "configuration reloaded", exec_node_label(ctx, n), PGC_MANAGED_CONF);
	return 0;
}

/* timeline_now - the timeline the server writes on, for the log line; 0 unknown. */
static unsigned timeline_now(PgcExecCtx *ctx)
{
	PGconn *conn = exec_connect(ctx, ctx->n, NULL);
	PGresult *r = NULL;
	PgcPgError e;
	unsigned tli = 0;

	if (conn == NULL)
		return 0;
	if (pgsql_query(conn, "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)", 0, NULL,
			0, &r, &e) == 0) {
		tli = (unsigned)strtoul(PQgetvalue(r, 0, 0), NULL, 16);
		PQclear(r);
	}
	PQfinish(conn);
	return tli;
}

int restore_run(PgcExecCtx *ctx)
{
	const PgcCluster *c = ctx->c;
	const PgcNode *n = ctx->n;
	const char *dir, *log_file, *conf;
	PgcRestoreWait w = {0};
	PgcRestoreOutcome outcome;
	char err[512];
	uid_t uid = FS_NO_UID;
	gid_t gid = FS_NO_GID;
	int kind, running;
	bool fresh = false;

	if (exec_need_host(ctx) != 0)
		return -1;
	if (!c->bootstrap.set || c->bootstrap.repository.v == NULL)
		return exec_fail(ctx, "cannot restore node \"%s\": cluster \"%s\" declares no "
				  "bootstrap.from_backup", exec_node_label(ctx, n), c->name);
	dir = n->data_dir.v;
	if (geteuid() == 0 && host_os_ids(ctx->host, &uid, &gid) != 0)
		return exec_note(ctx, "unknown os_user \"%s\"", c->os_user.v);
	kind = initdb_data_dir_kind(ctx, dir);
	if (kind < 0)
		return exec_note(ctx, "could not look at data directory \"%s\"", dir);
	if (kind == 3)
		return exec_fail(ctx, "refusing to restore into \"%s\": the folder is not empty and is "
				  "not a PostgreSQL data directory\n"
				  "hint: restoring in place is never done implicitly: empty it, or give "
				  "node \"%s\" another data_dir", dir, n->name);
	if (kind < 2) {
		if (fresh_copy(ctx, uid, gid) != 0)
			return -1;
		fresh = true;
	}
	/* The cluster's own archive must exist before the promoted server archives into it. */
	if (c->backup.set && c->backup.repository.v != NULL && backup_repository_init(c) != 0)
		return exec_note(ctx, "could not create backup repository \"%s\"",
				  c->backup.repository.v);
	running = pgctl_status(ctx->host, c, n);
	if (running < 0)
		return exec_note(ctx, "could not get the status of node \"%s\"",
				  exec_node_label(ctx, n));
	if (!host_exists(ctx->host, arena_printf(ctx->arena, "%s/recovery.signal", dir))) {
		char *cur = NULL;
		size_t len;
		int r = host_read_file(ctx->host, arena_printf(ctx->arena, "%s/%s", dir, PGC_MANAGED_CONF),
				       &cur, &len, 16 * 1024 * 1024);
		bool ours = r == 0 && restore_conf_is_restore(ctx->arena, cur);

		free(cur);
		if (r < 0)
			return exec_note(ctx, "could not read the managed configuration of \"%s\"", dir);
		/* Recovery is over (promoted): what is left is the restore's configuration, if any. */
		if (!ours) {
			ctx->nothing_to_do = true;
			return 0;
		}
		return finish(ctx, running == 1);
	}
	if (!fresh) {
		/* A restore under way: the restore's settings, as the plan rendered them. */
		conf = ctx->a->payload.content ? ctx->a->payload.content
					       : restore_managed_conf(ctx->arena, c, n);
		if (host_write_file(ctx->host, arena_printf(ctx->arena, "%s/%s", dir, PGC_MANAGED_CONF),
				    conf, strlen(conf), 0600, NULL) != 0)
			return exec_note(ctx, "could not write the managed configuration of \"%s\"", dir);
	}
	log_file = arena_printf(ctx->arena, "%s/%s", dir, PGCTL_LOG_FILE);
	w.log_offset = restore_file_size(ctx->host, log_file);
	if (running == 0) {
		if (pgctl_ensure_socket_dir(ctx->host) != 0 ||
		    restore_start_server(ctx->host, c, dir, log_file, ctx->ready_timeout_s) != 0)
			return exec_note(ctx, "could not start the restore of node \"%s\"",
					  exec_node_label(ctx, n));
	}
	w.host = ctx->host;
	w.label = exec_node_label(ctx, n);
	w.conninfo = pgsql_conninfo_local(ctx->arena, (int)n->port.v, c->os_user.v, NULL);
	w.data_dir = dir;
	w.log_file = log_file;
	w.timeout_s = ctx->action_timeout_s;
	w.want_pause = restore_pauses(&c->bootstrap);
	if (c->bootstrap.target_lsn.set)
		lsn_parse(c->bootstrap.target_lsn.v, &w.goal_lsn);
	w.progress = true;
	w.error = err;
	w.error_len = sizeof err;
	outcome = restore_wait(&w);
	if (outcome == RESTORE_FAILED)
		return exec_note(ctx, "%s", err);
	if (outcome == RESTORE_PAUSED) {
		log_info("node \"%s\" is restored and paused at %s (target_action: pause)",
			 exec_node_label(ctx, n), c->bootstrap.target_time.set ? c->bootstrap.target_time.v
						   : "its target");
		return 0;
	}
	if (finish(ctx, true) != 0)
		return -1;
	log_info("node \"%s\" is restored and promoted on timeline %u", exec_node_label(ctx, n),
		 timeline_now(ctx));
	return 0;
}
