/*
 * cmd/reconcile_status.c - what the reconcile loop tells after each pass
 * (reconcile_status.h): STATE_DIR/status.json and STATE_DIR/pgconverge.prom.
 */
#include "cmd/reconcile_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/metrics.h"
#include "reconcile/engine/action.h"
#include "reconcile/postgres/plan_conf.h"

#define STATUS_FORMAT_VERSION 1

const char *const reconcile_outcome_names[OUT_COUNT] = {"converged", "blocked", "failed",
							"interrupted", "locked"};

static const char *iso(time_t t, char *buf, size_t size)
{
	return source_format_time(t, buf, size);
}

void reconcile_totals_read(const char *path, PgcPassTotals *tot)
{
	json_t *j = json_load_file(path, 0, NULL), *t, *v;
	int i;

	memset(tot, 0, sizeof *tot);
	if (j == NULL)
		return; /* none yet, or unreadable: counting starts again */
	t = json_object_get(j, "totals");
	for (i = 0; i < OUT_COUNT; i++)
		tot->passes[i] = json_integer_value(json_object_get(json_object_get(t, "passes"),
								    reconcile_outcome_names[i]));
	tot->actions = json_integer_value(json_object_get(t, "actions_done"));
	tot->consecutive_failures = json_integer_value(json_object_get(j, "consecutive_failures"));
	v = json_object_get(j, "last_success_at");
	if (json_is_string(v))
		snprintf(tot->last_success, sizeof tot->last_success, "%s", json_string_value(v));
	v = json_object_get(j, "last_converged_at");
	if (json_is_string(v))
		snprintf(tot->last_converged, sizeof tot->last_converged, "%s", json_string_value(v));
	json_decref(j);
}

const PgcCluster *reconcile_waits_for_window(const PgcTopology *t, const PgcAction *a, time_t now)
{
	const PgcCluster *c = t != NULL && a->cluster != NULL ? topology_cluster(t, a->cluster) : NULL;

	if (c == NULL || !a->blocked || c->maintenance.restart != RESTART_WINDOW ||
	    maintenance_window_open(&c->maintenance, now))
		return NULL;
	/* A switchover waits for the window only with failback: auto (plan_ha.h). */
	if (a->impact == IMPACT_RESTART ||
	    (a->impact == IMPACT_SWITCHOVER && c->failover.failback_auto))
		return c;
	return NULL;
}

static json_t *str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *source_json(const PgcSource *src)
{
	json_t *o;

	if (src == NULL || src->kind == NULL)
		return json_null();
	o = json_object();
	json_object_set_new(o, "kind", json_string(src->kind));
	json_object_set_new(o, "path", str_or_null(src->path));
	json_object_set_new(o, "digest", str_or_null(src->digest));
	if (strcmp(src->kind, "git") == 0) {
		json_object_set_new(o, "repository", str_or_null(src->repository));
		json_object_set_new(o, "ref", str_or_null(src->ref));
		json_object_set_new(o, "commit", str_or_null(src->commit));
		json_object_set_new(o, "subject", str_or_null(src->subject));
		json_object_set_new(o, "stale", json_boolean(src->stale));
	}
	return o;
}

static json_t *pending_json(const PgcPass *ps, time_t now)
{
	const PgcPlan *p = ps->res.plan;
	json_t *list = json_array();
	char buf[32];
	size_t i;

	for (i = 0; p != NULL && i < p->n_actions; i++) {
		const PgcAction *a = &p->actions[i];
		const PgcCluster *wc = reconcile_waits_for_window(ps->t, a, now);
		json_t *o = json_object();

		json_object_set_new(o, "id", json_string(a->id));
		json_object_set_new(o, "action", json_string(plan_action_name(a->kind)));
		json_object_set_new(o, "cluster", str_or_null(a->cluster));
		json_object_set_new(o, "node", str_or_null(a->node));
		json_object_set_new(o, "impact", json_string(plan_impact_name(a->impact)));
		json_object_set_new(o, "reason", str_or_null(a->reason));
		json_object_set_new(o, "blocked", json_boolean(a->blocked));
		json_object_set_new(o, "blocked_reason", str_or_null(a->blocked ? a->blocked_reason : NULL));
		if (wc != NULL) {
			time_t at = maintenance_window_next_open(&wc->maintenance, now);

			json_object_set_new(o, "waiting_for", json_string("maintenance_window"));
			json_object_set_new(o, "window", str_or_null(wc->maintenance.window.v));
			json_object_set_new(o, "window_opens_at",
					    at != (time_t)-1 ? json_string(iso(at, buf, sizeof buf))
							     : json_null());
		} else {
			/* Blocked for good until someone acts (a flag, another host); else
			 * the next pass tries it again. */
			json_object_set_new(o, "waiting_for",
					    json_string(a->blocked ? "operator" : "next_pass"));
		}
		json_array_append_new(list, o);
	}
	return list;
}

