/*
 * tests/unit/test_plan_compat.c - plans saved by earlier pgconverge versions
 * (tests/integration/fixtures/plan-full-v1.json and -v2.json: the offline
 * plans of the .yaml beside each, format_version 1; v2 adds the poolers,
 * balancers and monitoring actions) still load, every action kind by its
 * name, and save again to the same JSON. Run from the repository root, or
 * set PGC_FIXTURES_DIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "reconcile/engine/action.h"
#include "reconcile/engine/plan.h"

static json_t *load_fixture(const char *name)
{
	const char *dir = getenv("PGC_FIXTURES_DIR");
	char path[1024];
	json_error_t e;
	json_t *j;

	snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/integration/fixtures", name);
	j = json_load_file(path, 0, &e);
	if (j == NULL)
		fail_msg("cannot read \"%s\": %s (run from the repository root)", path, e.text);
	return j;
}

static void test_saved_plan_loads_and_saves_the_same(void **state)
{
	json_t *j = load_fixture(*state), *k, *actions = json_object_get(j, "actions");
	char err[512], why[512];
	PgcPlan *p, *q;
	size_t i;

	assert_int_equal(json_integer_value(json_object_get(j, "format_version")),
			 PLAN_FORMAT_VERSION);
	p = plan_from_json(j, err, sizeof err);
	if (p == NULL)
		fail_msg("plan_from_json: %s", err);
	assert_int_equal(p->n_actions, json_array_size(actions));
	assert_true(p->n_actions > 20);
	for (i = 0; i < p->n_actions; i++) {
		const char *name = json_string_value(
		    json_object_get(json_array_get(actions, i), "action"));

		assert_non_null(name);
		assert_string_equal(plan_action_name(p->actions[i].kind), name);
		assert_non_null(action_def(p->actions[i].kind));
	}
	k = plan_to_json(p);
	assert_true(json_equal(j, k));
	q = plan_from_json(k, err, sizeof err);
	assert_non_null(q);
	assert_int_equal(plan_compare_actions(p, q, why, sizeof why), 0);
	plan_free(q);
	plan_free(p);
	json_decref(k);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_prestate(test_saved_plan_loads_and_saves_the_same, "plan-full-v1.json"),
	    cmocka_unit_test_prestate(test_saved_plan_loads_and_saves_the_same, "plan-full-v2.json"),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
