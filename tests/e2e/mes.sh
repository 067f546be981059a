#!/bin/bash
# End-to-end tests of the MES hooks (issue 13) on the real binary and an
# emulated line, with hook scripts standing in for the factory's MES:
#   answers   before_unit accepts one unit with a lot, work order, operator and
#             a provisioning file (its bytes on that unit's partition only),
#             accepts another as it is (the package's image there), refuses a
#             third (never flashed: no programmer reached it) and gives a
#             fourth a file bigger than the partition (refused, said so);
#             history and report --lot/--work-order/--operator show them.
#   broken    a hook that exits 1, one that hangs (killed at timeout_ms), one
#             that prints garbage: no unit goes through, each says why.
#   outbox    after_unit is "down" (exits 1) for a whole station run, then the
#             station restarts with more units and the hook comes back after
#             failing twice more: every result is delivered exactly once per
#             run id, across the restart.
#   routed    [route] decides first, then the MES (it hears the product); a
#             unit the route refuses is never asked about.
# usage: mes.sh EDLSTATION_BINARY answers|routed|broken|outbox
set -u
EDL=$1
CASE=$2
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/edl-mes.XXXXXX)
export TMPDIR=$W
PID=
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
DB=$W/results.db
OUT=$W/out.txt
PY=/usr/bin/python3
fails=0

# shellcheck source=lib.sh
. "$HERE/lib.sh"

"$EDL" mkpackage "$W/pkg" --size 8 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }
# rpm: LUN 0, 64 sectors of 4096 bytes from sector 256 (mkpackage's UFS layout).
RPM_AT=256
RPM_SECTORS=64
part() { # part SERIAL: the unit's rpm partition as hex
	dd if="$W/dump/$1/lun0.img" bs=4096 skip=$RPM_AT count=$RPM_SECTORS 2>/dev/null | od -An -v -tx1 | tr -d ' \n'
}
padded() { # padded FILE: FILE zero-padded to the partition, as hex
	{ cat "$1"; head -c $((RPM_SECTORS * 4096 - $(stat -c %s "$1"))) /dev/zero; } | od -An -v -tx1 | tr -d ' \n'
}
json_field() { sed -n "s/^  \"$2\": \(.*\),\{0,1\}$/\1/p" "$1" | sed 's/,$//'; }

line_off='[line]
stop_after = 0
stop_slots = 0'

case "$CASE" in
answers)
	head -c 200000 /dev/urandom >"$W/prov.bin" # more than the package image of rpm: it grows into the partition
	head -c $((RPM_SECTORS * 4096 + 1)) /dev/urandom >"$W/big.bin"
	cat >"$W/before.py" <<EOF
