#!/usr/bin/env bash
# tests/integration/test_haproxy.sh - balancer.haproxy with the real HAProxy
# on loopback, in front of a primary and two replicas built by `apply`:
#   - apply starts HAProxy as postgres (master-worker), its files 0600 in
#     balancer.haproxy.dir; plan is converged right after (exit 0);
#   - through write_port `select pg_is_in_recovery()` is f, through read_port
#     t, and several connections reach both replicas;
#   - HAProxy killed (kill -9, master and workers) -> `reconcile --once`
#     starts it again; plan converged afterwards;
#   - a replica whose replay is paused past max_lag leaves the reads, and
#     comes back once it caught up (server states only, no reload);
#   - a structural change (stats_port added) reloads HAProxy: a connection
#     opened before the reload still works after it;
#   - HAProxy runs but its runtime API cannot be reached (the socket moved
#     aside): `apply --allow-switchover` is refused before the primary
#     stops, and writes still go through write_port to the old primary;
#     the socket put back, the plan converges again;
#   - switchover under pgbench through write_port (`apply
#     --allow-switchover`): the failed transactions and aborted clients are
#     counted and printed (only connections that were open on the old
#     primary may fail), and writes go through write_port to the new primary;
#   - failover by kill -9 with `pgconverge reconcile` running (failover:
#     {mode: auto, detect_after: 2s}): the time from the kill to the first
#     write through write_port is printed and must stay within 12 s (the
#     promotion itself takes 1 to 4 s on a loaded 2-core machine), and the
#     time from the promotion (the journal's timings) to that write within
#     5 s (measured: well under 1 s; bench/haproxy.sh): HAProxy follows inside
#     the failover, not at a later pass (which would come after --interval).
# Every server and HAProxy is stopped by its pid when the script ends.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1
[ -x /usr/sbin/haproxy ] || {
	echo "FAIL /usr/sbin/haproxy is needed (make deps)"
	exit 1
}

tmp=$(lib_tmpdir) || exit 1
hdir=$tmp/data/haproxy
loop_pid=
bench_pid=

# stop_haproxy - the master in haproxy.pid and every process it started.
stop_haproxy() {
	local pid
	pid=$(cat "$hdir/haproxy.pid" 2>/dev/null) || return 0
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = haproxy ] || return 0
	kill -KILL $(ps -o pid= --ppid "$pid") "$pid" 2>/dev/null
}
cleanup() {
	[ -n "$loop_pid" ] && kill -KILL "$loop_pid" 2>/dev/null
	[ -n "$bench_pid" ] && kill -KILL "$bench_pid" 2>/dev/null
	stop_haproxy
	lib_teardown "$tmp"
}
trap cleanup EXIT

ports=$(lib_free_ports 6) || {
	echo "FAIL no free ports in 20000-32000"
	exit 1
}
set -- $ports
declare -A port
port[pg1]=$1 port[pg2]=$2 port[pg3]=$3
wport=$4 rport=$5 sport=$6
topo=$tmp/topology.yaml

# write_topology PRIMARY [FAILOVER_MODE] [STATS] - the topology file.
write_topology() {
	local stats=
	[ -n "${3:-}" ] && stats=", stats_port: $sport"
	cat >"$topo" <<EOF
version: 1
clusters:
  c:
    primary: $1
    nodes:
      pg1: {host: 127.0.0.1, port: ${port[pg1]}, data_dir: data/pg1}
      pg2: {host: 127.0.0.1, port: ${port[pg2]}, data_dir: data/pg2}
      pg3: {host: 127.0.0.1, port: ${port[pg3]}, data_dir: data/pg3}
    settings: {shared_buffers: 16MB, max_connections: 40}
    hba:
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: trust}
    failover: {mode: ${2:-manual}, detect_after: 2s, probe_interval: 250ms, min_interval: 1s}
    replication:
      user: replicator
      password: {file: secrets/replicator}
    balancer:
      haproxy: {listen_address: 127.0.0.1, write_port: $wport, read_port: $rport,
                max_lag: 1MB$stats}
EOF
}

