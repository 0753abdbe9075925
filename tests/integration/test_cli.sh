#!/usr/bin/env bash
# tests/integration/test_cli.sh - the command line: help, usage errors, exit
# codes, `validate` and `graph` on good and bad files. Needs no server.
#
# Runs ${PGC_BIN:-./pgconverge}; prints one ok/FAIL line per check and exits
# 1 when any check failed.
set -u

bin=${PGC_BIN:-./pgconverge}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

ok() { echo "ok   $*"; }
fail() {
	echo "FAIL $*"
	fails=$((fails + 1))
}

# run ARGS... - runs pgconverge; sets $rc, $out (stdout) and $err (stderr).
run() {
	"$bin" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}

# expect NAME CODE [TEXT_IN_STDOUT] [TEXT_IN_STDERR] - checks the last run.
expect() {
	local name=$1 code=$2 in_out=${3:-} in_err=${4:-}

	if [ "$rc" != "$code" ]; then
		fail "$name: exit $rc, expected $code (stderr: $(head -c 300 "$tmp/err"))"
	elif [ -n "$in_out" ] && ! grep -qF -- "$in_out" "$tmp/out"; then
		fail "$name: stdout lacks '$in_out': $(head -c 300 "$tmp/out")"
	elif [ -n "$in_err" ] && ! grep -qF -- "$in_err" "$tmp/err"; then
		fail "$name: stderr lacks '$in_err': $(head -c 300 "$tmp/err")"
	else
		ok "$name"
	fi
}

if [ ! -x "$bin" ]; then
	fail "no pgconverge binary at '$bin' (run 'make pgconverge' or set PGC_BIN)"
	exit 1
fi

# --- help and version -------------------------------------------------------

commands="validate plan apply status reconcile backup wal-push wal-fetch failover graph"

run --help
expect "--help exits 0" 0 "usage: pgconverge COMMAND"
for c in $commands; do
	grep -qE "^  $c +[a-z]" "$tmp/out" || fail "--help does not list '$c'"
done
for code in 0 1 2 3 4 64; do
	grep -qE "^  $code +[a-z]" "$tmp/out" || fail "--help does not list exit code $code"
done
grep -q NO_COLOR "$tmp/out" || fail "--help does not mention NO_COLOR"

run --version
expect "--version" 0 "pgconverge 0.1.0"

run
expect "no command: usage error" 64 "" "no command given"

# Options each command's --help must show (besides the common ones).
declare -A opts=(
	[validate]="--file --git --ref --path --cluster --format --offline"
	[plan]="--file --git --output --format --cluster --offline --state-dir --allow-rewind markdown --as"
	[apply]="--file PLAN.json --allow-restart --allow-switchover --cluster --state-dir --allow-rewind --wait-lock --as"
	[status]="--file --cluster --format prometheus --state-dir --as"
	[reconcile]="--file --git --interval --once --wait-lock --cluster --state-dir --allow-rewind --metrics-listen --as"
	[backup]="--file --cluster --logical --state-dir"
	[wal-push]="--repository --compress WAL_PATH WAL_NAME"
	[wal-fetch]="--repository --unreachable-ok WAL_NAME DEST_PATH"
	[failover]="--file --cluster --to --force --state-dir"
	[graph]="--file --cluster --live --output"
)
for c in $commands; do
	run "$c" --help
	missing=""
	for o in ${opts[$c]} --log-format --verbose --quiet --no-color --help; do
		grep -qF -- "$o" "$tmp/out" || missing="$missing $o"
	done
	if [ "$rc" -ne 0 ]; then
		fail "$c --help: exit $rc"
	elif ! grep -q "^usage: pgconverge $c " "$tmp/out"; then
		fail "$c --help: no usage line"
	elif [ -n "$missing" ]; then
		fail "$c --help: does not mention$missing"
	else
		ok "$c --help"
	fi
	cp "$tmp/out" "$tmp/help1"
	run help "$c"
	if [ "$rc" -eq 0 ] && cmp -s "$tmp/out" "$tmp/help1"; then
		ok "help $c = $c --help"
	else
		fail "help $c: exit $rc or text differs from '$c --help'"
	fi
