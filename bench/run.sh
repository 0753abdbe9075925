#!/bin/sh
# bench/run.sh - every benchmark, each printing its figures with their ratio
# to a baseline measured in the same run. `make bench` runs it.
#
#   1. loading and validating generated topologies of growing size, against
#      libyaml's bare parse of the same file (bench_load.c);
#   2. `pgconverge plan` on converged clusters of 3 and 30 nodes, against
#      `psql -c 'select 1'` to every node at once (noop_plan.sh);
#   3. `pgconverge apply` from nothing to 3 streaming nodes, against a bare
#      shell script of the same steps (bootstrap.sh);
#   4. `pgconverge wal-push` per 16 MB segment (none, gzip, zstd), against
#      `cp` + `sync` of the same segments (wal_push.sh);
#   5. a point-in-time restore by `pgconverge apply`, against the bare steps
#      with the same wal-fetch (pitr.sh).
#   6. automatic failover by `reconcile`: kill -9 of the primary to the first
#      write on the new one, for detect_after 1s, 2s, 5s (failover.sh);
#   7. the write gap of `apply --allow-switchover` under pgbench (switchover.sh);
#   8. the RSS of `reconcile --interval 50ms` after 10, 100, 1,000 passes
#      (reconcile_rss.sh). 6 to 8 print figures against their targets, not ratios.
#   9. `plan --offline` of 1,000 nodes x 2,000 hba rules, time and peak RSS,
#      against `validate --offline` of the same file (offline_plan.sh; no server);
#  10. HAProxy: pgbench -S through it against direct, kill -9 to the first
#      write through write_port (haproxy.sh);
#  11. PgBouncer: select-only through it against direct (ratio), the switchover
#      stall and the kill -9 to first write through it (pgbouncer.sh);
#  12. Pgpool-II: pgbench -S through it against direct (ratio), kill -9 of the
#      primary to the first write through it and to the promotion (pgpool.sh);
#  13. the monitoring figures: `status --format prometheus` against the no-op
#      `plan`, and the latency of the reconcile loop's /metrics for 30 nodes
#      (metrics.sh);
#  14. agents on several hosts coordinated through etcd against Patroni 3.0
#      (installed with apt-get when missing): kill -9 of the primary's
#      postmaster and of its whole host, to the first committed write
#      (agents.sh);
#  15. a standby cluster following an automatic failover of its source:
#      kill -9 of the source's primary to the row and the stream on the
#      standby leader, against the source's own first write (standby_follow.sh);
#  16. the write gap of a region switch (swapping standby_of) under pgbench
#      (region_switch.sh).
#
# 2 to 8 and 10 to 16 start real servers and need root; see bench/README.md.
set -eu
cd "$(dirname "$0")/.."
make -s build/libpgconverge.a pgconverge
out=build/bench
mkdir -p "$out"
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -O2 -I. -Ibuild/gen $(pkg-config --cflags yaml-0.1 jansson libpq) \
	-o "$out/bench_load" bench/bench_load.c build/libpgconverge.a \
	$(pkg-config --libs yaml-0.1 jansson libpq libgit2) -lm -lpthread
for spec in "1 10" "10 100" "20 100"; do
	# shellcheck disable=SC2086 # two numbers, split on purpose
	set -- $spec
	f="$out/topology-$1x$2.yaml"
	sh bench/gen_topology.sh "$1" "$2" > "$f"
	echo "== $1 clusters x $2 nodes"
	"$out/bench_load" "$f" 10
done
# Each server bench cleans up after itself; one failing does not stop the others.
rc=0
bash bench/noop_plan.sh || rc=1
bash bench/bootstrap.sh || rc=1
bash bench/wal_push.sh || rc=1
bash bench/pitr.sh || rc=1
bash bench/failover.sh || rc=1
bash bench/switchover.sh || rc=1
bash bench/haproxy.sh || rc=1
bash bench/pgbouncer.sh || rc=1
bash bench/pgpool.sh || rc=1
bash bench/reconcile_rss.sh || rc=1
bash bench/offline_plan.sh || rc=1
bash bench/metrics.sh || rc=1
bash bench/agents.sh || rc=1
bash bench/standby_follow.sh || rc=1
bash bench/region_switch.sh || rc=1
exit $rc
