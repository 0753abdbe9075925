#!/usr/bin/env bash
# tests/integration/test_region_loss.sh - the source region of a standby
# cluster is lost, on real servers, through the CLI only:
#   1. one apply builds eu (eu1 primary, eu2) and its standby cluster us
#      (us1 the standby leader, us2 cascading); `failover --cluster us` while
#      eu answers is refused with the hint;
#   1b. the file swapped (eu: standby_of us, us with failover.mode auto)
#      and the region switch not run (no --allow-switchover): a reconcile
#      loop on us does not take us1, in recovery, for a failed primary: the
#      failover is vetoed, logged once, us1 and us2 untouched; the original
#      file applied again;
#   2. rows written in eu reach us; status records the chain; eu's two
#      servers are killed (SIGKILL to each server's process group: the region
#      is lost); in between, with eu2 still answering, `failover --force` is
#      refused; the record is moved 64 kB ahead of us1 (a positive gap);
#   3. `failover --cluster us` without --force is refused (exit 1, the
#      estimate shown) and changes nothing; with --force us1 is promoted, us2
#      follows it, the rows are there, the journal has the event;
#   4. apply --cluster us of the unchanged file does not demote us1 (exit 3,
#      the blocked action explains it);
#   5. eu1 started by hand takes writes again: apply fences it (stopped,
#      standby.signal, never started; eu2 marked too); status shows eu
#      fenced; started by hand once more, eu1 comes back read-only;
#   5b. eu fenced, eu1 stopped and eu2 up as its replica, eu given
#      failover.mode auto: a reconcile loop's automatic failover is vetoed
#      (nothing of eu promoted, the log says why, once); `failover --cluster
#      eu` is refused with the same reason;
#   6. two one-node clusters (c2: standby_of c1): c1 stopped cleanly, the
#      estimate is provably zero and failover --cluster c2 needs no --force;
#   7. c2 given standby_of: c3, an unrelated cluster (its own initdb) on an
#      older timeline: no fence, both held, status says unrelated.
#
# Needs root (servers run as postgres), the PostgreSQL 15 binaries and free
# loopback ports. One ok/FAIL line per check; exit 1 when any check failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1

tmp=$(lib_tmpdir) || exit 1
trap 'lib_teardown "$tmp"' EXIT

lib_node_ports 4
declare -A p=([eu1]=${port[pg1]} [eu2]=${port[pg2]} [us1]=${port[pg3]} [us2]=${port[pg4]})
topo=$tmp/topology.yaml
state=$tmp/.pgconverge
mkdir -p "$tmp/by-hand" && chown postgres "$tmp/by-hand"

sed -e "s/port: 25470/port: ${p[eu1]}/; s/port: 25471/port: ${p[eu2]}/" \
	-e "s/port: 25472/port: ${p[us1]}/; s/port: 25473/port: ${p[us2]}/" \
	-e "s|\.\./data/regions/|data/|" "$top/examples/standby-cluster.yaml" >"$topo"

q() { lib_sql "${p[$1]}" "$2" 2>/dev/null; }
streams_from() {
	lib_wait 30 lib_sql_is "${p[$1]}" "select status || '|' || sender_port from pg_stat_wal_receiver" \
		"streaming|${p[$2]}"
}
in_recovery() { [ "$(q "$1" 'select pg_is_in_recovery()')" = "$2" ]; }
# lose NODE - SIGKILL to NODE's server: its postmaster's process group (pg_ctl
# starts it in a session of its own), then waits until nothing of it is left.
lose() {
	local pid
	pid=$(lib_pidfile_pid "$tmp/data/$1") || return 1
	kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
	lib_wait 10 sh -c "! pgrep -g $pid >/dev/null"
}
# start_by_hand NODE - pg_ctl start of NODE, as an operator would.
start_by_hand() {
	runuser -u postgres -- "$LIB_PG_BIN/pg_ctl" -D "$tmp/data/$1" -l "$tmp/by-hand/$1.log" \
		-w -t 30 start >"$tmp/by-hand/$1.out" 2>&1
}
running() { lib_pidfile_pid "$tmp/data/$1" >/dev/null && kill -0 "$(lib_pidfile_pid "$tmp/data/$1")" 2>/dev/null; }

