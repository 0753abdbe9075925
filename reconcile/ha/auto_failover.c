/*
 * reconcile/ha/auto_failover.c - automatic failover between reconcile passes
 * (auto_failover.h): the watch of each cluster's live primary, its probes,
 * the decision (failover_evaluate) and the failover itself (fence, choose,
 * promote), journalled with its timings.
 */
#include "reconcile/ha/auto_failover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/lock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "reconcile/engine/failover_veto.h"
#include "reconcile/ha/failover.h"
#include "reconcile/ha/failover_run.h"
#include "reconcile/ha/fence.h"
#include "reconcile/ha/ha.h"
#include "reconcile/ha/promote.h"
#include "reconcile/transport/host.h"
#include "schema/source.h"

/* HA_NAME_MAX - room for a cluster or node name (at most 63 characters). */
#define HA_NAME_MAX 64

/*
 * HaWatch - one cluster's primary as the loop watches it between passes:
 * the node probed (the live primary, which after a failover is not the
 * file's), its probe history and the last verdict, for the log and
 * status.json. Allocated once per cluster: st.primary points into it.
 */
typedef struct {
	char cluster[HA_NAME_MAX];
	char primary[HA_NAME_MAX];   /* the live primary, probed */
	PgcProbeState st;
	PgcHaVerdict verdict;
	char reason[1024];
	time_t suspect_since;        /* wall clock of the first failed probe in a row; 0 none */
	int64_t next_probe_ms;       /* clock_ms() of the next probe */
	int64_t logged_ms;           /* when a blocked verdict was last logged */
	int64_t retry_after_ms;      /* no new failover attempt before (one failed) */
	char intruder[HA_NAME_MAX];  /* another node seen accepting writes, "" none */
	char veto[1024];             /* the failover veto last logged (engine/failover_veto.h), "" none */
	bool present;                /* in the topology of the last pass */
	bool changed;                /* verdict changed since status.json was written */
	int64_t last_failover_unix_ms; /* -1: none known */
	char last_failover_at[40];
	char last_failover_from[HA_NAME_MAX];
	char last_failover_to[HA_NAME_MAX];
} HaWatch;

struct PgcAutoFailover {
	char *state_dir;
	char *only_cluster;          /* NULL: every cluster */
	HaWatch **ha;                /* one per cluster with replicas */
	size_t n_ha;
};

/* ---- the watches ------------------------------------------------------------- */

/* How often a failover that stays blocked is logged again with its reason. */
#define HA_BLOCKED_LOG_MS 10000
/* After a failover attempt failed (e.g. fencing), the wait before the next one. */
#define HA_RETRY_MS 10000
/* The bound of the probe that looks for a second primary. */
#define HA_INTRUDER_PROBE_MS 1000

static const char *failover_mode_name(PgcFailoverMode m)
{
	return m == FAILOVER_AUTO ? "auto" : m == FAILOVER_OFF ? "off" : "manual";
}

/* ha_watch - the watch of cluster name, created empty when missing. */
static HaWatch *ha_watch(PgcAutoFailover *af, const char *name)
{
	HaWatch **v, *w;

	for (size_t i = 0; i < af->n_ha; i++)
		if (strcmp(af->ha[i]->cluster, name) == 0)
			return af->ha[i];
	v = realloc(af->ha, (af->n_ha + 1) * sizeof(*v));
	w = calloc(1, sizeof(*w));
	if (v == NULL || w == NULL)
		abort();
	af->ha = v;
	af->ha[af->n_ha++] = w;
	snprintf(w->cluster, sizeof w->cluster, "%s", name);
	failover_probe_init(&w->st);
	w->verdict = HA_HEALTHY;
	w->last_failover_unix_ms = -1;
	return w;
}

PgcAutoFailover *auto_failover_new(const char *state_dir, const char *only_cluster)
{
	PgcAutoFailover *af = calloc(1, sizeof(*af));

	if (af == NULL || (af->state_dir = strdup(state_dir)) == NULL ||
	    (only_cluster != NULL && (af->only_cluster = strdup(only_cluster)) == NULL))
		abort();
	return af;
}

void auto_failover_free(PgcAutoFailover *af)
{
	if (af == NULL)
		return;
	for (size_t i = 0; i < af->n_ha; i++)
		free(af->ha[i]);
	free(af->ha);
	free(af->state_dir);
	free(af->only_cluster);
	free(af);
}