done

# --- usage errors: exit 64, a message and a hint ------------------------------

run frobnicate
expect "unknown command" 64 "" "unknown command 'frobnicate'"
run valdate
expect "unknown command suggests" 64 "" "did you mean 'validate'"
run validate --bogus
expect "unknown option" 64 "" "unknown option '--bogus'"
grep -qF "hint: see 'pgconverge validate --help'" "$tmp/err" || fail "unknown option: no hint"
run validate -x
expect "unknown short option" 64 "" "unknown option '-x'"
run validate --once
expect "option of another command" 64 "" "'validate' does not take option '--once'"
run validate -f
expect "missing option value" 64 "" "option '--file' needs a value"
run plan --format yaml
expect "unknown --format" 64 "" "unknown --format 'yaml': expected text, json, markdown"
run validate --log-format xml
expect "unknown --log-format" 64 "" "unknown --log-format 'xml'"
run reconcile --interval 5x
expect "bad --interval" 64 "" "invalid --interval '5x'"
run reconcile --once --wait-lock 0s
expect "bad --wait-lock" 64 "" "invalid --wait-lock '0s': expected a positive duration"
run plan --wait-lock 5s
expect "plan takes no --wait-lock" 64 "" "'plan' does not take option '--wait-lock'"
run backup
expect "backup needs --cluster" 64 "" "'backup' needs '--cluster NAME'"
run wal-fetch --repository "$tmp/repo" 000000010000000000000001
expect "wal-fetch needs two arguments" 64 "" "'wal-fetch' needs 2 arguments, got 1"
run validate some.yaml
expect "positional file" 64 "" "give the topology file with '-f some.yaml'"
run validate --ref main
expect "--ref without --git" 64 "" "need '--git REPO'"
run validate -f x.yaml --git /tmp/repo
expect "-f with --git" 64 "" "cannot be used together"
run -f x.yaml validate
expect "option before the command" 64 "" "option '-f' given before the command"

# --- a missing topology file: every command stops before contacting a server ---

# plan, apply and status run against servers in test_reconcile*.sh; here
# only what they do before contacting one.
run plan -f "$tmp/none.yaml"
expect "plan: missing topology file" 1 "" "$tmp/none.yaml: error: topology file not found"
run apply -f "$tmp/none.yaml" --allow-restart
expect "apply: missing topology file" 1 "" "$tmp/none.yaml: error: topology file not found"
run apply "$tmp/none.json" -f "$tmp/none.yaml"
expect "apply: missing saved plan" 1 "" "cannot read plan \"$tmp/none.json\""
(cd "$tmp" && "$bin" status --format prometheus >"$tmp/out" 2>"$tmp/err")
rc=$?
expect "status: no ./pgconverge.yaml" 1 "" "pgconverge.yaml: error: topology file not found"
run reconcile --once -f "$tmp/none.yaml" --state-dir "$tmp/st"
expect "reconcile --once: a missing file fails the pass" 1 "" "error: pass 1 failed: $tmp/none.yaml: topology file not found"
run backup --cluster main --logical -f "$tmp/none.yaml"
expect "backup: missing topology file" 1 "" "topology file not found"
run wal-push pg_wal/000000010000000000000001 000000010000000000000001
expect "wal-push needs --repository" 64 "" "'wal-push' needs '--repository DIR'"
run wal-push --repository "$tmp" --compress lz4 pg_wal/000000010000000000000001 000000010000000000000001
expect "wal-push: unknown --compress" 64 "" "unknown --compress 'lz4': expected none, gzip or zstd"
run wal-push --repository "$tmp/no-repo" "$tmp/none" 000000010000000000000001
expect "wal-push: missing repository" 1 "" "backup repository \"$tmp/no-repo\" is not accessible"
run wal-fetch --repository "$tmp/no-repo" 000000010000000000000001 "$tmp/RECOVERYXLOG"
expect "wal-fetch: missing repository stops recovery" 200 "" "is not accessible"
run wal-fetch --repository "$tmp" 000000010000000000000001 "$tmp/RECOVERYXLOG"
expect "wal-fetch: not in the archive" 1
run failover --cluster main --to pg2 -f "$tmp/none.yaml"
expect "failover: missing topology file" 1 "" "$tmp/none.yaml: error: topology file not found"
run failover --to pg2 -f "$tmp/none.yaml"
expect "failover needs --cluster" 64 "" "'failover' needs '--cluster NAME'"
cat >"$tmp/solo.yaml" <<'YAML'
version: 1
clusters:
  solo:
    nodes:
      n1: {port: 25999, data_dir: data/n1}
