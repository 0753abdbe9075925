/*
 * reconcile/engine/actions.h - internal to apply: the context every action runs
 * with, and one function per action kind, grouped by family:
 *
 *   initdb.c       ACT_INITDB
 *   pgctl.c        ACT_START, ACT_RESTART (pg_ctl, waits; see pgctl.h)
 *   config.c       ACT_WRITE_CONFIG, ACT_WRITE_HBA, ACT_WRITE_PASSFILE,
 *                  ACT_RESET_AUTO_CONF, ACT_RELOAD; secrets; pg_ident.conf
 *   replication.c  ACT_CREATE_SLOT, ACT_CLONE
 *   sql_actions.c  roles, grants, databases, extensions
 *   backup.c       ACT_CREATE_REPOSITORY
 *
 * Every action function checks before it acts, so that running it again
 * after it succeeded (or after a run was killed half way) does no harm.
 * It returns 0 or -1; on failure it has reported the error (log_error)
 * and left a one-line summary in ctx->error for the journal.
 *
 * Password placeholder (ACT_CREATE_ROLE, ACT_ALTER_ROLE): when
 * payload.secret is set, payload.sql holds the token $1 exactly once, outside
 * quoted names and strings, where the password goes:
 *     CREATE ROLE app WITH LOGIN PASSWORD $1
 * ALTER/CREATE ROLE take no bind parameters for PASSWORD, so at apply time
 * the secret is resolved, turned into a SCRAM-SHA-256 verifier on the client
 * (PQencryptPasswordConn) and $1 is replaced by the verifier as a quoted
 * literal. The cleartext never reaches the server, and the statement is
 * never logged.
 */
#ifndef PGC_RECONCILE_ENGINE_ACTIONS_H
#define PGC_RECONCILE_ENGINE_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "common/arena.h"
#include "common/proc.h"
#include "reconcile/engine/apply.h"
#include "reconcile/transport/host.h"
#include "reconcile/engine/plan.h"
#include "schema/topology.h"

#define APPLY_DEFAULT_ACTION_TIMEOUT_S 600
#define APPLY_DEFAULT_READY_TIMEOUT_S 60

typedef struct {
	const PgcTopology *t;
	const PgcCluster *c;
	const PgcNode *n; /* the action's node; NULL for cluster-wide actions */
	const PgcAction *a;
	const char *state_dir; /* apply's state directory (its journal); never NULL */
	int action_timeout_s; /* defaults filled in */
	int ready_timeout_s;
	PgcHost *host;	    /* the node's host; NULL when not on this machine */
	PgcArena *arena;    /* freed after the action */
	char error[512];    /* first failure's summary, for the journal */
	bool nothing_to_do; /* the check found the action already done */
} PgcApplyCtx;

/* ---- apply.c: helpers shared by the families -------------------------- */

/*
 * apply_fail - reports a failure with log_error() and keeps its first line
 * as the journal's error (unless one is already kept). Returns -1.
 */
