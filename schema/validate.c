/*
 * schema/validate.c - semantic checks on a structurally sound topology.
 *
 * load.c has already checked types, ranges, enum words and required keys;
 * what is left needs the whole model at once: references between sections,
 * replication cycles, resources two nodes would fight over (ports, data
 * directories, repositories), policies that cannot be met by the declared
 * nodes, secret files, and PostgreSQL parameters checked against the catalog
 * of the cluster's major version, including the combinations PostgreSQL
 * itself refuses at start-up (wal_level minimal with WAL senders, a standby
 * with a smaller max_connections than its primary).
 *
 * Every problem is reported (nothing stops at the first) with the position
 * of the offending value; the caller sorts the list. The only writes to the
 * model are the parsed maintenance window (days_mask, start_min, end_min, tz).
 */
#include "schema/validate.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <arpa/inet.h>

#include "common/fsutil.h"
#include "common/strutil.h"
#include "schema/pgcatalog.h"
#include "schema/strmap.h"

typedef struct {
	PgcTopology *t;
	const PgcLoadOptions *opts;
	PgcDiagList *diags;
	const char *file;
	PgcStrMap roles; /* role name -> index in the cluster being checked */
	size_t suggest_left; /* "did you mean" comparisons still allowed */
} Val;

/* Each "did you mean" compares a word with every candidate; 30,000 unknown
 * roles among 30,000 declared ones would take minutes. Past this many
 * comparisons in one file, errors come without the suggestion. */
#define SUGGEST_BUDGET 2000000

/* ---- reporting --------------------------------------------------------- */

/* kf - a key path or hint, formatted into the topology's arena. */
static const char *kf(Val *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *kf(Val *v, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = arena_vprintf(v->t->arena, fmt, ap);
	va_end(ap);
	return s;
}

static void report(Val *v, PgcDiagLevel level, PgcPos pos, const char *key, const char *hint,
		   const char *fmt, va_list ap)
{
	char *msg = NULL;

	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	diag_add(v->diags, level, v->file, pos, key, hint, "%s", msg);
	free(msg);
}

static void verr(Val *v, PgcPos pos, const char *key, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void vwarn(Val *v, PgcPos pos, const char *key, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void verr(Val *v, PgcPos pos, const char *key, const char *hint, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(v, DIAG_ERROR, pos, key, hint, fmt, ap);
	va_end(ap);
}

static void vwarn(Val *v, PgcPos pos, const char *key, const char *hint, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(v, DIAG_WARNING, pos, key, hint, fmt, ap);
	va_end(ap);
}

/* pos_or - a, or b when a is not in the file (a default value). */
static PgcPos pos_or(PgcPos a, PgcPos b)
{
	return a.line > 0 ? a : b;
}

/* at_line - " (line N)" to point at another value, or "" when it has no position. */
static const char *at_line(Val *v, PgcPos pos)
{
	return pos.line > 0 ? kf(v, " (line %d)", pos.line) : "";
}

static bool pos_before(PgcPos a, PgcPos b)
{
	return a.line < b.line || (a.line == b.line && a.col < b.col);
}

/* quoted_list - "a", "b", "c" */
static const char *quoted_list(Val *v, const char *const *names, size_t n)
{
	size_t i, len = 1;
	char *s, *p;

	for (i = 0; i < n; i++)
		len += strlen(names[i]) + 4;
	s = p = arena_alloc(v->t->arena, len);
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s\"%s\"", i ? ", " : "", names[i]);
	return s;
}

static const char *did_you_mean(Val *v, const char *word, const char *const *cands, size_t n)
{
	const char *s;

	if (n > v->suggest_left)
		return NULL;
	v->suggest_left -= n;
	s = str_suggest(word, cands, n);

	return s ? kf(v, "did you mean \"%s\"?", s) : NULL;
}

/* fmt_duration - milliseconds in the largest unit that divides them exactly. */
static const char *fmt_duration(Val *v, int64_t ms)
{
	static const struct {
		const char *unit;
		int64_t factor;
	} units[] = {{"d", 86400000}, {"h", 3600000}, {"min", 60000}, {"s", 1000}};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms != 0 && ms % units[i].factor == 0)
			return kf(v, "%lld%s", (long long)(ms / units[i].factor), units[i].unit);
	return kf(v, "%lldms", (long long)ms);
}

/* ---- addresses ---------------------------------------------------------- */

static bool addr_wildcard(const char *a)
{
	return a == NULL || *a == '\0' || strcmp(a, "*") == 0 || strcmp(a, "0.0.0.0") == 0 ||
	       strcmp(a, "::") == 0;
}

static bool addr_loopback(const char *a)
{
	return strcasecmp(a, "localhost") == 0 || strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0;
}

/* addr_same - the same address, counting "localhost" as 127.0.0.1. */
static bool addr_same(const char *a, const char *b)
{
	if (strcasecmp(a, "localhost") == 0)
		a = "127.0.0.1";
	if (strcasecmp(b, "localhost") == 0)
		b = "127.0.0.1";
	return strcasecmp(a, b) == 0;
}

/* addr_port_clash - two listeners on the same port that cannot both bind. */
static bool addr_port_clash(const char *a, const char *b)
{
	if (addr_same(a, b))
		return true;
	if (addr_wildcard(a))
		return addr_wildcard(b) || addr_loopback(b);
	if (addr_wildcard(b))
		return addr_loopback(a);
	return false;
}

/*
 * same_machine - nodes whose data directories share a filesystem: the same
 * host, or two local addresses (pgconverge runs the servers of every local
 * node on the machine it runs on).
 */
static bool same_machine(const char *a, const char *b)
{
	bool la = addr_loopback(a) || addr_wildcard(a), lb = addr_loopback(b) || addr_wildcard(b);

	return addr_same(a, b) || (la && lb);
}

/* node_host - the node's address; the loader's default when the model has none. */
static const char *node_host(const PgcNode *n)
{
	return n->host.v != NULL ? n->host.v : "127.0.0.1";
}

/* ---- nodes and replication ---------------------------------------------- */

static const char *const *node_names(Val *v, const PgcCluster *c)
{
	const char **names = arena_calloc(v->t->arena, c->n_nodes + 1, sizeof(char *));
	size_t i;

	for (i = 0; i < c->n_nodes; i++)
		names[i] = c->nodes[i].name;
	return names;
}

/* report_unknown_node - a reference to a node that the cluster does not have. */
static void report_unknown_node(Val *v, const PgcCluster *c, const char *name, PgcPos pos,
				const char *key)
{
	const char *hint = did_you_mean(v, name, node_names(v, c), c->n_nodes);
	size_t i;

	for (i = 0; hint == NULL && i < v->t->n_clusters; i++) {
		const PgcCluster *o = &v->t->clusters[i];

		if (o != c && cluster_node(o, name) != NULL)
			hint = kf(v, "\"%s\" is a node of cluster \"%s\": replication stays within a cluster",
				  name, o->name);
	}
	verr(v, pos, key, hint, "unknown node \"%s\": expected one of %s", name,
	     quoted_list(v, node_names(v, c), c->n_nodes));
}

static PgcNode *check_primary(Val *v, PgcCluster *c)
{
	PgcNode *p;

	if (c->primary.v == NULL) {
		if (c->n_nodes > 1)
			verr(v, c->pos, kf(v, "clusters.%s", c->name),
			     kf(v, "name the node that accepts writes, e.g. \"primary: %s\"", c->nodes[0].name),
			     "missing required key \"primary\": a cluster with more than one node needs it");
		return c->n_nodes == 1 ? &c->nodes[0] : NULL;
	}
	p = cluster_node(c, c->primary.v);
	if (p == NULL)
		report_unknown_node(v, c, c->primary.v, c->primary.pos, kf(v, "clusters.%s.primary", c->name));
	return p;
}

/*
 * explicit_upstream - the node n names in replicate_from, when that is a
 * valid reference to another node; NULL otherwise (the primary, no
 * replicate_from, a dangling or self reference: reported elsewhere).
 */
static PgcNode *explicit_upstream(const PgcCluster *c, const PgcNode *n, const PgcNode *primary)
{
	PgcNode *up;

	if (n == primary || !n->replicate_from.set)
		return NULL;
	up = cluster_node(c, n->replicate_from.v);
	return up == n ? NULL : up;
}

/* upstream - the node n streams from: replicate_from, or the primary. */
static const PgcNode *upstream(const PgcCluster *c, const PgcNode *n, const PgcNode *primary)
{
	if (n == primary)
		return NULL;
	if (n->replicate_from.set)
		return explicit_upstream(c, n, primary);
	return primary;
}

static void check_replicate_from(Val *v, PgcCluster *c, const PgcNode *primary)
{
	size_t i;

	for (i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];
		const char *key = kf(v, "clusters.%s.nodes.%s.replicate_from", c->name, n->name);

		if (!n->replicate_from.set)
			continue;
		if (n == primary)
			verr(v, n->replicate_from.pos, key,
			     "remove replicate_from, or make another node the primary",
			     "the primary \"%s\" cannot replicate from another node", n->name);
		else if (strcmp(n->replicate_from.v, n->name) == 0)
			verr(v, n->replicate_from.pos, key,
			     primary ? kf(v, "remove it to replicate from the primary \"%s\"", primary->name) : NULL,
			     "node \"%s\" cannot replicate from itself", n->name);
		else if (cluster_node(c, n->replicate_from.v) == NULL)
			report_unknown_node(v, c, n->replicate_from.v, n->replicate_from.pos, key);
	}
}

