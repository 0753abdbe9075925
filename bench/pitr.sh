#!/usr/bin/env bash
# bench/pitr.sh - time of a point-in-time restore of a small cluster:
# `pgconverge apply` of a cluster with bootstrap.from_backup, against the
# bare steps with the same wal-fetch, measured in the same run.
#
#   bash bench/pitr.sh               (as root; BENCH_REPS=N, default 3)
#
# The source: one node brought up by `pgconverge apply` with backup:
# {wal_archive: true, base: {every: 24h}} (so apply takes its base backup),
# then about 4 segments of rows, a time T, more rows, the WAL switched and
# archived. Each repetition then restores to target_time T, in alternating
# order, on fresh folders and ports:
#
#   - `pgconverge apply -f topology.yaml`, the topology holding only the
#     restored cluster (one node, shared_buffers 32MB);
#   - the bare script, as postgres: `cp -a` of the same base backup, the
#     same settings appended to postgresql.conf (port, archive_mode = off,
#     restore_command = 'pgconverge wal-fetch ...', recovery_target_time,
#     recovery_target_action = promote, recovery_target_timeline = latest),
#     recovery.signal, `pg_ctl start -w`, then a psql poll every 50 ms until
#     pg_is_in_recovery() is false.
#
# Both clocks stop when the restored server answers pg_is_in_recovery() =
# false after its command ends. Prints every repetition, the medians, the
# ratio (target <= 1.1), the bare steps and pgconverge's actions (from its
# journal). Every server is stopped by the pid in its postmaster.pid when
# the script ends, whatever the reason.
set -u

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
reps=${BENCH_REPS:-3}
target=1.1

bench_start pitr
# The servers run restore_command, and so wal-fetch, as postgres.
runuser -u postgres -- test -x "$PGC" || { echo "pitr: postgres cannot execute $PGC"; exit 1; }

sql() { runuser -u postgres -- "$BENCH_PG_BIN/psql" -X -At -q -h "$BENCH_SOCKET_DIR" -p "$1" -d postgres -c "$2" 2>/dev/null; }

bench_ports $((1 + reps * 2)) || exit 1
if [ ! -d "$BENCH_SOCKET_DIR" ]; then
	install -d -o postgres -g postgres -m 2775 "$BENCH_SOCKET_DIR" || exit 1
fi

# --- the source: a cluster, its base backup, rows, the archive ------------------
repo=$tmp/repo pm=${ports[0]}
mkdir -p "$tmp/src" && chmod 755 "$tmp/src"
cat >"$tmp/src/topology.yaml" <<EOF
version: 1
clusters:
  main:
    primary: m1
    nodes:
      m1: {host: 127.0.0.1, port: $pm, data_dir: $tmp/src/m1}
    settings: {shared_buffers: 32MB}
    backup:
      repository: $repo
      wal_archive: true
      base: {every: 24h, keep: 2}
EOF
echo "== pitr: restore of a small cluster to a target_time ($reps repetitions)"
t0=$(bench_now_us)
if ! bench_run_child "$PGC" apply -f "$tmp/src/topology.yaml" >"$tmp/src/apply.out" 2>"$tmp/src/apply.err"; then
	echo "pitr: the source's apply failed:"
	tail -n 20 "$tmp/src/apply.out" "$tmp/src/apply.err"
	exit 1
