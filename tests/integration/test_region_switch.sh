#!/usr/bin/env bash
# tests/integration/test_region_switch.sh - the lossless region switch
# (swapping standby_of between two clusters), on real servers, through the
# CLI only:
#   1. one apply builds cluster eu (s1 primary, s2) and its standby cluster
#      us (x1 the standby leader, x2 cascading), a PgBouncer in front of
#      each; a marker file goes into
#      every data directory, and each node's system identifier is noted;
#   2. the file swaps standby_of (eu: standby_of us): plan shows one
#      region-switch action, blocked without --allow-switchover, and apply
#      without it changes nothing;
#   3. apply --allow-switchover under a writer on s1: every acknowledged row
#      is on x1, x2, s1 and s2; x1 takes writes, s1 streams from x1 through
#      pgc_standby_eu (the only walsender on x1 for eu), s2 from s1, x2 from
#      x1; no node was copied again (same system identifier, the marker
#      still there, no clone in the journal); writes through us's PgBouncer
#      commit, eu's refuses them (read-only); the next plan is empty; the
#      write gap is printed;
#   4. the same back (us: standby_of eu again), under a writer on x1;
#   5. a run killed after its fast shutdown (s1 stopped cleanly by hand,
#      x1 not promoted): the next apply --allow-switchover goes on;
#   6. the leader promoted first (a region failover by hand: x1 stopped
#      immediate, pg_promote() on s1, writes on s1), then the swap: apply
#      plans only the rejoin, and x1 rejoins under s1 without a copy.
#
# Needs root (servers run as postgres), the PostgreSQL 15 binaries,
# pgbouncer and free loopback ports in 20000-32000. One ok/FAIL line per check; exit 1 when any
# check failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1
command -v pgbouncer >/dev/null || { echo "FAIL pgbouncer is needed"; exit 1; }

tmp=$(lib_tmpdir) || exit 1
writer_pid=
cleanup() {
	[ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null
	lib_teardown "$tmp"
}
trap cleanup EXIT

lib_node_ports 6
declare -A p=([s1]=${port[pg1]} [s2]=${port[pg2]} [x1]=${port[pg3]} [x2]=${port[pg4]} [eu_pool]=${port[pg5]} [us_pool]=${port[pg6]})
topo=$tmp/topology.yaml
state=$tmp/.pgconverge
export REPLICATION_PASSWORD='r3pl:pw' APP_PASSWORD='app:pw'

# write_topology PRIMARY_CLUSTER - eu and us, each with a PgBouncer,
# PRIMARY_CLUSTER the primary one (with the replication user), the other
# its standby cluster.
write_topology() {
	local prim=$1 stby s_extra x_extra
	# Roles and databases on both: a standby cluster's PgBouncer reads its
	# userlist for the roles its own cluster declares.
	local common="    settings: {shared_buffers: 32MB, max_connections: 50}
    hba:
      - {type: local, database: all, user: postgres, method: peer}
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}
    roles: {app: {login: true, password: {env: APP_PASSWORD}}}
    databases: {appdb: {owner: app}}"
	local primary_part="    replication: {user: replicator, password: {env: REPLICATION_PASSWORD}}"
	if [ "$prim" = eu ]; then stby=us; else stby=eu; fi
	if [ "$prim" = eu ]; then s_extra=$primary_part; x_extra="    standby_of: eu"; else
		s_extra="    standby_of: us"; x_extra=$primary_part; fi
	cat >"$topo" <<EOF
version: 1
clusters:
  eu:
    primary: s1
    nodes:
      s1: {port: ${p[s1]}, data_dir: data/s1, region: eu-west}
      s2: {port: ${p[s2]}, data_dir: data/s2, region: eu-west}
$common
    pooler: {pgbouncer: {port: ${p[eu_pool]}, pool_mode: transaction, dir: data/pgbouncer_eu}}
$s_extra
  us:
    primary: x1
    nodes:
      x1: {port: ${p[x1]}, data_dir: data/x1, region: us-east}
      x2: {port: ${p[x2]}, data_dir: data/x2, region: us-east}
$common
    pooler: {pgbouncer: {port: ${p[us_pool]}, pool_mode: transaction, dir: data/pgbouncer_us}}
$x_extra
EOF
	"$PGC" validate -f "$topo" >/dev/null 2>"$tmp/validate.err" || { cat "$tmp/validate.err"; return 1; }
	: "$stby"
}

