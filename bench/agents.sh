#!/usr/bin/env bash
# bench/agents.sh - one agent per host against Patroni 3.0: the time from a
# failure to the first write committed on a primary, on this machine, with
# one real etcd on loopback and three PostgreSQL 15 nodes.
#
#   bash bench/agents.sh        (as root; BENCH_RUNS=N runs per scenario,
#                                default 1; BENCH_ARMS="patroni-default
#                                patroni-fast pgconverge" to pick arms)
#
# It installs Debian's `patroni` package when it is missing
# (apt-get -y install patroni).
#
# Arms (each on a fresh cluster of three nodes, n1 n2 n3):
#   patroni-default  Patroni at its defaults (ttl 30, loop_wait 10,
#                    retry_timeout 10), asynchronous replication (its default);
#   patroni-fast     Patroni with ttl 10, loop_wait 2, retry_timeout 3;
#   pgconverge       three `pgconverge reconcile --as 127.0.0.X` agents (nodes
#                    on 127.0.0.2-4), coordination.etcd ttl 10s, failover
#                    auto (detect_after 2s, probe_interval 500ms),
#                    synchronous replication (any 1).
# Patroni runs as postgres (setpriv, argv only), from a YAML file the script
# writes into its temp folder, and runs the servers itself; it talks to etcd
# through the v3 API (etcd3:).
#
# Scenarios, each run on a steady cluster (one primary, two streaming
# replicas), the clock starting at the kill:
#   (a) kill -9 of the primary's postmaster (its agent stays up);
#   (b) the whole "host" killed: kill -9 of its agent (Patroni or pgconverge)
#       and of its postmaster at once.
# A writer then tries one INSERT (psql, a new connection each time, 5 s
# bound) on every node in turn, every 20 ms, and the time of the first one
# committed is the figure, with the node that took it ("in place" when it is
# the node that was killed: Patroni restarts a crashed primary when it still
# holds the leader key). Between runs the killed host is started again and
# the cluster must become steady again.
#
# It prints every run, then a table of medians, and the resident memory of
# the agents (ps -o rss) and of the etcd member. A figure that was not
# measured is printed as n/a with the reason, never as a number.
set -u

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
runs=${BENCH_RUNS:-1}
arms=${BENCH_ARMS:-patroni-default patroni-fast pgconverge}
steady_s=${BENCH_STEADY:-180}
write_limit_s=120

declare -A agent_pid=()   # node -> pid of its agent (Patroni or pgconverge)
etcd_dir=
stop_all() {
	local n
	for n in "${!agent_pid[@]}"; do
		kill -KILL "${agent_pid[$n]}" 2>/dev/null
	done
	[ -n "$etcd_dir" ] && lib_etcd_stop_all "$etcd_dir"
}
bench_start agents stop_all

if ! command -v patroni >/dev/null; then
	echo "agents: installing Debian's patroni package (apt-get -y install patroni)"
	DEBIAN_FRONTEND=noninteractive apt-get -y install patroni >"$tmp/apt.log" 2>&1 || {
		echo "agents: apt-get install patroni failed:"
		tail -n 5 "$tmp/apt.log"
		exit 1
	}
fi
patroni_version=$(patroni --version 2>/dev/null | awk '{ print $2 }')

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# One etcd member for every arm (each arm has its own prefix).
bench_ports 2 || exit 1
etcd_dir=$tmp/etcd
mkdir -p "$etcd_dir"
etcd_url=http://127.0.0.1:${ports[0]}
lib_etcd_start "$etcd_dir" bench "$etcd_url" "http://127.0.0.1:${ports[1]}" || exit 1

declare -A port=() node_host=()
nodes="n1 n2 n3"
arm_dir=
arm=

# write_once PORT - one INSERT on the node at PORT; true when committed.
write_once() {
	PGCONNECT_TIMEOUT=1 timeout 5 "$LIB_PG_BIN/psql" -X -q -h "$LIB_SOCKET_DIR" -p "$1" -U postgres \
		-d postgres -v ON_ERROR_STOP=1 -c "insert into agents_bench values (now())" >/dev/null 2>&1
}
# primary_of - the node out of recovery, if exactly one is.
primary_of() {
	local n found=""
	for n in $nodes; do
		[ "$(lib_sql "${port[$n]}" 'select pg_is_in_recovery()' 2>/dev/null)" = f ] && found="$found $n"
	done
	[ "$(echo $found | wc -w)" = 1 ] || return 1
	echo $found
}
# is_steady - one primary with two streaming replicas, that takes writes
# once the bench's table exists (table_ready).
table_ready=
is_steady() {
	local p
	p=$(primary_of) || return 1
	[ "$(lib_sql "${port[$p]}" "select count(*) from pg_stat_replication where state = 'streaming'" 2>/dev/null)" = 2 ] ||
		return 1
	[ -z "$table_ready" ] || write_once "${port[$p]}"
}
# agent_alive NODE
agent_alive() { kill -0 "${agent_pid[$1]:-0}" 2>/dev/null; }

