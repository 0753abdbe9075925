/*
 * reconcile/observe/graph.c - the topology as a Graphviz DOT graph; see graph.h.
 */
#include "reconcile/observe/graph.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/arena.h"
#include "common/strutil.h"
#include "reconcile/observe/observe_pgpool.h"
#include "reconcile/observe/observe_haproxy.h"
#include "reconcile/observe/observe_pgbouncer.h"
#include "reconcile/pg/lsn.h"

/* Fill colours of the observed states. */
#define COLOR_RUNNING "#c8e6c9"
#define COLOR_LAGGING "#fff59d"
#define COLOR_ROLE "#ffcc80"
#define COLOR_DOWN "#ef9a9a"

/* Attr - one attribute of a statement; a NULL value leaves it out. */
typedef struct {
	const char *key;
	const char *value;
} Attr;

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
	FILE *out;
	PgcArena *a;
	const PgcTopology *t;
	const char *only_cluster;
	const PgcObserved *obs;
} Ctx;

/* put_quoted - s as a DOT quoted string (see graph.h for the escaping). */
static void put_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			fputc('\\', out);
			fputc(ch, out);
		} else if (ch == '\n') {
			fputs("\\n", out);
		} else if (ch < 0x20 || ch == 0x7f) {
			fputc(' ', out);
		} else {
			fputc(ch, out);
		}
	}
	fputc('"', out);
}

static void put_indent(FILE *out, int depth)
{
	while (depth-- > 0)
		fputc('\t', out);
}

/* put_attrs - " [k=\"v\", ...]" for the attributes that have a value; nothing when none do. */
static void put_attrs(FILE *out, const Attr *attrs, size_t n)
{
	bool first = true;
	size_t i;

	for (i = 0; i < n; i++) {
		if (attrs[i].value == NULL)
			continue;
		fputs(first ? " [" : ", ", out);
		fputs(attrs[i].key, out);
		fputc('=', out);
		put_quoted(out, attrs[i].value);
		first = false;
	}
	if (!first)
		fputc(']', out);
}

/* put_stmt - an attribute statement ("graph", "node", "edge") or a node statement. */
static void put_stmt(Ctx *x, int depth, const char *keyword, const char *id, const Attr *attrs,
		     size_t n)
{
	put_indent(x->out, depth);
	if (keyword != NULL)
		fputs(keyword, x->out);
	else
		put_quoted(x->out, id);
	put_attrs(x->out, attrs, n);
	fputs(";\n", x->out);
}

static void put_edge(Ctx *x, const char *from, const char *to, const Attr *attrs, size_t n)
{
	put_indent(x->out, 1);
	put_quoted(x->out, from);
	fputs(" -> ", x->out);
	put_quoted(x->out, to);
	put_attrs(x->out, attrs, n);
	fputs(";\n", x->out);
}

static void open_subgraph(Ctx *x, int depth, const char *id)
{
	put_indent(x->out, depth);
	fputs("subgraph ", x->out);
	put_quoted(x->out, id);
	fputs(" {\n", x->out);
}

static void close_block(Ctx *x, int depth)
{
	put_indent(x->out, depth);
	fputs("}\n", x->out);
}

/* ---- identifiers and label text ------------------------------------------ */

/*
 * txt - a name or value from the file (or a server) for a label: its
 * control characters made visible (str_text), so that only the label's own
 * line breaks break it.
 */
static const char *txt(Ctx *x, const char *s)
{
	return str_text(x->a, s);
}

static const char *node_id(Ctx *x, const PgcCluster *c, const PgcNode *n)
{
	return arena_printf(x->a, "%s/%s", c->name, n->name);
}

static const char *cluster_id(Ctx *x, const PgcCluster *c)
{
	return arena_printf(x->a, "cluster_%s", c->name);
}

static const char *repository_id(Ctx *x, const char *path)
{
	return arena_printf(x->a, "repository:%s", path);
}

/* fmt_duration - milliseconds in the largest unit that divides them exactly. */
static const char *fmt_duration(Ctx *x, int64_t ms)
{
	static const struct {
		const char *unit;
		int64_t factor;
	} units[] = {{"d", 86400000}, {"h", 3600000}, {"min", 60000}, {"s", 1000}};
	size_t i;

	for (i = 0; i < N_ELEMS(units); i++)
		if (ms != 0 && ms % units[i].factor == 0)
			return arena_printf(x->a, "%lld%s", (long long)(ms / units[i].factor),
					    units[i].unit);
	return arena_printf(x->a, "%lldms", (long long)ms);
}

