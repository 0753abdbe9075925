/*
 * tests/unit/test_promote.c - reconcile/ha/promote.c: when the candidate's
 * replay position is final (promote_replay_settled), on hand-built
 * sequences of polls: a clean stop, an incomplete last record after a
 * crash, a WAL receiver still streaming, replay paused or waiting on
 * anything but WAL (a buffer pin), a position that still moves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "reconcile/ha/promote.h"

/* waiting - the startup process of x waits on type/event. */
static void waiting(PgcWalSample *x, const char *type, const char *event)
{
	snprintf(x->wait_type, sizeof x->wait_type, "%s", type);
	snprintf(x->wait_event, sizeof x->wait_event, "%s", event);
}

/* sample - a standby in recovery at received/replayed, its startup process waiting for WAL. */
static PgcWalSample sample(uint64_t received, uint64_t replayed, bool streaming)
{
	PgcWalSample x;

	memset(&x, 0, sizeof x);
	x.in_recovery = true;
	x.has_received = true;
	x.received = received;
	x.replayed = replayed;
	x.streaming = streaming;
	waiting(&x, "Activity", "RecoveryWalStream");
	return x;
}

/* polls - feeds x every 50 ms from t0 up to t1 (inclusive); the first time it settled, or -1. */
static double polls(PgcReplaySettle *s, const PgcWalSample *x, double t0, double t1)
{
	for (double t = t0; t <= t1; t += 50)
		if (promote_replay_settled(s, x, t))
			return t;
	return -1;
}

static void test_caught_up_is_final_at_once(void **state)
{
	PgcReplaySettle s = {0};
	PgcWalSample x = sample(0x40A6000, 0x40A6000, false);

	(void)state;
	assert_true(promote_replay_settled(&s, &x, 0));
	/* A clean switchover: the receiver may not have noticed the stop yet. */
	memset(&s, 0, sizeof s);
	x.streaming = true;
	assert_true(promote_replay_settled(&s, &x, 0));
	/* After a standby restart the receive position is a segment start, before replay. */
	memset(&s, 0, sizeof s);
	x = sample(0x4000000, 0x40A5DF8, false);
	assert_true(promote_replay_settled(&s, &x, 0));
}

static void test_not_in_recovery_is_final(void **state)
{
	PgcReplaySettle s = {0};
	PgcWalSample x = sample(0x40A6000, 0x40A5DF8, true);

	(void)state;
	x.in_recovery = false;
	assert_true(promote_replay_settled(&s, &x, 0));
}

/* The bug: received WAL ends inside a record that never comes whole. */
static void test_incomplete_last_record_settles(void **state)
{
	PgcReplaySettle s = {0};
	PgcWalSample x = sample(0x40A6000, 0x40A5DF8, false);

	(void)state;
	assert_false(promote_replay_settled(&s, &x, 0));
	assert_false(promote_replay_settled(&s, &x, PROMOTE_SETTLE_MS - 1));
	assert_true(promote_replay_settled(&s, &x, PROMOTE_SETTLE_MS));
}

static void test_moving_replay_restarts_the_settle_period(void **state)
{
	PgcReplaySettle s = {0};
	PgcWalSample x = sample(0x5000000, 0x4000000, false);

	(void)state;
	assert_true(polls(&s, &x, 0, 900) < 0);
	x.replayed = 0x4800000; /* still replaying what it received */
	assert_false(promote_replay_settled(&s, &x, 950));
	assert_true(polls(&s, &x, 1000, 1900) < 0);
	x.replayed = 0x4FFFFE0; /* the rest is an incomplete record */
	assert_true(polls(&s, &x, 2000, 5000) == 2000 + PROMOTE_SETTLE_MS);
}

static void test_no_receive_position_settles_on_replay(void **state)
{
	PgcReplaySettle s = {0};
	PgcWalSample x = sample(0, 0x3000028, false);

	(void)state;
	x.has_received = false;
	assert_true(polls(&s, &x, 0, 5000) == PROMOTE_SETTLE_MS);
}

/* A receiver that streams has a live upstream, which may send the rest. */
static void test_streaming_is_never_settled_behind(void **state)
{
	PgcReplaySettle s = {0};
	PgcWalSample x = sample(0x40A6000, 0x40A5DF8, true);

	(void)state;
	assert_true(polls(&s, &x, 0, 10000) < 0);
	/* The receiver goes away: the settle period starts then. */
	x.streaming = false;
	assert_true(polls(&s, &x, 10050, 20000) == 10050 + PROMOTE_SETTLE_MS);
}

static void test_a_receiver_that_reconnects_restarts_the_period(void **state)
{
	PgcReplaySettle s = {0};
	PgcWalSample x = sample(0x40A6000, 0x40A5DF8, false);

	(void)state;
	assert_true(polls(&s, &x, 0, 900) < 0);
	x.streaming = true;
	assert_false(promote_replay_settled(&s, &x, 950));
	x.streaming = false;
	assert_true(polls(&s, &x, 1000, 5000) == 1000 + PROMOTE_SETTLE_MS);
}

