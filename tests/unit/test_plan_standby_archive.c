/*
 * tests/unit/test_plan_standby_archive.c - a standby cluster's fallback to
 * its source's WAL archive: the managed configuration of its nodes, from
 * the planner's live copy (plan_standby_live), with and without the
 * source's backup.wal_archive, with an archive of its own, along a chain,
 * and with another os_user; and wal-fetch --unreachable-ok, which it runs.
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

#include "common/arena.h"
#include "common/diag.h"
#include "common/fsutil.h"
#include "reconcile/backup/walarchive_fetch.h"
#include "reconcile/pg/walarchive_cmd.h"
#include "reconcile/postgres/plan_conf.h"
#include "reconcile/standby/plan_standby.h"
#include "reconcile/standby/standby_archive.h"
#include "schema/topology.h"

#define S_ARCHIVE "    backup: {repository: /srv/pgc/repo-s, wal_archive: true}\n"
#define X_ARCHIVE "    backup: {repository: /srv/pgc/repo-x, wal_archive: true}\n"

/* topology - s (pg1, pg2), x standby_of s (x1, x2) and y standby_of x (y1). */
static const char *topology(char *buf, size_t len, const char *s_extra, const char *x_extra)
{
	snprintf(buf, len,
		 "version: 1\n"
		 "clusters:\n"
		 "  s:\n"
		 "    primary: pg1\n"
		 "    nodes:\n"
		 "      pg1: {host: 127.0.0.1, port: 25432, data_dir: /srv/pgc/pg1}\n"
		 "      pg2: {host: 127.0.0.1, port: 25433, data_dir: /srv/pgc/pg2}\n"
		 "%s"
		 "  x:\n"
		 "    standby_of: s\n"
		 "    primary: x1\n"
		 "    nodes:\n"
		 "      x1: {host: 127.0.0.1, port: 25450, data_dir: /srv/pgc/x1}\n"
		 "      x2: {host: 127.0.0.1, port: 25451, data_dir: /srv/pgc/x2}\n"
		 "%s"
		 "  y:\n"
		 "    standby_of: x\n"
		 "    nodes:\n"
		 "      y1: {host: 127.0.0.1, port: 25460, data_dir: /srv/pgc/y1}\n",
		 s_extra, x_extra);
	return buf;
}

static PgcTopology *load(const char *s_extra, const char *x_extra)
{
	char buf[4096];
	PgcLoadOptions opts = {.offline = true, .tool_path = "/usr/local/bin/pgconverge"};
	PgcDiagList diags = {0};
	PgcTopology *t;

	topology(buf, sizeof buf, s_extra, x_extra);
	t = topology_load_buffer(buf, strlen(buf), "t.yaml", &opts, &diags);
	assert_non_null(t);
	if (diag_count(&diags, DIAG_ERROR) != 0) {
		diag_print(stderr, &diags, false);
		fail();
	}
	diag_free(&diags);
	return t;
}

/* param - the value plan_conf_params() gives name on cluster/node (live copy), or NULL. */
static const char *param(PgcArena *a, const PgcTopology *t, const char *cluster, const char *node,
			 const char *name)
{
	const PgcCluster *c = plan_standby_live(a, t, topology_cluster(t, cluster), NULL, NULL);
	PgcConfParam *params;
	size_t np = plan_conf_params(a, c, cluster_node(c, node), &params);

	for (size_t i = 0; i < np; i++)
		if (strcmp(params[i].name, name) == 0)
			return params[i].value;
	return NULL;
}

static const char *const FETCH_S =
	"/usr/local/bin/pgconverge wal-fetch --repository /srv/pgc/repo-s --unreachable-ok %f %p";

static void test_source_archive_is_fallback(void **state)
{
	PgcTopology *t = load(S_ARCHIVE, "");
	PgcArena *a = arena_new();

	(void)state;
	/* Every node of the standby cluster, leader and cascaded replica. */
	assert_string_equal(param(a, t, "x", "x1", "restore_command"), FETCH_S);
	assert_string_equal(param(a, t, "x", "x2", "restore_command"), FETCH_S);
	/* It archives nothing of its own. */
	assert_null(param(a, t, "x", "x1", "archive_mode"));
	assert_null(param(a, t, "x", "x1", "archive_command"));
	/* The stream stays: the archive is a fallback. */
	assert_string_equal(param(a, t, "x", "x1", "primary_slot_name"), "pgc_standby_x");
	/* The source as before: its own archive, which must be there. */
	assert_string_equal(param(a, t, "s", "pg2", "restore_command"),
			    "/usr/local/bin/pgconverge wal-fetch --repository /srv/pgc/repo-s %f %p");
	assert_string_equal(param(a, t, "s", "pg1", "archive_mode"), "on");
	assert_string_equal(standby_archive_repository(t, topology_cluster(t, "x")), "/srv/pgc/repo-s");
	assert_null(standby_archive_repository(t, topology_cluster(t, "s")));
	arena_free(a);
	topology_free(t);
}

static void test_no_source_archive(void **state)
{
	PgcTopology *t = load("", "");
	PgcArena *a = arena_new();

	(void)state;
	assert_null(param(a, t, "x", "x1", "restore_command"));
	assert_null(param(a, t, "x", "x2", "restore_command"));
	assert_null(param(a, t, "y", "y1", "restore_command"));
	assert_null(standby_archive_repository(t, topology_cluster(t, "x")));
	arena_free(a);
	topology_free(t);
}

static void test_source_backup_without_wal_archive(void **state)
{
	PgcTopology *t = load("    backup: {repository: /srv/pgc/repo-s, wal_archive: false}\n", "");
	PgcArena *a = arena_new();

	(void)state;
	assert_null(param(a, t, "x", "x1", "restore_command"));
	arena_free(a);
	topology_free(t);
}

