/*
 * reconcile/backup/plan_backup.c - the backup family's part of the plan
 * (plan_backup.h): schedules, retention, drills and restores, from the
 * topology and the observed repositories. Pure: the clock is the policy's.
 */
#include "reconcile/backup/plan_backup.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/progress.h"
#include "reconcile/backup/backup_catalog.h"
#include "reconcile/backup/backup_retention.h"
#include "reconcile/backup/backup_source.h"
#include "reconcile/backup/drill_conf.h"
#include "reconcile/backup/restore_choose.h"
#include "reconcile/backup/restore_conf.h"
#include "reconcile/backup/walarchive.h"
#include "reconcile/engine/builder.h"
#include "reconcile/pg/layout.h"
#include "reconcile/postgres/plan_conf.h"

typedef struct {
	PgcPlanBuilder *b;
	PgcArena *a;
	const PgcCluster *c;
	const PgcObserved *obs;
	const PgcObsCluster *oc;  /* NULL: not observed (offline, or another cluster selected) */
	const PgcPolicy *policy;
	double now;
} Bx;

const char *plan_backup_duration(int64_t s, bool exact, char *buf, size_t size)
{
	if (s < 0)
		s = 0;
	if (exact) {
		if (s >= 2 * 86400 && s % 86400 == 0)
			snprintf(buf, size, "%lldd", (long long)(s / 86400));
		else if (s >= 3600 && s % 3600 == 0)
			snprintf(buf, size, "%lldh", (long long)(s / 3600));
		else if (s >= 60 && s % 60 == 0)
			snprintf(buf, size, "%lldm", (long long)(s / 60));
		else
			snprintf(buf, size, "%llds", (long long)s);
	} else if (s >= 86400) {
		snprintf(buf, size, "%lldd %lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
	} else if (s >= 3600) {
		snprintf(buf, size, "%lldh %lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	} else if (s >= 60) {
		snprintf(buf, size, "%lldm", (long long)(s / 60));
	} else {
		snprintf(buf, size, "%llds", (long long)s);
	}
	return buf;
}

static const char *period(Bx *x, const PgcDuration *d)
{
	char buf[32];

	return arena_strdup(x->a, plan_backup_duration(d->ms / 1000, true, buf, sizeof buf));
}

static const char *age(Bx *x, double seconds)
{
	char buf[32];

	return arena_strdup(x->a, plan_backup_duration((int64_t)seconds, false, buf, sizeof buf));
}

/* ---- emitting ---------------------------------------------------------------- */

static PgcAction *emit(Bx *x, PgcActionKind kind, const char *node, const char *target,
		       PgcImpact impact, const char *reason)
{
	return builder_emit(x->b, kind, x->c->name, node, target, impact, reason);
}

/* ---- small lookups ------------------------------------------------------------- */

static const PgcObsNode *obs_node(Bx *x, const PgcNode *n)
{
	size_t i;

	for (i = 0; x->oc != NULL && i < x->oc->n_nodes; i++)
		if (strcmp(x->oc->nodes[i].name, n->name) == 0)
			return &x->oc->nodes[i];
	return NULL;
}

static double when(const char *iso)
{
	double t;

	return restore_parse_time(iso, &t) == 0 ? t : -1;
}

static bool base_valid(const PgcBaseBackupInfo *b)
{
	return b->verify.known && b->verify.ok && !b->deleting;
}

/* newest_base - the newest verified base backup, or NULL. */
static const PgcBaseBackupInfo *newest_base(const PgcBackupCatalog *cat)
{
	size_t i;

	for (i = cat->n_base; i-- > 0;)
		if (base_valid(&cat->base[i]))
			return &cat->base[i];
	return NULL;
}

/* ---- schedules ------------------------------------------------------------------- */

/*
 * source - the node to take a backup from. NULL when none fits: then the
 * backup is left for a later pass while a local node is still coming up
 * (*wait), and blocked with the reason otherwise.
 */
static const PgcNode *source(Bx *x, bool logical, bool *replica, const char **why, bool *wait)
{
	PgcBackupSource src;
	size_t i;

	*wait = false;
	if (backup_pick_source(x->a, x->c, x->obs, logical, &src) == 0) {
		*replica = src.replica;
		return src.node;
	}
	*why = src.reason;
	for (i = 0; i < x->c->n_nodes; i++) {
		const PgcObsNode *o = obs_node(x, &x->c->nodes[i]);

		if (o != NULL && o->local && !o->reachable)
			*wait = true;
	}
	return NULL;
}

/*
 * failed_recently - the newest base backup failed its verification less
 * than min(every, 1h) ago. It stays in the repository for inspection and
 * shows in status; taking another at every pass would fill the disk with
 * copies that fail the same way.
 */
static bool failed_recently(Bx *x, const PgcObsRepository *r, double every)
{
	const PgcBaseBackupInfo *last = r->catalog->n_base ? &r->catalog->base[r->catalog->n_base - 1]
							   : NULL;
	double started = last ? when(last->started_at) : -1;

	return last != NULL && !last->deleting && last->verify.known && !last->verify.ok &&
	       started >= 0 && x->now - started < (every < 3600 ? every : 3600);
}

static bool plan_base(Bx *x, const PgcObsRepository *r)
{
	const PgcCluster *c = x->c;
	const PgcBaseBackupInfo *b = newest_base(r->catalog);
	double every = (double)c->backup.base.every.ms / 1000, fin = b ? when(b->finished_at) : -1;
	const PgcNode *n;
	const char *why = NULL, *reason;
	bool replica = false, wait;
	PgcAction *act;

	if (!c->backup.base.every.set || (b != NULL && fin >= 0 && x->now - fin < every))
		return false;
	if (failed_recently(x, r, every))
		return false;
	n = source(x, false, &replica, &why, &wait);
	if (n == NULL && wait)
		return false;
	reason = b == NULL ? arena_printf(x->a, "no verified base backup yet (base.every %s)",
					  period(x, &c->backup.base.every))
			   : arena_printf(x->a, "the newest base backup %s is %s old, base.every is %s",
					  b->id, age(x, x->now - fin), period(x, &c->backup.base.every));
	if (n != NULL)
		reason = arena_printf(x->a, "%s: take one from node \"%s\" (%s)", reason, n->name,
				      replica ? "a streaming replica" : "the primary");
	act = emit(x, ACT_BACKUP, NULL, NULL, IMPACT_NONE, reason);
	act->payload.path = c->backup.repository.v;
	act->payload.target = "base";
	act->payload.upstream = n ? n->name : NULL;
	builder_change(x->b, act, "newest base backup", b ? arena_strdup(x->a, b->id) : NULL, "a new one");
	if (n == NULL)
		builder_block(act, why);
	return n != NULL;
}

static void plan_logical(Bx *x, const PgcObsRepository *r)
{
	const PgcCluster *c = x->c;
	double every = (double)c->backup.logical.every.ms / 1000;
	const char *stale = NULL, *why = NULL;
	const PgcNode *n;
	bool replica, wait;
	PgcAction *act;
	size_t i, k;

	if (!c->backup.logical.every.set || c->backup.logical.databases.n == 0)
		return;
	for (k = 0; k < c->backup.logical.databases.n; k++) {
		const char *db = c->backup.logical.databases.items[k].v;
		double newest = -1;

		for (i = 0; i < r->catalog->n_logical; i++) {
			const PgcLogicalBackupInfo *l = &r->catalog->logical[i];
			double t = when(l->finished_at);

			if (l->database != NULL && strcmp(l->database, db) == 0 && l->verify.ok &&
			    !l->deleting && t > newest)
				newest = t;
		}
		if (newest < 0 || x->now - newest >= every)
			stale = stale ? arena_printf(x->a, "%s, \"%s\"", stale, db)
				      : arena_printf(x->a, "\"%s\"", db);
	}
	if (stale == NULL)
		return;
	n = source(x, true, &replica, &why, &wait);
	if (n == NULL && wait)
		return;
	act = emit(x, ACT_BACKUP, NULL, "logical", IMPACT_NONE,
		   n != NULL ? arena_printf(x->a, "no dump of %s within logical.every %s: dump every "
					    "listed database on the primary \"%s\"",
					    stale, period(x, &c->backup.logical.every), n->name)
			     : arena_printf(x->a, "no dump of %s within logical.every %s", stale,
					    period(x, &c->backup.logical.every)));
	act->payload.path = c->backup.repository.v;
	act->payload.target = "logical";
	act->payload.upstream = n ? n->name : NULL;
	if (n == NULL)
		builder_block(act, why);
}

/* ---- retention --------------------------------------------------------------------- */

static void plan_retention(Bx *x, const PgcObsRepository *r)
{
	const PgcCluster *c = x->c;
	PgcRetentionPolicy pol = backup_retention_policy(c);
	PgcRetention ret;
	PgcAction *act;
	char size[32];
	size_t i, j;

	backup_retention_compute(x->a, r->catalog, r->wal, r->n_wal, &pol, &ret);
	if (ret.n_base + ret.n_logical + ret.n_wal == 0)
		return;
	act = emit(x, ACT_RETENTION, NULL, NULL, IMPACT_NONE,
		   arena_printf(x->a,
				"outside the retention policy (base.keep %d, logical.keep %d): %zu base "
				"backup%s, %zu dump%s, %zu archived WAL file%s, %s%s%s",
				pol.keep_base, pol.keep_logical, ret.n_base, ret.n_base == 1 ? "" : "s",
				ret.n_logical, ret.n_logical == 1 ? "" : "s", ret.n_wal,
				ret.n_wal == 1 ? "" : "s", progress_format_bytes(ret.bytes, size, sizeof size),
				ret.oldest_kept ? "; the oldest kept base backup is " : "",
				ret.oldest_kept ? ret.oldest_kept->id : ""));
	act->payload.path = c->backup.repository.v;
	for (i = 0; i < ret.n_base; i++) {
		const PgcBaseBackupInfo *b = ret.base[i];

		builder_change(x->b, act, arena_strdup(x->a, b->path),
		       arena_printf(x->a, "base backup, %s, ended %s%s",
				    progress_format_bytes(b->size_bytes, size, sizeof size),
				    b->finished_at ? b->finished_at : "?",
				    b->deleting ? ", removal under way" : !base_valid(b) ? ", not verified" : ""),
		       NULL);
		builder_param(x->b, act, b->path);
	}
	for (i = 0; i < ret.n_logical; i++) {
		const PgcLogicalBackupInfo *l = ret.logical[i];

		builder_change(x->b, act, arena_strdup(x->a, l->path),
		       arena_printf(x->a, "%s%s%s, %s", strcmp(l->kind, "dump") == 0 ? "dump" : "globals",
				    l->database ? " of database " : "", l->database ? l->database : "",
				    progress_format_bytes(l->size_bytes, size, sizeof size)),
		       NULL);
		builder_param(x->b, act, l->path);
	}
	/* WAL in runs: one change per timeline's consecutive files. */
	for (i = 0; i < ret.n_wal; i = j) {
		int64_t bytes = 0;

		for (j = i; j < ret.n_wal && ret.wal[j]->parsed.timeline == ret.wal[i]->parsed.timeline;
		     j++)
			bytes += ret.wal[j]->size;
		builder_change(x->b, act, arena_printf(x->a, "wal/%08X", ret.wal[i]->parsed.timeline),
		       j - i == 1 ? arena_printf(x->a, "%s (%s)", ret.wal[i]->name,
						 progress_format_bytes(bytes, size, sizeof size))
				  : arena_printf(x->a, "%s ... %s (%zu files, %s)", ret.wal[i]->name,
						 ret.wal[j - 1]->name, j - i,
						 progress_format_bytes(bytes, size, sizeof size)),
		       NULL);
		for (size_t k = i; k < j; k++)
			builder_param(x->b, act, ret.wal[k]->name);
	}
}

/* ---- drills ---------------------------------------------------------------------- */

static void plan_drill(Bx *x, const PgcObsRepository *r)
{
	const PgcCluster *c = x->c;
	const PgcBaseBackupInfo *b = newest_base(r->catalog);
	double every = (double)c->backup.verify.every.ms / 1000, last_ok = -1;
	const PgcObsDrill *mine = NULL;
	PgcAction *act;
	size_t i;

	if (!c->backup.verify.every.set || b == NULL)
		return;
	for (i = 0; i < r->n_drills; i++) {
		double t = when(r->drills[i].at);

		if (r->drills[i].ok && t > last_ok)
			last_ok = t;
		if (strcmp(r->drills[i].backup_id, b->id) == 0)
			mine = &r->drills[i];
	}
	if (last_ok >= 0 && x->now - last_ok < every)
		return;
	/* Its drill failed this period: status shows it; the next period tries again. */
	if (mine != NULL && when(mine->at) >= 0 && x->now - when(mine->at) < every)
		return;
	act = emit(x, ACT_RESTORE, NULL, DRILL_TARGET, IMPACT_NONE,
		   arena_printf(x->a,
				"%s (verify.every %s): restore base backup %s into a scratch folder, "
				"replay the archive to its end, check it, remove it",
				last_ok < 0 ? "no successful restore drill yet"
					    : arena_printf(x->a, "the last successful restore drill was %s ago",
							   age(x, x->now - last_ok)),
				period(x, &c->backup.verify.every), b->id));
	act->payload.path = c->backup.repository.v;
	act->payload.target = arena_strdup(x->a, b->id);
	builder_change(x->b, act, "drilled backup", mine ? arena_printf(x->a, "%s: %s", mine->ok ? "passed" : "FAILED",
							     mine->at ? mine->at : "?")
					      : NULL,
	       arena_strdup(x->a, b->id));
}

static void plan_schedule(Bx *x)
{
	const PgcCluster *c = x->c;
	const PgcObsRepository *r = x->oc ? x->oc->repository : NULL;
	bool base;

	if (!c->backup.set || c->backup.repository.v == NULL || r == NULL)
		return;
	if (r->error != NULL || r->catalog == NULL) {
		if (c->backup.base.every.set || c->backup.logical.every.set || c->backup.verify.every.set)
			builder_block(emit(x, ACT_BACKUP, NULL, NULL, IMPACT_NONE,
				   "the backup schedule cannot be checked"),
			      r->error ? arena_strdup(x->a, r->error) : "the repository was not read");
		return;
	}
	base = plan_base(x, r);
	plan_logical(x, r);
	plan_retention(x, r);
	if (!base)
		plan_drill(x, r);
}

/* ---- the repository ------------------------------------------------------------------ */

/*
 * plan_repository - the repository, created before anything of the cluster
 * uses it: while it does not exist the primary's archive_command (wal-push)
 * fails, and a replica's restore_command (wal-fetch) stops its startup with
 * FATAL. Emitted before every other action of the cluster: a cluster-wide
 * action runs after what precedes it and before what follows it
 * (apply_order.h), and apply stops at a failure. Offline, a cluster whose
 * primary is created by the plan gets it (unless it exists).
 */
static void plan_repository(Bx *x)
{
	const PgcCluster *c = x->c;
	const PgcObsRepository *r = x->oc ? x->oc->repository : NULL;
	const char *repo = c->backup.repository.v, *reason;
	PgcAction *act;

	if (!c->backup.set || repo == NULL)
		return;
	if (x->obs == NULL || x->obs->pretend) {
		const PgcNode *pn = c->primary.v ? cluster_node(c, c->primary.v) : NULL;
		const PgcObsNode *po = pn ? obs_node(x, pn) : NULL;

		if (x->obs != NULL && (po == NULL || po->dir_state != DIR_ABSENT))
			return;
		reason = arena_printf(x->a, "create backup repository \"%s\" (unless it exists)", repo);
	} else {
		/* Unreadable (error) is not absent: the schedule's blocked action says why. */
		if (r == NULL || r->exists || r->error != NULL)
			return;
		reason = arena_printf(x->a, "backup repository \"%s\" does not exist: create it", repo);
	}
	if (c->backup.wal_archive.v)
		reason = arena_printf(x->a, "%s, before any server archives WAL into it or fetches WAL "
				      "from it", reason);
	act = emit(x, ACT_CREATE_REPOSITORY, NULL, NULL, IMPACT_NONE, reason);
	act->payload.path = repo;
	builder_change(x->b, act, "backup repository", NULL,
	       arena_printf(x->a, "%s with %s/, %s/ and %s/, owned by os_user \"%s\", mode 0700", repo,
			    BACKUP_BASE_DIR, BACKUP_LOGICAL_DIR, WALARCHIVE_DIR, c->os_user.v));
}

/* ---- restores ------------------------------------------------------------------------ */

/* conf_names_node - a managed file pgconverge wrote for this very node (cluster_name). */
static bool conf_names_node(Bx *x, const PgcNode *n, const char *content)
{
	const char *want = arena_printf(x->a, "%s-%s", x->c->name, n->name);
	PgcConfParam *p;
	size_t np = plan_conf_parse(x->a, content, &p), i;

	for (i = 0; i < np; i++)
		if (strcasecmp(p[i].name, "cluster_name") == 0)
			return strcmp(p[i].value, want) == 0;
	return false;
}

/* from_source - the data directory's system identifier is one of the source repository's. */
static int from_source(Bx *x, const PgcObsNode *o, const PgcObsRepository *r)
{
	const char *sysid = arena_printf(x->a, "%llu", (unsigned long long)o->system_identifier);
	size_t i;
	bool known = false;

	if (o->system_identifier == 0 || r == NULL || r->error != NULL || r->catalog == NULL)
		return -1;
	for (i = 0; i < r->catalog->n_base; i++) {
		const char *s = r->catalog->base[i].system_identifier;

		if (s == NULL)
			continue;
		known = true;
		if (strcmp(s, sysid) == 0)
			return 1;
	}
	return known ? 0 : -1;
}

static PgcAction *restore_action(Bx *x, const PgcNode *n, PgcImpact impact, const char *reason)
{
	PgcAction *act = emit(x, ACT_RESTORE, n->name, NULL, impact, reason);

	act->payload.path = n->data_dir.v;
	act->payload.content = restore_managed_conf(x->a, x->c, n);
	return act;
}

/* describe - the choice's changes on the action. */
static void describe(Bx *x, PgcAction *act, const PgcRestoreChoice *ch)
{
	const PgcBaseBackupInfo *b = ch->backup;
	char size[32];

	act->payload.target = arena_strdup(x->a, b->id);
	builder_change(x->b, act, "base backup", NULL,
	       arena_printf(x->a, "%s (ended %s, timeline %u, WAL %s-%s, %s)", b->id,
			    b->finished_at ? b->finished_at : "?", b->timeline, b->start_lsn, b->stop_lsn,
			    progress_format_bytes(b->size_bytes, size, sizeof size)));
	/* What the restore replays, not where the archive ends now: the archive
	 * grows by the minute, and a saved plan must not go stale with it. The
	 * end, observed, is in the reason (ch->summary), which is not compared. */
	builder_change(x->b, act, "wal", NULL,
	       !(x->c->bootstrap.immediate.set && x->c->bootstrap.immediate.v)
		       ? arena_printf(x->a, "%s on, then the archive as far as it is contiguous",
				      ch->first_wal)
		       : arena_printf(x->a, "%s, as carried by the backup", ch->first_wal));
	builder_change(x->b, act, "target", NULL, ch->target);
	builder_change(x->b, act, "then", NULL,
	       restore_pauses(&x->c->bootstrap) ? "pause (target_action: pause)"
						: arena_printf(x->a, "promote on a new timeline (after timeline %u)",
							       ch->latest_tli));
}

/* plan_restore - the restore of c's primary; true when the restore owns the cluster. */
static bool plan_restore(Bx *x)
{
	const PgcCluster *c = x->c;
	const PgcBootstrap *bs = &c->bootstrap;
	const PgcNode *n = c->primary.v ? cluster_node(c, c->primary.v) : NULL;
	const PgcObsNode *o;
	const PgcObsRepository *src = x->oc ? x->oc->restore_source : NULL;
	PgcRestoreChoice ch;
	const char *why, *repo = bs->repository.v;
	PgcAction *act;
	bool running;

	if (!bs->set || repo == NULL || n == NULL)
		return false;
	o = obs_node(x, n);
	if (x->obs == NULL || (src == NULL && o != NULL && o->dir_state == DIR_ABSENT && !o->reachable)) {
		/* Offline (plan --offline observes no repository): a fresh restore. */
		restore_action(x, n, IMPACT_NONE,
			       arena_printf(x->a, "restore node \"%s\" from \"%s\" (the backup and WAL "
					    "range are chosen when the repository is read: plan "
					    "without --offline)", n->name, repo));
		return true;
	}
	if (o == NULL)
		return false;
	running = o->reachable || o->postmaster_alive;
	if (!o->local) {
		if (running)
			return false; /* it exists: the rest of the planner manages it */
		builder_delegate(x->b, restore_action(x, n, IMPACT_NONE,
				     arena_printf(x->a, "restore node \"%s\" from \"%s\"", n->name, repo)),
		      arena_printf(x->a, "node's host \"%s\" is not this machine; pgconverge restores "
				   "only into local data directories", n->host.v));
		return true;
	}

	/* A fresh restore: nothing there yet. */
	if ((o->dir_state == DIR_ABSENT || o->dir_state == DIR_EMPTY) && !running) {
		if (restore_choose(x->a, bs, src, &ch, &why) != 0) {
			builder_block(restore_action(x, n, IMPACT_NONE,
					     arena_printf(x->a, "restore node \"%s\" from \"%s\"", n->name,
							  repo)),
			      why);
			return true;
		}
		act = restore_action(x, n, IMPACT_NONE,
				     arena_printf(x->a, "data directory \"%s\" is %s: restore node \"%s\" "
						  "from \"%s\": %s", n->data_dir.v,
						  o->dir_state == DIR_EMPTY ? "empty" : "absent", n->name,
						  repo, ch.summary));
		describe(x, act, &ch);
		return true;
	}
	if (o->dir_state == DIR_FOREIGN) {
		builder_block(restore_action(x, n, IMPACT_NONE,
				     arena_printf(x->a, "restore node \"%s\" from \"%s\"", n->name, repo)),
		      arena_printf(x->a, "data directory \"%s\" is not empty and not a PostgreSQL data "
				   "directory; restoring in place is never done implicitly: empty "
				   "it, or give the node another data_dir", n->data_dir.v));
		return true;
	}
	if (o->dir_state != DIR_INITIALIZED)
		return false;

	/* A restore under way: recovery.signal is there. */
	if (o->recovery_signal) {
		if (running && o->reachable && o->in_recovery && restore_pauses(bs) &&
		    o->replay_pause_state != NULL && strcmp(o->replay_pause_state, "paused") == 0)
			return true; /* restored and paused at its target, as declared */
		if (restore_choose(x->a, bs, src, &ch, &why) != 0) {
			builder_block(restore_action(x, n, IMPACT_NONE,
					     arena_printf(x->a, "continue the restore of node \"%s\"",
							  n->name)),
			      why);
			return true;
		}
		act = restore_action(x, n, IMPACT_NONE,
				     arena_printf(x->a, "node \"%s\" is being restored (recovery.signal): "
						  "%s replaying to %s, %s",
						  n->name, running ? "wait for it" : "start it and wait for it",
						  ch.target,
						  restore_pauses(bs) ? "then pause" : "then promote"));
		act->payload.target = arena_strdup(x->a, ch.backup->id);
		return true;
	}

	/* Promoted, but its pgconverge.conf is still the restore's: a reload
	 * drops them (recovery_target_* left in memory are inert, restore.h). */
	if (o->managed_conf != NULL && restore_conf_is_restore(x->a, o->managed_conf) &&
	    conf_names_node(x, n, o->managed_conf)) {
		act = restore_action(x, n, running ? IMPACT_RELOAD : IMPACT_NONE,
				     arena_printf(x->a, "node \"%s\" was restored and promoted: remove the "
						  "restore's recovery settings from %s%s", n->name,
						  PGC_MANAGED_CONF,
						  running ? " and reload it" : " and start it"));
		builder_change(x->b, act, "recovery_target_timeline", "latest", NULL);
		return true;
	}

	/* Someone else's data directory where the restore should go. */
	if (!(o->managed_conf != NULL && conf_names_node(x, n, o->managed_conf)) &&
	    from_source(x, o, src) == 0) {
		builder_block(restore_action(x, n, IMPACT_NONE,
				     arena_printf(x->a, "restore node \"%s\" from \"%s\"", n->name, repo)),
		      arena_printf(x->a, "data directory \"%s\" holds another cluster (system "
				   "identifier %llu, not the repository's); restoring in place is never "
				   "done implicitly: move it away, or give the node another data_dir",
				   n->data_dir.v, (unsigned long long)o->system_identifier));
		return true;
	}
	return false;
}

bool plan_backup_cluster(PgcPlanBuilder *b, const PgcCluster *c, const PgcObserved *obs,
			 const PgcPolicy *policy)
{
	Bx x;
	size_t i;

	memset(&x, 0, sizeof x);
	x.b = b;
	x.a = b->a;
	x.c = c;
	x.obs = obs;
	x.policy = policy;
	x.now = (double)policy->now;
	for (i = 0; obs != NULL && i < obs->n_clusters; i++)
		if (strcmp(obs->clusters[i].name, c->name) == 0)
			x.oc = &obs->clusters[i];
	/* First: everything after it in the cluster may archive or fetch WAL. */
	plan_repository(&x);
	if (plan_restore(&x))
		return true;
	plan_schedule(&x);
	return false;
}
