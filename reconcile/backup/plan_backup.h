/*
 * reconcile/backup/plan_backup.h - the pure planning of a cluster's backup family:
 * scheduled backups, retention, restore drills, and the point-in-time
 * restore of a bootstrap.from_backup cluster. Called by plan_build()
 * (reconcile/planner.c) for every cluster, before its per-node work; it
 * reads the observed repository (PgcObsCluster.repository and
 * .restore_source) and never does I/O.
 *
 * Actions, with their ids:
 *
 *   CLUSTER/-/create-repository  ACT_CREATE_REPOSITORY, impact none: the
 *                             observed backup.repository does not exist
 *                             (offline: the cluster's primary is created by
 *                             the plan); first of the cluster's actions, so
 *                             that apply creates it before any server is
 *                             configured to archive into it or started to
 *                             fetch from it (payload.path the repository)
 *   CLUSTER/-/backup          ACT_BACKUP, impact none: backup.base.every
 *                             says "a base backup no older than this
 *                             exists"; planned when the newest verified one
 *                             is older (or there is none), from the node
 *                             backup_pick_source() chooses (payload.upstream;
 *                             payload.path the repository, payload.target
 *                             "base")
 *   CLUSTER/-/backup:logical  the same for backup.logical.every, when a
 *                             listed database has no dump that recent
 *   CLUSTER/-/retention       ACT_RETENTION, impact none: what
 *                             backup_retention_compute() removes, one change
 *                             per base backup and dump and one per run of
 *                             WAL files (key the repository path, from what
 *                             it is, to null: removed); payload.params lists
 *                             them (catalog paths and WAL file names), and
 *                             apply removes nothing that is not in that list
 *   CLUSTER/-/restore:drill   ACT_RESTORE, impact none: backup.verify.every
 *                             with no successful drill that recent; drills
 *                             the newest verified base backup
 *                             (payload.target). Not planned in a run that
 *                             takes a base backup: the next run drills it
 *   CLUSTER/PRIMARY/restore   ACT_RESTORE: the restore (restore.h) of a
 *                             bootstrap.from_backup cluster's primary whose
 *                             data directory is absent or empty (impact
 *                             none), or a restore that is under way
 *                             (recovery.signal) to continue, or a promoted
 *                             one whose pgconverge.conf still holds the
 *                             restore's settings (impact restart, policy-
 *                             gated, when its server runs). payload.target
 *                             is the backup, payload.content the restore's
 *                             pgconverge.conf; changes name the backup, the
 *                             WAL range and the target. A target outside
 *                             the archive, an unreadable repository, or a
 *                             data directory that is not this restore's
 *                             blocks the action with the reason, before
 *                             anything is touched.
 *
 * Backups are planned only from a node that runs now; a cluster that is
 * being created or started gets them on the next pass.
 */
#ifndef PGC_RECONCILE_BACKUP_PLAN_BACKUP_H
#define PGC_RECONCILE_BACKUP_PLAN_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reconcile/observe/observe.h"
#include "reconcile/engine/builder.h"
#include "reconcile/engine/plan.h"
#include "schema/topology.h"

/*
 * plan_backup_cluster - appends cluster c's backup-family actions to the
 * plan b builds. obs NULL: the offline plan (every node absent).
 * Returns true when c is being restored: the restore owns the cluster and
 * the rest of the planner plans nothing for it until it is promoted.
 */
bool plan_backup_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObserved *obs,
			 const PgcPolicy *policy);

/*
 * plan_backup_duration - seconds as "45s", "12m", "5h 12m", "2d 3h" (an
 * age), or exactly as "24h", "7d", "90m" when whole (a declared period).
 * Into buf; returns buf.
 */
const char *plan_backup_duration(int64_t seconds, bool exact, char *buf, size_t size);

#endif
