/*
 * reconcile/backup/backup_retention.c - what a cluster's retention policy
 * removes from its backup repository (pure), and the removal
 * (backup_retention.h). The removal is fstree's guarded code, not a host's:
 * the repository is no node's folder (maybe a mount shared by hosts).
 */
#include "reconcile/backup/backup_retention.h"

#include <stdio.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/fstree.h"
#include "common/log.h"
#include "common/progress.h"

/* ---- retention ---------------------------------------------------------- */

PgcRetentionPolicy backup_retention_policy(const PgcCluster *c)
{
	PgcRetentionPolicy p = {0};

	p.keep_base = c->backup.base.keep.v > 0 ? (int)c->backup.base.keep.v : 0;
	p.keep_logical = c->backup.logical.keep.v > 0 ? (int)c->backup.logical.keep.v : 0;
	return p;
}

static bool base_valid(const PgcBaseBackupInfo *b)
{
	return b->verify.known && b->verify.ok && !b->deleting;
}

static bool logical_valid(const PgcLogicalBackupInfo *l)
{
	return l->verify.known && l->verify.ok && !l->deleting;
}

static bool same_series(const PgcLogicalBackupInfo *x, const PgcLogicalBackupInfo *y)
{
	if (strcmp(x->kind, y->kind) != 0)
		return false;
	if (x->database == NULL || y->database == NULL)
		return x->database == y->database;
	return strcmp(x->database, y->database) == 0;
}

/* wal_removable - before the oldest kept backup's start, on its timeline or an earlier one. */
static bool wal_removable(const PgcWalEntry *e, const PgcBaseBackupInfo *kept)
{
	uint64_t segsize = (uint64_t)kept->wal_segment_size;

	if (e->parsed.kind == WAL_FILE_HISTORY || e->parsed.timeline > kept->timeline)
		return false;
	return walarchive_segno(&e->parsed, segsize) < kept->start_lsn_v / segsize;
}

void backup_retention_compute(PgcArena *a, const PgcBackupCatalog *cat, const PgcWalEntry *wal,
			      size_t n_wal, const PgcRetentionPolicy *policy, PgcRetention *out)
{
	size_t i, j;

	memset(out, 0, sizeof(*out));
	out->base = arena_calloc(a, cat->n_base + 1, sizeof(*out->base));
	out->logical = arena_calloc(a, cat->n_logical + 1, sizeof(*out->logical));
	out->wal = arena_calloc(a, n_wal + 1, sizeof(*out->wal));

	/* Base backups, newest first: the keep_base-th valid one is the oldest kept. */
	if (policy->keep_base > 0) {
		int valid = 0;

		for (i = cat->n_base; i-- > 0;) {
			if (base_valid(&cat->base[i]) && ++valid == policy->keep_base) {
				out->oldest_kept = &cat->base[i];
				break;
			}
		}
	}
	for (i = 0; i < cat->n_base; i++) {
		const PgcBaseBackupInfo *b = &cat->base[i];
		bool older = out->oldest_kept != NULL && strcmp(b->id, out->oldest_kept->id) < 0;

		if (b->deleting || older) {
			out->base[out->n_base++] = b;
			out->bytes += b->size_bytes;
		}
	}

	/* Logical backups: the same rule within each database's series. */
	for (i = 0; i < cat->n_logical; i++) {
		const PgcLogicalBackupInfo *l = &cat->logical[i];
		const PgcLogicalBackupInfo *oldest = NULL;
		int valid = 0;

		if (!l->deleting && policy->keep_logical > 0) {
			for (j = cat->n_logical; j-- > 0;) {
				const PgcLogicalBackupInfo *o = &cat->logical[j];

				if (same_series(o, l) && logical_valid(o) &&
				    ++valid == policy->keep_logical) {
					oldest = o;
					break;
				}
			}
		}
		if (l->deleting || (oldest != NULL && strcmp(l->id, oldest->id) < 0)) {
			out->logical[out->n_logical++] = l;
			out->bytes += l->size_bytes;
		}
	}

	/* WAL: only with a kept backup whose start and segment size are known. */
	if (out->oldest_kept == NULL || out->oldest_kept->start_lsn_v == 0 ||
	    out->oldest_kept->wal_segment_size <= 0 || out->oldest_kept->timeline == 0)
		return;
	for (i = 0; i < n_wal; i++) {
		if (wal_removable(&wal[i], out->oldest_kept)) {
			out->wal[out->n_wal++] = &wal[i];
			out->bytes += wal[i].size;
		}
	}
}

