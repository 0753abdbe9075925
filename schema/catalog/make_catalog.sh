#!/bin/sh
# make_catalog.sh MAJOR [BINDIR] - regenerates schema/catalog/pgMAJOR.tsv from
# that major version's own binaries (default BINDIR:
# /usr/lib/postgresql/MAJOR/bin).
#
# The parameter list, contexts, types and bounds come from
# `postgres --describe-config`; units, enum values and boot values come from
# pg_settings of a throw-away server (initdb into a temp dir, listening only on
# a unix socket in that dir). Both sources must agree on what they share.
# The server is stopped and the temp dir removed on exit.
#
# Maintainer script, run by hand when a major version is added; as root it
# runs the server as the "postgres" user.
set -eu

major=${1:?usage: make_catalog.sh MAJOR [BINDIR]}
bindir=${2:-/usr/lib/postgresql/$major/bin}
here=$(cd "$(dirname "$0")" && pwd)
out=$here/pg$major.tsv
port=5432 # only names the socket file inside the temp dir; no TCP listener

die() {
	echo "make_catalog.sh: $*" >&2
	exit 1
}

case $major in
'' | *[!0-9]*) die "major version \"$major\" is not a number" ;;
esac
for prog in postgres initdb pg_ctl psql; do
	[ -x "$bindir/$prog" ] || die "\"$bindir/$prog\" is not executable"
done
version=$("$bindir/postgres" --version)
# "postgres (PostgreSQL) 15.20 (Debian ...)" -> 15
got=$(echo "$version" | sed -n 's/^[^0-9]*\([0-9][0-9]*\).*/\1/p')
[ "$got" = "$major" ] || die "\"$bindir/postgres\" is version \"$version\", not $major"

