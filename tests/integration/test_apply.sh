#!/usr/bin/env bash
# tests/integration/test_apply.sh - the executor on real servers: a plan
# built by hand (tests/integration/apply_driver.c) takes a primary from
# nothing to running with roles, a database and an extension, then clones a
# streaming replica through a slot; the same plan applied again changes
# nothing and fails nothing.
#
# Needs root (servers run as postgres, as the product arranges), the
# PostgreSQL 15 binaries, and free loopback ports in 20000-32000. Prints one
# ok/FAIL line per check and exits 1 when any check failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
fails=0
ok() { echo "ok   $*"; }
fail() {
	echo "FAIL $*"
	fails=$((fails + 1))
}

if [ "$(id -u)" != 0 ]; then
	echo "FAIL test_apply.sh must run as root (servers run as postgres)"
	exit 1
fi

tmp=$(mktemp -d)
chmod 755 "$tmp"

# stop_server DATA_DIR - stops a postmaster by the pid in postmaster.pid.
stop_server() {
	local pidfile=$1/postmaster.pid pid i
	[ -f "$pidfile" ] || return 0
	pid=$(head -n 1 "$pidfile")
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}
teardown() {
	# The replica first: a primary waits for its walsenders on shutdown.
	stop_server "$tmp/data/fresh2"
	stop_server "$tmp/data/fresh1"
	stop_server "$tmp/data/pg3"
	stop_server "$tmp/data/pg2"
	stop_server "$tmp/data/pg1"
	rm -rf "$tmp"
}
trap teardown EXIT

# free_port - a loopback TCP port in 20000-32000 nobody listens on.
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		ss -Hltn "sport = :$p" | grep -q . && continue
		echo "$p"
		return 0
	done
	return 1
}
ports=""
for _ in $(seq 1 20); do
	p=$(free_port) || break
	case " $ports " in *" $p "*) continue ;; esac
	ports="$ports $p"
	[ "$(echo $ports | wc -w)" -eq 5 ] && break
done
read -r p1 p2 p3 p4 p5 <<<"$ports"
if [ -z "${p5:-}" ]; then
	echo "FAIL no free ports in 20000-32000"
	exit 1
fi

# --- build the driver with the Makefile's flags ------------------------------

make -s build/libpgconverge.a >"$tmp/make.log" 2>&1 || {
	echo "FAIL make build/libpgconverge.a:"
	tail -n 30 "$tmp/make.log"
	exit 1
}
flags=$(make -s --no-print-directory -f Makefile -f - pgc-print-flags <<'EOF'
pgc-print-flags:
	@echo '$(CFLAGS)'
	@echo '$(LDLIBS)'
EOF
)
cflags=$(echo "$flags" | sed -n 1p)
ldlibs=$(echo "$flags" | sed -n 2p)
# shellcheck disable=SC2086
if ! ${CC:-gcc} $cflags -o "$tmp/apply_driver" tests/integration/apply_driver.c \
	build/libpgconverge.a $ldlibs >"$tmp/cc.log" 2>&1; then
	echo "FAIL building apply_driver:"
	cat "$tmp/cc.log"
	exit 1
fi
ok "apply_driver builds"

# --- topology and secrets ----------------------------------------------------

# Passwords with the characters passfiles and SQL literals escape.
app_pw="app:pa\\ss'word"
repl_pw="re:pl\\i'cator"
mkdir -m 700 "$tmp/secrets"
printf '%s\n' "$repl_pw" >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"
export PGC_TEST_APP_PASSWORD=$app_pw

cat >"$tmp/topology.yaml" <<EOF
version: 1
clusters:
  main:
    postgres: {version: 15}
    os_user: postgres
    primary: pg1
    nodes:
      pg1: {host: 127.0.0.1, port: $p1, data_dir: data/pg1}
      pg2: {host: 127.0.0.1, port: $p2, data_dir: data/pg2}
    initdb: {locale: C.UTF-8, encoding: UTF8, data_checksums: true}
    settings:
      max_connections: 40
      shared_buffers: 32MB
      work_mem: 4MB
    hba:
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}
    roles:
      app: {login: true, connection_limit: 20, password: {env: PGC_TEST_APP_PASSWORD}}
    databases:
      appdb: {owner: app, extensions: [pg_stat_statements]}
    replication:
      user: replicator
      password: {file: secrets/replicator}
      slots: true
