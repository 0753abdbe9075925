/*
 * schema/validate_report.c - reporting helpers shared by the validation
 * checks (schema/validate_report.h).
 */
#include "schema/validate_report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strutil.h"

/* val_fmt - a key path or hint, formatted into the topology's arena. */
const char *val_fmt(Val *v, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = arena_vprintf(v->t->arena, fmt, ap);
	va_end(ap);
	return s;
}

static void report(Val *v, PgcDiagLevel level, PgcPos pos, const char *key, const char *hint,
		   const char *fmt, va_list ap)
{
	char *msg = NULL;

	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	diag_add(v->diags, level, v->file, pos, key, hint, "%s", msg);
	free(msg);
}

void val_error(Val *v, PgcPos pos, const char *key, const char *hint, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(v, DIAG_ERROR, pos, key, hint, fmt, ap);
	va_end(ap);
}

void val_warn(Val *v, PgcPos pos, const char *key, const char *hint, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(v, DIAG_WARNING, pos, key, hint, fmt, ap);
	va_end(ap);
}

/* val_pos_or - a, or b when a is not in the file (a default value). */
PgcPos val_pos_or(PgcPos a, PgcPos b)
{
	return a.line > 0 ? a : b;
}

/* val_at_line - " (line N)" to point at another value, or "" when it has no position. */
const char *val_at_line(Val *v, PgcPos pos)
{
	return pos.line > 0 ? val_fmt(v, " (line %d)", pos.line) : "";
}

bool val_pos_before(PgcPos a, PgcPos b)
{
	return a.line < b.line || (a.line == b.line && a.col < b.col);
}

/* val_quoted_list - "a", "b", "c" */
const char *val_quoted_list(Val *v, const char *const *names, size_t n)
{
	size_t i, len = 1;
	char *s, *p;

	for (i = 0; i < n; i++)
		len += strlen(names[i]) + 4;
	s = p = arena_alloc(v->t->arena, len);
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s\"%s\"", i ? ", " : "", names[i]);
	return s;
}

const char *val_did_you_mean(Val *v, const char *word, const char *const *cands, size_t n)
{
	const char *s;

	if (n > v->suggest_left)
		return NULL;
	v->suggest_left -= n;
	s = str_suggest(word, cands, n);

	return s ? val_fmt(v, "did you mean \"%s\"?", s) : NULL;
}

/* val_duration - milliseconds in the largest unit that divides them exactly. */
const char *val_duration(Val *v, int64_t ms)
{
	static const struct {
		const char *unit;
		int64_t factor;
	} units[] = {{"d", 86400000}, {"h", 3600000}, {"min", 60000}, {"s", 1000}};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms != 0 && ms % units[i].factor == 0)
			return val_fmt(v, "%lld%s", (long long)(ms / units[i].factor), units[i].unit);
	return val_fmt(v, "%lldms", (long long)ms);
}
