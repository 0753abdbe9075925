/*
 * common/arena.c - region allocator: a list of large blocks, bump allocation.
 */
#include "common/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define ARENA_BLOCK 16384
#define ARENA_ALIGN 16

struct block {
	struct block *next;
	size_t size;
	size_t used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

struct PgcArena {
	struct block *head;
};

PgcArena *arena_new(void)
{
	PgcArena *a = xmalloc(sizeof(*a));

	a->head = NULL;
	return a;
}

void arena_free(PgcArena *a)
{
	struct block *b, *next;

	if (a == NULL)
		return;
	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}

void *arena_alloc(PgcArena *a, size_t n)
{
	struct block *b = a->head;
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	void *p;

	if (need < n)
		abort();
	if (b == NULL || b->size - b->used < need) {
		/* Large requests get a block of their own, kept behind the head so
		 * the head's free space is not wasted. */
		size_t size = need > ARENA_BLOCK / 4 ? need : ARENA_BLOCK;
		struct block *nb = xmalloc(sizeof(*nb) + size);

		nb->size = size;
		nb->used = 0;
		if (b != NULL && size == need) {
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			a->head = nb;
		}
		b = nb;
	}
	p = b->data + b->used;
	b->used += need;
	memset(p, 0, n);
	return p;
}

void *arena_calloc(PgcArena *a, size_t count, size_t size)
{
	if (size != 0 && count > SIZE_MAX / size)
		abort();
	return arena_alloc(a, count * size);
}

char *arena_strndup(PgcArena *a, const char *s, size_t n)
{
	char *p;

	if (s == NULL)
		return NULL;
	p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(PgcArena *a, const char *s)
{
	return s == NULL ? NULL : arena_strndup(a, s, strlen(s));
}

char *arena_vprintf(PgcArena *a, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *p;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		abort();
	p = arena_alloc(a, (size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *arena_printf(PgcArena *a, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}

void *arena_grow(PgcArena *a, void *items, size_t n, size_t *cap, size_t first_cap, size_t elem_size)
{
	size_t ncap;
	void *grown;

	if (n < *cap)
		return items;
	ncap = *cap ? *cap * 2 : first_cap;
	if (ncap <= n)
		ncap = n + 1;
	grown = arena_calloc(a, ncap, elem_size);
	if (n)
		memcpy(grown, items, n * elem_size);
	*cap = ncap;
	return grown;
}
