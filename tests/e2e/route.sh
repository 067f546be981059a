#!/bin/bash
# End-to-end test of route by identity (issue 15): one bench, two routed
# products and units of a third key. `edlstation emulate` plugs four units of
# different device profiles: an MSM8916 (eMMC) and an SDM845 (UFS) whose OEM
# key the routes' programmers carry, an SM8550 whose SHA-384 key no route's
# programmer carries, and a generic unit of the known key whose MSM id no route
# names. Checked: each routed unit's storage holds its own package byte for
# byte (check_dump.py), the run records its product and package; the unknown
# key is refused before upload (the emulator received no programmer byte:
# unit.json) with the message and class in the database; the other is refused
# as no route; `report` counts units by product; bad [route] entries are config
# errors at their line.
# usage: route.sh EDLSTATION_BINARY
set -u
EDL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/edl-e2e-route.XXXXXX)
export TMPDIR=$W
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
DB=$W/results.db
OUT=$W/out.txt
fails=0

# shellcheck source=lib.sh
. "$HERE/lib.sh"

# Two products: an eMMC (512-byte sectors) and a UFS (4096) board package, of
# different image bytes (seeds), reshaped from mkpackage's as station.sh does.
"$EDL" mkpackage "$W/n1" --storage nand --size 8 --seed 1 >/dev/null &&
	"$EDL" mkpackage "$W/n2" --storage nand --size 8 --seed 2 >/dev/null ||
	{ echo "FAIL: mkpackage"; exit 1; }
mapfile -t RAW_A < <(python3 "$HERE/mkpkg.py" "$W/n1" "$W/alpha" emmc 512) &&
	mapfile -t RAW_B < <(python3 "$HERE/mkpkg.py" "$W/n2" "$W/beta" ufs 4096) ||
	{ echo "FAIL: mkpkg.py"; exit 1; }

# The emulator's OEM key (SHA-256, what MSM8916 and SDM845 units report), as
# `edlstation identify` shows it: read from one unit rather than written here.
"$EDL" emulate --devices 1 --profile msm8916 -- "$EDL" identify \
	>"$W/identify.txt" 2>&1
