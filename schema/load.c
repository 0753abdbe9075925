/*
 * schema/load.c - YAML topology file -> PgcTopology.
 *
 * The document is built from libyaml's parser events (see load_compose.c:
 * aliases resolved to shared nodes, every node with its start mark, too deep
 * nesting and NUL bytes refused as they are read); this file walks it with
 * one table of fields per section (the machinery is in load_fields.c, the
 * hba section in load_hba.c), checking structure and types, filling
 * defaults and keeping the position of every value. Semantic checks (references, conflicts,
 * policies, parameters) are in validate.c and run only on a structurally
 * sound file, so a reader gets structure errors first and never a cascade
 * of follow-on errors.
 */
#include "schema/topology.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/fsutil.h"
#include "common/strutil.h"
#include "schema/load_compose.h"
#include "schema/load_coord.h"
#include "schema/load_fields.h"
#include "schema/load_hba.h"
#include "schema/strmap.h"
#include "schema/validate.h"

/* ---- settings ---------------------------------------------------------- */

static void parse_settings(Ctx *c, Entry *e, const char *path, PgcSettings *out)
{
	Map m;
	size_t i, j;
	PgcStrMap names; /* PostgreSQL parameter names are case-insensitive */
	const size_t *dup;

	if (!load_get_map(c, e->val, path, &m))
		return;
	out->items = arena_calloc(c->a, m.n + 1, sizeof(PgcSetting));
	out->pos = m.pos;
	strmap_init(&names, m.n, true);
	for (i = 0; i < m.n; i++) {
		Entry *s = &m.e[i];
		const char *spath = load_join(c, path, s->key);
		YType t = load_ytype(s->val);

		dup = strmap_get(&names, s->key);
		if (dup != NULL) {
			j = *dup;
			ERR(c, s->key_pos, spath,
			    arena_printf(c->a, "first set at line %d, column %d as \"%s\"",
					 out->items[j].key_pos.line, out->items[j].key_pos.col, out->items[j].name),
			    "parameter \"%s\" is set twice", s->key);
			continue;
		}
		if (t == Y_NULL || t == Y_MAP || t == Y_SEQ) {
			ERR(c, load_node_pos(s->val), spath, "quote the value, e.g. '' for an empty string",
			    "expected a string, a number or a boolean, got %s", load_ytype_name(t));
			continue;
		}
		out->items[out->n].name = s->key;
		out->items[out->n].value = arena_strdup(c->a, load_scalar_text(s->val));
		out->items[out->n].key_pos = s->key_pos;
		out->items[out->n].pos = load_node_pos(s->val);
		strmap_put(&names, s->key, out->n);
		out->n++;
	}
	strmap_free(&names);
}

static void fn_cluster_settings(Ctx *c, Entry *e, const char *path, void *base)
{
	parse_settings(c, e, path, &((PgcCluster *)base)->settings);
}

static void fn_node_settings(Ctx *c, Entry *e, const char *path, void *base)
{
	parse_settings(c, e, path, &((PgcNode *)base)->settings);
}

/* ---- nodes ------------------------------------------------------------- */

static const Field node_fields[] = {
	FLD("host", PgcNode, F_HOST, host),
	FLD_INT_REQ("port", PgcNode, port, 1, 65535),
	FLD_REQ("data_dir", PgcNode, F_PATH, data_dir),
	FLD("region", PgcNode, F_NAME, region),
	FLD("replicate_from", PgcNode, F_STR, replicate_from),
	FLD_FN("settings", fn_node_settings),
	FLD_END,
};

static void fn_nodes(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	Map m;
	size_t i;

	if (!load_get_map(c, e->val, path, &m))
		return;
	cl->nodes_pos = m.pos;
	if (m.n == 0) {
		ERR(c, m.pos, path, NULL, "a cluster needs at least one node");
		return;
	}
	cl->nodes = arena_calloc(c->a, m.n, sizeof(PgcNode));
	for (i = 0; i < m.n; i++) {
		PgcNode *n = &cl->nodes[cl->n_nodes];
		const char *npath = load_join(c, path, m.e[i].key);

		if (!load_check_name(c, m.e[i].key, m.e[i].key_pos, npath, "node"))
			continue;
		n->name = m.e[i].key;
		n->pos = m.e[i].key_pos;
		if (load_fields(c, m.e[i].val, npath, node_fields, n, NULL))
			cl->n_nodes++;
	}
}

/* ---- roles, databases -------------------------------------------------- */

