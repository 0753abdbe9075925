/*
 * reconcile/ha/failover.h - deciding a failover: which replica to promote, and
 * when. Pure functions of the topology, the observed state, what was last
 * seen of the primary and the probe history: no I/O, no clock (times come
 * in as arguments), so every rule is unit-tested on hand-built states.
 *
 * Candidate choice (failover_choose), in this order:
 *   1. a candidate is a standby of the cluster that pgconverge can reach,
 *      with the cluster's system identifier;
 *   2. with synchronous replication, only a standby that was synchronous is
 *      eligible: sync_state "sync" or "quorum" in the primary's
 *      pg_stat_replication when it was last seen, or, when the primary was
 *      never seen, a standby listed in its synchronous_standby_names (its
 *      direct replicas in the topology). Every acknowledged commit is on at
 *      least `count` of those m standbys, so at least m - count + 1 of them
 *      must be compared, or one that is missing might be the only holder of
 *      a commit: then nobody is promoted;
 *   3. then the highest WAL position (received, or replayed when higher);
 *   4. then a node in failover.prefer_region;
 *   5. then declaration order in the topology.
 *   A candidate more than failover.max_lag behind the last known primary
 *   position is not promoted. With check_partition, nobody is promoted while
 *   a replica's WAL receiver still got a message from the primary within
 *   detect_after: the primary is alive and only pgconverge lost it.
 *
 * The failover loop (failover_evaluate) turns consecutive probe results
 * into healthy / suspect / promote X / blocked because Y.
 *
 * Memory: strings in results belong to the arena passed in.
 */
#ifndef PGC_RECONCILE_HA_FAILOVER_H
#define PGC_RECONCILE_HA_FAILOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "reconcile/pg/lsn.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

/* Anti-flap interval when the caller gives none (failover.min_interval). */
#define FAILOVER_DEFAULT_MIN_INTERVAL_MS (5 * 60 * 1000)
/* Failed probes in a row before a primary can be declared failed. */
#define FAILOVER_MIN_FAILED_PROBES 2

/*
 * PgcPrimaryView - what was last seen of a primary: the replicas that
 * streamed from it (its pg_stat_replication) and its WAL position. Taken
 * from the current observation when the primary answers, from the state
 * directory's cache (ha.h) otherwise. primary NULL: nothing is known.
 */
typedef struct {
	const char *primary;          /* node name */
	const char *seen_at;          /* ISO 8601 UTC, for messages */
	const char *current_lsn;      /* pg_current_wal_lsn() then, or NULL */
	unsigned timeline;
	const PgcObsReplica *replicas;
	size_t n_replicas;
} PgcPrimaryView;

/*
 * failover_view_from_observed - the view of node `primary` in obs when it
 * was reached and is not in recovery; view->primary is NULL otherwise.
 * Points into obs.
 */
void failover_view_from_observed(const PgcObserved *obs, const char *cluster, const char *primary,
				 PgcPrimaryView *view);

/*
 * failover_live_primary - the one node of cluster that answers and is not
 * in recovery in obs; NULL when none does, or several (a split brain).
 * Points into obs.
 */
const char *failover_live_primary(const PgcObserved *obs, const char *cluster);

typedef struct {
	const char *to;               /* only this node may be chosen (--to); NULL: any */
	bool check_partition;         /* apply the partition rule */
	/*
	 * The primary still runs and is about to be stopped cleanly, which
	 * sends every standby all of its WAL: positions are not final yet, so
	 * the --to node is not compared with the best candidate (choose again
	 * once it is stopped).
	 */
	bool primary_stopping;
} PgcChooseOptions;

typedef struct {
	const char *node;
	bool eligible;
	const char *why_not;          /* one phrase when not eligible, else NULL */
	bool has_position;
	uint64_t position;            /* max(received, replayed) */
	bool was_sync;                /* counted among the synchronous standbys */
	bool in_preferred_region;
	uint64_t lag_bytes;           /* behind the last known primary position */
} PgcCandidate;

typedef struct {
	const char *primary;          /* the node being replaced */
	const char *chosen;           /* the node to promote, NULL when none */
	const char *reason;           /* one sentence: why this node, or why none */
	PgcCandidate *candidates;     /* every other node, in declaration order */
	size_t n_candidates;
	bool primary_position_known;
	uint64_t primary_position;    /* the highest WAL position known to exist */
	bool partition;               /* refused by the partition rule */
	bool sync_declared;           /* synchronous standbys taken from the topology, not seen */
} PgcChoice;

/*
 * failover_choose - the candidate to promote in place of `primary`, by the
 * rules above. Returns 0 with out->chosen set, or -1 with out->chosen NULL
 * and out->reason saying why nobody can be promoted (per-candidate reasons
 * in out->candidates). last may be NULL. Never fails otherwise.
 */
