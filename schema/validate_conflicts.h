/*
 * schema/validate_conflicts.h - conflicts across the whole topology.
 *
 * Each check looks at every cluster of v->t at once; a clash is reported
 * at one of the two values (for ports and data directories the later one
 * in the file) and names the other. Problems are reported through
 * schema/validate_report.h.
 */
#ifndef PGC_SCHEMA_VALIDATE_CONFLICTS_H
#define PGC_SCHEMA_VALIDATE_CONFLICTS_H

#include "schema/validate_report.h"

/* validate_ports - two listeners (servers, pgbouncer, haproxy) that cannot both bind. */
void validate_ports(Val *v);

/* validate_data_dirs - data directories that are the same or nested on one machine. */
void validate_data_dirs(Val *v);

/* validate_repositories - backup repositories inside another one or inside a data directory. */
void validate_repositories(Val *v);

#endif