/* fmt_bytes - "512 B", "8.5 kB", "12 MB": one decimal below 10 of a unit. */
static const char *fmt_bytes(Ctx *x, uint64_t bytes)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
	uint64_t div = 1;
	size_t u = 0;

	while (u + 1 < N_ELEMS(units) && bytes >= div * 1024) {
		div *= 1024;
		u++;
	}
	if (u > 0 && bytes / div < 10 && bytes % div != 0)
		return arena_printf(x->a, "%.1f %s", (double)bytes / (double)div, units[u]);
	return arena_printf(x->a, "%llu %s", (unsigned long long)(bytes / div), units[u]);
}

static bool is_primary(const PgcCluster *c, const PgcNode *n)
{
	return c->primary.v != NULL && strcmp(c->primary.v, n->name) == 0;
}

static const char *failover_name(PgcFailoverMode m)
{
	return m == FAILOVER_AUTO ? "auto" : m == FAILOVER_OFF ? "off" : "manual";
}

/* ---- observed state ------------------------------------------------------ */

typedef struct {
	const char *line;  /* the label line */
	const char *fill;  /* fill colour */
	bool down;
} LiveState;

/* live_primary_lsn - the current position of c's first live primary (not in recovery), 0 unknown. */
static uint64_t live_primary_lsn(Ctx *x, const PgcCluster *c)
{
	size_t i;

	for (i = 0; i < c->n_nodes; i++) {
		const PgcObsNode *o = observe_node_find(x->obs, c->name, c->nodes[i].name);

		if (o != NULL && o->reachable && !o->in_recovery)
			return lsn_value(o->current_lsn);
	}
	return 0;
}

/* live_cluster - c's observed cluster; NULL without --live. */
static const PgcObsCluster *live_cluster(Ctx *x, const PgcCluster *c)
{
	for (size_t i = 0; x->obs != NULL && i < x->obs->n_clusters; i++)
		if (strcmp(x->obs->clusters[i].name, c->name) == 0)
			return &x->obs->clusters[i];
	return NULL;
}

/* live_role - what the node is: "primary", "replica", or "in recovery" (an archive recovery). */
static const char *live_role(const PgcObsNode *o)
{
	if (!o->in_recovery)
		return "primary";
	return o->recovery_signal && !o->standby_signal ? "in recovery" : "replica";
}

/* live_state - how the observed node o of desired node n is drawn; false when not observed. */
static bool live_state(Ctx *x, const PgcCluster *c, const PgcNode *n, uint64_t primary_lsn,
		       LiveState *st)
{
	const PgcObsNode *o = x->obs ? observe_node_find(x->obs, c->name, n->name) : NULL;
	bool want_primary = is_primary(c, n);
	int64_t max_lag = c->failover.max_lag.set ? c->failover.max_lag.bytes : GRAPH_DEFAULT_LAG_BYTES;
	uint64_t replay;

	memset(st, 0, sizeof(*st));
	if (o == NULL)
		return false;
	if (!o->reachable) {
		st->line = o->postmaster_alive ? "unreachable" : "down";
		st->fill = COLOR_DOWN;
		st->down = true;
		return true;
	}
	if (want_primary == o->in_recovery) {
		st->line = arena_printf(x->a, "%s (desired: %s)", live_role(o),
					want_primary ? "primary" : "replica");
		st->fill = COLOR_ROLE;
		return true;
	}
	st->fill = COLOR_RUNNING;
	st->line = "running";
	if (want_primary)
		return true;
	if (o->wal_receiver_status == NULL || strcmp(o->wal_receiver_status, "streaming") != 0) {
		st->line = "not streaming";
		st->fill = COLOR_LAGGING;
		return true;
	}
	replay = lsn_value(o->replay_lsn);
	if (primary_lsn != 0 && replay != 0 && primary_lsn > replay &&
	    primary_lsn - replay > (uint64_t)max_lag) {
		st->line = arena_printf(x->a, "lag %s", fmt_bytes(x, primary_lsn - replay));
		st->fill = COLOR_LAGGING;
	}
	return true;
}

/* ---- clusters ------------------------------------------------------------ */

