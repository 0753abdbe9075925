/*
 * tests/unit/test_plan.c - the pure planner on hand-built observed states:
 * order, dependencies, impact and policy of every action family.
 *
 * A converged state is built from the planner's own renderers
 * (plan_managed_conf, plan_hba_conf, plan_conf_params), so "converged
 * plans to zero actions" is checked against exactly what apply writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "reconcile/pg/layout.h"
#include "common/arena.h"
#include "common/diag.h"
#include "reconcile/engine/apply.h"
#include "reconcile/datadog/datadog.h"
#include "reconcile/datadog/plan_datadog.h"
#include "reconcile/observe/observe_datadog.h"
#include "reconcile/ha/failover.h"
#include "reconcile/observe/observe.h"
#include "reconcile/engine/plan.h"
#include "reconcile/planner.h"
#include "reconcile/postgres/plan_conf.h"
#include "reconcile/postgres/plan_postgres.h"
#include "schema/pgcatalog.h"
#include "schema/topology.h"

/* 2026-11-29 is a Sunday. */
#define SUN_0300_UTC ((time_t)1795921200) /* 2026-11-29 03:00:00 UTC */
#define SUN_0500_UTC ((time_t)1795928400) /* 2026-11-29 05:00:00 UTC */

/* ---- topologies ------------------------------------------------------------ */

/*
 * topo - the base cluster with extra lines spliced in: %1$s settings lines
 * (6 spaces), %2$s node pg3's extra keys, %3$s cluster-level extra keys.
 */
static const char *const base_yaml =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    primary: pg1\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 25432, data_dir: data/pg1}\n"
	"      pg2: {host: 127.0.0.1, port: 25433, data_dir: data/pg2}\n"
	"      pg3: {port: 25434, data_dir: data/pg3%2$s}\n"
	"    settings:\n"
	"      shared_buffers: 32MB\n"
	"      max_connections: 100\n"
	"      work_mem: 4MB\n"
	"%1$s"
	"    hba:\n"
	"      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}\n"
	"    roles:\n"
	"      app: {login: true, connection_limit: 20, password: {env: APP_PASSWORD}}\n"
	"      readers: {}\n"
	"      reporting: {login: true, member_of: [readers]}\n"
	"    databases:\n"
	"      appdb: {owner: app, extensions: [pgcrypto]}\n"
	"    replication:\n"
	"      user: replicator\n"
	"      password: {env: REPL_PASSWORD}\n"
	"      slots: true\n"
	"%3$s";

static PgcTopology *load_yaml(const char *yaml)
{
	PgcLoadOptions opts = {.base_dir = "/srv/pgc", .offline = true};
	PgcDiagList diags = {0};
	PgcTopology *t = topology_load_buffer(yaml, strlen(yaml), "test.yaml", &opts, &diags);

	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		diag_free(&diags);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	return t;
}

static PgcTopology *topo(const char *settings, const char *pg3, const char *extra)
{
	char buf[8192];

	snprintf(buf, sizeof buf, base_yaml, settings ? settings : "", pg3 ? pg3 : "",
		 extra ? extra : "    maintenance: {restart: never}\n");
	return load_yaml(buf);
}

/* ---- observed states -------------------------------------------------------- */

static PgcObserved *obs_empty(const PgcTopology *t)
{
	PgcArena *a = arena_new();
	PgcObserved *o = arena_calloc(a, 1, sizeof(*o));
	size_t i, j;

	o->arena = a;
	o->observed_at = "2026-11-29T03:00:00Z";
	o->n_clusters = t->n_clusters;
	o->clusters = arena_calloc(a, t->n_clusters, sizeof(PgcObsCluster));
	for (i = 0; i < t->n_clusters; i++) {
		const PgcCluster *c = &t->clusters[i];

		o->clusters[i].name = c->name;
		o->clusters[i].n_nodes = c->n_nodes;
		o->clusters[i].nodes = arena_calloc(a, c->n_nodes, sizeof(PgcObsNode));
		for (j = 0; j < c->n_nodes; j++) {
			PgcObsNode *n = &o->clusters[i].nodes[j];

			n->name = c->nodes[j].name;
			n->cluster = c->name;
			n->local = true;
			n->dir_state = DIR_ABSENT;
			n->wal_receiver_last_msg_age_s = -1;
		}
	}
	return o;
}

static void obs_free(PgcObserved *o)
{
	if (o != NULL)
		arena_free(o->arena);
}

static PgcObsNode *onode(PgcObserved *o, const char *node)
{
	size_t j;

	for (j = 0; j < o->clusters[0].n_nodes; j++)
		if (strcmp(o->clusters[0].nodes[j].name, node) == 0)
			return &o->clusters[0].nodes[j];
	fail_msg("no observed node \"%s\"", node);
	return NULL;
}

static PgcObsSetting *osetting(PgcObsNode *n, const char *name)
{
	size_t i;

	for (i = 0; i < n->n_settings; i++)
		if (strcasecmp(n->settings[i].name, name) == 0)
			return &n->settings[i];
	fail_msg("node \"%s\" has no setting \"%s\"", n->name, name);
	return NULL;
}

/* set_live - a pg_settings row as the server would show it (setting in the parameter's unit). */
static void set_live(PgcObserved *o, PgcObsNode *n, const char *name, const char *setting,
		     const char *sourcefile)
{
	PgcObsSetting *s = osetting(n, name);

	s->setting = arena_strdup(o->arena, setting);
	s->normalized = s->setting;
	s->sourcefile = sourcefile;
}

static const char **strv(PgcArena *a, size_t n, ...)
{
	const char **v = arena_calloc(a, n + 1, sizeof(char *));
	va_list ap;
	size_t i;

	va_start(ap, n);
	for (i = 0; i < n; i++)
		v[i] = va_arg(ap, const char *);
	va_end(ap);
	return v;
}

/* converge_node - the node as apply leaves it: files rendered, settings loaded, running. */
static void converge_node(PgcObserved *o, const PgcCluster *c, size_t idx)
{
	PgcArena *a = o->arena;
	const PgcNode *n = &c->nodes[idx];
	PgcObsNode *on = &o->clusters[0].nodes[idx];
	bool primary = strcmp(c->primary.v, n->name) == 0;
	PgcConfParam *params;
	size_t np = plan_conf_params(a, c, n, &params), i;

	on->dir_state = DIR_INITIALIZED;
	on->pg_version_major = 15;
	on->system_identifier = 7441234567890123456ULL;
	on->timeline = 1;
	on->cluster_state = primary ? "in production" : "in archive recovery";
	on->data_checksums = true;
	on->include_line = true;
	on->managed_conf = plan_managed_conf(a, c, n);
	on->hba_conf = plan_hba_conf(a, c, n);
	on->standby_signal = !primary;
	on->postmaster_pid = 4000 + (long)idx;
	on->postmaster_alive = true;
	on->reachable = true;
	on->server_version_num = 150010;
	on->in_recovery = !primary;
	on->settings = arena_calloc(a, np + 1, sizeof(PgcObsSetting));
	for (i = 0; i < np; i++) {
		const PgcParam *p = pgcatalog_lookup(15, params[i].name);
		PgcObsSetting *s = &on->settings[on->n_settings++];
		char out[1024], err[256];

		s->name = params[i].name;
		if (p != NULL && pgparam_normalize(p, params[i].value, out, sizeof out, err,
						   sizeof err) == 0)
			s->setting = arena_strdup(a, out);
		else
			s->setting = params[i].value;
		s->normalized = s->setting;
		s->unit = p ? p->unit : NULL;
		s->source = "configuration file";
		s->sourcefile = arena_printf(a, "%s/%s", n->data_dir.v, PGC_MANAGED_CONF);
		s->context = p ? pgcatalog_context_name(p->context) : "postmaster";
	}
	if (!primary) {
		const PgcNode *up = cluster_upstream(c, n);

		on->primary_conninfo = osetting(on, "primary_conninfo")->setting;
		on->upstream_host = up->host.v;
		on->upstream_port = (int)up->port.v;
		on->wal_receiver_status = "streaming";
		on->wal_receiver_last_msg_age_s = 0.2;
	}
	/* The replication passfile as apply writes it (observe reads it on every local node). */
	on->passfile.read = true;
	if (!primary && c->replication.password.kind != SECRET_NONE) {
		const PgcNode *up = cluster_upstream(c, n);

		on->passfile.exists = true;
		on->passfile.host = up->host.v;
		on->passfile.port = arena_printf(a, "%lld", up->port.v);
		on->passfile.user = c->replication.user.v;
		on->passfile.password = PASSFILE_PW_MATCHES;
	} else {
		on->passfile.password = PASSFILE_PW_DIFFERS;
	}
}

/* converge_primary_catalog - roles, databases and slots as the topology declares them. */
static void converge_catalog(PgcObserved *o, const PgcCluster *c)
{
	PgcArena *a = o->arena;
	PgcObsNode *pn = onode(o, c->primary.v);
	size_t i, j;

	pn->roles = arena_calloc(a, c->n_roles + 3, sizeof(PgcObsRole));
	pn->roles[pn->n_roles++] = (PgcObsRole){.name = "postgres", .login = true, .superuser = true,
						.createdb = true, .createrole = true,
						.replication = true, .bypassrls = true,
						.connection_limit = -1, .password_matches = -1};
	pn->roles[pn->n_roles++] = (PgcObsRole){.name = "pg_monitor", .connection_limit = -1,
						.password_matches = -1};
	for (i = 0; i < c->n_roles; i++) {
		const PgcRole *r = &c->roles[i];
		PgcObsRole *or = &pn->roles[pn->n_roles++];

		or->name = r->name;
		or->login = r->login.v;
		or->superuser = r->superuser.v;
		or->createdb = r->createdb.v;
		or->createrole = r->createrole.v;
		or->replication = r->replication.v;
		or->bypassrls = r->bypassrls.v;
		or->connection_limit = (int)r->connection_limit.v;
		or->has_password = r->password.set;
		or->password_matches = r->password.set ? 1 : -1;
		or->n_member_of = r->member_of.n;
		or->member_of = arena_calloc(a, r->member_of.n + 1, sizeof(char *));
		for (j = 0; j < r->member_of.n; j++)
			or->member_of[j] = r->member_of.items[j].v;
	}
	if (c->n_nodes > 1)
		pn->roles[pn->n_roles++] = (PgcObsRole){
			.name = c->replication.user.v, .login = true, .replication = true,
			.connection_limit = -1, .has_password = c->replication.password.set,
			.password_matches = c->replication.password.set ? 1 : -1};
	pn->databases = arena_calloc(a, c->n_databases + 3, sizeof(PgcObsDatabase));
	/* monitoring.pg_stat_statements: the extension in postgres and every declared database. */
	pn->databases[pn->n_databases++] = (PgcObsDatabase){
		.name = "postgres", .owner = "postgres",
		.extensions = c->monitoring.pg_stat_statements.v
				      ? strv(a, 2, "plpgsql", "pg_stat_statements")
				      : strv(a, 1, "plpgsql"),
		.n_extensions = c->monitoring.pg_stat_statements.v ? 2 : 1};
	pn->databases[pn->n_databases++] = (PgcObsDatabase){
		.name = "template1", .owner = "postgres", .extensions = strv(a, 1, "plpgsql"),
		.n_extensions = 1};
	for (i = 0; i < c->n_databases; i++) {
		const PgcDatabase *d = &c->databases[i];
		PgcObsDatabase *od = &pn->databases[pn->n_databases++];

		od->name = d->name;
		od->owner = d->owner.v ? d->owner.v : "postgres";
		od->extensions = arena_calloc(a, d->extensions.n + 3, sizeof(char *));
		od->extensions[od->n_extensions++] = "plpgsql";
		for (j = 0; j < d->extensions.n; j++)
			od->extensions[od->n_extensions++] = d->extensions.items[j].v;
		if (c->monitoring.pg_stat_statements.v)
			od->extensions[od->n_extensions++] = "pg_stat_statements";
	}
	/* Each replica's slot on its upstream. */
	for (i = 0; i < c->n_nodes && c->replication.slots.v; i++) {
		const PgcNode *up = cluster_upstream(c, &c->nodes[i]);
		PgcObsNode *un;
		PgcObsSlot *slots;

		if (up == NULL)
			continue;
		un = onode(o, up->name);
		slots = arena_calloc(a, un->n_slots + 1, sizeof(PgcObsSlot));
		if (un->n_slots)
			memcpy(slots, un->slots, un->n_slots * sizeof(PgcObsSlot));
		slots[un->n_slots] = (PgcObsSlot){.slot_name = plan_slot_name(a, c->nodes[i].name),
						  .slot_type = "physical", .active = true,
						  .restart_lsn = "0/3000148"};
		un->slots = slots;
		un->n_slots++;
	}
}

static PgcObserved *obs_converged(const PgcTopology *t)
{
	PgcObserved *o = obs_empty(t);
	const PgcCluster *c = &t->clusters[0];
	size_t i;

	for (i = 0; i < c->n_nodes; i++)
		converge_node(o, c, i);
	converge_catalog(o, c);
	return o;
}

/* ---- plan inspection ------------------------------------------------------------ */

static PgcPolicy policy_at(time_t now, bool allow_restart)
{
	PgcPolicy p = {.allow_restart = allow_restart, .now = now};

	return p;
}

/* ids - the plan's action ids, one per line (the execution order). */
static char *ids(const PgcPlan *p)
{
	static char buf[16384];
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < p->n_actions && off < sizeof buf; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s\n", p->actions[i].id);
	return buf;
}

static const PgcAction *act(const PgcPlan *p, const char *id)
{
	const PgcAction *a = plan_find_action(p, id);

	if (a == NULL)
		fail_msg("no action \"%s\" in the plan:\n%s", id, ids(p));
	return a;
}

/* deps - "a, b" of an action's depends_on. */
static char *deps(const PgcAction *a)
{
	static char buf[4096];
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < a->n_depends_on; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", i ? ", " : "",
					a->depends_on[i]);
	return buf;
}

