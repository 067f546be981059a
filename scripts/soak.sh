#!/bin/bash
# Soak of the station on a long emulated line: `edlstation run` flashes UNITS
# units (default 1000) through the ports of `edlstation emulate --units`, and
# at each checkpoint (units finished, default 100,500,1000) this script reads
# the station's resident memory (VmRSS) and open descriptors (/proc/PID/fd),
# and the emulator's beside them. A station that leaks grows from one
# checkpoint to the next; one that does not stays flat. It prints a table, the
# wall time and a verdict (exit 1 when the station grew by more than 4 MiB or
# 10 % of RSS, or by more than 2 descriptors per port, from the first
# checkpoint to the last). A benchmark, not a test: it runs for minutes.
# usage: scripts/soak.sh [UNITS] [CHECKPOINTS]   (the line runs 2 units per port
#   more than the last checkpoint)
#   EDL=PATH        the edlstation binary (default build/src/cli/edlstation)
#   SOAK_DEVICES=N  ports of the line (default 8)
#   SOAK_KEEP=1     keep the work directory (output, database)
set -u
cd "$(dirname "$0")/.."
EDL=${EDL:-build/src/cli/edlstation}
UNITS=${1:-1000}
AT=${2:-100,500,$UNITS}
DEVICES=${SOAK_DEVICES:-8}
[ -x "$EDL" ] || {
	echo "soak: no edlstation binary at $EDL: build it or set EDL=PATH" >&2
	exit 2
}
W=$(mktemp -d /tmp/edl-soak.XXXXXX)
[ "${SOAK_KEEP:-}" = 1 ] || trap 'rm -rf "$W"' EXIT
export TMPDIR=$W
OUT=$W/out.txt
"$EDL" mkpackage "$W/pkg" --size 8 >/dev/null || exit 1
# A few units more than the last checkpoint, so that it is read mid-line and not
# while the station winds down.
IFS=, read -ra points <<<"$AT"
TOTAL=$((${points[-1]} + 2 * DEVICES))
[ "$TOTAL" -gt "$UNITS" ] || TOTAL=$UNITS

finished() { grep -cE '\] (pass|fail|PASS|FAIL)' "$OUT" 2>/dev/null || true; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

start=$(date +%s%N)
"$EDL" emulate --storage nand --devices "$DEVICES" --units "$TOTAL" --swap-delay 0 -- \
	"$EDL" run --package "$W/pkg" --db "$W/results.db" --cache-dir "$W/cache" \
	--log-format text --reset-delay 0 --count "$TOTAL" >"$OUT" 2>&1 &
EMU=$!
SPID=
for _ in $(seq 100); do
	SPID=$(pgrep -P "$EMU" | head -1)
	[ -n "$SPID" ] && break
	sleep 0.1
done
[ -n "$SPID" ] || {
	echo "soak: the station did not start" >&2
	cat "$OUT" >&2
	exit 1
}

printf '%8s %12s %10s %12s %10s %8s\n' units station_kB station_fd emulate_kB emulate_fd secs
first_rss= first_fd= last_rss= last_fd=
for p in "${points[@]}"; do
	while kill -0 "$SPID" 2>/dev/null && [ "$(finished)" -lt "$p" ]; do
		sleep 0.2
	done
	kill -0 "$SPID" 2>/dev/null || break
	r=$(rss_kb "$SPID") f=$(fds "$SPID")
	printf '%8s %12s %10s %12s %10s %8s\n' "$(finished)" "$r" "$f" "$(rss_kb "$EMU")" "$(fds "$EMU")" \
		$((($(date +%s%N) - start) / 1000000000))
	[ -n "$first_rss" ] || { first_rss=$r first_fd=$f; }
	last_rss=$r last_fd=$f
done
wait "$EMU"
rc=$?
secs=$((($(date +%s%N) - start) / 1000000))
tail -1 "$OUT"
printf 'wall %d.%03d s for %s units on %s ports, station exit %d\n' $((secs / 1000)) $((secs % 1000)) \
	"$TOTAL" "$DEVICES" "$rc"
[ -n "$first_rss" ] && [ -n "$last_rss" ] || {
	echo "soak: the station ended before the checkpoints" >&2
	tail -20 "$OUT" >&2
	exit 1
}
grow=$((last_rss - first_rss))
fgrow=$((last_fd - first_fd))
echo "station growth from the first checkpoint to the last: ${grow} kB RSS, ${fgrow} descriptors"
leaky=0
[ "$grow" -gt 4096 ] && [ "$grow" -gt $((first_rss / 10)) ] && leaky=1
[ "$fgrow" -gt $((2 * DEVICES)) ] && leaky=1
if [ "$rc" -ne 0 ] || [ "$leaky" -eq 1 ]; then
	echo "soak: NOT flat (or the station failed)"
	exit 1
fi
echo "soak: flat"
