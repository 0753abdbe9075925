/*
 * tests/unit/test_source.c - schema/source.c and reconcile/engine/plan_offline.c:
 * topologies read from real git repositories (made here with libgit2, in a
 * temporary folder), the no-rollback rule, signatures checked by the real
 * ssh-keygen, and offline plans between two revisions. No server.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <git2.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/proc.h"
#include "reconcile/plan_offline.h"
#include "schema/source.h"
#include "schema/source_applied.h"

static char tmpdir[] = "/tmp/pgc-source-XXXXXX";
static char *repo_dir, *state_dir;

/* One node; max_connections is postmaster context, work_mem user context. */
static const char topo_v1[] =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 25432, data_dir: data/pg1}\n"
	"    settings:\n"
	"      max_connections: 100\n"
	"      work_mem: 4MB\n"
	"    maintenance: {restart: window, window: \"Sun 02:00-04:00 UTC\"}\n";

static const char topo_v2[] =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 25432, data_dir: data/pg1}\n"
	"    settings:\n"
	"      max_connections: 200\n"
	"      work_mem: 16MB\n"
	"    maintenance: {restart: window, window: \"Sun 02:00-04:00 UTC\"}\n";

/* ---- fixtures: repositories made with libgit2 ---------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	git_libgit2_init();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	git_libgit2_shutdown();
	return nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Each test gets fresh folders. */
static int fresh(void **state)
{
	static int n;
	char name[64];

	(void)state;
	free(repo_dir);
	free(state_dir);
	snprintf(name, sizeof name, "repo%d", ++n);
	repo_dir = fs_path_join(tmpdir, name);
	snprintf(name, sizeof name, "state%d", n);
	state_dir = fs_path_join(tmpdir, name);
	return 0;
}

static git_repository *new_repo(const char *dir)
{
	git_repository *r = NULL;

	assert_int_equal(git_repository_init(&r, dir, 0), 0);
	assert_int_equal(git_repository_set_head(r, "refs/heads/main"), 0);
	return r;
}

/*
 * commit - a commit on refs/heads/main whose tree holds path -> content
 * (and, when link is given, link -> a symbolic link to path), with parent
 * the current main (if any). signature_text, when given, is stored as the
 * commit's gpgsig. Returns the commit id as hex in out.
 */
static void commit_full(git_repository *r, const char *path, const char *content, const char *link,
			const char *message, char out[41], char *(*sign)(const char *))
{
	git_signature *sig = NULL;
	git_treebuilder *tb = NULL;
	git_oid blob, tree_id, commit_id, link_blob;
	git_tree *tree = NULL;
	git_commit *parent = NULL;
	git_reference *head = NULL;
	const git_commit *parents[1];
	size_t n_parents = 0;

	assert_int_equal(git_signature_new(&sig, "Ops", "ops@example.com", 1795680000, 0), 0);
	assert_int_equal(git_blob_create_from_buffer(&blob, r, content, strlen(content)), 0);
	assert_int_equal(git_treebuilder_new(&tb, r, NULL), 0);
	assert_int_equal(git_treebuilder_insert(NULL, tb, path, &blob, GIT_FILEMODE_BLOB), 0);
	if (link != NULL) {
		assert_int_equal(git_blob_create_from_buffer(&link_blob, r, path, strlen(path)), 0);
		assert_int_equal(git_treebuilder_insert(NULL, tb, link, &link_blob, GIT_FILEMODE_LINK), 0);
	}
	assert_int_equal(git_treebuilder_write(&tree_id, tb), 0);
	assert_int_equal(git_tree_lookup(&tree, r, &tree_id), 0);
	if (git_reference_lookup(&head, r, "refs/heads/main") == 0) {
		assert_int_equal(git_commit_lookup(&parent, r, git_reference_target(head)), 0);
		parents[n_parents++] = parent;
	}
	if (sign == NULL) {
		assert_int_equal(git_commit_create(&commit_id, r, "refs/heads/main", sig, sig, NULL,
						   message, tree, n_parents, parents),
				 0);
	} else {
		git_buf buf = {NULL, 0, 0};
		char *signature;
		git_reference *ref = NULL;

		assert_int_equal(git_commit_create_buffer(&buf, r, sig, sig, NULL, message, tree,
							  n_parents, parents),
				 0);
		signature = sign(buf.ptr);
		assert_int_equal(git_commit_create_with_signature(&commit_id, r, buf.ptr, signature,
								  "gpgsig"),
				 0);
		assert_int_equal(git_reference_create(&ref, r, "refs/heads/main", &commit_id, 1, "test"),
				 0);
		git_reference_free(ref);
		git_buf_dispose(&buf);
		free(signature);
	}
	git_oid_tostr(out, 41, &commit_id);
	git_reference_free(head);
	git_commit_free(parent);
	git_tree_free(tree);
	git_treebuilder_free(tb);
	git_signature_free(sig);
}

