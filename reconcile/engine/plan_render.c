/*
 * reconcile/engine/plan_render.c - a plan as text (terminal), markdown (a pull
 * request comment) and JSON (saved plans, tools), and back from JSON.
 *
 * plan_from_json(plan_to_json(p)) gives a plan whose JSON is identical:
 * every field is written, absent values as null.
 */
#include "reconcile/engine/plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/strutil.h"
#include "reconcile/engine/action.h"

/* ---- shared ---------------------------------------------------------------- */

static const char *or_unset(const char *s)
{
	return s ? s : "(unset)";
}

/*
 * step_of - the 1-based position of an action id in the plan, 0 if absent.
 * A dependency is an earlier action, most often a close one: the search
 * goes back from the action at index from, then forward.
 */
static size_t step_of(const PgcPlan *p, size_t from, const char *id)
{
	size_t i;

	for (i = from < p->n_actions ? from : p->n_actions; i-- > 0;)
		if (strcmp(p->actions[i].id, id) == 0)
			return i + 1;
	for (i = from; i < p->n_actions; i++)
		if (strcmp(p->actions[i].id, id) == 0)
			return i + 1;
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool group_seen(const PgcPlan *p, size_t upto, const char *cluster, const char *node)
{
	size_t i;

	for (i = 0; i < upto; i++)
		if (same_str(p->actions[i].cluster, cluster) && same_str(p->actions[i].node, node))
			return true;
	return false;
}

static bool cluster_seen(const PgcPlan *p, size_t upto, const char *cluster)
{
	size_t i;

	for (i = 0; i < upto; i++)
		if (same_str(p->actions[i].cluster, cluster))
			return true;
	return false;
}

/*
 * action_label - "kind[:target]" from the id "cluster/node/kind[:target]",
 * the target escaped for display: it may name a role, which may hold any
 * character, slashes included.
 */
static const char *action_label(char *buf, size_t len, const PgcAction *a)
{
	const char *slash = strchr(a->id, '/');
	const char *target;
	PgcStrBuf t = PGC_STRBUF_INIT;

	slash = slash ? strchr(slash + 1, '/') : NULL;
	target = slash ? strchr(slash, ':') : NULL;

	strbuf_add_text(&t, target);
	snprintf(buf, len, "%s%s", plan_action_name(a->kind), t.data ? t.data : "");
	strbuf_release(&t);
	return buf;
}

/* ---- text ------------------------------------------------------------------- */

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_YELLOW "\033[33m"
#define C_RED "\033[31m"
#define C_BRED "\033[1;31m"
#define C_DIM "\033[2m"

static const char *col(bool color, const char *code)
{
	return color ? code : "";
}

/* label_width - the width of the action column: the longest label, within bounds. */
static int label_width(const PgcPlan *p)
{
	char label[256];
	size_t i, w = 12;

	for (i = 0; i < p->n_actions; i++) {
		size_t n = strlen(action_label(label, sizeof label, &p->actions[i]));

		if (n > w)
			w = n;
	}
	return w > 40 ? 40 : (int)w;
}

/* tx - s for a terminal: names and values may come from a server (see str_text). */
static void tx(FILE *out, const char *s)
{
	str_fput_text(out, s);
}

static void text_action(FILE *out, const PgcPlan *p, size_t i, int width, bool color)
{
	const PgcAction *a = &p->actions[i];
	char label[256], tag[32] = "", step[24];
	const char *tc = "";
	size_t k;

	if (a->impact != IMPACT_NONE) {
		snprintf(tag, sizeof tag, "[%s]", plan_impact_name(a->impact));
		tc = a->impact == IMPACT_RELOAD ? C_YELLOW : C_RED;
	}
	snprintf(step, sizeof step, "#%zu", i + 1);
	fprintf(out, "    %-4s %-*s %s%-10s%s ", step, width, action_label(label, sizeof label, a),
		col(color, tc), tag, col(color, C_RESET));
	tx(out, a->reason);
	fputc('\n', out);
	for (k = 0; k < a->n_changes; k++) {
		const PgcChange *c = &a->changes[k];

		if (strcmp(c->key, "rule") == 0) {
			fprintf(out, "           %s ", c->to ? "+" : "-");
			tx(out, c->to ? c->to : c->from);
		} else {
			fputs("           ", out);
			tx(out, c->key);
			fputs(": ", out);
			tx(out, or_unset(c->from));
			fputs(" -> ", out);
			tx(out, or_unset(c->to));
		}
		fputc('\n', out);
	}
	if (a->phase != NULL) {
		fprintf(out, "           %sphase: ", col(color, C_DIM));
		tx(out, a->phase);
		fprintf(out, "%s\n", col(color, C_RESET));
	}
	if (a->n_depends_on > 0) {
		fprintf(out, "           %safter:", col(color, C_DIM));
		for (k = 0; k < a->n_depends_on; k++) {
			size_t s = step_of(p, i, a->depends_on[k]);

			if (s > 0) {
				fprintf(out, "%s #%zu", k ? "," : "", s);
			} else {
				fprintf(out, "%s ", k ? "," : "");
				tx(out, a->depends_on[k]);
			}
		}
		fprintf(out, "%s\n", col(color, C_RESET));
	}
	if (p->coordinated) {
		/* Who carries it out: its host's agent, or the cluster's leader. */
		fprintf(out, "           %s", col(color, C_DIM));
		if (a->runs_on != NULL) {
			fputs("on ", out);
			tx(out, a->runs_on);
		} else {
			fputs("by the leader", out);
		}
		if (a->delegated)
			fputs(" (another host's agent carries it out)", out);
		fprintf(out, "%s\n", col(color, C_RESET));
	}
	if (a->blocked && !a->delegated) {
		fprintf(out, "           %sBLOCKED: ", col(color, C_BRED));
		tx(out, a->blocked_reason ? a->blocked_reason : "by policy");
		fprintf(out, "%s\n", col(color, C_RESET));
	}
}

/*
 * summary_line - "N actions: N reload, N restart, N blocked", and the
 * switchovers and rebuilds when there are any: they disrupt more than a
 * restart and must not hide in the count; with coordination, "N on other
 * hosts" (delegated to their agents).
 */
static const char *summary_line(const PgcPlan *p, char *buf, size_t size)
{
	size_t sw = plan_count_impact(p, IMPACT_SWITCHOVER), rb = plan_count_impact(p, IMPACT_REBUILD);
	int n = snprintf(buf, size, "%zu actions: %zu reload, %zu restart, %zu blocked", p->n_actions,
			 plan_count_impact(p, IMPACT_RELOAD), plan_count_impact(p, IMPACT_RESTART),
			 plan_count_blocked(p));

	if (sw > 0 && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, ", %zu switchover", sw);
	if (rb > 0 && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, ", %zu rebuild", rb);
	if (p->coordinated && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, ", %zu on other hosts", plan_count_delegated(p));
	return buf;
}

static void print_orphans_text(FILE *out, const PgcPlan *p)
{
	size_t i;

	if (p->n_orphans == 0)
		return;
	fprintf(out, "not in the topology (left in place):\n");
	for (i = 0; i < p->n_orphans; i++) {
		const PgcOrphan *o = &p->orphans[i];

		fputs("  ", out);
		tx(out, o->cluster);
		fputc('/', out);
		tx(out, o->node ? o->node : "-");
		fputc(' ', out);
		tx(out, o->kind);
		fputs(" \"", out);
		tx(out, o->name);
		fputs("\": ", out);
		tx(out, o->message);
		fputc('\n', out);
	}
}

void plan_print_text(FILE *out, const PgcPlan *p, bool color)
{
	int width = label_width(p);
	char line[256];
	size_t i, j;

	for (i = 0; i < p->n_actions; i++) {
		const PgcAction *a = &p->actions[i];

		if (cluster_seen(p, i, a->cluster))
			continue;
		fprintf(out, "%scluster ", col(color, C_BOLD));
		tx(out, a->cluster);
		fprintf(out, "%s\n", col(color, C_RESET));
		/* Nodes in order of first appearance; each node's actions in plan order. */
		for (j = i; j < p->n_actions; j++) {
			const PgcAction *b = &p->actions[j];
			size_t k;

			if (!same_str(b->cluster, a->cluster) || group_seen(p, j, b->cluster, b->node))
				continue;
			fprintf(out, "  %snode ", col(color, C_BOLD));
			tx(out, b->node ? b->node : "(cluster)");
			fprintf(out, "%s\n", col(color, C_RESET));
			for (k = j; k < p->n_actions; k++)
				if (same_str(p->actions[k].cluster, b->cluster) &&
				    same_str(p->actions[k].node, b->node))
					text_action(out, p, k, width, color);
		}
	}
	print_orphans_text(out, p);
	if (p->n_actions == 0)
		fprintf(out, "no changes: the live state matches the topology\n");
	else
		fprintf(out, "%s\n", summary_line(p, line, sizeof(line)));
}

/* ---- markdown ------------------------------------------------------------------ */

/*
 * md_text / md_code - prose and code spans for a pull request comment.
 * Names and values may come from a server or the file: they are escaped
 * (strbuf_add_md_text, strbuf_add_md_code) so that nothing in them can end
 * a code span or a table cell, or start a link, an image or HTML.
 */
static void md_emit(FILE *out, PgcStrBuf *b)
{
	if (b->len > 0)
		fwrite(b->data, 1, b->len, out);
	strbuf_release(b);
}

static void md_text(FILE *out, const char *s)
{
	PgcStrBuf b = PGC_STRBUF_INIT;

	strbuf_add_md_text(&b, s);
	md_emit(out, &b);
}

/* md_code - a code span; in_table escapes pipes as a table cell needs. */
static void md_code(FILE *out, const char *s, bool in_table)
{
	PgcStrBuf b = PGC_STRBUF_INIT;

	strbuf_add_md_code(&b, s, in_table);
	md_emit(out, &b);
}

/* md_change - one change as a code span in a table cell. */
static void md_change(FILE *out, const PgcChange *c)
{
	PgcStrBuf b = PGC_STRBUF_INIT;

	if (strcmp(c->key, "rule") == 0) {
		strbuf_adds(&b, c->to ? "+ " : "- ");
		strbuf_adds(&b, c->to ? c->to : c->from);
	} else {
		strbuf_addf(&b, "%s: %s -> %s", c->key, or_unset(c->from), or_unset(c->to));
	}
	md_code(out, b.data, true);
	strbuf_release(&b);
}

void plan_print_markdown(FILE *out, const PgcPlan *p)
{
	size_t i, j, k, restarts = 0, blocked = plan_count_blocked(p);
	char line[256];

	for (i = 0; i < p->n_actions; i++)
		restarts += p->actions[i].kind == ACT_RESTART;

	fprintf(out, "### pgconverge plan\n\n");
	if (p->n_actions == 0)
		fprintf(out, "**no changes: the live state matches the topology**\n");
	else
		fprintf(out, "**%s**\n", summary_line(p, line, sizeof(line)));
	if (restarts > 0 || blocked > 0) {
		fprintf(out, "\n> [!WARNING]\n");
		if (restarts > 0) {
			fprintf(out, "> Servers restarted (%zu):", restarts);
			for (i = 0, k = 0; i < p->n_actions; i++)
				if (p->actions[i].kind == ACT_RESTART) {
					fprintf(out, "%s ", k++ ? "," : "");
					md_code(out, p->actions[i].id, false);
				}
			fprintf(out, "\n");
		}
		if (restarts > 0 && blocked > 0)
			fprintf(out, ">\n");
		if (blocked > 0) {
			fprintf(out, "> Blocked (%zu), not applied until allowed:\n", blocked);
			for (i = 0; i < p->n_actions; i++)
				if (p->actions[i].blocked && !p->actions[i].delegated) {
					fprintf(out, "> - ");
					md_code(out, p->actions[i].id, false);
					fprintf(out, ": ");
					md_text(out, p->actions[i].blocked_reason);
					fprintf(out, "\n");
				}
		}
	}
	for (i = 0; i < p->n_actions; i++) {
		const char *cl = p->actions[i].cluster;

		if (cluster_seen(p, i, cl))
			continue;
		fprintf(out, "\n#### cluster ");
		md_code(out, cl, false);
		fprintf(out, "\n\n");
		fprintf(out, "| # | node | action | impact | reason and changes |\n");
		fprintf(out, "|--:|------|--------|--------|--------------------|\n");
		for (j = i; j < p->n_actions; j++) {
			const PgcAction *a = &p->actions[j];
			char label[256];
			bool loud = a->impact == IMPACT_RESTART || a->impact == IMPACT_SWITCHOVER ||
				    a->impact == IMPACT_REBUILD;

			if (!same_str(a->cluster, cl))
				continue;
			fprintf(out, "| %zu | ", j + 1);
			md_text(out, a->node ? a->node : "");
			fprintf(out, " | ");
			md_code(out, action_label(label, sizeof label, a), true);
			fprintf(out, " | %s%s%s | ", loud ? "**" : "", plan_impact_name(a->impact),
				loud ? "**" : "");
			if (a->blocked && !a->delegated) {
				fprintf(out, "**blocked:** ");
				md_text(out, a->blocked_reason);
				fprintf(out, "<br>");
			}
			if (p->coordinated) {
				if (a->runs_on != NULL) {
					fprintf(out, "on ");
					md_code(out, a->runs_on, true);
				} else {
					fprintf(out, "by the leader");
				}
				fprintf(out, "%s<br>", a->delegated ? " (another host's agent)" : "");
			}
			md_text(out, a->reason);
			for (k = 0; k < a->n_changes; k++) {
				fprintf(out, "<br>");
				md_change(out, &a->changes[k]);
			}
			if (a->phase != NULL) {
				fprintf(out, "<br>phase: ");
				md_text(out, a->phase);
			}
			fprintf(out, " |\n");
		}
	}
	if (p->n_orphans > 0) {
		fprintf(out, "\n#### not in the topology (left in place)\n\n");
		for (i = 0; i < p->n_orphans; i++) {
			const PgcOrphan *o = &p->orphans[i];
			PgcStrBuf where = PGC_STRBUF_INIT;

			strbuf_addf(&where, "%s/%s", o->cluster, o->node ? o->node : "-");
			fprintf(out, "- ");
			md_code(out, where.data, false);
			strbuf_release(&where);
			fputc(' ', out);
			md_text(out, o->kind);
			fputc(' ', out);
			md_code(out, o->name, false);
			fprintf(out, ": ");
			md_text(out, o->message);
			fprintf(out, "\n");
		}
	}
}

/* ---- JSON ------------------------------------------------------------------------ */

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *secret_json(const PgcSecret *s)
{
	switch (s->kind) {
	case SECRET_ENV:
		return json_pack("{s:s?}", "env", s->ref);
	case SECRET_FILE:
		return json_pack("{s:s?}", "file", s->ref);
	case SECRET_NONE:
		break;
	}
	return json_null();
}

static json_t *action_json(const PgcAction *a, bool coordinated)
{
	json_t *j = json_object(), *changes = json_array(), *deps = json_array(), *payload, *params;
	size_t i;

	json_object_set_new(j, "id", jstr(a->id));
	json_object_set_new(j, "action", json_string(plan_action_name(a->kind)));
	json_object_set_new(j, "cluster", jstr(a->cluster));
	json_object_set_new(j, "node", jstr(a->node));
	json_object_set_new(j, "reason", jstr(a->reason));
	for (i = 0; i < a->n_changes; i++)
		json_array_append_new(changes, json_pack("{s:o, s:o, s:o}", "key",
							 jstr(a->changes[i].key), "from",
							 jstr(a->changes[i].from), "to",
							 jstr(a->changes[i].to)));
	json_object_set_new(j, "changes", changes);
	json_object_set_new(j, "impact", json_string(plan_impact_name(a->impact)));
	for (i = 0; i < a->n_depends_on; i++)
		json_array_append_new(deps, jstr(a->depends_on[i]));
	json_object_set_new(j, "depends_on", deps);
	json_object_set_new(j, "phase", jstr(a->phase));
	json_object_set_new(j, "blocked", json_boolean(a->blocked));
	json_object_set_new(j, "blocked_reason", jstr(a->blocked_reason));
	/* Only with coordination: plans without it keep their shape byte for byte. */
	if (coordinated) {
		json_object_set_new(j, "runs_on", jstr(a->runs_on));
		json_object_set_new(j, "delegated", json_boolean(a->delegated));
	}

	payload = json_object();
	json_object_set_new(payload, "path", jstr(a->payload.path));
	json_object_set_new(payload, "content", jstr(a->payload.content));
	json_object_set_new(payload, "sql", jstr(a->payload.sql));
	params = json_array();
	for (i = 0; i < a->payload.n_params; i++)
		json_array_append_new(params, jstr(a->payload.params[i]));
	json_object_set_new(payload, "params", params);
	json_object_set_new(payload, "database", jstr(a->payload.database));
	json_object_set_new(payload, "target", jstr(a->payload.target));
	json_object_set_new(payload, "upstream", jstr(a->payload.upstream));
	json_object_set_new(payload, "secret", secret_json(&a->payload.secret));
	json_object_set_new(payload, "ident", jstr(a->payload.ident));
	json_object_set_new(j, "payload", payload);
	return j;
}

json_t *plan_to_json(const PgcPlan *p)
{
	json_t *j = json_object(), *fps = json_object(), *actions = json_array(),
	       *orphans = json_array();
	size_t i;

	json_object_set_new(j, "format_version", json_integer(PLAN_FORMAT_VERSION));
	json_object_set_new(j, "source",
			    json_pack("{s:o, s:o, s:o, s:o, s:o}", "kind", jstr(p->source_kind), "path",
				      jstr(p->source_path), "digest", jstr(p->source_digest), "ref",
				      jstr(p->source_ref), "commit", jstr(p->source_commit)));
	json_object_set_new(j, "offline", json_boolean(p->offline));
	json_object_set_new(j, "cluster", jstr(p->cluster));
	if (p->coordinated)
		json_object_set_new(j, "coordinated", json_true());
	for (i = 0; i < p->n_fp; i++)
		json_object_set_new(fps, p->fp_nodes[i], jstr(p->fp_values[i]));
	json_object_set_new(j, "fingerprints", fps);
	json_object_set_new(j, "summary",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "actions",
				      (json_int_t)p->n_actions, "reload",
				      (json_int_t)plan_count_impact(p, IMPACT_RELOAD), "restart",
				      (json_int_t)plan_count_impact(p, IMPACT_RESTART), "blocked",
				      (json_int_t)plan_count_blocked(p), "switchover",
				      (json_int_t)plan_count_impact(p, IMPACT_SWITCHOVER), "rebuild",
				      (json_int_t)plan_count_impact(p, IMPACT_REBUILD)));
	if (p->coordinated)
		json_object_set_new(json_object_get(j, "summary"), "delegated",
				    json_integer((json_int_t)plan_count_delegated(p)));
	for (i = 0; i < p->n_actions; i++)
		json_array_append_new(actions, action_json(&p->actions[i], p->coordinated));
	json_object_set_new(j, "actions", actions);
	for (i = 0; i < p->n_orphans; i++) {
		const PgcOrphan *o = &p->orphans[i];

		json_array_append_new(orphans, json_pack("{s:o, s:o, s:o, s:o, s:o}", "cluster",
							 jstr(o->cluster), "node", jstr(o->node), "kind",
							 jstr(o->kind), "name", jstr(o->name), "message",
							 jstr(o->message)));
	}
	json_object_set_new(j, "orphans", orphans);
	return j;
}

