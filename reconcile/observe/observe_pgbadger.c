/*
 * reconcile/observe/observe_pgbadger.c - the pgBadger reports' state file
 * (observe_pgbadger.h).
 */
#include "reconcile/observe/observe_pgbadger.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The state file is small: a line per log file parsed in the last keep days. */
#define STATE_MAX_BYTES (8 * 1024 * 1024)

const char *observe_pgbadger_dir(PgcArena *arena, const PgcCluster *c, const PgcNode *n)
{
	return arena_printf(arena, "%s/%s", c->monitoring.pgbadger.output.v, n->name);
}

static const char *jstr(PgcArena *a, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? arena_strdup(a, json_string_value(v)) : NULL;
}

int observe_pgbadger_parse(PgcArena *arena, const char *text, size_t len, PgcObsPgbadger *out)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, 0, &jerr), *files, *f;
	size_t i;

	if (!json_is_object(root)) {
		out->error = root == NULL ? arena_printf(arena, "not JSON: %s (line %d)", jerr.text,
							  jerr.line)
					  : "not a JSON object";
		json_decref(root);
		return -1;
	}
	out->last_run = jstr(arena, root, "last_run");
	out->last_run_epoch = json_number_value(json_object_get(root, "last_run_epoch"));
	out->ok = json_is_true(json_object_get(root, "ok"));
	out->last_error = jstr(arena, root, "error");
	files = json_object_get(root, "parsed");
	if (out->last_run == NULL || out->last_run_epoch <= 0 ||
	    (files != NULL && !json_is_array(files))) {
		out->error = "\"last_run\", \"last_run_epoch\" or \"parsed\" is missing or malformed";
		json_decref(root);
		return -1;
	}
	out->n_parsed = 0;
	out->parsed = arena_calloc(arena, json_array_size(files) + 1, sizeof(*out->parsed));
	json_array_foreach(files, i, f) {
		const char *name = jstr(arena, f, "name");

		if (name == NULL || strchr(name, '/') != NULL)
			continue;
		out->parsed[out->n_parsed].name = name;
		out->parsed[out->n_parsed].size = (int64_t)json_number_value(json_object_get(f, "size"));
		out->parsed[out->n_parsed].mtime = json_number_value(json_object_get(f, "mtime"));
		out->n_parsed++;
	}
	json_decref(root);
	return 0;
}

char *observe_pgbadger_render(const PgcObsPgbadger *s)
{
	json_t *root = json_object(), *files = json_array();
	char *text, *out;
	size_t len;

	json_object_set_new(root, "last_run", s->last_run ? json_string(s->last_run) : json_null());
	json_object_set_new(root, "last_run_epoch", json_real(s->last_run_epoch));
	json_object_set_new(root, "ok", json_boolean(s->ok));
	json_object_set_new(root, "error", s->last_error ? json_string(s->last_error) : json_null());
	for (size_t i = 0; i < s->n_parsed; i++)
		json_array_append_new(files, json_pack("{s:s, s:I, s:f}", "name", s->parsed[i].name,
						       "size", (json_int_t)s->parsed[i].size, "mtime",
						       s->parsed[i].mtime));
	json_object_set_new(root, "parsed", files);
	text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL)
		return NULL;
	len = strlen(text);
	out = malloc(len + 2);
	if (out != NULL) {
		memcpy(out, text, len);
		out[len] = '\n';
		out[len + 1] = '\0';
	}
	free(text);
	return out;
}

PgcObsPgbadger *observe_pgbadger_read(PgcArena *arena, PgcHost *h, const PgcCluster *c,
				      const PgcNode *n)
{
	PgcObsPgbadger *s;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (!c->monitoring.pgbadger.set || c->monitoring.pgbadger.output.v == NULL)
		return NULL;
	s = arena_calloc(arena, 1, sizeof(*s));
	s->path = arena_printf(arena, "%s/%s", observe_pgbadger_dir(arena, c, n),
			       PGBADGER_STATE_FILE);
	rc = host_read_file(h, s->path, &buf, &len, STATE_MAX_BYTES);
	if (rc == 1)
		return s;
	if (rc != 0) {
		s->error = arena_printf(arena, "could not read \"%s\"", s->path);
		return s;
	}
	s->exists = true;
	if (observe_pgbadger_parse(arena, buf, len, s) != 0)
		s->error = arena_printf(arena, "\"%s\" is malformed: %s", s->path, s->error);
	free(buf);
	return s;
}

static const char *dup(PgcArena *a, const char *s)
{
	return s ? arena_strdup(a, s) : NULL;
}

PgcObsPgbadger *observe_pgbadger_copy(PgcArena *arena, const PgcObsPgbadger *s)
{
	PgcObsPgbadger *c;

	if (s == NULL)
		return NULL;
	c = arena_calloc(arena, 1, sizeof(*c));
	*c = *s;
	c->path = dup(arena, s->path);
	c->error = dup(arena, s->error);
	c->last_run = dup(arena, s->last_run);
	c->last_error = dup(arena, s->last_error);
	c->parsed = arena_calloc(arena, s->n_parsed + 1, sizeof(*c->parsed));
	for (size_t i = 0; i < s->n_parsed; i++) {
		c->parsed[i] = s->parsed[i];
		c->parsed[i].name = dup(arena, s->parsed[i].name);
	}
	return c;
}
