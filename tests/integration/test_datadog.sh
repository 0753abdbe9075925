#!/usr/bin/env bash
# tests/integration/test_datadog.sh - monitoring.datadog and `status --top`
# on real servers. `apply` builds a primary and a replica with
# monitoring.datadog (dbm: true): the Agent's check file parses as YAML
# (the `yaml` package of tests/schema, strict), has mode 0640 and one
# instance per node with its own port and tags, and holds the password,
# which no plan shows; the role logs in with it over TCP and is a member of
# pg_monitor; Database Monitoring's explain function answers in every
# database, owned by pgconverge_explain (no superuser, no login, a member of
# pg_read_all_data only): an unqualified table explains, the pg_temp trick
# (an IMMUTABLE function folded while planning) runs as that role, not as a
# superuser, and cannot write; the plan is then empty. The function given
# to a superuser is planned back. A changed mode and a changed password
# are planned and repaired; after a switchover the role tags follow. Then
# `status --top`: a table with an index nothing uses and a query run many
# times: the query comes first and the index is listed as unused.
#
# Needs root (servers run as postgres), the PostgreSQL 15 binaries, node
# (the YAML parser: installed by `sh tests/schema/run.sh --schema-only`
# when missing) and free loopback ports in 20000-32000. One ok/FAIL line
# per check; exit 1 when any check failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. "$top/tests/integration/lib.sh"
lib_require_root
PGC=$(lib_bin) || exit 1

if [ ! -d "$top/tests/schema/node_modules/yaml" ]; then
	sh "$top/tests/schema/run.sh" --schema-only >/dev/null 2>&1
fi
if ! command -v node >/dev/null || [ ! -d "$top/tests/schema/node_modules/yaml" ]; then
	echo "FAIL node and tests/schema/node_modules/yaml are needed (sh tests/schema/run.sh --schema-only)"
	exit 1
fi

tmp=$(lib_tmpdir) || exit 1
trap 'lib_teardown "$tmp"' EXIT

lib_node_ports 2
topo=$tmp/topology.yaml
conf=$tmp/agent/conf.d/postgres.d/conf.yaml
mkdir -m 700 "$tmp/secrets"
printf 'r3pl:pw\n' >"$tmp/secrets/replicator"
# A password YAML must quote: a quote, a backslash, a colon and a hash.
ddpw='dd"pw\: #1'
printf '%s\n' "$ddpw" >"$tmp/secrets/datadog"
chmod 600 "$tmp/secrets/replicator" "$tmp/secrets/datadog"

write_topology() { # PRIMARY
	cat >"$topo" <<EOF
version: 1
clusters:
  c:
    primary: $1
    nodes:
      pg1: {host: 127.0.0.1, port: ${port[pg1]}, data_dir: data/pg1, region: eu-west}
      pg2: {host: 127.0.0.1, port: ${port[pg2]}, data_dir: data/pg2}
    settings:
      shared_buffers: 16MB
      max_connections: 20
    hba:
      - {type: host, database: all, user: datadog, address: 127.0.0.1/32, method: scram-sha-256}
    databases:
      appdb: {}
    replication:
      user: replicator
      password: {file: secrets/replicator}
    monitoring:
      pg_stat_statements: true
      datadog: {conf_dir: agent/conf.d/postgres.d, password: {file: secrets/datadog}, dbm: true}
EOF
}
write_topology pg1

# yaml_json FILE - the YAML file as JSON (strict: duplicate keys and any
# error fail), or exit 1.
yaml_json() {
	node -e '
const YAML = require(process.argv[1]);
const doc = YAML.parseDocument(require("fs").readFileSync(process.argv[2], "utf8"),
	{strict: true, uniqueKeys: true, prettyErrors: false});
if (doc.errors.length || doc.warnings.length) {
	console.error(String(doc.errors.concat(doc.warnings)[0]));
	process.exit(1);
}
process.stdout.write(JSON.stringify(doc.toJS()));' "$top/tests/schema/node_modules/yaml" "$1"
}

# jqe ARGS... - jq -e without its output (for check, whose own line must show).
jqe() { jq -e "$@" >/dev/null; }