static void report_cycle(Val *v, PgcCluster *c, const size_t *cyc, size_t len, const PgcNode *primary)
{
	size_t i, first = 0, slen = 1;
	char *chain, *p;
	const PgcNode *start;

	/* Name the cycle from its first node in the file, so it reads the same
	 * whichever node the walk entered it by. */
	for (i = 1; i < len; i++)
		if (cyc[i] < cyc[first])
			first = i;
	for (i = 0; i <= len; i++)
		slen += strlen(c->nodes[cyc[(first + i) % len]].name) + 4;
	chain = p = arena_alloc(v->t->arena, slen);
	for (i = 0; i <= len; i++)
		p += sprintf(p, "%s%s", i ? " -> " : "", c->nodes[cyc[(first + i) % len]].name);
	start = &c->nodes[cyc[first]];
	verr(v, start->replicate_from.pos,
	     kf(v, "clusters.%s.nodes.%s.replicate_from", c->name, start->name),
	     "remove replicate_from from one of these nodes to make it stream from the primary",
	     "replication cycle %s: every replica must lead back to the primary%s%s%s", chain,
	     primary ? " \"" : "", primary ? primary->name : "", primary ? "\"" : "");
}

/*
 * check_cycles - follows replicate_from from every node. A walk that comes
 * back to a node of its own path has found a cycle; each cycle is reported
 * once, since its nodes are marked done after the walk that found it.
 */
static void check_cycles(Val *v, PgcCluster *c, const PgcNode *primary)
{
	enum { NEW = 0, ON_PATH, DONE };
	unsigned char *state = calloc(c->n_nodes + 1, 1);
	size_t *path = calloc(c->n_nodes + 1, sizeof(size_t));
	size_t i, k;

	if (state == NULL || path == NULL)
		abort();
	for (i = 0; i < c->n_nodes; i++) {
		size_t len = 0, cur = i;

		if (state[i] != NEW)
			continue;
		for (;;) {
			const PgcNode *up = explicit_upstream(c, &c->nodes[cur], primary);
			size_t next;

			state[cur] = ON_PATH;
			path[len++] = cur;
			if (up == NULL)
				break;
			next = (size_t)(up - c->nodes);
			if (state[next] == ON_PATH) {
				for (k = 0; path[k] != next; k++)
					;
				report_cycle(v, c, path + k, len - k, primary);
				break;
			}
			if (state[next] == DONE)
				break;
			cur = next;
		}
		for (k = 0; k < len; k++)
			state[path[k]] = DONE;
	}
	free(state);
	free(path);
}

static size_t direct_replicas(const PgcCluster *c, const PgcNode *primary)
{
	size_t i, n = 0;

	for (i = 0; i < c->n_nodes; i++)
		if (&c->nodes[i] != primary && upstream(c, &c->nodes[i], primary) == primary)
			n++;
	return n;
}

static void check_synchronous(Val *v, PgcCluster *c, const PgcNode *primary)
{
	const PgcReplication *r = &c->replication;
	long long count = r->synchronous.count.v;
	size_t direct, replicas = c->n_nodes - 1;
	const char *key;
	PgcPos pos;

	if (r->synchronous.method == SYNC_OFF || primary == NULL)
		return;
	direct = direct_replicas(c, primary);
	if ((size_t)count <= direct)
		return;
	if (r->synchronous.count.set) {
		key = kf(v, "clusters.%s.replication.synchronous.count", c->name);
		pos = r->synchronous.count.pos;
	} else {
		key = kf(v, "clusters.%s.replication.synchronous", c->name);
		pos = pos_or(r->synchronous.pos, r->pos);
	}
	if (replicas == 0)
		verr(v, pos, key, "commits would wait forever: add replicas, or set synchronous: off",
		     "synchronous replication waits for %lld standby%s, but cluster \"%s\" has no replica",
		     count, count == 1 ? "" : "s", c->name);
	else
		verr(v, pos, key,
		     replicas > direct
			     ? "commits would wait forever; cascaded replicas cannot be synchronous standbys"
			     : "commits would wait forever: lower the count or add replicas",
		     "synchronous replication waits for %lld standby%s, but only %zu replica%s stream%s "
		     "directly from the primary \"%s\"",
		     count, count == 1 ? "" : "s", direct, direct == 1 ? "" : "s", direct == 1 ? "s" : "",
		     primary->name);
}

/* ---- regions, failover, maintenance -------------------------------------- */

/* cluster_regions - the distinct regions of the cluster's nodes, in file order. */
static size_t cluster_regions(Val *v, const PgcCluster *c, const char ***out)
{
	const char **regs = arena_calloc(v->t->arena, c->n_nodes + 1, sizeof(char *));
	size_t i, j, n = 0;

	for (i = 0; i < c->n_nodes; i++) {
		const char *r = c->nodes[i].region.v;

		if (!c->nodes[i].region.set || r == NULL)
			continue;
		for (j = 0; j < n && strcmp(regs[j], r) != 0; j++)
			;
		if (j == n)
			regs[n++] = r;
	}
	*out = regs;
	return n;
}

static void check_regions(Val *v, PgcCluster *c)
{
	const char **regs;
	size_t n = cluster_regions(v, c, &regs);
	long long min = c->regions.min.v;
	const char *key = kf(v, "clusters.%s.regions.min", c->name);
	const char *hint = "set \"region\" on the nodes, or lower regions.min";
	PgcPos pos = pos_or(c->regions.min.pos, c->regions.pos);

	/* A node without a region counts in none: the policy is about where
	 * nodes are, and an unknown place cannot add redundancy. */
	if (min <= 1 || (long long)n >= min)
		return;
	if (n == 0)
		verr(v, pos, key, hint, "the policy needs nodes in at least %lld regions, but no node of "
		     "cluster \"%s\" has a region", min, c->name);
	else
		verr(v, pos, key, hint, "the policy needs nodes in at least %lld regions, but the nodes of "
		     "cluster \"%s\" are in %zu: %s", min, c->name, n, quoted_list(v, regs, n));
}

static void check_failover(Val *v, PgcCluster *c)
{
	PgcFailover *f = &c->failover;
	const char *ck = kf(v, "clusters.%s.failover", c->name);

	if (f->prefer_region.set) {
		const char **regs;
		size_t n = cluster_regions(v, c, &regs), i;

		for (i = 0; i < n && strcmp(regs[i], f->prefer_region.v) != 0; i++)
			;
		if (n == 0)
			verr(v, f->prefer_region.pos, kf(v, "%s.prefer_region", ck),
			     "set \"region\" on the nodes",
			     "unknown region \"%s\": no node of cluster \"%s\" has a region",
			     f->prefer_region.v, c->name);
		else if (i == n)
			verr(v, f->prefer_region.pos, kf(v, "%s.prefer_region", ck),
			     did_you_mean(v, f->prefer_region.v, regs, n),
			     "unknown region \"%s\": expected a region of the nodes of cluster \"%s\": %s",
			     f->prefer_region.v, c->name, quoted_list(v, regs, n));
	}
	if (f->mode == FAILOVER_AUTO && c->n_nodes == 1)
		vwarn(v, pos_or(f->mode_pos, f->pos), kf(v, "%s.mode", ck), "add a replica to fail over to",
		      "automatic failover has nothing to promote: cluster \"%s\" has a single node", c->name);
	if (f->detect_after.set && f->detect_after.ms <= 0)
		verr(v, f->detect_after.pos, kf(v, "%s.detect_after", ck), NULL,
		     "expected a duration greater than zero, e.g. \"10s\"");
	if (f->probe_interval.set && f->probe_interval.ms <= 0)
		verr(v, f->probe_interval.pos, kf(v, "%s.probe_interval", ck), NULL,
		     "expected a duration greater than zero, e.g. \"1s\"");
	if (f->min_interval.set && f->min_interval.ms <= 0)
		verr(v, f->min_interval.pos, kf(v, "%s.min_interval", ck), NULL,
		     "expected a duration greater than zero, e.g. \"5min\"");
	if (f->detect_after.ms > 0 && f->probe_interval.ms > 0 &&
	    f->detect_after.ms < f->probe_interval.ms) {
		bool at_detect = f->detect_after.set;

		vwarn(v, at_detect ? f->detect_after.pos : pos_or(f->probe_interval.pos, f->pos),
		      kf(v, "%s.%s", ck, at_detect ? "detect_after" : "probe_interval"),
		      "make detect_after a few probe intervals long",
		      "detect_after %s is shorter than probe_interval %s: a single failed probe would "
		      "declare the primary down",
		      fmt_duration(v, f->detect_after.ms), fmt_duration(v, f->probe_interval.ms));
	}
}

static const char *const day_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

