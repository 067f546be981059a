#!/bin/bash
# End-to-end test of `report` and `history` on the factory database (issue 14):
# a real PostgreSQL server (pglib.sh), two emulated stations on two lines whose
# runs reach it through the real sync (station A syncing live while it flashes,
# station B by `sync push` afterwards). Then:
#   - each station's SQLite report and its report on PostgreSQL (--station)
#     are the same JSON (but for what only a station knows: package paths),
#     with filters (window, slot, package hash prefix, serial, shifts), and the
#     failed unit's history is the same;
#   - the whole factory: runs and units add up, slots are per station+slot,
#     --by-station has one section per station, --line selects one line;
#   - an unfiltered report (the server's summaries) equals the same report
#     read from the runs (a window that covers everything);
#   - bad connection string (exit 2), server down (exit 1, password masked),
#     a database no station synced to (exit 1), --line on SQLite (exit 2).
# usage: factory_report.sh EDLSTATION_BINARY
set -u
EDL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/edl-e2e-factory-report.XXXXXX)
export TMPDIR=$W
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
PKG=$W/pkg
OUT=$W/out.txt
DB=$W/a.db
PY=/usr/bin/python3
fails=0

# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=pglib.sh
. "$HERE/pglib.sh"

pg_start >/dev/null || exit 77
chmod 755 "$W"

"$EDL" mkpackage "$PKG" --storage nand --size 8 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }

# station NAME LINE DB FACTORY(yes|no) FAULT SERIAL: 6 units on 3 ports, one port corrupting.
station() {
	{
		printf '[station]\nname = %s\n[flash]\nverify = digest\n' "$1"
		printf '[line]\nstop_after = 0\nstop_slots = 0\n'
		printf '[factory]\nline = %s\n' "$2"
		[ "$4" = yes ] && printf 'database = %s\n' "$PG_URI"
	} >"$W/$1.ini"
	timeout -s KILL 120 "$EDL" emulate --storage nand --devices 3 --units 6 --swap-delay 0.1 \
		--fault "$5" --serial "$6" -- \
		"$EDL" run --package "$PKG" --db "$3" --cache-dir "$W/cache" --log-format text \
		--log-dir "$W/logs-$1" --reset-delay 0 --count 6 --retries 1 --config "$W/$1.ini" \
		>>"$OUT" 2>&1
}
station st-a L1 "$W/a.db" yes 1-1.2:corrupt 1a2b0000
check "station A ran (exit 0 or 3)" [ $? -eq 0 -o $? -eq 3 ]
station st-b L2 "$W/b.db" no 1-1.3:corrupt 2b3c0000
check "station B ran" [ -s "$W/b.db" ]
"$EDL" sync push --config "$W/st-a.ini" --db "$W/a.db" >"$W/push-a.txt" 2>&1
check "station A in sync" [ $? -eq 0 ]
# Station B's units as two routed products (issue 15), so the report's "by
# product" section is compared too (the runs carry what [route] records).
sqlite3 "$W/b.db" "update run set product = case when id % 2 = 0 then 'Alpha' else 'Beta' end"
"$EDL" sync push --config "$W/st-b.ini" --db "$W/b.db" --database "$PG_URI" >"$W/push-b.txt" 2>&1
check "station B pushed" [ $? -eq 0 ]
a_runs=$(sqlite3 "$W/a.db" "select count(*) from run")
b_runs=$(sqlite3 "$W/b.db" "select count(*) from run")
check "the server has every run of both stations ($a_runs + $b_runs)" \
	[ "$(pg_psql 'select count(*) from run')" = $((a_runs + b_runs)) ]
check "station A has a failed run" [ "$(sqlite3 "$W/a.db" "select count(*) from run where result='fail'")" -ge 1 ]