# plan_empty - `plan` exits 0 (no changes).
plan_empty() {
	lib_run "$tmp/plan" plan -f "$topo"
	[ "$rc" = 0 ]
}

# dd_sql PORT DB SQL - as the Datadog user over TCP with its password.
dd_sql() {
	PGPASSWORD=$ddpw PGCONNECT_TIMEOUT=5 "$LIB_PG_BIN/psql" -XAtq -h 127.0.0.1 -p "$1" -U datadog \
		-d "$2" -c "$3" 2>"$tmp/dd_sql.err"
}

lib_run "$tmp/plan0" plan -f "$topo" --format json
check "the first plan has the check file and Database Monitoring" \
	jqe '[.actions[].action] | index("datadog-conf") and index("datadog-dbm") and
		index("create-role") and index("grant-role")' "$tmp/plan0.out"
check "no plan shows the Datadog password" bash -c "! grep -qF 'dd\"pw' '$tmp/plan0.out'"

lib_run "$tmp/apply" apply -f "$topo"
lib_expect_rc "apply builds a primary and a replica with monitoring.datadog" "$tmp/apply" 0
[ "$rc" = 0 ] || lib_finish test_datadog
check "pg2 streams from pg1" lib_wait 60 lib_sql_is "${port[pg2]}" \
	"select status from pg_stat_wal_receiver" streaming

# --- the check file -------------------------------------------------------------

check "conf.yaml exists" test -f "$conf"
mode=$(stat -c %a "$conf")
owner=$(stat -c %U "$conf")
if [ "$mode" = 640 ] && [ "$owner" = root ]; then ok "conf.yaml is root's, mode 0640"; else
	fail "conf.yaml is $owner's, mode $mode"; fi
if yaml_json "$conf" >"$tmp/conf.json" 2>"$tmp/yaml.err"; then ok "conf.yaml parses as YAML"; else
	fail "conf.yaml does not parse: $(cat "$tmp/yaml.err")"; fi
check "init_config is there, two instances" \
	jqe 'has("init_config") and (.instances | length) == 2' "$tmp/conf.json"
check "each instance: its node's port, user, password, dbname, dbm" \
	jqe --arg p1 "${port[pg1]}" --arg p2 "${port[pg2]}" --arg pw "$ddpw" '
		[.instances[] | [.host, (.port|tostring), .username, .password, .dbname, .dbm]] ==
		[["127.0.0.1", $p1, "datadog", $pw, "postgres", true],
		 ["127.0.0.1", $p2, "datadog", $pw, "postgres", true]]' "$tmp/conf.json"
check "tags: cluster, node, role, region when set" jqe '
	[.instances[].tags] == [["cluster:c", "node:pg1", "role:primary", "region:eu-west"],
				 ["cluster:c", "node:pg2", "role:replica"]]' "$tmp/conf.json"

# --- the role and Database Monitoring ------------------------------------------

check "datadog logs in on pg1 with its password, member of pg_monitor" \
	test "$(dd_sql "${port[pg1]}" postgres "select pg_has_role('datadog', 'pg_monitor', 'member')")" = t
check "datadog logs in on the replica too" \
	test "$(dd_sql "${port[pg2]}" postgres "select current_user")" = datadog
# explains DB - the explain function answers for datadog in DB.
explains() {
	[ "$(dd_sql "${port[pg1]}" "$1" \
		"select explain->0->'Plan'->>'Node Type' from datadog.explain_statement('select 1')")" = Result ]
}
has_pgss() {
	[ "$(lib_psql "${port[pg1]}" -d "$1" -c \
		"select count(*) from pg_extension where extname = 'pg_stat_statements'")" = 1 ]
}
for db in postgres appdb; do
	check "datadog.explain_statement explains as datadog in $db" explains "$db"
	check "pg_stat_statements is in $db" has_pgss "$db"
done
check "only datadog may call the SECURITY DEFINER function" lib_sql_is "${port[pg1]}" \
	"select has_function_privilege('public', 'datadog.explain_statement(text)', 'execute')" f


# --- the explain function's owner: no superuser -----------------------------------