static void put_node(Ctx *x, int depth, const PgcCluster *c, const PgcNode *n, uint64_t primary_lsn)
{
	LiveState st;
	bool live = live_state(x, c, n, primary_lsn, &st);
	const char *label = arena_printf(x->a, "%s\n%s\n%s:%lld", txt(x, n->name),
					 is_primary(c, n) ? "primary" : "replica", txt(x, n->host.v),
					 n->port.v);
	Attr attrs[] = {
		{"label", live ? arena_printf(x->a, "%s\n%s", label, st.line) : label},
		{"penwidth", is_primary(c, n) ? "2" : NULL},
		{"fillcolor", live ? st.fill : NULL},
		{"style", live && st.down ? "rounded,filled,dashed" : NULL},
	};

	put_stmt(x, depth, NULL, node_id(x, c, n), attrs, N_ELEMS(attrs));
}

/* put_region - the region's box with its nodes, in topology order. */
static void put_region(Ctx *x, const PgcCluster *c, const char *region, uint64_t primary_lsn)
{
	Attr attrs[] = {
		{"label", arena_printf(x->a, "region %s", txt(x, region))},
		{"style", "dashed"},
	};
	size_t i;

	open_subgraph(x, 2, arena_printf(x->a, "cluster_%s/%s", c->name, region));
	put_stmt(x, 3, "graph", NULL, attrs, N_ELEMS(attrs));
	for (i = 0; i < c->n_nodes; i++)
		if (c->nodes[i].region.set && strcmp(c->nodes[i].region.v, region) == 0)
			put_node(x, 3, c, &c->nodes[i], primary_lsn);
	close_block(x, 2);
}

/* region_seen - true when a node before index i has region r (its box is drawn already). */
static bool region_seen(const PgcCluster *c, size_t i, const char *r)
{
	size_t k;

	for (k = 0; k < i; k++)
		if (c->nodes[k].region.set && strcmp(c->nodes[k].region.v, r) == 0)
			return true;
	return false;
}

static void put_pooler(Ctx *x, const PgcCluster *c)
{
	const PgcPgbouncer *p = &c->pgbouncer;
	const char *label = arena_printf(x->a, "pgbouncer\n%s:%lld\n%s pooling",
					 txt(x, p->listen_address.v), p->port.v, txt(x, p->pool_mode.v));
	const PgcObsPgbouncer *o = x->obs ? observe_pgbouncer_find(x->obs, c->name) : NULL;
	Attr attrs[] = {
		{"label", o ? arena_printf(x->a, "%s\n%s", label, txt(x, observe_pgbouncer_line(x->a, o)))
			    : label},
		{"shape", "component"},
		{"style", o && !o->alive ? "dashed" : NULL},
	};

	put_stmt(x, 2, NULL, arena_printf(x->a, "%s:pgbouncer", c->name), attrs, N_ELEMS(attrs));
}

/* obs_haproxy - c's observed HAProxy (graph --live), or NULL. */
static const PgcObsHaproxy *obs_haproxy(Ctx *x, const PgcCluster *c)
{
	for (size_t i = 0; x->obs != NULL && i < x->obs->n_clusters; i++)
		if (strcmp(x->obs->clusters[i].name, c->name) == 0)
			return x->obs->clusters[i].haproxy;
	return NULL;
}

static void put_balancer(Ctx *x, const PgcCluster *c)
{
	const PgcObsHaproxy *oh = obs_haproxy(x, c);
	const PgcHaproxy *h = &c->haproxy;
	const char *addr = txt(x, h->listen_address.v);
	const char *label = arena_printf(x->a, "haproxy\nwrite %s:%lld", addr, h->write_port.v);
	Attr attrs[2] = {{"label", NULL}, {"shape", "component"}};

	if (h->read_port.set)
		label = arena_printf(x->a, "%s\nread %s:%lld", label, addr, h->read_port.v);
	if (h->stats_port.set)
		label = arena_printf(x->a, "%s\nstats %s:%lld", label, addr, h->stats_port.v);
	if (oh != NULL && oh->looked)
		label = arena_printf(x->a, "%s\n%s", label,
				     !oh->alive ? "down" : oh->api ? "up" : "up, runtime API silent");
	attrs[0].value = label;
	put_stmt(x, 2, NULL, arena_printf(x->a, "%s:haproxy", c->name), attrs, N_ELEMS(attrs));
}

