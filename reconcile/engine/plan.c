/*
 * reconcile/engine/plan.c - the pure planner: (topology, observed, policy) -> an
 * ordered list of explained actions.
 *
 * Per cluster, nodes are visited in tree order (the primary, then its
 * replicas, then cascaded ones: an upstream always before the nodes that
 * stream from it). Each node is first analysed (what exists, what differs),
 * then actions are emitted in three steps:
 *
 *   1. per node in tree order: create (initdb, or slot + clone), passfile,
 *      config, hba, start; or, on a running node, reset-alter-system,
 *      config, hba, passfile, reload. The replication user is created right
 *      after the primary's actions, since clones log in as it.
 *   2. the restart chain: replicas one at a time in tree order (upstream
 *      before cascaded), each depending on the previous one, the primary
 *      last. When a ">= on standbys" parameter is raised, the primary's
 *      configuration waits until every standby restarted with the new
 *      value; when one is lowered, the primary goes first and the standbys'
 *      configuration waits for its restart. A plan that raises one such
 *      parameter and lowers another keeps the lowered values for this run
 *      and lowers them on the next, so that neither order is broken; a
 *      raise whose standby restarts are blocked keeps the primary's raised
 *      values, so that its other changes are not held back with it.
 *   3. on the primary: roles, memberships, databases, extensions.
 *   4. replicas that stream from nobody: a start (on a running server it
 *      waits until the replica streams), after every repair.
 *
 * Data directories that must not be started or touched: a replica's
 * initialized directory without standby.signal gets a blocked start (it
 * would run as a second primary); a replica's directory named by the clone
 * marker (observe_clone_marker_path) is pgconverge's own unfinished copy and
 * is planned like a new node: the clone empties it and copies again.
 *
 * Roles, databases and slots are planned from what the servers report. On
 * a new primary they are all created; on a primary that exists but is down
 * (or cannot be reached) they are planned on the next pass, once it is up.
 *
 * No I/O here: the clock comes in the policy, and everything a plan holds
 * is in its arena.
 */
#include "reconcile/pg/layout.h"
#include "reconcile/engine/plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "reconcile/engine/action.h"
#include "reconcile/engine/builder.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/backup/plan_backup.h"
#include "reconcile/ha/plan_ha.h"
#include "schema/pgcatalog.h"

/* Parameters that must be at least as large on a standby as on its primary. */
static const char *const ge_params[] = {
	"max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
	"max_locks_per_transaction", NULL,
};

#define PHASE_RAISE "raise-standbys-first"
#define PHASE_LOWER "lower-primary-first"

typedef enum {
	NS_SKIP,      /* not observed: nothing known, nothing planned */
	NS_NEW,       /* local, data directory absent or empty */
	NS_FOREIGN,   /* local, data directory holds something else */
	NS_DOWN,      /* local, initialized, no server */
	NS_NOT_STANDBY, /* local replica, initialized, no server, no standby.signal */
	NS_RUNNING,   /* a server answers (or its postmaster is alive) */
	NS_UNKNOWN,   /* local, data directory could not be inspected, no server */
	NS_REMOTE_DOWN, /* another machine, not reachable */
} NodeState;

/* One parameter difference, with canonical values for ordering decisions. */
typedef struct {
	const char *key, *from, *to;
	const char *canon_from, *canon_to;
	bool restart; /* postmaster context */
	bool ge;      /* in ge_params */
} Delta;

typedef struct {
	const PgcNode *n;
	const PgcObsNode *o;
	int depth;
	bool primary, remote, reachable, running;
	NodeState state;

	PgcConfParam *want;
	size_t n_want;
	const char *content, *hba;
	Delta *deltas;
	size_t n_deltas, cap_deltas;
	bool need_config, need_hba;
	const char *pending;           /* parameters waiting for a restart, or NULL */
	const PgcObsAutoConf **resets; /* ALTER SYSTEM values of managed parameters */
	size_t n_resets;
	const char *held_back;         /* why some parameters keep their value for now, or NULL */
	bool has_ge;                   /* a >=-on-standby parameter changes */

	/* Ids of the actions planned for the node, NULL when not planned. */
	const char *id_create, *id_config, *id_hba, *id_passfile, *id_start, *id_reload, *id_restart;
	const char **id_resets;
	/* After it the server runs (its start), or a blocked action that stops dependents. */
	const char *id_up;
	bool emitted;
} NodeWork;

typedef struct {
	PgcPlanBuilder *b;        /* appends to the plan */
	PgcArena *a;              /* the plan's */
	const PgcPolicy *policy;
	/* per cluster */
	const PgcCluster *c;
	NodeWork *w;
	size_t nw;
	NodeWork *pw; /* the primary's */
	int major;
	bool restart_ok;
	bool pretend;             /* the observed state is made up (plan --offline) */
	const char *restart_block;
	int phase_dir;            /* +1 raise, -1 lower, 0 no >= parameter changes */
	const char *phase;        /* its name, or NULL */
	const char *last_restart;
	const char *repl_role_id; /* create/alter of the replication user */
	const char **role_ids;    /* create-role id per declared role, or NULL */
	const char *hba;          /* the cluster's pg_hba.conf: the same for every node */
	const char **hba_rules;   /* its rule lines, split once (hba_changes) */
	size_t n_hba_rules;
	const char *hba_old;      /* the last observed pg_hba.conf split (offline: shared) */
	const char **hba_old_rules;
	size_t n_hba_old_rules;
	/* The last rule diff, shared by the nodes with the same old and new
	 * files (every new node: thousands of rules each). */
	const char *diff_old, *diff_new;
	PgcChange *diff;
	size_t n_diff;
} Ctx;

/* ---- small helpers -------------------------------------------------------- */

static bool streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t ls, lx;

	if (s == NULL)
		return false;
	ls = strlen(s);
	lx = strlen(suffix);
	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* quote_param_name - a parameter name for ALTER SYSTEM: each dotted part quoted. */
static const char *quote_param_name(PgcArena *a, const char *name)
{
	const char *dot = strchr(name, '.'), *head;

	if (dot == NULL)
		return pgsql_quote_ident(a, name);
	head = arena_strndup(a, name, (size_t)(dot - name));
	return arena_printf(a, "%s.%s", pgsql_quote_ident(a, head), quote_param_name(a, dot + 1));
}

static const char *secret_text(PgcArena *a, const PgcSecret *s)
{
	switch (s->kind) {
	case SECRET_ENV:
		return arena_printf(a, "{env: %s}", s->ref);
	case SECRET_FILE:
		return arena_printf(a, "{file: %s}", s->ref);
	case SECRET_NONE:
		break;
	}
	return NULL;
}

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

static const PgcObsSetting *find_setting(const PgcObsNode *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->n_settings; i++)
		if (o->settings[i].name != NULL && strcasecmp(o->settings[i].name, name) == 0)
			return &o->settings[i];
	return NULL;
}

static const PgcObsNode *find_obs(const PgcObserved *obs, const char *cluster, const char *node)
{
	size_t i, j;

	for (i = 0; obs != NULL && i < obs->n_clusters; i++) {
		if (!streq(obs->clusters[i].name, cluster))
			continue;
		for (j = 0; j < obs->clusters[i].n_nodes; j++)
			if (streq(obs->clusters[i].nodes[j].name, node))
				return &obs->clusters[i].nodes[j];
	}
	return NULL;
}

static const char *conf_get(const PgcConfParam *p, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(p[i].name, name) == 0)
			return p[i].value;
	return NULL;
}

static const char *join_names(PgcArena *a, const char *list, const char *name)
{
	return list ? arena_printf(a, "%s, %s", list, name) : name;
}

/* ---- emitting actions ----------------------------------------------------- */

static PgcAction *emit(Ctx *x, PgcActionKind kind, const NodeWork *nw, const char *target,
		       PgcImpact impact, const char *reason)
{
	PgcAction *act = builder_emit(x->b, kind, x->c->name, nw ? nw->n->name : NULL, target,
				      impact, reason);

	if (nw != NULL && nw->n->data_dir.v != NULL)
		act->payload.path = nw->n->data_dir.v;
	return act;
}

static const char *remote_reason(Ctx *x, const NodeWork *nw)
{
	return arena_printf(x->a,
			    "node's host \"%s\" is not this machine; pgconverge can only configure it "
			    "through SQL",
			    nw->n->host.v);
}

/*
 * fs_action - an action on the node's files or processes (ACTION_NEEDS_HOST
 * in the registry): blocked on other machines.
 */
static PgcAction *fs_action(Ctx *x, PgcActionKind kind, const NodeWork *nw, const char *target,
			    PgcImpact impact, const char *reason)
{
	PgcAction *act = emit(x, kind, nw, target, impact, reason);

	if (nw->remote && action_has(kind, ACTION_NEEDS_HOST))
		builder_block(act, remote_reason(x, nw));
	return act;
}

