/*
 * reconcile/postgres/sql_actions.c - roles, memberships, databases and extensions.
 *
 * The planner writes each statement (identifiers quoted with
 * pgsql_quote_ident); apply checks the catalog first so that a statement
 * that would fail because its work is done (CREATE ROLE of an existing
 * role, CREATE DATABASE of an existing database) is not sent, and fills in
 * the password verifier (see actions.h, "Password placeholder").
 *
 * Statements run on the action's node (the primary), or on the cluster's
 * primary for an action that names no node. CREATE DATABASE cannot run in a
 * transaction block: every statement here is sent alone, outside one.
 */
#include "reconcile/postgres/sql_actions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "reconcile/engine/exec.h"
#include "reconcile/engine/secret.h"
#include "reconcile/pg/pgsql.h"

/* ---- the password placeholder ------------------------------------------- */

/* skip_quoted - past the quoted text starting at s (s points at the opening quote). */
static const char *skip_quoted(const char *s, char quote, bool backslash_escapes)
{
	for (s++; *s != '\0'; s++) {
		if (backslash_escapes && *s == '\\' && s[1] != '\0') {
			s++;
		} else if (*s == quote) {
			if (s[1] != quote)
				return s + 1;
			s++;
		}
	}
	return s;
}

/* find_placeholders - positions of "$1" outside quotes (up to max); returns how many. */
static size_t find_placeholders(const char *sql, const char **found, size_t max)
{
	size_t n = 0;
	const char *s = sql;

	while (*s != '\0') {
		if (*s == '\'') {
			bool e = s > sql && (s[-1] == 'E' || s[-1] == 'e');

			s = skip_quoted(s, '\'', e);
		} else if (*s == '"') {
			s = skip_quoted(s, '"', false);
		} else if (s[0] == '$' && s[1] == '1' && !(s[2] >= '0' && s[2] <= '9')) {
			if (n < max)
				found[n] = s;
			n++;
			s += 2;
		} else {
			s++;
		}
	}
	return n;
}

char *sql_password_statement(PgcArena *arena, const char *sql, const char *literal)
{
	const char *at[2];

	if (find_placeholders(sql, at, 2) != 1)
		return NULL;
	return arena_printf(arena, "%.*s%s%s", (int)(at[0] - sql), sql, literal, at[0] + 2);
}

/* ---- helpers -------------------------------------------------------------- */

/* sql_node - the node statements run on: the action's, or the cluster's primary. */
static const PgcNode *sql_node(PgcExecCtx *ctx)
{
	if (ctx->n != NULL)
		return ctx->n;
	if (ctx->c->primary.v != NULL)
		return cluster_node(ctx->c, ctx->c->primary.v);
	return ctx->c->n_nodes == 1 ? &ctx->c->nodes[0] : NULL;
}

static PGconn *connect_for(PgcExecCtx *ctx, const char *dbname)
{
	const PgcNode *n = sql_node(ctx);

	if (n == NULL) {
		exec_fail(ctx, "action \"%s\": cluster \"%s\" has no primary to run it on",
			   ctx->a->id, ctx->c->name);
		return NULL;
	}
	return exec_connect(ctx, n, dbname);
}

/* exists - 1 when the catalog query with one parameter returns a row, 0 none, -1 error. */
static int exists(PgcExecCtx *ctx, PGconn *conn, const char *query, const char *param,
		  const char *what)
{
	const char *params[1] = {param};
	PGresult *r = NULL;
	PgcPgError e;
	int rc;

	if (pgsql_query(conn, query, 1, params, 0, &r, &e) != 0)
		return exec_fail(
		    ctx, "could not look for %s \"%s\" on node \"%s\": %s (SQLSTATE %s)", what,
		    param, exec_node_label(ctx, sql_node(ctx)), e.message, e.sqlstate);
	rc = PQntuples(r) > 0;
	PQclear(r);
	return rc;
}

/*
 * run_statement - sends sql, bounded by the action timeout. doing says what
 * it does ("create role \"app\""); the statement itself is never logged.
 */
static int run_statement(PgcExecCtx *ctx, PGconn *conn, const char *sql, bool with_params,
			 const char *doing)
{
	const PgcPayload *pl = &ctx->a->payload;
	int np = with_params ? (int)pl->n_params : 0;
	PgcPgError e;

	if (pgsql_query(conn, sql, np, np ? pl->params : NULL, ctx->action_timeout_s * 1000, NULL,
			&e) != 0)
		return exec_fail(ctx, "could not %s on node \"%s\": %s (SQLSTATE %s)", doing,
				  exec_node_label(ctx, sql_node(ctx)), e.message, e.sqlstate);
	return 0;
}