EOF

psql1() { runuser -u postgres -- psql -h /var/run/postgresql -p "$p1" -X -At -v ON_ERROR_STOP=1 "$@"; }
psql2() { runuser -u postgres -- psql -h /var/run/postgresql -p "$p2" -X -At -v ON_ERROR_STOP=1 "$@"; }

# --- first run: everything is created -----------------------------------------

"$tmp/apply_driver" hand "$tmp/topology.yaml" "$tmp/state" >"$tmp/run1.out" 2>"$tmp/run1.err"
rc=$?
if [ $rc -eq 0 ] && grep -qx 'done=17 failed=0 blocked=1 dependency=1' "$tmp/run1.out"; then
	ok "first apply: 17 done, 1 blocked, 1 skipped for its dependency"
else
	fail "first apply: exit $rc, $(cat "$tmp/run1.out"); log tail:"
	tail -n 40 "$tmp/run1.err"
fi

[ "$(psql1 -d postgres -c 'select pg_is_in_recovery()' 2>&1)" = f ] &&
	ok "pg1 is up and is a primary" || fail "pg1 is not a running primary"
[ "$(psql1 -d postgres -c 'show port' 2>&1)" = "$p1" ] &&
	ok "pg1 reads the managed include file (port $p1)" || fail "pg1 port is not $p1"
[ "$(psql1 -d postgres -c 'show shared_buffers' 2>&1)" = 32MB ] &&
	ok "pg1 has shared_buffers from the topology" || fail "pg1 shared_buffers is not 32MB"
[ "$(grep -c "^include 'pgconverge.conf'\$" "$tmp/data/pg1/postgresql.conf")" = 1 ] &&
	ok "postgresql.conf has the include line once" || fail "include line count in postgresql.conf"
grep -q '^pgconverge *root *postgres$' "$tmp/data/pg1/pg_ident.conf" &&
	ok "pg_ident.conf has the pgconverge map" || fail "pg_ident.conf lacks the pgconverge map"
[ "$(psql1 -d postgres -c "select rolcanlogin, rolconnlimit from pg_roles where rolname = 'app'" 2>&1)" = "t|20" ] &&
	ok "role app exists (login, connection limit 20)" || fail "role app is missing or wrong"
[ "$(psql1 -d postgres -c "select rolreplication from pg_roles where rolname = 'replicator'" 2>&1)" = t ] &&
	ok "role replicator exists with REPLICATION" || fail "role replicator is missing"
[ "$(psql1 -d postgres -c "select left(rolpassword, 14) from pg_authid where rolname = 'app'" 2>&1)" = 'SCRAM-SHA-256$' ] &&
	ok "app's password is stored as a SCRAM verifier" || fail "app's password is not a SCRAM verifier"
[ "$(psql1 -d postgres -c "select pg_get_userbyid(datdba) from pg_database where datname = 'appdb'" 2>&1)" = app ] &&
	ok "database appdb exists, owned by app" || fail "database appdb is missing or not owned by app"
[ "$(psql1 -d appdb -c "select count(*) from pg_extension where extname = 'pg_stat_statements'" 2>&1)" = 1 ] &&
	ok "extension pg_stat_statements is in appdb" || fail "extension missing in appdb"
# The verifier was computed from the secret: app logs in over TCP with it.
out=$(runuser -u postgres -- env PGPASSWORD="$app_pw" psql -h 127.0.0.1 -p "$p1" -U app -d appdb -X -At \
	-c 'select current_user' 2>&1)
[ "$out" = app ] && ok "app logs in with its password (scram-sha-256 over TCP)" ||
	fail "app cannot log in with its password: $out"

[ "$(psql2 -d postgres -c 'select pg_is_in_recovery()' 2>&1)" = t ] &&
	ok "pg2 is up and in recovery" || fail "pg2 is not a running standby"
