/*
 * reconcile/backup/backup.c - base backups (pg_basebackup), logical backups
 * (pg_dump, pg_dumpall), their catalog entries, and the repository. Layout and
 * contracts are in backup.h. The programs run through the source node's host
 * (host_for); the repository is written with fsutil's guarded calls, not a
 * host's: it is a folder of this machine, maybe a mount shared by hosts.
 */
#include "reconcile/backup/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/fstree.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/proc.h"
#include "reconcile/engine/exec.h"
#include "reconcile/pg/layout.h"
#include "reconcile/pg/lsn.h"
#include "reconcile/transport/host.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/backup/walarchive.h"
#include "common/progress.h"

/* ---- small helpers ------------------------------------------------------ */

/* first_line - the first non-empty line of a program's output, trimmed, in a. */
static const char *first_line(PgcArena *a, const char *text)
{
	size_t n;

	while (*text == '\n' || *text == ' ')
		text++;
	n = strcspn(text, "\n");
	while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\r'))
		n--;
	if (n > 300)
		n = 300;
	return arena_strndup(a, text, n);
}

/* os_ids - owner for what pgconverge creates in the repository: os_user when root, else unchanged. */
static int os_ids(const PgcCluster *c, uid_t *uid, gid_t *gid)
{
	*uid = FS_NO_UID;
	*gid = FS_NO_GID;
	if (geteuid() != 0)
		return 0;
	return proc_user_lookup(c->os_user.v, uid, gid, NULL);
}

/* local_conninfo - libpq conninfo for a node's local socket as os_user, for programs. */
static const char *local_conninfo(PgcArena *a, const PgcCluster *c, const PgcNode *n,
				  const char *dbname)
{
	const char *s = arena_printf(a, "host=%s port=%lld user=%s application_name=pgconverge-backup",
				     pgsql_conninfo_value(a, PGC_SOCKET_DIR), n->port.v,
				     pgsql_conninfo_value(a, c->os_user.v));

	if (dbname != NULL)
		s = arena_printf(a, "%s dbname=%s", s, pgsql_conninfo_value(a, dbname));
	return s;
}

/* program - BIN_DIR/name. */
static const char *program(PgcArena *a, const PgcCluster *c, const char *name)
{
	return arena_printf(a, "%s/%s", c->bin_dir.v, name);
}

/* run - runs argv as the cluster's os_user; 0 when it ran and exited 0, else -1 (reported as what). */
static int run(PgcArena *a, const PgcCluster *c, const PgcNode *n, const char *const *argv,
	       int timeout_s, const char *what, const char **output)
{
	PgcHost *h = host_for(n->host.v, c->os_user.v);
	PgcProcSpec spec = {0};
	PgcProcResult res;
	char how[128];
	int rc = -1;

	if (output != NULL)
		*output = "";
	if (h == NULL) {
		log_error("could not %s: node \"%s\" is not on this machine", what, n->name);
		return -1;
	}
	spec.argv = argv;
	spec.timeout_ms = timeout_s * 1000;
	spec.max_output = 64 * 1024;
	if (host_run(h, &spec, &res) != 0)
		goto cleanup;
	if (output != NULL)
		*output = arena_strdup(a, res.output);
	if (res.status == 0 && !res.timed_out) {
		rc = 0;
	} else {
		log_error("could not %s: %s %s\n%s", what, argv[0], proc_status_text(&res, how, sizeof(how)),
			  res.output_len > 0 ? res.output : "(no output)");
	}
	proc_result_free(&res);
cleanup:
	host_free(h);
	return rc;
}

/* ---- removing ----------------------------------------------------------- */

/* tree_size - bytes in regular files below the folder fd (closed), ignoring what vanishes meanwhile. */
static int64_t tree_size_fd(int fd)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int64_t total = 0;

	if (d == NULL) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			total += (int64_t)st.st_size;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

			if (sub >= 0)
				total += tree_size_fd(sub);
		}
	}
	closedir(d);
	return total;
}

static int64_t path_size(const char *path)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return S_ISREG(st.st_mode) ? (int64_t)st.st_size : 0;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? 0 : tree_size_fd(fd);
}