/* changes - "key: from -> to" lines. */
static char *changes(const PgcAction *a)
{
	static char buf[8192];
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < a->n_changes; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s: %s -> %s\n", a->changes[i].key,
					a->changes[i].from ? a->changes[i].from : "(unset)",
					a->changes[i].to ? a->changes[i].to : "(unset)");
	return buf;
}

static char *params(const PgcAction *a)
{
	static char buf[4096];
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < a->payload.n_params; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", i ? " " : "",
					a->payload.params[i]);
	return buf;
}

static char *text_of(const PgcPlan *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	plan_print_text(f, p, false);
	fclose(f);
	return buf;
}

/* set_setting - a node's effective value of name (tests build topologies that differ by one value). */
static void set_setting(PgcTopology *t, const char *node, const char *name, const char *value)
{
	size_t i, k;

	for (i = 0; i < t->clusters[0].n_nodes; i++) {
		PgcSettings *e = &t->clusters[0].nodes[i].effective;

		if (node != NULL && strcmp(t->clusters[0].nodes[i].name, node) != 0)
			continue;
		for (k = 0; k < e->n; k++)
			if (strcmp(e->items[k].name, name) == 0)
				e->items[k].value = value;
	}
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_converged_plans_nothing(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcPlan *p = plan_build(t, o, &pol);
	char *text;

	(void)state;
	assert_int_equal(p->n_actions, 0);
	assert_int_equal(p->n_orphans, 0);
	text = text_of(p);
	assert_string_equal(text, "no changes: the live state matches the topology\n");
	free(text);
	/* One fingerprint per observed node, bound to the files' content. */
	assert_int_equal(p->n_fp, 3);
	assert_string_equal(p->fp_nodes[2], "main/pg3");
	assert_true(strncmp(p->fp_values[0], "7441234567890123456:1:", 22) == 0);
	assert_int_equal(strlen(p->fp_values[0]), 22 + 64);
	assert_string_equal(p->fp_values[0], observe_node_fingerprint(o->arena, onode(o, "pg1")));
	assert_string_not_equal(p->fp_values[0], p->fp_values[1]);
	assert_false(p->offline);
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

/* Also converged: values written differently, live values in other units, a cascade, sync. */
static void test_converged_full_features(void **state)
{
	PgcTopology *t = topo("      maintenance_work_mem: 1GB\n"
			      "      checkpoint_timeout: 15min\n"
			      "      log_checkpoints: true\n",
			      ", replicate_from: pg2",
			      "      synchronous: {method: any, count: 1}\n"
			      "    monitoring: {pg_stat_statements: true}\n"
			      "    maintenance: {restart: window, window: \"Sun 02:00-04:00 UTC\"}\n");
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0500_UTC, false);
	PgcPlan *p;

	(void)state;
	/* The server shows 1GB as 1048576 kB and 15min as 900 s: same values. */
	assert_string_equal(osetting(onode(o, "pg1"), "maintenance_work_mem")->setting, "1048576");
	assert_string_equal(osetting(onode(o, "pg1"), "checkpoint_timeout")->setting, "900");
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "");
	assert_int_equal(p->n_orphans, 0);
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

/* ---- monitoring.pg_stat_statements ------------------------------------------------- */

/* count_ids - actions whose id contains part. */
static size_t count_ids(const PgcPlan *p, const char *part)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_actions; i++)
		n += strstr(p->actions[i].id, part) != NULL;
	return n;
}

/*
 * Switched on over a converged cluster: both restarts (preload), the
 * extension in every declared database and in postgres, each after the
 * primary's restart, blocked with it by the policy; once in a database
 * that lists it already.
 */