out=$(psql1 -d postgres -c "select application_name, state from pg_stat_replication" 2>&1)
[ "$out" = "pg2|streaming" ] && ok "pg_stat_replication on pg1 shows pg2 streaming" ||
	fail "pg_stat_replication on pg1: '$out'"
out=$(psql1 -d postgres -c "select slot_name, active from pg_replication_slots" 2>&1)
[ "$out" = "pg2|t" ] && ok "slot pg2 is active on pg1" || fail "slots on pg1: '$out'"
[ -f "$tmp/data/pg2/standby.signal" ] && ok "pg2 has standby.signal" || fail "pg2 lacks standby.signal"
[ "$(stat -c '%a %U' "$tmp/data/.pg2.pgconverge.pgpass" 2>&1)" = "600 postgres" ] &&
	ok "pg2's passfile is 0600, owned by postgres" || fail "pg2's passfile mode/owner"
[ "$(cat "$tmp/data/.pg2.pgconverge.pgpass")" = '127.0.0.1:'"$p1"':*:replicator:re\:pl\\i'"'"'cator' ] &&
	ok "passfile line escapes ':' and '\\'" || fail "passfile line: $(cat "$tmp/data/.pg2.pgconverge.pgpass")"
ls -A "$tmp/data" | grep -q '\.pgconverge-clone' && fail "a clone marker was left behind" ||
	ok "no clone marker left after the copy"
[ "$(stat -c '%a %U' /var/run/postgresql)" = "2775 postgres" ] &&
	ok "socket folder is 2775 postgres" || fail "socket folder: $(stat -c '%a %U' /var/run/postgresql)"

# Journal: two lines per action run, one per skipped action, all valid JSON.
j=$tmp/state/journal.jsonl
if python3 - "$j" <<'EOF'; then ok "journal: 36 lines, start/end per action, skipped ones explained"; else fail "journal content"; fi
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 17 * 2 + 2, len(lines)
ends = [l for l in lines if l["event"] == "end"]
assert sum(l["outcome"] == "ok" for l in ends) == 17
blocked = [l for l in ends if l["action"] == "main/pg1/restart"][0]
assert blocked["outcome"] == "skipped" and "--allow-restart" in blocked["error"], blocked
dep = [l for l in ends if l["action"] == "main/pg2/reload"][0]
assert dep["outcome"] == "skipped" and "main/pg1/restart" in dep["error"], dep
for l in lines:
    for k in ("ts", "cluster", "node", "action", "kind", "impact", "event"):
        assert k in l, (k, l)
assert all("duration_ms" in l for l in ends)
EOF
# Secrets never reach the journal or the log (the log is at debug level).
for f in "$j" "$tmp/run1.err"; do
	if grep -qF -e "$app_pw" -e "$repl_pw" -e 'pl\i' -e 'pa\ss' -e 'SCRAM-SHA-256$' "$f"; then
		fail "a secret or verifier appears in $(basename "$f")"
	else
		ok "no secret or verifier in $(basename "$f")"
	fi
done

# --- second run: the same plan is a no-op -------------------------------------

pid1=$(head -n 1 "$tmp/data/pg1/postmaster.pid")
pid2=$(head -n 1 "$tmp/data/pg2/postmaster.pid")
cp "$tmp/data/pg1/postgresql.conf" "$tmp/pg1.conf.before"
"$tmp/apply_driver" hand "$tmp/topology.yaml" "$tmp/state" >"$tmp/run2.out" 2>"$tmp/run2.err"
rc=$?
if [ $rc -eq 0 ] && grep -qx 'done=17 failed=0 blocked=1 dependency=1' "$tmp/run2.out"; then
	ok "second apply of the same plan: nothing failed"
else
	fail "second apply: exit $rc, $(cat "$tmp/run2.out"); log tail:"
	tail -n 40 "$tmp/run2.err"
