#!/bin/sh
# examples/run-quickstart.sh - `make run`: validates examples/quickstart.yaml,
# shows the plan, applies it and prints the status. Running it again on a
# converged cluster plans zero actions. Stop the servers with
#   sh examples/stop-quickstart.sh
set -eu
cd "$(dirname "$0")/.."
topology=examples/quickstart.yaml

./pgconverge validate -f "$topology"
echo
set +e
./pgconverge plan -f "$topology"
rc=$?
set -e
[ "$rc" -le 2 ] || exit "$rc"
echo
./pgconverge apply -f "$topology"
echo
./pgconverge status -f "$topology"
