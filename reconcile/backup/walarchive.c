/*
 * reconcile/backup/walarchive.c - the WAL archive's layout: names, paths,
 * the repository's owner, finding an archived file and the listing (the
 * compression names and the archive/restore commands are in
 * reconcile/pg/walarchive_cmd.c). Layout and contracts are in
 * walarchive.h; push, fetch and compression are in walarchive_push.c,
 * walarchive_fetch.c and walarchive_compress.c (pg_stat_archiver in
 * walarchive_status.c). Needs libc only: the lean pgconverge executable
 * links it (cmd/front.c).
 * No host here: wal-push/wal-fetch run on the node itself (its
 * archive_command), and the repository is no node's folder.
 */
#include "reconcile/backup/walarchive.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/strutil.h"

/* ---- names -------------------------------------------------------------- */

static bool is_hex_upper(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

static uint32_t hex8(const char *s)
{
	char buf[9];

	memcpy(buf, s, 8);
	buf[8] = '\0';
	return (uint32_t)strtoul(buf, NULL, 16);
}

int walarchive_parse_name(const char *name, PgcWalName *out)
{
	size_t len = name != NULL ? strlen(name) : 0;
	PgcWalName n = {0};

	if (len == 16 && is_hex_upper(name, 8) && strcmp(name + 8, ".history") == 0) {
		n.kind = WAL_FILE_HISTORY;
	} else if (len >= 24 && is_hex_upper(name, 24)) {
		if (len == 24)
			n.kind = WAL_FILE_SEGMENT;
		else if (strcmp(name + 24, ".partial") == 0)
			n.kind = WAL_FILE_PARTIAL;
		else if (len == 40 && name[24] == '.' && is_hex_upper(name + 25, 8) &&
			 strcmp(name + 33, ".backup") == 0)
			n.kind = WAL_FILE_BACKUP;
		else
			return -1;
		n.log = hex8(name + 8);
		n.seg = hex8(name + 16);
	} else {
		return -1;
	}
	n.timeline = hex8(name);
	if (n.timeline == 0)
		return -1;
	if (out != NULL)
		*out = n;
	return 0;
}

uint64_t walarchive_segno(const PgcWalName *n, uint64_t segsize)
{
	uint64_t per_log = segsize > 0 ? UINT64_C(0x100000000) / segsize : 0;

	return (uint64_t)n->log * per_log + n->seg;
}

const char *walarchive_dir(PgcArena *a, const char *repository, const char *name)
{
	PgcWalName n;

	if (walarchive_parse_name(name, &n) != 0)
		return NULL;
	if (n.kind == WAL_FILE_HISTORY)
		return arena_printf(a, "%s/%s/%s", repository, WALARCHIVE_DIR, WALARCHIVE_HISTORY_DIR);
	return arena_printf(a, "%s/%s/%.8s", repository, WALARCHIVE_DIR, name);
}

const char *walarchive_path(PgcArena *a, const char *repository, const char *name,
			    PgcCompression c)
{
	const char *dir = walarchive_dir(a, repository, name);

	if (dir == NULL)
		return NULL;
	return arena_printf(a, "%s/%s%s", dir, name, walarchive_compression_suffix(c));
}

const char *walarchive_checksum_path(PgcArena *a, const char *repository, const char *name)
{
	const char *dir = walarchive_dir(a, repository, name);

	if (dir == NULL)
		return NULL;
	return arena_printf(a, "%s/%s%s", dir, name, WALARCHIVE_CHECKSUM_SUFFIX);
}

/* ---- the repository ----------------------------------------------------- */

int walarchive_owner(const char *repository, uid_t *uid, gid_t *gid)
{
	struct stat st;

	*uid = FS_NO_UID;
	*gid = FS_NO_GID;
	if (stat(repository, &st) != 0) {
		int saved = errno;

		log_error("backup repository \"%s\" is not accessible: %s\n"
			  "hint: %s",
			  repository, strerror(saved),
			  saved == ENOENT ? "create it, owned by the servers' os_user (pgconverge backup "
					    "does), and mount it first when it is a mount point"
					  : "the servers' os_user must be able to read and write it");
		errno = saved;
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("backup repository \"%s\" is not a folder", repository);
		errno = ENOTDIR;
		return -1;
	}
	if (geteuid() == 0) {
		*uid = st.st_uid;
		*gid = st.st_gid;
	}
	return 0;
}

const char *walarchive_find(PgcArena *a, const char *repository, const char *name,
			    PgcCompression *c)
{
	struct stat st;
	size_t i;

	for (i = 0; i < WALARCHIVE_N_COMPRESSIONS; i++) {
		const char *path = walarchive_path(a, repository, name, walarchive_compressions[i]);

		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			*c = walarchive_compressions[i];
			return path;
		}
	}
	return NULL;
}

