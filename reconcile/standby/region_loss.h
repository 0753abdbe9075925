/*
 * reconcile/standby/region_loss.h - a standby cluster promoted because its
 * source's region is lost (`pgconverge failover --cluster X --force`), in
 * pure functions: the data-loss estimate shown before the promotion, and
 * the planner's rule afterwards.
 *
 * While the topology still says `X: standby_of: S`:
 *   - X, whose node takes writes, is never demoted (that would give up the
 *     writes taken since the promotion): its plan is one blocked action,
 *     CLUSTER/-/switchover, impact switchover, that no flag lifts, telling
 *     the operator to swap standby_of (S: standby_of X);
 *   - S, when it comes back, is fenced: each of its nodes that takes
 *     writes on an older timeline than X's writer is stopped and marked
 *     with standby.signal (CLUSTER/NODE/fence, ACT_FENCE, never blocked by
 *     policy: an old primary forked from the live one), each node down on
 *     this machine is marked with standby.signal (a start by hand brings
 *     it back read-only), nothing of S is started or changed, and a blocked
 *     CLUSTER/-/fence says why.
 * X counts as promoted when a node of X takes writes, no node of S streams
 * from X, and X's writer is on a newer timeline than every node of S (or
 * than S's writer; the same timeline on both writers counts as promoted
 * too: never demote a writer). It is a region failover (kin
 * REGION_FAILOVER, the fence above) only when the system identifiers are
 * known and equal on both sides and the timelines known: different system
 * identifiers (REGION_UNRELATED, whatever the timelines: a cluster that
 * takes writes of its own history was declared standby_of S) hold both
 * clusters with blocked actions saying they are unrelated, nothing
 * stopped; unknown ones, or S's timelines unknown (its nodes not observed:
 * a swapped file whose region switch waits looks the same),
 * REGION_UNKNOWN, hold both too, nothing fenced.
 * The rule stops as soon as the file says S is a standby of X (swapped):
 * X is then no standby cluster, and S a standby cluster whose source's node
 * streams from nowhere in S. It never applies while S's nodes stream from
 * X (a swap being carried out by the region switch), and it fences nothing
 * when timelines cannot be compared (nodes on other machines: timeline 0):
 * S is then only held with a blocked action.
 *
 * Memory: strings in the plan's (or the caller's) arena, or in obs.
 */
#ifndef PGC_RECONCILE_STANDBY_REGION_LOSS_H
#define PGC_RECONCILE_STANDBY_REGION_LOSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reconcile/engine/builder.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

/* ---- the data-loss estimate ------------------------------------------------ */

/* PgcLossInput - what is knowable of the standby leader L and of its lost source S. */
typedef struct {
	/* L now. */
	uint64_t leader_received;     /* max(pg_last_wal_receive_lsn(), replay): what L has; 0 unknown */
	uint64_t leader_replayed;     /* pg_last_wal_replay_lsn(); 0 unknown */
	bool receiver_row;            /* pg_stat_wal_receiver has a row with latest_end_lsn */
	uint64_t latest_end_lsn;      /* the source's end of WAL last reported to L */
	uint64_t flushed_lsn;         /* what L's receiver flushed */
	double latest_end_age_s;      /* now - latest_end_time; < 0 unknown */
	/* The last record of the chain (region_record_*: an apply or status saw both). */
	bool have_record;
	uint64_t rec_source_lsn;      /* S's primary's write position then */
	double rec_age_s;             /* how long ago */
	/* S's primary seen shut down cleanly: every node of S seen, none in production. */
	bool source_clean_shutdown;
	uint64_t source_checkpoint_lsn; /* its shutdown checkpoint */
} PgcLossInput;

typedef enum {
	LOSS_ZERO,        /* provably nothing lost: L replayed S's shutdown checkpoint */
	LOSS_ESTIMATED,   /* at least `bytes`, and S's writes of up to `seconds` */
	LOSS_UNKNOWN,     /* nothing to estimate from */
} PgcLossKind;

typedef struct {
	PgcLossKind kind;
	uint64_t bytes;       /* WAL that S had and L lacks, known at least (LOSS_ESTIMATED) */
	double seconds;       /* S's writes in this window may be missing too; < 0 unknown */
	char basis[256];      /* where the numbers come from, one clause */
} PgcLossEstimate;

/*
 * region_loss_estimate - the estimate from in. Zero only when provably
 * zero (S shut down cleanly and L replayed past its shutdown checkpoint);
 * else from L's WAL receiver while it has a row (bytes latest_end_lsn -
 * flushed_lsn, seconds since latest_end_time: S may have written more
 * since); else from the last record (bytes its S position - what L has now,
 * seconds since the record); else unknown. Pure.
 */
void region_loss_estimate(const PgcLossInput *in, PgcLossEstimate *out);

/* region_loss_text - the estimate in one sentence, in a. */
const char *region_loss_text(PgcArena *a, const PgcLossEstimate *e);

/* ---- the planner's rule ----------------------------------------------------- */

/* PgcRegionKin - what the writer on a declared standby cluster is, as far as can be told. */
typedef enum {
	REGION_FAILOVER,          /* same system identifier, timelines known: a region failover */
	REGION_UNRELATED,         /* different system identifiers: unrelated clusters */
	REGION_UNKNOWN,           /* system identifiers or timelines unknown: cannot tell */
} PgcRegionKin;

/* PgcRegionState - what the rule sees for one cluster. */
typedef struct {
	bool promoted;            /* c is declared standby_of S and takes writes (writer below) */
	bool fenced;              /* c is the source of such a cluster, by_cluster: held, and
	                           * fenced when kin is REGION_FAILOVER */
	PgcRegionKin kin;
	const char *unknown;      /* REGION_UNKNOWN: what is unknown ("timelines unknown", ...) */
	uint64_t sysid;           /* the promoted writer's system identifier, 0 unknown */
	uint64_t source_sysid;    /* the source's (a differing one when unrelated), 0 unknown */
	bool can_fence;           /* fenced, REGION_FAILOVER, and the timelines say c's writers are older */
	const char *writer;       /* promoted: c's node that takes writes */
	unsigned writer_tli;      /* its timeline, 0 unknown */
	const char *by_cluster;   /* fenced: the promoted standby cluster */
	const char *by_node;      /* its writer */
	unsigned by_tli;
	const char *other;        /* promoted: S's node that takes writes too, or NULL */
	unsigned other_tli;
} PgcRegionState;

/*
 * region_loss_state - the rule's view of cluster c of t in obs (NULL or
 * pretend: nothing, false). True when c is promoted or fenced. Pure.
 */
bool region_loss_state(const PgcTopology *t, const PgcObserved *obs, const PgcCluster *c,
		       PgcRegionState *st);

/*
 * plan_region_loss_cluster - when region_loss_state() holds for c, c's
 * whole plan (the actions above) and true: the caller plans nothing else
 * for c. False otherwise, nothing appended.
 */
bool plan_region_loss_cluster(PgcPlanBuilder *b, const PgcTopology *t, const PgcCluster *c,
			      const PgcObserved *obs);

#endif
