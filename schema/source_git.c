/*
 * schema/source_git.c - topology files in git repositories read through
 * libgit2 at a commit, and signature checks (schema/source_git.h).
 */
#include "schema/source_git.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "common/digest.h"
#include "common/fsutil.h"
#include "common/lock.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/xalloc.h"

#define MAX_SYMLINK_HOPS 8
#define FETCH_LOCK_WAIT_MS 60000
#define SSH_KEYGEN_TIMEOUT_MS 30000

struct PgcGitRepo {
	git_repository *repo;
	char *name;        /* absolute path, or the URL without its password: for messages */
	char *url;         /* the URL as given (may hold a token): for fetching only */
	bool remote;
	bool stale;        /* fetch failed; the clone is used as it was */
	char *fetch_error; /* why, when stale */
};

static const PgcPos nowhere = {0, 0};

/* ---- small helpers ------------------------------------------------------- */

static const char *git_message(void)
{
	const git_error *e = git_error_last();

	return e != NULL && e->message != NULL ? e->message : "unknown libgit2 error";
}

/*
 * source_url_redacted - the URL with the password of its user part removed
 * ("https://user:token@host/x" -> "https://user@host/x"), so that journals,
 * plans, status and messages never carry it. malloc'd.
 */
char *source_url_redacted(const char *url)
{
	const char *scheme = strstr(url, "://"), *start, *at, *colon, *end;
	char *out;

	start = scheme != NULL ? scheme + 3 : url;
	end = start + strcspn(start, "/");
	at = memchr(start, '@', (size_t)(end - start));
	colon = at != NULL ? memchr(start, ':', (size_t)(at - start)) : NULL;
	if (colon == NULL)
		return xstrdup(url);
	if (asprintf(&out, "%.*s%s", (int)(colon - url), url, at) < 0)
		abort();
	return out;
}

/*
 * is_url - a remote: "scheme://..." (file:// included), or git's scp-like
 * "host:path" / "user@host:path" (a colon before any slash) that is not an
 * existing local path.
 */
static bool is_url(const char *s)
{
	const char *colon = strchr(s, ':'), *slash = strchr(s, '/');

	if (strstr(s, "://") != NULL)
		return true;
	return colon != NULL && colon != s && (slash == NULL || colon < slash) && !fs_exists(s);
}

/* ---- opening repositories ------------------------------------------------ */

/* credentials - ssh through the agent, once; anything else is not offered. */
static int credentials(git_credential **out, const char *url, const char *user_from_url,
		       unsigned int allowed, void *payload)
{
	int *tries = payload;
	const char *user = user_from_url != NULL ? user_from_url : "git";

	(void)url;
	if ((*tries)++ > 0)
		return GIT_PASSTHROUGH; /* the agent's keys were refused: stop asking */
	if (allowed & GIT_CREDENTIAL_SSH_KEY)
		return git_credential_ssh_key_from_agent(out, user);
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user);
	return GIT_PASSTHROUGH;
}

static bool has_refs(git_repository *repo)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	bool any;

	if (git_reference_iterator_new(&it, repo) != 0)
		return false;
	any = git_reference_next(&ref, it) == 0;
	git_reference_free(ref);
	git_reference_iterator_free(it);
	return any;
}

/*
 * fetch - branches and tags mirrored from url (pruned), HEAD set to the
 * remote's default branch. 0, or -1 with the reason in *why (malloc'd).
 *
 * The remote is anonymous, with its refspecs given here and no insteadOf
 * rewriting: libgit2 1.5 leaks a regex match block on every configuration
 * lookup of a named remote, which a reconcile loop fetching every pass
 * cannot afford.
 */
