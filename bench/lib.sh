# shellcheck shell=bash
# bench/lib.sh - the fixture shared by the benchmarks that run real
# PostgreSQL servers. Source it from bash:
#
#   . "$(dirname "$0")/lib.sh"
#   bench_start NAME [ON_EXIT]        # root or skip; cd to the top of the tree;
#                                     # sets PGC and tmp; the cleanup
#   bench_ports N || exit 1           # ports[]: N free loopback ports
#   bench_run_child CMD...            # a long command a signal can cut short
#
# When the script ends, on success, failure or signal (exit 129, 130, 143
# for HUP, INT, TERM), every server whose postmaster.pid lies under $tmp is
# stopped by that pid and $tmp is removed. Besides PGC, tmp and ports, the
# functions set elapsed and rc (bench_time); the rest measures and prints.

BENCH_PG_BIN=/usr/lib/postgresql/15/bin
BENCH_SOCKET_DIR=/var/run/postgresql
bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=bench
bench_on_exit=
bench_child=
tmp=

# bench_start NAME [ON_EXIT] - the start of a server bench: skips unless
# root, goes to the top of the tree, sets PGC and tmp, installs the
# cleanup. ON_EXIT names a function of the script that the cleanup calls
# first, to stop its own background processes before the servers.
bench_start() {
	bench_name=$1 bench_on_exit=${2:-}
	bench_require_root
	cd "$bench_top" || exit 1
	bench_bin || exit 1
	bench_tmpdir || exit 1
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# bench_require_root - prints "NAME: skipped: ..." and exits 0 unless root.
bench_require_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "$bench_name: skipped: needs root (servers run as postgres)"
		exit 0
	fi
}

