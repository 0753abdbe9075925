#!/usr/bin/env bash
# tests/integration/test_reconcile_repair.sh - cascading replication and
# drift repair through the real CLI, on pg1 (primary) -> pg2 -> pg3:
#   4. pg3 streams from pg2 (replicate_from); pointing it at pg1 re-points it
#      by primary_conninfo and a reload, without a clone (same system
#      identifier, same data directory inode, same postmaster);
#   5. each detected by plan (exit 2) and repaired by apply: ALTER SYSTEM
#      drift, a stopped replica, a deleted replica data directory; and a
#      replica directory without standby.signal is never started (it would
#      be a second primary).
#
# Needs root and the PostgreSQL 15 binaries; free ports in 20000-31999; a
# temp folder torn down by PID on exit. One ok/FAIL line per check.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1
tmp=$(lib_tmpdir) || exit 1
trap 'lib_teardown "$tmp"' EXIT
trap 'exit 1' INT TERM

read -r p1 p2 p3 <<<"$(lib_free_ports 3 | tr '\n' ' ')"
if [ -z "${p3:-}" ]; then
	echo "FAIL no free ports in 20000-31999"
	exit 1
fi
declare -A port=([pg1]=$p1 [pg2]=$p2 [pg3]=$p3)
topo=$tmp/topology.yaml
state=$tmp/state
mkdir -p "$tmp/runs"

# write_topology PG3_EXTRA - pg3's extra keys, e.g. ", replicate_from: pg2"
write_topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  main:
    postgres: {version: 15}
    primary: pg1
    nodes:
      pg1: {host: 127.0.0.1, port: $p1, data_dir: data/pg1}
      pg2: {host: 127.0.0.1, port: $p2, data_dir: data/pg2}
      pg3: {host: 127.0.0.1, port: $p3, data_dir: data/pg3$1}
    initdb: {locale: C.UTF-8, encoding: UTF8, data_checksums: false}
    settings:
      shared_buffers: 16MB
      max_connections: 30
      work_mem: 4MB
      wal_keep_size: 64MB
    replication:
      user: replicator
      slots: true
EOF
}

n=0
pgc() { # ARGS... - one pgconverge run; outputs in runs/N.*
	n=$((n + 1))
	last=$tmp/runs/$n
	lib_run "$last" "$@"
}
expect_rc() { lib_expect_rc "$1" "$last" "$2"; }
plan() { pgc plan -f "$topo" --state-dir "$state" "$@"; }
apply() { pgc apply -f "$topo" --state-dir "$state"; }
has_action() { jq -e "[.actions[].id] | index(\"$1\") != null" "$last.out" >/dev/null 2>&1; }
ids() { jq -c '[.actions[].id]' "$last.out" 2>&1; }
# replicas_of NODE - "name:state ..." from NODE's pg_stat_replication
replicas_of() {
	lib_sql "${port[$1]}" "select coalesce(string_agg(application_name || ':' || state, ' '
		order by application_name), '') from pg_stat_replication" 2>/dev/null
}
replicas_are() { [ "$(replicas_of "$1")" = "$2" ]; }
sysid() { lib_sql "${port[$1]}" "select system_identifier from pg_control_system()" 2>/dev/null; }
# replayed NODE TABLE - the row written on pg1 has reached NODE
replayed() { lib_sql_is "${port[$1]}" "select count(*) from $2" 1; }
converged() { # NAME
	plan
	if [ "$rc" = 0 ]; then ok "$1: the next plan has nothing to do"; else
		fail "$1: the next plan exits $rc: $(grep -c '^    #' "$last.out") actions"
		lib_show "$last"
	fi
}

# --- 4. cascading replication -----------------------------------------------------

echo "# 4. cascading: pg3 streams from pg2"
write_topology ", replicate_from: pg2"
apply
expect_rc "apply from nothing (pg1 -> pg2 -> pg3): exit 0" 0
lib_wait 30 replicas_are pg1 "pg2:streaming" && ok "pg1 streams to pg2 only" ||
	fail "pg_stat_replication on pg1: '$(replicas_of pg1)'"
lib_wait 30 replicas_are pg2 "pg3:streaming" && ok "pg2 streams to pg3 (pg_stat_replication on pg2)" ||
	fail "pg_stat_replication on pg2: '$(replicas_of pg2)'"
