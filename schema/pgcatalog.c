/*
 * schema/pgcatalog.c - lookups in the compiled-in parameter catalog and
 * normalisation of values with PostgreSQL's own parsing rules.
 *
 * The tables come from build/gen/pgcatalog_data.c, generated from
 * schema/catalog/pg*.tsv by schema/catalog/gen_catalog.sh: per version, the
 * parameters sorted by lowercased name.
 *
 * Values are parsed the way the server's guc.c (parse_int, parse_real,
 * convert_to_base_unit, parse_bool, config_enum_lookup_by_name) parses them,
 * so that whatever the server accepts is accepted here, and converts to the
 * same number.
 */
#include "schema/pgcatalog.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Defined in the generated build/gen/pgcatalog_data.c. */
extern const size_t pgc_catalog_nversions;
extern const int pgc_catalog_majors[];
extern const PgcParam *const pgc_catalog_params[];
extern const size_t pgc_catalog_counts[];
extern const char pgc_catalog_version_list[];

/* The longest name pgcatalog_suggest() compares; GUC names are far shorter. */
#define SUGGEST_MAX_LEN 128

/*
 * A unit and its size in the smallest unit of its kind (bytes, microseconds).
 * Each table runs from the greatest unit to the smallest, as guc.c's
 * conversion tables do: a fractional value is rounded to the next smaller
 * unit, and the order is the order the units are listed in messages.
 */
typedef struct {
	const char *name;
	double size;
} PgcUnit;

static const PgcUnit memory_units[] = {
	{"TB", 1024.0 * 1024.0 * 1024.0 * 1024.0},
	{"GB", 1024.0 * 1024.0 * 1024.0},
	{"MB", 1024.0 * 1024.0},
	{"kB", 1024.0},
	{"B", 1.0},
	{NULL, 0},
};

static const PgcUnit time_units[] = {
	{"d", 24.0 * 60 * 60 * 1000 * 1000},
	{"h", 60.0 * 60 * 1000 * 1000},
	{"min", 60.0 * 1000 * 1000},
	{"s", 1000.0 * 1000},
	{"ms", 1000.0},
	{"us", 1.0},
	{NULL, 0},
};

/* guc.c reads at most this many characters of a unit (MAX_UNIT_LEN). */
#define MAX_UNIT_LEN 3

/* The unit a parameter counts in: its table and its size ("8kB" = 8192 B). */
typedef struct {
	const PgcUnit *table; /* NULL: the parameter has no unit */
	double size;
} PgcBaseUnit;

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* put - copies s to out; -2 when it does not fit (see pgparam_normalize). */
static int put(char *out, size_t outlen, const char *s)
{
	size_t n = strlen(s);

	if (n >= outlen)
		return -2;
	memcpy(out, s, n + 1);
	return 0;
}

/* catalog_find - the parameters of one major version, or NULL. */
static const PgcParam *catalog_find(int major, size_t *count)
{
	for (size_t i = 0; i < pgc_catalog_nversions; i++) {
		if (pgc_catalog_majors[i] == major) {
			*count = pgc_catalog_counts[i];
			return pgc_catalog_params[i];
		}
	}
	*count = 0;
	return NULL;
}

bool pgcatalog_has_version(int major)
{
	size_t n;

	return catalog_find(major, &n) != NULL;
}

const char *pgcatalog_versions(void)
{
	return pgc_catalog_version_list;
}

