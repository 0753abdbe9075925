/*
 * cmd/reconcile_status.h - what the reconcile loop tells after each pass:
 * STATE_DIR/status.json (the outcome, the source, the actions still
 * pending or blocked and why, each cluster's maintenance window and HA
 * state, when the next pass runs, counters carried from run to run) and
 * STATE_DIR/pgconverge.prom, the same as Prometheus metrics for
 * node_exporter's textfile collector. Both are replaced atomically, and
 * only under the state lock (the caller holds it).
 */
#ifndef PGC_CMD_RECONCILE_STATUS_H
#define PGC_CMD_RECONCILE_STATUS_H

#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "cmd/converge.h"
#include "reconcile/ha/auto_failover.h"

#define RECONCILE_STATUS_FILE "status.json"
#define RECONCILE_METRICS_FILE "pgconverge.prom"

/* PgcPassOutcome - how a pass ended; reconcile_outcome_names[] has their names. */
typedef enum {
	OUT_CONVERGED,
	OUT_BLOCKED,
	OUT_FAILED,
	OUT_INTERRUPTED,
	OUT_LOCKED,
	OUT_COUNT
} PgcPassOutcome;

extern const char *const reconcile_outcome_names[OUT_COUNT];

/* PgcPass - what one pass did, for the log and the status files. */
typedef struct {
	long number;
	time_t started, finished;
	double duration_ms;
	PgcPassOutcome outcome;
	int rc;                      /* the exit code --once gives */
	char error[1024];
	const PgcTopology *t;        /* NULL when it did not load */
	PgcConvergeResult res;
	time_t next;                 /* next pass (wall clock); 0 with --once */
	const char *next_reason;
	time_t window_opens;         /* earliest window a blocked restart waits for; 0 none */
	json_t *coordination;        /* with coordination.etcd: the agent's state (status.json's
	                              * "coordination"), owned by the pass; NULL without */
} PgcPass;

/* PgcPassTotals - the counters status.json carries from run to run. */
typedef struct {
	json_int_t passes[OUT_COUNT];
	json_int_t actions;
	json_int_t consecutive_failures;
	char last_success[32];
	char last_converged[32];
} PgcPassTotals;

/* reconcile_totals_read - the counters of the status file at path; zero when there is none. */
void reconcile_totals_read(const char *path, PgcPassTotals *tot);

/*
 * reconcile_waits_for_window - the cluster of a blocked restart (or switchover) that
 * its maintenance window will let through, while the window is closed; NULL
 * otherwise (one blocked while the window is open is blocked for another
 * reason).
 */
const PgcCluster *reconcile_waits_for_window(const PgcTopology *t, const PgcAction *a, time_t now);

/* reconcile_status_file_write - status.json from j, atomically. 0 or -1 (reported). */
int reconcile_status_file_write(const PgcOptions *opts, json_t *j);

/*
 * reconcile_status_write - status.json and pgconverge.prom of pass ps,
 * each atomically; the status document replaces *doc (the caller's
 * reference), kept for the HA updates between passes. loop_started: when
 * the loop started; af and watched: the automatic failover state and the
 * topology it watches. 0 or -1 (reported).
 */
int reconcile_status_write(const PgcOptions *opts, time_t loop_started, const PgcAutoFailover *af,
			   const PgcTopology *watched, const PgcPass *ps, const PgcPassTotals *tot,
			   json_t **doc);

/*
 * reconcile_metrics_write - the pass's metrics as pgconverge.prom holds
 * them (outcome, duration, totals, pending and blocked actions, source,
 * maintenance windows), on f.
 */
void reconcile_metrics_write(FILE *f, const PgcOptions *opts, const PgcAutoFailover *af,
			     const PgcTopology *watched, const PgcPass *ps, const PgcPassTotals *tot);

#endif
