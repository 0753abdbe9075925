#!/usr/bin/env bash
# tests/integration/test_agent_fence_record.sh - what an agent started anew
# reads back from etcd before its passes start a node as a primary (one
# host, 127.0.0.2, one node, a real etcd):
#   1. P/C/primary names the node on a later timeline than its control
#      file's (a promotion came after its data): the stopped node is not
#      started, and the refusal names both timelines;
#   2. P/C/fenced/NODE is there (its agent fenced it, then was restarted):
#      the new agent takes the fence back (logged), no pass starts the node,
#      and the agent itself starts it again as the primary through a claim
#      once nothing replaced it; the record goes.
#
# Needs root (servers run as postgres), PostgreSQL 15, etcd, free loopback
# ports. One ok/FAIL line per check; exit 1 when any check failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1

tmp=$(lib_tmpdir) || exit 1
agent_pid=
cleanup() {
	[ -n "$agent_pid" ] && kill -KILL "$agent_pid" 2>/dev/null
	lib_etcd_stop_all "$tmp"
	lib_teardown "$tmp"
}
trap cleanup EXIT

lib_node_ports 1
eports=$(lib_free_ports 2) || { echo "FAIL no free ports"; exit 1; }
ecport=$(echo "$eports" | sed -n 1p)
epport=$(echo "$eports" | sed -n 2p)
etcd_url=http://127.0.0.1:$ecport
topo=$tmp/topology.yaml
prefix=/pgc-fr
h=127.0.0.2
TTL=4

cat >"$topo" <<EOF
version: 1
coordination:
  etcd:
    endpoints: ["$etcd_url"]
    prefix: $prefix
    ttl: ${TTL}s
clusters:
  c:
    primary: pg1
    nodes:
      pg1: {host: $h, port: ${port[pg1]}, data_dir: data/pg1}
    settings:
      shared_buffers: 16MB
      max_connections: 20
EOF

etcdctl_() { ETCDCTL_API=3 etcdctl --endpoints "$etcd_url" "$@" 2>/dev/null; }
runs() { pid=$(lib_pidfile_pid "$tmp/data/pg1") && kill -0 "$pid" 2>/dev/null; }
answers() { lib_sql_is "${port[pg1]}" "select pg_is_in_recovery()" f; }
agent_start() {
	"$PGC" reconcile -f "$topo" --as "$h" --interval 1s --state-dir "$tmp/state" \
		>>"$tmp/agent.log" 2>&1 &
	agent_pid=$!
}
agent_kill() {
	kill -KILL "$agent_pid" 2>/dev/null
	wait "$agent_pid" 2>/dev/null
	agent_pid=
}
# restart_with KEY VALUE [KEY VALUE] - the agent killed and pg1 stopped, then
# the keys put (as a former agent or leader left them), then the agent started.
restart_with() {
	agent_kill
	lib_stop_server "$tmp/data/pg1"
	while [ $# -ge 2 ]; do
		etcdctl_ put "$1" "$2" >/dev/null || fail "etcdctl put $1"
		shift 2
	done
	: >"$tmp/agent.log"
	agent_start
}
# starts - successful ends of start actions of pg1 in the agent's journal.
starts() {
	python3 - "$tmp/state/journal.jsonl" <<'PY'
import json, sys
n = 0
try:
    for l in open(sys.argv[1]):
        e = json.loads(l)
        if e.get("event") == "end" and e.get("outcome") == "ok" and str(e.get("action", "")).endswith("/pg1/start"):
            n += 1
except FileNotFoundError:
    pass
print(n)
PY
}
show_log() { tail -n 20 "$tmp/agent.log" | sed 's/^/  | /'; }

lib_etcd_start "$tmp" e1 "$etcd_url" "http://127.0.0.1:$epport" ||
	{ fail "etcd starts"; lib_finish test_agent_fence_record; }
agent_start
if lib_wait 90 answers; then
	ok "the agent builds pg1 as the primary"
else
	fail "pg1 did not come up"
	show_log
	lib_finish test_agent_fence_record
fi
tli=$(lib_sql "${port[pg1]}" "select timeline_id from pg_control_checkpoint()")

echo "# 1. P/C/primary names pg1 on a later timeline than its own"
restart_with "$prefix/c/primary" \
	"{\"node\":\"pg1\",\"timeline\":$((tli + 5)),\"lsn\":\"0/9000000\",\"replicas\":[],\"at\":\"2026-12-07T20:00:00.000Z\"}"
check "the start is refused for the timeline" \
	lib_wait 30 grep -q "on timeline $((tli + 5)) .*data directory is on timeline $tli" "$tmp/agent.log"
sleep 3 # a few more passes
if runs; then
	fail "pg1 was started as a primary behind a later timeline"
	show_log
else
	ok "pg1 stays stopped over several passes"
fi

echo "# 2. P/C/fenced/pg1 left by an agent that was restarted since"
agent_kill
etcdctl_ del "$prefix/c/primary" >/dev/null
starts0=$(starts)
restart_with "$prefix/c/fenced/pg1" \
	'{"at":"2026-12-07T20:00:00.000Z","by":"self","reason":"no etcd for 3s"}'
check "the new agent takes the recorded fence back" \
	lib_wait 30 grep -q 'node "pg1" is recorded fenced (2026-12-07T20:00:00.000Z: no etcd for 3s)' "$tmp/agent.log"
check "its agent starts it again as the primary through a claim" \
	lib_wait 30 grep -q 'nothing replaced the self-fenced primary "pg1": starting it again' "$tmp/agent.log"
check "pg1 answers as the primary" lib_wait 30 answers
check "the record is gone" lib_wait 10 sh -c "[ -z \"\$(ETCDCTL_API=3 etcdctl --endpoints $etcd_url get $prefix/c/fenced/pg1 2>/dev/null)\" ]"
check "no pass started it meanwhile (the journal's successful starts: $starts0 before, $(starts) after)" \
	test "$(starts)" = "$starts0"

lib_finish test_agent_fence_record
