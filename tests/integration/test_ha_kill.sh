#!/usr/bin/env bash
# tests/integration/test_ha_kill.sh - kill -9 of the primary (its postmaster
# and every child at once) under concurrent writers, then
# `pgconverge failover`, six rounds in a row on one cluster (a
# primary and two replicas built by `apply`): three with asynchronous
# replication, then three with synchronous: {method: any, count: 1}.
#
# Four psql clients write one row per transaction and log "ID|LSN" only
# after the COMMIT returned: ID is acknowledged, LSN is
# pg_current_wal_insert_lsn() read after it, so at or past the end of its
# commit record. A fifth runs one large insert that never commits: the WAL
# writer flushes its full pages and the walsenders send them on. The
# replicas' WAL receivers are stopped (SIGSTOP) for a second so that they
# fall behind and the walsenders send page-aligned chunks, then every
# process of the primary is killed at once and the receivers continue
# (SIGCONT): the WAL the replicas received then nearly always ends inside a
# record that is never complete, which the candidate never replays. Every
# round must end with:
#   - `pgconverge failover` exiting 0, exactly one primary, a new one, that
#     takes a write; the old primary rejoined and streaming from it, and the
#     other replica too (so the next round has two replicas again);
#   - the promotion point pgconverge reports equal to the switch point in
#     the new timeline's history file (the candidate had replayed all the
#     complete WAL it received before it was promoted);
#   - each client's rows on the new primary are 1..m without a gap (WAL is
#     a prefix; at most the commit in flight at the kill is there unacked);
#   - asynchronous rounds: every acknowledged commit whose logged LSN is at
#     or before the switch point is on the new primary (later ones may be
#     lost: that is asynchronous replication);
#   - synchronous rounds: every acknowledged commit is on the new primary.
# The rounds in which the candidate had received an incomplete record (the
# case under test) are counted: at least one of the six must have it, or
# the script fails, since it then did not exercise that case (it depends on
# timing; 5 or 6 of 6 rounds usually have it).
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
writers=
stalled=
cleanup() {
	local p
	[ -n "$stalled" ] && kill -CONT $stalled 2>/dev/null
	for p in $writers; do kill "$p" 2>/dev/null; done
	lib_teardown "$tmp"
}
trap cleanup EXIT

lib_node_ports 3
topo=$tmp/topology.yaml
nclients=4

# write_topology PRIMARY [SYNC] - the topology file.
write_topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  c:
    primary: $1
    nodes:
      pg1: {host: 127.0.0.1, port: ${port[pg1]}, data_dir: data/pg1}
      pg2: {host: 127.0.0.1, port: ${port[pg2]}, data_dir: data/pg2}
      pg3: {host: 127.0.0.1, port: ${port[pg3]}, data_dir: data/pg3}
    settings:
      shared_buffers: 16MB
      max_connections: 30
      # A replica that lags the candidate needs the candidate to still hold
      # the WAL in between: a standby keeps no slots for its peers, and its
      # restartpoints would recycle segments the lagging one has not had
      # (seen: "requested WAL segment ... has already been removed"). Each
      # round writes about 200 MB.
      wal_keep_size: 1GB
    failover: {mode: manual}
    replication:
      user: replicator
      password: {file: secrets/replicator}
EOF
	[ -n "${2:-}" ] && echo "      synchronous: {method: any, count: 1}" >>"$topo"
	return 0
}

q() { lib_sql "${port[$1]}" "$2" 2>/dev/null; }
primaries() {
	local n out=
	for n in pg1 pg2 pg3; do [ "$(q "$n" 'select pg_is_in_recovery()')" = f ] && out="$out $n"; done
	echo "${out# }"
}
# streams_from NODE UPSTREAM [SECONDS] - NODE's WAL receiver streams from UPSTREAM.
streams_from() {
	lib_wait "${3:-60}" lib_sql_is "${port[$1]}" \
		"select status || '|' || sender_port from pg_stat_wal_receiver" "streaming|${port[$2]}"
}

