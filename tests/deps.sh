#!/bin/sh
# tests/deps.sh - installs the Debian packages pgconverge needs to build, test
# and run, and nothing when they are all present. Used by `make deps`.
set -eu

PKGS="gcc make pkg-config libyaml-dev libpq-dev libgit2-dev libjansson-dev libcmocka-dev libssl-dev
clang libclang-rt-14-dev postgresql-15 postgresql-contrib pgbouncer haproxy pgpool2 pgbadger etcd-server etcd-client libcurl4-openssl-dev libmicrohttpd-dev curl iproute2 openssl git zlib1g-dev libzstd-dev tzdata valgrind jq graphviz python3"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# Node.js and npm (for the JSON Schema test) may come from elsewhere than Debian.
if ! command -v npm >/dev/null 2>&1; then
	missing="$missing nodejs npm"
fi
if [ -z "$missing" ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "pgconverge: missing packages:$missing" >&2
	echo "  hint: run 'sudo make deps' or install them with apt-get" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