static int fetch(git_repository *repo, const char *url, char **why)
{
	static char *refspecs[] = {"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"};
	git_strarray specs = {refspecs, 2};
	git_remote_create_options co;
	git_remote *remote = NULL;
	git_fetch_options fo;
	git_buf head = {NULL, 0, 0};
	int tries = 0, rc = -1;

	git_remote_create_options_init(&co, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	co.repository = repo;
	co.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.callbacks.credentials = credentials;
	fo.callbacks.payload = &tries;
	fo.prune = GIT_FETCH_PRUNE;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE; /* the refspec takes them all */
	if (git_remote_create_with_opts(&remote, url, &co) != 0 ||
	    git_remote_fetch(remote, &specs, &fo, "pgconverge: fetch") != 0) {
		*why = xstrdup(git_message());
		goto cleanup;
	}
	/* The remote's HEAD: what REF "HEAD" means, as in the remote itself. */
	if (git_remote_default_branch(&head, remote) == 0 &&
	    git_repository_set_head(repo, head.ptr) != 0)
		log_debug("cannot point HEAD of the clone at \"%s\": %s", head.ptr, git_message());
	rc = 0;
cleanup:
	git_buf_dispose(&head);
	git_remote_free(remote);
	return rc;
}

/*
 * open_remote - the bare clone of url in state_dir/git/<id>/repo.git,
 * created and fetched under a lock of its own, so that two runs never
 * fetch into it at once.
 */
static int open_remote(PgcGitRepo *r, const char *state_dir, bool do_fetch, bool allow_stale,
		       const char *display, PgcDiagList *diags)
{
	char hex[DIGEST_HEX_LEN + 1], sub[32], *dir, *path, *why = NULL;
	PgcLock lock;
	bool created = false;
	int rc = -1;

	digest_sha256_hex(r->name, strlen(r->name), hex);
	snprintf(sub, sizeof sub, "git/%.16s", hex);
	dir = fs_path_join(state_dir, sub);
	path = fs_path_join(dir, "repo.git");
	if (lock_acquire(dir, FETCH_LOCK_WAIT_MS, &lock) != 0) {
		diag_error(diags, display, nowhere, NULL, NULL,
			   "cannot lock the clone of \"%s\" in \"%s\"", r->name, dir);
		goto cleanup;
	}
	if (fs_exists(path)) {
		if (git_repository_open_bare(&r->repo, path) != 0) {
			diag_error(diags, display, nowhere, NULL,
				   "move the folder away; the next run clones again",
				   "cannot open the clone \"%s\" of \"%s\": %s", path, r->name,
				   git_message());
			goto unlock;
		}
	} else {
		char *url_file = fs_path_join(dir, "url");

		if (!do_fetch) {
			diag_error(diags, display, nowhere, NULL,
				   "run 'pgconverge validate' or 'plan' with this --git first",
				   "\"%s\" has not been fetched into \"%s\" yet", r->name, state_dir);
			goto unlock;
		}
		/* For a person looking at the state folder: whose clone this is. */
		if (fs_write_atomic(url_file, r->name, strlen(r->name), 0600, FS_NO_UID, FS_NO_GID,
				    NULL) != 0) {
			free(url_file);
			goto unlock;
		}
		free(url_file);
		if (git_repository_init(&r->repo, path, 1) != 0) {
			diag_error(diags, display, nowhere, NULL, NULL,
				   "cannot create a clone of \"%s\" in \"%s\": %s", r->name, path,
				   git_message());
			goto unlock;
		}
		created = true;
	}
	if (do_fetch && fetch(r->repo, r->url, &why) != 0) {
		if (created || !has_refs(r->repo)) {
			diag_error(diags, display, nowhere, NULL,
				   "check the URL, the network and the credentials (ssh: the agent's "
				   "keys, and the host in ~/.ssh/known_hosts)",
				   "cannot fetch \"%s\": %s", r->name, why);
			goto unlock;
		}
		if (!allow_stale) {
			diag_error(diags, display, nowhere, NULL,
				   "check the network and the credentials; 'reconcile' goes on with "
				   "the last fetched commit",
				   "cannot fetch \"%s\": %s", r->name, why);
			goto unlock;
		}
		r->stale = true;
		r->fetch_error = why;
		why = NULL;
	}
	rc = 0;
unlock:
	lock_release(&lock);
cleanup:
	free(why);
	free(path);
	free(dir);
	return rc;
}

PgcGitRepo *source_git_open(const char *repository, const char *state_dir, bool do_fetch,
			    bool allow_stale, const char *display, PgcDiagList *diags)
{
	PgcGitRepo *r = calloc(1, sizeof(*r));

	if (r == NULL)
		abort();
	git_libgit2_init();
	r->remote = is_url(repository);
	if (r->remote) {
		r->name = source_url_redacted(repository);
		r->url = xstrdup(repository);
		if (open_remote(r, state_dir, do_fetch, allow_stale, display, diags) != 0)
			goto fail;
		return r;
	}
	r->name = fs_path_resolve(NULL, repository);
	if (r->name == NULL)
		goto fail;
	if (!fs_exists(r->name)) {
		diag_error(diags, display, nowhere, NULL,
			   "give the repository's folder, or a URL (file://, https://, ssh://)",
			   "repository \"%s\" does not exist", repository);
		goto fail;
	}
	if (git_repository_open_ext(&r->repo, r->name, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) != 0) {
		diag_error(diags, display, nowhere, NULL,
			   "give the top folder of a work tree, its .git folder or a bare repository",
			   "\"%s\" is not a git repository: %s", repository, git_message());
		goto fail;
	}
	return r;
fail:
	source_git_close(r);
	return NULL;
}

PgcGitRepo *source_git_discover(const char *path, char **rel, PgcDiagList *diags)
{
	PgcGitRepo *r = calloc(1, sizeof(*r));
	char *dir = fs_path_dir(path), *real_dir = NULL, *real_top = NULL, *file = NULL;
	const char *workdir;
	size_t n;

	if (r == NULL)
		abort();
	*rel = NULL;
	git_libgit2_init();
	real_dir = realpath(dir, NULL);
	if (real_dir == NULL) {
		diag_error(diags, path, nowhere, NULL, NULL, "cannot find the folder of \"%s\": %s",
			   path, strerror(errno));
		goto fail;
	}
	if (git_repository_open_ext(&r->repo, real_dir, 0, NULL) != 0) {
		diag_error(diags, path, nowhere, NULL,
			   "--base reads the file's earlier version from its git repository",
			   "\"%s\" is not inside a git work tree: %s", path, git_message());
		goto fail;
	}
	workdir = git_repository_workdir(r->repo);
	if (workdir == NULL || (real_top = realpath(workdir, NULL)) == NULL) {
		diag_error(diags, path, nowhere, NULL, NULL,
			   "the repository of \"%s\" has no work tree", path);
		goto fail;
	}
	n = strlen(real_top);
	if (strcmp(real_top, "/") == 0)
		n = 0;
	if (strncmp(real_dir, real_top, n) != 0 || (real_dir[n] != '/' && real_dir[n] != '\0')) {
		diag_error(diags, path, nowhere, NULL, NULL, "\"%s\" is not below the work tree \"%s\"",
			   path, real_top);
		goto fail;
	}
	file = strrchr(path, '/') ? strrchr(path, '/') + 1 : (char *)path;
	if (real_dir[n] == '\0')
		*rel = xstrdup(file);
	else
		*rel = fs_path_join(real_dir + n + 1, file);
	r->name = xstrdup(real_top);
	free(dir);
	free(real_dir);
	free(real_top);
	return r;
fail:
	free(dir);
	free(real_dir);
	free(real_top);
	source_git_close(r);
	return NULL;
}

void source_git_close(PgcGitRepo *r)
{
	if (r == NULL)
		return;
	git_repository_free(r->repo);
	free(r->name);
	free(r->url);
	free(r->fetch_error);
	free(r);
	git_libgit2_shutdown();
}

bool source_git_stale(const PgcGitRepo *r)
{
	return r->stale;
}

const char *source_git_fetch_error(const PgcGitRepo *r)
{
	return r->stale ? r->fetch_error : NULL;
}

const char *source_git_name(const PgcGitRepo *r)
{
	return r->name;
}

char *source_git_base_dir(const PgcGitRepo *r)
{
	const char *wd = r->remote ? NULL : git_repository_workdir(r->repo);

	return fs_path_resolve(NULL, wd != NULL ? wd : ".");
}

/* ---- commits and files --------------------------------------------------- */

/* branch_list - "main, dev, ..." (up to 8) for hints; malloc'd, NULL when none. */
static char *branch_list(git_repository *repo)
{
	git_branch_iterator *it = NULL;
	git_reference *ref = NULL;
	git_branch_t type;
	char buf[512] = "";
	size_t used = 0, n = 0;

	if (git_branch_iterator_new(&it, repo, GIT_BRANCH_LOCAL) != 0)
		return NULL;
	while (git_branch_next(&ref, &type, it) == 0) {
		const char *name = NULL;

		if (git_branch_name(&name, ref) == 0 && used < sizeof(buf)) {
			if (n++ == 8)
				used += (size_t)snprintf(buf + used, sizeof(buf) - used, ", ...");
			else if (n <= 8)
				used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s",
							 used ? ", " : "", name);
		}
		git_reference_free(ref);
		ref = NULL;
	}
	git_branch_iterator_free(it);
	return n > 0 ? xstrdup(buf) : NULL;
}

