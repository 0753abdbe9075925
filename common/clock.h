/*
 * common/clock.h - the monotonic clock for deadlines and durations, a
 * sleep, so that every wait in pgconverge counts time the same way; and
 * the one way wall-clock times are written (ISO 8601, UTC).
 */
#ifndef PGC_COMMON_CLOCK_H
#define PGC_COMMON_CLOCK_H

#include <stddef.h>
#include <time.h>

/* clock_ms - CLOCK_MONOTONIC in milliseconds (not wall time: never jumps). */
double clock_ms(void);

/* clock_sleep_ms - sleeps ms milliseconds (nothing when ms <= 0), the whole of it even across signals. */
void clock_sleep_ms(double ms);

/* The ISO 8601 forms of a UTC time that pgconverge writes. */
typedef enum {
	CLOCK_UTC_ISO,    /* 2026-11-26T09:41:00Z: journals, state files, messages */
	CLOCK_UTC_ISO_MS, /* 2026-11-26T09:41:00.123Z: log lines, journal events */
	CLOCK_UTC_BASIC,  /* 20261126T094100Z: in file and folder names, ids */
} PgcUtcFormat;

/* A buffer this large holds every PgcUtcFormat. */
#define CLOCK_UTC_SIZE 32

/*
 * clock_utc_format - the time sec (+ msec milliseconds, shown only by
 * CLOCK_UTC_ISO_MS) in UTC as fmt says, into buf; returns buf. A time
 * gmtime_r() cannot break down is written as the number of seconds.
 */
const char *clock_utc_format(time_t sec, long msec, PgcUtcFormat fmt, char *buf, size_t size);

/* clock_utc_now - the wall-clock time now (CLOCK_REALTIME), as clock_utc_format() writes it. */
const char *clock_utc_now(PgcUtcFormat fmt, char *buf, size_t size);

/*
 * clock_age_text - an age of s seconds as "42s ago", "5m ago", "3h 20m ago"
 * or "2d 4h ago"; `unknown` when s is negative. Returns buf.
 */
const char *clock_age_text(double s, const char *unknown, char *buf, size_t size);

#endif
