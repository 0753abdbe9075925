/*
 * tests/unit/test_backup.c - reconcile/backup/backup.c's pure parts (retention,
 * choice of the source) and the catalog (backup_catalog.c) on a real temp
 * folder, including two writers at once.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/progress.h"
#include "reconcile/backup/backup.h"
#include "reconcile/backup/backup_retention.h"

static char tmpdir[] = "/tmp/pgc-backup-XXXXXX";

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- building inputs ---------------------------------------------------- */

/* base_json - a base entry; ok < 0: not verified; deleting adds the mark. */
static json_t *base_json(const char *id, unsigned tli, const char *start_lsn, int ok, bool deleting)
{
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:i, s:i, s:b}", "id", id, "path",
			      "", "timeline", (int)tli, "start_lsn", start_lsn, "stop_lsn", start_lsn,
			      "wal_segment_size", 16 * 1024 * 1024, "size_bytes", 1000, "wal_included",
			      1);
	char path[64];

	snprintf(path, sizeof(path), "base/%s", id);
	json_object_set_new(o, "path", json_string(path));
	if (ok >= 0)
		json_object_set_new(o, "verify", json_pack("{s:b}", "ok", ok));
	if (deleting)
		json_object_set_new(o, "deleting", json_true());
	return o;
}

static json_t *logical_json(const char *id, const char *db, int ok)
{
	char path[128];
	json_t *o;

	snprintf(path, sizeof(path), "logical/%s/%s", id, db ? db : "globals.sql");
	o = json_pack("{s:s, s:s, s:s, s:i}", "id", id, "kind", db ? "dump" : "globals", "path", path,
		      "size_bytes", 10);
	if (db != NULL)
		json_object_set_new(o, "database", json_string(db));
	if (ok >= 0)
		json_object_set_new(o, "verify", json_pack("{s:b}", "ok", ok));
	return o;
}

static PgcBackupCatalog *catalog(json_t *base, json_t *logical)
{
	json_t *root = json_pack("{s:i, s:o, s:o}", "format_version", 1, "base", base, "logical",
				 logical);
	char err[256] = "";
	PgcBackupCatalog *cat = backup_catalog_from_json(root, err, sizeof(err));

	assert_string_equal(err, "");
	json_decref(root);
	assert_non_null(cat);
	return cat;
}

/* wal_entries - entries for names, in a. */
static PgcWalEntry *wal_entries(PgcArena *a, const char *const *names, size_t n)
{
	PgcWalEntry *e = arena_calloc(a, n, sizeof(*e));
	size_t i;

	for (i = 0; i < n; i++) {
		e[i].name = names[i];
		e[i].path = arena_printf(a, "/r/wal/x/%s", names[i]);
		e[i].size = 100;
		assert_int_equal(walarchive_parse_name(names[i], &e[i].parsed), 0);
	}
	return e;
}

static const char *ids_of_base(PgcArena *a, const PgcRetention *r)
{
	const char *s = "";
	size_t i;

	for (i = 0; i < r->n_base; i++)
		s = arena_printf(a, "%s%s%s", s, i ? " " : "", r->base[i]->id);
	return s;
}

static const char *names_of_wal(PgcArena *a, const PgcRetention *r)
{
	const char *s = "";
	size_t i;

	for (i = 0; i < r->n_wal; i++)
		s = arena_printf(a, "%s%s%s", s, i ? " " : "", r->wal[i]->name);
	return s;
}

static const char *const wal_names[] = {
	"000000010000000000000001",
	"000000010000000000000003.00000028.backup",
	"000000010000000000000004.partial",
	"000000010000000000000005",
	"000000010000000000000006",
	"000000010000000000000006.00000028.backup",
	"000000010000000000000007",
	"00000002.history",
	"000000020000000000000002",
};

/* ---- retention ---------------------------------------------------------- */

