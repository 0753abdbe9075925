#!/usr/bin/env bash
# tests/integration/test_agents_partition.sh - a real network partition
# between coordinated agents (network namespaces, lib_netns.sh): three
# hosts with one node and one agent each, etcd on a fourth host, synchronous
# replication (method any, count 1). The primary's host is cut off from the
# switch, so it reaches neither etcd nor its replicas:
#   - its agent stops the primary within the ttl (self-fencing), and the
#     agent acts on nothing cluster-wide (no lease, no leadership);
#   - a replica is promoted on the majority side and takes writes;
#   - a writer on each side counts acknowledged commits: after the heal none
#     is missing on the new primary;
#   - never two nodes accept writes at the same time (sampled every 0.2 s
#     through the unix sockets, which the partition does not cut);
#   - healed, the old primary rejoins as a replica.
#
# Needs root and network namespaces (prints SKIP and exits 0 without them),
# PostgreSQL 15 and etcd. One ok/FAIL line per check; exit 1 when any failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/lib_netns.sh"
lib_require_root
netns_require
PGC=$(lib_bin) || exit 1

tmp=$(lib_tmpdir) || exit 1
sampler_pid=
writer_pid=
cleanup() {
	[ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
	[ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null
	netns_teardown
	lib_etcd_stop_all "$tmp"
	lib_teardown "$tmp"
}
trap cleanup EXIT

lib_node_ports 3
eports=$(lib_free_ports 2) || { echo "FAIL no free ports"; exit 1; }
ecport=$(echo "$eports" | sed -n 1p)
epport=$(echo "$eports" | sed -n 2p)
netns_setup 4 || { fail "netns_setup 4"; lib_finish test_agents_partition; }
declare -A host=([pg1]=${NETNS_ADDR[1]} [pg2]=${NETNS_ADDR[2]} [pg3]=${NETNS_ADDR[3]})
declare -A hostno=([pg1]=1 [pg2]=2 [pg3]=3)
subnet=${NETNS_ADDR[1]%.*}.0/24
etcd_url=http://${NETNS_ADDR[4]}:$ecport
topo=$tmp/topology.yaml
prefix=/pgc-part
TTL=4

mkdir -m 700 "$tmp/secrets"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"
cat >"$topo" <<EOF
version: 1
coordination:
  etcd:
    endpoints: ["$etcd_url"]
    prefix: $prefix
    ttl: ${TTL}s
clusters:
  c:
    primary: pg1
    nodes:
      pg1: {host: ${host[pg1]}, port: ${port[pg1]}, data_dir: data/pg1}
      pg2: {host: ${host[pg2]}, port: ${port[pg2]}, data_dir: data/pg2}
      pg3: {host: ${host[pg3]}, port: ${port[pg3]}, data_dir: data/pg3}
    settings:
      shared_buffers: 16MB
      max_connections: 30
      wal_log_hints: "on"
    failover: {mode: auto, detect_after: 2s, probe_interval: 500ms, min_interval: 10s}
    replication:
      user: replicator
      password: {file: secrets/replicator}
      synchronous: {method: any, count: 1}
    hba:
      - {type: host, database: all, user: postgres, address: "$subnet", method: trust}
EOF

q() { lib_sql "${port[$1]}" "$2" 2>/dev/null; }
primaries() {
	local n out=
	for n in pg1 pg2 pg3; do [ "$(q "$n" 'select pg_is_in_recovery()')" = f ] && out="$out $n"; done
	echo "${out# }"
}
streams_from() {
	lib_wait "${3:-30}" lib_sql_is "${port[$1]}" \
		"select status || '|' || sender_port from pg_stat_wal_receiver" "streaming|${port[$2]}"
}
agent_start() {
	local i=${hostno[$1]}
	netns_exec "$i" "$PGC" reconcile -f "$topo" --as "${host[$1]}" --interval 1s \
		--state-dir "$tmp/state-$i" >>"$tmp/agent-$i.log" 2>&1 &
}
etcd_get() {
	netns_exec 2 env ETCDCTL_API=3 etcdctl --endpoints "$etcd_url" get "$1" --print-value-only 2>/dev/null
}
# writer_start NODE TABLE FIRST - commits "insert into TABLE values (i)" from FIRST on,
# one transaction each (synchronous_commit on), until an error stops it.
writer_start() {
	seq "$3" $(($3 + 200000)) | sed "s/.*/insert into $2 values (&);/" >"$tmp/$2.sql"
	"$LIB_PG_BIN/psql" -X -v ON_ERROR_STOP=1 -h "$LIB_SOCKET_DIR" -p "${port[$1]}" -U postgres \
		-d postgres -c 'set synchronous_commit = on' -f "$tmp/$2.sql" -o "$tmp/$2.out" \
		>"$tmp/$2.err" 2>&1 &
	writer_pid=$!
}
writer_stop() {
	kill "$writer_pid" 2>/dev/null
	wait "$writer_pid" 2>/dev/null
	writer_pid=
	grep -c '^INSERT 0 1$' "$tmp/$1.out"
}

netns_etcd_start 4 "$tmp" e1 "$etcd_url" "http://${NETNS_ADDR[4]}:$epport" ||
	{ fail "etcd starts on host 4"; lib_finish test_agents_partition; }
for n in pg1 pg2 pg3; do agent_start "$n"; done
converged() {
	[ "$(primaries)" = pg1 ] && streams_from pg2 pg1 1 && streams_from pg3 pg1 1 &&
		lib_sql_is "${port[pg1]}" "select count(*) from pg_stat_replication where sync_state in ('sync', 'quorum')" 2
}
if lib_wait 150 converged; then
	ok "three agents in three namespaces build pg1 and two synchronous replicas"
else
	fail "bootstrap did not converge"
	for i in 1 2 3; do echo "  --- agent $i"; tail -n 15 "$tmp/agent-$i.log" | sed 's/^/  | /'; done
	lib_finish test_agents_partition
fi
sleep 3 # the leader publishes the primary's view (its synchronous standbys)

# Never two primaries: sampled through the unix sockets during the whole episode.
(
	while :; do
		echo "$(date +%s%N) $(primaries)"
		sleep 0.2
	done
) >"$tmp/samples" 2>/dev/null &
sampler_pid=$!

q pg1 "create table w1 (i int primary key); create table w2 (i int primary key)" >/dev/null
writer_start pg1 w1 1
sleep 2
pid1=$(lib_pidfile_pid "$tmp/data/pg1")
start_ns=$(date +%s%N)
netns_cut 1
# Its writer's session ends when the fence begins (a fast shutdown ends the sessions).
if lib_wait $((TTL + 2)) sh -c "! kill -0 $writer_pid 2>/dev/null"; then
	ok "the isolated primary pg1 stopped taking writes $(( ($(date +%s%N) - start_ns) / 1000000 )) ms after the cut (ttl ${TTL} s)"
else
	fail "pg1's writer still runs $((TTL + 2)) s after its host was cut off"
fi
check "pg1's server is gone too" lib_wait 5 sh -c "! kill -0 $pid1 2>/dev/null"
k1=$(writer_stop w1)
new=
for _ in $(seq 1 300); do
	for n in pg2 pg3; do
		if [ "$(q "$n" 'select pg_is_in_recovery()')" = f ]; then
			new=$n
			break 2
		fi
	done
	sleep 0.1
done
ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
if [ -n "$new" ]; then
	echo "primary's host cut off to $new promoted: $ms ms (ttl ${TTL} s, detect_after 2 s)"
	ok "$new promoted on the majority side ($ms ms after the cut)"
	# Target ttl + 1 s. A pass or a probe that waited on the cut-off host once
	# held the agents for tens of seconds: 5 ttl bounds it on a loaded machine.
	check "promoted within 5 ttl of the cut" test "$ms" -lt $((TTL * 5000))
else
	fail "no replica was promoted within 30 s of the cut"
	for i in 1 2 3; do echo "  --- agent $i"; tail -n 20 "$tmp/agent-$i.log" | sed 's/^/  | /'; done
	lib_finish test_agents_partition
fi
[ "$new" = pg2 ] && other=pg3 || other=pg2
# Synchronous replication: the new primary acknowledges once a standby streams from it.
check "$other streams from $new" streams_from "$other" "$new" 60
writer_start "$new" w2 1
sleep 3
k2=$(writer_stop w2)
check "writes on $new after the failover ($k2 acknowledged)" test "$k2" -gt 0
leader=$(etcd_get "$prefix/c/leader")
check "the leader is on the majority side ($leader)" test -n "$leader" -a "$leader" != "${host[pg1]}"
check "the isolated agent applies nothing without etcd" grep -q "this pass applies nothing" "$tmp/agent-1.log"
check "the isolated agent leads nothing" sh -c "! grep -q 'leads it now' '$tmp/agent-1.log' || grep -q 'no longer the leader' '$tmp/agent-1.log'"

netns_heal 1
check "healed: pg1 rejoins as a replica of $new" streams_from pg1 "$new" 120
kill "$sampler_pid" 2>/dev/null
wait "$sampler_pid" 2>/dev/null
sampler_pid=
check "never two primaries at once ($(wc -l <"$tmp/samples") samples)" sh -c "! awk 'NF > 2' '$tmp/samples' | grep -q ."
got1=$(q "$new" "select count(*) from w1 where i <= $k1")
check "all $k1 commits acknowledged by pg1 before the cut are on $new" test "$got1" = "$k1" -a "$k1" -gt 0
got2=$(q "$new" "select count(*) from w2 where i <= $k2")
check "all $k2 commits acknowledged by $new are there" test "$got2" = "$k2"
check "one primary after the heal: $new" test "$(primaries)" = "$new"

lib_finish test_agents_partition