# same JSON: report/history output from SQLite ($1) and PostgreSQL ($2); keys only a
# station has (package paths, transcripts, captures) are left out.
same_json() {
	$PY - "$1" "$2" <<'EOF'
import json, sys
def strip(d):
    if isinstance(d, dict):
        return {k: strip(v) for k, v in d.items() if k not in ("path", "transcript", "capture")}
    if isinstance(d, list):
        return [strip(v) for v in d]
    return d
a, b = (strip(json.load(open(p))) for p in sys.argv[1:3])
if a != b:
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            print("differs:", k, "\n  sqlite:", json.dumps(a.get(k))[:400], "\n  factory:", json.dumps(b.get(k))[:400])
    sys.exit(1)
EOF
}

n=0
compare() { # compare DB_SQLITE STATION ARGS...: the report on both, same JSON
	local db=$1 st=$2
	shift 2
	n=$((n + 1))
	"$EDL" report --db "$db" --format json "$@" >"$W/s$n.json" 2>"$W/s$n.err" &&
		"$EDL" report --db "$PG_URI" --station "$st" --format json "$@" >"$W/p$n.json" 2>"$W/p$n.err" &&
		"$PY" -c "import json,sys; d=json.load(open('$W/p$n.json')); d['filter']['station']=None; json.dump(d, open('$W/p$n.json','w'))" &&
		same_json "$W/s$n.json" "$W/p$n.json"
}
first=$(sqlite3 "$W/a.db" "select min(start_ms) from run")
last=$(sqlite3 "$W/a.db" "select max(start_ms) from run")
since=$(date -u -d "@$(((first + 1000) / 1000))" +%Y-%m-%dT%H:%M:%SZ)
failed=$(sqlite3 "$W/a.db" "select serial from run where result='fail' order by id limit 1")
hash=$(sqlite3 "$W/a.db" "select substr(manifest_hash, 1, 8) from package limit 1")
check "A: the same report" compare "$W/a.db" st-a
check "A: the same report since a time" compare "$W/a.db" st-a --since "$since"
check "A: the same report, slot 1-1.2" compare "$W/a.db" st-a --slot 1-1.2
check "A: the same report, package $hash" compare "$W/a.db" st-a --package "$hash"
check "A: the same report, unit $failed" compare "$W/a.db" st-a --serial "$failed"
check "A: the same report by shift, 1 failed unit listed" compare "$W/a.db" st-a --by shift --failed 1
check "B: the same report" compare "$W/b.db" st-b
check "B: the same report, product Alpha" compare "$W/b.db" st-b --product alpha
check "B: units by product on the factory database" \
	sh -c "'$EDL' report --db '$PG_URI' --station st-b --format json | '$PY' -c 'import json,sys; p=json.load(sys.stdin)[\"products\"]; sys.exit(0 if sorted(x[\"product\"] for x in p) == [\"Alpha\", \"Beta\"] and sum(x[\"units\"] for x in p) > 0 else 1)'"

"$EDL" history --db "$W/a.db" --format json --steps "$failed" >"$W/hs.json"
"$EDL" history --db "$PG_URI" --format json --steps "$failed" >"$W/hp.json"
check "the failed unit's history is the same (steps, log lines)" same_json "$W/hs.json" "$W/hp.json"
check "the history has the failure's log lines" \
	"$PY" -c "import json; d=json.load(open('$W/hp.json')); assert any(r['result']=='fail' for r in d['runs']), d"
upper=$(echo "$failed" | tr a-f A-F)
check "history finds 0x$upper on the server" sh -c "\"$EDL\" history --db '$PG_URI' '0x$upper' | head -1 | grep -qx 'unit $failed'"
"$EDL" history --db "$PG_URI" nosuchunit >/dev/null 2>"$W/err.txt"
check "history of an unknown unit: exit 1" [ $? -eq 1 ]