/* ---- from JSON ---------------------------------------------------------------------- */

typedef struct {
	PgcArena *a;
	char *err;
	size_t errlen;
	bool failed;
} Reader;

static void rfail(Reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void rfail(Reader *r, const char *fmt, ...)
{
	va_list ap;

	if (r->failed)
		return;
	r->failed = true;
	if (r->err == NULL || r->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
}

/* rstr - an optional string member: NULL when missing or null. */
static const char *rstr(Reader *r, json_t *obj, const char *key, const char *where)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		rfail(r, "%s.%s: expected a string or null", where, key);
		return NULL;
	}
	return arena_strdup(r->a, json_string_value(v));
}

static const char *rstr_req(Reader *r, json_t *obj, const char *key, const char *where)
{
	const char *s = rstr(r, obj, key, where);

	if (s == NULL)
		rfail(r, "%s.%s: expected a string", where, key);
	return s;
}

static json_t *rarray(Reader *r, json_t *obj, const char *key, const char *where)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_array(v)) {
		rfail(r, "%s.%s: expected an array", where, key);
		return NULL;
	}
	return v;
}

static int impact_of(const char *name, PgcImpact *impact)
{
	int k;

	for (k = IMPACT_NONE; k <= IMPACT_REBUILD; k++)
		if (strcmp(plan_impact_name((PgcImpact)k), name) == 0) {
			*impact = (PgcImpact)k;
			return 0;
		}
	return -1;
}

