/*
 * tests/unit/test_plan_backup.c - the backup family in the plan, on
 * hand-built observed states: schedules (base, logical), retention and
 * what it lists, restore drills, and the restore of a bootstrap cluster in
 * each state (fresh, refused, under way, paused, promoted, someone else's
 * data directory), through plan_backup_cluster() and plan_build().
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

#include "common/arena.h"
#include "common/diag.h"
#include "reconcile/engine/apply_order.h"
#include "reconcile/backup/backup_catalog.h"
#include "reconcile/observe/observe.h"
#include "reconcile/engine/action.h"
#include "reconcile/engine/plan.h"
#include "reconcile/planner.h"
#include "reconcile/backup/plan_backup.h"
#include "reconcile/backup/backup_source.h"
#include "reconcile/backup/restore_conf.h"
#include "reconcile/backup/walarchive.h"
#include "schema/topology.h"
#include "reconcile/postgres/plan_conf.h"

/* 2026-11-26 12:00:00 UTC */
#define NOON ((time_t)1795694400)
#define HOUR 3600

static const char *const yaml =
	"version: 1\n"
	"clusters:\n"
	"  main:\n"
	"    primary: pg1\n"
	"    nodes:\n"
	"      pg1: {host: 127.0.0.1, port: 25432, data_dir: /srv/pgc/pg1}\n"
	"      pg2: {host: 127.0.0.1, port: 25433, data_dir: /srv/pgc/pg2}\n"
	"    databases:\n"
	"      appdb: {}\n"
	"    backup:\n"
	"      repository: /srv/pgc/repo\n"
	"      wal_archive: true\n"
	"      base: {every: 24h, keep: 2}\n"
	"      logical: {every: 24h, keep: 3, databases: [appdb]}\n"
	"      verify: {every: 7d}\n"
	"  restored:\n"
	"    bootstrap:\n"
	"      from_backup: {repository: /srv/pgc/repo, target_time: \"2026-11-26 10:30:00+00\"}\n"
	"    primary: r1\n"
	"    nodes:\n"
	"      r1: {host: 127.0.0.1, port: 25440, data_dir: /srv/pgc/r1}\n"
	"      r2: {host: 127.0.0.1, port: 25441, data_dir: /srv/pgc/r2}\n";

typedef struct {
	PgcTopology *t;
	PgcArena *a;              /* the observed state's */
	PgcObserved *o;
	PgcObsRepository repo;    /* main's own repository = restored's source */
	json_t *doc;
	PgcPlan *p;               /* for plan_backup_cluster */
	PgcPolicy policy;
} Fx;

static json_t *base_entry(const char *id, const char *fin, const char *start, const char *stop)
{
	return json_pack("{s:s s:s s:s s:s s:s s:i s:s s:s s:b s:I s:I s:s s:{s:b s:s s:s}}", "id", id,
			 "path", "", "cluster", "main", "started_at", fin, "finished_at", fin, "timeline",
			 1, "start_lsn", start, "stop_lsn", stop, "wal_included", 1, "wal_segment_size",
			 (json_int_t)16777216, "size_bytes", (json_int_t)(40 * 1024 * 1024),
			 "system_identifier", "7000", "verify", "ok", 1, "at", fin, "message", "ok");
}

static void add_base(Fx *f, const char *id, const char *fin, const char *start, const char *stop)
{
	json_t *e = base_entry(id, fin, start, stop);

	json_object_set_new(e, "path", json_string(arena_printf(f->a, "base/%s", id)));
	json_array_append_new(json_object_get(f->doc, "base"), e);
}

static void add_dump(Fx *f, const char *id, const char *fin)
{
	json_array_append_new(json_object_get(f->doc, "logical"),
			      json_pack("{s:s s:s s:s s:s s:s s:s s:I s:{s:b}}", "id", id, "kind", "dump",
					"database", "appdb", "path",
					arena_printf(f->a, "logical/%s/appdb.dump", id), "started_at", fin,
					"finished_at", fin, "size_bytes", (json_int_t)1024, "verify", "ok", 1));
}

