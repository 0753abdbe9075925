#!/usr/bin/env bash
# tests/integration/test_monitoring.sh - monitoring.pg_stat_statements and
# monitoring.pgbadger through the real CLI, with the real pgBadger, on a
# primary and a streaming replica:
#   1. a cluster without monitoring converges;
#   2. monitoring switched on: the plan restarts both nodes (impact restart,
#      blocked without --allow-restart: exit 3) and creates the extension
#      in every declared database and in postgres (none again in a database
#      that lists it already; after the primary's restart, and held while
#      that restart is blocked); with --allow-restart
#      it converges: extension everywhere, its settings and the log preset
#      live, a first pgBadger run per node;
#   3. a workload with known statements shows in pg_stat_statements;
#   4. the next pgBadger run is due once `every` passed (the state file
#      aged by two hours stands in for the wait; the plan shows it), runs,
#      and the report (cluster index, each node's index and day page) names
#      the statements; no log file the server was writing was parsed; an old
#      day folder is removed, a file beside it is not;
#   5. converged with monitoring: zero actions while pgBadger is not due;
#   6. a log setting pgBadger cannot parse is refused by validate.
#
# Needs root (servers run as postgres, as the product arranges), the
# PostgreSQL 15 binaries and /usr/bin/pgbadger. Ports are free ones in
# 20000-31999; everything lives in a temp folder torn down by PID on exit.
# One ok/FAIL line per check; exits 1 when any failed. LIB_KEEP=1 keeps the
# folder.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1
[ -x /usr/bin/pgbadger ] || { echo "FAIL /usr/bin/pgbadger is not installed"; exit 1; }
tmp=$(lib_tmpdir) || exit 1
trap 'lib_teardown "$tmp"' EXIT
trap 'exit 1' INT TERM

read -r p1 p2 <<<"$(lib_free_ports 2 | tr '\n' ' ')"
if [ -z "${p2:-}" ]; then
	echo "FAIL no free ports in 20000-31999"
	exit 1
fi
declare -A port=([pg1]=$p1 [pg2]=$p2)
topo=$tmp/topology.yaml
state=$tmp/state
reports=$tmp/reports/main
mkdir -p "$tmp/runs"

# write_topology MONITORING [EXTRA SETTINGS LINE]
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
    settings:
      shared_buffers: 16MB
      log_min_duration_statement: 0
${2:-}
    databases:
      appdb: {}
      shopdb: {extensions: [pg_stat_statements]}
    replication: {user: replicator, slots: true}
$1
EOF
}
MONITORING="    monitoring:
      pg_stat_statements: true
      pgbadger: {every: 1h, keep: 3}"

pgc() {
	local name=$1
	shift
	lib_run "$tmp/runs/$name" "$@"
	last=$tmp/runs/$name
}
expect_rc() { lib_expect_rc "$1" "$last" "$2"; }
plan_json() { pgc "$1" plan -f "$topo" --state-dir "$state" --format json; }
jq_plan() { jq -e "$1" "$last.out" >/dev/null 2>&1; }
ext_in() { # DB: the extension in DB on pg1
	[ "$(lib_psql "$p1" -d "$1" -c "select count(*) from pg_extension where extname = 'pg_stat_statements'" 2>&1)" = 1 ]
}

# --- 1. without monitoring ---------------------------------------------------------

echo "# 1. a primary and a replica, no monitoring"
write_topology ""
pgc apply1 apply -f "$topo" --state-dir "$state"
expect_rc "apply from nothing: exit 0" 0
lib_wait 30 lib_sql_is "$p1" "select count(*) from pg_stat_replication where state = 'streaming'" 1 &&
	ok "pg2 streams from pg1" || fail "pg2 does not stream"
ext_in appdb && fail "pg_stat_statements in appdb without monitoring" ||
	ok "no pg_stat_statements in appdb without monitoring"

# --- 2. monitoring on ----------------------------------------------------------------

echo "# 2. monitoring {pg_stat_statements: true, pgbadger: {every: 1h, keep: 3}}"
# The user's value wins over the default, written in capitals (no false drift).
TRACK="      pg_stat_statements.track: ALL"
write_topology "$MONITORING" "$TRACK"
plan_json plan2
expect_rc "plan with monitoring: exit 2 (changes)" 2
jq_plan '[.actions[] | select(.action == "restart") | .impact] == ["restart", "restart"]' &&
	ok "plan restarts pg2 then pg1 (impact restart): shared_preload_libraries, logging_collector" ||
	fail "restarts: $(jq -c '[.actions[] | select(.action == "restart") | [.id, .impact]]' "$last.out")"
