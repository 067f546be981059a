#!/bin/bash
# End-to-end tests of what the operator reads: the real `edlstation run` on an
# emulated line inside a tmux pane of a given size, its live board captured
# (capture-pane) while units pass and fail and again after the station has
# ended, and the line output when stdout is not a terminal.
# usage: board.sh EDLSTATION_BINARY TEST
#   TEST = board SLOTS COLSxROWS (board 8 80x24, board 32 200x50, ...),
#          demo 8 COLSxROWS (scripts/demo.sh on a terminal), no_color, not_tty
# On the board: slots in the port map's order (not the attach order), idle
# slots shown, a PASS slot, a FAIL slot (a NAK on program: set aside for RMA)
# and an OPERATOR slot (a silent unit: power-cycle) with reason and action, the
# sticky failure list, the totals, nothing wider or taller than the pane, no
# board left in the scrollback, and the final summary naming both failed units.
# Exits 77 (skip) without tmux.
set -u
EDL=$1
TEST=$2
SLOTS=${3:-8}
SIZE=${4:-80x24}
COLS=${SIZE%x*}
ROWS=${SIZE#*x}
HERE=$(cd "$(dirname "$0")" && pwd)
command -v tmux >/dev/null || { echo "SKIP: tmux is not installed (apt-get install tmux)"; exit 77; }
W=$(mktemp -d /tmp/edl-board.XXXXXX)
export TMPDIR=$W
SOCK=edl-board-$$
trap 'tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$W"' EXIT
PKG=$W/pkg
DB=$W/results.db
OUT=$W/screen.txt
fails=0

# shellcheck source=lib.sh
. "$HERE/lib.sh"

"$EDL" mkpackage "$PKG" --storage nand --size 8 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }

# The port map: with 8 slots hub 1-2 (B1-B4) is listed before hub 1-1 (A1-A4),
# the reverse of the attach order, and C1 has no unit (idle all along); with 32
# slots A1-A8 ... D1-D8 on hubs 1-1 ... 1-4.
if [ "$SLOTS" -le 8 ]; then
	HUB=4
	ORDER="B1 B2 B3 B4 A1 A2 A3 A4 C1"
	{
		echo "[station]"
		echo "name = board-test"
		echo "[ports]"
		for p in 1 2 3 4; do echo "1-2.$p = B$p"; done
		for p in 1 2 3 4; do echo "1-1.$p = A$p"; done
		echo "1-3.1 = C1"
	} >"$W/station.ini"
