/*
 * reconcile/observe/observe_files.h - the files probe: what a node's data
 * directory holds, read through its host (local hosts only): its state
 * (PgcDirState), PG_VERSION, pg_controldata, the managed configuration
 * files, the signal files, the postmaster and the replication passfile.
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_FILES_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_FILES_H

#include "reconcile/observe/observe_probe.h"
#include "reconcile/transport/host.h"

/*
 * observe_files_probe - fills p->out's data-directory fields from host h.
 * Problems are part of the model (dir_state, dir_error) or logged; never
 * fatal.
 */
void observe_files_probe(Probe *p, PgcHost *h);

#endif
