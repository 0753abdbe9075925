/*
 * reconcile/pg/serverlog.c - the server log settings (serverlog.h).
 */
#include "reconcile/pg/serverlog.h"

#include <string.h>
#include <strings.h>

/*
 * What pgBadger needs: the logging collector writing files (and naming the
 * one it writes in current_logfiles), a prefix with the time and the
 * process id, messages in English (pgBadger matches their text), and the
 * events its reports count: statements of 250 ms or more with their
 * duration, checkpoints, connections, lock waits, temporary files,
 * autovacuum runs.
 */
static const PgcLogParam pgbadger_params[] = {
	{"lc_messages", "C"},
	{"log_autovacuum_min_duration", "0"},
	{"log_checkpoints", "on"},
	{"log_connections", "on"},
	{"log_destination", "stderr"},
	{"log_disconnections", "on"},
	{"log_line_prefix", "%t [%p]: user=%u,db=%d,app=%a,client=%h "},
	{"log_lock_waits", "on"},
	{"log_min_duration_statement", "250ms"},
	{"log_temp_files", "0"},
	{"logging_collector", "on"},
};

/* PostgreSQL's own defaults of the log parameters pgconverge reads. */
static const PgcLogParam pg_defaults[] = {
	{"log_destination", "stderr"},
	{"log_directory", "log"},
	{"log_filename", "postgresql-%Y-%m-%d_%H%M%S.log"},
	{"log_line_prefix", "%m [%p] "},
};

const PgcLogParam *serverlog_pgbadger(size_t *n)
{
	*n = sizeof pgbadger_params / sizeof pgbadger_params[0];
	return pgbadger_params;
}

static const char *table_get(const PgcLogParam *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(t[i].name, name) == 0)
			return t[i].value;
	return NULL;
}

const char *serverlog_setting(const PgcCluster *c, const PgcNode *n, const char *name)
{
	const char *v;

	for (size_t i = 0; i < n->effective.n; i++)
		if (strcasecmp(n->effective.items[i].name, name) == 0)
			return n->effective.items[i].value;
	if (c->monitoring.pgbadger.set &&
	    (v = table_get(pgbadger_params, sizeof pgbadger_params / sizeof pgbadger_params[0],
			   name)) != NULL)
		return v;
	return table_get(pg_defaults, sizeof pg_defaults / sizeof pg_defaults[0], name);
}

const char *serverlog_dir(PgcArena *arena, const PgcCluster *c, const PgcNode *n)
{
	const char *d = serverlog_setting(c, n, "log_directory");

	if (d == NULL || *d == '\0')
		d = "log";
	if (d[0] == '/')
		return arena_strdup(arena, d);
	return arena_printf(arena, "%s/%s", n->data_dir.v, d);
}

/* has - the comma-separated list holds item (case and white space ignored). */
static bool has(const char *list, const char *item)
{
	size_t len = strlen(item);

	for (const char *p = list; *p;) {
		const char *e;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		e = p;
		while (*e && *e != ',' && *e != ' ' && *e != '\t')
			e++;
		if ((size_t)(e - p) == len && strncasecmp(p, item, len) == 0)
			return true;
		p = e;
	}
	return false;
}

const char *serverlog_format(const PgcCluster *c, const PgcNode *n)
{
	const char *d = serverlog_setting(c, n, "log_destination");

	if (d == NULL || has(d, "stderr"))
		return "stderr";
	if (has(d, "csvlog"))
		return "csv";
	if (has(d, "jsonlog"))
		return "jsonlog";
	return NULL;
}