# as_pg CMD... - runs CMD as the postgres user when we are root (initdb and
# postgres refuse to run as root).
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pgcatalog.XXXXXX")
started=0
cleanup() {
	if [ "$started" -eq 1 ]; then
		as_pg "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
[ "$(id -u)" -ne 0 ] || chown postgres "$tmp"

# 1. What the binary declares, without a server. Columns: name, context,
#    group, vartype, reset value, min, max, short and extra description.
"$bindir/postgres" --describe-config >"$tmp/describe.tsv" ||
	die "\"$bindir/postgres --describe-config\" failed"

# 2. What a running server reports.
as_pg "$bindir/initdb" -D "$tmp/data" -U postgres -A trust --locale=C -E UTF8 --no-sync \
	>"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; die "initdb failed"; }
started=1
as_pg "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
	-o "-c listen_addresses= -k $tmp -p $port" start >/dev/null ||
	{ cat "$tmp/server.log" >&2; die "the server did not start"; }

as_pg "$bindir/psql" -X -q -A -t -F "$(printf '\t')" -v ON_ERROR_STOP=1 \
	-h "$tmp" -p "$port" -U postgres -d postgres -c "
	SELECT name, context, vartype, coalesce(unit, ''), coalesce(min_val, ''),
	       coalesce(max_val, ''), coalesce(array_to_string(enumvals, ','), ''),
	       coalesce(boot_val, '')
	  FROM pg_settings ORDER BY lower(name)" >"$tmp/settings.tsv" ||
	die "reading pg_settings failed"

# --describe-config hides developer options and others marked "not in
# sample" (application_name, force_parallel_mode, trace_sort ...), yet
# postgresql.conf may set them: ask the server which parameters it accepts in
# a file, by including each with its current value and reading
# pg_file_settings. chr(92) is a backslash, escaped as the file syntax wants.
# guc.c marks a few GUC_DISALLOW_IN_FILE, which pg_settings does not show and
# the probe cannot see (the file is read, then every transaction resets them):
# they are named here.
disallowed="'config_file', 'transaction_isolation', 'transaction_read_only', 'transaction_deferrable'"
as_pg "$bindir/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -U postgres -d postgres -c "
	SELECT name || ' = ''' ||
	       replace(replace(setting, chr(92), chr(92) || chr(92)), '''', '''''') || ''''
	  FROM pg_settings
	 WHERE context <> 'internal' AND name NOT IN ($disallowed)" >"$tmp/probe.conf" ||
	die "reading pg_settings failed"
as_pg cp "$tmp/probe.conf" "$tmp/data/probe.conf"
echo "include 'probe.conf'" | as_pg tee -a "$tmp/data/postgresql.conf" >/dev/null
as_pg "$bindir/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -U postgres -d postgres -c "
	SELECT name FROM pg_file_settings
	 WHERE sourcefile LIKE '%/probe.conf' AND error IS NULL" >"$tmp/settable.txt" ||
	die "reading pg_file_settings failed"

# 3. Merge: every parameter of --describe-config, with unit, enum values and
#    boot value from pg_settings; any disagreement on what both report stops us.
awk -F '\t' -v OFS='\t' '
BEGIN {
	vt["BOOLEAN"] = "bool"; vt["INTEGER"] = "integer"; vt["REAL"] = "real"
	vt["STRING"] = "string"; vt["ENUM"] = "enum"
}
function complain(msg) {
	print "make_catalog.sh: " msg > "/dev/stderr"
	bad = 1
}
FILENAME == ARGV[1] {
	settable[$1] = 1
	next
}
FILENAME == ARGV[2] {
	if (NF != 8)
		complain("pg_settings row with " NF " columns: " $0)
	for (i = 1; i <= NF; i++)
		s[$1, i] = $i
	seen[$1] = 1
	next
}
{
	name = $1
	if (!(name in seen)) {
		complain("\"" name "\" is in --describe-config but not in pg_settings")
		next
	}
	described[name] = 1
	type = vt[$4]
	numeric = type == "integer" || type == "real"
	if (type == "")
		complain("\"" name "\": unknown type \"" $4 "\"")
	if ($2 != s[name, 2] || type != s[name, 3] ||
	    (numeric && ($6 != s[name, 5] || $7 != s[name, 6])))
		complain("\"" name "\": --describe-config says " $2 " " $4 " " $6 ".." $7 \
			 ", pg_settings says " s[name, 2] " " s[name, 3] " " s[name, 5] ".." s[name, 6])
	if (type == "enum" && s[name, 7] == "")
		complain("\"" name "\": enum without enumvals")
	print name, $2, type, s[name, 4], numeric ? $6 : "", numeric ? $7 : "", s[name, 7], s[name, 8]
}
END {
	# What --describe-config leaves out: settable ones are added, the preset
	# (internal) ones and those a file may not set stay out.
	for (n in seen) {
		if (n in described)
			continue
		if (n in settable) {
			print n, s[n, 2], s[n, 3], s[n, 4], s[n, 5], s[n, 6], s[n, 7], s[n, 8]
			added = added " " n
		} else {
			skipped = skipped " " n
		}
	}
	if (added != "")
		print "make_catalog.sh: hidden by --describe-config but settable, added:" added > "/dev/stderr"
	if (skipped != "")
		print "make_catalog.sh: preset or not settable in a file, skipped:" skipped > "/dev/stderr"
	exit bad
}' "$tmp/settable.txt" "$tmp/settings.tsv" "$tmp/describe.tsv" >"$tmp/merged.tsv" ||
	die "the two sources disagree"

n=$(wc -l <"$tmp/merged.tsv")
[ "$n" -gt 0 ] || die "no parameters found"
{
	printf '# %s\n' "$version"
	printf '# generated by schema/catalog/make_catalog.sh %s: do not edit\n' "$major"
	printf '# name\tcontext\tvartype\tunit\tmin_val\tmax_val\tenumvals\tboot_val\n'
	LC_ALL=C sort -f -t "$(printf '\t')" -k1,1 "$tmp/merged.tsv"
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "make_catalog.sh: wrote $n parameters of $version to $out" >&2
