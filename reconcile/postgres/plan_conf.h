/*
 * reconcile/postgres/plan_conf.h - the files pgconverge owns in a data
 * directory (pgconverge.conf, pg_hba.conf, pg_ident.conf, the replica's
 * passfile), rendered from the topology, the slot names, and the
 * maintenance window test. Pure functions of the topology (and the clock
 * given): same input, same bytes, so that a converged node plans to zero
 * actions. Used by the planners and by the executors that write the same
 * files (HA, restore, drills).
 *
 * Memory: results in the arena given.
 */
#ifndef PGC_RECONCILE_POSTGRES_PLAN_CONF_H
#define PGC_RECONCILE_POSTGRES_PLAN_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/arena.h"
#include "schema/topology.h"

/*
 * maintenance_window_open - true when `now` falls in the cluster's window
 * (restart: always -> true; never -> false).
 */
bool maintenance_window_open(const PgcMaintenance *m, time_t now);

/*
 * maintenance_window_next_open - when restarts are next allowed by the
 * cluster's policy, at or after now: now itself when the window is open
 * (or restart: always); the start of the next window otherwise, to the
 * minute, in the window's zone (daylight saving included); (time_t)-1 when
 * it never opens (restart: never, or no window). Pure apart from the zone
 * files, like maintenance_window_open().
 */
time_t maintenance_window_next_open(const PgcMaintenance *m, time_t now);

/*
 * plan_managed_conf - the content pgconverge writes into a node's managed
 * include file: the node's effective settings plus the parameters
 * pgconverge owns (port, listen_addresses, primary_conninfo, ...).
 * Deterministic: same topology, same bytes. Owned by arena.
 */
const char *plan_managed_conf(PgcArena *arena, const PgcCluster *c, const PgcNode *n);
/* plan_hba_conf - the pg_hba.conf content for a node. */
const char *plan_hba_conf(PgcArena *arena, const PgcCluster *c, const PgcNode *n);

/* One parameter of a managed include file, value as written (unquoted). */
typedef struct {
	const char *name;
	const char *value;
} PgcConfParam;

/*
 * plan_conf_params - the parameters plan_managed_conf() writes for a node,
 * sorted by name; returns their number, *out owned by arena.
 */
size_t plan_conf_params(PgcArena *arena, const PgcCluster *c, const PgcNode *n, PgcConfParam **out);
/* plan_conf_render - the managed file for these parameters (already sorted). */
const char *plan_conf_render(PgcArena *arena, const PgcCluster *c, const PgcNode *n,
			     const PgcConfParam *params, size_t n_params);
/*
 * plan_conf_parse - the parameters of a managed file's content (the
 * `name = 'value'` lines; comments and blank lines skipped); returns their
 * number, *out owned by arena.
 */
size_t plan_conf_parse(PgcArena *arena, const char *content, PgcConfParam **out);
/* plan_ident_conf - pg_ident.conf: the "pgconverge" map (root and os_user to os_user). */
const char *plan_ident_conf(PgcArena *arena, const PgcCluster *c);
/* plan_slot_name - the physical slot a replica streams through: its name, '-' -> '_'. */
const char *plan_slot_name(PgcArena *arena, const char *node);

#endif
