#!/usr/bin/env bash
# tests/integration/test_reconcile.sh - plan, apply and status through the
# real CLI on one cluster of three nodes, from nothing:
#   1. apply builds a primary and two streaming replicas with quorum
#      synchronous replication; a second plan has nothing to do;
#   2. a reload-only change (work_mem) reloads and restarts nothing;
#   3. max_connections up: the standbys restart before the primary, one at a
#      time, blocked (exit 3) without --allow-restart; down: primary first;
#   7. a saved plan is refused once a node (or the file) changed since;
#      a plan saved with --cluster is applied over that cluster only, and a
#      --cluster on apply that names another scope is refused;
#   8. roles ({env} and {file} passwords), a database and extensions exist,
#      and no secret reaches the journal, an output, a plan, `ps` or the
#      server logs;
#   9. status, text and JSON: role, timeline, LSN, lag, connections.
#
# Needs root (servers run as postgres, as the product arranges) and the
# PostgreSQL 15 binaries. Ports are free ones in 20000-31999, everything
# lives in a temp folder torn down by PID on exit. One ok/FAIL line per
# check; exits 1 when any failed. LIB_KEEP=1 keeps the folder.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1
tmp=$(lib_tmpdir) || exit 1
trap 'lib_teardown "$tmp"' EXIT
trap 'exit 1' INT TERM

read -r p1 p2 p3 p4 <<<"$(lib_free_ports 4 | tr '\n' ' ')"
if [ -z "${p4:-}" ]; then
	echo "FAIL no free ports in 20000-31999"
	exit 1
fi
declare -A port=([pg1]=$p1 [pg2]=$p2 [pg3]=$p3)
topo=$tmp/topology.yaml
state=$tmp/state
journal=$state/journal.jsonl
mkdir -p "$tmp/runs"

# --- secrets ---------------------------------------------------------------------

# Unique, so that finding one anywhere is meaningful; with the characters
# that quoting and passfiles escape.
rnd() { head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
app_pw="app-$(rnd):p\\a's"
rep_pw="rep-$(rnd) x'y"
repl_pw="repl-$(rnd):z\\w"
mkdir -m 700 "$tmp/secrets"
# Written on Windows, say: the CRLF ending is not part of the password
# (apply and the plan's password check must read it alike: no false drift).
printf '%s\r\n' "$rep_pw" >"$tmp/secrets/reporting"
printf '%s\n' "$repl_pw" >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/reporting" "$tmp/secrets/replicator"
export PGC_IT_APP_PASSWORD=$app_pw

# write_topology MAX_CONNECTIONS WORK_MEM
write_topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  main:
    postgres: {version: 15}
    os_user: postgres
    primary: pg1
    nodes:
      pg1: {host: 127.0.0.1, port: $p1, data_dir: data/pg1}
      pg2: {host: 127.0.0.1, port: $p2, data_dir: data/pg2}
      pg3: {host: 127.0.0.1, port: $p3, data_dir: data/pg3}
    initdb: {locale: C.UTF-8, encoding: UTF8, data_checksums: true}
    settings:
      shared_buffers: 16MB
      max_connections: $1
      work_mem: $2
    hba:
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}
    roles:
      readers: {}
      app: {login: true, password: {env: PGC_IT_APP_PASSWORD}}
      reporting: {login: true, connection_limit: 5, member_of: [readers], password: {file: secrets/reporting}}
    databases:
      appdb: {owner: app, extensions: [pgcrypto, pg_stat_statements]}
    replication:
      user: replicator
      password: {file: secrets/replicator}
      slots: true
      synchronous: {method: any, count: 1}
EOF
}

# pgc NAME ARGS... - one run of pgconverge; its outputs stay in runs/NAME.*
# (all of them are searched for secrets at the end).
pgc() {
	local name=$1
	shift
	lib_run "$tmp/runs/$name" "$@"
	last=$tmp/runs/$name
}
# expect_rc NAME CODE - the last run's exit code.
expect_rc() { lib_expect_rc "$1" "$last" "$2"; }