# --- Patroni ---------------------------------------------------------------

# patroni_conf NODE TIMINGS - the YAML of NODE; TIMINGS is empty (defaults)
# or "ttl loop_wait retry_timeout".
patroni_conf() {
	local n=$1 dcs=""
	if [ -n "$2" ]; then
		set -- $2
		dcs="    ttl: $1
    loop_wait: $2
    retry_timeout: $3"
	fi
	cat <<EOF
scope: agents-bench-$arm
namespace: /patroni-bench/
name: $n
restapi:
  listen: 127.0.0.1:${port[api_$n]}
  connect_address: 127.0.0.1:${port[api_$n]}
etcd3:
  hosts: ${etcd_url#http://}
bootstrap:
  dcs:
$dcs
    postgresql:
      use_pg_rewind: true
      parameters:
        shared_buffers: 16MB
        max_connections: 30
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:${port[$n]}
  connect_address: 127.0.0.1:${port[$n]}
  data_dir: $arm_dir/$n
  bin_dir: $LIB_PG_BIN
  pgpass: $arm_dir/pgpass-$n
  authentication:
    replication: {username: replicator, password: $(openssl rand -hex 12)}
    superuser: {username: postgres, password: $(openssl rand -hex 12)}
    rewind: {username: rewinder, password: $(openssl rand -hex 12)}
  parameters:
    unix_socket_directories: $LIB_SOCKET_DIR
EOF
}

# patroni_start NODE - Patroni for NODE as postgres, in the background.
patroni_start() {
	local n=$1
	(cd "$arm_dir" && exec setpriv --reuid postgres --regid postgres --init-groups --reset-env \
		/usr/bin/patroni "$arm_dir/$n.yml") >>"$arm_dir/$n.log" 2>&1 </dev/null &
	agent_pid[$n]=$!
}

# patroni_setup TIMINGS - a fresh Patroni cluster: configuration, three
# Patronis; returns once steady.
patroni_setup() {
	local n
	arm_dir=$tmp/$arm
	install -d -o postgres -g postgres -m 0700 "$arm_dir"
	bench_ports 6 || return 1
	port[n1]=${ports[0]} port[n2]=${ports[1]} port[n3]=${ports[2]}
	port[api_n1]=${ports[3]} port[api_n2]=${ports[4]} port[api_n3]=${ports[5]}
	for n in $nodes; do
		patroni_conf "$n" "$1" >"$arm_dir/$n.yml"
		chown postgres:postgres "$arm_dir/$n.yml"
		chmod 600 "$arm_dir/$n.yml"
	done
	for n in $nodes; do patroni_start "$n"; done
}
patroni_restart_host() { patroni_start "$1"; }

# --- pgconverge ------------------------------------------------------------

pgc_start() {
	local n=$1
	setsid "$PGC" reconcile -f "$arm_dir/topology.yaml" --as "${node_host[$n]}" \
		--state-dir "$arm_dir/state-$n" >>"$arm_dir/$n.log" 2>&1 </dev/null &
	agent_pid[$n]=$!
}
pgc_setup() {
	local n i=2
	arm_dir=$tmp/$arm
	mkdir -p "$arm_dir"
	chmod 755 "$arm_dir"
	bench_ports 3 || return 1
	port[n1]=${ports[0]} port[n2]=${ports[1]} port[n3]=${ports[2]}
	for n in $nodes; do
		node_host[$n]=127.0.0.$i
		i=$((i + 1))
	done
	cat >"$arm_dir/topology.yaml" <<EOF
version: 1
coordination:
  etcd: {endpoints: ["$etcd_url"], prefix: /pgconverge-bench-$$, ttl: 10s}
clusters:
  ab:
    primary: n1
    nodes:
      n1: {host: ${node_host[n1]}, port: ${port[n1]}, data_dir: data/n1}
      n2: {host: ${node_host[n2]}, port: ${port[n2]}, data_dir: data/n2}
      n3: {host: ${node_host[n3]}, port: ${port[n3]}, data_dir: data/n3}
    initdb: {locale: C.UTF-8, encoding: UTF8, data_checksums: true}
    settings: {shared_buffers: 16MB, max_connections: 30}
    hba:
      - {type: host, database: all, user: postgres, address: 127.0.0.0/8, method: trust}
      # On one machine, connections between loopback addresses come from 127.0.0.1.
      - {type: host, database: replication, user: replicator, address: 127.0.0.0/8, method: trust}
    replication:
      user: replicator
      synchronous: {method: any, count: 1}
    failover: {mode: auto, detect_after: 2s, probe_interval: 500ms, min_interval: 1s}
EOF
	if ! "$PGC" validate -f "$arm_dir/topology.yaml" >"$arm_dir/validate.out" 2>&1; then
		arm_error="validate: $(grep -m 1 -i error "$arm_dir/validate.out" || head -n 1 "$arm_dir/validate.out")"
		arm_error=${arm_error//"$arm_dir/"/}
		return 1
	fi
	for n in $nodes; do
		mkdir -p "$arm_dir/state-$n"
		pgc_start "$n"
	done
}
pgc_restart_host() { pgc_start "$1"; }

# --- the runs --------------------------------------------------------------

# show_logs - the tail of each agent's log (the folder goes at the end).
show_logs() {
	local n
	for n in $nodes; do
		echo "   --- $arm: $n's agent log (tail)"
		tail -n 6 "$arm_dir/$n.log" 2>/dev/null | cut -c 1-240 | sed 's/^/   | /'
	done
}

# wait_steady SECONDS - true once steady; false (arm_error set) when an
# agent exited or the time is up.
wait_steady() {
	local end=$((SECONDS + $1)) n
	while :; do
		is_steady && return 0
		for n in $nodes; do
			if ! agent_alive "$n"; then
				arm_error="the agent of $n exited: $(tail -n 1 "$arm_dir/$n.log" 2>/dev/null | cut -c 1-160)"
				show_logs
				return 1
			fi
		done
		if [ $SECONDS -ge $end ]; then
			arm_error="not steady after $1 s"
			show_logs
			return 1
		fi
		sleep 0.5
	done
}

# first_write T_KILL - the writer: sets took (ms) and by (node), or returns 1.
first_write() {
	local n
	while [ $(($(now_ms) - $1)) -lt $((write_limit_s * 1000)) ]; do
		for n in $nodes; do
			if write_once "${port[$n]}"; then
				took=$(($(now_ms) - $1))
				by=$n
				return 0
			fi
		done
		sleep 0.02
	done
	return 1
}

# run_scenario a|b R - one kill and its measure; appends to res_a / res_b.
run_scenario() {
	local sc=$1 r=$2 p pm t_kill where
	p=$(primary_of) || {
		echo "   $arm ($sc) run $r: no single primary"
		return 1
	}
	pm=$(lib_pidfile_pid "$arm_dir/$p" 2>/dev/null || lib_pidfile_pid "$arm_dir/data/$p")
	[ -n "$pm" ] || {
		echo "   $arm ($sc) run $r: no postmaster pid for $p"
		return 1
	}
	sleep 1
	t_kill=$(now_ms)
	if [ "$sc" = a ]; then
		kill -KILL "$pm"
	else
		kill -KILL "${agent_pid[$p]:-}" "$pm"
		wait "${agent_pid[$p]}" 2>/dev/null # reaped quietly (no "Killed" line)
	fi
	if ! first_write "$t_kill"; then
		echo "   $arm ($sc) run $r: no write committed within ${write_limit_s}s"
		show_logs
		eval "err_$sc=\"no write within ${write_limit_s}s\""
		[ "$sc" = b ] && "${restart_host}" "$p"
		return 1
	fi
	where="failed over to $by"
	[ "$by" = "$p" ] && where="restarted in place"
	printf '   %-16s (%s) run %d: %6d ms  %s (primary was %s)\n' "$arm" "$sc" "$r" "$took" "$where" "$p"
	eval "res_$sc+=(\"$took\")"
	eval "how_$sc=\"\$where\""
	[ "$sc" = b ] && "$restart_host" "$p"
	return 0
}

# cell NAME - the median of res_NAME, or n/a with the reason.
cell() {
	local -n arr=res_$1
	local -n err=err_$1
	local -n how=how_$1
	if [ ${#arr[@]} -eq 0 ]; then
		if [ "$arm" = pgconverge ]; then
			echo "n/a (agent failed: ${err:-not run})"
		else
			echo "n/a (${err:-not run})"
		fi
		return
	fi
	local m
	m=$(printf '%s\n' "${arr[@]}" | bench_median)
	printf '%.0f ms (%d run%s; %s)' "$m" "${#arr[@]}" "$([ ${#arr[@]} -gt 1 ] && echo s)" "$how"
}

declare -A table_a=() table_b=() table_rss=()
echo "== agents: kill to the first committed write, one etcd member, 3 nodes, $runs run(s) per scenario"
echo "   Patroni $patroni_version; PostgreSQL 15; etcd $(etcd --version | awk 'NR == 1 { print $3 }')"
for arm in $arms; do
	# shellcheck disable=SC2034 # read through namerefs (cell) and eval
	res_a=() res_b=() err_a="" err_b="" how_a="" how_b="" arm_error="" table_ready=""
	agent_pid=()
	case $arm in
	patroni-default) setup="patroni_setup" timings="" restart_host=patroni_restart_host ;;
	patroni-fast) setup="patroni_setup" timings="10 2 3" restart_host=patroni_restart_host ;;
	pgconverge) setup="pgc_setup" timings="" restart_host=pgc_restart_host ;;
	*)
		echo "agents: unknown arm $arm"
		continue
		;;
	esac
	t0=$(now_ms)
	if $setup "$timings" && wait_steady "$steady_s"; then
		echo "   $arm: steady after $(($(now_ms) - t0)) ms"
		p=$(primary_of)
		lib_sql "${port[$p]}" "create table agents_bench (t timestamptz)" >/dev/null
		table_ready=1
		for sc in a b; do
			for ((r = 1; r <= runs; r++)); do
				if ! wait_steady "$steady_s"; then
					eval "err_$sc=\"\$arm_error\""
					echo "   $arm ($sc) run $r: $arm_error"
					break
				fi
				run_scenario "$sc" "$r" || break
			done
		done
		# RSS of each agent once the killed host has rejoined.
		if wait_steady "$steady_s"; then
			echo "   $arm: steady again after the last run (the killed host rejoined)"
		else
			echo "   $arm: after the last run: $arm_error"
		fi
		rss=""
		for n in $nodes; do
			agent_alive "$n" && rss="$rss $(ps -o rss= -p "${agent_pid[$n]}" | tr -d ' ')"
		done
		table_rss[$arm]=$(echo $rss | awk '{ if (NF == 0) { print "n/a"; exit } for (i = 1; i <= NF; i++) { s = s sep $i; sep = ", " } print s " kB" }')
	else
		echo "   $arm: $arm_error"
		# shellcheck disable=SC2034 # read through namerefs (cell)
		err_a=${arm_error:-setup failed} err_b=${arm_error:-setup failed}
		table_rss[$arm]="n/a"
	fi
	table_a[$arm]=$(cell a)
	table_b[$arm]=$(cell b)
	# Stop the arm: agents (Patroni stops its servers on TERM), then what is left.
	for n in "${!agent_pid[@]}"; do kill -TERM "${agent_pid[$n]}" 2>/dev/null; done
	for n in "${!agent_pid[@]}"; do
		for _ in $(seq 1 300); do agent_alive "$n" || break; sleep 0.1; done
		kill -KILL "${agent_pid[$n]}" 2>/dev/null
		wait "${agent_pid[$n]}" 2>/dev/null
	done
	agent_pid=()
	bench_stop_servers "$arm_dir"
