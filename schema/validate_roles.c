/*
 * schema/validate_roles.c - roles and databases: predefined and bootstrap
 * roles, membership cycles, owners (schema/validate_roles.h).
 */
#include "schema/validate_roles.h"

#include <stdio.h>
#include <string.h>

#include "common/strutil.h"

/* Predefined roles, with the major version that introduced each. */
static const struct {
	const char *name;
	int since;
} predefined_roles[] = {
	{"pg_signal_backend", 9},          {"pg_monitor", 10},
	{"pg_read_all_settings", 10},      {"pg_read_all_stats", 10},
	{"pg_stat_scan_tables", 10},       {"pg_read_server_files", 11},
	{"pg_write_server_files", 11},     {"pg_execute_server_program", 11},
	{"pg_database_owner", 14},         {"pg_read_all_data", 14},
	{"pg_write_all_data", 14},         {"pg_checkpoint", 15},
	{"pg_use_reserved_connections", 16}, {"pg_create_subscription", 16},
	{"pg_maintain", 17},
};

static bool is_predefined_role(const char *name, long long major)
{
	size_t i;

	for (i = 0; i < sizeof(predefined_roles) / sizeof(predefined_roles[0]); i++)
		if (strcmp(predefined_roles[i].name, name) == 0 && predefined_roles[i].since <= major)
			return true;
	return false;
}

/* role_hint - for an unknown role: a predefined role of a later version, or a near name. */
static const char *role_hint(Val *v, const PgcCluster *c, const char *name, const char *const *names,
			     size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(predefined_roles) / sizeof(predefined_roles[0]); i++)
		if (strcmp(predefined_roles[i].name, name) == 0)
			return val_fmt(v, "\"%s\" exists from postgresql %d on; cluster \"%s\" runs %lld", name,
				       predefined_roles[i].since, c->name, c->pg_version.v);
	return val_did_you_mean(v, name, names, n);
}

/* cluster_role - a declared role by name, through v->roles (a 100,000-role file is fine). */
static PgcRole *cluster_role(Val *v, const PgcCluster *c, const char *name)
{
	const size_t *i = strmap_get(&v->roles, name);

	return i != NULL ? &c->roles[*i] : NULL;
}

/* is_bootstrap_superuser - the superuser initdb creates; it exists without being declared. */
static bool is_bootstrap_superuser(const PgcCluster *c, const char *name)
{
	return strcmp(name, "postgres") == 0 || (c->os_user.v != NULL && strcmp(name, c->os_user.v) == 0);
}

static const char *const *role_names(Val *v, const PgcCluster *c, bool with_predefined, size_t *n)
{
	size_t np = sizeof(predefined_roles) / sizeof(predefined_roles[0]), i;
	const char **names = arena_calloc(v->t->arena, c->n_roles + np + 1, sizeof(char *));

	*n = 0;
	for (i = 0; i < c->n_roles; i++)
		names[(*n)++] = c->roles[i].name;
	for (i = 0; with_predefined && i < np; i++)
		if (predefined_roles[i].since <= c->pg_version.v)
			names[(*n)++] = predefined_roles[i].name;
	return names;
}

/*
 * Role membership cycles: PostgreSQL refuses the GRANT that would close one,
 * half way through an apply; find them before anything runs. The walk keeps
 * its own stack: a chain of 100,000 memberships is no reason to overflow
 * the C stack.
 */
typedef struct {
	Val *v;
	PgcCluster *c;
	unsigned char *state;  /* 0 new, 1 on the stack, 2 done */
	size_t *stack;         /* roles on the current path */
	size_t *via;           /* member_of index followed from stack[i] */
	size_t *at;            /* where a role on the stack is in it */
	size_t depth;
} RoleWalk;

/* Long cycles are shown by their first roles only. */
#define ROLE_CYCLE_SHOWN 8

static void report_role_cycle(RoleWalk *w, size_t from)
{
	size_t len = w->depth - from, i, first = 0, shown, slen = 64;
	const PgcRole *start;
	char *chain, *p;

	for (i = 1; i < len; i++)
		if (w->stack[from + i] < w->stack[from + first])
			first = i;
	shown = len > ROLE_CYCLE_SHOWN ? ROLE_CYCLE_SHOWN : len;
	for (i = 0; i < shown; i++)
		slen += strlen(w->c->roles[w->stack[from + (first + i) % len]].name) + 4;
	slen += strlen(w->c->roles[w->stack[from + first]].name);
	chain = p = arena_alloc(w->v->t->arena, slen);
	for (i = 0; i < shown; i++)
		p += sprintf(p, "%s%s", i ? " -> " : "", w->c->roles[w->stack[from + (first + i) % len]].name);
	if (shown < len)
		p += sprintf(p, " -> ... (%zu roles)", len);
	sprintf(p, " -> %s", w->c->roles[w->stack[from + first]].name);
	start = &w->c->roles[w->stack[from + first]];
	val_error(w->v, start->member_of.items[w->via[from + first]].pos,
		  val_fmt(w->v, "clusters.%s.roles.%s.member_of[%zu]", w->c->name, start->name, w->via[from + first]),
		  "remove one of these memberships", "circular role membership %s", chain);
}

static void role_push(RoleWalk *w, size_t r)
{
	w->state[r] = 1;
	w->at[r] = w->depth;
	w->stack[w->depth] = r;
	w->via[w->depth] = 0;
	w->depth++;
}

