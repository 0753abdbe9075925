#!/bin/sh
# bench/gen_bad_input.sh SHAPE - prints a large or hostile topology file of
# one shape, to time `pgconverge validate -f FILE` on it (see
# bench/README.md, "validate on hostile input"). Most shapes are about 1 MB.
#
#   nest-seq       100,000 nested "[" (flow sequences)
#   nest-map       100,000 nested "{a: " (flow mappings)
#   nest-block     1,400 nested block mappings, one indentation step each
#   settings       40,000 cluster settings
#   role-chain     100,000 roles, each a member of the next (3.5 MB)
#   long-list      a fence_command of 120,000 arguments
#   many-clusters  1,600 clusters of 2 nodes
#   many-nodes     1 cluster of 8,000 nodes
#   long-string    a setting value of 1,000,000 characters
#   many-hba       10,000 hba rules
#   replica-chain  1 cluster of 8,000 nodes, each replicating from the one before
#   anchors        25,000 anchored settings and as many aliases to them
#   unknown-params 40,000 settings that PostgreSQL does not know
#   unknown-roles  30,000 roles, each a member of a role nobody declared
#   unknown-keys   40,000 node keys that do not exist
#   laughs         aliases of lists that expand to billions of items
#   alias-bomb     1,000 clusters x 1,000 nodes x 1,000 settings through aliases (32 kB)
set -eu
shape=${1:?usage: gen_bad_input.sh SHAPE}
head='version: 1
clusters:
  main:
    nodes:
      pg1: {port: 25432, data_dir: d}'
case $shape in
nest-seq)
	printf 'version: 1\nclusters: '
	awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; print "" }' ;;
nest-map)
	printf 'version: 1\nclusters: '
	awk 'BEGIN { for (i = 0; i < 100000; i++) printf "{a: "; print "" }' ;;
nest-block)
	printf 'version: 1\nclusters:\n'
	awk 'BEGIN { s = "  "; for (i = 0; i < 1400; i++) { printf "%sa:\n", s; s = s " " } }' ;;
settings)
	echo "$head"
	echo "    settings:"
	awk 'BEGIN { for (i = 0; i < 40000; i++) printf "      app.p%d: %d\n", i, i }' ;;
role-chain)
	echo "$head"
	echo "    roles:"
	awk 'BEGIN { for (i = 0; i < 100000; i++) printf "      r%d: {member_of: [r%d]}\n", i, i + 1; print "      r100000: {}" }' ;;
long-list)
	echo "$head"
	printf '    failover:\n      fence_command: [/bin/true'
	awk 'BEGIN { for (i = 0; i < 120000; i++) printf ", a%d", i; print "]" }' ;;
many-clusters)
	sh "$(dirname "$0")/gen_topology.sh" 1600 2 ;;
many-nodes)
	sh "$(dirname "$0")/gen_topology.sh" 1 8000 ;;
long-string)
	echo "$head"
	printf '    settings:\n      application_name: "'
	awk 'BEGIN { for (i = 0; i < 100000; i++) printf "abcdefghij"; print "\"" }' ;;
many-hba)
	echo "$head"
	echo "    hba:"
	awk 'BEGIN { for (i = 0; i < 10000; i++) printf "      - {type: host, database: db%d, user: u%d, address: 10.%d.%d.0/24, method: scram-sha-256}\n", i, i, int(i / 256), i % 256 }' ;;
replica-chain)
	printf 'version: 1\nclusters:\n  main:\n    primary: n0\n    nodes:\n'
	awk 'BEGIN { print "      n0: {port: 20000, data_dir: d/n0}"; for (i = 1; i < 8000; i++) printf "      n%d: {port: %d, data_dir: d/n%d, replicate_from: n%d}\n", i, 20000 + i, i, i - 1 }' ;;
anchors)
	echo "$head"
	printf '    settings:\n'
	awk 'BEGIN { for (i = 0; i < 25000; i++) printf "      app.a%d: &a%d %d\n", i, i, i; for (i = 0; i < 25000; i++) printf "      app.b%d: *a%d\n", i, i }' ;;
unknown-params)
	echo "$head"
	echo "    settings:"
	awk 'BEGIN { for (i = 0; i < 40000; i++) printf "      p%d_x: %d\n", i, i }' ;;
unknown-roles)
	echo "$head"
	echo "    roles:"
	awk 'BEGIN { for (i = 0; i < 30000; i++) printf "      r%d: {member_of: [x%d]}\n", i, i }' ;;
unknown-keys)
	printf 'version: 1\nclusters:\n  main:\n    nodes:\n      pg1:\n        port: 25432\n        data_dir: d\n'
	awk 'BEGIN { for (i = 0; i < 40000; i++) printf "        k%d: %d\n", i, i }' ;;
laughs)
	printf 'version: 1\nx-0: &l0 [a, a, a, a, a, a, a, a, a, a]\n'
	awk 'BEGIN { for (i = 1; i < 30; i++) printf "x-%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1 }'
	printf 'clusters:\n  main:\n    nodes:\n      pg1: {port: 25432, data_dir: d}\n    failover: {fence_command: *l29}\n' ;;
alias-bomb)
	echo 'version: 1'
	awk 'BEGIN {
		printf "x-s: &S {"; for (i = 0; i < 1000; i++) printf "%sapp.p%d: 1", i ? ", " : "", i; print "}"
		print "x-n: &N {port: 25432, data_dir: d, settings: *S}"
		printf "x-c: &C {nodes: {"; for (i = 0; i < 1000; i++) printf "%sn%d: *N", i ? ", " : "", i; print "}, settings: *S}"
		printf "clusters: {"; for (i = 0; i < 1000; i++) printf "%sc%d: *C", i ? ", " : "", i; print "}"
	}' ;;
*)
	echo "gen_bad_input.sh: unknown shape \"$shape\"" >&2
	exit 2 ;;
esac
