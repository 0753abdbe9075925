#!/usr/bin/env bash
# tests/integration/test_standby_cluster.sh - a standby cluster in another
# region (standby_of), on real servers, through the CLI only:
#   1. one apply builds both regions from nothing (examples/standby-cluster.yaml
#      with free ports): cluster eu (eu1 primary, eu2) and its standby cluster
#      us (us1 the standby leader, us2 cascading from it);
#   2. exactly one stream leaves eu's primary for us, through the slot
#      pgc_standby_us; us refuses writes; data written in eu reaches us2;
#      a second plan is empty;
#   3. a switchover in eu (apply --allow-switchover): us1 streams from the new
#      primary through the slot the switchover created there; the next apply
#      drops the old slot;
#   4. kill -9 of eu's primary and `pgconverge failover --cluster eu`: the
#      failover itself points us1 at the new primary (before any apply); the
#      plan then has nothing for us, apply works, data flows to us2 again, a
#      plan is empty; `failover --cluster us` refuses; a last plan is empty;
#   5. with the file naming eu2 again (not the live primary), plan and apply
#      --cluster us leave us1 streaming from eu1;
#   6. a chain: cluster ap, a standby cluster of us, added to the file: its
#      leader streams from us1 through slot pgc_standby_ap there, data written
#      in eu reaches it, it refuses writes, status shows the chain;
#   7. PgBouncer in front of us, which declares no roles: its userlist holds
#      eu's role app (given a password), a login through it as app reads a
#      row, a wrong password is refused, and a plan after is empty.
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
bdir=$tmp/data/pgbouncer
# PgBouncer by the pid it wrote (part 7), then the servers.
cleanup() {
	local b
	b=$(cat "$bdir/pgbouncer.pid" 2>/dev/null)
	if [ -n "$b" ] && [ "$(cat "/proc/$b/comm" 2>/dev/null)" = pgbouncer ]; then
		kill -KILL "$b" 2>/dev/null
	fi
	lib_teardown "$tmp"
}
trap cleanup EXIT

lib_node_ports 5
declare -A p=([eu1]=${port[pg1]} [eu2]=${port[pg2]} [us1]=${port[pg3]} [us2]=${port[pg4]} [ap1]=${port[pg5]})
topo=$tmp/topology.yaml

# write_topology PRIMARY - examples/standby-cluster.yaml with this test's
# ports and folders, and eu's primary given.
write_topology() {
	sed -e "s/port: 25470/port: ${p[eu1]}/; s/port: 25471/port: ${p[eu2]}/" \
		-e "s/port: 25472/port: ${p[us1]}/; s/port: 25473/port: ${p[us2]}/" \
		-e "s|\.\./data/regions/|data/|" -e "s/^    primary: eu1$/    primary: $1/" \
		"$top/examples/standby-cluster.yaml" >"$topo"
	grep -q "primary: $1\$" "$topo" && ! grep -q 'port: 2547' "$topo"
}

q() { lib_sql "${p[$1]}" "$2" 2>/dev/null; }
# streams_from NODE UPSTREAM - NODE's WAL receiver streams from UPSTREAM (waits up to 30 s).
streams_from() {
	lib_wait 30 lib_sql_is "${p[$1]}" "select status || '|' || sender_port from pg_stat_wal_receiver" \
		"streaming|${p[$2]}"
}
# reaches NODE TABLE N - NODE has N rows in TABLE (waits up to 30 s).
reaches() { lib_wait 30 lib_sql_is "${p[$1]}" "select count(*) from $2" "$3"; }
# leaving NODE - NODE's walsenders as application_name:slot, space separated.
leaving() {
	q "$1" "select coalesce(string_agg(r.application_name || ':' || coalesce(s.slot_name, '-'), ' ' order by r.application_name), '')
	        from pg_stat_replication r left join pg_replication_slots s on s.active_pid = r.pid"
}
# leaving_is NODE EXPECTED - waits up to 30 s for leaving NODE to print EXPECTED.
leaving_is() {
	local end=$((SECONDS + 30))
	while :; do
		[ "$(leaving "$1")" = "$2" ] && return 0
		[ $SECONDS -ge $end ] && { echo "  streams leaving $1: '$(leaving "$1")'"; return 1; }
		sleep 0.3
	done
}
# one_leaving NODE - exactly one walsender on NODE serves us, through its slot (waits 30 s).
one_leaving() {
	local end=$((SECONDS + 30))
	while :; do
		[ "$(leaving "$1" | tr ' ' '\n' | grep -c '^us-us1:pgc_standby_us$')" = 1 ] && return 0
		[ $SECONDS -ge $end ] && { echo "  streams leaving $1: '$(leaving "$1")'"; return 1; }
		sleep 0.3
	done
}
# empty_plan NAME - plan exits 0 with no action.
empty_plan() {
	lib_run "$tmp/$1" plan -f "$topo" --format json
	if [ "$rc" = 0 ] && lib_json "$tmp/$1.out" "d['actions'] == []"; then
		ok "$1: a plan now is empty (no false drift)"
	else
		fail "$1: plan exit $rc: $(jq -c '[.actions[] | .id + " " + .reason]' "$tmp/$1.out" 2>/dev/null)"
		lib_show "$tmp/$1"
	fi
}

