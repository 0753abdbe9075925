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

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
pgc=${PGC_BIN:-$top/pgconverge}
reps=${BENCH_REPS:-3}
pgbin=/usr/lib/postgresql/15/bin
sockdir=/var/run/postgresql
target=1.1

if [ "$(id -u)" != 0 ]; then
	echo "pitr: skipped: needs root (servers run as postgres)"
	exit 0
fi
if [ ! -x "$pgc" ]; then
	make -s pgconverge || exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pgc-bench-pitr.XXXXXX") || exit 1
chmod 755 "$tmp"
runuser -u postgres -- test -x "$pgc" || { echo "pitr: postgres cannot execute $pgc"; exit 1; }

# stop_servers [DIR] - every postmaster under DIR (default $tmp): INT (fast
# shutdown), a bounded wait, then KILL. A pid is signalled only when it is a
# postgres server process.
stop_servers() {
	local f pid pids="" alive
	for f in $(find "${1:-$tmp}" -name postmaster.pid 2>/dev/null | sort -r); do
		pid=$(head -n 1 "$f" 2>/dev/null)
		case $pid in '' | *[!0-9]*) continue ;; esac
		[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$pgbin/postgres" ] || continue
		kill -INT "$pid" 2>/dev/null && pids="$pids $pid"
	done
	for _ in $(seq 1 150); do
		alive=""
		for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
		pids=$alive
		[ -z "$pids" ] && return 0
		sleep 0.1
	done
	for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
}

# stop_helpers - programs still working in $tmp after their parent died
# (cp, pg_ctl, pg_verifybackup, the bare script): TERM by pid.
stop_helpers() {
	local d args
	for d in /proc/[0-9]*; do
		[ "${d#/proc/}" = $$ ] && continue
		mapfile -d '' args <"$d/cmdline" 2>/dev/null || continue
		case " ${args[*]} " in *" $tmp/"* | *"=$tmp/"*) ;; *) continue ;; esac
		[ "$(readlink "$d/exe" 2>/dev/null)" = "$pgbin/postgres" ] && continue
		kill -TERM "${d#/proc/}" 2>/dev/null
	done
}

child=""
run_child() {
	"$@" &
	child=$!
	wait "$child"
	local rc=$?
	child=""
	return $rc
}
cleanup() {
	trap - EXIT INT TERM HUP
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null
		for _ in $(seq 1 100); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
		stop_helpers
	fi
	stop_servers
	sleep 0.5 # a pg_ctl start cut short may still bring its server up
	stop_servers
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# pick_ports N - N loopback ports in 20000-31999 that nobody listens on and
# that have no socket or lock file in the socket folder.
pick_ports() {
	local want=$1 p tries=0 got=0 used
	used=" $(ss -Hltn | awk '{ n = split($4, a, ":"); printf "%s ", a[n] }')"
	p=$((20000 + RANDOM % 12000))
	while [ $got -lt "$want" ] && [ $tries -lt 12000 ]; do
		p=$((p + 1))
		[ $p -gt 31999 ] && p=20000
		tries=$((tries + 1))
		case $used in *" $p "*) continue ;; esac
		[ -e "$sockdir/.s.PGSQL.$p" ] || [ -e "$sockdir/.s.PGSQL.$p.lock" ] && continue
		echo "$p"
		got=$((got + 1))
	done
	[ $got -eq "$want" ]
}

