#!/usr/bin/env bash
# tests/integration/test_agents_switchover.sh - a switchover between hosts
# through etcd: three agents, one per "host" (127.0.0.2, .3, .4 on
# loopback), each running `pgconverge reconcile --as HOST --interval 1s
# --allow-switchover` on the same topology, one etcd, synchronous
# replication (any 1). Once pg1 and its two replicas run, the topology's
# primary is changed to pg2 and the agents' passes carry the switchover
# out: the leader writes the decision, pg1's agent stops pg1 cleanly and
# records its shutdown checkpoint, pg2's agent promotes pg2 once it
# replayed it. Checked:
#   - a writer that commits one row at a time on whichever node takes
#     writes: every acknowledged commit is on pg2 afterwards;
#   - exactly one primary at every sample (every 0.2 s) - none during the
#     gap, never two;
#   - pg1 streams from pg2, and so does pg3; pg1 was never started again as
#     a primary; the decision in etcd ends done with the checkpoint;
#   - the write gap, from the writer's last commit on pg1 to its first on
#     pg2, and as pgconverge's journal reports it, is printed.
# Then the same back from pg2 to pg1 (the leader's host then holds the
# target, or neither node, rather than the old primary).
# Last, a switchover that cannot complete and rolls back: WAL replay paused
# on pg2 and the primary changed to pg2 again. pg1's agent stops pg1 cleanly
# (decision stopped); pg2 cannot replay the shutdown checkpoint, so its agent
# abandons the decision after the 60 s bound (nothing was promoted), and
# pg1's agent starts pg1 again as the primary (a claim); the leader does not
# try again at once. Checked: every acknowledged commit of a writer is on
# pg1, never two primaries, pg1 the primary again with pg2 and pg3 streaming
# from it once replay resumes and primary: is pg1 again.
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
writer_pid=
sampler_pid=
cleanup() {
	[ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null
	[ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
	agents_kill_all
	lib_etcd_stop_all "$tmp"
	lib_teardown "$tmp"
}
trap cleanup EXIT

lib_node_ports 3
eports=$(lib_free_ports 2) || { echo "FAIL no free ports"; exit 1; }
ecport=$(echo "$eports" | sed -n 1p)
epport=$(echo "$eports" | sed -n 2p)
etcd_url=http://127.0.0.1:$ecport
prefix=/pgc-it
declare -A host=([pg1]=127.0.0.2 [pg2]=127.0.0.3 [pg3]=127.0.0.4)
TTL=4
# Every pass may switch over to the node primary: names.
AG_RECONCILE_ARGS=(--allow-switchover)
agents_topology "$tmp/topology.yaml" 127.0.0.1/32 "{method: any, count: 1}"

# decision_is STATE - the decision in etcd is in STATE.
decision_is() { etcd_get "$prefix/c/decision" | grep -q "\"state\":\"$1\""; }
# agents_lines PATTERN [LINES] - the agents' log lines matching PATTERN, each
# after its host, in time order (the last LINES, default 25).
agents_lines() {
	local n
	for n in pg1 pg2 pg3; do
		grep -h -E "$1" "$(agent_log "$n")" | sed "s/^/  | ${host[$n]} /"
	done | sort -k3 | tail -n "${2:-25}"
}

lib_etcd_start "$tmp" e1 "$etcd_url" "http://127.0.0.1:$epport" || { fail "etcd starts"; lib_finish test_agents_switchover; }

t0=$SECONDS
agents_start_all
if lib_wait 150 agents_converged 2; then
	ok "three agents build pg1 and two synchronous replicas ($((SECONDS - t0)) s)"
else
	fail "bootstrap did not converge"
	agents_show_logs 15
	lib_finish test_agents_switchover
fi
sleep 2
leader=$(etcd_get "$prefix/c/leader")
echo "leader: $leader"

# switch OLD NEW N - changes the topology's primary from OLD to NEW while a
# writer commits one row at a time (synchronous_commit on) on whichever of the
# two takes it, and the primaries are sampled every 0.2 s; then checks.
switch() {
	local old=$1 new=$2 k=$3 n1 n2 missing gap jgap start_ns
	(
		while :; do
			echo "$(date +%s%N) $(primaries)"
			sleep 0.2
		done
	) >"$tmp/samples$k" 2>/dev/null &
	sampler_pid=$!
	(
		i=$((k * 1000000))
		while :; do
			i=$((i + 1))
			for n in $old $new; do
				if [ "$(lib_sql "${port[$n]}" "insert into t values ($i) returning 1" 2>/dev/null)" = "1" ]; then
					echo "$(date +%s%N) $n $i"
					break
				fi
			done
			sleep 0.02
		done
	) >"$tmp/acks$k" 2>/dev/null &
	writer_pid=$!
	sleep 2

	start_ns=$(date +%s%N)
	sed -i "s/^    primary: $old\$/    primary: $new/" "$topo"
	switched() {
		[ "$(primaries)" = "$new" ] && streams_from "$old" "$new" 1 && streams_from pg3 "$new" 1
	}
	if lib_wait 120 switched; then
		ok "switched over to $new: $old and pg3 stream from it ($(( ($(date +%s%N) - start_ns) / 1000000 )) ms after the edit)"
	else
		fail "the switchover to $new did not complete within 120 s (primaries: '$(primaries)')"
		agents_show_logs 30
	fi
	# Writes flow on the new primary for a while, then the writer stops.
	lib_wait 30 sh -c "grep -q ' $new ' '$tmp/acks$k'"
	sleep 2
	kill "$writer_pid" "$sampler_pid" 2>/dev/null
	wait "$writer_pid" "$sampler_pid" 2>/dev/null
	writer_pid=
	sampler_pid=

	n1=$(grep -c " $old " "$tmp/acks$k")
	n2=$(grep -c " $new " "$tmp/acks$k")
	check "the writer committed on $old before ($n1) and on $new after ($n2)" test "$n1" -gt 0 -a "$n2" -gt 0
	missing=$(awk '{ print $3 }' "$tmp/acks$k" | while read -r i; do
		[ "$(q "$new" "select count(*) from t where i = $i")" = 1 ] || echo "$i"
	done | wc -l)
	check "every acknowledged commit ($((n1 + n2))) is on $new: $missing missing" test "$missing" = 0
	gap=$(awk -v o="$old" -v n="$new" '$2 == o { last = $1 } $2 == n && !first { first = $1 } END { if (last && first) printf "%d", (first - last) / 1000000; else print "?" }' "$tmp/acks$k")
	echo "switchover $old -> $new: write gap seen by the writer (last commit on $old to first on $new): $gap ms"
	check "the writer never committed on $old after $new" sh -c "! awk -v o=$old -v n=$new '\$2 == n { seen = 1 } \$2 == o && seen { bad = 1 } END { exit !bad }' '$tmp/acks$k'"
	check "never two primaries at once ($(wc -l <"$tmp/samples$k") samples)" sh -c "! awk 'NF > 2' '$tmp/samples$k' | grep -q ."
	check "$new is the only primary" test "$(primaries)" = "$new"
	check "the decision in etcd: switchover $old -> $new with its shutdown checkpoint" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["kind"] == "switchover" and d["from"] == sys.argv[2] and d["to"] == sys.argv[3], d
assert d["state"] in ("promoted", "done") and d.get("checkpoint"), d' "$(etcd_get "$prefix/c/decision")" "$old" "$new"
	check "the decision becomes done once $old is a replica" lib_wait 30 decision_is "done"
	leader=$(etcd_get "$prefix/c/leader")
	check "the switchover ran once, by the leader ($leader)" test "$(journal_count "$leader" /switchover)/$(journal_total /switchover)" = "$k/$k"
	check "$old was stopped by its own agent" grep -q "stopping \"$old\"" "$tmp/agent-${host[$old]}.log"
	check "$new was promoted by its own agent" grep -q "\"$new\" replayed the shutdown checkpoint" "$tmp/agent-${host[$new]}.log"
	check "$old rejoined by its own agent" test "$(journal_count "${host[$old]}" "/$old/rejoin")/$(journal_total "/$old/rejoin")" = 1/1
	# The gap as pgconverge measured it: the leader's journal, or the target's
	# agent's (the leader stops waiting once the target takes writes).
	jgap=$(python3 - "$old" "$new" "$tmp"/state-*/journal.jsonl <<'PY'
import json, sys
g = None
for f in sys.argv[3:]:
    for l in open(f):
        e = json.loads(l)
        if e.get("write_gap_ms") is not None and (e.get("event") == "switchover" or e.get("kind") == "coord-switchover") \
                and e.get("from") == sys.argv[1] and e.get("to") == sys.argv[2]:
            g = e["write_gap_ms"]
print("?" if g is None else g)
PY
)
	echo "switchover $old -> $new: write gap reported by pgconverge ($old's stop to $new's first commit): $jgap ms"
	echo "  the agents' lines about it:"
	agents_lines "switch|stopping \"$old\"|stopped cleanly|replayed the shutdown|promoted in|rejoin"
	for n in pg1 pg2 pg3; do : >"$(agent_log "$n")"; done
	check "pgconverge reports the write gap" test "$jgap" != "?"
}

q pg1 "create table t (i int primary key)" >/dev/null
lib_wait 10 lib_sql_is "${port[pg2]}" "select count(*) from t" 0
s1=$(journal_total /pg1/start)
switch pg1 pg2 1
check "pg1 was never started again as a primary" test "$(journal_total /pg1/start)" = "$s1"
# And back: now the old primary's or the target's host may lead.
s2=$(journal_total /pg2/start)
switch pg2 pg1 2
check "pg2 was never started again as a primary" test "$(journal_total /pg2/start)" = "$s2"
check "pg2 still streams from pg1" streams_from pg2 pg1 10

# --- A switchover that rolls back ----------------------------------------------
# pg2 receives but does not replay: it cannot replay pg1's shutdown checkpoint.
q pg2 "select pg_wal_replay_pause()" >/dev/null
pid1=$(lib_pidfile_pid "$tmp/data/pg1")
(
	while :; do
		echo "$(date +%s%N) $(primaries)"
		sleep 0.2
	done
) >"$tmp/samples" 2>/dev/null &
sampler_pid=$!
(
	i=3000000
	while :; do
		i=$((i + 1))
		for n in pg1 pg2; do
			if [ "$(lib_sql "${port[$n]}" "insert into t values ($i) returning 1" 2>/dev/null)" = "1" ]; then
				echo "$(date +%s%N) $n $i"
				break
			fi
		done
		sleep 0.05
	done
) >"$tmp/acks" 2>/dev/null &
writer_pid=$!
sleep 2
sed -i "s/^    primary: pg1\$/    primary: pg2/" "$topo"
check "the decision reaches stopped" lib_wait 60 decision_is stopped
check "pg1 is stopped" lib_wait 10 sh -c "! kill -0 $pid1 2>/dev/null"
check "the decision is abandoned after the replay bound" lib_wait 120 decision_is abandoned
etcd_get "$prefix/c/decision"; echo
check "pg1 runs again as the primary" lib_wait 30 sh -c "[ \"\$(runuser -u postgres -- $LIB_PG_BIN/psql -h $LIB_SOCKET_DIR -p ${port[pg1]} -XAtq -d postgres -c 'select pg_is_in_recovery()')\" = f ]"
sleep 8
check "the leader does not try again at once" decision_is abandoned
sed -i "s/^    primary: pg2\$/    primary: pg1/" "$topo"
q pg2 "select pg_wal_replay_resume()" >/dev/null
sleep 3
kill "$writer_pid" "$sampler_pid" 2>/dev/null
wait "$writer_pid" "$sampler_pid" 2>/dev/null
writer_pid=
sampler_pid=
streams_from pg2 pg1 60 && ok "pg2 streams from pg1" || fail "pg2 does not stream from pg1"
streams_from pg3 pg1 60 && ok "pg3 streams from pg1" || fail "pg3 does not stream from pg1"
n1=$(grep -c ' pg1 ' "$tmp/acks"); n2=$(grep -c ' pg2 ' "$tmp/acks")
check "the writer committed on pg1 only ($n1, on pg2: $n2)" test "$n1" -gt 0 -a "$n2" = 0
missing=$(awk '{ print $3 }' "$tmp/acks" | while read -r i; do
	[ "$(q pg1 "select count(*) from t where i = $i")" = 1 ] || echo "$i"
done | wc -l)
check "every acknowledged commit is on pg1: $missing missing" test "$missing" = 0
check "never two primaries at once ($(wc -l <"$tmp/samples") samples)" sh -c "! awk 'NF > 2' '$tmp/samples' | grep -q ."
check "pg1 is the only primary" test "$(primaries)" = pg1
agents_lines "switch|stopping|stopped cleanly|replayed|abandon|rolled back|again as the primary|not tried again" 30


lib_finish test_agents_switchover
