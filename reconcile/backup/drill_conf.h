/*
 * reconcile/backup/drill_conf.h - a restore drill's (drill.h) action target
 * and its server's configuration. Pure: the planner names the drill, the
 * executor writes these files into the drill's copy.
 */
#ifndef PGC_RECONCILE_BACKUP_DRILL_CONF_H
#define PGC_RECONCILE_BACKUP_DRILL_CONF_H

#include "common/arena.h"
#include "schema/topology.h"

/* The target of the ACT_RESTORE action that is a drill: "cluster/-/restore:drill". */
#define DRILL_TARGET "drill"
/* Ports a drill's server may get (a bind test picks a free one). */
#define DRILL_PORT_MIN 20000
#define DRILL_PORT_MAX 31999

/*
 * drill_conf - the drill server's pgconverge.conf: the desired primary's
 * parameters (plan_conf_params) without replication and archiving, on port
 * and 127.0.0.1 with its socket in socket_dir, shared_buffers 128MB,
 * archive_mode off, restore_command fetching from backup.repository,
 * recovery_target_timeline 'latest'. Pure; owned by a.
 */
const char *drill_conf(PgcArena *a, const PgcCluster *c, int port, const char *socket_dir);

/* drill_hba - the drill server's pg_hba.conf: os_user over the local socket only. */
const char *drill_hba(PgcArena *a, const PgcCluster *c);

#endif