lib_sql_is "$p3" "select pg_is_in_recovery()" t && ok "pg3 runs in recovery" || fail "pg3 is not a standby"
lib_sql_is "$p3" "select status || ':' || sender_port from pg_stat_wal_receiver" "streaming:$p2" &&
	ok "pg3's WAL receiver is connected to pg2's port" ||
	fail "pg3's WAL receiver: $(lib_sql "$p3" "select status, sender_host, sender_port from pg_stat_wal_receiver" 2>&1)"
lib_sql_is "$p2" "select slot_name || ':' || active from pg_replication_slots" "pg3:true" &&
	ok "pg3's slot is on pg2 and active" || fail "slots on pg2: $(lib_sql "$p2" "select slot_name, active from pg_replication_slots" 2>&1)"
lib_sql "$p1" "create table cascade_probe(x int); insert into cascade_probe values (1)" >/dev/null
lib_wait 20 replayed pg3 cascade_probe && ok "a row written on pg1 reaches pg3 through pg2" ||
	fail "the row did not reach pg3"
converged "cascade"

id_before=$(sysid pg3)
inode_before=$(stat -c %i "$tmp/data/pg3" "$tmp/data/pg3/global/pg_control" | tr '\n' ' ')
pid_before=$(lib_pidfile_pid "$tmp/data/pg3")

echo "# 4. re-pointing pg3 at the primary"
write_topology ""
plan --format json
expect_rc "replicate_from removed: plan exit 2" 2
has_action main/pg3/clone && fail "pg3 would be cloned again: $(ids)" || ok "no clone action for pg3"
has_action main/pg3/config && has_action main/pg3/reload && ok "pg3 gets a config and a reload" ||
	fail "pg3's actions: $(ids)"
jq -e '[.actions[] | select(.node == "pg3") | .changes[] | select(.key == "primary_conninfo") | .to
	| contains("port='"$p1"'")] | any' "$last.out" >/dev/null 2>&1 &&
	ok "the change is primary_conninfo -> pg1's port" ||
	fail "no primary_conninfo change to port $p1: $(jq -c '[.actions[] | select(.node == "pg3") | .changes]' "$last.out")"
jq -e '[.actions[] | select(.action == "restart")] == []' "$last.out" >/dev/null 2>&1 &&
	ok "no restart planned" || fail "restart planned: $(ids)"
jq -e '[.actions[] | select(.id == "main/pg2/drop-slot:pg3") | .depends_on | index("main/pg3/reload") != null]
	== [true]' "$last.out" >/dev/null 2>&1 &&
	ok "pg3's old slot on pg2 is dropped after pg3's reload" || fail "no drop-slot after the reload: $(ids)"
apply
expect_rc "apply the re-pointing: exit 0" 0
lib_wait 30 replicas_are pg1 "pg2:streaming pg3:streaming" && ok "pg1 now streams to pg2 and pg3" ||
	fail "pg_stat_replication on pg1: '$(replicas_of pg1)'"
lib_wait 20 replicas_are pg2 "" && ok "pg2 streams to nobody" || fail "pg_stat_replication on pg2: '$(replicas_of pg2)'"
[ "$(sysid pg3)" = "$id_before" ] && ok "pg3 has the same system identifier" || fail "pg3's system identifier changed"
[ "$(stat -c %i "$tmp/data/pg3" "$tmp/data/pg3/global/pg_control" | tr '\n' ' ')" = "$inode_before" ] &&
	ok "pg3's data directory and pg_control are the same inodes (not cloned again)" ||
	fail "pg3's data directory was replaced"
[ "$(lib_pidfile_pid "$tmp/data/pg3")" = "$pid_before" ] && ok "pg3 was not restarted" || fail "pg3 restarted"
lib_sql "$p1" "create table repoint_probe(x int); insert into repoint_probe values (1)" >/dev/null
lib_wait 20 replayed pg3 repoint_probe && ok "a new row on pg1 reaches pg3 directly" || fail "the row did not reach pg3"
lib_sql_is "$p2" "select count(*) from pg_replication_slots" 0 &&
	ok "pg3's old slot on pg2 is gone (it would hold WAL back on pg2)" ||
	fail "slots on pg2: $(lib_sql "$p2" "select slot_name, active from pg_replication_slots" 2>&1)"
