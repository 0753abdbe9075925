#!/usr/bin/env bash
# bench/reconcile_rss.sh - the memory of a long-running `pgconverge
# reconcile`: VmRSS and VmHWM (peak) of the loop after 10, 100 and 1,000
# passes over a converged cluster of 3 nodes.
#
#   bash bench/reconcile_rss.sh      (as root; BENCH_PASSES=N, default 1000;
#                                     BENCH_INTERVAL, default 50ms)
#
# The cluster is built by `pgconverge apply` (failover.mode auto,
# probe_interval 250ms, so the probes between passes run too), then
# `reconcile --interval 50ms` runs until it has done N passes. The pass count
# is the sum of status.json's totals.passes; the figures are read from
# /proc/PID/status when the count first reaches 10, 100, 1,000. A loop that
# does not leak keeps VmRSS flat from pass 100 on. Every server is stopped by
# the pid in its postmaster.pid when the script ends, whatever the reason.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
passes=${BENCH_PASSES:-1000}
interval=${BENCH_INTERVAL:-50ms}

if [ "$(id -u)" != 0 ]; then
	echo "reconcile_rss: skipped: needs root (servers run as postgres)"
	exit 0
fi
PGC=${PGC_BIN:-$top/pgconverge}
[ -x "$PGC" ] || make -s pgconverge || exit 1
PGC=$(lib_bin) || exit 1

tmp=$(lib_tmpdir) || exit 1
loop_pid=
cleanup() {
	trap - EXIT INT TERM HUP
	[ -n "$loop_pid" ] && kill -KILL "$loop_pid" 2>/dev/null
	lib_teardown "$tmp" >/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

ports=$(lib_free_ports 3) || { echo "reconcile_rss: no free ports"; exit 1; }
# shellcheck disable=SC2086 # three port numbers, split on purpose
set -- $ports
mkdir -m 700 "$tmp/secrets"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"
cat >"$tmp/topology.yaml" <<EOF
version: 1
clusters:
  rss:
    primary: n1
    nodes:
      n1: {host: 127.0.0.1, port: $1, data_dir: data/n1}
      n2: {host: 127.0.0.1, port: $2, data_dir: data/n2}
      n3: {host: 127.0.0.1, port: $3, data_dir: data/n3}
    settings: {shared_buffers: 16MB, max_connections: 30}
    failover: {mode: auto, detect_after: 5s, probe_interval: 250ms}
    replication:
      user: replicator
      password: {file: secrets/replicator}
EOF
"$PGC" apply -f "$tmp/topology.yaml" >"$tmp/apply.out" 2>&1 || {
	echo "reconcile_rss: apply failed:"
	tail -n 20 "$tmp/apply.out"
	exit 1
}

# pass_count - the passes so far: status.json's totals (a new state directory,
# so they are this loop's; the log names only passes that change something).
pass_count() {
	local n
	n=$(jq '[.totals.passes[]] | add' "$tmp/.pgconverge/status.json" 2>/dev/null)
	echo "${n:-0}"
}
mem() { awk '/^VmRSS|^VmHWM/ { printf "%s %s kB  ", $1, $2 }' "/proc/$loop_pid/status" 2>/dev/null; }

echo "== reconcile_rss: reconcile --interval $interval over 3 nodes, $passes passes"
"$PGC" reconcile -f "$tmp/topology.yaml" --interval "$interval" >"$tmp/loop.out" 2>"$tmp/loop.err" &
loop_pid=$!
t0=$SECONDS
marks=(10 100 "$passes")
[ "$passes" -le 100 ] && marks=(10 "$passes")
for m in "${marks[@]}"; do
	while [ "$(pass_count)" -lt "$m" ]; do
		if ! kill -0 "$loop_pid" 2>/dev/null; then
			echo "   the loop stopped at pass $(pass_count):"
			tail -n 15 "$tmp/loop.err" | sed 's/^/     | /'
			exit 1
		fi
		sleep 0.1
	done
	printf '   pass %5d (%4d s): %s\n' "$(pass_count)" $((SECONDS - t0)) "$(mem)"
done
outcomes=$(jq -c '.totals.passes' "$tmp/.pgconverge/status.json" 2>/dev/null)
echo "   passes by outcome: $outcomes"
kill -TERM "$loop_pid"
wait "$loop_pid"
echo "   loop stopped by SIGTERM: exit $?"
loop_pid=
