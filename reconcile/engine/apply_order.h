/*
 * reconcile/engine/apply_order.h - which earlier actions each action of a plan
 * waits for, so that apply can run independent actions at the same time
 * (two replicas cloned at once) and still keep every order the plan's
 * sequence stands for.
 *
 * Action i waits for an earlier action j when:
 *   - i depends on j (depends_on; whether j must also have succeeded is
 *     apply's business, not this one's);
 *   - both are on the same node;
 *   - j is on a node upstream of i's node (its replicate_from chain up to
 *     the primary, and a clone's source node): a replica is set up after
 *     what the plan does to its upstream before it;
 *   - j is on a node downstream of i's node, unless i only adds something
 *     inside the server (slot, role, database, extension): a restart,
 *     reload or file written on an upstream waits for what its replicas
 *     were doing before it in the plan;
 *   - either names no node (cluster-wide), or the cluster has a switchover,
 *     rejoin or restore: then the cluster's actions go one at a time (so
 *     create-repository, which the planner puts first in its cluster, runs
 *     before any node of the cluster is created, configured or started);
 *   - either is a backup, retention, restore, switchover or rejoin: those
 *     wait for every earlier action of the plan and every later one waits
 *     for them (a restore reads another cluster's repository, retention
 *     deletes from one).
 * Actions of different clusters are otherwise independent. Waiting for the
 * latest earlier action of a node is enough: a node's actions form a chain.
 * Which kinds add inside a server, run alone, rewire a cluster or copy from
 * an upstream are the registry's flags (engine/action.h).
 */
#ifndef PGC_RECONCILE_ENGINE_APPLY_ORDER_H
#define PGC_RECONCILE_ENGINE_APPLY_ORDER_H

#include <stddef.h>

#include "common/arena.h"
#include "reconcile/engine/plan.h"
#include "schema/topology.h"

typedef struct {
	size_t *before;   /* indices (all < this action's) of the actions it waits for */
	size_t n_before;
} PgcActionOrder;

/*
 * apply_order_build - one entry per action of p, in p's order, allocated in
 * arena. Never fails (an action whose cluster or node is not in t waits for
 * everything before it, and everything after waits for it).
 */
PgcActionOrder *apply_order_build(PgcArena *arena, const PgcTopology *t, const PgcPlan *p);

#endif
