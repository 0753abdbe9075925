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

#include "common/strutil.h"

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

/*
 * Parameters of contrib modules that pgconverge configures itself
 * (monitoring.pg_stat_statements): the server knows them only once the
 * library is loaded, so the generated catalog, made from a bare server,
 * lacks them. Bounds, contexts and defaults as pg_settings shows them on
 * PostgreSQL 13 to 16 with the library preloaded. Sorted by name.
 */
static const char *const pgss_track[] = {"none", "top", "all", NULL};
static const PgcParam contrib_params[] = {
	{"pg_stat_statements.max", PGP_INTEGER, PGP_CTX_POSTMASTER, NULL, 100, 1073741823, NULL, "5000"},
	{"pg_stat_statements.save", PGP_BOOL, PGP_CTX_SIGHUP, NULL, 0, 0, NULL, "on"},
	{"pg_stat_statements.track", PGP_ENUM, PGP_CTX_SUPERUSER, NULL, 0, 0, pgss_track, "top"},
	{"pg_stat_statements.track_planning", PGP_BOOL, PGP_CTX_SUPERUSER, NULL, 0, 0, NULL, "off"},
	{"pg_stat_statements.track_utility", PGP_BOOL, PGP_CTX_SUPERUSER, NULL, 0, 0, NULL, "on"},
};

#define N_CONTRIB (sizeof(contrib_params) / sizeof(contrib_params[0]))

/* The prefixes ("module.") whose every parameter contrib_params lists. */
static const char *const contrib_prefixes[] = {"pg_stat_statements.", NULL};

bool pgcatalog_known_prefix(const char *name)
{
	for (size_t i = 0; name != NULL && contrib_prefixes[i] != NULL; i++)
		if (strncasecmp(name, contrib_prefixes[i], strlen(contrib_prefixes[i])) == 0)
			return true;
	return false;
}

static const PgcParam *contrib_lookup(const char *name)
{
	for (size_t i = 0; i < N_CONTRIB; i++)
		if (strcasecmp(name, contrib_params[i].name) == 0)
			return &contrib_params[i];
	return NULL;
}

