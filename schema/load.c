/*
 * schema/load.c - YAML topology file -> PgcTopology.
 *
 * The document is built from libyaml's parser events (see compose(): aliases
 * resolved to shared nodes, every node with its start mark, too deep nesting
 * and NUL bytes refused as they are read); this file walks it with one table of fields
 * per section, checking structure and types, filling defaults and keeping
 * the position of every value. Semantic checks (references, conflicts,
 * policies, parameters) are in validate.c and run only on a structurally
 * sound file, so a reader gets structure errors first and never a cascade
 * of follow-on errors.
 */
#include "schema/topology.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/fsutil.h"
#include "common/strutil.h"
#include "schema/strmap.h"
#include "schema/validate.h"

/* Aliases can make a small file expand into a huge tree ("billion laughs");
 * refuse documents whose walk visits more mappings, entries and list items
 * than any real topology (a 1 MB file holds fewer than 200,000 entries). */
#define LOAD_NODE_BUDGET 1000000
#define LOAD_MAX_DEPTH 64

typedef struct {
	yaml_document_t *doc;
	PgcTopology *t;
	PgcArena *a;
	PgcDiagList *diags;
	const char *file;
	long budget;
	bool over_budget;
	int depth;
} Ctx;

typedef struct {
	const char *key;
	PgcPos key_pos;
	yaml_node_t *val;
} Entry;

typedef struct {
	Entry *e;
	size_t n;
	PgcPos pos;
} Map;

/* ---- positions, diagnostics -------------------------------------------- */

static PgcPos node_pos(const yaml_node_t *n)
{
	PgcPos p = {(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};

	return p;
}

static const char *join(Ctx *c, const char *path, const char *key)
{
	return path == NULL || *path == '\0' ? key : arena_printf(c->a, "%s.%s", path, key);
}

#define ERR(c, pos, key, hint, ...) diag_error((c)->diags, (c)->file, pos, key, hint, __VA_ARGS__)

/* ---- scalar typing (YAML 1.2 core schema) ------------------------------ */

typedef enum { Y_NULL, Y_BOOL, Y_INT, Y_FLOAT, Y_STR, Y_MAP, Y_SEQ } YType;

static const char *scalar_text(const yaml_node_t *n)
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

static YType ytype(const yaml_node_t *n)
{
	const char *s;

	if (n->type == YAML_MAPPING_NODE)
		return Y_MAP;
	if (n->type == YAML_SEQUENCE_NODE)
		return Y_SEQ;
	if (!scalar_plain(n))
		return Y_STR;
	s = scalar_text(n);
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

static const char *ytype_name(YType t)
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
		ERR(c, node_pos(n), NULL, "reduce the use of aliases: each use counts again",
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

static yaml_node_t *get_node(Ctx *c, int index)
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
			yaml_node_t *item = get_node(c, *it);

			if (item->type != YAML_MAPPING_NODE) {
				ERR(c, node_pos(item), join(c, path, "<<"), NULL,
				    "a merge key takes a mapping or a list of mappings, got %s",
				    ytype_name(ytype(item)));
				continue;
			}
			merge_into(c, m, cap, keys, item, path, depth + 1);
		}
		return;
	}
	if (src->type != YAML_MAPPING_NODE) {
		ERR(c, node_pos(src), join(c, path, "<<"), NULL,
		    "a merge key takes a mapping or a list of mappings, got %s", ytype_name(ytype(src)));
		return;
	}
	for (p = src->data.mapping.pairs.start; p < src->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get_node(c, p->key), *v = get_node(c, p->value);

		if (k->type != YAML_SCALAR_NODE)
			continue; /* reported where the merged mapping is defined */
		if (strcmp(scalar_text(k), "<<") == 0) {
			merge_into(c, m, cap, keys, v, path, depth + 1);
			continue;
		}
		if (strmap_get(keys, scalar_text(k)) != NULL)
			continue;
		if (m->n == *cap) {
			Entry *ne;

			*cap = *cap * 2 + 4;
			ne = arena_calloc(c->a, *cap, sizeof(Entry));
			if (m->n)
				memcpy(ne, m->e, m->n * sizeof(Entry));
			m->e = ne;
		}
		m->e[m->n].key = arena_strdup(c->a, scalar_text(k));
		m->e[m->n].key_pos = node_pos(k);
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
static bool get_map(Ctx *c, yaml_node_t *n, const char *path, Map *m)
{
	yaml_node_pair_t *p;
	size_t cap, i;
	yaml_node_t *merges[8];
	size_t n_merges = 0;
	PgcStrMap keys; /* key -> index in m->e, for duplicates in all but small mappings */
	long dup;
	bool indexed;

	memset(m, 0, sizeof(*m));
	m->pos = node_pos(n);
	if (!budget_take(c, n, mapping_size(n)))
		return false;
	if (n->type != YAML_MAPPING_NODE) {
		ERR(c, node_pos(n), path, NULL, "expected a mapping, got %s", ytype_name(ytype(n)));
		return false;
	}
	cap = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start) + 1;
	m->e = arena_calloc(c->a, cap, sizeof(Entry));
	strmap_init(&keys, cap, false);
	indexed = cap > 9; /* below, a scan costs less than a table */
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get_node(c, p->key), *v = get_node(c, p->value);
		const char *key;

		if (k->type != YAML_SCALAR_NODE) {
			ERR(c, node_pos(k), path, NULL, "keys must be plain strings, got %s",
			    ytype_name(ytype(k)));
			continue;
		}
		key = scalar_text(k);
		if (strcmp(key, "<<") == 0 && scalar_plain(k)) {
			if (n_merges < sizeof(merges) / sizeof(merges[0]))
				merges[n_merges++] = v;
			else
				ERR(c, node_pos(k), path, NULL, "too many merge keys in one mapping");
			continue;
		}
		dup = entry_index(m, indexed ? &keys : NULL, key);
		if (dup >= 0) {
			const Entry *first = &m->e[dup];
			char *hint = arena_printf(c->a, "first defined at line %d, column %d", first->key_pos.line,
						  first->key_pos.col);

			ERR(c, node_pos(k), join(c, path, key), hint, "duplicate key \"%s\"", key);
			continue;
		}
		m->e[m->n].key = arena_strdup(c->a, key);
		m->e[m->n].key_pos = node_pos(k);
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

static Entry *map_get(Map *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->e[i].key, key) == 0)
			return &m->e[i];
	return NULL;
}

/* ---- field tables ------------------------------------------------------ */

typedef enum {
	F_STR,     /* PgcStr */
	F_NAME,    /* PgcStr, an identifier-like name */
	F_PATH,    /* PgcStr, resolved to an absolute path */
	F_HOST,    /* PgcStr, a host name or address */
	F_SCALAR,  /* PgcStr: a string or a number, kept as text */
	F_INT,     /* PgcInt within [min, max] */
	F_BOOL,    /* PgcBool */
	F_DUR,     /* PgcDuration */
	F_SIZE,    /* PgcSize */
	F_SECRET,  /* PgcSecret */
	F_STRLIST, /* PgcStrList of strings */
	F_NAMELIST,/* PgcStrList of names */
	F_ENUM,    /* int at off (index into enumvals), PgcPos at off2 */
	F_FN,      /* custom: fn(c, entry, path, base) */
} FieldType;

typedef struct Field Field;
typedef void (*FieldFn)(Ctx *c, Entry *e, const char *path, void *base);

struct Field {
	const char *key;
	FieldType type;
	size_t off;
	long long min;
	long long max;
	const char *const *enumvals;
	size_t off2;
	FieldFn fn;
	bool required;
};

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

