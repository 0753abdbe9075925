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

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
passes=${BENCH_PASSES:-1000}
interval=${BENCH_INTERVAL:-50ms}

# stop_loop - at exit, the reconcile loop goes first, by KILL: it must not
# restart the servers the cleanup stops.
loop_pid=
stop_loop() { bench_stop_pid KILL "$loop_pid"; }
bench_start reconcile_rss stop_loop

bench_ports 3 || exit 1
set -- "${ports[@]}"
mkdir -m 700 "$tmp/secrets"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"
cat >"$tmp/topology.yaml" <<EOF
version: 1
clusters:
  rss:
    primary: n1
$(bench_nodes data "$@")
    settings: {shared_buffers: 16MB, max_connections: 30}
    failover: {mode: auto, detect_after: 5s, probe_interval: 250ms}
    replication:
      user: replicator
      password: {file: secrets/replicator}
EOF
bench_run_child "$PGC" apply -f "$tmp/topology.yaml" >"$tmp/apply.out" 2>&1 || {
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
