#!/usr/bin/env bash
# tests/integration/test_standby_archive.sh - a standby cluster catches up
# from its source's WAL archive when the stream cannot serve it, on real
# servers, through the CLI only:
#   1. one apply builds s (s1 primary, s2; backup {repository, wal_archive: true},
#      wal_keep_size 0) and x (x1, standby_of s): x1 streams through slot
#      pgc_standby_x and its restore_command fetches from s's repository;
#      x1 archives nothing itself; a second plan is empty;
#   2. x1 stopped; on s1 the slot is dropped, rows written, the WAL switched
#      several times and checkpointed: the segments x1 needs are archived
#      and gone from s1's pg_wal;
#   3. apply (slot re-created, x1 started): x1 restores them from the
#      archive ("restored log file ... from archive"), has the rows, then
#      streams from s1 again and receives rows written after;
#   4. x1 stopped again, s1 killed, `pgconverge failover --cluster s`: s2
#      archives timeline 2's history file; the apply that points x1 at s2
#      starts it, and x1 finds the new timeline in the archive
#      ("restored log file "00000002.history" from archive") and streams
#      from s2 on timeline 2;
#   5. s's repository moved: the plan reloads x1 (restore_command is sighup),
#      never restarts it; after apply x1 fetches from the new one;
#   6. that repository missing (a mount absent on x1's host): x1, restarted,
#      still starts and streams (wal-fetch --unreachable-ok reads it as an
#      empty archive instead of stopping recovery); a last plan is empty.
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
runuser -u postgres -- test -x "$PGC" || { echo "FAIL postgres cannot execute $PGC"; exit 1; }

tmp=$(lib_tmpdir) || exit 1
trap 'lib_teardown "$tmp"' EXIT
trap 'exit 1' INT TERM
ports=$(lib_free_ports 3) || { echo "FAIL no free ports"; exit 1; }
read -r ps ps2 px <<<"$(echo $ports)"
topo=$tmp/topology.yaml
state=$tmp/state

# write_topology REPO [PRIMARY] - s (s1 primary, s2) archiving into REPO, x its standby cluster.
write_topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  s:
    primary: ${2:-s1}
    nodes:
      s1: {host: 127.0.0.1, port: $ps, data_dir: $tmp/data/s1, region: west}
      s2: {host: 127.0.0.1, port: $ps2, data_dir: $tmp/data/s2, region: west}
    settings: {shared_buffers: 32MB, max_connections: 50, wal_keep_size: 0, min_wal_size: 32MB}
    hba:
      - {type: local, database: all, user: postgres, method: peer}
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}
    replication:
      user: replicator
      password: {env: REPLICATION_PASSWORD}
    backup:
      repository: $1
      wal_archive: true
  x:
    standby_of: s
    primary: x1
    nodes:
      x1: {host: 127.0.0.1, port: $px, data_dir: $tmp/data/x1, region: east}
    settings: {shared_buffers: 32MB, max_connections: 50}
    hba:
      - {type: local, database: all, user: postgres, method: peer}
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}
EOF
}

q() { lib_sql "$1" "$2" 2>/dev/null; }
# streaming [PORT] - x1's WAL receiver streams from PORT, default s1's (waits up to 30 s).
streaming() {
	lib_wait 30 lib_sql_is "$px" "select status || '|' || sender_port from pg_stat_wal_receiver" \
		"streaming|${1:-$ps}"
}
# setting_is PORT NAME EXPECTED - SHOW NAME prints EXPECTED (else says what it prints).
setting_is() {
	local v
	v=$(q "$1" "show $2")
	[ "$v" = "$3" ] && return 0
	echo "  $2 is '$v'"
	return 1
}
# empty_plan NAME - plan exits 0 with no action.
empty_plan() {
	lib_run "$tmp/$1" plan -f "$topo" --state-dir "$state" --format json
	if [ "$rc" = 0 ] && lib_json "$tmp/$1.out" "d['actions'] == []"; then
		ok "$1: a plan now is empty (no false drift)"
	else
		fail "$1: plan exit $rc: $(jq -c '[.actions[] | .id + " " + .reason]' "$tmp/$1.out" 2>/dev/null)"
		lib_show "$tmp/$1"
	fi
}

