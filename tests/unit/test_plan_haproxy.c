/*
 * tests/unit/test_plan_haproxy.c - HAProxy in the plan, on hand-built
 * observed states: fresh, converged (zero actions), a replica over max_lag
 * leaving the reads, a primary that moved (server states only), a
 * structural change (reload), a dead HAProxy (start); the rendered file;
 * the runtime API's answers as the probe parses them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/diag.h"
#include "reconcile/engine/builder.h"
#include "reconcile/engine/plan.h"
#include "reconcile/haproxy/haproxy.h"
#include "reconcile/haproxy/haproxy_conf.h"
#include "reconcile/haproxy/haproxy_status.h"
#include "reconcile/observe/graph.h"
#include "reconcile/haproxy/plan_haproxy.h"
#include "reconcile/observe/observe.h"
#include "reconcile/observe/observe_haproxy.h"
#include "schema/topology.h"
#include "support/exec_fixture.h"

static const char *const yaml =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    primary: pg1\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 25432, data_dir: /srv/pgc/pg1}\n"
	"      pg2: {host: 127.0.0.1, port: 25433, data_dir: /srv/pgc/pg2}\n"
	"      pg3: {host: 127.0.0.1, port: 25434, data_dir: /srv/pgc/pg3}\n"
	"    balancer:\n"
	"      haproxy: {write_port: 5000, read_port: 5001, stats_port: 5002, max_lag: 1MB,\n"
	"                dir: /srv/pgc/haproxy}\n";

typedef struct {
	PgcTopology *t;
	PgcCluster live;          /* the cluster as the planner sees it (primary may move) */
	PgcArena *a;
	PgcObserved *o;
	PgcObsHaproxy h;
	PgcPlan *p;
	size_t cap;
} Fx;

static PgcObsNode *onode(Fx *f, const char *name)
{
	for (size_t j = 0; j < f->o->clusters[0].n_nodes; j++)
		if (strcmp(f->o->clusters[0].nodes[j].name, name) == 0)
			return &f->o->clusters[0].nodes[j];
	fail_msg("no observed node %s", name);
	return NULL;
}

/* running - a node that answers, as a primary at 0/5000000 or a caught-up streaming replica. */
static void running(Fx *f, const char *name, bool replica)
{
	PgcObsNode *n = onode(f, name);

	n->dir_state = DIR_INITIALIZED;
	n->reachable = true;
	n->postmaster_alive = true;
	n->in_recovery = replica;
	n->wal_receiver_status = replica ? "streaming" : NULL;
	n->current_lsn = replica ? NULL : "0/5000000";
	n->replay_lsn = replica ? "0/5000000" : NULL;
	n->receive_lsn = n->replay_lsn;
}

/* server - HAProxy has server srv of backend be, in maintenance or not. */
static void server(Fx *f, const char *be, const char *srv, bool maint)
{
	PgcObsHaproxyServer *s;

	f->h.servers = arena_grow(f->a, f->h.servers, f->h.n_servers, &f->cap, 8, sizeof *s);
	s = &f->h.servers[f->h.n_servers++];
	*s = (PgcObsHaproxyServer){be, srv, maint, true, 0};
}

/* converged - HAProxy runs what the topology says with pg1 the primary, pg2 and pg3 reading. */
static void converged(Fx *f)
{
	PgcHaproxyWant w;

	running(f, "pg1", false);
	running(f, "pg2", true);
	running(f, "pg3", true);
	f->h.looked = true;
	f->h.pid = 4242;
	f->h.alive = true;
	f->h.api = true;
	f->h.digest = haproxy_digest(f->a, &f->live);
	haproxy_want_observed(f->a, &f->live, "pg1", &f->o->clusters[0], NULL, NULL, &w);
	f->h.cfg = haproxy_render(f->a, &f->live, &w);
	server(f, "pg_write", "pg1", false);
	server(f, "pg_write", "pg2", true);
	server(f, "pg_write", "pg3", true);
	server(f, "pg_read", "pg1", true);
	server(f, "pg_read", "pg2", false);
	server(f, "pg_read", "pg3", false);
	server(f, "pg_read", "pg1:primary", false);
	server(f, "pg_read", "pg2:primary", true);
	server(f, "pg_read", "pg3:primary", true);
}

