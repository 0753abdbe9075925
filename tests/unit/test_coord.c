/*
 * tests/unit/test_coord.c - the etcd keys of coordinated agents, their JSON
 * values, and the agents' pure rules (reconcile/coord/coord.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/clock.h"
#include "reconcile/coord/agent_int.h"
#include "reconcile/coord/coord.h"

static void test_keys(void **state)
{
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(coord_key_agent(a, "/pgc", "10.0.0.1"), "/pgc/agents/10.0.0.1");
	assert_string_equal(coord_key_cluster(a, "/pgc", "main"), "/pgc/main/");
	assert_string_equal(coord_key_leader(a, "/pgc", "main"), "/pgc/main/leader");
	assert_string_equal(coord_key_primary(a, "/pgc", "main"), "/pgc/main/primary");
	assert_string_equal(coord_key_decision(a, "/pgc", "main"), "/pgc/main/decision");
	assert_string_equal(coord_key_member(a, "/pgc", "main", "n1"), "/pgc/main/members/n1");
	assert_string_equal(coord_key_fenced(a, "/pgc", "main", "n1"), "/pgc/main/fenced/n1");
	arena_free(a);
}

static void test_member_round_trip(void **state)
{
	PgcArena *a = arena_new();
	PgcMember m = {.node = "n2", .host = "127.0.0.3", .role = MEMBER_REPLICA, .running = true,
		       .timeline = 3, .lsn = "0/3000148", .receiver = "streaming",
		       .upstream = "127.0.0.2:5432", .last_msg_age_ms = 120,
		       .reported_at = "2026-12-07T17:00:00.000Z"};
	PgcMember back;
	json_t *j = coord_member_json(&m);
	char *text = json_dumps(j, JSON_COMPACT);

	(void)state;
	assert_int_equal(coord_member_parse(a, "n2", text, &back), 0);
	assert_string_equal(back.node, "n2");
	assert_string_equal(back.host, "127.0.0.3");
	assert_int_equal(back.role, MEMBER_REPLICA);
	assert_true(back.running);
	assert_int_equal(back.timeline, 3);
	assert_string_equal(back.lsn, "0/3000148");
	assert_string_equal(back.receiver, "streaming");
	assert_string_equal(back.upstream, "127.0.0.2:5432");
	assert_int_equal(back.last_msg_age_ms, 120);
	assert_int_equal(coord_member_parse(a, "n2", "not json", &back), -1);
	assert_int_equal(coord_member_parse(a, "n2", "[1]", &back), -1);
	free(text);
	json_decref(j);
	arena_free(a);
}

static void test_member_from_observed(void **state)
{
	PgcArena *a = arena_new();
	PgcNode n = {.name = "n1", .host = {.v = "127.0.0.2", .set = true}};
	PgcObsNode o = {.name = "n1", .local = true, .reachable = true, .in_recovery = false,
			.current_lsn = "0/5000000", .timeline = 2, .wal_receiver_last_msg_age_s = -1};
	PgcMember m;

	(void)state;
	coord_member_from_observed(a, &n, &o, false, "now", &m);
	assert_int_equal(m.role, MEMBER_PRIMARY);
	assert_string_equal(m.lsn, "0/5000000");
	assert_true(m.running);

	o.in_recovery = true;
	o.receive_lsn = "0/4000000";
	o.replay_lsn = "0/3000000";
	o.wal_receiver_status = "streaming";
	o.upstream_host = "127.0.0.3";
	o.upstream_port = 5433;
	o.wal_receiver_last_msg_age_s = 0.25;
	coord_member_from_observed(a, &n, &o, false, "now", &m);
	assert_int_equal(m.role, MEMBER_REPLICA);
	assert_string_equal(m.lsn, "0/4000000");
	assert_string_equal(m.upstream, "127.0.0.3:5433");
	assert_int_equal(m.last_msg_age_ms, 250);

	o.reachable = false;
	o.postmaster_alive = false;
	coord_member_from_observed(a, &n, &o, false, "now", &m);
	assert_int_equal(m.role, MEMBER_DOWN);
	assert_false(m.running);
	coord_member_from_observed(a, &n, &o, true, "now", &m);
	assert_int_equal(m.role, MEMBER_FENCED);

	/* A postmaster that does not answer yet is neither down nor a primary. */
	o.postmaster_alive = true;
	coord_member_from_observed(a, &n, &o, false, "now", &m);
	assert_int_equal(m.role, MEMBER_UNKNOWN);
	assert_true(m.running);
	arena_free(a);
}

