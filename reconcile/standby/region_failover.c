/*
 * reconcile/standby/region_failover.c - a standby cluster promoted when its
 * source's region is lost, the chain's record, and the fence of a source
 * that returns (region_failover.h).
 */
#include "reconcile/standby/region_failover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fspath.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "reconcile/ha/fence.h"
#include "reconcile/ha/ha.h"
#include "reconcile/ha/promote.h"
#include "reconcile/pg/lsn.h"
#include "reconcile/transport/host.h"

#define RECORD_MAX_BYTES (1024 * 1024)
#define QUERY_MS 5000
#define PROMOTE_TIMEOUT_S 60
#define STREAM_TIMEOUT_S 20

static bool same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int64_t now_unix_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- the record ---------------------------------------------------------------- */

static json_t *record_load(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	json_t *root = NULL;

	if (access(path, F_OK) == 0 && fs_read_file(path, &buf, &len, RECORD_MAX_BYTES) == 0)
		root = json_loadb(buf, len, 0, NULL);
	free(buf);
	if (!json_is_object(root)) {
		json_decref(root);
		root = json_object();
	}
	return root;
}

/* source_writer - the node of cluster src observed taking writes (the newest timeline), or NULL. */
static const PgcObsNode *source_writer(const PgcObserved *obs, const char *src)
{
	const PgcObsCluster *oc = observe_cluster_find_any(obs, src);
	const PgcObsNode *best = NULL;

	for (size_t i = 0; oc != NULL && i < oc->n_nodes; i++)
		if (oc->nodes[i].reachable && !oc->nodes[i].in_recovery &&
		    (best == NULL || oc->nodes[i].timeline > best->timeline))
			best = &oc->nodes[i];
	return best;
}

void region_record_save(const char *state_dir, const PgcTopology *t, const PgcObserved *obs)
{
	json_t *root = NULL, *clusters;
	char *path = NULL, *text;
	char iso[CLOCK_UTC_SIZE];
	bool changed = false;

	if (state_dir == NULL || obs == NULL || obs->pretend)
		return;
	for (size_t i = 0; i < t->n_clusters; i++) {
		const PgcCluster *c = &t->clusters[i];
		const PgcObsNode *l, *w;
		json_t *e;

		if (!c->standby_of.set)
			continue;
		l = observe_node_find_any(obs, c->name, c->primary.v);
		w = source_writer(obs, c->standby_of.v);
		if (l == NULL || !l->reachable || !l->in_recovery || w == NULL || w->current_lsn == NULL)
			continue;
		if (root == NULL) {
			if (fs_mkdir_p(state_dir, 0700, FS_NO_UID, FS_NO_GID) != 0)
				return;
			path = fs_path_join(state_dir, REGION_RECORD_FILE);
			root = record_load(path);
		}
		clusters = json_object_get(root, "clusters");
		if (!json_is_object(clusters)) {
			clusters = json_object();
			json_object_set_new(root, "clusters", clusters);
		}
		e = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s,s:I}", "source", c->standby_of.v, "source_node",
			      w->name, "source_lsn", w->current_lsn, "leader", l->name, "leader_received",
			      l->receive_lsn != NULL ? l->receive_lsn : l->replay_lsn, "seen_at",
			      clock_utc_now(CLOCK_UTC_ISO_MS, iso, sizeof iso), "seen_at_unix_ms",
			      (json_int_t)now_unix_ms());
		if (e == NULL)
			continue;
		json_object_set_new(clusters, c->name, e);
		changed = true;
	}
	if (changed) {
		text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (text != NULL &&
		    fs_write_atomic(path, text, strlen(text), 0600, FS_NO_UID, FS_NO_GID, NULL) != 0)
			log_warn("could not record the standby clusters' positions in \"%s\"", path);
		free(text);
	}
	json_decref(root);
	free(path);
}

