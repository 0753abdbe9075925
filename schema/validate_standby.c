/*
 * schema/validate_standby.c - standby clusters (`standby_of`): the source is
 * another declared cluster, the chain of sources has no cycle, both run the
 * same major version, the standby's parameters that PostgreSQL wants at
 * least as large on a standby are, and what a standby cannot have of its
 * own (roles, databases, a replication user, a bootstrap) is not declared
 * differently from the source (schema/validate_standby.h).
 */
#include "schema/validate_standby.h"

#include <string.h>

#include "common/strutil.h"
#include "schema/validate_params.h"

static const char *const *cluster_names(Val *v)
{
	const char **names = arena_calloc(v->t->arena, v->t->n_clusters + 1, sizeof(char *));

	for (size_t i = 0; i < v->t->n_clusters; i++)
		names[i] = v->t->clusters[i].name;
	return names;
}

/* check_chain - false when c's chain of sources comes back to c (reported once, at c). */
static bool check_chain(Val *v, PgcCluster *c, const char *key)
{
	const PgcCluster *at = c;
	const char **path = arena_calloc(v->t->arena, v->t->n_clusters + 2, sizeof(char *));
	size_t n = 0;

	path[n++] = c->name;
	while (at->standby_of.set && n <= v->t->n_clusters) {
		at = topology_cluster(v->t, at->standby_of.v);
		if (at == NULL)
			return true; /* reported at the cluster that names it */
		path[n++] = at->name;
		if (at == c) {
			PgcStrBuf b = PGC_STRBUF_INIT;

			for (size_t i = 0; i < n; i++)
				strbuf_addf(&b, i ? " -> \"%s\"" : "\"%s\"", path[i]);
			val_error(v, c->standby_of.pos, key,
				  "one cluster of the chain must be the primary one: remove its standby_of",
				  "standby clusters form a cycle: %s", b.data);
			strbuf_release(&b);
			return false;
		}
	}
	return true;
}

static bool role_same(const PgcRole *a, const PgcRole *b)
{
	if (a->login.v != b->login.v || a->superuser.v != b->superuser.v ||
	    a->createdb.v != b->createdb.v || a->createrole.v != b->createrole.v ||
	    a->replication.v != b->replication.v || a->bypassrls.v != b->bypassrls.v ||
	    a->connection_limit.v != b->connection_limit.v || a->password.kind != b->password.kind ||
	    a->member_of.n != b->member_of.n)
		return false;
	if (a->password.ref != NULL && b->password.ref != NULL && strcmp(a->password.ref, b->password.ref) != 0)
		return false;
	for (size_t i = 0; i < a->member_of.n; i++)
		if (strcmp(a->member_of.items[i].v, b->member_of.items[i].v) != 0)
			return false;
	return true;
}

static const PgcRole *find_role(const PgcCluster *c, const char *name)
{
	for (size_t i = 0; i < c->n_roles; i++)
		if (strcmp(c->roles[i].name, name) == 0)
			return &c->roles[i];
	return NULL;
}

static const PgcDatabase *find_database(const PgcCluster *c, const char *name)
{
	for (size_t i = 0; i < c->n_databases; i++)
		if (strcmp(c->databases[i].name, name) == 0)
			return &c->databases[i];
	return NULL;
}

/*
 * check_objects - a standby replays its source's catalog: a role or a
 * database it declares is either the source's, declared the same, or
 * something pgconverge could never create there (it refuses writes).
 */