static void test_pgss_switched_on(void **state)
{
	PgcTopology *t0 = topo(NULL, NULL, NULL);
	PgcTopology *t = topo(NULL, NULL, "    maintenance: {restart: never}\n"
					  "    monitoring: {pg_stat_statements: true}\n");
	PgcObserved *o = obs_converged(t0);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcPlan *p;
	const PgcAction *a;
	PgcStr *ext;

	(void)state;
	/* The live servers have not loaded it. */
	for (const char *const *n = (const char *const[]){"pg1", "pg2", "pg3", NULL}; *n; n++)
		onode(o, *n)->settings[0] = (PgcObsSetting){
			.name = "shared_preload_libraries", .setting = "", .normalized = "",
			.source = "default", .context = "postmaster"};
	p = plan_build(t, o, &pol);
	a = act(p, "main/pg1/restart");
	assert_int_equal(a->impact, IMPACT_RESTART);
	assert_true(a->blocked);
	/* What a reload can take now, the rest at the restart. */
	assert_string_equal(changes(act(p, "main/pg1/reload")),
			    "pg_stat_statements.track: (unset) -> top\n"
			    "track_io_timing: (unset) -> on\n");
	assert_string_equal(changes(a), "pg_stat_statements.max: (unset) -> 10000\n"
					"shared_preload_libraries:  -> pg_stat_statements\n");
	assert_string_equal(ids(p), "main/pg1/config\nmain/pg1/reload\nmain/pg2/config\n"
				    "main/pg2/reload\nmain/pg3/config\nmain/pg3/reload\n"
				    "main/pg2/restart\nmain/pg3/restart\nmain/pg1/restart\n"
				    "main/pg1/create-extension:appdb.pg_stat_statements\n"
				    "main/pg1/create-extension:postgres.pg_stat_statements\n");
	a = act(p, "main/pg1/create-extension:appdb.pg_stat_statements");
	assert_string_equal(a->reason, "extension \"pg_stat_statements\" is not installed in "
				       "database \"appdb\" (monitoring.pg_stat_statements)");
	assert_string_equal(a->payload.sql, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
	assert_string_equal(a->payload.database, "appdb");
	assert_string_equal(deps(a), "main/pg1/restart");
	a = act(p, "main/pg1/create-extension:postgres.pg_stat_statements");
	assert_string_equal(a->payload.database, "postgres");
	assert_string_equal(deps(a), "main/pg1/restart");
	assert_int_equal(count_ids(p, "pg_stat_statements"), 2);
	plan_free(p);

	/* Listed by the database as well: one action, still after the restart. */
	ext = arena_calloc(t->arena, 2, sizeof(*ext));
	ext[0] = t->clusters[0].databases[0].extensions.items[0];
	ext[1].v = "pg_stat_statements";
	t->clusters[0].databases[0].extensions.items = ext;
	t->clusters[0].databases[0].extensions.n = 2;
	p = plan_build(t, o, &pol);
	assert_int_equal(count_ids(p, "create-extension:appdb.pg_stat_statements"), 1);
	assert_string_equal(deps(act(p, "main/pg1/create-extension:appdb.pg_stat_statements")),
			    "main/pg1/restart");
	/* Loaded already (a restart done, the extension not yet): no wait. */
	plan_free(p);
	for (const char *const *n = (const char *const[]){"pg1", "pg2", "pg3", NULL}; *n; n++)
		onode(o, *n)->settings[0].setting = "pg_stat_statements";
	p = plan_build(t, o, &pol);
	assert_string_equal(deps(act(p, "main/pg1/create-extension:appdb.pg_stat_statements")), "");
	plan_free(p);
	obs_free(o);
	topology_free(t);
	topology_free(t0);
}

/*
 * Without monitoring, nothing is added: the declared extensions only. A
 * database that lists pg_stat_statements without the preload gets it at
 * once, not after a restart planned for something else.
 */
static void test_pgss_off_adds_nothing(void **state)
{
	PgcTopology *t0 = topo(NULL, NULL, NULL);
	PgcTopology *t = topo("      max_worker_processes: 16\n", NULL, NULL);
	PgcObserved *o = obs_converged(t0);
	PgcPolicy pol = policy_at(SUN_0300_UTC, true);
	PgcPlan *p = plan_build(t0, o, &pol);
	PgcStr *ext;

	(void)state;
	assert_int_equal(p->n_actions, 0);
	plan_free(p);
	ext = arena_calloc(t->arena, 2, sizeof(*ext));
	ext[0] = t->clusters[0].databases[0].extensions.items[0];
	ext[1].v = "pg_stat_statements";
	t->clusters[0].databases[0].extensions.items = ext;
	t->clusters[0].databases[0].extensions.n = 2;
	p = plan_build(t, o, &pol);
	assert_non_null(plan_find_action(p, "main/pg1/restart"));
	assert_int_equal(count_ids(p, "pg_stat_statements"), 1);
	assert_string_equal(deps(act(p, "main/pg1/create-extension:appdb.pg_stat_statements")), "");
	plan_free(p);
	obs_free(o);
	topology_free(t);
	topology_free(t0);
}

static void test_empty_machine(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_empty(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	onode(o, "pg2")->dir_state = DIR_EMPTY;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p),
			    "main/pg1/initdb\n"
			    "main/pg1/config\n"
			    "main/pg1/hba\n"
			    "main/pg1/start\n"
			    "main/pg1/create-role:replicator\n"
			    "main/pg1/create-slot:pg2\n"
			    "main/pg2/clone\n"
			    "main/pg2/config\n"
			    "main/pg2/passfile\n"
			    "main/pg2/hba\n"
			    "main/pg2/start\n"
			    "main/pg1/create-slot:pg3\n"
			    "main/pg3/clone\n"
			    "main/pg3/config\n"
			    "main/pg3/passfile\n"
			    "main/pg3/hba\n"
			    "main/pg3/start\n"
			    "main/pg1/create-role:app\n"
			    "main/pg1/create-role:readers\n"
			    "main/pg1/create-role:reporting\n"
			    "main/pg1/grant-role:readers>reporting\n"
			    "main/pg1/create-database:appdb\n"
			    "main/pg1/create-extension:appdb.pgcrypto\n");
	assert_int_equal(plan_count_blocked(p), 0);
	assert_int_equal(plan_count_impact(p, IMPACT_RESTART), 0);

	a = act(p, "main/pg1/initdb");
	assert_string_equal(a->reason, "data directory \"/srv/pgc/data/pg1\" is absent: create the "
				       "primary with initdb");
	assert_string_equal(params(a), "/usr/lib/postgresql/15/bin/initdb -D /srv/pgc/data/pg1 "
				       "-U postgres --encoding=UTF8 --locale=C.UTF-8 --data-checksums");
	assert_string_equal(a->payload.path, "/srv/pgc/data/pg1");

	a = act(p, "main/pg1/config");
	assert_string_equal(deps(a), "main/pg1/initdb");
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_string_equal(a->payload.path, "/srv/pgc/data/pg1/pgconverge.conf");
	assert_string_equal(a->payload.content, plan_managed_conf(o->arena, &t->clusters[0],
								  &t->clusters[0].nodes[0]));
	assert_string_equal(a->reason, "write the managed configuration pgconverge.conf (9 parameters)");
	assert_string_equal(changes(a), "cluster_name: (unset) -> main-pg1\n"
					"hot_standby: (unset) -> on\n"
					"listen_addresses: (unset) -> 127.0.0.1\n"
					"max_connections: (unset) -> 100\n"
					"port: (unset) -> 25432\n"
					"shared_buffers: (unset) -> 32MB\n"
					"unix_socket_directories: (unset) -> /var/run/postgresql\n"
					"wal_level: (unset) -> replica\n"
					"work_mem: (unset) -> 4MB\n");

	a = act(p, "main/pg1/hba");
	assert_non_null(a->payload.ident);
	assert_string_equal(a->payload.content, plan_hba_conf(o->arena, &t->clusters[0],
								  &t->clusters[0].nodes[0]));
	assert_string_equal(changes(a),
			    "rule: (unset) -> local all postgres peer map=pgconverge\n"
			    "rule: (unset) -> local replication postgres peer map=pgconverge\n"
			    "rule: (unset) -> host replication replicator 127.0.0.1/32 scram-sha-256\n"
			    "rule: (unset) -> host all all 127.0.0.1/32 scram-sha-256\n");
	a = act(p, "main/pg1/start");
	assert_string_equal(deps(a), "main/pg1/initdb, main/pg1/config, main/pg1/hba");
	assert_string_equal(a->reason, "start the new primary");

	a = act(p, "main/pg1/create-role:replicator");
	assert_string_equal(deps(a), "main/pg1/start");
	assert_string_equal(a->payload.sql, "CREATE ROLE replicator WITH LOGIN NOSUPERUSER NOCREATEDB "
					    "NOCREATEROLE REPLICATION NOBYPASSRLS CONNECTION LIMIT -1 "
					    "PASSWORD $1");
	assert_int_equal(a->payload.secret.kind, SECRET_ENV);
	assert_string_equal(a->payload.secret.ref, "REPL_PASSWORD");
	assert_string_equal(a->reason, "role \"replicator\" does not exist: replicas connect as it");

	a = act(p, "main/pg1/create-slot:pg2");
	assert_string_equal(a->payload.sql, "SELECT pg_create_physical_replication_slot($1, true)");
	assert_int_equal(a->payload.n_params, 1);
	assert_string_equal(a->payload.params[0], "pg2");
	assert_string_equal(deps(a), "main/pg1/start");

	a = act(p, "main/pg2/clone");
	assert_string_equal(a->reason, "data directory \"/srv/pgc/data/pg2\" is empty: clone the "
				       "replica from \"pg1\" with pg_basebackup");
	assert_string_equal(deps(a), "main/pg1/create-slot:pg2, main/pg1/start, "
				     "main/pg1/create-role:replicator");
	assert_string_equal(params(a), "/usr/lib/postgresql/15/bin/pg_basebackup -D /srv/pgc/data/pg2 "
				       "-h 127.0.0.1 -p 25432 -U replicator -X stream -c fast "
				       "-S pg2 --no-password");
	assert_string_equal(a->payload.upstream, "pg1");
	assert_int_equal(a->payload.secret.kind, SECRET_ENV);

	a = act(p, "main/pg2/passfile");
	assert_string_equal(a->payload.path, "/srv/pgc/data/.pg2.pgconverge.pgpass");
	assert_string_equal(a->payload.target, "replicator");
	assert_string_equal(a->payload.upstream, "pg1");
	assert_string_equal(deps(a), "main/pg2/clone");

	a = act(p, "main/pg2/start");
	assert_string_equal(deps(a), "main/pg2/clone, main/pg2/config, main/pg2/hba, "
				     "main/pg2/passfile, main/pg1/start");

	a = act(p, "main/pg1/create-role:app");
	assert_string_equal(a->payload.sql, "CREATE ROLE app WITH LOGIN NOSUPERUSER NOCREATEDB "
					    "NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 20 "
					    "PASSWORD $1");
	a = act(p, "main/pg1/create-role:readers");
	assert_string_equal(a->payload.sql, "CREATE ROLE readers WITH NOLOGIN NOSUPERUSER NOCREATEDB "
					    "NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT -1");
	assert_int_equal(a->payload.secret.kind, SECRET_NONE);
	a = act(p, "main/pg1/grant-role:readers>reporting");
	assert_string_equal(a->payload.sql, "GRANT readers TO reporting");
	assert_string_equal(deps(a), "main/pg1/start, main/pg1/create-role:reporting, "
				     "main/pg1/create-role:readers");
	a = act(p, "main/pg1/create-database:appdb");
	assert_string_equal(a->payload.sql, "CREATE DATABASE appdb OWNER app");
	assert_string_equal(deps(a), "main/pg1/start, main/pg1/create-role:app");
	a = act(p, "main/pg1/create-extension:appdb.pgcrypto");
	assert_string_equal(a->payload.sql, "CREATE EXTENSION IF NOT EXISTS pgcrypto");
	assert_string_equal(a->payload.database, "appdb");
	assert_string_equal(deps(a), "main/pg1/start, main/pg1/create-database:appdb");
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

/* plan_against - the plan for topology `want` on a cluster converged on topology `have`. */
static PgcPlan *plan_against(PgcTopology *have, PgcTopology *want, PgcObserved **obs,
			     const PgcPolicy *pol)
{
	*obs = obs_converged(have);
	return plan_build(want, *obs, pol);
}

static void test_reload_only_change(void **state)
{
	PgcTopology *have = topo(NULL, NULL, NULL);
	PgcTopology *want = load_yaml(
		"version: 1\n"
		"clusters:\n"
		"  main:\n"
		"    primary: pg1\n"
		"    nodes:\n"
		"      pg1: {host: 127.0.0.1, port: 25432, data_dir: data/pg1}\n"
		"      pg2: {host: 127.0.0.1, port: 25433, data_dir: data/pg2}\n"
		"      pg3: {port: 25434, data_dir: data/pg3}\n"
		"    settings:\n"
		"      shared_buffers: 32768kB\n" /* same value, written differently */
		"      max_connections: 100\n"
		"      work_mem: 8MB\n"
		"    hba:\n"
		"      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}\n"
		"    roles:\n"
		"      app: {login: true, connection_limit: 20, password: {env: APP_PASSWORD}}\n"
		"      readers: {}\n"
		"      reporting: {login: true, member_of: [readers]}\n"
		"    databases:\n"
		"      appdb: {owner: app, extensions: [pgcrypto]}\n"
		"    replication: {user: replicator, password: {env: REPL_PASSWORD}, slots: true}\n"
		"    maintenance: {restart: never}\n");
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcObserved *o;
	PgcPlan *p = plan_against(have, want, &o, &pol);
	const PgcAction *a;
	char *text;

	(void)state;
	assert_string_equal(ids(p), "main/pg1/config\n"
				    "main/pg1/reload\n"
				    "main/pg2/config\n"
				    "main/pg2/reload\n"
				    "main/pg3/config\n"
				    "main/pg3/reload\n");
	a = act(p, "main/pg1/config");
	assert_int_equal(a->impact, IMPACT_RELOAD);
	assert_null(a->phase);
	assert_false(a->blocked);
	/* The live value is shown the way SHOW prints it; the new one as written. */
	assert_string_equal(changes(a), "work_mem: 4MB -> 8MB\n");
	assert_string_equal(a->reason, "parameter work_mem differs from the topology");
	a = act(p, "main/pg1/reload");
	assert_int_equal(a->impact, IMPACT_RELOAD);
	assert_string_equal(deps(a), "main/pg1/config");
	assert_string_equal(a->payload.sql, "SELECT pg_reload_conf()");
	assert_string_equal(changes(a), "work_mem: 4MB -> 8MB\n");
	assert_int_equal(plan_count_impact(p, IMPACT_RELOAD), 6);
	assert_int_equal(plan_count_impact(p, IMPACT_RESTART), 0);
	text = text_of(p);
	assert_non_null(strstr(text, "6 actions: 6 reload, 0 restart, 0 blocked\n"));
	free(text);
	plan_free(p);
	obs_free(o);
	topology_free(have);
	topology_free(want);
}

static void test_restart_needs_permission(void **state)
{
	PgcTopology *have = topo(NULL, NULL, NULL);
	PgcTopology *want = topo(NULL, NULL, NULL);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcObserved *o;
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	set_setting(want, NULL, "shared_buffers", "64MB");
	p = plan_against(have, want, &o, &pol);
	/* Files first, each reloaded so that PostgreSQL records the pending
	 * restart the policy blocks, then the rolling restart: replicas one at
	 * a time, the primary last. */
	assert_string_equal(ids(p), "main/pg1/config\n"
				    "main/pg1/reload\n"
				    "main/pg2/config\n"
				    "main/pg2/reload\n"
				    "main/pg3/config\n"
				    "main/pg3/reload\n"
				    "main/pg2/restart\n"
				    "main/pg3/restart\n"
				    "main/pg1/restart\n");
	a = act(p, "main/pg1/config");
	assert_int_equal(a->impact, IMPACT_RESTART);
	assert_false(a->blocked);
	assert_string_equal(changes(a), "shared_buffers: 32MB -> 64MB\n");
	a = act(p, "main/pg1/reload");
	assert_int_equal(a->impact, IMPACT_RELOAD);
	assert_false(a->blocked);
	assert_string_equal(a->reason, "load the changed configuration, so that PostgreSQL records "
				       "the restart it needs");
	assert_string_equal(changes(a), "");
	a = act(p, "main/pg2/restart");
	assert_int_equal(a->impact, IMPACT_RESTART);
	assert_string_equal(a->reason, "shared_buffers takes effect at a restart");
	assert_string_equal(deps(a), "main/pg2/config");
	assert_true(a->blocked);
	assert_string_equal(a->blocked_reason, "restarts need --allow-restart (cluster \"main\" has "
					       "maintenance.restart: never)");
	assert_string_equal(deps(act(p, "main/pg3/restart")), "main/pg2/restart, main/pg3/config");
	assert_string_equal(deps(act(p, "main/pg1/restart")), "main/pg3/restart, main/pg1/config");
	assert_int_equal(plan_count_blocked(p), 3);
	assert_int_equal(plan_count_impact(p, IMPACT_RESTART), 6);
	plan_free(p);
	obs_free(o);

	pol.allow_restart = true;
	p = plan_against(have, want, &o, &pol);
	assert_int_equal(p->n_actions, 6);
	assert_int_equal(plan_count_blocked(p), 0);
	assert_null(act(p, "main/pg1/restart")->blocked_reason);
	plan_free(p);
	obs_free(o);
	topology_free(have);
	topology_free(want);
}

static void test_maintenance_window_policy(void **state)
{
	const char *win = "    maintenance: {restart: window, window: \"Sun 02:00-04:00 UTC\"}\n";
	PgcTopology *have = topo(NULL, NULL, win);
	PgcTopology *want = topo("      max_worker_processes: 16\n", NULL, win);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcObserved *o;
	PgcPlan *p;

	(void)state;
	p = plan_against(have, want, &o, &pol);
	assert_int_equal(plan_count_impact(p, IMPACT_RESTART), 6);
	assert_int_equal(plan_count_blocked(p), 0);
	plan_free(p);
	obs_free(o);

	pol.now = SUN_0500_UTC;
	p = plan_against(have, want, &o, &pol);
	assert_int_equal(plan_count_blocked(p), 3);
	assert_string_equal(act(p, "main/pg1/restart")->blocked_reason,
			    "outside the maintenance window \"Sun 02:00-04:00 UTC\"; run with "
			    "--allow-restart to restart now, or apply during the window");
	plan_free(p);
	obs_free(o);
	topology_free(have);
	topology_free(want);
}

static void test_window_open(void **state)
{
	PgcMaintenance m = {.restart = RESTART_WINDOW, .days_mask = 1u << 0, .start_min = 120,
			    .end_min = 240, .tz = "UTC"};

	(void)state;
	assert_true(maintenance_window_open(&m, SUN_0300_UTC));
	assert_false(maintenance_window_open(&m, SUN_0500_UTC));
	assert_false(maintenance_window_open(&m, SUN_0300_UTC + 7 * 3600)); /* Sun 10:00 */
	assert_false(maintenance_window_open(&m, SUN_0300_UTC + 86400));    /* Mon 03:00 */
	assert_true(maintenance_window_open(&m, SUN_0300_UTC - 3600));      /* 02:00 is in */
	assert_false(maintenance_window_open(&m, SUN_0300_UTC + 3600));     /* 04:00 is out */

	/* Sat 23:00-01:00: Saturday evening and the small hours of Sunday. */
	m.days_mask = 1u << 6;
	m.start_min = 23 * 60;
	m.end_min = 60;
	assert_true(maintenance_window_open(&m, (time_t)1795908600));  /* Sat 23:30 */
	assert_true(maintenance_window_open(&m, (time_t)1795912200));  /* Sun 00:30 */
	assert_false(maintenance_window_open(&m, (time_t)1795915800)); /* Sun 01:30 */
	assert_false(maintenance_window_open(&m, (time_t)1795998600)); /* Mon 00:30 */

	/* Paris: UTC+1 in November, UTC+2 in July; the process's TZ is left as it was. */
	setenv("TZ", "America/New_York", 1);
	m.days_mask = 1u << 0;
	m.start_min = 120;
	m.end_min = 240;
	m.tz = "Europe/Paris";
	assert_true(maintenance_window_open(&m, (time_t)1795915800));  /* 01:30 UTC = 02:30 */
	assert_false(maintenance_window_open(&m, (time_t)1795923000)); /* 03:30 UTC = 04:30 */
	assert_true(maintenance_window_open(&m, (time_t)1783211400));  /* Jul 00:30 UTC = 02:30 */
	assert_false(maintenance_window_open(&m, (time_t)1783218600)); /* Jul 02:30 UTC = 04:30 */
	assert_string_equal(getenv("TZ"), "America/New_York");
	unsetenv("TZ");

	m.restart = RESTART_ALWAYS;
	assert_true(maintenance_window_open(&m, SUN_0500_UTC));
	m.restart = RESTART_NEVER;
	assert_false(maintenance_window_open(&m, SUN_0300_UTC));
	assert_false(maintenance_window_open(NULL, SUN_0300_UTC));
}

/* Synchronous replication is switched on only once enough standbys stream. */
static void test_sync_waits_for_standbys(void **state)
{
	PgcTopology *have = topo(NULL, NULL, NULL);
	PgcTopology *want = topo(NULL, NULL,
				 "      synchronous: {method: any, count: 1}\n"
				 "    maintenance: {restart: never}\n");
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcObserved *o;
	PgcObsNode *pg1;
	PgcPlan *p;

	(void)state;
	p = plan_against(have, want, &o, &pol);
	/* No standby streams yet: writes would wait for nobody. */
	assert_null(plan_find_action(p, "main/pg1/config"));
	plan_free(p);

	pg1 = onode(o, "pg1");
	pg1->replicas = arena_calloc(o->arena, 1, sizeof(PgcObsReplica));
	pg1->replicas[0].application_name = "pg2";
	pg1->replicas[0].state = "streaming";
	pg1->n_replicas = 1;
	p = plan_build(want, o, &pol);
	assert_string_equal(changes(act(p, "main/pg1/config")),
			    "synchronous_standby_names: (unset) -> ANY 1 (\"pg2\", \"pg3\")\n");
	assert_non_null(plan_find_action(p, "main/pg1/reload"));
	plan_free(p);
	obs_free(o);

	/* Once in its file, it stays while the primary cannot be asked (down or not answering). */
	o = obs_converged(want);
	pg1 = onode(o, "pg1");
	assert_non_null(strstr(pg1->managed_conf, "synchronous_standby_names = 'ANY 1 (\"pg2\", \"pg3\")'"));
	pg1->reachable = false;
	pg1->n_settings = 0;
	p = plan_build(want, o, &pol);
	assert_string_equal(ids(p), "");
	plan_free(p);
	pg1->postmaster_alive = false;
	p = plan_build(want, o, &pol);
	assert_string_equal(ids(p), "main/pg1/start\n");
	plan_free(p);
	obs_free(o);
	topology_free(have);
	topology_free(want);
}

static void test_raise_standbys_first(void **state)
{
	PgcTopology *have = topo(NULL, NULL, NULL);
	PgcTopology *want = topo(NULL, NULL, NULL);
	PgcPolicy pol = policy_at(SUN_0300_UTC, true);
	PgcObserved *o;
	PgcPlan *p;
	size_t i;

	(void)state;
	set_setting(want, NULL, "max_connections", "200");
	p = plan_against(have, want, &o, &pol);
	assert_string_equal(ids(p), "main/pg2/config\n"
				    "main/pg3/config\n"
				    "main/pg2/restart\n"
				    "main/pg3/restart\n"
				    "main/pg1/config\n"
				    "main/pg1/restart\n");
	for (i = 0; i < p->n_actions; i++)
		assert_string_equal(p->actions[i].phase, "raise-standbys-first");
	assert_string_equal(changes(act(p, "main/pg1/config")), "max_connections: 100 -> 200\n");
	/* The primary's file waits until every standby restarted with the new value. */
	assert_string_equal(deps(act(p, "main/pg1/config")), "main/pg3/restart");
	assert_string_equal(deps(act(p, "main/pg1/restart")), "main/pg3/restart, main/pg1/config");
	plan_free(p);
	obs_free(o);
	topology_free(have);
	topology_free(want);
}

static void test_lower_primary_first(void **state)
{
	PgcTopology *have = topo(NULL, NULL, NULL);
	PgcTopology *want = topo(NULL, NULL, NULL);
	PgcPolicy pol = policy_at(SUN_0300_UTC, true);
	PgcObserved *o;
	PgcPlan *p;
	size_t i;

	(void)state;
	set_setting(have, NULL, "max_connections", "200");
	p = plan_against(have, want, &o, &pol);
	assert_string_equal(ids(p), "main/pg1/config\n"
				    "main/pg1/restart\n"
				    "main/pg2/config\n"
				    "main/pg2/restart\n"
				    "main/pg3/config\n"
				    "main/pg3/restart\n");
	for (i = 0; i < p->n_actions; i++)
		assert_string_equal(p->actions[i].phase, "lower-primary-first");
	assert_string_equal(changes(act(p, "main/pg2/config")), "max_connections: 200 -> 100\n");
	assert_string_equal(deps(act(p, "main/pg2/config")), "main/pg1/restart");
	assert_string_equal(deps(act(p, "main/pg3/config")), "main/pg1/restart");
	assert_string_equal(deps(act(p, "main/pg3/restart")), "main/pg2/restart, main/pg3/config");
	plan_free(p);
	obs_free(o);
	topology_free(have);
	topology_free(want);
}

/* A raise and a lower at once: the raise now (standbys first), the lower on the next run. */
static void test_raise_and_lower_split(void **state)
{
	PgcTopology *have = topo("      max_wal_senders: 10\n", NULL, NULL);
	PgcTopology *want = topo("      max_wal_senders: 10\n", NULL, NULL);
	PgcPolicy pol = policy_at(SUN_0300_UTC, true);
	PgcObserved *o, *o2;
	PgcPlan *p, *p2;
	const PgcAction *a;
	size_t i;

	(void)state;
	set_setting(want, NULL, "max_connections", "200");
	set_setting(want, NULL, "max_wal_senders", "5");
	p = plan_against(have, want, &o, &pol);
	assert_string_equal(ids(p), "main/pg2/config\n"
				    "main/pg3/config\n"
				    "main/pg2/restart\n"
				    "main/pg3/restart\n"
				    "main/pg1/config\n"
				    "main/pg1/restart\n");
	a = act(p, "main/pg1/config");
	assert_string_equal(changes(a), "max_connections: 100 -> 200\n");
	assert_string_equal(a->reason, "parameter max_connections differs from the topology; lowering "
				       "max_wal_senders waits for the next run, once the raise reached "
				       "every standby");
	assert_non_null(strstr(a->payload.content, "max_wal_senders = '10'\n"));
	assert_non_null(strstr(a->payload.content, "max_connections = '200'\n"));

	/* Next run, once the raise is applied: the lower, primary first. */
	for (i = 0; i < have->clusters[0].n_nodes; i++) {
		set_setting(have, NULL, "max_connections", "200");
	}
	p2 = plan_against(have, want, &o2, &pol);
	assert_string_equal(ids(p2), "main/pg1/config\n"
				     "main/pg1/restart\n"
				     "main/pg2/config\n"
				     "main/pg2/restart\n"
				     "main/pg3/config\n"
				     "main/pg3/restart\n");
	assert_string_equal(changes(act(p2, "main/pg1/config")), "max_wal_senders: 10 -> 5\n");
	assert_string_equal(act(p2, "main/pg1/config")->phase, "lower-primary-first");
	plan_free(p2);
	obs_free(o2);
	plan_free(p);
	obs_free(o);
	topology_free(have);
	topology_free(want);
}

static void test_cascade_order(void **state)
{
	PgcTopology *t = topo(NULL, ", replicate_from: pg2", NULL);
	PgcObserved *o = obs_empty(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, true);
	PgcPlan *p = plan_build(t, o, &pol);
	PgcTopology *want;
	const PgcAction *a;

	(void)state;
	assert_string_equal(ids(p), "main/pg1/initdb\n"
				    "main/pg1/config\n"
				    "main/pg1/hba\n"
				    "main/pg1/start\n"
				    "main/pg1/create-role:replicator\n"
				    "main/pg1/create-slot:pg2\n"
				    "main/pg2/clone\n"
				    "main/pg2/config\n"
				    "main/pg2/passfile\n"
				    "main/pg2/hba\n"
				    "main/pg2/start\n"
				    "main/pg2/create-slot:pg3\n"
				    "main/pg3/clone\n"
				    "main/pg3/config\n"
				    "main/pg3/passfile\n"
				    "main/pg3/hba\n"
				    "main/pg3/start\n"
				    "main/pg1/create-role:app\n"
				    "main/pg1/create-role:readers\n"
				    "main/pg1/create-role:reporting\n"
				    "main/pg1/grant-role:readers>reporting\n"
				    "main/pg1/create-database:appdb\n"
				    "main/pg1/create-extension:appdb.pgcrypto\n");
	/* pg3 copies pg2, once pg2 is up; its slot lives on pg2. */
	assert_string_equal(deps(act(p, "main/pg2/create-slot:pg3")), "main/pg2/start");
	a = act(p, "main/pg3/clone");
	assert_string_equal(deps(a), "main/pg2/create-slot:pg3, main/pg2/start, "
				     "main/pg1/create-role:replicator");
	assert_string_equal(params(a), "/usr/lib/postgresql/15/bin/pg_basebackup -D /srv/pgc/data/pg3 "
				       "-h 127.0.0.1 -p 25433 -U replicator -X stream -c fast "
				       "-S pg3 --no-password");
	assert_non_null(strstr(act(p, "main/pg3/config")->payload.content,
			       "primary_conninfo = 'host=127.0.0.1 port=25433 user=replicator "
			       "application_name=pg3 passfile=''/srv/pgc/data/.pg3.pgconverge.pgpass'''\n"));
	assert_string_equal(deps(act(p, "main/pg3/start")), "main/pg3/clone, main/pg3/config, "
							    "main/pg3/hba, main/pg3/passfile, "
							    "main/pg2/start");
	plan_free(p);
	obs_free(o);

	/* Rolling restart: the upstream replica before its cascaded one, the primary last. */
	want = topo(NULL, ", replicate_from: pg2", NULL);
	set_setting(want, NULL, "shared_buffers", "64MB");
	p = plan_against(t, want, &o, &pol);
	assert_string_equal(ids(p), "main/pg1/config\n"
				    "main/pg2/config\n"
				    "main/pg3/config\n"
				    "main/pg2/restart\n"
				    "main/pg3/restart\n"
				    "main/pg1/restart\n");
	plan_free(p);
	obs_free(o);
	topology_free(want);
	topology_free(t);
}

static void test_alter_system_drift(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcObsNode *n = onode(o, "pg1");
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	n->n_auto_conf = 2;
	n->auto_conf = arena_calloc(o->arena, 2, sizeof(PgcObsAutoConf));
	n->auto_conf[0] = (PgcObsAutoConf){"work_mem", "64MB"};
	n->auto_conf[1] = (PgcObsAutoConf){"log_statement", "all"};
	set_live(o, n, "work_mem", "65536", "/srv/pgc/data/pg1/postgresql.auto.conf");
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/reset-alter-system:work_mem\n"
				    "main/pg1/reload\n");
	a = act(p, "main/pg1/reset-alter-system:work_mem");
	assert_string_equal(a->reason, "work_mem is set by ALTER SYSTEM, which overrides the topology");
	assert_int_equal(a->impact, IMPACT_RELOAD);
	assert_string_equal(a->payload.sql, "ALTER SYSTEM RESET work_mem");
	assert_string_equal(a->payload.target, "work_mem");
	assert_string_equal(changes(a), "work_mem: 64MB -> 4MB\n");
	assert_string_equal(deps(act(p, "main/pg1/reload")), "main/pg1/reset-alter-system:work_mem");
	/* A parameter the topology leaves alone is reported, not reset. */
	assert_int_equal(p->n_orphans, 1);
	assert_string_equal(p->orphans[0].kind, "alter-system");
	assert_string_equal(p->orphans[0].node, "pg1");
	assert_string_equal(p->orphans[0].name, "log_statement");
	assert_string_equal(p->orphans[0].message, "log_statement = 'all' is set by ALTER SYSTEM "
						   "(postgresql.auto.conf); pgconverge leaves it in place");
	plan_free(p);

	/* A postmaster parameter: the reset needs a restart. */
	n->auto_conf[0] = (PgcObsAutoConf){"shared_buffers", "1GB"};
	n->n_auto_conf = 1;
	set_live(o, n, "work_mem", "4096", "/srv/pgc/data/pg1/pgconverge.conf");
	osetting(n, "shared_buffers")->pending_restart = true;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/reset-alter-system:shared_buffers\n"
				    "main/pg1/restart\n");
	assert_int_equal(act(p, "main/pg1/reset-alter-system:shared_buffers")->impact, IMPACT_RESTART);
	a = act(p, "main/pg1/restart");
	assert_string_equal(a->reason, "shared_buffers take effect at a restart; waiting already: "
				       "shared_buffers");
	assert_true(a->blocked);
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

