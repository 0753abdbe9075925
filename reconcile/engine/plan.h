/*
 * reconcile/engine/plan.h - the plan: an ordered list of explained actions.
 *
 * plan_build() (reconcile/planner.h) is a pure function of (topology,
 * observed state, policy): no I/O, no clock (the current time comes in the
 * policy), so it is tested on hand-built observed states. Every action
 * carries what apply needs to do it (file content, SQL, arguments), so what
 * `plan` shows is exactly what `apply` does. Secrets are never in a plan:
 * an action names the secret reference ({env}/{file}) and apply resolves
 * it on the host.
 *
 * Memory: the plan's arena; plan_free().
 */
#ifndef PGC_RECONCILE_ENGINE_PLAN_H
#define PGC_RECONCILE_ENGINE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "common/arena.h"
#include "schema/topology.h"

#define PLAN_FORMAT_VERSION 1

typedef enum {
	IMPACT_NONE,
	IMPACT_RELOAD,
	IMPACT_RESTART,
	IMPACT_SWITCHOVER,
	IMPACT_REBUILD,
} PgcImpact;

/* Action kinds; the JSON "action" name is in parentheses. */
typedef enum {
	ACT_INITDB,          /* (initdb) initdb into an empty/absent data_dir, add the include line */
	ACT_CLONE,           /* (clone) pg_basebackup from the upstream into an empty data_dir, standby.signal */
	ACT_WRITE_CONFIG,    /* (config) write the managed include file (payload.content) */
	ACT_WRITE_HBA,       /* (hba) write pg_hba.conf (payload.content) */
	ACT_WRITE_PASSFILE,  /* (passfile) replication passfile from payload.secret (0600, os_user) */
	ACT_RESET_AUTO_CONF, /* (reset-alter-system) ALTER SYSTEM RESET payload.target */
	ACT_START,           /* (start) pg_ctl start */
	ACT_RELOAD,          /* (reload) pg_ctl reload / pg_reload_conf() */
	ACT_RESTART,         /* (restart) pg_ctl restart -m fast; waits until back (and streaming for replicas) */
	ACT_CREATE_SLOT,     /* (create-slot) physical slot payload.target on the node */
	ACT_CREATE_ROLE,     /* (create-role) payload.sql, password from payload.secret */
	ACT_ALTER_ROLE,      /* (alter-role) payload.sql, password from payload.secret */
	ACT_GRANT_ROLE,      /* (grant-role) payload.sql */
	ACT_CREATE_DATABASE, /* (create-database) payload.sql */
	ACT_ALTER_DATABASE,  /* (alter-database) owner change, payload.sql */
	ACT_CREATE_EXTENSION,/* (create-extension) payload.sql in payload.database */
	ACT_SWITCHOVER,      /* (switchover) move the primary role to payload.target (reconcile/ha/switchover.c) */
	ACT_REJOIN,          /* (rejoin) an old primary back as a replica: pg_rewind, or moved aside and re-cloned */
	ACT_BACKUP,          /* (backup) a base (or logical: payload.target "logical") backup the schedule asks for */
	ACT_RETENTION,       /* (retention) remove backups and WAL outside backup.*.keep */
	ACT_RESTORE,         /* (restore) point-in-time restore of a bootstrap.from_backup cluster's primary */
	ACT_DROP_SLOT,       /* (drop-slot) physical slot payload.target, left by a replica that streams elsewhere now */
	ACT_CREATE_REPOSITORY, /* (create-repository) the backup repository payload.path, before anything archives or fetches */
	ACT_DATADOG_CONF,    /* (datadog-conf) the Datadog Agent's check file payload.path: content with the
	                      * password masked, filled from payload.secret (reconcile/datadog/) */
	ACT_DATADOG_DBM,     /* (datadog-dbm) Database Monitoring's objects for role payload.target in the
	                      * databases payload.params (reconcile/datadog/datadog.h) */
	ACT_PGPOOL_CONFIG,   /* (pgpool-config) Pgpool-II's files in balancer.pgpool.dir: payload.content
	                      * pgpool.conf, payload.ident pool_hba.conf (pool_passwd, pgpool.key and the
	                      * PCP files from the declared secrets at apply); a running one reloads */
	ACT_PGPOOL_START,    /* (pgpool-start) start Pgpool-II (daemon, as the os_user) */
	ACT_PGPOOL_RESTART,  /* (pgpool-restart) pgpool-config's files, then stop and start Pgpool-II */
	ACT_PGPOOL_FOLLOW,   /* (pgpool-follow) tell Pgpool-II the live roles through PCP: payload.target
	                      * is the primary; streaming standbys attached, dead nodes detached */
	ACT_PGBADGER,        /* (pgbadger) pgBadger over a node's completed log files into its report folder */
	ACT_HAPROXY_START,   /* (haproxy-start) write payload.path (haproxy.cfg, payload.content), start HAProxy */
	ACT_HAPROXY_RELOAD,  /* (haproxy-reload) write haproxy.cfg, graceful reload of the master-worker */
	ACT_HAPROXY_SERVERS, /* (haproxy-servers) write haproxy.cfg, send payload.params (runtime API commands) */
	ACT_PGBOUNCER_CONFIG,  /* (pgbouncer-config) pgbouncer.ini (payload.path, content), userlist.txt read
				* from the primary payload.target at apply time; RELOAD when it runs */
	ACT_PGBOUNCER_START,   /* (pgbouncer-start) pgbouncer -d payload.path as the os_user */
	ACT_PGBOUNCER_RESTART, /* (pgbouncer-restart) the files as pgbouncer-config, then stop and start */
	ACT_REGION_SWITCH,   /* (region-switch) a standby cluster's leader (the node) becomes its primary and
	                      * payload.upstream "SOURCE/PRIMARY" its standby leader; payload.target "switch"
	                      * (lossless, reconcile/standby/region_switch.h) or "rejoin" (the leader was
	                      * promoted already: only the old primary rejoins) */
	ACT_FENCE,           /* (fence) stop the node if it runs and write standby.signal: a source
			      * whose standby cluster was promoted by a region failover
			      * (reconcile/standby/region_loss.h) */
	/* The number of action kinds (ACT_INITDB is 0): keep it last. Each kind
	 * has a row in the registry (engine/action.h, reconcile/registry.c). */
	PLAN_ACTION_KINDS
} PgcActionKind;

