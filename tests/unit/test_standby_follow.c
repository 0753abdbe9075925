/*
 * tests/unit/test_standby_follow.c - what the loader links (each source's
 * standby clusters, kept by copies of the struct) and what the standby
 * front door would write on a standby leader once its source's primary
 * moved (standby_follow_live): the same managed configuration as the
 * planner's live copy renders with the new primary, so that the next pass
 * finds nothing to change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "common/arena.h"
#include "common/diag.h"
#include "reconcile/engine/frontdoor.h"
#include "reconcile/postgres/plan_conf.h"
#include "reconcile/standby/plan_standby.h"
#include "reconcile/standby/standby_follow.h"
#include "schema/topology.h"

#define CHAIN                                                                   \
	"version: 1\nclusters:\n"                                               \
	"  eu:\n"                                                               \
	"    primary: eu1\n"                                                    \
	"    nodes:\n"                                                          \
	"      eu1: {port: 25470, data_dir: data/eu1}\n"                        \
	"      eu2: {port: 25471, data_dir: data/eu2}\n"                        \
	"    settings: {max_connections: 100}\n"                               \
	"    replication: {user: repl, password: {env: REPL_PW}}\n"            \
	"    roles:\n"                                                          \
	"      app: {login: true}\n"                                            \
	"    databases:\n"                                                      \
	"      appdb: {owner: app}\n"                                           \
	"  us:\n"                                                               \
	"    standby_of: eu\n"                                                  \
	"    primary: us1\n"                                                    \
	"    nodes:\n"                                                          \
	"      us1: {port: 25472, data_dir: data/us1}\n"                        \
	"      us2: {port: 25473, data_dir: data/us2}\n"                        \
	"    settings: {max_connections: 100}\n"                               \
	"  ap:\n"                                                               \
	"    standby_of: us\n"                                                  \
	"    nodes:\n"                                                          \
	"      ap1: {port: 25474, data_dir: data/ap1}\n"                        \
	"    settings: {max_connections: 100}\n"

static PgcTopology *load(const char *yaml)
{
	PgcLoadOptions opts = {.base_dir = "/srv/topo", .offline = true};
	PgcDiagList diags = {0};
	PgcTopology *t = topology_load_buffer(yaml, strlen(yaml), "t.yaml", &opts, &diags);

	assert_non_null(t);
	assert_int_equal(diag_count(&diags, DIAG_ERROR), 0);
	diag_free(&diags);
	return t;
}

static void test_loader_links_standbys(void **state)
{
	PgcTopology *t = load(CHAIN);
	const PgcCluster *eu = topology_cluster(t, "eu"), *us = topology_cluster(t, "us");
	const PgcCluster *ap = topology_cluster(t, "ap");
	PgcCluster copy;

	(void)state;
	assert_int_equal(eu->n_standbys, 1);
	assert_ptr_equal(eu->standbys[0], us);
	assert_int_equal(us->n_standbys, 1);
	assert_ptr_equal(us->standbys[0], ap);
	assert_int_equal(ap->n_standbys, 0);
	assert_null(ap->standbys);
	/* A copy (failover_topology's) names the same clusters. */
	copy = *eu;
	copy.primary.v = "eu2";
	assert_ptr_equal(copy.standbys[0], us);
	assert_true(standby_follow_declared(&copy));
	assert_true(standby_follow_declared(us));
	assert_false(standby_follow_declared(ap));
	topology_free(t);
}

static void test_not_linked_when_invalid(void **state)
{
	static const char yaml[] = "version: 1\nclusters:\n"
				   "  eu:\n"
				   "    nodes: {eu1: {port: 25470, data_dir: data/eu1}}\n"
				   "  us:\n"
				   "    standby_of: ue\n"
				   "    nodes: {us1: {port: 25472, data_dir: data/us1}}\n";
	PgcLoadOptions opts = {.base_dir = "/srv/topo", .offline = true};
	PgcDiagList diags = {0};
	PgcTopology *t = topology_load_buffer(yaml, strlen(yaml), "t.yaml", &opts, &diags);

	(void)state;
	assert_non_null(t);
	assert_true(diag_count(&diags, DIAG_ERROR) > 0);
	assert_int_equal(topology_cluster(t, "eu")->n_standbys, 0);
	topology_free(t);
	diag_free(&diags);
}

