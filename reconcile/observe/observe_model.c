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

const PgcObsSetting *obs_setting(const PgcObsNode *n, const char *name)
{
	if (n == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < n->n_settings; i++)
		if (n->settings[i].name != NULL && strcasecmp(n->settings[i].name, name) == 0)
			return &n->settings[i];
	return NULL;
}
