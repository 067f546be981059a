#!/bin/sh
# End-to-end tests of `edlstation emulate`: real host programs (lsusb, the
# libusb test host edl_host, Debian's qdl) run under the emulator, and the
# tests check what they see and what the units' dumped storage holds.
#
# usage: e2e.sh CASE EDLSTATION EDL_HOST
# Exit 0 pass, 77 skip (with the reason on stderr), anything else fail.
set -eu

case_name=$1
EDLSTATION=$2
HOST=$3
WORK=$(mktemp -d /tmp/edl-e2e.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

emu() {
	"$EDLSTATION" emulate "$@"
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# json_field FILE KEY: the raw value of "KEY": in a unit.json
json_field() {
	sed -n "s/^ *\"$2\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1"
}

case "$case_name" in
lsusb)
	# 32 ports: hubs 1-1..1-5 of 7 ports; lsusb, unmodified, sees them all.
	emu --devices 32 -- sh -c "lsusb -d 05c6:9008 >'$WORK/list'; lsusb -v -d 05c6:9008 >'$WORK/verbose' 2>/dev/null"
	n=$(grep -c '^Bus 001 Device .*: ID 05c6:9008' "$WORK/list")
	out=$(cat "$WORK/verbose")
	[ "$n" -eq 32 ] || fail "lsusb lists $n EDL devices, expected 32"
	echo "$out" | grep -q 'iProduct  *2 QUSB__BULK_SN:1A2B3C6C' || fail "no iProduct of the 32nd unit"
	echo "$out" | grep -q 'bInterfaceClass *255' || fail "no vendor-specific interface"
	echo "$out" | grep -q 'bEndpointAddress *0x81' || fail "no bulk IN endpoint"
	;;
exit-status)
	set +e
	emu --devices 1 -- sh -c 'exit 7'
	rc=$?
	set -e
	[ "$rc" -eq 7 ] || fail "exit status $rc, expected COMMAND's 7"
	set +e
	emu --devices 1 -- /nonexistent/command 2>/dev/null
	rc=$?
	set -e
	[ "$rc" -eq 127 ] || fail "exit status $rc for a missing command, expected 127"
	set +e
	emu --devices 0 -- true 2>/dev/null
	rc=$?
	set -e
	[ "$rc" -eq 2 ] || fail "exit status $rc for --devices 0, expected 2"
	;;
signal)
	# SIGINT reaches COMMAND; the emulator exits with its status, 128 + 2.
	"$EDLSTATION" emulate --devices 2 -- sleep 30 &
	pid=$!
	sleep 0.5
	kill -INT $pid
	set +e
	wait $pid
	rc=$?
	set -e
	[ "$rc" -eq 130 ] || fail "exit status $rc after SIGINT, expected 130"
	;;
host-list)
	# A libusb program: ports 1-1.1..1-1.7, 1-2.1, 1-2.2, serials in iProduct, HELLO.
	emu --devices 9 --serial 10000000 -- "$HOST" list 9 10000000 >"$WORK/out" ||
		fail "edl_host list failed"
	[ "$(wc -l <"$WORK/out")" -eq 9 ] || fail "expected 9 devices: $(cat "$WORK/out")"
	grep -q '^1-2.2 10000008 HELLO version 2' "$WORK/out" || fail "1-2.2 missing"
	;;
flash-dump)
	# Sahara upload + Firehose program of 16 MiB with 4 x 1 MiB in flight,
	# then the dumped LUN holds the bytes and unit.json tells the story.
	emu --devices 1 --serial 00c0ffee --dump "$WORK/dump" -- \
		"$HOST" flash --mib 16 --inflight 4 --seed 5 >"$WORK/out" || fail "flash failed"
	cat "$WORK/out"
	u="$WORK/dump/00c0ffee"
	"$HOST" check-dump "$u/lun0.img" 16 5 || fail "dumped storage differs"
	[ "$(json_field "$u/unit.json" final_state)" = RESET ] || fail "final state not RESET"
	[ "$(json_field "$u/unit.json" end)" = reset ] || fail "unit did not leave after reset"
	[ "$(json_field "$u/unit.json" raw_bytes)" = 16777216 ] || fail "raw bytes"
	"$HOST" mkprog "$WORK/prog.elf" 98304
	want=$(sha256sum "$WORK/prog.elf" | cut -d' ' -f1)
	[ "$(json_field "$u/unit.json" programmer_sha256)" = "$want" ] ||
		fail "programmer SHA-256 differs from the uploaded one"
	grep -q '"commands": {"configure": 1, "program": 1, "power": 1}' "$u/unit.json" ||
		fail "commands seen: $(grep commands "$u/unit.json")"
	# Sparse: 4 GiB LUNs cost only what was written.
	used=$(du -k "$u/lun1.img" | cut -f1)
	[ "$used" -lt 1024 ] || fail "lun1.img uses $used KiB"
	;;
