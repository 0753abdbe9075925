/*
 * reconcile/engine/builder.h - the plan builder every component's planner
 * appends with: actions (with their changes, dependencies, parameters and
 * blocks), orphans and fingerprints, in one plan's arena.
 *
 * The arrays grow by doubling; a builder keeps their capacities, so one
 * builder per plan, shared by every planner that appends to it (the
 * postgres, backup and HA planners of reconcile/planner.c). The order of
 * appends is the plan's order.
 *
 * Memory: everything in the plan's arena (p->arena); the builder itself is
 * the caller's, usually on the stack.
 */
#ifndef PGC_RECONCILE_ENGINE_BUILDER_H
#define PGC_RECONCILE_ENGINE_BUILDER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "reconcile/engine/plan.h"

typedef struct {
	PgcPlan *p;
	PgcArena *a;              /* p->arena */
	size_t cap_actions, cap_orphans, cap_fp;
	/* The topology has coordination (coordination.etcd): builder_delegate()
	 * delegates rather than blocks. Set by plan_build(). */
	bool coordinated;
} PgcPlanBuilder;

/*
 * builder_init - a builder appending to p. What p holds already stays
 * (plan --offline adds orphans to a plan built): its arrays are taken as
 * full, so the first append to each copies it.
 */
void builder_init(PgcPlanBuilder *b, PgcPlan *p);

/*
 * builder_append - a zeroed action at the end of the plan. The pointer is
 * good until the next append (the array may move).
 */
PgcAction *builder_append(PgcPlanBuilder *b);

/*
 * builder_fill - sets kind, cluster, node (NULL: cluster-wide), impact,
 * reason and the id "cluster/node/kind[:target]" ("-" for no node) of act,
 * which need not be in the plan (one kept aside and appended later).
 */
void builder_fill(PgcPlanBuilder *b, PgcAction *act, PgcActionKind kind, const char *cluster,
		  const char *node, const char *target, PgcImpact impact, const char *reason);

/* builder_emit - builder_append() then builder_fill(). */
PgcAction *builder_emit(PgcPlanBuilder *b, PgcActionKind kind, const char *cluster,
			const char *node, const char *target, PgcImpact impact, const char *reason);

/*
 * builder_change - appends (key, from, to) to act->changes, which grows by
 * doubling: its capacity is the next power of two from 4 up (an hba action
 * of a new node lists every rule, thousands of them). A list shared with
 * other actions (act->changes_shared) is copied first, whichever diff came
 * since: written in place, an append would land in the others' buffer.
 */
void builder_change(PgcPlanBuilder *b, PgcAction *act, const char *key, const char *from,
		    const char *to);

/* builder_depend - act depends on the action with id (NULL: nothing); once per id. */
void builder_depend(PgcPlanBuilder *b, PgcAction *act, const char *id);

/* builder_param - appends a copy of value to act->payload.params (kept NULL-terminated). */
void builder_param(PgcPlanBuilder *b, PgcAction *act, const char *value);

/* builder_block - marks act blocked with why; the first reason stays. */
void builder_block(PgcAction *act, const char *why);

/*
 * builder_delegate - act needs a machine that is not this one (why says
 * which). Without coordination it is blocked with why, as pgconverge cannot
 * act there; with coordination it is delegated (act->delegated): that
 * host's agent carries it out, so apply here leaves it and it is not
 * counted as blocked. Every planner site that meets "not this machine"
 * goes through here.
 */
void builder_delegate(PgcPlanBuilder *b, PgcAction *act, const char *why);

/* builder_orphan - reports a thing seen live that the file does not declare. */
void builder_orphan(PgcPlanBuilder *b, const char *cluster, const char *node, const char *kind,
		    const char *name, const char *message);

/* builder_fingerprint - records node's ("cluster/node") observed fingerprint. */
void builder_fingerprint(PgcPlanBuilder *b, const char *node, const char *value);

#endif
