/*
 * tests/unit/test_common.c - the small shared helpers of common/: array
 * growth in an arena, UTC timestamps, the folder part of a path,
 * abort-on-failure allocation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

static void test_arena_grow(void **state)
{
	PgcArena *a = arena_new();
	int *items = NULL, *before;
	size_t n = 0, cap = 0, i;

	(void)state;
	for (i = 0; i < 100; i++) {
		items = arena_grow(a, items, n, &cap, 4, sizeof(*items));
		items[n++] = (int)i;
		assert_true(n <= cap);
	}
	assert_int_equal(cap, 128); /* 4, 8, 16, 32, 64, 128 */
	for (i = 0; i < n; i++)
		assert_int_equal(items[i], (int)i);
	/* Room left: the same array comes back. */
	before = items;
	cap = 200;
	items = arena_grow(a, items, n, &cap, 4, sizeof(*items));
	assert_ptr_equal(items, before);
	assert_int_equal(cap, 200);
	/* Grown elements past n are zeroed. */
	cap = n;
	items = arena_grow(a, items, n, &cap, 4, sizeof(*items));
	assert_int_equal(cap, 200);
	assert_int_equal(items[n], 0);
	assert_int_equal(items[99], 99);
	arena_free(a);
}

static void test_utc_format(void **state)
{
	char buf[CLOCK_UTC_SIZE];
	time_t t = 1795686060; /* 2026-11-26T09:41:00Z */

	(void)state;
	assert_string_equal(clock_utc_format(t, 0, CLOCK_UTC_ISO, buf, sizeof buf),
			    "2026-11-26T09:41:00Z");
	assert_string_equal(clock_utc_format(t, 7, CLOCK_UTC_ISO_MS, buf, sizeof buf),
			    "2026-11-26T09:41:00.007Z");
	assert_string_equal(clock_utc_format(t, 999, CLOCK_UTC_BASIC, buf, sizeof buf),
			    "20261126T094100Z");
	assert_string_equal(clock_utc_format(0, 0, CLOCK_UTC_ISO, buf, sizeof buf),
			    "1970-01-01T00:00:00Z");
}

static void test_utc_now(void **state)
{
	char buf[CLOCK_UTC_SIZE];

	(void)state;
	assert_int_equal(strlen(clock_utc_now(CLOCK_UTC_ISO, buf, sizeof buf)), 20);
	assert_int_equal(buf[10], 'T');
	assert_int_equal(buf[19], 'Z');
	assert_int_equal(strlen(clock_utc_now(CLOCK_UTC_ISO_MS, buf, sizeof buf)), 24);
	assert_int_equal(buf[19], '.');
	assert_int_equal(strlen(clock_utc_now(CLOCK_UTC_BASIC, buf, sizeof buf)), 16);
}

static void test_path_dir(void **state)
{
	static const char *const cases[][2] = {
		{"a/b/c.yaml", "a/b"}, {"c.yaml", "."},  {"/c.yaml", "/"},
		{"a//c", "a"},         {"/a/b", "/a"},   {"//c", "/"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = fs_path_dir(cases[i][0]);

		assert_string_equal(d, cases[i][1]);
		free(d);
	}
}

static void test_xalloc(void **state)
{
	char *s;

	(void)state;
	assert_null(xstrdup(NULL));
	s = xstrdup("abc");
	assert_string_equal(s, "abc");
	free(s);
	s = xasprintf("%s-%d", "x", 42);
	assert_string_equal(s, "x-42");
	free(s);
	free(xmalloc(16));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_grow),
		cmocka_unit_test(test_utc_format),
		cmocka_unit_test(test_utc_now),
		cmocka_unit_test(test_path_dir),
		cmocka_unit_test(test_xalloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
