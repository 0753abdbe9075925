/*
 * tests/unit/test_exec_backup.c - the restore's steps on the node's
 * machine, on a fake host (support/fake_host.h): the copy readied for
 * starting beside the data directory, and its server started. Each test
 * asserts what the step asked of the node's machine, in order, and what it
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

#include "common/arena.h"
#include "common/log.h"
#include "reconcile/backup/restore_copy.h"
#include "reconcile/backup/restore_wait.h"
#include "support/exec_fixture.h"
#include "support/fake_host.h"

#define COPY "/data/.pg1.pgconverge-restore"

/* The calls restore_prepare_copy makes to drop what the backup brought. */
#define DROPS                                                          \
	"tree /data " COPY "/backup_manifest\n"                        \
	"tree /data " COPY "/standby.signal\n"                         \
	"tree /data " COPY "/recovery.signal\n"                        \
	"tree /data " COPY "/postmaster.pid\n"                         \
	"tree /data " COPY "/postmaster.opts\n"                        \
	"tree /data " COPY "/log/pgconverge-start.log\n"

/* A copy as pg_basebackup leaves it, in the folder beside the data directory. */
static PgcHost *copy_host(const char *pgconf)
{
	PgcHost *h = fake_host_new("postgres");

	fake_host_put(h, COPY "/PG_VERSION", "15\n");
	fake_host_put(h, COPY "/backup_manifest", "{}");
	fake_host_put(h, COPY "/standby.signal", "");
	fake_host_put(h, COPY "/postmaster.pid", "4242\n");
	fake_host_put(h, COPY "/log/pgconverge-start.log", "the source's start log\n");
	if (pgconf != NULL)
		fake_host_put(h, COPY "/postgresql.conf", pgconf);
	return h;
}

static void test_prepare_copy(void **state)
{
	PgcArena *a = arena_new();
	PgcHost *h = copy_host("port = 5432");

	(void)state;
	assert_int_equal(restore_prepare_copy(h, a, COPY, "restore_command = 'x'\n", "local all all peer\n",
					      "# ident\n"),
			 0);
	assert_string_equal(fake_host_calls(h), DROPS
			    "read " COPY "/postgresql.conf\n"
			    "write " COPY "/postgresql.conf 0600\n"
			    "write " COPY "/pgconverge.conf 0600\n"
			    "write " COPY "/pg_hba.conf 0600\n"
			    "write " COPY "/pg_ident.conf 0600\n"
			    "write " COPY "/recovery.signal 0600\n"
			    "sync " COPY "\n");
	/* What the backup brought for its source is gone; its data stays. */
	assert_null(fake_host_get(h, COPY "/backup_manifest"));
	assert_null(fake_host_get(h, COPY "/standby.signal"));
	assert_null(fake_host_get(h, COPY "/postmaster.pid"));
	assert_null(fake_host_get(h, COPY "/log/pgconverge-start.log"));
	assert_string_equal(fake_host_get(h, COPY "/PG_VERSION"), "15\n");
	/* One line added to postgresql.conf (after a newline it lacked), nothing else edited. */
	assert_string_equal(fake_host_get(h, COPY "/postgresql.conf"),
			    "port = 5432\ninclude 'pgconverge.conf'\n");
	assert_string_equal(fake_host_get(h, COPY "/pgconverge.conf"), "restore_command = 'x'\n");
	assert_string_equal(fake_host_get(h, COPY "/pg_hba.conf"), "local all all peer\n");
	assert_string_equal(fake_host_get(h, COPY "/pg_ident.conf"), "# ident\n");
	assert_string_equal(fake_host_get(h, COPY "/recovery.signal"), "");
	host_free(h);
	arena_free(a);
}

static void test_prepare_copy_include_present(void **state)
{
	PgcArena *a = arena_new();
	PgcHost *h = copy_host("port = 5432\ninclude 'pgconverge.conf'\n");

	(void)state;
	assert_int_equal(restore_prepare_copy(h, a, COPY, "c\n", "h\n", "i\n"), 0);
	/* postgresql.conf is read, not written again. */
	assert_string_equal(fake_host_calls(h), DROPS
			    "read " COPY "/postgresql.conf\n"
			    "write " COPY "/pgconverge.conf 0600\n"
			    "write " COPY "/pg_hba.conf 0600\n"
			    "write " COPY "/pg_ident.conf 0600\n"
			    "write " COPY "/recovery.signal 0600\n"
			    "sync " COPY "\n");
	assert_string_equal(fake_host_get(h, COPY "/postgresql.conf"),
			    "port = 5432\ninclude 'pgconverge.conf'\n");
	host_free(h);
	arena_free(a);
}

static void test_prepare_copy_without_postgresql_conf(void **state)
{
	PgcArena *a = arena_new();
	PgcHost *h = copy_host(NULL);
	char *log;

	(void)state;
	log_capture_begin();
	assert_int_equal(restore_prepare_copy(h, a, COPY, "c\n", "h\n", "i\n"), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "base backup copy \"" COPY "\" has no postgresql.conf"));
	free(log);
	/* Nothing written: no recovery.signal marks a copy that is not ready. */
	assert_string_equal(fake_host_calls(h), DROPS "read " COPY "/postgresql.conf\n");
	assert_null(fake_host_get(h, COPY "/recovery.signal"));
	host_free(h);
	arena_free(a);
}

static void test_start_server(void **state)
{
	PgcTopology *t = fixture_topology("version: 1\n"
					  "clusters:\n"
					  "  main:\n"
					  "    primary: pg1\n"
					  "    postgres: {version: 15, bin_dir: /pg/bin}\n"
					  "    os_user: postgres\n"
					  "    nodes:\n"
					  "      pg1: {host: 127.0.0.1, port: 25991, data_dir: /data/pg1}\n");
	PgcHost *h = fake_host_new("postgres");
	char *log;

	(void)state;
	assert_int_equal(restore_start_server(h, &t->clusters[0], "/data/pg1",
					      "/data/pg1/log/pgconverge-start.log", 5),
			 0);
	assert_string_equal(fake_host_calls(h),
			    "mkdir /data/pg1/log 0700\n"
			    "run /pg/bin/pg_ctl start -D /data/pg1 -W -l "
			    "/data/pg1/log/pgconverge-start.log\n");
	/* A pg_ctl that fails is reported with what it said. */
	fake_host_clear(h);
	fake_host_script(h, "pg_ctl start", 1, "pg_ctl: another server might be running\n");
	log_capture_begin();
	assert_int_equal(restore_start_server(h, &t->clusters[0], "/data/pg1",
					      "/data/pg1/log/pgconverge-start.log", 5),
			 -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "could not start the server in \"/data/pg1\""));
	assert_non_null(strstr(log, "another server might be running"));
	free(log);
	host_free(h);
	topology_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prepare_copy),
		cmocka_unit_test(test_prepare_copy_include_present),
		cmocka_unit_test(test_prepare_copy_without_postgresql_conf),
		cmocka_unit_test(test_start_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
