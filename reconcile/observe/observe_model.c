/*
 * reconcile/observe/observe_model.c - look-ups in the observed model
 * (observe_model.h).
 */
#include "reconcile/observe/observe_model.h"

#include <string.h>
#include <strings.h>

const PgcObsNode *observe_node_find(const PgcObserved *o, const char *cluster, const char *node)
{
	if (o == NULL || cluster == NULL || node == NULL)
		return NULL;
	for (size_t i = 0; i < o->n_clusters; i++) {
		if (strcmp(o->clusters[i].name, cluster) != 0)
			continue;
		for (size_t j = 0; j < o->clusters[i].n_nodes; j++)
			if (strcmp(o->clusters[i].nodes[j].name, node) == 0)
				return &o->clusters[i].nodes[j];
	}
	return NULL;
}

static const PgcObsCluster *cluster_in(const PgcObsCluster *oc, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (oc[i].name != NULL && strcmp(oc[i].name, name) == 0)
			return &oc[i];
	return NULL;
}

const PgcObsCluster *observe_cluster_find_any(const PgcObserved *o, const char *name)
{
	const PgcObsCluster *oc;

	if (o == NULL || name == NULL)
		return NULL;
	oc = cluster_in(o->clusters, o->n_clusters, name);
	return oc != NULL ? oc : cluster_in(o->sources, o->n_sources, name);
}

const PgcObsNode *observe_node_find_any(const PgcObserved *o, const char *cluster, const char *node)
{
	const PgcObsNode *n = observe_node_find(o, cluster, node);
	const PgcObsCluster *oc;

	if (n != NULL || o == NULL || cluster == NULL || node == NULL)
		return n;
	oc = cluster_in(o->sources, o->n_sources, cluster);
	for (size_t i = 0; oc != NULL && i < oc->n_nodes; i++)
		if (oc->nodes[i].name != NULL && strcmp(oc->nodes[i].name, node) == 0)
			return &oc->nodes[i];
	return NULL;
}

const PgcObsSetting *obs_setting(const PgcObsNode *n, const char *name)
{
	if (n == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < n->n_settings; i++)
		if (n->settings[i].name != NULL && strcasecmp(n->settings[i].name, name) == 0)
			return &n->settings[i];
	return NULL;
}
