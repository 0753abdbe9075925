#!/bin/bash
# tests/integration/test_pitr.sh - point-in-time restore through
# ./pgconverge, with real servers and a real archive:
#
#   - `apply` of a cluster with backup: {wal_archive: true, base: {every}}
#     creates it, archives its WAL and takes the base backup the schedule
#     asks for;
#   - rows are written, the time T and the LSN L noted, more rows written,
#     the WAL switched and archived;
#   - clusters with bootstrap.from_backup are added: target_time T (with a
#     replica), target_lsn L, immediate, and a target after the archive's
#     end. `plan` names the backup and the WAL range and blocks the late
#     target before touching anything; `apply` restores the others: exactly
#     the rows before T (and L), on timeline 2, the replica cloned from the
#     restored primary, no recovery setting left, no restart after the
#     promotion (recovery_target_* wait, inert, pending_restart, also after
#     another reload), zero actions on the next plan, and nothing written
#     into the source's archive;
#   - a restore whose apply is killed once its server runs: the server
#     promotes on its own, the next plan removes the recovery settings with
#     a reload, and the next apply converges without restarting it;
#   - a damaged archived segment stops a restore (wal-fetch exits 200)
#     without promoting it;
#   - a damaged base backup fails pg_verifybackup (run while it is copied):
#     no data directory, no copy left behind.
#
# Runs as root; servers run as postgres.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1
runuser -u postgres -- test -x "$PGC" || { echo "FAIL postgres cannot execute $PGC"; exit 1; }

tmp=$(lib_tmpdir) || exit 1
trap 'lib_teardown "$tmp"' EXIT
trap 'exit 1' INT TERM
ports=$(lib_free_ports 7) || { echo "FAIL no free ports"; exit 1; }
read -r pm pr1 pr2 pl pi px pk <<<"$(echo $ports)"
repo=$tmp/repo
topo=$tmp/pgconverge.yaml
state=$tmp/state

# topology EXTRA - the source cluster, then EXTRA (more clusters).
topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  main:
    primary: m1
    nodes:
      m1: {host: 127.0.0.1, port: $pm, data_dir: $tmp/m1}
    settings: {shared_buffers: 32MB}
    backup:
      repository: $repo
      wal_archive: true
      base: {every: 1h, keep: 2}
$1
EOF
}

# --- the source: created, archiving, backed up by the schedule ---------------
topology ""
lib_run "$tmp/apply1" apply -f "$topo" --state-dir "$state"
lib_expect_rc "apply creates the cluster and takes the scheduled base backup" "$tmp/apply1" 0
check "the plan had the backup as an action" grep -q "backup .*no verified base backup yet (base.every 1h): take one from node \"m1\" (the primary)" "$tmp/apply1.out"
check "one verified base backup in the catalog" lib_json "$repo/catalog.json" 'len(d["base"]) == 1 and d["base"][0]["verify"]["ok"]'
backup_id=$(jq -r '.base[0].id' "$repo/catalog.json")
lib_run "$tmp/plan0" plan -f "$topo" --state-dir "$state"
lib_expect_rc "the cluster with its fresh backup plans to zero actions" "$tmp/plan0" 0

