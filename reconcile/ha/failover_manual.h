/*
 * reconcile/ha/failover_manual.h - a failover by hand (`pgconverge
 * failover`): the primary to replace is found from the live servers (the
 * one that accepts writes, or the one the replicas stream from), the
 * candidate chosen with the checks of automatic failover (failover_choose,
 * --to), the primary fenced (a fast shutdown when it is healthy, so that
 * its replicas receive all of its WAL), the candidate chosen again from the
 * positions once it is fenced, promoted, the other replicas repointed and
 * the old primary rejoined when it is on this machine. The event and its
 * timings go to the journal, the new primary and the time to ha.json.
 *
 * Refusals are told as they happen, through the caller's reporter, so that
 * the caller prints them among the log lines in their order; the outcome
 * of a failover that happened is returned for the caller to print.
 */
#ifndef PGC_RECONCILE_HA_FAILOVER_MANUAL_H
#define PGC_RECONCILE_HA_FAILOVER_MANUAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/arena.h"
#include "reconcile/ha/failover.h"
#include "reconcile/ha/ha.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

/* PgcFailoverReporter - where failover_manual() tells why it refuses or stops. */
typedef struct {
	/* refused - one refusal or failure, with a hint for the user (or NULL). */
	void (*refused)(void *ctx, const char *hint, const char *message);
	/* candidates - the replicas considered and why each was or was not eligible. */
	void (*candidates)(void *ctx, const PgcChoice *ch);
	void *ctx;
} PgcFailoverReporter;

/* PgcManualFailover - one run's input; obs_after is set by the run. The caller frees both observations. */
typedef struct {
	const char *state_dir;
	const PgcTopology *t;         /* observed again once the primary is fenced */
	const PgcCluster *c;          /* the cluster, as in the file */
	const char *to;               /* --to NODE; NULL: the best candidate */
	PgcObserved *obs;             /* the observation of c before anything is done */
	PgcObserved *obs_after;       /* the observation once fenced; NULL before */
	PgcHaCache cache;             /* c's entry of ha.json as read */
	double t0;                    /* clock_ms() at the start: the timings count from it */
	const char *t0_iso;           /* the same as ISO 8601 UTC, and in ms since the epoch */
	int64_t t0_unix_ms;
	json_t *event;                /* the journal event, "run" and "cluster" set */
} PgcManualFailover;

/* PgcManualFailoverResult - what happened, for the caller's summary. Strings in the run's arena. */
typedef struct {
	bool nothing_to_do;           /* --to names the primary, which answers */
	const char *old;              /* the primary replaced */
	const char *chosen;           /* the replica promoted */
	const char *reason;           /* why it was chosen */
	const char *fence_detail;     /* how the old primary was fenced */
	uint64_t switch_lsn;
	unsigned timeline;
	double detected_ms, fenced_ms, promoted_ms, first_write_ms; /* from t0; -1: none */
	bool wrote;                   /* a write succeeded on the new primary within the bound */
	int write_timeout_s;          /* that bound */
	size_t repointed, repoint_failed;
	bool rejoin_old;              /* the old primary is on this machine: a rejoin was tried */
	const char *rejoin;           /* what became of it */
} PgcManualFailoverResult;

/*
 * failover_manual - the failover of in->c, with the state lock held by the
 * caller. 0 when a replica was promoted, or when there was nothing to do
 * (out->nothing_to_do); -1 when refused or failed (told through rep, or by
 * fencing itself), with the journal saying so once it had started.
 */
int failover_manual(PgcArena *a, PgcManualFailover *in, const PgcFailoverReporter *rep,
		    PgcManualFailoverResult *out);

#endif