void region_detached_set(const char *state_dir, const char *cluster, const char *from)
{
	char *path, *text;
	char iso[CLOCK_UTC_SIZE];
	json_t *root, *detached;

	if (state_dir == NULL || fs_mkdir_p(state_dir, 0700, FS_NO_UID, FS_NO_GID) != 0)
		return;
	path = fs_path_join(state_dir, REGION_RECORD_FILE);
	root = record_load(path);
	detached = json_object_get(root, "detached");
	if (!json_is_object(detached)) {
		detached = json_object();
		json_object_set_new(root, "detached", detached);
	}
	if (from != NULL)
		json_object_set_new(detached, cluster,
				    json_pack("{s:s,s:s}", "from", from, "at",
					      clock_utc_now(CLOCK_UTC_ISO_MS, iso, sizeof iso)));
	else if (json_object_del(detached, cluster) != 0) {
		json_decref(root);
		free(path);
		return; /* nothing recorded */
	}
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (text == NULL ||
	    fs_write_atomic(path, text, strlen(text), 0600, FS_NO_UID, FS_NO_GID, NULL) != 0)
		log_warn("could not record in \"%s\" that cluster \"%s\" was %s", path, cluster,
			 from != NULL ? "detached" : "failed over");
	free(text);
	json_decref(root);
	free(path);
}

const char *region_detached_from(PgcArena *a, const char *state_dir, const char *cluster)
{
	char *path;
	json_t *root;
	const char *from = NULL;

	if (state_dir == NULL || cluster == NULL)
		return NULL;
	path = fs_path_join(state_dir, REGION_RECORD_FILE);
	root = record_load(path);
	from = json_string_value(json_object_get(json_object_get(json_object_get(root, "detached"), cluster),
						 "from"));
	from = from != NULL ? arena_strdup(a, from) : NULL;
	json_decref(root);
	free(path);
	return from;
}

void region_record_read(PgcArena *a, const char *state_dir, const char *cluster, PgcRegionRecord *out)
{
	char *path = fs_path_join(state_dir, REGION_RECORD_FILE);
	json_t *root = record_load(path), *e;
	const char *s;

	memset(out, 0, sizeof *out);
	e = json_object_get(json_object_get(root, "clusters"), cluster);
	if (json_is_object(e) && (s = json_string_value(json_object_get(e, "source_lsn"))) != NULL &&
	    lsn_parse(s, &out->source_lsn) == 0 &&
	    json_is_integer(json_object_get(e, "seen_at_unix_ms"))) {
		out->found = true;
		out->seen_at_unix_ms = json_integer_value(json_object_get(e, "seen_at_unix_ms"));
		if ((s = json_string_value(json_object_get(e, "source"))) != NULL)
			out->source = arena_strdup(a, s);
		if ((s = json_string_value(json_object_get(e, "source_node"))) != NULL)
			out->source_node = arena_strdup(a, s);
		if ((s = json_string_value(json_object_get(e, "seen_at"))) != NULL)
			out->seen_at = arena_strdup(a, s);
		if ((s = json_string_value(json_object_get(e, "leader_received"))) != NULL)
			(void)lsn_parse(s, &out->leader_received);
	}
	json_decref(root);
	free(path);
}

/* ---- the failover ----------------------------------------------------------------- */

/*
 * source_answers - why the region failover must not run, or NULL: a node of
 * src answers (src can still fail over within its region, or be switched
 * losslessly), or a node up the chain takes writes. *hint the way out.
 */
static const char *source_answers(PgcArena *a, const PgcTopology *t, const PgcObserved *obs,
				  const PgcCluster *x, const PgcCluster *src, const char **hint)
{
	const PgcObsCluster *oc = observe_cluster_find_any(obs, src->name);
	const PgcObsNode *w = source_writer(obs, src->name), *any = NULL;
	const PgcCluster *up = src;

	for (size_t i = 0; oc != NULL && i < oc->n_nodes && any == NULL; i++)
		if (oc->nodes[i].reachable)
			any = &oc->nodes[i];
	if (w != NULL || any != NULL) {
		*hint = arena_printf(a, "the source is alive: fail \"%s\" over within its region, or swap "
				      "standby_of between \"%s\" and \"%s\" and apply --allow-switchover for a "
				      "lossless region switch",
				      src->name, src->name, x->name);
		return w != NULL ? arena_printf(a, "\"%s/%s\" answers and takes writes", src->name, w->name)
				 : arena_printf(a, "\"%s/%s\" answers (%s)", src->name, any->name,
						any->in_recovery ? "in recovery" : "takes writes");
	}
	/* A chain: a writer further up still takes the writes X's data comes from. */
	for (size_t hops = 0; up->standby_of.set && hops < t->n_clusters; hops++) {
		if ((up = topology_cluster(t, up->standby_of.v)) == NULL)
			break;
		if ((w = source_writer(obs, up->name)) != NULL) {
			*hint = arena_printf(a, "the chain is alive: make \"%s\" a standby of \"%s\" "
					      "(standby_of: %s) and apply, or bring \"%s\" back; promoting \"%s\" "
					      "would make a second writer",
					      x->name, up->name, up->name, src->name, x->name);
			return arena_printf(a, "\"%s/%s\" up the chain takes writes", up->name, w->name);
		}
	}
	return NULL;
}