fi
n=$(grep -c ': already done (' "$tmp/run2.err")
# Every action finds its work done except the reload, the two alters (no
# cheaper check than doing them) and the two create-role actions, which turn
# into ALTER ROLE for an existing role so that its attributes converge.
[ "$n" -eq 12 ] && ok "second apply: 12 actions found their work already done" ||
	fail "second apply: $n actions were already done, expected 12"
grep -q 'initialised data directory\|copied node\|started the server' "$tmp/run2.err" &&
	fail "second apply ran initdb, a clone or a start again" || ok "second apply ran no initdb, clone or start"
[ "$(head -n 1 "$tmp/data/pg1/postmaster.pid")" = "$pid1" ] &&
	[ "$(head -n 1 "$tmp/data/pg2/postmaster.pid")" = "$pid2" ] &&
	ok "servers were not restarted" || fail "a server was restarted by the second apply"
cmp -s "$tmp/pg1.conf.before" "$tmp/data/pg1/postgresql.conf" &&
	ok "postgresql.conf unchanged by the second apply" || fail "postgresql.conf changed"
out=$(psql1 -d postgres -c "select application_name, state from pg_stat_replication" 2>&1)
[ "$out" = "pg2|streaming" ] && ok "pg2 still streams after the second apply" ||
	fail "after the second apply: '$out'"

# --- the planner's view: observe + plan_build agree that nothing is left ------

"$tmp/apply_driver" plan "$tmp/topology.yaml" "$tmp/state" >"$tmp/plan1.out" 2>"$tmp/plan1.err"
rc=$?
[ $rc -eq 0 ] && [ "$(head -n 1 "$tmp/plan1.out")" = actions=0 ] &&
	ok "observe + plan_build after the applied plan: zero actions" ||
	fail "plan after apply: exit $rc, $(head -n 1 "$tmp/plan1.out"); $(grep -v ' debug: ' "$tmp/plan1.err" | head -n 20)"

# --- a cascaded replica, planned by plan_build and applied ----------------------

sed "s#^      pg2: .*#&\n      pg3: {host: 127.0.0.1, port: $p3, data_dir: data/pg3, replicate_from: pg2}#" \
	"$tmp/topology.yaml" >"$tmp/topology3.yaml"
"$tmp/apply_driver" plan "$tmp/topology3.yaml" "$tmp/state" >"$tmp/plan2.out" 2>"$tmp/plan2.err"
rc=$?
if [ $rc -eq 0 ] && grep -qx 'done=[1-9][0-9]* failed=0 blocked=0 dependency=0' "$tmp/plan2.out" &&
	grep -q 'main/pg3/clone' "$tmp/state/journal.jsonl"; then
	ok "planned apply of pg3: $(head -n 1 "$tmp/plan2.out"), $(sed -n 2p "$tmp/plan2.out")"
else
	fail "planned apply of pg3: exit $rc, $(tr '\n' ' ' <"$tmp/plan2.out")"
	grep -v ' debug: ' "$tmp/plan2.err" | tail -n 30
fi
out=$(runuser -u postgres -- psql -h /var/run/postgresql -p "$p2" -X -At \
	-c "select application_name, state from pg_stat_replication" 2>&1)
[ "$out" = "pg3|streaming" ] && ok "pg_stat_replication on pg2 shows pg3 streaming (cascade)" ||
	fail "pg_stat_replication on pg2: '$out'"
out=$(runuser -u postgres -- psql -h /var/run/postgresql -p "$p2" -X -At \
	-c "select slot_name, active from pg_replication_slots" 2>&1)
[ "$out" = "pg3|t" ] && ok "slot pg3 is active on pg2" || fail "slots on pg2: '$out'"
"$tmp/apply_driver" plan "$tmp/topology3.yaml" "$tmp/state" >"$tmp/plan3.out" 2>"$tmp/plan3.err"
rc=$?
[ $rc -eq 0 ] && [ "$(head -n 1 "$tmp/plan3.out")" = actions=0 ] &&
	ok "plan after the planned apply: zero actions (converged)" ||
	fail "plan after the planned apply: exit $rc, $(head -n 1 "$tmp/plan3.out"); $(grep -v ' debug: ' "$tmp/plan3.err" | head -n 20)"

