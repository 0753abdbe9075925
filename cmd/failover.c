/*
 * cmd/failover.c - `pgconverge failover`: a manual promotion, with the same
 * fencing and checks as automatic failover.
 */
#include "cmd/cmd.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cmd/converge.h"
#include "cmd/exitcodes.h"
#include "common/clock.h"
#include "common/lock.h"
#include "common/strutil.h"
#include "reconcile/ha/failover.h"
#include "reconcile/ha/failover_run.h"
#include "reconcile/ha/fence.h"
#include "reconcile/ha/ha.h"
#include "reconcile/ha/promote.h"
#include "reconcile/pg/lsn.h"

static const PgcOptionHelp failover_option_help[] = {
	{"to", NULL, "promote NODE (default: the best candidate, see above)"},
	{NULL, NULL, NULL},
};

const PgcCommandSpec failover_spec = {
	.usage = "failover " USAGE_SOURCE USAGE_NEWLINE
		 "--cluster NAME [--to NODE] [--state-dir DIR]",
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
		"'primary:' in the topology and apply with --allow-switchover instead.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_CLUSTER | OPT_CLUSTER_REQUIRED | OPT_TO,
	.option_help = failover_option_help,
	.exit_codes = "  0   promoted (or --to NODE already is the primary)\n"
		      "  1   refused (the reason is printed) or failed\n"
		      "  4   another run holds the state directory's lock\n",
};

/* Everything one run keeps, released together. */
typedef struct {
	const PgcOptions *opts;
	PgcArena *a;
	PgcTopology *t;
	const PgcCluster *c;      /* as in the file */
	const PgcCluster *live;   /* with the live primary as primary */
	PgcObserved *obs;
	PgcObserved *obs_before;  /* the first observation: view points into it */
	PgcHaCache cache;
	PgcPrimaryView view;
	const char *old;          /* the primary being replaced */
	bool old_alive;           /* it answered as a primary */
	double t0;
	char t0_iso[40];
	int64_t t0_unix_ms;
	json_t *event;
} Run;

/* find_primary - the primary to replace; -1 when the live state is ambiguous (reported). */
static int find_primary(Run *r)
{
	PgcFoundPrimary fp;

	if (failover_find_primary(r->a, r->c, r->obs, &r->cache, &fp) != 0) {
		cmd_error("the node on the older timeline is an old primary: stop it, then run "
			  "'pgconverge failover' again",
			  "cluster \"%s\" has %zu nodes that accept writes: %s", r->c->name,
			  fp.n_writable, fp.writable);
		return -1;
	}
	r->old = fp.old;
	r->old_alive = fp.alive;
	return 0;
}

static void print_candidates(FILE *out, const PgcChoice *ch)
{
	char lsn[32];

	for (size_t i = 0; i < ch->n_candidates; i++) {
		const PgcCandidate *cd = &ch->candidates[i];

		if (cd->eligible)
			str_fprintf_line(out, "  candidate %-12s eligible, at %s%s\n", cd->node,
				lsn_format(cd->position, lsn, sizeof lsn),
				cd->was_sync ? ", synchronous" : "");
		else
			str_fprintf_line(out, "  candidate %-12s %s\n", cd->node, cd->why_not);
	}
}

static double since(const Run *r, double at)
{
	return at > 0 ? at - r->t0 : -1;
}

/* journal_line - the event with "event" and, at the end, its outcome. */
static void journal_line(Run *r, const char *event, const char *outcome, const char *error)
{
	json_object_set_new(r->event, "event", json_string(event));
	if (outcome != NULL) {
		json_object_set_new(r->event, "outcome", json_string(outcome));
		json_object_set_new(r->event, "duration_ms", failover_event_ms(clock_ms() - r->t0));
	}
	if (error != NULL)
		json_object_set_new(r->event, "error", json_string(error));
	(void)ha_journal_event(r->opts->state_dir, r->event);
}

static const char *rejoin_text(PgcArena *a, const PgcPromoteResult *pr, const char *old)
{
	if (!pr->old_rejoined && pr->old_rejoin.outcome == REJOIN_FAILED &&
	    pr->old_rejoin.decision[0] == '\0')
		return arena_printf(a, "\"%s\" is fenced; it rejoins as a replica when it is back", old);
	return arena_strdup(a, pr->old_rejoin.decision);
}