/* put_pgpool - Pgpool-II's box; with --live, whether it runs and the primary it sees. */
static void put_pgpool(Ctx *x, const PgcCluster *c)
{
	const PgcPgpool *p = &c->pgpool;
	const PgcObsCluster *oc = live_cluster(x, c);
	const PgcObsPgpool *pp = oc ? oc->pgpool : NULL;
	const char *label = arena_printf(x->a, "pgpool\n%s:%lld\nload balance %s",
					 txt(x, p->listen_address.v), p->port.v,
					 p->load_balance.v ? "on" : "off");
	Attr attrs[3] = {{"label", NULL}, {"shape", "component"}, {"fillcolor", NULL}};

	if (oc != NULL) {
		const char *primary = observe_pgpool_primary(c, pp);

		label = arena_printf(x->a, "%s\n%s", label,
				     pp == NULL || !pp->alive ? "down"
				     : primary != NULL	     ? arena_printf(x->a, "up, primary %s",
									    txt(x, primary))
							     : "up, no primary");
		attrs[2].value = pp != NULL && pp->alive && primary != NULL ? COLOR_RUNNING : COLOR_DOWN;
	}
	attrs[0].value = label;
	put_stmt(x, 2, NULL, arena_printf(x->a, "%s:pgpool", c->name), attrs, N_ELEMS(attrs));
}

static void put_cluster(Ctx *x, const PgcCluster *c)
{
	uint64_t primary_lsn = x->obs ? live_primary_lsn(x, c) : 0;
	Attr attrs[] = {
		{"label", arena_printf(x->a, "cluster %s\npostgres %lld, failover %s", txt(x, c->name),
				       c->pg_version.v, failover_name(c->failover.mode))},
		{"style", "rounded"},
	};
	size_t i;

	open_subgraph(x, 1, cluster_id(x, c));
	put_stmt(x, 2, "graph", NULL, attrs, N_ELEMS(attrs));
	for (i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];

		if (!n->region.set)
			put_node(x, 2, c, n, primary_lsn);
		else if (!region_seen(c, i, n->region.v))
			put_region(x, c, n->region.v, primary_lsn);
	}
	if (c->pgbouncer.set)
		put_pooler(x, c);
	if (c->haproxy.set)
		put_balancer(x, c);
	if (c->pgpool.set)
		put_pgpool(x, c);
	close_block(x, 1);
}

/* ---- edges --------------------------------------------------------------- */

/*
 * sync_label - the label of the stream to replica n when it is a
 * synchronous standby candidate, else NULL. As plan_conf.c's
 * synchronous_standby_names: on the desired primary, it lists the
 * primary's direct replicas in topology order (a cascading upstream's list
 * only counts once that node is promoted).
 */
static const char *sync_label(Ctx *x, const PgcCluster *c, const PgcNode *n)
{
	long long count = c->replication.synchronous.count.set ? c->replication.synchronous.count.v : 1;
	const PgcNode *up = cluster_upstream(c, n);
	long long priority = 0;
	size_t i;

	if (c->replication.synchronous.method == SYNC_OFF || up == NULL || !is_primary(c, up))
		return NULL;
	if (c->replication.synchronous.method == SYNC_ANY)
		return arena_printf(x->a, "sync (any %lld)", count);
	for (i = 0; i < c->n_nodes; i++) {
		const PgcNode *r = &c->nodes[i];

		if (cluster_upstream(c, r) == up)
			priority++;
		if (r == n)
			break;
	}
	return arena_printf(x->a, "%s (first %lld, priority %lld)",
			    priority <= count ? "sync" : "potential sync", count, priority);
}

static void put_replication_edges(Ctx *x, const PgcCluster *c)
{
	size_t i;

	for (i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];
		const PgcNode *up = cluster_upstream(c, n);
		const char *sync;

		if (up == NULL || up == n)
			continue;
		sync = sync_label(x, c, n);
		{
			Attr attrs[] = {
				{"label", sync},
				{"penwidth", sync ? "2" : NULL},
			};

			put_edge(x, node_id(x, c, up), node_id(x, c, n), attrs, N_ELEMS(attrs));
		}
	}
}

/*
 * put_pgpool_edges - writes to the primary, reads (load_balance) to the
 * replicas; with --live, as Pgpool-II sees them: writes to the primary it
 * shows, reads to the standbys it holds attached.
 */
