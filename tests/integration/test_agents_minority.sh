#!/usr/bin/env bash
# tests/integration/test_agents_minority.sh - coordinated agents in network
# namespaces (lib_netns.sh): three hosts with one node and one agent each,
# etcd on a fourth host.
#   1. The LEADER's host, which does not host the primary, is cut off: its
#      agent is in a minority. It loses its lease and leadership, applies
#      nothing (its log says so), promotes nobody, writes no decision;
#      another agent leads; the primary keeps its postmaster, stays the
#      only primary and takes every write. Healed, the agent rejoins as a
#      follower (in session, not leading) and its replica streams again.
#   2. The primary's host is cut off and its agent restarted there at once
#      (kill -9, started again, still cut off): the new agent has had no
#      pass, yet it watches the primary (a server without standby.signal)
#      and stops it within the ttl; a replica is promoted on the majority
#      side. The server started again by hand on the cut-off host is stopped
#      again by the agent (it stays fenced). Healed, it rejoins as a replica.
#
# Needs root and network namespaces (prints SKIP and exits 0 without them),
# PostgreSQL 15 and etcd. One ok/FAIL line per check; exit 1 when any failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/lib_netns.sh"
. "$top/tests/integration/lib_agents.sh"
lib_require_root
netns_require
PGC=$(lib_bin) || exit 1

tmp=$(lib_tmpdir) || exit 1
sampler_pid=
cleanup() {
	[ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
	agents_kill_all
	netns_teardown
	lib_etcd_stop_all "$tmp"
	lib_teardown "$tmp"
}
trap cleanup EXIT

lib_node_ports 3
eports=$(lib_free_ports 2) || { echo "FAIL no free ports"; exit 1; }
ecport=$(echo "$eports" | sed -n 1p)
epport=$(echo "$eports" | sed -n 2p)
netns_setup 4 || { fail "netns_setup 4"; lib_finish test_agents_minority; }
declare -A host=([pg1]=${NETNS_ADDR[1]} [pg2]=${NETNS_ADDR[2]} [pg3]=${NETNS_ADDR[3]})
declare -A hostno=([pg1]=1 [pg2]=2 [pg3]=3)
declare -A node_of=([${NETNS_ADDR[1]}]=pg1 [${NETNS_ADDR[2]}]=pg2 [${NETNS_ADDR[3]}]=pg3)
AG_NETNS=1
AG_ETCDCTL_HOST=4 # etcd's own host: never cut off here
etcd_url=http://${NETNS_ADDR[4]}:$ecport
prefix=/pgc-minority
TTL=4
agents_topology "$tmp/topology.yaml" "${NETNS_ADDR[1]%.*}.0/24"

status_is() { lib_json "$tmp/state-${host[$1]}/status.json" "$2"; }
leader_is_not() {
	local l
	l=$(etcd_get "$prefix/c/leader")
	[ -n "$l" ] && [ "$l" != "$1" ]
}
running() { kill -0 "$(lib_pidfile_pid "$tmp/data/$1")" 2>/dev/null; }
stopped() { ! running "$1"; }

netns_etcd_start 4 "$tmp" e1 "$etcd_url" "http://${NETNS_ADDR[4]}:$epport" ||
	{ fail "etcd starts on host 4"; lib_finish test_agents_minority; }
agents_start_all
t0=$SECONDS
if lib_wait 150 agents_converged; then
	ok "three agents in three namespaces build pg1 and two replicas ($((SECONDS - t0)) s)"
else
	fail "bootstrap did not converge"
	agents_show_logs
	lib_finish test_agents_minority
fi
q pg1 "create table t (i int)" >/dev/null

# --- 1. the leader's host, without the primary, in a minority ------------------------------

lib_wait 20 leader_is_not ""
leader=$(etcd_get "$prefix/c/leader")
if [ "$leader" = "${host[pg1]}" ]; then
	# The leader hosts the primary: its agent steps down (SIGTERM revokes its
	# lease), another takes over, and it comes back as a follower.
	agent_kill pg1 TERM
	lib_wait 20 leader_is_not "${host[pg1]}"
	agent_start pg1
	lib_wait 20 status_is pg1 "d['coordination']['session']"
	leader=$(etcd_get "$prefix/c/leader")
fi
ln=${node_of[$leader]:-}
case $ln in
pg2 | pg3) ok "the leader $leader hosts the replica $ln" ;;
*)
	fail "no leader off the primary's host (leader '$leader')"
	agents_show_logs
	lib_finish test_agents_minority
	;;
