/*
 * schema/source.c - topology sources: a file, or a file in a git
 * repository read at a commit (schema/source_git.c), with what was read
 * recorded in a PgcSource.
 */
#include "schema/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/digest.h"
#include "common/fsutil.h"

static const PgcPos nowhere = {0, 0};

const char *source_format_time(time_t t, char *buf, size_t size)
{
	return clock_utc_format(t, 0, CLOCK_UTC_ISO, buf, size);
}

void source_reset(PgcSource *src)
{
	if (src == NULL)
		return;
	arena_free(src->arena);
	memset(src, 0, sizeof(*src));
}

void source_start(PgcSource *src)
{
	source_reset(src);
	src->arena = arena_new();
}

static const char *digest_of(PgcArena *a, const char *buf, size_t len)
{
	char hex[DIGEST_HEX_LEN + 1];

	digest_sha256_hex(buf, len, hex);
	return arena_printf(a, "sha256:%s", hex);
}

/* ---- loading ------------------------------------------------------------- */

PgcTopology *source_load_git(const PgcGitSpec *spec, const PgcLoadOptions *lo, PgcSource *src,
			     PgcDiagList *diags)
{
	PgcLoadOptions o = {0};
	PgcGitRepo *r;
	PgcTopology *t = NULL;
	char commit[SOURCE_OID_HEX + 1], *buf = NULL, *top = NULL, *dir = NULL, *base = NULL;
	char *path = NULL;
	size_t len = 0;

	source_start(src);
	if (lo != NULL)
		o = *lo;
	r = source_git_open(spec->repository, spec->state_dir, true, spec->allow_stale,
			    spec->display, diags);
	if (r == NULL)
		return NULL;
	if (source_git_resolve(r, spec->ref, commit, spec->display, diags) != 0)
		goto cleanup;
	if (source_git_stale(r))
		diag_add(diags, DIAG_WARNING, spec->display, nowhere, NULL,
			 "the next pass fetches again",
			 "cannot fetch \"%s\": %s; using the last fetched commit %.12s of \"%s\"",
			 source_git_name(r), source_git_fetch_error(r), commit, spec->ref);
	if (spec->require_signed) {
		char err[1024], *signers = NULL;
		const char *file = spec->allowed_signers;

		if (file == NULL)
			file = signers = fs_path_join(spec->state_dir, SOURCE_ALLOWED_SIGNERS);
		if (source_git_verify(r, commit, file, src->arena, &src->signer, err, sizeof err) != 0) {
			diag_error(diags, spec->display, nowhere, NULL,
				   "sign commits with an ssh key listed in the allowed signers file "
				   "(git config gpg.format ssh; git commit -S)",
				   "refusing commit %.12s: %s", commit, err);
			free(signers);
			goto cleanup;
		}
		free(signers);
	}
	if (source_git_read(r, commit, spec->path, &buf, &len, true, spec->display, diags) != 0)
		goto cleanup;
	path = source_git_tree_path(spec->path);
	top = source_git_base_dir(r);
	dir = fs_path_dir(path);
	base = fs_path_join(top, dir);
	o.base_dir = base;
	t = topology_load_buffer(buf, len, spec->display, &o, diags);

	src->kind = "git";
	src->path = arena_strdup(src->arena, path);
	src->digest = digest_of(src->arena, buf, len);
	src->repository = arena_strdup(src->arena, source_git_name(r));
	src->ref = arena_strdup(src->arena, spec->ref);
	src->commit = arena_strdup(src->arena, commit);
	src->stale = source_git_stale(r);
	if (source_git_commit_info(r, commit, src->arena, &src->commit_time, &src->subject) != 0)
		src->subject = NULL;
cleanup:
	free(path);
	free(base);
	free(dir);
	free(top);
	free(buf);
	source_git_close(r);
	return t;
}

PgcTopology *source_load_file(const char *path, const PgcLoadOptions *lo, PgcSource *src,
			      PgcDiagList *diags)
{
	char *buf = NULL;
	size_t len = 0;

	source_start(src);
	src->kind = "file";
	src->path = arena_strdup(src->arena, path);
	/* The digest names what was planned; the loader reports a missing file itself. */
	if (fs_read_file(path, &buf, &len, SOURCE_MAX_TOPOLOGY_BYTES) == 0) {
		src->digest = digest_of(src->arena, buf, len);
		free(buf);
	}
	return topology_load_file(path, lo, diags);
}
