#!/bin/bash
# tests/integration/test_drill.sh - the backup schedule as plan actions,
# through ./pgconverge with a real server and repository:
#
#   - `apply` creates a cluster, takes the base backup base.every asks for
#     and runs the restore drill verify.every asks for, recorded in the
#     catalog;
#   - a base backup older than base.every is planned (impact none) and
#     taken by `apply`;
#   - a drill replays the archive to its end: it counts the rows written
#     after the backup; its scratch folder is removed; status and the
#     metrics show the last verified age and archive failures;
#   - a drill of a backup with flipped bytes fails loudly (exit 1, FAILED in
#     the catalog, status and metrics);
#   - retention with keep 2 after 4 backups: `plan` lists what it removes,
#     `apply` removes exactly that and nothing outside the layout.
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
pm=$(lib_free_ports 1) || { echo "FAIL no free port"; exit 1; }
repo=$tmp/repo
topo=$tmp/pgconverge.yaml
state=$tmp/state
# The drill's scratch folders go here, so the test can see them go.
install -d -m 755 "$tmp/scratch"
export TMPDIR=$tmp/scratch

# topology BASE_EVERY VERIFY_EVERY KEEP
topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  main:
    primary: m1
    nodes:
      m1: {host: 127.0.0.1, port: $pm, data_dir: $tmp/m1}
    settings: {shared_buffers: 32MB}
    databases:
      app: {}
    backup:
      repository: $repo
      wal_archive: true
      base: {every: $1, keep: $3}
      verify: {every: $2}
EOF
}
newest() { jq -r '.base[-1].id' "$repo/catalog.json"; }
app_sql() { lib_psql "$pm" -d app -c "$1"; }

# --- created, backed up, drilled ------------------------------------------------
topology 1h 1h 5
lib_run "$tmp/apply1" apply -f "$topo" --state-dir "$state"
lib_expect_rc "apply creates the cluster, backs it up and drills the backup" "$tmp/apply1" 0
check "the plan had the drill as an action" grep -q "restore:drill .*no successful restore drill yet (verify.every 1h): restore base backup" "$tmp/apply1.out"
check "the drill passed and is recorded in the catalog" lib_json "$repo/catalog.json" 'len(d["base"]) == 1 and d["base"][0]["drill"]["ok"] and d["base"][0]["drill"]["duration_s"] > 0'
check "the drill's scratch folder is gone" bash -c "[ -z \"\$(ls -A '$tmp/scratch')\" ]"
first=$(newest)

app_sql "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g" >/dev/null
app_sql "CREATE TABLE u AS SELECT g AS id FROM generate_series(1, 10) g" >/dev/null
last=$(lib_sql "$pm" "SELECT pg_walfile_name(pg_switch_wal())")
check "the rows' WAL is archived" lib_wait 30 lib_sql_is "$pm" "SELECT last_archived_wal FROM pg_stat_archiver" "$last"

# --- a base backup older than base.every is planned and taken -----------------------
# base.every 6s: the first backup is older by now; the one apply takes is not.
lib_wait 15 bash -c "[ \$(( \$(date +%s) - \$(date -d \$(jq -r '.base[0].finished_at' '$repo/catalog.json') +%s) )) -ge 7 ]"
topology 6s 1h 5
lib_run "$tmp/plan1" plan -f "$topo" --state-dir "$state"
lib_expect_rc "plan shows the due backup" "$tmp/plan1" 2
check "the backup is planned, impact none, with its reason" grep -Eq "backup +the newest base backup $first is [0-9]+s old, base.every is 6s: take one from node \"m1\" \(the primary\)" "$tmp/plan1.out"
check "nothing else is planned" grep -q "^1 actions: 0 reload, 0 restart, 0 blocked" "$tmp/plan1.out"
lib_run "$tmp/apply2" apply -f "$topo" --state-dir "$state"
lib_expect_rc "apply takes it" "$tmp/apply2" 0
check "a new verified base backup is in the catalog" lib_json "$repo/catalog.json" 'len(d["base"]) == 2 and d["base"][-1]["id"] != "'"$first"'" and d["base"][-1]["verify"]["ok"]'

# --- a drill counts what the archive replays -----------------------------------------
# verify.every 4s: the first drill is older by now; the one apply runs is not.
sleep 4
topology 1h 4s 5
lib_run "$tmp/apply3" apply -f "$topo" --state-dir "$state"
lib_expect_rc "apply drills the newest backup" "$tmp/apply3" 0
check "the drill counted the 1010 rows of the two tables" lib_json "$repo/catalog.json" 'd["base"][-1]["drill"]["ok"] and d["base"][-1]["drill"]["rows"] == 1010 and d["base"][-1]["drill"]["tables"] == 2'
check "the drill's message says what it checked" lib_json "$repo/catalog.json" 'd["base"][-1]["drill"]["message"] == "2 databases, 2 tables, 1010 rows"'
check "its server ran on a port below 32000" lib_json "$repo/catalog.json" '20000 <= d["base"][-1]["drill"]["port"] < 32000'
check "the drill's scratch folder is gone" bash -c "[ -z \"\$(ls -A '$tmp/scratch')\" ]"
topology 1h 1h 5
lib_run "$tmp/status1" status -f "$topo" --state-dir "$state"
check "status shows the last drill" grep -q "last restore drill passed on $(newest)" "$tmp/status1.out"
check "status shows the last verified age" grep -Eq "last verified \(a restore drill that passed\): [0-9]+s ago" "$tmp/status1.out"
lib_run "$tmp/metrics1" status -f "$topo" --state-dir "$state" --format prometheus
check "metrics: last base backup age" grep -Eq '^pgconverge_backup_last_base_age_seconds\{cluster="main"\} [0-9]+$' "$tmp/metrics1.out"
check "metrics: last verified age" grep -Eq '^pgconverge_backup_last_verified_age_seconds\{cluster="main"\} [0-9]+$' "$tmp/metrics1.out"
check "metrics: the last drill passed" grep -q "^pgconverge_backup_last_drill_ok{cluster=\"main\",backup=\"$(newest)\"} 1$" "$tmp/metrics1.out"
check "metrics: archive failures" grep -q '^pgconverge_archive_failed_total{cluster="main",node="m1"} 0$' "$tmp/metrics1.out"