fi
backup_id=$(jq -r '.base[0].id' "$repo/catalog.json")
[ -d "$repo/base/$backup_id" ] || { echo "pitr: no base backup in $repo"; exit 1; }
sql "$pm" "CREATE TABLE t (id bigint PRIMARY KEY, k text, at timestamptz DEFAULT clock_timestamp())" || exit 1
sql "$pm" "INSERT INTO t (id, k) SELECT g, md5(g::text) FROM generate_series(1, 400000) g" || exit 1
sleep 1.1
T=$(sql "$pm" "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
sleep 1.1
sql "$pm" "INSERT INTO t (id, k) SELECT g, md5(g::text) FROM generate_series(400001, 401000) g" || exit 1
last=$(sql "$pm" "SELECT pg_walfile_name(pg_switch_wal())")
for _ in $(seq 1 600); do
	[ "$(sql "$pm" "SELECT last_archived_wal FROM pg_stat_archiver")" = "$last" ] && break
	sleep 0.1
done
[ "$(sql "$pm" "SELECT last_archived_wal FROM pg_stat_archiver")" = "$last" ] || { echo "pitr: $last was not archived"; exit 1; }
bench_stop_servers "$tmp/src"
nwal=$(find "$repo/wal" -name '0000000*' ! -name '*.sha256' | wc -l)
printf '   (source set up by pgconverge apply in %.1f s: base backup %s, %d MB; %d archived WAL files up to %s; target_time %s)\n' \
	"$(awk -v us=$(($(bench_now_us) - t0)) 'BEGIN { print us / 1e6 }')" "$backup_id" \
	$(($(du -sk "$repo/base/$backup_id" | cut -f1) / 1024)) "$nwal" "$last" "$T"

# The baseline: the bare steps, run as postgres; each step's milliseconds on stderr.
cat >"$tmp/bare.sh" <<'EOF'
#!/usr/bin/env bash
# bare.sh BACKUP DATA PORT REPO PGC T - restore BACKUP into DATA to target_time T.
set -eu
bin=/usr/lib/postgresql/15/bin
b=$1 d=$2 p=$3 repo=$4 pgc=$5 T=$6
t=${EPOCHREALTIME/./}
step() {
	local now=${EPOCHREALTIME/./}
	echo "$1 $(((now - t) / 1000))" >&2
	t=$now
}
cp -a "$b" "$d"
chmod 700 "$d"
step copy
cat >>"$d/postgresql.conf" <<CONF
port = $p
listen_addresses = '127.0.0.1'
unix_socket_directories = '/var/run/postgresql'
shared_buffers = 32MB
archive_mode = off
restore_command = '$pgc wal-fetch --repository $repo %f %p'
recovery_target_time = '$T'
recovery_target_action = 'promote'
recovery_target_timeline = 'latest'
CONF
touch "$d/recovery.signal"
step settings
"$bin/pg_ctl" start -w -D "$d" -l "$d.log" >/dev/null
step start
for _ in $(seq 1 2400); do
	r=$("$bin/psql" -X -At -h /var/run/postgresql -p "$p" -d postgres -c 'select pg_is_in_recovery()' 2>/dev/null || true)
	[ "$r" = f ] && break
	sleep 0.05
done
[ "$r" = f ]
step promoted
EOF

# promoted PORT - the server on PORT answers and is out of recovery.
promoted() { [ "$(sql "$1" "select pg_is_in_recovery()")" = f ]; }

# run_bare R - repetition R of the bare steps; sets elapsed to the
# microseconds to a promoted server.
run_bare() {
	local d=$tmp/bare$1 port=${ports[2 + $1 * 2]}
	install -d -o postgres -g postgres -m 755 "$d"
	bench_time promoted "$port" runuser -u postgres -- bash "$tmp/bare.sh" "$repo/base/$backup_id" "$d/data" "$port" \
		"$repo" "$PGC" "$T" 2>"$d.steps" >"$d.out" || {
		echo "pitr: the bare script failed (exit $rc):"
		tail -n 20 "$d.out" "$d.steps" "$d/data.log" 2>/dev/null
		return 1
	}
	[ "$(sql "$port" "select count(*) from t")" = 400000 ] || { echo "pitr: the bare restore does not hold the 400000 rows before T"; return 1; }
	bench_stop_servers "$d" && rm -rf "$d"
}

# run_pgc R - the same with `pgconverge apply`; the journal stays for the report.
run_pgc() {
	local d=$tmp/pgc$1 port=${ports[1 + $1 * 2]}
	mkdir -p "$d"
	chmod 755 "$d"
	cat >"$d/topology.yaml" <<EOF
version: 1
clusters:
  restored$1:
    bootstrap:
      from_backup: {repository: $repo, target_time: "$T"}
    primary: x1
    nodes:
      x1: {host: 127.0.0.1, port: $port, data_dir: $d/data}
    settings: {shared_buffers: 32MB}
EOF
	bench_time promoted "$port" "$PGC" apply -v -f "$d/topology.yaml" >"$d/apply.out" 2>"$d/apply.err" || {
		echo "pitr: pgconverge apply failed (exit $rc):"
		grep -v ' debug: ' "$d/apply.err" | tail -n 20
		return 1
	}
	[ "$(sql "$port" "select count(*) from t")" = 400000 ] || { echo "pitr: the pgconverge restore does not hold the 400000 rows before T"; return 1; }
	bench_stop_servers "$d" && rm -rf "$d/data"
}

# The journal's actions run one after another: the rest is "other".
bench_paired "$reps" "bare steps" "$target" sum || exit 1
