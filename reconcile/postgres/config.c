/*
 * reconcile/postgres/config.c - files pgconverge manages in a data directory
 * (the include file and its line in postgresql.conf, pg_hba.conf,
 * pg_ident.conf's map, the replication passfile), ALTER SYSTEM drift and
 * reloads. initdb.c calls down into this file, never the other way.
 *
 * Files go through host_write_file(), which writes atomically and leaves a
 * file alone when its content, mode and owner are already right: that is
 * the "check first" of these actions.
 */
#include "reconcile/postgres/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "reconcile/engine/exec.h"
#include "reconcile/pg/conf.h"
#include "reconcile/pg/layout.h"
#include "reconcile/pg/passfile.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/engine/secret.h"
#include "reconcile/postgres/plan_conf.h"

/* ---- the include line in postgresql.conf ----------------------------------- */

#define PG_CONF "postgresql.conf"
#define CONF_MAX (16 * 1024 * 1024)

static const char include_line[] = "include '" PGC_MANAGED_CONF "'";

static const char empty_managed[] =
    "# " PGC_MANAGED_CONF " - managed by pgconverge: this file is rewritten on every apply.\n"
    "# Change the topology file instead of editing it.\n";

int config_ensure_include(PgcExecCtx *ctx)
{
	const char *dir = ctx->n->data_dir.v;
	const char *conf = arena_printf(ctx->arena, "%s/%s", dir, PG_CONF);
	const char *managed = arena_printf(ctx->arena, "%s/%s", dir, PGC_MANAGED_CONF);
	char *buf = NULL, *old = NULL;
	size_t len = 0, olen = 0;
	bool changed;
	int rc = -1, r;

	/* The include line makes the server refuse to start without the file. */
	r = host_read_file(ctx->host, managed, &old, &olen, CONF_MAX);
	if (r < 0)
		goto cleanup;
	if (r == 1) {
		if (host_write_file(ctx->host, managed, empty_managed, strlen(empty_managed), 0600,
				    &changed) != 0) {
			exec_note(ctx, "could not write \"%s\"", managed);
			goto cleanup;
		}
		ctx->nothing_to_do = false;
	}

	r = host_read_file(ctx->host, conf, &buf, &len, CONF_MAX);
	if (r < 0)
		goto cleanup;
	if (r == 1) {
		exec_fail(ctx, "cannot add the include line: \"%s\" does not exist", conf);
		goto cleanup;
	}
	if (!conf_has_include(buf)) {
		const char *sep = len > 0 && buf[len - 1] != '\n' ? "\n" : "";
		const char *text = arena_printf(ctx->arena, "%s%s%s\n", buf, sep, include_line);

		if (host_write_file(ctx->host, conf, text, strlen(text), 0600, &changed) != 0) {
			exec_note(ctx, "could not write \"%s\"", conf);
			goto cleanup;
		}
		ctx->nothing_to_do = false;
		log_info("added \"%s\" to \"%s\"", include_line, conf);
	}
	rc = 0;
cleanup:
	free(buf);
	free(old);
	return rc;
}

/* ---- pg_ident.conf ------------------------------------------------------ */

int config_write_ident(PgcExecCtx *ctx, const char *content)
{
	const char *path = arena_printf(ctx->arena, "%s/pg_ident.conf", ctx->n->data_dir.v);
	bool changed = false;

	if (content == NULL)
		content = plan_ident_conf(ctx->arena, ctx->c);
	if (host_write_file(ctx->host, path, content, strlen(content), 0600, &changed) != 0)
		return exec_note(ctx, "could not write \"%s\"", path);
	if (changed) {
		ctx->nothing_to_do = false;
		log_info("wrote \"%s\"", path);
	}
	return 0;
}

/* ---- files -------------------------------------------------------------- */

/* write_file - content into path (NULL: data_dir/default_name) on the context's host. */
static int write_file(PgcExecCtx *ctx, const char *path, const char *default_name,
		      const char *content)
{
	bool changed = false;

	if (path == NULL)
		path = arena_printf(ctx->arena, "%s/%s", ctx->n->data_dir.v, default_name);
	if (host_write_file(ctx->host, path, content, strlen(content), 0600, &changed) != 0)
		return exec_note(ctx, "could not write \"%s\"", path);
	ctx->nothing_to_do = !changed;
	if (changed)
		log_info("wrote \"%s\"", path);
	return 0;
}

/* payload_content - the action's file content; -1 (reported) without a host or content. */
static int payload_content(PgcExecCtx *ctx)
{
	if (exec_need_host(ctx) != 0)
		return -1;
	if (ctx->a->payload.content == NULL)
		return exec_fail(ctx, "action \"%s\" carries no file content", ctx->a->id);
	return 0;
}