import json, sys
unit = json.load(sys.stdin)
assert unit["event"] == "before_unit" and unit["pk_hash"] and unit["msm_id"], unit
open("$W/asked", "a").write(unit["serial"] + "\n")
answers = {
    "1a2b3c4d": {"accept": True, "lot": "LOT-7", "work_order": "WO-12", "operator": "ann",
                 "provision": {"label": "rpm", "file": "$W/prov.bin"}},
    "1a2b3c4e": {"accept": True, "lot": "LOT-7", "work_order": "WO-13", "operator": "bob"},
    "1a2b3c4f": {"accept": False, "reason": "work order WO-9 is closed"},
    "1a2b3c50": {"accept": True, "provision": {"label": "rpm", "file": "$W/big.bin"}},
}
print(json.dumps(answers[unit["serial"]]))
EOF
	printf '[mes]\nbefore_unit = %s %s\n%s\n' "$PY" "$W/before.py" "$line_off" >"$W/st.ini"
	timeout -s KILL 60 "$EDL" emulate --devices 4 --dump "$W/dump" -- \
		"$EDL" run --package "$W/pkg" --db "$DB" --cache-dir "$W/cache" --log-format text \
		--reset-delay 0 --count 4 --retries 1 --config "$W/st.ini" >"$OUT" 2>&1
	rc=$?
	check "exit 3 (two units refused)" [ "$rc" -eq 3 ]
	check "the MES was asked once per unit" [ "$(sort "$W/asked" | tr '\n' ' ')" = "1a2b3c4d 1a2b3c4e 1a2b3c4f 1a2b3c50 " ]
	check "the provisioned unit passed with its lot, work order, operator" \
		[ "$(sql "select result, lot, work_order, operator from run where serial = '1a2b3c4d'")" = "pass|LOT-7|WO-12|ann" ]
	check "its rpm partition holds the provisioning file, zero-padded" [ "$(part 1a2b3c4d)" = "$(padded "$W/prov.bin")" ]
	check "the other accepted unit passed" [ "$(sql "select result, work_order, operator from run where serial = '1a2b3c4e'")" = "pass|WO-13|bob" ]
	check "its rpm partition holds the package's image, not the file" [ "$(part 1a2b3c4e)" = "$(padded "$W/pkg/rpm.mbn")" ]
	check "the refused unit failed with the MES's reason and a class" \
		[ "$(sql "select result, error, error_class from run where serial = '1a2b3c4f'")" = "fail|EDL_E_MES_REFUSED|rma" ]
	check "the reason is recorded" sh -c "sqlite3 '$DB' \"select message from run where serial = '1a2b3c4f'\" | grep -q 'work order WO-9 is closed'"
	check "the reason is shown" grep -q "1a2b3c4f\] fail: .*work order WO-9 is closed" "$OUT"
	check "the refused unit was not flashed: no programmer reached it" \
		[ "$(json_field "$W/dump/1a2b3c4f/unit.json" programmer_sha256)" = null ]
	check "... and no byte" [ "$(json_field "$W/dump/1a2b3c4f/unit.json" raw_bytes)" = 0 ]
	check "a file bigger than the partition: refused, not flashed, said so" \
		sh -c "sqlite3 '$DB' \"select error || ' ' || message from run where serial = '1a2b3c50'\" | grep -q 'EDL_E_MES_REFUSED .*big.bin: 262145 bytes do not fit partition .rpm. (262144 bytes'"
	check "... no programmer reached it" [ "$(json_field "$W/dump/1a2b3c50/unit.json" programmer_sha256)" = null ]
	check "refused units are not retried" [ "$(sql "select count(*) from run")" = 4 ]
	"$EDL" history --db "$DB" 1a2b3c4d >"$W/h.txt"
	check "history shows lot, work order and operator" grep -q "lot LOT-7, work order WO-12, operator ann" "$W/h.txt"
	"$EDL" report --db "$DB" --lot LOT-7 --format json >"$W/r.json"
	check "report --lot: the two units of the lot" $PY -c "import json; d=json.load(open('$W/r.json')); assert d['units'] == 2 and d['filter']['lot'] == 'LOT-7', d"
	"$EDL" report --db "$DB" --work-order WO-13 --operator bob --format json >"$W/r.json"
	check "report --work-order --operator: one unit" $PY -c "import json; d=json.load(open('$W/r.json')); assert d['units'] == 1 and d['passed_units'] == 1, d"
	"$EDL" report --db "$DB" --operator nobody >"$W/r.txt"
	check "report --operator nobody: nothing" grep -Eq "^runs +0 " "$W/r.txt"
	;;
routed)
	# [route] decides first, then the MES: it hears the product, and a unit the
	# route refuses (another OEM key) is never asked about.
	cat >"$W/before.py" <<EOF
import json, sys
unit = json.load(sys.stdin)
open("$W/asked", "a").write("%s %s %s\\n" % (unit["serial"], unit.get("product"), unit.get("package", "")[:8]))
print(json.dumps({"accept": True, "lot": "LOT-R"}))
EOF
	cat >"$W/st.ini" <<EOF
