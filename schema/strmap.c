/*
 * schema/strmap.c - see strmap.h.
 */
#include "schema/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* FNV-1a, over the lowercased key when case does not count */
static size_t hash(const PgcStrMap *m, const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	unsigned char lower = m->fold_case ? 0x20 : 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		h ^= ch >= 'A' && ch <= 'Z' ? ch | lower : ch;
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 32));
}

static bool same(const PgcStrMap *m, const char *a, const char *b)
{
	return m->fold_case ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

/* slot - where key is, or the empty slot where it would go. */
static size_t slot(const PgcStrMap *m, const char *key)
{
	size_t i = hash(m, key) & (m->cap - 1);

	while (m->keys[i] != NULL && !same(m, m->keys[i], key))
		i = (i + 1) & (m->cap - 1);
	return i;
}

static void grow(PgcStrMap *m)
{
	PgcStrMap big = *m;
	size_t i;

	big.cap = m->cap ? m->cap * 2 : 16;
	while (big.cap < 2 * m->expect)
		big.cap *= 2;
	big.keys = calloc(big.cap, sizeof(*big.keys));
	big.vals = calloc(big.cap, sizeof(*big.vals));
	if (big.keys == NULL || big.vals == NULL)
		abort();
	for (i = 0; i < m->cap; i++) {
		if (m->keys[i] != NULL) {
			size_t j = slot(&big, m->keys[i]);

			big.keys[j] = m->keys[i];
			big.vals[j] = m->vals[i];
		}
	}
	free(m->keys);
	free(m->vals);
	*m = big;
}

void strmap_init(PgcStrMap *m, size_t expect, bool fold_case)
{
	memset(m, 0, sizeof(*m));
	m->expect = expect;
	m->fold_case = fold_case;
}

size_t *strmap_put(PgcStrMap *m, const char *key, size_t val)
{
	size_t i;

	/* At most half full, so that probes stay short. */
	if (2 * (m->n + 1) > m->cap)
		grow(m);
	i = slot(m, key);
	if (m->keys[i] != NULL)
		return &m->vals[i];
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
	return NULL;
}

const size_t *strmap_get(const PgcStrMap *m, const char *key)
{
	size_t i;

	if (m->cap == 0)
		return NULL;
	i = slot(m, key);
	return m->keys[i] != NULL ? &m->vals[i] : NULL;
}

void strmap_free(PgcStrMap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}