line)
	# 6 units through 2 ports: each serial once, all reset.
	emu --devices 2 --units 6 --swap-delay 0.1 --dump "$WORK/dump" -- \
		"$HOST" line 6 --mib 2 >"$WORK/out" || fail "line failed: $(cat "$WORK/out")"
	n=$(ls "$WORK/dump" | wc -l)
	[ "$n" -eq 6 ] || fail "$n units dumped, expected 6"
	for s in 1a2b3c4d 1a2b3c4e 1a2b3c4f 1a2b3c50 1a2b3c51 1a2b3c52; do
		[ "$(json_field "$WORK/dump/$s/unit.json" end)" = reset ] || fail "unit $s"
		"$HOST" check-dump "$WORK/dump/$s/lun0.img" 2 1 >/dev/null || fail "unit $s storage"
	done
	;;
line-power-delay)
	# Hosts reset with DelayInSeconds="10" (qdl, QFirehose): a unit the host has
	# released after the ACK is swapped at once, not after the delay (nor taken
	# off as idle by --fail-hold 5 before it).
	start=$(date +%s)
	emu --devices 2 --units 4 --swap-delay 0.1 --dump "$WORK/dump" -- \
		"$HOST" line 4 --mib 1 --power-delay 10 >"$WORK/out" ||
		fail "line failed: $(cat "$WORK/out")"
	took=$(($(date +%s) - start))
	[ "$took" -lt 9 ] || fail "4 units took ${took} s: the 10 s power delay held the line"
	for s in 1a2b3c4d 1a2b3c4e 1a2b3c4f 1a2b3c50; do
		[ "$(json_field "$WORK/dump/$s/unit.json" end)" = reset ] || fail "unit $s"
	done
	;;
profile)
	# --help lists the profiles; an unknown one is refused with the known names.
	emu --help | grep -q '^profiles (' || fail "--help lists no profiles"
	set +e
	emu --profile msm0000 -- true 2>"$WORK/err"
	rc=$?
	set -e
	[ "$rc" -eq 2 ] || fail "unknown profile: exit $rc, expected 2"
	grep -q "unknown profile 'msm0000'; known: sdx55" "$WORK/err" || fail "$(cat "$WORK/err")"
	# Port 1 the generic target (UFS by default), port 2 an SDX55 (NAND).
	emu --devices 2 --profile 1-1.2:sdx55 --dump "$WORK/dump" -- true
	[ "$(json_field "$WORK/dump/1a2b3c4d/unit.json" profile)" = null ] || fail "port 1 profile"
	grep -q '"kind": "ufs", "sector_size": 4096, "luns": 6' "$WORK/dump/1a2b3c4d/unit.json" ||
		fail "port 1 storage"
	[ "$(json_field "$WORK/dump/1a2b3c4e/unit.json" profile)" = sdx55 ] || fail "port 2 profile"
	grep -q '"kind": "nand", "sector_size": 4096, "luns": 1' "$WORK/dump/1a2b3c4e/unit.json" ||
		fail "port 2 storage"
	# An explicit --storage wins over the profile (with that kind's geometry).
	emu --profile sdx55 --storage emmc --sectors 4096 --serial 100 --dump "$WORK/dump" -- true
	[ "$(json_field "$WORK/dump/00000100/unit.json" profile)" = sdx55 ] || fail "explicit profile"
	grep -q '"kind": "emmc", "sector_size": 512' "$WORK/dump/00000100/unit.json" ||
		fail "explicit --storage did not win"
	;;
fault-nak)
	set +e
	emu --devices 2 --fault 1-1.1:nak=program --dump "$WORK/dump" -- \
		"$HOST" flash --port 1-1.1 --mib 1 2>"$WORK/err"
	rc=$?
	set -e
	[ "$rc" -eq 3 ] || fail "exit $rc, expected 3 (NAK): $(cat "$WORK/err")"
	grep -q 'NAK' "$WORK/err" || fail "no NAK response seen"
	[ "$(json_field "$WORK/dump/1a2b3c4d/unit.json" faults)" = nak=program ] || fail "faults"
	# The neighbour's first unit has no fault.
	emu --devices 2 --fault 1:nak=program -- "$HOST" flash --port 1-1.2 --mib 1 ||
		fail "the neighbour failed"
	;;
fault-unplug)
	set +e
	emu --devices 1 --fault 1-1.1:unplug-at=3M --dump "$WORK/dump" -- \
		"$HOST" flash --mib 8 2>"$WORK/err"
	rc=$?
	set -e
	[ "$rc" -eq 4 ] || fail "exit $rc, expected 4 (gone): $(cat "$WORK/err")"
	[ "$(json_field "$WORK/dump/1a2b3c4d/unit.json" end)" = gone ] || fail "end not gone"
	;;
