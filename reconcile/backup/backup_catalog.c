/*
 * reconcile/backup/backup_catalog.c - REPO/catalog.json: reading it into structs,
 * and the locked read-edit-write cycle every writer goes through.
 */
#include "reconcile/backup/backup_catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reconcile/pg/lsn.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "reconcile/backup/walarchive.h"

/* The catalog stays small (one entry per backup); the bound only stops a runaway read. */
#define CATALOG_MAX_BYTES (64u << 20)

/* ---- reading ------------------------------------------------------------ */

static const char *jstr(PgcArena *a, const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? arena_strdup(a, json_string_value(v)) : NULL;
}

static int64_t jint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static bool jbool(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

static void check_from_json(PgcArena *a, const json_t *o, PgcBackupCheck *c)
{
	const json_t *v = json_object_get(o, "verify");

	memset(c, 0, sizeof(*c));
	if (!json_is_object(v))
		return;
	c->known = true;
	c->ok = jbool(v, "ok");
	c->at = jstr(a, v, "at");
	c->message = jstr(a, v, "message");
}

static json_t *check_to_json(const PgcBackupCheck *c)
{
	if (!c->known)
		return json_null();
	return json_pack("{s:b, s:s?, s:s?}", "ok", c->ok, "at", c->at, "message", c->message);
}

/* component_ok - one file or folder name of the layout: [A-Za-z0-9._-], not hidden, no "/". */
static bool component_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 255 || s[0] == '.')
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

bool backup_catalog_path_ok(const char *path, bool logical)
{
	const char *top = logical ? BACKUP_LOGICAL_DIR "/" : BACKUP_BASE_DIR "/";
	const char *p, *slash;

	if (path == NULL || strncmp(path, top, strlen(top)) != 0)
		return false;
	p = path + strlen(top);
	slash = strchr(p, '/');
	if (!logical)
		return slash == NULL && component_ok(p, strlen(p));
	return slash != NULL && component_ok(p, (size_t)(slash - p)) &&
	       strchr(slash + 1, '/') == NULL && component_ok(slash + 1, strlen(slash + 1));
}

static int base_from_json(PgcArena *a, const json_t *o, PgcBaseBackupInfo *b)
{
	memset(b, 0, sizeof(*b));
	b->id = jstr(a, o, "id");
	b->path = jstr(a, o, "path");
	if (b->id == NULL || b->path == NULL)
		return -1;
	b->cluster = jstr(a, o, "cluster");
	b->source_node = jstr(a, o, "source_node");
	b->source_role = jstr(a, o, "source_role");
	b->started_at = jstr(a, o, "started_at");
	b->finished_at = jstr(a, o, "finished_at");
	b->timeline = (unsigned)jint(o, "timeline");
	b->start_lsn = jstr(a, o, "start_lsn");
	b->stop_lsn = jstr(a, o, "stop_lsn");
	if (b->start_lsn != NULL && lsn_parse(b->start_lsn, &b->start_lsn_v) != 0)
		b->start_lsn_v = 0;
	if (b->stop_lsn != NULL && lsn_parse(b->stop_lsn, &b->stop_lsn_v) != 0)
		b->stop_lsn_v = 0;
	b->start_wal = jstr(a, o, "start_wal");
	b->wal_included = jbool(o, "wal_included");
	b->wal_segment_size = jint(o, "wal_segment_size");
	b->size_bytes = jint(o, "size_bytes");
	b->system_identifier = jstr(a, o, "system_identifier");
	b->server_version_num = (int)jint(o, "server_version_num");
	check_from_json(a, o, &b->verify);
	b->deleting = jbool(o, "deleting");
	return 0;
}

static int logical_from_json(PgcArena *a, const json_t *o, PgcLogicalBackupInfo *l)
{
	memset(l, 0, sizeof(*l));
	l->id = jstr(a, o, "id");
	l->kind = jstr(a, o, "kind");
	l->path = jstr(a, o, "path");
	if (l->id == NULL || l->kind == NULL || l->path == NULL)
		return -1;
	l->database = jstr(a, o, "database");
	l->cluster = jstr(a, o, "cluster");
	l->source_node = jstr(a, o, "source_node");
	l->started_at = jstr(a, o, "started_at");
	l->finished_at = jstr(a, o, "finished_at");
	l->size_bytes = jint(o, "size_bytes");
	check_from_json(a, o, &l->verify);
	l->deleting = jbool(o, "deleting");
	return 0;
}

