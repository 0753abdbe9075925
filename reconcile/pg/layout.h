/*
 * reconcile/pg/layout.h - where pgconverge puts things around a server.
 */
#ifndef PGC_RECONCILE_PG_LAYOUT_H
#define PGC_RECONCILE_PG_LAYOUT_H

/* Where servers put their unix sockets; pgconverge connects through them. */
#define PGC_SOCKET_DIR "/var/run/postgresql"
/* The include file pgconverge owns inside each data directory. */
#define PGC_MANAGED_CONF "pgconverge.conf"

#include "common/arena.h"

/*
 * plan_passfile_path - where a replica's replication password lives:
 * "<parent>/.<name>.pgconverge.pgpass" beside its data directory, never
 * inside it (pg_basebackup and pg_rewind would copy it around).
 */
const char *plan_passfile_path(PgcArena *arena, const char *data_dir);

#endif