/* The front door's rendering and the planner's, source eu's primary being eu2. */
static void test_live_same_as_planner(void **state)
{
	PgcTopology *t = load(CHAIN);
	PgcArena *a = arena_new();
	const PgcCluster *eu = topology_cluster(t, "eu"), *us = topology_cluster(t, "us");
	const char *live_primaries[3] = {"eu2", NULL, NULL};
	const PgcCluster *hook, *planner;
	const char *conf;
	PgcCluster x = *eu;

	(void)state;
	x.primary.v = "eu2";
	hook = standby_follow_live(a, &x, us, "eu2");
	assert_non_null(hook);
	assert_non_null(hook->standby_upstream);
	assert_string_equal(hook->standby_upstream->name, "eu2");
	assert_string_equal(hook->standby_upstream_ref, "eu/eu2");
	assert_string_equal(hook->standby_slot, "pgc_standby_us");
	assert_ptr_equal(hook->roles, eu->roles);
	assert_ptr_equal(hook->databases, eu->databases);
	/* us is a source too: ap's slot and host stay as the planner has them. */
	assert_int_equal(hook->n_kept_slots, 1);
	assert_string_equal(hook->kept_slots[0], "pgc_standby_ap");
	assert_int_equal(hook->n_standby_hosts, 1);
	assert_ptr_equal(cluster_upstream(hook, cluster_node(hook, "us1")), hook->standby_upstream);

	assert_string_equal(t->clusters[0].name, "eu");
	planner = plan_standby_live(a, t, us, NULL, live_primaries);
	conf = plan_managed_conf(a, hook, cluster_node(hook, "us1"));
	assert_string_equal(conf, plan_managed_conf(a, planner, cluster_node(planner, "us1")));
	assert_non_null(strstr(conf, "port=25471 user=repl application_name=us-us1"));
	assert_non_null(strstr(conf, "pgc_standby_us"));
	/* The replica of the leader is not the hook's: it cascades as before. */
	assert_string_equal(plan_managed_conf(a, hook, cluster_node(hook, "us2")),
			    plan_managed_conf(a, planner, cluster_node(planner, "us2")));
	arena_free(a);
	topology_free(t);
}

static void test_live_refuses(void **state)
{
	PgcTopology *t = load(CHAIN);
	PgcArena *a = arena_new();
	const PgcCluster *eu = topology_cluster(t, "eu"), *us = topology_cluster(t, "us");
	const PgcCluster *ap = topology_cluster(t, "ap");

	(void)state;
	assert_null(standby_follow_live(a, eu, ap, "eu1")); /* not a standby cluster of eu */
	assert_null(standby_follow_live(a, eu, us, "eu9")); /* no such node */
	/* Down the chain: ap's leader follows a new leader of us the same way. */
	assert_string_equal(standby_follow_live(a, us, ap, "us2")->standby_upstream_ref, "us/us2");
	arena_free(a);
	topology_free(t);
}

/* The front door's row is told after the poolers and balancers. */
static void test_row_last(void **state)
{
	size_t n;
	const PgcFrontDoor *fd = frontdoor_table(&n);

	(void)state;
	assert_true(n >= 1);
	assert_string_equal(fd[n - 1].name, "standby");
	assert_null(fd[n - 1].pause);
	assert_null(fd[n - 1].resume);
	assert_ptr_equal(fd[n - 1].repoint, standby_follow_repoint);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loader_links_standbys),
		cmocka_unit_test(test_not_linked_when_invalid),
		cmocka_unit_test(test_live_same_as_planner),
		cmocka_unit_test(test_live_refuses),
		cmocka_unit_test(test_row_last),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
