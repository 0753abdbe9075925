/*
 * reconcile/engine/builder.c - appending to a plan (builder.h).
 */
#include "reconcile/engine/builder.h"

#include <string.h>

#include "reconcile/engine/action.h"

void builder_init(PgcPlanBuilder *b, PgcPlan *p)
{
	memset(b, 0, sizeof(*b));
	b->p = p;
	b->a = p->arena;
	b->cap_actions = p->n_actions;
	b->cap_orphans = p->n_orphans;
	b->cap_fp = p->n_fp;
}

PgcAction *builder_append(PgcPlanBuilder *b)
{
	PgcPlan *p = b->p;
	PgcAction *act;

	p->actions = arena_grow(b->a, p->actions, p->n_actions, &b->cap_actions, 32,
				sizeof(*p->actions));
	act = &p->actions[p->n_actions++];
	memset(act, 0, sizeof(*act));
	return act;
}

void builder_fill(PgcPlanBuilder *b, PgcAction *act, PgcActionKind kind, const char *cluster,
		  const char *node, const char *target, PgcImpact impact, const char *reason)
{
	act->kind = kind;
	act->cluster = cluster;
	act->node = node;
	act->id = arena_printf(b->a, "%s/%s/%s%s%s", cluster, node ? node : "-",
			       plan_action_name(kind), target ? ":" : "", target ? target : "");
	act->impact = impact;
	act->reason = reason;
}

PgcAction *builder_emit(PgcPlanBuilder *b, PgcActionKind kind, const char *cluster,
			const char *node, const char *target, PgcImpact impact, const char *reason)
{
	PgcAction *act = builder_append(b);

	builder_fill(b, act, kind, cluster, node, target, impact, reason);
	return act;
}

/*
 * Today no change follows a shared diff on an action (hba_changes is the
 * last word on its action); the flag keeps it safe if one does.
 */
void builder_change(PgcPlanBuilder *b, PgcAction *act, const char *key, const char *from,
		    const char *to)
{
	size_t n = act->n_changes, cap = 4;
	bool shared = act->changes_shared && n > 0;

	act->changes_shared = false; /* from here on the list is this action's own */
	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0) || shared) {
		PgcChange *ch;

		while (cap <= n)
			cap *= 2;
		ch = arena_calloc(b->a, cap, sizeof(*ch));
		if (n)
			memcpy(ch, act->changes, n * sizeof(*ch));
		act->changes = ch;
	}
	act->changes[n].key = key;
	act->changes[n].from = from;
	act->changes[n].to = to;
	act->n_changes++;
}

void builder_depend(PgcPlanBuilder *b, PgcAction *act, const char *id)
{
	const char **deps;
	size_t i;

	if (id == NULL)
		return;
	for (i = 0; i < act->n_depends_on; i++)
		if (strcmp(act->depends_on[i], id) == 0)
			return;
	deps = arena_calloc(b->a, act->n_depends_on + 1, sizeof(char *));
	if (act->n_depends_on)
		memcpy(deps, act->depends_on, act->n_depends_on * sizeof(char *));
	deps[act->n_depends_on++] = id;
	act->depends_on = deps;
}

void builder_param(PgcPlanBuilder *b, PgcAction *act, const char *value)
{
	const char **v = arena_calloc(b->a, act->payload.n_params + 2, sizeof(char *));

	if (act->payload.n_params)
		memcpy(v, act->payload.params, act->payload.n_params * sizeof(char *));
	v[act->payload.n_params++] = arena_strdup(b->a, value);
	act->payload.params = v;
}

void builder_block(PgcAction *act, const char *why)
{
	if (act->blocked)
		return;
	act->blocked = true;
	act->blocked_reason = why;
}

void builder_delegate(PgcPlanBuilder *b, PgcAction *act, const char *why)
{
	if (b->coordinated)
		act->delegated = true;
	else
		builder_block(act, why);
}

void builder_orphan(PgcPlanBuilder *b, const char *cluster, const char *node, const char *kind,
		    const char *name, const char *message)
{
	PgcPlan *p = b->p;

	p->orphans = arena_grow(b->a, p->orphans, p->n_orphans, &b->cap_orphans, 16,
				sizeof(*p->orphans));
	p->orphans[p->n_orphans].cluster = cluster;
	p->orphans[p->n_orphans].node = node;
	p->orphans[p->n_orphans].kind = kind;
	p->orphans[p->n_orphans].name = name;
	p->orphans[p->n_orphans].message = message;
	p->n_orphans++;
}

void builder_fingerprint(PgcPlanBuilder *b, const char *node, const char *value)
{
	PgcPlan *p = b->p;

	if (p->n_fp == b->cap_fp) {
		size_t cap = b->cap_fp ? b->cap_fp * 2 : 16;
		const char **nodes = arena_calloc(b->a, cap, sizeof(char *));
		const char **values = arena_calloc(b->a, cap, sizeof(char *));

		if (p->n_fp) {
			memcpy(nodes, p->fp_nodes, p->n_fp * sizeof(char *));
			memcpy(values, p->fp_values, p->n_fp * sizeof(char *));
		}
		p->fp_nodes = nodes;
		p->fp_values = values;
		b->cap_fp = cap;
	}
	p->fp_nodes[p->n_fp] = node;
	p->fp_values[p->n_fp] = value;
	p->n_fp++;
}
