/*
 * tests/unit/test_promote.c - reconcile/promote.c: when the candidate's
 * replay position is final (promote_replay_settled), on hand-built
 * sequences of polls: a clean stop, an incomplete last record after a
 * crash, a WAL receiver still streaming, replay held back, a position that
 * still moves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "reconcile/promote.h"

/* sample - a standby in recovery at received/replayed. */
static PgcWalSample sample(uint64_t received, uint64_t replayed, bool streaming)
{
	PgcWalSample x;

	memset(&x, 0, sizeof x);
	x.in_recovery = true;
	x.has_received = true;
	x.received = received;
	x.replayed = replayed;
	x.streaming = streaming;
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

static void test_held_replay_is_never_settled(void **state)
{
	PgcReplaySettle s = {0};
	PgcWalSample x = sample(0x5000000, 0x4000000, false);

	(void)state;
	x.held = true;
	assert_true(polls(&s, &x, 0, 10000) < 0);
	/* Caught up, nothing is left to hold back (a promotion ends a pause). */
	memset(&s, 0, sizeof s);
	x = sample(0x5000000, 0x5000000, false);
	x.held = true;
	assert_true(promote_replay_settled(&s, &x, 0));
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
		cmocka_unit_test(test_held_replay_is_never_settled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
