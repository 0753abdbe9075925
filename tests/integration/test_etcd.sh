#!/usr/bin/env bash
# tests/integration/test_etcd.sh - the etcd v3 client (reconcile/coord/etcd.c)
# against real etcd members, through tests/integration/etcd_driver.c (built
# here with the Makefile's flags, linked against build/libpgconverge.a):
#   1. put, get, prefix get, binary values, delete;
#   2. a transaction "create if absent" succeeds once, fails for a second caller;
#   3. leases: keep-alive keeps the keys, they vanish once the lease expires,
#      revoke deletes them at once, keep-alive of an expired lease says 0;
#   4. watch: returns on a change made by etcdctl, quietly after its wait;
#   5. failover: the first endpoint a closed port, the second answers;
#   6. authentication: right password, wrong password (a clear error without
#      the password), an expired token renewed;
#   7. TLS: a CA, a server certificate and a client certificate (openssl).
# Then one sequence under valgrind (PGC_SKIP_VALGRIND=1 skips it).
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
lib_require_root
for tool in etcd etcdctl openssl curl; do
	command -v "$tool" >/dev/null || { echo "FAIL \"$tool\" is needed"; exit 1; }
done

tmp=$(lib_tmpdir) || exit 1
watch_pid=
silent_pid=
cleanup() {
	[ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
	[ -n "$silent_pid" ] && kill "$silent_pid" 2>/dev/null
	lib_etcd_stop_all "$tmp"
	lib_teardown "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- the driver ---------------------------------------------------------------
PKGS="jansson libcrypto libcurl"
if ! make -s build/libpgconverge.a >"$tmp/make.log" 2>&1; then
	cat "$tmp/make.log" >&2
	echo "FAIL build the library"
	exit 1
fi
# CC and SAN as the library was built with them (make sanitize sets both).
# shellcheck disable=SC2086,SC2046
if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -O2 -g ${SAN:-} -I. -Ibuild/gen \
	$(pkg-config --cflags $PKGS) -o "$tmp/etcd_driver" tests/integration/etcd_driver.c \
	build/libpgconverge.a $(pkg-config --libs $PKGS) -lm -lpthread; then
	echo "FAIL build etcd_driver"
	exit 1
fi

ports=$(lib_free_ports 6) || { echo "FAIL no free ports"; exit 1; }
# shellcheck disable=SC2086
set -- $ports
p_client=$1 p_peer=$2 p_closed=$3 p_tls=$4 p_tls_peer=$5 p_silent=$6
url=http://127.0.0.1:$p_client
tls_url=https://127.0.0.1:$p_tls
export ETCDCTL_API=3

# A token unused for 1 s expires: step 6 checks that the client renews it.
lib_etcd_start "$tmp" plain "$url" "http://127.0.0.1:$p_peer" "" --auth-token-ttl 1 || {
	echo "FAIL start etcd"
	exit 1
}
drv() { "$tmp/etcd_driver" -e "$url" "$@"; }
# is NAME EXPECTED COMMAND...: ok when the command's output is EXPECTED.
is() {
	local name=$1 want=$2 got
	shift 2
	got=$("$@" 2>"$tmp/err")
	if [ "$got" = "$want" ]; then ok "$name"; else
		fail "$name"
		echo "#   expected: $want" >&2
		echo "#   got:      $got $(cat "$tmp/err")" >&2
	fi
}

# like NAME PATTERN COMMAND...: ok when the command's output matches the shell pattern.
like() {
	local name=$1 want=$2 got
	shift 2
	got=$("$@" 2>"$tmp/err")
	# shellcheck disable=SC2053
	if [[ $got == $want ]]; then ok "$name"; else
		fail "$name"
		echo "#   expected: $want" >&2
		echo "#   got:      $got $(cat "$tmp/err")" >&2
	fi
}

# --- 1. keys -------------------------------------------------------------------
is "put then get" "ok
found v1 create=2 mod=2 lease=0" drv put pgc/c/a v1 , get pgc/c/a
is "a key that does not exist" "absent" drv get pgc/c/none
drv put pgc/c/b v2 , put pgc/d x , put pgc/c0 y >/dev/null
is "prefix get: sorted, only the prefix" "2 keys
pgc/c/a=v1
pgc/c/b=v2" drv prefix pgc/c/
is "binary value round trip" "same" drv binary pgc/bin
is "etcdctl reads what the client put" "v1" etcdctl --endpoints="$url" get --print-value-only pgc/c/a
is "delete, twice" "ok
ok
absent" drv del pgc/c/a , del pgc/c/a , get pgc/c/a

# --- 2. transactions -------------------------------------------------------------
first=$(drv create pgc/c/leader h1)
case $first in "succeeded "*) ok "create-if-absent succeeds for the first caller" ;;
*) fail "create-if-absent succeeds for the first caller ($first)" ;; esac
rev=${first#succeeded }
is "... and fails for the second" "failed" drv create pgc/c/leader h2
is "... the first caller's value stays, create_revision is the txn's revision" \
	"found h1 create=$rev mod=$rev lease=0" drv get pgc/c/leader
is "compare-and-swap on the value" "failed" drv cas pgc/c/leader h2 h3
case $(drv cas pgc/c/leader h1 h3) in "succeeded "*) ok "compare-and-swap with the right value" ;;
*) fail "compare-and-swap with the right value" ;; esac

