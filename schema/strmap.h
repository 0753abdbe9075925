/*
 * schema/strmap.h - a small string -> index table (open addressing, linear
 * probing) for the loader's and validator's look-ups: duplicate keys,
 * anchors, settings and role names. Without it a 40,000-key mapping costs
 * 800 million string comparisons.
 *
 * The table borrows its keys: each must outlive it. With fold_case, keys
 * compare ASCII case-insensitively (PostgreSQL parameter names).
 */
#ifndef PGC_SCHEMA_STRMAP_H
#define PGC_SCHEMA_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
	const char **keys;
	size_t *vals;
	size_t cap; /* a power of two, or 0 before the first put */
	size_t n;
	size_t expect; /* keys expected: the first put makes room for them all */
	bool fold_case;
} PgcStrMap;

/* strmap_init - an empty table sized for expect keys; no memory until the first put. */
void strmap_init(PgcStrMap *m, size_t expect, bool fold_case);

/*
 * strmap_put - maps key to val unless key is there already. Returns NULL
 * when added, else a pointer to the value already stored (which the caller
 * may overwrite). Aborts when out of memory, like the arena.
 */
size_t *strmap_put(PgcStrMap *m, const char *key, size_t val);

/* strmap_get - the value stored for key, or NULL. */
const size_t *strmap_get(const PgcStrMap *m, const char *key);

void strmap_free(PgcStrMap *m);

#endif
