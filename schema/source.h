/*
 * schema/source.h - where the topology comes from: a file, or a file inside
 * a git repository read at one commit (libgit2).
 *
 * A git source is read through schema/source_git.h; the last applied
 * source and the no-rollback rule are in schema/source_applied.h.
 *
 * Errors: the loading functions report to a PgcDiagList, named after the
 * source's display name (the loader's convention, so `validate` prints them
 * like any other problem of the file).
 */
#ifndef PGC_SCHEMA_SOURCE_H
#define PGC_SCHEMA_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/arena.h"
#include "common/diag.h"
#include "schema/source_git.h"
#include "schema/topology.h"

/*
 * PgcSource - what a run read. Strings belong to the source's own arena,
 * replaced on every load (a reconcile loop loads once per pass and must not
 * grow): source_reset() frees them.
 */
typedef struct {
	PgcArena *arena;
	const char *kind;          /* "file" | "git"; NULL before anything was loaded */
	const char *path;          /* the file; git: the path inside the tree */
	const char *digest;        /* "sha256:<hex>" of the file's bytes */
	const char *repository;    /* git: absolute path of a local repository, or the URL */
	const char *ref;           /* git: REF as given */
	const char *commit;        /* git: full commit id, 40 hex digits */
	time_t commit_time;        /* git: committer time */
	const char *subject;       /* git: first line of the commit message */
	const char *signer;        /* git: the verified principal, with require_signed */
	bool stale;                /* git: the remote could not be fetched; the last fetched commit was used */
} PgcSource;

/* PgcGitSpec - what to read and how strictly. */
typedef struct {
	const char *repository;       /* REPO */
	const char *ref;              /* REF */
	const char *path;             /* PATH inside the tree */
	const char *state_dir;        /* clones of remote repositories go under state_dir/git/ */
	const char *display;          /* the source's name in messages, e.g. "REPO@REF:PATH" */
	bool allow_stale;             /* a failed fetch is a warning; the last fetched commit is used */
	bool require_signed;          /* refuse commits without a verified ssh signature */
	const char *allowed_signers;  /* NULL: state_dir/allowed_signers */
} PgcGitSpec;

/* source_reset - frees what a load stored in src; src can be loaded again. */
void source_reset(PgcSource *src);

/* source_start - src reset and given a fresh arena, ready to be filled by a load or a read. */
void source_start(PgcSource *src);

/*
 * source_load_git - reads spec's file at spec's commit and loads it as a
 * topology (topology_load_buffer with lo, its base_dir replaced as
 * schema/source_git.h describes);
 * fills src (reset first). Same contract as topology_load_file(): NULL
 * when nothing could be loaded, all problems in diags.
 */
PgcTopology *source_load_git(const PgcGitSpec *spec, const PgcLoadOptions *lo, PgcSource *src,
			     PgcDiagList *diags);

/*
 * source_load_file - topology_load_file(), and src filled with the file's
 * path and digest.
 */
PgcTopology *source_load_file(const char *path, const PgcLoadOptions *lo, PgcSource *src,
			      PgcDiagList *diags);

/* source_format_time - ISO 8601 UTC ("2026-11-26T09:41:00Z") into buf; returns buf. */
const char *source_format_time(time_t t, char *buf, size_t size);

#endif
