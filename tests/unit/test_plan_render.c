/*
 * tests/unit/test_plan_render.c - a hand-built plan rendered as text,
 * markdown and JSON (golden outputs), and read back from JSON.
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
#include "reconcile/engine/plan.h"

/* ---- a small plan -------------------------------------------------------- */

static PgcAction *add(PgcPlan *p, const char *id, PgcActionKind kind, const char *cluster,
		      const char *node, PgcImpact impact, const char *reason)
{
	PgcAction *a = &p->actions[p->n_actions++];

	a->id = id;
	a->kind = kind;
	a->cluster = cluster;
	a->node = node;
	a->impact = impact;
	a->reason = reason;
	return a;
}

static void chg(PgcPlan *p, PgcAction *a, const char *key, const char *from, const char *to)
{
	PgcChange *c = arena_calloc(p->arena, a->n_changes + 1, sizeof(*c));

	if (a->n_changes)
		memcpy(c, a->changes, a->n_changes * sizeof(*c));
	c[a->n_changes++] = (PgcChange){key, from, to};
	a->changes = c;
}

static void dep(PgcPlan *p, PgcAction *a, const char *id)
{
	const char **d = arena_calloc(p->arena, a->n_depends_on + 1, sizeof(char *));

	if (a->n_depends_on)
		memcpy(d, a->depends_on, a->n_depends_on * sizeof(char *));
	d[a->n_depends_on++] = id;
	a->depends_on = d;
}

static PgcPlan *sample_plan(void)
{
	PgcArena *arena = arena_new();
	PgcPlan *p = arena_calloc(arena, 1, sizeof(*p));
	PgcAction *a;

	p->arena = arena;
	p->actions = arena_calloc(arena, 8, sizeof(PgcAction));
	p->source_kind = "file";
	p->source_path = "pgconverge.yaml";
	p->source_digest = "sha256:9f86d081884c7d65";
	p->n_fp = 2;
	p->fp_nodes = arena_calloc(arena, 2, sizeof(char *));
	p->fp_values = arena_calloc(arena, 2, sizeof(char *));
	p->fp_nodes[0] = "main/pg1";
	p->fp_values[0] = "7441234567890123456:1:aa";
	p->fp_nodes[1] = "main/pg2";
	p->fp_values[1] = "7441234567890123456:1:bb";

	a = add(p, "main/pg1/config", ACT_WRITE_CONFIG, "main", "pg1", IMPACT_RELOAD,
		"parameter work_mem differs from the topology");
	chg(p, a, "work_mem", "4MB", "8MB");
	a->payload.path = "/srv/pg1/pgconverge.conf";
	a->payload.content = "work_mem = '8MB'\n";
	a = add(p, "main/pg1/hba", ACT_WRITE_HBA, "main", "pg1", IMPACT_RELOAD,
		"pg_hba.conf differs from the topology");
	chg(p, a, "rule", "host all all 0.0.0.0/0 trust", NULL);
	chg(p, a, "rule", NULL, "host all all 10.0.0.0/8 scram-sha-256");
	a->payload.path = "/srv/pg1/pg_hba.conf";
	a->payload.content = "host all all 10.0.0.0/8 scram-sha-256\n";
	a->payload.ident = "pgconverge root postgres\n";
	a = add(p, "main/pg1/reload", ACT_RELOAD, "main", "pg1", IMPACT_RELOAD,
		"load the changed configuration");
	dep(p, a, "main/pg1/config");
	dep(p, a, "main/pg1/hba");
	a->payload.sql = "SELECT pg_reload_conf()";
	a = add(p, "main/pg2/restart", ACT_RESTART, "main", "pg2", IMPACT_RESTART,
		"max_connections takes effect at a restart");
	chg(p, a, "max_connections", "100", "200");
	a->phase = "raise-standbys-first";
	a->blocked = true;
	a->blocked_reason = "outside the maintenance window \"Sun 02:00-04:00 UTC\"; run with "
			    "--allow-restart to restart now, or apply during the window";
	a = add(p, "main/pg1/create-role:app", ACT_CREATE_ROLE, "main", "pg1", IMPACT_NONE,
		"role \"app\" does not exist");
	chg(p, a, "password", NULL, "{env: APP_PASSWORD}");
	dep(p, a, "main/pg1/reload");
	a->payload.sql = "CREATE ROLE app WITH LOGIN PASSWORD $1";
	a->payload.target = "app";
	a->payload.secret = (PgcSecret){.kind = SECRET_ENV, .ref = "APP_PASSWORD", .set = true};
	a = add(p, "main/pg1/grant-role:readers>reporting", ACT_GRANT_ROLE, "main", "pg1",
		IMPACT_NONE, "role \"reporting\" is not a member of \"readers\"");
	a->payload.sql = "GRANT readers TO reporting";
	a->payload.target = "reporting";
	a = add(p, "reporting/rep1/create-slot:r|x", ACT_CREATE_SLOT, "reporting", "rep1",
		IMPACT_NONE, "replica \"r|x\" streams through <slot>");
	a->payload.sql = "SELECT pg_create_physical_replication_slot($1, true)";
	a->payload.params = arena_calloc(arena, 1, sizeof(char *));
	a->payload.params[0] = "r|x";
	a->payload.n_params = 1;

	p->n_orphans = 1;
	p->orphans = arena_calloc(arena, 1, sizeof(PgcOrphan));
	p->orphans[0] = (PgcOrphan){"main", "pg1", "role", "legacy",
				    "role \"legacy\" exists but is not in the topology; pgconverge "
				    "leaves it in place"};
	return p;
}