static void test_orphans(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcObsNode *n = onode(o, "pg1");
	PgcPlan *p;
	PgcObsRole *roles = arena_calloc(o->arena, n->n_roles + 1, sizeof(PgcObsRole));
	PgcObsDatabase *dbs = arena_calloc(o->arena, n->n_databases + 1, sizeof(PgcObsDatabase));
	PgcObsSlot *slots = arena_calloc(o->arena, n->n_slots + 1, sizeof(PgcObsSlot));
	char *text;

	(void)state;
	memcpy(roles, n->roles, n->n_roles * sizeof(PgcObsRole));
	roles[n->n_roles++] = (PgcObsRole){.name = "legacy", .login = true, .connection_limit = -1,
					   .password_matches = -1};
	n->roles = roles;
	memcpy(dbs, n->databases, n->n_databases * sizeof(PgcObsDatabase));
	dbs[n->n_databases++] = (PgcObsDatabase){.name = "olddb", .owner = "legacy"};
	n->databases = dbs;
	memcpy(slots, n->slots, n->n_slots * sizeof(PgcObsSlot));
	slots[n->n_slots++] = (PgcObsSlot){.slot_name = "old_standby", .slot_type = "physical"};
	n->slots = slots;
	p = plan_build(t, o, &pol);
	assert_int_equal(p->n_actions, 0);
	assert_int_equal(p->n_orphans, 3);
	text = text_of(p);
	assert_string_equal(text,
			    "not in the topology (left in place):\n"
			    "  main/pg1 role \"legacy\": role \"legacy\" exists but is not in the "
			    "topology; pgconverge leaves it in place\n"
			    "  main/pg1 database \"olddb\": database \"olddb\" exists but is not in the "
			    "topology; pgconverge leaves it in place\n"
			    "  main/pg1 slot \"old_standby\": physical replication slot \"old_standby\" on "
			    "\"pg1\" serves no replica of the topology; it holds WAL back until it is "
			    "dropped\n"
			    "no changes: the live state matches the topology\n");
	free(text);
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

/* add_slot - one more slot observed on node. */
static void add_slot(PgcObserved *o, PgcObsNode *n, const char *name, bool active)
{
	PgcObsSlot *slots = arena_calloc(o->arena, n->n_slots + 1, sizeof(PgcObsSlot));

	if (n->n_slots)
		memcpy(slots, n->slots, n->n_slots * sizeof(PgcObsSlot));
	slots[n->n_slots++] = (PgcObsSlot){.slot_name = name, .slot_type = "physical",
					   .active = active, .restart_lsn = "0/3000148"};
	n->slots = slots;
}

/*
 * A slot named after a replica that no longer streams through it (re-pointed,
 * or slots turned off) is dropped after the replica lets go of it; any
 * other unexpected slot is only reported.
 */
static void test_stale_slots(void **state)
{
	PgcTopology *have = topo(NULL, ", replicate_from: pg2", NULL);
	PgcTopology *want = topo(NULL, NULL, NULL);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcObserved *o;
	PgcPlan *p = plan_against(have, want, &o, &pol);
	const PgcAction *a;
	char *text;

	(void)state;
	/* Re-pointing pg3 from pg2 to pg1: its slot on pg2 (in use until the reload) goes after it. */
	assert_string_equal(ids(p), "main/pg1/create-slot:pg3\n"
				    "main/pg3/config\n"
				    "main/pg3/passfile\n"
				    "main/pg3/reload\n"
				    "main/pg2/drop-slot:pg3\n");
	a = act(p, "main/pg2/drop-slot:pg3");
	assert_int_equal(a->kind, ACT_DROP_SLOT);
	assert_string_equal(a->payload.target, "pg3");
	assert_null(a->payload.path);
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_false(a->blocked);
	assert_string_equal(deps(a), "main/pg3/config, main/pg3/reload");
	assert_string_equal(a->reason, "physical slot \"pg3\" on \"pg2\" is named after replica "
				       "\"pg3\", which does not stream from it any more: unused, it "
				       "would hold WAL back on \"pg2\" for ever");
	assert_string_equal(changes(a), "slot \"pg3\": in use (the replica is switching over) -> (unset)\n");
	assert_int_equal(p->n_orphans, 0);
	plan_free(p);
	obs_free(o);

	/* Converged, with slot pg3 left on pg2 by an earlier cascade: unused, dropped. */
	o = obs_converged(want);
	add_slot(o, onode(o, "pg2"), "pg3", false);
	/* An unknown name, and a slot pg2 still in use by pg3 streaming from pg2: reported only. */
	add_slot(o, onode(o, "pg1"), "old_standby", false);
	p = plan_build(want, o, &pol);
	assert_string_equal(ids(p), "main/pg2/drop-slot:pg3\n");
	assert_string_equal(deps(act(p, "main/pg2/drop-slot:pg3")), "");
	assert_int_equal(p->n_orphans, 1);
	assert_string_equal(p->orphans[0].name, "old_standby");
	plan_free(p);

	onode(o, "pg2")->slots[onode(o, "pg2")->n_slots - 1].active = true;
	onode(o, "pg3")->upstream_port = (int)cluster_node(&want->clusters[0], "pg2")->port.v;
	p = plan_build(want, o, &pol);
	assert_int_equal(p->n_actions, 0);
	assert_int_equal(p->n_orphans, 2);
	text = text_of(p);
	assert_non_null(strstr(text, "  main/pg2 slot \"pg3\": physical replication slot \"pg3\" on "
				     "\"pg2\" serves no replica of the topology"));
	free(text);
	plan_free(p);

	/* In use, but pg3 streams from pg1 (its receiver says so): dropped once released. */
	onode(o, "pg3")->upstream_port = (int)cluster_node(&want->clusters[0], "pg1")->port.v;
	p = plan_build(want, o, &pol);
	assert_string_equal(ids(p), "main/pg2/drop-slot:pg3\n");
	plan_free(p);

	/* Unused, but pg3 is down: it may still point at pg2 and need the slot back. Kept. */
	onode(o, "pg2")->slots[onode(o, "pg2")->n_slots - 1].active = false;
	onode(o, "pg3")->reachable = false;
	onode(o, "pg3")->wal_receiver_status = NULL;
	p = plan_build(want, o, &pol);
	assert_null(strstr(ids(p), "drop-slot"));
	assert_int_equal(p->n_orphans, 2);
	plan_free(p);
	obs_free(o);
	topology_free(have);
	topology_free(want);
}

static void test_remote_node(void **state)
{
	PgcTopology *t = topo(NULL, ", host: 10.0.0.13", NULL), *want;
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, true);
	PgcObsNode *n = onode(o, "pg3");
	PgcPlan *p;
	const PgcAction *a;
	const char *why = "node's host \"10.0.0.13\" is not this machine; pgconverge can only "
			  "configure it through SQL";

	(void)state;
	/* What observe knows of a node on another machine: SQL only. */
	n->local = false;
	n->dir_state = DIR_UNKNOWN;
	n->managed_conf = NULL;
	n->hba_conf = NULL;
	n->include_line = false;
	n->postmaster_alive = false;
	n->postmaster_pid = 0;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "");
	plan_free(p);

	/* A drifted setting: shown, blocked, never silently skipped. */
	set_live(o, n, "work_mem", "2048", "/etc/postgresql/postgresql.conf");
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg3/config\n");
	a = act(p, "main/pg3/config");
	assert_true(a->blocked);
	assert_string_equal(a->blocked_reason, why);
	assert_string_equal(changes(a), "work_mem: 2MB -> 4MB\n");
	plan_free(p);

	/* An ALTER SYSTEM override is reset through SQL; the restart it needs is blocked. */
	n->n_auto_conf = 1;
	n->auto_conf = arena_calloc(o->arena, 1, sizeof(PgcObsAutoConf));
	n->auto_conf[0] = (PgcObsAutoConf){"max_connections", "50"};
	set_live(o, n, "max_connections", "50", "/srv/pgc/data/pg3/postgresql.auto.conf");
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg3/reset-alter-system:max_connections\n"
				    "main/pg3/config\n"
				    "main/pg3/restart\n");
	assert_false(act(p, "main/pg3/reset-alter-system:max_connections")->blocked);
	assert_true(act(p, "main/pg3/restart")->blocked);
	assert_string_equal(act(p, "main/pg3/restart")->blocked_reason, why);
	plan_free(p);

	/* A raise the remote standby cannot take: the primary's raise waits behind it. */
	n->n_auto_conf = 0;
	set_live(o, n, "max_connections", "100", "/srv/pgc/data/pg3/pgconverge.conf");
	set_live(o, n, "work_mem", "4096", "/srv/pgc/data/pg3/pgconverge.conf");
	want = topo(NULL, ", host: 10.0.0.13", NULL);
	set_setting(want, NULL, "max_connections", "150");
	p = plan_build(want, o, &pol);
	assert_string_equal(ids(p), "main/pg2/config\n"
				    "main/pg3/config\n"
				    "main/pg2/restart\n"
				    "main/pg3/restart\n"
				    "main/pg1/config\n"
				    "main/pg1/restart\n");
	assert_true(act(p, "main/pg3/config")->blocked);
	assert_true(act(p, "main/pg3/restart")->blocked);
	assert_string_equal(act(p, "main/pg3/restart")->blocked_reason, why);
	assert_false(act(p, "main/pg2/restart")->blocked);
	assert_string_equal(deps(act(p, "main/pg1/config")), "main/pg3/restart");
	plan_free(p);
	topology_free(want);

	/* Not reachable: nothing is known; the start is shown, blocked. */
	n->reachable = false;
	n->conn_error = "connection to server at \"10.0.0.13\", port 25434 failed: timeout expired";
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg3/start\n");
	a = act(p, "main/pg3/start");
	assert_string_equal(a->reason, "the server does not answer: connection to server at "
				       "\"10.0.0.13\", port 25434 failed: timeout expired");
	assert_true(a->blocked);
	assert_string_equal(a->blocked_reason, why);
	plan_free(p);
	obs_free(o);

	/* An empty machine with a remote replica: its clone is blocked, not attempted. */
	o = obs_empty(t);
	n = onode(o, "pg3");
	n->local = false;
	n->dir_state = DIR_UNKNOWN;
	p = plan_build(t, o, &pol);
	a = act(p, "main/pg3/start");
	assert_true(a->blocked);
	assert_string_equal(a->blocked_reason, why);
	assert_null(plan_find_action(p, "main/pg3/clone"));
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

