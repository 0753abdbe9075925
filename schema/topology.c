/*
 * schema/topology.c - the loaded model: lookups and release.
 *
 * The model's readers (validation, planners, executors) find clusters,
 * nodes, upstreams and effective settings here, without depending on the
 * loader that built it (load.c).
 */
#include "schema/topology.h"

#include <string.h>
#include <strings.h>

void topology_free(PgcTopology *t)
{
	if (t == NULL)
		return;
	arena_free(t->arena);
	free(t);
}

PgcCluster *topology_cluster(const PgcTopology *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n_clusters; i++)
		if (strcmp(t->clusters[i].name, name) == 0)
			return &t->clusters[i];
	return NULL;
}

PgcNode *cluster_node(const PgcCluster *c, const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].name, name) == 0)
			return &c->nodes[i];
	return NULL;
}

PgcNode *cluster_upstream(const PgcCluster *c, const PgcNode *n)
{
	if (n == c->standby_upstream)
		return NULL; /* another cluster's node: it is no replica here */
	if (c->primary.v != NULL && strcmp(n->name, c->primary.v) == 0)
		return (PgcNode *)c->standby_upstream;
	if (n->replicate_from.set)
		return cluster_node(c, n->replicate_from.v);
	return cluster_node(c, c->primary.v);
}

PgcNode *topology_node_ref(const PgcTopology *t, const PgcCluster *c, const char *ref)
{
	const char *slash = ref != NULL ? strchr(ref, '/') : NULL;
	const PgcCluster *other;
	char name[256];

	if (slash == NULL)
		return c != NULL ? cluster_node(c, ref) : NULL;
	if (t == NULL || (size_t)(slash - ref) >= sizeof(name))
		return NULL;
	memcpy(name, ref, (size_t)(slash - ref));
	name[slash - ref] = '\0';
	other = topology_cluster(t, name);
	return other != NULL ? cluster_node(other, slash + 1) : NULL;
}

const PgcCluster *topology_roles_view(PgcArena *a, const PgcTopology *t, const PgcCluster *c)
{
	const PgcCluster *root = c;
	PgcCluster *copy;
	size_t hops;

	if (c == NULL || t == NULL || !c->standby_of.set)
		return c;
	/* A chain longer than the clusters loops. */
	for (hops = 0; root != NULL && root->standby_of.set; hops++) {
		if (hops >= t->n_clusters)
			return c;
		root = topology_cluster(t, root->standby_of.v);
	}
	if (root == NULL)
		return c;
	copy = arena_alloc(a, sizeof(*copy));
	*copy = *c;
	copy->roles = root->roles;
	copy->n_roles = root->n_roles;
	copy->databases = root->databases;
	copy->n_databases = root->n_databases;
	return copy;
}

const PgcSetting *node_setting(const PgcNode *n, const char *name)
{
	size_t i;

	for (i = 0; i < n->effective.n; i++)
		if (strcasecmp(n->effective.items[i].name, name) == 0)
			return &n->effective.items[i];
	return NULL;
}