# --- 3. leases -------------------------------------------------------------------
lease=$(drv grant 2)
drv put pgc/l/a 1 "$lease" , put pgc/l/b 2 "$lease" >/dev/null
case $(drv get pgc/l/a) in "found 1 create="*" lease=$lease") ok "keys under a lease carry it" ;;
*) fail "keys under a lease carry it" ;; esac
for _ in 1 2 3 4 5 6; do
	ttl=$(drv keepalive "$lease")
	sleep 0.5
done
check "keep-alive renews the lease (ttl $ttl)" [ "${ttl:-0}" -ge 1 ]
is "kept alive past its TTL, the keys are there" "2 keys
pgc/l/a=1
pgc/l/b=2" drv prefix pgc/l/
gone() { [ "$(drv prefix pgc/l/)" = "0 keys" ]; }
t0=$SECONDS
check "without keep-alive the keys vanish when the lease expires" lib_wait 6 gone
check "... not before it could (after $((SECONDS - t0)) s)" [ $((SECONDS - t0)) -ge 1 ]
is "keep-alive of the expired lease says 0" "0" drv keepalive "$lease"
is "put under the expired lease is refused" "" drv put pgc/l/c 3 "$lease"
check "... with etcd's reason" grep -q "requested lease not found" "$tmp/err"
lease=$(drv grant 30)
drv put pgc/l/a 1 "$lease" >/dev/null
is "revoke deletes the keys at once" "ok
0 keys" drv revoke "$lease" , prefix pgc/l/
is "revoking it again is not an error" "ok" drv revoke "$lease"

# --- 4. watch ----------------------------------------------------------------------
now=$(drv put pgc/w/base 0 >/dev/null; etcdctl --endpoints="$url" get pgc/w/base -w json | jq -r .header.revision)
(sleep 0.7; etcdctl --endpoints="$url" put pgc/w/x changed >/dev/null) &
watch_pid=$!
out=$(drv watch pgc/w/ $((now + 1)) 5000)
wait "$watch_pid"
watch_pid=
case $out in
"changed $((now + 1)) ms="*)
	ms=${out##*ms=}
	check "watch returns on etcdctl's change (${ms} ms)" [ "$ms" -ge 500 ] && [ "$ms" -lt 3000 ] ;;
*) fail "watch returns on etcdctl's change ($out)" ;;
esac
out=$(drv watch pgc/w/ $((now + 2)) 600)
case $out in
"quiet ms="*)
	ms=${out##*ms=}
	check "watch without a change returns quietly after its wait (${ms} ms)" [ "$ms" -ge 550 ] && [ "$ms" -lt 1500 ] ;;
*) fail "watch without a change returns quietly ($out)" ;;
esac
is "watch from a past revision returns at once" "changed $((now + 1))" \
	sh -c "'$tmp/etcd_driver' -e '$url' watch pgc/w/ $now 5000 | cut -d' ' -f1,2"

