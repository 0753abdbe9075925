/*
 * reconcile/engine/journal.h - the apply journal: STATE_DIR/journal.jsonl, one JSON
 * object per line, appended and fsynced before the next action starts, so
 * that after a crash the journal tells what was being done.
 *
 * Each action gives two lines: "event":"start" when it begins and
 * "event":"end" with its outcome ("ok", "failed", "skipped"). Fields:
 *   ts           ISO 8601 UTC with milliseconds
 *   run          identifies one apply run (start time and pid)
 *   cluster, node, action (the action id), kind (plan_action_name),
 *   impact       (plan_impact_name)
 *   event        start | end
 *   outcome      end only: ok | failed | skipped
 *   duration_ms  end only
 *   error        end only, when failed or skipped: one line, never a secret
 * and one "event":"source" line per run (journal_source) with the topology's
 * source: kind, repository, ref, commit, path, digest (no action fields).
 *
 * Lines are written with one write() on a descriptor opened with O_APPEND,
 * so concurrent writers (there should be none: the state lock) cannot
 * interleave within a line.
 */
#ifndef PGC_RECONCILE_ENGINE_JOURNAL_H
#define PGC_RECONCILE_ENGINE_JOURNAL_H

#include <jansson.h>

#include "reconcile/engine/plan.h"
#include "schema/source.h"

typedef struct PgcJournal PgcJournal;

typedef enum {
	JOURNAL_OK,
	JOURNAL_FAILED,
	JOURNAL_SKIPPED,
} PgcJournalOutcome;

/*
 * journal_open - opens (creating it, and state_dir with mode 0700, when
 * missing) state_dir/journal.jsonl for appending; the file is 0600.
 * Returns NULL on failure (reported). Close with journal_close().
 */
PgcJournal *journal_open(const char *state_dir);
void journal_close(PgcJournal *j);

/* journal_path - the journal file's path; owned by j. */
const char *journal_path(const PgcJournal *j);

/* journal_start - the "start" line of an action. 0, or -1 (reported). */
int journal_start(PgcJournal *j, const PgcAction *a);

/*
 * journal_end - the "end" line of an action; error may be NULL and must not
 * hold a secret (only its first line is kept). 0, or -1 (reported).
 */
int journal_end(PgcJournal *j, const PgcAction *a, PgcJournalOutcome outcome, double duration_ms,
		const char *error);

/*
 * journal_source - a line naming where the desired state of this run comes
 * from, written before its actions: "event":"source" with kind, path,
 * digest and, for git, repository, ref, commit (and signer when verified).
 * 0, or -1 (reported).
 */
int journal_source(PgcJournal *j, const PgcSource *src);

/*
 * journal_event - a line of ts, run (unless event has one) and event's own
 * fields in their order (switchover, failover, rejoin records). event stays
 * the caller's. 0, or -1 (reported).
 */
int journal_event(PgcJournal *j, json_t *event);

/* journal_outcome_name - "ok", "failed", "skipped". */
const char *journal_outcome_name(PgcJournalOutcome outcome);

#endif
