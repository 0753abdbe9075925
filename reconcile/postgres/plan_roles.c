/*
 * reconcile/postgres/plan_roles.c - the postgres planner's roles,
 * memberships, databases and extensions, on the primary (plan_work.h).
 */
#include "reconcile/postgres/plan_work.h"

#include <string.h>
#include <strings.h>

#include "reconcile/pg/pgsql.h"

/* ---- roles and databases --------------------------------------------------- */

typedef struct {
	const char *name;
	bool login, superuser, createdb, createrole, replication, bypassrls;
	long long connection_limit;
	PgcSecret password;
	const PgcStrList *member_of;
} RoleSpec;

static RoleSpec role_spec(const PgcRole *r)
{
	RoleSpec s;

	memset(&s, 0, sizeof s);
	s.name = r->name;
	s.login = r->login.v;
	s.superuser = r->superuser.v;
	s.createdb = r->createdb.v;
	s.createrole = r->createrole.v;
	s.replication = r->replication.v;
	s.bypassrls = r->bypassrls.v;
	s.connection_limit = r->connection_limit.set ? r->connection_limit.v : -1;
	s.password = r->password;
	s.member_of = &r->member_of;
	return s;
}

static const PgcObsRole *find_role(const NodeWork *pw, const char *name)
{
	size_t i;

	if (pw->state != NS_RUNNING)
		return NULL;
	for (i = 0; i < pw->o->n_roles; i++)
		if (streq(pw->o->roles[i].name, name))
			return &pw->o->roles[i];
	return NULL;
}

/* role_create_sql - CREATE ROLE with every attribute spelled out. */
static const char *role_create_sql(Ctx *x, const RoleSpec *s, bool password)
{
	/* Complete, because apply turns it into ALTER ROLE when a run stopped after the CREATE. */
	return arena_printf(x->a,
			    "CREATE ROLE %s WITH %sLOGIN %sSUPERUSER %sCREATEDB %sCREATEROLE "
			    "%sREPLICATION %sBYPASSRLS CONNECTION LIMIT %lld%s",
			    pgsql_quote_ident(x->a, s->name), s->login ? "" : "NO",
			    s->superuser ? "" : "NO", s->createdb ? "" : "NO", s->createrole ? "" : "NO",
			    s->replication ? "" : "NO", s->bypassrls ? "" : "NO", s->connection_limit,
			    password ? " PASSWORD $1" : "");
}

/*
 * role_alter - the ALTER ROLE statement for the attributes that differ
 * (their changes added to *ch), or NULL when none does.
 */
static const char *role_alter(Ctx *x, const RoleSpec *s, const PgcObsRole *o, PgcChange *ch,
			      size_t *nch)
{
	const struct {
		const char *word, *key;
		bool have, want;
	} flags[] = {
		{"LOGIN", "login", o->login, s->login},
		{"SUPERUSER", "superuser", o->superuser, s->superuser},
		{"CREATEDB", "createdb", o->createdb, s->createdb},
		{"CREATEROLE", "createrole", o->createrole, s->createrole},
		{"REPLICATION", "replication", o->replication, s->replication},
		{"BYPASSRLS", "bypassrls", o->bypassrls, s->bypassrls},
	};
	const char *opts = "";
	size_t i;

	*nch = 0;
	for (i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		if (flags[i].have == flags[i].want)
			continue;
		opts = arena_printf(x->a, "%s %s%s", opts, flags[i].want ? "" : "NO", flags[i].word);
		ch[*nch] = (PgcChange){flags[i].key, flags[i].have ? "on" : "off",
				       flags[i].want ? "on" : "off"};
		(*nch)++;
	}
	if (o->connection_limit != s->connection_limit) {
		opts = arena_printf(x->a, "%s CONNECTION LIMIT %lld", opts, s->connection_limit);
		ch[*nch] = (PgcChange){"connection_limit", arena_printf(x->a, "%d", o->connection_limit),
				       arena_printf(x->a, "%lld", s->connection_limit)};
		(*nch)++;
	}
	/* password_matches: 0 differs, -1 unknown (then only a missing password counts). */
	if (s->password.kind != SECRET_NONE && (o->password_matches == 0 || !o->has_password)) {
		opts = arena_printf(x->a, "%s PASSWORD $1", opts);
		ch[*nch] = (PgcChange){"password", o->has_password ? "(another password)" : NULL,
				       secret_text(x->a, &s->password)};
		(*nch)++;
	}
	if (*nch == 0)
		return NULL;
	return arena_printf(x->a, "ALTER ROLE %s WITH%s", pgsql_quote_ident(x->a, s->name), opts);
}

