/*
 * reconcile/backup/backup_run.c - the executors of the backup schedule's
 * repository actions (backup_run.h): scheduled backups and retention.
 * The repository (a folder that may be a mount shared by hosts) is written
 * with backup.c's and backup_retention.c's own guarded code, not through a
 * node's host.
 */
#include "reconcile/backup/backup_run.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/log.h"
#include "common/progress.h"
#include "reconcile/backup/backup.h"
#include "reconcile/backup/backup_catalog.h"
#include "reconcile/backup/backup_retention.h"
#include "reconcile/backup/backup_source.h"
#include "reconcile/backup/restore_choose.h"
#include "reconcile/backup/walarchive.h"
#include "reconcile/engine/plan.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/transport/host.h"

/* ---- scheduled backups ------------------------------------------------------------- */

/* fresh_enough - a valid backup (base, or every declared database's dump) younger than every. */
static bool fresh_enough(const PgcCluster *c, const PgcBackupCatalog *cat, bool logical)
{
	double now = (double)time(NULL), t;
	size_t i, k;

	if (!logical) {
		if (!c->backup.base.every.set)
			return false;
		for (i = cat->n_base; i-- > 0;) {
			const PgcBaseBackupInfo *b = &cat->base[i];

			if (b->verify.ok && !b->deleting && restore_parse_time(b->finished_at, &t) == 0)
				return now - t < (double)c->backup.base.every.ms / 1000;
		}
		return false;
	}
	if (!c->backup.logical.every.set)
		return false;
	for (k = 0; k < c->backup.logical.databases.n; k++) {
		const char *db = c->backup.logical.databases.items[k].v;
		bool fresh = false;

		for (i = cat->n_logical; i-- > 0 && !fresh;) {
			const PgcLogicalBackupInfo *l = &cat->logical[i];

			if (l->database != NULL && strcmp(l->database, db) == 0 && l->verify.ok &&
			    !l->deleting && restore_parse_time(l->finished_at, &t) == 0)
				fresh = now - t < (double)c->backup.logical.every.ms / 1000;
		}
		if (!fresh)
			return false;
	}
	return true;
}

/* source_of - the node the plan chose, and whether it is a replica now. */
static int source_of(PgcExecCtx *ctx, PgcBackupSource *src)
{
	const char *name = ctx->a->payload.upstream;
	PGconn *conn;
	PGresult *r = NULL;
	PgcPgError e;

	memset(src, 0, sizeof(*src));
	src->node = name ? cluster_node(ctx->c, name) : NULL;
	if (src->node == NULL)
		return exec_fail(ctx, "action \"%s\" names no source node of cluster \"%s\"", ctx->a->id,
				  ctx->c->name);
	if (!host_is_local(src->node->host.v))
		return exec_fail(ctx, "cannot back up from node \"%s\": it is not on this machine",
				  src->node->name);
	conn = exec_connect(ctx, src->node, NULL);
	if (conn == NULL)
		return -1;
	if (pgsql_query(conn, "SELECT pg_is_in_recovery()", 0, NULL, 0, &r, &e) != 0) {
		PQfinish(conn);
		return exec_fail(ctx, "could not ask node \"%s\" for its role: %s", src->node->name,
				  e.message);
	}
	src->replica = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	src->reason = ctx->a->reason;
	PQclear(r);
	PQfinish(conn);
	return 0;
}

int backup_run_scheduled(PgcExecCtx *ctx)
{
	const PgcCluster *c = ctx->c;
	bool logical = ctx->a->payload.target != NULL && strcmp(ctx->a->payload.target, "logical") == 0;
	PgcBackupOptions bo = {.progress = true};
	PgcBackupCatalog *cat;
	PgcBackupSource src;
	char size[32];
	int rc;

	if (!c->backup.set || c->backup.repository.v == NULL)
		return exec_fail(ctx, "cluster \"%s\" has no backup repository", c->name);
	cat = backup_catalog_load(c->backup.repository.v);
	if (cat == NULL)
		return exec_note(ctx, "could not read the catalog of \"%s\"", c->backup.repository.v);
	/* Checked first: a run killed after the backup finished does not take another. */
	ctx->nothing_to_do = fresh_enough(c, cat, logical);
	backup_catalog_free(cat);
	if (ctx->nothing_to_do)
		return 0;
	if (source_of(ctx, &src) != 0 || backup_repository_init(c) != 0)
		return exec_note(ctx, "could not prepare the backup of cluster \"%s\"", c->name);
	if (logical) {
		PgcLogicalBackupInfo *l = NULL;
		size_t n = 0;

		rc = backup_take_logical(ctx->arena, c, &src, &bo, &l, &n);
		if (rc == 0)
			log_info("logical backup of cluster \"%s\": %zu dump%s", c->name, n,
				 n == 1 ? "" : "s");
	} else {
		PgcBaseBackupInfo b = {0};

		rc = backup_take_base(ctx->arena, c, &src, &bo, &b);
		if (rc == 0)
			log_info("base backup %s of cluster \"%s\" from node \"%s\": %s, WAL %s to %s, "
				 "verified", b.id, c->name, src.node->name,
				 progress_format_bytes(b.size_bytes, size, sizeof size), b.start_lsn,
				 b.stop_lsn);
	}
	if (rc != 0)
		return exec_note(ctx, "the %s backup of cluster \"%s\" failed", logical ? "logical" : "base",
				  c->name);
	return 0;
}

