/*
 * reconcile/postgres/plan_node.c - the postgres planner's actions per node:
 * create (initdb, or slot + clone), configuration, pg_hba.conf, passfile,
 * start, reload and restart (plan_work.h).
 */
#include "reconcile/postgres/plan_postgres.h"
#include "reconcile/postgres/plan_work.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reconcile/pg/layout.h"
#include "reconcile/pg/pgsql.h"

/* quote_param_name - a parameter name for ALTER SYSTEM: each dotted part quoted. */
static const char *quote_param_name(PgcArena *a, const char *name)
{
	const char *dot = strchr(name, '.'), *head;

	if (dot == NULL)
		return pgsql_quote_ident(a, name);
	head = arena_strndup(a, name, (size_t)(dot - name));
	return arena_printf(a, "%s.%s", pgsql_quote_ident(a, head), quote_param_name(a, dot + 1));
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
	return plan_settings_needs_restart(x, ac->name, find_setting(nw->o, ac->name));
}

static bool replica_has_password(Ctx *x, const NodeWork *nw)
{
	return (!nw->primary || x->c->standby_upstream != NULL) &&
	       x->c->replication.password.kind != SECRET_NONE;
}

static const NodeWork *work_of(Ctx *x, const PgcNode *n)
{
	size_t i;

	for (i = 0; n != NULL && i < x->nw; i++)
		if (x->w[i].n == n)
			return &x->w[i];
	return NULL;
}

void plan_node_config(Ctx *x, NodeWork *nw)
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
			lines = arena_grow(a, lines, n, &cap, 16, sizeof(char *));
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

void plan_node_hba(Ctx *x, NodeWork *nw)
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
void plan_node_passfile(Ctx *x, NodeWork *nw)
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
		reason = arena_printf(x->a, "the %s reads the replication password for \"%s\" "
				      "from %s", up == x->c->standby_upstream ? "standby leader" : "replica",
				      up == x->c->standby_upstream ? x->c->standby_upstream_ref : up->name,
				      path);
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
	act->payload.upstream = up == x->c->standby_upstream ? x->c->standby_upstream_ref : up->name;
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
/*
 * leader_stream_check - the same for a standby leader, whose upstream is the
 * source's primary (another cluster: only checked when it answers). One
 * that received WAL the source's new primary never got (an asynchronous
 * failover) cannot follow its timeline and fails this check.
 */
static void leader_stream_check(Ctx *x, NodeWork *nw)
{
	const PgcObsNode *uo = x->standby_up_o;
	const char *app = arena_printf(x->a, "%s-%s", x->c->name, nw->n->name);
	PgcAction *act;

	if (x->pretend || nw->state != NS_RUNNING || !nw->reachable || nw->id_restart != NULL ||
	    nw->id_start != NULL || uo == NULL || !uo->reachable ||
	    plan_replica_streams(nw->o, uo, app))
		return;
	act = fs_action(x, ACT_START, nw, NULL, IMPACT_NONE,
			arena_printf(x->a, "standby leader \"%s\" runs but does not stream from \"%s\" (%s; "
				     "\"%s\" has no walsender for it): check that it streams again, "
				     "waiting for its WAL receiver to reconnect; one that cannot follow "
				     "the source's timeline must be cloned again",
				     nw->n->name, x->c->standby_upstream_ref,
				     nw->o->wal_receiver_status ? "its WAL receiver is stopped"
								: "no WAL receiver",
				     x->c->standby_upstream_ref));
	/* plan_standby_link makes it wait for what the plan does on the source's primary. */
	act->payload.upstream = x->c->standby_upstream_ref;
	builder_change(x->b, act, "streaming", "no", "yes");
	builder_depend(x->b, act, nw->id_passfile);
	builder_depend(x->b, act, nw->id_config);
	builder_depend(x->b, act, nw->id_reload);
	nw->id_start = act->id;
}

