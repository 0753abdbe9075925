/*
 * reconcile/ha/promote.h - promoting a standby and making the cluster follow
 * it, once the old primary is fenced (fence.h) or stopped cleanly.
 *
 * promote_run() works on x, the topology after the change
 * (failover_topology(): x's primary is the node to promote):
 *   1. waits, bounded, until the candidate has replayed every complete
 *      record it will ever get (promote_replay_settled() below); its replay
 *      position then is the promotion point (switch_lsn);
 *   2. writes the candidate's managed configuration as a primary (no
 *      primary_conninfo; synchronous_standby_names listing its replicas,
 *      so the first transactions it acknowledges are already on a
 *      standby) and reloads it;
 *   3. creates the old primary's slot on the candidate while it is still a
 *      standby (it reserves WAL from the candidate's last restartpoint: the
 *      checkpoint after the promotion then keeps the old timeline's
 *      segments the old primary replays after pg_rewind), then
 *      SELECT pg_promote(wait => true, wait_seconds => N);
 *   4. creates the replication slots of its replicas on it, then re-points
 *      every other replica: its managed file rendered from x (and its
 *      passfile), written through host_write_file, then pg_reload_conf().
 *      A replica that may hold a record past the promotion point cannot
 *      follow and is rejoined with pg_rewind (rejoin.h) instead: one that
 *      replayed past it, or received WAL past it. Received WAL up to the
 *      candidate's receive position holds no complete record the candidate
 *      lacked (the same stream, and the candidate replayed every complete
 *      record of it), so a replica whose WAL receiver is gone (its
 *      position final) and that received no more than the candidate
 *      follows as it is, an incomplete last record and all;
 *   5. optionally rejoins the old primary (rejoin.h);
 *   6. measures when the first write commits on the new primary (with
 *      synchronous replication: once a synchronous standby streams from
 *      it) and waits, bounded, for the re-pointed replicas to stream.
 * Every step is safe to repeat: a second run finds the node promoted and
 * the files written.
 */
#ifndef PGC_RECONCILE_HA_PROMOTE_H
#define PGC_RECONCILE_HA_PROMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reconcile/ha/rejoin.h"
#include "schema/topology.h"

typedef struct {
	int replay_timeout_s;     /* 0: 60 */
	int promote_timeout_s;    /* pg_promote's wait_seconds; 0: 60 */
	int write_timeout_s;      /* first write; 0: 30 */
	int stream_timeout_s;     /* re-pointed replicas streaming; 0: 30 */
	bool rejoin_old;          /* rejoin the old primary as a replica afterwards */
	bool local_only;          /* re-point only the replicas on this machine: each host's
	                           * agent re-points its own (reconcile/coord/) */
	PgcRejoinOptions rejoin;  /* for the old primary and replicas that diverged */
} PgcPromoteOptions;

typedef struct {
	bool promoted;
	bool requested;           /* pg_promote may have been sent: even when promoted is false,
	                           * the candidate may still promote (promote.signal stays) */
	uint64_t received_lsn;    /* the candidate's receive position then, >= switch_lsn */
	double replayed_at_ms;    /* CLOCK_MONOTONIC ms (clock_ms) of each step's end */
	double promoted_at_ms;
	double writable_at_ms;    /* 0 when no write committed in time */
	uint64_t switch_lsn;      /* replay position of the candidate when promoted */
	unsigned timeline;        /* its new timeline */
	char write_error[600];    /* why no write committed, when writable_at_ms is 0 */
	size_t repointed;         /* replicas that follow the new primary */
	size_t repoint_failed;    /* replicas left behind (reported) */
	bool frontdoor_failed;    /* a front door (pooler, balancer) was not re-pointed (reported) */
	bool old_rejoined;
	PgcRejoinResult old_rejoin; /* when rejoin_old */
} PgcPromoteResult;

/* promote_defaults - the default timeouts, rejoin_old false. */
void promote_defaults(PgcPromoteOptions *o);

/*
 * promote_run - steps 1 to 6 for x's primary; old_primary (may be NULL) is
 * neither re-pointed nor promoted. Returns 0 once the candidate is a primary
 * (later steps that fail are reported and counted in res, not fatal), -1
 * when it was not promoted (reported).
 */
int promote_run(const PgcCluster *x, const char *old_primary, const PgcPromoteOptions *opts,
		PgcPromoteResult *res);

