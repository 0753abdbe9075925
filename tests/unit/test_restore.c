/*
 * tests/unit/test_restore.c - the pure part of point-in-time restores: the
 * choice of base backup and WAL range on hand-built repositories (targets,
 * refusals, gaps, timelines), timestamps, history files, and the
 * configuration a restore and a drill run with; and, on real folders, the
 * copy of a backup, which must follow no link the servers' account planted.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <ftw.h>
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
#include <jansson.h>

#include "common/arena.h"
#include "common/diag.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "reconcile/backup/backup_catalog.h"
#include "reconcile/backup/drill_conf.h"
#include "reconcile/engine/plan.h"
#include "reconcile/observe/observe.h"
#include "reconcile/backup/restore_choose.h"
#include "reconcile/backup/restore_conf.h"
#include "reconcile/backup/restore_copy.h"
#include "reconcile/backup/walarchive.h"
#include "schema/topology.h"
#include "reconcile/postgres/plan_conf.h"
#include "reconcile/observe/observe_parse.h"

/* 2026-11-26 at these UTC times, as epoch seconds. */
#define T0850 ((int64_t)1795683000)
#define T0910 ((int64_t)1795684200)
#define T0940 ((int64_t)1795686000)
#define T1010 ((int64_t)1795687800)
#define T1040 ((int64_t)1795689600)
#define T1110 ((int64_t)1795691400)
#define T1140 ((int64_t)1795693200)

/* ---- fixtures ------------------------------------------------------------------ */

typedef struct {
	PgcArena *a;
	PgcObsRepository r;
	json_t *doc;
} Repo;

static json_t *base_entry(const char *id, const char *fin, unsigned tli, const char *start,
			  const char *stop, const char *sysid)
{
	return json_pack("{s:s s:s s:s s:s s:s s:i s:s s:s s:b s:I s:I s:s s:{s:b s:s s:s}}", "id", id,
			 "path", "base/X", "cluster", "main", "started_at", fin, "finished_at", fin,
			 "timeline", tli, "start_lsn", start, "stop_lsn", stop, "wal_included", 1,
			 "wal_segment_size", (json_int_t)16777216, "size_bytes", (json_int_t)1048576,
			 "system_identifier", sysid, "verify", "ok", 1, "at", fin, "message", "ok");
}

/* repo_new - three verified backups on timeline 1 and segments 1..7 archived. */
static void repo_new(Repo *rp)
{
	memset(rp, 0, sizeof(*rp));
	rp->a = arena_new();
	rp->r.path = "/srv/repo";
	rp->r.exists = true;
	rp->doc = json_pack("{s:i s:[o o o] s:[]}", "format_version", 1, "base",
			    base_entry("20261126T090000Z", "2026-11-26T09:00:05Z", 1, "0/2000028",
				       "0/2000100", "7000"),
			    base_entry("20261126T100000Z", "2026-11-26T10:00:05Z", 1, "0/4000028",
				       "0/4000100", "7000"),
			    base_entry("20261126T110000Z", "2026-11-26T11:00:05Z", 1, "0/6000028",
				       "0/6000100", "7000"),
			    "logical");
}

/* repo_load - the catalog from the document, after a test changed it. */
static void repo_load(Repo *rp)
{
	char err[256];

	backup_catalog_free(rp->r.catalog);
	rp->r.catalog = backup_catalog_from_json(rp->doc, err, sizeof err);
	assert_non_null(rp->r.catalog);
}

static void wal_add(Repo *rp, const char *name, int64_t mtime)
{
	PgcWalEntry *n = arena_calloc(rp->a, rp->r.n_wal + 1, sizeof(*n));
	PgcWalEntry *e;

	if (rp->r.n_wal)
		memcpy(n, rp->r.wal, rp->r.n_wal * sizeof(*n));
	e = &n[rp->r.n_wal++];
	e->name = arena_strdup(rp->a, name);
	assert_int_equal(walarchive_parse_name(name, &e->parsed), 0);
	e->size = 16777216;
	e->mtime = mtime;
	rp->r.wal = n; /* callers add in name order, as walarchive_list() sorts */
}