# ALTER SYSTEM drift: planned as reset-alter-system + reload, applied, gone.
psql1 -d postgres -c "ALTER SYSTEM SET work_mem = '8MB'" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
"$tmp/apply_driver" plan "$tmp/topology3.yaml" "$tmp/state" >"$tmp/plan4.out" 2>"$tmp/plan4.err"
rc=$?
sleep 0.5 # pg_reload_conf() signals; the postmaster rereads its files asynchronously
if [ $rc -eq 0 ] && grep -q 'main/pg1/reset-alter-system:work_mem.*"outcome":"ok"' "$tmp/state/journal.jsonl" &&
	[ "$(psql1 -d postgres -c 'show work_mem' 2>&1)" = 4MB ] &&
	! grep -q work_mem "$tmp/data/pg1/postgresql.auto.conf"; then
	ok "ALTER SYSTEM drift planned, reset and reloaded ($(head -n 1 "$tmp/plan4.out"))"
else
	fail "ALTER SYSTEM reset: exit $rc, $(tr '\n' ' ' <"$tmp/plan4.out") work_mem=$(psql1 -d postgres -c 'show work_mem' 2>&1)"
	grep -v ' debug: ' "$tmp/plan4.err" | tail -n 20
fi
"$tmp/apply_driver" plan "$tmp/topology3.yaml" "$tmp/state" >"$tmp/plan5.out" 2>"$tmp/plan5.err"
[ "$(head -n 1 "$tmp/plan5.out")" = actions=0 ] && ok "after the reset: zero actions" ||
	fail "after the reset: $(head -n 1 "$tmp/plan5.out"); $(grep -v ' debug: ' "$tmp/plan5.err" | head -n 20)"

# --- replication.password changed: the role and the passfiles follow -----------
# The real CLI on the cascade pg1 -> pg2 -> pg3. Before the fix only the role
# was altered: the walreceivers kept their connections, the passfiles the old
# password, and the next reconnect failed while plan said converged.

PGC=${PGC_BIN:-$top/pgconverge}
pgc() { # NAME ARGS... - one CLI run; outputs in $tmp/cli.NAME.{out,err}, exit code in $rc
	local name=$1
	shift
	"$PGC" "$@" >"$tmp/cli.$name.out" 2>"$tmp/cli.$name.err"
	rc=$?
}
# walsender_pid PORT REPLICA - the pid of REPLICA's streaming walsender on the node at PORT.
walsender_pid() {
	runuser -u postgres -- psql -h /var/run/postgresql -p "$1" -X -At \
		-c "select pid from pg_stat_replication where application_name = '$2' and state = 'streaming'" 2>/dev/null
}
# wait_streams PORT REPLICA OLD_PID - up to 30 s for a new streaming walsender of REPLICA.
wait_streams() {
	local pid
	for _ in $(seq 1 60); do
		pid=$(walsender_pid "$1" "$2")
		[ -n "$pid" ] && [ "$pid" != "$3" ] && return 0
		sleep 0.5
	done
	return 1
}
new_pw='n3w:pa\ss'
old_pg2=$(walsender_pid "$p1" pg2)
old_pg3=$(walsender_pid "$p2" pg3)
printf '%s\n' "$new_pw" >"$tmp/secrets/replicator"
pgc pwplan plan -f "$tmp/topology3.yaml" --state-dir "$tmp/state-cli" --format json
if [ $rc -eq 2 ] && python3 - "$tmp/cli.pwplan.out" <<'EOF'; then
import json, sys
plan = json.load(open(sys.argv[1]))
ids = [a["id"] for a in plan["actions"]]
assert ids == ["main/pg1/alter-role:replicator", "main/pg2/passfile", "main/pg3/passfile"], ids
for a in plan["actions"][1:]:
    assert a["depends_on"] == ["main/pg1/alter-role:replicator"], a
    ch = {c["key"]: (c["from"], c["to"]) for c in a["changes"]}
    assert list(ch) == ["password"] and ch["password"][0] == "(another password)", ch
    assert ch["password"][1].startswith("{file: "), ch
EOF
	ok "plan after replication.password changed: alter-role, then both passfiles"