static int setup(void **state)
{
	Fx *f = calloc(1, sizeof(*f));
	PgcLoadOptions lo = {.base_dir = "/srv/pgc", .offline = true, .tool_path = "/usr/bin/pgconverge"};
	PgcDiagList diags = {0};
	PgcObsCluster *oc;

	f->t = topology_load_buffer(yaml, strlen(yaml), "t.yaml", &lo, &diags);
	if (f->t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	f->live = f->t->clusters[0];
	f->a = arena_new();
	f->o = arena_calloc(f->a, 1, sizeof(*f->o));
	f->o->arena = f->a;
	f->o->n_clusters = 1;
	f->o->clusters = arena_calloc(f->a, 1, sizeof(PgcObsCluster));
	oc = &f->o->clusters[0];
	oc->name = f->live.name;
	oc->n_nodes = f->live.n_nodes;
	oc->nodes = arena_calloc(f->a, f->live.n_nodes, sizeof(PgcObsNode));
	for (size_t j = 0; j < f->live.n_nodes; j++) {
		oc->nodes[j].name = f->live.nodes[j].name;
		oc->nodes[j].cluster = f->live.name;
		oc->nodes[j].local = true;
		oc->nodes[j].dir_state = DIR_ABSENT;
	}
	f->h.looked = true;
	f->h.sessions = -1;
	oc->haproxy = &f->h;
	f->p = arena_calloc(f->a, 1, sizeof(*f->p));
	f->p->arena = f->a;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fx *f = *state;

	arena_free(f->a);
	topology_free(f->t);
	free(f);
	return 0;
}

/* plan - plan_haproxy_cluster into a fresh action list; the number of actions. */
static size_t plan(Fx *f)
{
	PgcPlanBuilder b;

	f->p->n_actions = 0;
	f->p->actions = NULL;
	builder_init(&b, f->p);
	plan_haproxy_cluster(&b, &f->live, f->o);
	return f->p->n_actions;
}

static const char *param(const PgcAction *a, size_t i)
{
	assert_true(i < a->payload.n_params);
	return a->payload.params[i];
}

static bool has_change(const PgcAction *a, const char *key, const char *from, const char *to)
{
	for (size_t i = 0; i < a->n_changes; i++)
		if (strcmp(a->changes[i].key, key) == 0 &&
		    (from == NULL ? a->changes[i].from == NULL
				  : a->changes[i].from && strcmp(a->changes[i].from, from) == 0) &&
		    strcmp(a->changes[i].to, to) == 0)
			return true;
	return false;
}

/* ---- the plan ------------------------------------------------------------------ */

static void test_fresh(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	assert_int_equal(plan(f), 1);
	a = &f->p->actions[0];
	assert_int_equal(a->kind, ACT_HAPROXY_START);
	assert_string_equal(a->id, "main/-/haproxy-start");
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_false(a->blocked);
	assert_string_equal(a->payload.path, "/srv/pgc/haproxy/haproxy.cfg");
	assert_true(has_change(a, "haproxy", "stopped", "running"));
	/* Writes: pg1 only; the others in maintenance. */
	assert_non_null(strstr(a->payload.content,
			       "listen pg_write\n"
			       "    bind 127.0.0.1:5000\n"
			       "    server pg1 127.0.0.1:25432 check on-marked-down shutdown-sessions\n"
			       "    server pg2 127.0.0.1:25433 check on-marked-down shutdown-sessions disabled\n"
			       "    server pg3 127.0.0.1:25434 check on-marked-down shutdown-sessions disabled\n"));
	/* Reads: no replica streams yet; pg1 is the backup. */
	assert_non_null(strstr(a->payload.content,
			       "    server pg2 127.0.0.1:25433 check on-marked-down shutdown-sessions disabled\n"
			       "    server pg3 127.0.0.1:25434 check on-marked-down shutdown-sessions disabled\n"
			       "    server pg1:primary 127.0.0.1:25432 check backup on-marked-down shutdown-sessions\n"));
	assert_non_null(strstr(a->payload.content, "    master-worker\n"));
	assert_non_null(strstr(a->payload.content, "    pidfile '/srv/pgc/haproxy/haproxy.pid'\n"));
	assert_non_null(strstr(a->payload.content, "    stats socket '/srv/pgc/haproxy/haproxy.sock' "
						   "mode 600 level admin\n"));
	assert_non_null(strstr(a->payload.content, "    bind 127.0.0.1:5002\n"));
	assert_string_equal(observe_haproxy_digest_of(f->a, a->payload.content),
			    haproxy_digest(f->a, &f->live));
	assert_int_equal(strlen(haproxy_digest(f->a, &f->live)), HAPROXY_DIGEST_LEN);
}

static void test_fresh_offline_counts_clones(void **state)
{
	Fx *f = *state;
	PgcPlanBuilder b;
	PgcAction *clone;
	const char *cfg;

	/* A replica this plan clones counts as reading (the health check holds traffic). */
	builder_init(&b, f->p);
	clone = builder_emit(&b, ACT_CLONE, "main", "pg2", NULL, IMPACT_NONE, "clone");
	(void)clone;
	plan_haproxy_cluster(&b, &f->live, NULL);
	assert_int_equal(f->p->n_actions, 2);
	assert_int_equal(f->p->actions[1].kind, ACT_HAPROXY_START);
	cfg = f->p->actions[1].payload.content;
	assert_non_null(strstr(cfg, "balance roundrobin\n"
				    "    server pg1 127.0.0.1:25432 check on-marked-down shutdown-sessions disabled\n"
				    "    server pg2 127.0.0.1:25433 check on-marked-down shutdown-sessions\n"
				    "    server pg3 127.0.0.1:25434 check on-marked-down shutdown-sessions disabled\n"));
}

static void test_converged_zero(void **state)
{
	Fx *f = *state;

	converged(f);
	assert_int_equal(plan(f), 0);
	/* Sessions and health do not matter; a replica slightly behind is still in. */
	f->h.servers[4].up = false;
	f->h.sessions = 12;
	onode(f, "pg2")->replay_lsn = "0/4F00000";
	assert_int_equal(plan(f), 0);
}

static void test_replica_over_max_lag(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	converged(f);
	onode(f, "pg3")->replay_lsn = "0/3000000"; /* 32 MB behind, max_lag 1MB */
	assert_int_equal(plan(f), 1);
	a = &f->p->actions[0];
	assert_int_equal(a->kind, ACT_HAPROXY_SERVERS);
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_int_equal(a->payload.n_params, 1);
	assert_string_equal(param(a, 0), "set server pg_read/pg3 state maint");
	assert_true(has_change(a, "pg_read/pg3", "ready", "maint"));
	assert_true(has_change(a, "haproxy.cfg", "differs", "rendered"));
	assert_non_null(strstr(a->reason, "\"pg3\" leaves the reads: it is 33554432 bytes behind"));
	assert_non_null(strstr(a->payload.content,
			       "    server pg3 127.0.0.1:25434 check on-marked-down shutdown-sessions disabled\n"
			       "    server pg1:primary"));
	/* The same for a replica that stops streaming; then back in. */
	onode(f, "pg3")->replay_lsn = "0/5000000";
	onode(f, "pg3")->wal_receiver_status = "waiting";
	assert_int_equal(plan(f), 1);
	assert_non_null(strstr(f->p->actions[0].reason, "it is not streaming"));
	onode(f, "pg3")->wal_receiver_status = "streaming";
	f->h.servers[5].maint = true;
	assert_int_equal(plan(f), 1);
	assert_string_equal(param(&f->p->actions[0], 0), "set server pg_read/pg3 state ready");
}

static void test_all_replicas_gone_reads_go_to_primary(void **state)
{
	Fx *f = *state;
	const char *cfg;

	converged(f);
	onode(f, "pg2")->reachable = false;
	onode(f, "pg3")->reachable = false;
	assert_int_equal(plan(f), 1);
	assert_int_equal(f->p->actions[0].payload.n_params, 2);
	cfg = f->p->actions[0].payload.content;
	/* Only the backup pg1:primary stays ready in pg_read. */
	assert_non_null(strstr(cfg, "    server pg1:primary 127.0.0.1:25432 check backup on-marked-down "
				    "shutdown-sessions\n"
				    "    server pg2:primary 127.0.0.1:25433 check backup on-marked-down "
				    "shutdown-sessions disabled\n"));
}

static void test_primary_moved(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	converged(f);
	/* pg2 was promoted (the live cluster says so); pg1 is down. */
	f->live.primary.v = "pg2";
	running(f, "pg2", false);
	onode(f, "pg1")->reachable = false;
	assert_int_equal(plan(f), 1);
	a = &f->p->actions[0];
	assert_int_equal(a->kind, ACT_HAPROXY_SERVERS);
	assert_int_equal(a->impact, IMPACT_NONE); /* no reload: the structure is the same */
	/* Leaving first, and the old primary's sessions are shut. */
	assert_int_equal(a->payload.n_params, 6);
	assert_string_equal(param(a, 0), "set server pg_write/pg1 state maint");
	assert_string_equal(param(a, 1), "shutdown sessions server pg_write/pg1");
	assert_string_equal(param(a, 2), "set server pg_read/pg1:primary state maint");
	assert_string_equal(param(a, 3), "set server pg_read/pg2 state maint");
	assert_string_equal(param(a, 4), "set server pg_write/pg2 state ready");
	assert_string_equal(param(a, 5), "set server pg_read/pg2:primary state ready");
	assert_true(has_change(a, "pg_write/pg1", "ready", "maint"));
	assert_true(has_change(a, "pg_write/pg2", "maint", "ready"));
	assert_non_null(strstr(a->payload.content,
			       "    server pg1 127.0.0.1:25432 check on-marked-down shutdown-sessions disabled\n"
			       "    server pg2 127.0.0.1:25433 check on-marked-down shutdown-sessions\n"));
	/* Every command is one the executor sends. */
	for (size_t i = 0; i < a->payload.n_params; i++)
		assert_true(haproxy_command_ok(param(a, i)));
}

static void test_structural_change_reloads(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	converged(f);
	f->h.digest = "0123456789abcdef"; /* e.g. a port changed in the file */
	assert_int_equal(plan(f), 1);
	a = &f->p->actions[0];
	assert_int_equal(a->kind, ACT_HAPROXY_RELOAD);
	assert_string_equal(a->id, "main/-/haproxy-reload");
	assert_int_equal(a->impact, IMPACT_RELOAD);
	assert_true(has_change(a, "loaded configuration", "0123456789abcdef",
			       haproxy_digest(f->a, &f->live)));
	/* A port changes the digest; a server state does not. */
	{
		PgcCluster c2 = f->live;
		const char *d = haproxy_digest(f->a, &f->live);

		c2.haproxy.read_port.v = 5011;
		assert_string_not_equal(haproxy_digest(f->a, &c2), d);
		c2 = f->live;
		c2.primary.v = "pg3";
		assert_string_equal(haproxy_digest(f->a, &c2), d);
	}
	/* A runtime API that does not answer: reload too. */
	f->h.digest = haproxy_digest(f->a, &f->live);
	f->h.api = false;
	f->h.api_error = "connection refused";
	assert_int_equal(plan(f), 1);
	assert_int_equal(f->p->actions[0].kind, ACT_HAPROXY_RELOAD);
	assert_non_null(strstr(f->p->actions[0].reason, "connection refused"));
}

static void test_dead_starts(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	converged(f);
	f->h.alive = false;
	f->h.api = false;
	assert_int_equal(plan(f), 1);
	a = &f->p->actions[0];
	assert_int_equal(a->kind, ACT_HAPROXY_START);
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_string_equal(a->reason, "HAProxy (pid 4242 in haproxy.pid) is not running: start it "
				       "with the rendered haproxy.cfg");
	/* What it starts with is the converged file. */
	assert_string_equal(a->payload.content, f->h.cfg);
}

static void test_file_only(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	converged(f);
	f->h.cfg = "edited by hand\n";
	assert_int_equal(plan(f), 1);
	a = &f->p->actions[0];
	assert_int_equal(a->kind, ACT_HAPROXY_SERVERS);
	assert_int_equal(a->payload.n_params, 0);
	assert_true(has_change(a, "haproxy.cfg", "differs", "rendered"));
}

static void test_not_here_blocked(void **state)
{
	Fx *f = *state;

	f->h.looked = false;
	f->h.error = "host \"10.0.0.5\" is not this machine";
	assert_int_equal(plan(f), 1);
	assert_true(f->p->actions[0].blocked);
	assert_non_null(strstr(f->p->actions[0].blocked_reason, "not on this machine"));
}

static void test_no_haproxy_declared(void **state)
{
	Fx *f = *state;

	f->live.haproxy.set = false;
	assert_int_equal(plan(f), 0);
}

/* ---- commands and the runtime API's answers ------------------------------------ */

static void test_command_ok(void **state)
{
	(void)state;
	assert_true(haproxy_command_ok("set server pg_write/pg1 state ready"));
	assert_true(haproxy_command_ok("set server pg_read/pg1:primary state maint"));
	assert_true(haproxy_command_ok("shutdown sessions server pg_write/pg2"));
	assert_false(haproxy_command_ok("set server pg_write/pg1 state drain"));
	assert_false(haproxy_command_ok("set server pg_write/pg1 addr 10.0.0.1"));
	assert_false(haproxy_command_ok("shutdown frontend pg_write"));
	assert_false(haproxy_command_ok("set server pg_write/pg1 state ready; shutdown frontend x"));
	assert_false(haproxy_command_ok("set server pg_write state ready"));
	assert_false(haproxy_command_ok(NULL));
}

static void test_parse_runtime(void **state)
{
	Fx *f = *state;
	PgcObsHaproxy o = {0};
	const char *servers =
		"1\n"
		"# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight ...\n"
		"2 pg_write 1 pg1 127.0.0.1 2 0 1 1 4 8 2 0 6 0 0 0 - 29101 - 0 0 - - 0\n"
		"2 pg_write 2 pg2 127.0.0.1 0 5 1 1 4 1 0 0 14 0 0 0 - 29102 - 0 0 - - 0\n"
		"3 pg_read 1 pg2 127.0.0.1 2 4 1 1 4 1 0 0 14 0 0 0 - 29102 - 0 0 - - 0\n"
		"3 pg_read 3 pg1:primary 127.0.0.1 0 1 1 1 2 8 2 0 6 0 0 0 - 29101 - 0 0 - - 0\n"
		"\n";
	const char *info = "Name: HAProxy\nPid: 31534\nUptime_sec: 42\nCurrConns: 7\n"
			   "node: vm\ndescription: pgconverge 0123456789abcdef\n";
	const char *stat = "# pxname,svname,qcur,qmax,scur,smax\n"
			   "pg_write,FRONTEND,,,3,9\n"
			   "pg_write,pg1,0,0,3,5\n";
	const PgcObsHaproxyServer *s;

	assert_int_equal(observe_haproxy_parse_servers(f->a, servers, &o), 0);
	assert_int_equal(o.n_servers, 4);
	s = observe_haproxy_server(&o, "pg_write", "pg1");
	assert_non_null(s);
	assert_true(s->up);
	assert_false(s->maint);
	assert_true(observe_haproxy_server(&o, "pg_write", "pg2")->maint);   /* disabled: 5 */
	assert_false(observe_haproxy_server(&o, "pg_read", "pg2")->maint);   /* ready after disabled: 4 */
	assert_true(observe_haproxy_server(&o, "pg_read", "pg1:primary")->maint); /* forced: 1 */
	assert_null(observe_haproxy_server(&o, "pg_read", "pg3"));
	observe_haproxy_parse_info(f->a, info, &o);
	assert_int_equal(o.worker_pid, 31534);
	assert_int_equal(o.sessions, 7);
	assert_string_equal(o.digest, "0123456789abcdef");
	observe_haproxy_parse_stat(stat, &o);
	assert_int_equal(observe_haproxy_server(&o, "pg_write", "pg1")->sessions, 3);
	assert_int_equal(observe_haproxy_parse_servers(f->a, "2\n", &o), -1);
}

static void test_dir_problem(void **state)
{
	Fx *f = *state;
	PgcCluster c2 = f->live;

	assert_null(haproxy_dir_problem(f->a, &c2));
	c2.haproxy.dir.v = "/srv/it's";
	assert_non_null(haproxy_dir_problem(f->a, &c2));
	c2.haproxy.dir.v = f->live.haproxy.dir.v;
	c2.haproxy.listen_address.v = "127.0.0.1 ssl";
	assert_non_null(strstr(haproxy_dir_problem(f->a, &c2), "listen_address"));
	c2.haproxy.listen_address.v = "::1";
	assert_null(haproxy_dir_problem(f->a, &c2));
	c2.haproxy.dir.v = "/srv/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	assert_non_null(strstr(haproxy_dir_problem(f->a, &c2), "too long"));
	/* The plan's action is then blocked. */
	f->live = c2;
	assert_int_equal(plan(f), 1);
	assert_true(f->p->actions[0].blocked);
}

/* ---- status and graph --live ----------------------------------------------------- */

static char *capture_status(Fx *f)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	haproxy_status_text(out, &f->live, &f->h);
	fclose(out);
	return buf;
}