static const Field role_fields[] = {
	FLD("login", PgcRole, F_BOOL, login),
	FLD("superuser", PgcRole, F_BOOL, superuser),
	FLD("createdb", PgcRole, F_BOOL, createdb),
	FLD("createrole", PgcRole, F_BOOL, createrole),
	FLD("replication", PgcRole, F_BOOL, replication),
	FLD("bypassrls", PgcRole, F_BOOL, bypassrls),
	FLD_INT("connection_limit", PgcRole, connection_limit, -1, INT_MAX),
	FLD("password", PgcRole, F_SECRET, password),
	FLD("member_of", PgcRole, F_NAMELIST, member_of),
	FLD_END,
};

static const Field database_fields[] = {
	FLD("owner", PgcDatabase, F_NAME, owner),
	FLD("extensions", PgcDatabase, F_STRLIST, extensions),
	FLD_END,
};

static void fn_roles(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	Map m;
	size_t i;

	if (!load_get_map(c, e->val, path, &m))
		return;
	cl->roles = arena_calloc(c->a, m.n + 1, sizeof(PgcRole));
	for (i = 0; i < m.n; i++) {
		PgcRole *r = &cl->roles[cl->n_roles];
		const char *rpath = load_join(c, path, m.e[i].key);

		if (!load_check_name(c, m.e[i].key, m.e[i].key_pos, rpath, "role"))
			continue;
		r->name = m.e[i].key;
		r->pos = m.e[i].key_pos;
		r->connection_limit.v = -1;
		/* An empty role ("app: {}" or "app:") is a role with defaults. */
		if (load_ytype(m.e[i].val) != Y_NULL && !load_fields(c, m.e[i].val, rpath, role_fields, r, NULL))
			continue;
		cl->n_roles++;
	}
}

static void fn_databases(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	Map m;
	size_t i;

	if (!load_get_map(c, e->val, path, &m))
		return;
	cl->databases = arena_calloc(c->a, m.n + 1, sizeof(PgcDatabase));
	for (i = 0; i < m.n; i++) {
		PgcDatabase *d = &cl->databases[cl->n_databases];
		const char *dpath = load_join(c, path, m.e[i].key);

		if (!load_check_name(c, m.e[i].key, m.e[i].key_pos, dpath, "database"))
			continue;
		d->name = m.e[i].key;
		d->pos = m.e[i].key_pos;
		if (load_ytype(m.e[i].val) != Y_NULL &&
		    !load_fields(c, m.e[i].val, dpath, database_fields, d, NULL))
			continue;
		cl->n_databases++;
	}
}

/* ---- replication ------------------------------------------------------- */

static const char *const sync_methods[] = {"off", "any", "first", NULL};

static void fn_synchronous(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcReplication *r = base;
	Map m;
	Entry *me, *ce;

	r->synchronous.pos = load_node_pos(e->val);
	r->synchronous.set = true;
	if (e->val->type == YAML_SCALAR_NODE && strcmp(load_scalar_text(e->val), "off") == 0) {
		r->synchronous.method = SYNC_OFF;
		return;
	}
	if (e->val->type != YAML_MAPPING_NODE) {
		ERR(c, load_node_pos(e->val), path, "e.g. synchronous: {method: any, count: 1}",
		    "expected \"off\" or a mapping with method and count, got %s%s%s%s",
		    load_ytype_name(load_ytype(e->val)), e->val->type == YAML_SCALAR_NODE ? " \"" : "",
		    e->val->type == YAML_SCALAR_NODE ? load_scalar_text(e->val) : "",
		    e->val->type == YAML_SCALAR_NODE ? "\"" : "");
		return;
	}
	{
		static const Field sync_fields[] = {
			{"method", F_ENUM, offsetof(PgcReplication, synchronous.method), 0, 0, sync_methods,
			 offsetof(PgcReplication, synchronous.pos), NULL, true},
			{"count", F_INT, offsetof(PgcReplication, synchronous.count), 1, 1000, NULL, 0, NULL,
			 false},
			FLD_END,
		};

		if (!load_fields(c, e->val, path, sync_fields, r, &m))
			return;
	}
	me = load_map_get(&m, "method");
	ce = load_map_get(&m, "count");
	if (me != NULL)
		r->synchronous.pos = load_node_pos(me->val);
	if (r->synchronous.method != SYNC_OFF && !r->synchronous.count.set)
		r->synchronous.count.v = 1;
	if (r->synchronous.method == SYNC_OFF && ce != NULL)
		ERR(c, load_node_pos(ce->val), load_join(c, path, "count"), "remove count or choose method any or first",
		    "count has no meaning with method \"off\"");
}

static const Field replication_fields[] = {
	FLD("user", PgcReplication, F_NAME, user),
	FLD("password", PgcReplication, F_SECRET, password),
	FLD("slots", PgcReplication, F_BOOL, slots),
	FLD_FN("synchronous", fn_synchronous),
	FLD_END,
};

