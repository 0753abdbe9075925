/*
 * reconcile/coord/coord.c - the etcd keys of coordinated agents, their JSON
 * values, and the pure rules of the agents (coord.h).
 */
#include "reconcile/coord/coord.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "reconcile/pg/lsn.h"

/* ---- keys ---------------------------------------------------------------- */

const char *coord_key_agent(PgcArena *a, const char *prefix, const char *host)
{
	return arena_printf(a, "%s/agents/%s", prefix, host);
}

const char *coord_key_cluster(PgcArena *a, const char *prefix, const char *cluster)
{
	return arena_printf(a, "%s/%s/", prefix, cluster);
}

const char *coord_key_leader(PgcArena *a, const char *prefix, const char *cluster)
{
	return arena_printf(a, "%s/%s/leader", prefix, cluster);
}

const char *coord_key_primary(PgcArena *a, const char *prefix, const char *cluster)
{
	return arena_printf(a, "%s/%s/primary", prefix, cluster);
}

const char *coord_key_decision(PgcArena *a, const char *prefix, const char *cluster)
{
	return arena_printf(a, "%s/%s/decision", prefix, cluster);
}

const char *coord_key_member(PgcArena *a, const char *prefix, const char *cluster,
			     const char *node)
{
	return arena_printf(a, "%s/%s/members/%s", prefix, cluster, node);
}

const char *coord_key_fenced(PgcArena *a, const char *prefix, const char *cluster,
			     const char *node)
{
	return arena_printf(a, "%s/%s/fenced/%s", prefix, cluster, node);
}

/* ---- JSON helpers -------------------------------------------------------- */

static const char *jstr(PgcArena *a, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? arena_strdup(a, json_string_value(v)) : NULL;
}

