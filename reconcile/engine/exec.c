/*
 * reconcile/engine/exec.c - the helpers every executor shares (exec.h).
 */
#include "reconcile/engine/exec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "reconcile/pg/pgsql.h"

static void keep_error(PgcExecCtx *ctx, const char *fmt, va_list ap)
{
	char *nl;

	if (ctx->error[0] != '\0')
		return;
	vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
	nl = strchr(ctx->error, '\n');
	if (nl != NULL)
		*nl = '\0';
}

int exec_fail(PgcExecCtx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	keep_error(ctx, fmt, ap);
	va_end(ap);
	return -1;
}

int exec_note(PgcExecCtx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	keep_error(ctx, fmt, ap);
	va_end(ap);
	return -1;
}

const char *exec_node_label(PgcExecCtx *ctx, const PgcNode *n)
{
	return arena_printf(ctx->arena, "%s/%s", ctx->c->name, n ? n->name : "-");
}

const char *exec_parent_dir(PgcArena *arena, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return ".";
	if (slash == path)
		return "/";
	return arena_strndup(arena, path, (size_t)(slash - path));
}

const char **exec_payload_argv(PgcExecCtx *ctx, const char *program, bool *bad)
{
	const PgcPayload *pl = ctx->a != NULL ? &ctx->a->payload : NULL;
	const char *expected = arena_printf(ctx->arena, "%s/%s", ctx->c->bin_dir.v, program);
	const char **argv;

	*bad = false;
	if (pl == NULL || pl->params == NULL || pl->n_params == 0)
		return NULL;
	/* A saved plan is data from a file: it runs bin_dir's program, nothing else. */
	if (pl->params[0] == NULL || strcmp(pl->params[0], expected) != 0) {
		*bad = true;
		exec_fail(ctx, "refusing action \"%s\": it runs \"%s\", expected \"%s\"",
			   ctx->a->id, pl->params[0] ? pl->params[0] : "", expected);
		return NULL;
	}
	argv = arena_calloc(ctx->arena, pl->n_params + 1, sizeof(char *));
	for (size_t i = 0; i < pl->n_params; i++)
		argv[i] = pl->params[i];
	return argv;
}

int exec_need_host_for(PgcExecCtx *ctx, const char *id)
{
	if (ctx->n == NULL)
		return exec_fail(ctx, "action \"%s\" names no node", id);
	if (ctx->host == NULL)
		return exec_fail(
		    ctx,
		    "cannot run \"%s\": node \"%s\" is on host \"%s\", not on this machine\n"
		    "hint: run pgconverge on that host",
		    id, exec_node_label(ctx, ctx->n), ctx->n->host.v);
	return 0;
}

int exec_need_host(PgcExecCtx *ctx)
{
	return exec_need_host_for(ctx, ctx->a != NULL ? ctx->a->id : "-");
}

PGconn *exec_connect(PgcExecCtx *ctx, const PgcNode *n, const char *dbname)
{
	char *conninfo;
	char err[512];
	PgcPgError e;
	PGconn *conn;

	conninfo = pgsql_node_conninfo(ctx->arena, ctx->c, n, dbname);
	conn = pgsql_connect(conninfo, 0, err, sizeof(err));
	if (conn == NULL) {
		exec_fail(ctx, "could not connect to node \"%s\"%s%s%s: %s",
			   exec_node_label(ctx, n), dbname ? " (database \"" : "",
			   dbname ? dbname : "", dbname ? "\")" : "", err);
		return NULL;
	}
	/*
	 * Our own commits (roles, databases) must not wait for a synchronous
	 * standby: on a new cluster synchronous_standby_names names replicas
	 * that this very run has yet to clone, which would wait forever.
	 */
	if (pgsql_query(conn, "SET synchronous_commit TO local", 0, NULL, 0, NULL, &e) != 0) {
		exec_fail(ctx, "could not set synchronous_commit on node \"%s\": %s (SQLSTATE %s)",
			   exec_node_label(ctx, n), e.message, e.sqlstate);
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

