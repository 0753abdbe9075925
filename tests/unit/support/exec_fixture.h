/*
 * tests/unit/support/exec_fixture.h - what the executor tests share: a
 * topology from YAML text, and an executor context on a fake host
 * (fake_host.h) for one node, with or without a plan action.
 */
#ifndef PGC_TESTS_UNIT_SUPPORT_EXEC_FIXTURE_H
#define PGC_TESTS_UNIT_SUPPORT_EXEC_FIXTURE_H

#include "reconcile/engine/exec.h"
#include "schema/topology.h"

/* fixture_topology - yaml loaded offline; fails the test when it does not load. */
PgcTopology *fixture_topology(const char *yaml);

/*
 * fixture_ctx - a context for node `node` of the first cluster of t, on
 * host h (may be NULL), running action a (may be NULL: an HA flow).
 * Release with fixture_ctx_done() (it frees the arena, not the host).
 */
void fixture_ctx(PgcExecCtx *ctx, const PgcTopology *t, const char *node, PgcHost *h,
		 const PgcAction *a);
void fixture_ctx_done(PgcExecCtx *ctx);

#endif
