#!/usr/bin/env bash
# tests/integration/test_metrics.sh - the monitoring metrics on real servers
# (a primary and a streaming replica, a declared database with an unused
# index):
#   - `status --format prometheus` has every monitoring family, each with
#     # HELP and # TYPE, and samples for every node (lag for the replica,
#     /proc figures since both are local); values are plausible
#     (max_connections as declared, the unused index counted, the replica's
#     lag small);
#   - after a pgbench workload the counters grew: blocks, commits, CPU
#     seconds, WAL bytes, storage bytes written, index scans;
#   - `plan` does not gather them (no connection to a replica's database);
#   - `reconcile --metrics-listen 127.0.0.1:PORT` answers GET /metrics over
#     HTTP (curl) while the loop runs, 404 elsewhere, 405 for POST; a bad
#     address is a usage error; the port is free again once it stopped (no
#     server inherited the socket);
#   - examples/grafana-dashboard.json: every metric its queries use is in
#     the /metrics answer.
#
# Needs root (servers run as postgres), PostgreSQL 15 with pgbench, curl,
# jq, and free loopback ports in 20000-32000. Prints one ok/FAIL line per
# check and exits 1 when any check failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
lib_require_root
for tool in curl jq; do
	command -v "$tool" >/dev/null || {
		echo "FAIL \"$tool\" is needed"
		exit 1
	}
done
PGC=$(lib_bin) || exit 1
dashboard=$top/examples/grafana-dashboard.json

tmp=$(lib_tmpdir) || exit 1
loop_pid=""
teardown() {
	if [ -n "$loop_pid" ] && kill -0 "$loop_pid" 2>/dev/null; then
		kill -TERM "$loop_pid" 2>/dev/null
		for _ in $(seq 1 100); do kill -0 "$loop_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$loop_pid" 2>/dev/null
	fi
	lib_teardown "$tmp"
}
trap teardown EXIT
cd "$tmp" || exit 1

ports=$(lib_free_ports 3) || {
	echo "FAIL no free ports in 20000-32000"
	exit 1
}
read -r p1 p2 hp <<<"$(echo $ports)"

cat >topology.yaml <<EOF
version: 1
clusters:
  main:
    postgres: {version: 15}
    primary: pg1
    nodes:
      pg1: {host: 127.0.0.1, port: $p1, data_dir: data/pg1}
      pg2: {host: 127.0.0.1, port: $p2, data_dir: data/pg2}
    initdb: {locale: C.UTF-8, encoding: UTF8}
    settings: {max_connections: 37, shared_buffers: 16MB, track_io_timing: true}
    roles:
      app: {login: true}
    databases:
      appdb: {owner: app}
    replication: {user: replicator, slots: true}
    hba:
      - {type: host, database: replication, user: replicator, address: 127.0.0.1/32, method: trust}
EOF

lib_run apply apply -f topology.yaml
lib_expect_rc "apply brings up a primary and a replica" apply 0
lib_psql "$p1" -d appdb -c "CREATE TABLE t (id int PRIMARY KEY, v int, w int);
	CREATE INDEX t_v ON t (v); CREATE INDEX t_w ON t (w);
	INSERT INTO t SELECT g, g % 100, g FROM generate_series(1, 20000) g; ANALYZE t;
	SET enable_seqscan = off; SELECT count(*) FROM t WHERE w = 5;" >/dev/null
replayed() { [ "$(lib_psql "$p2" -d appdb -c "SELECT count(*) FROM t" 2>/dev/null)" = 20000 ]; }
check "the replica has replayed the table" lib_wait 30 replayed

# --- every family, for every node -------------------------------------------------

