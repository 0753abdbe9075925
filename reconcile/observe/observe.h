/*
 * reconcile/observe/observe.h - the observed state: what is live, per node.
 *
 * observe_cluster() probes every node of a cluster in parallel (filesystem
 * through the node's host, SQL through libpq's non-blocking API with bounded
 * timeouts), so one dead or slow node never stalls the others. The result
 * is plain data: the planner (plan.h) is a pure function of the topology and
 * this model, and unit tests build it by hand. It serialises to JSON for
 * `status --format json` and for saved-plan fingerprints.
 *
 * Memory: everything belongs to the PgcObserved's arena; observe_free().
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_H

#include <jansson.h>

#include "reconcile/observe/observe_model.h"
#include "schema/topology.h"

/*
 * observe_topology - observes every cluster (or only_cluster) of t; with
 * only_cluster a standby cluster, the nodes of its standby_of chain too
 * (PgcObserved.sources). Returns NULL only on an internal error (reported);
 * nodes that cannot be reached are described as such, which is not an
 * error.
 */
PgcObserved *observe_topology(const PgcTopology *t, const PgcObserveOptions *opts);
void observe_free(PgcObserved *o);

/* observe_to_json - the whole observed model; caller owns the reference. */
json_t *observe_to_json(const PgcObserved *o);

/*
 * observe_fingerprint - "<system identifier>:<timeline>:<sha256 hex of
 * managed_conf, one NUL byte, hba_conf>" of a node (a NULL file counts as
 * empty): the part of the observed state that a saved plan is bound to;
 * owned by o. observe_node_fingerprint - the same, owned by a (the plan's).
 */
const char *observe_fingerprint(PgcObserved *o, const PgcObsNode *n);
const char *observe_node_fingerprint(PgcArena *a, const PgcObsNode *n);

/*
 * The probe's parsers and checks (pg_controldata, postgresql.conf includes,
 * history files, postmaster.pid, password verifiers, conninfo) are in
 * observe_parse.h.
 */

#endif
