/*
 * reconcile/postgres/config.h - the configuration actions: the managed include
 * file (and its include line in postgresql.conf), pg_hba.conf and
 * pg_ident.conf, the replication passfile, ALTER SYSTEM RESET and reload.
 * Secrets are resolved here, at apply time.
 */
#ifndef PGC_RECONCILE_POSTGRES_CONFIG_H
#define PGC_RECONCILE_POSTGRES_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "reconcile/engine/exec.h"
#include "schema/topology.h"

/* config_ensure_include - adds the include line (and an empty managed file) when missing. */
int config_ensure_include(PgcExecCtx *ctx);

/*
 * config_write_ident - writes the node's pg_ident.conf (content; NULL:
 * plan_ident_conf() of the cluster) when it differs. 0 / -1 (reported).
 */
int config_write_ident(PgcExecCtx *ctx, const char *content);

/* config_passfile_escape - a passfile field with ':' and '\' escaped. Owned by arena. */
const char *config_passfile_escape(PgcArena *arena, const char *field);

/*
 * config_passfile_text - the passfile line "HOST:PORT:*:USER:PASSWORD\n"
 * for upstream (NULL: "*:*"), fields escaped (passfile_render). malloc'd:
 * it holds the secret; wipe and free it with secret_free(). NULL when the
 * password has a line break (secret_resolve() refuses those first).
 */
char *config_passfile_text(PgcExecCtx *ctx, const PgcNode *upstream, const char *user,
			   const char *password);

/*
 * The file writers, typed: ACT_WRITE_CONFIG, ACT_WRITE_HBA and
 * ACT_WRITE_PASSFILE call them with their payload, HA flows (ha.h) with
 * what they render from the live topology. ctx->n and ctx->host must be
 * set (the executors check with exec_need_host()); ctx->a is not read.
 * ctx->nothing_to_do tells whether every file already was as wanted.
 */

/*
 * config_write_node - the managed include file (path NULL:
 * DATA_DIR/pgconverge.conf) holds content; then postgresql.conf includes
 * it (config_ensure_include).
 */
int config_write_node(PgcExecCtx *ctx, const char *path, const char *content);

/* config_write_hba_node - pg_hba.conf (path NULL: DATA_DIR/pg_hba.conf), then pg_ident.conf (ident). */
int config_write_hba_node(PgcExecCtx *ctx, const char *path, const char *content,
			  const char *ident);

/*
 * config_write_passfile_node - the replication passfile (path NULL:
 * plan_passfile_path) with one line for upstream (NULL: the node's
 * upstream in the cluster), user (NULL: replication.user) and the password
 * secret names (NULL or SECRET_NONE: replication.password), resolved here.
 */
int config_write_passfile_node(PgcExecCtx *ctx, const char *path, const char *upstream,
			       const char *user, const PgcSecret *secret);

int config_write(PgcExecCtx *ctx);	      /* ACT_WRITE_CONFIG */
int config_write_hba(PgcExecCtx *ctx);	      /* ACT_WRITE_HBA */
int config_write_passfile(PgcExecCtx *ctx);  /* ACT_WRITE_PASSFILE */
int config_reset_auto_conf(PgcExecCtx *ctx); /* ACT_RESET_AUTO_CONF */
int config_reload(PgcExecCtx *ctx);	      /* ACT_RELOAD */

#endif