/* ha_retarget - probe node from now on: a new probe history, the failover time kept. */
static void ha_retarget(HaWatch *w, const char *node)
{
	int64_t last = w->st.last_failover_ms;

	if (strcmp(w->primary, node) == 0 && w->st.primary != NULL)
		return;
	snprintf(w->primary, sizeof w->primary, "%s", node);
	failover_probe_init(&w->st);
	w->st.last_failover_ms = last;
	w->st.primary = w->primary;
	w->suspect_since = 0;
}

/* ha_verdict - records a verdict; logs a change, and a blocked one again now and then. */
static void ha_verdict(HaWatch *w, PgcHaVerdict v, const char *reason)
{
	int64_t now = (int64_t)clock_ms();
	bool again = v == HA_BLOCKED && now - w->logged_ms >= HA_BLOCKED_LOG_MS;

	if (v != w->verdict || again) {
		w->logged_ms = now;
		if (v == HA_HEALTHY)
			log_info("cluster \"%s\": %s", w->cluster, reason);
		else if (v == HA_SUSPECT && w->verdict == HA_HEALTHY)
			log_warn("cluster \"%s\": %s", w->cluster, reason);
		else if (v == HA_BLOCKED)
			log_warn("cluster \"%s\": no failover: %s", w->cluster, reason);
	}
	if (v != w->verdict || strcmp(w->reason, reason) != 0)
		w->changed = true;
	w->verdict = v;
	snprintf(w->reason, sizeof w->reason, "%s", reason);
	if (v == HA_HEALTHY) {
		w->suspect_since = 0;
		w->veto[0] = '\0';
	}
}

/*
 * ha_vetoed - a component vetoes any promotion in the cluster
 * (engine/failover_veto.h; why: its reason, or NULL when none does now).
 * The verdict is blocked with the reason, which is logged once per
 * reason, not again at every probe like other blocked verdicts: a veto
 * holds as long as the state that causes it. true when vetoed.
 */
static bool ha_vetoed(HaWatch *w, const char *why, PgcArena *a)
{
	const char *reason;

	if (why == NULL) {
		if (w->veto[0] != '\0')
			log_info("cluster \"%s\": the failover veto no longer holds (it was: %s)",
				 w->cluster, w->veto);
		w->veto[0] = '\0';
		return false;
	}
	reason = arena_printf(a, "vetoed: %s", why);
	if (strncmp(w->veto, why, sizeof w->veto - 1) != 0) {
		log_warn("cluster \"%s\": no failover: %s", w->cluster, reason);
		snprintf(w->veto, sizeof w->veto, "%s", why);
	}
	if (w->verdict != HA_BLOCKED || strncmp(w->reason, reason, sizeof w->reason - 1) != 0)
		w->changed = true;
	w->verdict = HA_BLOCKED;
	w->logged_ms = (int64_t)clock_ms();
	snprintf(w->reason, sizeof w->reason, "%s", reason);
	return true;
}

/* ha_read_failover - the last failover recorded in ha.json, when newer than the one known. */
static void ha_read_failover(const PgcAutoFailover *af, HaWatch *w)
{
	PgcArena *a = arena_new();
	PgcHaCache cache;
	struct timespec ts;
	int64_t now_unix;

	(void)ha_cache_read(a, af->state_dir, w->cluster, &cache);
	if (cache.last_failover_unix_ms > w->last_failover_unix_ms) {
		w->last_failover_unix_ms = cache.last_failover_unix_ms;
		snprintf(w->last_failover_at, sizeof w->last_failover_at, "%s",
			 cache.last_failover_at ? cache.last_failover_at : "");
		snprintf(w->last_failover_from, sizeof w->last_failover_from, "%s",
			 cache.last_failover_from ? cache.last_failover_from : "");
		snprintf(w->last_failover_to, sizeof w->last_failover_to, "%s",
			 cache.last_failover_to ? cache.last_failover_to : "");
		/* The anti-flap interval counts on the probes' monotonic clock. */
		clock_gettime(CLOCK_REALTIME, &ts);
		now_unix = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		w->st.last_failover_ms = (int64_t)clock_ms() - (now_unix - w->last_failover_unix_ms);
	}
	if (w->primary[0] == '\0' && cache.view.primary != NULL)
		snprintf(w->primary, sizeof w->primary, "%s", cache.view.primary);
	arena_free(a);
}

/*
 * ha_after_pass - after each pass: the clusters to watch, and their live
 * primary as the pass last saw it (it answered then: a successful probe).
 */
