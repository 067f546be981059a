#!/bin/bash
# End-to-end tests of the station: the real `edlstation run` on an emulated line
# under `edlstation emulate` (umockdev), checked on what matters: the bytes on
# each unit's dumped storage (compared by check_dump.py, independently of the
# plan code), the rows in the results database, exit codes and messages.
# usage: station.sh EDLSTATION_BINARY TEST_NAME
# With EDL_PROFILE=NAME (a device profile of `edlstation emulate --help`) the
# flashing cases run on units of that profile with a package of its storage
# kind and sector size (tests/e2e/mkpkg.py reshapes the mkpackage package);
# without it, on the generic NAND target with the mkpackage package.
set -u
EDL=$1
TEST=$2
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/edl-e2e.XXXXXX)
export TMPDIR=$W
trap 'rm -rf "$W"' EXIT
PKG=$W/pkg
RAWS=("$PKG/update/firehose/rawprogram_nand_p4K_b256K_update.xml")
PROFILE=${EDL_PROFILE:-}
DB=$W/results.db
OUT=$W/out.txt
fails=0

# shellcheck source=lib.sh
. "$HERE/lib.sh"

if [ -n "$PROFILE" ]; then
	# "  sdx55     summary; nand, 4096-byte sectors, write-rate 5.0 MB/s"
	pline=$("$EDL" emulate --help | awk -v p="$PROFILE" '$1 == p')
	[ -n "$pline" ] || { echo "FAIL: no profile $PROFILE in edlstation emulate --help"; exit 1; }
	KIND=$(echo "$pline" | sed -n 's/.*; \([a-z]*\), \([0-9]*\)-byte sectors.*/\1/p')
	SECTOR=$(echo "$pline" | sed -n 's/.*; \([a-z]*\), \([0-9]*\)-byte sectors.*/\2/p')
	[ -n "$KIND" ] && [ -n "$SECTOR" ] || { echo "FAIL: cannot read profile $PROFILE: $pline"; exit 1; }
	echo "profile $PROFILE: $KIND, $SECTOR-byte sectors"
fi
if [ -z "$PROFILE" ] || { [ "$KIND" = nand ] && [ "$SECTOR" = 4096 ]; }; then
	"$EDL" mkpackage "$PKG" --storage nand --size 16 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }
else
	"$EDL" mkpackage "$W/pkg-nand4k" --storage nand --size 16 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }
	mapfile -t RAWS < <(python3 "$HERE/mkpkg.py" "$W/pkg-nand4k" "$PKG" "$KIND" "$SECTOR") ||
		{ echo "FAIL: mkpkg.py $KIND $SECTOR"; exit 1; }
fi
"$EDL" package check "$PKG" --cache-dir "$W/cache" >/dev/null || { echo "FAIL: package check"; exit 1; }

# emulate OPTIONS... -- run OPTIONS...; sets $rc. The final reset goes without
# DelayInSeconds (the station's default is 10, as qdl and QFirehose send it):
# the emulated units must have reset when the station exits, for "ended reset".
station() {
	local emu=() run=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do emu+=("$1"); shift; done
	shift
	run=("$@")
	local target=(--storage nand)
	[ -n "$PROFILE" ] && target=(--profile "$PROFILE")
	timeout -s KILL 240 "$EDL" emulate "${target[@]}" "${emu[@]}" -- \
		"$EDL" run --package "$PKG" --db "$DB" --cache-dir "$W/cache" --log-format text \
		--log-dir "$W/logs" --reset-delay 0 "${run[@]}" >"$OUT" 2>&1
	rc=$?
}

