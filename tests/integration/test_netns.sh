#!/usr/bin/env bash
# tests/integration/test_netns.sh - the network-namespace harness
# (lib_netns.sh) that the partition tests stand on:
#   1. three hosts on one switch, each with a 198.18.0.0/15 address (none in
#      the root namespace): every host reaches every other over TCP;
#   2. a real etcd started inside host 1 serves hosts 2 and 3 (a key written
#      from one is read from the other);
#   3. host 3 cut off: it no longer reaches etcd while host 2 still does;
#      healed: it does again. The same with a split "1 2" | "3";
#   4. the teardown ends every process inside, leaves no namespace of the
#      test, and can run twice.
#
# Needs root; prints a SKIP line and exits 0 when `ip netns add` is not
# permitted. Takes a few seconds.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/lib_netns.sh"
lib_require_root
netns_require

tmp=$(lib_tmpdir) || exit 1
cleanup() {
	netns_teardown
	lib_etcd_stop_all "$tmp"
	lib_teardown "$tmp"
}
trap cleanup EXIT

ports=$(lib_free_ports 3) || {
	echo "FAIL no free ports"
	exit 1
}
# shellcheck disable=SC2086 # three numbers, split on purpose
set -- $ports
etcd_port=$1 peer_port=$2 web_port=$3

# reaches FROM ADDR PORT - a TCP connection from host FROM to ADDR:PORT
# within 1 s. (Not tried from the root namespace: a sandbox may accept any
# outgoing connection there.)
reaches() {
	local from=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner bash, from its argv
	timeout 1 ip netns exec "${NETNS_NAME[from]}" bash -c 'exec 3<>"/dev/tcp/$1/$2"' reach "$@" 2>/dev/null
}
# etcd_from I - etcd's /version answers host I within 1 s.
etcd_from() {
	netns_exec "$1" curl -fsS -m 1 "http://${NETNS_ADDR[1]}:$etcd_port/version" >/dev/null 2>&1
}

# 1. Three hosts.
if netns_setup 3; then ok "netns_setup 3: $(netns_list | tr '\n' ' ')"; else fail "netns_setup 3"; exit 1; fi
case ${NETNS_ADDR[1]} in
198.18.* | 198.19.*) ok "host addresses in 198.18.0.0/15: ${NETNS_ADDR[*]}" ;;
*) fail "host addresses ${NETNS_ADDR[*]} outside 198.18.0.0/15" ;;
esac
check "lo is up inside a host" netns_exec 2 bash -c 'ip -o link show lo | grep -q "state UNKNOWN\|UP"'
if ip -o addr show | grep -q "$netns_subnet\."; then
	fail "a host address appears in the root namespace"
else
	ok "no host address in the root namespace"
fi

mkdir -p "$tmp/www"
web_pids=()
for i in 1 2 3; do
	netns_exec "$i" python3 -m http.server --bind "${NETNS_ADDR[i]}" --directory "$tmp/www" "$web_port" \
		>"$tmp/web$i.log" 2>&1 &
	web_pids+=($!)
done
for i in 1 2 3; do
	lib_wait 5 reaches "$i" "${NETNS_ADDR[i]}" "$web_port" || fail "listener in host $i did not come up"
done
for i in 1 2 3; do
	for j in 1 2 3; do
		[ "$i" = "$j" ] && continue
		check "host $i reaches host $j over TCP" reaches "$i" "${NETNS_ADDR[j]}" "$web_port"
	done
done

# 2. etcd inside host 1.
if netns_etcd_start 1 "$tmp" e1 "http://${NETNS_ADDR[1]}:$etcd_port" "http://${NETNS_ADDR[1]}:$peer_port"; then
	ok "etcd started inside host 1"
else
	fail "etcd inside host 1"
	exit 1
fi
etcd_pid=$(cat "$tmp/e1.etcd.pid")
if ip netns pids "${NETNS_NAME[1]}" | grep -qx "$etcd_pid"; then
	ok "etcd's process is in host 1's namespace"
else
	fail "etcd (pid $etcd_pid) is not in host 1's namespace"
fi
check "etcd reachable from host 2" etcd_from 2
check "etcd reachable from host 3" etcd_from 3
key=$(printf 'netns-test' | base64) val=$(printf 'from-host-2' | base64)
netns_exec 2 curl -fsS -m 2 -X POST -d "{\"key\":\"$key\",\"value\":\"$val\"}" \
	"http://${NETNS_ADDR[1]}:$etcd_port/v3/kv/put" >/dev/null 2>&1
got=$(netns_exec 3 curl -fsS -m 2 -X POST -d "{\"key\":\"$key\"}" \
	"http://${NETNS_ADDR[1]}:$etcd_port/v3/kv/range" 2>/dev/null | jq -r '.kvs[0].value // empty' | base64 -d 2>/dev/null)
if [ "$got" = from-host-2 ]; then ok "a key put from host 2 is read from host 3"; else fail "host 3 read '$got'"; fi

# 3. Cut and heal; split and heal.
netns_cut 3
if etcd_from 3; then fail "host 3 still reaches etcd after netns_cut 3"; else ok "cut: host 3 no longer reaches etcd"; fi
check "cut: host 2 still reaches etcd" etcd_from 2
reaches 3 "${NETNS_ADDR[2]}" "$web_port" && fail "cut: host 3 still reaches host 2"
netns_heal 3
if lib_wait 3 etcd_from 3; then ok "healed: host 3 reaches etcd again"; else fail "healed: host 3 does not reach etcd"; fi

netns_split "1 2" "3"
if etcd_from 3; then fail "split: host 3 still reaches etcd"; else ok "split 1 2 | 3: host 3 no longer reaches etcd"; fi
check "split: host 2 still reaches etcd" etcd_from 2
netns_heal_all
if lib_wait 3 etcd_from 3; then ok "heal_all: host 3 reaches etcd again"; else fail "heal_all: host 3 does not"; fi

# 4. Teardown. The processes inside, by their pids in the namespaces (the
# background jobs above are subshells in the root namespace).
inside=$(for ns in $(netns_list); do ip netns pids "$ns"; done)
netns_teardown
left=$(ip netns list | awk -v p="pgc-$$-" 'index($1, p) == 1')
if [ -z "$left" ]; then ok "no namespace of the test remains"; else fail "left after teardown: $left"; fi
alive=""
for p in $inside; do
	# A zombie has ended (etcd's parent, the shell inside host 1, is gone:
	# it waits for pid 1 to reap it).
	case $(ps -o stat= -p "$p" 2>/dev/null) in '' | Z*) continue ;; esac
	alive="$alive $p($(ps -o comm= -p "$p"))"
done
n_inside=$(echo "$inside" | wc -w)
if [ -z "$alive" ] && [ "$n_inside" -ge 4 ]; then
	ok "the teardown ended every process inside ($n_inside: etcd and three listeners)"
else fail "still running:$alive"; fi
wait "${web_pids[@]}" 2>/dev/null
check "a second teardown is harmless" netns_teardown

lib_finish test_netns