static char *render(void (*fn)(FILE *, const PgcPlan *, bool), const PgcPlan *p, bool color)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fn(f, p, color);
	fclose(f);
	return buf;
}

static void print_md(FILE *f, const PgcPlan *p, bool color)
{
	(void)color;
	plan_print_markdown(f, p);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_text(void **state)
{
	PgcPlan *p = sample_plan();
	char *out = render(plan_print_text, p, false);

	(void)state;
	assert_string_equal(
		out,
		"cluster main\n"
		"  node pg1\n"
		"    #1   config                       [reload]   parameter work_mem differs from the topology\n"
		"           work_mem: 4MB -> 8MB\n"
		"    #2   hba                          [reload]   pg_hba.conf differs from the topology\n"
		"           - host all all 0.0.0.0/0 trust\n"
		"           + host all all 10.0.0.0/8 scram-sha-256\n"
		"    #3   reload                       [reload]   load the changed configuration\n"
		"           after: #1, #2\n"
		"    #5   create-role:app                         role \"app\" does not exist\n"
		"           password: (unset) -> {env: APP_PASSWORD}\n"
		"           after: #3\n"
		"    #6   grant-role:readers>reporting            role \"reporting\" is not a member of \"readers\"\n"
		"  node pg2\n"
		"    #4   restart                      [restart]  max_connections takes effect at a restart\n"
		"           max_connections: 100 -> 200\n"
		"           phase: raise-standbys-first\n"
		"           BLOCKED: outside the maintenance window \"Sun 02:00-04:00 UTC\"; run with --allow-restart to restart now, or apply during the window\n"
		"cluster reporting\n"
		"  node rep1\n"
		"    #7   create-slot:r|x                         replica \"r|x\" streams through <slot>\n"
		"not in the topology (left in place):\n"
		"  main/pg1 role \"legacy\": role \"legacy\" exists but is not in the topology; pgconverge leaves it in place\n"
		"7 actions: 3 reload, 1 restart, 1 blocked\n");
	free(out);

	/* Colour marks impacts and blocked actions; nothing else changes. */
	out = render(plan_print_text, p, true);
	assert_non_null(strstr(out, "\033[31m[restart] \033[0m"));
	assert_non_null(strstr(out, "\033[33m[reload]  \033[0m"));
	assert_non_null(strstr(out, "\033[1;31mBLOCKED: outside"));
	assert_non_null(strstr(out, "7 actions: 3 reload, 1 restart, 1 blocked\n"));
	free(out);
	plan_free(p);
}

static void test_text_empty(void **state)
{
	PgcArena *arena = arena_new();
	PgcPlan *p = arena_calloc(arena, 1, sizeof(*p));
	char *out;

	(void)state;
	p->arena = arena;
	out = render(plan_print_text, p, true);
	assert_string_equal(out, "no changes: the live state matches the topology\n");
	free(out);
	out = render(print_md, p, false);
	assert_string_equal(out, "### pgconverge plan\n\n"
				 "**no changes: the live state matches the topology**\n");
	free(out);
	plan_free(p);
}

static void test_markdown(void **state)
{
	PgcPlan *p = sample_plan();
	char *out = render(print_md, p, false);

	(void)state;
	assert_string_equal(
		out,
		"### pgconverge plan\n"
		"\n"
		"**7 actions: 3 reload, 1 restart, 1 blocked**\n"
		"\n"
		"> [!WARNING]\n"
		"> Servers restarted (1): `main/pg2/restart`\n"
		">\n"
		"> Blocked (1), not applied until allowed:\n"
		"> - `main/pg2/restart`: outside the maintenance window \"Sun 02:00-04:00 UTC\"; run with --allow-restart to restart now, or apply during the window\n"
		"\n"
		"#### cluster `main`\n"
		"\n"
		"| # | node | action | impact | reason and changes |\n"
		"|--:|------|--------|--------|--------------------|\n"
		"| 1 | pg1 | `config` | reload | parameter work_mem differs from the topology<br>`work_mem: 4MB -> 8MB` |\n"
		"| 2 | pg1 | `hba` | reload | pg_hba.conf differs from the topology<br>`- host all all 0.0.0.0/0 trust`<br>`+ host all all 10.0.0.0/8 scram-sha-256` |\n"
		"| 3 | pg1 | `reload` | reload | load the changed configuration |\n"
		"| 4 | pg2 | `restart` | **restart** | **blocked:** outside the maintenance window \"Sun 02:00-04:00 UTC\"; run with --allow-restart to restart now, or apply during the window<br>max_connections takes effect at a restart<br>`max_connections: 100 -> 200`<br>phase: raise-standbys-first |\n"
		"| 5 | pg1 | `create-role:app` | none | role \"app\" does not exist<br>`password: (unset) -> {env: APP_PASSWORD}` |\n"
		"| 6 | pg1 | `grant-role:readers>reporting` | none | role \"reporting\" is not a member of \"readers\" |\n"
		"\n"
		"#### cluster `reporting`\n"
		"\n"
		"| # | node | action | impact | reason and changes |\n"
		"|--:|------|--------|--------|--------------------|\n"
		"| 7 | rep1 | `create-slot:r\\|x` | none | replica \"r\\|x\" streams through &lt;slot&gt; |\n"
		"\n"
		"#### not in the topology (left in place)\n"
		"\n"
		"- `main/pg1` role `legacy`: role \"legacy\" exists but is not in the topology; pgconverge leaves it in place\n");
	free(out);
	plan_free(p);
}

static void test_json_fields(void **state)
{
	PgcPlan *p = sample_plan();
	json_t *j = plan_to_json(p), *a;
	char *s;

	(void)state;
	assert_int_equal(json_integer_value(json_object_get(j, "format_version")), PLAN_FORMAT_VERSION);
	s = json_dumps(json_object_get(j, "source"), JSON_COMPACT);
	assert_string_equal(s, "{\"kind\":\"file\",\"path\":\"pgconverge.yaml\",\"digest\":"
			       "\"sha256:9f86d081884c7d65\",\"ref\":null,\"commit\":null}");
	free(s);
	s = json_dumps(json_object_get(j, "fingerprints"), JSON_COMPACT);
	assert_string_equal(s, "{\"main/pg1\":\"7441234567890123456:1:aa\","
			       "\"main/pg2\":\"7441234567890123456:1:bb\"}");
	free(s);
	s = json_dumps(json_object_get(j, "summary"), JSON_COMPACT);
	assert_string_equal(s, "{\"actions\":7,\"reload\":3,\"restart\":1,\"blocked\":1,\"switchover\":0,\"rebuild\":0}");
	free(s);
	a = json_array_get(json_object_get(j, "actions"), 4);
	s = json_dumps(a, JSON_COMPACT);
	assert_string_equal(s,
			    "{\"id\":\"main/pg1/create-role:app\",\"action\":\"create-role\","
			    "\"cluster\":\"main\",\"node\":\"pg1\",\"reason\":\"role \\\"app\\\" does "
			    "not exist\",\"changes\":[{\"key\":\"password\",\"from\":null,\"to\":"
			    "\"{env: APP_PASSWORD}\"}],\"impact\":\"none\",\"depends_on\":"
			    "[\"main/pg1/reload\"],\"phase\":null,\"blocked\":false,\"blocked_reason\":"
			    "null,\"payload\":{\"path\":null,\"content\":null,\"sql\":\"CREATE ROLE app "
			    "WITH LOGIN PASSWORD $1\",\"params\":[],\"database\":null,\"target\":\"app\","
			    "\"upstream\":null,\"secret\":{\"env\":\"APP_PASSWORD\"},\"ident\":null}}");
	free(s);
	s = json_dumps(json_object_get(j, "orphans"), JSON_COMPACT);
	assert_string_equal(s, "[{\"cluster\":\"main\",\"node\":\"pg1\",\"kind\":\"role\",\"name\":"
			       "\"legacy\",\"message\":\"role \\\"legacy\\\" exists but is not in the "
			       "topology; pgconverge leaves it in place\"}]");
	free(s);
	json_decref(j);
	plan_free(p);
}

/*
 * The planning scope goes into the saved plan: "cluster" is the --cluster
 * it was made with, null for all, and a plan saved before the member
 * existed loads as a plan of all clusters.
 */
static void test_json_cluster_scope(void **state)
{
	PgcPlan *p = sample_plan(), *q;
	json_t *j;
	char err[256];

	(void)state;
	j = plan_to_json(p);
	assert_true(json_is_null(json_object_get(j, "cluster")));
	q = plan_from_json(j, err, sizeof err);
	assert_non_null(q);
	assert_null(q->cluster);
	plan_free(q);
	json_decref(j);

	p->cluster = "main";
	j = plan_to_json(p);
	assert_string_equal(json_string_value(json_object_get(j, "cluster")), "main");
	q = plan_from_json(j, err, sizeof err);
	assert_non_null(q);
	assert_string_equal(q->cluster, "main");
	plan_free(q);

	/* Saved before the scope was recorded: all clusters. */
	json_object_del(j, "cluster");
	q = plan_from_json(j, err, sizeof err);
	assert_non_null(q);
	assert_null(q->cluster);
	plan_free(q);

	json_object_set_new(j, "cluster", json_integer(1));
	assert_null(plan_from_json(j, err, sizeof err));
	assert_string_equal(err, "plan.cluster: expected a string or null");
	json_decref(j);
	plan_free(p);
}

static void test_json_round_trip(void **state)
{
	PgcPlan *p = sample_plan(), *q;
	json_t *j = plan_to_json(p), *k;
	char err[256], *text_p, *text_q, *s1, *s2;

	(void)state;
	q = plan_from_json(j, err, sizeof err);
	if (q == NULL)
		fail_msg("plan_from_json: %s", err);
	k = plan_to_json(q);
	s1 = json_dumps(j, 0);
	s2 = json_dumps(k, 0);
	assert_string_equal(s1, s2);
	/* The plan read back prints the same, too. */
	text_p = render(plan_print_text, p, false);
	text_q = render(plan_print_text, q, false);
	assert_string_equal(text_p, text_q);
	assert_int_equal(q->actions[4].payload.secret.kind, SECRET_ENV);
	assert_string_equal(q->actions[4].payload.secret.ref, "APP_PASSWORD");
	assert_int_equal(q->actions[3].kind, ACT_RESTART);
	assert_int_equal(q->actions[3].impact, IMPACT_RESTART);
	assert_true(q->actions[3].blocked);
	assert_string_equal(q->actions[1].payload.ident, "pgconverge root postgres\n");
	assert_string_equal(q->source_digest, "sha256:9f86d081884c7d65");
	assert_int_equal(q->n_fp, 2);
	assert_string_equal(q->fp_nodes[1], "main/pg2");
	free(text_p);
	free(text_q);
	free(s1);
	free(s2);
	json_decref(k);
	json_decref(j);
	plan_free(q);
	plan_free(p);
}

/* bad_json - asserts that the JSON text is refused with exactly want. */
static void bad_json(const char *text, const char *want)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	char err[256];
	PgcPlan *p;

	if (j == NULL)
		fail_msg("test JSON does not parse: %s", jerr.text);
	p = plan_from_json(j, err, sizeof err);
	json_decref(j);
	if (p != NULL) {
		plan_free(p);
		fail_msg("accepted: %s", text);
	}
	assert_string_equal(err, want);
}