export REPLICATION_PASSWORD='r3pl:pw'
repo=$tmp/repo-s
bin=$(readlink -f "$PGC") # what the servers are told: /proc/self/exe
fetch="$bin wal-fetch --repository $repo --unreachable-ok %f %p"

# --- 1. both clusters, one apply ----------------------------------------------------------

write_topology "$repo"
lib_run "$tmp/apply1" apply -f "$topo" --state-dir "$state"
lib_expect_rc "one apply builds s (archiving) and its standby cluster x" "$tmp/apply1" 0
[ "$rc" = 0 ] || lib_finish test_standby_archive
check "x1 streams from s1" streaming
check "x1 streams through slot pgc_standby_x" lib_wait 30 lib_sql_is "$ps" \
	"select count(*) from pg_replication_slots where slot_name = 'pgc_standby_x' and active" 1
check "x1's restore_command fetches from s's repository" setting_is "$px" restore_command "$fetch"
check "x1 archives nothing while a standby (archive_mode off: x declares no archive)" \
	lib_sql_is "$px" "show archive_mode" off
check "s1 archives into its repository" lib_sql_is "$ps" "show archive_mode" on
empty_plan plan1

# --- 2. the stream breaks longer than the slot holds ----------------------------------------

first=$(q "$ps" "select pg_walfile_name(pg_current_wal_lsn())")
check "x1 has replayed s1's WAL before it stops" lib_wait 30 lib_sql_is "$px" \
	"select pg_last_wal_replay_lsn() >= '$(q "$ps" 'select pg_current_wal_lsn()')'" t
x1_pid=$(lib_pidfile_pid "$tmp/data/x1")
lib_stop_server "$tmp/data/x1"
check "x1 stopped" lib_wait 10 sh -c "! kill -0 $x1_pid 2>/dev/null"
check "the slot of x dropped on s1" lib_sql_is "$ps" \
	"select count(*) from (select pg_drop_replication_slot('pgc_standby_x')) d" 1
q "$ps" "create table t (i int)" >/dev/null
for i in 1 2 3 4 5; do
	q "$ps" "insert into t select g from generate_series(($i - 1) * 1000 + 1, $i * 1000) g" >/dev/null
	q "$ps" "select pg_switch_wal()" >/dev/null
done
last=$(q "$ps" "select pg_walfile_name(pg_current_wal_lsn() - 1)")
check "s1 archived every switched segment (up to $last)" lib_wait 30 lib_sql_is "$ps" \
	"select last_archived_wal >= '$last' and failed_count = 0 from pg_stat_archiver" t
q "$ps" "checkpoint" >/dev/null
q "$ps" "checkpoint" >/dev/null
if [ ! -e "$tmp/data/s1/pg_wal/$first" ] && [ -e "$repo/wal/00000001/$first" ]; then
	ok "segment $first, which x1 needs, is gone from s1's pg_wal and is in the archive"
else
	fail "segment $first: in pg_wal: $(ls "$tmp/data/s1/pg_wal" | tr '\n' ' ')"
fi

# --- 3. back: from the archive, then from the stream ------------------------------------

lib_run "$tmp/apply2" apply -f "$topo" --state-dir "$state"
lib_expect_rc "apply re-creates the slot and starts x1" "$tmp/apply2" 0
check "x1 has the rows written while it was down" lib_wait 30 lib_sql_is "$px" "select count(*) from t" 5000
if grep -q "restored log file \"$first\" from archive" "$tmp/data/x1/log/pgconverge-start.log"; then
	ok "x1's log: restored log file \"$first\" from archive"
else
	fail "x1 did not restore $first from the archive"
	tail -n 20 "$tmp/data/x1/log/pgconverge-start.log" | sed 's/^/  | /'
fi
check "x1 streams from s1 again" streaming
check "through slot pgc_standby_x" lib_wait 30 lib_sql_is "$ps" \
	"select count(*) from pg_replication_slots where slot_name = 'pgc_standby_x' and active" 1
q "$ps" "insert into t select generate_series(5001, 5100)" >/dev/null
check "rows written now reach x1 by the stream" lib_wait 30 lib_sql_is "$px" "select count(*) from t" 5100

# --- 4. a failover of s while x1 is down: the new timeline from the archive ----------------