/* emit_role - create-role or alter-role for spec; returns the action id or NULL. */
static const char *emit_role(Ctx *x, const RoleSpec *s, const char *why)
{
	NodeWork *pw = x->pw;
	const PgcObsRole *o = find_role(pw, s->name);
	bool password = s->password.kind != SECRET_NONE;
	PgcChange ch[8];
	size_t nch = 0, i;
	const char *sql;
	PgcAction *act;

	if (o == NULL) {
		sql = role_create_sql(x, s, password);
		act = emit(x, ACT_CREATE_ROLE, pw, s->name, IMPACT_NONE,
			   arena_printf(x->a, "role \"%s\" does not exist%s", s->name, why ? why : ""));
		if (password)
			builder_change(x->b, act, "password", NULL, secret_text(x->a, &s->password));
	} else {
		sql = role_alter(x, s, o, ch, &nch);
		if (sql == NULL)
			return NULL;
		act = emit(x, ACT_ALTER_ROLE, pw, s->name, IMPACT_NONE,
			   arena_printf(x->a, "role \"%s\" differs from the topology", s->name));
		for (i = 0; i < nch; i++)
			builder_change(x->b, act, ch[i].key, ch[i].from, ch[i].to);
	}
	act->payload.path = NULL;
	act->payload.target = s->name;
	act->payload.sql = sql;
	if (has_suffix(sql, " PASSWORD $1"))
		act->payload.secret = s->password;
	builder_depend(x->b, act, pw->id_up);
	return act->id;
}

/*
 * roles_known - true when the primary's roles and databases are known: it
 * answers, or it is created (and started) by this plan with nothing in it.
 */
static bool roles_known(const Ctx *x)
{
	const NodeWork *pw = x->pw;

	if (pw == NULL)
		return false;
	if (pw->state == NS_NEW)
		return pw->id_start != NULL && !pw->remote;
	return pw->state == NS_RUNNING && pw->reachable;
}

const PgcRole *plan_roles_declared(const PgcCluster *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_roles; i++)
		if (strcmp(c->roles[i].name, name) == 0)
			return &c->roles[i];
	return NULL;
}

/* repl_spec - the replication user: as declared (if it is), always LOGIN REPLICATION. */
static RoleSpec repl_spec(const PgcCluster *c)
{
	const PgcRole *r = plan_roles_declared(c, c->replication.user.v);
	RoleSpec s;

	if (r != NULL) {
		s = role_spec(r);
	} else {
		memset(&s, 0, sizeof s);
		s.name = c->replication.user.v;
		s.connection_limit = -1;
	}
	s.login = true;
	if (!s.superuser)
		s.replication = true;
	if (c->replication.password.kind != SECRET_NONE)
		s.password = c->replication.password;
	return s;
}

static bool has_replicas(const PgcCluster *c)
{
	return c->n_nodes > 1 || c->n_kept_slots > 0; /* or standby clusters stream from it */
}

void plan_roles_repl(Ctx *x)
{
	RoleSpec s;

	/* A standby cluster replays its source's roles: it takes no writes. */
	if (!has_replicas(x->c) || !roles_known(x) || x->c->replication.user.v == NULL ||
	    x->c->standby_upstream != NULL)
		return;
	s = repl_spec(x->c);
	x->repl_role_id = emit_role(x, &s, ": replicas connect as it");
}

static const char *role_id(Ctx *x, const char *name)
{
	size_t i;

	if (has_replicas(x->c) && streq(name, x->c->replication.user.v))
		return x->repl_role_id;
	for (i = 0; i < x->c->n_roles; i++)
		if (strcmp(x->c->roles[i].name, name) == 0)
			return x->role_ids[i];
	return NULL;
}

