#!/bin/bash
# tests/integration/test_observe.sh - the observe module against a real
# PostgreSQL 15 server: a running node, an absent, an empty and a foreign
# data directory, a node on another host, then the same node stopped and
# with a stale postmaster.pid. Checks the JSON of observe_topology() printed
# by tests/integration/observe_probe.c (built here with the Makefile's flags
# from the objects observe needs), and runs the probe once under valgrind.
# The CLI's `status --format json` and `graph --live` are checked against it.
#
# Runs as root (the fixture is set up with runuser as postgres; the product
# itself drops privileges through proc_run). Set PGC_SKIP_VALGRIND=1 to skip
# the valgrind pass.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
BIN=/usr/lib/postgresql/15/bin
PKGS="yaml-0.1 libpq libgit2 jansson libcrypto zlib libzstd"

fail=0
pass=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; }
# check NAME JQ-EXPRESSION FILE: passes when the expression is true.
check() {
	if jq -e "$2" "$3" >/dev/null 2>&1; then ok "$1"; else
		not_ok "$1"
		echo "#   expected: $2" >&2
	fi
}

for tool in jq ss cc pkg-config runuser; do
	command -v "$tool" >/dev/null || { echo "not ok - \"$tool\" is needed"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "not ok - runs as root (the fixture starts servers as postgres)"; exit 1; }

tmp=$(mktemp -d /tmp/pgc-observe.XXXXXX)
chmod 755 "$tmp"
pid=""
pid6=""