void auto_failover_after_pass(PgcAutoFailover *af, const PgcTopology *t,
			  const PgcObserved *obs)
{
	for (size_t i = 0; i < af->n_ha; i++)
		af->ha[i]->present = false;
	for (size_t i = 0; t != NULL && i < t->n_clusters; i++) {
		const PgcCluster *c = &t->clusters[i];
		const char *live = failover_live_primary(obs, c->name);
		char why[HA_NAME_MAX + 32];
		HaWatch *w;

		if ((af->only_cluster != NULL && strcmp(af->only_cluster, c->name) != 0) || c->n_nodes < 2)
			continue;
		w = ha_watch(af, c->name);
		w->present = true;
		ha_read_failover(af, w);
		if (w->primary[0] == '\0' || cluster_node(c, w->primary) == NULL)
			snprintf(w->primary, sizeof w->primary, "%s", c->primary.v);
		if (w->st.primary == NULL) {
			char keep[HA_NAME_MAX];

			snprintf(keep, sizeof keep, "%s", w->primary);
			w->primary[0] = '\0';
			ha_retarget(w, keep);
		}
		if (live == NULL)
			continue;
		if (strcmp(live, w->primary) != 0)
			log_info("cluster \"%s\": watching \"%s\", the node that accepts writes", c->name,
				 live);
		ha_retarget(w, live);
		failover_probe_record(&w->st, w->primary, (int64_t)clock_ms(), true, NULL);
		snprintf(why, sizeof why, "primary \"%s\" answers", w->primary);
		ha_verdict(w, HA_HEALTHY, why);
	}
}

/*
 * ha_fail_over - fences the failed primary, chooses again from a fresh
 * observation, promotes, and journals it with its timings (from the first
 * failed probe). Holds the state lock meanwhile, so that no run by hand
 * interleaves. true when a replica was promoted.
 */
