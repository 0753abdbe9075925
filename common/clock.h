/*
 * common/clock.h - the monotonic clock for deadlines and durations, and a
 * sleep, so that every wait in pgconverge counts time the same way.
 */
#ifndef PGC_COMMON_CLOCK_H
#define PGC_COMMON_CLOCK_H

/* clock_ms - CLOCK_MONOTONIC in milliseconds (not wall time: never jumps). */
double clock_ms(void);

/* clock_sleep_ms - sleeps ms milliseconds (nothing when ms <= 0), the whole of it even across signals. */
void clock_sleep_ms(double ms);

#endif