/* topo_coordinated - topo()'s cluster, pg3 on another host, with coordination.etcd. */
static PgcTopology *topo_coordinated(void)
{
	char body[8192], buf[8400];

	snprintf(body, sizeof body, base_yaml, "", ", host: 10.0.0.13",
		 "    maintenance: {restart: never}\n");
	assert_true(strncmp(body, "version: 1\n", 11) == 0);
	snprintf(buf, sizeof buf,
		 "version: 1\ncoordination: {etcd: {endpoints: [\"http://127.0.0.1:2379\"]}}\n%s",
		 body + 11);
	return load_yaml(buf);
}

/*
 * With coordination, what the planner would block as "not this machine" is
 * delegated to that host's agent: not blocked, never run here, and every
 * action says which host carries it out (runs_on) or that the leader does.
 */
static void test_remote_node_coordinated(void **state)
{
	PgcTopology *t = topo_coordinated();
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, true);
	PgcObsNode *n = onode(o, "pg3");
	PgcPlan *p, *q;
	const PgcAction *a;
	char *text, err[256];
	json_t *j, *k;

	(void)state;
	assert_true(t->etcd.set);
	n->local = false;
	n->dir_state = DIR_UNKNOWN;
	n->managed_conf = NULL;
	n->hba_conf = NULL;
	n->include_line = false;
	n->n_auto_conf = 1;
	n->auto_conf = arena_calloc(o->arena, 1, sizeof(PgcObsAutoConf));
	n->auto_conf[0] = (PgcObsAutoConf){"max_connections", "50"};
	set_live(o, n, "max_connections", "50", "/srv/pgc/data/pg3/postgresql.auto.conf");
	set_live(o, n, "work_mem", "2048", "/etc/postgresql/postgresql.conf");
	onode(o, "pg1")->managed_conf = "# edited by hand\n";
	p = plan_build(t, o, &pol);
	assert_true(p->coordinated);
	assert_string_equal(ids(p), "main/pg1/config\n"
				    "main/pg3/reset-alter-system:max_connections\n"
				    "main/pg3/config\n"
				    "main/pg3/restart\n");
	/* SQL on the node: the leader's. */
	a = act(p, "main/pg3/reset-alter-system:max_connections");
	assert_null(a->runs_on);
	assert_false(a->delegated || a->blocked);
	/* Its files and its restart: its own agent's. */
	a = act(p, "main/pg3/restart");
	assert_string_equal(a->runs_on, "10.0.0.13");
	assert_true(a->delegated);
	assert_false(a->blocked);
	assert_true(act(p, "main/pg3/config")->delegated);
	a = act(p, "main/pg1/config");
	assert_string_equal(a->runs_on, "127.0.0.1");
	assert_false(a->delegated);
	assert_int_equal(plan_count_blocked(p), 0);
	assert_int_equal(plan_count_delegated(p), 2);

	text = text_of(p);
	assert_non_null(strstr(text, "           on 127.0.0.1\n"));
	assert_non_null(strstr(text, "           by the leader\n"));
	assert_non_null(strstr(text, "           on 10.0.0.13 (another host's agent carries it out)\n"));
	assert_null(strstr(text, "BLOCKED"));
	assert_non_null(strstr(text, "4 actions: 1 reload, 2 restart, 0 blocked, 2 on other hosts\n"));
	free(text);

	/* JSON: the fields, and a saved plan reads them back. */
	j = plan_to_json(p);
	assert_true(json_is_true(json_object_get(j, "coordinated")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "summary"), "delegated")), 2);
	a = act(p, "main/pg3/restart");
	k = json_array_get(json_object_get(j, "actions"), (size_t)(a - p->actions));
	assert_string_equal(json_string_value(json_object_get(k, "runs_on")), "10.0.0.13");
	assert_true(json_is_true(json_object_get(k, "delegated")));
	k = json_array_get(json_object_get(j, "actions"), 1);
	assert_true(json_is_null(json_object_get(k, "runs_on")));
	q = plan_from_json(j, err, sizeof err);
	assert_non_null(q);
	assert_true(q->coordinated);
	assert_string_equal(plan_find_action(q, "main/pg3/restart")->runs_on, "10.0.0.13");
	assert_true(plan_find_action(q, "main/pg3/restart")->delegated);
	k = plan_to_json(q);
	assert_true(json_equal(j, k));
	json_decref(k);
	json_decref(j);
	plan_free(q);
	plan_free(p);
	obs_free(o);
	topology_free(t);

	/* Without coordination: blocked, and the JSON has no such members. */
	t = topo(NULL, ", host: 10.0.0.13", NULL);
	o = obs_converged(t);
	n = onode(o, "pg3");
	n->local = false;
	n->dir_state = DIR_UNKNOWN;
	n->managed_conf = NULL;
	set_live(o, n, "work_mem", "2048", "/etc/postgresql/postgresql.conf");
	p = plan_build(t, o, &pol);
	a = act(p, "main/pg3/config");
	assert_true(a->blocked);
	assert_false(a->delegated);
	assert_null(a->runs_on);
	j = plan_to_json(p);
	assert_null(json_object_get(j, "coordinated"));
	assert_null(json_object_get(json_object_get(j, "summary"), "delegated"));
	assert_null(json_object_get(json_array_get(json_object_get(j, "actions"), 0), "runs_on"));
	assert_null(json_object_get(json_array_get(json_object_get(j, "actions"), 0), "delegated"));
	text = text_of(p);
	assert_null(strstr(text, "on other hosts"));
	free(text);
	json_decref(j);
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

static void test_roles_drift(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcObsNode *n = onode(o, "pg1");
	PgcPlan *p;
	const PgcAction *a;
	size_t i;

	(void)state;
	for (i = 0; i < n->n_roles; i++) {
		PgcObsRole *r = &n->roles[i];

		if (strcmp(r->name, "app") == 0) {
			r->connection_limit = 10;
			r->createdb = true;
			r->password_matches = 0;
		} else if (strcmp(r->name, "reporting") == 0) {
			r->n_member_of = 0;
		} else if (strcmp(r->name, "replicator") == 0) {
			r->replication = false;
			r->has_password = false;
			r->password_matches = -1;
		}
	}
	for (i = 0; i < n->n_databases; i++)
		if (strcmp(n->databases[i].name, "appdb") == 0) {
			n->databases[i].owner = "postgres";
			n->databases[i].n_extensions = 1;
		}
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/alter-role:replicator\n"
				    "main/pg1/alter-role:app\n"
				    "main/pg1/grant-role:readers>reporting\n"
				    "main/pg1/alter-database:appdb\n"
				    "main/pg1/create-extension:appdb.pgcrypto\n");
	a = act(p, "main/pg1/alter-role:replicator");
	assert_string_equal(a->payload.sql, "ALTER ROLE replicator WITH REPLICATION PASSWORD $1");
	assert_string_equal(changes(a), "replication: off -> on\n"
					"password: (unset) -> {env: REPL_PASSWORD}\n");
	a = act(p, "main/pg1/alter-role:app");
	assert_string_equal(a->reason, "role \"app\" differs from the topology");
	assert_string_equal(a->payload.sql, "ALTER ROLE app WITH NOCREATEDB CONNECTION LIMIT 20 "
					    "PASSWORD $1");
	assert_string_equal(changes(a), "createdb: on -> off\n"
					"connection_limit: 10 -> 20\n"
					"password: (another password) -> {env: APP_PASSWORD}\n");
	assert_int_equal(a->payload.secret.kind, SECRET_ENV);
	assert_string_equal(a->payload.secret.ref, "APP_PASSWORD");
	a = act(p, "main/pg1/alter-database:appdb");
	assert_string_equal(a->payload.sql, "ALTER DATABASE appdb OWNER TO app");
	assert_string_equal(changes(a), "owner: postgres -> app\n");
	/* The database exists: its extension does not wait for anything. */
	assert_string_equal(deps(act(p, "main/pg1/create-extension:appdb.pgcrypto")), "");
	plan_free(p);

	/* A role whose password cannot be checked (-1) but exists is left alone. */
	for (i = 0; i < n->n_roles; i++)
		if (strcmp(n->roles[i].name, "app") == 0) {
			n->roles[i].connection_limit = 20;
			n->roles[i].createdb = false;
			n->roles[i].password_matches = -1;
		}
	p = plan_build(t, o, &pol);
	assert_null(plan_find_action(p, "main/pg1/alter-role:app"));
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

