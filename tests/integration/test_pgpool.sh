#!/usr/bin/env bash
# tests/integration/test_pgpool.sh - Pgpool-II (balancer.pgpool) managed by
# pgconverge, with the real pgpool from Debian's pgpool2 package:
#   1. `apply` brings up a primary, a replica and Pgpool-II (as postgres,
#      files 0600 in a 0700 folder, no secret in its argv or files in clear);
#   2. login through it with the right password works, a wrong one is refused;
#      `SHOW pool_nodes` lists both nodes with their roles; a write through
#      it lands on the primary; `plan` is empty; `status` (text, JSON) and
#      `graph --live` show it; a changed max_lag is a reload (same pid), a
#      changed load_balance a restart that waits for --allow-restart; a
#      replica killed: the plan takes it down in Pgpool-II (read through PCP,
#      as no session gets through then), apply starts it and attaches it;
#   3. `apply --allow-switchover` (primary: pg2) under a small pgbench through
#      Pgpool-II: its failed transactions are counted and printed; afterwards
#      SHOW pool_nodes shows pg2 as the primary and pg1 as an attached standby,
#      writes through Pgpool-II land on pg2, and Pgpool-II was not restarted;
#   4. Pgpool-II killed (its whole process group, SIGKILL): `reconcile --once`
#      starts it again and it sees the right primary; `plan` is empty;
#   5. `reconcile --interval` with failover.mode auto: kill -9 of the primary,
#      and a write through Pgpool-II succeeds again (the time is printed),
#      landing on the promoted node.
#
# Needs root (servers run as postgres), the PostgreSQL 15 binaries, pgbench
# and pgpool2 4.3; free loopback ports in 20000-32000.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1
[ -x /usr/sbin/pgpool ] || { echo "FAIL pgpool (pgpool2) is not installed"; exit 1; }
PGBENCH=$LIB_PG_BIN/pgbench
[ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench)

tmp=$(lib_tmpdir) || exit 1
bench_pid=
loop_pid=
ppdir=$tmp/data/pgpool
# pgpool_pid - the main Pgpool-II process, from its pid file.
# (pgpool pads the file with NUL bytes).
pgpool_pid() { tr -cd '0-9\n' <"$ppdir/pgpool.pid" 2>/dev/null | head -n 1; }
pgpool_alive() { local p; p=$(pgpool_pid); [ -n "$p" ] && [ "$(cat /proc/"$p"/comm 2>/dev/null)" = pgpool ]; }
# pgpool_kill - SIGKILL to Pgpool-II's process group (it runs in a session of its own).
pgpool_kill() {
	local p
	p=$(pgpool_pid)
	[ -n "$p" ] && [ "$(cat /proc/"$p"/comm 2>/dev/null)" = pgpool ] || return 0
	kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
}
cleanup() {
	[ -n "$bench_pid" ] && kill "$bench_pid" 2>/dev/null
	[ -n "$loop_pid" ] && kill -KILL "$loop_pid" 2>/dev/null
	pgpool_kill
	lib_teardown "$tmp"
}
trap cleanup EXIT

ports=$(lib_free_ports 4) || { echo "FAIL no free ports in 20000-32000"; exit 1; }
set -- $ports
declare -A port=([pg1]=$1 [pg2]=$2)
pp=$3
pcp=$4
topo=$tmp/topology.yaml
state=$tmp/.pgconverge

# write_topology PRIMARY MODE [MAX_LAG [LOAD_BALANCE]] - the topology, primary and failover mode given.
write_topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  c:
    primary: $1
    nodes:
      pg1: {host: 127.0.0.1, port: ${port[pg1]}, data_dir: data/pg1}
      pg2: {host: 127.0.0.1, port: ${port[pg2]}, data_dir: data/pg2}
    settings:
      shared_buffers: 16MB
      max_connections: 100
    failover: {mode: $2, detect_after: 3s, probe_interval: 500ms}
    hba:
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}
    roles:
      app: {login: true, password: {file: secrets/app}}
    databases:
      appdb: {owner: app}
    replication:
      user: replicator
      password: {file: secrets/replicator}
    balancer:
      pgpool: {port: $pp, pcp_port: $pcp, load_balance: ${4:-true}, max_lag: ${3:-1MB}}
