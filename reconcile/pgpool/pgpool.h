/*
 * reconcile/pgpool/pgpool.h - the Pgpool-II component's executors and its
 * front-door hooks (engine/frontdoor.h).
 *
 * Pgpool-II runs as the cluster's os_user, never root, on the machine of
 * the cluster's first node, from the files in balancer.pgpool.dir
 * (observe_pgpool.h lists them): `pgpool -f pgpool.conf -F pcp.conf -a
 * pool_hba.conf -k pgpool.key -D`, in daemon mode. -D discards the node
 * states Pgpool-II saved (pgpool_status): the live roles, not an old file,
 * say who is up, and pgconverge tells it the rest (pgpool_follow()).
 *
 * Secrets: pool_passwd holds the declared passwords AES-encrypted with the
 * random key in pgpool.key; pcp_* commands read the PCP password from the
 * pcppass file (PCPPASSFILE in their environment, -w): nothing in argv,
 * plans or logs.
 */
#ifndef PGC_RECONCILE_PGPOOL_PGPOOL_H
#define PGC_RECONCILE_PGPOOL_PGPOOL_H

#include <stdbool.h>

#include "reconcile/engine/exec.h"
#include "schema/topology.h"

/*
 * pgpool_config_run - ACT_PGPOOL_CONFIG: creates dir (os_user, 0700) and
 * writes pgpool.conf (payload.content), pool_hba.conf (payload.ident),
 * pgpool.key (once), pool_passwd (from the declared secrets), pcp.conf and
 * pcppass (the PCP password: kept, or a new random one), all 0600; then a
 * running Pgpool-II reloads when a file changed (`pgpool reload`).
 */
int pgpool_config_run(PgcExecCtx *ctx);

/* pgpool_start_run - ACT_PGPOOL_START: starts Pgpool-II unless it runs, waits for its port. */
int pgpool_start_run(PgcExecCtx *ctx);

/*
 * pgpool_restart_run - ACT_PGPOOL_RESTART: the files as pgpool_config_run()
 * (without the reload), `pgpool -m fast stop`, then a start: clients are
 * disconnected.
 */
int pgpool_restart_run(PgcExecCtx *ctx);

/* pgpool_follow_run - ACT_PGPOOL_FOLLOW: pgpool_follow() towards payload.target,
 * except that a standby which answers but does not stream yet (the plan has
 * just started it) is given FOLLOW_WAIT_S to stream before it is attached or
 * detached, so that one pass converges. */
int pgpool_follow_run(PgcExecCtx *ctx);

/*
 * pgpool_follow - makes Pgpool-II's view of the backends match the live
 * servers, with PCP: primary (which must answer as a primary) becomes its
 * primary (pcp_attach_node first when it holds it down, then
 * pcp_promote_node without --switchover: with no failover_command that only
 * changes Pgpool-II's own state; it marks the other nodes down); every
 * other node that streams is attached, every node that does not answer or
 * does not stream is detached; nothing waits (it runs inside a failover). Checks first: a view that matches changes nothing. 0, or -1
 * reported.
 */
int pgpool_follow(const PgcCluster *c, const char *primary);

/* pgpool_declared - frontdoor row: the cluster declares balancer.pgpool. */
bool pgpool_declared(const PgcCluster *c);

/* pgpool_repoint - frontdoor row: `to` is x's primary now; pgpool_follow(x, to). */
int pgpool_repoint(const PgcCluster *x, const char *from, const char *to);

#endif
