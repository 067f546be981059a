#!/bin/bash
# Factory report benchmark (issue 14): `scripts/bench/factory_report.sh
# [--runs N] [--stations N]` (default 10,000,000 runs from 100 stations).
#
# A scratch PostgreSQL (tests/e2e/pglib.sh) gets the real schema (a station
# pushes once through `edlstation sync push`, which migrates it), then N runs
# generated on the server (scripts/bench/factory_report_gen.sql: retries,
# failures at six stages, interrupted runs, 32 slots, 4 packages, 10 lines)
# with the summary triggers off, the summaries rebuilt once, VACUUM ANALYZE.
# Timed, warm (best of 3 after one untimed run): `edlstation report --format
# json` over the whole set (the server's summaries), over one day (the runs
# through run_by_start), one station over everything (run_by_station_start);
# the plans of each query as the server ran them (auto_explain) go to
# build/bench/factory_report.plans. Baseline in the same run: the SQLite
# report over 1,000,000 runs (tests/store/bench_store's database). Prints a
# table and writes build/bench/factory_report.json.
set -eu
cd "$(dirname "$0")/../.."
runs=10000000
stations=100
[ "${1:-}" = factory ] && shift
usage() {
	echo "usage: scripts/bench/factory_report.sh [--runs N] [--stations N]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
	--stations) [ $# -ge 2 ] || usage; stations=$2; shift 2 ;;
	*) usage ;;
	esac
done
case "$runs$stations" in '' | *[!0-9]*) usage ;; esac
[ "$stations" -ge 1 ] && [ "$stations" -le 1000 ] || usage
bdir=${EDL_BENCH_BUILD:-build}
if [ ! -f "$bdir/CMakeCache.txt" ]; then
	cmake -S . -B "$bdir" -DEDL_WERROR=ON >/dev/null
fi
cmake --build "$bdir" --target edlstation bench_store -j2 >/dev/null
EDL=$bdir/src/cli/edlstation
mkdir -p build/bench
W=$(mktemp -d /tmp/edl-bench-factory.XXXXXX)
trap 'rm -rf "$W"' EXIT
# shellcheck source=../../tests/e2e/pglib.sh
. tests/e2e/pglib.sh
pg_start >/dev/null
# Room for a table of a few GB in memory (warm cache), then the schema.
pg_psql "ALTER SYSTEM SET shared_buffers = '4GB'" >/dev/null
pg_psql "ALTER SYSTEM SET work_mem = '256MB'" >/dev/null
pg_stop
pg_restart
chmod 755 "$W"
"$bdir/tests/store/bench_store" --runs 1000 --db "$W/seed.db" >/dev/null
"$EDL" sync push --db "$W/seed.db" --database "$PG_URI" >/dev/null
pg_psql "TRUNCATE station, package, device, run, run_step, run_log, report_group,
	report_duration, report_unit, report_unit_hour RESTART IDENTITY CASCADE" >/dev/null

now() { date +%s.%N; }
t0=$(now)
pg_psql "ALTER TABLE run DISABLE TRIGGER USER" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -v runs="$runs" -v stations="$stations" "$PG_URI" \
	-f scripts/bench/factory_report_gen.sql >/dev/null
t1=$(now)
pg_psql "SELECT report_summaries_rebuild()" >/dev/null
pg_psql "ALTER TABLE run ENABLE TRIGGER USER" >/dev/null
t2=$(now)
pg_psql "VACUUM ANALYZE" >/dev/null
t3=$(now)
size=$(pg_psql "SELECT pg_size_pretty(pg_total_relation_size('run'))")
groups=$(pg_psql "SELECT count(*) FROM report_group")
units=$(pg_psql "SELECT count(*) FROM report_unit")

# best of 3 after a warm-up run, seconds
best() {
	local b=
	"$@" >/dev/null
	for _ in 1 2 3; do
		local s e
		s=$(now)
		"$@" >"$W/out.json"
		e=$(now)
		b=$(echo "$s $e ${b:-1e9}" | awk '{ d = $2 - $1; print (d < $3 ? d : $3) }')
	done
	echo "$b"
}
day0=$(pg_psql "SELECT to_char(to_timestamp(min(start_ms) / 1000) AT TIME ZONE 'UTC' + interval '50 days', 'YYYY-MM-DD') FROM run")
day1=$(date -u -d "$day0 + 1 day" +%Y-%m-%d)
all=$(best "$EDL" report --db "$PG_URI" --format json)
failed_listed=$(/usr/bin/python3 -c "import json; print(len(json.load(open('$W/out.json'))['failed']))")
all_text=$(best "$EDL" report --db "$PG_URI")
day=$(best "$EDL" report --db "$PG_URI" --format json --since "$day0" --until "$day1")
day_runs=$(/usr/bin/python3 -c "import json; print(json.load(open('$W/out.json'))['runs'])")
one=$(best "$EDL" report --db "$PG_URI" --format json --station st050)
one_runs=$(/usr/bin/python3 -c "import json; print(json.load(open('$W/out.json'))['runs'])")
by=$(best "$EDL" report --db "$PG_URI" --format json --by-station)

