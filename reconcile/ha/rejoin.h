/*
 * reconcile/ha/rejoin.h - bringing a node back as a replica of the current
 * primary: an old primary after a failover or a switchover, or a replica
 * that received WAL the new primary never had.
 *
 * rejoin_node() works on the topology as it is live (failover_topology()
 * when the live primary is not the file's):
 *   1. a node found running as a primary is fenced at once (fence.h: stopped,
 *      killed if need be, standby.signal written); a running standby that
 *      streams from its upstream (within a few seconds) only gets its files
 *      rewritten (and a reload when they changed); any other running
 *      standby, or a server that does not answer, is stopped cleanly; then
 *      rejoin waits until a killed postmaster has been reaped (PostgreSQL
 *      takes a zombie's pid in postmaster.pid for a running server);
 *   2. CHECKPOINT on the primary (right after a promotion its control file
 *      still names the old timeline, and pg_rewind would wrongly find nothing
 *      to do), then the node's history is compared with the primary's
 *      timeline history: a node shut down cleanly before the fork point
 *      follows as it is; the WAL it holds past the fork point is measured
 *      with pg_waldump (what the rewind discards); a node that ran as a
 *      primary on the primary's own timeline cannot be rewound (step 3);
 *      otherwise
 *      `pg_rewind --target-pgdata DIR --source-server CONNINFO` runs as
 *      os_user (the superuser over the unix socket; a password only ever
 *      through PGPASSFILE in its environment);
 *   3. if pg_rewind fails, the data directory is renamed to
 *      DIR.diverged-YYYYMMDDTHHMMSSZ (never deleted) and, only when the
 *      policy allows impact rebuild, cloned again with pg_basebackup;
 *      otherwise the decision is returned for the plan to show;
 *   4. the managed files rendered from the topology (pg_rewind copied the
 *      primary's), standby.signal, the node's slot on its upstream, start,
 *      and a bounded wait until it streams.
 */
#ifndef PGC_RECONCILE_HA_REJOIN_H
#define PGC_RECONCILE_HA_REJOIN_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "reconcile/observe/observe.h"
#include "reconcile/transport/host.h"
#include "schema/topology.h"

typedef struct {
	bool allow_rebuild;       /* re-clone when pg_rewind cannot (impact rebuild) */
	bool allow_start;         /* start the node afterwards; default true when set by rejoin_defaults */
	int timeout_s;            /* pg_rewind, pg_basebackup; 0: 600 */
	int ready_timeout_s;      /* start, streaming; 0: 60 */
} PgcRejoinOptions;

typedef enum {
	REJOIN_FAILED,            /* see the log; nothing was deleted */
	REJOIN_FOLLOWING,         /* it already streamed (files refreshed) */
	REJOIN_FOLLOWED,          /* no divergence: restarted as a replica */
	REJOIN_REWOUND,           /* pg_rewind, then restarted as a replica */
	REJOIN_MOVED_ASIDE,       /* pg_rewind failed; data directory moved; a clone is needed */
	REJOIN_CLONED,            /* ... and cloned again (allow_rebuild) */
} PgcRejoinOutcome;

typedef struct {
	PgcRejoinOutcome outcome;
	bool was_primary;         /* it was found running as a primary and was fenced */
	unsigned node_timeline;   /* the node's timeline before the rejoin */
	unsigned primary_timeline;
	bool fork_known;
	uint64_t fork_lsn;        /* where its timeline left the primary's history */
	bool unreplicated_known;
	uint64_t unreplicated_bytes; /* WAL it held past the fork point (at least) */
	char moved_to[PATH_MAX];  /* REJOIN_MOVED_ASIDE, REJOIN_CLONED */
	char decision[PATH_MAX + 512]; /* one or two sentences for the plan and the journal */
	double elapsed_ms;
} PgcRejoinResult;

/* rejoin_defaults - allow_start true, the default timeouts, no rebuild. */
void rejoin_defaults(PgcRejoinOptions *o);

/*
 * rejoin_node - rejoins node `node` of x (whose primary is the live
 * primary) as described above. 0 when it streams again (or was moved
 * aside as decided: res->outcome REJOIN_MOVED_ASIDE returns 0 too, with
 * res->decision saying what is needed), -1 on failure (reported).
 */
int rejoin_node(const PgcCluster *x, const char *node, const PgcRejoinOptions *opts,
		PgcRejoinResult *res);

/*
 * rejoin_node_on - rejoin_node() with the node's host h (NULL: the node is
 * not on this machine, which is refused). Every file, program and process
 * of the node goes through h; SQL goes to the nodes' servers.
 */
int rejoin_node_on(PgcHost *h, const PgcCluster *x, const char *node,
		   const PgcRejoinOptions *opts, PgcRejoinResult *res);

/* rejoin_outcome_name - "failed", "following", "followed", "rewound", "moved-aside", "cloned". */
const char *rejoin_outcome_name(PgcRejoinOutcome o);

/*
 * rejoin_parse_history - the switch point of timeline tli in the content of
 * a timeline history file ("1\t0/3000148\tno recovery target specified"
 * lines). 0 with *lsn, or -1 when tli is not in it. Pure.
 */
int rejoin_parse_history(const char *history, unsigned tli, uint64_t *lsn);

/*
 * rejoin_needs_rewind - whether a node whose control file says
 * (state, timeline, checkpoint) can follow a primary on primary_tli whose
 * history puts the end of node_tli at fork (fork_known false: unknown).
 * It can when it is on the same timeline, or was shut down cleanly
 * ("shut down" or "shut down in recovery") with its last checkpoint
 * before the fork. Pure.
 */
bool rejoin_needs_rewind(const char *state, unsigned node_tli, uint64_t checkpoint,
			 unsigned primary_tli, bool fork_known, uint64_t fork);

/*
 * rejoin_found_primary - true when observed node o runs as a primary while
 * the live primary of the cluster is another node: it must be fenced and
 * rejoined at once. reason (owned by a) says what was seen. Pure.
 */
bool rejoin_found_primary(PgcArena *a, const PgcObsNode *o, const PgcObsNode *live_primary,
			  const char **reason);

#endif
