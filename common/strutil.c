/*
 * common/strutil.c - edit distance and "did you mean" suggestions.
 */
#include "common/strutil.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

size_t str_edit_distance(const char *a, const char *b, size_t limit)
{
	size_t la = strlen(a), lb = strlen(b), i, j, result;
	size_t *buf, *prev2, *prev, *cur;

	if ((la > lb ? la - lb : lb - la) > limit)
		return limit + 1;
	buf = calloc(3 * (lb + 1), sizeof(size_t));
	if (buf == NULL)
		abort();
	prev2 = buf;
	prev = prev2 + (lb + 1);
	cur = prev + (lb + 1);
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		size_t row_min;
		size_t *tmp;

		cur[0] = i;
		row_min = cur[0];
		for (j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
			size_t cost = ca != cb;
			size_t v = prev[j] + 1;

			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + cost < v)
				v = prev[j - 1] + cost;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
			if (v < row_min)
				row_min = v;
		}
		if (row_min > limit) {
			free(buf);
			return limit + 1;
		}
		tmp = prev2;
		prev2 = prev;
		prev = cur;
		cur = tmp;
	}
	result = prev[lb] > limit ? limit + 1 : prev[lb];
	free(buf);
	return result;
}

const char *str_suggest(const char *word, const char *const *candidates, size_t n)
{
	size_t i, best_d, limit = strlen(word) / 3;
	const char *best = NULL;

	if (limit > 2)
		limit = 2;
	if (limit == 0)
		limit = 1;
	best_d = limit + 1;
	for (i = 0; i < n; i++) {
		size_t d = str_edit_distance(word, candidates[i], limit);

		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	return best;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}