/* ---- listing ------------------------------------------------------------ */

typedef struct {
	PgcWalEntry *items;
	size_t n, cap;
} EntryList;

static void list_add(PgcArena *a, EntryList *l, const PgcWalEntry *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		PgcWalEntry *items = arena_calloc(a, cap, sizeof(*items));

		if (l->n)
			memcpy(items, l->items, l->n * sizeof(*items));
		l->items = items;
		l->cap = cap;
	}
	l->items[l->n++] = *e;
}

/* strip_suffix - name without a compression suffix, with that compression. */
static char *strip_suffix(PgcArena *a, const char *file)
{
	size_t i;

	for (i = 1; i < WALARCHIVE_N_COMPRESSIONS; i++) {
		const char *suffix = walarchive_compression_suffix(walarchive_compressions[i]);

		if (str_has_suffix(file, suffix))
			return arena_strndup(a, file, strlen(file) - strlen(suffix));
	}
	return arena_strdup(a, file);
}

/* list_dir - adds the archived files of one timeline (or history) folder. */
static int list_dir(PgcArena *a, const char *dir, const char *folder, EntryList *l)
{
	bool history = strcmp(folder, WALARCHIVE_HISTORY_DIR) == 0;
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL) {
		log_error("could not open folder \"%s\": %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		PgcWalEntry e = {0};
		struct stat st;

		if (de->d_name[0] == '.' || str_has_suffix(de->d_name, WALARCHIVE_CHECKSUM_SUFFIX))
			continue;
		e.name = strip_suffix(a, de->d_name);
		if (walarchive_parse_name(e.name, &e.parsed) != 0)
			continue;
		/* A file in the wrong folder is not ours to manage. */
		if (history != (e.parsed.kind == WAL_FILE_HISTORY) ||
		    (!history && strncmp(e.name, folder, 8) != 0))
			continue;
		e.path = arena_printf(a, "%s/%s", dir, de->d_name);
		if (lstat(e.path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		e.size = (int64_t)st.st_size;
		e.mtime = (int64_t)st.st_mtime;
		e.checksum_path = arena_printf(a, "%s/%s%s", dir, e.name, WALARCHIVE_CHECKSUM_SUFFIX);
		list_add(a, l, &e);
	}
	closedir(d);
	return 0;
}

static int entry_cmp(const void *x, const void *y)
{
	const PgcWalEntry *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	return c != 0 ? c : strcmp(a->path, b->path);
}

int walarchive_list(PgcArena *a, const char *repository, PgcWalEntry **entries, size_t *n)
{
	const char *root = arena_printf(a, "%s/%s", repository, WALARCHIVE_DIR);
	EntryList l = {0};
	DIR *d;
	struct dirent *de;
	int rc = 0;

	*entries = NULL;
	*n = 0;
	d = opendir(root);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		log_error("could not open folder \"%s\": %s", root, strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		const char *sub = de->d_name;
		struct stat st;
		const char *path;

		if (!(strcmp(sub, WALARCHIVE_HISTORY_DIR) == 0 ||
		      (strlen(sub) == 8 && is_hex_upper(sub, 8))))
			continue;
		path = arena_printf(a, "%s/%s", root, sub);
		if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		rc = list_dir(a, path, sub, &l);
	}
	closedir(d);
	if (rc != 0)
		return -1;
	if (l.n > 1)
		qsort(l.items, l.n, sizeof(*l.items), entry_cmp);
	*entries = l.items;
	*n = l.n;
	return 0;
}