q() { lib_sql "${p[$1]}" "$2" 2>/dev/null; }
# pooled CLUSTER SQL - one statement through CLUSTER's PgBouncer, as app in appdb.
pooled() {
	PGPASSWORD=$APP_PASSWORD PGCONNECT_TIMEOUT=3 "$LIB_PG_BIN/psql" -X -At -h 127.0.0.1 \
		-p "${p[${1}_pool]}" -U app -d appdb -c "$2" >/dev/null 2>"$tmp/pooled.err"
}
# streams_from NODE UPSTREAM - NODE's WAL receiver streams from UPSTREAM (waits up to 30 s).
streams_from() {
	lib_wait 30 lib_sql_is "${p[$1]}" "select status || '|' || sender_port from pg_stat_wal_receiver" \
		"streaming|${p[$2]}"
}
# leaving NODE - NODE's walsenders as application_name:slot, space separated.
leaving() {
	q "$1" "select coalesce(string_agg(r.application_name || ':' || coalesce(s.slot_name, '-'), ' ' order by r.application_name), '')
	        from pg_stat_replication r left join pg_replication_slots s on s.active_pid = r.pid"
}
leaving_is() {
	local end=$((SECONDS + 30))
	while :; do
		[ "$(leaving "$1")" = "$2" ] && return 0
		[ $SECONDS -ge $end ] && { echo "  streams leaving $1: '$(leaving "$1")'"; return 1; }
		sleep 0.3
	done
}
sysid() { runuser -u postgres -- "$LIB_PG_BIN/pg_controldata" "$tmp/data/$1" 2>/dev/null |
	sed -n 's/^Database system identifier: *//p'; }
