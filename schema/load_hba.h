/*
 * schema/load_hba.h - the loader's field function for a cluster's hba list.
 *
 * Internal to the loader: cluster_fields (schema/load.c) names it for the
 * "hba" key.
 */
#ifndef PGC_SCHEMA_LOAD_HBA_H
#define PGC_SCHEMA_LOAD_HBA_H

#include "schema/load_fields.h"

/*
 * load_fn_hba - hba: [{type, database, user, address, method, options}] into
 * the cluster at base (PgcCluster): type and method among pg_hba.conf's
 * words, an address for host rules and none for local ones, database, user
 * and options each exactly one pg_hba.conf field (refused with a hint on
 * how to quote it when not); database and user default to "all".
 */
void load_fn_hba(Ctx *c, Entry *e, const char *path, void *base);

#endif
