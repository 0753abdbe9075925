/*
 * reconcile/ha/auto_failover.h - automatic failover (failover.mode: auto)
 * between the passes of the reconcile loop.
 *
 * The loop keeps one PgcAutoFailover. After each pass it tells which
 * clusters to watch and which node the pass saw accepting writes
 * (auto_failover_after_pass); between passes it calls auto_failover_tick()
 * whenever auto_failover_next_probe_in() says a probe is due. A tick probes
 * each due primary (failover.probe_interval); failover_evaluate() applies
 * detect_after, the anti-flap interval (failover.min_interval, also read
 * from ha.json so that it holds across runs), the partition rule and the
 * fencing check. On HA_PROMOTE, under the state directory's lock: the old
 * primary is fenced, the cluster observed again, the best replica chosen
 * and promoted, ha.json updated and the event journalled with its timings
 * from the first failed probe. A second node accepting writes (an old
 * primary started by hand) makes a tick return true too, so that the next
 * pass runs at once and stops it.
 *
 * Before it decides, the components are asked (engine/failover_veto.h):
 * a vetoed promotion (e.g. the source cluster fenced after the region
 * failover of its standby cluster, or a standby leader still streaming
 * from another cluster) leaves the verdict blocked with the reason, logged
 * once per reason.
 *
 * Verdicts are logged when they change (a blocked one again every 10 s),
 * and reported in status.json (auto_failover_cluster_json,
 * auto_failover_status_update) and in Prometheus metrics
 * (auto_failover_metrics).
 *
 * The topology t given to each call is the caller's (the last one that
 * loaded), borrowed for the call only.
 */
#ifndef PGC_RECONCILE_HA_AUTO_FAILOVER_H
#define PGC_RECONCILE_HA_AUTO_FAILOVER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "reconcile/observe/observe.h"
#include "schema/topology.h"

typedef struct PgcAutoFailover PgcAutoFailover;

/*
 * auto_failover_new - no cluster watched yet. state_dir: the lock, ha.json
 * and the journal; only_cluster: watch that cluster only (NULL: all).
 * Both copied. Freed with auto_failover_free().
 */
PgcAutoFailover *auto_failover_new(const char *state_dir, const char *only_cluster);
void auto_failover_free(PgcAutoFailover *af);

/*
 * auto_failover_after_pass - after a pass that loaded t and observed obs:
 * the clusters to watch (those with replicas), and their live primary as
 * the pass last saw it (it answered then: a successful probe).
 */
void auto_failover_after_pass(PgcAutoFailover *af, const PgcTopology *t, const PgcObserved *obs);

/* auto_failover_next_probe_in - ms until a watched auto cluster of t is due a probe; -1 none. */
int64_t auto_failover_next_probe_in(const PgcAutoFailover *af, const PgcTopology *t);

/*
 * auto_failover_tick - the probes that are due, and a failover where one
 * is decided; stops between clusters once *stop is set. true when a pass
 * is due now: a cluster failed over, or a second primary appeared.
 */
bool auto_failover_tick(PgcAutoFailover *af, const PgcTopology *t,
			const volatile sig_atomic_t *stop);

/*
 * auto_failover_cluster_json - status.json's "ha" object of cluster c
 * (mode, live primary, verdict, last failover); NULL when c is not
 * watched. Caller owns the reference.
 */
json_t *auto_failover_cluster_json(const PgcAutoFailover *af, const PgcCluster *c);

/*
 * auto_failover_status_update - the "ha" objects of the clusters whose
 * verdict changed since the last call, set into clusters (status.json's
 * "clusters" object). true when one was set: the caller writes it.
 */
bool auto_failover_status_update(PgcAutoFailover *af, const PgcTopology *t, json_t *clusters);

/*
 * auto_failover_metrics - the watched clusters' failover state as
 * Prometheus metrics: pgconverge_failover_verdict and
 * pgconverge_failover_last_timestamp_seconds. Nothing when none is watched.
 */
void auto_failover_metrics(FILE *f, const PgcAutoFailover *af, const PgcTopology *t);

#endif