# --- 5. endpoints ------------------------------------------------------------------
is "first endpoint closed: the second answers" "found changed create=$((now + 1)) mod=$((now + 1)) lease=0
ok" "$tmp/etcd_driver" -e "http://127.0.0.1:$p_closed" -e "$url" get pgc/w/x , put pgc/w/y 1
"$tmp/etcd_driver" -e "http://127.0.0.1:$p_closed" get pgc/w/x >/dev/null 2>"$tmp/err"
rc=$?
check "only a closed endpoint: exit 2 (unreachable)" [ "$rc" = 2 ]
check "... the error names the endpoint" grep -q "on http://127.0.0.1:$p_closed: " "$tmp/err"
# An endpoint that accepts connections and never answers (as a member cut
# off from the others does): a read is asked again of the next endpoint
# within the call's timeout; a write went out, so it is not sent again
# elsewhere (it may have been applied), but the next call starts with the
# next endpoint.
# The system's python3: a version manager's shim may take seconds to start.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
held = []
while True:
    held.append(s.accept()[0])' "$p_silent" &
silent_pid=$!
lib_wait 15 sh -c "ss -Hltn 'sport = :$p_silent' | grep -q ." || fail "start a silent listener"
silent=http://127.0.0.1:$p_silent
t0=$(date +%s%N)
out=$("$tmp/etcd_driver" -t 1000 -e "$silent" -e "$url" get pgc/w/x 2>"$tmp/err")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "a silent endpoint: a read is answered by the next one within its timeout (${ms} ms)" \
	[ "$out" = "found changed create=$((now + 1)) mod=$((now + 1)) lease=0" ] && [ "$ms" -lt 1500 ]
t0=$(date +%s%N)
out=$("$tmp/etcd_driver" -t 800 -e "$silent" -e "$url" put pgc/w/z 1 , get pgc/w/z 2>"$tmp/err")
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "... a write fails after its timeout (exit $rc, ${ms} ms)" [ "$rc" = 2 ] && [ "$ms" -lt 2500 ]
check "... saying it timed out" grep -qi "put \"pgc/w/z\" on $silent: .*timed out" "$tmp/err"
check "... it was not sent to the next endpoint, where the next call goes" [ "$out" = "absent" ]
kill "$silent_pid" 2>/dev/null
silent_pid=

# --- 6. authentication -------------------------------------------------------------
password='s3cr3t-Pa55'
printf '%s\n' "$password" | etcdctl --endpoints="$url" user add root --interactive=false >/dev/null 2>&1
export ETCD_DRIVER_PASSWORD=$password
# A client with a user, on an etcd without authentication yet: it works
# without a token, and authenticates once etcd asks for it.
(sleep 0.7; etcdctl --endpoints="$url" auth enable >/dev/null 2>&1) &
watch_pid=$!
like "a user while etcd does not authenticate, then does" "ok
found x create=* lease=0" drv -u root put pgc/auth0 x , sleep 2000 , get pgc/auth0
wait "$watch_pid"
watch_pid=
like "authentication: the right password" "ok
found a create=* lease=0" drv -u root put pgc/auth a , get pgc/auth
like "an expired token is renewed" "ok
found b create=* lease=0" drv -u root sleep 2500 , put pgc/auth b , get pgc/auth
is "a watch with an expired token renews it" "quiet" \
	sh -c "'$tmp/etcd_driver' -e '$url' -u root get pgc/auth , sleep 2500 , watch pgc/auth 0 300 | tail -n 1 | cut -d' ' -f1"
