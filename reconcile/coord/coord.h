/*
 * reconcile/coord/coord.h - what the agents of a coordinated topology
 * (coordination.etcd: one `pgconverge reconcile --as HOST` per host) keep
 * in etcd, and the pure rules they apply to it. No I/O here: the agent
 * (agent.h) talks to etcd and to the servers, and unit tests feed these
 * functions hand-made values.
 *
 * Key layout (P = coordination.etcd.prefix, C = a cluster's name). Every
 * value is a JSON object; times are ISO 8601 UTC with milliseconds.
 *
 *   P/agents/HOST       {host, pid, version, started_at, reported_at,
 *                        nodes: [NODE ...]}, under the agent's lease: the
 *                        agent of HOST is alive (its lease is renewed).
 *   P/C/leader          value HOST (plain text, not JSON), under the leader
 *                        agent's lease; created with a transaction that
 *                        compares its create_revision with 0 (nobody leads).
 *                        The fencing token of a leadership is that
 *                        create_revision: every write of the leader compares
 *                        it, so a leader that lost its lease writes nothing.
 *   P/C/members/NODE    {host, role: primary|replica|down|fenced|starting, running,
 *                        timeline, lsn, receiver: {status, upstream,
 *                        last_msg_age_ms}, reported_at}, under the lease of
 *                        the node's agent. lsn is pg_current_wal_lsn() on a
 *                        primary, max(received, replayed) on a replica.
 *                        starting: its agent claimed the start of a node
 *                        that comes up as a primary (agent.h), which no
 *                        failover decision may overtake. Absent
 *                        (expired): the host or its agent is gone,
 *                        or cut off from etcd for longer than the ttl.
 *   P/C/primary         {node, timeline, lsn, replicas: [{node, sync_state}],
 *                        at}: the last view of the primary, written by the
 *                        leader from its passes (persistent): the candidate
 *                        choice once the primary is gone (synchronous
 *                        standbys, last known position).
 *   P/C/decision        {kind: failover|switchover, from, to, token, leader,
 *                        state: decided|stopping|stopped|promoted|done|
 *                        abandoned, at; a switchover also checkpoint,
 *                        stopped_at, writable_at; abandoned: why};
 *                        persistent; written by the leader with a
 *                        transaction comparing P/C/leader's create_revision
 *                        with token. decided: `to`'s agent promotes it;
 *                        promoted: `to` takes writes, `from` must rejoin;
 *                        done: `from` runs as a replica again; abandoned:
 *                        the candidate's agent gave it up after failed
 *                        promotions (nothing was promoted). A switchover
 *                        starts in stopping (`from`'s agent stops it),
 *                        then stopped with the shutdown checkpoint (`to`'s
 *                        agent promotes it once it replayed it), then
 *                        promoted and done as above; abandoned before the
 *                        promotion, `from`'s agent starts `from` again.
 *   P/C/fenced/NODE     {by: self|leader, reason, at}: a node its agent
 *                        stopped (self-fencing, agent.h); persistent until
 *                        the node has rejoined or is allowed to run as the
 *                        primary again.
 *
 * Memory: strings of parsed values belong to the arena passed in.
 */
#ifndef PGC_RECONCILE_COORD_COORD_H
#define PGC_RECONCILE_COORD_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/arena.h"
#include "reconcile/engine/plan.h"
#include "reconcile/ha/failover.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

/* ---- keys ---------------------------------------------------------------- */

/* coord_key_agent - "P/agents/HOST". */
const char *coord_key_agent(PgcArena *a, const char *prefix, const char *host);
/* coord_key_cluster - "P/C/" (with the slash: the prefix of everything of C). */
const char *coord_key_cluster(PgcArena *a, const char *prefix, const char *cluster);
/* coord_key_leader, coord_key_primary, coord_key_decision - "P/C/leader" ... */
const char *coord_key_leader(PgcArena *a, const char *prefix, const char *cluster);
const char *coord_key_primary(PgcArena *a, const char *prefix, const char *cluster);
const char *coord_key_decision(PgcArena *a, const char *prefix, const char *cluster);
/* coord_key_member, coord_key_fenced - "P/C/members/NODE", "P/C/fenced/NODE". */
const char *coord_key_member(PgcArena *a, const char *prefix, const char *cluster,
			     const char *node);
