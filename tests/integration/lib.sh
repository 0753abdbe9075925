# shellcheck shell=bash
# tests/integration/lib.sh - helpers shared by the integration scripts that
# run real PostgreSQL servers. Source it from bash:
#
#   . "$(dirname "$0")/lib.sh"
#   lib_require_root
#   tmp=$(lib_tmpdir)
#   trap 'lib_teardown "$tmp"' EXIT
#
# Fixtures may use runuser (psql as postgres); the product must not need it.
# Checks print one line each: "ok   ..." or "FAIL ..."; lib_finish exits 1
# when any check failed.

LIB_PG_BIN=/usr/lib/postgresql/15/bin
LIB_SOCKET_DIR=/var/run/postgresql
lib_fails=0
lib_passes=0

ok() {
	lib_passes=$((lib_passes + 1))
	echo "ok   $*"
}
fail() {
	lib_fails=$((lib_fails + 1))
	echo "FAIL $*"
}
# check NAME COMMAND... - ok when the command succeeds.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else fail "$name"; fi
}
# lib_finish NAME - the summary line and the exit code.
lib_finish() {
	if [ "$lib_fails" -ne 0 ]; then
		echo "$1: $lib_fails check(s) failed, $lib_passes passed"
		exit 1
	fi
	echo "$1: all $lib_passes checks passed"
	exit 0
}

lib_require_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "FAIL $(basename "$0") must run as root (servers run as postgres)"
		exit 1
	fi
	local tool
	for tool in ss jq runuser python3; do
		command -v "$tool" >/dev/null || {
			echo "FAIL \"$tool\" is needed"
			exit 1
		}
	done
}