# --- 1. two regions, one apply; the source alive: refused -----------------------------------

export REPLICATION_PASSWORD='r3pl:pw'
lib_run "$tmp/apply1" apply -f "$topo"
lib_expect_rc "one apply builds eu and its standby cluster us" "$tmp/apply1" 0
[ "$rc" = 0 ] || lib_finish test_region_loss
check "us1 streams from eu1" streams_from us1 eu1
check "us2 cascades from us1" streams_from us2 us1

lib_run "$tmp/alive" failover -f "$topo" --cluster us --force
if [ "$rc" = 1 ] && grep -q 'the source is alive: fail "eu" over within its region, or swap standby_of' "$tmp/alive.err" &&
	in_recovery us1 t; then
	ok "failover --cluster us --force while eu answers: refused with the hint, us1 still a standby"
else
	fail "failover while the source is alive: exit $rc"; lib_show "$tmp/alive"
fi

# --- 1b. a region switch pending: us's automatic failover is vetoed ---------------------------

swapped=$tmp/topology-swapped.yaml
hba='    hba:
      - {type: local, database: all, user: postgres, method: peer}
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}'
cat >"$swapped" <<EOF
version: 1
clusters:
  eu:
    standby_of: us
    primary: eu1
    nodes:
      eu1: {port: ${p[eu1]}, data_dir: data/eu1, region: eu-west}
      eu2: {port: ${p[eu2]}, data_dir: data/eu2, region: eu-west}
    settings: {shared_buffers: 32MB, max_connections: 100}
$hba
  us:
    primary: us1
    failover: {mode: auto, detect_after: 1s, probe_interval: 300ms}
    nodes:
      us1: {port: ${p[us1]}, data_dir: data/us1, region: us-east}
      us2: {port: ${p[us2]}, data_dir: data/us2, region: us-east}
    # keepalives every 30 s: us2 soon no longer proves that us1 runs, and only
    # the veto keeps the failover from stopping us1 and promoting us2
    settings: {shared_buffers: 32MB, max_connections: 100, wal_sender_timeout: 60s}
$hba
    replication: {user: replicator, password: {env: REPLICATION_PASSWORD}}
    roles:
      app: {login: true}
    databases:
      appdb: {owner: app}
EOF
"$PGC" reconcile -f "$swapped" --cluster us --interval 60s >"$tmp/loop0.out" 2>"$tmp/loop0.err" &
loop_pid=$!
pending() { grep -q 'cluster "us": no failover: vetoed: "us/us1" is still a standby leader streaming from "eu/eu1": a region switch is pending' "$tmp/loop0.err"; }
check "swap pending, reconcile (failover.mode auto on us): us1 in recovery is no failed primary (vetoed)" lib_wait 20 pending
sleep 2 # more probes: still vetoed, not logged again
kill -TERM "$loop_pid" 2>/dev/null
wait "$loop_pid" 2>/dev/null
[ "$(grep -c 'no failover: vetoed' "$tmp/loop0.err")" = 1 ] && ok "the veto is logged once" ||
	{ fail "the veto logged $(grep -c 'no failover: vetoed' "$tmp/loop0.err") times"; tail -n 20 "$tmp/loop0.err" | sed 's/^/  | /'; }
grep 'no failover: vetoed' "$tmp/loop0.err" | sed 's/^/  | /'
check "us1 still in recovery, streaming from eu1" streams_from us1 eu1
check "us2 still cascading from us1" streams_from us2 us1
lib_run "$tmp/apply1b" apply -f "$topo"
lib_expect_rc "the original file applied again" "$tmp/apply1b" 0

# --- 2. writes, a status that records the chain, the region lost -----------------------------

q eu1 "create table t (i int); insert into t select generate_series(1, 100)" >/dev/null
check "the rows reach us2" lib_wait 30 lib_sql_is "${p[us2]}" "select count(*) from t" 100
lib_run "$tmp/status1" status -f "$topo"
check "status recorded eu's position for us ($state/standby.json)" \
	lib_json "$state/standby.json" "d['clusters']['us']['source'] == 'eu' and d['clusters']['us']['source_node'] == 'eu1'"
