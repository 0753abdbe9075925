# shellcheck shell=bash
# tests/integration/lib_netns.sh - "hosts" as network namespaces, for tests
# that cut the network between machines. Source it after lib.sh:
#
#   . "$top/tests/integration/lib.sh"
#   . "$top/tests/integration/lib_netns.sh"
#   netns_require                      # prints "SKIP ..." and exits 0 when
#                                      # namespaces cannot be created
#   trap 'netns_teardown; lib_teardown "$tmp"' EXIT
#   netns_setup 3                      # hosts 1..3 on one switch
#   netns_exec 1 CMD ARGS...           # runs a program inside host 1
#   netns_cut 3; netns_heal 3          # host 3 off the switch, back on
#   netns_split "1 2" "3"              # two switches: 1 and 2, 3 alone
#   netns_heal_all                     # everyone back on the first switch
#
# netns_setup N creates N namespaces pgc-PID-h1 .. pgc-PID-hN (PID: the
# test's $$, so tests running side by side never collide) and a switch
# namespace pgc-PID-sw holding a Linux bridge br0. Each host gets a veth
# pair, created inside the switch namespace (port pI there, eth0 in the
# host), an address 198.18.X.(10+I)/24 from 198.18.0.0/15 (the range set
# aside for network tests; X derived from PID) and lo up. The addresses
# are in the array NETNS_ADDR[1..N], the namespace names in NETNS_NAME[1..N].
# Nothing in the root namespace changes but the namespaces themselves.
#
# Processes started through netns_exec that outlive it (servers, agents)
# stay in their namespace; netns_teardown ends every process still inside
# (ip netns pids: TERM, then KILL after 5 s) and deletes the namespaces,
# which removes the veths and the bridge with them. It is safe to call
# more than once, and from an EXIT trap.
#
# Files and the unix socket folder are shared with the root namespace (ip
# netns exec only changes the network and remounts /sys), so a server
# inside a host still logs to the test's temp folder, and servers in
# different hosts need different ports (their sockets share
# /var/run/postgresql). The root namespace has no route to the hosts: reach
# them from inside one (netns_exec), or over the unix socket.

NETNS_PREFIX=pgc-$$
NETNS_SWITCH=$NETNS_PREFIX-sw
# shellcheck disable=SC2034 # read by the tests that source this file
declare -a NETNS_ADDR=() NETNS_NAME=()
netns_count=0
netns_subnet=

# netns_require - prints "SKIP <script>: ..." and exits 0 when this process
# may not create network namespaces, veth pairs or bridges (not root, no ip,
# a container without CAP_SYS_ADMIN or without those drivers).
netns_require() {
	local probe=$NETNS_PREFIX-probe
	if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
		echo "SKIP $(basename "$0"): network namespaces need root and iproute2"
		exit 0
	fi
	if ! ip netns add "$probe" 2>/dev/null; then
		echo "SKIP $(basename "$0"): 'ip netns add' is not permitted here"
		exit 0
	fi
	if ! ip -n "$probe" link add name pa type veth peer name pb 2>/dev/null ||
		! ip -n "$probe" link add name pbr type bridge 2>/dev/null; then
		ip netns del "$probe" 2>/dev/null
		echo "SKIP $(basename "$0"): veth pairs or bridges cannot be created here"
		exit 0
	fi
	ip netns del "$probe" 2>/dev/null
	return 0
}

# netns_subnet_of PID - the first three octets of the /24 for PID: one of
# the 512 /24s of 198.18.0.0/15.
netns_subnet_of() {
	echo "198.$((18 + ($1 / 256) % 2)).$(($1 % 256))"
}

# netns_reap_stale - removes namespaces left by earlier runs of these
# tests (pgc-PID-*) whose PID no longer runs: a test killed by SIGKILL
# cannot run its trap.
netns_reap_stale() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		case $ns in pgc-*-h* | pgc-*-sw) ;; *) continue ;; esac
		pid=${ns#pgc-}
		pid=${pid%%-*}
		case $pid in '' | *[!0-9]*) continue ;; esac
		[ "$pid" = $$ ] && continue
		kill -0 "$pid" 2>/dev/null && continue
		netns_kill_inside "$ns"
		ip netns del "$ns" 2>/dev/null
	done
}

