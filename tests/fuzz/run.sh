#!/bin/sh
# tests/fuzz/run.sh - builds the loader fuzz target with libFuzzer, ASan and
# UBSan (clang) and runs it for a bounded time on a seed corpus made of the
# examples and the test files.
#
#   sh tests/fuzz/run.sh              # FUZZ_SECONDS (default 30)
#   FUZZ_SECONDS=600 sh tests/fuzz/run.sh
#
# A crash leaves its input as build/fuzz/crash-*; reproduce with
#   build/fuzz/fuzz_load build/fuzz/crash-<hash>
set -eu

cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${FUZZ_SECONDS:-30}
OUT=build/fuzz
mkdir -p "$OUT/obj" "$OUT/corpus"

if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz: clang is missing (make deps installs it)" >&2
	exit 1
fi

# Generated catalog source comes from the normal build.
make -s build/gen/pgcatalog_data.c

CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -I. -Ibuild/gen $(pkg-config --cflags yaml-0.1 libpq libgit2 jansson libcrypto zlib libzstd libmicrohttpd libcurl)"
objs=""
# A header newer than an object rebuilds them all (a struct that changed its
# layout would otherwise be read through stale offsets).
newest_h=$(ls -t common/*.h schema/*.h reconcile/*/*.h 2>/dev/null | head -n 1)
for src in common/*.c schema/*.c build/gen/pgcatalog_data.c; do
	obj="$OUT/obj/$(echo "$src" | tr '/' '_' | sed 's/\.c$/.o/')"
	if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_h" -nt "$obj" ]; then
		# shellcheck disable=SC2086
		clang $CFLAGS -c -o "$obj" "$src"
	fi
	objs="$objs $obj"
done
# shellcheck disable=SC2086
clang $CFLAGS -fsanitize=fuzzer -o "$OUT/fuzz_load" tests/fuzz/fuzz_load.c $objs \
	$(pkg-config --libs yaml-0.1 libpq libgit2 jansson libcrypto zlib libzstd libmicrohttpd libcurl) -lm -lpthread

for f in examples/*.yaml tests/unit/cases/*/*.yaml tests/schema/*/*.yaml; do
	[ -f "$f" ] && cp "$f" "$OUT/corpus/$(echo "$f" | tr '/' '_')"
done

echo "fuzz: running the loader for ${SECONDS_TO_RUN}s"
"$OUT/fuzz_load" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$OUT/" \
	-dict=tests/fuzz/topology.dict "$OUT/corpus" 2>"$OUT/fuzz.log" || {
	tail -60 "$OUT/fuzz.log" >&2
	echo "fuzz: the loader crashed; input saved under $OUT/" >&2
	exit 1
}
grep -E "stat::number_of_executed_units|Done" "$OUT/fuzz.log" | tail -2
echo "fuzz: no crash"
