#!/usr/bin/env bash
# bench/offline_plan.sh - `pgconverge plan --offline` of one large cluster:
# 1,000 nodes on distinct hosts and 2,000 hba rules (BENCH_NODES,
# BENCH_RULES), no server, no root needed.
#
#   bash bench/offline_plan.sh       (BENCH_RUNS=N runs per figure, default 5)
#
# Two plans: from nothing (every node new, each hba action lists all the
# rules), and against a base revision in a throw-away git repository that
# differs in one rule (each node's hba action lists the two lines). The
# baseline is `pgconverge validate --offline` of the same file, the floor
# any plan pays (load and validate). Prints the median wall time of N runs
# of each, the ratio plan/validate, and the peak RSS of one more run of
# each (/usr/bin/time -v), against the targets: under 2 s, under 100 MB.
# Every run is bounded (BENCH_TIMEOUT seconds, default 120, and
# BENCH_MEM_LIMIT_KB of address space, default 8 GB), so that an older
# binary (PGC_BIN) that does not scale fails its run instead of the machine.
set -u

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
runs=${BENCH_RUNS:-5}
nodes=${BENCH_NODES:-1000}
rules=${BENCH_RULES:-2000}
limit_s=${BENCH_TIMEOUT:-120}
limit_kb=${BENCH_MEM_LIMIT_KB:-8388608}
target_ms=2000
target_kb=102400
bench_name=offline_plan

cd "$bench_top" || exit 1
bench_bin || exit 1
bench_tmpdir || exit 1
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ ! -x /usr/bin/time ]; then
	{ apt-get install -y -qq time || { apt-get update -qq && apt-get install -y -qq time; }; } >/dev/null 2>&1 ||
		echo "   (could not install 'time': no peak RSS)"
fi

# topology METHOD - one cluster of $nodes nodes on distinct hosts and $rules
# rules; rule 5 uses METHOD.
topology() {
	awk -v N="$nodes" -v R="$rules" -v M="$1" 'BEGIN {
		print "version: 1"
		print "clusters:"
		print "  big:"
		print "    primary: n0"
		print "    replication: {user: replicator}"
		printf "    settings: {max_wal_senders: %d, max_replication_slots: %d}\n", N + 10, N + 10
		print "    hba:"
		for (r = 0; r < R; r++)
			printf "      - {type: host, database: db%d, user: u%d, address: 10.%d.%d.0/24, method: %s}\n",
				r, r, int(r / 250), r % 250, r == 5 ? M : "scram-sha-256"
		print "    nodes:"
		for (n = 0; n < N; n++)
			printf "      n%d: {host: 10.200.%d.%d, port: 5432, data_dir: /data/n%d}\n",
				n, int(n / 250), n % 250 + 1, n
	}'
}
mkdir "$tmp/repo"
topology scram-sha-256 >"$tmp/repo/pgconverge.yaml"
git -C "$tmp/repo" init -q &&
	git -C "$tmp/repo" add pgconverge.yaml &&
	git -C "$tmp/repo" -c user.name=bench -c user.email=bench@invalid commit -qm base || exit 1
topology md5 >"$tmp/repo/pgconverge.yaml"
topo=$tmp/repo/pgconverge.yaml

# bounded CMD... - CMD under the time and memory bounds, output discarded.
bounded() { (ulimit -v "$limit_kb" && exec timeout "$limit_s" "$@") >/dev/null 2>"$tmp/err"; }

# once EXPECT CMD... - one timed run into t[]; EXPECT is the exit code that
# means it worked (validate 0, plan 2: changes).
once() {
	local want=$1 t0 rc
	shift
	t0=$(bench_now_us)
	bounded "$@"
	rc=$?
	if [ $rc -ne "$want" ]; then
		echo "   $* exited with $rc (time or memory bound hit?):"
		tail -n 3 "$tmp/err"
		return 1
	fi
	t+=($(($(bench_now_us) - t0)))
}

# peak_rss_kb CMD... - the maximum resident set size of one bounded run, in kB.
peak_rss_kb() {
	(ulimit -v "$limit_kb" && /usr/bin/time -v timeout "$limit_s" "$@" 2>&1 >/dev/null) |
		awk -F': ' '/Maximum resident set size/ { print $2 }'
}

# measure LABEL EXPECT CMD... - N runs, median printed; sets med.
measure() {
	local label=$1 want=$2 i
	shift 2
	t=()
	for ((i = 0; i < runs; i++)); do once "$want" "$@" || return 1; done
	med=$(printf '%s\n' "${t[@]}" | bench_median)
	printf '   %-34s median %8s ms   (min %s, max %s)\n' "$label" "$(bench_ms "$med" 1)" \
		"$(bench_ms "$(printf '%s\n' "${t[@]}" | sort -n | head -n 1)" 1)" \
		"$(bench_ms "$(printf '%s\n' "${t[@]}" | sort -n | tail -n 1)" 1)"
}

# targets LABEL MEDIAN_US CMD... - the ratio to the baseline, the peak RSS, the targets.
targets() {
	local label=$1 us=$2 rss
	shift 2
	awk -v n="$label" -v p="$us" -v b="$base_us" 'BEGIN { printf "   ratio %s/validate %.2f\n", n, p / b }'
	rss=
	[ -x /usr/bin/time ] && rss=$(peak_rss_kb "$@")
	awk -v us="$us" -v kb="${rss:-0}" -v tms="$target_ms" -v tkb="$target_kb" 'BEGIN {
		printf "   peak RSS %s kB; time %s (target < %d ms), memory %s (target < %d kB)\n",
			kb ? kb : "?", us / 1000 < tms ? "met" : "NOT met", tms,
			kb == 0 ? "?" : kb < tkb ? "met" : "NOT met", tkb }'
}

rc=0
echo "== plan --offline, 1 cluster x $nodes nodes on distinct hosts x $rules hba rules ($runs runs)"
measure "baseline validate --offline" 0 "$PGC" validate --offline -f "$topo" || exit 1
base_us=$med
if measure "plan --offline (every node new)" 2 "$PGC" plan --offline -f "$topo"; then
	targets "new" "$med" "$PGC" plan --offline -f "$topo"
else
	rc=1
fi
if measure "plan --offline --base (1 rule)" 2 "$PGC" plan --offline -f "$topo" --base HEAD; then
	targets "base" "$med" "$PGC" plan --offline -f "$topo" --base HEAD
else
	rc=1
fi
exit $rc
