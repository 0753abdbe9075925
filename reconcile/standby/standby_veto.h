/*
 * reconcile/standby/standby_veto.h - the standby component's row of the
 * failover veto (engine/failover_veto.h): the HA flows must not promote a
 * replica of a cluster whose role the standby rules hold elsewhere.
 *
 * A promotion in cluster c is vetoed when
 *   1. c is fenced by the region-loss rule (region_loss.h): its standby
 *      cluster X was promoted by a region failover and takes writes;
 *      promoting a node of c would make a second writable cluster;
 *   2. a node of c is a standby leader: it answers in recovery and streams
 *      from a node outside c (a region switch pending: the file says some
 *      S has standby_of: c, and c's leader still streams from S; or a
 *      detach pending: c lost its standby_of and its leader still streams
 *      from its old source). Its other nodes cascade from it: promoting one
 *      would fork c, and the automatic failover would stop the leader;
 *   3. a region switch is pending and c's leader is not seen at all: a
 *      cluster S declared standby_of: c still takes writes on a timeline no
 *      older than any of c's (unknown timelines count as such): c never
 *      took over from S, so a node of c promoted now would be a second
 *      writable cluster.
 * A detach pending with c's leader down is not seen (c's old source is in
 * no observation of c): the other nodes of c may then be promoted.
 */
#ifndef PGC_RECONCILE_STANDBY_STANDBY_VETO_H
#define PGC_RECONCILE_STANDBY_STANDBY_VETO_H

#include "common/arena.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

/* standby_failover_veto - the reason (in a) why no replica of c may be promoted, or NULL. Pure. */
const char *standby_failover_veto(PgcArena *a, const PgcTopology *t, const PgcObserved *obs,
				  const PgcCluster *c);

#endif
