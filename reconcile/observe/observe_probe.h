/*
 * reconcile/observe/observe_probe.h - the probe of one node, shared by the
 * files probe (observe_files.c), the SQL probe (observe_sql.c) and the pool
 * that runs them (observe_pool.c). Internal to reconcile/observe/.
 *
 * Memory: the model lives in the PgcObserved's arena, which is not
 * thread-safe: a probe allocates model memory with m_alloc(), m_strdup()
 * and m_printf(), under the observation's mutex, and its temporary
 * strings in its private scratch arena.
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_PROBE_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_PROBE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>

#include <libpq-fe.h>

#include "common/arena.h"
#include "reconcile/observe/observe_model.h"
#include "reconcile/pg/pgsql.h"
#include "schema/topology.h"

typedef struct {
	PgcArena *arena;          /* the model's: shared between probes, so locked */
	pthread_mutex_t *lock;
	PgcArena *scratch;        /* this probe's temporary strings */
	const PgcCluster *c;
	const PgcNode *node;
	const PgcObserveOptions *opts;
	PgcObsNode *out;
	int remote_connect_timeout_s; /* a node probed by TCP (another host's): this bound; 0 opts' */
	const char *label;        /* "cluster/node" (scratch) */
	int major;                /* the catalog version settings are normalised with */
	bool failed;              /* a query failed: the observation is incomplete */
	bool control_read;        /* pg_controldata gave the identity and checksum state */
} Probe;

static inline void *m_alloc(Probe *p, size_t count, size_t size)
{
	void *r;

	if (count == 0)
		return NULL;
	pthread_mutex_lock(p->lock);
	r = arena_calloc(p->arena, count, size);
	pthread_mutex_unlock(p->lock);
	return r;
}

static inline const char *m_strdup(Probe *p, const char *s)
{
	char *r;

	if (s == NULL)
		return NULL;
	pthread_mutex_lock(p->lock);
	r = arena_strdup(p->arena, s);
	pthread_mutex_unlock(p->lock);
	return r;
}

static inline const char *m_printf(Probe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline const char *m_printf(Probe *p, const char *fmt, ...)
{
	va_list ap;
	char *r;

	va_start(ap, fmt);
	pthread_mutex_lock(p->lock);
	r = arena_vprintf(p->arena, fmt, ap);
	pthread_mutex_unlock(p->lock);
	va_end(ap);
	return r;
}

/*
 * probe_connect - a connection to database dbname of the probed node, made
 * as the SQL probe makes its own: by the unix socket when the node's files
 * were probed here (p->out->local), by TCP otherwise (not
 * pgsql_node_conninfo(), which looks at the address alone). NULL with err
 * filled on failure; the caller PQfinish()es it.
 */
static inline PGconn *probe_connect(Probe *p, const char *dbname, char *err, size_t errlen)
{
	const char *ci =
		p->out->local
			? pgsql_conninfo_local(p->scratch, (int)p->node->port.v, p->c->os_user.v, dbname)
			: pgsql_conninfo_tcp(p->scratch, p->node->host.v, (int)p->node->port.v,
					     p->c->os_user.v, dbname);

	int timeout_s = p->opts->connect_timeout_s;

	if (!p->out->local && p->remote_connect_timeout_s > 0 &&
	    p->remote_connect_timeout_s < timeout_s)
		timeout_s = p->remote_connect_timeout_s;
	return pgsql_connect(ci, timeout_s, err, errlen);
}

#endif