static void orphan(Ctx *x, const char *node, const char *kind, const char *name, const char *message)
{
	builder_orphan(x->b, x->c->name, node, kind, name, message);
}

/* ---- analysis ------------------------------------------------------------- */

static void add_delta(Ctx *x, NodeWork *nw, const Delta *d)
{
	if (nw->n_deltas == nw->cap_deltas) {
		size_t cap = nw->cap_deltas ? nw->cap_deltas * 2 : 16;
		Delta *items = arena_calloc(x->a, cap, sizeof(*items));

		if (nw->n_deltas)
			memcpy(items, nw->deltas, nw->n_deltas * sizeof(*items));
		nw->deltas = items;
		nw->cap_deltas = cap;
	}
	nw->deltas[nw->n_deltas++] = *d;
}

static bool param_needs_restart(Ctx *x, const char *name, const PgcObsSetting *row)
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
		d.restart = param_needs_restart(x, name, row);
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

static void analyze(Ctx *x, NodeWork *nw, const PgcConfParam *over, size_t n_over)
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

/* ---- actions per node ----------------------------------------------------- */

static bool deltas_need_restart(const NodeWork *nw)
{
	size_t i;

	for (i = 0; i < nw->n_deltas; i++)
		if (nw->deltas[i].restart)
			return true;
	return false;
}

static bool deltas_reloadable(const NodeWork *nw)
{
	size_t i;

	for (i = 0; i < nw->n_deltas; i++)
		if (!nw->deltas[i].restart)
			return true;
	return false;
}

static bool reset_needs_restart(Ctx *x, const NodeWork *nw, const PgcObsAutoConf *ac)
{
	return param_needs_restart(x, ac->name, find_setting(nw->o, ac->name));
}

static bool replica_has_password(Ctx *x, const NodeWork *nw)
{
	return !nw->primary && x->c->replication.password.kind != SECRET_NONE;
}

static const NodeWork *work_of(Ctx *x, const PgcNode *n)
{
	size_t i;

	for (i = 0; n != NULL && i < x->nw; i++)
		if (x->w[i].n == n)
			return &x->w[i];
	return NULL;
}

static void emit_config(Ctx *x, NodeWork *nw)
{
	PgcAction *act;
	PgcImpact impact = IMPACT_NONE;
	const char *reason;
	size_t i;

	if (!nw->need_config)
		return;
	if (nw->state == NS_RUNNING && nw->n_deltas > 0)
		impact = deltas_need_restart(nw) ? IMPACT_RESTART : IMPACT_RELOAD;
	if (nw->state == NS_NEW)
		reason = arena_printf(x->a, "write the managed configuration %s (%zu parameters)",
				      PGC_MANAGED_CONF, nw->n_want);
	else if (nw->n_deltas == 1)
		reason = arena_printf(x->a, "parameter %s differs from the topology", nw->deltas[0].key);
	else if (nw->n_deltas > 1)
		reason = arena_printf(x->a, "%zu parameters differ from the topology", nw->n_deltas);
	else if (!nw->remote && !nw->o->include_line)
		reason = arena_printf(x->a, "postgresql.conf does not include %s", PGC_MANAGED_CONF);
	else
		reason = arena_printf(x->a, "%s differs from the rendered topology", PGC_MANAGED_CONF);
	if (nw->state != NS_NEW && !nw->remote && !nw->o->include_line && nw->n_deltas > 0)
		reason = arena_printf(x->a, "%s; postgresql.conf does not include %s", reason,
				      PGC_MANAGED_CONF);
	if (nw->held_back != NULL)
		reason = arena_printf(x->a, "%s; %s", reason, nw->held_back);
	act = fs_action(x, ACT_WRITE_CONFIG, nw, NULL, impact, reason);
	act->payload.path = arena_printf(x->a, "%s/%s", nw->n->data_dir.v, PGC_MANAGED_CONF);
	act->payload.content = nw->content;
	if (nw->has_ge && x->phase != NULL)
		act->phase = x->phase;
	for (i = 0; i < nw->n_deltas; i++)
		builder_change(x->b, act, nw->deltas[i].key, nw->deltas[i].from, nw->deltas[i].to);
	builder_depend(x->b, act, nw->id_create);
	/* Raising: the primary's file waits for the standbys; lowering: the other way round. */
	if (x->phase != NULL && nw->has_ge && nw->state == NS_RUNNING) {
		if (x->phase_dir > 0 && nw->primary)
			builder_depend(x->b, act, x->last_restart);
		if (x->phase_dir < 0 && !nw->primary)
			builder_depend(x->b, act, x->pw ? x->pw->id_restart : NULL);
	}
	nw->id_config = act->id;
}

/* hba_rules - the rule lines of a pg_hba.conf: comments and blank lines dropped, spaces squeezed. */
static size_t hba_rules(PgcArena *a, const char *text, const char ***out)
{
	size_t n = 0, cap = 0;
	const char **lines = NULL;
	const char *p = text;

	while (p != NULL && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char *l = arena_alloc(a, len + 1), *o = l;
		size_t i;
		bool space = false;

		for (i = 0; i < len && p[i] != '#'; i++) {
			if (p[i] == ' ' || p[i] == '\t' || p[i] == '\r') {
				space = o != l;
				continue;
			}
			if (space)
				*o++ = ' ';
			space = false;
			*o++ = p[i];
		}
		*o = '\0';
		if (*l) {
			if (n == cap) {
				const char **nl = arena_calloc(a, cap ? cap * 2 : 16, sizeof(char *));

				if (n)
					memcpy(nl, lines, n * sizeof(char *));
				lines = nl;
				cap = cap ? cap * 2 : 16;
			}
			lines[n++] = l;
		}
		p = eol ? eol + 1 : NULL;
	}
	*out = lines;
	return n;
}

/*
 * hba_changes - removed and added rules (a longest-common-subsequence diff
 * of what differs between the common head and tail: an edit of a few
 * rules among thousands costs a small table, not rules x rules). The new
 * content is the cluster's, split once for all its nodes.
 */
static void hba_changes(Ctx *x, PgcAction *act, const char *old, const char *new)
{
	const char **a, **b;
	size_t na, nb, i, j, pre = 0, suf = 0, ma, mb;
	size_t *lcs;
	bool shareable = act->n_changes == 0; /* the list will hold the rules only */

	if (shareable && x->diff != NULL && old == x->diff_old && new == x->diff_new) {
		act->changes = x->diff;
		act->n_changes = x->n_diff;
		act->changes_shared = true;
		return;
	}
	if (old == NULL || old != x->hba_old) {
		x->hba_old = old;
		x->n_hba_old_rules = hba_rules(x->a, old, &x->hba_old_rules);
	}
	a = x->hba_old_rules;
	na = x->n_hba_old_rules;
	if (new == x->hba && x->hba_rules == NULL)
		x->n_hba_rules = hba_rules(x->a, new, &x->hba_rules);
	if (new == x->hba) {
		b = x->hba_rules;
		nb = x->n_hba_rules;
	} else {
		nb = hba_rules(x->a, new, &b);
	}
	while (pre < na && pre < nb && strcmp(a[pre], b[pre]) == 0)
		pre++;
	while (suf < na - pre && suf < nb - pre && strcmp(a[na - 1 - suf], b[nb - 1 - suf]) == 0)
		suf++;
	ma = na - pre - suf;
	mb = nb - pre - suf;
	lcs = arena_calloc(x->a, (ma + 1) * (mb + 1), sizeof(size_t));
#define A(i) a[pre + (i)]
#define B(j) b[pre + (j)]
#define L(i, j) lcs[(i) * (mb + 1) + (j)]
	for (i = ma; i-- > 0;)
		for (j = mb; j-- > 0;)
			L(i, j) = strcmp(A(i), B(j)) == 0 ? L(i + 1, j + 1) + 1
				  : L(i + 1, j) > L(i, j + 1) ? L(i + 1, j)
							      : L(i, j + 1);
	i = j = 0;
	while (i < ma || j < mb) {
		if (i < ma && j < mb && strcmp(A(i), B(j)) == 0) {
			i++;
			j++;
		} else if (j < mb && (i == ma || L(i, j + 1) >= L(i + 1, j))) {
			builder_change(x->b, act, "rule", NULL, B(j));
			j++;
		} else {
			builder_change(x->b, act, "rule", A(i), NULL);
			i++;
		}
	}
#undef L
#undef B
#undef A
	if (shareable) {
		x->diff_old = old;
		x->diff_new = new;
		x->diff = act->changes;
		x->n_diff = act->n_changes;
		act->changes_shared = true; /* others may borrow it: its next append copies */
	}
}