dumps_match() { # every serial dir under $1 matches the package
	local n=0
	for d in "$1"/*/; do
		for raw in "${RAWS[@]}"; do
			python3 "$HERE/check_dump.py" "$raw" "$d" >/dev/null || { python3 "$HERE/check_dump.py" "$raw" "$d"; return 1; }
		done
		n=$((n + 1))
	done
	[ "$n" -eq "$2" ]
}

case "$TEST" in
eight_units)
	station --devices 8 --dump "$W/dump" -- --count 8
	check "exit 0" [ "$rc" -eq 0 ]
	check "8 dumps match the package byte for byte" dumps_match "$W/dump" 8
	check "8 passed runs recorded" [ "$(sql "select count(*) from run where result='pass'")" = 8 ]
	check "8 distinct serials" [ "$(sql "select count(distinct serial) from run")" = 8 ]
	check "every unit ended reset" [ "$(grep -l '"final_state": "RESET"' "$W"/dump/*/unit.json | wc -l)" = 8 ]
	check "transcripts kept" [ "$(ls "$W/logs" | wc -l)" -ge 8 ]
	check "each run keeps the programmer's function list from its banner" \
		[ "$(sql "select count(*) from run where result='pass' and ' ' || functions || ' ' like '% program %'")" = 8 ]
	;;
line)
	station --devices 8 --units 24 --swap-delay 0.1 --dump "$W/dump" -- --count 24
	check "exit 0" [ "$rc" -eq 0 ]
	check "24 passed runs" [ "$(sql "select count(*) from run where result='pass'")" = 24 ]
	check "each serial once" [ "$(sql "select count(distinct serial) from run")" = 24 ]
	check "no run left running" [ "$(sql "select count(*) from run where result='running'")" = 0 ]
	check "24 dumps match" dumps_match "$W/dump" 24
	check "report json says 24 units, yield 1" sh -c "\"$EDL\" report --db \"$DB\" --format json | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if r[\"units\"]==24 and r[\"first_pass_yield\"]==1 else 1)'"
	;;
running_reuse)
	station --devices 2 --fault 1-1.1:firehose-running --dump "$W/dump" -- --count 2 --running reuse
	check "exit 0" [ "$rc" -eq 0 ]
	check "2 passed" [ "$(sql "select count(*) from run where result='pass'")" = 2 ]
	check "dumps match" dumps_match "$W/dump" 2
	check "the reused programmer was never uploaded" grep -q '"programmer_sha256": null' "$W/dump/1a2b3c4d/unit.json"
	check "the operator is told the programmer was still running" grep -q "programmer-running: the unit's programmer was still running" "$OUT"
	check "the transcript says so too" grep -q "already running" "$W"/logs/1a2b3c4d-*
	;;
running_reset)
	station --devices 2 --fault 1-1.1:firehose-running --dump "$W/dump" -- --count 2 --running reset
	check "exit 0" [ "$rc" -eq 0 ]
	check "2 passed" [ "$(sql "select count(*) from run where result='pass'")" = 2 ]
	check "the reset attempt is recorded, not failed" [ "$(sql "select count(*) from run where serial='1a2b3c4d' and result='interrupted' and stage='probe'")" = 1 ]
	check "the unit enumerated twice" grep -q '"enumerations": 2' "$W/dump/1a2b3c4d/unit.json"
	check "dumps match" dumps_match "$W/dump" 2
	check "event says reset to EDL" grep -q "reset-to-edl" "$OUT"
	;;
unplug)
	station --devices 3 --fault 1-1.2:unplug-at=2M -- --count 3
	check "exit 3 (a unit failed)" [ "$rc" -eq 3 ]
	check "neighbours passed" [ "$(sql "select count(*) from run where result='pass'")" = 2 ]
	check "the unplugged unit failed in program, once (no retry)" [ "$(sql "select count(*) from run where serial='1a2b3c4e' and result='fail' and stage='program' and error='EDL_E_USB_GONE'")" = 1 ]
	check "its message says unplugged" sh -c "sqlite3 \"$DB\" \"select message from run where serial='1a2b3c4e'\" | grep -q unplugged"
	;;
