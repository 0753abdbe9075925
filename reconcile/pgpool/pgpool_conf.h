/*
 * reconcile/pgpool/pgpool_conf.h - the files pgconverge renders for a
 * cluster's Pgpool-II (balancer.pgpool): pgpool.conf and pool_hba.conf.
 * Pure: the planner renders them, compares them with what is on disk
 * (observe_pgpool.h) and puts them in the plan; apply writes them as they are.
 *
 * pgpool.conf: streaming-replication mode, one backend per node in the
 * order of the file (backend N is the node's index, so a switchover changes
 * nothing in it). Pgpool-II never detaches a node by itself: health checks
 * off, failover_on_backend_error off, no failover or follow command;
 * pgconverge decides and tells it with PCP (pgpool.h). The backends keep
 * backend_flag ALLOW_TO_FAILOVER all the same: DISALLOW_TO_FAILOVER also
 * refuses pcp_detach_node, and a dead replica Pgpool-II keeps "up" makes
 * every new session fail. load_balance_mode from
 * load_balance; the streaming-replication check with delay_threshold =
 * max_lag (bytes) as observe_pgpool_user(); PCP on 127.0.0.1:pcp_port; pid
 * file, sockets, status file and log in dir.
 *
 * pool_hba.conf: the cluster's host rules (hba:) with a password method
 * (scram-sha-256, md5, password) as scram-sha-256, and its reject rules;
 * other rules (local, trust, peer, cert ...) have no Pgpool-II meaning and
 * are left out. Clients log in with their declared passwords, which
 * Pgpool-II checks against pool_passwd and then uses with the server.
 *
 * Memory: the arena given.
 */
#ifndef PGC_RECONCILE_PGPOOL_PGPOOL_CONF_H
#define PGC_RECONCILE_PGPOOL_PGPOOL_CONF_H

#include <stdbool.h>

#include "common/arena.h"
#include "schema/topology.h"

/* pgpool_render_conf - pgpool.conf for c. */
const char *pgpool_render_conf(PgcArena *a, const PgcCluster *c);

/* pgpool_render_hba - pool_hba.conf for c. */
const char *pgpool_render_hba(PgcArena *a, const PgcCluster *c);

/*
 * pgpool_conf_diff - the parameters whose values differ between the
 * pgpool.conf texts have and want (have NULL: every parameter of want), as
 * "name" strings in *keys (arena); their number. *restart is set when one
 * of them only takes effect at a start of Pgpool-II (anything but the
 * parameters a reload applies: delay_threshold, sr_check_*, backend_weight*,
 * log_min_messages, search_primary_node_timeout ...).
 */
size_t pgpool_conf_diff(PgcArena *a, const char *have, const char *want, const char ***keys,
			const char ***from, const char ***to, bool *restart);

#endif
