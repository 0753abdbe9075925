#!/bin/sh
# examples/stop-quickstart.sh - stops the quickstart servers started by
# `make run` (pg_ctl stop as the postgres user). The data stays under data/.
set -eu
cd "$(dirname "$0")/.."
for node in pg3 pg2 pg1; do
	dir="$PWD/data/main/$node"
	[ -f "$dir/postmaster.pid" ] || continue
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl stop -D "$dir" -m fast
	else
		/usr/lib/postgresql/15/bin/pg_ctl stop -D "$dir" -m fast
	fi
done
