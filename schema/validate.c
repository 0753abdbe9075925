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
 *
 * This file holds the entry point and the checks of nodes, replication,
 * policies, access rules, secrets and backup; roles and databases are in
 * validate_roles.c, parameters in validate_params.c, conflicts across the
 * topology in validate_conflicts.c, the shared reporting helpers in
 * validate_report.c.
 */
#include "schema/validate.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <arpa/inet.h>

#include "schema/strmap.h"
#include "schema/validate_conflicts.h"
#include "schema/validate_monitoring.h"
#include "schema/validate_params.h"
#include "schema/validate_report.h"
#include "schema/validate_roles.h"
#include "schema/validate_standby.h"

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
	const char *hint = val_did_you_mean(v, name, node_names(v, c), c->n_nodes);
	size_t i;

	for (i = 0; hint == NULL && i < v->t->n_clusters; i++) {
		const PgcCluster *o = &v->t->clusters[i];

		if (o != c && cluster_node(o, name) != NULL)
			hint = val_fmt(v, "\"%s\" is a node of cluster \"%s\": replication stays within a cluster",
				       name, o->name);
	}
	val_error(v, pos, key, hint, "unknown node \"%s\": expected one of %s", name,
		  val_quoted_list(v, node_names(v, c), c->n_nodes));
}

