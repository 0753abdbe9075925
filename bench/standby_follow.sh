#!/usr/bin/env bash
# bench/standby_follow.sh - the time for a standby cluster to follow a
# failover of its source, with `pgconverge reconcile` running.
#
#   bash bench/standby_follow.sh     (as root; BENCH_REPS=N kills, default 3)
#
# Two clusters built by one `pgconverge apply`: s (s1 primary, s2, s3;
# asynchronous replication; failover.mode auto, detect_after 2s,
# probe_interval 250ms, min_interval 1s) and x (standby_of: s; x1 the
# standby leader, streaming from s's primary through slot pgc_standby_x, x2
# cascading from x1), watched by `pgconverge reconcile --interval 1s`: the
# loop that fails s over by itself; the failover re-points x1 at s's new
# primary once it is promoted (standby clusters are a front door of their
# source: reconcile/standby/standby_follow.h), before s's old primary
# rejoins.
#
# Each repetition waits until s is steady (its primary healthy in
# status.json, the two other nodes of s and x1 streaming from it, all
# caught up), kills s's primary postmaster with SIGKILL, and measures from
# the kill:
#   (a) the first INSERT committed on s's new primary (a writer tries each
#       other node of s in turn, one psql per attempt, 20 ms apart): s's own
#       failover, the baseline;
#   (b) that row visible on x1 (polled every 20 ms once (a) is known);
#   (c) x1's pg_stat_wal_receiver streaming from the new primary's port.
# "follow after failover" is (b) - (a); the ratio is (b) / (a). From the
# journal: the promotion, the end of the automatic failover, and the end of
# a reload of x1 that a pass planned, if any (none when the failover
# re-pointed it). The killed node rejoins through
# the loop (pg_rewind) and the next repetition kills the new primary.
# Prints every repetition and the medians. Every server is stopped by the
# pid in its postmaster.pid when the script ends, whatever the reason.
set -u

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
reps=${BENCH_REPS:-3}
detect=2s
probe=250ms
interval=1s

# stop_loop - at exit, the reconcile loop goes first, by KILL: it must not
# restart the servers the cleanup stops.
loop_pid=
stop_loop() { bench_stop_pid KILL "$loop_pid"; }
bench_start standby_follow stop_loop

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# write_once PORT REP - one INSERT of row REP; true when committed.
write_once() {
	PGCONNECT_TIMEOUT=1 "$LIB_PG_BIN/psql" -X -q -h "$LIB_SOCKET_DIR" -p "$1" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 -c "insert into sf_bench values ($2, now())" >/dev/null 2>&1
}
# on_x1 REP - "rows of REP on x1|receiver status:sender port" in one connection.
on_x1() {
	PGCONNECT_TIMEOUT=1 "$LIB_PG_BIN/psql" -X -Atq -h "$LIB_SOCKET_DIR" -p "${port[x1]}" -U postgres -d postgres \
		-c "select (select count(*) from sf_bench where rep = $1) || '|' ||
		        coalesce((select status || ':' || sender_port from pg_stat_wal_receiver), '-')" 2>/dev/null
}
primary_of() {
	local n
	for n in s1 s2 s3; do [ "$(lib_sql "${port[$n]}" 'select pg_is_in_recovery()' 2>/dev/null)" = f ] && echo "$n" && return 0; done
	return 1
}
# caught_up P - every node of s and x has replayed P's current WAL position.
caught_up() {
	local lsn n
	lsn=$(lib_sql "${port[$1]}" 'select pg_current_wal_lsn()' 2>/dev/null) || return 1
	for n in s1 s2 s3 x1 x2; do
		[ "$n" = "$1" ] && continue
		lib_sql_is "${port[$n]}" "select pg_last_wal_replay_lsn() >= '$lsn'" t || return 1
	done
}
# steady P - P takes writes, s's two other nodes and x1 stream from it
# (x1 through its slot), x2 from x1, the loop calls P healthy, all caught up (120 s).
steady() {
	lib_wait 120 lib_sql_is "${port[$1]}" \
		"select count(*) from pg_stat_replication where state = 'streaming'" 3 &&
		lib_wait 30 lib_sql_is "${port[$1]}" \
			"select count(*) from pg_replication_slots where slot_name = 'pgc_standby_x' and active" 1 &&
		lib_wait 30 lib_sql_is "${port[x1]}" "select status || ':' || sender_port from pg_stat_wal_receiver" \
			"streaming:${port[$1]}" &&
		lib_wait 30 lib_sql_is "${port[x2]}" "select status || ':' || sender_port from pg_stat_wal_receiver" \
			"streaming:${port[x1]}" &&
		lib_wait 30 lib_json "$tmp/.pgconverge/status.json" \
			"d['clusters']['s']['ha']['primary'] == '$1' and d['clusters']['s']['ha']['verdict'] == 'healthy'" &&
		lib_wait 30 caught_up "$1"
}
auto_ends() { grep '"mode":"auto"' "$tmp/.pgconverge/journal.jsonl" 2>/dev/null | grep -c '"event":"end"'; }
# journal_ms TS - a journal timestamp (UTC, ISO 8601, fraction optional) as epoch ms.
journal_ms() {
	local s
	s=$(date -u -d "$1" +%s%3N 2>/dev/null) || return 1
	echo "$s"
}
# journal_marks LINE - after the journal's line LINE, as epoch ms: the
# promotion (the automatic failover's start plus its promoted - detected
# timings), the failover's end (it rejoins the old primary first), and the
# end of the first reload of x1 after it. Empty when not found.
journal_marks() {
	local j=$tmp/.pgconverge/journal.jsonl st en rl
	st=$(tail -n +"$1" "$j" | grep '"mode":"auto"' | grep '"event":"start"' | head -n 1 | jq -r .ts 2>/dev/null)
	en=$(tail -n +"$1" "$j" | grep '"mode":"auto"' | grep '"event":"end"' | head -n 1)
	rl=$(tail -n +"$1" "$j" | grep '"event":"end"' | grep '"action":"x/x1/reload"' | head -n 1 | jq -r .ts 2>/dev/null)
	pr_ms='' fo_ms='' rl_ms=''
	if [ -n "$st" ] && [ -n "$en" ] && st=$(journal_ms "$st"); then
		pr_ms=$(jq -r --argjson st "$st" '$st + .timings_ms.promoted - .timings_ms.detected' <<<"$en" 2>/dev/null)
		fo_ms=$(journal_ms "$(jq -r .ts <<<"$en")")
	fi
	[ -n "$rl" ] && [ "$rl" != null ] && rl_ms=$(journal_ms "$rl")
}
# since_kill MS - MS - t_kill, or ? when MS is empty.
since_kill() { if [ -n "$1" ] && [ "$1" != null ]; then echo "+$(($1 - t_kill)) ms"; else echo '?'; fi; }

