#!/usr/bin/env bash
# bench/switchover.sh - the write gap of a switchover by `pgconverge apply
# --allow-switchover` (a change of `primary:`) under load.
#
#   bash bench/switchover.sh         (as root; BENCH_RUNS=N switchovers, default 5)
#
# One cluster of 3 nodes built by `pgconverge apply` (synchronous
# replication, any 1). Each run moves `primary:` to the next node and runs
# `apply --allow-switchover` while
#   - `pgbench -c 4 -T 60` (the built-in TPC-B-like script, synchronous_commit
#     on) runs against the primary; it stops when the primary shuts down
#     (pgbench does not reconnect), it is the load;
#   - a timestamping writer commits one INSERT per psql call through a
#     multi-host connection string with target_session_attrs=read-write, so
#     it follows the primary, and stamps every commit.
# The write gap is the longest interval between two commits of the writer
# from the start of apply until its end; the writer's own median interval is
# the resolution. Also prints the journal's write_gap_ms (old primary stopped
# to first commit on the new one, measured by pgconverge). Target: median
# <= 1 s. Every server is stopped by the pid in its postmaster.pid when the
# script ends, whatever the reason.
set -u

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
runs=${BENCH_RUNS:-5}
target_ms=1000

# stop_load - at exit, the writer and pgbench go first.
writer_pid=
bench_pid=
stop_load() {
	bench_stop_pid TERM "$writer_pid"
	bench_stop_pid TERM "$bench_pid"
}
bench_start switchover stop_load

bench_ports 3 || exit 1
declare -A port=([n1]=${ports[0]} [n2]=${ports[1]} [n3]=${ports[2]})
mkdir -m 700 "$tmp/secrets"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"
topo=$tmp/topology.yaml
# write_topology PRIMARY [SYNC]
write_topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  so:
    primary: $1
$(bench_nodes data "${ports[@]}")
    settings: {shared_buffers: 16MB, max_connections: 40}
    replication:
      user: replicator
      password: {file: secrets/replicator}
EOF
	[ -n "${2:-}" ] && echo "      synchronous: {method: any, count: 1}" >>"$topo"
	return 0
}
write_topology n1
if ! bench_run_child "$PGC" apply -f "$topo" >"$tmp/apply0.out" 2>&1 ||
	{ write_topology n1 sync && ! bench_run_child "$PGC" apply -f "$topo" >>"$tmp/apply0.out" 2>&1; }; then
	echo "switchover: apply failed:"
	tail -n 20 "$tmp/apply0.out"
	exit 1
fi
lib_sql "${port[n1]}" "create table sw_bench (t timestamptz)" >/dev/null
"$LIB_PG_BIN/pgbench" -i -q -s 2 -h "$LIB_SOCKET_DIR" -p "${port[n1]}" -U postgres postgres >"$tmp/pgbench-init.out" 2>&1 || {
	echo "switchover: pgbench -i failed"
	cat "$tmp/pgbench-init.out"
	exit 1
}

conninfo="host=$LIB_SOCKET_DIR,$LIB_SOCKET_DIR,$LIB_SOCKET_DIR port=${port[n1]},${port[n2]},${port[n3]} user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2"
# The writer: one committed INSERT per psql, its end time in microseconds on stdout.
cat >"$tmp/writer.sh" <<EOF
#!/usr/bin/env bash
while :; do
	if PGOPTIONS='-c synchronous_commit=on' "$LIB_PG_BIN/psql" -X -q "$conninfo" -c "insert into sw_bench values (now())" >/dev/null 2>&1; then
		echo "\${EPOCHREALTIME/./}"
	fi
done
EOF

echo "== switchover: apply --allow-switchover under pgbench -c 4 ($runs runs)"
gaps=() jgaps=()
cur=n1
nodes=(n1 n2 n3)
for ((r = 1; r <= runs; r++)); do
	next=${nodes[r % 3]}
	# Converged, both replicas streaming from the current primary.
	lib_wait 60 lib_sql_is "${port[$cur]}" "select count(*) from pg_stat_replication where state = 'streaming'" 2 || {
		echo "   run $r: $cur has not two streaming replicas"
		break
	}
	PGOPTIONS='-c synchronous_commit=on' "$LIB_PG_BIN/pgbench" -n -c 4 -T 60 -h "$LIB_SOCKET_DIR" -p "${port[$cur]}" \
		-U postgres postgres >"$tmp/pgbench$r.out" 2>&1 &
	bench_pid=$!
	bash "$tmp/writer.sh" >"$tmp/writer$r.ts" &
	writer_pid=$!
	sleep 2
	write_topology "$next" sync
	t0=$(bench_now_us)
	bench_run_child "$PGC" apply -f "$topo" --allow-switchover >"$tmp/apply$r.out" 2>&1
	arc=$?
	t1=$(bench_now_us)
	sleep 1
	bench_stop_pid TERM "$writer_pid"
	writer_pid=
	bench_stop_pid TERM "$bench_pid"
	bench_pid=
	tps=$(grep -o 'tps = [0-9.]*' "$tmp/pgbench$r.out" | head -n 1)
	if [ "$arc" != 0 ] || [ "$(lib_sql "${port[$next]}" 'select pg_is_in_recovery()' 2>/dev/null)" != f ]; then
		echo "   run $r: apply --allow-switchover to $next: exit $arc"
		tail -n 15 "$tmp/apply$r.out" | sed 's/^/     | /'
		break
	fi
	# Longest interval between commits from the start of apply to its end,
	# counting from the last commit before it to the first after it.
	gap=$(bench_write_gap "$tmp/writer$r.ts" "$t0" "$t1")
	res=$(bench_writer_resolution "$tmp/writer$r.ts" "$t0")
	jgap=$(grep '"event":"switchover"' "$tmp/.pgconverge/journal.jsonl" | tail -n 1 | jq -r '.write_gap_ms' 2>/dev/null)
	gaps+=("$gap")
	jgaps+=("$jgap")
	printf '   run %d: %s -> %s   write gap %5d ms (writer resolution ~%d ms)   journal write_gap_ms %s   apply %d ms   pgbench before the switch: %s\n' \
		"$r" "$cur" "$next" "$gap" "$res" "$jgap" $(((t1 - t0) / 1000)) "${tps:-?}"
	cur=$next
	# The rest (slots, the other replica) in the next pass.
	bench_run_child "$PGC" apply -f "$topo" >"$tmp/apply$r.b.out" 2>&1
done
if [ ${#gaps[@]} -gt 0 ]; then
	med=$(printf '%s\n' "${gaps[@]}" | bench_median)
	jmed=$(printf '%s\n' "${jgaps[@]}" | bench_median)
	max=$(printf '%s\n' "${gaps[@]}" | sort -n | tail -n 1)
	printf '   median write gap %.0f ms (max %d ms, %d runs), journal median %s ms; target <= %d ms: %s\n' \
		"$med" "$max" "${#gaps[@]}" "$jmed" "$target_ms" "$(awk -v m="$med" -v t="$target_ms" 'BEGIN { print m <= t ? "met" : "NOT met" }')"
fi