static void test_foreign_data_dir(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_empty(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	onode(o, "pg1")->dir_state = DIR_FOREIGN;
	p = plan_build(t, o, &pol);
	a = &p->actions[0];
	assert_string_equal(a->id, "main/pg1/initdb");
	assert_true(a->blocked);
	assert_string_equal(a->blocked_reason,
			    "data directory \"/srv/pgc/data/pg1\" is not empty and not a PostgreSQL "
			    "data directory; pgconverge never touches it: empty it or change data_dir");
	assert_int_equal(a->payload.n_params, 0);
	/* Nothing else touches pg1; the replicas wait on the blocked action. */
	assert_null(plan_find_action(p, "main/pg1/config"));
	assert_null(plan_find_action(p, "main/pg1/start"));
	assert_null(plan_find_action(p, "main/pg1/create-role:app"));
	assert_string_equal(deps(act(p, "main/pg2/clone")), "main/pg1/initdb");
	assert_int_equal(plan_count_blocked(p), 1);
	plan_free(p);

	/* A folder that cannot be looked at: its start is shown, blocked, with the reason. */
	onode(o, "pg1")->dir_state = DIR_ABSENT;
	onode(o, "pg3")->dir_state = DIR_UNKNOWN;
	onode(o, "pg3")->dir_error = "cannot open \"/srv/pgc/data/pg3\": Permission denied";
	p = plan_build(t, o, &pol);
	a = act(p, "main/pg3/start");
	assert_true(a->blocked);
	assert_string_equal(a->blocked_reason, "data directory \"/srv/pgc/data/pg3\" cannot be "
					       "inspected: cannot open \"/srv/pgc/data/pg3\": "
					       "Permission denied");
	assert_null(plan_find_action(p, "main/pg3/clone"));
	assert_null(plan_find_action(p, "main/pg1/create-slot:pg3"));
	assert_non_null(plan_find_action(p, "main/pg2/clone"));
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

static void test_down_and_pending(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, true);
	PgcObsNode *n2 = onode(o, "pg2"), *n3 = onode(o, "pg3");
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	n2->postmaster_alive = false;
	n2->postmaster_pid = 0;
	n2->reachable = false;
	osetting(n3, "max_connections")->pending_restart = true;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg2/start\n"
				    "main/pg3/restart\n");
	a = act(p, "main/pg2/start");
	assert_string_equal(a->reason, "the server is not running");
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_string_equal(deps(a), "");
	a = act(p, "main/pg3/restart");
	assert_string_equal(a->reason, "changes wait for a restart (pending_restart): max_connections");
	assert_false(a->blocked);
	plan_free(p);

	/* A missing include line: the file is right, the server does not read it. */
	n2->postmaster_alive = true;
	n2->reachable = true;
	osetting(n3, "max_connections")->pending_restart = false;
	onode(o, "pg1")->include_line = false;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/config\n");
	a = act(p, "main/pg1/config");
	assert_string_equal(a->reason, "postgresql.conf does not include pgconverge.conf");
	assert_int_equal(a->impact, IMPACT_NONE);
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

/* pending - a recovery_target_time row as a restore leaves it: read from the file, since removed. */
static void pending_target(PgcObsNode *n)
{
	n->settings[n->n_settings++] = (PgcObsSetting){
	    .name = "recovery_target_time", .setting = "2026-11-26 10:00:00+00",
	    .source = "configuration file", .sourcefile = "/srv/pgc/data/pgconverge.conf",
	    .context = "postmaster", .pending_restart = true};
}

static void test_inert_pending_restart(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, true);
	PgcPlan *p;

	(void)state;
	/* On a primary (a restored one, promoted): never used again, no restart. */
	pending_target(onode(o, "pg1"));
	p = plan_build(t, o, &pol);
	assert_int_equal(p->n_actions, 0);
	plan_free(p);
	/* On a standby, in recovery, a restart is what applies it. */
	pending_target(onode(o, "pg2"));
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg2/restart\n");
	assert_string_equal(act(p, "main/pg2/restart")->reason,
			    "changes wait for a restart (pending_restart): recovery_target_time");
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

static void test_hba_and_slot_drift(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcObsNode *n1 = onode(o, "pg1");
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	n1->hba_conf = arena_printf(o->arena, "%shost all all 0.0.0.0/0 trust\n", n1->hba_conf);
	n1->n_slots = 1; /* pg3's slot was dropped */
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/hba\n"
				    "main/pg1/reload\n"
				    "main/pg1/create-slot:pg3\n");
	a = act(p, "main/pg1/hba");
	assert_string_equal(a->reason, "pg_hba.conf differs from the topology");
	assert_int_equal(a->impact, IMPACT_RELOAD);
	assert_string_equal(changes(a), "rule: host all all 0.0.0.0/0 trust -> (unset)\n");
	assert_string_equal(deps(act(p, "main/pg1/reload")), "main/pg1/hba");
	assert_string_equal(act(p, "main/pg1/create-slot:pg3")->reason,
			    "replica \"pg3\" streams through physical slot \"pg3\"");
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

static void test_fingerprint(void **state)
{
	PgcArena *a = arena_new();
	PgcObsNode n = {.system_identifier = 42, .timeline = 3, .managed_conf = "a", .hba_conf = "b"};

	(void)state;
	assert_string_equal(observe_node_fingerprint(a, &n), "42:3:59b271ae1bbcb1d31d41929817f4b16fb439eb4f"
						     "31520b5ad1d5ce98920a7138");
	n.managed_conf = n.hba_conf = NULL;
	n.system_identifier = 0;
	n.timeline = 0;
	assert_string_equal(observe_node_fingerprint(a, &n), "0:0:6e340b9cffb37a989ca544e6bb780a2c78901d3fb"
						     "33738768511a30617afa01d");
	arena_free(a);
}

static void test_offline_plan(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcPlan *p = plan_build(t, NULL, &pol);

	(void)state;
	assert_true(p->offline);
	assert_int_equal(p->n_fp, 0);
	assert_int_equal(p->n_actions, 23);
	assert_string_equal(p->actions[0].id, "main/pg1/initdb");
	assert_string_equal(p->source_path, "test.yaml");
	plan_free(p);

	pol.only_cluster = "other";
	p = plan_build(t, NULL, &pol);
	assert_int_equal(p->n_actions, 0);
	plan_free(p);
	topology_free(t);
}

static void test_json_round_trip(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcTopology *want = topo(NULL, NULL, NULL);
	PgcObserved *o;
	PgcPolicy pol = policy_at(SUN_0500_UTC, false);
	PgcPlan *p, *q;
	json_t *j, *k;
	char err[256];
	char *s1, *s2;

	(void)state;
	set_setting(want, NULL, "max_connections", "150");
	set_setting(want, NULL, "work_mem", "16MB");
	p = plan_against(t, want, &o, &pol);
	/* The primary's raise waits for the blocked standby restarts; its work_mem does not. */
	assert_string_equal(ids(p), "main/pg1/config\n"
				    "main/pg1/reload\n"
				    "main/pg2/config\n"
				    "main/pg2/reload\n"
				    "main/pg3/config\n"
				    "main/pg3/reload\n"
				    "main/pg2/restart\n"
				    "main/pg3/restart\n");
	p->source_digest = "sha256:0123";
	j = plan_to_json(p);
	q = plan_from_json(j, err, sizeof err);
	if (q == NULL)
		fail_msg("plan_from_json: %s", err);
	k = plan_to_json(q);
	s1 = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(1));
	s2 = json_dumps(k, JSON_SORT_KEYS | JSON_INDENT(1));
	assert_string_equal(s1, s2);
	assert_true(json_equal(j, k));
	assert_int_equal(json_integer_value(json_object_get(j, "format_version")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "source"), "digest")),
			    "sha256:0123");
	assert_int_equal(json_object_size(json_object_get(j, "fingerprints")), 3);
	assert_int_equal(q->n_actions, p->n_actions);
	assert_true(q->actions[6].blocked);
	assert_false(q->actions[3].blocked);
	assert_null(q->actions[0].phase);
	assert_string_equal(q->actions[2].phase, "raise-standbys-first");
	free(s1);
	free(s2);
	json_decref(k);
	json_decref(j);
	plan_free(q);
	plan_free(p);
	obs_free(o);

	/* An empty-machine plan carries secrets' references and argv: both survive. */
	o = obs_empty(t);
	p = plan_build(t, o, &pol);
	j = plan_to_json(p);
	q = plan_from_json(j, err, sizeof err);
	assert_non_null(q);
	k = plan_to_json(q);
	assert_true(json_equal(j, k));
	assert_int_equal(q->actions[4].payload.secret.kind, SECRET_ENV);
	assert_string_equal(q->actions[4].payload.secret.ref, "REPL_PASSWORD");
	json_decref(k);
	json_decref(j);
	plan_free(q);
	plan_free(p);
	obs_free(o);
	topology_free(want);
	topology_free(t);
}

/* ---- replication: the passfile follows the secret; a replica that streams from nobody ---- */

static void test_passfile_follows_secret(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcObsRole *repl = NULL;
	PgcPlan *p;
	const PgcAction *a;
	size_t i;

	(void)state;
	/* Converged, passfiles included. */
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "");
	plan_free(p);

	/* replication.password changed: the role and every replica's passfile. */
	for (i = 0; i < onode(o, "pg1")->n_roles; i++)
		if (strcmp(onode(o, "pg1")->roles[i].name, "replicator") == 0)
			repl = &onode(o, "pg1")->roles[i];
	assert_non_null(repl);
	repl->password_matches = 0;
	onode(o, "pg2")->passfile.password = PASSFILE_PW_DIFFERS;
	onode(o, "pg3")->passfile.password = PASSFILE_PW_DIFFERS;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/alter-role:replicator\n"
				    "main/pg2/passfile\n"
				    "main/pg3/passfile\n");
	a = act(p, "main/pg2/passfile");
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_false(a->blocked);
	/* The role first; no secret in the plan, only its reference. */
	assert_string_equal(deps(a), "main/pg1/alter-role:replicator");
	assert_string_equal(changes(a), "password: (another password) -> {env: REPL_PASSWORD}\n");
	assert_string_equal(a->reason, "the passfile /srv/pgc/data/.pg2.pgconverge.pgpass is not "
				       "the topology's: replica \"pg2\" keeps its current connection "
				       "to \"pg1\", but would fail to log in at its next reconnect");
	assert_string_equal(a->payload.path, "/srv/pgc/data/.pg2.pgconverge.pgpass");
	assert_string_equal(a->payload.upstream, "pg1");
	assert_string_equal(a->payload.target, "replicator");
	assert_int_equal(a->payload.secret.kind, SECRET_ENV);
	assert_string_equal(a->payload.secret.ref, "REPL_PASSWORD");
	assert_null(a->payload.content);
	plan_free(p);

	/* The role already has it (a run stopped half way): the files alone. */
	repl->password_matches = 1;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg2/passfile\nmain/pg3/passfile\n");
	plan_free(p);

	/* The secret is not on this host: nothing can be compared, nothing is planned. */
	onode(o, "pg2")->passfile.password = PASSFILE_PW_UNKNOWN;
	onode(o, "pg3")->passfile.password = PASSFILE_PW_UNKNOWN;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "");
	plan_free(p);

	/* Another upstream or user in the file, or no file at all. */
	onode(o, "pg2")->passfile.port = "25999";
	onode(o, "pg3")->passfile = (PgcObsPassfile){.read = true, .password = PASSFILE_PW_DIFFERS};
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg2/passfile\nmain/pg3/passfile\n");
	assert_string_equal(changes(act(p, "main/pg2/passfile")),
			    "entry: 127.0.0.1:25999:*:replicator -> 127.0.0.1:25432:*:replicator\n");
	a = act(p, "main/pg3/passfile");
	assert_string_equal(changes(a), "entry: (unset) -> 127.0.0.1:25432:*:replicator\n"
					 "password: (unset) -> {env: REPL_PASSWORD}\n");
	assert_string_equal(a->reason, "the replication passfile "
				       "/srv/pgc/data/.pg3.pgconverge.pgpass is missing: replica "
				       "\"pg3\" cannot log in to \"pg1\"");
	plan_free(p);

	/* Not read (another machine's, or unreadable): not compared. */
	onode(o, "pg2")->passfile.read = false;
	onode(o, "pg3")->passfile.read = false;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "");
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