reset-to-edl)
	# <power value="reset_to_edl"/>: the unit leaves and comes back with a fresh HELLO.
	emu --devices 1 --dump "$WORK/dump" -- "$HOST" reenum >"$WORK/out" ||
		fail "reenum failed: $(cat "$WORK/out")"
	[ "$(json_field "$WORK/dump/1a2b3c4d/unit.json" enumerations)" = 2 ] || fail "enumerations"
	;;
hotplug)
	# A port empty at start gets a unit at 0.3 s; another loses its unit at 0.3 s.
	emu --devices 3 --empty 1-1.3 --at 0.3:plug:1-1.3 --at 0.3:unplug:2 -- \
		sh -c "sleep 1; '$HOST' list 2 0 >'$WORK/out' 2>&1; true"
	grep -q '^1-1.1 1A2B3C4D' "$WORK/out" || fail "1-1.1: $(cat "$WORK/out")"
	grep -q '^1-1.3 1A2B3C4F' "$WORK/out" || fail "1-1.3 not plugged: $(cat "$WORK/out")"
	if grep -q '^1-1.2' "$WORK/out"; then fail "1-1.2 not unplugged"; fi
	;;
rate)
	# 8 MiB over a 20 MB/s link: about 0.42 s, never faster. Only the cap is
	# asserted: how much slower a loaded machine makes it is not the link's doing.
	emu --devices 1 --rate 20 -- "$HOST" flash --mib 8 >"$WORK/out" || fail "flash failed"
	cat "$WORK/out"
	mbps=$(sed -n 's/.*= \([0-9.]*\) MB\/s.*/\1/p' "$WORK/out")
	awk -v r="$mbps" 'BEGIN { exit !(r > 0 && r <= 20.5) }' || fail "rate $mbps MB/s"
	;;
qdl)
	if ! command -v qdl >/dev/null 2>&1; then
		echo "SKIP: Debian's qdl is not installed (apt-get install qdl)" >&2
		exit 77
	fi
	pkg="$WORK/pkg"
	mkdir -p "$pkg"
	"$HOST" mkprog "$pkg/prog_firehose_emu.mbn" 200000
	head -c 2097152 /dev/urandom >"$pkg/system.img"
	cat >"$pkg/rawprogram0.xml" <<'EOF'
<?xml version="1.0" ?>
<data>
  <program SECTOR_SIZE_IN_BYTES="4096" file_sector_offset="0" filename="system.img" label="system" num_partition_sectors="512" physical_partition_number="0" sparse="false" start_sector="256" />
</data>
EOF
	cat >"$pkg/patch0.xml" <<'EOF'
<?xml version="1.0" ?>
<patches>
  <patch SECTOR_SIZE_IN_BYTES="4096" byte_offset="16" filename="DISK" physical_partition_number="0" size_in_bytes="4" start_sector="2" value="0xDEADBEEF" what="test patch" />
</patches>
EOF
	(cd "$pkg" && emu --devices 1 --dump "$WORK/dump" -- \
		qdl --storage ufs --include "$pkg" prog_firehose_emu.mbn rawprogram0.xml patch0.xml \
		>"$WORK/out" 2>&1) || fail "qdl failed: $(tail -5 "$WORK/out")"
	u="$WORK/dump/1a2b3c4d"
	dd if="$u/lun0.img" of="$WORK/got.img" bs=4096 skip=256 count=512 2>/dev/null
	cmp "$WORK/got.img" "$pkg/system.img" || fail "system.img differs on the unit"
	[ "$(dd if="$u/lun0.img" bs=1 skip=8208 count=4 2>/dev/null | od -An -tx1 | tr -d ' ')" = efbeadde ] ||
		fail "patch not applied"
	[ "$(json_field "$u/unit.json" final_state)" = RESET ] || fail "qdl did not reset the unit"
	want=$(sha256sum "$pkg/prog_firehose_emu.mbn" | cut -d' ' -f1)
	[ "$(json_field "$u/unit.json" programmer_sha256)" = "$want" ] || fail "programmer SHA-256"
	;;
grace)
	# A COMMAND that ignores SIGTERM is killed after --grace: emulate never
	# waits for ever (the outer timeout would make it exit 124).
	set +e
	timeout -s KILL 30 "$EDLSTATION" emulate --grace 1 -- \
		sh -c 'trap "" TERM INT; while :; do sleep 0.1; done' 2>"$WORK/err" &
	pid=$!
	sleep 1
	kill -TERM "$(pgrep -P $pid)"
	wait $pid
	rc=$?
	set -e
	[ "$rc" -eq 137 ] || fail "exit $rc, expected 137 (COMMAND killed): $(cat "$WORK/err")"
	grep -q 'still running 1.0 s after SIGTERM: killing it' "$WORK/err" ||
		fail "no message: $(cat "$WORK/err")"
	;;
