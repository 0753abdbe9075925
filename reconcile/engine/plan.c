/*
 * reconcile/engine/plan.c - the plan's own helpers (plan.h): freeing,
 * counting, finding an action, and the names of impacts (a kind's name is
 * the registry's, engine/action.c). Building
 * a plan is reconcile/planner.c's, with engine/builder.h.
 */
#include "reconcile/engine/plan.h"

#include <string.h>


void plan_free(PgcPlan *p)
{
	if (p != NULL)
		arena_free(p->arena);
}

size_t plan_count_impact(const PgcPlan *p, PgcImpact impact)
{
	size_t i, n = 0;

	for (i = 0; i < p->n_actions; i++)
		n += p->actions[i].impact == impact;
	return n;
}

size_t plan_count_blocked(const PgcPlan *p)
{
	size_t i, n = 0;

	/* A delegated action is its host's business, whatever held it here. */
	for (i = 0; i < p->n_actions; i++)
		n += p->actions[i].blocked && !p->actions[i].delegated;
	return n;
}

size_t plan_count_delegated(const PgcPlan *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->n_actions; i++)
		n += p->actions[i].delegated;
	return n;
}

const PgcAction *plan_find_action(const PgcPlan *p, const char *id)
{
	size_t i;

	for (i = 0; p != NULL && id != NULL && i < p->n_actions; i++)
		if (strcmp(p->actions[i].id, id) == 0)
			return &p->actions[i];
	return NULL;
}

const char *plan_impact_name(PgcImpact impact)
{
	switch (impact) {
	case IMPACT_NONE:
		return "none";
	case IMPACT_RELOAD:
		return "reload";
	case IMPACT_RESTART:
		return "restart";
	case IMPACT_SWITCHOVER:
		return "switchover";
	case IMPACT_REBUILD:
		return "rebuild";
	}
	return "unknown";
}