# --- 1. both regions from nothing, one apply --------------------------------------------

export REPLICATION_PASSWORD='r3pl:pw'
check "the example's topology, with this test's ports and folders" write_topology eu1
lib_run "$tmp/apply1" apply -f "$topo"
lib_expect_rc "one apply builds eu and its standby cluster us" "$tmp/apply1" 0
[ "$rc" = 0 ] || lib_finish test_standby_cluster
check "us1 (the standby leader) streams from eu1" streams_from us1 eu1
check "us2 cascades from us1" streams_from us2 us1
check "eu2 streams from eu1" streams_from eu2 eu1

# --- 2. one cross-region stream, read-only, data flows, no drift ---------------------------

check "exactly one stream leaves eu1 for us, through slot pgc_standby_us" \
	leaving_is eu1 "eu2:eu2 us-us1:pgc_standby_us"
[ "$(q us1 'select pg_is_in_recovery()')" = t ] && [ "$(q us2 'select pg_is_in_recovery()')" = t ] &&
	ok "both nodes of us are in recovery" || fail "us is not in recovery"
if q us1 "create table nope (i int)" >/dev/null; then fail "us1 took a write"; else ok "us1 refuses writes"; fi
check "eu's role and database are on us2" lib_wait 30 lib_sql_is "${p[us2]}" \
	"select count(*) from pg_database d join pg_roles r on r.oid = d.datdba where datname = 'appdb' and rolname = 'app'" 1
q eu1 "create table t (i int); insert into t select generate_series(1, 100)" >/dev/null
check "data written in eu1 reaches us2" reaches us2 t 100
lib_run "$tmp/status1" status -f "$topo"
grep -q 'standby of eu' "$tmp/status1.out" && ok "status shows us as a standby of eu" ||
	{ fail "status shows no chain"; lib_show "$tmp/status1"; }
lib_run "$tmp/status2" status -f "$topo" --format json
check "status --format json: us's leader streams from eu1, with its lag in bytes" lib_json "$tmp/status2.out" \
	"[c['standby'] for c in d['clusters'] if c['name'] == 'us'][0]['upstream'] == 'eu1' and \
	 isinstance([c['standby'] for c in d['clusters'] if c['name'] == 'us'][0]['lag_bytes'], int)"
lib_run "$tmp/graph1" graph -f "$topo" --live
grep -q '"eu/eu1" -> "us/us1" \[label="standby of eu\\nlag ' "$tmp/graph1.out" &&
	ok "graph --live draws the stream from eu1 to us1 with its lag" || { fail "graph"; lib_show "$tmp/graph1"; }
empty_plan plan1

# --- 3. a switchover in eu: us follows -----------------------------------------------------

write_topology eu2
lib_run "$tmp/apply2" apply -f "$topo" --allow-switchover
lib_expect_rc "apply --allow-switchover makes eu2 eu's primary" "$tmp/apply2" 0
check "right after the switchover, before another apply, us1 streams from eu2" streams_from us1 eu2
lib_run "$tmp/apply3" apply -f "$topo"
lib_expect_rc "the next apply after the switchover" "$tmp/apply3" 0
check "us1 streams from eu2 after the switchover" streams_from us1 eu2
check "exactly one stream leaves eu2 for us, through slot pgc_standby_us" \
	leaving_is eu2 "eu1:eu1 us-us1:pgc_standby_us"