static bool is_member(const PgcObsRole *o, const char *group)
{
	size_t i;

	for (i = 0; o != NULL && i < o->n_member_of; i++)
		if (streq(o->member_of[i], group))
			return true;
	return false;
}

static const PgcObsDatabase *find_db(const NodeWork *pw, const char *name)
{
	size_t i;

	if (pw->state != NS_RUNNING)
		return NULL;
	for (i = 0; i < pw->o->n_databases; i++)
		if (streq(pw->o->databases[i].name, name))
			return &pw->o->databases[i];
	return NULL;
}

static bool db_has_ext(const PgcObsDatabase *d, const char *ext)
{
	size_t i;

	for (i = 0; d != NULL && i < d->n_extensions; i++)
		if (streq(d->extensions[i], ext))
			return true;
	return false;
}

#define PGSS "pg_stat_statements"
#define PGSS_WHY " (monitoring.pg_stat_statements)"

static bool lists_ext(const PgcDatabase *d, const char *ext)
{
	for (size_t i = 0; i < d->extensions.n; i++)
		if (streq(d->extensions.items[i].v, ext))
			return true;
	return false;
}

static bool declared_db(const PgcCluster *c, const char *name)
{
	for (size_t i = 0; i < c->n_databases; i++)
		if (streq(c->databases[i].name, name))
			return true;
	return false;
}

/*
 * pgss_preload_pending - the primary's configuration preloads
 * pg_stat_statements but the running server has not loaded it yet
 * (shared_preload_libraries takes effect at a restart). CREATE EXTENSION
 * works without it, but the view it creates errors until the library is
 * loaded.
 */
static bool pgss_preload_pending(const Ctx *x)
{
	const NodeWork *pw = x->pw;
	const char *want = conf_get(pw->want, pw->n_want, "shared_preload_libraries");
	const PgcObsSetting *spl;

	if (pw->state != NS_RUNNING || pw->o == NULL || want == NULL || strstr(want, PGSS) == NULL)
		return false;
	spl = find_setting(pw->o, "shared_preload_libraries");
	return spl == NULL || spl->setting == NULL || strstr(spl->setting, PGSS) == NULL;
}

/*
 * plan_extension - create-extension ext in database db (observed as o,
 * NULL: absent or not looked at) unless it is there. pg_stat_statements
 * waits for the primary's restart that loads its library: CREATE EXTENSION
 * would succeed before it, but leave a view that errors until then. A
 * restart the policy blocks holds it back too (apply counts it as blocked).
 */
static void plan_extension(Ctx *x, const char *db, const PgcObsDatabase *o, const char *ext,
			   const char *db_id, const char *why)
{
	NodeWork *pw = x->pw;
	PgcAction *act;

	if (db_has_ext(o, ext))
		return;
	act = emit(x, ACT_CREATE_EXTENSION, pw, arena_printf(x->a, "%s.%s", db, ext), IMPACT_NONE,
		   arena_printf(x->a, "extension \"%s\" is not installed in database \"%s\"%s",
				ext, db, why ? why : ""));
	act->payload.path = NULL;
	act->payload.target = ext;
	act->payload.database = db;
	act->payload.sql = arena_printf(x->a, "CREATE EXTENSION IF NOT EXISTS %s",
					pgsql_quote_ident(x->a, ext));
	builder_change(x->b, act, "extensions", NULL, ext);
	builder_depend(x->b, act, pw->id_up);
	builder_depend(x->b, act, db_id);
	if (strcmp(ext, PGSS) == 0 && pgss_preload_pending(x))
		builder_depend(x->b, act, pw->id_restart);
}