const char *coord_key_fenced(PgcArena *a, const char *prefix, const char *cluster,
			     const char *node);

/* ---- members --------------------------------------------------------------- */

typedef enum {
	MEMBER_UNKNOWN = 0,
	MEMBER_PRIMARY,          /* answers and takes writes */
	MEMBER_REPLICA,          /* answers, in recovery */
	MEMBER_DOWN,             /* no server runs for its data directory (its agent looked) */
	MEMBER_FENCED,           /* its agent stopped it and keeps it stopped */
	MEMBER_STARTING,         /* its agent starts it as a primary (a claim, agent.h) */
} PgcMemberRole;

typedef struct {
	const char *node;
	const char *host;
	PgcMemberRole role;
	bool running;            /* a postmaster runs for the data directory */
	unsigned timeline;
	const char *lsn;         /* NULL unknown */
	const char *receiver;    /* pg_stat_wal_receiver.status, NULL none */
	const char *upstream;    /* "host:port" its WAL receiver connects to, NULL none */
	int64_t last_msg_age_ms; /* -1 unknown */
	const char *reported_at;
} PgcMember;

/* coord_member_role_name - "primary", "replica", "down", "fenced", "starting", "unknown". */
const char *coord_member_role_name(PgcMemberRole r);

/*
 * coord_member_from_observed - node n as its own agent observed it (o may
 * be NULL: unknown). A local node whose postmaster is not alive is down;
 * fenced overrides down (its agent stopped it on purpose). Points into o.
 */
void coord_member_from_observed(PgcArena *a, const PgcNode *n, const PgcObsNode *o, bool fenced,
				const char *now_iso, PgcMember *out);

/* coord_member_json - the value of P/C/members/NODE; caller owns it. */
json_t *coord_member_json(const PgcMember *m);

/* coord_member_parse - a member's value; 0, or -1 when it is not one (out zeroed). */
int coord_member_parse(PgcArena *a, const char *node, const char *text, PgcMember *out);

/* ---- the primary's last view ---------------------------------------------- */

/* coord_primary_json - P/C/primary from a view (failover.h); at: ISO time. */
json_t *coord_primary_json(const PgcPrimaryView *v, const char *at);

/*
 * coord_primary_parse - P/C/primary as a view: replicas carry their node
 * name as application_name and their sync_state. 0, or -1 (view zeroed).
 */
int coord_primary_parse(PgcArena *a, const char *text, PgcPrimaryView *out);

/*
 * coord_view_holds_back - true when the primary's last view v (P/C/primary;
 * v->primary NULL: none) names another node than node: node does not start
 * as a primary (the one the leader last saw may hold writes node lacks).
 */
bool coord_view_holds_back(const PgcPrimaryView *v, const char *node);

/* ---- decisions ------------------------------------------------------------- */

typedef enum {
	DECISION_NONE = 0,
	DECISION_DECIDED,
	DECISION_PROMOTED,
	DECISION_DONE,
	DECISION_ABANDONED,
	DECISION_STOPPING,       /* switchover: `from`'s agent stops it cleanly */
	DECISION_STOPPED,        /* switchover: `from` is down; `to`'s agent promotes it */
} PgcDecisionState;

