/*
 * reconcile/datadog/datadog.c - the Datadog Agent's check file and
 * Database Monitoring's objects: renderers and executors (datadog.h).
 */
#include "reconcile/datadog/datadog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/strutil.h"
#include "reconcile/engine/secret.h"
#include "reconcile/observe/observe_datadog.h"
#include "reconcile/pg/pgsql.h"

const char *datadog_conf_path(PgcArena *a, const PgcCluster *c)
{
	return arena_printf(a, "%s/%s", c->monitoring.datadog.conf_dir.v, OBS_DATADOG_CONF_NAME);
}

/* quote_into - s as a YAML double-quoted scalar into out (room for 4 * strlen(s) + 3). */
static size_t quote_into(char *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	out[n++] = '"';
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		} else {
			out[n++] = (char)c;
		}
	}
	out[n++] = '"';
	out[n] = '\0';
	return n;
}

/* No growing buffer: a password must not be left behind in freed memory. */
char *datadog_yaml_quote(PgcArena *a, const char *s)
{
	char *out = arena_alloc(a, 4 * strlen(s) + 3);

	quote_into(out, s);
	return out;
}

char *datadog_conf_render(PgcArena *a, const PgcCluster *c)
{
	PgcStrBuf b = PGC_STRBUF_INIT;
	const char *user = c->monitoring.datadog.user.v;

	strbuf_addf(&b, "# The Datadog Agent's postgres check for cluster %s, written by pgconverge\n"
			"# from monitoring.datadog: edits here are overwritten.\n"
			"init_config:\n"
			"\n"
			"instances:\n",
		    str_text(a, c->name));
	for (size_t i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];
		bool primary = c->primary.v != NULL && strcmp(c->primary.v, n->name) == 0;

		strbuf_addf(&b, "  - host: %s\n", datadog_yaml_quote(a, n->host.v ? n->host.v : "127.0.0.1"));
		strbuf_addf(&b, "    port: %lld\n", n->port.v);
		strbuf_addf(&b, "    username: %s\n", datadog_yaml_quote(a, user));
		strbuf_adds(&b, "    password: " OBS_DATADOG_PASSWORD_MARK "\n");
		strbuf_adds(&b, "    dbname: \"postgres\"\n");
		strbuf_addf(&b, "    dbm: %s\n", c->monitoring.datadog.dbm.v ? "true" : "false");
		strbuf_adds(&b, "    tags:\n");
		strbuf_addf(&b, "      - %s\n",
			    datadog_yaml_quote(a, arena_printf(a, "cluster:%s", c->name)));
		strbuf_addf(&b, "      - %s\n", datadog_yaml_quote(a, arena_printf(a, "node:%s", n->name)));
		strbuf_addf(&b, "      - %s\n", primary ? "\"role:primary\"" : "\"role:replica\"");
		if (n->region.v != NULL)
			strbuf_addf(&b, "      - %s\n",
				    datadog_yaml_quote(a, arena_printf(a, "region:%s", n->region.v)));
	}
	return strbuf_finish(&b, a);
}

char *datadog_conf_fill(PgcArena *a, const char *content, const char *password)
{
	static const char mark[] = "password: " OBS_DATADOG_PASSWORD_MARK;
	size_t marks = 0, n = 0;
	const char *p, *at;
	char *out;

	for (p = content; (at = strstr(p, mark)) != NULL; p = at + sizeof mark - 1)
		marks++;
	if (marks == 0)
		return NULL;
	out = arena_alloc(a, strlen(content) + marks * (4 * strlen(password) + 3) + 1);
	for (p = content; (at = strstr(p, mark)) != NULL; p = at + sizeof mark - 1) {
		memcpy(out + n, p, (size_t)(at - p));
		n += (size_t)(at - p);
		memcpy(out + n, "password: ", 10);
		n += 10;
		n += quote_into(out + n, password);
	}
	strcpy(out + n, p);
	return out;
}

/* The explain role, as an identifier (it needs no quotes) and as a literal. */
#define EXPLAIN_ROLE PGC_DATADOG_EXPLAIN_ROLE
#define EXPLAIN_ROLE_LIT "'" PGC_DATADOG_EXPLAIN_ROLE "'"
#define EXPLAIN_FN "datadog.explain_statement(text)"