static int day_index(const char *s, size_t len)
{
	int i;

	for (i = 0; i < 7; i++)
		if (len == 3 && strncasecmp(s, day_names[i], 3) == 0)
			return i;
	return -1;
}

/* parse_days - "daily", "Sun", "Sat,Sun", "Mon-Fri", "Mon-Wed,Fri"; ranges may wrap ("Fri-Mon"). */
static int parse_days(const char *s, unsigned *mask, char *err, size_t errlen)
{
	*mask = 0;
	if (strcasecmp(s, "daily") == 0) {
		*mask = 0x7f;
		return 0;
	}
	while (*s != '\0') {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		const char *dash = memchr(s, '-', len);
		int a, b;

		if (dash != NULL) {
			a = day_index(s, (size_t)(dash - s));
			b = day_index(dash + 1, len - (size_t)(dash - s) - 1);
		} else {
			a = b = day_index(s, len);
		}
		if (a < 0 || b < 0) {
			snprintf(err, errlen, "unknown day \"%.*s\": expected daily, a day (Sun, Mon, Tue, "
				 "Wed, Thu, Fri, Sat), a list such as Sat,Sun or a range such as Mon-Fri",
				 (int)len, s);
			return -1;
		}
		for (;;) {
			*mask |= 1u << a;
			if (a == b)
				break;
			a = (a + 1) % 7;
		}
		if (end == NULL)
			break;
		s = end + 1;
		if (*s == '\0') {
			snprintf(err, errlen, "the list of days ends with a comma");
			return -1;
		}
	}
	return 0;
}

/* parse_hhmm - "H:MM" or "HH:MM" to minutes; "24:00" only when allow_24. */
static int parse_hhmm(const char *s, size_t len, bool allow_24)
{
	size_t colon;
	int h = 0, m;

	for (colon = 0; colon < len && s[colon] != ':'; colon++)
		if (!isdigit((unsigned char)s[colon]))
			return -1;
	if (colon == 0 || colon > 2 || len != colon + 3 || !isdigit((unsigned char)s[colon + 1]) ||
	    !isdigit((unsigned char)s[colon + 2]))
		return -1;
	h = atoi(s);
	m = (s[colon + 1] - '0') * 10 + (s[colon + 2] - '0');
	if (m > 59 || h > 24 || (h == 24 && (!allow_24 || m != 0)))
		return -1;
	return h * 60 + m;
}

static bool valid_tz_name(const char *s)
{
	const char *p;

	if (*s == '\0' || *s == '/' || strstr(s, "..") != NULL)
		return false;
	for (p = s; *p; p++)
		if (!(isalnum((unsigned char)*p) || strchr("/_+-", *p) != NULL))
			return false;
	return true;
}

static const char *tz_dir(void)
{
	const char *d = getenv("TZDIR");

	return d != NULL && *d != '\0' ? d : "/usr/share/zoneinfo";
}

/*
 * parse_window - "DAYS HH:MM-HH:MM [TZ]" into the maintenance fields.
 * The zone must exist in the local zoneinfo folder unless offline (the
 * window is evaluated where pgconverge runs, so that is where it matters).
 */
static int parse_window(const char *w, bool offline, PgcMaintenance *m, PgcArena *a, char *err,
			size_t errlen)
{
	char *copy = strdup(w), *tok[4], *save = NULL, *p, *dash;
	size_t n = 0;
	int start, end, rc = -1;
	unsigned mask;
	const char *tz = "UTC";

	if (copy == NULL)
		abort();
	for (p = strtok_r(copy, " \t", &save); p != NULL; p = strtok_r(NULL, " \t", &save))
		if (n < 4)
			tok[n++] = p;
		else
			n++;
	if (n < 2 || n > 3) {
		snprintf(err, errlen, "expected \"DAYS HH:MM-HH:MM [TZ]\", e.g. \"Sun 02:00-04:00 UTC\"");
		goto out;
	}
	if (parse_days(tok[0], &mask, err, errlen) != 0)
		goto out;
	dash = strchr(tok[1], '-');
	start = dash ? parse_hhmm(tok[1], (size_t)(dash - tok[1]), false) : -1;
	end = dash ? parse_hhmm(dash + 1, strlen(dash + 1), true) : -1;
	if (start < 0 || end < 0) {
		snprintf(err, errlen, "invalid time range \"%s\": expected HH:MM-HH:MM, hours 00 to 23 "
			 "and minutes 00 to 59, e.g. 02:00-04:00", tok[1]);
		goto out;
	}
	if (start == end % 1440) {
		snprintf(err, errlen, "start and end are both %02d:%02d: expected a window of at least "
			 "one minute", start / 60, start % 60);
		goto out;
	}
	if (n == 3 && strcmp(tok[2], "UTC") != 0) {
		tz = tok[2];
		if (!valid_tz_name(tz)) {
			snprintf(err, errlen, "invalid time zone \"%s\": expected UTC or an IANA name such as "
				 "Europe/Paris", tz);
			goto out;
		}
		if (!offline) {
			char *path = NULL;
			struct stat st;
			bool found;

			if (asprintf(&path, "%s/%s", tz_dir(), tz) < 0)
				abort();
			found = stat(path, &st) == 0 && S_ISREG(st.st_mode);
			free(path);
			if (!found) {
				snprintf(err, errlen, "unknown time zone \"%s\": expected UTC or a zone under %s "
					 "such as Europe/Paris", tz, tz_dir());
				goto out;
			}
		}
	}
	m->days_mask = mask;
	m->start_min = start;
	m->end_min = end;
	m->tz = arena_strdup(a, tz);
	rc = 0;
out:
	free(copy);
	return rc;
}

static void check_maintenance(Val *v, PgcCluster *c)
{
	PgcMaintenance *m = &c->maintenance;
	const char *ck = kf(v, "clusters.%s.maintenance", c->name);
	static const char *const policies[] = {"never", "always", "window"};
	char err[512];

	if (m->restart == RESTART_WINDOW && !m->window.set)
		verr(v, pos_or(m->restart_pos, m->pos), kf(v, "%s.restart", ck),
		     "add e.g. window: \"Sun 02:00-04:00 UTC\"",
		     "restart policy \"window\" needs maintenance.window");
	if (!m->window.set)
		return;
	if (parse_window(m->window.v, v->opts->offline, m, v->t->arena, err, sizeof(err)) != 0)
		verr(v, m->window.pos, kf(v, "%s.window", ck), NULL, "invalid window \"%s\": %s",
		     m->window.v, err);
	else if (m->restart != RESTART_WINDOW)
		vwarn(v, m->window.pos, kf(v, "%s.window", ck),
		      "set \"restart: window\" to restart only inside the window",
		      "the window has no effect: restart is \"%s\"", policies[m->restart]);
}

/* ---- roles and databases ------------------------------------------------ */

/* Predefined roles, with the major version that introduced each. */
static const struct {
	const char *name;
	int since;
} predefined_roles[] = {
	{"pg_signal_backend", 9},          {"pg_monitor", 10},
	{"pg_read_all_settings", 10},      {"pg_read_all_stats", 10},
	{"pg_stat_scan_tables", 10},       {"pg_read_server_files", 11},
	{"pg_write_server_files", 11},     {"pg_execute_server_program", 11},
	{"pg_database_owner", 14},         {"pg_read_all_data", 14},
	{"pg_write_all_data", 14},         {"pg_checkpoint", 15},
	{"pg_use_reserved_connections", 16}, {"pg_create_subscription", 16},
	{"pg_maintain", 17},
};

static bool is_predefined_role(const char *name, long long major)
{
	size_t i;

	for (i = 0; i < sizeof(predefined_roles) / sizeof(predefined_roles[0]); i++)
		if (strcmp(predefined_roles[i].name, name) == 0 && predefined_roles[i].since <= major)
			return true;
	return false;
}

/* role_hint - for an unknown role: a predefined role of a later version, or a near name. */
static const char *role_hint(Val *v, const PgcCluster *c, const char *name, const char *const *names,
			     size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(predefined_roles) / sizeof(predefined_roles[0]); i++)
		if (strcmp(predefined_roles[i].name, name) == 0)
			return kf(v, "\"%s\" exists from postgresql %d on; cluster \"%s\" runs %lld", name,
				  predefined_roles[i].since, c->name, c->pg_version.v);
	return did_you_mean(v, name, names, n);
}

/* cluster_role - a declared role by name, through v->roles (a 100,000-role file is fine). */
static PgcRole *cluster_role(Val *v, const PgcCluster *c, const char *name)
{
	const size_t *i = strmap_get(&v->roles, name);

	return i != NULL ? &c->roles[*i] : NULL;
}

/* is_bootstrap_superuser - the superuser initdb creates; it exists without being declared. */
static bool is_bootstrap_superuser(const PgcCluster *c, const char *name)
{
	return strcmp(name, "postgres") == 0 || (c->os_user.v != NULL && strcmp(name, c->os_user.v) == 0);
}

