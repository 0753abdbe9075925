/*
 * tests/unit/test_plan_datadog.c - monitoring.datadog: the check file's
 * renderer (with a known password: here only), the mask observe keeps
 * instead of the file, the role added to the roles the postgres planner
 * sees, and plan_datadog_cluster() on hand-built observed states: a fresh
 * cluster, a converged one (zero actions), a file of another mode or
 * password, the role tags after the primary moved, Database Monitoring
 * missing in one database or its explain function owned by another role
 * everywhere, nothing of it on a standby cluster; and Database Monitoring's statements (one transaction, the
 * explain function owned by the NOLOGIN pg_read_all_data role).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/arena.h"
#include "common/diag.h"
#include "reconcile/datadog/datadog.h"
#include "reconcile/datadog/plan_datadog.h"
#include "reconcile/engine/builder.h"
#include "reconcile/engine/plan.h"
#include "reconcile/ha/failover.h"
#include "reconcile/observe/observe_datadog.h"
#include "reconcile/planner.h"
#include "schema/topology.h"

static const char *const yaml =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    primary: pg1\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 25432, data_dir: /srv/pgc/pg1, region: eu-west}\n"
	"      pg2: {host: 10.0.0.2, port: 25433, data_dir: /srv/pgc/pg2}\n"
	"    roles:\n"
	"      datadog: {member_of: [readers]}\n"
	"      readers: {}\n"
	"    databases:\n"
	"      appdb: {}\n"
	"    replication: {user: replicator, password: {env: REPL_PASSWORD}}\n"
	"    monitoring:\n"
	"      datadog: {conf_dir: /etc/datadog-agent/conf.d/postgres.d,\n"
	"                password: {env: DD_PASSWORD}, dbm: true}\n";

/* The file for the cluster above, the passwords masked. */
static const char *const rendered =
	"# The Datadog Agent's postgres check for cluster main, written by pgconverge\n"
	"# from monitoring.datadog: edits here are overwritten.\n"
	"init_config:\n"
	"\n"
	"instances:\n"
	"  - host: \"127.0.0.1\"\n"
	"    port: 25432\n"
	"    username: \"datadog\"\n"
	"    password: \"<monitoring.datadog.password>\"\n"
	"    dbname: \"postgres\"\n"
	"    dbm: true\n"
	"    tags:\n"
	"      - \"cluster:main\"\n"
	"      - \"node:pg1\"\n"
	"      - \"role:primary\"\n"
	"      - \"region:eu-west\"\n"
	"  - host: \"10.0.0.2\"\n"
	"    port: 25433\n"
	"    username: \"datadog\"\n"
	"    password: \"<monitoring.datadog.password>\"\n"
	"    dbname: \"postgres\"\n"
	"    dbm: true\n"
	"    tags:\n"
	"      - \"cluster:main\"\n"
	"      - \"node:pg2\"\n"
	"      - \"role:replica\"\n";

typedef struct {
	PgcTopology *t;
	const PgcCluster *c;
	PgcArena *a;
	PgcObserved *o;
	PgcObsDatadog d;
	PgcObsDatadogDb dbs[2];
	PgcPlan *p;
} Fx;

