#!/usr/bin/env bash
# tests/integration/test_git.sh - topologies read from git (issue 4), on a
# throw-away repository made here with two commits:
#   - plan --offline --base reports one restart (max_connections) and one
#     reload (work_mem) with no server running, and the CI review script
#     (examples/ci/plan-review.sh) prints it as markdown;
#   - apply --git on the first commit, then plan --git on the first (no
#     changes) and on the second (the two settings), apply the second: the
#     journal records both commit ids, status the last one;
#   - a rewritten history (main reset to the first commit) is refused by
#     apply; --allow-rewind applies it;
#   - remote (file://) repositories are cloned into the state folder; a
#     missing repository, ref or path and an unreachable remote are errors;
#   - --require-signed accepts an ssh-signed commit and refuses others.
#
# Needs root (the server runs as postgres), PostgreSQL 15, git, ssh-keygen,
# jq and a free loopback port in 20000-32000. Prints one ok/FAIL line per
# check and exits 1 when any check failed.
set -u

bin=${PGC_BIN:-./pgconverge}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
top=$(cd "$(dirname "$0")/../.." && pwd)
fails=0
ok() { echo "ok   $*"; }
fail() {
	echo "FAIL $*"
	fails=$((fails + 1))
}

if [ "$(id -u)" != 0 ]; then
	echo "FAIL test_git.sh must run as root (the server runs as postgres)"
	exit 1
fi
for tool in git jq ssh-keygen ss; do
	command -v "$tool" >/dev/null || {
		echo "FAIL test_git.sh needs $tool"
		exit 1
	}
done
if [ ! -x "$bin" ]; then
	echo "FAIL no pgconverge binary at '$bin' (run 'make pgconverge' or set PGC_BIN)"
	exit 1
fi

tmp=$(mktemp -d)
chmod 755 "$tmp"
stop_server() {
	local pidfile=$1/postmaster.pid pid
	[ -f "$pidfile" ] || return 0
	pid=$(head -n 1 "$pidfile")
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}
teardown() {
	stop_server "$tmp/data/pg1"
	rm -rf "$tmp"
}
trap teardown EXIT

port=""
for _ in $(seq 1 200); do
	p=$((20000 + RANDOM % 12000))
	ss -Hltn "sport = :$p" | grep -q . && continue
	port=$p
	break
done
[ -n "$port" ] || {
	echo "FAIL no free port in 20000-32000"
	exit 1
}

# run ARGS... - runs pgconverge from $tmp; sets $rc, $out and $err.
run() {
	(cd "$tmp" && "$bin" "$@") >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}
# expect NAME CODE [TEXT_IN_STDOUT] [TEXT_IN_STDERR]
expect() {
	local name=$1 code=$2 in_out=${3:-} in_err=${4:-}

	if [ "$rc" != "$code" ]; then
		fail "$name: exit $rc, expected $code (stderr: $(head -c 400 "$tmp/err"))"
	elif [ -n "$in_out" ] && ! grep -qF -- "$in_out" "$tmp/out"; then
		fail "$name: stdout lacks '$in_out': $(head -c 400 "$tmp/out")"
	elif [ -n "$in_err" ] && ! grep -qF -- "$in_err" "$tmp/err"; then
		fail "$name: stderr lacks '$in_err': $(head -c 400 "$tmp/err")"
	else
		ok "$name"
	fi
}
# check NAME CONDITION... - a test(1) condition.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else fail "$name"; fi
}

# --- the throw-away repository: two commits -----------------------------------

repo=$tmp/repo
git init -q -b main "$repo"
git -C "$repo" config user.email ops@example.com
git -C "$repo" config user.name ops
topology() { # MAX_CONNECTIONS WORK_MEM
	cat >"$repo/pgconverge.yaml" <<YAML
version: 1
clusters:
  main:
    nodes:
      pg1: {host: 127.0.0.1, port: $port, data_dir: ../data/pg1}
    settings:
      max_connections: $1
      work_mem: $2
    maintenance: {restart: always}
YAML
}
topology 100 4MB
git -C "$repo" add pgconverge.yaml
git -C "$repo" commit -q -m "one node"
c1=$(git -C "$repo" rev-parse HEAD)
topology 200 16MB
git -C "$repo" commit -q -am "more connections, more work_mem"
c2=$(git -C "$repo" rev-parse HEAD)
# The work tree is not what is read: only commits are.
echo "not: [yaml" >"$repo/pgconverge.yaml"

# --- offline plans: no server anywhere ----------------------------------------