static void test_json_refused(void **state)
{
	(void)state;
	bad_json("[]", "expected a JSON object");
	bad_json("{\"actions\": []}", "format_version: expected an integer");
	bad_json("{\"format_version\": 2, \"actions\": []}",
		 "unsupported plan format_version 2: expected 1");
	bad_json("{\"format_version\": 1}", "actions: expected an array");
	bad_json("{\"format_version\": 1, \"actions\": [{\"id\": \"a/b/drop\", \"action\": \"drop\","
		 " \"cluster\": \"a\", \"impact\": \"none\"}]}",
		 "actions[0].action: unknown action \"drop\"");
	bad_json("{\"format_version\": 1, \"actions\": [{\"id\": \"a/b/start\", \"action\": \"start\","
		 " \"cluster\": \"a\", \"impact\": \"loud\"}]}",
		 "actions[0].impact: unknown impact \"loud\": expected none, reload, restart, "
		 "switchover or rebuild");
	bad_json("{\"format_version\": 1, \"actions\": [{\"id\": \"a/b/start\", \"action\": \"start\","
		 " \"cluster\": \"a\", \"impact\": \"none\", \"depends_on\": [\"a/b/initdb\"]}]}",
		 "actions[0].depends_on: \"a/b/initdb\" is not an earlier action");
	bad_json("{\"format_version\": 1, \"actions\": [{\"id\": \"a/b/clone\", \"action\": \"clone\","
		 " \"cluster\": \"a\", \"impact\": \"none\", \"payload\": {\"secret\": \"hunter2\"}}]}",
		 "actions[0].payload.secret: expected {\"env\": NAME}, {\"file\": PATH} or null");
	bad_json("{\"format_version\": 1, \"actions\": [{\"action\": \"start\", \"cluster\": \"a\","
		 " \"impact\": \"none\"}]}",
		 "actions[0].id: expected a string");
}