nak)
	station --devices 1 --fault 1-1.1:nak=program:2 -- --count 1 --retries 0
	check "exit 3" [ "$rc" -eq 3 ]
	check "failure recorded with the device's log text" sh -c "sqlite3 \"$DB\" \"select message from run where result='fail' and stage='program' and error='EDL_E_FH_NAK'\" | grep -q injected"
	check "device log lines kept for the failed run" [ "$(sql "select count(*) from run_log")" -gt 0 ]
	;;
retry)
	station --devices 1 --fault 1-1.1:nak=program:2 -- --count 1 --retries 1
	check "exit 0 (passed on retry)" [ "$(echo $rc)" -eq 0 ]
	check "two runs, the second retries the first" [ "$(sql "select count(*) from run r join run p on r.retry_of=p.id where r.result='pass' and p.result='fail' and r.attempt=2")" = 1 ]
	check "history shows both" sh -c "\"$EDL\" history --db \"$DB\" 1a2b3c4d | grep -c '^run ' | grep -q '^2$'"
	;;
corrupt)
	# NAND is verified only when asked for (verify = auto leaves NAND alone).
	printf '[flash]\nverify = digest\n' >"$W/verify.ini"
	station --devices 1 --fault 1-1.1:corrupt -- --count 1 --retries 0 --config "$W/verify.ini"
	check "exit 3" [ "$rc" -eq 3 ]
	check "caught by verify" [ "$(sql "select count(*) from run where stage='verify' and error='EDL_E_VERIFY_MISMATCH'")" = 1 ]
	;;
payload)
	station --devices 1 --fault 1-1.1:payload-max=16384 --dump "$W/dump" -- --count 1
	check "exit 0" [ "$rc" -eq 0 ]
	check "payload 16384 recorded" [ "$(sql "select payload from run")" = 16384 ]
	check "dump matches" dumps_match "$W/dump" 1
	;;
silent)
	station --devices 2 --fault 1-1.1:silent -- --count 2
	check "exit 3" [ "$rc" -eq 3 ]
	check "power-cycle error, not retried" [ "$(sql "select count(*) from run where serial='1a2b3c4d' and error='EDL_E_POWER_CYCLE' and stage='probe'")" = 1 ]
	check "the operator is told to power-cycle" grep -q "power-cycle the unit" "$OUT"
	check "the neighbour passed" [ "$(sql "select count(*) from run where result='pass'")" = 1 ]
	;;
hotplug)
	station --devices 3 --empty 1-1.3 --at 1.0:plug:1-1.3 --dump "$W/dump" -- --count 3
	check "exit 0" [ "$rc" -eq 0 ]
	check "the unit plugged mid-run was flashed" [ "$(sql "select count(*) from run where port='1-1.3' and result='pass'")" = 1 ]
	check "3 dumps match" dumps_match "$W/dump" 3
	;;
unplug_line)
	station --devices 2 --units 4 --swap-delay 0.1 --fault 1-1.1:unplug-at=1M -- --count 4
	check "exit 3" [ "$rc" -eq 3 ]
	check "the port served the next unit" [ "$(sql "select count(*) from run where port='1-1.1' and result='pass'")" -ge 1 ]
	check "one failure, gone" [ "$(sql "select count(*) from run where result='fail' and error='EDL_E_USB_GONE'")" = 1 ]
	;;
sigint)
	timeout -s KILL 120 "$EDL" emulate --storage nand --devices 4 --write-rate 4 -- \
		"$EDL" run --package "$PKG" --db "$DB" --cache-dir "$W/cache" --log-format text --grace 1 >"$OUT" 2>&1 &
	pid=$!
	sleep 1.5
	pkill -INT -f "edlstation run --package $PKG" || true
	wait $pid
	rc=$?
	check "exit 0 (no unit failed; running ones interrupted)" [ "$rc" -eq 0 ]
	check "no crash message" sh -c "! grep -qiE 'sanitizer|segmentation|abort' \"$OUT\""
	check "no run left running" [ "$(sql "select count(*) from run where result='running'")" = 0 ]
	check "interrupted runs marked" [ "$(sql "select count(*) from run where result='interrupted'")" -ge 1 ]
	check "the summary was printed" grep -q "^summary:" "$OUT"
	;;
