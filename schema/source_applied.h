/*
 * schema/source_applied.h - the last applied source and the no-rollback
 * rule.
 *
 * Last applied. apply writes STATE_DIR/applied.json (fs_write_atomic) after
 * a run that converged or was only held back by policy; apply and
 * reconcile refuse a git commit that does not descend from it
 * (source_check_rewind) unless --allow-rewind.
 *
 * Errors: reported with log_error() and a hint.
 */
#ifndef PGC_SCHEMA_SOURCE_APPLIED_H
#define PGC_SCHEMA_SOURCE_APPLIED_H

#include <stdbool.h>
#include <time.h>

#include "schema/source.h"

/* The state file that records the last applied source. */
#define SOURCE_APPLIED_FILE "applied.json"

/*
 * source_applied_read - the last applied source of state_dir into src
 * (reset first), its time into *applied_at and whether that apply converged
 * into *converged (may be NULL). 0; 1 when none was recorded; -1 when the
 * file cannot be read or parsed (reported).
 */
int source_applied_read(const char *state_dir, PgcSource *src, time_t *applied_at,
			bool *converged);

/*
 * source_applied_write - records src as applied at `at` (converged false:
 * some actions were held back by policy). 0, or -1 (reported).
 */
int source_applied_write(const char *state_dir, const PgcSource *src, time_t at, bool converged);

/*
 * source_check_rewind - for a git source: 0 when nothing was applied yet,
 * when the last applied source was not git, or when src's commit descends
 * from the last applied commit; otherwise -1 with an error naming both
 * commits and a hint (a force-push, or a stale ref). With allow_rewind, a
 * warning instead, and 0. -1 also when the state cannot be read.
 */
int source_check_rewind(const char *state_dir, const PgcSource *src, bool allow_rewind);

#endif
