/*
 * reconcile/replication.c - ACT_CREATE_SLOT and ACT_CLONE.
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
 * directory (the data directory must be empty for pg_basebackup) and
 * removed as soon as pg_basebackup is done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "reconcile/actions.h"
#include "reconcile/pgctl.h"
#include "reconcile/pgsql.h"

int replication_create_slot(PgcApplyCtx *ctx)
{
	const char *slot = ctx->a->payload.target;
	const char *params[1] = {slot};
	PGresult *r = NULL;
	PgcPgError e;
	PGconn *conn;
	int rc = -1;

	if (ctx->n == NULL || slot == NULL)
		return apply_fail(ctx, "action \"%s\" names no node or no slot", ctx->a->id);
	conn = apply_connect(ctx, ctx->n, NULL);
	if (conn == NULL)
		return -1;
	if (pgsql_query(
		conn, "SELECT slot_type FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
		1, params, 0, &r, &e) != 0) {
		apply_fail(ctx, "could not look for slot \"%s\" on node \"%s\": %s (SQLSTATE %s)",
			   slot, apply_node_label(ctx, ctx->n), e.message, e.sqlstate);
		goto cleanup;
	}
	if (PQntuples(r) > 0) {
		if (strcmp(PQgetvalue(r, 0, 0), "physical") != 0) {
			apply_fail(ctx,
				   "slot \"%s\" on node \"%s\" exists but is a %s slot\n"
				   "hint: drop it, or rename the replica node",
				   slot, apply_node_label(ctx, ctx->n), PQgetvalue(r, 0, 0));
			goto cleanup;
		}
		ctx->nothing_to_do = true;
		rc = 0;
		goto cleanup;
	}
	/* The plan's statement, or one that reserves WAL at once: the replica
	 * needs it from the start of its copy on. */
	if (ctx->a->payload.sql != NULL)
		rc = pgsql_query(conn, ctx->a->payload.sql, (int)ctx->a->payload.n_params,
				 ctx->a->payload.params, ctx->action_timeout_s * 1000, NULL, &e);
	else
		rc = pgsql_query(conn,
				 "SELECT pg_catalog.pg_create_physical_replication_slot($1, true)",
				 1, params, ctx->action_timeout_s * 1000, NULL, &e);
	if (rc != 0) {
		rc = -1;
		apply_fail(ctx, "could not create slot \"%s\" on node \"%s\": %s (SQLSTATE %s)",
			   slot, apply_node_label(ctx, ctx->n), e.message, e.sqlstate);
		goto cleanup;
	}
	log_info("created replication slot \"%s\" on node \"%s\"", slot,
		 apply_node_label(ctx, ctx->n));
	rc = 0;
cleanup:
	PQclear(r);
	PQfinish(conn);
	return rc;
}

/* file_exists - 1 present, 0 absent, -1 error (reported), on the context's host. */
static int file_exists(PgcApplyCtx *ctx, const char *path)
{
	char *buf = NULL;
	size_t len;
	int rc = host_read_file(ctx->host, path, &buf, &len, 1024 * 1024);

	free(buf);
	if (rc < 0)
		return -1;
	return rc == 0;
}

/*
 * write_temp_passfile - a passfile for the copy from up, beside the data
 * directory, 0600 and owned by os_user; its path is malloc'd into *path.
 * 0, or -1 (reported).
 */
static int write_temp_passfile(PgcApplyCtx *ctx, const PgcNode *up, const char *parent,
			       const char *password, char **path)
{
	char *text = NULL;
	size_t len;
	uid_t uid;
	gid_t gid;
	int fd, saved, rc = -1;

	if (asprintf(path, "%s/.pgconverge-clone-%s.XXXXXX", parent, ctx->n->name) < 0)
		abort();
	fd = mkstemp(*path); /* 0600 */
	if (fd < 0) {
		saved = errno;
		apply_fail(ctx, "could not create a passfile in \"%s\": %s", parent,
			   strerror(saved));
		free(*path);
		*path = NULL;
		return -1;
	}
	if (geteuid() == 0 &&
	    (host_os_ids(ctx->host, &uid, &gid) != 0 || fchown(fd, uid, gid) != 0)) {
		saved = errno;
		apply_fail(ctx, "could not give passfile \"%s\" to user \"%s\": %s", *path,
			   ctx->c->os_user.v, strerror(saved));
		goto cleanup;
	}
	text = config_passfile_text(ctx, up, ctx->c->replication.user.v, password);
	len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len) {
		saved = errno;
		apply_fail(ctx, "could not write passfile \"%s\": %s", *path, strerror(saved));
		goto cleanup;
	}
	rc = 0;
cleanup:
	apply_secret_free(text);
	close(fd);
	if (rc != 0) {
		unlink(*path);
		free(*path);
		*path = NULL;
	}
	return rc;
}

