/*
 * reconcile/postgres/plan_settings.c - the postgres planner's analysis of a
 * node (what exists, which parameters differ, which need a restart) and the
 * choice of the phase for ">= on standbys" parameters (plan_work.h).
 */
#include "reconcile/postgres/plan_postgres.h"
#include "reconcile/postgres/plan_work.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reconcile/pg/layout.h"
#include "schema/pgcatalog.h"

/* Parameters that must be at least as large on a standby as on its primary. */
static const char *const ge_params[] = {
	"max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
	"max_locks_per_transaction", NULL,
};

static bool is_ge_param(const char *name)
{
	size_t i;

	for (i = 0; ge_params[i] != NULL; i++)
		if (strcasecmp(name, ge_params[i]) == 0)
			return true;
	return false;
}

/* canon - the canonical text of a value (pgparam_normalize), or the value itself. */
static const char *canon(Ctx *x, const char *name, const char *value)
{
	const PgcParam *p;
	char out[4096], err[256];

	if (value == NULL)
		return NULL;
	p = pgcatalog_lookup(x->major, name);
	if (p == NULL || pgparam_normalize(p, value, out, sizeof out, err, sizeof err) != 0)
		return value;
	return arena_strdup(x->a, out);
}

/* show_setting - a pg_settings value the way SHOW prints it: 16384 (8kB) -> 128MB. */
static const char *show_setting(PgcArena *a, const PgcObsSetting *s)
{
	static const struct {
		const char *name;
		double size;
	} mem[] = {{"TB", 1099511627776.0}, {"GB", 1073741824.0}, {"MB", 1048576.0}, {"kB", 1024.0},
		   {"B", 1.0}},
	  tim[] = {{"d", 86400000000.0}, {"h", 3600000000.0}, {"min", 60000000.0}, {"s", 1000000.0},
		   {"ms", 1000.0}, {"us", 1.0}};
	const char *u = s->unit;
	double v, factor = 1.0, base;
	char *end;
	size_t i;

	if (s->setting == NULL || u == NULL || *u == '\0')
		return s->setting;
	v = strtod(s->setting, &end);
	if (end == s->setting || *end != '\0' || v <= 0 || v != floor(v))
		return s->setting;
	if (*u >= '0' && *u <= '9') {
		factor = strtod(u, &end);
		u = end;
	}
	for (i = 0; i < sizeof mem / sizeof mem[0]; i++) {
		if (strcmp(u, mem[i].name) != 0)
			continue;
		base = v * factor * mem[i].size;
		for (i = 0; i < sizeof mem / sizeof mem[0]; i++)
			if (fmod(base, mem[i].size) == 0)
				return arena_printf(a, "%.0f%s", base / mem[i].size, mem[i].name);
	}
	for (i = 0; i < sizeof tim / sizeof tim[0]; i++) {
		if (strcmp(u, tim[i].name) != 0)
			continue;
		base = v * factor * tim[i].size;
		for (i = 0; i < sizeof tim / sizeof tim[0]; i++)
			if (fmod(base, tim[i].size) == 0)
				return arena_printf(a, "%.0f%s", base / tim[i].size, tim[i].name);
	}
	return arena_printf(a, "%s%s", s->setting, s->unit);
}
/* ---- analysis ------------------------------------------------------------- */

static void add_delta(Ctx *x, NodeWork *nw, const Delta *d)
{
	nw->deltas = arena_grow(x->a, nw->deltas, nw->n_deltas, &nw->cap_deltas, 16,
				sizeof(*nw->deltas));
	nw->deltas[nw->n_deltas++] = *d;
}

bool plan_settings_needs_restart(Ctx *x, const char *name, const PgcObsSetting *row)
{
	const PgcParam *p = pgcatalog_lookup(x->major, name);

	if (p != NULL)
		return pgparam_needs_restart(p);
	/* Extension parameters are not in the catalog: trust the server. */
	return row != NULL && streq(row->context, "postmaster");
}