static PgcNode *check_primary(Val *v, PgcCluster *c)
{
	PgcNode *p;

	if (c->primary.v == NULL) {
		if (c->n_nodes > 1)
			val_error(v, c->pos, val_fmt(v, "clusters.%s", c->name),
				  val_fmt(v, "name the node that accepts writes, e.g. \"primary: %s\"", c->nodes[0].name),
				  "missing required key \"primary\": a cluster with more than one node needs it");
		return c->n_nodes == 1 ? &c->nodes[0] : NULL;
	}
	p = cluster_node(c, c->primary.v);
	if (p == NULL)
		report_unknown_node(v, c, c->primary.v, c->primary.pos, val_fmt(v, "clusters.%s.primary", c->name));
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
		const char *key = val_fmt(v, "clusters.%s.nodes.%s.replicate_from", c->name, n->name);

		if (!n->replicate_from.set)
			continue;
		if (n == primary)
			val_error(v, n->replicate_from.pos, key,
				  "remove replicate_from, or make another node the primary",
				  "the primary \"%s\" cannot replicate from another node", n->name);
		else if (strcmp(n->replicate_from.v, n->name) == 0)
			val_error(v, n->replicate_from.pos, key,
				  primary ? val_fmt(v, "remove it to replicate from the primary \"%s\"", primary->name) : NULL,
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
	val_error(v, start->replicate_from.pos,
		  val_fmt(v, "clusters.%s.nodes.%s.replicate_from", c->name, start->name),
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
		key = val_fmt(v, "clusters.%s.replication.synchronous.count", c->name);
		pos = r->synchronous.count.pos;
	} else {
		key = val_fmt(v, "clusters.%s.replication.synchronous", c->name);
		pos = val_pos_or(r->synchronous.pos, r->pos);
	}
	if (replicas == 0)
		val_error(v, pos, key, "commits would wait forever: add replicas, or set synchronous: off",
			  "synchronous replication waits for %lld standby%s, but cluster \"%s\" has no replica",
			  count, count == 1 ? "" : "s", c->name);
	else
		val_error(v, pos, key,
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
	const char *key = val_fmt(v, "clusters.%s.regions.min", c->name);
	const char *hint = "set \"region\" on the nodes, or lower regions.min";
	PgcPos pos = val_pos_or(c->regions.min.pos, c->regions.pos);

	/* A node without a region counts in none: the policy is about where
	 * nodes are, and an unknown place cannot add redundancy. */
	if (min <= 1 || (long long)n >= min)
		return;
	if (n == 0)
		val_error(v, pos, key, hint, "the policy needs nodes in at least %lld regions, but no node of "
			  "cluster \"%s\" has a region", min, c->name);
	else
		val_error(v, pos, key, hint, "the policy needs nodes in at least %lld regions, but the nodes of "
			  "cluster \"%s\" are in %zu: %s", min, c->name, n, val_quoted_list(v, regs, n));
}

static void check_failover(Val *v, PgcCluster *c)
{
	PgcFailover *f = &c->failover;
	const char *ck = val_fmt(v, "clusters.%s.failover", c->name);

	if (f->prefer_region.set) {
		const char **regs;
		size_t n = cluster_regions(v, c, &regs), i;

		for (i = 0; i < n && strcmp(regs[i], f->prefer_region.v) != 0; i++)
			;
		if (n == 0)
			val_error(v, f->prefer_region.pos, val_fmt(v, "%s.prefer_region", ck),
				  "set \"region\" on the nodes",
				  "unknown region \"%s\": no node of cluster \"%s\" has a region",
				  f->prefer_region.v, c->name);
		else if (i == n)
			val_error(v, f->prefer_region.pos, val_fmt(v, "%s.prefer_region", ck),
				  val_did_you_mean(v, f->prefer_region.v, regs, n),
				  "unknown region \"%s\": expected a region of the nodes of cluster \"%s\": %s",
				  f->prefer_region.v, c->name, val_quoted_list(v, regs, n));
	}
	if (f->mode == FAILOVER_AUTO && c->n_nodes == 1)
		val_warn(v, val_pos_or(f->mode_pos, f->pos), val_fmt(v, "%s.mode", ck), "add a replica to fail over to",
			 "automatic failover has nothing to promote: cluster \"%s\" has a single node", c->name);
	if (v->t->etcd.set && f->mode == FAILOVER_MANUAL && c->n_nodes > 1 && !c->standby_of.set)
		val_warn(v, val_pos_or(f->mode_pos, val_pos_or(f->pos, c->pos)), val_fmt(v, "%s.mode", ck),
			 "set failover.mode: auto to let the leader agent fail over, or off to say that "
			 "nothing does",
			 "cluster \"%s\" has no failover: with coordination.etcd only its leader agent "
			 "promotes (failover.mode auto), and pgconverge failover is refused", c->name);
	if (f->detect_after.set && f->detect_after.ms <= 0)
		val_error(v, f->detect_after.pos, val_fmt(v, "%s.detect_after", ck), NULL,
			  "expected a duration greater than zero, e.g. \"10s\"");
	if (f->probe_interval.set && f->probe_interval.ms <= 0)
		val_error(v, f->probe_interval.pos, val_fmt(v, "%s.probe_interval", ck), NULL,
			  "expected a duration greater than zero, e.g. \"1s\"");
	if (f->min_interval.set && f->min_interval.ms <= 0)
		val_error(v, f->min_interval.pos, val_fmt(v, "%s.min_interval", ck), NULL,
			  "expected a duration greater than zero, e.g. \"5min\"");
	if (f->detect_after.ms > 0 && f->probe_interval.ms > 0 &&
	    f->detect_after.ms < f->probe_interval.ms) {
		bool at_detect = f->detect_after.set;

		val_warn(v, at_detect ? f->detect_after.pos : val_pos_or(f->probe_interval.pos, f->pos),
			 val_fmt(v, "%s.%s", ck, at_detect ? "detect_after" : "probe_interval"),
			 "make detect_after a few probe intervals long",
			 "detect_after %s is shorter than probe_interval %s: a single failed probe would "
			 "declare the primary down",
			 val_duration(v, f->detect_after.ms), val_duration(v, f->probe_interval.ms));
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
	const char *ck = val_fmt(v, "clusters.%s.maintenance", c->name);
	static const char *const policies[] = {"never", "always", "window"};
	char err[512];

	if (m->restart == RESTART_WINDOW && !m->window.set)
		val_error(v, val_pos_or(m->restart_pos, m->pos), val_fmt(v, "%s.restart", ck),
			  "add e.g. window: \"Sun 02:00-04:00 UTC\"",
			  "restart policy \"window\" needs maintenance.window");
	if (!m->window.set)
		return;
	if (parse_window(m->window.v, v->opts->offline, m, v->t->arena, err, sizeof(err)) != 0)
		val_error(v, m->window.pos, val_fmt(v, "%s.window", ck), NULL, "invalid window \"%s\": %s",
			  m->window.v, err);
	else if (m->restart != RESTART_WINDOW)
		val_warn(v, m->window.pos, val_fmt(v, "%s.window", ck),
			 "set \"restart: window\" to restart only inside the window",
			 "the window has no effect: restart is \"%s\"", policies[m->restart]);
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
			val_error(v, r->address.pos, key, val_fmt(v, "write \"%s/%d\" for this address alone", a, v4 ? 32 : 128),
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
			val_error(v, r->address.pos, key, NULL,
				  "invalid address \"%s\": expected an address range such as 10.0.0.0/8, a host "
				  "name, all, samehost or samenet", a);
		return;
	}
	if ((size_t)(slash - a) >= sizeof(ip)) {
		val_error(v, r->address.pos, key, NULL, "invalid address \"%s\": expected an IP address before \"/\"", a);
		return;
	}
	memcpy(ip, a, (size_t)(slash - a));
	ip[slash - a] = '\0';
	v4 = inet_pton(AF_INET, ip, buf) == 1;
	v6 = inet_pton(AF_INET6, ip, buf) == 1;
	if (!v4 && !v6) {
		val_error(v, r->address.pos, key, NULL, "invalid address \"%s\": expected an IP address before \"/\"", a);
		return;
	}
	{
		const char *m = slash + 1;
		long bits;
		char *end;

		errno = 0;
		bits = isdigit((unsigned char)*m) ? strtol(m, &end, 10) : -1;
		if (bits < 0 || errno != 0 || *end != '\0' || bits > (v4 ? 32 : 128))
			val_error(v, r->address.pos, key, NULL, "invalid CIDR mask \"/%s\" in \"%s\": expected 0 to %d",
				  m, a, v4 ? 32 : 128);
	}
}

static void check_hba(Val *v, PgcCluster *c)
{
	size_t i;

	for (i = 0; i < c->n_hba; i++) {
		const PgcHbaRule *r = &c->hba[i];
		const char *rk = val_fmt(v, "clusters.%s.hba[%zu]", c->name, i);

		if (r->address.set)
			check_hba_address(v, r, val_fmt(v, "%s.address", rk));
		if (!r->type.set || !r->method.set)
			continue;
		if (strcmp(r->method.v, "cert") == 0 && strcmp(r->type.v, "hostssl") != 0)
			val_error(v, r->method.pos, val_fmt(v, "%s.method", rk), "use type hostssl with method cert",
				  "method \"cert\" needs type \"hostssl\", got \"%s\": client certificates exist "
				  "only on SSL connections", r->type.v);
		if (strcmp(r->method.v, "peer") == 0 && strcmp(r->type.v, "local") != 0)
			val_error(v, r->method.pos, val_fmt(v, "%s.method", rk),
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
	key = val_fmt(v, "%s.file", key);
	if (stat(s->ref, &st) != 0) {
		if (errno == ENOENT)
			val_warn(v, s->pos, key, "it must exist, with mode 600, wherever plan or apply runs",
				 "secret file \"%s\" does not exist on this machine", s->ref);
		else
			val_warn(v, s->pos, key, NULL, "cannot check secret file \"%s\": %s", s->ref,
				 strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		val_error(v, s->pos, key, NULL, "secret file \"%s\" is not a regular file", s->ref);
		return;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		val_error(v, s->pos, key, val_fmt(v, "chmod 600 %s", s->ref),
			  "secret file \"%s\" is %s by group or others (mode %04o): expected mode 600 or stricter",
			  s->ref, st.st_mode & (S_IRGRP | S_IROTH) ? "readable" : "accessible",
			  (unsigned)(st.st_mode & 07777));
}

static void check_secrets(Val *v, PgcCluster *c)
{
	size_t i;

	for (i = 0; i < c->n_roles; i++)
		check_secret(v, &c->roles[i].password,
			     val_fmt(v, "clusters.%s.roles.%s.password", c->name, c->roles[i].name));
	check_secret(v, &c->replication.password, val_fmt(v, "clusters.%s.replication.password", c->name));
	check_secret(v, &c->monitoring.datadog.password,
		     val_fmt(v, "clusters.%s.monitoring.datadog.password", c->name));
}

/* ---- monitoring.datadog ------------------------------------------------------- */

/*
 * check_datadog_standby - a standby cluster replays its source's catalog:
 * the Agent's login role, and Database Monitoring's objects, are the
 * source's (nothing is created on the standby, which refuses writes).
 */
static void check_datadog_standby(Val *v, const PgcCluster *c)
{
	const PgcCluster *src = c->standby_of.set ? topology_cluster(v->t, c->standby_of.v) : NULL;
	const char *user = c->monitoring.datadog.user.v;
	const PgcMonitoring *sm = src != NULL ? &src->monitoring : NULL;
	bool same_user = sm != NULL && sm->datadog.set && sm->datadog.user.v != NULL &&
			 strcmp(sm->datadog.user.v, user) == 0;
	bool declared = same_user;

	if (src == NULL)
		return;
	for (size_t i = 0; !declared && i < src->n_roles; i++)
		declared = strcmp(src->roles[i].name, user) == 0;
	if (!declared)
		val_warn(v, c->monitoring.datadog.pos, val_fmt(v, "clusters.%s.monitoring.datadog", c->name),
			 val_fmt(v, "declare monitoring.datadog with user %s on clusters.%s too", user,
				 src->name),
			 "standby cluster \"%s\" has its source's roles: role \"%s\" is created only if "
			 "its source \"%s\" declares it, else the Agent cannot log in",
			 c->name, user, src->name);
	if (c->monitoring.datadog.dbm.v && !(same_user && sm->datadog.dbm.v))
		val_warn(v, c->monitoring.datadog.dbm.pos,
			 val_fmt(v, "clusters.%s.monitoring.datadog.dbm", c->name),
			 val_fmt(v, "set monitoring.datadog.dbm: true with user %s on clusters.%s", user,
				 src->name),
			 "Database Monitoring's schema and explain function on standby cluster \"%s\" "
			 "come from its source \"%s\", which does not create them",
			 c->name, src->name);
}

static void check_datadog(Val *v, PgcCluster *c)
{
	const char *user = c->monitoring.datadog.user.v;
	const char *os_user = c->os_user.v ? c->os_user.v : "postgres";
	const char *key = val_fmt(v, "clusters.%s.monitoring.datadog.user", c->name);
	PgcPos pos = c->monitoring.datadog.user.set ? c->monitoring.datadog.user.pos
						    : c->monitoring.datadog.pos;

	if (!c->monitoring.datadog.set || user == NULL)
		return;
	/* The Agent's role gets its own password and pg_monitor: not a role that has another job. */
	if (strcmp(user, os_user) == 0 || strcmp(user, "postgres") == 0)
		val_error(v, pos, key, "use a role of its own, e.g. datadog",
			  "\"%s\" is the bootstrap superuser: the Datadog Agent needs a role of its own",
			  user);
	else if (c->replication.user.v != NULL && strcmp(user, c->replication.user.v) == 0)
		val_error(v, pos, key, "use a role of its own, e.g. datadog",
			  "\"%s\" is the replication user: the Datadog Agent needs a role of its own",
			  user);
	else if (strcmp(user, PGC_DATADOG_EXPLAIN_ROLE) == 0)
		val_error(v, pos, key, "use a role of its own, e.g. datadog",
			  "\"%s\" is the role that owns Database Monitoring's explain function",
			  user);
	if (c->monitoring.datadog.dbm.v) {
		for (size_t i = 0; i < c->n_roles; i++)
			if (strcmp(c->roles[i].name, PGC_DATADOG_EXPLAIN_ROLE) == 0)
				val_error(v, c->roles[i].pos,
					  val_fmt(v, "clusters.%s.roles.%s", c->name, c->roles[i].name),
					  "rename the role",
					  "\"%s\" is pgconverge's: with monitoring.datadog.dbm it owns "
					  "Database Monitoring's explain function, a member of "
					  "pg_read_all_data only",
					  c->roles[i].name);
	}
	check_datadog_standby(v, c);
	if (c->monitoring.datadog.dbm.v && !c->monitoring.pg_stat_statements.v)
		val_warn(v, c->monitoring.datadog.dbm.pos,
			 val_fmt(v, "clusters.%s.monitoring.datadog.dbm", c->name),
			 "set monitoring.pg_stat_statements: true",
			 "Database Monitoring reads pg_stat_statements, which is not preloaded "
			 "without monitoring.pg_stat_statements");
}

/* ---- poolers and balancers ------------------------------------------------ */

static void check_frontdoors(Val *v, PgcCluster *c)
{
	const PgcHaproxy *h = &c->haproxy;

	if (h->set && h->read_port.set && c->n_nodes < 2)
		val_warn(v, h->read_port.pos, val_fmt(v, "clusters.%s.balancer.haproxy.read_port", c->name),
			 "add a replica, or remove read_port",
			 "read_port sends reads to replicas, but cluster \"%s\" has none: reads go to the primary",
			 c->name);
	if (c->pgpool.set && c->pgpool.load_balance.set && c->pgpool.load_balance.v && c->n_nodes < 2)
		val_warn(v, c->pgpool.load_balance.pos,
			 val_fmt(v, "clusters.%s.balancer.pgpool.load_balance", c->name),
			 "add a replica, or remove load_balance",
			 "load_balance spreads reads over replicas, but cluster \"%s\" has none", c->name);
}

/* ---- backup and bootstrap ------------------------------------------------ */

static void check_every(Val *v, const PgcDuration *d, const char *key)
{
	if (d->set && d->ms <= 0)
		val_error(v, d->pos, key, NULL, "expected a duration greater than zero, e.g. \"24h\"");
}

static void check_backup(Val *v, PgcCluster *c)
{
	PgcBackup *b = &c->backup;
	const char *bk = val_fmt(v, "clusters.%s.backup", c->name);
	size_t i, j, nnames = c->n_databases;
	const char **names;

	if (!b->set)
		return;
	check_every(v, &b->base.every, val_fmt(v, "%s.base.every", bk));
	check_every(v, &b->logical.every, val_fmt(v, "%s.logical.every", bk));
	check_every(v, &b->verify.every, val_fmt(v, "%s.verify.every", bk));
	if (b->verify.set && !b->base.set)
		val_warn(v, b->verify.pos, val_fmt(v, "%s.verify", bk), "add backup.base: {every: 24h, keep: 7}",
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
		val_error(v, d->pos, val_fmt(v, "%s.logical.databases[%zu]", bk, i), val_did_you_mean(v, d->v, names, nnames),
			  "unknown database \"%s\": expected a database declared under clusters.%s.databases%s%s",
			  d->v, c->name, nnames ? ": " : " (none is)", nnames ? val_quoted_list(v, names, nnames) : "");
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
	const char *bk = val_fmt(v, "clusters.%s.bootstrap.from_backup", c->name);
	const char *p;

	if (!b->set)
		return;
	if (c->initdb.set)
		val_error(v, c->initdb.pos, val_fmt(v, "clusters.%s.initdb", c->name), "remove the initdb section",
			  "initdb and bootstrap.from_backup are exclusive: a restored cluster keeps the locale, "
			  "encoding and checksums of its backup");
	if (b->target_lsn.set && !valid_lsn(b->target_lsn.v))
		val_error(v, b->target_lsn.pos, val_fmt(v, "%s.target_lsn", bk), NULL,
			  "invalid LSN \"%s\": expected two hexadecimal numbers separated by \"/\", e.g. "
			  "\"0/3000060\"", b->target_lsn.v);
	if (b->target_xid.set) {
		for (p = b->target_xid.v; isdigit((unsigned char)*p); p++)
			;
		if (*p != '\0' || p == b->target_xid.v || strtoull(b->target_xid.v, NULL, 10) < 3)
			val_error(v, b->target_xid.pos, val_fmt(v, "%s.target_xid", bk), NULL,
				  "invalid transaction ID \"%s\": expected a number of at least 3 (the first "
				  "normal transaction ID)", b->target_xid.v);
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
	validate_roles(v, c);
	validate_databases(v, c);
	strmap_free(&v->roles);
	check_hba(v, c);
	check_secrets(v, c);
	check_backup(v, c);
	check_bootstrap(v, c);
	validate_standby(v, c);
	check_frontdoors(v, c);
	check_datadog(v, c);
	validate_monitoring(v, c);
	validate_parameters(v, c, primary);
}

void topology_validate(PgcTopology *t, const PgcLoadOptions *opts, PgcDiagList *diags)
{
	PgcLoadOptions defaults = {0};
	Val v = {t, opts ? opts : &defaults, diags, t->file, {0}, SUGGEST_BUDGET};
	size_t i;

	for (i = 0; i < t->n_clusters; i++)
		validate_cluster(&v, &t->clusters[i]);
	if (t->etcd.set)
		check_secret(&v, &t->etcd.password, "coordination.etcd.password");
	validate_ports(&v);
	validate_data_dirs(&v);
	validate_repositories(&v);
}
