/*
 * cmd/status.h - what `status` shares with the reconcile loop's /metrics.
 */
#ifndef PGC_CMD_STATUS_H
#define PGC_CMD_STATUS_H

#include <stdio.h>

#include "reconcile/engine/plan.h"
#include "reconcile/observe/observe.h"

/*
 * status_prometheus - the per-node families of `status --format prometheus`
 * (node up, role, timeline, pending actions, streaming, blocked actions)
 * and, for nodes observed with them, the monitoring figures
 * (observe_stats_metrics()), in the text exposition format on f.
 */
void status_prometheus(FILE *f, const PgcObserved *o, const PgcPlan *p);

#endif