check "eu1 lost (SIGKILL to its server)" lose eu1
# eu's primary is gone but eu2 answers: eu can still fail over by itself, so
# promoting us would make two writers; refused even with --force.
lib_run "$tmp/half" failover -f "$topo" --cluster us --force
if [ "$rc" = 1 ] && grep -q '"eu/eu2" answers (in recovery)), even with --force' "$tmp/half.err" &&
	grep -q 'fail "eu" over within its region' "$tmp/half.err" && in_recovery us1 t; then
	ok "failover --cluster us --force while only eu1 is lost: refused (eu2 answers), us1 still a standby"
else
	fail "failover with eu2 alive: exit $rc"; lib_show "$tmp/half"
fi
check "eu2 lost (SIGKILL to its server)" lose eu2
# The record as a status taken while us1 lagged 64 kB behind eu1 would have
# left it: the estimate then has a positive gap (when L's receiver row is
# gone, which is its basis then).
gap_record() {
	python3 - "$state/standby.json" "$(q us1 'select pg_last_wal_receive_lsn()')" <<'PY'
import json, sys
path, lsn = sys.argv[1], sys.argv[2]
hi, lo = (int(x, 16) for x in lsn.split('/'))
v = (hi << 32 | lo) + 65536
d = json.load(open(path))
d['clusters']['us']['source_lsn'] = '%X/%X' % (v >> 32, v & 0xffffffff)
json.dump(d, open(path, 'w'))
PY
}
check "the record made 64 kB ahead of us1" gap_record

# --- 3. failover: refused without --force, done with it -----------------------------------------

lib_run "$tmp/fo1" failover -f "$topo" --cluster us
if [ "$rc" = 1 ] && grep -q 'may lack some of its writes: at least [0-9]* bytes of WAL, plus whatever the source wrote in the last' "$tmp/fo1.err" &&
	grep -q -- '--cluster us --force' "$tmp/fo1.err"; then
	ok "failover --cluster us without --force: exit 1, the estimate and the --force hint shown"
else
	fail "failover without --force: exit $rc"; lib_show "$tmp/fo1"
fi
sed 's/^/  | /' "$tmp/fo1.err"
if grep -q 'from the last time pgconverge saw' "$tmp/fo1.err"; then
	grep -q 'at least 65536 bytes of WAL' "$tmp/fo1.err" && ok "the estimate counts the record's 64 kB gap" ||
		fail "the estimate does not show the record's gap"
fi
check "nothing changed: us1 still in recovery" in_recovery us1 t

lib_run "$tmp/fo2" failover -f "$topo" --cluster us --force
lib_expect_rc "failover --cluster us --force" "$tmp/fo2" 0
sed 's/^/  | /' "$tmp/fo2.out"
grep -q 'data-loss estimate: at least' "$tmp/fo2.out" && ok "the promotion prints the estimate" ||
	{ fail "no estimate in the output"; lib_show "$tmp/fo2"; }
check "us1 takes writes" in_recovery us1 f
check "us2 follows us1 (streams from it, in recovery)" streams_from us2 us1
check "us2 is still in recovery" in_recovery us2 t
check "the 100 rows written in eu before the loss are on us1" lib_sql_is "${p[us1]}" "select count(*) from t" 100
q us1 "insert into t values (101)" >/dev/null
check "a row written on us1 reaches us2" lib_wait 30 lib_sql_is "${p[us2]}" "select count(*) from t" 101
grep -q '"kind": *"region-failover"' "$state/journal.jsonl" && grep -q '"outcome": *"ok"' "$state/journal.jsonl" &&
	ok "the journal has the region failover" || fail "no region-failover event in the journal"
journal_estimate() {
	python3 - "$state/journal.jsonl" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ev = [e for e in ev if e.get('kind') == 'region-failover' and e.get('outcome') == 'ok']
e = ev[-1].get('estimate') if ev else None
sys.exit(0 if isinstance(e, dict) and isinstance(e.get('bytes'), int) and 'seconds' in e and e.get('kind') else 1)
PY
}
check "the journal's event has the estimate (kind, bytes, seconds)" journal_estimate