const PgcParam *pgcatalog_lookup(int major, const char *name)
{
	size_t lo = 0, hi;
	const PgcParam *params = catalog_find(major, &hi);

	if (params == NULL || name == NULL)
		return NULL;
	/* The generator sorted the names as strcasecmp() orders them. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcasecmp(name, params[mid].name);

		if (cmp == 0)
			return &params[mid];
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * edit_distance - optimal string alignment distance (Levenshtein plus the
 * transposition of two neighbours, "shared_bufefrs"), case-insensitive.
 * Both strings must be shorter than SUGGEST_MAX_LEN.
 */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t rows[3][SUGGEST_MAX_LEN + 1];
	size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		int ca = tolower((unsigned char)a[i - 1]);

		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			int cb = tolower((unsigned char)b[j - 1]);
			size_t best = prev[j - 1] + (ca != cb);

			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
		size_t *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

const char *pgcatalog_suggest(int major, const char *name)
{
	size_t count;
	const PgcParam *params = catalog_find(major, &count);
	const char *best = NULL;
	size_t len, limit, best_d = SIZE_MAX;

	if (params == NULL || name == NULL)
		return NULL;
	len = strlen(name);
	if (len == 0 || len >= SUGGEST_MAX_LEN)
		return NULL;
	/* A typo or two, more in long names ("max_wal_size_mb"). */
	limit = len / 3 > 2 ? len / 3 : 2;
	for (size_t i = 0; i < count; i++) {
		size_t ln = strlen(params[i].name), d;

		if (ln >= SUGGEST_MAX_LEN || (ln > len ? ln - len : len - ln) > limit)
			continue;
		d = edit_distance(name, len, params[i].name, ln);
		/* Strictly better only: ties keep the alphabetically first name. */
		if (d <= limit && d < best_d) {
			best = params[i].name;
			best_d = d;
		}
	}
	return best;
}

const char *pgcatalog_context_name(PgcParamContext ctx)
{
	switch (ctx) {
	case PGP_CTX_INTERNAL:
		return "internal";
	case PGP_CTX_POSTMASTER:
		return "postmaster";
	case PGP_CTX_SIGHUP:
		return "sighup";
	case PGP_CTX_SUPERUSER_BACKEND:
		return "superuser-backend";
	case PGP_CTX_BACKEND:
		return "backend";
	case PGP_CTX_SUPERUSER:
		return "superuser";
	case PGP_CTX_USER:
		return "user";
	}
	return "unknown";
}

bool pgparam_needs_restart(const PgcParam *p)
{
	return p != NULL && p->context == PGP_CTX_POSTMASTER;
}

/*
 * base_unit - the table and size of pg_settings.unit: an optional count and
 * a unit name ("8kB", "kB", "ms"). An unknown unit would be a catalog bug;
 * it is treated as no unit so that nothing converts into it.
 */
static PgcBaseUnit base_unit(const char *unit)
{
	PgcBaseUnit b = {NULL, 1.0};
	static const PgcUnit *const tables[] = {memory_units, time_units};
	double factor = 1.0;
	char *end;

	if (unit == NULL || *unit == '\0')
		return b;
	if (isdigit((unsigned char)*unit)) {
		factor = strtod(unit, &end);
		unit = end;
	}
	for (size_t t = 0; t < 2; t++) {
		for (const PgcUnit *u = tables[t]; u->name != NULL; u++) {
			if (strcmp(u->name, unit) == 0) {
				b.table = tables[t];
				b.size = factor * u->size;
				return b;
			}
		}
	}
	return b;
}

/* unit_list - "B, kB, MB, GB, TB" for messages. */
static const char *unit_list(const PgcUnit *table)
{
	return table == memory_units ? "B, kB, MB, GB, TB" : "us, ms, s, min, h, d";
}

/* is_any_unit - whether s names a memory or time unit; for messages only. */
static bool is_any_unit(const char *s)
{
	for (const PgcUnit *u = memory_units; u->name != NULL; u++)
		if (strcmp(u->name, s) == 0)
			return true;
	for (const PgcUnit *u = time_units; u->name != NULL; u++)
		if (strcmp(u->name, s) == 0)
			return true;
	return false;
}

/*
 * convert_unit - guc.c's convert_to_base_unit(): value given in the unit
 * spelled at the start of text (at most MAX_UNIT_LEN characters, then only
 * white space), converted into the parameter's unit. A fractional value is
 * rounded to the nearest multiple of the next smaller unit ("1.5GB" is
 * 1536MB). Returns false when the unit is unknown for this parameter.
 */
static bool convert_unit(double value, const char *text, PgcBaseUnit base, double *out)
{
	char unit[MAX_UNIT_LEN + 1];
	size_t n = 0;

	while (*text != '\0' && !isspace((unsigned char)*text) && n < MAX_UNIT_LEN)
		unit[n++] = *text++;
	unit[n] = '\0';
	while (isspace((unsigned char)*text))
		text++;
	if (*text != '\0')
		return false;
	for (const PgcUnit *u = base.table; u->name != NULL; u++) {
		if (strcmp(unit, u->name) != 0)
			continue;
		/* One division of exact integers, as guc.c's multipliers are. */
		double cvalue = value * (u->size / base.size);

		if (u[1].name != NULL) {
			double next = u[1].size / base.size;

			cvalue = rint(cvalue / next) * next;
		}
		*out = cvalue;
		return true;
	}
	return false;
}

/* trim_copy - value without surrounding white space, for messages. */
static void trim_copy(const char *s, char *buf, size_t buflen)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	snprintf(buf, buflen, "%.*s", (int)(n < (size_t)INT_MAX ? n : (size_t)INT_MAX), s);
}