# bench_bin - sets PGC to the pgconverge binary, absolute: PGC_BIN (relative
# to the top of the tree), or ./pgconverge, built when missing.
bench_bin() {
	PGC=${PGC_BIN:-./pgconverge}
	case $PGC in /*) ;; *) PGC=$(pwd)/$PGC ;; esac
	if [ ! -x "$PGC" ] && [ -z "${PGC_BIN:-}" ]; then
		make -s pgconverge || return 1
	fi
	[ -x "$PGC" ] && return 0
	echo "$bench_name: no pgconverge binary at '$PGC' (set PGC_BIN or run 'make pgconverge')"
	return 1
}

# bench_tmpdir - sets tmp to a new folder pgc-bench-NAME.XXXXXX under
# $TMPDIR (default /tmp), mode 755 so that postgres can traverse it.
bench_tmpdir() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/pgc-bench-$bench_name.XXXXXX") || return 1
	chmod 755 "$tmp"
}

# bench_stop_servers [DIR] - every postmaster under DIR (default $tmp): INT
# (fast shutdown) to all, a bounded wait, then KILL. A pid from a
# postmaster.pid is signalled only when it is a postgres server process.
bench_stop_servers() {
	local f pid pids="" alive
	for f in $(find "${1:-$tmp}" -name postmaster.pid 2>/dev/null | sort -r); do
		pid=$(head -n 1 "$f" 2>/dev/null)
		case $pid in '' | *[!0-9]*) continue ;; esac
		[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$BENCH_PG_BIN/postgres" ] || continue
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

# bench_stop_helpers - programs still working in $tmp after their parent
# died (initdb, pg_basebackup, pg_ctl, cp, a bare script, a loop's
# children): TERM to every process with an argument in $tmp. Servers are
# left to bench_stop_servers.
bench_stop_helpers() {
	local d args
	for d in /proc/[0-9]*; do
		[ "${d#/proc/}" = $$ ] && continue
		mapfile -d '' args 2>/dev/null <"$d/cmdline" || continue # it may be gone
		case " ${args[*]} " in *" $tmp/"* | *"=$tmp/"*) ;; *) continue ;; esac
		[ "$(readlink "$d/exe" 2>/dev/null)" = "$BENCH_PG_BIN/postgres" ] && continue
		kill -TERM "${d#/proc/}" 2>/dev/null
	done
}

# bench_run_child CMD... - CMD in the background, waited for: a signal then
# stops the bench at once (the shell runs a trap only between commands),
# and the cleanup ends CMD. Returns CMD's exit code.
bench_run_child() {
	"$@" &
	bench_child=$!
	wait "$bench_child"
	local rc=$?
	bench_child=""
	return $rc
}

# bench_stop_pid SIGNAL PID - sends SIGNAL to a background job of the
# script and reaps it quietly (no "Killed" line); nothing when PID is empty.
bench_stop_pid() {
	[ -n "$2" ] || return 0
	kill -"$1" "$2" 2>/dev/null
	wait "$2" 2>/dev/null
}

# bench_cleanup - the EXIT trap: the script's ON_EXIT, the child cut
# short, its leftovers, then every server under $tmp, and $tmp itself.
bench_cleanup() {
	trap - EXIT INT TERM HUP
	if [ -n "$bench_on_exit" ] && declare -F "$bench_on_exit" >/dev/null; then
		"$bench_on_exit"
	fi
	if [ -n "$bench_child" ]; then
		kill -TERM "$bench_child" 2>/dev/null
		for _ in $(seq 1 100); do kill -0 "$bench_child" 2>/dev/null || break; sleep 0.1; done
	fi
	[ -n "$tmp" ] || return 0
	bench_stop_helpers
	bench_stop_servers "$tmp"
	sleep 0.5 # a pg_ctl start cut short may still bring its server up
	bench_stop_servers "$tmp"
	rm -rf "$tmp"
}

# bench_ports N - sets the array ports to N loopback ports in 20000-31999
# that nobody listens on (ss -ltn) and that have no socket or lock file in
# the socket folder; prints why and returns 1 when there are not N.
bench_ports() {
	local want=$1 p tries=0 used
	ports=()
	used=" $(ss -Hltn | awk '{ n = split($4, a, ":"); printf "%s ", a[n] }')"
	p=$((20000 + RANDOM % 12000))
	while [ ${#ports[@]} -lt "$want" ] && [ $tries -lt 12000 ]; do
		p=$((p + 1))
		[ $p -gt 31999 ] && p=20000
		tries=$((tries + 1))
		case $used in *" $p "*) continue ;; esac
		[ -e "$BENCH_SOCKET_DIR/.s.PGSQL.$p" ] || [ -e "$BENCH_SOCKET_DIR/.s.PGSQL.$p.lock" ] && continue
		ports+=("$p")
	done
	[ ${#ports[@]} -eq "$want" ] && return 0
	echo "$bench_name: no $want free ports in 20000-31999"
	return 1
}

# bench_now_us - the wall clock in microseconds (EPOCHREALTIME: no process).
bench_now_us() { echo "${EPOCHREALTIME/./}"; }

# bench_median - the median of the numbers on stdin, one a line.
bench_median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# bench_nodes DATA P1 P2 P3 - the nodes: block of a cluster in a topology:
# n1, n2, n3 on 127.0.0.1 at these ports, data directories DATA/n1...
bench_nodes() {
	local data=$1 n=0 p
	shift
	echo "    nodes:"
	for p in "$@"; do
		n=$((n + 1))
		echo "      n$n: {host: 127.0.0.1, port: $p, data_dir: $data/n$n}"
	done
}

# bench_ms US [DECIMALS] - microseconds as milliseconds, DECIMALS (default 0) places.
bench_ms() { awk -v us="$1" -v k="${2:-0}" 'BEGIN { printf "%.*f", k, us / 1000 }'; }

# bench_ratio NAME MEASURED BASELINE TARGET - the ratio line, met when <= TARGET.
bench_ratio() {
	awk -v name="$1" -v p="$2" -v b="$3" -v t="$4" 'BEGIN {
		r = p / b
		printf "   ratio %s %.3f (target <= %s: %s)\n", name, r, t, r <= t ? "met" : "NOT met" }'
}

# bench_alternate R FIRST SECOND - FIRST R then SECOND R, the other way
# round when R is odd, so that neither always finds warm caches; stops at
# the first that fails.
bench_alternate() {
	if (($1 % 2)); then "$3" "$1" && "$2" "$1"; else "$2" "$1" && "$3" "$1"; fi
}

# bench_time CHECK PORT CMD... - the time of one arm: a sync (each arm
# starts from clean page cache and fsyncs what it writes), CMD as
# bench_run_child, then CHECK PORT must hold. Sets elapsed to the
# microseconds from CMD's start to CHECK's success and rc to CMD's exit
# code; returns 1 when either fails. CMD writes where bench_time's
# caller redirects it.
bench_time() {
	local check=$1 port=$2 t0
	shift 2
	sync
	t0=$(bench_now_us)
	bench_run_child "$@"
	rc=$?
	[ $rc -eq 0 ] && "$check" "$port" || return 1
	elapsed=$(($(bench_now_us) - t0))
}

# bench_paired REPS LABEL TARGET ACTIONS - pgconverge apply against bare
# steps, REPS repetitions (bootstrap, pitr). Repetition R runs the script's
# run_bare R and run_pgc R, in bench_alternate order; each sets elapsed
# and leaves its steps in $tmp/bareR.steps or its journal under $tmp/pgcR.
# Prints each repetition, the medians (LABEL names the bare arm), the
# ratio apply/bare against TARGET, the bare steps, and pgconverge's
# actions: ACTIONS is span when they overlap (first start to last end),
# sum when they run one after another. Returns 1 when an arm fails.
bench_paired() {
	local reps=$1 label=$2 target=$3 how=$4 r bare=() prod=() mb mp
	for ((r = 0; r < reps; r++)); do
		bench_alternate "$r" bench_paired_bare bench_paired_pgc || return 1
		printf '   run %d: %s %6s ms   pgconverge apply %6s ms\n' $((r + 1)) "$label" \
			"$(bench_ms "${bare[r]}")" "$(bench_ms "${prod[r]}")"
	done
	mb=$(printf '%s\n' "${bare[@]}" | bench_median)
	mp=$(printf '%s\n' "${prod[@]}" | bench_median)
	printf '   median: %s %6s ms   pgconverge apply %6s ms\n' "$label" "$(bench_ms "$mb")" "$(bench_ms "$mp")"
	bench_ratio apply/bare "$mp" "$mb" "$target"
	echo "   bare steps (ms):"
	for ((r = 0; r < reps; r++)); do
		printf '     run %d: %s\n' $((r + 1)) "$(tr '\n' ' ' <"$tmp/bare$r.steps")"
	done
	echo "   pgconverge actions (ms, from the journal):"
	for ((r = 0; r < reps; r++)); do
		printf '     run %d: %s\n' $((r + 1)) \
			"$(bench_actions "$tmp/pgc$r/.pgconverge/journal.jsonl" "${prod[r]}" "$how")"
	done
}
# bench_paired's arms: each keeps its time in bench_paired's local arrays.
bench_paired_bare() { run_bare "$1" && bare+=("$elapsed"); }
bench_paired_pgc() { run_pgc "$1" && prod+=("$elapsed"); }

# bench_actions JOURNAL TOTAL_US span|sum - the actions of at least 20 ms
# in a pgconverge journal, then the time outside them.
bench_actions() {
	awk -v total="$2" -v how="$3" '
		/"event":"end"/ {
			match($0, /"action":"[^"]*"/); a = substr($0, RSTART + 10, RLENGTH - 11)
			match($0, /"duration_ms":[0-9]+/); d = substr($0, RSTART + 14, RLENGTH - 14)
			sub(/^[^\/]*\//, "", a); sub(/:.*/, "", a)
			if (d + 0 >= 20) printf "%s %d ", a, d
			sum += d
		}
		/"event":"(start|end)"/ {
			match($0, /"ts":"[^"]*"/); ts = substr($0, RSTART + 6, RLENGTH - 7)
			split(substr(ts, 12, 12), hms, ":"); s = hms[1] * 3600 + hms[2] * 60 + hms[3]
			if (first == "") first = s
			last = s
		}
		END {
			if (how == "sum") { printf "| other %d", total / 1000 - sum; exit }
			span = (last - first) * 1000
			printf "| actions %d, outside them %d", span, total / 1000 - span
		}' "$1"
}

# bench_write_gap TS_FILE T0 T1 - the longest interval in ms between two
# commits stamped in TS_FILE (microseconds, one a line) from T0 to T1,
# counting from the last commit before T0 to the first after T1.
bench_write_gap() {
	awk -v t0="$2" -v t1="$3" '
		{ ts[NR] = $1 }
		END {
			max = 0
			for (i = 2; i <= NR; i++)
				if (ts[i] >= t0 && ts[i - 1] <= t1 && ts[i] - ts[i - 1] > max) max = ts[i] - ts[i - 1]
			printf "%d\n", max / 1000
		}' "$1"
}

# bench_writer_resolution TS_FILE T0 - the writer's median interval in ms before T0.
bench_writer_resolution() {
	local res
	res=$(awk -v t0="$2" 'NR > 1 && $1 < t0 { printf "%d\n", ($1 - prev) / 1000 } { prev = $1 }' "$1" | bench_median)
	echo "${res%.*}"
}
