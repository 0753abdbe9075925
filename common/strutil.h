/*
 * common/strutil.h - small string helpers shared by loading and the catalog.
 */
#ifndef PGC_COMMON_STRUTIL_H
#define PGC_COMMON_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * str_edit_distance - optimal string alignment distance (Levenshtein plus
 * adjacent transpositions), case-insensitive; stops counting at limit+1.
 */
size_t str_edit_distance(const char *a, const char *b, size_t limit);

/*
 * str_suggest - the candidate closest to word, for "did you mean" hints: at
 * most 2 edits, and at most a third of the word's length (so short words
 * only match near-identical candidates). NULL when none is close enough.
 * Returns one of the candidates' pointers.
 */
const char *str_suggest(const char *word, const char *const *candidates, size_t n);

/* str_has_prefix / str_has_suffix - plain tests. */
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);

#endif