static void add_wal(Fx *f, const char *name, int64_t mtime)
{
	PgcWalEntry *n = arena_calloc(f->a, f->repo.n_wal + 1, sizeof(*n));
	PgcWalEntry *e;

	if (f->repo.n_wal)
		memcpy(n, f->repo.wal, f->repo.n_wal * sizeof(*n));
	e = &n[f->repo.n_wal++];
	e->name = arena_strdup(f->a, name);
	e->path = arena_printf(f->a, "/srv/pgc/repo/wal/00000001/%s", name);
	assert_int_equal(walarchive_parse_name(name, &e->parsed), 0);
	e->size = 16777216;
	e->mtime = mtime;
	f->repo.wal = n;
}

/* catalog - the repository's catalog from the document, after the test filled it. */
static void catalog(Fx *f)
{
	char err[256];

	backup_catalog_free(f->repo.catalog);
	f->repo.catalog = backup_catalog_from_json(f->doc, err, sizeof err);
	assert_non_null(f->repo.catalog);
}

static PgcObsNode *onode(Fx *f, const char *cluster, const char *node)
{
	for (size_t i = 0; i < f->o->n_clusters; i++)
		for (size_t j = 0; strcmp(f->o->clusters[i].name, cluster) == 0 &&
				   j < f->o->clusters[i].n_nodes;
		     j++)
			if (strcmp(f->o->clusters[i].nodes[j].name, node) == 0)
				return &f->o->clusters[i].nodes[j];
	fail_msg("no observed node %s/%s", cluster, node);
	return NULL;
}

/* running - a node that answers, initialized, as a primary or a streaming replica. */
static void running(Fx *f, const char *cluster, const char *node, bool replica)
{
	PgcObsNode *n = onode(f, cluster, node);

	n->dir_state = DIR_INITIALIZED;
	n->reachable = true;
	n->postmaster_alive = true;
	n->in_recovery = replica;
	n->wal_receiver_status = replica ? "streaming" : NULL;
	n->system_identifier = 7000;
}