[route gen]
pk_hash = 7be49b72f9e4337223ccb84d6eccca4e61ce16e3602ac2008cb18b75babe6195
package = $W/pkg
product = Gen-1
[mes]
before_unit = $PY $W/before.py
$line_off
EOF
	timeout -s KILL 60 "$EDL" emulate --devices 2 --profile 1-1.2:sm8550 --dump "$W/dump" -- \
		"$EDL" run --db "$DB" --cache-dir "$W/cache" --log-format text \
		--reset-delay 0 --count 2 --retries 0 --config "$W/st.ini" >"$OUT" 2>&1
	rc=$?
	check "exit 3 (the other key refused)" [ "$rc" -eq 3 ]
	check "the MES was asked about the routed unit only, with its product" \
		sh -c "[ \$(wc -l <'$W/asked') = 1 ] && grep -q '^1a2b3c4d Gen-1 [0-9a-f]\{8\}$' '$W/asked'"
	check "the routed unit passed with the route's product and the MES's lot" \
		[ "$(sql "select result, product, lot from run where serial = '1a2b3c4d'")" = "pass|Gen-1|LOT-R" ]
	check "the unit of another key was refused by the route, not the MES" \
		[ "$(sql "select count(*) from run where error = 'EDL_E_PK_MISMATCH' and lot is null")" = 1 ]
	;;
broken)
	cat >"$W/before.sh" <<'EOF'
#!/bin/sh
unit=$(cat)
case "$unit" in
*'"serial":"1a2b3c4d"'*) echo "cannot reach mes.example:443: connection refused" >&2; exit 1 ;;
*'"serial":"1a2b3c4e"'*) sleep 30; echo '{"accept": true}' ;;
*) echo "OK, go ahead" ;;
esac
EOF
	chmod +x "$W/before.sh"
	printf '[mes]\nbefore_unit = %s\ntimeout_ms = 700\n%s\n' "$W/before.sh" "$line_off" >"$W/st.ini"
	timeout -s KILL 60 "$EDL" emulate --devices 3 --dump "$W/dump" -- \
		"$EDL" run --package "$W/pkg" --db "$DB" --cache-dir "$W/cache" --log-format text \
		--reset-delay 0 --count 3 --retries 1 --config "$W/st.ini" >"$OUT" 2>&1
	rc=$?
	check "exit 3 (no unit passed)" [ "$rc" -eq 3 ]
	check "three failed runs, each EDL_E_MES_HOOK (a station fault)" \
		[ "$(sql "select count(*), sum(error = 'EDL_E_MES_HOOK'), sum(error_class = 'station') from run where result = 'fail'")" = "3|3|3" ]
	check "exit 1: the status and stderr's line are the reason" \
		sh -c "sqlite3 '$DB' \"select message from run where serial = '1a2b3c4d'\" | grep -q 'before_unit hook exited with status 1: cannot reach mes.example:443: connection refused; the unit was not flashed'"
	check "a hang: killed at timeout_ms" \
		sh -c "sqlite3 '$DB' \"select message from run where serial = '1a2b3c4e'\" | grep -q 'before_unit hook did not finish within 700 ms: killed'"
	check "garbage: not valid JSON" \
		sh -c "sqlite3 '$DB' \"select message from run where serial = '1a2b3c4f'\" | grep -q 'before_unit hook printed no valid JSON'"
	for s in 1a2b3c4d 1a2b3c4e 1a2b3c4f; do
		check "$s was not flashed" [ "$(json_field "$W/dump/$s/unit.json" programmer_sha256)" = null ]
	done
	check "the operator is told to check the MES link" grep -q "action: station fault: the MES hook gave no answer" "$OUT"
	# A hook that cannot be run stops the start, naming the key and the line.
	printf '[mes]\nafter_unit = %s/missing-hook --x\n' "$W" >"$W/missing.ini"
	"$EDL" run --package "$W/pkg" --db "$W/m.db" --cache-dir "$W/cache" --config "$W/missing.ini" \
		--count 1 >"$W/m.txt" 2>&1
	rc=$?
	check "a missing hook program: the start fails with a config error" [ "$rc" -ne 0 ]
	check "... naming file, line, key and program" grep -q "missing.ini:2: \[mes\] after_unit.*missing-hook does not exist" "$W/m.txt"
	"$EDL" config check --config "$W/missing.ini" >"$W/c.txt" 2>&1
	check "config check names the missing hook program" grep -q "missing.ini:2: \[mes\] after_unit: program .*missing-hook does not exist — install it" "$W/c.txt"
	printf '[mes]\nretry_min_ms = 5000\nretry_max_ms = 1000\n' >"$W/retry.ini"
	"$EDL" config check --config "$W/retry.ini" >"$W/c.txt" 2>&1
	check "config check: a backoff maximum below its minimum" grep -q "retry.ini:3: \[mes\] retry_max_ms: 1000 ms is below retry_min_ms (5000 ms)" "$W/c.txt"
	printf "[mes]\nbefore_unit = /bin/true 'open\n" >"$W/quote.ini"
	"$EDL" config check --config "$W/quote.ini" >"$W/q.txt" 2>&1
	check "an unsplittable command is a config error at its line" grep -q "quote.ini:2: \[mes\] before_unit: .*without a shell" "$W/q.txt"
	;;
