/*
 * reconcile/postgres/initdb.h - ACT_INITDB, and what a data directory holds.
 */
#ifndef PGC_RECONCILE_POSTGRES_INITDB_H
#define PGC_RECONCILE_POSTGRES_INITDB_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "reconcile/engine/exec.h"
#include "schema/topology.h"

/*
 * initdb_data_dir_kind - what is at a data directory on the context's host:
 * 0 absent, 1 empty, 2 a PostgreSQL data directory (PG_VERSION and
 * global/pg_control), 3 something else (foreign); -1 error (reported).
 */
int initdb_data_dir_kind(PgcExecCtx *ctx, const char *dir);

/*
 * initdb_data_dir_usable - initdb_data_dir_kind() for an action about to
 * fill dir: 0, 1 or 2 as there; -1 (reported) when dir could not be looked
 * at or holds something else, refusing to `doing` it ("initialise", "copy
 * into").
 */
int initdb_data_dir_usable(PgcExecCtx *ctx, const char *dir, const char *doing);

int initdb_run(PgcExecCtx *ctx); /* ACT_INITDB */

#endif