static void segs_1_to_7(Repo *rp)
{
	const int64_t t[] = {T0850, T0910, T0940, T1010, T1040, T1110, T1140};
	char name[32];

	for (int i = 0; i < 7; i++) {
		snprintf(name, sizeof name, "0000000100000000000000%02X", i + 1);
		wal_add(rp, name, t[i]);
	}
}

static void repo_free(Repo *rp)
{
	backup_catalog_free(rp->r.catalog);
	json_decref(rp->doc);
	arena_free(rp->a);
}

static PgcBootstrap boot(const char *kind, const char *value)
{
	PgcBootstrap b;

	memset(&b, 0, sizeof b);
	b.set = true;
	b.repository.v = "/srv/repo";
	b.target_action.v = "promote";
	if (kind == NULL)
		return b;
	if (strcmp(kind, "time") == 0) {
		b.target_time.v = value;
		b.target_time.set = true;
	} else if (strcmp(kind, "lsn") == 0) {
		b.target_lsn.v = value;
		b.target_lsn.set = true;
	} else if (strcmp(kind, "xid") == 0) {
		b.target_xid.v = value;
		b.target_xid.set = true;
	} else if (strcmp(kind, "immediate") == 0) {
		b.immediate.v = true;
		b.immediate.set = true;
	}
	return b;
}

/* choose - restore_choose on the fixture: its result, *why set on refusal. */
static int choose(Repo *rp, const PgcBootstrap *b, PgcRestoreChoice *ch, const char **why)
{
	repo_load(rp);
	return restore_choose(rp->a, b, &rp->r, ch, why);
}

/* ---- timestamps and names ------------------------------------------------------- */

static void test_parse_time(void **state)
{
	double t;

	(void)state;
	assert_int_equal(restore_parse_time("2026-11-26 10:00:00+00", &t), 0);
	assert_true(t == 1795687200.0);
	assert_int_equal(restore_parse_time("2026-11-26T10:00:00Z", &t), 0);
	assert_true(t == 1795687200.0);
	assert_int_equal(restore_parse_time("2026-11-26 11:30:00+01:30", &t), 0);
	assert_true(t == 1795687200.0);
	assert_int_equal(restore_parse_time("2026-11-26 05:00:00-0500", &t), 0);
	assert_true(t == 1795687200.0);
	assert_int_equal(restore_parse_time("2026-11-26 10:00:00.25 UTC", &t), 0);
	assert_true(t == 1795687200.25);
	assert_int_equal(restore_parse_time("2026-11-26 10:00", &t), -2);
	assert_int_equal(restore_parse_time("2026-11-26 10:00:00", &t), -2);
	assert_int_equal(restore_parse_time("yesterday", &t), -1);
	assert_int_equal(restore_parse_time("2026-13-26 10:00:00Z", &t), -1);
	assert_int_equal(restore_parse_time("2026-11-26 10:00:00Z junk", &t), -1);
	assert_int_equal(restore_parse_time(NULL, &t), -1);
}

static void test_wal_name(void **state)
{
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(restore_wal_name(a, 1, 7, 16777216), "000000010000000000000007");
	assert_string_equal(restore_wal_name(a, 3, 0x100 + 2, 16777216), "000000030000000100000002");
	assert_string_equal(restore_wal_name(a, 2, 5, 1 << 30), "000000020000000100000001");
	arena_free(a);
}

