#!/usr/bin/env bash
# bench/bootstrap.sh - time from nothing to a primary and two streaming
# replicas: `pgconverge apply` against a bare shell script of the same steps
# (initdb, start, two pg_basebackup, start both), measured in the same run.
#
#   bash bench/bootstrap.sh          (as root; BENCH_REPS=N, default 3)
#
# Each repetition runs both, in alternating order, each on fresh folders and
# fresh loopback ports below 32000, with the same initdb options and a small
# shared_buffers. Both clocks stop when the primary's pg_stat_replication
# shows two streaming replicas (the same psql poll for both). Prints every
# repetition, the medians and the ratio (target <= 1.1), then where the
# time went: pgconverge's actions (from its journal) and the script's steps.
# Every server is stopped by the pid in its postmaster.pid when the script
# ends, whatever the reason.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
pgc=${PGC_BIN:-$top/pgconverge}
reps=${BENCH_REPS:-3}
pgbin=/usr/lib/postgresql/15/bin
sockdir=/var/run/postgresql
target=1.1

if [ "$(id -u)" != 0 ]; then
	echo "bootstrap: skipped: needs root (servers run as postgres)"
	exit 0
fi
if [ ! -x "$pgc" ]; then
	make -s pgconverge || exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pgc-bench-boot.XXXXXX") || exit 1
chmod 755 "$tmp"

# stop_servers [DIR] - every postmaster under DIR (default $tmp): INT (fast
# shutdown) to all, replicas first, a bounded wait, then KILL. A pid is
# signalled only when it is a postgres server process.
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
# (initdb, pg_basebackup, pg_ctl, the bare script): TERM by pid. Servers are
# left to stop_servers.
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

# Long commands run in the background (run_child) so that a signal stops
# the bench at once: the trap ends the child, its leftovers, then every server.
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

