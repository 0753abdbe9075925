/*
 * reconcile/postgres/plan_conf.c - the files pgconverge owns in a data directory
 * (pgconverge.conf, pg_hba.conf, pg_ident.conf), rendered from the topology,
 * and the maintenance window test.
 *
 * Everything here is a pure function of the topology: same input, same
 * bytes, so that a converged node plans to zero actions. The one exception
 * is a maintenance window in a named time zone (see zone_local_time()).
 */
#include "reconcile/postgres/plan_conf.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/fsutil.h"
#include "common/strutil.h"
#include "reconcile/pg/layout.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/pg/serverlog.h"
#include "reconcile/pg/walarchive_cmd.h"

/* ---- small growable list ------------------------------------------------ */

typedef struct {
	PgcConfParam *items;
	size_t n, cap;
	PgcArena *a;
} ParamList;

static void params_put(ParamList *l, const char *name, const char *value)
{
	size_t i;

	/* A later value for the same name replaces the earlier one. */
	for (i = 0; i < l->n; i++) {
		if (strcasecmp(l->items[i].name, name) == 0) {
			l->items[i].value = value;
			return;
		}
	}
	l->items = arena_grow(l->a, l->items, l->n, &l->cap, 32, sizeof(*l->items));
	l->items[l->n].name = name;
	l->items[l->n].value = value;
	l->n++;
}

static const char *params_get(const ParamList *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcasecmp(l->items[i].name, name) == 0)
			return l->items[i].value;
	return NULL;
}

static int param_cmp(const void *a, const void *b)
{
	const PgcConfParam *x = a, *y = b;

	return strcasecmp(x->name, y->name);
}

/* ---- managed configuration ---------------------------------------------- */

static bool is_upstream_of(const PgcCluster *c, const PgcNode *up, const PgcNode *n)
{
	const PgcNode *u = cluster_upstream(c, n);

	return u != NULL && u != n && strcmp(u->name, up->name) == 0;
}

/* sync_names - 'ANY 1 ("pg2", "pg3")' listing n's direct replicas, or NULL. */
static const char *sync_names(PgcArena *a, const PgcCluster *c, const PgcNode *n)
{
	PgcStrBuf list = PGC_STRBUF_INIT;
	const char *out;
	size_t i;

	if (c->replication.synchronous.method == SYNC_OFF)
		return NULL;
	for (i = 0; i < c->n_nodes; i++) {
		if (!is_upstream_of(c, n, &c->nodes[i]))
			continue;
		strbuf_addf(&list, list.len ? ", \"%s\"" : "\"%s\"", c->nodes[i].name);
	}
	if (list.len == 0)
		return NULL;
	out = arena_printf(a, "%s %lld (%s)",
			   c->replication.synchronous.method == SYNC_ANY ? "ANY" : "FIRST",
			   c->replication.synchronous.count.set ? c->replication.synchronous.count.v : 1,
			   list.data);
	strbuf_release(&list);
	return out;
}

/* list_has - true when the comma-separated list holds item (white space ignored). */
static bool list_has(const char *list, const char *item)
{
	size_t len = strlen(item);
	const char *p = list;

	while (*p) {
		const char *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		end = p;
		while (*end && *end != ',')
			end++;
		{
			const char *e = end;

			while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if ((size_t)(e - p) == len && strncasecmp(p, item, len) == 0)
				return true;
		}
		p = end;
	}
	return false;
}

/*
 * pg_stat_statements' settings, unless the topology sets them: room for
 * more distinct statements than the default 5000 (a few MB of shared
 * memory), top-level statements only (nested ones would count twice in
 * the total time), and I/O timing, which fills blk_read_time and
 * blk_write_time (cheap where the clock is: pg_test_timing).
 */
static const PgcConfParam pgss_params[] = {
	{"pg_stat_statements.max", "10000"},
	{"pg_stat_statements.track", "top"},
	{"track_io_timing", "on"},
};

