/*
 * reconcile/haproxy/haproxy_status.h - a cluster's HAProxy for `status`:
 * up or down, its ports, and where each listener sends clients now (the
 * servers its runtime API has ready, with their sessions).
 */
#ifndef PGC_RECONCILE_HAPROXY_HAPROXY_STATUS_H
#define PGC_RECONCILE_HAPROXY_HAPROXY_STATUS_H

#include <stdio.h>

#include <jansson.h>

#include "reconcile/observe/observe_haproxy.h"
#include "schema/topology.h"

/* haproxy_status_text - a few indented lines; nothing when c declares no HAProxy. */
void haproxy_status_text(FILE *out, const PgcCluster *c, const PgcObsHaproxy *oh);

/*
 * haproxy_status_json - {up, pid, worker_pid, sessions, digest, digest_rendered,
 * write: {address, port, to: [...]}, read: {..., backup: [...]}, stats: {...}};
 * "to" lists {node, up, sessions}. NULL when c declares no HAProxy.
 */
json_t *haproxy_status_json(const PgcCluster *c, const PgcObsHaproxy *oh);

#endif