static void test_primary_view(void **state)
{
	PgcArena *a = arena_new();
	PgcObsReplica reps[2] = {{.application_name = "n2", .sync_state = "sync"},
				 {.application_name = "n3", .sync_state = "async"}};
	PgcPrimaryView v = {.primary = "n1", .current_lsn = "0/6000000", .timeline = 4,
			    .replicas = reps, .n_replicas = 2};
	PgcPrimaryView back;
	json_t *j = coord_primary_json(&v, "2026-12-07T17:00:00.000Z");
	char *text = json_dumps(j, JSON_COMPACT);

	(void)state;
	assert_int_equal(coord_primary_parse(a, text, &back), 0);
	assert_string_equal(back.primary, "n1");
	assert_string_equal(back.current_lsn, "0/6000000");
	assert_int_equal(back.timeline, 4);
	assert_int_equal(back.n_replicas, 2);
	assert_string_equal(back.replicas[0].application_name, "n2");
	assert_string_equal(back.replicas[0].sync_state, "sync");
	assert_string_equal(back.seen_at, "2026-12-07T17:00:00.000Z");
	assert_int_equal(coord_primary_parse(a, "{}", &back), -1);
	free(text);
	json_decref(j);
	arena_free(a);
}

static void test_decision(void **state)
{
	PgcArena *a = arena_new();
	PgcDecision d = {"failover", "n1", "n2", 42, "127.0.0.3", DECISION_DECIDED, "now",
			 NULL, NULL, NULL, NULL};
	PgcDecision back;
	json_t *j = coord_decision_json(&d);
	char *text = json_dumps(j, JSON_COMPACT);

	(void)state;
	assert_int_equal(coord_decision_parse(a, text, &back), 0);
	assert_string_equal(back.kind, "failover");
	assert_string_equal(back.from, "n1");
	assert_string_equal(back.to, "n2");
	assert_int_equal(back.token, 42);
	assert_int_equal(back.state, DECISION_DECIDED);
	assert_string_equal(coord_decision_state_name(back.state), "decided");
	assert_int_equal(coord_decision_parse(a, "{\"from\":\"a\",\"to\":\"b\",\"state\":\"odd\"}",
					      &back), -1);

	/* Decided or promoted in favour of another node: n1 does not run as a primary. */
	assert_true(coord_decision_holds_back(&d, "n1"));
	assert_false(coord_decision_holds_back(&d, "n2"));
	d.state = DECISION_PROMOTED;
	assert_true(coord_decision_holds_back(&d, "n1"));
	d.state = DECISION_DONE;
	assert_false(coord_decision_holds_back(&d, "n1"));
	d.state = DECISION_ABANDONED;
	assert_false(coord_decision_holds_back(&d, "n1"));
	assert_false(coord_decision_holds_back(NULL, "n1"));
	free(text);
	json_decref(j);
	arena_free(a);
}

static void test_view_holds_back(void **state)
{
	PgcPrimaryView v = {.primary = "n2", .timeline = 3};

	(void)state;
	/* The leader last saw another primary: no start as a primary here. */
	assert_true(coord_view_holds_back(&v, "n1"));
	/* Itself, or no view yet (a new cluster): nothing holds it back. */
	assert_false(coord_view_holds_back(&v, "n2"));
	v.primary = NULL;
	assert_false(coord_view_holds_back(&v, "n1"));
	assert_false(coord_view_holds_back(NULL, "n1"));
}

static void test_action_mine(void **state)
{
	(void)state;
	/* Without a session, nothing. */
	assert_false(coord_action_mine("h1", "h1", false, true));
	assert_false(coord_action_mine(NULL, "h1", false, true));
	/* Cluster-wide work: the leader's. */
	assert_true(coord_action_mine(NULL, "h1", true, true));
	assert_false(coord_action_mine(NULL, "h1", true, false));
	/* A host's work: that host's, leader or not. */
	assert_true(coord_action_mine("h1", "h1", true, false));
	assert_false(coord_action_mine("h2", "h1", true, true));
}

static void test_start_rule(void **state)
{
	(void)state;
	/* Whatever can start a server that comes up as a primary needs a claim:
	 * pg_ctl restart starts a server a fence stopped meanwhile. */
	assert_int_equal(coord_start_rule(ACT_START, false, false), COORD_START_CLAIM);
	assert_int_equal(coord_start_rule(ACT_RESTART, false, false), COORD_START_CLAIM);
	assert_int_equal(coord_start_rule(ACT_RESTORE, false, false), COORD_START_CLAIM);
	/* A self-fenced node is never started as a primary by a pass. */
	assert_int_equal(coord_start_rule(ACT_START, false, true), COORD_START_REFUSED);
	assert_int_equal(coord_start_rule(ACT_RESTART, false, true), COORD_START_REFUSED);
	/* A replica's start, or what starts nothing, is free (a fenced node rejoins). */
	assert_int_equal(coord_start_rule(ACT_START, true, true), COORD_START_FREE);
	assert_int_equal(coord_start_rule(ACT_RESTART, true, false), COORD_START_FREE);
	assert_int_equal(coord_start_rule(ACT_RELOAD, false, true), COORD_START_FREE);
	assert_int_equal(coord_start_rule(ACT_REJOIN, false, true), COORD_START_FREE);
}