size_t plan_conf_params(PgcArena *arena, const PgcCluster *c, const PgcNode *n, PgcConfParam **out)
{
	ParamList l = {NULL, 0, 0, arena};
	const PgcNode *up = cluster_upstream(c, n);
	const char *spl, *sync, *bin;
	size_t i;

	/* The node's effective settings as written in the topology. */
	for (i = 0; i < n->effective.n; i++)
		params_put(&l, n->effective.items[i].name, n->effective.items[i].value);

	/* Defaults pgconverge relies on, unless the topology says otherwise. */
	if (params_get(&l, "wal_level") == NULL)
		params_put(&l, "wal_level", "replica");
	if (!c->initdb.data_checksums.v && params_get(&l, "wal_log_hints") == NULL)
		params_put(&l, "wal_log_hints", "on"); /* pg_rewind needs one of the two */
	if (c->monitoring.pg_stat_statements.v) {
		spl = params_get(&l, "shared_preload_libraries");
		if (spl == NULL || *spl == '\0')
			params_put(&l, "shared_preload_libraries", "pg_stat_statements");
		else if (!list_has(spl, "pg_stat_statements"))
			params_put(&l, "shared_preload_libraries",
				   arena_printf(arena, "%s,pg_stat_statements", spl));
		for (i = 0; i < sizeof(pgss_params) / sizeof(pgss_params[0]); i++)
			if (params_get(&l, pgss_params[i].name) == NULL)
				params_put(&l, pgss_params[i].name, pgss_params[i].value);
	}
	if (c->monitoring.pgbadger.set) {
		/* What pgBadger needs in the server log (pg/serverlog.h); the user's values win. */
		size_t n_log;
		const PgcLogParam *log = serverlog_pgbadger(&n_log);

		for (i = 0; i < n_log; i++)
			if (params_get(&l, log[i].name) == NULL)
				params_put(&l, log[i].name, log[i].value);
	}

	/* Automatic failover takes a replica that heard from the primary within
	 * detect_after as proof that the primary lives. An idle walsender sends
	 * a keepalive only every wal_sender_timeout / 2 (30 s by default), so the
	 * timeout follows detect_after: a live primary is always heard in time. */
	if (c->failover.mode == FAILOVER_AUTO && params_get(&l, "wal_sender_timeout") == NULL)
		params_put(&l, "wal_sender_timeout",
			   arena_printf(arena, "%lldms", (long long)c->failover.detect_after.ms));

	/* Parameters pgconverge owns: validation refuses them in settings. */
	params_put(&l, "cluster_name", arena_printf(arena, "%s-%s", c->name, n->name));
	params_put(&l, "hot_standby", "on");
	params_put(&l, "listen_addresses", n->host.v);
	params_put(&l, "port", arena_printf(arena, "%lld", n->port.v));
	params_put(&l, "unix_socket_directories", PGC_SOCKET_DIR);
	if (up != NULL) {
		bool leader = up == c->standby_upstream;
		/* A standby leader shows on its source as CLUSTER-NODE, which no
		 * node of the source can be taken for. */
		const char *ci = arena_printf(arena, "host=%s port=%lld user=%s application_name=%s",
					      up->host.v, up->port.v, c->replication.user.v,
					      leader ? arena_printf(arena, "%s-%s", c->name, n->name) : n->name);

		if (c->replication.password.kind != SECRET_NONE)
			ci = arena_printf(arena, "%s passfile=%s", ci,
					  pgsql_conninfo_value(arena, plan_passfile_path(arena, n->data_dir.v)));
		params_put(&l, "primary_conninfo", ci);
		if (leader && c->standby_slot != NULL)
			params_put(&l, "primary_slot_name", c->standby_slot);
		else if (!leader && c->replication.slots.v)
			params_put(&l, "primary_slot_name", plan_slot_name(arena, n->name));
	}
	sync = sync_names(arena, c, n);
	if (sync != NULL)
		params_put(&l, "synchronous_standby_names", sync);
	/* Every node archives when it is primary; restore_command lets any
	 * replica catch up from the archive when streaming cannot. A standby
	 * cluster archives nothing while in recovery (archive_mode on, not
	 * always) and fetches from its chain's root's archive, when that one
	 * is usable, instead of its own (reconcile/standby/standby_archive.h). */
	if (c->backup.set && c->backup.wal_archive.v) {
		params_put(&l, "archive_mode", "on");
		params_put(&l, "archive_command",
			   walarchive_archive_command(arena, c->tool_path ? c->tool_path : "pgconverge",
						      c->backup.repository.v, c->backup.compression));
	}
	bin = c->tool_path ? c->tool_path : "pgconverge";
	if (c->standby_of.set && c->standby_archive != NULL)
		params_put(&l, "restore_command",
			   walarchive_standby_restore_command(arena, bin, c->standby_archive));
	else if (!c->standby_of.set && c->backup.set && c->backup.wal_archive.v)
		params_put(&l, "restore_command",
			   walarchive_restore_command(arena, bin, c->backup.repository.v));

	if (l.n > 1)
		qsort(l.items, l.n, sizeof(*l.items), param_cmp);
	*out = l.items;
	return l.n;
}

