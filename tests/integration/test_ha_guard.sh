#!/usr/bin/env bash
# tests/integration/test_ha_guard.sh - the guards of automatic failover in
# `reconcile --interval`, on real servers, through the CLI only (3 nodes
# built by `apply`, failover.mode auto, detect_after 2s, probe_interval
# 500ms, min_interval 2min, synchronous replication):
#   1. partition: the primary runs and its replicas stream, but pgconverge
#      cannot connect to it (its unix socket is moved aside): idle, then
#      under writes, after several times detect_after nobody is promoted (same timeline, the primary takes
#      writes), and status.json and the log say why (a replica heard from it);
#   2. anti-flap (reconcile/ha/failover.c, failover_evaluate): after one
#      automatic failover, within failover.min_interval
#      a. the new primary hangs (its processes stopped with SIGSTOP: running,
#         not confirmed down): no second failover, the reason logged;
#      b. kill -9 of the new primary (a local data directory without a running
#         server: confirmed down, the documented exception): a second
#         failover happens and the log gives the reason;
#   3. failback: auto with maintenance.restart: always: a pass switches over
#      back to the declared primary once it has rejoined and caught up.
# (failback manual, a blocked switchover back and apply exit 3, is in
# test_ha_flow.sh.)
#
# Needs root (servers run as postgres), the PostgreSQL 15 binaries and free
# loopback ports in 20000-32000. One ok/FAIL line per check; exit 1 when any
# check failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1
rc=0 # set by lib_run

tmp=$(lib_tmpdir) || exit 1
# Where the primary's socket is moved aside: the same file system as the
# socket folder (a rename), private to this run.
aside=$(mktemp -d "$LIB_SOCKET_DIR/pgc-guard.XXXXXX") || exit 1
chmod 755 "$aside"
loop_pid=
stopped_pgid=
traffic_pid=
cleanup() {
	[ -n "$traffic_pid" ] && kill "$traffic_pid" 2>/dev/null
	[ -n "$stopped_pgid" ] && kill -CONT -- "-$stopped_pgid" 2>/dev/null
	[ -n "$loop_pid" ] && kill -KILL "$loop_pid" 2>/dev/null
	# A socket moved aside goes back, so that the server's shutdown removes it.
	for s in "$aside"/.s.PGSQL.*; do [ -e "$s" ] && mv "$s" "$LIB_SOCKET_DIR/"; done
	rm -rf "$aside"
	lib_teardown "$tmp"
}
trap cleanup EXIT

lib_node_ports 3
topo=$tmp/topology.yaml
state=$tmp/.pgconverge
log=$tmp/loop.err

# write_topology MODE [SYNC [FAILBACK]] - the topology, $declared (pg1) the
# declared primary. Regions steer the choice among replicas with the same WAL
# position: pg2 and pg3 are preferred to pg1.
declared=pg1
write_topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  c:
    primary: $declared
    nodes:
      pg1: {host: 127.0.0.1, port: ${port[pg1]}, data_dir: data/pg1, region: a}
      pg2: {host: 127.0.0.1, port: ${port[pg2]}, data_dir: data/pg2, region: b}
      pg3: {host: 127.0.0.1, port: ${port[pg3]}, data_dir: data/pg3, region: b}
    settings:
      shared_buffers: 16MB
      max_connections: 30
    failover: {mode: $1, detect_after: 2s, probe_interval: 500ms, min_interval: 2min, prefer_region: b${3:+, failback: $3}}
    replication:
      user: replicator
      password: {file: secrets/replicator}
EOF
	[ -n "${2:-}" ] && echo "      synchronous: {method: any, count: 1}" >>"$topo"
	[ -n "${3:-}" ] && echo "    maintenance: {restart: always}" >>"$topo"
	return 0
}

