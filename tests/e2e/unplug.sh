#!/bin/bash
# End-to-end test of a unit unplugged at any instant of its life (issue 10,
# "nothing can hang"): the real `edlstation run` on an emulated line, where
# the first unit of each of 10 ports is pulled N ms after it was plugged
# (`--fault PORT:unplug-ms=N`) or once the host sent N bytes of program data
# (`unplug-at=N`), 20 moments in all over two station runs:
#   early  0, 10, ... 90 ms after the plug: attach, descriptor read, probe,
#          Sahara, erase, program, ... (a unit whose moment comes after it
#          passed counts as passed; at least half must be pulled)
#   flash  256 KiB, 832 KiB, ... 5440 KiB of the 5.9 MiB programmed: every
#          one pulled inside the program stage
# The ports are empty at start and plugged once the station is up (--at), so
# the moments count in the station's view of the unit; beside each pulled unit
# a neighbour on another port is flashed at the same time.
# Each run checks: every session the station opened for a pulled unit ended
# by itself (no row left `running` while the station still runs, within
# SESSION_END_S), each pulled unit it saw has a failed or passed row, the
# station did not crash and stops cleanly, and every unit not pulled passed.
# usage: unplug.sh EDLSTATION_BINARY
set -u
export LC_ALL=C # the station's stderr shares the emulator's log: bytes, not text
EDL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/edl-e2e-unplug.XXXXXX)
export TMPDIR=$W
trap 'kill "$EMU" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
PKG=$W/pkg
fails=0
EMU=
SESSION_END_S=10

# shellcheck source=lib.sh
. "$HERE/lib.sh"

# Every unit here is pulled on purpose: the line guard (which stops the line when
# units on several slots fail alike) is off, so that the line runs through them.
printf '[line]\nstop_after = 0\nstop_slots = 0\n' >"$W/noguard.ini"
"$EDL" mkpackage "$PKG" --storage nand --size 8 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }

# one_run NAME KIND FIRST STEP SPACING_S MIN_PULLED RATE: fault KIND=FIRST+(i-1)*STEP
# (unplug-ms: ms after the plug; unplug-at: KiB of program data) on port i
# (1..10), at least MIN_PULLED of them pulled before they passed, links at
# RATE MB/s (0 = unlimited); its
# neighbour on port 10+i plugged a quarter second before it, so that both are
# on the line together; plugs are spaced so that none delays a pull.
one_run() {
	local name=$1 kind=$2 first=$3 step=$4 spacing=$5 min_pulled=$6 rate=$7
	local args=() i at unit=''
	[ "$kind" = unplug-at ] && unit=K
	DB=$W/$name.db
	OUT=$W/$name.out
	local err=$W/$name.err
	: >"$err"
	: >"$OUT"
	for i in $(seq 1 10); do
		at=$(awk -v i="$i" -v s="$spacing" 'BEGIN { printf "%.2f", 1.0 + s * i }')
		args+=(--empty "$i" --at "$at:plug:$i" --fault "$i:$kind=$((first + (i - 1) * step))$unit"
			--empty $((10 + i)) --at "$(awk -v a="$at" 'BEGIN { printf "%.2f", a - 0.25 }'):plug:$((10 + i))")
	done
	"$EDL" emulate -v --storage nand --devices 20 --rate "$rate" "${args[@]}" -- \
		"$EDL" run --config "$W/noguard.ini" --package "$PKG" --db "$DB" --cache-dir "$W/cache" --log-format text \
		--reset-delay 0 >"$OUT" 2>"$err" &
	EMU=$!
	# Every unit has left the line (20 "left" lines), then the sessions end.
	local t=0
	while [ "$(grep -ac ' left (' "$err")" -lt 20 ] && [ "$t" -lt 300 ] && kill -0 "$EMU" 2>/dev/null; do
		sleep 0.1
		t=$((t + 1))
	done
	check "$name: all 20 units went through the line" [ "$(grep -ac ' left (' "$err")" -eq 20 ]
	t=0
	while [ "$(sql "select count(*) from run where result='running'" 2>/dev/null)" != 0 ] &&
		[ "$t" -lt $((SESSION_END_S * 10)) ]; do
		sleep 0.1
		t=$((t + 1))
	done
	check "$name: no run left running, the station still up (sessions ended by themselves)" \
		sh -c "[ \"\$(sqlite3 '$DB' \"select count(*) from run where result='running'\")\" = 0 ] && kill -0 $EMU"
	kill -TERM "$EMU"
	wait "$EMU"
	local rc=$?
	EMU=
	echo "$name: station exit $rc; $(tail -1 "$OUT")"
	check "$name: the station stopped cleanly (exit 0 or 3, no crash)" [ "$rc" -eq 0 -o "$rc" -eq 3 ]
	check "$name: nothing running after exit" [ "$(sql "select count(*) from run where result='running'")" = 0 ]
	# The units of ports 1..10 (1-1.1..1-2.3) had the fault, the others are neighbours.
	local faulted=() pulled=() seen=0 rows=0 passed_first=0 r
	mapfile -t faulted < <(grep -aE 'unit [0-9a-f]+ plugged \(' "$err" | grep -aE ' (1-1\.[1-7]|1-2\.[1-3]): unit ' |
		sed 's/.* unit \([0-9a-f]*\) plugged.*/\1/')
	mapfile -t pulled < <(grep -aE 'pulled .* ms after it was plugged|left \(gone' "$err" |
		sed 's/.* unit \([0-9a-f]*\) .*/\1/')
	check "$name: 10 units with the fault" [ "${#faulted[@]}" -eq 10 ]
	for s in "${faulted[@]}"; do
		r=$(sql "select group_concat(result || ':' || coalesce(error,''), ' ') from run where serial='$s'")
		case " $r " in *running*) fail "$name: $s left running: $r" ;; esac
		if ! printf '%s\n' "${pulled[@]}" | grep -qx "$s" || [ "$r" = pass: ]; then
			# Its moment came after it had passed.
			case " $r " in *pass:*) passed_first=$((passed_first + 1)) ;; *) fail "$name: $s neither pulled nor passed: $r" ;; esac
		elif grep -aq "SN:$s\]" "$OUT"; then
			seen=$((seen + 1))
			[ -n "$r" ] && rows=$((rows + 1))
			echo "  $s: $(grep -a "SN:$s\] \(fail\|pass\)" "$OUT" | tail -1 | sed 's/.*\] //' | cut -c1-100) [$r]"
		else
			echo "  $s: pulled before the station opened it"
		fi
	done
	check "$name: each pulled unit the station saw has its row ($rows of $seen)" [ "$rows" -eq "$seen" ]
	echo "$name: $((10 - passed_first)) of 10 pulled before they passed"
	check "$name: at least $min_pulled pulled before they passed" [ $((10 - passed_first)) -ge "$min_pulled" ]
	# Every neighbour passed.
	local others
	others=$(sql "select count(distinct serial) from run where result='pass' and serial not in ($(printf "'%s'," "${faulted[@]}")'')")
	check "$name: the 10 neighbours passed ($others)" [ "$others" -eq 10 ]
	check "$name: no neighbour failed" \
		[ "$(sql "select count(*) from run where result!='pass' and serial not in ($(printf "'%s'," "${faulted[@]}")'')")" = 0 ]
}

# A 20 MB/s link: the early moments come before the unit is through.
one_run early unplug-ms 0 10 0.5 5 20
one_run flash unplug-at 256 576 0.5 10 0
[ "$fails" -eq 0 ]
