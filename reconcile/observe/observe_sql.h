/*
 * reconcile/observe/observe_sql.h - the SQL probe: what a node's server
 * says through libpq: its state, settings, ALTER SYSTEM drift, pg_hba,
 * replication, slots, WAL receiver, roles (with their passwords checked
 * against the declared ones) and databases. Every connect and query is
 * bounded (pgsql.h).
 *
 * Trust: the node is "reachable" only when every query succeeded; when one
 * fails, conn_error says which.
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_SQL_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_SQL_H

#include "reconcile/observe/observe_probe.h"

/* observe_sql_probe - fills p->out's server fields and sets reachable. */
void observe_sql_probe(Probe *p);

#endif
