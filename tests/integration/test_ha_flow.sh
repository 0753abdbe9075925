#!/usr/bin/env bash
# tests/integration/test_ha_flow.sh - failover, switchover and rejoin through
# the declarative flow, on real servers, through the CLI only:
#   1. `apply` builds a primary and two synchronous replicas;
#   2. kill -9 of the primary and `pgconverge failover`; then `plan` shows the
#      switchover back blocked (failback manual) and no action that points a
#      replica at the dead node; `apply` exits 3 and the cluster keeps working;
#   3. `primary:` set to the live primary: the plan is empty;
#   4. `primary:` set to another replica: `apply` exits 3, then
#      `apply --allow-switchover` switches over under a writer with
#      synchronous_commit on, and no acknowledged commit is lost;
#   5. `reconcile --interval 2s` with failover.mode auto (detect_after 3s):
#      kill -9 of the primary, a replica takes writes within a bound, the
#      journal and status.json tell it, later passes converge; SIGTERM stops it.
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

tmp=$(lib_tmpdir) || exit 1
writer_pid=
loop_pid=
cleanup() {
	[ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null
	[ -n "$loop_pid" ] && kill -KILL "$loop_pid" 2>/dev/null
	lib_teardown "$tmp"
}
trap cleanup EXIT

lib_node_ports 3
topo=$tmp/topology.yaml
state=$tmp/.pgconverge

# write_topology PRIMARY MODE [SYNC] - the topology file, primary and failover mode given.
write_topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  c:
    primary: $1
    nodes:
      pg1: {host: 127.0.0.1, port: ${port[pg1]}, data_dir: data/pg1}
      pg2: {host: 127.0.0.1, port: ${port[pg2]}, data_dir: data/pg2}
      pg3: {host: 127.0.0.1, port: ${port[pg3]}, data_dir: data/pg3}
    settings:
      shared_buffers: 16MB
      max_connections: 30
    failover: {mode: $2, detect_after: 3s, probe_interval: 500ms}
    replication:
      user: replicator
      password: {file: secrets/replicator}
EOF
	[ -n "${3:-}" ] && echo "      synchronous: {method: any, count: 1}" >>"$topo"
	return 0
}

# q NODE SQL - one value from a node (superuser over the socket); empty on error.
q() { lib_sql "${port[$1]}" "$2" 2>/dev/null; }
# primaries - the nodes that accept writes, space separated.
primaries() {
	local n out=
	for n in pg1 pg2 pg3; do [ "$(q "$n" 'select pg_is_in_recovery()')" = f ] && out="$out $n"; done
	echo "${out# }"
}
# streams_from NODE UPSTREAM - NODE's WAL receiver streams from UPSTREAM (waits up to 30 s).
streams_from() {
	lib_wait 30 lib_sql_is "${port[$1]}" "select status || '|' || sender_port from pg_stat_wal_receiver" \
		"streaming|${port[$2]}"
}
# writer_start NODE TABLE - commits "insert into TABLE values (i)", i = 1, 2, ... one
# transaction each with synchronous_commit on, until an error stops it.
writer_start() {
	q "$1" "create table if not exists $2 (i int primary key)" >/dev/null
	seq 1 200000 | sed "s/.*/insert into $2 values (&);/" >"$tmp/$2.sql"
	"$LIB_PG_BIN/psql" -X -v ON_ERROR_STOP=1 -h "$LIB_SOCKET_DIR" -p "${port[$1]}" -U postgres \
		-d postgres -c 'set synchronous_commit = on' -f "$tmp/$2.sql" -o "$tmp/$2.out" \
		>"$tmp/$2.err" 2>&1 &
	writer_pid=$!
}
# writer_acked TABLE - waits (10 s at most) for the writer to stop; prints its acknowledged commits.
writer_acked() {
	local i
	for i in $(seq 1 100); do
		kill -0 "$writer_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$writer_pid" 2>/dev/null
	wait "$writer_pid" 2>/dev/null
	writer_pid=
	grep -c '^INSERT 0 1$' "$tmp/$1.out"
}
# plan_json NAME - `plan --format json` into $tmp/NAME.json; rc in $rc.
plan_json() {
	lib_run "$tmp/$1" plan -f "$topo" --format json
	cp "$tmp/$1.out" "$tmp/$1.json"
}