/* ---- a saved plan against the plan made now ------------------------------------- */

/* saved_after - the sample plan saved as JSON, edit applied to its actions, read back. */
static PgcPlan *saved_after(void (*edit)(json_t *actions))
{
	PgcPlan *p = sample_plan(), *q;
	json_t *j = plan_to_json(p);
	char err[256];

	if (edit != NULL)
		edit(json_object_get(j, "actions"));
	q = plan_from_json(j, err, sizeof err);
	if (q == NULL)
		fail_msg("plan_from_json: %s", err);
	json_decref(j);
	plan_free(p);
	return q;
}

static void assert_refused(void (*edit)(json_t *actions), const char *want)
{
	PgcPlan *now = sample_plan(), *saved = saved_after(edit);
	char why[512] = "";

	assert_int_equal(plan_compare_actions(saved, now, why, sizeof why), -1);
	assert_string_equal(why, want);
	plan_free(saved);
	plan_free(now);
}

static json_t *act(json_t *actions, size_t i)
{
	return json_array_get(actions, i);
}

static void swap_first_two(json_t *actions)
{
	json_t *first = json_incref(act(actions, 0));

	json_array_remove(actions, 0);
	json_array_insert_new(actions, 1, first);
}

static void duplicate_grant(json_t *actions)
{
	json_array_insert_new(actions, 6, json_deep_copy(act(actions, 5)));
}