static void test_status(void **state)
{
	Fx *f = *state;
	char *text;
	json_t *j;

	converged(f);
	f->h.worker_pid = 77;
	f->h.sessions = 3;
	f->h.servers[0].sessions = 3;   /* pg_write/pg1 */
	f->h.servers[5].up = false;     /* pg_read/pg3 */
	text = capture_status(f);
	assert_non_null(strstr(text, "  haproxy    up (master pid 4242, worker 77), 3 sessions, configuration "));
	assert_non_null(strstr(text, "             write 127.0.0.1:5000 -> pg1 (3 sessions)\n"));
	assert_non_null(strstr(text, "             read  127.0.0.1:5001 -> pg2, pg3 (check down); backup pg1\n"));
	assert_non_null(strstr(text, "             stats http://127.0.0.1:5002/\n"));
	assert_null(strstr(text, "reload pending"));
	free(text);
	j = haproxy_status_json(&f->live, &f->h);
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(json_object_get(j, "write"), "to"), 0), "node")),
			    "pg1");
	assert_int_equal(json_array_size(json_object_get(json_object_get(j, "read"), "to")), 2);
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(json_object_get(j, "read"), "backup"), 0), "node")),
			    "pg1");
	json_decref(j);
	f->h.alive = false;
	f->h.api = false;
	text = capture_status(f);
	assert_non_null(strstr(text, "  haproxy    DOWN (the next pass starts it)\n"));
	free(text);
}

