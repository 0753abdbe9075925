/*
 * schema/load_fields.c - the loader's machinery (schema/load_fields.h):
 * positions, scalar typing, mappings with merge keys, and the parsers of
 * each field type.
 */
#include "schema/load_fields.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/fsutil.h"
#include "common/strutil.h"
#include "schema/strmap.h"

/* ---- positions, diagnostics -------------------------------------------- */

PgcPos load_node_pos(const yaml_node_t *n)
{
	PgcPos p = {(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};

	return p;
}

const char *load_join(Ctx *c, const char *path, const char *key)
{
	return path == NULL || *path == '\0' ? key : arena_printf(c->a, "%s.%s", path, key);
}

/* ---- scalar typing (YAML 1.2 core schema) ------------------------------ */

const char *load_scalar_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool scalar_plain(const yaml_node_t *n)
{
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ||
	       n->data.scalar.style == YAML_ANY_SCALAR_STYLE;
}

static bool is_int_text(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static bool is_float_text(const char *s)
{
	char *end;

	if (*s == '\0' || isspace((unsigned char)*s))
		return false;
	errno = 0;
	strtod(s, &end);
	return *end == '\0' && strchr(s, 'x') == NULL && strchr(s, 'X') == NULL &&
	       strpbrk(s, "0123456789") != NULL;
}

YType load_ytype(const yaml_node_t *n)
{
	const char *s;

	if (n->type == YAML_MAPPING_NODE)
		return Y_MAP;
	if (n->type == YAML_SEQUENCE_NODE)
		return Y_SEQ;
	if (!scalar_plain(n))
		return Y_STR;
	s = load_scalar_text(n);
	if (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	    strcmp(s, "NULL") == 0)
		return Y_NULL;
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0 ||
	    strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
		return Y_BOOL;
	if (is_int_text(s))
		return Y_INT;
	if (is_float_text(s))
		return Y_FLOAT;
	return Y_STR;
}

const char *load_ytype_name(YType t)
{
	switch (t) {
	case Y_NULL:
		return "null";
	case Y_BOOL:
		return "a boolean";
	case Y_INT:
		return "an integer";
	case Y_FLOAT:
		return "a number";
	case Y_STR:
		return "a string";
	case Y_MAP:
		return "a mapping";
	case Y_SEQ:
		return "a list";
	}
	return "?";
}

/* ---- mappings: merge keys, duplicates, unknown keys -------------------- */

/*
 * budget_take - charges the walk for a node and the entries it holds: an
 * alias to a mapping of 1,000 entries, used 1,000 times in each of 1,000
 * aliased mappings, is a billion entries from a 32 kB file.
 */
static bool budget_take(Ctx *c, yaml_node_t *n, long entries)
{
	c->budget -= 1 + entries;
	if (c->budget >= 0)
		return true;
	if (!c->over_budget)
		ERR(c, load_node_pos(n), NULL, "reduce the use of aliases: each use counts again",
		    "document too large: more than %d mappings, entries and list items to read",
		    LOAD_NODE_BUDGET);
	c->over_budget = true;
	c->budget = -1;
	return false;
}

static long mapping_size(const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE ? (long)(n->data.mapping.pairs.top - n->data.mapping.pairs.start) : 0;
}

yaml_node_t *load_get_node(Ctx *c, int index)
{
	return yaml_document_get_node(c->doc, index);
}

/*
 * merge_into - the "<<" merge key: keys of the merged mapping(s) that the
 * mapping does not set itself. Explicit keys win, then earlier merged
 * mappings win over later ones, as in the YAML merge-key specification.
 */
static void merge_into(Ctx *c, Map *m, size_t *cap, PgcStrMap *keys, yaml_node_t *src, const char *path,
		       int depth)
{
	yaml_node_pair_t *p;

	if (depth > LOAD_MAX_DEPTH || !budget_take(c, src, mapping_size(src)))
		return;
	if (src->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;

		for (it = src->data.sequence.items.start; it < src->data.sequence.items.top; it++) {
			yaml_node_t *item = load_get_node(c, *it);

			if (item->type != YAML_MAPPING_NODE) {
				ERR(c, load_node_pos(item), load_join(c, path, "<<"), NULL,
				    "a merge key takes a mapping or a list of mappings, got %s",
				    load_ytype_name(load_ytype(item)));
				continue;
			}
			merge_into(c, m, cap, keys, item, path, depth + 1);
		}
		return;
	}
	if (src->type != YAML_MAPPING_NODE) {
		ERR(c, load_node_pos(src), load_join(c, path, "<<"), NULL,
		    "a merge key takes a mapping or a list of mappings, got %s", load_ytype_name(load_ytype(src)));
		return;
	}
	for (p = src->data.mapping.pairs.start; p < src->data.mapping.pairs.top; p++) {
		yaml_node_t *k = load_get_node(c, p->key), *v = load_get_node(c, p->value);

		if (k->type != YAML_SCALAR_NODE)
			continue; /* reported where the merged mapping is defined */
		if (strcmp(load_scalar_text(k), "<<") == 0) {
			merge_into(c, m, cap, keys, v, path, depth + 1);
			continue;
		}
		if (strmap_get(keys, load_scalar_text(k)) != NULL)
			continue;
		m->e = arena_grow(c->a, m->e, m->n, cap, 4, sizeof(Entry));
		m->e[m->n].key = arena_strdup(c->a, load_scalar_text(k));
		m->e[m->n].key_pos = load_node_pos(k);
		m->e[m->n].val = v;
		strmap_put(keys, m->e[m->n].key, m->n);
		m->n++;
	}
}

/* entry_index - where key is in m (through keys when not NULL), or -1. */
static long entry_index(const Map *m, const PgcStrMap *keys, const char *key)
{
	const size_t *at;
	size_t i;

	if (keys != NULL) {
		at = strmap_get(keys, key);
		return at != NULL ? (long)*at : -1;
	}
	for (i = 0; i < m->n; i++)
		if (strcmp(m->e[i].key, key) == 0)
			return (long)i;
	return -1;
}

/*
 * get_map - the entries of a mapping node, with merge keys applied and
 * duplicate keys reported. On a non-mapping node, reports the type error
 * and returns false.
 */
bool load_get_map(Ctx *c, yaml_node_t *n, const char *path, Map *m)
{
	yaml_node_pair_t *p;
	size_t cap, i;
	yaml_node_t *merges[8];
	size_t n_merges = 0;
	PgcStrMap keys; /* key -> index in m->e, for duplicates in all but small mappings */
	long dup;
	bool indexed;

	memset(m, 0, sizeof(*m));
	m->pos = load_node_pos(n);
	if (!budget_take(c, n, mapping_size(n)))
		return false;
	if (n->type != YAML_MAPPING_NODE) {
		ERR(c, load_node_pos(n), path, NULL, "expected a mapping, got %s", load_ytype_name(load_ytype(n)));
		return false;
	}
	cap = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start) + 1;
	m->e = arena_calloc(c->a, cap, sizeof(Entry));
	strmap_init(&keys, cap, false);
	indexed = cap > 9; /* below, a scan costs less than a table */
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = load_get_node(c, p->key), *v = load_get_node(c, p->value);
		const char *key;

		if (k->type != YAML_SCALAR_NODE) {
			ERR(c, load_node_pos(k), path, NULL, "keys must be plain strings, got %s",
			    load_ytype_name(load_ytype(k)));
			continue;
		}
		key = load_scalar_text(k);
		if (strcmp(key, "<<") == 0 && scalar_plain(k)) {
			if (n_merges < sizeof(merges) / sizeof(merges[0]))
				merges[n_merges++] = v;
			else
				ERR(c, load_node_pos(k), path, NULL, "too many merge keys in one mapping");
			continue;
		}
		dup = entry_index(m, indexed ? &keys : NULL, key);
		if (dup >= 0) {
			const Entry *first = &m->e[dup];
			char *hint = arena_printf(c->a, "first defined at line %d, column %d", first->key_pos.line,
						  first->key_pos.col);

			ERR(c, load_node_pos(k), load_join(c, path, key), hint, "duplicate key \"%s\"", key);
			continue;
		}
		m->e[m->n].key = arena_strdup(c->a, key);
		m->e[m->n].key_pos = load_node_pos(k);
		m->e[m->n].val = v;
		if (indexed)
			strmap_put(&keys, m->e[m->n].key, m->n);
		m->n++;
	}
	if (n_merges > 0 && !indexed)
		for (i = 0; i < m->n; i++)
			strmap_put(&keys, m->e[i].key, i);
	for (i = 0; i < n_merges; i++)
		merge_into(c, m, &cap, &keys, merges[i], path, c->depth + 1);
	strmap_free(&keys);
	return true;
}