jq_plan '[.actions[] | select(.action == "restart") | .changes[].key] | index("shared_preload_libraries") != null' &&
	ok "the primary's restart names shared_preload_libraries" ||
	fail "no restart change for shared_preload_libraries"
# shopdb lists the extension: created in step 1 already (CREATE EXTENSION works
# before the library is loaded), so monitoring adds nothing there.
jq_plan '[.actions[] | select(.action == "create-extension") | .id] | sort ==
	["main/pg1/create-extension:appdb.pg_stat_statements",
	 "main/pg1/create-extension:postgres.pg_stat_statements"]' &&
	ok "create-extension pg_stat_statements in appdb and postgres, none again in shopdb (which lists it)" ||
	fail "create-extension: $(jq -c '[.actions[] | select(.action == "create-extension") | .id]' "$last.out")"
jq_plan '[.actions[] | select(.action == "create-extension") | .depends_on | index("main/pg1/restart")] | all(. != null)' &&
	ok "each create-extension waits for pg1's restart (the library loaded)" ||
	fail "create-extension depends_on: $(jq -c '[.actions[] | select(.action == "create-extension") | .depends_on]' "$last.out")"
jq_plan '[.actions[] | select(.action == "pgbadger") | .id] == ["main/pg1/pgbadger", "main/pg2/pgbadger"]' &&
	ok "a first pgBadger run is due on pg1 and pg2" ||
	fail "pgbadger actions: $(jq -c '[.actions[] | select(.action == "pgbadger") | .id]' "$last.out")"

pgc apply2 apply -f "$topo" --state-dir "$state"
expect_rc "apply without --allow-restart: exit 3 (blocked by policy)" 3
grep -q "allow-restart" "$last.out" "$last.err" && ok "the blocked restart names --allow-restart" ||
	fail "no mention of --allow-restart"
ext_in appdb && fail "the extension was created in appdb while the restart was blocked" ||
	ok "while the restart is blocked, the extension waits too"
pgc apply3 apply -f "$topo" --state-dir "$state" --allow-restart
expect_rc "apply --allow-restart: exit 0" 0
journal=$state/journal.jsonl
if jq -se '(map(select(.event == "end" and .action == "main/pg1/restart" and .outcome == "ok")) | last | .ts) as $r
	| map(select(.event == "start" and (.action | test("create-extension:(appdb|postgres)"))) | .ts)
	| length == 2 and all(. > $r)' "$journal" >/dev/null 2>&1; then
	ok "the extension was created after pg1's restart (journal)"
else
	fail "journal order: $(jq -c 'select(.event == "start") | .action' "$journal" | tail -n 12 | tr '\n' ' ')"
fi
for db in appdb shopdb postgres; do
	ext_in "$db" && ok "extension pg_stat_statements in $db" || fail "no pg_stat_statements in $db"
done
lib_sql_is "$p1" "show pg_stat_statements.max" 10000 && ok "pg_stat_statements.max 10000 (default)" ||
	fail "pg_stat_statements.max: $(lib_sql "$p1" "show pg_stat_statements.max" 2>&1)"
lib_sql_is "$p1" "show pg_stat_statements.track" all && ok "pg_stat_statements.track all (the topology's ALL, over the default top)" ||
	fail "pg_stat_statements.track: $(lib_sql "$p1" "show pg_stat_statements.track" 2>&1)"
for n in pg1 pg2; do
	lib_sql_is "${port[$n]}" "select current_setting('track_io_timing') || ' ' || current_setting('logging_collector') || ' ' || current_setting('lc_messages') || ' ' || current_setting('log_min_duration_statement')" "on on C 0" &&
		ok "$n: track_io_timing, logging_collector on, lc_messages C, the user's log_min_duration_statement 0" ||
		fail "$n settings: $(lib_sql "${port[$n]}" "select current_setting('track_io_timing'), current_setting('logging_collector'), current_setting('lc_messages'), current_setting('log_min_duration_statement')" 2>&1)"
done
for n in pg1 pg2; do
	[ -f "$reports/$n/pgconverge-state.json" ] && ok "$n: the first pgBadger run left its state file" ||
		fail "$n: no $reports/$n/pgconverge-state.json"
done

# --- 3. a workload ---------------------------------------------------------------------

