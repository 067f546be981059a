#!/bin/bash
# End-to-end test of issue 15's "preserve unit data": the real `edlstation run`,
# `backup` and `restore` on emulated units whose modemst1, modemst2, fsg, fsc and
# persist carry data seeded from their serial (`emulate --cal`), flashed with a
# full package that programs over those partitions (`mkpackage --rma`).
#   preserve  eMMC, UFS and NAND: the run passes; every seeded byte is back on
#             the unit's storage (emulate --dump vs. the seed, check_cal.py);
#             the package did program over them (run_step rows); the archive
#             holds each label's bytes with a matching .sha256; the store has a
#             row per label (kind preserve, restored 1, same sha256); a label
#             the unit does not have is a recorded warning, not a failure
#   fault     preserve-read (the unit's read of modemst1 is NAKed): the unit is
#             not flashed (no program or erase command reached it), the run
#             failed in stage preserve with EDL_E_PRESERVE_READ, class rma, and
#             a message naming the label and the archive directory
#   backup    backup, then a flash WITHOUT [rma] (the seed is overwritten), then
#             restore (newest archive): the seed is back, runs of kind backup and
#             restore, restore's rows restored 1
# usage: rma_preserve.sh EDLSTATION_BINARY
set -u
export LC_ALL=C
EDL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/edl-e2e-rma.XXXXXX)
export TMPDIR=$W
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
PY=/usr/bin/python3
SERIAL=1a2b3c4d
LABELS="modemst1 modemst2 fsg fsc persist"
fails=0
OUT=/dev/null
DB=
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# Failures here are on purpose: the line guard stays off.
printf '[line]\nstop_after = 0\nstop_slots = 0\n' >"$W/plain.ini"
printf '[line]\nstop_after = 0\nstop_slots = 0\n[rma]\npreserve = %s nosuch\narchive_dir = %s\n' \
	"$LABELS" "$W/archive" >"$W/rma.ini"

# station KIND DUMP DB CONFIG EMULATE_ARGS... -- COMMAND ARGS...: one unit on
# the emulated line, the station command run under it; output in $OUT.
station() {
	local kind=$1 dump=$2 db=$3 cfg=$4
	shift 4
	local emu=()
	while [ "$1" != -- ]; do
		emu+=("$1")
		shift
	done
	shift
	local cmd=$1
	shift
	DB=$db
	OUT=$W/$(basename "$db" .db).$cmd.out
	timeout 120 "$EDL" emulate --storage "$kind" --devices 1 --dump "$dump" "${emu[@]}" -- \
		"$EDL" "$cmd" "$@" --config "$cfg" --package "$W/pkg-$kind" --db "$db" \
		--cache-dir "$W/cache" --log-format text >"$OUT" 2>&1
}

archive_ok() { # archive_ok RUN: every label's .bin matches its .sha256 and the store's row
	local run=$1 label dir=$W/archive/$SERIAL/$1
	for label in $LABELS; do
		[ -s "$dir/$label.bin" ] || { echo "no $dir/$label.bin"; return 1; }
		(cd "$dir" && sha256sum --quiet -c "$label.bin.sha256") || return 1
		local sum
		sum=$(cut -d' ' -f1 "$dir/$label.bin.sha256")
		[ "$(sql "select count(*) from archive where run_id=$run and label='$label' and kind='preserve' and sha256='$sum' and bytes=$(stat -c %s "$dir/$label.bin")")" = 1 ] ||
			{ echo "no store row for $label of run $run"; return 1; }
	done
}

