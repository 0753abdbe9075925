#!/usr/bin/env bash
# bench/bootstrap.sh - time from nothing to a primary and two streaming
# replicas: `pgconverge apply` against a bare shell script of the same steps
# (initdb, start, two pg_basebackup, start both), measured in the same run.
#
#   bash bench/bootstrap.sh          (as root; BENCH_REPS=N, default 3)
#
# Each repetition runs both, in alternating order, each on fresh folders and
# fresh loopback ports below 32000, with the same initdb options and a small
# shared_buffers. Both clocks stop when the primary's pg_stat_replication
# shows two streaming replicas (the same psql poll for both). Prints every
# repetition, the medians and the ratio (target <= 1.1), then where the
# time went: pgconverge's actions (from its journal) and the script's steps.
# Every server is stopped by the pid in its postmaster.pid when the script
# ends, whatever the reason.
set -u

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
reps=${BENCH_REPS:-3}
target=1.1

bench_start bootstrap
bench_ports $((reps * 6)) || exit 1
# The socket folder, as pgconverge would create it; the bare script needs it too.
if [ ! -d "$BENCH_SOCKET_DIR" ]; then
	install -d -o postgres -g postgres -m 2775 "$BENCH_SOCKET_DIR" || exit 1
fi

# The baseline: the bare steps, run as postgres. Prints each step's
# milliseconds on stderr (EPOCHREALTIME: no extra process).
cat >"$tmp/bare.sh" <<'EOF'
#!/usr/bin/env bash
# bare.sh DIR PORT1 PORT2 PORT3 - a primary and two streaming replicas.
set -eu
bin=/usr/lib/postgresql/15/bin
d=$1 p1=$2 p2=$3 p3=$4
t=${EPOCHREALTIME/./}
step() {
	local now=${EPOCHREALTIME/./}
	echo "$1 $(((now - t) / 1000))" >&2
	t=$now
}
"$bin/initdb" -D "$d/n1" -U postgres --encoding=UTF8 --locale=C.UTF-8 --data-checksums >/dev/null 2>&1
cat >>"$d/n1/postgresql.conf" <<CONF
port = $p1
listen_addresses = '127.0.0.1'
unix_socket_directories = '/var/run/postgresql'
shared_buffers = 16MB
max_connections = 20
CONF
step initdb
"$bin/pg_ctl" start -w -D "$d/n1" -l "$d/n1.log" >/dev/null
step start-primary
"$bin/pg_basebackup" -D "$d/n2" -h 127.0.0.1 -p "$p1" -U postgres -X stream -c fast -R -C -S n2
step pg_basebackup-n2
"$bin/pg_basebackup" -D "$d/n3" -h 127.0.0.1 -p "$p1" -U postgres -X stream -c fast -R -C -S n3
step pg_basebackup-n3
"$bin/pg_ctl" start -w -D "$d/n2" -o "-p $p2" -l "$d/n2.log" >/dev/null
step start-n2
"$bin/pg_ctl" start -w -D "$d/n3" -o "-p $p3" -l "$d/n3.log" >/dev/null
step start-n3
EOF

# wait_streaming PORT - until the primary on PORT has two streaming replicas (60 s).
wait_streaming() {
	local n
	for _ in $(seq 1 1200); do
		n=$(runuser -u postgres -- "$BENCH_PG_BIN/psql" -X -At -h "$BENCH_SOCKET_DIR" -p "$1" -d postgres \
			-c "select count(*) from pg_stat_replication where state = 'streaming'" 2>/dev/null)
		[ "$n" = 2 ] && return 0
		sleep 0.05
	done
	return 1
}

# run_bare R - repetition R of the bare script, on its last 3 ports; sets
# elapsed to the microseconds to two streaming replicas.
run_bare() {
	local d=$tmp/bare$1
	set -- "${ports[@]:$1 * 6 + 3:3}"
	install -d -o postgres -g postgres -m 700 "$d"
	bench_time wait_streaming "$1" runuser -u postgres -- bash "$tmp/bare.sh" "$d" "$1" "$2" "$3" \
		2>"$d.steps" >"$d.out" || {
		echo "bootstrap: the bare script failed (exit $rc):"
		tail -n 20 "$d.out" "$d.steps" "$d"/n*.log 2>/dev/null
		return 1
	}
	bench_stop_servers "$d" && rm -rf "$d"
}

# run_pgc R - the same with `pgconverge apply`, on the first 3 ports; the
# journal stays for the report.
run_pgc() {
	local d=$tmp/pgc$1
	set -- "${ports[@]:$1 * 6:3}"
	mkdir -p "$d"
	chmod 755 "$d"
	cat >"$d/topology.yaml" <<EOF
version: 1
clusters:
  boot:
    primary: n1
$(bench_nodes data "$@")
    initdb: {locale: C.UTF-8, encoding: UTF8, data_checksums: true}
    settings: {shared_buffers: 16MB, max_connections: 20}
    replication: {user: replicator, slots: true}
EOF
	bench_time wait_streaming "$1" "$PGC" apply -v -f "$d/topology.yaml" >"$d/apply.out" 2>"$d/apply.err" || {
		echo "bootstrap: pgconverge apply failed (exit $rc):"
		grep -v ' debug: ' "$d/apply.err" | tail -n 20
		return 1
	}
	bench_stop_servers "$d" && rm -rf "$d/data"
}

echo "== bootstrap: nothing to 3 streaming nodes ($reps repetitions)"
# Where the time went, after the figures: the bare steps, and pgconverge's
# actions from its journal (independent ones overlap: "actions" is the time
# from the first start to the last end) plus the part outside them (load,
# observe, plan, the final observation).
bench_paired "$reps" "bare script" "$target" span || exit 1