# via PORT SQL - one query through HAProxy (TCP), its output.
via() {
	PGCONNECT_TIMEOUT=2 "$LIB_PG_BIN/psql" -XAtq -h 127.0.0.1 -p "$1" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 -c "$2" 2>/dev/null
}
via_is() { [ "$(via "$1" "$2")" = "$3" ]; }
master_pid() { cat "$hdir/haproxy.pid" 2>/dev/null; }
# cli CMD - a command on HAProxy's runtime socket (the test's own client).
cli() {
	python3 - "$hdir/haproxy.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())
PY
}
# maint BACKEND SERVER - true when the server is in maintenance now.
maint() {
	local admin
	admin=$(cli "show servers state $1" | awk -v s="$2" '$4 == s { print $7 }')
	[ -n "$admin" ] && [ $((admin & 99)) != 0 ]
}
not_maint() { ! maint "$@"; }
plan_converged() {
	lib_run "$tmp/plan_$1" plan -f "$topo"
	lib_expect_rc "$1: plan is converged (exit 0)" "$tmp/plan_$1" 0
}

mkdir -m 700 "$tmp/secrets"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"
write_topology pg1

# --- apply brings everything up -------------------------------------------------------------
lib_run "$tmp/apply1" apply -f "$topo"
lib_expect_rc "apply builds a primary, two replicas and HAProxy" "$tmp/apply1" 0
[ "$rc" = 0 ] || lib_finish test_haproxy
grep -q 'haproxy-start' "$tmp/apply1.out" "$tmp/apply1.err" && ok "the plan started HAProxy" ||
	fail "no haproxy-start in apply's output"
m=$(master_pid)
check "HAProxy's master (pid $m) runs as postgres" test "$(ps -o user= -p "$m" 2>/dev/null)" = postgres
check "haproxy.cfg is 0600, owned by postgres" test "$(stat -c '%a %U' "$hdir/haproxy.cfg")" = "600 postgres"
check "the runtime socket is 0600, owned by postgres" test "$(stat -c '%a %U' "$hdir/haproxy.sock")" = "600 postgres"
check "the folder is 0700, owned by postgres" test "$(stat -c '%a %U' "$hdir")" = "700 postgres"
check "HAProxy runs in master-worker mode" test -n "$(ps -o pid= --ppid "$m")"
plan_converged "after apply"

check "write_port reaches the primary" lib_wait 10 via_is "$wport" "select pg_is_in_recovery()" f
check "write_port reaches pg1" via_is "$wport" "select inet_server_port()" "${port[pg1]}"
check "read_port reaches a replica" lib_wait 10 via_is "$rport" "select pg_is_in_recovery()" t
seen=
for _ in $(seq 1 8); do
	seen="$seen $(via "$rport" "select pg_is_in_recovery()::text || ':' || inet_server_port()")"
done
echo "  read_port, 8 connections:$seen"
case $seen in *"true:${port[pg2]}"*) ok "reads reach pg2" ;; *) fail "reads never reached pg2" ;; esac
case $seen in *"true:${port[pg3]}"*) ok "reads reach pg3" ;; *) fail "reads never reached pg3" ;; esac
case $seen in *false:*) fail "a read reached the primary while replicas stream" ;; *) ok "no read reached the primary" ;; esac

# --- kill -9 of HAProxy: the loop starts it again ------------------------------------------
stop_haproxy
check "HAProxy is dead" lib_wait 5 sh -c "! kill -0 $m 2>/dev/null"
lib_run "$tmp/plan_dead" plan -f "$topo"
lib_expect_rc "a dead HAProxy is drift (plan exit 2)" "$tmp/plan_dead" 2
grep -q 'haproxy-start' "$tmp/plan_dead.out" && ok "the plan starts it (impact none)" ||
	fail "no haproxy-start in the plan"
lib_run "$tmp/once" reconcile --once -f "$topo"
lib_expect_rc "reconcile --once repairs it" "$tmp/once" 0
check "HAProxy runs again (new master)" test "$(master_pid)" != "$m"
check "write_port reaches the primary again" lib_wait 10 via_is "$wport" "select pg_is_in_recovery()" f
plan_converged "after the restart"

# --- a replica falls behind: it leaves the reads, no reload -------------------------------------
worker=$(cli "show info" | awk '/^Pid:/ { print $2 }')
lib_sql "${port[pg3]}" "select pg_wal_replay_pause()" >/dev/null
lib_sql "${port[pg1]}" "create table lag_maker as select g, repeat('x', 200) as pad from generate_series(1, 40000) g" >/dev/null
check "pg3 received the WAL but did not replay it" lib_wait 20 lib_sql_is "${port[pg3]}" \
	"select pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) > 2 * 1024 * 1024" t
