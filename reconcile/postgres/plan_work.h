/*
 * reconcile/postgres/plan_work.h - what the files of the postgres planner
 * share (plan_postgres.c, plan_settings.c, plan_node.c, plan_roles.c,
 * plan_orphans.c): its state per node and per cluster, and the steps each
 * file gives the others. Internal to reconcile/postgres/plan_*.c; the
 * planner's contract is plan_postgres.h.
 */
#ifndef PGC_RECONCILE_POSTGRES_PLAN_WORK_H
#define PGC_RECONCILE_POSTGRES_PLAN_WORK_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "common/arena.h"
#include "reconcile/engine/action.h"
#include "reconcile/engine/builder.h"
#include "reconcile/engine/plan.h"
#include "reconcile/observe/observe.h"
#include "reconcile/postgres/plan_conf.h"
#include "schema/topology.h"

/* The phases of a plan that changes ">= on standbys" parameters (PgcAction.phase). */
#define PHASE_RAISE "raise-standbys-first"
#define PHASE_LOWER "lower-primary-first"

typedef enum {
	NS_SKIP,      /* not observed: nothing known, nothing planned */
	NS_NEW,       /* local, data directory absent or empty */
	NS_FOREIGN,   /* local, data directory holds something else */
	NS_DOWN,      /* local, initialized, no server */
	NS_NOT_STANDBY, /* local replica, initialized, no server, no standby.signal */
	NS_RUNNING,   /* a server answers (or its postmaster is alive) */
	NS_UNKNOWN,   /* local, data directory could not be inspected, no server */
	NS_REMOTE_DOWN, /* another machine, not reachable */
} NodeState;

/* One parameter difference, with canonical values for ordering decisions. */
typedef struct {
	const char *key, *from, *to;
	const char *canon_from, *canon_to;
	bool restart; /* postmaster context */
	bool ge;      /* in ge_params */
} Delta;

typedef struct {
	const PgcNode *n;
	const PgcObsNode *o;
	int depth;
	bool primary, remote, reachable, running;
	NodeState state;

	PgcConfParam *want;
	size_t n_want;
	const char *content, *hba;
	Delta *deltas;
	size_t n_deltas, cap_deltas;
	bool need_config, need_hba;
	const char *pending;           /* parameters waiting for a restart, or NULL */
	const PgcObsAutoConf **resets; /* ALTER SYSTEM values of managed parameters */
	size_t n_resets;
	const char *held_back;         /* why some parameters keep their value for now, or NULL */
	bool has_ge;                   /* a >=-on-standby parameter changes */

	/* Ids of the actions planned for the node, NULL when not planned. */
	const char *id_create, *id_config, *id_hba, *id_passfile, *id_start, *id_reload, *id_restart;
	const char **id_resets;
	/* After it the server runs (its start), or a blocked action that stops dependents. */
	const char *id_up;
	bool emitted;
} NodeWork;

struct PgcPostgresPlanner {
	PgcPlanBuilder *b;        /* appends to the plan */
	PgcArena *a;              /* the plan's */
	const PgcPolicy *policy;
	/* per cluster */
	const PgcCluster *c;
	NodeWork *w;
	size_t nw;
	NodeWork *pw; /* the primary's */
	const PgcObsNode *standby_up_o; /* a standby cluster's: its leader's upstream, as observed */
	int major;
	bool restart_ok;
	bool pretend;             /* the observed state is made up (plan --offline) */
	const char *restart_block;
	int phase_dir;            /* +1 raise, -1 lower, 0 no >= parameter changes */
	const char *phase;        /* its name, or NULL */
	const char *last_restart;
	const char *repl_role_id; /* create/alter of the replication user */
	const char **role_ids;    /* create-role id per declared role, or NULL */
	const char *hba;          /* the cluster's pg_hba.conf: the same for every node */
	const char **hba_rules;   /* its rule lines, split once (hba_changes) */
	size_t n_hba_rules;
	const char *hba_old;      /* the last observed pg_hba.conf split (offline: shared) */
	const char **hba_old_rules;
	size_t n_hba_old_rules;
	/* The last rule diff, shared by the nodes with the same old and new
	 * files (every new node: thousands of rules each). */
	const char *diff_old, *diff_new;
	PgcChange *diff;
	size_t n_diff;
};

/* The planner's state: one per plan, reset cluster by cluster (plan_postgres_begin). */
typedef struct PgcPostgresPlanner Ctx;

