/*
 * tests/unit/test_exec_datadog.c - the datadog-conf executor in a temp
 * folder: it writes the planned file with the secret filled in, mode 0640,
 * creates conf_dir, does nothing the second time, refuses a symlink in the
 * file's place and a plan that names another file, and says why when the
 * secret is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fsutil.h"
#include "common/fstree.h"
#include "reconcile/datadog/datadog.h"
#include "reconcile/engine/plan.h"
#include "reconcile/observe/observe_datadog.h"
#include "reconcile/planner.h"
#include "support/exec_fixture.h"

#define PW "s3cr\"et: #1"

typedef struct {
	char dir[64];
	PgcTopology *t;
	PgcPlan *p;
	const PgcAction *a;
	const char *path;
} Fx;

static int setup(void **state)
{
	Fx *f = calloc(1, sizeof *f);
	char yaml[1024];

	snprintf(f->dir, sizeof f->dir, "/tmp/pgc-dd.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(yaml, sizeof yaml,
		 "version: 1\n"
		 "clusters:\n"
		 "  main:\n"
		 "    nodes:\n"
		 "      pg1: {port: 25432, data_dir: /srv/pg1}\n"
		 "    monitoring:\n"
		 "      datadog: {conf_dir: %s/conf.d/postgres.d, password: {env: PGC_TEST_DD_PW}}\n",
		 f->dir);
	f->t = fixture_topology(yaml);
	f->p = plan_build(f->t, NULL, NULL);
	f->a = plan_find_action(f->p, "main/-/datadog-conf");
	assert_non_null(f->a);
	f->path = f->a->payload.path;
	setenv("PGC_TEST_DD_PW", PW, 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fx *f = *state;

	fs_remove_tree("/tmp", f->dir);
	plan_free(f->p);
	topology_free(f->t);
	unsetenv("PGC_TEST_DD_PW");
	free(f);
	return 0;
}

static int run(Fx *f, const PgcAction *a, bool *nothing, char *err, size_t errlen)
{
	PgcExecCtx ctx;
	int rc;

	fixture_ctx(&ctx, f->t, "pg1", NULL, a);
	ctx.n = NULL; /* cluster-wide */
	rc = datadog_conf_run(&ctx);
	if (nothing != NULL)
		*nothing = ctx.nothing_to_do;
	if (err != NULL)
		snprintf(err, errlen, "%s", ctx.error);
	fixture_ctx_done(&ctx);
	return rc;
}

static void test_writes_then_nothing(void **state)
{
	Fx *f = *state;
	PgcArena *a = arena_new();
	PgcDatadogPassword pw;
	struct stat st;
	char *text = NULL;
	size_t len;
	bool nothing = true;

	assert_int_equal(run(f, f->a, &nothing, NULL, 0), 0);
	assert_false(nothing);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(fs_read_file(f->path, &text, &len, 65536), 0);
	assert_non_null(strstr(text, "    password: \"s3cr\\\"et: #1\"\n"));
	/* Read back and masked as observe does: the plan's content, the password matching. */
	assert_string_equal(observe_datadog_mask(a, text, PW, &pw), f->a->payload.content);
	assert_int_equal(pw, DATADOG_PW_MATCHES);
	free(text);
	assert_int_equal(run(f, f->a, &nothing, NULL, 0), 0);
	assert_true(nothing);
	arena_free(a);
}

static void test_refuses_a_symlink(void **state)
{
	Fx *f = *state;
	char target[128], err[512];
	struct stat st;

	assert_int_equal(run(f, f->a, NULL, NULL, 0), 0);
	snprintf(target, sizeof target, "%s/elsewhere", f->dir);
	assert_int_equal(rename(f->path, target), 0);
	assert_int_equal(symlink(target, f->path), 0);
	assert_int_equal(run(f, f->a, NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "it is a symlink"));
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

static void test_refuses_another_file_and_a_missing_secret(void **state)
{
	Fx *f = *state;
	PgcAction other = *f->a;
	char err[512];

	other.payload.path = "/etc/passwd";
	assert_int_equal(run(f, &other, NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "does not write"));
	assert_false(fs_exists(f->path));
	unsetenv("PGC_TEST_DD_PW");
	assert_int_equal(run(f, f->a, NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "PGC_TEST_DD_PW"));
	assert_null(strstr(err, "s3cr"));
	assert_false(fs_exists(f->path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writes_then_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_a_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_another_file_and_a_missing_secret, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