static void commit(git_repository *r, const char *content, const char *message, char out[41])
{
	commit_full(r, "pgconverge.yaml", content, NULL, message, out, NULL);
}

static void reset_main(git_repository *r, const char *hex)
{
	git_oid oid;
	git_reference *ref = NULL;

	assert_int_equal(git_oid_fromstr(&oid, hex), 0);
	assert_int_equal(git_reference_create(&ref, r, "refs/heads/main", &oid, 1, "reset"), 0);
	git_reference_free(ref);
}

static PgcGitSpec spec_for(const char *repository, const char *ref)
{
	PgcGitSpec s;

	memset(&s, 0, sizeof s);
	s.repository = repository;
	s.ref = ref;
	s.path = "pgconverge.yaml";
	s.state_dir = state_dir;
	s.display = "test-source";
	return s;
}

static PgcTopology *load(const PgcGitSpec *s, PgcSource *src, PgcDiagList *diags)
{
	PgcLoadOptions lo = {.offline = true};

	return source_load_git(s, &lo, src, diags);
}

/* only_error - the one diagnostic is an error with this message (and hint, unless NULL). */
static void only_error(const PgcDiagList *d, const char *message, const char *hint)
{
	assert_int_equal(d->n, 1);
	assert_int_equal(d->items[0].level, DIAG_ERROR);
	assert_string_equal(d->items[0].message, message);
	if (hint != NULL)
		assert_string_equal(d->items[0].hint, hint);
}

/* ---- loading -------------------------------------------------------------- */

static void test_load_two_commits(void **state)
{
	git_repository *r;
	char c1[41], c2[41], expect[512];
	PgcGitSpec s;
	PgcSource src = {0};
	PgcDiagList diags = {0};
	PgcTopology *t;
	FILE *f;

	(void)state;
	r = new_repo(repo_dir);
	commit(r, topo_v1, "first", c1);
	commit(r, topo_v2, "second", c2);
	/* The work tree holds something else: the commit's tree is what counts. */
	snprintf(expect, sizeof expect, "%s/pgconverge.yaml", repo_dir);
	f = fopen(expect, "w");
	assert_non_null(f);
	fputs("not: [valid\n", f);
	fclose(f);

	s = spec_for(repo_dir, "main~1");
	t = load(&s, &src, &diags);
	assert_non_null(t);
	assert_int_equal(diags.n, 0);
	assert_string_equal(src.kind, "git");
	assert_string_equal(src.commit, c1);
	assert_string_equal(src.ref, "main~1");
	assert_string_equal(src.path, "pgconverge.yaml");
	assert_string_equal(src.repository, repo_dir);
	assert_string_equal(src.subject, "first");
	assert_int_equal(src.commit_time, 1795680000);
	assert_string_equal(node_setting(&t->clusters[0].nodes[0], "max_connections")->value, "100");
	/* Relative paths resolve inside the tree, placed at the work tree. */
	snprintf(expect, sizeof expect, "%s/data/pg1", repo_dir);
	assert_string_equal(t->clusters[0].nodes[0].data_dir.v, expect);
	topology_free(t);

	s = spec_for(repo_dir, "main");
	t = load(&s, &src, &diags);
	assert_non_null(t);
	assert_string_equal(src.commit, c2);
	assert_string_equal(node_setting(&t->clusters[0].nodes[0], "max_connections")->value, "200");
	topology_free(t);

	s = spec_for(repo_dir, c1);
	t = load(&s, &src, &diags);
	assert_non_null(t);
	assert_string_equal(src.commit, c1);
	topology_free(t);
	source_reset(&src);
	git_repository_free(r);
}