static void test_replica_not_streaming(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, true);
	PgcObsNode *pg1 = onode(o, "pg1"), *pg2 = onode(o, "pg2");
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	/* Reconnecting right now: not drift. */
	pg2->wal_receiver_status = "starting";
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "");
	plan_free(p);

	/* No WAL receiver seen, but its upstream streams to it: observed in between. */
	pg2->wal_receiver_status = NULL;
	pg1->replicas = arena_calloc(o->arena, 1, sizeof(PgcObsReplica));
	pg1->replicas[0] = (PgcObsReplica){.application_name = "pg2", .state = "streaming"};
	pg1->n_replicas = 1;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "");
	plan_free(p);
	assert_true(plan_replica_streams(pg2, pg1, "pg2"));

	/* Neither side streams: drift, checked after the repairs. */
	pg1->n_replicas = 0;
	assert_false(plan_replica_streams(pg2, pg1, "pg2"));
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg2/start\n");
	a = act(p, "main/pg2/start");
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_false(a->blocked);
	assert_string_equal(changes(a), "streaming: no -> yes\n");
	assert_string_equal(a->reason, "replica \"pg2\" runs but does not stream from \"pg1\" (no "
				       "WAL receiver; \"pg1\" has no walsender for it): check that it "
				       "streams again, waiting for its WAL receiver to reconnect");
	plan_free(p);

	/* Its upstream does not answer and nothing here starts it (a primary that
	 * just died: the failover decision's business): no check that would wait
	 * for it and hold up the loop. */
	pg1->reachable = false;
	p = plan_build(t, o, &pol);
	assert_null(strstr(ids(p), "main/pg2/start"));
	plan_free(p);
	pg1->reachable = true;

	/* Its passfile holds another password: rewritten first, then the check. */
	pg2->passfile.password = PASSFILE_PW_DIFFERS;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg2/passfile\nmain/pg2/start\n");
	assert_string_equal(act(p, "main/pg2/passfile")->reason,
			    "replica \"pg2\" does not stream from \"pg1\": its passfile "
			    "/srv/pgc/data/.pg2.pgconverge.pgpass is not the topology's");
	assert_string_equal(deps(act(p, "main/pg2/start")), "main/pg2/passfile");
	plan_free(p);
	pg2->passfile.password = PASSFILE_PW_MATCHES;

	/* A restart of it waits for streaming itself: no separate check. */
	set_setting(t, "pg2", "shared_buffers", "64MB");
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg2/config\nmain/pg2/restart\n");
	plan_free(p);
	set_setting(t, "pg2", "shared_buffers", "32MB");

	/* A standby in archive recovery (a restore), or not answering: nothing to say. */
	pg2->recovery_signal = true;
	assert_true(plan_replica_streams(pg2, pg1, "pg2"));
	pg2->recovery_signal = false;
	pg2->reachable = false;
	assert_true(plan_replica_streams(pg2, pg1, "pg2"));
	obs_free(o);
	topology_free(t);
}

/*
 * A reload-safe change does not wait behind a raise whose standby restarts
 * the policy blocks: the primary's file gets work_mem now and keeps
 * max_connections at its live value until the raise may run.
 */
static void test_raise_keeps_reloadable_changes(void **state)
{
	PgcTopology *have = topo(NULL, NULL, NULL);
	PgcTopology *want = topo(NULL, NULL, NULL);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcObserved *o;
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	set_setting(want, NULL, "max_connections", "200");
	set_setting(want, NULL, "work_mem", "8MB");
	p = plan_against(have, want, &o, &pol);
	assert_string_equal(ids(p), "main/pg1/config\n"
				    "main/pg1/reload\n"
				    "main/pg2/config\n"
				    "main/pg2/reload\n"
				    "main/pg3/config\n"
				    "main/pg3/reload\n"
				    "main/pg2/restart\n"
				    "main/pg3/restart\n");
	a = act(p, "main/pg1/config");
	assert_int_equal(a->impact, IMPACT_RELOAD);
	assert_false(a->blocked);
	assert_null(a->phase);
	assert_string_equal(deps(a), "");
	assert_string_equal(changes(a), "work_mem: 4MB -> 8MB\n");
	assert_non_null(strstr(a->payload.content, "work_mem = '8MB'\n"));
	assert_non_null(strstr(a->payload.content, "max_connections = '100'\n"));
	assert_string_equal(a->reason, "parameter work_mem differs from the topology; raising "
				       "max_connections waits until every standby restarted with it, "
				       "blocked for now: restarts need --allow-restart (cluster \"main\" "
				       "has maintenance.restart: never)");
	a = act(p, "main/pg1/reload");
	assert_false(a->blocked);
	assert_string_equal(deps(a), "main/pg1/config");
	assert_string_equal(changes(a), "work_mem: 4MB -> 8MB\n");
	/* The standbys take the raise (and work_mem) now, their restarts wait for permission. */
	a = act(p, "main/pg2/config");
	assert_string_equal(a->phase, "raise-standbys-first");
	assert_string_equal(changes(a), "max_connections: 100 -> 200\nwork_mem: 4MB -> 8MB\n");
	assert_true(act(p, "main/pg2/restart")->blocked);
	assert_null(plan_find_action(p, "main/pg1/restart"));
	plan_free(p);
	obs_free(o);

	/* Restarts allowed: the primary's whole file after the standbys' restarts, as before. */
	pol.allow_restart = true;
	p = plan_against(have, want, &o, &pol);
	assert_string_equal(ids(p), "main/pg2/config\n"
				    "main/pg2/reload\n"
				    "main/pg3/config\n"
				    "main/pg3/reload\n"
				    "main/pg2/restart\n"
				    "main/pg3/restart\n"
				    "main/pg1/config\n"
				    "main/pg1/reload\n"
				    "main/pg1/restart\n");
	assert_string_equal(changes(act(p, "main/pg1/config")),
			    "max_connections: 100 -> 200\nwork_mem: 4MB -> 8MB\n");
	plan_free(p);
	obs_free(o);

	/* Only the raise on the primary: it shows, waiting behind the blocked restarts. */
	pol.allow_restart = false;
	set_setting(want, NULL, "work_mem", "4MB");
	p = plan_against(have, want, &o, &pol);
	assert_string_equal(deps(act(p, "main/pg1/config")), "main/pg3/restart");
	assert_string_equal(changes(act(p, "main/pg1/config")), "max_connections: 100 -> 200\n");
	plan_free(p);
	obs_free(o);
	topology_free(have);
	topology_free(want);
}

/* ---- high availability: reconcile/ha/plan_ha.c ----------------------------------------- */

/*
 * obs_failed_over - every node converged to the cluster as it is after a
 * failover from pg1 to new_primary (failover_topology), on timeline 2.
 */
static PgcObserved *obs_failed_over(const PgcTopology *t, const char *new_primary)
{
	PgcObserved *o = obs_empty(t);
	const PgcCluster *x = failover_topology(o->arena, &t->clusters[0], "pg1", new_primary);
	size_t i;

	for (i = 0; i < x->n_nodes; i++) {
		converge_node(o, x, i);
		o->clusters[0].nodes[i].timeline = 2;
	}
	converge_catalog(o, x);
	return o;
}

/* kill_node - a node whose postmaster died (kill -9): a primary's control file. */
static void kill_node(PgcObsNode *n, unsigned timeline)
{
	n->reachable = false;
	n->postmaster_alive = false;
	n->postmaster_pid = 0;
	n->in_recovery = false;
	n->n_settings = 0;
	n->timeline = timeline;
	n->cluster_state = "in production";
	n->wal_receiver_status = NULL;
}

/* has_conninfo_to - some action's file content points replicas at port. */
static bool has_conninfo_to(const PgcPlan *p, const char *port)
{
	char needle[64];
	size_t i;

	snprintf(needle, sizeof needle, "port=%s ", port);
	for (i = 0; i < p->n_actions; i++)
		if (p->actions[i].payload.content != NULL &&
		    strstr(p->actions[i].payload.content, needle) != NULL)
			return true;
	return false;
}

static void test_ha_plan_follows_live_primary(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_failed_over(t, "pg2");
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcPlan *p;
	const PgcAction *a;
	char *text;

	(void)state;
	/* After a failover to pg2: the file still says pg1. Nothing re-points to pg1. */
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/switchover\n");
	a = act(p, "main/pg1/switchover");
	assert_int_equal(a->kind, ACT_SWITCHOVER);
	assert_int_equal(a->impact, IMPACT_SWITCHOVER);
	assert_string_equal(a->payload.target, "pg1");
	assert_string_equal(a->payload.upstream, "pg2");
	assert_true(a->blocked);
	assert_string_equal(a->blocked_reason,
			    "failover.failback is manual: pgconverge does not move the primary by "
			    "itself; to keep \"pg2\", set 'primary: pg2' in the topology; to switch over "
			    "to \"pg1\", run apply with --allow-switchover");
	assert_string_equal(changes(a), "primary: pg2 -> pg1\n"
					"role of \"pg2\": primary -> replica of \"pg1\"\n"
					"upstream of \"pg3\": pg2 -> pg1\n"
					"slots on \"pg1\": (unset) -> pg2, pg3\n");
	assert_non_null(strstr(a->reason, "'primary:' names \"pg1\" but \"pg2\" is the live primary"));
	assert_non_null(strstr(a->reason, "wait until \"pg1\" replayed its shutdown checkpoint"));
	text = text_of(p);
	assert_non_null(strstr(text, "#1   switchover   [switchover] 'primary:' names \"pg1\""));
	assert_non_null(strstr(text, "BLOCKED: failover.failback is manual"));
	free(text);
	plan_free(p);

	/* --allow-switchover: the switchover alone, the next pass plans the rest. */
	pol.allow_switchover = true;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/switchover\n");
	assert_false(p->actions[0].blocked);
	plan_free(p);

	/* failback: auto follows the maintenance policy. */
	pol.allow_switchover = false;
	t->clusters[0].failover.failback_auto = true;
	p = plan_build(t, o, &pol);
	assert_true(p->actions[0].blocked);
	assert_string_equal(p->actions[0].blocked_reason,
			    "switchovers need --allow-switchover (cluster \"main\" has "
			    "maintenance.restart: never)");
	plan_free(p);
	t->clusters[0].maintenance.restart = RESTART_ALWAYS;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/switchover\n");
	assert_false(p->actions[0].blocked);
	plan_free(p);
	t->clusters[0].maintenance.restart = RESTART_NEVER;
	t->clusters[0].failover.failback_auto = false;

	/* The old primary died and was fenced: it is rejoined, never re-pointed to. */
	kill_node(onode(o, "pg1"), 1);
	onode(o, "pg1")->standby_signal = true;
	onode(o, "pg2")->n_replicas = 1;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/rejoin\n"
				    "main/pg1/switchover\n");
	a = act(p, "main/pg1/rejoin");
	assert_int_equal(a->impact, IMPACT_RESTART);
	assert_false(a->blocked);
	assert_string_equal(a->payload.upstream, "pg2");
	assert_string_equal(a->payload.target, "rewind");
	assert_string_equal(a->reason, "node \"pg1\" is down on timeline 1, behind the primary "
					"\"pg2\" on timeline 2: rejoin it as a replica (pg_rewind when its "
					"history diverged), then start it");
	assert_string_equal(changes(a), "role: down on timeline 1 -> replica of \"pg2\" on timeline 2\n");
	a = act(p, "main/pg1/switchover");
	assert_true(a->blocked);
	assert_string_equal(a->blocked_reason, "\"pg1\" rejoins as a replica first (see its rejoin action)");
	assert_false(has_conninfo_to(p, "25432"));
	plan_free(p);

	/* Killed without fencing (no standby.signal), the cluster down but pg3: pg2 is started, as primary. */
	onode(o, "pg1")->standby_signal = false;
	kill_node(onode(o, "pg2"), 2);
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg2/start\n"
				    "main/pg1/switchover\n");
	a = act(p, "main/pg1/switchover");
	assert_string_equal(a->blocked_reason,
			    "the primary \"pg2\" is not running: the switchover waits until it runs");
	assert_false(has_conninfo_to(p, "25432"));
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

/*
 * With coordination, a switchover to a node on another host is the
 * leader's (runs_on none), not delegated: the agents do each node's part
 * through etcd. The policy and the streaming check hold as on one machine.
 */
