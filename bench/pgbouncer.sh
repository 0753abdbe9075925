#!/usr/bin/env bash
# bench/pgbouncer.sh - PgBouncer managed by pgconverge: its cost and what
# clients see when the primary moves.
#
#   bash bench/pgbouncer.sh          (as root; BENCH_REPS=N (3), BENCH_SECONDS=S (8))
#
# One cluster of 2 nodes and its PgBouncer (transaction pooling, pool size
# 8), built by `pgconverge apply`; pgbench -i -s 5 as the login role app.
#   1. pgbench -S -M simple -c 8 through PgBouncer against the same straight
#      to the primary, alternating, BENCH_REPS times each: median tps and
#      the ratio; once with persistent connections, once with a new
#      connection per transaction (-C), where a pooler earns its keep;
#   2. the switchover stall: pgbench -M simple -c 8 (TPC-B-like) through
#      PgBouncer while `apply --allow-switchover` moves the primary, there
#      and back: the longest time without a committed transaction (from the
#      latency log), failed transactions and aborted clients (target: 0, 0
#      and a stall under 1 s);
#   3. kill -9 of the primary with `reconcile --interval 1s` running
#      (failover auto, detect_after 2s): the time to the first write through
#      PgBouncer (target: detect_after + 1 s).
# Servers, PgBouncer and the loop are stopped by pid when the script ends.
set -u

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
reps=${BENCH_REPS:-3}
secs=${BENCH_SECONDS:-8}
loop_pid=
stop_all() {
	local b
	# BENCH_LOGS=DIR keeps the runs' output there
	[ -n "${BENCH_LOGS:-}" ] && mkdir -p "$BENCH_LOGS" && cp "$tmp"/*.out "$tmp"/*.err "$BENCH_LOGS"/ 2>/dev/null &&
		cp "$tmp/data/pgbouncer/pgbouncer.log" "$BENCH_LOGS"/ 2>/dev/null
	bench_stop_pid TERM "$loop_pid"
	b=$(cat "$tmp/data/pgbouncer/pgbouncer.pid" 2>/dev/null)
	[ -n "$b" ] && [ "$(cat "/proc/$b/comm" 2>/dev/null)" = pgbouncer ] && kill -TERM "$b"
}
bench_start pgbouncer stop_all
command -v pgbouncer >/dev/null || { echo "pgbouncer: skipped: no pgbouncer"; exit 0; }
bench_ports 3 || exit 1
p1=${ports[0]} p2=${ports[1]} pb=${ports[2]}
topo=$tmp/topology.yaml
export PGPASSWORD=bench-app-pw

# topology PRIMARY MODE
topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  b:
    primary: $1
$(bench_nodes data "$p1" "$p2" | sed 's/n\([12]\):/pg\1:/; s#data/n\([12]\)#data/pg\1#')
    settings: {shared_buffers: 64MB, max_connections: 60}
    hba:
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}
    roles:
      app: {login: true, password: {env: PGPASSWORD}}
    databases:
      appdb: {owner: app}
    failover: {mode: $2, detect_after: 2s, probe_interval: 500ms}
    replication: {user: replicator, password: {env: PGPASSWORD}}
    pooler:
      pgbouncer: {port: $pb, pool_mode: transaction, default_pool_size: 8}
EOF
}
topology pg1 manual
"$PGC" apply -f "$topo" >"$tmp/apply.out" 2>&1 || { echo "pgbouncer: apply failed"; tail "$tmp/apply.out"; exit 1; }
"$BENCH_PG_BIN/pgbench" -i -s 5 -q -h 127.0.0.1 -p "$p1" -U app appdb >"$tmp/init.out" 2>&1 ||
	{ echo "pgbouncer: pgbench -i failed"; cat "$tmp/init.out"; exit 1; }

# tps PORT EXTRA... - pgbench select-only for $secs s; prints its tps.
tps() {
	local port=$1
	shift
	"$BENCH_PG_BIN/pgbench" -S -M simple -c 8 -j 2 -T "$secs" "$@" -h 127.0.0.1 -p "$port" -U app \
		appdb 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

# --- 1. select-only through PgBouncer against direct ---------------------------------
for mode in ${BENCH_MODES:-persistent per-transaction}; do
	extra=()
	[ $mode = per-transaction ] && extra=(-C)
	: >"$tmp/direct" && : >"$tmp/pooled"
	for r in $(seq 1 "$reps"); do
		if ((r % 2)); then
			tps "$p1" "${extra[@]}" >>"$tmp/direct"
			tps "$pb" "${extra[@]}" >>"$tmp/pooled"
		else
			tps "$pb" "${extra[@]}" >>"$tmp/pooled"
			tps "$p1" "${extra[@]}" >>"$tmp/direct"
		fi
	done
	d=$(bench_median <"$tmp/direct")
	p=$(bench_median <"$tmp/pooled")
	echo "== select-only, 8 clients, $mode connections: direct $d tps, through PgBouncer $p tps (median of $reps)"
	awk -v p="$p" -v d="$d" 'BEGIN { printf "   ratio through-PgBouncer/direct %.3f\n", p / d }'
done

# --- 2. switchover stall through PgBouncer ---------------------------------------------
for to in pg2 pg1; do
	rm -f "$tmp"/txlog.*
	"$BENCH_PG_BIN/pgbench" -M simple -c 8 -j 2 -T 16 -l --log-prefix="$tmp/txlog" -h 127.0.0.1 \
		-p "$pb" -U app appdb >"$tmp/sw.out" 2>"$tmp/sw.err" &
	bp=$!
	sleep 4
	topology "$to" manual
	t0=$(bench_now_us)
	"$PGC" apply -f "$topo" --allow-switchover >"$tmp/switch-$to.out" 2>&1 || echo "   apply --allow-switchover failed"
	t1=$(bench_now_us)
	wait "$bp"
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$tmp/sw.out")
	aborted=$(grep -c "aborted" "$tmp/sw.err")
	read -r stall worst <<<"$(python3 tests/integration/pgbench_stall.py "$tmp"/txlog.*)"
	echo "== switchover to $to under pgbench through PgBouncer (apply $(bench_ms $((t1 - t0))) ms):"
	echo "   longest stall ${stall} s, longest transaction ${worst} s, failed ${failed:-?}, aborted clients $aborted (target: stall < 1 s, 0, 0: $(awk -v s="$stall" -v f="${failed:-1}" -v a="$aborted" 'BEGIN { print (s < 1 && f == 0 && a == 0) ? "met" : "NOT met" }'))"
done

# --- 3. kill -9 of the primary, reconcile running ----------------------------------------
topology pg1 auto
"$PGC" reconcile -f "$topo" --interval 1s >"$tmp/loop.out" 2>&1 &
loop_pid=$!
sleep 4
"$BENCH_PG_BIN/psql" -X -h 127.0.0.1 -p "$pb" -U app -d appdb -qc "create table if not exists w (i int)" 2>/dev/null
kill -9 "$(head -n 1 "$tmp/data/pg1/postmaster.pid")"
t0=$(bench_now_us)
for _ in $(seq 1 400); do
	[ "$(PGCONNECT_TIMEOUT=2 "$BENCH_PG_BIN/psql" -X -At -h 127.0.0.1 -p "$pb" -U app -d appdb \
		-c "insert into w values (1); select inet_server_port()" 2>/dev/null | tail -n 1)" = "$p2" ] && break
	sleep 0.05
done
t1=$(bench_now_us)
echo "== kill -9 of the primary to the first write through PgBouncer: $(bench_ms $((t1 - t0))) ms (detect_after 2000 ms; target <= 3000 ms: $( [ $((t1 - t0)) -le 3000000 ] && echo met || echo NOT met))"