# lib_bin - the pgconverge binary (PGC_BIN or ./pgconverge), absolute.
lib_bin() {
	local b=${PGC_BIN:-./pgconverge}
	case $b in /*) ;; *) b=$(pwd)/$b ;; esac
	if [ ! -x "$b" ]; then
		echo "FAIL no pgconverge binary at '$b' (run 'make pgconverge' or set PGC_BIN)" >&2
		return 1
	fi
	echo "$b"
}

# lib_tmpdir - a new temp folder that postgres can traverse (mode 755).
lib_tmpdir() {
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/pgc-it.XXXXXX") || return 1
	chmod 755 "$d"
	echo "$d"
}

# lib_free_ports N - N distinct loopback TCP ports in 20000-31999 that
# nobody listens on (ss -ltn) and that have no socket file either, one a line.
lib_free_ports() {
	local want=$1 got="" p tries=0
	while [ "$(echo $got | wc -w)" -lt "$want" ]; do
		tries=$((tries + 1))
		[ $tries -gt 500 ] && return 1
		p=$((20000 + RANDOM % 12000))
		case " $got " in *" $p "*) continue ;; esac
		ss -Hltn "sport = :$p" | grep -q . && continue
		[ -e "$LIB_SOCKET_DIR/.s.PGSQL.$p" ] && continue
		got="$got $p"
	done
	printf '%s\n' $got
}

# lib_node_ports N - N free ports (lib_free_ports) in the global associative
# array port: port[pg1] .. port[pgN]. Exits with a FAIL line when there are
# not enough.
lib_node_ports() {
	local ports p i=1

	ports=$(lib_free_ports "$1") || {
		echo "FAIL no free ports in 20000-32000"
		exit 1
	}
	declare -gA port
	for p in $ports; do
		port[pg$i]=$p
		i=$((i + 1))
	done
}

# lib_pidfile_pid DATA_DIR - the postmaster pid in postmaster.pid, or nothing.
lib_pidfile_pid() {
	local pid
	[ -f "$1/postmaster.pid" ] || return 1
	pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null)
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	echo "$pid"
}

# lib_stop_server DATA_DIR - stops the postmaster of DATA_DIR by its pid:
# SIGTERM, then after 10 s SIGKILL to its process group (pg_ctl starts the
# postmaster in a session of its own, so the group is the server's only).
lib_stop_server() {
	local pid
	pid=$(lib_pidfile_pid "$1") || return 0
	# Only a postmaster whose working folder is this data directory.
	[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$(readlink -f "$1")" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
}

# lib_kill_under DIR - SIGKILL to every process whose command line names a
# path under DIR (a pooler, an agent, etcd ... the test started), and to the
# process group of each that leads its own (Pgpool-II's children carry no
# path). The last resort of a teardown: it works from the process table, so
# also when DIR's pid files are gone.
lib_kill_under() {
	local top=$1 d pid args
	[ -n "$top" ] && [ "$top" != / ] || return 0
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[ "$pid" = $$ ] && continue
		mapfile -d '' args 2>/dev/null <"$d/cmdline" || continue # it may be gone
		case " ${args[*]}" in *" $top/"* | *"=$top/"*) ;; *) continue ;; esac
		if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
			kill -KILL -- "-$pid" 2>/dev/null
		fi
		kill -KILL "$pid" 2>/dev/null
	done
}

# lib_teardown DIR - stops every postmaster whose postmaster.pid is under
# DIR (standbys first: a primary's shutdown waits for its walsenders), kills
# what still names DIR (lib_kill_under), then removes DIR. Safe to call more
# than once, and when DIR is already gone.
lib_teardown() {
	local top=$1 f d standbys="" others=""
	[ -n "$top" ] || return 0
	if [ ! -d "$top" ]; then
		lib_kill_under "$top"
		return 0
	fi
	while IFS= read -r f; do
		d=$(dirname "$f")
		if [ -f "$d/standby.signal" ]; then standbys="$standbys $d"; else others="$others $d"; fi
	done < <(find "$top" -name postmaster.pid 2>/dev/null)
	for d in $standbys; do lib_stop_server "$d" & done
	wait
	for d in $others; do lib_stop_server "$d" & done
	wait
	lib_kill_under "$top"
	if [ -n "${LIB_KEEP:-}" ]; then
		echo "kept $top"
	else
		rm -rf "$top"
	fi
}

# lib_etcd_start DIR NAME CLIENT_URL PEER_URL [INITIAL_CLUSTER [EXTRA...]] -
# starts a real etcd member NAME with its data in DIR/NAME.etcd and its log in
# DIR/NAME.etcd.log, serving clients on CLIENT_URL (e.g.
# http://127.0.0.1:23790) and peers on PEER_URL. INITIAL_CLUSTER defaults to
# NAME=PEER_URL (a single member); EXTRA arguments go to etcd as they are.
# Its pid goes into DIR/NAME.etcd.pid (lib_etcd_stop, lib_etcd_stop_all).
# Waits up to 20 s for /health; returns 1 (with the log's tail) otherwise.
lib_etcd_start() {
	local dir=$1 name=$2 curl_=$3 purl=$4 initial=${5:-$2=$4} pid
	shift 5 2>/dev/null || shift $#
	etcd --name "$name" --data-dir "$dir/$name.etcd" \
		--listen-client-urls "$curl_" --advertise-client-urls "$curl_" \
		--listen-peer-urls "$purl" --initial-advertise-peer-urls "$purl" \
		--initial-cluster "$initial" --initial-cluster-state new \
		--initial-cluster-token "pgc-${LIB_ETCD_TOKEN:-$name}-$$" "$@" >"$dir/$name.etcd.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/$name.etcd.pid"
	# For lib_etcd_restart: the same member, the same arguments (NUL-separated).
	printf '%s\0' "$curl_" "$purl" "$initial" "$@" >"$dir/$name.etcd.args"
	# A member serves clients only once its cluster has a quorum: the
	# members of a cluster are started side by side, without waiting
	# (LIB_ETCD_NOWAIT set; lib_etcd_cluster_start waits for them).
	[ -n "${LIB_ETCD_NOWAIT:-}" ] && return 0
	for _ in $(seq 1 200); do
		if curl -fsS -m 1 "$curl_/version" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "etcd $name did not start:" >&2
	tail -n 20 "$dir/$name.etcd.log" >&2
	return 1
}

# lib_etcd_stop DIR NAME - stops the etcd member NAME started by
# lib_etcd_start (SIGTERM, SIGKILL after 5 s).
lib_etcd_stop() {
	local pid
	pid=$(cat "$1/$2.etcd.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}

# lib_etcd_restart DIR NAME - starts the member NAME stopped by lib_etcd_stop
# again, with the arguments and the data folder it had (its data says which
# cluster it belongs to: the --initial-* arguments no longer count).
lib_etcd_restart() {
	local args=()
	mapfile -d '' args <"$1/$2.etcd.args" || return 1
	lib_etcd_start "$1" "$2" "${args[@]}"
}

# lib_etcd_cluster_start DIR N [ADDR] - a real etcd cluster of N members e1 ..
# eN on ADDR (default 127.0.0.1), each through lib_etcd_start (so
# lib_etcd_stop DIR eI, lib_etcd_restart DIR eI and lib_etcd_stop_all work on
# them), with ports from lib_free_ports. Sets LIB_ETCD_URLS (the client URLs,
# an array indexed 1..N) and LIB_ETCD_ENDPOINTS (the same, comma-separated).
# Waits up to 30 s until every member reports itself healthy (a leader was
# elected); returns 1 otherwise.
lib_etcd_cluster_start() {
	local dir=$1 n=$2 addr=${3:-127.0.0.1} ports i initial="" p
	declare -ga LIB_ETCD_URLS=()
	declare -a peer=()
	ports=$(lib_free_ports $((2 * n))) || return 1
	for ((i = 1; i <= n; i++)); do
		p=$(echo "$ports" | sed -n "$((2 * i - 1))p")
		LIB_ETCD_URLS[i]=http://$addr:$p
		p=$(echo "$ports" | sed -n "$((2 * i))p")
		peer[i]=http://$addr:$p
		initial="$initial${initial:+,}e$i=${peer[i]}"
	done
	# shellcheck disable=SC2034 # for the caller
	LIB_ETCD_ENDPOINTS=$(
		IFS=,
		echo "${LIB_ETCD_URLS[*]}"
	)
	for ((i = 1; i <= n; i++)); do
		LIB_ETCD_NOWAIT=1 LIB_ETCD_TOKEN=cluster lib_etcd_start "$dir" "e$i" \
			"${LIB_ETCD_URLS[i]}" "${peer[i]}" "$initial" || return 1
	done
	lib_etcd_wait_healthy "$dir" 30 "${LIB_ETCD_URLS[@]}"
}

# lib_etcd_wait_healthy DIR SECONDS URL... - waits until the member at each
# client URL reports itself healthy (its cluster has a leader); returns 1
# (with the logs' tails) otherwise.
lib_etcd_wait_healthy() {
	local dir=$1 limit=$2 u
	shift 2
	for u in "$@"; do
		lib_wait "$limit" sh -c "curl -fsS -m 1 '$u/health' 2>/dev/null | grep -q '\"health\":\"true\"'" && continue
		echo "etcd member at $u is not healthy:" >&2
		tail -n 5 "$dir"/*.etcd.log >&2
		return 1
	done
	return 0
}

# lib_etcd_stop_all DIR - every etcd member started under DIR; for teardown.
lib_etcd_stop_all() {
	local f
	for f in "$1"/*.etcd.pid; do
		[ -e "$f" ] || continue
		lib_etcd_stop "$1" "$(basename "$f" .etcd.pid)"
	done
}

# lib_psql PORT [psql options...] - psql as postgres over the unix socket,
# unaligned tuples only; database postgres unless -d is given.
lib_psql() {
	local port=$1
	shift
	runuser -u postgres -- "$LIB_PG_BIN/psql" -h "$LIB_SOCKET_DIR" -p "$port" -d postgres -XAtq \
		-v ON_ERROR_STOP=1 "$@"
}

# lib_sql PORT SQL - one query, its output (errors to stderr).
lib_sql() {
	lib_psql "$1" -c "$2"
}

# lib_wait SECONDS COMMAND... - runs COMMAND every 0.2 s until it succeeds
# or SECONDS passed; returns its last status.
lib_wait() {
	local limit=$1 end
	shift
	end=$((SECONDS + limit))
	while :; do
		"$@" && return 0
		[ $SECONDS -ge $end ] && return 1
		sleep 0.2
	done
}

# lib_sql_is PORT SQL EXPECTED - true when the query prints EXPECTED.
lib_sql_is() {
	[ "$(lib_sql "$1" "$2" 2>/dev/null)" = "$3" ]
}

# lib_json FILE PYTHON_EXPR - true when the expression holds for d = the JSON in FILE.
lib_json() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$@" 2>/dev/null
}

# lib_run OUT_PREFIX ARGS... - runs pgconverge with ARGS; stdout in
# OUT_PREFIX.out, stderr in OUT_PREFIX.err, the exit code in $rc.
lib_run() {
	local prefix=$1
	shift
	"$PGC" "$@" >"$prefix.out" 2>"$prefix.err"
	rc=$?
}

# lib_show OUT_PREFIX - the tails of a run's output, for a FAIL line.
lib_show() {
	echo "  --- stdout (tail)"
	tail -n 25 "$1.out" 2>/dev/null | sed 's/^/  | /'
	echo "  --- stderr (tail)"
	tail -n 25 "$1.err" 2>/dev/null | sed 's/^/  | /'
}

# lib_expect_rc NAME OUT_PREFIX CODE - ok when the last lib_run exited CODE.
lib_expect_rc() {
	if [ "$rc" = "$3" ]; then
		ok "$1"
	else
		fail "$1: exit $rc, expected $3"
		lib_show "$2"
	fi
}
