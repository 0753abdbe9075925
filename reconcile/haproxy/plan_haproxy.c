/*
 * reconcile/haproxy/plan_haproxy.c - HAProxy's part of the plan
 * (plan_haproxy.h).
 */
#include "reconcile/haproxy/plan_haproxy.h"

#include <string.h>

#include "reconcile/haproxy/haproxy_conf.h"
#include "reconcile/observe/observe_haproxy.h"

typedef struct {
	const PgcPlan *p;
	const char *cluster;
} Fresh;

/* fresh - the plan clones or starts node: it will stream once apply is done. */
static bool fresh(const char *node, void *arg)
{
	const Fresh *f = arg;

	for (size_t i = 0; i < f->p->n_actions; i++) {
		const PgcAction *a = &f->p->actions[i];

		if ((a->kind == ACT_CLONE || a->kind == ACT_START) && a->node != NULL &&
		    strcmp(a->node, node) == 0 && strcmp(a->cluster, f->cluster) == 0)
			return true;
	}
	return false;
}

static const PgcObsCluster *obs_cluster(const PgcObserved *obs, const char *name)
{
	for (size_t i = 0; obs != NULL && i < obs->n_clusters; i++)
		if (strcmp(obs->clusters[i].name, name) == 0)
			return &obs->clusters[i];
	return NULL;
}

/* emit - one action carrying the file; blocked when it cannot be done here. */
static PgcAction *emit(PgcPlanBuilder *b, const PgcCluster *c, PgcActionKind kind,
		       PgcImpact impact, const char *reason, const char *cfg,
		       const PgcObsHaproxy *oh)
{
	PgcAction *act = builder_emit(b, kind, c->name, NULL, NULL, impact, reason);
	const char *problem = haproxy_dir_problem(b->a, c);

	act->payload.path = haproxy_path(b->a, c, HAPROXY_CFG_NAME);
	act->payload.content = arena_strdup(b->a, cfg);
	if (problem != NULL)
		builder_block(act, problem);
	if (oh != NULL && !oh->looked)
		builder_delegate(b, act, arena_printf(b->a, "HAProxy runs on the host of node \"%s\" (%s), "
						      "not on this machine",
						c->nodes[0].name, oh->error ? oh->error : "?"));
	return act;
}

/* short_digest - a digest for a change line; "none" when there is none. */
static const char *short_digest(const char *d)
{
	return d != NULL ? d : "none";
}

/*
 * moves_reason - the sentence of a haproxy-servers action: how many states
 * move, and why each replica that leaves the reads does.
 */
static const char *moves_reason(PgcArena *a, const PgcHaproxyWant *w, const PgcHaproxyMove *m,
				size_t n)
{
	const char *s = arena_printf(a, "%zu server state(s) differ from the cluster's roles "
					"(primary \"%s\"): set them through HAProxy's runtime API, "
					"no reload, and rewrite haproxy.cfg to match",
				     n, w->primary);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < w->n; j++)
			if (!m[i].ready && strcmp(m[i].backend, HAPROXY_READ_BACKEND) == 0 &&
			    strcmp(w->nodes[j].node, m[i].server) == 0 && w->nodes[j].why != NULL &&
			    !w->nodes[j].write)
				s = arena_printf(a, "%s; \"%s\" leaves the reads: %s", s, m[i].server,
						 w->nodes[j].why);
	return s;
}

void plan_haproxy_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObserved *obs)
{
	const PgcObsCluster *oc;
	const PgcObsHaproxy *oh;
	PgcHaproxyWant w;
	PgcHaproxyMove *moves;
	Fresh f;
	const char *cfg, *digest;
	PgcAction *act;
	size_t n;

	if (!c->haproxy.set || c->n_nodes == 0)
		return;
	oc = obs_cluster(obs, c->name);
	oh = oc != NULL && !obs->pretend ? oc->haproxy : NULL;
	f = (Fresh){b->p, c->name};
	haproxy_want_observed(b->a, c, c->primary.v, obs != NULL && !obs->pretend ? oc : NULL, fresh,
			      &f, &w);
	cfg = haproxy_render(b->a, c, &w);
	digest = haproxy_digest(b->a, c);

	if (oh == NULL || !oh->alive) {
		act = emit(b, c, ACT_HAPROXY_START, IMPACT_NONE,
			   oh == NULL || oh->pid == 0
			       ? "HAProxy is not running: start it with the rendered haproxy.cfg"
			       : arena_printf(b->a, "HAProxy (pid %ld in haproxy.pid) is not running: "
						    "start it with the rendered haproxy.cfg", oh->pid),
			   cfg, oh);
		builder_change(b, act, "haproxy", "stopped", "running");
		builder_change(b, act, "primary (" HAPROXY_WRITE_BACKEND ")", NULL, w.primary);
		return;
	}
	if (!oh->api || oh->digest == NULL || strcmp(oh->digest, digest) != 0) {
		act = emit(b, c, ACT_HAPROXY_RELOAD, IMPACT_RELOAD,
			   !oh->api ? arena_printf(b->a, "HAProxy's runtime API does not answer (%s): "
							 "reload it with the rendered haproxy.cfg",
						   oh->api_error ? oh->api_error : "no answer")
				    : "the configuration HAProxy loaded is not the rendered one: "
				      "reload it (established connections stay)",
			   cfg, oh);
		builder_change(b, act, "loaded configuration", short_digest(oh->digest), digest);
		return;
	}
	n = haproxy_moves(b->a, c, &w, oh, &moves);
	if (n == 0 && oh->cfg != NULL && strcmp(oh->cfg, cfg) == 0)
		return; /* converged */
	act = emit(b, c, ACT_HAPROXY_SERVERS, IMPACT_NONE,
		   n == 0 ? "haproxy.cfg differs from the rendered one (the running HAProxy "
			    "already matches it): rewrite it"
			  : moves_reason(b->a, &w, moves, n),
		   cfg, oh);
	for (size_t i = 0; i < n; i++) {
		const char *cmds[2];
		size_t k = haproxy_move_commands(b->a, &moves[i], cmds);

		builder_change(b, act, arena_printf(b->a, "%s/%s", moves[i].backend, moves[i].server),
			       moves[i].ready ? "maint" : "ready", moves[i].ready ? "ready" : "maint");
		for (size_t j = 0; j < k; j++)
			builder_param(b, act, cmds[j]);
	}
	if (oh->cfg == NULL || strcmp(oh->cfg, cfg) != 0)
		builder_change(b, act, HAPROXY_CFG_NAME, oh->cfg == NULL ? NULL : "differs",
			       "rendered");
}