static void test_retention_keep_two_of_four(void **state)
{
	PgcArena *a = arena_new();
	PgcBackupCatalog *cat = catalog(json_pack("[o, o, o, o]",
						  base_json("20261101T000000Z", 1, "0/2000028", 1, false),
						  base_json("20261102T000000Z", 1, "0/4000028", 1, false),
						  base_json("20261103T000000Z", 1, "0/6000028", 1, false),
						  base_json("20261104T000000Z", 1, "0/7000028", 1, false)),
					json_array());
	PgcWalEntry *wal = wal_entries(a, wal_names, 9);
	PgcRetentionPolicy p = {.keep_base = 2, .keep_logical = 0};
	PgcRetention r;

	(void)state;
	backup_retention_compute(a, cat, wal, 9, &p, &r);
	assert_string_equal(ids_of_base(a, &r), "20261101T000000Z 20261102T000000Z");
	assert_non_null(r.oldest_kept);
	assert_string_equal(r.oldest_kept->id, "20261103T000000Z");
	/* Segment 6 holds the start (0/6000028): it and later stay; timeline 2 and history stay. */
	assert_string_equal(names_of_wal(a, &r), "000000010000000000000001 "
						 "000000010000000000000003.00000028.backup "
						 "000000010000000000000004.partial "
						 "000000010000000000000005");
	assert_int_equal(r.bytes, 2 * 1000 + 4 * 100);
	backup_catalog_free(cat);
	arena_free(a);
}

static void test_retention_failed_backups(void **state)
{
	PgcArena *a = arena_new();
	/* keep 2: valid ones are 02 and 04; 01 (failed, older) goes; 03 (failed, newer) stays. */
	PgcBackupCatalog *cat = catalog(json_pack("[o, o, o, o, o]",
						  base_json("20261101T000000Z", 1, "0/2000028", 0, false),
						  base_json("20261102T000000Z", 1, "0/3000028", 1, false),
						  base_json("20261103T000000Z", 1, "0/5000028", 0, false),
						  base_json("20261105T000000Z", 1, "0/7000028", -1, false),
						  base_json("20261104T000000Z", 1, "0/6000028", 1, false)),
					json_array());
	PgcWalEntry *wal = wal_entries(a, wal_names, 9);
	PgcRetentionPolicy p = {.keep_base = 2};
	PgcRetention r;

	(void)state;
	backup_retention_compute(a, cat, wal, 9, &p, &r);
	assert_string_equal(ids_of_base(a, &r), "20261101T000000Z");
	assert_string_equal(r.oldest_kept->id, "20261102T000000Z");
	assert_string_equal(names_of_wal(a, &r), "000000010000000000000001");
	backup_catalog_free(cat);
	arena_free(a);
}

static void test_retention_not_enough_valid(void **state)
{
	PgcArena *a = arena_new();
	PgcBackupCatalog *cat = catalog(json_pack("[o, o, o]",
						  base_json("20261101T000000Z", 1, "0/2000028", 1, false),
						  base_json("20261102T000000Z", 1, "0/3000028", 0, false),
						  base_json("20261103T000000Z", 1, "0/6000028", 1, true)),
					json_array());
	PgcWalEntry *wal = wal_entries(a, wal_names, 9);
	PgcRetentionPolicy p = {.keep_base = 2};
	PgcRetention r;

	(void)state;
	backup_retention_compute(a, cat, wal, 9, &p, &r);
	/* One valid backup for keep 2: nothing pruned, no WAL; only the marked one finishes. */
	assert_string_equal(ids_of_base(a, &r), "20261103T000000Z");
	assert_null(r.oldest_kept);
	assert_int_equal(r.n_wal, 0);

	/* keep 0 prunes nothing either. */
	p.keep_base = 0;
	backup_retention_compute(a, cat, wal, 9, &p, &r);
	assert_string_equal(ids_of_base(a, &r), "20261103T000000Z");
	assert_int_equal(r.n_wal, 0);
	backup_catalog_free(cat);
	arena_free(a);
}

static void test_retention_keep_one_wal_on_later_timeline(void **state)
{
	PgcArena *a = arena_new();
	/* The kept backup is on timeline 2: timeline 1's old WAL goes, history stays. */
	PgcBackupCatalog *cat = catalog(json_pack("[o, o]",
						  base_json("20261101T000000Z", 1, "0/2000028", 1, false),
						  base_json("20261102T000000Z", 2, "0/3000028", 1, false)),
					json_array());
	PgcWalEntry *wal = wal_entries(a, wal_names, 9);
	PgcRetentionPolicy p = {.keep_base = 1};
	PgcRetention r;

	(void)state;
	backup_retention_compute(a, cat, wal, 9, &p, &r);
	assert_string_equal(ids_of_base(a, &r), "20261101T000000Z");
	assert_string_equal(names_of_wal(a, &r), "000000010000000000000001 000000020000000000000002");
	backup_catalog_free(cat);
	arena_free(a);
}

