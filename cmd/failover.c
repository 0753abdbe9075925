/*
 * cmd/failover.c - `pgconverge failover`: a manual promotion, with the same
 * fencing and checks as automatic failover. The steps are
 * reconcile/ha/failover_manual.c; this file prints what they refuse and
 * what they did.
 */
#include "cmd/cmd.h"

#include <inttypes.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cmd/converge.h"
#include "cmd/exitcodes.h"
#include "common/clock.h"
#include "common/lock.h"
#include "common/strutil.h"
#include "reconcile/engine/failover_veto.h"
#include "reconcile/ha/failover.h"
#include "reconcile/ha/failover_manual.h"
#include "reconcile/ha/ha.h"
#include "reconcile/pg/lsn.h"
#include "reconcile/standby/region_failover.h"

static const PgcOptionHelp failover_option_help[] = {
	{"to", NULL, "promote NODE (default: the best candidate, see above)"},
	{"force", NULL, "with a standby cluster: promote its leader although it may lack some of the "
			"lost source's writes (the estimate is shown first)"},
	{NULL, NULL, NULL},
};

const PgcCommandSpec failover_spec = {
	.usage = "failover " USAGE_SOURCE USAGE_NEWLINE
		 "--cluster NAME [--to NODE] [--force] [--state-dir DIR]",
	.description =
		"Promotes a replica now, with the checks and fencing of automatic failover. The\n"
		"current primary is found from the live servers (the one that accepts writes, or\n"
		"the one the replicas stream from). It is fenced first: stopped when it runs on\n"
		"this machine (fast shutdown when it is healthy, so its replicas receive all of its\n"
		"WAL; immediate, then SIGKILL when it is wedged) and marked with standby.signal so\n"
		"that it cannot come back as a primary; failover.fence_command otherwise. Without\n"
		"a way to fence it, nothing is promoted.\n"
		"\n"
		"The candidate is the replica with the most WAL, preferring failover.prefer_region,\n"
		"then the order of the nodes in the file. With synchronous replication only a\n"
		"replica that was synchronous may be promoted, and enough of them must answer to be\n"
		"sure that no acknowledged transaction is lost. A replica further than\n"
		"failover.max_lag behind the last known primary position is never promoted. With\n"
		"--to, that node is promoted if it passes the same checks (and, with synchronous\n"
		"replication, has received as much WAL as the best candidate).\n"
		"\n"
		"The candidate replays every complete record it received (an incomplete last\n"
		"record from a primary that died is discarded), is promoted, the other replicas\n"
		"follow it (slots created first), and the old primary, when it is on this machine,\n"
		"is rejoined as a replica (with pg_rewind when its history diverged; a data\n"
		"directory pg_rewind cannot fix is moved aside, never deleted). The event and its\n"
		"timings go to the journal. Afterwards the plan follows the new primary and shows\n"
		"a blocked switchover back to the file's 'primary:': set 'primary:' to the new\n"
		"primary, or apply with --allow-switchover to switch back.\n"
		"\n"
		"To move the primary while it is healthy without losing a transaction, change\n"
		"'primary:' in the topology and apply with --allow-switchover instead.\n"
		"\n"
		"With coordination.etcd, failover is refused: the cluster's leader agent decides\n"
		"it, and a promotion from here would race its decision.\n"
		"\n"
		"A promotion the standby rules forbid is refused, here as in automatic failover:\n"
		"in a source cluster fenced after the region failover of its standby cluster, or\n"
		"in a cluster whose standby leader still streams from another cluster (a region\n"
		"switch, or a removed standby_of, that apply has not carried out yet).\n"
		"\n"
		"A standby cluster (standby_of: SOURCE) is promoted when SOURCE's region is lost:\n"
		"refused, even with --force, while any node of SOURCE answers or a writer up the\n"
		"chain is seen (fail SOURCE over within its region, or swap standby_of and apply\n"
		"--allow-switchover: a lossless region switch). Otherwise the data-loss estimate\n"
		"is shown (the bytes and seconds of SOURCE's writes that its standby leader may\n"
		"lack, from the leader's WAL receiver or the last position apply or status\n"
		"recorded), and the promotion is refused without --force unless the estimate is\n"
		"provably zero (SOURCE's primary shut down cleanly and the leader replayed its\n"
		"shutdown checkpoint). The leader is promoted; its other nodes keep cascading\n"
		"from it. Until standby_of is swapped, apply never demotes it, and fences SOURCE\n"
		"when it comes back (stopped, standby.signal, never started). Removing standby_of\n"
		"instead of swapping it detaches the cluster for good: SOURCE is then no longer\n"
		"fenced, and apply starts its nodes again (read-only while the fence's\n"
		"standby.signal is in them): remove SOURCE from the file if its region is gone\n"
		"for good.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_CLUSTER | OPT_CLUSTER_REQUIRED | OPT_TO | OPT_FORCE,
	.option_help = failover_option_help,
	.exit_codes = "  0   promoted (or --to NODE already is the primary, or the standby leader\n"
		      "      already takes writes)\n"
		      "  1   refused (the reason is printed) or failed\n"
		      "  4   another run holds the state directory's lock\n",
};

