/*
 * tests/integration/ha_driver.c - runs the HA engine's functions for
 * test_failover.sh where no command exposes them yet.
 *
 *   ha_driver switchover TOPOLOGY CLUSTER LIVE_PRIMARY TO [REPLAY_TIMEOUT_S]
 *       switchover_run() from LIVE_PRIMARY to TO; prints
 *       "outcome=O write_gap_ms=N shutdown_checkpoint=LSN step=S old_primary=R"
 *   ha_driver promote TOPOLOGY CLUSTER OLD NEW
 *       fence_node() on OLD (immediate, standby.signal), then promote_run()
 *       for NEW without rejoining OLD; prints "promoted=1 timeline=N"
 *   ha_driver rejoin TOPOLOGY CLUSTER LIVE_PRIMARY NODE
 *       rejoin_node(); prints "outcome=O was_primary=B unreplicated=N
 *       timelines=NODE/PRIMARY fork=LSN" (N is -1 and LSN "-" when unknown)
 *       and the decision on stderr
 *
 * LIVE_PRIMARY is the node that is the primary now; the topology file may
 * still name another (failover_topology()). Exits 0 when the function
 * returned 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/diag.h"
#include "common/log.h"
#include "reconcile/ha/failover.h"
#include "reconcile/ha/fence.h"
#include "reconcile/ha/promote.h"
#include "reconcile/ha/rejoin.h"
#include "reconcile/ha/switchover.h"
#include "schema/topology.h"
#include "reconcile/pg/lsn.h"

static int usage(void)
{
	fprintf(stderr, "usage: ha_driver switchover|promote|rejoin TOPOLOGY CLUSTER NODE NODE "
			"[REPLAY_TIMEOUT_S]\n");
	return 2;
}

int main(int argc, char **argv)
{
	PgcLoadOptions lopts = {0};
	PgcDiagList diags = {0};
	PgcArena *a = arena_new();
	PgcTopology *t;
	const PgcCluster *c;
	const PgcCluster *live;
	int rc = 1;

	if (argc < 6 || argc > 7)
		return usage();
	log_set_level(LOG_INFO);
	t = topology_load_file(argv[2], &lopts, &diags);
	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		return 1;
	}
	c = topology_cluster(t, argv[3]);
	if (c == NULL) {
		fprintf(stderr, "ha_driver: no cluster %s\n", argv[3]);
		return 1;
	}
	live = strcmp(argv[4], c->primary.v) == 0 ? c
						   : failover_topology(a, c, c->primary.v, argv[4]);

	if (strcmp(argv[1], "switchover") == 0) {
		PgcSwitchoverOptions so = {0};
		PgcSwitchoverResult sr;
		char lsn[32];

		if (argc == 7)
			so.replay_timeout_s = atoi(argv[6]);
		rc = switchover_run(live, argv[5], &so, &sr) == 0 ? 0 : 1;
		printf("outcome=%s write_gap_ms=%.0f shutdown_checkpoint=%s step=%s old_primary=%s\n",
		       switchover_outcome_name(sr.outcome), sr.write_gap_ms,
		       lsn_format(sr.shutdown_checkpoint, lsn, sizeof lsn),
		       sr.step ? sr.step : "-", rejoin_outcome_name(sr.old_primary.outcome));
	} else if (strcmp(argv[1], "promote") == 0) {
		PgcFenceOptions fo = {.graceful = false, .mark_standby = true};
		PgcFenceResult fr;
		PgcPromoteOptions po;
		PgcPromoteResult pr;

		if (fence_node(live, cluster_node(live, argv[4]), &fo, &fr) != 0)
			goto done;
		promote_defaults(&po);
		rc = promote_run(failover_topology(a, live, argv[4], argv[5]), argv[4], &po, &pr) == 0
			 ? 0
			 : 1;
		printf("promoted=%d timeline=%u\n", pr.promoted ? 1 : 0, pr.timeline);
	} else if (strcmp(argv[1], "rejoin") == 0) {
		PgcRejoinOptions ro;
		PgcRejoinResult rr;

		rejoin_defaults(&ro);
		rc = rejoin_node(live, argv[5], &ro, &rr) == 0 ? 0 : 1;
		char fork[32];

		printf("outcome=%s was_primary=%d unreplicated=%lld timelines=%u/%u fork=%s\n",
		       rejoin_outcome_name(rr.outcome), rr.was_primary ? 1 : 0,
		       rr.unreplicated_known ? (long long)rr.unreplicated_bytes : -1LL,
		       rr.node_timeline, rr.primary_timeline,
		       rr.fork_known ? lsn_format(rr.fork_lsn, fork, sizeof fork) : "-");
		fprintf(stderr, "decision: %s\n", rr.decision);
	} else {
		rc = usage();
	}
done:
	diag_free(&diags);
	topology_free(t);
	arena_free(a);
	return rc;
}
