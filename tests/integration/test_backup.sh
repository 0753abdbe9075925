#!/bin/bash
# tests/integration/test_backup.sh - `pgconverge backup` of a running
# cluster (a primary and a streaming replica, set up here with initdb and
# pg_basebackup as postgres) described by a temp topology file: a base
# backup taken from the replica, recorded in the catalog and passing
# pg_verifybackup, that starts as a server with the rows; retention with
# keep 1 after two backups (older backup and the WAL before the newer one's
# start removed, files outside the layout untouched); --logical dumps that
# pg_restore reads and restores with the same row counts; a cluster that is
# down is refused.
#
# Runs as root (the product drops to postgres itself). Uses
# ${PGC_BIN:-./pgconverge}, which postgres must be able to execute.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
bin=${PGC_BIN:-./pgconverge}
case $bin in /*) ;; *) bin=$top/$bin ;; esac
BIN=/usr/lib/postgresql/15/bin

fail=0
pass=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; }
# check NAME JQ-EXPRESSION FILE
check() {
	if jq -e "$2" "$3" >/dev/null 2>&1; then ok "$1"; else
		not_ok "$1"
		echo "#   expected: $2" >&2
	fi
}

for tool in ss runuser jq; do
	command -v "$tool" >/dev/null || { echo "not ok - \"$tool\" is needed"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "not ok - runs as root (servers start as postgres)"; exit 1; }
runuser -u postgres -- test -x "$bin" || { echo "not ok - postgres cannot execute $bin"; exit 1; }

tmp=$(mktemp -d /tmp/pgc-backup.XXXXXX)
chmod 755 "$tmp"
pids=""

stop_pid() {
	[ -n "$1" ] || return 0
	kill -INT "$1" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
}
cleanup() {
	for p in $pids; do stop_pid "$p"; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		if ! ss -ltnH "sport = :$p" | grep -q . && [ ! -e "/var/run/postgresql/.s.PGSQL.$p" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# start DATA PORT NAME [pg_ctl -o OPTIONS] - starts a server; echoes its pid.
start() {
	runuser -u postgres -- "$BIN/pg_ctl" -D "$1" -l "$tmp/log/$3.log" -w -t 60 ${4:+-o "$4"} start \
		>"$tmp/log/$3-ctl.log" 2>&1 || { cat "$tmp/log/$3-ctl.log" "$tmp/log/$3.log" >&2; return 1; }
	head -1 "$1/postmaster.pid"
}
sql() { runuser -u postgres -- "$BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h /var/run/postgresql -p "$1" -U postgres -d "${3:-postgres}" -c "$2"; }

# --- fixture: primary n1 archiving into the repository, replica n2 -----------
port1=$(free_port) && port2=$(free_port) && port3=$(free_port) || { echo "not ok - no free port"; exit 1; }
[ "$port1" != "$port2" ] && [ "$port2" != "$port3" ] && [ "$port1" != "$port3" ] || { echo "not ok - port clash, run again"; exit 1; }
repo="$tmp/repo"
install -d -o postgres -g postgres -m 700 "$repo" "$tmp/n1"
install -d -o postgres -g postgres -m 755 "$tmp/log"
install -d -o postgres -g postgres -m 2775 /var/run/postgresql
runuser -u postgres -- "$BIN/initdb" -D "$tmp/n1" -U postgres -E UTF8 --locale=C.UTF-8 --data-checksums \
	>"$tmp/log/initdb.log" 2>&1 || { cat "$tmp/log/initdb.log"; echo "not ok - initdb"; exit 1; }
# What pgconverge's apply leaves: the managed include, peer access for root and
# postgres as the superuser, replication over the socket for pg_basebackup.
echo "include 'pgconverge.conf'" >>"$tmp/n1/postgresql.conf"
cat >"$tmp/n1/pgconverge.conf" <<EOF
port = $port1
listen_addresses = ''
unix_socket_directories = '/var/run/postgresql'
shared_buffers = '32MB'
wal_level = replica
archive_mode = on
archive_command = '$bin wal-push --repository $repo %p %f'
EOF
cat >"$tmp/n1/pg_hba.conf" <<EOF
local all postgres peer map=pgconverge
local replication postgres peer map=pgconverge
EOF
printf 'pgconverge root postgres\npgconverge postgres postgres\n' >>"$tmp/n1/pg_ident.conf"
chown postgres:postgres "$tmp/n1"/*.conf
pid1=$(start "$tmp/n1" "$port1" n1) || { echo "not ok - start n1"; exit 1; }
pids="$pid1"
sql "$port1" "CREATE DATABASE app" >/dev/null
sql "$port1" "CREATE ROLE appuser LOGIN; CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 10000) g" app >/dev/null

install -d -o postgres -g postgres -m 700 "$tmp/n2"
runuser -u postgres -- "$BIN/pg_basebackup" -D "$tmp/n2" -h /var/run/postgresql -p "$port1" -U postgres \
	-X stream -c fast >"$tmp/log/clone.log" 2>&1 || { cat "$tmp/log/clone.log"; echo "not ok - clone n2"; exit 1; }
cat >"$tmp/n2/pgconverge.conf" <<EOF
port = $port2
listen_addresses = ''
unix_socket_directories = '/var/run/postgresql'
shared_buffers = '32MB'
primary_conninfo = 'host=/var/run/postgresql port=$port1 user=postgres application_name=n2'
EOF
touch "$tmp/n2/standby.signal"
chown postgres:postgres "$tmp/n2/pgconverge.conf" "$tmp/n2/standby.signal"
pid2=$(start "$tmp/n2" "$port2" n2) || { echo "not ok - start n2"; exit 1; }
pids="$pids $pid2"
for _ in $(seq 1 300); do
	[ "$(sql "$port2" "SELECT status FROM pg_stat_wal_receiver")" = streaming ] && break
	sleep 0.1
done

cat >"$tmp/topology.yaml" <<EOF
version: 1
clusters:
  bk:
    os_user: postgres
    primary: n1
    nodes:
      n1: {host: 127.0.0.1, port: $port1, data_dir: $tmp/n1}
      n2: {host: 127.0.0.1, port: $port2, data_dir: $tmp/n2}
    databases:
      app: {}
    backup:
      repository: $repo
      wal_archive: true
      base: {keep: 1}
      logical: {keep: 1, databases: [app]}
  down:
    nodes:
      d1: {host: 127.0.0.1, port: $port3, data_dir: $tmp/d1}
    backup: {repository: $tmp/repo-down}
EOF

# backup ARGS... - runs pgconverge backup; sets $rc, $out, $err.
backup() {
	"$bin" backup -f "$tmp/topology.yaml" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}

# --- first base backup: from the replica ------------------------------------
backup --cluster bk
if [ "$rc" = 0 ] && echo "$out" | grep -q "^base backup .* of cluster bk from node n2 (replica): .*, verified$"; then
	ok "backup takes a base backup from the streaming replica: $out"
else
	not_ok "first backup: exit $rc, stdout '$out', stderr '$err'"
fi
cat="$repo/catalog.json"
id1=$(jq -r '.base[0].id' "$cat")
check "the catalog records one base backup" '.format_version == 1 and (.base | length) == 1' "$cat"
check "the entry has the source, times, WAL range and size" \
	'.base[0] | .source_node == "n2" and .source_role == "replica" and .cluster == "bk"
	 and (.started_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$"))
	 and .finished_at >= .started_at and .timeline == 1
	 and (.start_lsn | test("^[0-9A-F]+/[0-9A-F]+$")) and (.stop_lsn | test("^[0-9A-F]+/[0-9A-F]+$"))
	 and (.start_wal | test("^00000001[0-9A-F]{16}$")) and .size_bytes > 1000000
	 and .wal_included and .wal_segment_size == 16777216 and .path == "base/" + .id
	 and (.system_identifier | test("^[0-9]+$"))' "$cat"
check "pg_verifybackup's result is recorded" '.base[0].verify.ok == true and .base[0].verify.message == "backup successfully verified"' "$cat"
if [[ $id1 =~ ^[0-9]{8}T[0-9]{6}Z$ ]] && [ -f "$repo/base/$id1/backup_manifest" ] && [ -z "$(ls "$repo/base" | grep partial)" ]; then
	ok "the backup is in base/$id1 with its manifest, nothing partial left"
else
	not_ok "backup folder for id '$id1': $(ls "$repo/base")"
fi
if runuser -u postgres -- "$BIN/pg_verifybackup" -q "$repo/base/$id1"; then
	ok "pg_verifybackup passes on it when run again"
else
	not_ok "pg_verifybackup on base/$id1"
fi
[ "$(stat -c '%U %a' "$repo/base/$id1")" = "postgres 700" ] && ok "the backup belongs to postgres, mode 700" \
	|| not_ok "backup owner/mode: $(stat -c '%U %a' "$repo/base/$id1")"

# The copy starts as a server holding the rows (it carries its WAL: -X stream).
cp -a "$repo/base/$id1" "$tmp/restored"
pid3=$(start "$tmp/restored" "$port3" restored "-p $port3 -c archive_mode=off") || not_ok "start the restored copy"
pids="$pids $pid3"
rows=$(sql "$port3" "SELECT count(*) FROM t" app)
[ "$rows" = 10000 ] && ok "the base backup starts as a server with the 10000 rows" || not_ok "restored copy has '$rows' rows"
stop_pid "$pid3"

# --- more WAL, then a second backup: retention keep 1 ------------------------
# Things outside the layout, which retention must never touch.
install -d -o postgres -g postgres -m 700 "$repo/base/keepme" "$repo/wal/00000001"
echo hello >"$repo/base/keepme/notes.txt"
echo hello >"$repo/wal/00000001/notes.txt"
for _ in 1 2 3; do
	sql "$port1" "INSERT INTO t SELECT g, 'x' FROM generate_series(1, 1000) g; SELECT pg_switch_wal()" app >/dev/null
done
n_arch=$(sql "$port1" "SELECT archived_count FROM pg_stat_archiver")
for _ in $(seq 1 300); do
	[ "$(sql "$port1" "SELECT last_archived_wal = pg_walfile_name(pg_current_wal_lsn() - 1) FROM pg_stat_archiver")" = t ] && break
	sleep 0.1
done
# A backup from a standby starts at its last restartpoint, which follows the
# primary's checkpoints: checkpoint, and let the replica replay it.
sql "$port1" "CHECKPOINT" >/dev/null
target=$(sql "$port1" "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 300); do
	[ "$(sql "$port2" "SELECT pg_last_wal_replay_lsn() >= '$target'")" = t ] && break
	sleep 0.1
done
before=$(ls "$repo/wal/00000001" | grep -c '^00000001[0-9A-F]\{16\}\(\.[0-9A-F]\{8\}\.backup\)\?\(\.gz\|\.zst\)\?$')
sleep 1
backup --cluster bk
id2=$(jq -r '.base[-1].id' "$cat")
if [ "$rc" = 0 ] && echo "$out" | grep -qx "retention: removed base backup $id1"; then
	ok "a second backup with keep 1 removes the first ($id1)"
else
	not_ok "second backup: exit $rc, stdout '$out', stderr '$err'"
fi
check "the catalog holds only the second backup" "(.base | length) == 1 and .base[0].id == \"$id2\"" "$cat"
[ ! -e "$repo/base/$id1" ] && [ -d "$repo/base/$id2" ] && ok "base/$id1 is gone, base/$id2 is there" \
	|| not_ok "backup folders: $(ls "$repo/base")"
start_wal=$(jq -r '.base[0].start_wal' "$cat")
old=""
kept=0
for f in $(ls "$repo/wal/00000001" | grep '^00000001[0-9A-F]\{16\}'); do
	seg=${f:0:24}
	if [[ $seg < $start_wal ]]; then old="$old $f"; else kept=$((kept + 1)); fi
done
after=$(ls "$repo/wal/00000001" | grep -c '^00000001[0-9A-F]\{16\}\(\.[0-9A-F]\{8\}\.backup\)\?\(\.gz\|\.zst\)\?$')
if [ -z "$old" ] && [ "$after" -lt "$before" ] && echo "$out" | grep -q "^retention: removed [0-9]* archived WAL file"; then
	ok "archived WAL before $start_wal is removed ($before files before, $after after, $kept kept)"
else
	not_ok "WAL retention: left before $start_wal:$old; $before before, $after after; stdout '$out'"
fi
orphans=$(ls "$repo/wal/00000001" | grep '\.sha256$' | while read -r s; do
	s=${s%.sha256}
	[ -e "$repo/wal/00000001/$s" ] || [ -e "$repo/wal/00000001/$s.gz" ] || [ -e "$repo/wal/00000001/$s.zst" ] || echo "$s"
done)
[ -z "$orphans" ] && ok "every remaining checksum file has its segment" \
	|| not_ok "checksum files without segments remain: $orphans ($(ls "$repo/wal/00000001" | tr '\n' ' '))"
[ -f "$repo/base/keepme/notes.txt" ] && [ -f "$repo/wal/00000001/notes.txt" ] \
	&& ok "files outside the layout are never deleted" || not_ok "retention deleted a stranger's file"

# --- logical backups ------------------------------------------------------------
backup --cluster bk --logical
lid1=$(jq -r '.logical[0].id' "$cat")
if [ "$rc" = 0 ] && echo "$out" | grep -q "^dump of database app: .*, checked$" && echo "$out" | grep -q "^globals of the cluster: .*, checked$"; then
	ok "backup --logical dumps the database and the globals"
else
	not_ok "logical backup: exit $rc, stdout '$out', stderr '$err'"
fi
check "the dumps are in the catalog, checked, from the primary" \
	"[.logical[] | select(.id == \"$lid1\")] | length == 2 and all(.[]; .verify.ok and .source_node == \"n1\")
	 and (map(.kind) | sort) == [\"dump\", \"globals\"] and (map(.path) | sort) == [\"logical/$lid1/app.dump\", \"logical/$lid1/globals.sql\"]" "$cat"
if runuser -u postgres -- "$BIN/pg_restore" --list "$repo/logical/$lid1/app.dump" | grep -q "TABLE public t postgres"; then
	ok "pg_restore --list reads the dump"
else
	not_ok "pg_restore --list on logical/$lid1/app.dump"
fi
grep -q "CREATE ROLE appuser" "$repo/logical/$lid1/globals.sql" && ok "globals.sql has the roles" || not_ok "globals.sql lacks role appuser"
sql "$port1" "CREATE DATABASE app_restored" >/dev/null
runuser -u postgres -- "$BIN/pg_restore" -h /var/run/postgresql -p "$port1" -U postgres -d app_restored \
	"$repo/logical/$lid1/app.dump" 2>"$tmp/restore.err"
rows=$(sql "$port1" "SELECT count(*) FROM t" app_restored)
orig=$(sql "$port1" "SELECT count(*) FROM t" app)
[ "$rows" = "$orig" ] && ok "the dump restores into a fresh database with the same $rows rows" \
	|| not_ok "restored rows '$rows', original '$orig': $(cat "$tmp/restore.err")"

sleep 1
backup --cluster bk --logical
lid2=$(jq -r '.logical[-1].id' "$cat")
if [ "$rc" = 0 ] && [ "$lid2" != "$lid1" ] && [ ! -e "$repo/logical/$lid1" ] && [ -f "$repo/logical/$lid2/app.dump" ] \
	&& echo "$out" | grep -qx "retention: removed logical/$lid1/app.dump"; then
	ok "a second logical backup with keep 1 removes the first run's dumps and folder"
else
	not_ok "second logical backup: exit $rc, stdout '$out', folders $(ls "$repo/logical")"
fi
check "the catalog holds the second run's two dumps and the base backup" \
	"(.logical | length) == 2 and all(.logical[]; .id == \"$lid2\") and (.base | length) == 1" "$cat"

# --- refusals ------------------------------------------------------------------
backup --cluster down
if [ "$rc" = 1 ] && echo "$err" | grep -q 'cannot back up cluster "down": no node of cluster "down" on this machine is reachable'; then
	ok "a cluster that is down is refused with the reason"
else
	not_ok "backup of a down cluster: exit $rc, stderr '$err'"
fi
[ ! -e "$tmp/repo-down" ] && ok "and its repository is not created" || not_ok "repository of the down cluster was created"

echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