static void fn_replication(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;

	cl->replication.pos = load_node_pos(e->val);
	load_fields(c, e->val, path, replication_fields, &cl->replication, NULL);
}

/* ---- policies ---------------------------------------------------------- */

static void fn_regions(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	static const Field f[] = {
		{"min", F_INT, offsetof(PgcCluster, regions.min), 1, 100, NULL, 0, NULL, true},
		FLD_END,
	};

	cl->regions.pos = load_node_pos(e->val);
	cl->regions.set = true;
	load_fields(c, e->val, path, f, cl, NULL);
}

static const char *const failover_modes[] = {"manual", "auto", "off", NULL};
static const char *const failback_modes[] = {"manual", "auto", NULL};

typedef struct {
	int failback;
	PgcPos failback_pos;
} FailbackTmp;

static void fn_failback(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcFailover *f = base;
	FailbackTmp tmp = {0, {0, 0}};
	static const Field fld = {"failback", F_ENUM, offsetof(FailbackTmp, failback), 0, 0, failback_modes,
				  offsetof(FailbackTmp, failback_pos), NULL, false};

	load_parse_enum_field(c, e, path, &fld, &tmp);
	f->failback_auto = tmp.failback == 1;
	f->failback_pos = tmp.failback_pos;
}

static const Field failover_fields[] = {
	FLD_ENUM("mode", PgcFailover, mode, failover_modes, mode_pos),
	FLD("detect_after", PgcFailover, F_DUR, detect_after),
	FLD("probe_interval", PgcFailover, F_DUR, probe_interval),
	FLD_FN("failback", fn_failback),
	FLD("prefer_region", PgcFailover, F_NAME, prefer_region),
	FLD("max_lag", PgcFailover, F_SIZE, max_lag),
	FLD("fence_command", PgcFailover, F_STRLIST, fence_command),
	FLD("min_interval", PgcFailover, F_DUR, min_interval),
	FLD_END,
};

static void fn_failover(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;

	cl->failover.pos = load_node_pos(e->val);
	cl->failover.set = true;
	load_fields(c, e->val, path, failover_fields, &cl->failover, NULL);
	if (cl->failover.fence_command.set && cl->failover.fence_command.n == 0)
		ERR(c, cl->failover.fence_command.pos, load_join(c, path, "fence_command"),
		    "e.g. fence_command: [/usr/local/bin/fence, --node]",
		    "expected a program and its arguments, got an empty list");
}

static const char *const restart_policies[] = {"never", "always", "window", NULL};

static const Field maintenance_fields[] = {
	FLD_ENUM("restart", PgcMaintenance, restart, restart_policies, restart_pos),
	FLD("window", PgcMaintenance, F_STR, window),
	FLD_END,
};

static void fn_maintenance(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;

	cl->maintenance.pos = load_node_pos(e->val);
	load_fields(c, e->val, path, maintenance_fields, &cl->maintenance, NULL);
}

/* ---- backup, bootstrap -------------------------------------------------- */

static const char *const compressions[] = {"none", "gzip", "zstd", NULL};

static void fn_backup_base(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcBackup *b = base;
	static const Field f[] = {
		{"every", F_DUR, offsetof(PgcBackup, base.every), 0, 0, NULL, 0, NULL, false},
		{"keep", F_INT, offsetof(PgcBackup, base.keep), 1, 10000, NULL, 0, NULL, false},
		FLD_END,
	};

	b->base.pos = load_node_pos(e->val);
	b->base.set = true;
	load_fields(c, e->val, path, f, b, NULL);
}

static void fn_backup_logical(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcBackup *b = base;
	static const Field f[] = {
		{"every", F_DUR, offsetof(PgcBackup, logical.every), 0, 0, NULL, 0, NULL, false},
		{"keep", F_INT, offsetof(PgcBackup, logical.keep), 1, 10000, NULL, 0, NULL, false},
		{"databases", F_NAMELIST, offsetof(PgcBackup, logical.databases), 0, 0, NULL, 0, NULL, false},
		FLD_END,
	};

	b->logical.pos = load_node_pos(e->val);
	b->logical.set = true;
	load_fields(c, e->val, path, f, b, NULL);
}

static void fn_backup_verify(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcBackup *b = base;
	static const Field f[] = {
		{"every", F_DUR, offsetof(PgcBackup, verify.every), 0, 0, NULL, 0, NULL, true},
		{"query", F_STR, offsetof(PgcBackup, verify.query), 0, 0, NULL, 0, NULL, false},
		FLD_END,
	};

	b->verify.pos = load_node_pos(e->val);
	b->verify.set = true;
	load_fields(c, e->val, path, f, b, NULL);
}