static int need_sql(PgcExecCtx *ctx)
{
	if (ctx->a->payload.sql == NULL || ctx->a->payload.target == NULL)
		return exec_fail(ctx, "action \"%s\" carries no statement or no target",
				  ctx->a->id);
	return 0;
}

/*
 * sql_open - need_sql(), then a connection to dbname on the node the
 * action runs on; NULL when either failed (reported).
 */
static PGconn *sql_open(PgcExecCtx *ctx, const char *dbname)
{
	if (need_sql(ctx) != 0)
		return NULL;
	return connect_for(ctx, dbname);
}

/*
 * open_and_look - a connection to the primary (database db; NULL: postgres)
 * in *conn, and whether query finds param there: 1, 0, or -1 (reported;
 * *conn NULL when the connection failed). The caller PQfinish()es *conn.
 */
static int open_and_look(PgcExecCtx *ctx, const char *db, const char *query, const char *param,
			 const char *what, PGconn **conn)
{
	*conn = sql_open(ctx, db);
	if (*conn == NULL)
		return -1;
	return exists(ctx, *conn, query, param, what);
}

/*
 * with_password - the role statement with its verifier filled in when the
 * action has a secret; sql unchanged otherwise. NULL on failure (reported).
 */
static char *with_password(PgcExecCtx *ctx, PGconn *conn, const char *sql, const char *doing)
{
	const PgcPayload *pl = &ctx->a->payload;
	const char *what;
	char err[512], *pw, *verifier, *literal, *out;

	if (pl->secret.kind == SECRET_NONE)
		return (char *)sql;
	what = arena_printf(ctx->arena, "password of role \"%s\"", pl->target);
	pw = secret_resolve(&pl->secret, what, err, sizeof(err));
	if (pw == NULL) {
		exec_fail(ctx, "could not %s on node \"%s\": %s", doing,
			   exec_node_label(ctx, sql_node(ctx)), err);
		return NULL;
	}
	/* Hashed here: the server only ever sees the SCRAM verifier. */
	verifier = PQencryptPasswordConn(conn, pw, pl->target, "scram-sha-256");
	secret_free(pw);
	if (verifier == NULL) {
		exec_fail(ctx, "could not compute the %s verifier: %s", what,
			   PQerrorMessage(conn));
		return NULL;
	}
	literal = pgsql_quote_literal(ctx->arena, verifier);
	PQfreemem(verifier);
	out = sql_password_statement(ctx->arena, sql, literal);
	explicit_bzero(literal, strlen(literal));
	if (out == NULL)
		exec_fail(ctx,
			   "action \"%s\" has a password but its statement has no single $1 "
			   "placeholder for it",
			   ctx->a->id);
	return out;
}

/*
 * quiet_session - a statement that carries a password verifier must not be
 * kept by pg_stat_statements (which stores utility statements as written,
 * literals and all, and shows them to pg_read_all_stats: the Datadog role,
 * status --top) nor written to the server log (pgBadger's reports): this
 * session tracks and logs no statement. pgconverge is a superuser there,
 * which these settings need. 0, or -1 reported.
 */
static int quiet_session(PgcExecCtx *ctx, PGconn *conn, const char *doing)
{
	static const char *const sets[] = {
		"SET pg_stat_statements.track_utility = off",
		"SET log_min_duration_statement = -1",
		"SET log_statement = 'none'",
		"SET log_min_error_statement = panic",
	};
	PgcPgError e;

	for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
		if (pgsql_query(conn, sets[i], 0, NULL, ctx->action_timeout_s * 1000, NULL, &e) != 0)
			return exec_fail(ctx, "could not %s on node \"%s\": cannot keep its password out "
					 "of statistics and logs (%s): %s (SQLSTATE %s)", doing,
					 exec_node_label(ctx, sql_node(ctx)), sets[i], e.message, e.sqlstate);
	return 0;
}

static void wipe(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
}

/* ---- roles ----------------------------------------------------------------- */