live_all() { # SETTING VALUE - SHOW SETTING gives VALUE on every node
	local n
	for n in pg1 pg2 pg3; do
		lib_sql_is "${port[$n]}" "show $1" "$2" || return 1
	done
}
live_values() { # SETTING - "pg1=V pg2=V pg3=V"
	local n out=""
	for n in pg1 pg2 pg3; do
		out="$out $n=$(lib_sql "${port[$n]}" "show $1" 2>&1)"
	done
	echo "${out# }"
}
pids() { # the three postmaster pids
	local n
	for n in pg1 pg2 pg3; do lib_pidfile_pid "$tmp/data/$n"; done | tr '\n' ' '
}
streaming_quorum() {
	lib_sql_is "$p1" "select string_agg(application_name || ':' || state || ':' || sync_state, ' '
		order by application_name) from pg_stat_replication" \
		"pg2:streaming:quorum pg3:streaming:quorum"
}
# restart_order - the restart actions that ended ok in the journal since
# line $1, as node names in order.
restart_order() {
	tail -n +"$1" "$journal" | jq -r 'select(.event == "end" and .kind == "restart"
		and .outcome == "ok") | .node' | tr '\n' ' ' | sed 's/ $//'
}
journal_lines() { [ -f "$journal" ] && wc -l <"$journal" || echo 0; }
# plan_json NAME - `plan --format json` into runs/NAME.out (exit code in $rc)
plan_json() { pgc "$1" plan -f "$topo" --state-dir "$state" --format json; }
# jq_plan EXPRESSION - true when the last JSON plan satisfies it.
jq_plan() { jq -e "$1" "$last.out" >/dev/null 2>&1; }
idx() { echo "(.actions | map(.id) | index(\"$1\"))"; }

# fixture_restart NODE... - restarts nodes with pg_ctl (not the product),
# so that a product bug in one step does not spoil the next ones.
fixture_restart() {
	local n
	for n in "$@"; do
		runuser -u postgres -- "$LIB_PG_BIN/pg_ctl" restart -D "$tmp/data/$n" -m fast -w -t 60 \
			-l "$tmp/data/$n/log/fixture.log" >/dev/null 2>&1
	done
}

# --- 1. from nothing -------------------------------------------------------------

echo "# 1. from nothing: a primary and two synchronous (quorum) replicas"
write_topology 30 4MB
pgc plan0 plan -f "$topo" --state-dir "$state"
expect_rc "plan on an empty machine: exit 2 (changes)" 2
grep -q "initdb" "$last.out" && grep -q "clone" "$last.out" &&
	ok "plan lists initdb and the clones" || fail "plan lacks initdb or clone: $(tail -n 3 "$last.out")"

# Sample the argv of every process while apply runs: no secret may be in one.
"$PGC" apply -f "$topo" --state-dir "$state" >"$tmp/runs/apply1.out" 2>"$tmp/runs/apply1.err" &
apid=$!
: >"$tmp/ps.txt"
while kill -0 "$apid" 2>/dev/null; do
	ps -eo args >>"$tmp/ps.txt" 2>/dev/null
	sleep 0.05
done
wait "$apid"
rc=$?
last=$tmp/runs/apply1
expect_rc "apply from nothing: exit 0" 0
grep -q "^converged" "$last.out" && ok "apply says converged" ||
	fail "apply does not say converged: $(tail -n 2 "$last.out")"

lib_sql_is "$p1" "select pg_is_in_recovery()" f && ok "pg1 runs as the primary" ||
	fail "pg1 is not a running primary"
for n in pg2 pg3; do
	lib_sql_is "${port[$n]}" "select pg_is_in_recovery()" t && ok "$n runs in recovery" ||
		fail "$n is not a running standby"
done
if lib_wait 30 streaming_quorum; then
	ok "pg_stat_replication on pg1: pg2 and pg3 streaming, sync_state quorum"
else
	fail "pg_stat_replication on pg1: $(lib_sql "$p1" "select application_name, state, sync_state from pg_stat_replication" 2>&1 | tr '\n' ' ')"
fi
out=$(lib_sql "$p1" "show synchronous_standby_names" 2>&1)
[ "$out" = 'ANY 1 ("pg2", "pg3")' ] && ok "synchronous_standby_names is ANY 1 (\"pg2\", \"pg3\")" ||
	fail "synchronous_standby_names: '$out'"
sysids=$(for n in pg1 pg2 pg3; do lib_sql "${port[$n]}" "select system_identifier from pg_control_system()"; done | sort -u | wc -l)
[ "$sysids" = 1 ] && ok "the three nodes share one system identifier" || fail "$sysids different system identifiers"
# A commit waits for one standby: it must come back.
if timeout 20 runuser -u postgres -- "$LIB_PG_BIN/psql" -h "$LIB_SOCKET_DIR" -p "$p1" -d postgres -XAtq \
	-c "create table sync_probe(x int); insert into sync_probe values (1)" >/dev/null 2>&1; then
	ok "a commit on pg1 is acknowledged by the quorum"
