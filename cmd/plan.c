/*
 * cmd/plan.c - `pgconverge plan`: observe the live servers and print the
 * ordered actions that would converge them on the topology.
 */
#include "cmd/cmd.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/converge.h"
#include "cmd/exitcodes.h"
#include "common/fsutil.h"
#include "common/strutil.h"
#include "reconcile/plan_offline.h"

static const char *const plan_formats[] = {"text", "json", "markdown", NULL};

static const PgcOptionHelp plan_option_help[] = {
	{"output", "PLAN.json", "also save the plan as JSON, for 'pgconverge apply PLAN.json'"},
	{"offline", NULL, "contact no server: plan from the difference between --base and the "
			  "topology (for review in CI)"},
	{"base", "REV", "with --offline: the git revision to compare with, e.g. origin/main "
			"(default: the last applied commit; none: everything is new)"},
	{NULL, NULL, NULL},
};

const PgcCommandSpec plan_spec = {
	.usage = "plan " USAGE_SOURCE USAGE_NEWLINE
		 "[-o PLAN.json] [--format text|json|markdown] [--cluster NAME]" USAGE_NEWLINE
		 "[--offline [--base REV]] [--state-dir DIR] [--allow-rewind]",
	.description =
		"Loads and validates the topology, observes every node (all probed in parallel:\n"
		"running or not, role, timeline, settings, replication) and prints the ordered\n"
		"actions that would make the live servers match the file. Each action shows its\n"
		"reason, its changes (key: from -> to), its impact (none, reload, restart,\n"
		"switchover, rebuild) and what it depends on. Nothing is changed.\n"
		"\n"
		"With -o, the plan is also saved as JSON with the topology's digest and each\n"
		"node's observed fingerprint (system identifier, timeline, config digest) and\n"
		"the --cluster it was made for:\n"
		"'pgconverge apply PLAN.json' carries out exactly that plan, and refuses it when\n"
		"the servers changed since. --format markdown suits a pull request comment.\n"
		"\n"
		"Restarts are shown blocked unless the cluster's maintenance policy allows them\n"
		"now; 'apply --allow-restart' lifts that.\n"
		"\n"
		"--offline contacts no server: it plans from the topology at --base REV (read\n"
		"from git: the same --path with --git, else the file's own repository) to the\n"
		"topology given, as if the servers matched the base. It shows which settings\n"
		"need a reload and which a restart (from the parameter catalog), new nodes to\n"
		"initialise or clone, a change of primary (a switchover), role and database\n"
		"changes, what the policy blocks, and what the change leaves behind. Such a\n"
		"plan is for review: 'apply' refuses it. For a pull request:\n"
		"  pgconverge plan --offline --git . --ref HEAD --base origin/main --format markdown\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_ALLOW_REWIND | OPT_CLUSTER | OPT_FORMAT |
		   OPT_OUTPUT | OPT_OFFLINE | OPT_BASE | OPT_AS,
	.formats = plan_formats,
	.option_help = plan_option_help,
	.exit_codes = "  0   no changes: the servers match the topology\n"
		      "  1   error\n"
		      "  2   changes are pending\n",
};

/* plan_json - plan_to_json(), and the git repository of the source (plan.h has no field for it). */
static json_t *plan_json(const PgcOptions *opts, const PgcPlan *p)
{
	json_t *j = plan_to_json(p), *src = json_object_get(j, "source");

	if (json_is_object(src) && opts->source->repository != NULL &&
	    p->source_kind != NULL && strcmp(p->source_kind, "git") == 0)
		json_object_set_new(src, "repository", json_string(opts->source->repository));
	return j;
}

/* save_plan - the JSON plan, written atomically to path. */
static int save_plan(const PgcOptions *opts, const PgcPlan *p, const char *path)
{
	json_t *j = plan_json(opts, p);
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	bool changed;
	int rc;

	json_decref(j);
	if (text == NULL)
		return -1;
	rc = fs_write_atomic(path, text, strlen(text), 0644, FS_NO_UID, FS_NO_GID, &changed);
	free(text);
	return rc;
}

