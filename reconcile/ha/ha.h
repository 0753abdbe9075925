/*
 * reconcile/ha/ha.h - the I/O that failover, switchover and rejoin share: the
 * cached view of each cluster's primary in the state directory, the probe
 * of a primary, HA events in the journal, SQL on one node with a bound,
 * pg_controldata, a first-write watcher, and running apply's executors
 * (managed configuration, passfile, slots, clone) outside a plan, through
 * their typed entry points (config.h, replication.h): no action is built.
 *
 * State is derived from the live cluster; the cache only remembers what
 * cannot be seen once the primary is gone: who streamed from it and how
 * (synchronous or not), its last WAL position, and when the cluster last
 * failed over (the anti-flap interval).
 *
 * Errors are reported where they happen (log_error) unless a function says
 * it only fills err.
 */
#ifndef PGC_RECONCILE_HA_HA_H
#define PGC_RECONCILE_HA_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/arena.h"
#include "reconcile/ha/failover.h"
#include "reconcile/transport/host.h"
#include "reconcile/engine/plan.h"
#include "schema/topology.h"

/* The cache's file name in the state directory. */
#define HA_CACHE_FILE "ha.json"

typedef struct {
	PgcPrimaryView view;          /* view.primary NULL: nothing cached */
	const char *last_failover_at; /* ISO 8601 UTC, NULL: never */
	int64_t last_failover_unix_ms;/* -1: never */
	const char *last_failover_from;
	const char *last_failover_to;
} PgcHaCache;

/*
 * ha_cache_read - the cached state of cluster from STATE_DIR/ha.json into
 * out (strings in a). A missing file or cluster gives an empty cache and 0;
 * an unreadable or malformed file is reported as a warning and gives an
 * empty cache too: the cache is never needed for correctness, only for a
 * better choice. Returns 0.
 */
int ha_cache_read(PgcArena *a, const char *state_dir, const char *cluster, PgcHaCache *out);

/*
 * ha_cache_write - replaces cluster's entry of STATE_DIR/ha.json (written
 * atomically, 0600; other clusters' entries kept). 0, or -1 (reported).
 */
int ha_cache_write(const char *state_dir, const char *cluster, const PgcHaCache *cache);

/* ---- one node ------------------------------------------------------------- */

/* ha_connect - a bounded connection to n; NULL with libpq's message in err (nothing logged). */
PGconn *ha_connect(const PgcCluster *c, const PgcNode *n, int timeout_s, char *err, size_t errlen);

/*
 * ha_query_value - runs sql (no parameters, one row, one column expected)
 * on n, within timeout_ms; the value (NULL for SQL NULL: *is_null) copied
 * into a. 0, or -1 with the reason in err (nothing logged).
 */
int ha_query_value(PgcArena *a, const PgcCluster *c, const PgcNode *n, const char *sql,
		   int timeout_ms, const char **value, char *err, size_t errlen);

/* ha_exec - runs one statement on n within timeout_ms; 0, or -1 with the reason in err. */
int ha_exec(const PgcCluster *c, const PgcNode *n, const char *sql, int timeout_ms, char *err,
	    size_t errlen);

/*
 * ha_probe - the primary probe: connects (connect_timeout) and runs
 * `SELECT pg_is_in_recovery()` (bounded by timeout_ms). 0 when n answers
 * as a primary; -1 with the reason in err otherwise (nothing logged: a
 * failed probe is an observation).
 */
int ha_probe(const PgcCluster *c, const PgcNode *n, int timeout_ms, char *err, size_t errlen);

/* PgcControl - the parts of pg_controldata that HA needs. */
typedef struct {
	char state[64];               /* "shut down", "in production", "shut down in recovery" ... */
	unsigned timeline;            /* Latest checkpoint's TimeLineID */
	uint64_t checkpoint_lsn;      /* Latest checkpoint location */
	uint64_t system_identifier;
} PgcControl;

