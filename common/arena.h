/*
 * common/arena.h - region allocator.
 *
 * Everything a topology (or one reconcile pass) allocates lives in one arena
 * and is released by a single arena_free(), so a loop that runs for months
 * cannot leak through forgotten frees. Allocation failure aborts the
 * process: pgconverge cannot do anything useful without memory.
 */
#ifndef PGC_COMMON_ARENA_H
#define PGC_COMMON_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct PgcArena PgcArena;

/* arena_new - an empty arena; release with arena_free(). */
PgcArena *arena_new(void);
/* arena_free - releases every block of the arena and the arena itself; NULL is ignored. */
void arena_free(PgcArena *a);

/* arena_alloc - n zeroed bytes, aligned for any type, owned by the arena. */
void *arena_alloc(PgcArena *a, size_t n);
/* arena_calloc - count * size zeroed bytes; aborts on overflow. */
void *arena_calloc(PgcArena *a, size_t count, size_t size);
/* arena_strdup - copy of s (NULL gives NULL). */
char *arena_strdup(PgcArena *a, const char *s);
char *arena_strndup(PgcArena *a, const char *s, size_t n);
/* arena_printf - formatted string owned by the arena. */
char *arena_printf(PgcArena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(PgcArena *a, const char *fmt, va_list ap);

/*
 * arena_grow - room for one more element in an array that lives in the
 * arena: when n == *cap, a zeroed array of twice the capacity (first_cap
 * when *cap is 0) is allocated, the n elements of items copied into it and
 * *cap updated; otherwise items is returned as it is. Returns the array to
 * use from now on; the old one stays in the arena until arena_free().
 *
 *     if adding one: list->items = arena_grow(a, list->items, list->n, &list->cap, 16,
 *                                              sizeof(*list->items));
 *                    list->items[list->n++] = x;
 */
void *arena_grow(PgcArena *a, void *items, size_t n, size_t *cap, size_t first_cap, size_t elem_size);

#endif