static NodeState node_state(const NodeWork *nw)
{
	const PgcObsNode *o = nw->o;

	if (o == NULL)
		return NS_SKIP;
	if (nw->remote)
		return o->reachable ? NS_RUNNING : NS_REMOTE_DOWN;
	/* pgconverge's own unfinished copy: the clone empties it and copies again. */
	if (o->clone_interrupted && !nw->primary && !nw->running && o->dir_state != DIR_UNKNOWN)
		return NS_NEW;
	switch (o->dir_state) {
	case DIR_ABSENT:
	case DIR_EMPTY:
		return nw->running ? NS_RUNNING : NS_NEW;
	case DIR_FOREIGN:
		return NS_FOREIGN;
	case DIR_INITIALIZED:
		if (nw->running)
			return NS_RUNNING;
		/* Started without standby.signal, a replica would be a second primary. */
		return nw->primary || o->standby_signal ? NS_DOWN : NS_NOT_STANDBY;
	case DIR_UNKNOWN:
		break;
	}
	return nw->running ? NS_RUNNING : NS_UNKNOWN;
}

/*
 * diff_settings - the parameters whose current value differs from the
 * desired one. The current value is the live one (pg_settings) when the
 * server answers, else the one in the managed file. A live value that the
 * server took from the unchanged managed file counts as equal even when it
 * reads differently (wal_buffers = -1 shows the computed size): no false
 * drift. Values set by ALTER SYSTEM are left to the reset action.
 */
static void diff_settings(Ctx *x, NodeWork *nw)
{
	const PgcObsNode *o = nw->o;
	PgcConfParam *file = NULL;
	size_t nf = 0, i, total;
	/* A new node's file, if any, is an unfinished copy's: not its own. */
	bool file_known = !nw->remote && o != NULL && o->managed_conf != NULL &&
			  nw->state != NS_NEW;
	/* A file written after the server last read its configuration (a run
	 * killed between the write and the reload) has not taken effect. */
	bool file_loaded = o == NULL || o->managed_conf_mtime <= 0 || o->conf_load_time <= 0 ||
			   o->managed_conf_mtime <= o->conf_load_time;

	if (file_known)
		nf = plan_conf_parse(x->a, o->managed_conf, &file);
	total = nw->n_want + nf;
	for (i = 0; i < total; i++) {
		const char *name = i < nw->n_want ? nw->want[i].name : file[i - nw->n_want].name;
		const char *w, *f, *wc, *fc;
		const PgcObsSetting *row = NULL;
		bool file_same;
		Delta d;

		if (i >= nw->n_want && conf_get(nw->want, nw->n_want, name) != NULL)
			continue; /* already compared */
		w = conf_get(nw->want, nw->n_want, name);
		f = file_known ? conf_get(file, nf, name) : NULL;
		wc = canon(x, name, w);
		fc = canon(x, name, f);
		file_same = file_known && streq(fc, wc);
		if (nw->reachable && o != NULL)
			row = find_setting(o, name);
		if (row != NULL && has_suffix(row->sourcefile, "/postgresql.auto.conf"))
			row = NULL;
		memset(&d, 0, sizeof d);
		d.key = name;
		d.to = w;
		d.canon_to = wc;
		if (row != NULL) {
			const char *rc = row->normalized ? row->normalized : row->setting;
			bool from_file = has_suffix(row->sourcefile, "/" PGC_MANAGED_CONF);
			bool same = wc ? streq(rc, wc) : !from_file;

			if (!same && file_same && from_file && !row->pending_restart && file_loaded)
				same = true;
			if (same)
				continue;
			d.from = show_setting(x->a, row);
			d.canon_from = rc;
		} else {
			if (nw->remote || file_same)
				continue;
			d.from = f;
			d.canon_from = fc;
		}
		d.restart = plan_settings_needs_restart(x, name, row);
		d.ge = is_ge_param(name);
		add_delta(x, nw, &d);
	}
}

/*
 * sync_deferred - true when synchronous_standby_names must wait: it is
 * switched on only once `count` of the node's standbys stream, because
 * switched on earlier every write (even creating the replication role the
 * standbys need) would wait for standbys that do not exist yet. Once live
 * it stays, even while standbys are down: that is the point of it.
 */
