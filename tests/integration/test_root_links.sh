#!/bin/bash
# tests/integration/test_root_links.sh - pgconverge runs as root in folders
# the postgres account owns (the data directory, the backup repository).
# Links that account plants there must not make root read what postgres
# cannot: here a root-only file holding a marker string.
#
#   - a base backup folder in the repository replaced with a link to a
#     root-only folder: the restore drill refuses to copy it;
#   - postgresql.conf a link to the root-only file: apply refuses to read it
#     (and so to write its text back with the include line); status too;
#   - the server log a link to the root-only file: the failed start's
#     message does not show it;
#   - core dumps: a running pgconverge is not dumpable (its /proc files
#     belong to root although it runs as postgres) and its soft
#     RLIMIT_CORE is 0, the hard limit left as it was.
#
# After each case the marker is in no output and in no file outside the
# root-only folder. Runs as root; servers run as postgres.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lib_require_root
command -v setpriv >/dev/null || { echo "FAIL \"setpriv\" is needed"; exit 1; }
PGC=$(lib_bin) || exit 1
runuser -u postgres -- test -x "$PGC" || { echo "FAIL postgres cannot execute $PGC"; exit 1; }

tmp=$(lib_tmpdir) || exit 1
bg_pid=""
teardown() {
	if [ -n "$bg_pid" ]; then
		kill -TERM "$bg_pid" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$bg_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$bg_pid" 2>/dev/null
	fi
	lib_teardown "$tmp"
}
trap teardown EXIT
trap 'exit 1' INT TERM
pm=$(lib_free_ports 1) || { echo "FAIL no free port"; exit 1; }
repo=$tmp/repo
topo=$tmp/pgconverge.yaml
state=$tmp/state
out=$tmp/out
data=$tmp/m1
install -d -m 700 "$out"
install -d -m 755 "$tmp/scratch"
export TMPDIR=$tmp/scratch

marker="pgc-root-only-marker-$$"
install -d -m 700 "$tmp/secret"
printf 'root only: %s\n' "$marker" >"$tmp/secret/key"
chmod 600 "$tmp/secret/key"
cp -p "$tmp/secret/key" "$out/key.orig"

# topology [VERIFY] - one node, backed up; VERIFY (e.g. 1h) asks for drills.
topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  main:
    primary: m1
    nodes:
      m1: {host: 127.0.0.1, port: $pm, data_dir: $data}
    settings: {shared_buffers: 32MB}
    backup:
      repository: $repo
      wal_archive: true
      base: {every: 1h, keep: 5}
EOF
	[ -n "${1:-}" ] && echo "      verify: {every: $1}" >>"$topo"
}

# leaked - the files under tmp, outside the root-only folder and the saved
# outputs, that hold the marker (grep -r follows no link).
leaked() {
	grep -rlF "$marker" "$tmp" 2>/dev/null | grep -v -e "^$tmp/secret/" -e "^$out/"
}
no_leak() { [ -z "$(leaked)" ]; }
# not_shown OUT_PREFIX - the marker is in neither stdout nor stderr of a run.
not_shown() { ! grep -qF "$marker" "$1.out" "$1.err"; }
secret_intact() { cmp -s "$tmp/secret/key" "$out/key.orig"; }
# plant TARGET LINK - a link made by postgres, as an attacker would.
plant() { ln -s "$1" "$2" && chown -h postgres:postgres "$2"; }

# --- a cluster with a base backup -----------------------------------------------------
topology
lib_run "$out/apply1" apply -f "$topo" --state-dir "$state"
lib_expect_rc "apply creates the cluster and backs it up" "$out/apply1" 0
id=$(jq -r '.base[-1].id' "$repo/catalog.json" 2>/dev/null)
check "a base backup is in the repository" test -d "$repo/base/$id"

# --- the drill: a backup folder replaced with a link to root's folder ------------------
mv "$repo/base/$id" "$tmp/moved-backup"
plant "$tmp/secret" "$repo/base/$id"
topology 1h
lib_run "$out/drill" apply -f "$topo" --state-dir "$state"
lib_expect_rc "the drill of a linked backup folder fails" "$out/drill" 1
if grep -q "refusing to follow symlink \"$id\"" "$out/drill.err"; then
	ok "the drill refuses to follow the link, saying so"
