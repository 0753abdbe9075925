/*
 * common/strutil.c - edit distance and "did you mean" suggestions, a
 * growable buffer, and escaping for display (text and markdown).
 */
#include "common/strutil.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
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

/* ---- growable buffer ------------------------------------------------------ */

static void strbuf_grow(PgcStrBuf *b, size_t more)
{
	size_t need = b->len + more + 1, cap = b->cap ? b->cap : 256;
	char *d;

	if (need < more)
		abort();
	if (need <= b->cap)
		return;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			abort();
		cap *= 2;
	}
	d = realloc(b->data, cap);
	if (d == NULL) {
		fprintf(stderr, "pgconverge: out of memory (%zu bytes)\n", cap);
		abort();
	}
	b->data = d;
	b->cap = cap;
}

void strbuf_add(PgcStrBuf *b, const char *s, size_t n)
{
	strbuf_grow(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void strbuf_adds(PgcStrBuf *b, const char *s)
{
	strbuf_add(b, s, strlen(s));
}

void strbuf_addf(PgcStrBuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	/* Straight into the free space; formatted again only when it did not fit. */
	strbuf_grow(b, 64);
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if ((size_t)n >= b->cap - b->len) {
		strbuf_grow(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

char *strbuf_finish(PgcStrBuf *b, PgcArena *a)
{
	char *s = arena_strndup(a, b->data ? b->data : "", b->len);

	strbuf_release(b);
	return s;
}

void strbuf_release(PgcStrBuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- escaping for display -------------------------------------------------- */

/*
 * utf8_len - the length of the well-formed UTF-8 sequence at s (no overlong
 * forms, no surrogates, nothing past U+10FFFF) and its code point; 0 when
 * the byte at s does not start one.
 */
static size_t utf8_len(const unsigned char *s, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t n, i;
	uint32_t v;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2, v = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, v = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, v = c & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && v < 0x800) || (v >= 0xD800 && v <= 0xDFFF) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)))
		return 0;
	*cp = v;
	return n;
}

/* cp_hidden - C1 controls, line/paragraph separators and bidirectional controls. */
static bool cp_hidden(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* plain - printable ASCII, the bytes that are always written as they are. */
static inline bool plain(char c)
{
	return (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f;
}

/*
 * text_step - what the text escaper writes for the character at s: *len
 * bytes of s are consumed; returns the escape (in esc) or NULL when those
 * bytes are written as they are.
 */
static const char *text_step(const char *s, size_t *len, char esc[8])
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp;
	size_t n;

	*len = 1;
	switch (u[0]) {
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	}
	if (u[0] < 0x20 || u[0] == 0x7F) {
		snprintf(esc, 8, "\\x%02x", u[0]);
		return esc;
	}
	if (u[0] < 0x80)
		return NULL;
	n = utf8_len(u, &cp);
	if (n == 0) {
		snprintf(esc, 8, "\\x%02x", u[0]);
		return esc;
	}
	*len = n;
	if (!cp_hidden(cp))
		return NULL;
	snprintf(esc, 8, "\\u%04x", (unsigned)cp);
	return esc;
}

bool str_text_clean(const char *s)
{
	char esc[8];
	size_t len;

	for (; s != NULL && *s; s += len) {
		len = 1;
		if (!plain(*s) && text_step(s, &len, esc) != NULL)
			return false;
	}
	return true;
}

void strbuf_add_text(PgcStrBuf *b, const char *s)
{
	const char *run = s;
	char esc[8];
	size_t len;

	/* Clean stretches go in whole: most text has nothing to escape. */
	for (; s != NULL && *s; s += len) {
		const char *e;

		if (plain(*s)) {
			len = 1;
			continue;
		}
		e = text_step(s, &len, esc);
		if (e == NULL)
			continue;
		if (s > run)
			strbuf_add(b, run, (size_t)(s - run));
		strbuf_adds(b, e);
		run = s + len;
	}
	if (s != NULL && s > run)
		strbuf_add(b, run, (size_t)(s - run));
}

const char *str_text(PgcArena *a, const char *s)
{
	PgcStrBuf b = PGC_STRBUF_INIT;

	if (str_text_clean(s))
		return s;
	strbuf_add_text(&b, s);
	return strbuf_finish(&b, a);
}

void str_fput_text(FILE *out, const char *s)
{
	PgcStrBuf b = PGC_STRBUF_INIT;

	if (str_text_clean(s)) {
		if (s != NULL)
			fputs(s, out);
		return;
	}
	strbuf_add_text(&b, s);
	fwrite(b.data, 1, b.len, out);
	strbuf_release(&b);
}

void str_fput_line(FILE *out, const char *s)
{
	size_t len = strlen(s), nl = 0;
	char *mid;

	while (*s == '\n') {
		fputc('\n', out);
		s++;
		len--;
	}
	while (nl < len && s[len - 1 - nl] == '\n')
		nl++;
	mid = strndup(s, len - nl);
	if (mid == NULL)
		abort();
	str_fput_text(out, mid);
	free(mid);
	while (nl-- > 0)
		fputc('\n', out);
}

void str_fprintf_line(FILE *out, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	str_fput_line(out, s);
	free(s);
}

void strbuf_add_md_code(PgcStrBuf *b, const char *s, bool table)
{
	PgcStrBuf t = PGC_STRBUF_INIT;
	size_t i, run = 0, longest = 0;
	bool pad;

	strbuf_add_text(&t, s);
	for (i = 0; i < t.len; i++) {
		run = t.data[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	/* A code span drops one space at each end when both are there: pad
	 * exactly when the content itself starts or ends with one (or with a
	 * backtick, which would otherwise join the fence). */
	pad = t.len > 0 && (t.data[0] == '`' || t.data[0] == ' ' || t.data[t.len - 1] == '`' ||
			    t.data[t.len - 1] == ' ');
	for (i = 0; i <= longest; i++)
		strbuf_add(b, "`", 1);
	if (pad || t.len == 0)
		strbuf_add(b, " ", 1);
	for (i = 0; i < t.len; i++) {
		if (table && t.data[i] == '|')
			strbuf_add(b, "\\|", 2);
		else
			strbuf_add(b, &t.data[i], 1);
	}
	if (pad)
		strbuf_add(b, " ", 1);
	for (i = 0; i <= longest; i++)
		strbuf_add(b, "`", 1);
	strbuf_release(&t);
}

void strbuf_add_md_text(PgcStrBuf *b, const char *s)
{
	PgcStrBuf t = PGC_STRBUF_INIT;
	size_t i;

	strbuf_add_text(&t, s);
	for (i = 0; i < t.len; i++) {
		char c = t.data[i];

		switch (c) {
		case '<':
			strbuf_adds(b, "&lt;");
			break;
		case '>':
			strbuf_adds(b, "&gt;");
			break;
		case '&':
			strbuf_adds(b, "&amp;");
			break;
		case '\\':
		case '`':
		case '[':
		case ']':
		case '|':
			strbuf_add(b, "\\", 1);
			strbuf_add(b, &c, 1);
			break;
		default:
			strbuf_add(b, &c, 1);
		}
	}
	strbuf_release(&t);
}