static void read_secret(Reader *r, json_t *v, PgcSecret *s, const char *where)
{
	json_t *env, *file;

	memset(s, 0, sizeof *s);
	if (v == NULL || json_is_null(v))
		return;
	env = json_object_get(v, "env");
	file = json_object_get(v, "file");
	if (json_is_string(env)) {
		s->kind = SECRET_ENV;
		s->ref = arena_strdup(r->a, json_string_value(env));
	} else if (json_is_string(file)) {
		s->kind = SECRET_FILE;
		s->ref = arena_strdup(r->a, json_string_value(file));
	} else {
		rfail(r, "%s.secret: expected {\"env\": NAME}, {\"file\": PATH} or null", where);
		return;
	}
	s->set = true;
}

static void read_action(Reader *r, json_t *j, PgcAction *a, size_t idx)
{
	char where[64];
	const char *s;
	json_t *arr, *payload, *v;
	size_t i;

	snprintf(where, sizeof where, "actions[%zu]", idx);
	if (!json_is_object(j)) {
		rfail(r, "%s: expected an object", where);
		return;
	}
	a->id = rstr_req(r, j, "id", where);
	s = rstr_req(r, j, "action", where);
	if (s != NULL && action_kind_by_name(s, &a->kind) != 0)
		rfail(r, "%s.action: unknown action \"%s\"", where, s);
	a->cluster = rstr_req(r, j, "cluster", where);
	a->node = rstr(r, j, "node", where);
	a->reason = rstr(r, j, "reason", where);
	arr = rarray(r, j, "changes", where);
	a->n_changes = arr ? json_array_size(arr) : 0;
	a->changes = arena_calloc(r->a, a->n_changes + 1, sizeof(PgcChange));
	for (i = 0; i < a->n_changes; i++) {
		json_t *c = json_array_get(arr, i);

		if (!json_is_object(c)) {
			rfail(r, "%s.changes[%zu]: expected an object", where, i);
			return;
		}
		a->changes[i].key = rstr_req(r, c, "key", where);
		a->changes[i].from = rstr(r, c, "from", where);
		a->changes[i].to = rstr(r, c, "to", where);
	}
	s = rstr_req(r, j, "impact", where);
	if (s != NULL && impact_of(s, &a->impact) != 0)
		rfail(r, "%s.impact: unknown impact \"%s\": expected none, reload, restart, "
		      "switchover or rebuild", where, s);
	arr = rarray(r, j, "depends_on", where);
	a->n_depends_on = arr ? json_array_size(arr) : 0;
	a->depends_on = arena_calloc(r->a, a->n_depends_on + 1, sizeof(char *));
	for (i = 0; i < a->n_depends_on; i++) {
		v = json_array_get(arr, i);
		if (!json_is_string(v)) {
			rfail(r, "%s.depends_on[%zu]: expected an action id", where, i);
			return;
		}
		a->depends_on[i] = arena_strdup(r->a, json_string_value(v));
	}
	a->phase = rstr(r, j, "phase", where);
	v = json_object_get(j, "blocked");
	if (v != NULL && !json_is_boolean(v))
		rfail(r, "%s.blocked: expected true or false", where);
	a->blocked = json_is_true(v);
	a->blocked_reason = rstr(r, j, "blocked_reason", where);
	a->runs_on = rstr(r, j, "runs_on", where);
	v = json_object_get(j, "delegated");
	if (v != NULL && !json_is_boolean(v))
		rfail(r, "%s.delegated: expected true or false", where);
	a->delegated = json_is_true(v);

	payload = json_object_get(j, "payload");
	if (payload == NULL || json_is_null(payload))
		return;
	if (!json_is_object(payload)) {
		rfail(r, "%s.payload: expected an object", where);
		return;
	}
	snprintf(where, sizeof where, "actions[%zu].payload", idx);
	a->payload.path = rstr(r, payload, "path", where);
	a->payload.content = rstr(r, payload, "content", where);
	a->payload.sql = rstr(r, payload, "sql", where);
	arr = rarray(r, payload, "params", where);
	a->payload.n_params = arr ? json_array_size(arr) : 0;
	a->payload.params = arena_calloc(r->a, a->payload.n_params + 1, sizeof(char *));
	for (i = 0; i < a->payload.n_params; i++) {
		v = json_array_get(arr, i);
		if (!json_is_string(v)) {
			rfail(r, "%s.params[%zu]: expected a string", where, i);
			return;
		}
		a->payload.params[i] = arena_strdup(r->a, json_string_value(v));
	}
	if (a->payload.n_params == 0)
		a->payload.params = NULL;
	a->payload.database = rstr(r, payload, "database", where);
	a->payload.target = rstr(r, payload, "target", where);
	a->payload.upstream = rstr(r, payload, "upstream", where);
	read_secret(r, json_object_get(payload, "secret"), &a->payload.secret, where);
	a->payload.ident = rstr(r, payload, "ident", where);
}