for kind in emmc ufs nand; do
	"$EDL" mkpackage "$W/pkg-$kind" --storage "$kind" --rma >/dev/null || { echo "FAIL: mkpackage $kind"; exit 1; }
	station "$kind" "$W/dump-$kind" "$W/$kind.db" "$W/rma.ini" --cal -- run --count 1 --reset-delay 0
	check "$kind: the run passed" [ "$(sql "select result from run")" = pass ]
	check "$kind: every seeded byte is back on the unit" \
		"$PY" "$HERE/check_cal.py" "$W/dump-$kind/$SERIAL/lun0.img" "$kind" "$SERIAL" same
	check "$kind: the package programmed over every preserved partition" \
		[ "$(sql "select count(*) from run_step where kind='program' and result='pass' and label in ('modemst1','modemst2','fsg','fsc','persist')")" = 5 ]
	check "$kind: archive files with their SHA-256, one store row each" archive_ok 1
	check "$kind: every preserved label written back and verified (restored 1)" \
		[ "$(sql "select count(*) from archive where run_id=1 and restored=1")" = 5 ]
	check "$kind: a label the unit lacks is a recorded warning" \
		grep -q "the unit has no partition 'nosuch'" <<<"$(sql "select warnings from run")"
done

# The unit's read of modemst1 fails: not flashed, set aside.
station emmc "$W/dump-fault" "$W/fault.db" "$W/rma.ini" --cal --fault 1:preserve-read -- run --count 1 --reset-delay 0
check "fault: the run failed in preserve with EDL_E_PRESERVE_READ, class rma" \
	[ "$(sql "select result, stage, error, error_class from run")" = "fail|preserve|EDL_E_PRESERVE_READ|rma" ]
check "fault: the message names the label and the archive directory" \
	sh -c "sqlite3 '$W/fault.db' 'select message from run' | grep -q \"'modemst1'.*$W/archive\""
check "fault: no program or erase command reached the unit" \
	sh -c "! grep -Eq '\"(program|erase)\"' '$W/dump-fault/$SERIAL/unit.json'"
check "fault: the unit's data is untouched" \
	"$PY" "$HERE/check_cal.py" "$W/dump-fault/$SERIAL/lun0.img" emmc "$SERIAL" same
check "fault: tried once (a preserve failure is not retried)" [ "$(sql "select count(*) from run")" = 1 ]

# A retry after the plan wrote over the partitions: the first attempt's archive
# is the source, never the unit's bytes of the moment.
printf '[line]\nstop_after = 0\nstop_slots = 0\n[flash]\nretries = 1\n[rma]\npreserve = %s\narchive_dir = %s\n' \
	"$LABELS" "$W/archive-retry" >"$W/retry.ini"
station emmc "$W/dump-retry" "$W/retry.db" "$W/retry.ini" --cal --fault 1:nak=program:3 -- run --count 1 --reset-delay 0
check "retry: attempt 1 failed in program after writing, attempt 2 passed" \
	[ "$(sql "select group_concat(result || '/' || coalesce(stage, ''), ' ') from run")" = "fail/program pass/" ]
check "retry: attempt 1's warning names the archive and the restore command" \
	sh -c "sqlite3 '$W/retry.db' 'select warnings from run where id=1' | grep -q 'archived in $W/archive-retry/$SERIAL/1.*edlstation restore $SERIAL --run 1'"
check "retry: attempt 2 wrote back attempt 1's archive" \
	[ "$(sql "select count(*) from archive where run_id=2 and restored=1 and path like '%/$SERIAL/1/%'")" = 5 ]
check "retry: every seeded byte is back" \
	"$PY" "$HERE/check_cal.py" "$W/dump-retry/$SERIAL/lun0.img" emmc "$SERIAL" same

# backup, a flash that loses the data, restore.
rm -rf "$W/archive"
station emmc "$W/dump-br" "$W/br.db" "$W/rma.ini" --cal -- backup "$SERIAL"
check "backup: a passed run of kind backup" [ "$(sql "select kind, result from run where id=1")" = "backup|pass" ]
check "backup: archive files with their SHA-256, one store row each" archive_ok 1
check "backup: rows restored 0 (nothing written back)" \
	[ "$(sql "select count(*) from archive where run_id=1 and restored=0")" = 5 ]
