#!/usr/bin/env bash
# tests/integration/test_failover.sh - high availability on real servers: a
# primary and two synchronous replicas built by `pgconverge apply`, then
#   1. kill -9 of the primary's postmaster while a writer commits, and
#      `pgconverge failover`: a replica is promoted, every acknowledged commit
#      is on it, the other replica and the old primary (rewound) follow it;
#   2. refusals: unknown --to, --to the primary, the state lock held;
#   3. `failover --to NODE` of a healthy primary under the writer;
#   4. switchover_run() under the writer: nothing acknowledged is lost, the
#      write gap is reported, the old primary streams from the new one;
#   5. a switchover whose target cannot replay the shutdown checkpoint rolls
#      back: exactly one writable primary, the old one;
#   6. an old primary started by hand on an older timeline is stopped and
#      rejoined with pg_rewind; what it wrote alone is gone.
# Steps 4 to 6 call the engine through tests/integration/ha_driver.c.
#
# Needs root (servers run as postgres), the PostgreSQL 15 binaries, and free
# loopback ports in 20000-32000. Prints one ok/FAIL line per check and exits
# 1 when any check failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
bin=${PGC_BIN:-$top/pgconverge}
case $bin in /*) ;; *) bin=$top/$bin ;; esac
pgbin=/usr/lib/postgresql/15/bin
fails=0
ok() { echo "ok   $*"; }
fail() {
	echo "FAIL $*"
	fails=$((fails + 1))
}

if [ "$(id -u)" != 0 ]; then
	echo "FAIL test_failover.sh must run as root (servers run as postgres)"
	exit 1
fi
[ -x "$bin" ] || {
	echo "FAIL no pgconverge binary at $bin"
	exit 1
}

tmp=$(mktemp -d)
chmod 755 "$tmp"
writer_pid=

# stop_server DATA_DIR - stops a postmaster by the pid in postmaster.pid.
stop_server() {
	local pidfile=$1/postmaster.pid pid i
	[ -f "$pidfile" ] || return 0
	pid=$(head -n 1 "$pidfile")
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	kill -QUIT "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}
teardown() {
	[ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null
	for n in pg1 pg2 pg3; do stop_server "$tmp/data/$n"; done
	rm -rf "$tmp"
}
trap teardown EXIT

# free_port EXCLUDE... - a loopback TCP port in 20000-32000 nobody listens on.
free_port() {
	local p x used
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		used=
		for x in "$@"; do [ "$p" = "$x" ] && used=1; done
		[ -n "$used" ] && continue
		ss -Hltn "sport = :$p" | grep -q . && continue
		echo "$p"
		return 0
	done
	return 1
}
p1=$(free_port) && p2=$(free_port "$p1") && p3=$(free_port "$p1" "$p2") || {
	echo "FAIL no free port in 20000-32000"
	exit 1
}
declare -A port=([pg1]=$p1 [pg2]=$p2 [pg3]=$p3)

# --- the driver, built with the Makefile's flags ------------------------------

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
# shellcheck disable=SC2086
if ! ${CC:-gcc} $(echo "$flags" | sed -n 1p) -o "$tmp/ha_driver" tests/integration/ha_driver.c \
	build/libpgconverge.a $(echo "$flags" | sed -n 2p) >"$tmp/cc.log" 2>&1; then
	echo "FAIL building ha_driver:"
	cat "$tmp/cc.log"
	exit 1
fi
ok "ha_driver builds"

# --- helpers -------------------------------------------------------------------

# q NODE SQL - one value from a node, as the superuser over the socket.
q() { psql -X -q -At -h /var/run/postgresql -p "${port[$1]}" -U postgres -d postgres -c "$2" 2>/dev/null; }
# primaries - the nodes that accept writes, space separated.
primaries() {
	local n out=
	for n in pg1 pg2 pg3; do [ "$(q "$n" 'select pg_is_in_recovery()')" = f ] && out="$out $n"; done
	echo "${out# }"
}
# streams_from NODE UPSTREAM - waits up to 30 s for NODE to stream from UPSTREAM.
streams_from() {
	local i
	for i in $(seq 1 150); do
		[ "$(q "$1" 'select status, sender_port from pg_stat_wal_receiver')" = "streaming|${port[$2]}" ] &&
			return 0
		sleep 0.2
	done
	return 1
}
# writer_start NODE TABLE - commits "insert into TABLE values (i)" for i = 1, 2, ...
# one transaction each (synchronous_commit on) until an error stops it.
writer_start() {
	q "$1" "create table $2 (i int primary key)" >/dev/null
	seq 1 200000 | sed "s/.*/insert into $2 values (&);/" >"$tmp/$2.sql"
	psql -X -v ON_ERROR_STOP=1 -h /var/run/postgresql -p "${port[$1]}" -U postgres -d postgres \
		-c 'set synchronous_commit = on' -f "$tmp/$2.sql" -o "$tmp/$2.out" >"$tmp/$2.err" 2>&1 &
	writer_pid=$!
}
# writer_acked TABLE - waits for the writer to stop; prints how many commits it saw acknowledged.
writer_acked() {
	local i
	for i in $(seq 1 200); do
		kill -0 "$writer_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$writer_pid" 2>/dev/null
	wait "$writer_pid" 2>/dev/null
	writer_pid=
	grep -c '^INSERT 0 1$' "$tmp/$1.out"
}
# check_acked NODE TABLE K - every acknowledged row (1..K) is on NODE.
check_acked() {
	local got
	got=$(q "$1" "select count(*) from $2 where i <= $3")
	if [ "$3" -gt 0 ] && [ "$got" = "$3" ]; then
		ok "$4: all $3 acknowledged commits are on $1"
	else
		fail "$4: $got of $3 acknowledged commits are on $1"
	fi
}

