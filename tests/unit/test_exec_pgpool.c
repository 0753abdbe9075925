/*
 * tests/unit/test_exec_pgpool.c - Pgpool-II's executors on the fake host:
 * the files pgpool-config writes (modes, pool_passwd encrypted, the PCP
 * password kept from one run to the next, nothing written twice), the
 * reload of a running Pgpool-II, and a start that finds it running.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reconcile/engine/plan.h"
#include "reconcile/pgpool/pgpool.h"
#include "support/exec_fixture.h"
#include "support/fake_host.h"

static const char *const yaml =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    primary: pg1\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 25432, data_dir: /data/pg1}\n"
	"    roles:\n"
	"      app: {login: true, password: {env: PGC_TEST_POOL_PW}}\n"
	"    balancer:\n"
	"      pgpool: {port: 9999, dir: /data/pgpool}\n";

static void ctx_for(PgcExecCtx *ctx, PgcTopology *t, PgcHost *h, const PgcAction *a)
{
	fixture_ctx(ctx, t, "pg1", h, a);
	ctx->n = NULL; /* a cluster-wide action */
}

static void test_config_files(void **state)
{
	PgcTopology *t = fixture_topology(yaml);
	PgcHost *h = fake_host_new("postgres");
	PgcAction a = {.id = "main/-/pgpool-config", .kind = ACT_PGPOOL_CONFIG, .cluster = "main"};
	PgcExecCtx ctx;
	char *pcppass;

	(void)state;
	setenv("PGC_TEST_POOL_PW", "pool-secret", 1);
	a.payload.path = "/data/pgpool";
	a.payload.content = "port = 9999\n";
	a.payload.ident = "host all all 127.0.0.1/32 scram-sha-256\n";
	ctx_for(&ctx, t, h, &a);
	assert_int_equal(pgpool_config_run(&ctx), 0);
	assert_false(ctx.nothing_to_do);
	assert_string_equal(fake_host_calls(h), "mkdir /data/pgpool 0700\n"
						 "write /data/pgpool/pgpool.conf 0600\n"
						 "write /data/pgpool/pool_hba.conf 0600\n"
						 "read /data/pgpool/pgpool.key\n"
						 "write /data/pgpool/pgpool.key 0600\n"
						 "write /data/pgpool/pool_passwd 0600\n"
						 "read /data/pgpool/pcppass\n"
						 "write /data/pgpool/pcppass 0600\n"
						 "write /data/pgpool/pcp.conf 0600\n"
						 "read /data/pgpool/pgpool.pid\n");
	assert_string_equal(fake_host_get(h, "/data/pgpool/pgpool.conf"), "port = 9999\n");
	assert_int_equal(strlen(fake_host_get(h, "/data/pgpool/pgpool.key")), 65);
	assert_true(strncmp(fake_host_get(h, "/data/pgpool/pool_passwd"), "app:AES", 7) == 0);
	assert_null(strstr(fake_host_get(h, "/data/pgpool/pool_passwd"), "pool-secret"));
	pcppass = strdup(fake_host_get(h, "/data/pgpool/pcppass"));
	assert_true(strncmp(pcppass, "127.0.0.1:10000:pgconverge:", 27) == 0);
	assert_int_equal(strlen(pcppass), 27 + 32 + 1);
	assert_true(strncmp(fake_host_get(h, "/data/pgpool/pcp.conf"), "pgconverge:", 11) == 0);
	assert_int_equal(strlen(fake_host_get(h, "/data/pgpool/pcp.conf")), 11 + 32 + 1);
	fixture_ctx_done(&ctx);

	/* Again: the key and the PCP password are kept, nothing changes, nothing is reloaded. */
	fake_host_clear(h);
	ctx_for(&ctx, t, h, &a);
	assert_int_equal(pgpool_config_run(&ctx), 0);
	assert_true(ctx.nothing_to_do);
	assert_string_equal(fake_host_get(h, "/data/pgpool/pcppass"), pcppass);
	assert_null(strstr(fake_host_calls(h), "run "));
	fixture_ctx_done(&ctx);

	/* A running Pgpool-II reloads when a file changed; no secret in its argv. */
	fake_host_put(h, "/data/pgpool/pgpool.pid", "4242\n");
	fake_host_proc(h, 4242, 1, "pgpool", "/", (const char *const[]){"/usr/sbin/pgpool", NULL});
	a.payload.content = "port = 9999\ndelay_threshold = 1\n";
	fake_host_clear(h);
	ctx_for(&ctx, t, h, &a);
	assert_int_equal(pgpool_config_run(&ctx), 0);
	assert_non_null(strstr(fake_host_calls(h),
			       "run /usr/sbin/pgpool -f /data/pgpool/pgpool.conf -F "
			       "/data/pgpool/pcp.conf -a /data/pgpool/pool_hba.conf reload\n"));
	assert_null(strstr(fake_host_calls(h), "pool-secret"));
	assert_null(strstr(fake_host_calls(h), pcppass + 27));
	fixture_ctx_done(&ctx);

	/* A password that is not on this host: refused, pool_passwd untouched. */
	unsetenv("PGC_TEST_POOL_PW");
	fake_host_clear(h);
	ctx_for(&ctx, t, h, &a);
	assert_int_equal(pgpool_config_run(&ctx), -1);
	assert_non_null(strstr(ctx.error, "cannot write pool_passwd"));
	assert_null(strstr(fake_host_calls(h), "write /data/pgpool/pool_passwd"));
	fixture_ctx_done(&ctx);
	free(pcppass);
	host_free(h);
	topology_free(t);
}

static void test_start_when_running(void **state)
{
	PgcTopology *t = fixture_topology(yaml);
	PgcHost *h = fake_host_new("postgres");
	PgcAction a = {.id = "main/-/pgpool-start", .kind = ACT_PGPOOL_START, .cluster = "main"};
	PgcExecCtx ctx;

	(void)state;
	fake_host_put(h, "/data/pgpool/pgpool.pid", "4242\n");
	fake_host_proc(h, 4242, 1, "pgpool", "/", (const char *const[]){"/usr/sbin/pgpool", NULL});
	ctx_for(&ctx, t, h, &a);
	assert_int_equal(pgpool_start_run(&ctx), 0);
	assert_true(ctx.nothing_to_do);
	assert_null(strstr(fake_host_calls(h), "run "));
	fixture_ctx_done(&ctx);
	host_free(h);
	topology_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_files),
		cmocka_unit_test(test_start_when_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