static int base_cmp(const void *x, const void *y)
{
	const PgcBaseBackupInfo *a = x, *b = y;

	return strcmp(a->id, b->id);
}

static int logical_cmp(const void *x, const void *y)
{
	const PgcLogicalBackupInfo *a = x, *b = y;
	int c = strcmp(a->id, b->id);

	return c != 0 ? c : strcmp(a->path, b->path);
}

PgcBackupCatalog *backup_catalog_from_json(const json_t *root, char *err, size_t errlen)
{
	PgcBackupCatalog *cat;
	const json_t *base, *logical, *v;
	size_t i;

	if (!json_is_object(root)) {
		snprintf(err, errlen, "not a JSON object");
		return NULL;
	}
	v = json_object_get(root, "format_version");
	if (!json_is_integer(v) || json_integer_value(v) != BACKUP_CATALOG_FORMAT) {
		snprintf(err, errlen, "unknown format_version (this pgconverge reads version %d)",
			 BACKUP_CATALOG_FORMAT);
		return NULL;
	}
	base = json_object_get(root, "base");
	logical = json_object_get(root, "logical");
	if ((base != NULL && !json_is_array(base)) || (logical != NULL && !json_is_array(logical))) {
		snprintf(err, errlen, "\"base\" and \"logical\" must be arrays");
		return NULL;
	}
	cat = calloc(1, sizeof(*cat));
	if (cat == NULL)
		abort();
	cat->arena = arena_new();
	cat->base = arena_calloc(cat->arena, json_array_size(base) + 1, sizeof(*cat->base));
	cat->logical = arena_calloc(cat->arena, json_array_size(logical) + 1, sizeof(*cat->logical));
	for (i = 0; i < json_array_size(base); i++) {
		PgcBaseBackupInfo *b = &cat->base[cat->n_base];

		if (base_from_json(cat->arena, json_array_get(base, i), b) != 0) {
			snprintf(err, errlen, "base entry %zu has no id or path", i + 1);
			backup_catalog_free(cat);
			return NULL;
		}
		/* Retention removes what an entry names: nothing outside the layout. */
		if (!backup_catalog_path_ok(b->path, false)) {
			snprintf(err, errlen, "base entry %zu (id \"%s\") has path \"%s\", which is not "
				 "%s/NAME", i + 1, b->id, b->path, BACKUP_BASE_DIR);
			backup_catalog_free(cat);
			return NULL;
		}
		cat->n_base++;
	}
	for (i = 0; i < json_array_size(logical); i++) {
		PgcLogicalBackupInfo *l = &cat->logical[cat->n_logical];

		if (logical_from_json(cat->arena, json_array_get(logical, i), l) != 0) {
			snprintf(err, errlen, "logical entry %zu has no id, kind or path", i + 1);
			backup_catalog_free(cat);
			return NULL;
		}
		if (!backup_catalog_path_ok(l->path, true)) {
			snprintf(err, errlen, "logical entry %zu (id \"%s\") has path \"%s\", which is not "
				 "%s/ID/FILE", i + 1, l->id, l->path, BACKUP_LOGICAL_DIR);
			backup_catalog_free(cat);
			return NULL;
		}
		cat->n_logical++;
	}
	qsort(cat->base, cat->n_base, sizeof(*cat->base), base_cmp);
	qsort(cat->logical, cat->n_logical, sizeof(*cat->logical), logical_cmp);
	return cat;
}

/*
 * repository_owner - the owner of the repository folder (os_user's uid
 * when pgconverge made it), opened as fs_open_guarded() does, for the owner
 * rule of what is read there. FS_NO_UID when the folder belongs to root or
 * this process's user (its files may be os_user's or root's; os_user is not
 * known here), or cannot be opened (the read that follows reports why).
 */
static uid_t repository_owner(const char *repository)
{
	struct stat st;
	uid_t owner = FS_NO_UID;
	int fd = fs_open_guarded(repository, O_RDONLY | O_DIRECTORY, 0, true);

	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && st.st_uid != 0 && st.st_uid != geteuid())
			owner = st.st_uid;
		close(fd);
	}
	return owner;
}

/*
 * read_document - the catalog's JSON at path in repository; a new empty
 * catalog when absent. The file must belong to the repository's owner (or
 * root) and be no hard link to another's file. NULL on error (reported).
 */
