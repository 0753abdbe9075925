#!/usr/bin/env bash
# bench/pgpool.sh - Pgpool-II (balancer.pgpool) in front of a primary and a
# replica built by `pgconverge apply`:
#   1. pgbench select-only (-S -M simple, -c 8 -j 2, BENCH_SECONDS each,
#      default 5, BENCH_ROUNDS times alternating, default 3) through
#      Pgpool-II's port against the primary directly, as the login role app
#      (scram-sha-256 both ways): median tps and the ratio direct/Pgpool-II.
#      load_balance is on, so Pgpool-II spreads the sessions' reads over both
#      servers; every query crosses it twice, and it shares the 2 cores with
#      the servers and pgbench;
#   2. automatic failover by `pgconverge reconcile --interval BENCH_INTERVAL`
#      (default 5s; failover.mode auto, detect_after 2s, probe_interval
#      250ms): kill -9 of the primary's postmaster to the first write
#      committed through Pgpool-II's port, BENCH_REPS times (default 3).
#      Between repetitions, as in haproxy.sh, the loop brings the old primary
#      back as a standby and Pgpool-II attaches it; the next repetition kills
#      the new primary. Per repetition the journal's timings (from the first
#      failed probe), the time from the kill to the promotion (journal), and
#      Pgpool-II's share (promotion to the first write through it); min,
#      median and max against detect_after + 1 s.
#
#   bash bench/pgpool.sh         (as root; needs pgpool2 4.3: /usr/sbin/pgpool)
#
# The loop, Pgpool-II (its process group, by the pid in its pid file) and
# every server (by its postmaster.pid) are stopped when the script ends.
set -u

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
reps=${BENCH_REPS:-3}
interval=${BENCH_INTERVAL:-5s}
detect_ms=2000
slack_ms=1000