/*
 * parse_number - parse_int()/parse_real(): a number (integers also in octal
 * or hex, "0600", "0x10"), optional white space, an optional unit. Returns
 * the value in the parameter's unit, not yet rounded, or -1 with err set.
 */
static int parse_number(const PgcParam *p, const char *value, double *result, char *err,
			size_t errlen)
{
	bool integer = p->type == PGP_INTEGER;
	const char *what = integer ? "an integer" : "a number";
	PgcBaseUnit base = base_unit(p->unit);
	char *end;
	double val;

	errno = 0;
	if (integer) {
		/* guc.c: re-parse as a float at a decimal point, exponent or overflow. */
		val = (double)strtol(value, &end, 0);
		if (*end == '.' || *end == 'e' || *end == 'E' || errno == ERANGE) {
			errno = 0;
			val = strtod(value, &end);
		}
	} else {
		val = strtod(value, &end);
	}
	if (end == value || errno == ERANGE || isnan(val))
		goto syntax;
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0') {
		char unit[64];

		trim_copy(end, unit, sizeof unit);
		if (base.table == NULL) {
			if (is_any_unit(unit)) {
				set_err(err, errlen, "invalid value \"%s\": expected %s without a unit",
					value, what);
				return -1;
			}
			goto syntax;
		}
		if (!convert_unit(val, end, base, &val)) {
			set_err(err, errlen, "invalid unit \"%s\" in \"%s\": expected one of %s "
				"(case-sensitive)", unit, value, unit_list(base.table));
			return -1;
		}
	}
	*result = val;
	return 0;

syntax:
	if (base.table == NULL)
		set_err(err, errlen, "invalid value \"%s\": expected %s", value, what);
	else
		set_err(err, errlen, "invalid value \"%s\": expected %s with an optional unit "
			"(%s); a plain number is in %s units", value, what, unit_list(base.table),
			p->unit);
	return -1;
}

/* out_of_range - the range message; min and max in the parameter's unit. */
static int out_of_range(const PgcParam *p, const char *value, char *err, size_t errlen)
{
	char shown[64], range[128];

	trim_copy(value, shown, sizeof shown);
	if (p->type == PGP_INTEGER)
		snprintf(range, sizeof range, "%.0f to %.0f", p->min, p->max);
	else
		snprintf(range, sizeof range, "%g to %g", p->min, p->max);
	if (p->unit != NULL)
		set_err(err, errlen, "value %s is out of range: expected %s (%s units)", shown, range,
			p->unit);
	else
		set_err(err, errlen, "value %s is out of range: expected %s", shown, range);
	return -1;
}

static int normalize_integer(const PgcParam *p, const char *value, char *out, size_t outlen,
			     char *err, size_t errlen)
{
	double val;
	char buf[64];

	if (parse_number(p, value, &val, err, errlen) < 0)
		return -1;
	/* guc.c rounds after the unit conversion, to nearest (rint). */
	val = rint(val);
	if (val < p->min || val > p->max)
		return out_of_range(p, value, err, errlen);
	snprintf(buf, sizeof buf, "%d", (int)val);
	return put(out, outlen, buf);
}

static int normalize_real(const PgcParam *p, const char *value, char *out, size_t outlen,
			  char *err, size_t errlen)
{
	double val;
	char buf[64];

	if (parse_number(p, value, &val, err, errlen) < 0)
		return -1;
	if (val < p->min || val > p->max)
		return out_of_range(p, value, err, errlen);
	/* "%g" is how the server shows a real in pg_settings and SHOW. */
	snprintf(buf, sizeof buf, "%g", val);
	return put(out, outlen, buf);
}

/*
 * parse_bool - guc.c's parse_bool(): true, false, yes, no and their unique
 * prefixes, on, off (at least two letters: "o" is ambiguous), 1, 0; any case.
 */
static bool parse_bool(const char *value, bool *result)
{
	size_t len = strlen(value);

	if (len == 0)
		return false;
	switch (tolower((unsigned char)value[0])) {
	case 't':
		*result = true;
		return strncasecmp(value, "true", len) == 0;
	case 'f':
		*result = false;
		return strncasecmp(value, "false", len) == 0;
	case 'y':
		*result = true;
		return strncasecmp(value, "yes", len) == 0;
	case 'n':
		*result = false;
		return strncasecmp(value, "no", len) == 0;
	case 'o':
		if (strncasecmp(value, "on", len > 2 ? len : 2) == 0) {
			*result = true;
			return true;
		}
		*result = false;
		return strncasecmp(value, "off", len > 2 ? len : 2) == 0;
	case '1':
		*result = true;
		return len == 1;
	case '0':
		*result = false;
		return len == 1;
	}
	return false;
}