typedef struct {
	const char *kind;        /* "failover" | "switchover" */
	const char *from, *to;
	int64_t token;
	const char *leader;
	PgcDecisionState state;
	const char *at;
	/* A switchover's progress (NULL until known): */
	const char *checkpoint;  /* `from`'s shutdown checkpoint (LSN text), from stopped on */
	const char *stopped_at;  /* when `from` began to stop (ISO, its agent's clock) */
	const char *writable_at; /* the first commit on `to` (ISO, its agent's clock) */
	const char *why;         /* abandoned: why, one line */
} PgcDecision;

/*
 * coord_decision_state_name - "decided", "promoted", "done", "abandoned",
 * "stopping", "stopped", "none".
 */
const char *coord_decision_state_name(PgcDecisionState s);
json_t *coord_decision_json(const PgcDecision *d);
/* coord_decision_parse - 0, or -1 when text is not a decision (out zeroed). */
int coord_decision_parse(PgcArena *a, const char *text, PgcDecision *out);

/*
 * coord_decision_holds_back - true when decision d keeps node from running
 * as a primary: it was decided or carried out in favour of another node
 * (state decided, stopping, stopped or promoted, from == node). done and
 * abandoned hold nothing back.
 */
bool coord_decision_holds_back(const PgcDecision *d, const char *node);

/*
 * coord_decision_in_progress - d (may be NULL) is being carried out
 * (decided, stopping, stopped): the leader decides no failover meanwhile,
 * and starts no other switchover.
 */
bool coord_decision_in_progress(const PgcDecision *d);

/*
 * A switchover through etcd (kind "switchover", agent.h): the leader checks
 * that `to` streams from `from` and is caught up, then writes the decision
 * in state stopping; `from`'s agent runs CHECKPOINT and a fast shutdown and
 * writes the shutdown checkpoint (stopped); `to`'s agent waits until it
 * replayed past it, promotes it and marks it promoted; the leader marks it
 * done once `from` runs as a replica. Before the promotion, a failure
 * abandons it (nothing promoted) and `from`'s agent starts `from` again as
 * the primary (a claim). What an agent does for one of its nodes:
 */
typedef enum {
	SWITCHOVER_PART_NONE = 0,
	SWITCHOVER_PART_STOP,          /* `from`, stopping: CHECKPOINT, stop, record the checkpoint */
	SWITCHOVER_PART_PROMOTE,       /* `to`, stopped: wait for the checkpoint's replay, promote */
	SWITCHOVER_PART_MARK_PROMOTED, /* `to`, stopped, already a primary: only mark it */
	SWITCHOVER_PART_RESTART,       /* `from`, abandoned after its agent began to stop it
	                                * (stopped_at), not running: start it again (claim) */
} PgcSwitchoverPart;

/*
 * coord_switchover_part - the part of the agent of node in switchover d
 * (NULL, or another kind: none): runs whether a postmaster runs for node,
 * primary whether it answers as a primary.
 */
PgcSwitchoverPart coord_switchover_part(const PgcDecision *d, const char *node, bool runs,
					bool primary);

/*
 * coord_switchover_missing - why the leader may not write switchover
 * from -> to in state stopping, NULL when it may: both hosts' agent keys
 * (from_agent, to_agent) and both members (NULL: absent) must be there,
 * `from` a running primary, `to` running. Without them no agent would
 * carry the decision out, or roll it back.
 */
const char *coord_switchover_missing(bool from_agent, bool to_agent, const PgcMember *from,
				     const PgcMember *to);

/*
 * coord_switchover_give_up - whether the leader abandons switchover d,
 * still stopping age_ms after its last write (`at`; more than bound_ms),
 * whatever `from`'s member (NULL: absent) shows; sooner, at once, when
 * that member is absent and its agent has not begun to stop it
 * (stopped_at absent): its agent is gone. `from`'s agent writes stopped_at
 * (a transaction on the decision as read) after its CHECKPOINT, bounded
 * well under bound_ms, and before pg_ctl stop, which is bounded under
 * bound_ms too; it writes stopped only over the decision as read. So an
 * abandon either precedes the stop (which is then not run) or carries
 * stopped_at, and `from`'s agent starts `from` again (SWITCHOVER_PART_RESTART).
 */