int source_git_resolve(PgcGitRepo *r, const char *ref, char out[SOURCE_OID_HEX + 1],
		       const char *display, PgcDiagList *diags)
{
	git_object *obj = NULL, *commit = NULL;
	int err, rc = -1;

	err = git_revparse_single(&obj, r->repo, ref);
	if (err != 0) {
		char *branches = branch_list(r->repo), *hint = NULL;

		if (err == GIT_ENOTFOUND || err == GIT_EINVALIDSPEC) {
			if (branches != NULL && asprintf(&hint, "give a branch, a tag or a commit id; "
						 "branches: %s", branches) < 0)
				abort();
			diag_error(diags, display, nowhere, NULL,
				   hint != NULL ? hint
						: "the repository has no branches: is it empty?",
				   "ref \"%s\" not found in \"%s\"", ref, r->name);
		} else if (err == GIT_EAMBIGUOUS) {
			diag_error(diags, display, nowhere, NULL,
				   "give more digits of the commit id, or a full ref such as "
				   "refs/heads/NAME",
				   "ref \"%s\" is ambiguous in \"%s\"", ref, r->name);
		} else {
			diag_error(diags, display, nowhere, NULL, NULL,
				   "cannot resolve ref \"%s\" in \"%s\": %s", ref, r->name,
				   git_message());
		}
		free(hint);
		free(branches);
		return -1;
	}
	if (git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) != 0) {
		diag_error(diags, display, nowhere, NULL, "give a branch, a tag or a commit id",
			   "ref \"%s\" of \"%s\" does not name a commit", ref, r->name);
		goto cleanup;
	}
	git_oid_tostr(out, SOURCE_OID_HEX + 1, git_object_id(commit));
	rc = 0;