static void test_retention_logical_per_database(void **state)
{
	PgcArena *a = arena_new();
	PgcBackupCatalog *cat = catalog(json_array(),
					json_pack("[o, o, o, o, o, o, o, o]",
						  logical_json("20261101T000000Z", "a.dump", 1),
						  logical_json("20261101T000000Z", NULL, 1),
						  logical_json("20261102T000000Z", "a.dump", 1),
						  logical_json("20261102T000000Z", NULL, 1),
						  logical_json("20261102T000000Z", "b.dump", 1),
						  logical_json("20261103T000000Z", "a.dump", 0),
						  logical_json("20261104T000000Z", "a.dump", 1),
						  logical_json("20261104T000000Z", NULL, 1)));
	PgcRetentionPolicy p = {.keep_base = 2, .keep_logical = 2};
	PgcRetention r;
	const char *s = "";
	size_t i;

	(void)state;
	backup_retention_compute(a, cat, NULL, 0, &p, &r);
	for (i = 0; i < r.n_logical; i++)
		s = arena_printf(a, "%s%s%s", s, i ? " " : "", r.logical[i]->path);
	/* a: valid 02 and 04 kept, 01 goes, 03 (failed, newer) stays; globals: 01 goes; b alone stays. */
	assert_string_equal(s, "logical/20261101T000000Z/a.dump logical/20261101T000000Z/globals.sql");
	assert_int_equal(r.n_base, 0);
	assert_null(r.oldest_kept);
	backup_catalog_free(cat);
	arena_free(a);
}

/* ---- the catalog on disk ------------------------------------------------ */

static void test_catalog_update_and_mark(void **state)
{
	char *repo = fs_path_join(tmpdir, "repo1");
	PgcBaseBackupInfo b = {.id = "20261126T101500Z", .path = "base/20261126T101500Z",
			       .cluster = "main", .source_node = "pg2", .source_role = "replica",
			       .timeline = 1, .start_lsn = "0/2000028", .stop_lsn = "0/2000138",
			       .wal_segment_size = 16777216, .size_bytes = 42, .wal_included = true,
			       .verify = {.known = true, .ok = true, .at = "2026-11-26T10:16:00Z",
					  .message = "backup successfully verified"}};
	PgcBackupCatalog *cat;
	const char *paths[] = {"base/20261126T101500Z"};
	PgcCatalogMark mark = {paths, 1, true};
	char *catalog_path = fs_path_join(repo, "catalog.json");
	char *text;
	size_t len;
	json_t *root, *entry;

	(void)state;
	assert_int_equal(mkdir(repo, 0700), 0);
	cat = backup_catalog_load(repo); /* none yet: empty */
	assert_non_null(cat);
	assert_int_equal(cat->n_base, 0);
	backup_catalog_free(cat);

	entry = backup_catalog_base_to_json(&b);
	assert_int_equal(backup_catalog_update(repo, FS_NO_UID, FS_NO_GID, backup_catalog_add_base,
					       entry),
			 0);
	json_decref(entry);
	/* A key from a later version survives rewrites. */
	assert_int_equal(fs_read_file(catalog_path, &text, &len, 1 << 20), 0);
	root = json_loads(text, 0, NULL);
	free(text);
	json_object_set_new(json_array_get(json_object_get(root, "base"), 0), "drill",
			    json_string("kept"));
	text = json_dumps(root, 0);
	json_decref(root);
	assert_int_equal(fs_write_atomic(catalog_path, text, strlen(text), 0600,
					 FS_NO_UID, FS_NO_GID, NULL),
			 0);
	free(text);

	assert_int_equal(backup_catalog_update(repo, FS_NO_UID, FS_NO_GID, backup_catalog_mark, &mark), 0);
	cat = backup_catalog_load(repo);
	assert_int_equal(cat->n_base, 1);
	assert_true(cat->base[0].deleting);
	assert_string_equal(cat->base[0].source_node, "pg2");
	assert_int_equal(cat->base[0].start_lsn_v, 0x2000028);
	assert_true(cat->base[0].verify.ok);
	assert_string_equal(cat->base[0].verify.message, "backup successfully verified");
	backup_catalog_free(cat);
	assert_int_equal(fs_read_file(catalog_path, &text, &len, 1 << 20), 0);
	assert_non_null(strstr(text, "\"drill\": \"kept\""));
	assert_non_null(strstr(text, "\"deleting\": true"));
	free(text);

	mark.mark = false;
	assert_int_equal(backup_catalog_update(repo, FS_NO_UID, FS_NO_GID, backup_catalog_mark, &mark), 0);
	cat = backup_catalog_load(repo);
	assert_int_equal(cat->n_base, 0);
	backup_catalog_free(cat);
	free(catalog_path);
	free(repo);
}