node_families="pgconverge_connections pgconverge_max_connections pgconverge_wal_bytes_total
pgconverge_wal_generated_bytes_total pgconverge_processes pgconverge_process_cpu_seconds_total
pgconverge_process_read_bytes_total pgconverge_process_write_bytes_total pgconverge_stats_error"
db_families="pgconverge_database_blocks_read_total pgconverge_database_blocks_hit_total
pgconverge_database_block_read_seconds_total pgconverge_database_block_write_seconds_total
pgconverge_database_temp_bytes_total pgconverge_database_temp_files_total
pgconverge_database_xact_commit_total pgconverge_database_xact_rollback_total
pgconverge_database_size_bytes pgconverge_database_index_scans_total
pgconverge_database_seq_scans_total pgconverge_database_unused_indexes"
replica_families="pgconverge_replication_lag_bytes pgconverge_replication_lag_seconds"
old_families="pgconverge_node_up pgconverge_node_in_recovery pgconverge_node_timeline
pgconverge_node_pending_actions pgconverge_replica_streaming pgconverge_plan_blocked_actions"

# value FILE NAME LABELS - the value of the sample NAME{LABELS} in FILE (exact labels).
value() {
	awk -v key="$2{$3}" '{ v = $NF; k = substr($0, 1, length($0) - length(v) - 1) }
		k == key { print v; found = 1 } END { exit !found }' "$1"
}
# db_value FILE NAME NODE [DB] - a database family's sample.
db_value() { value "$1" "$2" "cluster=\"main\",node=\"$3\",database=\"${4:-appdb}\""; }
node_value() { value "$1" "$2" "cluster=\"main\",node=\"$3\""; }
# grew BEFORE AFTER - true when AFTER > BEFORE (decimals allowed).
grew() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(b + 0 > a + 0) }'; }

# families_complete FILE - every family has HELP and TYPE, every node its samples.
families_complete() {
	local f=$1 fam n missing=""
	for fam in $node_families $db_families $replica_families $old_families; do
		grep -q "^# HELP $fam " "$f" && grep -q "^# TYPE $fam " "$f" ||
			missing="$missing $fam(HELP/TYPE)"
	done
	for n in pg1 pg2; do
		for fam in $node_families; do
			[ "$fam" = pgconverge_connections ] && continue
			node_value "$f" "$fam" "$n" >/dev/null || missing="$missing $fam($n)"
		done
		for fam in $db_families; do
			db_value "$f" "$fam" "$n" >/dev/null || missing="$missing $fam($n)"
		done
		for s in active idle "idle in transaction" "idle in transaction (aborted)"; do
			value "$f" pgconverge_connections \
				"cluster=\"main\",node=\"$n\",state=\"$s\"" >/dev/null ||
				missing="$missing connections($n,$s)"
		done
	done
	for fam in $replica_families; do
		node_value "$f" "$fam" pg2 >/dev/null || missing="$missing $fam(pg2)"
		node_value "$f" "$fam" pg1 >/dev/null && missing="$missing $fam(pg1: a primary has no lag)"
	done
	[ -z "$missing" ] || {
		echo "  missing:$missing"
		return 1
	}
}

lib_run s1 status -f topology.yaml --format prometheus
lib_expect_rc "status --format prometheus" s1 0
check "every family has HELP and TYPE, and samples for every node" families_complete s1.out
check "as many # HELP as # TYPE lines, one per family" test \
	"$(grep -c '^# HELP ' s1.out)" = "$(grep -c '^# TYPE ' s1.out)"
check "counters end in _total and are typed counter" test -z \
	"$(awk '$1 == "#" && $2 == "TYPE" && $3 ~ /_total$/ && $4 != "counter"' s1.out)"
check "max_connections is the declared 37 on both nodes" test \
	"$(node_value s1.out pgconverge_max_connections pg1) $(node_value s1.out pgconverge_max_connections pg2)" = "37 37"
check "no node had a figure it could not read" test \
	"$(node_value s1.out pgconverge_stats_error pg1) $(node_value s1.out pgconverge_stats_error pg2)" = "0 0"
check "appdb on the primary: 1 unused index (t_w was scanned, the primary key is not counted)" \
	test "$(db_value s1.out pgconverge_database_unused_indexes pg1)" = 1
check "appdb on the replica: both non-unique indexes unused there" \
	test "$(db_value s1.out pgconverge_database_unused_indexes pg2)" = 2
check "only declared databases get index usage (none for postgres)" \
	test -z "$(db_value s1.out pgconverge_database_index_scans_total pg1 postgres)"