# fn_owner DB - the explain function's owner in DB: name, rolsuper, rolcanlogin.
fn_owner() {
	lib_psql "${port[pg1]}" -d "$1" -c "select o.rolname || ' ' || o.rolsuper::text || ' ' ||
		o.rolcanlogin::text from pg_proc p join pg_roles o on o.oid = p.proowner
		where p.oid = 'datadog.explain_statement(text)'::regprocedure"
}
for db in postgres appdb; do
	check "in $db the explain function's owner is no superuser" test "$(lib_psql "${port[pg1]}" \
		-d "$db" -c "select rolsuper from pg_roles where oid =
			(select proowner from pg_proc where proname = 'explain_statement')")" = f
	check "in $db it is owned by pgconverge_explain, which cannot log in" \
		test "$(fn_owner "$db")" = "pgconverge_explain false false"
done
check "pgconverge_explain is a member of pg_read_all_data and of nothing else" lib_sql_is \
	"${port[pg1]}" "select string_agg(g.rolname, ',') from pg_auth_members m
		join pg_roles g on g.oid = m.roleid where m.member = 'pgconverge_explain'::regrole" \
	pg_read_all_data

# The statement explained is the application's: an unqualified table name
# resolves as in the Agent's session, and the owner may read it (the
# Agent's role itself has no SELECT on it).
lib_psql "${port[pg1]}" -d appdb -c "create table dd_probe (id int primary key, note text)"
check "datadog explains a query on an unqualified table it may not read" test \
	"$(dd_sql "${port[pg1]}" appdb "select explain->0->'Plan'->>'Relation Name'
		from datadog.explain_statement('select * from dd_probe where id = 1')")" = dd_probe
update_denied() {
	! dd_sql "${port[pg1]}" appdb \
		"select datadog.explain_statement('update dd_probe set note = 1')" >/dev/null &&
		grep -q 'permission denied for table dd_probe' "$tmp/dd_sql.err"
}
check "it may not explain an UPDATE: the owner only reads" update_denied

# The pg_temp trick: an IMMUTABLE function of the caller's, given constant
# arguments, is evaluated by the planner while explain_statement plans the
# statement, so it runs as the function's owner. It raises what it sees:
# the message exists only when it ran there, and names the role it ran as
# and that role's rolsuper. (Not current_setting('is_superuser'): that
# follows the session user and says off under a superuser's SECURITY
# DEFINER function too.)
trick_sql="create function pg_temp.f() returns int immutable language plpgsql as \$\$
begin
  raise exception 'f ran as % rolsuper=%', current_user,
    (select rolsuper from pg_catalog.pg_roles where rolname = current_user);
end \$\$;
select datadog.explain_statement('select pg_temp.f()')"
# trick DB - what f says when datadog calls it through explain_statement in DB.
trick() {
	dd_sql "${port[pg1]}" "$1" "$trick_sql" >/dev/null
	grep -o 'f ran as [a-z_]* rolsuper=[tf]' "$tmp/dd_sql.err"
}
for db in postgres appdb; do
	check "in $db the pg_temp trick runs as pgconverge_explain, no superuser" \
		test "$(trick "$db")" = "f ran as pgconverge_explain rolsuper=f"
done
# Writing is refused: the function makes the transaction read-only before it
# plans. An IMMUTABLE function may not GRANT, but a volatile one it calls
# may; as the owner it could open the function to PUBLIC.
ro_sql="create function pg_temp.h() returns int language plpgsql as \$\$
begin grant execute on function datadog.explain_statement(text) to public; return 1; end \$\$;
create function pg_temp.g() returns int immutable language plpgsql as \$\$
declare r int; begin execute 'select pg_temp.h()' into r; return r; end \$\$;
select datadog.explain_statement('select pg_temp.g()')"
dd_sql "${port[pg1]}" appdb "$ro_sql" >/dev/null
check "through it the owner cannot write: GRANT in a read-only transaction" \
	grep -q 'cannot execute GRANT in a read-only transaction' "$tmp/dd_sql.err"