static void test_parse_history(void **state)
{
	PgcArena *a = arena_new();
	PgcObsHistory h;

	(void)state;
	assert_int_equal(observe_parse_history(a,
					       "1\t0/5000000\tno recovery target specified\n"
					       "\n"
					       "# a comment\n"
					       "2\t1A/B0000028\tat restore point \"x\"\n",
					       &h),
			 0);
	assert_int_equal(h.n_parents, 2);
	assert_int_equal(h.parents[0].tli, 1);
	assert_true(h.parents[0].switch_lsn == 0x5000000);
	assert_int_equal(h.parents[1].tli, 2);
	assert_true(h.parents[1].switch_lsn == (((uint64_t)0x1A << 32) | 0xB0000028));
	assert_int_equal(observe_parse_history(a, "1\tnot-an-lsn\tx\n", &h), -1);
	assert_int_equal(observe_parse_history(a, "2\t0/5000000\tx\n1\t0/6000000\ty\n", &h), -1);
	arena_free(a);
}

/* ---- choosing ------------------------------------------------------------------- */

static void test_time_between_backups(void **state)
{
	PgcBootstrap b = boot("time", "2026-11-26 10:30:00+00");
	PgcRestoreChoice ch;
	const char *why;
	Repo rp;

	(void)state;
	repo_new(&rp);
	segs_1_to_7(&rp);
	assert_int_equal(choose(&rp, &b, &ch, &why), 0);
	assert_string_equal(ch.backup->id, "20261126T100000Z");
	assert_string_equal(ch.first_wal, "000000010000000000000004");
	assert_string_equal(ch.last_wal, "000000010000000000000007");
	assert_true(ch.end_lsn == 0x8000000);
	assert_true(ch.end_time == T1140);
	assert_int_equal(ch.latest_tli, 1);
	assert_null(ch.gap);
	assert_string_equal(ch.summary,
			    "base backup 20261126T100000Z (ended 2026-11-26T10:00:05Z, timeline 1, WAL "
			    "0/4000028-0/4000100), then archived WAL up to 000000010000000000000007 "
			    "(0/8000000), to target_time \"2026-11-26 10:30:00+00\", then promote on a new "
			    "timeline");
	/* A backup that ended within the target's second is not early enough. */
	b = boot("time", "2026-11-26 10:00:05.5+00");
	assert_int_equal(choose(&rp, &b, &ch, &why), 0);
	assert_string_equal(ch.backup->id, "20261126T090000Z");
	repo_free(&rp);
}

static void test_time_refusals(void **state)
{
	PgcBootstrap b = boot("time", "2026-11-26 08:00:00+00");
	PgcRestoreChoice ch;
	const char *why;
	Repo rp;

	(void)state;
	repo_new(&rp);
	segs_1_to_7(&rp);
	assert_int_equal(choose(&rp, &b, &ch, &why), -1);
	assert_string_equal(why, "target_time \"2026-11-26 08:00:00+00\" is before the end of the "
				 "oldest usable backup (20261126T090000Z, ended 2026-11-26T09:00:05Z): "
				 "a restore cannot reach it");
	b = boot("time", "2026-11-26 12:00:00+00");
	assert_int_equal(choose(&rp, &b, &ch, &why), -1);
	assert_string_equal(why, "target_time \"2026-11-26 12:00:00+00\" is after the end of the "
				 "archive: its last segment 000000010000000000000007 was archived at "
				 "2026-11-26T11:40:00Z (WAL up to 0/8000000)");
	b = boot("time", "2026-11-26 10:30:00");
	assert_int_equal(choose(&rp, &b, &ch, &why), -1);
	assert_string_equal(why, "target_time \"2026-11-26 10:30:00\" has no time zone: the restored "
				 "server would read it in its own; write it with an offset, e.g. "
				 "\"2026-11-26 10:30:00+00\"");
	repo_free(&rp);
}