lib_run "$tmp/plan_lag" plan -f "$topo"
if grep -q 'pg_read/pg3: ready -> maint' "$tmp/plan_lag.out" && grep -q '"pg3" leaves the reads: it is [0-9]* bytes behind' "$tmp/plan_lag.out"; then
	ok "pg3 over max_lag: the plan takes it out of the reads"
else
	fail "pg3 over max_lag: the plan does not take it out of the reads"
	lib_show "$tmp/plan_lag"
fi
grep -q 'haproxy-reload' "$tmp/plan_lag.out" && fail "pg3 over max_lag: the plan reloads HAProxy" || ok "pg3 over max_lag: no reload"
lib_run "$tmp/apply_lag" apply -f "$topo"
lib_expect_rc "apply takes pg3 out of the reads" "$tmp/apply_lag" 0
check "pg_read/pg3 is in maintenance" maint pg_read pg3
check "haproxy.cfg says pg3 is out of the reads" sh -c "grep -A5 '^listen pg_read' '$hdir/haproxy.cfg' | grep -q 'server pg3 .* disabled\$'"
seen=
for _ in $(seq 1 4); do seen="$seen $(via "$rport" "select inet_server_port()")"; done
case $seen in *"${port[pg3]}"*) fail "a read reached pg3 while it lags:$seen" ;; *) ok "reads reach pg2 only:$seen" ;; esac
check "the same worker serves (no reload)" test "$(cli "show info" | awk '/^Pid:/ { print $2 }')" = "$worker"
lib_sql "${port[pg3]}" "select pg_wal_replay_resume()" >/dev/null
check "pg3 caught up" lib_wait 20 lib_sql_is "${port[pg3]}" \
	"select pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()" t
lib_run "$tmp/apply_lag2" apply -f "$topo"
lib_expect_rc "apply puts pg3 back into the reads" "$tmp/apply_lag2" 0
check "pg3 is in the reads again" not_maint pg_read pg3
plan_converged "after pg3 caught up"

# --- a structural change: graceful reload ------------------------------------------------------
coproc HOLD { "$LIB_PG_BIN/psql" -XAtq -h 127.0.0.1 -p "$wport" -U postgres -d postgres 2>&1; }
echo "select 'before', inet_server_port();" >&"${HOLD[1]}"
read -r -t 5 line <&"${HOLD[0]}"
check "a client holds a connection through write_port ($line)" test "$line" = "before|${port[pg1]}"
write_topology pg1 manual stats
lib_run "$tmp/plan_stats" plan -f "$topo"
grep -q 'haproxy-reload' "$tmp/plan_stats.out" && ok "stats_port added: the plan reloads HAProxy (impact reload)" ||
	fail "stats_port added: no haproxy-reload in the plan"
lib_run "$tmp/apply_stats" apply -f "$topo"
lib_expect_rc "apply reloads HAProxy" "$tmp/apply_stats" 0
check "the stats page answers on stats_port" sh -c "python3 -c 'import urllib.request,sys; sys.exit(0 if b\"pg_write\" in urllib.request.urlopen(\"http://127.0.0.1:$sport/\", timeout=3).read() else 1)'"
echo "select 'after', inet_server_port();" >&"${HOLD[1]}"
line=
read -r -t 5 line <&"${HOLD[0]}"
check "the connection opened before the reload still works ($line)" test "$line" = "after|${port[pg1]}"
exec {HOLD[1]}>&-
plan_converged "after the reload"

# --- the runtime API does not answer: no switchover ------------------------------------------
# HAProxy keeps its listening socket across a reload (handed over to the new
# worker), so a socket moved aside stays unreachable until it is moved back.
m=$(master_pid)
mv "$hdir/haproxy.sock" "$hdir/haproxy.sock.away"
write_topology pg2 manual stats
lib_run "$tmp/switch_silent" apply -f "$topo" --allow-switchover
if [ "$rc" != 0 ]; then ok "apply --allow-switchover fails while HAProxy's API is unreachable (exit $rc)"; else
	fail "apply --allow-switchover succeeded while HAProxy's API is unreachable"
	lib_show "$tmp/switch_silent"