declare -A sys
# not_copied - every node has its system identifier and marker file, and the journal no clone.
not_copied() {
	local n
	for n in s1 s2 x1 x2; do
		[ "$(sysid "$n")" = "${sys[$n]}" ] || { echo "  $n: system identifier $(sysid "$n"), was ${sys[$n]}"; return 1; }
		[ -f "$tmp/data/$n/region_switch_marker" ] || { echo "  $n: the marker file is gone"; return 1; }
	done
	! tail -n +"$((journal_mark + 1))" "$state/journal.jsonl" | grep -q '"kind":"clone"'
}
# writer_start NODE TABLE - commits "insert into TABLE values (i)", i = 1, 2, ..., until an error.
writer_start() {
	q "$1" "create table if not exists $2 (i int primary key)" >/dev/null
	seq 1 200000 | sed "s/.*/insert into $2 values (&);/" >"$tmp/$2.sql"
	"$LIB_PG_BIN/psql" -X -v ON_ERROR_STOP=1 -h "$LIB_SOCKET_DIR" -p "${p[$1]}" -U postgres \
		-d postgres -c 'set synchronous_commit = on' -f "$tmp/$2.sql" -o "$tmp/$2.out" \
		>"$tmp/$2.err" 2>&1 &
	writer_pid=$!
}
writer_acked() {
	local i
	for i in $(seq 1 100); do
		kill -0 "$writer_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$writer_pid" 2>/dev/null
	wait "$writer_pid" 2>/dev/null
	writer_pid=
	grep -c '^INSERT 0 1$' "$tmp/$1.out"
}
# all_acked TABLE K - every node holds rows 1..K of TABLE (waits up to 30 s each).
all_acked() {
	local n
	for n in x1 x2 s1 s2; do
		lib_wait 30 lib_sql_is "${p[$n]}" "select count(*) from $1 where i <= $2" "$2" ||
			{ echo "  $n has $(q "$n" "select count(*) from $1 where i <= $2") of $2"; return 1; }
	done
}
empty_plan() {
	lib_run "$tmp/$1" plan -f "$topo" --format json
	if [ "$rc" = 0 ] && lib_json "$tmp/$1.out" "d['actions'] == []"; then
		ok "$1: a plan now is empty (converged)"
	else
		fail "$1: plan exit $rc: $(jq -c '[.actions[] | .id + " " + .reason]' "$tmp/$1.out" 2>/dev/null)"
		lib_show "$tmp/$1"
	fi
}
# gap - the write gap of the last region switch in the journal.
gap() {
	python3 -c 'import json,sys
ev=[json.loads(l) for l in open(sys.argv[1]) if "region-switch" in l]
ev=[e for e in ev if e.get("event")=="region-switch"]
print(ev[-1].get("write_gap_ms"), ev[-1].get("outcome"), ev[-1].get("rejoin"))' "$state/journal.jsonl"
}
# switch NEW_PRIMARY_CLUSTER FROM TO - the swap, blocked without the flag, then applied under a writer on FROM.
switch() {
	local to_cluster=$1 from=$2 to=$3 tab=w_$1 k
	write_topology "$to_cluster" || { fail "the swapped topology is invalid"; return; }
	lib_run "$tmp/plan_$tab" plan -f "$topo" --format json
	check "plan: one region-switch action $to_cluster/$to/region-switch, impact switchover, blocked" \
		lib_json "$tmp/plan_$tab.out" "[(a['id'], a['impact'], a['blocked']) for a in d['actions'] if a['action'] == 'region-switch'] == [('$to_cluster/$to/region-switch', 'switchover', True)]"
	check "plan: nothing else would stop $from or re-point $to" \
		lib_json "$tmp/plan_$tab.out" "[a['id'] for a in d['actions'] if a['action'] != 'region-switch' and a['node'] in ('$from', '$to')] == []"
	lib_run "$tmp/apply_$tab" apply -f "$topo"
	lib_expect_rc "apply without --allow-switchover exits 3 (blocked)" "$tmp/apply_$tab" 3
	[ "$(q "$from" 'select pg_is_in_recovery()')" = f ] && [ "$(q "$to" 'select pg_is_in_recovery()')" = t ] &&
		ok "nothing moved: $from is still the primary" || fail "something moved without the flag"
	journal_mark=$(wc -l <"$state/journal.jsonl")
	writer_start "$from" "$tab"
	sleep 1
	lib_run "$tmp/apply2_$tab" apply -f "$topo" --allow-switchover
	k=$(writer_acked "$tab")
	lib_expect_rc "apply --allow-switchover switches regions to $to_cluster" "$tmp/apply2_$tab" 0
	echo "  region switch to $to_cluster: write gap (ms), outcome: $(gap)"
	[ "$(q "$to" 'select pg_is_in_recovery()')" = f ] && q "$to" "create table if not exists after_$tab (i int)" >/dev/null &&
		ok "$to takes writes" || fail "$to is not writable"
	[ "$k" -gt 0 ] && ok "the writer had $k acknowledged commits on $from" || fail "the writer committed nothing"
	check "every acknowledged row is on x1, x2, s1 and s2" all_acked "$tab" "$k"
	[ "$(q "$from" 'select pg_is_in_recovery()')" = t ] && ok "$from is in recovery" || fail "$from is not in recovery"
	check "$from streams from $to" streams_from "$from" "$to"
	check "exactly one walsender on $to for the other region, through its slot" \
		leaving_is "$to" "$([ "$to_cluster" = us ] && echo "eu-s1:pgc_standby_eu x2:x2" || echo "s2:s2 us-x1:pgc_standby_us")"
	check "x2 streams from x1" streams_from x2 x1
	check "s2 streams from s1" streams_from s2 s1
	check "$from no longer keeps its old slot" lib_sql_is "${p[$from]}" \
		"select count(*) from pg_replication_slots where slot_name like 'pgc_standby_%'" 0
	check "no node was copied again (system identifiers, marker files, no clone in the journal)" not_copied
	check "through $to_cluster's PgBouncer, writes commit on $to" lib_wait 20 pooled "$to_cluster" \
		"insert into pooled values (1)"
	if pooled "$([ "$to_cluster" = us ] && echo eu || echo us)" "insert into pooled values (2)" >/dev/null; then
		fail "a write through the other region's PgBouncer committed"
	elif grep -q "read-only" "$tmp/pooled.err"; then
		ok "through the other region's PgBouncer, writes are refused (read-only standby cluster)"
	else
		fail "the other region's PgBouncer: $(cat "$tmp/pooled.err")"
	fi
	empty_plan "plan_after_$tab"
}

