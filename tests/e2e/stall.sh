#!/bin/bash
# End-to-end tests of a unit that stops taking data, and of the two drivers of
# the unit core agreeing. The real `edlstation run` on an emulated line under
# `edlstation emulate` (umockdev), checked on the bytes of each unit's dumped
# storage (check_dump.py), the rows in the results database and exit codes.
#   stall SPEC   8 units, the one on 1-1.3 stalls (--fault 1-1.3:stall-at=SPEC):
#                it fails with EDL_E_STALLED and the sentence naming where, within
#                the progress deadline; the 7 others pass byte for byte; exit 3.
#   same_commands  `edlstation memflash` and `edlstation run` send the same
#                Firehose commands for the same package (their transcripts).
# usage: stall.sh EDLSTATION_BINARY TEST [ARG]
set -u
EDL=$1
TEST=$2
ARG=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/edl-e2e-stall.XXXXXX)
export TMPDIR=$W
trap 'rm -rf "$W"' EXIT
PKG=$W/pkg
RAW=$PKG/update/firehose/rawprogram_nand_p4K_b256K_update.xml
DB=$W/results.db
OUT=$W/out.txt
fails=0

# shellcheck source=lib.sh
. "$HERE/lib.sh"

"$EDL" mkpackage "$PKG" --storage nand --size 16 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }

case "$TEST" in
stall)
	printf '[timeouts]\nprogress_ms = 2000\n' >"$W/stall.ini"
	start=$(date +%s%N)
	timeout -s KILL 240 "$EDL" emulate --storage nand --devices 8 --dump "$W/dump" \
		--fault "1-1.3:stall-at=$ARG" -- \
		"$EDL" run --config "$W/stall.ini" --package "$PKG" --db "$DB" --cache-dir "$W/cache" \
		--log-format text --log-dir "$W/logs" --reset-delay 0 --count 8 >"$OUT" 2>&1
	rc=$?
	secs=$((($(date +%s%N) - start) / 1000000000))
	check "exit 3 (one unit failed)" [ "$rc" -eq 3 ]
	check "7 passed runs" [ "$(sql "select count(*) from run where result='pass'")" = 7 ]
	n=0
	for d in "$W"/dump/*/; do
		[ "$(basename "$d")" = 1a2b3c4f ] && continue
		python3 "$HERE/check_dump.py" "$RAW" "$d" >/dev/null && n=$((n + 1))
	done
	check "7 dumps match the package byte for byte" [ "$n" -eq 7 ]
	# Inside the Sahara upload the last packet may have been taken whole: the
	# host then sees a device that stopped answering (EDL_E_SAHARA_TIMEOUT,
	# retried) and the retry finds the endpoint stalled. A stall is final.
	check "the stalled unit's last run failed with EDL_E_STALLED" \
		[ "$(sql "select error from run where serial='1a2b3c4f' order by id desc limit 1")" = EDL_E_STALLED ]
	check "a stall is not retried" [ "$(sql "select count(*) from run where serial='1a2b3c4f' and error='EDL_E_STALLED'")" = 1 ]
	check "at most the configured attempts" [ "$(sql "select count(*) from run where serial='1a2b3c4f'")" -le 2 ]
	msg=$(sql "select message from run where serial='1a2b3c4f' order by id desc limit 1")
	echo "message: $msg"
	check "the sentence says where it stopped" sh -c "echo \"\$1\" | grep -q 'stopped accepting data.*byte'" _ "$msg"
	check "the sentence says what to do" sh -c "echo \"\$1\" | grep -q 're-seat the cable'" _ "$msg"
	check "the operator saw the failure" grep -q "1-1.3.*fail:.*stopped accepting data" "$OUT"
	check "the station did not wait for it (well under a minute)" [ "$secs" -lt 60 ]
	;;
same_commands)
	# run: one emulated NAND unit over umockdev; memflash: the same unit over
	# the in-memory line. Both drive the unit core with the station's defaults.
	timeout -s KILL 240 "$EDL" emulate --storage nand --devices 1 -- \
		"$EDL" run --package "$PKG" --db "$DB" --cache-dir "$W/cache" --log-format text \
		--log-dir "$W/logs" --count 1 >"$OUT" 2>&1
	check "run passed" [ $? -eq 0 ]
	"$EDL" memflash --package "$PKG" --cache-dir "$W/cache" -v >"$W/mem.txt" 2>&1
	check "memflash passed" [ $? -eq 0 ]
	grep -ho 'firehose: -> .*' "$W"/logs/*.log | sed 's/^firehose: -> //' >"$W/run.cmds"
	grep -o 'firehose: -> .*' "$W/mem.txt" | sed 's/^firehose: -> //' >"$W/mem.cmds"
	check "run sent Firehose commands" [ "$(wc -l <"$W/run.cmds")" -gt 10 ]
	check "setbootablestoragedrive sent by both" sh -c "grep -q setbootable '$W/run.cmds' && grep -q setbootable '$W/mem.cmds'"
	if ! diff -u "$W/run.cmds" "$W/mem.cmds" >"$W/cmds.diff"; then
		cp "$W/cmds.diff" "$OUT"
		fail "memflash and run sent different commands"
	else
		echo "ok: memflash and run sent the same $(wc -l <"$W/run.cmds") commands"
	fi
	;;
*)
	echo "unknown test $TEST"
	exit 2
	;;
esac
[ "$fails" -eq 0 ]
