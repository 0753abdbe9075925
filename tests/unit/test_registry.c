/*
 * tests/unit/test_registry.c - the action registry (reconcile/registry.h):
 * every kind has a row with a name and an executor, no two rows share a
 * name, and names and kinds map both ways (what a saved plan is read with).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "reconcile/registry.h"

static void test_every_kind_has_a_row(void **state)
{
	(void)state;
	for (int k = 0; k < PLAN_ACTION_KINDS; k++) {
		const PgcActionDef *d = action_def((PgcActionKind)k);

		assert_non_null(d);
		assert_non_null(d->name);
		assert_true(d->name[0] != '\0');
		assert_non_null(d->run);
		assert_string_equal(plan_action_name((PgcActionKind)k), d->name);
	}
	assert_null(action_def((PgcActionKind)PLAN_ACTION_KINDS));
	assert_null(action_def((PgcActionKind)-1));
	assert_string_equal(plan_action_name((PgcActionKind)PLAN_ACTION_KINDS), "unknown");
}

static void test_names_unique_and_found(void **state)
{
	PgcActionKind kind;

	(void)state;
	for (int k = 0; k < PLAN_ACTION_KINDS; k++) {
		for (int j = k + 1; j < PLAN_ACTION_KINDS; j++)
			assert_string_not_equal(action_def((PgcActionKind)k)->name,
						action_def((PgcActionKind)j)->name);
		assert_int_equal(action_kind_by_name(action_def((PgcActionKind)k)->name, &kind), 0);
		assert_int_equal(kind, k);
	}
	assert_int_equal(action_kind_by_name("drop", &kind), -1);
	assert_int_equal(action_kind_by_name("unknown", &kind), -1);
	assert_int_equal(action_kind_by_name(NULL, &kind), -1);
}

static void test_names_and_flags(void **state)
{
	(void)state;
	/* The names saved plans and journals hold. */
	assert_string_equal(plan_action_name(ACT_INITDB), "initdb");
	assert_string_equal(plan_action_name(ACT_WRITE_CONFIG), "config");
	assert_string_equal(plan_action_name(ACT_RESET_AUTO_CONF), "reset-alter-system");
	assert_string_equal(plan_action_name(ACT_CREATE_REPOSITORY), "create-repository");
	/* The concurrency classes apply_order.h documents. */
	assert_true(action_has(ACT_BACKUP, ACTION_RUNS_ALONE));
	assert_true(action_has(ACT_RESTORE, ACTION_RUNS_ALONE | ACTION_REWIRES));
	assert_true(action_has(ACT_CREATE_EXTENSION, ACTION_ADDS_INSIDE));
	assert_true(action_has(ACT_CLONE, ACTION_NEEDS_HOST | ACTION_COPIES_UPSTREAM));
	assert_false(action_has(ACT_RELOAD, ACTION_NEEDS_HOST));
	assert_false(action_has(ACT_DROP_SLOT, ACTION_ADDS_INSIDE));
	assert_false(action_has((PgcActionKind)PLAN_ACTION_KINDS, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_kind_has_a_row),
	    cmocka_unit_test(test_names_unique_and_found),
	    cmocka_unit_test(test_names_and_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