/* role_walk - depth-first from role r0, reporting each back edge once. */
static void role_walk(RoleWalk *w, size_t r0)
{
	role_push(w, r0);
	while (w->depth > 0) {
		size_t d = w->depth - 1, r = w->stack[d];
		const PgcRole *role = &w->c->roles[r];
		const PgcRole *m;
		size_t mi;

		if (w->via[d] == role->member_of.n) {
			w->state[r] = 2;
			w->depth--;
			if (w->depth > 0)
				w->via[w->depth - 1]++;
			continue;
		}
		m = cluster_role(w->v, w->c, role->member_of.items[w->via[d]].v);
		mi = m != NULL ? (size_t)(m - w->c->roles) : r;
		if (mi == r || w->state[mi] == 2) {
			w->via[d]++;
		} else if (w->state[mi] == 1) {
			report_role_cycle(w, w->at[mi]);
			w->via[d]++;
		} else {
			role_push(w, mi); /* via[d] moves on when mi is done */
		}
	}
}

static void check_role_cycles(Val *v, PgcCluster *c)
{
	RoleWalk w = {v, c, NULL, NULL, NULL, NULL, 0};
	size_t i;

	if (c->n_roles == 0)
		return;
	w.state = calloc(c->n_roles, 1);
	w.stack = calloc(c->n_roles, sizeof(size_t));
	w.via = calloc(c->n_roles, sizeof(size_t));
	w.at = calloc(c->n_roles, sizeof(size_t));
	if (w.state == NULL || w.stack == NULL || w.via == NULL || w.at == NULL)
		abort();
	for (i = 0; i < c->n_roles; i++)
		if (w.state[i] == 0)
			role_walk(&w, i);
	free(w.state);
	free(w.stack);
	free(w.via);
	free(w.at);
}

void validate_roles(Val *v, PgcCluster *c)
{
	static const char *const reserved[] = {"public", "none", "current_role", "current_user",
					       "session_user"};
	size_t i, j, k, nnames;
	const char *const *names = role_names(v, c, true, &nnames);
	PgcRole *rep;

	for (i = 0; i < c->n_roles; i++) {
		const PgcRole *r = &c->roles[i];
		const char *rk = val_fmt(v, "clusters.%s.roles.%s", c->name, r->name);

		if (str_has_prefix(r->name, "pg_"))
			val_error(v, r->pos, rk, "choose a name that does not begin with \"pg_\"",
				  "role name \"%s\" is reserved: names beginning with \"pg_\" belong to postgresql",
				  r->name);
		for (k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++)
			if (strcmp(r->name, reserved[k]) == 0)
				val_error(v, r->pos, rk, NULL, "role name \"%s\" is reserved by postgresql", r->name);
		for (j = 0; j < r->member_of.n; j++) {
			const PgcStr *m = &r->member_of.items[j];
			const char *mk = val_fmt(v, "%s.member_of[%zu]", rk, j);

			if (strcmp(m->v, r->name) == 0)
				val_error(v, m->pos, mk, NULL, "role \"%s\" cannot be a member of itself", r->name);
			else if (cluster_role(v, c, m->v) == NULL && !is_predefined_role(m->v, c->pg_version.v) &&
				 !is_bootstrap_superuser(c, m->v))
				val_error(v, m->pos, mk, role_hint(v, c, m->v, names, nnames),
					  "unknown role \"%s\": expected a role declared under clusters.%s.roles or a "
					  "predefined role such as \"pg_monitor\"", m->v, c->name);
		}
	}
	check_role_cycles(v, c);

	/* The replication user is created with REPLICATION and LOGIN; a
	 * declaration without them would be undone on every run. */
	rep = c->replication.user.v ? cluster_role(v, c, c->replication.user.v) : NULL;
	if (rep != NULL && !rep->superuser.v && (!rep->replication.v || !rep->login.v))
		val_warn(v, rep->pos, val_fmt(v, "clusters.%s.roles.%s", c->name, rep->name),
			 val_fmt(v, "add %s%s%s to it, or choose another replication.user",
				 rep->replication.v ? "" : "\"replication: true\"",
				 !rep->replication.v && !rep->login.v ? " and " : "",
				 rep->login.v ? "" : "\"login: true\""),
			 "role \"%s\" is the replication user but is declared without %s", rep->name,
			 !rep->replication.v && !rep->login.v ? "replication and login"
			 : !rep->replication.v		 ? "replication"
							 : "login");
	if (rep != NULL && rep->password.set && c->replication.password.set &&
	    (rep->password.kind != c->replication.password.kind ||
	     strcmp(rep->password.ref, c->replication.password.ref) != 0))
		val_error(v, rep->password.pos,
			  val_fmt(v, "clusters.%s.roles.%s.password.%s", c->name, rep->name,
				  rep->password.kind == SECRET_ENV ? "env" : "file"),
			  val_fmt(v, "keep one of them: clusters.%s.replication.password sets it", c->name),
			  "the replication user \"%s\" is given two different passwords", rep->name);
}

void validate_databases(Val *v, PgcCluster *c)
{
	size_t i, nnames;
	const char *const *names = role_names(v, c, false, &nnames);

	for (i = 0; i < c->n_databases; i++) {
		const PgcDatabase *d = &c->databases[i];

		if (!d->owner.set || cluster_role(v, c, d->owner.v) != NULL ||
		    is_bootstrap_superuser(c, d->owner.v))
			continue;
		val_error(v, d->owner.pos, val_fmt(v, "clusters.%s.databases.%s.owner", c->name, d->name),
			  val_did_you_mean(v, d->owner.v, names, nnames),
			  "unknown role \"%s\": expected a role declared under clusters.%s.roles or the "
			  "bootstrap superuser \"postgres\"", d->owner.v, c->name);
	}
}