# netns_setup N - N hosts on one switch; sets NETNS_ADDR and NETNS_NAME.
# Returns 1 (with the failing command's message) when a step fails; the
# teardown then removes whatever was created.
netns_setup() {
	local n=$1 i ns
	netns_reap_stale
	netns_subnet=$(netns_subnet_of $$)
	ip netns add "$NETNS_SWITCH" || return 1
	ip -n "$NETNS_SWITCH" link set lo up &&
		ip -n "$NETNS_SWITCH" link add name br0 type bridge &&
		ip -n "$NETNS_SWITCH" link set br0 up || return 1
	for ((i = 1; i <= n; i++)); do
		ns=$NETNS_PREFIX-h$i
		ip netns add "$ns" || return 1
		netns_count=$i
		NETNS_NAME[i]=$ns
		NETNS_ADDR[i]=$netns_subnet.$((10 + i))
		# Both ends are born in the switch namespace; eth0 moves to the host.
		ip -n "$NETNS_SWITCH" link add name "p$i" type veth peer name eth0 netns "$ns" &&
			ip -n "$NETNS_SWITCH" link set "p$i" master br0 &&
			ip -n "$NETNS_SWITCH" link set "p$i" up &&
			ip -n "$ns" link set lo up &&
			ip -n "$ns" addr add "${NETNS_ADDR[i]}/24" dev eth0 &&
			ip -n "$ns" link set eth0 up || return 1
	done
	# The bridge forwards at once (no STP learning delay).
	ip -n "$NETNS_SWITCH" link set br0 type bridge forward_delay 0 stp_state 0 2>/dev/null
	return 0
}

# netns_exec I CMD ARGS... - runs a program inside host I (argv, no shell).
netns_exec() {
	local i=$1
	shift
	ip netns exec "$NETNS_PREFIX-h$i" "$@"
}

# netns_etcd_start I DIR NAME CLIENT_URL PEER_URL [INITIAL [EXTRA...]] -
# lib_etcd_start run inside host I (a bash sourcing lib.sh, the arguments
# passed as argv). The member's pid file and log are where lib_etcd_start
# puts them, so lib_etcd_stop works from the root namespace.
netns_etcd_start() {
	local i=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner bash, from its argv
	netns_exec "$i" bash -c '. "$1"; shift; lib_etcd_start "$@"' netns-etcd \
		"$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
}

# netns_cut I - host I off the switch (its bridge port down): it reaches
# no other host and no other host reaches it; its own processes go on.
netns_cut() {
	ip -n "$NETNS_SWITCH" link set "p$1" down
}

# netns_heal I - host I back on the first switch, its port up.
netns_heal() {
	ip -n "$NETNS_SWITCH" link set "p$1" master br0 &&
		ip -n "$NETNS_SWITCH" link set "p$1" up
}

# netns_split "I J ..." "K ..." [...] - one switch per group: hosts reach
# the hosts of their group only. netns_heal_all undoes it.
netns_split() {
	local g=0 group i br
	for group in "$@"; do
		br=br$g
		if ! ip -n "$NETNS_SWITCH" link show "$br" >/dev/null 2>&1; then
			ip -n "$NETNS_SWITCH" link add name "$br" type bridge forward_delay 0 stp_state 0 &&
				ip -n "$NETNS_SWITCH" link set "$br" up || return 1
		fi
		for i in $group; do
			ip -n "$NETNS_SWITCH" link set "p$i" master "$br" &&
				ip -n "$NETNS_SWITCH" link set "p$i" up || return 1
		done
		g=$((g + 1))
	done
}

# netns_heal_all - every host on the first switch, every port up.
netns_heal_all() {
	local i
	for ((i = 1; i <= netns_count; i++)); do
		netns_heal "$i" || return 1
	done
}

# netns_kill_inside NS - every process in namespace NS: TERM, then KILL
# after 5 s for those still there.
netns_kill_inside() {
	local ns=$1 pids
	pids=$(ip netns pids "$ns" 2>/dev/null)
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086 # a list of pids
	kill -TERM $pids 2>/dev/null
	for _ in $(seq 1 50); do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] || return 0
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	for _ in $(seq 1 20); do
		[ -n "$(ip netns pids "$ns" 2>/dev/null)" ] || return 0
		sleep 0.1
	done
}

# netns_list - the namespaces of this test that exist now, one a line.
netns_list() {
	ip netns list 2>/dev/null | awk -v p="$NETNS_PREFIX-" 'index($1, p) == 1 { print $1 }'
}

# netns_teardown - ends every process inside this test's namespaces and
# deletes them (hosts first, then the switch). Safe to call twice.
netns_teardown() {
	local ns pids=()
	for ns in $(netns_list); do
		[ "$ns" = "$NETNS_SWITCH" ] && continue
		netns_kill_inside "$ns" &
		pids+=($!)
	done
	# Only these jobs: the test may still have others of its own.
	[ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"
	for ns in $(netns_list); do
		ip netns del "$ns" 2>/dev/null
	done
	netns_count=0
	NETNS_ADDR=()
	# shellcheck disable=SC2034
	NETNS_NAME=()
	return 0
}