bool coord_switchover_give_up(const PgcDecision *d, const PgcMember *from, int64_t age_ms,
			      int64_t bound_ms);

/*
 * coord_switchover_rolling_back - whether switchover d was abandoned after
 * `from`'s agent began to stop node (stopped_at) less than grace_ms ago
 * (age_ms, of `at`): that agent starts it again (SWITCHOVER_PART_RESTART),
 * so the leader decides no failover of node meanwhile (its probes start
 * again afterwards).
 */
#define COORD_ROLLBACK_GRACE_MS 30000
bool coord_switchover_rolling_back(const PgcDecision *d, const char *node, int64_t age_ms,
				   int64_t grace_ms);

/*
 * coord_decision_next - the state decision d moves to from what etcd and
 * its candidate's agent show (to, from: the members of d->to and d->from,
 * NULL when absent; failed_promotions: the attempts of the candidate's
 * agent that failed, 0 for anyone else):
 *   decided (a switchover: stopped) -> promoted once `to`'s member
 *     reports a running primary (its agent promoted it, even if marking it
 *     promoted failed);
 *   decided -> abandoned after COORD_PROMOTE_ATTEMPTS failed promotions
 *     and `to` not a primary (only the candidate's agent counts them and
 *     writes it: the leader cannot tell whether a candidate it cannot reach
 *     promoted);
 *   promoted -> done once `from`'s member reports a replica;
 * otherwise d->state.
 */
#define COORD_PROMOTE_ATTEMPTS 3
PgcDecisionState coord_decision_next(const PgcDecision *d, const PgcMember *to,
				     const PgcMember *from, int failed_promotions);

/*
 * coord_decision_age_ms - how long ago a decision's `at` (ISO 8601 UTC, as
 * written by the leader of the time) was at now_unix_ms (this host's wall
 * clock); 0 when it lies ahead (another host's clock), -1 when at is not
 * such a time. A new leader seeds its anti-flap history (failover
 * min_interval) from it: the last failover was not forgotten with the
 * leader that made it.
 */
int64_t coord_decision_age_ms(const char *at, int64_t now_unix_ms);

/* ---- fence records ---------------------------------------------------------- */

/* PgcFenced - P/C/fenced/NODE: who stopped the node, why, when. */
typedef struct {
	const char *by;          /* "self" | "leader" */
	const char *reason;
	const char *at;
} PgcFenced;

/* coord_fenced_json - the value of P/C/fenced/NODE; caller owns it. */
json_t *coord_fenced_json(const PgcFenced *f);
/* coord_fenced_parse - 0, or -1 when text is not a JSON object (out zeroed). */
int coord_fenced_parse(PgcArena *a, const char *text, PgcFenced *out);

/* ---- the etcd client's settings ------------------------------------------------ */

/*
 * coord_etcd_config_id - what an agent's etcd session is made of: the
 * endpoints, credentials (the password's reference, never its value),
 * files, prefix and ttl_ms (the ttl in effect: a new ttl is a new lease,
 * so that the agent never counts its lease by another ttl than etcd's).
 * Equal ids: the session goes on; owned by a.
 */
const char *coord_etcd_config_id(PgcArena *a, const PgcEtcd *e, int64_t ttl_ms);

/* ---- the agents' rules ------------------------------------------------------ */

/*
 * coord_action_mine - whether the agent of host self carries out an action
 * that runs on runs_on (NULL: cluster-wide work, for the cluster's leader):
 * never without a live session (in_session false: no etcd contact, the
 * agent acts on nothing); cluster-wide work only while it leads; a host's
 * work only on that host.
 */
bool coord_action_mine(const char *runs_on, const char *self, bool in_session, bool leads);

