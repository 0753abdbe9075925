#!/usr/bin/env bash
# tests/integration/test_ha_pin.sh - `pgconverge failover` while replay on
# the candidate is blocked by a query's buffer pin. A primary and one
# replica built by `apply`; on the replica a cursor holds a pin on the only
# page of a table, whose dead rows the primary then vacuums: the startup
# process of the replica waits on BufferPin (a cleanup lock, until
# max_standby_streaming_delay cancels the query) with the complete vacuum
# records received and unreplayed. The primary is killed (kill -9 of every
# process) and `pgconverge failover` must wait for that replay: the
# promotion point it reports is past the record replay was blocked on and
# equal to the switch point in the new timeline's history file. (A wait that took
# "positions unchanged for a second" as final promoted at the position
# of the blocked record and reported that.)
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
holder=
cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	lib_teardown "$tmp"
}
trap cleanup EXIT

lib_node_ports 2
topo=$tmp/topology.yaml
# The query holding the pin is cancelled after this (from when the WAL
# arrived): long enough to kill the primary and start the failover first.
delay=15

cat >"$topo" <<EOF
version: 1
clusters:
  c:
    primary: pg1
    nodes:
      pg1: {host: 127.0.0.1, port: ${port[pg1]}, data_dir: data/pg1}
      pg2: {host: 127.0.0.1, port: ${port[pg2]}, data_dir: data/pg2}
    settings:
      shared_buffers: 16MB
      max_connections: 20
      max_standby_streaming_delay: ${delay}s
      max_standby_archive_delay: ${delay}s
    failover: {mode: manual}
    replication:
      user: replicator
      password: {file: secrets/replicator}
EOF
mkdir -m 700 "$tmp/secrets"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"

q() { lib_sql "${port[$1]}" "$2" 2>/dev/null; }
# lsn_ge NODE A B - LSN A >= LSN B (asked of NODE).
lsn_ge() { lib_sql_is "${port[$1]}" "select '$2'::pg_lsn >= '$3'::pg_lsn" t; }

lib_run "$tmp/apply" apply -f "$topo"
lib_expect_rc "apply builds a primary and a replica" "$tmp/apply" 0
[ "$rc" = 0 ] || lib_finish test_ha_pin
check "pg2 streams from pg1" lib_wait 60 lib_sql_is "${port[pg2]}" \
	"select status from pg_stat_wal_receiver" streaming

# Dead rows, deleted before the cursor's snapshot: replaying their removal
# conflicts with the cursor's pin only, not with its snapshot.
q pg1 "create table p (i int, pad text) with (autovacuum_enabled = off);
	insert into p select g, 'x' from generate_series(1, 100) g;
	delete from p where i > 50" >/dev/null
before=$(q pg1 "select pg_current_wal_lsn()")
check "pg2 replayed the delete" lib_wait 30 lib_sql_is "${port[pg2]}" \
	"select pg_last_wal_replay_lsn() >= '$before'::pg_lsn" t

runuser -u postgres -- "$LIB_PG_BIN/psql" -XAtq -h "$LIB_SOCKET_DIR" -p "${port[pg2]}" -d postgres \
	-c "begin" -c "declare c cursor for select * from p" -c "fetch 1 from c" \
	-c "select pg_sleep(300)" >"$tmp/holder.out" 2>&1 &
holder=$!
check "a cursor on pg2 holds its pin" lib_wait 30 lib_sql_is "${port[pg2]}" \
	"select count(*) from pg_stat_activity where query like '%pg_sleep(300)%' and pid <> pg_backend_pid()" 1

q pg1 "vacuum p" >/dev/null
check "pg2's startup process waits on BufferPin" lib_wait 30 lib_sql_is "${port[pg2]}" \
	"select wait_event from pg_stat_activity where backend_type = 'startup'" BufferPin
# The record it waits to replay is complete (received) and starts here.
blocked=$(q pg2 "select pg_last_wal_replay_lsn()")
echo "  replay on pg2 blocked at $blocked, received $(q pg2 'select pg_last_wal_receive_lsn()')"

pm=$(lib_pidfile_pid "$tmp/data/pg1")
kill -KILL "$pm" $(ps -o pid= --ppid "$pm")
start=$SECONDS
timeout 200 "$PGC" failover -f "$topo" --cluster c >"$tmp/fo.out" 2>"$tmp/fo.err"
rc=$?
lib_expect_rc "pgconverge failover after kill -9 of pg1 (took $((SECONDS - start)) s)" "$tmp/fo" 0
check "pg2 is a primary" lib_sql_is "${port[pg2]}" "select pg_is_in_recovery()" f

reported=$(grep -o 'promoted at:  [0-9A-F/]*' "$tmp/fo.out" | awk '{print $3}')
tli=$(q pg2 "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")
switch=$(q pg2 "select pg_read_file('pg_wal/$tli.history')" | awk 'NF && !/^#/ {s = $2} END {print s}')
if [ -n "$reported" ] && [ -n "$blocked" ] && lsn_ge pg2 "$reported" "$blocked" &&
	[ "$reported" != "$blocked" ]; then
	ok "the promotion point $reported is past the record replay was blocked on ($blocked)"
else
	fail "the promotion point '$reported' is not past the record replay was blocked on ($blocked): promoted while replay was blocked"
	lib_show "$tmp/fo"
fi
if [ -n "$reported" ] && [ "$reported" = "$switch" ]; then
	ok "the promotion point is the history file's switch point $switch"
else
	fail "pgconverge reported promotion at '$reported', the history file says '$switch'"
fi
if grep -q 'conflict with recovery' "$tmp/holder.out"; then
	ok "the query holding the pin was cancelled by the conflict"
else
	fail "the query holding the pin was not cancelled: $(tail -n 3 "$tmp/holder.out")"
fi
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
holder=

lib_finish test_ha_pin
