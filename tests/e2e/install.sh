#!/bin/bash
# The Debian package on this machine, as a factory installs it (issue 12):
# builds it (scripts/package.sh), installs it with dpkg, checks the unit
# (systemd-analyze verify, and a security exposure of at most 3.0, offline: systemd
# need not be PID 1), the system user and its group, the man pages and the
# completion; then runs the installed binary as the "edlstation" user with the
# installed config pointed at a test package, on an emulated line, and checks the
# runs landed in the state directory; finally removes the package and checks that
# the results database stayed. Needs root (scripts/test.sh runs it as root);
# exits 77 (skipped) otherwise.
#   tests/e2e/install.sh [BUILD_DIR]
set -u
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "skip: needs root (dpkg -i)"; exit 77; }
BUILD=${1:-build-deb}
WORK=$(mktemp -d /tmp/edl-install.XXXXXX)
chmod 755 "$WORK"
OUT=$WORK/out.txt
DB=/var/lib/edlstation/results.db
fails=0
. tests/e2e/lib.sh
trap 'rm -rf "$WORK"' EXIT

deb=$(scripts/package.sh "$BUILD") || { echo "FAIL: scripts/package.sh"; exit 1; }
echo "package: $deb"
had_db=no
[ -f "$DB" ] && had_db=yes
dpkg -i "$deb" >"$OUT" 2>&1 || { cat "$OUT"; echo "FAIL: dpkg -i"; exit 1; }
check "installed binary runs" sh -c '/usr/bin/edlstation --version | grep -q "^edlstation "'
check "conffile under /etc" test -f /etc/edlstation/station.ini
check "dpkg lists the conffile" sh -c "dpkg-query -W -f='\${Conffiles}' edlstation | grep -q /etc/edlstation/station.ini"
check "system user edlstation exists" id edlstation
check "edlstation is in plugdev" sh -c 'id -nG edlstation | tr " " "\n" | grep -qx plugdev'
check "state and log directories belong to edlstation" \
	sh -c '[ "$(stat -c %U /var/lib/edlstation)" = edlstation ] && [ "$(stat -c %U /var/log/edlstation)" = edlstation ]'
unit=/usr/lib/systemd/system/edlstation.service
check "systemd-analyze verify passes on the installed unit" \
	sh -c "systemd-analyze verify $unit >$WORK/verify.txt 2>&1 || { cat $WORK/verify.txt; false; }"
exposure=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null |
	sed -n 's/.*Overall exposure level for edlstation.service: \([0-9.]*\).*/\1/p')
echo "exposure: $exposure"
check "security exposure at most 3.0 (is ${exposure:-unknown})" \
	awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 3.0) }'
check "udev rule installed with uaccess and plugdev" \
	grep -q 'TAG+="uaccess"' /usr/lib/udev/rules.d/70-edlstation.rules
check "udev-rule prints the installed rule" \
	sh -c '/usr/bin/edlstation udev-rule | cmp -s - /usr/lib/udev/rules.d/70-edlstation.rules'
for page in 1 5; do
	f=/usr/share/man/man$page/edlstation$([ $page = 5 ] && echo .ini).$page.gz
	check "man -l renders $f without warnings" \
		sh -c "MANWIDTH=80 man -l $f 2>$WORK/man.err | grep -q EDL && ! grep -q . $WORK/man.err"
done
check "bash completion completes a fault kind" bash -c '
	. /usr/share/bash-completion/completions/edlstation
	COMP_WORDS=(edlstation emulate --fault 1-1.1:sil); COMP_CWORD=3; _edlstation
	[ "${COMPREPLY[*]}" = "1-1.1:silent" ]'

# The installed binary, as the service's user, on an emulated line.
/usr/bin/edlstation mkpackage "$WORK/pkg" --storage ufs --size 8 >/dev/null
chmod -R a+rX "$WORK/pkg"
sed -e "s|^dir = .*|dir = $WORK/pkg|" /etc/edlstation/station.ini >"$WORK/station.ini"
chmod 644 "$WORK/station.ini"
before=0
[ -f "$DB" ] && before=$(sql "SELECT count(*) FROM run WHERE result = 'pass'")
runuser -u edlstation -- env TMPDIR=/tmp /usr/bin/edlstation emulate --devices 2 --storage ufs \
	-- /usr/bin/edlstation run --config "$WORK/station.ini" --count 2 --log-format text \
	>"$OUT" 2>&1
rc=$?
check "the station as edlstation flashed the line (exit $rc)" test "$rc" = 0
check "the runs are in the state directory's database" \
	test "$(sql "SELECT count(*) FROM run WHERE result = 'pass'")" -ge $((before + 2))
check "the database belongs to edlstation" test "$(stat -c %U "$DB")" = edlstation
check "transcripts in the logs directory" sh -c 'ls /var/log/edlstation/runs/*.log >/dev/null 2>&1'

# Under systemd the events are structured journal entries: journald (started
# here when this machine runs none) keeps the unit's identity as fields.
jd_pid=""
if [ ! -S /run/systemd/journal/socket ] || ! systemd-cat true 2>/dev/null; then
	/lib/systemd/systemd-journald >/dev/null 2>&1 &
	jd_pid=$!
	for _ in $(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
fi
runuser -u edlstation -- env TMPDIR=/tmp /usr/bin/edlstation emulate --devices 1 --storage ufs \
	--serial 5e5e0001 -- /usr/bin/edlstation run --config "$WORK/station.ini" --count 1 \
	--log-format journal >"$OUT" 2>&1
rc=$?
check "the station logging to the journal flashed its unit (exit $rc)" test "$rc" = 0
journalctl --flush >/dev/null 2>&1 || true
journalctl --no-pager -o json EDL_SERIAL=5e5e0001 EDL_EVENT=pass >"$WORK/journal.json" 2>/dev/null
check "the journal has the unit's pass with its slot, run id and result as fields" python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert rows, "no entry with EDL_SERIAL=5e5e0001 EDL_EVENT=pass"
r = rows[-1]
assert r["EDL_RESULT"] == "pass" and r["EDL_RUN_ID"].isdigit() and r["EDL_PORT"], r
assert r["SYSLOG_IDENTIFIER"] == "edlstation", r
' "$WORK/journal.json"
[ -n "$jd_pid" ] && kill "$jd_pid" 2>/dev/null

dpkg -r edlstation >"$OUT" 2>&1 || { cat "$OUT"; fail "dpkg -r"; }
check "dpkg -r removed the binary" test ! -e /usr/bin/edlstation
check "dpkg -r removed the unit" test ! -e "$unit"
check "dpkg -r kept the results database" test -f "$DB"
[ "$had_db" = no ] && rm -rf /var/lib/edlstation /var/log/edlstation
exit $((fails > 0))
