#!/bin/sh
# tests/schema/run.sh - checks schema/topology.schema.json with a real JSON
# Schema validator and its agreement with `pgconverge validate`.
# Used by `make schema-test` (after ./pgconverge is built).
#
#   sh tests/schema/run.sh                  schema half + agreement half
#   sh tests/schema/run.sh --schema-only    schema half only
#   sh tests/schema/run.sh FILE...          lint topology files with the schema
#
# 1. installs Ajv and a YAML parser into tests/schema/node_modules from the
#    committed lock file (npm ci), only when they are missing or the lock
#    file changed;
# 2. examples/*.yaml and tests/schema/good/*.yaml must be valid, and
#    tests/schema/bad/*.yaml invalid for the reason named on their first line;
# 3. ./pgconverge validate -f FILE must exit 0 on every valid case and 1 on
#    every invalid one.
# The last line is "N passed, N failed"; the exit status is 1 on any failure.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "FAIL    node and npm are needed for the schema test" >&2
	echo "  hint: run 'make deps'" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

stamp="$here/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ] ||
   [ ! -d "$here/node_modules/ajv" ] || [ ! -d "$here/node_modules/yaml" ]; then
	if ! npm ci --prefix "$here" --prefer-offline --no-audit --no-fund --loglevel=error >&2; then
		echo "FAIL    npm ci in tests/schema failed" >&2
		echo "  hint: the npm registry must be reachable the first time; later runs use the cache" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
fi

exec node "$here/check.mjs" "$@"
