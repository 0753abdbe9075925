/*
 * tests/unit/test_standby_frontdoor.c - a standby cluster (standby_of)
 * declares no roles: its front doors and `plan --offline` see it as the
 * planner's live copy does.
 *
 *   - topology_roles_view: the roles and databases of the chain's root, on
 *     a standby cluster and on a standby of a standby; a cluster that is no
 *     standby is its own view;
 *   - the PgBouncer userlist rendered for a standby cluster with no roles of
 *     its own holds its source's login roles (and only the declared ones
 *     with a SCRAM verifier); from the file's cluster alone, none;
 *   - Pgpool-II's pool_passwd from the view holds the source's roles;
 *   - plan --offline of the same file (base = head) plans nothing for a
 *     source and its standby clusters (slots, primary_conninfo,
 *     restore_command from the source's archive), and moving the source's
 *     primary re-points the standby leader and moves its slot; a standby
 *     cluster added to the file gets its slot on the source and is cloned.
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
#include "reconcile/engine/plan.h"
#include "reconcile/observe/observe_pgbouncer.h"
#include "reconcile/observe/observe_pgpool.h"
#include "reconcile/plan_offline.h"
#include "schema/topology.h"

/* eu (eu1, eu2) with roles and an archive; us standby_of eu, with PgBouncer; ap standby_of us. */
static const char *topology(char *buf, size_t len, const char *eu_primary)
{
	snprintf(buf, len,
		 "version: 1\n"
		 "clusters:\n"
		 "  eu:\n"
		 "    primary: %s\n"
		 "    nodes:\n"
		 "      eu1: {host: 127.0.0.1, port: 25470, data_dir: /srv/pgc/eu1}\n"
		 "      eu2: {host: 127.0.0.1, port: 25471, data_dir: /srv/pgc/eu2}\n"
		 "    backup: {repository: /srv/pgc/repo-eu, wal_archive: true}\n"
		 "    replication:\n"
		 "      user: replicator\n"
		 "      password: {env: PGC_TEST_REPLICATION_PASSWORD}\n"
		 "    roles:\n"
		 "      app: {login: true, password: {env: PGC_TEST_APP_PASSWORD}}\n"
		 "      nologin: {login: false}\n"
		 "      nopass: {login: true}\n"
		 "    databases:\n"
		 "      appdb: {owner: app}\n"
		 "  us:\n"
		 "    standby_of: eu\n"
		 "    primary: us1\n"
		 "    nodes:\n"
		 "      us1: {host: 127.0.0.1, port: 25472, data_dir: /srv/pgc/us1}\n"
		 "      us2: {host: 127.0.0.1, port: 25473, data_dir: /srv/pgc/us2}\n"
		 "    pooler:\n"
		 "      pgbouncer: {port: 26432, dir: /srv/pgc/pgbouncer-us}\n"
		 "    balancer:\n"
		 "      pgpool: {port: 29999, pcp_port: 29898, dir: /srv/pgc/pgpool-us}\n"
		 "  ap:\n"
		 "    standby_of: us\n"
		 "    primary: ap1\n"
		 "    nodes:\n"
		 "      ap1: {host: 127.0.0.1, port: 25474, data_dir: /srv/pgc/ap1}\n",
		 eu_primary);
	return buf;
}

/* load_cut - the topology, cut before the line cut (NULL: whole). */
static PgcTopology *load_cut(const char *eu_primary, const char *cut)
{
	char buf[4096], *at;
	PgcLoadOptions opts = {.offline = true, .tool_path = "/usr/local/bin/pgconverge"};
	PgcDiagList diags = {0};
	PgcTopology *t;

	setenv("PGC_TEST_REPLICATION_PASSWORD", "repl-secret", 1);
	setenv("PGC_TEST_APP_PASSWORD", "app-secret", 1);
	topology(buf, sizeof buf, eu_primary);
	if (cut != NULL && (at = strstr(buf, cut)) != NULL)
		*at = '\0';
	t = topology_load_buffer(buf, strlen(buf), "t.yaml", &opts, &diags);
	assert_non_null(t);
	if (diag_count(&diags, DIAG_ERROR) != 0) {
		diag_print(stderr, &diags, false);
		fail();
	}
	diag_free(&diags);
	return t;
}

static PgcTopology *load(const char *eu_primary)
{
	return load_cut(eu_primary, NULL);
}

static void test_roles_view(void **state)
{
	PgcTopology *t = load("eu1");
	PgcArena *a = arena_new();
	const PgcCluster *eu = topology_cluster(t, "eu"), *us = topology_cluster(t, "us");
	const PgcCluster *ap = topology_cluster(t, "ap"), *v;

	(void)state;
	assert_int_equal(us->n_roles, 0);
	assert_ptr_equal(topology_roles_view(a, t, eu), eu);
	v = topology_roles_view(a, t, us);
	assert_ptr_not_equal(v, us);
	assert_string_equal(v->name, "us");
	assert_string_equal(v->primary.v, "us1");
	assert_true(v->pgbouncer.set);
	assert_int_equal(v->n_roles, eu->n_roles);
	assert_ptr_equal(v->roles, eu->roles);
	assert_int_equal(v->n_databases, 1);
	assert_string_equal(v->databases[0].name, "appdb");
	/* a standby of a standby: the root's catalog */
	v = topology_roles_view(a, t, ap);
	assert_ptr_equal(v->roles, eu->roles);
	arena_free(a);
	topology_free(t);
}

