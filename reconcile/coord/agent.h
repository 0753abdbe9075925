/*
 * reconcile/coord/agent.h - the agent of one host in a coordinated topology
 * (coordination.etcd): `pgconverge reconcile --as HOST` keeps one
 * PgcCoordAgent for its whole life. The keys it reads and writes are in
 * coord.h.
 *
 * Session. The agent holds one etcd lease (ttl = coordination.etcd.ttl),
 * renewed every ttl/5 from the loop's ticks between passes. Its session is
 * live while the lease is: from the send time of the last successful
 * keep-alive for less than the ttl (etcd cannot expire it sooner), and not
 * reported expired. Without a session the agent acts on nothing: the pass
 * applies nothing (the loop skips it, logged once) and the ticks go on
 * trying. A new lease re-publishes everything the old one carried.
 *
 * Publishing. After each pass, P/agents/HOST and P/C/members/NODE of this
 * host's nodes (from the pass's observation), under the lease; between
 * passes, a node of this host that was a primary and whose postmaster is
 * gone is published down at once (its agent confirms it locally: the
 * leader does not wait for the lease).
 *
 * Leadership. For each cluster with a node on this host the agent tries to
 * create P/C/leader under its lease (a transaction: create_revision == 0).
 * The one that created it leads until its lease goes; the key's
 * create_revision is its fencing token, compared by every write it makes.
 * The leader carries out the cluster-wide actions (runs_on NULL), every
 * agent the actions of its own host, the create-slot of a replica on its
 * host (that replica's clone waits for it, and the leader's plan has it
 * only once the replica runs) and the reload of its own nodes (it follows
 * their configuration files, which only it sees): coord_agent_mine() is
 * apply's filter.
 *
 * Failover (failover.mode auto), by the leader: every agent probes the
 * primary (libpq) every failover.probe_interval, so that a new leader has
 * the probe history at once, and the leader decides. The primary is failed when its
 * member key expired or its agent reports it down or fenced
 * (coord_primary_gone), and its probes failed for detect_after (when the
 * member key goes, on the probes so far: no wait for the next one); then
 * failover_evaluate() decides as it does without coordination (partition
 * rule, synchronous standbys, most WAL, region, anti-flap), with the last
 * view of the primary from P/C/primary. The decision is written first
 * (P/C/decision, state decided: a transaction comparing the leader key's
 * create_revision with the token, the old primary's member key's
 * mod_revision with the one evaluated, and the decision key's), then the
 * candidate's agent promotes it (promote_run, on its own host) and marks it
 * promoted (a mark that failed is retried without promoting again, and the
 * leader marks it once the candidate's member reports a primary); the
 * other agents' passes re-point their replicas from the
 * servers; the old primary rejoins through the planner's rejoin when its
 * host returns, and the leader marks the decision done once it runs as a
 * replica. A new leader re-stamps a decision left decided with its token.
 * A decision whose candidate fails to promote COORD_PROMOTE_ATTEMPTS times
 * is marked abandoned by the candidate's agent (a transaction on the
 * decision's mod_revision; nothing held back any more); one whose
 * candidate's agent is unreachable stays decided (no second failover
 * meanwhile) until it comes back or an operator deletes it: the leader
 * cannot tell whether a candidate it cannot reach promoted.
 *
 * Switchover (ACT_SWITCHOVER, cluster-wide: the leader's;
 * agent_switchover.c). The leader's executor (coord_switchover_apply,
 * chosen by registry.c when the topology has coordination) checks that the
 * target streams from the primary and is caught up (switchover_check),
 * writes P/C/decision {kind switchover, state stopping} under its token
 * (compared with the decision key as read), then waits, bounded, for the
 * outcome. Each agent's ticks carry out its own node's part
 * (coord_switchover_part): the old primary's agent runs CHECKPOINT and a
 * fast stop and writes the shutdown checkpoint (stopped, a transaction on
 * the decision's mod_revision); the target's agent waits until it replayed
 * past it, promotes it (promote_run, local_only) and marks it promoted
 * with the time of its first commit. The leader's wait runs this agent's
 * own part too (the leader's tick does not run while its pass is in the
 * executor), and ends once the decision is promoted, or the target
 * answers as a primary (its first commit may need the old primary, on
 * this host, to stream again: the next pass rejoins it). Before the
 * promotion, a failure (stop, replay within 60 s, promotion) marks it
 * abandoned with why; the old primary's agent then starts it again after
 * a claim; the leader abandons one still stopping after 90 s whose old
 * primary's member still reports a running primary. Later states as for
 * a failover (promoted -> done by the leader). No failover is decided
 * while a decision is in progress (coord_decision_in_progress), and the
 * old primary is held back from decided/stopping to promoted.
 *
 * Starting a primary. An agent starts, restarts (pg_ctl restart starts a
 * stopped server) or restores a node of its own that would come up as a
 * primary (no standby.signal, or one it cannot read: coord_would_be_primary)
 * only after a claim (coord_start_rule): a transaction that compares the
 * decision key's, P/C/primary's and every other member key's revisions with
 * what it read and sets its member to starting. The leader's decision
 * compares that member key too, so one of the two transactions fails: a
 * decision and a start never overtake each other. No claim is made while a
 * decision holds the node back (coord_decision_holds_back), another member
 * reports a primary, P/C/primary names another node
 * (coord_view_holds_back) or names this one on a later timeline than its
 * control file's (a promotion came after its data), or the node is
 * recorded fenced and its agent does not hold that fence
 * (coord_claim_refusal). A self-fenced node is never started as a primary
 * by a pass.
 *
 * Self-fencing. A primary of this host (one at the last pass, or any node
 * whose server runs without standby.signal: an agent restarted without
 * etcd has had no pass; coord_fence_watches) whose agent had no successful etcd
 * contact for longer than 3/5 of the ttl (from the send time of its last
 * successful keep-alive) and that has no replica streaming with a reply
 * within coord_reply_window_ms() (pg_stat_replication; only the cluster's
 * own nodes, coord_replica_listed) is stopped by the
 * keep-alive thread, with the signals pg_ctl stop sends: SIGINT (a fast
 * shutdown) for 1 s, SIGQUIT (immediate) for 1 s, then SIGKILL; a stop it
 * cannot confirm (coord_stop_step) is no fence and is tried again. It stops, it does not
 * demote — PostgreSQL cannot turn a primary into a standby without a
 * restart, and a standby needs an upstream this host cannot reach. The
 * stop ends before the lease can expire, so by the time the leader sees
 * the member key gone the server takes no writes. From the fence until etcd
 * answers, the session is over (no pass applies anything) and the thread
 * keeps the node stopped: a server that comes up for it without
 * standby.signal is stopped again; only the claimed start below (which
 * releases it first) or a rejoin as a replica runs it. Once etcd answers again
 * the agent records P/C/fenced/NODE, and starts the node again as the
 * primary (a claim) when no decision holds it back and no other member is
 * a primary; when a decision names another node, the planner rejoins it.
 * The record outlives the agent's memory: an agent started anew takes the
 * fence of a node recorded in P/C/fenced/NODE back at its first tick in
 * session, before any pass (coord_fence_record_step), and holds it as if
 * it had fenced the node itself, unless the node runs as a replica (the
 * record goes). A server that runs for it without standby.signal is
 * stopped again: this agent knows of no claim that started it.
 *
 * Not thread-safe; the loop's thread only. The topology t given to each
 * call is borrowed for the call.
 */