/* Its own archive takes its WAL once promoted; while a standby it fetches
 * from the source's, never from its own (which holds nothing newer). */
static void test_own_archive(void **state)
{
	PgcTopology *t = load(S_ARCHIVE, X_ARCHIVE);
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(param(a, t, "x", "x1", "restore_command"), FETCH_S);
	assert_string_equal(param(a, t, "x", "x1", "archive_mode"), "on");
	assert_string_equal(param(a, t, "x", "x1", "archive_command"),
			    "/usr/local/bin/pgconverge wal-push --repository /srv/pgc/repo-x %p %f");
	arena_free(a);
	topology_free(t);
}

static void test_own_archive_only(void **state)
{
	PgcTopology *t = load("", X_ARCHIVE);
	PgcArena *a = arena_new();

	(void)state;
	assert_null(param(a, t, "x", "x1", "restore_command"));
	assert_string_equal(param(a, t, "x", "x1", "archive_mode"), "on");
	/* y's chain ends at s, which does not archive: x's archive is not y's. */
	assert_null(param(a, t, "y", "y1", "restore_command"));
	arena_free(a);
	topology_free(t);
}

/* A standby of a standby fetches from the root: the only one that archives. */
static void test_chain_fetches_from_root(void **state)
{
	PgcTopology *t = load(S_ARCHIVE, X_ARCHIVE);
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(param(a, t, "y", "y1", "restore_command"), FETCH_S);
	assert_ptr_equal(standby_archive_root(t, topology_cluster(t, "y")), topology_cluster(t, "s"));
	arena_free(a);
	topology_free(t);
}

/* The repository is the source's os_user's (0700): another user's servers cannot read it. */
static void test_other_os_user(void **state)
{
	PgcTopology *t = load(S_ARCHIVE, "    os_user: pgx\n");
	PgcArena *a = arena_new();

	(void)state;
	assert_null(param(a, t, "x", "x1", "restore_command"));
	assert_null(standby_archive_repository(t, topology_cluster(t, "x")));
	arena_free(a);
	topology_free(t);
}

/* A change of the source's archive is a reload on the standby cluster. */
static void test_render_changes_with_source(void **state)
{
	PgcTopology *with = load(S_ARCHIVE, ""), *without = load("", "");
	PgcArena *a = arena_new();
	const PgcCluster *cw = plan_standby_live(a, with, topology_cluster(with, "x"), NULL, NULL);
	const PgcCluster *co = plan_standby_live(a, without, topology_cluster(without, "x"), NULL, NULL);
	const char *rw = plan_managed_conf(a, cw, cluster_node(cw, "x1"));
	const char *ro = plan_managed_conf(a, co, cluster_node(co, "x1"));

	(void)state;
	assert_non_null(strstr(rw, "restore_command = '/usr/local/bin/pgconverge wal-fetch "
				   "--repository /srv/pgc/repo-s --unreachable-ok %f %p'\n"));
	assert_null(strstr(ro, "restore_command"));
	arena_free(a);
	topology_free(with);
	topology_free(without);
}

/* The source's repository missing on this host reads as an empty archive. */
static void test_fetch_unreachable_ok(void **state)
{
	char dir[] = "/tmp/pgc-sa-XXXXXX";
	char *missing, *file, *empty, *dest;
	const char *seg = "000000010000000000000001";

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_true(asprintf(&missing, "%s/not-mounted", dir) > 0);
	assert_true(asprintf(&file, "%s/a-file", dir) > 0);
	assert_true(asprintf(&empty, "%s/empty", dir) > 0);
	assert_true(asprintf(&dest, "%s/RECOVERYXLOG", dir) > 0);
	assert_int_equal(fs_write_atomic(file, "x", 1, 0600, FS_NO_UID, FS_NO_GID, NULL), 0);
	assert_int_equal(mkdir(empty, 0700), 0);

	assert_int_equal(walarchive_fetch_exit_unreachable_ok(missing, seg, dest), WAL_FETCH_EXIT_NOT_FOUND);
	assert_int_equal(walarchive_fetch_exit_unreachable_ok(file, seg, dest), WAL_FETCH_EXIT_NOT_FOUND);
	assert_int_equal(walarchive_fetch_exit_unreachable_ok(empty, seg, dest), WAL_FETCH_EXIT_NOT_FOUND);
	/* Without it, recovery stops (a restore must not end early). */
	assert_int_equal(walarchive_fetch_exit(missing, seg, dest), WAL_FETCH_EXIT_FAILED);
	/* A name that is no WAL file is still an error. */
	assert_int_equal(walarchive_fetch_exit_unreachable_ok(empty, "../x", dest), WAL_FETCH_EXIT_FAILED);
	assert_int_equal(access(dest, F_OK), -1);

	{
		PgcArena *a = arena_new();

		assert_string_equal(walarchive_standby_restore_command(a, "/b/pgc", "/srv/a b"),
				    "/b/pgc wal-fetch --repository '/srv/a b' --unreachable-ok %f %p");
		arena_free(a);
	}
	unlink(file);
	rmdir(empty);
	rmdir(dir);
	free(missing);
	free(file);
	free(empty);
	free(dest);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_archive_is_fallback),
		cmocka_unit_test(test_no_source_archive),
		cmocka_unit_test(test_source_backup_without_wal_archive),
		cmocka_unit_test(test_own_archive),
		cmocka_unit_test(test_own_archive_only),
		cmocka_unit_test(test_chain_fetches_from_root),
		cmocka_unit_test(test_other_os_user),
		cmocka_unit_test(test_render_changes_with_source),
		cmocka_unit_test(test_fetch_unreachable_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