static void test_load_errors(void **state)
{
	git_repository *r;
	char c1[41], msg[1024], missing[512];
	PgcGitSpec s;
	PgcSource src = {0};
	PgcDiagList diags = {0};

	(void)state;
	r = new_repo(repo_dir);
	commit(r, topo_v1, "first", c1);

	s = spec_for(repo_dir, "nope");
	assert_null(load(&s, &src, &diags));
	snprintf(msg, sizeof msg, "ref \"nope\" not found in \"%s\"", repo_dir);
	only_error(&diags, msg, "give a branch, a tag or a commit id; branches: main");
	diag_free(&diags);

	s = spec_for(repo_dir, "main");
	s.path = "clusters/prod.yaml";
	assert_null(load(&s, &src, &diags));
	snprintf(msg, sizeof msg, "\"clusters/prod.yaml\" does not exist in commit %.12s of \"%s\"", c1,
		 repo_dir);
	only_error(&diags, msg, "YAML files at the top of the tree: pgconverge.yaml");
	diag_free(&diags);

	s.path = "../outside.yaml";
	assert_null(load(&s, &src, &diags));
	only_error(&diags, "path \"../outside.yaml\" is not a file path inside the repository", NULL);
	diag_free(&diags);

	snprintf(missing, sizeof missing, "%s/missing", tmpdir);
	s = spec_for(missing, "main");
	assert_null(load(&s, &src, &diags));
	snprintf(msg, sizeof msg, "repository \"%s\" does not exist", missing);
	only_error(&diags, msg, "give the repository's folder, or a URL (file://, https://, ssh://)");
	assert_string_equal(diags.items[0].file, "test-source");
	diag_free(&diags);

	s = spec_for(tmpdir, "main");
	assert_null(load(&s, &src, &diags));
	assert_int_equal(diags.n, 1);
	snprintf(msg, sizeof msg, "\"%s\" is not a git repository: ", tmpdir);
	assert_memory_equal(diags.items[0].message, msg, strlen(msg));
	diag_free(&diags);
	source_reset(&src);
	git_repository_free(r);
}

static void test_symlink_in_tree(void **state)
{
	git_repository *r;
	char c1[41];
	PgcGitSpec s;
	PgcSource src = {0};
	PgcDiagList diags = {0};
	PgcTopology *t;

	(void)state;
	r = new_repo(repo_dir);
	commit_full(r, "real.yaml", topo_v2, "pgconverge.yaml", "linked", c1, NULL);
	s = spec_for(repo_dir, "main");
	t = load(&s, &src, &diags);
	assert_non_null(t);
	assert_int_equal(diags.n, 0);
	assert_string_equal(node_setting(&t->clusters[0].nodes[0], "work_mem")->value, "16MB");
	topology_free(t);
	source_reset(&src);
	git_repository_free(r);
}

