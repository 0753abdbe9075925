/*
 * reconcile/registry.c - the action registry's table (registry.h): for each
 * kind, its name, flags and the component's executor.
 */
#include "reconcile/registry.h"

#include "reconcile/backup/backup.h"
#include "reconcile/engine/frontdoor.h"
#include "reconcile/engine/failover_veto.h"
#include "reconcile/backup/backup_run.h"
#include "reconcile/backup/drill.h"
#include "reconcile/coord/agent.h"
#include "reconcile/backup/restore.h"
#include "reconcile/datadog/datadog.h"
#include "reconcile/ha/ha_apply.h"
#include "reconcile/pgpool/pgpool.h"
#include "reconcile/monitoring/pgbadger.h"
#include "reconcile/haproxy/haproxy.h"
#include "reconcile/pgbouncer/pgbouncer.h"
#include "reconcile/standby/standby_veto.h"
#include "reconcile/postgres/config.h"
#include "reconcile/postgres/initdb.h"
#include "reconcile/postgres/replication.h"
#include "reconcile/postgres/sql_actions.h"
#include "reconcile/postgres/start.h"
#include "reconcile/standby/region_switch.h"
#include "reconcile/standby/region_failover.h"
#include "reconcile/standby/standby_follow.h"

/* With coordination.etcd, the leader orchestrates it through etcd with the agents. */
static int switchover(PgcExecCtx *ctx)
{
	if (ctx->t != NULL && ctx->t->etcd.set)
		return coord_switchover_apply(ctx);
	return ha_apply_switchover(ctx);
}

/* A drill restores into a scratch folder: it names no node. */
static int restore_or_drill(PgcExecCtx *ctx)
{
	return ctx->n == NULL ? drill_run(ctx) : restore_run(ctx);
}

