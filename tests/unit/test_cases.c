/*
 * tests/unit/test_cases.c - data-driven loader and validation tests.
 *
 * Every .yaml file in tests/unit/cases/bad and tests/unit/cases/good (found
 * at run time; PGC_CASES_DIR overrides tests/unit/cases, relative to the
 * folder the test runs from, normally the repository root) is one cmocka
 * test named after the file. The file's leading comment lines say what
 * loading it must report, exactly and in order:
 *
 *   # expect: LINE:COL: error: KEY: MESSAGE
 *   # expect-hint: HINT                  (the hint of the diagnostic above)
 *   # expect: LINE:COL: warning: KEY: MESSAGE
 *   # options: offline                   (load with PgcLoadOptions.offline)
 *   # chmod: 600 secrets/file            (mode to set first, path relative to the case file)
 *
 * Each diagnostic is compared as diag_format() prints it, without the
 * "FILE:" prefix; "$DIR" in an expectation stands for the absolute folder
 * of the case file (where relative paths in it resolve). A bad file must
 * expect at least one error; a good file must load and expect no error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/diag.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "schema/topology.h"

typedef struct {
	char **items;
	size_t n;
} StrList;

static void list_push(StrList *l, char *s)
{
	char **items = realloc(l->items, (l->n + 1) * sizeof(char *));

	if (items == NULL)
		abort();
	l->items = items;
	l->items[l->n++] = s;
}

static void list_free(StrList *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

/* replace_all - s with every occurrence of from replaced by to; frees s. */
static char *replace_all(char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	const char *p;
	char *out, *o;

	if (fl == 0)
		return s;
	for (p = s; (p = strstr(p, from)) != NULL; p += fl)
		n++;
	if (n == 0)
		return s;
	out = o = malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1);
	if (out == NULL)
		abort();
	for (p = s;;) {
		const char *hit = strstr(p, from);

		if (hit == NULL)
			break;
		memcpy(o, p, (size_t)(hit - p));
		o += hit - p;
		memcpy(o, to, tl);
		o += tl;
		p = hit + fl;
	}
	strcpy(o, p);
	free(s);
	return out;
}

typedef struct {
	StrList expect;
	bool offline;
	char *error;  /* a malformed header; NULL when fine */
} Header;

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	return strndup(path, (size_t)(slash - path));
}

/*
 * read_header - the directives of the leading comment lines. chmod
 * directives are carried out as they are read.
 */
static void read_header(const char *path, Header *h)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	char *dir = dir_of(path);

	memset(h, 0, sizeof(*h));
	if (f == NULL) {
		h->error = xasprintf("cannot open \"%s\"", path);
		free(dir);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL && line[0] == '#') {
		char *text = line + 1;
		size_t len = strlen(text);

		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
			text[--len] = '\0';
		while (*text == ' ')
			text++;
		if (strncmp(text, "expect:", 7) == 0) {
			list_push(&h->expect, strdup(text + 7 + (text[7] == ' ')));
		} else if (strncmp(text, "expect-hint:", 12) == 0) {
			char *prev;

			if (h->expect.n == 0) {
				h->error = xasprintf("\"# expect-hint:\" before any \"# expect:\"");
				break;
			}
			prev = h->expect.items[h->expect.n - 1];
			h->expect.items[h->expect.n - 1] =
				xasprintf("%s\n  hint: %s", prev, text + 12 + (text[12] == ' '));
			free(prev);
		} else if (strncmp(text, "options:", 8) == 0) {
			if (strstr(text + 8, "offline") != NULL)
				h->offline = true;
		} else if (strncmp(text, "chmod:", 6) == 0) {
			unsigned mode;
			char rel[1024], *target;

			if (sscanf(text + 6, " %o %1023s", &mode, rel) != 2) {
				h->error = xasprintf("malformed \"# chmod: MODE PATH\" line");
				break;
			}
			target = xasprintf("%s/%s", dir, rel);
			if (chmod(target, (mode_t)mode) != 0)
				h->error = xasprintf("cannot chmod \"%s\"", target);
			free(target);
		}
	}
	fclose(f);
	free(dir);
}

/* got_diags - the diagnostics as expectations are written. */
static void got_diags(const PgcDiagList *diags, const char *path, StrList *got)
{
	char *rel_dir = dir_of(path), *abs_dir = fs_path_resolve(NULL, rel_dir);
	size_t i;

	for (i = 0; i < diags->n; i++) {
		char *s = diag_format(&diags->items[i]);
		const char *file = diags->items[i].file;
		size_t fl = file ? strlen(file) : 0;
		char *body;

		if (file != NULL && strncmp(s, file, fl) == 0 && s[fl] == ':')
			body = strdup(s + fl + 1 + (s[fl + 1] == ' '));
		else
			body = strdup(s);
		free(s);
		list_push(got, replace_all(body, abs_dir, "$DIR"));
	}
	free(rel_dir);
	free(abs_dir);
}

