/*
 * reconcile/pgbouncer/pgbouncer_conf.h - pgbouncer.ini rendered from the
 * topology, and the reading of one back. Pure: same cluster, same bytes,
 * so that a converged pooler plans to zero actions.
 *
 * The ini holds no secret: authentication is scram-sha-256 against
 * userlist.txt (the SCRAM verifiers the primary holds, written at apply
 * time; observe_pgbouncer.h), and PgBouncer logs in to the server with the
 * client's SCRAM keys.
 *
 * Memory: results in the arena given.
 */
#ifndef PGC_RECONCILE_PGBOUNCER_PGBOUNCER_CONF_H
#define PGC_RECONCILE_PGBOUNCER_PGBOUNCER_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "schema/topology.h"

/*
 * pgbouncer_ini - the pgbouncer.ini of c's pooler: [databases] holds every
 * declared database and "postgres", each pointing at c->primary.v (the
 * live primary when c is the planner's live cluster); [pgbouncer] the
 * listener, the pool settings, and the files in pooler.pgbouncer.dir.
 */
const char *pgbouncer_ini(PgcArena *a, const PgcCluster *c);

/* One "key = value" line of an ini, key prefixed with its section: "pgbouncer.listen_port". */
typedef struct {
	const char *key;
	const char *value;
} PgcIniEntry;

/* pgbouncer_ini_parse - the entries of ini (NULL: none), in file order; their number. */
size_t pgbouncer_ini_parse(PgcArena *a, const char *ini, PgcIniEntry **out);

/* pgbouncer_ini_get - the value of key ("section.key") in entries, or NULL. */
const char *pgbouncer_ini_get(const PgcIniEntry *e, size_t n, const char *key);

/*
 * pgbouncer_needs_restart - true when key ("pgbouncer.listen_port" ...) is
 * a setting PgBouncer does not take on RELOAD (listener, socket folder,
 * pidfile, user).
 */
bool pgbouncer_needs_restart(const char *key);

#endif