EOF
}

# pq [PASSWORD] SQL - one statement through Pgpool-II as app on appdb; output, rc.
pq() {
	PGPASSWORD=$1 PGCONNECT_TIMEOUT=${PQ_TIMEOUT:-5} "$LIB_PG_BIN/psql" -X -Atq -v ON_ERROR_STOP=1 \
		-h 127.0.0.1 -p "$pp" -U app -d appdb -c "$2"
}
# pool_nodes - "name:status:role" for each SHOW pool_nodes row, space separated.
pool_nodes() {
	pq "$apppw" "show pool_nodes" 2>/dev/null | awk -F'|' -v p1="${port[pg1]}" -v p2="${port[pg2]}" '
		{ n = ($3 == p1) ? "pg1" : ($3 == p2) ? "pg2" : $3; s = ($4 == "waiting") ? "up" : $4
		  printf "%s%s:%s:%s", sep, n, s, $7; sep = " " }'
}
pool_nodes_are() { [ "$(pool_nodes)" = "$1" ]; }
# q NODE SQL - one value from a node (superuser over the socket).
q() { lib_sql "${port[$1]}" "$2" 2>/dev/null; }
# write_lands PORT - an insert through Pgpool-II commits, on the server at PORT.
write_lands() { [ "$(pq "$apppw" "insert into t values (default) returning inet_server_port()" 2>/dev/null)" = "$1" ]; }

mkdir -m 700 "$tmp/secrets"
apppw='app-Pw-4-pool'
printf '%s\n' "$apppw" >"$tmp/secrets/app"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets"/*

# --- 1. apply brings everything up ----------------------------------------------------------

write_topology pg1 manual
lib_run "$tmp/apply1" apply -f "$topo"
lib_expect_rc "apply builds a primary, a replica and Pgpool-II" "$tmp/apply1" 0
grep -q 'pgpool-start' "$tmp/apply1.out" && ok "the plan started Pgpool-II (pgpool-start)" ||
	fail "no pgpool-start in the apply output"
check "Pgpool-II runs" pgpool_alive
[ "$rc" = 0 ] && pgpool_alive || { lib_show "$tmp/apply1"; tail -n 20 "$ppdir/pgpool.log" 2>/dev/null; lib_finish test_pgpool; }
pid1=$(pgpool_pid)
[ "$(ps -o user= -p "$pid1" | tr -d ' ')" = postgres ] && ok "Pgpool-II runs as postgres" ||
	fail "Pgpool-II runs as $(ps -o user= -p "$pid1")"
[ "$(stat -c '%U %a' "$ppdir")" = "postgres 700" ] && ok "its folder is postgres's, 0700" ||
	fail "folder: $(stat -c '%U %a' "$ppdir")"
bad=$(for f in pgpool.conf pool_hba.conf pool_passwd pgpool.key pcp.conf pcppass; do
	[ "$(stat -c '%U %a' "$ppdir/$f" 2>/dev/null)" = "postgres 600" ] || echo "$f"; done)
