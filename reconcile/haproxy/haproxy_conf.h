/*
 * reconcile/haproxy/haproxy_conf.h - what HAProxy should do, as data and as
 * haproxy.cfg text. Pure: the planner and the front door hooks use it.
 *
 * Two listeners (listen sections), each with its servers:
 *   pg_write  write_port: every node; only the primary is ready, every other
 *             server is in maintenance (`disabled` in the file);
 *   pg_read   read_port (when set): every node as a normal server, ready when
 *             it is a replica that streams within max_lag, and every node
 *             again as "<node>:primary", a backup server, ready only for
 *             the primary (reads go there when no replica is ready).
 * A primary that moves, a replica that falls behind: only server states
 * change, which HAProxy's runtime API sets without a reload; the file says
 * the same so that a restart of HAProxy loads what runs.
 *
 * The file's structure (everything but the `disabled` words) has a digest,
 * carried in `global / description`, which `show info` prints: observe then
 * knows what the running HAProxy loaded, and the planner whether a reload
 * is due.
 */
#ifndef PGC_RECONCILE_HAPROXY_HAPROXY_CONF_H
#define PGC_RECONCILE_HAPROXY_HAPROXY_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "reconcile/observe/observe_haproxy.h"
#include "reconcile/observe/observe_model.h"
#include "schema/topology.h"

/* HAPROXY_WRITE_BACKEND, HAPROXY_READ_BACKEND, HAPROXY_BACKUP_SUFFIX: observe_haproxy.h */
/* Hex digits of the structural digest kept in the description. */
#define HAPROXY_DIGEST_LEN 16

/* What one node should get. */
typedef struct {
	const char *node;
	bool write;               /* ready in pg_write */
	bool read;                /* ready in pg_read as a replica */
	bool backup;              /* its pg_read backup server is ready (it is the primary) */
	const char *why;          /* why a replica is out of pg_read; NULL when in */
} PgcHaproxyNodeWant;

typedef struct {
	const char *primary;
	PgcHaproxyNodeWant *nodes; /* same order as the cluster's nodes */
	size_t n;
} PgcHaproxyWant;

/* One server whose state must change. */
typedef struct {
	const char *backend;
	const char *server;
	bool ready;               /* to ready; false: to maintenance */
} PgcHaproxyMove;

/* haproxy_want_init - primary writes and is the reads' backup; no replica reads. */
void haproxy_want_init(PgcArena *a, const PgcCluster *c, const char *primary, PgcHaproxyWant *w);

/*
 * haproxy_want_observed - haproxy_want_init, then each replica in reads when
 * oc shows it in recovery, streaming, and at most max_lag behind the
 * primary's current position (unknown when the primary does not answer:
 * then streaming is enough). fresh(node) true: the node is being created or
 * started by this plan, and counts as in (HAProxy's health check holds
 * traffic until it listens). oc NULL: only fresh nodes.
 */
void haproxy_want_observed(PgcArena *a, const PgcCluster *c, const char *primary,
			   const PgcObsCluster *oc, bool (*fresh)(const char *node, void *arg),
			   void *arg, PgcHaproxyWant *w);

/*
 * haproxy_want_runtime - haproxy_want_init for primary, each other replica's
 * read state as HAProxy has it now (o), but `leaving` out of reads (the
 * old primary, rejoining). For the hooks, which have no observation.
 */
void haproxy_want_runtime(PgcArena *a, const PgcCluster *c, const char *primary,
			  const char *leaving, const PgcObsHaproxy *o, PgcHaproxyWant *w);

/* haproxy_digest - the structural digest of c's file (HAPROXY_DIGEST_LEN hex digits), in a. */
const char *haproxy_digest(PgcArena *a, const PgcCluster *c);

/* haproxy_render - haproxy.cfg for c with the server states of w, in a. */
const char *haproxy_render(PgcArena *a, const PgcCluster *c, const PgcHaproxyWant *w);

/*
 * haproxy_moves - the servers whose state in o differs from w, those
 * leaving first (a server leaves pg_write before another enters it).
 * Servers o does not have are left out (their absence is structural: a
 * reload). Returns the count; *out in a.
 */
size_t haproxy_moves(PgcArena *a, const PgcCluster *c, const PgcHaproxyWant *w,
		     const PgcObsHaproxy *o, PgcHaproxyMove **out);

/*
 * haproxy_move_commands - the runtime API commands of one move: "set server
 * BE/SRV state ready|maint", and for a server leaving pg_write "shutdown
 * sessions server BE/SRV" (its clients must not keep writing to a node
 * that is no longer the primary). Returns how many (1 or 2) into cmds.
 */
size_t haproxy_move_commands(PgcArena *a, const PgcHaproxyMove *m, const char *cmds[2]);

/* haproxy_command_ok - cmd is one the executor may send (a saved plan names no other). */
bool haproxy_command_ok(const char *cmd);

/*
 * haproxy_dir_problem - why haproxy.cfg cannot be written for c: a quote or
 * a control character in balancer.haproxy.dir, a socket path too long for a
 * unix socket, a listen_address or node host that is not a bare name or
 * address. NULL when it can.
 */
const char *haproxy_dir_problem(PgcArena *a, const PgcCluster *c);

#endif
