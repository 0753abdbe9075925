#!/usr/bin/env bash
# tests/integration/test_reconcile_loop.sh - `pgconverge reconcile` on real
# servers (a primary and a streaming replica, then a second replica):
#   - --once on a fresh topology converges (exit 0) and writes status.json
#     and pgconverge.prom;
#   - while another process holds the state lock, --once exits 4 and leaves
#     the status alone; with --wait-lock 10s it waits for the lock and
#     converges; a second loop on the same state directory exits 4;
#   - a loop with --interval 1s repairs drift (a replica stopped by hand,
#     a setting changed by ALTER SYSTEM) within a bounded time; SIGTERM in
#     the middle of a clone lets the clone finish, runs nothing after it,
#     and exits 0;
#   - a loop with --interval 1h (JSON logs): SIGHUP makes it read a changed
#     topology now; a restart outside the maintenance window is blocked and
#     shows in status.json as waiting for the window, with its reason and
#     when the window opens; the loop wakes up when the window opens and
#     restarts the servers then;
#   - a git source (file:// remote): a new commit is live within two passes;
#     when the remote goes away the loop goes on with the last fetched
#     commit, with a warning, and says so in the status files.
#
# Needs root (servers run as postgres), PostgreSQL 15, git, flock, jq,
# python3 and free loopback ports in 20000-32000. Prints one ok/FAIL line
# per check and exits 1 when any check failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lib_require_root
for tool in git flock; do
	command -v "$tool" >/dev/null || {
		echo "FAIL \"$tool\" is needed"
		exit 1
	}
done
PGC=$(lib_bin) || exit 1