bench_ports 5 || exit 1
declare -A port=([s1]=${ports[0]} [s2]=${ports[1]} [s3]=${ports[2]} [x1]=${ports[3]} [x2]=${ports[4]})
mkdir -p "$tmp/secrets"
chmod 700 "$tmp/secrets"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
chmod 600 "$tmp/secrets/replicator"
cat >"$tmp/topology.yaml" <<EOF
version: 1
clusters:
  s:
    primary: s1
    nodes:
      s1: {host: 127.0.0.1, port: ${port[s1]}, data_dir: data/s1, region: eu-west}
      s2: {host: 127.0.0.1, port: ${port[s2]}, data_dir: data/s2, region: eu-west}
      s3: {host: 127.0.0.1, port: ${port[s3]}, data_dir: data/s3, region: eu-west}
    settings: {shared_buffers: 16MB, max_connections: 30}
    failover: {mode: auto, detect_after: $detect, probe_interval: $probe, min_interval: 1s}
    replication:
      user: replicator
      password: {file: secrets/replicator}
  x:
    standby_of: s
    primary: x1
    nodes:
      x1: {host: 127.0.0.1, port: ${port[x1]}, data_dir: data/x1, region: us-east}
      x2: {host: 127.0.0.1, port: ${port[x2]}, data_dir: data/x2, region: us-east}
    settings: {shared_buffers: 16MB, max_connections: 30}
EOF

echo "== standby follow: kill -9 of the source's primary to the standby cluster streaming from the new one ($reps repetitions)"
t0=$(now_ms)
if ! bench_run_child "$PGC" apply -f "$tmp/topology.yaml" >"$tmp/apply.out" 2>&1; then
	echo "standby_follow: apply failed:"
	tail -n 20 "$tmp/apply.out"
	exit 1
fi
lib_sql "${port[s1]}" "create table sf_bench (rep int, t timestamptz)" >/dev/null
echo "   s: 3 nodes, failover auto (detect_after $detect, probe_interval $probe); x: standby_of s, 2 nodes;"
echo "   reconcile --interval $interval (both built by one apply in $(($(now_ms) - t0)) ms)"
"$PGC" reconcile -f "$tmp/topology.yaml" --interval "$interval" >"$tmp/loop.out" 2>"$tmp/loop.err" &
loop_pid=$!