check "and PUBLIC still may not call it" test "$(lib_psql "${port[pg1]}" -d appdb -c \
	"select has_function_privilege('public', 'datadog.explain_statement(text)', 'execute')")" = f

if plan_empty; then ok "converged: the plan is empty"; else
	fail "the plan after apply is not empty (exit $rc)"; lib_show "$tmp/plan"; fi
check "pgconverge_explain is not reported as a role outside the topology" \
	bash -c "! grep -q pgconverge_explain '$tmp/plan.out' '$tmp/plan.err'"

# --- drift: the function owned by a superuser (as the Datadog docs create it) -----

lib_psql "${port[pg1]}" -d appdb -c \
	"alter function datadog.explain_statement(text) owner to postgres" >/dev/null
# The same probe tells a superuser owner: the trick is real, and seen.
check "owned by postgres, the pg_temp trick runs as a superuser" \
	test "$(trick appdb)" = "f ran as postgres rolsuper=t"
lib_run "$tmp/plan_owner" plan -f "$topo" --format json
check "a superuser-owned explain function is drift: datadog-dbm in appdb only" jqe '
	[.actions[] | select(.action == "datadog-dbm") | .changes[] |
	 [.key, (.from | test("owned by role \"pgconverge_explain\"")), .to]] ==
	[["dbm.appdb", true, "ready"]]' "$tmp/plan_owner.out"
check "and the only action" jqe '[.actions[].action] == ["datadog-dbm"]' "$tmp/plan_owner.out"
lib_run "$tmp/apply_owner" apply -f "$topo"
lib_expect_rc "apply gives the function back to pgconverge_explain" "$tmp/apply_owner" 0
check "owned by pgconverge_explain again" test "$(fn_owner appdb)" = "pgconverge_explain false false"
check "the pg_temp trick is no superuser again" \
	test "$(trick appdb)" = "f ran as pgconverge_explain rolsuper=f"
if plan_empty; then ok "converged after the owner's repair"; else
	fail "the plan after the owner's repair is not empty (exit $rc)"; lib_show "$tmp/plan"; fi

# --- drift: mode, password -----------------------------------------------------

chmod 0644 "$conf"
lib_run "$tmp/plan_mode" plan -f "$topo" --format json
check "a conf.yaml of mode 0644 is planned back to 0640" jqe '
	[.actions[] | select(.action == "datadog-conf") | .changes[] | select(.key == "mode") |
	 [.from, .to]] == [["0644", "0640"]]' "$tmp/plan_mode.out"

ddpw='an0ther-pw'
printf '%s\n' "$ddpw" >"$tmp/secrets/datadog"
lib_run "$tmp/plan_pw" plan -f "$topo" --format json
check "a new password: alter-role and the check file" jqe '
	[.actions[].action] | index("alter-role") and index("datadog-conf")' "$tmp/plan_pw.out"
check "the plan shows neither password" bash -c "! grep -qE 'an0ther|dd\"pw' '$tmp/plan_pw.out'"
lib_run "$tmp/apply2" apply -f "$topo"
lib_expect_rc "apply repairs mode and password" "$tmp/apply2" 0
check "mode 0640 again" test "$(stat -c %a "$conf")" = 640
check "the new password logs in" test "$(dd_sql "${port[pg1]}" postgres "select 1")" = 1
check "the file holds the new password" grep -qF '"an0ther-pw"' "$conf"
if plan_empty; then ok "converged again"; else
	fail "the plan after the repair is not empty (exit $rc)"; lib_show "$tmp/plan"; fi

# --- a symlink in its place is refused -------------------------------------------

mv "$conf" "$tmp/conf.saved"
ln -s "$tmp/conf.saved" "$conf"
lib_run "$tmp/apply_link" apply -f "$topo"
if [ "$rc" = 1 ] && grep -q "symlink" "$tmp/apply_link.err"; then ok "a symlink at conf.yaml is refused"; else
	fail "a symlink at conf.yaml: exit $rc"; lib_show "$tmp/apply_link"; fi
check "the symlink is left as it was" test -L "$conf"
rm -f "$conf"
mv "$tmp/conf.saved" "$conf"