static const PgcActionDef actions[] = {
	[ACT_INITDB] = {"initdb", ACTION_NEEDS_HOST, initdb_run},
	[ACT_CLONE] = {"clone", ACTION_NEEDS_HOST | ACTION_COPIES_UPSTREAM, replication_clone},
	[ACT_WRITE_CONFIG] = {"config", ACTION_NEEDS_HOST, config_write},
	[ACT_WRITE_HBA] = {"hba", ACTION_NEEDS_HOST, config_write_hba},
	[ACT_WRITE_PASSFILE] = {"passfile", ACTION_NEEDS_HOST, config_write_passfile},
	[ACT_RESET_AUTO_CONF] = {"reset-alter-system", 0, config_reset_auto_conf},
	[ACT_START] = {"start", ACTION_NEEDS_HOST, start_run},
	/* pg_ctl reload on this machine, pg_reload_conf() on another */
	[ACT_RELOAD] = {"reload", 0, config_reload},
	[ACT_RESTART] = {"restart", ACTION_NEEDS_HOST, start_restart},
	[ACT_CREATE_SLOT] = {"create-slot", ACTION_ADDS_INSIDE, replication_create_slot},
	[ACT_CREATE_ROLE] = {"create-role", ACTION_ADDS_INSIDE, sql_create_role},
	[ACT_ALTER_ROLE] = {"alter-role", ACTION_ADDS_INSIDE, sql_alter_role},
	[ACT_GRANT_ROLE] = {"grant-role", ACTION_ADDS_INSIDE, sql_grant_role},
	[ACT_CREATE_DATABASE] = {"create-database", ACTION_ADDS_INSIDE, sql_create_database},
	[ACT_ALTER_DATABASE] = {"alter-database", ACTION_ADDS_INSIDE, sql_alter_database},
	[ACT_CREATE_EXTENSION] = {"create-extension", ACTION_ADDS_INSIDE, sql_create_extension},
	[ACT_SWITCHOVER] = {"switchover", ACTION_NEEDS_HOST | ACTION_RUNS_ALONE | ACTION_REWIRES,
			    switchover},
	[ACT_REJOIN] = {"rejoin", ACTION_NEEDS_HOST | ACTION_RUNS_ALONE | ACTION_REWIRES,
			ha_apply_rejoin},
	[ACT_BACKUP] = {"backup", ACTION_RUNS_ALONE, backup_run_scheduled},
	[ACT_RETENTION] = {"retention", ACTION_RUNS_ALONE, backup_run_retention},
	/* needs the host when it names a node (a restore); a drill names none */
	[ACT_RESTORE] = {"restore", ACTION_NEEDS_HOST | ACTION_RUNS_ALONE | ACTION_REWIRES,
			 restore_or_drill},
	[ACT_DROP_SLOT] = {"drop-slot", 0, replication_drop_slot},
	[ACT_CREATE_REPOSITORY] = {"create-repository", 0, backup_repository_create},
	/* conf_dir is on this machine, not a node's: no node host needed */
	[ACT_DATADOG_CONF] = {"datadog-conf", 0, datadog_conf_run},
	[ACT_DATADOG_DBM] = {"datadog-dbm", ACTION_ADDS_INSIDE, datadog_dbm_run},
	/* Pgpool-II runs on the first node's machine: its executors find that host themselves */
	[ACT_PGPOOL_CONFIG] = {"pgpool-config", 0, pgpool_config_run},
	[ACT_PGPOOL_START] = {"pgpool-start", 0, pgpool_start_run},
	[ACT_PGPOOL_RESTART] = {"pgpool-restart", 0, pgpool_restart_run},
	[ACT_PGPOOL_FOLLOW] = {"pgpool-follow", 0, pgpool_follow_run},
	[ACT_PGBADGER] = {"pgbadger", ACTION_NEEDS_HOST, pgbadger_run},
	/* cluster-wide: HAProxy runs on the host of the cluster's first node */
	[ACT_HAPROXY_START] = {"haproxy-start", 0, haproxy_start_run},
	[ACT_HAPROXY_RELOAD] = {"haproxy-reload", 0, haproxy_reload_run},
	[ACT_HAPROXY_SERVERS] = {"haproxy-servers", 0, haproxy_servers_run},
	/* cluster-wide: the pooler's host is its first node's (observe_pgbouncer.h) */
	[ACT_PGBOUNCER_CONFIG] = {"pgbouncer-config", 0, pgbouncer_config_run},
	[ACT_PGBOUNCER_START] = {"pgbouncer-start", 0, pgbouncer_start_run},
	[ACT_PGBOUNCER_RESTART] = {"pgbouncer-restart", 0, pgbouncer_restart_run},
	/* the new primary's host; the old primary's is found by the executor */
	[ACT_REGION_SWITCH] = {"region-switch", ACTION_NEEDS_HOST | ACTION_RUNS_ALONE | ACTION_REWIRES,
			       region_switch_run},
	/* on another machine without coordination: failover.fence_command, run here */
	[ACT_FENCE] = {"fence", ACTION_NEEDS_HOST | ACTION_RUNS_ALONE, region_fence_run},
};

_Static_assert(sizeof actions / sizeof *actions == PLAN_ACTION_KINDS,
	       "every action kind needs a row in the registry");

/* The front doors the HA flows tell when the primary moves (engine/frontdoor.h). */
static const PgcFrontDoor frontdoors[] = {
	/* PgBouncer first: its pause is the one that may time out, before anything else moved */
	{"pgbouncer", pgbouncer_declared, pgbouncer_pause, pgbouncer_repoint, pgbouncer_resume},
	{"haproxy", haproxy_declared, haproxy_pause, haproxy_repoint, haproxy_resume},
	{"pgpool", pgpool_declared, NULL, pgpool_repoint, NULL},
	/* Standby clusters' leaders on this machine stream from the new primary at once. */
	{"standby", standby_follow_declared, NULL, standby_follow_repoint, NULL},
};

const PgcFrontDoor *frontdoor_table(size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < sizeof frontdoors / sizeof *frontdoors; i++)
		if (frontdoors[i].name != NULL)
			*n = i + 1;
	return frontdoors;
}

/* What the HA flows ask before they promote a replica (engine/failover_veto.h). */
static const PgcFailoverVeto failover_vetoes[] = {
	{"standby", standby_failover_veto},
};

const PgcFailoverVeto *failover_veto_table(size_t *n)
{
	*n = sizeof failover_vetoes / sizeof *failover_vetoes;
	return failover_vetoes;
}

const PgcActionDef *action_def(PgcActionKind kind)
{
	if ((int)kind < 0 || (int)kind >= PLAN_ACTION_KINDS)
		return NULL;
	return &actions[kind];
}