/* refused - a refusal of the failover, as every command reports an error. */
static void refused(void *ctx, const char *hint, const char *message)
{
	(void)ctx;
	cmd_error(hint, "%s", message);
}

/* print_candidates - the replicas considered, to stderr after a refusal. */
static void print_candidates(void *ctx, const PgcChoice *ch)
{
	char lsn[32];

	(void)ctx;
	for (size_t i = 0; i < ch->n_candidates; i++) {
		const PgcCandidate *cd = &ch->candidates[i];

		if (cd->eligible)
			str_fprintf_line(stderr, "  candidate %-12s eligible, at %s%s\n", cd->node,
				lsn_format(cd->position, lsn, sizeof lsn),
				cd->was_sync ? ", synchronous" : "");
		else
			str_fprintf_line(stderr, "  candidate %-12s %s\n", cd->node, cd->why_not);
	}
}

/* print_result - the summary of a failover that happened. */
static void print_result(const PgcOptions *opts, PgcArena *a, const PgcCluster *c,
			 const PgcManualFailoverResult *res)
{
	char lsn[32];

	str_fprintf_line(stdout, "failover of cluster \"%s\": \"%s\" promoted in place of \"%s\"\n", c->name, res->chosen,
	       res->old);
	str_fprintf_line(stdout, "  why:          %s\n", res->reason);
	str_fprintf_line(stdout, "  fenced:       \"%s\": %s\n", res->old, res->fence_detail);
	str_fprintf_line(stdout, "  promoted at:  %s on timeline %u\n", lsn_format(res->switch_lsn, lsn, sizeof lsn),
	       res->timeline);
	str_fprintf_line(stdout, "  timings:      detected %.0f ms, fenced %.0f ms, promoted %.0f ms, first write %s "
	       "(from the start of the command)\n",
	       res->detected_ms, res->fenced_ms, res->promoted_ms,
	       res->wrote ? arena_printf(a, "%.0f ms", res->first_write_ms)
			  : arena_printf(a, "not within %d s", res->write_timeout_s));
	str_fprintf_line(stdout, "  replicas:     %zu following \"%s\"%s\n", res->repointed, res->chosen,
	       res->repoint_failed ? arena_printf(a, ", %zu not (see the log)", res->repoint_failed)
				   : "");
	str_fprintf_line(stdout, "  old primary:  %s\n", res->rejoin_old ? res->rejoin
						    : "not on this machine: rejoin it from its host");
	if (strcmp(c->primary.v, res->chosen) != 0)
		str_fprintf_line(stdout, "note: the topology still names \"%s\" as the primary of cluster \"%s\": set "
		       "'primary: %s' in %s\n",
		       c->primary.v, c->name, res->chosen, opts->source_name);
}

