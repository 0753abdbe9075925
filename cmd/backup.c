/*
 * cmd/backup.c - `pgconverge backup`: a base or logical backup, now, then
 * retention. The work is in reconcile/backup/backup.c.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <string.h>

#include "cmd/converge.h"
#include "cmd/exitcodes.h"
#include "common/lock.h"
#include "common/progress.h"
#include "common/strutil.h"
#include "reconcile/backup/backup.h"
#include "reconcile/backup/backup_retention.h"

const PgcCommandSpec backup_spec = {
	.usage = "backup " USAGE_SOURCE USAGE_NEWLINE
		 "--cluster NAME [--logical] [--state-dir DIR]",
	.description =
		"Takes a backup of the cluster now, into backup.repository.\n"
		"\n"
		"A base backup is a pg_basebackup (plain format, -X stream so that it carries\n"
		"the WAL it needs and restores on its own, -c fast) taken from a streaming\n"
		"replica when one is healthy, else from the primary, through the local socket\n"
		"as the cluster's os_user. It is written to REPO/base/ID.partial, renamed to\n"
		"REPO/base/ID (ID: the UTC start time, e.g. 20261126T101500Z) when complete,\n"
		"checked with pg_verifybackup, and recorded in REPO/catalog.json with its WAL\n"
		"range, timeline, size, times and source node.\n"
		"\n"
		"With --logical: pg_dump -Fc of each database in backup.logical.databases and\n"
		"pg_dumpall --globals-only, from the primary, into REPO/logical/ID/, each\n"
		"checked (pg_restore --list) and recorded in the same catalog.\n"
		"\n"
		"After a successful backup, retention removes what the policy no longer keeps,\n"
		"and only that: base backups older than the backup.base.keep newest verified\n"
		"ones, dumps beyond backup.logical.keep per database, and archived WAL older\n"
		"than the oldest kept base backup's start. On a terminal, progress (bytes, rate,\n"
		"ETA) is shown while the copy runs.\n"
		"\n"
		"The schedule is declarative and needs no cron job: backup.base.every and\n"
		"backup.logical.every mean \"a backup no older than this exists\", and\n"
		"backup.verify.every a restore drill of the newest base backup that recent;\n"
		"'plan' shows what is due (and what retention would delete) as actions, and\n"
		"'apply' and 'reconcile' carry them out.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_CLUSTER | OPT_CLUSTER_REQUIRED | OPT_LOGICAL,
	.exit_codes = "  0   the backup is complete, verified and recorded\n"
		      "  1   error (a backup that failed verification is kept and recorded as such)\n"
		      "  4   another run holds the state directory's lock\n",
};

static void print_base(const PgcBaseBackupInfo *b)
{
	char size[32];

	str_fprintf_line(stdout, "base backup %s of cluster %s from node %s (%s): %s, WAL %s to %s on timeline %u, %s\n",
	       b->id, b->cluster, b->source_node, b->source_role,
	       progress_format_bytes(b->size_bytes, size, sizeof(size)), b->start_lsn, b->stop_lsn,
	       b->timeline, b->verify.ok ? "verified" : "VERIFICATION FAILED");
}

static void print_logical(const PgcLogicalBackupInfo *l, size_t n)
{
	char size[32];
	size_t i;

	for (i = 0; i < n; i++)
		str_fprintf_line(stdout, "%s %s%s%s: %s, %s\n", strcmp(l[i].kind, "dump") == 0 ? "dump" : "globals",
		       l[i].database ? "of database " : "", l[i].database ? l[i].database : "",
		       l[i].database ? "" : "of the cluster",
		       progress_format_bytes(l[i].size_bytes, size, sizeof(size)),
		       l[i].verify.ok ? "checked" : "CHECK FAILED");
}

static void print_retention(const PgcRetention *r)
{
	char size[32];
	size_t i;

	for (i = 0; i < r->n_base; i++)
		str_fprintf_line(stdout, "retention: removed base backup %s\n", r->base[i]->id);
	for (i = 0; i < r->n_logical; i++)
		str_fprintf_line(stdout, "retention: removed %s\n", r->logical[i]->path);
	if (r->n_wal > 0)
		printf("retention: removed %zu archived WAL file%s\n", r->n_wal, r->n_wal == 1 ? "" : "s");
	if (r->n_base + r->n_logical + r->n_wal > 0)
		printf("retention: freed %s\n", progress_format_bytes(r->bytes, size, sizeof(size)));
}

/* check_declared - the cluster has what the requested backup needs. */
static int check_declared(const PgcOptions *opts, const PgcCluster *c)
{
	if (!c->backup.set || c->backup.repository.v == NULL) {
		cmd_error("add 'backup: {repository: DIR}' to the cluster in the topology file",
			  "cluster \"%s\" has no backup repository", c->name);
		return -1;
	}
	if (opts->logical && c->backup.logical.databases.n == 0) {
		cmd_error("list them in backup.logical.databases",
			  "cluster \"%s\" declares no databases for logical backups", c->name);
		return -1;
	}
	return 0;
}

int cmd_backup(const PgcOptions *opts)
{
	PgcArena *a = arena_new();
	PgcTopology *t;
	PgcObserved *obs = NULL;
	const PgcCluster *c;
	PgcBackupSource source;
	PgcBackupOptions bo = {.progress = true};
	PgcLock lock = {.fd = -1};
	PgcRetention removed;
	int rc = EXIT_ERROR, took;

	t = converge_load(opts);
	if (t == NULL)
		goto cleanup;
	c = topology_cluster(t, opts->cluster);
	if (c == NULL || check_declared(opts, c) != 0)
		goto cleanup;
	if (converge_lock(opts, 0, &lock, &rc) != 0)
		goto cleanup;
	obs = converge_observe(opts, t);
	if (obs == NULL)
		goto cleanup;
	if (backup_pick_source(a, c, obs, opts->logical, &source) != 0) {
		cmd_error("start it ('pgconverge apply'), then back it up", "cannot back up cluster \"%s\": %s",
			  c->name, source.reason);
		goto cleanup;
	}
	if (backup_repository_init(c) != 0)
		goto cleanup;

	if (opts->logical) {
		PgcLogicalBackupInfo *l = NULL;
		size_t n = 0;

		took = backup_take_logical(a, c, &source, &bo, &l, &n);
		print_logical(l, n);
	} else {
		PgcBaseBackupInfo b = {0};

		took = backup_take_base(a, c, &source, &bo, &b);
		if (b.id != NULL && b.start_lsn != NULL)
			print_base(&b);
	}
	if (took != 0)
		goto cleanup;
	/* Only after a good backup: a failing one must not cost an older good one. */
	if (backup_retention_run(a, c, &removed) != 0)
		goto cleanup;
	print_retention(&removed);
	rc = EXIT_OK;
cleanup:
	lock_release(&lock);
	observe_free(obs);
	topology_free(t);
	arena_free(a);
	return rc;
}
