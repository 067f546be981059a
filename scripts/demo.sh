#!/bin/sh
# The README's first command. Builds edlstation, writes a synthetic package shaped
# like the field report's (Quectel RM502Q update, SDX55 NAND: update/firehose/
# prog_firehose_sdx55.mbn, rawprogram_nand_p4K_b256K_update.xml, patch_p4K_b256K.xml,
# md5.txt), checks it, and runs the station on an emulated production line: 8 ports
# on two hubs, 24 units passing through, of real device families (the emulator's
# device profiles: slots A1-A4 SDX55 units, B1-B4 another NAND family with 4 KiB
# pages when the emulator has one), USB 2.0-like link and NAND write rates, one
# unit whose programmer is still running from an earlier attempt (the field report)
# and one unplugged in the middle of a write. It ends with the yield report.
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)

./scripts/setup.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$JOBS" --target edlstation >/dev/null
EDL=$PWD/build/src/cli/edlstation

WORK=${EDL_DEMO_DIR:-/tmp/edlstation-demo}
rm -rf "$WORK"
mkdir -p "$WORK"
export TMPDIR="$WORK" # umockdev's socket paths must stay short
PKG="$WORK/RM502QAEAAR13A03M4G"
DB="$WORK/results.db"

step() { printf '\n== %s\n' "$*"; }

step "a synthetic package shaped like the field report's RM502Q update"
"$EDL" mkpackage "$PKG" --storage nand --size 24

step "edlstation package check: load, verify md5.txt, print the plan"
"$EDL" package check "$PKG" --cache-dir "$WORK/cache"

# A line flashes one package, and a NAND package is laid out for one page size:
# the 4 KiB-page package fits every profile with 4 KiB NAND pages, not MDM9607
# units (2 KiB pages, rawprogram_nand_p2K_b128K). So hub 2 takes the first other
# profile of "nand, 4096-byte sectors" that `emulate --help` lists, if any.
PROFILES="--profile sdx55"
other=$("$EDL" emulate --help | awk '/^profiles/ {p = 1; next}
	p && /; nand, 4096-byte sectors/ && $1 != "sdx55" {print $1; exit}')
B_PROFILE=${other:-sdx55}
for port in 1-2.1 1-2.2 1-2.3 1-2.4; do
	PROFILES="$PROFILES --profile $port:$B_PROFILE"
done

step "edlstation run on an emulated line: 8 ports (slots A1-A4, B1-B4 of config/station.ini), 24 units, 35 MB/s links, 80 MB/s per hub"
echo "   A1-A4 (hub 1-1): SDX55 units; B1-B4 (hub 1-2): $B_PROFILE units"
echo "   port 1-1.3: the unit's programmer is still running from an earlier attempt"
echo "   port 1-2.2: the unit is unplugged after 3 MB of its write"
set +e
# shellcheck disable=SC2086 # $PROFILES is a list of options
"$EDL" emulate --devices 8 --hub-ports 4 $PROFILES --units 24 --swap-delay 0.3 \
	--rate 35 --hub-rate 80 --write-rate 40 \
	--fault 1-1.3:firehose-running --fault 1-2.2:unplug-at=3M -- \
	"$EDL" run --config config/station.ini --package "$PKG" --db "$DB" --count 24 --station demo-line \
	--log-dir "$WORK/logs" --cache-dir "$WORK/cache" --log-format text
rc=$?
set -e
echo "edlstation run exited with $rc (3: some unit failed — the unplugged one)"

step "edlstation report: what the line lead and the yield engineer read"
"$EDL" report --db "$DB"

step "edlstation history of the unplugged unit"
serial=$(sqlite3 "$DB" "select serial from run where result='fail' limit 1")
[ -n "$serial" ] && "$EDL" history --db "$DB" "$serial"
printf '\nEverything is in %s (database, transcripts in logs/).\n' "$WORK"