typedef struct {
	const char *key;
	const char *from;         /* NULL: absent */
	const char *to;           /* NULL: removed */
} PgcChange;

/*
 * PgcPayload - what apply needs to carry an action out, per kind:
 *   initdb        path = data_dir; params = argv (program first: bin_dir/initdb ...)
 *   clone         path = data_dir; params = argv (bin_dir/pg_basebackup ..., no -R, no
 *                 secret: the password goes through PGPASSFILE); upstream; secret = the
 *                 replication password reference (SECRET_NONE: none declared)
 *   config        path = <data_dir>/pgconverge.conf; content. apply also appends
 *                 `include 'pgconverge.conf'` to postgresql.conf when it is missing
 *   hba           path = <data_dir>/pg_hba.conf; content; ident = pg_ident.conf content
 *   passfile      path = <data_dir>/pgconverge.pgpass; target = replication user;
 *                 upstream; secret (the line is "host:port:*:user:password" per upstream)
 *   start, restart  path = data_dir
 *   haproxy-start, haproxy-reload  path = haproxy.cfg; content (its description
 *                 carries the structural digest the running HAProxy must show)
 *   haproxy-servers path, content as above; params = runtime API commands
 *                 ("set server BE/SRV state ready|maint", "shutdown sessions server BE/SRV")
 *   reload        path = data_dir; sql = "SELECT pg_reload_conf()" (for nodes reached by SQL only)
 *   pgbouncer-config, pgbouncer-restart  path = pgbouncer.ini; content; target = the primary
 *                 whose pg_authid the userlist is read from
 *   pgbouncer-start  path = pgbouncer.ini
 *   reset-alter-system, create-slot, *-role, *-database, create-extension:
 *                 sql (+ params), database, target. When secret is set (roles), sql
 *                 ends with the placeholder "$1": utility statements take no bind
 *                 parameters, so apply computes the SCRAM verifier with
 *                 PQencryptPasswordConn() and puts it there as an escaped literal.
 *   pgbadger      path = the node's log folder; target = its report folder
 *                 (<monitoring.pgbadger.output>/<node>); content = the cluster's
 *                 <output>/index.html; params = pgBadger's argv without the log
 *                 files (apply adds the completed ones it finds)
 */
typedef struct {
	const char *path;         /* file an action writes, or data_dir */
	const char *content;      /* file content (ACT_WRITE_*) */
	const char *sql;          /* one statement, identifiers already escaped by the planner's
	                           * own quoting rules; values go in params ($1...) */
	const char **params;
	size_t n_params;
	const char *database;     /* database to run sql in; NULL: postgres */
	const char *target;       /* role, database, extension, slot or parameter name */
	const char *upstream;     /* ACT_CLONE: node to copy from */
	PgcSecret secret;         /* password reference, resolved at apply time */
	const char *ident;        /* ACT_WRITE_HBA: pg_ident.conf content, written with pg_hba.conf */
} PgcPayload;