/*
 * conf_quote - 'value' as postgresql.conf reads it: quotes doubled, and
 * since the server's scanner takes backslash escapes in quoted values,
 * backslashes and line breaks escaped too.
 */
static const char *conf_quote(PgcArena *a, const char *v)
{
	size_t len = strlen(v), i, o = 0;
	char *s = arena_alloc(a, 2 * len + 3);

	s[o++] = '\'';
	for (i = 0; i < len; i++) {
		switch (v[i]) {
		case '\'':
			s[o++] = '\'';
			break;
		case '\\':
			s[o++] = '\\';
			break;
		case '\n':
			s[o++] = '\\';
			s[o++] = 'n';
			continue;
		case '\r':
			s[o++] = '\\';
			s[o++] = 'r';
			continue;
		}
		s[o++] = v[i];
	}
	s[o++] = '\'';
	s[o] = '\0';
	return s;
}

const char *plan_conf_render(PgcArena *arena, const PgcCluster *c, const PgcNode *n,
			     const PgcConfParam *params, size_t n_params)
{
	size_t i, len = 0, off;
	const char *head = arena_printf(arena,
					"# %s - managed by pgconverge for node \"%s\" of cluster \"%s\".\n"
					"# Rewritten on every apply: change the topology file instead.\n",
					PGC_MANAGED_CONF, n->name, c->name);
	const char **lines = arena_calloc(arena, n_params + 1, sizeof(char *));
	char *out;

	for (i = 0; i < n_params; i++) {
		lines[i] = arena_printf(arena, "%s = %s\n", params[i].name,
					conf_quote(arena, params[i].value));
		len += strlen(lines[i]);
	}
	len += strlen(head);
	out = arena_alloc(arena, len + 1);
	off = 0;
	memcpy(out, head, strlen(head));
	off += strlen(head);
	for (i = 0; i < n_params; i++) {
		memcpy(out + off, lines[i], strlen(lines[i]));
		off += strlen(lines[i]);
	}
	out[off] = '\0';
	return out;
}

const char *plan_managed_conf(PgcArena *arena, const PgcCluster *c, const PgcNode *n)
{
	PgcConfParam *params;
	size_t np = plan_conf_params(arena, c, n, &params);

	return plan_conf_render(arena, c, n, params, np);
}

