/*
 * schema/validate_report.h - what every validation check shares: the
 * context of one topology_validate() run and the reporting helpers.
 *
 * Internal to schema/validate*.c. Strings returned by the formatting
 * helpers belong to the topology's arena. Reports go to the run's diag
 * list, named after the topology file, with the position of the offending
 * value; nothing stops at the first problem.
 */
#ifndef PGC_SCHEMA_VALIDATE_REPORT_H
#define PGC_SCHEMA_VALIDATE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"
#include "schema/strmap.h"
#include "schema/topology.h"

typedef struct {
	PgcTopology *t;
	const PgcLoadOptions *opts;
	PgcDiagList *diags;
	const char *file;
	PgcStrMap roles; /* role name -> index in the cluster being checked */
	size_t suggest_left; /* "did you mean" comparisons still allowed */
} Val;

/* Each "did you mean" compares a word with every candidate; 30,000 unknown
 * roles among 30,000 declared ones would take minutes. Past this many
 * comparisons in one file, errors come without the suggestion. */
#define SUGGEST_BUDGET 2000000

/* val_fmt - a key path or hint, formatted into the topology's arena. */
const char *val_fmt(Val *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* val_error, val_warn - report a problem at pos; key is the value's key path, hint may be NULL. */
void val_error(Val *v, PgcPos pos, const char *key, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void val_warn(Val *v, PgcPos pos, const char *key, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* val_pos_or - a, or b when a is not in the file (a default value). */
PgcPos val_pos_or(PgcPos a, PgcPos b);

/* val_at_line - " (line N)" to point at another value, or "" when it has no position. */
const char *val_at_line(Val *v, PgcPos pos);

/* val_pos_before - a comes before b in the file. */
bool val_pos_before(PgcPos a, PgcPos b);

/* val_quoted_list - "a", "b", "c" */
const char *val_quoted_list(Val *v, const char *const *names, size_t n);

/*
 * val_did_you_mean - "did you mean \"x\"?" for the candidate closest to
 * word, or NULL when none is close or the run's suggestion budget is spent.
 */
const char *val_did_you_mean(Val *v, const char *word, const char *const *cands, size_t n);

/* val_duration - milliseconds in the largest unit that divides them exactly. */
const char *val_duration(Val *v, int64_t ms);

#endif