# stop_pid PID: fast shutdown, then KILL after 10 s.
stop_pid() {
	[ -n "$1" ] || return 0
	kill -INT "$1" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
}
stop_server() {
	stop_pid "$pid6"
	pid6=""
	stop_pid "$pid"
	pid=""
}
cleanup() {
	stop_server
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		if ! ss -ltnH "sport = :$p" | grep -q . && [ ! -e "/var/run/postgresql/.s.PGSQL.$p" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# --- build the probe -----------------------------------------------------
# Linked against the whole library, with the Makefile's own flags.
if ! make -s build/libpgconverge.a >"$tmp/make.log" 2>&1; then
	cat "$tmp/make.log" >&2
	echo "not ok - build the library"
	exit 1
fi
# shellcheck disable=SC2046
# CC and SAN as the library was built with them (make sanitize sets both).
# shellcheck disable=SC2086
if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -O2 -g ${SAN:-} -I. -Ibuild/gen \
	$(pkg-config --cflags $PKGS) -o "$tmp/observe_probe" tests/integration/observe_probe.c \
	build/libpgconverge.a $(pkg-config --libs $PKGS) -lm -lpthread; then
	echo "not ok - build observe_probe"
	exit 1
fi
probe="$tmp/observe_probe"

# --- fixture: one running server -----------------------------------------
port=$(free_port) || { echo "not ok - no free port"; exit 1; }
port2=$((port + 1)) port3=$((port + 2)) port4=$((port + 3)) port5=$((port + 4))
port6=$(free_port) || { echo "not ok - no free port"; exit 1; }
while [ "$port6" -ge "$port" ] && [ "$port6" -le "$port5" ]; do port6=$(free_port); done
data="$tmp/pg1"
install -d -o postgres -g postgres -m 700 "$data"
install -d -o postgres -g postgres -m 755 "$tmp/log"
if ! runuser -u postgres -- "$BIN/initdb" -D "$data" -U postgres --data-checksums \
	-E UTF8 --locale=C.UTF-8 >"$tmp/initdb.log" 2>&1; then
	cat "$tmp/initdb.log" >&2
	echo "not ok - initdb"
	exit 1
fi
# What pgconverge's apply leaves: the include line, the managed file, the
# peer mapping that lets root in as the superuser.
echo "include 'pgconverge.conf'" >>"$data/postgresql.conf"
cat >"$data/pgconverge.conf" <<EOF
# managed by pgconverge
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '/var/run/postgresql'
shared_buffers = '48MB'
work_mem = '8MB'
EOF
cat >"$data/pg_hba.conf" <<EOF
local all postgres peer map=pgconverge
local replication postgres peer map=pgconverge
host replication replicator 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
EOF
printf 'pgconverge root postgres\npgconverge postgres postgres\n' >>"$data/pg_ident.conf"
chown postgres:postgres "$data"/*.conf
install -d -o postgres -g postgres -m 2775 /var/run/postgresql

if ! runuser -u postgres -- "$BIN/pg_ctl" -D "$data" -l "$tmp/log/pg1.log" -w -t 60 start \
	>"$tmp/pg_ctl.log" 2>&1; then
	cat "$tmp/pg_ctl.log" "$tmp/log/pg1.log" >&2
	echo "not ok - start the server"
	exit 1
fi
pid=$(head -1 "$data/postmaster.pid")

psql() { runuser -u postgres -- "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -p "$port" -U postgres "$@"; }
psql -d postgres >/dev/null <<'EOF' || { echo "not ok - fixture SQL"; exit 1; }
CREATE ROLE app LOGIN PASSWORD 'app-secret';
CREATE ROLE other LOGIN PASSWORD 'right';
CREATE ROLE replicator LOGIN REPLICATION PASSWORD 'repl-secret';
SET password_encryption = 'md5';
CREATE ROLE legacy LOGIN PASSWORD 'old-pw';
GRANT app TO other;
CREATE DATABASE appdb OWNER app;
SELECT pg_create_physical_replication_slot('pg2');
ALTER SYSTEM SET work_mem = '16MB';
EOF
psql -d appdb -c 'CREATE EXTENSION pg_trgm' >/dev/null || { echo "not ok - fixture extension"; exit 1; }

# A streaming replica, cloned from it. Its primary_conninfo is in
# postgresql.auto.conf with a password, as `pg_basebackup -R` leaves it
# (pgconverge itself uses a passfile), to check that observe never shows it.
data6="$tmp/pg6"
install -d -o postgres -g postgres -m 700 "$data6"
if ! runuser -u postgres -- "$BIN/pg_basebackup" -D "$data6" -h /var/run/postgresql -p "$port" \
	-U postgres -X stream -c fast -S pg2 >"$tmp/basebackup.log" 2>&1; then
	cat "$tmp/basebackup.log" >&2
	echo "not ok - clone the replica"
	exit 1
fi
cat >"$data6/pgconverge.conf" <<EOF
port = $port6
listen_addresses = '127.0.0.1'
unix_socket_directories = '/var/run/postgresql'
shared_buffers = '48MB'
primary_slot_name = 'pg2'
EOF
echo "primary_conninfo = 'host=127.0.0.1 port=$port user=replicator password=repl-secret application_name=pg6'" \
	>>"$data6/postgresql.auto.conf"
touch "$data6/standby.signal"
chown postgres:postgres "$data6/pgconverge.conf" "$data6/standby.signal"
if ! runuser -u postgres -- "$BIN/pg_ctl" -D "$data6" -l "$tmp/log/pg6.log" -w -t 60 start \
	>"$tmp/pg_ctl6.log" 2>&1; then
	cat "$tmp/pg_ctl6.log" "$tmp/log/pg6.log" >&2
	echo "not ok - start the replica"
	exit 1
fi
pid6=$(head -1 "$data6/postmaster.pid")
for _ in $(seq 1 300); do
	[ "$(psql -d postgres -Atc "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ] && break
	sleep 0.1
done

# The other nodes: an absent, an empty and a foreign folder, another host.
mkdir "$tmp/pg4"
mkdir "$tmp/pg5" && echo hello >"$tmp/pg5/notes.txt"
umask 077
printf 'repl-secret\n' >"$tmp/repl.secret"
umask 022

cat >"$tmp/topology.yaml" <<EOF
version: 1
clusters:
  main:
    os_user: postgres
    primary: pg1
    nodes:
      pg1: {host: 127.0.0.1, port: $port, data_dir: $data}
      pg2: {host: 127.0.0.1, port: $port2, data_dir: $tmp/pg2}
      pg3: {host: 192.0.2.10, port: $port3, data_dir: $tmp/pg3}
      pg4: {host: localhost, port: $port4, data_dir: $tmp/pg4}
      pg5: {host: 127.0.0.1, port: $port5, data_dir: $tmp/pg5}
      pg6: {host: 127.0.0.1, port: $port6, data_dir: $data6}
    settings:
      shared_buffers: 48MB
    roles:
      app: {login: true, password: {env: PGC_TEST_APP_PW}}
      other: {login: true, password: {env: PGC_TEST_OTHER_PW}}
      legacy: {login: true, password: {env: PGC_TEST_LEGACY_PW}}
    databases:
      appdb: {owner: app, extensions: [pg_trgm]}
    replication:
      user: replicator
      password: {file: $tmp/repl.secret}
EOF
export PGC_TEST_APP_PW=app-secret PGC_TEST_OTHER_PW=wrong PGC_TEST_LEGACY_PW=old-pw

out="$tmp/running.json"
if "$probe" "$tmp/topology.yaml" >"$out" 2>"$tmp/probe.err"; then ok "probe runs"; else
	not_ok "probe runs"
	cat "$tmp/probe.err" >&2
fi
sysid=$(runuser -u postgres -- env LC_ALL=C "$BIN/pg_controldata" -D "$data" |
	sed -n 's/^Database system identifier: *//p')

n1='.clusters[0].nodes[0]'
check "running node is reachable" "$n1.reachable == true and $n1.conn_error == null" "$out"
check "running node is local" "$n1.local == true" "$out"
check "data dir initialized" "$n1.dir_state == \"initialized\" and $n1.pg_version_major == 15" "$out"
check "system identifier equals pg_controldata's" "$n1.system_identifier == \"$sysid\"" "$out"
check "timeline and state from the control file" \
	"$n1.timeline == 1 and $n1.cluster_state == \"in production\"" "$out"
check "checksums on, wal_log_hints off" "$n1.data_checksums == true and $n1.wal_log_hints == false" "$out"
check "include line found" "$n1.include_line == true" "$out"
check "managed file content" "($n1.managed_conf | contains(\"port = $port\"))" "$out"
check "pg_hba.conf content" "($n1.hba_conf | startswith(\"local all postgres peer map=pgconverge\"))" "$out"
check "no standby.signal" "$n1.standby_signal == false" "$out"
check "postmaster pid and alive" "$n1.postmaster_pid == $pid and $n1.postmaster_alive == true" "$out"
check "primary, not in recovery" "$n1.in_recovery == false and $n1.server_version_num >= 150000" "$out"
check "current lsn on the primary" "($n1.current_lsn | test(\"^[0-9A-F]+/[0-9A-F]+$\"))" "$out"
check "shared_buffers normalised in 8kB units" \
	"$n1.settings[] | select(.name == \"shared_buffers\") | .setting == \"6144\" and .unit == \"8kB\" and .normalized == \"6144\"" "$out"
check "work_mem normalised in kB" \
	"$n1.settings[] | select(.name == \"work_mem\") | .normalized == \"8192\" and (.sourcefile | endswith(\"pgconverge.conf\"))" "$out"
check "boolean and enum settings canonical" \
	"([$n1.settings[] | select(.name == \"hot_standby\" or .name == \"wal_level\") | .normalized] | sort) == [\"on\", \"replica\"]" "$out"
check "all of pg_settings" "($n1.settings | length) > 300" "$out"
check "ALTER SYSTEM drift in auto_conf" "$n1.auto_conf == [{\"name\": \"work_mem\", \"value\": \"16MB\"}]" "$out"
check "pg_hba_file_rules" \
	"$n1.hba[0].type == \"local\" and $n1.hba[0].auth_method == \"peer\" and $n1.hba[0].options == \"map=pgconverge\" and ($n1.hba | length) == 4" "$out"
check "roles present, system roles left out" \
	"([$n1.roles[].name] == [\"app\", \"legacy\", \"other\", \"postgres\", \"replicator\"])" "$out"
check "bootstrap superuser" \
	"$n1.roles[] | select(.name == \"postgres\") | .superuser == true and .password_matches == null" "$out"
check "scram password matches" "$n1.roles[] | select(.name == \"app\") | .has_password == true and .password_matches == true" "$out"
check "scram password differs" "$n1.roles[] | select(.name == \"other\") | .password_matches == false and .member_of == [\"app\"]" "$out"
check "md5 password matches" "$n1.roles[] | select(.name == \"legacy\") | .password_matches == true" "$out"
check "replication password from a file matches" \
	"$n1.roles[] | select(.name == \"replicator\") | .replication == true and .password_matches == true" "$out"
check "databases with owners, no templates" \
	"([$n1.databases[] | [.name, .owner]] == [[\"appdb\", \"app\"], [\"postgres\", \"postgres\"]])" "$out"
check "extensions of a declared database" \
	"$n1.databases[] | select(.name == \"appdb\") | .extensions == [\"pg_trgm\", \"plpgsql\"]" "$out"
check "physical slot, in use" \
	"($n1.slots | length) == 1 and $n1.slots[0].slot_name == \"pg2\" and $n1.slots[0].slot_type == \"physical\" and $n1.slots[0].active == true" "$out"
check "replica streaming from the primary" \
	"$n1.replicas[0].application_name == \"pg6\" and $n1.replicas[0].state == \"streaming\" and $n1.replicas[0].sync_state == \"async\" and $n1.replicas[0].client_addr == \"127.0.0.1\"" "$out"
check "primary has no upstream" "$n1.primary_conninfo == null and $n1.upstream_host == null and $n1.wal_receiver_status == null" "$out"
check "fingerprint" "($n1.fingerprint | test(\"^$sysid:1:[0-9a-f]{64}$\"))" "$out"
if grep -q -e app-secret -e repl-secret -e old-pw -e 'SCRAM-SHA-256\$' "$out" "$tmp/probe.err"; then
	not_ok "no secret or verifier in the output"
else
	ok "no secret or verifier in the output"
fi

n2='.clusters[0].nodes[1]'
check "absent data dir" "$n2.dir_state == \"absent\" and $n2.local == true and $n2.reachable == false" "$out"
check "absent node: libpq's reason" "($n2.conn_error | test(\"$port2\"))" "$out"
n3='.clusters[0].nodes[2]'
check "node on another host: files not observed" \
	"$n3.local == false and $n3.dir_state == \"unknown\" and ($n3.dir_error | test(\"is not this machine\")) and $n3.reachable == false" "$out"
check "empty data dir, localhost is local" "$(echo '.clusters[0].nodes[3]') | .dir_state == \"empty\" and .local == true" "$out"
check "foreign data dir" ".clusters[0].nodes[4].dir_state == \"foreign\"" "$out"

n6='.clusters[0].nodes[5]'
check "replica: in recovery, standby.signal" "$n6.reachable == true and $n6.in_recovery == true and $n6.standby_signal == true" "$out"
check "replica: same system identifier" "$n6.system_identifier == \"$sysid\"" "$out"
check "replica: upstream parsed from primary_conninfo" "$n6.upstream_host == \"127.0.0.1\" and $n6.upstream_port == $port" "$out"
check "replica: password redacted in primary_conninfo" \
	"$n6 as \$n | (\$n.primary_conninfo | contains(\"password='********'\")) and ([\$n.settings[] | select(.name == \"primary_conninfo\") | .setting] == [\$n.primary_conninfo])" "$out"
check "replica: ALTER SYSTEM primary_conninfo redacted" \
	"$n6 as \$n | [\$n.auto_conf[] | select(.name == \"primary_conninfo\") | .value] == [\$n.primary_conninfo]" "$out"
check "replica: wal receiver streaming, recent message" \
	"$n6.wal_receiver_status == \"streaming\" and $n6.wal_receiver_last_msg_age_s >= 0 and $n6.wal_receiver_last_msg_age_s < 60" "$out"
check "replica: lsns" "$n6.receive_lsn != null and $n6.replay_lsn != null and $n6.current_lsn == null" "$out"
check "replica: roles and databases are the primary's" "$n6.roles == [] and $n6.databases == []" "$out"

# --- pgsql.c against the live server -----------------------------------------
ci="host=/var/run/postgresql port=$port user=postgres dbname=postgres"
# query_is NAME EXPECTED TIMEOUT SQL [PARAM...]: the driver's output, exactly.
query_is() {
	local name=$1 expected=$2 got
	shift 2
	got=$("$probe" --query "$ci" "$@" 2>&1)
	if [ "$got" = "$expected" ]; then ok "$name"; else
		not_ok "$name"
		printf '#   expected: %s\n#   got:      %s\n' "$expected" "$got" >&2
	fi
}
query_is "parameters are sent as values" $'value 42\nafter ok' 2000 'SELECT $1::int + 1' 41
query_is "a quote in a parameter is data" $'value it\'s\nafter ok' 2000 'SELECT $1::text' "it's"
query_is "an error keeps its SQLSTATE" \
	$'error 22012 timed_out=0 conn_bad=0: division by zero\nafter ok' 2000 'SELECT 1/0'
start=$(date +%s%N)
query_is "a slow query is cancelled at its deadline, the connection stays usable" \
	$'error 57014 timed_out=1 conn_bad=0: query timed out after 300 ms\nafter ok' 300 'SELECT pg_sleep(30)'
elapsed=$((($(date +%s%N) - start) / 1000000))
if [ "$elapsed" -lt 3000 ]; then ok "cancel took ${elapsed} ms"; else not_ok "cancel took ${elapsed} ms"; fi

# Only one cluster, and an unknown one.
if "$probe" "$tmp/topology.yaml" nosuch >/dev/null 2>"$tmp/nosuch.err"; then
	not_ok "unknown cluster is refused"
else
	grep -q 'cluster "nosuch" is not in the topology' "$tmp/nosuch.err" && ok "unknown cluster is refused" ||
		not_ok "unknown cluster is refused"
fi

# --- the same model through the CLI: status --format json --------------------
cli=${PGC_BIN:-$top/pgconverge}
if [ -x "$cli" ]; then
	if "$cli" status -f "$tmp/topology.yaml" --format json --state-dir "$tmp/state" \
		>"$tmp/status.json" 2>"$tmp/status.err"; then
		ok "status --format json runs"
	else
		not_ok "status --format json runs"
		cat "$tmp/status.err" >&2
	fi
	pick='[.clusters[0].nodes[] | {name, local, dir_state, reachable, system_identifier, fingerprint,
		roles: [.roles[] | {name, password_matches}], n_settings: (.settings | length)}]'
	if [ "$(jq -c "$pick" "$out")" = "$(jq -c "$pick" "$tmp/status.json")" ]; then
		ok "status shows the observed model"
	else
		not_ok "status shows the observed model"
	fi
	# graph --live: the nodes drawn by state (labels are DOT text: \n is literal).
	if "$cli" graph -f "$tmp/topology.yaml" --live >"$tmp/live.dot" 2>"$tmp/graph.err"; then
		ok "graph --live runs"
	else
		not_ok "graph --live runs"
		cat "$tmp/graph.err" >&2
	fi
	grep -qF "\"main/pg1\" [label=\"pg1\\nprimary\\n127.0.0.1:$port\\nrunning\"" "$tmp/live.dot" &&
		ok "graph --live: the primary is running" || not_ok "graph --live: the primary is running"
	grep -qF "\"main/pg6\" [label=\"pg6\\nreplica\\n127.0.0.1:$port6\\nrunning\"" "$tmp/live.dot" &&
		ok "graph --live: the streaming replica is running" ||
		not_ok "graph --live: the streaming replica is running"
	grep -qF "\"main/pg2\" [label=\"pg2\\nreplica\\n127.0.0.1:$port2\\ndown\"" "$tmp/live.dot" &&
		ok "graph --live: a node with no server is down" || not_ok "graph --live: a node with no server is down"
	if command -v dot >/dev/null && dot -Tsvg "$tmp/live.dot" -o "$tmp/live.svg"; then
		ok "graph --live: dot -Tsvg accepts it"
	else
		not_ok "graph --live: dot -Tsvg accepts it (is graphviz installed?)"
	fi
