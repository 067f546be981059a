#!/bin/bash
# End-to-end test of the web board, report and unit pages (issue 13): the real
# station on an emulated line with [web] listen on a free loopback port and
# static_dir the source web/, driven in Debian's chromium (headless, 1920x1080)
# by web_board.py (python3-selenium): tiles turn PASS and FAIL within 1 s of
# the station's event, the failed tile gives reason and action, the report's
# Pareto has a bar per entry, the unit page lists the runs, the page reconnects
# to a restarted station. MODE slots32: 32 slots on one 1080p screen, every
# tile whole and legible. Screenshots in ARTIFACT_DIR.
# usage: web_board.sh EDLSTATION_BINARY SOURCE_DIR ARTIFACT_DIR [line|slots32]
# Exits 77 (skip) when chromium, chromedriver or python3-selenium is absent.
set -u
EDL=$1
SRC=$2
ART=$3
MODE=${4:-line}
HERE=$(cd "$(dirname "$0")" && pwd)
command -v chromium >/dev/null || { echo "SKIP: chromium is not installed (apt-get install chromium)"; exit 77; }
[ -x /usr/bin/chromedriver ] || { echo "SKIP: chromedriver is not installed (apt-get install chromium-driver)"; exit 77; }
/usr/bin/python3 -c 'import selenium' 2>/dev/null ||
	{ echo "SKIP: python3-selenium is not installed (apt-get install python3-selenium)"; exit 77; }
W=$(mktemp -d /tmp/edl-web.XXXXXX)
export TMPDIR=$W
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
mkdir -p "$ART"
timeout -s KILL 120 /usr/bin/python3 "$HERE/web_board.py" "$EDL" "$W" "$SRC/web" "$ART" "$MODE"
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
	for f in "$W"/*.log; do
		[ -f "$f" ] || continue
		echo "---- $(basename "$f") (last 30 lines)"
		tail -30 "$f"
	done
fi
exit $rc