static void drop_last(json_t *actions)
{
	json_array_remove(actions, json_array_size(actions) - 1);
}

static void depends_on_less(json_t *actions)
{
	json_array_remove(json_object_get(act(actions, 2), "depends_on"), 1);
}

static void depends_on_swapped(json_t *actions)
{
	json_t *deps = json_object_get(act(actions, 2), "depends_on");
	json_t *first = json_incref(json_array_get(deps, 0));

	json_array_remove(deps, 0);
	json_array_append_new(deps, first);
}

static void impact_none(json_t *actions)
{
	json_object_set_new(act(actions, 0), "impact", json_string("none"));
}

static void phase_set(json_t *actions)
{
	json_object_set_new(act(actions, 0), "phase", json_string("raise-standbys-first"));
}

static void change_edited(json_t *actions)
{
	json_object_set_new(json_array_get(json_object_get(act(actions, 0), "changes"), 0), "to",
			    json_string("9MB"));
}

static void content_edited(json_t *actions)
{
	json_object_set_new(json_object_get(act(actions, 1), "payload"), "content",
			    json_string("host all all 0.0.0.0/0 trust\n"));
}

static void node_edited(json_t *actions)
{
	json_object_set_new(act(actions, 5), "node", json_string("pg2"));
}

static void reason_and_blocked_edited(json_t *actions)
{
	json_object_set_new(act(actions, 0), "reason", json_string("nothing to see"));
	json_object_set_new(act(actions, 3), "blocked", json_false());
}

