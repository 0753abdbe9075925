/*
 * schema/source.h - where the topology comes from: a file, or a file inside
 * a git repository read at one commit (libgit2); and what was last applied.
 *
 * Git sources. REPO is a local repository (a work tree's top folder, its
 * .git folder, or a bare repository; no search upwards) or a URL libgit2
 * fetches (file://, https://, ssh://, user@host:path). A remote repository
 * is cloned once, bare, into STATE_DIR/git/<id>/repo.git and fetched on
 * every open; its branches and tags mirror the remote's (pruned), and its
 * HEAD follows the remote's default branch, so REF means there what it means
 * in the remote. REF is anything `git rev-parse` takes that names a commit:
 * a branch, a tag, a commit id (full or abbreviated), HEAD, main~1. The file
 * is read from the commit's tree, never from a work tree. Relative paths in
 * it resolve against the file's folder inside the tree, placed at the
 * repository's work tree (local, non-bare) or at the current folder
 * (remote or bare): the same paths as with `-f` on a checkout. Secret files
 * ({file: ...}) are read from the host at apply time, never from the tree.
 *
 * Signed commits. With require_signed, a commit is accepted only when it
 * carries an ssh signature that `ssh-keygen -Y verify` (namespace "git")
 * accepts against the allowed-signers file, the format of git's
 * gpg.ssh.allowedSignersFile. The principal is found with
 * `ssh-keygen -Y find-principals`, as git does. gpg signatures are refused.
 *
 * Last applied. apply writes STATE_DIR/applied.json (fs_write_atomic) after
 * a run that converged or was only held back by policy; apply and
 * reconcile refuse a git commit that does not descend from it
 * (source_check_rewind) unless --allow-rewind.
 *
 * Errors: functions taking a PgcDiagList report there, named after the
 * source's display name (the loader's convention, so `validate` prints them
 * like any other problem of the file); the others report with log_error()
 * and a hint. libgit2 is initialised and shut down by open/close.
 */
#ifndef PGC_SCHEMA_SOURCE_H
#define PGC_SCHEMA_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/arena.h"
#include "common/diag.h"
#include "schema/topology.h"

#define SOURCE_OID_HEX 40
/* The state file that records the last applied source. */
#define SOURCE_APPLIED_FILE "applied.json"
/* Default allowed-signers file, inside the state directory. */
#define SOURCE_ALLOWED_SIGNERS "allowed_signers"

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

typedef struct PgcGitRepo PgcGitRepo;

/* source_reset - frees what a load stored in src; src can be loaded again. */
void source_reset(PgcSource *src);

/*
 * source_load_git - reads spec's file at spec's commit and loads it as a
 * topology (topology_load_buffer with lo, its base_dir replaced as above);
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

/*
 * source_git_open - opens a local repository, or clones/fetches a remote
 * one into state_dir/git/ (fetch false: no network, use the clone as it is).
 * When a fetch fails and allow_stale is set, a warning goes to diags and the
 * clone is used as last fetched. NULL on failure (reported to diags).
 * Close with source_git_close().
 */
PgcGitRepo *source_git_open(const char *repository, const char *state_dir, bool fetch,
			    bool allow_stale, const char *display, PgcDiagList *diags);

/*
 * source_git_discover - opens the repository whose work tree holds the
 * local file path (searching upwards) and sets *rel (malloc'd) to the
 * file's path relative to the work tree. NULL when path is in none
 * (reported to diags).
 */
PgcGitRepo *source_git_discover(const char *path, char **rel, PgcDiagList *diags);

void source_git_close(PgcGitRepo *r);

/* source_git_stale - true when the open's fetch failed and the clone was used as it was. */
bool source_git_stale(const PgcGitRepo *r);

/*
 * source_git_base_dir - the folder the tree's top stands for (work tree of
 * a local non-bare repository, else the current folder); malloc'd.
 */
char *source_git_base_dir(const PgcGitRepo *r);

/* source_git_name - the repository as recorded: absolute path, or the URL. */
const char *source_git_name(const PgcGitRepo *r);

/*
 * source_git_resolve - the commit ref names, as 40 hex digits in out.
 * 0, or -1 (reported to diags: unknown ref, with the branches as a hint).
 */
int source_git_resolve(PgcGitRepo *r, const char *ref, char out[SOURCE_OID_HEX + 1],
		       const char *display, PgcDiagList *diags);

/*
 * source_git_read - the blob at path in commit's tree (symbolic links in
 * the tree followed), malloc'd and NUL-terminated in *buf. 0; 1 when path
 * does not exist in the tree (reported only when report_missing); -1 on
 * other errors (reported).
 */
int source_git_read(PgcGitRepo *r, const char *commit, const char *path, char **buf, size_t *len,
		    bool report_missing, const char *display, PgcDiagList *diags);

/*
 * source_git_commit_info - committer time and first message line of a
 * commit (subject copied into a). 0, or -1 when unknown.
 */
int source_git_commit_info(PgcGitRepo *r, const char *commit, PgcArena *a, time_t *when,
			   const char **subject);

/*
 * source_git_descends - 1 when commit is ancestor or a descendant of it
 * (equal counts), 0 when not, -1 when ancestor is not in the repository.
 */
int source_git_descends(PgcGitRepo *r, const char *commit, const char *ancestor);

/*
 * source_git_verify - checks commit's ssh signature against the
 * allowed-signers file (ssh-keygen through common/proc.h, never a shell).
 * 0 with *signer (copied into a) the verified principal; -1 with the
 * reason in err (unsigned, gpg-signed, unknown key, bad signature, the
 * file missing or writable by others).
 */
int source_git_verify(PgcGitRepo *r, const char *commit, const char *allowed_signers,
		      PgcArena *a, const char **signer, char *err, size_t errlen);

/*
 * source_applied_read - the last applied source of state_dir into src
 * (reset first), its time into *applied_at and whether that apply converged
 * into *converged (may be NULL). 0; 1 when none was recorded; -1 when the
 * file cannot be read or parsed (reported).
 */
int source_applied_read(const char *state_dir, PgcSource *src, time_t *applied_at,
			bool *converged);

/*
 * source_applied_write - records src as applied at `at` (converged false:
 * some actions were held back by policy). 0, or -1 (reported).
 */
int source_applied_write(const char *state_dir, const PgcSource *src, time_t at, bool converged);

/*
 * source_check_rewind - for a git source: 0 when nothing was applied yet,
 * when the last applied source was not git, or when src's commit descends
 * from the last applied commit; otherwise -1 with an error naming both
 * commits and a hint (a force-push, or a stale ref). With allow_rewind, a
 * warning instead, and 0. -1 also when the state cannot be read.
 */
int source_check_rewind(const char *state_dir, const PgcSource *src, bool allow_rewind);

/* source_format_time - ISO 8601 UTC ("2026-11-26T09:41:00Z") into buf; returns buf. */
const char *source_format_time(time_t t, char *buf, size_t size);

/*
 * source_url_redacted - a repository URL without the password of its user
 * part ("https://user:token@host/x" -> "https://user@host/x"), for every
 * place it is shown or recorded. malloc'd.
 */
char *source_url_redacted(const char *url);

#endif