# --- 1. the cluster, built by apply ---------------------------------------------------

mkdir -m 700 "$tmp/secrets"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"
write_topology pg1 manual
lib_run "$tmp/apply1" apply -f "$topo"
lib_expect_rc "apply builds a primary and two replicas" "$tmp/apply1" 0
[ "$rc" = 0 ] || lib_finish test_ha_flow
# Synchronous replication once the replicas stream (the primary's own roles come first).
write_topology pg1 manual sync
lib_run "$tmp/apply2" apply -f "$topo"
lib_expect_rc "apply turns synchronous replication on" "$tmp/apply2" 0
check "pg2 and pg3 are quorum standbys of pg1" lib_wait 30 lib_sql_is "${port[pg1]}" \
	"select string_agg(application_name || ':' || sync_state, ' ' order by application_name) from pg_stat_replication" \
	"pg2:quorum pg3:quorum"

# --- 2. kill -9 and pgconverge failover; the plan follows the live primary --------------

q pg1 "create table t0 (i int); insert into t0 values (1)" >/dev/null
kill -9 "$(lib_pidfile_pid "$tmp/data/pg1")"
lib_run "$tmp/fo" failover -f "$topo" --cluster c
lib_expect_rc "pgconverge failover after kill -9 of pg1" "$tmp/fo" 0
new=$(primaries)
case $new in
pg2 | pg3) ok "one primary after the failover: $new" ;;
*) fail "primaries after the failover: '$new'"; lib_show "$tmp/fo"; lib_finish test_ha_flow ;;
esac
[ "$new" = pg2 ] && other=pg3 || other=pg2
if streams_from pg1 "$new"; then
	ok "old primary pg1 was rejoined and streams from $new"
else
	fail "old primary pg1 was rejoined and streams from $new"
	lib_show "$tmp/fo" # the failover's own account of the rejoin
	grep -h 'rejoin\|rewind' "$state/journal.jsonl" 2>/dev/null | tail -n 5
fi

plan_json plan1
[ "$rc" = 2 ] && ok "plan after the failover: changes (exit 2)" || { fail "plan exit $rc"; lib_show "$tmp/plan1"; }
if lib_json "$tmp/plan1.json" "[a['id'] for a in d['actions']] == ['c/pg1/switchover']"; then
	ok "plan: only the switchover back to pg1"
else
	fail "plan actions: $(jq -c '[.actions[].id]' "$tmp/plan1.json")"
fi
check "plan: the switchover is blocked, impact switchover, from $new" lib_json "$tmp/plan1.json" \
	"d['actions'][0]['blocked'] and d['actions'][0]['impact'] == 'switchover' and d['actions'][0]['payload']['upstream'] == '$new' and d['actions'][0]['payload']['target'] == 'pg1'"
check "plan: the reason names failback manual and what to do" lib_json "$tmp/plan1.json" \
	"all(w in d['actions'][0]['blocked_reason'] for w in ('failover.failback is manual', \"set 'primary: $new'\", '--allow-switchover'))"
if grep -q "port=${port[pg1]} " "$tmp/plan1.json"; then
	fail "an action points a replica at the old primary pg1"
else
	ok "no action points a replica at the old primary pg1"
fi
lib_run "$tmp/plantext" plan -f "$topo"
grep -q 'BLOCKED: failover.failback is manual' "$tmp/plantext.out" &&
	ok "plan (text) shows the switchover back blocked" || { fail "plan text"; lib_show "$tmp/plantext"; }

lib_run "$tmp/apply3" apply -f "$topo"
lib_expect_rc "apply after the failover exits 3 (the switchover back is blocked)" "$tmp/apply3" 3
[ "$(primaries)" = "$new" ] && ok "apply left $new the only primary" || fail "primaries: $(primaries)"
[ "$(q "$new" 'insert into t0 values (2) returning i')" = 2 ] && ok "$new takes a synchronous write" ||
	fail "$new does not take writes"
check "$other streams from $new" streams_from "$other" "$new"
check "pg1 still streams from $new" streams_from pg1 "$new"

# --- 3. primary: names the live primary -------------------------------------------------

write_topology "$new" manual sync
plan_json plan2
[ "$rc" = 0 ] && lib_json "$tmp/plan2.json" "d['actions'] == []" &&
	ok "primary: $new in the file: the plan is empty (exit 0)" ||
	{ fail "plan with primary: $new: exit $rc, $(jq -c '[.actions[].id]' "$tmp/plan2.json")"; }