static void emit_hba(Ctx *x, NodeWork *nw)
{
	PgcAction *act;

	if (!nw->need_hba)
		return;
	act = fs_action(x, ACT_WRITE_HBA, nw, NULL,
			nw->state == NS_RUNNING ? IMPACT_RELOAD : IMPACT_NONE,
			nw->state == NS_NEW || nw->o->hba_conf == NULL
				? "write pg_hba.conf and pg_ident.conf from the topology"
				: "pg_hba.conf differs from the topology");
	act->payload.path = arena_printf(x->a, "%s/pg_hba.conf", nw->n->data_dir.v);
	act->payload.content = nw->hba;
	act->payload.ident = plan_ident_conf(x->a, x->c);
	hba_changes(x, act, nw->state == NS_NEW ? NULL : nw->o->hba_conf, nw->hba);
	builder_depend(x->b, act, nw->id_create);
	nw->id_hba = act->id;
}

/*
 * not_streaming - a running replica that streams from nobody: no WAL
 * receiver streaming on it and, when its upstream answers, no walsender
 * for it there either (both sides agree, so a replica observed a moment
 * before its upstream is not taken for broken). A WAL receiver that is
 * starting or waiting is reconnecting right now: not counted.
 */
static bool not_streaming(Ctx *x, const NodeWork *nw)
{
	const NodeWork *up = work_of(x, cluster_upstream(x->c, nw->n));

	if (nw->primary || up == NULL || nw->state != NS_RUNNING || !nw->reachable)
		return false;
	return !plan_replica_streams(nw->o, up->o, nw->n->name);
}

bool plan_replica_streams(const PgcObsNode *o, const PgcObsNode *up, const char *name)
{
	size_t i;

	if (o == NULL || !o->reachable || !o->in_recovery || o->recovery_signal)
		return true; /* not a standby that answers: nothing to say */
	if (o->wal_receiver_status != NULL && !streq(o->wal_receiver_status, "stopped"))
		return true; /* streaming, or (re)connecting this very moment */
	for (i = 0; up != NULL && up->reachable && i < up->n_replicas; i++)
		if (streq(up->replicas[i].application_name, name) &&
		    !streq(up->replicas[i].state, "stopping"))
			return true;
	return false;
}

/*
 * passfile_drift - what differs between the replica's passfile on disk
 * and the one the topology gives (upstream, user, password), as changes
 * on act (NULL: only tell). Only when observe read the file: a remote
 * node's, or one observe could not read, is not compared. The password is
 * compared by observe (PgcObsPassfile); the plan names the secret's
 * reference, never its value.
 */
static bool passfile_drift(Ctx *x, const NodeWork *nw, const PgcNode *up, PgcAction *act)
{
	const PgcObsPassfile *pf = nw->o ? &nw->o->passfile : NULL;
	const char *port, *have, *want;
	bool drift = false;

	if (pf == NULL || !pf->read || nw->remote ||
	    (nw->state != NS_RUNNING && nw->state != NS_DOWN))
		return false;
	port = arena_printf(x->a, "%lld", up->port.v);
	want = arena_printf(x->a, "%s:%s:*:%s", up->host.v, port, x->c->replication.user.v);
	have = pf->user == NULL ? NULL
				: arena_printf(x->a, "%s:%s:%s:%s", pf->host, pf->port, "*", pf->user);
	if (!streq(pf->host, up->host.v) || !streq(pf->port, port) ||
	    !streq(pf->user, x->c->replication.user.v)) {
		drift = true;
		if (act != NULL)
			builder_change(x->b, act, "entry", have, want);
	}
	if (pf->password == PASSFILE_PW_DIFFERS) {
		drift = true;
		if (act != NULL)
			builder_change(x->b, act, "password", pf->user == NULL ? NULL : "(another password)",
			       secret_text(x->a, &x->c->replication.password));
	}
	return drift;
}

/*
 * emit_passfile - the replica's password file, written when the replica is
 * cloned, when its primary_conninfo (which names the file) changes, and
 * when the file on disk is not the one the topology gives: another
 * password (replication.password changed: the replication role is altered
 * first, and a walreceiver already connected keeps its connection, so the
 * file only has to be right before the next reconnect), another upstream
 * or user, or no file.
 */
static void emit_passfile(Ctx *x, NodeWork *nw)
{
	const PgcNode *up = cluster_upstream(x->c, nw->n);
	const char *path = plan_passfile_path(x->a, nw->n->data_dir.v);
	const PgcObsPassfile *pf = nw->o ? &nw->o->passfile : NULL;
	PgcAction *act;
	bool conninfo = nw->state == NS_NEW, drift;
	const char *reason;
	size_t i;

	for (i = 0; i < nw->n_deltas; i++)
		conninfo |= strcasecmp(nw->deltas[i].key, "primary_conninfo") == 0;
	if (!replica_has_password(x, nw) || up == NULL)
		return;
	drift = nw->state != NS_NEW && passfile_drift(x, nw, up, NULL);
	if (!drift && (nw->id_config == NULL || !conninfo))
		return;
	if (!drift || conninfo)
		reason = arena_printf(x->a, "the replica reads the replication password for \"%s\" "
				      "from %s", up->name, path);
	else if (!pf->exists)
		reason = arena_printf(x->a, "the replication passfile %s is missing: replica \"%s\" "
				      "cannot log in to \"%s\"", path, nw->n->name, up->name);
	else if (not_streaming(x, nw))
		reason = arena_printf(x->a, "replica \"%s\" does not stream from \"%s\": its "
				      "passfile %s is not the topology's", nw->n->name, up->name, path);
	else
		reason = arena_printf(x->a, "the passfile %s is not the topology's: replica \"%s\" "
				      "keeps its current connection to \"%s\", but would fail to log "
				      "in at its next reconnect", path, nw->n->name, up->name);
	act = fs_action(x, ACT_WRITE_PASSFILE, nw, NULL, IMPACT_NONE, reason);
	act->payload.path = path;
	act->payload.target = x->c->replication.user.v;
	act->payload.upstream = up->name;
	act->payload.secret = x->c->replication.password;
	if (drift)
		passfile_drift(x, nw, up, act);
	builder_depend(x->b, act, nw->id_create);
	/* The role first: the new password works from the moment the file has it
	 * (a clone already waits for the role). */
	if (nw->state != NS_NEW)
		builder_depend(x->b, act, x->repl_role_id);
	nw->id_passfile = act->id;
}

/*
 * emit_stream_check - a running replica that streams from nobody, with no
 * restart planned (a restart waits for streaming itself): after what this
 * plan repairs (its passfile, configuration, slot, the role, its upstream),
 * apply checks that it streams again, waiting for its WAL receiver, which
 * reconnects on its own every wal_retrieve_retry_interval; a replica that
 * does not is reported with where to look. Carried by a start action: on a
 * running server, start only waits until the replica streams.
 */
static void emit_stream_check(Ctx *x, NodeWork *nw)
{
	const NodeWork *up = work_of(x, cluster_upstream(x->c, nw->n));
	PgcAction *act;

	if (nw->primary || nw->state != NS_RUNNING || up == NULL || nw->id_restart != NULL ||
	    nw->id_start != NULL || !not_streaming(x, nw))
		return;
	/* An upstream that does not answer and that this plan does not start is
	 * not the replica's fault, and waiting for it would hold up the loop
	 * (and with it the failover decision) for nothing. */
	if ((up->o == NULL || !up->reachable) && up->id_up == NULL)
		return;
	act = fs_action(x, ACT_START, nw, NULL, IMPACT_NONE,
			arena_printf(x->a, "replica \"%s\" runs but does not stream from \"%s\" (%s; "
				     "\"%s\" %s): check that it streams again, waiting for its WAL "
				     "receiver to reconnect",
				     nw->n->name, up->n->name,
				     nw->o->wal_receiver_status ? "its WAL receiver is stopped"
								: "no WAL receiver",
				     up->n->name,
				     up->o != NULL && up->reachable ? "has no walsender for it"
								    : "is started first"));
	builder_change(x->b, act, "streaming", "no", "yes");
	builder_depend(x->b, act, nw->id_passfile);
	builder_depend(x->b, act, nw->id_config);
	builder_depend(x->b, act, nw->id_reload);
	builder_depend(x->b, act, x->repl_role_id);
	builder_depend(x->b, act, up->id_up);
	builder_depend(x->b, act, up->id_reload);
	builder_depend(x->b, act, up->id_restart);
	nw->id_start = act->id;
}

