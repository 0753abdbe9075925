#!/usr/bin/env bash
# bench/noop_plan.sh - `pgconverge plan` on converged clusters, against the
# cheapest possible look at the same servers: `psql -c 'select 1'` to every
# node at once. Both are measured in the same run, alternately.
#
#   bash bench/noop_plan.sh          (as root; BENCH_RUNS=N, default 10)
#
# Two topologies, both brought up by `pgconverge apply` in a temporary
# folder on free loopback ports below 32000: one cluster of 3 nodes (c0),
# then 10 clusters of 3 nodes (c0..c9, 30 servers; c0 is the same cluster).
# Each cluster: a primary, two streaming replicas through slots, a login role
# and a database it owns. For each topology it prints the median of N runs
# of the plan and of the baseline, their ratio (target <= 3), and the peak
# RSS of one plan run. Every server is stopped by the pid in its
# postmaster.pid when the script ends, whatever the reason.
set -u

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
runs=${BENCH_RUNS:-10}
target=3

bench_start noop_plan
bench_ports 30 || exit 1

# topology CLUSTERS - prints a topology of CLUSTERS clusters of 3 nodes.
topology() {
	local c
	echo "version: 1"
	echo "clusters:"
	for ((c = 0; c < $1; c++)); do
		echo "  c$c:"
		echo "    primary: n1"
		bench_nodes "data/c$c" "${ports[@]:c * 3:3}"
		echo "    settings: {shared_buffers: 16MB, max_connections: 20}"
		echo "    roles: {app: {login: true}}"
		echo "    databases: {appdb: {owner: app}}"
		echo "    replication: {user: replicator, slots: true}"
	done
}
topology 1 >"$tmp/topo3.yaml"
topology 10 >"$tmp/topo30.yaml"

# ms US - milliseconds with one decimal: plans take tens of them.
ms() { bench_ms "$1" 1; }

# bring_up NAME - `pgconverge apply` of topology NAME, then a plan that must
# find nothing to do.
bring_up() {
	local t0 rc
	t0=$(bench_now_us)
	bench_run_child "$PGC" apply -f "$tmp/$1.yaml" --state-dir "$tmp/state-$1" >"$tmp/apply-$1.out" 2>"$tmp/apply-$1.err"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "noop_plan: pgconverge apply -f $1.yaml exited with $rc:"
		tail -n 20 "$tmp/apply-$1.err"
		return 1
	fi
	echo "   (brought up by pgconverge apply in $(ms $(($(bench_now_us) - t0))) ms)"
	"$PGC" plan -f "$tmp/$1.yaml" --state-dir "$tmp/state-$1" >"$tmp/plan-$1.out" 2>&1 || {
		echo "noop_plan: $1 is not converged after apply:"
		head -n 20 "$tmp/plan-$1.out"
		return 1
	}
}

# baseline PORT... - psql 'select 1' to every port at once; fails when one fails.
baseline() {
	local p pids=() rc=0
	for p in "$@"; do
		runuser -u postgres -- "$BENCH_PG_BIN/psql" -X -h "$BENCH_SOCKET_DIR" -p "$p" -c 'select 1' >/dev/null 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	return $rc
}

# peak_rss_kb CMD... - the child's maximum resident set size, in kB.
peak_rss_kb() {
	/usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ { print $2 }'
}
if [ ! -x /usr/bin/time ]; then
	{ apt-get install -y -qq time || { apt-get update -qq && apt-get install -y -qq time; }; } >/dev/null 2>&1 ||
		echo "   (could not install 'time': no peak RSS)"
fi

# measure NAME NODES - N runs of the baseline and of the plan, in
# bench_alternate order.
measure() {
	local name=$1 nodes=$2 i b=() p=() mb mp rss
	for ((i = 0; i < runs; i++)); do
		bench_alternate "$i" baseline_once plan_once || return 1
	done
	mb=$(printf '%s\n' "${b[@]}" | bench_median)
	mp=$(printf '%s\n' "${p[@]}" | bench_median)
	printf '   baseline psql select 1 x%-2d  median %8s ms   (min %s, max %s)\n' "$nodes" "$(ms "$mb")" \
		"$(ms "$(printf '%s\n' "${b[@]}" | sort -n | head -n 1)")" "$(ms "$(printf '%s\n' "${b[@]}" | sort -n | tail -n 1)")"
	printf '   pgconverge plan              median %8s ms   (min %s, max %s)\n' "$(ms "$mp")" \
		"$(ms "$(printf '%s\n' "${p[@]}" | sort -n | head -n 1)")" "$(ms "$(printf '%s\n' "${p[@]}" | sort -n | tail -n 1)")"
	bench_ratio plan/baseline "$mp" "$mb" "$target"
	if [ -x /usr/bin/time ]; then
		rss=$(peak_rss_kb "$PGC" plan -q -f "$tmp/$name.yaml" --state-dir "$tmp/state-$name")
		echo "   peak RSS of pgconverge plan: ${rss:-?} kB"
	fi
}
# baseline_once, plan_once - one timed run each, kept in measure's b and p.
baseline_once() {
	local t0
	t0=$(bench_now_us)
	baseline "${ports[@]:0:nodes}" || { echo "noop_plan: psql baseline failed"; return 1; }
	b+=($(($(bench_now_us) - t0)))
}
plan_once() {
	local t0
	t0=$(bench_now_us)
	"$PGC" plan -q -f "$tmp/$name.yaml" --state-dir "$tmp/state-$name" >/dev/null 2>"$tmp/plan.err" ||
		{ echo "noop_plan: plan found changes or failed:"; cat "$tmp/plan.err"; return 1; }
	p+=($(($(bench_now_us) - t0)))
}

echo "== noop plan, 1 cluster x 3 nodes ($runs runs)"
bring_up topo3 || exit 1
measure topo3 3 || exit 1
echo "== noop plan, 10 clusters x 3 nodes ($runs runs)"
bring_up topo30 || exit 1
measure topo30 30 || exit 1
