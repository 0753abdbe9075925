/*
 * reconcile/datadog/plan_datadog.c - monitoring.datadog's role, check file
 * and Database Monitoring in the plan (plan_datadog.h).
 */
#include "reconcile/datadog/plan_datadog.h"

#include <stdio.h>
#include <string.h>

#include "reconcile/datadog/datadog.h"
#include "reconcile/observe/observe_datadog.h"

/* The predefined role whose members may read every statistics view. */
#define DATADOG_GROUP "pg_monitor"

static bool streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

const PgcCluster *plan_datadog_roles(PgcArena *a, const PgcCluster *c)
{
	const char *user = c->monitoring.datadog.user.v;
	PgcCluster *copy;
	PgcRole *r = NULL;
	bool member = false;

	if (!c->monitoring.datadog.set || user == NULL)
		return c;
	copy = arena_alloc(a, sizeof *copy);
	*copy = *c;
	copy->roles = arena_calloc(a, c->n_roles + 1, sizeof *copy->roles);
	if (c->n_roles > 0)
		memcpy(copy->roles, c->roles, c->n_roles * sizeof *copy->roles);
	for (size_t i = 0; i < copy->n_roles && r == NULL; i++)
		if (strcmp(copy->roles[i].name, user) == 0)
			r = &copy->roles[i];
	if (r == NULL) {
		r = &copy->roles[copy->n_roles++];
		r->name = user;
		r->pos = c->monitoring.datadog.pos;
		r->connection_limit.v = -1; /* the loader's default */
	}
	r->login.v = true;
	r->password = c->monitoring.datadog.password;
	for (size_t i = 0; i < r->member_of.n; i++)
		member = member || streq(r->member_of.items[i].v, DATADOG_GROUP);
	if (!member) {
		PgcStr *items = arena_calloc(a, r->member_of.n + 1, sizeof *items);

		if (r->member_of.n > 0)
			memcpy(items, r->member_of.items, r->member_of.n * sizeof *items);
		items[r->member_of.n].v = DATADOG_GROUP;
		items[r->member_of.n].set = true;
		r->member_of.items = items;
		r->member_of.n++;
	}
	return copy;
}

static const PgcObsCluster *obs_cluster(const PgcObserved *obs, const char *name)
{
	for (size_t i = 0; obs != NULL && i < obs->n_clusters; i++)
		if (strcmp(obs->clusters[i].name, name) == 0)
			return &obs->clusters[i];
	return NULL;
}

/* The most line changes a rewrite lists; the rest is counted. */
#define DIFF_MAX_LINES 12

/* next_line - the line at *p (without its newline) in a, *p moved past it; NULL at the end. */
static const char *next_line(PgcArena *a, const char **p)
{
	const char *eol, *l;

	if (*p == NULL || **p == '\0')
		return NULL;
	eol = strchr(*p, '\n');
	l = arena_strndup(a, *p, eol ? (size_t)(eol - *p) : strlen(*p));
	*p = eol ? eol + 1 : NULL;
	return l;
}

/*
 * diff_lines - the lines that differ, by position ("conf.yaml:17":
 * "role:primary" -> "role:replica" after a switchover), up to
 * DIFF_MAX_LINES; from NULL (a new file): one change naming the instances.
 */
static void diff_lines(PgcPlanBuilder *b, PgcAction *act, const PgcCluster *c, const char *from,
		       const char *to)
{
	const char *pf = from, *pt = to, *lf, *lt;
	size_t line = 0, n = 0;

	if (from == NULL) {
		builder_change(b, act, OBS_DATADOG_CONF_NAME, NULL,
			       arena_printf(b->a, "%zu instance%s, one per node", c->n_nodes,
					    c->n_nodes == 1 ? "" : "s"));
		return;
	}
	for (;;) {
		lf = next_line(b->a, &pf);
		lt = next_line(b->a, &pt);
		if (lf == NULL && lt == NULL)
			break;
		line++;
		if (lf != NULL && lt != NULL && strcmp(lf, lt) == 0)
			continue;
		if (n++ < DIFF_MAX_LINES)
			builder_change(b, act, arena_printf(b->a, "%s:%zu", OBS_DATADOG_CONF_NAME, line),
				       lf ? lf + strspn(lf, " ") : NULL, lt ? lt + strspn(lt, " ") : NULL);
	}
	if (n > DIFF_MAX_LINES)
		builder_change(b, act, OBS_DATADOG_CONF_NAME, NULL,
			       arena_printf(b->a, "%zu more lines differ", n - DIFF_MAX_LINES));
}

