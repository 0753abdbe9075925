/*
 * reconcile/backup/restore_wait.h - the server of a restored copy started
 * and watched until its recovery ends: the steps a restore (restore.h) and
 * a restore drill (drill.h) share.
 */
#ifndef PGC_RECONCILE_BACKUP_RESTORE_WAIT_H
#define PGC_RECONCILE_BACKUP_RESTORE_WAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reconcile/transport/host.h"
#include "schema/topology.h"

/*
 * restore_start_server - pg_ctl start without waiting (recovery may take
 * long; restore_wait watches it), detached, as os_user, its log in
 * log_file. 0, or -1 (reported).
 */
int restore_start_server(PgcHost *h, const PgcCluster *c, const char *data_dir,
			 const char *log_file, int timeout_s);

/* How a watched recovery ended. */
typedef enum {
	RESTORE_PROMOTED,    /* out of recovery */
	RESTORE_PAUSED,      /* paused at its target (target_action pause) */
	RESTORE_FAILED,      /* the server stopped, or the wait timed out (reported) */
} PgcRestoreOutcome;

typedef struct {
	PgcHost *host;            /* the server's host: its files (as root: guarded), its process */
	const char *label;        /* "cluster/node" or "drill of cluster/backup", for messages */
	const char *conninfo;     /* the server's local socket, as os_user */
	const char *data_dir;     /* its postmaster.pid tells whether it still runs */
	const char *log_file;     /* read for the FATAL line when it stops */
	int64_t log_offset;       /* the log's size before this start: only what follows is read */
	int timeout_s;
	bool want_pause;          /* target_action pause: "paused" is the end */
	uint64_t goal_lsn;        /* for the progress line: the target or the archive's end; 0 unknown */
	bool progress;            /* show the replayed LSN on a terminal */
	char *error;              /* one line on failure */
	size_t error_len;
} PgcRestoreWait;

/*
 * restore_wait - polls the server until recovery ends (promotion), or it is
 * paused with want_pause; a paused server that should promote is resumed
 * (pg_wal_replay_resume). Reports a server that stopped with its log's
 * last FATAL/PANIC line and tail.
 */
PgcRestoreOutcome restore_wait(const PgcRestoreWait *w);

/* restore_file_size - bytes in a file of host h (a link is not followed), 0 when absent. */
int64_t restore_file_size(PgcHost *h, const char *path);

#endif
