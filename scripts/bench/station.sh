#!/bin/sh
# Station benchmark: see scripts/bench/station.py.
# usage: scripts/bench/station.sh [--quick] [--only a,b,c,d,profiles]
set -eu
cd "$(dirname "$0")/../.."
[ "${1:-}" = station ] && shift
BUILD=${EDL_BENCH_BUILD:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target edlstation edl_host >/dev/null
mkdir -p "$BUILD/bench"
python3 scripts/bench/station.py "$BUILD" "$BUILD/bench/station.json" "$@"