static void test_saved_plan_compared_whole(void **state)
{
	PgcPlan *now = sample_plan(), *saved = saved_after(NULL);
	char why[512] = "";

	(void)state;
	assert_int_equal(plan_compare_actions(saved, now, why, sizeof why), 0);
	plan_free(saved);
	/* The reason is a sentence and the blocked flag this run's policy's. */
	saved = saved_after(reason_and_blocked_edited);
	assert_int_equal(plan_compare_actions(saved, now, why, sizeof why), 0);
	plan_free(saved);
	plan_free(now);

	assert_refused(swap_first_two,
		       "action #1 of the saved plan is \"main/pg1/hba\" where the topology and the "
		       "servers call for \"main/pg1/config\" now (actions reordered, added or removed)");
	assert_refused(duplicate_grant,
		       "action \"main/pg1/grant-role:readers>reporting\" appears twice in the saved "
		       "plan (#6 and #7)");
	assert_refused(drop_last,
		       "the saved plan has 6 actions where the topology and the servers call for 7 now");
	assert_refused(depends_on_less,
		       "action \"main/pg1/reload\" of the saved plan is not what the topology and the "
		       "servers call for now: its depends_on differs");
	assert_refused(depends_on_swapped,
		       "action \"main/pg1/reload\" of the saved plan is not what the topology and the "
		       "servers call for now: its depends_on differs");
	assert_refused(impact_none,
		       "action \"main/pg1/config\" of the saved plan is not what the topology and the "
		       "servers call for now: its impact differs");
	assert_refused(phase_set,
		       "action \"main/pg1/config\" of the saved plan is not what the topology and the "
		       "servers call for now: its phase differs");
	assert_refused(change_edited,
		       "action \"main/pg1/config\" of the saved plan is not what the topology and the "
		       "servers call for now: its list of changes differs");
	assert_refused(content_edited,
		       "action \"main/pg1/hba\" of the saved plan is not what the topology and the "
		       "servers call for now: its payload.content differs");
	assert_refused(node_edited,
		       "action \"main/pg1/grant-role:readers>reporting\" of the saved plan is not what "
		       "the topology and the servers call for now: its node differs");
}

/* ---- names from the server --------------------------------------------------- */

/*
 * hostile_plan - role names a user with CREATEROLE can choose: a line
 * break that forges a plan line, a terminal escape, and markdown that
 * would close the code span and load an image in a pull request comment.
 */
static const char *const hostile[] = {
	"evil\n+ fake line",
	"\x1b[31mred",
	"`![x](http://e.invalid/a.png)`",
};

static PgcPlan *hostile_plan(void)
{
	PgcArena *arena = arena_new();
	PgcPlan *p = arena_calloc(arena, 1, sizeof(*p));
	size_t i;

	p->arena = arena;
	p->actions = arena_calloc(arena, 3, sizeof(PgcAction));
	p->orphans = arena_calloc(arena, 3, sizeof(PgcOrphan));
	for (i = 0; i < 3; i++) {
		PgcAction *a = add(p, arena_printf(arena, "main/pg1/alter-role:%s", hostile[i]),
				   ACT_ALTER_ROLE, "main", "pg1", IMPACT_NONE,
				   arena_printf(arena, "role \"%s\" differs from the topology", hostile[i]));

		chg(p, a, "connection_limit", hostile[i], "20");
		p->orphans[p->n_orphans++] = (PgcOrphan){
			"main", "pg1", "role", hostile[i],
			arena_printf(arena, "role \"%s\" exists but is not in the topology", hostile[i])};
	}
	return p;
}