# --- 4. the unchanged file never demotes us1 ---------------------------------------------------

lib_run "$tmp/plan1" plan -f "$topo" --cluster us --format json
if lib_json "$tmp/plan1.out" "len(d['actions']) == 1 and d['actions'][0]['id'] == 'us/-/switchover' and \
	d['actions'][0]['blocked'] and 'promoted by a region failover' in d['actions'][0]['reason']"; then
	ok "plan --cluster us: one blocked action that explains the region failover"
else
	fail "plan --cluster us: exit $rc: $(jq -c '[.actions[] | .id + " " + .reason]' "$tmp/plan1.out" 2>/dev/null)"
fi
lib_run "$tmp/apply2" apply -f "$topo" --cluster us --allow-switchover --allow-restart
lib_expect_rc "apply --cluster us of the unchanged file: blocked" "$tmp/apply2" 3
grep -q 'us/-/switchover: promoted by a region failover: swap standby_of' "$tmp/apply2.out" &&
	ok "apply shows why (swap standby_of)" ||
	{ fail "apply's output does not explain"; lib_show "$tmp/apply2"; }
check "us1 still takes writes" in_recovery us1 f
check "us1 still has its 101 rows" lib_sql_is "${p[us1]}" "select count(*) from t" 101

# --- 5. eu comes back: fenced -----------------------------------------------------------------

check "eu1 started by hand" start_by_hand eu1
check "eu1 takes writes again (the danger)" in_recovery eu1 f
lib_run "$tmp/apply3" apply -f "$topo" --cluster eu
lib_expect_rc "apply --cluster eu (it observes its standby cluster us too): the fence runs, the rest stays blocked" "$tmp/apply3" 3
grep -q 'eu/eu1/fence: done' "$tmp/apply3.err" && grep -q 'fence .*"eu1" takes writes (timeline 1)' "$tmp/apply3.out" &&
	ok "apply fences eu1 (eu/eu1/fence), explained" || { fail "no fence action"; lib_show "$tmp/apply3"; }
if ! running eu1 && [ -f "$tmp/data/eu1/standby.signal" ] && [ -f "$tmp/data/eu2/standby.signal" ]; then
	ok "eu1 is stopped, eu1 and eu2 are marked with standby.signal"
else
	fail "eu not fenced (eu1 running: $(running eu1 && echo yes || echo no))"; lib_show "$tmp/apply3"
fi
check "us1 still takes writes" in_recovery us1 f
lib_run "$tmp/status2" status -f "$topo"
grep -q 'FENCED: standby cluster us was promoted by a region failover' "$tmp/status2.out" &&
	grep -q 'promoted by a region failover: us1 takes writes' "$tmp/status2.out" &&
	ok "status shows eu fenced and us promoted" || { fail "status"; lib_show "$tmp/status2"; }
lib_run "$tmp/status3" status -f "$topo" --format json
check "status --format json: eu's region state is fenced by us" lib_json "$tmp/status3.out" \
	"[c['region'] for c in d['clusters'] if c['name'] == 'eu'][0] == {'state': 'fenced', 'by_cluster': 'us', 'by_node': 'us1', 'by_timeline': 2}"
lib_run "$tmp/apply4" apply -f "$topo"
lib_expect_rc "another apply, of the whole file: still blocked" "$tmp/apply4" 3
check "eu1 was not started by apply" sh -c "! { [ -f '$tmp/data/eu1/postmaster.pid' ] && kill -0 \$(head -1 '$tmp/data/eu1/postmaster.pid') 2>/dev/null; }"
check "eu1 started by hand again" start_by_hand eu1
check "eu1 comes back read-only" lib_wait 10 in_recovery eu1 t
if q eu1 "insert into t values (0)" >/dev/null; then fail "eu1 took a write"; else ok "eu1 refuses writes"; fi

# --- 5b. eu fenced: its automatic failover is vetoed ------------------------------------------