/* A remote (file://) is cloned into the state folder; when it is gone, only a stale-tolerant load goes on. */
static void test_remote_and_outage(void **state)
{
	git_repository *r;
	char c1[41], c2[41], url[600], moved[512], msg[1024];
	PgcGitSpec s;
	PgcSource src = {0};
	PgcDiagList diags = {0};
	PgcTopology *t;

	(void)state;
	r = new_repo(repo_dir);
	commit(r, topo_v1, "first", c1);
	snprintf(url, sizeof url, "file://%s", repo_dir);
	s = spec_for(url, "HEAD");
	t = load(&s, &src, &diags);
	assert_non_null(t);
	assert_int_equal(diags.n, 0);
	assert_string_equal(src.commit, c1);
	assert_string_equal(src.repository, url);
	assert_false(src.stale);
	topology_free(t);

	/* A new commit is fetched on the next load. */
	commit(r, topo_v2, "second", c2);
	t = load(&s, &src, &diags);
	assert_non_null(t);
	assert_string_equal(src.commit, c2);
	topology_free(t);
	git_repository_free(r);

	snprintf(moved, sizeof moved, "%s.moved", repo_dir);
	assert_int_equal(rename(repo_dir, moved), 0);
	t = load(&s, &src, &diags);
	assert_null(t);
	assert_int_equal(diags.n, 1);
	snprintf(msg, sizeof msg, "cannot fetch \"%s\": ", url);
	assert_memory_equal(diags.items[0].message, msg, strlen(msg));
	assert_string_equal(diags.items[0].hint, "check the network and the credentials; 'reconcile' "
						 "goes on with the last fetched commit");
	diag_free(&diags);

	s.allow_stale = true;
	t = load(&s, &src, &diags);
	assert_non_null(t);
	assert_true(src.stale);
	assert_string_equal(src.commit, c2);
	assert_int_equal(diags.n, 1);
	assert_int_equal(diags.items[0].level, DIAG_WARNING);
	snprintf(msg, sizeof msg, "; using the last fetched commit %.12s of \"HEAD\"", c2);
	assert_non_null(strstr(diags.items[0].message, msg));
	diag_free(&diags);
	topology_free(t);
	assert_int_equal(rename(moved, repo_dir), 0);
	source_reset(&src);
}

/* ---- no rollback ---------------------------------------------------------- */

static void test_rewind(void **state)
{
	git_repository *r;
	char c1[41], c2[41], expect[1024], *log;
	PgcGitSpec s;
	PgcSource src = {0}, last = {0};
	PgcDiagList diags = {0};
	PgcTopology *t;
	time_t at;
	bool converged = false;
	PgcGitRepo *g;

	(void)state;
	r = new_repo(repo_dir);
	commit(r, topo_v1, "first", c1);
	commit(r, topo_v2, "second", c2);

	g = source_git_open(repo_dir, state_dir, false, false, "x", &diags);
	assert_non_null(g);
	assert_int_equal(source_git_descends(g, c2, c1), 1);
	assert_int_equal(source_git_descends(g, c1, c1), 1);
	assert_int_equal(source_git_descends(g, c1, c2), 0);
	assert_int_equal(source_git_descends(g, c1, "0123456789012345678901234567890123456789"), -1);
	source_git_close(g);

	/* Nothing applied yet: anything goes. */
	s = spec_for(repo_dir, "main");
	t = load(&s, &src, &diags);
	assert_non_null(t);
	topology_free(t);
	assert_int_equal(source_applied_read(state_dir, &last, &at, NULL), 1);
	assert_int_equal(source_check_rewind(state_dir, &src, false), 0);
	assert_int_equal(source_applied_write(state_dir, &src, 1795690000, true), 0);
	assert_int_equal(source_applied_read(state_dir, &last, &at, &converged), 0);
	assert_string_equal(last.commit, c2);
	assert_string_equal(last.repository, repo_dir);
	assert_string_equal(last.ref, "main");
	assert_string_equal(last.path, "pgconverge.yaml");
	assert_int_equal(at, 1795690000);
	assert_true(converged);

	/* History rewritten: main reset to the first commit. */
	reset_main(r, c1);
	t = load(&s, &src, &diags);
	assert_non_null(t);
	topology_free(t);
	assert_string_equal(src.commit, c1);
	log_capture_begin();
	assert_int_equal(source_check_rewind(state_dir, &src, false), -1);
	log = log_capture_end();
	snprintf(expect, sizeof expect,
		 "error: commit %.12s (ref \"main\") does not descend from the last applied commit "
		 "%.12s (applied 2026-11-26T10:46:40Z from ref \"main\")",
		 c1, c2);
	assert_non_null(strstr(log, expect));
	assert_non_null(strstr(log, "pass --allow-rewind to apply this commit anyway"));
	free(log);

	log_capture_begin();
	assert_int_equal(source_check_rewind(state_dir, &src, true), 0);
	log = log_capture_end();
	assert_non_null(strstr(log, "applying it anyway (--allow-rewind)"));
	free(log);

	/* A descendant is accepted without a word. */
	commit(r, topo_v2, "third", c2);
	t = load(&s, &src, &diags);
	assert_non_null(t);
	topology_free(t);
	assert_int_equal(source_applied_write(state_dir, &src, 1795690000, true), 0);
	commit(r, topo_v1, "fourth", c1);
	t = load(&s, &src, &diags);
	assert_non_null(t);
	topology_free(t);
	log_capture_begin();
	assert_int_equal(source_check_rewind(state_dir, &src, false), 0);
	log = log_capture_end();
	assert_string_equal(log, "");
	free(log);
	assert_int_equal(diags.n, 0);
	source_reset(&src);
	source_reset(&last);
	git_repository_free(r);
}