static const Field backup_fields[] = {
	FLD_REQ("repository", PgcBackup, F_PATH, repository),
	FLD("wal_archive", PgcBackup, F_BOOL, wal_archive),
	FLD_ENUM("compression", PgcBackup, compression, compressions, compression_pos),
	FLD_FN("base", fn_backup_base),
	FLD_FN("logical", fn_backup_logical),
	FLD_FN("verify", fn_backup_verify),
	FLD_END,
};

static void fn_backup(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;

	cl->backup.pos = load_node_pos(e->val);
	cl->backup.set = true;
	load_fields(c, e->val, path, backup_fields, &cl->backup, NULL);
}

static const Field from_backup_fields[] = {
	FLD_REQ("repository", PgcBootstrap, F_PATH, repository),
	FLD("target_time", PgcBootstrap, F_STR, target_time),
	FLD("target_lsn", PgcBootstrap, F_STR, target_lsn),
	FLD("target_name", PgcBootstrap, F_STR, target_name),
	FLD("target_xid", PgcBootstrap, F_SCALAR, target_xid),
	FLD("immediate", PgcBootstrap, F_BOOL, immediate),
	FLD("target_action", PgcBootstrap, F_STR, target_action),
	FLD_END,
};

static void fn_from_backup(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcBootstrap *b = base;
	static const char *const actions[] = {"promote", "pause", NULL};
	const PgcStr *targets[4];
	size_t i, n = 0;

	b->pos = load_node_pos(e->val);
	b->set = true;
	if (!load_fields(c, e->val, path, from_backup_fields, b, NULL))
		return;
	load_check_word(c, &b->target_action, load_join(c, path, "target_action"), actions);
	targets[0] = &b->target_time;
	targets[1] = &b->target_lsn;
	targets[2] = &b->target_name;
	targets[3] = &b->target_xid;
	for (i = 0; i < 4; i++)
		n += targets[i]->set;
	n += b->immediate.set && b->immediate.v;
	if (n > 1)
		ERR(c, b->pos, path, "keep one of target_time, target_lsn, target_name, target_xid, immediate",
		    "more than one recovery target given");
}

static void fn_bootstrap(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	static const Field f[] = {
		FLD_FN("from_backup", fn_from_backup),
		FLD_END,
	};
	Map m;

	cl->bootstrap.pos = load_node_pos(e->val);
	if (!load_fields(c, e->val, path, f, &cl->bootstrap, &m))
		return;
	if (load_map_get(&m, "from_backup") == NULL)
		ERR(c, m.pos, path, NULL, "missing required key \"from_backup\"");
}

/* ---- pooler, balancer, monitoring, postgres, initdb --------------------- */

static const char *const pool_modes[] = {"session", "transaction", "statement", NULL};

static const Field pgbouncer_fields[] = {
	FLD_INT_REQ("port", PgcPgbouncer, port, 1, 65535),
	FLD("listen_address", PgcPgbouncer, F_HOST, listen_address),
	FLD("pool_mode", PgcPgbouncer, F_STR, pool_mode),
	FLD_INT("max_client_conn", PgcPgbouncer, max_client_conn, 1, 1000000),
	FLD_INT("default_pool_size", PgcPgbouncer, default_pool_size, 1, 100000),
	FLD("dir", PgcPgbouncer, F_PATH, dir),
	FLD("pause_timeout", PgcPgbouncer, F_DUR, pause_timeout),
	FLD_END,
};

static void fn_pgbouncer(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcPgbouncer *p = base;

	p->pos = load_node_pos(e->val);
	p->set = true;
	if (load_fields(c, e->val, path, pgbouncer_fields, p, NULL))
		load_check_word(c, &p->pool_mode, load_join(c, path, "pool_mode"), pool_modes);
}

static void fn_pooler(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	static const Field f[] = {
		FLD_FN("pgbouncer", fn_pgbouncer),
		FLD_END,
	};

	cl->pooler_pos = load_node_pos(e->val);
	load_fields(c, e->val, path, f, &cl->pgbouncer, NULL);
}

static const Field haproxy_fields[] = {
	FLD_INT_REQ("write_port", PgcHaproxy, write_port, 1, 65535),
	FLD_INT("read_port", PgcHaproxy, read_port, 1, 65535),
	FLD_INT("stats_port", PgcHaproxy, stats_port, 1, 65535),
	FLD("listen_address", PgcHaproxy, F_HOST, listen_address),
	FLD("max_lag", PgcHaproxy, F_SIZE, max_lag),
	FLD("dir", PgcHaproxy, F_PATH, dir),
	FLD_END,
};

