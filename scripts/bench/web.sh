#!/bin/sh
# Web benchmark (issue 13): an 8-unit emulated flash with the web server on,
# once with 20 clients each streaming /api/v1/events and polling
# /api/v1/state at 10 requests/s (scripts/bench/web_load.py), once without
# clients, alternating, ROUNDS times, best of each kept. Figures: flashing
# throughput with/without clients (bytes the runs wrote / (last run end -
# first run start), from the database; target ratio >= 0.97), p99 API latency
# (target < 50 ms) and the board update delay, an event's "time" to its
# receipt by a client (target < 1 s), both over the best-throughput loaded round;
# and, for reference, the API latency under the same load with the line idle.
# The units' storage takes WRITE_RATE MB/s (default 20, a program's final ACK
# waits for it), like real units: unthrottled, the emulated devices are
# infinitely fast and the station's loop does nothing but USB for seconds;
# `--rate` would sleep inside the station's own ioctls (umockdev runs them in
# its process), stalling the loop for reasons no real line has.
# usage: scripts/bench/web.sh [DEVICES] [MIB] [ROUNDS] [CLIENTS]   (default 8 128 3 20)
set -eu
cd "$(dirname "$0")/../.."
[ "${1:-}" = web ] && shift
DEVICES=${1:-8}
MIB=${2:-128}
WRITE_RATE=${WRITE_RATE:-20}
ROUNDS=${3:-3}
CLIENTS=${4:-20}
BUILD=${EDL_BENCH_BUILD:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2 --target edlstation >/dev/null
case "$BUILD" in
/*) EDL=$BUILD/src/cli/edlstation ;;
*) EDL=$PWD/$BUILD/src/cli/edlstation ;;
esac
PY=/usr/bin/python3
W=$(mktemp -d /tmp/edl-bench-web.XXXXXX)
trap 'rm -rf "$W"' EXIT
export TMPDIR=$W
mkdir -p "$BUILD/bench"
"$EDL" mkpackage "$W/pkg" --storage nand --size "$MIB" >/dev/null
"$EDL" package check "$W/pkg" --cache-dir "$W/cache" >/dev/null

mbps() { # mbps DB: MB/s over all passed runs of the database
	sqlite3 -batch -noheader "$1" \
		"select round(sum(bytes_written) / 1e6 / ((max(end_ms) - min(start_ms)) / 1000.0), 2) from run where result = 'pass'"
}

once() { # once off|on ROUND: one line of DEVICES units; prints MB/s
	db=$W/$1-$2.db
	port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	printf '[web]\nlisten = 127.0.0.1:%s\nstatic_dir = %s/web\n' "$port" "$PWD" >"$W/web.ini"
	if [ "$1" = on ]; then
		$PY scripts/bench/web_load.py --port "$port" --clients "$CLIENTS" --rate 10 \
			>"$W/load-$2.json" &
		load=$!
	fi
	timeout -s KILL 600 "$EDL" emulate --storage nand --devices "$DEVICES" --write-rate "$WRITE_RATE" -- \
		"$EDL" run --config "$W/web.ini" --package "$W/pkg" --db "$db" --cache-dir "$W/cache" \
		--log-format text --reset-delay 0 --count "$DEVICES" >"$W/out-$1-$2.txt" 2>&1 ||
		{ echo "bench: run $1 $2 failed:" >&2; tail -5 "$W/out-$1-$2.txt" >&2; exit 1; }
	[ "$1" = on ] && wait "$load"
	mbps "$db"
}

# The same load on the station with its line idle (no unit): the server's own
# latency, without the loop stalls of the emulated USB (umockdev answers every
# usbfs ioctl over a socket, synchronously, on the station's loop thread).
idle() {
	port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	printf '[web]\nlisten = 127.0.0.1:%s\nstatic_dir = %s/web\n' "$port" "$PWD" >"$W/idle.ini"
	timeout -s KILL 60 "$EDL" emulate --devices 1 --empty 1-1.1 -- sh -c 'echo $$ >"$0"; exec "$@"' \
		"$W/idle.pid" "$EDL" run --config "$W/idle.ini" --package "$W/pkg" --db "$W/idle.db" \
		--cache-dir "$W/cache" --log-format text >"$W/idle.txt" 2>&1 &
	$PY scripts/bench/web_load.py --port "$port" --clients "$CLIENTS" --rate 10 --seconds 10 \
		>"$W/load-idle.json"
	kill -TERM "$(cat "$W/idle.pid")"
	wait
}
idle

best_off=0
best_on=0
best_round=0
for r in $(seq "$ROUNDS"); do
	off=$(once off "$r")
	on=$(once on "$r")
	echo "round $r: without clients $off MB/s, with $CLIENTS clients $on MB/s; $(cat "$W/load-$r.json")"
	best_off=$($PY -c "print(max($best_off, $off))")
	if $PY -c "import sys; sys.exit(0 if $on > $best_on else 1)"; then
		best_on=$on
		best_round=$r
	fi
done
load=$W/load-$best_round.json
ratio=$($PY -c "print(round($best_on / $best_off, 3))")
p99=$($PY -c "import json; print(json.load(open('$load'))['latency_ms']['p99'])")
dly=$($PY -c "import json; print(json.load(open('$load'))['delay_ms']['p99'])")
dmax=$($PY -c "import json; print(json.load(open('$load'))['delay_ms']['max'])")
req=$($PY -c "import json; d=json.load(open('$load')); print(d['requests'], 'requests,', d['errors'], 'errors')")
printf '%-48s %10s\n' "station, $DEVICES x $MIB MiB NAND at $WRITE_RATE MB/s, no clients" "$best_off MB/s"
printf '%-48s %10s   (%s)\n' "station, $CLIENTS clients (events + 10 req/s each)" "$best_on MB/s" "$req"
printf '%-48s %10s   (target >= 0.97: %s)\n' "ratio with/without clients" "$ratio" \
	"$($PY -c "print('yes' if $ratio >= 0.97 else 'NO')")"
printf '%-48s %10s   (target < 50 ms: %s)\n' "p99 API latency (GET /api/v1/state)" "$p99 ms" \
	"$($PY -c "print('yes' if $p99 < 50 else 'NO')")"
ip99=$($PY -c "import json; d=json.load(open('$W/load-idle.json')); print(d['latency_ms']['p99'], 'ms (p50', d['latency_ms']['p50'], 'ms,', d['requests'], 'requests)')")
printf '%-48s %s\n' "p99 API latency, line idle, same load" "$ip99"
printf '%-48s %10s   (max %s ms; target < 1000 ms: %s)\n' "p99 board update delay (event -> client)" \
	"$dly ms" "$dmax" "$($PY -c "print('yes' if $dly < 1000 else 'NO')")"
printf '{"devices": %s, "mib": %s, "clients": %s, "off_mbps": %s, "on_mbps": %s, "ratio": %s, "load": %s, "idle_load": %s}\n' \
	"$DEVICES" "$MIB" "$CLIENTS" "$best_off" "$best_on" "$ratio" "$(cat "$load")" "$(cat "$W/load-idle.json")" >"$BUILD/bench/web.json"
