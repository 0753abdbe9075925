/*
 * reconcile/haproxy/haproxy.h - the HAProxy component's executors and its
 * front door (engine/frontdoor.h).
 *
 * HAProxy runs on the host of the cluster's first node, as the os_user
 * (never root), in master-worker mode: `haproxy -W -D -f haproxy.cfg`, its
 * files in balancer.haproxy.dir (0700; haproxy.cfg 0600). Server states are
 * pushed through its runtime API (observe_haproxy_cli()); a reload is a
 * SIGUSR2 to the master, which starts a new worker with the new file while
 * the old one finishes its established connections.
 *
 * Executors (registry.c), each checking before it acts:
 *   haproxy_start_run    haproxy-start: writes the file, checks it (haproxy
 *                        -c), starts HAProxy unless it runs, waits until its
 *                        runtime API shows the file's digest
 *   haproxy_reload_run   haproxy-reload: writes and checks the file, SIGUSR2
 *                        to the master (starts it when dead), waits for a
 *                        new worker showing the file's digest
 *   haproxy_servers_run  haproxy-servers: writes the file first (a restart of
 *                        HAProxy then loads the new states), then sends each
 *                        runtime API command of payload.params
 */
#ifndef PGC_RECONCILE_HAPROXY_HAPROXY_H
#define PGC_RECONCILE_HAPROXY_HAPROXY_H

#include <stdbool.h>

#include "reconcile/engine/exec.h"
#include "schema/topology.h"

int haproxy_start_run(PgcExecCtx *ctx);
int haproxy_reload_run(PgcExecCtx *ctx);
int haproxy_servers_run(PgcExecCtx *ctx);

/*
 * The front door hooks (frontdoor.h), through the runtime API:
 *   pause    from leaves pg_write (maint) and its sessions are shut: no new
 *            write reaches it while it stops
 *   repoint  to is pg_write's only ready server and the reads' backup; to and
 *            from are out of the reads (from rejoins, the next pass puts it
 *            back once it streams); haproxy.cfg rewritten to say the same
 *   resume   from ready in pg_write again
 * A HAProxy that does not run holds nothing: pause and resume succeed, and
 * repoint only rewrites the file (the next pass starts HAProxy with it).
 * A HAProxy that runs (its master's pid is live) but whose runtime API does
 * not answer cannot be held: pause fails (the switchover is refused before
 * anything stops); repoint and resume rewrite the file and reload it
 * gracefully (the new worker loads the file's server states), -1 when no
 * new worker answers in time. Repoint sends the runtime API commands even
 * when the file could not be written, and fails then: the running HAProxy
 * follows the primary; it never reloads a file it could not rewrite, which
 * would still name the old primary the writer.
 */
bool haproxy_declared(const PgcCluster *c);
int haproxy_pause(const PgcCluster *c, const char *from, const char *to);
int haproxy_repoint(const PgcCluster *x, const char *from, const char *to);
int haproxy_resume(const PgcCluster *c, const char *from);

/* How long repoint and resume wait for a reloaded HAProxy's new worker. */
#define HAPROXY_HOOK_RELOAD_TIMEOUT_S 10

/* The hooks' bodies on host h (the hooks above take host_for()'s); tests call them. */
int haproxy_pause_on(PgcHost *h, const PgcCluster *c, const char *from);
int haproxy_repoint_on(PgcHost *h, const PgcCluster *x, const char *from, const char *to,
		       int reload_timeout_s);
int haproxy_resume_on(PgcHost *h, const PgcCluster *c, const char *from, int reload_timeout_s);

/* ---- shared by the executors and the hooks (haproxy.c) ---- */

/*
 * haproxy_send - one runtime API command to c's HAProxy through h; 0 when
 * it answered nothing (HAProxy's success for set/shutdown commands), -1
 * reported with the answer otherwise.
 */
int haproxy_send(PgcHost *h, const PgcCluster *c, const char *cmd);

/* haproxy_master - the live master's pid from haproxy.pid (a live "haproxy" process), or 0. */
long haproxy_master(PgcHost *h, const PgcCluster *c);

/*
 * haproxy_reload_wait - a graceful reload: SIGUSR2 to master, then waits (at
 * most timeout_s) until a worker that was not one of master's children
 * before the signal answers `show info` with digest (haproxy.cfg must be
 * written first: the new worker loads it, server states included). 0, or -1
 * reported. A host that can list no process takes any worker that
 * answers with digest.
 */
int haproxy_reload_wait(PgcHost *h, const PgcCluster *c, long master, const char *digest,
			int timeout_s);

/* haproxy_write_cfg - dir (0700) and haproxy.cfg (0600), owned by the os_user; reported. */
int haproxy_write_cfg(PgcHost *h, const PgcCluster *c, const char *content);

#endif