static void test_self_fence_due(void **state)
{
	(void)state;
	/* 3/5 of a 10 s ttl: 6 s after the last successful keep-alive was sent. */
	assert_false(coord_self_fence_due(6000, 0, 10000, false));
	assert_true(coord_self_fence_due(6001, 0, 10000, false));
	/* A replica that streams keeps it serving through an etcd outage. */
	assert_false(coord_self_fence_due(60000, 0, 10000, true));
	/* Never in contact: nothing vouches for it. */
	assert_true(coord_self_fence_due(1, -1, 10000, false));
	/* A reply must be younger than the leader's partition rule needs it. */
	assert_int_equal(coord_reply_window_ms(10000, 2000), 1500);
	assert_int_equal(coord_reply_window_ms(4000, 30000), 4000);
}

static void test_stop_step(void **state)
{
	(void)state;
	/* Sent, and the server ended within the wait: stopped. */
	assert_int_equal(coord_stop_step(0, 0, true), 1);
	/* Sent, still running: the next signal. */
	assert_int_equal(coord_stop_step(0, 0, false), 0);
	/* No such process: it was gone already. */
	assert_int_equal(coord_stop_step(-1, ESRCH, false), 1);
	/* Any other failure to signal is no stop: it may run on. */
	assert_int_equal(coord_stop_step(-1, EPERM, false), -1);
	assert_int_equal(coord_stop_step(-1, EIO, false), -1);
}

static void test_would_be_primary(void **state)
{
	(void)state;
	/* Only a standby.signal that is there makes a replica. */
	assert_false(coord_would_be_primary(0));
	assert_true(coord_would_be_primary(1));
	/* Unreadable: a start needs a claim, as a primary's does. */
	assert_true(coord_would_be_primary(-1));
}

static void test_fence_watches(void **state)
{
	(void)state;
	/* A primary at the last pass. */
	assert_true(coord_fence_watches(true, false, 1));
	/* No pass yet (an agent restarted without etcd): a running server without
	 * standby.signal, or whose standby.signal cannot be read, is watched. */
	assert_true(coord_fence_watches(false, true, 1));
	assert_true(coord_fence_watches(false, true, -1));
	/* A running replica, or no server at all, is not. */
	assert_false(coord_fence_watches(false, true, 0));
	assert_false(coord_fence_watches(false, false, 1));
}

static void test_primary_gone(void **state)
{
	PgcArena *a = arena_new();
	PgcMember m = {.node = "n1", .role = MEMBER_PRIMARY, .running = true};
	const char *why;

	(void)state;
	assert_true(coord_primary_gone(a, NULL, &why));
	assert_non_null(strstr(why, "expired"));
	assert_false(coord_primary_gone(a, &m, &why));
	assert_non_null(strstr(why, "primary and running"));
	m.role = MEMBER_STARTING;
	assert_false(coord_primary_gone(a, &m, &why));
	m.role = MEMBER_DOWN;
	m.running = false;
	assert_true(coord_primary_gone(a, &m, &why));
	assert_string_equal(why, "its agent reports it down");
	m.role = MEMBER_FENCED;
	assert_true(coord_primary_gone(a, &m, &why));
	arena_free(a);
}

/*
 * A decision moves on from what etcd shows: decided becomes promoted once
 * the candidate reports a primary, even when its agent's own mark was lost.
 */
static void test_decision_next(void **state)
{
	PgcDecision d = {"failover", "n1", "n2", 42, "h3", DECISION_DECIDED, "now",
			 NULL, NULL, NULL, NULL};
	PgcMember to = {.node = "n2", .role = MEMBER_REPLICA, .running = true};
	PgcMember from = {.node = "n1", .role = MEMBER_DOWN};

	(void)state;
	assert_int_equal(coord_decision_next(NULL, NULL, NULL, 0), DECISION_NONE);
	assert_int_equal(coord_decision_next(&d, NULL, NULL, 0), DECISION_DECIDED);
	assert_int_equal(coord_decision_next(&d, &to, &from, 0), DECISION_DECIDED);
	to.role = MEMBER_PRIMARY;
	assert_int_equal(coord_decision_next(&d, &to, &from, 0), DECISION_PROMOTED);
	/* A primary that is not running is no proof of a promotion. */
	to.running = false;
	assert_int_equal(coord_decision_next(&d, &to, &from, 0), DECISION_DECIDED);
	to.running = true;
	/* A candidate that cannot promote: abandoned after COORD_PROMOTE_ATTEMPTS ... */
	to.role = MEMBER_REPLICA;
	assert_int_equal(coord_decision_next(&d, &to, &from, COORD_PROMOTE_ATTEMPTS - 1),
			 DECISION_DECIDED);
	assert_int_equal(coord_decision_next(&d, &to, &from, COORD_PROMOTE_ATTEMPTS),
			 DECISION_ABANDONED);
	assert_int_equal(coord_decision_next(&d, NULL, NULL, COORD_PROMOTE_ATTEMPTS),
			 DECISION_ABANDONED);
	/* ... unless it reports a primary after all; and abandoned holds nothing back. */
	to.role = MEMBER_PRIMARY;
	assert_int_equal(coord_decision_next(&d, &to, &from, COORD_PROMOTE_ATTEMPTS),
			 DECISION_PROMOTED);
	d.state = DECISION_ABANDONED;
	assert_int_equal(coord_decision_next(&d, &to, &from, COORD_PROMOTE_ATTEMPTS),
			 DECISION_ABANDONED);
	assert_false(coord_decision_holds_back(&d, "n1"));
	/* promoted: done once the old primary runs as a replica. */
	d.state = DECISION_PROMOTED;
	assert_int_equal(coord_decision_next(&d, &to, &from, 0), DECISION_PROMOTED);
	from.role = MEMBER_REPLICA;
	assert_int_equal(coord_decision_next(&d, &to, &from, 0), DECISION_DONE);
	d.state = DECISION_DONE;
	assert_int_equal(coord_decision_next(&d, &to, &from, 0), DECISION_DONE);
}