static bool check_name(Ctx *c, const char *name, PgcPos pos, const char *path, const char *what)
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
	YType got = ytype(n);
	const char *hint = NULL;

	if (got == want)
		return true;
	if (got == Y_STR && want == Y_INT && is_int_text(scalar_text(n)))
		hint = "remove the quotes: a quoted number is a string";
	ERR(c, node_pos(n), path, hint, "expected %s, got %s%s%s%s", what, ytype_name(got),
	    n->type == YAML_SCALAR_NODE && got != Y_NULL ? " \"" : "",
	    n->type == YAML_SCALAR_NODE && got != Y_NULL ? scalar_text(n) : "",
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
	YType t = ytype(e->val);
	const char *s;

	if (type == F_SCALAR) {
		if (t != Y_STR && t != Y_INT && t != Y_FLOAT) {
			ERR(c, node_pos(e->val), path, NULL, "expected a string or a number, got %s",
			    ytype_name(t));
			return;
		}
	} else if (!expect_type(c, e->val, path, Y_STR, "a string")) {
		return;
	}
	s = arena_strdup(c->a, scalar_text(e->val));
	if (type == F_NAME && !check_name(c, s, node_pos(e->val), path, e->key))
		return;
	if (type == F_HOST && !valid_host(s)) {
		ERR(c, node_pos(e->val), path, NULL,
		    "invalid host \"%s\": expected an IP address or a host name", s);
		return;
	}
	if (type == F_PATH) {
		char *abs;

		if (*s == '\0') {
			ERR(c, node_pos(e->val), path, NULL, "expected a path, got an empty string");
			return;
		}
		abs = fs_path_resolve(c->t->base_dir, s);
		s = arena_strdup(c->a, abs);
		free(abs);
	} else if (type != F_SCALAR && *s == '\0') {
		ERR(c, node_pos(e->val), path, NULL, "expected a non-empty string");
		return;
	}
	out->v = s;
	out->pos = node_pos(e->val);
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
	v = strtoll(scalar_text(e->val), &end, 10);
	if (errno != 0 || v < min || v > max) {
		if (min == max)
			ERR(c, node_pos(e->val), path, NULL, "unsupported value %s: expected %lld",
			    scalar_text(e->val), min);
		else if (max == LLONG_MAX)
			ERR(c, node_pos(e->val), path, NULL, "value %s is out of range: expected at least %lld",
			    scalar_text(e->val), min);
		else
			ERR(c, node_pos(e->val), path, NULL,
			    "value %s is out of range: expected %lld to %lld", scalar_text(e->val), min, max);
		return;
	}
	out->v = v;
	out->pos = node_pos(e->val);
	out->set = true;
}

static void parse_bool_field(Ctx *c, Entry *e, const char *path, PgcBool *out)
{
	YType t = ytype(e->val);

	if (t != Y_BOOL) {
		const char *s = e->val->type == YAML_SCALAR_NODE ? scalar_text(e->val) : "";
		const char *hint = NULL;

		if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0 || strcasecmp(s, "no") == 0 ||
		    strcasecmp(s, "off") == 0)
			hint = "YAML 1.2 booleans are true and false";
		else if (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0)
			hint = "remove the quotes: a quoted boolean is a string";
		ERR(c, node_pos(e->val), path, hint, "expected true or false, got %s%s%s%s",
		    ytype_name(t), e->val->type == YAML_SCALAR_NODE && t != Y_NULL ? " \"" : "",
		    e->val->type == YAML_SCALAR_NODE && t != Y_NULL ? s : "",
		    e->val->type == YAML_SCALAR_NODE && t != Y_NULL ? "\"" : "");
		return;
	}
	out->v = tolower((unsigned char)scalar_text(e->val)[0]) == 't';
	out->pos = node_pos(e->val);
	out->set = true;
}

static void parse_dur_field(Ctx *c, Entry *e, const char *path, PgcDuration *out)
{
	YType t = ytype(e->val);
	int64_t ms;

	if ((t != Y_STR && t != Y_INT) ||
	    parse_unit_value(scalar_text(e->val), duration_units, 1000, &ms) != 0) {
		ERR(c, node_pos(e->val), path, "units are ms, s, min, h and d, e.g. \"30s\" or \"24h\"",
		    "invalid duration %s%s%s: expected a number with a unit",
		    e->val->type == YAML_SCALAR_NODE ? "\"" : "",
		    e->val->type == YAML_SCALAR_NODE ? scalar_text(e->val) : ytype_name(t),
		    e->val->type == YAML_SCALAR_NODE ? "\"" : "");
		return;
	}
	out->ms = ms;
	out->pos = node_pos(e->val);
	out->set = true;
}

static void parse_size_field(Ctx *c, Entry *e, const char *path, PgcSize *out)
{
	YType t = ytype(e->val);
	int64_t bytes;

	if ((t != Y_STR && t != Y_INT) ||
	    parse_unit_value(scalar_text(e->val), size_units, 1, &bytes) != 0) {
		ERR(c, node_pos(e->val), path, "units are B, kB, MB, GB and TB, e.g. \"16MB\"",
		    "invalid size %s%s%s: expected a number with a unit",
		    e->val->type == YAML_SCALAR_NODE ? "\"" : "",
		    e->val->type == YAML_SCALAR_NODE ? scalar_text(e->val) : ytype_name(t),
		    e->val->type == YAML_SCALAR_NODE ? "\"" : "");
		return;
	}
	out->bytes = bytes;
	out->pos = node_pos(e->val);
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
		if (e->val->type == YAML_SCALAR_NODE && ytype(e->val) != Y_NULL)
			ERR(c, node_pos(e->val), path,
			    "write {env: VARIABLE} or {file: PATH} and keep the value out of the topology file",
			    "a plaintext secret is not allowed here");
		else
			ERR(c, node_pos(e->val), path, "write {env: VARIABLE} or {file: PATH}",
			    "expected a secret reference, got %s", ytype_name(ytype(e->val)));
		return;
	}
	if (!get_map(c, e->val, path, &m))
		return;
	for (i = 0; i < m.n; i++) {
		if (strcmp(m.e[i].key, "env") != 0 && strcmp(m.e[i].key, "file") != 0) {
			unknown++;
			const char *const cands[] = {"env", "file"};
			const char *s = str_suggest(m.e[i].key, cands, 2);

			ERR(c, m.e[i].key_pos, join(c, path, m.e[i].key),
			    s ? arena_printf(c->a, "did you mean \"%s\"?", s) : "a secret is {env: VARIABLE} or {file: PATH}",
			    "unknown key \"%s\"", m.e[i].key);
		}
	}
	if (unknown > 0)
		return;
	env = map_get(&m, "env");
	file = map_get(&m, "file");
	if ((env != NULL) == (file != NULL)) {
		ERR(c, m.pos, path, "write {env: VARIABLE} or {file: PATH}",
		    "expected exactly one of \"env\" or \"file\"");
		return;
	}
	if (env != NULL) {
		const char *p2 = join(c, path, "env");

		if (!expect_type(c, env->val, p2, Y_STR, "an environment variable name"))
			return;
		if (!valid_env_name(scalar_text(env->val))) {
			ERR(c, node_pos(env->val), p2, NULL,
			    "invalid environment variable name \"%s\": expected [A-Za-z_][A-Za-z0-9_]*",
			    scalar_text(env->val));
			return;
		}
		out->kind = SECRET_ENV;
		out->ref = arena_strdup(c->a, scalar_text(env->val));
		out->pos = node_pos(env->val);
	} else {
		PgcStr s = {0};

		parse_str_field(c, file, join(c, path, "file"), &s, F_PATH);
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
		ERR(c, node_pos(n), path, NULL, "expected a list of strings, got %s", ytype_name(ytype(n)));
		return;
	}
	strmap_init(&seen, (size_t)(n->data.sequence.items.top - n->data.sequence.items.start), false);
	out->items = arena_calloc(c->a, (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) + 1,
				  sizeof(PgcStr));
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *item = get_node(c, *it);
		const char *ipath = arena_printf(c->a, "%s[%zu]", path, i);

		if (!budget_take(c, item, 0) || !expect_type(c, item, ipath, Y_STR, "a string"))
			continue;
		if (names && !check_name(c, scalar_text(item), node_pos(item), ipath, "a"))
			continue;
		dup = strmap_get(&seen, scalar_text(item));
		if (dup != NULL) {
			ERR(c, node_pos(item), ipath, NULL, "\"%s\" is listed twice", scalar_text(item));
			continue;
		}
		out->items[out->n].v = arena_strdup(c->a, scalar_text(item));
		out->items[out->n].pos = node_pos(item);
		out->items[out->n].set = true;
		strmap_put(&seen, out->items[out->n].v, out->n);
		out->n++;
	}
	strmap_free(&seen);
	out->pos = node_pos(n);
	out->set = true;
}