ETCD_DRIVER_PASSWORD=wrong-$password drv -u root get pgc/auth >/dev/null 2>"$tmp/err"
rc=$?
check "the wrong password is refused (exit 3)" [ "$rc" = 3 ]
check "... with a clear error" grep -q 'authenticate as "root" on .*authentication failed' "$tmp/err"
check "... that holds no password" sh -c "! grep -q -e '$password' -e 'wrong-' '$tmp/err'"
drv get pgc/auth >/dev/null 2>"$tmp/err"
check "no user: refused" [ $? = 3 ]
unset ETCD_DRIVER_PASSWORD
etcdctl --endpoints="$url" --user "root:$password" auth disable >/dev/null 2>&1

# --- 7. TLS --------------------------------------------------------------------------
pki=$tmp/pki
mkdir -p "$pki"
(
	cd "$pki" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj "/CN=pgc test CA"
	openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1"
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >server.ext
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -out server.crt -extfile server.ext
	openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=root"
	printf 'extendedKeyUsage=clientAuth\n' >client.ext
	openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -out client.crt -extfile client.ext
) >"$tmp/openssl.log" 2>&1 || { cat "$tmp/openssl.log" >&2; fail "make the certificates"; }
# lib_etcd_start's readiness check is curl without options: a .curlrc gives
# it the CA and the client certificate etcd demands.
printf 'cacert = "%s"\ncert = "%s"\nkey = "%s"\n' "$pki/ca.crt" "$pki/client.crt" "$pki/client.key" \
	>"$pki/.curlrc"
if CURL_HOME=$pki lib_etcd_start "$tmp" tls "$tls_url" "http://127.0.0.1:$p_tls_peer" "" \
	--cert-file "$pki/server.crt" --key-file "$pki/server.key" \
	--trusted-ca-file "$pki/ca.crt" --client-cert-auth; then
	tls=("$tmp/etcd_driver" -e "$tls_url" --ca "$pki/ca.crt")
	is "TLS with a client certificate" "ok
found t create=2 mod=2 lease=0" "${tls[@]}" --cert "$pki/client.crt" --key "$pki/client.key" put pgc/tls t , get pgc/tls
	"${tls[@]}" get pgc/tls >/dev/null 2>"$tmp/err"
	check "TLS without the client certificate fails" [ $? -ne 0 ]
	"$tmp/etcd_driver" -e "$tls_url" --cert "$pki/client.crt" --key "$pki/client.key" get pgc/tls \
		>/dev/null 2>"$tmp/err"
	check "TLS without the CA: the server is not trusted" [ $? = 2 ]
	"$tmp/etcd_driver" -e "$tls_url" --ca "$pki/none.crt" get pgc/tls >/dev/null 2>"$tmp/err"
	check "an unreadable CA file is a configuration error" grep -q 'cannot read the CA file' "$tmp/err"
else
	fail "start etcd with TLS"
fi

# --- valgrind --------------------------------------------------------------------------
if [ -z "${PGC_SKIP_VALGRIND:-}" ] && command -v valgrind >/dev/null; then
	lease=$(drv grant 60)
	if valgrind -q --leak-check=full --error-exitcode=99 "$tmp/etcd_driver" -e "http://127.0.0.1:$p_closed" \
		-e "$url" put pgc/v 1 "$lease" , get pgc/v , prefix pgc/ , create pgc/v2 x , keepalive "$lease" , \
		watch pgc/v 0 200 , revoke "$lease" >/dev/null 2>"$tmp/valgrind.log"; then
		ok "the client under valgrind: no error, no leak"
	else
		fail "the client under valgrind"
		tail -n 30 "$tmp/valgrind.log" >&2
	fi
fi

lib_finish test_etcd