YAML
run failover --cluster solo -f "$tmp/solo.yaml" --state-dir "$tmp/st"
expect "failover: a single node has nothing to promote" 1 "" "cluster \"solo\" has a single node: nothing to promote"
run failover --cluster solo -f "$tmp/solo.yaml" --state-dir "$tmp/st" --force
expect "failover --force: only for a standby cluster" 1 "" "--force applies to a standby cluster (standby_of) whose source is lost"
run failover --cluster main -f "$top/examples/three-hosts.yaml" --state-dir "$tmp/st"
expect "failover: refused with coordination.etcd" 1 "" "cluster \"main\" is coordinated through etcd (coordination.etcd): only its leader agent decides a failover"
run graph --live -f "$tmp/none.yaml"
expect "graph --live: missing topology file" 1 "" "$tmp/none.yaml: error: topology file not found"
run validate --git "$tmp/no-repo" --ref main
expect "--git: missing repository" 1 "" "repository \"$tmp/no-repo\" does not exist"
run plan --base main -f x.yaml
expect "--base without --offline" 64 "" "option '--base' needs '--offline'"
run validate --require-signed -f x.yaml
expect "--require-signed without --git" 64 "" "option '--require-signed' needs '--git REPO'"

# --- validate -----------------------------------------------------------------

cat >"$tmp/good.yaml" <<'YAML'
version: 1
clusters:
  main:
    primary: pg1
    nodes:
      pg1: {port: 25432, data_dir: data/pg1, region: eu-west}
      pg2: {port: 25433, data_dir: data/pg2, region: eu-west}
      pg3: {port: 25434, data_dir: data/pg3, region: us-east, replicate_from: pg2}
    replication:
      synchronous: {method: any, count: 1}
    failover: {mode: auto}
    backup:
      repository: backups/main
      wal_archive: true
  other:
    nodes:
      o1: {port: 25440, data_dir: data/o1}
YAML

run validate -f "$tmp/good.yaml"
expect "validate good file" 0 \
	"main: valid, postgres 15, 3 nodes (primary pg1, replicas pg2 pg3; pg3 from pg2), 2 regions (eu-west, us-east), synchronous any 1, failover auto, backup on with wal archive"
expect "validate summarises every cluster" 0 \
	"other: valid, postgres 15, 1 node (primary o1), no regions, failover manual, backup off"

run validate -f "$tmp/good.yaml" --cluster other
if [ "$rc" -eq 0 ] && [ "$out" = "other: valid, postgres 15, 1 node (primary o1), no regions, failover manual, backup off" ]; then
	ok "validate --cluster restricts the summary"
else
	fail "validate --cluster other: exit $rc, stdout: $out"
fi
run validate -f "$tmp/good.yaml" --cluster nope
expect "validate --cluster unknown" 1 "" "no cluster named 'nope'"
run validate -q -f "$tmp/good.yaml"
if [ "$rc" -eq 0 ] && [ -z "$out" ]; then ok "validate -q prints no summary"; else fail "validate -q: exit $rc, stdout: $out"; fi

# Text from the file reaches the terminal escaped, in every part of a
# diagnostic and in command errors; JSON keeps it raw for jansson to escape.
printf 'version: 1\nclusters:\n  main:\n    nodes:\n      pg1: {port: 25432, data_dir: d}\n    "x\\e[31mRED\\rY": 1\n    os_user: "pg\\e]0;t\\x07\\nhost all all 0.0.0.0/0 trust"\n' >"$tmp/ctl.yaml"
run validate -f "$tmp/ctl.yaml" --no-color
if [ "$rc" = 1 ] && ! grep -q "$(printf '[\033\r\a]')" "$tmp/err" && [ "$(wc -l <"$tmp/err")" = 3 ] &&
	grep -qF 'clusters.main.x\x1b[31mRED\rY: unknown key "x\x1b[31mRED\rY"' "$tmp/err" &&
	grep -qF 'invalid os_user name "pg\x1b]0;t\x07\nhost all all 0.0.0.0/0 trust"' "$tmp/err"; then
	ok "validate escapes control characters of the file in keys and messages"
