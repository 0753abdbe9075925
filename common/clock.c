/*
 * common/clock.c - monotonic milliseconds and sleeps (clock.h).
 */
#include "common/clock.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

double clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void clock_sleep_ms(double ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

const char *clock_utc_format(time_t sec, long msec, PgcUtcFormat fmt, char *buf, size_t size)
{
	struct tm tm;
	size_t n = 0;

	if (size == 0)
		return buf;
	if (gmtime_r(&sec, &tm) != NULL) {
		if (fmt == CLOCK_UTC_BASIC)
			n = strftime(buf, size, "%Y%m%dT%H%M%SZ", &tm);
		else
			n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	}
	if (n == 0) {
		snprintf(buf, size, "%lld", (long long)sec);
		return buf;
	}
	if (fmt == CLOCK_UTC_ISO_MS)
		snprintf(buf + n, size - n, ".%03ldZ", msec);
	else if (fmt == CLOCK_UTC_ISO)
		snprintf(buf + n, size - n, "Z");
	return buf;
}

const char *clock_utc_now(PgcUtcFormat fmt, char *buf, size_t size)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return clock_utc_format(ts.tv_sec, ts.tv_nsec / 1000000, fmt, buf, size);
}

const char *clock_age_text(double s, const char *unknown, char *buf, size_t size)
{
	if (s < 0)
		snprintf(buf, size, "%s", unknown);
	else if (s >= 86400)
		snprintf(buf, size, "%ldd %ldh ago", (long)s / 86400, (long)s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, size, "%ldh %ldm ago", (long)s / 3600, (long)s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, size, "%ldm ago", (long)s / 60);
	else
		snprintf(buf, size, "%lds ago", (long)s);
	return buf;
}