cleanup:
	git_object_free(commit);
	git_object_free(obj);
	return rc;
}

static int lookup_commit(PgcGitRepo *r, const char *hex, git_commit **out)
{
	git_oid oid;

	*out = NULL;
	if (git_oid_fromstrn(&oid, hex, strlen(hex)) != 0)
		return -1;
	if (strlen(hex) < GIT_OID_HEXSZ)
		return git_commit_lookup_prefix(out, r->repo, &oid, strlen(hex));
	return git_commit_lookup(out, r->repo, &oid);
}

char *source_git_tree_path(const char *path)
{
	char *n;

	if (path[0] == '/')
		return NULL;
	n = fs_path_normalize(path);
	if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strncmp(n, "../", 3) == 0) {
		free(n);
		return NULL;
	}
	return n;
}

/* top_entries - the .yaml/.yml files at the top of the tree, for a hint; malloc'd or NULL. */
static char *top_entries(git_tree *tree)
{
	char buf[512] = "";
	size_t i, used = 0, n = 0;

	for (i = 0; i < git_tree_entrycount(tree) && used < sizeof(buf); i++) {
		const char *name = git_tree_entry_name(git_tree_entry_byindex(tree, i));
		size_t len = strlen(name);

		if ((len > 5 && strcmp(name + len - 5, ".yaml") == 0) ||
		    (len > 4 && strcmp(name + len - 4, ".yml") == 0)) {
			used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", n ? ", " : "",
						 name);
			n++;
		}
	}
	return n > 0 ? xstrdup(buf) : NULL;
}

