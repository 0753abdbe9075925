/*
 * reconcile/monitoring/pgbadger_files.c - which log files a pgBadger run
 * parses, and which report days it removes (pgbadger_files.h). Pure.
 */
#include "reconcile/monitoring/pgbadger_files.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/strutil.h"

size_t pgbadger_parse_listing(PgcArena *arena, const char *text, PgcLogFile **out)
{
	size_t n = 0, cap = 0;
	PgcLogFile *files = NULL;
	const char *p = text ? text : "";

	while (*p) {
		const char *eol = strchr(p, '\n'), *t1, *t2;
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char *line = arena_strndup(arena, p, len), *end;
		PgcLogFile f;

		p += len + (eol ? 1 : 0);
		t1 = strchr(line, '\t');
		t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (t1 == NULL || t2 == NULL || t1 == line)
			continue;
		f.name = arena_strndup(arena, line, (size_t)(t1 - line));
		if (strchr(f.name, '/') != NULL || f.name[0] == '.')
			continue;
		f.size = strtoll(t1 + 1, &end, 10);
		if (end != t2 || f.size < 0)
			continue;
		f.mtime = strtod(t2 + 1, &end);
		if (end == t2 + 1 || *end != '\0')
			continue;
		files = arena_grow(arena, files, n, &cap, 16, sizeof(*files));
		files[n++] = f;
	}
	*out = files;
	return n;
}

size_t pgbadger_current(PgcArena *arena, const char *text, const char ***out)
{
	size_t n = 0, cap = 0;
	const char **names = NULL;
	const char *p = text ? text : "";

	while (*p) {
		const char *eol = strchr(p, '\n'), *sp, *slash;
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *line = arena_strndup(arena, p, len);

		p += len + (eol ? 1 : 0);
		sp = strchr(line, ' ');
		if (sp == NULL || sp[1] == '\0')
			continue;
		slash = strrchr(sp + 1, '/');
		names = arena_grow(arena, names, n, &cap, 4, sizeof(*names));
		names[n++] = slash ? slash + 1 : sp + 1;
	}
	*out = names;
	return n;
}

static bool of_format(const char *name, const char *format)
{
	bool csv = str_has_suffix(name, ".csv"), json = str_has_suffix(name, ".json");

	if (strcmp(format, "csv") == 0)
		return csv;
	if (strcmp(format, "jsonlog") == 0)
		return json;
	return !csv && !json;
}

static bool listed(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

static bool parsed_already(const PgcLogFile *f, const PgcObsPgbadgerFile *parsed, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(parsed[i].name, f->name) == 0 && parsed[i].size == f->size &&
		    fabs(parsed[i].mtime - f->mtime) < 0.001)
			return true;
	return false;
}

static int cmp_files(const PgcLogFile *x, const PgcLogFile *y)
{
	if (x->mtime != y->mtime)
		return x->mtime < y->mtime ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int older_first(const void *a, const void *b)
{
	return cmp_files(*(const PgcLogFile *const *)a, *(const PgcLogFile *const *)b);
}

size_t pgbadger_pick(const PgcLogFile *files, size_t n, const char *format,
		     const char *const *current, size_t n_current, bool current_known,
		     const PgcObsPgbadgerFile *parsed, size_t n_parsed, double since,
		     const PgcLogFile **out)
{
	const PgcLogFile *newest = NULL;
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (of_format(files[i].name, format) &&
		    (newest == NULL || cmp_files(newest, &files[i]) < 0))
			newest = &files[i];
	for (size_t i = 0; i < n; i++) {
		const PgcLogFile *f = &files[i];

		if (!of_format(f->name, format) || f->mtime < since)
			continue;
		if (current_known ? listed(f->name, current, n_current) : f == newest)
			continue; /* the server may still write it */
		if (parsed_already(f, parsed, n_parsed))
			continue;
		out[k++] = f;
	}
	if (k > 1)
		qsort(out, k, sizeof(*out), older_first);
	return k;
}

int pgbadger_cutoff(time_t now, long long keep)
{
	time_t t = now - (time_t)(keep > 0 ? keep - 1 : 0) * 86400;
	struct tm tm;

	localtime_r(&t, &tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

/* day_of - YYYYMMDD of "YYYY/MM/DD", or -1 for another shape. */
static int day_of(const char *d)
{
	static const char shape[] = "dddd/dd/dd";

	if (strlen(d) != sizeof shape - 1)
		return -1;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)d[i]) : d[i] != shape[i])
			return -1;
	return atoi(d) * 10000 + atoi(d + 5) * 100 + atoi(d + 8);
}

size_t pgbadger_expired(PgcArena *arena, const char *const *dirs, size_t n, int cutoff,
			const char ***out)
{
	const char **old = arena_calloc(arena, n + 1, sizeof(char *));
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		int day = day_of(dirs[i]);

		if (day > 0 && day < cutoff)
			old[k++] = dirs[i];
	}
	*out = old;
	return k;
}
