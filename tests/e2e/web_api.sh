#!/bin/bash
# End-to-end test of the station's web server (issue 13) during an emulated
# line of 4 slots and 10 units: web_check.py checks every endpoint's JSON
# against the documented keys (web_api_schema.json, named in the README), cuts
# and resumes the event stream (every seq exactly once), tries control
# without / with a wrong / with the right token, pauses (no new unit) and
# resumes, aborts a slot (its run failed with the reason in the database),
# sends bad requests and more connections than [web] max_clients while the
# line flashes on, and compares /metrics (prometheus_client's parser) with
# the database, and drops an event client that never reads. Then a station
# without a token: control answers 403; and a listen address in use.
# usage: web_api.sh EDLSTATION_BINARY SOURCE_DIR
set -u
EDL=$1
SRC=$2
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/edl-e2e.XXXXXX)
export TMPDIR=$W
EMU=
trap '[ -n "$EMU" ] && kill -KILL "$EMU" 2>/dev/null; [ -s "$W/pid" ] && kill -KILL "$(cat "$W/pid")" 2>/dev/null; rm -rf "$W"' EXIT
DB=$W/results.db
OUT=$W/out.txt
fails=0

# shellcheck source=lib.sh
. "$HERE/lib.sh"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$EDL" mkpackage "$W/pkg" --size 8 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }
PORT=$(free_port)
TOKEN=web-test-token-$$
cat >"$W/web.ini" <<INI
[ports]
1-1.1 = A1
1-1.2 = A2
1-1.3 = A3
1-1.4 = A4
[line]
stop_after = 0
stop_slots = 0
[web]
listen = 127.0.0.1:$PORT
token = $TOKEN
max_clients = 8
sse_buffer_kb = 32
static_dir = $SRC/web
INI

timeout -s KILL 150 "$EDL" emulate --devices 4 --units 10 --write-rate 4 --swap-delay 0.2 \
	--fail-hold 2 -- sh -c 'echo $$ >"$0"; exec "$@"' "$W/pid" \
	"$EDL" run --config "$W/web.ini" --package "$W/pkg" --db "$DB" --cache-dir "$W/cache" \
	--log-format text --reset-delay 0 --retries 0 >"$OUT" 2>&1 &
EMU=$!
for ((i = 0; i < 100; i++)); do [ -s "$W/pid" ] && break; sleep 0.1; done

timeout -s KILL 120 /usr/bin/python3 "$HERE/web_check.py" --port "$PORT" --token "$TOKEN" \
	--db "$DB" --edl "$EDL" --schema "$HERE/web_api_schema.json" --readme "$SRC/README.md" \
	--units 10 --max-clients 8 --pidfile "$W/pid" || fail "web_check.py"
wait "$EMU"
rc=$?
EMU=
check "the station exits 3 after SIGTERM (the aborted unit failed)" [ "$rc" -eq 3 ]
check "10 runs recorded, 9 passed, 1 failed" \
	[ "$(sql "select count(*), sum(result = 'pass'), sum(result = 'fail') from run")" = "10|9|1" ]

# A station without a token: the API is read-only.
rm -f "$W/pid"
PORT=$(free_port)
printf '[web]\nlisten = [::1]:%s\n' "$PORT" >"$W/ro.ini"
OUT=$W/ro.txt
timeout -s KILL 60 "$EDL" emulate --devices 1 --write-rate 2 -- sh -c 'echo $$ >"$0"; exec "$@"' "$W/pid" \
	"$EDL" run --config "$W/ro.ini" --package "$W/pkg" --db "$W/ro.db" --cache-dir "$W/cache" \
	--log-format text --reset-delay 0 --count 1 >"$OUT" 2>&1 &
EMU=$!
# POST without a token, once the server answers (Python: no curl needed).
ans=$(/usr/bin/python3 - "$PORT" <<'PY'
import http.client, sys, time
for _ in range(100):
    try:
        c = http.client.HTTPConnection("::1", int(sys.argv[1]), timeout=5)
        c.request("POST", "/api/v1/line/pause")
        r = c.getresponse()
        print(r.read().decode().strip(), r.status)
        break
    except OSError:
        time.sleep(0.1)
PY
)
check "without a token control answers 403 saying how to enable it (IPv6 listen)" \
	sh -c "echo '$ans' | grep -q 'set \[web\] token.* 403\$'"
wait "$EMU"
rc=$?
EMU=
check "and the station flashed its unit" [ "$rc" -eq 0 ]

# A listen address in use: the station refuses to start, naming it.
PORT=$(free_port)
/usr/bin/python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(20)' "$PORT" &
HOLD=$!
sleep 0.3
printf '[web]\nlisten = 127.0.0.1:%s\n' "$PORT" >"$W/busy.ini"
OUT=$W/busy.txt
timeout -s KILL 30 "$EDL" emulate --devices 1 -- "$EDL" run --config "$W/busy.ini" \
	--package "$W/pkg" --db "$W/busy.db" --cache-dir "$W/cache" --log-format text >"$OUT" 2>&1
rc=$?
kill "$HOLD" 2>/dev/null
check "a listen address in use: the station does not start (exit 2)" [ "$rc" -eq 2 ]
check "and says which address and what to do" grep -q "\[web\] listen 127.0.0.1:$PORT: cannot listen: address already in use" "$OUT"
exit $((fails > 0))