const PgcParam *pgcatalog_lookup(int major, const char *name)
{
	size_t lo = 0, hi;
	const PgcParam *params = catalog_find(major, &hi);

	if (params == NULL || name == NULL)
		return NULL;
	if (pgcatalog_known_prefix(name))
		return contrib_lookup(name);
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
		d = str_edit_distance(name, params[i].name, limit);
		/* Strictly better only: ties keep the alphabetically first name. */
		if (d <= limit && d < best_d) {
			best = params[i].name;
			best_d = d;
		}
	}
	for (size_t i = 0; i < N_CONTRIB && pgcatalog_known_prefix(name); i++) {
		size_t d = str_edit_distance(name, contrib_params[i].name, limit);

		if (d <= limit && d < best_d) {
			best = contrib_params[i].name;
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

/*
 * Check hooks in guc.c that raise a small value instead of refusing it, so
 * that the server shows the raised value; -1 (sized automatically) stays.
 */
static const struct {
	const char *param;
	int floor;
} int_floors[] = {
	{"autovacuum_work_mem", 1024}, /* check_autovacuum_work_mem() */
	{"wal_buffers", 4},            /* check_wal_buffers() */
};

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
	for (size_t i = 0; i < sizeof int_floors / sizeof int_floors[0]; i++)
		if (strcasecmp(p->name, int_floors[i].param) == 0 && val != -1 &&
		    val < int_floors[i].floor)
			val = int_floors[i].floor;
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
 * Enum spellings guc.c accepts without listing them in pg_settings.enumvals
 * (its "hidden" entries), with the value the server then shows. An entry
 * applies when the shown value is one of the parameter's enumvals, or is the
 * spelling itself (a hidden value shown as such), so that a version without
 * it is not affected. The boolean words are handled apart: every enum that
 * offers on and off takes them too.
 */
static const struct {
	const char *param;
	const char *spelling;
	const char *shown;
} enum_hidden[] = {
	{"wal_level", "archive", "replica"},
	{"wal_level", "hot_standby", "replica"},
	{"client_min_messages", "debug", "debug2"},
	{"client_min_messages", "info", "info"},
	{"trace_recovery_messages", "debug", "debug2"},
	{"trace_recovery_messages", "info", "info"},
	{"log_min_messages", "debug", "debug2"},
	{"log_min_error_statement", "debug", "debug2"},
};

/*
 * Listed enum values that share their meaning with an earlier one: the
 * server shows the earlier one (wal_compression = on is pglz).
 */
static const struct {
	const char *param;
	const char *value;
	const char *shown;
} enum_synonyms[] = {
	{"wal_compression", "on", "pglz"},
};

/* enum_listed - the catalog's spelling of value among p's enumvals, or NULL. */
static const char *enum_listed(const PgcParam *p, const char *value)
{
	for (const char *const *e = p->enumvals; *e != NULL; e++)
		if (strcasecmp(value, *e) == 0)
			return *e;
	return NULL;
}

/* enum_lookup - the value the server would show for value, or NULL. */
static const char *enum_lookup(const PgcParam *p, const char *value)
{
	static const char *const on_words[] = {"true", "yes", "1", NULL};
	static const char *const off_words[] = {"false", "no", "0", NULL};
	const char *match = enum_listed(p, value);

	if (match == NULL && enum_listed(p, "on") != NULL && enum_listed(p, "off") != NULL) {
		for (size_t i = 0; on_words[i] != NULL; i++) {
			if (strcasecmp(value, on_words[i]) == 0)
				match = enum_listed(p, "on");
			else if (strcasecmp(value, off_words[i]) == 0)
				match = enum_listed(p, "off");
		}
	}
	for (size_t i = 0; match == NULL && i < sizeof enum_hidden / sizeof enum_hidden[0]; i++) {
		if (strcasecmp(p->name, enum_hidden[i].param) != 0 ||
		    strcasecmp(value, enum_hidden[i].spelling) != 0)
			continue;
		if (strcmp(enum_hidden[i].shown, enum_hidden[i].spelling) == 0)
			match = enum_hidden[i].shown;
		else
			match = enum_listed(p, enum_hidden[i].shown);
	}
	for (size_t i = 0; match != NULL && i < sizeof enum_synonyms / sizeof enum_synonyms[0];
	     i++) {
		if (strcasecmp(p->name, enum_synonyms[i].param) == 0 &&
		    strcmp(match, enum_synonyms[i].value) == 0 &&
		    enum_listed(p, enum_synonyms[i].shown) != NULL)
			match = enum_listed(p, enum_synonyms[i].shown);
	}
	return match;
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
	match = enum_lookup(p, value);
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

/*
 * datestyle_word - one word of a DateStyle list, as check_datestyle() reads
 * it: sets *style or *order, and fails on a conflict or an unknown word.
 */
static bool datestyle_word(const char *w, size_t n, const char **style, bool *have_style,
			   const char **order, bool *have_order)
{
	static const struct {
		const char *word;
		size_t prefix; /* 0: the whole word must match */
		const char *style;
		const char *order;
	} words[] = {
		{"ISO", 0, "ISO", NULL},       {"SQL", 0, "SQL", NULL},
		{"POSTGRES", 8, "Postgres", NULL}, {"GERMAN", 0, "German", NULL},
		{"YMD", 0, NULL, "YMD"},       {"DMY", 0, NULL, "DMY"},
		{"EURO", 4, NULL, "DMY"},      {"MDY", 0, NULL, "MDY"},
		{"US", 0, NULL, "MDY"},        {"NONEURO", 7, NULL, "MDY"},
		{"DEFAULT", 0, "ISO", "MDY"},
	};

	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t len = words[i].prefix ? words[i].prefix : strlen(words[i].word);

		if (n < len || (words[i].prefix == 0 && n != len) ||
		    strncasecmp(w, words[i].word, len) != 0)
			continue;
		if (strcmp(words[i].word, "DEFAULT") == 0) {
			/* The boot value, for whichever part is not given. */
			if (!*have_style)
				*style = words[i].style;
			if (!*have_order)
				*order = words[i].order;
			return true;
		}
		if (words[i].style != NULL) {
			if (*have_style && strcmp(*style, words[i].style) != 0)
				return false;
			*style = words[i].style;
			*have_style = true;
			/* German implies DMY unless an order is given. */
			if (strcmp(words[i].style, "German") == 0 && !*have_order)
				*order = "DMY";
		} else {
			if (*have_order && strcmp(*order, words[i].order) != 0)
				return false;
			*order = words[i].order;
			*have_order = true;
		}
		return true;
	}
	return false;
}

/*
 * normalize_datestyle - DateStyle is a string the server rewrites into
 * "Style, ORDER" ("iso, mdy" shows as "ISO, MDY", "german" as "German, DMY";
 * initdb itself writes the former into postgresql.conf). The parts not given
 * keep the boot value, ISO and MDY.
 */
static int normalize_datestyle(const char *value, char *out, size_t outlen, char *err,
			       size_t errlen)
{
	const char *style = "ISO", *order = "MDY", *s = value;
	bool have_style = false, have_order = false;
	char buf[32];

	while (isspace((unsigned char)*s))
		s++;
	/* An empty list is valid and leaves the boot value. */
	while (*s != '\0') {
		const char *w, *e;

		while (isspace((unsigned char)*s))
			s++;
		w = s;
		while (*s != '\0' && *s != ',' && !isspace((unsigned char)*s))
			s++;
		e = s;
		while (isspace((unsigned char)*s))
			s++;
		if (e == w || (*s != ',' && *s != '\0') ||
		    !datestyle_word(w, (size_t)(e - w), &style, &have_style, &order, &have_order))
			goto bad;
		if (*s == ',' && *++s == '\0')
			goto bad; /* a trailing comma */
	}
	snprintf(buf, sizeof buf, "%s, %s", style, order);
	return put(out, outlen, buf);

bad:
	set_err(err, errlen, "invalid value \"%s\": expected a style (ISO, SQL, Postgres, "
		"German) and an order (DMY, MDY, YMD), separated by a comma", value);
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
	out[0] = '\0';
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
		if (strcasecmp(p->name, "DateStyle") == 0)
			rc = normalize_datestyle(value, out, outlen, err, errlen);
		else
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
