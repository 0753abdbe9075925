#!/bin/sh
# bench/run.sh - loading and validating generated topologies of growing size;
# each figure is printed with its ratio to libyaml's bare parse of the same
# file, measured in the same run. `make bench` runs it.
set -eu
cd "$(dirname "$0")/.."
make -s build/libpgconverge.a
out=build/bench
mkdir -p "$out"
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -O2 -I. -Ibuild/gen $(pkg-config --cflags yaml-0.1 jansson libpq) \
	-o "$out/bench_load" bench/bench_load.c build/libpgconverge.a \
	$(pkg-config --libs yaml-0.1 jansson libpq libgit2) -lm -lpthread
for spec in "1 10" "10 100" "20 100"; do
	set -- $spec
	f="$out/topology-$1x$2.yaml"
	sh bench/gen_topology.sh "$1" "$2" > "$f"
	echo "== $1 clusters x $2 nodes"
	"$out/bench_load" "$f" 10
done
