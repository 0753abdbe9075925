#!/usr/bin/env bash
# tests/integration/test_agents_faults.sh - three coordinated agents (one
# per "host": 127.0.0.2, .3, .4 on loopback) and a real THREE-member etcd
# cluster, through faults that must not make anyone act:
#   1. the whole etcd cluster down for several ttl, then
#   2. quorum lost (2 of the 3 members stopped) for several ttl: each time
#      pg1 stays the one primary (sampled every 0.5 s), takes every write,
#      keeps its postmaster; nobody is promoted and no decision is written;
#      the agents say they apply nothing; once etcd is back they resume (a
#      leader, every member and agent published, every agent in session);
#   3. a candidate that cannot promote: the replicas' data folders are made
#      unwritable for their server (pg_promote cannot create promote.signal)
#      and the primary's postmaster is killed: the leader decides, the
#      candidate's agent fails COORD_PROMOTE_ATTEMPTS (3) times and marks
#      the decision abandoned; the folders usable again, another failover
#      promotes a replica.
#
# Needs root (servers run as postgres), PostgreSQL 15, etcd, free loopback
# ports. One ok/FAIL line per check; exit 1 when any check failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/lib_agents.sh"
lib_require_root
PGC=$(lib_bin) || exit 1

tmp=$(lib_tmpdir) || exit 1
sampler_pid=
cleanup() {
	[ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
	agents_kill_all
	chmod 700 "$tmp/data/pg2" "$tmp/data/pg3" 2>/dev/null
	lib_etcd_stop_all "$tmp"
	lib_teardown "$tmp"
}
trap cleanup EXIT

lib_node_ports 3
declare -A host=([pg1]=127.0.0.2 [pg2]=127.0.0.3 [pg3]=127.0.0.4)
prefix=/pgc-faults
TTL=4
OUTAGE=$((TTL * 3))

lib_etcd_cluster_start "$tmp" 3 || { fail "a three-member etcd cluster starts"; lib_finish test_agents_faults; }
etcd_url=$LIB_ETCD_ENDPOINTS
agents_topology "$tmp/topology.yaml" 127.0.0.1/32

agents_start_all
t0=$SECONDS
if lib_wait 120 agents_converged; then
	ok "three agents on a three-member etcd build pg1 and two streaming replicas ($((SECONDS - t0)) s)"
else
	fail "bootstrap did not converge"
	agents_show_logs
	lib_finish test_agents_faults
fi
has_leader() { [ -n "$(etcd_get "$prefix/c/leader")" ]; }
check "a leader" lib_wait 20 has_leader
check "members: pg1 primary, pg2 and pg3 replicas" lib_wait 20 members_published
q pg1 "create table t (i int)" >/dev/null

# Never anyone but pg1 out of recovery while etcd fails: sampled every 0.5 s.
(
	while :; do
		echo "$(date +%s) $(primaries)"
		sleep 0.5
	done
) >"$tmp/samples" 2>/dev/null &
sampler_pid=$!

# in_session NODE - the status.json of NODE's agent says it has a session.
in_session() {
	lib_json "$tmp/state-${host[$1]}/status.json" "d['coordination']['session']"
}
in_session_all() { in_session pg1 && in_session pg2 && in_session pg3; }
# outage NAME MEMBERS... - stops the etcd MEMBERS for OUTAGE seconds, writing to
# pg1 every 0.5 s meanwhile, then starts them again; checks what must hold.
outage() {
	local name=$1 m n i writes=0 want=$((OUTAGE * 2)) pid lines leader
	shift
	pid=$(lib_pidfile_pid "$tmp/data/pg1")
	declare -A mark=()
	for n in pg1 pg2 pg3; do mark[$n]=$(wc -l <"$(agent_log "$n")"); done
	local stops=()
	for m in "$@"; do
		lib_etcd_stop "$tmp" "$m" &
		stops+=($!)
	done
	wait "${stops[@]}" # only these: the agents and the sampler are jobs too
	for i in $(seq 1 "$want"); do
		[ "$(q pg1 "insert into t values ($i) returning 1")" = 1 ] && writes=$((writes + 1))
		sleep 0.5
	done
	check "$name: pg1 took every write for $OUTAGE s ($writes of $want)" test "$writes" = "$want"
	check "$name: pg1 kept its postmaster" test "$(lib_pidfile_pid "$tmp/data/pg1")" = "$pid"
	for n in pg1 pg2 pg3; do
		check "$name: the agent of $n applies nothing" sh -c \
			"tail -n +$((mark[$n] + 1)) '$(agent_log "$n")' | grep -q 'this pass applies nothing'"
	done
	check "$name: the primary's agent did not fence it" sh -c \
		"! tail -n +$((mark[pg1] + 1)) '$(agent_log pg1)' | grep -q 'self-fenc'"
	for m in "$@"; do LIB_ETCD_NOWAIT=1 lib_etcd_restart "$tmp" "$m"; done
	t0=$SECONDS
	if lib_etcd_wait_healthy "$tmp" 30 "${LIB_ETCD_URLS[@]}"; then
		ok "$name: etcd has quorum again ($((SECONDS - t0)) s)"
	else
		fail "$name: etcd has no quorum 30 s after its members started again"
	fi
	t0=$SECONDS
	if lib_wait 30 in_session_all; then
		ok "$name: every agent is in session again ($((SECONDS - t0)) s)"
	else
		fail "$name: not every agent is in session 30 s after etcd came back"
		agents_show_logs
	fi
	t0=$SECONDS
	lib_wait 20 has_leader
	leader=$(etcd_get "$prefix/c/leader")
	if [ -n "$leader" ]; then
		ok "$name: a leader again: $leader ($((SECONDS - t0)) s)"
	else
		fail "$name: no leader 20 s after every agent is in session again ($(date -u +%T))"
		etcdctl_ get --prefix "$prefix/" 2>&1 | cut -c1-200 | sed 's/^/  | /'
		agents_show_logs 8
	fi
	check "$name: every member published again (pg1 primary)" lib_wait 20 members_published
	check "$name: every agent published again" test \
		"$(etcdctl_ get --prefix "$prefix/agents/" --keys-only 2>/dev/null | grep -c .)" = 3
	check "$name: no failover decision in etcd" test -z "$(etcd_get "$prefix/c/decision")"
	lines=$(awk '$2 != "pg1" || NF != 2' "$tmp/samples" | head -n 3)
	check "$name: pg1 the only primary throughout ($(wc -l <"$tmp/samples") samples)" test -z "$lines"
	[ -z "$lines" ] || echo "$lines" | sed 's/^/  | /'
	check "$name: pg1 writable after it" test "$(q pg1 "insert into t values (0) returning 1")" = 1
}
outage "the whole etcd cluster down" e1 e2 e3
outage "quorum lost (e2 and e3 down)" e2 e3
kill "$sampler_pid" 2>/dev/null
wait "$sampler_pid" 2>/dev/null
sampler_pid=

# --- 3. a candidate that cannot promote: its agent abandons the decision --------------------

# decision_field FIELD - a field of P/C/decision (nothing when there is none).
decision_field() {
	etcd_get "$prefix/c/decision" | python3 -c 'import json, sys
print(json.load(sys.stdin)[sys.argv[1]])' "$1" 2>/dev/null
}
decision_in() { case " $* " in *" $(decision_field state) "*) return 0 ;; esac; return 1; }
replica_primary() { local p; p=$(primaries); [ "$p" = pg2 ] || [ "$p" = pg3 ]; }

