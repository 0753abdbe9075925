/*
 * reconcile/backup/backup_source.c - which node a backup is taken from
 * (backup_source.h). Pure: reads what observe saw.
 */
#include "reconcile/backup/backup_source.h"

#include <string.h>

/* ---- choosing the source ------------------------------------------------ */

static const PgcObsNode *obs_of(const PgcObserved *obs, const PgcCluster *c, const PgcNode *n)
{
	return obs != NULL ? observe_node_find(obs, c->name, n->name) : NULL;
}

static bool healthy_replica(const PgcObsNode *o)
{
	return o != NULL && o->local && o->reachable && o->in_recovery &&
	       o->wal_receiver_status != NULL && strcmp(o->wal_receiver_status, "streaming") == 0;
}

static bool usable_primary(const PgcObsNode *o)
{
	return o != NULL && o->local && o->reachable && !o->in_recovery;
}

int backup_pick_source(PgcArena *a, const PgcCluster *c, const PgcObserved *obs, bool logical,
		       PgcBackupSource *out)
{
	const PgcNode *primary = c->primary.v ? cluster_node(c, c->primary.v) : NULL;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!logical) {
		for (i = 0; i < c->n_nodes; i++) {
			if (healthy_replica(obs_of(obs, c, &c->nodes[i]))) {
				out->node = &c->nodes[i];
				out->replica = true;
				out->reason = arena_printf(a, "node \"%s\" is a streaming replica: the copy "
							   "does not load the primary",
							   c->nodes[i].name);
				return 0;
			}
		}
	}
	if (primary != NULL && usable_primary(obs_of(obs, c, primary))) {
		out->node = primary;
	} else {
		for (i = 0; i < c->n_nodes && out->node == NULL; i++)
			if (usable_primary(obs_of(obs, c, &c->nodes[i])))
				out->node = &c->nodes[i];
	}
	if (out->node == NULL) {
		out->reason = arena_printf(a, "no node of cluster \"%s\" on this machine is reachable "
					   "as a primary%s",
					   c->name, logical ? "" : " or a streaming replica");
		return -1;
	}
	out->reason = logical ? arena_printf(a, "node \"%s\" is the primary (dumps are taken there: a "
						"long pg_dump on a standby is cancelled by recovery "
						"conflicts)",
					     out->node->name)
			      : arena_printf(a, "node \"%s\" is the primary and no replica is streaming",
					     out->node->name);
	return 0;
}