static void emit_start(Ctx *x, NodeWork *nw, const char *reason)
{
	const NodeWork *up = work_of(x, cluster_upstream(x->c, nw->n));
	PgcAction *act = fs_action(x, ACT_START, nw, NULL, IMPACT_NONE, reason);

	builder_depend(x->b, act, nw->id_create);
	builder_depend(x->b, act, nw->id_config);
	builder_depend(x->b, act, nw->id_hba);
	builder_depend(x->b, act, nw->id_passfile);
	if (up != NULL)
		builder_depend(x->b, act, up->id_up);
	nw->id_start = nw->id_up = act->id;
}

/* slots_known - the slots on a node, when known: a new node has none. */
static bool slots_known(const NodeWork *up)
{
	return up->state == NS_NEW || (up->state == NS_RUNNING && up->reachable);
}

static bool has_slot(const NodeWork *up, const char *slot)
{
	size_t i;

	if (up->state == NS_NEW)
		return false;
	for (i = 0; i < up->o->n_slots; i++)
		if (streq(up->o->slots[i].slot_name, slot))
			return true;
	return false;
}

/* emit_slot - the replica's slot on its upstream, when missing; returns its id or NULL. */
static const char *emit_slot(Ctx *x, NodeWork *nw)
{
	const NodeWork *up = work_of(x, cluster_upstream(x->c, nw->n));
	const char *slot;
	PgcAction *act;

	if (!x->c->replication.slots.v || up == NULL)
		return NULL;
	slot = plan_slot_name(x->a, nw->n->name);
	if (slots_known(up) ? has_slot(up, slot) : nw->state != NS_NEW)
		return NULL;
	if (up->state == NS_FOREIGN || up->state == NS_NOT_STANDBY || up->state == NS_UNKNOWN ||
	    up->state == NS_REMOTE_DOWN || up->state == NS_SKIP)
		return NULL; /* the upstream's own blocked action says why */
	act = emit(x, ACT_CREATE_SLOT, up, slot, IMPACT_NONE,
		   arena_printf(x->a, "replica \"%s\" streams through physical slot \"%s\"%s",
				nw->n->name, slot,
				slots_known(up) ? "" : " (created unless it exists)"));
	act->payload.path = NULL;
	act->payload.target = slot;
	act->payload.sql = "SELECT pg_create_physical_replication_slot($1, true)";
	act->payload.params = arena_calloc(x->a, 1, sizeof(char *));
	act->payload.params[0] = slot;
	act->payload.n_params = 1;
	builder_depend(x->b, act, up->id_up);
	return act->id;
}

/* Argv - a program's arguments, built up in the plan's arena. */
typedef struct {
	const char **v;
	size_t n;
} Argv;

static void argv_add(PgcArena *a, Argv *av, const char *arg)
{
	const char **v = arena_calloc(a, av->n + 2, sizeof(char *));

	if (av->n)
		memcpy(v, av->v, av->n * sizeof(char *));
	v[av->n++] = arg;
	av->v = v;
}

static const char *dir_word(const NodeWork *nw)
{
	return nw->o->dir_state == DIR_EMPTY ? "empty" : "absent";
}

static void emit_new(Ctx *x, NodeWork *nw)
{
	const PgcCluster *c = x->c;
	const PgcNode *upn = cluster_upstream(c, nw->n);
	const NodeWork *up = work_of(x, upn);
	PgcAction *act;
	Argv av = {NULL, 0};

	if (nw->primary || up == NULL) {
		act = fs_action(x, ACT_INITDB, nw, NULL, IMPACT_NONE,
				arena_printf(x->a, "data directory \"%s\" is %s: create the primary "
					     "with initdb", nw->n->data_dir.v, dir_word(nw)));
		argv_add(x->a, &av, arena_printf(x->a, "%s/initdb", c->bin_dir.v));
		argv_add(x->a, &av, "-D");
		argv_add(x->a, &av, nw->n->data_dir.v);
		argv_add(x->a, &av, "-U");
		argv_add(x->a, &av, c->os_user.v);
		argv_add(x->a, &av, arena_printf(x->a, "--encoding=%s", c->initdb.encoding.v));
		argv_add(x->a, &av, arena_printf(x->a, "--locale=%s", c->initdb.locale.v));
		if (c->initdb.data_checksums.v)
			argv_add(x->a, &av, "--data-checksums");
	} else {
		const char *slot_id = emit_slot(x, nw);
		const char *slot = c->replication.slots.v ? plan_slot_name(x->a, nw->n->name) : NULL;

		act = fs_action(x, ACT_CLONE, nw, NULL, IMPACT_NONE,
				nw->o->clone_interrupted
				    ? arena_printf(x->a, "data directory \"%s\" holds a copy that an "
						   "interrupted run left unfinished: empty it and clone "
						   "the replica again from \"%s\" with pg_basebackup",
						   nw->n->data_dir.v, upn->name)
				    : arena_printf(x->a, "data directory \"%s\" is %s: clone the replica "
						   "from \"%s\" with pg_basebackup", nw->n->data_dir.v,
						   dir_word(nw), upn->name));
		argv_add(x->a, &av, arena_printf(x->a, "%s/pg_basebackup", c->bin_dir.v));
		argv_add(x->a, &av, "-D");
		argv_add(x->a, &av, nw->n->data_dir.v);
		argv_add(x->a, &av, "-h");
		argv_add(x->a, &av, upn->host.v);
		argv_add(x->a, &av, "-p");
		argv_add(x->a, &av, arena_printf(x->a, "%lld", upn->port.v));
		argv_add(x->a, &av, "-U");
		argv_add(x->a, &av, c->replication.user.v);
		argv_add(x->a, &av, "-X");
		argv_add(x->a, &av, "stream");
		argv_add(x->a, &av, "-c");
		argv_add(x->a, &av, "fast");
		if (slot != NULL) {
			argv_add(x->a, &av, "-S");
			argv_add(x->a, &av, slot);
		}
		argv_add(x->a, &av, "--no-password");
		act->payload.upstream = upn->name;
		act->payload.secret = c->replication.password;
		builder_depend(x->b, act, slot_id);
		builder_depend(x->b, act, up->id_up);
		if (up->id_up == NULL)
			builder_depend(x->b, act, up->id_reload); /* its new rules must be loaded */
		builder_depend(x->b, act, x->repl_role_id);
	}
	act->payload.params = av.v;
	act->payload.n_params = av.n;
	nw->id_create = act->id;
	if (act->blocked) {
		nw->id_up = act->id;
		return;
	}
	emit_config(x, nw);
	emit_passfile(x, nw);
	emit_hba(x, nw);
	emit_start(x, nw, nw->primary ? "start the new primary" : "start the new replica");
}

static void emit_blocked_node(Ctx *x, NodeWork *nw)
{
	PgcAction *act;
	const PgcObsNode *o = nw->o;

	switch (nw->state) {
	case NS_FOREIGN:
		act = emit(x, nw->primary ? ACT_INITDB : ACT_CLONE, nw, NULL, IMPACT_NONE,
			   nw->primary ? "create the primary's data directory with initdb"
				       : "clone the replica's data directory with pg_basebackup");
		builder_block(act, arena_printf(x->a,
					"data directory \"%s\" is not empty and not a PostgreSQL data "
					"directory; pgconverge never touches it: empty it or change "
					"data_dir",
					nw->n->data_dir.v));
		break;
	case NS_NOT_STANDBY:
		act = emit(x, ACT_START, nw, NULL, IMPACT_NONE, "the server is not running");
		builder_block(act, arena_printf(x->a,
					"data directory \"%s\" has no standby.signal: started, replica "
					"\"%s\" would run as a second primary; pgconverge never deletes a "
					"data directory: move it away to have the replica cloned again",
					nw->n->data_dir.v, nw->n->name));
		break;
	case NS_UNKNOWN:
		act = emit(x, ACT_START, nw, NULL, IMPACT_NONE, "the server is not running");
		builder_block(act, arena_printf(x->a, "data directory \"%s\" cannot be inspected: %s",
					nw->n->data_dir.v, o->dir_error ? o->dir_error : "unknown reason"));
		break;
	case NS_REMOTE_DOWN:
		act = emit(x, ACT_START, nw, NULL, IMPACT_NONE,
			   arena_printf(x->a, "the server does not answer: %s",
					o->conn_error ? o->conn_error : "no connection"));
		builder_block(act, remote_reason(x, nw));
		break;
	default:
		return;
	}
	nw->id_up = act->id;
}

