/*
 * reconcile/datadog/datadog.h - the Datadog Agent's postgres check
 * (monitoring.datadog): its configuration file, and what Database
 * Monitoring needs inside the databases. The login role itself is the
 * postgres component's (plan_datadog_roles() adds it to the roles the
 * postgres planner sees).
 *
 * The check file, conf_dir/conf.yaml, has one instance per node, each
 * reaching the node directly (its host and port, never a pooler's), with
 * the tags cluster, node, role (primary or replica, from the live
 * primary) and region. The plan holds the file with the password masked
 * (OBS_DATADOG_PASSWORD_MARK); apply resolves the secret and puts it
 * there. The file is written as root, mode 0640, group of conf_dir (the
 * Agent's, dd-agent on its packages), with the atomic writer; a symlink in
 * its place is refused, never followed or replaced.
 *
 * Memory: strings in the arena given.
 */
#ifndef PGC_RECONCILE_DATADOG_DATADOG_H
#define PGC_RECONCILE_DATADOG_DATADOG_H

#include <stddef.h>

#include "common/arena.h"
#include "reconcile/engine/exec.h"
#include "schema/topology.h"

/* The check file's permission bits: the Agent's group reads it, nobody else. */
#define DATADOG_CONF_MODE 0640

/* datadog_conf_path - conf_dir/conf.yaml of cluster c. */
const char *datadog_conf_path(PgcArena *a, const PgcCluster *c);

/*
 * datadog_conf_render - the check file for cluster c (whose primary is the
 * live one), the passwords masked. Deterministic: the planner compares it
 * with the observed file, masked the same way.
 */
char *datadog_conf_render(PgcArena *a, const PgcCluster *c);

/* datadog_yaml_quote - s as a YAML double-quoted scalar (control bytes as \xHH). */
char *datadog_yaml_quote(PgcArena *a, const char *s);

/*
 * datadog_conf_fill - content with every masked password replaced by
 * password, quoted. NULL when content holds no mark (not a check file this
 * renderer wrote). The caller wipes the result.
 */
char *datadog_conf_fill(PgcArena *a, const char *content, const char *password);

/*
 * datadog_dbm_sql - the statements that set Database Monitoring up in one
 * database for role user, each idempotent, in order, inside one
 * transaction (BEGIN first, COMMIT last); *n their number
 * (DATADOG_DBM_N_SQL): schema datadog, USAGE on it and on public,
 * pg_stat_statements; the role PGC_DATADOG_EXPLAIN_ROLE (created when
 * missing; NOLOGIN, no other attribute, a member of pg_read_all_data and
 * of nothing else, nobody a member of it); the function
 * datadog.explain_statement (SECURITY DEFINER, owned by that role, body
 * OBS_DATADOG_EXPLAIN_SRC, no configuration), executable by user only,
 * without grant option: every other grant is revoked.
 *
 * Whoever may call a SECURITY DEFINER function that plans arbitrary SQL
 * can run code as its owner (an IMMUTABLE function of theirs in pg_temp
 * is folded by the planner): the owner is that role, never a superuser,
 * and the body makes the transaction read-only before it plans anything.
 */
#define DATADOG_DBM_N_SQL 15
const char **datadog_dbm_sql(PgcArena *a, const char *user, size_t *n);

/* Executors (registry.c): ACT_DATADOG_CONF, ACT_DATADOG_DBM. */
int datadog_conf_run(PgcExecCtx *ctx);
int datadog_dbm_run(PgcExecCtx *ctx);

#endif