usage)
	# One line of what was wrong, one usage line, exit 2.
	for args in "--devices 0" "--bogus" "--fault 1-1.1:melt" "--fault silent" \
		"--fault 1-1.1:unplug-at=lots" "--fault 1-16.1:silent" "--grace x" "--devices"; do
		set +e
		# shellcheck disable=SC2086
		emu $args -- true 2>"$WORK/err"
		rc=$?
		set -e
		[ "$rc" -eq 2 ] || fail "emulate $args: exit $rc, expected 2"
		[ "$(wc -l <"$WORK/err")" -eq 2 ] || fail "emulate $args: $(wc -l <"$WORK/err") lines: $(cat "$WORK/err")"
		head -1 "$WORK/err" | grep -q '^edlstation emulate: ' || fail "emulate $args: $(head -1 "$WORK/err")"
		tail -1 "$WORK/err" | grep -q '^usage: edlstation emulate \[OPTIONS\]' ||
			fail "emulate $args: no usage line"
	done
	emu --devices 0 -- true 2>"$WORK/err" || true
	grep -q "devices '0': expected a number of ports, 1..105" "$WORK/err" || fail "$(cat "$WORK/err")"
	# A fault spec error names the spec and the valid forms.
	emu --fault 1-1.1:melt -- true 2>"$WORK/err" || true
	grep -q "'1-1.1:melt'.*PORT:KIND\[=ARG\].*unplug-ms=MS" "$WORK/err" || fail "$(cat "$WORK/err")"
	emu --fault 1-1.1:unplug-at=lots -- true 2>"$WORK/err" || true
	grep -q "'1-1.1:unplug-at=lots': bad argument 'lots': unplug-at takes =BYTES" "$WORK/err" ||
		fail "$(cat "$WORK/err")"
	emu --fault silent -- true 2>"$WORK/err" || true
	grep -q "'silent': expected PORT:KIND\[=ARG\], PORT 1-H.P" "$WORK/err" || fail "$(cat "$WORK/err")"
	# 1-9.9 is a port path: taken, with a word that this line has no such port.
	emu --fault 1-9.9:silent -- true 2>"$WORK/err" || fail "--fault 1-9.9:silent refused: $(cat "$WORK/err")"
	grep -q 'warning: --fault 1-9.9:silent: no port 1-9.9 on this line' "$WORK/err" || fail "$(cat "$WORK/err")"
	# ... and on a line with 9 ports a hub, port 9 of a hub gets it.
	emu --devices 18 --hub-ports 9 --fault 1-2.9:silent --dump "$WORK/dump" -- true 2>"$WORK/err" ||
		fail "$(cat "$WORK/err")"
	[ "$(json_field "$WORK/dump/1a2b3c5e/unit.json" faults)" = silent ] || fail "1-2.9 did not get the fault"
	[ "$(json_field "$WORK/dump/1a2b3c5e/unit.json" port)" = 1-2.9 ] || fail "1-2.9 is not the 18th port"
	;;
address-reuse)
	# The station through 12 units on 2 ports with addresses 1..4 (root hub,
	# hub, two units): every unit takes an address its predecessor just left.
	# Before the bed removed the /sys/dev/char link umockdev leaves, the
	# second unit on an address aborted the emulator ("File exists").
	command -v sqlite3 >/dev/null || { echo "SKIP: no sqlite3" >&2; exit 77; }
	"$EDLSTATION" mkpackage "$WORK/pkg" --storage nand --size 8 >/dev/null
	set +e
	TMPDIR=$WORK timeout -s KILL 60 "$EDLSTATION" emulate --storage nand --devices 2 --units 12 \
		--swap-delay 0 --max-address 4 -- "$EDLSTATION" run --package "$WORK/pkg" \
		--db "$WORK/r.db" --cache-dir "$WORK/cache" --log-format text --reset-delay 0 \
		--count 12 >"$WORK/out" 2>&1
	rc=$?
	set -e
	[ "$rc" -eq 0 ] || fail "exit $rc: $(tail -5 "$WORK/out")"
	[ "$(sqlite3 "$WORK/r.db" "select count(distinct serial) from run where result='pass'")" = 12 ] ||
		fail "not 12 passed units: $(tail -3 "$WORK/out")"
	;;
*)
	fail "unknown case $case_name"
	;;
esac
echo "PASS: $case_name"