/* What an action of this host on one of its nodes needs before it runs (agent.h). */
typedef enum {
	COORD_START_FREE = 0,    /* it cannot bring a primary up: no claim */
	COORD_START_CLAIM,       /* it can: only after a claim */
	COORD_START_REFUSED,     /* never from a pass: the node is self-fenced */
} PgcStartRule;

/*
 * coord_start_rule - for action kind on a node of this host: start,
 * restart (pg_ctl restart starts a stopped server) and restore can bring a
 * server up; when it would come up as a primary (starts_replica false) it
 * needs a claim, and a self-fenced node (fenced: its agent fenced it, or
 * took back its record P/C/fenced/NODE after a restart) is refused
 * outright: only its agent starts it again as the primary, after recording
 * the fence and with a claim (coord_claim_refusal). Anything else is free.
 */
PgcStartRule coord_start_rule(PgcActionKind kind, bool starts_replica, bool fenced);

/*
 * The claim's facts (agent.h, "Starting a primary"): what etcd and the
 * node's own data directory show before its agent starts it as a primary.
 */
typedef struct {
	const char *node;
	const PgcDecision *decision;  /* P/C/decision; NULL: none */
	const char *other_primary;    /* another member that reports a primary (or starting); NULL none */
	const PgcPrimaryView *view;   /* P/C/primary; NULL (or its primary NULL): none */
	unsigned timeline;            /* the node's own: pg_controldata "Latest checkpoint's
	                               * TimeLineID"; 0 unknown (not compared) */
	bool recorded_fenced;         /* P/C/fenced/NODE is there */
	bool fenced_here;             /* its agent holds the fence: the start is that agent's own
	                               * restart of a self-fenced node */
} PgcClaimFacts;

/*
 * coord_claim_refusal - why node may not be claimed for a start as a
 * primary, or NULL when it may: a decision holds it back
 * (coord_decision_holds_back), another member reports a primary, P/C/primary
 * names another node (coord_view_holds_back) or names it on a later
 * timeline than its own data directory's (a promotion came after what it
 * holds: its data is not what that primary had), or it is recorded fenced
 * and its agent does not hold the fence (an agent restarted since: it
 * takes the fence back first, coord_fence_record_step). One phrase, owned
 * by a.
 */
const char *coord_claim_refusal(PgcArena *a, const PgcClaimFacts *f);

/*
 * coord_view_timeline_ahead - P/C/primary (v) names node on a later
 * timeline than timeline, the node's own (0: unknown, never ahead).
 */
bool coord_view_timeline_ahead(const PgcPrimaryView *v, const char *node, unsigned timeline);

/* What the agent of a node makes of the node's record P/C/fenced/NODE. */
typedef enum {
	COORD_FENCE_RECORD_NONE = 0, /* nothing to do */
	COORD_FENCE_RECORD_ADOPT,    /* fenced from now on: kept stopped, no pass starts it as a
	                              * primary, its agent does after a claim */
	COORD_FENCE_RECORD_CLEAR,    /* the record goes: it runs as a replica again, or its agent
	                              * started it as the primary through a claim */
} PgcFenceRecordStep;

/*
 * coord_fence_record_step - for a node of this host: recorded whether
 * P/C/fenced/NODE is there; fenced_here whether this agent holds the fence
 * (in its memory: it fenced the node, or took the record back already);
 * started_claimed whether this agent started it as the primary through a
 * claim since (the record's removal is what lags); runs whether a
 * postmaster runs for it; standby_signal as host_read_file found it (0
 * there, 1 absent, -1 unreadable). A record the agent does not hold (it
 * was restarted, and with it went its memory) is taken back, unless the
 * node runs as a replica (standby.signal there): a server that runs
 * without one was not started through a claim this agent knows of, and is
 * stopped again like any fenced node that comes up as a primary.
 */
PgcFenceRecordStep coord_fence_record_step(bool recorded, bool fenced_here, bool started_claimed,
					   bool runs, int standby_signal);