/* A new leader's anti-flap history comes from the decision's `at`. */
static void test_decision_age(void **state)
{
	/* 2026-12-07T17:00:00.250Z */
	int64_t at_ms = 1796662800000LL + 250;

	(void)state;
	assert_int_equal(coord_decision_age_ms("2026-12-07T17:00:00.250Z", at_ms + 90000), 90000);
	assert_int_equal(coord_decision_age_ms("2026-12-07T17:00:00Z", at_ms - 250 + 1000), 1000);
	/* Ahead of this host's clock: no age, not a negative one. */
	assert_int_equal(coord_decision_age_ms("2026-12-07T17:00:00.250Z", at_ms - 5000), 0);
	assert_int_equal(coord_decision_age_ms(NULL, at_ms), -1);
	assert_int_equal(coord_decision_age_ms("yesterday", at_ms), -1);
}

/* A new ttl is a new lease: the session's settings include it. */
static void test_etcd_config_id(void **state)
{
	PgcArena *a = arena_new();
	PgcStr eps[1] = {{.v = "http://127.0.0.1:2379", .set = true}};
	PgcEtcd e = {.set = true};
	const char *id10, *id30;

	(void)state;
	e.endpoints.items = eps;
	e.endpoints.n = 1;
	e.user.v = "pgc";
	e.password.kind = SECRET_ENV;
	e.password.ref = "ETCD_PASSWORD";
	id10 = coord_etcd_config_id(a, &e, 10000);
	id30 = coord_etcd_config_id(a, &e, 30000);
	assert_string_not_equal(id10, id30);
	assert_string_equal(id10, coord_etcd_config_id(a, &e, 10000));
	/* The password's reference only, never a value. */
	assert_non_null(strstr(id10, "ETCD_PASSWORD"));
	eps[0].v = "http://127.0.0.1:2380";
	assert_string_not_equal(id10, coord_etcd_config_id(a, &e, 10000));
	arena_free(a);
}

/*
 * The keep-alive thread's wait runs on the monotonic clock: a deadline 150 ms
 * ahead on CLOCK_MONOTONIC is waited out (on a wall-clock condvar it would
 * lie decades in the past and return at once), so a wall-clock step back
 * cannot stall keep-alives and self-fencing.
 */
static void test_session_wait_monotonic(void **state)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv;
	struct timespec ts;
	double t0;
	int rc;

	(void)state;
	assert_int_equal(ag_cond_init_monotonic(&cv), 0);
	pthread_mutex_lock(&mu);
	t0 = clock_ms();
	ag_deadline_in(&ts, 150);
	do
		rc = pthread_cond_timedwait(&cv, &mu, &ts);
	while (rc == 0); /* a spurious wake-up */
	assert_true(clock_ms() - t0 >= 140);
	assert_true(clock_ms() - t0 < 5000);
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&cv);
}

/*
 * A switchover's decision: its progress round-trips (a failover's value
 * keeps its shape), stopping and stopped hold the old primary back and
 * block other decisions, and each agent's part follows from the state.
 */
