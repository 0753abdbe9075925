/*
 * reconcile/engine/journal.c - the durable apply journal (journal.jsonl).
 */
#include "reconcile/engine/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "reconcile/engine/action.h"

#define JOURNAL_FILE "journal.jsonl"

struct PgcJournal {
	int fd;
	char *path;
	char run[128];
};

PgcJournal *journal_open(const char *state_dir)
{
	PgcJournal *j;
	char ts[96];
	int saved;

	if (fs_mkdir_p(state_dir, 0700, FS_NO_UID, FS_NO_GID) != 0)
		return NULL;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		abort();
	j->path = fs_path_join(state_dir, JOURNAL_FILE);
	j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		saved = errno;
		log_error("could not open journal \"%s\": %s", j->path, strerror(saved));
		free(j->path);
		free(j);
		return NULL;
	}
	/* A new journal's creation must survive a crash like its lines. */
	(void)fs_fsync_dir(state_dir);
	clock_utc_now(CLOCK_UTC_ISO_MS, ts, sizeof(ts));
	snprintf(j->run, sizeof(j->run), "%s-%ld", ts, (long)getpid());
	return j;
}

void journal_close(PgcJournal *j)
{
	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	free(j);
}

const char *journal_path(const PgcJournal *j)
{
	return j->path;
}

const char *journal_outcome_name(PgcJournalOutcome outcome)
{
	switch (outcome) {
	case JOURNAL_OK:
		return "ok";
	case JOURNAL_FAILED:
		return "failed";
	case JOURNAL_SKIPPED:
		return "skipped";
	}
	return "unknown";
}

/* jstr - a JSON string; bytes that are not valid UTF-8 become '?'. */
static json_t *jstr(const char *s)
{
	json_t *v;
	char *copy;
	size_t i;

	if (s == NULL)
		return json_null();
	v = json_string(s);
	if (v != NULL)
		return v;
	copy = strdup(s);
	if (copy == NULL)
		abort();
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

/* first_line - a copy of s up to its first newline. */
static char *first_line(const char *s)
{
	size_t n = strcspn(s, "\n");
	char *l = strndup(s, n);

	if (l == NULL)
		abort();
	return l;
}

static int append_line(PgcJournal *j, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t len;
	ssize_t n;
	int saved, rc = -1;

	if (text == NULL)
		abort();
	len = strlen(text);
	text[len] = '\n'; /* replaces the NUL: the line is written in one write() */
	n = write(j->fd, text, len + 1);
	if (n != (ssize_t)(len + 1)) {
		saved = n < 0 ? errno : EIO;
		log_error("could not write journal \"%s\": %s", j->path, strerror(saved));
		goto cleanup;
	}
	if (fsync(j->fd) != 0) {
		saved = errno;
		log_error("could not fsync journal \"%s\": %s", j->path, strerror(saved));
		goto cleanup;
	}
	rc = 0;
cleanup:
	free(text);
	return rc;
}

static json_t *base_object(const PgcJournal *j, const PgcAction *a, const char *event)
{
	char ts[96];
	json_t *o = json_object();

	clock_utc_now(CLOCK_UTC_ISO_MS, ts, sizeof(ts));
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "run", json_string(j->run));
	json_object_set_new(o, "cluster", jstr(a->cluster));
	json_object_set_new(o, "node", jstr(a->node));
	json_object_set_new(o, "action", jstr(a->id));
	json_object_set_new(o, "kind", jstr(plan_action_name(a->kind)));
	json_object_set_new(o, "impact", jstr(plan_impact_name(a->impact)));
	json_object_set_new(o, "event", json_string(event));
	return o;
}

int journal_start(PgcJournal *j, const PgcAction *a)
{
	json_t *o = base_object(j, a, "start");
	int rc = append_line(j, o);

	json_decref(o);
	return rc;
}

int journal_end(PgcJournal *j, const PgcAction *a, PgcJournalOutcome outcome, double duration_ms,
		const char *error)
{
	json_t *o = base_object(j, a, "end");
	int rc;

	json_object_set_new(o, "outcome", json_string(journal_outcome_name(outcome)));
	json_object_set_new(o, "duration_ms", json_integer((json_int_t)(duration_ms + 0.5)));
	if (error != NULL) {
		char *line = first_line(error);

		json_object_set_new(o, "error", jstr(line));
		free(line);
	}
	rc = append_line(j, o);
	json_decref(o);
	return rc;
}

int journal_event(PgcJournal *j, json_t *event)
{
	json_t *o = json_object(), *value;
	const char *key;
	char ts[96];
	int rc;

	clock_utc_now(CLOCK_UTC_ISO_MS, ts, sizeof(ts));
	json_object_set_new(o, "ts", json_string(ts));
	if (json_object_get(event, "run") == NULL)
		json_object_set_new(o, "run", json_string(j->run));
	json_object_foreach(event, key, value)
		json_object_set(o, key, value);
	rc = append_line(j, o);
	json_decref(o);
	return rc;
}

int journal_source(PgcJournal *j, const PgcSource *src)
{
	json_t *o = json_object();
	char ts[96];
	int rc;

	clock_utc_now(CLOCK_UTC_ISO_MS, ts, sizeof(ts));
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "run", json_string(j->run));
	json_object_set_new(o, "event", json_string("source"));
	json_object_set_new(o, "kind", jstr(src->kind));
	if (src->repository != NULL)
		json_object_set_new(o, "repository", jstr(src->repository));
	if (src->ref != NULL)
		json_object_set_new(o, "ref", jstr(src->ref));
	if (src->commit != NULL)
		json_object_set_new(o, "commit", jstr(src->commit));
	json_object_set_new(o, "path", jstr(src->path));
	json_object_set_new(o, "digest", jstr(src->digest));
	if (src->signer != NULL)
		json_object_set_new(o, "signer", jstr(src->signer));
	rc = append_line(j, o);
	json_decref(o);
	return rc;
}