static void test_switchover_coordinated(void **state)
{
	PgcTopology *t = topo_coordinated();
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	onode(o, "pg3")->local = false;
	onode(o, "pg1")->local = false;
	t->clusters[0].primary.v = "pg3";
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg3/switchover\n");
	a = act(p, "main/pg3/switchover");
	assert_false(a->delegated);
	assert_null(a->runs_on);
	assert_true(a->blocked);
	assert_non_null(strstr(a->blocked_reason, "--allow-switchover"));
	plan_free(p);

	pol.allow_switchover = true;
	p = plan_build(t, o, &pol);
	a = act(p, "main/pg3/switchover");
	assert_false(a->blocked);
	assert_false(a->delegated);
	assert_null(a->runs_on);
	assert_string_equal(a->payload.upstream, "pg1");
	assert_string_equal(a->payload.target, "pg3");
	plan_free(p);

	/* A target that does not stream waits, on any host. */
	onode(o, "pg3")->wal_receiver_status = "stopping";
	onode(o, "pg1")->n_replicas = 0;
	p = plan_build(t, o, &pol);
	a = act(p, "main/pg3/switchover");
	assert_true(a->blocked);
	assert_false(a->delegated);
	assert_non_null(strstr(a->blocked_reason, "does not stream from"));
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

static void test_ha_switchover_on_primary_change(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcPlan *p;
	const PgcAction *a;
	char *text;

	(void)state;
	/* pg1 runs as the primary; the file now says pg2. */
	t->clusters[0].primary.v = "pg2";
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg2/switchover\n");
	a = act(p, "main/pg2/switchover");
	assert_true(a->blocked);
	assert_non_null(strstr(a->blocked_reason, "--allow-switchover"));
	assert_string_equal(changes(a), "primary: pg1 -> pg2\n"
					"role of \"pg1\": primary -> replica of \"pg2\"\n"
					"upstream of \"pg3\": pg1 -> pg2\n"
					"slots on \"pg2\": (unset) -> pg1, pg3\n");
	assert_string_equal(a->reason,
			    "'primary:' names \"pg2\" but \"pg1\" is the live primary: switch over "
			    "without losing a committed transaction: check that \"pg2\" streams from "
			    "\"pg1\" and is caught up; CHECKPOINT and a fast shutdown of \"pg1\" (writes "
			    "stop here); wait until \"pg2\" replayed its shutdown checkpoint; promote "
			    "\"pg2\"; restart \"pg1\" as its replica; re-point the other replicas and "
			    "cascades; create their slots and set synchronous_standby_names on \"pg2\"; a "
			    "failure before the promotion starts \"pg1\" again as the primary");
	plan_free(p);

	/* Allowed: the only action of the cluster. */
	pol.allow_switchover = true;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg2/switchover\n");
	assert_false(p->actions[0].blocked);
	/* The summary line does not hide it. */
	text = text_of(p);
	assert_non_null(strstr(text, "\n1 actions: 0 reload, 0 restart, 0 blocked, 1 switchover\n"));
	free(text);
	plan_free(p);

	/* A target that does not stream is not switched over to, whatever the flags. */
	onode(o, "pg2")->wal_receiver_status = "stopping";
	onode(o, "pg1")->n_replicas = 0;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg2/switchover\n");
	assert_true(p->actions[0].blocked);
	assert_string_equal(p->actions[0].blocked_reason,
			    "\"pg2\" does not stream from \"pg1\" (its WAL receiver is not streaming): "
			    "the switchover waits until it does");
	plan_free(p);

	/* Meanwhile a configuration change is planned from the live primary, switchover last. */
	onode(o, "pg2")->wal_receiver_status = "streaming";
	set_setting(t, NULL, "work_mem", "8MB");
	pol.allow_switchover = false;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/config\n"
				    "main/pg1/reload\n"
				    "main/pg2/config\n"
				    "main/pg2/reload\n"
				    "main/pg3/config\n"
				    "main/pg3/reload\n"
				    "main/pg2/switchover\n");
	assert_non_null(strstr(act(p, "main/pg2/config")->payload.content, "port=25432 "));
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

static void test_ha_old_primary_rejoins(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_failed_over(t, "pg2");
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcObsNode *n1 = onode(o, "pg1");
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	/* The old primary started by hand without standby.signal: writable, timeline 1. */
	n1->in_recovery = false;
	n1->standby_signal = false;
	n1->timeline = 1;
	n1->cluster_state = "in production";
	n1->wal_receiver_status = NULL;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/rejoin\n"
				    "main/pg1/switchover\n");
	a = act(p, "main/pg1/rejoin");
	assert_int_equal(a->kind, ACT_REJOIN);
	assert_int_equal(a->impact, IMPACT_RESTART);
	assert_false(a->blocked); /* a second primary is stopped at once */
	assert_string_equal(a->payload.upstream, "pg2");
	assert_string_equal(a->reason,
			    "node \"pg1\" accepts writes on timeline 1 while \"pg2\" is the primary on "
			    "timeline 2: stop it at once (standby.signal), rewind it with pg_rewind and "
			    "restart it as a replica; what it wrote alone is given up");
	assert_string_equal(changes(a), "role: primary on timeline 1 -> replica of \"pg2\" on timeline 2\n");
	plan_free(p);

	/* Without data checksums or wal_log_hints: a rebuild, still never blocked while it writes. */
	n1->data_checksums = false;
	p = plan_build(t, o, &pol);
	a = act(p, "main/pg1/rejoin");
	assert_int_equal(a->impact, IMPACT_REBUILD);
	assert_false(a->blocked);
	assert_string_equal(a->payload.target, "rewind");
	plan_free(p);

	/* Down, it waits for the policy; --allow-restart lets it be cloned again. */
	kill_node(n1, 1);
	n1->standby_signal = true;
	p = plan_build(t, o, &pol);
	a = act(p, "main/pg1/rejoin");
	assert_int_equal(a->impact, IMPACT_REBUILD);
	assert_true(a->blocked);
	assert_string_equal(a->blocked_reason,
			    "node \"pg1\" has neither data checksums nor wal_log_hints, so pg_rewind "
			    "cannot rejoin it: it must be cloned again (its data directory moved aside, "
			    "never deleted); run with --allow-restart, or apply inside the maintenance "
			    "window");
	plan_free(p);
	pol.allow_restart = true;
	p = plan_build(t, o, &pol);
	a = act(p, "main/pg1/rejoin");
	assert_false(a->blocked);
	assert_string_equal(a->payload.target, "rebuild");
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

static void test_ha_split_brain(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, true);
	PgcObsNode *n2 = onode(o, "pg2");
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	n2->in_recovery = false;
	n2->wal_receiver_status = NULL;
	set_setting(t, NULL, "work_mem", "8MB"); /* would be planned otherwise */
	pol.allow_switchover = true;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/-/rejoin\n");
	a = act(p, "main/-/rejoin");
	assert_null(a->node);
	assert_int_equal(a->impact, IMPACT_REBUILD);
	assert_true(a->blocked);
	assert_string_equal(a->reason, "2 nodes accept writes on timeline 1: \"pg1\" and \"pg2\"");
	assert_non_null(strstr(a->blocked_reason, "split brain: pgconverge cannot tell which"));
	/* No flag can lift it. */
	assert_null(strstr(a->blocked_reason, "--allow"));
	plan_free(p);

	/* A newer timeline, but the replicas stream from the other primary: still no choice. */
	n2->timeline = 2;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/-/rejoin\n");
	assert_string_equal(p->actions[0].reason,
			    "\"pg2\" is the primary on the newest timeline 2, but the replicas stream "
			    "from \"pg1\", which accepts writes on timeline 1");
	assert_true(p->actions[0].blocked);
	plan_free(p);

	/* They stream from the newer one: pg1 is an old primary, rejoined. */
	onode(o, "pg3")->upstream_port = 25433;
	p = plan_build(t, o, &pol);
	assert_string_equal(act(p, "main/pg1/rejoin")->payload.upstream, "pg2");
	assert_false(act(p, "main/pg1/rejoin")->blocked);
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

static void test_ha_auto_failover_withholds_start(void **state)
{
	PgcTopology *t = topo(NULL, NULL,
			      "    maintenance: {restart: never}\n"
			      "    failover: {mode: auto, detect_after: 3s}\n");
	PgcObserved *o = obs_converged(t);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcPlan *p;
	const PgcAction *a;

	(void)state;
	kill_node(onode(o, "pg1"), 1);
	onode(o, "pg2")->receive_lsn = "0/3000148";
	onode(o, "pg3")->receive_lsn = "0/3000060";
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/start\n");
	a = act(p, "main/pg1/start");
	assert_true(a->blocked);
	assert_string_equal(a->blocked_reason,
			    "failover.mode is auto: 'pgconverge reconcile' promotes \"pg2\" once \"pg1\" "
			    "has failed its probes for failover.detect_after, instead of starting it "
			    "again ('pgconverge failover --cluster main' does it now); to keep \"pg1\" as "
			    "the primary, start it by hand");
	plan_free(p);

	/* Nobody to promote: starting it again is the way back. */
	onode(o, "pg2")->reachable = false;
	onode(o, "pg3")->reachable = false;
	p = plan_build(t, o, &pol);
	a = act(p, "main/pg1/start");
	assert_false(a->blocked);
	plan_free(p);

	/* failover.mode manual: the primary is started as any stopped server is. */
	obs_free(o);
	topology_free(t);
	t = topo(NULL, NULL,
		 "    maintenance: {restart: never}\n"
		 "    failover: {mode: manual, detect_after: 3s}\n");
	o = obs_converged(t);
	kill_node(onode(o, "pg1"), 1);
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/start\n");
	assert_false(p->actions[0].blocked);
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

/* With automatic failover, walsenders send keepalives within detect_after. */
static void test_auto_failover_sender_timeout(void **state)
{
	PgcTopology *t = topo(NULL, NULL, "    failover: {mode: auto, detect_after: 3s}\n");
	PgcConfParam *params;
	PgcArena *a = arena_new();
	size_t i, n = plan_conf_params(a, &t->clusters[0], &t->clusters[0].nodes[0], &params);
	const char *v = NULL;

	(void)state;
	for (i = 0; i < n; i++)
		if (strcmp(params[i].name, "wal_sender_timeout") == 0)
			v = params[i].value;
	assert_non_null(v);
	assert_string_equal(v, "3000ms");
	arena_free(a);
	topology_free(t);
}

static void test_ha_saved_plan_keeps_payload(void **state)
{
	PgcTopology *t = topo(NULL, NULL, NULL);
	PgcObserved *o = obs_failed_over(t, "pg3");
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcPlan *p = plan_build(t, o, &pol), *q;
	json_t *j = plan_to_json(p);
	char err[256];

	(void)state;
	q = plan_from_json(j, err, sizeof err);
	assert_non_null(q);
	assert_int_equal(q->n_actions, 1);
	assert_int_equal(q->actions[0].kind, ACT_SWITCHOVER);
	assert_string_equal(q->actions[0].payload.target, "pg1");
	assert_string_equal(q->actions[0].payload.upstream, "pg3");
	assert_true(q->actions[0].blocked);
	json_decref(j);
	plan_free(q);
	plan_free(p);
	obs_free(o);
	topology_free(t);
}


/* ---- monitoring.datadog: reconcile/datadog/ (more in test_plan_datadog.c) ---------------- */

/*
 * A converged cluster with monitoring.datadog plans nothing: its role
 * (LOGIN, pg_monitor, the password verified), the check file (masked,
 * mode 0640, the password verified) and Database Monitoring are there.
 */
static void test_datadog_converged(void **state)
{
	PgcTopology *t = topo(NULL, NULL,
			      "    maintenance: {restart: never}\n"
			      "    monitoring:\n"
			      "      datadog: {conf_dir: /etc/datadog-agent/conf.d/postgres.d,\n"
			      "                password: {env: DD_PASSWORD}, dbm: true}\n");
	PgcObserved *o = obs_empty(t);
	const PgcCluster *c = plan_datadog_roles(o->arena, &t->clusters[0]);
	PgcPolicy pol = policy_at(SUN_0300_UTC, false);
	PgcObsDatadog *d = arena_calloc(o->arena, 1, sizeof *d);
	PgcObsNode *pn;
	PgcPlan *p;
	size_t i;

	(void)state;
	for (i = 0; i < c->n_nodes; i++)
		converge_node(o, c, i);
	converge_catalog(o, c);
	/* Database Monitoring's explain role (datadog.h) is there, not an orphan. */
	pn = onode(o, "pg1");
	{
		PgcObsRole *roles = arena_calloc(o->arena, pn->n_roles + 1, sizeof *roles);

		memcpy(roles, pn->roles, pn->n_roles * sizeof *roles);
		roles[pn->n_roles++] = (PgcObsRole){
			.name = PGC_DATADOG_EXPLAIN_ROLE, .connection_limit = -1,
			.password_matches = -1, .member_of = strv(o->arena, 1, "pg_read_all_data"),
			.n_member_of = 1};
		pn->roles = roles;
	}
	d->conf_read = d->conf_exists = true;
	d->conf_masked = datadog_conf_render(o->arena, c);
	d->conf_mode = 0640;
	d->conf_password = DATADOG_PW_MATCHES;
	d->dbm_read = true;
	d->dbs = arena_calloc(o->arena, 2, sizeof *d->dbs);
	d->dbs[d->n_dbs++] = (PgcObsDatadogDb){.name = "postgres", .ready = true};
	d->dbs[d->n_dbs++] = (PgcObsDatadogDb){.name = "appdb", .ready = true};
	o->clusters[0].datadog = d;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "");
	assert_int_equal(p->n_orphans, 0);
	plan_free(p);

	/* Without the role: created with its secret, then made a member of pg_monitor. */
	pn = onode(o, "pg1");
	for (i = 0; i < pn->n_roles && strcmp(pn->roles[i].name, "datadog") != 0; i++)
		;
	assert_true(i < pn->n_roles);
	memmove(&pn->roles[i], &pn->roles[i + 1], (pn->n_roles - i - 1) * sizeof *pn->roles);
	pn->n_roles--;
	p = plan_build(t, o, &pol);
	assert_string_equal(ids(p), "main/pg1/create-role:datadog\n"
				    "main/pg1/grant-role:pg_monitor>datadog\n");
	assert_string_equal(act(p, "main/pg1/create-role:datadog")->payload.secret.ref,
			    "DD_PASSWORD");
	assert_true(strstr(act(p, "main/pg1/create-role:datadog")->payload.sql,
			   "CREATE ROLE datadog WITH LOGIN ") == act(p, "main/pg1/create-role:datadog")->payload.sql);
	plan_free(p);
	obs_free(o);
	topology_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_converged_plans_nothing),
		cmocka_unit_test(test_converged_full_features),
		cmocka_unit_test(test_pgss_switched_on),
		cmocka_unit_test(test_pgss_off_adds_nothing),
		cmocka_unit_test(test_empty_machine),
		cmocka_unit_test(test_reload_only_change),
		cmocka_unit_test(test_restart_needs_permission),
		cmocka_unit_test(test_maintenance_window_policy),
		cmocka_unit_test(test_window_open),
		cmocka_unit_test(test_sync_waits_for_standbys),
		cmocka_unit_test(test_raise_standbys_first),
		cmocka_unit_test(test_lower_primary_first),
		cmocka_unit_test(test_raise_and_lower_split),
		cmocka_unit_test(test_cascade_order),
		cmocka_unit_test(test_alter_system_drift),
		cmocka_unit_test(test_orphans),
		cmocka_unit_test(test_stale_slots),
		cmocka_unit_test(test_remote_node),
		cmocka_unit_test(test_remote_node_coordinated),
		cmocka_unit_test(test_switchover_coordinated),
		cmocka_unit_test(test_roles_drift),
		cmocka_unit_test(test_foreign_data_dir),
		cmocka_unit_test(test_down_and_pending),
		cmocka_unit_test(test_inert_pending_restart),
		cmocka_unit_test(test_hba_and_slot_drift),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_offline_plan),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_passfile_follows_secret),
		cmocka_unit_test(test_replica_not_streaming),
		cmocka_unit_test(test_raise_keeps_reloadable_changes),
		cmocka_unit_test(test_ha_plan_follows_live_primary),
		cmocka_unit_test(test_ha_switchover_on_primary_change),
		cmocka_unit_test(test_ha_old_primary_rejoins),
		cmocka_unit_test(test_ha_split_brain),
		cmocka_unit_test(test_ha_auto_failover_withholds_start),
		cmocka_unit_test(test_auto_failover_sender_timeout),
		cmocka_unit_test(test_ha_saved_plan_keeps_payload),
		cmocka_unit_test(test_datadog_converged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