static void plan_conf(PgcPlanBuilder *b, const PgcCluster *c, const PgcObsDatadog *d)
{
	const char *path = datadog_conf_path(b->a, c);
	const char *want = datadog_conf_render(b->a, c);
	const char *reason;
	PgcAction *act;
	bool content, mode, password;

	if (d != NULL && !d->conf_read && d->conf_error == NULL)
		return; /* not looked at */
	if (d != NULL && d->conf_error != NULL) {
		reason = arena_printf(b->a, "the Datadog check file cannot be used: %s", d->conf_error);
		content = true, mode = password = false;
	} else if (d == NULL || !d->conf_exists) {
		reason = arena_printf(b->a, "the Datadog check file \"%s\" does not exist", path);
		content = true, mode = password = false;
	} else {
		content = strcmp(d->conf_masked, want) != 0;
		mode = d->conf_mode != DATADOG_CONF_MODE;
		password = d->conf_password == DATADOG_PW_DIFFERS;
		if (!content && !mode && !password)
			return;
		reason = arena_printf(b->a, "the Datadog check file \"%s\" %s", path,
				      content ? "differs from the topology"
				      : mode  ? "has another mode"
					      : "holds another password");
	}
	act = builder_emit(b, ACT_DATADOG_CONF, c->name, NULL, NULL, IMPACT_NONE, reason);
	act->payload.path = path;
	act->payload.content = want;
	act->payload.target = c->monitoring.datadog.user.v;
	act->payload.secret = c->monitoring.datadog.password;
	if (content)
		diff_lines(b, act, c, d != NULL && d->conf_exists ? d->conf_masked : NULL, want);
	if (mode)
		builder_change(b, act, "mode", arena_printf(b->a, "%04o", d->conf_mode),
			       arena_printf(b->a, "%04o", DATADOG_CONF_MODE));
	if (password)
		builder_change(b, act, "password", "(another password)",
			       "(monitoring.datadog.password)");
}

/* action_for - the id of c's action of kind on target, or NULL. */
static const char *action_for(PgcPlanBuilder *b, const PgcCluster *c, PgcActionKind kind,
			      const char *target)
{
	for (size_t i = 0; i < b->p->n_actions; i++) {
		const PgcAction *a = &b->p->actions[i];

		if (a->kind == kind && streq(a->cluster, c->name) && streq(a->payload.target, target))
			return a->id;
	}
	return NULL;
}

/* extension_in - the id of c's create-extension of pg_stat_statements in db, or NULL. */
static const char *extension_in(PgcPlanBuilder *b, const PgcCluster *c, const char *db)
{
	for (size_t i = 0; i < b->p->n_actions; i++) {
		const PgcAction *a = &b->p->actions[i];

		if (a->kind == ACT_CREATE_EXTENSION && streq(a->cluster, c->name) &&
		    streq(a->payload.target, "pg_stat_statements") &&
		    streq(a->payload.database ? a->payload.database : "postgres", db))
			return a->id;
	}
	return NULL;
}

static const PgcObsDatadogDb *obs_db(const PgcObsDatadog *d, const char *name)
{
	for (size_t i = 0; d != NULL && i < d->n_dbs; i++)
		if (strcmp(d->dbs[i].name, name) == 0)
			return &d->dbs[i];
	return NULL;
}

/*
 * plan_dbm - "postgres" and each declared database: one that lacks
 * something, or that this plan creates (as it creates the role on a new
 * cluster, where nothing could be observed).
 */
