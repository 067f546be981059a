#!/bin/bash
# End-to-end tests of memory dumps (issue 15): the real `edlstation run` on an
# emulated line where a unit crashed into the boot ROM's memory-debug mode
# (`--fault PORT:memory-dump`). Checked on what matters: the region files on
# disk equal what the emulated ROM served (recomputed here from its seed, see
# src/target/ramdump.c), the manifest's SHA-256s, the run recorded with kind
# 'dump' and its archive rows, the unit reset (the emulator's unit.json); a
# size limit too small, a hostile table, a broken table, an unplug mid-dump.
# usage: rma_dump.sh EDLSTATION_BINARY CASE
set -u
EDL=$1
CASE=$2
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/edl-e2e-dump.XXXXXX)
export TMPDIR=$W
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
PKG=$W/pkg
DB=$W/results.db
OUT=$W/out.txt
DUMPS=$W/dumps
SERIAL=1a2b3c4d
PY=/usr/bin/python3
fails=0

# shellcheck source=lib.sh
. "$HERE/lib.sh"

"$EDL" mkpackage "$PKG" --storage nand --size 8 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }

# config EXTRA_LINES: the station config of this case (line guard off: the
# failures here are deliberate).
config() {
	printf '[line]\nstop_after = 0\nstop_slots = 0\n[rma]\ndump_dir = %s\n%s' "$DUMPS" "$1" >"$W/st.ini"
}

# station EMULATE_OPTIONS... -- RUN_OPTIONS...; sets $rc.
station() {
	local emu=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do emu+=("$1"); shift; done
	shift
	timeout -s KILL 120 "$EDL" emulate --storage nand --dump "$W/emu" "${emu[@]}" -- \
		"$EDL" run --package "$PKG" --db "$DB" --cache-dir "$W/cache" --log-format text \
		--reset-delay 0 --config "$W/st.ini" "$@" >"$OUT" 2>&1
	rc=$?
}

# The one dump directory of the unit (DIR/<serial>/<time>/).
dump_dir() { find "$DUMPS/$SERIAL" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | head -1; }

unit_reset() { grep -q '"final_state": "RESET"' "$W/emu/$1/unit.json"; }

# verify_dump DIR SERIAL_HEX: regions equal the ROM's, manifest complete, SHA-256s right.
verify_dump() {
	"$PY" - "$1" "$2" <<'PYEOF'
import hashlib, json, os, struct, sys
d, serial = sys.argv[1], int(sys.argv[2], 16)
want = {"DDRCS0_0.BIN": (0x80000000, 2 << 20, "DDR CS0 part0 Memory"),
        "OCIMEM.BIN": (0x14680000, 256 << 10, "OCIMEM"),
        "CODERAM.BIN": (0x01b00000, 614437, "RPM Code RAM region"),
        "RST_STAT.BIN": (0x0c264000, 4, "Reset Status Region")}
def served(name, n):
    raw = name.encode()[:20].ljust(20, b"\0")
    out, k = bytearray(), 0
    while len(out) < n:
        out += hashlib.sha256(b"edlstation ramdump" + struct.pack("<I", serial) + raw +
                              struct.pack("<Q", k)).digest()
        k += 1
    return bytes(out[:n])
m = json.load(open(os.path.join(d, "manifest.json")))
assert m["complete"] is True, m
names = [r["name"] for r in m["regions"]]
assert names == list(want), names
for r in m["regions"]:
    base, size, desc = want[r["name"]]
    data = open(os.path.join(d, r["name"]), "rb").read()
    assert data == served(r["name"], size), r["name"] + ": bytes differ from what the ROM served"
    assert r["sha256"] == hashlib.sha256(data).hexdigest(), r
    assert (int(r["base"], 16), r["size"], r["description"]) == (base, size, desc), r
assert sorted(os.listdir(d)) == sorted(names + ["manifest.json"]), os.listdir(d)
PYEOF
}

case "$CASE" in
collect)
	# Port 1 crashed into memory-debug mode, port 2 is a healthy unit beside it.
	config ''
	station --devices 2 --fault 1:memory-dump -- --count 2
	check "exit 0" [ "$rc" -eq 0 ]
	D=$(dump_dir)
	check "dumped to DIR/<USB serial>/<time>/" [ -n "$D" ]
	check "regions on disk equal what the ROM served, manifest SHA-256s right" verify_dump "$D" "$SERIAL"
	check "a pass run of kind 'dump' for the unit" \
		[ "$(sql "select result, kind from run where serial='$SERIAL'")" = "pass|dump" ]
	check "the neighbour flashed as usual (kind 'flash')" \
		[ "$(sql "select result, kind from run where serial='1a2b3c4e'")" = "pass|flash" ]
	check "4 archive rows of kind 'dump' whose SHA-256 and size match the files" "$PY" - "$DB" "$D" <<'PYEOF'
import hashlib, os, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "select a.label, a.path, a.bytes, a.sha256, a.kind, a.serial from archive a join run r on r.id = a.run_id where r.kind = 'dump'").fetchall()
assert len(rows) == 4, rows
for label, path, n, sha, kind, serial in rows:
    data = open(path, "rb").read()
    assert (kind, serial, len(data), os.path.dirname(path)) == ("dump", "1a2b3c4d", n, sys.argv[2]), rows
    assert hashlib.sha256(data).hexdigest() == sha and os.path.basename(path) == label
