/*
 * reconcile/coord/agent_int.h - the agent's state, shared by its files:
 * agent.c (session, ticks, apply's filter), agent_publish.c (leadership,
 * the agent, member and primary keys),
 * agent_failover.c (the leader's failover watch and decisions, the
 * candidate's promotion), agent_fence.c (self-fencing and the claim before
 * a primary starts). Not for other modules: agent.h is the interface.
 */
#ifndef PGC_RECONCILE_COORD_AGENT_INT_H
#define PGC_RECONCILE_COORD_AGENT_INT_H

#include "reconcile/coord/coord.h"
#include "reconcile/coord/etcd.h"
#include "reconcile/ha/failover.h"

#include <pthread.h>
#include <time.h>

/* The same typedef as agent.h's (C11 allows it twice): this header is
 * self-contained without including the public one. */
typedef struct PgcCoordAgent PgcCoordAgent;

#define AG_NAME 64

/* AgWatch - a primary of this host the keep-alive thread may have to fence (copies). */
typedef struct {
	char *cluster, *node, *host, *os_user, *data_dir;
	char *conninfo;              /* the superuser's, for pg_stat_replication */
	char *replicas;              /* the cluster's other nodes, "\n"-separated: only their
				      * walsenders keep it serving (not a standby cluster's
				      * leader, nor pg_basebackup) */
	long long port;
	int64_t reply_window_ms;     /* a replica's reply this recent keeps it serving */
	bool fenced;                 /* stopped by self-fencing: the thread keeps it stopped */
	bool taken;                  /* the loop took the fence (ag_session_take_fence) */
	char reason[384];
} AgWatch;

/* AgSession - the keep-alive thread and what it shares (agent_session.c), under mu. */
typedef struct {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_mutex_t stop_mu;     /* a stop of a fenced server vs its release; before mu */
	pthread_cond_t cv;
	bool stop;
	PgcEtcdClient *etcd;         /* the thread's own client */
	int64_t ttl_ms;
	int64_t lease;               /* 0: none */
	double last_ok_sent_ms;      /* send time of the last successful keep-alive; -1 never */
	bool expired;                /* etcd said the lease is gone */
	bool failed;                 /* a keep-alive failed since the last ag_session_get */
	bool tried;                  /* etcd was tried once at least */
	bool cut;                    /* it fenced a primary since the last successful keep-alive */
	AgWatch *watch;
	size_t n_watch;
} AgSession;

/*
 * ag_cond_init_monotonic - cv waits on CLOCK_MONOTONIC (deadlines from
 * ag_deadline_in): a wall-clock step must not stall the thread. 0 or -1.
 */
int ag_cond_init_monotonic(pthread_cond_t *cv);
/* ag_deadline_in - the CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait. */
void ag_deadline_in(struct timespec *ts, int64_t ms);

/* ag_session_start - the thread, owning etcd (closed by ag_session_stop); NULL on failure. */
AgSession *ag_session_start(PgcEtcdClient *etcd, int64_t ttl_ms);
void ag_session_stop(AgSession *s);
/* ag_session_set_lease - a lease the loop was granted at sent_ms (0: none). */
void ag_session_set_lease(AgSession *s, int64_t lease, double sent_ms);
/* ag_session_tried - the loop tried etcd (self-fencing counts from then at the latest). */
void ag_session_tried(AgSession *s);
/* ag_session_get - the shared state; *failed (may be NULL) is read and cleared. */
void ag_session_get(AgSession *s, int64_t *lease, double *last_ok_sent_ms, bool *expired,
		    bool *failed);
/* ag_session_watch - the primaries to watch from now on (w and its strings taken over). */
void ag_session_watch(AgSession *s, AgWatch *w, size_t n);
/*
 * ag_session_take_fence - true once when the thread fenced node; its reason
 * copied. The entry stays, fenced: the thread keeps that node stopped (a
 * server that comes up for it without standby.signal is stopped again)
 * until ag_session_release.
 */
bool ag_session_take_fence(AgSession *s, const char *cluster, const char *node, char *reason,
			   size_t len);
/* ag_session_cut - the thread fenced a primary and etcd has not answered since: no session. */
bool ag_session_cut(AgSession *s);
/*
 * ag_session_release - node is no longer kept stopped (its claim passed):
 * returns once no stop of it is under way, so that a start that follows is
 * not stopped.
 */
void ag_session_release(AgSession *s, const char *cluster, const char *node);

/* AgCluster - one cluster with a node on this host. */
typedef struct {
	char name[AG_NAME];
	bool present;                /* in the last topology, with a node here */
	int64_t token;               /* create_revision of our P/C/leader; 0: not leading */
	char leader[256];            /* the leader as last read, "" none */
	/* The last read of P/C/ (snapshot_read): strings in snap. */
	PgcArena *snap;
	PgcEtcdKv *kvs;
	size_t n_kvs;
	bool snap_ok;
	int64_t snap_rev;            /* the store's revision at that read (0 unknown) */
	/* The leader's watch of the primary. */
	char primary[AG_NAME];
	PgcProbeState st;
	int64_t next_probe_ms;
	int64_t probe_decision_rev; /* the decision's mod_revision the probe history began after */
	PgcHaVerdict verdict;
	char reason[768];
	int64_t logged_ms;
	int64_t last_failover_ms;    /* clock_ms() of the last decision; -1 none */
	int64_t promote_retry_ms;    /* a promotion here failed: not again before */
	int promote_failures;        /* failed promotions for the decision in progress */
	char seen_primary[AG_NAME];  /* the primary etcd named at the last tick ("" not yet) */
} AgCluster;