/* fsync_file - makes a file written by a child program durable; 0, or -1 (reported). */
static int fsync_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		log_error("could not fsync \"%s\": %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (close(fd) != 0) {
		log_error("could not close \"%s\": %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* measure_path - the progress meter's count: what a child has written to the path so far. */
static int64_t measure_path(void *path)
{
	return path_size(path);
}

/* ---- the repository ----------------------------------------------------- */

/*
 * repository_init - backup_repository_init(), telling whether anything was
 * created. The folders above the repository are the administrator's (root,
 * 0755); the repository and its folders are os_user's, made with
 * fs_mkdirat() so that a symlink planted where one of them goes is refused
 * rather than given to os_user.
 */
static int repository_init(const PgcCluster *c, bool *created)
{
	static const char *const subs[] = {BACKUP_BASE_DIR, BACKUP_LOGICAL_DIR, WALARCHIVE_DIR};
	const char *repo = c->backup.repository.v, *leaf;
	char *norm = NULL, *parent = NULL, *slash;
	struct stat st;
	uid_t uid;
	gid_t gid;
	int pfd = -1, rfd = -1, rc = -1;
	bool made = false;
	size_t i;

	*created = false;
	if (repo == NULL) {
		log_error("cluster \"%s\" declares no backup.repository", c->name);
		return -1;
	}
	if (os_ids(c, &uid, &gid) != 0)
		return -1;
	norm = fs_path_normalize(repo);
	slash = strrchr(norm, '/');
	leaf = slash != NULL ? slash + 1 : norm;
	if (*leaf == '\0' || strcmp(leaf, ".") == 0 || strcmp(leaf, "..") == 0) {
		log_error("backup repository \"%s\" does not name a folder of its own", repo);
		goto cleanup;
	}
	parent = slash == NULL ? strdup(".") : slash == norm ? strdup("/") : strndup(norm, (size_t)(slash - norm));
	if (parent == NULL)
		abort();
	/*
	 * The parent may belong to os_user (a repository under its home): follow
	 * no link planted on the way, nor one in place of the repository itself
	 * unless the parent is safe (an administrator's link).
	 */
	if (fs_mkdir_p_guarded(parent, 0755, FS_NO_UID, FS_NO_GID) != 0)
		goto cleanup;
	pfd = fs_open_guarded(parent, O_RDONLY | O_DIRECTORY, 0, false);
	if (pfd < 0)
		goto cleanup;
	rfd = fs_mkdirat(pfd, leaf, repo, 0700, uid, gid, fs_dir_is_safe(pfd), &made);
	if (rfd < 0)
		goto cleanup;
	*created = made;
	/* An existing folder is left as it is, but wal-push runs as os_user and must write there. */
	if (!made && uid != FS_NO_UID && fstat(rfd, &st) == 0 && st.st_uid != uid)
		log_warn("backup repository \"%s\" does not belong to os_user \"%s\"\n"
			 "hint: the servers' archive_command runs as that user and must be able to write "
			 "there: chown -R %s \"%s\"",
			 repo, c->os_user.v, c->os_user.v, repo);
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char *shown = fs_path_join(repo, subs[i]);
		int fd = fs_mkdirat(rfd, subs[i], shown, 0700, uid, gid, false, &made);

		free(shown);
		if (fd < 0)
			goto cleanup;
		close(fd);
		*created |= made;
	}
	rc = 0;
cleanup:
	if (rfd >= 0)
		close(rfd);
	if (pfd >= 0)
		close(pfd);
	free(parent);
	free(norm);
	return rc;
}

int backup_repository_init(const PgcCluster *c)
{
	bool created;

	return repository_init(c, &created);
}

int backup_repository_create(PgcExecCtx *ctx)
{
	const PgcCluster *c = ctx->c;
	bool created = false;

	if (!c->backup.set || c->backup.repository.v == NULL)
		return exec_fail(ctx, "cluster \"%s\" declares no backup.repository", c->name);
	if (repository_init(c, &created) != 0)
		return exec_note(ctx, "could not create backup repository \"%s\"",
				  c->backup.repository.v);
	ctx->nothing_to_do = !created;
	return 0;
}

/* ---- base backups ------------------------------------------------------- */

/* Facts about the source, read over SQL before the copy. */
typedef struct {
	const char *system_identifier;
	int server_version_num;
	int64_t wal_segment_size;
	int64_t total_size;       /* sum of pg_database_size: the copy's approximate size; 0 unknown */
} SourceFacts;

/* Summing the databases' sizes walks every file: on a large cluster it takes a while. */
#define SIZE_QUERY_TIMEOUT_MS 60000

static int source_facts(PgcArena *a, const PgcCluster *c, const PgcNode *n, SourceFacts *f)
{
	static const char *const sql =
		"SELECT (SELECT system_identifier::text FROM pg_catalog.pg_control_system()),"
		" current_setting('server_version_num'),"
		" (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_segment_size')";
	char err[512];
	PGconn *conn;
	PGresult *r = NULL;
	PgcPgError e;

	memset(f, 0, sizeof(*f));
	conn = pgsql_connect(pgsql_conninfo_local(a, (int)n->port.v, c->os_user.v, NULL), 0, err,
			     sizeof(err));
	if (conn == NULL) {
		log_error("could not connect to node \"%s\" of cluster \"%s\": %s", n->name, c->name, err);
		return -1;
	}
	if (pgsql_query(conn, sql, 0, NULL, 0, &r, &e) != 0) {
		log_error("could not read the backup source's facts on node \"%s\": %s (SQLSTATE %s)",
			  n->name, e.message, e.sqlstate);
		PQfinish(conn);
		return -1;
	}
	f->system_identifier = arena_strdup(a, PQgetvalue(r, 0, 0));
	f->server_version_num = atoi(PQgetvalue(r, 0, 1));
	f->wal_segment_size = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	PQclear(r);
	r = NULL;
	/* Only the progress meter's estimate: without it, no ETA, still a backup. */
	if (pgsql_query(conn,
			"SELECT sum(pg_catalog.pg_database_size(oid))::bigint FROM pg_catalog.pg_database",
			0, NULL, SIZE_QUERY_TIMEOUT_MS, &r, &e) == 0)
		f->total_size = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
		log_debug("size of node \"%s\" unknown, no ETA: %s (SQLSTATE %s)", n->name, e.message,
			  e.sqlstate);
	PQclear(r);
	PQfinish(conn);
	return 0;
}

/* new_id - a fresh id whose folders (ID and ID.partial) do not exist under dir. */
static const char *new_id(PgcArena *a, const char *dir)
{
	int tries;

	for (tries = 0; tries < 3; tries++) {
		char id[17];
		const char *p, *partial;

		clock_utc_now(CLOCK_UTC_BASIC, id, sizeof id);
		p = arena_printf(a, "%s/%s", dir, id);
		partial = arena_printf(a, "%s.partial", p);
		if (!fs_exists(p) && !fs_exists(partial))
			return arena_strdup(a, id);
		sleep(1);
	}
	log_error("could not choose a backup id: \"%s\" already holds backups for the last seconds", dir);
	return NULL;
}

/*
 * read_label - START WAL LOCATION's file name and START TIMELINE from a
 * backup_label, which must belong to owner (os_user; FS_NO_UID: anyone). 0,
 * or -1 when missing or refused (reported).
 */
static int read_label(PgcArena *a, const char *dir, uid_t owner, PgcBaseBackupInfo *b)
{
	char *path = fs_path_join(dir, "backup_label"), *buf = NULL, *line;
	char file[64];
	unsigned tli;
	size_t len;
	int rc = fs_read_file_guarded(path, &buf, &len, 1 << 20, owner);

	if (rc != 0) {
		if (rc > 0)
			log_error("backup \"%s\" has no backup_label", dir);
		free(path);
		return -1;
	}
	for (line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		if (sscanf(line, "START WAL LOCATION: %*s (file %63[0-9A-F])", file) == 1)
			b->start_wal = arena_strdup(a, file);
		else if (sscanf(line, "START TIMELINE: %u", &tli) == 1 && b->timeline == 0)
			b->timeline = tli;
	}
	free(buf);
	free(path);
	return 0;
}

/*
 * read_manifest - the WAL range from backup_manifest: start LSN and
 * timeline of the first range, stop LSN of the last; the file must belong to
 * owner as in read_label. 0, or -1 (reported).
 */
static int read_manifest(PgcArena *a, const char *dir, uid_t owner, PgcBaseBackupInfo *b)
{
	char *path = fs_path_join(dir, "backup_manifest"), *text = NULL;
	json_error_t jerr = {.text = "missing or refused"};
	json_t *root = NULL, *ranges, *first, *last;
	size_t len;
	int rc = -1;

	/* In the repository, which os_user owns: follow no link planted there. */
	if (fs_read_file_guarded(path, &text, &len, 1u << 30, owner) == 0)
		root = json_loadb(text, len, 0, &jerr);
	free(text);

	if (root == NULL) {
		log_error("could not read backup manifest \"%s\": %s", path, jerr.text);
		goto cleanup;
	}
	ranges = json_object_get(root, "WAL-Ranges");
	if (!json_is_array(ranges) || json_array_size(ranges) == 0) {
		log_error("backup manifest \"%s\" has no WAL-Ranges", path);
		goto cleanup;
	}
	first = json_array_get(ranges, 0);
	last = json_array_get(ranges, json_array_size(ranges) - 1);
	b->timeline = (unsigned)json_integer_value(json_object_get(first, "Timeline"));
	b->start_lsn = arena_strdup(a, json_string_value(json_object_get(first, "Start-LSN")));
	b->stop_lsn = arena_strdup(a, json_string_value(json_object_get(last, "End-LSN")));
	if (b->timeline == 0 || lsn_parse(b->start_lsn, &b->start_lsn_v) != 0 ||
	    lsn_parse(b->stop_lsn, &b->stop_lsn_v) != 0) {
		log_error("backup manifest \"%s\" has a malformed WAL range", path);
		goto cleanup;
	}
	rc = 0;
cleanup:
	json_decref(root);
	free(path);
	return rc;
}

static void record_check(PgcArena *a, PgcBackupCheck *chk, bool ok, const char *output)
{
	char iso[21];

	clock_utc_now(CLOCK_UTC_ISO, iso, sizeof iso);
	chk->known = true;
	chk->ok = ok;
	chk->at = arena_strdup(a, iso);
	chk->message = first_line(a, output != NULL ? output : "");
}

int backup_take_base(PgcArena *a, const PgcCluster *c, const PgcBackupSource *source,
		     const PgcBackupOptions *opts, PgcBaseBackupInfo *out)
{
	const char *repo = c->backup.repository.v;
	const char *base_dir = arena_printf(a, "%s/%s", repo, BACKUP_BASE_DIR);
	int timeout_s = opts->timeout_s > 0 ? opts->timeout_s : BACKUP_DEFAULT_TIMEOUT_S;
	const PgcNode *n = source->node;
	PgcBaseBackupInfo b = {0};
	SourceFacts facts;
	PgcProgress progress = {.measure = measure_path, .estimate = true};
	const char *id, *partial, *final, *output = NULL;
	char iso[21], size_text[32];
	double t0;
	uid_t uid;
	gid_t gid;
	int rc;

	if (os_ids(c, &uid, &gid) != 0 || source_facts(a, c, n, &facts) != 0)
		return -1;
	id = new_id(a, base_dir);
	if (id == NULL)
		return -1;
	partial = arena_printf(a, "%s/%s.partial", base_dir, id);
	final = arena_printf(a, "%s/%s", base_dir, id);
	b.id = id;
	b.path = arena_printf(a, "%s/%s", BACKUP_BASE_DIR, id);
	b.cluster = c->name;
	b.source_node = n->name;
	b.source_role = source->replica ? "replica" : "primary";
	b.wal_included = true;
	b.wal_segment_size = facts.wal_segment_size;
	b.system_identifier = facts.system_identifier;
	b.server_version_num = facts.server_version_num;
	clock_utc_now(CLOCK_UTC_ISO, iso, sizeof iso);
	b.started_at = arena_strdup(a, iso);

	log_info("taking base backup %s of cluster \"%s\" from node \"%s\" (%s)", id, c->name, n->name,
		 b.source_role);
	{
		/* -X stream: the backup carries the WAL it needs and restores on its own. */
		const char *argv[] = {program(a, c, "pg_basebackup"),
				      "-d", local_conninfo(a, c, n, NULL),
				      "-D", partial,
				      "-F", "p",
				      "-X", "stream",
				      "-c", "fast",
				      "-l", arena_printf(a, "pgconverge %s %s", c->name, id),
				      "--no-password",
				      NULL};

		t0 = (clock_ms() / 1000.0);
		progress.arg = (void *)partial;
		progress_start(&progress, opts->progress, "base backup", facts.total_size);
		rc = run(a, c, n, argv, timeout_s, "take a base backup", NULL);
		progress_stop(&progress);
	}
	if (rc != 0) {
		/* Our own incomplete copy: nothing else can use it. */
		fs_remove_tree(repo, partial);
		return -1;
	}
	if (read_manifest(a, partial, uid, &b) != 0 || read_label(a, partial, uid, &b) != 0) {
		fs_remove_tree(repo, partial);
		return -1;
	}
	if (rename(partial, final) != 0) {
		log_error("could not rename \"%s\" to \"%s\": %s", partial, final, strerror(errno));
		fs_remove_tree(repo, partial);
		return -1;
	}
	if (fs_fsync_dir(base_dir) != 0)
		return -1;
	clock_utc_now(CLOCK_UTC_ISO, iso, sizeof iso);
	b.finished_at = arena_strdup(a, iso);
	b.size_bytes = path_size(final);

	{
		const char *argv[] = {program(a, c, "pg_verifybackup"), final, NULL};

		rc = run(a, c, n, argv, timeout_s, "verify the base backup", &output);
		record_check(a, &b.verify, rc == 0, output);
	}
	{
		json_t *entry = backup_catalog_base_to_json(&b);

		rc = backup_catalog_update(repo, uid, gid, backup_catalog_add_base, entry);
		json_decref(entry);
		if (rc != 0)
			return -1;
	}
	if (out != NULL)
		*out = b;
	if (!b.verify.ok) {
		log_error("base backup %s failed verification and is kept for inspection in \"%s\"", id,
			  final);
		return -1;
	}
	log_debug("base backup %s complete: %s in %.1f s, WAL %s to %s on timeline %u, verified", id,
		 progress_format_bytes(b.size_bytes, size_text, sizeof(size_text)), (clock_ms() / 1000.0) - t0,
		 b.start_lsn, b.stop_lsn, b.timeline);
	return 0;
}

/* ---- logical backups ---------------------------------------------------- */

/* dump_file_name - a file name for database db: unsafe characters become '_'. */
static const char *dump_file_name(PgcArena *a, const char *db, const char *const *taken, size_t n)
{
	char *s = arena_strdup(a, db);
	const char *name;
	size_t i, k = 1;

	for (char *p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '-' || (*p == '.' && p != s)))
			*p = '_';
	name = arena_printf(a, "%s.dump", s);
	/* Two names that differ only in unsafe characters: number them. */
	for (i = 0; i < n; i++) {
		if (strcmp(taken[i], name) == 0) {
			name = arena_printf(a, "%s-%zu.dump", s, ++k);
			i = (size_t)-1;
		}
	}
	return name;
}

