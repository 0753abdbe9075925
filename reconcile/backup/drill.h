/*
 * reconcile/backup/drill.h - the restore drill: the executor of ACT_RESTORE
 * with target "drill", which plan_backup.c plans from a cluster's backup
 * schedule (the schedule's other executors, ACT_BACKUP and ACT_RETENTION,
 * are in backup_run.h).
 *
 * A restore drill proves that the newest base backup restores: it is
 * copied (as os_user) into a scratch folder made for it
 * ($TMPDIR, default /var/tmp: pgconverge-drill-<cluster>.XXXXXX), the copy
 * checked with pg_verifybackup, started on a free port (a bind test below
 * 32000; it listens on 127.0.0.1 and a socket in the scratch folder, and
 * its pg_hba.conf admits only os_user over that socket) with archive_mode
 * off (a drill never writes into an archive) and restore_command fetching
 * from the repository, so that it replays the archive to its end and
 * promotes; then the check query runs: backup.verify.query in the
 * cluster's first declared database, or else a count(*) of every user
 * table of every database, which reads every heap page. The server is
 * stopped, the scratch folder removed, and the outcome recorded on the
 * backup's catalog entry:
 *
 *   "drill": {"ok": true, "at": "2026-11-26T10:40:00Z", "duration_s": 12.3,
 *             "copy_s": 1.2, "replay_s": 8.0, "check_s": 0.4,
 *             "rows": 10001, "tables": 3, "replayed_to": "0/5000000",
 *             "port": 31234, "message": "3 tables, 10001 rows"}
 *
 * A failed drill is recorded the same way with ok false and what failed,
 * fails the action (apply exits 1), and shows in status and its metrics.
 * The planner drills again after backup.verify.every, and never twice in
 * one period on a backup whose drill failed.
 */
#ifndef PGC_RECONCILE_BACKUP_DRILL_H
#define PGC_RECONCILE_BACKUP_DRILL_H

#include "common/arena.h"
#include "reconcile/engine/exec.h"
#include "schema/topology.h"

int drill_run(PgcExecCtx *ctx);       /* ACT_RESTORE with target "drill" */

#endif
