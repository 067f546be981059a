#!/bin/bash
# End-to-end tests of field evidence (issue 16): `edlstation run --record` on an
# emulated line keeps each run's USB traffic as pcapng (usbmon), `emulate
# --replay` serves a unit from it, `capture show` decodes it. Checked on the
# stored bytes (the replayed unit's dump against the recorded one's, cmp), the
# run rows, the messages and exit codes, and on tshark's reading of the file.
# usage: capture.sh EDLSTATION_BINARY CASE [PROFILE]
#   profile NAME  record a run of that device profile, replay it to PASS with
#                 identical stored bytes; also as classic pcap (editcap)
#   diverge       a capture edited in one XML document: the first departure
#                 is reported (expected, came, offsets), the unit fails
#   truncated     a capture cut mid-file: show and replay name the offset
#   tshark        tshark reads our file without warnings and shows bulk transfers
#   bound         record_max_mb elides raw data (marked), keeps Sahara and XML,
#                 and the bounded file still replays to PASS
#   two           two units recorded at once replay at once (--replay A,B)
set -u
EDL=$1
CASE=$2
PROFILE=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/edl-cap.XXXXXX)
export TMPDIR=$W
trap 'rm -rf "$W"' EXIT
PKG=$W/pkg
RAWS=("$PKG/update/firehose/rawprogram_nand_p4K_b256K_update.xml")
DB=$W/results.db
OUT=$W/out.txt
fails=0

# shellcheck source=lib.sh
. "$HERE/lib.sh"

KIND=nand
SECTOR=4096
if [ -n "$PROFILE" ]; then
	pline=$("$EDL" emulate --help | awk -v p="$PROFILE" '$1 == p')
	[ -n "$pline" ] || { echo "FAIL: no profile $PROFILE in edlstation emulate --help"; exit 1; }
	KIND=$(echo "$pline" | sed -n 's/.*; \([a-z]*\), \([0-9]*\)-byte sectors.*/\1/p')
	SECTOR=$(echo "$pline" | sed -n 's/.*; \([a-z]*\), \([0-9]*\)-byte sectors.*/\2/p')
fi
if [ "$KIND" = nand ] && [ "$SECTOR" = 4096 ]; then
	"$EDL" mkpackage "$PKG" --storage nand --size 8 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }
else
	"$EDL" mkpackage "$W/pkg-nand4k" --storage nand --size 8 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }
	mapfile -t RAWS < <(python3 "$HERE/mkpkg.py" "$W/pkg-nand4k" "$PKG" "$KIND" "$SECTOR") ||
		{ echo "FAIL: mkpkg.py $KIND $SECTOR"; exit 1; }
fi
TARGET=(--storage nand)
[ -n "$PROFILE" ] && TARGET=(--profile "$PROFILE")

# station DB EMULATE_OPTIONS... -- RUN_OPTIONS...: sets $rc; output in $OUT.
station() {
	local db=$1 emu=()
	shift
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do emu+=("$1"); shift; done
	shift
	timeout -s KILL 120 "$EDL" emulate "${TARGET[@]}" "${emu[@]}" -- \
		"$EDL" run --package "$PKG" --db "$db" --cache-dir "$W/cache" --log-format text \
		--reset-delay 0 --count 1 "$@" >"$OUT" 2>&1
	rc=$?
}

