#!/usr/bin/env bash
# tests/integration/test_reconcile_kill.sh - `apply` killed with SIGKILL in
# the middle of a clone, then run again, must converge:
#   A. apply and its pg_basebackup both killed (as a service manager kills a
#      unit): a partial copy is left; the next apply recognises its own
#      unfinished clone (the marker beside the data directory), empties it
#      and copies again;
#   B. only apply killed: pg_basebackup runs on, orphaned; the next apply,
#      started at once, stops it and copies again (the orphan's copy has no
#      standby.signal: started as it is, it would be a second primary).
#   In both, pg_basebackup's WAL streaming child outlives a killed
#   pg_basebackup (holding the slot); apply must stop it too.
#   C. a non-empty folder that no marker names (or one naming another
#      folder) is never emptied: its clone stays blocked.
# The primary holds a few hundred MB (pgbench -i -s 20) so that a clone
# lasts long enough to be interrupted.
#
# Needs root, the PostgreSQL 15 binaries and pgbench; free ports in
# 20000-31999; a temp folder torn down by PID on exit.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1
tmp=$(lib_tmpdir) || exit 1
# copiers DIR - pids of pg_basebackup processes copying into DIR
copiers() {
	ps -eo pid=,args= | awk -v d="-D $1 " '$2 ~ /pg_basebackup$/ && index($0 " ", d) { print $1 }'
}
cleanup() {
	# pg_basebackup processes this test orphaned, should the product leave one.
	local pid
	for pid in $(copiers "$tmp/data/pg2") $(copiers "$tmp/data/pg3"); do kill -KILL "$pid" 2>/dev/null; done
	lib_teardown "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

PGBENCH=$LIB_PG_BIN/pgbench
[ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench)
read -r p1 p2 p3 p4 <<<"$(lib_free_ports 4 | tr '\n' ' ')"
if [ -z "${p4:-}" ]; then
	echo "FAIL no free ports in 20000-31999"
	exit 1
fi
topo=$tmp/topology.yaml
state=$tmp/state
mkdir -p "$tmp/runs"

# write_topology NODE... - pg1 plus the given replicas.
write_topology() {
	cat >"$topo" <<EOF
version: 1
clusters:
  main:
    postgres: {version: 15}
    primary: pg1
    nodes:
      pg1: {host: 127.0.0.1, port: $p1, data_dir: data/pg1}
EOF
	for node in "$@"; do
		case $node in
		pg2) echo "      pg2: {host: 127.0.0.1, port: $p2, data_dir: data/pg2}" ;;
		pg3) echo "      pg3: {host: 127.0.0.1, port: $p3, data_dir: data/pg3}" ;;
		pg4) echo "      pg4: {host: 127.0.0.1, port: $p4, data_dir: data/pg4}" ;;
		esac >>"$topo"
	done
	cat >>"$topo" <<EOF
    initdb: {locale: C.UTF-8, encoding: UTF8, data_checksums: true}
    settings: {shared_buffers: 32MB, max_connections: 30, max_wal_size: 2GB}
    replication: {user: replicator, slots: true}
EOF
}