int source_git_read(PgcGitRepo *r, const char *commit_hex, const char *path, char **buf,
		    size_t *len, bool report_missing, const char *display, PgcDiagList *diags)
{
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	git_tree_entry *entry = NULL;
	git_blob *blob = NULL;
	char *p = source_git_tree_path(path), short_id[13];
	int hops, rc = -1;

	*buf = NULL;
	*len = 0;
	snprintf(short_id, sizeof short_id, "%.12s", commit_hex);
	if (p == NULL) {
		diag_error(diags, display, nowhere, NULL,
			   "give the file's path from the top of the repository, e.g. "
			   "clusters/prod.yaml",
			   "path \"%s\" is not a file path inside the repository", path);
		return -1;
	}
	if (lookup_commit(r, commit_hex, &commit) != 0 || git_commit_tree(&tree, commit) != 0) {
		diag_error(diags, display, nowhere, NULL, NULL, "cannot read commit %s of \"%s\": %s",
			   short_id, r->name, git_message());
		goto cleanup;
	}
	for (hops = 0;; hops++) {
		git_tree_entry_free(entry);
		entry = NULL;
		if (git_tree_entry_bypath(&entry, tree, p) != 0) {
			if (report_missing) {
				char *files = top_entries(tree), *hint = NULL;

				if (files != NULL && asprintf(&hint, "YAML files at the top of the tree: %s",
							      files) < 0)
					abort();
				diag_error(diags, display, nowhere, NULL,
					   hint != NULL ? hint : "check --path",
					   "\"%s\" does not exist in commit %s of \"%s\"", p, short_id,
					   r->name);
				free(hint);
				free(files);
			}
			rc = 1;
			goto cleanup;
		}
		if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB) {
			diag_error(diags, display, nowhere, NULL, "give the path of the topology file",
				   "\"%s\" in commit %s of \"%s\" is not a file", p, short_id, r->name);
			goto cleanup;
		}
		git_blob_free(blob);
		blob = NULL;
		if (git_blob_lookup(&blob, r->repo, git_tree_entry_id(entry)) != 0) {
			diag_error(diags, display, nowhere, NULL, NULL, "cannot read \"%s\" in commit %s: %s",
				   p, short_id, git_message());
			goto cleanup;
		}
		if (git_tree_entry_filemode(entry) != GIT_FILEMODE_LINK)
			break;
		/* A symbolic link in the tree: its target, relative to its folder. */
		if (hops == MAX_SYMLINK_HOPS) {
			diag_error(diags, display, nowhere, NULL, NULL,
				   "too many symbolic links from \"%s\" in commit %s", path, short_id);
			goto cleanup;
		}
		{
			char *target = strndup(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
			char *dir = fs_path_dir(p), *joined, *np;

			if (target == NULL)
				abort();
			joined = target[0] == '/' ? xstrdup(target) : fs_path_join(dir, target);
			np = source_git_tree_path(joined);
			free(dir);
			free(joined);
			if (np == NULL) {
				diag_error(diags, display, nowhere, NULL, NULL,
					   "\"%s\" in commit %s is a symbolic link out of the tree (%s)", p,
					   short_id, target);
				free(target);
				goto cleanup;
			}
			free(target);
			free(p);
			p = np;
		}
	}
	if (git_blob_rawsize(blob) > SOURCE_MAX_TOPOLOGY_BYTES) {
		diag_error(diags, display, nowhere, NULL, NULL,
			   "\"%s\" in commit %s is larger than %d MB", p, short_id,
			   SOURCE_MAX_TOPOLOGY_BYTES >> 20);
		goto cleanup;
	}
	*len = (size_t)git_blob_rawsize(blob);
	*buf = malloc(*len + 1);
	if (*buf == NULL)
		abort();
	memcpy(*buf, git_blob_rawcontent(blob), *len);
	(*buf)[*len] = '\0';
	rc = 0;
cleanup:
	git_blob_free(blob);
	git_tree_entry_free(entry);
	git_tree_free(tree);
	git_commit_free(commit);
	free(p);
	return rc;
}

