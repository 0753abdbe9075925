/*
 * common/fspath.c - path arithmetic: join, normalise, resolve, compare
 * (fspath.h). Lexical only: nothing on disk is looked at.
 */
#include "common/fspath.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"

char *fs_path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir);

	if (name[0] == '/' || dl == 0)
		return xstrdup(name);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	if (dir[dl - 1] == '/')
		return xasprintf("%.*s%s", (int)dl, dir, name);
	return xasprintf("%.*s/%s", (int)dl, dir, name);
}

char *fs_path_normalize(const char *path)
{
	bool absolute = path[0] == '/';
	/* Components are kept as (start, length) into path; never more than half its length + 1. */
	size_t max = strlen(path) / 2 + 2;
	const char **start = xmalloc(max * sizeof(*start));
	size_t *clen = xmalloc(max * sizeof(*clen));
	size_t n = 0, i, total = 2;
	const char *p = path;
	char *out, *o;

	while (*p != '\0') {
		const char *c;
		size_t l;

		while (*p == '/')
			p++;
		c = p;
		while (*p != '\0' && *p != '/')
			p++;
		l = (size_t)(p - c);
		if (l == 0 || (l == 1 && c[0] == '.'))
			continue;
		if (l == 2 && c[0] == '.' && c[1] == '.') {
			if (n > 0 && !(clen[n - 1] == 2 && start[n - 1][0] == '.' &&
				       start[n - 1][1] == '.')) {
				n--;
				continue;
			}
			if (absolute)
				continue; /* "/.." is "/" */
		}
		start[n] = c;
		clen[n] = l;
		n++;
	}
	for (i = 0; i < n; i++)
		total += clen[i] + 1;
	out = o = xmalloc(total);
	if (absolute)
		*o++ = '/';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*o++ = '/';
		memcpy(o, start[i], clen[i]);
		o += clen[i];
	}
	if (o == out)
		*o++ = '.';
	*o = '\0';
	free(start);
	free(clen);
	return out;
}

char *fs_path_resolve(const char *base, const char *rel)
{
	char *cwd = NULL, *abs_base = NULL, *joined, *out;

	if (rel[0] == '/')
		return fs_path_normalize(rel);
	if (base == NULL || base[0] != '/') {
		cwd = getcwd(NULL, 0);
		if (cwd == NULL) {
			int saved = errno;

			log_error("could not resolve path \"%s\": current folder unknown: %s", rel,
				  strerror(saved));
			errno = saved;
			return NULL;
		}
		abs_base = base ? fs_path_join(cwd, base) : xstrdup(cwd);
		free(cwd);
		base = abs_base;
	}
	joined = fs_path_join(base, rel);
	out = fs_path_normalize(joined);
	free(joined);
	free(abs_base);
	return out;
}

bool fs_path_is_inside(const char *parent, const char *child)
{
	char *p = fs_path_normalize(parent);
	char *c = fs_path_normalize(child);
	size_t pl = strlen(p);
	bool inside;

	if ((p[0] == '/') != (c[0] == '/'))
		inside = false;
	else if (strcmp(p, "/") == 0)
		inside = strcmp(c, "/") != 0;
	else if (strcmp(p, ".") == 0)
		inside = strcmp(c, ".") != 0 && strcmp(c, "..") != 0 && strncmp(c, "../", 3) != 0;
	else
		inside = strncmp(p, c, pl) == 0 && c[pl] == '/';
	free(p);
	free(c);
	return inside;
}

char *fs_path_sibling(const char *path, const char *suffix)
{
	size_t len = strlen(path);
	const char *slash;
	char *out;

	while (len > 1 && path[len - 1] == '/')
		len--;
	for (slash = path + len; slash > path && slash[-1] != '/'; slash--)
		;
	if (asprintf(&out, "%.*s.%.*s%s", (int)(slash - path), path, (int)(path + len - slash), slash,
		     suffix) < 0)
		abort();
	return out;
}
