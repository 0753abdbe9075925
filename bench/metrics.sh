#!/usr/bin/env bash
# bench/metrics.sh - what the monitoring figures cost, on converged clusters
# of 3-node clusters brought up by `pgconverge apply`:
#
#   (a) the observation: `status --format prometheus` (which gathers the
#       figures: a few queries more per node, a connection per declared
#       database on replicas, the server's processes in /proc) against the
#       no-op `plan` and `status` in text, without them, N runs each,
#       alternately, for one cluster (3 nodes) and for all of them. With
#       BENCH_BASE_BIN (a pgconverge built without the figures, e.g. from
#       the main branch) `plan` is also compared with that build's: plan
#       must not pay for what it does not gather (target < 1.10);
#   (b) /metrics: `reconcile --metrics-listen` on every node, then
#       BENCH_REQUESTS sequential GETs (curl's time_total), once between
#       passes (--interval 1h) and once while passes run back to back
#       (--interval 1s); median and p99 against the target (< 50 ms:
#       answered from the text the last pass rendered).
#
#   bash bench/metrics.sh      (as root; BENCH_NODES=30 (a multiple of 3),
#                               BENCH_RUNS=10, BENCH_REQUESTS=200,
#                               BENCH_BASE_BIN=path/to/other/pgconverge,
#                               BENCH_PARTS="a b": which parts to run)
set -u

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
runs=${BENCH_RUNS:-10}
nodes=${BENCH_NODES:-30}
requests=${BENCH_REQUESTS:-200}
base=${BENCH_BASE_BIN:-}
parts=${BENCH_PARTS:-a b}
loop_pid=""

stop_loop() { bench_stop_pid TERM "$loop_pid"; }
bench_start metrics stop_loop
clusters=$((nodes / 3))
nodes=$((clusters * 3))
bench_ports $((nodes + 1)) || exit 1
http_port=${ports[nodes]}

# topology - CLUSTERS clusters of 3 nodes, each with a login role and a database.
topology() {
	local c
	echo "version: 1"
	echo "clusters:"
	for ((c = 0; c < clusters; c++)); do
		echo "  c$c:"
		echo "    primary: n1"
		bench_nodes "data/c$c" "${ports[@]:c * 3:3}"
		echo "    settings: {shared_buffers: 16MB, max_connections: 20}"
		echo "    roles: {app: {login: true}}"
		echo "    databases: {appdb: {owner: app}}"
		echo "    replication: {user: replicator, slots: true}"
	done
}
topology >"$tmp/topo.yaml"
st=$tmp/state
ms() { bench_ms "$1" 1; }

# Bringing 30 servers up on a busy machine: an action that times out (a
# replica slow to stream) is retried by a second apply, as reconcile would.
t0=$(bench_now_us)
for try in 1 2 3; do
	bench_run_child "$PGC" apply -f "$tmp/topo.yaml" --state-dir "$st" >"$tmp/apply.out" 2>"$tmp/apply$try.err" && break
	grep -m 3 'error' "$tmp/apply$try.err" | sed "s/^/   (apply $try: /; s/\$/)/"
	[ $try = 3 ] && {
		echo "metrics: pgconverge apply failed 3 times"
		exit 1
	}
done
echo "== metrics: $clusters clusters x 3 nodes, brought up by pgconverge apply in $(ms $(($(bench_now_us) - t0))) ms"
"$PGC" plan -q -f "$tmp/topo.yaml" --state-dir "$st" >/dev/null 2>&1 || {
	echo "metrics: not converged after apply"
	exit 1
}

# time_us CMD... - prints the microseconds CMD took; fails when it fails.
time_us() {
	local t0
	t0=$(bench_now_us)
	"$@" >/dev/null 2>"$tmp/arm.err" || { echo "metrics: failed: $*" >&2; cat "$tmp/arm.err" >&2; return 1; }
	echo $(($(bench_now_us) - t0))
}
summary() { # LABEL VALUES... - median (min, max)
	local label=$1 med
	shift
	med=$(printf '%s\n' "$@" | bench_median)
	printf '   %-34s median %8s ms   (min %s, max %s)\n' "$label" "$(ms "$med")" \
		"$(ms "$(printf '%s\n' "$@" | sort -n | head -n 1)")" "$(ms "$(printf '%s\n' "$@" | sort -n | tail -n 1)")"
	echo "$med" >"$tmp/median"
}

