/*
 * reconcile/observe/graph.h - the topology as a Graphviz DOT graph (`pgconverge graph`).
 *
 * A pure renderer: it reads the desired model, and optionally the observed
 * one, and writes DOT text; no other I/O. The output is deterministic (the
 * topology's order throughout), so tests compare it exactly.
 *
 * What is drawn:
 *   - one box (subgraph "cluster_<name>") per cluster, holding a dashed box
 *     per region with that region's nodes, the nodes without a region, and
 *     the pooler (pgbouncer) and balancers (haproxy, pgpool) the cluster
 *     declares;
 *   - an edge per replication stream, from the upstream (cluster_upstream())
 *     to the replica; the streams that synchronous_standby_names names on
 *     the desired primary (its direct replicas, when replication.synchronous
 *     is not off) are bold and labelled "sync (any N)", or under FIRST
 *     "sync (first N, priority P)" / "potential sync (...)" past the count;
 *   - edges from the pooler and the balancer to the nodes they serve: the
 *     pooler and the balancer's write port to the desired primary, the
 *     read port (when declared) to every replica; Pgpool-II's "write" edge
 *     to the primary and, with load_balance, "read" edges to the replicas
 *     (with --live: to the primary it sees and the standbys it holds
 *     attached, and its box says whether it runs and which primary it sees);
 *   - a dashed edge "standby of SOURCE" from the source's primary to a
 *     standby cluster's primary (with an observed state: from the source
 *     node it streams from, with its lag), when both clusters are drawn;
 *   - each backup repository once (a cylinder outside the boxes, shared by
 *     clusters naming the same path), with an edge from the cluster's box
 *     to it (its schedule as the label) and a dashed "restore" edge from it
 *     to the primary of a cluster bootstrapped from it.
 *
 * With an observed state, every node gets a fill colour and a label line
 * for what was seen, the first that applies: "down" (or "unreachable" when
 * its postmaster runs), a role other than the desired one ("primary
 * (desired: replica)"), lagging ("lag 12 MB": more than failover.max_lag,
 * or GRAPH_DEFAULT_LAG_BYTES when not set, behind the live primary's
 * current position; "not streaming": a replica without a WAL receiver),
 * else "running". The balancer gets a line "up" or "down", and when its
 * runtime API answered, its edges are what HAProxy does now (observe_haproxy.h):
 * one per server not in maintenance, "write", "read" or "read (backup)",
 * "(check down)" when its health check fails.
 *
 * DOT identifiers and every attribute value are written as quoted strings:
 * '"' and '\' escaped with '\', a newline as "\n", other control
 * characters as spaces. Names and values inside labels (hosts, regions,
 * paths, restore targets, the file name) are first escaped as str_text
 * does, so only a label's own line breaks break it. Node identifiers are "CLUSTER/NODE",
 * "CLUSTER:pgbouncer", "CLUSTER:haproxy", "CLUSTER:pgpool" and "repository:PATH".
 */
#ifndef PGC_RECONCILE_OBSERVE_GRAPH_H
#define PGC_RECONCILE_OBSERVE_GRAPH_H

#include <stdio.h>

#include "reconcile/observe/observe.h"
#include "schema/topology.h"

/* A replica further behind than this is lagging when failover.max_lag is not set. */
#define GRAPH_DEFAULT_LAG_BYTES (16LL * 1024 * 1024)

/*
 * graph_render - writes t (only the cluster named only_cluster, when not
 * NULL) as one DOT digraph to out. obs is NULL without --live; with it,
 * nodes are drawn by their observed state. Returns 0, or -1 when writing
 * to out failed (ferror; errno as the stream left it): nothing is
 * reported, the caller names the destination.
 */
int graph_render(FILE *out, const PgcTopology *t, const char *only_cluster,
		 const PgcObserved *obs);

#endif
