#!/bin/sh
# bench/run.sh - every benchmark, each printing its figures with their ratio
# to a baseline measured in the same run. `make bench` runs it.
#
#   1. loading and validating generated topologies of growing size, against
#      libyaml's bare parse of the same file (bench_load.c);
#   2. `pgconverge plan` on converged clusters of 3 and 30 nodes, against
#      `psql -c 'select 1'` to every node at once (noop_plan.sh);
#   3. `pgconverge apply` from nothing to 3 streaming nodes, against a bare
#      shell script of the same steps (bootstrap.sh).
#
# 2 and 3 start real servers and need root; see bench/README.md.
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
# Each server bench cleans up after itself; one failing does not stop the other.
rc=0
bash bench/noop_plan.sh || rc=1
bash bench/bootstrap.sh || rc=1
exit $rc
