/*
 * reconcile/observe/observe_repo.c - the read of a backup repository for
 * the observed model (observe_repo.h): its catalog, drills, WAL archive
 * and timeline history, in a thread of its own.
 */
#include "reconcile/observe/observe_repo.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "reconcile/backup/walarchive_fetch.h"
#include "reconcile/observe/observe_parse.h"

/* ---- backup repositories -------------------------------------------------- */

/*
 * A repository is read by a thread of its own (PgcObsRepoRead), started
 * before the node probes and waited for after them, at most
 * OBSERVE_REPO_TIMEOUT_MS: a repository on a mount that hangs becomes an
 * error in the model instead of stalling the whole observation. The read's
 * memory has two owners, the thread and the model: whichever lets go last
 * frees it, so a read that outlives its wait is freed when it ends.
 */
struct PgcObsRepoRead {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	bool done;
	bool started;             /* a thread runs it (else it ran in the caller) */
	bool must_exist;          /* a restore source: a missing folder is an error */
	char *path;
	PgcArena *arena;          /* the result's strings and arrays */
	PgcObsRepository result;
	pthread_t thread;
};

static void repo_release(PgcObsRepoRead *r)
{
	bool last;

	pthread_mutex_lock(&r->mu);
	last = --r->refs == 0;
	pthread_mutex_unlock(&r->mu);
	if (!last)
		return;
	backup_catalog_free(r->result.catalog);
	arena_free(r->arena);
	free(r->path);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/*
 * repo_history - every history file of the archive, each fetched through
 * its checksum (walarchive_fetch, as recovery will) into a private temp
 * folder and parsed. 0, or -1 with out->error set.
 */
static int repo_history(PgcObsRepoRead *r, PgcObsRepository *out)
{
	char tmpl[] = "/tmp/pgconverge-history.XXXXXX";
	size_t i, n = 0;
	int rc = 0;

	for (i = 0; i < out->n_wal; i++)
		n += out->wal[i].parsed.kind == WAL_FILE_HISTORY;
	if (n == 0)
		return 0;
	if (mkdtemp(tmpl) == NULL) {
		out->error = arena_printf(r->arena, "could not create a temp folder to read timeline "
					  "history files: %s", strerror(errno));
		return -1;
	}
	out->history = arena_calloc(r->arena, n, sizeof(*out->history));
	for (i = 0; i < out->n_wal && rc == 0; i++) {
		const PgcWalEntry *e = &out->wal[i];
		const char *dest = arena_printf(r->arena, "%s/%s", tmpl, e->name);
		PgcObsHistory *h = &out->history[out->n_history];
		char *text = NULL;
		size_t len;

		if (e->parsed.kind != WAL_FILE_HISTORY)
			continue;
		if (walarchive_fetch(r->path, e->name, dest) != 0 ||
		    fs_read_file(dest, &text, &len, 1 << 20) != 0) {
			out->error = arena_printf(r->arena, "timeline history file \"%s\" cannot be "
						  "read intact from the archive", e->name);
			rc = -1;
		} else if (observe_parse_history(r->arena, text, h) != 0) {
			out->error = arena_printf(r->arena, "timeline history file \"%s\" in the archive "
						  "does not parse", e->name);
			rc = -1;
		} else {
			h->tli = e->parsed.timeline;
			out->n_history++;
		}
		free(text);
		unlink(dest);
	}
	rmdir(tmpl);
	return rc;
}

/*
 * repo_drills - the "drill" records of the catalog's base entries. The
 * catalog was just loaded; a document that changed in between only makes
 * a record a run late or early, never wrong for another backup.
 */
static void repo_drills(PgcObsRepoRead *r, PgcObsRepository *out)
{
	json_t *root = backup_catalog_json(r->path), *base, *e;
	size_t i;

	base = json_object_get(root, "base");
	if (!json_is_array(base)) {
		json_decref(root);
		return;
	}
	out->drills = arena_calloc(r->arena, json_array_size(base) + 1, sizeof(*out->drills));
	json_array_foreach(base, i, e) {
		json_t *d = json_object_get(e, "drill");
		PgcObsDrill *o = &out->drills[out->n_drills];

		if (!json_is_object(d) || !json_is_string(json_object_get(e, "id")))
			continue;
		o->backup_id = arena_strdup(r->arena, json_string_value(json_object_get(e, "id")));
		o->ok = json_is_true(json_object_get(d, "ok"));
		o->at = arena_strdup(r->arena, json_string_value(json_object_get(d, "at")));
		o->duration_s = json_number_value(json_object_get(d, "duration_s"));
		o->rows = json_is_integer(json_object_get(d, "rows"))
				  ? (long long)json_integer_value(json_object_get(d, "rows"))
				  : -1;
		o->message = arena_strdup(r->arena, json_string_value(json_object_get(d, "message")));
		out->n_drills++;
	}
	json_decref(root);
}

/* repo_read - the catalog, the archive listing and the history files. */
static void repo_read(PgcObsRepoRead *r)
{
	PgcObsRepository *out = &r->result;
	struct stat st;

	out->path = r->path;
	if (stat(r->path, &st) != 0) {
		if (errno != ENOENT)
			out->error = arena_printf(r->arena, "could not stat \"%s\": %s", r->path,
						  strerror(errno));
		else if (r->must_exist)
			out->error = arena_printf(r->arena, "backup repository \"%s\" does not exist",
						  r->path);
		else
			out->catalog = backup_catalog_load(r->path); /* empty: no catalog yet */
		if (out->catalog == NULL && out->error == NULL)
			out->error = arena_printf(r->arena, "backup repository \"%s\" cannot be read",
						  r->path);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		out->error = arena_printf(r->arena, "backup repository \"%s\" is not a folder", r->path);
		return;
	}
	out->exists = true;
	out->catalog = backup_catalog_load(r->path);
	if (out->catalog == NULL) {
		out->error = arena_printf(r->arena, "the catalog of backup repository \"%s\" cannot "
					  "be read", r->path);
		return;
	}
	repo_drills(r, out);
	if (walarchive_list(r->arena, r->path, &out->wal, &out->n_wal) != 0) {
		out->error = arena_printf(r->arena, "the WAL archive of backup repository \"%s\" "
					  "cannot be listed", r->path);
		return;
	}
	repo_history(r, out);
}

static void *repo_main(void *arg)
{
	PgcObsRepoRead *r = arg;

	repo_read(r);
	pthread_mutex_lock(&r->mu);
	r->done = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	repo_release(r);
	return NULL;
}

/* observe_repo_start - a read of path in a thread of its own (or now, when no thread can start). */
PgcObsRepoRead *observe_repo_start(const char *path, bool must_exist)
{
	PgcObsRepoRead *r = calloc(1, sizeof(*r));

	if (r == NULL)
		abort();
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->refs = 2;
	r->must_exist = must_exist;
	r->path = strdup(path);
	if (r->path == NULL)
		abort();
	r->arena = arena_new();
	if (pthread_create(&r->thread, NULL, repo_main, r) == 0) {
		r->started = true;
		pthread_detach(r->thread);
	} else {
		repo_main(r);
	}
	return r;
}

/*
 * observe_repo_finish - the model's view of a read once it is done or the
 * deadline (CLOCK_REALTIME) passed: the read's own result, or an error
 * allocated in a. The model keeps its reference only when done.
 */
PgcObsRepository *observe_repo_finish(PgcArena *a, PgcObsRepoRead *r, const struct timespec *deadline)
{
	PgcObsRepository *out;
	bool done;

	pthread_mutex_lock(&r->mu);
	while (!r->done && pthread_cond_timedwait(&r->cv, &r->mu, deadline) == 0)
		;
	done = r->done;
	pthread_mutex_unlock(&r->mu);
	if (done) {
		r->result.owner = r;
		return &r->result;
	}
	out = arena_calloc(a, 1, sizeof(*out));
	out->path = arena_strdup(a, r->path);
	out->error = arena_printf(a, "backup repository \"%s\" did not answer within %d s", r->path,
				  OBSERVE_REPO_TIMEOUT_MS / 1000);
	log_warn("%s", out->error);
	repo_release(r);
	return out;
}

/* observe_repo_free - releases the model's reference of a repository read. */
void observe_repo_free(PgcObsRepository *r)
{
	if (r != NULL && r->owner != NULL)
		repo_release(r->owner);
}