# --- the role tags follow a switchover --------------------------------------------

write_topology pg2
lib_run "$tmp/switch" apply -f "$topo" --allow-switchover
lib_expect_rc "switchover to pg2" "$tmp/switch" 0
# apply plans again after the switchover: the tags follow in the same run.
check "the same apply rewrote the check file's role tags" grep -qF -e \
	'- "role:replica" -> - "role:primary"' "$tmp/switch.out"
yaml_json "$conf" >"$tmp/conf2.json" 2>/dev/null
check "after the switchover pg2 is tagged primary, pg1 replica" jqe '
	[.instances[].tags[2]] == ["role:replica", "role:primary"]' "$tmp/conf2.json"
if plan_empty; then ok "converged after the switchover"; else
	fail "the plan after the switchover is not empty (exit $rc)"; lib_show "$tmp/plan"; fi
primary=${port[pg2]}

# --- status --top ----------------------------------------------------------------------

lib_run "$tmp/top_nocluster" status -f "$topo" --top
if [ "$rc" = 64 ] && grep -q -- "--cluster" "$tmp/top_nocluster.err"; then
	ok "--top without --cluster is an error naming --cluster"
else
	fail "--top without --cluster: exit $rc"; lib_show "$tmp/top_nocluster"
fi

lib_psql "$primary" -d appdb -c "
	create table orders (id int primary key, customer int, note text);
	create index orders_note_idx on orders (note);
	insert into orders select g, g % 100, 'n' || g from generate_series(1, 20000) g;
	analyze orders" >/dev/null
lib_psql "$primary" -d appdb -c "select pg_stat_statements_reset()" >/dev/null
for _ in $(seq 1 60); do
	echo "select count(*) from orders where customer = 7;"
done | lib_psql "$primary" -d appdb >/dev/null
lib_psql "$primary" -d appdb -c "select * from orders where id = 5" >/dev/null
# The statistics collector flushes at most every second (PostgreSQL 15: at commit, then shared).
sleep 1.5

lib_run "$tmp/top" status -f "$topo" --cluster c --top --limit 5
lib_expect_rc "status --top" "$tmp/top" 0
check "the text names the database and the statements' section" \
	grep -q "database appdb" "$tmp/top.out"
lib_run "$tmp/topj" status -f "$topo" --cluster c --top --format json
check "--top --format json: the repeated query is first in appdb" jqe '
	[.databases[] | select(.name == "appdb") | .statements[0] | (.query | test("customer")), .calls >= 60] == [true, true]' \
	"$tmp/topj.out"
check "--top: orders_note_idx is unused, with its size; the primary key is not listed" jqe '
	[.databases[] | select(.name == "appdb") | .unused_indexes[] | .index] as $u |
	($u | index("orders_note_idx")) != null and ($u | index("orders_pkey")) == null and
	[.databases[] | select(.name == "appdb") | .unused_indexes[] |
	 select(.index == "orders_note_idx") | .size_bytes > 0] == [true]' \
	"$tmp/topj.out"
check "--top: orders is read mostly by sequential scans" jqe '
	[.databases[] | select(.name == "appdb") | .seq_scan_tables[] | select(.table == "orders") | .seq_scan >= 60] == [true]' \
	"$tmp/topj.out"
check "the text lists the unused index and the query" bash -c \
	"grep -q orders_note_idx '$tmp/top.out' && grep -q 'customer' '$tmp/top.out'"

# Without the extension: one line says how to get it, the rest is still there.
lib_psql "$primary" -d appdb -c "drop extension pg_stat_statements" >/dev/null
lib_run "$tmp/top_nopgss" status -f "$topo" --cluster c --top
lib_expect_rc "status --top without pg_stat_statements in appdb" "$tmp/top_nopgss" 0
check "it says how to enable pg_stat_statements" grep -qF -e \
	"pg_stat_statements is not installed in database \"appdb\"; hint: set 'monitoring: {pg_stat_statements: true}'" \
	"$tmp/top_nopgss.out"
check "and still lists the unused index" grep -q orders_note_idx "$tmp/top_nopgss.out"

lib_finish test_datadog