# writers_start NODE ROUND - $nclients psql clients on NODE, each committing
# rows ROUND*10^7 + CLIENT*10^6 + 1, 2, ... into t, one transaction each.
writers_start() {
	local c base f
	writers=
	for c in $(seq 1 $nclients); do
		base=$(($2 * 10000000 + c * 1000000))
		f=$tmp/w/w$2.$c
		python3 - "$base" >"$f.sql" <<'PY'
import sys
base = int(sys.argv[1])
for i in range(1, 20001):
    print("insert into t values (%d, (select string_agg(md5(random()::text), '') "
          "from generate_series(1, %d)));" % (base + i, 10 + i % 50))
    print("select %d, pg_current_wal_insert_lsn();" % (base + i))
PY
		runuser -u postgres -- "$LIB_PG_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$LIB_SOCKET_DIR" \
			-p "${port[$1]}" -d postgres -f "$f.sql" -o "$f.out" >"$f.err" 2>&1 &
		writers="$writers $!"
	done
}
# bulk_start NODE - one big transaction that never commits on NODE: its
# full WAL pages are flushed and sent on while a record still crosses into
# the next page. Started just before the stall, to keep the WAL small.
bulk_start() {
	runuser -u postgres -- "$LIB_PG_BIN/psql" -XAtq -h "$LIB_SOCKET_DIR" -p "${port[$1]}" \
		-d postgres -c "insert into bulk select g, repeat(md5(g::text), 20) from (select generate_series(1, 50000000) g) s" \
		>/dev/null 2>&1 &
	writers="$writers $!"
}
# writers_stop - waits (15 s at most) for the clients to stop on their own.
writers_stop() {
	local p
	for _ in $(seq 1 150); do
		for p in $writers; do kill -0 "$p" 2>/dev/null && break; p=; done
		[ -z "$p" ] && break
		sleep 0.1
	done
	for p in $writers; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	writers=
}

# check_rows ROUND NEW SYNC - the checks on the rows (see the header), in python.
check_rows() {
	local tli hist rows
	tli=$(q "$2" "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")
	hist=$(q "$2" "select pg_read_file('pg_wal/$tli.history')")
	rows=$tmp/rows$1
	q "$2" "select i from t where i between $1 * 10000000 and $1 * 10000000 + 9999999 order by i" >"$rows"
	python3 - "$tmp" "$1" "$nclients" "$rows" "$hist" "$3" "$(grep -o 'promoted at:  [0-9A-F/]*' "$tmp/fo$1.out")" <<'PY'
import sys
tmp, rnd, nclients, rows, hist, sync, reported = sys.argv[1:8]
rnd, nclients = int(rnd), int(nclients)
def lsn(s):
    hi, lo = s.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)
switch = lsn([l for l in hist.splitlines() if l.strip() and not l.startswith("#")][-1].split()[1])
present = set(int(x) for x in open(rows).read().split())
bad = []
reported = reported.split()[-1] if reported else "?"
if reported == "?" or lsn(reported) != switch:
    bad.append("pgconverge reported promotion at %s, the history file says %X/%X"
               % (reported, switch >> 32, switch & 0xFFFFFFFF))
acked = checked = 0
for c in range(1, nclients + 1):
    base = rnd * 10000000 + c * 1000000
    mine = sorted(i - base for i in present if base < i < base + 1000000)
    if mine != list(range(1, len(mine) + 1)):
        bad.append("client %d: rows are not 1..%d without a gap" % (c, len(mine)))
    for line in open("%s/w/w%d.%d.out" % (tmp, rnd, c)):
        i, l = line.strip().split("|")
        acked += 1
        if sync == "sync" or lsn(l) <= switch:
            checked += 1
            if int(i) not in present:
                bad.append("acknowledged commit %s (at %s) is missing" % (i, l))
print("round %d: %d acknowledged, %d of them checked, %d rows on the new primary, switch point %X/%X"
      % (rnd, acked, checked, len(present), switch >> 32, switch & 0xFFFFFFFF))
for b in bad[:10]:
    print("  " + b)
sys.exit(1 if bad or acked == 0 else 0)
PY
}