esac
[ "$ln" = pg2 ] && fn=pg3 || fn=pg2
check "$fn streams from pg1" streams_from "$fn" pg1
check "$ln's agent leads (status.json)" lib_wait 10 status_is "$ln" "d['coordination']['clusters']['c']['leading']"

(
	while :; do
		echo "$(date +%s%N) $(primaries)"
		sleep 0.2
	done
) >"$tmp/samples" 2>/dev/null &
sampler_pid=$!
pid1=$(lib_pidfile_pid "$tmp/data/pg1")
mark=$(wc -l <"$(agent_log "$ln")")
jmark=$(cat "$tmp/state-$leader/journal.jsonl" 2>/dev/null | wc -l)
start_ns=$(date +%s%N)
netns_cut "${hostno[$ln]}"
# Its lease expires in etcd within the ttl of its last keep-alive: another leads.
if lib_wait $((TTL * 3)) leader_is_not "$leader"; then
	ok "another agent leads: $(etcd_get "$prefix/c/leader") ($(( ($(date +%s%N) - start_ns) / 1000000 )) ms after the cut, ttl ${TTL} s)"
else
	fail "nobody else leads $((TTL * 3)) s after the leader's host was cut off"
fi
# The agent itself says so from its loop, which a loaded machine may delay.
if lib_wait $((TTL * 3)) sh -c "tail -n +$((mark + 1)) '$(agent_log "$ln")' | grep -q 'no longer the leader'"; then
	ok "the cut-off agent says it no longer leads ($(( ($(date +%s%N) - start_ns) / 1000000 )) ms after the cut)"
else
	fail "the cut-off agent of $ln does not say it is no longer the leader within $((TTL * 3)) s"
fi
newleader=$(etcd_get "$prefix/c/leader")
# Hold the partition for a few ttl, writing to the primary meanwhile.
writes=0
want=$((TTL * 2 * 2))
for i in $(seq 1 "$want"); do
	[ "$(q pg1 "insert into t values ($i) returning 1")" = 1 ] && writes=$((writes + 1))
	sleep 0.5
done
check "pg1 took every write meanwhile ($writes of $want)" test "$writes" = "$want"
check "pg1 kept its postmaster" test "$(lib_pidfile_pid "$tmp/data/pg1")" = "$pid1"
check "the cut-off agent applies nothing (its log)" sh -c \
	"tail -n +$((mark + 1)) '$(agent_log "$ln")' | grep -q 'this pass applies nothing'"
check "the cut-off agent ran no action (its journal)" test \
	"$(cat "$tmp/state-$leader/journal.jsonl" 2>/dev/null | wc -l)" = "$jmark"
check "the cut-off agent's replica $ln was not promoted" test "$(q "$ln" 'select pg_is_in_recovery()')" = t
check "no failover decision in etcd" test -z "$(etcd_get "$prefix/c/decision")"
check "the cut-off agent shows no session, no leadership (status.json)" lib_wait 10 \
	status_is "$ln" "not d['coordination']['clusters']['c']['leading'] and not d['coordination']['session']"
netns_heal "${hostno[$ln]}"
t0=$SECONDS
if lib_wait 30 status_is "$ln" "d['coordination']['session'] and not d['coordination']['clusters']['c']['leading']"; then
	ok "healed: the agent of $ln is in session again, as a follower ($((SECONDS - t0)) s)"
else
	fail "healed: the agent of $ln is not in session as a follower within 30 s"
	tail -n 20 "$(agent_log "$ln")" | sed 's/^/  | /'
fi
check "the leader stays $newleader" test "$(etcd_get "$prefix/c/leader")" = "$newleader"
check "healed: $ln streams from pg1 again" streams_from "$ln" pg1 60
if lib_wait 20 members_published; then
	ok "healed: every member published ($ln a replica)"
else
	fail "healed: not every member published ($(member_role pg1)/$(member_role pg2)/$(member_role pg3))"