else
	fail "plan after the password change: exit $rc, $(head -c 600 "$tmp/cli.pwplan.out"); $(grep -v ' debug: ' "$tmp/cli.pwplan.err" | head -n 5)"
fi
pgc pwapply apply -f "$tmp/topology3.yaml" --state-dir "$tmp/state-cli"
[ $rc -eq 0 ] && ok "apply of the password change: exit 0" ||
	fail "apply of the password change: exit $rc; $(grep -v ' debug: ' "$tmp/cli.pwapply.err" | tail -n 10)"
[ "$(cat "$tmp/data/.pg2.pgconverge.pgpass")" = "127.0.0.1:$p1:*:replicator:n3w\\:pa\\\\ss" ] &&
	[ "$(cat "$tmp/data/.pg3.pgconverge.pgpass")" = "127.0.0.1:$p2:*:replicator:n3w\\:pa\\\\ss" ] &&
	ok "both passfiles hold the new password" ||
	fail "passfiles: $(cat "$tmp/data/.pg2.pgconverge.pgpass" "$tmp/data/.pg3.pgconverge.pgpass")"
if grep -qF -e "$new_pw" -e 'pa\ss' "$tmp/cli.pwplan.out" "$tmp/cli.pwplan.err" "$tmp/cli.pwapply.out" \
	"$tmp/cli.pwapply.err" "$tmp/state-cli/journal.jsonl"; then
	fail "the new replication password appears in the plan, the log or the journal"
else
	ok "no new password in the plan, the log or the journal"
fi
# Force both replicas to reconnect: they log in with the new password.
psql1 -d postgres -c "select pg_terminate_backend(pid) from pg_stat_replication where application_name = 'pg2'" >/dev/null 2>&1
psql2 -d postgres -c "select pg_terminate_backend(pid) from pg_stat_replication where application_name = 'pg3'" >/dev/null 2>&1
if wait_streams "$p1" pg2 "$old_pg2" && wait_streams "$p2" pg3 "$old_pg3"; then
	ok "after their walsenders were terminated, pg2 and pg3 reconnect and stream"
else
	fail "after the reconnect: pg1 sees '$(walsender_pid "$p1" pg2)', pg2 sees '$(walsender_pid "$p2" pg3)'"
fi
pgc pwplan2 plan -f "$tmp/topology3.yaml" --state-dir "$tmp/state-cli"
[ $rc -eq 0 ] && ok "plan after the password change: no changes" ||
	fail "plan after the password change: exit $rc, $(head -n 20 "$tmp/cli.pwplan2.out")"

# --- a replica that streams from nobody: status flags it, apply repairs it ------

pid3=$(walsender_pid "$p2" pg3)
printf '127.0.0.1:%s:*:replicator:wrong\n' "$p2" >"$tmp/data/.pg3.pgconverge.pgpass"
psql2 -d postgres -c "select pg_terminate_backend(pid) from pg_stat_replication where application_name = 'pg3'" >/dev/null 2>&1
sleep 2 # its walreceiver fails to log in, and retries every 5 s
pgc nsstatus status -f "$tmp/topology3.yaml" --state-dir "$tmp/state-cli"
grep -q '^  pg3 .*NOT STREAMING' "$tmp/cli.nsstatus.out" && ok "status flags pg3 as not streaming" ||
	fail "status of a replica that cannot log in: $(cat "$tmp/cli.nsstatus.out")"
pgc nsplan plan -f "$tmp/topology3.yaml" --state-dir "$tmp/state-cli"
if [ $rc -eq 2 ] && grep -q 'passfile  *replica "pg3" does not stream from "pg2"' "$tmp/cli.nsplan.out" &&
	grep -q 'start  *replica "pg3" runs but does not stream from "pg2"' "$tmp/cli.nsplan.out"; then
	ok "plan shows pg3's passfile rewrite and a check that it streams, with the reason"
else
	fail "plan for a replica that cannot log in: exit $rc, $(cat "$tmp/cli.nsplan.out")"
