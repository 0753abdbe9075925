/*
 * tests/unit/test_fsutil.c - common/fsutil.c on a real temp folder.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
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

#include "common/fstree.h"
#include "common/fsutil.h"
#include "common/log.h"

static char tmpdir[] = "/tmp/pgc-fsutil-XXXXXX";

static char *in_tmp(const char *name)
{
	return fs_path_join(tmpdir, name);
}

/* entries - the folder's names, sorted, joined by spaces. */
static char *entries(const char *dir)
{
	struct dirent **list;
	char *out = calloc(1, 4096);
	int n, i;

	n = scandir(dir, &list, NULL, alphasort);
	assert_true(n >= 0);
	for (i = 0; i < n; i++) {
		if (strcmp(list[i]->d_name, ".") != 0 && strcmp(list[i]->d_name, "..") != 0) {
			if (out[0] != '\0')
				strcat(out, " ");
			strcat(out, list[i]->d_name);
		}
		free(list[i]);
	}
	free(list);
	return out;
}

static void assert_file(const char *path, const char *content, mode_t mode)
{
	struct stat st;
	char *buf;
	size_t len;

	assert_int_equal(fs_read_file(path, &buf, &len, 1 << 20), 0);
	assert_int_equal(len, strlen(content));
	assert_string_equal(buf, content);
	free(buf);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, mode);
}

static int setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	(void)state;
	/* Tests remove what they create; this also cleans up after a failed one. */
	return nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_write_atomic(void **state)
{
	char *path = in_tmp("conf");
	char *names;
	struct stat st1, st2;
	bool changed = false;
	mode_t old = umask(077);

	(void)state;
	assert_int_equal(fs_write_atomic(path, "a = 1\n", 6, 0640, FS_NO_UID, FS_NO_GID, &changed), 0);
	assert_true(changed);
	assert_file(path, "a = 1\n", 0640);
	names = entries(tmpdir);
	assert_string_equal(names, "conf"); /* no temp file left */
	free(names);
	assert_int_equal(stat(path, &st1), 0);

	/* Same content and mode: not written at all (same inode, same mtime). */
	assert_int_equal(fs_write_atomic(path, "a = 1\n", 6, 0640, FS_NO_UID, FS_NO_GID, &changed), 0);
	assert_false(changed);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);

	/* Same content, other mode: rewritten. */
	assert_int_equal(fs_write_atomic(path, "a = 1\n", 6, 0600, FS_NO_UID, FS_NO_GID, &changed), 0);
	assert_true(changed);
	assert_file(path, "a = 1\n", 0600);

	/* Other content of the same length: rewritten, a new inode. */
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(fs_write_atomic(path, "a = 2\n", 6, 0600, FS_NO_UID, FS_NO_GID, &changed), 0);
	assert_true(changed);
	assert_file(path, "a = 2\n", 0600);
	assert_int_equal(stat(path, &st2), 0);
	assert_true(st1.st_ino != st2.st_ino);

	/* A prefix of the old content is different content. */
	assert_int_equal(fs_write_atomic(path, "a = 2", 5, 0600, FS_NO_UID, FS_NO_GID, &changed), 0);
	assert_true(changed);
	assert_file(path, "a = 2", 0600);

	/* Empty content, changed NULL. */
	assert_int_equal(fs_write_atomic(path, "", 0, 0644, FS_NO_UID, FS_NO_GID, NULL), 0);
	assert_file(path, "", 0644);

	names = entries(tmpdir);
	assert_string_equal(names, "conf");
	free(names);
	unlink(path);
	free(path);
	umask(old);
}

static void test_write_atomic_owner(void **state)
{
	char *path = in_tmp("owned");
	struct passwd *pw = getpwnam("postgres");
	struct stat st;
	bool changed;

	(void)state;
	if (geteuid() != 0 || pw == NULL) {
		skip();
		return;
	}
	assert_int_equal(fs_write_atomic(path, "x", 1, 0600, pw->pw_uid, pw->pw_gid, &changed), 0);
	assert_true(changed);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, pw->pw_uid);
	assert_int_equal(st.st_gid, pw->pw_gid);
	/* Same owner asked again: unchanged; another owner: rewritten. */
	assert_int_equal(fs_write_atomic(path, "x", 1, 0600, pw->pw_uid, pw->pw_gid, &changed), 0);
	assert_false(changed);
	assert_int_equal(fs_write_atomic(path, "x", 1, 0600, 0, 0, &changed), 0);
	assert_true(changed);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 0);
	unlink(path);
	free(path);
}

