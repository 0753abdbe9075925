/*
 * tests/unit/test_maintenance.c - maintenance_window_next_open(): when a
 * restart held back by the maintenance policy may run, as reconcile
 * reports it in its status file. Checked against exact moments and
 * against a minute-by-minute walk of maintenance_window_open().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reconcile/engine/plan.h"
#include "reconcile/postgres/plan_conf.h"

/* 2026-11-29 is a Sunday. */
#define SAT_1200_UTC ((time_t)1795867200) /* 2026-11-28 12:00:00 UTC */
#define SUN_0200_UTC ((time_t)1795917600) /* 2026-11-29 02:00:00 UTC */
#define SUN_0300_UTC ((time_t)1795921200)
#define SUN_0500_UTC ((time_t)1795928400)
#define NEXT_SUN_0200_UTC ((time_t)1796522400) /* 2026-12-06 02:00:00 UTC */
#define MON_2200_UTC ((time_t)1796076000)      /* 2026-11-30 22:00:00 UTC */

static PgcMaintenance window(unsigned days, int start_min, int end_min, const char *tz)
{
	PgcMaintenance m = {.restart = RESTART_WINDOW, .days_mask = days, .start_min = start_min,
			    .end_min = end_min, .tz = tz};
	return m;
}

/* walk - the first minute-aligned moment >= now at which the window is open, or -1. */
static time_t walk(const PgcMaintenance *m, time_t now, int days)
{
	time_t t;

	if (maintenance_window_open(m, now))
		return now;
	for (t = now - now % 60 + 60; t < now + (time_t)days * 86400; t += 60)
		if (maintenance_window_open(m, t))
			return t;
	return (time_t)-1;
}

static void test_next_open_utc(void **state)
{
	PgcMaintenance m = window(1u << 0, 120, 240, "UTC"); /* Sun 02:00-04:00 UTC */

	(void)state;
	assert_int_equal(maintenance_window_next_open(&m, SUN_0300_UTC), SUN_0300_UTC); /* open */
	assert_int_equal(maintenance_window_next_open(&m, SAT_1200_UTC), SUN_0200_UTC);
	assert_int_equal(maintenance_window_next_open(&m, SUN_0200_UTC - 30), SUN_0200_UTC);
	assert_int_equal(maintenance_window_next_open(&m, SUN_0500_UTC), NEXT_SUN_0200_UTC);
	/* 04:00 is out: the next one is a week later. */
	assert_int_equal(maintenance_window_next_open(&m, SUN_0200_UTC + 7200), NEXT_SUN_0200_UTC);
	m.tz = NULL; /* no zone means UTC */
	assert_int_equal(maintenance_window_next_open(&m, SAT_1200_UTC), SUN_0200_UTC);
}

static void test_next_open_past_midnight(void **state)
{
	/* Mon-Fri 22:00-06:00: Saturday 05:00 is still Friday's window. */
	PgcMaintenance m = window(0x3eu, 22 * 60, 6 * 60, "UTC");

	(void)state;
	assert_int_equal(maintenance_window_next_open(&m, SAT_1200_UTC - 7 * 3600),
			 SAT_1200_UTC - 7 * 3600);
	assert_int_equal(maintenance_window_next_open(&m, SAT_1200_UTC), MON_2200_UTC);
	assert_int_equal(maintenance_window_next_open(&m, SUN_0500_UTC), MON_2200_UTC);
}

static void test_next_open_zone(void **state)
{
	PgcMaintenance m = window(1u << 0, 120, 240, "Europe/Paris");

	(void)state;
	setenv("TZ", "America/New_York", 1);
	/* Sunday 06:00 in Paris (UTC+1): next Sunday 02:00 Paris = 01:00 UTC. */
	assert_int_equal(maintenance_window_next_open(&m, SUN_0500_UTC), NEXT_SUN_0200_UTC - 3600);
	/* 2027-03-28: Paris skips 02:00-03:00. A window from 02:30 opens at 03:00 CEST. */
	m.start_min = 150;
	assert_int_equal(maintenance_window_next_open(&m, (time_t)1806148800), (time_t)1806195600);
	assert_int_equal(walk(&m, (time_t)1806148800, 8), (time_t)1806195600);
	/* 02:00-02:45 does not exist that day: the next is a week later (CEST, UTC+2). */
	m.start_min = 120;
	m.end_min = 165;
	assert_int_equal(maintenance_window_next_open(&m, (time_t)1806148800),
			 (time_t)1806195600 + 7 * 86400 - 3600);
	assert_string_equal(getenv("TZ"), "America/New_York");
	unsetenv("TZ");
}

static void test_next_open_policies(void **state)
{
	PgcMaintenance m = window(1u << 0, 120, 240, "UTC");

	(void)state;
	m.restart = RESTART_ALWAYS;
	assert_int_equal(maintenance_window_next_open(&m, SUN_0500_UTC), SUN_0500_UTC);
	m.restart = RESTART_NEVER;
	assert_int_equal(maintenance_window_next_open(&m, SUN_0500_UTC), (time_t)-1);
	assert_int_equal(maintenance_window_next_open(NULL, SUN_0500_UTC), (time_t)-1);
	m = window(0, 120, 240, "UTC"); /* not parsed */
	assert_int_equal(maintenance_window_next_open(&m, SUN_0500_UTC), (time_t)-1);
}

/* Whatever the window and the moment: the first open minute, as a walk finds it. */
static void test_next_open_agrees_with_walk(void **state)
{
	static const struct {
		unsigned days;
		int start, end;
	} windows[] = {
		{1u << 0, 120, 240}, {0x7fu, 0, 30},   {0x3eu, 22 * 60, 6 * 60},
		{0x41u, 23 * 60 + 59, 1}, {1u << 3, 600, 601}, {0x7fu, 1380, 60},
	};
	size_t w;
	int k;

	(void)state;
	for (w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
		PgcMaintenance m = window(windows[w].days, windows[w].start, windows[w].end, "UTC");

		for (k = 0; k < 40; k++) {
			time_t now = SAT_1200_UTC + (time_t)k * 15013; /* odd steps: any second */

			assert_int_equal(maintenance_window_next_open(&m, now), walk(&m, now, 9));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_open_utc),
		cmocka_unit_test(test_next_open_past_midnight),
		cmocka_unit_test(test_next_open_zone),
		cmocka_unit_test(test_next_open_policies),
		cmocka_unit_test(test_next_open_agrees_with_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