static json_t *read_document(const char *repository, const char *path)
{
	json_error_t jerr;
	json_t *root;
	char *buf = NULL;
	size_t len;
	/* The repository belongs to os_user: follow no link planted there. */
	int rc = fs_read_file_guarded(path, &buf, &len, CATALOG_MAX_BYTES,
				      repository_owner(repository));

	if (rc < 0)
		return NULL;
	if (rc > 0)
		return json_pack("{s:i, s:[], s:[]}", "format_version", BACKUP_CATALOG_FORMAT, "base",
				 "logical");
	root = json_loadb(buf, len, 0, &jerr);
	free(buf);
	if (root == NULL) {
		log_error("backup catalog \"%s\" is not valid JSON: line %d: %s\n"
			  "hint: restore it from a copy; pgconverge never rewrites a catalog it cannot read",
			  path, jerr.line, jerr.text);
		return NULL;
	}
	return root;
}

json_t *backup_catalog_json(const char *repository)
{
	char *path = fs_path_join(repository, BACKUP_CATALOG_FILE), *buf = NULL;
	json_t *root = NULL;
	size_t len;

	if (fs_read_file_guarded(path, &buf, &len, CATALOG_MAX_BYTES,
				 repository_owner(repository)) == 0)
		root = json_loadb(buf, len, 0, NULL);
	free(buf);
	free(path);
	return root;
}

PgcBackupCatalog *backup_catalog_load(const char *repository)
{
	char *path = fs_path_join(repository, BACKUP_CATALOG_FILE);
	PgcBackupCatalog *cat = NULL;
	json_t *root = read_document(repository, path);
	char err[1024];

	if (root != NULL) {
		cat = backup_catalog_from_json(root, err, sizeof(err));
		if (cat == NULL)
			log_error("backup catalog \"%s\" cannot be used: %s", path, err);
		json_decref(root);
	}
	free(path);
	return cat;
}

void backup_catalog_free(PgcBackupCatalog *cat)
{
	if (cat == NULL)
		return;
	arena_free(cat->arena);
	free(cat);
}

/* ---- writing ------------------------------------------------------------ */

json_t *backup_catalog_base_to_json(const PgcBaseBackupInfo *b)
{
	json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:s?, s:s?, s:s?, s:b,"
			      " s:I, s:I, s:s?, s:i}",
			      "id", b->id, "path", b->path, "cluster", b->cluster, "source_node",
			      b->source_node, "source_role", b->source_role, "started_at", b->started_at,
			      "finished_at", b->finished_at, "timeline", (json_int_t)b->timeline,
			      "start_lsn", b->start_lsn, "stop_lsn", b->stop_lsn, "start_wal",
			      b->start_wal, "wal_included", b->wal_included, "wal_segment_size",
			      (json_int_t)b->wal_segment_size, "size_bytes", (json_int_t)b->size_bytes,
			      "system_identifier", b->system_identifier, "server_version_num",
			      b->server_version_num);

	if (o == NULL)
		abort();
	json_object_set_new(o, "verify", check_to_json(&b->verify));
	if (b->deleting)
		json_object_set_new(o, "deleting", json_true());
	return o;
}

json_t *backup_catalog_logical_to_json(const PgcLogicalBackupInfo *l)
{
	json_t *o = json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:s?, s:s?, s:s?, s:I}", "id", l->id, "kind",
			      l->kind, "database", l->database, "path", l->path, "cluster", l->cluster,
			      "source_node", l->source_node, "started_at", l->started_at,
			      "finished_at", l->finished_at, "size_bytes", (json_int_t)l->size_bytes);

	if (o == NULL)
		abort();
	json_object_set_new(o, "verify", check_to_json(&l->verify));
	if (l->deleting)
		json_object_set_new(o, "deleting", json_true());
	return o;
}

static int entry_cmp(const void *x, const void *y)
{
	const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
	const char *ia = json_string_value(json_object_get(a, "id"));
	const char *ib = json_string_value(json_object_get(b, "id"));
	const char *pa = json_string_value(json_object_get(a, "path"));
	const char *pb = json_string_value(json_object_get(b, "path"));
	int c = strcmp(ia ? ia : "", ib ? ib : "");

	return c != 0 ? c : strcmp(pa ? pa : "", pb ? pb : "");
}

/* sort_array - root[key] sorted by id then path (jansson has no sort of its own). */
static void sort_array(json_t *root, const char *key)
{
	json_t *arr = json_object_get(root, key), *sorted;
	json_t **items;
	size_t i, n = json_array_size(arr);

	if (n < 2)
		return;
	items = calloc(n, sizeof(*items));
	if (items == NULL)
		abort();
	for (i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(arr, i));
	qsort(items, n, sizeof(*items), entry_cmp);
	sorted = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(sorted, items[i]);
	json_object_set_new(root, key, sorted);
	free(items);
}