/* ---- signatures (the real ssh-keygen) ------------------------------------- */

static char *signing_key;

static char *ssh_sign(const char *data)
{
	const char *argv[] = {"ssh-keygen", "-Y", "sign", "-n", "git", "-f", signing_key, NULL};
	PgcProcSpec spec = {.argv = argv, .timeout_ms = 30000, .stdin_data = data};
	PgcProcResult res;
	char *sig, *begin;

	assert_int_equal(proc_run(&spec, &res), 0);
	assert_int_equal(res.status, 0);
	begin = strstr(res.output, "-----BEGIN SSH SIGNATURE-----");
	assert_non_null(begin);
	sig = strdup(begin);
	proc_result_free(&res);
	return sig;
}

static void keygen(const char *path)
{
	const char *argv[] = {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", path,
			      NULL};
	PgcProcSpec spec = {.argv = argv, .timeout_ms = 30000};
	PgcProcResult res;

	assert_int_equal(proc_run(&spec, &res), 0);
	assert_int_equal(res.status, 0);
	proc_result_free(&res);
}

static void test_signatures(void **state)
{
	git_repository *r;
	char c1[41], c2[41], c3[41], *good, *bad, *pub, *allowed, line[1024], msg[1024];
	size_t len;
	PgcGitSpec s;
	PgcSource src = {0};
	PgcDiagList diags = {0};
	PgcTopology *t;

	(void)state;
	good = fs_path_join(tmpdir, "good_key");
	bad = fs_path_join(tmpdir, "bad_key");
	keygen(good);
	keygen(bad);
	snprintf(line, sizeof line, "%s.pub", good);
	assert_int_equal(fs_read_file(line, &pub, &len, 4096), 0);
	snprintf(line, sizeof line, "ops@example.com namespaces=\"git\" %s", pub);
	free(pub);
	assert_int_equal(fs_mkdir_p(state_dir, 0700, FS_NO_UID, FS_NO_GID), 0);
	allowed = fs_path_join(state_dir, SOURCE_ALLOWED_SIGNERS);
	assert_int_equal(fs_write_atomic(allowed, line, strlen(line), 0600, FS_NO_UID, FS_NO_GID, NULL),
			 0);

	r = new_repo(repo_dir);
	signing_key = good;
	commit_full(r, "pgconverge.yaml", topo_v1, NULL, "signed", c1, ssh_sign);
	s = spec_for(repo_dir, "main");
	s.require_signed = true;
	t = load(&s, &src, &diags);
	assert_non_null(t);
	assert_int_equal(diags.n, 0);
	assert_string_equal(src.signer, "ops@example.com");
	topology_free(t);

	commit(r, topo_v2, "unsigned", c2);
	assert_null(load(&s, &src, &diags));
	snprintf(msg, sizeof msg, "refusing commit %.12s: commit %.12s is not signed", c2, c2);
	only_error(&diags, msg,
		   "sign commits with an ssh key listed in the allowed signers file (git config "
		   "gpg.format ssh; git commit -S)");
	diag_free(&diags);

	signing_key = bad;
	commit_full(r, "pgconverge.yaml", topo_v2, NULL, "stranger", c3, ssh_sign);
	assert_null(load(&s, &src, &diags));
	snprintf(msg, sizeof msg,
		 "refusing commit %.12s: the key that signed commit %.12s is not in the allowed "
		 "signers file \"%s\"",
		 c3, c3, allowed);
	assert_int_equal(diags.n, 1);
	assert_memory_equal(diags.items[0].message, msg, strlen(msg));
	diag_free(&diags);

	/* An allowed signers file others may write is no protection. */
	s.ref = c1;
	assert_int_equal(chmod(allowed, 0666), 0);
	assert_null(load(&s, &src, &diags));
	snprintf(msg, sizeof msg,
		 "refusing commit %.12s: allowed signers file \"%s\" is writable by group or others "
		 "(mode 0666): anyone could add a key",
		 c1, allowed);
	only_error(&diags, msg, NULL);
	diag_free(&diags);
	assert_int_equal(chmod(allowed, 0600), 0);

	/* Without --require-signed, signatures are not looked at. */
	s.require_signed = false;
	s.ref = "main";
	t = load(&s, &src, &diags);
	assert_non_null(t);
	assert_null(src.signer);
	topology_free(t);
	source_reset(&src);
	git_repository_free(r);
	free(allowed);
	free(good);
	free(bad);
}