now_us() { echo "${EPOCHREALTIME/./}"; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.0f", us / 1000 }'; }
sql() { runuser -u postgres -- "$pgbin/psql" -X -At -q -h "$sockdir" -p "$1" -d postgres -c "$2" 2>/dev/null; }

mapfile -t ports < <(pick_ports $((1 + reps * 2)))
if [ ${#ports[@]} -ne $((1 + reps * 2)) ]; then
	echo "pitr: no $((1 + reps * 2)) free ports in 20000-31999"
	exit 1
fi
if [ ! -d "$sockdir" ]; then
	install -d -o postgres -g postgres -m 2775 "$sockdir" || exit 1
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
t0=$(now_us)
if ! run_child "$pgc" apply -f "$tmp/src/topology.yaml" >"$tmp/src/apply.out" 2>"$tmp/src/apply.err"; then
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
stop_servers "$tmp/src"
nwal=$(find "$repo/wal" -name '0000000*' ! -name '*.sha256' | wc -l)
printf '   (source set up by pgconverge apply in %.1f s: base backup %s, %d MB; %d archived WAL files up to %s; target_time %s)\n' \
	"$(awk -v us=$(($(now_us) - t0)) 'BEGIN { print us / 1e6 }')" "$backup_id" \
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

# run_bare DIR PORT - sets elapsed to the microseconds to a promoted server.
run_bare() {
	local d=$1 t0 rc
	install -d -o postgres -g postgres -m 755 "$d"
	sync
	t0=$(now_us)
	run_child runuser -u postgres -- bash "$tmp/bare.sh" "$repo/base/$backup_id" "$d/data" "$2" "$repo" "$pgc" "$T" \
		2>"$d.steps" >"$d.out"
	rc=$?
	if [ $rc -ne 0 ] || ! promoted "$2"; then
		echo "pitr: the bare script failed (exit $rc):"
		tail -n 20 "$d.out" "$d.steps" "$d/data.log" 2>/dev/null
		return 1
	fi
	elapsed=$(($(now_us) - t0))
	[ "$(sql "$2" "select count(*) from t")" = 400000 ] || { echo "pitr: the bare restore does not hold the 400000 rows before T"; return 1; }
}

# run_pgc DIR PORT R - the same with `pgconverge apply`.
run_pgc() {
	local d=$1 t0 rc
	mkdir -p "$d"
	chmod 755 "$d"
	cat >"$d/topology.yaml" <<EOF
version: 1
clusters:
  restored$3:
    bootstrap:
      from_backup: {repository: $repo, target_time: "$T"}
    primary: x1
    nodes:
      x1: {host: 127.0.0.1, port: $2, data_dir: $d/data}
    settings: {shared_buffers: 32MB}
EOF
	sync
	t0=$(now_us)
	run_child "$pgc" apply -v -f "$d/topology.yaml" >"$d/apply.out" 2>"$d/apply.err"
	rc=$?
	if [ $rc -ne 0 ] || ! promoted "$2"; then
		echo "pitr: pgconverge apply failed (exit $rc):"
		grep -v ' debug: ' "$d/apply.err" | tail -n 20
		return 1
	fi
	elapsed=$(($(now_us) - t0))
	[ "$(sql "$2" "select count(*) from t")" = 400000 ] || { echo "pitr: the pgconverge restore does not hold the 400000 rows before T"; return 1; }
}

bare=() prod=() elapsed=0
for ((r = 0; r < reps; r++)); do
	pp=${ports[1 + r * 2]} pb=${ports[2 + r * 2]}
	if ((r % 2)); then
		run_pgc "$tmp/pgc$r" "$pp" "$r" || exit 1
		prod+=("$elapsed")
		stop_servers "$tmp/pgc$r" && rm -rf "$tmp/pgc$r/data"
		run_bare "$tmp/bare$r" "$pb" || exit 1
		bare+=("$elapsed")
		stop_servers "$tmp/bare$r" && rm -rf "$tmp/bare$r"
	else
		run_bare "$tmp/bare$r" "$pb" || exit 1
		bare+=("$elapsed")
		stop_servers "$tmp/bare$r" && rm -rf "$tmp/bare$r"
		run_pgc "$tmp/pgc$r" "$pp" "$r" || exit 1
		prod+=("$elapsed")
		stop_servers "$tmp/pgc$r" && rm -rf "$tmp/pgc$r/data"
	fi
	printf '   run %d: bare steps %6s ms   pgconverge apply %6s ms\n' $((r + 1)) "$(ms "${bare[r]}")" "$(ms "${prod[r]}")"
done
mb=$(printf '%s\n' "${bare[@]}" | median)
mp=$(printf '%s\n' "${prod[@]}" | median)
printf '   median: bare steps %6s ms   pgconverge apply %6s ms\n' "$(ms "$mb")" "$(ms "$mp")"
awk -v p="$mp" -v b="$mb" -v t="$target" 'BEGIN {
	r = p / b
	printf "   ratio apply/bare %.3f (target <= %s: %s)\n", r, t, (r <= t) ? "met" : "NOT met" }'

echo "   bare steps (ms):"
for ((r = 0; r < reps; r++)); do
	printf '     run %d: %s\n' $((r + 1)) "$(tr '\n' ' ' <"$tmp/bare$r.steps")"
done
echo "   pgconverge actions (ms, from the journal):"
for ((r = 0; r < reps; r++)); do
	printf '     run %d: %s\n' $((r + 1)) "$(awk -v total="${prod[r]}" '
		/"event":"end"/ {
			match($0, /"action":"[^"]*"/); a = substr($0, RSTART + 10, RLENGTH - 11)
			match($0, /"duration_ms":[0-9]+/); d = substr($0, RSTART + 14, RLENGTH - 14)
			sub(/^[^\/]*\//, "", a); sub(/:.*/, "", a)
			if (d + 0 >= 20) printf "%s %d ", a, d
			sum += d
		}
		END { printf "| other %d", total / 1000 - sum }' "$tmp/pgc$r/.pgconverge/journal.jsonl")"
done