# Records one unit's run into $W/rec; sets CAP to the file.
record() {
	station "$DB" --dump "$W/dump-rec" "$@" -- --record "$W/rec"
	check "recorded run passed" [ "$rc" -eq 0 ]
	CAP=$(ls "$W"/rec/*.pcapng 2>/dev/null | head -1)
	check "one capture file, named SERIAL-RUNID.pcapng" \
		[ "$(ls "$W/rec" | wc -l)" = 1 -a "$(basename "$CAP")" = 1a2b3c4d-1.pcapng ]
	check "the run record points to the capture" \
		[ "$(sql "select capture from run where id = 1")" = "$CAP" ]
}

# The stored bytes of the replayed unit are the recorded unit's, LUN by LUN.
same_storage() {
	local n=0
	for img in "$W"/dump-rec/1a2b3c4d/lun*.img; do
		python3 "$HERE/cmp_sparse.py" "$img" "$1/1a2b3c4d/$(basename "$img")" || return 1
		n=$((n + 1))
	done
	for raw in "${RAWS[@]}"; do
		python3 "$HERE/check_dump.py" "$raw" "$1/1a2b3c4d" >/dev/null || return 1
	done
	[ "$n" -gt 0 ]
}

replay() { # replay DUMP CAPTURE...: the station on units served from the captures
	local dump=$1
	shift
	local IFS=,
	rm -f "$W/replay.db"
	station "$W/replay.db" --dump "$dump" --replay "$*" -- --retries 0
}

case "$CASE" in
profile)
	record
	check "history --format json gives the capture" sh -c "\"$EDL\" history --db \"$DB\" --format json 1a2b3c4d | grep -q '\"capture\": \"$CAP\"'"
	check "history shows the capture" sh -c "\"$EDL\" history --db \"$DB\" 1a2b3c4d | grep -q 'capture .*1a2b3c4d-1.pcapng'"
	replay "$W/dump-replay" "$CAP"
	check "replayed run passed" [ "$rc" -eq 0 ]
	check "the replay says PASS" grep -q "replay .*: PASS: the host followed the recording to its end" "$OUT"
	check "no departure" sh -c "! grep -q departs \"$OUT\""
	check "replayed storage identical to the recorded storage" same_storage "$W/dump-replay"
	# The same capture as classic pcap (what tcpdump -w writes), link type 220.
	editcap -F pcap "$CAP" "$W/cap.pcap" 2>/dev/null
	check "editcap made a classic pcap" [ "$(head -c 4 "$W/cap.pcap" | od -An -tx4 | tr -d ' ')" = a1b2c3d4 ]
	replay "$W/dump-pcap" "$W/cap.pcap"
	check "the classic pcap replays to PASS" grep -q "replay .*: PASS" "$OUT"
	check "its storage is identical too" same_storage "$W/dump-pcap"
	;;
diverge)
	record
	# One byte of the recorded configure command changed: the host still
	# sends the original, so it departs there and nowhere earlier.
	python3 - "$CAP" "$W/edited.pcapng" <<'PY' || { echo "FAIL: cannot edit the capture"; exit 1; }
import sys
b = bytearray(open(sys.argv[1], "rb").read())
i = b.find(b"<configure ")
assert i > 0
b[i + 1:i + 10] = b"konfigure"
open(sys.argv[2], "wb").write(b)
print(i)
PY
	replay "$W/dump-div" "$W/edited.pcapng"
	check "the replayed unit failed" [ "$rc" -eq 3 ]
	check "exactly one departure reported" [ "$(grep -c 'departs from the recording' "$OUT")" = 1 ]
	line=$(grep 'departs from the recording' "$OUT")
	echo "report: $line"
	check "the report says what was expected" sh -c "echo '$line' | grep -q 'expected XML .*<konfigure '"
	check "the report says what came" sh -c "echo '$line' | grep -q 'came XML .*<configure '"
	check "the report names the host byte offset and the file offset" \
		sh -c "echo '$line' | grep -Eq 'at host byte [0-9]+ .*packet [0-9]+ at file offset [0-9]+'"
	check "no PASS" sh -c "! grep -q 'replay .*PASS' \"$OUT\""
	;;
truncated)
	record
	size=$(stat -c %s "$CAP")
	cut=$((size / 2 + 3))
	head -c "$cut" "$CAP" >"$W/cut.pcapng"
	"$EDL" capture show "$W/cut.pcapng" >"$W/show.txt" 2>"$W/show.err"
	check "capture show of a truncated file exits 1" [ $? -eq 1 ]
	check "capture show names the offset" grep -q "truncated at byte $cut" "$W/show.err"
	cat "$W/show.err"
	replay "$W/dump-cut" "$W/cut.pcapng"
	check "emulate --replay of a truncated file fails" [ "$rc" -ne 0 ]
	check "emulate --replay names the offset" grep -q "cut.pcapng: truncated at byte $cut" "$OUT"
	"$EDL" capture show "$CAP" >"$W/show.txt"
	check "capture show of the whole file exits 0" [ $? -eq 0 ]
	check "show names Sahara packets" grep -q "IN   Sahara HELLO version" "$W/show.txt"
	check "show names READ_DATA" grep -q "IN   Sahara READ_DATA image" "$W/show.txt"
	check "show names END_OF_IMAGE and DONE" sh -c "grep -q 'Sahara END_OF_IMAGE' \"$W/show.txt\" && grep -q 'OUT  Sahara DONE' \"$W/show.txt\""
	check "show names the image data a READ_DATA asked for" grep -q "OUT  Sahara image 13 data: offset 0, [0-9]* bytes" "$W/show.txt"
	check "show decodes the command-mode serial" grep -q "command-mode data for client-command 1 (serial), 4 bytes: 4d3c2b1a" "$W/show.txt"
	check "show prints Firehose XML documents" grep -q "<configure " "$W/show.txt"
	check "show gives raw data as ranges" grep -q "OUT  raw data: bytes [0-9]*\.\.[0-9]* of the OUT stream" "$W/show.txt"
	check "show names the interface (station, port, slot)" grep -q "interface 0: usbmon1: edlstation station .*, port 1-1.1, slot" "$W/show.txt"
	;;
tshark)
	command -v tshark >/dev/null || { echo "SKIP: tshark is not installed (apt-get install tshark)"; exit 77; }
	record
	tshark -r "$CAP" >"$W/tshark.txt" 2>"$W/tshark.err"
	check "tshark reads the capture" [ $? -eq 0 ]
	check "tshark gives no warnings" sh -c "! grep -v 'Running as user' \"$W/tshark.err\" | grep -q ."
	cat "$W/tshark.err" | grep -v 'Running as user'
	check "tshark sees the link type (USB with Linux header and padding)" \
		sh -c "capinfos \"$CAP\" | grep -q 'USB packets with Linux header and padding'"
	check "tshark shows bulk OUT transfers" [ "$(tshark -r "$CAP" -Y 'usb.transfer_type == 0x03 && usb.endpoint_address.direction == 0' 2>/dev/null | wc -l)" -gt 20 ]
	check "tshark shows bulk IN transfers" [ "$(tshark -r "$CAP" -Y 'usb.transfer_type == 0x03 && usb.endpoint_address.direction == 1' 2>/dev/null | wc -l)" -gt 20 ]
	check "tshark finds the Sahara HELLO in the bulk IN data" \
		sh -c "tshark -r \"$CAP\" -Y 'usb.capdata[0:8] == 01:00:00:00:30:00:00:00' 2>/dev/null | grep -q ."
	check "tshark reads the interface description" \
		sh -c "tshark -r \"$CAP\" -T fields -e frame.interface_description -c 1 2>/dev/null | grep -q 'port 1-1.1'"
	check "no malformed packets or expert warnings" \
		sh -c "! tshark -r \"$CAP\" -q -z expert 2>/dev/null | grep -Eiq 'malformed|warn|error'"
	;;
bound)
	printf '[station]\nrecord_max_mb = 1\n' >"$W/bound.ini"
	station "$DB" --dump "$W/dump-rec" -- --record "$W/rec" --config "$W/bound.ini"
	check "recorded run passed" [ "$rc" -eq 0 ]
	CAP=$(ls "$W"/rec/*.pcapng | head -1)
	size=$(stat -c %s "$CAP")
	echo "bounded capture: $size bytes"
	check "the file stays near record_max_mb (1 MiB)" [ "$size" -lt 1300000 ]
	"$EDL" capture show "$CAP" >"$W/show.txt"
	check "show says raw data was elided" grep -q "elided from the capture" "$W/show.txt"
	check "every XML document kept (the final power command)" grep -q "<power " "$W/show.txt"
	check "Sahara packets kept" grep -q "Sahara DONE" "$W/show.txt"
	replay "$W/dump-replay" "$CAP"
	check "the bounded capture replays to PASS" grep -q "replay .*: PASS" "$OUT"
	check "and the replayed storage holds the host's bytes" same_storage "$W/dump-replay"
	;;
two)
	timeout -s KILL 120 "$EDL" emulate "${TARGET[@]}" --devices 2 --dump "$W/dump-rec" -- \
		"$EDL" run --package "$PKG" --db "$DB" --cache-dir "$W/cache" --log-format text \
		--reset-delay 0 --count 2 --record "$W/rec" >"$OUT" 2>&1
	check "two recorded runs passed" [ $? -eq 0 ]
	check "two captures, one per serial" [ "$(ls "$W/rec" | sed 's/-[0-9]*\.pcapng$//' | sort | tr '\n' ' ')" = "1a2b3c4d 1a2b3c4e " ]
	check "each run points to its own capture" [ "$(sql "select count(distinct capture) from run where capture like '%/' || serial || '-' || id || '.pcapng'")" = 2 ]
	rm -f "$W/replay.db"
	timeout -s KILL 120 "$EDL" emulate "${TARGET[@]}" --dump "$W/dump-replay" \
		--replay "$(ls "$W"/rec/1a2b3c4e-*.pcapng),$(ls "$W"/rec/1a2b3c4d-*.pcapng)" -- \
		"$EDL" run --package "$PKG" --db "$W/replay.db" --cache-dir "$W/cache" --log-format text \
		--reset-delay 0 --count 2 >"$OUT" 2>&1
	check "both replayed runs passed" [ $? -eq 0 ]
	check "both replays say PASS" [ "$(grep -c 'replay .*: PASS' "$OUT")" = 2 ]
	check "the replayed units carry the recorded serials" \
		[ "$(sqlite3 -batch -noheader "$W/replay.db" "select group_concat(serial, ' ') from (select serial from run where result = 'pass' order by serial)")" = "1a2b3c4d 1a2b3c4e" ]
	for sn in 1a2b3c4d 1a2b3c4e; do
		check "$sn: replayed storage identical" python3 "$HERE/cmp_sparse.py" "$W/dump-rec/$sn/lun0.img" "$W/dump-replay/$sn/lun0.img"
	done
	;;
*)
	echo "unknown case $CASE"
	exit 2
	;;
esac
exit $((fails > 0))