/* ---- offline plans --------------------------------------------------------- */

static PgcTopology *buffer(const char *text)
{
	PgcLoadOptions lo = {.base_dir = "/srv", .offline = true};
	PgcDiagList diags = {0};
	PgcTopology *t = topology_load_buffer(text, strlen(text), "t.yaml", &lo, &diags);

	assert_non_null(t);
	if (diags.n > 0)
		fail_msg("%s", diags.items[0].message);
	return t;
}

static size_t count_kind(const PgcPlan *p, PgcActionKind kind)
{
	size_t i, n = 0;

	for (i = 0; i < p->n_actions; i++)
		n += p->actions[i].kind == kind;
	return n;
}

static const PgcAction *find_kind(const PgcPlan *p, PgcActionKind kind, const char *node)
{
	size_t i;

	for (i = 0; i < p->n_actions; i++)
		if (p->actions[i].kind == kind && strcmp(p->actions[i].node, node) == 0)
			return &p->actions[i];
	return NULL;
}

/* Sunday 2026-11-29 12:00 UTC: outside the window. */
static const PgcPolicy outside = {.now = 1795953600};

static void test_offline_restart_and_reload(void **state)
{
	PgcTopology *base = buffer(topo_v1), *head = buffer(topo_v2);
	PgcPlan *p = plan_offline(base, head, &outside);
	const PgcAction *a;

	(void)state;
	topology_free(base); /* the plan does not need it */
	assert_true(p->offline);
	assert_int_equal(p->n_fp, 0);
	assert_int_equal(count_kind(p, ACT_RESTART), 1);
	assert_int_equal(count_kind(p, ACT_RELOAD), 1);
	assert_int_equal(count_kind(p, ACT_INITDB) + count_kind(p, ACT_CLONE), 0);
	a = find_kind(p, ACT_RESTART, "pg1");
	assert_non_null(a);
	assert_int_equal(a->impact, IMPACT_RESTART);
	assert_int_equal(a->n_changes, 1);
	assert_string_equal(a->changes[0].key, "max_connections");
	assert_string_equal(a->changes[0].from, "100");
	assert_string_equal(a->changes[0].to, "200");
	assert_true(a->blocked);
	assert_non_null(strstr(a->blocked_reason, "outside the maintenance window"));
	a = find_kind(p, ACT_RELOAD, "pg1");
	assert_non_null(a);
	assert_int_equal(a->n_changes, 1);
	assert_string_equal(a->changes[0].key, "work_mem");
	assert_string_equal(a->changes[0].from, "4MB");
	assert_string_equal(a->changes[0].to, "16MB");
	assert_false(a->blocked);
	plan_free(p);

	/* Same file: nothing to do; 1GB == 1024MB style spellings do not count. */
	base = buffer(topo_v2);
	p = plan_offline(base, head, &outside);
	assert_int_equal(p->n_actions, 0);
	assert_int_equal(p->n_orphans, 0);
	plan_free(p);
	topology_free(base);
	topology_free(head);
}