static void fn_haproxy(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcHaproxy *h = &((PgcCluster *)base)->haproxy;

	h->pos = load_node_pos(e->val);
	h->set = true;
	load_fields(c, e->val, path, haproxy_fields, h, NULL);
}

static const Field pgpool_fields[] = {
	FLD_INT_REQ("port", PgcPgpool, port, 1, 65535),
	FLD("listen_address", PgcPgpool, F_HOST, listen_address),
	FLD("load_balance", PgcPgpool, F_BOOL, load_balance),
	FLD_INT("pcp_port", PgcPgpool, pcp_port, 1, 65535),
	FLD("max_lag", PgcPgpool, F_SIZE, max_lag),
	FLD("dir", PgcPgpool, F_PATH, dir),
	FLD_END,
};

static void fn_pgpool(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcPgpool *p = &((PgcCluster *)base)->pgpool;

	p->pos = load_node_pos(e->val);
	p->set = true;
	load_fields(c, e->val, path, pgpool_fields, p, NULL);
}

static void fn_balancer(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	static const Field f[] = {
		FLD_FN("haproxy", fn_haproxy),
		FLD_FN("pgpool", fn_pgpool),
		FLD_END,
	};

	cl->balancer_pos = load_node_pos(e->val);
	load_fields(c, e->val, path, f, cl, NULL);
}

/* pgbadger: true | false | {} | {every, keep, output} */
static void fn_pgbadger(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcMonitoring *m = base;
	static const Field f[] = {
		{"every", F_DUR, offsetof(PgcMonitoring, pgbadger.every), 0, 0, NULL, 0, NULL, false},
		{"keep", F_INT, offsetof(PgcMonitoring, pgbadger.keep), 1, 36500, NULL, 0, NULL, false},
		{"output", F_PATH, offsetof(PgcMonitoring, pgbadger.output), 0, 0, NULL, 0, NULL, false},
		FLD_END,
	};

	m->pgbadger.pos = load_node_pos(e->val);
	if (load_ytype(e->val) == Y_BOOL) {
		const char *v = load_scalar_text(e->val);

		m->pgbadger.set = strcmp(v, "true") == 0 || strcmp(v, "True") == 0 ||
				  strcmp(v, "TRUE") == 0;
		return;
	}
	if (e->val->type != YAML_MAPPING_NODE) {
		ERR(c, load_node_pos(e->val), path, "e.g. pgbadger: true, or pgbadger: {every: 1h, keep: 14}",
		    "expected true, false or a mapping with every, keep and output, got %s",
		    load_ytype_name(load_ytype(e->val)));
		return;
	}
	m->pgbadger.set = true;
	load_fields(c, e->val, path, f, m, NULL);
}

static void fn_datadog(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcMonitoring *m = base;
	static const Field f[] = {
		{"conf_dir", F_PATH, offsetof(PgcMonitoring, datadog.conf_dir), 0, 0, NULL, 0, NULL, true},
		{"password", F_SECRET, offsetof(PgcMonitoring, datadog.password), 0, 0, NULL, 0, NULL,
		 true},
		{"user", F_NAME, offsetof(PgcMonitoring, datadog.user), 0, 0, NULL, 0, NULL, false},
		{"dbm", F_BOOL, offsetof(PgcMonitoring, datadog.dbm), 0, 0, NULL, 0, NULL, false},
		FLD_END,
	};

	m->datadog.pos = load_node_pos(e->val);
	m->datadog.set = true;
	load_fields(c, e->val, path, f, m, NULL);
}

static void fn_monitoring(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	static const Field f[] = {
		FLD("pg_stat_statements", PgcMonitoring, F_BOOL, pg_stat_statements),
		FLD_FN("pgbadger", fn_pgbadger),
		FLD_FN("datadog", fn_datadog),
		FLD_END,
	};

	cl->monitoring.pos = load_node_pos(e->val);
	load_fields(c, e->val, path, f, &cl->monitoring, NULL);
}

static void fn_postgres(Ctx *c, Entry *e, const char *path, void *base)
{
	static const Field f[] = {
		{"version", F_INT, offsetof(PgcCluster, pg_version), 10, 99, NULL, 0, NULL, false},
		{"bin_dir", F_PATH, offsetof(PgcCluster, bin_dir), 0, 0, NULL, 0, NULL, false},
		FLD_END,
	};

	load_fields(c, e->val, path, f, base, NULL);
}