static bool ha_fail_over(PgcAutoFailover *af, const PgcTopology *t, HaWatch *w, const PgcCluster *c,
			 const PgcCluster *live, const PgcPrimaryView *last, const PgcHaDecision *d,
			 PgcArena *a)
{
	PgcLock lock = {.fd = -1, .path = NULL};
	const char *old = arena_strdup(a, w->primary), *chosen = NULL, *error = NULL;
	const PgcNode *oldn = cluster_node(live, old);
	double t0 = (double)w->st.first_failure_ms, t_detected = clock_ms(), t_fenced;
	PgcFenceOptions fo = {.graceful = false, .mark_standby = true};
	PgcChooseOptions co = {NULL, false, false};
	PgcObserved *obs = NULL;
	PgcPromoteOptions po;
	PgcPromoteResult pr;
	PgcFenceResult fr;
	PgcHaCache cache;
	PgcChoice ch;
	struct timespec ts;
	char now_iso[40];
	double timings[4];
	json_t *ev;
	bool ok = false;

	if (lock_acquire(af->state_dir, 0, &lock) != 0) {
		log_warn("cluster \"%s\": cannot fail over now: another run holds the state "
			 "directory's lock; trying again at the next probe",
			 c->name);
		return false;
	}
	clock_utc_now(CLOCK_UTC_ISO_MS, now_iso, sizeof now_iso);
	clock_gettime(CLOCK_REALTIME, &ts);
	ev = json_object();
	json_object_set_new(ev, "run", json_string(arena_printf(a, "%s-%ld", now_iso, (long)getpid())));
	json_object_set_new(ev, "cluster", json_string(c->name));
	failover_event_begin(a, ev, c->name, d->candidate, old, "auto");
	json_object_set_new(ev, "failed_for_ms", json_integer((json_int_t)d->failed_for_ms));
	json_object_set_new(ev, "event", json_string("start"));
	(void)ha_journal_event(af->state_dir, ev);
	log_warn("cluster \"%s\": failing over: %s", c->name, d->reason);

	/* Fencing first: nothing is promoted while the old primary could take writes. */
	if (oldn == NULL || fence_node(live, oldn, &fo, &fr) != 0) {
		error = arena_printf(a, "could not fence \"%s\": %s", old,
				     oldn ? fr.detail : "no such node");
		goto end;
	}
	t_fenced = clock_ms();
	failover_event_fence(ev, &fr);
	/* Positions are final once it is fenced: choose again from them. */
	obs = failover_observe(t, c->name);
	if (obs == NULL || failover_choose(a, live, obs, old, last, &co, &ch) != 0) {
		error = obs == NULL ? "could not observe the cluster"
				    : arena_printf(a, "no replica can be promoted: %s", ch.reason);
		goto end;
	}
	chosen = ch.chosen;
	json_object_set_new(ev, "node", json_string(chosen));
	json_object_set_new(ev, "action", json_string(arena_printf(a, "%s/%s/failover", c->name,
								   chosen)));
	json_object_set_new(ev, "new_primary", json_string(chosen));
	json_object_set_new(ev, "reason", json_string(ch.reason));
	promote_defaults(&po);
	po.rejoin_old = host_is_local(oldn->host.v);
	if (promote_run(failover_topology(a, live, old, chosen), old, &po, &pr) != 0) {
		error = arena_printf(a, "could not promote \"%s\"", chosen);
		goto end;
	}
	ok = true;

	/* When it happened, for the anti-flap interval of this loop and of any other run. */
	(void)ha_cache_read(a, af->state_dir, c->name, &cache);
	w->last_failover_unix_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	failover_record(af->state_dir, c->name, &cache, old, chosen, now_iso,
			w->last_failover_unix_ms);
	snprintf(w->last_failover_at, sizeof w->last_failover_at, "%s", now_iso);
	snprintf(w->last_failover_from, sizeof w->last_failover_from, "%s", old);
	snprintf(w->last_failover_to, sizeof w->last_failover_to, "%s", chosen);

	timings[0] = t_detected - t0;
	timings[1] = t_fenced - t0;
	timings[2] = pr.promoted_at_ms - t0;
	timings[3] = pr.writable_at_ms > 0 ? pr.writable_at_ms - t0 : -1;
	failover_event_promoted(ev, timings, "first failed probe", &pr, po.rejoin_old,
				pr.old_rejoin.decision);
	log_info("cluster \"%s\": \"%s\" promoted in place of \"%s\"; from the first failed probe: "
		 "detected %.0f ms, fenced %.0f ms, promoted %.0f ms, first write %s",
		 c->name, chosen, old, t_detected - t0, t_fenced - t0, pr.promoted_at_ms - t0,
		 pr.writable_at_ms > 0 ? arena_printf(a, "%.0f ms", pr.writable_at_ms - t0)
				       : "not within the bound");
	ha_retarget(w, chosen);
	w->st.last_failover_ms = (int64_t)clock_ms();
	failover_probe_record(&w->st, w->primary, (int64_t)clock_ms(), true, NULL);
	ha_verdict(w, HA_HEALTHY,
		   arena_printf(a, "\"%s\" was promoted in place of \"%s\"", chosen, old));
end:
	json_object_set_new(ev, "event", json_string("end"));
	json_object_set_new(ev, "outcome", json_string(ok ? "ok" : "failed"));
	json_object_set_new(ev, "duration_ms", failover_event_ms(clock_ms() - t0));
	if (error != NULL) {
		json_object_set_new(ev, "error", json_string(error));
		log_error("cluster \"%s\": automatic failover failed: %s", c->name, error);
		ha_verdict(w, HA_BLOCKED, arena_printf(a, "automatic failover failed: %s", error));
	}
	(void)ha_journal_event(af->state_dir, ev);
	json_decref(ev);
	observe_free(obs);
	lock_release(&lock);
	return ok;
}

/*
 * ha_second_primary - another node of c answers as a primary (an old one
 * started by hand): true the first time it is seen, so that a pass runs now
 * and stops it (plan_ha.h: rejoin, or a blocked split brain).
 */
static bool ha_second_primary(HaWatch *w, const PgcCluster *c)
{
	char err[512];

	for (size_t i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];

		if (strcmp(n->name, w->primary) == 0 ||
		    ha_probe(c, n, HA_INTRUDER_PROBE_MS, err, sizeof err) != 0)
			continue;
		if (strcmp(w->intruder, n->name) == 0)
			return false;
		snprintf(w->intruder, sizeof w->intruder, "%s", n->name);
		log_warn("cluster \"%s\": node \"%s\" accepts writes besides the primary \"%s\": "
			 "a pass runs now to stop it", w->cluster, n->name, w->primary);
		return true;
	}
	w->intruder[0] = '\0';
	return false;
}

/* ha_probe_timeout - a probe's bound: the probe interval, within 1 to 5 s. */
static int ha_probe_timeout(const PgcCluster *c)
{
	int64_t ms = c->failover.probe_interval.ms;

	return ms < 1000 ? 1000 : ms > 5000 ? 5000 : (int)ms;
}