# --- a corrupted backup fails its drill loudly ----------------------------------------
lib_run "$tmp/backup3" backup -f "$topo" --state-dir "$state" --cluster main
lib_expect_rc "pgconverge backup takes a third backup" "$tmp/backup3" 0
bad=$(newest)
relpath=$(lib_psql "$pm" -d app -c "SELECT pg_relation_filepath('t')")
printf 'FLIPPEDBYTES' | dd of="$repo/base/$bad/$relpath" bs=1 seek=100 conv=notrunc status=none
sleep 4
topology 1h 4s 5
lib_run "$tmp/apply4" apply -f "$topo" --state-dir "$state"
lib_expect_rc "the drill of the corrupted backup fails apply" "$tmp/apply4" 1
check "the failure is loud and names the backup" grep -q "restore drill of base backup $bad of cluster \"main\" FAILED: base backup copy .* failed verification" "$tmp/apply4.err"
check "pg_verifybackup's finding is shown" grep -q "checksum mismatch for file \"$relpath\"" "$tmp/apply4.err"
check "the failure is recorded in the catalog" lib_json "$repo/catalog.json" '[b for b in d["base"] if b["id"] == "'"$bad"'"][0]["drill"]["ok"] == False'
check "the drill's scratch folder is gone" bash -c "[ -z \"\$(ls -A '$tmp/scratch')\" ]"
topology 1h 1h 5
lib_run "$tmp/status2" status -f "$topo" --state-dir "$state"
check "status shows the failed drill" grep -q "last restore drill FAILED on $bad" "$tmp/status2.out"
lib_run "$tmp/metrics2" status -f "$topo" --state-dir "$state" --format prometheus
check "metrics: the last drill failed" grep -q "^pgconverge_backup_last_drill_ok{cluster=\"main\",backup=\"$bad\"} 0$" "$tmp/metrics2.out"
lib_run "$tmp/plan2" plan -f "$topo" --state-dir "$state"
lib_expect_rc "the failed backup is not drilled again within verify.every" "$tmp/plan2" 0

# --- retention: keep 2 after 4 backups ------------------------------------------------
lib_run "$tmp/backup4" backup -f "$topo" --state-dir "$state" --cluster main
lib_expect_rc "pgconverge backup takes a fourth backup" "$tmp/backup4" 0
echo "not a backup" >"$repo/notes.txt"
install -d "$repo/base/not-ours"
mapfile -t ids < <(jq -r '.base[].id' "$repo/catalog.json")
check "four base backups before retention" test "${#ids[@]}" = 4
keep_start=$(jq -r '.base[2].start_wal' "$repo/catalog.json")
topology 1h 1h 2
lib_run "$tmp/plan3" plan -f "$topo" --state-dir "$state" --format json
lib_expect_rc "plan shows retention" "$tmp/plan3" 2
check "retention lists the two oldest backups" lib_json "$tmp/plan3.out" '[c["key"] for c in [a for a in d["actions"] if a["id"] == "main/-/retention"][0]["changes"] if c["key"].startswith("base/")] == ["base/'"${ids[0]}"'", "base/'"${ids[1]}"'"]'
jq -r '.actions[] | select(.id == "main/-/retention") | .payload.params[] | select(startswith("base/") | not)' "$tmp/plan3.out" | sort >"$tmp/wal-listed"
# WAL file names are 24 hex digits: compare them as strings (awk would take an
# all-digit name for a number and lose precision).
check "retention lists WAL before the oldest kept backup's start only" jq -e --arg k "$keep_start" \
	'[.actions[] | select(.id == "main/-/retention") | .payload.params[] | select(startswith("base/") | not)] | length > 0 and all(. < $k)' "$tmp/plan3.out"
lib_run "$tmp/plan3t" plan -f "$topo" --state-dir "$state"
check "the text plan names what retention deletes" grep -q "base/${ids[0]}: base backup" "$tmp/plan3t.out"
ls "$repo/wal/00000001" | grep -v '\.sha256$' | sort >"$tmp/wal-before"
lib_run "$tmp/apply5" apply -f "$topo" --state-dir "$state"
lib_expect_rc "apply runs the retention" "$tmp/apply5" 0
check "the two newest backups are kept" lib_json "$repo/catalog.json" '[b["id"] for b in d["base"]] == ["'"${ids[2]}"'", "'"${ids[3]}"'"]'
check "the two oldest backups' folders are gone" test ! -e "$repo/base/${ids[0]}" -a ! -e "$repo/base/${ids[1]}" -a -d "$repo/base/${ids[2]}"
ls "$repo/wal/00000001" | grep -v '\.sha256$' | sort >"$tmp/wal-after"
comm -23 "$tmp/wal-before" "$tmp/wal-after" >"$tmp/wal-removed"
check "exactly the listed WAL files were removed" cmp -s "$tmp/wal-removed" "$tmp/wal-listed"
check "files outside the layout are untouched" test -e "$repo/notes.txt" -a -d "$repo/base/not-ours"
lib_run "$tmp/plan4" plan -f "$topo" --state-dir "$state"
lib_expect_rc "the repository within its policy plans to zero actions" "$tmp/plan4" 0

lib_finish test_drill
