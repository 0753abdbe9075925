/*
 * reconcile/standby/standby_follow.c - a standby cluster's leader follows
 * its source's new primary inside the failover or switchover
 * (standby_follow.h).
 */
#include "reconcile/standby/standby_follow.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/ha/ha.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/standby/plan_standby.h"
#include "reconcile/transport/host.h"

bool standby_follow_declared(const PgcCluster *c)
{
	return c->n_standbys > 0;
}

const PgcCluster *standby_follow_live(PgcArena *a, const PgcCluster *x, const PgcCluster *s,
				      const char *to)
{
	PgcTopology t;
	PgcCluster *cl;
	const char **live;
	size_t n;

	if (!s->standby_of.set || strcmp(s->standby_of.v, x->name) != 0 || cluster_node(x, to) == NULL)
		return NULL;
	/* The part of the topology plan_standby_live() reads: x with `to` as
	 * its live primary, s, and s's own standby clusters. */
	n = 2 + s->n_standbys;
	cl = arena_calloc(a, n, sizeof(*cl));
	live = arena_calloc(a, n, sizeof(*live));
	cl[0] = *x;
	cl[0].primary.v = arena_strdup(a, to);
	cl[1] = *s;
	for (size_t i = 0; i < s->n_standbys; i++)
		cl[2 + i] = *s->standbys[i];
	live[0] = cl[0].primary.v;
	memset(&t, 0, sizeof(t));
	t.arena = a;
	t.clusters = cl;
	t.n_clusters = n;
	return plan_standby_live(a, &t, &cl[1], NULL, live);
}

/* create_slot - the physical slot `slot` on x's node p unless it exists. 0, or -1 (reported). */
static int create_slot(const PgcCluster *x, const PgcNode *p, const char *slot)
{
	const char *params[1] = {slot};
	char err[512];
	PgcPgError e;
	PGconn *conn = ha_connect(x, p, (STANDBY_FOLLOW_QUERY_TIMEOUT_MS + 999) / 1000, err, sizeof err);
	int rc = 0;

	if (conn == NULL) {
		log_error("cannot create slot \"%s\" on the new primary \"%s/%s\": %s", slot, x->name,
			  p->name, err);
		return -1;
	}
	/* Reserves WAL at once: the standby leader needs it from its position on. */
	if (pgsql_query(conn,
			"SELECT pg_catalog.pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS "
			"(SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)",
			1, params, STANDBY_FOLLOW_QUERY_TIMEOUT_MS, NULL, &e) != 0 &&
	    strcmp(e.sqlstate, "42710") != 0 /* created meanwhile by another run */) {
		log_error("cannot create slot \"%s\" on the new primary \"%s/%s\": %s (SQLSTATE %s)",
			  slot, x->name, p->name, e.message, e.sqlstate);
		rc = -1;
	}
	PQfinish(conn);
	return rc;
}

/* follow - standby cluster s's leader streams from p, x's new primary.
 * 0 done or skipped; -1 reported. */
static int follow(PgcArena *a, const PgcCluster *x, const PgcNode *p, const PgcCluster *s)
{
	const PgcNode *l = cluster_node(s, s->primary.v);
	const PgcCluster *live;
	const char *v = NULL;
	bool changed = false;
	char err[512];
	double t0 = clock_ms();

	if (l == NULL)
		return 0;
	if (!host_is_local(l->host.v)) {
		log_info("standby leader \"%s/%s\" is on host \"%s\": the next reconcile pass there "
			 "points it at \"%s/%s\"", s->name, l->name, l->host.v, x->name, p->name);
		return 0;
	}
	if (ha_query_value(a, s, l, "SELECT pg_catalog.pg_is_in_recovery()",
			   STANDBY_FOLLOW_QUERY_TIMEOUT_MS, &v, err, sizeof err) != 0) {
		log_info("standby leader \"%s/%s\" does not answer (%s): the next reconcile pass "
			 "points it at \"%s/%s\"", s->name, l->name, err, x->name, p->name);
		return 0;
	}
	if (v == NULL || strcmp(v, "t") != 0) {
		log_info("node \"%s/%s\" takes writes: it is not pointed at \"%s/%s\"", s->name,
			 l->name, x->name, p->name);
		return 0;
	}
	live = standby_follow_live(a, x, s, p->name);
	if (live == NULL || live->standby_upstream == NULL || live->standby_slot == NULL) {
		log_error("cannot render standby leader \"%s/%s\" with upstream \"%s/%s\"", s->name,
			  l->name, x->name, p->name);
		return -1;
	}
	if (create_slot(x, p, live->standby_slot) != 0)
		return -1;
	if (ha_write_node_files(live, l, false, &changed) != 0 ||
	    (changed && ha_reload(live, l) != 0))
		return -1;
	if (changed)
		log_info("standby leader \"%s/%s\" now streams from \"%s/%s\" through slot \"%s\" "
			 "(%.0f ms)", s->name, l->name, x->name, p->name, live->standby_slot,
			 clock_ms() - t0);
	else
		log_info("standby leader \"%s/%s\" already points at \"%s/%s\"", s->name, l->name,
			 x->name, p->name);
	return 0;
}

int standby_follow_repoint(const PgcCluster *x, const char *from, const char *to)
{
	const PgcNode *p = cluster_node(x, to);
	PgcArena *a;
	int rc = 0;

	(void)from; /* its slot is the planner's to drop, once the leader let go of it */
	if (p == NULL) {
		log_error("cluster \"%s\" has no node \"%s\"", x->name, to);
		return -1;
	}
	a = arena_new();
	for (size_t i = 0; i < x->n_standbys; i++)
		if (follow(a, x, p, x->standbys[i]) != 0)
			rc = -1;
	arena_free(a);
	return rc;
}
