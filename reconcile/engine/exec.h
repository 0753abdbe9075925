/*
 * reconcile/engine/exec.h - the context every executor runs with, and the
 * helpers they share. Apply (engine/apply.h) builds one context per action
 * and passes it to the executor of the action's kind (engine/action.h);
 * HA flows that run several steps build their own.
 *
 * Every executor checks before it acts, so that running it again after it
 * succeeded (or after a run was killed half way) does no harm. It returns
 * 0 or -1; on failure it has reported the error (log_error) and left a
 * one-line summary in ctx->error for the journal.
 */
#ifndef PGC_RECONCILE_ENGINE_EXEC_H
#define PGC_RECONCILE_ENGINE_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "common/arena.h"
#include "reconcile/engine/plan.h"
#include "reconcile/transport/host.h"
#include "schema/topology.h"

#define APPLY_DEFAULT_ACTION_TIMEOUT_S 600
#define APPLY_DEFAULT_READY_TIMEOUT_S 60

typedef struct {
	const PgcTopology *t;
	const PgcCluster *c;
	const PgcNode *n; /* the action's node; NULL for cluster-wide actions */
	const PgcAction *a;
	const char *state_dir; /* apply's state directory (its journal); never NULL */
	int action_timeout_s; /* defaults filled in */
	int ready_timeout_s;
	PgcHost *host;	    /* the node's host; NULL when not on this machine */
	PgcArena *arena;    /* freed after the action */
	char error[512];    /* first failure's summary, for the journal */
	bool nothing_to_do; /* the check found the action already done */
} PgcExecCtx;

/*
 * exec_fail - reports a failure with log_error() and keeps its first line
 * as the journal's error (unless one is already kept). Returns -1.
 */
int exec_fail(PgcExecCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* exec_note - keeps a summary for the journal of a failure already reported. Returns -1. */
int exec_note(PgcExecCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * exec_need_host - 0 when ctx->host is set; a reported failure (-1) when
 * the node is not on this machine. exec_need_host_for - the same for a step
 * named id, for callers that run an executor without an action (ctx->a
 * NULL: the HA flows).
 */
int exec_need_host(PgcExecCtx *ctx);
int exec_need_host_for(PgcExecCtx *ctx, const char *id);

/*
 * exec_connect - a connection to node n of the context's cluster (local:
 * unix socket as the superuser; otherwise TCP to its host) in dbname (NULL:
 * postgres), with synchronous_commit local. NULL on failure, reported.
 */
PGconn *exec_connect(PgcExecCtx *ctx, const PgcNode *n, const char *dbname);

/* exec_parent_dir - the folder of path ("/" for a top-level path), in arena. */
const char *exec_parent_dir(PgcArena *arena, const char *path);

/* exec_node_label - "cluster/node" in ctx->arena. */
const char *exec_node_label(PgcExecCtx *ctx, const PgcNode *n);

/*
 * exec_payload_argv - the action's payload.params as a NULL-terminated argv
 * in ctx->arena, after checking that the program is bin_dir's `program`
 * (a saved plan names no other). NULL when there is no action or its payload
 * has no argv (the caller then builds it) or, with *bad set, when the check
 * failed (reported).
 */
const char **exec_payload_argv(PgcExecCtx *ctx, const char *program, bool *bad);

#endif