# --- the cluster, built by pgconverge apply ----------------------------------------

mkdir -m 700 "$tmp/secrets"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"
cat >"$tmp/topology.yaml" <<EOF
version: 1
clusters:
  c:
    primary: pg1
    nodes:
      pg1: {host: 127.0.0.1, port: $p1, data_dir: data/pg1, region: east}
      pg2: {host: 127.0.0.1, port: $p2, data_dir: data/pg2, region: east}
      pg3: {host: 127.0.0.1, port: $p3, data_dir: data/pg3, region: west}
    settings:
      shared_buffers: 16MB
      max_connections: 30
    failover: {mode: manual, detect_after: 2s, prefer_region: east}
    replication:
      user: replicator
      password: {file: secrets/replicator}
EOF
# Replicas first, synchronous replication once they stream: a primary that
# waits for synchronous standbys that do not exist yet cannot create roles.
if "$bin" apply -f "$tmp/topology.yaml" >"$tmp/apply1.out" 2>"$tmp/apply1.err"; then
	ok "apply builds a primary and two replicas"
else
	fail "apply (exit $?): $(tail -n 20 "$tmp/apply1.err")"
	exit 1
fi
cat >>"$tmp/topology.yaml" <<EOF
      synchronous: {method: any, count: 1}
EOF
if timeout 120 "$bin" apply -f "$tmp/topology.yaml" >"$tmp/apply2.out" 2>"$tmp/apply2.err"; then
	ok "apply turns synchronous replication on"
else
	fail "apply with synchronous replication (exit $?): $(tail -n 20 "$tmp/apply2.err")"
	exit 1
fi
out=$(q pg1 "select string_agg(application_name || ':' || sync_state, ' ' order by application_name) from pg_stat_replication")
[ "$out" = "pg2:quorum pg3:quorum" ] && ok "pg2 and pg3 are quorum standbys of pg1" ||
	fail "pg_stat_replication on pg1: '$out'"

# --- 1. kill -9 of the primary, then pgconverge failover ------------------------------