lib_sql "$pm" "CREATE TABLE t (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())" >/dev/null
lib_sql "$pm" "INSERT INTO t (id) SELECT generate_series(1, 100)" >/dev/null
L=$(lib_sql "$pm" "SELECT pg_current_wal_lsn()")
sleep 1.1
T=$(lib_sql "$pm" "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
sleep 1.1
lib_sql "$pm" "INSERT INTO t (id) SELECT generate_series(101, 150)" >/dev/null
last=$(lib_sql "$pm" "SELECT pg_walfile_name(pg_switch_wal())")
check "the switched segment $last is archived" lib_wait 30 lib_sql_is "$pm" "SELECT last_archived_wal FROM pg_stat_archiver" "$last"
echo "#   T=$T L=$L backup=$backup_id last segment=$last"

# --- restores: planned, refused, applied --------------------------------------
topology "  restored:
    bootstrap:
      from_backup: {repository: $repo, target_time: \"$T\"}
    primary: r1
    nodes:
      r1: {host: 127.0.0.1, port: $pr1, data_dir: $tmp/r1}
      r2: {host: 127.0.0.1, port: $pr2, data_dir: $tmp/r2}
    settings: {shared_buffers: 32MB}
  bylsn:
    bootstrap:
      from_backup: {repository: $repo, target_lsn: \"$L\"}
    nodes:
      l1: {host: 127.0.0.1, port: $pl, data_dir: $tmp/l1}
    settings: {shared_buffers: 32MB}
  early:
    bootstrap:
      from_backup: {repository: $repo, immediate: true}
    nodes:
      i1: {host: 127.0.0.1, port: $pi, data_dir: $tmp/i1}
    settings: {shared_buffers: 32MB}
  late:
    bootstrap:
      from_backup: {repository: $repo, target_time: \"2099-01-01 00:00:00+00\"}
    nodes:
      x1: {host: 127.0.0.1, port: $px, data_dir: $tmp/x1}"

lib_run "$tmp/plan1" plan -f "$topo" --state-dir "$state"
lib_expect_rc "plan shows the restores" "$tmp/plan1" 2
check "the plan names the backup and the WAL range of the restore to T" grep -q "restore node \"r1\" from \"$repo\": base backup $backup_id (.*), then archived WAL up to $last" "$tmp/plan1.out"
check "the plan names the target" grep -q "to target_time \"$T\", then promote on a new timeline" "$tmp/plan1.out"
check "a target after the archive's end is blocked with the reason" grep -q "BLOCKED: target_time \"2099-01-01 00:00:00+00\" is after the end of the archive: its last segment $last was archived at" "$tmp/plan1.out"
lib_run "$tmp/plan1j" plan -f "$topo" --state-dir "$state" --format json
check "JSON: the restore to T carries the backup id" lib_json "$tmp/plan1j.out" '[a for a in d["actions"] if a["id"] == "restored/r1/restore"][0]["payload"]["target"] == "'"$backup_id"'"'
check "JSON: the late restore is blocked" lib_json "$tmp/plan1j.out" '[a for a in d["actions"] if a["id"] == "late/x1/restore"][0]["blocked"]'
check "plan touched nothing" test ! -e "$tmp/r1" -a ! -e "$tmp/x1"

lib_run "$tmp/apply2" apply -f "$topo" --state-dir "$state"
lib_expect_rc "apply restores, leaving the late one blocked (exit 3)" "$tmp/apply2" 3
check "the late restore created nothing" test ! -e "$tmp/x1"
check "restored r1 has exactly the 100 rows committed before T" lib_sql_is "$pr1" "SELECT count(*) || ' ' || max(id) FROM t" "100 100"
check "restored r1 is a primary" lib_sql_is "$pr1" "SELECT pg_is_in_recovery()" "f"
check "restored r1 is on timeline 2" lib_sql_is "$pr1" "SELECT timeline_id FROM pg_control_checkpoint()" "2"
check "restored r1 writes on timeline 2" lib_sql_is "$pr1" "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)" "00000002"
check "no recovery setting is left in r1's pgconverge.conf" bash -c "! grep -q recovery_target '$tmp/r1/pgconverge.conf'"
check "no recovery.signal is left" test ! -e "$tmp/r1/recovery.signal"
check "r1 was not restarted after its promotion" bash -c "! grep -q 'shutdown request' '$tmp/r1/log/pgconverge-start.log'"
check "restore_command went with the reload" lib_sql_is "$pr1" "SELECT setting FROM pg_settings WHERE name = 'restore_command'" ""
check "recovery_target_time waits, inert, for the next start" lib_sql_is "$pr1" "SELECT pending_restart FROM pg_settings WHERE name = 'recovery_target_time'" "t"
check "replica r2 was cloned from the restored primary and streams" lib_wait 60 lib_sql_is "$pr2" "SELECT status FROM pg_stat_wal_receiver" "streaming"
check "replica r2 has the same 100 rows" lib_sql_is "$pr2" "SELECT count(*) FROM t" "100"
check "the target_lsn restore has the 100 rows before L" lib_sql_is "$pl" "SELECT count(*) FROM t" "100"
check "the immediate restore stops at the backup's end (no table yet)" lib_sql_is "$pi" "SELECT to_regclass('t') IS NULL" "t"
check "the source's archive got no timeline 2" test ! -e "$repo/wal/history/00000002.history" -a ! -e "$repo/wal/00000002"
check "the source's rows are untouched" lib_sql_is "$pm" "SELECT count(*) FROM t" "150"

lib_run "$tmp/plan2" plan -f "$topo" --state-dir "$state" --cluster restored
lib_expect_rc "the restored cluster plans to zero actions" "$tmp/plan2" 0
lib_sql "$pr1" "SELECT pg_reload_conf()" >/dev/null
lib_run "$tmp/plan2b" plan -f "$topo" --state-dir "$state" --cluster restored
lib_expect_rc "after another reload, still zero actions (no restart for recovery_target_*)" "$tmp/plan2b" 0
lib_run "$tmp/plan3" plan -f "$topo" --state-dir "$state" --cluster bylsn
lib_expect_rc "the target_lsn cluster plans to zero actions" "$tmp/plan3" 0
lib_run "$tmp/status" status -f "$topo" --state-dir "$state" --format json
check "status says where a cluster was restored from" lib_json "$tmp/status.out" '[b for b in d["backups"] if b["cluster"] == "restored"][0]["restored_from"] == "'"$repo"'"'
check "status shows no restart pending on the restored primary (recovery_target_* are inert)" \
	lib_json "$tmp/status.out" '[n["pending_restart"] for c in d["clusters"] if c["name"] == "restored" for n in c["nodes"]] == [False, False]'

# --- a restore killed half way converges when run again ----------------------------
topology "  killed:
    bootstrap:
      from_backup: {repository: $repo, target_time: \"$T\"}
    nodes:
      k1: {host: 127.0.0.1, port: $pk, data_dir: $tmp/k1}
    settings: {shared_buffers: 32MB}"
"$PGC" apply -f "$topo" --state-dir "$state" --cluster killed >"$tmp/apply-k1.out" 2>"$tmp/apply-k1.err" &
kpid=$!
for _ in $(seq 1 3000); do
	[ -s "$tmp/k1/postmaster.pid" ] && break
	kill -0 "$kpid" 2>/dev/null || break
	sleep 0.01
done
kill -KILL "$kpid" 2>/dev/null
wait "$kpid" 2>/dev/null
check "the killed apply had started the restore's server" test -s "$tmp/k1/postmaster.pid"
check "the server promotes on its own" lib_wait 60 lib_sql_is "$pk" "SELECT pg_is_in_recovery()" "f"
lib_run "$tmp/plan-k" plan -f "$topo" --state-dir "$state" --cluster killed
lib_expect_rc "its recovery settings are still in pgconverge.conf: plan has a change" "$tmp/plan-k" 2
check "a reload removes them, no restart" grep -q "was restored and promoted: remove the restore's recovery settings from pgconverge.conf and reload it" "$tmp/plan-k.out"
kpm=$(head -n 1 "$tmp/k1/postmaster.pid")
lib_run "$tmp/apply-k2" apply -f "$topo" --state-dir "$state" --cluster killed
lib_expect_rc "apply run again converges the killed restore" "$tmp/apply-k2" 0
check "k1 has exactly the 100 rows before T" lib_sql_is "$pk" "SELECT count(*) FROM t" "100"
check "k1 was not restarted" test "$(head -n 1 "$tmp/k1/postmaster.pid")" = "$kpm"
check "no recovery setting is left in k1's pgconverge.conf" bash -c "! grep -q recovery_target '$tmp/k1/pgconverge.conf'"
lib_run "$tmp/plan-k2" plan -f "$topo" --state-dir "$state" --cluster killed
lib_expect_rc "the killed restore plans to zero actions" "$tmp/plan-k2" 0

# --- a damaged archive stops recovery; nothing is promoted ----------------------
seg="$repo/wal/00000001/$last"
printf 'damaged!' | dd of="$seg" bs=1 seek=4096 conv=notrunc status=none
topology "  damaged:
    bootstrap:
      from_backup: {repository: $repo}
    nodes:
      d1: {host: 127.0.0.1, port: $px, data_dir: $tmp/d1}
    settings: {shared_buffers: 32MB}"
lib_run "$tmp/apply3" apply -f "$topo" --state-dir "$state"
lib_expect_rc "a restore through a damaged segment fails" "$tmp/apply3" 1
check "the failure names the server's FATAL" grep -q "stopped before its recovery finished: FATAL" "$tmp/apply3.err"
check "wal-fetch reported the checksum mismatch" grep -q "does not match its checksum" "$tmp/d1/log/pgconverge-start.log"
check "the damaged restore was not promoted (recovery.signal stays)" test -e "$tmp/d1/recovery.signal"
check "no server runs for it" bash -c "! lib_pid=\$(head -1 '$tmp/d1/postmaster.pid' 2>/dev/null) || ! kill -0 \$lib_pid 2>/dev/null"

# --- a damaged base backup is refused before anything starts ---------------------------
victim=$(find "$repo/base/$backup_id/base" -type f -size +16k | sort | head -n 1)
printf 'FLIPPEDBYTES' | dd of="$victim" bs=1 seek=100 conv=notrunc status=none
topology "  corrupt:
    bootstrap:
      from_backup: {repository: $repo, immediate: true}
    nodes:
      c1: {host: 127.0.0.1, port: $px, data_dir: $tmp/c1}
    settings: {shared_buffers: 32MB}"
lib_run "$tmp/apply5" apply -f "$topo" --state-dir "$state" --cluster corrupt
lib_expect_rc "a restore of a damaged base backup fails" "$tmp/apply5" 1
check "pg_verifybackup's finding is shown" grep -q "checksum mismatch for file \"${victim#"$repo/base/$backup_id/"}\"" "$tmp/apply5.err"
check "the failure names the backup" grep -q "base backup \"$repo/base/$backup_id\" failed verification" "$tmp/apply5.err"
check "no data directory was created" test ! -e "$tmp/c1"
check "the copy was removed" test ! -e "$tmp/.c1.pgconverge-restore"

lib_finish test_pitr