static void test_gap_ends_the_archive(void **state)
{
	PgcBootstrap b = boot("time", "2026-11-26 10:30:00+00");
	PgcRestoreChoice ch;
	const char *why;
	Repo rp;

	(void)state;
	repo_new(&rp);
	wal_add(&rp, "000000010000000000000003", T0940);
	wal_add(&rp, "000000010000000000000004", T1010);
	wal_add(&rp, "000000010000000000000006", T1110);
	wal_add(&rp, "000000010000000000000007", T1140);
	assert_int_equal(choose(&rp, &b, &ch, &why), -1);
	assert_string_equal(why, "target_time \"2026-11-26 10:30:00+00\" is after the end of the "
				 "archive: its last segment 000000010000000000000004 was archived at "
				 "2026-11-26T10:10:00Z (WAL up to 0/5000000); segment "
				 "000000010000000000000005 is missing from the archive, which ends there");
	/* Before the gap, the same archive serves. */
	b = boot("time", "2026-11-26 10:05:00+00");
	assert_int_equal(choose(&rp, &b, &ch, &why), 0);
	assert_string_equal(ch.backup->id, "20261126T100000Z");
	assert_string_equal(ch.gap, "000000010000000000000005");
	repo_free(&rp);
}

static void test_nothing_archived_after_backup(void **state)
{
	PgcBootstrap b = boot("time", "2026-11-26 11:30:00+00");
	PgcRestoreChoice ch;
	const char *why;
	Repo rp;

	(void)state;
	repo_new(&rp);
	wal_add(&rp, "000000010000000000000002", T0910);
	assert_int_equal(choose(&rp, &b, &ch, &why), -1);
	assert_string_equal(why, "target_time \"2026-11-26 11:30:00+00\" is after the end of the "
				 "archive: it holds nothing after base backup 20261126T110000Z (WAL up "
				 "to 0/6000100, ended 2026-11-26T11:00:05Z)");
	b = boot("immediate", NULL);
	assert_int_equal(choose(&rp, &b, &ch, &why), 0);
	assert_string_equal(ch.backup->id, "20261126T110000Z");
	assert_null(ch.last_wal);
	repo_free(&rp);
}

static void test_lsn_targets(void **state)
{
	PgcBootstrap b = boot("lsn", "0/5000000");
	PgcRestoreChoice ch;
	const char *why;
	Repo rp;

	(void)state;
	repo_new(&rp);
	segs_1_to_7(&rp);
	assert_int_equal(choose(&rp, &b, &ch, &why), 0);
	assert_string_equal(ch.backup->id, "20261126T100000Z");
	b = boot("lsn", "0/6000100");
	assert_int_equal(choose(&rp, &b, &ch, &why), 0);
	assert_string_equal(ch.backup->id, "20261126T110000Z");
	b = boot("lsn", "0/1000000");
	assert_int_equal(choose(&rp, &b, &ch, &why), -1);
	assert_string_equal(why, "target_lsn 0/1000000 is before the end of the oldest usable backup "
				 "(20261126T090000Z, stop LSN 0/2000100): a restore cannot reach it");
	b = boot("lsn", "0/9000000");
	assert_int_equal(choose(&rp, &b, &ch, &why), -1);
	assert_string_equal(why, "target_lsn 0/9000000 is after the end of the archive: its last "
				 "segment 000000010000000000000007 was archived at 2026-11-26T11:40:00Z "
				 "(WAL up to 0/8000000)");
	repo_free(&rp);
}

static void test_other_targets(void **state)
{
	PgcBootstrap b = boot("immediate", NULL);
	PgcRestoreChoice ch;
	const char *why;
	Repo rp;

	(void)state;
	repo_new(&rp);
	segs_1_to_7(&rp);
	assert_int_equal(choose(&rp, &b, &ch, &why), 0);
	assert_string_equal(ch.backup->id, "20261126T110000Z");
	assert_string_equal(ch.target, "the backup's consistency point (immediate)");
	b = boot("xid", "1234");
	assert_int_equal(choose(&rp, &b, &ch, &why), 0);
	assert_string_equal(ch.backup->id, "20261126T090000Z");
	b = boot(NULL, NULL);
	assert_int_equal(choose(&rp, &b, &ch, &why), 0);
	assert_string_equal(ch.backup->id, "20261126T110000Z");
	assert_string_equal(ch.target, "the end of the archive");
	repo_free(&rp);
}