static bool sync_deferred(const Ctx *x, const NodeWork *nw)
{
	const PgcObsNode *o = nw->o;
	const PgcObsSetting *live;
	PgcConfParam *file;
	size_t i, streaming = 0, nf;

	if (x->pretend || o == NULL)
		return false;
	/*
	 * Switched on already by pgconverge: kept also while the server cannot
	 * be asked (down, or not answering), so that a primary that comes back
	 * never acknowledges a commit that no standby has.
	 */
	if (o->dir_state == DIR_INITIALIZED && !o->clone_interrupted && o->managed_conf != NULL) {
		const char *v;

		nf = plan_conf_parse(x->a, o->managed_conf, &file);
		v = conf_get(file, nf, "synchronous_standby_names");
		if (v != NULL && v[0] != '\0')
			return false;
	}
	live = find_setting(o, "synchronous_standby_names");
	if (live != NULL && live->setting != NULL && live->setting[0] != '\0')
		return false;
	for (i = 0; i < o->n_replicas; i++)
		if (streq(o->replicas[i].state, "streaming"))
			streaming++;
	return (long long)streaming < x->c->replication.synchronous.count.v;
}

bool plan_pending_restart(const PgcObsNode *o, const PgcObsSetting *s)
{
	/* recovery_target_* are read at start-up by archive recovery only. */
	if (!s->pending_restart)
		return false;
	return o->in_recovery || s->name == NULL || strncasecmp(s->name, "recovery_target", 15) != 0;
}

void plan_settings_analyze(Ctx *x, NodeWork *nw, const PgcConfParam *over, size_t n_over)
{
	const PgcObsNode *o = nw->o;
	size_t i, j;

	nw->n_deltas = 0;
	nw->n_want = plan_conf_params(x->a, x->c, nw->n, &nw->want);
	for (i = 0; i < n_over; i++)
		for (j = 0; j < nw->n_want; j++)
			if (strcasecmp(nw->want[j].name, over[i].name) == 0)
				nw->want[j].value = over[i].value;
	for (j = 0; j < nw->n_want; j++) {
		if (strcasecmp(nw->want[j].name, "synchronous_standby_names") != 0 ||
		    !sync_deferred(x, nw))
			continue;
		memmove(&nw->want[j], &nw->want[j + 1], (nw->n_want - j - 1) * sizeof(*nw->want));
		nw->n_want--;
		break;
	}
	nw->content = plan_conf_render(x->a, x->c, nw->n, nw->want, nw->n_want);
	if (x->hba == NULL)
		x->hba = plan_hba_conf(x->a, x->c, nw->n);
	nw->hba = x->hba;
	nw->state = node_state(nw);
	nw->need_config = nw->need_hba = false;
	nw->pending = NULL;
	nw->n_resets = 0;
	nw->has_ge = false;
	if (nw->state != NS_NEW && nw->state != NS_DOWN && nw->state != NS_RUNNING)
		return;
	diff_settings(x, nw);
	for (i = 0; i < nw->n_deltas; i++)
		nw->has_ge |= nw->deltas[i].ge;
	if (nw->remote) {
		nw->need_config = nw->n_deltas > 0;
	} else {
		nw->need_config = nw->state == NS_NEW || o->managed_conf == NULL ||
				  strcmp(o->managed_conf, nw->content) != 0 || !o->include_line;
		nw->need_hba = nw->state == NS_NEW || !streq(o->hba_conf, nw->hba);
	}
	if (nw->state != NS_RUNNING || !nw->reachable)
		return;
	for (i = 0; i < o->n_settings; i++)
		if (plan_pending_restart(o, &o->settings[i]))
			nw->pending = join_names(x->a, nw->pending, o->settings[i].name);
	nw->resets = arena_calloc(x->a, o->n_auto_conf + 1, sizeof(*nw->resets));
	for (i = 0; i < o->n_auto_conf; i++)
		if (conf_get(nw->want, nw->n_want, o->auto_conf[i].name) != NULL)
			nw->resets[nw->n_resets++] = &o->auto_conf[i];
}
/* ---- phases -------------------------------------------------------------------- */

/* ge_direction - +1 raise, -1 lower, 0 neither, for one delta of a >= parameter. */
static int ge_direction(Ctx *x, const Delta *d)
{
	const char *from = d->canon_from, *to = d->canon_to;
	const PgcParam *p = pgcatalog_lookup(x->major, d->key);
	char *end;
	double f, t;

	if (from == NULL && p != NULL)
		from = p->boot_val;
	if (from == NULL || to == NULL)
		return 0;
	f = strtod(from, &end);
	if (*end != '\0')
		return 0;
	t = strtod(to, &end);
	if (*end != '\0')
		return 0;
	return t > f ? 1 : t < f ? -1 : 0;
}