config_error)
	printf '[station]\nname = line-1\nbogus = 1\n' >"$W/bad.ini"
	"$EDL" run --package "$PKG" --config "$W/bad.ini" >"$OUT" 2>&1
	rc=$?
	check "exit 2" [ "$rc" -eq 2 ]
	check "message names file, line and key" grep -q "bad.ini:3: \[station\] bogus: unknown key" "$OUT"
	"$EDL" run --config "$HERE/../../config/station.ini" --package "$W/nope" --db "$DB" >"$OUT" 2>&1
	rc=$?
	check "the example config loads (the error is the package's)" grep -q "package directory '$W/nope' does not exist" "$OUT"
	check "exit 2" [ "$rc" -eq 2 ]
	"$EDL" run --package "$W/nope" --db "$DB" >"$OUT" 2>&1
	rc=$?
	check "missing package: exit 2" [ "$rc" -eq 2 ]
	;;
report_line)
	# 24 units through 8 ports, three faults: the report must count exactly them.
	printf '[flash]\nverify = digest\n' >"$W/verify.ini"
	station --devices 8 --units 24 --swap-delay 0.1 --fail-hold 4 \
		--fault 1-1.2:corrupt --fault 1-1.4:unplug-at=2M --fault 1-1.6:silent -- --count 24 --retries 1 \
		--config "$W/verify.ini"
	check "exit 3" [ "$rc" -eq 3 ]
	"$EDL" report --db "$DB" --format json >"$W/report.json"
	jq() { python3 -c "import json,sys; r=json.load(open('$W/report.json')); print(eval(sys.argv[1]))" "$1"; }
	check "24 units" [ "$(jq 'r["units"]')" = 24 ]
	check "25 runs (one retry)" [ "$(jq 'r["runs"]')" = 25 ]
	check "22 units passed, 2 failed" [ "$(jq 'r["passed_units"], r["failed_units"]')" = "(22, 2)" ]
	check "first-pass yield 21/24" [ "$(jq 'round(r["first_pass_yield"]*24)')" = 21 ]
	check "final yield 22/24" [ "$(jq 'round(r["final_yield"]*24)')" = 22 ]
	check "nothing running" [ "$(jq 'r["running"]')" = 0 ]
	check "Pareto: verify mismatch, unplugged, power cycle, once each" \
		[ "$(jq 'sorted((e["stage"], e["error"], e["count"]) for e in r["failure_pareto"])')" = "[('probe', 'EDL_E_POWER_CYCLE', 1), ('program', 'EDL_E_USB_GONE', 1), ('verify', 'EDL_E_VERIFY_MISMATCH', 1)]" ]
	retried=$(sql "select serial from run where attempt=2")
	check "history shows the retried unit's two runs" sh -c "\"$EDL\" history --db \"$DB\" $retried | grep -c '^run ' | grep -q '^2$'"
	;;
sigkill)
	# Kill the station at random moments, restart it each time: nothing shown PASS may be
	# lost, nothing may stay 'running', the database stays intact.
	: >"$W/all.txt"
	for round in 1 2 3 4; do
		serial=$(printf '%x' $((0x10000000 + round * 0x100)))
		timeout -s KILL 120 "$EDL" emulate --storage nand --devices 4 --units 12 --swap-delay 0.05 \
			--write-rate 30 --serial "$serial" -- \
			"$EDL" run --package "$PKG" --db "$DB" --cache-dir "$W/cache" --log-format text \
			--reset-delay 0 --count 12 >"$OUT" 2>&1 &
		pid=$!
		sleep "$(python3 -c "import random; random.seed($round); print(round(random.uniform(0.4, 1.6), 2))")"
		pkill -KILL -f "edlstation run --package $PKG" || true
		wait $pid
		cat "$OUT" >>"$W/all.txt"
	done
	# A last, clean run recovers what the last kill left.
	station --devices 1 --serial 7fffff00 -- --count 1
	cat "$OUT" >>"$W/all.txt"
	check "integrity_check ok" [ "$(sql 'pragma integrity_check')" = ok ]
	check "no run left running" [ "$(sql "select count(*) from run where result='running'")" = 0 ]
	check "killed runs marked interrupted" [ "$(sql "select count(*) from run where result='interrupted'")" -ge 1 ]
	shown=$(grep -o 'SN:[0-9a-f]*\] pass:' "$W/all.txt" | cut -c4-11 | sort -u)
	missing=0
	for sn in $shown; do
		[ "$(sql "select count(*) from run where serial='$sn' and result='pass'")" -ge 1 ] || { echo "shown PASS but not recorded: $sn"; missing=1; }
	done
	check "every unit shown PASS is recorded as pass ($(echo $shown | wc -w) units)" [ "$missing" -eq 0 ]
	check "some units were shown PASS" [ -n "$shown" ]
	;;
