/*
 * reconcile/pg/layout.h - where pgconverge puts things around a server.
 */
#ifndef PGC_RECONCILE_PG_LAYOUT_H
#define PGC_RECONCILE_PG_LAYOUT_H

/* Where servers put their unix sockets; pgconverge connects through them. */
#define PGC_SOCKET_DIR "/var/run/postgresql"
/* The include file pgconverge owns inside each data directory. */
#define PGC_MANAGED_CONF "pgconverge.conf"
/* The replication password file lives beside each replica's data directory:
 * see plan_passfile_path(). */

#endif