static json_t *jstr_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *parse_object(const char *text)
{
	json_t *j;

	if (text == NULL)
		return NULL;
	j = json_loads(text, 0, NULL);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* ---- members --------------------------------------------------------------- */

static const char *const role_names[] = {
	[MEMBER_UNKNOWN] = "unknown", [MEMBER_PRIMARY] = "primary", [MEMBER_REPLICA] = "replica",
	[MEMBER_DOWN] = "down",       [MEMBER_FENCED] = "fenced",   [MEMBER_STARTING] = "starting",
};

const char *coord_member_role_name(PgcMemberRole r)
{
	return (size_t)r < sizeof role_names / sizeof role_names[0] ? role_names[r] : "unknown";
}

static PgcMemberRole role_from_name(const char *s)
{
	for (size_t i = 0; s != NULL && i < sizeof role_names / sizeof role_names[0]; i++)
		if (strcmp(role_names[i], s) == 0)
			return (PgcMemberRole)i;
	return MEMBER_UNKNOWN;
}

void coord_member_from_observed(PgcArena *a, const PgcNode *n, const PgcObsNode *o, bool fenced,
				const char *now_iso, PgcMember *out)
{
	uint64_t r = 0, p = 0;
	bool has_r, has_p;

	memset(out, 0, sizeof(*out));
	out->node = n->name;
	out->host = n->host.v;
	out->last_msg_age_ms = -1;
	out->reported_at = now_iso;
	if (o == NULL) {
		out->role = fenced ? MEMBER_FENCED : MEMBER_UNKNOWN;
		return;
	}
	out->running = o->reachable || (o->local && o->postmaster_alive);
	out->timeline = o->timeline;
	if (o->reachable && !o->in_recovery) {
		out->role = MEMBER_PRIMARY;
		out->lsn = o->current_lsn;
	} else if (o->reachable) {
		out->role = MEMBER_REPLICA;
		has_r = lsn_parse(o->receive_lsn, &r) == 0;
		has_p = lsn_parse(o->replay_lsn, &p) == 0;
		if (has_r || has_p) {
			char buf[32];

			out->lsn = arena_strdup(a, lsn_format(r > p ? r : p, buf, sizeof buf));
		}
		out->receiver = o->wal_receiver_status;
		if (o->upstream_host != NULL)
			out->upstream = arena_printf(a, "%s:%d", o->upstream_host, o->upstream_port);
		if (o->wal_receiver_last_msg_age_s >= 0)
			out->last_msg_age_ms = (int64_t)(o->wal_receiver_last_msg_age_s * 1000.0);
	} else if (o->local && !o->postmaster_alive) {
		out->role = MEMBER_DOWN;
	} else {
		out->role = MEMBER_UNKNOWN; /* runs but does not answer: starting, or stuck */
	}
	if (fenced && out->role != MEMBER_PRIMARY && out->role != MEMBER_REPLICA)
		out->role = MEMBER_FENCED;
}

json_t *coord_member_json(const PgcMember *m)
{
	json_t *o = json_object(), *rcv = json_object();

	json_object_set_new(o, "host", jstr_or_null(m->host));
	json_object_set_new(o, "role", json_string(coord_member_role_name(m->role)));
	json_object_set_new(o, "running", json_boolean(m->running));
	json_object_set_new(o, "timeline", json_integer((json_int_t)m->timeline));
	json_object_set_new(o, "lsn", jstr_or_null(m->lsn));
	json_object_set_new(rcv, "status", jstr_or_null(m->receiver));
	json_object_set_new(rcv, "upstream", jstr_or_null(m->upstream));
	json_object_set_new(rcv, "last_msg_age_ms",
			    m->last_msg_age_ms >= 0 ? json_integer((json_int_t)m->last_msg_age_ms)
						    : json_null());
	json_object_set_new(o, "receiver", rcv);
	json_object_set_new(o, "reported_at", jstr_or_null(m->reported_at));
	return o;
}

int coord_member_parse(PgcArena *a, const char *node, const char *text, PgcMember *out)
{
	json_t *j = parse_object(text), *rcv, *age;

	memset(out, 0, sizeof(*out));
	out->last_msg_age_ms = -1;
	if (j == NULL)
		return -1;
	out->node = node ? arena_strdup(a, node) : NULL;
	out->host = jstr(a, j, "host");
	out->role = role_from_name(json_string_value(json_object_get(j, "role")));
	out->running = json_is_true(json_object_get(j, "running"));
	if (json_is_integer(json_object_get(j, "timeline")))
		out->timeline = (unsigned)json_integer_value(json_object_get(j, "timeline"));
	out->lsn = jstr(a, j, "lsn");
	rcv = json_object_get(j, "receiver");
	out->receiver = jstr(a, rcv, "status");
	out->upstream = jstr(a, rcv, "upstream");
	age = json_object_get(rcv, "last_msg_age_ms");
	if (json_is_integer(age))
		out->last_msg_age_ms = (int64_t)json_integer_value(age);
	out->reported_at = jstr(a, j, "reported_at");
	json_decref(j);
	return 0;
}

/* ---- the primary's last view ---------------------------------------------- */

json_t *coord_primary_json(const PgcPrimaryView *v, const char *at)
{
	json_t *o = json_object(), *reps = json_array();

	json_object_set_new(o, "node", jstr_or_null(v->primary));
	json_object_set_new(o, "timeline", json_integer((json_int_t)v->timeline));
	json_object_set_new(o, "lsn", jstr_or_null(v->current_lsn));
	for (size_t i = 0; i < v->n_replicas; i++)
		json_array_append_new(reps,
				      json_pack("{s:o,s:o}", "node",
						jstr_or_null(v->replicas[i].application_name),
						"sync_state", jstr_or_null(v->replicas[i].sync_state)));
	json_object_set_new(o, "replicas", reps);
	json_object_set_new(o, "at", jstr_or_null(at));
	return o;
}

int coord_primary_parse(PgcArena *a, const char *text, PgcPrimaryView *out)
{
	json_t *j = parse_object(text), *reps;
	PgcObsReplica *r;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (j == NULL)
		return -1;
	out->primary = jstr(a, j, "node");
	out->current_lsn = jstr(a, j, "lsn");
	out->seen_at = jstr(a, j, "at");
	if (json_is_integer(json_object_get(j, "timeline")))
		out->timeline = (unsigned)json_integer_value(json_object_get(j, "timeline"));
	reps = json_object_get(j, "replicas");
	n = json_is_array(reps) ? json_array_size(reps) : 0;
	r = arena_calloc(a, n ? n : 1, sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(reps, i);

		r[i].application_name = jstr(a, e, "node");
		r[i].sync_state = jstr(a, e, "sync_state");
		r[i].state = "streaming";
	}
	out->replicas = r;
	out->n_replicas = n;
	json_decref(j);
	if (out->primary == NULL) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

/* ---- decisions ------------------------------------------------------------- */

static const char *const state_names[] = {
	[DECISION_NONE] = "none",   [DECISION_DECIDED] = "decided",
	[DECISION_PROMOTED] = "promoted", [DECISION_DONE] = "done",
	[DECISION_ABANDONED] = "abandoned", [DECISION_STOPPING] = "stopping",
	[DECISION_STOPPED] = "stopped",
};

const char *coord_decision_state_name(PgcDecisionState s)
{
	return (size_t)s < sizeof state_names / sizeof state_names[0] ? state_names[s] : "none";
}

json_t *coord_decision_json(const PgcDecision *d)
{
	json_t *j = json_pack("{s:s,s:o,s:o,s:I,s:o,s:s,s:o}", "kind",
			      d->kind ? d->kind : "failover", "from", jstr_or_null(d->from), "to",
			      jstr_or_null(d->to), "token", (json_int_t)d->token, "leader",
			      jstr_or_null(d->leader), "state", coord_decision_state_name(d->state),
			      "at", jstr_or_null(d->at));

	/* Only what is known: a failover's value keeps its shape. */
	if (d->checkpoint != NULL)
		json_object_set_new(j, "checkpoint", json_string(d->checkpoint));
	if (d->stopped_at != NULL)
		json_object_set_new(j, "stopped_at", json_string(d->stopped_at));
	if (d->writable_at != NULL)
		json_object_set_new(j, "writable_at", json_string(d->writable_at));
	if (d->why != NULL)
		json_object_set_new(j, "why", json_string(d->why));
	return j;
}

int coord_decision_parse(PgcArena *a, const char *text, PgcDecision *out)
{
	json_t *j = parse_object(text);
	const char *state;

	memset(out, 0, sizeof(*out));
	if (j == NULL)
		return -1;
	out->kind = jstr(a, j, "kind");
	out->from = jstr(a, j, "from");
	out->to = jstr(a, j, "to");
	if (json_is_integer(json_object_get(j, "token")))
		out->token = (int64_t)json_integer_value(json_object_get(j, "token"));
	out->leader = jstr(a, j, "leader");
	out->at = jstr(a, j, "at");
	out->checkpoint = jstr(a, j, "checkpoint");
	out->stopped_at = jstr(a, j, "stopped_at");
	out->writable_at = jstr(a, j, "writable_at");
	out->why = jstr(a, j, "why");
	state = json_string_value(json_object_get(j, "state"));
	for (size_t i = 1; state != NULL && i < sizeof state_names / sizeof state_names[0]; i++)
		if (strcmp(state_names[i], state) == 0)
			out->state = (PgcDecisionState)i;
	json_decref(j);
	if (out->state == DECISION_NONE || out->from == NULL || out->to == NULL) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

bool coord_view_holds_back(const PgcPrimaryView *v, const char *node)
{
	return v != NULL && v->primary != NULL && node != NULL && strcmp(v->primary, node) != 0;
}

bool coord_decision_holds_back(const PgcDecision *d, const char *node)
{
	return d != NULL && d->from != NULL && d->to != NULL && strcmp(d->from, node) == 0 &&
	       strcmp(d->to, node) != 0 &&
	       (coord_decision_in_progress(d) || d->state == DECISION_PROMOTED);
}

bool coord_decision_in_progress(const PgcDecision *d)
{
	return d != NULL && (d->state == DECISION_DECIDED || d->state == DECISION_STOPPING ||
			     d->state == DECISION_STOPPED);
}

static bool is_switchover(const PgcDecision *d)
{
	return d != NULL && d->kind != NULL && strcmp(d->kind, "switchover") == 0 &&
	       d->from != NULL && d->to != NULL && strcmp(d->from, d->to) != 0;
}

PgcSwitchoverPart coord_switchover_part(const PgcDecision *d, const char *node, bool runs,
					bool primary)
{
	if (!is_switchover(d) || node == NULL)
		return SWITCHOVER_PART_NONE;
	if (strcmp(node, d->from) == 0) {
		if (d->state == DECISION_STOPPING)
			return SWITCHOVER_PART_STOP;
		/* Only a node this switchover stopped (or began to stop). */
		if (d->state == DECISION_ABANDONED && !runs && d->stopped_at != NULL)
			return SWITCHOVER_PART_RESTART;
		return SWITCHOVER_PART_NONE;
	}
	if (strcmp(node, d->to) == 0 && d->state == DECISION_STOPPED && d->checkpoint != NULL)
		return primary ? SWITCHOVER_PART_MARK_PROMOTED : SWITCHOVER_PART_PROMOTE;
	return SWITCHOVER_PART_NONE;
}

const char *coord_switchover_missing(bool from_agent, bool to_agent, const PgcMember *from,
				     const PgcMember *to)
{
	if (!from_agent)
		return "the agent of the primary's host is not in etcd";
	if (!to_agent)
		return "the agent of the target's host is not in etcd";
	if (from == NULL || from->role != MEMBER_PRIMARY || !from->running)
		return "the primary's member in etcd does not report a running primary";
	if (to == NULL || !to->running)
		return "the target's member in etcd does not report it running";
	return NULL;
}

bool coord_switchover_give_up(const PgcDecision *d, const PgcMember *from, int64_t age_ms,
			      int64_t bound_ms)
{
	if (!is_switchover(d) || d->state != DECISION_STOPPING || age_ms < 0)
		return false;
	return age_ms > bound_ms || (from == NULL && d->stopped_at == NULL);
}

bool coord_switchover_rolling_back(const PgcDecision *d, const char *node, int64_t age_ms,
				   int64_t grace_ms)
{
	return is_switchover(d) && node != NULL && d->state == DECISION_ABANDONED &&
	       strcmp(d->from, node) == 0 && d->stopped_at != NULL && age_ms >= 0 &&
	       age_ms < grace_ms;
}

PgcDecisionState coord_decision_next(const PgcDecision *d, const PgcMember *to,
				     const PgcMember *from, int failed_promotions)
{
	bool to_primary = to != NULL && to->role == MEMBER_PRIMARY && to->running;

	if (d == NULL)
		return DECISION_NONE;
	if ((d->state == DECISION_DECIDED || d->state == DECISION_STOPPED) && to_primary)
		return DECISION_PROMOTED;
	if (d->state == DECISION_DECIDED && failed_promotions >= COORD_PROMOTE_ATTEMPTS)
		return DECISION_ABANDONED;
	if (d->state == DECISION_PROMOTED && from != NULL && from->role == MEMBER_REPLICA)
		return DECISION_DONE;
	return d->state;
}

int64_t coord_decision_age_ms(const char *at, int64_t now_unix_ms)
{
	struct tm tm;
	int ms = 0, n = 0;
	time_t sec;
	int64_t age;

	if (at == NULL)
		return -1;
	memset(&tm, 0, sizeof tm);
	if (sscanf(at, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	if (at[n] == '.' && sscanf(at + n, ".%3d", &ms) != 1)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if ((sec = timegm(&tm)) == (time_t)-1)
		return -1;
	age = now_unix_ms - ((int64_t)sec * 1000 + ms);
	return age > 0 ? age : 0;
}

/* ---- fence records ---------------------------------------------------------- */

json_t *coord_fenced_json(const PgcFenced *f)
{
	return json_pack("{s:o,s:o,s:o}", "by", jstr_or_null(f->by), "reason",
			 jstr_or_null(f->reason), "at", jstr_or_null(f->at));
}

int coord_fenced_parse(PgcArena *a, const char *text, PgcFenced *out)
{
	json_t *j = parse_object(text);

	memset(out, 0, sizeof(*out));
	if (j == NULL)
		return -1;
	out->by = jstr(a, j, "by");
	out->reason = jstr(a, j, "reason");
	out->at = jstr(a, j, "at");
	json_decref(j);
	return 0;
}

/* ---- the etcd client's settings ------------------------------------------------ */

const char *coord_etcd_config_id(PgcArena *a, const PgcEtcd *e, int64_t ttl_ms)
{
	const char *s = arena_printf(a, "%s|%s|%s|%s|%s|%d:%s|%lld", e->user.v ? e->user.v : "",
				     e->ca_file.v ? e->ca_file.v : "",
				     e->cert_file.v ? e->cert_file.v : "",
				     e->key_file.v ? e->key_file.v : "", e->prefix.v ? e->prefix.v : "",
				     (int)e->password.kind, e->password.ref ? e->password.ref : "",
				     (long long)ttl_ms);

	for (size_t i = 0; i < e->endpoints.n; i++)
		s = arena_printf(a, "%s|%s", s, e->endpoints.items[i].v);
	return s;
}

/* ---- rules ------------------------------------------------------------------- */

bool coord_action_mine(const char *runs_on, const char *self, bool in_session, bool leads)
{
	if (!in_session)
		return false;
	if (runs_on == NULL)
		return leads;
	return self != NULL && strcmp(runs_on, self) == 0;
}

PgcStartRule coord_start_rule(PgcActionKind kind, bool starts_replica, bool fenced)
{
	/* A restart of a server that was stopped meanwhile (a fence in the middle of
	 * a pass) starts it: as much a start as ACT_START. */
	if (kind != ACT_START && kind != ACT_RESTART && kind != ACT_RESTORE)
		return COORD_START_FREE;
	if (starts_replica)
		return COORD_START_FREE;
	return fenced ? COORD_START_REFUSED : COORD_START_CLAIM;
}

bool coord_view_timeline_ahead(const PgcPrimaryView *v, const char *node, unsigned timeline)
{
	return v != NULL && v->primary != NULL && node != NULL && strcmp(v->primary, node) == 0 &&
	       timeline != 0 && v->timeline > timeline;
}

const char *coord_claim_refusal(PgcArena *a, const PgcClaimFacts *f)
{
	const PgcDecision *d = f->decision;
	const PgcPrimaryView *v = f->view;

	if (coord_decision_holds_back(d, f->node))
		return arena_printf(a, "a %s (%s) moves the primary role to \"%s\"; it rejoins as a "
				       "replica", d->kind ? d->kind : "failover",
				    coord_decision_state_name(d->state), d->to);
	if (f->other_primary != NULL)
		return arena_printf(a, "\"%s\" is the primary", f->other_primary);
	if (coord_view_holds_back(v, f->node))
		return arena_printf(a, "\"%s\" was the primary last seen (%s)", v->primary,
				    v->seen_at ? v->seen_at : "?");
	if (coord_view_timeline_ahead(v, f->node, f->timeline))
		return arena_printf(a, "it was last seen as the primary on timeline %u (%s), and its "
				       "data directory is on timeline %u: a promotion came after it",
				    v->timeline, v->seen_at ? v->seen_at : "?", f->timeline);
	if (f->recorded_fenced && !f->fenced_here)
		return arena_strdup(a, "it is recorded fenced: its agent starts it again itself, once "
				       "nothing replaced it");
	return NULL;
}

PgcFenceRecordStep coord_fence_record_step(bool recorded, bool fenced_here, bool started_claimed,
					   bool runs, int standby_signal)
{
	if (!recorded || fenced_here)
		return COORD_FENCE_RECORD_NONE;
	if (started_claimed || (runs && standby_signal == 0))
		return COORD_FENCE_RECORD_CLEAR;
	return COORD_FENCE_RECORD_ADOPT;
}

bool coord_self_fence_due(int64_t now_ms, int64_t last_ok_sent_ms, int64_t ttl_ms,
			  bool replica_streams)
{
	if (replica_streams)
		return false;
	if (last_ok_sent_ms < 0)
		return true;
	return (now_ms - last_ok_sent_ms) * COORD_FENCE_DEN > ttl_ms * COORD_FENCE_NUM;
}

int coord_stop_step(int signal_rc, int signal_errno, bool gone)
{
	/* Only "no such process" means gone: any other failure leaves it running. */
	if (signal_rc != 0)
		return signal_errno == ESRCH ? 1 : -1;
	return gone ? 1 : 0;
}

bool coord_would_be_primary(int standby_signal)
{
	return standby_signal != 0;
}

bool coord_fence_watches(bool was_primary, bool postmaster_runs, int standby_signal)
{
	/* An unreadable standby.signal proves nothing: watched as a primary. */
	return was_primary || (postmaster_runs && coord_would_be_primary(standby_signal));
}

int64_t coord_reply_window_ms(int64_t ttl_ms, int64_t detect_after_ms)
{
	int64_t w = detect_after_ms * 3 / 4;

	return w > 0 && w < ttl_ms ? w : ttl_ms;
}

bool coord_primary_gone(PgcArena *a, const PgcMember *m, const char **why)
{
	if (m == NULL) {
		*why = "its member key expired (its host or agent is gone, or cut off from etcd: a "
		       "primary cut off from etcd and its replicas stops itself)";
		return true;
	}
	if (m->role == MEMBER_DOWN || m->role == MEMBER_FENCED) {
		*why = arena_printf(a, "its agent reports it %s", coord_member_role_name(m->role));
		return true;
	}
	*why = arena_printf(a, "its agent reports it %s%s", coord_member_role_name(m->role),
			    m->running ? " and running" : "");
	return false;
}

bool coord_replica_listed(const char *replicas, const char *application_name)
{
	size_t len = strlen(application_name);

	if (len == 0)
		return false;
	for (const char *p = replicas; *p != '\0';) {
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == len && strncmp(p, application_name, len) == 0)
			return true;
		p += n + (end != NULL);
	}
	return false;
}