static void test_write_atomic_replaces_symlink(void **state)
{
	char *target = in_tmp("target"), *link = in_tmp("link");
	struct stat st;
	bool changed;

	(void)state;
	assert_int_equal(fs_write_atomic(target, "old", 3, 0600, FS_NO_UID, FS_NO_GID, &changed), 0);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(fs_write_atomic(link, "new", 3, 0600, FS_NO_UID, FS_NO_GID, &changed), 0);
	assert_true(changed);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_file(target, "old", 0600);
	assert_file(link, "new", 0600);
	unlink(target);
	unlink(link);
	free(target);
	free(link);
}

static void test_write_atomic_error(void **state)
{
	char *path = in_tmp("missing/f");
	char *log, *expect;
	bool changed = true;

	(void)state;
	log_capture_begin();
	assert_int_equal(fs_write_atomic(path, "x", 1, 0600, FS_NO_UID, FS_NO_GID, &changed), -1);
	log = log_capture_end();
	assert_int_equal(errno, ENOENT);
	assert_false(changed);
	assert_int_equal(asprintf(&expect, "error: could not create temporary file \"%s/missing/.f.tmp.%ld.",
				  tmpdir, (long)getpid()) > 0, 1);
	assert_true(strncmp(log, expect, strlen(expect)) == 0);
	assert_non_null(strstr(log, "\": No such file or directory\n"));
	free(expect);
	free(log);
	free(path);
}

static void test_read_file(void **state)
{
	char *path = in_tmp("r"), *missing = in_tmp("nope"), *buf, *log, *expect;
	size_t len;

	(void)state;
	assert_int_equal(fs_write_atomic(path, "hello", 5, 0600, FS_NO_UID, FS_NO_GID, NULL), 0);
	assert_int_equal(fs_read_file(path, &buf, &len, 5), 0);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "hello");
	free(buf);

	log_capture_begin();
	assert_int_equal(fs_read_file(missing, &buf, &len, 100), 1);
	assert_null(buf);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(fs_read_file(path, &buf, &len, 4), -1);
	assert_null(buf);
	log = log_capture_end();
	assert_int_equal(asprintf(&expect, "error: could not read file \"%s\": larger than 4 bytes\n", path) > 0, 1);
	assert_string_equal(log, expect); /* nothing logged for the missing file */
	free(expect);
	free(log);

	/* Files whose size stat() does not know are read to their end. */
	assert_int_equal(fs_read_file("/proc/self/cmdline", &buf, &len, 1 << 20), 0);
	assert_true(len > 0);
	free(buf);

	unlink(path);
	free(path);
	free(missing);
}

