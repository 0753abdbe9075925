#!/bin/sh
# bench/gen_topology.sh CLUSTERS NODES_PER_CLUSTER - prints a valid topology
# with CLUSTERS clusters of NODES_PER_CLUSTER nodes each (cascades, regions,
# per-node settings), for benchmarks.
set -eu
clusters=${1:-10}
per=${2:-100}
awk -v C="$clusters" -v N="$per" 'BEGIN {
	print "version: 1"
	print "clusters:"
	port = 20000
	for (c = 0; c < C; c++) {
		printf "  c%d:\n", c
		print "    primary: n0"
		printf "    settings: {max_connections: 200, shared_buffers: 128MB, work_mem: 4MB, wal_level: replica, max_wal_senders: %d, max_replication_slots: %d}\n", N + 10, N + 10
		print "    replication: {synchronous: {method: any, count: 1}}"
		print "    regions: {min: 2}"
		print "    failover: {mode: auto, prefer_region: r0}"
		print "    hba:"
		print "      - {type: host, database: all, user: all, address: 10.0.0.0/8, method: scram-sha-256}"
		print "    nodes:"
		for (n = 0; n < N; n++) {
			up = (n > 1 && n % 10 == 0) ? sprintf(", replicate_from: n%d", n - 9) : ""
			printf "      n%d: {host: 127.0.0.1, port: %d, data_dir: data/c%d/n%d, region: r%d%s, settings: {work_mem: %dMB}}\n", n, port++, c, n, n % 3, up, 4 + n % 8
		}
	}
}'