#ifndef PGC_RECONCILE_COORD_AGENT_H
#define PGC_RECONCILE_COORD_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "reconcile/engine/exec.h"
#include "reconcile/engine/plan.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

typedef struct PgcCoordAgent PgcCoordAgent;

typedef struct {
	const char *self;             /* the host value of this agent's nodes (--as) */
	const char *state_dir;        /* the journal of failovers */
	const char *version;          /* for P/agents/HOST */
	const char *only_cluster;     /* --cluster; NULL: every cluster */
} PgcCoordAgentConfig;

/* coord_agent_new - an agent with no etcd contact yet; everything copied. */
PgcCoordAgent *coord_agent_new(const PgcCoordAgentConfig *cfg);

/* coord_agent_free - revokes the lease when it can (its keys go at once), frees. */
void coord_agent_free(PgcCoordAgent *ag);

/*
 * coord_agent_tick - what is due now: the lease (grant, keep-alive), the
 * leadership of each cluster, the failover watch of the clusters it leads,
 * a decision naming one of its nodes, self-fencing, a down primary of its
 * own. t: the last topology that loaded (coordination.etcd set). true when
 * a pass is due now (the session came back, a node was promoted or
 * stopped here, or etcd names another primary of a cluster with another
 * node here: its replicas follow it now, not at the next --interval).
 */
bool coord_agent_tick(PgcCoordAgent *ag, const PgcTopology *t, const volatile sig_atomic_t *stop);

/* coord_agent_next_tick_in - ms until coord_agent_tick() has something due. */
int64_t coord_agent_next_tick_in(const PgcCoordAgent *ag, const PgcTopology *t);

/*
 * coord_agent_wait - waits up to ms between ticks, less when a key of its
 * clusters changes in etcd after its last reads (a watch: a member that
 * goes down or expires, a decision, a new leader). 1 a key changed, 0
 * nothing did in ms, -1 no watch (no session, no read yet, etcd does not
 * answer): the caller waits itself.
 */
int coord_agent_wait(PgcCoordAgent *ag, const PgcTopology *t, int64_t ms);

/*
 * coord_agent_before_pass - a tick with t (a new topology may name other
 * endpoints), then whether the pass may apply anything: false without a
 * live session (logged once until it comes back).
 */
bool coord_agent_before_pass(PgcCoordAgent *ag, const PgcTopology *t);

/*
 * coord_agent_mine - apply's filter: whether this agent carries action act
 * out (coord_action_mine, plus the claim before a start that would bring a
 * primary up). arg: the PgcCoordAgent. Reports nothing for a plain "not
 * mine"; a refused claim is logged.
 */
bool coord_agent_mine(const PgcAction *act, void *arg);

/*
 * coord_agent_after_pass - publishes this host's members and P/agents/HOST
 * from the pass's observation obs (may be NULL: nothing), and, for the
 * clusters it leads, P/C/primary.
 */
void coord_agent_after_pass(PgcCoordAgent *ag, const PgcTopology *t, const PgcObserved *obs);

/* coord_agent_in_session - the lease is live now. */
bool coord_agent_in_session(const PgcCoordAgent *ag);

/* coord_agent_leads - this agent leads cluster now (and is in session). */
bool coord_agent_leads(const PgcCoordAgent *ag, const char *cluster);

/*
 * coord_agent_status_json - {self, session, lease, clusters: {C: {leader,
 * decision}}} for status.json; caller owns it.
 */
json_t *coord_agent_status_json(const PgcCoordAgent *ag);

/*
 * coord_switchover_apply - ACT_SWITCHOVER's executor with coordination
 * (registry.c): on the leader, checks that the target streams and is
 * caught up, writes the switchover decision (state stopping) under its
 * token and waits, bounded, until it is promoted (0) or abandoned (-1,
 * rolled back), carrying out this agent's own part meanwhile. Outside an
 * agent's loop (`apply`), or on another agent than the leader, it refuses.
 */
int coord_switchover_apply(PgcExecCtx *ctx);

#endif