static int setup(void **state)
{
	Fx *f = calloc(1, sizeof(*f));
	PgcLoadOptions lo = {.base_dir = "/srv/pgc", .offline = true};
	PgcDiagList diags = {0};

	f->t = topology_load_buffer(yaml, strlen(yaml), "t.yaml", &lo, &diags);
	if (f->t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	f->c = &f->t->clusters[0];
	f->a = arena_new();
	f->o = arena_calloc(f->a, 1, sizeof(*f->o));
	f->o->arena = f->a;
	f->o->n_clusters = 1;
	f->o->clusters = arena_calloc(f->a, 1, sizeof(PgcObsCluster));
	f->o->clusters[0].name = f->c->name;
	f->o->clusters[0].datadog = &f->d;
	/* Converged. */
	f->d.conf_read = f->d.conf_exists = true;
	f->d.conf_masked = rendered;
	f->d.conf_mode = 0640;
	f->d.conf_password = DATADOG_PW_MATCHES;
	f->d.dbm_read = true;
	f->dbs[0] = (PgcObsDatadogDb){.name = "postgres", .ready = true};
	f->dbs[1] = (PgcObsDatadogDb){.name = "appdb", .ready = true};
	f->d.dbs = f->dbs;
	f->d.n_dbs = 2;
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

/* plan_of - plan_datadog_cluster(c) alone into a fresh action list. */
static void plan_of(Fx *f, const PgcCluster *c, const PgcObserved *o)
{
	PgcPlanBuilder b;

	f->p->n_actions = 0;
	f->p->actions = NULL;
	builder_init(&b, f->p);
	plan_datadog_cluster(&b, c, o);
}

static char *changes(const PgcAction *a)
{
	static char buf[4096];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < a->n_changes; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s: %s -> %s\n", a->changes[i].key,
					a->changes[i].from ? a->changes[i].from : "(unset)",
					a->changes[i].to ? a->changes[i].to : "(unset)");
	return buf;
}

/* ---- rendering ------------------------------------------------------------------- */

static void test_render_and_fill(void **state)
{
	Fx *f = *state;
	const char *pw = "s3\"cr\\et: #x\t";
	char *filled;
	PgcDatadogPassword st;

	assert_string_equal(datadog_conf_render(f->a, f->c), rendered);
	assert_string_equal(datadog_conf_path(f->a, f->c),
			    "/etc/datadog-agent/conf.d/postgres.d/conf.yaml");
	assert_string_equal(datadog_yaml_quote(f->a, pw), "\"s3\\\"cr\\\\et: #x\\x09\"");
	filled = datadog_conf_fill(f->a, rendered, pw);
	assert_non_null(filled);
	assert_non_null(strstr(filled, "    password: \"s3\\\"cr\\\\et: #x\\x09\"\n    dbname"));
	assert_null(strstr(filled, "<monitoring.datadog.password>"));
	/* What observe keeps of the written file is what the planner renders. */
	assert_string_equal(observe_datadog_mask(f->a, filled, pw, &st), rendered);
	assert_int_equal(st, DATADOG_PW_MATCHES);
	observe_datadog_mask(f->a, filled, "another", &st);
	assert_int_equal(st, DATADOG_PW_DIFFERS);
	observe_datadog_mask(f->a, filled, NULL, &st);
	assert_int_equal(st, DATADOG_PW_UNKNOWN);
	/* A file with no password line, or one that does not unquote, differs. */
	observe_datadog_mask(f->a, "init_config:\ninstances: []\n", pw, &st);
	assert_int_equal(st, DATADOG_PW_DIFFERS);
	observe_datadog_mask(f->a, "    password: \"open\n", pw, &st);
	assert_int_equal(st, DATADOG_PW_DIFFERS);
	/* A plain scalar is compared as it is. */
	observe_datadog_mask(f->a, "    password: plain\n", "plain", &st);
	assert_int_equal(st, DATADOG_PW_MATCHES);
	/* Not a file this renderer wrote: nothing to fill. */
	assert_null(datadog_conf_fill(f->a, "init_config:\n", pw));
}

/* index_of - the position of the first statement starting with prefix, or n. */
static size_t index_of(const char **s, size_t n, const char *prefix)
{
	size_t i;

	for (i = 0; i < n && strncmp(s[i], prefix, strlen(prefix)) != 0; i++)
		;
	return i;
}

static void test_dbm_sql(void **state)
{
	Fx *f = *state;
	size_t n, fn, owner, revoke, acl, grant;
	const char **s = datadog_dbm_sql(f->a, "dd-agent", &n);

	assert_int_equal(n, DATADOG_DBM_N_SQL);
	/* One transaction: never seen half done. */
	assert_string_equal(s[0], "BEGIN");
	assert_string_equal(s[n - 1], "COMMIT");
	assert_string_equal(s[1], "CREATE SCHEMA IF NOT EXISTS datadog");
	assert_string_equal(s[2], "GRANT USAGE ON SCHEMA datadog TO \"dd-agent\"");
	/* Every statement is idempotent: CREATE only with IF NOT EXISTS or OR REPLACE. */
	for (size_t i = 0; i < n; i++)
		if (strncmp(s[i], "CREATE ", 7) == 0)
			assert_true(strstr(s[i], "IF NOT EXISTS") != NULL ||
				    strncmp(s[i], "CREATE OR REPLACE ", 18) == 0);
	/* The explain role: created when missing, no login, no attribute, pg_read_all_data. */
	assert_non_null(strstr(s[5], "IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = "
				     "'pgconverge_explain')"));
	assert_non_null(strstr(s[5], "CREATE ROLE pgconverge_explain NOLOGIN;"));
	assert_string_equal(s[6], "ALTER ROLE pgconverge_explain NOSUPERUSER NOCREATEDB NOCREATEROLE "
				  "INHERIT NOLOGIN NOREPLICATION NOBYPASSRLS");
	assert_string_equal(s[7], "GRANT pg_read_all_data TO pgconverge_explain");
	/* ... and no other membership either way. */
	assert_non_null(strstr(s[8], "r.rolname <> 'pg_read_all_data'"));
	assert_non_null(strstr(s[8], "OR r.rolname = 'pgconverge_explain'"));
	assert_non_null(strstr(s[8], "REVOKE %I FROM %I"));
	/* The function: Datadog's signature, SECURITY DEFINER, the body observe compares. */
	fn = index_of(s, n, "CREATE OR REPLACE FUNCTION datadog.explain_statement(l_query text, "
			    "OUT explain json) RETURNS SETOF json AS $$");
	assert_true(fn < n);
	assert_non_null(strstr(s[fn], "$$" OBS_DATADOG_EXPLAIN_SRC "$$ LANGUAGE plpgsql"));
	assert_non_null(strstr(s[fn], "SECURITY DEFINER"));
	/* The application's statement resolves names as in the Agent's session. */
	assert_null(strstr(s[fn], "search_path"));
	/* Read-only before the statement is planned; every name in the body qualified. */
	assert_true(strstr(s[fn], "SET TRANSACTION READ ONLY;") < strstr(s[fn], "OPEN curs"));
	assert_non_null(strstr(s[fn], "curs pg_catalog.refcursor;\nplan pg_catalog.json;\n"));
	/* Then owned by the explain role, in the same transaction; then the grants. */
	owner = index_of(s, n, "ALTER FUNCTION datadog.explain_statement(text) OWNER TO "
			       "pgconverge_explain");
	revoke = index_of(s, n, "REVOKE ALL ON FUNCTION datadog.explain_statement(text) FROM PUBLIC");
	acl = index_of(s, n, "DO $$DECLARE g name;");
	grant = index_of(s, n, "GRANT EXECUTE ON FUNCTION datadog.explain_statement(text) TO "
			       "\"dd-agent\"");
	assert_int_equal(owner, fn + 1);
	assert_true(owner < revoke && revoke < acl && acl < grant && grant == n - 2);
	assert_string_equal(s[grant], "GRANT EXECUTE ON FUNCTION datadog.explain_statement(text) TO "
				      "\"dd-agent\"");
	/* Every other grantee loses it, and what they granted on. */
	assert_non_null(strstr(s[acl], "x.grantee <> p.proowner"));
	assert_non_null(strstr(s[acl], "FROM %I CASCADE"));
	/* Nothing here makes a superuser or a login. */
	for (size_t i = 0; i < n; i++) {
		const char *p = s[i];

		while ((p = strstr(p, "SUPERUSER")) != NULL) {
			assert_true(p >= s[i] + 2 && strncmp(p - 2, "NO", 2) == 0);
			p++;
		}
	}
}

/* ---- the role ------------------------------------------------------------------------ */

static void test_roles(void **state)
{
	Fx *f = *state;
	const PgcCluster *c = plan_datadog_roles(f->a, f->c);
	const PgcRole *r = NULL;

	assert_ptr_not_equal(c, f->c);
	assert_int_equal(c->n_roles, f->c->n_roles); /* declared: completed, not added */
	for (size_t i = 0; i < c->n_roles; i++)
		if (strcmp(c->roles[i].name, "datadog") == 0)
			r = &c->roles[i];
	assert_non_null(r);
	assert_true(r->login.v);
	assert_string_equal(r->password.ref, "DD_PASSWORD");
	assert_int_equal(r->member_of.n, 2);
	assert_string_equal(r->member_of.items[0].v, "readers");
	assert_string_equal(r->member_of.items[1].v, "pg_monitor");
	/* The topology itself is left as it was. */
	assert_int_equal(f->c->roles[0].member_of.n, 1);
	assert_false(f->c->roles[0].login.v);
}

/* ---- the plan ------------------------------------------------------------------------ */

static void test_fresh(void **state)
{
	Fx *f = *state;
	PgcPlan *p = plan_build(f->t, NULL, NULL);
	const PgcAction *conf = plan_find_action(p, "main/-/datadog-conf");
	const PgcAction *dbm = plan_find_action(p, "main/pg1/datadog-dbm:datadog");

	assert_non_null(plan_find_action(p, "main/pg1/create-role:datadog"));
	assert_non_null(plan_find_action(p, "main/pg1/grant-role:pg_monitor>datadog"));
	assert_non_null(conf);
	assert_int_equal(conf->impact, IMPACT_NONE);
	assert_null(conf->node);
	assert_string_equal(conf->payload.content, rendered);
	assert_string_equal(conf->payload.secret.ref, "DD_PASSWORD");
	assert_string_equal(changes(conf), "conf.yaml: (unset) -> 2 instances, one per node\n");
	assert_non_null(dbm);
	assert_int_equal(dbm->payload.n_params, 2);
	assert_string_equal(dbm->payload.params[0], "postgres");
	assert_string_equal(dbm->payload.params[1], "appdb");
	assert_string_equal(dbm->payload.target, "datadog");
	/* After the role and the database it works in. */
	assert_int_equal(dbm->n_depends_on, 2);
	assert_string_equal(dbm->depends_on[0], "main/pg1/create-role:datadog");
	assert_string_equal(dbm->depends_on[1], "main/pg1/create-database:appdb");
	/* A saved plan carries them whole: it loads back equal. */
	{
		json_t *j = plan_to_json(p);
		char err[256], why[256];
		PgcPlan *back = plan_from_json(j, err, sizeof err);

		assert_non_null(back);
		assert_int_equal(plan_compare_actions(back, p, why, sizeof why), 0);
		assert_string_equal(plan_find_action(back, "main/-/datadog-conf")->payload.content,
				    rendered);
		plan_free(back);
		json_decref(j);
	}
	plan_free(p);
}

static void test_converged(void **state)
{
	Fx *f = *state;

	plan_of(f, f->c, f->o);
	assert_int_equal(f->p->n_actions, 0);
	/* A password this host cannot check is not drift. */
	f->d.conf_password = DATADOG_PW_UNKNOWN;
	plan_of(f, f->c, f->o);
	assert_int_equal(f->p->n_actions, 0);
	/* Nor is a primary that did not answer the DBM probe. */
	f->d.dbm_read = false;
	plan_of(f, f->c, f->o);
	assert_int_equal(f->p->n_actions, 0);
}

static void test_mode_and_password(void **state)
{
	Fx *f = *state;

	f->d.conf_mode = 0644;
	f->d.conf_password = DATADOG_PW_DIFFERS;
	plan_of(f, f->c, f->o);
	assert_int_equal(f->p->n_actions, 1);
	assert_int_equal(f->p->actions[0].kind, ACT_DATADOG_CONF);
	assert_string_equal(f->p->actions[0].reason, "the Datadog check file "
				"\"/etc/datadog-agent/conf.d/postgres.d/conf.yaml\" has another mode");
	assert_string_equal(changes(&f->p->actions[0]),
			    "mode: 0644 -> 0640\n"
			    "password: (another password) -> (monitoring.datadog.password)\n");
	/* The plan names the secret, never its value. */
	assert_string_equal(f->p->actions[0].payload.secret.ref, "DD_PASSWORD");
	assert_null(strstr(f->p->actions[0].payload.content, "password: \"s"));
}

/* The primary moved to pg2 (a failover the file does not know yet): the tags follow. */
static void test_role_tags_follow_the_primary(void **state)
{
	Fx *f = *state;
	const PgcCluster *live = failover_topology(f->a, f->c, "pg1", "pg2");
	const PgcAction *a;

	plan_of(f, live, f->o);
	assert_int_equal(f->p->n_actions, 1);
	a = &f->p->actions[0];
	assert_string_equal(a->id, "main/-/datadog-conf");
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_string_equal(changes(a), "conf.yaml:15: - \"role:primary\" -> - \"role:replica\"\n"
					"conf.yaml:26: - \"role:replica\" -> - \"role:primary\"\n");
	assert_non_null(strstr(a->payload.content, "\"node:pg2\"\n      - \"role:primary\"\n"));
	/* Rendered from the live cluster, then observed: converged. */
	f->d.conf_masked = a->payload.content;
	plan_of(f, live, f->o);
	assert_int_equal(f->p->n_actions, 0);
}

static void test_dbm_missing_in_one_database(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	f->dbs[1].ready = false;
	f->dbs[1].missing = "the function datadog.explain_statement";
	plan_of(f, f->c, f->o);
	assert_int_equal(f->p->n_actions, 1);
	a = &f->p->actions[0];
	assert_string_equal(a->id, "main/pg1/datadog-dbm:datadog");
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_int_equal(a->payload.n_params, 1);
	assert_string_equal(a->payload.params[0], "appdb");
	assert_string_equal(changes(a),
			    "dbm.appdb: missing the function datadog.explain_statement -> ready\n");
	/* A database that neither exists nor is created is the postgres planner's to explain. */
	f->d.n_dbs = 1;
	plan_of(f, f->c, f->o);
	assert_int_equal(f->p->n_actions, 0);
}

/* A standby cluster replays its source's objects: nothing is written there, even missing. */
static void test_dbm_not_on_a_standby_cluster(void **state)
{
	Fx *f = *state;
	PgcCluster standby = *f->c;

	f->dbs[1].ready = false;
	f->dbs[1].missing = "the function datadog.explain_statement";
	standby.standby_upstream = &f->c->nodes[0];
	plan_of(f, &standby, f->o);
	assert_int_equal(f->p->n_actions, 0);
	/* The same state on the primary cluster: planned (the check above can fail). */
	plan_of(f, f->c, f->o);
	assert_int_equal(f->p->n_actions, 1);
}

/*
 * The explain function owned by a superuser (as versions before the
 * explain role left it) in every database: one action for both, after
 * which the probe finds them ready and nothing is planned.
 */
static void test_dbm_wrong_owner_everywhere(void **state)
{
	Fx *f = *state;
	const char *why = "the function datadog.explain_statement it may execute (SECURITY "
			  "DEFINER, owned by role \"pgconverge_explain\", pgconverge's definition)";
	const PgcAction *a;

	for (size_t i = 0; i < 2; i++) {
		f->dbs[i].ready = false;
		f->dbs[i].missing = why;
	}
	plan_of(f, f->c, f->o);
	assert_int_equal(f->p->n_actions, 1);
	a = &f->p->actions[0];
	assert_string_equal(a->id, "main/pg1/datadog-dbm:datadog");
	assert_string_equal(a->node, "pg1");
	assert_int_equal(a->payload.n_params, 2);
	assert_string_equal(a->payload.params[0], "postgres");
	assert_string_equal(a->payload.params[1], "appdb");
	assert_non_null(strstr(changes(a), "dbm.postgres: missing the function "
					   "datadog.explain_statement it may execute (SECURITY DEFINER, "
					   "owned by role \"pgconverge_explain\""));
	/* Repaired: converged. */
	for (size_t i = 0; i < 2; i++) {
		f->dbs[i].ready = true;
		f->dbs[i].missing = NULL;
	}
	plan_of(f, f->c, f->o);
	assert_int_equal(f->p->n_actions, 0);
}

static void test_missing_and_unusable_file(void **state)
{
	Fx *f = *state;

	f->d.conf_exists = false;
	f->d.conf_masked = NULL;
	plan_of(f, f->c, f->o);
	assert_int_equal(f->p->n_actions, 1);
	assert_string_equal(f->p->actions[0].reason, "the Datadog check file "
				"\"/etc/datadog-agent/conf.d/postgres.d/conf.yaml\" does not exist");
	f->d.conf_read = false;
	f->d.conf_error = "\"/etc/datadog-agent/conf.d/postgres.d/conf.yaml\" is a symlink";
	plan_of(f, f->c, f->o);
	assert_int_equal(f->p->n_actions, 1);
	assert_string_equal(f->p->actions[0].reason,
			    "the Datadog check file cannot be used: "
			    "\"/etc/datadog-agent/conf.d/postgres.d/conf.yaml\" is a symlink");
}

static bool plan_depends(const PgcAction *a, const char *id)
{
	for (size_t i = 0; i < a->n_depends_on; i++)
		if (strcmp(a->depends_on[i], id) == 0)
			return true;
	return false;
}

/* With pg_stat_statements declared in a database: not created by both side by side. */
static void test_dbm_after_create_extension(void **state)
{
	static const char *const y =
		"version: 1\n"
		"clusters:\n"
		"  main:\n"
		"    nodes:\n"
		"      pg1: {port: 25432, data_dir: /srv/pgc/pg1}\n"
		"    databases:\n"
		"      appdb: {extensions: [pg_stat_statements]}\n"
		"    monitoring:\n"
		"      pg_stat_statements: true\n"
		"      datadog: {conf_dir: /etc/dd, password: {env: DD_PASSWORD}, dbm: true}\n";
	PgcLoadOptions lo = {.base_dir = "/srv/pgc", .offline = true};
	PgcDiagList diags = {0};
	PgcTopology *t = topology_load_buffer(y, strlen(y), "t.yaml", &lo, &diags);
	PgcPlan *p;
	const PgcAction *dbm;

	(void)state;
	assert_non_null(t);
	diag_free(&diags);
	p = plan_build(t, NULL, NULL);
	dbm = plan_find_action(p, "main/pg1/datadog-dbm:datadog");
	assert_non_null(dbm);
	/* monitoring.pg_stat_statements also creates it in postgres: waits for both */
	assert_int_equal(dbm->n_depends_on, 4);
	assert_true(plan_depends(dbm, "main/pg1/create-extension:appdb.pg_stat_statements"));
	assert_true(plan_depends(dbm, "main/pg1/create-extension:postgres.pg_stat_statements"));
	plan_free(p);
	topology_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_render_and_fill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dbm_sql, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_converged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_and_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_role_tags_follow_the_primary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dbm_missing_in_one_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dbm_not_on_a_standby_cluster, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dbm_wrong_owner_everywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_unusable_file, setup, teardown),
		cmocka_unit_test(test_dbm_after_create_extension),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