int config_write_node(PgcExecCtx *ctx, const char *path, const char *content)
{
	bool nothing;

	if (write_file(ctx, path, PGC_MANAGED_CONF, content) != 0)
		return -1;
	/* After the file: the include line makes it required at server start. */
	nothing = ctx->nothing_to_do;
	if (config_ensure_include(ctx) != 0)
		return -1;
	ctx->nothing_to_do = nothing && ctx->nothing_to_do;
	return 0;
}

int config_write(PgcExecCtx *ctx)
{
	if (payload_content(ctx) != 0)
		return -1;
	return config_write_node(ctx, ctx->a->payload.path, ctx->a->payload.content);
}

int config_write_hba_node(PgcExecCtx *ctx, const char *path, const char *content,
			  const char *ident)
{
	bool nothing;

	if (write_file(ctx, path, "pg_hba.conf", content) != 0)
		return -1;
	/* The first hba line maps to pgconverge's ident map: keep them together. */
	nothing = ctx->nothing_to_do;
	if (config_write_ident(ctx, ident) != 0)
		return -1;
	ctx->nothing_to_do = nothing && ctx->nothing_to_do;
	return 0;
}

int config_write_hba(PgcExecCtx *ctx)
{
	if (payload_content(ctx) != 0)
		return -1;
	return config_write_hba_node(ctx, ctx->a->payload.path, ctx->a->payload.content,
				     ctx->a->payload.ident);
}

const char *config_passfile_escape(PgcArena *arena, const char *field)
{
	return passfile_escape(arena, field);
}

char *config_passfile_text(PgcExecCtx *ctx, const PgcNode *upstream, const char *user,
			   const char *password)
{
	return passfile_render(ctx->arena, upstream ? upstream->host.v : NULL,
			       upstream ? arena_printf(ctx->arena, "%lld", upstream->port.v) : NULL,
			       user, password);
}

int config_write_passfile_node(PgcExecCtx *ctx, const char *path, const char *upstream,
			       const char *user, const PgcSecret *secret)
{
	const PgcNode *up;
	char err[512], *pw, *line;
	bool changed = false;
	int rc;

	if (secret == NULL || secret->kind == SECRET_NONE)
		secret = &ctx->c->replication.password;
	if (user == NULL)
		user = ctx->c->replication.user.v;
	up = upstream ? topology_node_ref(ctx->t, ctx->c, upstream) : cluster_upstream(ctx->c, ctx->n);
	if (upstream != NULL && up == NULL)
		return exec_fail(ctx,
				  "cannot write the passfile of node \"%s\": upstream \"%s\" is "
				  "not in the cluster",
				  exec_node_label(ctx, ctx->n), upstream);
	pw = secret_resolve(secret, "replication password", err, sizeof(err));
	if (pw == NULL)
		return exec_fail(ctx, "cannot write the passfile of node \"%s\": %s",
				  exec_node_label(ctx, ctx->n), err);
	if (path == NULL)
		path = plan_passfile_path(ctx->arena, ctx->n->data_dir.v);
	line = config_passfile_text(ctx, up, user, pw);
	secret_free(pw);
	if (line == NULL)
		return exec_fail(ctx, "cannot write the passfile of node \"%s\": the replication "
				  "password has a line break, which a passfile cannot hold",
				  exec_node_label(ctx, ctx->n));
	rc = host_write_file(ctx->host, path, line, strlen(line), 0600, &changed);
	secret_free(line);
	if (rc != 0)
		return exec_note(ctx, "could not write \"%s\"", path);
	ctx->nothing_to_do = !changed;
	if (changed)
		log_info("wrote the replication passfile \"%s\"", path);
	return 0;
}

int config_write_passfile(PgcExecCtx *ctx)
{
	const PgcPayload *pl = &ctx->a->payload;

	if (exec_need_host(ctx) != 0)
		return -1;
	return config_write_passfile_node(ctx, pl->path, pl->upstream, pl->target, &pl->secret);
}

/* ---- SQL: ALTER SYSTEM RESET, reload ------------------------------------ */

