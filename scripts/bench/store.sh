#!/bin/sh
# Store benchmark: `scripts/bench/store.sh [--runs N]` (default 1,000,000).
# Inserts N synthetic runs with their steps through the station's writer code,
# then times the report and the history on that database. Prints a table and
# writes build/bench/store.json; the database is left at build/bench/store.db
# for `edlstation report --db build/bench/store.db`. EDL_BENCH_BUILD names
# another build directory to use (default build/, configured if missing).
set -eu
cd "$(dirname "$0")/../.."
runs=1000000
# scripts/bench.sh passes the benchmark's own name first.
[ "${1:-}" = store ] && shift
while [ $# -gt 0 ]; do
	case "$1" in
	--runs)
		[ $# -ge 2 ] || { echo "usage: scripts/bench/store.sh [--runs N]" >&2; exit 2; }
		runs=$2
		shift 2
		;;
	--runs=*)
		runs=${1#--runs=}
		shift
		;;
	*)
		echo "usage: scripts/bench/store.sh [--runs N]" >&2
		exit 2
		;;
	esac
done
case "$runs" in
'' | *[!0-9]*)
	echo "store.sh: --runs wants a number, not '$runs'" >&2
	exit 2
	;;
esac
bdir=${EDL_BENCH_BUILD:-build}
if [ ! -f "$bdir/CMakeCache.txt" ]; then
	cmake -S . -B "$bdir" -DEDL_WERROR=ON >/dev/null
fi
cmake --build "$bdir" --target bench_store -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
mkdir -p build/bench
exec "$bdir/tests/store/bench_store" --runs "$runs" --db build/bench/store.db \
	--json build/bench/store.json
