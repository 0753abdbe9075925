#!/bin/bash
# tests/integration/test_wal.sh - `pgconverge wal-push` as a real server's
# archive_command and `wal-fetch` as restore_command: segments archived
# after pg_switch_wal() come back byte-identical (plain and zstd), a
# missing segment exits 1, a damaged one exits 200, a second cluster
# archiving into the same repository is refused and shows in
# pg_stat_archiver, a killed wal-push leaves no visible partial file, and
# a copy of the executable alone (no core library) pushes and fetches.
#
# Runs as root; the servers run as postgres (runuser). Uses
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

for tool in ss runuser cmp zstd; do
	command -v "$tool" >/dev/null || { echo "not ok - \"$tool\" is needed"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "not ok - runs as root (servers start as postgres)"; exit 1; }
runuser -u postgres -- test -x "$bin" || { echo "not ok - postgres cannot execute $bin"; exit 1; }

tmp=$(mktemp -d /tmp/pgc-wal.XXXXXX)
chmod 755 "$tmp"
pids=""
bgpid=""

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
	[ -n "$bgpid" ] && kill -KILL "$bgpid" 2>/dev/null
	for p in $pids; do stop_pid "$p"; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		if ! ss -ltnH "sport = :$p" | grep -q . && [ ! -e "$tmp/sock/.s.PGSQL.$p" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

repo="$tmp/repo"
install -d -o postgres -g postgres -m 700 "$repo"
install -d -o postgres -g postgres -m 755 "$tmp/log" "$tmp/sock"

# server NAME PORT ARCHIVE_COMMAND - initdb and start; echoes the postmaster pid.
server() {
	local data="$tmp/$1"
	install -d -o postgres -g postgres -m 700 "$data"
	runuser -u postgres -- "$BIN/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 \
		>"$tmp/log/$1-initdb.log" 2>&1 || { cat "$tmp/log/$1-initdb.log" >&2; return 1; }
	cat >>"$data/postgresql.conf" <<EOF
port = $2
listen_addresses = ''
unix_socket_directories = '$tmp/sock'
shared_buffers = '32MB'
wal_level = replica
archive_mode = on
archive_command = '$3'
EOF
	runuser -u postgres -- "$BIN/pg_ctl" -D "$data" -l "$tmp/log/$1.log" -w -t 60 start \
		>"$tmp/log/$1-ctl.log" 2>&1 || { cat "$tmp/log/$1-ctl.log" "$tmp/log/$1.log" >&2; return 1; }
	head -1 "$data/postmaster.pid"
}

sql() { runuser -u postgres -- "$BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$tmp/sock" -p "$1" -U postgres -d postgres -c "$2"; }

# wait_archived PORT N - until pg_stat_archiver counts N archived files (30 s at most).
wait_archived() {
	for _ in $(seq 1 300); do
		[ "$(sql "$1" 'SELECT archived_count FROM pg_stat_archiver')" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# fetch NAME DEST - wal-fetch as postgres; sets $rc.
fetch() {
	runuser -u postgres -- "$bin" wal-fetch --repository "$repo" "$1" "$2" 2>"$tmp/fetch.err"
	rc=$?
}

port=$(free_port) || { echo "not ok - no free port"; exit 1; }
pid=$(server pg1 "$port" "$bin wal-push --repository $repo %p %f") || { echo "not ok - start pg1"; exit 1; }
pids="$pid"
data="$tmp/pg1"
install -d -o postgres -g postgres -m 700 "$tmp/fetched"

# --- archive plain segments ------------------------------------------------
sql "$port" "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g" >/dev/null
for _ in 1 2 3; do
	sql "$port" "INSERT INTO t SELECT g, 'x' FROM generate_series(1, 1000) g; SELECT pg_switch_wal()" >/dev/null
done
if wait_archived "$port" 3; then ok "the server archives through wal-push"; else
	not_ok "the server archives through wal-push (archiver: $(sql "$port" 'SELECT * FROM pg_stat_archiver'))"
	tail -20 "$tmp/log/pg1.log" >&2
fi

archived=$(cd "$data/pg_wal/archive_status" && ls ./*.done 2>/dev/null | sed 's|^\./||;s|\.done$||' | grep -v history)
n_same=0
n_diff=0
for seg in $archived; do
	[ -f "$data/pg_wal/$seg" ] || continue
	[ -f "$repo/wal/00000001/$seg" ] && [ -f "$repo/wal/00000001/$seg.sha256" ] || { n_diff=$((n_diff + 1)); continue; }
	fetch "$seg" "$tmp/fetched/$seg"
	if [ "$rc" = 0 ] && cmp -s "$data/pg_wal/$seg" "$tmp/fetched/$seg"; then n_same=$((n_same + 1)); else n_diff=$((n_diff + 1)); fi
done
if [ "$n_same" -ge 3 ] && [ "$n_diff" = 0 ]; then ok "wal-fetch returns $n_same archived segments byte-identical"; else
	not_ok "wal-fetch byte-identical: $n_same same, $n_diff different or missing"
fi

first=$(echo "$archived" | head -1)
line=$(cat "$repo/wal/00000001/$first.sha256")
expected=$(sha256sum "$data/pg_wal/$first" | cut -d' ' -f1)
if [ "$line" = "$expected  $first" ]; then ok "the checksum file is sha256sum's line for the segment"; else
	not_ok "checksum file: '$line', expected '$expected  $first'"
fi
mode=$(stat -c '%U %a' "$repo/wal/00000001/$first")
[ "$mode" = "postgres 600" ] && ok "archived files belong to postgres, mode 600" || not_ok "archived file owner/mode: $mode"

# --- not found, damaged, repeated and conflicting pushes --------------------
fetch 0000000100000000000000FE "$tmp/fetched/RECOVERYXLOG"
if [ "$rc" = 1 ] && [ ! -e "$tmp/fetched/RECOVERYXLOG" ] && [ ! -s "$tmp/fetch.err" ]; then
	ok "a segment not in the archive exits 1, quietly, writing nothing"
else
	not_ok "missing segment: exit $rc, stderr $(cat "$tmp/fetch.err")"
fi
fetch 00000005.history "$tmp/fetched/RECOVERYHISTORY"
[ "$rc" = 1 ] && ok "a history file not in the archive exits 1" || not_ok "missing history: exit $rc"

runuser -u postgres -- "$bin" wal-fetch --repository "$tmp/no-repo" "$first" "$tmp/fetched/x" 2>"$tmp/fetch.err"
rc=$?
if [ "$rc" = 200 ] && grep -q "is not accessible" "$tmp/fetch.err"; then
	ok "a missing repository exits 200 (recovery stops instead of ending early)"
else
	not_ok "missing repository: exit $rc, stderr $(cat "$tmp/fetch.err")"
fi

# Same content again (PostgreSQL retries): exit 0, from the data directory like the archiver.
(cd "$data" && runuser -u postgres -- "$bin" wal-push --repository "$repo" "pg_wal/$first" "$first" \
	>"$tmp/push.out" 2>"$tmp/push.err")
rc=$?
if [ "$rc" = 0 ] && grep -q "already archived with the same content" "$tmp/push.err"; then
	ok "pushing an archived segment again with the same content succeeds"
else
	not_ok "re-push same content: exit $rc, stderr $(cat "$tmp/push.err")"
fi
before=$(sha256sum <"$repo/wal/00000001/$first")
head -c 16777216 /dev/urandom >"$tmp/other-seg"
chown postgres "$tmp/other-seg"
runuser -u postgres -- "$bin" wal-push --repository "$repo" "$tmp/other-seg" "$first" 2>"$tmp/push.err"
rc=$?
after=$(sha256sum <"$repo/wal/00000001/$first")
if [ "$rc" = 1 ] && grep -q "is already archived with different content" "$tmp/push.err" && [ "$before" = "$after" ]; then
	ok "a different segment under an archived name fails loudly and changes nothing"
else
	not_ok "re-push different content: exit $rc, stderr $(cat "$tmp/push.err")"
fi

# Damage an archived copy: the fetch must fail hard (200), not look like the archive's end.
second=$(echo "$archived" | sed -n 2p)
cp -p "$repo/wal/00000001/$second" "$tmp/saved-seg"
printf 'X' | dd of="$repo/wal/00000001/$second" bs=1 seek=8192 conv=notrunc status=none
fetch "$second" "$tmp/fetched/RECOVERYXLOG"
if [ "$rc" = 200 ] && grep -q "does not match its checksum" "$tmp/fetch.err" && [ ! -e "$tmp/fetched/RECOVERYXLOG" ]; then
	ok "a damaged archived segment exits 200 with a checksum error"
else
	not_ok "damaged segment: exit $rc, stderr $(cat "$tmp/fetch.err")"
fi
cp -p "$tmp/saved-seg" "$repo/wal/00000001/$second"

# --- compression: switch archive_command to zstd -------------------------------
sql "$port" "ALTER SYSTEM SET archive_command = '$bin wal-push --repository $repo --compress zstd %p %f'" >/dev/null
sql "$port" "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
count=$(sql "$port" 'SELECT archived_count FROM pg_stat_archiver')
sql "$port" "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 50000) g; SELECT pg_switch_wal()" >/dev/null
wait_archived "$port" $((count + 1))
zseg=$(sql "$port" "SELECT last_archived_wal FROM pg_stat_archiver")
if [ -f "$repo/wal/00000001/$zseg.zst" ] && zstd -q -t "$repo/wal/00000001/$zseg.zst"; then
	ok "with --compress zstd the segment is stored as a zstd file ($(stat -c %s "$repo/wal/00000001/$zseg.zst") bytes)"
else
	not_ok "zstd segment $zseg not found as .zst"
fi
fetch "$zseg" "$tmp/fetched/$zseg"
if [ "$rc" = 0 ] && cmp -s "$data/pg_wal/$zseg" "$tmp/fetched/$zseg"; then
	ok "a zstd-archived segment comes back byte-identical"
else
	not_ok "zstd round trip of $zseg: exit $rc"
fi

# --- a second cluster archiving into the same repository ---------------------
port2=$(free_port) || { echo "not ok - no free port"; exit 1; }
pid2=$(server pg2 "$port2" "$bin wal-push --repository $repo %p %f") || { echo "not ok - start pg2"; exit 1; }
pids="$pids $pid2"
sql "$port2" "SELECT pg_switch_wal()" >/dev/null
sql "$port2" "CREATE TABLE u(i int); SELECT pg_switch_wal()" >/dev/null
for _ in $(seq 1 100); do
	[ "$(sql "$port2" 'SELECT failed_count FROM pg_stat_archiver')" -gt 0 ] && break
	sleep 0.1
done
st=$(sql "$port2" "SELECT failed_count > 0, last_failed_wal IS NOT NULL, archived_count FROM pg_stat_archiver")
if [ "$st" = "t|t|0" ] && grep -q "is already archived with different content" "$tmp/log/pg2.log"; then
	ok "a second cluster on the same repository is refused: pg_stat_archiver and the server log show it"
else
	not_ok "second cluster: pg_stat_archiver $st"
fi

# walarchive_archiver_status(), what `status` shows, on both servers.
cat >"$tmp/archiver_probe.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include "reconcile/pg/pgsql.h"
#include "reconcile/backup/walarchive_status.h"
int main(int argc, char **argv)
{
	PgcArena *a = arena_new();
	PgcArchiverStatus st;
	char err[512] = "usage: archiver_probe SOCKET_DIR PORT";
	PGconn *c = argc < 3 ? NULL
			     : pgsql_connect(pgsql_conninfo_socket(a, argv[1], atoi(argv[2]), "postgres", NULL),
					     0, err, sizeof(err));

	if (c == NULL || walarchive_archiver_status(a, c, 0, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("mode=%s archived=%lld failed=%lld failing=%d last_failed=%s ready=%lld age_known=%d\n",
	       st.archive_mode, (long long)st.archived_count, (long long)st.failed_count, st.failing,
	       st.last_failed_wal ? st.last_failed_wal : "-", (long long)st.ready_count,
	       st.last_archived_age_s >= 0);
	PQfinish(c);
	arena_free(a);
	return 0;
}
EOF
PKGS="yaml-0.1 libpq libgit2 jansson libcrypto zlib libzstd"
# shellcheck disable=SC2046,SC2086
if make -s build/libpgconverge.a >"$tmp/make.log" 2>&1 &&
	${CC:-cc} -std=c11 -D_GNU_SOURCE ${SAN:-} -I. -Ibuild/gen $(pkg-config --cflags $PKGS) -o "$tmp/archiver_probe" \
		"$tmp/archiver_probe.c" build/libpgconverge.a $(pkg-config --libs $PKGS) -lm -lpthread; then
	st2=$(runuser -u postgres -- "$tmp/archiver_probe" "$tmp/sock" "$port2")
	if [[ $st2 =~ ^mode=on\ archived=0\ failed=[1-9][0-9]*\ failing=1\ last_failed=00000001[0-9A-F]{16}\ ready=[1-9][0-9]*\ age_known=0$ ]]; then
		ok "archiver status of the refused cluster: failing, with segments waiting ($st2)"
	else
		not_ok "archiver status of the refused cluster: '$st2'"
	fi
	st1=$(runuser -u postgres -- "$tmp/archiver_probe" "$tmp/sock" "$port")
	if [[ $st1 =~ ^mode=on\ archived=[1-9][0-9]*\ failed=0\ failing=0\ last_failed=-\ ready=0\ age_known=1$ ]]; then
		ok "archiver status of the healthy cluster: nothing failing, nothing waiting ($st1)"
	else
		not_ok "archiver status of the healthy cluster: '$st1'"
	fi
else
	cat "$tmp/make.log" >&2
	not_ok "build the archiver status probe"
fi
stop_pid "$pid2"

# --- a killed wal-push leaves no partial file visible -------------------------
# Killed while it writes the data file (its hidden temp file exists): the
# archive shows nothing under the segment's name.
big="$tmp/000000090000000000000001"
head -c 536870912 /dev/urandom >"$big"
"$bin" wal-push --repository "$repo" "$big" 000000090000000000000001 2>/dev/null &
bgpid=$!
caught=""
for _ in $(seq 1 3000); do
	if ls -a "$repo/wal/00000009" 2>/dev/null | grep -q '^\.000000090000000000000001\.tmp\.'; then
		kill -KILL "$bgpid" 2>/dev/null && caught=yes
		break
	fi
	kill -0 "$bgpid" 2>/dev/null || break
	sleep 0.01
done
wait "$bgpid" 2>/dev/null
bgpid=""
visible=$(ls "$repo/wal/00000009" 2>/dev/null | grep -v '\.sha256$')
if [ -n "$caught" ] && [ -z "$visible" ]; then
	ok "a wal-push killed while writing leaves no visible data file"
else
	not_ok "killed wal-push: caught mid-write '$caught', visible files '$visible'"
fi
fetch 000000090000000000000001 "$tmp/fetched/RECOVERYXLOG"
[ "$rc" = 1 ] && ok "after a killed push the segment reads as not archived" || not_ok "after killed push: exit $rc"
(cd "$tmp" && "$bin" wal-push --repository "$repo" "$big" 000000090000000000000001 2>/dev/null)
fetch 000000090000000000000001 "$tmp/fetched/RECOVERYXLOG"
if [ "$rc" = 0 ] && cmp -s "$big" "$tmp/fetched/RECOVERYXLOG"; then
	ok "the next push of that segment archives it whole"
else
	not_ok "push after a killed push: fetch exit $rc"
fi

# --- the executable alone runs wal-push and wal-fetch --------------------------
# PostgreSQL starts one archive_command per segment: the pgconverge executable
# runs these two itself, linked without libpq or libgit2, and loads
# pgconverge-core.so only for the other commands.
if ldd "$bin" | grep -Eq 'libpq|libgit2|libyaml|libjansson'; then
	not_ok "the executable links only what wal-push needs: $(ldd "$bin" | grep -Eo 'lib(pq|git2|yaml|jansson)[^ ]*' | tr '\n' ' ')"
else
	ok "the executable links no libpq, libgit2, libyaml or jansson"
fi
install -d -m 755 "$tmp/alone"
install -d -m 700 "$tmp/alone-repo"
cp "$bin" "$tmp/alone/pgconverge"
seg42="$tmp/alone/000000010000000000000042"
head -c 1048577 /dev/urandom >"$seg42"
if "$tmp/alone/pgconverge" wal-push --repository="$tmp/alone-repo" --compress zstd "$seg42" \
	000000010000000000000042 2>"$tmp/alone/err" &&
	"$tmp/alone/pgconverge" wal-fetch --repository "$tmp/alone-repo" 000000010000000000000042 \
		"$tmp/alone/back" 2>>"$tmp/alone/err" && cmp -s "$seg42" "$tmp/alone/back"; then
	ok "a copy of the executable alone pushes and fetches a segment"
else
	not_ok "executable alone: push/fetch failed: $(cat "$tmp/alone/err")"
fi
out=$("$tmp/alone/pgconverge" wal-push --repository "$tmp/alone-repo" "$seg42" 000000010000000000000042 2>&1)
rc=$?
out2=$("$bin" wal-push -v --repository "$tmp/alone-repo" "$seg42" 000000010000000000000042 2>&1)
rc2=$?
if [ "$rc" = 0 ] && [ "$rc2" = 0 ] && [[ $out == *'info: WAL file "000000010000000000000042" was already archived with the same content' ]] &&
	[[ $out2 == *'info: WAL file "000000010000000000000042" was already archived with the same content'* ]]; then
	ok "a repeated push says so, on the fast path and through the core (-v)"
else
	not_ok "repeated push: fast path exit $rc '$out', core exit $rc2 '$out2'"
fi
out=$("$tmp/alone/pgconverge" validate -f "$tmp/none.yaml" 2>&1)
rc=$?
if [ "$rc" = 1 ] && [[ $out == *'cannot find pgconverge-core.so in'* ]]; then
	ok "other commands of the executable alone say the core library is missing"
else
	not_ok "executable alone, validate: exit $rc '$out'"
fi

echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
