/*
 * reconcile/postgres/replication.h - physical slots and replica clones
 * (pg_basebackup).
 */
#ifndef PGC_RECONCILE_POSTGRES_REPLICATION_H
#define PGC_RECONCILE_POSTGRES_REPLICATION_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "reconcile/engine/exec.h"
#include "schema/topology.h"

int replication_create_slot(PgcExecCtx *ctx); /* ACT_CREATE_SLOT */

/*
 * replication_create_slot_node - physical slot `slot` on ctx->n unless it
 * exists, created with sql (and its params) or, sql NULL, with
 * pg_create_physical_replication_slot(slot, true). ACT_CREATE_SLOT and the
 * HA flows (ha.h) call it. 0 / -1 (reported).
 */
int replication_create_slot_node(PgcExecCtx *ctx, const char *slot, const char *sql,
				 size_t n_params, const char **sql_params);
/*
 * replication_drop_slot - ACT_DROP_SLOT: drops physical slot payload.target
 * once no walsender uses it (a re-pointed replica lets go of its old
 * upstream within moments), waiting up to ctx->ready_timeout_s. Absent:
 * nothing to do. A logical slot of that name, or one still in use at the
 * end of the wait, is a failure, with the user of the slot named.
 */
int replication_drop_slot(PgcExecCtx *ctx);
int replication_clone(PgcExecCtx *ctx);       /* ACT_CLONE */

/*
 * replication_clone_node - copies ctx->n from upstream (NULL: its upstream
 * in the cluster) with pg_basebackup, the replication password named by
 * secret (NULL or SECRET_NONE: replication.password) reaching it through
 * the replica's passfile; see replication.c for the steps and interrupted
 * copies. ctx->host must be set. pg_basebackup's argv is the plan's when
 * ctx->a is an ACT_CLONE action (checked by exec_payload_argv()), the
 * default otherwise (ctx->a NULL: the HA flows). 0 / -1 (reported).
 */
int replication_clone_node(PgcExecCtx *ctx, const char *upstream, const PgcSecret *secret);

#endif