static const char *const *role_names(Val *v, const PgcCluster *c, bool with_predefined, size_t *n)
{
	size_t np = sizeof(predefined_roles) / sizeof(predefined_roles[0]), i;
	const char **names = arena_calloc(v->t->arena, c->n_roles + np + 1, sizeof(char *));

	*n = 0;
	for (i = 0; i < c->n_roles; i++)
		names[(*n)++] = c->roles[i].name;
	for (i = 0; with_predefined && i < np; i++)
		if (predefined_roles[i].since <= c->pg_version.v)
			names[(*n)++] = predefined_roles[i].name;
	return names;
}

/*
 * Role membership cycles: PostgreSQL refuses the GRANT that would close one,
 * half way through an apply; find them before anything runs. The walk keeps
 * its own stack: a chain of 100,000 memberships is no reason to overflow
 * the C stack.
 */
typedef struct {
	Val *v;
	PgcCluster *c;
	unsigned char *state;  /* 0 new, 1 on the stack, 2 done */
	size_t *stack;         /* roles on the current path */
	size_t *via;           /* member_of index followed from stack[i] */
	size_t *at;            /* where a role on the stack is in it */
	size_t depth;
} RoleWalk;

/* Long cycles are shown by their first roles only. */
#define ROLE_CYCLE_SHOWN 8

static void report_role_cycle(RoleWalk *w, size_t from)
{
	size_t len = w->depth - from, i, first = 0, shown, slen = 64;
	const PgcRole *start;
	char *chain, *p;

	for (i = 1; i < len; i++)
		if (w->stack[from + i] < w->stack[from + first])
			first = i;
	shown = len > ROLE_CYCLE_SHOWN ? ROLE_CYCLE_SHOWN : len;
	for (i = 0; i < shown; i++)
		slen += strlen(w->c->roles[w->stack[from + (first + i) % len]].name) + 4;
	slen += strlen(w->c->roles[w->stack[from + first]].name);
	chain = p = arena_alloc(w->v->t->arena, slen);
	for (i = 0; i < shown; i++)
		p += sprintf(p, "%s%s", i ? " -> " : "", w->c->roles[w->stack[from + (first + i) % len]].name);
	if (shown < len)
		p += sprintf(p, " -> ... (%zu roles)", len);
	sprintf(p, " -> %s", w->c->roles[w->stack[from + first]].name);
	start = &w->c->roles[w->stack[from + first]];
	verr(w->v, start->member_of.items[w->via[from + first]].pos,
	     kf(w->v, "clusters.%s.roles.%s.member_of[%zu]", w->c->name, start->name, w->via[from + first]),
	     "remove one of these memberships", "circular role membership %s", chain);
}

static void role_push(RoleWalk *w, size_t r)
{
	w->state[r] = 1;
	w->at[r] = w->depth;
	w->stack[w->depth] = r;
	w->via[w->depth] = 0;
	w->depth++;
}

/* role_walk - depth-first from role r0, reporting each back edge once. */
static void role_walk(RoleWalk *w, size_t r0)
{
	role_push(w, r0);
	while (w->depth > 0) {
		size_t d = w->depth - 1, r = w->stack[d];
		const PgcRole *role = &w->c->roles[r];
		const PgcRole *m;
		size_t mi;

		if (w->via[d] == role->member_of.n) {
			w->state[r] = 2;
			w->depth--;
			if (w->depth > 0)
				w->via[w->depth - 1]++;
			continue;
		}
		m = cluster_role(w->v, w->c, role->member_of.items[w->via[d]].v);
		mi = m != NULL ? (size_t)(m - w->c->roles) : r;
		if (mi == r || w->state[mi] == 2) {
			w->via[d]++;
		} else if (w->state[mi] == 1) {
			report_role_cycle(w, w->at[mi]);
			w->via[d]++;
		} else {
			role_push(w, mi); /* via[d] moves on when mi is done */
		}
	}
}

static void check_role_cycles(Val *v, PgcCluster *c)
{
	RoleWalk w = {v, c, NULL, NULL, NULL, NULL, 0};
	size_t i;

	if (c->n_roles == 0)
		return;
	w.state = calloc(c->n_roles, 1);
	w.stack = calloc(c->n_roles, sizeof(size_t));
	w.via = calloc(c->n_roles, sizeof(size_t));
	w.at = calloc(c->n_roles, sizeof(size_t));
	if (w.state == NULL || w.stack == NULL || w.via == NULL || w.at == NULL)
		abort();
	for (i = 0; i < c->n_roles; i++)
		if (w.state[i] == 0)
			role_walk(&w, i);
	free(w.state);
	free(w.stack);
	free(w.via);
	free(w.at);
}

static void check_roles(Val *v, PgcCluster *c)
{
	static const char *const reserved[] = {"public", "none", "current_role", "current_user",
					       "session_user"};
	size_t i, j, k, nnames;
	const char *const *names = role_names(v, c, true, &nnames);
	PgcRole *rep;

	for (i = 0; i < c->n_roles; i++) {
		const PgcRole *r = &c->roles[i];
		const char *rk = kf(v, "clusters.%s.roles.%s", c->name, r->name);

		if (str_has_prefix(r->name, "pg_"))
			verr(v, r->pos, rk, "choose a name that does not begin with \"pg_\"",
			     "role name \"%s\" is reserved: names beginning with \"pg_\" belong to postgresql",
			     r->name);
		for (k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++)
			if (strcmp(r->name, reserved[k]) == 0)
				verr(v, r->pos, rk, NULL, "role name \"%s\" is reserved by postgresql", r->name);
		for (j = 0; j < r->member_of.n; j++) {
			const PgcStr *m = &r->member_of.items[j];
			const char *mk = kf(v, "%s.member_of[%zu]", rk, j);

			if (strcmp(m->v, r->name) == 0)
				verr(v, m->pos, mk, NULL, "role \"%s\" cannot be a member of itself", r->name);
			else if (cluster_role(v, c, m->v) == NULL && !is_predefined_role(m->v, c->pg_version.v) &&
				 !is_bootstrap_superuser(c, m->v))
				verr(v, m->pos, mk, role_hint(v, c, m->v, names, nnames),
				     "unknown role \"%s\": expected a role declared under clusters.%s.roles or a "
				     "predefined role such as \"pg_monitor\"", m->v, c->name);
		}
	}
	check_role_cycles(v, c);

	/* The replication user is created with REPLICATION and LOGIN; a
	 * declaration without them would be undone on every run. */
	rep = c->replication.user.v ? cluster_role(v, c, c->replication.user.v) : NULL;
	if (rep != NULL && !rep->superuser.v && (!rep->replication.v || !rep->login.v))
		vwarn(v, rep->pos, kf(v, "clusters.%s.roles.%s", c->name, rep->name),
		      kf(v, "add %s%s%s to it, or choose another replication.user",
			 rep->replication.v ? "" : "\"replication: true\"",
			 !rep->replication.v && !rep->login.v ? " and " : "",
			 rep->login.v ? "" : "\"login: true\""),
		      "role \"%s\" is the replication user but is declared without %s", rep->name,
		      !rep->replication.v && !rep->login.v ? "replication and login"
		      : !rep->replication.v		 ? "replication"
							 : "login");
	if (rep != NULL && rep->password.set && c->replication.password.set &&
	    (rep->password.kind != c->replication.password.kind ||
	     strcmp(rep->password.ref, c->replication.password.ref) != 0))
		verr(v, rep->password.pos,
		     kf(v, "clusters.%s.roles.%s.password.%s", c->name, rep->name,
			rep->password.kind == SECRET_ENV ? "env" : "file"),
		     kf(v, "keep one of them: clusters.%s.replication.password sets it", c->name),
		     "the replication user \"%s\" is given two different passwords", rep->name);
}

static void check_databases(Val *v, PgcCluster *c)
{
	size_t i, nnames;
	const char *const *names = role_names(v, c, false, &nnames);

	for (i = 0; i < c->n_databases; i++) {
		const PgcDatabase *d = &c->databases[i];

		if (!d->owner.set || cluster_role(v, c, d->owner.v) != NULL ||
		    is_bootstrap_superuser(c, d->owner.v))
			continue;
		verr(v, d->owner.pos, kf(v, "clusters.%s.databases.%s.owner", c->name, d->name),
		     did_you_mean(v, d->owner.v, names, nnames),
		     "unknown role \"%s\": expected a role declared under clusters.%s.roles or the "
		     "bootstrap superuser \"postgres\"", d->owner.v, c->name);
	}
}

/* ---- access rules -------------------------------------------------------- */