static void fn_initdb(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	static const Field f[] = {
		{"locale", F_STR, offsetof(PgcCluster, initdb.locale), 0, 0, NULL, 0, NULL, false},
		{"encoding", F_STR, offsetof(PgcCluster, initdb.encoding), 0, 0, NULL, 0, NULL, false},
		{"data_checksums", F_BOOL, offsetof(PgcCluster, initdb.data_checksums), 0, 0, NULL, 0, NULL,
		 false},
		FLD_END,
	};

	cl->initdb.pos = load_node_pos(e->val);
	cl->initdb.set = true;
	load_fields(c, e->val, path, f, cl, NULL);
}

static const Field cluster_fields[] = {
	FLD_FN("postgres", fn_postgres),
	FLD("os_user", PgcCluster, F_NAME, os_user),
	FLD("primary", PgcCluster, F_STR, primary),
	FLD("standby_of", PgcCluster, F_NAME, standby_of),
	{"nodes", F_FN, 0, 0, 0, NULL, 0, fn_nodes, true},
	FLD_FN("initdb", fn_initdb),
	FLD_FN("settings", fn_cluster_settings),
	FLD_FN("hba", load_fn_hba),
	FLD_FN("roles", fn_roles),
	FLD_FN("databases", fn_databases),
	FLD_FN("replication", fn_replication),
	FLD_FN("regions", fn_regions),
	FLD_FN("failover", fn_failover),
	FLD_FN("maintenance", fn_maintenance),
	FLD_FN("backup", fn_backup),
	FLD_FN("pooler", fn_pooler),
	FLD_FN("balancer", fn_balancer),
	FLD_FN("monitoring", fn_monitoring),
	FLD_FN("bootstrap", fn_bootstrap),
	FLD_END,
};

/* ---- defaults and inheritance ------------------------------------------ */

static void default_str(PgcStr *s, const char *v)
{
	if (!s->set)
		s->v = v;
}

static void default_int(PgcInt *i, long long v)
{
	if (!i->set)
		i->v = v;
}

static void default_bool(PgcBool *b, bool v)
{
	if (!b->set)
		b->v = v;
}

static void default_dur(PgcDuration *d, int64_t ms)
{
	if (!d->set)
		d->ms = ms;
}

static void default_size(PgcSize *s, int64_t bytes)
{
	if (!s->set)
		s->bytes = bytes;
}

/* merge_settings - a node's effective settings: the cluster's, each
 * replaced by the node's own value where the node sets it. */
static void merge_settings(Ctx *c, const PgcCluster *cl, PgcNode *n)
{
	size_t i, j;
	PgcStrMap own;

	n->effective.items = arena_calloc(c->a, cl->settings.n + n->settings.n + 1, sizeof(PgcSetting));
	n->effective.pos = n->settings.n ? n->settings.pos : cl->settings.pos;
	strmap_init(&own, n->settings.n, true);
	for (j = 0; j < n->settings.n; j++)
		strmap_put(&own, n->settings.items[j].name, j);
	for (i = 0; i < cl->settings.n; i++)
		if (strmap_get(&own, cl->settings.items[i].name) == NULL)
			n->effective.items[n->effective.n++] = cl->settings.items[i];
	strmap_free(&own);
	for (j = 0; j < n->settings.n; j++) {
		n->effective.items[n->effective.n] = n->settings.items[j];
		n->effective.items[n->effective.n].from_node = true;
		n->effective.n++;
	}
}