outbox)
	cat >"$W/after.py" <<EOF
import json, os, sys
payload = json.load(sys.stdin)
assert payload["event"] == "after_unit" and payload["run_id"] > 0 and payload["result"], payload
if os.path.exists("$W/down"):
    sys.exit("MES down")
n = int(open("$W/flaky").read()) if os.path.exists("$W/flaky") else 0
if n > 0:
    open("$W/flaky", "w").write(str(n - 1))
    sys.exit("MES still starting")
open("$W/received", "a").write("%d\n" % payload["run_id"])
EOF
	printf '[mes]\nafter_unit = %s %s\nretry_min_ms = 100\nretry_max_ms = 400\n%s\n' \
		"$PY" "$W/after.py" "$line_off" >"$W/st.ini"
	: >"$W/received"
	touch "$W/down"
	# Down for the whole first run: 3 units (one fails: corrupt writes), nothing delivered.
	timeout -s KILL 60 "$EDL" emulate --devices 3 --fault 1-1.2:corrupt -- \
		"$EDL" run --package "$W/pkg" --db "$DB" --cache-dir "$W/cache" --log-format text \
		--reset-delay 0 --count 3 --retries 0 --config "$W/st.ini" >"$OUT" 2>&1
	check "first run: 3 runs recorded" [ "$(sql "select count(*) from run")" = 3 ]
	check "every run queued with the finish, none delivered" \
		[ "$(sql "select count(*), sum(delivered_ms is null) from mes_outbox")" = "3|3" ]
	check "the failures were tried and recorded" \
		[ "$(sql "select count(*) from mes_outbox where attempts >= 1 and last_error like 'after_unit hook exited with status 1: MES down%'")" -ge 1 ]
	check "nothing reached the MES" [ ! -s "$W/received" ]
	# The MES comes back after two more failures; a restarted station with 2
	# more units delivers everything.
	rm -f "$W/down"
	echo 2 >"$W/flaky"
	rm -f "$W/pid"
	timeout -s KILL 60 "$EDL" emulate --devices 2 --serial 1a2b3c60 -- \
		sh -c 'echo $$ >"$0"; exec "$@"' "$W/pid" \
		"$EDL" run --package "$W/pkg" --db "$DB" --cache-dir "$W/cache" --log-format text \
		--reset-delay 0 --retries 0 --config "$W/st.ini" >>"$OUT" 2>&1 &
	EMU=$!
	for ((i = 0; i < 100; i++)); do [ -s "$W/pid" ] && break; sleep 0.1; done
	PID=$(cat "$W/pid" 2>/dev/null)
	for ((i = 0; i < 300; i++)); do
		[ "$(sql "select count(*) from mes_outbox where delivered_ms is not null" 2>/dev/null)" = 5 ] && break
		sleep 0.1
	done
	kill -TERM "$PID"
	wait "$EMU"
	PID=
	check "5 runs in all" [ "$(sql "select count(*) from run")" = 5 ]
	check "every run delivered" [ "$(sql "select count(*) from mes_outbox where delivered_ms is not null")" = 5 ]
	check "the MES received each run id exactly once" \
		[ "$(sort -n "$W/received" | tr '\n' ' ')" = "$(sql "select id from run order by id" | tr '\n' ' ')" ]
	check "the hook failed twice more after the restart, then delivered" [ "$(cat "$W/flaky")" = 0 ]
	;;
*)
	echo "usage: mes.sh EDLSTATION answers|routed|broken|outbox" >&2
	exit 2
	;;
esac
exit $fails
