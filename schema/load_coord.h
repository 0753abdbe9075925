/*
 * schema/load_coord.h - the loader's field function for the top-level
 * coordination section.
 *
 * Internal to the loader: load_top (schema/load.c) names it for the
 * "coordination" key.
 */
#ifndef PGC_SCHEMA_LOAD_COORD_H
#define PGC_SCHEMA_LOAD_COORD_H

#include "schema/load_fields.h"

/*
 * load_fn_coordination - coordination: {etcd: {endpoints, prefix, ttl, user,
 * password, ca_file, cert_file, key_file}} into the topology at base
 * (PgcTopology.etcd, set when declared), with the defaults of PgcEtcd
 * (prefix "/pgconverge", ttl 10s) and its rules: endpoints required, each
 * http://HOST:PORT or https://HOST:PORT without a path, all of one scheme;
 * prefix "/..." without a trailing "/"; ttl from 2s to 60s; user and
 * password together; cert_file and key_file together; TLS files only with
 * https endpoints. Paths are resolved against the topology's folder.
 */
void load_fn_coordination(Ctx *c, Entry *e, const char *path, void *base);

#endif