static void test_catalog_refuses_unknown_format(void **state)
{
	char *repo = fs_path_join(tmpdir, "repo2");
	char *path = fs_path_join(repo, "catalog.json");
	const char doc[] = "{\"format_version\": 2, \"base\": []}\n";
	char *log, *text;
	json_t *entry = json_object();
	size_t len;

	(void)state;
	assert_int_equal(mkdir(repo, 0700), 0);
	assert_int_equal(fs_write_atomic(path, doc, strlen(doc), 0600, FS_NO_UID, FS_NO_GID, NULL), 0);
	log_capture_begin();
	assert_null(backup_catalog_load(repo));
	assert_int_equal(backup_catalog_update(repo, FS_NO_UID, FS_NO_GID, backup_catalog_add_base,
					       entry),
			 -1);
	json_decref(entry);
	log = log_capture_end();
	assert_non_null(strstr(log, "catalog.json\" cannot be updated: unknown format_version (this "
				    "pgconverge reads version 1)"));
	free(log);
	assert_int_equal(fs_read_file(path, &text, &len, 4096), 0);
	assert_string_equal(text, doc); /* untouched */
	free(text);
	free(path);
	free(repo);
}

/*
 * A catalog.json that the repository's owner replaced by a link to a
 * root-only file: root reads nothing through it (as root; skipped otherwise).
 */