else
	fail "a commit on pg1 did not return within 20 s"
fi
[ "$(lib_sql "$p1" "select slot_name || ':' || active from pg_replication_slots order by 1" 2>&1 | tr '\n' ' ')" = "pg2:true pg3:true " ] &&
	ok "slots pg2 and pg3 on pg1 are active" || fail "slots on pg1: $(lib_sql "$p1" "select slot_name, active from pg_replication_slots" 2>&1 | tr '\n' ' ')"
# The two replicas are independent: their clones run at the same time.
overlap=$(jq -rs '[.[] | select(.kind == "clone")] as $c
	| ($c | map(select(.event == "start")) | map(.ts) | max) <
	  ($c | map(select(.event == "end" and .outcome == "ok")) | map(.ts) | min)' "$journal")
[ "$overlap" = true ] && ok "journal: pg2's and pg3's clones overlapped (both started before either ended)" ||
	fail "the clones did not overlap: $(jq -c 'select(.kind == "clone") | [.node, .event, .ts]' "$journal" | tr '\n' ' ')"
left=$(find "$tmp/data" -maxdepth 1 -name '*pgconverge-clone*')
[ -n "$left" ] && fail "a clone marker or temporary passfile was left: $left" ||
	ok "no clone marker or temporary passfile left beside the data directories"

pgc plan1 plan -f "$topo" --state-dir "$state"
expect_rc "second plan: exit 0" 0
grep -qx "no changes: the live state matches the topology" "$last.out" && ok "second plan prints the no-changes line" ||
	fail "second plan: $(head -c 400 "$last.out")"
plan_json plan1json
expect_rc "second plan --format json: exit 0" 0
jq_plan '.actions == [] and .summary.actions == 0 and .format_version == 1' &&
	ok "second plan --format json: zero actions" || fail "second plan JSON: $(jq -c '.summary' "$last.out" 2>&1)"

# --- 8. roles, database, extensions ----------------------------------------------------

echo "# 8. roles, database and extensions"
out=$(lib_sql "$p1" "select rolname || ':' || rolcanlogin || ':' || rolconnlimit from pg_roles
	where rolname in ('app', 'reporting', 'readers', 'replicator') order by 1" 2>&1 | tr '\n' ' ')
[ "$out" = "app:true:-1 readers:false:-1 replicator:true:-1 reporting:true:5 " ] &&
	ok "roles app, readers, reporting, replicator with their attributes" || fail "roles: $out"
lib_sql_is "$p1" "select rolreplication from pg_roles where rolname = 'replicator'" t &&
	ok "replicator has REPLICATION" || fail "replicator lacks REPLICATION"
lib_sql_is "$p1" "select pg_has_role('reporting', 'readers', 'member')" t &&
	ok "reporting is a member of readers" || fail "reporting is not a member of readers"
out=$(lib_sql "$p1" "select rolname || ':' || left(rolpassword, 14) from pg_authid
	where rolname in ('app', 'reporting', 'replicator') order by 1" 2>&1 | tr '\n' ' ')
[ "$out" = 'app:SCRAM-SHA-256$ replicator:SCRAM-SHA-256$ reporting:SCRAM-SHA-256$ ' ] &&
	ok "passwords are stored as SCRAM verifiers" || fail "stored passwords: $out"
lib_sql_is "$p1" "select pg_get_userbyid(datdba) from pg_database where datname = 'appdb'" app &&
	ok "database appdb exists, owned by app" || fail "appdb is missing or not owned by app"
lib_sql_is "$p1" "select string_agg(extname, ',' order by extname) from pg_extension where extname <> 'plpgsql'" "" &&
	ok "no extension in the postgres database" || fail "extensions went to the wrong database"
out=$(lib_psql "$p1" -d appdb -c "select string_agg(extname, ',' order by extname) from pg_extension where extname <> 'plpgsql'" 2>&1)
[ "$out" = "pg_stat_statements,pgcrypto" ] && ok "appdb has pgcrypto and pg_stat_statements" ||
	fail "extensions in appdb: $out"
login() { # USER PASSWORD
	runuser -u postgres -- env PGPASSWORD="$2" "$LIB_PG_BIN/psql" -h 127.0.0.1 -p "$p1" -U "$1" \
		-d appdb -XAtq -c 'select current_user' 2>&1
}
[ "$(login app "$app_pw")" = app ] && ok "app logs in with its {env} password (scram over TCP)" ||
	fail "app cannot log in with its password"
[ "$(login reporting "$rep_pw")" = reporting ] && ok "reporting logs in with its {file} password" ||
	fail "reporting cannot log in with its password"
login app wrong-password | grep -q "password authentication failed" &&
	ok "a wrong password is refused (the rule is not trust)" || fail "app logs in with a wrong password"
grep -Eq "^host +replication +replicator +127\.0\.0\.1/32 +scram-sha-256" "$tmp/data/pg1/pg_hba.conf" &&
	ok "replication with a password goes through scram-sha-256" || fail "pg1 pg_hba.conf has no scram replication rule"
[ "$(stat -c '%a %U' "$tmp/data/.pg2.pgconverge.pgpass" 2>&1)" = "600 postgres" ] &&
	ok "pg2's passfile is 0600, owned by postgres" || fail "pg2's passfile: $(stat -c '%a %U' "$tmp/data/.pg2.pgconverge.pgpass" 2>&1)"

# --- 2. a reload-only change ----------------------------------------------------------

echo "# 2. a reload-only change"
before=$(pids)
write_topology 30 8MB
plan_json plan2
expect_rc "work_mem change: plan exit 2" 2
jq_plan '[.actions[] | select(.action == "restart")] == []' && ok "no restart action" ||
	fail "restart planned for work_mem: $(jq -c '[.actions[].id]' "$last.out")"
jq_plan '[.actions[] | .impact] | unique == ["reload"]' && ok "every action has impact reload" ||
	fail "impacts: $(jq -c '[.actions[] | {id, impact}]' "$last.out")"
jq_plan '[.actions[] | select(.action == "reload") | .node] | sort == ["pg1", "pg2", "pg3"]' &&
	ok "each node is reloaded" || fail "reloads: $(jq -c '[.actions[].id]' "$last.out")"
jq_plan '.summary.restart == 0 and .summary.blocked == 0' && ok "summary: 0 restart, 0 blocked" ||
	fail "summary: $(jq -c .summary "$last.out")"
pgc plan2text plan -f "$topo" --state-dir "$state"
grep -q "work_mem: 4MB -> 8MB" "$last.out" && grep -q "6 actions: 6 reload, 0 restart, 0 blocked" "$last.out" &&
	ok "text plan shows the change and '6 actions: 6 reload, 0 restart, 0 blocked'" ||
	fail "text plan: $(tail -n 2 "$last.out")"
pgc apply2 apply -f "$topo" --state-dir "$state"
expect_rc "apply the reload: exit 0" 0
live_all work_mem 8MB && ok "work_mem is 8MB live on every node" || fail "work_mem live: $(live_values work_mem)"
[ "$(pids)" = "$before" ] && ok "no server restarted" || fail "postmaster pids changed: $before -> $(pids)"
pgc plan2b plan -f "$topo" --state-dir "$state"
expect_rc "after the reload, plan: exit 0" 0

# --- 7. saved plans ---------------------------------------------------------------------

echo "# 7. a saved plan is refused when the state changed"
write_topology 30 5MB
pgc save1 plan -f "$topo" --state-dir "$state" -o "$tmp/p1.json"
expect_rc "plan -o: exit 2" 2
jq -e '.fingerprints["main/pg2"] | test("^[0-9]+:1:[0-9a-f]{64}$")' "$tmp/p1.json" >/dev/null 2>&1 &&
	ok "the saved plan carries node fingerprints" || fail "no fingerprint for main/pg2 in the saved plan"
echo "# a local edit" >>"$tmp/data/pg2/pg_hba.conf"
pgc stale apply "$tmp/p1.json" -f "$topo" --state-dir "$state"
expect_rc "apply of a stale saved plan: exit 1" 1
grep -q 'node "main/pg2" changed since the plan was saved' "$last.err" && ok "the refusal names the node that changed" ||
	fail "refusal message: $(head -c 300 "$last.err")"
grep -q "plan -o PLAN.json' again" "$last.err" && ok "the refusal says to plan again" || fail "no hint to plan again"
lib_sql_is "$p1" "show work_mem" 8MB && ok "nothing of the stale plan was applied" || fail "work_mem changed to $(lib_sql "$p1" "show work_mem")"

pgc save2 plan -f "$topo" --state-dir "$state" -o "$tmp/p2.json"
jq -e '[.actions[].id] | index("main/pg2/hba") != null' "$tmp/p2.json" >/dev/null 2>&1 &&
	ok "the new plan repairs pg2's pg_hba.conf" || fail "plan does not rewrite pg2's pg_hba.conf"
write_topology 30 7MB
pgc stale2 apply "$tmp/p2.json" -f "$topo" --state-dir "$state"
expect_rc "apply of a saved plan after the file changed: exit 1" 1
grep -q "the topology changed since the plan was saved" "$last.err" && ok "the refusal says the file changed" ||
	fail "refusal message: $(head -c 300 "$last.err")"
write_topology 30 5MB
# A saved plan is a reviewed copy, not a script: an edited action is refused.
jq '(.actions[] | select(.action == "hba") | .payload.path) |= "/tmp/pgc-forged-hba"' \
	"$tmp/p2.json" >"$tmp/p2-forged.json"
pgc forged apply "$tmp/p2-forged.json" -f "$topo" --state-dir "$state"
expect_rc "apply of an edited saved plan: exit 1" 1
grep -q 'of the saved plan is not what the topology and the servers call for now' "$last.err" &&
	[ ! -e /tmp/pgc-forged-hba ] && ok "an edited saved plan is refused, nothing written" ||
	fail "forged plan: $(head -c 300 "$last.err")"
# The whole action list is compared, not only each payload: order,
# duplicates, dependencies, impact and phase are what apply schedules by.
edit_refused() {
	local name=$1 filter=$2 want=$3
	jq "$filter" "$tmp/p2.json" >"$tmp/p2-$name.json" || { fail "jq $name"; return; }
	pgc "edit-$name" apply "$tmp/p2-$name.json" -f "$topo" --state-dir "$state"
	expect_rc "apply of a saved plan edited ($name): exit 1" 1
	grep -q -- "$want" "$last.err" && grep -q "plan -o PLAN.json' again" "$last.err" &&
		ok "the refusal names what differs ($name)" || fail "$name: $(head -c 300 "$last.err")"
	lib_sql_is "$p1" "show work_mem" 8MB && grep -q "a local edit" "$tmp/data/pg2/pg_hba.conf" &&
		ok "nothing of the edited plan ($name) was applied" || fail "$name changed something"
}
# reorder: the first two neighbours where the second does not depend on the first.
edit_refused reorder '. as $r | ([range(0; ($r.actions | length) - 1)
	| select(. as $k | $r.actions[$k].id as $id | ($r.actions[$k + 1].depends_on | any(.[]; . == $id)) | not)]
	| first) as $i | .actions[$i] = $r.actions[$i + 1] | .actions[$i + 1] = $r.actions[$i]' \
	'where the topology and the servers call for'
edit_refused duplicate '.actions += [.actions[-1]]' 'appears twice in the saved plan'
edit_refused depends_on '(.actions[] | select(.action == "reload") | .depends_on) |= []' \
	'its depends_on differs'
edit_refused impact '(.actions[] | select(.action == "config") | .impact) |= "restart"' \
	'its impact differs'
edit_refused phase '(.actions[] | select(.action == "config") | .phase) |= "lower-primary-first"' \
	'its phase differs'
pgc fresh apply "$tmp/p2.json" -f "$topo" --state-dir "$state"
expect_rc "apply of an up-to-date saved plan: exit 0" 0
live_all work_mem 5MB && ok "the saved plan was carried out (work_mem 5MB)" || fail "work_mem live: $(live_values work_mem)"
grep -q "a local edit" "$tmp/data/pg2/pg_hba.conf" && fail "pg2's pg_hba.conf still has the local edit" ||
	ok "pg2's pg_hba.conf is the managed one again"

echo "# 7b. a saved plan keeps the --cluster it was made for"
# A second cluster, never built here: everything of it is pending.
write_topology 30 6MB
cat >>"$topo" <<EOF
  other:
    postgres: {version: 15}
    os_user: postgres
    nodes:
      o1: {host: 127.0.0.1, port: $p4, data_dir: data/o1}
EOF
pgc scope-main plan --cluster main -f "$topo" --state-dir "$state" -o "$tmp/p-main.json"
expect_rc "plan --cluster main -o: exit 2" 2
jq -e '.cluster == "main" and ([.actions[].cluster] | unique == ["main"])' "$tmp/p-main.json" >/dev/null 2>&1 &&
	ok "the saved plan records its cluster" || fail "saved plan scope: $(jq -c '.cluster' "$tmp/p-main.json" 2>&1)"
pgc scope-all plan -f "$topo" --state-dir "$state" -o "$tmp/p-all.json"
expect_rc "plan -o of every cluster: exit 2" 2
jq -e '.cluster == null and ([.actions[].cluster] | index("other") != null)' "$tmp/p-all.json" >/dev/null 2>&1 &&
	ok "a plan of every cluster records cluster null" || fail "whole plan scope: $(jq -c '.cluster' "$tmp/p-all.json" 2>&1)"
pgc scope-conflict apply "$tmp/p-main.json" --cluster other -f "$topo" --state-dir "$state"
expect_rc "apply of a --cluster main plan with --cluster other: exit 1" 1
grep -q 'was made for --cluster "main", not "other"' "$last.err" && grep -q "hint: " "$last.err" &&
	ok "the refusal names both scopes, with a hint" || fail "scope conflict: $(head -c 300 "$last.err")"
pgc scope-whole apply "$tmp/p-all.json" --cluster main -f "$topo" --state-dir "$state"
expect_rc "apply of a whole plan with --cluster main: exit 1" 1
grep -q 'was made for all clusters, not --cluster "main"' "$last.err" && grep -q "hint: apply it without --cluster" "$last.err" &&
	ok "a whole plan with --cluster is refused, with a hint" || fail "whole plan with --cluster: $(head -c 300 "$last.err")"
lib_sql_is "$p1" "show work_mem" 5MB && ok "nothing was applied by the refused runs" || fail "work_mem changed to $(lib_sql "$p1" "show work_mem")"
pgc scope-apply apply "$tmp/p-main.json" -f "$topo" --state-dir "$state"
expect_rc "apply of the --cluster main plan, without --cluster: exit 0" 0
live_all work_mem 6MB && ok "the saved plan of main was carried out (work_mem 6MB)" || fail "work_mem live: $(live_values work_mem)"
[ ! -e "$tmp/data/o1" ] && ok "the other cluster was left alone" || fail "data/o1 was created"
# Plans saved before the scope was recorded mean every cluster, as they did.
write_topology 30 5MB
pgc legacy plan -f "$topo" --state-dir "$state" -o "$tmp/p-legacy.json"
jq 'del(.cluster)' "$tmp/p-legacy.json" >"$tmp/p-legacy-old.json"
pgc legacy-apply apply "$tmp/p-legacy-old.json" -f "$topo" --state-dir "$state"
expect_rc "apply of a plan saved without a scope: exit 0" 0
live_all work_mem 5MB && ok "a plan saved without a scope applies to every cluster" || fail "work_mem live: $(live_values work_mem)"

# --- 9. status ------------------------------------------------------------------------

echo "# 9. status"
pgc status status -f "$topo" --state-dir "$state"
expect_rc "status: exit 0" 0
lsn='[0-9A-F]+/[0-9A-F]+'
grep -Eq "^  pg1 +primary +1 +$p1 +$lsn .* [0-9]+/30 " "$last.out" &&
	ok "status text: pg1 primary, timeline 1, its LSN, connections/max_connections" ||
	fail "status line of pg1: $(grep ' pg1 ' "$last.out")"
for n in pg2 pg3; do
	grep -Eq "^  $n +replica +1 +${port[$n]} +$lsn +127\.0\.0\.1:$p1 +streaming +[0-9]+ B, [0-9.]+ s +[0-9]+/30 " "$last.out" &&
		ok "status text: $n replica, timeline, LSN, upstream, lag in bytes and seconds, connections" ||
		fail "status line of $n: $(grep " $n " "$last.out")"
done
pgc statusjson status -f "$topo" --state-dir "$state" --format json
expect_rc "status --format json: exit 0" 0
node() { echo ".clusters[0].nodes[] | select(.name == \"$1\")"; }
if jq -e "$(node pg1) | .role == \"primary\" and .timeline == 1 and (.lsn | test(\"^$lsn\$\"))
	and .connections >= 1 and .max_connections == 30 and .lag_bytes == null" "$last.out" >/dev/null 2>&1; then
	ok "status JSON for pg1: role, timeline, lsn, connections, max_connections"
else
	fail "status JSON for pg1: $(jq -c "$(node pg1) | {role, timeline, lsn, connections, max_connections, lag_bytes}" "$last.out" 2>&1)"
fi
for n in pg2 pg3; do
	if jq -e "$(node $n) | .role == \"replica\" and .timeline == 1 and (.lsn | test(\"^$lsn\$\"))
		and (.lag_bytes | type) == \"number\" and (.lag_seconds | type) == \"number\"
		and .connections >= 0 and .max_connections == 30 and .wal_receiver_status == \"streaming\"" \
		"$last.out" >/dev/null 2>&1; then
		ok "status JSON for $n: role, timeline, lsn, lag_bytes, lag_seconds, connections"
	else
		fail "status JSON for $n: $(jq -c "$(node $n) | {role, timeline, lsn, lag_bytes, lag_seconds, connections, max_connections}" "$last.out" 2>&1)"
	fi
done
jq -e '.pending_actions == 0' "$last.out" >/dev/null 2>&1 && ok "status JSON: no pending action" ||
	fail "status JSON pending_actions: $(jq .pending_actions "$last.out")"

# --- 3. >=-on-standby parameter up, then down --------------------------------------------

echo "# 3. max_connections up: standbys first, one at a time; down: primary first"
write_topology 40 5MB
plan_json plan3
expect_rc "max_connections 30 -> 40: plan exit 2" 2
if jq_plan "$(idx main/pg2/restart) < $(idx main/pg3/restart) and $(idx main/pg3/restart) < $(idx main/pg1/restart)"; then
	ok "restart order: pg2, pg3, then the primary pg1"
else
	fail "restart order: $(jq -c '[.actions[].id]' "$last.out")"
fi
jq_plan '(.actions[] | select(.id == "main/pg3/restart") | .depends_on | index("main/pg2/restart")) != null' &&
	ok "pg3's restart depends on pg2's (one at a time)" || fail "pg3/restart depends_on: $(jq -c '.actions[] | select(.id == "main/pg3/restart") | .depends_on' "$last.out")"
jq_plan '(.actions[] | select(.id == "main/pg1/restart") | .depends_on | index("main/pg3/restart")) != null' &&
	ok "pg1's restart depends on the last standby's" || fail "pg1/restart depends_on: $(jq -c '.actions[] | select(.id == "main/pg1/restart") | .depends_on' "$last.out")"
jq_plan '(.actions[] | select(.id == "main/pg1/config") | .depends_on | index("main/pg3/restart")) != null' &&
	ok "the primary's new value waits for the standbys' restarts" || fail "pg1/config depends_on: $(jq -c '.actions[] | select(.id == "main/pg1/config") | .depends_on' "$last.out")"
jq_plan '[.actions[] | select(.action == "restart") | .phase] | unique == ["raise-standbys-first"]' &&
	ok "phase raise-standbys-first" || fail "phases: $(jq -c '[.actions[] | {id, phase}]' "$last.out")"
jq_plan '[.actions[] | select(.action == "restart") | .blocked and (.blocked_reason | contains("--allow-restart"))] | all' &&
	ok "restarts are blocked, the reason names --allow-restart" || fail "restarts not blocked: $(jq -c '[.actions[] | select(.action == "restart") | {id, blocked}]' "$last.out")"

pgc apply3 apply -f "$topo" --state-dir "$state"
expect_rc "apply without --allow-restart: exit 3" 3
grep -qi "blocked" "$last.out" && ok "apply says what is blocked" || fail "apply output does not say blocked"
live_all max_connections 30 && ok "no server restarted: max_connections still 30" ||
	fail "max_connections live: $(live_values max_connections)"
grep -q "^max_connections = '30'" "$tmp/data/pg1/pgconverge.conf" &&
	ok "the primary's file still has 30: it is not raised before its standbys" ||
	fail "pg1's pgconverge.conf has $(grep max_connections "$tmp/data/pg1/pgconverge.conf") while the standbys still run with 30"
plan_json plan3b
if [ "$rc" = 2 ] && jq_plan '[.actions[] | select(.action == "restart") | .node] | sort == ["pg1", "pg2", "pg3"]'; then
	ok "the next plan still has the three restarts"
else
	fail "the pending restarts were lost: plan exit $rc, actions $(jq -c '[.actions[].id]' "$last.out" 2>&1)"
fi

from=$(($(journal_lines) + 1))
pgc apply3r apply -f "$topo" --state-dir "$state" --allow-restart
expect_rc "apply --allow-restart: exit 0" 0
live_all max_connections 40 && ok "max_connections is 40 live on every node" ||
	fail "max_connections live: $(live_values max_connections)"
order=$(restart_order "$from")
[ "$order" = "pg2 pg3 pg1" ] && ok "journal: restarted pg2, pg3, then pg1" || fail "journal restart order: '$order'"
lib_wait 30 streaming_quorum && ok "both standbys stream again" || fail "standbys do not stream after the restarts"
if ! live_all max_connections 40; then
	echo "# (fixture) restarting pg2, pg3, pg1 by hand so that the next steps start from 40"
	fixture_restart pg2 pg3 pg1
	lib_wait 30 streaming_quorum
fi
pgc plan3c plan -f "$topo" --state-dir "$state"
expect_rc "after the rolling restart, plan: exit 0" 0

# Down, with a reloadable change beside it.
write_topology 30 6MB
plan_json plan3d
expect_rc "max_connections 40 -> 30: plan exit 2" 2
if jq_plan "$(idx main/pg1/restart) < $(idx main/pg2/restart) and $(idx main/pg1/restart) < $(idx main/pg3/restart)"; then
	ok "lowering: the primary restarts first"
else
	fail "lowering order: $(jq -c '[.actions[].id]' "$last.out")"
fi
jq_plan '[.actions[] | select(.id == "main/pg2/config" or .id == "main/pg3/config") | .depends_on | index("main/pg1/restart")] | all(. != null)' &&
	ok "lowering: the standbys' new value waits for the primary's restart" ||
	fail "standby configs depends_on: $(jq -c '[.actions[] | select(.action == "config") | {id, depends_on}]' "$last.out")"
jq_plan '[.actions[] | select(.action == "restart") | .phase] | unique == ["lower-primary-first"]' &&
	ok "phase lower-primary-first" || fail "phases: $(jq -c '[.actions[] | {id, phase}]' "$last.out")"
pgc apply3d apply -f "$topo" --state-dir "$state"
expect_rc "lowering without --allow-restart: exit 3 (held back, not failed)" 3
live_all max_connections 40 && ok "lowering blocked: still 40 everywhere" || fail "max_connections live: $(live_values max_connections)"
from=$(($(journal_lines) + 1))
pgc apply3e apply -f "$topo" --state-dir "$state" --allow-restart
expect_rc "lowering with --allow-restart: exit 0" 0
live_all max_connections 30 && ok "max_connections is 30 live on every node" ||
	fail "max_connections live: $(live_values max_connections)"
live_all work_mem 6MB && ok "work_mem is 6MB live on every node" || fail "work_mem live: $(live_values work_mem)"
order=$(restart_order "$from")
case $order in
"pg1 pg2 pg3" | "pg1 pg3 pg2") ok "journal: pg1 restarted first, then the standbys ($order)" ;;
*) fail "journal restart order when lowering: '$order'" ;;
esac
lib_wait 30 streaming_quorum && ok "both standbys stream again" || fail "standbys do not stream after lowering"
pgc plan3f plan -f "$topo" --state-dir "$state"
expect_rc "after lowering, plan: exit 0" 0

