/*
 * schema/source_git.h - topology files in git repositories, read through
 * libgit2 at a commit, and their commits' ssh signatures.
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
 * Errors: functions taking a PgcDiagList report there, named after the
 * source's display name (the loader's convention, so `validate` prints them
 * like any other problem of the file). libgit2 is initialised and shut
 * down by open/close.
 */
#ifndef PGC_SCHEMA_SOURCE_GIT_H
#define PGC_SCHEMA_SOURCE_GIT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/arena.h"
#include "common/diag.h"

#define SOURCE_OID_HEX 40
/* The largest topology file read, from a tree or from disk. */
#define SOURCE_MAX_TOPOLOGY_BYTES (64 * 1024 * 1024)
/* Default allowed-signers file, inside the state directory. */
#define SOURCE_ALLOWED_SIGNERS "allowed_signers"

typedef struct PgcGitRepo PgcGitRepo;

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

/* source_git_fetch_error - why the fetch failed, when stale; else NULL. */
const char *source_git_fetch_error(const PgcGitRepo *r);

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
 * source_git_tree_path - path as a tree path: relative, normalised, inside
 * the tree; malloc'd, or NULL when it is absolute or leaves the tree.
 */
char *source_git_tree_path(const char *path);

/*
 * source_url_redacted - a repository URL without the password of its user
 * part ("https://user:token@host/x" -> "https://user@host/x"), for every
 * place it is shown or recorded. malloc'd.
 */
char *source_url_redacted(const char *url);

#endif
