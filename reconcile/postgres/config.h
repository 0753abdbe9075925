/*
 * reconcile/postgres/config.h - the configuration actions: the managed include
 * file, pg_hba.conf and pg_ident.conf, the replication passfile, ALTER
 * SYSTEM RESET and reload. Secrets are resolved here, at apply time.
 */
#ifndef PGC_RECONCILE_POSTGRES_CONFIG_H
#define PGC_RECONCILE_POSTGRES_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "reconcile/engine/exec.h"
#include "schema/topology.h"

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

int config_write(PgcExecCtx *ctx);	      /* ACT_WRITE_CONFIG */
int config_write_hba(PgcExecCtx *ctx);	      /* ACT_WRITE_HBA */
int config_write_passfile(PgcExecCtx *ctx);  /* ACT_WRITE_PASSFILE */
int config_reset_auto_conf(PgcExecCtx *ctx); /* ACT_RESET_AUTO_CONF */
int config_reload(PgcExecCtx *ctx);	      /* ACT_RELOAD */

#endif