int source_git_commit_info(PgcGitRepo *r, const char *commit_hex, PgcArena *a, time_t *when,
			   const char **subject)
{
	git_commit *c = NULL;
	const char *s;

	if (lookup_commit(r, commit_hex, &c) != 0)
		return -1;
	*when = (time_t)git_commit_time(c);
	s = git_commit_summary(c);
	*subject = arena_strdup(a, s != NULL ? s : "");
	git_commit_free(c);
	return 0;
}

int source_git_descends(PgcGitRepo *r, const char *commit_hex, const char *ancestor_hex)
{
	git_commit *c = NULL, *anc = NULL;
	int rc;

	if (lookup_commit(r, ancestor_hex, &anc) != 0)
		return -1;
	if (lookup_commit(r, commit_hex, &c) != 0) {
		git_commit_free(anc);
		return -1;
	}
	if (git_oid_equal(git_commit_id(c), git_commit_id(anc)))
		rc = 1;
	else
		rc = git_graph_descendant_of(r->repo, git_commit_id(c), git_commit_id(anc)) == 1;
	git_commit_free(c);
	git_commit_free(anc);
	return rc;
}

/* ---- signatures ---------------------------------------------------------- */

#define SSH_SIG_HEADER "-----BEGIN SSH SIGNATURE-----"

/* check_signers_file - exists, regular, not writable by others: it decides who may deploy. */
static int check_signers_file(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "allowed signers file \"%s\": %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "allowed signers file \"%s\" is not a regular file", path);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen,
			 "allowed signers file \"%s\" is writable by group or others (mode %04o): "
			 "anyone could add a key",
			 path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* first_line - the first line of s, at most size-1 bytes, into buf. */
