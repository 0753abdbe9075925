/*
 * schema/validate_monitoring.c - the monitoring section's checks
 * (schema/validate_monitoring.h).
 *
 * pgconverge sets what pgBadger needs (reconcile/postgres/plan_conf.c) but
 * the topology's own settings win: these checks refuse the values that
 * would make the server write a log pgBadger cannot read, before anything
 * is touched.
 */
#include "schema/validate_monitoring.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "schema/pgcatalog.h"

/* The program the pgbadger action runs (reconcile/monitoring/plan_monitoring.h). */
#define PGBADGER_PROGRAM "/usr/bin/pgbadger"
#define PGBADGER_PREFIX "'%t [%p]: user=%u,db=%d,app=%a,client=%h '"

/* setting - the value of name in one settings map, or NULL. */
static const PgcSetting *setting(const PgcSettings *ss, const char *name)
{
	for (size_t i = 0; i < ss->n; i++)
		if (strcasecmp(ss->items[i].name, name) == 0)
			return &ss->items[i];
	return NULL;
}

static const char *key_of(Val *v, const PgcCluster *c, const PgcNode *n, const PgcSetting *s)
{
	return n ? val_fmt(v, "clusters.%s.nodes.%s.settings.%s", c->name, n->name, s->name)
		 : val_fmt(v, "clusters.%s.settings.%s", c->name, s->name);
}

/* normalized - the catalog's canonical form of s's value, or NULL when invalid
 * (validate_params.c reports that). */
static const char *normalized(Val *v, const PgcCluster *c, const PgcSetting *s)
{
	const PgcParam *p = pgcatalog_lookup((int)c->pg_version.v, s->name);
	char out[1024], err[256];

	if (p == NULL || pgparam_normalize(p, s->value, out, sizeof out, err, sizeof err) != 0)
		return NULL;
	return val_fmt(v, "%s", out);
}

