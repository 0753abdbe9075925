#!/usr/bin/env bash
# bench/wal_push.sh - archiving throughput: `pgconverge wal-push`, one
# process per segment as archive_command runs it, against `cp` + `sync` of
# the same segments into a folder, measured in the same run.
#
#   bash bench/wal_push.sh           (as root; BENCH_SEGMENTS=N, default 40;
#                                     BENCH_REPS=N, default 3)
#
# A throw-away server (data checksums, archive_command = cp) writes rows
# until N full 16 MB segments are archived; those real segments are the
# input. Each repetition then archives all N, in turn, with:
#
#   - cp:           `cp SEG DIR/NAME` (no fsync: what page cache costs);
#   - cp + sync:    `cp SEG DIR/NAME && sync DIR/NAME DIR` - fsync of the
#                   file and of its folder, the durability wal-push gives
#                   (it exits 0 only once file, checksum and folder are
#                   fsynced). `sync FILE` is fsync(2) of that file, not
#                   sync -f (syncfs of the whole file system, which would
#                   also flush whatever else runs on the machine);
#   - wal-push --compress none|gzip|zstd (SHA-256, checksum file, temporary
#                   file + fsync + rename, folder fsync);
#   - gzip -6 / zstd -3 + sync: the command-line tools at the levels
#                   wal-push uses, for the compression speed and ratio.
#
# Every arm runs as postgres (the archive_command's user) in one loop per
# arm, starts from a `sync`, writes into an empty folder, and the order of
# the arms rotates between repetitions. Prints segments/s (median of the
# repetitions), the ratio wal-push none / cp + sync (target >= 0.8), and the
# stored size of the compressed arms. The server is stopped by the pid in
# its postmaster.pid when the script ends, whatever the reason.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
pgc=${PGC_BIN:-$top/pgconverge}
nseg=${BENCH_SEGMENTS:-40}
reps=${BENCH_REPS:-3}
pgbin=/usr/lib/postgresql/15/bin
target=0.8

if [ "$(id -u)" != 0 ]; then
	echo "wal_push: skipped: needs root (the server runs as postgres)"
	exit 0
fi
if [ ! -x "$pgc" ]; then
	make -s pgconverge || exit 1
fi
for tool in gzip zstd; do
	command -v "$tool" >/dev/null || { echo "wal_push: \"$tool\" is needed"; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pgc-bench-wal.XXXXXX") || exit 1
chmod 755 "$tmp"
runuser -u postgres -- test -x "$pgc" || { echo "wal_push: postgres cannot execute $pgc"; exit 1; }

# stop_servers - the postmaster under $tmp: INT (fast shutdown), a bounded
# wait, then KILL; only when the pid is a postgres server process.
stop_servers() {
	local f pid pids="" alive
	for f in $(find "$tmp" -name postmaster.pid 2>/dev/null | sort); do
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
	fi
	stop_servers
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# pick_port - one loopback port in 20000-31999 that nobody listens on.
pick_port() {
	local p used
	used=" $(ss -Hltn | awk '{ n = split($4, a, ":"); printf "%s ", a[n] }')"
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		case $used in *" $p "*) continue ;; esac
		[ -e "$tmp/sock/.s.PGSQL.$p" ] && continue
		echo "$p"
		return 0
	done
	return 1
}

now_us() { echo "${EPOCHREALTIME/./}"; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- the input: N real segments from a throw-away server ------------------------
port=$(pick_port) || { echo "wal_push: no free port in 20000-31999"; exit 1; }
data=$tmp/data segs=$tmp/segs
install -d -o postgres -g postgres -m 700 "$data"
install -d -o postgres -g postgres -m 755 "$segs" "$tmp/sock" "$tmp/out" "$tmp/log"
echo "== wal-push: $nseg segments of 16 MB, one process per segment ($reps repetitions)"
t0=$(now_us)
runuser -u postgres -- "$pgbin/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 \
	--data-checksums >"$tmp/log/initdb.log" 2>&1 || { cat "$tmp/log/initdb.log"; exit 1; }
cat >>"$data/postgresql.conf" <<EOF
port = $port
listen_addresses = ''
unix_socket_directories = '$tmp/sock'
shared_buffers = 32MB
max_wal_size = 1GB
wal_level = replica
archive_mode = on
archive_command = 'cp %p $segs/%f'
EOF
runuser -u postgres -- "$pgbin/pg_ctl" start -w -D "$data" -l "$tmp/log/server.log" >/dev/null ||
	{ tail -n 20 "$tmp/log/server.log"; exit 1; }
sql() { runuser -u postgres -- "$pgbin/psql" -X -At -q -h "$tmp/sock" -p "$port" -d postgres -c "$1"; }
sql "CREATE TABLE t (id bigint PRIMARY KEY, k text, at timestamptz, note text)" || exit 1
# count_segments - archived files named like a segment (24 hex digits).
count_segments() {
	local f n=0
	for f in "$segs"/[0-9A-F]*; do
		case ${f##*/} in *[!0-9A-F]*) ;; ????????????????????????) n=$((n + 1)) ;; esac
	done
	echo $n
}
# Rows of mixed content (a key, a hash, a time, text of varying length) and
# an index: heap and btree records, and full-page images after checkpoints.
i=0
while [ "$(count_segments)" -lt $((nseg + 2)) ]; do
	sql "INSERT INTO t SELECT g, md5(g::text), clock_timestamp(), repeat(chr(97 + g % 26), g % 60)
	     FROM generate_series($((i * 100000 + 1)), $(((i + 1) * 100000))) g" || exit 1
	i=$((i + 1))
	[ $i -gt $((nseg * 10)) ] && { echo "wal_push: the server archives nothing"; tail -n 5 "$tmp/log/server.log"; exit 1; }
	sleep 0.2
done
stop_servers
# The first segment holds initdb's WAL, the last may be incomplete: keep N full ones between.
mapfile -t names < <(cd "$segs" && printf '%s\n' [0-9A-F]* | grep -x '[0-9A-F]\{24\}' | sort | sed -n "2,$((nseg + 1))p")
bytes=$(cat "${names[@]/#/$segs/}" | wc -c)
printf '   (%d segments, %d MB, written by the server in %.1f s)\n' "${#names[@]}" $((bytes >> 20)) \
	"$(awk -v us=$(($(now_us) - t0)) 'BEGIN { print us / 1e6 }')"
printf '%s\n' "${names[@]}" >"$tmp/names"

# The arms, run as postgres: push.sh ARM SEGDIR OUTDIR PGC NAMES.
cat >"$tmp/push.sh" <<'EOF'
#!/usr/bin/env bash
set -eu
arm=$1 in=$2 out=$3 pgc=$4
while read -r f; do
	case $arm in
	cp) cp "$in/$f" "$out/$f" ;;
	cp+sync) cp "$in/$f" "$out/$f" && sync "$out/$f" "$out" ;;
	gzip+sync) gzip -6 -c "$in/$f" >"$out/$f.gz" && sync "$out/$f.gz" "$out" ;;
	zstd+sync) zstd -3 -q -f "$in/$f" -o "$out/$f.zst" && sync "$out/$f.zst" "$out" ;;
	none | gzip | zstd) "$pgc" wal-push --repository "$out" --compress "$arm" "$in/$f" "$f" ;;
	esac