static void test_text_escapes_names(void **state)
{
	PgcPlan *p = hostile_plan();
	char *out = render(plan_print_text, p, false);

	(void)state;
	assert_string_equal(
		out,
		"cluster main\n"
		"  node pg1\n"
		"    #1   alter-role:evil\\n+ fake line                        role \"evil\\n+ fake line\" differs from the topology\n"
		"           connection_limit: evil\\n+ fake line -> 20\n"
		"    #2   alter-role:\\x1b[31mred                              role \"\\x1b[31mred\" differs from the topology\n"
		"           connection_limit: \\x1b[31mred -> 20\n"
		"    #3   alter-role:`![x](http://e.invalid/a.png)`            role \"`![x](http://e.invalid/a.png)`\" differs from the topology\n"
		"           connection_limit: `![x](http://e.invalid/a.png)` -> 20\n"
		"not in the topology (left in place):\n"
		"  main/pg1 role \"evil\\n+ fake line\": role \"evil\\n+ fake line\" exists but is not in the topology\n"
		"  main/pg1 role \"\\x1b[31mred\": role \"\\x1b[31mred\" exists but is not in the topology\n"
		"  main/pg1 role \"`![x](http://e.invalid/a.png)`\": role \"`![x](http://e.invalid/a.png)`\" exists but is not in the topology\n"
		"3 actions: 0 reload, 0 restart, 0 blocked\n");
	/* Every line is one the renderer wrote, and no escape reaches the terminal. */
	assert_null(strstr(out, "\n+ fake"));
	assert_null(strchr(out, '\x1b'));
	free(out);
	plan_free(p);
}

static void test_markdown_escapes_names(void **state)
{
	PgcPlan *p = hostile_plan();
	char *out = render(print_md, p, false);

	(void)state;
	assert_string_equal(
		out,
		"### pgconverge plan\n"
		"\n"
		"**3 actions: 0 reload, 0 restart, 0 blocked**\n"
		"\n"
		"#### cluster `main`\n"
		"\n"
		"| # | node | action | impact | reason and changes |\n"
		"|--:|------|--------|--------|--------------------|\n"
		"| 1 | pg1 | `alter-role:evil\\n+ fake line` | none | role \"evil\\\\n+ fake line\" differs from the topology<br>`connection_limit: evil\\n+ fake line -> 20` |\n"
		"| 2 | pg1 | `alter-role:\\x1b[31mred` | none | role \"\\\\x1b\\[31mred\" differs from the topology<br>`connection_limit: \\x1b[31mred -> 20` |\n"
		"| 3 | pg1 | `` alter-role:`![x](http://e.invalid/a.png)` `` | none | role \"\\`!\\[x\\](http://e.invalid/a.png)\\`\" differs from the topology<br>``connection_limit: `![x](http://e.invalid/a.png)` -> 20`` |\n"
		"\n"
		"#### not in the topology (left in place)\n"
		"\n"
		"- `main/pg1` role `evil\\n+ fake line`: role \"evil\\\\n+ fake line\" exists but is not in the topology\n"
		"- `main/pg1` role `\\x1b[31mred`: role \"\\\\x1b\\[31mred\" exists but is not in the topology\n"
		"- `main/pg1` role `` `![x](http://e.invalid/a.png)` ``: role \"\\`!\\[x\\](http://e.invalid/a.png)\\`\" exists but is not in the topology\n");
	/* No raw image syntax outside a code span, no line the renderer did not write. */
	assert_null(strstr(out, "\n+ fake"));
	assert_null(strchr(out, '\x1b'));
	free(out);
	plan_free(p);
}

/* JSON needs nothing of ours: jansson writes control characters as \\u escapes. */
static void test_json_escapes_names(void **state)
{
	PgcPlan *p = hostile_plan();
	json_t *j = plan_to_json(p);
	char *s = json_dumps(j, JSON_COMPACT);

	(void)state;
	assert_non_null(strstr(s, "\"id\":\"main/pg1/alter-role:evil\\n+ fake line\""));
	assert_non_null(strcasestr(s, "\"id\":\"main/pg1/alter-role:\\u001b[31mred\""));
	assert_null(strchr(s, '\n'));
	assert_null(strchr(s, '\x1b'));
	free(s);
	json_decref(j);
	plan_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_empty),
		cmocka_unit_test(test_markdown),
		cmocka_unit_test(test_json_fields),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_cluster_scope),
		cmocka_unit_test(test_json_refused),
		cmocka_unit_test(test_saved_plan_compared_whole),
		cmocka_unit_test(test_text_escapes_names),
		cmocka_unit_test(test_markdown_escapes_names),
		cmocka_unit_test(test_json_escapes_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