/*
 * ---- small helpers, and emitting actions ----------------------------------
 * Inline: every file of the planner uses them, and they stay out of the
 * library's symbols.
 */

static inline bool streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static inline bool has_suffix(const char *s, const char *suffix)
{
	size_t ls, lx;

	if (s == NULL)
		return false;
	ls = strlen(s);
	lx = strlen(suffix);
	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static inline const char *secret_text(PgcArena *a, const PgcSecret *s)
{
	switch (s->kind) {
	case SECRET_ENV:
		return arena_printf(a, "{env: %s}", s->ref);
	case SECRET_FILE:
		return arena_printf(a, "{file: %s}", s->ref);
	case SECRET_NONE:
		break;
	}
	return NULL;
}

static inline const PgcObsSetting *find_setting(const PgcObsNode *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->n_settings; i++)
		if (o->settings[i].name != NULL && strcasecmp(o->settings[i].name, name) == 0)
			return &o->settings[i];
	return NULL;
}

static inline const char *conf_get(const PgcConfParam *p, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(p[i].name, name) == 0)
			return p[i].value;
	return NULL;
}

static inline const char *join_names(PgcArena *a, const char *list, const char *name)
{
	return list ? arena_printf(a, "%s, %s", list, name) : name;
}

/* ---- emitting actions ----------------------------------------------------- */

static inline PgcAction *emit(Ctx *x, PgcActionKind kind, const NodeWork *nw,
			      const char *target, PgcImpact impact, const char *reason)
{
	PgcAction *act = builder_emit(x->b, kind, x->c->name, nw ? nw->n->name : NULL, target,
				      impact, reason);

	if (nw != NULL && nw->n->data_dir.v != NULL)
		act->payload.path = nw->n->data_dir.v;
	return act;
}

static inline const char *remote_reason(Ctx *x, const NodeWork *nw)
{
	return arena_printf(x->a,
			    "node's host \"%s\" is not this machine; pgconverge can only configure it "
			    "through SQL",
			    nw->n->host.v);
}

/*
 * fs_action - an action on the node's files or processes (ACTION_NEEDS_HOST
 * in the registry): blocked on other machines, or delegated to their
 * agents (builder_delegate).
 */
static inline PgcAction *fs_action(Ctx *x, PgcActionKind kind, const NodeWork *nw,
				   const char *target, PgcImpact impact, const char *reason)
{
	PgcAction *act = emit(x, kind, nw, target, impact, reason);

	if (nw->remote && action_has(kind, ACTION_NEEDS_HOST))
		builder_delegate(x->b, act, remote_reason(x, nw));
	return act;
}

static inline void orphan(Ctx *x, const char *node, const char *kind, const char *name,
			  const char *message)
{
	builder_orphan(x->b, x->c->name, node, kind, name, message);
}

/* ---- analysis and phases (plan_settings.c) --------------------------------- */

bool plan_settings_needs_restart(Ctx *x, const char *name, const PgcObsSetting *row);
void plan_settings_analyze(Ctx *x, NodeWork *nw, const PgcConfParam *over, size_t n_over);
void plan_settings_phase(Ctx *x);

/* ---- actions per node (plan_node.c) ---------------------------------------- */

void plan_node_config(Ctx *x, NodeWork *nw);
void plan_node_hba(Ctx *x, NodeWork *nw);
void plan_node_passfile(Ctx *x, NodeWork *nw);
void plan_node_stream_check(Ctx *x, NodeWork *nw);
void plan_node_start(Ctx *x, NodeWork *nw, const char *reason);
const char *plan_node_slot(Ctx *x, NodeWork *nw);
void plan_node_kept_slots(Ctx *x, NodeWork *nw);
void plan_node_new(Ctx *x, NodeWork *nw);
void plan_node_blocked(Ctx *x, NodeWork *nw);
void plan_node_running(Ctx *x, NodeWork *nw);
void plan_node_restart(Ctx *x, NodeWork *nw);

/* ---- roles and databases (plan_roles.c) ------------------------------------- */

const PgcRole *plan_roles_declared(const PgcCluster *c, const char *name);
void plan_roles_repl(Ctx *x);
void plan_roles_and_databases(Ctx *x);

/* ---- orphans (plan_orphans.c) ------------------------------------------------ */

void plan_orphans_find(Ctx *x);

#endif