static void test_unusable_backups(void **state)
{
	PgcBootstrap b = boot(NULL, NULL);
	PgcRestoreChoice ch;
	const char *why;
	json_t *b3;
	Repo rp;
	PgcObsDrill drill = {"20261126T100000Z", false, "2026-11-26T10:30:00Z", 1, -1, "bad"};

	(void)state;
	repo_new(&rp);
	segs_1_to_7(&rp);
	b3 = json_array_get(json_object_get(rp.doc, "base"), 2);
	json_object_set_new(json_object_get(b3, "verify"), "ok", json_false());
	assert_int_equal(choose(&rp, &b, &ch, &why), 0);
	assert_string_equal(ch.backup->id, "20261126T100000Z");
	/* A failed drill rules a backup out too. */
	rp.r.drills = &drill;
	rp.r.n_drills = 1;
	assert_int_equal(choose(&rp, &b, &ch, &why), 0);
	assert_string_equal(ch.backup->id, "20261126T090000Z");
	json_object_set_new(json_array_get(json_object_get(rp.doc, "base"), 0), "deleting",
			    json_true());
	assert_int_equal(choose(&rp, &b, &ch, &why), -1);
	assert_string_equal(why, "repository \"/srv/repo\" holds no usable base backup (2 failed "
				 "verification or a restore drill)");
	repo_free(&rp);
}

static void test_two_clusters_refused(void **state)
{
	PgcBootstrap b = boot(NULL, NULL);
	PgcRestoreChoice ch;
	const char *why;
	Repo rp;

	(void)state;
	repo_new(&rp);
	segs_1_to_7(&rp);
	json_object_set_new(json_array_get(json_object_get(rp.doc, "base"), 2), "system_identifier",
			    json_string("8000"));
	assert_int_equal(choose(&rp, &b, &ch, &why), -1);
	assert_string_equal(why, "repository \"/srv/repo\" holds backups of two clusters (system "
				 "identifiers 7000 and 8000): pgconverge does not guess which to "
				 "restore");
	rp.r.error = "backup repository \"/srv/repo\" did not answer within 30 s";
	assert_int_equal(choose(&rp, &b, &ch, &why), -1);
	assert_string_equal(why, "backup repository \"/srv/repo\" did not answer within 30 s");
	repo_free(&rp);
}

static void test_timeline_path(void **state)
{
	PgcBootstrap b = boot(NULL, NULL);
	PgcRestoreChoice ch;
	PgcObsTimelineSwitch sw = {1, 0x5000000};
	PgcObsHistory h = {2, &sw, 1};
	const char *why;
	Repo rp;

	(void)state;
	repo_new(&rp);
	wal_add(&rp, "000000010000000000000002", T0910);
	wal_add(&rp, "000000010000000000000003", T0940);
	wal_add(&rp, "000000010000000000000004", T1010);
	wal_add(&rp, "000000010000000000000005", T1040); /* the old timeline, past the switch */
	wal_add(&rp, "000000020000000000000005", T1040);
	wal_add(&rp, "000000020000000000000006", T1110);
	rp.r.history = &h;
	rp.r.n_history = 1;
	/* Backup 3 started on timeline 1 after timeline 2 branched off: not on the path. */
	assert_int_equal(choose(&rp, &b, &ch, &why), 0);
	assert_string_equal(ch.backup->id, "20261126T100000Z");
	assert_int_equal(ch.latest_tli, 2);
	assert_string_equal(ch.last_wal, "000000020000000000000006");
	assert_true(ch.end_lsn == 0x7000000);
	b = boot("lsn", "0/6800000");
	assert_int_equal(choose(&rp, &b, &ch, &why), 0);
	assert_string_equal(ch.backup->id, "20261126T100000Z");
	repo_free(&rp);
}

/* ---- configuration ----------------------------------------------------------------- */

