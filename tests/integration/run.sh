#!/bin/sh
# tests/integration/run.sh - runs every tests/integration/test_*.sh, each with
# bash from the repository's top folder, and counts: a script passes when it
# exits 0. Used by `make integration`.
#
#   sh tests/integration/run.sh            every test
#   sh tests/integration/run.sh cli git    only tests whose name contains "cli" or "git"
#
# Environment: PGC_BIN (default ./pgconverge, made absolute) is passed on to
# the tests; PGC_TEST_TIMEOUT bounds each script (seconds, default 900).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
PGC_BIN=${PGC_BIN:-$top/pgconverge}
case $PGC_BIN in
/*) ;;
*) PGC_BIN=$(pwd)/$PGC_BIN ;;
esac
export PGC_BIN
limit=${PGC_TEST_TIMEOUT:-900}

selected() {
	[ $# -le 1 ] && return 0
	name=$1
	shift
	for pattern in "$@"; do
		case $name in *"$pattern"*) return 0 ;; esac
	done
	return 1
}

passed=0
failed=0
failures=""
for script in "$here"/test_*.sh; do
	[ -e "$script" ] || continue
	name=$(basename "$script" .sh)
	selected "$name" "$@" || continue
	echo "=== $name"
	t0=$(date +%s)
	(cd "$top" && timeout --kill-after=10 "$limit" bash "$script")
	rc=$?
	secs=$(($(date +%s) - t0))
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "=== $name: passed (${secs}s)"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		[ "$rc" -eq 124 ] && echo "=== $name: timed out after ${limit}s"
		echo "=== $name: FAILED (exit $rc, ${secs}s)"
	fi
done

[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