/*
 * Removal. The repository belongs to os_user, so anything below it may be a
 * symlink planted there; retention runs as root. Every path is checked to
 * be of the layout's own shape, then reached from the repository folder
 * one component at a time without following a link (fs_remove_tree,
 * fs_remove_inside): a planted link is refused or removed itself, never
 * followed out of the repository.
 */

/* refuse - an entry whose path is not the layout's: reported, never removed. */
static int refuse(const char *repository, const char *path)
{
	log_error("refusing to remove \"%s\" from backup repository \"%s\": not a path of the "
		  "repository's layout\n"
		  "hint: the catalog was edited by hand or damaged; check it", path, repository);
	return -1;
}

int backup_retention_apply(const char *repository, const PgcRetention *r)
{
	PgcArena *a = arena_new();
	size_t n_entries = r->n_base + r->n_logical, n_gone = 0, i;
	const char **paths = arena_calloc(a, n_entries + 1, sizeof(char *));
	const char **gone = arena_calloc(a, n_entries + 1, sizeof(char *));
	const char *base_dir = arena_printf(a, "%s/%s", repository, BACKUP_BASE_DIR);
	const char *logical_dir = arena_printf(a, "%s/%s", repository, BACKUP_LOGICAL_DIR);
	PgcCatalogMark mark = {paths, n_entries, true};
	uid_t uid;
	gid_t gid;
	int rc = 0;

	if (walarchive_owner(repository, &uid, &gid) != 0) {
		arena_free(a);
		return -1;
	}
	for (i = 0; i < r->n_base; i++)
		paths[i] = r->base[i]->path;
	for (i = 0; i < r->n_logical; i++)
		paths[r->n_base + i] = r->logical[i]->path;

	/* First mark: from here on nothing restores from these, even if we die half way. */
	if (n_entries > 0 &&
	    backup_catalog_update(repository, uid, gid, backup_catalog_mark, &mark) != 0) {
		arena_free(a);
		return -1;
	}
	for (i = 0; i < r->n_base; i++) {
		const char *path = r->base[i]->path;

		if (!backup_catalog_path_ok(path, false)) {
			rc = refuse(repository, path);
			continue;
		}
		if (fs_remove_tree(repository, arena_printf(a, "%s/%s", repository, path)) != 0) {
			rc = -1;
			continue;
		}
		gone[n_gone++] = path;
	}
	for (i = 0; i < r->n_logical; i++) {
		const char *path = r->logical[i]->path;
		const char *file = arena_printf(a, "%s/%s", repository, path);

		if (!backup_catalog_path_ok(path, true)) {
			rc = refuse(repository, path);
			continue;
		}
		if (fs_remove_inside(repository, file, false) != 0) {
			rc = -1;
			continue;
		}
		gone[n_gone++] = path;
		/* The run's folder goes with its last file (not while others remain: 1). */
		switch (fs_remove_inside(repository,
					 arena_strndup(a, file, (size_t)(strrchr(file, '/') - file)), true)) {
		case 0:
			fs_fsync_dir(logical_dir);
			break;
		case 1:
			break;
		default:
			rc = -1;
		}
	}
	if (n_gone > 0) {
		PgcCatalogMark drop = {gone, n_gone, false};

		if (backup_catalog_update(repository, uid, gid, backup_catalog_mark, &drop) != 0)
			rc = -1;
		fs_fsync_dir(base_dir);
	}
	/* WAL: data before checksum, so that nothing is ever left without its checksum. */
	for (i = 0; i < r->n_wal; i++) {
		if (fs_remove_inside(repository, r->wal[i]->path, false) != 0 ||
		    fs_remove_inside(repository, r->wal[i]->checksum_path, false) != 0)
			rc = -1;
	}
	if (r->n_wal > 0) {
		/* Each timeline folder touched: make the removals durable. */
		const char *last = NULL;

		for (i = 0; i < r->n_wal; i++) {
			const char *slash = strrchr(r->wal[i]->path, '/');
			const char *dir = arena_strndup(a, r->wal[i]->path,
							(size_t)(slash - r->wal[i]->path));

			if (last == NULL || strcmp(last, dir) != 0)
				fs_fsync_dir(dir);
			last = dir;
		}
	}
	arena_free(a);
	return rc;
}