void plan_roles_and_databases(Ctx *x)
{
	const PgcCluster *c = x->c;
	NodeWork *pw = x->pw;
	const char *os_user = c->os_user.v ? c->os_user.v : "postgres";
	size_t i, j;

	if (!roles_known(x) || c->standby_upstream != NULL)
		return;
	x->role_ids = arena_calloc(x->a, c->n_roles + 1, sizeof(char *));
	for (i = 0; i < c->n_roles; i++) {
		RoleSpec s;

		if (strcmp(c->roles[i].name, os_user) == 0)
			continue; /* the bootstrap superuser is initdb's */
		if (has_replicas(c) && streq(c->roles[i].name, c->replication.user.v))
			continue; /* done before the clones */
		s = role_spec(&c->roles[i]);
		x->role_ids[i] = emit_role(x, &s, NULL);
	}
	for (i = 0; i < c->n_roles; i++) {
		const PgcRole *r = &c->roles[i];
		const PgcObsRole *o = find_role(pw, r->name);

		for (j = 0; j < r->member_of.n; j++) {
			const char *g = r->member_of.items[j].v;
			PgcAction *act;

			if (is_member(o, g))
				continue;
			act = emit(x, ACT_GRANT_ROLE, pw, arena_printf(x->a, "%s>%s", g, r->name),
				   IMPACT_NONE,
				   arena_printf(x->a, "role \"%s\" is not a member of \"%s\"", r->name, g));
			act->payload.path = NULL;
			act->payload.target = r->name;
			act->payload.sql = arena_printf(x->a, "GRANT %s TO %s",
							pgsql_quote_ident(x->a, g),
							pgsql_quote_ident(x->a, r->name));
			builder_change(x->b, act, "member_of", NULL, g);
			builder_depend(x->b, act, pw->id_up);
			builder_depend(x->b, act, role_id(x, r->name));
			builder_depend(x->b, act, role_id(x, g));
		}
	}
	for (i = 0; i < c->n_databases; i++) {
		const PgcDatabase *d = &c->databases[i];
		const PgcObsDatabase *o = find_db(pw, d->name);
		/* "postgres" names the bootstrap superuser, whatever os_user calls it. */
		const char *owner = d->owner.v == NULL || strcmp(d->owner.v, "postgres") == 0
					    ? os_user
					    : d->owner.v;
		const char *db_id = NULL;
		PgcAction *act;

		if (o == NULL) {
			act = emit(x, ACT_CREATE_DATABASE, pw, d->name, IMPACT_NONE,
				   arena_printf(x->a, "database \"%s\" does not exist", d->name));
			act->payload.sql = arena_printf(x->a, "CREATE DATABASE %s OWNER %s",
							pgsql_quote_ident(x->a, d->name),
							pgsql_quote_ident(x->a, owner));
			builder_change(x->b, act, "owner", NULL, owner);
		} else if (!streq(o->owner, owner)) {
			act = emit(x, ACT_ALTER_DATABASE, pw, d->name, IMPACT_NONE,
				   arena_printf(x->a, "database \"%s\" is owned by \"%s\"", d->name,
						o->owner ? o->owner : "?"));
			act->payload.sql = arena_printf(x->a, "ALTER DATABASE %s OWNER TO %s",
							pgsql_quote_ident(x->a, d->name),
							pgsql_quote_ident(x->a, owner));
			builder_change(x->b, act, "owner", o->owner, owner);
		} else {
			act = NULL;
		}
		if (act != NULL) {
			act->payload.path = NULL;
			act->payload.target = d->name;
			builder_depend(x->b, act, pw->id_up);
			builder_depend(x->b, act, role_id(x, owner));
			if (act->kind == ACT_CREATE_DATABASE)
				db_id = act->id;
		}
		for (j = 0; j < d->extensions.n; j++)
			plan_extension(x, d->name, o, d->extensions.items[j].v, db_id, NULL);
		if (c->monitoring.pg_stat_statements.v && !lists_ext(d, PGSS))
			plan_extension(x, d->name, o, PGSS, db_id, PGSS_WHY);
	}
	/* Monitoring tools connect to postgres by default (the Datadog Agent, for one). */
	if (c->monitoring.pg_stat_statements.v && !declared_db(c, "postgres"))
		plan_extension(x, "postgres", find_db(pw, "postgres"), PGSS, NULL, PGSS_WHY);
}