static void emit_resets(Ctx *x, NodeWork *nw)
{
	size_t i;

	nw->id_resets = arena_calloc(x->a, nw->n_resets + 1, sizeof(char *));
	for (i = 0; i < nw->n_resets; i++) {
		const PgcObsAutoConf *ac = nw->resets[i];
		bool restart = reset_needs_restart(x, nw, ac);
		PgcAction *act = emit(x, ACT_RESET_AUTO_CONF, nw, ac->name,
				      restart ? IMPACT_RESTART : IMPACT_RELOAD,
				      arena_printf(x->a, "%s is set by ALTER SYSTEM, which overrides the "
						   "topology", ac->name));

		act->payload.path = NULL;
		act->payload.target = ac->name;
		act->payload.sql = arena_printf(x->a, "ALTER SYSTEM RESET %s",
						quote_param_name(x->a, ac->name));
		builder_change(x->b, act, ac->name, ac->value, conf_get(nw->want, nw->n_want, ac->name));
		nw->id_resets[i] = act->id;
	}
}

/* emit_running - the non-restart part of a running node's reconfiguration. */
static void emit_running(Ctx *x, NodeWork *nw)
{
	bool reload = false;
	size_t i;
	PgcAction *act;

	if (nw->emitted)
		return;
	nw->emitted = true;
	emit_resets(x, nw);
	emit_config(x, nw);
	emit_hba(x, nw);
	emit_passfile(x, nw);
	for (i = 0; i < nw->n_resets; i++)
		reload |= !reset_needs_restart(x, nw, nw->resets[i]);
	/* A restart the policy blocks is preceded by a reload: PostgreSQL then
	 * reports the change as pending_restart, so the restart is planned
	 * again on the next run instead of hiding behind the written file.
	 * Once, when the file is written: reloading again changes nothing, and
	 * apply would pass again and again over the same reload. */
	if (!nw->remote)
		reload |= deltas_reloadable(nw) || nw->need_hba ||
			  (nw->n_deltas > 0 && !x->restart_ok && nw->need_config);
	if (!reload)
		return;
	act = emit(x, ACT_RELOAD, nw, NULL, IMPACT_RELOAD,
		   deltas_reloadable(nw) || nw->need_hba || nw->n_resets > 0
		       ? "load the changed configuration"
		       : "load the changed configuration, so that PostgreSQL records the restart it needs");
	act->payload.sql = "SELECT pg_reload_conf()";
	for (i = 0; i < nw->n_deltas; i++)
		if (!nw->deltas[i].restart)
			builder_change(x->b, act, nw->deltas[i].key, nw->deltas[i].from, nw->deltas[i].to);
	if (nw->has_ge && x->phase != NULL)
		act->phase = x->phase;
	for (i = 0; i < nw->n_resets; i++)
		builder_depend(x->b, act, nw->id_resets[i]);
	builder_depend(x->b, act, nw->id_config);
	builder_depend(x->b, act, nw->id_hba);
	builder_depend(x->b, act, nw->id_passfile);
	nw->id_reload = act->id;
}

static bool needs_restart(Ctx *x, const NodeWork *nw)
{
	size_t i;

	if (nw->state != NS_RUNNING)
		return false;
	if (nw->pending != NULL)
		return true;
	for (i = 0; i < nw->n_resets; i++)
		if (reset_needs_restart(x, nw, nw->resets[i]))
			return true;
	/*
	 * On another machine too: the restart shows blocked, and the rolling
	 * chain (and a raise on the primary) waits behind it.
	 */
	return deltas_need_restart(nw);
}

static void emit_restart(Ctx *x, NodeWork *nw)
{
	const char *names = NULL, *reason;
	PgcAction *act;
	size_t i;

	if (!needs_restart(x, nw))
		return;
	for (i = 0; i < nw->n_deltas; i++)
		if (nw->deltas[i].restart)
			names = join_names(x->a, names, nw->deltas[i].key);
	for (i = 0; i < nw->n_resets; i++)
		if (reset_needs_restart(x, nw, nw->resets[i]))
			names = join_names(x->a, names, nw->resets[i]->name);
	if (names != NULL && nw->pending != NULL)
		reason = arena_printf(x->a, "%s take effect at a restart; waiting already: %s", names,
				      nw->pending);
	else if (names != NULL)
		reason = arena_printf(x->a, "%s take%s effect at a restart", names,
				      strchr(names, ',') ? "" : "s");
	else
		reason = arena_printf(x->a, "changes wait for a restart (pending_restart): %s",
				      nw->pending);
	act = fs_action(x, ACT_RESTART, nw, NULL, IMPACT_RESTART, reason);
	for (i = 0; i < nw->n_deltas; i++)
		if (nw->deltas[i].restart)
			builder_change(x->b, act, nw->deltas[i].key, nw->deltas[i].from, nw->deltas[i].to);
	if (nw->has_ge && x->phase != NULL)
		act->phase = x->phase;
	builder_depend(x->b, act, x->last_restart);
	for (i = 0; i < nw->n_resets; i++)
		builder_depend(x->b, act, nw->id_resets[i]);
	builder_depend(x->b, act, nw->id_config);
	builder_depend(x->b, act, nw->id_passfile);
	if (!x->restart_ok)
		builder_block(act, x->restart_block);
	nw->id_restart = act->id;
	x->last_restart = act->id;
}

/* ---- roles and databases --------------------------------------------------- */

typedef struct {
	const char *name;
	bool login, superuser, createdb, createrole, replication, bypassrls;
	long long connection_limit;
	PgcSecret password;
	const PgcStrList *member_of;
} RoleSpec;

static RoleSpec role_spec(const PgcRole *r)
{
	RoleSpec s;

	memset(&s, 0, sizeof s);
	s.name = r->name;
	s.login = r->login.v;
	s.superuser = r->superuser.v;
	s.createdb = r->createdb.v;
	s.createrole = r->createrole.v;
	s.replication = r->replication.v;
	s.bypassrls = r->bypassrls.v;
	s.connection_limit = r->connection_limit.set ? r->connection_limit.v : -1;
	s.password = r->password;
	s.member_of = &r->member_of;
	return s;
}

static const PgcObsRole *find_role(const NodeWork *pw, const char *name)
{
	size_t i;

	if (pw->state != NS_RUNNING)
		return NULL;
	for (i = 0; i < pw->o->n_roles; i++)
		if (streq(pw->o->roles[i].name, name))
			return &pw->o->roles[i];
	return NULL;
}

/* role_create_sql - CREATE ROLE with every attribute spelled out. */
static const char *role_create_sql(Ctx *x, const RoleSpec *s, bool password)
{
	/* Complete, because apply turns it into ALTER ROLE when a run stopped after the CREATE. */
	return arena_printf(x->a,
			    "CREATE ROLE %s WITH %sLOGIN %sSUPERUSER %sCREATEDB %sCREATEROLE "
			    "%sREPLICATION %sBYPASSRLS CONNECTION LIMIT %lld%s",
			    pgsql_quote_ident(x->a, s->name), s->login ? "" : "NO",
			    s->superuser ? "" : "NO", s->createdb ? "" : "NO", s->createrole ? "" : "NO",
			    s->replication ? "" : "NO", s->bypassrls ? "" : "NO", s->connection_limit,
			    password ? " PASSWORD $1" : "");
}

/*
 * role_alter - the ALTER ROLE statement for the attributes that differ
 * (their changes added to *ch), or NULL when none does.
 */
static const char *role_alter(Ctx *x, const RoleSpec *s, const PgcObsRole *o, PgcChange *ch,
			      size_t *nch)
{
	const struct {
		const char *word, *key;
		bool have, want;
	} flags[] = {
		{"LOGIN", "login", o->login, s->login},
		{"SUPERUSER", "superuser", o->superuser, s->superuser},
		{"CREATEDB", "createdb", o->createdb, s->createdb},
		{"CREATEROLE", "createrole", o->createrole, s->createrole},
		{"REPLICATION", "replication", o->replication, s->replication},
		{"BYPASSRLS", "bypassrls", o->bypassrls, s->bypassrls},
	};
	const char *opts = "";
	size_t i;

	*nch = 0;
	for (i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		if (flags[i].have == flags[i].want)
			continue;
		opts = arena_printf(x->a, "%s %s%s", opts, flags[i].want ? "" : "NO", flags[i].word);
		ch[*nch] = (PgcChange){flags[i].key, flags[i].have ? "on" : "off",
				       flags[i].want ? "on" : "off"};
		(*nch)++;
	}
	if (o->connection_limit != s->connection_limit) {
		opts = arena_printf(x->a, "%s CONNECTION LIMIT %lld", opts, s->connection_limit);
		ch[*nch] = (PgcChange){"connection_limit", arena_printf(x->a, "%d", o->connection_limit),
				       arena_printf(x->a, "%lld", s->connection_limit)};
		(*nch)++;
	}
	/* password_matches: 0 differs, -1 unknown (then only a missing password counts). */
	if (s->password.kind != SECRET_NONE && (o->password_matches == 0 || !o->has_password)) {
		opts = arena_printf(x->a, "%s PASSWORD $1", opts);
		ch[*nch] = (PgcChange){"password", o->has_password ? "(another password)" : NULL,
				       secret_text(x->a, &s->password)};
		(*nch)++;
	}
	if (*nch == 0)
		return NULL;
	return arena_printf(x->a, "ALTER ROLE %s WITH%s", pgsql_quote_ident(x->a, s->name), opts);
}

