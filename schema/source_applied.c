/*
 * schema/source_applied.c - the last applied source (STATE_DIR/applied.json)
 * and the no-rollback rule (schema/source_applied.h).
 */
#include "schema/source_applied.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/fsutil.h"
#include "common/log.h"

static int parse_time(const char *s, time_t *out)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*out = timegm(&tm);
	return 0;
}

/* ---- the last applied source --------------------------------------------- */

static const char *jget(PgcArena *a, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? arena_strdup(a, json_string_value(v)) : NULL;
}

int source_applied_read(const char *state_dir, PgcSource *src, time_t *applied_at,
			bool *converged)
{
	char *path = fs_path_join(state_dir, SOURCE_APPLIED_FILE), *text = NULL;
	json_error_t jerr;
	json_t *j = NULL;
	const char *at, *ct;
	size_t len;
	int rc = -1;

	source_start(src);
	*applied_at = 0;
	switch (fs_read_file(path, &text, &len, 1 << 20)) {
	case 0:
		break;
	case 1:
		rc = 1;
		goto cleanup;
	default:
		goto cleanup;
	}
	j = json_loads(text, 0, &jerr);
	if (!json_is_object(j) || (src->kind = jget(src->arena, j, "kind")) == NULL) {
		log_error("cannot read \"%s\": %s\nhint: remove it; the next apply writes it again",
			  path, j == NULL ? jerr.text : "not an object with \"kind\"");
		goto cleanup;
	}
	src->repository = jget(src->arena, j, "repository");
	src->ref = jget(src->arena, j, "ref");
	src->commit = jget(src->arena, j, "commit");
	src->path = jget(src->arena, j, "path");
	src->digest = jget(src->arena, j, "digest");
	src->subject = jget(src->arena, j, "subject");
	src->signer = jget(src->arena, j, "signer");
	ct = jget(src->arena, j, "commit_time");
	if (ct != NULL)
		(void)parse_time(ct, &src->commit_time);
	if (converged != NULL)
		*converged = json_is_true(json_object_get(j, "converged"));
	at = jget(src->arena, j, "applied_at");
	if (at == NULL || parse_time(at, applied_at) != 0) {
		log_error("cannot read \"%s\": \"applied_at\" is not an ISO 8601 UTC time\n"
			  "hint: remove it; the next apply writes it again",
			  path);
		goto cleanup;
	}
	rc = 0;
cleanup:
	json_decref(j);
	free(text);
	free(path);
	return rc;
}

int source_applied_write(const char *state_dir, const PgcSource *src, time_t at, bool converged)
{
	char *path, *text, when[32], ctime_buf[32];
	json_t *j;
	int rc;

	if (src == NULL || src->kind == NULL)
		return 0;
	if (fs_mkdir_p(state_dir, 0700, FS_NO_UID, FS_NO_GID) != 0)
		return -1;
	j = json_object();
	json_object_set_new(j, "format_version", json_integer(1));
	json_object_set_new(j, "kind", json_string(src->kind));
#define SET(key, v)                                                       \
	do {                                                              \
		if ((v) != NULL)                                          \
			json_object_set_new(j, key, json_string(v));      \
	} while (0)
	SET("repository", src->repository);
	SET("ref", src->ref);
	SET("commit", src->commit);
	SET("path", src->path);
	SET("digest", src->digest);
	SET("subject", src->subject);
	SET("signer", src->signer);
	if (src->commit != NULL)
		SET("commit_time", source_format_time(src->commit_time, ctime_buf, sizeof ctime_buf));
	SET("applied_at", source_format_time(at, when, sizeof when));
#undef SET
	json_object_set_new(j, "converged", json_boolean(converged));
	text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (text == NULL)
		abort();
	path = fs_path_join(state_dir, SOURCE_APPLIED_FILE);
	rc = fs_write_atomic(path, text, strlen(text), 0644, FS_NO_UID, FS_NO_GID, NULL);
	free(path);
	free(text);
	return rc;
}

/* report_diags - diagnostics of a repository opened outside loading, as log lines. */
static void report_diags(const PgcDiagList *diags)
{
	size_t i;

	for (i = 0; i < diags->n; i++) {
		const PgcDiag *d = &diags->items[i];

		if (d->hint != NULL)
			log_msg(d->level == DIAG_ERROR ? LOG_ERROR : LOG_WARN, "%s\nhint: %s", d->message,
				d->hint);
		else
			log_msg(d->level == DIAG_ERROR ? LOG_ERROR : LOG_WARN, "%s", d->message);
	}
}

int source_check_rewind(const char *state_dir, const PgcSource *src, bool allow_rewind)
{
	PgcSource last = {0};
	PgcDiagList diags = {0};
	PgcGitRepo *r = NULL;
	char at[32], *msg = NULL;
	time_t applied_at;
	int d, rc = -1;

	if (src == NULL || src->kind == NULL || strcmp(src->kind, "git") != 0)
		return 0;
	switch (source_applied_read(state_dir, &last, &applied_at, NULL)) {
	case 0:
		break;
	case 1:
		source_reset(&last);
		return 0;
	default:
		source_reset(&last);
		return -1;
	}
	if (last.kind == NULL || strcmp(last.kind, "git") != 0 || last.commit == NULL ||
	    strcmp(last.commit, src->commit) == 0) {
		rc = 0;
		goto cleanup;
	}
	r = source_git_open(src->repository, state_dir, false, false, src->repository, &diags);
	if (r == NULL) {
		report_diags(&diags);
		goto cleanup;
	}
	d = source_git_descends(r, src->commit, last.commit);
	if (d == 1) {
		rc = 0;
		goto cleanup;
	}
	source_format_time(applied_at, at, sizeof at);
	if (d == 0) {
		if (asprintf(&msg,
			     "commit %.12s (ref \"%s\") does not descend from the last applied commit "
			     "%.12s (applied %s from ref \"%s\")",
			     src->commit, src->ref, last.commit, at, last.ref != NULL ? last.ref : "?") < 0)
			abort();
	} else if (asprintf(&msg,
			    "the last applied commit %.12s (applied %s from \"%s\") is not in \"%s\"; "
			    "cannot tell whether commit %.12s (ref \"%s\") descends from it",
			    last.commit, at, last.repository != NULL ? last.repository : "?",
			    src->repository, src->commit, src->ref) < 0) {
		abort();
	}
	if (allow_rewind) {
		log_warn("%s; applying it anyway (--allow-rewind)", msg);
		rc = 0;
	} else {
		log_error("%s: applying it would roll the clusters back\n"
			  "hint: a force-push or a stale ref? check --ref, or pass --allow-rewind to "
			  "apply this commit anyway",
			  msg);
	}
cleanup:
	free(msg);
	source_git_close(r);
	diag_free(&diags);
	source_reset(&last);
	return rc;
}