/*
 * raise_runs_now - a raise on the primary can follow the standbys'
 * restarts in this plan: restarts are allowed, and every standby that
 * restarts for it is on this machine (a remote one's restart is blocked).
 */
static bool raise_runs_now(Ctx *x)
{
	size_t i;

	if (!x->restart_ok)
		return false;
	for (i = 0; i < x->nw; i++)
		if (!x->w[i].primary && x->w[i].state == NS_RUNNING && x->w[i].has_ge &&
		    x->w[i].remote)
			return false;
	return true;
}

/*
 * reconcilable_now - the primary has more to do than its raise: another
 * parameter, pg_hba.conf or an ALTER SYSTEM reset, which need not wait for
 * the standbys' restarts.
 */
static bool reconcilable_now(Ctx *x, const NodeWork *nw)
{
	size_t i;

	if (nw->need_hba || nw->n_resets > 0)
		return true;
	for (i = 0; i < nw->n_deltas; i++)
		if (!nw->deltas[i].ge || ge_direction(x, &nw->deltas[i]) == 0)
			return true;
	return false;
}

/*
 * choose_phase - the order of a cluster's >=-on-standby changes. Both a
 * raise and a lower at once: the lowered values are kept for this run.
 * A raise whose standby restarts the policy blocks: the primary's raised
 * values are kept at their current value, so that the rest of its
 * configuration is written and loaded now instead of waiting behind those
 * restarts; its raise comes with the run that may restart the standbys.
 */
void plan_settings_phase(Ctx *x)
{
	bool raise = false, lower = false, hold_raise;
	size_t i, j;

	x->phase = NULL;
	x->phase_dir = 0;
	if (x->nw < 2)
		return;
	for (i = 0; i < x->nw; i++) {
		NodeWork *nw = &x->w[i];

		if (nw->state != NS_RUNNING && nw->state != NS_DOWN)
			continue;
		for (j = 0; j < nw->n_deltas; j++) {
			int dir = nw->deltas[j].ge ? ge_direction(x, &nw->deltas[j]) : 0;

			raise |= dir > 0;
			lower |= dir < 0;
		}
	}
	hold_raise = raise && !raise_runs_now(x);
	for (i = 0; i < x->nw && (lower || hold_raise); i++) {
		NodeWork *nw = &x->w[i];
		PgcConfParam *over;
		size_t n_over = 0;
		const char *lowered = NULL, *raised = NULL;
		bool hold_here;

		if (nw->state != NS_RUNNING && nw->state != NS_DOWN)
			continue;
		hold_here = hold_raise && nw->primary && nw->state == NS_RUNNING &&
			    reconcilable_now(x, nw);
		over = arena_calloc(x->a, nw->n_deltas + 1, sizeof(*over));
		for (j = 0; j < nw->n_deltas; j++) {
			const Delta *d = &nw->deltas[j];
			const PgcParam *p = pgcatalog_lookup(x->major, d->key);
			int dir = d->ge ? ge_direction(x, d) : 0;

			if (!(dir < 0 && raise) && !(dir > 0 && hold_here))
				continue;
			over[n_over].name = d->key;
			over[n_over].value = d->from ? d->from : p ? p->boot_val : NULL;
			if (over[n_over].value == NULL)
				continue;
			if (dir < 0)
				lowered = join_names(x->a, lowered, d->key);
			else
				raised = join_names(x->a, raised, d->key);
			n_over++;
		}
		if (n_over == 0)
			continue;
		plan_settings_analyze(x, nw, over, n_over);
		nw->held_back = NULL;
		if (lowered != NULL)
			nw->held_back = arena_printf(x->a, "lowering %s waits for the next run, once "
						     "the raise reached every standby", lowered);
		if (raised != NULL)
			nw->held_back = arena_printf(
			    x->a, "%s%sraising %s waits until every standby restarted with it, blocked for "
				  "now: %s",
			    nw->held_back ? nw->held_back : "", nw->held_back ? "; " : "", raised,
			    x->restart_ok ? "a standby on another machine cannot be restarted from here"
					  : x->restart_block);
	}
	x->phase_dir = raise ? 1 : lower ? -1 : 0;
	x->phase = raise ? PHASE_RAISE : lower ? PHASE_LOWER : NULL;
}