static const char *restart_policy_name(PgcRestartPolicy r)
{
	return r == RESTART_ALWAYS ? "always" : r == RESTART_WINDOW ? "window" : "never";
}

static bool cluster_selected(const PgcOptions *opts, const PgcCluster *c)
{
	return opts->cluster == NULL || strcmp(opts->cluster, c->name) == 0;
}

static json_t *clusters_json(const PgcOptions *opts, const PgcAutoFailover *af, const PgcPass *ps,
			     time_t now)
{
	json_t *all = json_object();
	char buf[32];
	size_t i;

	for (i = 0; ps->t != NULL && i < ps->t->n_clusters; i++) {
		const PgcCluster *c = &ps->t->clusters[i];
		const PgcMaintenance *m = &c->maintenance;
		time_t at = maintenance_window_next_open(m, now);
		json_t *o = json_object(), *mj = json_object(), *ha;
		size_t k, pending = 0, blocked = 0;

		if (!cluster_selected(opts, c))
			continue;
		for (k = 0; ps->res.plan != NULL && k < ps->res.plan->n_actions; k++) {
			const PgcAction *a = &ps->res.plan->actions[k];

			if (a->cluster != NULL && strcmp(a->cluster, c->name) == 0) {
				pending++;
				blocked += a->blocked;
			}
		}
		json_object_set_new(mj, "restart", json_string(restart_policy_name(m->restart)));
		json_object_set_new(mj, "window", str_or_null(m->window.v));
		json_object_set_new(mj, "open", json_boolean(maintenance_window_open(m, now)));
		json_object_set_new(mj, "next_open_at",
				    at != (time_t)-1 ? json_string(iso(at, buf, sizeof buf)) : json_null());
		json_object_set_new(o, "maintenance", mj);
		json_object_set_new(o, "pending_actions", json_integer((json_int_t)pending));
		json_object_set_new(o, "blocked_actions", json_integer((json_int_t)blocked));
		if ((ha = auto_failover_cluster_json(af, c)) != NULL)
			json_object_set_new(o, "ha", ha);
		json_object_set_new(all, c->name, o);
	}
	return all;
}

static json_t *status_json(const PgcOptions *opts, time_t loop_started, const PgcAutoFailover *af,
			   const PgcPass *ps, const PgcPassTotals *tot)
{
	json_t *j = json_object(), *last = json_object(), *totals = json_object(),
	       *passes = json_object();
	char buf[32];
	int i;

	json_object_set_new(j, "format_version", json_integer(STATUS_FORMAT_VERSION));
	json_object_set_new(j, "pid", json_integer((json_int_t)getpid()));
	json_object_set_new(j, "mode", json_string(opts->once ? "once" : "interval"));
	if (ps->coordination != NULL)
		json_object_set(j, "coordination", ps->coordination);
	json_object_set_new(j, "interval_seconds",
			    opts->once ? json_null() : json_real((double)opts->interval_ms / 1000.0));
	json_object_set_new(j, "started_at", json_string(iso(loop_started, buf, sizeof buf)));
	json_object_set_new(j, "pass", json_integer((json_int_t)ps->number));

	json_object_set_new(last, "started_at", json_string(iso(ps->started, buf, sizeof buf)));
	json_object_set_new(last, "finished_at", json_string(iso(ps->finished, buf, sizeof buf)));
	json_object_set_new(last, "duration_seconds", json_real(ps->duration_ms / 1000.0));
	json_object_set_new(last, "outcome", json_string(reconcile_outcome_names[ps->outcome]));
	json_object_set_new(last, "exit_code", json_integer(ps->rc));
	json_object_set_new(last, "error", ps->error[0] ? json_string(ps->error) : json_null());
	json_object_set_new(last, "actions_done", json_integer((json_int_t)ps->res.done));
	json_object_set_new(j, "last_pass", last);

	json_object_set_new(j, "last_success_at", tot->last_success[0] ? json_string(tot->last_success)
								       : json_null());
	json_object_set_new(j, "last_converged_at",
			    tot->last_converged[0] ? json_string(tot->last_converged) : json_null());
	json_object_set_new(j, "consecutive_failures", json_integer(tot->consecutive_failures));
	json_object_set_new(j, "next_pass_at",
			    ps->next ? json_string(iso(ps->next, buf, sizeof buf)) : json_null());
	json_object_set_new(j, "next_pass_reason", str_or_null(ps->next ? ps->next_reason : NULL));
	json_object_set_new(j, "source", source_json(opts->source));
	json_object_set_new(j, "pending", pending_json(ps, ps->finished));
	json_object_set_new(j, "clusters", clusters_json(opts, af, ps, ps->finished));

	for (i = 0; i < OUT_COUNT; i++)
		json_object_set_new(passes, reconcile_outcome_names[i], json_integer(tot->passes[i]));
	json_object_set_new(totals, "passes", passes);
	json_object_set_new(totals, "actions_done", json_integer(tot->actions));
	json_object_set_new(j, "totals", totals);
	return j;
}