int apply_fail(PgcApplyCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* apply_note - keeps a summary for the journal of a failure already reported. Returns -1. */
int apply_note(PgcApplyCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* apply_need_host - ctx->host, or a reported failure (-1) when the node is not on this machine. */
int apply_need_host(PgcApplyCtx *ctx);

/*
 * apply_program_failed - reports that a program ran and failed: what
 * failed, how (exit code, signal, timeout), and the tail of its output.
 * Writes a one-line summary into err when err is not NULL.
 */
void apply_program_failed(const char *what, const char *program, const PgcProcResult *res,
			  char *err, size_t errlen);

/*
 * apply_connect - a connection to node n of the context's cluster (local:
 * unix socket as the superuser; otherwise TCP to its host) in dbname (NULL:
 * postgres). NULL on failure, reported.
 */
PGconn *apply_connect(PgcApplyCtx *ctx, const PgcNode *n, const char *dbname);

/* apply_parent_dir - the folder of path ("/" for a top-level path), in arena. */
const char *apply_parent_dir(PgcArena *arena, const char *path);

/* apply_node_label - "cluster/node" in ctx->arena. */
const char *apply_node_label(PgcApplyCtx *ctx, const PgcNode *n);

/* ---- config.c ---------------------------------------------------------- */


/*
 * config_write_ident - writes the node's pg_ident.conf (content; NULL:
 * plan_ident_conf() of the cluster) when it differs. 0 / -1 (reported).
 */
int config_write_ident(PgcApplyCtx *ctx, const char *content);

/*
 * apply_payload_argv - the action's payload.params as a NULL-terminated argv
 * in ctx->arena, after checking that the program is bin_dir's `program`
 * (a saved plan names no other). NULL when the payload has no argv (the
 * caller then builds it) or, with *bad set, when the check failed (reported).
 */
const char **apply_payload_argv(PgcApplyCtx *ctx, const char *program, bool *bad);

/* config_passfile_escape - a passfile field with ':' and '\' escaped. Owned by arena. */
const char *config_passfile_escape(PgcArena *arena, const char *field);

/*
 * config_passfile_text - the passfile line "HOST:PORT:*:USER:PASSWORD\n"
 * for upstream (NULL: "*:*"), fields escaped (passfile_render). malloc'd:
 * it holds the secret; wipe and free it with secret_free(). NULL when the
 * password has a line break (secret_resolve() refuses those first).
 */
char *config_passfile_text(PgcApplyCtx *ctx, const PgcNode *upstream, const char *user,
			   const char *password);

int config_write(PgcApplyCtx *ctx);	      /* ACT_WRITE_CONFIG */
int config_write_hba(PgcApplyCtx *ctx);	      /* ACT_WRITE_HBA */
int config_write_passfile(PgcApplyCtx *ctx);  /* ACT_WRITE_PASSFILE */
int config_reset_auto_conf(PgcApplyCtx *ctx); /* ACT_RESET_AUTO_CONF */
int config_reload(PgcApplyCtx *ctx);	      /* ACT_RELOAD */

/* ---- initdb.c ---------------------------------------------------------- */

/*
 * initdb_conf_has_include - true when postgresql.conf content has an
 * `include 'pgconverge.conf'` line (any spacing, optional '=', the file
 * name bare or ending in "/pgconverge.conf").
 */
bool initdb_conf_has_include(const char *content);

/*
 * initdb_data_dir_kind - what is at a data directory on the context's host:
 * 0 absent, 1 empty, 2 a PostgreSQL data directory (PG_VERSION and
 * global/pg_control), 3 something else (foreign); -1 error (reported).
 */
int initdb_data_dir_kind(PgcApplyCtx *ctx, const char *dir);

/* initdb_ensure_include - adds the include line (and an empty managed file) when missing. */
int initdb_ensure_include(PgcApplyCtx *ctx);

int initdb_run(PgcApplyCtx *ctx); /* ACT_INITDB */

/* ---- pgctl.c (ctx wrappers; the pg_ctl layer itself is pgctl.h) -------- */

int pgctl_action_start(PgcApplyCtx *ctx);   /* ACT_START */
int pgctl_action_restart(PgcApplyCtx *ctx); /* ACT_RESTART */

/* ---- replication.c ----------------------------------------------------- */

int replication_create_slot(PgcApplyCtx *ctx); /* ACT_CREATE_SLOT */
/*
 * replication_drop_slot - ACT_DROP_SLOT: drops physical slot payload.target
 * once no walsender uses it (a re-pointed replica lets go of its old
 * upstream within moments), waiting up to ctx->ready_timeout_s. Absent:
 * nothing to do. A logical slot of that name, or one still in use at the
 * end of the wait, is a failure, with the user of the slot named.
 */
int replication_drop_slot(PgcApplyCtx *ctx);
int replication_clone(PgcApplyCtx *ctx);       /* ACT_CLONE */

/* ---- sql_actions.c ----------------------------------------------------- */

/*
 * sql_password_statement - sql with its single $1 placeholder (outside
 * quotes) replaced by literal. NULL when sql has no such placeholder or
 * more than one. Owned by arena. Exposed for tests.
 */
char *sql_password_statement(PgcArena *arena, const char *sql, const char *literal);

int sql_create_role(PgcApplyCtx *ctx);	    /* ACT_CREATE_ROLE */
int sql_alter_role(PgcApplyCtx *ctx);	    /* ACT_ALTER_ROLE */
int sql_grant_role(PgcApplyCtx *ctx);	    /* ACT_GRANT_ROLE */
int sql_create_database(PgcApplyCtx *ctx);  /* ACT_CREATE_DATABASE */
int sql_alter_database(PgcApplyCtx *ctx);   /* ACT_ALTER_DATABASE */
int sql_create_extension(PgcApplyCtx *ctx); /* ACT_CREATE_EXTENSION */

/* ---- backup.c ------------------------------------------------------------ */

/*
 * backup_repository_create - ACT_CREATE_REPOSITORY: the cluster's backup
 * repository and its base/, logical/ and wal/ folders, owned by os_user,
 * made without following links (backup_repository_init). Nothing to do
 * when they all exist.
 */
int backup_repository_create(PgcApplyCtx *ctx);

#endif