if streams_from pg2 pg1 && streams_from pg3 pg1; then
	ok "pg2 and pg3 stream from pg1"
else
	fail "pg2 or pg3 does not stream from pg1"
fi
sleep 2 # the leader's last view of the primary (P/C/primary) is fresh
# pg_promote() creates promote.signal in the data folder as postgres: with the
# folder read-only for its owner it fails, and the replica keeps running.
chmod 500 "$tmp/data/pg2" "$tmp/data/pg3"
kill -9 "$(lib_pidfile_pid "$tmp/data/pg1")"
t0=$SECONDS
if lib_wait 30 decision_in decided abandoned; then
	cand=$(decision_field to)
	ok "the leader decides a failover to $cand ($((SECONDS - t0)) s after the kill)"
else
	fail "no failover decision within 30 s of the kill of pg1"
	agents_show_logs 20
	lib_finish test_agents_faults
fi
ch=${host[$cand]}
# The journal of the candidate's agent, in order: the attempts that failed
# before the first "abandoned" (the leader may decide again at once: the
# primary is confirmed down, which min_interval does not hold back).
first_round() {
	python3 - "$tmp/state-$ch/journal.jsonl" <<'PY'
import json, sys
failed = 0
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("kind") != "coord-failover":
        continue
    if e.get("event") == "promote-failed":
        failed += 1
    elif e.get("event") == "abandoned":
        print(failed)
        sys.exit(0)
sys.exit(1)
PY
}
if lib_wait 90 first_round >/dev/null; then
	ok "$cand's agent abandons the decision $((SECONDS - t0)) s after the kill"
else
	fail "the decision to promote $cand is not abandoned 90 s after the kill ('$(decision_field state)')"
	agents_show_logs 20
fi
check "after 3 failed attempts ($(first_round 2>/dev/null))" test "$(first_round 2>/dev/null)" = 3
check "$cand's agent says so" grep -q "the failover decision is abandoned" "$(agent_log "$cand")"
check "nobody was promoted meanwhile" test "$(q "$cand" 'select pg_is_in_recovery()')/$(primaries)" = "t/"
chmod 700 "$tmp/data/pg2" "$tmp/data/pg3"
t0=$SECONDS
if lib_wait 90 replica_primary; then
	new=$(primaries)
	ok "another failover promotes $new $((SECONDS - t0)) s after the folders are usable again"
	check "the new decision names pg1 -> $new" lib_wait 20 sh -c \
		"ETCDCTL_API=3 etcdctl --endpoints '$etcd_url' get '$prefix/c/decision' --print-value-only | grep -q '\"to\":\"$new\"'"
	check "$new takes writes" lib_wait 20 lib_sql_is "${port[$new]}" "insert into t values (-1) returning 1" 1
	check "the row written before is on $new" test "$(q "$new" 'select count(*) from t where i = 0')" -ge 1
else
	fail "no replica was promoted within 90 s after the abandoned decision (primaries: '$(primaries)')"
	agents_show_logs 25
fi

lib_finish test_agents_faults