else
	fail "validate control characters: exit $rc: $(od -c "$tmp/err" | head -n 12)"
fi
run validate -f "$tmp/ctl.yaml" --format json
if jq -e '[.diagnostics[] | .key, .message] | map(select(. != null)) | any(contains("x\u001b[31mRED\rY")) and any(contains("pg\u001b]0;t\u0007\nhost"))' "$tmp/out" >/dev/null 2>&1; then
	ok "validate --format json keeps the raw text"
else
	fail "validate json: $(head -c 400 "$tmp/out")"
fi
run apply "$tmp/$(printf 'p\033[2Jq\nforged').json" -f "$tmp/good.yaml" --state-dir "$tmp/st-ctl"
if [ "$rc" = 1 ] && ! grep -q "$(printf '\033')" "$tmp/err" && grep -qF 'p\x1b[2Jq\nforged.json' "$tmp/err"; then
	ok "command errors escape the names they quote"
else
	fail "cmd_error escaping: exit $rc: $(od -c "$tmp/err" | head -n 8)"
fi

# Warnings are printed but do not fail; --offline skips the machine checks; -qq hides them.
cat >"$tmp/warn.yaml" <<'YAML'
version: 1
clusters:
  main:
    nodes:
      pg1: {port: 25432, data_dir: data/pg1}
    replication:
      password: {file: secrets/replicator}
YAML
run validate -f "$tmp/warn.yaml"
expect "validate: a warning does not fail" 0 "main: valid" "warn.yaml:7:24: warning: "
run validate -f "$tmp/warn.yaml" --offline
if [ "$rc" -eq 0 ] && [ -z "$err" ]; then ok "validate --offline skips the secret file check"; else fail "validate --offline: exit $rc, stderr: $err"; fi
run validate -f "$tmp/warn.yaml" -qq
if [ "$rc" -eq 0 ] && [ -z "$err$out" ]; then ok "validate -qq prints nothing"; else fail "validate -qq: exit $rc: $out $err"; fi

# The default file is ./pgconverge.yaml.
mkdir "$tmp/dir"
(cd "$tmp/dir" && "$bin" validate >"$tmp/out" 2>"$tmp/err")
rc=$?
expect "validate without pgconverge.yaml" 1 "" "pgconverge.yaml: error: topology file not found"
cp "$tmp/good.yaml" "$tmp/dir/pgconverge.yaml"
(cd "$tmp/dir" && "$bin" validate >"$tmp/out" 2>"$tmp/err")
rc=$?
expect "validate reads ./pgconverge.yaml" 0 "main: valid"

if [ -f "$top/examples/quickstart.yaml" ]; then
	run validate -f "$top/examples/quickstart.yaml"
	expect "validate examples/quickstart.yaml" 0 "main: valid, postgres 15"
else
	echo "skip validate examples/quickstart.yaml: the file does not exist"
fi

# A bad file: every problem, with file:line:col, sorted, exit 1.
cat >"$tmp/bad.yaml" <<'YAML'
version: 1
clusters:
  main:
    nodes:
      pg1: {port: notaport, data_dir: data/pg1}
      pg2: {port: 25433, data_dir: data/pg2, colour: blue}
YAML
run validate -f "$tmp/bad.yaml"
expect "validate bad file: exit 1 and the first error's position" 1 "" "$tmp/bad.yaml:5:"
if grep -q "$tmp/bad.yaml:6:[0-9]*: error: .*colour" "$tmp/err" &&
	[ "$(grep -c ': error: ' "$tmp/err")" -ge 2 ]; then
	ok "validate bad file: reports every error"
else
	fail "validate bad file: expected errors at lines 5 and 6: $err"
