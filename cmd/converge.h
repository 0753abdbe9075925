/*
 * cmd/converge.h - what plan, apply and status share: load the topology,
 * observe, build a plan, and fill its source information.
 */
#ifndef PGC_CMD_CONVERGE_H
#define PGC_CMD_CONVERGE_H

#include "cmd/cmd.h"
#include "reconcile/observe.h"
#include "reconcile/plan.h"

/*
 * converge_load - loads and validates the topology named by opts, printing
 * the diagnostics; NULL when it has errors (the caller exits 1).
 */
PgcTopology *converge_load(const PgcOptions *opts);

/* converge_observe - observes the clusters opts selects; NULL on internal error. */
PgcObserved *converge_observe(const PgcOptions *opts, const PgcTopology *t);

/* converge_plan - plan_build with the policy from opts, source info filled. */
PgcPlan *converge_plan(const PgcOptions *opts, const PgcTopology *t, const PgcObserved *obs,
		       bool allow_restart, bool allow_switchover);

/* converge_print_plan - the plan on stdout in --format (text by default). */
void converge_print_plan(const PgcOptions *opts, const PgcPlan *p);

#endif
