/*
 * reconcile/engine/action.c - lookups in the action registry (action.h).
 */
#include "reconcile/engine/action.h"

#include <string.h>

bool action_has(PgcActionKind kind, unsigned flags)
{
	const PgcActionDef *d = action_def(kind);

	return d != NULL && (d->flags & flags) == flags;
}

int action_kind_by_name(const char *name, PgcActionKind *out)
{
	for (int k = 0; name != NULL && k < PLAN_ACTION_KINDS; k++) {
		const PgcActionDef *d = action_def((PgcActionKind)k);

		if (d != NULL && d->name != NULL && strcmp(d->name, name) == 0) {
			*out = (PgcActionKind)k;
			return 0;
		}
	}
	return -1;
}

const char *plan_action_name(PgcActionKind kind)
{
	const PgcActionDef *d = action_def(kind);

	return d != NULL ? d->name : "unknown";
}