# the whole factory
"$EDL" report --db "$PG_URI" --format json --by-station >"$W/all.json"
check "factory: runs and slots of both stations, a section per station" "$PY" - <<EOF
import json
d = json.load(open("$W/all.json"))
a = json.load(open("$W/s1.json")); b = json.load(open("$W/s7.json"))
assert d["runs"] == a["runs"] + b["runs"], (d["runs"], a["runs"], b["runs"])
assert d["units"] == a["units"] + b["units"]
assert len(d["by_slot"]) == len(a["by_slot"]) + len(b["by_slot"])
assert {(s["station"], s["slot"]) for s in d["by_slot"]} == \
    {("st-a", s["slot"]) for s in a["by_slot"]} | {("st-b", s["slot"]) for s in b["by_slot"]}
st = {s["station"]: s for s in d["by_station"]}
assert set(st) == {"st-a", "st-b"}, st
assert st["st-a"]["line"] == "L1" and st["st-b"]["line"] == "L2", st
assert st["st-a"]["runs"] == a["runs"] and st["st-b"]["units"] == b["units"], st
EOF
"$EDL" report --db "$PG_URI" --format json --line L2 >"$W/l2.json"
"$PY" -c "import json; d=json.load(open('$W/l2.json')); d['filter']['line']=None; json.dump(d, open('$W/l2.json','w'))"
"$PY" -c "import json; d=json.load(open('$W/p7.json')); d['filter'].setdefault('line', None); json.dump(d, open('$W/p7b.json','w'))"
check "--line L2 is station B's report" same_json "$W/p7b.json" "$W/l2.json"
"$EDL" report --db "$PG_URI" --format json --since 2000-01-01 --until 2100-01-01 >"$W/win.json"
"$PY" -c "
import json
d = json.load(open('$W/win.json')); e = json.load(open('$W/all.json'))
for k in ('window', 'filter', 'buckets', 'by_station', 'units_per_hour', 'good_units_per_hour'): d.pop(k, None); e.pop(k, None)
json.dump(d, open('$W/win2.json', 'w')); json.dump(e, open('$W/all2.json', 'w'))"
check "the server's summaries give what the runs give" same_json "$W/win2.json" "$W/all2.json"
"$EDL" report --db "$PG_URI" --by-station >"$W/all.txt"
check "text: the per-station section" grep -q "^by station" "$W/all.txt"
check "text: station B on line L2" grep -q "^  st-b .* L2 " "$W/all.txt"

# errors
"$EDL" report --db "postgresql://edl@[::1" >/dev/null 2>"$W/err.txt"
check "a bad connection string: exit 2" [ $? -eq 2 ]
check "a bad connection string: said so" grep -q "factory\|connection\|invalid" "$W/err.txt"
"$EDL" report --db "$W/a.db" --line L1 >/dev/null 2>"$W/err.txt"
check "--line on SQLite: exit 2" [ $? -eq 2 ]
check "--line on SQLite: names the factory database" grep -q "needs the factory database" "$W/err.txt"
pg_psql "CREATE DATABASE empty" >/dev/null
"$EDL" report --db "postgresql://$PG_USER@127.0.0.1:$PG_PORT/empty" >/dev/null 2>"$W/err.txt"
check "a database no station synced to: exit 1" [ $? -eq 1 ]
check "a database no station synced to: said so" grep -q "no edlstation schema" "$W/err.txt"
pg_stop
"$EDL" report --db "postgresql://$PG_USER:s3cret@127.0.0.1:$PG_PORT/factory" >/dev/null 2>"$W/err.txt"
check "server down: exit 1" [ $? -eq 1 ]
check "server down: names the server" grep -q "cannot reach the factory database postgresql://$PG_USER:\*\*\*@127.0.0.1:$PG_PORT/factory" "$W/err.txt"
check "server down: no password shown" sh -c "! grep -q s3cret '$W/err.txt'"
"$EDL" history --db "$PG_URI" "$failed" >/dev/null 2>"$W/err.txt"
check "history, server down: exit 1" [ $? -eq 1 ]

[ "$fails" -eq 0 ] && echo "PASS" || echo "FAILED: $fails"
exit "$fails"
