/*
 * schema/load_hba.c - the hba section: access rules kept in pg_hba.conf's
 * own syntax, checked to be exactly one field each (schema/load_hba.h).
 */
#include "schema/load_hba.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

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

void load_fn_hba(Ctx *c, Entry *e, const char *path, void *base)
{
	PgcCluster *cl = base;
	yaml_node_t *n = e->val;
	yaml_node_item_t *it;
	size_t i = 0;

	if (n->type != YAML_SEQUENCE_NODE) {
		ERR(c, load_node_pos(n), path, NULL, "expected a list of rules, got %s", load_ytype_name(load_ytype(n)));
		return;
	}
	cl->hba_pos = load_node_pos(n);
	cl->hba = arena_calloc(c->a, (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) + 1,
			       sizeof(PgcHbaRule));
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *item = load_get_node(c, *it);
		const char *rpath = arena_printf(c->a, "%s[%zu]", path, i);
		PgcHbaRule *r = &cl->hba[cl->n_hba];

		r->pos = load_node_pos(item);
		if (!load_fields(c, item, rpath, hba_fields, r, NULL))
			continue;
		load_check_word(c, &r->type, load_join(c, rpath, "type"), hba_types);
		load_check_word(c, &r->method, load_join(c, rpath, "method"), hba_methods);
		check_hba_field(c, &r->database, load_join(c, rpath, "database"), HBA_DATABASE);
		check_hba_field(c, &r->user, load_join(c, rpath, "user"), HBA_USER);
		check_hba_field(c, &r->options, load_join(c, rpath, "options"), HBA_OPTIONS);
		if (r->type.set && strcmp(r->type.v, "local") == 0 && r->address.set)
			ERR(c, r->address.pos, load_join(c, rpath, "address"), "remove the address",
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