/*
 * When the candidate's replay is final. The WAL a standby received
 * (pg_last_wal_receive_lsn()) can end inside a record whose rest the dead
 * primary never sent: the walsender sends in page-aligned chunks, and the
 * WAL writer flushes whole pages of a record still being written. That
 * record is never complete, never replayed, and discarded by the
 * promotion, which replays every complete record the standby has. So
 * "replay reached the receive position" may never come; the rule is:
 *   - not in recovery (promoted already): final;
 *   - replay at or past the receive position: final (a clean stop: every
 *     record is complete);
 *   - the WAL receiver streams (pg_stat_wal_receiver.status 'streaming':
 *     its upstream is alive and may send the rest), or replay is not idle
 *     (promote_replay_busy()): not final, the wait runs on to its bound;
 *   - otherwise, no WAL receiver streams and the startup process waits for
 *     WAL to arrive: final once nothing (receive and replay positions,
 *     receiver state, idle or not) changed for PROMOTE_SETTLE_MS; the WAL
 *     past the replay position is an incomplete record.
 * The replay position is then the promotion point. One idle wait can still
 * come early: a WAL receiver that stops within wal_retrieve_retry_interval
 * of an earlier failure can make the startup process sleep out the rest of that
 * interval before it reads what the receiver flushed last. The promotion
 * still replays the rest: switch_lsn is then below the real fork, which
 * can only make a replica rewind that did not need to. Candidates are still
 * compared by max(received, replayed) (failover.h): two standbys of one
 * stream that received up to A <= B hold complete records up to A' <= B',
 * so the most received is never behind in complete records.
 */
#define PROMOTE_SETTLE_MS 1000

/* PgcWalSample - one poll of a standby. */
typedef struct {
	bool in_recovery;
	bool has_received;        /* pg_last_wal_receive_lsn() is not NULL */
	uint64_t received;
	uint64_t replayed;        /* pg_last_wal_replay_lsn(), 0 unknown */
	bool streaming;           /* a WAL receiver in state 'streaming' */
	bool paused;              /* pg_is_wal_replay_paused() */
	char wait_type[32];       /* the startup process's wait_event_type, "" none */
	char wait_event[64];      /* its wait_event, "" none (working, or not seen) */
} PgcWalSample;

/*
 * promote_replay_busy - replay in x is not idle: paused, or the startup
 * process does anything but wait for WAL to arrive. Idle is a list, not
 * its complement, because every other wait can hold back a complete record
 * that is there: BufferPin and Lock (a query's pin or lock, for up to
 * max_standby_streaming_delay), RecoveryConflict*, RecoveryApplyDelay,
 * RecoveryPause, IO (reading WAL or data files), RestoreCommand (the
 * archive may have more), and no wait event at all (replaying a record).
 * The idle waits, named as in PostgreSQL 14 and later: Activity
 * RecoveryWalStream (waiting for the WAL receiver to flush more) and
 * Timeout RecoveryRetrieveRetryInterval (no source had more; sleeping
 * wal_retrieve_retry_interval before trying pg_wal, the archive and
 * streaming again). Pure.
 */
bool promote_replay_busy(const PgcWalSample *x);

/* PgcReplaySettle - what promote_replay_settled() remembers; zero it to start. */
typedef struct {
	PgcWalSample last;
	double since_ms;          /* when the sample last changed */
	unsigned n_samples;
} PgcReplaySettle;

/*
 * promote_replay_settled - feeds the sample x taken at now_ms (clock_ms());
 * true when the replay position in x is final by the rule above. Pure.
 */
bool promote_replay_settled(PgcReplaySettle *s, const PgcWalSample *x, double now_ms);

/*
 * promote_wait_replayed - polls node n until promote_replay_settled();
 * *lsn is its replay position then, *received max(receive, replay)
 * position. 0, or -1 after timeout_s (reported: paused, waiting on what,
 * still streaming, or still replaying, with both positions).
 */
int promote_wait_replayed(const PgcCluster *c, const PgcNode *n, int timeout_s, uint64_t *lsn,
			  uint64_t *received);

/*
 * promote_node - pg_promote(wait => true, wait_seconds => timeout_s) on n;
 * 0 also when n is already out of recovery. -1 (reported) otherwise.
 */
int promote_node(const PgcCluster *c, const PgcNode *n, int timeout_s);

/*
 * promote_repoint - makes every standby of x other than x's primary and
 * skip follow its upstream in x (step 4 above); switch_lsn and received_lsn
 * as in PgcPromoteResult (0: no rewind decision). ok/failed count them.
 * local_only: replicas on other hosts are left alone (not counted).
 * Returns 0 when all did, -1 when one could not (reported).
 */
int promote_repoint(const PgcCluster *x, const char *skip, uint64_t switch_lsn,
		    uint64_t received_lsn, const PgcRejoinOptions *rejoin, bool local_only,
		    size_t *ok, size_t *failed);

/* promote_timeline - the timeline n writes on now (from its current WAL file name); 0 unknown. */
unsigned promote_timeline(const PgcCluster *c, const PgcNode *n);

#endif
