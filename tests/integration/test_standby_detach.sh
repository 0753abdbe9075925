#!/usr/bin/env bash
# tests/integration/test_standby_detach.sh - detaching a standby cluster
# (the file removes its standby_of, not a swap), on real servers, through
# the CLI only:
#   1. one apply builds examples/standby-cluster.yaml (free ports): eu (eu1
#      primary, eu2) and its standby cluster us (us1 leader, us2 cascading);
#   2. the file removes `standby_of: eu` from us (giving it eu's
#      replication, roles and databases sections): plan shows one action,
#      us/us1/region-switch (detach), blocked without --allow-switchover, and
#      no role created on us; apply without the flag exits 3 and changes
#      nothing (us1 still streams from eu1 through pgc_standby_us);
#   3. apply --allow-switchover: us1 takes writes, us2 follows it (a row
#      written on us1 reaches us2), nothing was copied again (same system
#      identifier, a marker file still there);
#   4. apply's next pass (the same run) drops slot pgc_standby_us from eu1
#      and creates no role on us (replayed from eu); then the plan is empty,
#      eu1 still takes writes, and what it writes no longer reaches us;
#   5. the file puts `standby_of: eu` back (the detach reverted): us1 is not
#      demoted, and eu1, which looks fenced to the plan, is neither stopped
#      nor marked: the fence refuses, the detach being recorded.
#
# Needs root (servers run as postgres), the PostgreSQL 15 binaries and free
# loopback ports in 20000-32000. One ok/FAIL line per check; exit 1 when any
# check failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1

tmp=$(lib_tmpdir) || exit 1
trap 'lib_teardown "$tmp"' EXIT

lib_node_ports 4
declare -A p=([eu1]=${port[pg1]} [eu2]=${port[pg2]} [us1]=${port[pg3]} [us2]=${port[pg4]})
topo=$tmp/topology.yaml
export REPLICATION_PASSWORD='r3pl:pw'

# write_topology - examples/standby-cluster.yaml with this test's ports and folders.
write_topology() {
	sed -e "s/port: 25470/port: ${p[eu1]}/; s/port: 25471/port: ${p[eu2]}/" \
		-e "s/port: 25472/port: ${p[us1]}/; s/port: 25473/port: ${p[us2]}/" \
		-e "s|\.\./data/regions/|data/|" \
		"$top/examples/standby-cluster.yaml" >"$topo"
	! grep -q 'port: 2547' "$topo"
}

# detach_topology - us without standby_of, with eu's replication, roles and databases.
detach_topology() {
	sed -i -e '/^    standby_of: eu/d' "$topo" &&
		cat >>"$topo" <<'EOF'
    replication:
      user: replicator
      password: {env: REPLICATION_PASSWORD}
    roles:
      app: {login: true}
    databases:
      appdb: {owner: app}
EOF
	! grep -q '^ *standby_of:' "$topo"
}

q() { lib_sql "${p[$1]}" "$2" 2>/dev/null; }
streams_from() {
	lib_wait 30 lib_sql_is "${p[$1]}" "select status || '|' || sender_port from pg_stat_wal_receiver" \
		"streaming|${p[$2]}"
}
reaches() { lib_wait 30 lib_sql_is "${p[$1]}" "select count(*) from $2" "$3"; }
slot_on_eu1() { q eu1 "select count(*) from pg_replication_slots where slot_name = 'pgc_standby_us'"; }
sysid() { q "$1" "select system_identifier from pg_control_system()"; }

# --- 1. both regions ----------------------------------------------------------------------

check "the example's topology, with this test's ports and folders" write_topology
lib_run "$tmp/apply1" apply -f "$topo"
lib_expect_rc "one apply builds eu and its standby cluster us" "$tmp/apply1" 0
[ "$rc" = 0 ] || lib_finish test_standby_detach
check "us1 streams from eu1" streams_from us1 eu1
check "us2 cascades from us1" streams_from us2 us1
q eu1 "create table t (i int); insert into t select generate_series(1, 10)" >/dev/null
check "data written in eu1 reaches us2" reaches us2 t 10
for n in us1 us2; do
	echo "detach marker" >"$tmp/data/$n/pgc_test_marker"
	declare "sys_$n=$(sysid $n)"
done

# --- 2. standby_of removed: blocked without the flag ----------------------------------------

check "the file removes standby_of from us" detach_topology
lib_run "$tmp/plan1" plan -f "$topo" --format json
check "plan: one region-switch us/us1/region-switch, target detach, impact switchover, blocked" \
	lib_json "$tmp/plan1.out" "[(a['id'], a['payload']['target'], a['impact'], a['blocked']) for a in d['actions'] if a['action'] == 'region-switch'] == [('us/us1/region-switch', 'detach', 'switchover', True)]" ||
	lib_show "$tmp/plan1"
check "plan: no role, database or hba change planned on us while blocked" \
	lib_json "$tmp/plan1.out" "[a['id'] for a in d['actions'] if a['cluster'] == 'us' and a['action'] != 'region-switch'] == []" ||
	lib_show "$tmp/plan1"