/* region_estimate_json - the estimate for the journal event. */
json_t *region_estimate_json(const PgcLossEstimate *e)
{
	return json_pack("{s:s,s:I,s:f,s:s}", "kind",
			 e->kind == LOSS_ZERO	    ? "zero"
			 : e->kind == LOSS_UNKNOWN ? "unknown"
						   : "estimated",
			 "bytes", (json_int_t)e->bytes, "seconds", e->seconds, "basis", e->basis);
}

/* leader_sample - L's positions and WAL receiver into in. 0, or -1 with err. */
static int leader_sample(PgcArena *a, const PgcCluster *c, const PgcNode *l, PgcLossInput *in,
			 char *err, size_t errlen)
{
	const char *v = NULL;
	char f[5][64];
	uint64_t received = 0;

	if (ha_query_value(
		a, c, l,
		"SELECT concat_ws(' ', coalesce(pg_catalog.pg_last_wal_receive_lsn()::text, '-'), "
		"coalesce(pg_catalog.pg_last_wal_replay_lsn()::text, '-'), "
		"coalesce((SELECT latest_end_lsn::text FROM pg_catalog.pg_stat_wal_receiver), '-'), "
		"coalesce((SELECT flushed_lsn::text FROM pg_catalog.pg_stat_wal_receiver), '-'), "
		"coalesce((SELECT extract(epoch FROM now() - latest_end_time)::text "
		"FROM pg_catalog.pg_stat_wal_receiver), '-'))",
		QUERY_MS, &v, err, errlen) != 0)
		return -1;
	if (v == NULL || sscanf(v, "%63s %63s %63s %63s %63s", f[0], f[1], f[2], f[3], f[4]) != 5) {
		snprintf(err, errlen, "unexpected answer \"%s\"", v != NULL ? v : "NULL");
		return -1;
	}
	(void)lsn_parse(f[0], &received);
	(void)lsn_parse(f[1], &in->leader_replayed);
	in->leader_received = received > in->leader_replayed ? received : in->leader_replayed;
	if (lsn_parse(f[2], &in->latest_end_lsn) == 0 && in->latest_end_lsn > 0) {
		in->receiver_row = true;
		(void)lsn_parse(f[3], &in->flushed_lsn);
		in->latest_end_age_s = strcmp(f[4], "-") != 0 ? strtod(f[4], NULL) : -1;
	}
	return 0;
}

/*
 * source_shutdown - the source's primary shut down cleanly: every node of
 * src on this machine, down, its control file readable, none in production
 * or in crash recovery, at least one "shut down" (a primary's). *ckpt its
 * checkpoint (the highest among them).
 */
static bool source_shutdown(const PgcCluster *src, const PgcObserved *obs, uint64_t *ckpt)
{
	bool clean = false;

	*ckpt = 0;
	for (size_t i = 0; i < src->n_nodes; i++) {
		const PgcNode *n = &src->nodes[i];
		const PgcObsNode *o = observe_node_find_any(obs, src->name, n->name);
		PgcHost *h;
		PgcControl ctl;
		int rc;

		if (o == NULL || !o->local || o->reachable || o->postmaster_alive)
			return false;
		h = host_for(n->host.v, src->os_user.v);
		if (h == NULL)
			return false;
		rc = ha_controldata(h, src, n, &ctl);
		host_free(h);
		if (rc != 0)
			return false;
		if (strcmp(ctl.state, "shut down") == 0) {
			clean = true;
			if (ctl.checkpoint_lsn > *ckpt)
				*ckpt = ctl.checkpoint_lsn;
		} else if (strcmp(ctl.state, "shut down in recovery") != 0) {
			return false;
		}
	}
	return clean;
}

/* journal - the event's line ("event": what, and the outcome at the end). */
static void journal(PgcRegionFailover *in, const char *event, const char *outcome, const char *error)
{
	json_object_set_new(in->event, "event", json_string(event));
	if (outcome != NULL) {
		json_object_set_new(in->event, "outcome", json_string(outcome));
		json_object_set_new(in->event, "duration_ms", json_integer((json_int_t)(clock_ms() - in->t0)));
	}
	if (error != NULL)
		json_object_set_new(in->event, "error", json_string(error));
	(void)ha_journal_event(in->state_dir, in->event);
}