/*
 * dump_one - runs a dump program writing to dir/file.partial, makes the
 * result durable under dir/file, checks it, and fills l. 0, or -1 (reported).
 */
static int dump_one(PgcArena *a, const PgcCluster *c, const PgcNode *n, const PgcBackupOptions *opts,
		    const char *dir, const char *file, const char **argv, const char *what,
		    PgcLogicalBackupInfo *l)
{
	int timeout_s = opts->timeout_s > 0 ? opts->timeout_s : BACKUP_DEFAULT_TIMEOUT_S;
	const char *path = arena_printf(a, "%s/%s", dir, file);
	const char *partial = arena_printf(a, "%s.partial", path);
	const char *output = NULL;
	PgcProgress progress = {.measure = measure_path, .estimate = true};
	char iso[21];
	int rc;

	clock_utc_now(CLOCK_UTC_ISO, iso, sizeof iso);
	l->started_at = arena_strdup(a, iso);
	for (size_t i = 0; argv[i] != NULL; i++)
		if (strcmp(argv[i], "@OUT@") == 0)
			argv[i] = partial;
	progress.arg = (void *)partial;
	progress_start(&progress, opts->progress, what, 0);
	rc = run(a, c, n, argv, timeout_s, what, NULL);
	progress_stop(&progress);
	/* Each step reports its own failure. */
	if (rc == 0 && fsync_file(partial) != 0)
		rc = -1;
	if (rc == 0 && rename(partial, path) != 0) {
		log_error("could not rename \"%s\" to \"%s\": %s", partial, path, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && fs_fsync_dir(dir) != 0)
		rc = -1;
	if (rc != 0) {
		unlink(partial);
		return -1;
	}
	clock_utc_now(CLOCK_UTC_ISO, iso, sizeof iso);
	l->finished_at = arena_strdup(a, iso);
	l->size_bytes = path_size(path);

	if (strcmp(l->kind, "dump") == 0) {
		const char *check[] = {program(a, c, "pg_restore"), "--list", path, NULL};

		rc = run(a, c, n, check, timeout_s, "read the dump's table of contents", &output);
		record_check(a, &l->verify, rc == 0,
			     rc == 0 ? arena_printf(a, "pg_restore --list read the archive") : output);
	} else {
		char *text = NULL;
		size_t len;
		uid_t uid;
		gid_t gid;

		/* Plain SQL: check it is a complete pg_dumpall output (os_user's file). */
		rc = os_ids(c, &uid, &gid);
		if (rc == 0)
			rc = fs_read_file_guarded(path, &text, &len, 256u << 20, uid);
		rc = rc == 0 && strstr(text, "PostgreSQL database cluster dump complete") != NULL ? 0 : -1;
		record_check(a, &l->verify, rc == 0,
			     rc == 0 ? "complete pg_dumpall output" : "incomplete pg_dumpall output");
		free(text);
		if (rc != 0)
			log_error("globals dump \"%s\" is incomplete", path);
	}
	return rc;
}

int backup_take_logical(PgcArena *a, const PgcCluster *c, const PgcBackupSource *source,
			const PgcBackupOptions *opts, PgcLogicalBackupInfo **out, size_t *n_out)
{
	const char *repo = c->backup.repository.v;
	const char *logical_dir = arena_printf(a, "%s/%s", repo, BACKUP_LOGICAL_DIR);
	const PgcStrList *dbs = &c->backup.logical.databases;
	const PgcNode *n = source->node;
	PgcLogicalBackupInfo *done = arena_calloc(a, dbs->n + 1, sizeof(*done));
	const char **taken = arena_calloc(a, dbs->n + 1, sizeof(char *));
	const char *id, *dir;
	size_t n_done = 0, i;
	char size_text[32];
	int failed = 0;
	uid_t uid;
	gid_t gid;

	if (out != NULL) {
		*out = done;
		*n_out = 0;
	}
	if (os_ids(c, &uid, &gid) != 0)
		return -1;
	id = new_id(a, logical_dir);
	if (id == NULL)
		return -1;
	dir = arena_printf(a, "%s/%s", logical_dir, id);
	if (fs_mkdir_p(dir, 0700, uid, gid) != 0)
		return -1;
	log_info("taking logical backup %s of cluster \"%s\" from node \"%s\"", id, c->name, n->name);

	for (i = 0; i <= dbs->n; i++) {
		PgcLogicalBackupInfo *l = &done[n_done];
		const char *file;
		const char **argv = arena_calloc(a, 10, sizeof(char *));

		memset(l, 0, sizeof(*l)); /* the slot of a dump that failed is reused */
		l->id = id;
		l->cluster = c->name;
		l->source_node = n->name;
		if (i < dbs->n) {
			l->kind = "dump";
			l->database = dbs->items[i].v;
			file = dump_file_name(a, l->database, taken, i);
			taken[i] = file;
			argv[0] = program(a, c, "pg_dump");
			argv[1] = "-F";
			argv[2] = "c";
			argv[3] = "-f";
			argv[4] = "@OUT@";
			argv[5] = "-d";
			argv[6] = local_conninfo(a, c, n, l->database);
			argv[7] = "--no-password";
		} else {
			/* Roles and tablespaces: what pg_restore of a database needs first. */
			l->kind = "globals";
			file = "globals.sql";
			argv[0] = program(a, c, "pg_dumpall");
			argv[1] = "--globals-only";
			argv[2] = "-f";
			argv[3] = "@OUT@";
			argv[4] = "-d";
			argv[5] = local_conninfo(a, c, n, NULL);
			argv[6] = "--no-password";
		}
		l->path = arena_printf(a, "%s/%s/%s", BACKUP_LOGICAL_DIR, id, file);
		if (dump_one(a, c, n, opts, dir, file, argv,
			     l->database ? arena_printf(a, "dump database \"%s\"", l->database)
					 : "dump the globals",
			     l) != 0) {
			failed++;
			if (!l->verify.known)
				continue; /* nothing was kept */
		}
		{
			json_t *entry = backup_catalog_logical_to_json(l);
			int urc = backup_catalog_update(repo, uid, gid, backup_catalog_add_logical, entry);

			json_decref(entry);
			if (urc != 0) {
				failed++;
				continue;
			}
		}
		log_debug("%s %s: %s%s", l->database ? "dumped database" : "dumped globals",
			 l->database ? l->database : "", progress_format_bytes(l->size_bytes, size_text,
									sizeof(size_text)),
			 l->verify.ok ? "" : " (check failed)");
		n_done++;
	}
	if (out != NULL)
		*n_out = n_done;
	if (n_done == 0)
		rmdir(dir);
	return failed ? -1 : 0;
}
