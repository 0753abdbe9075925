#!/bin/sh
# examples/stop-three-hosts.sh - stops what `make demo-hosts` started: the
# agents first (SIGTERM: each ends after its current action; SIGKILL after
# 30 s), so that none starts a server again, then the servers (pg_ctl stop
# as postgres), then etcd. --purge then removes the data (data/hosts/) and
# the demo folder (data/hosts-demo/: etcd's data, logs, agents' state).
set -eu
cd "$(dirname "$0")/.."
demo=$PWD/data/hosts-demo
purge=
case ${1:-} in
--purge) purge=1 ;;
'') ;;
*)
	echo "usage: sh examples/stop-three-hosts.sh [--purge]" >&2
	exit 2
	;;
esac

# stop_pidfile PIDFILE NAME SECONDS - SIGTERM, then SIGKILL after SECONDS,
# to the pid in PIDFILE when it is still NAME (the pid may have been reused).
stop_pidfile() {
	[ -f "$1" ] || return 0
	pid=$(cat "$1")
	if kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]; then
		kill -TERM "$pid"
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt $(($3 * 10)) ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null || true
		echo "stopped $2 (pid $pid)"
	fi
	rm -f "$1"
}

for host in 127.0.0.2 127.0.0.3 127.0.0.4; do
	stop_pidfile "$demo/agent-$host.pid" pgconverge 30
done
for node in pg3 pg2 pg1; do
	dir=$PWD/data/hosts/$node
	[ -f "$dir/postmaster.pid" ] || continue
	runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl stop -D "$dir" -m fast || true
done
stop_pidfile "$demo/etcd.pid" etcd 10

if [ -n "$purge" ]; then
	rm -rf "$PWD/data/hosts" "$demo"
	echo "removed data/hosts and data/hosts-demo"
fi