int backup_retention_run(PgcArena *a, const PgcCluster *c, PgcRetention *removed)
{
	PgcRetentionPolicy policy = backup_retention_policy(c);
	const char *repo = c->backup.repository.v;
	PgcBackupCatalog *cat;
	PgcWalEntry *wal = NULL;
	size_t n_wal = 0, i;
	PgcRetention r;
	char size_text[32];
	int rc;

	if (removed != NULL)
		memset(removed, 0, sizeof(*removed));
	cat = backup_catalog_load(repo);
	if (cat == NULL || walarchive_list(a, repo, &wal, &n_wal) != 0) {
		backup_catalog_free(cat);
		return -1;
	}
	backup_retention_compute(a, cat, wal, n_wal, &policy, &r);
	for (i = 0; i < r.n_base; i++)
		log_debug("retention: removing base backup %s (keep %d)", r.base[i]->id, policy.keep_base);
	for (i = 0; i < r.n_logical; i++)
		log_debug("retention: removing %s (keep %d per database)", r.logical[i]->path,
			 policy.keep_logical);
	if (r.n_wal > 0)
		log_debug("retention: removing %zu archived WAL file%s before %s on timeline %u", r.n_wal,
			 r.n_wal == 1 ? "" : "s", r.oldest_kept->start_lsn, r.oldest_kept->timeline);
	rc = backup_retention_apply(repo, &r);
	if (rc == 0 && r.n_base + r.n_logical + r.n_wal > 0)
		log_debug("retention: freed %s", progress_format_bytes(r.bytes, size_text, sizeof(size_text)));
	if (removed != NULL) {
		/* The entries point into cat, freed below: copy what a caller reads. */
		PgcBaseBackupInfo *bcopy = arena_calloc(a, r.n_base + 1, sizeof(*bcopy));
		PgcLogicalBackupInfo *lcopy = arena_calloc(a, r.n_logical + 1, sizeof(*lcopy));

		*removed = r;
		for (i = 0; i < r.n_base; i++) {
			bcopy[i].id = arena_strdup(a, r.base[i]->id);
			bcopy[i].path = arena_strdup(a, r.base[i]->path);
			bcopy[i].size_bytes = r.base[i]->size_bytes;
			removed->base[i] = &bcopy[i];
		}
		for (i = 0; i < r.n_logical; i++) {
			lcopy[i].id = arena_strdup(a, r.logical[i]->id);
			lcopy[i].kind = arena_strdup(a, r.logical[i]->kind);
			lcopy[i].path = arena_strdup(a, r.logical[i]->path);
			lcopy[i].database = arena_strdup(a, r.logical[i]->database);
			lcopy[i].size_bytes = r.logical[i]->size_bytes;
			removed->logical[i] = &lcopy[i];
		}
		removed->oldest_kept = NULL;
	}
	backup_catalog_free(cat);
	return rc;
}
