#!/bin/bash
# Factory benchmark (issue 14): `scripts/bench.sh factory [--runs N] [--rounds N] [--only drain,flash]`.
#   drain  a backlog of N runs with their steps (default 50,000; generated into
#          SQLite through the station's writer by tests/store/bench_store) shipped
#          into a local PostgreSQL 15 by `edlstation sync push`: runs/s (target
#          >= 5,000/s), median of the rounds; against a baseline measured in the
#          same run on the same server: psql \copy of the same runs and steps
#          into tables with the schema's keys, indexes and foreign keys (the floor
#          for this schema), as a ratio; and into plain tables without keys.
#   flash  an emulated 8-unit line flashed without and with [factory] database
#          (the server up), 5 rounds (--rounds sets both), the order alternating:
#          the median of each back-to-back pair's ratio (with / without; 1.00 =
#          the sync adds nothing measurable).
# The server is started by tests/e2e/pglib.sh (fsync off: the figures are the
# sync's, not the disk's). Prints a table and writes build/bench/factory.json.
# EDL_BENCH_BUILD names the build directory (default build/, configured if
# missing). Other parts (the factory report) add a function and an --only name.
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
[ "${1:-}" = factory ] && shift
runs=50000
rounds=3
flash_rounds=5
only=drain,flash
usage() {
	echo "usage: scripts/bench/factory.sh [--runs N] [--rounds N] [--only drain,flash]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
	--rounds) [ $# -ge 2 ] || usage; rounds=$2; flash_rounds=$2; shift 2 ;;
	--only) [ $# -ge 2 ] || usage; only=$2; shift 2 ;;
	*) usage ;;
	esac
done
case "$runs$rounds" in '' | *[!0-9]*) usage ;; esac

