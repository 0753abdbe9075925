/*
 * reconcile/ha/switchover.h - a planned, lossless move of the primary role.
 *
 * switchover_run() on the cluster as it is live (c's primary is the
 * current primary `from`; failover_topology() when it is not the file's):
 *   1. checks that the target streams from the primary and is caught up
 *      (replay lag at most catchup_bytes), waiting for it, bounded;
 *   2. CHECKPOINT on the old primary, so that its shutdown checkpoint is
 *      quick;
 *   3. stops the old primary cleanly (pg_ctl stop -m fast): from here on it
 *      refuses writes; its walsenders send the standbys every record,
 *      the shutdown checkpoint included, before it exits;
 *   4. waits until the target replayed that shutdown checkpoint (the old
 *      primary's pg_controldata "Latest checkpoint location" against the
 *      target's pg_last_wal_replay_lsn()): then the target holds every
 *      transaction the old primary ever acknowledged;
 *   5. promotes the target (promote.h: managed configuration with the new
 *      synchronous_standby_names first, pg_promote, slots, re-pointed
 *      replicas and cascades);
 *   6. restarts the old primary as a replica of the target (rejoin.h: no
 *      rewind after a clean shutdown before the fork point; pg_rewind when
 *      its timeline diverged);
 *   7. reports the write gap: from the old primary's stop to the first
 *      transaction committed on the new one.
 * A failure before the promotion rolls back: the target's files are
 * restored and the old primary is started again as the primary, so that
 * exactly one writable primary remains. After the promotion there is no
 * way back; later failures are reported and the new primary stays.
 */
#ifndef PGC_RECONCILE_HA_SWITCHOVER_H
#define PGC_RECONCILE_HA_SWITCHOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reconcile/ha/promote.h"
#include "reconcile/ha/rejoin.h"
#include "reconcile/transport/host.h"
#include "schema/topology.h"

typedef struct {
	int catchup_timeout_s;    /* 0: 60 */
	uint64_t catchup_bytes;   /* 0: 16 MB */
	int stop_timeout_s;       /* 0: 60 */
	int replay_timeout_s;     /* the shutdown checkpoint reaching the target; 0: 60 */
	int promote_timeout_s;    /* 0: 60 */
	int ready_timeout_s;      /* restarts and streaming; 0: 60 */
} PgcSwitchoverOptions;

typedef enum {
	SWITCHOVER_DONE,          /* the target is the primary */
	SWITCHOVER_REFUSED,       /* a check failed before anything was changed */
	SWITCHOVER_ROLLED_BACK,   /* failed before the promotion; the old primary runs again */
	SWITCHOVER_FAILED,        /* failed, and the rollback too, or none was safe (the target
	                           * may still promote: the old primary stays stopped): see the log */
} PgcSwitchoverOutcome;

typedef struct {
	PgcSwitchoverOutcome outcome;
	const char *step;         /* the step that failed, or NULL */
	uint64_t shutdown_checkpoint;
	double stopped_at_ms;     /* clock_ms() when the old primary began to stop */
	double promoted_at_ms;
	double writable_at_ms;    /* first commit on the new primary; 0 when none in time */
	double write_gap_ms;      /* writable_at_ms - stopped_at_ms; -1 unknown */
	double elapsed_ms;
	PgcPromoteResult promote;
	PgcRejoinResult old_primary;
	char error[512];          /* one line when not SWITCHOVER_DONE */
} PgcSwitchoverResult;

/*
 * switchover_run - moves the primary role of c from c's primary to node
 * `to`. Returns 0 when done (res->outcome SWITCHOVER_DONE, even if the old
 * primary could not rejoin: see res->old_primary), -1 otherwise (reported;
 * res->outcome says whether it was refused, rolled back or failed).
 */
int switchover_run(const PgcCluster *c, const char *to, const PgcSwitchoverOptions *opts,
		   PgcSwitchoverResult *res);

/*
 * The steps of switchover_run(), for the agents of a coordinated topology
 * (reconcile/coord/agent.h: each host's agent carries out its own node's
 * part, with the order kept in etcd).
 */

/* switchover_defaults - in (may be NULL) with every 0 replaced by its default. */
void switchover_defaults(PgcSwitchoverOptions *o, const PgcSwitchoverOptions *in);

/*
 * switchover_check - step 1, changing nothing: `from` answers as a primary,
 * `to` streams from it with a replay lag of at most o->catchup_bytes
 * (waited for, o->catchup_timeout_s). 0, or -1 with one line in err.
 */
int switchover_check(const PgcCluster *c, const PgcNode *from, const PgcNode *to,
		     const PgcSwitchoverOptions *o, char *err, size_t errlen);

/*
 * switchover_unpromoted - whether a target stopped with this pg_controldata
 * state cannot have promoted: "shut down in recovery" (a standby shut down
 * cleanly) or "in archive recovery" (a standby that crashed); never
 * "in production" nor "shut down". Pure.
 */
bool switchover_unpromoted(const char *state);

/*
 * switchover_unpromote_target - the promotion of `to` (on this machine) was
 * requested but not confirmed: stops it (fast), removes promote.signal and
 * reads its control file. Only when it stopped unpromoted
 * (switchover_unpromoted): its files back as the topology c says (a replica
 * of c's primary), started again as a replica, 0. Otherwise it may have
 * promoted: started again as it is, -1 (reported) - no rollback then.
 */
int switchover_unpromote_target(const PgcCluster *c, const PgcNode *to, int timeout_s);

/*
 * switchover_checkpoint - step 2: CHECKPOINT on `from`, bounded by
 * timeout_ms (a failure is only logged: the shutdown checkpoint does the rest).
 */
void switchover_checkpoint(const PgcCluster *c, const PgcNode *from, int timeout_ms);

/*
 * switchover_stop - step 3 on `from`'s host h: pg_ctl stop -m fast, then its
 * control file must say "shut down"; *checkpoint is its latest (shutdown)
 * checkpoint's location. 0, or -1 with one line in err (the server may
 * still run, or have stopped uncleanly).
 */
int switchover_stop(PgcHost *h, const PgcCluster *c, const PgcNode *from, int timeout_s,
		    uint64_t *checkpoint, char *err, size_t errlen);

/*
 * switchover_wait_replayed - step 4: n's replay position passes lsn (it
 * replayed the record at lsn), waited for up to timeout_s; *seen is the
 * last position read. 0, or -1 (err says why when a query failed).
 */
int switchover_wait_replayed(const PgcCluster *c, const PgcNode *n, uint64_t lsn, int timeout_s,
			     uint64_t *seen, char *err, size_t errlen);

/*
 * switchover_restore_target - the rollback's half on the target: its files
 * as c says (a replica of c's primary), reloaded when it runs. 0 / -1.
 */
int switchover_restore_target(const PgcCluster *c, const PgcNode *to);

/* switchover_in_recovery - 1 n is a standby, 0 it is not (or it is down), -1 unknown. */
int switchover_in_recovery(const PgcCluster *c, const PgcNode *n);

/* switchover_outcome_name - "done", "refused", "rolled-back", "failed". */
const char *switchover_outcome_name(PgcSwitchoverOutcome o);

#endif
