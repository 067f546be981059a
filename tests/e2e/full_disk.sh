#!/bin/bash
# End-to-end test of results before appearances on a full disk (issue 10, "Done
# when"): a line of 48 units with the results database on a small tmpfs that a
# filler file takes mid-run. No unit may be shown PASS without a pass row (the
# units whose commit failed are shown "flashed, NOT RECORDED"); the line stops
# with the reason within one unit of the disk filling; once the test frees the
# space the kept results are recorded, the line resumes by itself ([line]
# resume = auto) and finishes: every unit flashed has its row, none is left
# `running`, exit 3 (units shown failed). A restart below the reserve starts
# with the line stopped.
# Needs root (mount); else SKIP (77).
# usage: full_disk.sh EDLSTATION_BINARY
set -u
EDL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: mounting a small tmpfs for the results database needs root"
	exit 77
fi
W=$(mktemp -d /tmp/edl-e2e.XXXXXX)
export TMPDIR=$W
FS=$W/fs
mkdir -p "$FS"
if ! mount -t tmpfs -o size=16m tmpfs "$FS" 2>/dev/null; then
	rm -rf "$W"
	echo "SKIP: cannot mount a tmpfs here (no CAP_SYS_ADMIN in this container?)"
	exit 77
fi
EMU=
trap '[ -n "$EMU" ] && kill -KILL "$EMU" 2>/dev/null; [ -n "${EDL_KEEP:-}" ] && cp "$OUT" "$EDL_KEEP"; umount -l "$FS"; rm -rf "$W"' EXIT
DB=$FS/results.db
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
# No reserve for the line itself ([store] min_free_mb = 0): the commits fail on
# the full disk, the results are kept (<db>.pending) and retried every 200 ms.
# The restart below keeps a reserve of 1 MiB, checked before each unit.
printf '[store]\nmin_free_mb = 0\nretry_ms = 200\n[line]\nresume = auto\n' >"$W/disk.ini"
printf '[store]\nmin_free_mb = 1\nretry_ms = 200\n' >"$W/reserve.ini"

timeout -s KILL 150 "$EDL" emulate --storage nand --devices 8 --units 48 --swap-delay 0.05 -- \
	"$EDL" run --config "$W/disk.ini" --package "$W/pkg" --db "$DB" --cache-dir "$W/cache" \
	--log-format text --reset-delay 0 --count 48 >"$OUT" 2>&1 &
EMU=$!

check "the line runs: 8 units passed" wait_for " pass: " 8 60
# The disk fills: a filler takes every free byte.
dd if=/dev/zero of="$FS/filler" bs=64k 2>/dev/null
MARK=$(wc -l <"$OUT")
check "the line stopped, saying why" wait_for "line-stopped: " 1 30
STOP=$(grep -n -m1 "line-stopped: " "$OUT" | cut -d: -f1)
check "the reason names the results disk" \
	sh -c "grep -m1 'line-stopped: ' '$OUT' | grep -qi 'results database.*\\(full\\|free\\)'"
started=$(sed -n "$((MARK + 1)),${STOP}p" "$OUT" | grep -c ' start: attempt')
check "stopped within one unit of the disk filling ($started started after)" [ "$started" -le 1 ]
sleep 0.5
before=$(grep -c ' start: attempt' "$OUT")
sleep 0.5
check "no unit starts while the disk is full" [ "$(grep -c ' start: attempt' "$OUT")" = "$before" ]

# The technician frees the space: the kept results go in, the line resumes.
rm -f "$FS/filler"
check "the line resumed by itself" wait_for "resume: " 1 30
wait "$EMU"
rc=$?
EMU=
nr=$(grep -c 'NOT RECORDED' "$OUT")
if [ "$nr" -gt 0 ]; then
	check "exit 3: units were shown failed (flashed, NOT RECORDED)" [ "$rc" -eq 3 ]
else
	check "exit 0: the reserve stopped the line before a commit failed" [ "$rc" -eq 0 ]
fi

# Every PASS shown has its pass row.
shown_bad=0
for serial in $(grep ' pass: ' "$OUT" | sed -n 's/.* pass: \([0-9a-f]\{8\}\) .*/\1/p'); do
	[ "$(sql "select count(*) from run where serial='$serial' and result='pass'")" -ge 1 ] ||
		{ echo "shown PASS without a pass row: $serial"; shown_bad=$((shown_bad + 1)); }
done
check "no unit shown PASS without a pass row" [ "$shown_bad" -eq 0 ]
check "48 PASS or NOT RECORDED shown" \
	[ "$(($(grep -c ' pass: ' "$OUT") + $(grep -c ' not-recorded: flashed, NOT RECORDED' "$OUT")))" -ge 48 ]
flashed=$(grep ' start: attempt' "$OUT" | sed -n 's/.*SN:\([0-9a-f]\{8\}\)\].*/\1/p' | sort -u)
missing=0
for serial in $flashed; do
	[ "$(sql "select count(*) from run where serial='$serial' and result in ('pass','fail')")" -ge 1 ] ||
		{ echo "flashed without a row: $serial"; missing=$((missing + 1)); }
done
check "every unit flashed has its row ($(echo "$flashed" | wc -w) units)" [ "$missing" -eq 0 ]
check "48 units passed in the database" [ "$(sql "select count(distinct serial) from run where result='pass'")" = 48 ]
check "nothing left running" [ "$(sql "select count(*) from run where result='running'")" = 0 ]
check "no result still kept at exit" sh -c "! grep -q 'flashed but NOT RECORDED' '$OUT'"

# A restart while the disk is (nearly) full starts with the line stopped: the unit
# waits. 256 KiB are left, below the reserve: SQLite needs its -shm file to open.
dd if=/dev/zero of="$FS/filler" bs=64k 2>/dev/null
truncate -s -256K "$FS/filler"
OUT=$W/restart.txt
timeout -s INT 3 "$EDL" emulate --storage nand --devices 1 --serial 2a2b3c4d -- \
	"$EDL" run --config "$W/reserve.ini" --package "$W/pkg" --db "$DB" --cache-dir "$W/cache" \
	--log-format text --reset-delay 0 --count 1 >"$OUT" 2>&1
check "a restart on a full disk starts stopped, saying why" grep -q "line-stopped: .*free" "$OUT"
check "and its unit waits, not flashed" sh -c "grep -q 'waits: the line is stopped' '$OUT' && ! grep -q ' start: attempt' '$OUT'"
rm -f "$FS/filler"
check "the earlier rows are intact" [ "$(sql "select count(distinct serial) from run where result='pass'")" = 48 ]
exit "$fails"
