#!/usr/bin/env bash
# bench/region_switch.sh - the write gap of a region switch: swapping
# `standby_of` between two clusters and `pgconverge apply --allow-switchover`,
# under load.
#
#   bash bench/region_switch.sh       (as root; BENCH_RUNS=N switches, default 4)
#
# Two clusters of 2 nodes on loopback, `ra` (r1 primary, r2) and `rb`
# (`standby_of: ra`: b1 its leader, b2 cascading), built by one apply. Each
# run swaps `standby_of` (the primary region moves from one cluster to the
# other) and runs `apply --allow-switchover` while
#   - `pgbench -c 4 -T 60` runs against the primary region's primary (the
#     load; it stops when that primary shuts down);
#   - a timestamping writer commits one INSERT per psql call through a
#     multi-host connection string to both clusters' primaries with
#     target_session_attrs=read-write, so it follows the writable one, and
#     stamps every commit.
# The write gap is the longest interval between two commits of the writer
# from the start of apply until its end; the writer's own median interval is
# the resolution. Also prints the journal's write_gap_ms (source primary
# stopped to first commit on the promoted leader, measured by pgconverge).
# Target (issue): under 2 s. Every server is stopped by the pid in its
# postmaster.pid when the script ends, whatever the reason.
set -u

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
runs=${BENCH_RUNS:-4}
target_ms=2000

writer_pid=
bench_pid=
stop_load() {
	bench_stop_pid TERM "$writer_pid"
	bench_stop_pid TERM "$bench_pid"
}
bench_start region_switch stop_load

bench_ports 4 || exit 1
declare -A port=([r1]=${ports[0]} [r2]=${ports[1]} [b1]=${ports[2]} [b2]=${ports[3]})
mkdir -m 700 "$tmp/secrets"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"
topo=$tmp/topology.yaml
# write_topology PRIMARY_CLUSTER - ra and rb, the other one standby_of it.
write_topology() {
	local c other
	{
		echo "version: 1"
		echo "clusters:"
		for c in ra rb; do
			other=rb
			[ "$c" = rb ] && other=ra
			echo "  $c:"
			[ "$c" != "$1" ] && echo "    standby_of: $other"
			if [ "$c" = ra ]; then
				echo "    primary: r1"
				echo "    nodes:"
				echo "      r1: {host: 127.0.0.1, port: ${port[r1]}, data_dir: data/r1, region: a}"
				echo "      r2: {host: 127.0.0.1, port: ${port[r2]}, data_dir: data/r2, region: a}"
			else
				echo "    primary: b1"
				echo "    nodes:"
				echo "      b1: {host: 127.0.0.1, port: ${port[b1]}, data_dir: data/b1, region: b}"
				echo "      b2: {host: 127.0.0.1, port: ${port[b2]}, data_dir: data/b2, region: b}"
			fi
			echo "    settings: {shared_buffers: 16MB, max_connections: 40}"
			# Each cluster names the replication user; a standby cluster streams with its source's.
			if [ "$c" = "$1" ]; then
				echo "    replication:"
				echo "      user: replicator"
				echo "      password: {file: secrets/replicator}"
			fi
		done
	} >"$topo"
}
write_topology ra
if ! bench_run_child "$PGC" apply -f "$topo" >"$tmp/apply0.out" 2>&1; then
	echo "region_switch: apply failed:"
	tail -n 20 "$tmp/apply0.out"
	exit 1
fi
lib_sql "${port[r1]}" "create table rs_bench (t timestamptz)" >/dev/null
"$LIB_PG_BIN/pgbench" -i -q -s 2 -h "$LIB_SOCKET_DIR" -p "${port[r1]}" -U postgres postgres >"$tmp/pgbench-init.out" 2>&1 || {
	echo "region_switch: pgbench -i failed"
	cat "$tmp/pgbench-init.out"
	exit 1
}

conninfo="host=$LIB_SOCKET_DIR,$LIB_SOCKET_DIR port=${port[r1]},${port[b1]} user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2"
cat >"$tmp/writer.sh" <<EOF
#!/usr/bin/env bash
while :; do
	if "$LIB_PG_BIN/psql" -X -q "$conninfo" -c "insert into rs_bench values (now())" >/dev/null 2>&1; then
		echo "\${EPOCHREALTIME/./}"
	fi
done
EOF

echo "== region_switch: swap standby_of, apply --allow-switchover under pgbench -c 4 ($runs runs)"
gaps=() jgaps=()
cur=ra
declare -A leader=([ra]=r1 [rb]=b1)
for ((r = 1; r <= runs; r++)); do
	next=rb
	[ "$cur" = rb ] && next=ra
	# Converged: the other cluster's leader streams from cur's primary.
	lib_wait 60 lib_sql_is "${port[${leader[$next]}]}" "select status from pg_stat_wal_receiver" streaming || {
		echo "   run $r: ${leader[$next]} does not stream"
		break
	}
	"$LIB_PG_BIN/pgbench" -n -c 4 -T 60 -h "$LIB_SOCKET_DIR" -p "${port[${leader[$cur]}]}" \
		-U postgres postgres >"$tmp/pgbench$r.out" 2>&1 &
	bench_pid=$!
	bash "$tmp/writer.sh" >"$tmp/writer$r.ts" &
	writer_pid=$!
	sleep 2
	write_topology "$next"
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
	if [ "$arc" != 0 ] || [ "$(lib_sql "${port[${leader[$next]}]}" 'select pg_is_in_recovery()' 2>/dev/null)" != f ]; then
		echo "   run $r: apply --allow-switchover ($cur -> $next): exit $arc"
		tail -n 15 "$tmp/apply$r.out" | sed 's/^/     | /'
		break
	fi
	gap=$(bench_write_gap "$tmp/writer$r.ts" "$t0" "$t1")
	res=$(bench_writer_resolution "$tmp/writer$r.ts" "$t0")
	jgap=$(grep '"event":"region-switch"' "$tmp/.pgconverge/journal.jsonl" | tail -n 1 | jq -r '.write_gap_ms' 2>/dev/null)
	gaps+=("$gap")
	jgaps+=("${jgap:-?}")
	printf '   run %d: %s -> %s   write gap %5d ms (writer resolution ~%d ms)   journal write_gap_ms %s   apply %d ms   pgbench before the switch: %s\n' \
		"$r" "$cur" "$next" "$gap" "$res" "${jgap:-?}" $(((t1 - t0) / 1000)) "${tps:-?}"
	cur=$next
	bench_run_child "$PGC" apply -f "$topo" >"$tmp/apply$r.b.out" 2>&1
done
if [ ${#gaps[@]} -gt 0 ]; then
	med=$(printf '%s\n' "${gaps[@]}" | bench_median)
	max=$(printf '%s\n' "${gaps[@]}" | sort -n | tail -n 1)
	printf '   median write gap %.0f ms (max %d ms, %d runs); target < %d ms: %s\n' \
		"$med" "$max" "${#gaps[@]}" "$target_ms" "$(awk -v m="$med" -v t="$target_ms" 'BEGIN { print m < t ? "met" : "NOT met" }')"
fi