static void apply_defaults(Ctx *c, PgcCluster *cl)
{
	size_t i;

	default_int(&cl->pg_version, 15);
	if (!cl->bin_dir.set)
		cl->bin_dir.v = arena_printf(c->a, "/usr/lib/postgresql/%lld/bin", cl->pg_version.v);
	default_str(&cl->os_user, "postgres");
	if (!cl->primary.set && cl->n_nodes == 1)
		cl->primary.v = cl->nodes[0].name;
	default_str(&cl->initdb.locale, "C.UTF-8");
	default_str(&cl->initdb.encoding, "UTF8");
	default_bool(&cl->initdb.data_checksums, true);
	default_str(&cl->replication.user, "replicator");
	default_bool(&cl->replication.slots, true);
	default_int(&cl->regions.min, 1);
	default_dur(&cl->failover.detect_after, 10000);
	default_dur(&cl->failover.probe_interval, 1000);
	default_dur(&cl->failover.min_interval, 5 * 60 * 1000);
	default_int(&cl->backup.base.keep, 7);
	default_int(&cl->backup.logical.keep, 7);
	default_bool(&cl->backup.wal_archive, false);
	default_str(&cl->bootstrap.target_action, "promote");
	default_str(&cl->pgbouncer.listen_address, "127.0.0.1");
	default_str(&cl->pgbouncer.pool_mode, "transaction");
	default_int(&cl->pgbouncer.max_client_conn, 1000);
	default_int(&cl->pgbouncer.default_pool_size, 20);
	default_str(&cl->haproxy.listen_address, "127.0.0.1");
	default_dur(&cl->pgbouncer.pause_timeout, 10000);
	default_size(&cl->haproxy.max_lag, 16LL << 20);
	default_str(&cl->pgpool.listen_address, "127.0.0.1");
	default_bool(&cl->pgpool.load_balance, true);
	default_int(&cl->pgpool.pcp_port, cl->pgpool.port.v + 1);
	default_size(&cl->pgpool.max_lag, 16LL << 20);
	if (cl->n_nodes > 0) {
		const char *d = cl->nodes[0].data_dir.v;
		const char *slash = d != NULL ? strrchr(d, '/') : NULL;
		const char *top = slash == NULL || slash == d ? "" : arena_strndup(c->a, d, (size_t)(slash - d));

		default_str(&cl->pgbouncer.dir, arena_printf(c->a, "%s/pgbouncer", top));
		default_str(&cl->haproxy.dir, arena_printf(c->a, "%s/haproxy", top));
		default_str(&cl->pgpool.dir, arena_printf(c->a, "%s/pgpool", top));
	}
	default_dur(&cl->monitoring.pgbadger.every, 3600 * 1000);
	default_int(&cl->monitoring.pgbadger.keep, 14);
	default_str(&cl->monitoring.pgbadger.output,
		    arena_printf(c->a, "%s/reports/%s", c->t->base_dir, cl->name));
	default_str(&cl->monitoring.datadog.user, "datadog");
	default_bool(&cl->monitoring.datadog.dbm, false);
	for (i = 0; i < cl->n_roles; i++)
		if (!cl->roles[i].connection_limit.set)
			cl->roles[i].connection_limit.v = -1;
	for (i = 0; i < cl->n_nodes; i++) {
		default_str(&cl->nodes[i].host, "127.0.0.1");
		merge_settings(c, cl, &cl->nodes[i]);
	}
}

/* ---- top level --------------------------------------------------------- */

/*
 * inherit_standby - a standby cluster streams with its source's replication
 * user and password (validate_standby.c refuses its own): the values are
 * copied, not marked set, down each chain of standby clusters.
 */
static void inherit_standby(PgcTopology *t)
{
	for (size_t round = 0; round < t->n_clusters; round++)
		for (size_t i = 0; i < t->n_clusters; i++) {
			PgcCluster *c = &t->clusters[i];
			const PgcCluster *src;

			if (!c->standby_of.set || c->replication.user.set || c->replication.password.set)
				continue;
			src = topology_cluster(t, c->standby_of.v);
			if (src == NULL || src == c)
				continue;
			c->replication.user.v = src->replication.user.v;
			c->replication.password.kind = src->replication.password.kind;
			c->replication.password.ref = src->replication.password.ref;
		}
}

/* link_standbys - each cluster's standby clusters (PgcCluster.standbys), once the file is valid. */
static void link_standbys(PgcTopology *t)
{
	for (size_t i = 0; i < t->n_clusters; i++) {
		PgcCluster *src = &t->clusters[i];
		const PgcCluster **v = NULL;
		size_t n = 0;

		for (size_t j = 0; j < t->n_clusters; j++)
			if (j != i && t->clusters[j].standby_of.set &&
			    strcmp(t->clusters[j].standby_of.v, src->name) == 0)
				n++;
		if (n == 0)
			continue;
		v = arena_calloc(t->arena, n, sizeof(*v));
		for (size_t j = 0; j < t->n_clusters; j++)
			if (j != i && t->clusters[j].standby_of.set &&
			    strcmp(t->clusters[j].standby_of.v, src->name) == 0)
				v[src->n_standbys++] = &t->clusters[j];
		src->standbys = v;
	}
}

static void fn_clusters(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcTopology *t = base;
	Map m;
	size_t i;

	if (!load_get_map(c, e->val, path, &m))
		return;
	if (m.n == 0) {
		ERR(c, m.pos, path, NULL, "expected at least one cluster");
		return;
	}
	t->clusters = arena_calloc(c->a, m.n, sizeof(PgcCluster));
	for (i = 0; i < m.n; i++) {
		PgcCluster *cl = &t->clusters[t->n_clusters];
		const char *cpath = load_join(c, path, m.e[i].key);

		if (!load_check_name(c, m.e[i].key, m.e[i].key_pos, cpath, "cluster"))
			continue;
		cl->name = m.e[i].key;
		cl->pos = m.e[i].key_pos;
		if (!load_fields(c, m.e[i].val, cpath, cluster_fields, cl, NULL))
			continue;
		apply_defaults(c, cl);
		t->n_clusters++;
	}
	inherit_standby(t);
}

