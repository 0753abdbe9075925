/*
 * reconcile/ha/fence.h - fencing: making an old primary unable to accept
 * writes before another node is promoted, so that two primaries never take
 * writes at the same time.
 *
 * A node on this machine is stopped: `pg_ctl stop -m fast` first when the
 * caller asks for a graceful stop (a healthy primary: a fast shutdown
 * sends the standbys all of its WAL, its shutdown checkpoint included),
 * then `pg_ctl stop -m immediate`, then SIGKILL to the pid in
 * postmaster.pid once /proc/<pid>/comm says it is a postgres process.
 * Backends left behind by a dead postmaster (same working directory, named
 * postgres) are killed too. Finally standby.signal is written into the
 * data directory, so that a restart by hand or by a service manager brings
 * the node back read-only, never as a second primary.
 *
 * A node elsewhere, or one whose stop failed, is fenced by
 * failover.fence_command when it is set: its argv runs through proc_run()
 * (never a shell) with PGC_CLUSTER, PGC_NODE, PGC_HOST and PGC_PORT in its
 * environment, and must exit 0. With neither, fencing fails and the
 * caller must not promote.
 */
#ifndef PGC_RECONCILE_HA_FENCE_H
#define PGC_RECONCILE_HA_FENCE_H

#include <stdbool.h>

#include "reconcile/transport/host.h"
#include "schema/topology.h"

typedef enum {
	FENCE_NONE,          /* not fenced */
	FENCE_ALREADY_DOWN,  /* no server ran for the data directory */
	FENCE_STOPPED,       /* pg_ctl stop (fast or immediate) */
	FENCE_KILLED,        /* SIGKILL */
	FENCE_COMMAND,       /* failover.fence_command succeeded */
} PgcFenceMethod;

typedef struct {
	bool graceful;           /* try a fast shutdown first */
	int fast_timeout_s;      /* 0: 10 */
	int immediate_timeout_s; /* 0: 5 */
	int command_timeout_s;   /* fence_command; 0: 30 */
	bool mark_standby;       /* write standby.signal afterwards (local nodes) */
} PgcFenceOptions;

typedef struct {
	PgcFenceMethod method;
	bool clean;              /* stopped by a fast shutdown: every WAL record was sent */
	bool marked_standby;     /* fence_node() wrote standby.signal (it was not there) */
	int orphans_killed;      /* backends of a dead postmaster that were killed */
	char detail[512];        /* one sentence: what was done */
	double elapsed_ms;
} PgcFenceResult;

/*
 * fence_node - fences node n of cluster c as described above. Returns 0
 * when n can no longer accept writes (res says how), or -1 when it could
 * not be fenced: reported with log_error(), with the reason in res->detail
 * and a hint; the caller then refuses to promote.
 */
int fence_node(const PgcCluster *c, const PgcNode *n, const PgcFenceOptions *opts,
	       PgcFenceResult *res);

/*
 * fence_node_on - fence_node() on host h, the node's (NULL: not on this
 * machine, so only failover.fence_command can fence it). Every stop,
 * signal and file goes through h; fence_command runs here, with proc_run().
 */
int fence_node_on(PgcHost *h, const PgcCluster *c, const PgcNode *n, const PgcFenceOptions *opts,
		  PgcFenceResult *res);

/*
 * fence_unmark - removes the standby.signal that fence_node() wrote, for a
 * rollback that restarts the node as the primary. 0, or -1 (reported).
 */
int fence_unmark(const PgcCluster *c, const PgcNode *n);
/* fence_unmark_on - fence_unmark() on the node's host h. */
int fence_unmark_on(PgcHost *h, const PgcNode *n);

/* fence_method_name - "none", "already-down", "stopped", "killed", "fence-command". */
const char *fence_method_name(PgcFenceMethod m);

#endif