check "eu1 no longer keeps slot pgc_standby_us" lib_wait 20 lib_sql_is "${p[eu1]}" \
	"select count(*) from pg_replication_slots where slot_name = 'pgc_standby_us'" 0
q eu2 "insert into t select generate_series(101, 200)" >/dev/null
check "data written in eu2 reaches us2" reaches us2 t 200
empty_plan plan2

# --- 4. a failover in eu: us follows -------------------------------------------------------

q eu2 "checkpoint" >/dev/null
lsn=$(q eu2 'select pg_current_wal_lsn()')
check "us1 has replayed eu2's WAL" lib_wait 30 lib_sql_is "${p[us1]}" \
	"select pg_last_wal_replay_lsn() >= '$lsn'" t
kill -9 "$(lib_pidfile_pid "$tmp/data/eu2")"
lib_run "$tmp/fo" failover -f "$topo" --cluster eu
lib_expect_rc "pgconverge failover --cluster eu after kill -9 of eu2" "$tmp/fo" 0
[ "$(q eu1 'select pg_is_in_recovery()')" = f ] && ok "eu1 is eu's primary" ||
	{ fail "eu1 is not the primary"; lib_show "$tmp/fo"; }
# The failover itself re-pointed the standby leader (its front door hook).
check "right after the failover, before any apply, us1 streams from eu1" streams_from us1 eu1
check "right after the failover, one stream leaves eu1 for us, through slot pgc_standby_us" \
	one_leaving eu1
write_topology eu1
lib_run "$tmp/plan_fo" plan -f "$topo" --format json
if lib_json "$tmp/plan_fo.out" "not [a for a in d['actions'] if a['id'].startswith('us/')]"; then
	ok "the plan after the failover has nothing to do on us (the failover wrote what apply would)"
else
	fail "plan after the failover: exit $rc: $(jq -c '[.actions[] | .id + " " + .reason]' "$tmp/plan_fo.out" 2>/dev/null)"
	lib_show "$tmp/plan_fo"
fi
lib_run "$tmp/apply4" apply -f "$topo"
lib_expect_rc "apply after the failover" "$tmp/apply4" 0
check "us1 streams from eu1 after the failover" streams_from us1 eu1
check "one stream leaves eu1 for us, through slot pgc_standby_us" \
	one_leaving eu1
q eu1 "insert into t select generate_series(201, 300)" >/dev/null
check "data written in eu1 after the failover reaches us2" reaches us2 t 300
empty_plan plan_fo2
lib_run "$tmp/fo_us" failover -f "$topo" --cluster us
if [ "$rc" = 1 ] && grep -q 'its source "eu" is not lost' "$tmp/fo_us.err" &&
	[ "$(q us1 'select pg_is_in_recovery()')" = t ]; then
	ok "pgconverge failover --cluster us refuses to promote the standby cluster while eu answers"
else
	fail "failover --cluster us: exit $rc"; lib_show "$tmp/fo_us"
fi
empty_plan plan3

# --- 5. the file names a source primary that is not the live one: us alone keeps its stream ---

# eu1 is eu's live primary; a file that still names eu2 (not updated after a
# failover) must not point us1 at eu2, a replica without the slot: plan and
# apply --cluster us observe eu too and find eu1 taking writes.
write_topology eu2
lib_run "$tmp/plan_us" plan -f "$topo" --cluster us --format json
if [ "$rc" = 0 ] && lib_json "$tmp/plan_us.out" "d['actions'] == []"; then
	ok "plan --cluster us with the file naming eu2: nothing re-points us1"
else
	fail "plan --cluster us: exit $rc: $(jq -c '[.actions[] | .id + " " + .reason]' "$tmp/plan_us.out" 2>/dev/null)"
	lib_show "$tmp/plan_us"
fi
lib_run "$tmp/apply_us" apply -f "$topo" --cluster us
lib_expect_rc "apply --cluster us with the file naming eu2" "$tmp/apply_us" 0
check "us1 still streams from eu1" streams_from us1 eu1
write_topology eu1

# --- 6. a chain: ap is a standby cluster of us, itself a standby cluster of eu -------------

