#!/bin/sh
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for SECONDS
# (default 30). A crash or sanitizer report fails the script and leaves the
# reproducer in build-fuzz/artifacts/. Usage: scripts/fuzz.sh [SECONDS]
set -eu
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
JOBS=$(nproc 2>/dev/null || echo 2)
BUILD=build-fuzz

CC=clang cmake -S . -B "$BUILD" -DEDL_FUZZ=ON -DEDL_WERROR=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$BUILD" --target fuzzers -j"$JOBS" >/dev/null
mkdir -p "$BUILD/artifacts"

status=0
for target in "$BUILD"/tests/fuzz/fuzz_*; do
	[ -x "$target" ] || continue
	name=$(basename "$target")
	corpus="$BUILD/corpus/$name"
	mkdir -p "$corpus"
	if [ -d "tests/fuzz/corpus/$name" ]; then
		cp -n "tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true
	fi
	echo "fuzz: $name for ${SECONDS_EACH}s"
	if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$target" -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 \
		-artifact_prefix="$BUILD/artifacts/$name-" -print_final_stats=1 "$corpus" \
		>"$BUILD/$name.log" 2>&1; then
		echo "fuzz: $name FAILED; log: $BUILD/$name.log" >&2
		tail -40 "$BUILD/$name.log" >&2
		status=1
	else
		grep -E "stat::number_of_executed_runs|Done " "$BUILD/$name.log" | tr '\n' ' '
		echo
	fi
done
exit $status
