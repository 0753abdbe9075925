/*
 * reconcile/engine/failover_veto.h - what the HA flows ask the components
 * before they promote a replica of a cluster: a component that knows the
 * promotion would make a second writable copy of the data (or fork the
 * cluster) vetoes it, with the reason.
 *
 * The automatic failover (reconcile/ha/auto_failover.c) asks once the
 * primary has failed and the cluster was observed (failover_observe():
 * the cluster, the clusters of its standby_of chain and its own standby
 * clusters), before it decides; `pgconverge failover` (cmd/failover.c)
 * asks before a manual promotion. Each component answers through its row
 * of the table that reconcile/registry.c defines (failover_veto_table(),
 * declared here like frontdoor_table(): the engine and the HA component
 * include no component's header).
 *
 * A row is a pure function of the topology and the observed state.
 */
#ifndef PGC_RECONCILE_ENGINE_FAILOVER_VETO_H
#define PGC_RECONCILE_ENGINE_FAILOVER_VETO_H

#include <stddef.h>

#include "common/arena.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

typedef struct {
	const char *name; /* the component: "standby" */
	/*
	 * veto - why no replica of c may be promoted now (in a, one sentence
	 * that says what to do instead), or NULL: no objection. obs NULL or
	 * pretend: NULL.
	 */
	const char *(*veto)(PgcArena *a, const PgcTopology *t, const PgcObserved *obs,
			    const PgcCluster *c);
} PgcFailoverVeto;

/* failover_veto_table - the rows, in the order they are asked (registry.c). */
const PgcFailoverVeto *failover_veto_table(size_t *n);

/*
 * failover_veto - the reason of the first row that vetoes a promotion in
 * cluster c (in a); NULL when none does, or obs is NULL or pretend.
 */
const char *failover_veto(PgcArena *a, const PgcTopology *t, const PgcObserved *obs,
			  const PgcCluster *c);

#endif