writer_start pg1 t1
sleep 1.5
kill -9 "$(head -n 1 "$tmp/data/pg1/postmaster.pid")"
k1=$(writer_acked t1)
"$bin" failover -f "$tmp/topology.yaml" --cluster c >"$tmp/fo1.out" 2>"$tmp/fo1.err"
rc=$?
new=$(primaries)
if [ $rc -eq 0 ] && grep -q 'promoted in place of "pg1"' "$tmp/fo1.out"; then
	ok "failover after kill -9: $(head -n 1 "$tmp/fo1.out" | sed 's/.*: //')"
else
	fail "failover after kill -9: exit $rc: $(cat "$tmp/fo1.out") $(tail -n 20 "$tmp/fo1.err")"
fi
case $new in
pg2 | pg3) ok "exactly one primary after the failover: $new" ;;
*) fail "primaries after the failover: '$new'" ;;
esac
check_acked "$new" t1 "$k1" "kill -9"
[ "$(q "$new" 'insert into t1 values (-1) returning i')" = -1 ] &&
	ok "the new primary $new commits a write (synchronous)" || fail "no write on $new"
[ "$new" = pg2 ] && other=pg3 || other=pg2
streams_from "$other" "$new" && ok "$other streams from $new" || fail "$other does not stream from $new"
streams_from pg1 "$new" && ok "old primary pg1 was rejoined and streams from $new" ||
	fail "pg1 does not stream from $new: $(tail -n 5 "$tmp/fo1.err")"
grep -q 'old primary:  node "pg1" was rewound with pg_rewind' "$tmp/fo1.out" &&
	ok "pg1 came back through pg_rewind" || fail "pg1 rejoin: $(grep 'old primary' "$tmp/fo1.out")"
[ -f "$tmp/data/pg1/standby.signal" ] && ok "pg1 has standby.signal" || fail "pg1 lacks standby.signal"
first=$(sed -n 's/.*first write \([0-9]*\) ms.*/\1/p' "$tmp/fo1.out")
[ -n "$first" ] && [ "$first" -lt 5000 ] && ok "first write on $new ${first} ms after the command started" ||
	fail "first write timing: '$(grep timings "$tmp/fo1.out")'"
if python3 - "$tmp/.pgconverge/journal.jsonl" "$new" <<'PY'; then ok "journal: failover start and end with timings"; else fail "journal content"; fi
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if '"failover"' in l]
assert [e["event"] for e in ev] == ["start", "end"], ev
end = ev[-1]
assert end["outcome"] == "ok" and end["old_primary"] == "pg1" and end["new_primary"] == sys.argv[2], end
assert end["run"] == ev[0]["run"]
for k in ("detected", "fenced", "promoted", "first_write"):
    assert isinstance(end["timings_ms"][k], int), (k, end)
assert end["timings_ms"]["detected"] <= end["timings_ms"]["fenced"] <= end["timings_ms"]["promoted"]
assert end["fence"]["method"] in ("already-down", "killed"), end["fence"]
assert end["old_primary_rejoin"]["outcome"] == "rewound", end
PY
grep -q 'r3pl:pw\|r3pl' "$tmp/.pgconverge/journal.jsonl" "$tmp/fo1.out" "$tmp/fo1.err" &&
	fail "the replication password appears in the journal or output" || ok "no secret in the journal or output"
grep -q "127.0.0.1:${port[$new]}:\*:replicator:" "$tmp/data/.$other.pgconverge.pgpass" &&
	ok "$other's passfile names its new upstream" || fail "$other's passfile: $(cut -d: -f1-4 "$tmp/data/.$other.pgconverge.pgpass")"

# --- 2. refusals ------------------------------------------------------------------------

"$bin" failover -f "$tmp/topology.yaml" --cluster c --to nope >"$tmp/r.out" 2>"$tmp/r.err"
rc=$?
[ $rc -eq 1 ] && grep -q 'cluster "c" has no node "nope"' "$tmp/r.err" &&
	ok "--to an unknown node: refused, exit 1" || fail "--to nope: exit $rc, $(cat "$tmp/r.err")"