static void plan_dbm(PgcPlanBuilder *b, const PgcCluster *c, const PgcObsDatadog *d)
{
	const char *user = c->monitoring.datadog.user.v;
	const char *role_id = action_for(b, c, ACT_CREATE_ROLE, user);
	PgcAction *act = NULL;

	if (!c->monitoring.datadog.dbm.v || c->primary.v == NULL)
		return;
	if ((d == NULL || !d->dbm_read) && role_id == NULL)
		return; /* the primary did not answer: nothing is known */
	for (size_t i = 0; i <= c->n_databases; i++) {
		const char *db = i == 0 ? "postgres" : c->databases[i - 1].name;
		const char *db_id = action_for(b, c, ACT_CREATE_DATABASE, db);
		const PgcObsDatadogDb *o = d != NULL && d->dbm_read ? obs_db(d, db) : NULL;

		if (i > 0 && strcmp(db, "postgres") == 0)
			continue;
		if (o != NULL && o->ready)
			continue;
		if (o == NULL && d != NULL && d->dbm_read && db_id == NULL)
			continue; /* neither there nor created: the postgres planner says why */
		if (act == NULL) {
			act = builder_emit(b, ACT_DATADOG_DBM, c->name, c->primary.v, user, IMPACT_NONE,
					   arena_printf(b->a,
							"Database Monitoring needs its schema, "
							"explain function and pg_stat_statements "
							"for role \"%s\"",
							user));
			act->payload.target = user;
			builder_depend(b, act, role_id);
			builder_depend(b, act, action_for(b, c, ACT_ALTER_ROLE, user));
		}
		builder_param(b, act, db);
		builder_change(b, act, arena_printf(b->a, "dbm.%s", db),
			       o != NULL ? arena_printf(b->a, "missing %s", o->missing) : NULL, "ready");
		builder_depend(b, act, db_id);
		/* Not side by side with the same CREATE EXTENSION: they would race. */
		builder_depend(b, act, extension_in(b, c, db));
	}
}

void plan_datadog_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObserved *obs)
{
	const PgcObsCluster *oc;
	const PgcObsDatadog *d;

	if (!c->monitoring.datadog.set || c->monitoring.datadog.conf_dir.v == NULL)
		return;
	oc = obs_cluster(obs, c->name);
	d = oc != NULL ? oc->datadog : NULL;
	if (oc != NULL && d == NULL && !obs->pretend)
		return; /* not observed */
	plan_conf(b, c, d);
	/* A standby cluster replays its source's: nothing is written there. */
	if (c->standby_upstream == NULL)
		plan_dbm(b, c, d);
}

PgcObsDatadog *plan_datadog_pretend(PgcArena *a, const PgcCluster *base, const PgcCluster *head)
{
	PgcObsDatadog *d;
	const PgcSecret *bp, *hp;

	if (base == NULL || !head->monitoring.datadog.set)
		return NULL;
	d = arena_calloc(a, 1, sizeof *d);
	d->conf_read = true;
	d->dbm_read = true;
	d->dbs = arena_calloc(a, base->n_databases + 1, sizeof *d->dbs);
	for (size_t i = 0; i <= base->n_databases; i++) {
		PgcObsDatadogDb *x = &d->dbs[d->n_dbs++];

		x->name = i == 0 ? "postgres" : base->databases[i - 1].name;
		x->ready = base->monitoring.datadog.set && base->monitoring.datadog.dbm.v &&
			   streq(base->monitoring.datadog.user.v, head->monitoring.datadog.user.v);
		x->missing = x->ready ? NULL : "everything";
	}
	if (!base->monitoring.datadog.set || base->monitoring.datadog.conf_dir.v == NULL ||
	    !streq(base->monitoring.datadog.conf_dir.v, head->monitoring.datadog.conf_dir.v))
		return d; /* no file there yet */
	d->conf_exists = true;
	d->conf_masked = datadog_conf_render(a, base);
	d->conf_mode = DATADOG_CONF_MODE;
	bp = &base->monitoring.datadog.password;
	hp = &head->monitoring.datadog.password;
	/* Another secret reference is another password; the same one cannot be told apart. */
	d->conf_password = bp->kind == hp->kind && streq(bp->ref, hp->ref) ? DATADOG_PW_UNKNOWN
									   : DATADOG_PW_DIFFERS;
	return d;
}
