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
 * replication_drop_slot - ACT_DROP_SLOT: drops physical slot payload.target
 * once no walsender uses it (a re-pointed replica lets go of its old
 * upstream within moments), waiting up to ctx->ready_timeout_s. Absent:
 * nothing to do. A logical slot of that name, or one still in use at the
 * end of the wait, is a failure, with the user of the slot named.
 */
int replication_drop_slot(PgcExecCtx *ctx);
int replication_clone(PgcExecCtx *ctx);       /* ACT_CLONE */

#endif