static const char *const restored_yaml =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 25432, data_dir: /srv/pgc/pg1}\n"
	"    settings: {shared_buffers: 1GB, max_connections: 50}\n"
	"    backup: {repository: /srv/pgc/repo, wal_archive: true, base: {every: 24h}}\n"
	"  restored:\n"
	"    bootstrap:\n"
	"      from_backup: {repository: /srv/pgc/repo, target_time: \"2026-11-26 10:00:00+00\",\n"
	"                    target_action: pause}\n"
	"    nodes:\n"
	"      r1: {host: 127.0.0.1, port: 25440, data_dir: /srv/pgc/r1}\n"
	"    backup: {repository: /srv/pgc/repo-restored, wal_archive: true}\n"
	"  plain:\n"
	"    bootstrap:\n"
	"      from_backup: {repository: /srv/pgc/repo}\n"
	"    nodes:\n"
	"      p1: {host: 127.0.0.1, port: 25441, data_dir: /srv/pgc/p1}\n";

static PgcTopology *load(void)
{
	PgcLoadOptions opts = {.base_dir = "/srv/pgc", .offline = true, .tool_path = "/usr/bin/pgconverge"};
	PgcDiagList diags = {0};
	PgcTopology *t = topology_load_buffer(restored_yaml, strlen(restored_yaml), "t.yaml", &opts,
					      &diags);

	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	return t;
}

static void test_restore_conf(void **state)
{
	PgcTopology *t = load();
	const PgcCluster *c = topology_cluster(t, "restored");
	const PgcCluster *plain = topology_cluster(t, "plain");
	PgcArena *a = arena_new();
	const char *conf = restore_managed_conf(a, c, &c->nodes[0]);
	const char *pconf = restore_managed_conf(a, plain, &plain->nodes[0]);

	(void)state;
	assert_non_null(strstr(conf, "recovery_target_action = 'pause'\n"
				     "recovery_target_time = '2026-11-26 10:00:00+00'\n"
				     "recovery_target_timeline = 'latest'\n"
				     "restore_command = '/usr/bin/pgconverge wal-fetch --repository "
				     "/srv/pgc/repo %f %p'\n"));
	/* Its own archive, for after the promotion. */
	assert_non_null(strstr(conf, "archive_command = '/usr/bin/pgconverge wal-push --repository "
				     "/srv/pgc/repo-restored %p %f'\n"));
	assert_true(restore_conf_is_restore(a, conf));
	assert_false(restore_conf_is_restore(a, plan_managed_conf(a, c, &c->nodes[0])));
	assert_true(restore_pauses(&c->bootstrap));
	/* No target: replay to the end; no recovery_target_action. */
	assert_null(strstr(pconf, "recovery_target_action"));
	assert_non_null(strstr(pconf, "recovery_target_timeline = 'latest'\n"));
	assert_false(restore_has_target(&plain->bootstrap));
	assert_false(restore_pauses(&plain->bootstrap));
	arena_free(a);
	topology_free(t);
}

static void test_drill_conf(void **state)
{
	PgcTopology *t = load();
	const PgcCluster *c = topology_cluster(t, "main");
	PgcArena *a = arena_new();
	const char *conf = drill_conf(a, c, 31234, "/var/tmp/pgconverge-drill-main.abc");

	(void)state;
	assert_non_null(strstr(conf, "archive_mode = 'off'\n"));
	assert_null(strstr(conf, "archive_command"));
	assert_non_null(strstr(conf, "cluster_name = 'main-drill'\n"));
	assert_non_null(strstr(conf, "listen_addresses = '127.0.0.1'\n"));
	assert_non_null(strstr(conf, "max_connections = '50'\n"));
	assert_non_null(strstr(conf, "port = '31234'\n"));
	assert_non_null(strstr(conf, "recovery_target_timeline = 'latest'\n"));
	assert_non_null(strstr(conf, "restore_command = '/usr/bin/pgconverge wal-fetch --repository "
				     "/srv/pgc/repo %f %p'\n"));
	assert_non_null(strstr(conf, "shared_buffers = '128MB'\n"));
	assert_non_null(strstr(conf, "unix_socket_directories = '/var/tmp/pgconverge-drill-main.abc'\n"));
	assert_string_equal(drill_hba(a, c),
			    "# pg_hba.conf of a pgconverge restore drill: its own checks only.\n"
			    "local all postgres peer map=pgconverge\n");
	arena_free(a);
	topology_free(t);
}