# --- 1. both regions from nothing, one apply --------------------------------------------

check "topology: eu primary, us its standby cluster" write_topology eu
lib_run "$tmp/apply1" apply -f "$topo"
lib_expect_rc "one apply builds eu and its standby cluster us" "$tmp/apply1" 0
[ "$rc" = 0 ] || lib_finish test_region_switch
check "x1 streams from s1" streams_from x1 s1
check "x2 streams from x1" streams_from x2 x1
check "s2 streams from s1" streams_from s2 s1
for n in s1 s2 x1 x2; do
	sys[$n]=$(sysid "$n")
	touch "$tmp/data/$n/region_switch_marker"
	chown postgres: "$tmp/data/$n/region_switch_marker"
done
[ -n "${sys[s1]}" ] && [ "${sys[s1]}" = "${sys[x2]}" ] && ok "one system identifier on all four nodes" ||
	fail "system identifiers: ${sys[*]}"
journal_mark=$(wc -l <"$state/journal.jsonl")
check "through eu's PgBouncer, app writes on s1" pooled eu "create table pooled (i int)"

# --- 2, 3. the switch to us, and 4. back to eu ------------------------------------------

switch us s1 x1
switch eu x1 s1

# --- 5. a run killed after the fast shutdown: the next apply goes on ----------------------

write_topology us
runuser -u postgres -- "$LIB_PG_BIN/pg_ctl" -D "$tmp/data/s1" -m fast -w stop >/dev/null 2>&1
journal_mark=$(wc -l <"$state/journal.jsonl")
lib_run "$tmp/apply_resume" apply -f "$topo" --allow-switchover
lib_expect_rc "with s1 shut down cleanly by hand (as a killed run leaves it), apply goes on" "$tmp/apply_resume" 0
echo "  resumed switch: $(gap)"
[ "$(q x1 'select pg_is_in_recovery()')" = f ] && ok "x1 is the primary" || fail "x1 is not the primary"
check "s1 streams from x1 (no rewind after its clean shutdown)" streams_from s1 x1
check "s2 streams from s1" streams_from s2 s1
check "no node was copied again" not_copied

# --- 6. the leader promoted first, then the swap: only the rejoin -------------------------

q x1 "create table pre (i int); insert into pre select generate_series(1, 10); checkpoint" >/dev/null
lsn=$(q x1 'select pg_current_wal_lsn()')
check "s1 replayed x1's WAL" lib_wait 30 lib_sql_is "${p[s1]}" "select pg_last_wal_replay_lsn() >= '$lsn'" t
runuser -u postgres -- "$LIB_PG_BIN/pg_ctl" -D "$tmp/data/x1" -m immediate -w stop >/dev/null 2>&1
[ "$(q s1 'select pg_promote()')" = t ] && ok "s1 promoted by hand while x1 is down" || fail "pg_promote on s1"
q s1 "create table post (i int); insert into post select generate_series(1, 10)" >/dev/null
write_topology eu
journal_mark=$(wc -l <"$state/journal.jsonl")
lib_run "$tmp/plan_rejoin" plan -f "$topo" --format json
check "plan: only the region-switch action (rejoin), not blocked" lib_json "$tmp/plan_rejoin.out" \
	"[(a['id'], a['payload']['target'], a['blocked']) for a in d['actions']] == [('eu/s1/region-switch', 'rejoin', False)]" ||
	lib_show "$tmp/plan_rejoin"
lib_run "$tmp/apply_rejoin" apply -f "$topo"
lib_expect_rc "apply rejoins x1 under s1" "$tmp/apply_rejoin" 0
echo "  rejoin: $(gap)"
check "x1 streams from s1" streams_from x1 s1
check "rows written on s1 after its promotion reach x2" lib_wait 30 lib_sql_is "${p[x2]}" "select count(*) from post" 10
[ "$(sysid x1)" = "${sys[x1]}" ] && ! tail -n +"$((journal_mark + 1))" "$state/journal.jsonl" | grep -q '"kind":"clone"' &&
	ok "x1 was not copied again (its system identifier, no clone in the journal)" || fail "x1 was copied again"
empty_plan plan_after_rejoin

lib_finish test_region_switch
