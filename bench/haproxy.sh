#!/usr/bin/env bash
# bench/haproxy.sh - HAProxy (balancer.haproxy) in front of a primary and two
# replicas built by `pgconverge apply`:
#   1. pgbench select-only (-S, -c 8 -j 2, BENCH_SECONDS each, default 5,
#      BENCH_ROUNDS times alternating, default 3) through write_port against
#      the primary directly, and through read_port against one replica
#      directly: median tps and the ratio (HAProxy shares the 2 cores with
#      the servers and pgbench: every query crosses it twice);
#   2. automatic failover by `pgconverge reconcile` (failover.mode auto,
#      detect_after 2s): kill -9 of the primary to the first write committed
#      through write_port, BENCH_RUNS times (default 3); median and max
#      against detect_after + 3 s, and HAProxy's share of it (from the
#      promotion, per the journal, to that write) against 1.5 s.
#
#   bash bench/haproxy.sh        (as root)
#
# Every server and HAProxy is stopped by its pid when the script ends.
set -u

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
runs=${BENCH_RUNS:-3}
slack_ms=3000

loop_pid=
stop_all() {
	local pid
	bench_stop_pid KILL "$loop_pid"
	pid=$(cat "$tmp/data/haproxy/haproxy.pid" 2>/dev/null)
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = haproxy ] || return 0
	kill -KILL $(ps -o pid= --ppid "$pid") "$pid" 2>/dev/null
}
bench_start haproxy stop_all

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
bench_ports 6 || exit 1
declare -A port
port[n1]=${ports[0]} port[n2]=${ports[1]} port[n3]=${ports[2]}
wport=${ports[3]} rport=${ports[4]} sport=${ports[5]}
topo=$tmp/topology.yaml
mkdir -m 700 "$tmp/secrets"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"
write_topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  hb:
    primary: n1
$(bench_nodes data "${port[n1]}" "${port[n2]}" "${port[n3]}")
    settings: {shared_buffers: 64MB, max_connections: 60}
    hba:
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: trust}
    failover: {mode: $1, detect_after: 2s, probe_interval: 250ms, min_interval: 1s}
    replication:
      user: replicator
      password: {file: secrets/replicator}
    balancer:
      haproxy: {write_port: $wport, read_port: $rport, stats_port: $sport}
EOF
}
write_topology manual
echo "== haproxy: pgbench select-only through HAProxy against direct, and kill -9 to the first write"
if ! bench_run_child "$PGC" apply -f "$topo" >"$tmp/apply.out" 2>&1; then
	echo "haproxy: apply failed:"
	tail -n 20 "$tmp/apply.out"
	exit 1
fi
"$BENCH_PG_BIN/pgbench" -i -s 10 -q -h 127.0.0.1 -p "$wport" -U postgres postgres >"$tmp/init.log" 2>&1 || {
	echo "haproxy: pgbench -i through write_port failed"
	tail -n 5 "$tmp/init.log"
	exit 1
}
lib_wait 30 lib_sql_is "${port[n2]}" "select count(*) > 0 from pgbench_accounts" t