static void test_catalog_planted_link(void **state)
{
	char *repo = fs_path_join(tmpdir, "repo-link"), *secret = fs_path_join(tmpdir, "root-only");
	char *path = fs_path_join(repo, "catalog.json");
	const char doc[] = "{\"format_version\": 1, \"base\": [], \"logical\": [], "
			   "\"marker\": \"root-only-7d1c\"}\n";
	char *log;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(mkdir(repo, 0700), 0);
	assert_int_equal(chown(repo, 4242, 4242), 0); /* os_user's, not root's */
	assert_int_equal(fs_write_atomic(secret, doc, strlen(doc), 0600, FS_NO_UID, FS_NO_GID, NULL),
			 0);
	assert_int_equal(symlink(secret, path), 0);
	log_capture_begin();
	assert_null(backup_catalog_load(repo));
	assert_null(backup_catalog_json(repo));
	log = log_capture_end();
	assert_non_null(strstr(log, "refusing to follow symlink"));
	assert_null(strstr(log, "root-only-7d1c"));
	free(log);

	/* A hard link to root's file (fs.protected_hardlinks=0): refused as well. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(link(secret, path), 0);
	log_capture_begin();
	assert_null(backup_catalog_load(repo));
	assert_null(backup_catalog_json(repo));
	log = log_capture_end();
	assert_non_null(strstr(log, "(a hard link?)"));
	assert_null(strstr(log, "root-only-7d1c"));
	free(log);
	assert_int_equal(unlink(path), 0);
	free(path);
	free(secret);
	free(repo);
}

static void put(const char *path, const char *content);

/* A hard link planted at catalog.lock: its target keeps its owner, the update is refused. */
static void test_catalog_lock_hard_link(void **state)
{
	char *repo = fs_path_join(tmpdir, "repo-lock"), *secret = fs_path_join(tmpdir, "root-lock");
	char *lock = fs_path_join(repo, "catalog.lock"), *cat = fs_path_join(repo, "catalog.json");
	PgcLogicalBackupInfo l = {.id = "20261101T000000Z", .kind = "dump", .database = "db",
				  .path = "logical/20261101T000000Z/db.dump"};
	json_t *entry = backup_catalog_logical_to_json(&l);
	struct stat st;
	char *log;

	(void)state;
	if (geteuid() != 0) {
		json_decref(entry);
		skip();
	}
	assert_int_equal(mkdir(repo, 0700), 0);
	assert_int_equal(chown(repo, 4242, 4242), 0); /* os_user's, not root's */
	put(secret, "root's own\n");
	assert_int_equal(link(secret, lock), 0);
	log_capture_begin();
	assert_int_equal(backup_catalog_update(repo, 4242, 4242, backup_catalog_add_logical, entry),
			 -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "refusing to use lock file"));
	free(log);
	assert_int_equal(stat(secret, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, 0);
	assert_false(fs_exists(cat));

	/* Its own lock file, made by the first update, is given to os_user and reused. */
	assert_int_equal(unlink(lock), 0);
	assert_int_equal(backup_catalog_update(repo, 4242, 4242, backup_catalog_add_logical, entry),
			 0);
	assert_int_equal(stat(lock, &st), 0);
	assert_int_equal(st.st_uid, 4242);
	assert_int_equal(backup_catalog_update(repo, 4242, 4242, backup_catalog_add_logical, entry),
			 0);
	json_decref(entry);
	free(cat);
	free(lock);
	free(secret);
	free(repo);
}

/* repository_init in os_user's folder: a link in place of the repository is not followed. */
static void test_repository_init_planted_link(void **state)
{
	char *home = fs_path_join(tmpdir, "pg-home"), *target = fs_path_join(tmpdir, "etc-like");
	char *repo = fs_path_join(home, "repo"), *admin = fs_path_join(tmpdir, "admin-repo");
	char *admin_target = fs_path_join(tmpdir, "admin-target"), *p;
	PgcCluster c = {.name = "main"};
	char *log;

	(void)state;
	if (geteuid() != 0 || getpwnam("postgres") == NULL)
		skip();
	c.os_user.v = "postgres";
	assert_int_equal(mkdir(home, 0755), 0);
	assert_int_equal(chown(home, 4242, 4242), 0);
	assert_int_equal(mkdir(target, 0755), 0);
	assert_int_equal(symlink(target, repo), 0);
	c.backup.repository.v = repo;
	log_capture_begin();
	assert_int_equal(backup_repository_init(&c), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "/pg-home/repo\": a symbolic link of that name exists"));
	free(log);
	p = fs_path_join(target, "base");
	assert_false(fs_exists(p));
	free(p);
	p = fs_path_join(target, "wal");
	assert_false(fs_exists(p));
	free(p);

	/* The administrator's link, in a folder only root can change: followed. */
	assert_int_equal(mkdir(admin_target, 0755), 0);
	assert_int_equal(symlink(admin_target, admin), 0);
	c.backup.repository.v = admin;
	assert_int_equal(backup_repository_init(&c), 0);
	p = fs_path_join(admin_target, "base");
	assert_true(fs_exists(p));
	free(p);
	free(admin_target);
	free(admin);
	free(repo);
	free(target);
	free(home);
}

/* Two processes adding 40 entries each at once: none lost. */
static void test_catalog_two_writers(void **state)
{
	char *repo = fs_path_join(tmpdir, "repo3");
	PgcBackupCatalog *cat;
	pid_t pids[2];
	int w, i, status;

	(void)state;
	assert_int_equal(mkdir(repo, 0700), 0);
	for (w = 0; w < 2; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			for (i = 0; i < 40; i++) {
				PgcLogicalBackupInfo l = {.kind = "dump", .database = "db"};
				char id[32], path[64];
				json_t *entry;
				int rc;

				snprintf(id, sizeof(id), "2026110%dT0000%02dZ", w, i);
				snprintf(path, sizeof(path), "logical/%s/db.dump", id);
				l.id = id;
				l.path = path;
				entry = backup_catalog_logical_to_json(&l);
				rc = backup_catalog_update(repo, FS_NO_UID, FS_NO_GID,
							   backup_catalog_add_logical, entry);
				json_decref(entry);
				if (rc != 0)
					_exit(1);
			}
			free(repo);
			_exit(0);
		}
	}
	for (w = 0; w < 2; w++) {
		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	cat = backup_catalog_load(repo);
	assert_int_equal(cat->n_logical, 80);
	/* Sorted by id. */
	assert_string_equal(cat->logical[0].id, "20261100T000000Z");
	assert_string_equal(cat->logical[79].id, "20261101T000039Z");
	backup_catalog_free(cat);
	free(repo);
}