/* count_streaming - how many of c's other nodes stream from l, waited for up to timeout_s. */
static size_t count_streaming(PgcArena *a, const PgcCluster *c, const PgcNode *l, size_t want,
			      int timeout_s)
{
	double until = clock_ms() + timeout_s * 1000.0;
	size_t n = 0;

	for (;;) {
		const char *v = NULL;
		char err[256];

		if (ha_query_value(a, c, l,
				   "SELECT count(*) FROM pg_catalog.pg_stat_replication "
				   "WHERE state = 'streaming'",
				   QUERY_MS, &v, err, sizeof err) == 0 &&
		    v != NULL)
			n = (size_t)strtoul(v, NULL, 10);
		if (n >= want || clock_ms() >= until)
			return n;
		clock_sleep_ms(250);
	}
}

int region_failover(PgcArena *a, PgcRegionFailover *in, const PgcFailoverReporter *rep,
		    PgcRegionFailoverResult *out)
{
	const PgcCluster *c = in->c, *src = topology_cluster(in->t, c->standby_of.v);
	const PgcNode *l = cluster_node(c, c->primary.v);
	const PgcObsNode *lo = observe_node_find_any(in->obs, c->name, c->primary.v);
	PgcLossInput li;
	PgcRegionRecord rec;
	const char *alive, *alive_hint = NULL, *force_hint;
	const char *v = NULL;
	char err[600], lsnbuf[32];

	memset(out, 0, sizeof *out);
	memset(&li, 0, sizeof li);
	li.latest_end_age_s = -1;
	if (src == NULL || l == NULL)
		return -1; /* validation refuses both */
	out->leader = l->name;
	out->source = src->name;
	out->n_others = c->n_nodes - 1;
	if (lo == NULL || !lo->reachable) {
		rep->refused(rep->ctx, "start it first, or name another node of the cluster in its 'primary:'",
			     arena_printf(a, "the standby leader \"%s/%s\" does not answer: %s", c->name,
					  l->name, lo != NULL && lo->conn_error ? lo->conn_error : "not observed"));
		return -1;
	}
	if (!lo->in_recovery) {
		out->nothing_to_do = true;
		return 0;
	}
	alive = source_answers(a, in->t, in->obs, c, src, &alive_hint);
	if (alive != NULL) {
		rep->refused(rep->ctx, alive_hint,
			     arena_printf(a, "refusing to promote standby cluster \"%s\": its source \"%s\" "
					     "is not lost (%s)%s",
					  c->name, src->name, alive, in->force ? ", even with --force" : ""));
		return -1;
	}

	/* What L may lack. */
	if (leader_sample(a, c, l, &li, err, sizeof err) != 0) {
		rep->refused(rep->ctx, NULL,
			     arena_printf(a, "could not read the positions of \"%s/%s\": %s", c->name,
					  l->name, err));
		return -1;
	}
	region_record_read(a, in->state_dir, c->name, &rec);
	if (rec.found && same(rec.source, src->name)) {
		li.have_record = true;
		li.rec_source_lsn = rec.source_lsn;
		li.rec_age_s = (double)(now_unix_ms() - rec.seen_at_unix_ms) / 1000.0;
		if (li.rec_age_s < 0)
			li.rec_age_s = 0;
	}
	li.source_clean_shutdown = source_shutdown(src, in->obs, &li.source_checkpoint_lsn);
	region_loss_estimate(&li, &out->estimate);
	out->estimate_text = region_loss_text(a, &out->estimate);
	json_object_set_new(in->event, "estimate", region_estimate_json(&out->estimate));
	force_hint = arena_printf(a,
				  "check that the region of \"%s\" is really lost; to promote \"%s\" anyway, "
				  "giving up what it lacks: pgconverge failover --cluster %s --force",
				  src->name, l->name, c->name);
	if (out->estimate.kind != LOSS_ZERO && !in->force) {
		rep->refused(rep->ctx, force_hint,
			     arena_printf(a, "refusing to promote standby cluster \"%s\": its source \"%s\" "
					     "does not answer and \"%s\" may lack some of its writes: %s",
					  c->name, src->name, l->name, out->estimate_text));
		return -1;
	}

	log_info("promoting standby cluster \"%s\" (its leader \"%s\"): its source \"%s\" does not "
		 "answer; data-loss estimate: %s",
		 c->name, l->name, src->name, out->estimate_text);
	json_object_set_new(in->event, "action", json_string(arena_printf(a, "%s/%s/failover", c->name,
									    l->name)));
	json_object_set_new(in->event, "kind", json_string("region-failover"));
	json_object_set_new(in->event, "impact", json_string("switchover"));
	json_object_set_new(in->event, "node", json_string(l->name));
	json_object_set_new(in->event, "source", json_string(src->name));
	json_object_set_new(in->event, "forced", json_boolean(in->force));
	journal(in, "start", NULL, NULL);

	/* No wait for replay to settle first: a WAL receiver cut off by a network
	 * partition still says 'streaming' until wal_receiver_timeout, and the
	 * promotion itself replays every complete record L has. Nothing else
	 * of X decides on the promotion point (its other nodes cascade from L). */
	if (promote_node(c, l, PROMOTE_TIMEOUT_S) != 0) {
		rep->refused(rep->ctx, "look at the log above; nothing else was changed",
			     arena_printf(a, "could not promote \"%s/%s\"", c->name, l->name));
		journal(in, "end", "failed", "promotion failed");
		return -1;
	}
	out->promoted_ms = clock_ms() - in->t0;
	/* Static once recovery ended: the last record replayed, where the new timeline forks. */
	if (ha_query_value(a, c, l, "SELECT pg_catalog.pg_last_wal_replay_lsn()::text", QUERY_MS, &v,
			   err, sizeof err) == 0 && v != NULL)
		(void)lsn_parse(v, &out->switch_lsn);
	/* The control file then names the new timeline, which the fence rule compares. */
	if (ha_exec(c, l, "CHECKPOINT", 60000, err, sizeof err) != 0)
		log_warn("CHECKPOINT on \"%s/%s\" after its promotion failed: %s", c->name, l->name, err);
	out->timeline = promote_timeline(c, l);
	/* Its other nodes cascade from it and follow its new timeline by themselves. */
	out->streaming = out->n_others > 0 ? count_streaming(a, c, l, out->n_others, STREAM_TIMEOUT_S) : 0;
	json_object_set_new(in->event, "new_primary", json_string(l->name));
	json_object_set_new(in->event, "switch_lsn",
			    json_string(lsn_format(out->switch_lsn, lsnbuf, sizeof lsnbuf)));
	json_object_set_new(in->event, "timeline", json_integer(out->timeline));
	json_object_set_new(in->event, "replicas_streaming", json_integer((json_int_t)out->streaming));
	journal(in, "end", "ok", NULL);
	/* A region failover now: its source is fenced when it returns. */
	region_detached_set(in->state_dir, c->name, NULL);
	return 0;
}