hostile_descriptor)
	# iProduct carrying quotes, SQL, markup, a terminal escape and a non-ASCII byte.
	station --devices 1 --product-suffix "' OR 1=1; DROP TABLE run;--\"<x>&"$'\x1b[2J\xff' -- --count 1
	check "exit 0" [ "$rc" -eq 0 ]
	check "the run table survived, one pass" [ "$(sql "select count(*) from run where result='pass'")" = 1 ]
	check "the descriptor's serial is stored as given (quotes and SQL included)" \
		sh -c "sqlite3 \"$DB\" \"select usb_serial from device\" | grep -qF \"1A2B3C4D' OR 1=1; DROP TABLE run;--\""
	check "the unit is keyed by the chip serial" [ "$(sql "select serial from device")" = 1a2b3c4d ]
	check "history JSON parses and carries it" sh -c "\"$EDL\" history --db \"$DB\" --format json 1a2b3c4d | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if \"DROP TABLE\" in d[\"device\"][\"usb_serial\"] else 1)'"
	check "no terminal escape reaches the text report or the history" sh -c "! (\"$EDL\" history --db \"$DB\" 1a2b3c4d; \"$EDL\" report --db \"$DB\") | grep -q \"$(printf '\033')\""
	# The same descriptor with --log-format json: every event line is strict
	# JSON (UTF-8, no raw control character) and the attach event carries the
	# descriptor's text, quotes included (libusb's ASCII reading of the string
	# descriptor has already made the escape and the 0xff byte '?').
	station --devices 1 --dump "$W/dump" --product-suffix "' OR 1=1; DROP TABLE run;--\"<x>&"$'\x1b[2J\xff' -- --count 1 --log-format json
	check "exit 0 with JSON events" [ "$rc" -eq 0 ]
	check "every JSON event parses; attach carries the descriptor; the unit passes" python3 -c '
import json, sys
def bad(c):
    raise ValueError(c)
ev = [json.loads(l.decode("utf-8"), parse_constant=bad)
      for l in open(sys.argv[1], "rb").read().split(b"\n") if l.startswith(b"{")]
att = [e for e in ev if e["event"] == "attach"]
assert att and "DROP TABLE run;--\"<x>&" in att[0]["message"], att
assert all(isinstance(e["t_ms"], int) and "message" in e for e in ev[:-1])
assert ev[-1]["event"] == "summary" and ev[-1]["passed"] == 1, ev[-1]
assert [e for e in ev if e["event"] == "pass" and e["serial"] == "1a2b3c4d"], ev[-3:]
' "$OUT"
	check "the emulator's unit.json parses and keeps the raw iProduct (escape, 0xff as U+FFFD)" python3 -c '
import json, sys
def bad(c):
    raise ValueError(c)
u = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"), parse_constant=bad)
assert u["usb_product"].endswith("DROP TABLE run;--\"<x>&\x1b[2J\ufffd"), u["usb_product"]
assert u["serial"] == "1a2b3c4d" and u["end"] == "reset", u
' "$W/dump/1a2b3c4d/unit.json"
	;;