# --- 8 (end). no secret anywhere ---------------------------------------------------------

echo "# 8. secrets"
[ -s "$journal" ] && ok "the journal exists" || fail "no journal at $journal"
secrets_in() { # FILE... - true when a secret (or a verifier) is in one of them
	grep -lF -e "$app_pw" -e "$rep_pw" -e "$repl_pw" -e "${app_pw%%:*}" -e "${rep_pw%% *}" \
		-e "${repl_pw%%:*}" -e 'SCRAM-SHA-256$' "$@" 2>/dev/null
}
# Plan and status JSON files, every stdout/stderr, the journal.
plan_json finaljson
found=$(secrets_in "$journal" "$tmp"/runs/* "$tmp"/p*.json)
[ -z "$found" ] && ok "no password or verifier in the journal, outputs, plans or status" ||
	fail "a secret or verifier is in: $found"
[ -s "$tmp/ps.txt" ] && ! secrets_in "$tmp/ps.txt" >/dev/null &&
	ok "no password in the argv of any process during the first apply ($(grep -c . "$tmp/ps.txt") lines sampled)" ||
	fail "a password appeared in ps output (or nothing was sampled)"
grep -q pg_basebackup "$tmp/ps.txt" && ok "(the sampling saw pg_basebackup running)" ||
	echo "# note: the ps sampling did not catch pg_basebackup"
# {env:} secrets are scrubbed from what pgconverge starts: the servers'
# environments must not hold PGC_IT_APP_PASSWORD.
leaked=""
for pidfile in "$tmp"/data/*/postmaster.pid; do
	pid=$(head -n 1 "$pidfile" 2>/dev/null) || continue
	if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -q '^PGC_IT_APP_PASSWORD='; then
		leaked="$leaked $pidfile"
	fi
done
[ -z "$leaked" ] && ok "no {env} secret in the environment of a server pgconverge started" ||
	fail "a server inherited PGC_IT_APP_PASSWORD:$leaked"
logs=$(find "$tmp/data" -path '*/log/*' -type f)
found=$(grep -lF -e "$app_pw" -e "$rep_pw" -e "$repl_pw" $logs 2>/dev/null)
[ -z "$found" ] && ok "no cleartext password in the server logs" || fail "a cleartext password is in: $found"

lib_finish test_reconcile