/* ---- retention never leaves the repository -------------------------------- */

/* put - a file with content at path (folders made). */
static void put(const char *path, const char *content)
{
	char *dir = strdup(path);

	*strrchr(dir, '/') = '\0';
	assert_int_equal(fs_mkdir_p(dir, 0700, FS_NO_UID, FS_NO_GID), 0);
	free(dir);
	assert_int_equal(fs_write_atomic(path, content, strlen(content), 0600, FS_NO_UID, FS_NO_GID,
					 NULL),
			 0);
}

static bool exists_in(const char *dir, const char *rel)
{
	char *p = fs_path_join(dir, rel);
	bool e = fs_exists(p);

	free(p);
	return e;
}

static void test_catalog_paths(void **state)
{
	(void)state;
	assert_true(backup_catalog_path_ok("base/20261126T101500Z", false));
	assert_true(backup_catalog_path_ok("logical/20261126T101500Z/app_db-2.dump", true));
	assert_true(backup_catalog_path_ok("logical/20261126T101500Z/globals.sql", true));
	assert_false(backup_catalog_path_ok("base/lnk/victim", false));
	assert_false(backup_catalog_path_ok("base/..", false));
	assert_false(backup_catalog_path_ok("base/.", false));
	assert_false(backup_catalog_path_ok("base/", false));
	assert_false(backup_catalog_path_ok("base", false));
	assert_false(backup_catalog_path_ok("/etc", false));
	assert_false(backup_catalog_path_ok("wal/00000001", false));
	assert_false(backup_catalog_path_ok("base/.hidden", false));
	assert_false(backup_catalog_path_ok("base/a b", false));
	assert_false(backup_catalog_path_ok("logical/20261126T101500Z/globals.sql", false));
	assert_false(backup_catalog_path_ok("base/20261126T101500Z", true));
	assert_false(backup_catalog_path_ok("logical/x", true));
	assert_false(backup_catalog_path_ok("logical/../x", true));
	assert_false(backup_catalog_path_ok("logical/x/../../y", true));
	assert_false(backup_catalog_path_ok("logical/x/y/z", true));
	assert_false(backup_catalog_path_ok(NULL, false));
}

/*
 * The catalog belongs to os_user; retention runs as root. An entry
 * "base/lnk/victim" with base/lnk a symlink to a folder outside the
 * repository: the catalog is refused, retention handed such an entry
 * refuses it, and the tree outside survives.
 */
