# shellcheck shell=bash
# tests/integration/lib_agents.sh - the set-up of the tests that run one
# `pgconverge reconcile --as HOST` agent per "host", coordinated through a
# real etcd: three nodes pg1 (the primary), pg2 and pg3, one per host. Source
# it after lib.sh (and lib_netns.sh when the hosts are namespaces):
#
#   . "$top/tests/integration/lib.sh"
#   . "$top/tests/integration/lib_agents.sh"
#   tmp=$(lib_tmpdir); PGC=$(lib_bin)
#   lib_node_ports 3                        # port[pg1..pg3]
#   declare -A host=([pg1]=127.0.0.2 [pg2]=127.0.0.3 [pg3]=127.0.0.4)
#   prefix=/pgc-x; TTL=4; etcd_url=http://127.0.0.1:PORT   # (or several, comma-separated)
#   agents_topology "$tmp/topology.yaml" 127.0.0.1/32     # sets topo
#   agents_start_all; agents_wait_converged 120 || ...
#   trap 'agents_kill_all; lib_etcd_stop_all "$tmp"; lib_teardown "$tmp"' EXIT
#
# Hosts on loopback (127.0.0.2 ...) run their agent in the root namespace;
# with AG_NETNS set (an associative array hostno: node -> namespace number,
# lib_netns.sh), each agent runs inside its host's namespace, and etcdctl
# inside host AG_ETCDCTL_HOST (default 2).
#
# Globals read: tmp, PGC, port, host, prefix, TTL, etcd_url, topo, and
# AG_RECONCILE_ARGS (an array, empty by default): more options for every
# agent's `pgconverge reconcile`, e.g. AG_RECONCILE_ARGS=(--allow-switchover).
# Each agent logs to $tmp/agent-HOST.log (agent_log NODE gives the path),
# keeps its state in $tmp/state-HOST, and its pid is in agent_pid[HOST].

declare -gA agent_pid=()
declare -ga AG_RECONCILE_ARGS=()
AG_NETNS=${AG_NETNS:-}
AG_ETCDCTL_HOST=${AG_ETCDCTL_HOST:-2}

# agents_topology FILE HBA_ADDRESS [SYNCHRONOUS] - the topology of the three
# nodes, coordinated through etcd_url (one or more endpoints, comma-separated)
# with prefix and TTL: failover auto (detect_after 2 s, probe_interval 500 ms,
# min_interval 10 s), the replication user's password and a role app from
# secrets/ (written here), superuser trust and replication (scram) from
# HBA_ADDRESS (every connection between the hosts comes from there).
# SYNCHRONOUS: a YAML flow map for replication.synchronous (none by default).
# Sets topo.
agents_topology() {
	local file=$1 hba=$2 sync=${3:-} eps="" e
	local IFS_=$IFS
	IFS=,
	for e in $etcd_url; do eps="$eps${eps:+, }\"$e\""; done
	IFS=$IFS_
	mkdir -p "$tmp/secrets"
	chmod 700 "$tmp/secrets"
	printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
	printf 'app-pw\n' >"$tmp/secrets/app"
	chmod 600 "$tmp/secrets/replicator" "$tmp/secrets/app"
	cat >"$file" <<EOF
version: 1
coordination:
  etcd:
    endpoints: [$eps]
    prefix: $prefix
    ttl: ${TTL}s
clusters:
  c:
    primary: pg1
    nodes:
      pg1: {host: ${host[pg1]}, port: ${port[pg1]}, data_dir: data/pg1}
      pg2: {host: ${host[pg2]}, port: ${port[pg2]}, data_dir: data/pg2}
      pg3: {host: ${host[pg3]}, port: ${port[pg3]}, data_dir: data/pg3}
    settings:
      shared_buffers: 16MB
      max_connections: 30
      wal_log_hints: "on"
    failover: {mode: auto, detect_after: 2s, probe_interval: 500ms, min_interval: 10s}
    replication:
      user: replicator
      password: {file: secrets/replicator}
${sync:+      synchronous: $sync}
    hba:
      - {type: host, database: all, user: postgres, address: "$hba", method: trust}
      - {type: host, database: replication, user: replicator, address: "$hba", method: scram-sha-256}
    roles:
      app: {login: true, password: {file: secrets/app}}
EOF
	topo=$file
}

# q NODE SQL - one query on NODE over its unix socket (no error output).
q() { lib_sql "${port[$1]}" "$2" 2>/dev/null; }

# primaries - the nodes that answer out of recovery, space-separated.
primaries() {
	local n out=
	for n in pg1 pg2 pg3; do [ "$(q "$n" 'select pg_is_in_recovery()')" = f ] && out="$out $n"; done
	echo "${out# }"
}

# streams_from NODE UPSTREAM [SECONDS] - waits (30 s) until NODE's WAL
# receiver streams from UPSTREAM's port.
streams_from() {
	lib_wait "${3:-30}" lib_sql_is "${port[$1]}" \
		"select status || '|' || sender_port from pg_stat_wal_receiver" "streaming|${port[$2]}"
}