check "the database size is plausible (1 MB .. 1 GB)" awk -v v="$(db_value s1.out pgconverge_database_size_bytes pg1)" \
	'BEGIN { exit !(v > 1000000 && v < 1000000000) }'
check "the postmaster and its children: at least 5 processes on each node" awk \
	-v a="$(node_value s1.out pgconverge_processes pg1)" -v b="$(node_value s1.out pgconverge_processes pg2)" \
	'BEGIN { exit !(a >= 5 && b >= 5) }'
check "the replica's lag is small (< 16 MB, < 60 s)" awk \
	-v b="$(node_value s1.out pgconverge_replication_lag_bytes pg2)" \
	-v s="$(node_value s1.out pgconverge_replication_lag_seconds pg2)" \
	'BEGIN { exit !(b >= 0 && b < 16777216 && s >= 0 && s < 60) }'
check "label values are quoted and escaped" grep -q \
	'^pgconverge_connections{cluster="main",node="pg1",state="idle in transaction (aborted)"} [0-9]' s1.out

# --- counters grow after a workload ------------------------------------------------

pgbench() { runuser -u postgres -- "$LIB_PG_BIN/pgbench" -h "$LIB_SOCKET_DIR" -p "$p1" "$@"; }
if pgbench -i -s 2 -q appdb >pgbench.log 2>&1 && pgbench -c 4 -T 4 -n appdb >>pgbench.log 2>&1; then
	ok "pgbench ran on appdb"
else
	fail "pgbench failed"
	sed 's/^/  | /' pgbench.log | tail -n 10
fi
lib_sql "$p1" "SELECT pg_stat_force_next_flush()" >/dev/null 2>&1
lib_run s2 status -f topology.yaml --format prometheus
lib_expect_rc "status --format prometheus after the workload" s2 0
for fam in pgconverge_database_blocks_hit_total pgconverge_database_xact_commit_total \
	pgconverge_database_index_scans_total; do
	b=$(db_value s1.out $fam pg1) a=$(db_value s2.out $fam pg1)
	check "$fam grew on the primary ($b -> $a)" grew "$b" "$a"
done
b1=$(db_value s1.out pgconverge_database_blocks_read_total pg1)
b2=$(db_value s2.out pgconverge_database_blocks_read_total pg1)
h1=$(db_value s1.out pgconverge_database_blocks_hit_total pg1)
h2=$(db_value s2.out pgconverge_database_blocks_hit_total pg1)
check "blocks read + hit grew ($b1+$h1 -> $b2+$h2)" grew "$((b1 + h1))" "$((b2 + h2))"
for fam in pgconverge_process_cpu_seconds_total pgconverge_wal_bytes_total \
	pgconverge_wal_generated_bytes_total pgconverge_process_write_bytes_total; do
	b=$(node_value s1.out $fam pg1) a=$(node_value s2.out $fam pg1)
	check "$fam grew on the primary ($b -> $a)" grew "$b" "$a"
done
b=$(node_value s1.out pgconverge_wal_bytes_total pg2) a=$(node_value s2.out pgconverge_wal_bytes_total pg2)
check "the replica's replayed WAL position grew too ($b -> $a)" grew "$b" "$a"
b=$(node_value s1.out pgconverge_process_cpu_seconds_total pg2) a=$(node_value s2.out pgconverge_process_cpu_seconds_total pg2)
check "the replica's CPU seconds grew (startup process replaying) ($b -> $a)" grew "$b" "$a"

# --- plan does not gather them -------------------------------------------------------

# Observation connects to each declared database of the primary once (its
# extensions); the figures use that connection for the primary's index
# usage, and open one on the replica (which observation does not visit
# database by database). plan must open none of them.
sessions() { lib_sql "$1" "SELECT sessions FROM pg_stat_database WHERE datname = 'appdb'"; }
both() { sleep 1.2; echo "$(sessions "$p1") $(sessions "$p2")"; }
read -r a1 a2 <<<"$(both)"
lib_run plan1 plan -f topology.yaml
read -r b1 b2 <<<"$(both)"
lib_run s3 status -f topology.yaml --format prometheus
read -r c1 c2 <<<"$(both)"
check "plan: one connection to appdb on the primary, none on the replica ($a1 -> $b1, $a2 -> $b2)" \
	test "$((b1 - a1)) $((b2 - a2))" = "1 0"
