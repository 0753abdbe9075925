/*
 * reconcile/haproxy/plan_haproxy.h - the pure planning of a cluster's
 * HAProxy (balancer.haproxy). Called by plan_build() (reconcile/planner.c)
 * at the end of a cluster's actions, with the live cluster: writes go to
 * the primary that runs now, also after a failover the file does not know.
 *
 * Actions, with their ids (at most one per cluster):
 *
 *   CLUSTER/-/haproxy-start    ACT_HAPROXY_START, impact none: no live
 *                              HAProxy (no pidfile, or its pid is gone):
 *                              haproxy.cfg written, HAProxy started
 *   CLUSTER/-/haproxy-reload   ACT_HAPROXY_RELOAD, impact reload: the
 *                              structure HAProxy loaded (the digest `show
 *                              info` prints) is not the rendered one, or its
 *                              runtime API does not answer: the file
 *                              rewritten, the master-worker reloaded
 *                              gracefully (established connections stay)
 *   CLUSTER/-/haproxy-servers  ACT_HAPROXY_SERVERS, impact none: the same
 *                              structure, but server states differ (a primary
 *                              that moved, a replica that left or joined the
 *                              reads: one change "BACKEND/SERVER" from -> to
 *                              each), or only the file differs: the file
 *                              rewritten, the states set through the runtime
 *                              API (payload.params)
 *
 * A replica serves reads when it streams within max_lag; a replica that
 * this plan clones or starts counts as in (HAProxy's health check holds
 * traffic until it listens; the next pass looks again). Converged (the
 * loaded digest, every server's state and the file as rendered): nothing.
 * When HAProxy's host is not this machine, the action is blocked.
 */
#ifndef PGC_RECONCILE_HAPROXY_PLAN_HAPROXY_H
#define PGC_RECONCILE_HAPROXY_PLAN_HAPROXY_H

#include "reconcile/engine/builder.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

/* plan_haproxy_cluster - c's HAProxy actions (c: the live cluster); obs NULL: offline. */
void plan_haproxy_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObserved *obs);

#endif