# etcdctl_ ARGS... - etcdctl (API v3) on etcd_url, from where the hosts reach etcd.
etcdctl_() {
	if [ -n "$AG_NETNS" ]; then
		netns_exec "$AG_ETCDCTL_HOST" env ETCDCTL_API=3 etcdctl --endpoints "$etcd_url" \
			--command-timeout 3s "$@"
	else
		ETCDCTL_API=3 etcdctl --endpoints "$etcd_url" --command-timeout 3s "$@"
	fi
}

# etcd_get KEY - the value of KEY (nothing when absent or unreachable).
etcd_get() { etcdctl_ get "$1" --print-value-only 2>/dev/null; }

# agent_log NODE - the log of NODE's agent.
agent_log() { echo "$tmp/agent-${host[$1]}.log"; }

# agent_start NODE - the agent of NODE's host, in the background (appends to
# its log), with AG_RECONCILE_ARGS.
agent_start() {
	local h=${host[$1]}
	if [ -n "$AG_NETNS" ]; then
		# ip itself, not the netns_exec function: a function in the background
		# is a subshell, and $! would be its pid. ip netns exec execs the agent.
		ip netns exec "${NETNS_NAME[${hostno[$1]}]}" "$PGC" reconcile -f "$topo" --as "$h" \
			--interval 1s --state-dir "$tmp/state-$h" "${AG_RECONCILE_ARGS[@]}" >>"$tmp/agent-$h.log" 2>&1 &
	else
		"$PGC" reconcile -f "$topo" --as "$h" --interval 1s --state-dir "$tmp/state-$h" \
			"${AG_RECONCILE_ARGS[@]}" >>"$tmp/agent-$h.log" 2>&1 &
	fi
	agent_pid[$h]=$!
}

# agent_kill NODE [SIGNAL] - the agent of NODE's host (KILL by default), by
# its pid; waits until it has ended (SIGTERM: after its current action; a
# SIGKILL follows after 30 s).
agent_kill() {
	local h=${host[$1]}
	[ -n "${agent_pid[$h]:-}" ] || return 0
	kill "-${2:-KILL}" "${agent_pid[$h]}" 2>/dev/null
	lib_wait 30 sh -c "! kill -0 ${agent_pid[$h]} 2>/dev/null" ||
		kill -KILL "${agent_pid[$h]}" 2>/dev/null
	wait "${agent_pid[$h]}" 2>/dev/null
	agent_pid[$h]=
}

# agent_runs NODE - the agent this test started for NODE's host still runs.
agent_runs() {
	local h=${host[$1]}
	[ -n "${agent_pid[$h]:-}" ] && kill -0 "${agent_pid[$h]}" 2>/dev/null
}

agents_start_all() {
	local n
	for n in pg1 pg2 pg3; do agent_start "$n"; done
}

# agents_kill_all - every agent this test started; for the EXIT trap.
agents_kill_all() {
	local h
	for h in "${!agent_pid[@]}"; do
		[ -n "${agent_pid[$h]}" ] && kill -KILL "${agent_pid[$h]}" 2>/dev/null
	done
	return 0
}

# agents_show_logs [LINES] - the tail of each agent's log, for a FAIL line.
agents_show_logs() {
	local n
	for n in pg1 pg2 pg3; do
		echo "  --- agent ${host[$n]} ($n)"
		tail -n "${1:-15}" "$(agent_log "$n")" 2>/dev/null | sed 's/^/  | /'
	done
}

# agents_converged [SYNC_COUNT] - pg1 the only primary, pg2 and pg3
# streaming from it, role app created; with SYNC_COUNT, that many of them
# synchronous (sync or quorum).
agents_converged() {
	[ "$(primaries)" = pg1 ] && streams_from pg2 pg1 1 && streams_from pg3 pg1 1 &&
		[ "$(q pg1 "select count(*) from pg_roles where rolname = 'app'")" = 1 ] &&
		{ [ -z "${1:-}" ] || lib_sql_is "${port[pg1]}" \
			"select count(*) from pg_stat_replication where sync_state in ('sync', 'quorum')" "$1"; }
}

# journal_count HOST ACTION_SUFFIX - successful ends of actions whose id ends in SUFFIX.
journal_count() {
	python3 - "$tmp/state-$1/journal.jsonl" "$2" <<'PY'
import json, sys
n = 0
try:
    for l in open(sys.argv[1]):
        e = json.loads(l)
        if e.get("event") == "end" and e.get("outcome") == "ok" and str(e.get("action", "")).endswith(sys.argv[2]):
            n += 1
except FileNotFoundError:
    pass
print(n)
PY
}

# journal_total ACTION_SUFFIX - journal_count over every host.
journal_total() {
	local s=0 n
	for n in pg1 pg2 pg3; do s=$((s + $(journal_count "${host[$n]}" "$1"))); done
	echo "$s"
}

# member_role NODE - the role NODE's member key reports (nothing when absent).
member_role() {
	etcd_get "$prefix/c/members/$1" | python3 -c 'import json, sys
try:
    print(json.load(sys.stdin)["role"])
except Exception:
    pass' 2>/dev/null
}

# members_published - every node has a member key with the role it has now
# (pg1 primary, or whatever primaries() says).
members_published() {
	local n p
	p=$(primaries)
	for n in pg1 pg2 pg3; do
		if [ "$n" = "$p" ]; then
			[ "$(member_role "$n")" = primary ] || return 1
		else
			[ "$(member_role "$n")" = replica ] || return 1
		fi
	done
}
