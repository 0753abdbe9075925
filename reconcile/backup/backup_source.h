/*
 * reconcile/backup/backup_source.h - which node of a cluster a backup is
 * taken from, given what observe saw. Pure: the planner names the node in
 * its ACT_BACKUP action, and `pgconverge backup` asks the same question.
 */
#ifndef PGC_RECONCILE_BACKUP_BACKUP_SOURCE_H
#define PGC_RECONCILE_BACKUP_BACKUP_SOURCE_H

#include <stdbool.h>

#include "common/arena.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

typedef struct {
	const PgcNode *node;      /* NULL when no node can be used */
	bool replica;             /* node is a streaming replica */
	const char *reason;       /* one sentence: why this node, or why none; owned by the arena */
} PgcBackupSource;

/*
 * backup_pick_source - where to take a backup of c from, given what observe
 * saw. A base backup comes from a healthy replica when there is one (local,
 * reachable, in recovery, its WAL receiver streaming), so the primary does
 * not pay for the copy; otherwise from the primary (the node that is
 * reachable and not in recovery, the desired primary first). A logical
 * backup always comes from the primary: a long pg_dump on a standby is
 * cancelled by recovery conflicts unless the standby is configured for it.
 * Nodes on other hosts are never chosen (the copy is written locally).
 * Returns 0 with out->node set, or -1 with out->reason saying why none fits.
 */
int backup_pick_source(PgcArena *a, const PgcCluster *c, const PgcObserved *obs, bool logical,
		       PgcBackupSource *out);

#endif
