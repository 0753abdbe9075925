/*
 * reconcile/standby/standby_status.h - what `status` says of a standby
 * cluster: its chain of sources and the cross-region lag of its standby
 * leader. Pure: reads the topology and the observed model.
 */
#ifndef PGC_RECONCILE_STANDBY_STANDBY_STATUS_H
#define PGC_RECONCILE_STANDBY_STANDBY_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

typedef struct {
	const char *chain;        /* "eu -> us" from the primary cluster down, in a's arena */
	const char *source;       /* standby_of */
	const char *upstream;     /* the source's node the leader streams from now, or NULL */
	bool lag_known;
	uint64_t lag_bytes;       /* the source's position (its primary's write position, or
	                           * for a source that is itself a standby, its leader's replay
	                           * position) minus the leader's replay position */
	double lag_seconds;       /* the leader's replay delay; < 0 unknown */
} PgcStandbyStatus;

/*
 * standby_status - false when c is no standby cluster; else fills st from
 * obs (NULL: only the chain and source are known).
 */
bool standby_status(PgcArena *a, const PgcTopology *t, const PgcObserved *obs, const PgcCluster *c,
		    PgcStandbyStatus *st);

#endif