check "backup: nothing programmed" sh -c "! grep -q '\"program\"' '$W/dump-br/$SERIAL/unit.json'"
station emmc "$W/dump-br" "$W/br.db" "$W/plain.ini" -- run --count 1 --reset-delay 0
check "flash without [rma]: passed" [ "$(sql "select kind, result from run where id=2")" = "flash|pass" ]
check "flash without [rma]: the unit's data is gone" \
	"$PY" "$HERE/check_cal.py" "$W/dump-br/$SERIAL/lun0.img" emmc "$SERIAL" differ
# (what a bench must not do: preserving now would archive the package's bytes)
station emmc "$W/dump-br" "$W/br.db" "$W/rma.ini" -- backup "$SERIAL"
check "backup after the data was lost: warned that the unit holds the package's image" \
	grep -q "'modemst1' on the unit is exactly the package's modemst1.bin" "$OUT"
station emmc "$W/dump-br" "$W/br.db" "$W/rma.ini" -- restore "$SERIAL" --run 1
check "restore: a passed run of kind restore" [ "$(sql "select kind, result from run where id=4")" = "restore|pass" ]
check "restore: every seeded byte is back" \
	"$PY" "$HERE/check_cal.py" "$W/dump-br/$SERIAL/lun0.img" emmc "$SERIAL" same
check "restore --run 1: that archive written back, rows restored 1" \
	[ "$(sql "select count(*) from archive where run_id=4 and restored=1 and path like '%/$SERIAL/1/%'")" = 5 ]
# Without --run: the newest archive (run 3's, the package's bytes) is the one taken.
station emmc "$W/dump-br" "$W/br.db" "$W/rma.ini" -- restore "$SERIAL"
check "restore without --run: the newest archive (run 3)" \
	[ "$(sql "select count(*) from archive where run_id=5 and restored=1 and path like '%/$SERIAL/3/%'")" = 5 ]
"$EDL" restore "$SERIAL" --config "$W/rma.ini" --package "$W/pkg-emmc" --db "$W/br.db" --run 99 >"$W/norun.out" 2>&1
rc=$?
check "restore --run of no archive: exit 1 with the fix" \
	sh -c "[ $rc = 1 ] && grep -q 'no archive of $SERIAL' '$W/norun.out'"
"$EDL" backup --config "$W/rma.ini" >"$W/usage.out" 2>&1
rc=$?
"$EDL" backup 'x;y' --config "$W/rma.ini" >>"$W/usage.out" 2>&1
rc2=$?
check "backup without a serial, or with a bad one: exit 2, one line saying what is wrong" \
	sh -c "[ $rc = 2 ] && [ $rc2 = 2 ] && grep -q 'name 1 to 64 SERIALs' '$W/usage.out' && grep -q \"'x;y' is not a unit serial\" '$W/usage.out'"

# The archive directory is checked before a unit is touched.
printf '[rma]\npreserve = modemst1\n' >"$W/noarch.ini"
"$EDL" run --config "$W/noarch.ini" --package "$W/pkg-emmc" --db "$W/cfg.db" >"$W/noarch.out" 2>&1
rc=$?
check "config: preserve without archive_dir stops run before ready (exit 2, key and fix)" \
	sh -c "[ $rc = 2 ] && grep -q 'noarch.ini:2: \[rma\] preserve: .*set \[rma\] archive_dir' '$W/noarch.out' && ! grep -q ready '$W/noarch.out'"
: >"$W/afile"
printf '[rma]\npreserve = modemst1\narchive_dir = %s/afile/x\n' "$W" >"$W/badarch.ini"
"$EDL" config check --config "$W/badarch.ini" >"$W/badarch.out" 2>&1
rc=$?
check "config: an archive_dir that cannot be created is named with its line" \
	sh -c "[ $rc = 2 ] && grep -q 'badarch.ini:3: \[rma\] archive_dir: .*cannot be created' '$W/badarch.out'"
exit $((fails > 0))