static void parse_enum_field(Ctx *c, Entry *e, const char *path, const Field *f, void *base)
{
	const char *s;
	size_t i, n = 0;
	char *list;

	if (e->val->type == YAML_SCALAR_NODE && ytype(e->val) != Y_NULL) {
		s = scalar_text(e->val);
		for (i = 0; f->enumvals[i] != NULL; i++) {
			if (strcmp(s, f->enumvals[i]) == 0) {
				*(int *)((char *)base + f->off) = (int)i;
				*(PgcPos *)((char *)base + f->off2) = node_pos(e->val);
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
	if (e->val->type == YAML_SCALAR_NODE && ytype(e->val) != Y_NULL) {
		const char *sug = str_suggest(scalar_text(e->val), f->enumvals, n == 0 ? 0 : i);

		ERR(c, node_pos(e->val), path, sug ? arena_printf(c->a, "did you mean \"%s\"?", sug) : NULL,
		    "invalid value \"%s\": expected one of %s", scalar_text(e->val), list);
	} else {
		ERR(c, node_pos(e->val), path, NULL, "expected one of %s, got %s", list,
		    ytype_name(ytype(e->val)));
	}
}

/*
 * load_fields - applies a field table to a mapping: unknown keys (with a
 * suggestion), missing required keys, then each field's parser.
 */
static bool load_fields(Ctx *c, yaml_node_t *n, const char *path, const Field *fields, void *base,
			Map *out_map)
{
	Map m;
	size_t i;
	const Field *f;

	if (!get_map(c, n, path, &m))
		return false;
	c->depth++;
	for (i = 0; i < m.n; i++) {
		Entry *e = &m.e[i];
		const char *epath = join(c, path, e->key);

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
			parse_enum_field(c, e, epath, f, base);
			break;
		case F_FN:
			f->fn(c, e, epath, base);
			break;
		}
	}
	for (f = fields; f->key != NULL; f++)
		if (f->required && map_get(&m, f->key) == NULL)
			ERR(c, m.pos, *path ? path : NULL, NULL, "missing required key \"%s\"", f->key);
	c->depth--;
	if (out_map != NULL)
		*out_map = m;
	return true;
}

#define FLD(k, t, type, member) {k, type, offsetof(t, member), 0, 0, NULL, 0, NULL, false}
#define FLD_REQ(k, t, type, member) {k, type, offsetof(t, member), 0, 0, NULL, 0, NULL, true}
#define FLD_INT(k, t, member, lo, hi) {k, F_INT, offsetof(t, member), lo, hi, NULL, 0, NULL, false}
#define FLD_INT_REQ(k, t, member, lo, hi) {k, F_INT, offsetof(t, member), lo, hi, NULL, 0, NULL, true}
#define FLD_ENUM(k, t, member, vals, posmember) \
	{k, F_ENUM, offsetof(t, member), 0, 0, vals, offsetof(t, posmember), NULL, false}
#define FLD_FN(k, fn) {k, F_FN, 0, 0, 0, NULL, 0, fn, false}
#define FLD_END {NULL, F_STR, 0, 0, 0, NULL, 0, NULL, false}

/* ---- settings ---------------------------------------------------------- */

static void parse_settings(Ctx *c, Entry *e, const char *path, PgcSettings *out)
{
	Map m;
	size_t i, j;
	PgcStrMap names; /* PostgreSQL parameter names are case-insensitive */
	const size_t *dup;

	if (!get_map(c, e->val, path, &m))
		return;
	out->items = arena_calloc(c->a, m.n + 1, sizeof(PgcSetting));
	out->pos = m.pos;
	strmap_init(&names, m.n, true);
	for (i = 0; i < m.n; i++) {
		Entry *s = &m.e[i];
		const char *spath = join(c, path, s->key);
		YType t = ytype(s->val);

		dup = strmap_get(&names, s->key);
		if (dup != NULL) {
			j = *dup;
			ERR(c, s->key_pos, spath,
			    arena_printf(c->a, "first set at line %d, column %d as \"%s\"",
					 out->items[j].key_pos.line, out->items[j].key_pos.col, out->items[j].name),
			    "parameter \"%s\" is set twice", s->key);
			continue;
		}
		if (t == Y_NULL || t == Y_MAP || t == Y_SEQ) {
			ERR(c, node_pos(s->val), spath, "quote the value, e.g. '' for an empty string",
			    "expected a string, a number or a boolean, got %s", ytype_name(t));
			continue;
		}
		out->items[out->n].name = s->key;
		out->items[out->n].value = arena_strdup(c->a, scalar_text(s->val));
		out->items[out->n].key_pos = s->key_pos;
		out->items[out->n].pos = node_pos(s->val);
		strmap_put(&names, s->key, out->n);
		out->n++;
	}
	strmap_free(&names);
}

static void fn_cluster_settings(Ctx *c, Entry *e, const char *path, void *base)
{
	parse_settings(c, e, path, &((PgcCluster *)base)->settings);
}

static void fn_node_settings(Ctx *c, Entry *e, const char *path, void *base)
{
	parse_settings(c, e, path, &((PgcNode *)base)->settings);
}

/* ---- nodes ------------------------------------------------------------- */

static const Field node_fields[] = {
	FLD("host", PgcNode, F_HOST, host),
	FLD_INT_REQ("port", PgcNode, port, 1, 65535),
	FLD_REQ("data_dir", PgcNode, F_PATH, data_dir),
	FLD("region", PgcNode, F_NAME, region),
	FLD("replicate_from", PgcNode, F_STR, replicate_from),
	FLD_FN("settings", fn_node_settings),
	FLD_END,
};

static void fn_nodes(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	Map m;
	size_t i;

	if (!get_map(c, e->val, path, &m))
		return;
	cl->nodes_pos = m.pos;
	if (m.n == 0) {
		ERR(c, m.pos, path, NULL, "a cluster needs at least one node");
		return;
	}
	cl->nodes = arena_calloc(c->a, m.n, sizeof(PgcNode));
	for (i = 0; i < m.n; i++) {
		PgcNode *n = &cl->nodes[cl->n_nodes];
		const char *npath = join(c, path, m.e[i].key);

		if (!check_name(c, m.e[i].key, m.e[i].key_pos, npath, "node"))
			continue;
		n->name = m.e[i].key;
		n->pos = m.e[i].key_pos;
		if (load_fields(c, m.e[i].val, npath, node_fields, n, NULL))
			cl->n_nodes++;
	}
}

/* ---- hba --------------------------------------------------------------- */

static const char *const hba_types[] = {"local",     "host",       "hostssl", "hostnossl",
					"hostgssenc", "hostnogssenc", NULL};
static const char *const hba_methods[] = {"trust", "reject", "scram-sha-256", "md5", "password",
					  "gss",   "sspi",   "ident",         "peer", "ldap",
					  "radius", "cert",  "pam",           "bsd",  NULL};

static const Field hba_fields[] = {
	FLD_REQ("type", PgcHbaRule, F_STR, type),
	FLD("database", PgcHbaRule, F_STR, database),
	FLD("user", PgcHbaRule, F_STR, user),
	FLD("address", PgcHbaRule, F_STR, address),
	FLD_REQ("method", PgcHbaRule, F_STR, method),
	FLD("options", PgcHbaRule, F_STR, options),
	FLD_END,
};

static void check_word(Ctx *c, PgcStr *s, const char *path, const char *const *vals)
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

/*
 * The database, user and options of a rule are kept in pg_hba.conf's own
 * syntax and written to the file unchanged, so they are checked here to be
 * exactly one field each: a space, a comma or '#' outside double quotes
 * would shift the fields or cut the line, and a line break would add a rule
 * of its own. PostgreSQL reads "" inside double quotes as a quote, and a
 * quoted keyword ("all") as a plain name.
 */
typedef enum { HBA_DATABASE, HBA_USER, HBA_OPTIONS } HbaField;

static const char *const hba_field_expected[] = {
	"expected a comma-separated list of database names, all, sameuser, samerole, replication or @file",
	"expected a comma-separated list of role names, all, +role or @file",
	"expected name=value options separated by spaces, e.g. \"clientcert=verify-full map=admins\"",
};

/* quote_hint - how to write s as one double-quoted pg_hba.conf name. */
static const char *quote_hint(Ctx *c, const char *key, const char *s)
{
	size_t n = 3, i;
	char *q, *p;

	if (strchr(s, ',') != NULL)
		return "double-quote each name that holds a space, ',', '#' or '\"', and write \"\" for a "
		       "quote inside it, e.g. '\"my db\",other'";
	for (i = 0; s[i]; i++)
		n += s[i] == '"' ? 2 : 1;
	q = p = arena_alloc(c->a, n);
	*p++ = '"';
	for (i = 0; s[i]; i++) {
		if (s[i] == '"')
			*p++ = '"';
		*p++ = s[i];
	}
	*p++ = '"';
	*p = '\0';
	return arena_printf(c->a, "write the name double-quoted, as pg_hba.conf needs: %s: '%s'", key, q);
}

static const char *control_name(Ctx *c, unsigned char ch)
{
	if (ch == '\n')
		return "a line break";
	if (ch == '\r')
		return "a carriage return";
	if (ch == '\t')
		return "a tab";
	return arena_printf(c->a, "the control character 0x%02x", ch);
}

/* check_hba_option - one name=value token of an options field (quotes already checked). */
static const char *hba_option_error(Ctx *c, const char *tok, size_t len)
{
	size_t i;

	for (i = 0; i < len && (islower((unsigned char)tok[i]) || tok[i] == '_'); i++)
		;
	if (i == 0 || i == len || tok[i] != '=')
		return arena_printf(c->a, "got \"%.*s\", which is not name=value", (int)len, tok);
	return NULL;
}

static void check_hba_field(Ctx *c, PgcStr *f, const char *path, HbaField kind)
{
	static const char *const what[] = {"database", "user", "options"};
	const char *s = f->v, *tok = s, *why = NULL, *hint = NULL;
	bool in_quote = false;
	size_t i, elem = 0; /* characters in the current name of a list */

	if (!f->set)
		return;
	for (i = 0; s[i] != '\0' && why == NULL; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f) {
			why = arena_printf(c->a, "got %s, which pg_hba.conf cannot hold", control_name(c, ch));
			hint = ch == '\n' || ch == '\r' ? "pg_hba.conf holds one rule per line: remove the line break"
							: "remove the control character";
		} else if (in_quote) {
			if (ch == '"' && s[i + 1] != '"') {
				in_quote = false;
			} else {
				i += ch == '"'; /* "" is one quote */
				elem++;
			}
		} else if (ch == '"') {
			in_quote = true;
		} else if (ch == '#') {
			why = "got '#' outside double quotes, which starts a comment in pg_hba.conf";
			if (kind != HBA_OPTIONS)
				hint = quote_hint(c, what[kind], s);
		} else if (kind == HBA_OPTIONS && ch == ' ') {
			if (s + i > tok)
				why = hba_option_error(c, tok, (size_t)(s + i - tok));
			tok = s + i + 1;
		} else if (ch == ' ') {
			why = "got a space outside double quotes, which ends the field in pg_hba.conf";
			hint = quote_hint(c, what[kind], s);
		} else if (ch == ',' && kind == HBA_OPTIONS) {
			why = "got ',' outside double quotes";
			hint = "separate options with spaces, and double-quote a value that holds a comma";
		} else if (ch == ',') {
			if (elem == 0)
				why = "got an empty name in the list";
			elem = 0;
		} else {
			elem++;
		}
	}
	if (why == NULL && in_quote) {
		why = "got a double quote that is not closed";
		hint = "close it, and write \"\" for a quote inside a name";
	} else if (why == NULL && kind == HBA_OPTIONS && s[i - 1] == '\\') {
		why = "got a backslash at the end, which would continue the rule on the next line";
	} else if (why == NULL && kind == HBA_OPTIONS && s + i > tok) {
		why = hba_option_error(c, tok, (size_t)(s + i - tok));
	} else if (why == NULL && kind != HBA_OPTIONS && elem == 0) {
		why = "got an empty name in the list";
	}
	if (why == NULL)
		return;
	ERR(c, f->pos, path, hint, "invalid %s \"%s\": %s, %s", what[kind], s,
	    hba_field_expected[kind], why);
}

static void fn_hba(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	yaml_node_t *n = e->val;
	yaml_node_item_t *it;
	size_t i = 0;

	if (n->type != YAML_SEQUENCE_NODE) {
		ERR(c, node_pos(n), path, NULL, "expected a list of rules, got %s", ytype_name(ytype(n)));
		return;
	}
	cl->hba_pos = node_pos(n);
	cl->hba = arena_calloc(c->a, (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) + 1,
			       sizeof(PgcHbaRule));
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *item = get_node(c, *it);
		const char *rpath = arena_printf(c->a, "%s[%zu]", path, i);
		PgcHbaRule *r = &cl->hba[cl->n_hba];

		r->pos = node_pos(item);
		if (!load_fields(c, item, rpath, hba_fields, r, NULL))
			continue;
		check_word(c, &r->type, join(c, rpath, "type"), hba_types);
		check_word(c, &r->method, join(c, rpath, "method"), hba_methods);
		check_hba_field(c, &r->database, join(c, rpath, "database"), HBA_DATABASE);
		check_hba_field(c, &r->user, join(c, rpath, "user"), HBA_USER);
		check_hba_field(c, &r->options, join(c, rpath, "options"), HBA_OPTIONS);
		if (r->type.set && strcmp(r->type.v, "local") == 0 && r->address.set)
			ERR(c, r->address.pos, join(c, rpath, "address"), "remove the address",
			    "a \"local\" rule takes no address");
		else if (r->type.set && strcmp(r->type.v, "local") != 0 && !r->address.set)
			ERR(c, r->pos, rpath, "e.g. address: 10.0.0.0/8",
			    "a \"%s\" rule needs an address", r->type.v);
		if (!r->database.set)
			r->database.v = "all";
		if (!r->user.set)
			r->user.v = "all";
		cl->n_hba++;
	}
}