static void check_hba_address(Val *v, const PgcHbaRule *r, const char *key)
{
	const char *a = r->address.v, *slash = strchr(a, '/');
	unsigned char buf[16];
	char ip[64];
	bool v4, v6;
	const char *p;

	if (slash == NULL) {
		v4 = inet_pton(AF_INET, a, buf) == 1;
		v6 = inet_pton(AF_INET6, a, buf) == 1;
		if (v4 || v6) {
			verr(v, r->address.pos, key, kf(v, "write \"%s/%d\" for this address alone", a, v4 ? 32 : 128),
			     "address \"%s\" needs a CIDR mask: expected an address range such as "
			     "\"%s/%d\"", a, a, v4 ? 32 : 128);
			return;
		}
		if (strcmp(a, "all") == 0 || strcmp(a, "samehost") == 0 || strcmp(a, "samenet") == 0)
			return;
		for (p = *a == '.' ? a + 1 : a; *p; p++)
			if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '.'))
				break;
		if (*p != '\0' || *a == '\0')
			verr(v, r->address.pos, key, NULL,
			     "invalid address \"%s\": expected an address range such as 10.0.0.0/8, a host "
			     "name, all, samehost or samenet", a);
		return;
	}
	if ((size_t)(slash - a) >= sizeof(ip)) {
		verr(v, r->address.pos, key, NULL, "invalid address \"%s\": expected an IP address before \"/\"", a);
		return;
	}
	memcpy(ip, a, (size_t)(slash - a));
	ip[slash - a] = '\0';
	v4 = inet_pton(AF_INET, ip, buf) == 1;
	v6 = inet_pton(AF_INET6, ip, buf) == 1;
	if (!v4 && !v6) {
		verr(v, r->address.pos, key, NULL, "invalid address \"%s\": expected an IP address before \"/\"", a);
		return;
	}
	{
		const char *m = slash + 1;
		long bits;
		char *end;

		errno = 0;
		bits = isdigit((unsigned char)*m) ? strtol(m, &end, 10) : -1;
		if (bits < 0 || errno != 0 || *end != '\0' || bits > (v4 ? 32 : 128))
			verr(v, r->address.pos, key, NULL, "invalid CIDR mask \"/%s\" in \"%s\": expected 0 to %d",
			     m, a, v4 ? 32 : 128);
	}
}

static void check_hba(Val *v, PgcCluster *c)
{
	size_t i;

	for (i = 0; i < c->n_hba; i++) {
		const PgcHbaRule *r = &c->hba[i];
		const char *rk = kf(v, "clusters.%s.hba[%zu]", c->name, i);

		if (r->address.set)
			check_hba_address(v, r, kf(v, "%s.address", rk));
		if (!r->type.set || !r->method.set)
			continue;
		if (strcmp(r->method.v, "cert") == 0 && strcmp(r->type.v, "hostssl") != 0)
			verr(v, r->method.pos, kf(v, "%s.method", rk), "use type hostssl with method cert",
			     "method \"cert\" needs type \"hostssl\", got \"%s\": client certificates exist "
			     "only on SSL connections", r->type.v);
		if (strcmp(r->method.v, "peer") == 0 && strcmp(r->type.v, "local") != 0)
			verr(v, r->method.pos, kf(v, "%s.method", rk),
			     "use type local, or method ident for TCP connections",
			     "method \"peer\" needs type \"local\", got \"%s\": peer authentication works only "
			     "on Unix sockets", r->type.v);
	}
}

/* ---- secrets ------------------------------------------------------------- */