size_t plan_conf_parse(PgcArena *arena, const char *content, PgcConfParam **out)
{
	ParamList l = {NULL, 0, 0, arena};
	const char *p = content;

	*out = NULL;
	if (content == NULL)
		return 0;
	while (*p) {
		const char *eol = strchr(p, '\n'), *q, *name;
		size_t nlen;

		if (eol == NULL)
			eol = p + strlen(p);
		q = p;
		while (q < eol && (*q == ' ' || *q == '\t'))
			q++;
		if (q == eol || *q == '#')
			goto next;
		name = q;
		while (q < eol && *q != ' ' && *q != '\t' && *q != '=')
			q++;
		nlen = (size_t)(q - name);
		while (q < eol && (*q == ' ' || *q == '\t'))
			q++;
		if (q < eol && *q == '=')
			q++;
		while (q < eol && (*q == ' ' || *q == '\t'))
			q++;
		if (q < eol && *q == '\'') {
			/* Quoted: '' is a quote; the value ends at the lone closing quote. */
			char *v = arena_alloc(arena, (size_t)(eol - q) + 1);
			size_t o = 0;

			for (q++; q < eol; q++) {
				if (*q == '\'') {
					if (q + 1 < eol && q[1] == '\'') {
						v[o++] = '\'';
						q++;
						continue;
					}
					break;
				}
				if (*q == '\\' && q + 1 < eol) {
					q++;
					v[o++] = *q == 'n' ? '\n' : *q == 'r' ? '\r' : *q == 't' ? '\t' : *q;
					continue;
				}
				v[o++] = *q;
			}
			v[o] = '\0';
			params_put(&l, arena_strndup(arena, name, nlen), v);
		} else {
			const char *vs = q;

			while (q < eol && *q != '#' && *q != ' ' && *q != '\t')
				q++;
			params_put(&l, arena_strndup(arena, name, nlen),
				   arena_strndup(arena, vs, (size_t)(q - vs)));
		}
next:
		p = *eol ? eol + 1 : eol;
	}
	*out = l.items;
	return l.n;
}

/* ---- pg_hba.conf and pg_ident.conf ---------------------------------------- */

/* hba_address - an address as pg_hba.conf wants it: a bare IP gets its full mask. */
static const char *hba_address(PgcArena *a, const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (strchr(host, '/') != NULL)
		return host;
	if (inet_pton(AF_INET, host, buf) == 1)
		return arena_printf(a, "%s/32", host);
	if (inet_pton(AF_INET6, host, buf) == 1)
		return arena_printf(a, "%s/128", host);
	return host; /* a host name: pg_hba.conf matches it by reverse lookup */
}

/* hba_line - one rule, columns aligned as the header line of the file. */
static void hba_line(PgcStrBuf *b, const char *type, const char *db, const char *user,
		     const char *addr, const char *method, const char *options)
{
	strbuf_addf(b, "%-7s %-15s %-15s %-23s %s", type, db, user, addr != NULL ? addr : "", method);
	if (options != NULL && *options)
		strbuf_addf(b, " %s", options);
	strbuf_add(b, "\n", 1);
}

/*
 * AddrSet - the replication addresses already written, so that nodes
 * sharing a host get one line: an open-addressing hash set, linear in the
 * number of nodes (a list searched per node was quadratic).
 */
typedef struct {
	const char **slots;
	size_t mask;
} AddrSet;

