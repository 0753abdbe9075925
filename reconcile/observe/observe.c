/*
 * reconcile/observe/observe.c - probes every node: its data directory (local hosts
 * only) and its server (libpq), and builds the observed model (observe.h).
 *
 * The parts: the pure parsers (observe_parse.c), the files probe
 * (observe_files.c), the SQL probe (observe_sql.c), the backup repository
 * read (observe_repo.c), the pool of probe threads (observe_pool.c) and the
 * JSON of the model (observe_json.c). This file builds the model and runs
 * them.
 *
 * Parallelism: one probe per node, run by a small pool of threads (at most
 * OBS_MAX_THREADS), each probe with its own connections and every connect
 * and query bounded (pgsql.h), so a dead node costs its own timeouts only.
 * The model lives in the PgcObserved's arena, which is not thread-safe:
 * probes allocate model memory under one mutex and their temporary strings
 * in a private scratch arena.
 *
 * Trust: a node is "reachable" only when every query of its probe
 * succeeded; when one fails (connection lost, timeout, error), conn_error
 * says which, and the planner does not act on half an observation.
 *
 * Secrets: role passwords are resolved only to check the stored verifier,
 * then wiped; verifiers are read from pg_authid and never kept; a password
 * inside primary_conninfo is redacted before it is stored.
 */
#include "reconcile/observe/observe.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/observe/observe_datadog.h"
#include "reconcile/observe/observe_pgpool.h"
#include "reconcile/observe/observe_haproxy.h"
#include "reconcile/observe/observe_pgbouncer.h"
#include "reconcile/observe/observe_pool.h"
#include "reconcile/observe/observe_repo.h"
#include "reconcile/pg/pgsql.h"

static const char *now_iso(PgcArena *a)
{
	char buf[CLOCK_UTC_SIZE];

	return arena_strdup(a, clock_utc_now(CLOCK_UTC_ISO, buf, sizeof buf));
}

static bool source_seen(const PgcObserved *o, const char *name)
{
	for (size_t i = 0; i < o->n_sources; i++)
		if (strcmp(o->sources[i].name, name) == 0)
			return true;
	return false;
}

/* add_probes - oc, cluster c's nodes, each with its probe at probes[*k]. */
static void add_probes(PgcArena *a, pthread_mutex_t *lock, const PgcTopology *t, const PgcCluster *c,
		       const PgcObserveOptions *o_opts, PgcObsCluster *oc, Probe *probes, size_t *k)
{
	oc->name = arena_strdup(a, c->name);
	oc->n_nodes = c->n_nodes;
	oc->nodes = arena_calloc(a, c->n_nodes ? c->n_nodes : 1, sizeof *oc->nodes);
	for (size_t j = 0; j < c->n_nodes; j++) {
		Probe *p = &probes[(*k)++];

		oc->nodes[j].name = arena_strdup(a, c->nodes[j].name);
		oc->nodes[j].cluster = oc->name;
		*p = (Probe){.arena = a, .lock = lock, .c = c, .node = &c->nodes[j],
			     .opts = o_opts, .out = &oc->nodes[j]};
		/* Agents (coordination.etcd) observe other hosts' nodes every
		 * pass: one that is cut off must not hold up their failover work. */
		if (t->etcd.set)
			p->remote_connect_timeout_s = OBSERVE_REMOTE_CONNECT_TIMEOUT_S;
	}
}