static void check_secret(Val *v, const PgcSecret *s, const char *key)
{
	struct stat st;

	if (!s->set || s->kind != SECRET_FILE || v->opts->offline)
		return;
	key = kf(v, "%s.file", key);
	if (stat(s->ref, &st) != 0) {
		if (errno == ENOENT)
			vwarn(v, s->pos, key, "it must exist, with mode 600, wherever plan or apply runs",
			      "secret file \"%s\" does not exist on this machine", s->ref);
		else
			vwarn(v, s->pos, key, NULL, "cannot check secret file \"%s\": %s", s->ref,
			      strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		verr(v, s->pos, key, NULL, "secret file \"%s\" is not a regular file", s->ref);
		return;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		verr(v, s->pos, key, kf(v, "chmod 600 %s", s->ref),
		     "secret file \"%s\" is %s by group or others (mode %04o): expected mode 600 or stricter",
		     s->ref, st.st_mode & (S_IRGRP | S_IROTH) ? "readable" : "accessible",
		     (unsigned)(st.st_mode & 07777));
}

static void check_secrets(Val *v, PgcCluster *c)
{
	size_t i;

	for (i = 0; i < c->n_roles; i++)
		check_secret(v, &c->roles[i].password,
			     kf(v, "clusters.%s.roles.%s.password", c->name, c->roles[i].name));
	check_secret(v, &c->replication.password, kf(v, "clusters.%s.replication.password", c->name));
}

/* ---- backup and bootstrap ------------------------------------------------ */

static void check_every(Val *v, const PgcDuration *d, const char *key)
{
	if (d->set && d->ms <= 0)
		verr(v, d->pos, key, NULL, "expected a duration greater than zero, e.g. \"24h\"");
}

static void check_backup(Val *v, PgcCluster *c)
{
	PgcBackup *b = &c->backup;
	const char *bk = kf(v, "clusters.%s.backup", c->name);
	size_t i, j, nnames = c->n_databases;
	const char **names;

	if (!b->set)
		return;
	check_every(v, &b->base.every, kf(v, "%s.base.every", bk));
	check_every(v, &b->logical.every, kf(v, "%s.logical.every", bk));
	check_every(v, &b->verify.every, kf(v, "%s.verify.every", bk));
	if (b->verify.set && !b->base.set)
		vwarn(v, b->verify.pos, kf(v, "%s.verify", bk), "add backup.base: {every: 24h, keep: 7}",
		      "verify restores the newest base backup, but backup.base is not configured");
	names = arena_calloc(v->t->arena, nnames + 1, sizeof(char *));
	for (i = 0; i < nnames; i++)
		names[i] = c->databases[i].name;
	for (i = 0; i < b->logical.databases.n; i++) {
		const PgcStr *d = &b->logical.databases.items[i];

		for (j = 0; j < nnames && strcmp(names[j], d->v) != 0; j++)
			;
		if (j < nnames || strcmp(d->v, "postgres") == 0)
			continue;
		verr(v, d->pos, kf(v, "%s.logical.databases[%zu]", bk, i), did_you_mean(v, d->v, names, nnames),
		     "unknown database \"%s\": expected a database declared under clusters.%s.databases%s%s",
		     d->v, c->name, nnames ? ": " : " (none is)", nnames ? quoted_list(v, names, nnames) : "");
	}
}

static bool valid_lsn(const char *s)
{
	size_t i, hi = 0, lo = 0;

	for (i = 0; isxdigit((unsigned char)s[i]); i++)
		hi++;
	if (s[i] != '/')
		return false;
	for (i++; isxdigit((unsigned char)s[i]); i++)
		lo++;
	return s[i] == '\0' && hi >= 1 && hi <= 8 && lo >= 1 && lo <= 8;
}

static void check_bootstrap(Val *v, PgcCluster *c)
{
	PgcBootstrap *b = &c->bootstrap;
	const char *bk = kf(v, "clusters.%s.bootstrap.from_backup", c->name);
	const char *p;

	if (!b->set)
		return;
	if (c->initdb.set)
		verr(v, c->initdb.pos, kf(v, "clusters.%s.initdb", c->name), "remove the initdb section",
		     "initdb and bootstrap.from_backup are exclusive: a restored cluster keeps the locale, "
		     "encoding and checksums of its backup");
	if (b->target_lsn.set && !valid_lsn(b->target_lsn.v))
		verr(v, b->target_lsn.pos, kf(v, "%s.target_lsn", bk), NULL,
		     "invalid LSN \"%s\": expected two hexadecimal numbers separated by \"/\", e.g. "
		     "\"0/3000060\"", b->target_lsn.v);
	if (b->target_xid.set) {
		for (p = b->target_xid.v; isdigit((unsigned char)*p); p++)
			;
		if (*p != '\0' || p == b->target_xid.v || strtoull(b->target_xid.v, NULL, 10) < 3)
			verr(v, b->target_xid.pos, kf(v, "%s.target_xid", bk), NULL,
			     "invalid transaction ID \"%s\": expected a number of at least 3 (the first "
			     "normal transaction ID)", b->target_xid.v);
	}
}

/* ---- PostgreSQL parameters ----------------------------------------------- */

/*
 * Parameters that pgconverge writes itself, from the topology key named in
 * the hint ({node} and {cluster} stand for the node's and the cluster's key
 * path). A value in settings would fight the reconciler.
 */
static const struct {
	const char *name;
	const char *hint;
} owned_params[] = {
	{"port", "set it with {node}.port"},
	{"listen_addresses", "pgconverge listens on {node}.host"},
	{"data_directory", "pgconverge sets it from {node}.data_dir"},
	{"config_file", "pgconverge manages the configuration files in {node}.data_dir"},
	{"hba_file", "write access rules under {cluster}.hba"},
	{"ident_file", "pgconverge manages the configuration files in {node}.data_dir"},
	{"primary_conninfo", "set the upstream with {node}.replicate_from and the credentials under {cluster}.replication"},
	{"primary_slot_name", "replication slots follow {cluster}.replication.slots"},
	{"restore_command", "pgconverge fetches WAL from {cluster}.backup.repository or {cluster}.bootstrap.from_backup"},
	{"archive_cleanup_command", "WAL retention follows {cluster}.backup.base.keep"},
	{"synchronous_standby_names", "set it with {cluster}.replication.synchronous"},
	{"archive_mode", "WAL archiving is set with {cluster}.backup.wal_archive"},
	{"archive_command", "WAL archiving is set with {cluster}.backup.wal_archive"},
	{"archive_library", "WAL archiving is set with {cluster}.backup.wal_archive"},
	{"cluster_name", "pgconverge sets it from the cluster and node names"},
	{"hot_standby", "replicas must accept connections so that pgconverge can observe them"},
	{"include", "write parameters under settings: pgconverge owns the configuration files"},
	{"include_dir", "write parameters under settings: pgconverge owns the configuration files"},
	{"include_if_exists", "write parameters under settings: pgconverge owns the configuration files"},
};

/* Read-only parameters (context internal), with the key that decides them if any. */
static const struct {
	const char *name;
	const char *hint;
} readonly_params[] = {
	{"data_checksums", "set {cluster}.initdb.data_checksums"},
	{"lc_collate", "set {cluster}.initdb.locale"},
	{"lc_ctype", "set {cluster}.initdb.locale"},
	{"server_encoding", "set {cluster}.initdb.encoding"},
	{"block_size", NULL},
	{"data_directory_mode", NULL},
	{"debug_assertions", NULL},
	{"in_hot_standby", NULL},
	{"integer_datetimes", NULL},
	{"max_function_args", NULL},
	{"max_identifier_length", NULL},
	{"max_index_keys", NULL},
	{"segment_size", NULL},
	{"server_version", NULL},
	{"server_version_num", NULL},
	{"shared_memory_size", NULL},
	{"shared_memory_size_in_huge_pages", NULL},
	{"ssl_library", NULL},
	{"wal_block_size", NULL},
	{"wal_segment_size", NULL},
};

/* owned_hint - the hint for a parameter pgconverge writes itself, or NULL. */
static const char *owned_hint(const char *name)
{
	size_t k;

	if (strncasecmp(name, "recovery_target", 15) == 0)
		return "point-in-time restores are set with {cluster}.bootstrap.from_backup";
	for (k = 0; k < sizeof(owned_params) / sizeof(owned_params[0]); k++)
		if (strcasecmp(name, owned_params[k].name) == 0)
			return owned_params[k].hint;
	return NULL;
}

/* expand_hint - replaces {node} and {cluster} in a hint template. */
static const char *expand_hint(Val *v, const char *tmpl, const char *cluster, const char *node)
{
	char *out, *o;
	const char *p, *ck = kf(v, "clusters.%s", cluster),
		       *nk = kf(v, "clusters.%s.nodes.%s", cluster, node ? node : "<name>");
	size_t len;

	if (tmpl == NULL)
		return NULL;
	len = strlen(tmpl) + 1;
	for (p = tmpl; (p = strchr(p, '{')) != NULL; p++)
		len += strlen(nk) + strlen(ck);
	out = o = arena_alloc(v->t->arena, len);
	for (p = tmpl; *p;) {
		if (strncmp(p, "{node}", 6) == 0) {
			o += sprintf(o, "%s", nk);
			p += 6;
		} else if (strncmp(p, "{cluster}", 9) == 0) {
			o += sprintf(o, "%s", ck);
			p += 9;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/* custom_param_name - "prefix.name": extension parameters, which PostgreSQL accepts as placeholders. */
static bool custom_param_name(const char *s)
{
	const char *dot = strchr(s, '.'), *p;

	if (dot == NULL || dot == s || dot[1] == '\0')
		return false;
	for (p = s; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '$' || *p == '.'))
			return false;
	return !isdigit((unsigned char)*s);
}

/* check_settings - names and values of one settings map (the cluster's, or a node's overrides). */
static void check_settings(Val *v, PgcCluster *c, const PgcNode *n, const PgcSettings *ss)
{
	int major = (int)c->pg_version.v;
	size_t i, k;

	for (i = 0; i < ss->n; i++) {
		const PgcSetting *s = &ss->items[i];
		const char *key = n ? kf(v, "clusters.%s.nodes.%s.settings.%s", c->name, n->name, s->name)
				    : kf(v, "clusters.%s.settings.%s", c->name, s->name);
		const PgcParam *p;
		const char *hint;
		char out[1024], err[512];

		hint = owned_hint(s->name);
		if (hint != NULL) {
			verr(v, s->key_pos, key, expand_hint(v, hint, c->name, n ? n->name : NULL),
			     "parameter \"%s\" is managed by pgconverge", s->name);
			continue;
		}
		p = pgcatalog_lookup(major, s->name);
		for (k = 0; k < sizeof(readonly_params) / sizeof(readonly_params[0]); k++)
			if (strcasecmp(s->name, readonly_params[k].name) == 0)
				break;
		if ((p != NULL && p->context == PGP_CTX_INTERNAL) ||
		    (p == NULL && k < sizeof(readonly_params) / sizeof(readonly_params[0]))) {
			const char *h = k < sizeof(readonly_params) / sizeof(readonly_params[0])
						? readonly_params[k].hint
						: NULL;

			verr(v, s->key_pos, key, h ? expand_hint(v, h, c->name, n ? n->name : NULL) : NULL,
			     "parameter \"%s\" is read-only: postgresql fixes it when it is built or when "
			     "the cluster is created", s->name);
			continue;
		}
		if (p == NULL) {
			const char *sug;

			if (custom_param_name(s->name))
				continue;
			sug = pgcatalog_suggest(major, s->name);
			verr(v, s->key_pos, key, sug ? kf(v, "did you mean \"%s\"?", sug) : NULL,
			     "unknown parameter \"%s\" for postgresql %d", s->name, major);
			continue;
		}
		if (pgparam_normalize(p, s->value, out, sizeof(out), err, sizeof(err)) != 0)
			verr(v, s->pos, key, NULL, "%s", err);
	}
}

/* EffValue - a parameter's effective value on a node, normalised. */
typedef struct {
	const PgcSetting *s;  /* NULL: the built-in default */
	bool from_node;
	bool ok;              /* false: an invalid value (already reported) */
	char val[256];
} EffValue;

static void eff_value(const PgcCluster *c, const PgcNode *n, const PgcParam *p, EffValue *e)
{
	const PgcSettings *lists[2] = {&n->settings, &c->settings};
	char err[256];
	size_t i, l;

	memset(e, 0, sizeof(*e));
	for (l = 0; l < 2 && e->s == NULL; l++)
		for (i = 0; i < lists[l]->n; i++)
			if (strcasecmp(lists[l]->items[i].name, p->name) == 0) {
				e->s = &lists[l]->items[i];
				e->from_node = l == 0;
				break;
			}
	if (e->s != NULL)
		e->ok = pgparam_normalize(p, e->s->value, e->val, sizeof(e->val), err, sizeof(err)) == 0;
	else if (p->boot_val != NULL)
		e->ok = snprintf(e->val, sizeof(e->val), "%s", p->boot_val) < (int)sizeof(e->val);
}

/*
 * once - whether to report a finding about a node's effective value: always
 * for a node's own override, once per cluster for the cluster's value or the
 * default, which every node shares (*done remembers it).
 */
static bool once(bool from_node, bool *done)
{
	if (from_node)
		return true;
	if (*done)
		return false;
	*done = true;
	return true;
}

static const char *eff_key(Val *v, const PgcCluster *c, const PgcNode *n, const EffValue *e)
{
	if (e->s == NULL)
		return kf(v, "clusters.%s.settings", c->name);
	if (e->from_node)
		return kf(v, "clusters.%s.nodes.%s.settings.%s", c->name, n->name, e->s->name);
	return kf(v, "clusters.%s.settings.%s", c->name, e->s->name);
}

static PgcPos eff_pos(const PgcCluster *c, const EffValue *e)
{
	if (e->s != NULL)
		return e->s->pos;
	return pos_or(c->settings.pos, c->pos);
}

/*
 * check_wal_settings - the parameters replication and backups depend on:
 * wal_level, the number of WAL senders and replication slots, and what
 * pg_rewind needs. Per node, since nodes may override the cluster's values;
 * a cluster-wide problem is reported once (same position and text).
 */
static void check_wal_settings(Val *v, PgcCluster *c)
{
	int major = (int)c->pg_version.v;
	const PgcParam *wal_level = pgcatalog_lookup(major, "wal_level");
	const PgcParam *senders = pgcatalog_lookup(major, "max_wal_senders");
	const PgcParam *slots = pgcatalog_lookup(major, "max_replication_slots");
	const PgcParam *hints = pgcatalog_lookup(major, "wal_log_hints");
	long long replicas = (long long)c->n_nodes - 1;
	bool base_backups = c->backup.set && (c->backup.base.set || c->backup.wal_archive.v);
	bool needs_wal = replicas > 0 || base_backups;
	long long need_senders = 0, need_slots = 0;
	const char **no_hints = arena_calloc(v->t->arena, c->n_nodes + 1, sizeof(char *));
	size_t i, n_no_hints = 0;
	bool done_level = false, done_minimal = false, done_senders = false, done_slots = false;
	EffValue e, e2;

	/* pg_basebackup takes two senders (files and WAL) and a temporary slot
	 * while it copies a node, for a clone or a base backup. */
	if (base_backups)
		need_senders = replicas + 2;
	else if (replicas > 0)
		need_senders = replicas + 1;
	if (replicas > 0 || base_backups)
		need_slots = (c->replication.slots.v ? replicas : 0) + 1;

	for (i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];

		if (wal_level != NULL) {
			eff_value(c, n, wal_level, &e);
			if (e.ok && e.s != NULL && strcmp(e.val, "minimal") == 0) {
				if (needs_wal) {
					if (once(e.from_node, &done_level))
						verr(v, eff_pos(c, &e), eff_key(v, c, n, &e), NULL,
					     "wal_level \"minimal\" does not allow %s: expected \"replica\" or "
					     "\"logical\"",
					     replicas > 0 ? "streaming replication" : "base backups or WAL archiving");
				} else if (senders != NULL) {
					eff_value(c, n, senders, &e2);
					if (e2.ok && strtoll(e2.val, NULL, 10) > 0 &&
					    once(e.from_node || e2.from_node, &done_minimal))
						verr(v, eff_pos(c, &e), eff_key(v, c, n, &e),
						     "set max_wal_senders: 0 as well, or use wal_level replica",
						     "wal_level \"minimal\" needs max_wal_senders 0, but it is %s: "
						     "postgresql refuses to start", e2.val);
				}
			}
		}
		if (senders != NULL && need_senders > 0) {
			eff_value(c, n, senders, &e);
			if (e.ok && strtoll(e.val, NULL, 10) < need_senders && once(e.from_node, &done_senders))
				verr(v, eff_pos(c, &e), eff_key(v, c, n, &e),
				     kf(v, "any node may become the primary: 1 per replica (%lld), plus %d while "
					"pg_basebackup copies a node", replicas, base_backups ? 2 : 1),
				     "%smax_wal_senders %s is too small for cluster \"%s\": expected at least %lld",
				     e.s ? "" : "the default ", e.val, c->name, need_senders);
		}
		if (slots != NULL && need_slots > 0) {
			eff_value(c, n, slots, &e);
			if (e.ok && strtoll(e.val, NULL, 10) < need_slots && once(e.from_node, &done_slots))
				verr(v, eff_pos(c, &e), eff_key(v, c, n, &e),
				     c->replication.slots.v
					     ? kf(v, "any node may become the primary: 1 per replica (%lld), plus 1 "
						  "for pg_basebackup's temporary slot", replicas)
					     : "pg_basebackup needs 1 for its temporary slot",
				     "%smax_replication_slots %s is too small for cluster \"%s\": expected at "
				     "least %lld",
				     e.s ? "" : "the default ", e.val, c->name, need_slots);
		}
		if (hints != NULL) {
			eff_value(c, n, hints, &e);
			if (e.ok && strcmp(e.val, "off") == 0)
				no_hints[n_no_hints++] = n->name;
		}
	}
	if (replicas > 0 && !c->bootstrap.set && !c->initdb.data_checksums.v && n_no_hints > 0)
		vwarn(v, pos_or(c->initdb.data_checksums.pos, pos_or(c->initdb.pos, c->pos)),
		      kf(v, "clusters.%s.initdb.data_checksums", c->name),
		      kf(v, "set wal_log_hints: on under clusters.%s.settings, or data_checksums: true", c->name),
		      "data checksums are off and wal_log_hints is off on %s: pg_rewind needs one of them to "
		      "rejoin a former primary, which must otherwise be cloned again",
		      quoted_list(v, no_hints, n_no_hints));
}

/*
 * check_standby_minimums - PostgreSQL refuses to run a hot standby whose
 * value of these parameters is lower than the primary's.
 */
static void check_standby_minimums(Val *v, PgcCluster *c, const PgcNode *primary)
{
	static const char *const names[] = {"max_connections", "max_worker_processes", "max_wal_senders",
					    "max_prepared_transactions", "max_locks_per_transaction"};
	size_t i, k;

	if (primary == NULL)
		return;
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		const PgcParam *p = pgcatalog_lookup((int)c->pg_version.v, names[k]);
		EffValue pe;

		if (p == NULL)
			continue;
		eff_value(c, primary, p, &pe);
		if (!pe.ok)
			continue;
		for (i = 0; i < c->n_nodes; i++) {
			const PgcNode *n = &c->nodes[i];
			EffValue re;
			bool at_replica;

			if (n == primary)
				continue;
			eff_value(c, n, p, &re);
			if (!re.ok || strtoll(re.val, NULL, 10) >= strtoll(pe.val, NULL, 10))
				continue;
			at_replica = re.from_node || !pe.from_node;
			verr(v, at_replica ? eff_pos(c, &re) : eff_pos(c, &pe),
			     at_replica ? eff_key(v, c, n, &re) : eff_key(v, c, primary, &pe),
			     kf(v, "use the same value on every node: any of them may become the primary"),
			     "%s %s on replica \"%s\" is lower than %s on the primary \"%s\": a standby does not "
			     "start with less than its primary", names[k], re.val, n->name, pe.val, primary->name);
		}
	}
}

/* check_reserved_connections - postgresql refuses to start unless
 * max_connections is larger than superuser_reserved_connections. */
static void check_reserved_connections(Val *v, PgcCluster *c)
{
	const PgcParam *mc = pgcatalog_lookup((int)c->pg_version.v, "max_connections");
	const PgcParam *rc = pgcatalog_lookup((int)c->pg_version.v, "superuser_reserved_connections");
	size_t i;
	bool done = false;

	if (mc == NULL || rc == NULL)
		return;
	for (i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];
		EffValue me, re;
		const EffValue *at;

		eff_value(c, n, mc, &me);
		eff_value(c, n, rc, &re);
		if (!me.ok || !re.ok || strtoll(me.val, NULL, 10) > strtoll(re.val, NULL, 10) ||
		    !once(me.from_node || re.from_node, &done))
			continue;
		at = me.s != NULL ? &me : &re;
		verr(v, eff_pos(c, at), eff_key(v, c, n, at), NULL,
		     "max_connections %s must be larger than superuser_reserved_connections %s: postgresql "
		     "refuses to start", me.val, re.val);
	}
}

static void check_parameters(Val *v, PgcCluster *c, const PgcNode *primary)
{
	size_t i;

	if (!pgcatalog_has_version((int)c->pg_version.v)) {
		verr(v, pos_or(c->pg_version.pos, c->pos), kf(v, "clusters.%s.postgres.version", c->name),
		     NULL, "unknown postgresql major version %lld: expected one of %s", c->pg_version.v,
		     pgcatalog_versions());
		return;
	}
	check_settings(v, c, NULL, &c->settings);
	for (i = 0; i < c->n_nodes; i++)
		check_settings(v, c, &c->nodes[i], &c->nodes[i].settings);
	check_wal_settings(v, c);
	check_reserved_connections(v, c);
	check_standby_minimums(v, c, primary);
}

/* ---- conflicts across the whole topology --------------------------------- */

typedef struct {
	const char *key;
	const char *addr;
	long long port;
	PgcPos pos;
	size_t order;  /* collection order, to keep reports deterministic */
} Endpoint;

static void add_endpoint(Endpoint *eps, size_t *n, const char *key, const char *addr, const PgcInt *port)
{
	eps[*n].key = key;
	eps[*n].addr = addr ? addr : "127.0.0.1";
	eps[*n].port = port->v;
	eps[*n].pos = port->pos;
	eps[*n].order = *n;
	(*n)++;
}

static int endpoint_cmp(const void *pa, const void *pb)
{
	const Endpoint *a = pa, *b = pb;

	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* check_ports - listeners that cannot all bind; compared within runs of equal ports. */
static void check_ports(Val *v)
{
	size_t i, j, n = 0, cap = 0;
	Endpoint *eps;

	for (i = 0; i < v->t->n_clusters; i++)
		cap += v->t->clusters[i].n_nodes + 4;
	eps = calloc(cap + 1, sizeof(Endpoint));
	if (eps == NULL)
		abort();
	for (i = 0; i < v->t->n_clusters; i++) {
		const PgcCluster *c = &v->t->clusters[i];
		const char *pk = kf(v, "clusters.%s.pooler.pgbouncer", c->name);
		const char *hk = kf(v, "clusters.%s.balancer.haproxy", c->name);

		for (j = 0; j < c->n_nodes; j++)
			add_endpoint(eps, &n, kf(v, "clusters.%s.nodes.%s.port", c->name, c->nodes[j].name),
				     node_host(&c->nodes[j]), &c->nodes[j].port);
		if (c->pgbouncer.set && c->pgbouncer.port.set)
			add_endpoint(eps, &n, kf(v, "%s.port", pk), c->pgbouncer.listen_address.v,
				     &c->pgbouncer.port);
		if (c->haproxy.set && c->haproxy.write_port.set)
			add_endpoint(eps, &n, kf(v, "%s.write_port", hk), c->haproxy.listen_address.v,
				     &c->haproxy.write_port);
		if (c->haproxy.set && c->haproxy.read_port.set)
			add_endpoint(eps, &n, kf(v, "%s.read_port", hk), c->haproxy.listen_address.v,
				     &c->haproxy.read_port);
		if (c->haproxy.set && c->haproxy.stats_port.set)
			add_endpoint(eps, &n, kf(v, "%s.stats_port", hk), c->haproxy.listen_address.v,
				     &c->haproxy.stats_port);
	}
	qsort(eps, n, sizeof(Endpoint), endpoint_cmp);
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n && eps[j].port == eps[i].port; j++) {
			const Endpoint *a = &eps[i], *b = &eps[j];

			if (!addr_port_clash(a->addr, b->addr))
				continue;
			if (pos_before(b->pos, a->pos)) {
				const Endpoint *tmp = a;

				a = b;
				b = tmp;
			}
			if (strcmp(a->addr, b->addr) == 0)
				verr(v, b->pos, b->key, "give each server its own port",
				     "port %lld on \"%s\" is already used by %s%s", b->port, b->addr,
				     a->key, at_line(v, a->pos));
			else
				verr(v, b->pos, b->key, "give each server its own port",
				     "port %lld on \"%s\" is already used by %s on \"%s\"%s", b->port,
				     b->addr, a->key, a->addr, at_line(v, a->pos));
		}
	}
	free(eps);
}