/* ---- roles, databases -------------------------------------------------- */

static const Field role_fields[] = {
	FLD("login", PgcRole, F_BOOL, login),
	FLD("superuser", PgcRole, F_BOOL, superuser),
	FLD("createdb", PgcRole, F_BOOL, createdb),
	FLD("createrole", PgcRole, F_BOOL, createrole),
	FLD("replication", PgcRole, F_BOOL, replication),
	FLD("bypassrls", PgcRole, F_BOOL, bypassrls),
	FLD_INT("connection_limit", PgcRole, connection_limit, -1, INT_MAX),
	FLD("password", PgcRole, F_SECRET, password),
	FLD("member_of", PgcRole, F_NAMELIST, member_of),
	FLD_END,
};

static const Field database_fields[] = {
	FLD("owner", PgcDatabase, F_NAME, owner),
	FLD("extensions", PgcDatabase, F_STRLIST, extensions),
	FLD_END,
};

static void fn_roles(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	Map m;
	size_t i;

	if (!get_map(c, e->val, path, &m))
		return;
	cl->roles = arena_calloc(c->a, m.n + 1, sizeof(PgcRole));
	for (i = 0; i < m.n; i++) {
		PgcRole *r = &cl->roles[cl->n_roles];
		const char *rpath = join(c, path, m.e[i].key);

		if (!check_name(c, m.e[i].key, m.e[i].key_pos, rpath, "role"))
			continue;
		r->name = m.e[i].key;
		r->pos = m.e[i].key_pos;
		r->connection_limit.v = -1;
		/* An empty role ("app: {}" or "app:") is a role with defaults. */
		if (ytype(m.e[i].val) != Y_NULL && !load_fields(c, m.e[i].val, rpath, role_fields, r, NULL))
			continue;
		cl->n_roles++;
	}
}

