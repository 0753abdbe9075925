/*
 * reconcile/pgpool/plan_pgpool.c - the Pgpool-II part of the plan
 * (plan_pgpool.h).
 */
#include "reconcile/pgpool/plan_pgpool.h"

#include <string.h>

#include "reconcile/observe/observe_pgpool.h"
#include "reconcile/pgpool/pgpool_conf.h"
#include "reconcile/postgres/plan_conf.h"

static const PgcObsCluster *find_cluster(const PgcObserved *obs, const char *name)
{
	for (size_t i = 0; obs != NULL && i < obs->n_clusters; i++)
		if (strcmp(obs->clusters[i].name, name) == 0)
			return &obs->clusters[i];
	return NULL;
}

static const PgcObsNode *find_node(const PgcObsCluster *oc, const char *name)
{
	for (size_t i = 0; oc != NULL && i < oc->n_nodes; i++)
		if (strcmp(oc->nodes[i].name, name) == 0)
			return &oc->nodes[i];
	return NULL;
}

static const PgcObsPgpoolNode *pool_row(const PgcObsPgpool *pp, size_t id)
{
	for (size_t i = 0; i < pp->n_nodes; i++)
		if (pp->nodes[i].id == (int)id)
			return &pp->nodes[i];
	return NULL;
}

static bool attached(const PgcObsPgpoolNode *r)
{
	return r != NULL && r->status != NULL &&
	       (strcmp(r->status, "up") == 0 || strcmp(r->status, "waiting") == 0);
}

static bool streams(const PgcObsNode *o)
{
	return o != NULL && o->reachable && o->in_recovery && o->wal_receiver_status != NULL &&
	       strcmp(o->wal_receiver_status, "streaming") == 0;
}

/* depend_on_cluster - act waits for every action planned for c before it. */
static void depend_on_cluster(PgcPlanBuilder *b, size_t act, const PgcCluster *c, size_t before)
{
	for (size_t i = 0; i < before; i++)
		if (b->p->actions[i].cluster != NULL && strcmp(b->p->actions[i].cluster, c->name) == 0)
			builder_depend(b, &b->p->actions[act], b->p->actions[i].id);
}

static const char *restart_block(PgcArena *a, const PgcCluster *c)
{
	const PgcMaintenance *m = &c->maintenance;

	if (m->restart == RESTART_WINDOW && m->window.v != NULL)
		return arena_printf(a, "outside the maintenance window \"%s\"; run with "
				    "--allow-restart to restart Pgpool-II now, or apply during the window",
				    m->window.v);
	return arena_printf(a, "restarting Pgpool-II drops its clients: it needs --allow-restart "
			    "(cluster \"%s\" has maintenance.restart: never)", c->name);
}

/* follow - the pgpool-follow action when Pgpool-II's view differs from the live roles. */
static void follow(PgcPlanBuilder *b, const PgcCluster *c, const PgcObsCluster *oc,
		   const PgcObsPgpool *pp, size_t before)
{
	PgcAction tmp = {0};
	size_t idx;

	for (size_t i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];
		const PgcObsPgpoolNode *r = pool_row(pp, i);
		const PgcObsNode *o = find_node(oc, n->name);
		bool is_primary = strcmp(n->name, c->primary.v) == 0;
		const char *key = arena_printf(b->a, "pgpool.backend%zu(%s)", i, n->name);
		const char *have = r == NULL ? NULL
				   : arena_printf(b->a, "%s %s", r->status ? r->status : "?",
						  r->role ? r->role : "?");

		if (is_primary) {
			/* Only a primary that answers: pgpool-follow checks that too. */
			if ((!attached(r) || r->role == NULL || strcmp(r->role, "primary") != 0) &&
			    o != NULL && o->reachable && !o->in_recovery)
				builder_change(b, &tmp, key, have, "up primary");
		} else if (!attached(r) && streams(o)) {
			builder_change(b, &tmp, key, have, "up standby");
		} else if (attached(r) && o != NULL && !o->reachable) {
			builder_change(b, &tmp, key, have, "down");
		}
	}
	if (tmp.n_changes == 0)
		return;
	idx = b->p->n_actions;
	builder_emit(b, ACT_PGPOOL_FOLLOW, c->name, NULL, NULL, IMPACT_NONE,
		     arena_printf(b->a, "Pgpool-II's view of the backends differs from the live "
				  "roles: tell it (PCP) that \"%s\" is the primary, attach the standbys "
				  "that stream, detach the nodes that are down",
				  c->primary.v));
	b->p->actions[idx].changes = tmp.changes;
	b->p->actions[idx].n_changes = tmp.n_changes;
	b->p->actions[idx].payload.target = arena_strdup(b->a, c->primary.v);
	depend_on_cluster(b, idx, c, before);
}