const char **datadog_dbm_sql(PgcArena *a, const char *user, size_t *n)
{
	const char *u = pgsql_quote_ident(a, user);
	const char **s = arena_calloc(a, DATADOG_DBM_N_SQL, sizeof *s);
	size_t k = 0;

	/* One transaction: the function is never seen owned by a superuser or executable by PUBLIC. */
	s[k++] = "BEGIN";
	s[k++] = "CREATE SCHEMA IF NOT EXISTS datadog";
	s[k++] = arena_printf(a, "GRANT USAGE ON SCHEMA datadog TO %s", u);
	s[k++] = arena_printf(a, "GRANT USAGE ON SCHEMA public TO %s", u);
	s[k++] = "CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA public";
	/* The function's owner: reads everything, nothing more. */
	s[k++] = "DO $$BEGIN\n"
		 "IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = " EXPLAIN_ROLE_LIT ")"
		 " THEN\n"
		 "   CREATE ROLE " EXPLAIN_ROLE " NOLOGIN;\n"
		 "END IF;\n"
		 "END$$";
	s[k++] = "ALTER ROLE " EXPLAIN_ROLE " NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOLOGIN"
		 " NOREPLICATION NOBYPASSRLS";
	s[k++] = "GRANT pg_read_all_data TO " EXPLAIN_ROLE;
	/* A member of pg_read_all_data only, and nobody a member of it. */
	s[k++] = "DO $$DECLARE g record;\n"
		 "BEGIN\n"
		 "FOR g IN SELECT r.rolname AS role, m.rolname AS member, w.rolname AS grantor\n"
		 "   FROM pg_catalog.pg_auth_members a\n"
		 "   JOIN pg_catalog.pg_roles r ON r.oid = a.roleid\n"
		 "   JOIN pg_catalog.pg_roles m ON m.oid = a.member\n"
		 "   LEFT JOIN pg_catalog.pg_roles w ON w.oid = a.grantor\n"
		 "   WHERE (m.rolname = " EXPLAIN_ROLE_LIT " AND r.rolname <> 'pg_read_all_data')\n"
		 "      OR r.rolname = " EXPLAIN_ROLE_LIT " LOOP\n"
		 "   EXECUTE pg_catalog.format('REVOKE %I FROM %I', g.role, g.member) ||\n"
		 "      CASE WHEN g.grantor IS NULL THEN ''\n"
		 "      ELSE pg_catalog.format(' GRANTED BY %I', g.grantor) END;\n"
		 "END LOOP;\n"
		 "END$$";
	/*
	 * Datadog's function; it explains, never runs, the statement given.
	 * No SET search_path: the statement is the application's, its names
	 * resolve as in the Agent's session; the body names pg_catalog only.
	 */
	s[k++] = "CREATE OR REPLACE FUNCTION datadog.explain_statement(l_query text, OUT explain json)"
		 " RETURNS SETOF json AS $$" OBS_DATADOG_EXPLAIN_SRC "$$"
		 " LANGUAGE plpgsql RETURNS NULL ON NULL INPUT SECURITY DEFINER";
	/* Whoever calls it runs code as its owner: never a superuser. */
	s[k++] = "ALTER FUNCTION " EXPLAIN_FN " OWNER TO " EXPLAIN_ROLE;
	s[k++] = "REVOKE ALL ON FUNCTION " EXPLAIN_FN " FROM PUBLIC";
	s[k++] = "DO $$DECLARE g name;\n"
		 "BEGIN\n"
		 "FOR g IN SELECT DISTINCT r.rolname FROM pg_catalog.pg_proc p,\n"
		 "   pg_catalog.aclexplode(p.proacl) x JOIN pg_catalog.pg_roles r ON r.oid = x.grantee\n"
		 "   WHERE p.oid = '" EXPLAIN_FN "'::pg_catalog.regprocedure\n"
		 "   AND x.grantee <> p.proowner LOOP\n"
		 "   EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION " EXPLAIN_FN " FROM %I CASCADE',"
		 " g);\n"
		 "END LOOP;\n"
		 "END$$";
	/* The Agent's role alone may call it (without GRANT OPTION). */
	s[k++] = arena_printf(a, "GRANT EXECUTE ON FUNCTION " EXPLAIN_FN " TO %s", u);
	s[k++] = "COMMIT";
	*n = k;
	return s;
}