q() { lib_sql "${port[$1]}" "$2" 2>/dev/null; }
primaries() {
	local n out=
	for n in pg1 pg2 pg3; do [ "$(q "$n" 'select pg_is_in_recovery()')" = f ] && out="$out $n"; done
	echo "${out# }"
}
streams_from() {
	lib_wait "${3:-30}" lib_sql_is "${port[$1]}" "select status || '|' || sender_port from pg_stat_wal_receiver" \
		"streaming|${port[$2]}"
}
timeline() { q "$1" 'select timeline_id from pg_control_checkpoint()'; }
outcome() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_pass"]["outcome"])' "$state/status.json" 2>/dev/null; }
ha_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["clusters"]["c"]["ha"][sys.argv[2]])' "$state/status.json" "$1" 2>/dev/null; }
# auto_failovers - the automatic failovers that ended well, in the journal.
auto_failovers() { grep '"mode":"auto"' "$state/journal.jsonl" 2>/dev/null | grep '"event":"end"' | grep -c '"outcome":"ok"'; }

# --- the cluster ---------------------------------------------------------------------

mkdir -m 700 "$tmp/secrets"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"
write_topology manual
lib_run "$tmp/apply1" apply -f "$topo"
lib_expect_rc "apply builds a primary and two replicas" "$tmp/apply1" 0
[ "$rc" = 0 ] || lib_finish test_ha_guard
write_topology manual sync
lib_run "$tmp/apply2" apply -f "$topo"
lib_expect_rc "apply turns synchronous replication on" "$tmp/apply2" 0
q pg1 "create table t (i int)" >/dev/null

write_topology auto sync
"$PGC" reconcile -f "$topo" --interval 1s >"$tmp/loop.out" 2>"$log" &
loop_pid=$!
check "reconcile loop: a pass converges" lib_wait 30 eval '[ "$(outcome)" = converged ]'
check "status.json: pg1 is the healthy primary" lib_wait 10 eval '[ "$(ha_field primary)/$(ha_field verdict)" = pg1/healthy ]'

# --- 1. partition: pgconverge loses the primary, the replicas do not -------------------

tl0=$(timeline pg1)
# What the partition rule reads, on an idle primary (no write for seconds).
sleep 3
idle=
for _ in 1 2 3 4 5; do
	idle="$idle $(q pg2 "select round(extract(epoch from clock_timestamp() - last_msg_receipt_time)::numeric, 1) from pg_stat_wal_receiver")"
	sleep 1
done
echo "     (idle pg1: pg2's WAL receiver heard from it this many seconds ago, once a second:$idle)"
sock=$LIB_SOCKET_DIR/.s.PGSQL.${port[pg1]}
mv "$sock" "$aside/" || fail "cannot move the socket of pg1 aside"
# The fixture's own way in: psql through the moved socket.
qa() { runuser -u postgres -- "$LIB_PG_BIN/psql" -h "$aside" -p "${port[pg1]}" -d postgres -XAtq -c "$1" 2>/dev/null; }
lib_sql_is_aside() { [ "$(qa 'select 1')" = 1 ]; }
check "pg1 answers through the moved socket" lib_sql_is_aside
# Idle first: with nothing written, the walsenders' keepalives (pgconverge
# sets wal_sender_timeout to detect_after) are all the replicas hear.
sleep 6
[ "$(q pg2 'select pg_is_in_recovery()')/$(q pg3 'select pg_is_in_recovery()')" = t/t ] &&
	[ "$(auto_failovers)" = 0 ] &&
	ok "idle pg1 out of pgconverge's reach for 6 s (3 x detect_after): no failover" ||
	fail "an idle primary was failed over: primaries '$(primaries)'"
# Light write traffic through the moved socket: WAL keeps flowing to the
# replicas, whose WAL receivers hear from pg1 all along.
(while :; do qa 'insert into t values (0)' >/dev/null; sleep 0.2; done) &
traffic_pid=$!
check "pgconverge sees pg1 fail its probes (suspect or blocked)" lib_wait 10 eval \
	'case $(ha_field verdict) in suspect | blocked) true ;; *) false ;; esac'
# Several times detect_after (2 s), the replicas streaming all along.
ages=
for _ in $(seq 1 5); do
	sleep 2
	ages="$ages $(q pg2 "select round(extract(epoch from clock_timestamp() - last_msg_receipt_time)::numeric, 1) from pg_stat_wal_receiver")"
