/*
 * tests/unit/test_exec_ha.c - fencing, rejoining and the postmaster checks
 * of reconcile/ha on a fake host (support/fake_host.h): which processes
 * are signalled, which programs run with which arguments, which files are
 * written, renamed or removed. SQL is out of reach here: rejoin runs up to
 * its first query of the primary, on a port where nothing listens.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "reconcile/ha/fence.h"
#include "reconcile/ha/ha.h"
#include "reconcile/ha/rejoin.h"
#include "reconcile/ha/switchover.h"
#include "support/exec_fixture.h"
#include "support/fake_host.h"

/* pg2 is the primary; pg1, the old one, is fenced and rejoined. Nothing listens on the ports. */
static const char yaml[] =
    "version: 1\n"
    "clusters:\n"
    "  c:\n"
    "    primary: pg2\n"
    "    postgres: {version: 15, bin_dir: /pg/bin}\n"
    "    os_user: postgres\n"
    "    nodes:\n"
    "      pg1: {host: 127.0.0.1, port: 25981, data_dir: /data/pg1}\n"
    "      pg2: {host: 127.0.0.1, port: 25982, data_dir: /data/pg2}\n";

static const char pidfile[] = "600\n/data/pg1\n1700000000\n25981\n/run/pgconverge\n";

/* ---- the postmaster of a node --------------------------------------------------------------- */

static void test_postmaster_pid(void **state)
{
	PgcTopology *t = fixture_topology(yaml);
	const PgcNode *n = cluster_node(&t->clusters[0], "pg1");
	PgcHost *h = fake_host_new("postgres");

	(void)state;
	/* No postmaster.pid, then one naming nothing alive. */
	assert_int_equal(ha_postmaster_pid(h, n), 0);
	fake_host_put(h, "/data/pg1/postmaster.pid", pidfile);
	assert_int_equal(ha_postmaster_pid(h, n), 0);
	assert_int_equal(ha_wait_reaped(h, n, 10), 0);
	/* A stale file naming someone else's process. */
	fake_host_proc(h, 600, 1, "bash", "/", NULL);
	assert_int_equal(ha_postmaster_pid(h, n), 0);
	host_free(h);

	h = fake_host_new("postgres");
	fake_host_put(h, "/data/pg1/postmaster.pid", pidfile);
	fake_host_proc(h, 600, 1, "postgres", "/data/pg1", NULL);
	assert_int_equal(ha_postmaster_pid(h, n), 600);
	assert_true(ha_pid_alive(h, 600));
	assert_int_equal(ha_wait_reaped(h, n, 10), -1);
	/* Killed, not reaped yet: not alive, but still in the way of a start. */
	fake_host_zombie(h, 600);
	assert_false(ha_pid_alive(h, 600));
	assert_int_equal(ha_postmaster_pid(h, n), 0);
	assert_int_equal(ha_wait_reaped(h, n, 10), -1);
	assert_string_equal(fake_host_calls(h), "read /data/pg1/postmaster.pid\n"
						 "read /data/pg1/postmaster.pid\n"
						 "read /data/pg1/postmaster.pid\n"
						 "read /data/pg1/postmaster.pid\n");
	host_free(h);
	topology_free(t);
}

/* ---- fence ------------------------------------------------------------------------------------ */