PK=$(sed -n 's/.*PK hash \([0-9a-f]*\),.*/\1/p' "$W/identify.txt" | head -1)
[ ${#PK} -eq 64 ] || { echo "FAIL: no PK hash from identify"; cat "$W/identify.txt"; exit 1; }

cat >"$W/route.ini" <<EOF
[station]
name = rma-bench
[route alpha]
msm = 0x007050e1       ; MSM8916
pk_hash = $PK
package = $W/alpha
product = Alpha
[route beta]
msm = 0x0008b0e1       ; SDM845
pk_hash = $PK
package = $W/beta
product = Beta
[line]
stop_after = 0
stop_slots = 0
EOF

"$EDL" config check --config "$W/route.ini" >"$OUT" 2>&1
check "config check loads both routed packages" [ $? -eq 0 ]
"$EDL" run --config "$W/route.ini" --db "$DB" --cache-dir "$W/cache" --dry-run >"$OUT" 2>&1
check "run --dry-run lists both routes" sh -c "grep -q '^route alpha: package $W/alpha (emmc' '$OUT' && grep -q '^route beta: package $W/beta (ufs' '$OUT'"

timeout -s KILL 120 "$EDL" emulate --devices 4 --profile 1-1.1:msm8916 --profile 1-1.2:sdm845 \
	--profile 1-1.3:sm8550 --profile 1-1.4:generic --dump "$W/dump" -- \
	"$EDL" run --config "$W/route.ini" --db "$DB" --cache-dir "$W/cache" --log-format text \
	--reset-delay 0 --count 4 --retries 1 >"$OUT" 2>&1
rc=$?
check "exit 3 (units refused)" [ "$rc" -eq 3 ]
dump_is() { # dump_is SERIAL RAWPROGRAM...
	local d=$W/dump/$1
	shift
	for raw in "$@"; do
		python3 "$HERE/check_dump.py" "$raw" "$d" >/dev/null || { python3 "$HERE/check_dump.py" "$raw" "$d"; return 1; }
	done
}
check "the MSM8916 unit holds package alpha byte for byte" dump_is 1a2b3c4d "${RAW_A[@]}"
check "the SDM845 unit holds package beta byte for byte" dump_is 1a2b3c4e "${RAW_B[@]}"
check "runs record their product and package" [ "$(sql "select r.serial || ':' || r.product || ':' || p.path from run r join package p on p.id = r.package_id where r.result = 'pass' order by r.serial")" = "$(printf '1a2b3c4d:Alpha:%s\n1a2b3c4e:Beta:%s' "$W/alpha" "$W/beta")" ]
check "the unknown key was refused once, before upload, as wrong programmer" \
	[ "$(sql "select stage || ' ' || error || ' ' || error_class from run where serial = '1a2b3c4f'")" = "sahara EDL_E_PK_MISMATCH wrong-programmer" ]
check "its message says whose key it is" sh -c "sqlite3 '$DB' \"select message from run where serial = '1a2b3c4f'\" | grep -q \"secure-boot key mismatch: this unit's OEM key is ${PK:0:16}... (SHA-384), no programmer for it\""
check "the emulator received no programmer byte from it" grep -q '"programmer_sha256": null' "$W/dump/1a2b3c4f/unit.json"
check "nor any Firehose command" grep -q '"commands": {}' "$W/dump/1a2b3c4f/unit.json"
check "the known key of an unrouted chip is refused as no route" \
	[ "$(sql "select error || ' ' || error_class from run where serial = '1a2b3c50'")" = "EDL_E_NO_ROUTE wrong-package" ]
check "it got no programmer either" grep -q '"programmer_sha256": null' "$W/dump/1a2b3c50/unit.json"
check "the operator saw the routing" sh -c "grep -q 'routed: route alpha: product Alpha' '$OUT' && grep -q 'refused: secure-boot key mismatch' '$OUT'"

"$EDL" report --db "$DB" --format json >"$W/report.json"
jq() { /usr/bin/python3 -c "import json,sys; r=json.load(open('$W/report.json')); print(eval(sys.argv[1]))" "$1"; }
check "report counts units by product" [ "$(jq 'sorted((p["product"], p["units"], p["passed_units"]) for p in r["products"] if p["product"])')" = "[('Alpha', 1, 1), ('Beta', 1, 1)]" ]
check "refused units count under no product" [ "$(jq '[(p["units"], p["failed_units"]) for p in r["products"] if p["product"] is None]')" = "[(2, 2)]" ]
"$EDL" report --db "$DB" --product beta --format json >"$W/report.json"
check "report --product filters (any case)" [ "$(jq 'r["units"], r["passed_units"]')" = "(1, 1)" ]
"$EDL" report --db "$DB" >"$W/report.txt"
check "the text report has a product section" grep -q '^by product' "$W/report.txt"
"$EDL" history --db "$DB" 1a2b3c4e >"$W/history.txt"
check "history shows the run's product" grep -q 'product Beta' "$W/history.txt"

# Bad route entries: the line, the key and the fix; exit 2 before any unit.
printf '[route alpha]\nmsm = 0xfoo\npk_hash = %s\npackage = %s\n[route beta]\npackage = %s\n' \
	"$PK" "$W/alpha" "$W/beta" >"$W/bad.ini"
"$EDL" run --config "$W/bad.ini" --db "$DB" >"$OUT" 2>&1
check "bad route entries: exit 2" [ $? -eq 2 ]
check "a bad match key is named at its line" grep -q "bad.ini:2: \[route alpha\] msm: '0xfoo' is not accepted" "$OUT"
"$EDL" config check --config "$W/bad.ini" >"$OUT" 2>&1
check "a route without pk_hash is refused: nothing is sent blind" grep -q "bad.ini:6: \[route beta\]: no pk_hash" "$OUT"
printf '[route alpha]\npk_hash = any\npackage = %s/nope\n' "$W" >"$W/nopkg.ini"
"$EDL" run --config "$W/nopkg.ini" --db "$DB" >"$OUT" 2>&1
check "a routed package that does not load stops the start (exit 2)" [ $? -eq 2 ]
check "... naming its route" grep -q "\[route alpha\] package $W/nope" "$OUT"
exit $fails