PYEOF
	check "the unit was reset" unit_reset "$SERIAL"
	timeout -s KILL 60 "$EDL" emulate --devices 2 --fault 1:memory-dump -- "$EDL" list >"$W/list.txt" 2>&1
	check "the crashed unit enumerates as 05c6:900e (list: mode dump), its neighbour as 9008" \
		sh -c "grep -q '^1-1.1 .* dump .*1a2b3c4d' '$W/list.txt' && grep -q '^1-1.2 .* edl .*1a2b3c4e' '$W/list.txt'"
	check "the operator saw the dump" grep -q "memory dump collected: 4 regions, 2973737 bytes in $D; the unit was reset" "$OUT"
	;;
collect_v3)
	# A Sahara v3 ROM: MEMORY_DEBUG64, a 64-bit table, MEMORY_READ64.
	config ''
	station --devices 1 --sahara-version 3 --fault 1:memory-dump -- --count 1
	check "exit 0" [ "$rc" -eq 0 ]
	D=$(dump_dir)
	check "regions equal what the ROM served" verify_dump "$D" "$SERIAL"
	check "64-bit table in the manifest" grep -q '"table": "64-bit"' "$D/manifest.json"
	check "the unit was reset" unit_reset "$SERIAL"
	;;
too_large)
	config 'dump_max_mb = 1
'
	station --devices 1 --fault 1:memory-dump -- --count 1
	check "exit 3 (the unit failed)" [ "$rc" -eq 3 ]
	check "the message says how large and how to raise the limit" \
		grep -q "more than \[rma\] dump_max_mb = 1; raise dump_max_mb to at least 3 to collect it" "$OUT"
	check "nothing written" [ -z "$(find "$DUMPS" -type f 2>/dev/null)" ]
	check "a failed run of kind 'dump', EDL_E_MEMORY_DUMP, no archive rows" \
		[ "$(sql "select result, kind, error, (select count(*) from archive) from run")" = "fail|dump|EDL_E_MEMORY_DUMP|0" ]
	check "the unit was reset" unit_reset "$SERIAL"
	;;
hostile_names)
	# Names that would escape the directory, have no NUL, are empty or repeat.
	config ''
	station --devices 1 --fault 1:memory-dump=hostile-names -- --count 1
	check "exit 0" [ "$rc" -eq 0 ]
	D=$(dump_dir)
	check "every file inside the dump's directory" \
		[ "$(find "$W" -type f \( -name '*escaped*' -o -name '*passwd*' -o -name 'AAAA*' -o -name 'region*' \) | grep -vc "^$D/")" = 0 ]
	check "names made safe and unique" sh -c "cd '$D' && ls | sort | tr '\n' ' ' | grep -qx 'AAAAAAAAAAAAAAAAAAAA ___.._escaped-2.bin ___.._escaped.bin _etc_passwd manifest.json region2.bin '"
	check "the manifest keeps the table's names" grep -q '"table_name": "../../escaped.bin"' "$D/manifest.json"
	check "archive rows for the 5 regions" [ "$(sql "select count(*) from archive")" = 5 ]
	;;
bad_table)
	config ''
	station --devices 1 --fault 1:memory-dump=bad-table -- --count 1
	check "exit 3" [ "$rc" -eq 3 ]
	check "the failure names the entry and why" \
		grep -q 'memory table entry 1 ("WRAP.BIN") is 0x10000 bytes at 0xfffff000: it runs past the end of the 32-bit address space' "$OUT"
	check "nothing written" [ -z "$(find "$DUMPS" -type f 2>/dev/null)" ]
	check "a failed dump run" [ "$(sql "select result, kind, error from run")" = "fail|dump|EDL_E_MEMORY_DUMP" ]
	check "the unit was reset" unit_reset "$SERIAL"
	;;
unplug)
	# 1 MB/s: the 3 MB dump takes about 3 s; the unit is pulled 1.5 s after its plug.
	config ''
	station --devices 1 --rate 1 --fault 1:memory-dump --fault 1:unplug-ms=1500 -- --count 1
	D=$(dump_dir)
	check "partial files kept, the manifest says incomplete and why" "$PY" - "$D" <<'PYEOF'
import json, os, sys
m = json.load(open(os.path.join(sys.argv[1], "manifest.json")))
assert m["complete"] is False and "unplugged" in m["reason"], m
assert 0 < m["written"] < m["bytes"], m
assert os.path.getsize(os.path.join(sys.argv[1], "DDRCS0_0.BIN")) > 0
PYEOF
	check "a failed dump run, unplugged" [ "$(sql "select result, kind, error from run")" = "fail|dump|EDL_E_USB_GONE" ]
	;;
no_dump_dir)
	# Without [rma] dump_dir the unit fails as before, and the message says what to set.
	printf '[line]\nstop_after = 0\nstop_slots = 0\n' >"$W/st.ini"
	station --devices 1 --fault 1:memory-dump -- --count 1
	check "exit 3" [ "$rc" -eq 3 ]
	check "the message names [rma] dump_dir" grep -q "not collected: no dump directory (\[rma\] dump_dir)" "$OUT"
	check "a failed run, EDL_E_MEMORY_DUMP" [ "$(sql "select result, error from run")" = "fail|EDL_E_MEMORY_DUMP" ]
	;;
*)
	echo "unknown case $CASE"
	exit 2
	;;
esac
exit $fails