# tps PORT - pgbench -S through 127.0.0.1:PORT; its tps (without connection time).
tps() {
	"$BENCH_PG_BIN/pgbench" -S -M simple -c 8 -j 2 -T "$seconds" -h 127.0.0.1 -p "$1" -U postgres postgres \
		2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
# arm NAME VIA DIRECT - pgbench -S direct and through HAProxy, BENCH_ROUNDS
# times each (default 3), alternating which goes first (the machine's load
# drifts); the medians and their ratio.
arm() {
	local a=() b=() r ma mb
	for ((r = 1; r <= rounds; r++)); do
		if ((r % 2)); then
			a+=("$(tps "$3")") b+=("$(tps "$2")")
		else
			b+=("$(tps "$2")") a+=("$(tps "$3")")
		fi
	done
	ma=$(printf '%s\n' "${a[@]}" | bench_median)
	mb=$(printf '%s\n' "${b[@]}" | bench_median)
	printf '   %-28s direct %7.0f tps   through HAProxy %7.0f tps   (medians of %d runs of %d s)\n' \
		"$1" "${ma:-0}" "${mb:-0}" "$rounds" "$seconds"
	[ -n "$ma" ] && [ -n "$mb" ] && bench_ratio "$1 (direct / HAProxy tps)" "$ma" "$mb" 1.5
}
arm "write_port vs the primary" "$wport" "${port[n1]}"
arm "read_port vs one replica" "$rport" "${port[n2]}"

# --- failover -------------------------------------------------------------------------------
write_topology auto
"$BENCH_PG_BIN/psql" -XAtq -h 127.0.0.1 -p "$wport" -U postgres -d postgres \
	-c "create table hb_writes (t timestamptz)" >/dev/null
"$PGC" reconcile -f "$topo" --interval 30s >"$tmp/loop.out" 2>"$tmp/loop.err" &
loop_pid=$!
primary_of() {
	local n
	for n in n1 n2 n3; do [ "$(lib_sql "${port[$n]}" 'select pg_is_in_recovery()' 2>/dev/null)" = f ] && echo "$n" && return 0; done
	return 1
}
steady() {
	lib_wait 90 lib_sql_is "${port[$1]}" "select count(*) from pg_stat_replication where state = 'streaming'" 2 &&
		lib_wait 30 lib_json "$tmp/.pgconverge/status.json" \
			"d['clusters']['hb']['ha']['primary'] == '$1' and d['clusters']['hb']['ha']['verdict'] == 'healthy'" &&
		lib_wait 30 sh -c "[ \"\$(PGCONNECT_TIMEOUT=1 $BENCH_PG_BIN/psql -XAtq -h 127.0.0.1 -p $wport -U postgres -d postgres -c 'select inet_server_port()' 2>/dev/null)\" = ${port[$1]} ]"
}
auto_ends() { grep '"mode":"auto"' "$tmp/.pgconverge/journal.jsonl" 2>/dev/null | grep -c '"event":"end"'; }
# share FIRST_MS - from the journal's last automatic failover: "SHARE DETECTED
# FENCED PROMOTED", SHARE being the time from its promotion to FIRST_MS (the
# first write through write_port), the others counted from the first failed probe.
share() {
	python3 - "$tmp/.pgconverge/journal.jsonl" "$1" <<'PY'
import datetime, json, sys
start = end = None
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("mode") == "auto" and e.get("event") == "start":
        start = e
    if e.get("mode") == "auto" and e.get("event") == "end":
        end = e
ts = datetime.datetime.strptime(start["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
first_failed = ts.timestamp() * 1000 - start["failed_for_ms"]
t = end["timings_ms"]
print("%d %d %d %d" % (int(sys.argv[2]) - first_failed - t["promoted"], t["detected"], t["fenced"], t["promoted"]))
PY
}
results=()
shares=()
p=n1
for ((r = 1; r <= runs; r++)); do
	if ! steady "$p"; then
		echo "   run $r: the cluster did not settle with $p primary; log tail:"
		tail -n 15 "$tmp/loop.err" | sed 's/^/     | /'
		break
	fi
	sleep 1
	ends=$(auto_ends)
	pm=$(lib_pidfile_pid "$tmp/data/$p")
	t_kill=$(now_ms)
	kill -KILL "$pm"
	t_write=
	while [ $(($(now_ms) - t_kill)) -lt 60000 ]; do
		if PGCONNECT_TIMEOUT=1 "$BENCH_PG_BIN/psql" -XAtq -h 127.0.0.1 -p "$wport" -U postgres -d postgres \
			-c "insert into hb_writes values (now())" >/dev/null 2>&1; then
			t_write=$(now_ms)
			break
		fi
		sleep 0.02
	done
	if [ -z "$t_write" ]; then
		echo "   run $r: no write through write_port within 60 s; log tail:"
		tail -n 15 "$tmp/loop.err" | sed 's/^/     | /'
		break
	fi
	results+=($((t_write - t_kill)))
	lib_wait 60 eval '[ "$(auto_ends)" -gt "$ends" ]'
	set -- $(share "$t_write")
	shares+=("${1:-0}")
	p=$(primary_of) || { echo "   run $r: no primary after the failover"; break; }
	printf '   run %d: kill -9 of the primary -> first write through write_port %6d ms (now %s);' \
		"$r" "$((t_write - t_kill))" "$p"
	printf ' journal: detected %s fenced %s promoted %s ms; promotion -> first write through HAProxy %s ms\n' \
		"${2:-?}" "${3:-?}" "${4:-?}" "${1:-?}"
done
bench_stop_pid TERM "$loop_pid"
loop_pid=
if [ ${#results[@]} -gt 0 ]; then
	med=$(printf '%s\n' "${results[@]}" | bench_median)
	max=$(printf '%s\n' "${results[@]}" | sort -n | tail -n 1)
	bound=$((2000 + slack_ms))
	printf '   summary: median %.0f ms, max %d ms (%d runs); target <= %d ms (detect_after 2s + 3 s): median %s, max %s\n' \
		"$med" "$max" "${#results[@]}" "$bound" \
		"$(awk -v m="$med" -v b="$bound" 'BEGIN { print m <= b ? "met" : "NOT met" }')" \
		"$([ "$max" -le "$bound" ] && echo met || echo "NOT met")"
	smax=$(printf '%s\n' "${shares[@]}" | sort -n | tail -n 1)
	printf '   HAProxy'"'"'s share (promotion -> first write through write_port): median %.0f ms, max %d ms; target <= 1500 ms: %s\n' \
		"$(printf '%s\n' "${shares[@]}" | bench_median)" "$smax" "$([ "$smax" -le 1500 ] && echo met || echo "NOT met")"
fi
