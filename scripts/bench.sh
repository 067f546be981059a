#!/bin/sh
# Benchmarks (never timed tests): `scripts/bench.sh [package|store|station|capture|web|factory|all]`.
# Each prints a table of figures, as ratios to a baseline measured in the same
# run where one exists, and writes JSON under build/bench/.
set -eu
cd "$(dirname "$0")/.."
what=${1:-all}
shift 2>/dev/null || true
run() {
	name=$1
	shift
	"scripts/bench/$name.sh" "$@"
}
case "$what" in
package | store | station | capture | web) run "$what" "$@" ;;
factory)
	# The sync's drain (scripts/bench/factory.sh, its options), then the factory
	# report (scripts/bench/factory_report.sh, 10M runs by default).
	run factory "$@"
	run factory_report
	;;
all)
	for b in package store station; do
		run "$b"
	done
	;;
*)
	echo "usage: scripts/bench.sh [package|store|station|capture|web|factory|all]" >&2
	exit 2
	;;
esac