static void test_switchover_decision(void **state)
{
	PgcArena *a = arena_new();
	PgcDecision d = {.kind = "switchover", .from = "n1", .to = "n2", .token = 7,
			 .leader = "h1", .state = DECISION_STOPPED, .at = "now",
			 .checkpoint = "0/3000028", .stopped_at = "2026-12-07T10:00:00.000Z",
			 .writable_at = "2026-12-07T10:00:01.250Z"};
	PgcDecision f = {.kind = "failover", .from = "n1", .to = "n2", .token = 7,
			 .state = DECISION_DECIDED};
	PgcDecision back;
	json_t *j = coord_decision_json(&d), *jf = coord_decision_json(&f);
	char *text = json_dumps(j, JSON_COMPACT);

	(void)state;
	assert_int_equal(coord_decision_parse(a, text, &back), 0);
	assert_string_equal(back.kind, "switchover");
	assert_int_equal(back.state, DECISION_STOPPED);
	assert_string_equal(coord_decision_state_name(back.state), "stopped");
	assert_string_equal(back.checkpoint, "0/3000028");
	assert_string_equal(back.stopped_at, "2026-12-07T10:00:00.000Z");
	assert_string_equal(back.writable_at, "2026-12-07T10:00:01.250Z");
	assert_null(back.why);
	assert_int_equal(coord_decision_parse(a, "{\"kind\":\"switchover\",\"from\":\"a\","
					      "\"to\":\"b\",\"state\":\"stopping\"}", &back), 0);
	assert_int_equal(back.state, DECISION_STOPPING);
	assert_null(json_object_get(jf, "checkpoint"));
	assert_null(json_object_get(jf, "why"));
	assert_int_equal(json_object_size(jf), 7);

	/* From the decision until the promotion, n1 does not start as a primary,
	 * and nothing else is decided. */
	for (int s = DECISION_STOPPING; s <= DECISION_STOPPED; s++) {
		d.state = (PgcDecisionState)s;
		assert_true(coord_decision_holds_back(&d, "n1"));
		assert_false(coord_decision_holds_back(&d, "n2"));
		assert_true(coord_decision_in_progress(&d));
	}
	assert_true(coord_decision_in_progress(&f));
	d.state = DECISION_PROMOTED;
	assert_false(coord_decision_in_progress(&d));
	assert_true(coord_decision_holds_back(&d, "n1"));
	d.state = DECISION_ABANDONED;
	assert_false(coord_decision_in_progress(&d));
	assert_false(coord_decision_holds_back(&d, "n1"));
	assert_false(coord_decision_in_progress(NULL));

	/* Each agent's part. */
	d.state = DECISION_STOPPING;
	assert_int_equal(coord_switchover_part(&d, "n1", true, true), SWITCHOVER_PART_STOP);
	assert_int_equal(coord_switchover_part(&d, "n1", false, false), SWITCHOVER_PART_STOP);
	assert_int_equal(coord_switchover_part(&d, "n2", true, false), SWITCHOVER_PART_NONE);
	assert_int_equal(coord_switchover_part(&d, "n3", true, false), SWITCHOVER_PART_NONE);
	d.state = DECISION_STOPPED;
	assert_int_equal(coord_switchover_part(&d, "n1", false, false), SWITCHOVER_PART_NONE);
	assert_int_equal(coord_switchover_part(&d, "n2", true, false), SWITCHOVER_PART_PROMOTE);
	assert_int_equal(coord_switchover_part(&d, "n2", true, true),
			 SWITCHOVER_PART_MARK_PROMOTED);
	/* No checkpoint: nothing to wait for, so no promotion. */
	d.checkpoint = NULL;
	assert_int_equal(coord_switchover_part(&d, "n2", true, false), SWITCHOVER_PART_NONE);
	d.checkpoint = "0/3000028";
	d.state = DECISION_PROMOTED;
	assert_int_equal(coord_switchover_part(&d, "n1", false, false), SWITCHOVER_PART_NONE);
	assert_int_equal(coord_switchover_part(&d, "n2", true, true), SWITCHOVER_PART_NONE);
	/* Abandoned: the old primary starts again, if it does not run and its agent
	 * had begun to stop it (the leader gives up only on one that still runs). */
	d.state = DECISION_ABANDONED;
	assert_int_equal(coord_switchover_part(&d, "n1", false, false), SWITCHOVER_PART_RESTART);
	d.stopped_at = NULL;
	assert_int_equal(coord_switchover_part(&d, "n1", false, false), SWITCHOVER_PART_NONE);
	d.stopped_at = "2026-12-07T10:00:00.000Z";
	assert_int_equal(coord_switchover_part(&d, "n1", true, true), SWITCHOVER_PART_NONE);
	assert_int_equal(coord_switchover_part(&d, "n2", true, false), SWITCHOVER_PART_NONE);
	d.state = DECISION_DONE;
	assert_int_equal(coord_switchover_part(&d, "n1", false, false), SWITCHOVER_PART_NONE);
	/* Only switchovers: a failover's old primary is never restarted from here. */
	f.state = DECISION_ABANDONED;
	assert_int_equal(coord_switchover_part(&f, "n1", false, false), SWITCHOVER_PART_NONE);
	f.state = DECISION_DECIDED;
	assert_int_equal(coord_switchover_part(&f, "n1", true, true), SWITCHOVER_PART_NONE);
	assert_int_equal(coord_switchover_part(NULL, "n1", false, false), SWITCHOVER_PART_NONE);

	free(text);
	json_decref(j);
	json_decref(jf);
	arena_free(a);
}

