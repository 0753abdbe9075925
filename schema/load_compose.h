/*
 * schema/load_compose.h - composing the YAML document from parser events.
 *
 * Internal to the loader. The document is built from libyaml's events
 * rather than by yaml_parser_load(), so that nesting deeper than
 * LOAD_MAX_DEPTH and scalars holding a NUL byte are refused while parsing;
 * aliases resolve to shared nodes, every node keeps its start mark.
 */
#ifndef PGC_SCHEMA_LOAD_COMPOSE_H
#define PGC_SCHEMA_LOAD_COMPOSE_H

#include <stddef.h>

#include <yaml.h>

#include "schema/load_fields.h"

/*
 * load_compose - the one document of the stream into doc (initialised even
 * on failure, so that the caller always deletes it). 0, or -1 when
 * reported to c's diags (parse errors, a second document, too deep
 * nesting, NUL bytes).
 */
int load_compose(Ctx *c, yaml_parser_t *parser, yaml_document_t *doc, const char *buf, size_t len);

#endif
