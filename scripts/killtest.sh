#!/bin/bash
# The kill test (issue 10): a station killed at random moments mid-line loses
# nothing it showed. N times (default 100) the real `edlstation run` flashes
# units of an emulated line (`edlstation emulate --units`) into one results
# database and is SIGKILLed at a random moment (0.3..3 s after it started,
# i.e. anywhere from start-up through several units); each run's units have
# serials of their own. Then one last run on the same database is stopped
# cleanly (SIGTERM). At the end it checks:
#   - every PASS line the station showed has its pass row (lost = 0);
#   - the runs cut by a kill are marked `interrupted` (none left `running`
#     after the last clean stop);
#   - PRAGMA integrity_check says ok.
# It prints the figures (PASS shown, lost, interrupted marked, rows) and exits
# 0 when all hold, 1 otherwise. Not part of ctest: it runs for minutes.
# usage: scripts/killtest.sh [N]
#   EDL=PATH          the edlstation binary (default build/src/cli/edlstation)
#   KILLTEST_KEEP=1   keep the work directory (database, outputs)
#   KILLTEST_SEED=S   seed of the kill moments (default: random)
set -u
export LC_ALL=C
cd "$(dirname "$0")/.."
N=${1:-100}
EDL=${EDL:-build/src/cli/edlstation}
[ -x "$EDL" ] || {
	echo "killtest: no edlstation binary at $EDL: build it or set EDL=PATH" >&2
	exit 2
}
case "$N" in '' | *[!0-9]*)
	echo "killtest: N must be a number of kills, got '$N'" >&2
	exit 2
	;;
esac
W=$(mktemp -d /tmp/edl-killtest.XXXXXX)
[ "${KILLTEST_KEEP:-}" = 1 ] || trap 'rm -rf "$W"' EXIT
export TMPDIR=$W
DB=$W/results.db
RANDOM=${KILLTEST_SEED:-$$}
"$EDL" mkpackage "$W/pkg" --size 8 >/dev/null || exit 1

# run_line I: a station on 8 ports, its units' serials I*0x10000 on; $EMU, $SPID.
run_line() {
	local i=$1
	"$EDL" emulate --storage nand --devices 8 --units 100000 --swap-delay 0.05 \
		--serial "$(printf '%x' $((0x10000000 + i * 0x10000)))" -- \
		"$EDL" run --package "$W/pkg" --db "$DB" --cache-dir "$W/cache" --log-format text \
		--reset-delay 0 --station "kill-$i" >"$W/out.$i" 2>&1 &
	EMU=$!
	SPID=
	for _ in $(seq 100); do
		SPID=$(pgrep -P "$EMU" | head -1)
		[ -n "$SPID" ] && break
		sleep 0.05
	done
}

start=$SECONDS
for i in $(seq 1 "$N"); do
	run_line "$i"
	# 0.3 .. 3.0 s: start-up, the first units, several units.
	sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.3 + 2.7 * r / 32767 }')"
	if [ -n "$SPID" ]; then kill -KILL "$SPID" 2>/dev/null; fi
	wait "$EMU" 2>/dev/null
	printf '\rkilltest: %d/%d killed' "$i" "$N"
done
echo
# The last run: a clean stop once it is up and working.
run_line $((N + 1))
sleep 2
kill -TERM "$EMU"
wait "$EMU"
last_rc=$?

shown=0 lost=0
for f in "$W"/out.*; do
	while read -r s; do
		shown=$((shown + 1))
		[ "$(sqlite3 "$DB" "select count(*) from run where serial='$s' and result='pass'")" -ge 1 ] ||
			{
				lost=$((lost + 1))
				echo "killtest: LOST: $s shown PASS in $(basename "$f") has no pass row"
			}
	done < <(grep -aiE '\] pass: ' "$f" | sed -n 's/.*SN:\([0-9a-f]*\)\] [pP][aA][sS][sS]: .*/\1/p')
done
q() { sqlite3 "$DB" "$1"; }
interrupted=$(q "select count(*) from run where result='interrupted'")
running=$(q "select count(*) from run where result='running'")
integrity=$(q "pragma integrity_check")
rows=$(q "select count(*) from run")
passes=$(q "select count(*) from run where result='pass'")
echo "killtest: $N kills in $((SECONDS - start)) s; last run stopped by SIGTERM, exit $last_rc"
echo "killtest: PASS shown $shown, lost $lost, interrupted marked $interrupted, left running $running," \
	"rows $rows ($passes pass), integrity_check $integrity"
ok=1
[ "$lost" -eq 0 ] || ok=0
[ "$running" -eq 0 ] || {
	echo "killtest: $running run(s) still 'running' after the last clean stop"
	ok=0
}
[ "$integrity" = ok ] || ok=0
[ "$shown" -gt 0 ] || {
	echo "killtest: no unit was ever shown PASS: the kills came too early to test anything"
	ok=0
}
case "$last_rc" in 0 | 3) ;; *)
	echo "killtest: the last, clean run exited $last_rc"
	ok=0
	;;
esac
[ "$ok" -eq 1 ] && echo "killtest: ok" && exit 0
echo "killtest: FAILED"
exit 1
