#!/bin/sh
# examples/run-three-hosts.sh - `make demo-hosts`: three "hosts" on this
# machine (the loopback addresses 127.0.0.2, 127.0.0.3, 127.0.0.4), one etcd
# member on 127.0.0.1:23791 and one pgconverge agent per host, each running
# `pgconverge reconcile --as 127.0.0.X` on examples/three-hosts.yaml with its
# own state folder, as on three machines. It waits until the cluster is up
# (a primary with two streaming replicas) and prints its status.
#
#   sh examples/run-three-hosts.sh          # again: starts what is not running
#   sh examples/stop-three-hosts.sh         # stops agents, servers and etcd
#   sh examples/stop-three-hosts.sh --purge # ... and removes data and logs
#
# Everything goes under data/ (git-ignored): the servers' data in
# data/hosts/pgN, etcd's data, the pid files and the logs in data/hosts-demo/:
#   etcd.log, etcd.pid, agent-127.0.0.X.log, agent-127.0.0.X.pid,
#   state-127.0.0.X/ (the agent's journal and status.json).
# Needs root: the servers run as postgres. DEMO_WAIT=seconds bounds the wait
# (default 180).
set -eu
cd "$(dirname "$0")/.."
top=$PWD
topology=examples/three-hosts.yaml
demo=$top/data/hosts-demo
hosts="127.0.0.2 127.0.0.3 127.0.0.4"
ports="25491 25492 25493"
etcd_client=http://127.0.0.1:23791
etcd_peer=http://127.0.0.1:23792
pg_bin=/usr/lib/postgresql/15/bin
wait_s=${DEMO_WAIT:-180}

if [ "$(id -u)" != 0 ]; then
	echo "run-three-hosts: run as root (the servers run as postgres)" >&2
	exit 1
fi
for tool in etcd curl runuser setsid; do
	command -v "$tool" >/dev/null || {
		echo "run-three-hosts: \"$tool\" is needed (make deps)" >&2
		exit 1
	}
done
mkdir -p "$demo" "$top/data/hosts"
chmod 755 "$top/data" "$top/data/hosts"

./pgconverge validate -f "$topology"
echo

# running PIDFILE - true when the pid in PIDFILE is a live process.
running() {
	[ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# etcd: one member, its data in data/hosts-demo/etcd.data.
if running "$demo/etcd.pid"; then
	echo "etcd already running (pid $(cat "$demo/etcd.pid"))"
else
	setsid etcd --name demo --data-dir "$demo/etcd.data" \
		--listen-client-urls "$etcd_client" --advertise-client-urls "$etcd_client" \
		--listen-peer-urls "$etcd_peer" --initial-advertise-peer-urls "$etcd_peer" \
		--initial-cluster "demo=$etcd_peer" --initial-cluster-state new \
		>"$demo/etcd.log" 2>&1 </dev/null &
	echo $! >"$demo/etcd.pid"
	i=0
	until curl -fsS -m 1 "$etcd_client/health" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! running "$demo/etcd.pid"; then
			echo "etcd did not start; its log: $demo/etcd.log" >&2
			tail -n 20 "$demo/etcd.log" >&2
			exit 1
		fi
		sleep 0.2
	done
	echo "etcd started on $etcd_client (pid $(cat "$demo/etcd.pid"), log $demo/etcd.log)"
fi

# One agent per host. setsid: a Ctrl-C here does not reach them.
for host in $hosts; do
	pidf=$demo/agent-$host.pid
	if running "$pidf"; then
		echo "agent for $host already running (pid $(cat "$pidf"))"
		continue
	fi
	mkdir -p "$demo/state-$host"
	setsid ./pgconverge reconcile -f "$topology" --as "$host" --state-dir "$demo/state-$host" \
		>>"$demo/agent-$host.log" 2>&1 </dev/null &
	echo $! >"$pidf"
	echo "agent for $host started (pid $!, log $demo/agent-$host.log)"
done
echo

# psql_at PORT SQL - one query as postgres over the unix socket.
psql_at() {
	runuser -u postgres -- "$pg_bin/psql" -X -At -h /var/run/postgresql -p "$1" -d postgres \
		-c "$2" 2>/dev/null
}
# cluster_up - one node out of recovery with two streaming replicas.
cluster_up() {
	for port in $ports; do
		[ "$(psql_at "$port" 'select pg_is_in_recovery()')" = f ] || continue
		[ "$(psql_at "$port" "select count(*) from pg_stat_replication where state = 'streaming'")" = 2 ] &&
			return 0
	done
	return 1
}

echo "waiting up to ${wait_s}s for a primary with two streaming replicas ..."
start=$(date +%s)
until cluster_up; do
	for host in $hosts; do
		if ! running "$demo/agent-$host.pid"; then
			echo "the agent for $host exited; its log ($demo/agent-$host.log) ends with:" >&2
			tail -n 20 "$demo/agent-$host.log" >&2
			echo "stop the rest with: sh examples/stop-three-hosts.sh" >&2
			exit 1
		fi
	done
	if [ $(($(date +%s) - start)) -ge "$wait_s" ]; then
		echo "not up after ${wait_s}s; the agents keep trying. Logs:" >&2
		for host in $hosts; do echo "  $demo/agent-$host.log" >&2; done
		echo "  $demo/etcd.log" >&2
		echo "stop everything with: sh examples/stop-three-hosts.sh" >&2
		exit 1
	fi
	sleep 1
done
echo "up after $(($(date +%s) - start))s"
echo
# The whole cluster, as seen from any one host (here the first).
./pgconverge status -f "$topology" --as 127.0.0.2 || true
cat <<EOF

The agents keep running in the background:
  logs       $demo/agent-127.0.0.{2,3,4}.log, $demo/etcd.log
  status     ./pgconverge status -f $topology --as 127.0.0.2
  etcd keys  ETCDCTL_API=3 etcdctl --endpoints $etcd_client get --prefix /pgconverge-demo --keys-only
  a failover kill -9 the primary's postmaster, or the whole "host":
             kill -9 \$(cat $demo/agent-127.0.0.2.pid) \$(head -1 data/hosts/pg1/postmaster.pid)
  stop       sh examples/stop-three-hosts.sh [--purge]
EOF