fi
pgc nsapply apply -f "$tmp/topology3.yaml" --state-dir "$tmp/state-cli"
if [ $rc -eq 0 ] && wait_streams "$p2" pg3 "$pid3"; then
	ok "apply rewrote pg3's passfile and pg3 streams again"
else
	fail "repair of pg3: exit $rc, streaming '$(walsender_pid "$p2" pg3)'; $(grep -v ' debug: ' "$tmp/cli.nsapply.err" | tail -n 5)"
fi

# A secret with a line break cannot go into a passfile: refused, named, never printed.
printf 'two\nlines\n' >"$tmp/secrets/replicator"
cp "$tmp/data/.pg2.pgconverge.pgpass" "$tmp/pg2.pgpass.before"
pgc nlapply apply -f "$tmp/topology3.yaml" --state-dir "$tmp/state-cli"
if [ $rc -eq 1 ] && grep -q "refusing the replication password from file \"$tmp/secrets/replicator\": it has a line break inside" "$tmp/cli.nlapply.err" &&
	! grep -q 'lines' "$tmp/cli.nlapply.out" "$tmp/state-cli/journal.jsonl" &&
	! grep -v 'hint: leave one line' "$tmp/cli.nlapply.err" | grep -q 'lines' &&
	cmp -s "$tmp/pg2.pgpass.before" "$tmp/data/.pg2.pgconverge.pgpass"; then
	ok "a replication password with a line break is refused; the passfile is left as it was"
else
	fail "line break in the secret: exit $rc; $(grep -v ' debug: ' "$tmp/cli.nlapply.err" | head -n 8)"
fi
printf '%s\n' "$new_pw" >"$tmp/secrets/replicator"

# --- a raise whose restarts are blocked holds back only itself ------------------

sed -e 's/max_connections: 40/max_connections: 50/' -e 's/work_mem: 4MB/work_mem: 6MB/' \
	"$tmp/topology3.yaml" >"$tmp/topology4.yaml"
pgc raise apply -f "$tmp/topology4.yaml" --state-dir "$tmp/state-cli"
sleep 0.5 # pg_reload_conf() signals; the server rereads its files asynchronously
if [ $rc -eq 3 ] && [ "$(psql1 -d postgres -c 'show work_mem' 2>&1)" = 6MB ] &&
	[ "$(psql1 -d postgres -c 'show max_connections' 2>&1)" = 40 ] &&
	grep -q "^max_connections = '40'" "$tmp/data/pg1/pgconverge.conf" &&
	grep -q "^max_connections = '50'" "$tmp/data/pg2/pgconverge.conf"; then
	ok "raise without --allow-restart: work_mem reloaded on pg1 now, its max_connections kept (exit 3)"
else
	fail "raise without restarts: exit $rc, pg1 work_mem $(psql1 -d postgres -c 'show work_mem' 2>&1); $(head -n 30 "$tmp/cli.raise.out")"
fi
pgc unraise apply -f "$tmp/topology3.yaml" --state-dir "$tmp/state-cli"
pgc unraise2 plan -f "$tmp/topology3.yaml" --state-dir "$tmp/state-cli"
[ $rc -eq 0 ] && ok "back to the previous settings without a restart" ||
	fail "back from the raise: plan exit $rc, $(head -n 20 "$tmp/cli.unraise2.out")"

# --- a new cluster from nothing, planned and applied as `pgconverge apply` does --

cat >"$tmp/fresh.yaml" <<EOF
version: 1
clusters:
  fresh:
    primary: fresh1
    nodes:
      fresh1: {host: 127.0.0.1, port: $p4, data_dir: data/fresh1}
      fresh2: {host: 127.0.0.1, port: $p5, data_dir: data/fresh2}
    settings: {shared_buffers: 16MB}
    roles:
      readers: {}
      reporter: {login: true, member_of: [readers]}
    replication: {user: streamer, slots: false}
EOF
"$tmp/apply_driver" plan "$tmp/fresh.yaml" "$tmp/state-fresh" >"$tmp/fresh1.out" 2>"$tmp/fresh1.err"
rc=$?
out=$(runuser -u postgres -- psql -h /var/run/postgresql -p "$p4" -X -At \
	-c "select application_name, state from pg_stat_replication" 2>&1)