done <"$5"
EOF

arms=(cp cp+sync none gzip zstd gzip+sync zstd+sync)
declare -A times stored
for ((r = 0; r < reps; r++)); do
	for ((k = 0; k < ${#arms[@]}; k++)); do
		arm=${arms[(k + r) % ${#arms[@]}]}
		out=$tmp/out/$arm
		rm -rf "$out"
		install -d -o postgres -g postgres -m 700 "$out"
		cat "${names[@]/#/$segs/}" >/dev/null # the input comes from page cache for every arm
		sync
		t0=$(now_us)
		if ! run_child runuser -u postgres -- bash "$tmp/push.sh" "$arm" "$segs" "$out" "$pgc" "$tmp/names" \
			2>"$tmp/$arm.err"; then
			echo "wal_push: arm $arm failed:"
			tail -n 5 "$tmp/$arm.err"
			exit 1
		fi
		times[$arm]="${times[$arm]:-} $(($(now_us) - t0))"
		stored[$arm]=$(find "$out" -type f ! -name '*.sha256' -printf '%s\n' | awk '{ s += $1 } END { print s }')
	done
done
rm -rf "$tmp/out"

declare -A rate
for arm in "${arms[@]}"; do
	# shellcheck disable=SC2086 # a list of numbers, split on purpose
	m=$(printf '%s\n' ${times[$arm]} | median)
	rate[$arm]=$(awk -v n="${#names[@]}" -v us="$m" 'BEGIN { printf "%.2f", n / (us / 1e6) }')
	awk -v arm="$arm" -v n="${#names[@]}" -v us="$m" -v b="$bytes" -v s="${stored[$arm]}" -v all="${times[$arm]}" 'BEGIN {
		label["cp"] = "cp (no fsync)"; label["cp+sync"] = "cp + sync (baseline)"
		label["none"] = "wal-push --compress none"; label["gzip"] = "wal-push --compress gzip"
		label["zstd"] = "wal-push --compress zstd"; label["gzip+sync"] = "gzip -6 + sync"
		label["zstd+sync"] = "zstd -3 + sync"
		k = split(all, v, " "); lo = v[1]; hi = v[1]
		for (i = 2; i <= k; i++) { if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i] }
		printf "   %-26s %7.2f segments/s  %7.1f MB/s  (%.2f-%.2f)", label[arm], n / (us / 1e6), b / 1048576 / (us / 1e6), n / (hi / 1e6), n / (lo / 1e6)
		if (arm ~ /gzip|zstd/) printf "  stored %.1f%% (ratio %.2f)", 100 * s / b, b / s
		printf "\n" }'
done
awk -v p="${rate[none]}" -v b="${rate[cp+sync]}" -v t="$target" 'BEGIN {
	r = p / b
	printf "   ratio wal-push none / cp + sync %.3f (target >= %s: %s)\n", r, t, (r >= t) ? "met" : "NOT met" }'
awk -v g="${rate[gzip]}" -v gs="${rate[gzip+sync]}" -v z="${rate[zstd]}" -v zs="${rate[zstd+sync]}" 'BEGIN {
	printf "   ratio wal-push gzip / gzip -6 + sync %.3f, wal-push zstd / zstd -3 + sync %.3f\n", g / gs, z / zs }'
