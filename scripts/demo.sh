#!/bin/sh
# The README's first command: builds edlstation, writes a synthetic package shaped
# like the field report's (Quectel RM502Q, SDX55 NAND), checks it, and flashes
# emulated units with it over the in-memory link (the real Sahara and Firehose
# engines against the emulated device, no USB yet): a healthy unit, the field
# report's unit whose programmer is still running from an earlier attempt, a unit
# whose storage corrupts a write, and a unit that answers nothing at all.
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)

./scripts/setup.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$JOBS" --target edlstation >/dev/null
EDL=build/src/cli/edlstation

WORK=${EDL_DEMO_DIR:-build/demo}
rm -rf "$WORK"
mkdir -p "$WORK"
PKG="$WORK/RM502QAEAAR13A03M4G"

step() { printf '\n== %s\n' "$*"; }

step "a synthetic package shaped like the field report's RM502Q update"
$EDL mkpackage "$PKG" --size 48

step "edlstation package check: load, verify md5.txt, print the plan"
$EDL package check "$PKG" --cache-dir "$WORK/cache"

step "a healthy unit"
$EDL memflash --package "$PKG" --cache-dir "$WORK/cache" --serial 1a2b3c4d --dump "$WORK/unit-1a2b3c4d"

step "the field report: the unit's programmer is still running from an earlier attempt"
$EDL memflash --package "$PKG" --cache-dir "$WORK/cache" --serial 1a2b3c4e --fault firehose-running

step "a unit whose storage flips a bit: caught by the read-back digest"
$EDL memflash --package "$PKG" --cache-dir "$WORK/cache" --serial 1a2b3c4f --fault corrupt || true

step "a unit that answers nothing at all"
$EDL memflash --package "$PKG" --cache-dir "$WORK/cache" --serial 1a2b3c50 --fault silent || true

printf '\nThis demo ran the engines over the in-memory link. The USB station (edlstation run on\n'
printf 'an emulated production line) and the results database come with the station issues.\n'