done
echo "     (pg2's WAL receiver: seconds since the last message from pg1, every 2 s:$ages)"
[ "$(q pg2 'select pg_is_in_recovery()')/$(q pg3 'select pg_is_in_recovery()')" = t/t ] &&
	ok "after 10 s (5 x detect_after) no replica was promoted" || fail "a replica was promoted: primaries '$(primaries)'"
[ "$(qa 'select pg_is_in_recovery()')" = f ] && [ "$(qa 'insert into t values (1) returning i')" = 1 ] &&
	ok "pg1 is still the primary and takes a synchronous write" || fail "pg1 does not take writes"
[ "$(qa 'select timeline_id from pg_control_checkpoint()')" = "$tl0" ] &&
	ok "timeline unchanged ($tl0)" || fail "timeline of pg1 changed: $tl0 -> $(qa 'select timeline_id from pg_control_checkpoint()')"
[ "$(auto_failovers)" = 0 ] && ok "journal: no automatic failover" || fail "journal: $(auto_failovers) automatic failover(s)"
check "status.json: blocked, a replica still receives WAL from pg1" lib_json "$state/status.json" \
	"d['clusters']['c']['ha']['verdict'] == 'blocked' and 'received WAL from primary \"pg1\"' in d['clusters']['c']['ha']['reason'] and 'only pgconverge cannot reach it' in d['clusters']['c']['ha']['reason']"
grep -q 'cluster "c": no failover: .*received WAL from primary "pg1".*only pgconverge cannot reach it' "$log" &&
	ok "the log says why there is no failover" || { fail "no reason in the log"; tail -n 15 "$log" | sed 's/^/  | /'; }
if [ "$(ha_field verdict)" != blocked ]; then
	echo "  status.json ha: verdict $(ha_field verdict), reason: $(ha_field reason)"
fi
kill "$traffic_pid" 2>/dev/null
wait "$traffic_pid" 2>/dev/null
traffic_pid=
mv "$aside/.s.PGSQL.${port[pg1]}" "$LIB_SOCKET_DIR/"
check "socket back: pg1 is healthy again" lib_wait 15 eval '[ "$(ha_field verdict)" = healthy ]'

# --- 2. anti-flap -----------------------------------------------------------------------

kill -9 "$(lib_pidfile_pid "$tmp/data/pg1")"
check "kill -9 of pg1: one automatic failover" lib_wait 40 eval '[ "$(auto_failovers)" = 1 ]'
b=$(primaries)
case $b in
pg2 | pg3) ok "first failover: $b is the primary" ;;
*) fail "primaries after the first failover: '$b'"; tail -n 20 "$log" | sed 's/^/  | /'; lib_finish test_ha_guard ;;
esac
check "pg1 rejoined and streams from $b" streams_from pg1 "$b" 40
[ "$b" = pg2 ] && other=pg3 || other=pg2
check "$other streams from $b" streams_from "$other" "$b"
check "status.json: healthy, watching $b" lib_wait 15 eval '[ "$(ha_field primary)/$(ha_field verdict)" = "$b/healthy" ]'
tl1=$(timeline "$b")

# 2a. The new primary hangs: every process of its server stopped. It still
# runs, so it is not confirmed down: min_interval holds.
stopped_pgid=$(lib_pidfile_pid "$tmp/data/$b")
kill -STOP -- "-$stopped_pgid"
t_stop=$SECONDS
check "$b stopped: no failover within failover.min_interval, the reason in status.json" lib_wait 30 lib_json \
	"$state/status.json" "d['clusters']['c']['ha']['verdict'] == 'blocked' and 'within failover.min_interval (2 min)' in d['clusters']['c']['ha']['reason'] and 'not confirmed down' in d['clusters']['c']['ha']['reason']"
sleep $((t_stop + 8 - SECONDS > 0 ? t_stop + 8 - SECONDS : 0))
[ "$(auto_failovers)" = 1 ] && ok "8 s after SIGSTOP of $b: still one automatic failover" ||
	fail "$(auto_failovers) automatic failovers"