typedef struct {
	const PgcCluster *c;
	const PgcNode *n;
	char *path;    /* normalised, malloc'd */
	size_t order;
} DirEntry;

/* path_cmp - strcmp with '/' before every other byte, so that the paths
 * below a directory sort right after it ("/a", "/a/b", "/a-b"). */
static int path_cmp(const char *a, const char *b)
{
	unsigned ka, kb;

	for (; *a != '\0' && *a == *b; a++, b++)
		;
	ka = *a == '/' ? 1 : *a == '\0' ? 0 : (unsigned)(unsigned char)*a + 1;
	kb = *b == '/' ? 1 : *b == '\0' ? 0 : (unsigned)(unsigned char)*b + 1;
	return ka < kb ? -1 : ka > kb;
}

static int dir_entry_cmp(const void *pa, const void *pb)
{
	const DirEntry *a = pa, *b = pb;
	int c = path_cmp(a->path, b->path);

	if (c != 0)
		return c;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* path_below - child is parent or lies below it; both normalised. */
static bool path_below(const char *parent, const char *child)
{
	size_t n = strlen(parent);

	if (strcmp(parent, "/") == 0)
		return child[0] == '/';
	return strncmp(parent, child, n) == 0 && (child[n] == '\0' || child[n] == '/');
}

static void report_data_dir(Val *v, const DirEntry *x, const DirEntry *y)
{
	const char *ykey;

	if (pos_before(y->n->data_dir.pos, x->n->data_dir.pos)) {
		const DirEntry *tmp = x;

		x = y;
		y = tmp;
	}
	ykey = kf(v, "clusters.%s.nodes.%s.data_dir", y->c->name, y->n->name);
	if (strcmp(x->path, y->path) == 0)
		verr(v, y->n->data_dir.pos, ykey, "give each node its own data directory",
		     "data directory \"%s\" is already used by clusters.%s.nodes.%s%s", y->n->data_dir.v,
		     x->c->name, x->n->name, at_line(v, x->n->data_dir.pos));
	else if (path_below(x->path, y->path))
		verr(v, y->n->data_dir.pos, ykey, "keep data directories side by side",
		     "data directory \"%s\" is inside the data directory \"%s\" of clusters.%s.nodes.%s%s",
		     y->n->data_dir.v, x->n->data_dir.v, x->c->name, x->n->name,
		     at_line(v, x->n->data_dir.pos));
	else
		verr(v, y->n->data_dir.pos, ykey, "keep data directories side by side",
		     "data directory \"%s\" contains the data directory \"%s\" of clusters.%s.nodes.%s%s",
		     y->n->data_dir.v, x->n->data_dir.v, x->c->name, x->n->name,
		     at_line(v, x->n->data_dir.pos));
}

/*
 * check_data_dirs - two nodes of one machine on the same data directory, or
 * one inside the other (component-wise: "/a/b" is inside "/a", "/a/bc" is
 * not). Sorted so that each directory is compared only with the paths
 * equal to it or below it, which follow it directly.
 */
static void check_data_dirs(Val *v)
{
	size_t i, j, n = 0, cap = 0;
	DirEntry *ds;

	for (i = 0; i < v->t->n_clusters; i++)
		cap += v->t->clusters[i].n_nodes;
	ds = calloc(cap + 1, sizeof(DirEntry));
	if (ds == NULL)
		abort();
	for (i = 0; i < v->t->n_clusters; i++) {
		const PgcCluster *c = &v->t->clusters[i];

		for (j = 0; j < c->n_nodes; j++) {
			if (c->nodes[j].data_dir.v == NULL)
				continue;
			ds[n].c = c;
			ds[n].n = &c->nodes[j];
			ds[n].path = fs_path_normalize(c->nodes[j].data_dir.v);
			ds[n].order = n;
			n++;
		}
	}
	qsort(ds, n, sizeof(DirEntry), dir_entry_cmp);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n && path_below(ds[i].path, ds[j].path); j++)
			if (same_machine(node_host(ds[i].n), node_host(ds[j].n)))
				report_data_dir(v, &ds[i], &ds[j]);
	for (i = 0; i < n; i++)
		free(ds[i].path);
	free(ds);
}