/*
 * Self-fencing of a primary (agent.h): with no successful etcd contact for
 * longer than 3/5 of the ttl, measured from when the last successful
 * keep-alive was sent, the agent of a primary that sees no replica
 * streaming with a reply within the reply window (coord_reply_window_ms)
 * stops it. The lease cannot expire before the ttl has passed from that
 * send time, so the stop comes first.
 */
#define COORD_FENCE_NUM 3
#define COORD_FENCE_DEN 5

/*
 * coord_self_fence_due - the rule above at now_ms (all on one clock):
 * last_ok_sent_ms is when the last successful keep-alive was sent (-1:
 * never), replica_streams whether a replica streams with a recent reply.
 */
bool coord_self_fence_due(int64_t now_ms, int64_t last_ok_sent_ms, int64_t ttl_ms,
			  bool replica_streams);

/*
 * coord_stop_step - the outcome of one signal of a fence's stop (SIGINT,
 * SIGQUIT, SIGKILL): signal_rc and signal_errno as kill() left them, gone
 * whether the pid ended within the step's wait. 1 stopped (ESRCH: it was
 * already gone), 0 not yet (send the next signal), -1 failed: the signal
 * could not be sent (EPERM, a transport error ...), the server may run on,
 * and nothing may be recorded as fenced.
 */
int coord_stop_step(int signal_rc, int signal_errno, bool gone);

/*
 * coord_would_be_primary - whether a server started on a data directory
 * comes up as a primary, from its standby.signal as host_read_file found
 * it (0 there, 1 absent, -1 unreadable): only a standby.signal that is
 * there makes a replica; one that cannot be read proves nothing, so the
 * start needs a claim.
 */
bool coord_would_be_primary(int standby_signal);

/*
 * coord_fence_watches - whether the keep-alive thread watches a node of
 * this host for self-fencing: it ran as a primary at the last pass
 * (was_primary), or a postmaster runs for it now and its standby.signal
 * is not known to be there (standby_signal as host_read_file returns: 0
 * there, 1 absent, -1 unreadable). The second holds without any pass: an
 * agent restarted while cut off from etcd has had none.
 */
bool coord_fence_watches(bool was_primary, bool postmaster_runs, int standby_signal);

/*
 * coord_reply_window_ms - how recent a replica's reply (pg_stat_replication
 * reply_time) must be to keep a primary without etcd serving: the smaller
 * of the ttl and 3/4 of failover.detect_after. The leader's partition rule
 * lets a replica that heard from the primary within detect_after block a
 * failover; a replica hears at least every detect_after/2 (pgconverge sets
 * wal_sender_timeout to detect_after, and a replica answers each
 * keep-alive at once), so a primary that keeps serving always has a
 * witness that blocks the decision, and one whose replicas went quiet
 * stops at least detect_after/4 before the leader may decide.
 */
int64_t coord_reply_window_ms(int64_t ttl_ms, int64_t detect_after_ms);

/*
 * coord_primary_gone - whether the leader may treat primary member m as
 * failed (then its libpq probes decide, for detect_after): its key expired
 * (m NULL: its host or agent is gone, and a primary cut off from etcd and
 * its replicas stopped itself within 3/5 ttl), or its agent reports it
 * down or fenced. A member that reports it running is not gone, whatever
 * the probes say: only the leader lost it. why: one phrase, owned by a.
 */
bool coord_primary_gone(PgcArena *a, const PgcMember *m, const char **why);

/*
 * coord_replica_listed - whether a walsender's application_name is one of
 * replicas, the "\n"-separated names of the cluster's other nodes (each
 * replica connects with its node's name). Only those keep a primary
 * without etcd serving: a standby cluster's leader (CLUSTER-NODE),
 * pg_basebackup or pg_receivewal stream too, but the partition rule that
 * makes serving safe counts only the cluster's replicas.
 */
bool coord_replica_listed(const char *replicas, const char *application_name);

#endif