check "no server listens on $port" test -z "$(ss -Hltn "sport = :$port")"
run plan --offline --git repo --ref main --base main~1 --format json
expect "plan --offline --base: changes (exit 2)" 2
if [ "$rc" = 2 ]; then
	check "offline: one restart" test "$(jq '[.actions[] | select(.action == "restart")] | length' "$tmp/out")" = 1
	check "offline: one reload" test "$(jq '[.actions[] | select(.action == "reload")] | length' "$tmp/out")" = 1
	check "offline: the restart is for max_connections 100 -> 200" test \
		"$(jq -c '[.actions[] | select(.action == "restart") | .changes[] | [.key, .from, .to]]' "$tmp/out")" \
		= '[["max_connections","100","200"]]'
	check "offline: the reload is for work_mem 4MB -> 16MB" test \
		"$(jq -c '[.actions[] | select(.action == "reload") | .changes[] | [.key, .from, .to]]' "$tmp/out")" \
		= '[["work_mem","4MB","16MB"]]'
	check "offline: no initdb or clone" test \
		"$(jq '[.actions[] | select(.action == "initdb" or .action == "clone")] | length' "$tmp/out")" = 0
	check "offline: marked offline, source is the second commit" test \
		"$(jq -r '[.offline, .source.kind, .source.commit, .source.ref, .source.repository, .source.path] | join(" ")' "$tmp/out")" \
		= "true git $c2 main $repo pgconverge.yaml"
fi
check "no server was started" test ! -e "$tmp/data/pg1"

run plan --offline --git repo --ref main~1 --base main~1
expect "plan --offline: same revision, no changes (exit 0)" 0 "no changes"

run plan --offline --git repo --ref main --base main~1 -o offline.json
expect "plan --offline -o" 2
run apply offline.json --git repo --state-dir st
expect "apply refuses an offline plan" 1 "" "was made with --offline, not from the servers"

# The CI review: the same commands the workflow runs.
review() { # BASE HEAD
	(cd "$repo" && PGCONVERGE=$bin sh "$top/examples/ci/plan-review.sh" "$@") >"$tmp/out" 2>"$tmp/err"
	rc=$?
}
review main~1 main
expect "ci: plan-review.sh, changes (exit 2)" 2 "### pgconverge plan"
grep -qF '`max_connections: 100 -> 200`' "$tmp/out" && grep -qF '`work_mem: 4MB -> 16MB`' "$tmp/out" &&
	grep -qF '| **restart** |' "$tmp/out" && grep -qF 'offline plan of `pgconverge.yaml at' "$tmp/out" &&
	ok "ci: the markdown shows both settings and the restart" ||
	fail "ci: markdown: $(head -c 600 "$tmp/out")"
review main main
expect "ci: plan-review.sh, no changes (exit 0)" 0 "no changes"
git -C "$repo" checkout -q -b broken
printf 'version: 1\nclusters:\n  main:\n    nodes:\n      pg1: {port: 5432}\n' >"$repo/pgconverge.yaml"
git -C "$repo" commit -q -am "broken"
review main broken
expect "ci: plan-review.sh, invalid topology (exit 1)" 1 "is not a valid topology"
grep -qF "pgconverge.yaml:5:" "$tmp/out" && ok "ci: the error has its line" || fail "ci: no line: $(cat "$tmp/out")"
git -C "$repo" checkout -q main
git -C "$repo" checkout -q -- pgconverge.yaml 2>/dev/null
echo "not: [yaml" >"$repo/pgconverge.yaml"

# --- apply and plan from git, on a real server --------------------------------

run apply --git repo --ref "$c1" --state-dir st
expect "apply --git (first commit)" 0 "converged"
run plan --git repo --ref "$c1" --state-dir st
expect "plan --git on the first commit: no changes" 0
run plan --git repo --ref main --state-dir st --format json
expect "plan --git on the second commit: changes" 2
if [ "$rc" = 2 ]; then
	check "plan --git: restart for max_connections" test \
		"$(jq -c '[.actions[] | select(.action == "restart") | .changes[].key]' "$tmp/out")" = '["max_connections"]'
	check "plan --git: reload for work_mem" test \
		"$(jq -c '[.actions[] | select(.action == "reload") | .changes[].key]' "$tmp/out")" = '["work_mem"]'
	check "plan --git: the source is the second commit" test \
		"$(jq -r '.source.commit' "$tmp/out")" = "$c2"
fi
run apply --git repo --ref main --state-dir st
expect "apply --git (second commit)" 0 "converged"
check "journal: both commit ids" test \
	"$(jq -r 'select(.event == "source") | .commit' "$tmp/st/journal.jsonl" | tr '\n' ' ')" = "$c1 $c2 "
