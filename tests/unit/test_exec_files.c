/*
 * tests/unit/test_exec_files.c - the file executors on a fake host
 * (support/fake_host.h): the managed configuration files and the clone
 * of a replica, as far as they run without a server. Each test asserts
 * what the executor asked of the node's machine, in order, and what it
 * left there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "reconcile/postgres/plan_conf.h"
#include "reconcile/engine/exec.h"
#include "reconcile/pg/layout.h"
#include "reconcile/observe/observe.h"
#include "reconcile/postgres/config.h"
#include "reconcile/postgres/replication.h"
#include "support/exec_fixture.h"
#include "support/fake_host.h"

static const char yaml[] =
    "version: 1\n"
    "clusters:\n"
    "  main:\n"
    "    primary: pg1\n"
    "    postgres: {version: 15, bin_dir: /pg/bin}\n"
    "    os_user: postgres\n"
    "    replication: {user: replicator, password: {env: PGC_TEST_REPL_PW}, slots: %s}\n"
    "    nodes:\n"
    "      pg1: {host: 127.0.0.1, port: 25991, data_dir: /data/pg1}\n"
    "      pg2: {host: 127.0.0.1, port: 25992, data_dir: /data/pg2}\n";

static PgcTopology *topo(bool slots)
{
	char buf[1024];

	snprintf(buf, sizeof buf, yaml, slots ? "true" : "false");
	return fixture_topology(buf);
}

/* ---- config ------------------------------------------------------------------------ */

static void test_config_write(void **state)
{
	PgcTopology *t = topo(true);
	PgcHost *h = fake_host_new("postgres");
	PgcAction a = {.id = "main/pg1/config", .kind = ACT_WRITE_CONFIG, .cluster = "main",
		       .node = "pg1"};
	PgcExecCtx ctx;

	(void)state;
	a.payload.path = "/data/pg1/pgconverge.conf";
	a.payload.content = "work_mem = '8MB'\n";
	fake_host_put(h, "/data/pg1/postgresql.conf", "shared_buffers = 1MB");

	fixture_ctx(&ctx, t, "pg1", h, &a);
	assert_int_equal(config_write(&ctx), 0);
	assert_false(ctx.nothing_to_do);
	assert_string_equal(fake_host_calls(h), "write /data/pg1/pgconverge.conf 0600\n"
						 "read /data/pg1/pgconverge.conf\n"
						 "read /data/pg1/postgresql.conf\n"
						 "write /data/pg1/postgresql.conf 0600\n");
	assert_string_equal(fake_host_get(h, "/data/pg1/pgconverge.conf"), "work_mem = '8MB'\n");
	/* One line added, nothing else in the file edited. */
	assert_string_equal(fake_host_get(h, "/data/pg1/postgresql.conf"),
			    "shared_buffers = 1MB\ninclude 'pgconverge.conf'\n");
	fixture_ctx_done(&ctx);

	/* Again: the check finds everything done and writes no include line. */
	fake_host_clear(h);
	fixture_ctx(&ctx, t, "pg1", h, &a);
	assert_int_equal(config_write(&ctx), 0);
	assert_true(ctx.nothing_to_do);
	assert_string_equal(fake_host_calls(h), "write /data/pg1/pgconverge.conf 0600\n"
						 "read /data/pg1/pgconverge.conf\n"
						 "read /data/pg1/postgresql.conf\n");
	fixture_ctx_done(&ctx);
	host_free(h);
	topology_free(t);
}