/* list_has - the comma-separated list holds item (case and white space ignored). */
static bool list_has(const char *list, const char *item)
{
	size_t len = strlen(item);
	const char *p = list;

	while (*p) {
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

/* has_escape - prefix holds one of the % escapes in chars ("%%" is a percent sign). */
static bool has_escape(const char *prefix, const char *chars)
{
	for (const char *p = prefix; *p; p++) {
		if (*p != '%')
			continue;
		p++;
		while (*p == '-' || (*p >= '0' && *p <= '9')) /* padding: %-10u */
			p++;
		if (*p == '\0')
			break;
		if (*p != '%' && strchr(chars, *p) != NULL)
			return true;
	}
	return false;
}

/* english - lc_messages values whose messages pgBadger parses. */
static bool english(const char *v)
{
	return strcmp(v, "C") == 0 || strncmp(v, "C.", 2) == 0 || strcmp(v, "POSIX") == 0 ||
	       strncmp(v, "en_", 3) == 0 || strcmp(v, "en") == 0 || strncmp(v, "en.", 3) == 0;
}

/*
 * check_map - the settings of one map: the cluster's (n NULL) or node n's
 * own. dest is the log_destination that applies to the map's
 * log_line_prefix (the node's, else the cluster's), NULL: the default.
 */
static void check_map(Val *v, PgcCluster *c, const PgcNode *n, const PgcSettings *ss,
		      const PgcSetting *dest)
{
	const PgcSetting *s;
	const char *val;

	s = setting(ss, "logging_collector");
	if (s != NULL && (val = normalized(v, c, s)) != NULL && strcmp(val, "off") == 0)
		val_error(v, s->pos, key_of(v, c, n, s),
			  "remove it: monitoring.pgbadger turns logging_collector on",
			  "logging_collector is off, but monitoring.pgbadger reads the log files the "
			  "logging collector writes");

	s = setting(ss, "log_destination");
	if (s != NULL && !list_has(s->value, "stderr") && !list_has(s->value, "csvlog") &&
	    !list_has(s->value, "jsonlog"))
		val_error(v, s->pos, key_of(v, c, n, s),
			  "remove it (monitoring.pgbadger sets log_destination: stderr), or add stderr "
			  "to the list",
			  "log_destination \"%s\" writes no log file pgBadger reads: expected stderr, "
			  "csvlog or jsonlog in the list", s->value);

	s = setting(ss, "log_line_prefix");
	if (s != NULL && (dest == NULL || list_has(dest->value, "stderr"))) {
		bool t = has_escape(s->value, "tmn"), p = has_escape(s->value, "pc");

		if (!t || !p)
			val_error(v, s->pos, key_of(v, c, n, s),
				  "remove it (monitoring.pgbadger sets " PGBADGER_PREFIX "), or start it "
				  "with '%m [%p] '",
				  "log_line_prefix \"%s\" has no %s: pgBadger cannot parse the log lines",
				  s->value,
				  !t && !p ? "time (%t, %m or %n) and no process id (%p or %c)"
				  : !t     ? "time (%t, %m or %n)"
					   : "process id (%p or %c)");
	}

	s = setting(ss, "lc_messages");
	if (s != NULL && !english(s->value))
		val_error(v, s->pos, key_of(v, c, n, s),
			  "remove it (monitoring.pgbadger sets lc_messages: C), or use C or an en_US "
			  "locale",
			  "lc_messages \"%s\" translates the server's messages, but pgBadger parses the "
			  "English ones", s->value);

	s = setting(ss, "log_min_duration_statement");
	if (s != NULL && (val = normalized(v, c, s)) != NULL && strcmp(val, "-1") == 0)
		val_warn(v, s->pos, key_of(v, c, n, s),
			 "remove it (monitoring.pgbadger logs statements of 250ms or more), or set a "
			 "duration such as 250ms",
			 "log_min_duration_statement is -1: no statement is logged with its duration, "
			 "so pgBadger's query reports stay empty");
}

/* path_within - path is dir or inside it. */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static void check_output(Val *v, PgcCluster *c)
{
	const PgcStr *out = &c->monitoring.pgbadger.output;
	const char *key = val_fmt(v, "clusters.%s.monitoring.pgbadger.output", c->name);
	PgcPos pos = val_pos_or(out->pos, c->monitoring.pgbadger.pos);

	if (out->v == NULL)
		return;
	for (size_t i = 0; i < c->n_nodes; i++) {
		const char *d = c->nodes[i].data_dir.v;

		if (d == NULL)
			continue;
		if (path_within(out->v, d))
			val_error(v, pos, key, "choose a folder outside every data directory",
				  "pgBadger's output \"%s\" is inside node \"%s\"'s data_dir \"%s\"",
				  out->v, c->nodes[i].name, d);
		else if (path_within(d, out->v))
			val_error(v, pos, key, val_fmt(v, "choose a folder of its own, e.g. reports/%s", c->name),
				  "pgBadger's output \"%s\" holds node \"%s\"'s data_dir \"%s\": "
				  "its retention removes folders there",
				  out->v, c->nodes[i].name, d);
	}
}

void validate_monitoring(Val *v, PgcCluster *c)
{
	const PgcMonitoring *m = &c->monitoring;

	if (!m->pgbadger.set)
		return;
	/* A run takes seconds (perl starting, each node's new log): a period
	 * shorter than a run would be due again before apply's next pass. */
	if (m->pgbadger.every.set && m->pgbadger.every.ms < 60 * 1000)
		val_error(v, m->pgbadger.every.pos,
			  val_fmt(v, "clusters.%s.monitoring.pgbadger.every", c->name),
			  "pgBadger reports are for hours and days, e.g. every: 1h",
			  "expected a duration of at least 1m, got %s", val_duration(v, m->pgbadger.every.ms));
	check_output(v, c);
	/* Where plan or apply runs, the reports need Debian's pgbadger package. */
	if (!v->opts->offline && access(PGBADGER_PROGRAM, X_OK) != 0)
		val_warn(v, m->pgbadger.pos, val_fmt(v, "clusters.%s.monitoring.pgbadger", c->name),
			 "apt-get install pgbadger", "%s is not installed on this machine: the "
			 "pgbadger actions will fail", PGBADGER_PROGRAM);
	check_map(v, c, NULL, &c->settings, setting(&c->settings, "log_destination"));
	for (size_t i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];
		const PgcSetting *dest = setting(&n->settings, "log_destination");

		check_map(v, c, n, &n->settings, dest ? dest : setting(&c->settings, "log_destination"));
	}
}