static void fn_databases(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	Map m;
	size_t i;

	if (!get_map(c, e->val, path, &m))
		return;
	cl->databases = arena_calloc(c->a, m.n + 1, sizeof(PgcDatabase));
	for (i = 0; i < m.n; i++) {
		PgcDatabase *d = &cl->databases[cl->n_databases];
		const char *dpath = join(c, path, m.e[i].key);

		if (!check_name(c, m.e[i].key, m.e[i].key_pos, dpath, "database"))
			continue;
		d->name = m.e[i].key;
		d->pos = m.e[i].key_pos;
		if (ytype(m.e[i].val) != Y_NULL &&
		    !load_fields(c, m.e[i].val, dpath, database_fields, d, NULL))
			continue;
		cl->n_databases++;
	}
}

/* ---- replication ------------------------------------------------------- */

static const char *const sync_methods[] = {"off", "any", "first", NULL};

static void fn_synchronous(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcReplication *r = base;
	Map m;
	Entry *me, *ce;

	r->synchronous.pos = node_pos(e->val);
	r->synchronous.set = true;
	if (e->val->type == YAML_SCALAR_NODE && strcmp(scalar_text(e->val), "off") == 0) {
		r->synchronous.method = SYNC_OFF;
		return;
	}
	if (e->val->type != YAML_MAPPING_NODE) {
		ERR(c, node_pos(e->val), path, "e.g. synchronous: {method: any, count: 1}",
		    "expected \"off\" or a mapping with method and count, got %s%s%s%s",
		    ytype_name(ytype(e->val)), e->val->type == YAML_SCALAR_NODE ? " \"" : "",
		    e->val->type == YAML_SCALAR_NODE ? scalar_text(e->val) : "",
		    e->val->type == YAML_SCALAR_NODE ? "\"" : "");
		return;
	}
	{
		static const Field sync_fields[] = {
			{"method", F_ENUM, offsetof(PgcReplication, synchronous.method), 0, 0, sync_methods,
			 offsetof(PgcReplication, synchronous.pos), NULL, true},
			{"count", F_INT, offsetof(PgcReplication, synchronous.count), 1, 1000, NULL, 0, NULL,
			 false},
			FLD_END,
		};

		if (!load_fields(c, e->val, path, sync_fields, r, &m))
			return;
	}
	me = map_get(&m, "method");
	ce = map_get(&m, "count");
	if (me != NULL)
		r->synchronous.pos = node_pos(me->val);
	if (r->synchronous.method != SYNC_OFF && !r->synchronous.count.set)
		r->synchronous.count.v = 1;
	if (r->synchronous.method == SYNC_OFF && ce != NULL)
		ERR(c, node_pos(ce->val), join(c, path, "count"), "remove count or choose method any or first",
		    "count has no meaning with method \"off\"");
}

static const Field replication_fields[] = {
	FLD("user", PgcReplication, F_NAME, user),
	FLD("password", PgcReplication, F_SECRET, password),
	FLD("slots", PgcReplication, F_BOOL, slots),
	FLD_FN("synchronous", fn_synchronous),
	FLD_END,
};

static void fn_replication(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;

	cl->replication.pos = node_pos(e->val);
	load_fields(c, e->val, path, replication_fields, &cl->replication, NULL);
}

/* ---- policies ---------------------------------------------------------- */

static void fn_regions(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	static const Field f[] = {
		{"min", F_INT, offsetof(PgcCluster, regions.min), 1, 100, NULL, 0, NULL, true},
		FLD_END,
	};

	cl->regions.pos = node_pos(e->val);
	cl->regions.set = true;
	load_fields(c, e->val, path, f, cl, NULL);
}

static const char *const failover_modes[] = {"manual", "auto", "off", NULL};
static const char *const failback_modes[] = {"manual", "auto", NULL};

typedef struct {
	int failback;
	PgcPos failback_pos;
} FailbackTmp;

static void fn_failback(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcFailover *f = base;
	FailbackTmp tmp = {0, {0, 0}};
	static const Field fld = {"failback", F_ENUM, offsetof(FailbackTmp, failback), 0, 0, failback_modes,
				  offsetof(FailbackTmp, failback_pos), NULL, false};

	parse_enum_field(c, e, path, &fld, &tmp);
	f->failback_auto = tmp.failback == 1;
	f->failback_pos = tmp.failback_pos;
}

static const Field failover_fields[] = {
	FLD_ENUM("mode", PgcFailover, mode, failover_modes, mode_pos),
	FLD("detect_after", PgcFailover, F_DUR, detect_after),
	FLD("probe_interval", PgcFailover, F_DUR, probe_interval),
	FLD_FN("failback", fn_failback),
	FLD("prefer_region", PgcFailover, F_NAME, prefer_region),
	FLD("max_lag", PgcFailover, F_SIZE, max_lag),
	FLD("fence_command", PgcFailover, F_STRLIST, fence_command),
	FLD("min_interval", PgcFailover, F_DUR, min_interval),
	FLD_END,
};

static void fn_failover(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;

	cl->failover.pos = node_pos(e->val);
	cl->failover.set = true;
	load_fields(c, e->val, path, failover_fields, &cl->failover, NULL);
	if (cl->failover.fence_command.set && cl->failover.fence_command.n == 0)
		ERR(c, cl->failover.fence_command.pos, join(c, path, "fence_command"),
		    "e.g. fence_command: [/usr/local/bin/fence, --node]",
		    "expected a program and its arguments, got an empty list");
}

static const char *const restart_policies[] = {"never", "always", "window", NULL};

static const Field maintenance_fields[] = {
	FLD_ENUM("restart", PgcMaintenance, restart, restart_policies, restart_pos),
	FLD("window", PgcMaintenance, F_STR, window),
	FLD_END,
};

static void fn_maintenance(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;

	cl->maintenance.pos = node_pos(e->val);
	load_fields(c, e->val, path, maintenance_fields, &cl->maintenance, NULL);
}

/* ---- backup, bootstrap -------------------------------------------------- */

static const char *const compressions[] = {"none", "gzip", "zstd", NULL};

static void fn_backup_base(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcBackup *b = base;
	static const Field f[] = {
		{"every", F_DUR, offsetof(PgcBackup, base.every), 0, 0, NULL, 0, NULL, false},
		{"keep", F_INT, offsetof(PgcBackup, base.keep), 1, 10000, NULL, 0, NULL, false},
		FLD_END,
	};

	b->base.pos = node_pos(e->val);
	b->base.set = true;
	load_fields(c, e->val, path, f, b, NULL);
}

static void fn_backup_logical(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcBackup *b = base;
	static const Field f[] = {
		{"every", F_DUR, offsetof(PgcBackup, logical.every), 0, 0, NULL, 0, NULL, false},
		{"keep", F_INT, offsetof(PgcBackup, logical.keep), 1, 10000, NULL, 0, NULL, false},
		{"databases", F_NAMELIST, offsetof(PgcBackup, logical.databases), 0, 0, NULL, 0, NULL, false},
		FLD_END,
	};

	b->logical.pos = node_pos(e->val);
	b->logical.set = true;
	load_fields(c, e->val, path, f, b, NULL);
}

static void fn_backup_verify(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcBackup *b = base;
	static const Field f[] = {
		{"every", F_DUR, offsetof(PgcBackup, verify.every), 0, 0, NULL, 0, NULL, true},
		{"query", F_STR, offsetof(PgcBackup, verify.query), 0, 0, NULL, 0, NULL, false},
		FLD_END,
	};

	b->verify.pos = node_pos(e->val);
	b->verify.set = true;
	load_fields(c, e->val, path, f, b, NULL);
}