"$bin" failover -f "$tmp/topology.yaml" --cluster c --to "$new" >"$tmp/r.out" 2>"$tmp/r.err"
rc=$?
[ $rc -eq 0 ] && grep -q "node \"$new\" is already the primary" "$tmp/r.out" &&
	ok "--to the primary: nothing to do, exit 0" || fail "--to $new: exit $rc, $(cat "$tmp/r.out" "$tmp/r.err")"
flock "$tmp/.pgconverge/lock" sleep 3 &
lock_pid=$!
sleep 0.3
"$bin" failover -f "$tmp/topology.yaml" --cluster c >"$tmp/r.out" 2>"$tmp/r.err"
rc=$?
wait "$lock_pid"
[ $rc -eq 4 ] && ok "failover while another run holds the lock: exit 4" || fail "locked failover: exit $rc"
[ "$(primaries)" = "$new" ] && ok "refusals changed nothing" || fail "primaries now: $(primaries)"

# --- 3. failover --to a node, the primary healthy, under the writer -------------------------

writer_start "$new" t3
sleep 1
"$bin" failover -f "$tmp/topology.yaml" --cluster c --to pg1 >"$tmp/fo3.out" 2>"$tmp/fo3.err"
rc=$?
k3=$(writer_acked t3)
[ $rc -eq 0 ] && grep -q "\"pg1\" promoted in place of \"$new\"" "$tmp/fo3.out" &&
	ok "failover --to pg1 while $new is healthy" || fail "failover --to pg1: exit $rc $(tail -n 20 "$tmp/fo3.err")"
grep -q 'stopped with a fast shutdown' "$tmp/fo3.out" && ok "the healthy primary was stopped with a fast shutdown" ||
	fail "fence: $(grep fenced "$tmp/fo3.out")"
[ "$(primaries)" = pg1 ] && ok "pg1 is the only primary" || fail "primaries: $(primaries)"
check_acked pg1 t3 "$k3" "failover --to"
streams_from pg2 pg1 && ok "pg2 streams from pg1" || fail "pg2 does not stream from pg1"
streams_from pg3 pg1 && ok "pg3 streams from pg1" || fail "pg3 does not stream from pg1"
grep -q 'needed no rewind' "$tmp/fo3.out" && ok "the old primary needed no rewind after its clean stop" ||
	fail "rejoin after a clean stop: $(grep 'old primary' "$tmp/fo3.out")"

# --- 4. switchover under the writer -------------------------------------------------------------

writer_start pg1 t4
sleep 1
"$tmp/ha_driver" switchover "$tmp/topology.yaml" c pg1 pg3 >"$tmp/so.out" 2>"$tmp/so.err"
rc=$?
k4=$(writer_acked t4)
gap=$(sed -n 's/.*write_gap_ms=\([0-9-]*\).*/\1/p' "$tmp/so.out")
[ $rc -eq 0 ] && grep -q '^outcome=done ' "$tmp/so.out" && ok "switchover pg1 -> pg3: write gap ${gap} ms" ||
	fail "switchover: exit $rc, $(cat "$tmp/so.out"), $(tail -n 20 "$tmp/so.err")"
[ -n "$gap" ] && [ "$gap" -ge 0 ] && [ "$gap" -lt 5000 ] && ok "write gap reported and below 5 s" ||
	fail "write gap '$gap'"
[ "$(primaries)" = pg3 ] && ok "pg3 is the only primary" || fail "primaries: $(primaries)"
check_acked pg3 t4 "$k4" "switchover"
grep -q 'old_primary=followed' "$tmp/so.out" && ok "the old primary followed without pg_rewind" ||
	fail "old primary after the switchover: $(cat "$tmp/so.out")"
streams_from pg1 pg3 && ok "pg1 streams from pg3" || fail "pg1 does not stream from pg3"
streams_from pg2 pg3 && ok "pg2 streams from pg3" || fail "pg2 does not stream from pg3"
out=$(q pg3 "select string_agg(application_name || ':' || sync_state, ' ' order by application_name) from pg_stat_replication")
[ "$out" = "pg1:quorum pg2:quorum" ] && ok "synchronous_standby_names of pg3 lists pg1 and pg2" ||
	fail "pg_stat_replication on pg3: '$out'"