static void test_config_write_refusals(void **state)
{
	PgcTopology *t = topo(true);
	PgcHost *h = fake_host_new("postgres");
	PgcAction a = {.id = "main/pg1/config", .kind = ACT_WRITE_CONFIG, .cluster = "main",
		       .node = "pg1"};
	PgcExecCtx ctx;
	char *log;

	(void)state;
	/* No content in the action: nothing is touched. */
	fixture_ctx(&ctx, t, "pg1", h, &a);
	log_capture_begin();
	assert_int_equal(config_write(&ctx), -1);
	log = log_capture_end();
	free(log);
	assert_string_equal(ctx.error, "action \"main/pg1/config\" carries no file content");
	assert_string_equal(fake_host_calls(h), "");
	fixture_ctx_done(&ctx);

	/* No postgresql.conf: the managed file and its empty default are written, no include. */
	a.payload.content = "x = 1\n";
	fixture_ctx(&ctx, t, "pg1", h, &a);
	log_capture_begin();
	assert_int_equal(config_write(&ctx), -1);
	log = log_capture_end();
	free(log);
	assert_string_equal(ctx.error,
			    "cannot add the include line: \"/data/pg1/postgresql.conf\" does not exist");
	assert_string_equal(fake_host_get(h, "/data/pg1/pgconverge.conf"), "x = 1\n");
	fixture_ctx_done(&ctx);

	/* Not on this machine: refused before anything. */
	fixture_ctx(&ctx, t, "pg1", NULL, &a);
	log_capture_begin();
	assert_int_equal(config_write(&ctx), -1);
	log = log_capture_end();
	free(log);
	assert_string_equal(ctx.error, "cannot run \"main/pg1/config\": node \"main/pg1\" is on host "
				       "\"127.0.0.1\", not on this machine");
	fixture_ctx_done(&ctx);
	host_free(h);
	topology_free(t);
}

/* The typed writers run without a plan action, as the HA flows call them. */
static void test_config_typed_without_action(void **state)
{
	PgcTopology *t = topo(true);
	PgcHost *h = fake_host_new("postgres");
	PgcExecCtx ctx;
	const char *passfile;

	(void)state;
	setenv("PGC_TEST_REPL_PW", "s3:cr\\t", 1);
	fixture_ctx(&ctx, t, "pg2", h, NULL);
	assert_int_equal(config_write_hba_node(&ctx, NULL, "local all all peer\n", "# ident\n"), 0);
	assert_int_equal(config_write_passfile_node(&ctx, NULL, NULL, NULL, NULL), 0);
	passfile = plan_passfile_path(ctx.arena, "/data/pg2");
	assert_string_equal(passfile, "/data/.pg2.pgconverge.pgpass");
	assert_string_equal(fake_host_calls(h), "write /data/pg2/pg_hba.conf 0600\n"
						 "write /data/pg2/pg_ident.conf 0600\n"
						 "write /data/.pg2.pgconverge.pgpass 0600\n");
	assert_string_equal(fake_host_get(h, "/data/pg2/pg_hba.conf"), "local all all peer\n");
	assert_string_equal(fake_host_get(h, "/data/pg2/pg_ident.conf"), "# ident\n");
	/* The upstream's address, the replication user, the password escaped. */
	assert_string_equal(fake_host_get(h, passfile),
			    "127.0.0.1:25991:*:replicator:s3\\:cr\\\\t\n");
	fixture_ctx_done(&ctx);

	/* An upstream that is not in the cluster. */
	fixture_ctx(&ctx, t, "pg2", h, NULL);
	log_capture_begin();
	assert_int_equal(config_write_passfile_node(&ctx, NULL, "pg9", NULL, NULL), -1);
	free(log_capture_end());
	assert_string_equal(ctx.error, "cannot write the passfile of node \"main/pg2\": upstream "
				       "\"pg9\" is not in the cluster");
	fixture_ctx_done(&ctx);
	unsetenv("PGC_TEST_REPL_PW");
	host_free(h);
	topology_free(t);
}

/* ---- clone ------------------------------------------------------------------------- */

static const char *marker = "/data/.pg2.pgconverge-clone";

