/*
 * reconcile/engine/failover_veto.c - asking the components whether a
 * replica may be promoted (failover_veto.h).
 */
#include "reconcile/engine/failover_veto.h"

const char *failover_veto(PgcArena *a, const PgcTopology *t, const PgcObserved *obs,
			  const PgcCluster *c)
{
	size_t n;
	const PgcFailoverVeto *rows = failover_veto_table(&n);

	if (t == NULL || obs == NULL || obs->pretend || c == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *why = rows[i].veto != NULL ? rows[i].veto(a, t, obs, c) : NULL;

		if (why != NULL)
			return why;
	}
	return NULL;
}