/*
 * ha_probe_cluster - one probe of cluster c's primary and the decision that
 * follows: failover_evaluate() applies detect_after, the anti-flap
 * interval, the partition rule and the fencing check. true after a
 * failover, or when a second primary appeared: a pass is due now.
 */
static bool ha_probe_cluster(PgcAutoFailover *af, const PgcTopology *t, HaWatch *w, const PgcCluster *c)
{
	PgcArena *a = arena_new();
	PgcEvaluateOptions eo = {.now_ms = 0, .min_interval_ms = c->failover.min_interval.ms};
	const PgcPrimaryView *last = NULL;
	PgcObserved *obs = NULL;
	const PgcCluster *live;
	const char *other;
	PgcHaDecision d;
	PgcHaCache cache;
	char err[512] = "";
	bool ok, done = false;

	if (cluster_node(c, w->primary) == NULL)
		ha_retarget(w, c->primary.v);
	live = strcmp(w->primary, c->primary.v) == 0
		       ? c
		       : failover_topology(a, c, c->primary.v, w->primary);
	ok = ha_probe(live, cluster_node(live, w->primary), ha_probe_timeout(c), err, sizeof err) == 0;
	eo.now_ms = (int64_t)clock_ms();
	failover_probe_record(&w->st, w->primary, eo.now_ms, ok, err);
	if (ok) {
		ha_verdict(w, HA_HEALTHY, arena_printf(a, "primary \"%s\" answers", w->primary));
		done = ha_second_primary(w, live);
		goto finish;
	}
	if (w->st.failures == 1)
		w->suspect_since = time(NULL);
	failover_evaluate(a, live, NULL, NULL, &w->st, &eo, &d);
	/* Not failed for long enough: look closer only when it says it is a standby now. */
	if (d.verdict == HA_SUSPECT && strstr(err, "in recovery") == NULL) {
		ha_verdict(w, d.verdict, d.reason);
		goto finish;
	}
	obs = failover_observe(t, c->name);
	if (obs == NULL)
		goto finish;
	/* Another node accepts writes (a switchover, or a failover by hand): watch it. */
	other = failover_live_primary(obs, c->name);
	if (other != NULL && strcmp(other, w->primary) != 0) {
		log_info("cluster \"%s\": \"%s\" accepts writes now, not \"%s\": watching it", c->name,
			 other, w->primary);
		ha_retarget(w, other);
		failover_probe_record(&w->st, w->primary, eo.now_ms, true, NULL);
		ha_verdict(w, HA_HEALTHY, arena_printf(a, "primary \"%s\" answers", w->primary));
		goto finish;
	}
	/* A component that knows the promotion would fork the data (a region rule). */
	if (ha_vetoed(w, failover_veto(a, t, obs, c), a))
		goto finish;
	(void)ha_cache_read(a, af->state_dir, c->name, &cache);
	if (cache.view.primary != NULL && strcmp(cache.view.primary, w->primary) == 0)
		last = &cache.view;
	failover_evaluate(a, live, obs, last, &w->st, &eo, &d);
	if (d.verdict == HA_PROMOTE && eo.now_ms < w->retry_after_ms)
		goto finish; /* the last attempt failed a moment ago: its verdict stands */
	ha_verdict(w, d.verdict, d.reason);
	if (d.verdict == HA_PROMOTE) {
		done = ha_fail_over(af, t, w, c, live, last, &d, a);
		if (!done)
			w->retry_after_ms = (int64_t)clock_ms() + HA_RETRY_MS;
	}
finish:
	observe_free(obs);
	arena_free(a);
	return done;
}

static json_t *ha_json(const HaWatch *w, const PgcCluster *c)
{
	json_t *o = json_object();
	char buf[32];

	json_object_set_new(o, "mode", json_string(failover_mode_name(c->failover.mode)));
	json_object_set_new(o, "primary", json_string(w->primary));
	json_object_set_new(o, "declared_primary", json_string(c->primary.v));
	if (c->failover.mode == FAILOVER_AUTO) {
		json_object_set_new(o, "verdict", json_string(failover_verdict_name(w->verdict)));
		json_object_set_new(o, "reason", json_string(w->reason));
		json_object_set_new(o, "failed_probes", json_integer(w->st.failures));
		json_object_set_new(o, "suspect_since",
				    w->suspect_since ? json_string(source_format_time(w->suspect_since, buf, sizeof buf))
						     : json_null());
	}
	json_object_set_new(o, "last_failover",
			    w->last_failover_unix_ms >= 0
				? json_pack("{s:s,s:s,s:s}", "at", w->last_failover_at, "from",
					    w->last_failover_from, "to", w->last_failover_to)
				: json_null());
	return o;
}