PgcPlan *plan_from_json(json_t *j, char *err, size_t errlen)
{
	PgcArena *a = arena_new();
	PgcPlan *p = arena_calloc(a, 1, sizeof(*p));
	Reader r = {a, err, errlen, false};
	json_t *v, *arr, *src;
	const char *key;
	size_t i;

	p->arena = a;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!json_is_object(j)) {
		rfail(&r, "expected a JSON object");
		goto fail;
	}
	v = json_object_get(j, "format_version");
	if (!json_is_integer(v)) {
		rfail(&r, "format_version: expected an integer");
		goto fail;
	}
	if (json_integer_value(v) != PLAN_FORMAT_VERSION) {
		rfail(&r, "unsupported plan format_version %" JSON_INTEGER_FORMAT ": expected %d",
		      json_integer_value(v), PLAN_FORMAT_VERSION);
		goto fail;
	}
	src = json_object_get(j, "source");
	if (src != NULL && json_is_object(src)) {
		p->source_kind = rstr(&r, src, "kind", "source");
		p->source_path = rstr(&r, src, "path", "source");
		p->source_digest = rstr(&r, src, "digest", "source");
		p->source_ref = rstr(&r, src, "ref", "source");
		p->source_commit = rstr(&r, src, "commit", "source");
	} else if (src != NULL && !json_is_null(src)) {
		rfail(&r, "source: expected an object");
	}
	v = json_object_get(j, "offline");
	p->offline = json_is_true(v);
	/* The planning scope; plans saved before it was recorded were of all clusters. */
	p->cluster = rstr(&r, j, "cluster", "plan");
	/* Plans saved before coordination existed have neither member: false. */
	v = json_object_get(j, "coordinated");
	if (v != NULL && !json_is_boolean(v))
		rfail(&r, "coordinated: expected true or false");
	p->coordinated = json_is_true(v);
	v = json_object_get(j, "fingerprints");
	if (v != NULL && !json_is_null(v)) {
		json_t *fp;

		if (!json_is_object(v)) {
			rfail(&r, "fingerprints: expected an object");
			goto fail;
		}
		p->fp_nodes = arena_calloc(a, json_object_size(v) + 1, sizeof(char *));
		p->fp_values = arena_calloc(a, json_object_size(v) + 1, sizeof(char *));
		json_object_foreach(v, key, fp) {
			if (!json_is_string(fp)) {
				rfail(&r, "fingerprints.%s: expected a string", key);
				goto fail;
			}
			p->fp_nodes[p->n_fp] = arena_strdup(a, key);
			p->fp_values[p->n_fp] = arena_strdup(a, json_string_value(fp));
			p->n_fp++;
		}
	}
	arr = rarray(&r, j, "actions", "plan");
	if (arr == NULL && !r.failed)
		rfail(&r, "actions: expected an array");
	if (r.failed)
		goto fail;
	p->n_actions = json_array_size(arr);
	p->actions = arena_calloc(a, p->n_actions + 1, sizeof(PgcAction));
	for (i = 0; i < p->n_actions && !r.failed; i++)
		read_action(&r, json_array_get(arr, i), &p->actions[i], i);
	arr = rarray(&r, j, "orphans", "plan");
	p->n_orphans = arr ? json_array_size(arr) : 0;
	p->orphans = arena_calloc(a, p->n_orphans + 1, sizeof(PgcOrphan));
	for (i = 0; i < p->n_orphans && !r.failed; i++) {
		json_t *o = json_array_get(arr, i);
		char where[64];

		snprintf(where, sizeof where, "orphans[%zu]", i);
		if (!json_is_object(o)) {
			rfail(&r, "%s: expected an object", where);
			break;
		}
		p->orphans[i].cluster = rstr(&r, o, "cluster", where);
		p->orphans[i].node = rstr(&r, o, "node", where);
		p->orphans[i].kind = rstr(&r, o, "kind", where);
		p->orphans[i].name = rstr(&r, o, "name", where);
		p->orphans[i].message = rstr(&r, o, "message", where);
	}
	/* Dependencies must name earlier actions: apply runs them in order. */
	for (i = 0; i < p->n_actions && !r.failed; i++) {
		size_t k, m;

		for (k = 0; k < p->actions[i].n_depends_on; k++) {
			for (m = 0; m < i; m++)
				if (strcmp(p->actions[m].id, p->actions[i].depends_on[k]) == 0)
					break;
			if (m == i)
				rfail(&r, "actions[%zu].depends_on: \"%s\" is not an earlier action", i,
				      p->actions[i].depends_on[k]);
		}
	}
	if (r.failed)
		goto fail;
	return p;
