/*
 * reconcile/backup/backup_run.h - the repository's side of apply: the
 * executors of the actions plan_backup.c plans from a cluster's backup
 * schedule, but for the restore drill (drill.h).
 *
 *   ACT_BACKUP            backup_run_scheduled: the base (or logical) backup
 *                         the schedule asks for, from the node the plan chose
 *                         (backup_take_base / backup_take_logical)
 *   ACT_RETENTION         backup_run_retention: removes what the plan listed
 *                         and the policy still removes, nothing else
 *                         (backup_retention_compute / _apply)
 *
 * Both check before they act: a backup younger than the schedule's period,
 * or nothing left to remove, is nothing to do.
 */
#ifndef PGC_RECONCILE_BACKUP_BACKUP_RUN_H
#define PGC_RECONCILE_BACKUP_BACKUP_RUN_H

#include "reconcile/engine/exec.h"

int backup_run_scheduled(PgcExecCtx *ctx); /* ACT_BACKUP */
int backup_run_retention(PgcExecCtx *ctx); /* ACT_RETENTION */

#endif