/* lock_catalog - an flock()ed descriptor on REPO/catalog.lock, or -1 (reported). */
static int lock_catalog(const char *repository, uid_t uid, gid_t gid)
{
	char *path = fs_path_join(repository, BACKUP_CATALOG_LOCK);
	struct timespec pause = {0, 100 * 1000 * 1000};
	int fd, waited = 0, saved;

	/* The repository belongs to os_user, who may have planted a link there. */
	fd = fs_open_lock_file(path, uid, gid);
	if (fd < 0) {
		free(path);
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			saved = errno;
			log_error("could not lock \"%s\": %s", path, strerror(saved));
			goto fail;
		}
		if (waited >= BACKUP_CATALOG_LOCK_WAIT_MS) {
			log_error("could not lock \"%s\": another pgconverge has been updating the backup "
				  "catalog for %d s\n"
				  "hint: see which process holds it with 'fuser %s'",
				  path, BACKUP_CATALOG_LOCK_WAIT_MS / 1000, path);
			goto fail;
		}
		nanosleep(&pause, NULL);
		waited += 100;
	}
	free(path);
	return fd;
fail:
	close(fd);
	free(path);
	return -1;
}

int backup_catalog_update(const char *repository, uid_t uid, gid_t gid, PgcCatalogEdit edit,
			  void *arg)
{
	char *path = fs_path_join(repository, BACKUP_CATALOG_FILE);
	json_t *root = NULL;
	char *text = NULL;
	char err[1024];
	PgcBackupCatalog *check;
	int fd, rc = -1, erc;

	fd = lock_catalog(repository, uid, gid);
	if (fd < 0)
		goto cleanup;
	root = read_document(repository, path);
	if (root == NULL)
		goto cleanup;
	/* Refuse to rewrite what we cannot read: it may be a newer format. */
	check = backup_catalog_from_json(root, err, sizeof(err));
	if (check == NULL) {
		log_error("backup catalog \"%s\" cannot be updated: %s", path, err);
		goto cleanup;
	}
	backup_catalog_free(check);
	if (json_object_get(root, "base") == NULL)
		json_object_set_new(root, "base", json_array());
	if (json_object_get(root, "logical") == NULL)
		json_object_set_new(root, "logical", json_array());
	erc = edit(root, arg);
	if (erc < 0)
		goto cleanup;
	if (erc > 0) {
		rc = 0;
		goto cleanup;
	}
	sort_array(root, "base");
	sort_array(root, "logical");
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text == NULL)
		abort();
	text = realloc(text, strlen(text) + 2);
	if (text == NULL)
		abort();
	strcat(text, "\n");
	rc = fs_write_atomic(path, text, strlen(text), 0600, uid, gid, NULL);
cleanup:
	if (fd >= 0)
		close(fd); /* releases the flock */
	free(text);
	json_decref(root);
	free(path);
	return rc;
}

int backup_catalog_add_base(json_t *root, void *entry)
{
	return json_array_append(json_object_get(root, "base"), entry) == 0 ? 0 : -1;
}

int backup_catalog_add_logical(json_t *root, void *entry)
{
	return json_array_append(json_object_get(root, "logical"), entry) == 0 ? 0 : -1;
}

static bool in_paths(const PgcCatalogMark *m, const char *path)
{
	size_t i;

	for (i = 0; path != NULL && i < m->n; i++)
		if (strcmp(m->paths[i], path) == 0)
			return true;
	return false;
}

int backup_catalog_mark(json_t *root, void *arg)
{
	const PgcCatalogMark *m = arg;
	static const char *const keys[] = {"base", "logical"};
	size_t k, i, changed = 0;

	for (k = 0; k < 2; k++) {
		json_t *arr = json_object_get(root, keys[k]);

		for (i = json_array_size(arr); i-- > 0;) {
			json_t *e = json_array_get(arr, i);

			if (!in_paths(m, json_string_value(json_object_get(e, "path"))))
				continue;
			if (m->mark) {
				if (!json_is_true(json_object_get(e, "deleting"))) {
					json_object_set_new(e, "deleting", json_true());
					changed++;
				}
			} else {
				json_array_remove(arr, i);
				changed++;
			}
		}
	}
	return changed > 0 ? 0 : 1;
}