static void test_clone_fresh(void **state)
{
	PgcTopology *t = topo(true);
	PgcHost *h = fake_host_new("postgres");
	PgcAction a = {.id = "main/pg2/clone", .kind = ACT_CLONE, .cluster = "main", .node = "pg2"};
	PgcExecCtx ctx;
	char *log;

	(void)state;
	setenv("PGC_TEST_REPL_PW", "pw", 1);
	a.payload.upstream = "pg1";
	fixture_ctx(&ctx, t, "pg2", h, &a);
	log_capture_begin();
	assert_int_equal(replication_clone(&ctx), 0);
	log = log_capture_end();
	assert_non_null(strstr(log, "copied node \"main/pg1\" into \"/data/pg2\" for standby "
				    "\"main/pg2\""));
	free(log);
	assert_string_equal(
	    fake_host_calls(h),
	    "read /data/.pg2.pgconverge-clone\n"
	    "state /data/pg2\n"
	    "mkdir /data 0755\n"
	    "mkdir /data/pg2 0700\n"
	    "write /data/.pg2.pgconverge-clone 0600\n"
	    "write /data/.pg2.pgconverge.pgpass 0600\n"
	    "run /pg/bin/pg_basebackup -D /data/pg2 -h 127.0.0.1 -p 25991 -U replicator -X stream "
	    "-c fast -S pg2 --no-password\n"
	    "env PGPASSFILE=/data/.pg2.pgconverge.pgpass\n"
	    "write /data/.pg2.pgconverge-clone 0600\n"
	    "write /data/pg2/standby.signal 0600\n"
	    "mkdir /data/pg2/log 0700\n"
	    "write /data/pg2/log/pgconverge-start.log 0600\n"
	    "remove /data/.pg2.pgconverge-clone\n"
	    "sync /data\n");
	/* The password never reaches argv; the passfile holds it; the marker is gone. */
	assert_string_equal(fake_host_get(h, "/data/.pg2.pgconverge.pgpass"),
			    "127.0.0.1:25991:*:replicator:pw\n");
	assert_string_equal(fake_host_get(h, "/data/pg2/standby.signal"), "");
	assert_null(fake_host_get(h, marker));
	fixture_ctx_done(&ctx);
	unsetenv("PGC_TEST_REPL_PW");
	host_free(h);
	topology_free(t);
}

static void test_clone_argv_and_failure(void **state)
{
	PgcTopology *t = topo(false);
	PgcHost *h = fake_host_new("postgres");
	const char *evil[] = {"/bin/sh", "-c", "true"};
	PgcAction a = {.id = "main/pg2/clone", .kind = ACT_CLONE, .cluster = "main", .node = "pg2"};
	PgcExecCtx ctx;
	char *log;

	(void)state;
	setenv("PGC_TEST_REPL_PW", "pw", 1);
	/* A saved plan's argv runs bin_dir's pg_basebackup or nothing. */
	a.payload.params = evil;
	a.payload.n_params = 3;
	fixture_ctx(&ctx, t, "pg2", h, &a);
	log_capture_begin();
	assert_int_equal(replication_clone(&ctx), -1);
	free(log_capture_end());
	assert_string_equal(ctx.error, "refusing action \"main/pg2/clone\": it runs \"/bin/sh\", "
				       "expected \"/pg/bin/pg_basebackup\"");
	assert_null(strstr(fake_host_calls(h), "run "));
	/* The marker stays: the folder holds an unfinished copy. */
	assert_non_null(fake_host_get(h, marker));
	fixture_ctx_done(&ctx);

	/* Without an action (an HA flow): the default argv; pg_basebackup fails. */
	fake_host_clear(h);
	fake_host_put(h, marker, NULL);
	fake_host_script(h, "pg_basebackup", 1, "pg_basebackup: error: connection refused\n");
	fixture_ctx(&ctx, t, "pg2", h, NULL);
	log_capture_begin();
	assert_int_equal(replication_clone_node(&ctx, NULL, NULL), -1);
	log = log_capture_end();
	free(log);
	assert_non_null(strstr(fake_host_calls(h),
			       "run /pg/bin/pg_basebackup -D /data/pg2 -h 127.0.0.1 -p 25991 -U "
			       "replicator -X stream -c fast --no-password\n"));
	assert_non_null(strstr(ctx.error, "could not copy node \"main/pg1\" into \"/data/pg2\""));
	/* Nothing after the copy: no standby.signal, the marker is kept. */
	assert_null(fake_host_get(h, "/data/pg2/standby.signal"));
	assert_non_null(fake_host_get(h, marker));
	fixture_ctx_done(&ctx);
	unsetenv("PGC_TEST_REPL_PW");
	host_free(h);
	topology_free(t);
}