static void test_retention_planted_link(void **state)
{
#define IN(dir, rel) arena_printf(pa, "%s/%s", (dir), (rel))
	PgcArena *pa = arena_new();
	const char *repo = IN(tmpdir, "repo-link"), *outside = IN(tmpdir, "outside");
	const char *cat_path = IN(repo, "catalog.json"), *lnk = IN(repo, "base/lnk");
	const char *victim = IN(outside, "victim/data");
	json_t *entry = base_json("20261101T000000Z", 1, "0/2000028", 1, false);
	json_t *doc;
	PgcBaseBackupInfo b = {.id = "20261101T000000Z", .path = "base/lnk/victim"};
	const PgcBaseBackupInfo *bases[] = {&b};
	PgcRetention r = {.base = bases, .n_base = 1};
	char *text, *log;

	(void)state;
	put(victim, "root's own\n");
	assert_int_equal(fs_mkdir_p(IN(repo, "base"), 0700, FS_NO_UID, FS_NO_GID), 0);
	assert_int_equal(symlink(outside, lnk), 0);
	json_object_set_new(entry, "path", json_string("base/lnk/victim"));
	doc = json_pack("{s:i, s:[o], s:[]}", "format_version", 1, "base", entry, "logical");
	text = json_dumps(doc, 0);
	json_decref(doc);
	assert_int_equal(fs_write_atomic(cat_path, text, strlen(text), 0600, FS_NO_UID, FS_NO_GID, NULL),
			 0);
	free(text);

	/* The catalog naming it is refused as a whole: nothing plans its removal. */
	log_capture_begin();
	assert_null(backup_catalog_load(repo));
	log = log_capture_end();
	assert_non_null(strstr(log, "catalog.json\" cannot be used: base entry 1 (id "
				    "\"20261101T000000Z\") has path \"base/lnk/victim\", which is not "
				    "base/NAME"));
	free(log);

	/* Retention handed such an entry anyway refuses it, and reports it. */
	text = "{\"format_version\": 1}";
	assert_int_equal(fs_write_atomic(cat_path, text, strlen(text), 0600, FS_NO_UID, FS_NO_GID, NULL),
			 0);
	log_capture_begin();
	assert_int_equal(backup_retention_apply(repo, &r), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "refusing to remove \"base/lnk/victim\" from backup repository"));
	free(log);
	assert_true(fs_exists(victim));

	/* A path of the right shape through a planted base/ link: refused too. */
	b.path = "base/victim";
	assert_int_equal(unlink(lnk), 0);
	assert_int_equal(rmdir(IN(repo, "base")), 0);
	assert_int_equal(symlink(outside, IN(repo, "base")), 0);
	log_capture_begin();
	assert_int_equal(backup_retention_apply(repo, &r), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "/repo-link/base\" is a symbolic link, not a folder"));
	free(log);
	assert_true(fs_exists(victim));

	/* A link where the backup's folder is: the link goes, its target stays. */
	assert_int_equal(unlink(IN(repo, "base")), 0);
	assert_int_equal(fs_mkdir_p(IN(repo, "base"), 0700, FS_NO_UID, FS_NO_GID), 0);
	assert_int_equal(symlink(IN(outside, "victim"), IN(repo, "base/victim")),
			 0);
	assert_int_equal(backup_retention_apply(repo, &r), 0);
	assert_false(exists_in(repo, "base/victim"));
	assert_true(fs_exists(victim));

	/* WAL and dumps are removed the same way: a WAL folder planted as a link is refused. */
	{
		PgcWalEntry w = {.name = "000000010000000000000001"};
		const PgcWalEntry *wals[] = {&w};
		PgcLogicalBackupInfo l = {.id = "x", .kind = "dump", .path = "logical/x/victim"};
		const PgcLogicalBackupInfo *dumps[] = {&l};
		PgcRetention rw = {.wal = wals, .n_wal = 1, .logical = dumps, .n_logical = 1};

		put(IN(outside, "000000010000000000000001"), "segment\n");
		assert_int_equal(fs_mkdir_p(IN(repo, "wal"), 0700, FS_NO_UID, FS_NO_GID), 0);
		assert_int_equal(symlink(outside, IN(repo, "wal/00000001")), 0);
		assert_int_equal(symlink(outside, IN(repo, "logical")), 0);
		w.path = IN(repo, "wal/00000001/000000010000000000000001");
		w.checksum_path = IN(w.path, ".sha256");
		log_capture_begin();
		assert_int_equal(backup_retention_apply(repo, &rw), -1);
		log = log_capture_end();
		assert_non_null(strstr(log, "/repo-link/wal/00000001\" is a symbolic link"));
		assert_non_null(strstr(log, "/repo-link/logical\" is a symbolic link"));
		free(log);
		assert_true(exists_in(outside, "000000010000000000000001"));
		assert_true(fs_exists(victim));
	}
	arena_free(pa);
#undef IN
}

/* ---- choosing the source ------------------------------------------------ */