/* Down already: the backends it left behind are killed, standby.signal is written. */
static void test_fence_down_with_orphans(void **state)
{
	PgcTopology *t = fixture_topology(yaml);
	const PgcCluster *c = &t->clusters[0];
	PgcHost *h = fake_host_new("postgres");
	PgcFenceOptions fo = {.mark_standby = true};
	PgcFenceResult r;
	char *log;

	(void)state;
	fake_host_mkdir(h, "/data/pg1");
	fake_host_proc(h, 501, 1, "postgres", "/data/pg1", NULL);  /* an orphaned backend */
	fake_host_proc(h, 502, 1, "postgres", "/data/pg9", NULL);  /* another server's */
	fake_host_proc(h, 503, 1, "bash", "/data/pg1", NULL);      /* a shell in the folder */
	log_capture_begin();
	assert_int_equal(fence_node_on(h, c, cluster_node(c, "pg1"), &fo, &r), 0);
	log = log_capture_end();
	free(log);
	assert_int_equal(r.method, FENCE_ALREADY_DOWN);
	assert_int_equal(r.orphans_killed, 1);
	assert_true(r.marked_standby);
	assert_string_equal(r.detail, "no server was running for \"/data/pg1\"; killed 1 backend "
				      "left behind");
	assert_string_equal(fake_host_calls(h), "read /data/pg1/postmaster.pid\n"
						 "signal 501 9\n"
						 "read /data/pg1/standby.signal\n"
						 "write /data/pg1/standby.signal 0600\n");
	assert_string_equal(fake_host_get(h, "/data/pg1/standby.signal"), "");

	/* fence_unmark: the signal goes, durably; absent is fine. */
	fake_host_clear(h);
	assert_int_equal(fence_unmark_on(h, cluster_node(c, "pg1")), 0);
	assert_int_equal(fence_unmark_on(h, cluster_node(c, "pg1")), 0);
	assert_string_equal(fake_host_calls(h), "remove /data/pg1/standby.signal\n"
						 "sync /data/pg1\n"
						 "remove /data/pg1/standby.signal\n");
	assert_null(fake_host_get(h, "/data/pg1/standby.signal"));
	host_free(h);
	topology_free(t);
}

/* pg_ctl stop reports success but the postmaster stays: SIGKILL to it. */
/* A target whose promotion was requested is rolled back only from these states. */
static void test_switchover_unpromoted(void **state)
{
	(void)state;
	assert_true(switchover_unpromoted("shut down in recovery"));
	assert_true(switchover_unpromoted("in archive recovery"));
	assert_false(switchover_unpromoted("in production"));
	assert_false(switchover_unpromoted("shut down"));
	assert_false(switchover_unpromoted("in crash recovery"));
	assert_false(switchover_unpromoted(""));
	assert_false(switchover_unpromoted(NULL));
}

static void test_fence_wedged(void **state)
{
	PgcTopology *t = fixture_topology(yaml);
	const PgcCluster *c = &t->clusters[0];
	PgcHost *h = fake_host_new("postgres");
	PgcFenceOptions fo = {.graceful = true};
	PgcFenceResult r;
	char *log;

	(void)state;
	fake_host_put(h, "/data/pg1/postmaster.pid", pidfile);
	fake_host_proc(h, 600, 1, "postgres", "/data/pg1", NULL);
	fake_host_script(h, "pg_ctl status", 0, "pg_ctl: server is running (PID: 600)\n");
	fake_host_script(h, "pg_ctl stop", 1, "pg_ctl: server does not shut down\n");
	fake_host_script(h, "pg_ctl status", 0, "pg_ctl: server is running (PID: 600)\n");
	fake_host_script(h, "pg_ctl stop", 0, "");
	log_capture_begin();
	assert_int_equal(fence_node_on(h, c, cluster_node(c, "pg1"), &fo, &r), 0);
	log = log_capture_end();
	assert_non_null(strstr(log, "fenced node \"c/pg1\": killed its postmaster with SIGKILL"));
	free(log);
	assert_int_equal(r.method, FENCE_KILLED);
	assert_false(r.clean);
	assert_false(r.marked_standby);
	assert_string_equal(fake_host_calls(h),
			    "read /data/pg1/postmaster.pid\n"
			    "run /pg/bin/pg_ctl status -D /data/pg1\n"
			    "run /pg/bin/pg_ctl stop -D /data/pg1 -m fast -w -t 10\n"
			    "run /pg/bin/pg_ctl status -D /data/pg1\n"
			    "run /pg/bin/pg_ctl stop -D /data/pg1 -m immediate -w -t 5\n"
			    "read /data/pg1/postmaster.pid\n"
			    "read /data/pg1/postmaster.pid\n"
			    "signal 600 9\n");
	host_free(h);

	/* Not on this machine and no fence_command: refused, nothing run. */
	log_capture_begin();
	assert_int_equal(fence_node_on(NULL, c, cluster_node(c, "pg1"), &fo, &r), -1);
	free(log_capture_end());
	assert_int_equal(r.method, FENCE_NONE);
	assert_string_equal(r.detail, "node \"pg1\" is on host \"127.0.0.1\", not on this machine, "
				      "and failover.fence_command is not set");
	topology_free(t);
}