# --- 4. primary: another replica: a switchover, with permission only --------------------

write_topology "$other" manual sync
lib_run "$tmp/apply4" apply -f "$topo"
lib_expect_rc "apply with primary: $other and no --allow-switchover exits 3" "$tmp/apply4" 3
grep -q "c/$other/switchover: failover.failback is manual" "$tmp/apply4.out" &&
	ok "apply lists the blocked switchover and why" || { fail "apply output"; lib_show "$tmp/apply4"; }
[ "$(primaries)" = "$new" ] && ok "nothing moved: $new is still the primary" || fail "primaries: $(primaries)"

writer_start "$new" t4
sleep 1
lib_run "$tmp/apply5" apply -f "$topo" --allow-switchover
k4=$(writer_acked t4)
lib_expect_rc "apply --allow-switchover switches over to $other" "$tmp/apply5" 0
[ "$(primaries)" = "$other" ] && ok "$other is the only primary" || fail "primaries: $(primaries)"
got=$(q "$other" "select count(*) from t4 where i <= $k4")
[ "$k4" -gt 0 ] && [ "$got" = "$k4" ] && ok "all $k4 acknowledged commits are on $other" ||
	fail "$got of $k4 acknowledged commits are on $other"
check "$new (the old primary) streams from $other" streams_from "$new" "$other"
check "pg1 streams from $other" streams_from pg1 "$other"
check "journal: the switchover with its write gap" python3 - "$state/journal.jsonl" "$new" "$other" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
so = [e for e in ev if e.get("event") == "switchover"]
assert so and so[-1]["outcome"] == "done", so
assert so[-1]["from"] == sys.argv[2] and so[-1]["to"] == sys.argv[3], so[-1]
assert isinstance(so[-1]["write_gap_ms"], int) and 0 <= so[-1]["write_gap_ms"] < 10000, so[-1]
ends = [e for e in ev if e.get("action") == "c/%s/switchover" % sys.argv[3] and e.get("event") == "end"]
assert ends and ends[-1]["outcome"] == "ok", ends
PY
lib_run "$tmp/plan3" plan -f "$topo"
[ "$rc" = 0 ] && ok "after the switchover the plan is empty" || { fail "plan after the switchover: exit $rc"; lib_show "$tmp/plan3"; }
grep -q 'r3pl' "$state/journal.jsonl" "$tmp"/*.out "$tmp"/*.err 2>/dev/null &&
	fail "the replication password appears in the journal or output" || ok "no secret in the journal or output"

# --- 5. reconcile --interval with failover.mode auto ------------------------------------------

live=$other
write_topology "$live" auto sync
"$PGC" reconcile -f "$topo" --interval 2s >"$tmp/loop.out" 2>"$tmp/loop.err" &
loop_pid=$!
outcome() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_pass"]["outcome"])' "$state/status.json" 2>/dev/null; }
check "reconcile loop: a pass converges" lib_wait 30 eval '[ "$(outcome)" = converged ]'
check "status.json: HA state of cluster c" lib_json "$state/status.json" \
	"(d['clusters']['c']['ha']['mode'], d['clusters']['c']['ha']['primary'], d['clusters']['c']['ha']['verdict']) == ('auto', '$live', 'healthy')"

kill -9 "$(lib_pidfile_pid "$tmp/data/$live")"
t_kill=$(date +%s.%N)
promoted=
for _ in $(seq 1 150); do
	for n in pg1 pg2 pg3; do
		[ "$n" = "$live" ] && continue
		if [ "$(q "$n" 'select pg_is_in_recovery()')" = f ] &&
			[ "$(q "$n" 'insert into t0 values (3) returning i')" = 3 ]; then
			promoted=$n
			break 2
		fi
	done
	sleep 0.1
done
t_write=$(date +%s.%N)
took=$(python3 -c "print(round($t_write - $t_kill, 1))")
if [ -n "$promoted" ] && python3 -c "import sys; sys.exit(0 if $t_write - $t_kill < 12 else 1)"; then
	ok "auto failover: $promoted took a write ${took} s after kill -9 of $live (detect_after 3s)"
else
	fail "auto failover: no replica took a write within 15 s (promoted='$promoted', ${took} s)"
	tail -n 30 "$tmp/loop.err" | sed 's/^/  | /'
fi
cat >"$tmp/journal_auto.py" <<'PY'
import json, sys
def check():
    ev = [json.loads(l) for l in open(sys.argv[1]) if '"mode":"auto"' in l]
    end = ev[-1]
    t = end["timings_ms"]
    return ([e["event"] for e in ev][-2:] == ["start", "end"] and end["outcome"] == "ok" and
            end["old_primary"] == sys.argv[2] and
            all(isinstance(t[k], int) for k in ("detected", "fenced", "promoted", "first_write")) and
            t["detected"] <= t["fenced"] <= t["promoted"])
try:
    sys.exit(0 if check() else 1)
except Exception:
    sys.exit(1)
PY
# The end line comes once the old primary has rejoined too.
check "journal: the automatic failover with its timings" lib_wait 60 python3 "$tmp/journal_auto.py" \
	"$state/journal.jsonl" "$live"
[ -n "$promoted" ] && check "the old primary $live rejoined and streams from $promoted" streams_from "$live" "$promoted"
check "status.json: the last failover" lib_wait 20 lib_json "$state/status.json" \
	"(d['clusters']['c']['ha']['last_failover'] or {}).get('to') == '$promoted' and d['clusters']['c']['ha']['last_failover']['from'] == '$live'"
# The file still names the old primary: later passes leave only the switchover back.
check "later passes: only the blocked switchover back is pending" lib_wait 30 lib_json "$state/status.json" \
	"d['last_pass']['outcome'] == 'blocked' and [p['action'] for p in d['pending']] == ['switchover']"
write_topology "$promoted" auto sync
check "with primary: $promoted in the file the loop converges" lib_wait 30 eval '[ "$(outcome)" = converged ]'
[ "$(primaries)" = "$promoted" ] && ok "one primary: $promoted" || fail "primaries: $(primaries)"

# A replica started by hand without standby.signal takes writes on the primary's
# own timeline: a split brain the loop notices within a probe and never resolves alone.
old=$live
check "$old streams from $promoted before it is started by hand" streams_from "$old" "$promoted"
runuser -u postgres -- "$LIB_PG_BIN/pg_ctl" stop -w -m fast -D "$tmp/data/$old" >/dev/null 2>&1
rm -f "$tmp/data/$old/standby.signal"
runuser -u postgres -- "$LIB_PG_BIN/pg_ctl" start -w -D "$tmp/data/$old" -l "$tmp/data/$old/byhand.log" >/dev/null 2>&1
two=$(primaries)
[ "$(echo $two | wc -w)" = 2 ] && echo "$two" | grep -qw "$old" && echo "$two" | grep -qw "$promoted" &&
	ok "$old started by hand: two primaries ($two)" || fail "primaries with $old started by hand: '$two'"
check "the loop notices the second primary at once" lib_wait 10 grep -q "node \"$old\" accepts writes besides the primary" "$tmp/loop.err"
check "status.json: the split brain, blocked, nothing else" lib_wait 20 lib_json "$state/status.json" \
	"[(p['id'], p['blocked']) for p in d['pending']] == [('c/-/rejoin', True)] and 'split brain' in d['pending'][0]['blocked_reason']"
[ "$(q "$promoted" 'select pg_is_in_recovery()')" = f ] && ok "$promoted still takes writes" || fail "$promoted is not a primary"
# What the blocked action says: stop the one to give up, move its data directory aside.
runuser -u postgres -- "$LIB_PG_BIN/pg_ctl" stop -w -m fast -D "$tmp/data/$old" >/dev/null 2>&1
mv "$tmp/data/$old" "$tmp/data/$old.given-up"
check "the loop clones $old again and it streams from $promoted" streams_from "$old" "$promoted"
check "and converges" lib_wait 60 eval '[ "$(outcome)" = converged ]'

kill -TERM "$loop_pid"
stopped=
for _ in $(seq 1 100); do
	kill -0 "$loop_pid" 2>/dev/null || { stopped=1; break; }
	sleep 0.1
done
wait "$loop_pid"
lrc=$?
loop_pid=
[ -n "$stopped" ] && [ "$lrc" = 0 ] && ok "SIGTERM stops the loop (exit 0)" || fail "loop after SIGTERM: exit $lrc"

lib_finish test_ha_flow