int config_reset_auto_conf(PgcExecCtx *ctx)
{
	const PgcPayload *pl = &ctx->a->payload;
	const char *params[1] = {pl->target};
	const char *sql;
	PGresult *r = NULL;
	PgcPgError e;
	PGconn *conn;
	int rc = -1;

	if (ctx->n == NULL)
		return exec_fail(ctx, "action \"%s\" names no node", ctx->a->id);
	if (pl->sql == NULL && pl->target == NULL)
		return exec_fail(ctx, "action \"%s\" names no parameter", ctx->a->id);
	sql = pl->sql ? pl->sql
		      : arena_printf(ctx->arena, "ALTER SYSTEM RESET %s",
				     pgsql_quote_ident(ctx->arena, pl->target));
	conn = exec_connect(ctx, ctx->n, NULL);
	if (conn == NULL)
		return -1;
	if (pl->target != NULL) {
		/* ALTER SYSTEM writes lowercase names into postgresql.auto.conf. */
		if (pgsql_query(conn,
				"SELECT 1 FROM pg_catalog.pg_file_settings WHERE name = lower($1) "
				"AND sourcefile LIKE '%/postgresql.auto.conf'",
				1, params, 0, &r, &e) != 0) {
			exec_fail(
			    ctx, "could not read pg_file_settings on node \"%s\": %s (SQLSTATE %s)",
			    exec_node_label(ctx, ctx->n), e.message, e.sqlstate);
			goto cleanup;
		}
		ctx->nothing_to_do = PQntuples(r) == 0;
		PQclear(r);
		if (ctx->nothing_to_do) {
			rc = 0;
			goto cleanup;
		}
	}
	if (pgsql_query(conn, sql, 0, NULL, ctx->action_timeout_s * 1000, NULL, &e) != 0) {
		exec_fail(ctx, "could not reset parameter \"%s\" on node \"%s\": %s (SQLSTATE %s)",
			   pl->target ? pl->target : "?", exec_node_label(ctx, ctx->n), e.message,
			   e.sqlstate);
		goto cleanup;
	}
	log_info("removed \"%s\" from postgresql.auto.conf on node \"%s\"",
		 pl->target ? pl->target : "?", exec_node_label(ctx, ctx->n));
	rc = 0;
cleanup:
	PQfinish(conn);
	return rc;
}

/*
 * warn_config_errors - lines the server refuses in its configuration files
 * (it keeps the previous values for them); reported as warnings, since the
 * reload itself happened. A changed restart-only parameter is not an error,
 * nor is one removed from the files (a row without a file: pending_restart).
 */
static void warn_config_errors(PgcExecCtx *ctx, PGconn *conn)
{
	static const char *const checks[] = {
	    "SELECT sourcefile || ':' || sourceline || ': ' || error FROM pg_catalog.pg_file_settings "
	    "WHERE error IS NOT NULL AND sourcefile IS NOT NULL "
	    "AND error <> 'setting could not be applied' ORDER BY 1",
	    "SELECT 'pg_hba.conf:' || line_number || ': ' || error FROM pg_catalog.pg_hba_file_rules "
	    "WHERE error IS NOT NULL ORDER BY line_number",
	};

	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		PGresult *r = NULL;
		PgcPgError e;

		if (pgsql_query(conn, checks[i], 0, NULL, 0, &r, &e) != 0) {
			log_debug("could not check the configuration of node \"%s\": %s",
				  exec_node_label(ctx, ctx->n), e.message);
			continue;
		}
		for (int row = 0; row < PQntuples(r); row++)
			log_warn("node \"%s\" ignores a configuration line: %s",
				 exec_node_label(ctx, ctx->n), PQgetvalue(r, row, 0));
		PQclear(r);
	}
}

int config_reload(PgcExecCtx *ctx)
{
	const PgcNode *n = ctx->n;
	char err[512];
	const char *conninfo;
	PgcPgError e;
	PGconn *conn;
	int rc = -1;

	if (n == NULL)
		return exec_fail(ctx, "action \"%s\" names no node", ctx->a->id);
	conninfo = pgsql_node_conninfo(ctx->arena, ctx->c, n, NULL);
	conn = pgsql_connect(conninfo, 0, err, sizeof(err));
	if (conn == NULL) {
		/* No SQL (e.g. pg_hba.conf locked pgconverge out): a signal still works locally. */
		if (ctx->host == NULL)
			return exec_fail(ctx, "could not reload node \"%s\": %s",
					  exec_node_label(ctx, n), err);
		log_info("reloading node \"%s\" with pg_ctl: cannot connect: %s",
			 exec_node_label(ctx, n), err);
		if (pgctl_reload(ctx->host, ctx->c, n, ctx->action_timeout_s) != 0)
			return exec_note(ctx, "could not reload node \"%s\"",
					  exec_node_label(ctx, n));
		return 0;
	}
	if (pgsql_query(conn, "SELECT pg_catalog.pg_reload_conf()", 0, NULL, 0, NULL, &e) != 0) {
		exec_fail(ctx, "could not reload node \"%s\": %s (SQLSTATE %s)",
			   exec_node_label(ctx, n), e.message, e.sqlstate);
		goto cleanup;
	}
	warn_config_errors(ctx, conn);
	rc = 0;
cleanup:
	PQfinish(conn);
	return rc;
}
