#!/usr/bin/env bash
# tests/integration/test_agents_switchover.sh - a switchover between hosts
# through etcd: three agents, one per "host" (127.0.0.2, .3, .4 on
# loopback), each running `pgconverge reconcile --as HOST --interval 1s
# --allow-switchover` on the same topology, one etcd, synchronous
# replication (any 1). Once pg1 and its two replicas run, the topology's
# primary is changed to pg2 and the agents' passes carry the switchover
# out: the leader writes the decision, pg1's agent stops pg1 cleanly and
# records its shutdown checkpoint, pg2's agent promotes pg2 once it
# replayed it. Checked:
#   - a writer that commits one row at a time on whichever node takes
#     writes: every acknowledged commit is on pg2 afterwards;
#   - exactly one primary at every sample (every 0.2 s) - none during the
#     gap, never two;
#   - pg1 streams from pg2, and so does pg3; pg1 was never started again as
#     a primary; the decision in etcd ends done with the checkpoint;
#   - the write gap, from the writer's last commit on pg1 to its first on
#     pg2, and as the leader's journal reports it, is printed.
#
# Needs root (servers run as postgres), PostgreSQL 15, etcd, free loopback
# ports. One ok/FAIL line per check; exit 1 when any check failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1

tmp=$(lib_tmpdir) || exit 1
declare -A agent_pid
writer_pid=
sampler_pid=
cleanup() {
	local h
	[ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null
	[ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
	for h in "${!agent_pid[@]}"; do
		[ -n "${agent_pid[$h]}" ] && kill -KILL "${agent_pid[$h]}" 2>/dev/null
	done
	lib_etcd_stop_all "$tmp"
	lib_teardown "$tmp"
}
trap cleanup EXIT

lib_node_ports 3
eports=$(lib_free_ports 2) || { echo "FAIL no free ports"; exit 1; }
ecport=$(echo "$eports" | sed -n 1p)
epport=$(echo "$eports" | sed -n 2p)
etcd_url=http://127.0.0.1:$ecport
topo=$tmp/topology.yaml
prefix=/pgc-it
declare -A host=([pg1]=127.0.0.2 [pg2]=127.0.0.3 [pg3]=127.0.0.4)
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
      - {type: host, database: all, user: postgres, address: 127.0.0.1/32, method: trust}
      - {type: host, database: replication, user: replicator, address: 127.0.0.1/32, method: scram-sha-256}
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
etcd_get() {
	ETCDCTL_API=3 etcdctl --endpoints "$etcd_url" get "$1" --print-value-only 2>/dev/null
}
agent_start() {
	local h=${host[$1]}
	"$PGC" reconcile -f "$topo" --as "$h" --interval 1s --allow-switchover \
		--state-dir "$tmp/state-$h" >>"$tmp/agent-$h.log" 2>&1 &
	agent_pid[$h]=$!
}
# journal_count HOST ACTION_SUFFIX - successful ends of actions whose id ends in SUFFIX.
journal_count() {
	python3 - "$tmp/state-$1/journal.jsonl" "$2" <<'PY'
import json, sys
n = 0
try:
    for l in open(sys.argv[1]):
        e = json.loads(l)
        if e.get("event") == "end" and e.get("outcome") == "ok" and str(e.get("action", "")).endswith(sys.argv[2]):
            n += 1
except FileNotFoundError:
    pass
print(n)
PY
}
total() {
	local s=0 h
	for h in 127.0.0.2 127.0.0.3 127.0.0.4; do s=$((s + $(journal_count "$h" "$1"))); done
	echo "$s"
}
show_agents() {
	for h in 127.0.0.2 127.0.0.3 127.0.0.4; do echo "  --- agent $h"; tail -n "${1:-20}" "$tmp/agent-$h.log" | sed 's/^/  | /'; done
}

lib_etcd_start "$tmp" e1 "$etcd_url" "http://127.0.0.1:$epport" || { fail "etcd starts"; lib_finish test_agents_switchover; }

t0=$SECONDS
for n in pg1 pg2 pg3; do agent_start "$n"; done
converged() {
	[ "$(primaries)" = pg1 ] && streams_from pg2 pg1 1 && streams_from pg3 pg1 1 &&
		lib_sql_is "${port[pg1]}" "select count(*) from pg_stat_replication where sync_state in ('sync', 'quorum')" 2
}
if lib_wait 150 converged; then
	ok "three agents build pg1 and two synchronous replicas ($((SECONDS - t0)) s)"
else
	fail "bootstrap did not converge"
	show_agents 15
	lib_finish test_agents_switchover
fi
sleep 2
leader=$(etcd_get "$prefix/c/leader")
echo "leader: $leader"

# Never two primaries: sampled through the unix sockets during the whole switchover.
(
	while :; do
		echo "$(date +%s%N) $(primaries)"
		sleep 0.2
	done
) >"$tmp/samples" 2>/dev/null &
sampler_pid=$!

# The writer: one committed row at a time (synchronous_commit on), on whichever
# node takes it; each acknowledged commit is logged with its time.
q pg1 "create table t (i int primary key)" >/dev/null
lib_wait 10 lib_sql_is "${port[pg2]}" "select count(*) from t" 0
(
	i=0
	while :; do
		i=$((i + 1))
		for n in pg1 pg2; do
			if [ "$(lib_sql "${port[$n]}" "insert into t values ($i) returning 1" 2>/dev/null)" = "1" ]; then
				echo "$(date +%s%N) $n $i"
				break
			fi
		done
		sleep 0.02
	done
) >"$tmp/acks" 2>/dev/null &
writer_pid=$!
sleep 2

start_ns=$(date +%s%N)
sed -i 's/^    primary: pg1$/    primary: pg2/' "$topo"
switched() {
	[ "$(primaries)" = pg2 ] && streams_from pg1 pg2 1 && streams_from pg3 pg2 1
}
if lib_wait 120 switched; then
	ok "switched over to pg2: pg1 and pg3 stream from it ($(( ($(date +%s%N) - start_ns) / 1000000 )) ms after the edit)"
else
	fail "the switchover to pg2 did not complete within 120 s (primaries: '$(primaries)')"
	show_agents 30
fi
# Writes flow on pg2 for a while, then the writer stops.
lib_wait 30 sh -c "grep -q ' pg2 ' '$tmp/acks'"
sleep 2
kill "$writer_pid" 2>/dev/null
wait "$writer_pid" 2>/dev/null
writer_pid=
kill "$sampler_pid" 2>/dev/null
wait "$sampler_pid" 2>/dev/null
sampler_pid=

n1=$(grep -c ' pg1 ' "$tmp/acks")
n2=$(grep -c ' pg2 ' "$tmp/acks")
check "the writer committed on pg1 before ($n1) and on pg2 after ($n2)" test "$n1" -gt 0 -a "$n2" -gt 0
missing=$(awk '{ print $3 }' "$tmp/acks" | while read -r i; do
	[ "$(q pg2 "select count(*) from t where i = $i")" = 1 ] || echo "$i"
done | wc -l)
check "every acknowledged commit ($((n1 + n2))) is on pg2: $missing missing" test "$missing" = 0
gap=$(awk '$2 == "pg1" { last = $1 } $2 == "pg2" && !first { first = $1 } END { if (last && first) printf "%d", (first - last) / 1000000; else print "?" }' "$tmp/acks")
echo "write gap seen by the writer (last commit on pg1 to first on pg2): $gap ms"
check "the writer never committed on pg1 after pg2" sh -c "! awk '\$2 == \"pg2\" { seen = 1 } \$2 == \"pg1\" && seen { bad = 1 } END { exit !bad }' '$tmp/acks'"
check "never two primaries at once ($(wc -l <"$tmp/samples") samples)" sh -c "! awk 'NF > 2' '$tmp/samples' | grep -q ."
check "pg2 is the only primary" test "$(primaries)" = pg2
check "the decision in etcd: switchover pg1 -> pg2 with its shutdown checkpoint" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["kind"] == "switchover" and d["from"] == "pg1" and d["to"] == "pg2", d
assert d["state"] in ("promoted", "done") and d.get("checkpoint"), d' "$(etcd_get "$prefix/c/decision")"
check "the decision becomes done once pg1 is a replica" lib_wait 30 sh -c \
	"ETCDCTL_API=3 etcdctl --endpoints '$etcd_url' get '$prefix/c/decision' --print-value-only | grep -q '\"state\":\"done\"'"
leader=$(etcd_get "$prefix/c/leader")
check "the switchover ran once, by the leader ($leader)" test "$(journal_count "$leader" /switchover)/$(total /switchover)" = 1/1
check "pg1 was stopped by its own agent" grep -q 'stopping "pg1"' "$tmp/agent-127.0.0.2.log"
check "pg2 was promoted by its own agent" grep -q '"pg2" replayed the shutdown checkpoint' "$tmp/agent-127.0.0.3.log"
check "pg1 rejoined by its own agent" test "$(journal_count 127.0.0.2 /pg1/rejoin)/$(total /pg1/rejoin)" = 1/1
check "pg1 was never started again as a primary" test "$(total /pg1/start)" = 1
jgap=$(python3 - "$tmp/state-$leader/journal.jsonl" <<'PY'
import json, sys
g = "?"
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("event") == "switchover" and e.get("outcome") == "done":
        g = e.get("write_gap_ms")
print(g)
PY
)
echo "write gap reported by the leader's journal (pg1 stopping to pg2's first commit): $jgap ms"
check "the leader's journal reports the write gap" test "$jgap" != "?" -a "$jgap" != None
check "pg1 still streams from pg2" streams_from pg1 pg2 10

lib_finish test_agents_switchover
