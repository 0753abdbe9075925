/*
 * reconcile/plan.h - the plan: an ordered list of explained actions.
 *
 * plan_build() is a pure function of (topology, observed state, policy): no
 * I/O, no clock (the current time comes in the policy), so it is tested on
 * hand-built observed states. Every action carries what apply needs to do
 * it (file content, SQL, arguments), so what `plan` shows is exactly what
 * `apply` does. Secrets are never in a plan: an action names the secret
 * reference ({env}/{file}) and apply resolves it on the host.
 *
 * Memory: the plan's arena; plan_free().
 */
#ifndef PGC_RECONCILE_PLAN_H
#define PGC_RECONCILE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "common/arena.h"
#include "reconcile/observe.h"
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
} PgcActionKind;

typedef struct {
	const char *key;
	const char *from;         /* NULL: absent */
	const char *to;           /* NULL: removed */
} PgcChange;

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
} PgcPayload;

typedef struct {
	const char *id;           /* "cluster/node/action[:target]" unique in the plan */
	PgcActionKind kind;
	const char *cluster;
	const char *node;         /* NULL for cluster-wide actions */
	const char *reason;       /* one sentence */
	PgcChange *changes;
	size_t n_changes;
	PgcImpact impact;
	const char **depends_on;  /* ids */
	size_t n_depends_on;
	const char *phase;        /* settings changes: "raise-standbys-first", "lower-primary-first", or NULL */
	bool blocked;
	const char *blocked_reason; /* why, and what would allow it ("--allow-restart", window) */
	PgcPayload payload;
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
} PgcPlan;

/*
 * plan_build - the actions that take the observed state to the topology,
 * in an order that respects: primary before replicas, upstream before
 * cascaded; >=-on-standby parameters raised on standbys first and lowered
 * on the primary first; restarts rolling (replicas one at a time, primary
 * last). Actions the policy forbids are kept, marked blocked.
 * A converged cluster gives zero actions. Never fails except on memory.
 */
PgcPlan *plan_build(const PgcTopology *t, const PgcObserved *obs, const PgcPolicy *policy);
void plan_free(PgcPlan *p);

/* Counters for the summary line. */
size_t plan_count_impact(const PgcPlan *p, PgcImpact impact);
size_t plan_count_blocked(const PgcPlan *p);

const char *plan_action_name(PgcActionKind kind);
const char *plan_impact_name(PgcImpact impact);

/* Renderers (reconcile/plan_render.c). */
void plan_print_text(FILE *out, const PgcPlan *p, bool color);
void plan_print_markdown(FILE *out, const PgcPlan *p);
json_t *plan_to_json(const PgcPlan *p);
/* plan_from_json - a saved plan; NULL with a message in err when malformed. */
PgcPlan *plan_from_json(json_t *j, char *err, size_t errlen);

/*
 * maintenance_window_open - true when `now` falls in the cluster's window
 * (restart: always -> true; never -> false).
 */
bool maintenance_window_open(const PgcMaintenance *m, time_t now);

/*
 * plan_managed_conf - the content pgconverge writes into a node's managed
 * include file: the node's effective settings plus the parameters
 * pgconverge owns (port, listen_addresses, primary_conninfo, ...).
 * Deterministic: same topology, same bytes. Owned by arena.
 */
const char *plan_managed_conf(PgcArena *arena, const PgcCluster *c, const PgcNode *n);
/* plan_hba_conf - the pg_hba.conf content for a node. */
const char *plan_hba_conf(PgcArena *arena, const PgcCluster *c, const PgcNode *n);

#endif