static void test_offline_equal_units(void **state)
{
	static const char a[] =
		"version: 1\nclusters:\n  c:\n    nodes:\n      n1: {port: 25432, data_dir: d1}\n"
		"    settings: {shared_buffers: 1GB, work_mem: 4096kB}\n";
	static const char b[] =
		"version: 1\nclusters:\n  c:\n    nodes:\n      n1: {port: 25432, data_dir: d1}\n"
		"    settings: {shared_buffers: 1024MB, work_mem: 4MB}\n";
	PgcTopology *base = buffer(a), *head = buffer(b);
	PgcPlan *p = plan_offline(base, head, &outside);

	(void)state;
	/* The managed file's text changes, but no parameter does: no reload, no restart. */
	assert_int_equal(count_kind(p, ACT_RESTART) + count_kind(p, ACT_RELOAD), 0);
	plan_free(p);
	topology_free(base);
	topology_free(head);
}

static void test_offline_nodes_and_primary(void **state)
{
	static const char a[] =
		"version: 1\nclusters:\n  c:\n    primary: n1\n    nodes:\n"
		"      n1: {port: 25432, data_dir: d1}\n      n2: {port: 25433, data_dir: d2}\n"
		"    roles: {old: {login: true}}\n"
		"  gone:\n    nodes:\n      g1: {port: 25440, data_dir: g1}\n";
	static const char b[] =
		"version: 1\nclusters:\n  c:\n    primary: n2\n    nodes:\n"
		"      n2: {port: 25433, data_dir: d2}\n      n3: {port: 25434, data_dir: d3}\n"
		"    roles: {app: {login: true}}\n";
	PgcTopology *base = buffer(a), *head = buffer(b);
	PgcPlan *p = plan_offline(base, head, &outside);
	const PgcAction *act;
	bool saw_node = false, saw_cluster = false, saw_role = false;
	size_t i;

	(void)state;
	topology_free(base);
	/* The new replica is cloned from the new primary. */
	act = find_kind(p, ACT_CLONE, "n3");
	assert_non_null(act);
	assert_string_equal(act->payload.upstream, "n2");
	/* The change of primary is a switchover, blocked by default. */
	act = find_kind(p, ACT_WRITE_CONFIG, "n2");
	assert_non_null(act);
	assert_int_equal(act->impact, IMPACT_SWITCHOVER);
	assert_true(act->blocked);
	assert_string_equal(act->blocked_reason, "moving the primary needs --allow-switchover");
	assert_non_null(strstr(act->reason, "the primary moves from \"n1\" to \"n2\""));
	assert_non_null(find_kind(p, ACT_CREATE_ROLE, "n2"));
	for (i = 0; i < p->n_orphans; i++) {
		const PgcOrphan *o = &p->orphans[i];

		if (strcmp(o->kind, "node") == 0 && strcmp(o->name, "n1") == 0) {
			saw_node = true;
			assert_string_equal(o->message,
					    "node \"n1\" is no longer in the topology; pgconverge leaves its "
					    "server and data directory \"/srv/d1\" in place: stop and "
					    "remove them by hand");
		}
		saw_cluster |= strcmp(o->kind, "cluster") == 0 && strcmp(o->name, "gone") == 0;
		saw_role |= strcmp(o->kind, "role") == 0 && strcmp(o->name, "old") == 0;
	}
	assert_true(saw_node);
	assert_true(saw_cluster);
	assert_true(saw_role);
	plan_free(p);

	/* Allowed by policy: the switchover is not blocked. */
	base = buffer(a);
	{
		PgcPolicy allow = outside;

		allow.allow_switchover = true;
		p = plan_offline(base, head, &allow);
	}
	act = find_kind(p, ACT_WRITE_CONFIG, "n2");
	assert_non_null(act);
	assert_int_equal(act->impact, IMPACT_SWITCHOVER);
	assert_false(act->blocked);
	plan_free(p);
	topology_free(base);

	/* No base: everything is created. */
	p = plan_offline(NULL, head, &outside);
	assert_non_null(find_kind(p, ACT_INITDB, "n2"));
	assert_non_null(find_kind(p, ACT_CLONE, "n3"));
	assert_int_equal(p->n_orphans, 0);
	plan_free(p);
	topology_free(head);
}