/* ---- copying a backup: no link followed ------------------------------------------ */

/* The servers' account, not root: its folders are not safe for root to follow links in. */
#define OS_UID ((uid_t)4242)
#define OS_GID ((gid_t)4242)
#define MARKER "root-only-marker-c41e"

typedef struct {
	char root[64];      /* root's temp folder */
	char *secret;       /* root/secret: root 0700, holds key (MARKER, 0600) */
	char *secret_file;
	char *repo;         /* root/repo/base: the account's */
	char *backup;       /* repo/base/B1: a backup, the account's */
	char *dest;         /* root/copy: where the copy goes (absent) */
} Backup;

static void put_file(const char *path, const char *text, uid_t uid)
{
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600, uid, uid, NULL), 0);
}

static void put_dir(const char *path, uid_t uid)
{
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chown(path, uid, uid), 0);
}

static void backup_setup(Backup *r)
{
	char *p;

	strcpy(r->root, "/tmp/pgc-restore-XXXXXX");
	assert_non_null(mkdtemp(r->root));
	r->secret = fs_path_join(r->root, "secret");
	r->secret_file = fs_path_join(r->secret, "key");
	r->repo = fs_path_join(r->root, "repo");
	r->backup = fs_path_join(r->repo, "base/B1");
	r->dest = fs_path_join(r->root, "copy");
	assert_int_equal(mkdir(r->secret, 0700), 0);
	put_file(r->secret_file, MARKER "\n", 0);
	put_dir(r->repo, OS_UID);
	p = fs_path_join(r->repo, "base");
	put_dir(p, OS_UID);
	free(p);
	put_dir(r->backup, OS_UID);
	p = fs_path_join(r->backup, "global");
	put_dir(p, OS_UID);
	free(p);
	p = fs_path_join(r->backup, "global/pg_control");
	put_file(p, "control", OS_UID);
	free(p);
	p = fs_path_join(r->backup, "postgresql.conf");
	put_file(p, "port = 5432\n", OS_UID);
	free(p);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void backup_teardown(Backup *r)
{
	assert_int_equal(nftw(r->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(r->secret);
	free(r->secret_file);
	free(r->repo);
	free(r->backup);
	free(r->dest);
}

/* marker_in - whether MARKER is in any file below dir (links not followed). */
static bool found_marker;
static int look_for_marker(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char *buf;
	size_t len;

	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode) && fs_read_file(path, &buf, &len, 1 << 20) == 0) {
		found_marker = found_marker || strstr(buf, MARKER) != NULL;
		free(buf);
	}
	return 0;
}

static bool marker_in(const char *dir)
{
	found_marker = false;
	if (fs_exists(dir))
		assert_int_equal(nftw(dir, look_for_marker, 16, FTW_PHYS), 0);
	return found_marker;
}

/* copy_refused - restore_copy_tree fails naming why, and no byte of the secret is copied. */
static void copy_refused(Backup *r, const char *why)
{
	char *log;

	log_capture_begin();
	assert_int_equal(restore_copy_tree(r->backup, r->dest, OS_UID, OS_GID, 0, false, "test"), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, why));
	assert_null(strstr(log, MARKER));
	free(log);
	assert_false(marker_in(r->dest));
}

static void test_copy_tree(void **state)
{
	Backup r;
	struct stat st;
	char *p, *buf;
	size_t len;

	(void)state;
	if (geteuid() != 0)
		skip();
	backup_setup(&r);
	assert_int_equal(restore_copy_tree(r.backup, r.dest, OS_UID, OS_GID, 0, false, "test"), 0);
	assert_int_equal(stat(r.dest, &st), 0);
	assert_int_equal(st.st_uid, OS_UID);
	assert_int_equal(st.st_mode & 07777, 0700);
	p = fs_path_join(r.dest, "global/pg_control");
	assert_int_equal(fs_read_file(p, &buf, &len, 1024), 0);
	assert_string_equal(buf, "control");
	free(buf);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, OS_UID);
	free(p);
	backup_teardown(&r);
}