ra=() rb=() rc_=() rf=() rj=() ru=()
p=s1
for ((r = 1; r <= reps; r++)); do
	if ! steady "$p"; then
		echo "   rep $r: s and x did not settle with $p primary; log tail:"
		tail -n 15 "$tmp/loop.err" | sed 's/^/     | /'
		break
	fi
	sleep 1 # a probe or two of the healthy primary
	# shellcheck disable=SC2034 # read by the eval below
	ends=$(auto_ends)
	jline=$(($(wc -l <"$tmp/.pgconverge/journal.jsonl") + 1))
	hline=$(($(wc -l <"$tmp/loop.err") + 1))
	cands=""
	for n in s1 s2 s3; do [ "$n" != "$p" ] && cands="$cands $n"; done
	t_kill=$(now_ms)
	kill -9 "$(lib_pidfile_pid "$tmp/data/$p")"
	t_write='' new=''
	while [ $(($(now_ms) - t_kill)) -lt 60000 ]; do
		for n in $cands; do
			if write_once "${port[$n]}" "$r"; then
				t_write=$(now_ms) new=$n
				break 2
			fi
		done
		sleep 0.02
	done
	if [ -z "$t_write" ]; then
		echo "   rep $r: no write accepted on s within 60 s; log tail:"
		tail -n 15 "$tmp/loop.err" | sed 's/^/     | /'
		break
	fi
	t_row='' t_stream=''
	while [ $(($(now_ms) - t_kill)) -lt 120000 ]; do
		v=$(on_x1 "$r")
		t=$(now_ms)
		[ -z "$t_row" ] && [ "${v%%|*}" = 1 ] && t_row=$t
		[ -z "$t_stream" ] && [ "${v#*|}" = "streaming:${port[$new]}" ] && t_stream=$t
		[ -n "$t_row" ] && [ -n "$t_stream" ] && break
		sleep 0.02
	done
	if [ -z "$t_row" ] || [ -z "$t_stream" ]; then
		echo "   rep $r: x1 did not follow $new within 120 s (row ${t_row:-no}, stream ${t_stream:-no}; x1: '$(on_x1 "$r")'); log tail:"
		tail -n 15 "$tmp/loop.err" | sed 's/^/     | /'
		break
	fi
	a=$((t_write - t_kill)) b=$((t_row - t_kill)) c=$((t_stream - t_kill))
	ra+=("$a") rb+=("$b") rc_+=("$c") rf+=("$((b - a))")
	# shellcheck disable=SC2016 # expanded by eval, at each try
	lib_wait 30 eval '[ "$(auto_ends)" -gt "$ends" ]'
	journal_marks "$jline"
	[ -n "$pr_ms" ] && [ -n "$fo_ms" ] && rj+=("$((fo_ms - pr_ms))") && ru+=("$((t_row - pr_ms))")
	marks="journal: promoted $(since_kill "$pr_ms"), failover ended $(since_kill "$fo_ms") (old primary rejoined),"
	marks="$marks a pass reloaded x1: $([ -n "$rl_ms" ] && since_kill "$rl_ms" || echo none)"
	hook=$(tail -n +"$hline" "$tmp/loop.err" | grep -o 'standby leader "x/x1" now streams from .* (\([0-9]*\) ms)' |
		head -n 1 | sed 's/.*(\([0-9]*\) ms)$/\1/')
	marks="$marks; the failover re-pointed x1: $([ -n "$hook" ] && echo "in $hook ms" || echo no)"
	printf '   rep %d: %s -> %s  (a) first write on s %5d ms  (b) row on x1 %5d ms  (c) x1 streams from %s %5d ms\n' \
		"$r" "$p" "$new" "$a" "$b" "$new" "$c"
	printf '          follow after failover (b-a) %5d ms, ratio b/a %.2f; %s\n' "$((b - a))" \
		"$(awk -v a="$a" -v b="$b" 'BEGIN { print b / a }')" "$marks"
	p=$new
done
bench_stop_pid TERM "$loop_pid"
loop_pid=
if [ ${#ra[@]} -eq 0 ]; then
	echo "   no result"
	exit 1
fi
ma=$(printf '%s\n' "${ra[@]}" | bench_median)
mb=$(printf '%s\n' "${rb[@]}" | bench_median)
mc=$(printf '%s\n' "${rc_[@]}" | bench_median)
mf=$(printf '%s\n' "${rf[@]}" | bench_median)
printf '   median of %d: (a) s failover to first write %.0f ms (baseline)  (b) row on x1 %.0f ms  (c) x1 streaming from the new primary %.0f ms\n' \
	"${#ra[@]}" "$ma" "$mb" "$mc"
printf '   follow after failover (b-a) %.0f ms; ratio b/a %.3f\n' "$mf" "$(awk -v a="$ma" -v b="$mb" 'BEGIN { print b / a }')"
if [ ${#rj[@]} -gt 0 ]; then
	printf '   of which (journal, median of %d): promotion to the failover'"'"'s end (the old primary rejoined first) %.0f ms;\n' \
		"${#rj[@]}" "$(printf '%s\n' "${rj[@]}" | bench_median)"
	printf '     the promotion to the row on x1 %.0f ms\n' \
		"$(printf '%s\n' "${ru[@]}" | bench_median)"
fi
[ ${#ra[@]} -eq "$reps" ]