static char *describe(const StrList *l)
{
	char *s = strdup(""), *t;
	size_t i;

	if (l->n == 0) {
		free(s);
		return strdup("    (nothing)\n");
	}
	for (i = 0; i < l->n; i++) {
		t = xasprintf("%s    # expect: %s\n", s, l->items[i]);
		free(s);
		s = t;
	}
	return replace_all(s, "\n  hint: ", "\n    # expect-hint: ");
}

static void run_case(void **state)
{
	const char *path = *state;
	bool good = strstr(path, "/good/") != NULL;
	PgcDiagList diags = {0};
	PgcLoadOptions opts = {0};
	StrList got = {0};
	PgcTopology *t;
	Header h;
	size_t i, first_diff;
	char *problem = NULL;

	read_header(path, &h);
	if (h.error != NULL) {
		fprintf(stderr, "%s: %s\n", path, h.error);
		free(h.error);
		list_free(&h.expect);
		fail_msg("%s: bad test header", path);
	}
	opts.offline = h.offline;
	t = topology_load_file(path, &opts, &diags);
	got_diags(&diags, path, &got);

	for (i = 0; i < h.expect.n; i++)
		if (strstr(h.expect.items[i], ": error: ") != NULL || strncmp(h.expect.items[i], "error: ", 7) == 0)
			break;
	if (good && i < h.expect.n)
		problem = xasprintf("a good file cannot expect an error");
	if (!good && i == h.expect.n)
		problem = xasprintf("a bad file must expect at least one error");
	if (problem == NULL && good && t == NULL)
		problem = xasprintf("the file did not load");
	for (first_diff = 0; first_diff < h.expect.n && first_diff < got.n; first_diff++)
		if (strcmp(h.expect.items[first_diff], got.items[first_diff]) != 0)
			break;
	if (problem == NULL && (first_diff < h.expect.n || first_diff < got.n))
		problem = xasprintf("diagnostic %zu differs", first_diff + 1);
	if (problem != NULL) {
		char *e = describe(&h.expect), *g = describe(&got);

		fprintf(stderr, "%s: %s\n  expected %zu:\n%s  got %zu:\n%s", path, problem, h.expect.n, e,
			got.n, g);
		free(e);
		free(g);
	}
	topology_free(t);
	diag_free(&diags);
	list_free(&got);
	list_free(&h.expect);
	if (problem != NULL) {
		free(problem);
		fail_msg("%s: diagnostics differ from the expectations", path);
	}
}

static int yaml_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 5 && strcmp(d->d_name + n - 5, ".yaml") == 0 && d->d_name[0] != '.';
}

static void add_cases(const char *root, const char *sub, StrList *paths)
{
	char *dir = xasprintf("%s/%s", root, sub);
	struct dirent **ents = NULL;
	int n, i;

	n = scandir(dir, &ents, yaml_filter, alphasort);
	if (n < 0) {
		fprintf(stderr, "test_cases: cannot read \"%s\" (run from the repository root, or set "
			"PGC_CASES_DIR)\n", dir);
		free(dir);
		return;
	}
	for (i = 0; i < n; i++) {
		list_push(paths, xasprintf("%s/%s", dir, ents[i]->d_name));
		free(ents[i]);
	}
	free(ents);
	free(dir);
}

int main(void)
{
	const char *root = getenv("PGC_CASES_DIR");
	StrList paths = {0};
	struct CMUnitTest *tests;
	size_t i;
	int rc;

	if (root == NULL || *root == '\0')
		root = "tests/unit/cases";
	add_cases(root, "bad", &paths);
	add_cases(root, "good", &paths);
	if (paths.n == 0) {
		fprintf(stderr, "test_cases: no case files under \"%s\"\n", root);
		return 1;
	}
	tests = calloc(paths.n, sizeof(*tests));
	if (tests == NULL)
		abort();
	for (i = 0; i < paths.n; i++) {
		tests[i].name = paths.items[i];
		tests[i].test_func = run_case;
		tests[i].initial_state = paths.items[i];
	}
	rc = _cmocka_run_group_tests("cases", tests, paths.n, NULL, NULL);
	free(tests);
	list_free(&paths);
	return rc;
}