tmp=$(lib_tmpdir) || exit 1
loop_pid=""
teardown() {
	# A loop still running is stopped first, so it does not restart servers.
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
read -r p1 p2 p3 <<<"$(echo $ports)"
st=$tmp/.pgconverge

# topology FILE SETTINGS [WINDOW] [EXTRA_NODE] - a primary and a replica;
# SETTINGS go inside settings: {...} after max_connections.
topology() {
	local file=$1 settings=$2 window=${3:-Sun 02:00-04:00 UTC} extra=${4:-}
	cat >"$file" <<EOF
version: 1
clusters:
  main:
    postgres: {version: 15}
    primary: pg1
    nodes:
      pg1: {host: 127.0.0.1, port: $p1, data_dir: data/pg1}
      pg2: {host: 127.0.0.1, port: $p2, data_dir: data/pg2}
$extra
    initdb: {locale: C.UTF-8, encoding: UTF8}
    settings: {max_connections: 30, $settings}
    replication: {user: replicator, slots: true}
    hba:
      - {type: host, database: replication, user: replicator, address: 127.0.0.1/32, method: trust}
    maintenance: {restart: window, window: "$window"}
EOF
}
pg3_line="      pg3: {host: 127.0.0.1, port: $p3, data_dir: data/pg3}"

# start_loop OUT_PREFIX ARGS... - runs pgconverge in the background; $loop_pid.
start_loop() {
	local prefix=$1
	shift
	"$PGC" "$@" >"$prefix.out" 2>"$prefix.err" &
	loop_pid=$!
}
# stop_loop SIGNAL - signals the loop and waits for it; its exit code in $rc.
stop_loop() {
	local i
	kill "-$1" "$loop_pid" 2>/dev/null
	for i in $(seq 1 300); do
		kill -0 "$loop_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$loop_pid" 2>/dev/null; then
		rc=timeout
		kill -KILL "$loop_pid"
	else
		wait "$loop_pid"
		rc=$?
	fi
	loop_pid=""
}
status_is() { lib_json "$st/status.json" "$1"; }
# json_lines_any FILE EXPR - true when EXPR holds for d = one of FILE's JSON lines.
json_lines_any() {
	python3 -c 'import json, sys
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if isinstance(d, dict) and eval(sys.argv[2]):
        sys.exit(0)
sys.exit(1)' "$@" 2>/dev/null
}
pass_of() { jq -r '.pass' "$st/status.json" 2>/dev/null; }
actions_done() { jq -r '.totals.actions_done' "$st/status.json" 2>/dev/null; }
# after_pass N EXPR - true once a pass later than N has written a status where EXPR holds.
after_pass() { [ "$(pass_of)" -gt "$1" ] 2>/dev/null && status_is "$2"; }

# --- --once on a fresh topology -----------------------------------------------

topology topology.yaml "shared_buffers: 16MB, work_mem: 8MB"
lib_run once1 reconcile --once -f topology.yaml
lib_expect_rc "--once on a fresh topology converges" once1 0
check "--once: both servers answer" lib_sql_is "$p2" "SELECT pg_is_in_recovery()" t
check "--once: the replica streams" \
	lib_sql_is "$p1" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 1
check "status.json: outcome converged, 0 pending, the file's digest" status_is \
	'd["last_pass"]["outcome"] == "converged" and d["last_pass"]["exit_code"] == 0 and d["pending"] == [] and d["mode"] == "once" and d["source"]["kind"] == "file" and d["source"]["digest"].startswith("sha256:") and d["next_pass_at"] is None and d["last_pass"]["actions_done"] >= 8'
check "status.json: the cluster's window is closed and opens next Sunday 02:00" status_is \
	'd["clusters"]["main"]["maintenance"]["open"] is False and d["clusters"]["main"]["maintenance"]["next_open_at"].endswith("T02:00:00Z")'
check "pgconverge.prom: outcome converged" \
	grep -qx 'pgconverge_reconcile_last_pass_outcome{outcome="converged"} 1' "$st/pgconverge.prom"
check "pgconverge.prom: one converged pass counted" \
	grep -qx 'pgconverge_reconcile_passes_total{outcome="converged"} 1' "$st/pgconverge.prom"
check "pgconverge.prom: HELP and TYPE for every metric" test \
	"$(grep -c '^# TYPE ' "$st/pgconverge.prom")" = "$(grep -c '^# HELP ' "$st/pgconverge.prom")"
check "status files are readable by node_exporter's user (0644)" test \
	"$(stat -c %a "$st/status.json") $(stat -c %a "$st/pgconverge.prom")" = "644 644"
check "the log says the pass converged" grep -q "info: pass 1 converged: [0-9]* actions done" once1.err

lib_run once2 reconcile --once -f topology.yaml
lib_expect_rc "--once again: still converged" once2 0
check "the counters carry over from run to run" \
	grep -qx 'pgconverge_reconcile_passes_total{outcome="converged"} 2' "$st/pgconverge.prom"

# --- the lock ----------------------------------------------------------------------

cp "$st/status.json" status.before
flock "$st/lock" sleep 4 &
holder=$!
sleep 0.5
lib_run locked reconcile --once -f topology.yaml
lib_expect_rc "--once while another process holds the lock exits 4" locked 4
check "locked: the message says so" grep -q 'is locked by another run' locked.err
check "locked: status.json left alone" cmp -s status.before "$st/status.json"
start=$SECONDS
lib_run waited reconcile --once -f topology.yaml --wait-lock 10s
lib_expect_rc "--wait-lock 10s waits for the lock, then converges" waited 0
check "--wait-lock waited for the holder (>= 2 s)" test $((SECONDS - start)) -ge 2
wait "$holder"
lib_run waitapply apply -f topology.yaml --wait-lock 5s
lib_expect_rc "apply --wait-lock: the lock is free, converged" waitapply 0
lib_run badwait reconcile --once -f topology.yaml --wait-lock soon
lib_expect_rc "--wait-lock with a bad duration is a usage error" badwait 64

# --- the loop: drift repair, a second loop, SIGTERM -----------------------------------

start_loop loop1 reconcile -f topology.yaml --interval 1s
check "loop: the first pass converges" lib_wait 30 after_pass 0 'd["last_pass"]["outcome"] == "converged" and d["mode"] == "interval"'
check "loop: the pid file names the loop" test "$(cat "$st/reconcile.pid" 2>/dev/null)" = "$loop_pid"
lib_run second reconcile -f topology.yaml --interval 1s
lib_expect_rc "a second loop on the same state directory exits 4" second 4
check "second loop: names the first one's pid" grep -q "another reconcile loop runs on state directory .* (pid $loop_pid)" second.err
lib_run between reconcile --once -f topology.yaml --wait-lock 10s
lib_expect_rc "--once runs between the loop's passes" between 0

before=$(actions_done)
lib_stop_server data/pg2
start=$SECONDS
if lib_wait 30 lib_sql_is "$p2" "SELECT pg_is_in_recovery()" t; then
	ok "loop: a replica stopped by hand is running again after $((SECONDS - start)) s"
else
	fail "loop: the stopped replica was not restarted within 30 s"
fi
check "loop: the replica streams again" lib_wait 30 \
	lib_sql_is "$p1" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 1
check "loop: status.json counts the repair" lib_wait 10 test "$(actions_done)" -gt "$before"

lib_sql "$p1" "ALTER SYSTEM SET work_mem = '64MB'" && lib_sql "$p1" "SELECT pg_reload_conf()" >/dev/null
start=$SECONDS
if lib_wait 30 lib_sql_is "$p1" "SHOW work_mem" 8MB; then
	ok "loop: ALTER SYSTEM drift reset after $((SECONDS - start)) s"
else
	fail "loop: work_mem is $(lib_sql "$p1" "SHOW work_mem"), expected 8MB after 30 s"
fi
check "loop: postgresql.auto.conf no longer sets work_mem" lib_wait 10 \
	lib_sql_is "$p1" "SELECT count(*) FROM pg_file_settings WHERE name = 'work_mem' AND sourcefile LIKE '%auto.conf'" 0

# A new replica; SIGTERM while pg_basebackup runs: the clone ends, nothing
# after it runs. Some data makes the clone last long enough to be caught.
lib_sql "$p1" "CREATE TABLE filler AS SELECT repeat('x', 1000) AS t FROM generate_series(1, 60000)"
# clone_started - the journal has the clone's start line (compact JSON, in field order).
clone_started() {
	local i
	for i in $(seq 1 1500); do
		grep -q '"action":"main/pg3/clone".*"event":"start"' "$st/journal.jsonl" && return 0
		sleep 0.02
	done
	return 1
}
topology topology.yaml "shared_buffers: 16MB, work_mem: 8MB" "Sun 02:00-04:00 UTC" "$pg3_line"
if clone_started; then
	stop_loop TERM
	check "SIGTERM: the loop exits 0" test "$rc" = 0
	check "SIGTERM: the clone in progress finished" \
		json_lines_any "$st/journal.jsonl" 'd.get("action") == "main/pg3/clone" and d.get("outcome") == "ok"'
	check "SIGTERM: the actions after it were not run" \
		json_lines_any "$st/journal.jsonl" 'd.get("action") == "main/pg3/start" and d.get("outcome") == "skipped" and "asked to stop" in d.get("error", "")'
	check "SIGTERM: pg3 is not running" test ! -e "/var/run/postgresql/.s.PGSQL.$p3"
	check "SIGTERM: status.json says the pass was cut short" status_is \
		'd["last_pass"]["outcome"] == "interrupted" and d["pending"] != []'
	check "SIGTERM: logged" grep -q "info: stopped by SIGTERM after [0-9]* passes" loop1.err
	check "SIGTERM: the pid file is emptied" test ! -s "$st/reconcile.pid"
	check "SIGTERM: the state lock is free" flock -n "$st/lock" true
else
	fail "the loop did not start cloning pg3 within 30 s"
	lib_show loop1
	stop_loop TERM
fi
lib_run once3 reconcile --once -f topology.yaml
lib_expect_rc "the next run finishes what the stopped one left" once3 0
check "pg3 streams" lib_wait 30 \
	lib_sql_is "$p1" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2

# --- SIGHUP, JSON logs and a restart waiting for the maintenance window ------------

start_loop loop2 reconcile -f topology.yaml --interval 1h --log-format json
check "hourly loop: the first pass converges" lib_wait 30 after_pass 0 \
	'd["last_pass"]["outcome"] == "converged" and d["next_pass_reason"] == "interval"'
check "hourly loop: the next pass is an hour away" status_is \
	'__import__("datetime").datetime.strptime(d["next_pass_at"], "%Y-%m-%dT%H:%M:%SZ").timestamp() - __import__("time").time() > 3500'
topology topology.yaml "shared_buffers: 16MB, work_mem: 12MB" "Sun 02:00-04:00 UTC" "$pg3_line"
sleep 1.2
check "without SIGHUP: the hourly loop has not seen the change" lib_sql_is "$p1" "SHOW work_mem" 8MB
kill -HUP "$loop_pid"
check "SIGHUP: the changed topology is live at once" lib_wait 15 lib_sql_is "$p1" "SHOW work_mem" 12MB

# A window that opens at the next minute: the restart waits for it, then runs.
[ "$(date -u +%S)" -gt 45 ] && sleep $((62 - $(date -u +%S)))
open_at=$(date -u -d "+1 min" +%H:%M)
close_at=$(date -u -d "+20 min" +%H:%M)
open_epoch=$(date -u -d "$(date -u +%F) $open_at" +%s)
[ "$open_epoch" -lt "$(date +%s)" ] && open_epoch=$((open_epoch + 86400))
pass=$(pass_of)
topology topology.yaml "work_mem: 16MB, shared_buffers: 24MB" "daily $open_at-$close_at UTC" "$pg3_line"
kill -HUP "$loop_pid"
if lib_wait 15 after_pass "$pass" 'd["last_pass"]["outcome"] == "blocked"'; then
	ok "SIGHUP: a restart outside the window leaves the pass blocked"
	check "blocked: the reloadable change is live already" lib_sql_is "$p1" "SHOW work_mem" 16MB
	check "blocked: shared_buffers waits" lib_sql_is "$p1" "SHOW shared_buffers" 16MB
	check "status.json: each restart waits for the window, with its reason" status_is \
		'len([a for a in d["pending"] if a["action"] == "restart" and a["blocked"] and a["waiting_for"] == "maintenance_window" and a["blocked_reason"].startswith("outside the maintenance window") and a["window"] == "daily '"$open_at-$close_at"' UTC"]) == 3'
	check "status.json: when the window opens" status_is \
		'all(a["window_opens_at"] == __import__("time").strftime("%Y-%m-%dT%H:%M:00Z", __import__("time").gmtime('"$open_epoch"')) for a in d["pending"])'
	check "status.json: the next pass is when the window opens" status_is \
		'd["next_pass_reason"] == "maintenance_window" and d["next_pass_at"] == d["pending"][0]["window_opens_at"]'
	check "pgconverge.prom: 3 blocked actions, window closed" \
		grep -qx 'pgconverge_reconcile_blocked_actions 3' "$st/pgconverge.prom"
	check "pgconverge.prom: the window's opening time" \
		grep -qx "pgconverge_maintenance_window_next_open_timestamp_seconds{cluster=\"main\"} $open_epoch" "$st/pgconverge.prom"
	if lib_wait 100 lib_sql_is "$p1" "SHOW shared_buffers" 24MB; then
		ok "the restart ran once the window opened ($(($(date +%s) - open_epoch)) s after)"
	else
		fail "shared_buffers is still $(lib_sql "$p1" "SHOW shared_buffers") 40 s after the window opened"
	fi
	check "after the window opened: converged, nothing pending" lib_wait 60 status_is \
		'd["last_pass"]["outcome"] == "converged" and d["pending"] == []'
	check "the replicas were restarted too" lib_sql_is "$p3" "SHOW shared_buffers" 24MB
else
	fail "the pass after SIGHUP is not blocked"
	jq . "$st/status.json"
fi
check "--log-format json: every log line is a JSON object" python3 -c '
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines
for l in lines:
    json.loads(l)' loop2.err
check "--log-format json: the pass lines carry outcome and pass fields" \
	json_lines_any loop2.err 'd.get("outcome") == "blocked" and d.get("pass", "").isdigit()'
stop_loop INT
check "SIGINT: the loop exits 0" test "$rc" = 0

# --- a git source: new commits, and an unreachable remote ----------------------------

repo=$tmp/repo
git init -q -b main "$repo"
git -C "$repo" config user.email ops@example.com
git -C "$repo" config user.name ops
topology "$repo/pgconverge.yaml" "work_mem: 16MB, shared_buffers: 24MB" "daily $open_at-$close_at UTC" "$pg3_line"
# The data directories are relative to the file: the same as topology.yaml's.
git -C "$repo" add pgconverge.yaml
git -C "$repo" commit -q -m "as deployed"
c1=$(git -C "$repo" rev-parse HEAD)
start_loop loop3 reconcile --git "file://$repo" --ref main --state-dir "$st" --interval 1s
check "git loop: converged on the first commit" lib_wait 30 status_is \
	'd["last_pass"]["outcome"] == "converged" and d["source"]["commit"] == "'"$c1"'" and d["source"]["stale"] is False'
topology "$repo/pgconverge.yaml" "work_mem: 20MB, shared_buffers: 24MB" "daily $open_at-$close_at UTC" "$pg3_line"
git -C "$repo" commit -q -am "raise work_mem"
c2=$(git -C "$repo" rev-parse HEAD)
pass=$(pass_of)
check "git loop: a new commit is live within two passes" lib_wait 15 lib_sql_is "$p1" "SHOW work_mem" 20MB
check "git loop: ... and it took at most two passes" test "$(($(pass_of) - pass))" -le 2
check "git loop: status.json has the new commit" lib_wait 5 status_is 'd["source"]["commit"] == "'"$c2"'"'
check "git loop: the log names the new commit" grep -q "source: commit ${c2:0:12} (ref main, pgconverge.yaml): \"raise work_mem\"" loop3.err
mv "$repo" "$repo.away"
pass=$(pass_of)
check "remote gone: the loop goes on with the last fetched commit" lib_wait 15 after_pass "$((pass + 1))" \
	'd["last_pass"]["outcome"] == "converged" and d["source"]["stale"] is True and d["source"]["commit"] == "'"$c2"'"'
check "remote gone: a warning in the log" grep -q "warning: .*cannot fetch \"file://$repo\"" loop3.err
check "remote gone: pgconverge.prom says the source is stale" \
	grep -qx 'pgconverge_reconcile_source_stale 1' "$st/pgconverge.prom"
mv "$repo.away" "$repo"
check "remote back: not stale any more" lib_wait 15 status_is 'd["source"]["stale"] is False'
stop_loop TERM
check "git loop: SIGTERM exits 0" test "$rc" = 0

lib_finish test_reconcile_loop