/* An interrupted copy: its orphaned pg_basebackup is stopped and the folder emptied. */
static void test_clone_interrupted(void **state)
{
	PgcTopology *t = topo(false);
	PgcHost *h = fake_host_new("postgres");
	const char *orphan[] = {"/pg/bin/pg_basebackup", "-D", "pg2", "-X", "stream", NULL};
	const char *other[] = {"/pg/bin/pg_basebackup", "-D", "/data/pg1", NULL};
	PgcExecCtx ctx;
	char text[256], *log;

	(void)state;
	setenv("PGC_TEST_REPL_PW", "pw", 1);
	snprintf(text, sizeof text, "# interrupted\nnode=main/pg2\ndata_dir=/data/pg2\n");
	fake_host_put(h, marker, text);
	fake_host_put(h, "/data/pg2/base/1/1234", "half");
	/* -D relative to its working folder; the other copies elsewhere. */
	fake_host_proc(h, 4242, 1, "pg_basebackup", "/data", orphan);
	fake_host_proc(h, 4343, 1, "pg_basebackup", "/", other);
	fixture_ctx(&ctx, t, "pg2", h, NULL);
	log_capture_begin();
	assert_int_equal(replication_clone_node(&ctx, NULL, NULL), 0);
	log = log_capture_end();
	assert_non_null(strstr(log, "stopping pg_basebackup (pid 4242), left copying into "
				    "\"/data/pg2\" by an interrupted run"));
	assert_non_null(strstr(log, "removing the unfinished copy in \"/data/pg2\""));
	free(log);
	assert_non_null(strstr(fake_host_calls(h), "read /data/pg2/postmaster.pid\n"
						   "signal 4242 15\n"
						   "read /data/.pg2.pgconverge-clone\n"
						   "state /data/pg2\n"
						   "empty /data/pg2\n"));
	assert_null(strstr(fake_host_calls(h), "signal 4343"));
	assert_null(fake_host_get(h, "/data/pg2/base/1/1234"));
	assert_null(fake_host_get(h, marker));
	assert_non_null(fake_host_get(h, "/data/pg2/standby.signal"));
	fixture_ctx_done(&ctx);

	/* One that a live pgconverge run started: refused, nothing stopped or removed. */
	fake_host_clear(h);
	fake_host_put(h, marker, text);
	fake_host_put(h, "/data/pg2/base/1/1234", "half");
	fake_host_proc(h, 77, 1, "pgconverge", "/", NULL);
	fake_host_proc(h, 4444, 77, "pg_basebackup", "/", (const char *[]){"pg_basebackup",
									    "--pgdata=/data/pg2",
									    NULL});
	fixture_ctx(&ctx, t, "pg2", h, NULL);
	log_capture_begin();
	assert_int_equal(replication_clone_node(&ctx, NULL, NULL), -1);
	free(log_capture_end());
	assert_string_equal(ctx.error, "another pgconverge run (pid 77) is copying into \"/data/pg2\" "
				       "(pg_basebackup pid 4444)");
	assert_null(strstr(fake_host_calls(h), "signal"));
	assert_non_null(fake_host_get(h, "/data/pg2/base/1/1234"));
	fixture_ctx_done(&ctx);
	unsetenv("PGC_TEST_REPL_PW");
	host_free(h);
	topology_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_write),
		cmocka_unit_test(test_config_write_refusals),
		cmocka_unit_test(test_config_typed_without_action),
		cmocka_unit_test(test_clone_fresh),
		cmocka_unit_test(test_clone_argv_and_failure),
		cmocka_unit_test(test_clone_interrupted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