PgcObserved *observe_topology(const PgcTopology *t, const PgcObserveOptions *opts)
{
	PgcObserveOptions o_opts = {PGSQL_CONNECT_TIMEOUT_S, PGSQL_QUERY_TIMEOUT_MS, NULL, false};
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	PgcArena *a;
	PgcObserved *o;
	Probe *probes;
	size_t n_probes = 0, k = 0;
	PgcObsRepoRead **reads;   /* per observed cluster: its repository, its restore source */
	struct timespec deadline;

	if (opts != NULL) {
		o_opts = *opts;
		if (o_opts.connect_timeout_s <= 0)
			o_opts.connect_timeout_s = PGSQL_CONNECT_TIMEOUT_S;
		if (o_opts.query_timeout_ms <= 0)
			o_opts.query_timeout_ms = PGSQL_QUERY_TIMEOUT_MS;
	}
	if (o_opts.only_cluster != NULL && topology_cluster(t, o_opts.only_cluster) == NULL) {
		log_error("cluster \"%s\" is not in the topology", o_opts.only_cluster);
		return NULL;
	}
	a = arena_new();
	o = arena_alloc(a, sizeof *o);
	o->arena = a;
	o->observed_at = now_iso(a);
	o->clusters = arena_calloc(a, t->n_clusters ? t->n_clusters : 1, sizeof *o->clusters);
	for (size_t i = 0; i < t->n_clusters; i++)
		n_probes += t->clusters[i].n_nodes;
	probes = arena_calloc(a, n_probes ? n_probes : 1, sizeof *probes);
	reads = arena_calloc(a, 2 * t->n_clusters + 1, sizeof *reads);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += OBSERVE_REPO_TIMEOUT_MS / 1000;
	for (size_t i = 0; i < t->n_clusters; i++) {
		const PgcCluster *c = &t->clusters[i];
		PgcObsCluster *oc;

		if (o_opts.only_cluster != NULL && strcmp(c->name, o_opts.only_cluster) != 0)
			continue;
		oc = &o->clusters[o->n_clusters++];
		add_probes(a, &lock, t, c, &o_opts, oc, probes, &k);
		/* Repositories are read while the nodes are probed. */
		if (c->backup.set && c->backup.repository.v != NULL)
			reads[2 * (o->n_clusters - 1)] = observe_repo_start(c->backup.repository.v, false);
		if (c->bootstrap.set && c->bootstrap.repository.v != NULL)
			reads[2 * (o->n_clusters - 1) + 1] = observe_repo_start(c->bootstrap.repository.v, true);
	}
	/* A standby cluster's source chain: its nodes only (plan_standby.c). */
	o->sources = arena_calloc(a, t->n_clusters ? t->n_clusters : 1, sizeof *o->sources);
	for (const PgcCluster *c = o_opts.only_cluster != NULL ? topology_cluster(t, o_opts.only_cluster) : NULL;
	     c != NULL && c->standby_of.set && o->n_sources < t->n_clusters;) {
		PgcObsCluster *oc;

		c = topology_cluster(t, c->standby_of.v);
		if (c == NULL || strcmp(c->name, o_opts.only_cluster) == 0 || source_seen(o, c->name))
			break; /* validation refuses these */
		oc = &o->sources[o->n_sources++];
		add_probes(a, &lock, t, c, &o_opts, oc, probes, &k);
	}
	/* Its own standby clusters, nodes only: one promoted by a region failover
	 * fences it (reconcile/standby/region_loss.h). */
	for (size_t i = 0; o_opts.only_cluster != NULL && i < t->n_clusters; i++) {
		const PgcCluster *c = &t->clusters[i];

		if (!c->standby_of.set || strcmp(c->standby_of.v, o_opts.only_cluster) != 0 ||
		    strcmp(c->name, o_opts.only_cluster) == 0 || source_seen(o, c->name) ||
		    o->n_sources >= t->n_clusters)
			continue;
		add_probes(a, &lock, t, c, &o_opts, &o->sources[o->n_sources++], probes, &k);
	}
	observe_pool_run(probes, k, &lock);
	pthread_mutex_destroy(&lock);
	for (size_t i = 0; i < o->n_clusters; i++) {
		if (reads[2 * i] != NULL)
			o->clusters[i].repository = observe_repo_finish(a, reads[2 * i], &deadline);
		if (reads[2 * i + 1] != NULL)
			o->clusters[i].restore_source = observe_repo_finish(a, reads[2 * i + 1], &deadline);
		observe_datadog(a, topology_cluster(t, o->clusters[i].name), &o->clusters[i],
				o_opts.connect_timeout_s, o_opts.query_timeout_ms);
		/* A standby cluster's front doors hold its source's roles. */
		observe_pgpool(a, topology_roles_view(a, t, topology_cluster(t, o->clusters[i].name)),
			       &o->clusters[i], o_opts.connect_timeout_s, o_opts.query_timeout_ms);
		o->clusters[i].haproxy = observe_haproxy(a, topology_cluster(t, o->clusters[i].name));
		o->clusters[i].pgbouncer = observe_pgbouncer(
		    a, topology_roles_view(a, t, topology_cluster(t, o->clusters[i].name)),
		    &o->clusters[i], o_opts.connect_timeout_s, o_opts.query_timeout_ms);
	}
	return o;
}

void observe_free(PgcObserved *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n_clusters; i++) {
		observe_repo_free(o->clusters[i].repository);
		observe_repo_free(o->clusters[i].restore_source);
	}
	arena_free(o->arena);
}