static void test_graph_live(void **state)
{
	Fx *f = *state;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	converged(f);
	/* HAProxy still sends writes to pg1 although the file says pg2: drawn as it is. */
	f->t->clusters[0].primary.v = "pg2";
	out = open_memstream(&buf, &len);
	assert_int_equal(graph_render(out, f->t, NULL, f->o), 0);
	fclose(out);
	assert_non_null(strstr(buf, "\\nup\""));
	assert_non_null(strstr(buf, "\"main:haproxy\" -> \"main/pg1\" [label=\"write\"];"));
	assert_non_null(strstr(buf, "\"main:haproxy\" -> \"main/pg2\" [label=\"read\", style=\"dashed\"];"));
	assert_non_null(strstr(buf, "\"main:haproxy\" -> \"main/pg1\" [label=\"read (backup)\", style=\"dashed\"];"));
	assert_null(strstr(buf, "\"main:haproxy\" -> \"main/pg2\" [label=\"write\"]"));
	free(buf);
	f->t->clusters[0].primary.v = "pg1";
}

/* ---- executors: what they refuse before touching anything ------------------------- */

static void test_executors_refuse(void **state)
{
	Fx *f = *state;
	PgcAction a = {0};
	PgcExecCtx ctx;
	const char *bad[] = {"set server pg_write/pg2 state ready", "shutdown frontend pg_write", NULL};
	PgcHaproxyWant w;

	haproxy_want_init(f->a, &f->live, "pg1", &w);
	/* A saved plan naming a command that is not a server state. */
	a.kind = ACT_HAPROXY_SERVERS;
	a.id = "main/-/haproxy-servers";
	a.cluster = "main";
	a.payload.path = "/srv/pgc/haproxy/haproxy.cfg";
	a.payload.content = haproxy_render(f->a, &f->live, &w);
	a.payload.params = bad;
	a.payload.n_params = 2;
	fixture_ctx(&ctx, f->t, "pg1", NULL, &a);
	assert_int_equal(haproxy_servers_run(&ctx), -1);
	assert_non_null(strstr(ctx.error, "\"shutdown frontend pg_write\" is not a server state command"));
	fixture_ctx_done(&ctx);
	/* A file somewhere else than balancer.haproxy.dir. */
	a.kind = ACT_HAPROXY_START;
	a.payload.params = NULL;
	a.payload.n_params = 0;
	a.payload.path = "/etc/haproxy/haproxy.cfg";
	fixture_ctx(&ctx, f->t, "pg1", NULL, &a);
	assert_int_equal(haproxy_start_run(&ctx), -1);
	assert_non_null(strstr(ctx.error, "does not carry /srv/pgc/haproxy/haproxy.cfg"));
	fixture_ctx_done(&ctx);
	/* A file without the digest the executor waits for. */
	a.payload.path = "/srv/pgc/haproxy/haproxy.cfg";
	a.payload.content = "global\n";
	fixture_ctx(&ctx, f->t, "pg1", NULL, &a);
	assert_int_equal(haproxy_reload_run(&ctx), -1);
	assert_non_null(strstr(ctx.error, "carries no digest"));
	fixture_ctx_done(&ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh_offline_counts_clones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_converged_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replica_over_max_lag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_replicas_gone_reads_go_to_primary, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_primary_moved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_structural_change_reloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_starts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_here_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_haproxy_declared, setup, teardown),
		cmocka_unit_test(test_command_ok),
		cmocka_unit_test_setup_teardown(test_parse_runtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_problem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_graph_live, setup, teardown),
		cmocka_unit_test_setup_teardown(test_executors_refuse, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