/* ---- Prometheus textfile ---------------------------------------------------- */

void reconcile_metrics_write(FILE *f, const PgcOptions *opts, const PgcAutoFailover *af,
			     const PgcTopology *watched, const PgcPass *ps, const PgcPassTotals *tot)
{
	const PgcPlan *p = ps->res.plan;
	const PgcSource *src = opts->source;
	size_t i;
	int k;

	metrics_family(f, "pgconverge_reconcile_last_pass_timestamp_seconds", "gauge",
		       "when the last reconcile pass ended");
	metrics_sample(f, "pgconverge_reconcile_last_pass_timestamp_seconds", NULL, "%lld",
		       (long long)ps->finished);
	metrics_family(f, "pgconverge_reconcile_last_pass_duration_seconds", "gauge",
		       "how long the last reconcile pass took");
	metrics_sample(f, "pgconverge_reconcile_last_pass_duration_seconds", NULL, "%.3f",
		       ps->duration_ms / 1000.0);
	metrics_family(f, "pgconverge_reconcile_last_pass_outcome", "gauge",
		       "1 for the outcome of the last reconcile pass, 0 for the others");
	for (k = 0; k < OUT_COUNT; k++)
		metrics_sample(f, "pgconverge_reconcile_last_pass_outcome",
			       METRICS_LABELS("outcome", reconcile_outcome_names[k]), "%d",
			       ps->outcome == (PgcPassOutcome)k);
	metrics_family(f, "pgconverge_reconcile_passes_total", "counter",
		       "reconcile passes by outcome, since status.json was created");
	for (k = 0; k < OUT_COUNT; k++)
		metrics_sample(f, "pgconverge_reconcile_passes_total",
			       METRICS_LABELS("outcome", reconcile_outcome_names[k]), "%lld",
			       (long long)tot->passes[k]);
	metrics_family(f, "pgconverge_reconcile_actions_total", "counter",
		       "actions carried out by reconcile passes");
	metrics_sample(f, "pgconverge_reconcile_actions_total", NULL, "%lld", (long long)tot->actions);
	metrics_family(f, "pgconverge_reconcile_consecutive_failures", "gauge",
		       "failed reconcile passes in a row");
	metrics_sample(f, "pgconverge_reconcile_consecutive_failures", NULL, "%lld",
		       (long long)tot->consecutive_failures);
	if (tot->last_success[0]) {
		struct tm tm = {0};

		if (strptime(tot->last_success, "%Y-%m-%dT%H:%M:%SZ", &tm) != NULL) {
			metrics_family(f, "pgconverge_reconcile_last_success_timestamp_seconds", "gauge",
				       "when a reconcile pass last converged or was held back only by policy");
			metrics_sample(f, "pgconverge_reconcile_last_success_timestamp_seconds", NULL,
				       "%lld", (long long)timegm(&tm));
		}
	}
	metrics_family(f, "pgconverge_reconcile_pending_actions", "gauge",
		       "actions left after the last pass, blocked ones included");
	metrics_sample(f, "pgconverge_reconcile_pending_actions", NULL, "%zu", p ? p->n_actions : 0);
	metrics_family(f, "pgconverge_reconcile_blocked_actions", "gauge",
		       "actions the maintenance policy held back in the last pass");
	metrics_sample(f, "pgconverge_reconcile_blocked_actions", NULL, "%zu",
		       p ? plan_count_blocked(p) : 0);
	if (ps->next) {
		metrics_family(f, "pgconverge_reconcile_next_pass_timestamp_seconds", "gauge",
			       "when the reconcile loop runs its next pass");
		metrics_sample(f, "pgconverge_reconcile_next_pass_timestamp_seconds", NULL, "%lld",
			       (long long)ps->next);
	}
	if (src != NULL && src->kind != NULL) {
		metrics_family(f, "pgconverge_reconcile_source_info", "gauge",
			       "the topology source of the last pass");
		metrics_sample(f, "pgconverge_reconcile_source_info",
			       METRICS_LABELS("kind", src->kind, "path", src->path, "ref", src->ref,
					      "commit", src->commit, "digest", src->digest),
			       "1");
		metrics_family(f, "pgconverge_reconcile_source_stale", "gauge",
			       "1 when the git remote could not be fetched and the last fetched commit was used");
		metrics_sample(f, "pgconverge_reconcile_source_stale", NULL, "%d", src->stale ? 1 : 0);
	}
	if (ps->t == NULL)
		return;
	metrics_family(f, "pgconverge_maintenance_window_open", "gauge",
		       "1 when the cluster's maintenance policy allows restarts now");
	for (i = 0; i < ps->t->n_clusters; i++)
		if (cluster_selected(opts, &ps->t->clusters[i]))
			metrics_sample(f, "pgconverge_maintenance_window_open",
				       METRICS_LABELS("cluster", ps->t->clusters[i].name), "%d",
				       maintenance_window_open(&ps->t->clusters[i].maintenance,
							       ps->finished));
	metrics_family(f, "pgconverge_maintenance_window_next_open_timestamp_seconds", "gauge",
		       "when the cluster's maintenance window next opens (absent: never)");
	for (i = 0; i < ps->t->n_clusters; i++) {
		time_t at = maintenance_window_next_open(&ps->t->clusters[i].maintenance, ps->finished);

		if (cluster_selected(opts, &ps->t->clusters[i]) && at != (time_t)-1)
			metrics_sample(f, "pgconverge_maintenance_window_next_open_timestamp_seconds",
				       METRICS_LABELS("cluster", ps->t->clusters[i].name), "%lld",
				       (long long)at);
	}
	auto_failover_metrics(f, af, watched);
}