BUILD=${EDL_BENCH_BUILD:-build}
[ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -DEDL_WERROR=ON >/dev/null
cmake --build "$BUILD" -j2 --target edlstation bench_store >/dev/null
EDL=$ROOT/$BUILD/src/cli/edlstation
[ -x "$EDL" ] || EDL=$BUILD/src/cli/edlstation
mkdir -p build/bench
JSON=build/bench/factory.json
W=$(mktemp -d /tmp/edl-bench-factory.XXXXXX)
trap 'rm -rf "$W"' EXIT
# shellcheck source=../../tests/e2e/pglib.sh
. tests/e2e/pglib.sh
pg_start >/dev/null || { echo "factory.sh: cannot start PostgreSQL" >&2; exit 1; }

now() { date +%s.%N; }
median() { tr ' ' '\n' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
figures=()
row() { printf '  %-52s %12s\n' "$1" "$2"; }

bench_drain() {
	echo "backlog: $runs runs with steps (tests/store/bench_store) ..."
	"$BUILD/tests/store/bench_store" --runs "$runs" --db "$W/backlog.db" --json "$W/store.json" >/dev/null
	local steps
	steps=$(sqlite3 "$W/backlog.db" "select count(*) from run_step")
	local rates=() floor=() base=() i t0 t1
	for i in $(seq "$rounds"); do
		# A fresh copy and a fresh factory database each round.
		cp "$W/backlog.db" "$W/round.db"
		pg_psql "drop schema public cascade; create schema public" >/dev/null 2>&1
		t0=$(now)
		"$EDL" sync push --db "$W/round.db" --database "$PG_URI" >"$W/push.txt" 2>&1 ||
			{ echo "sync push failed:"; cat "$W/push.txt"; exit 1; }
		t1=$(now)
		[ "$(pg_psql 'select count(*) from run')" = "$runs" ] || { echo "drain: not all runs on the server"; exit 1; }
		rates+=("$(echo "$runs $t0 $t1" | awk '{printf "%.0f", $1 / ($3 - $2)}')")
		# Baselines on the same server, the same rows: psql \copy (1) into tables
		# with the factory schema's keys, indexes and foreign keys (the floor
		# for this schema, without the sync's reading, resend check and
		# cursor), (2) into plain tables without keys (the floor of the box).
		psql -X -q "$PG_URI" -c "\\copy (select * from run) to '$W/run.copy'" -c "\\copy (select * from run_step) to '$W/step.copy'" -c "\\copy (select * from station) to '$W/station.copy'"
		pg_psql "set client_min_messages = warning; drop table if exists f_step, f_run, f_station, raw_run, raw_step;
			create table f_station (like station including all);
			create table f_run (like run including all, foreign key (station_id) references f_station (id));
			create table f_step (like run_step including all, foreign key (station_id, local_id) references f_run on delete cascade);
			create table raw_run (like run); create table raw_step (like run_step)" >/dev/null
		psql -X -q "$PG_URI" -c "\\copy f_station from '$W/station.copy'" >/dev/null
		t0=$(now)
		psql -X -q "$PG_URI" -c "\\copy f_run from '$W/run.copy'" -c "\\copy f_step from '$W/step.copy'" >/dev/null
		t1=$(now)
		floor+=("$(echo "$runs $t0 $t1" | awk '{printf "%.0f", $1 / ($3 - $2)}')")
		t0=$(now)
		psql -X -q "$PG_URI" -c "\\copy raw_run from '$W/run.copy'" -c "\\copy raw_step from '$W/step.copy'" >/dev/null
		t1=$(now)
		base+=("$(echo "$runs $t0 $t1" | awk '{printf "%.0f", $1 / ($3 - $2)}')")
	done
	local rate f b
	rate=$(echo "${rates[*]}" | median)
	f=$(echo "${floor[*]}" | median)
	b=$(echo "${base[*]}" | median)
	echo "drain ($runs runs, $steps steps; rounds: sync ${rates[*]}, schema floor ${floor[*]}, plain ${base[*]} runs/s)"
	row "sync push drain rate (runs with steps / s, median)" "$rate"
	row "floor: psql \\copy into the schema's tables (runs / s)" "$f"
	row "drain / floor" "$(echo "$rate $f" | awk '{printf "%.2f", $1 / $2}')"
	row "plain tables, no keys (runs / s)" "$b"
	row "target >= 5000 runs/s" "$([ "$rate" -ge 5000 ] && echo met || echo NOT MET)"
	figures+=("\"drain_runs\": $runs" "\"drain_steps\": $steps" "\"drain_runs_per_s\": $rate"
		"\"drain_floor_runs_per_s\": $f" "\"drain_plain_runs_per_s\": $b")
}

bench_flash() {
	"$EDL" mkpackage "$W/pkg" --storage nand --size 16 >/dev/null
	cat >"$W/off.ini" <<EOF
[line]
stop_after = 0
stop_slots = 0
EOF
	cp "$W/off.ini" "$W/on.ini"
	printf '[factory]\ndatabase = %s\nline = bench\n' "$PG_URI" >>"$W/on.ini"
	local off=() on=() ratios=() i mode t0 t1
	# The package's hashes cached before the first round (a cold cache is not the sync's).
	"$EDL" package check "$W/pkg" --cache-dir "$W/cache" >/dev/null
	for i in $(seq "$flash_rounds"); do
		# The order alternates: neither mode always runs first after the other.
		local order="off on"
		[ $((i % 2)) -eq 0 ] && order="on off"
		for mode in $order; do
			rm -f "$W/$mode.db"*
			t0=$(now)
			timeout -s KILL 300 "$EDL" emulate --storage nand --devices 8 -- \
				"$EDL" run --config "$W/$mode.ini" --package "$W/pkg" --db "$W/$mode.db" \
				--cache-dir "$W/cache" --log-format text --reset-delay 0 --count 8 >"$W/$mode.out" 2>&1 ||
				{ echo "flash ($mode) failed:"; tail -5 "$W/$mode.out"; exit 1; }
			t1=$(now)
			[ "$mode" = off ] && off+=("$(echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}')")
			[ "$mode" = on ] && on+=("$(echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}')")
		done
		"$EDL" sync status --config "$W/on.ini" --db "$W/on.db" >/dev/null ||
			{ echo "flash: the line with [factory] was not in sync at its exit"; exit 1; }
		# Each pair ran back to back, under the same load: its ratio is the figure.
		ratios+=("$(echo "${on[$((i - 1))]} ${off[$((i - 1))]}" | awk '{printf "%.3f", $1 / $2}')")
	done
	local a b r
	a=$(echo "${off[*]}" | median)
	b=$(echo "${on[*]}" | median)
	r=$(echo "${ratios[*]}" | median)
	echo "flash (8-unit emulated line; without: ${off[*]} s, with [factory]: ${on[*]} s; pairs: ${ratios[*]})"
	row "8-unit line without [factory] (s, median)" "$a"
	row "8-unit line with [factory], server up (s, median)" "$b"
	row "with / without (median of back-to-back pairs)" "$(printf '%.2f' "$r")"
	figures+=("\"flash_without_s\": $a" "\"flash_with_s\": $b" "\"flash_ratio\": $r")
}

echo "factory benchmark (load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
case ",$only," in *,drain,*) bench_drain ;; esac
case ",$only," in *,flash,*) bench_flash ;; esac
{
	printf '{"rounds": %s' "$rounds"
	for f in "${figures[@]}"; do printf ', %s' "$f"; done
	printf '}\n'
} >"$JSON"
echo "wrote $JSON"