static void test_userlist_of_a_standby_cluster(void **state)
{
	PgcTopology *t = load("eu1");
	PgcArena *a = arena_new();
	const PgcCluster *us = topology_cluster(t, "us");
	/* pg_authid of us1, which replays eu's: rows as the query reads them */
	const char *names[] = {"app", "nopass", "other", "postgres"};
	const char *verifiers[] = {"SCRAM-SHA-256$4096:c2FsdA==$c3Rvcg==:c2VydmVy",
				   "SCRAM-SHA-256$4096:eA==$eQ==:eg==", "SCRAM-SHA-256$4096:eA==$eQ==:eg==",
				   "md5abc"};
	char *u;

	(void)state;
	u = pgbouncer_userlist_render(topology_roles_view(a, t, us), "adm\"in", names, verifiers, 4);
	assert_non_null(u);
	assert_string_equal(u, "\"pgconverge\" \"adm\"\"in\"\n"
			       "\"app\" \"SCRAM-SHA-256$4096:c2FsdA==$c3Rvcg==:c2VydmVy\"\n");
	pgbouncer_secret_free(u);
	/* the file's cluster alone declares none: only the admin user (the bug) */
	u = pgbouncer_userlist_render(us, "x", names, verifiers, 4);
	assert_string_equal(u, "\"pgconverge\" \"x\"\n");
	pgbouncer_secret_free(u);
	arena_free(a);
	topology_free(t);
}

static void test_pool_passwd_of_a_standby_cluster(void **state)
{
	PgcTopology *t = load("eu1");
	PgcArena *a = arena_new();
	const PgcCluster *us = topology_cluster(t, "us");
	const PgcRole *u;
	char *out = NULL, err[256];

	(void)state;
	assert_int_equal(pgpool_passwd_render(topology_roles_view(a, t, us), "k", &out, err, sizeof err),
			 0);
	assert_non_null(strstr(out, "app:AES"));
	assert_null(strstr(out, "nopass"));
	free(out);
	u = observe_pgpool_user(topology_roles_view(a, t, us));
	assert_non_null(u);
	assert_string_equal(u->name, "app");
	assert_int_equal(pgpool_passwd_render(us, "k", &out, err, sizeof err), 0);
	assert_string_equal(out, "");
	free(out);
	arena_free(a);
	topology_free(t);
}

static bool has_action(const PgcPlan *p, const char *id)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (strcmp(p->actions[i].id, id) == 0)
			return true;
	return false;
}

static const char *change_to(const PgcPlan *p, const char *id, const char *key)
{
	for (size_t i = 0; i < p->n_actions; i++) {
		if (strcmp(p->actions[i].id, id) != 0)
			continue;
		for (size_t j = 0; j < p->actions[i].n_changes; j++)
			if (strcmp(p->actions[i].changes[j].key, key) == 0)
				return p->actions[i].changes[j].to;
	}
	return NULL;
}

static void test_offline_same_file_plans_nothing(void **state)
{
	PgcTopology *t = load("eu1");
	PgcPlan *p;

	(void)state;
	p = plan_offline(t, t, NULL);
	assert_non_null(p);
	/* PgBouncer and Pgpool-II are planned as new offline: nothing else */
	for (size_t i = 0; i < p->n_actions; i++)
		assert_true(p->actions[i].kind == ACT_PGBOUNCER_CONFIG ||
			    p->actions[i].kind == ACT_PGBOUNCER_START ||
			    strncmp(p->actions[i].id, "us/-/pgpool", 11) == 0);
	assert_int_equal(p->n_orphans, 0);
	plan_free(p);
	topology_free(t);
}

static void test_offline_source_switchover_repoints_the_leader(void **state)
{
	PgcTopology *base = load("eu1"), *head = load("eu2");
	PgcPlan *p;
	const char *conninfo;

	(void)state;
	p = plan_offline(base, head, NULL);
	assert_non_null(p);
	assert_true(has_action(p, "eu/eu2/create-slot:pgc_standby_us"));
	assert_true(has_action(p, "eu/eu1/drop-slot:pgc_standby_us"));
	conninfo = change_to(p, "us/us1/config", "primary_conninfo");
	assert_non_null(conninfo);
	assert_non_null(strstr(conninfo, "port=25471"));
	/* its slot stays the same: no change of primary_slot_name */
	assert_null(change_to(p, "us/us1/config", "primary_slot_name"));
	/* us2 cascades from us1 and ap1 from us1: untouched */
	assert_false(has_action(p, "us/us2/config"));
	assert_false(has_action(p, "ap/ap1/config"));
	plan_free(p);
	topology_free(base);
	topology_free(head);
}

/* a standby cluster added to the file: its slot on the source, its leader cloned */
static void test_offline_new_standby_cluster(void **state)
{
	PgcTopology *base = load_cut("eu1", "  us:\n"), *head = load("eu1");
	PgcPlan *p;

	(void)state;
	assert_int_equal(base->n_clusters, 1);
	p = plan_offline(base, head, NULL);
	assert_non_null(p);
	assert_true(has_action(p, "eu/eu1/create-slot:pgc_standby_us"));
	assert_true(has_action(p, "us/us1/clone"));
	assert_true(has_action(p, "us/us1/create-slot:pgc_standby_ap"));
	assert_false(has_action(p, "eu/eu1/config"));
	assert_false(has_action(p, "eu/eu2/config"));
	plan_free(p);
	topology_free(base);
	topology_free(head);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles_view),
		cmocka_unit_test(test_userlist_of_a_standby_cluster),
		cmocka_unit_test(test_pool_passwd_of_a_standby_cluster),
		cmocka_unit_test(test_offline_same_file_plans_nothing),
		cmocka_unit_test(test_offline_source_switchover_repoints_the_leader),
		cmocka_unit_test(test_offline_new_standby_cluster),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