fail:
	arena_free(a);
	return NULL;
}

/* ---- saved plan against the plan made now ---------------------------------- */

/* action_diff - the first field in which two actions differ, or NULL. */
static const char *action_diff(const PgcAction *a, const PgcAction *b)
{
	const PgcPayload *x = &a->payload, *y = &b->payload;
	size_t i;

	if (a->kind != b->kind)
		return "action kind";
	if (!same_str(a->cluster, b->cluster))
		return "cluster";
	if (!same_str(a->node, b->node))
		return "node";
	if (a->impact != b->impact)
		return "impact";
	if (!same_str(a->phase, b->phase))
		return "phase";
	if (a->n_depends_on != b->n_depends_on)
		return "depends_on";
	for (i = 0; i < a->n_depends_on; i++)
		if (!same_str(a->depends_on[i], b->depends_on[i]))
			return "depends_on";
	if (a->n_changes != b->n_changes)
		return "list of changes";
	for (i = 0; i < a->n_changes; i++)
		if (!same_str(a->changes[i].key, b->changes[i].key) ||
		    !same_str(a->changes[i].from, b->changes[i].from) ||
		    !same_str(a->changes[i].to, b->changes[i].to))
			return "list of changes";
	if (!same_str(x->path, y->path))
		return "payload.path";
	if (!same_str(x->content, y->content))
		return "payload.content";
	if (!same_str(x->sql, y->sql))
		return "payload.sql";
	if (x->n_params != y->n_params)
		return "payload.params";
	for (i = 0; i < x->n_params; i++)
		if (!same_str(x->params[i], y->params[i]))
			return "payload.params";
	if (!same_str(x->database, y->database))
		return "payload.database";
	if (!same_str(x->target, y->target))
		return "payload.target";
	if (!same_str(x->upstream, y->upstream))
		return "payload.upstream";
	if (x->secret.kind != y->secret.kind || !same_str(x->secret.ref, y->secret.ref))
		return "payload.secret";
	if (!same_str(x->ident, y->ident))
		return "payload.ident";
	return NULL;
}