/*
 * region - the failover of standby cluster c when its source's region is
 * lost (reconcile/standby/region_failover.h): its leader promoted.
 */
static int region(const PgcOptions *opts, PgcArena *a, const PgcTopology *t, const PgcCluster *c,
		  json_t *event, PgcManualFailover *in)
{
	PgcFailoverReporter rep = {refused, print_candidates, NULL};
	PgcLock lock = {.fd = -1, .path = NULL};
	PgcRegionFailover rf = {0};
	PgcRegionFailoverResult res;
	char lsn[32];
	int rc = EXIT_ERROR;

	if (opts->to_node != NULL && strcmp(opts->to_node, c->primary.v) != 0) {
		cmd_error(arena_printf(a, "leave out --to, or set primary: %s under clusters.%s in the "
				       "topology first", opts->to_node, c->name),
			  "cluster \"%s\" is a standby cluster: only its standby leader \"%s\" can be "
			  "promoted", c->name, c->primary.v);
		return EXIT_ERROR;
	}
	if (converge_lock(opts, 0, &lock, &rc) != 0)
		return rc;
	json_object_set_new(event, "run", json_string(arena_printf(a, "%s-%ld", in->t0_iso,
								  (long)getpid())));
	json_object_set_new(event, "cluster", json_string(c->name));
	rf.state_dir = opts->state_dir;
	rf.t = t;
	rf.c = c;
	rf.force = opts->force;
	rf.event = event;
	rf.t0 = in->t0;
	rf.obs = converge_observe(opts, t);
	if (rf.obs == NULL)
		goto cleanup;
	/* As for any failover: a region rule may forbid it (X fenced after the
	 * region failover of its own standby cluster, in a chain). */
	{
		const char *veto = failover_veto(a, t, rf.obs, c);

		if (veto != NULL) {
			cmd_error(arena_printf(a, "'pgconverge plan --cluster %s' shows what the topology "
						  "asks for it", c->name),
				  "no failover of cluster \"%s\": %s", c->name, veto);
			goto cleanup;
		}
	}
	if (region_failover(a, &rf, &rep, &res) != 0)
		goto cleanup;
	if (res.nothing_to_do) {
		str_fprintf_line(stdout, "standby leader \"%s\" of cluster \"%s\" already takes writes: "
				 "nothing to do\n", res.leader, c->name);
	} else {
		str_fprintf_line(stdout, "region failover of cluster \"%s\": \"%s\" promoted, its source "
				 "\"%s\" being lost\n", c->name, res.leader, res.source);
		str_fprintf_line(stdout, "  data-loss estimate: %s\n", res.estimate_text);
		str_fprintf_line(stdout, "  promoted at:  %s on timeline %u, %.0f ms from the start of "
				 "the command\n", lsn_format(res.switch_lsn, lsn, sizeof lsn),
				 res.timeline, res.promoted_ms);
		str_fprintf_line(stdout, "  replicas:     %zu of %zu streaming from \"%s\"\n", res.streaming,
				 res.n_others, res.leader);
		str_fprintf_line(stdout, "note: the topology still says standby_of: %s for \"%s\": apply "
				 "never demotes it and fences \"%s\" when it comes back; swap standby_of "
				 "in %s to make \"%s\" a standby of \"%s\"\n",
				 res.source, c->name, res.source, opts->source_name, res.source, c->name);
	}
	rc = EXIT_OK;
cleanup:
	lock_release(&lock);
	observe_free(rf.obs);
	return rc;
}