/* basebackup_argv - the plan's argv, or the one reconcile.md describes. */
static const char **basebackup_argv(PgcApplyCtx *ctx, const PgcNode *up)
{
	const PgcCluster *c = ctx->c;
	const char **argv;
	bool bad = false;
	size_t k = 0;

	argv = apply_payload_argv(ctx, "pg_basebackup", &bad);
	if (argv != NULL || bad)
		return argv;
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
static int run_basebackup(PgcApplyCtx *ctx, const PgcNode *up, const char *passfile)
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
		return apply_note(ctx, "could not run pg_basebackup");
	if (res.status != 0 || res.timed_out)
		apply_program_failed(arena_printf(ctx->arena,
						  "could not copy node \"%s\" into \"%s\"",
						  apply_node_label(ctx, up), ctx->n->data_dir.v),
				     argv[0], &res, ctx->error, sizeof(ctx->error));
	else
		rc = 0;
	proc_result_free(&res);
	return rc;
}

/* clone_into - creates the folders, writes the passfile, copies, removes the passfile. */
static int clone_into(PgcApplyCtx *ctx, const PgcNode *up)
{
	const char *dir = ctx->n->data_dir.v;
	const char *parent = apply_parent_dir(ctx->arena, dir);
	const PgcSecret *secret = ctx->a->payload.secret.kind != SECRET_NONE
				      ? &ctx->a->payload.secret
				      : &ctx->c->replication.password;
	char *passfile = NULL, *pw = NULL, err[512];
	int rc;

	if (host_mkdir_p(ctx->host, parent, 0755) != 0 || host_mkdir_p(ctx->host, dir, 0700) != 0)
		return apply_note(ctx, "could not create data directory \"%s\"", dir);
	if (secret->kind != SECRET_NONE) {
		pw = apply_secret_resolve(secret, "replication password", err, sizeof(err));
		if (pw == NULL)
			return apply_fail(ctx, "cannot copy node \"%s\": %s",
					  apply_node_label(ctx, up), err);
		rc = write_temp_passfile(ctx, up, parent, pw, &passfile);
		apply_secret_free(pw);
		if (rc != 0)
			return -1;
	}
	rc = run_basebackup(ctx, up, passfile);
	if (passfile != NULL) {
		if (unlink(passfile) != 0)
			log_warn("could not remove passfile \"%s\": %s", passfile, strerror(errno));
		free(passfile);
	}
	return rc;
}

/* finish_clone - standby.signal, and a server log of its own (the copy holds the upstream's). */
static int finish_clone(PgcApplyCtx *ctx)
{
	const char *dir = ctx->n->data_dir.v;
	const char *sig_path = arena_printf(ctx->arena, "%s/standby.signal", dir);
	const char *log_dir = arena_printf(ctx->arena, "%s/%s", dir, PGCTL_LOG_DIR);
	const char *log_path = arena_printf(ctx->arena, "%s/%s", dir, PGCTL_LOG_FILE);
	bool changed;

	if (host_write_file(ctx->host, sig_path, "", 0, 0600, &changed) != 0)
		return apply_note(ctx, "could not write \"%s\"", sig_path);
	if (host_mkdir_p(ctx->host, log_dir, 0700) != 0 ||
	    host_write_file(ctx->host, log_path, "", 0, 0600, &changed) != 0)
		return apply_note(ctx, "could not write \"%s\"", log_path);
	return 0;
}

int replication_clone(PgcApplyCtx *ctx)
{
	const char *dir, *upname;
	const PgcNode *up;
	int kind, r;

	if (apply_need_host(ctx) != 0)
		return -1;
	dir = ctx->n->data_dir.v;
	upname = ctx->a->payload.upstream;
	up = upname ? cluster_node(ctx->c, upname) : cluster_upstream(ctx->c, ctx->n);
	if (up == NULL)
		return apply_fail(ctx,
				  "cannot copy node \"%s\": upstream \"%s\" is not in the cluster",
				  apply_node_label(ctx, ctx->n), upname ? upname : "(none)");
	kind = initdb_data_dir_kind(ctx, dir);
	if (kind < 0)
		return apply_note(ctx, "could not look at data directory \"%s\"", dir);
	if (kind == 3)
		return apply_fail(
		    ctx,
		    "refusing to copy into \"%s\" for node \"%s\": the folder is not empty "
		    "and is not a PostgreSQL data directory\n"
		    "hint: empty the folder, or set data_dir to another one",
		    dir, apply_node_label(ctx, ctx->n));
	if (kind == 2) {
		/* Done before, or copied by a run that stopped before standby.signal. */
		r = file_exists(ctx, arena_printf(ctx->arena, "%s/standby.signal", dir));
		if (r < 0)
			return apply_note(ctx, "could not look for standby.signal in \"%s\"", dir);
		if (r == 1) {
			ctx->nothing_to_do = true;
			return 0;
		}
		r = file_exists(ctx, arena_printf(ctx->arena, "%s/backup_label", dir));
		if (r < 0)
			return apply_note(ctx, "could not look for backup_label in \"%s\"", dir);
		if (r == 0)
			return apply_fail(
			    ctx,
			    "refusing to copy into \"%s\" for node \"%s\": it holds a "
			    "PostgreSQL data directory that is not a standby\n"
			    "hint: pgconverge never deletes a data directory; move it away "
			    "to have the node copied again",
			    dir, apply_node_label(ctx, ctx->n));
		return finish_clone(ctx);
	}
	if (clone_into(ctx, up) != 0)
		return -1;
	if (finish_clone(ctx) != 0)
		return -1;
	log_info("copied node \"%s\" into \"%s\" for standby \"%s\"", apply_node_label(ctx, up),
		 dir, apply_node_label(ctx, ctx->n));
	return 0;
}