static void put_pgpool_edges(Ctx *x, const PgcCluster *c, const PgcNode *primary)
{
	const char *id = arena_printf(x->a, "%s:pgpool", c->name);
	const PgcObsCluster *oc = live_cluster(x, c);
	const PgcObsPgpool *pp = oc ? oc->pgpool : NULL;
	Attr write[] = {{"label", "write"}};
	Attr read[] = {{"label", "read"}, {"style", "dashed"}};

	if (oc != NULL) {
		const char *seen = observe_pgpool_primary(c, pp);

		primary = seen != NULL ? cluster_node(c, seen) : NULL;
	}
	if (primary != NULL)
		put_edge(x, id, node_id(x, c, primary), write, N_ELEMS(write));
	for (size_t i = 0; c->pgpool.load_balance.v && i < c->n_nodes; i++)
		if (&c->nodes[i] != primary && (oc == NULL || observe_pgpool_attached(pp, i)))
			put_edge(x, id, node_id(x, c, &c->nodes[i]), read, N_ELEMS(read));
}

/*
 * put_live_balancer_edges - graph --live: HAProxy's edges as its runtime API
 * says (every server not in maintenance: write, read, or "read (backup)" for
 * the primary's pg_read backup; dashed when its health check fails). False
 * when HAProxy was not seen answering: the desired edges are drawn.
 */
static bool put_live_balancer_edges(Ctx *x, const PgcCluster *c, const char *haproxy)
{
	const PgcObsHaproxy *oh = obs_haproxy(x, c);

	if (oh == NULL || !oh->api)
		return false;
	for (size_t i = 0; i < oh->n_servers; i++) {
		const PgcObsHaproxyServer *s = &oh->servers[i];
		bool write = strcmp(s->backend, HAPROXY_WRITE_BACKEND) == 0;
		const char *suffix = strstr(s->server, HAPROXY_BACKUP_SUFFIX);
		const char *name = suffix ? arena_strndup(x->a, s->server, (size_t)(suffix - s->server))
					  : s->server;
		const PgcNode *n = cluster_node(c, name);
		Attr attrs[2] = {{"label", write ? "write" : suffix ? "read (backup)" : "read"},
				 {"style", !write || !s->up ? "dashed" : NULL}};

		if (s->maint || n == NULL)
			continue;
		if (!s->up)
			attrs[0].value = arena_printf(x->a, "%s (check down)", attrs[0].value);
		put_edge(x, haproxy, node_id(x, c, n), attrs, N_ELEMS(attrs));
	}
	return true;
}

/* pooler_target - the node the live pooler points at (--live), else primary. */
static const PgcNode *pooler_target(Ctx *x, const PgcCluster *c, const PgcNode *primary)
{
	const PgcObsPgbouncer *o = x->obs ? observe_pgbouncer_find(x->obs, c->name) : NULL;

	for (size_t i = 0; o != NULL && o->console && o->points_host != NULL && i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].host.v, o->points_host) == 0 && c->nodes[i].port.v == o->points_port)
			return &c->nodes[i];
	return primary;
}

static void put_front_edges(Ctx *x, const PgcCluster *c)
{
	const PgcNode *primary = c->primary.v ? cluster_node(c, c->primary.v) : NULL;
	const char *haproxy = arena_printf(x->a, "%s:haproxy", c->name);
	Attr pool[] = {{"label", "pool"}};
	Attr write[] = {{"label", "write"}};
	Attr read[] = {{"label", "read"}, {"style", "dashed"}};
	size_t i;

	if (primary == NULL)
		return;
	if (c->pgpool.set)
		put_pgpool_edges(x, c, primary);
	if (c->pgbouncer.set)
		put_edge(x, arena_printf(x->a, "%s:pgbouncer", c->name),
			 node_id(x, c, pooler_target(x, c, primary)), pool, N_ELEMS(pool));
	if (!c->haproxy.set)
		return;
	if (put_live_balancer_edges(x, c, haproxy))
		return;
	put_edge(x, haproxy, node_id(x, c, primary), write, N_ELEMS(write));
	for (i = 0; c->haproxy.read_port.set && i < c->n_nodes; i++)
		if (&c->nodes[i] != primary)
			put_edge(x, haproxy, node_id(x, c, &c->nodes[i]), read, N_ELEMS(read));
}

