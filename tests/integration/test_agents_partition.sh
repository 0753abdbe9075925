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
. "$top/tests/integration/lib_agents.sh"
lib_require_root
netns_require
PGC=$(lib_bin) || exit 1

tmp=$(lib_tmpdir) || exit 1
sampler_pid=
writer_pid=
cleanup() {
	[ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
	[ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null
	agents_kill_all
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
AG_NETNS=1
subnet=${NETNS_ADDR[1]%.*}.0/24
etcd_url=http://${NETNS_ADDR[4]}:$ecport
prefix=/pgc-part
TTL=4
agents_topology "$tmp/topology.yaml" "$subnet" "{method: any, count: 1}"

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
agents_start_all
if lib_wait 150 agents_converged 2; then
	ok "three agents in three namespaces build pg1 and two synchronous replicas"
else
	fail "bootstrap did not converge"
	agents_show_logs
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
	agents_show_logs 20
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
check "the isolated agent applies nothing without etcd" grep -q "this pass applies nothing" "$(agent_log pg1)"
check "the isolated agent leads nothing" sh -c "! grep -q 'leads it now' '$(agent_log pg1)' || grep -q 'no longer the leader' '$(agent_log pg1)'"

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
