/*
 * schema/load_fields.h - the loader's machinery: a libyaml document walked
 * with one table of fields per section.
 *
 * Internal to the loader (schema/load*.c). Each section of the topology is
 * a Field table: key, type, offset in the model's struct, range or enum
 * words, required or not; load_fields() applies a table to a mapping,
 * reports unknown and missing keys and type errors, and fills the model.
 * Sections that need more than a table have an F_FN field with their own
 * function. Everything allocated goes to the topology's arena (Ctx.a);
 * problems go to Ctx.diags, named after Ctx.file, and never stop the walk.
 */
#ifndef PGC_SCHEMA_LOAD_FIELDS_H
#define PGC_SCHEMA_LOAD_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "common/arena.h"
#include "common/diag.h"
#include "schema/topology.h"

/* Aliases can make a small file expand into a huge tree ("billion laughs");
 * refuse documents whose walk visits more mappings, entries and list items
 * than any real topology (a 1 MB file holds fewer than 200,000 entries). */
#define LOAD_NODE_BUDGET 1000000
#define LOAD_MAX_DEPTH 64

/* Ctx - one load: the document, the model being filled and where problems go. */
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

/* Entry, Map - a mapping's entries, merge keys applied, in the file's order. */
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

/* ERR - an error at pos, key being the value's key path; hint may be NULL. */
#define ERR(c, pos, key, hint, ...) diag_error((c)->diags, (c)->file, pos, key, hint, __VA_ARGS__)

/* YAML 1.2 core schema types of a node. */
typedef enum { Y_NULL, Y_BOOL, Y_INT, Y_FLOAT, Y_STR, Y_MAP, Y_SEQ } YType;

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

/*
 * Field - one key of a section's table: the value's type, its offset in the
 * section's struct (base), the range of an F_INT, the words of an F_ENUM
 * (its index at off, its position at off2), the function of an F_FN.
 */
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

/* Table rows: FLD(key, struct type, field type, member) and its variants; FLD_END closes a table. */
#define FLD(k, t, type, member) {k, type, offsetof(t, member), 0, 0, NULL, 0, NULL, false}
#define FLD_REQ(k, t, type, member) {k, type, offsetof(t, member), 0, 0, NULL, 0, NULL, true}
#define FLD_INT(k, t, member, lo, hi) {k, F_INT, offsetof(t, member), lo, hi, NULL, 0, NULL, false}
#define FLD_INT_REQ(k, t, member, lo, hi) {k, F_INT, offsetof(t, member), lo, hi, NULL, 0, NULL, true}
#define FLD_ENUM(k, t, member, vals, posmember) \
	{k, F_ENUM, offsetof(t, member), 0, 0, vals, offsetof(t, posmember), NULL, false}
#define FLD_FN(k, fn) {k, F_FN, 0, 0, 0, NULL, 0, fn, false}
#define FLD_END {NULL, F_STR, 0, 0, 0, NULL, 0, NULL, false}

/* node_pos - where the node starts in the file (1-based). */
PgcPos load_node_pos(const yaml_node_t *n);

/* join - the key path "path.key" (key alone at the top), in the arena. */
const char *load_join(Ctx *c, const char *path, const char *key);

/* scalar_text - a scalar node's text. */
const char *load_scalar_text(const yaml_node_t *n);

/* ytype, ytype_name - the node's type under the YAML 1.2 core schema, and its name in messages. */
YType load_ytype(const yaml_node_t *n);
const char *load_ytype_name(YType t);

/* get_node - the document's node of that index. */
yaml_node_t *load_get_node(Ctx *c, int index);

/*
 * get_map - the entries of a mapping node, with merge keys applied and
 * duplicate keys reported. On a non-mapping node, reports the type error
 * and returns false.
 */
bool load_get_map(Ctx *c, yaml_node_t *n, const char *path, Map *m);

/* map_get - the entry of that key, or NULL. */
Entry *load_map_get(Map *m, const char *key);

/* check_name - a name of a node, role, database ... ([a-z_][a-z0-9_-]*, at most 63); reports when not. */
bool load_check_name(Ctx *c, const char *name, PgcPos pos, const char *path, const char *what);

/* check_word - s (when set) is one of vals (NULL-terminated); reports and unsets it when not. */
void load_check_word(Ctx *c, PgcStr *s, const char *path, const char *const *vals);

/* parse_enum_field - an F_ENUM field: the index of the word among f->enumvals. */
void load_parse_enum_field(Ctx *c, Entry *e, const char *path, const Field *f, void *base);

/*
 * load_fields - applies a field table to a mapping: unknown keys (with a
 * suggestion), missing required keys, then each field's parser. False when
 * n is not a mapping (reported); the mapping's entries in *out_map when
 * not NULL.
 */
bool load_fields(Ctx *c, yaml_node_t *n, const char *path, const Field *fields, void *base,
		 Map *out_map);

#endif