void plan_pgpool_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObserved *obs,
			 const PgcPolicy *policy)
{
	const PgcObsCluster *oc;
	const PgcObsPgpool *pp;
	const char *conf, *hba, **keys, **from, **to;
	size_t before = b->p->n_actions, nd, idx, cfg = (size_t)-1;
	bool restart, running, files_differ;

	if (!c->pgpool.set || c->n_nodes == 0)
		return;
	oc = find_cluster(obs, c->name);
	pp = oc != NULL ? oc->pgpool : NULL;
	conf = pgpool_render_conf(b->a, c);
	hba = pgpool_render_hba(b->a, c);
	running = pp != NULL && pp->alive;
	nd = pgpool_conf_diff(b->a, pp ? pp->conf : NULL, conf, &keys, &from, &to, &restart);
	files_differ = pp == NULL || nd > 0 || pp->hba == NULL || strcmp(pp->hba, hba) != 0 ||
		       pp->passwd_ok == 0 || !pp->pcp_ok;

	if (files_differ) {
		bool rs = running && restart;
		PgcAction *a;

		idx = b->p->n_actions;
		a = builder_emit(b, rs ? ACT_PGPOOL_RESTART : ACT_PGPOOL_CONFIG, c->name, NULL, NULL,
				 rs ? IMPACT_RESTART : running ? IMPACT_RELOAD : IMPACT_NONE,
				 rs ? "a changed Pgpool-II parameter takes effect at a start only: "
				      "write its files, then restart it (its clients are disconnected)"
				 : running ? "write Pgpool-II's files (pgpool.conf, pool_hba.conf, "
					     "pool_passwd), then reload it"
					   : "write Pgpool-II's files in its folder (pgpool.conf, "
					     "pool_hba.conf, pool_passwd, PCP access)");
		a->payload.path = arena_strdup(b->a, c->pgpool.dir.v);
		a->payload.content = conf;
		a->payload.ident = hba;
		if (pp == NULL || pp->conf == NULL)
			builder_change(b, a, PGPOOL_CONF_FILE, NULL,
				       arena_printf(b->a, "(%zu parameters)", nd));
		else
			for (size_t i = 0; i < nd; i++)
				builder_change(b, a, keys[i], from[i], to[i]);
		if (pp != NULL && (pp->hba == NULL || strcmp(pp->hba, hba) != 0))
			builder_change(b, a, PGPOOL_HBA_FILE, pp->hba ? "(differs)" : NULL, "(rendered)");
		if (pp != NULL && pp->passwd_ok == 0)
			builder_change(b, a, PGPOOL_PASSWD_FILE, NULL, "(the declared passwords)");
		if (pp != NULL && !pp->pcp_ok)
			builder_change(b, a, PGPOOL_PCP_FILE, NULL, "(PCP access)");
		if (pp != NULL && !pp->looked)
			builder_delegate(b, a, arena_printf(b->a, "Pgpool-II runs on the machine of node "
						      "\"%s\", which is not this one",
						      c->nodes[0].name));
		else if (rs && !policy->allow_restart &&
			 !maintenance_window_open(&c->maintenance, policy->now))
			builder_block(a, restart_block(b->a, c));
		depend_on_cluster(b, idx, c, before);
		cfg = idx;
		if (rs)
			return; /* the restart starts it; the next pass follows the roles */
	}
	if (!running) {
		PgcAction *a;

		idx = b->p->n_actions;
		a = builder_emit(b, ACT_PGPOOL_START, c->name, NULL, NULL, IMPACT_NONE,
				 pp != NULL && pp->pid > 0 ? "Pgpool-II is not running (its pid file "
							     "names a process that is gone): start it"
							   : "Pgpool-II is not running: start it");
		if (pp != NULL && !pp->looked)
			builder_delegate(b, a, arena_printf(b->a, "Pgpool-II runs on the machine of node "
						      "\"%s\", which is not this one",
						      c->nodes[0].name));
		depend_on_cluster(b, idx, c, before);
		if (cfg != (size_t)-1)
			builder_depend(b, &b->p->actions[idx], b->p->actions[cfg].id);
		return;
	}
	if (pp->reachable)
		follow(b, c, oc, pp, b->p->n_actions);
}
