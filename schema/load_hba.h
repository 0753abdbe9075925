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
 * fn_hba - hba: [{type, database, user, address, method, options}] into
 * the cluster at base (PgcCluster), defaults filled (database and user
 * "all"); database, user and options checked to be one pg_hba.conf field
 * each, and refused with a hint telling how to quote them when not.
 */
void fn_hba(Ctx *c, Entry *e, const char *path, void *base);

#endif