/* ---- retention --------------------------------------------------------------------- */

/* listed - name is one of the plan's (payload.params). */
static bool listed(const PgcPayload *pl, const char *name)
{
	for (size_t i = 0; i < pl->n_params; i++)
		if (pl->params[i] != NULL && strcmp(pl->params[i], name) == 0)
			return true;
	return false;
}

int backup_run_retention(PgcExecCtx *ctx)
{
	const PgcCluster *c = ctx->c;
	const char *repo = c->backup.repository.v;
	const PgcPayload *pl = &ctx->a->payload;
	PgcRetentionPolicy policy = backup_retention_policy(c);
	PgcBackupCatalog *cat;
	PgcWalEntry *wal = NULL;
	size_t n_wal = 0, i, skipped = 0;
	PgcRetention now, r;
	char size[32];
	int rc = -1;

	if (repo == NULL)
		return exec_fail(ctx, "cluster \"%s\" has no backup repository", c->name);
	cat = backup_catalog_load(repo);
	if (cat == NULL || walarchive_list(ctx->arena, repo, &wal, &n_wal) != 0) {
		backup_catalog_free(cat);
		return exec_note(ctx, "could not read backup repository \"%s\"", repo);
	}
	/* What the policy removes now, and of that only what the plan showed. */
	backup_retention_compute(ctx->arena, cat, wal, n_wal, &policy, &now);
	memset(&r, 0, sizeof r);
	r.base = arena_calloc(ctx->arena, now.n_base + 1, sizeof(*r.base));
	r.logical = arena_calloc(ctx->arena, now.n_logical + 1, sizeof(*r.logical));
	r.wal = arena_calloc(ctx->arena, now.n_wal + 1, sizeof(*r.wal));
	r.oldest_kept = now.oldest_kept;
	for (i = 0; i < now.n_base; i++)
		if (listed(pl, now.base[i]->path))
			r.bytes += now.base[i]->size_bytes, r.base[r.n_base++] = now.base[i];
		else
			skipped++;
	for (i = 0; i < now.n_logical; i++)
		if (listed(pl, now.logical[i]->path))
			r.bytes += now.logical[i]->size_bytes, r.logical[r.n_logical++] = now.logical[i];
		else
			skipped++;
	for (i = 0; i < now.n_wal; i++)
		if (listed(pl, now.wal[i]->name))
			r.bytes += now.wal[i]->size, r.wal[r.n_wal++] = now.wal[i];
		else
			skipped++;
	if (skipped > 0)
		log_info("retention of cluster \"%s\": %zu more item%s outside the policy since the plan "
			 "was made, left for the next run", c->name, skipped, skipped == 1 ? "" : "s");
	if (r.n_base + r.n_logical + r.n_wal == 0) {
		ctx->nothing_to_do = true;
		rc = 0;
		goto cleanup;
	}
	if (backup_retention_apply(repo, &r) != 0) {
		exec_note(ctx, "retention of \"%s\" did not finish; what is marked is removed next run",
			   repo);
		goto cleanup;
	}
	log_info("retention of cluster \"%s\": removed %zu base backup%s, %zu dump%s, %zu WAL file%s "
		 "(%s)", c->name, r.n_base, r.n_base == 1 ? "" : "s", r.n_logical,
		 r.n_logical == 1 ? "" : "s", r.n_wal, r.n_wal == 1 ? "" : "s",
		 progress_format_bytes(r.bytes, size, sizeof size));
	rc = 0;
cleanup:
	backup_catalog_free(cat);
	return rc;
}
