/*
 * schema/validate_roles.h - checks on a cluster's roles and databases.
 *
 * Both need v->roles to map the cluster's role names to their index (set
 * up by the caller, validate.c, for the cluster being checked). Problems
 * are reported through schema/validate_report.h.
 */
#ifndef PGC_SCHEMA_VALIDATE_ROLES_H
#define PGC_SCHEMA_VALIDATE_ROLES_H

#include "schema/validate_report.h"

/*
 * validate_roles - names (reserved prefixes, predefined roles of the
 * cluster's major version), membership in known roles, membership cycles.
 */
void validate_roles(Val *v, PgcCluster *c);

/* validate_databases - each database's owner is a declared or bootstrap role. */
void validate_databases(Val *v, PgcCluster *c);

#endif