fi
kill "$sampler_pid" 2>/dev/null
wait "$sampler_pid" 2>/dev/null
sampler_pid=
check "pg1 the only primary throughout ($(wc -l <"$tmp/samples") samples)" \
	sh -c "! awk '\$2 != \"pg1\" || NF != 2' '$tmp/samples' | grep -q ."
check "still no failover decision" test -z "$(etcd_get "$prefix/c/decision")"

# --- 2. the primary's agent restarted on its cut-off host: the primary stays stopped --------

if streams_from pg2 pg1 && streams_from pg3 pg1; then
	ok "pg2 and pg3 stream from pg1"
else
	fail "pg2 or pg3 does not stream from pg1"
fi
sleep 2 # the leader's view of the primary is fresh
pid1=$(lib_pidfile_pid "$tmp/data/pg1")
mark=$(wc -l <"$(agent_log pg1)")
start_ns=$(date +%s%N)
netns_cut 1
old_agent=${agent_pid[${host[pg1]}]}
agent_kill pg1 KILL
check "the agent of pg1 is gone (kill -9)" sh -c "! kill -0 $old_agent 2>/dev/null"
agent_start pg1
if lib_wait $((TTL + 3)) sh -c "! kill -0 $pid1 2>/dev/null"; then
	ok "the restarted agent stopped pg1 $(( ($(date +%s%N) - start_ns) / 1000000 )) ms after the cut (ttl ${TTL} s)"
else
	fail "pg1 still runs $((TTL + 3)) s after its host was cut off and its agent restarted"
	tail -n 20 "$(agent_log pg1)" | sed 's/^/  | /'
fi
check "the restarted agent runs (no other loop on its state folder)" agent_runs pg1
check "its log says it fenced pg1" sh -c \
	"tail -n +$((mark + 1)) '$(agent_log pg1)' | grep -q 'self-fenc'"
# ttl + detect_after + the promotion, with room for a loaded machine: 40 s.
new=
end=$((SECONDS + 40))
while [ $SECONDS -lt $end ]; do
	for n in pg2 pg3; do
		if [ "$(q "$n" 'select pg_is_in_recovery()')" = f ]; then
			new=$n
			break 2
		fi
	done
	sleep 0.1
done
if [ -n "$new" ]; then
	ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
	ok "$new promoted on the majority side ($ms ms after the cut)"
	if [ "$ms" -gt 20000 ]; then
		echo "  slow: what the agents on the majority side said"
		grep -h 'leads it now\|failover\|promot' "$(agent_log pg2)" "$(agent_log pg3)" | tail -n 20 | cut -c1-240 | sed 's/^/  | /'
	fi
else
	fail "no replica was promoted within 40 s of the cut"
	agents_show_logs 20
fi
# Someone (a service manager, an operator) starts pg1 again on its cut-off host.
mark=$(wc -l <"$(agent_log pg1)")
mkdir -p "$tmp/by-hand"
chown postgres "$tmp/by-hand"
netns_exec 1 runuser -u postgres -- "$LIB_PG_BIN/pg_ctl" -D "$tmp/data/pg1" -l "$tmp/by-hand/pg1.log" \
	start -W >"$tmp/by-hand/pg_ctl.out" 2>&1
restarted() { running pg1 || tail -n +$((mark + 1)) "$(agent_log pg1)" | grep -q 'runs again without a claim'; }
if lib_wait 10 restarted; then
	ok "pg1 started again by hand on its cut-off host"
	if lib_wait 10 stopped pg1; then
		ok "the agent stopped it again: pg1 stays fenced"
	else
		fail "pg1 started by hand still runs 10 s later"
	fi
	check "its log says so" sh -c "tail -n +$((mark + 1)) '$(agent_log pg1)' | grep -q 'runs again without a claim'"
else
	fail "pg1 could not be started by hand"
	tail -n 5 "$tmp/by-hand/pg_ctl.out" "$tmp/by-hand/pg1.log" 2>/dev/null | sed 's/^/  | /'
fi
sleep $((TTL * 2))
check "pg1 stays stopped $((TTL * 2)) s later" stopped pg1
netns_heal 1
if [ -n "$new" ]; then
	check "healed: pg1 rejoins as a replica of $new" streams_from pg1 "$new" 120
	check "one primary: $new" test "$(primaries)" = "$new"
fi

lib_finish test_agents_minority