echo "  (reason: $(jq -r '.actions[] | select(.action == "region-switch") | .reason' "$tmp/plan1.out" 2>/dev/null))"
echo "  (blocked: $(jq -r '.actions[] | select(.action == "region-switch") | .blocked_reason' "$tmp/plan1.out" 2>/dev/null))"
lib_run "$tmp/apply2" apply -f "$topo"
lib_expect_rc "apply without --allow-switchover exits 3 (blocked)" "$tmp/apply2" 3
check "us1 still streams from eu1" streams_from us1 eu1
[ "$(q us1 'select pg_is_in_recovery()')" = t ] && ok "us1 is still in recovery" || fail "us1 left recovery"
[ "$(slot_on_eu1)" = 1 ] && ok "eu1 still keeps slot pgc_standby_us" || fail "slot pgc_standby_us gone early"

# --- 3. the detach ---------------------------------------------------------------------------

journal_mark=$(wc -l <"$tmp/.pgconverge/journal.jsonl")
t0=$SECONDS
lib_run "$tmp/apply3" apply -f "$topo" --allow-switchover
lib_expect_rc "apply --allow-switchover detaches us" "$tmp/apply3" 0
echo "  (the detach apply took $((SECONDS - t0)) s)"
check "us1 takes writes" lib_wait 20 lib_sql_is "${p[us1]}" "select pg_is_in_recovery()" f
q us1 "insert into t values (1000)" >/dev/null
check "a row written on us1 reaches us2" reaches us2 t 11
check "us2 streams from us1" streams_from us2 us1
[ "$(sysid us1)" = "$sys_us1" ] && [ "$(sysid us2)" = "$sys_us2" ] &&
	[ -f "$tmp/data/us1/pgc_test_marker" ] && [ -f "$tmp/data/us2/pgc_test_marker" ] &&
	ok "no node of us was copied again (system identifiers, markers)" || fail "a node of us was copied again"
check "the journal: one region-switch event, target detach, done; no clone since the detach began" python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]
ev = [json.loads(l) for l in lines if l.strip()]
det = [e for e in ev if e.get("event") == "region-switch" and e.get("target") == "detach"]
sys.exit(0 if len(det) == 1 and det[0].get("outcome") == "done" and
         not any(e.get("kind") == "clone" for e in ev) else 1)' "$tmp/.pgconverge/journal.jsonl" "$journal_mark"

# --- 4. apply's next pass: the slot goes, then nothing ------------------------------------------

# apply observes and plans again after the detach (up to 5 passes): eu's
# pass drops the slot, unused now; us's plans nothing (its roles and
# databases were replayed from eu).
grep -q 'drop-slot' "$tmp/apply3.out" "$tmp/apply3.err" && ok "apply's next pass dropped a slot" ||
	{ fail "apply did not drop the slot"; lib_show "$tmp/apply3"; }
check "slot pgc_standby_us is dropped from eu1" lib_wait 20 lib_sql_is "${p[eu1]}" \
	"select count(*) from pg_replication_slots where slot_name = 'pgc_standby_us'" 0
check "role app and database appdb are on us1 (replayed, not created)" lib_sql_is "${p[us1]}" \
	"select count(*) from pg_database d join pg_roles r on r.oid = d.datdba where datname = 'appdb' and rolname = 'app'" 1
! grep -q 'create-role' "$tmp/apply3.out" && ok "no role created on us" || fail "apply created a role"
lib_run "$tmp/plan3" plan -f "$topo" --format json
if [ "$rc" = 0 ] && lib_json "$tmp/plan3.out" "d['actions'] == []"; then
	ok "a plan now is empty"
else
	fail "plan exit $rc: $(jq -c '[.actions[] | .id + " " + .reason]' "$tmp/plan3.out" 2>/dev/null)"
fi
lib_run "$tmp/apply4" apply -f "$topo"
lib_expect_rc "a second apply exits 0" "$tmp/apply4" 0
q eu1 "insert into t values (2000)" >/dev/null
check "eu1 still takes writes" lib_sql_is "${p[eu1]}" "select count(*) from t where i = 2000" 1
check "eu2 still streams from eu1 and gets them" reaches eu2 t 11
sleep 1
[ "$(q us2 'select count(*) from t where i = 2000')" = 0 ] && ok "what eu writes no longer reaches us" ||
	fail "eu's write reached us"

# --- 5. standby_of put back: nothing of eu is fenced --------------------------------------------

# A checkpoint on us1 puts its new timeline in its control file, which the
# plan compares: eu then looks like a source back after a region failover.
q us1 "checkpoint" >/dev/null
check "the file with standby_of: eu again" write_topology
lib_run "$tmp/plan5" plan -f "$topo" --format json
check "the plan fences eu1 (it cannot tell a detach from a region failover)" lib_json "$tmp/plan5.out" \
	"any(a['id'] == 'eu/eu1/fence' and not a.get('blocked') for a in d['actions'])"
lib_run "$tmp/apply5" apply -f "$topo"
if [ "$rc" = 1 ] && cat "$tmp/apply5.out" "$tmp/apply5.err" | grep -q 'was detached from "eu"'; then
	ok "apply refuses to fence eu: us was detached, not failed over"
else
	fail "apply with standby_of put back: exit $rc"; lib_show "$tmp/apply5"
fi
[ "$(q eu1 'select pg_is_in_recovery()')" = f ] && [ ! -e "$tmp/data/eu1/standby.signal" ] &&
	ok "eu1 still takes writes, no standby.signal" || fail "eu1 was fenced"
[ "$(q us1 'select pg_is_in_recovery()')" = f ] && ok "us1 is not demoted" || fail "us1 was demoted"

lib_finish test_standby_detach
