/*
 * reconcile/monitoring/plan_monitoring.c - the monitoring component's part
 * of the plan (plan_monitoring.h). Pure: the clock is the policy's.
 */
#include "reconcile/monitoring/plan_monitoring.h"

#include <stdio.h>
#include <string.h>

#include "common/strutil.h"
#include "reconcile/observe/observe_pgbadger.h"
#include "reconcile/pg/serverlog.h"

/* span - seconds as "45s", "12m", "5h 12m", "2d 3h" (an age), or exactly ("1h", "90m"). */
static const char *span(PgcArena *a, double seconds, bool exact)
{
	long long s = seconds < 0 ? 0 : (long long)seconds;

	if (exact) {
		if (s >= 86400 && s % 86400 == 0)
			return arena_printf(a, "%lldd", s / 86400);
		if (s >= 3600 && s % 3600 == 0)
			return arena_printf(a, "%lldh", s / 3600);
		if (s >= 60 && s % 60 == 0)
			return arena_printf(a, "%lldm", s / 60);
		return arena_printf(a, "%llds", s);
	}
	if (s >= 86400)
		return arena_printf(a, "%lldd %lldh", s / 86400, s % 86400 / 3600);
	if (s >= 3600)
		return arena_printf(a, "%lldh %lldm", s / 3600, s % 3600 / 60);
	if (s >= 60)
		return arena_printf(a, "%lldm", s / 60);
	return arena_printf(a, "%llds", s);
}

const char **plan_pgbadger_argv(PgcArena *arena, const PgcCluster *c, const PgcNode *n)
{
	const char *dir = observe_pgbadger_dir(arena, c, n);
	const char *fmt = serverlog_format(c, n);
	const char **argv = arena_calloc(arena, 24, sizeof(char *));
	size_t k = 0;

	argv[k++] = PGC_PGBADGER;
	argv[k++] = "--incremental";
	argv[k++] = "--outdir";
	argv[k++] = dir;
	/* Day reports only: keep is in days, and removing a day removes all of it. */
	argv[k++] = "--no-week";
	argv[k++] = "--format";
	argv[k++] = fmt ? fmt : "stderr";
	if (fmt == NULL || strcmp(fmt, "stderr") == 0) {
		argv[k++] = "--prefix";
		argv[k++] = serverlog_setting(c, n, "log_line_prefix");
	}
	argv[k++] = "--title";
	argv[k++] = arena_printf(arena, "pgBadger: %s/%s", c->name, n->name);
	/* Its pid file and temporary files (/tmp by default) are per node: the
	 * nodes' runs go side by side. */
	argv[k++] = "--pid-dir";
	argv[k++] = dir;
	argv[k++] = "--tempdir";
	argv[k++] = dir;
	argv[k++] = "--quiet";
	argv[k] = NULL;
	return argv;
}

/* html - s with &, <, >, " escaped. */
static void html(PgcStrBuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			strbuf_adds(b, "&amp;");
			break;
		case '<':
			strbuf_adds(b, "&lt;");
			break;
		case '>':
			strbuf_adds(b, "&gt;");
			break;
		case '"':
			strbuf_adds(b, "&quot;");
			break;
		default:
			strbuf_add(b, s, 1);
		}
	}
}

const char *plan_pgbadger_index(PgcArena *arena, const PgcCluster *c)
{
	PgcStrBuf b = PGC_STRBUF_INIT;
	const char *out;

	strbuf_adds(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<title>pgBadger: ");
	html(&b, c->name);
	strbuf_adds(&b, "</title></head>\n<body>\n<h1>pgBadger reports of cluster ");
	html(&b, c->name);
	strbuf_adds(&b, "</h1>\n<!-- written by pgconverge: rewritten at every pgBadger run -->\n<ul>\n");
	for (size_t i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];

		strbuf_adds(&b, "<li><a href=\"");
		html(&b, n->name);
		strbuf_adds(&b, "/index.html\">");
		html(&b, n->name);
		strbuf_adds(&b, "</a> (");
		html(&b, n->host.v ? n->host.v : "");
		strbuf_addf(&b, ":%lld)</li>\n", n->port.v);
	}
	strbuf_addf(&b, "</ul>\n<p>Each node's report covers its last %lld days, from the log files "
		    "its server has finished writing.</p>\n</body></html>\n",
		    c->monitoring.pgbadger.keep.v);
	out = strbuf_finish(&b, arena);
	return out;
}

