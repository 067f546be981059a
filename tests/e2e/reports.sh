#!/bin/bash
# End-to-end test of `report` and `history` in the line's words, on the real
# binary after a short emulated run (4 units on 4 ports, one failing verify):
# the unit found by upper case, 0x, its USB serial and a unique prefix; "did
# you mean" and exit 1 for a typo; one-line usage errors with exit 2; the
# report's failed units with class and action, the slot filter and the
# package filter by hash prefix and path.
# usage: reports.sh EDLSTATION_BINARY
set -u
EDL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/edl-e2e-reports.XXXXXX)
export TMPDIR=$W
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
PKG=$W/pkg
DB=$W/results.db
OUT=$W/out.txt
fails=0

# shellcheck source=lib.sh
. "$HERE/lib.sh"

"$EDL" mkpackage "$PKG" --storage nand --size 8 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }
printf '[flash]\nverify = digest\n' >"$W/verify.ini"
timeout -s KILL 120 "$EDL" emulate --storage nand --devices 4 --units 4 --swap-delay 0.1 \
	--fault 1-1.2:corrupt -- \
	"$EDL" run --package "$PKG" --db "$DB" --cache-dir "$W/cache" --log-format text \
	--log-dir "$W/logs" --reset-delay 0 --count 4 --retries 0 --config "$W/verify.ini" \
	>"$OUT" 2>&1
rc=$?
check "station exit 3 (one unit failed)" [ "$rc" -eq 3 ]

failed=$(sql "select serial from run where result='fail' limit 1")
passed=$(sql "select serial from run where result='pass' limit 1")
usb=$(sql "select usb_serial from device where serial='$passed'")
upper=$(echo "$passed" | tr a-f A-F)
check "a failed and a passed unit recorded" [ -n "$failed" ] && [ -n "$passed" ]

# history: the unit as people type it
for typed in "$passed" "$upper" "0x$upper" "0X$passed"; do
	check "history finds $typed" sh -c "\"$EDL\" history --db \"$DB\" '$typed' | head -1 | grep -qx 'unit $passed'"
done
if [ -n "$usb" ]; then
	check "history finds the USB serial $usb" sh -c "\"$EDL\" history --db \"$DB\" '$usb' | head -1 | grep -qx 'unit $passed'"
fi
prefix=$passed
while [ ${#prefix} -gt 1 ] &&
	[ "$(sql "select count(*) from device where serial like '${prefix%?}%' or usb_serial like '${prefix%?}%'")" = 1 ]; do
	prefix=${prefix%?}
done
check "history finds the unique prefix $prefix" sh -c "\"$EDL\" history --db \"$DB\" '$prefix' | head -1 | grep -qx 'unit $passed'"
typo=${passed%?}X
"$EDL" history --db "$DB" "$typo" >/dev/null 2>"$W/err.txt"
rc=$?
check "a typo: exit 1" [ "$rc" -eq 1 ]
check "a typo: did you mean" grep -q "no unit $typo; did you mean .*?" "$W/err.txt"

# history: the failed run's class and action
"$EDL" history --db "$DB" "$failed" >"$W/h.txt"
check "history shows the failed run's class" grep -q "error EDL_E_VERIFY_MISMATCH, class " "$W/h.txt"
check "history shows the action" grep -q "^    action: " "$W/h.txt"
check "history names the slot by its port, not a number" grep -q " slot 1-1.2 (1-1.2)" "$W/h.txt"

# usage errors: one line of what, one line of usage, exit 2
for cmd in "history A B" "report --bogus" "history" "report --by day"; do
	# shellcheck disable=SC2086
	"$EDL" $cmd --db "$DB" >/dev/null 2>"$W/err.txt"
	rc=$?
	check "'$cmd': exit 2" [ "$rc" -eq 2 ]
	check "'$cmd': two lines, the second usage" sh -c "[ \$(wc -l <'$W/err.txt') -eq 2 ] && sed -n 2p '$W/err.txt' | grep -q '^usage: edlstation '"
done

# report: failed units, slot and package filters
"$EDL" report --db "$DB" >"$W/r.txt"
check "report lists the failed unit" grep -q "^failed units (1 of 1 listed, newest first)" "$W/r.txt"
check "report names it with its slot" grep -q "1-1.2 .*$failed .*verify" "$W/r.txt"
check "report says what to do" grep -q "^    action: " "$W/r.txt"
check "report shows good units per hour" grep -q "^good units per hour " "$W/r.txt"
"$EDL" report --db "$DB" --slot 1-1.2 --format json >"$W/r.json"
check "--slot 1-1.2: one unit, failed" python3 -c "import json; d=json.load(open('$W/r.json')); assert d['units'] == 1 and d['failed'][0]['serial'] == '$failed' and d['failed'][0]['class'], d"
hash=$(sql "select substr(manifest_hash, 1, 8) from package limit 1")
path=$(sql "select path from package limit 1")
for p in "$hash" "$(echo "$hash" | tr a-f A-F)" "$path"; do
	"$EDL" report --db "$DB" --package "$p" --format json >"$W/r.json"
	check "--package $p: 4 units" python3 -c "import json; d=json.load(open('$W/r.json')); assert d['units'] == 4 and len(d['packages']) == 1, d"
done
"$EDL" report --db "$DB" --package nothing-like-it --format json >"$W/r.json"
check "--package unknown: nothing" python3 -c "import json; d=json.load(open('$W/r.json')); assert d['runs'] == 0, d"
exit $fails