static const Field backup_fields[] = {
	FLD_REQ("repository", PgcBackup, F_PATH, repository),
	FLD("wal_archive", PgcBackup, F_BOOL, wal_archive),
	FLD_ENUM("compression", PgcBackup, compression, compressions, compression_pos),
	FLD_FN("base", fn_backup_base),
	FLD_FN("logical", fn_backup_logical),
	FLD_FN("verify", fn_backup_verify),
	FLD_END,
};

static void fn_backup(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;

	cl->backup.pos = node_pos(e->val);
	cl->backup.set = true;
	load_fields(c, e->val, path, backup_fields, &cl->backup, NULL);
}

static const Field from_backup_fields[] = {
	FLD_REQ("repository", PgcBootstrap, F_PATH, repository),
	FLD("target_time", PgcBootstrap, F_STR, target_time),
	FLD("target_lsn", PgcBootstrap, F_STR, target_lsn),
	FLD("target_name", PgcBootstrap, F_STR, target_name),
	FLD("target_xid", PgcBootstrap, F_SCALAR, target_xid),
	FLD("immediate", PgcBootstrap, F_BOOL, immediate),
	FLD("target_action", PgcBootstrap, F_STR, target_action),
	FLD_END,
};

static void fn_from_backup(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcBootstrap *b = base;
	static const char *const actions[] = {"promote", "pause", NULL};
	const PgcStr *targets[4];
	size_t i, n = 0;

	b->pos = node_pos(e->val);
	b->set = true;
	if (!load_fields(c, e->val, path, from_backup_fields, b, NULL))
		return;
	check_word(c, &b->target_action, join(c, path, "target_action"), actions);
	targets[0] = &b->target_time;
	targets[1] = &b->target_lsn;
	targets[2] = &b->target_name;
	targets[3] = &b->target_xid;
	for (i = 0; i < 4; i++)
		n += targets[i]->set;
	n += b->immediate.set && b->immediate.v;
	if (n > 1)
		ERR(c, b->pos, path, "keep one of target_time, target_lsn, target_name, target_xid, immediate",
		    "more than one recovery target given");
}

static void fn_bootstrap(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	static const Field f[] = {
		FLD_FN("from_backup", fn_from_backup),
		FLD_END,
	};
	Map m;

	cl->bootstrap.pos = node_pos(e->val);
	if (!load_fields(c, e->val, path, f, &cl->bootstrap, &m))
		return;
	if (map_get(&m, "from_backup") == NULL)
		ERR(c, m.pos, path, NULL, "missing required key \"from_backup\"");
}

/* ---- pooler, balancer, monitoring, postgres, initdb --------------------- */

static const char *const pool_modes[] = {"session", "transaction", "statement", NULL};

static const Field pgbouncer_fields[] = {
	FLD_INT_REQ("port", PgcPgbouncer, port, 1, 65535),
	FLD("listen_address", PgcPgbouncer, F_HOST, listen_address),
	FLD("pool_mode", PgcPgbouncer, F_STR, pool_mode),
	FLD_INT("max_client_conn", PgcPgbouncer, max_client_conn, 1, 1000000),
	FLD_INT("default_pool_size", PgcPgbouncer, default_pool_size, 1, 100000),
	FLD_END,
};

static void fn_pgbouncer(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcPgbouncer *p = base;

	p->pos = node_pos(e->val);
	p->set = true;
	if (load_fields(c, e->val, path, pgbouncer_fields, p, NULL))
		check_word(c, &p->pool_mode, join(c, path, "pool_mode"), pool_modes);
}

static void fn_pooler(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	static const Field f[] = {
		FLD_FN("pgbouncer", fn_pgbouncer),
		FLD_END,
	};

	cl->pooler_pos = node_pos(e->val);
	load_fields(c, e->val, path, f, &cl->pgbouncer, NULL);
}

static const Field haproxy_fields[] = {
	FLD_INT_REQ("write_port", PgcHaproxy, write_port, 1, 65535),
	FLD_INT("read_port", PgcHaproxy, read_port, 1, 65535),
	FLD_INT("stats_port", PgcHaproxy, stats_port, 1, 65535),
	FLD("listen_address", PgcHaproxy, F_HOST, listen_address),
	FLD_END,
};

static void fn_haproxy(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcHaproxy *h = base;

	h->pos = node_pos(e->val);
	h->set = true;
	load_fields(c, e->val, path, haproxy_fields, h, NULL);
}

static void fn_balancer(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	static const Field f[] = {
		FLD_FN("haproxy", fn_haproxy),
		FLD_END,
	};

	cl->balancer_pos = node_pos(e->val);
	load_fields(c, e->val, path, f, &cl->haproxy, NULL);
}

static void fn_monitoring(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	static const Field f[] = {
		{"pg_stat_statements", F_BOOL, offsetof(PgcCluster, monitoring.pg_stat_statements), 0, 0, NULL,
		 0, NULL, false},
		{"pgbadger", F_BOOL, offsetof(PgcCluster, monitoring.pgbadger), 0, 0, NULL, 0, NULL, false},
		FLD_END,
	};

	cl->monitoring.pos = node_pos(e->val);
	load_fields(c, e->val, path, f, cl, NULL);
}

static void fn_postgres(Ctx *c, Entry *e, const char *path, void *base)
{
	static const Field f[] = {
		{"version", F_INT, offsetof(PgcCluster, pg_version), 10, 99, NULL, 0, NULL, false},
		{"bin_dir", F_PATH, offsetof(PgcCluster, bin_dir), 0, 0, NULL, 0, NULL, false},
		FLD_END,
	};

	load_fields(c, e->val, path, f, base, NULL);
}

static void fn_initdb(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	static const Field f[] = {
		{"locale", F_STR, offsetof(PgcCluster, initdb.locale), 0, 0, NULL, 0, NULL, false},
		{"encoding", F_STR, offsetof(PgcCluster, initdb.encoding), 0, 0, NULL, 0, NULL, false},
		{"data_checksums", F_BOOL, offsetof(PgcCluster, initdb.data_checksums), 0, 0, NULL, 0, NULL,
		 false},
		FLD_END,
	};

	cl->initdb.pos = node_pos(e->val);
	cl->initdb.set = true;
	load_fields(c, e->val, path, f, cl, NULL);
}

static const Field cluster_fields[] = {
	FLD_FN("postgres", fn_postgres),
	FLD("os_user", PgcCluster, F_NAME, os_user),
	FLD("primary", PgcCluster, F_STR, primary),
	{"nodes", F_FN, 0, 0, 0, NULL, 0, fn_nodes, true},
	FLD_FN("initdb", fn_initdb),
	FLD_FN("settings", fn_cluster_settings),
	FLD_FN("hba", fn_hba),
	FLD_FN("roles", fn_roles),
	FLD_FN("databases", fn_databases),
	FLD_FN("replication", fn_replication),
	FLD_FN("regions", fn_regions),
	FLD_FN("failover", fn_failover),
	FLD_FN("maintenance", fn_maintenance),
	FLD_FN("backup", fn_backup),
	FLD_FN("pooler", fn_pooler),
	FLD_FN("balancer", fn_balancer),
	FLD_FN("monitoring", fn_monitoring),
	FLD_FN("bootstrap", fn_bootstrap),
	FLD_END,
};

/* ---- defaults and inheritance ------------------------------------------ */

static void default_str(PgcStr *s, const char *v)
{
	if (!s->set)
		s->v = v;
}

static void default_int(PgcInt *i, long long v)
{
	if (!i->set)
		i->v = v;
}

static void default_bool(PgcBool *b, bool v)
{
	if (!b->set)
		b->v = v;
}

static void default_dur(PgcDuration *d, int64_t ms)
{
	if (!d->set)
		d->ms = ms;
}

/* merge_settings - a node's effective settings: the cluster's, each
 * replaced by the node's own value where the node sets it. */
