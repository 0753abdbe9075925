#!/bin/bash
# tests/integration/test_archive_first_apply.sh - the first apply of a new
# cluster with backup.wal_archive and two replicas, the repository not yet
# there:
#
#   - apply exits 0, its plan creating the repository first;
#   - the repository and base/, logical/, wal/ belong to os_user, mode 0700;
#   - both replicas stream (their restore_command found a repository: a
#     missing one makes wal-fetch exit 200 and the startup process stop);
#   - after pg_switch_wal() the archiver archives the segment, and
#     pg_stat_archiver.failed_count is 0 (archive_command never ran against
#     a missing repository);
#   - the next plan has nothing to do.
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
read -r p1 p2 p3 <<<"$(lib_free_ports 3 | tr '\n' ' ')"
[ -n "${p3:-}" ] || { echo "FAIL no free ports in 20000-31999"; exit 1; }
repo=$tmp/backups/main
topo=$tmp/pgconverge.yaml
state=$tmp/state

cat >"$topo" <<EOF
version: 1
clusters:
  arch:
    os_user: postgres
    primary: a1
    nodes:
      a1: {host: 127.0.0.1, port: $p1, data_dir: $tmp/a1}
      a2: {host: 127.0.0.1, port: $p2, data_dir: $tmp/a2}
      a3: {host: 127.0.0.1, port: $p3, data_dir: $tmp/a3}
    settings: {shared_buffers: 16MB}
    replication: {slots: true}
    backup:
      repository: $repo
      wal_archive: true
EOF

lib_run "$tmp/apply" apply -f "$topo" --state-dir "$state"
lib_expect_rc "the first apply of a new cluster archiving WAL with two replicas exits 0" "$tmp/apply" 0
check "its plan creates the repository before anything else" \
	bash -c "grep -E '^ +#[0-9]+ ' '$tmp/apply.out' | head -1 | grep -q 'create-repository'"

owner_mode() { stat -c '%U %a' "$1" 2>/dev/null; }
check "the repository belongs to postgres, mode 700" [ "$(owner_mode "$repo")" = "postgres 700" ]
for d in base logical wal; do
	check "$d/ belongs to postgres, mode 700" [ "$(owner_mode "$repo/$d")" = "postgres 700" ]
done
check "the folder above the repository is root's, mode 755" [ "$(owner_mode "$tmp/backups")" = "root 755" ]

streams() { lib_sql_is "$1" "SELECT status FROM pg_stat_wal_receiver" streaming; }
check "replica a2 streams" lib_wait 60 streams "$p2"
check "replica a3 streams" lib_wait 60 streams "$p3"
check "the primary sees both replicas streaming" lib_wait 30 lib_sql_is "$p1" \
	"SELECT string_agg(application_name || ':' || state, ' ' ORDER BY application_name) FROM pg_stat_replication" \
	"a2:streaming a3:streaming"

lib_sql "$p1" "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g" >/dev/null
seg=$(lib_sql "$p1" "SELECT pg_walfile_name(pg_switch_wal())")
check "the switched segment $seg is archived (within 30 s)" \
	lib_wait 30 lib_sql_is "$p1" "SELECT last_archived_wal >= '$seg' FROM pg_stat_archiver" t
check "the segment is in the repository with its checksum" \
	bash -c "ls '$repo/wal/00000001/$seg'* | grep -q '$seg.sha256'"
failed=$(lib_sql "$p1" "SELECT failed_count FROM pg_stat_archiver")
if [ "$failed" = 0 ]; then ok "pg_stat_archiver.failed_count is 0"; else
	fail "pg_stat_archiver.failed_count is $failed: $(lib_sql "$p1" "SELECT last_failed_wal, last_failed_time FROM pg_stat_archiver")"
fi

lib_run "$tmp/plan" plan -f "$topo" --state-dir "$state"
lib_expect_rc "the next plan has nothing to do" "$tmp/plan" 0
check "and plans no repository" bash -c "! grep -q create-repository '$tmp/plan.out'"

lib_finish test_archive_first_apply