else
	HUB=8
	ORDER=""
	{
		echo "[station]"
		echo "name = board-test"
		echo "[ports]"
		h=1
		for row in A B C D; do
			for p in 1 2 3 4 5 6 7 8; do
				echo "1-$h.$p = $row$p"
				ORDER="$ORDER $row$p"
			done
			h=$((h + 1))
		done
	} >"$W/station.ini"
	ORDER=${ORDER# }
fi
# Enough units that the line still runs when both failures are on the board.
UNITS=$((SLOTS <= 8 ? SLOTS * 3 : SLOTS * 2))

# The line: a silent unit on A3 (power-cycle), a NAK on program on B2 (set
# aside for RMA); failed units stay on their port (--fail-hold), so their
# slots keep the failure while the other slots pass.
EMU_EXTRA=()
line_cmd() { # line_cmd RUN_OPTIONS... (EMU_EXTRA: more emulate options)
	local extra=""
	[ ${#EMU_EXTRA[@]} -gt 0 ] && extra=$(printf '%q ' "${EMU_EXTRA[@]}")
	echo "\"$EDL\" emulate $extra--storage nand --devices $SLOTS --hub-ports $HUB --units $UNITS" \
		"--swap-delay 0.2 --fail-hold 60 --write-rate 4 --fault 1-1.3:silent --fault 1-2.2:nak=program --" \
		"\"$EDL\" run --config \"$W/station.ini\" --package \"$PKG\" --db \"$DB\" --count $UNITS" \
		"--retries 0 --reset-delay 0 --cache-dir \"$W/cache\" $*"
}

# Starts the line in a detached tmux pane of COLS x ROWS (env: extra variables).
start_pane() { # start_pane ENV_ASSIGNMENTS...
	{
		echo "cd \"$W\""
		echo "export TMPDIR=\"$W\" $*"
		echo "timeout --foreground -s KILL 150 $(line_cmd) 2>\"$W/stderr\""
		echo "echo \$? >\"$W/rc.tmp\"; mv \"$W/rc.tmp\" \"$W/rc\""
		echo "sleep 120"
	} >"$W/run.sh"
	# Started larger, resized to COLS x ROWS once the board is up: what is
	# checked is drawn after a SIGWINCH.
	tmux -L "$SOCK" -f /dev/null new-session -d -s board -x $((COLS + 20)) -y $((ROWS + 6)) "bash $W/run.sh"
	wait_screen '^ edlstation board-test' || fail "the board did not come up"
	tmux -L "$SOCK" resize-window -t board -x "$COLS" -y "$ROWS"
}

capture() { tmux -L "$SOCK" capture-pane -p -t board "$@"; }

# Captures the pane until every pattern (grep -E) is on it at once: $OUT holds
# that screen, $W/screen-e.txt the same with its attributes (-e).
wait_screen() { # wait_screen PATTERN...
	local p all
	for _ in $(seq 1 240); do
		capture >"$OUT" 2>/dev/null
		all=1
		for p in "$@"; do grep -qE -- "$p" "$OUT" || { all=0; break; }; done
		if [ $all = 1 ]; then
			capture -e >"$W/screen-e.txt"
			return 0
		fi
		[ -f "$W/rc" ] && return 1
		sleep 0.25
	done
	return 1
}

wait_rc() {
	for _ in $(seq 1 240); do
		[ -f "$W/rc" ] && return 0
		sleep 0.25
	done
	return 1
}

# The slot labels in the order the board shows them (first appearance).
shown_order() {
	sed -n '2,/^passed [0-9]/p' "$OUT" | grep -oE '\b[A-D][1-8]\b' | awk '!seen[$0]++' | tr '\n' ' ' |
		sed 's/ $//'
}
fits() { # nothing wider than COLS, no more lines than ROWS
	[ "$(wc -l <"$OUT")" -le "$ROWS" ] && awk -v w="$COLS" 'length($0) > w {bad = 1} END {exit bad}' "$OUT"
}
no_colour_sgr() { ! colour_sgr "$1"; }
has() { grep -qE -- "$1" "$OUT"; }
colour_sgr() { grep -qP '\x1b\[[0-9;]*(?<![0-9])(3[0-7]|4[0-7]|9[0-7]|10[0-7]|38|48)(;[0-9;]*)?m' "$1"; }

case "$TEST" in
board | no_color)
	if [ "$TEST" = no_color ]; then start_pane NO_COLOR=1; else start_pane; fi
	# (A loaded machine may fail one more unit on a timeout: the checks name
	# the two failures made on purpose, not the count.)
	wait_screen '\bPASS\b' '^  A3 +1a2b3c4f +power-cycle' '^  B2 +[0-9a-f]{8} +rma' ||
		fail "the board never showed a PASS and both failures"
	check "the board fits $COLS x $ROWS" fits
	check "slots in the port map's order ($ORDER)" [ "$(shown_order)" = "$ORDER" ]
	check "totals: passed, failed, FPY, good units and units per hour" \
		has '^passed [0-9]+  failed [2-9]  FPY [0-9.]+%  good/h [0-9]+  units/h [0-9]+'
	check "a PASS slot with its serial" has '\b[A-D][1-8] +PASS +[0-9a-f]{8}'
	check "the sticky list: A3, its serial, power-cycle and what to do" \
		has '^  A3 +1a2b3c4f +power-cycle +power-cycle the unit'
	check "the sticky list: B2, set aside for RMA" has '^  B2 +[0-9a-f]{8} +rma +set the unit aside for RMA'
	if grep -qE '^B2 ' "$OUT"; then
		# One or two lines per slot: the reason in words and the action.
		check "B2 is a FAIL row with the reason" has '^B2 +FAIL +[0-9a-f]{8} +program +(program: )?Firehose command refused'
		check "B2 says what to do" has 'do: set the unit aside for RMA'
		check "A3 needs the operator, with the reason" has '^A3 +OPERATOR +1a2b3c4f .*device does not answer'
		check "A3 says what to do" has 'do: power-cycle the unit \(unplug it'
		[ "$SLOTS" -le 8 ] && check "the empty slot C1 is shown idle" has '^C1 +idle +1-3\.1'
	else
		# Tiles: block, serial, class.
		check "B2 is a FAIL tile" has '\bB2 +FAIL +[0-9a-f]{8}'
		check "A3 is an OPERATOR tile" has '\bA3 +OPER +1a2b3c4f'
		check "tiles name the class" has '\brma\b'
		check "all 32 slots are on the screen" [ "$(shown_order | wc -w)" = 32 ]
	fi
	if [ "$TEST" = no_color ]; then
		check "NO_COLOR: no colour attribute on the board" no_colour_sgr "$W/screen-e.txt"
		check "NO_COLOR: the blocks remain" sh -c "grep -qE '^B2 +FAIL ' '$OUT' && grep -qE '^A3 +OPERATOR ' '$OUT'"
	else
		check "colours on the board" colour_sgr "$W/screen-e.txt"
	fi
	wait_rc || fail "the station did not end"
	capture -S - >"$OUT"
	check "the station exits 3 (units failed)" [ "$(cat "$W/rc" 2>/dev/null)" = 3 ]
	check "the summary on the normal screen" has "^summary: $UNITS unit\(s\) finished: [0-9]+ passed, [2-9] failed"
	check "it names the failed units" has '^failed units \([2-9]\):'
	check "B2 with its stage, reason and action" has '^  slot B2  serial [0-9a-f]{8}  stage program  (program: )?Firehose command refused'
	check "A3 with its serial" has '^  slot A3  serial 1a2b3c4f  stage '
	check "the actions" sh -c "grep -q '^    action: set the unit aside for RMA' '$OUT' && grep -q '^    action: power-cycle the unit' '$OUT'"
	check "no board left in the scrollback (alternate screen)" sh -c "! grep -qE '^(last failures|passed [0-9]+  failed)' '$OUT'"
	;;
demo)
	# scripts/demo.sh on a terminal: the board of its 8-port line, then the
	# summary and the report on the normal screen.
	ROOT=$(cd "$HERE/../.." && pwd)
	{
		echo "cd \"$ROOT\""
		echo "EDL_DEMO_BIN=\"$EDL\" EDL_DEMO_DIR=\"$W/demo\" sh scripts/demo.sh"
		echo "echo \$? >\"$W/rc.tmp\"; mv \"$W/rc.tmp\" \"$W/rc\""
		echo "sleep 120"
	} >"$W/run.sh"
	tmux -L "$SOCK" -f /dev/null new-session -d -s board -x "$COLS" -y "$ROWS" "bash $W/run.sh"
	wait_screen '^ edlstation demo-line  package RM502QAEAAR13A03M4G' '\bPASS\b' 'last failures \(1 in all' ||
		fail "the demo never showed its board with a PASS and the unplugged unit"
	check "the demo's board fits $COLS x $ROWS" fits
	check "the demo's slots in the port map's order" [ "$(shown_order)" = "A1 A2 A3 A4 B1 B2 B3 B4" ]
	check "the unplugged unit in the sticky list" has '^  B2 +1a2b3c52 '
	check "colours" colour_sgr "$W/screen-e.txt"
	wait_rc || fail "the demo did not end"
	capture -S - >"$OUT"
	check "the demo ends well" [ "$(cat "$W/rc" 2>/dev/null)" = 0 ]
	check "the summary names the unplugged unit" sh -c "grep -q '^failed units (1):' '$OUT' && grep -qE '^  slot B2  serial 1a2b3c52  stage program  (program: )?device was unplugged' '$OUT'"
	check "then the report" has '^first-pass yield'
	check "no board left in the scrollback" sh -c "! grep -qE '^(last failures|passed [0-9]+  failed)' '$OUT'"
	;;
not_tty)
	# A label carrying a terminal escape never reaches the screen: the config
	# refuses it (the loader's rule); a unit whose USB product string carries a
	# newline and a fake result line is escaped.
	sed "s/^1-1.2 = A2$/1-1.2 = A2$(printf '\033')[31m/" "$W/station.ini" >"$W/escape.ini"
	"$EDL" config check --config "$W/escape.ini" >"$W/escape.txt" 2>&1
	check "a label with a terminal escape is refused (exit 2, line named)" \
		sh -c "[ $? -eq 2 ] && grep -q 'escape.ini:[0-9]*: control character 0x1b' '$W/escape.txt'"
	EMU_EXTRA=(--product-suffix $'\n 9.999 [B1 1-2.1 SN:1a2b3c4d] pass: fake')
	eval "timeout -s KILL 120 $(line_cmd)" >"$W/lines.txt" 2>&1
	rc=$?
	OUT=$W/lines.txt
	check "exit 3" [ "$rc" -eq 3 ]
	check "one line per event, no terminal escape" sh -c "! grep -q \"\$(printf '\033')\" '$OUT'"
	check "a newline from the device cannot fake a line" sh -c "grep -q 'pass: fake' '$OUT' && ! grep -q '^ 9.999' '$OUT'"
	check "pass lines" grep -qE '^ *[0-9.]+ \[B1 1-2.1 SN:[0-9a-f]{8}\] pass: ' "$OUT"
	check "the action of a failure" grep -qE '\[B2 1-2.2 SN:[0-9a-f]{8}\] action: set the unit aside for RMA' "$OUT"
	check "the summary names both failed units" sh -c "grep -qE '^failed units \([2-9]\):' '$OUT' && grep -q '^  slot B2 ' '$OUT' && grep -q '^  slot A3 ' '$OUT'"
	rm -f "$DB"*
	eval "timeout -s KILL 120 $(line_cmd --log-format json)" >"$W/events.json" 2>"$W/stderr"
	check "json: every line an object with an ISO-8601 time; failures with error, class, action, run_id" \
		python3 - "$W/events.json" <<'EOF'
import json, re, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
assert events and all(iso.match(e["time"]) for e in events), "time"
fails = [e for e in events if e["event"] == "fail"]
assert any(e.get("error") == "EDL_E_FH_NAK" and e.get("class") == "rma"
           and e.get("action") == "set the unit aside for RMA" and e.get("run_id", 0) > 0
           for e in fails), fails
summary = events[-1]
assert summary["event"] == "summary" and summary["failed"] >= 2, summary
slots = {f["slot"] for f in summary["failed_units"]}
assert {"A3", "B2"} <= slots, slots
assert all(f["action"] and f["class"] and f["error"] for f in summary["failed_units"])
EOF
	;;
*)
	echo "unknown test $TEST"
	exit 2
	;;
esac
[ "$fails" -eq 0 ] && echo "all checks passed"
exit "$fails"