static int run_failover(Run *r)
{
	PgcChooseOptions co = {r->opts->to_node, false, false};
	const PgcNode *old_node;
	const PgcObsNode *old_obs;
	PgcFenceOptions fo = {0};
	PgcFenceResult fr;
	PgcPromoteOptions po;
	PgcPromoteResult pr;
	PgcChoice ch;
	PgcCluster *x;
	const char *refusal, *chosen;
	double t_detected, t_fenced, timings[4];
	char lsn[32];

	if (find_primary(r) != 0)
		return EXIT_ERROR;
	if (strcmp(r->old, r->c->primary.v) != 0)
		r->live = failover_topology(r->a, r->c, r->c->primary.v, r->old);
	else
		r->live = r->c;
	old_node = cluster_node(r->live, r->old);
	old_obs = observe_node_find(r->obs, r->c->name, r->old);
	if (r->opts->to_node != NULL && r->old_alive && strcmp(r->opts->to_node, r->old) == 0) {
		str_fprintf_line(stdout, "node \"%s\" is already the primary of cluster \"%s\": nothing to do\n", r->old,
		       r->c->name);
		return EXIT_OK;
	}

	/* What the primary looked like: now if it answers, else as last cached. */
	failover_last_view(r->opts->state_dir, r->c->name, r->obs, r->old, &r->cache, &r->view);
	t_detected = clock_ms();

	co.primary_stopping = r->old_alive;
	if (failover_choose(r->a, r->live, r->obs, r->old, &r->view, &co, &ch) != 0) {
		cmd_error(NULL, "refusing to fail over cluster \"%s\" (primary \"%s\"): %s", r->c->name,
			  r->old, ch.reason);
		print_candidates(stderr, &ch);
		return EXIT_ERROR;
	}
	if (!r->old_alive) {
		PgcChooseOptions pc = {NULL, true, false};
		PgcChoice pch;

		/* Automatic failover would wait here; a manual one fences first. */
		if (failover_choose(r->a, r->live, r->obs, r->old, &r->view, &pc, &pch) != 0 &&
		    pch.partition)
			log_warn("%s; it is fenced before the promotion", pch.reason);
	}
	refusal = failover_fence_refusal(r->a, r->live, old_node, old_obs);
	if (refusal != NULL) {
		cmd_error("set failover.fence_command, or stop it by hand and run this again",
			  "refusing to promote \"%s\": the primary \"%s\" cannot be fenced: %s", ch.chosen,
			  r->old, refusal);
		return EXIT_ERROR;
	}
	log_info("failing over cluster \"%s\" from \"%s\" (%s): %s", r->c->name, r->old,
		 r->old_alive ? "it answers: stopping it first" : "it does not answer", ch.reason);

	failover_event_begin(r->a, r->event, r->c->name, ch.chosen, r->old, "manual");
	journal_line(r, "start", NULL, NULL);

	/* Fence. A healthy primary stops with a fast shutdown: its replicas get all of its WAL. */
	fo.graceful = r->old_alive;
	fo.mark_standby = true;
	if (fence_node(r->live, old_node, &fo, &fr) != 0) {
		journal_line(r, "end", "failed", fr.detail);
		return EXIT_ERROR;
	}
	t_fenced = clock_ms();
	failover_event_fence(r->event, &fr);

	/* Positions may have moved while it stopped: choose again. */
	co.primary_stopping = false;
	r->obs_before = r->obs;
	r->obs = converge_observe(r->opts, r->t);
	if (r->obs == NULL ||
	    failover_choose(r->a, r->live, r->obs, r->old, &r->view, &co, &ch) != 0) {
		const char *why = r->obs == NULL ? "could not observe the cluster" : ch.reason;

		cmd_error(NULL, "fenced \"%s\", but cannot promote a replica of cluster \"%s\": %s",
			  r->old, r->c->name, why);
		if (r->obs != NULL)
			print_candidates(stderr, &ch);
		failover_restart_old(r->live, r->old, &fr);
		journal_line(r, "end", "failed", why);
		return EXIT_ERROR;
	}
	chosen = ch.chosen;
	json_object_set_new(r->event, "node", json_string(chosen));
	json_object_set_new(r->event, "new_primary", json_string(chosen));
	json_object_set_new(r->event, "reason", json_string(ch.reason));

	x = failover_topology(r->a, r->live, r->old, chosen);
	promote_defaults(&po);
	po.rejoin_old = old_node != NULL && host_is_local(old_node->host.v);
	if (promote_run(x, r->old, &po, &pr) != 0) {
		cmd_error("look at the log above; the old primary stays fenced",
			  "could not promote \"%s\" in cluster \"%s\"", chosen, r->c->name);
		if (!pr.promoted)
			failover_restart_old(r->live, r->old, &fr);
		journal_line(r, "end", "failed", "promotion failed");
		return EXIT_ERROR;
	}
	/* The new primary, and when this failover happened (anti-flap). */
	failover_record(r->opts->state_dir, r->c->name, &r->cache, r->old, chosen, r->t0_iso,
			r->t0_unix_ms);

	timings[0] = since(r, t_detected);
	timings[1] = since(r, t_fenced);
	timings[2] = since(r, pr.promoted_at_ms);
	timings[3] = since(r, pr.writable_at_ms);
	failover_event_promoted(r->event, timings, NULL, &pr, po.rejoin_old,
				rejoin_text(r->a, &pr, r->old));
	journal_line(r, "end", "ok", NULL);

	str_fprintf_line(stdout, "failover of cluster \"%s\": \"%s\" promoted in place of \"%s\"\n", r->c->name, chosen,
	       r->old);
	str_fprintf_line(stdout, "  why:          %s\n", ch.reason);
	str_fprintf_line(stdout, "  fenced:       \"%s\": %s\n", r->old, fr.detail);
	str_fprintf_line(stdout, "  promoted at:  %s on timeline %u\n", lsn_format(pr.switch_lsn, lsn, sizeof lsn),
	       pr.timeline);
	str_fprintf_line(stdout, "  timings:      detected %.0f ms, fenced %.0f ms, promoted %.0f ms, first write %s "
	       "(from the start of the command)\n",
	       since(r, t_detected), since(r, t_fenced), since(r, pr.promoted_at_ms),
	       pr.writable_at_ms > 0 ? arena_printf(r->a, "%.0f ms", since(r, pr.writable_at_ms))
				     : arena_printf(r->a, "not within %d s", po.write_timeout_s));
	str_fprintf_line(stdout, "  replicas:     %zu following \"%s\"%s\n", pr.repointed, chosen,
	       pr.repoint_failed ? arena_printf(r->a, ", %zu not (see the log)", pr.repoint_failed)
				 : "");
	str_fprintf_line(stdout, "  old primary:  %s\n", po.rejoin_old ? rejoin_text(r->a, &pr, r->old)
						    : "not on this machine: rejoin it from its host");
	if (strcmp(r->c->primary.v, chosen) != 0)
		str_fprintf_line(stdout, "note: the topology still names \"%s\" as the primary of cluster \"%s\": set "
		       "'primary: %s' in %s\n",
		       r->c->primary.v, r->c->name, chosen, r->opts->source_name);
	return EXIT_OK;
}