x1_pid=$(lib_pidfile_pid "$tmp/data/x1")
lib_stop_server "$tmp/data/x1"
check "x1 stopped again" lib_wait 10 sh -c "! kill -0 $x1_pid 2>/dev/null"
check "s2 has replayed s1's WAL" lib_wait 30 lib_sql_is "$ps2" \
	"select pg_last_wal_replay_lsn() >= '$(q "$ps" 'select pg_current_wal_lsn()')'" t
kill -9 "$(lib_pidfile_pid "$tmp/data/s1")"
lib_run "$tmp/fo" failover -f "$topo" --state-dir "$state" --cluster s
lib_expect_rc "pgconverge failover --cluster s after kill -9 of s1" "$tmp/fo" 0
check "s2 archived timeline 2's history file" lib_wait 30 test -e "$repo/wal/history/00000002.history"
q "$ps2" "insert into t select generate_series(5101, 5200)" >/dev/null
write_topology "$repo" s2
lib_run "$tmp/apply3" apply -f "$topo" --state-dir "$state"
lib_expect_rc "apply after the failover points x1 at s2 and starts it" "$tmp/apply3" 0
if grep -q 'restored log file "00000002.history" from archive' "$tmp/data/x1/log/pgconverge-start.log"; then
	ok "x1 found timeline 2 in the archive (wal-fetch serves history files)"
else
	fail "x1 did not restore 00000002.history from the archive"
	tail -n 20 "$tmp/data/x1/log/pgconverge-start.log" | sed 's/^/  | /'
fi
check "x1 streams from s2" streaming "$ps2"
check "x1 is on timeline 2" lib_wait 30 lib_sql_is "$px" "select received_tli from pg_stat_wal_receiver" 2
check "x1 has the rows written on s2" lib_wait 30 lib_sql_is "$px" "select count(*) from t" 5200

# --- 5. s's repository moves: a reload of x1 -------------------------------------------

repo2=$tmp/repo-s2
write_topology "$repo2" s2
lib_run "$tmp/plan4" plan -f "$topo" --state-dir "$state" --format json
if lib_json "$tmp/plan4.out" "any(a['cluster'] == 'x' and a['node'] == 'x1' and a['impact'] == 'reload' \
	and any(ch['key'] == 'restore_command' for ch in a.get('changes', [])) for a in d['actions']) and \
	not any(a['cluster'] == 'x' and a['impact'] in ('restart', 'rebuild', 'switchover') for a in d['actions'])"; then
	ok "the plan reloads x1 for the new restore_command, no restart"
else
	fail "plan after the repository moved: $(jq -c '[.actions[] | .id + " " + .impact + " " + .reason]' "$tmp/plan4.out" 2>/dev/null)"
fi
started=$(q "$px" "select pg_postmaster_start_time()")
lib_run "$tmp/apply4" apply -f "$topo" --state-dir "$state"
lib_expect_rc "apply with s's new repository" "$tmp/apply4" 0
check "x1 fetches from the new repository" setting_is "$px" restore_command \
	"$bin wal-fetch --repository $repo2 --unreachable-ok %f %p"
check "x1 was not restarted" lib_sql_is "$px" "select pg_postmaster_start_time() = '$started'" t

# --- 6. the source's repository not mounted on x1's host: x1 still starts and streams -------

mv "$repo2" "$repo2.away"
lib_stop_server "$tmp/data/x1"
runuser -u postgres -- "$LIB_PG_BIN/pg_ctl" start -w -t 30 -D "$tmp/data/x1" -l "$tmp/data/x1/log/unmounted.log" \
	>/dev/null 2>&1
check "x1 starts while s's repository is missing" lib_wait 10 lib_sql_is "$px" "select pg_is_in_recovery()" t
check "x1 streams from s2 without the archive" streaming "$ps2"
if grep -q "backup repository \"$repo2\" is not accessible" "$tmp/data/x1/log/unmounted.log"; then
	ok "x1's log: wal-fetch read the missing repository as an empty archive (--unreachable-ok)"
else
	fail "x1's log does not show the missing repository"
	tail -n 20 "$tmp/data/x1/log/unmounted.log" | sed 's/^/  | /'
fi
mv "$repo2.away" "$repo2"
empty_plan plan2

lib_finish test_standby_archive
