/*
 * tests/unit/test_observe_stats.c - the /proc figures of the monitoring
 * probe (observe_stats.c) on the fake host: the postmaster and its
 * children only, a zombie's CPU but not its I/O, the same sums whether the
 * host lists a process's children or every process has to be walked, and
 * nothing for a node whose host is not this machine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reconcile/observe/observe_stats.h"
#include "support/fake_host.h"

typedef struct {
	pthread_mutex_t lock;
	PgcArena *arena;
	PgcCluster c;
	PgcNode node;
	PgcObserveOptions opts;
	PgcObsNode out;
	Probe p;
} Fixture;

/* fixture - a probe of node main/pg1 whose postmaster.pid says 100 (alive). */
static void fixture(Fixture *x)
{
	memset(x, 0, sizeof *x);
	pthread_mutex_init(&x->lock, NULL);
	x->arena = arena_new();
	x->c.name = "main";
	x->node.name = "pg1";
	x->opts.stats = true;
	x->out.name = "pg1";
	x->out.cluster = "main";
	x->out.postmaster_pid = 100;
	x->out.postmaster_alive = true;
	x->p = (Probe){.arena = x->arena, .lock = &x->lock, .scratch = arena_new(), .c = &x->c,
		       .node = &x->node, .opts = &x->opts, .out = &x->out, .label = "main/pg1"};
}

static void fixture_free(Fixture *x)
{
	arena_free(x->p.scratch);
	arena_free(x->arena);
	pthread_mutex_destroy(&x->lock);
}

/* server - a postmaster (100) with two live children and a zombie one, and a stranger (300). */
static PgcHost *server(void)
{
	PgcHost *h = fake_host_new("postgres");

	fake_host_proc(h, 100, 1, "postgres", "/data", NULL);
	fake_host_proc(h, 101, 100, "postgres", "/data", NULL);
	fake_host_proc(h, 102, 100, "postgres", "/data", NULL);
	fake_host_proc(h, 103, 100, "postgres", "/data", NULL);
	fake_host_proc(h, 300, 1, "postgres", "/other", NULL);
	/* The postmaster's figures hold the children it waited for (children_cpu_s, its I/O). */
	fake_host_proc_usage(h, 100, 1.0, 5.0, 1000, 20000);
	fake_host_proc_usage(h, 101, 2.0, 0.25, 10, 200);
	fake_host_proc_usage(h, 102, 0.5, 0, 1, 2);
	fake_host_proc_usage(h, 103, 0.125, 0, 0, 0);
	fake_host_zombie(h, 103);
	fake_host_proc_usage(h, 300, 99, 99, 99999, 99999);
	return h;
}

static void check_sums(const PgcObsStats *s)
{
	assert_true(s->proc_read);
	assert_int_equal(s->processes, 4);
	assert_true(s->cpu_seconds > 8.874 && s->cpu_seconds < 8.876); /* 6 + 2.25 + 0.5 + 0.125 */
	assert_true(s->io_read);
	assert_int_equal(s->read_bytes, 1011);
	assert_int_equal(s->write_bytes, 20202);
	assert_null(s->error);
}

static void test_children_listed(void **state)
{
	Fixture x;
	PgcHost *h = server();

	(void)state;
	fixture(&x);
	observe_stats_begin(&x.p, h);
	assert_non_null(x.out.stats);
	check_sums(x.out.stats);
	assert_int_equal(x.out.stats->max_connections, -1); /* no SQL yet */
	host_free(h);
	fixture_free(&x);
}

static void test_every_process_walked(void **state)
{
	Fixture x;
	PgcHost *h = server();

	(void)state;
	fake_host_no_children(h);
	fixture(&x);
	observe_stats_begin(&x.p, h);
	check_sums(x.out.stats);
	host_free(h);
	fixture_free(&x);
}

static void test_no_figures_without_a_server_here(void **state)
{
	Fixture x;
	PgcHost *h = server();

	(void)state;
	fixture(&x);
	/* Another machine's node: no host. */
	observe_stats_begin(&x.p, NULL);
	assert_false(x.out.stats->proc_read);
	assert_false(x.out.stats->io_read);
	assert_null(x.out.stats->error);
	fixture_free(&x);
	/* A postmaster.pid whose process is gone. */
	fixture(&x);
	x.out.postmaster_alive = false;
	observe_stats_begin(&x.p, h);
	assert_false(x.out.stats->proc_read);
	/* One that is alive but not there (the listing fails): said so. */
	fixture_free(&x);
	fixture(&x);
	x.out.postmaster_pid = 4242;
	observe_stats_begin(&x.p, h);
	assert_false(x.out.stats->proc_read);
	assert_non_null(x.out.stats->error);
	assert_non_null(strstr(x.out.stats->error, "the server's processes"));
	observe_stats_unreachable(&x.p, "connection refused");
	assert_non_null(strstr(x.out.stats->error, "the server's processes")); /* the first stays */
	host_free(h);
	fixture_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_children_listed),
		cmocka_unit_test(test_every_process_walked),
		cmocka_unit_test(test_no_figures_without_a_server_here),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