typedef struct {
	const char *id;           /* "cluster/node/action[:target]" unique in the plan */
	PgcActionKind kind;
	const char *cluster;
	const char *node;         /* NULL for cluster-wide actions */
	const char *reason;       /* one sentence */
	PgcChange *changes;
	size_t n_changes;
	/* The planner's: changes is a list other actions point at too (one pg_hba.conf
	 * diff for many nodes); an append copies it first. Not saved, not compared. */
	bool changes_shared;
	PgcImpact impact;
	const char **depends_on;  /* ids */
	size_t n_depends_on;
	const char *phase;        /* settings changes: "raise-standbys-first", "lower-primary-first", or NULL */
	bool blocked;
	const char *blocked_reason; /* why, and what would allow it ("--allow-restart", window) */
	PgcPayload payload;
	/*
	 * With coordination (topology's coordination.etcd): the host that carries
	 * the action out. The node's host for kinds that need its machine
	 * (ACTION_NEEDS_HOST), the front door's host for the poolers' and
	 * balancers' kinds; NULL for cluster-wide work (SQL on the primary,
	 * switchover steps), which the cluster's leader carries out. Set after
	 * planning (plan_attribute, reconcile/planner.c); NULL without coordination.
	 */
	const char *runs_on;
	/*
	 * With coordination: the planner would have blocked the action because
	 * its machine is not this one ("not this machine"); its host's agent
	 * carries it out instead. apply never runs it (skipped elsewhere), and it
	 * does not count as blocked. Always false without coordination.
	 */
	bool delegated;
} PgcAction;

/* A thing seen live that the file does not declare: reported, never removed. */
typedef struct {
	const char *cluster;
	const char *node;
	const char *kind;         /* role | database | node | slot | alter-system */
	const char *name;
	const char *message;
} PgcOrphan;

typedef struct {
	bool allow_restart;       /* --allow-restart */
	bool allow_switchover;    /* --allow-switchover */
	time_t now;               /* for maintenance windows */
	const char *only_cluster; /* --cluster */
} PgcPolicy;

typedef struct {
	PgcArena *arena;
	PgcAction *actions;       /* in execution order */
	size_t n_actions;
	PgcOrphan *orphans;
	size_t n_orphans;
	/* source of the desired state: file path + sha256 digest, or git repo/ref/commit */
	const char *source_kind;  /* "file" | "git" */
	const char *source_path;
	const char *source_digest;
	const char *source_ref;
	const char *source_commit;
	/* per-node observed fingerprints, "cluster/node" -> fingerprint */
	const char **fp_nodes;
	const char **fp_values;
	size_t n_fp;
	bool offline;             /* built without observing (plan --offline) */
	const char *cluster;      /* the one cluster planned (--cluster), NULL for all; a
				   * saved plan without the member means all */
	/* The topology has coordination (coordination.etcd): actions carry runs_on
	 * and delegated, which the renderers show (JSON: only then). */
	bool coordinated;
} PgcPlan;

void plan_free(PgcPlan *p);

/* Counters for the summary line. */
size_t plan_count_impact(const PgcPlan *p, PgcImpact impact);
size_t plan_count_blocked(const PgcPlan *p);
/* plan_count_delegated - actions left to other hosts' agents (PgcAction.delegated). */
size_t plan_count_delegated(const PgcPlan *p);

/* plan_action_name (a kind's name) is the registry's: engine/action.h. */
const char *plan_impact_name(PgcImpact impact);

/* Renderers (reconcile/engine/plan_render.c). */
void plan_print_text(FILE *out, const PgcPlan *p, bool color);
void plan_print_markdown(FILE *out, const PgcPlan *p);
json_t *plan_to_json(const PgcPlan *p);
/* plan_from_json - a saved plan; NULL with a message in err when malformed. */
PgcPlan *plan_from_json(json_t *j, char *err, size_t errlen);
/*
 * plan_compare_actions - 0 when saved holds exactly now's actions: as many,
 * the same ids in the same order, and for each the same kind, cluster,
 * node, impact, phase, depends_on (in order), changes and payload. The
 * reason and the blocked flag are not compared (a sentence, and this run's
 * policy). Otherwise -1, and why names the first difference: the count, a
 * duplicated id, the action at a position, or the field of an action.
 */
int plan_compare_actions(const PgcPlan *saved, const PgcPlan *now, char *why, size_t len);

/* plan_find_action - the action with this id, or NULL. */
const PgcAction *plan_find_action(const PgcPlan *p, const char *id);

#endif