# --- 5. a switchover that must roll back ----------------------------------------------------------

q pg2 'select pg_wal_replay_pause()' >/dev/null
"$tmp/ha_driver" switchover "$tmp/topology.yaml" c pg3 pg2 2 >"$tmp/rb.out" 2>"$tmp/rb.err"
rc=$?
[ $rc -eq 1 ] && grep -q '^outcome=rolled-back .*step=catch-up' "$tmp/rb.out" &&
	ok "switchover to a target that cannot replay: rolled back" ||
	fail "rollback: exit $rc, $(cat "$tmp/rb.out"), $(tail -n 10 "$tmp/rb.err")"
[ "$(primaries)" = pg3 ] && ok "exactly one writable primary after the rollback: pg3" ||
	fail "primaries after the rollback: '$(primaries)'"
[ "$(q pg3 'insert into t4 values (-5) returning i')" = -5 ] && ok "pg3 takes writes again" ||
	fail "pg3 does not take writes"
q pg2 'select pg_wal_replay_resume()' >/dev/null
streams_from pg2 pg3 && ok "pg2 streams from pg3 again" || fail "pg2 does not stream from pg3"
streams_from pg1 pg3 && ok "pg1 streams from pg3 again" || fail "pg1 does not stream from pg3"

# --- 6. an old primary started by hand on an older timeline --------------------------------------

"$tmp/ha_driver" promote "$tmp/topology.yaml" c pg3 pg2 >"$tmp/pr.out" 2>"$tmp/pr.err"
rc=$?
[ $rc -eq 0 ] && grep -q '^promoted=1' "$tmp/pr.out" && ok "pg3 fenced, pg2 promoted ($(cat "$tmp/pr.out"))" ||
	fail "promote: exit $rc, $(tail -n 10 "$tmp/pr.err")"
[ -f "$tmp/data/pg3/standby.signal" ] && ok "the fenced pg3 carries standby.signal" ||
	fail "fenced pg3 lacks standby.signal"
rm -f "$tmp/data/pg3/standby.signal"
runuser -u postgres -- "$pgbin/pg_ctl" start -w -D "$tmp/data/pg3" -l "$tmp/data/pg3/log/by-hand.log" >/dev/null 2>&1
q pg3 "set synchronous_commit = local; insert into t4 values (-999)" >/dev/null
[ "$(primaries)" = "pg2 pg3" ] && ok "pg3 started by hand: two primaries (pg3 on an older timeline)" ||
	fail "primaries with pg3 started by hand: '$(primaries)'"
"$tmp/ha_driver" rejoin "$tmp/topology.yaml" c pg2 pg3 >"$tmp/rj.out" 2>"$tmp/rj.err"
rc=$?
[ $rc -eq 0 ] && grep -q "^outcome=rewound was_primary=1 unreplicated=[1-9]" "$tmp/rj.out" &&
	ok "pg3 stopped and rewound ($(cat "$tmp/rj.out"))" || fail "rejoin: exit $rc, $(cat "$tmp/rj.out") $(tail -n 10 "$tmp/rj.err")"
[ "$(primaries)" = pg2 ] && ok "one primary again: pg2" || fail "primaries: '$(primaries)'"
streams_from pg3 pg2 && ok "pg3 streams from pg2" || fail "pg3 does not stream from pg2"
[ "$(q pg3 'select count(*) from t4 where i = -999')" = 0 ] && ok "the row pg3 took alone is gone" ||
	fail "pg3 still has its own row"
ls -d "$tmp"/data/pg3.diverged-* >/dev/null 2>&1 && fail "pg3's data directory was moved aside" ||
	ok "no data directory moved aside"

[ $fails -eq 0 ] && echo "all checks passed" || echo "$fails check(s) failed"
[ $fails -eq 0 ]