else
	fail "the drill refuses to follow the link, saying so"
	lib_show "$out/drill"
fi
check "nothing of the root-only folder was copied" bash -c "! grep -q 'restore drill of $id: copied' '$out/drill.err'"
check "the drill shows nothing of the root-only file" not_shown "$out/drill"
check "no file outside the root-only folder holds its text (drill)" no_leak
check "the drill's scratch folder is gone" bash -c "[ -z \"\$(ls -A '$tmp/scratch')\" ]"
rm "$repo/base/$id"
mv "$tmp/moved-backup" "$repo/base/$id"

# --- postgresql.conf a link to a root-only file -------------------------------------------
topology
lib_stop_server "$data"
mv "$data/postgresql.conf" "$tmp/conf.saved"
plant "$tmp/secret/key" "$data/postgresql.conf"
lib_run "$out/conf" apply -f "$topo" --state-dir "$state"
lib_expect_rc "apply with a linked postgresql.conf fails" "$out/conf" 1
if grep -q "refusing to follow symlink \"postgresql.conf\"" "$out/conf.err"; then
	ok "apply refuses to read the linked postgresql.conf, saying so"
else
	fail "apply refuses to read the linked postgresql.conf, saying so"
	lib_show "$out/conf"
fi
check "apply shows nothing of the root-only file" not_shown "$out/conf"
check "postgresql.conf is still the planted link" test -L "$data/postgresql.conf"
check "the root-only file is unchanged" secret_intact
check "no file outside the root-only folder holds its text (conf)" no_leak
lib_run "$out/status" status -f "$topo" --state-dir "$state"
check "status shows nothing of the root-only file" not_shown "$out/status"
rm "$data/postgresql.conf"
mv "$tmp/conf.saved" "$data/postgresql.conf"

# --- the server log a link to a root-only file -----------------------------------------
log=$data/log/pgconverge-start.log
rm -f "$log"
plant "$tmp/secret/key" "$log"
lib_run "$out/log" apply -f "$topo" --state-dir "$state"
lib_expect_rc "a start whose log is a link to a root-only file fails" "$out/log" 1
if grep -q "refusing to follow symlink \"pgconverge-start.log\"" "$out/log.err"; then
	ok "the failed start's message does not follow the log link, saying so"
else
	fail "the failed start's message does not follow the log link, saying so"
	lib_show "$out/log"
fi
check "the failed start shows nothing of the root-only file" not_shown "$out/log"
check "the root-only file is unchanged" secret_intact
check "no file outside the root-only folder holds its text (log)" no_leak
rm "$log"
lib_run "$out/apply2" apply -f "$topo" --state-dir "$state"
lib_expect_rc "with the links gone, apply converges again" "$out/apply2" 0

# --- core dumps ----------------------------------------------------------------------
# validate blocks opening a FIFO as its topology: a live pgconverge to look at.
fifo=$tmp/topology.fifo
mkfifo -m 644 "$fifo"
hard=$(ulimit -H -c)
(
	ulimit -S -c "$hard"
	exec setpriv --reuid=postgres --regid=postgres --clear-groups "$PGC" validate -f "$fifo"
) >"$out/fifo.out" 2>&1 &
bg_pid=$!
# /proc/PID/status belongs to root once the process is not dumpable.
proc_owner_root() { [ "$(stat -c %U "/proc/$bg_pid/status" 2>/dev/null)" = root ]; }
check "a running pgconverge is not dumpable" lib_wait 10 proc_owner_root
core_limit() { awk '/^Max core file size/ {print $5, $6}' "/proc/$bg_pid/limits" 2>/dev/null; }
core_limit_zero() { [ "$(core_limit)" = "0 $hard" ]; }
check "its soft core size limit is 0 and the hard one as it was" lib_wait 10 core_limit_zero
kill -TERM "$bg_pid" 2>/dev/null
wait "$bg_pid" 2>/dev/null
bg_pid=""

lib_finish test_root_links
