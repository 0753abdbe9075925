/*
 * schema/validate_standby.h - checks on a standby cluster (`standby_of`).
 *
 * Problems are reported through schema/validate_report.h.
 */
#ifndef PGC_SCHEMA_VALIDATE_STANDBY_H
#define PGC_SCHEMA_VALIDATE_STANDBY_H

#include "schema/validate_report.h"

/*
 * validate_standby - when c has standby_of: it names another declared
 * cluster; following standby_of from c never comes back to c; the source
 * runs the same major version; c has no bootstrap or initdb section (it is
 * a copy), no automatic failover (a promotion would fork it from its
 * source); its roles and databases are the source's, declared the same or
 * not at all, and it declares no replication user or password (it streams
 * with the source's); on every node, max_connections, max_worker_processes,
 * max_wal_senders, max_prepared_transactions and max_locks_per_transaction
 * are at least the largest among the source's nodes.
 */
void validate_standby(Val *v, PgcCluster *c);

#endif
