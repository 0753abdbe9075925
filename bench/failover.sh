#!/usr/bin/env bash
# bench/failover.sh - automatic failover by `pgconverge reconcile`: the time
# from kill -9 of the primary to the first write accepted on the new one.
#
#   bash bench/failover.sh           (as root; BENCH_RUNS=N kills per setting,
#                                     default 5; BENCH_DETECT="1s 2s 5s")
#
# For each failover.detect_after (probe_interval 250ms), one cluster of 3
# nodes built by `pgconverge apply` (synchronous replication, any 1),
# failover.mode auto, watched by `pgconverge reconcile --interval 30s`. Each
# run: wait until the primary is healthy and both replicas stream from it,
# kill -9 its postmaster, and a writer (psql as postgres, one INSERT per
# attempt, to each other node in turn) stamps the first committed INSERT.
# The old primary rejoins through the loop and the next run kills the new
# primary. Prints every run (with the journal's timings from the first
# failed probe), the median and max per setting, and whether the median
# and max are within detect_after + 1.5 s. Every server is stopped by the
# pid in its postmaster.pid when the script ends, whatever the reason.
set -u

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
runs=${BENCH_RUNS:-5}
detects=${BENCH_DETECT:-1s 2s 5s}
probe=250ms
slack_ms=1500

# stop_loop - at exit, the reconcile loop goes first, by KILL: it must not
# restart the servers the cleanup stops.
loop_pid=
stop_loop() { bench_stop_pid KILL "$loop_pid"; }
bench_start failover stop_loop

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# write_once PORT - one INSERT with synchronous_commit on; true when committed.
write_once() {
	PGCONNECT_TIMEOUT=1 "$LIB_PG_BIN/psql" -X -q -h "$LIB_SOCKET_DIR" -p "$1" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 -c "insert into fo_bench values (now())" >/dev/null 2>&1
}
primary_of() {
	local n
	for n in n1 n2 n3; do [ "$(lib_sql "${port[$n]}" 'select pg_is_in_recovery()' 2>/dev/null)" = f ] && echo "$n" && return 0; done
	return 1
}
# steady P - P takes writes, two replicas stream from it, the loop watches it (60 s).
steady() {
	lib_wait 60 lib_sql_is "${port[$1]}" "select count(*) from pg_stat_replication where state = 'streaming'" 2 &&
		lib_wait 30 lib_json "$d/.pgconverge/status.json" \
			"d['clusters']['fo']['ha']['primary'] == '$1' and d['clusters']['fo']['ha']['verdict'] == 'healthy'"
}
auto_ends() { grep '"mode":"auto"' "$d/.pgconverge/journal.jsonl" 2>/dev/null | grep -c '"event":"end"'; }

echo "== failover: kill -9 of the primary to the first write on the new one ($runs runs per setting)"
declare -A port
summary=()
for detect in $detects; do
	d=$tmp/$detect
	mkdir -p "$d/secrets"
	chmod 755 "$d"
	chmod 700 "$d/secrets"
	printf 'r3pl:pw\n' >"$d/secrets/replicator"
	chmod 600 "$d/secrets/replicator"
	bench_ports 3 || exit 1
	set -- "${ports[@]}"
	port[n1]=$1 port[n2]=$2 port[n3]=$3
	cat >"$d/topology.yaml" <<EOF
version: 1
clusters:
  fo:
    primary: n1
$(bench_nodes data "$@")
    settings: {shared_buffers: 16MB, max_connections: 30}
    failover: {mode: auto, detect_after: $detect, probe_interval: $probe, min_interval: 1s}
    replication:
      user: replicator
      password: {file: secrets/replicator}
      synchronous: {method: any, count: 1}
EOF
	t0=$(now_ms)
	# The replication role exists on the primary before synchronous
	# replication waits for standbys: a second apply turns it on.
	sed 's/^      synchronous:.*//' "$d/topology.yaml" >"$d/first.yaml"
	if ! bench_run_child "$PGC" apply -f "$d/first.yaml" >"$d/apply.out" 2>&1 ||
		! bench_run_child "$PGC" apply -f "$d/topology.yaml" >>"$d/apply.out" 2>&1; then
		echo "failover: apply failed:"
		tail -n 20 "$d/apply.out"
		exit 1
	fi
	lib_sql "${port[n1]}" "create table fo_bench (t timestamptz)" >/dev/null
	echo "   detect_after $detect, probe_interval $probe (cluster built by apply in $(($(now_ms) - t0)) ms)"
	"$PGC" reconcile -f "$d/topology.yaml" --interval 30s >"$d/loop.out" 2>"$d/loop.err" &
	loop_pid=$!
	results=()
	p=n1
	for ((r = 1; r <= runs; r++)); do
		if ! steady "$p"; then
			echo "   run $r: the cluster did not settle with $p primary; log tail:"
			tail -n 15 "$d/loop.err" | sed 's/^/     | /'
			break
		fi
		sleep 1 # a probe or two of the healthy primary
		# shellcheck disable=SC2034 # read by the eval below
		ends=$(auto_ends)
		cands=""
		for n in n1 n2 n3; do [ "$n" != "$p" ] && cands="$cands ${port[$n]}"; done
		t_kill=$(now_ms)
		kill -9 "$(lib_pidfile_pid "$d/data/$p")"
		t_write=
		while [ $(($(now_ms) - t_kill)) -lt 60000 ]; do
			for cp in $cands; do
				if write_once "$cp"; then
					t_write=$(now_ms)
					break 2
				fi
			done
			sleep 0.02
		done
		if [ -z "$t_write" ]; then
			echo "   run $r: no write accepted within 60 s; log tail:"
			tail -n 15 "$d/loop.err" | sed 's/^/     | /'
			break
		fi
		ms=$((t_write - t_kill))
		results+=("$ms")
		lib_wait 60 eval '[ "$(auto_ends)" -gt "$ends" ]'
		timings=$(grep '"mode":"auto"' "$d/.pgconverge/journal.jsonl" | grep '"event":"end"' | tail -n 1 |
			jq -r '"\(.old_primary) -> \(.new_primary // "-"): detected \(.timings_ms.detected) fenced \(.timings_ms.fenced) promoted \(.timings_ms.promoted) first_write \(.timings_ms.first_write) (journal, from the first failed probe)"' 2>/dev/null)
		printf '   run %d: %6d ms   %s\n' "$r" "$ms" "$timings"
		p=$(primary_of) || { echo "   run $r: no primary after the failover"; break; }
	done
	bench_stop_pid TERM "$loop_pid"
	loop_pid=
	bench_stop_servers "$d"
	rm -rf "$d"
	if [ ${#results[@]} -eq 0 ]; then
		summary+=("detect_after $detect: no result")
		continue
	fi
	med=$(printf '%s\n' "${results[@]}" | bench_median)
	max=$(printf '%s\n' "${results[@]}" | sort -n | tail -n 1)
	bound=$(awk -v d="$detect" 'BEGIN { sub(/s$/, "", d); print d * 1000 }')
	bound=$((bound + slack_ms))
	summary+=("$(printf 'detect_after %-3s median %6.0f ms  max %6d ms  (%d runs)  target <= %d ms: median %s, max %s' \
		"$detect" "$med" "$max" "${#results[@]}" "$bound" \
		"$(awk -v m="$med" -v b="$bound" 'BEGIN { print m <= b ? "met" : "NOT met" }')" \
		"$([ "$max" -le "$bound" ] && echo met || echo "NOT met")")")
done
echo "   summary (kill -9 to the first committed INSERT on the new primary; target detect_after + 1.5 s):"
printf '     %s\n' "${summary[@]}"