static const char *first_line(const char *s, char *buf, size_t size)
{
	size_t n = strcspn(s, "\n");

	if (n >= size)
		n = size - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

/* run_keygen - ssh-keygen with argv; 0 when it exited 0, output in *out (malloc'd). */
static int run_keygen(const char *const *argv, const char *input, char **out, char *err,
		      size_t errlen)
{
	PgcProcSpec spec = {.argv = argv, .timeout_ms = SSH_KEYGEN_TIMEOUT_MS, .stdin_data = input,
			    .max_output = 64 * 1024};
	PgcProcResult res;
	char status[128], line[256];
	int rc = -1;

	*out = NULL;
	if (proc_run(&spec, &res) != 0) {
		snprintf(err, errlen, "cannot run ssh-keygen (OpenSSH 8.2 or later is needed)");
		return -1;
	}
	if (res.status == 0 && !res.timed_out) {
		*out = xstrdup(res.output);
		rc = 0;
	} else {
		snprintf(err, errlen, "ssh-keygen %s %s: %s", argv[2],
			 proc_status_text(&res, status, sizeof status),
			 first_line(res.output, line, sizeof line));
	}
	proc_result_free(&res);
	return rc;
}

int source_git_verify(PgcGitRepo *r, const char *commit_hex, const char *allowed_signers,
		      PgcArena *a, const char **signer, char *err, size_t errlen)
{
	git_buf sig = {NULL, 0, 0}, data = {NULL, 0, 0};
	git_commit *c = NULL;
	char tmpl[PATH_MAX], *dir = NULL, *sig_path = NULL, *out = NULL;
	char when[32], principal[256], short_id[13];
	const char *tmp = getenv("TMPDIR");
	struct tm tm;
	time_t t;
	int rc = -1, e;

	*signer = NULL;
	snprintf(short_id, sizeof short_id, "%.12s", commit_hex);
	if (check_signers_file(allowed_signers, err, errlen) != 0)
		return -1;
	if (lookup_commit(r, commit_hex, &c) != 0) {
		snprintf(err, errlen, "cannot read commit %s: %s", short_id, git_message());
		return -1;
	}
	e = git_commit_extract_signature(&sig, &data, r->repo, (git_oid *)git_commit_id(c), NULL);
	if (e == GIT_ENOTFOUND) {
		snprintf(err, errlen, "commit %s is not signed", short_id);
		goto cleanup;
	}
	if (e != 0) {
		snprintf(err, errlen, "cannot read the signature of commit %s: %s", short_id,
			 git_message());
		goto cleanup;
	}
	if (strncmp(sig.ptr, SSH_SIG_HEADER, strlen(SSH_SIG_HEADER)) != 0) {
		snprintf(err, errlen,
			 "commit %s has a signature other than ssh (gpg?): only ssh signatures "
			 "are verified",
			 short_id);
		goto cleanup;
	}
	if (strlen(data.ptr) != data.size) {
		snprintf(err, errlen, "commit %s holds a NUL byte", short_id);
		goto cleanup;
	}
	/* ssh-keygen reads the signature from a file: a private folder for it. */
	snprintf(tmpl, sizeof tmpl, "%s/pgconverge-sig.XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
	dir = mkdtemp(tmpl);
	if (dir == NULL) {
		snprintf(err, errlen, "cannot create a temporary folder in \"%s\": %s",
			 tmp != NULL && *tmp ? tmp : "/tmp", strerror(errno));
		goto cleanup;
	}
	sig_path = fs_path_join(dir, "commit.sig");
	if (fs_write_atomic(sig_path, sig.ptr, sig.size, 0600, FS_NO_UID, FS_NO_GID, NULL) != 0) {
		snprintf(err, errlen, "cannot write the signature to \"%s\"", sig_path);
		goto cleanup;
	}
	/* Keys with a validity window are checked at the commit's time, as git does. */
	t = (time_t)git_commit_time(c);
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "-Overify-time=%Y%m%d%H%M%SZ", &tm);
	{
		const char *argv[] = {"ssh-keygen", "-Y", "find-principals", "-f", allowed_signers,
				      "-s", sig_path, when, NULL};

		if (run_keygen(argv, NULL, &out, err, errlen) != 0) {
			char reason[256];

			snprintf(reason, sizeof reason, "%s", err);
			snprintf(err, errlen,
				 "the key that signed commit %s is not in the allowed signers file "
				 "\"%s\" (%s)",
				 short_id, allowed_signers, reason);
			goto cleanup;
		}
	}
	first_line(out, principal, sizeof principal);
	free(out);
	out = NULL;
	{
		const char *argv[] = {"ssh-keygen", "-Y", "verify", "-n", "git", "-f", allowed_signers,
				      "-I", principal, "-s", sig_path, when, NULL};

		if (run_keygen(argv, data.ptr, &out, err, errlen) != 0) {
			char reason[256];

			snprintf(reason, sizeof reason, "%s", err);
			snprintf(err, errlen, "the signature of commit %s does not verify (%s)", short_id,
				 reason);
			goto cleanup;
		}
	}
	*signer = arena_strdup(a, principal);
	rc = 0;
cleanup:
	free(out);
	if (sig_path != NULL) {
		unlink(sig_path);
		free(sig_path);
	}
	if (dir != NULL)
		rmdir(dir);
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	git_commit_free(c);
	return rc;
}