vendor_erase)
	# A Quectel-style NAND package with a vendor erase, on SDX55 units: sent verbatim, ACKed.
	"$EDL" mkpackage "$W/pkgv" --storage nand --size 16 --vendor-erase >/dev/null || fail "mkpackage --vendor-erase"
	"$EDL" package check "$W/pkgv" --cache-dir "$W/cache" --json >"$W/check.json" || fail "package check"
	check "the plan has the vendor step" grep -q '"kind": *"vendor"' "$W/check.json"
	PKG=$W/pkgv
	RAWS=("$PKG/update/firehose/rawprogram_nand_p4K_b256K_update.xml")
	PROFILE=sdx55
	station --devices 2 --dump "$W/dump" -- --count 2 --log-dir "$W/logs"
	check "exit 0" [ "$rc" -eq 0 ]
	check "2 passed" [ "$(sql "select count(*) from run where result='pass'")" = 2 ]
	check "dumps match" dumps_match "$W/dump" 2
	check "the programmer took the vendor erase (its own log says so)" \
		grep -q 'harden\] project RG500QEA_VH type STD erase raw data' "$W"/logs/1a2b3c4d-*
	;;
firehose_busy)
	# A programmer left inside a <program>'s raw data swallows the probe: the filler
	# completes its range, then the unit is flashed like any running programmer.
	station --devices 2 --fault 1-1.1:firehose-busy=4M --dump "$W/dump" -- --count 2 --running reuse
	check "exit 0" [ "$rc" -eq 0 ]
	check "2 passed, nothing retried" [ "$(sql "select count(*) from run where result='pass'"),$(sql "select count(*) from run")" = 2,2 ]
	check "dumps match" dumps_match "$W/dump" 2
	check "the transcript says the filler completed it" grep -q "bytes of filler completed it" "$W"/logs/1a2b3c4d-*
	check "and so does the run record" [ "$(sql "select count(*) from run where warnings like '%bytes of filler completed it%'")" = 1 ]
	;;
wrong_package)
	# A NAND package on UFS units: refused before any write, named, not retried.
	PROFILE=sdm845
	station --devices 2 --dump "$W/dump" -- --count 2 --retries 2
	check "exit 3" [ "$rc" -eq 3 ]
	check "one run per unit, both wrong package" [ "$(sql "select count(*) from run where error='EDL_E_WRONG_PACKAGE'"),$(sql "select count(*) from run")" = 2,2 ]
	check "the message names both sides" [ "$(sql "select count(*) from run where message like '%package is for nand units%no byte was written%'")" = 2 ]
	check "nothing written" [ "$(python3 -c "
import sys
d=open('$W/dump/1a2b3c4d/lun0.img','rb').read(1<<22)
print(sum(1 for b in d if b))")" = 0 ]
	;;
reset_to_edl_not_back)
	# An MSM8916-era programmer knows only a plain reset: reset_to_edl boots the
	# unit's firmware and it never comes back in EDL. The station says so.
	python3 "$HERE/mkpkg.py" "$PKG" "$W/pkge" emmc 512 >/dev/null || fail "mkpkg.py emmc"
	PKG=$W/pkge
	PROFILE=msm8916
	printf '[flash]\nreset_delay_s = 0\n[timeouts]\nreenumerate_ms = 2000\n' >"$W/back.ini"
	station --devices 2 --fault 1-1.1:firehose-running -- --count 2 --running reset \
		--config "$W/back.ini"
	check "exit 3" [ "$rc" -eq 3 ]
	check "the unit that did not come back is failed, retrying the interrupted run" \
		[ "$(sql "select count(*) from run f join run i on f.retry_of = i.id where f.serial='1a2b3c4d' and f.result='fail' and f.stage='reset' and f.error='EDL_E_POWER_CYCLE' and i.result='interrupted'")" = 1 ]
	check "the operator is told why and what to do" \
		grep -q "did not come back in EDL within 2 s of its reset to EDL: its programmer may know only a plain reset" "$OUT"
	check "its neighbour passed" [ "$(sql "select count(*) from run where serial='1a2b3c4e' and result='pass'")" = 1 ]
	;;
