/*
 * reconcile/engine/frontdoor.h - what the HA flows tell the components that
 * stand in front of a cluster (PgBouncer, HAProxy, Pgpool-II: its "front
 * doors") when the primary moves, so that clients follow it.
 *
 * The HA flows (reconcile/ha/) call frontdoor_pause/_repoint/_resume at
 * fixed points of a switchover or failover; each declared front door
 * answers through its row of the table that reconcile/registry.c defines
 * (frontdoor_table(), declared here like action_def(): the engine and the
 * HA component include no front door's header).
 *
 *   switchover: pause(from, to)      before the old primary stops taking writes
 *               repoint(from, to)    once `to` is promoted (before its replicas are re-pointed)
 *               resume(from)         when the switchover is rolled back instead
 *   failover:   repoint(from, to)    once `to` is promoted (from is fenced or gone)
 *
 * Every hook is idempotent and bounded in time; a front door the cluster
 * does not declare is skipped. What a hook could not do is reported and
 * left to the next reconcile pass (which plans from the live primary).
 */
#ifndef PGC_RECONCILE_ENGINE_FRONTDOOR_H
#define PGC_RECONCILE_ENGINE_FRONTDOOR_H

#include <stddef.h>

#include "schema/topology.h"

typedef struct {
	const char *name; /* "pgbouncer", "haproxy", "pgpool" */
	/* declared - the cluster has this front door */
	bool (*declared)(const PgcCluster *c);
	/*
	 * pause - hold new work for the primary `from` (PgBouncer: PAUSE, which
	 * waits for transactions in flight; HAProxy: no new connection to
	 * `from`). 0 once held; -1 (reported) when it could not be held in its
	 * time bound: the switchover is then refused before anything stopped,
	 * and resume is called.
	 */
	int (*pause)(const PgcCluster *c, const char *from, const char *to);
	/*
	 * repoint - `to` is the primary of x now (x: the topology after the
	 * change): send writes there, close what is still bound to `from`,
	 * release what pause held. 0 done; -1 reported.
	 */
	int (*repoint)(const PgcCluster *x, const char *from, const char *to);
	/* resume - the switchover was rolled back: `from` is the primary again. */
	int (*resume)(const PgcCluster *c, const char *from);
} PgcFrontDoor;

/* frontdoor_table - the front doors, in the order they are told (registry.c). */
const PgcFrontDoor *frontdoor_table(size_t *n);

/*
 * frontdoor_pause - pause on every declared front door of c; on the first
 * failure, resumes those already paused and returns -1 (reported).
 */
int frontdoor_pause(const PgcCluster *c, const char *from, const char *to);

/* frontdoor_repoint - repoint every declared front door; -1 if one failed (reported, the others still told). */
int frontdoor_repoint(const PgcCluster *x, const char *from, const char *to);

/* frontdoor_resume - resume every declared front door; -1 if one failed (reported). */
int frontdoor_resume(const PgcCluster *c, const char *from);

#endif