static void test_mkdir_p(void **state)
{
	char *top = in_tmp("a"), *deep = in_tmp("a/b//c/"), *mid = in_tmp("a/b"), *file = in_tmp("a/f");
	char *under_file = in_tmp("a/f/g"), *log, *expect, *c = in_tmp("a/b/c");
	struct stat st;
	mode_t old = umask(077);

	(void)state;
	assert_int_equal(fs_mkdir_p(deep, 0750, FS_NO_UID, FS_NO_GID), 0);
	assert_int_equal(stat(top, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750); /* not masked by the umask */
	assert_int_equal(stat(c, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);

	/* Existing folders are left as they are. */
	assert_int_equal(chmod(mid, 0700), 0);
	assert_int_equal(fs_mkdir_p(deep, 0755, FS_NO_UID, FS_NO_GID), 0);
	assert_int_equal(stat(mid, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	assert_int_equal(fs_is_dir_empty(c), 1);
	assert_int_equal(fs_is_dir_empty(mid), 0);

	assert_int_equal(fs_write_atomic(file, "", 0, 0600, FS_NO_UID, FS_NO_GID, NULL), 0);
	log_capture_begin();
	assert_int_equal(fs_mkdir_p(under_file, 0700, FS_NO_UID, FS_NO_GID), -1);
	assert_int_equal(errno, ENOTDIR);
	log = log_capture_end();
	assert_int_equal(asprintf(&expect, "error: could not create folder \"%s\": a file of that name exists\n",
				  file) > 0, 1);
	assert_string_equal(log, expect);
	free(expect);
	free(log);

	log_capture_begin();
	assert_int_equal(fs_is_dir_empty(file), -1);
	log = log_capture_end();
	assert_int_equal(asprintf(&expect, "error: could not open folder \"%s\": Not a directory\n", file) > 0, 1);
	assert_string_equal(log, expect);
	free(expect);
	free(log);

	unlink(file);
	rmdir(c);
	rmdir(mid);
	rmdir(top);
	free(top);
	free(deep);
	free(mid);
	free(file);
	free(under_file);
	free(c);
	umask(old);
}

static void test_exists(void **state)
{
	char *link = in_tmp("dangling");

	(void)state;
	assert_true(fs_exists(tmpdir));
	assert_false(fs_exists("/nonexistent-pgc-path"));
	assert_int_equal(symlink("/nonexistent-pgc-path", link), 0);
	assert_true(fs_exists(link));
	unlink(link);
	free(link);
	assert_int_equal(fs_fsync_dir(tmpdir), 0);
}

static void check_join(const char *dir, const char *name, const char *expect)
{
	char *s = fs_path_join(dir, name);

	assert_string_equal(s, expect);
	free(s);
}

static void test_path_join(void **state)
{
	(void)state;
	check_join("/a", "b", "/a/b");
	check_join("/a/", "b", "/a/b");
	check_join("/a//", "b/c", "/a/b/c");
	check_join("/", "b", "/b");
	check_join("a", "b", "a/b");
	check_join("/a", "/abs", "/abs");
	check_join("", "b", "b");
}

static void check_resolve(const char *base, const char *rel, const char *expect)
{
	char *s = fs_path_resolve(base, rel);

	assert_non_null(s);
	assert_string_equal(s, expect);
	free(s);
}

static void check_norm(const char *path, const char *expect)
{
	char *s = fs_path_normalize(path);

	assert_string_equal(s, expect);
	free(s);
}

static void test_path_sibling(void **state)
{
	char *p;

	(void)state;
	p = fs_path_sibling("/srv/pg/main/pg2", ".pgconverge.pgpass");
	assert_string_equal(p, "/srv/pg/main/.pg2.pgconverge.pgpass");
	free(p);
	p = fs_path_sibling("/srv/pg/main/pg2//", ".x");
	assert_string_equal(p, "/srv/pg/main/.pg2.x");
	free(p);
	p = fs_path_sibling("pg2", ".x");
	assert_string_equal(p, ".pg2.x");
	free(p);
}

static void test_path_resolve(void **state)
{
	char cwd[4096], *expect;

	(void)state;
	check_resolve("/srv/topo", "data/pg1", "/srv/topo/data/pg1");
	check_resolve("/srv/topo", "../backups", "/srv/backups");
	check_resolve("/srv/topo/", "./a//b/./", "/srv/topo/a/b");
	check_resolve("/srv/topo", "/abs/../c", "/c");
	check_resolve("/srv/topo", "../../../..", "/");
	check_resolve("/", "..", "/");
	check_resolve("/a/b", "", "/a/b");
	check_resolve("/a/b", ".", "/a/b");
	check_resolve("/a/b", "..x/y", "/a/b/..x/y");
	check_resolve("//a//b//", "c", "/a/b/c");

	/* A relative base (or none) starts from the current folder. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	assert_int_equal(asprintf(&expect, "%s/sub/f", tmpdir) > 0, 1);
	check_resolve("sub", "f", expect);
	check_resolve(NULL, "sub/x/../f", expect);
	free(expect);
	check_resolve(NULL, ".", tmpdir);
	assert_int_equal(chdir(cwd), 0);

	check_norm("a/../../b", "../b");
	check_norm("", ".");
	check_norm("a/..", ".");
	check_norm("./a/./b/", "a/b");
	check_norm("//x//", "/x");
	check_norm("/..", "/");
	check_norm("../../a", "../../a");
	check_norm("/a/b/../../..", "/");
}

static void test_path_is_inside(void **state)
{
	(void)state;
	assert_true(fs_path_is_inside("/a/b", "/a/b/c"));
	assert_true(fs_path_is_inside("/a/b", "/a/b/c/d"));
	assert_true(fs_path_is_inside("/a/b/", "/a/b/c"));
	assert_false(fs_path_is_inside("/a/b", "/a/bc"));
	assert_false(fs_path_is_inside("/a/bc", "/a/b"));
	assert_false(fs_path_is_inside("/a/b", "/a/b"));
	assert_false(fs_path_is_inside("/a/b", "/a/b/"));
	assert_false(fs_path_is_inside("/a/b", "/a/b/c/../.."));
	assert_true(fs_path_is_inside("/a/b", "/a/b/c/../../b/d"));
	assert_false(fs_path_is_inside("/a/b/c", "/a/b"));
	assert_true(fs_path_is_inside("/", "/x"));
	assert_false(fs_path_is_inside("/", "/"));
	assert_false(fs_path_is_inside("/a", "a/b"));
	assert_true(fs_path_is_inside("data", "data/pg1"));
	assert_false(fs_path_is_inside("data", "data2/pg1"));
	assert_true(fs_path_is_inside(".", "x"));
	assert_false(fs_path_is_inside(".", "../x"));
}

/* ---- guarded access ---------------------------------------------------------------- */

/* An account that is not root: its folders are not safe for root to follow links in. */
#define OTHER_UID ((uid_t)4242)
#define OTHER_GID ((gid_t)4242)
#define MARKER "root-only-marker-3f9a"

typedef struct {
	char *base;   /* tmpdir/guard, root's */
	char *secret; /* base/secret, root's 0700 folder */
	char *secret_file; /* secret/key, root 0600, MARKER */
	char *data;   /* base/data, OTHER_UID's 0700 folder: a data directory */
} Guard;

static void guard_setup(Guard *g)
{
	g->base = in_tmp("guard");
	g->secret = fs_path_join(g->base, "secret");
	g->secret_file = fs_path_join(g->secret, "key");
	g->data = fs_path_join(g->base, "data");
	assert_int_equal(mkdir(g->base, 0755), 0);
	assert_int_equal(mkdir(g->secret, 0700), 0);
	assert_int_equal(fs_write_atomic(g->secret_file, MARKER "\n", strlen(MARKER) + 1, 0600,
					 FS_NO_UID, FS_NO_GID, NULL), 0);
	assert_int_equal(mkdir(g->data, 0700), 0);
	assert_int_equal(chown(g->data, OTHER_UID, OTHER_GID), 0);
}

static void guard_teardown(Guard *g)
{
	assert_int_equal(nftw(g->base, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(g->base);
	free(g->secret);
	free(g->secret_file);
	free(g->data);
}

/* in_data - data/name, planted as the other account would (owned by it). */
static char *in_data(Guard *g, const char *name)
{
	return fs_path_join(g->data, name);
}

/* assert_refused - the captured log names the refusal and never the marker. */
static void assert_refused(char *log, const char *what)
{
	assert_non_null(strstr(log, what));
	assert_null(strstr(log, MARKER));
	free(log);
}

static void test_guarded_read_refuses_planted_links(void **state)
{
	Guard g;
	char *conf, *logdir, *via_dir, *buf = (char *)"x", *log;
	size_t len = 7;

	(void)state;
	if (geteuid() != 0)
		skip();
	guard_setup(&g);
	conf = in_data(&g, "postgresql.conf");
	logdir = in_data(&g, "log");
	via_dir = in_data(&g, "log/key");
	assert_int_equal(symlink(g.secret_file, conf), 0);
	assert_int_equal(symlink(g.secret, logdir), 0);

	/* The file itself a link: refused, nothing read. */
	log_capture_begin();
	assert_int_equal(fs_read_file_guarded(conf, &buf, &len, 1 << 20, OTHER_UID), -1);
	assert_int_equal(errno, ELOOP);
	assert_null(buf);
	assert_int_equal(len, 0);
	assert_refused(log_capture_end(), "refusing to follow symlink \"postgresql.conf\"");

	/* A folder on the way a link: refused too. */
	log_capture_begin();
	assert_int_equal(fs_read_file_guarded(via_dir, &buf, &len, 1 << 20, OTHER_UID), -1);
	assert_int_equal(errno, ELOOP);
	log = log_capture_end();
	assert_refused(log, "refusing to follow symlink \"log\"");

	/* The plain reader still follows both (what the guarded one exists for). */
	assert_int_equal(fs_read_file(conf, &buf, &len, 1 << 20), 0);
	assert_non_null(strstr(buf, MARKER));
	free(buf);

	free(conf);
	free(logdir);
	free(via_dir);
	guard_teardown(&g);
}

static void test_guarded_read_follows_safe_links(void **state)
{
	Guard g;
	char *file, *link, *via, *alias, *buf;
	size_t len;

	(void)state;
	if (geteuid() != 0)
		skip();
	guard_setup(&g);
	file = in_data(&g, "PG_VERSION");
	assert_int_equal(fs_write_atomic(file, "17\n", 3, 0600, OTHER_UID, OTHER_GID, NULL), 0);
	/* An administrator's link, in root's own folder: /srv/pg -> the data directory. */
	link = fs_path_join(g.base, "pg");
	via = fs_path_join(g.base, "pg/PG_VERSION");
	alias = fs_path_join(g.base, "version");
	assert_int_equal(symlink("data", link), 0);
	assert_int_equal(symlink("pg/PG_VERSION", alias), 0);
	assert_int_equal(fs_read_file_guarded(via, &buf, &len, 1 << 20, OTHER_UID), 0);
	assert_string_equal(buf, "17\n");
	free(buf);
	/* The last component a safe link, to a path through another safe link. */
	assert_int_equal(fs_read_file_guarded(alias, &buf, &len, 1 << 20, OTHER_UID), 0);
	assert_string_equal(buf, "17\n");
	free(buf);
	/* Absent: 1, nothing logged, as fs_read_file. */
	log_capture_begin();
	assert_int_equal(fs_read_file_guarded(g.data, &buf, &len, 1 << 20, OTHER_UID), -1);
	free(log_capture_end());
	free(file);
	file = in_data(&g, "nope/missing");
	log_capture_begin();
	assert_int_equal(fs_read_file_guarded(file, &buf, &len, 1 << 20, OTHER_UID), 1);
	buf = log_capture_end();
	assert_string_equal(buf, "");
	free(buf);
	free(file);
	free(link);
	free(via);
	free(alias);
	guard_teardown(&g);
}

static void test_guarded_read_owner(void **state)
{
	Guard g;
	char *foreign, *hard, *mine, *fifo, *buf;
	size_t len;

	(void)state;
	if (geteuid() != 0)
		skip();
	guard_setup(&g);
	foreign = in_data(&g, "foreign");
	hard = in_data(&g, "hard");
	mine = in_data(&g, "mine");
	fifo = in_data(&g, "fifo");
	assert_int_equal(fs_write_atomic(foreign, "x", 1, 0600, 5555, 5555, NULL), 0);
	assert_int_equal(fs_write_atomic(mine, "root's", 6, 0600, FS_NO_UID, FS_NO_GID, NULL), 0);

	/* Another account's file. */
	log_capture_begin();
	assert_int_equal(fs_read_file_guarded(foreign, &buf, &len, 1 << 20, OTHER_UID), -1);
	assert_refused(log_capture_end(), "it belongs to uid 5555, neither the servers' account "
					  "(uid 4242) nor root");
	/* A root file with one name, made there by root: fine. */
	assert_int_equal(fs_read_file_guarded(mine, &buf, &len, 1 << 20, OTHER_UID), 0);
	assert_string_equal(buf, "root's");
	free(buf);
	/* root's secret hard-linked into the account's folder. */
	assert_int_equal(link(g.secret_file, hard), 0);
	log_capture_begin();
	assert_int_equal(fs_read_file_guarded(hard, &buf, &len, 1 << 20, OTHER_UID), -1);
	assert_refused(log_capture_end(), "has 2 names, in a folder that another account can change");
	/* A FIFO in place of a file: refused at once, not waited on. */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	log_capture_begin();
	assert_int_equal(fs_read_file_guarded(fifo, &buf, &len, 1 << 20, OTHER_UID), -1);
	assert_refused(log_capture_end(), "it is not a regular file");
	free(foreign);
	free(hard);
	free(mine);
	free(fifo);
	guard_teardown(&g);
}

static void test_guarded_write(void **state)
{
	Guard g;
	char *conf, *logdir, *via, *in_secret, *buf, *names;
	struct stat st;
	size_t len;
	bool changed = true;

	(void)state;
	if (geteuid() != 0)
		skip();
	guard_setup(&g);
	conf = in_data(&g, "postgresql.conf");
	logdir = in_data(&g, "log");
	via = in_data(&g, "log/server.log");
	in_secret = fs_path_join(g.secret, "server.log");
	assert_int_equal(symlink(g.secret_file, conf), 0);
	assert_int_equal(symlink(g.secret, logdir), 0);

	/* Through a planted folder link: refused, nothing created in root's folder. */
	log_capture_begin();
	assert_int_equal(fs_write_atomic_guarded(via, "x", 1, 0600, OTHER_UID, OTHER_GID, &changed),
			 -1);
	assert_refused(log_capture_end(), "refusing to follow symlink \"log\"");
	assert_false(changed);
	assert_false(fs_exists(in_secret));
	names = entries(g.secret);
	assert_string_equal(names, "key");
	free(names);

	/* Over a planted file link: the link is replaced, its target untouched. */
	assert_int_equal(fs_write_atomic_guarded(conf, "a = 1\n", 6, 0600, OTHER_UID, OTHER_GID,
						 &changed), 0);
	assert_true(changed);
	assert_int_equal(lstat(conf, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_uid, OTHER_UID);
	assert_int_equal(fs_read_file(g.secret_file, &buf, &len, 1 << 20), 0);
	assert_string_equal(buf, MARKER "\n");
	free(buf);
	/* Unchanged content: not rewritten. */
	assert_int_equal(fs_write_atomic_guarded(conf, "a = 1\n", 6, 0600, OTHER_UID, OTHER_GID,
						 &changed), 0);
	assert_false(changed);
	names = entries(g.data);
	assert_string_equal(names, "log postgresql.conf");
	free(names);
	free(conf);
	free(logdir);
	free(via);
	free(in_secret);
	guard_teardown(&g);
}

static void test_guarded_mkdir_p(void **state)
{
	Guard g;
	char *made, *link, *via, *log;
	struct stat st;
	mode_t old = umask(077);

	(void)state;
	if (geteuid() != 0)
		skip();
	guard_setup(&g);
	made = in_data(&g, "a/b");
	link = in_data(&g, "l");
	via = in_data(&g, "l/sub/dir");
	assert_int_equal(fs_mkdir_p_guarded(made, 0750, OTHER_UID, OTHER_GID), 0);
	assert_int_equal(stat(made, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(st.st_uid, OTHER_UID);
	assert_int_equal(fs_mkdir_p_guarded(made, 0750, OTHER_UID, OTHER_GID), 0);
	free(made);
	made = in_data(&g, "c/d/");
	assert_int_equal(fs_mkdir_p_guarded(made, 0700, OTHER_UID, OTHER_GID), 0);
	assert_int_equal(stat(made, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	assert_int_equal(symlink(g.secret, link), 0);
	log_capture_begin();
	assert_int_equal(fs_mkdir_p_guarded(via, 0700, OTHER_UID, OTHER_GID), -1);
	log = log_capture_end();
	assert_refused(log, "refusing to follow symlink \"l\"");
	log = entries(g.secret);
	assert_string_equal(log, "key");
	free(log);
	umask(old);
	free(made);
	free(link);
	free(via);
	guard_teardown(&g);
}

/* ---- removing trees and creating folders without following links ---------- */

/* put - a file with content at path. */
static void put(const char *path, const char *content)
{
	assert_int_equal(fs_write_atomic(path, content, strlen(content), 0600, FS_NO_UID, FS_NO_GID,
					 NULL),
			 0);
}

static void test_remove_tree(void **state)
{
	char *top = in_tmp("rt"), *victim = in_tmp("rt-outside"), *tree = in_tmp("rt/a");
	char *p;

	(void)state;
	assert_int_equal(fs_mkdir_p(tree, 0700, FS_NO_UID, FS_NO_GID), 0);
	assert_int_equal(fs_mkdir_p(victim, 0700, FS_NO_UID, FS_NO_GID), 0);
	p = in_tmp("rt-outside/keep");
	put(p, "outside\n");
	free(p);
	p = in_tmp("rt/a/b/c");
	assert_int_equal(fs_mkdir_p(p, 0700, FS_NO_UID, FS_NO_GID), 0);
	free(p);
	p = in_tmp("rt/a/b/c/f");
	put(p, "x");
	free(p);
	/* Links inside the tree, to a folder and to a file outside: removed, not followed. */
	p = in_tmp("rt/a/b/dirlink");
	assert_int_equal(symlink(victim, p), 0);
	free(p);
	p = in_tmp("rt/a/filelink");
	assert_int_equal(symlink("../../rt-outside/keep", p), 0);
	free(p);

	assert_int_equal(fs_remove_tree(top, tree), 0);
	assert_false(fs_exists(tree));
	p = entries(victim);
	assert_string_equal(p, "keep");
	free(p);
	/* Absent: nothing to do. */
	assert_int_equal(fs_remove_tree(top, tree), 0);
	/* Not inside: refused. */
	log_capture_begin();
	assert_int_equal(fs_remove_tree(top, victim), -1);
	p = log_capture_end();
	assert_non_null(strstr(p, "is not inside"));
	free(p);
	assert_true(fs_exists(victim));
	free(top);
	free(victim);
	free(tree);
}

/*
 * A link planted in the middle of the path (top/lnk -> outside) is never
 * followed: removing top/lnk/victim is refused and outside/victim stays.
 * A link at the path itself is removed, its target left.
 */
static void test_remove_tree_planted_link(void **state)
{
	char *top = in_tmp("pl"), *outside = in_tmp("pl-outside"), *lnk = in_tmp("pl/lnk");
	char *through = in_tmp("pl/lnk/victim"), *victim = in_tmp("pl-outside/victim");
	char *file = in_tmp("pl-outside/victim/data"), *log;

	(void)state;
	assert_int_equal(fs_mkdir_p(top, 0700, FS_NO_UID, FS_NO_GID), 0);
	assert_int_equal(fs_mkdir_p(victim, 0700, FS_NO_UID, FS_NO_GID), 0);
	put(file, "precious\n");
	assert_int_equal(symlink(outside, lnk), 0);

	log_capture_begin();
	assert_int_equal(fs_remove_tree(top, through), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "refusing to remove \""));
	assert_non_null(strstr(log, "pl/lnk\" is a symbolic link, not a folder"));
	free(log);
	assert_file(file, "precious\n", 0600);

	/* One file through the link: refused the same way. */
	free(through);
	through = in_tmp("pl/lnk/victim/data");
	log_capture_begin();
	assert_int_equal(fs_remove_inside(top, through, false), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "is a symbolic link, not a folder"));
	free(log);
	assert_file(file, "precious\n", 0600);

	/* The link itself is removed, never its target. */
	assert_int_equal(fs_remove_tree(top, lnk), 0);
	assert_false(fs_exists(lnk));
	assert_file(file, "precious\n", 0600);
	free(top);
	free(outside);
	free(lnk);
	free(through);
	free(victim);
	free(file);
}

/* Emptying a data directory keeps the folder and follows no link inside it. */
static void test_empty_dir(void **state)
{
	char *top = in_tmp("ed"), *sub = in_tmp("ed/base/1"), *f = in_tmp("ed/base/1/x");
	char *pv = in_tmp("ed/PG_VERSION"), *lnk = in_tmp("ed/pg_tblspc");
	char *outside = in_tmp("ed-outside"), *file = in_tmp("ed-outside/data");

	(void)state;
	assert_int_equal(fs_mkdir_p(sub, 0700, FS_NO_UID, FS_NO_GID), 0);
	assert_int_equal(fs_mkdir_p(outside, 0700, FS_NO_UID, FS_NO_GID), 0);
	put(f, "x\n");
	put(pv, "15\n");
	put(file, "precious\n");
	assert_int_equal(symlink(outside, lnk), 0);

	assert_int_equal(fs_empty_dir(top), 0);
	assert_int_equal(fs_is_dir_empty(top), 1);
	assert_file(file, "precious\n", 0600);
	/* Absent: nothing to do. */
	assert_int_equal(fs_empty_dir(sub), 0);
	free(top);
	free(sub);
	free(f);
	free(pv);
	free(lnk);
	free(outside);
	free(file);
}

static void test_remove_inside(void **state)
{
	char *top = in_tmp("ri"), *dir = in_tmp("ri/d"), *f = in_tmp("ri/d/f"), *log;

	(void)state;
	assert_int_equal(fs_mkdir_p(dir, 0700, FS_NO_UID, FS_NO_GID), 0);
	put(f, "x");
	assert_int_equal(fs_remove_inside(top, dir, true), 1); /* not empty */
	log_capture_begin();
	assert_int_equal(fs_remove_inside(top, dir, false), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "it is a folder"));
	free(log);
	assert_int_equal(fs_remove_inside(top, f, false), 0);
	assert_false(fs_exists(f));
	assert_int_equal(fs_remove_inside(top, f, false), 0); /* absent */
	assert_int_equal(fs_remove_inside(top, dir, true), 0);
	assert_false(fs_exists(dir));
	free(top);
	free(dir);
	free(f);
}

static void test_mkdirat(void **state)
{
	char *top = in_tmp("mk"), *outside = in_tmp("mk-outside"), *log;
	struct stat st;
	bool created = false;
	int dfd, fd;

	(void)state;
	assert_int_equal(fs_mkdir_p(top, 0755, FS_NO_UID, FS_NO_GID), 0);
	assert_int_equal(fs_mkdir_p(outside, 0755, FS_NO_UID, FS_NO_GID), 0);
	dfd = open(top, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	fd = fs_mkdirat(dfd, "new", "mk/new", 0700, FS_NO_UID, FS_NO_GID, false, &created);
	assert_true(fd >= 0);
	assert_true(created);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	close(fd);
	fd = fs_mkdirat(dfd, "new", "mk/new", 0700, FS_NO_UID, FS_NO_GID, false, &created);
	assert_true(fd >= 0);
	assert_false(created);
	close(fd);
	/* A symlink where the folder goes: refused, or followed only when asked. */
	assert_int_equal(symlinkat(outside, dfd, "lnk"), 0);
	log_capture_begin();
	assert_int_equal(fs_mkdirat(dfd, "lnk", "mk/lnk", 0700, 0, 0, false, &created), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "could not create folder \"mk/lnk\": a symbolic link of that name "
				    "exists"));
	free(log);
	assert_int_equal(stat(outside, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755); /* untouched */
	fd = fs_mkdirat(dfd, "lnk", "mk/lnk", 0700, FS_NO_UID, FS_NO_GID, true, &created);
	assert_true(fd >= 0);
	assert_false(created);
	close(fd);
	close(dfd);
	free(top);
	free(outside);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_sibling),
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_write_atomic_owner),
		cmocka_unit_test(test_write_atomic_replaces_symlink),
		cmocka_unit_test(test_write_atomic_error),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_mkdir_p),
		cmocka_unit_test(test_exists),
		cmocka_unit_test(test_path_join),
		cmocka_unit_test(test_path_resolve),
		cmocka_unit_test(test_path_is_inside),
		cmocka_unit_test(test_guarded_read_refuses_planted_links),
		cmocka_unit_test(test_guarded_read_follows_safe_links),
		cmocka_unit_test(test_guarded_read_owner),
		cmocka_unit_test(test_guarded_write),
		cmocka_unit_test(test_guarded_mkdir_p),
		cmocka_unit_test(test_remove_tree),
		cmocka_unit_test(test_remove_tree_planted_link),
		cmocka_unit_test(test_remove_inside),
		cmocka_unit_test(test_empty_dir),
		cmocka_unit_test(test_mkdirat),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