fi
if grep -q "runs (master pid $m) but its runtime API does not answer" "$tmp/switch_silent.out" "$tmp/switch_silent.err" &&
	grep -q "its clients could not be held before the primary stops" "$tmp/switch_silent.out" "$tmp/switch_silent.err"; then
	ok "the switchover is refused: HAProxy runs but its API does not answer"
else
	fail "no refusal naming HAProxy's silent API"
	lib_show "$tmp/switch_silent"
fi
check "pg1 is still the primary" lib_sql_is "${port[pg1]}" "select pg_is_in_recovery()" f
check "pg2 is still a replica" lib_sql_is "${port[pg2]}" "select pg_is_in_recovery()" t
check "write_port still reaches pg1" via_is "$wport" "select inet_server_port()" "${port[pg1]}"
check "a write through write_port commits on pg1" via_is "$wport" "create table api_silent (i int); insert into api_silent values (1) returning i" 1
check "HAProxy's master is the same (pid $m)" test "$(master_pid)" = "$m"
# put the socket back (a reload in between keeps using the same one)
[ -e "$hdir/haproxy.sock" ] || mv "$hdir/haproxy.sock.away" "$hdir/haproxy.sock"
rm -f "$hdir/haproxy.sock.away"
api_answers() { cli "show info" 2>/dev/null | grep -q '^Pid:'; }
check "the runtime API answers again" lib_wait 10 api_answers
write_topology pg1 manual stats
lib_run "$tmp/after_silent" apply -f "$topo"
lib_expect_rc "apply with pg1 as the primary again" "$tmp/after_silent" 0
check "pg_write/pg1 is ready" not_maint pg_write pg1
check "pg_write/pg2 is in maintenance" maint pg_write pg2
plan_converged "after the API came back"

# --- switchover under pgbench through write_port -------------------------------------------
"$LIB_PG_BIN/pgbench" -i -s 1 -q -h 127.0.0.1 -p "$wport" -U postgres postgres >"$tmp/pgbench_init.log" 2>&1
check "pgbench -i through write_port" test $? = 0
"$LIB_PG_BIN/pgbench" -M simple -c 8 -T 25 -h 127.0.0.1 -p "$wport" -U postgres postgres \
	>"$tmp/pgbench.out" 2>"$tmp/pgbench.err" &
bench_pid=$!
sleep 5
write_topology pg2 manual stats
lib_run "$tmp/switch" apply -f "$topo" --allow-switchover
lib_expect_rc "apply --allow-switchover moves the primary to pg2" "$tmp/switch" 0
wait "$bench_pid"
bench_pid=
aborted=$(grep -c 'aborted in command' "$tmp/pgbench.err")
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$tmp/pgbench.out")
done_tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$tmp/pgbench.out")
echo "  pgbench -c 8 through write_port across the switchover: ${done_tx:-?} transactions," \
	"${failed:-?} failed, $aborted aborted client(s)"
grep 'aborted in command' "$tmp/pgbench.err" | head -n 3 | sed 's/^/  | /'
check "at most the 8 connections open on the old primary aborted" test "$aborted" -le 8
if grep 'aborted in command' "$tmp/pgbench.err" | grep -qv -E 'server closed the connection|terminating connection|connection to server|administrator command|read-only transaction|the database system is shutting down|SSL SYSCALL|could not receive data|no connection to the server|the backend died'; then
	fail "a client aborted for another reason than its connection to the old primary"
else
	ok "every abort is a connection to the old primary that ended"
fi
check "write_port reaches pg2, the new primary" lib_wait 10 via_is "$wport" "select inet_server_port()" "${port[pg2]}"
check "a write through write_port commits" via_is "$wport" "create table after_switch (i int); insert into after_switch values (1) returning i" 1
check "haproxy.cfg says pg2 is the writer" sh -c "grep -A4 '^listen pg_write' '$hdir/haproxy.cfg' | grep -q 'server pg2 .*shutdown-sessions\$'"
lib_run "$tmp/after_switch" apply -f "$topo"
plan_converged "after the switchover"