/* duplicate_id - sets *first and *second (0-based) to two actions with one id. */
static bool duplicate_id(const PgcPlan *p, size_t *first, size_t *second)
{
	size_t i, j;

	for (i = 0; i < p->n_actions; i++)
		for (j = i + 1; j < p->n_actions; j++)
			if (same_str(p->actions[i].id, p->actions[j].id)) {
				*first = i;
				*second = j;
				return true;
			}
	return false;
}

int plan_compare_actions(const PgcPlan *saved, const PgcPlan *now, char *why, size_t len)
{
	PgcStrBuf sa = PGC_STRBUF_INIT, sb = PGC_STRBUF_INIT;
	const char *field = NULL;
	size_t i, d1, d2;

	for (i = 0; i < saved->n_actions && i < now->n_actions; i++)
		if (!same_str(saved->actions[i].id, now->actions[i].id) ||
		    (field = action_diff(&saved->actions[i], &now->actions[i])) != NULL)
			break;
	if (field == NULL && i == saved->n_actions && i == now->n_actions)
		return 0;
	/* Names in the messages come from the file: escaped, and cut to fit. A
	 * duplicated id is named first, else the first position that differs. */
	if (duplicate_id(saved, &d1, &d2)) {
		strbuf_add_text(&sa, saved->actions[d1].id ? saved->actions[d1].id : "(none)");
		strbuf_add(&sa, "", 0);
		snprintf(why, len, "action \"%s\" appears twice in the saved plan (#%zu and #%zu)",
			 sa.data, d1 + 1, d2 + 1);
	} else if (i < saved->n_actions && i < now->n_actions) {
		strbuf_add_text(&sa, saved->actions[i].id ? saved->actions[i].id : "(none)");
		strbuf_add(&sa, "", 0); /* "" rather than NULL for an empty id */
		strbuf_add_text(&sb, now->actions[i].id);
		strbuf_add(&sb, "", 0);
		if (field == NULL)
			snprintf(why, len,
				 "action #%zu of the saved plan is \"%s\" where the topology and the "
				 "servers call for \"%s\" now (actions reordered, added or removed)",
				 i + 1, sa.data, sb.data);
		else
			snprintf(why, len,
				 "action \"%s\" of the saved plan is not what the topology and the servers "
				 "call for now: its %s differs",
				 sa.data, field);
	} else {
		snprintf(why, len,
			 "the saved plan has %zu action%s where the topology and the servers call for "
			 "%zu now",
			 saved->n_actions, saved->n_actions == 1 ? "" : "s", now->n_actions);
	}
	strbuf_release(&sa);
	strbuf_release(&sb);
	return -1;
}