/* ---- the fence ----------------------------------------------------------------------- */

int region_fence_run(PgcExecCtx *ctx)
{
	PgcFenceOptions fo = {.graceful = true, .mark_standby = true};
	PgcFenceResult fr;

	const char *by = ctx->a->payload.upstream, *from;

	if (ctx->n == NULL)
		return exec_fail(ctx, "the fence of cluster \"%s\" is not an action to run: swap standby_of",
				 ctx->c->name);
	/* Detached here, not failed over: the source never went away. */
	if (by != NULL && (from = region_detached_from(ctx->arena, ctx->state_dir, by)) != NULL)
		return exec_fail(ctx,
				 "\"%s/%s\" is not fenced: cluster \"%s\" was detached from \"%s\" by an "
				 "apply here (%s), not promoted by a region failover, so \"%s\" never went "
				 "away; the two clusters have forked: remove standby_of from \"%s\" again, "
				 "or move its data directories aside to copy it again as a standby cluster",
				 ctx->c->name, ctx->n->name, by, from, REGION_RECORD_FILE, ctx->c->name, by);
	if (fence_node_on(ctx->host, ctx->c, ctx->n, &fo, &fr) != 0)
		return exec_note(ctx, "could not fence \"%s/%s\": %s", ctx->c->name, ctx->n->name, fr.detail);
	/* fence_node_on() logged what it did. */
	if (fr.method == FENCE_ALREADY_DOWN && !fr.marked_standby)
		ctx->nothing_to_do = true;
	return 0;
}