# --- status and graph --live show where HAProxy sends clients ----------------------------------
lib_run "$tmp/status" status -f "$topo"
sed -n '/^  haproxy/,/stats/p' "$tmp/status.out" | sed 's/^/  | /'
check "status: HAProxy is up" grep -q '^  haproxy    up (master pid' "$tmp/status.out"
check "status: write_port sends to pg2" grep -q "write 127.0.0.1:$wport -> pg2" "$tmp/status.out"
check "status: read_port sends to the replicas, pg2 as backup" \
	grep -q "read  127.0.0.1:$rport -> pg1, pg3; backup pg2" "$tmp/status.out"
lib_run "$tmp/status_json" status -f "$topo" --format json
check "status --format json: write.to is pg2, up" lib_json "$tmp/status_json.out" \
	"[x['node'] for x in d['clusters'][0]['haproxy']['write']['to']] == ['pg2'] and d['clusters'][0]['haproxy']['up']"
check "status --format json: read.to is pg1 and pg3" lib_json "$tmp/status_json.out" \
	"sorted(x['node'] for x in d['clusters'][0]['haproxy']['read']['to']) == ['pg1', 'pg3']"
lib_run "$tmp/graph" graph -f "$topo" --live
check "graph --live: the write edge goes to pg2" grep -q '"c:haproxy" -> "c/pg2" \[label="write"\]' "$tmp/graph.out"

# --- failover by kill -9 with the loop running ----------------------------------------------
write_topology pg2 auto stats
"$PGC" reconcile -f "$topo" --interval 30s >"$tmp/loop.out" 2>"$tmp/loop.err" &
loop_pid=$!
check "the loop sees a healthy pg2" lib_wait 60 lib_json "$tmp/.pgconverge/status.json" \
	"d['clusters']['c']['ha']['primary'] == 'pg2' and d['clusters']['c']['ha']['verdict'] == 'healthy'"
sleep 1
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
pm=$(lib_pidfile_pid "$tmp/data/pg2")
t0=$(now_ms)
kill -KILL "$pm" $(ps -o pid= --ppid "$pm") 2>/dev/null
first=
while [ $(($(now_ms) - t0)) -lt 60000 ]; do
	if PGCONNECT_TIMEOUT=1 "$LIB_PG_BIN/psql" -XAtq -h 127.0.0.1 -p "$wport" -U postgres -d postgres \
		-c "insert into after_switch values (2)" >/dev/null 2>&1; then
		first=$(now_ms)
		break
	fi
	sleep 0.05
done
if [ -n "$first" ]; then
	gap=$((first - t0))
	echo "  kill -9 of pg2 -> first write through write_port: ${gap} ms (detect_after 2s)"
	check "first write through write_port within 12 s of the kill (${gap} ms)" test "$gap" -le 12000
	# HAProxy's own share: from the promotion (the journal's timings count
	# from the first failed probe, which the start line dates) to the first
	# write a client got through write_port.
	lib_wait 30 sh -c "grep '\"mode\":\"auto\"' '$tmp/.pgconverge/journal.jsonl' | grep -q '\"event\":\"end\"'"
	share=$(python3 - "$tmp/.pgconverge/journal.jsonl" "$first" <<'PY'
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
promoted = first_failed + t["promoted"]
print("%d detected %d fenced %d promoted %d" % (int(sys.argv[2]) - promoted, t["detected"], t["fenced"], t["promoted"]))
PY
)
	set -- $share
	echo "  journal, from the first failed probe: detected $3 ms, fenced $5 ms, promoted $7 ms;" \
		"promotion -> first write through write_port: $1 ms"
	check "HAProxy sends writes to the new primary within 5 s of its promotion ($1 ms)" test "${1:-99999}" -le 5000
else
	fail "no write through write_port within 60 s of the kill"
	tail -n 20 "$tmp/loop.err" | sed 's/^/  | /'
fi
new=$(via "$wport" "select inet_server_port()")
case $new in "${port[pg1]}" | "${port[pg3]}") ok "write_port reaches the promoted node ($new)" ;; *) fail "write_port reaches '$new'" ;; esac
check "write_port reaches a primary" via_is "$wport" "select pg_is_in_recovery()" f
kill -TERM "$loop_pid" 2>/dev/null
wait "$loop_pid" 2>/dev/null
loop_pid=

lib_finish test_haproxy