# --- the cluster ---------------------------------------------------------------------------

mkdir -m 700 "$tmp/secrets"
mkdir "$tmp/w" && chown postgres "$tmp/w"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"
write_topology pg1
lib_run "$tmp/apply1" apply -f "$topo"
lib_expect_rc "apply builds a primary and two replicas" "$tmp/apply1" 0
[ "$rc" = 0 ] || lib_finish test_ha_kill
q pg1 "create table t (i bigint primary key, pad text); create table bulk (i bigint, pad text)" >/dev/null

live=pg1
incomplete=0
for round in 1 2 3 4 5 6; do
	sync=
	[ "$round" -ge 4 ] && sync=sync
	mode=${sync:-async}
	if [ "$round" = 4 ]; then
		write_topology "$live" sync
		lib_run "$tmp/apply_sync" apply -f "$topo"
		lib_expect_rc "apply turns synchronous replication on" "$tmp/apply_sync" 0
		check "both replicas are quorum standbys of $live" lib_wait 30 lib_sql_is "${port[$live]}" \
			"select count(*) from pg_stat_replication where sync_state = 'quorum'" 2
	fi
	others=
	for n in pg1 pg2 pg3; do [ "$n" != "$live" ] && others="$others $n"; done
	for n in $others; do
		streams_from "$n" "$live" || fail "round $round: $n does not stream from $live before the kill"
	done

	writers_start "$live" "$round"
	sleep 2
	bulk_start "$live"
	sleep 0.3
	# The replicas' WAL receivers stall for a second, as on a congested
	# network: they fall behind, and the walsenders then send page-aligned
	# chunks. Then the whole primary dies at once, as when its machine
	# does (each child of the postmaster is a process group of its own),
	# and the receivers go on with what reached them.
	stalled=
	for n in $others; do stalled="$stalled $(q "$n" 'select pid from pg_stat_wal_receiver')"; done
	kill -STOP $stalled
	sleep 1
	pm=$(lib_pidfile_pid "$tmp/data/$live")
	kill -KILL "$pm" $(ps -o pid= --ppid "$pm")
	kill -CONT $stalled
	stalled=
	writers_stop
	timeout 200 "$PGC" failover -f "$topo" --cluster c >"$tmp/fo$round.out" 2>"$tmp/fo$round.err"
	rc=$?
	lib_expect_rc "round $round ($mode): pgconverge failover after kill -9 of $live" "$tmp/fo$round" 0
	new=$(primaries)
	case $new in
	"$live" | *" "* | "")
		fail "round $round: primaries after the failover: '$new'"
		lib_finish test_ha_kill
		;;
	esac
	ok "round $round: one primary, $new"
	grep -q 'received up to .* an incomplete record' "$tmp/fo$round.err" && incomplete=$((incomplete + 1))
	check "round $round: $new takes a write" lib_sql_is "${port[$new]}" \
		"insert into t values ($round, 'after') returning i" "$round"
	if check_rows "$round" "$new" "$sync" >"$tmp/rows$round.txt"; then
		ok "round $round ($mode): $(head -n 1 "$tmp/rows$round.txt")"
	else
		fail "round $round ($mode) rows: $(cat "$tmp/rows$round.txt")"
	fi
	for n in pg1 pg2 pg3; do
		[ "$n" = "$new" ] && continue
		if streams_from "$n" "$new"; then
			ok "round $round: $n streams from $new"
		else
			fail "round $round: $n streams from $new"
			tail -n 15 "$tmp/fo$round.err" | sed 's/^/  | /'
			tail -n 15 $(ls -t "$tmp/data/$n/log/"* 2>/dev/null | head -n 1) 2>/dev/null | sed 's/^/  | /'
		fi
	done
	live=$new
	write_topology "$live" $sync
done
if [ "$incomplete" -gt 0 ]; then
	ok "in $incomplete of 6 rounds the candidate had received an incomplete last record"
else
	fail "in none of the 6 rounds had the candidate received an incomplete last record: the failover after a record cut mid-way was not exercised"
fi

lib_finish test_ha_kill
