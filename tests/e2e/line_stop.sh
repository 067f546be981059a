#!/bin/bash
# End-to-end test of the line stop on failures alike (issue 11): a NAND package
# on a line of UFS units. The first unit fails as "wrong package", no unit is
# retried, the line stops after [line] stop_after units in a row and says what
# to check; units that arrive meanwhile wait (neither flashed nor refused);
# SIGUSR1 resumes it, and the next units stop it again. Then: a killed
# station's runs keep where they stopped (stage, bytes, time) and the port
# map's slot label; a package changed under the station stops the line.
# usage: line_stop.sh EDLSTATION_BINARY
set -u
EDL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/edl-e2e.XXXXXX)
export TMPDIR=$W
PID=
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$W"' EXIT
DB=$W/results.db
OUT=$W/out.txt
fails=0

# shellcheck source=lib.sh
. "$HERE/lib.sh"

wait_for() { # wait_for PATTERN COUNT SECONDS: COUNT lines of $OUT match
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(grep -c -- "$1" "$OUT" 2>/dev/null)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

"$EDL" mkpackage "$W/pkg" --storage nand --size 8 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }
printf '[line]\nstop_after = 3\nstop_slots = 0\n' >"$W/line.ini"

# 4 ports, 8 units: the first 4 fail at once (the line stops at the third),
# the next 4 arrive while it is stopped (--fail-hold takes the failed ones off).
timeout -s KILL 120 "$EDL" emulate --storage ufs --devices 4 --units 8 --fail-hold 0.5 \
	--swap-delay 0.1 -- sh -c 'echo $$ >"$0"; exec "$@"' "$W/pid" \
	"$EDL" run --config "$W/line.ini" --package "$W/pkg" --db "$DB" --cache-dir "$W/cache" \
	--log-format text --reset-delay 0 --retries 2 --count 8 >"$OUT" 2>&1 &
EMU=$!
for ((i = 0; i < 100; i++)); do [ -s "$W/pid" ] && break; sleep 0.1; done
PID=$(cat "$W/pid" 2>/dev/null)

check "the line stopped after 3 units in a row, saying why" \
	wait_for "line-stopped: 3 units in a row failed: wrong package" 1 30
check "the first failure is named a wrong package with both sides" \
	sh -c "grep -m1 ' fail: ' '$OUT' | grep -q 'package does not fit this unit: this package is for nand units, but the unit.s programmer refuses that storage'"
check "the units that came meanwhile wait" wait_for "waits: the line is stopped (3 units in a row failed: wrong package)" 4 30
sleep 0.5
check "no unit started while the line was stopped" [ "$(grep -c ' start: attempt' "$OUT")" = 4 ]
check "only the first 4 have rows" [ "$(sql "select count(*) from run")" = 4 ]

kill -USR1 "$PID"
check "SIGUSR1 resumes the line" wait_for "resume: resumed by the operator" 1 10
wait "$EMU"
rc=$?
check "exit 3 (units failed)" [ "$rc" -eq 3 ]
check "the waiting units were taken after the resume" [ "$(grep -c ' start: attempt' "$OUT")" = 8 ]
check "and stopped the line again" [ "$(grep -c 'line-stopped: 3 units in a row failed: wrong package' "$OUT")" = 2 ]
check "8 runs, each a first attempt, none retried" \
	[ "$(sql "select count(*), sum(attempt = 1), sum(error = 'EDL_E_WRONG_PACKAGE') from run")" = "8|8|8" ]
check "no retry was shown" [ "$(grep -c ' retry: ' "$OUT")" = 0 ]

# The records in the line's words, and a killed station's runs say where they
# stopped: slot label from the port map, stage, bytes taken, last progress time.
DB=$W/kill.db
OUT=$W/kill.txt
rm -f "$W/pid"
printf '[ports]\n1-1.1 = A1\n' >"$W/ports.ini"
timeout -s KILL 60 "$EDL" emulate --storage nand --devices 2 --write-rate 1 -- \
	sh -c 'echo $$ >"$0"; exec "$@"' "$W/pid" \
	"$EDL" run --config "$W/ports.ini" --package "$W/pkg" --db "$DB" \
	--cache-dir "$W/cache" --log-format text --reset-delay 0 --count 2 >"$OUT" 2>&1 &
EMU=$!
for ((i = 0; i < 100; i++)); do [ -s "$W/pid" ] && break; sleep 0.1; done
check "both units are flashing" wait_for "stage: flashing" 2 20
sleep 3.5
kill -KILL "$(cat "$W/pid")"
wait "$EMU"
check "the killed runs keep their stage, the bytes taken and the time of the last progress" \
	[ "$(sql "select count(*) from run where result='running' and stage in ('erase','program','verify') and bytes_written > 0 and bytes_written <= bytes_total and progress_ms >= start_ms")" = 2 ]
check "the slot label of the port map is recorded, an unmapped port has none" \
	[ "$(sql "select group_concat(coalesce(slot_label, '-'), ',') from (select slot_label from run order by port)")" = "A1,-" ]

# The package changes under the station (an image rewritten in place): the next
# unit is not flashed, the line stops naming the file, the unit waits.
DB=$W/changed.db
OUT=$W/changed.txt
cp -a "$W/pkg" "$W/pkg2"
IMG=$(find "$W/pkg2" -name '*.mbn' ! -name 'prog_*' | head -1)
# The next unit arrives 2 s after the first leaves (--swap-delay): time enough
# for the touch below to land before the station looks at the package again,
# even on a loaded machine (at 0.1 s the second unit could start first).
timeout -s KILL 60 "$EDL" emulate --storage nand --devices 1 --units 3 --swap-delay 2 -- \
	"$EDL" run --package "$W/pkg2" --db "$DB" --cache-dir "$W/cache" --log-format text \
	--reset-delay 0 --count 3 >"$OUT" 2>&1 &
EMU=$!
check "the first unit passed" wait_for " pass: " 1 30
touch -d '2001-01-01' "$IMG"
check "the line stopped: the package changed under the station" \
	wait_for "line-stopped: package changed under the station: .*$(basename "$IMG")" 1 30
check "the next unit waits, not flashed" wait_for "waits: the line is stopped (package changed" 1 30
kill -TERM "$EMU"
wait "$EMU"
check "one unit flashed" [ "$(grep -c ' start: attempt' "$OUT")" = 1 ]
exit "$fails"