static void merge_settings(Ctx *c, const PgcCluster *cl, PgcNode *n)
{
	size_t i, j;
	PgcStrMap own;

	n->effective.items = arena_calloc(c->a, cl->settings.n + n->settings.n + 1, sizeof(PgcSetting));
	n->effective.pos = n->settings.n ? n->settings.pos : cl->settings.pos;
	strmap_init(&own, n->settings.n, true);
	for (j = 0; j < n->settings.n; j++)
		strmap_put(&own, n->settings.items[j].name, j);
	for (i = 0; i < cl->settings.n; i++)
		if (strmap_get(&own, cl->settings.items[i].name) == NULL)
			n->effective.items[n->effective.n++] = cl->settings.items[i];
	strmap_free(&own);
	for (j = 0; j < n->settings.n; j++) {
		n->effective.items[n->effective.n] = n->settings.items[j];
		n->effective.items[n->effective.n].from_node = true;
		n->effective.n++;
	}
}

static void apply_defaults(Ctx *c, PgcCluster *cl)
{
	size_t i;

	default_int(&cl->pg_version, 15);
	if (!cl->bin_dir.set)
		cl->bin_dir.v = arena_printf(c->a, "/usr/lib/postgresql/%lld/bin", cl->pg_version.v);
	default_str(&cl->os_user, "postgres");
	if (!cl->primary.set && cl->n_nodes == 1)
		cl->primary.v = cl->nodes[0].name;
	default_str(&cl->initdb.locale, "C.UTF-8");
	default_str(&cl->initdb.encoding, "UTF8");
	default_bool(&cl->initdb.data_checksums, true);
	default_str(&cl->replication.user, "replicator");
	default_bool(&cl->replication.slots, true);
	default_int(&cl->regions.min, 1);
	default_dur(&cl->failover.detect_after, 10000);
	default_dur(&cl->failover.probe_interval, 1000);
	default_dur(&cl->failover.min_interval, 5 * 60 * 1000);
	default_int(&cl->backup.base.keep, 7);
	default_int(&cl->backup.logical.keep, 7);
	default_bool(&cl->backup.wal_archive, false);
	default_str(&cl->bootstrap.target_action, "promote");
	default_str(&cl->pgbouncer.listen_address, "127.0.0.1");
	default_str(&cl->pgbouncer.pool_mode, "transaction");
	default_int(&cl->pgbouncer.max_client_conn, 1000);
	default_int(&cl->pgbouncer.default_pool_size, 20);
	default_str(&cl->haproxy.listen_address, "127.0.0.1");
	for (i = 0; i < cl->n_roles; i++)
		if (!cl->roles[i].connection_limit.set)
			cl->roles[i].connection_limit.v = -1;
	for (i = 0; i < cl->n_nodes; i++) {
		default_str(&cl->nodes[i].host, "127.0.0.1");
		merge_settings(c, cl, &cl->nodes[i]);
	}
}

/* ---- top level --------------------------------------------------------- */

static void fn_clusters(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcTopology *t = base;
	Map m;
	size_t i;

	if (!get_map(c, e->val, path, &m))
		return;
	if (m.n == 0) {
		ERR(c, m.pos, path, NULL, "expected at least one cluster");
		return;
	}
	t->clusters = arena_calloc(c->a, m.n, sizeof(PgcCluster));
	for (i = 0; i < m.n; i++) {
		PgcCluster *cl = &t->clusters[t->n_clusters];
		const char *cpath = join(c, path, m.e[i].key);

		if (!check_name(c, m.e[i].key, m.e[i].key_pos, cpath, "cluster"))
			continue;
		cl->name = m.e[i].key;
		cl->pos = m.e[i].key_pos;
		if (!load_fields(c, m.e[i].val, cpath, cluster_fields, cl, NULL))
			continue;
		apply_defaults(c, cl);
		t->n_clusters++;
	}
}

/* Top-level keys starting with "x-" are free for YAML anchors to live in. */
static void load_top(Ctx *c, yaml_node_t *root)
{
	static const Field f[] = {
		{"version", F_INT, offsetof(PgcTopology, version), 1, 1, NULL, 0, NULL, true},
		{"clusters", F_FN, 0, 0, 0, NULL, 0, fn_clusters, true},
		FLD_END,
	};
	yaml_node_pair_t *p;
	yaml_node_t stripped;
	yaml_node_pair_t *kept;
	size_t n = 0;

	if (root->type != YAML_MAPPING_NODE) {
		ERR(c, node_pos(root), NULL, "start with \"version: 1\" and \"clusters:\"",
		    "expected a mapping at the top of the file, got %s", ytype_name(ytype(root)));
		return;
	}
	kept = arena_calloc(c->a, (size_t)(root->data.mapping.pairs.top - root->data.mapping.pairs.start) + 1,
			    sizeof(*kept));
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = get_node(c, p->key);

		if (k->type == YAML_SCALAR_NODE && str_has_prefix(scalar_text(k), "x-"))
			continue;
		kept[n++] = *p;
	}
	stripped = *root;
	stripped.data.mapping.pairs.start = kept;
	stripped.data.mapping.pairs.top = kept + n;
	stripped.data.mapping.pairs.end = kept + n;
	load_fields(c, &stripped, "", f, c->t, NULL);
}

static void report_parse_error(Ctx *c, const yaml_parser_t *parser, const char *buf, size_t len)
{
	PgcPos pos = {(int)parser->problem_mark.line + 1, (int)parser->problem_mark.column + 1};
	const char *what = parser->error == YAML_READER_ERROR ? "invalid characters" : "invalid YAML";
	const char *hint = NULL;

	if (parser->problem_mark.index < len && buf[parser->problem_mark.index] == '\t')
		hint = "indent with spaces: YAML does not allow tabs for indentation";
	if (parser->context != NULL)
		ERR(c, pos, NULL, hint, "%s: %s %s", what, parser->problem ? parser->problem : "error",
		    parser->context);
	else
		ERR(c, pos, NULL, hint, "%s: %s", what, parser->problem ? parser->problem : "error");
}

static char *dir_of(const char *path)
{
	char *copy = strdup(path), *slash, *res;

	if (copy == NULL)
		abort();
	slash = strrchr(copy, '/');
	if (slash == NULL) {
		free(copy);
		return fs_path_resolve(NULL, ".");
	}
	if (slash == copy)
		slash[1] = '\0';
	else
		*slash = '\0';
	res = fs_path_resolve(NULL, copy);
	free(copy);
	return res;
}

/* ---- composing the document from parser events ------------------------- */

/*
 * The document is built here from libyaml's events rather than by
 * yaml_parser_load(), so that two things are refused while parsing, before
 * any work is spent on them: nesting deeper than any topology (libyaml's
 * scanner is quadratic in the depth of flow collections: 100,000 "[" took
 * 30 s before its own limit), and scalars holding a NUL byte (a "\0"
 * escape), which every C string the model keeps would silently cut short.
 * Containers are attached to their parent when they end, so that the open
 * frames always name the path to the event at hand.
 */
typedef struct {
	int node;     /* the sequence or mapping */
	int key;      /* mapping: the key waiting for its value, 0 when none */
	size_t items; /* sequence: items attached so far */
} Frame;

typedef struct {
	Ctx *c;
	yaml_document_t *doc;
	Frame stack[LOAD_MAX_DEPTH];
	int depth;
	PgcStrMap anchors; /* anchor name -> node id; names in names[] */
	char **names;
	size_t n_names;
} Composer;

/* compose_path - the key path of the node about to be attached (malloc'd, or NULL at the top). */
static char *compose_path(const Composer *k)
{
	char *path = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&path, &len);
	int i;

	if (f == NULL)
		abort();
	for (i = 0; i < k->depth; i++) {
		const Frame *fr = &k->stack[i];
		yaml_node_t *n = yaml_document_get_node(k->doc, fr->node);

		if (n->type == YAML_SEQUENCE_NODE) {
			fprintf(f, "[%zu]", fr->items);
		} else if (fr->key != 0) {
			yaml_node_t *key = yaml_document_get_node(k->doc, fr->key);

			fprintf(f, "%s%s", ftell(f) > 0 ? "." : "",
				key->type == YAML_SCALAR_NODE ? scalar_text(key) : "?");
		}
	}
	fclose(f);
	if (*path == '\0') {
		free(path);
		return NULL;
	}
	return path;
}