/* ha_parse_controldata - pg_controldata's output (LC_ALL=C) into out; 0, or -1 when incomplete. */
int ha_parse_controldata(const char *text, PgcControl *out);

/* ha_controldata - runs pg_controldata on n's data directory (as os_user). 0, or -1 (reported). */
int ha_controldata(PgcHost *h, const PgcCluster *c, const PgcNode *n, PgcControl *out);

/*
 * ha_pid_alive - true when process pid exists on h and is not a zombie (a
 * killed postmaster stays a zombie until its parent, often pid 1, reaps it).
 */
bool ha_pid_alive(PgcHost *h, long pid);

/*
 * ha_postmaster_pid - the pid of n's live postmaster: postmaster.pid's pid
 * when that process exists and is named postgres or postmaster; 0 when none.
 */
long ha_postmaster_pid(PgcHost *h, const PgcNode *n);

/*
 * ha_wait_reaped - waits, at most timeout_ms, until the process named by
 * n's postmaster.pid no longer exists at all. PostgreSQL's own lock-file
 * check (a server start, pg_rewind's single-user recovery) takes a dead
 * postmaster that its parent has not reaped yet for a running one. 0 when
 * it is gone (or none is named), -1 when it still exists.
 */
int ha_wait_reaped(PgcHost *h, const PgcNode *n, int timeout_ms);

/* ---- files through apply's executors --------------------------------------- */

/*
 * ha_write_node_files - the files pgconverge owns in node n's data
 * directory, rendered from c (the topology as it is live, e.g. after a
 * failover): the managed include file, and the replication passfile for
 * its upstream when a replication password is declared; with hba, also
 * pg_hba.conf and pg_ident.conf. *changed tells whether the include file
 * or the passfile changed (a reload is due). 0, or -1 (reported).
 */
int ha_write_node_files(const PgcCluster *c, const PgcNode *n, bool hba, bool *changed);

/* ha_reload - pg_reload_conf() on n (pg_ctl reload when SQL fails locally). 0, or -1 (reported). */
int ha_reload(const PgcCluster *c, const PgcNode *n);

/* ha_create_slot - the physical slot of replica `replica` on node n when slots are on. 0 / -1. */
int ha_create_slot(const PgcCluster *c, const PgcNode *n, const char *replica);

/*
 * ha_clone - copies n afresh from its upstream in c with pg_basebackup
 * (into an absent or empty data directory), as apply's clone action does.
 * 0, or -1 (reported).
 */
int ha_clone(const PgcCluster *c, const PgcNode *n, int timeout_s);

/* ---- first write ------------------------------------------------------------ */

typedef struct PgcWriteWatch PgcWriteWatch;

/*
 * ha_write_watch_start - starts a thread that keeps trying a write on n
 * (a transaction that takes a transaction id and commits, so with
 * synchronous replication it waits for a synchronous standby) until one
 * commits or timeout_s passes. The time of the first commit is read with
 * ha_write_watch_wait(). NULL when the thread cannot start (reported).
 */
PgcWriteWatch *ha_write_watch_start(const PgcCluster *c, const PgcNode *n, int timeout_s);

/*
 * ha_write_watch_wait - waits for the watcher and frees it. Returns 0 with
 * *at_ms (CLOCK_MONOTONIC milliseconds of the commit), or -1 with the last
 * error in err when no write committed in time.
 */
int ha_write_watch_wait(PgcWriteWatch *w, double *at_ms, char *err, size_t errlen);

/* ---- the journal --------------------------------------------------------------- */

/*
 * ha_journal_event - appends one event line to STATE_DIR/journal.jsonl
 * through journal_event() (reconcile/engine/journal.h): "ts" first, then "run"
 * (from the time and pid unless event has one: the lines of one command
 * share it), then event's fields. event must not hold a secret. 0, or -1
 * (reported).
 */
int ha_journal_event(const char *state_dir, json_t *event);

/* ---- small helpers -------------------------------------------------------------- */

#endif