/* ---- rejoin ---------------------------------------------------------------------------------- */

static const char controldata[] = "pg_control version number:            1300\n"
				  "Database system identifier:           7300000000000000001\n"
				  "Database cluster state:               shut down\n"
				  "Latest checkpoint location:           0/3000028\n"
				  "Latest checkpoint's TimeLineID:       1\n";

/* A stopped node: its control file is read, then the primary must answer (it does not). */
static void test_rejoin_stopped_node(void **state)
{
	PgcTopology *t = fixture_topology(yaml);
	PgcHost *h = fake_host_new("postgres");
	PgcRejoinOptions o;
	PgcRejoinResult r;
	char *log;

	(void)state;
	rejoin_defaults(&o);
	fake_host_script(h, "pg_controldata", 0, controldata);
	log_capture_begin();
	assert_int_equal(rejoin_node_on(h, &t->clusters[0], "pg1", &o, &r), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "could not run CHECKPOINT on the primary \"c/pg2\""));
	free(log);
	assert_int_equal(r.outcome, REJOIN_FAILED);
	assert_false(r.was_primary);
	assert_int_equal(r.node_timeline, 1);
	assert_string_equal(r.decision, "node \"pg1\" was not rejoined");
	/* Nothing was stopped, renamed or written: only looked at. */
	assert_string_equal(fake_host_calls(h), "read /data/pg1/postmaster.pid\n"
						 "read /data/pg1/postmaster.pid\n"
						 "run /pg/bin/pg_controldata -D /data/pg1\n"
						 "env LC_ALL=C\n");
	host_free(h);
	topology_free(t);
}

/* A server that runs but does not answer is stopped; its postmaster must be gone. */
static void test_rejoin_running_node(void **state)
{
	PgcTopology *t = fixture_topology(yaml);
	PgcHost *h = fake_host_new("postgres");
	PgcRejoinOptions o;
	PgcRejoinResult r;
	char *log;

	(void)state;
	rejoin_defaults(&o);
	fake_host_put(h, "/data/pg1/postmaster.pid", pidfile);
	fake_host_proc(h, 600, 1, "postgres", "/data/pg1", NULL);
	fake_host_script(h, "pg_ctl status", 0, "pg_ctl: server is running (PID: 600)\n");
	fake_host_script(h, "pg_ctl stop", 0, "");
	log_capture_begin();
	assert_int_equal(rejoin_node_on(h, &t->clusters[0], "pg1", &o, &r), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "node \"c/pg1\" runs but does not answer"));
	/* The fake's postmaster ignores pg_ctl: rejoin refuses to go on. */
	assert_non_null(strstr(log, "cannot rejoin node \"c/pg1\": the process named by its "
				    "postmaster.pid still exists after 30 s"));
	free(log);
	assert_int_equal(r.outcome, REJOIN_FAILED);
	assert_string_equal(fake_host_calls(h), "read /data/pg1/postmaster.pid\n"
						 "run /pg/bin/pg_ctl status -D /data/pg1\n"
						 "run /pg/bin/pg_ctl stop -D /data/pg1 -m fast -w -t 60\n"
						 "read /data/pg1/postmaster.pid\n");
	host_free(h);

	/* Not on this machine: refused before anything. */
	log_capture_begin();
	assert_int_equal(rejoin_node_on(NULL, &t->clusters[0], "pg1", &o, &r), -1);
	log = log_capture_end();
	assert_string_equal(log, "error: cannot rejoin node \"c/pg1\": it is on host \"127.0.0.1\", "
				 "not on this machine\n"
				 "  hint: run pgconverge on that host\n");
	free(log);
	topology_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postmaster_pid),
		cmocka_unit_test(test_fence_down_with_orphans),
		cmocka_unit_test(test_switchover_unpromoted),
		cmocka_unit_test(test_fence_wedged),
		cmocka_unit_test(test_rejoin_stopped_node),
		cmocka_unit_test(test_rejoin_running_node),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
