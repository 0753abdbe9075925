/*
 * reconcile/backup/restore_conf.h - the configuration a point-in-time
 * restore (restore.h) runs with: pgconverge.conf while the node is being
 * restored, and the facts of the declared target. Pure.
 */
#ifndef PGC_RECONCILE_BACKUP_RESTORE_CONF_H
#define PGC_RECONCILE_BACKUP_RESTORE_CONF_H

#include <stdbool.h>

#include "common/arena.h"
#include "schema/topology.h"

/*
 * restore_managed_conf - pgconverge.conf while node n of c is being
 * restored: plan_conf_params() plus restore_command (wal-fetch from the
 * source repository), recovery_target_timeline 'latest', the target
 * (recovery_target_time, _lsn, _name, _xid, or recovery_target
 * 'immediate') and recovery_target_action when a target is set. Owned by a.
 */
const char *restore_managed_conf(PgcArena *a, const PgcCluster *c, const PgcNode *n);

/* restore_has_target - a recovery target is declared (immediate or target_*). */
bool restore_has_target(const PgcBootstrap *b);
/* restore_pauses - a target is declared and target_action is pause: the restore ends paused. */
bool restore_pauses(const PgcBootstrap *b);

/* restore_conf_is_restore - true when a managed file's content is a restore's (it sets recovery_target_timeline). */
bool restore_conf_is_restore(PgcArena *a, const char *content);

/* restore_conf_param_cmp - qsort() order of PgcConfParam: by name, case-insensitive. */
int restore_conf_param_cmp(const void *x, const void *y);

#endif