echo "# 3. a workload with known statements"
lib_psql "$p1" -d appdb -c "create table monitoring_canary_orders (id int primary key, amount numeric)" \
	-c "insert into monitoring_canary_orders select g, g * 1.5 from generate_series(1, 1000) g" >/dev/null 2>&1
for _ in 1 2 3; do
	lib_psql "$p1" -d appdb -c "select sum(amount) from monitoring_canary_orders where id > 41" >/dev/null 2>&1
done
lib_psql "$p1" -d appdb -c "select pg_sleep(0.2)" >/dev/null 2>&1
lib_sql_is "$p1" "select count(*) > 0 from pg_stat_statements where query like '%monitoring_canary_orders where id >%' and calls >= 3" t &&
	ok "pg_stat_statements counts the canary query (3 calls)" ||
	fail "pg_stat_statements: $(lib_sql "$p1" "select calls, query from pg_stat_statements where query like '%canary%'" 2>&1)"
lib_sql_is "$p1" "select count(*) > 0 from pg_stat_statements where query like '%pg_sleep%' and max_exec_time >= 200" t &&
	ok "pg_stat_statements has pg_sleep(0.2) with its 200 ms" ||
	fail "pg_stat_statements: no pg_sleep row"

# A role's password set once pg_stat_statements is loaded (and every
# statement is logged: log_min_duration_statement 0) reaches neither the
# statistics nor the server log: pgconverge's role statements carry the
# SCRAM verifier, and its session tracks and logs none of them.
export MON_APP_PASSWORD='mon-app-secret-1'
MONITORING="$MONITORING
    roles:
      mon_app: {login: true, password: {env: MON_APP_PASSWORD}}"
write_topology "$MONITORING"
pgc apply3b apply -f "$topo" --state-dir "$state"
expect_rc "apply of a role with a password: exit 0" 0
lib_sql_is "$p1" "select count(*) from pg_stat_statements where query ~* 'scram-sha-256|mon_app'" 0 &&
	ok "pg_stat_statements keeps no role statement, nor its verifier" ||
	fail "pg_stat_statements: $(lib_sql "$p1" "select left(query, 80) from pg_stat_statements where query ~* 'scram-sha-256|mon_app'" 2>&1)"
if grep -rqs -e 'SCRAM-SHA-256' -e "$MON_APP_PASSWORD" "$tmp/data/pg1/log" "$tmp/data/pg2/log"; then
	fail "a server log holds the verifier or the password"
else
	ok "no server log holds the verifier or the password"
fi
lib_psql "$p1" -d appdb -c "alter role mon_app password 'by-hand-pw'" >/dev/null 2>&1
pgc status3b status -f "$topo" --state-dir "$state" --cluster main --top
grep -q 'by-hand' "$last.out" && fail "status --top shows a role statement" ||
	ok "status --top shows no role statement"
pgc apply3c apply -f "$topo" --state-dir "$state"
expect_rc "apply puts the declared password back: exit 0" 0

# --- 4. the next pgBadger run --------------------------------------------------------

echo "# 4. pgBadger due again once every (1h) passed"
plan_json plan4a
if [ "$rc" = 0 ]; then
	ok "right after the run: nothing due, zero actions"
else
	fail "plan right after the run: exit $rc: $(jq -c '[.actions[].id]' "$last.out")"
fi
# Two hours pass, as far as the state files say (kept as the product wrote them: owner, mode).
for n in pg1 pg2; do
	f=$reports/$n/pgconverge-state.json
	then=$(($(date +%s) - 7200))
	jq --argjson t "$then" --arg iso "$(date -u -d "@$then" +%Y-%m-%dT%H:%M:%SZ)" \
		'.last_run_epoch = $t | .last_run = $iso' "$f" >"$tmp/state.tmp" && cat "$tmp/state.tmp" >"$f"
done
plan_json plan4b
expect_rc "two hours later: exit 2 (changes)" 2
jq_plan '[.actions[] | .action] | unique == ["pgbadger"]' && ok "only pgbadger actions are planned" ||
	fail "actions: $(jq -c '[.actions[].id]' "$last.out")"
jq_plan '.actions[0].changes[0].key == "last pgbadger run" and (.actions[0].changes[0].from | test("^20[0-9-]+T"))' &&
	ok "the plan shows the last run observe read from the state file" ||
	fail "changes: $(jq -c '.actions[0].changes' "$last.out")"
