/*
 * reconcile/ha/failover_run.h - the steps that a failover by hand
 * (failover_manual.h) and automatic failover (auto_failover.h) share around
 * failover_choose(), fence_node() and promote_run(): finding the primary to
 * replace from the live servers, the observation after fencing, the views
 * of the primaries kept in ha.json, the failover's journal event, ha.json's
 * record of it, and starting a fenced primary again when nothing replaced
 * it.
 */
#ifndef PGC_RECONCILE_HA_FAILOVER_RUN_H
#define PGC_RECONCILE_HA_FAILOVER_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/arena.h"
#include "reconcile/ha/fence.h"
#include "reconcile/ha/ha.h"
#include "reconcile/ha/promote.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

/* PgcFoundPrimary - the primary a failover replaces (failover_find_primary). */
typedef struct {
	const char *old;          /* its name; NULL when ambiguous */
	bool alive;               /* it answered as a primary */
	size_t n_writable;        /* > 1: ambiguous */
	const char *writable;     /* with n_writable > 1: '"a" (timeline 2), "b" (timeline 3)' */
} PgcFoundPrimary;

/*
 * failover_find_primary - the primary of cluster c to replace, from obs
 * (which holds c only): the one node that accepts writes; else the node
 * most reachable standbys stream (or try to stream) from; else the cached
 * primary of ha.json (cache may be NULL); else the file's primary. Returns
 * 0, or -1 when several nodes accept writes (out->writable lists them, for
 * the caller's message). Strings in a or obs.
 */
int failover_find_primary(PgcArena *a, const PgcCluster *c, const PgcObserved *obs,
			  const PgcHaCache *cache, PgcFoundPrimary *out);

/*
 * failover_restart_old - a fast-stopped healthy primary (fr->clean) that
 * nobody replaced starts again: its standby.signal removed (when fencing
 * wrote it) and pg_ctl start, on this machine only. Logs the outcome.
 */
void failover_restart_old(const PgcCluster *live, const char *old, const PgcFenceResult *fr);

/*
 * failover_observe - cluster of t observed afresh, with the short bounds a
 * failover wants (3 s to connect, 5 s a query); NULL on an internal error
 * (reported). observe_free().
 */
PgcObserved *failover_observe(const PgcTopology *t, const char *cluster);

/*
 * failover_save_views - per cluster of obs (t's) with replicas and exactly
 * one node that accepts writes: what failover needs once that primary is
 * gone (ha.h), saved into STATE_DIR/ha.json: who streamed from it and how,
 * and its WAL position. A cluster without exactly one writable node keeps
 * what was last cached.
 */
void failover_save_views(const char *state_dir, const PgcTopology *t, const PgcObserved *obs);

/*
 * failover_last_view - what the primary old looked like, for the choice of
 * a candidate: now, from obs, when it answers (then also saved into
 * ha.json over cache, the cluster's entry as read); else cache's view when
 * it is old's; view->primary NULL when neither. Points into obs or cache.
 */
void failover_last_view(const char *state_dir, const char *cluster, const PgcObserved *obs,
			const char *old, const PgcHaCache *cache, PgcPrimaryView *view);

/* failover_event_ms - a duration in ms for the journal, rounded; null when negative. */
json_t *failover_event_ms(double ms);

/*
 * failover_event_begin - the failover's fields of its journal event ev:
 * node (the candidate), action ("CLUSTER/NODE/failover"), kind, impact,
 * old_primary, mode ("auto" or "manual").
 */
void failover_event_begin(PgcArena *a, json_t *ev, const char *cluster, const char *node,
			  const char *old, const char *mode);

/* failover_event_fence - ev's "fence": the method, its detail, clean or not. */
void failover_event_fence(json_t *ev, const PgcFenceResult *fr);

/*
 * failover_event_promoted - ev's outcome fields once promoted: timings_ms
 * (detected, fenced, promoted, first_write: ms, negative for none), then
 * timings_from when not NULL, switch_lsn, timeline, the replicas that
 * follow and those left, and old_primary_rejoin (outcome "not-local" when
 * rejoin_old is false; decision as given).
 */
void failover_event_promoted(json_t *ev, const double timings[4], const char *timings_from,
			     const PgcPromoteResult *pr, bool rejoin_old, const char *decision);

/*
 * failover_record - ha.json's entry of cluster after a failover from old to
 * new_primary at at_iso (at_unix_ms): the new primary, and when, for the
 * anti-flap interval of every later run. base: the entry as read before
 * (its other fields kept). Write errors are reported and ignored.
 */
void failover_record(const char *state_dir, const char *cluster, const PgcHaCache *base,
		     const char *old, const char *new_primary, const char *at_iso,
		     int64_t at_unix_ms);

#endif
