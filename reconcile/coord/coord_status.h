/*
 * reconcile/coord/coord_status.h - what `pgconverge status` shows of the
 * coordination state in etcd (coordination.etcd), read from anywhere: per
 * cluster, its leader and fencing token, the agents of its hosts and when
 * they last reported, each member as its agent published it, a decision in
 * progress, and the nodes fenced.
 *
 * The key layout is the agents' (reconcile/coord/coord.h): P/agents/HOST,
 * P/C/leader, P/C/members/NODE, P/C/decision, P/C/fenced/NODE. Everything
 * under P/ is read with one range request (one revision: a consistent
 * picture), then sorted out by coord_status_build(), which is pure.
 * Values that are not what the agents write are shown as unknown, never
 * an error: status reports what it finds.
 *
 * Memory: everything in the arena passed in.
 */
#ifndef PGC_RECONCILE_COORD_COORD_STATUS_H
#define PGC_RECONCILE_COORD_COORD_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "common/arena.h"
#include "reconcile/coord/etcd.h"
#include "schema/topology.h"

/* An agent of one of the cluster's hosts: P/agents/HOST, present while its lease lives. */
typedef struct {
	const char *host;
	bool present;             /* false: no key, the agent is gone or cut off from etcd */
	long long pid;            /* 0 unknown */
	const char *version;      /* NULL unknown */
	const char *started_at;
	const char *reported_at;
	double age_s;             /* since reported_at; -1 unknown */
} PgcCoordStatusAgent;

/* A member of the cluster as its agent published it (P/C/members/NODE). */
typedef struct {
	const char *node;
	bool present;             /* false: no key (its agent is gone), the rest unknown */
	const char *host;
	const char *role;         /* primary, replica, down, fenced, starting ... */
	bool running;
	long long timeline;       /* 0 unknown */
	const char *lsn;
	const char *receiver;     /* the WAL receiver's status, NULL none */
	const char *upstream;     /* host:port it streams from */
	long long last_msg_age_ms; /* -1 unknown */
	const char *reported_at;
	double age_s;             /* -1 unknown */
} PgcCoordStatusMember;

/* The last failover or switchover the leader decided (P/C/decision). */
typedef struct {
	bool present;
	const char *kind, *from, *to, *state, *leader, *at;
	long long token;
} PgcCoordStatusDecision;

/* A node its agent stopped (P/C/fenced/NODE). */
typedef struct {
	const char *node;
	const char *by, *reason, *at;
} PgcCoordStatusFenced;

typedef struct {
	const char *name;
	const char *leader;       /* the leader's host, NULL: nobody leads */
	int64_t token;            /* the leader key's create_revision (fencing token) */
	PgcCoordStatusAgent *agents; /* one per distinct host of the cluster's nodes */
	size_t n_agents;
	PgcCoordStatusMember *members; /* one per node of the topology, then any other published */
	size_t n_members;
	PgcCoordStatusDecision decision;
	PgcCoordStatusFenced *fenced;
	size_t n_fenced;
} PgcCoordStatusCluster;

typedef struct {
	const char *prefix;
	const char *error;        /* NULL: read; else why it could not be (etcd unreachable ...) */
	int64_t revision;         /* etcd's revision of the picture */
	PgcCoordStatusCluster *clusters; /* one per cluster of the topology, in its order */
	size_t n_clusters;
} PgcCoordStatus;

/*
 * coord_status_build - the picture from every key under prefix + "/" (kvs,
 * as etcd_get_prefix returned them) for the topology's clusters, ages
 * counted at now.
 */
void coord_status_build(PgcArena *a, const PgcTopology *t, const char *prefix,
			const PgcEtcdKv *kvs, size_t n, time_t now, PgcCoordStatus *out);

/*
 * coord_status_read - connects to t->etcd (password resolved on this host),
 * reads everything under its prefix and builds the picture. On a failure
 * out->error says why (no secret in it) and the clusters are empty; the
 * caller warns once and goes on.
 */
void coord_status_read(PgcArena *a, const PgcTopology *t, PgcCoordStatus *out);

/* coord_status_find - the cluster called name, or NULL. */
const PgcCoordStatusCluster *coord_status_find(const PgcCoordStatus *s, const char *name);

/*
 * coord_status_text - the lines `status` prints under a cluster's node
 * table (indented by two spaces), now for the ages of decision times.
 */
void coord_status_text(FILE *out, const PgcCoordStatusCluster *c);

/*
 * coord_status_json - the cluster's "coordination" object: {prefix,
 * revision, leader: {host, token} | null, agents: [...], members: [...],
 * decision: {...} | null, fenced: [...], error: null}; with s->error set,
 * {prefix, error} only. A new reference.
 */
json_t *coord_status_json(const PgcCoordStatus *s, const PgcCoordStatusCluster *c);

#endif
