#!/usr/bin/env bash
# tests/integration/test_agents_switchover_rollback.sh - a switchover between
# hosts through etcd that cannot complete, and rolls back: the set-up of
# test_agents_switchover.sh (three agents on 127.0.0.2-4 with
# --allow-switchover, one etcd, synchronous replication), then WAL replay
# paused on pg2 and the topology's primary changed to pg2. pg1's agent stops
# pg1 cleanly (decision stopped); pg2 cannot replay the shutdown checkpoint,
# so its agent abandons the decision after the 60 s bound (nothing was
# promoted), and pg1's agent starts pg1 again as the primary (a claim). The
# leader does not try again at once. Checked: every acknowledged commit of a
# writer is on pg1, never two primaries, pg1 the primary again with pg2 and
# pg3 streaming from it once replay resumes and primary: is pg1 again.
# Takes about 1.5 min (the replay bound).
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

lib_etcd_start "$tmp" e1 "$etcd_url" "http://127.0.0.1:$epport" || { fail "etcd starts"; lib_finish test_agents_switchover_rollback; }

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
	lib_finish test_agents_switchover_rollback
fi
sleep 2
leader=$(etcd_get "$prefix/c/leader")
echo "leader: $leader"

q pg1 "create table t (i int primary key)" >/dev/null
lib_wait 10 lib_sql_is "${port[pg2]}" "select count(*) from t" 0
# pg2 receives but does not replay: it cannot replay pg1's shutdown checkpoint.
q pg2 "select pg_wal_replay_pause()" >/dev/null
pid1=$(lib_pidfile_pid "$tmp/data/pg1")
(
	while :; do
		echo "$(date +%s%N) $(primaries)"
		sleep 0.2
	done
) >"$tmp/samples" 2>/dev/null &
sampler_pid=$!
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
		sleep 0.05
	done
) >"$tmp/acks" 2>/dev/null &
writer_pid=$!
sleep 2
sed -i "s/^    primary: pg1\$/    primary: pg2/" "$topo"
check "the decision reaches stopped" lib_wait 60 sh -c \
	"ETCDCTL_API=3 etcdctl --endpoints '$etcd_url' get '$prefix/c/decision' --print-value-only | grep -q '\"state\":\"stopped\"'"
check "pg1 is stopped" lib_wait 10 sh -c "! kill -0 $pid1 2>/dev/null"
check "the decision is abandoned after the replay bound" lib_wait 120 sh -c \
	"ETCDCTL_API=3 etcdctl --endpoints '$etcd_url' get '$prefix/c/decision' --print-value-only | grep -q '\"state\":\"abandoned\"'"
etcd_get "$prefix/c/decision"; echo
check "pg1 runs again as the primary" lib_wait 30 sh -c "[ \"\$(runuser -u postgres -- $LIB_PG_BIN/psql -h $LIB_SOCKET_DIR -p ${port[pg1]} -XAtq -d postgres -c 'select pg_is_in_recovery()')\" = f ]"
check "the leader does not try again at once" sh -c "sleep 8; ETCDCTL_API=3 etcdctl --endpoints '$etcd_url' get '$prefix/c/decision' --print-value-only | grep -q '\"state\":\"abandoned\"'"
sed -i "s/^    primary: pg2\$/    primary: pg1/" "$topo"
q pg2 "select pg_wal_replay_resume()" >/dev/null
sleep 3
kill "$writer_pid" "$sampler_pid" 2>/dev/null
wait "$writer_pid" "$sampler_pid" 2>/dev/null
writer_pid=
sampler_pid=
streams_from pg2 pg1 60 && ok "pg2 streams from pg1" || fail "pg2 does not stream from pg1"
streams_from pg3 pg1 60 && ok "pg3 streams from pg1" || fail "pg3 does not stream from pg1"
n1=$(grep -c ' pg1 ' "$tmp/acks"); n2=$(grep -c ' pg2 ' "$tmp/acks")
check "the writer committed on pg1 only ($n1, on pg2: $n2)" test "$n1" -gt 0 -a "$n2" = 0
missing=$(awk '{ print $3 }' "$tmp/acks" | while read -r i; do
	[ "$(q pg1 "select count(*) from t where i = $i")" = 1 ] || echo "$i"
done | wc -l)
check "every acknowledged commit is on pg1: $missing missing" test "$missing" = 0
check "never two primaries at once ($(wc -l <"$tmp/samples") samples)" sh -c "! awk 'NF > 2' '$tmp/samples' | grep -q ."
check "pg1 is the only primary" test "$(primaries)" = pg1
for h in 127.0.0.2 127.0.0.3 127.0.0.4; do
	grep -h -E "switch|stopping|stopped cleanly|replayed|abandon|rolled back|again as the primary|not tried again" "$tmp/agent-$h.log" | sed "s/^/  | $h /"
done | sort -k3 | tail -n 30

lib_finish test_agents_switchover_rollback