# eu1 stopped, eu2 (its standby.signal written by the fence) started as its
# replica: a textbook failover for failover.mode auto, which would make eu a
# second writable cluster beside us.
stop_node() { runuser -u postgres -- "$LIB_PG_BIN/pg_ctl" -D "$tmp/data/$1" -m fast -w -t 30 stop >/dev/null; }
check "eu1 stopped" stop_node eu1
check "eu2 started by hand" start_by_hand eu2
check "eu2 answers in recovery" lib_wait 10 in_recovery eu2 t
auto=$tmp/topology-auto.yaml
sed '/^  eu:$/a\    failover: {mode: auto, detect_after: 1s, probe_interval: 300ms}' "$topo" >"$auto"
grep -q 'mode: auto' "$auto" || fail "no failover.mode auto in $auto"
"$PGC" reconcile -f "$auto" --cluster eu --interval 60s >"$tmp/loop.out" 2>"$tmp/loop.err" &
loop_pid=$!
vetoed() { grep -q 'cluster "eu": no failover: vetoed: cluster "eu" is fenced' "$tmp/loop.err"; }
check "reconcile (failover.mode auto on eu): the failover is vetoed, the log says why" lib_wait 20 vetoed
sleep 3 # more probes: still vetoed, not logged again, nothing promoted
kill -TERM "$loop_pid" 2>/dev/null
wait "$loop_pid" 2>/dev/null
[ "$(grep -c 'no failover: vetoed' "$tmp/loop.err")" = 1 ] && ok "the veto is logged once" ||
	{ fail "the veto logged $(grep -c 'no failover: vetoed' "$tmp/loop.err") times"; tail -n 20 "$tmp/loop.err" | sed 's/^/  | /'; }
grep 'no failover: vetoed' "$tmp/loop.err" | sed 's/^/  | /'
check "eu2 was not promoted" in_recovery eu2 t
check "eu1 was not started" sh -c "! { [ -f '$tmp/data/eu1/postmaster.pid' ] && kill -0 \$(head -1 '$tmp/data/eu1/postmaster.pid') 2>/dev/null; }"
check "us1 still takes writes" in_recovery us1 f
if grep '"cluster": *"eu"' "$state/journal.jsonl" | grep -q '"mode": *"auto"'; then
	fail "the journal has an automatic failover of eu"
else
	ok "no automatic failover of eu in the journal"
fi
check "status.json: eu's failover verdict is blocked by the veto" lib_json "$state/status.json" \
	"d['clusters']['eu']['ha']['verdict'] == 'blocked' and d['clusters']['eu']['ha']['reason'].startswith('vetoed: cluster \"eu\" is fenced')"
lib_run "$tmp/fo_eu" failover -f "$topo" --cluster eu
if [ "$rc" = 1 ] && grep -q 'no failover of cluster "eu": cluster "eu" is fenced' "$tmp/fo_eu.err" && in_recovery eu2 t; then
	ok "failover --cluster eu by hand: refused with the reason, eu2 still a standby"
else
	fail "failover --cluster eu: exit $rc"; lib_show "$tmp/fo_eu"
fi

# --- 6. a clean shutdown of the source: provably nothing lost, no --force needed -------------

# Two one-node clusters of their own (c2: standby_of c1); c1 stopped with a
# fast shutdown, which sends b1 its shutdown checkpoint.
ports2=$(lib_free_ports 2) || { fail "no free ports"; lib_finish test_region_loss; }
set -- $ports2
a1=$1 b1=$2
mkdir -p "$tmp/clean"
cat >"$tmp/clean/topology.yaml" <<EOF
version: 1
clusters:
  c1:
    primary: a1
    nodes:
      a1: {port: $a1, data_dir: data/a1, region: r1}
    settings: {shared_buffers: 32MB, max_connections: 100}
    hba:
      - {type: local, database: all, user: postgres, method: peer}
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}
    replication: {user: replicator, password: {env: REPLICATION_PASSWORD}}
  c2:
    standby_of: c1
    primary: b1
    nodes:
      b1: {port: $b1, data_dir: data/b1, region: r2}
    settings: {shared_buffers: 32MB, max_connections: 100}
    hba:
      - {type: local, database: all, user: postgres, method: peer}
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}
EOF
lib_run "$tmp/clean/apply" apply -f "$tmp/clean/topology.yaml"
lib_expect_rc "one apply builds c1 and its standby cluster c2" "$tmp/clean/apply" 0
lib_sql "$a1" "create table t (i int); insert into t values (1)" >/dev/null 2>&1
check "b1 has c1's row" lib_wait 30 lib_sql_is "$b1" "select count(*) from t" 1
stop_fast() { runuser -u postgres -- "$LIB_PG_BIN/pg_ctl" -D "$tmp/clean/data/$1" -m fast -w -t 30 stop >/dev/null; }
check "a1 stopped cleanly (pg_ctl stop -m fast)" stop_fast a1
check "b1 replayed all it received" lib_wait 10 lib_sql_is "$b1" \
	"select pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()" t
