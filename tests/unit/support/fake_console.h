/*
 * tests/unit/support/fake_console.h - a stand-in for PgBouncer's admin
 * console, for the front-door hooks (reconcile/pgbouncer/pgbouncer.c),
 * which talk to the pooler through libpq on this machine rather than
 * through a host.
 *
 * fake_console_start forks a process named "pgbouncer" (what the hooks
 * check in /proc before they talk to it), writes its pid to
 * DIR/pgbouncer.pid and serves DIR/.s.PGSQL.PORT: the startup packet is
 * answered without a password, each simple query by its rule (the first
 * that matches; none: CommandComplete). Each connection is served by a
 * process of its own, so a command left hanging does not hold the next
 * connection (nor the cancel request libpq sends on one).
 *
 * Every command is appended to DIR/console.log as "CONN CMD\n", CONN being
 * the number of the connection (1, 2, ...); a cancel request is logged as
 * "CONN CANCEL", CONN being its own connection's number.
 */
#ifndef PGC_TESTS_UNIT_SUPPORT_FAKE_CONSOLE_H
#define PGC_TESTS_UNIT_SUPPORT_FAKE_CONSOLE_H

#include <stddef.h>
#include <sys/types.h>

typedef enum {
	FAKE_CONSOLE_OK,    /* CommandComplete */
	FAKE_CONSOLE_ERROR, /* ErrorResponse with message */
	FAKE_CONSOLE_HANG,  /* no answer; the connection stays until the client leaves */
	FAKE_CONSOLE_POOLS, /* SHOW POOLS: one pool whose sv_active is busy */
} FakeConsoleReply;

typedef struct {
	const char *cmd;    /* the query, exactly */
	int nth;            /* 0: every time; n: only the n-th time cmd is sent (counted over connections) */
	FakeConsoleReply reply;
	const char *message; /* FAKE_CONSOLE_ERROR's */
	int busy;           /* FAKE_CONSOLE_POOLS's sv_active */
} FakeConsoleRule;

/* fake_console_start - the console in dir on port, answering by rules (n of them); its pid or -1. */
pid_t fake_console_start(const char *dir, int port, const FakeConsoleRule *rules, size_t n);

/* fake_console_stop - ends the console and the connections it serves. */
void fake_console_stop(pid_t pid);

/* fake_console_log - DIR/console.log so far (malloc'd; "" when empty). */
char *fake_console_log(const char *dir);

#endif