# observe_cost LABEL [--cluster c0] - (a) for the selected clusters.
observe_cost() {
	local label=$1 i plan=() prom=() text=() based=() mp mq mt mb
	shift
	echo "-- (a) observation cost, $label ($runs runs each, alternately)"
	for ((i = 0; i < runs; i++)); do
		local order=(plan text prom) arm
		((i % 2)) && order=(prom text plan)
		for arm in "${order[@]}"; do
			case $arm in
			plan) plan+=("$(time_us "$PGC" plan -q -f "$tmp/topo.yaml" --state-dir "$st" "$@")") || return 1 ;;
			text) text+=("$(time_us "$PGC" status -q -f "$tmp/topo.yaml" --state-dir "$st" "$@")") || return 1 ;;
			prom) prom+=("$(time_us "$PGC" status -q -f "$tmp/topo.yaml" --state-dir "$st" --format prometheus "$@")") || return 1 ;;
			esac
		done
		if [ -n "$base" ]; then
			based+=("$(time_us "$base" plan -q -f "$tmp/topo.yaml" --state-dir "$st" "$@")") || return 1
		fi
	done
	summary "plan (no figures)" "${plan[@]}"
	mp=$(cat "$tmp/median")
	summary "status (text: no figures)" "${text[@]}"
	mt=$(cat "$tmp/median")
	summary "status --format prometheus" "${prom[@]}"
	mq=$(cat "$tmp/median")
	if [ -n "$base" ]; then
		summary "plan of BENCH_BASE_BIN" "${based[@]}"
		mb=$(cat "$tmp/median")
		bench_ratio "plan/plan-before (plan unchanged)" "$mp" "$mb" 1.10
	else
		echo "   (set BENCH_BASE_BIN to a build without the figures to compare plan with it)"
	fi
	bench_ratio "status-prometheus/plan (the figures' cost)" "$mq" "$mp" 1.10
	bench_ratio "status-prometheus/status-text" "$mq" "$mt" 1.10
}

if [[ " $parts " == *" a "* ]]; then
observe_cost "1 cluster x 3 nodes" --cluster c0 || exit 1
observe_cost "$clusters clusters x 3 nodes" || exit 1
"$PGC" status -q -f "$tmp/topo.yaml" --state-dir "$st" --format prometheus >"$tmp/status.prom"
echo "   status --format prometheus: $(grep -c '^# TYPE ' "$tmp/status.prom") families, $(grep -vc '^#' "$tmp/status.prom") samples, $(wc -c <"$tmp/status.prom") bytes"
fi

# --- (b) /metrics latency ------------------------------------------------------------

# latency INTERVAL LABEL - a loop with --interval INTERVAL; once it serves
# the nodes' figures, BENCH_REQUESTS sequential GETs; prints the figures.
latency() {
	local interval=$1 label=$2 i pass0 pass1 bad med p99 max
	echo "-- (b) /metrics of $nodes nodes, $label ($requests requests)"
	"$PGC" reconcile -f "$tmp/topo.yaml" --state-dir "$st" --interval "$interval" \
		--metrics-listen "127.0.0.1:$http_port" >"$tmp/loop.out" 2>"$tmp/loop.err" &
	loop_pid=$!
	rm -f "$tmp/first.prom"
	for _ in $(seq 1 600); do
		curl -sf "$url" -o "$tmp/first.prom" 2>/dev/null && grep -q '^pgconverge_connections{' "$tmp/first.prom" && break
		kill -0 "$loop_pid" 2>/dev/null || break
		sleep 0.2
	done
	grep -q '^pgconverge_connections{' "$tmp/first.prom" 2>/dev/null || {
		echo "metrics: the loop never served the nodes' figures:"
		tail -n 20 "$tmp/loop.err"
		return 1
	}
	sleep 0.5 # the status file of the first pass
	pass0=$(jq -r .pass "$st/status.json" 2>/dev/null)
	for ((i = 0; i < requests; i++)); do
		curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$url"
	done >"$tmp/latency"
	pass1=$(jq -r .pass "$st/status.json" 2>/dev/null)
	stop_loop
	loop_pid=""
	bad=$(awk '$1 != 200' "$tmp/latency" | wc -l)
	awk '{ print $2 * 1000000 }' "$tmp/latency" | sort -n >"$tmp/lat_us"
	med=$(bench_median <"$tmp/lat_us")
	p99=$(awk -v n="$requests" '{ v[NR] = $1 } END { i = int(n * 0.99 + 0.999); if (i > NR) i = NR; print v[i] }' "$tmp/lat_us")
	max=$(tail -n 1 "$tmp/lat_us")
	echo "   answer: $(grep -c '^# TYPE ' "$tmp/first.prom") families, $(wc -c <"$tmp/first.prom") bytes; passes ended during the requests: $((pass1 - pass0)); non-200 answers: $bad"
	printf '   latency median %s ms, p99 %s ms, max %s ms\n' "$(bench_ms "$med" 2)" "$(bench_ms "$p99" 2)" "$(bench_ms "$max" 2)"
	awk -v p="$p99" 'BEGIN { printf "   p99 %.2f ms (target < 50 ms: %s)\n", p / 1000, p < 50000 ? "met" : "NOT met" }'
}
[[ " $parts " == *" b "* ]] || exit 0
url=http://127.0.0.1:$http_port/metrics
# Between passes: what serving the cached text costs.
latency 1h "between passes (--interval 1h)" || exit 1
# Passes back to back: the same while 30 probes compete for the CPU.
latency 1s "while passes run (--interval 1s)" || exit 1
