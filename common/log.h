/*
 * common/log.h - the process-wide logger: every message pgconverge writes to
 * stderr goes through here.
 *
 * Levels, most to least severe: error, warn, info, debug. The default level
 * is info; -v raises it to debug, -q lowers it to warn, -qq to error
 * (log_adjust_level(+1 / -1 per flag)).
 *
 * Formats:
 *   text  "2026-11-26T09:41:00Z info: message"           output not a terminal
 *         "info: message"                                output is a terminal
 *         The timestamp (UTC, seconds) is written when the output is not a
 *         terminal, since a person at a terminal sees when things happen and
 *         a log file or journal needs it; log_set_timestamps() overrides.
 *         The level word is "error", "warning", "info" or "debug".
 *         A message's further lines (e.g. "hint: ...") are indented by two
 *         spaces; optional fields follow the first line as key=value.
 *   json  one object per line:
 *         {"ts":"2026-11-26T09:41:00.123Z","level":"info","msg":"...",
 *          "hint":"...", <fields>...}
 *         level is "error", "warn", "info" or "debug"; ts has milliseconds;
 *         a final "\nhint: ..." part of the message becomes the "hint" field;
 *         fields are strings. Bytes that are not valid UTF-8 become U+FFFD.
 *
 * Messages follow STYLE.md: lowercase, no full stop, names in quotes, then
 * the cause, then an optional "\nhint: ..." line.
 *
 * Colour (text format only) is off by default; the caller turns it on when
 * stderr is a terminal, --no-color was not given and NO_COLOR is unset.
 *
 * Every function is thread-safe: a line is formatted and written under one
 * mutex, so lines from parallel probes never interleave. Never call the
 * logger between fork() and exec() (common/proc.c does not).
 */
#ifndef PGC_COMMON_LOG_H
#define PGC_COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

typedef enum {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
} PgcLogLevel;

typedef enum {
	LOG_FORMAT_TEXT = 0,
	LOG_FORMAT_JSON = 1,
} PgcLogFormat;

/* log_set_level - messages less severe than level are dropped. */
void log_set_level(PgcLogLevel level);
PgcLogLevel log_get_level(void);
/* log_adjust_level - +1 per -v, -1 per -q; clamped to error..debug. */
void log_adjust_level(int delta);
/* log_enabled - true when a message of this level would be written; lets a
 * caller skip building an expensive message (e.g. a quoted command line). */
bool log_enabled(PgcLogLevel level);

void log_set_format(PgcLogFormat format);
/* log_parse_format - "text" or "json" (the --log-format value); 0, or -1 when unknown. */
int log_parse_format(const char *name, PgcLogFormat *format);
void log_set_color(bool on);
/* log_set_timestamps - force the text-format timestamp on or off (default: on
 * unless the output is a terminal). Reset by log_set_output(). */
void log_set_timestamps(bool on);
/* log_set_output - where lines go (default stderr; NULL restores stderr).
 * The FILE stays the caller's: the logger never closes it. */
void log_set_output(FILE *out);

/*
 * log_capture_begin - for tests: until log_capture_end(), lines go to an
 * in-memory buffer as plain text (no timestamp, no colour, text format),
 * whatever the level filter says about them is unchanged.
 * log_capture_end - stops capturing and returns the captured text,
 * malloc'd (caller frees; "" when nothing was logged).
 */
void log_capture_begin(void);
char *log_capture_end(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_msg(PgcLogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(PgcLogLevel level, const char *fmt, va_list ap);

/*
 * log_fields - a message with extra key/value fields: fields is a
 * NULL-terminated array of alternating keys and values, e.g.
 *   const char *f[] = {"cluster", "main", "node", "pg1", NULL};
 *   log_fields(LOG_INFO, f, "server started");
 * Keys are plain identifiers; a NULL value is written as "".
 */
void log_fields(PgcLogLevel level, const char *const *fields, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