/* AgNode - one node on this host. */
typedef struct {
	char cluster[AG_NAME];
	char node[AG_NAME];
	bool present;
	bool was_primary;            /* it ran as a primary at the last look */
	bool fenced;                 /* stopped by self-fencing: kept stopped */
	bool fenced_recorded;        /* P/C/fenced/NODE written */
	char fence_reason[640];
	char *member;                /* the last member value published (JSON text) */
	char *member_state;          /* the same without reported_at: unchanged, not put again */
	int64_t member_lease;        /* the lease it was put under */
	int claim;                   /* this pass: 1 start claimed, -1 refused, 0 not asked */
} AgNode;

struct PgcCoordAgent {
	char *self, *state_dir, *version, *only_cluster;
	char *cfg_id;                /* what the open client was made from */
	char *bad_cfg_id;            /* newer settings that did not work (the old session goes on) */
	double next_reconfig_ms;     /* when to try bad_cfg_id again */
	PgcEtcdClient *etcd;
	char *prefix;
	int64_t ttl_ms;
	AgSession *sess;             /* the keep-alive thread; NULL until configured */
	int64_t lease;               /* the loop's copy of the session's lease; 0: none */
	double next_grant_ms;        /* no lease: the next try */
	bool lost_logged;            /* "no etcd contact" said once */
	bool skip_logged;            /* "acting on nothing" said once */
	bool was_in_session;
	char started_at[40];
	AgCluster **cl;
	size_t n_cl;
	AgNode **nodes;
	size_t n_nodes;
	const PgcTopology *pass_t;   /* the pass's topology, for coord_agent_mine */
};

/* Local checks between passes (a down primary, self-fencing), this often at most. */
#define AG_LOCAL_CHECK_MS 500

AgCluster *ag_cluster(PgcCoordAgent *ag, const char *name);
AgNode *ag_node(PgcCoordAgent *ag, const char *cluster, const char *node);

/* ag_snapshot - P/C/ read into c's snapshot; 0, or -1 (c->snap_ok false). */
int ag_snapshot(PgcCoordAgent *ag, AgCluster *c);
/* ag_snap_get - a key of c's snapshot by its full name; NULL absent. */
const PgcEtcdKv *ag_snap_get(const AgCluster *c, const char *key);
/* ag_snap_member - member node of c's snapshot parsed into m (a); NULL when absent. */
const PgcEtcdKv *ag_snap_member(PgcCoordAgent *ag, const AgCluster *c, PgcArena *a,
				const char *node, PgcMember *m);
/* ag_snap_decision - the decision of c's snapshot into d; its kv, NULL when none. */
const PgcEtcdKv *ag_snap_decision(PgcCoordAgent *ag, const AgCluster *c, PgcArena *a,
				  PgcDecision *d);
/* ag_other_primary - another member than node reports a primary (running); its name. */
const char *ag_other_primary(PgcCoordAgent *ag, const AgCluster *c, PgcArena *a,
			     const char *node);

/* ag_mark_present - marks the clusters and nodes of t on this host present, the others not. */
void ag_mark_present(PgcCoordAgent *ag, const PgcTopology *t);

/* agent_publish.c */
/*
 * ag_lead - keeps or takes the leadership of c (its snapshot is fresh):
 * c->token is the leader key's create_revision while this agent leads, 0
 * otherwise; c->leader the leader as read.
 */
void ag_lead(PgcCoordAgent *ag, AgCluster *c);
/* ag_put_member - puts node's member value under the lease (kept for re-publishing). */
int ag_put_member(PgcCoordAgent *ag, AgNode *n, const PgcMember *m);
/* ag_republish - the agent key and the last member values, under a new lease. */
void ag_republish(PgcCoordAgent *ag);

/* agent_failover.c */
bool ag_leader_tick(PgcCoordAgent *ag, const PgcTopology *t, const PgcCluster *c, AgCluster *ac);
bool ag_candidate_tick(PgcCoordAgent *ag, const PgcTopology *t, const PgcCluster *c,
		       AgCluster *ac);

/* agent_switchover.c */
/* ag_switchover_attach, _detach - the loop's agent, for coord_switchover_apply(). */
void ag_switchover_attach(PgcCoordAgent *ag);
void ag_switchover_detach(PgcCoordAgent *ag);
/*
 * ag_switchover_tick - a switchover decision of c (its snapshot): this
 * agent's part for its own nodes, and the leader's marks. true when it
 * acted (a pass is due).
 */
bool ag_switchover_tick(PgcCoordAgent *ag, const PgcTopology *t, const PgcCluster *c,
			AgCluster *ac);

/* agent_fence.c */
/* ag_is_self - host is this agent's (--as HOST; without it, this machine's). */
bool ag_is_self(const PgcCoordAgent *ag, const char *host);
/* ag_unfence - a fenced node runs again (as the primary, or rejoined): its record goes. */
void ag_unfence(PgcCoordAgent *ag, AgNode *an, const char *how);
bool ag_local_tick(PgcCoordAgent *ag, const PgcTopology *t);
/*
 * ag_claim_start - the claim before node n of c starts as a primary; true
 * when it may start (claimed), false when refused (logged).
 */
bool ag_claim_start(PgcCoordAgent *ag, const PgcCluster *c, const PgcNode *n);
/* ag_would_be_primary - node n (on this host) has no standby.signal. */
bool ag_would_be_primary(const PgcCluster *c, const PgcNode *n);

#endif
