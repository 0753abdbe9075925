/*
 * tests/unit/test_metrics.c - common/metrics.c: Prometheus families and
 * samples, label values escaped as the text format wants.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/metrics.h"

/* WRITTEN - runs stmt writing to f, a memory stream into buf (NUL-terminated; caller frees). */
#define WRITTEN(buf, len, f, stmt)                                                     \
	do {                                                                           \
		f = open_memstream(&buf, &len);                                        \
		assert_non_null(f);                                                    \
		stmt;                                                                  \
		assert_int_equal(fclose(f), 0);                                        \
	} while (0)

static void test_family(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	WRITTEN(buf, len, f, metrics_family(f, "pgconverge_x", "gauge", "what x is"));
	assert_string_equal(buf, "# HELP pgconverge_x what x is\n# TYPE pgconverge_x gauge\n");
	free(buf);
}

static void test_samples(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	WRITTEN(buf, len, f, metrics_sample(f, "pgconverge_x", NULL, "%zu", (size_t)3));
	assert_string_equal(buf, "pgconverge_x 3\n");
	free(buf);
	WRITTEN(buf, len, f,
		metrics_sample(f, "pgconverge_up", METRICS_LABELS("cluster", "main", "node", "pg1"),
			       "%d", 1));
	assert_string_equal(buf, "pgconverge_up{cluster=\"main\",node=\"pg1\"} 1\n");
	free(buf);
	WRITTEN(buf, len, f,
		metrics_sample(f, "pgconverge_age", METRICS_LABELS("path", NULL), "%.3f", 1.5));
	assert_string_equal(buf, "pgconverge_age{path=\"\"} 1.500\n");
	free(buf);
}

static void test_label_escaping(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	WRITTEN(buf, len, f,
		metrics_sample(f, "pgconverge_x", METRICS_LABELS("backup", "x\"} 1\nforged{a=\"\\"),
			       "%d", 0));
	assert_string_equal(buf, "pgconverge_x{backup=\"x\\\"} 1\\nforged{a=\\\"\\\\\"} 0\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family),
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_label_escaping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