# The plans as the server ran them (with the timing overhead of EXPLAIN ANALYZE):
# auto_explain through the URI's options (they replace the report's own, so
# jit=off is repeated).
explain="$PG_URI?options=-c%20jit%3Doff%20-c%20session_preload_libraries%3Dauto_explain"
explain="$explain%20-c%20auto_explain.log_min_duration%3D0%20-c%20auto_explain.log_analyze%3Don"
explain="$explain%20-c%20auto_explain.log_buffers%3Don"
plans_from=$(wc -l <"$PG_DIR/log")
for args in "" "--since $day0 --until $day1" "--station st050"; do
	# shellcheck disable=SC2086
	"$EDL" report --db "$explain" --format json $args >/dev/null
done
tail -n +"$((plans_from + 1))" "$PG_DIR/log" >build/bench/factory_report.plans
# One line per query: its duration and first plan node.
awk '/duration: .* plan:/ { d = $7 } /Query Text:/ { q = substr($0, index($0, ":") + 2, 60) }
	/^\t[A-Z]/ && d != "" && !/Query Text/ { printf "  %9.1f ms  %-60s  %s\n", d, q, substr($0, 2, 60); d = "" }' \
	build/bench/factory_report.plans >build/bench/factory_report.plan-summary

# Baseline: SQLite, 1,000,000 runs, the same report command.
if [ ! -f build/bench/factory-baseline.db ]; then
	"$bdir/tests/store/bench_store" --runs 1000000 --db build/bench/factory-baseline.db >/dev/null
fi
sqlite=$(best "$EDL" report --db build/bench/factory-baseline.db --format json)

ratio=$(echo "$all $sqlite" | awk '{ printf "%.2f", $1 / $2 }')
printf 'factory report benchmark (PostgreSQL 15, %s runs from %s stations, run table %s)\n' \
	"$runs" "$stations" "$size"
printf '  %-52s %10s\n' "figure" "value"
printf '  %-52s %10.1f\n' "generate runs on the server (s)" "$(echo "$t0 $t1" | awk '{ print $2 - $1 }')"
printf '  %-52s %10.1f\n' "rebuild summaries (s)" "$(echo "$t1 $t2" | awk '{ print $2 - $1 }')"
printf '  %-52s %10.1f\n' "VACUUM ANALYZE (s)" "$(echo "$t2 $t3" | awk '{ print $2 - $1 }')"
printf '  %-52s %10s\n' "summary rows: groups / units" "$groups / $units"
printf '  %-52s %10.3f\n' "report json, whole set, $failed_listed failed units listed (s)" "$all"
printf '  %-52s %10.3f\n' "report text, whole set, 20 failed units listed (s)" "$all_text"
printf '  %-52s %10.3f\n' "report json --by-station, whole set (s)" "$by"
printf '  %-52s %10.3f\n' "report json, one day ($day_runs runs) (s)" "$day"
printf '  %-52s %10.3f\n' "report json, one station ($one_runs runs) (s)" "$one"
printf '  %-52s %10.3f\n' "baseline: SQLite report json, 1,000,000 runs (s)" "$sqlite"
printf '  %-52s %10s\n' "whole factory / SQLite 1M (ratio)" "$ratio"
printf '  target: whole-set report < 2 s; plans: build/bench/factory_report.plans\n'
printf 'queries (whole set, one day, one station), EXPLAIN ANALYZE timing:\n'
cat build/bench/factory_report.plan-summary
cat >build/bench/factory_report.json <<EOF
{"runs": $runs, "stations": $stations, "report_json_all_s": $all, "report_text_all_s": $all_text,
 "report_by_station_s": $by, "report_day_s": $day, "day_runs": $day_runs,
 "report_station_s": $one, "station_runs": $one_runs, "sqlite_1m_report_s": $sqlite,
 "ratio_to_sqlite_1m": $ratio, "failed_listed": $failed_listed}
EOF