/*
 * A switchover moves on: stopped becomes promoted once the target reports a
 * primary, promoted done once the old primary is a replica; the leader
 * abandons one only while the old primary still runs as one, after the bound.
 */
static void test_switchover_next(void **state)
{
	PgcDecision d = {.kind = "switchover", .from = "n1", .to = "n2", .token = 7,
			 .state = DECISION_STOPPING, .checkpoint = NULL};
	PgcMember to = {.node = "n2", .role = MEMBER_PRIMARY, .running = true};
	PgcMember from = {.node = "n1", .role = MEMBER_PRIMARY, .running = true};

	(void)state;
	/* A primary `to` while stopping proves nothing of this switchover. */
	assert_int_equal(coord_decision_next(&d, &to, &from, 0), DECISION_STOPPING);
	d.state = DECISION_STOPPED;
	to.role = MEMBER_REPLICA;
	assert_int_equal(coord_decision_next(&d, &to, &from, 0), DECISION_STOPPED);
	to.role = MEMBER_PRIMARY;
	assert_int_equal(coord_decision_next(&d, &to, &from, 0), DECISION_PROMOTED);
	d.state = DECISION_PROMOTED;
	from.role = MEMBER_REPLICA;
	assert_int_equal(coord_decision_next(&d, &to, &from, 0), DECISION_DONE);

	from.role = MEMBER_PRIMARY;
	d.state = DECISION_STOPPING;
	assert_false(coord_switchover_give_up(&d, &from, 1000, 90000));
	assert_true(coord_switchover_give_up(&d, &from, 90001, 90000));
	/* Down or absent after the bound: abandoned too (no hang without a primary). */
	from.role = MEMBER_DOWN;
	from.running = false;
	assert_false(coord_switchover_give_up(&d, &from, 1000, 90000));
	assert_true(coord_switchover_give_up(&d, &from, 90001, 90000));
	assert_true(coord_switchover_give_up(&d, NULL, 90001, 90000));
	/* Its member gone before its agent began to stop it: at once. */
	assert_true(coord_switchover_give_up(&d, NULL, 1000, 90000));
	/* Its agent began to stop it: the bound, counted from that write, holds. */
	d.stopped_at = "2026-01-01T00:00:00.000Z";
	assert_false(coord_switchover_give_up(&d, NULL, 1000, 90000));
	assert_true(coord_switchover_give_up(&d, NULL, 90001, 90000));
	d.stopped_at = NULL;
	assert_false(coord_switchover_give_up(&d, &from, -1, 90000));
	from.role = MEMBER_PRIMARY;
	from.running = true;
	d.state = DECISION_STOPPED;
	assert_false(coord_switchover_give_up(&d, &from, 90001, 90000));
	d.state = DECISION_STOPPING;
	d.kind = "failover";
	assert_false(coord_switchover_give_up(&d, &from, 90001, 90000));
}

static void test_switchover_rolling_back(void **state)
{
	PgcDecision d = {.kind = "switchover", .from = "n1", .to = "n2", .token = 3,
			 .state = DECISION_ABANDONED, .stopped_at = "2026-01-01T00:00:00.000Z"};

	(void)state;
	assert_true(coord_switchover_rolling_back(&d, "n1", 1000, 30000));
	assert_false(coord_switchover_rolling_back(&d, "n1", 30000, 30000));
	assert_false(coord_switchover_rolling_back(&d, "n1", -1, 30000));
	assert_false(coord_switchover_rolling_back(&d, "n2", 1000, 30000));
	assert_false(coord_switchover_rolling_back(&d, NULL, 1000, 30000));
	/* Not stopped by its agent: nothing restarts it. */
	d.stopped_at = NULL;
	assert_false(coord_switchover_rolling_back(&d, "n1", 1000, 30000));
	d.stopped_at = "2026-01-01T00:00:00.000Z";
	d.state = DECISION_DONE;
	assert_false(coord_switchover_rolling_back(&d, "n1", 1000, 30000));
	d.state = DECISION_ABANDONED;
	d.kind = "failover";
	assert_false(coord_switchover_rolling_back(&d, "n1", 1000, 30000));
}