[ "$(q "$other" 'select pg_is_in_recovery()')/$(q pg1 'select pg_is_in_recovery()')" = t/t ] &&
	ok "pg1 and $other are still standbys" || fail "primaries: $(primaries)"
grep -q "cluster \"c\": no failover: primary \"$b\" has failed .*within failover.min_interval (2 min)" "$log" &&
	ok "the log says why: within failover.min_interval" || { fail "no min_interval reason in the log"; tail -n 15 "$log" | sed 's/^/  | /'; }
kill -CONT -- "-$stopped_pgid"
stopped_pgid=
check "$b resumed: healthy again" lib_wait 20 eval '[ "$(ha_field primary)/$(ha_field verdict)" = "$b/healthy" ]'
[ "$(timeline "$b")" = "$tl1" ] && [ "$(q "$b" 'insert into t values (2) returning i')" = 2 ] &&
	ok "$b kept its timeline and takes writes" || fail "$b after SIGCONT: timeline $(timeline "$b"), primaries $(primaries)"

# 2b. kill -9 of the new primary, still within min_interval: confirmed down
# (a local data directory without a running server), the documented exception.
kill -9 "$(lib_pidfile_pid "$tmp/data/$b")"
check "kill -9 of $b within min_interval: a second failover (confirmed down)" lib_wait 40 eval '[ "$(auto_failovers)" = 2 ]'
c2=$(primaries)
case $c2 in
pg1 | "$other") ok "second failover: $c2 is the primary" ;;
*) fail "primaries after the second failover: '$c2'"; tail -n 20 "$log" | sed 's/^/  | /'; lib_finish test_ha_guard ;;
esac
grep -q "cluster \"c\": failing over: primary \"$b\" has failed" "$log" &&
	ok "the log gives the reason of the second failover" || fail "no 'failing over' line for $b"

# --- 3. failback: auto ------------------------------------------------------------------

# The switchover back goes to the declared primary pg1; should the second
# failover have chosen pg1 (same WAL position, another region), the target
# is $b, the primary killed last, declared in its place.
if [ "$c2" = pg1 ]; then
	declared=$b
	echo "     (pg1 was promoted by the second failover: the failback target is $b)"
fi
[ "$declared" = "$b" ] && rest=$other || rest=$b
check "$declared rejoined and streams from $c2" streams_from "$declared" "$c2" 60
check "$rest streams from $c2" streams_from "$rest" "$c2" 60
q "$c2" "insert into t select generate_series(100, 5000)" >/dev/null
before=$(q "$c2" "select count(*) from t")
write_topology auto sync auto
kill -HUP "$loop_pid"
check "failback auto: $declared is the primary again" lib_wait 60 eval '[ "$(primaries)" = "$declared" ]'
check "the loop converges with $declared the primary" lib_wait 60 eval '[ "$(outcome)" = converged ]'
[ "$(q "$declared" "select count(*) from t")" = "$before" ] && ok "every row written on $c2 is on $declared ($before)" ||
	fail "rows on $declared: $(q "$declared" "select count(*) from t"), expected $before"
check "$c2 streams from $declared" streams_from "$c2" "$declared"
check "$rest streams from $declared" streams_from "$rest" "$declared"
check "journal: the switchover back, done" python3 - "$state/journal.jsonl" "$c2" "$declared" <<'PY'
import json, sys
so = [json.loads(l) for l in open(sys.argv[1]) if '"event":"switchover"' in l]
assert so and so[-1]["from"] == sys.argv[2] and so[-1]["to"] == sys.argv[3] and so[-1]["outcome"] == "done", so
PY
[ "$(auto_failovers)" = 2 ] && ok "no further automatic failover" || fail "$(auto_failovers) automatic failovers"

kill -TERM "$loop_pid"
wait "$loop_pid"
lrc=$?
loop_pid=
[ "$lrc" = 0 ] && ok "SIGTERM stops the loop (exit 0)" || fail "loop after SIGTERM: exit $lrc"
lib_finish test_ha_guard