bool auto_failover_status_update(PgcAutoFailover *af, const PgcTopology *t, json_t *clusters)
{
	bool changed = false;

	for (size_t i = 0; i < af->n_ha; i++) {
		HaWatch *w = af->ha[i];
		const PgcCluster *c = t ? topology_cluster(t, w->cluster) : NULL;
		json_t *cj = clusters ? json_object_get(clusters, w->cluster) : NULL;

		if (!w->changed || c == NULL || cj == NULL)
			continue;
		json_object_set_new(cj, "ha", ha_json(w, c));
		w->changed = false;
		changed = true;
	}
	return changed;
}

/* auto_failover_next_probe_in - ms until a watched auto cluster is due a probe; -1 none. */
int64_t auto_failover_next_probe_in(const PgcAutoFailover *af, const PgcTopology *t)
{
	int64_t now = (int64_t)clock_ms(), best = -1;

	for (size_t i = 0; i < af->n_ha; i++) {
		const HaWatch *w = af->ha[i];
		const PgcCluster *c = t && w->present ? topology_cluster(t, w->cluster)
							     : NULL;
		int64_t in;

		if (c == NULL || c->failover.mode != FAILOVER_AUTO)
			continue;
		in = w->next_probe_ms > now ? w->next_probe_ms - now : 0;
		if (best < 0 || in < best)
			best = in;
	}
	return best;
}

/* auto_failover_tick - the probes that are due; true when a pass is due now (a failover, a second primary). */
bool auto_failover_tick(PgcAutoFailover *af, const PgcTopology *t,
			const volatile sig_atomic_t *stop)
{
	bool failed_over = false;

	for (size_t i = 0; i < af->n_ha && !*stop; i++) {
		HaWatch *w = af->ha[i];
		const PgcCluster *c = t && w->present ? topology_cluster(t, w->cluster)
							     : NULL;
		int64_t now = (int64_t)clock_ms();

		if (c == NULL || c->failover.mode != FAILOVER_AUTO || now < w->next_probe_ms)
			continue;
		w->next_probe_ms = now + c->failover.probe_interval.ms;
		failed_over |= ha_probe_cluster(af, t, w, c);
	}
	return failed_over;
}


json_t *auto_failover_cluster_json(const PgcAutoFailover *af, const PgcCluster *c)
{
	for (size_t k = 0; k < af->n_ha; k++)
		if (strcmp(af->ha[k]->cluster, c->name) == 0)
			return ha_json(af->ha[k], c);
	return NULL;
}

void auto_failover_metrics(FILE *f, const PgcAutoFailover *af, const PgcTopology *t)
{
	static const PgcHaVerdict verdicts[] = {HA_HEALTHY, HA_SUSPECT, HA_PROMOTE, HA_BLOCKED};
	const PgcCluster *c;
	size_t i, k;

	if (af->n_ha == 0)
		return;
	metrics_family(f, "pgconverge_failover_verdict", "gauge",
		       "1 for the automatic failover verdict on the cluster's primary, 0 for the others");
	for (i = 0; i < af->n_ha; i++) {
		c = t ? topology_cluster(t, af->ha[i]->cluster) : NULL;
		if (c == NULL || !af->ha[i]->present || c->failover.mode != FAILOVER_AUTO)
			continue;
		for (k = 0; k < sizeof verdicts / sizeof verdicts[0]; k++)
			metrics_sample(f, "pgconverge_failover_verdict",
				       METRICS_LABELS("cluster", af->ha[i]->cluster, "verdict",
						      failover_verdict_name(verdicts[k])),
				       "%d", af->ha[i]->verdict == verdicts[k]);
	}
	metrics_family(f, "pgconverge_failover_last_timestamp_seconds", "gauge",
		       "when the cluster last failed over (absent: never)");
	for (i = 0; i < af->n_ha; i++)
		if (af->ha[i]->present && af->ha[i]->last_failover_unix_ms >= 0)
			metrics_sample(f, "pgconverge_failover_last_timestamp_seconds",
				       METRICS_LABELS("cluster", af->ha[i]->cluster), "%lld",
				       (long long)(af->ha[i]->last_failover_unix_ms / 1000));
}
