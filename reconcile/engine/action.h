/*
 * reconcile/engine/action.h - the action registry's row: what the engine
 * knows about each action kind (PgcActionKind, engine/plan.h) without
 * knowing the components that implement them.
 *
 * One row per kind: the name a plan and the journal show ("action" in the
 * JSON), the flags that tell apply_order.h how the kind runs beside others
 * and the planners whether it needs the node's machine, and the executor.
 * Naming (plan_action_name), dispatch (apply), the concurrency class
 * (apply_order) and the parsing of a saved plan's "action" name are
 * lookups in it.
 *
 * The table itself names every component's executor, so it lives above the
 * components, in reconcile/registry.c, which defines action_def(); the
 * engine only declares it here. Adding a kind: see reconcile/README.md.
 */
#ifndef PGC_RECONCILE_ENGINE_ACTION_H
#define PGC_RECONCILE_ENGINE_ACTION_H

#include "reconcile/engine/exec.h"
#include "reconcile/engine/plan.h"

/* Flags of a kind (PgcActionDef.flags). */
enum {
	/* Works on the node's files or processes: the planners block it on a
	 * node of another machine, and its executor calls exec_need_host(). */
	ACTION_NEEDS_HOST = 1 << 0,
	/* Moves roles, data or archives around: it waits for every earlier
	 * action of the plan and every later one waits for it. */
	ACTION_RUNS_ALONE = 1 << 1,
	/* Only adds to what a server holds (slot, role, database, extension):
	 * the node's replicas need not be idle. */
	ACTION_ADDS_INSIDE = 1 << 2,
	/* Changes who is upstream of whom (switchover, rejoin, restore): the
	 * actions of its cluster go one at a time. */
	ACTION_REWIRES = 1 << 3,
	/* Copies from the node payload.upstream names: waits for that node too. */
	ACTION_COPIES_UPSTREAM = 1 << 4,
};

typedef struct {
	const char *name;              /* the JSON "action" name and the id's kind part */
	unsigned flags;                /* ACTION_* */
	int (*run)(PgcExecCtx *ctx);   /* the executor (exec.h's contract) */
} PgcActionDef;

/*
 * action_def - the registry's row for kind; NULL for a value that is not a
 * kind (a corrupt PgcAction). Defined by reconcile/registry.c.
 */
const PgcActionDef *action_def(PgcActionKind kind);

/* plan_action_name - kind's name (the JSON "action"); "unknown" for a value that is not a kind. */
const char *plan_action_name(PgcActionKind kind);

/* action_has - true when kind's row has every flag of flags. */
bool action_has(PgcActionKind kind, unsigned flags);

/* action_kind_by_name - the kind whose row is named name: 0, or -1 when none is. */
int action_kind_by_name(const char *name, PgcActionKind *out);

#endif