else
	echo "# skipped: no $cli (build it with make)"
fi

# --- valgrind, once, against the running server -----------------------------
# Not with a sanitizer build (make sanitize): ASan and valgrind exclude each
# other, and the sanitizers are the memory check there.
if [ "${PGC_SKIP_VALGRIND:-0}" != 1 ] && [ -z "${SAN:-}" ] && command -v valgrind >/dev/null; then
	if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect "$probe" "$tmp/topology.yaml" main \
		>"$tmp/vg.json" 2>"$tmp/vg.err"; then
		check "valgrind run gives the same model" \
			"$n1.reachable == true and ($n1.roles[] | select(.name == \"app\") | .password_matches == true)" "$tmp/vg.json"
		ok "valgrind clean"
	else
		not_ok "valgrind clean"
		tail -40 "$tmp/vg.err" >&2
	fi
fi

# --- the same node stopped ---------------------------------------------------
stop_server
out="$tmp/stopped.json"
"$probe" "$tmp/topology.yaml" main >"$out" 2>"$tmp/probe2.err" || not_ok "probe runs (stopped)"
check "stopped: not reachable, with a reason" "$n1.reachable == false and ($n1.conn_error | test(\"$port\"))" "$out"
check "stopped: data dir still initialized, same identity" \
	"$n1.dir_state == \"initialized\" and $n1.system_identifier == \"$sysid\" and $n1.cluster_state == \"shut down\"" "$out"
check "stopped: no postmaster" "$n1.postmaster_pid == 0 and $n1.postmaster_alive == false" "$out"
check "stopped: no SQL data" "$n1.settings == [] and $n1.roles == [] and $n1.server_version_num == 0" "$out"
if [ -x "$cli" ]; then
	"$cli" graph -f "$tmp/topology.yaml" --cluster main --live >"$tmp/stopped.dot" 2>"$tmp/graph2.err"
	grep -qF "\"main/pg1\" [label=\"pg1\\nprimary\\n127.0.0.1:$port\\ndown\"" "$tmp/stopped.dot" &&
		ok "stopped: graph --live shows the node down" || not_ok "stopped: graph --live shows the node down"
fi

# A stale postmaster.pid naming a live process that is not postgres.
sleep 300 &
other=$!
printf '%s\n%s\n' "$other" "$data" >"$data/postmaster.pid"
"$probe" "$tmp/topology.yaml" main >"$tmp/stale.json" 2>/dev/null
kill "$other" 2>/dev/null
wait "$other" 2>/dev/null
rm -f "$data/postmaster.pid"
check "stale postmaster.pid: pid read, not alive" \
	"$n1.postmaster_pid == $other and $n1.postmaster_alive == false" "$tmp/stale.json"

echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