n=0
pgc() {
	n=$((n + 1))
	last=$tmp/runs/$n
	lib_run "$last" "$@"
}
expect_rc() { lib_expect_rc "$1" "$last" "$2"; }
ids() { jq -c '[.actions[] | {id, blocked}]' "$last.out" 2>&1; }
marker() { echo "$tmp/data/.$1.pgconverge-clone"; }
accounts() { lib_sql "$1" "select count(*) from pgbench_accounts" 2>/dev/null; }
streams() { # NODE... - pg1's pg_stat_replication shows exactly these, streaming
	local want="" n
	for n in "$@"; do want="$want $n:streaming"; done
	lib_sql_is "$p1" "select string_agg(application_name || ':' || state, ' ' order by application_name)
		from pg_stat_replication" "${want# }"
}

# start_apply_until_copying NODE - starts apply in the background (its own
# session) and returns once its pg_basebackup has copied some 20 MB into
# NODE's data directory; sets apid and bbpid.
start_apply_until_copying() {
	local dir=$tmp/data/$1
	setsid "$PGC" apply -f "$topo" --state-dir "$state" >"$tmp/runs/killed-$1.out" 2>"$tmp/runs/killed-$1.err" &
	apid=$!
	bbpid=""
	for _ in $(seq 1 600); do
		kill -0 "$apid" 2>/dev/null || return 1
		[ -z "$bbpid" ] && bbpid=$(ps -o pid=,comm= --ppid "$apid" | awk '$2 == "pg_basebackup" {print $1}')
		if [ -n "$bbpid" ] && [ -d "$dir/base" ] && [ "$(du -sm "$dir" 2>/dev/null | cut -f1)" -ge 20 ]; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# --- setup: a primary with data ---------------------------------------------------------

write_topology
pgc apply -f "$topo" --state-dir "$state"
expect_rc "setup: apply pg1 alone: exit 0" 0
if runuser -u postgres -- "$PGBENCH" -h "$LIB_SOCKET_DIR" -p "$p1" -i -s 20 -q postgres >"$tmp/pgbench.log" 2>&1; then
	ok "setup: pgbench -i -s 20 on pg1 ($(du -sm "$tmp/data/pg1" | cut -f1) MB)"
else
	fail "setup: pgbench failed: $(tail -n 3 "$tmp/pgbench.log")"
	lib_finish test_reconcile_kill
fi
rows=$(accounts "$p1")

# --- A. apply and pg_basebackup killed ----------------------------------------------------

echo "# A. apply and its pg_basebackup killed with SIGKILL"
write_topology pg2
if start_apply_until_copying pg2; then
	kill -KILL "$apid" "$bbpid" 2>/dev/null
	wait "$apid" 2>/dev/null
	ok "killed apply (pid $apid) and pg_basebackup (pid $bbpid) after $(du -sm "$tmp/data/pg2" | cut -f1) MB"
else
	fail "apply never reached pg_basebackup (or finished first): $(tail -n 3 "$tmp/runs/killed-pg2.err")"
	kill -KILL "$apid" 2>/dev/null
fi
[ -f "$tmp/data/pg2/global/pg_control" ] && fail "the copy was complete already: nothing interrupted" ||
	ok "the copy in data/pg2 is partial (no global/pg_control)"
grep -qx "data_dir=$tmp/data/pg2" "$(marker pg2)" 2>/dev/null && ok "the clone marker beside data/pg2 names it" ||
	fail "no clone marker naming data/pg2 at $(marker pg2)"
pgc plan -f "$topo" --state-dir "$state" --format json
expect_rc "plan after the kill: exit 2" 2
if jq -e '.actions[] | select(.id == "main/pg2/clone") | (.blocked | not) and (.reason | contains("interrupted"))' \
	"$last.out" >/dev/null 2>&1; then
	ok "plan: clone pg2 again (not blocked), the reason says the copy was interrupted"
else
	fail "plan after the kill: $(ids)"
fi
pgc apply -f "$topo" --state-dir "$state"
expect_rc "apply after the kill: exit 0" 0
grep -q "removing the unfinished copy" "$last.err" && ok "apply says it removes the unfinished copy" ||
	fail "apply does not say it removed the unfinished copy"
grep -q "stopping pg_basebackup" "$last.err" && ok "apply stopped the WAL streaming child the killed pg_basebackup left" ||
	echo "# note: no orphaned pg_basebackup child was left to stop"
[ -z "$(copiers "$tmp/data/pg2")" ] && ok "no pg_basebackup copies into data/pg2 any more" ||
	fail "pg_basebackup still copies into data/pg2: $(copiers "$tmp/data/pg2")"
lib_sql_is "$p2" "select pg_is_in_recovery()" t && ok "pg2 runs as a standby" || fail "pg2 is not a running standby"
lib_wait 30 streams pg2 && ok "pg2 streams from pg1" || fail "pg_stat_replication on pg1: $(lib_sql "$p1" "select application_name, state from pg_stat_replication" 2>&1)"
[ "$(accounts "$p2")" = "$rows" ] && ok "pg2 has all $rows pgbench_accounts rows" || fail "pg2 has $(accounts "$p2") rows, pg1 $rows"
[ -e "$(marker pg2)" ] && fail "the clone marker is still there" || ok "the clone marker is removed"
pgc plan -f "$topo" --state-dir "$state"
expect_rc "then plan: exit 0" 0

# --- B. only apply killed --------------------------------------------------------------------

echo "# B. apply killed, its pg_basebackup runs on"
write_topology pg2 pg3
if start_apply_until_copying pg3; then
	kill -KILL "$apid" 2>/dev/null
	wait "$apid" 2>/dev/null
	ok "killed apply (pid $apid); pg_basebackup (pid $bbpid) goes on"
else
	fail "apply never reached pg_basebackup (or finished first): $(tail -n 3 "$tmp/runs/killed-pg3.err")"
	kill -KILL "$apid" 2>/dev/null
fi
kill -0 "$bbpid" 2>/dev/null && ok "the orphaned pg_basebackup still runs when apply starts again" ||
	echo "# note: the orphaned pg_basebackup ended before the next apply"
pgc apply -f "$topo" --state-dir "$state"
expect_rc "apply right after the kill: exit 0" 0
[ -z "$(copiers "$tmp/data/pg3")" ] && ok "no pg_basebackup copies into data/pg3 any more" ||
	fail "pg_basebackup still copies into data/pg3: $(copiers "$tmp/data/pg3")"
grep -q "stopping pg_basebackup (pid $bbpid)" "$last.err" && ok "apply stopped the orphaned pg_basebackup" ||
	echo "# note: the orphan had ended before apply looked"
lib_sql_is "$p3" "select pg_is_in_recovery()" t && ok "pg3 runs as a standby, not as a second primary" ||
	fail "pg3: pg_is_in_recovery() = $(lib_sql "$p3" "select pg_is_in_recovery()" 2>&1)"
lib_wait 30 streams pg2 pg3 && ok "pg1 streams to pg2 and pg3" || fail "pg_stat_replication on pg1: $(lib_sql "$p1" "select application_name, state from pg_stat_replication" 2>&1)"
[ "$(accounts "$p3")" = "$rows" ] && ok "pg3 has all $rows rows" || fail "pg3 has $(accounts "$p3") rows"
[ -e "$(marker pg3)" ] && fail "the clone marker of pg3 is still there" || ok "the clone marker of pg3 is removed"
pgc plan -f "$topo" --state-dir "$state"
expect_rc "then plan: exit 0" 0

# --- C. folders that are not ours ------------------------------------------------------------

echo "# C. a non-empty folder no marker names is never emptied"
mkdir -p "$tmp/data/pg4"
echo precious >"$tmp/data/pg4/keep-me"
# A marker that names another folder does not count.
printf 'node=main/pg4\ndata_dir=%s\n' "$tmp/data/pg4-other" >"$(marker pg4)"
write_topology pg2 pg3 pg4
pgc plan -f "$topo" --state-dir "$state" --format json
expect_rc "plan with a foreign pg4 folder: exit 2" 2
jq -e '.actions[] | select(.id == "main/pg4/clone") | .blocked' "$last.out" >/dev/null 2>&1 &&
	ok "pg4's clone is blocked" || fail "pg4's actions: $(ids)"
pgc apply -f "$topo" --state-dir "$state"
expect_rc "apply: exit 3 (blocked)" 3
[ "$(cat "$tmp/data/pg4/keep-me" 2>&1)" = precious ] && ok "the foreign folder's file is untouched" ||
	fail "data/pg4/keep-me was removed or changed"

lib_finish test_reconcile_kill