lib_run "$tmp/clean/fo" failover -f "$tmp/clean/topology.yaml" --cluster c2
if [ "$rc" = 0 ] && grep -q 'data-loss estimate: nothing is lost' "$tmp/clean/fo.out" &&
	lib_sql_is "$b1" "select pg_is_in_recovery()" f; then
	ok "failover --cluster c2 without --force after a clean shutdown: nothing lost, b1 promoted"
else
	fail "failover after a clean shutdown: exit $rc"; lib_show "$tmp/clean/fo"
fi

# --- 7. unrelated clusters: no region failover, nothing stopped ----------------------------------

# c3, a cluster of its own (initdb: another system identifier), and c2 (b1
# takes writes on timeline 2 now) given standby_of: c3 by mistake: c3's
# primary, on an older timeline, must not be fenced; both are held.
c3p=$(lib_free_ports 1) || { fail "no free port"; lib_finish test_region_loss; }
cat >"$tmp/clean/unrelated.yaml" <<EOF
version: 1
clusters:
  c3:
    primary: e1
    nodes:
      e1: {port: $c3p, data_dir: data/e1, region: r1}
    settings: {shared_buffers: 32MB, max_connections: 100}
    hba:
      - {type: local, database: all, user: postgres, method: peer}
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}
    replication: {user: replicator, password: {env: REPLICATION_PASSWORD}}
EOF
lib_run "$tmp/clean/apply3" apply -f "$tmp/clean/unrelated.yaml"
lib_expect_rc "apply builds c3, a cluster of its own" "$tmp/clean/apply3" 0
sed -n '/^  c2:/,$p' "$tmp/clean/topology.yaml" | sed 's/standby_of: c1/standby_of: c3/' >>"$tmp/clean/unrelated.yaml"
lib_run "$tmp/clean/plan4" plan -f "$tmp/clean/unrelated.yaml" --format json
if lib_json "$tmp/clean/plan4.out" "sorted(a['id'] for a in d['actions']) == ['c2/-/switchover', 'c3/-/fence'] and \
	all(a['blocked'] and 'unrelated' in a['reason'] for a in d['actions'])"; then
	ok "c2 declared standby_of an unrelated c3: both held, blocked, saying unrelated; no fence of e1"
else
	fail "unrelated clusters: $(jq -c '[.actions[] | .id + " " + (.blocked|tostring) + " " + .reason]' "$tmp/clean/plan4.out" 2>/dev/null)"
fi
lib_run "$tmp/clean/apply4" apply -f "$tmp/clean/unrelated.yaml"
lib_expect_rc "apply of it: blocked" "$tmp/clean/apply4" 3
check "e1 still takes writes" lib_sql_is "$c3p" "select pg_is_in_recovery()" f
check "b1 still takes writes" lib_sql_is "$b1" "select pg_is_in_recovery()" f
lib_run "$tmp/clean/status4" status -f "$tmp/clean/unrelated.yaml"
grep -q 'HELD: c2 and c3 are unrelated clusters' "$tmp/clean/status4.out" &&
	ok "status shows both held as unrelated" || { fail "status (unrelated)"; lib_show "$tmp/clean/status4"; }

lib_finish test_region_loss
