/*
 * common/xalloc.h - malloc, strdup and asprintf that abort on failure.
 *
 * pgconverge cannot do anything useful without memory (common/arena.h says
 * the same), so the heap helpers that several modules kept as private
 * copies live here once. Header-only (static inline), so that a module
 * using them links nothing more: common/fsutil.o goes into the small
 * ./pgconverge executable on its own.
 */
#ifndef PGC_COMMON_XALLOC_H
#define PGC_COMMON_XALLOC_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xmalloc - malloc(n), or abort with a message. */
static inline void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL) {
		fprintf(stderr, "pgconverge: out of memory (%zu bytes)\n", n);
		abort();
	}
	return p;
}

/* xstrdup - strdup(s), or abort; NULL gives NULL. */
static inline char *xstrdup(const char *s)
{
	char *p;

	if (s == NULL)
		return NULL;
	p = strdup(s);
	if (p == NULL)
		abort();
	return p;
}

/* xasprintf - a formatted string (malloc'd), or abort. */
static inline char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

#endif