done
etcd_rss=$(ps -o rss= -p "$(cat "$etcd_dir/bench.etcd.pid")" | tr -d ' ')

label() {
	case $1 in
	patroni-default) echo "Patroni $patroni_version defaults (ttl 30, loop_wait 10, retry_timeout 10)" ;;
	patroni-fast) echo "Patroni $patroni_version ttl 10, loop_wait 2, retry_timeout 3" ;;
	pgconverge) echo "pgconverge agents (ttl 10s, detect_after 2s)" ;;
	esac
}
# row NAME CELLS... - one line of the table.
row() {
	local out="| $1 |"
	shift
	for c in "$@"; do out="$out $c |"; done
	echo "$out"
}
echo
echo "   kill to the first committed write (median), and memory:"
echo
head=() sep=() ca=() cb=() cr=()
for arm in $arms; do
	head+=("$(label "$arm")") sep+=("---")
	ca+=("${table_a[$arm]}") cb+=("${table_b[$arm]}") cr+=("${table_rss[$arm]}")
done
row "" "${head[@]}"
row "---" "${sep[@]}"
row "(a) kill -9 of the primary's postmaster" "${ca[@]}"
row "(b) primary's host killed (agent + postmaster)" "${cb[@]}"
row "RSS of each node's agent (ps -o rss)" "${cr[@]}"
echo
echo "   targets for pgconverge: (a) detect_after + 1 s = 3000 ms; (b) ttl + 1 s = 11000 ms; RSS < 15 MB"
echo "   etcd member RSS: ${etcd_rss:-n/a} kB"