void plan_node_stream_check(Ctx *x, NodeWork *nw)
{
	const NodeWork *up = work_of(x, cluster_upstream(x->c, nw->n));
	PgcAction *act;

	if (nw->primary && x->c->standby_upstream != NULL) {
		leader_stream_check(x, nw);
		return;
	}
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

void plan_node_start(Ctx *x, NodeWork *nw, const char *reason)
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
const char *plan_node_slot(Ctx *x, NodeWork *nw)
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

/*
 * plan_node_kept_slots - the slots of the cluster's standby clusters
 * (PgcCluster.kept_slots) on its primary nw, when missing: created on the
 * live primary, so that they follow it across failovers and switchovers.
 */
void plan_node_kept_slots(Ctx *x, NodeWork *nw)
{
	for (size_t i = 0; i < x->c->n_kept_slots; i++) {
		const char *slot = x->c->kept_slots[i];
		PgcAction *act;

		if (!slots_known(nw) || has_slot(nw, slot))
			continue;
		act = emit(x, ACT_CREATE_SLOT, nw, slot, IMPACT_NONE,
			   arena_printf(x->a, "a standby cluster streams from primary \"%s\" through "
					"physical slot \"%s\"", nw->n->name, slot));
		act->payload.path = NULL;
		act->payload.target = slot;
		act->payload.sql = "SELECT pg_create_physical_replication_slot($1, true)";
		act->payload.params = arena_calloc(x->a, 1, sizeof(char *));
		act->payload.params[0] = slot;
		act->payload.n_params = 1;
		builder_depend(x->b, act, nw->id_up);
	}
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

void plan_node_new(Ctx *x, NodeWork *nw)
{
	const PgcCluster *c = x->c;
	const PgcNode *upn = cluster_upstream(c, nw->n);
	const NodeWork *up = work_of(x, upn);
	PgcAction *act;
	Argv av = {NULL, 0};

	if (upn == NULL || (!nw->primary && up == NULL)) {
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
		/* The primary of a standby cluster: copied from another cluster's primary
		 * (reconcile/standby/), through the slot kept there. */
		bool leader = upn == c->standby_upstream;
		const char *slot_id = plan_node_slot(x, nw);
		const char *slot = leader ? c->standby_slot
				   : c->replication.slots.v ? plan_slot_name(x->a, nw->n->name) : NULL;
		const char *upname = leader ? c->standby_upstream_ref : upn->name;

		act = fs_action(x, ACT_CLONE, nw, NULL, IMPACT_NONE,
				nw->o->clone_interrupted
				    ? arena_printf(x->a, "data directory \"%s\" holds a copy that an "
						   "interrupted run left unfinished: empty it and clone "
						   "the replica again from \"%s\" with pg_basebackup",
						   nw->n->data_dir.v, upname)
				    : arena_printf(x->a, "data directory \"%s\" is %s: clone the %s "
						   "from \"%s\" with pg_basebackup", nw->n->data_dir.v,
						   dir_word(nw), leader ? "standby leader" : "replica", upname));
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
		act->payload.upstream = upname;
		act->payload.secret = c->replication.password;
		builder_depend(x->b, act, slot_id);
		if (up != NULL) {
			builder_depend(x->b, act, up->id_up);
			if (up->id_up == NULL)
				builder_depend(x->b, act, up->id_reload); /* its new rules must be loaded */
		}
		builder_depend(x->b, act, x->repl_role_id);
	}
	act->payload.params = av.v;
	act->payload.n_params = av.n;
	nw->id_create = act->id;
	if (act->blocked) {
		nw->id_up = act->id;
		return;
	}
	plan_node_config(x, nw);
	plan_node_passfile(x, nw);
	plan_node_hba(x, nw);
	plan_node_start(x, nw, !nw->primary ? "start the new replica"
			       : c->standby_upstream != NULL ? "start the new standby leader"
							     : "start the new primary");
}

void plan_node_blocked(Ctx *x, NodeWork *nw)
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
		builder_delegate(x->b, act, remote_reason(x, nw));
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
void plan_node_running(Ctx *x, NodeWork *nw)
{
	bool reload = false;
	size_t i;
	PgcAction *act;

	if (nw->emitted)
		return;
	nw->emitted = true;
	emit_resets(x, nw);
	plan_node_config(x, nw);
	plan_node_hba(x, nw);
	plan_node_passfile(x, nw);
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

void plan_node_restart(Ctx *x, NodeWork *nw)
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