/* head_label - what is planned: "PATH at commit (ref REF)", or the file. */
static const char *head_label(const PgcOptions *opts)
{
	const PgcSource *s = opts->source;

	if (s->kind != NULL && strcmp(s->kind, "git") == 0)
		return arena_printf(opts->arena, "%s at %.12s (%s)", s->path, s->commit, s->ref);
	return opts->file;
}

/* md_span - s as a markdown code span, fenced and escaped (a git ref may hold a backtick). */
static const char *md_span(const PgcOptions *opts, const char *s)
{
	PgcStrBuf b = PGC_STRBUF_INIT;

	strbuf_add_md_code(&b, s, false);
	return strbuf_finish(&b, opts->arena);
}

static void print_offline(const PgcOptions *opts, const PgcPlan *p, const char *base)
{
	if (options_format_is(opts, "json")) {
		json_t *j = plan_json(opts, p);

		json_object_set_new(j, "base", json_string(base));
		cmd_print_json(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	} else if (options_format_is(opts, "markdown")) {
		plan_print_markdown(stdout, p);
		printf("\n<sub>offline plan of %s against %s: as if the servers matched the base; "
		       "no server was contacted.</sub>\n",
		       md_span(opts, head_label(opts)), md_span(opts, base));
	} else {
		str_fprintf_line(stdout, "offline plan of %s against %s (no server contacted)\n\n",
				 head_label(opts), base);
		plan_print_text(stdout, p, options_color(opts, stdout));
	}
}

/* plan_offline_run - plan --offline: base revision -> topology, no server contacted. */
static int plan_offline_run(const PgcOptions *opts)
{
	PgcTopology *head, *base = NULL;
	PgcDiagList diags = {0};
	PgcPolicy policy = {.now = time(NULL), .only_cluster = opts->cluster};
	const char *label = NULL;
	PgcPlan *p = NULL;
	int rc = EXIT_ERROR;

	head = converge_load(opts);
	if (head == NULL)
		return EXIT_ERROR;
	if (options_load_base(opts, head->base_dir, &base, &label, &diags) != 0) {
		diag_print(stderr, &diags, options_color(opts, stderr));
		goto cleanup;
	}
	diag_print(stderr, &diags, options_color(opts, stderr));
	p = plan_offline(base, head, &policy);
	if (p == NULL)
		goto cleanup;
	plan_set_source(p, opts->source);
	print_offline(opts, p, label);
	if (opts->output != NULL && save_plan(opts, p, opts->output) != 0)
		goto cleanup;
	rc = p->n_actions == 0 ? EXIT_OK : EXIT_CHANGES;
cleanup:
	plan_free(p);
	topology_free(base);
	topology_free(head);
	diag_free(&diags);
	return rc;
}

int cmd_plan(const PgcOptions *opts)
{
	PgcTopology *t;
	PgcObserved *obs = NULL;
	PgcPlan *p = NULL;
	int rc = EXIT_ERROR;

	if (opts->offline)
		return plan_offline_run(opts);
	if (converge_look(opts, &t, &obs, &p) != 0)
		goto cleanup;
	if (options_format_is(opts, "json")) {
		/* plan_json: with the git repository, which PgcPlan has no field for yet. */
		cmd_print_json(plan_json(opts, p), JSON_INDENT(2) | JSON_SORT_KEYS);
	} else {
		converge_print_plan(opts, p);
	}
	if (opts->output != NULL && save_plan(opts, p, opts->output) != 0)
		goto cleanup;
	rc = p->n_actions == 0 ? EXIT_OK : EXIT_CHANGES;
cleanup:
	plan_free(p);
	observe_free(obs);
	topology_free(t);
	return rc;
}