static void test_switchover_missing(void **state)
{
	PgcMember to = {.node = "n2", .role = MEMBER_REPLICA, .running = true};
	PgcMember from = {.node = "n1", .role = MEMBER_PRIMARY, .running = true};

	(void)state;
	assert_null(coord_switchover_missing(true, true, &from, &to));
	assert_non_null(coord_switchover_missing(false, true, &from, &to));
	assert_non_null(coord_switchover_missing(true, false, &from, &to));
	assert_non_null(coord_switchover_missing(true, true, NULL, &to));
	assert_non_null(coord_switchover_missing(true, true, &from, NULL));
	to.running = false;
	assert_non_null(coord_switchover_missing(true, true, &from, &to));
	to.running = true;
	from.role = MEMBER_REPLICA;
	assert_non_null(coord_switchover_missing(true, true, &from, &to));
	from.role = MEMBER_PRIMARY;
	from.running = false;
	assert_non_null(coord_switchover_missing(true, true, &from, &to));
}

/* ---- fence records and the claim's facts ------------------------------------------ */

static void test_fence_record_step(void **state)
{
	(void)state;
	/* No record, or this agent holds the fence itself: nothing to do. */
	assert_int_equal(coord_fence_record_step(false, false, false, false, 1),
			 COORD_FENCE_RECORD_NONE);
	assert_int_equal(coord_fence_record_step(true, true, false, false, 1),
			 COORD_FENCE_RECORD_NONE);
	assert_int_equal(coord_fence_record_step(true, true, true, true, 1),
			 COORD_FENCE_RECORD_NONE);
	/* A restarted agent takes back the fence of a stopped node. */
	assert_int_equal(coord_fence_record_step(true, false, false, false, 1),
			 COORD_FENCE_RECORD_ADOPT);
	assert_int_equal(coord_fence_record_step(true, false, false, false, 0),
			 COORD_FENCE_RECORD_ADOPT);
	/* A server that runs without standby.signal (or an unreadable one) was
	 * not started through a claim it knows of: fenced, stopped again. */
	assert_int_equal(coord_fence_record_step(true, false, false, true, 1),
			 COORD_FENCE_RECORD_ADOPT);
	assert_int_equal(coord_fence_record_step(true, false, false, true, -1),
			 COORD_FENCE_RECORD_ADOPT);
	/* It rejoined (runs as a replica), or its agent started it through a claim
	 * and the record's removal is what lags: the record goes. */
	assert_int_equal(coord_fence_record_step(true, false, false, true, 0),
			 COORD_FENCE_RECORD_CLEAR);
	assert_int_equal(coord_fence_record_step(true, false, true, true, 1),
			 COORD_FENCE_RECORD_CLEAR);
	/* No record: nothing lags either. */
	assert_int_equal(coord_fence_record_step(false, false, true, true, 1),
			 COORD_FENCE_RECORD_NONE);
}

static void test_fenced_record(void **state)
{
	PgcArena *a = arena_new();
	PgcFenced f = {"self", "no etcd for 3s", "2026-12-07T20:00:00.000Z"}, back;
	json_t *j = coord_fenced_json(&f);
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	(void)state;
	assert_string_equal(text, "{\"at\":\"2026-12-07T20:00:00.000Z\",\"by\":\"self\","
				  "\"reason\":\"no etcd for 3s\"}");
	assert_int_equal(coord_fenced_parse(a, text, &back), 0);
	assert_string_equal(back.by, "self");
	assert_string_equal(back.reason, "no etcd for 3s");
	assert_string_equal(back.at, "2026-12-07T20:00:00.000Z");
	/* A record that is not an object is none; one without fields, unknowns. */
	assert_int_equal(coord_fenced_parse(a, "[]", &back), -1);
	assert_null(back.reason);
	assert_int_equal(coord_fenced_parse(a, "{}", &back), 0);
	assert_null(back.at);
	free(text);
	json_decref(j);
	arena_free(a);
}

static void test_claim_fenced_record(void **state)
{
	PgcArena *a = arena_new();
	PgcClaimFacts f = {.node = "n1", .recorded_fenced = true};

	(void)state;
	/* Recorded fenced and its agent does not hold the fence (restarted since):
	 * no pass starts it as a primary. */
	assert_non_null(strstr(coord_claim_refusal(a, &f), "recorded fenced"));
	/* Its agent holds the fence: its own start goes through the claim. */
	f.fenced_here = true;
	assert_null(coord_claim_refusal(a, &f));
	/* No record: a plain claim. */
	f.recorded_fenced = false;
	f.fenced_here = false;
	assert_null(coord_claim_refusal(a, &f));
	arena_free(a);
}