int reconcile_status_file_write(const PgcOptions *opts, json_t *j)
{
	char *path = fs_path_join(opts->state_dir, RECONCILE_STATUS_FILE);
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
	int rc;

	if (text == NULL || (text = realloc(text, strlen(text) + 2)) == NULL)
		abort();
	strcat(text, "\n");
	/* No secret is in it; node_exporter's user reads the metrics beside it. */
	rc = fs_write_atomic(path, text, strlen(text), 0644, FS_NO_UID, FS_NO_GID, NULL);
	free(text);
	free(path);
	return rc;
}

int reconcile_status_write(const PgcOptions *opts, time_t loop_started, const PgcAutoFailover *af,
			   const PgcTopology *watched, const PgcPass *ps, const PgcPassTotals *tot, json_t **doc)
{
	json_t *j = status_json(opts, loop_started, af, ps, tot);
	char *path = NULL, *mbuf = NULL;
	size_t mlen = 0;
	FILE *mf;
	int rc = -1;

	json_decref(*doc);
	*doc = j;
	if (reconcile_status_file_write(opts, j) != 0)
		goto cleanup;
	path = fs_path_join(opts->state_dir, RECONCILE_METRICS_FILE);
	mf = open_memstream(&mbuf, &mlen);
	if (mf == NULL)
		abort();
	reconcile_metrics_write(mf, opts, af, watched, ps, tot);
	fclose(mf);
	if (fs_write_atomic(path, mbuf, mlen, 0644, FS_NO_UID, FS_NO_GID, NULL) != 0)
		goto cleanup;
	rc = 0;
cleanup:
	free(mbuf);
	free(path);
	return rc;
}