/* emit_role - create-role or alter-role for spec; returns the action id or NULL. */
static const char *emit_role(Ctx *x, const RoleSpec *s, const char *why)
{
	NodeWork *pw = x->pw;
	const PgcObsRole *o = find_role(pw, s->name);
	bool password = s->password.kind != SECRET_NONE;
	PgcChange ch[8];
	size_t nch = 0, i;
	const char *sql;
	PgcAction *act;

	if (o == NULL) {
		sql = role_create_sql(x, s, password);
		act = emit(x, ACT_CREATE_ROLE, pw, s->name, IMPACT_NONE,
			   arena_printf(x->a, "role \"%s\" does not exist%s", s->name, why ? why : ""));
		if (password)
			builder_change(x->b, act, "password", NULL, secret_text(x->a, &s->password));
	} else {
		sql = role_alter(x, s, o, ch, &nch);
		if (sql == NULL)
			return NULL;
		act = emit(x, ACT_ALTER_ROLE, pw, s->name, IMPACT_NONE,
			   arena_printf(x->a, "role \"%s\" differs from the topology", s->name));
		for (i = 0; i < nch; i++)
			builder_change(x->b, act, ch[i].key, ch[i].from, ch[i].to);
	}
	act->payload.path = NULL;
	act->payload.target = s->name;
	act->payload.sql = sql;
	if (has_suffix(sql, " PASSWORD $1"))
		act->payload.secret = s->password;
	builder_depend(x->b, act, pw->id_up);
	return act->id;
}

/*
 * roles_known - true when the primary's roles and databases are known: it
 * answers, or it is created (and started) by this plan with nothing in it.
 */
static bool roles_known(const Ctx *x)
{
	const NodeWork *pw = x->pw;

	if (pw == NULL)
		return false;
	if (pw->state == NS_NEW)
		return pw->id_start != NULL && !pw->remote;
	return pw->state == NS_RUNNING && pw->reachable;
}

static const PgcRole *declared_role(const PgcCluster *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_roles; i++)
		if (strcmp(c->roles[i].name, name) == 0)
			return &c->roles[i];
	return NULL;
}

/* repl_spec - the replication user: as declared (if it is), always LOGIN REPLICATION. */
static RoleSpec repl_spec(const PgcCluster *c)
{
	const PgcRole *r = declared_role(c, c->replication.user.v);
	RoleSpec s;

	if (r != NULL) {
		s = role_spec(r);
	} else {
		memset(&s, 0, sizeof s);
		s.name = c->replication.user.v;
		s.connection_limit = -1;
	}
	s.login = true;
	if (!s.superuser)
		s.replication = true;
	if (c->replication.password.kind != SECRET_NONE)
		s.password = c->replication.password;
	return s;
}

static bool has_replicas(const PgcCluster *c)
{
	return c->n_nodes > 1;
}

static void emit_repl_role(Ctx *x)
{
	RoleSpec s;

	if (!has_replicas(x->c) || !roles_known(x) || x->c->replication.user.v == NULL)
		return;
	s = repl_spec(x->c);
	x->repl_role_id = emit_role(x, &s, ": replicas connect as it");
}

static const char *role_id(Ctx *x, const char *name)
{
	size_t i;

	if (has_replicas(x->c) && streq(name, x->c->replication.user.v))
		return x->repl_role_id;
	for (i = 0; i < x->c->n_roles; i++)
		if (strcmp(x->c->roles[i].name, name) == 0)
			return x->role_ids[i];
	return NULL;
}

static bool is_member(const PgcObsRole *o, const char *group)
{
	size_t i;

	for (i = 0; o != NULL && i < o->n_member_of; i++)
		if (streq(o->member_of[i], group))
			return true;
	return false;
}

static const PgcObsDatabase *find_db(const NodeWork *pw, const char *name)
{
	size_t i;

	if (pw->state != NS_RUNNING)
		return NULL;
	for (i = 0; i < pw->o->n_databases; i++)
		if (streq(pw->o->databases[i].name, name))
			return &pw->o->databases[i];
	return NULL;
}

static bool db_has_ext(const PgcObsDatabase *d, const char *ext)
{
	size_t i;

	for (i = 0; d != NULL && i < d->n_extensions; i++)
		if (streq(d->extensions[i], ext))
			return true;
	return false;
}

static void emit_roles_and_databases(Ctx *x)
{
	const PgcCluster *c = x->c;
	NodeWork *pw = x->pw;
	const char *os_user = c->os_user.v ? c->os_user.v : "postgres";
	size_t i, j;

	if (!roles_known(x))
		return;
	x->role_ids = arena_calloc(x->a, c->n_roles + 1, sizeof(char *));
	for (i = 0; i < c->n_roles; i++) {
		RoleSpec s;

		if (strcmp(c->roles[i].name, os_user) == 0)
			continue; /* the bootstrap superuser is initdb's */
		if (has_replicas(c) && streq(c->roles[i].name, c->replication.user.v))
			continue; /* done before the clones */
		s = role_spec(&c->roles[i]);
		x->role_ids[i] = emit_role(x, &s, NULL);
	}
	for (i = 0; i < c->n_roles; i++) {
		const PgcRole *r = &c->roles[i];
		const PgcObsRole *o = find_role(pw, r->name);

		for (j = 0; j < r->member_of.n; j++) {
			const char *g = r->member_of.items[j].v;
			PgcAction *act;

			if (is_member(o, g))
				continue;
			act = emit(x, ACT_GRANT_ROLE, pw, arena_printf(x->a, "%s>%s", g, r->name),
				   IMPACT_NONE,
				   arena_printf(x->a, "role \"%s\" is not a member of \"%s\"", r->name, g));
			act->payload.path = NULL;
			act->payload.target = r->name;
			act->payload.sql = arena_printf(x->a, "GRANT %s TO %s",
							pgsql_quote_ident(x->a, g),
							pgsql_quote_ident(x->a, r->name));
			builder_change(x->b, act, "member_of", NULL, g);
			builder_depend(x->b, act, pw->id_up);
			builder_depend(x->b, act, role_id(x, r->name));
			builder_depend(x->b, act, role_id(x, g));
		}
	}
	for (i = 0; i < c->n_databases; i++) {
		const PgcDatabase *d = &c->databases[i];
		const PgcObsDatabase *o = find_db(pw, d->name);
		/* "postgres" names the bootstrap superuser, whatever os_user calls it. */
		const char *owner = d->owner.v == NULL || strcmp(d->owner.v, "postgres") == 0
					    ? os_user
					    : d->owner.v;
		const char *db_id = NULL;
		PgcAction *act;

		if (o == NULL) {
			act = emit(x, ACT_CREATE_DATABASE, pw, d->name, IMPACT_NONE,
				   arena_printf(x->a, "database \"%s\" does not exist", d->name));
			act->payload.sql = arena_printf(x->a, "CREATE DATABASE %s OWNER %s",
							pgsql_quote_ident(x->a, d->name),
							pgsql_quote_ident(x->a, owner));
			builder_change(x->b, act, "owner", NULL, owner);
		} else if (!streq(o->owner, owner)) {
			act = emit(x, ACT_ALTER_DATABASE, pw, d->name, IMPACT_NONE,
				   arena_printf(x->a, "database \"%s\" is owned by \"%s\"", d->name,
						o->owner ? o->owner : "?"));
			act->payload.sql = arena_printf(x->a, "ALTER DATABASE %s OWNER TO %s",
							pgsql_quote_ident(x->a, d->name),
							pgsql_quote_ident(x->a, owner));
			builder_change(x->b, act, "owner", o->owner, owner);
		} else {
			act = NULL;
		}
		if (act != NULL) {
			act->payload.path = NULL;
			act->payload.target = d->name;
			builder_depend(x->b, act, pw->id_up);
			builder_depend(x->b, act, role_id(x, owner));
			if (act->kind == ACT_CREATE_DATABASE)
				db_id = act->id;
		}
		for (j = 0; j < d->extensions.n; j++) {
			const char *e = d->extensions.items[j].v;

			if (db_has_ext(o, e))
				continue;
			act = emit(x, ACT_CREATE_EXTENSION, pw, arena_printf(x->a, "%s.%s", d->name, e),
				   IMPACT_NONE,
				   arena_printf(x->a, "extension \"%s\" is not installed in database "
						"\"%s\"", e, d->name));
			act->payload.path = NULL;
			act->payload.target = e;
			act->payload.database = d->name;
			act->payload.sql = arena_printf(x->a, "CREATE EXTENSION IF NOT EXISTS %s",
							pgsql_quote_ident(x->a, e));
			builder_change(x->b, act, "extensions", NULL, e);
			builder_depend(x->b, act, pw->id_up);
			builder_depend(x->b, act, db_id);
		}
	}
}