static int normalize_bool(const char *value, char *out, size_t outlen, char *err, size_t errlen)
{
	bool b;

	if (!parse_bool(value, &b)) {
		set_err(err, errlen, "invalid value \"%s\": expected a boolean "
			"(on, off, true, false, yes, no, 1, 0)", value);
		return -1;
	}
	return put(out, outlen, b ? "on" : "off");
}

/*
 * enum_alias - spellings the server accepts but pg_settings.enumvals does not
 * list (hidden entries in guc.c), mapped to the listed value the server shows
 * for them. Every enum offering on and off also takes the boolean words.
 */
static const char *enum_alias(const PgcParam *p, const char *value)
{
	static const char *const on_words[] = {"true", "yes", "1", NULL};
	static const char *const off_words[] = {"false", "no", "0", NULL};
	bool has_on = false, has_off = false, has_debug2 = false;

	for (const char *const *e = p->enumvals; *e != NULL; e++) {
		has_on |= strcmp(*e, "on") == 0;
		has_off |= strcmp(*e, "off") == 0;
		has_debug2 |= strcmp(*e, "debug2") == 0;
	}
	if (has_on && has_off) {
		for (size_t i = 0; on_words[i] != NULL; i++) {
			if (strcasecmp(value, on_words[i]) == 0)
				return "on";
			if (strcasecmp(value, off_words[i]) == 0)
				return "off";
		}
	}
	/* Message levels: "debug" is debug2. */
	if (has_debug2 && strcasecmp(value, "debug") == 0)
		return "debug2";
	/* wal_level: the levels before 9.6 are replica now. */
	if (strcasecmp(p->name, "wal_level") == 0 &&
	    (strcasecmp(value, "archive") == 0 || strcasecmp(value, "hot_standby") == 0))
		return "replica";
	return NULL;
}

static int normalize_enum(const PgcParam *p, const char *value, char *out, size_t outlen,
			  char *err, size_t errlen)
{
	const char *match = NULL;
	char list[1024];
	size_t used = 0;

	if (p->enumvals == NULL) {
		set_err(err, errlen, "invalid value \"%s\": the catalog lists no values for \"%s\"",
			value, p->name);
		return -1;
	}
	/* Matched whole and case-insensitively, as the server does. */
	for (const char *const *e = p->enumvals; *e != NULL && match == NULL; e++)
		if (strcasecmp(value, *e) == 0)
			match = *e;
	if (match == NULL)
		match = enum_alias(p, value);
	if (match != NULL)
		return put(out, outlen, match);

	list[0] = '\0';
	for (const char *const *e = p->enumvals; *e != NULL && used < sizeof list; e++) {
		int n = snprintf(list + used, sizeof list - used, "%s%s", e == p->enumvals ? "" : ", ",
				 **e == '\0' ? "\"\"" : *e);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	set_err(err, errlen, "invalid value \"%s\": expected one of %s", value, list);
	return -1;
}

int pgparam_normalize(const PgcParam *p, const char *value, char *out, size_t outlen,
		      char *err, size_t errlen)
{
	int rc = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (p == NULL || value == NULL || out == NULL || outlen == 0) {
		set_err(err, errlen, "no value to check");
		return -1;
	}
	switch (p->type) {
	case PGP_BOOL:
		rc = normalize_bool(value, out, outlen, err, errlen);
		break;
	case PGP_INTEGER:
		rc = normalize_integer(p, value, out, outlen, err, errlen);
		break;
	case PGP_REAL:
		rc = normalize_real(p, value, out, outlen, err, errlen);
		break;
	case PGP_ENUM:
		rc = normalize_enum(p, value, out, outlen, err, errlen);
		break;
	case PGP_STRING:
		rc = put(out, outlen, value);
		break;
	}
	if (rc == -2) {
		/* The caller's buffer is too small: a programming error, said plainly. */
		set_err(err, errlen, "canonical form of \"%.32s\" does not fit in %zu bytes", value,
			outlen);
		out[0] = '\0';
		rc = -1;
	}
	return rc;
}