static const char topo[] = "version: 1\n"
			   "clusters:\n"
			   "  main:\n"
			   "    primary: pg1\n"
			   "    nodes:\n"
			   "      pg1: {port: 25432, data_dir: /tmp/x/pg1}\n"
			   "      pg2: {port: 25433, data_dir: /tmp/x/pg2}\n"
			   "      pg3: {port: 25434, data_dir: /tmp/x/pg3}\n"
			   "    databases: {app: {}}\n"
			   "    backup: {repository: /tmp/x/backups, logical: {databases: [app]}}\n";

static void test_pick_source(void **state)
{
	PgcLoadOptions lo = {.offline = true};
	PgcDiagList diags = {0};
	PgcTopology *t = topology_load_buffer(topo, strlen(topo), "t.yaml", &lo, &diags);
	PgcArena *a = arena_new();
	PgcObsNode nodes[3] = {
		{.name = "pg1", .local = true, .reachable = true, .in_recovery = false},
		{.name = "pg2", .local = true, .reachable = true, .in_recovery = true,
		 .wal_receiver_status = "catchup"},
		{.name = "pg3", .local = true, .reachable = true, .in_recovery = true,
		 .wal_receiver_status = "streaming"},
	};
	PgcObsCluster oc = {.name = "main", .nodes = nodes, .n_nodes = 3};
	PgcObserved obs = {.clusters = &oc, .n_clusters = 1};
	const PgcCluster *c;
	PgcBackupSource s;

	(void)state;
	assert_non_null(t);
	assert_int_equal(diag_count(&diags, DIAG_ERROR), 0);
	c = topology_cluster(t, "main");

	assert_int_equal(backup_pick_source(a, c, &obs, false, &s), 0);
	assert_string_equal(s.node->name, "pg3");
	assert_true(s.replica);
	assert_string_equal(s.reason, "node \"pg3\" is a streaming replica: the copy does not load the "
				      "primary");

	/* Logical backups come from the primary. */
	assert_int_equal(backup_pick_source(a, c, &obs, true, &s), 0);
	assert_string_equal(s.node->name, "pg1");
	assert_false(s.replica);

	/* No replica streams: the primary. */
	nodes[2].wal_receiver_status = NULL;
	assert_int_equal(backup_pick_source(a, c, &obs, false, &s), 0);
	assert_string_equal(s.node->name, "pg1");
	assert_string_equal(s.reason, "node \"pg1\" is the primary and no replica is streaming");

	/* After a failover pg2 is the primary in fact: it is used. */
	nodes[0].reachable = false;
	nodes[1].in_recovery = false;
	assert_int_equal(backup_pick_source(a, c, &obs, false, &s), 0);
	assert_string_equal(s.node->name, "pg2");

	/* Nothing usable. */
	nodes[1].reachable = false;
	assert_int_equal(backup_pick_source(a, c, &obs, false, &s), -1);
	assert_null(s.node);
	assert_string_equal(s.reason, "no node of cluster \"main\" on this machine is reachable as a "
				      "primary or a streaming replica");

	diag_free(&diags);
	topology_free(t);
	arena_free(a);
}

static void test_format_bytes(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(progress_format_bytes(512, buf, sizeof(buf)), "512 B");
	assert_string_equal(progress_format_bytes(1536, buf, sizeof(buf)), "1.5 kB");
	assert_string_equal(progress_format_bytes(47395635, buf, sizeof(buf)), "45.2 MB");
	assert_string_equal(progress_format_bytes(INT64_C(3328599654), buf, sizeof(buf)), "3.1 GB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retention_keep_two_of_four),
		cmocka_unit_test(test_retention_failed_backups),
		cmocka_unit_test(test_retention_not_enough_valid),
		cmocka_unit_test(test_retention_keep_one_wal_on_later_timeline),
		cmocka_unit_test(test_retention_logical_per_database),
		cmocka_unit_test(test_catalog_update_and_mark),
		cmocka_unit_test(test_catalog_refuses_unknown_format),
		cmocka_unit_test(test_catalog_planted_link),
		cmocka_unit_test(test_catalog_lock_hard_link),
		cmocka_unit_test(test_repository_init_planted_link),
		cmocka_unit_test(test_catalog_two_writers),
		cmocka_unit_test(test_catalog_paths),
		cmocka_unit_test(test_retention_planted_link),
		cmocka_unit_test(test_pick_source),
		cmocka_unit_test(test_format_bytes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