static const PgcObsNode *obs_node(const PgcObserved *obs, const PgcCluster *c, const PgcNode *n)
{
	for (size_t i = 0; i < obs->n_clusters; i++) {
		if (strcmp(obs->clusters[i].name, c->name) != 0)
			continue;
		for (size_t j = 0; j < obs->clusters[i].n_nodes; j++)
			if (strcmp(obs->clusters[i].nodes[j].name, n->name) == 0)
				return &obs->clusters[i].nodes[j];
	}
	return NULL;
}

/*
 * due - why node n needs a run now, or NULL when its last one is recent
 * enough. *blocked gets why it cannot run here; *remote is set when that is
 * because the node is on another machine.
 */
static const char *due(PgcArena *a, const PgcCluster *c, const PgcNode *n, const PgcObsNode *o,
		       double now, const char **blocked, bool *remote)
{
	const PgcObsPgbadger *pb = o->pgbadger;
	const char *every = span(a, (double)c->monitoring.pgbadger.every.ms / 1000, true);
	double age;

	*blocked = NULL;
	*remote = !o->local;
	if (!o->local) {
		*blocked = arena_printf(a, "node's host \"%s\" is not this machine: pgBadger reads "
					"the server's log files where they are", n->host.v);
		return arena_printf(a, "node \"%s\" has pgBadger reports (pgbadger.every %s)", n->name,
				    every);
	}
	if (pb == NULL)
		return NULL; /* not looked at */
	if (pb->error != NULL) {
		*blocked = pb->error;
		return arena_printf(a, "the state of node \"%s\"'s pgBadger reports is unknown",
				    n->name);
	}
	if (!pb->exists)
		return arena_printf(a, "no pgBadger report of node \"%s\" yet (pgbadger.every %s)",
				    n->name, every);
	age = now - pb->last_run_epoch;
	if (age * 1000 < (double)c->monitoring.pgbadger.every.ms)
		return NULL;
	return arena_printf(a, "the last pgBadger run on node \"%s\" was %s ago%s, pgbadger.every is %s",
			    n->name, span(a, age, false), pb->ok ? "" : " and failed", every);
}

void plan_monitoring_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObserved *obs,
			     const PgcPolicy *policy)
{
	const char *index;

	if (!c->monitoring.pgbadger.set || obs == NULL || obs->pretend)
		return;
	index = plan_pgbadger_index(b->a, c);
	for (size_t i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];
		const PgcObsNode *o = obs_node(obs, c, n);
		const char *why, *blocked, **argv;
		PgcAction *act;
		bool remote;

		if (o == NULL)
			continue;
		/* A node being created has no log yet; a remote one that does not answer may not exist. */
		if (o->local ? o->dir_state != DIR_INITIALIZED : !o->reachable)
			continue;
		why = due(b->a, c, n, o, (double)policy->now, &blocked, &remote);
		if (why == NULL)
			continue;
		act = builder_emit(b, ACT_PGBADGER, c->name, n->name, NULL, IMPACT_NONE,
				   arena_printf(b->a, "%s: parse the log files its server finished "
						"writing into %s", why,
						observe_pgbadger_dir(b->a, c, n)));
		act->payload.path = serverlog_dir(b->a, c, n);
		act->payload.target = observe_pgbadger_dir(b->a, c, n);
		act->payload.content = index;
		for (argv = plan_pgbadger_argv(b->a, c, n); *argv != NULL; argv++)
			builder_param(b, act, *argv);
		builder_change(b, act, "last pgbadger run",
			       o->pgbadger && o->pgbadger->exists ? o->pgbadger->last_run : NULL, "now");
		if (remote)
			builder_delegate(b, act, blocked);
		else if (blocked != NULL)
			builder_block(act, blocked);
	}
}