/* add_line - s with one more label line (s NULL: the first). */
static const char *add_line(Ctx *x, const char *s, const char *line)
{
	return s ? arena_printf(x->a, "%s\n%s", s, line) : line;
}

/* backup_label - the cluster's backup schedule, one line per kind. */
static const char *backup_label(Ctx *x, const PgcCluster *c)
{
	const PgcBackup *b = &c->backup;
	const char *s = NULL;

	if (b->base.every.set)
		s = add_line(x, s, arena_printf(x->a, "base every %s, keep %lld",
						 fmt_duration(x, b->base.every.ms), b->base.keep.v));
	if (b->logical.every.set)
		s = add_line(x, s, arena_printf(x->a, "logical every %s, keep %lld",
						 fmt_duration(x, b->logical.every.ms), b->logical.keep.v));
	if (b->wal_archive.v)
		s = add_line(x, s, "WAL archive");
	if (b->verify.every.set)
		s = add_line(x, s, arena_printf(x->a, "restore drill every %s",
						 fmt_duration(x, b->verify.every.ms)));
	return s ? s : "backups";
}

static const char *restore_label(Ctx *x, const PgcBootstrap *b)
{
	if (b->target_time.set)
		return arena_printf(x->a, "restore to %s", txt(x, b->target_time.v));
	if (b->target_lsn.set)
		return arena_printf(x->a, "restore to lsn %s", txt(x, b->target_lsn.v));
	if (b->target_name.set)
		return arena_printf(x->a, "restore to restore point %s", txt(x, b->target_name.v));
	if (b->target_xid.set)
		return arena_printf(x->a, "restore to xid %s", txt(x, b->target_xid.v));
	if (b->immediate.set && b->immediate.v)
		return "restore to consistency";
	return "restore to the end of the archive";
}

static void put_backup_edges(Ctx *x, const PgcCluster *c)
{
	const PgcNode *primary = c->primary.v ? cluster_node(c, c->primary.v) : NULL;

	if (c->backup.set && c->n_nodes > 0) {
		/* From the box: a backup comes from any healthy node, not one node. */
		Attr attrs[] = {
			{"label", backup_label(x, c)},
			{"ltail", cluster_id(x, c)},
		};

		put_edge(x, node_id(x, c, &c->nodes[0]), repository_id(x, c->backup.repository.v), attrs,
			 N_ELEMS(attrs));
	}
	if (c->bootstrap.set && primary != NULL) {
		Attr attrs[] = {
			{"label", restore_label(x, &c->bootstrap)},
			{"style", "dashed"},
		};

		put_edge(x, repository_id(x, c->bootstrap.repository.v), node_id(x, c, primary), attrs,
			 N_ELEMS(attrs));
	}
}

/* ---- the graph ----------------------------------------------------------- */

static bool selected(Ctx *x, const PgcCluster *c)
{
	return x->only_cluster == NULL || strcmp(x->only_cluster, c->name) == 0;
}

/* repository_seen - true when path is drawn already: by a selected cluster before index ci, or
 * by cluster ci's own backup (asked for its bootstrap source). */
static bool repository_seen(Ctx *x, size_t ci, bool bootstrap, const char *path)
{
	size_t k;

	for (k = 0; k <= ci; k++) {
		const PgcCluster *c = &x->t->clusters[k];

		if (!selected(x, c))
			continue;
		if (c->backup.set && (k < ci || bootstrap) && strcmp(c->backup.repository.v, path) == 0)
			return true;
		if (k < ci && c->bootstrap.set && strcmp(c->bootstrap.repository.v, path) == 0)
			return true;
	}
	return false;
}

static void put_repository(Ctx *x, const char *path)
{
	Attr attrs[] = {
		{"label", arena_printf(x->a, "backup repository\n%s", txt(x, path))},
		{"shape", "cylinder"},
	};

	put_stmt(x, 1, NULL, repository_id(x, path), attrs, N_ELEMS(attrs));
}

/*
 * put_standby_edge - the one stream that crosses into a standby cluster:
 * from its source's primary (with --live, the source node its leader
 * streams from) to its primary, the standby leader; dashed, labelled
 * "standby of SOURCE" and, with --live, the leader's lag behind the
 * source's write position (its leader's replay position when the source
 * is a standby cluster too).
 */
