/*
 * common/diag.c - collecting, sorting and printing diagnostics.
 */
#include "common/diag.h"
#include "common/strutil.h"
#include "common/xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void diag_vadd(PgcDiagList *list, PgcDiagLevel level, const char *file, PgcPos pos,
		      const char *key, const char *hint, const char *fmt, va_list ap)
{
	PgcDiag *d;
	char *msg = NULL;

	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 16;
		PgcDiag *items = realloc(list->items, cap * sizeof(*items));

		if (items == NULL)
			abort();
		list->items = items;
		list->cap = cap;
	}
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	d = &list->items[list->n++];
	d->level = level;
	d->file = xstrdup(file);
	d->pos = pos;
	d->key = xstrdup(key);
	d->hint = xstrdup(hint);
	d->message = msg;
}

void diag_add(PgcDiagList *list, PgcDiagLevel level, const char *file, PgcPos pos,
	      const char *key, const char *hint, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(list, level, file, pos, key, hint, fmt, ap);
	va_end(ap);
}

void diag_error(PgcDiagList *list, const char *file, PgcPos pos, const char *key,
		const char *hint, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(list, DIAG_ERROR, file, pos, key, hint, fmt, ap);
	va_end(ap);
}

size_t diag_count(const PgcDiagList *list, PgcDiagLevel level)
{
	size_t i, n = 0;

	for (i = 0; i < list->n; i++)
		if (list->items[i].level == level)
			n++;
	return n;
}

static int strcmp_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static int diag_cmp(const PgcDiag *a, const PgcDiag *b)
{
	int c = strcmp_null(a->file, b->file);

	if (c != 0)
		return c;
	if (a->pos.line != b->pos.line)
		return a->pos.line < b->pos.line ? -1 : 1;
	if (a->pos.col != b->pos.col)
		return a->pos.col < b->pos.col ? -1 : 1;
	return 0;
}

static bool diag_same(const PgcDiag *a, const PgcDiag *b)
{
	return diag_cmp(a, b) == 0 && a->level == b->level && strcmp_null(a->key, b->key) == 0 &&
	       strcmp_null(a->message, b->message) == 0;
}

static void diag_release(PgcDiag *d)
{
	free(d->file);
	free(d->key);
	free(d->message);
	free(d->hint);
}

void diag_sort(PgcDiagList *list)
{
	size_t i, j, out;

	/* Insertion sort: stable, and lists are short. */
	for (i = 1; i < list->n; i++) {
		PgcDiag tmp = list->items[i];

		for (j = i; j > 0 && diag_cmp(&list->items[j - 1], &tmp) > 0; j--)
			list->items[j] = list->items[j - 1];
		list->items[j] = tmp;
	}
	/* An alias expands the same node twice; report its problems once.
	 * Equal entries share a position, so only that run is searched. */
	for (i = 0, out = 0; i < list->n; i++) {
		size_t k = out;

		while (k > 0 && diag_cmp(&list->items[k - 1], &list->items[i]) == 0 &&
		       !diag_same(&list->items[k - 1], &list->items[i]))
			k--;
		if (k > 0 && diag_same(&list->items[k - 1], &list->items[i])) {
			diag_release(&list->items[i]);
			continue;
		}
		list->items[out++] = list->items[i];
	}
	list->n = out;
}

static const char *level_name(PgcDiagLevel level)
{
	return level == DIAG_ERROR ? "error" : "warning";
}

/*
 * add_diag - a diagnostic's text: every part (the file, the key path, the
 * message and the hint) can hold text from the file, so each is escaped for
 * the terminal (strbuf_add_text); only the separators are written as they
 * are. on/off colour the level.
 */
static void add_diag(PgcStrBuf *b, const PgcDiag *d, const char *on, const char *off)
{
	if (d->pos.line > 0) {
		strbuf_add_text(b, d->file ? d->file : "-");
		strbuf_addf(b, ":%d:%d: ", d->pos.line, d->pos.col);
	} else if (d->file != NULL) {
		strbuf_add_text(b, d->file);
		strbuf_adds(b, ": ");
	}
	strbuf_addf(b, "%s%s%s: ", on, level_name(d->level), off);
	if (d->key != NULL) {
		strbuf_add_text(b, d->key);
		strbuf_adds(b, ": ");
	}
	strbuf_add_text(b, d->message);
	if (d->hint != NULL) {
		strbuf_adds(b, "\n  hint: ");
		strbuf_add_text(b, d->hint);
	}
}

char *diag_format(const PgcDiag *d)
{
	PgcStrBuf b = PGC_STRBUF_INIT;

	add_diag(&b, d, "", "");
	strbuf_add(&b, "", 0);
	return b.data; /* malloc'ed: the caller frees it */
}

void diag_print(FILE *out, const PgcDiagList *list, bool color)
{
	size_t i;

	for (i = 0; i < list->n; i++) {
		const PgcDiag *d = &list->items[i];
		PgcStrBuf b = PGC_STRBUF_INIT;

		if (color)
			add_diag(&b, d, d->level == DIAG_ERROR ? "\033[1;31m" : "\033[1;33m", "\033[0m");
		else
			add_diag(&b, d, "", "");
		strbuf_adds(&b, "\n");
		fwrite(b.data, 1, b.len, out);
		strbuf_release(&b);
	}
}

json_t *diag_to_json(const PgcDiagList *list)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < list->n; i++) {
		const PgcDiag *d = &list->items[i];
		json_t *o = json_object();

		json_object_set_new(o, "level", json_string(level_name(d->level)));
		json_object_set_new(o, "file", d->file ? json_string(d->file) : json_null());
		json_object_set_new(o, "line", json_integer(d->pos.line));
		json_object_set_new(o, "column", json_integer(d->pos.col));
		json_object_set_new(o, "key", d->key ? json_string(d->key) : json_null());
		json_object_set_new(o, "message", json_string(d->message));
		json_object_set_new(o, "hint", d->hint ? json_string(d->hint) : json_null());
		json_array_append_new(arr, o);
	}
	return json_pack("{s:I, s:I, s:o}", "errors", (json_int_t)diag_count(list, DIAG_ERROR),
			 "warnings", (json_int_t)diag_count(list, DIAG_WARNING), "diagnostics", arr);
}

void diag_free(PgcDiagList *list)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		diag_release(&list->items[i]);
	free(list->items);
	list->items = NULL;
	list->n = list->cap = 0;
}