static int setup(void **state)
{
	Fx *f = calloc(1, sizeof(*f));
	PgcLoadOptions lo = {.base_dir = "/srv/pgc", .offline = true, .tool_path = "/usr/bin/pgconverge"};
	PgcDiagList diags = {0};

	f->t = topology_load_buffer(yaml, strlen(yaml), "t.yaml", &lo, &diags);
	if (f->t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	f->a = arena_new();
	f->o = arena_calloc(f->a, 1, sizeof(*f->o));
	f->o->arena = f->a;
	f->o->n_clusters = f->t->n_clusters;
	f->o->clusters = arena_calloc(f->a, f->t->n_clusters, sizeof(PgcObsCluster));
	for (size_t i = 0; i < f->t->n_clusters; i++) {
		const PgcCluster *c = &f->t->clusters[i];
		PgcObsCluster *oc = &f->o->clusters[i];

		oc->name = c->name;
		oc->n_nodes = c->n_nodes;
		oc->nodes = arena_calloc(f->a, c->n_nodes, sizeof(PgcObsNode));
		for (size_t j = 0; j < c->n_nodes; j++) {
			oc->nodes[j].name = c->nodes[j].name;
			oc->nodes[j].cluster = c->name;
			oc->nodes[j].local = true;
			oc->nodes[j].dir_state = DIR_ABSENT;
		}
	}
	f->repo.path = "/srv/pgc/repo";
	f->repo.exists = true;
	f->doc = json_pack("{s:i s:[] s:[]}", "format_version", 1, "base", "logical");
	f->o->clusters[0].repository = &f->repo;
	f->o->clusters[1].restore_source = &f->repo;
	f->policy.now = NOON;
	f->p = arena_calloc(f->a, 1, sizeof(*f->p));
	f->p->arena = f->a;
	catalog(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fx *f = *state;

	backup_catalog_free(f->repo.catalog);
	json_decref(f->doc);
	arena_free(f->a);
	topology_free(f->t);
	free(f);
	return 0;
}

/* plan_of - plan_backup_cluster for one cluster into a fresh action list. */
static bool plan_of(Fx *f, const char *cluster)
{
	PgcPlanBuilder b;

	f->p->n_actions = 0;
	f->p->actions = NULL;
	builder_init(&b, f->p);
	catalog(f);
	return plan_backup_cluster(&b, topology_cluster(f->t, cluster), f->o, &f->policy);
}

static const PgcAction *find(Fx *f, const char *id)
{
	for (size_t i = 0; i < f->p->n_actions; i++)
		if (strcmp(f->p->actions[i].id, id) == 0)
			return &f->p->actions[i];
	return NULL;
}

/* ---- schedules ----------------------------------------------------------------------- */

static void test_duration_text(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(plan_backup_duration(86400, true, b, sizeof b), "24h");
	assert_string_equal(plan_backup_duration(7 * 86400, true, b, sizeof b), "7d");
	assert_string_equal(plan_backup_duration(90 * 60, true, b, sizeof b), "90m");
	assert_string_equal(plan_backup_duration(45, true, b, sizeof b), "45s");
	assert_string_equal(plan_backup_duration(26 * 3600 + 60, false, b, sizeof b), "1d 2h");
	assert_string_equal(plan_backup_duration(5 * 3600 + 12 * 60, false, b, sizeof b), "5h 12m");
	assert_string_equal(plan_backup_duration(42 * 60 + 5, false, b, sizeof b), "42m");
}

static void test_base_backup_due(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	running(f, "main", "pg1", false);
	running(f, "main", "pg2", true);
	/* No backup at all. */
	assert_false(plan_of(f, "main"));
	a = find(f, "main/-/backup");
	assert_non_null(a);
	assert_int_equal(a->kind, ACT_BACKUP);
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_false(a->blocked);
	assert_string_equal(a->reason, "no verified base backup yet (base.every 24h): take one from "
				       "node \"pg2\" (a streaming replica)");
	assert_string_equal(a->payload.upstream, "pg2");
	assert_string_equal(a->payload.target, "base");
	assert_string_equal(a->payload.path, "/srv/pgc/repo");
	/* No drill without a backup; the dump is due too. */
	assert_null(find(f, "main/-/restore:drill"));
	assert_non_null(find(f, "main/-/backup:logical"));

	/* One 26 hours old: due, from the primary once the replica stops streaming. */
	add_base(f, "20261125T100000Z", "2026-11-25T10:00:00Z", "0/2000028", "0/2000100");
	onode(f, "main", "pg2")->wal_receiver_status = "stopping";
	plan_of(f, "main");
	a = find(f, "main/-/backup");
	assert_non_null(a);
	assert_string_equal(a->reason, "the newest base backup 20261125T100000Z is 1d 2h old, "
				       "base.every is 24h: take one from node \"pg1\" (the primary)");
	assert_int_equal(a->n_changes, 1);
	assert_string_equal(a->changes[0].from, "20261125T100000Z");
	/* A base backup planned: the drill waits for the next run. */
	assert_null(find(f, "main/-/restore:drill"));

	/* One 2 hours old: nothing to take. */
	add_base(f, "20261126T100000Z", "2026-11-26T10:00:00Z", "0/4000028", "0/4000100");
	plan_of(f, "main");
	assert_null(find(f, "main/-/backup"));
}

static void test_failed_backup_not_retried_at_once(void **state)
{
	Fx *f = *state;
	json_t *bad;

	running(f, "main", "pg1", false);
	add_base(f, "20261125T100000Z", "2026-11-25T10:00:00Z", "0/2000028", "0/2000100");
	add_base(f, "20261126T113000Z", "2026-11-26T11:30:00Z", "0/4000028", "0/4000100");
	bad = json_array_get(json_object_get(f->doc, "base"), 1);
	json_object_set_new(json_object_get(bad, "verify"), "ok", json_false());
	/* Failed its verification 30 minutes ago: kept for inspection, not retried yet. */
	plan_of(f, "main");
	assert_null(find(f, "main/-/backup"));
	/* An hour later it is. */
	f->policy.now = NOON + HOUR;
	plan_of(f, "main");
	assert_non_null(find(f, "main/-/backup"));
}

static void test_backup_waits_or_blocks(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	/* pg1 is local and down (the plan starts it): the backup is for a later pass. */
	onode(f, "main", "pg1")->dir_state = DIR_INITIALIZED;
	plan_of(f, "main");
	assert_null(find(f, "main/-/backup"));
	/* Nothing local at all: blocked, with backup_pick_source's reason. */
	onode(f, "main", "pg1")->local = false;
	onode(f, "main", "pg2")->local = false;
	plan_of(f, "main");
	a = find(f, "main/-/backup");
	assert_non_null(a);
	assert_true(a->blocked);
	assert_string_equal(a->blocked_reason, "no node of cluster \"main\" on this machine is "
					       "reachable as a primary or a streaming replica");
	/* An unreadable repository blocks the schedule with its error. */
	f->repo.error = "backup repository \"/srv/pgc/repo\" did not answer within 30 s";
	plan_of(f, "main");
	assert_int_equal(f->p->n_actions, 1);
	assert_string_equal(f->p->actions[0].blocked_reason,
			    "backup repository \"/srv/pgc/repo\" did not answer within 30 s");
}

static void test_logical_due(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	running(f, "main", "pg1", false);
	add_base(f, "20261126T100000Z", "2026-11-26T10:00:00Z", "0/4000028", "0/4000100");
	add_dump(f, "20261124T100000Z", "2026-11-24T10:00:00Z");
	plan_of(f, "main");
	a = find(f, "main/-/backup:logical");
	assert_non_null(a);
	assert_string_equal(a->reason, "no dump of \"appdb\" within logical.every 24h: dump every "
				       "listed database on the primary \"pg1\"");
	assert_string_equal(a->payload.target, "logical");
	add_dump(f, "20261126T110000Z", "2026-11-26T11:00:00Z");
	plan_of(f, "main");
	assert_null(find(f, "main/-/backup:logical"));
}

/* ---- retention ------------------------------------------------------------------------ */

static void test_retention_lists_what_it_removes(void **state)
{
	Fx *f = *state;
	const PgcAction *a;

	running(f, "main", "pg1", false);
	add_base(f, "20261126T080000Z", "2026-11-26T08:00:00Z", "0/2000028", "0/2000100");
	add_base(f, "20261126T090000Z", "2026-11-26T09:00:00Z", "0/4000028", "0/4000100");
	add_base(f, "20261126T100000Z", "2026-11-26T10:00:00Z", "0/6000028", "0/6000100");
	add_base(f, "20261126T110000Z", "2026-11-26T11:00:00Z", "0/8000028", "0/8000100");
	add_dump(f, "20261126T110000Z", "2026-11-26T11:00:00Z");
	for (int i = 1; i <= 8; i++)
		add_wal(f, arena_printf(f->a, "0000000100000000000000%02X", i), NOON - 3 * HOUR);
	plan_of(f, "main");
	a = find(f, "main/-/retention");
	assert_non_null(a);
	assert_int_equal(a->kind, ACT_RETENTION);
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_string_equal(a->reason, "outside the retention policy (base.keep 2, logical.keep 3): 2 "
				       "base backups, 0 dumps, 5 archived WAL files, 160.0 MB; the "
				       "oldest kept base backup is 20261126T100000Z");
	assert_int_equal(a->n_changes, 3);
	assert_string_equal(a->changes[0].key, "base/20261126T080000Z");
	assert_string_equal(a->changes[0].from, "base backup, 40.0 MB, ended 2026-11-26T08:00:00Z");
	assert_null(a->changes[0].to);
	assert_string_equal(a->changes[1].key, "base/20261126T090000Z");
	assert_string_equal(a->changes[2].key, "wal/00000001");
	assert_string_equal(a->changes[2].from, "000000010000000000000001 ... 000000010000000000000005 "
						"(5 files, 80.0 MB)");
	/* Exactly what apply may remove. */
	assert_int_equal(a->payload.n_params, 7);
	assert_string_equal(a->payload.params[0], "base/20261126T080000Z");
	assert_string_equal(a->payload.params[1], "base/20261126T090000Z");
	assert_string_equal(a->payload.params[2], "000000010000000000000001");
	assert_string_equal(a->payload.params[6], "000000010000000000000005");
	/* Within the policy: nothing. */
	json_array_remove(json_object_get(f->doc, "base"), 0);
	json_array_remove(json_object_get(f->doc, "base"), 0);
	f->repo.n_wal = 0;
	plan_of(f, "main");
	assert_null(find(f, "main/-/retention"));
}

/* ---- drills ------------------------------------------------------------------------- */

static void test_drill_schedule(void **state)
{
	Fx *f = *state;
	PgcObsDrill d = {"20261126T100000Z", true, "2026-11-20T10:00:00Z", 5, 100, "ok"};
	const PgcAction *a;

	running(f, "main", "pg1", false);
	add_base(f, "20261126T100000Z", "2026-11-26T10:00:00Z", "0/4000028", "0/4000100");
	add_dump(f, "20261126T110000Z", "2026-11-26T11:00:00Z");
	plan_of(f, "main");
	a = find(f, "main/-/restore:drill");
	assert_non_null(a);
	assert_int_equal(a->kind, ACT_RESTORE);
	assert_null(a->node);
	assert_string_equal(a->payload.target, "20261126T100000Z");
	assert_string_equal(a->reason, "no successful restore drill yet (verify.every 7d): restore "
				       "base backup 20261126T100000Z into a scratch folder, replay the "
				       "archive to its end, check it, remove it");
	assert_int_equal(f->p->n_actions, 1);
	/* Passed 6 days ago: not due. */
	f->repo.drills = &d;
	f->repo.n_drills = 1;
	plan_of(f, "main");
	assert_null(find(f, "main/-/restore:drill"));
	/* Passed 8 days ago: due. */
	d.at = "2026-11-18T10:00:00Z";
	plan_of(f, "main");
	a = find(f, "main/-/restore:drill");
	assert_non_null(a);
	assert_string_equal(a->reason, "the last successful restore drill was 8d 2h ago (verify.every "
				       "7d): restore base backup 20261126T100000Z into a scratch folder, "
				       "replay the archive to its end, check it, remove it");
	/* Failed an hour ago on this backup: not again within the period. */
	d.ok = false;
	d.at = "2026-11-26T11:00:00Z";
	plan_of(f, "main");
	assert_null(find(f, "main/-/restore:drill"));
}

/* ---- restores ------------------------------------------------------------------------ */

/* archive - two backups and segments 2..7 of timeline 1 (the last archived at 11:40). */
static void archive(Fx *f)
{
	add_base(f, "20261126T090000Z", "2026-11-26T09:00:05Z", "0/2000028", "0/2000100");
	add_base(f, "20261126T100000Z", "2026-11-26T10:00:05Z", "0/4000028", "0/4000100");
	for (int i = 2; i <= 7; i++)
		add_wal(f, arena_printf(f->a, "0000000100000000000000%02X", i),
			NOON - 20 * 60 * (8 - i));
}

static void test_restore_fresh(void **state)
{
	Fx *f = *state;
	const PgcAction *a;
	PgcPlan *p, *p2;
	char why[256];

	archive(f);
	assert_true(plan_of(f, "restored"));
	assert_int_equal(f->p->n_actions, 1);
	a = find(f, "restored/r1/restore");
	assert_non_null(a);
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_false(a->blocked);
	assert_string_equal(a->payload.target, "20261126T100000Z");
	assert_string_equal(a->payload.path, "/srv/pgc/r1");
	assert_non_null(strstr(a->payload.content,
			       "recovery_target_time = '2026-11-26 10:30:00+00'\n"));
	assert_string_equal(a->reason,
			    "data directory \"/srv/pgc/r1\" is absent: restore node \"r1\" from "
			    "\"/srv/pgc/repo\": base backup 20261126T100000Z (ended 2026-11-26T10:00:05Z, "
			    "timeline 1, WAL 0/4000028-0/4000100), then archived WAL up to "
			    "000000010000000000000007 (0/8000000), to target_time \"2026-11-26 "
			    "10:30:00+00\", then promote on a new timeline");
	assert_int_equal(a->n_changes, 4);
	assert_string_equal(a->changes[1].to, "000000010000000000000004 on, then the archive as far "
					      "as it is contiguous");
	assert_string_equal(a->changes[3].to, "promote on a new timeline (after timeline 1)");

	/* Through the whole planner: the restore, and nothing from initdb or the replica. */
	catalog(f);
	p = plan_build(f->t, f->o, &(PgcPolicy){.now = NOON, .only_cluster = "restored"});
	assert_int_equal(p->n_actions, 1);
	assert_string_equal(p->actions[0].id, "restored/r1/restore");

	/* One more segment archived: the reason tells the new end, the saved plan still holds. */
	add_wal(f, "000000010000000000000008", NOON);
	catalog(f);
	p2 = plan_build(f->t, f->o, &(PgcPolicy){.now = NOON, .only_cluster = "restored"});
	assert_int_equal(p2->n_actions, 1);
	assert_non_null(strstr(p2->actions[0].reason, "up to 000000010000000000000008 (0/9000000)"));
	assert_int_equal(plan_compare_actions(p, p2, why, sizeof why), 0);
	plan_free(p2);
	plan_free(p);
}

static void test_restore_refused(void **state)
{
	Fx *f = *state;
	const PgcAction *a;
	PgcCluster *c = topology_cluster(f->t, "restored");

	archive(f);
	c->bootstrap.target_time.v = "2026-11-26 12:30:00+00";
	assert_true(plan_of(f, "restored"));
	assert_int_equal(f->p->n_actions, 1);
	a = find(f, "restored/r1/restore");
	assert_true(a->blocked);
	assert_string_equal(a->reason, "restore node \"r1\" from \"/srv/pgc/repo\"");
	assert_string_equal(a->blocked_reason,
			    "target_time \"2026-11-26 12:30:00+00\" is after the end of the archive: its "
			    "last segment 000000010000000000000007 was archived at 2026-11-26T11:40:00Z "
			    "(WAL up to 0/8000000)");
	/* A foreign folder where the data directory goes: refused, never emptied. */
	c->bootstrap.target_time.v = "2026-11-26 10:30:00+00";
	onode(f, "restored", "r1")->dir_state = DIR_FOREIGN;
	assert_true(plan_of(f, "restored"));
	a = find(f, "restored/r1/restore");
	assert_true(a->blocked);
	assert_string_equal(a->blocked_reason,
			    "data directory \"/srv/pgc/r1\" is not empty and not a PostgreSQL data "
			    "directory; restoring in place is never done implicitly: empty it, or give "
			    "the node another data_dir");
	/* Another cluster's data directory: refused as well. */
	running(f, "restored", "r1", false);
	onode(f, "restored", "r1")->system_identifier = 9999;
	assert_true(plan_of(f, "restored"));
	a = find(f, "restored/r1/restore");
	assert_true(a->blocked);
	assert_string_equal(a->blocked_reason,
			    "data directory \"/srv/pgc/r1\" holds another cluster (system identifier "
			    "9999, not the repository's); restoring in place is never done implicitly: "
			    "move it away, or give the node another data_dir");
}

static void test_restore_under_way(void **state)
{
	Fx *f = *state;
	PgcObsNode *r1 = onode(f, "restored", "r1");
	PgcCluster *c = topology_cluster(f->t, "restored");
	const PgcAction *a;

	archive(f);
	r1->dir_state = DIR_INITIALIZED;
	r1->recovery_signal = true;
	r1->system_identifier = 7000;
	assert_true(plan_of(f, "restored"));
	a = find(f, "restored/r1/restore");
	assert_non_null(a);
	assert_false(a->blocked);
	assert_string_equal(a->reason, "node \"r1\" is being restored (recovery.signal): start it and "
				       "wait for it replaying to target_time \"2026-11-26 10:30:00+00\", "
				       "then promote");
	/* Paused at its target, as target_action pause asks: converged, and nothing else planned. */
	c->bootstrap.target_action.v = "pause";
	r1->reachable = r1->postmaster_alive = r1->in_recovery = true;
	r1->replay_pause_state = "paused";
	assert_true(plan_of(f, "restored"));
	assert_int_equal(f->p->n_actions, 0);
	/* Declared promote now: the restore resumes and promotes. */
	c->bootstrap.target_action.v = "promote";
	assert_true(plan_of(f, "restored"));
	assert_non_null(find(f, "restored/r1/restore"));
}

static void test_restore_promoted(void **state)
{
	Fx *f = *state;
	PgcObsNode *r1 = onode(f, "restored", "r1");
	const PgcCluster *c = topology_cluster(f->t, "restored");
	const PgcAction *a;

	archive(f);
	running(f, "restored", "r1", false);
	/* Promoted, still with the restore's settings: a reload, which no policy gates. */
	r1->managed_conf = restore_managed_conf(f->a, c, &c->nodes[0]);
	assert_true(plan_of(f, "restored"));
	a = find(f, "restored/r1/restore");
	assert_int_equal(a->impact, IMPACT_RELOAD);
	assert_false(a->blocked);
	assert_string_equal(a->reason, "node \"r1\" was restored and promoted: remove the restore's "
				       "recovery settings from pgconverge.conf and reload it");
	/* Stopped there: written, then started. */
	r1->reachable = r1->postmaster_alive = false;
	assert_true(plan_of(f, "restored"));
	a = find(f, "restored/r1/restore");
	assert_int_equal(a->impact, IMPACT_NONE);
	assert_string_equal(a->reason, "node \"r1\" was restored and promoted: remove the restore's "
				       "recovery settings from pgconverge.conf and start it");
	r1->reachable = r1->postmaster_alive = true;
	/* Finished: the rest of the planner takes the cluster over (replicas, roles). */
	r1->managed_conf = plan_managed_conf(f->a, c, &c->nodes[0]);
	assert_false(plan_of(f, "restored"));
	assert_int_equal(f->p->n_actions, 0);
}

/* ---- the repository, before anything archives or fetches ------------------------------ */

static const char *const fresh_yaml =
	"version: 1\n"
	"clusters:\n"
	"  fresh:\n"
	"    os_user: postgres\n"
	"    primary: f1\n"
	"    nodes:\n"
	"      f1: {host: 127.0.0.1, port: 25450, data_dir: /srv/pgc/f1}\n"
	"      f2: {host: 127.0.0.1, port: 25451, data_dir: /srv/pgc/f2}\n"
	"      f3: {host: 127.0.0.1, port: 25452, data_dir: /srv/pgc/f3}\n"
	"    backup:\n"
	"      repository: /srv/pgc/fresh-repo\n"
	"      wal_archive: true\n";

/* waits_for - action i of p waits, directly or not, for action j (apply_order.h). */
static bool waits_for(const PgcActionOrder *o, size_t i, size_t j)
{
	for (size_t k = 0; k < o[i].n_before; k++)
		if (o[i].before[k] == j || waits_for(o, o[i].before[k], j))
			return true;
	return false;
}

static size_t index_of(const PgcPlan *p, const char *id)
{
	const PgcAction *a = plan_find_action(p, id);

	if (a == NULL)
		fail_msg("no action %s", id);
	return (size_t)(a - p->actions);
}

/*
 * A new cluster with wal_archive and two replicas: the repository is
 * created first, and everything else of the cluster, the primary's
 * configuration and start (archive_command) and the replicas' clones and
 * starts (restore_command) included, waits for it.
 */
static void test_repository_first(void **state)
{
	PgcLoadOptions lo = {.base_dir = "/srv/pgc", .offline = true, .tool_path = "/usr/bin/pgconverge"};
	PgcDiagList diags = {0};
	PgcTopology *t = topology_load_buffer(fresh_yaml, strlen(fresh_yaml), "t.yaml", &lo, &diags);
	PgcArena *a = arena_new();
	PgcObserved *o = arena_calloc(a, 1, sizeof(*o));
	PgcObsRepository repo = {.path = "/srv/pgc/fresh-repo", .exists = false};
	PgcPolicy policy = {.now = NOON};
	const PgcActionOrder *order;
	const PgcAction *act;
	const PgcCluster *c;
	char err[64];
	PgcPlan *p;
	size_t i;

	(void)state;
	if (t == NULL || diag_count(&diags, DIAG_ERROR) > 0) {
		diag_print(stderr, &diags, false);
		fail_msg("the test topology does not load");
	}
	diag_free(&diags);
	c = &t->clusters[0];
	o->arena = a;
	o->n_clusters = 1;
	o->clusters = arena_calloc(a, 1, sizeof(PgcObsCluster));
	o->clusters[0].name = c->name;
	o->clusters[0].n_nodes = c->n_nodes;
	o->clusters[0].nodes = arena_calloc(a, c->n_nodes, sizeof(PgcObsNode));
	for (i = 0; i < c->n_nodes; i++) {
		o->clusters[0].nodes[i].name = c->nodes[i].name;
		o->clusters[0].nodes[i].cluster = c->name;
		o->clusters[0].nodes[i].local = true;
		o->clusters[0].nodes[i].dir_state = DIR_ABSENT;
	}
	{
		json_t *doc = json_pack("{s:i}", "format_version", 1);

		repo.catalog = backup_catalog_from_json(doc, err, sizeof err);
		json_decref(doc);
	}
	o->clusters[0].repository = &repo;

	p = plan_build(t, o, &policy);
	assert_true(p->n_actions > 8);
	act = &p->actions[0];
	assert_string_equal(act->id, "fresh/-/create-repository");
	assert_int_equal(act->kind, ACT_CREATE_REPOSITORY);
	assert_int_equal(act->impact, IMPACT_NONE);
	assert_false(act->blocked);
	assert_null(act->node);
	assert_string_equal(act->payload.path, "/srv/pgc/fresh-repo");
	assert_string_equal(act->reason, "backup repository \"/srv/pgc/fresh-repo\" does not exist: "
					 "create it, before any server archives WAL into it or fetches "
					 "WAL from it");
	assert_int_equal(act->n_changes, 1);
	assert_string_equal(act->changes[0].to, "/srv/pgc/fresh-repo with base/, logical/ and wal/, "
						"owned by os_user \"postgres\", mode 0700");
	assert_string_equal(plan_action_name(ACT_CREATE_REPOSITORY), "create-repository");

	/* Apply's order: every other action waits for it. */
	order = apply_order_build(p->arena, t, p);
	for (i = 1; i < p->n_actions; i++)
		if (!waits_for(order, i, 0))
			fail_msg("%s does not wait for the repository", p->actions[i].id);
	assert_true(waits_for(order, index_of(p, "fresh/f1/config"), 0));
	assert_true(waits_for(order, index_of(p, "fresh/f1/start"), 0));
	assert_true(waits_for(order, index_of(p, "fresh/f2/clone"), 0));
	assert_true(waits_for(order, index_of(p, "fresh/f3/start"), 0));
	plan_free(p);

	/* Offline: planned for the cluster that the plan creates. */
	p = plan_build(t, NULL, &policy);
	assert_string_equal(p->actions[0].id, "fresh/-/create-repository");
	assert_string_equal(p->actions[0].reason,
			    "create backup repository \"/srv/pgc/fresh-repo\" (unless it exists), before "
			    "any server archives WAL into it or fetches WAL from it");
	plan_free(p);

	/* There already: nothing to do. Unreadable: not planned (the schedule says why). */
	repo.exists = true;
	p = plan_build(t, o, &policy);
	assert_null(plan_find_action(p, "fresh/-/create-repository"));
	plan_free(p);
	repo.exists = false;
	repo.error = "could not stat \"/srv/pgc/fresh-repo\": Permission denied";
	p = plan_build(t, o, &policy);
	assert_null(plan_find_action(p, "fresh/-/create-repository"));
	plan_free(p);

	backup_catalog_free(repo.catalog);
	arena_free(a);
	topology_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_text),
		cmocka_unit_test_setup_teardown(test_base_backup_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_backup_not_retried_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_waits_or_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logical_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_lists_what_it_removes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drill_schedule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_under_way, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_promoted, setup, teardown),
		cmocka_unit_test(test_repository_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
