/*
 * reconcile/postgres/initdb.c - ACT_INITDB: a new data directory, made pgconverge's.
 *
 * Steps, each checked before it is done so the action can be repeated:
 *   1. the data directory's parents exist (owned by os_user) and the data
 *      directory is absent or empty; a non-empty folder that is not a
 *      PostgreSQL data directory is refused and never touched;
 *   2. initdb (as os_user) unless the folder already holds a cluster;
 *   3. postgresql.conf ends with `include 'pgconverge.conf'` (added once,
 *      nothing else in that file is edited), and the managed file exists so
 *      that the server can start before the first config action
 *      (config_ensure_include);
 *   4. pg_ident.conf holds the pgconverge map (config_write_ident).
 */
#include "reconcile/postgres/initdb.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "reconcile/engine/exec.h"
#include "reconcile/pg/layout.h"
#include "reconcile/postgres/config.h"

int initdb_data_dir_kind(PgcExecCtx *ctx, const char *dir)
{
	const char *files[] = {"PG_VERSION", "global/pg_control"};
	int state = host_dir_state(ctx->host, dir);

	if (state < 0)
		return -1;
	if (state < 2)
		return state;
	for (size_t i = 0; i < 2; i++) {
		const char *path = arena_printf(ctx->arena, "%s/%s", dir, files[i]);
		char *buf = NULL;
		size_t len;
		int rc = host_read_file(ctx->host, path, &buf, &len, 64 * 1024);

		free(buf);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return 3;
	}
	return 2;
}

int initdb_data_dir_usable(PgcExecCtx *ctx, const char *dir, const char *doing)
{
	int kind = initdb_data_dir_kind(ctx, dir);

	if (kind < 0)
		return exec_note(ctx, "could not look at data directory \"%s\"", dir);
	if (kind == 3)
		return exec_fail(
		    ctx,
		    "refusing to %s \"%s\" for node \"%s\": the folder is not empty "
		    "and is not a PostgreSQL data directory\n"
		    "hint: empty the folder, or set data_dir to another one",
		    doing, dir, exec_node_label(ctx, ctx->n));
	return kind;
}

static int run_initdb(PgcExecCtx *ctx)
{
	const PgcCluster *c = ctx->c;
	const char *dir = ctx->n->data_dir.v;
	const char **argv;
	PgcProcSpec spec = {0};
	PgcProcResult res;
	bool bad = false;
	size_t k = 0;
	int rc;

	argv = exec_payload_argv(ctx, "initdb", &bad);
	if (bad)
		return -1;
	if (argv == NULL) {
		argv = arena_calloc(ctx->arena, 12, sizeof(char *));
		argv[k++] = arena_printf(ctx->arena, "%s/initdb", c->bin_dir.v);
		argv[k++] = "-D";
		argv[k++] = dir;
		argv[k++] = arena_printf(ctx->arena, "--username=%s", c->os_user.v);
		argv[k++] = arena_printf(ctx->arena, "--locale=%s", c->initdb.locale.v);
		argv[k++] = arena_printf(ctx->arena, "--encoding=%s", c->initdb.encoding.v);
		if (c->initdb.data_checksums.v)
			argv[k++] = "--data-checksums";
		argv[k++] = "--auth-local=peer";
		argv[k++] = "--auth-host=scram-sha-256";
		argv[k] = NULL;
	}

	spec.argv = argv;
	spec.run_as = c->os_user.v;
	spec.timeout_ms = ctx->action_timeout_s * 1000;
	if (host_run(ctx->host, &spec, &res) != 0)
		return exec_note(ctx, "could not run initdb");
	if (res.status != 0 || res.timed_out) {
		const char *what =
		    arena_printf(ctx->arena, "could not initialise data directory \"%s\"", dir);

		proc_report_failed(what, argv[0], &res, ctx->error, sizeof(ctx->error));
		rc = -1;
	} else {
		log_info("initialised data directory \"%s\" for node \"%s\"", dir,
			 exec_node_label(ctx, ctx->n));
		rc = 0;
	}
	proc_result_free(&res);
	return rc;
}

int initdb_run(PgcExecCtx *ctx)
{
	const char *dir;
	int kind;

	if (exec_need_host(ctx) != 0)
		return -1;
	dir = ctx->n->data_dir.v;
	kind = initdb_data_dir_usable(ctx, dir, "initialise");
	if (kind < 0)
		return -1;
	if (kind == 2) {
		/* initdb ran before (a run stopped before the include line, or a repeat). */
		ctx->nothing_to_do = true;
	} else {
		/* Parents stay traversable; the data directory itself is private. */
		if (host_mkdir_p(ctx->host, exec_parent_dir(ctx->arena, dir), 0755) != 0 ||
		    host_mkdir_p(ctx->host, dir, 0700) != 0)
			return exec_note(ctx, "could not create data directory \"%s\"", dir);
		if (run_initdb(ctx) != 0)
			return -1;
	}
	if (config_ensure_include(ctx) != 0)
		return -1;
	if (config_write_ident(ctx, NULL) != 0)
		return -1;
	return 0;
}