static void test_claim_holds_back(void **state)
{
	PgcArena *a = arena_new();
	PgcDecision d = {.kind = "failover", .from = "n1", .to = "n2", .token = 7, .leader = "h2",
			 .state = DECISION_PROMOTED, .at = "now"};
	PgcPrimaryView v = {.primary = "n2", .timeline = 3, .seen_at = "t"};
	PgcClaimFacts f = {.node = "n1", .decision = &d, .other_primary = "n3", .view = &v,
			   .timeline = 2, .recorded_fenced = true, .fenced_here = true};

	(void)state;
	/* A decision for another node comes first, whatever else holds. */
	assert_non_null(strstr(coord_claim_refusal(a, &f), "a failover (promoted) moves the primary role to \"n2\""));
	d.state = DECISION_DONE;
	assert_non_null(strstr(coord_claim_refusal(a, &f), "\"n3\" is the primary"));
	f.other_primary = NULL;
	assert_non_null(strstr(coord_claim_refusal(a, &f), "\"n2\" was the primary last seen"));
	v.primary = "n1";
	v.timeline = 2;
	assert_null(coord_claim_refusal(a, &f));
	/* The decision for this node itself holds nothing back. */
	d.from = "n2";
	d.to = "n1";
	d.state = DECISION_DECIDED;
	assert_null(coord_claim_refusal(a, &f));
	f.decision = NULL;
	f.view = NULL;
	assert_null(coord_claim_refusal(a, &f));
	arena_free(a);
}

static void test_claim_timeline(void **state)
{
	PgcArena *a = arena_new();
	PgcPrimaryView v = {.primary = "n1", .timeline = 5, .seen_at = "t"};
	PgcClaimFacts f = {.node = "n1", .view = &v, .timeline = 4};
	const char *why;

	(void)state;
	/* The last view names this node on a later timeline than its own data:
	 * a promotion came after what it holds. */
	why = coord_claim_refusal(a, &f);
	assert_non_null(why);
	assert_non_null(strstr(why, "timeline 5"));
	assert_non_null(strstr(why, "timeline 4"));
	assert_true(coord_view_timeline_ahead(&v, "n1", 4));
	/* The same timeline, or a later one of its own (it promoted after the view). */
	f.timeline = 5;
	assert_null(coord_claim_refusal(a, &f));
	f.timeline = 6;
	assert_null(coord_claim_refusal(a, &f));
	/* Its own timeline unknown (no control file yet): not compared. */
	f.timeline = 0;
	assert_null(coord_claim_refusal(a, &f));
	assert_false(coord_view_timeline_ahead(&v, "n1", 0));
	/* A view without a timeline, or of another node, or none. */
	v.timeline = 0;
	assert_false(coord_view_timeline_ahead(&v, "n1", 4));
	v.timeline = 5;
	assert_false(coord_view_timeline_ahead(&v, "n2", 4));
	assert_false(coord_view_timeline_ahead(NULL, "n1", 4));
	v.primary = NULL;
	assert_false(coord_view_timeline_ahead(&v, "n1", 4));
	arena_free(a);
}

/* Only the cluster's own replicas keep a primary without etcd serving. */
static void test_replica_listed(void **state)
{
	(void)state;
	assert_true(coord_replica_listed("pg2\npg3", "pg2"));
	assert_true(coord_replica_listed("pg2\npg3", "pg3"));
	assert_true(coord_replica_listed("pg2", "pg2"));
	/* a standby cluster's leader, pg_basebackup, a prefix of a name */
	assert_false(coord_replica_listed("pg2\npg3", "us-us1"));
	assert_false(coord_replica_listed("pg2\npg3", "pg_basebackup"));
	assert_false(coord_replica_listed("pg2\npg3", "pg"));
	assert_false(coord_replica_listed("pg2\npg3", "pg3x"));
	assert_false(coord_replica_listed("pg2\npg3", ""));
	assert_false(coord_replica_listed("", "pg2"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_member_round_trip),
		cmocka_unit_test(test_member_from_observed),
		cmocka_unit_test(test_primary_view),
		cmocka_unit_test(test_decision),
		cmocka_unit_test(test_view_holds_back),
		cmocka_unit_test(test_action_mine),
		cmocka_unit_test(test_start_rule),
		cmocka_unit_test(test_self_fence_due),
		cmocka_unit_test(test_stop_step),
		cmocka_unit_test(test_would_be_primary),
		cmocka_unit_test(test_fence_watches),
		cmocka_unit_test(test_primary_gone),
		cmocka_unit_test(test_session_wait_monotonic),
		cmocka_unit_test(test_etcd_config_id),
		cmocka_unit_test(test_decision_next),
		cmocka_unit_test(test_switchover_decision),
		cmocka_unit_test(test_switchover_next),
		cmocka_unit_test(test_switchover_missing),
		cmocka_unit_test(test_switchover_rolling_back),
		cmocka_unit_test(test_decision_age),
		cmocka_unit_test(test_replica_listed),
	};
	/* Fence records after a restart, and the claim's facts (timelines). */
	const struct CMUnitTest state_tests[] = {
		cmocka_unit_test(test_fence_record_step),
		cmocka_unit_test(test_fenced_record),
		cmocka_unit_test(test_claim_fenced_record),
		cmocka_unit_test(test_claim_holds_back),
		cmocka_unit_test(test_claim_timeline),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	return rc | cmocka_run_group_tests_name("fence records and claims", state_tests, NULL, NULL);
}