loop_pid=
ppdir=
# pgpool_pid - the main Pgpool-II process, from its pid file (padded with NUL bytes).
pgpool_pid() { tr -cd '0-9\n' <"$ppdir/pgpool.pid" 2>/dev/null | head -n 1; }
# stop_all - at exit: the loop first (by KILL: it must not start Pgpool-II or
# a server again), then Pgpool-II: INT (fast shutdown) to its main process,
# a bounded wait, then KILL to its process group (it runs in a session of
# its own). The servers are left to bench_cleanup.
stop_all() {
	local pid
	# BENCH_LOGS=DIR keeps the runs' output there
	[ -n "${BENCH_LOGS:-}" ] && mkdir -p "$BENCH_LOGS" && cp "$tmp"/*.out "$tmp"/*.err "$BENCH_LOGS"/ 2>/dev/null &&
		cp "$ppdir/pgpool.log" "$tmp/.pgconverge/journal.jsonl" "$BENCH_LOGS"/ 2>/dev/null
	bench_stop_pid KILL "$loop_pid"
	[ -n "$ppdir" ] || return 0
	pid=$(pgpool_pid)
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pgpool ] || return 0
	kill -INT "$pid" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
}
bench_start pgpool stop_all
[ -x /usr/sbin/pgpool ] || { echo "pgpool: skipped: no /usr/sbin/pgpool (pgpool2)"; exit 0; }

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
bench_ports 4 || exit 1
declare -A port
port[n1]=${ports[0]} port[n2]=${ports[1]}
pp=${ports[2]} pcp=${ports[3]}
ppdir=$tmp/data/pgpool
topo=$tmp/topology.yaml
state=$tmp/.pgconverge
mkdir -m 700 "$tmp/secrets"
export PGPASSWORD=bench-app-Pw-4-pool
printf '%s\n' "$PGPASSWORD" >"$tmp/secrets/app"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets"/*

# write_topology MODE - the cluster, failover.mode MODE.
write_topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  pp:
    primary: n1
$(bench_nodes data "${port[n1]}" "${port[n2]}")
    settings: {shared_buffers: 64MB, max_connections: 100}
    hba:
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}
    roles:
      app: {login: true, password: {file: secrets/app}}
    databases:
      appdb: {owner: app}
    failover: {mode: $1, detect_after: 2s, probe_interval: 250ms, min_interval: 1s}
    replication:
      user: replicator
      password: {file: secrets/replicator}
    balancer:
      pgpool: {port: $pp, pcp_port: $pcp, load_balance: true}
EOF
}
# pq SQL - one statement through Pgpool-II as app on appdb, bounded; output, rc.
pq() {
	PGCONNECT_TIMEOUT=1 timeout 3 "$BENCH_PG_BIN/psql" -XAtq -v ON_ERROR_STOP=1 \
		-h 127.0.0.1 -p "$pp" -U app -d appdb -c "$1"
}
# pool_nodes - "name:status:role" for each SHOW pool_nodes row, space separated.
pool_nodes() {
	pq "show pool_nodes" 2>/dev/null | awk -F'|' -v p1="${port[n1]}" -v p2="${port[n2]}" '
		{ n = ($3 == p1) ? "n1" : ($3 == p2) ? "n2" : $3; s = ($4 == "waiting") ? "up" : $4
		  printf "%s%s:%s:%s", sep, n, s, $7; sep = " " }'
}

write_topology manual
echo "== pgpool: pgbench select-only through Pgpool-II against direct, and kill -9 to the first write"
if ! bench_run_child "$PGC" apply -f "$topo" >"$tmp/apply.out" 2>&1; then
	echo "pgpool: apply failed:"
	tail -n 20 "$tmp/apply.out"
	tail -n 10 "$ppdir/pgpool.log" 2>/dev/null
	exit 1
fi
if ! lib_wait 30 eval '[ "$(pool_nodes)" = "n1:up:primary n2:up:standby" ]'; then
	echo "pgpool: Pgpool-II does not show n1 primary, n2 standby: '$(pool_nodes)'"
	tail -n 10 "$ppdir/pgpool.log" 2>/dev/null
	exit 1
fi
"$BENCH_PG_BIN/pgbench" -i -s 5 -q -h 127.0.0.1 -p "$pp" -U app appdb >"$tmp/init.log" 2>&1 || {
	echo "pgpool: pgbench -i through Pgpool-II failed"
	tail -n 5 "$tmp/init.log"
	exit 1
}
lib_wait 30 eval '[ "$(lib_psql "${port[n2]}" -d appdb -c "select count(*) > 0 from pgbench_accounts" 2>/dev/null)" = t ]'

# --- 1. select-only through Pgpool-II against direct -------------------------------------------
# tps PORT - pgbench -S through 127.0.0.1:PORT; its tps (without connection time).
tps() {
	"$BENCH_PG_BIN/pgbench" -S -M simple -c 8 -j 2 -T "$seconds" -h 127.0.0.1 -p "$1" -U app appdb \
		2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
a=() b=()
for ((r = 1; r <= rounds; r++)); do
	if ((r % 2)); then
		a+=("$(tps "${port[n1]}")") b+=("$(tps "$pp")")
	else
		b+=("$(tps "$pp")") a+=("$(tps "${port[n1]}")")
	fi
done
ma=$(printf '%s\n' "${a[@]}" | bench_median)
mb=$(printf '%s\n' "${b[@]}" | bench_median)
printf '   %-28s direct %7.0f tps   through Pgpool-II %7.0f tps   (medians of %d runs of %d s)\n' \
	"Pgpool-II vs the primary" "${ma:-0}" "${mb:-0}" "$rounds" "$seconds"
if [ -n "$ma" ] && [ -n "$mb" ]; then
	awk -v a="$ma" -v b="$mb" 'BEGIN { printf "   ratio direct / Pgpool-II tps %.3f (load_balance on: Pgpool-II reads from both servers, direct from the primary alone)\n", a / b }'
else
	echo "   pgbench failed (direct: '${a[*]}', through Pgpool-II: '${b[*]}')"
fi

# --- 2. failover ----------------------------------------------------------------------------
write_topology auto
pq "create table pp_writes (t timestamptz)" >/dev/null 2>&1 || echo "   create table through Pgpool-II failed"
"$PGC" reconcile -f "$topo" --interval "$interval" >"$tmp/loop.out" 2>"$tmp/loop.err" &
loop_pid=$!
primary_of() {
	local n
	for n in n1 n2; do [ "$(lib_sql "${port[$n]}" 'select pg_is_in_recovery()' 2>/dev/null)" = f ] && echo "$n" && return 0; done
	return 1
}
# steady P - P is the primary, the other node streams from it, the loop says
# healthy, Pgpool-II shows both up with P primary and a write through it lands on P.
steady() {
	# shellcheck disable=SC2034 # read by the evals that lib_wait runs
	local want_nodes="n1:up:primary n2:up:standby" want_port=${port[$1]}
	[ "$1" = n2 ] && want_nodes="n1:up:standby n2:up:primary"
	lib_wait 120 lib_sql_is "${port[$1]}" "select count(*) from pg_stat_replication where state = 'streaming'" 1 &&
		lib_wait 30 lib_json "$state/status.json" \
			"d['clusters']['pp']['ha']['primary'] == '$1' and d['clusters']['pp']['ha']['verdict'] == 'healthy'" &&
		lib_wait 60 eval '[ "$(pool_nodes)" = "$want_nodes" ]' &&
		lib_wait 30 eval '[ "$(pq "insert into pp_writes values (now()) returning inet_server_port()" 2>/dev/null)" = "$want_port" ]'
}
auto_ends() { grep '"mode":"auto"' "$state/journal.jsonl" 2>/dev/null | grep -c '"event":"end"'; }
# timings - from the journal's last automatic failover: "PROMOTED_AT
# DETECTED FENCED PROMOTED", PROMOTED_AT the promotion in ms since the epoch,
# the others counted from the first failed probe.
timings() {
	python3 - "$state/journal.jsonl" <<'PY'
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
print("%d %d %d %d" % (first_failed + t["promoted"], t["detected"], t["fenced"], t["promoted"]))
PY
}
# stats - "min median max" of the numbers on stdin.
stats() { sort -n | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%d %.0f %d", v[1], m, v[NR] }'; }
writes=()
promos=()
shares=()
p=n1
for ((r = 1; r <= reps; r++)); do
	if ! steady "$p"; then
		echo "   run $r: the cluster did not settle with $p primary (Pgpool-II: '$(pool_nodes)'); log tail:"
		tail -n 15 "$tmp/loop.err" | sed 's/^/     | /'
		break
	fi
	sleep 1
	ends=$(auto_ends)
	pm=$(lib_pidfile_pid "$tmp/data/$p")
	t_kill=$(now_ms)
	kill -KILL "$pm"
	t_write='' landed=''
	while [ $(($(now_ms) - t_kill)) -lt 60000 ]; do
		if landed=$(pq "insert into pp_writes values (now()) returning inet_server_port()" 2>/dev/null); then
			t_write=$(now_ms)
			break
		fi
		sleep 0.02
	done
	if [ -z "$t_write" ]; then
		echo "   run $r: no write through Pgpool-II within 60 s (Pgpool-II: '$(pool_nodes)'); log tail:"
		tail -n 15 "$tmp/loop.err" | sed 's/^/     | /'
		break
	fi
	writes+=($((t_write - t_kill)))
	if lib_wait 60 eval '[ "$(auto_ends)" -gt "$ends" ]' && set -- $(timings 2>/dev/null) && [ $# -eq 4 ]; then
		promos+=($(($1 - t_kill)))
		shares+=($((t_write - $1)))
		j="journal: detected $2 fenced $3 promoted $4 ms; kill -> promotion $(($1 - t_kill)) ms, promotion -> first write through Pgpool-II $((t_write - $1)) ms"
	else
		j="no automatic failover in the journal"
	fi
	p=$(primary_of) || { echo "   run $r: no primary after the failover"; break; }
	new=$p
	[ "$landed" = "${port[$p]}" ] || new="$p, but the write landed on port $landed"
	printf '   run %d: kill -9 of the primary -> first write through Pgpool-II %6d ms (now %s); %s\n' \
		"$r" "$((t_write - t_kill))" "$new" "$j"
done
bench_stop_pid TERM "$loop_pid"
loop_pid=
[ ${#writes[@]} -gt 0 ] || exit 1
bound=$((detect_ms + slack_ms))
read -r wmin wmed wmax <<<"$(printf '%s\n' "${writes[@]}" | stats)"
printf '   kill -9 -> first write through Pgpool-II: min %d, median %d, max %d ms (%d runs); target <= %d ms (detect_after 2s + 1 s): median %s, max %s\n' \
	"$wmin" "$wmed" "$wmax" "${#writes[@]}" "$bound" \
	"$([ "$wmed" -le "$bound" ] && echo met || echo "NOT met")" "$([ "$wmax" -le "$bound" ] && echo met || echo "NOT met")"
if [ ${#promos[@]} -gt 0 ]; then
	read -r pmin pmed pmax <<<"$(printf '%s\n' "${promos[@]}" | stats)"
	printf '   kill -9 -> promotion (journal): min %d, median %d, max %d ms\n' "$pmin" "$pmed" "$pmax"
	read -r smin smed smax <<<"$(printf '%s\n' "${shares[@]}" | stats)"
	printf '   Pgpool-II'"'"'s share (promotion -> first write through it): min %d, median %d, max %d ms\n' "$smin" "$smed" "$smax"
fi
[ ${#writes[@]} -eq "$reps" ]