int cmd_failover(const PgcOptions *opts)
{
	PgcLock lock = {.fd = -1, .path = NULL};
	Run r = {0};
	int rc = EXIT_ERROR;
	struct timeval tv;

	r.opts = opts;
	r.a = arena_new();
	r.t0 = clock_ms();
	ha_iso_now(r.t0_iso, sizeof r.t0_iso);
	gettimeofday(&tv, NULL);
	r.t0_unix_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	r.event = json_object();
	r.t = converge_load(opts);
	if (r.t == NULL)
		goto cleanup;
	r.c = topology_cluster(r.t, opts->cluster);
	if (r.c == NULL) {
		cmd_error(NULL, "unknown cluster \"%s\"", opts->cluster);
		goto cleanup;
	}
	if (r.c->n_nodes < 2) {
		cmd_error("add a replica to the cluster", "cluster \"%s\" has a single node: nothing to "
			  "promote", r.c->name);
		goto cleanup;
	}
	if (converge_lock(opts, 0, &lock, &rc) != 0)
		goto cleanup;
	/* The journal's lines of one run share "run", as apply's do. */
	json_object_set_new(r.event, "run",
			    json_string(arena_printf(r.a, "%s-%ld", r.t0_iso, (long)getpid())));
	json_object_set_new(r.event, "cluster", json_string(r.c->name));
	(void)ha_cache_read(r.a, opts->state_dir, r.c->name, &r.cache);
	r.obs = converge_observe(opts, r.t);
	if (r.obs == NULL || r.obs->n_clusters != 1)
		goto cleanup;
	rc = run_failover(&r);
cleanup:
	lock_release(&lock);
	json_decref(r.event);
	observe_free(r.obs);
	observe_free(r.obs_before);
	topology_free(r.t);
	arena_free(r.a);
	return rc;
}