static int role_statement(PgcExecCtx *ctx, bool create)
{
	const PgcPayload *pl = &ctx->a->payload;
	const char *sql, *doing;
	char *stmt = NULL;
	PGconn *conn;
	int found, rc = -1;

	found = open_and_look(ctx, NULL, "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
			      pl->target, "role", &conn);
	if (found < 0)
		goto cleanup;
	sql = pl->sql;
	if (create && found == 1) {
		/* A run stopped after the CREATE: give the role the declared attributes. */
		if (strncasecmp(sql, "CREATE ROLE ", 12) != 0) {
			ctx->nothing_to_do = true;
			rc = 0;
			goto cleanup;
		}
		sql = arena_printf(ctx->arena, "ALTER ROLE %s", sql + 12);
		log_info("role \"%s\" exists already: altering it instead", pl->target);
	} else if (!create && found == 0) {
		exec_fail(ctx, "cannot alter role \"%s\" on node \"%s\": it does not exist",
			   pl->target, exec_node_label(ctx, sql_node(ctx)));
		goto cleanup;
	}
	doing = arena_printf(ctx->arena, "%s role \"%s\"",
			     create && found == 0 ? "create" : "alter", pl->target);
	if (pl->secret.kind != SECRET_NONE && quiet_session(ctx, conn, doing) != 0)
		goto cleanup;
	stmt = with_password(ctx, conn, sql, doing);
	if (stmt == NULL)
		goto cleanup;
	/* With a password, $1 was the verifier's place: no bind parameters are left. */
	rc = run_statement(ctx, conn, stmt, pl->secret.kind == SECRET_NONE, doing);
	if (rc == 0)
		log_info("%s%s", doing,
			 pl->secret.kind != SECRET_NONE ? " (with its password)" : "");
cleanup:
	if (stmt != pl->sql)
		wipe(stmt);
	PQfinish(conn);
	return rc;
}

int sql_create_role(PgcExecCtx *ctx)
{
	return role_statement(ctx, true);
}

int sql_alter_role(PgcExecCtx *ctx)
{
	return role_statement(ctx, false);
}

/* open_and_run - the payload's statement on the primary, for actions that need no check first. */
static int open_and_run(PgcExecCtx *ctx, const char *what)
{
	PGconn *conn = sql_open(ctx, NULL);
	int rc;

	if (conn == NULL)
		return -1;
	rc = run_statement(ctx, conn, ctx->a->payload.sql, true, what);
	PQfinish(conn);
	return rc;
}

int sql_grant_role(PgcExecCtx *ctx)
{
	/* GRANT of an existing membership only raises a notice: safe to repeat. */
	return open_and_run(ctx,
			    arena_printf(ctx->arena, "grant role \"%s\"", ctx->a->payload.target));
}

/* ---- databases and extensions ---------------------------------------------- */

/*
 * create_unless_found - the payload's CREATE statement on the primary
 * (database db; NULL: postgres) unless query finds payload.target there
 * (nothing to do). doing names the step in a failure; the success is
 * logged as "created <done>".
 */
static int create_unless_found(PgcExecCtx *ctx, const char *db, const char *query,
			       const char *what, const char *doing, const char *done)
{
	PGconn *conn;
	int found = open_and_look(ctx, db, query, ctx->a->payload.target, what, &conn), rc = -1;

	if (found == 1) {
		ctx->nothing_to_do = true;
		rc = 0;
	} else if (found == 0) {
		rc = run_statement(ctx, conn, ctx->a->payload.sql, true, doing);
		if (rc == 0)
			log_info("created %s", done);
	}
	PQfinish(conn);
	return rc;
}

int sql_create_database(PgcExecCtx *ctx)
{
	const char *db = ctx->a->payload.target;

	return create_unless_found(
	    ctx, NULL, "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", "database",
	    arena_printf(ctx->arena, "create database \"%s\"", db),
	    arena_printf(ctx->arena, "database \"%s\"", db));
}

int sql_alter_database(PgcExecCtx *ctx)
{
	return open_and_run(ctx, arena_printf(ctx->arena, "alter database \"%s\"",
					      ctx->a->payload.target));
}

int sql_create_extension(PgcExecCtx *ctx)
{
	const PgcPayload *pl = &ctx->a->payload;
	const char *db = pl->database ? pl->database : "postgres";

	return create_unless_found(
	    ctx, pl->database, "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = $1",
	    "extension",
	    arena_printf(ctx->arena, "create extension \"%s\" in database \"%s\"", pl->target, db),
	    arena_printf(ctx->arena, "extension \"%s\" in database \"%s\"", pl->target, db));
}