[ -z "$bad" ] && ok "its files are postgres's, 0600" || fail "files not postgres 0600: $bad"
grep -q "$apppw" "$ppdir"/* /proc/"$pid1"/cmdline "$tmp"/*.out "$tmp"/*.err "$state/journal.jsonl" 2>/dev/null &&
	fail "the app password appears in clear in Pgpool-II's files, argv, output or the journal" ||
	ok "the app password is nowhere in clear (pool_passwd holds it AES-encrypted)"
grep -q '^app:AES' "$ppdir/pool_passwd" && ok "pool_passwd: app's entry is AES" || fail "pool_passwd: $(cut -c1-8 "$ppdir/pool_passwd")"
grep -q "^backend_flag1 = 'ALLOW_TO_FAILOVER'" "$ppdir/pgpool.conf" &&
	grep -q "^failover_on_backend_error = off" "$ppdir/pgpool.conf" &&
	grep -q "^failover_command = ''" "$ppdir/pgpool.conf" &&
	grep -q "^health_check_period = 0" "$ppdir/pgpool.conf" &&
	grep -q "^delay_threshold = 1048576" "$ppdir/pgpool.conf" &&
	ok "pgpool.conf: Pgpool-II's own failover off, delay_threshold = max_lag" || fail "pgpool.conf settings"

# --- 2. login, roles, writes ---------------------------------------------------------------------

check "login through Pgpool-II with the right password" lib_wait 20 eval '[ "$(pq "$apppw" "select 1" 2>/dev/null)" = 1 ]'
out=$(pq wrong-password "select 1" 2>&1)
[ $? -ne 0 ] && ! echo "$out" | grep -qx 1 && ok "a wrong password is refused ($(echo "$out" | grep -m1 -o 'authentication failed\|password authentication failed' || echo refused))" ||
	fail "a wrong password was accepted: $out"
check "SHOW pool_nodes: pg1 primary, pg2 standby, both up" lib_wait 20 pool_nodes_are "pg1:up:primary pg2:up:standby"
pq "$apppw" "create table t (i serial primary key)" >/dev/null 2>&1
check "a write through Pgpool-II lands on the primary pg1" write_lands "${port[pg1]}"
[ "$(lib_psql "${port[pg1]}" -d appdb -c 'select count(*) from t' 2>/dev/null)" -ge 1 ] 2>/dev/null && ok "the row is on pg1" || fail "the row is not on pg1"
lib_run "$tmp/plan1" plan -f "$topo"
[ "$rc" = 0 ] && ok "plan after apply: no changes (exit 0)" || { fail "plan after apply: exit $rc"; lib_show "$tmp/plan1"; }
lib_run "$tmp/status1" status -f "$topo" --format json
check "status (JSON): Pgpool-II up on its port, primary pg1, both backends" lib_json "$tmp/status1.out" \
	"(lambda p: p['up'] and p['port'] == $pp and p['primary'] == 'pg1' and [(b['node'], b['role']) for b in p['backends']] == [('pg1', 'primary'), ('pg2', 'standby')])(d['clusters'][0]['pgpool'])"
lib_run "$tmp/status2" status -f "$topo"
grep -q "pgpool     up, port $pp, pid $pid1, primary pg1" "$tmp/status2.out" && ok "status (text): Pgpool-II up, its port and primary" ||
	{ fail "status text"; lib_show "$tmp/status2"; }
lib_run "$tmp/graph1" graph -f "$topo" --live
grep -q 'up, primary pg1' "$tmp/graph1.out" && grep -q '"c:pgpool" -> "c/pg1" \[label="write"\]' "$tmp/graph1.out" &&
	ok "graph --live: Pgpool-II up, writing to pg1" || { fail "graph --live"; lib_show "$tmp/graph1"; }

# --- 2b. configuration changes: a reload, or a restart under policy ---------------------------

write_topology pg1 manual 2MB
lib_run "$tmp/plan-lag" plan -f "$topo" --format json
check "max_lag changed: pgpool-config, impact reload, delay_threshold 1048576 -> 2097152" lib_json "$tmp/plan-lag.out" \
	"[(a['action'], a['impact']) for a in d['actions']] == [('pgpool-config', 'reload')] and {'key': 'delay_threshold', 'from': '1048576', 'to': '2097152'} in d['actions'][0]['changes']"
lib_run "$tmp/apply-lag" apply -f "$topo"
lib_expect_rc "apply reloads Pgpool-II" "$tmp/apply-lag" 0
check "Pgpool-II applies delay_threshold = 2MB" lib_wait 10 eval '[ "$(pq "$apppw" "pgpool show delay_threshold" 2>/dev/null)" = 2MB ]'
[ "$(pgpool_pid)" = "$pid1" ] && ok "reloaded, not restarted (pid $pid1)" || fail "Pgpool-II was restarted: $pid1 -> $(pgpool_pid)"
write_topology pg1 manual 2MB false
lib_run "$tmp/apply-lb" apply -f "$topo"
lib_expect_rc "load_balance changed: apply exits 3 (pgpool-restart needs --allow-restart)" "$tmp/apply-lb" 3
grep -q 'pgpool-restart' "$tmp/apply-lb.out" && ok "the blocked action is pgpool-restart" || { fail "no pgpool-restart"; lib_show "$tmp/apply-lb"; }
[ "$(pgpool_pid)" = "$pid1" ] && ok "Pgpool-II left running as it was" || fail "Pgpool-II changed without permission"
lib_run "$tmp/apply-lb2" apply -f "$topo" --allow-restart
lib_expect_rc "apply --allow-restart restarts Pgpool-II" "$tmp/apply-lb2" 0
[ "$(pgpool_pid)" != "$pid1" ] && pgpool_alive && ok "Pgpool-II restarted (pid $(pgpool_pid))" || fail "Pgpool-II was not restarted"
check "load_balance_mode is off now" lib_wait 10 eval '[ "$(pq "$apppw" "pgpool show load_balance_mode" 2>/dev/null)" = off ]'
write_topology pg1 manual 2MB true
lib_run "$tmp/apply-lb3" apply -f "$topo" --allow-restart
lib_expect_rc "load_balance back on (restart)" "$tmp/apply-lb3" 0
check "SHOW pool_nodes after the restarts: pg1 primary, pg2 standby" lib_wait 20 pool_nodes_are "pg1:up:primary pg2:up:standby"
pid1=$(pgpool_pid)

# --- 2c. a replica dies: Pgpool-II would hold it up and fail every new session --------------

kill -9 "$(lib_pidfile_pid "$tmp/data/pg2")"
sleep 1
lib_run "$tmp/plan-dead" plan -f "$topo" --format json
check "plan: pgpool-follow takes the dead pg2 down in Pgpool-II (its state read through PCP)" lib_json "$tmp/plan-dead.out" \
	"any(a['action'] == 'pgpool-follow' and any(c['key'] == 'pgpool.backend1(pg2)' and c['to'] == 'down' for c in a['changes']) for a in d['actions'])"
lib_run "$tmp/apply-dead" apply -f "$topo"
lib_expect_rc "apply starts pg2 again and Pgpool-II follows" "$tmp/apply-dead" 0
check "SHOW pool_nodes: pg1 primary, pg2 standby again" lib_wait 30 pool_nodes_are "pg1:up:primary pg2:up:standby"
check "a write through Pgpool-II lands on pg1" write_lands "${port[pg1]}"
[ "$(pgpool_pid)" = "$pid1" ] && ok "Pgpool-II not restarted (pid $pid1)" || fail "Pgpool-II was restarted: $pid1 -> $(pgpool_pid)"

# --- 3. switchover under pgbench through Pgpool-II -------------------------------------------------

PGPASSWORD=$apppw "$PGBENCH" -i -s 1 -h 127.0.0.1 -p "$pp" -U app appdb >"$tmp/bench-init.log" 2>&1 ||
	fail "pgbench -i through Pgpool-II: $(tail -n 3 "$tmp/bench-init.log")"
PGPASSWORD=$apppw "$PGBENCH" -n -c 4 -j 2 -T 14 -M simple -h 127.0.0.1 -p "$pp" -U app appdb \
	>"$tmp/bench.log" 2>&1 &
bench_pid=$!
sleep 3
write_topology pg2 manual 2MB
lib_run "$tmp/apply2" apply -f "$topo" --allow-switchover
lib_expect_rc "apply --allow-switchover switches over to pg2" "$tmp/apply2" 0
wait "$bench_pid"
bench_pid=
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$tmp/bench.log")
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$tmp/bench.log")
# pgbench counts as "failed" only the transactions it may retry; one whose
# connection ends aborts its client: that transaction failed too.
aborted=$(grep -c 'client [0-9]* \(script [0-9]* \)\?aborted' "$tmp/bench.log")
echo "     pgbench -c 4 through Pgpool-II across the switchover: ${processed:-0} committed, $((${failed:-0} + aborted)) failed ($aborted clients aborted: their sessions were on the old primary; pgbench's own failed count ${failed:-?})"
grep -m 4 'aborted in command' "$tmp/bench.log" | sed 's/^/       | /'
[ "${processed:-0}" -gt 0 ] && ok "pgbench committed transactions through Pgpool-II" || { fail "pgbench"; tail -n 15 "$tmp/bench.log"; }
[ "$(q pg2 'select pg_is_in_recovery()')" = f ] && ok "pg2 is the primary" || fail "pg2 is not the primary"
check "SHOW pool_nodes: pg2 primary, pg1 an attached standby" lib_wait 30 pool_nodes_are "pg1:up:standby pg2:up:primary"
check "a write through Pgpool-II lands on pg2" lib_wait 10 write_lands "${port[pg2]}"
[ "$(pgpool_pid)" = "$pid1" ] && ok "Pgpool-II followed without a restart (pid $pid1)" || fail "Pgpool-II was restarted: $pid1 -> $(pgpool_pid)"
grep -q '"pg2" is the primary' "$tmp/apply2.err" && ok "the switchover told Pgpool-II (pcp_promote_node)" ||
	fail "no promotion in Pgpool-II in the apply log"
lib_run "$tmp/plan2" plan -f "$topo"
[ "$rc" = 0 ] && ok "plan after the switchover: no changes" || { fail "plan after the switchover: exit $rc"; lib_show "$tmp/plan2"; }

# --- 4. Pgpool-II killed: the next pass starts it -------------------------------------------------

pgpool_kill
pgpool_alive && fail "Pgpool-II survived SIGKILL" || ok "Pgpool-II killed (SIGKILL to its process group)"
lib_run "$tmp/plan3" plan -f "$topo"
grep -q 'pgpool-start' "$tmp/plan3.out" && ok "plan: pgpool-start for the dead Pgpool-II" || { fail "plan: no pgpool-start"; lib_show "$tmp/plan3"; }
lib_run "$tmp/rec1" reconcile -f "$topo" --once
lib_expect_rc "reconcile --once converges" "$tmp/rec1" 0
check "Pgpool-II runs again" pgpool_alive
[ "$(pgpool_pid)" != "$pid1" ] && ok "with a new pid ($(pgpool_pid))" || fail "same pid"
check "SHOW pool_nodes after the restart: pg2 primary, pg1 standby" lib_wait 30 pool_nodes_are "pg1:up:standby pg2:up:primary"
check "a write through Pgpool-II lands on pg2" lib_wait 10 write_lands "${port[pg2]}"
lib_run "$tmp/plan4" plan -f "$topo"
[ "$rc" = 0 ] && ok "plan afterwards: no changes" || { fail "plan afterwards: exit $rc"; lib_show "$tmp/plan4"; }

# --- 5. failover with the loop running ---------------------------------------------------------------

write_topology pg2 auto 2MB
"$PGC" reconcile -f "$topo" --interval 2s >"$tmp/loop.out" 2>"$tmp/loop.err" &
loop_pid=$!
outcome() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_pass"]["outcome"])' "$state/status.json" 2>/dev/null; }
check "reconcile loop: a pass converges" lib_wait 30 eval '[ "$(outcome)" = converged ]'
kill -9 "$(lib_pidfile_pid "$tmp/data/pg2")"
t_kill=$(date +%s.%N)
if PQ_TIMEOUT=2 lib_wait 30 write_lands "${port[pg1]}"; then
	took=$(python3 -c "print(round($(date +%s.%N) - $t_kill, 1))")
	ok "after kill -9 of pg2, a write through Pgpool-II lands on pg1 ${took} s later (detect_after 3s)"
else
	fail "no write through Pgpool-II on pg1 within 30 s of kill -9"
	tail -n 30 "$tmp/loop.err" | sed 's/^/  | /'
fi
check "SHOW pool_nodes: pg1 primary" lib_wait 10 eval 'pool_nodes | grep -q "pg1:up:primary"'
check "pg2 rejoins, and Pgpool-II attaches it as a standby" lib_wait 90 pool_nodes_are "pg1:up:primary pg2:up:standby"
grep -m1 -o '"pg1" promoted in place of "pg2"; .*' "$tmp/loop.err" | sed 's/^/       | /'
kill -TERM "$loop_pid"
for _ in $(seq 1 100); do kill -0 "$loop_pid" 2>/dev/null || break; sleep 0.1; done
wait "$loop_pid" 2>/dev/null
loop_pid=

lib_finish test_pgpool
