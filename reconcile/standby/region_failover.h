/*
 * reconcile/standby/region_failover.h - promoting a standby cluster whose
 * source's region is lost (`pgconverge failover --cluster X [--force]`),
 * the record of the chain it estimates the loss from, and the fence
 * executor of the source when it returns (region_loss.h has the pure
 * parts: the estimate and the planner's rule).
 *
 * The failover, with the state lock held by the caller:
 *   1. refuses, even with force, when any node of the source S answers
 *      (S can fail over within its region, or a region switch - swap
 *      standby_of, apply --allow-switchover - loses nothing), or, for a
 *      chain, a node of a cluster further up takes writes (X can follow
 *      it): a promotion would make a second writer;
 *   2. estimates what X's standby leader L may lack (region_loss_estimate)
 *      from L's WAL receiver, the last record, and S's control files when
 *      they are on this machine; refuses unless the estimate is zero or
 *      force is set;
 *   3. promotes L (promote_node: the promotion replays every complete
 *      record L has; no wait before it, as a WAL receiver cut off by a
 *      partition says 'streaming' until wal_receiver_timeout), checkpoints
 *      (so that its control file shows the new timeline, which the fence
 *      rule compares), and waits, bounded, for X's other nodes to stream
 *      from it again (they cascade from L and follow its new timeline by
 *      themselves: nothing is rewritten);
 *   4. journals the event ("region-failover"). S's nodes are not touched:
 *      its region is gone; when it returns, apply fences it.
 *
 * The record: STATE_DIR/standby.json, one entry per standby cluster, from
 * every apply, reconcile pass and status that saw both the source's
 * writable primary and the standby leader: the source's write position and
 * the leader's, and when.
 */
#ifndef PGC_RECONCILE_STANDBY_REGION_FAILOVER_H
#define PGC_RECONCILE_STANDBY_REGION_FAILOVER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/arena.h"
#include "reconcile/engine/exec.h"
#include "reconcile/ha/failover_manual.h"
#include "reconcile/observe/observe.h"
#include "reconcile/standby/region_loss.h"
#include "schema/topology.h"

/* The record's file name in the state directory. */
#define REGION_RECORD_FILE "standby.json"

/* PgcRegionRecord - the last view of a standby cluster's chain. Strings in the reader's arena. */
typedef struct {
	bool found;
	const char *source;           /* the source cluster */
	const char *source_node;      /* its primary then */
	uint64_t source_lsn;          /* its write position then */
	uint64_t leader_received;     /* the standby leader's receive position then */
	const char *seen_at;          /* ISO 8601 UTC */
	int64_t seen_at_unix_ms;
} PgcRegionRecord;

/*
 * region_record_save - for each standby cluster of t whose standby leader
 * (in recovery) and source's writable primary are in obs, its entry of
 * STATE_DIR/standby.json (written atomically, 0600; other entries kept).
 * Write errors are reported as warnings and ignored: the record only makes
 * a later estimate better.
 */
void region_record_save(const char *state_dir, const PgcTopology *t, const PgcObserved *obs);

/* region_record_read - cluster's entry; out->found false when there is none (or it is unreadable). */
void region_record_read(PgcArena *a, const char *state_dir, const char *cluster, PgcRegionRecord *out);

/*
 * region_detached_set - records in STATE_DIR/standby.json that cluster was
 * detached from its source `from` by this machine's apply (from NULL: the
 * entry is removed, as a region failover of cluster does). The fence
 * refuses to act for a cluster recorded as detached: a commit that puts its
 * standby_of back looks like a region failover to the planner (same system
 * identifier, a newer timeline) but its source never went away. Write
 * errors are warnings.
 */
void region_detached_set(const char *state_dir, const char *cluster, const char *from);

/* region_detached_from - the source cluster was detached from (in a), or NULL when not recorded. */
const char *region_detached_from(PgcArena *a, const char *state_dir, const char *cluster);

/* PgcRegionFailover - one run's input. The caller frees obs. */
typedef struct {
	const char *state_dir;
	const PgcTopology *t;
	const PgcCluster *c;          /* the standby cluster to promote */
	PgcObserved *obs;             /* c and its sources, observed before anything is done */
	bool force;                   /* promote although the estimate is not zero */
	json_t *event;                /* the journal event, "run" and "cluster" set */
	double t0;                    /* clock_ms() at the start */
} PgcRegionFailover;

/* PgcRegionFailoverResult - what happened, for the caller's summary. */
typedef struct {
	bool nothing_to_do;           /* the leader already takes writes */
	const char *leader;
	const char *source;
	PgcLossEstimate estimate;
	const char *estimate_text;
	uint64_t switch_lsn;
	unsigned timeline;
	double promoted_ms;           /* from t0 */
	size_t n_others;              /* the cluster's other nodes */
	size_t streaming;             /* of those, streaming from the leader afterwards */
} PgcRegionFailoverResult;

/*
 * region_failover - steps 1 to 4 above. 0 when the leader was promoted (or
 * already was: out->nothing_to_do); -1 when refused or failed, told
 * through rep->refused (rep->candidates is not used).
 */
int region_failover(PgcArena *a, PgcRegionFailover *in, const PgcFailoverReporter *rep,
		    PgcRegionFailoverResult *out);

/* region_estimate_json - e as the journal event's "estimate": kind, bytes, seconds, basis. */
json_t *region_estimate_json(const PgcLossEstimate *e);

/*
 * region_fence_run - ACT_FENCE's executor: fence_node_on() the node (a
 * fast shutdown if it runs, then immediate, then SIGKILL; standby.signal
 * written), or failover.fence_command for a node on another machine.
 * Already down and marked: nothing to do.
 */
int region_fence_run(PgcExecCtx *ctx);

#endif
