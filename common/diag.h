/*
 * common/diag.h - diagnostics about an input file: errors and warnings that
 * carry file:line:column, the key path they concern, a message and an
 * optional hint.
 *
 * Loading and validation collect every problem into a PgcDiagList instead of
 * stopping at the first, then sort them by position and print them at once
 * (text for people, JSON for tools).
 */
#ifndef PGC_COMMON_DIAG_H
#define PGC_COMMON_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* PgcPos - a 1-based position in a source file; line 0 means unknown. */
typedef struct {
	int line;
	int col;
} PgcPos;

typedef enum {
	DIAG_ERROR,
	DIAG_WARNING,
} PgcDiagLevel;

typedef struct {
	PgcDiagLevel level;
	char *file;    /* as given by the caller (display path) */
	PgcPos pos;
	char *key;     /* dotted key path, e.g. "clusters.main.nodes.pg1.port"; may be NULL */
	char *message; /* lowercase, no full stop */
	char *hint;    /* may be NULL */
} PgcDiag;

typedef struct {
	PgcDiag *items;
	size_t n;
	size_t cap;
} PgcDiagList;

/*
 * diag_add - appends a diagnostic. file, key and hint are copied; key and
 * hint may be NULL. The list owns its memory: release it with diag_free().
 */
void diag_add(PgcDiagList *list, PgcDiagLevel level, const char *file, PgcPos pos,
	      const char *key, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* diag_error - shorthand for diag_add(list, DIAG_ERROR, ...). */
void diag_error(PgcDiagList *list, const char *file, PgcPos pos, const char *key,
		const char *hint, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* diag_count - number of diagnostics of the given level. */
size_t diag_count(const PgcDiagList *list, PgcDiagLevel level);

/* diag_sort - stable sort by file, line, column; removes exact duplicates. */
void diag_sort(PgcDiagList *list);

/*
 * diag_print - prints one diagnostic per entry as
 *   FILE:LINE:COL: error: KEY: MESSAGE
 *     hint: HINT
 * (position and key omitted when unknown).
 */
void diag_print(FILE *out, const PgcDiagList *list, bool color);

/*
 * diag_format - one diagnostic as text, without colour; caller frees. Here
 * and in diag_print every part (file, key, message, hint) is escaped for the
 * terminal as str_text does: the messages themselves hold the raw names, as
 * diag_to_json writes them.
 */
char *diag_format(const PgcDiag *d);

/* diag_to_json - {"errors": N, "warnings": N, "diagnostics": [...]}; caller owns the reference. */
json_t *diag_to_json(const PgcDiagList *list);

/* diag_free - releases the entries; the list can be reused afterwards. */
void diag_free(PgcDiagList *list);

#endif