xbl_refusal)
	# An XBL-like ROM refuses the PK hash request and then takes only RESET: the unit
	# is reset, comes back, and is not asked that request again (else: reset for ever).
	station --devices 1 --fault 1-1.1:xbl-refuse=3 --dump "$W/dump" -- --count 1 --reset-delay 0
	check "exit 0" [ "$rc" -eq 0 ]
	check "one interrupted run (the reset), then a pass" \
		[ "$(sql "select group_concat(result, ',') from (select result from run order by id)")" = "interrupted,pass" ]
	check "the operator saw it come back" grep -q "back: unit 1a2b3c4d is back after its reset to EDL" "$OUT"
	check "dumps match" dumps_match "$W/dump" 1
	;;
memflash_profile)
	# The in-memory path takes the same device profiles as the emulated line.
	"$EDL" memflash --package "$PKG" --cache-dir "$W/cache" --profile sdx55 >"$OUT" 2>&1
	check "sdx55 over the in-memory link: exit 0, PASS" sh -c "[ $? -eq 0 ] && grep -q 'memflash: PASS' '$OUT'"
	"$EDL" memflash --package "$PKG" --cache-dir "$W/cache" --profile sdm845 >"$OUT" 2>&1
	rc=$?
	check "a NAND package on an sdm845 unit: exit 3, a wrong package" sh -c "[ $rc -eq 3 ] && grep -q 'EDL_E_WRONG_PACKAGE' '$OUT'"
	"$EDL" memflash --package "$PKG" --profile msm0000 >"$OUT" 2>&1
	rc=$?
	check "an unknown profile: exit 2, the known ones named" sh -c "[ $rc -eq 2 ] && grep -q 'known: sdx55' '$OUT'"
	;;
identify)
	# identify reads each unit's identity and leaves it ready: a run then flashes it.
	timeout -s KILL 120 "$EDL" emulate --storage nand --devices 2 --sahara-version 3 -- sh -c \
		"\"$EDL\" list && \"$EDL\" identify && \"$EDL\" run --package \"$PKG\" --db \"$DB\" --cache-dir \"$W/cache\" --log-format text --count 2" >"$OUT" 2>&1
	rc=$?
	check "exit 0" [ "$rc" -eq 0 ]
	check "list shows both ports with their USB serials" sh -c "grep -q '^1-1.1 .*1A2B3C4D' \"$OUT\" && grep -q '^1-1.2 .*1A2B3C4E' \"$OUT\""
	check "identify prints serial, HW id and PK hash (Sahara v3)" grep -q "identified: serial 1a2b3c4e, HW id 000cf0e1000098a9 (msm 000cf0e1 oem 0000 model 98a9), PK hash [0-9a-f]\{64\}" "$OUT"
	check "then both are flashed" [ "$(sql "select count(*) from run where result='pass'")" = 2 ]
	;;
usbfs_nomem)
	# usbfs allows 2 MB in flight, the station is told 12: the failure must name the remedy.
	station --devices 1 --usbfs-memory-mb 2 -- --count 1 --retries 0
	check "exit 3" [ "$rc" -eq 3 ]
	check "recorded as usbfs memory with the remedy" sh -c "sqlite3 \"$DB\" \"select error, message from run\" | grep 'EDL_E_USB_NOMEM' | grep -q 'usbfs_memory_mb'"
	printf '[flash]\nusbfs_budget_mb = 1\ninflight = 1\n' >"$W/small.ini"
	station --devices 1 --usbfs-memory-mb 2 -- --count 1 --config "$W/small.ini"
	check "with the budget lowered as the message says, it passes" [ "$rc" -eq 0 ]
	;;
*)
	echo "unknown test $TEST"
	exit 2
	;;
esac
[ "$fails" -eq 0 ] || exit 1
