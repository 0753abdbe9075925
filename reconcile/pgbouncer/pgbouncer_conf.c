/*
 * reconcile/pgbouncer/pgbouncer_conf.c - pgbouncer.ini (pgbouncer_conf.h).
 */
#include "reconcile/pgbouncer/pgbouncer_conf.h"

#include <ctype.h>
#include <string.h>

#include "common/strutil.h"
#include "reconcile/observe/observe_pgbouncer.h"

/* simple - a name PgBouncer takes bare in [databases]. */
static bool simple(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* add_dbname - a database name as a [databases] key ("..." when not simple). */
static void add_key(PgcStrBuf *b, const char *name)
{
	if (simple(name)) {
		strbuf_adds(b, name);
		return;
	}
	strbuf_adds(b, "\"");
	for (; *name; name++) {
		strbuf_add(b, name, 1);
		if (*name == '"')
			strbuf_add(b, name, 1);
	}
	strbuf_adds(b, "\"");
}

/* add_value - a connection string value ('...' when not simple). */
static void add_value(PgcStrBuf *b, const char *v)
{
	if (simple(v)) {
		strbuf_adds(b, v);
		return;
	}
	strbuf_adds(b, "'");
	for (; *v; v++) {
		strbuf_add(b, v, 1);
		if (*v == '\'')
			strbuf_add(b, v, 1);
	}
	strbuf_adds(b, "'");
}

static void add_db(PgcStrBuf *b, const char *name, const PgcNode *p)
{
	add_key(b, name);
	strbuf_addf(b, " = host=%s port=%lld dbname=", p->host.v, p->port.v);
	add_value(b, name);
	strbuf_adds(b, "\n");
}

const char *pgbouncer_ini(PgcArena *a, const PgcCluster *c)
{
	const PgcPgbouncer *pb = &c->pgbouncer;
	const PgcNode *p = cluster_node(c, c->primary.v);
	PgcStrBuf b = PGC_STRBUF_INIT;
	bool postgres = false;
	const char *dir = pb->dir.v;

	strbuf_adds(&b, "; managed by pgconverge (pooler.pgbouncer of cluster ");
	strbuf_adds(&b, c->name);
	strbuf_adds(&b, "): edits are overwritten\n[databases]\n");
	for (size_t i = 0; p != NULL && i < c->n_databases; i++) {
		add_db(&b, c->databases[i].name, p);
		postgres = postgres || strcmp(c->databases[i].name, "postgres") == 0;
	}
	if (p != NULL && !postgres)
		add_db(&b, "postgres", p);
	strbuf_addf(&b, "\n[pgbouncer]\n"
			"listen_addr = %s\n"
			"listen_port = %lld\n"
			"unix_socket_dir = %s\n"
			"pidfile = %s/%s\n"
			"logfile = %s/%s\n"
			"syslog = 0\n"
			"auth_type = scram-sha-256\n"
			"auth_file = %s/%s\n"
			"admin_users = %s\n"
			"pool_mode = %s\n"
			"max_client_conn = %lld\n"
			"default_pool_size = %lld\n"
			"ignore_startup_parameters = extra_float_digits\n"
			/* after a failed login to a server (the old primary, gone),
			 * try again soon: the default waits 15 s */
			"server_login_retry = 0.2\n",
		    pb->listen_address.v, pb->port.v, dir, dir, PGBOUNCER_PIDFILE, dir,
		    PGBOUNCER_LOGFILE, dir, PGBOUNCER_USERLIST, PGBOUNCER_ADMIN_USER,
		    pb->pool_mode.v, pb->max_client_conn.v, pb->default_pool_size.v);
	return strbuf_finish(&b, a);
}

static const char *trim(PgcArena *a, const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s))
		s++, n--;
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return arena_strndup(a, s, n);
}

size_t pgbouncer_ini_parse(PgcArena *a, const char *ini, PgcIniEntry **out)
{
	const char *section = "", *s = ini;
	size_t n = 0, cap = 0;

	*out = NULL;
	while (s != NULL && *s) {
		const char *end = strchr(s, '\n'), *line, *eq;
		size_t len = end ? (size_t)(end - s) : strlen(s);

		line = trim(a, s, len);
		s = end ? end + 1 : NULL;
		if (*line == '\0' || *line == ';' || *line == '#')
			continue;
		if (*line == '[') {
			section = trim(a, line + 1, strcspn(line + 1, "]"));
			continue;
		}
		if ((eq = strchr(line, '=')) == NULL)
			continue;
		*out = arena_grow(a, *out, n, &cap, 16, sizeof **out);
		(*out)[n].key = arena_printf(a, "%s.%s", section, trim(a, line, (size_t)(eq - line)));
		(*out)[n].value = trim(a, eq + 1, strlen(eq + 1));
		n++;
	}
	return n;
}

const char *pgbouncer_ini_get(const PgcIniEntry *e, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].key, key) == 0)
			return e[i].value;
	return NULL;
}

bool pgbouncer_needs_restart(const char *key)
{
	static const char *const keys[] = {
		"pgbouncer.listen_addr", "pgbouncer.listen_port", "pgbouncer.unix_socket_dir",
		"pgbouncer.unix_socket_mode", "pgbouncer.unix_socket_group", "pgbouncer.pidfile",
		"pgbouncer.user",
	};

	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}
