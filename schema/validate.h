/*
 * schema/validate.h - semantic checks on a loaded topology.
 *
 * The loader (schema/load.c) checks structure and types; what needs the
 * whole model at once is checked here: references between sections,
 * replication and role cycles, resources two nodes would fight over (ports,
 * data directories, repositories), policies, secrets, and PostgreSQL
 * parameters against the catalog of the cluster's major version. The checks
 * live in validate.c (nodes, replication, policies, access rules, secrets,
 * backup), validate_roles.c, validate_params.c and validate_conflicts.c.
 */
#ifndef PGC_SCHEMA_VALIDATE_H
#define PGC_SCHEMA_VALIDATE_H

#include "common/diag.h"
#include "schema/topology.h"

/*
 * topology_validate - semantic checks on a loaded topology: references,
 * cycles, conflicts, policies, secrets, parameters (schema/validate.c).
 * Called by topology_load_*; exposed for tests. Every problem goes to
 * diags (nothing stops at the first); the caller sorts the list. The only
 * writes to the model are the parsed maintenance window (days_mask,
 * start_min, end_min, tz).
 */
void topology_validate(PgcTopology *t, const PgcLoadOptions *opts, PgcDiagList *diags);

#endif
