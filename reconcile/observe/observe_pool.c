/*
 * reconcile/observe/observe_pool.c - the pool of threads that probes the
 * nodes (observe_pool.h).
 */
#include "reconcile/observe/observe_pool.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "reconcile/observe/observe_files.h"
#include "reconcile/observe/observe_parse.h"
#include "reconcile/observe/observe_pgbadger.h"
#include "reconcile/observe/observe_sql.h"
#include "reconcile/observe/observe_stats.h"
#include "reconcile/transport/host.h"

#define OBS_MAX_THREADS 32

static void probe_node(Probe *p)
{
	PgcObsNode *o = p->out;
	PgcHost *h = NULL;

	o->local = host_is_local(p->node->host.v);
	o->wal_receiver_last_msg_age_s = -1;
	o->connections = -1;
	o->replay_delay_s = -1;
	if (o->local)
		h = host_for(p->node->host.v, p->c->os_user.v);
	if (h != NULL) {
		observe_files_probe(p, h);
		if (p->c->monitoring.pgbadger.set) {
			/* Read outside the model's lock, then copied into the model. */
			PgcObsPgbadger *pb = observe_pgbadger_read(p->scratch, h, p->c, p->node);

			pthread_mutex_lock(p->lock);
			o->pgbadger = observe_pgbadger_copy(p->arena, pb);
			pthread_mutex_unlock(p->lock);
		}
	} else {
		o->local = false;
		o->dir_error = m_printf(p, "host \"%s\" is not this machine: its files are not "
					"observed", p->node->host.v);
	}
	if (p->opts->stats)
		observe_stats_begin(p, h);
	host_free(h);
	observe_sql_probe(p);
	log_debug("observed node \"%s\": data directory %s, %s", p->label,
		  observe_dir_state_name(o->dir_state), o->reachable ? "reachable" : "not reachable");
}

/* ---- the pool ------------------------------------------------------------- */

typedef struct {
	Probe *probes;
	size_t n;
	size_t next;              /* under lock */
	pthread_mutex_t *lock;
} Pool;

static void *worker(void *arg)
{
	Pool *pool = arg;

	for (;;) {
		Probe *p;

		pthread_mutex_lock(pool->lock);
		p = pool->next < pool->n ? &pool->probes[pool->next++] : NULL;
		pthread_mutex_unlock(pool->lock);
		if (p == NULL)
			return NULL;
		p->scratch = arena_new();
		p->label = arena_printf(p->scratch, "%s/%s", p->c->name, p->node->name);
		p->major = (int)p->c->pg_version.v;
		probe_node(p);
		arena_free(p->scratch);
		p->scratch = NULL;
	}
}

/* observe_pool_run - runs every probe; the calling thread works too. */
void observe_pool_run(Probe *probes, size_t n, pthread_mutex_t *lock)
{
	Pool pool = {probes, n, 0, lock};
	pthread_t threads[OBS_MAX_THREADS];
	size_t started = 0;

	while (started + 1 < n && started < OBS_MAX_THREADS) {
		int rc = pthread_create(&threads[started], NULL, worker, &pool);

		if (rc != 0) {
			/* Fewer threads only means less parallelism. */
			log_debug("could not start a probe thread: %s", strerror(rc));
			break;
		}
		started++;
	}
	worker(&pool);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
}
