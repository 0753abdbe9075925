/*
 * common/strutil.h - small string helpers shared by loading, the catalog and
 * the renderers: a growable buffer, and escaping of text that may come from
 * a server or a file before it reaches a terminal or a markdown comment.
 */
#ifndef PGC_COMMON_STRUTIL_H
#define PGC_COMMON_STRUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/arena.h"

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

/*
 * PgcStrBuf - a growing string (amortised doubling, malloc'd), so that text
 * built piece by piece costs linear time. Start with PGC_STRBUF_INIT;
 * strbuf_finish() hands the text to an arena and releases the buffer,
 * strbuf_release() drops it. Allocation failure aborts, as the arena does.
 */
typedef struct {
	char *data;    /* NUL-terminated once anything was added; NULL before */
	size_t len;
	size_t cap;
} PgcStrBuf;

#define PGC_STRBUF_INIT {NULL, 0, 0}

void strbuf_add(PgcStrBuf *b, const char *s, size_t n);
void strbuf_adds(PgcStrBuf *b, const char *s);
void strbuf_addf(PgcStrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* strbuf_finish - the text copied into arena a ("" when empty); b is released. */
char *strbuf_finish(PgcStrBuf *b, PgcArena *a);
void strbuf_release(PgcStrBuf *b);

/*
 * Escaping for display. Names and values can come from a server (a role
 * created by any user with CREATEROLE) or from the topology file, and must
 * not forge lines, move the cursor or recolour a terminal, nor leave a
 * markdown code span.
 *
 * strbuf_add_text / str_text / str_fput_text - s with control characters
 * made visible: \n, \r, \t, other C0 controls, DEL and bytes that are not
 * UTF-8 as \xNN, C1 controls, U+2028/2029 and the bidirectional controls (U+202A-202E,
 * U+2066-2069) as \uNNNN. Everything else, backslashes included, is kept,
 * so ordinary names print unchanged. str_text returns s itself when nothing
 * needs escaping (NULL stays NULL).
 */
void strbuf_add_text(PgcStrBuf *b, const char *s);
const char *str_text(PgcArena *a, const char *s);
void str_fput_text(FILE *out, const char *s);
/*
 * str_fput_line - a formatted line (or lines' worth: a format's leading and
 * trailing newlines) for a terminal: the newlines at both ends are written
 * as they are, everything between is escaped as str_text, so a value
 * formatted into it cannot start a line of its own.
 */
void str_fput_line(FILE *out, const char *s);
/*
 * str_fprintf_line - printf for a terminal: the formatted text goes
 * through str_fput_line, so names and messages formatted into it (from a
 * server, a child process, the topology file) cannot forge lines or move
 * the cursor. The format's own newlines in the middle are escaped too:
 * print one line a call.
 */
void str_fprintf_line(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* str_text_clean - true when str_text(s) would return s unchanged. */
bool str_text_clean(const char *s);

/*
 * strbuf_add_md_code - s as a markdown code span: escaped as str_text, then
 * fenced by one backtick more than its longest run of backticks (padded with
 * a space when it starts or ends with one), so it cannot end early. In a
 * table cell (table true) pipes are written \| as GFM wants even in code.
 */
void strbuf_add_md_code(PgcStrBuf *b, const char *s, bool table);
/*
 * strbuf_add_md_text - s as markdown prose: escaped as str_text, then
 * < > & as HTML entities, backslash ` [ ] | backslash-escaped: without a
 * bracket no link or image can start, without < no HTML, and a pipe does
 * not end a table cell. Ordinary text (max_connections, "(8 parameters)")
 * is written unchanged.
 */
void strbuf_add_md_text(PgcStrBuf *b, const char *s);

#endif