add_ap() {
	cat >>"$topo" <<EOF
  ap:
    standby_of: us
    primary: ap1
    nodes:
      ap1: {port: ${p[ap1]}, data_dir: data/ap1, region: ap-south}
    settings:
      shared_buffers: 32MB
      max_connections: 100
    hba:
      - {type: local, database: all, user: postgres, method: peer}
EOF
}
add_ap
lib_run "$tmp/apply_ap" apply -f "$topo"
lib_expect_rc "apply adds ap, a standby cluster of the standby cluster us" "$tmp/apply_ap" 0
check "ap1 streams from us1" streams_from ap1 us1
check "exactly one stream leaves us1 for ap, through slot pgc_standby_ap" lib_wait 30 lib_sql_is "${p[us1]}" \
	"select count(*) from pg_stat_replication r join pg_replication_slots s on s.active_pid = r.pid
	  where r.application_name = 'ap-ap1' and s.slot_name = 'pgc_standby_ap'" 1
[ "$(q ap1 'select pg_is_in_recovery()')" = t ] && ok "ap1 is in recovery" || fail "ap1 is not in recovery"
if q ap1 "create table nope (i int)" >/dev/null; then fail "ap1 took a write"; else ok "ap1 refuses writes"; fi
q eu1 "insert into t select generate_series(301, 400)" >/dev/null
check "data written in eu1 reaches ap1, two clusters down the chain" reaches ap1 t 400
lib_run "$tmp/status_ap" status -f "$topo" --format json
check "status --format json: ap's leader streams from us1" lib_json "$tmp/status_ap.out" \
	"[c['standby'] for c in d['clusters'] if c['name'] == 'ap'][0]['upstream'] == 'us1'"
empty_plan plan_ap

# --- 7. PgBouncer in front of us: eu's roles log in through it -----------------------------

pb=$(lib_free_ports 8 | grep -v -x -e "${p[eu1]}" -e "${p[eu2]}" -e "${p[us1]}" -e "${p[us2]}" \
	-e "${p[ap1]}" | head -n 1)
export APP_PASSWORD='s3cret-app'
# through PASSWORD - eu's rows in t (database postgres) through us's PgBouncer, as app.
through() {
	PGPASSWORD=$1 PGCONNECT_TIMEOUT=3 "$LIB_PG_BIN/psql" -X -At -h 127.0.0.1 -p "$pb" -U app \
		-d postgres -c "select count(*) from t" 2>"$tmp/through.err"
}
sed -i -e 's/^      app: {login: true}$/      app: {login: true, password: {env: APP_PASSWORD}}/' \
	-e "s/^    standby_of: eu .*\$/&\n    pooler:\n      pgbouncer: {port: $pb}/" "$topo"
grep -q 'password: {env: APP_PASSWORD}' "$topo" && grep -q "pgbouncer: {port: $pb}" "$topo" ||
	fail "the topology with app's password and us's PgBouncer"
q eu1 "grant select on t to app" >/dev/null
lib_run "$tmp/apply_pb" apply -f "$topo"
lib_expect_rc "apply gives app a password on eu and starts PgBouncer in front of us" "$tmp/apply_pb" 0
check "us1 replays app's SCRAM verifier" lib_wait 30 lib_sql_is "${p[us1]}" \
	"select count(*) from pg_authid where rolname = 'app' and rolpassword like 'SCRAM-SHA-256\$%'" 1
# The pooler may have read us1 before it replayed the password: the next apply completes it.
lib_run "$tmp/apply_pb2" apply -f "$topo"
lib_expect_rc "a second apply" "$tmp/apply_pb2" 0
check "us's userlist holds eu's role app" grep -q '^"app" "SCRAM-SHA-256\$' "$bdir/userlist.txt"
check "a login through us's PgBouncer as app reads eu's rows" \
	eval '[ "$(through "$APP_PASSWORD")" = 400 ] || { cat "$tmp/through.err"; false; }'
if through wrong-password >/dev/null; then
	fail "a wrong password through us's PgBouncer is refused"
else
	grep -q "password authentication failed\|SASL authentication failed" "$tmp/through.err" &&
		ok "a wrong password through us's PgBouncer is refused" ||
		{ fail "a wrong password: unexpected error"; cat "$tmp/through.err"; }
fi
empty_plan plan_pb

lib_finish test_standby_cluster