fi
if grep -o "bad.yaml:[0-9]*:" "$tmp/err" | cut -d: -f2 | sort -nc 2>/dev/null; then
	ok "validate bad file: sorted by position"
else
	fail "validate bad file: not sorted by line: $err"
fi
[ -z "$out" ] && ok "validate bad file: nothing on stdout" || fail "validate bad file: stdout: $out"

# --- graph ----------------------------------------------------------------------

# dot_ok FILE - Graphviz accepts the DOT text in FILE.
dot_ok() {
	dot -Tsvg "$1" -o "$tmp/graph.svg" 2>"$tmp/dot.err" && grep -q '<svg' "$tmp/graph.svg"
}
if ! command -v dot >/dev/null 2>&1; then
	fail "graph: 'dot' (graphviz) is needed to check the output (run 'make deps')"
else
	run graph -f "$top/examples/quickstart.yaml"
	expect "graph examples/quickstart.yaml" 0 '"main/pg1" -> "main/pg3";'
	dot_ok "$tmp/out" && ok "graph quickstart: dot -Tsvg accepts it" ||
		fail "graph quickstart: dot -Tsvg: $(cat "$tmp/dot.err")"
	run graph -f "$top/examples/full.yaml"
	expect "graph examples/full.yaml" 0 '"orders/pg3" -> "orders/pg4";'
	dot_ok "$tmp/out" && ok "graph full: dot -Tsvg accepts it" ||
		fail "graph full: dot -Tsvg: $(cat "$tmp/dot.err")"
	grep -qF '"orders/pg1" -> "orders/pg2" [label="sync (first 1, priority 1)", penwidth="2"];' "$tmp/out" &&
		grep -qF 'subgraph "cluster_orders/eu-central" {' "$tmp/out" &&
		grep -qF '"orders:haproxy" -> "orders/pg1" [label="write"];' "$tmp/out" &&
		grep -qF -- '-> "restored/r1" [label="restore to 2026-11-26 10:00:00+00", style="dashed"];' "$tmp/out" &&
		ok "graph full: regions, sync standby, balancer, restore" ||
		fail "graph full: an expected statement is missing: $(head -c 600 "$tmp/out")"

	# -o writes the same text; --cluster draws one cluster.
	cp "$tmp/out" "$tmp/full.stdout"
	run graph -f "$top/examples/full.yaml" -o "$tmp/full.dot"
	if [ "$rc" -eq 0 ] && [ -z "$out" ] && cmp -s "$tmp/full.dot" "$tmp/full.stdout"; then
		ok "graph -o FILE"
	else
		fail "graph -o: exit $rc, or the file differs from stdout"
	fi
	run graph -f "$tmp/good.yaml" --cluster other
	if [ "$rc" -eq 0 ] && grep -qF '"other/o1" [label=' "$tmp/out" && ! grep -q 'main/' "$tmp/out" &&
		dot_ok "$tmp/out"; then
		ok "graph --cluster draws one cluster"
	else
		fail "graph --cluster other: exit $rc: $out"
	fi
	run graph -f "$tmp/good.yaml" --cluster nope
	expect "graph --cluster unknown" 1 "" 'unknown cluster "nope"'

	# A bad file: the loader's messages, nothing drawn.
	run graph -f "$tmp/bad.yaml"
	expect "graph bad file: exit 1 with the loader's message" 1 "" "$tmp/bad.yaml:5:"
	[ -z "$out" ] && ok "graph bad file: nothing on stdout" || fail "graph bad file: stdout: $out"
fi

# --format json parses and says what the text says.
json_check() { # FILE PYTHON_EXPRESSION
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$@"
}
run validate -f "$tmp/good.yaml" --format json
if [ "$rc" -eq 0 ] && python3 -m json.tool "$tmp/out" >/dev/null &&
	json_check "$tmp/out" 'd["valid"] is True and d["errors"] == 0 and d["file"].endswith("good.yaml")
and [c["name"] for c in d["clusters"]] == ["main", "other"]
and d["clusters"][0]["primary"] == "pg1" and d["clusters"][0]["replicas"] == ["pg2", "pg3"]
and d["clusters"][0]["nodes"][2]["upstream"] == "pg2" and d["clusters"][0]["failover"] == "auto"'; then
	ok "validate --format json (valid)"
