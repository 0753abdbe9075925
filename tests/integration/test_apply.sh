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
	stop_server "$tmp/data/pg2"
	stop_server "$tmp/data/pg1"
	rm -rf "$tmp"
}
trap teardown EXIT

# free_port [EXCLUDE] - a loopback TCP port in 20000-32000 nobody listens on.
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		[ "$p" = "${1:-}" ] && continue
		ss -Hltn "sport = :$p" | grep -q . && continue
		echo "$p"
		return 0
	done
	return 1
}
p1=$(free_port) && p2=$(free_port "$p1") || {
	echo "FAIL no free port in 20000-32000"
	exit 1
}

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
    hba:
      - {type: host, database: all, user: all, address: 127.0.0.1/32, method: scram-sha-256}
    roles:
      app: {login: true, password: {env: PGC_TEST_APP_PASSWORD}}
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

"$tmp/apply_driver" "$tmp/topology.yaml" "$tmp/state" >"$tmp/run1.out" 2>"$tmp/run1.err"
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
[ "$(stat -c '%a %U' "$tmp/data/pg2/pgconverge.pgpass" 2>&1)" = "600 postgres" ] &&
	ok "pg2's passfile is 0600, owned by postgres" || fail "pg2's passfile mode/owner"
[ "$(cat "$tmp/data/pg2/pgconverge.pgpass")" = '127.0.0.1:'"$p1"':*:replicator:re\:pl\\i'"'"'cator' ] &&
	ok "passfile line escapes ':' and '\\'" || fail "passfile line: $(cat "$tmp/data/pg2/pgconverge.pgpass")"
ls -A "$tmp/data" | grep -q '^\.pgconverge-clone' && fail "the clone's temporary passfile was left behind" ||
	ok "the clone's temporary passfile is removed"
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
"$tmp/apply_driver" "$tmp/topology.yaml" "$tmp/state" >"$tmp/run2.out" 2>"$tmp/run2.err"
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

# --- refusals -------------------------------------------------------------------

# A data directory that holds something else is never touched.
mkdir -p "$tmp/foreign" && echo keep >"$tmp/foreign/file"
sed "s#data_dir: data/pg2#data_dir: foreign#" "$tmp/topology.yaml" >"$tmp/foreign.yaml"
"$tmp/apply_driver" "$tmp/foreign.yaml" "$tmp/state2" >"$tmp/run3.out" 2>"$tmp/run3.err"
rc=$?
if [ $rc -eq 1 ] && grep -q 'refusing to copy into ".*/foreign" for node "main/pg2": the folder is not empty' "$tmp/run3.err" &&
	[ "$(cat "$tmp/foreign/file")" = keep ]; then
	ok "clone into a non-empty foreign folder is refused, folder untouched"
else
	fail "foreign folder: exit $rc; $(grep -m1 'refusing\|error' "$tmp/run3.err")"
fi

if [ $fails -ne 0 ]; then
	echo "--- run1 log tail"
	tail -n 30 "$tmp/run1.err"
fi
echo "$fails failed"
[ $fails -eq 0 ]