if [ $rc -eq 0 ] && grep -qx 'done=[1-9][0-9]* failed=0 blocked=0 dependency=0' "$tmp/fresh1.out" &&
	[ "$out" = "fresh2|streaming" ]; then
	ok "new cluster from nothing: $(head -n 1 "$tmp/fresh1.out") applied, fresh2 streams"
	out=$(runuser -u postgres -- psql -h /var/run/postgresql -p "$p4" -X -At -c \
		"select r.rolname, m.rolname from pg_auth_members a join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member where m.rolname = 'reporter'" 2>&1)
	[ "$out" = "readers|reporter" ] && ok "new cluster: reporter was granted readers" ||
		fail "new cluster memberships: '$out'"
else
	fail "new cluster: exit $rc, $(tr '\n' ' ' <"$tmp/fresh1.out"), replication '$out'"
	grep -v ' debug: ' "$tmp/fresh1.err" | tail -n 30
fi
"$tmp/apply_driver" plan "$tmp/fresh.yaml" "$tmp/state-fresh" >"$tmp/fresh2.out" 2>"$tmp/fresh2.err"
rc=$?
[ $rc -eq 0 ] && [ "$(head -n 1 "$tmp/fresh2.out")" = actions=0 ] &&
	ok "new cluster: the next plan has zero actions" ||
	fail "new cluster replanned: exit $rc, $(head -n 1 "$tmp/fresh2.out"); $(grep -v ' debug: ' "$tmp/fresh2.err" | head -n 20)"

# --- refusals -------------------------------------------------------------------

# A data directory that holds something else is never touched.
mkdir -p "$tmp/foreign" && echo keep >"$tmp/foreign/file"
sed "s#data_dir: data/pg2#data_dir: foreign#" "$tmp/topology.yaml" >"$tmp/foreign.yaml"
"$tmp/apply_driver" hand "$tmp/foreign.yaml" "$tmp/state2" >"$tmp/run3.out" 2>"$tmp/run3.err"
rc=$?
if [ $rc -eq 1 ] && grep -q 'refusing to copy into ".*/foreign" for node "main/pg2": the folder is not empty' "$tmp/run3.err" &&
	[ "$(cat "$tmp/foreign/file")" = keep ]; then
	ok "clone into a non-empty foreign folder is refused, folder untouched"
else
	fail "foreign folder: exit $rc; $(grep -m1 'refusing\|error' "$tmp/run3.err")"
fi

# A secret that cannot be resolved fails its action (journaled, no value in
# the message); it stops the run: nothing after it runs, each journaled as
# not run.
env -u PGC_TEST_APP_PASSWORD "$tmp/apply_driver" hand "$tmp/topology.yaml" "$tmp/state3" \
	>"$tmp/run4.out" 2>"$tmp/run4.err"
rc=$?
if [ $rc -eq 1 ] && grep -qx 'done=6 failed=1 blocked=1 dependency=11' "$tmp/run4.out" &&
	grep -q 'error: could not alter role "app" on node "main/pg1": the password of role "app" is not available: environment variable "PGC_TEST_APP_PASSWORD" is not set' "$tmp/run4.err" &&
	grep -q '"action":"main/pg1/create-role:app".*"outcome":"failed".*"error":"could not alter role' "$tmp/state3/journal.jsonl" &&
	grep -q '"action":"main/pg1/create-database:appdb".*"outcome":"skipped","duration_ms":0,"error":"not run: \\"main/pg1/create-role:app\\" did not succeed"' "$tmp/state3/journal.jsonl"; then
	ok "a missing secret fails its action and stops the run, both journaled"
else
	fail "missing secret: exit $rc, $(cat "$tmp/run4.out"); $(grep -m1 'error:' "$tmp/run4.err")"
fi

if [ $fails -ne 0 ]; then
	echo "--- run1 log tail"
	tail -n 30 "$tmp/run1.err"
fi
echo "$fails failed"
[ $fails -eq 0 ]
