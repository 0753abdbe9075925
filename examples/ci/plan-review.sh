#!/bin/sh
# examples/ci/plan-review.sh - the review of a topology change, for a pull
# request comment: validate the topology, then plan offline what merging the
# change would do. No server is contacted.
#
#   plan-review.sh BASE [HEAD]
#
#   BASE   the revision the change is compared with, e.g. origin/main
#   HEAD   the revision under review (default HEAD: in a pull request
#          workflow, the merge commit, i.e. BASE with the change applied)
#
# Markdown goes to stdout. Exit codes, as `pgconverge plan`:
#   0  no changes   2  changes   1  invalid topology or error
#
# Environment:
#   PGCONVERGE  the pgconverge binary (default: pgconverge from PATH)
#   REPO        the repository (default: the current folder)
#   TOPOLOGY    the topology's path inside the repository (default pgconverge.yaml)
#
# The workflow in pgconverge-plan.yml runs exactly this, and so does
# tests/integration/test_git.sh on a throw-away repository.
set -u

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: plan-review.sh BASE [HEAD]" >&2
	exit 1
fi
base=$1
head=${2:-HEAD}
pgc=${PGCONVERGE:-pgconverge}
repo=${REPO:-.}
topology=${TOPOLOGY:-pgconverge.yaml}
errors=$(mktemp) || exit 1
trap 'rm -f "$errors"' EXIT

# fenced TITLE - the title and the captured messages as a markdown code block.
fenced() {
	printf '### pgconverge plan\n\n**%s**\n\n```text\n' "$1"
	cat "$errors"
	printf '```\n'
}

if ! "$pgc" validate --offline --no-color --git "$repo" --ref "$head" --path "$topology" \
	>/dev/null 2>"$errors"; then
	fenced "\`$topology\` at \`$head\` is not a valid topology"
	exit 1
fi
"$pgc" plan --offline --no-color --git "$repo" --ref "$head" --path "$topology" \
	--base "$base" --format markdown 2>"$errors"
rc=$?
case $rc in
0 | 2)
	# Warnings (e.g. a base that does not load) are worth a look too.
	if [ -s "$errors" ]; then
		printf '\n<details><summary>warnings</summary>\n\n```text\n'
		cat "$errors"
		printf '```\n</details>\n'
	fi
	;;
*)
	fenced "the offline plan failed"
	rc=1
	;;
esac
exit "$rc"