jq_plan '.actions[0].reason | test("was 2h 0m ago, pgbadger.every is 1h")' &&
	ok "the reason says how long ago, like a backup schedule" ||
	fail "reason: $(jq -r '.actions[0].reason' "$last.out")"

# An old day and a file of the user's beside it: the day goes, the file stays.
install -d -o postgres -g postgres "$reports/pg1/2020/01/01"
echo old | install -o postgres -g postgres /dev/stdin "$reports/pg1/2020/01/01/index.html"
echo mine | install -o postgres -g postgres /dev/stdin "$reports/pg1/notes.txt"

pgc apply4 apply -f "$topo" --state-dir "$state"
expect_rc "apply runs pgBadger: exit 0" 0
today=$(date +%Y/%m/%d)
if [ -f "$reports/index.html" ] && grep -q 'href="pg1/index.html"' "$reports/index.html" &&
	grep -q 'href="pg2/index.html"' "$reports/index.html"; then
	ok "the cluster's index.html links pg1's and pg2's reports"
else
	fail "index: $(cat "$reports/index.html" 2>&1 | head -5)"
fi
for n in pg1 pg2; do
	[ -f "$reports/$n/index.html" ] && [ -f "$reports/$n/$today/index.html" ] &&
		ok "$n: pgBadger's index and today's report exist" ||
		fail "$n: missing $reports/$n/index.html or $today/index.html: $(ls -R "$reports/$n" 2>&1 | head -20)"
done
day=$reports/pg1/$today/index.html
grep -q "monitoring_canary_orders" "$day" && ok "pg1's report names the canary table query" ||
	fail "pg1's report does not name monitoring_canary_orders"
grep -q "pg_sleep" "$day" && ok "pg1's report names pg_sleep" || fail "pg1's report does not name pg_sleep"
# Never a file the server was writing: the current one is not among those parsed.
for n in pg1 pg2; do
	cur=$(awk '{print $2}' "$tmp/data/$n/current_logfiles")
	cur=${cur##*/}
	if jq -e --arg c "$cur" '.ok == true and (.parsed | map(.name) | index($c) == null) and (.parsed | length > 0)' \
		"$reports/$n/pgconverge-state.json" >/dev/null 2>&1; then
		ok "$n: the run succeeded and parsed only complete files (not $cur, still written)"
	else
		fail "$n: state $(cat "$reports/$n/pgconverge-state.json" 2>&1 | head -c 600), current $cur"
	fi
done
[ ! -e "$reports/pg1/2020" ] && ok "the day folder of 2020-01-01 (past keep: 3) is removed, with its empty parents" ||
	fail "$reports/pg1/2020 is still there"
[ -f "$reports/pg1/notes.txt" ] && ok "a file beside the reports stays" || fail "notes.txt was removed"
owner=$(stat -c %U "$reports/pg1/$today/index.html" 2>/dev/null)
[ "$owner" = postgres ] && ok "reports are written by postgres (the os_user)" || fail "report owner: $owner"

# --- 5. converged ------------------------------------------------------------------------

echo "# 5. converged with monitoring"
pgc plan5 plan -f "$topo" --state-dir "$state"
expect_rc "plan right after: exit 0 (no changes)" 0
grep -q "no changes" "$last.out" && ok "plan says no changes" || fail "plan: $(tail -n 5 "$last.out")"
pgc status5 status -f "$topo" --state-dir "$state" --format json
if jq -e '[.clusters[0].nodes[] | .pgbadger | .ok == true and (.last_run | test("^20")) and .files_parsed > 0] == [true, true]' \
	"$last.out" >/dev/null 2>&1; then
	ok "status --format json shows each node's last pgBadger run"
else
	fail "status: $(jq -c '[.clusters[0].nodes[] | .pgbadger]' "$last.out" 2>&1 | head -c 400)"
fi

# --- 6. validation -------------------------------------------------------------------------

echo "# 6. a log setting pgBadger cannot parse"
write_topology "$MONITORING" "      lc_messages: de_DE.UTF-8"
pgc validate6 validate -f "$topo"
expect_rc "validate: exit 1" 1
grep -q "lc_messages \"de_DE.UTF-8\" translates the server's messages, but pgBadger parses the English ones" "$last.out" "$last.err" &&
	grep -q "hint: remove it (monitoring.pgbadger sets lc_messages: C)" "$last.out" "$last.err" &&
	ok "the error names lc_messages, with a hint" || fail "validate: $(cat "$last.out" "$last.err" | head -5)"

lib_finish test_monitoring