/* ---- executors ------------------------------------------------------------------ */

int datadog_conf_run(PgcExecCtx *ctx)
{
	const PgcPayload *pl = &ctx->a->payload;
	const PgcCluster *c = ctx->c;
	const char *path, *dir;
	char err[512], *pw, *text;
	struct stat st;
	bool changed = false;
	int rc;

	if (!c->monitoring.datadog.set || c->monitoring.datadog.conf_dir.v == NULL)
		return exec_fail(ctx, "action \"%s\": cluster \"%s\" declares no monitoring.datadog",
				  ctx->a->id, c->name);
	path = datadog_conf_path(ctx->arena, c);
	dir = c->monitoring.datadog.conf_dir.v;
	/* A saved plan writes that file and no other. */
	if (pl->path == NULL || strcmp(pl->path, path) != 0 || pl->content == NULL)
		return exec_fail(ctx, "action \"%s\" does not write \"%s\"", ctx->a->id, path);
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return exec_fail(ctx, "refusing to write the Datadog check file \"%s\": it is %s", path,
				  S_ISLNK(st.st_mode) ? "a symlink" : "not a regular file");
	pw = secret_resolve(&pl->secret, "Datadog password (monitoring.datadog.password)", err,
			    sizeof err);
	if (pw == NULL)
		return exec_fail(ctx, "could not write \"%s\": %s", path, err);
	text = datadog_conf_fill(ctx->arena, pl->content, pw);
	secret_free(pw);
	if (text == NULL)
		return exec_fail(ctx, "action \"%s\": its content has no password to fill in",
				  ctx->a->id);
	if (fs_mkdir_p_guarded(dir, 0755, FS_NO_UID, FS_NO_GID) != 0) {
		rc = exec_note(ctx, "could not create \"%s\"", dir);
	} else if (stat(dir, &st) != 0) {
		rc = exec_fail(ctx, "could not stat \"%s\": %s", dir, strerror(errno));
	} else {
		/* Root's, readable by the folder's group (the Agent's): never by others. */
		rc = fs_write_atomic_guarded(path, text, strlen(text), DATADOG_CONF_MODE, geteuid(),
					     st.st_gid, &changed);
		if (rc != 0)
			rc = exec_note(ctx, "could not write \"%s\"", path);
	}
	explicit_bzero(text, strlen(text));
	if (rc != 0)
		return -1;
	ctx->nothing_to_do = !changed;
	return 0;
}

int datadog_dbm_run(PgcExecCtx *ctx)
{
	const PgcPayload *pl = &ctx->a->payload;
	const PgcCluster *c = ctx->c;
	const PgcNode *n = ctx->n ? ctx->n : cluster_node(c, c->primary.v);
	const char **sql;
	size_t n_sql;

	if (!c->monitoring.datadog.set || pl->target == NULL ||
	    strcmp(pl->target, c->monitoring.datadog.user.v) != 0)
		return exec_fail(ctx, "action \"%s\" is not for monitoring.datadog's user of cluster "
				      "\"%s\"", ctx->a->id, c->name);
	if (n == NULL)
		return exec_fail(ctx, "action \"%s\": cluster \"%s\" has no primary to run it on",
				  ctx->a->id, c->name);
	sql = datadog_dbm_sql(ctx->arena, pl->target, &n_sql);
	for (size_t i = 0; i < pl->n_params; i++) {
		const char *db = pl->params[i];
		PGconn *conn = exec_connect(ctx, n, db);
		PgcPgError e;

		if (conn == NULL)
			return -1;
		for (size_t k = 0; k < n_sql; k++) {
			if (pgsql_query(conn, sql[k], 0, NULL, ctx->action_timeout_s * 1000, NULL,
					&e) != 0) {
				PQfinish(conn);
				return exec_fail(ctx,
						 "could not set Database Monitoring up in database "
						 "\"%s\" on node \"%s\": %s (SQLSTATE %s)",
						 db, exec_node_label(ctx, n), e.message, e.sqlstate);
			}
		}
		PQfinish(conn);
	}
	return 0;
}
