/*
 * reconcile/backup/restore_choose.h - the base backup a point-in-time
 * restore (restore.h) starts from and the WAL range it replays, chosen from
 * what observe read in the source repository. Pure: the plan shows the
 * choice and blocks a restore that cannot reach its target, before
 * anything is touched.
 */
#ifndef PGC_RECONCILE_BACKUP_RESTORE_CHOOSE_H
#define PGC_RECONCILE_BACKUP_RESTORE_CHOOSE_H

#include <stdint.h>

#include "common/arena.h"
#include "reconcile/backup/backup_catalog.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

/* WAL segment size assumed for a catalog entry that does not record one. */
#define RESTORE_DEFAULT_SEGSIZE ((int64_t)16 * 1024 * 1024)

typedef struct {
	const PgcBaseBackupInfo *backup; /* points into the repository's catalog */
	unsigned latest_tli;      /* the timeline recovery follows ('latest' from the backup's) */
	const char *first_wal;    /* the segment holding the backup's start */
	const char *last_wal;     /* the last segment of the archive, contiguous on the timeline
	                           * path from the backup's end; NULL: none beyond the backup */
	uint64_t end_lsn;         /* where replayable WAL ends */
	int64_t end_time;         /* no WAL record before end_lsn is later (epoch seconds) */
	const char *gap;          /* the first missing segment when later ones are archived */
	const char *target;       /* "target_time ...", "target_lsn ...", "immediate", ... */
	const char *summary;      /* one sentence for the plan: backup, WAL, target */
} PgcRestoreChoice;

/*
 * restore_choose - the base backup a restore to b's target starts from and
 * the WAL it replays, from what observe read in the source repository r:
 *
 *   target_time   the newest backup that ended before it (its recorded
 *                 finished_at, to the second, plus one second: the bound of
 *                 its consistency point); refused when the archive's last
 *                 segment (contiguous from that backup) was archived before
 *                 the target: no record after it can be in the archive
 *   target_lsn    the newest backup whose stop LSN is at or before it;
 *                 refused beyond the end of the contiguous archive
 *   immediate / no target   the newest backup
 *   target_xid / target_name   the oldest backup (where the target lies is
 *                 not known without reading WAL; the oldest is always
 *                 early enough)
 *
 * Candidates: verified, not being deleted, no failed drill, on the timeline
 * path recovery will follow; all of one system identifier. Returns 0 with
 * out filled (strings in a), or -1 with *why (in a) saying why the restore
 * is refused: the plan blocks the action with it.
 */
int restore_choose(PgcArena *a, const PgcBootstrap *b, const PgcObsRepository *r,
		   PgcRestoreChoice *out, const char **why);

/*
 * restore_parse_time - a timestamp as PostgreSQL writes it, with a zone:
 * "2026-11-26 10:00:00+00", "2026-11-26T10:00:00.5Z", "... UTC", "... +05:30".
 * Returns 0 with *epoch, -1 when malformed, -2 when it has no zone (the
 * server would read it in its own TimeZone, which the plan cannot know).
 */
int restore_parse_time(const char *text, double *epoch);

/* restore_wal_name - the segment name of segno on timeline tli for segments of segsize bytes. */
const char *restore_wal_name(PgcArena *a, unsigned tli, uint64_t segno, uint64_t segsize);


#endif