static void test_paused_replay_is_never_settled(void **state)
{
	PgcReplaySettle s = {0};
	PgcWalSample x = sample(0x5000000, 0x4000000, false);

	(void)state;
	x.paused = true; /* asked to pause; the startup process may not have stopped yet */
	assert_true(polls(&s, &x, 0, 10000) < 0);
	/* Caught up, nothing is left to hold back (a promotion ends a pause). */
	memset(&s, 0, sizeof s);
	x = sample(0x5000000, 0x5000000, false);
	x.paused = true;
	waiting(&x, "IPC", "RecoveryPause");
	assert_true(promote_replay_settled(&s, &x, 0));
}

/* The waits that mean "nothing more to replay until WAL arrives" settle. */
static void test_waiting_for_wal_settles(void **state)
{
	PgcReplaySettle s = {0};
	PgcWalSample x = sample(0x40A6000, 0x40A5DF8, false);

	(void)state;
	assert_false(promote_replay_busy(&x));
	assert_true(polls(&s, &x, 0, 5000) == PROMOTE_SETTLE_MS);
	memset(&s, 0, sizeof s);
	waiting(&x, "Timeout", "RecoveryRetrieveRetryInterval");
	assert_false(promote_replay_busy(&x));
	assert_true(polls(&s, &x, 0, 5000) == PROMOTE_SETTLE_MS);
	/* Going from one to the other between retries is the same idle state. */
	memset(&s, 0, sizeof s);
	assert_true(polls(&s, &x, 0, 500) < 0);
	waiting(&x, "Activity", "RecoveryWalStream");
	assert_true(polls(&s, &x, 550, 5000) == PROMOTE_SETTLE_MS);
}

/*
 * The review's case: a query on the candidate pins a buffer the next
 * record must clean up; the startup process waits on BufferPin (up to
 * max_standby_streaming_delay) with a complete record unreplayed.
 */
static void test_a_buffer_pin_wait_never_settles(void **state)
{
	PgcReplaySettle s = {0};
	PgcWalSample x = sample(0x40A6000, 0x40A5DF8, false);

	(void)state;
	waiting(&x, "BufferPin", "BufferPin");
	assert_true(promote_replay_busy(&x));
	assert_true(polls(&s, &x, 0, 30000) < 0);
	/* The query is cancelled, the record replayed; the rest is incomplete. */
	x.replayed = 0x40A5F00;
	waiting(&x, "Timeout", "RecoveryRetrieveRetryInterval");
	assert_true(polls(&s, &x, 30050, 40000) == 30050 + PROMOTE_SETTLE_MS);
}

/* Any wait not on the idle list, and no wait at all, is replay at work or held back. */
static void test_every_other_wait_is_busy(void **state)
{
	static const char *const busy[][2] = {
	    {"BufferPin", "BufferPin"},
	    {"Lock", "relation"},
	    {"IPC", "RecoveryConflictSnapshot"},
	    {"IPC", "RecoveryConflictTablespace"},
	    {"IPC", "RecoveryPause"},
	    {"Timeout", "RecoveryApplyDelay"},
	    {"IO", "WALRead"},
	    {"IO", "DataFileRead"},
	    {"IPC", "RestoreCommand"},
	    {"LWLock", "BufferContent"},
	    {"", ""},                       /* replaying: no wait event */
	    {"Timeout", "RecoveryWalStream"}, /* the right name under the wrong type */
	};

	(void)state;
	for (size_t i = 0; i < sizeof busy / sizeof busy[0]; i++) {
		PgcReplaySettle s = {0};
		PgcWalSample x = sample(0x40A6000, 0x40A5DF8, false);

		waiting(&x, busy[i][0], busy[i][1]);
		assert_true(promote_replay_busy(&x));
		assert_true(polls(&s, &x, 0, 10000) < 0);
	}
}

/* A sample that catches replay at work restarts the settle period. */
static void test_a_busy_sample_restarts_the_period(void **state)
{
	PgcReplaySettle s = {0};
	PgcWalSample x = sample(0x40A6000, 0x40A5DF8, false);

	(void)state;
	assert_true(polls(&s, &x, 0, 900) < 0);
	waiting(&x, "", "");
	assert_false(promote_replay_settled(&s, &x, 950));
	waiting(&x, "Activity", "RecoveryWalStream");
	assert_true(polls(&s, &x, 1000, 5000) == 1000 + PROMOTE_SETTLE_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caught_up_is_final_at_once),
		cmocka_unit_test(test_not_in_recovery_is_final),
		cmocka_unit_test(test_incomplete_last_record_settles),
		cmocka_unit_test(test_moving_replay_restarts_the_settle_period),
		cmocka_unit_test(test_no_receive_position_settles_on_replay),
		cmocka_unit_test(test_streaming_is_never_settled_behind),
		cmocka_unit_test(test_a_receiver_that_reconnects_restarts_the_period),
		cmocka_unit_test(test_paused_replay_is_never_settled),
		cmocka_unit_test(test_waiting_for_wal_settles),
		cmocka_unit_test(test_a_buffer_pin_wait_never_settles),
		cmocka_unit_test(test_every_other_wait_is_busy),
		cmocka_unit_test(test_a_busy_sample_restarts_the_period),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