static void test_plan_set_source(void **state)
{
	PgcTopology *t = buffer(topo_v1);
	PgcPlan *p = plan_offline(NULL, t, &outside);
	PgcSource src = {0};

	(void)state;
	src.kind = "git";
	src.path = "pgconverge.yaml";
	src.ref = "main";
	src.commit = "0123456789abcdef0123456789abcdef01234567";
	src.digest = "sha256:00";
	plan_set_source(p, &src);
	assert_string_equal(p->source_kind, "git");
	assert_string_equal(p->source_ref, "main");
	assert_string_equal(p->source_commit, src.commit);
	assert_string_equal(p->source_path, "pgconverge.yaml");
	src.kind = "file";
	plan_set_source(p, &src);
	assert_string_equal(p->source_kind, "file");
	assert_null(p->source_commit);
	plan_free(p);
	topology_free(t);
}

static void test_url_redacted(void **state)
{
	static const char *const cases[][2] = {
		{"https://user:tok3n@git.example.com/ops/pg.git", "https://user@git.example.com/ops/pg.git"},
		{"https://git.example.com/ops/pg.git", "https://git.example.com/ops/pg.git"},
		{"ssh://git@git.example.com:2222/ops/pg.git", "ssh://git@git.example.com:2222/ops/pg.git"},
		{"git@git.example.com:ops/pg.git", "git@git.example.com:ops/pg.git"},
		{"https://:tok3n@host/x", "https://@host/x"},
		{"file:///srv/repo", "file:///srv/repo"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = source_url_redacted(cases[i][0]);

		assert_string_equal(got, cases[i][1]);
		free(got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_load_two_commits, fresh),
		cmocka_unit_test_setup(test_load_errors, fresh),
		cmocka_unit_test_setup(test_symlink_in_tree, fresh),
		cmocka_unit_test_setup(test_remote_and_outage, fresh),
		cmocka_unit_test_setup(test_rewind, fresh),
		cmocka_unit_test_setup(test_signatures, fresh),
		cmocka_unit_test(test_url_redacted),
		cmocka_unit_test(test_offline_restart_and_reload),
		cmocka_unit_test(test_offline_equal_units),
		cmocka_unit_test(test_offline_nodes_and_primary),
		cmocka_unit_test(test_plan_set_source),
	};
	int rc;

	log_set_level(LOG_WARN);
	rc = cmocka_run_group_tests(tests, setup, teardown);
	free(repo_dir);
	free(state_dir);
	return rc;
}
