/*
 * schema/load_compose.c - the YAML document built from libyaml's parser
 * events, with the limits a topology needs (schema/load_compose.h).
 */
#include "schema/load_compose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/strmap.h"

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
				key->type == YAML_SCALAR_NODE ? load_scalar_text(key) : "?");
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
 * load_compose - the one document of the stream into doc (initialised even on
 * failure, so that the caller always deletes it). 0, or -1 when reported.
 */
int load_compose(Ctx *c, yaml_parser_t *parser, yaml_document_t *doc, const char *buf, size_t len)
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
