#!/bin/sh
# Capture benchmark (issue 16): the station's throughput with `run --record`
# (every run's USB traffic as pcapng, default record_max_mb 64) against the
# same run without it, on the same emulated line and package, measured in this
# run on this machine. Target: ratio >= 0.9. Throughput = bytes the runs wrote
# / (last run end - first run start), from the results database; each variant
# runs ROUNDS times alternating, the best of each kept.
# usage: scripts/bench/capture.sh [DEVICES] [MIB] [ROUNDS]   (default 8 64 5)
# RECORD_MAX_MB=N sets [station] record_max_mb for the recording runs (default:
# the station's default; 0 = unbounded, every byte recorded).
set -eu
cd "$(dirname "$0")/../.."
[ "${1:-}" = capture ] && shift
DEVICES=${1:-8}
MIB=${2:-64}
ROUNDS=${3:-5}
BUILD=${EDL_BENCH_BUILD:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target edlstation >/dev/null
case "$BUILD" in
/*) EDL=$BUILD/src/cli/edlstation ;;
*) EDL=$PWD/$BUILD/src/cli/edlstation ;;
esac
W=$(mktemp -d /tmp/edl-bench-cap.XXXXXX)
trap 'rm -rf "$W"' EXIT
export TMPDIR=$W
mkdir -p "$BUILD/bench"
"$EDL" mkpackage "$W/pkg" --size "$MIB" >/dev/null
"$EDL" package check "$W/pkg" --cache-dir "$W/cache" >/dev/null

mbps() { # mbps DB: MB/s over all runs of the database
	sqlite3 -batch -noheader "$1" \
		"select round(sum(bytes_written) / 1e6 / ((max(end_ms) - min(start_ms)) / 1000.0), 2) from run where result = 'pass'"
}

once() { # once off|on ROUND: one line of DEVICES units; prints MB/s
	db=$W/$1-$2.db
	rec=""
	[ "$1" = on ] && rec="--record $W/rec-$2"
	if [ "$1" = on ] && [ -n "${RECORD_MAX_MB:-}" ]; then
		printf '[station]\nrecord_max_mb = %s\n' "$RECORD_MAX_MB" >"$W/bench.ini"
		rec="$rec --config $W/bench.ini"
	fi
	# shellcheck disable=SC2086
	timeout -s KILL 600 "$EDL" emulate --storage nand --devices "$DEVICES" -- \
		"$EDL" run --package "$W/pkg" --db "$db" --cache-dir "$W/cache" --log-format text \
		--reset-delay 0 --count "$DEVICES" $rec >"$W/out-$1-$2.txt" 2>&1 ||
		{ echo "bench: run $1 $2 failed:" >&2; tail -5 "$W/out-$1-$2.txt" >&2; exit 1; }
	if [ "$1" = on ]; then
		n=$(ls "$W/rec-$2" | wc -l)
		[ "$n" -eq "$DEVICES" ] || { echo "bench: $n captures, expected $DEVICES" >&2; exit 1; }
		du -sb "$W/rec-$2" | cut -f1 >"$W/size-$2"
		rm -rf "$W/rec-$2"
	fi
	mbps "$db"
}

best_off=0
best_on=0
for r in $(seq "$ROUNDS"); do
	off=$(once off "$r")
	on=$(once on "$r")
	echo "round $r: without recording $off MB/s, with recording $on MB/s (captures $(cat "$W/size-$r") bytes)"
	best_off=$(python3 -c "print(max($best_off, $off))")
	best_on=$(python3 -c "print(max($best_on, $on))")
done
ratio=$(python3 -c "print(round($best_on / $best_off, 3))")
ok=$(python3 -c "print('yes' if $ratio >= 0.9 else 'NO')")
printf '%-44s %10s\n' "station, $DEVICES x $MIB MiB, no recording" "$best_off MB/s"
printf '%-44s %10s\n' "station, $DEVICES x $MIB MiB, --record (max ${RECORD_MAX_MB:-default} MB)" "$best_on MB/s"
printf '%-44s %10s   (target >= 0.9: %s)\n' "ratio with/without recording" "$ratio" "$ok"
printf '{"devices": %s, "mib": %s, "off_mbps": %s, "on_mbps": %s, "ratio": %s}\n' \
	"$DEVICES" "$MIB" "$best_off" "$best_on" "$ratio" >"$BUILD/bench/capture.json"