/* ---- orphans ------------------------------------------------------------------ */

/* repoints - the plan rewrites the node's upstream or slot settings. */
static bool repoints(const NodeWork *kw)
{
	if (kw->id_config == NULL)
		return false;
	for (size_t i = 0; i < kw->n_deltas; i++)
		if (streq(kw->deltas[i].key, "primary_conninfo") ||
		    streq(kw->deltas[i].key, "primary_slot_name"))
			return true;
	return false;
}

/*
 * gone_elsewhere - the replica is seen streaming without this slot: from a
 * node other than up, or from up with another primary_slot_name (none).
 */
static bool gone_elsewhere(const NodeWork *kw, const NodeWork *up, const char *slot)
{
	const PgcObsNode *o = kw->o;
	const PgcObsSetting *s;

	if (o == NULL || !o->reachable || !o->in_recovery ||
	    !streq(o->wal_receiver_status, "streaming") || o->upstream_port <= 0)
		return false;
	if (o->upstream_port != (int)up->n->port.v ||
	    (o->upstream_host != NULL && up->n->host.v != NULL &&
	     !streq(o->upstream_host, up->n->host.v)))
		return true;
	s = find_setting(o, "primary_slot_name");
	return s != NULL && !streq(s->setting, slot);
}

/*
 * emit_stale_slot - a physical slot on nw named after replica kw that does
 * not stream through it any more (re-pointed, or slots turned off): it
 * would hold WAL back on nw for ever. Dropped when this plan re-points kw
 * (after that) or kw is seen streaming without it; dropped once unused (in
 * use while kw switches over: the drop waits for it).
 * false when the slot is not for dropping (then it is reported as an orphan).
 */
static bool emit_stale_slot(Ctx *x, const NodeWork *nw, const PgcObsSlot *s)
{
	const NodeWork *kw = NULL;
	PgcAction *act;

	if (!streq(s->slot_type, "physical"))
		return false;
	for (size_t k = 0; k < x->nw && kw == NULL; k++)
		if (streq(s->slot_name, plan_slot_name(x->a, x->w[k].n->name)))
			kw = &x->w[k];
	/* Only on evidence that the replica lets go of it: a down or unseen
	 * replica still points at it and needs it when it comes back. */
	if (kw == NULL || (!repoints(kw) && !gone_elsewhere(kw, nw, s->slot_name)))
		return false;
	act = emit(x, ACT_DROP_SLOT, nw, s->slot_name, IMPACT_NONE,
		   arena_printf(x->a,
				"physical slot \"%s\" on \"%s\" is named after replica \"%s\", "
				"which %s: unused, it would hold WAL back on \"%s\" for ever",
				s->slot_name, nw->n->name, kw->n->name,
				!x->c->replication.slots.v ? "streams without a slot now (replication.slots "
							     "is false)"
				: kw == nw			   ? "is this node"
							   : "does not stream from it any more",
				nw->n->name));
	act->payload.path = NULL;
	act->payload.target = s->slot_name;
	builder_change(x->b, act, arena_printf(x->a, "slot \"%s\"", s->slot_name),
	       s->active ? "in use (the replica is switching over)" : "unused", NULL);
	builder_depend(x->b, act, kw->id_config);
	builder_depend(x->b, act, kw->id_reload);
	builder_depend(x->b, act, kw->id_restart);
	builder_depend(x->b, act, kw->id_start);
	return true;
}