check "status --format prometheus: the same on the primary, one on the replica ($b1 -> $c1, $b2 -> $c2)" \
	test "$((c1 - b1)) $((c2 - b2))" = "1 1"

# --- reconcile --metrics-listen -------------------------------------------------------

lib_run bad reconcile -f topology.yaml --metrics-listen nowhere
lib_expect_rc "--metrics-listen without a port is a usage error" bad 64
lib_run bad2 reconcile -f topology.yaml --once --metrics-listen 127.0.0.1:$hp
lib_expect_rc "--metrics-listen with --once is a usage error" bad2 64

"$PGC" reconcile -f topology.yaml --interval 2s --metrics-listen "127.0.0.1:$hp" >loop.out 2>loop.err &
loop_pid=$!
url=http://127.0.0.1:$hp
metrics_ready() { curl -sf "$url/metrics" -o m1.txt && grep -q '^pgconverge_connections{' m1.txt; }
check "the loop answers GET /metrics with the nodes' figures" lib_wait 60 metrics_ready
check "/metrics: every family for every node" families_complete m1.txt
check "/metrics: the loop's own metrics too" grep -q '^pgconverge_reconcile_last_pass_outcome{outcome="converged"} 1' m1.txt
check "/metrics: Content-Type is the text format 0.0.4" \
	sh -c "curl -sI '$url/metrics' | tr -d '\r' | grep -qi '^content-type: text/plain; version=0.0.4'"
check "/other: 404" test "$(curl -s -o /dev/null -w '%{http_code}' "$url/other")" = 404
check "/: 404" test "$(curl -s -o /dev/null -w '%{http_code}' "$url/")" = 404
check "POST /metrics: 405" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/metrics")" = 405
# A pass takes a while; answers must not wait for one.
slowest=$(for _ in $(seq 1 20); do curl -s -o /dev/null -w '%{time_total}\n' "$url/metrics"; done | sort -n | tail -n 1)
check "20 requests while the loop runs, the slowest in $slowest s (< 0.5 s)" \
	awk -v t="$slowest" 'BEGIN { exit !(t < 0.5) }'
# The next passes publish newer figures: the counters move while the loop runs.
pgbench -c 2 -T 2 -n appdb >>pgbench.log 2>&1
c1=$(db_value m1.txt pgconverge_database_xact_commit_total pg1)
newer() { curl -sf "$url/metrics" -o m2.txt && grew "$c1" "$(db_value m2.txt pgconverge_database_xact_commit_total pg1)"; }
check "a later pass publishes newer figures (commits grew)" lib_wait 30 newer

# --- the dashboard's metrics exist ------------------------------------------------------

if jq empty "$dashboard" 2>/dev/null; then
	ok "examples/grafana-dashboard.json is valid JSON"
else
	fail "examples/grafana-dashboard.json is not valid JSON"
fi
used=$(jq -r '(.. | objects | .expr? // empty), (.templating.list[] | .definition? // empty)' "$dashboard" | grep -o 'pgconverge_[a-z_]*' | sort -u)
check "the dashboard queries at least 12 metrics" test "$(echo "$used" | grep -c .)" -ge 12
missing=""
for m in $used; do grep -q "^# TYPE $m " m2.txt || missing="$missing $m"; done
check "every metric the dashboard queries is in /metrics${missing:+ (missing:$missing)}" test -z "$missing"

kill -TERM "$loop_pid"
for _ in $(seq 1 300); do kill -0 "$loop_pid" 2>/dev/null || break; sleep 0.1; done
wait "$loop_pid"
rc=$?
loop_pid=""
check "the loop stops on SIGTERM (exit $rc)" test "$rc" = 0
check "the port is free once the loop stopped (no server kept the socket)" \
	test -z "$(ss -Hltn "sport = :$hp")"

lib_finish test_metrics