static void test_copy_tree_refuses_links(void **state)
{
	Backup r;
	char *p;

	(void)state;
	if (geteuid() != 0)
		skip();
	/* The backup folder itself replaced with a link to root's folder. */
	backup_setup(&r);
	assert_int_equal(rename(r.backup, r.dest), 0);
	assert_int_equal(nftw(r.dest, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
	assert_int_equal(symlink(r.secret, r.backup), 0);
	copy_refused(&r, "refusing to follow symlink \"B1\"");
	assert_false(fs_exists(r.dest));
	backup_teardown(&r);

	/* A link inside the backup. */
	backup_setup(&r);
	p = fs_path_join(r.backup, "global/pg_filenode.map");
	assert_int_equal(symlink(r.secret_file, p), 0);
	free(p);
	copy_refused(&r, "global/pg_filenode.map\": it is not a regular file or folder");
	backup_teardown(&r);

	/* A folder of the backup a link to root's folder. */
	backup_setup(&r);
	p = fs_path_join(r.backup, "pg_wal");
	assert_int_equal(symlink(r.secret, p), 0);
	free(p);
	copy_refused(&r, "pg_wal\": it is not a regular file or folder");
	backup_teardown(&r);

	/* root's file hard-linked into the backup. */
	backup_setup(&r);
	p = fs_path_join(r.backup, "backup_label");
	assert_int_equal(link(r.secret_file, p), 0);
	free(p);
	copy_refused(&r, "backup_label\": it belongs to uid 0, not to the owner of the backup "
			 "(uid 4242)");
	backup_teardown(&r);
}

static void test_prepare_copy_refuses_links(void **state)
{
	Backup r;
	PgcArena *a;
	PgcHost *h;
	char *conf, *log;
	struct stat st;

	(void)state;
	/* As root, through this machine's host: any os_user but root will do. */
	if (geteuid() != 0 || getpwnam("nobody") == NULL)
		skip();
	a = arena_new();
	h = host_for("127.0.0.1", "nobody");
	assert_non_null(h);
	backup_setup(&r);
	assert_int_equal(restore_copy_tree(r.backup, r.dest, OS_UID, OS_GID, 0, false, "test"), 0);
	/* The account swaps postgresql.conf for a link to root's secret before it is edited. */
	conf = fs_path_join(r.dest, "postgresql.conf");
	assert_int_equal(unlink(conf), 0);
	assert_int_equal(symlink(r.secret_file, conf), 0);
	log_capture_begin();
	assert_int_equal(restore_prepare_copy(h, a, r.dest, "port = 1\n", "hba\n", "ident\n"), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "refusing to follow symlink \"postgresql.conf\""));
	assert_null(strstr(log, MARKER));
	free(log);
	assert_false(marker_in(r.dest));
	assert_int_equal(lstat(conf, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	free(conf);
	host_free(h);
	arena_free(a);
	backup_teardown(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_wal_name),
		cmocka_unit_test(test_parse_history),
		cmocka_unit_test(test_time_between_backups),
		cmocka_unit_test(test_time_refusals),
		cmocka_unit_test(test_gap_ends_the_archive),
		cmocka_unit_test(test_nothing_archived_after_backup),
		cmocka_unit_test(test_lsn_targets),
		cmocka_unit_test(test_other_targets),
		cmocka_unit_test(test_unusable_backups),
		cmocka_unit_test(test_two_clusters_refused),
		cmocka_unit_test(test_timeline_path),
		cmocka_unit_test(test_restore_conf),
		cmocka_unit_test(test_drill_conf),
		cmocka_unit_test(test_copy_tree),
		cmocka_unit_test(test_copy_tree_refuses_links),
		cmocka_unit_test(test_prepare_copy_refuses_links),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