int cmd_failover(const PgcOptions *opts)
{
	PgcFailoverReporter rep = {refused, print_candidates, NULL};
	PgcLock lock = {.fd = -1, .path = NULL};
	PgcManualFailover in = {0};
	PgcManualFailoverResult res;
	PgcArena *a = arena_new();
	PgcTopology *t;
	char t0_iso[40];
	int rc = EXIT_ERROR;
	struct timeval tv;

	in.state_dir = opts->state_dir;
	in.to = opts->to_node;
	in.t0 = clock_ms();
	in.t0_iso = clock_utc_now(CLOCK_UTC_ISO_MS, t0_iso, sizeof t0_iso);
	gettimeofday(&tv, NULL);
	in.t0_unix_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	in.event = json_object();
	in.t = t = converge_load(opts);
	if (t == NULL)
		goto cleanup;
	in.c = topology_cluster(t, opts->cluster);
	if (in.c == NULL) {
		cmd_error(NULL, "unknown cluster \"%s\"", opts->cluster);
		goto cleanup;
	}
	if (opts->force && !in.c->standby_of.set) {
		cmd_error("leave out --force: a failover of a cluster that is no standby cluster "
			  "promotes only a replica that passes its checks",
			  "--force applies to a standby cluster (standby_of) whose source is lost; "
			  "cluster \"%s\" is none", in.c->name);
		goto cleanup;
	}
	if (t->etcd.set && in.c->standby_of.set) {
		/* Its agents have not been tried with a region failover. */
		cmd_error("promote its standby leader by hand (pg_ctl promote), then remove standby_of "
			  "from the topology: the cluster is then detached, a primary cluster of its "
			  "own, and nothing fences its source if it comes back (keep it stopped by "
			  "hand)",
			  "the region failover of standby cluster \"%s\" is not supported with "
			  "coordination.etcd yet", in.c->name);
		goto cleanup;
	}
	if (t->etcd.set) {
		/* Its leader agent decides failovers, written to etcd first: a
		 * promotion from here would race that decision. */
		cmd_error("the agents fail over by themselves (failover.mode: auto); to move the primary, "
			  "set 'primary:' in the topology and let the agents reconcile with "
			  "--allow-switchover",
			  "cluster \"%s\" is coordinated through etcd (coordination.etcd): only its leader "
			  "agent decides a failover", in.c->name);
		goto cleanup;
	}
	if (in.c->standby_of.set) {
		rc = region(opts, a, t, in.c, in.event, &in);
		goto cleanup;
	}
	if (in.c->n_nodes < 2) {
		cmd_error("add a replica to the cluster", "cluster \"%s\" has a single node: nothing to "
			  "promote", in.c->name);
		goto cleanup;
	}
	if (converge_lock(opts, 0, &lock, &rc) != 0)
		goto cleanup;
	/* The journal's lines of one run share "run", as apply's do. */
	json_object_set_new(in.event, "run",
			    json_string(arena_printf(a, "%s-%ld", t0_iso, (long)getpid())));
	json_object_set_new(in.event, "cluster", json_string(in.c->name));
	(void)ha_cache_read(a, opts->state_dir, in.c->name, &in.cache);
	in.obs = converge_observe(opts, t);
	if (in.obs == NULL || in.obs->n_clusters != 1)
		goto cleanup;
	/* A promotion another component knows would fork the data (a region rule). */
	{
		const char *veto = failover_veto(a, t, in.obs, in.c);

		if (veto != NULL) {
			cmd_error(arena_printf(a, "'pgconverge plan --cluster %s' shows what the topology "
						  "asks for it", in.c->name),
				  "no failover of cluster \"%s\": %s", in.c->name, veto);
			goto cleanup;
		}
	}
	if (failover_manual(a, &in, &rep, &res) != 0)
		goto cleanup;
	if (res.nothing_to_do)
		str_fprintf_line(stdout, "node \"%s\" is already the primary of cluster \"%s\": nothing to do\n", res.old,
		       in.c->name);
	else
		print_result(opts, a, in.c, &res);
	rc = EXIT_OK;
cleanup:
	lock_release(&lock);
	json_decref(in.event);
	observe_free(in.obs);
	observe_free(in.obs_after);
	topology_free(t);
	arena_free(a);
	return rc;
}