else
	fail "validate --format json (valid): exit $rc: $out"
fi
run validate -f "$tmp/bad.yaml" --format json
if [ "$rc" -eq 1 ] && python3 -m json.tool "$tmp/out" >/dev/null &&
	json_check "$tmp/out" 'd["valid"] is False and d["errors"] >= 2 and d["clusters"] == []
and d["diagnostics"][0]["line"] == 5 and d["diagnostics"][0]["level"] == "error"
and d["diagnostics"][0]["key"] == "clusters.main.nodes.pg1.port"'; then
	ok "validate --format json (invalid)"
else
	fail "validate --format json (invalid): exit $rc: $out"
fi

# Colour only on a terminal, and never with NO_COLOR or --no-color.
if command -v script >/dev/null 2>&1; then
	esc=$(printf '\033')
	# The caller's NO_COLOR (CI sets it) must not decide this one.
	env -u NO_COLOR script -qec "'$bin' validate -f '$tmp/bad.yaml'" /dev/null >"$tmp/tty" 2>&1
	grep -q "$esc\[" "$tmp/tty" && ok "colour on a terminal" || fail "no colour on a terminal"
	NO_COLOR=1 script -qec "'$bin' validate -f '$tmp/bad.yaml'" /dev/null >"$tmp/tty" 2>&1
	grep -q "$esc\[" "$tmp/tty" && fail "colour despite NO_COLOR" || ok "NO_COLOR honoured"
	env -u NO_COLOR script -qec "'$bin' validate --no-color -f '$tmp/bad.yaml'" /dev/null >"$tmp/tty" 2>&1
	grep -q "$esc\[" "$tmp/tty" && fail "colour despite --no-color" || ok "--no-color honoured"
	run validate -f "$tmp/bad.yaml"
	grep -q "$esc\[" "$tmp/err" && fail "colour when stderr is not a terminal" || ok "no colour in a pipe"
else
	echo "skip colour checks: 'script' (util-linux) is not installed"
fi

# Saved plans keep their format: the offline plan of fixtures/plan-full-v2.yaml
# (examples/full.yaml as it was) is, but for the executable's path and the
# folder (and the digest of haproxy.cfg, which holds the folder), the one
# saved when poolers, balancers and monitoring came
# (fixtures/plan-full-v2.json; -v1 is the plan before them, which
# test_plan_compat still loads). A deliberate change of what the planner
# emits for that file means a new fixture pair (-v3), and a loader for the
# older ones if the format version changes.
mkdir -p "$tmp/compat/examples"
cp "$top/tests/integration/fixtures/plan-full-v2.yaml" "$tmp/compat/examples/full.yaml"
(cd "$tmp/compat/examples" && "$bin" plan --offline -f full.yaml -o plan.json >/dev/null 2>&1)
real_bin=$(readlink -f "$bin")
real_dir=$(cd "$tmp/compat" && pwd -P)
if [ ! -s "$tmp/compat/examples/plan.json" ]; then
	fail "plan --offline -o wrote no plan"
elif sed -e "s#$real_bin#@PGCONVERGE@#g" -e "s#$real_dir#@DIR@#g" \
	-e 's/description pgconverge [0-9a-f]\{16\}/description pgconverge @DIGEST@/g' \
	"$tmp/compat/examples/plan.json" |
	jq -S . >"$tmp/compat/now.json" &&
	jq -S . "$top/tests/integration/fixtures/plan-full-v2.json" >"$tmp/compat/then.json" &&
	cmp -s "$tmp/compat/now.json" "$tmp/compat/then.json"; then
	ok "the offline plan of plan-full-v2.yaml is the one saved before, field for field"
else
	fail "the offline plan of plan-full-v2.yaml differs from the saved one: $(diff "$tmp/compat/then.json" "$tmp/compat/now.json" | head -c 600)"
fi

if [ "$fails" -ne 0 ]; then
	echo "test_cli: $fails check(s) failed"
	exit 1
fi
echo "test_cli: all checks passed"
