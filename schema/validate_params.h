/*
 * schema/validate_params.h - a cluster's PostgreSQL parameters.
 *
 * Problems are reported through schema/validate_report.h.
 */
#ifndef PGC_SCHEMA_VALIDATE_PARAMS_H
#define PGC_SCHEMA_VALIDATE_PARAMS_H

#include "schema/validate_report.h"

/*
 * validate_parameters - the cluster's major version has a parameter
 * catalog; every setting (cluster and node) is a known parameter with a
 * valid value and not one pgconverge writes itself; the effective values
 * on each node pass the checks PostgreSQL does at start-up (wal_level with
 * WAL senders and slots, reserved connections, standby minimums against
 * primary, which may be NULL).
 */
void validate_parameters(Val *v, PgcCluster *c, const PgcNode *primary);

/*
 * validate_standby_minimums - the parameters a hot standby must have at
 * least as large as its primary's are, on every node of standby cluster c,
 * at least the largest value among the nodes of its source src (any of
 * them may be the source's primary).
 */
void validate_standby_minimums(Val *v, PgcCluster *c, const PgcCluster *src);

#endif