static void find_orphans(Ctx *x)
{
	const PgcCluster *c = x->c;
	const NodeWork *pw = x->pw;
	const char *os_user = c->os_user.v ? c->os_user.v : "postgres";
	size_t i, j, k;

	if (pw != NULL && pw->state == NS_RUNNING && pw->reachable) {
		for (i = 0; i < pw->o->n_roles; i++) {
			const char *name = pw->o->roles[i].name;

			if (name == NULL || strncmp(name, "pg_", 3) == 0 || strcmp(name, os_user) == 0 ||
			    streq(name, c->replication.user.v) || declared_role(c, name) != NULL)
				continue;
			orphan(x, pw->n->name, "role", name,
			       arena_printf(x->a, "role \"%s\" exists but is not in the topology; "
					    "pgconverge leaves it in place", name));
		}
		for (i = 0; i < pw->o->n_databases; i++) {
			const char *name = pw->o->databases[i].name;
			bool declared = false;

			if (name == NULL || strcmp(name, "postgres") == 0 ||
			    strcmp(name, "template0") == 0 || strcmp(name, "template1") == 0)
				continue;
			for (j = 0; j < c->n_databases; j++)
				declared |= strcmp(c->databases[j].name, name) == 0;
			if (!declared)
				orphan(x, pw->n->name, "database", name,
				       arena_printf(x->a, "database \"%s\" exists but is not in the "
						    "topology; pgconverge leaves it in place", name));
		}
	}
	for (i = 0; i < x->nw; i++) {
		const NodeWork *nw = &x->w[i];

		if (nw->state != NS_RUNNING || !nw->reachable)
			continue;
		for (j = 0; j < nw->o->n_slots; j++) {
			const PgcObsSlot *s = &nw->o->slots[j];
			bool expected = false;

			for (k = 0; k < c->n_nodes && c->replication.slots.v; k++) {
				const PgcNode *up = cluster_upstream(c, &c->nodes[k]);

				if (up == nw->n && streq(s->slot_name, plan_slot_name(x->a, c->nodes[k].name)))
					expected = true;
			}
			if (!expected && s->slot_name != NULL && !emit_stale_slot(x, nw, s))
				orphan(x, nw->n->name, "slot", s->slot_name,
				       arena_printf(x->a, "%s replication slot \"%s\" on \"%s\" serves no "
						    "replica of the topology; it holds WAL back until "
						    "it is dropped",
						    s->slot_type ? s->slot_type : "replication",
						    s->slot_name, nw->n->name));
		}
		for (j = 0; j < nw->o->n_auto_conf; j++) {
			const PgcObsAutoConf *ac = &nw->o->auto_conf[j];

			if (ac->name == NULL || conf_get(nw->want, nw->n_want, ac->name) != NULL)
				continue;
			orphan(x, nw->n->name, "alter-system", ac->name,
			       arena_printf(x->a, "%s = '%s' is set by ALTER SYSTEM "
					    "(postgresql.auto.conf); pgconverge leaves it in place",
					    ac->name, ac->value ? ac->value : ""));
		}
	}
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
static void choose_phase(Ctx *x)
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
		analyze(x, nw, over, n_over);
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

/* ---- the cluster --------------------------------------------------------------- */

static int node_depth(const PgcCluster *c, const PgcNode *n)
{
	int d = 0;

	while (n != NULL && d <= (int)c->n_nodes) {
		const PgcNode *up = cluster_upstream(c, n);

		if (up == NULL || up == n)
			return d;
		n = up;
		d++;
	}
	return (int)c->n_nodes + 1; /* a cycle: validation refuses it */
}

static const char *restart_block_reason(Ctx *x)
{
	const PgcMaintenance *m = &x->c->maintenance;

	if (m->restart == RESTART_WINDOW && m->window.v != NULL)
		return arena_printf(x->a, "outside the maintenance window \"%s\"; run with "
				    "--allow-restart to restart now, or apply during the window",
				    m->window.v);
	return arena_printf(x->a, "restarts need --allow-restart (cluster \"%s\" has "
			    "maintenance.restart: never)", x->c->name);
}

static PgcObsNode *offline_node(Ctx *x, const PgcNode *n)
{
	PgcObsNode *o = arena_calloc(x->a, 1, sizeof(*o));

	o->name = n->name;
	o->cluster = x->c->name;
	o->local = true;
	o->dir_state = DIR_ABSENT;
	return o;
}

static void plan_cluster(Ctx *x, const PgcCluster *c, const PgcObserved *obs)
{
	size_t *order, i, j, k;
	bool new_restore;
	PgcHaPlan ha;

	/* ---- the live primary, switchover, rejoin: reconcile/ha/plan_ha.c ---- */
	plan_ha_cluster(x->b, c, obs, x->policy, &ha);
	if (ha.owned)
		return;
	c = ha.live; /* planned from the primary that runs, not only the file's */
	/* ---- */

	x->c = c;
	x->major = (int)c->pg_version.v;
	x->nw = c->n_nodes;
	x->w = arena_calloc(x->a, c->n_nodes + 1, sizeof(NodeWork));
	x->pw = NULL;
	x->phase = NULL;
	x->phase_dir = 0;
	x->last_restart = NULL;
	x->repl_role_id = NULL;
	x->role_ids = NULL;
	x->hba = NULL;
	x->hba_rules = NULL;
	x->hba_old = NULL;
	x->diff = NULL;
	x->restart_ok = x->policy->allow_restart || maintenance_window_open(&c->maintenance,
									     x->policy->now);
	x->restart_block = x->restart_ok ? NULL : restart_block_reason(x);

	for (i = 0; i < c->n_nodes; i++) {
		NodeWork *nw = &x->w[i];

		nw->n = &c->nodes[i];
		nw->o = obs ? find_obs(obs, c->name, c->nodes[i].name) : offline_node(x, &c->nodes[i]);
		if (plan_ha_holds(&ha, c->nodes[i].name))
			nw->o = NULL; /* an HA action of this pass takes care of it */
		nw->primary = c->primary.v != NULL && strcmp(c->primary.v, c->nodes[i].name) == 0;
		nw->depth = node_depth(c, nw->n);
		if (nw->o != NULL) {
			nw->remote = !nw->o->local;
			nw->reachable = nw->o->reachable;
			nw->running = nw->o->reachable || nw->o->postmaster_alive;
		}
		analyze(x, nw, NULL, 0);
		if (nw->primary)
			x->pw = nw;
	}
	if (x->pw == NULL)
		return; /* no primary: validation refuses that */

	/* ---- backups, retention, drills and restores: reconcile/backup/plan_backup.c ---- */
	if (plan_backup_cluster(x->b, c, obs, x->policy))
		return; /* being restored: the rest waits until it is promoted */
	/* ---- */

	/* A cluster restored from a backup is created by the restore, not by initdb. */
	new_restore = c->bootstrap.set && x->pw->state == NS_NEW;
	if (new_restore)
		return;

	choose_phase(x);

	/* Tree order: by depth, then as written. */
	order = arena_calloc(x->a, c->n_nodes + 1, sizeof(size_t));
	for (i = 0; i < c->n_nodes; i++)
		order[i] = i;
	for (i = 1; i < c->n_nodes; i++)
		for (j = i; j > 0 && x->w[order[j - 1]].depth > x->w[order[j]].depth; j--) {
			k = order[j];
			order[j] = order[j - 1];
			order[j - 1] = k;
		}

	/* 1. create, configure and start, node by node. */
	for (k = 0; k < c->n_nodes; k++) {
		NodeWork *nw = &x->w[order[k]];

		switch (nw->state) {
		case NS_SKIP:
			break;
		case NS_NEW:
			emit_new(x, nw);
			break;
		case NS_DOWN:
			emit_config(x, nw);
			emit_passfile(x, nw);
			emit_hba(x, nw);
			emit_start(x, nw, "the server is not running");
			break;
		case NS_RUNNING:
			if (!nw->primary)
				emit_slot(x, nw);
			if (x->phase_dir > 0 && nw->primary && nw->has_ge)
				break; /* after the standbys' restarts */
			if (x->phase_dir < 0 && !nw->primary && nw->has_ge)
				break; /* after the primary's restart */
			emit_running(x, nw);
			break;
		case NS_FOREIGN:
		case NS_NOT_STANDBY:
		case NS_UNKNOWN:
		case NS_REMOTE_DOWN:
			emit_blocked_node(x, nw);
			break;
		}
		if (nw->primary)
			emit_repl_role(x);
	}

	/* 2. restarts, one node at a time. */
	if (x->phase_dir < 0) {
		emit_running(x, x->pw);
		emit_restart(x, x->pw);
	}
	for (k = 0; k < c->n_nodes; k++) {
		NodeWork *nw = &x->w[order[k]];

		if (nw->primary || nw->state != NS_RUNNING)
			continue;
		emit_running(x, nw);
		emit_restart(x, nw);
	}
	if (x->phase_dir >= 0 && x->pw->state == NS_RUNNING) {
		emit_running(x, x->pw);
		emit_restart(x, x->pw);
	}

	/* 3. what lives inside the primary. */
	emit_roles_and_databases(x);
	find_orphans(x);

	/* 4. replicas that stream from nobody, checked after every repair: last, so
	 * that one nothing here can repair (its WAL gone from the upstream, say)
	 * fails its check without holding back the rest of the cluster. */
	for (k = 0; k < c->n_nodes; k++)
		emit_stream_check(x, &x->w[order[k]]);

	/* 5. a switchover that waits: after everything planned from the live primary. */
	plan_ha_finish(x->b, &ha);
}

/* ---- fingerprints ---------------------------------------------------------------- */

const char *plan_fingerprint(PgcArena *arena, const PgcObsNode *o)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL)
		abort(); /* out of memory, as the arena does */
	/* The NUL keeps ("ab", "c") and ("a", "bc") apart, as observe_fingerprint() does. */
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	if (o->managed_conf != NULL)
		EVP_DigestUpdate(ctx, o->managed_conf, strlen(o->managed_conf));
	EVP_DigestUpdate(ctx, "", 1);
	if (o->hba_conf != NULL)
		EVP_DigestUpdate(ctx, o->hba_conf, strlen(o->hba_conf));
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[2 * len] = '\0';
	return arena_printf(arena, "%llu:%u:%s", (unsigned long long)o->system_identifier, o->timeline,
			    hex);
}

static void add_fingerprint(Ctx *x, const char *cluster, const PgcObsNode *o)
{
	builder_fingerprint(x->b, arena_printf(x->a, "%s/%s", cluster, o->name),
			    plan_fingerprint(x->a, o));
}

/* ---- public -------------------------------------------------------------------- */

PgcPlan *plan_build(const PgcTopology *t, const PgcObserved *obs, const PgcPolicy *policy)
{
	PgcArena *a = arena_new();
	PgcPlan *p = arena_calloc(a, 1, sizeof(*p));
	PgcPolicy none;
	PgcPlanBuilder b;
	Ctx x;
	size_t i, j;

	if (policy == NULL) {
		memset(&none, 0, sizeof none);
		policy = &none;
	}
	memset(&x, 0, sizeof x);
	x.a = a;
	x.policy = policy;
	p->arena = a;
	builder_init(&b, p);
	x.b = &b;
	p->source_kind = "file";
	p->source_path = t->file ? arena_strdup(a, t->file) : NULL;
	p->offline = obs == NULL;
	p->cluster = policy->only_cluster ? arena_strdup(a, policy->only_cluster) : NULL;
	x.pretend = obs == NULL || obs->pretend;
	for (i = 0; i < t->n_clusters; i++) {
		const PgcCluster *c = &t->clusters[i];

		if (policy->only_cluster != NULL && strcmp(policy->only_cluster, c->name) != 0)
			continue;
		plan_cluster(&x, c, obs);
		for (j = 0; obs != NULL && j < c->n_nodes; j++) {
			const PgcObsNode *o = find_obs(obs, c->name, c->nodes[j].name);

			if (o != NULL)
				add_fingerprint(&x, c->name, o);
		}
	}
	return p;
}

void plan_free(PgcPlan *p)
{
	if (p != NULL)
		arena_free(p->arena);
}

size_t plan_count_impact(const PgcPlan *p, PgcImpact impact)
{
	size_t i, n = 0;

	for (i = 0; i < p->n_actions; i++)
		n += p->actions[i].impact == impact;
	return n;
}

size_t plan_count_blocked(const PgcPlan *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->n_actions; i++)
		n += p->actions[i].blocked;
	return n;
}

const PgcAction *plan_find_action(const PgcPlan *p, const char *id)
{
	size_t i;

	for (i = 0; p != NULL && id != NULL && i < p->n_actions; i++)
		if (strcmp(p->actions[i].id, id) == 0)
			return &p->actions[i];
	return NULL;
}

const char *plan_action_name(PgcActionKind kind)
{
	const PgcActionDef *d = action_def(kind);

	return d != NULL ? d->name : "unknown";
}

const char *plan_impact_name(PgcImpact impact)
{
	switch (impact) {
	case IMPACT_NONE:
		return "none";
	case IMPACT_RELOAD:
		return "reload";
	case IMPACT_RESTART:
		return "restart";
	case IMPACT_SWITCHOVER:
		return "switchover";
	case IMPACT_REBUILD:
		return "rebuild";
	}
	return "unknown";
}
