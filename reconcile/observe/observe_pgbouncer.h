/*
 * reconcile/observe/observe_pgbouncer.h - a cluster's PgBouncer as observe
 * sees it (PgcObsPgbouncer), and the pieces the PgBouncer component shares
 * with the probe: the files in pooler.pgbouncer.dir, the admin console
 * (over the unix socket in that folder, as the admin user whose password
 * is dir/admin.pass) and the userlist of SCRAM verifiers.
 *
 * The pooler runs on the host of the cluster's first node (its dir
 * defaults to a folder beside that node's data directory).
 *
 * The userlist holds secrets: the probe renders the one pgconverge would
 * write now, keeps only its digest, and wipes the text. Nothing here logs
 * a verifier or a password.
 *
 * Memory: results in the arena given.
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_PGBOUNCER_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_PGBOUNCER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/arena.h"
#include "reconcile/observe/observe_model.h"
#include "reconcile/transport/host.h"
#include "schema/topology.h"

/* The admin console's user (admin_users), and the files in the pooler's dir. */
#define PGBOUNCER_ADMIN_USER "pgconverge"
#define PGBOUNCER_INI "pgbouncer.ini"
#define PGBOUNCER_USERLIST "userlist.txt"
#define PGBOUNCER_PIDFILE "pgbouncer.pid"
#define PGBOUNCER_LOGFILE "pgbouncer.log"
#define PGBOUNCER_ADMIN_PASS "admin.pass"
/* Written before PAUSE, removed once RESUMEd: a run killed in between leaves
 * it, and the next pass resumes the pooler (PgBouncer does not show a global
 * PAUSE in its console). */
#define PGBOUNCER_PAUSED "paused"

struct PgcObsPgbouncer {
	const char *listen_addr;  /* declared listener, for status and graph */
	int port;
	bool local;               /* its host is this machine: the fields below were looked at */
	long pid;                 /* from the pidfile; 0 when none */
	bool alive;               /* that pid runs and is a pgbouncer */
	const char *ini;          /* pgbouncer.ini on disk; NULL when absent */
	bool admin_pass;          /* dir/admin.pass exists */
	bool paused;              /* dir/paused exists: a PAUSE was not followed by RESUME */
	const char *userlist_digest; /* sha256 of userlist.txt; NULL when absent */
	const char *userlist_want;   /* sha256 of the userlist pgconverge would write now;
				      * NULL when unknown (no primary answered, no admin.pass) */
	bool console;             /* the admin console answered SHOW DATABASES and SHOW POOLS */
	const char *points_host;  /* where its "postgres" database points as loaded */
	int points_port;
	long cl_active, cl_waiting, sv_active; /* SHOW POOLS, summed over the pools */
	const char *error;        /* what could not be looked at, or NULL */
};

/* pgbouncer_host - the host the pooler of c runs on (its first node's). */
const char *pgbouncer_host(const PgcCluster *c);

/* pgbouncer_path - dir/name for c's pooler, in a. */
const char *pgbouncer_path(PgcArena *a, const PgcCluster *c, const char *name);

/*
 * pgbouncer_userlist - the userlist.txt pgconverge writes for c: the admin
 * user with admin_pass, then each declared login role with a password that
 * conn (the primary) holds a SCRAM verifier for, sorted by name, read from
 * pg_authid now. A standby cluster declares no roles: callers give its
 * topology_roles_view() (its source's roles, which its leader replays).
 * malloc'd (the caller wipes and frees it with pgbouncer_secret_free), or
 * NULL with err filled.
 */
char *pgbouncer_userlist(PGconn *conn, const PgcCluster *c, const char *admin_pass,
			 int timeout_ms, char *err, size_t errlen);

/*
 * pgbouncer_userlist_render - the same from rows read already (names[i],
 * verifiers[i]: pg_authid's rolname and rolpassword, in the order wanted):
 * the rows of c's declared login roles with a password and a SCRAM
 * verifier. Pure; malloc'd (pgbouncer_secret_free), NULL when out of memory.
 */
char *pgbouncer_userlist_render(const PgcCluster *c, const char *admin_pass,
				const char *const *names, const char *const *verifiers, size_t n);

/* pgbouncer_secret_free - wipes and frees a string that holds a secret (NULL is ignored). */
void pgbouncer_secret_free(char *s);

/*
 * pgbouncer_admin_pass - dir/admin.pass read through h (trimmed), malloc'd:
 * free with pgbouncer_secret_free. NULL when absent (*absent set) or
 * unreadable (err filled).
 */
char *pgbouncer_admin_pass(PgcHost *h, const PgcCluster *c, bool *absent, char *err,
			   size_t errlen);

/*
 * pgbouncer_admin_connect - a connection to the admin console of c's
 * pooler (unix socket in its dir, database "pgbouncer", the admin user,
 * the password as a connection parameter) within timeout_s. NULL with err.
 */
PGconn *pgbouncer_admin_connect(PgcHost *h, const PgcCluster *c, int timeout_s, char *err,
				size_t errlen);

/*
 * pgbouncer_admin_query - one admin console command (simple query protocol:
 * the console takes no other) within timeout_ms; on expiry the command is
 * cancelled. 0 with *res (may be NULL; caller PQclear()s); -1 with err.
 * After a timeout (or a poll error) the command's results are left unread:
 * libpq refuses any further command on conn ("another command is already
 * in progress"), so the caller closes it (PQfinish) and opens another.
 */
int pgbouncer_admin_query(PGconn *conn, const char *cmd, int timeout_ms, PGresult **res,
			  char *err, size_t errlen);

/*
 * observe_pgbouncer - c's pooler: its files, process, console and the
 * userlist it should hold (read from the observed primary, oc). NULL when
 * c declares none.
 */
PgcObsPgbouncer *observe_pgbouncer(PgcArena *a, const PgcCluster *c, const PgcObsCluster *oc,
				   int connect_timeout_s, int query_timeout_ms);

/* observe_pgbouncer_find - the observed pooler of cluster, or NULL. */
const PgcObsPgbouncer *observe_pgbouncer_find(const PgcObserved *o, const char *cluster);

/*
 * observe_pgbouncer_line - one line for status and graph: "up (pid N),
 * points at HOST:PORT, A active, W waiting", "down", or what could not be
 * looked at. In a.
 */
const char *observe_pgbouncer_line(PgcArena *a, const PgcObsPgbouncer *o);

/* observe_pgbouncer_json - the observed pooler as JSON (null for NULL); no secret, no digest. */
json_t *observe_pgbouncer_json(const PgcObsPgbouncer *o);

#endif
