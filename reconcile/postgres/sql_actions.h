/*
 * reconcile/postgres/sql_actions.h - roles, memberships, databases and
 * extensions, as SQL on the primary.
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
#ifndef PGC_RECONCILE_POSTGRES_SQL_ACTIONS_H
#define PGC_RECONCILE_POSTGRES_SQL_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "reconcile/engine/exec.h"
#include "schema/topology.h"

/*
 * sql_password_statement - sql with its single $1 placeholder (outside
 * quotes) replaced by literal. NULL when sql has no such placeholder or
 * more than one. Owned by arena. Exposed for tests.
 */
char *sql_password_statement(PgcArena *arena, const char *sql, const char *literal);

int sql_create_role(PgcExecCtx *ctx);	    /* ACT_CREATE_ROLE */
int sql_alter_role(PgcExecCtx *ctx);	    /* ACT_ALTER_ROLE */
int sql_grant_role(PgcExecCtx *ctx);	    /* ACT_GRANT_ROLE */
int sql_create_database(PgcExecCtx *ctx);  /* ACT_CREATE_DATABASE */
int sql_alter_database(PgcExecCtx *ctx);   /* ACT_ALTER_DATABASE */
int sql_create_extension(PgcExecCtx *ctx); /* ACT_CREATE_EXTENSION */

#endif
