/*
 * reconcile/pgbouncer/plan_pgbouncer.c - the PgBouncer planner (plan_pgbouncer.h).
 */
#include "reconcile/pgbouncer/plan_pgbouncer.h"

#include <string.h>

#include "reconcile/pgbouncer/pgbouncer_conf.h"

typedef struct {
	PgcPlanBuilder *b;
	PgcArena *a;
	const PgcCluster *c;
	const PgcObsPgbouncer *o;
	const char *want;         /* the ini to write */
	bool ini_same, users_same, points_same, restart;
} Ctx;

/* short_digest - "sha256:" and 12 hex digits, or NULL. */
static const char *short_digest(Ctx *x, const char *hex)
{
	return hex ? arena_printf(x->a, "sha256:%.12s", hex) : NULL;
}

/* diff - one change per ini entry that differs; sets x->restart for keys RELOAD does not take. */
static void diff(Ctx *x, PgcAction *act)
{
	PgcIniEntry *have, *want;
	size_t nh = pgbouncer_ini_parse(x->a, x->o ? x->o->ini : NULL, &have);
	size_t nw = pgbouncer_ini_parse(x->a, x->want, &want);

	for (size_t i = 0; i < nw; i++) {
		const char *v = pgbouncer_ini_get(have, nh, want[i].key);

		if (v == NULL || strcmp(v, want[i].value) != 0)
			builder_change(x->b, act, arena_printf(x->a, "pgbouncer.ini: %s", want[i].key), v,
				       want[i].value);
	}
	for (size_t i = 0; i < nh; i++)
		if (pgbouncer_ini_get(want, nw, have[i].key) == NULL)
			builder_change(x->b, act, arena_printf(x->a, "pgbouncer.ini: %s", have[i].key),
				       have[i].value, NULL);
}

static bool restart_needed(Ctx *x)
{
	PgcIniEntry *have, *want;
	size_t nh, nw;

	if (x->o == NULL || x->o->ini == NULL)
		return false;
	nh = pgbouncer_ini_parse(x->a, x->o->ini, &have);
	nw = pgbouncer_ini_parse(x->a, x->want, &want);
	for (size_t i = 0; i < nw; i++) {
		const char *v = pgbouncer_ini_get(have, nh, want[i].key);

		if (pgbouncer_needs_restart(want[i].key) && (v == NULL || strcmp(v, want[i].value) != 0))
			return true;
	}
	return false;
}

/* other_changes - the userlist and the loaded target, as changes of act. */
static void other_changes(Ctx *x, PgcAction *act, const PgcNode *p)
{
	if (!x->users_same)
		builder_change(x->b, act, "userlist.txt",
			       x->o ? short_digest(x, x->o->userlist_digest) : NULL,
			       x->o && x->o->userlist_want ? short_digest(x, x->o->userlist_want)
							  : "the declared roles' SCRAM verifiers");
	if (!x->points_same && p != NULL)
		builder_change(x->b, act, "loaded [databases]",
			       arena_printf(x->a, "%s:%d", x->o->points_host, x->o->points_port),
			       arena_printf(x->a, "%s:%lld", p->host.v, p->port.v));
}

static PgcAction *emit(Ctx *x, PgcActionKind kind, PgcImpact impact, const char *reason)
{
	PgcAction *act = builder_emit(x->b, kind, x->c->name, NULL, NULL, impact, reason);

	act->payload.path = arena_printf(x->a, "%s/%s", x->c->pgbouncer.dir.v, PGBOUNCER_INI);
	if (kind != ACT_PGBOUNCER_START) {
		act->payload.content = x->want;
		act->payload.target = arena_strdup(x->a, x->c->primary.v);
	}
	if (x->o != NULL && !x->o->local)
		builder_delegate(x->b, act, arena_printf(x->a, "the pooler's host \"%s\" is not this "
							 "machine", pgbouncer_host(x->c)));
	return act;
}

static const char *restart_block(Ctx *x)
{
	const PgcMaintenance *m = &x->c->maintenance;

	if (m->restart == RESTART_WINDOW && m->window.v != NULL)
		return arena_printf(x->a, "outside the maintenance window \"%s\"; run with "
				    "--allow-restart to restart now, or apply during the window",
				    m->window.v);
	return arena_printf(x->a, "restarts need --allow-restart (cluster \"%s\" has "
			    "maintenance.restart: never)", x->c->name);
}

void plan_pgbouncer_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObsPgbouncer *o,
			    bool restart_ok)
{
	const PgcNode *p = cluster_node(c, c->primary.v);
	Ctx x = {b, b->a, c, o, NULL, false, false, true, false};
	PgcAction *act;
	const char *config_id = NULL;

	if (!c->pgbouncer.set || c->pgbouncer.dir.v == NULL || p == NULL)
		return;
	x.want = pgbouncer_ini(x.a, c);
	if (o != NULL && o->local) {
		x.ini_same = o->ini != NULL && strcmp(o->ini, x.want) == 0;
		/* Unknown (no primary answered): nothing to compare with, and
		 * nothing apply could read either. */
		x.users_same = o->admin_pass && o->userlist_digest != NULL &&
			       (o->userlist_want == NULL || strcmp(o->userlist_digest, o->userlist_want) == 0);
		x.points_same = !o->alive || !o->console ||
				(o->points_host != NULL && strcmp(o->points_host, p->host.v) == 0 &&
				 o->points_port == p->port.v);
		x.restart = o->alive && restart_needed(&x);
	}
	if (o != NULL && o->local && o->alive) {
		if (x.restart) {
			act = emit(&x, ACT_PGBOUNCER_RESTART, IMPACT_RESTART,
				   "PgBouncer takes a new listener only when it restarts, which drops "
				   "its clients");
			diff(&x, act);
			other_changes(&x, act, p);
			if (!restart_ok)
				builder_block(act, restart_block(&x));
			return;
		}
		if (x.ini_same && x.users_same && x.points_same && !o->paused)
			return;
		act = emit(&x, ACT_PGBOUNCER_CONFIG, IMPACT_RELOAD,
			   o->paused && x.ini_same && x.users_same && x.points_same
				   ? "PgBouncer was paused by a switchover that did not finish: RESUME"
			   : !x.points_same || !x.ini_same
				   ? arena_printf(x.a, "PgBouncer must send clients to the primary \"%s\" "
						  "with the declared settings: rewrite and RELOAD",
						  c->primary.v)
				   : "the userlist must hold the declared roles' current SCRAM "
				     "verifiers: rewrite and RELOAD");
		diff(&x, act);
		other_changes(&x, act, p);
		if (o->paused)
			builder_change(b, act, "state", "paused", "running");
		return;
	}
	if (!x.ini_same || !x.users_same) {
		act = emit(&x, ACT_PGBOUNCER_CONFIG, IMPACT_NONE,
			   arena_printf(x.a, "PgBouncer needs its files, pointing at the primary \"%s\"",
					c->primary.v));
		diff(&x, act);
		x.points_same = true;
		other_changes(&x, act, p);
		config_id = act->id;
	}
	act = emit(&x, ACT_PGBOUNCER_START, IMPACT_NONE,
		   o != NULL && o->pid > 0 ? arena_printf(x.a, "PgBouncer (pid %ld) is not running",
							   o->pid)
					   : "PgBouncer is not running");
	builder_change(b, act, "pgbouncer", "stopped", "running");
	builder_depend(b, act, config_id);
}