static size_t addr_hash(const char *s)
{
	size_t h = 1469598103934665603u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

/* addr_set_add - true when addr was not in the set (and is now). */
static bool addr_set_add(AddrSet *set, const char *addr)
{
	size_t i = addr_hash(addr) & set->mask;

	while (set->slots[i] != NULL) {
		if (strcmp(set->slots[i], addr) == 0)
			return false;
		i = (i + 1) & set->mask;
	}
	set->slots[i] = addr;
	return true;
}

const char *plan_hba_conf(PgcArena *arena, const PgcCluster *c, const PgcNode *n)
{
	const char *os_user = c->os_user.v ? c->os_user.v : "postgres";
	PgcStrBuf b = PGC_STRBUF_INIT;
	size_t i;

	(void)n; /* every node of a cluster gets the same rules: any may become primary */
	strbuf_addf(&b,
		    "# pg_hba.conf - managed by pgconverge for cluster \"%s\".\n"
		    "# Rewritten on every apply: change the hba list in the topology file instead.\n"
		    "# TYPE DATABASE        USER            ADDRESS                 METHOD\n"
		    "\n"
		    "# pgconverge itself, as the bootstrap superuser over the unix socket.\n",
		    c->name);
	hba_line(&b, "local", "all", os_user, NULL, "peer", "map=pgconverge");
	hba_line(&b, "local", "replication", os_user, NULL, "peer", "map=pgconverge");
	if (c->n_nodes > 1 || c->n_standby_hosts > 0) {
		const char *method = c->replication.password.kind != SECRET_NONE ? "scram-sha-256"
										  : "trust";
		AddrSet seen;
		size_t size = 16;

		while (size < 2 * (c->n_nodes + c->n_standby_hosts))
			size *= 2;
		seen.slots = calloc(size, sizeof(char *));
		if (seen.slots == NULL)
			abort();
		seen.mask = size - 1;
		strbuf_adds(&b, "# Streaming replication between the cluster's nodes.\n");
		for (i = 0; i < c->n_nodes; i++) {
			const char *addr = hba_address(arena, c->nodes[i].host.v);

			if (addr_set_add(&seen, addr))
				hba_line(&b, "host", "replication", c->replication.user.v, addr, method,
					 NULL);
		}
		for (i = 0; i < c->n_standby_hosts; i++) {
			const char *addr = hba_address(arena, c->standby_hosts[i]);

			if (addr_set_add(&seen, addr))
				hba_line(&b, "host", "replication", c->replication.user.v, addr, method,
					 NULL);
		}
		free(seen.slots);
	}
	if (c->n_hba > 0)
		strbuf_adds(&b, "# The topology's rules, in order.\n");
	for (i = 0; i < c->n_hba; i++) {
		const PgcHbaRule *r = &c->hba[i];
		bool local = strcmp(r->type.v, "local") == 0;

		hba_line(&b, r->type.v, r->database.v ? r->database.v : "all",
			 r->user.v ? r->user.v : "all",
			 local ? NULL : (r->address.v ? r->address.v : ""), r->method.v,
			 r->options.set ? r->options.v : NULL);
	}
	return strbuf_finish(&b, arena);
}

const char *plan_ident_conf(PgcArena *arena, const PgcCluster *c)
{
	const char *os_user = c->os_user.v ? c->os_user.v : "postgres";

	return arena_printf(arena,
			    "# pg_ident.conf - managed by pgconverge for cluster \"%s\".\n"
			    "# pgconverge, running as root or as %s, logs in as the superuser %s.\n"
			    "# MAPNAME     SYSTEM-USERNAME  PG-USERNAME\n"
			    "pgconverge    root             %s\n"
			    "pgconverge    %-16s %s\n",
			    c->name, os_user, os_user, os_user, os_user, os_user);
}

const char *plan_slot_name(PgcArena *arena, const char *node)
{
	char *s = arena_strdup(arena, node), *p;

	for (p = s; *p; p++)
		if (*p == '-')
			*p = '_';
	return s;
}

/* ---- maintenance window --------------------------------------------------- */

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * tz_enter - takes tz_lock and sets TZ to tz; *saved keeps the value it
 * had (NULL: none) for tz_leave(). 0, or -1 when setenv failed (the lock
 * is held either way).
 */
static int tz_enter(const char *tz, char **saved)
{
	const char *old;
	int rc = 0;

	pthread_mutex_lock(&tz_lock);
	old = getenv("TZ");
	*saved = old != NULL ? strdup(old) : NULL;
	if (setenv("TZ", tz, 1) != 0)
		rc = -1;
	tzset();
	return rc;
}

/* tz_leave - puts TZ back as tz_enter() found it and releases tz_lock. */
static void tz_leave(char *saved)
{
	if (saved != NULL) {
		setenv("TZ", saved, 1);
		free(saved);
	} else {
		unsetenv("TZ");
	}
	tzset();
	pthread_mutex_unlock(&tz_lock);
}

/*
 * zone_local_time - now as a wall clock in an IANA zone. The C library only
 * converts through TZ, so TZ is set for the call and restored: the single
 * place the planner touches the environment (and the system's zone files),
 * because a window "Sun 02:00-04:00 Europe/Paris" means Paris's clock,
 * daylight saving included.
 */
static int zone_local_time(const char *tz, time_t now, struct tm *tm)
{
	char *saved;
	int rc = tz_enter(tz, &saved);

	if (rc == 0 && localtime_r(&now, tm) == NULL)
		rc = -1;
	tz_leave(saved);
	return rc;
}

static bool day_in(unsigned mask, int wday)
{
	return (mask >> ((wday + 7) % 7)) & 1u;
}

bool maintenance_window_open(const PgcMaintenance *m, time_t now)
{
	struct tm tm;
	int minute;

	if (m == NULL)
		return false;
	switch (m->restart) {
	case RESTART_ALWAYS:
		return true;
	case RESTART_NEVER:
		return false;
	case RESTART_WINDOW:
		break;
	}
	if (m->days_mask == 0 || m->start_min == m->end_min % 1440)
		return false; /* not parsed: validation refused it */
	if (m->tz == NULL || strcmp(m->tz, "UTC") == 0) {
		if (gmtime_r(&now, &tm) == NULL)
			return false;
	} else if (zone_local_time(m->tz, now, &tm) != 0) {
		return false;
	}
	minute = tm.tm_hour * 60 + tm.tm_min;
	if (m->start_min < m->end_min)
		return day_in(m->days_mask, tm.tm_wday) && minute >= m->start_min && minute < m->end_min;
	/* Past midnight: the evening belongs to today, the small hours to yesterday's window. */
	return (day_in(m->days_mask, tm.tm_wday) && minute >= m->start_min) ||
	       (day_in(m->days_mask, tm.tm_wday - 1) && minute < m->end_min);
}

/*
 * window_starts - the moments the window would begin on the days from
 * today (in the window's zone) to N_START_DAYS - 1 days later, and each
 * day's weekday. A day's start goes through mktime (tm_isdst -1), so a
 * start inside a daylight saving gap moves forward as the clock does.
 */
#define N_START_DAYS 9

static int window_starts(const PgcMaintenance *m, time_t now, time_t starts[N_START_DAYS],
			 int wdays[N_START_DAYS])
{
	bool utc = m->tz == NULL || strcmp(m->tz, "UTC") == 0;
	char *saved = NULL;
	struct tm today;
	int d, rc = 0;

	if (!utc)
		rc = tz_enter(m->tz, &saved);
	if (rc == 0 && (utc ? gmtime_r(&now, &today) : localtime_r(&now, &today)) == NULL)
		rc = -1;
	for (d = 0; rc == 0 && d < N_START_DAYS; d++) {
		struct tm tm = {0};

		tm.tm_year = today.tm_year;
		tm.tm_mon = today.tm_mon;
		tm.tm_mday = today.tm_mday + d;
		tm.tm_hour = m->start_min / 60;
		tm.tm_min = m->start_min % 60;
		tm.tm_isdst = -1;
		starts[d] = utc ? timegm(&tm) : mktime(&tm);
		wdays[d] = (today.tm_wday + d) % 7;
	}
	if (!utc)
		tz_leave(saved);
	return rc;
}

time_t maintenance_window_next_open(const PgcMaintenance *m, time_t now)
{
	time_t starts[N_START_DAYS];
	int wdays[N_START_DAYS], d;

	if (m == NULL || m->restart == RESTART_NEVER)
		return (time_t)-1;
	if (maintenance_window_open(m, now))
		return now;
	if (m->restart != RESTART_WINDOW || m->days_mask == 0 || m->start_min == m->end_min % 1440)
		return (time_t)-1;
	if (window_starts(m, now, starts, wdays) != 0)
		return (time_t)-1;
	for (d = 0; d < N_START_DAYS; d++) {
		/* A start lost to a daylight saving gap may not be open: skip that day. */
		time_t t = starts[d];
		int back;

		if (!day_in(m->days_mask, wdays[d]) || t <= now || !maintenance_window_open(m, t))
			continue;
		/* A start in a daylight saving gap moved forward past the gap's end,
		 * where the window is already open: back to that moment. */
		for (back = 0; back < 180 && t - 60 > now && maintenance_window_open(m, t - 60); back++)
			t -= 60;
		return t;
	}
	return (time_t)-1;
}
