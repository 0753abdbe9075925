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

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
pgc=${PGC_BIN:-$top/pgconverge}
runs=${BENCH_RUNS:-10}
pgbin=/usr/lib/postgresql/15/bin
sockdir=/var/run/postgresql
target=3

if [ "$(id -u)" != 0 ]; then
	echo "noop_plan: skipped: needs root (servers run as postgres)"
	exit 0
fi
if [ ! -x "$pgc" ]; then
	make -s pgconverge || exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pgc-bench-noop.XXXXXX") || exit 1
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
	stop_servers "$tmp"
	sleep 0.5 # a pg_ctl start cut short may still bring its server up
	stop_servers "$tmp"
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

mapfile -t ports < <(pick_ports 30)
if [ ${#ports[@]} -ne 30 ]; then
	echo "noop_plan: no 30 free ports in 20000-31999"
	exit 1
fi

# topology CLUSTERS - prints a topology of CLUSTERS clusters of 3 nodes.
topology() {
	local c n k=0
	echo "version: 1"
	echo "clusters:"
	for ((c = 0; c < $1; c++)); do
		echo "  c$c:"
		echo "    primary: n1"
		echo "    nodes:"
		for n in 1 2 3; do
			echo "      n$n: {host: 127.0.0.1, port: ${ports[c * 3 + n - 1]}, data_dir: data/c$c/n$n}"
			k=$((k + 1))
		done
		echo "    settings: {shared_buffers: 16MB, max_connections: 20}"
		echo "    roles: {app: {login: true}}"
		echo "    databases: {appdb: {owner: app}}"
		echo "    replication: {user: replicator, slots: true}"
	done
}
topology 1 >"$tmp/topo3.yaml"
topology 10 >"$tmp/topo30.yaml"

now_us() { echo "${EPOCHREALTIME/./}"; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }

# bring_up NAME - `pgconverge apply` of topology NAME, then a plan that must
# find nothing to do.
bring_up() {
	local t0 rc
	t0=$(now_us)
	run_child "$pgc" apply -f "$tmp/$1.yaml" --state-dir "$tmp/state-$1" >"$tmp/apply-$1.out" 2>"$tmp/apply-$1.err"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "noop_plan: pgconverge apply -f $1.yaml exited with $rc:"
		tail -n 20 "$tmp/apply-$1.err"
		return 1
	fi
	echo "   (brought up by pgconverge apply in $(ms $(($(now_us) - t0))) ms)"
	"$pgc" plan -f "$tmp/$1.yaml" --state-dir "$tmp/state-$1" >"$tmp/plan-$1.out" 2>&1 || {
		echo "noop_plan: $1 is not converged after apply:"
		head -n 20 "$tmp/plan-$1.out"
		return 1
	}
}

# baseline PORT... - psql 'select 1' to every port at once; fails when one fails.
baseline() {
	local p pids=() rc=0
	for p in "$@"; do
		runuser -u postgres -- "$pgbin/psql" -X -h "$sockdir" -p "$p" -c 'select 1' >/dev/null 2>&1 &
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

# measure NAME NODES - N alternating runs of the baseline and of the plan.
measure() {
	local name=$1 nodes=$2 i t0 b=() p=() mb mp rss
	for ((i = 0; i < runs; i++)); do
		# Alternate which goes first, so that neither always finds warm caches.
		if ((i % 2)); then
			t0=$(now_us); "$pgc" plan -q -f "$tmp/$name.yaml" --state-dir "$tmp/state-$name" >/dev/null 2>"$tmp/plan.err" ||
				{ echo "noop_plan: plan found changes or failed:"; cat "$tmp/plan.err"; return 1; }
			p+=($(($(now_us) - t0)))
			t0=$(now_us); baseline "${ports[@]:0:nodes}" || { echo "noop_plan: psql baseline failed"; return 1; }
			b+=($(($(now_us) - t0)))
		else
			t0=$(now_us); baseline "${ports[@]:0:nodes}" || { echo "noop_plan: psql baseline failed"; return 1; }
			b+=($(($(now_us) - t0)))
			t0=$(now_us); "$pgc" plan -q -f "$tmp/$name.yaml" --state-dir "$tmp/state-$name" >/dev/null 2>"$tmp/plan.err" ||
				{ echo "noop_plan: plan found changes or failed:"; cat "$tmp/plan.err"; return 1; }
			p+=($(($(now_us) - t0)))
		fi
	done
	mb=$(printf '%s\n' "${b[@]}" | median)
	mp=$(printf '%s\n' "${p[@]}" | median)
	printf '   baseline psql select 1 x%-2d  median %8s ms   (min %s, max %s)\n' "$nodes" "$(ms "$mb")" \
		"$(ms "$(printf '%s\n' "${b[@]}" | sort -n | head -n 1)")" "$(ms "$(printf '%s\n' "${b[@]}" | sort -n | tail -n 1)")"
	printf '   pgconverge plan              median %8s ms   (min %s, max %s)\n' "$(ms "$mp")" \
		"$(ms "$(printf '%s\n' "${p[@]}" | sort -n | head -n 1)")" "$(ms "$(printf '%s\n' "${p[@]}" | sort -n | tail -n 1)")"
	awk -v p="$mp" -v b="$mb" -v t="$target" 'BEGIN {
		r = p / b
		printf "   ratio plan/baseline %.3f (target <= %s: %s)\n", r, t, r <= t ? "met" : "NOT met" }'
	if [ -x /usr/bin/time ]; then
		rss=$(peak_rss_kb "$pgc" plan -q -f "$tmp/$name.yaml" --state-dir "$tmp/state-$name")
		echo "   peak RSS of pgconverge plan: ${rss:-?} kB"
	fi
}

echo "== noop plan, 1 cluster x 3 nodes ($runs runs)"
bring_up topo3 || exit 1
measure topo3 3 || exit 1
echo "== noop plan, 10 clusters x 3 nodes ($runs runs)"
bring_up topo30 || exit 1
measure topo30 30 || exit 1