Entry *load_map_get(Map *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->e[i].key, key) == 0)
			return &m->e[i];
	return NULL;
}

/* ---- field tables ------------------------------------------------------ */

#define NAME_MAX_LEN 63

static bool valid_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	if (!(islower((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (i = 1; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

bool load_check_name(Ctx *c, const char *name, PgcPos pos, const char *path, const char *what)
{
	if (valid_name(name))
		return true;
	ERR(c, pos, path, "use lowercase letters, digits, '_' and '-', starting with a letter or '_'",
	    "invalid %s name \"%s\": expected at most %d characters matching [a-z_][a-z0-9_-]*", what,
	    name, NAME_MAX_LEN);
	return false;
}

static bool valid_host(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!(isalnum(ch) || ch == '.' || ch == '-' || ch == ':' || ch == '_'))
			return false;
	}
	return s[0] != '-' && s[0] != '.';
}

/* expect_scalar - true when n is a scalar of an acceptable YAML type. */
static bool expect_type(Ctx *c, yaml_node_t *n, const char *path, YType want, const char *what)
{
	YType got = load_ytype(n);
	const char *hint = NULL;

	if (got == want)
		return true;
	if (got == Y_STR && want == Y_INT && is_int_text(load_scalar_text(n)))
		hint = "remove the quotes: a quoted number is a string";
	ERR(c, load_node_pos(n), path, hint, "expected %s, got %s%s%s%s", what, load_ytype_name(got),
	    n->type == YAML_SCALAR_NODE && got != Y_NULL ? " \"" : "",
	    n->type == YAML_SCALAR_NODE && got != Y_NULL ? load_scalar_text(n) : "",
	    n->type == YAML_SCALAR_NODE && got != Y_NULL ? "\"" : "");
	return false;
}

/*
 * parse_unit_value - "<digits><unit>" with a unit from table (name, factor);
 * a bare integer is multiplied by bare_factor. Returns 0 or -1.
 */
typedef struct {
	const char *name;
	int64_t factor;
} Unit;

static int parse_unit_value(const char *s, const Unit *units, int64_t bare_factor, int64_t *out)
{
	char *end;
	unsigned long long v;
	const Unit *u;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || v > (unsigned long long)INT64_MAX)
		return -1;
	if (*end == '\0') {
		if (bare_factor != 0 && v > (unsigned long long)(INT64_MAX / bare_factor))
			return -1;
		*out = (int64_t)v * bare_factor;
		return 0;
	}
	for (u = units; u->name != NULL; u++) {
		if (strcmp(end, u->name) == 0) {
			if (v > (unsigned long long)(INT64_MAX / u->factor))
				return -1;
			*out = (int64_t)v * u->factor;
			return 0;
		}
	}
	return -1;
}

static const Unit duration_units[] = {
	{"ms", 1}, {"s", 1000}, {"min", 60000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {NULL, 0},
};

static const Unit size_units[] = {
	{"B", 1},
	{"kB", 1024},
	{"MB", 1024LL * 1024},
	{"GB", 1024LL * 1024 * 1024},
	{"TB", 1024LL * 1024 * 1024 * 1024},
	{NULL, 0},
};

static void parse_str_field(Ctx *c, Entry *e, const char *path, PgcStr *out, FieldType type)
{
	YType t = load_ytype(e->val);
	const char *s;

	if (type == F_SCALAR) {
		if (t != Y_STR && t != Y_INT && t != Y_FLOAT) {
			ERR(c, load_node_pos(e->val), path, NULL, "expected a string or a number, got %s",
			    load_ytype_name(t));
			return;
		}
	} else if (!expect_type(c, e->val, path, Y_STR, "a string")) {
		return;
	}
	s = arena_strdup(c->a, load_scalar_text(e->val));
	if (type == F_NAME && !load_check_name(c, s, load_node_pos(e->val), path, e->key))
		return;
	if (type == F_HOST && !valid_host(s)) {
		ERR(c, load_node_pos(e->val), path, NULL,
		    "invalid host \"%s\": expected an IP address or a host name", s);
		return;
	}
	if (type == F_PATH) {
		char *abs;

		if (*s == '\0') {
			ERR(c, load_node_pos(e->val), path, NULL, "expected a path, got an empty string");
			return;
		}
		abs = fs_path_resolve(c->t->base_dir, s);
		s = arena_strdup(c->a, abs);
		free(abs);
	} else if (type != F_SCALAR && *s == '\0') {
		ERR(c, load_node_pos(e->val), path, NULL, "expected a non-empty string");
		return;
	}
	out->v = s;
	out->pos = load_node_pos(e->val);
	out->set = true;
}

static void parse_int_field(Ctx *c, Entry *e, const char *path, PgcInt *out, long long min,
			    long long max)
{
	char *end;
	long long v;

	if (!expect_type(c, e->val, path, Y_INT, "an integer"))
		return;
	errno = 0;
	v = strtoll(load_scalar_text(e->val), &end, 10);
	if (errno != 0 || v < min || v > max) {
		if (min == max)
			ERR(c, load_node_pos(e->val), path, NULL, "unsupported value %s: expected %lld",
			    load_scalar_text(e->val), min);
		else if (max == LLONG_MAX)
			ERR(c, load_node_pos(e->val), path, NULL, "value %s is out of range: expected at least %lld",
			    load_scalar_text(e->val), min);
		else
			ERR(c, load_node_pos(e->val), path, NULL,
			    "value %s is out of range: expected %lld to %lld", load_scalar_text(e->val), min, max);
		return;
	}
	out->v = v;
	out->pos = load_node_pos(e->val);
	out->set = true;
}

static void parse_bool_field(Ctx *c, Entry *e, const char *path, PgcBool *out)
{
	YType t = load_ytype(e->val);

	if (t != Y_BOOL) {
		const char *s = e->val->type == YAML_SCALAR_NODE ? load_scalar_text(e->val) : "";
		const char *hint = NULL;

		if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0 || strcasecmp(s, "no") == 0 ||
		    strcasecmp(s, "off") == 0)
			hint = "YAML 1.2 booleans are true and false";
		else if (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0)
			hint = "remove the quotes: a quoted boolean is a string";
		ERR(c, load_node_pos(e->val), path, hint, "expected true or false, got %s%s%s%s",
		    load_ytype_name(t), e->val->type == YAML_SCALAR_NODE && t != Y_NULL ? " \"" : "",
		    e->val->type == YAML_SCALAR_NODE && t != Y_NULL ? s : "",
		    e->val->type == YAML_SCALAR_NODE && t != Y_NULL ? "\"" : "");
		return;
	}
	out->v = tolower((unsigned char)load_scalar_text(e->val)[0]) == 't';
	out->pos = load_node_pos(e->val);
	out->set = true;
}

static void parse_dur_field(Ctx *c, Entry *e, const char *path, PgcDuration *out)
{
	YType t = load_ytype(e->val);
	int64_t ms;

	if ((t != Y_STR && t != Y_INT) ||
	    parse_unit_value(load_scalar_text(e->val), duration_units, 1000, &ms) != 0) {
		ERR(c, load_node_pos(e->val), path, "units are ms, s, min, h and d, e.g. \"30s\" or \"24h\"",
		    "invalid duration %s%s%s: expected a number with a unit",
		    e->val->type == YAML_SCALAR_NODE ? "\"" : "",
		    e->val->type == YAML_SCALAR_NODE ? load_scalar_text(e->val) : load_ytype_name(t),
		    e->val->type == YAML_SCALAR_NODE ? "\"" : "");
		return;
	}
	out->ms = ms;
	out->pos = load_node_pos(e->val);
	out->set = true;
}

static void parse_size_field(Ctx *c, Entry *e, const char *path, PgcSize *out)
{
	YType t = load_ytype(e->val);
	int64_t bytes;

	if ((t != Y_STR && t != Y_INT) ||
	    parse_unit_value(load_scalar_text(e->val), size_units, 1, &bytes) != 0) {
		ERR(c, load_node_pos(e->val), path, "units are B, kB, MB, GB and TB, e.g. \"16MB\"",
		    "invalid size %s%s%s: expected a number with a unit",
		    e->val->type == YAML_SCALAR_NODE ? "\"" : "",
		    e->val->type == YAML_SCALAR_NODE ? load_scalar_text(e->val) : load_ytype_name(t),
		    e->val->type == YAML_SCALAR_NODE ? "\"" : "");
		return;
	}
	out->bytes = bytes;
	out->pos = load_node_pos(e->val);
	out->set = true;
}

static bool valid_env_name(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

static void parse_secret_field(Ctx *c, Entry *e, const char *path, PgcSecret *out)
{
	Map m;
	Entry *env, *file;
	size_t i, unknown = 0;

	if (e->val->type != YAML_MAPPING_NODE) {
		if (e->val->type == YAML_SCALAR_NODE && load_ytype(e->val) != Y_NULL)
			ERR(c, load_node_pos(e->val), path,
			    "write {env: VARIABLE} or {file: PATH} and keep the value out of the topology file",
			    "a plaintext secret is not allowed here");
		else
			ERR(c, load_node_pos(e->val), path, "write {env: VARIABLE} or {file: PATH}",
			    "expected a secret reference, got %s", load_ytype_name(load_ytype(e->val)));
		return;
	}
	if (!load_get_map(c, e->val, path, &m))
		return;
	for (i = 0; i < m.n; i++) {
		if (strcmp(m.e[i].key, "env") != 0 && strcmp(m.e[i].key, "file") != 0) {
			unknown++;
			const char *const cands[] = {"env", "file"};
			const char *s = str_suggest(m.e[i].key, cands, 2);

			ERR(c, m.e[i].key_pos, load_join(c, path, m.e[i].key),
			    s ? arena_printf(c->a, "did you mean \"%s\"?", s) : "a secret is {env: VARIABLE} or {file: PATH}",
			    "unknown key \"%s\"", m.e[i].key);
		}
	}
	if (unknown > 0)
		return;
	env = load_map_get(&m, "env");
	file = load_map_get(&m, "file");
	if ((env != NULL) == (file != NULL)) {
		ERR(c, m.pos, path, "write {env: VARIABLE} or {file: PATH}",
		    "expected exactly one of \"env\" or \"file\"");
		return;
	}
	if (env != NULL) {
		const char *p2 = load_join(c, path, "env");

		if (!expect_type(c, env->val, p2, Y_STR, "an environment variable name"))
			return;
		if (!valid_env_name(load_scalar_text(env->val))) {
			ERR(c, load_node_pos(env->val), p2, NULL,
			    "invalid environment variable name \"%s\": expected [A-Za-z_][A-Za-z0-9_]*",
			    load_scalar_text(env->val));
			return;
		}
		out->kind = SECRET_ENV;
		out->ref = arena_strdup(c->a, load_scalar_text(env->val));
		out->pos = load_node_pos(env->val);
	} else {
		PgcStr s = {0};

		parse_str_field(c, file, load_join(c, path, "file"), &s, F_PATH);
		if (!s.set)
			return;
		out->kind = SECRET_FILE;
		out->ref = s.v;
		out->pos = s.pos;
	}
	out->set = true;
}

static void parse_strlist_field(Ctx *c, Entry *e, const char *path, PgcStrList *out, bool names)
{
	yaml_node_t *n = e->val;
	yaml_node_item_t *it;
	size_t i = 0;
	PgcStrMap seen;
	const size_t *dup;

	if (n->type != YAML_SEQUENCE_NODE) {
		ERR(c, load_node_pos(n), path, NULL, "expected a list of strings, got %s", load_ytype_name(load_ytype(n)));
		return;
	}
	strmap_init(&seen, (size_t)(n->data.sequence.items.top - n->data.sequence.items.start), false);
	out->items = arena_calloc(c->a, (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) + 1,
				  sizeof(PgcStr));
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *item = load_get_node(c, *it);
		const char *ipath = arena_printf(c->a, "%s[%zu]", path, i);

		if (!budget_take(c, item, 0) || !expect_type(c, item, ipath, Y_STR, "a string"))
			continue;
		if (names && !load_check_name(c, load_scalar_text(item), load_node_pos(item), ipath, "a"))
			continue;
		dup = strmap_get(&seen, load_scalar_text(item));
		if (dup != NULL) {
			ERR(c, load_node_pos(item), ipath, NULL, "\"%s\" is listed twice", load_scalar_text(item));
			continue;
		}
		out->items[out->n].v = arena_strdup(c->a, load_scalar_text(item));
		out->items[out->n].pos = load_node_pos(item);
		out->items[out->n].set = true;
		strmap_put(&seen, out->items[out->n].v, out->n);
		out->n++;
	}
	strmap_free(&seen);
	out->pos = load_node_pos(n);
	out->set = true;
}

void load_parse_enum_field(Ctx *c, Entry *e, const char *path, const Field *f, void *base)
{
	const char *s;
	size_t i, n = 0;
	char *list;

	if (e->val->type == YAML_SCALAR_NODE && load_ytype(e->val) != Y_NULL) {
		s = load_scalar_text(e->val);
		for (i = 0; f->enumvals[i] != NULL; i++) {
			if (strcmp(s, f->enumvals[i]) == 0) {
				*(int *)((char *)base + f->off) = (int)i;
				*(PgcPos *)((char *)base + f->off2) = load_node_pos(e->val);
				return;
			}
		}
	}
	for (i = 0; f->enumvals[i] != NULL; i++)
		n += strlen(f->enumvals[i]) + 2;
	list = arena_alloc(c->a, n + 1);
	for (i = 0; f->enumvals[i] != NULL; i++) {
		if (i > 0)
			strcat(list, ", ");
		strcat(list, f->enumvals[i]);
	}
	if (e->val->type == YAML_SCALAR_NODE && load_ytype(e->val) != Y_NULL) {
		const char *sug = str_suggest(load_scalar_text(e->val), f->enumvals, n == 0 ? 0 : i);

		ERR(c, load_node_pos(e->val), path, sug ? arena_printf(c->a, "did you mean \"%s\"?", sug) : NULL,
		    "invalid value \"%s\": expected one of %s", load_scalar_text(e->val), list);
	} else {
		ERR(c, load_node_pos(e->val), path, NULL, "expected one of %s, got %s", list,
		    load_ytype_name(load_ytype(e->val)));
	}
}

/*
 * load_fields - applies a field table to a mapping: unknown keys (with a
 * suggestion), missing required keys, then each field's parser.
 */
bool load_fields(Ctx *c, yaml_node_t *n, const char *path, const Field *fields, void *base,
			Map *out_map)
{
	Map m;
	size_t i;
	const Field *f;

	if (!load_get_map(c, n, path, &m))
		return false;
	c->depth++;
	for (i = 0; i < m.n; i++) {
		Entry *e = &m.e[i];
		const char *epath = load_join(c, path, e->key);

		for (f = fields; f->key != NULL; f++)
			if (strcmp(f->key, e->key) == 0)
				break;
		if (f->key == NULL) {
			const char *cands[64];
			size_t nc = 0;
			const char *sug;

			for (f = fields; f->key != NULL && nc < 64; f++)
				cands[nc++] = f->key;
			sug = str_suggest(e->key, cands, nc);
			ERR(c, e->key_pos, epath, sug ? arena_printf(c->a, "did you mean \"%s\"?", sug) : NULL,
			    "unknown key \"%s\"", e->key);
			continue;
		}
		if (c->depth > LOAD_MAX_DEPTH) {
			ERR(c, e->key_pos, epath, NULL, "nesting too deep");
			continue;
		}
		switch (f->type) {
		case F_STR:
		case F_NAME:
		case F_PATH:
		case F_HOST:
		case F_SCALAR:
			parse_str_field(c, e, epath, (PgcStr *)((char *)base + f->off), f->type);
			break;
		case F_INT:
			parse_int_field(c, e, epath, (PgcInt *)((char *)base + f->off), f->min, f->max);
			break;
		case F_BOOL:
			parse_bool_field(c, e, epath, (PgcBool *)((char *)base + f->off));
			break;
		case F_DUR:
			parse_dur_field(c, e, epath, (PgcDuration *)((char *)base + f->off));
			break;
		case F_SIZE:
			parse_size_field(c, e, epath, (PgcSize *)((char *)base + f->off));
			break;
		case F_SECRET:
			parse_secret_field(c, e, epath, (PgcSecret *)((char *)base + f->off));
			break;
		case F_STRLIST:
		case F_NAMELIST:
			parse_strlist_field(c, e, epath, (PgcStrList *)((char *)base + f->off),
					    f->type == F_NAMELIST);
			break;
		case F_ENUM:
			load_parse_enum_field(c, e, epath, f, base);
			break;
		case F_FN:
			f->fn(c, e, epath, base);
			break;
		}
	}
	for (f = fields; f->key != NULL; f++)
		if (f->required && load_map_get(&m, f->key) == NULL)
			ERR(c, m.pos, *path ? path : NULL, NULL, "missing required key \"%s\"", f->key);
	c->depth--;
	if (out_map != NULL)
		*out_map = m;
	return true;
}

void load_check_word(Ctx *c, PgcStr *s, const char *path, const char *const *vals)
{
	size_t i, n = 0, len = 0;
	char *list;
	const char *sug;

	if (!s->set)
		return;
	for (i = 0; vals[i] != NULL; i++, n++) {
		if (strcmp(s->v, vals[i]) == 0)
			return;
		len += strlen(vals[i]) + 2;
	}
	list = arena_alloc(c->a, len + 1);
	for (i = 0; vals[i] != NULL; i++) {
		if (i > 0)
			strcat(list, ", ");
		strcat(list, vals[i]);
	}
	sug = str_suggest(s->v, vals, n);
	ERR(c, s->pos, path, sug ? arena_printf(c->a, "did you mean \"%s\"?", sug) : NULL,
	    "invalid value \"%s\": expected one of %s", s->v, list);
	s->set = false;
}
