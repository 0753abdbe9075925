#!/usr/bin/env bash
# tests/integration/test_status_coord.sh - `pgconverge status` with
# coordination.etcd, through the CLI, against a real etcd whose keys are
# written with etcdctl in the agents' layout (reconcile/coord/coord.h):
#   1. text: the leader and its fencing token (the leader key's
#      create_revision), each host's agent and its last report, the members
#      as published, a decision, a fenced node; a node nobody published;
#   2. --format json: the same in each cluster's "coordination" object;
#   3. etcd with authentication: the password from a secret file;
#   4. etcd stopped: one warning line, the node table still printed, exit 0,
#      and "coordination": {"error": ...} in JSON.
# The nodes are not running: what libpq sees (down) is printed as usual.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1
for tool in etcd etcdctl; do
	command -v "$tool" >/dev/null || { echo "FAIL \"$tool\" is needed"; exit 1; }
done

tmp=$(lib_tmpdir) || exit 1
cleanup() {
	lib_etcd_stop_all "$tmp"
	lib_teardown "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ports=$(lib_free_ports 4) || { echo "FAIL no free ports"; exit 1; }
# shellcheck disable=SC2086
set -- $ports
p_client=$1 p_peer=$2 p_pg1=$3 p_pg2=$4
url=http://127.0.0.1:$p_client
export ETCDCTL_API=3
ctl() { etcdctl --endpoints="$url" "$@"; }
lib_etcd_start "$tmp" coord "$url" "http://127.0.0.1:$p_peer" || { echo "FAIL start etcd"; exit 1; }

topo=$tmp/topology.yaml
# write_topology [AUTH_LINES] - two nodes on two hosts (both this machine).
write_topology() {
	cat >"$topo" <<EOF
version: 1
coordination:
  etcd:
    endpoints: [$url]
    prefix: /it
$1
clusters:
  main:
    primary: pg1
    failover: {mode: off}   # manual (the default) has no failover with coordination: a warning
    nodes:
      pg1: {host: 127.0.0.1, port: $p_pg1, data_dir: data/pg1}
      pg2: {host: localhost, port: $p_pg2, data_dir: data/pg2}
EOF
}
write_topology ""
status() { "$PGC" status -f "$topo" --state-dir "$tmp/state" --as 127.0.0.1 --no-color "$@"; }

now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
ctl put /it/main/leader 127.0.0.1 >/dev/null
token=$(ctl get /it/main/leader -w json | jq -r '.kvs[0].create_revision')
ctl put /it/agents/127.0.0.1 "{\"host\":\"127.0.0.1\",\"pid\":4242,\"version\":\"t\",\"started_at\":\"$now\",\"reported_at\":\"$now\",\"nodes\":[\"main/pg1\"]}" >/dev/null
ctl put /it/main/members/pg1 "{\"host\":\"127.0.0.1\",\"role\":\"primary\",\"running\":true,\"timeline\":2,\"lsn\":\"0/3000060\",\"receiver\":{\"status\":null,\"upstream\":null,\"last_msg_age_ms\":null},\"reported_at\":\"$now\"}" >/dev/null
ctl put /it/main/decision "{\"kind\":\"failover\",\"from\":\"pg2\",\"to\":\"pg1\",\"token\":$token,\"leader\":\"127.0.0.1\",\"state\":\"promoted\",\"at\":\"$now\"}" >/dev/null
ctl put /it/main/fenced/pg2 "{\"by\":\"self\",\"reason\":\"cut off from etcd\",\"at\":\"$now\"}" >/dev/null

# --- 1. text -------------------------------------------------------------------
status >"$tmp/out" 2>"$tmp/err"
check "status exits 0" [ $? = 0 ]
check "no warning" [ ! -s "$tmp/err" ]
has() { grep -qE -- "$1" "$tmp/out"; }
check "the node table is there (libpq: down)" has '^  pg1 +down '
check "the leader and its fencing token" has "^  coordination: leader 127\.0\.0\.1 \(fencing token $token\)$"
check "the agent of 127.0.0.1 and its last report" has "^  127\.0\.0\.1 +[0-9]+s ago \($now\), pid 4242, version t$"
check "no agent for localhost" has '^  localhost +NONE: no agent key'
check "pg1 as its agent published it" has '^  pg1 +127\.0\.0\.1 +primary +2 +0/3000060 +- +[0-9]+s ago$'
check "pg2 published by nobody" has '^  pg2 +not published'
check "the decision" has "^  decision   failover pg2 -> pg1: promoted at $now \(token $token, leader 127\.0\.0\.1\)$"
check "the fenced node" has "^  fenced     pg2 by self at $now: cut off from etcd$"

# --- 2. json -------------------------------------------------------------------
status --format json >"$tmp/out.json" 2>"$tmp/err"
check "json: exits 0" [ $? = 0 ]
check "json: leader and token" lib_json "$tmp/out.json" \
	"d['clusters'][0]['coordination']['leader'] == {'host': '127.0.0.1', 'token': $token}"
check "json: agents" lib_json "$tmp/out.json" \
	"[(a['host'], a['present'], a['pid']) for a in d['clusters'][0]['coordination']['agents']] == [('127.0.0.1', True, 4242), ('localhost', False, None)] and d['clusters'][0]['coordination']['agents'][0]['age_s'] < 60"
check "json: members" lib_json "$tmp/out.json" \
	"[(m['node'], m['present'], m.get('role'), m.get('timeline'), m.get('lsn')) for m in d['clusters'][0]['coordination']['members']] == [('pg1', True, 'primary', 2, '0/3000060'), ('pg2', False, None, None, None)]"
check "json: decision" lib_json "$tmp/out.json" \
	"d['clusters'][0]['coordination']['decision'] == {'kind': 'failover', 'from': 'pg2', 'to': 'pg1', 'state': 'promoted', 'leader': '127.0.0.1', 'at': '$now', 'token': $token}"
check "json: fenced" lib_json "$tmp/out.json" \
	"d['clusters'][0]['coordination']['fenced'][0]['node'] == 'pg2' and d['clusters'][0]['coordination']['error'] is None"
check "json: what libpq sees is still there" lib_json "$tmp/out.json" \
	"d['clusters'][0]['nodes'][0]['role'] == 'down'"

# --- 3. authentication ------------------------------------------------------------
printf 'it-Pa55\n' | ctl user add root --interactive=false >/dev/null 2>&1
ctl auth enable >/dev/null 2>&1
install -d -m 700 "$tmp/secrets"
printf 'it-Pa55\n' >"$tmp/secrets/etcd"
chmod 600 "$tmp/secrets/etcd"
write_topology "    user: root
    password: {file: $tmp/secrets/etcd}"
status >"$tmp/out" 2>"$tmp/err"
check "with authentication: the coordination state" has "^  coordination: leader 127\.0\.0\.1 \(fencing token $token\)$"
check "... and no warning" [ ! -s "$tmp/err" ]
printf 'wrong\n' >"$tmp/secrets/etcd"
status >"$tmp/out" 2>"$tmp/err"
check "a wrong password: one warning that says so" \
	[ "$(grep -c 'coordination state not shown: .*authentication failed' "$tmp/err")" = 1 ]
check "... without the password" sh -c "! grep -q wrong '$tmp/err'"
ctl --user root:it-Pa55 auth disable >/dev/null 2>&1
write_topology ""

# --- 4. etcd stopped -----------------------------------------------------------------
lib_etcd_stop "$tmp" coord
status >"$tmp/out" 2>"$tmp/err"
check "etcd stopped: status still exits 0" [ $? = 0 ]
check "... one warning line" [ "$(wc -l <"$tmp/err")" = 1 ]
check "... that names etcd" grep -q "warning: coordination state not shown: etcd: get prefix \"/it/\" on $url" "$tmp/err"
check "... the node table is printed" has '^  pg2 +down '
check "... and no coordination lines" sh -c "! grep -q 'coordination:' '$tmp/out'"
status --format json >"$tmp/out.json" 2>/dev/null
check "... json: coordination.error" lib_json "$tmp/out.json" \
	"d['clusters'][0]['coordination']['error'].startswith('etcd: get prefix') and 'leader' not in d['clusters'][0]['coordination']"

lib_finish test_status_coord