static void check_objects(Val *v, PgcCluster *c, const PgcCluster *src)
{
	const char *hint = val_fmt(v, "declare it under clusters.%s (the source), or remove it here: a "
				      "standby cluster has its source's roles and databases",
				   src->name);

	for (size_t i = 0; i < c->n_roles; i++) {
		const PgcRole *r = &c->roles[i], *s = find_role(src, r->name);

		if (s == NULL)
			val_error(v, r->pos, val_fmt(v, "clusters.%s.roles.%s", c->name, r->name), hint,
				  "role \"%s\" of standby cluster \"%s\" is not a role of its source \"%s\": "
				  "a standby cluster refuses writes", r->name, c->name, src->name);
		else if (!role_same(r, s))
			val_error(v, r->pos, val_fmt(v, "clusters.%s.roles.%s", c->name, r->name), hint,
				  "role \"%s\" of standby cluster \"%s\" differs from the source's (line %d): "
				  "a standby cluster refuses writes", r->name, c->name, s->pos.line);
	}
	for (size_t i = 0; i < c->n_databases; i++) {
		const PgcDatabase *d = &c->databases[i], *s = find_database(src, d->name);
		const char *key = val_fmt(v, "clusters.%s.databases.%s", c->name, d->name);

		if (s == NULL)
			val_error(v, d->pos, key, hint,
				  "database \"%s\" of standby cluster \"%s\" is not a database of its source "
				  "\"%s\": a standby cluster refuses writes", d->name, c->name, src->name);
		else if ((d->owner.v != NULL) != (s->owner.v != NULL) ||
			 (d->owner.v != NULL && strcmp(d->owner.v, s->owner.v) != 0) ||
			 d->extensions.n != s->extensions.n)
			val_error(v, d->pos, key, hint,
				  "database \"%s\" of standby cluster \"%s\" differs from the source's (line %d): "
				  "a standby cluster refuses writes", d->name, c->name, s->pos.line);
	}
	if (c->replication.user.set || c->replication.password.set)
		val_error(v, c->replication.user.set ? c->replication.user.pos : c->replication.password.pos,
			  val_fmt(v, "clusters.%s.replication", c->name),
			  val_fmt(v, "set them under clusters.%s.replication, or remove them here", src->name),
			  "standby cluster \"%s\" streams with the replication user and password of its "
			  "source \"%s\": it cannot declare its own", c->name, src->name);
}

void validate_standby(Val *v, PgcCluster *c)
{
	const char *key = val_fmt(v, "clusters.%s.standby_of", c->name);
	const PgcCluster *src;

	if (!c->standby_of.set)
		return;
	if (strcmp(c->standby_of.v, c->name) == 0) {
		val_error(v, c->standby_of.pos, key, "name the cluster whose primary it follows",
			  "cluster \"%s\" cannot be a standby of itself", c->name);
		return;
	}
	src = topology_cluster(v->t, c->standby_of.v);
	if (src == NULL) {
		val_error(v, c->standby_of.pos, key,
			  val_did_you_mean(v, c->standby_of.v, cluster_names(v), v->t->n_clusters),
			  "standby_of names cluster \"%s\", which is not in the topology", c->standby_of.v);
		return;
	}
	if (!check_chain(v, c, key))
		return;
	if (c->pg_version.v != src->pg_version.v)
		val_error(v, val_pos_or(c->pg_version.pos, c->standby_of.pos),
			  val_fmt(v, "clusters.%s.postgres.version", c->name),
			  val_fmt(v, "set postgres.version: %lld on both: physical replication needs one "
				     "major version", src->pg_version.v),
			  "standby cluster \"%s\" runs postgresql %lld, its source \"%s\" %lld",
			  c->name, c->pg_version.v, src->name, src->pg_version.v);
	if (c->bootstrap.set)
		val_error(v, c->bootstrap.pos, val_fmt(v, "clusters.%s.bootstrap", c->name),
			  "remove bootstrap: the standby leader is copied from the source's primary",
			  "standby_of and bootstrap are exclusive");
	if (c->initdb.set)
		val_error(v, c->initdb.pos, val_fmt(v, "clusters.%s.initdb", c->name),
			  "remove the initdb section: a standby cluster is a copy of its source",
			  "standby_of and initdb are exclusive");
	if (c->failover.mode == FAILOVER_AUTO)
		val_error(v, val_pos_or(c->failover.mode_pos, c->failover.pos),
			  val_fmt(v, "clusters.%s.failover.mode", c->name),
			  val_fmt(v, "use failover.mode manual, and when the source's region is lost "
				     "promote it with 'pgconverge failover --cluster %s --force'", c->name),
			  "a standby cluster cannot fail over automatically: automatic cross-region failover "
			  "needs coordination.etcd and at least three regions voting, and is not supported; "
			  "promoting one of its nodes forks it from its source \"%s\"", src->name);
	check_objects(v, c, src);
	if (c->pg_version.v == src->pg_version.v)
		validate_standby_minimums(v, c, src);
}