static void put_standby_edge(Ctx *x, const PgcCluster *c)
{
	const PgcCluster *src = topology_cluster(x->t, c->standby_of.v);
	const PgcNode *from, *leader = cluster_node(c, c->primary.v);
	const PgcObsNode *lo = x->obs ? observe_node_find(x->obs, c->name, c->primary.v) : NULL;
	const char *label = arena_printf(x->a, "standby of %s", c->standby_of.v);

	if (src == NULL || leader == NULL || (from = cluster_node(src, src->primary.v)) == NULL)
		return;
	for (size_t i = 0; lo != NULL && lo->upstream_host != NULL && i < src->n_nodes; i++)
		if (strcmp(src->nodes[i].host.v, lo->upstream_host) == 0 &&
		    src->nodes[i].port.v == lo->upstream_port)
			from = &src->nodes[i];
	if (lo != NULL && lo->reachable && lo->in_recovery) {
		uint64_t head = live_primary_lsn(x, src), replay = lsn_value(lo->replay_lsn);
		const PgcObsNode *so = observe_node_find(x->obs, src->name, src->primary.v);

		if (head == 0 && so != NULL && so->reachable)
			head = lsn_value(so->replay_lsn);
		if (head != 0 && replay != 0)
			label = arena_printf(x->a, "%s\nlag %s%s", label,
					     fmt_bytes(x, head > replay ? head - replay : 0),
					     lo->replay_delay_s >= 0
						 ? arena_printf(x->a, ", %.1f s", lo->replay_delay_s) : "");
	}
	{
		Attr attrs[] = {{"label", label}, {"style", "dashed"}, {"penwidth", "2"}};

		put_edge(x, node_id(x, src, from), node_id(x, c, leader), attrs, N_ELEMS(attrs));
	}
}

static void put_graph(Ctx *x)
{
	const char *label = x->t->file ? txt(x, x->t->file) : "topology";
	Attr graph[] = {
		{"label", x->obs && x->obs->observed_at
				  ? arena_printf(x->a, "%s\nobserved %s", label, x->obs->observed_at)
				  : label},
		{"labelloc", "t"},
		{"fontname", "Helvetica"},
		{"compound", "true"},
	};
	Attr node[] = {
		{"fontname", "Helvetica"},
		{"shape", "box"},
		{"style", "rounded,filled"},
		{"fillcolor", "white"},
	};
	Attr edge[] = {
		{"fontname", "Helvetica"},
		{"fontsize", "10"},
	};
	size_t i;

	fputs("digraph \"pgconverge\" {\n", x->out);
	put_stmt(x, 1, "graph", NULL, graph, N_ELEMS(graph));
	put_stmt(x, 1, "node", NULL, node, N_ELEMS(node));
	put_stmt(x, 1, "edge", NULL, edge, N_ELEMS(edge));
	for (i = 0; i < x->t->n_clusters; i++)
		if (selected(x, &x->t->clusters[i]))
			put_cluster(x, &x->t->clusters[i]);
	for (i = 0; i < x->t->n_clusters; i++) {
		const PgcCluster *c = &x->t->clusters[i];

		if (!selected(x, c))
			continue;
		if (c->backup.set && !repository_seen(x, i, false, c->backup.repository.v))
			put_repository(x, c->backup.repository.v);
		if (c->bootstrap.set && !repository_seen(x, i, true, c->bootstrap.repository.v))
			put_repository(x, c->bootstrap.repository.v);
	}
	for (i = 0; i < x->t->n_clusters; i++) {
		const PgcCluster *c = &x->t->clusters[i];

		if (!selected(x, c))
			continue;
		put_replication_edges(x, c);
		if (c->standby_of.set && selected(x, topology_cluster(x->t, c->standby_of.v) ?
						      topology_cluster(x->t, c->standby_of.v) : c))
			put_standby_edge(x, c);
		put_front_edges(x, c);
		put_backup_edges(x, c);
	}
	fputs("}\n", x->out);
}

int graph_render(FILE *out, const PgcTopology *t, const char *only_cluster,
		 const PgcObserved *obs)
{
	Ctx x = {.out = out, .a = arena_new(), .t = t, .only_cluster = only_cluster, .obs = obs};

	put_graph(&x);
	arena_free(x.a);
	return ferror(out) ? -1 : 0;
}