check "applied.json: the second commit" test "$(jq -r '.commit' "$tmp/st/applied.json")" = "$c2"
run status --git repo --state-dir st
expect "status: last applied commit" 0 "last applied: commit ${c2:0:12} (ref main, pgconverge.yaml) at "
run status --git repo --state-dir st --format json
expect "status --format json: last_applied" 0
check "status json: commit" test "$(jq -r '.last_applied.commit' "$tmp/out")" = "$c2"

# --- no accidental rollback ---------------------------------------------------

git -C "$repo" reset -q --hard "$c1" # a force-push, as seen from here
run apply --git repo --ref main --state-dir st
expect "rewritten history: refused" 1 "" "commit ${c1:0:12} (ref \"main\") does not descend from the last applied commit ${c2:0:12}"
grep -qF -- "--allow-rewind" "$tmp/err" && ok "rewind: the hint names --allow-rewind" || fail "rewind: no hint"
check "refused: applied.json unchanged" test "$(jq -r '.commit' "$tmp/st/applied.json")" = "$c2"
run apply --git repo --ref main --state-dir st --allow-rewind
expect "--allow-rewind: applied" 0 "converged" "applying it anyway (--allow-rewind)"
check "--allow-rewind: applied.json has the first commit" test "$(jq -r '.commit' "$tmp/st/applied.json")" = "$c1"
check "--allow-rewind: the server runs with max_connections 100" test \
	"$(su postgres -c "psql -XAtq -h /var/run/postgresql -p $port -d postgres -c 'SHOW max_connections'" 2>/dev/null)" = 100
stop_server "$tmp/data/pg1"

# --- sources that are not there -----------------------------------------------

run validate --git nowhere
expect "missing repository" 1 "" "repository \"nowhere\" does not exist"
run validate --git repo --ref nope
expect "missing ref" 1 "" "ref \"nope\" not found in \"$repo\""
grep -qF "branches: broken, main" "$tmp/err" && ok "missing ref: the hint lists the branches" || fail "missing ref: hint: $err"
run validate --git repo --path clusters/prod.yaml
expect "missing path" 1 "" "\"clusters/prod.yaml\" does not exist in commit ${c1:0:12}"
run validate --git "file://$tmp/nowhere.git" --state-dir st
expect "unreachable remote" 1 "" "cannot fetch \"file://$tmp/nowhere.git\""

# A remote is cloned into the state folder and fetched on each run.
run validate --git "file://$repo" --ref main --state-dir st
expect "remote: cloned and read" 0 "main: valid"
clone=""
for u in "$tmp"/st/git/*/url; do
	[ "$(cat "$u")" = "file://$repo" ] && clone=$(dirname "$u")/repo.git
done
check "remote: the clone is in the state folder" test -n "$clone" -a -d "$clone"
check "remote: the clone has main" test "$(git -C "$clone" rev-parse main 2>/dev/null)" = "$(git -C "$repo" rev-parse main)"
mv "$repo" "$repo.away"
run validate --git "file://$repo" --ref main --state-dir st
expect "remote gone: validate fails" 1 "" "cannot fetch \"file://$repo\""
grep -qF "'reconcile' goes on with the last fetched commit" "$tmp/err" &&
	ok "remote gone: the hint says reconcile goes on" || fail "remote gone: hint: $err"
mv "$repo.away" "$repo"

# --- signed commits -----------------------------------------------------------

ssh-keygen -q -t ed25519 -N "" -C ops -f "$tmp/key"
mkdir -p "$tmp/st"
echo "ops@example.com namespaces=\"git\" $(cat "$tmp/key.pub")" >"$tmp/st/allowed_signers"
chmod 600 "$tmp/st/allowed_signers"
topology 100 8MB
git -C "$repo" -c gpg.format=ssh -c user.signingkey="$tmp/key" commit -q -S -am "signed"
run validate --git repo --ref main --state-dir st --require-signed
expect "--require-signed: a signed commit" 0 "main: valid"
topology 100 32MB
git -C "$repo" commit -q -am "unsigned"
c4=$(git -C "$repo" rev-parse HEAD)
run validate --git repo --ref main --state-dir st --require-signed
expect "--require-signed: an unsigned commit is refused" 1 "" "refusing commit ${c4:0:12}: commit ${c4:0:12} is not signed"
run apply --git repo --ref main --state-dir st --require-signed
expect "--require-signed: apply refuses it too" 1 "" "is not signed"

[ "$fails" -eq 0 ] || echo "$fails check(s) failed"
exit $((fails > 0))