static void compose_error(Composer *k, yaml_mark_t mark, const char *hint, const char *what)
{
	PgcPos pos = {(int)mark.line + 1, (int)mark.column + 1};
	char *path = compose_path(k);

	ERR(k->c, pos, path, hint, "%s", what);
	free(path);
}

static void compose_attach(Composer *k, int id)
{
	Frame *fr;

	if (k->depth == 0)
		return; /* the root: node 1 */
	fr = &k->stack[k->depth - 1];
	if (yaml_document_get_node(k->doc, fr->node)->type == YAML_SEQUENCE_NODE) {
		if (!yaml_document_append_sequence_item(k->doc, fr->node, id))
			abort();
		fr->items++;
	} else if (fr->key == 0) {
		fr->key = id;
	} else {
		if (!yaml_document_append_mapping_pair(k->doc, fr->node, fr->key, id))
			abort();
		fr->key = 0;
	}
}

/* compose_anchor - remembers the node an anchor names; a later anchor of the same name wins. */
static void compose_anchor(Composer *k, const yaml_char_t *anchor, int id)
{
	char *name;
	size_t *old;

	if (anchor == NULL)
		return;
	name = strdup((const char *)anchor);
	if (name == NULL)
		abort();
	old = strmap_put(&k->anchors, name, (size_t)id);
	if (old != NULL) {
		*old = (size_t)id;
		free(name);
		return;
	}
	k->names = realloc(k->names, (k->n_names + 1) * sizeof(char *));
	if (k->names == NULL)
		abort();
	k->names[k->n_names++] = name;
}

/* compose_node - adds the node an event starts; 0 when done, -1 when reported. */
static int compose_node(Composer *k, const yaml_event_t *ev)
{
	yaml_node_t *n;
	int id;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL) {
			compose_error(k, ev->start_mark, "remove the \\0 escape",
				      "invalid string: it holds a NUL character (\\0), which no name, path "
				      "or setting can contain");
			return -1;
		}
		id = yaml_document_add_scalar(k->doc, NULL, ev->data.scalar.value,
					      (int)ev->data.scalar.length, ev->data.scalar.style);
		if (id == 0)
			abort();
		n = yaml_document_get_node(k->doc, id);
		n->start_mark = ev->start_mark;
		n->end_mark = ev->end_mark;
		compose_anchor(k, ev->data.scalar.anchor, id);
		compose_attach(k, id);
		return 0;
	case YAML_ALIAS_EVENT: {
		const size_t *target = strmap_get(&k->anchors, (const char *)ev->data.alias.anchor);

		if (target == NULL) {
			compose_error(k, ev->start_mark, "define the anchor (&name) before its first use",
				      "invalid YAML: found undefined alias");
			return -1;
		}
		compose_attach(k, (int)*target);
		return 0;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (k->depth == LOAD_MAX_DEPTH) {
			char *what = NULL;

			if (asprintf(&what, "nesting too deep: expected at most %d levels of mappings and lists",
				     LOAD_MAX_DEPTH) < 0)
				abort();
			compose_error(k, ev->start_mark, NULL, what);
			free(what);
			return -1;
		}
		if (ev->type == YAML_SEQUENCE_START_EVENT) {
			id = yaml_document_add_sequence(k->doc, NULL, ev->data.sequence_start.style);
			compose_anchor(k, ev->data.sequence_start.anchor, id);
		} else {
			id = yaml_document_add_mapping(k->doc, NULL, ev->data.mapping_start.style);
			compose_anchor(k, ev->data.mapping_start.anchor, id);
		}
		if (id == 0)
			abort();
		yaml_document_get_node(k->doc, id)->start_mark = ev->start_mark;
		k->stack[k->depth].node = id;
		k->stack[k->depth].key = 0;
		k->stack[k->depth].items = 0;
		k->depth++;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		id = k->stack[--k->depth].node;
		yaml_document_get_node(k->doc, id)->end_mark = ev->end_mark;
		compose_attach(k, id);
		return 0;
	default:
		return 0;
	}
}

/*
 * compose - the one document of the stream into doc (initialised even on
 * failure, so that the caller always deletes it). 0, or -1 when reported.
 */
static int compose(Ctx *c, yaml_parser_t *parser, yaml_document_t *doc, const char *buf, size_t len)
{
	Composer k;
	yaml_event_t ev;
	int docs = 0, rc = -1;
	bool done = false, second = false;
	size_t i;

	memset(&k, 0, sizeof(k));
	k.c = c;
	k.doc = doc;
	strmap_init(&k.anchors, 0, false);
	if (!yaml_document_initialize(doc, NULL, NULL, NULL, 1, 1))
		abort();
	while (!done) {
		if (!yaml_parser_parse(parser, &ev)) {
			report_parse_error(c, parser, buf, len);
			break;
		}
		if (second) {
			/* A second document would be silently ignored: refuse it. */
			PgcPos pos = {(int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1};

			ERR(c, pos, NULL, "keep one topology per file",
			    "expected one YAML document, found a second one");
			done = true;
		} else if (ev.type == YAML_DOCUMENT_START_EVENT) {
			second = ++docs > 1;
		} else if (ev.type == YAML_STREAM_END_EVENT) {
			done = true;
			rc = 0;
		} else if (compose_node(&k, &ev) != 0) {
			done = true;
		}
		yaml_event_delete(&ev);
	}
	for (i = 0; i < k.n_names; i++)
		free(k.names[i]);
	free(k.names);
	strmap_free(&k.anchors);
	return rc;
}

PgcTopology *topology_load_buffer(const char *buf, size_t len, const char *display_name,
				  const PgcLoadOptions *opts, PgcDiagList *diags)
{
	PgcLoadOptions defaults = {0};
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	PgcTopology *t;
	Ctx c;
	size_t errors_before = diag_count(diags, DIAG_ERROR);

	if (opts == NULL)
		opts = &defaults;
	t = NULL;
	memset(&c, 0, sizeof(c));
	c.diags = diags;
	c.file = display_name;
	c.budget = LOAD_NODE_BUDGET;

	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (compose(&c, &parser, &doc, buf, len) != 0)
		goto cleanup;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL) {
		PgcPos p = {1, 1};

		ERR(&c, p, NULL, "start with \"version: 1\" and \"clusters:\"", "the file is empty");
		goto cleanup;
	}

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		abort();
	t->arena = arena_new();
	t->file = arena_strdup(t->arena, display_name);
	{
		char *base = fs_path_resolve(NULL, opts->base_dir ? opts->base_dir : ".");

		t->base_dir = arena_strdup(t->arena, base);
		free(base);
	}
	c.doc = &doc;
	c.t = t;
	c.a = t->arena;
	load_top(&c, root);
	for (size_t i = 0; i < t->n_clusters; i++)
		t->clusters[i].tool_path = arena_strdup(t->arena, opts->tool_path ? opts->tool_path : "pgconverge");
	if (diag_count(diags, DIAG_ERROR) == errors_before)
		topology_validate(t, opts, diags);
cleanup:
	/* Every string the model keeps was copied into its arena. */
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	diag_sort(diags);
	return t;
}

PgcTopology *topology_load_file(const char *path, const PgcLoadOptions *opts, PgcDiagList *diags)
{
	PgcLoadOptions o = {0};
	PgcTopology *t;
	char *buf = NULL, *dir = NULL;
	size_t len = 0;
	PgcPos nopos = {0, 0};

	if (opts != NULL)
		o = *opts;
	switch (fs_read_file(path, &buf, &len, 64 * 1024 * 1024)) {
	case 0:
		break;
	case 1:
		diag_error(diags, path, nopos, NULL, "check the path, or pass the file with -f FILE",
			   "topology file not found");
		return NULL;
	default:
		diag_error(diags, path, nopos, NULL, NULL, "cannot read the topology file");
		return NULL;
	}
	if (o.base_dir == NULL) {
		dir = dir_of(path);
		o.base_dir = dir;
	}
	t = topology_load_buffer(buf, len, path, &o, diags);
	free(buf);
	free(dir);
	return t;
}