lib_sql_is "$p1" "select string_agg(slot_name || ':' || active, ' ' order by slot_name) from pg_replication_slots" \
	"pg2:true pg3:true" && ok "pg1 holds the slots of pg2 and pg3, both in use" ||
	fail "slots on pg1: $(lib_sql "$p1" "select slot_name, active from pg_replication_slots" 2>&1)"
converged "re-pointing"

# --- 5. drift and repair ------------------------------------------------------------

echo "# 5. ALTER SYSTEM drift"
lib_sql "$p2" "alter system set work_mem = '16MB'" >/dev/null
lib_sql "$p2" "select pg_reload_conf()" >/dev/null
lib_wait 5 lib_sql_is "$p2" "show work_mem" 16MB
plan --format json
expect_rc "ALTER SYSTEM on pg2: plan exit 2" 2
has_action "main/pg2/reset-alter-system:work_mem" && ok "plan resets work_mem on pg2" || fail "actions: $(ids)"
apply
expect_rc "apply: exit 0" 0
lib_sql_is "$p2" "show work_mem" 4MB && ok "work_mem on pg2 is the topology's 4MB again" ||
	fail "work_mem on pg2: $(lib_sql "$p2" "show work_mem" 2>&1)"
grep -q work_mem "$tmp/data/pg2/postgresql.auto.conf" && fail "postgresql.auto.conf still sets work_mem" ||
	ok "postgresql.auto.conf no longer sets work_mem"
converged "ALTER SYSTEM repaired"

echo "# 5. a stopped replica"
lib_stop_server "$tmp/data/pg3"
plan --format json
expect_rc "pg3 stopped: plan exit 2" 2
has_action main/pg3/start && ok "plan starts pg3" || fail "actions: $(ids)"
apply
expect_rc "apply: exit 0" 0
lib_sql_is "$p3" "select pg_is_in_recovery()" t && ok "pg3 runs again, in recovery" || fail "pg3 is not running as a standby"
lib_wait 30 replicas_are pg1 "pg2:streaming pg3:streaming" && ok "pg3 streams from pg1 again" ||
	fail "pg_stat_replication on pg1: '$(replicas_of pg1)'"
converged "stopped replica repaired"

echo "# 5. a deleted replica data directory"
lib_stop_server "$tmp/data/pg3"
rm -rf "$tmp/data/pg3"
plan --format json
expect_rc "pg3's data directory deleted: plan exit 2" 2
has_action main/pg3/clone && has_action main/pg3/start && ok "plan clones and starts pg3" || fail "actions: $(ids)"
apply
expect_rc "apply: exit 0" 0
lib_sql_is "$p3" "select pg_is_in_recovery()" t && ok "pg3 is a standby again" || fail "pg3 is not running as a standby"
[ "$(sysid pg3)" = "$(sysid pg1)" ] && ok "pg3 is a copy of pg1 (same system identifier)" || fail "pg3's system identifier differs"
lib_wait 30 replicas_are pg1 "pg2:streaming pg3:streaming" && ok "pg3 streams from pg1" ||
	fail "pg_stat_replication on pg1: '$(replicas_of pg1)'"
replayed pg3 repoint_probe && ok "pg3 has the data written before" || fail "pg3 lacks the earlier row"
converged "deleted replica repaired"

echo "# 5. a replica directory without standby.signal is not started"
lib_stop_server "$tmp/data/pg3"
rm -f "$tmp/data/pg3/standby.signal"
plan --format json
expect_rc "pg3 without standby.signal: plan exit 2" 2
if jq -e '.actions[] | select(.id == "main/pg3/start") | .blocked and (.blocked_reason | contains("standby.signal"))' \
	"$last.out" >/dev/null 2>&1; then
	ok "pg3's start is blocked, the reason names standby.signal"
else
	fail "pg3's start: $(jq -c '[.actions[] | {id, blocked, blocked_reason}]' "$last.out")"
fi
apply
expect_rc "apply: exit 3 (blocked)" 3
[ -f "$tmp/data/pg3/postmaster.pid" ] && fail "pg3 was started without standby.signal" ||
	ok "pg3 was left stopped"
runuser -u postgres -- touch "$tmp/data/pg3/standby.signal"
apply
expect_rc "standby.signal back: apply exit 0" 0
lib_sql_is "$p3" "select pg_is_in_recovery()" t && ok "pg3 runs as a standby" || fail "pg3 is not a standby"
converged "standby.signal restored"

lib_finish test_reconcile_repair
