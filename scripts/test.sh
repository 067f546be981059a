#!/bin/sh
# The project's test command (CI runs it through .ci/run): installs dependencies,
# builds with -Wall -Wextra -Werror, runs every test through ctest, builds the
# Release configuration (no tests) to catch Release-only warnings, then builds
# and runs every test again under AddressSanitizer + UndefinedBehaviorSanitizer,
# then builds the Debian package, installs it, runs the installed station as its
# system user on an emulated line and removes it again (tests/e2e/install.sh),
# then runs each fuzz target briefly. Exits non-zero on any failure.
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=$(nproc 2>/dev/null || echo 2)

./scripts/setup.sh

echo "== build (Release with debug info, -Werror)"
cmake -S . -B build -DEDL_WERROR=ON >/dev/null
cmake --build build -j"$JOBS"

echo "== tests (ctest)"
(cd build && ctest --output-on-failure -j"$JOBS")

# Release (-O3, NDEBUG) sees warnings the default build does not: values used
# only in assert(), and -Wmaybe-uninitialized from deeper inlining. Build only.
echo "== Release build (-Werror), no tests"
cmake -S . -B build-release -DEDL_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j"$JOBS"

echo "== unit and end-to-end tests under ASan+UBSan"
cmake -S . -B build-asan -DEDL_WERROR=ON -DEDL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$JOBS"
# verify_asan_link_order=0: the e2e tests run edlstation under umockdev's LD_PRELOAD.
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:verify_asan_link_order=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$JOBS")

echo "== Debian package: build, install, run as the edlstation user, remove"
tests/e2e/install.sh build-deb

if [ -x scripts/fuzz.sh ]; then
	echo "== fuzz targets, ${EDL_FUZZ_SECONDS:-30} s each"
	./scripts/fuzz.sh "${EDL_FUZZ_SECONDS:-30}"
fi
echo "== all tests passed"
