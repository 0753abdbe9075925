/*
 * tests/unit/support/exec_fixture.c - topologies and executor contexts for tests (exec_fixture.h).
 */
#include "support/exec_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/diag.h"
#include "schema/topology.h"

PgcTopology *fixture_topology(const char *yaml)
{
	PgcLoadOptions lo = {.offline = true};
	PgcDiagList diags = {0};
	PgcTopology *t = topology_load_buffer(yaml, strlen(yaml), "t.yaml", &lo, &diags);

	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	return t;
}

void fixture_ctx(PgcExecCtx *ctx, const PgcTopology *t, const char *node, PgcHost *h,
		 const PgcAction *a)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->t = t;
	ctx->c = &t->clusters[0];
	ctx->n = cluster_node(ctx->c, node);
	ctx->a = a;
	ctx->state_dir = "/nonexistent/state";
	ctx->action_timeout_s = 5;
	ctx->ready_timeout_s = 1;
	ctx->host = h;
	ctx->arena = arena_new();
	assert_non_null(ctx->n);
}

void fixture_ctx_done(PgcExecCtx *ctx)
{
	arena_free(ctx->arena);
}