/* Top-level keys starting with "x-" are free for YAML anchors to live in. */
static void load_top(Ctx *c, yaml_node_t *root)
{
	static const Field f[] = {
		{"version", F_INT, offsetof(PgcTopology, version), 1, 1, NULL, 0, NULL, true},
		{"clusters", F_FN, 0, 0, 0, NULL, 0, fn_clusters, true},
		FLD_FN("coordination", load_fn_coordination),
		FLD_END,
	};
	yaml_node_pair_t *p;
	yaml_node_t stripped;
	yaml_node_pair_t *kept;
	size_t n = 0;

	if (root->type != YAML_MAPPING_NODE) {
		ERR(c, load_node_pos(root), NULL, "start with \"version: 1\" and \"clusters:\"",
		    "expected a mapping at the top of the file, got %s", load_ytype_name(load_ytype(root)));
		return;
	}
	kept = arena_calloc(c->a, (size_t)(root->data.mapping.pairs.top - root->data.mapping.pairs.start) + 1,
			    sizeof(*kept));
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = load_get_node(c, p->key);

		if (k->type == YAML_SCALAR_NODE && str_has_prefix(load_scalar_text(k), "x-"))
			continue;
		kept[n++] = *p;
	}
	stripped = *root;
	stripped.data.mapping.pairs.start = kept;
	stripped.data.mapping.pairs.top = kept + n;
	stripped.data.mapping.pairs.end = kept + n;
	load_fields(c, &stripped, "", f, c->t, NULL);
}

/* dir_of - the absolute folder of path, relative paths in the file resolve against. */
static char *dir_of(const char *path)
{
	char *dir = fs_path_dir(path), *res = fs_path_resolve(NULL, dir);

	free(dir);
	return res;
}

PgcTopology *topology_load_buffer(const char *buf, size_t len, const char *display_name,
				  const PgcLoadOptions *opts, PgcDiagList *diags)
{
	PgcLoadOptions defaults = {0};
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	PgcTopology *t;
	Ctx c;
	size_t errors_before = diag_count(diags, DIAG_ERROR);

	if (opts == NULL)
		opts = &defaults;
	t = NULL;
	memset(&c, 0, sizeof(c));
	c.diags = diags;
	c.file = display_name;
	c.budget = LOAD_NODE_BUDGET;

	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (load_compose(&c, &parser, &doc, buf, len) != 0)
		goto cleanup;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL) {
		PgcPos p = {1, 1};

		ERR(&c, p, NULL, "start with \"version: 1\" and \"clusters:\"", "the file is empty");
		goto cleanup;
	}

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		abort();
	t->arena = arena_new();
	t->file = arena_strdup(t->arena, display_name);
	{
		char *base = fs_path_resolve(NULL, opts->base_dir ? opts->base_dir : ".");

		t->base_dir = arena_strdup(t->arena, base);
		free(base);
	}
	c.doc = &doc;
	c.t = t;
	c.a = t->arena;
	load_top(&c, root);
	for (size_t i = 0; i < t->n_clusters; i++)
		t->clusters[i].tool_path = arena_strdup(t->arena, opts->tool_path ? opts->tool_path : "pgconverge");
	if (diag_count(diags, DIAG_ERROR) == errors_before)
		topology_validate(t, opts, diags);
	if (diag_count(diags, DIAG_ERROR) == errors_before)
		link_standbys(t);
cleanup:
	/* Every string the model keeps was copied into its arena. */
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	diag_sort(diags);
	return t;
}

PgcTopology *topology_load_file(const char *path, const PgcLoadOptions *opts, PgcDiagList *diags)
{
	PgcLoadOptions o = {0};
	PgcTopology *t;
	char *buf = NULL, *dir = NULL;
	size_t len = 0;
	PgcPos nopos = {0, 0};

	if (opts != NULL)
		o = *opts;
	switch (fs_read_file(path, &buf, &len, 64 * 1024 * 1024)) {
	case 0:
		break;
	case 1:
		diag_error(diags, path, nopos, NULL, "check the path, or pass the file with -f FILE",
			   "topology file not found");
		return NULL;
	default:
		diag_error(diags, path, nopos, NULL, NULL, "cannot read the topology file");
		return NULL;
	}
	if (o.base_dir == NULL) {
		dir = dir_of(path);
		o.base_dir = dir;
	}
	t = topology_load_buffer(buf, len, path, &o, diags);
	free(buf);
	free(dir);
	return t;
}