int failover_choose(PgcArena *a, const PgcCluster *c, const PgcObserved *obs, const char *primary,
		    const PgcPrimaryView *last, const PgcChooseOptions *opts, PgcChoice *out);

/* ---- the automatic failover loop ---------------------------------------- */

/*
 * PgcProbeState - the probe history of one cluster's primary, kept by the
 * caller between passes and updated with failover_probe_record(). Times
 * are milliseconds on one clock of the caller's choice (monotonic in the
 * loop); -1 means never.
 */
typedef struct {
	const char *primary;          /* the node probed; a new one resets the history */
	int failures;                 /* consecutive failed probes */
	int64_t first_failure_ms;
	int64_t last_success_ms;
	int64_t last_probe_ms;
	char last_error[256];
	int64_t last_failover_ms;     /* when this cluster last failed over */
} PgcProbeState;

/* failover_probe_init - an empty history (no probe, no failover yet). */
void failover_probe_init(PgcProbeState *st);

/*
 * failover_probe_record - adds one probe of node `primary` (connection and
 * query, each bounded by a timeout): ok, or failed with error. A probe of
 * another node than the previous ones starts a new history (the failover
 * time is kept).
 */
void failover_probe_record(PgcProbeState *st, const char *primary, int64_t now_ms, bool ok,
			   const char *error);

typedef enum {
	HA_HEALTHY,   /* the last probe succeeded */
	HA_SUSPECT,   /* probes fail, not for detect_after yet */
	HA_PROMOTE,   /* failed: promote decision.candidate now */
	HA_BLOCKED,   /* failed, but no promotion: decision.reason says why */
} PgcHaVerdict;

typedef struct {
	PgcHaVerdict verdict;
	const char *candidate;        /* HA_PROMOTE */
	const char *reason;           /* one sentence, for the log and `status` */
	PgcChoice choice;             /* the candidate choice, when one was made */
	int64_t failed_for_ms;        /* how long the primary has failed its probes */
} PgcHaDecision;

typedef struct {
	int64_t now_ms;
	int64_t min_interval_ms;      /* 0: FAILOVER_DEFAULT_MIN_INTERVAL_MS */
	/*
	 * Coordinated agents (reconcile/coord/) decide for nodes on other hosts.
	 * fenced_elsewhere: the primary cannot take writes whatever happens here
	 * (its own agent keeps it stopped, or its lease expired, which a primary
	 * cut off from etcd and its replicas outlives only stopped): the fencing
	 * check is skipped. confirmed_down: its own agent saw no postmaster for
	 * its data directory, which counts as "confirmed down" below.
	 */
	bool fenced_elsewhere;
	bool confirmed_down;
} PgcEvaluateOptions;

/*
 * failover_evaluate - the decision for one cluster after a probe.
 *   healthy  the last probe succeeded;
 *   suspect  failures for less than detect_after, or fewer than
 *            FAILOVER_MIN_FAILED_PROBES in a row (failed time counts from
 *            the last successful probe);
 *   blocked  failover.mode is not auto; or a failover happened less than
 *            min_interval ago and the primary is not confirmed down (a local
 *            data directory with no live postmaster, or opts->confirmed_down);
 *            or the primary cannot be fenced (not on this machine and no
 *            failover.fence_command), unless opts->fenced_elsewhere;
 *            or failover_choose() with the partition rule chose nobody;
 *   promote  otherwise.
 * obs is the latest observation of the cluster; last as in failover_choose.
 */
void failover_evaluate(PgcArena *a, const PgcCluster *c, const PgcObserved *obs,
		       const PgcPrimaryView *last, const PgcProbeState *st,
		       const PgcEvaluateOptions *opts, PgcHaDecision *out);

/* failover_verdict_name - "healthy", "suspect", "promote", "blocked". */
const char *failover_verdict_name(PgcHaVerdict v);

/*
 * failover_fence_refusal - why node n (observed as o, may be NULL) cannot be
 * fenced before a promotion, or NULL when it can: a node on this machine
 * can be stopped or killed; another needs failover.fence_command. Owned by a.
 */
const char *failover_fence_refusal(PgcArena *a, const PgcCluster *c, const PgcNode *n,
				   const PgcObsNode *o);

/*
 * failover_topology - a copy of c in which new_primary is the primary and
 * every node that replicated from old_primary by name (replicate_from)
 * follows the new primary; old_primary itself becomes a replica of
 * new_primary. Node order and everything else are kept, so
 * plan_managed_conf() of the copy renders the nodes' files after the
 * change. Shallow: strings are shared with c; the arrays are in a.
 */
PgcCluster *failover_topology(PgcArena *a, const PgcCluster *c, const char *old_primary,
			      const char *new_primary);

#endif