mapfile -t ports < <(pick_ports $((reps * 6)))
if [ ${#ports[@]} -ne $((reps * 6)) ]; then
	echo "bootstrap: no $((reps * 6)) free ports in 20000-31999"
	exit 1
fi
# The socket folder, as pgconverge would create it; the bare script needs it too.
if [ ! -d "$sockdir" ]; then
	install -d -o postgres -g postgres -m 2775 "$sockdir" || exit 1
fi

# The baseline: the bare steps, run as postgres. Prints each step's
# milliseconds on stderr (EPOCHREALTIME: no extra process).
cat >"$tmp/bare.sh" <<'EOF'
#!/usr/bin/env bash
# bare.sh DIR PORT1 PORT2 PORT3 - a primary and two streaming replicas.
set -eu
bin=/usr/lib/postgresql/15/bin
d=$1 p1=$2 p2=$3 p3=$4
t=${EPOCHREALTIME/./}
step() {
	local now=${EPOCHREALTIME/./}
	echo "$1 $(((now - t) / 1000))" >&2
	t=$now
}
"$bin/initdb" -D "$d/n1" -U postgres --encoding=UTF8 --locale=C.UTF-8 --data-checksums >/dev/null 2>&1
cat >>"$d/n1/postgresql.conf" <<CONF
port = $p1
listen_addresses = '127.0.0.1'
unix_socket_directories = '/var/run/postgresql'
shared_buffers = 16MB
max_connections = 20
CONF
step initdb
"$bin/pg_ctl" start -w -D "$d/n1" -l "$d/n1.log" >/dev/null
step start-primary
"$bin/pg_basebackup" -D "$d/n2" -h 127.0.0.1 -p "$p1" -U postgres -X stream -c fast -R -C -S n2
step pg_basebackup-n2
"$bin/pg_basebackup" -D "$d/n3" -h 127.0.0.1 -p "$p1" -U postgres -X stream -c fast -R -C -S n3
step pg_basebackup-n3
"$bin/pg_ctl" start -w -D "$d/n2" -o "-p $p2" -l "$d/n2.log" >/dev/null
step start-n2
"$bin/pg_ctl" start -w -D "$d/n3" -o "-p $p3" -l "$d/n3.log" >/dev/null
step start-n3
EOF

now_us() { echo "${EPOCHREALTIME/./}"; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.0f", us / 1000 }'; }

# wait_streaming PORT - until the primary on PORT has two streaming replicas (60 s).
wait_streaming() {
	local n
	for _ in $(seq 1 1200); do
		n=$(runuser -u postgres -- "$pgbin/psql" -X -At -h "$sockdir" -p "$1" -d postgres \
			-c "select count(*) from pg_stat_replication where state = 'streaming'" 2>/dev/null)
		[ "$n" = 2 ] && return 0
		sleep 0.05
	done
	return 1
}

# run_bare DIR P1 P2 P3 - sets elapsed to the microseconds to two streaming replicas.
run_bare() {
	local d=$1 t0 rc
	install -d -o postgres -g postgres -m 700 "$d"
	sync # start from clean page cache: both arms fsync what they write
	t0=$(now_us)
	run_child runuser -u postgres -- bash "$tmp/bare.sh" "$d" "$2" "$3" "$4" 2>"$d.steps" >"$d.out"
	rc=$?
	if [ $rc -ne 0 ] || ! wait_streaming "$2"; then
		echo "bootstrap: the bare script failed (exit $rc):"
		tail -n 20 "$d.out" "$d.steps" "$d"/n*.log 2>/dev/null
		return 1
	fi
	elapsed=$(($(now_us) - t0))
}

# run_pgc DIR P1 P2 P3 - the same with `pgconverge apply`.
run_pgc() {
	local d=$1 t0 rc
	mkdir -p "$d"
	chmod 755 "$d"
	cat >"$d/topology.yaml" <<EOF
version: 1
clusters:
  boot:
    primary: n1
    nodes:
      n1: {host: 127.0.0.1, port: $2, data_dir: data/n1}
      n2: {host: 127.0.0.1, port: $3, data_dir: data/n2}
      n3: {host: 127.0.0.1, port: $4, data_dir: data/n3}
    initdb: {locale: C.UTF-8, encoding: UTF8, data_checksums: true}
    settings: {shared_buffers: 16MB, max_connections: 20}
    replication: {user: replicator, slots: true}
EOF
	sync
	t0=$(now_us)
	run_child "$pgc" apply -v -f "$d/topology.yaml" >"$d/apply.out" 2>"$d/apply.err"
	rc=$?
	if [ $rc -ne 0 ] || ! wait_streaming "$2"; then
		echo "bootstrap: pgconverge apply failed (exit $rc):"
		grep -v ' debug: ' "$d/apply.err" | tail -n 20
		return 1
	fi
	elapsed=$(($(now_us) - t0))
}

bare=() prod=() elapsed=0
echo "== bootstrap: nothing to 3 streaming nodes ($reps repetitions)"
for ((r = 0; r < reps; r++)); do
	set -- "${ports[@]:r * 6:6}"
	if ((r % 2)); then
		run_pgc "$tmp/pgc$r" "$1" "$2" "$3" || exit 1
		prod+=("$elapsed")
		stop_servers "$tmp/pgc$r" && rm -rf "$tmp/pgc$r/data"
		run_bare "$tmp/bare$r" "$4" "$5" "$6" || exit 1
		bare+=("$elapsed")
		stop_servers "$tmp/bare$r" && rm -rf "$tmp/bare$r"
	else
		run_bare "$tmp/bare$r" "$4" "$5" "$6" || exit 1
		bare+=("$elapsed")
		stop_servers "$tmp/bare$r" && rm -rf "$tmp/bare$r"
		run_pgc "$tmp/pgc$r" "$1" "$2" "$3" || exit 1
		prod+=("$elapsed")
		stop_servers "$tmp/pgc$r" && rm -rf "$tmp/pgc$r/data"
	fi
	printf '   run %d: bare script %6s ms   pgconverge apply %6s ms\n' $((r + 1)) "$(ms "${bare[r]}")" "$(ms "${prod[r]}")"
done
mb=$(printf '%s\n' "${bare[@]}" | median)
mp=$(printf '%s\n' "${prod[@]}" | median)
printf '   median: bare script %6s ms   pgconverge apply %6s ms\n' "$(ms "$mb")" "$(ms "$mp")"
awk -v p="$mp" -v b="$mb" -v t="$target" 'BEGIN {
	r = p / b
	printf "   ratio apply/bare %.3f (target <= %s: %s)\n", r, t, r <= t ? "met" : "NOT met" }'

# Where the time went, per repetition: the bare steps, and pgconverge's
# actions from its journal (independent ones overlap: "actions" is the time
# from the first start to the last end) plus the part outside them (load,
# observe, plan, the final observation).
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
		}
		/"event":"(start|end)"/ {
			match($0, /"ts":"[^"]*"/); ts = substr($0, RSTART + 6, RLENGTH - 7)
			split(substr(ts, 12, 12), hms, ":"); s = hms[1] * 3600 + hms[2] * 60 + hms[3]
			if (first == "") first = s
			last = s
		}
		END { span = (last - first) * 1000
		      printf "| actions %d, outside them %d", span, total / 1000 - span }' \
		"$tmp/pgc$r/.pgconverge/journal.jsonl")"
done