static void check_repositories(Val *v)
{
	size_t ci, cj, ni;

	for (ci = 0; ci < v->t->n_clusters; ci++) {
		const PgcCluster *c = &v->t->clusters[ci];
		const PgcStr *repo = &c->backup.repository;
		const char *rk = kf(v, "clusters.%s.backup.repository", c->name);

		if (!c->backup.set || !repo->set)
			continue;
		/* A restored cluster archiving into its source would mix two
		 * histories in one archive (the "expected empty archive" trap). */
		if (c->bootstrap.set && c->bootstrap.repository.set &&
		    (strcmp(repo->v, c->bootstrap.repository.v) == 0 ||
		     fs_path_is_inside(repo->v, c->bootstrap.repository.v) ||
		     fs_path_is_inside(c->bootstrap.repository.v, repo->v)))
			verr(v, repo->pos, rk, "give the restored cluster a repository of its own",
			     "repository \"%s\" overlaps the repository \"%s\" this cluster is restored from",
			     repo->v, c->bootstrap.repository.v);
		/* A clone or a restore of the node would copy or wipe the backups. */
		for (cj = 0; cj < v->t->n_clusters; cj++) {
			const PgcCluster *d = &v->t->clusters[cj];

			for (ni = 0; ni < d->n_nodes; ni++) {
				const PgcNode *n = &d->nodes[ni];

				if (n->data_dir.v == NULL)
					continue;
				if (strcmp(repo->v, n->data_dir.v) == 0 || fs_path_is_inside(n->data_dir.v, repo->v))
					verr(v, repo->pos, rk, "keep backups outside every data directory",
					     "repository \"%s\" is inside the data directory \"%s\" of "
					     "clusters.%s.nodes.%s", repo->v, n->data_dir.v, d->name, n->name);
				else if (fs_path_is_inside(repo->v, n->data_dir.v))
					verr(v, repo->pos, rk, "keep backups outside every data directory",
					     "repository \"%s\" contains the data directory \"%s\" of "
					     "clusters.%s.nodes.%s", repo->v, n->data_dir.v, d->name, n->name);
			}
		}
		/* Two clusters archiving into one repository would mix their WAL. */
		for (cj = 0; cj < ci; cj++) {
			const PgcCluster *d = &v->t->clusters[cj];
			const PgcStr *other = &d->backup.repository;
			const char *how;

			if (!d->backup.set || !other->set)
				continue;
			if (strcmp(repo->v, other->v) == 0)
				how = "is already";
			else if (fs_path_is_inside(other->v, repo->v))
				how = "is inside";
			else if (fs_path_is_inside(repo->v, other->v))
				how = "contains";
			else
				continue;
			verr(v, repo->pos, rk, "give each cluster its own repository",
			     "repository \"%s\" %s the repository \"%s\" of clusters.%s%s", repo->v,
			     how, other->v, d->name, at_line(v, other->pos));
		}
	}
}

/* ---- entry point --------------------------------------------------------- */

static void validate_cluster(Val *v, PgcCluster *c)
{
	PgcNode *primary = check_primary(v, c);

	check_replicate_from(v, c, primary);
	check_cycles(v, c, primary);
	check_synchronous(v, c, primary);
	check_regions(v, c);
	check_failover(v, c);
	check_maintenance(v, c);
	strmap_init(&v->roles, c->n_roles, false);
	for (size_t i = 0; i < c->n_roles; i++)
		strmap_put(&v->roles, c->roles[i].name, i);
	check_roles(v, c);
	check_databases(v, c);
	strmap_free(&v->roles);
	check_hba(v, c);
	check_secrets(v, c);
	check_backup(v, c);
	check_bootstrap(v, c);
	check_parameters(v, c, primary);
}

void topology_validate(PgcTopology *t, const PgcLoadOptions *opts, PgcDiagList *diags)
{
	PgcLoadOptions defaults = {0};
	Val v = {t, opts ? opts : &defaults, diags, t->file, {0}, SUGGEST_BUDGET};
	size_t i;

	for (i = 0; i < t->n_clusters; i++)
		validate_cluster(&v, &t->clusters[i]);
	check_ports(&v);
	check_data_dirs(&v);
	check_repositories(&v);
}
