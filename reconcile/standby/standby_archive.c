/*
 * reconcile/standby/standby_archive.c - the source's WAL archive as a
 * standby cluster's fallback (standby_archive.h).
 */
#include "reconcile/standby/standby_archive.h"

#include <string.h>

/* os_user_of - a cluster's os_user, "postgres" when not written (the loader's default). */
static const char *os_user_of(const PgcCluster *c)
{
	return c->os_user.v != NULL ? c->os_user.v : "postgres";
}

const PgcCluster *standby_archive_root(const PgcTopology *t, const PgcCluster *c)
{
	/* A chain longer than the clusters loops. */
	for (size_t hops = 0; c != NULL && c->standby_of.set; hops++) {
		if (hops >= t->n_clusters)
			return NULL;
		c = topology_cluster(t, c->standby_of.v);
	}
	return c;
}

const char *standby_archive_repository(const PgcTopology *t, const PgcCluster *c)
{
	const PgcCluster *root;

	if (!c->standby_of.set)
		return NULL;
	root = standby_archive_root(t, c);
	if (root == NULL || !root->backup.set || !root->backup.wal_archive.v ||
	    root->backup.repository.v == NULL)
		return NULL;
	if (strcmp(os_user_of(root), os_user_of(c)) != 0)
		return NULL;
	return root->backup.repository.v;
}
