#!/bin/bash
# End-to-end tests of the factory sync (issue 14): the real station on an
# emulated line ships its runs into a real PostgreSQL server (tests/e2e/pglib.sh)
# and the outcome is checked on rows: after every case the runs, steps, failure
# logs, devices and stations in PostgreSQL equal the union of the stations'
# SQLite stores, column for column (a canonical dump of each side, sqlite3 vs
# psql), with no duplicates; `edlstation sync status` says in sync.
# usage: factory_sync.sh EDLSTATION_BINARY CASE
#   rows          a line of units with one failure; the dump equals SQLite's;
#                 a second push changes nothing; the password is never printed
#   server_down   the server is stopped for a whole line of units: flashing
#                 passes, the backlog is shown, it drains once the server is back
#   pg_killed     PostgreSQL SIGKILLed while a batch is in its transaction, restarted
#   two_stations  two stations (two lines, two SQLite stores) sync at once into one
#                 empty server (both migrate it at the same moment)
#   sigkill       the station SIGKILLed while a batch is in its transaction,
#                 restarted: nothing missing, nothing twice
#   server_hangs  the server stops answering (SIGSTOP) mid-line: the batch is cut
#                 after timeout_s, flashing goes on, it drains once the server answers
#   hang_at_stop  the server hangs while the station stops: the exit is bounded
# Exit 77 (SKIP) without PostgreSQL's server binaries.
set -u
EDL=$1
TEST=$2
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/edl-factory.XXXXXX)
export TMPDIR=$W
trap 'rm -rf "$W"' EXIT
PKG=$W/pkg
OUT=$W/out.txt
DB=$W/a.db
PASSWORD=s3cret-Pw
fails=0

# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=pglib.sh
. "$HERE/pglib.sh"

pg_start >/dev/null
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: cannot start PostgreSQL"; exit 1; }
# Trust authentication ignores the password: it is there to be masked.
URI="postgresql://$PG_USER:$PASSWORD@127.0.0.1:$PG_PORT/$PG_DBNAME"
"$EDL" mkpackage "$PKG" --storage nand --size 16 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }

# config NAME DB: a station config syncing to the test server.
config() {
	cat >"$W/$1.ini" <<EOF
[station]
name = $1
[results]
database = $2
[line]
stop_after = 0
stop_slots = 0
[factory]
database = $URI
line = L7
batch = 3
retry_max_s = 1
timeout_s = ${TIMEOUT_S:-20}
EOF
}

# line NAME DB SERIAL EMULATE-ARGS... -- RUN-ARGS...: a station on an emulated
# line in the background; sets LINE_PID (the timeout wrapper's).
line() {
	local name=$1 db=$2 serial=$3
	shift 3
	local emu=() run=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do emu+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	run=("$@")
	config "$name" "$db"
	timeout -s KILL 120 "$EDL" emulate --storage nand --serial "$serial" "${emu[@]}" -- \
		"$EDL" run --config "$W/$name.ini" --package "$PKG" --cache-dir "$W/cache" \
		--log-format text --reset-delay 0 "${run[@]}" >"$W/$name.out" 2>&1 &
	LINE_PID=$!
}

# The station process under a line's wrapper (timeout -> emulate -> edlstation run).
station_pid() {
	local p=$1 kids k
	for _ in 1 2 3 4; do
		kids=$(ps -o pid= --ppid "$p" 2>/dev/null)
		for k in $kids; do
			if ps -o args= -p "$k" | grep -q "edlstation run --config"; then
				echo "$k"
				return 0
			fi
		done
		p=$(echo "$kids" | head -1)
		[ -n "$p" ] || return 1
	done
	return 1
}

wait_for() { # wait_for SECONDS COMMAND...: poll until COMMAND succeeds
	local deadline=$((SECONDS + $1))
	shift
	while [ $SECONDS -lt "$deadline" ]; do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

sqlv() { sqlite3 -batch -noheader "$1" "$2"; }
finished_runs() { sqlv "$1" "select count(*) from run where commit_seq is not null" 2>/dev/null || echo 0; }
has_runs() { [ "$(finished_runs "$1")" -ge "$2" ] 2>/dev/null; }
in_sync() { "$EDL" sync status --config "$W/$1.ini" >/dev/null 2>&1; }
sync_waiting_on_lock() {
	[ "$(pg_psql "select count(*) from pg_stat_activity where application_name = 'edlstation-sync' and wait_event_type = 'Lock'")" -ge 1 ]
}

# Holds a lock on the server's run table (a transaction of another client),
# taken before the line starts: the sync's first batch then waits inside its
# transaction, provably mid-sync. The schema is made first by a push of an
# empty results database.
lock_runs() {
	"$EDL" run --dry-run --package "$PKG" --db "$W/empty.db" --cache-dir "$W/cache" >/dev/null 2>&1 &&
		"$EDL" sync push --db "$W/empty.db" --database "$URI" >/dev/null 2>&1 ||
		{ fail "migrate the empty server"; return 1; }
	PGAPPNAME=edl-test-locker psql -X -q "$PG_URI" \
		-c "begin; lock table run in share mode; select pg_sleep(100); commit" >/dev/null 2>&1 &
	LOCKER=$!
	wait_for 10 sh -c "[ \"\$(psql -X -At '$PG_URI' -c \"select count(*) from pg_locks l join pg_stat_activity a using (pid) where a.application_name = 'edl-test-locker' and l.relation = 'run'::regclass and l.granted\")\" -ge 1 ]"
}
unlock_runs() {
	pg_psql "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'edl-test-locker'" >/dev/null 2>&1
	wait "$LOCKER" 2>/dev/null
}

# The canonical dumps: the same columns, in the same order, from each side.
SQ_RUN="select s.name, r.id, r.commit_seq, r.serial, r.slot, r.slot_label, r.port,
 p.manifest_hash, r.attempt, r.retry_of, r.kind, r.product, r.lot, r.work_order, r.operator,
 r.start_ms, r.end_ms, r.result, r.stage, r.error, r.error_class, r.message, r.bytes_written,
 r.bytes_total, r.duration_ms,
 case when r.avg_mbps is null then null else printf('%.6f', r.avg_mbps) end, r.payload,
 r.functions, r.warnings
 from run r join station s on s.id = r.station_id left join package p on p.id = r.package_id
 where r.commit_seq is not null"
PG_RUN="select s.name, r.local_id, r.commit_seq, r.serial, r.slot, r.slot_label, r.port,
 r.package_hash, r.attempt, r.retry_of, r.kind, r.product, r.lot, r.work_order, r.operator,
 r.start_ms, r.end_ms, r.result, r.stage, r.error, r.error_class, r.message, r.bytes_written,
 r.bytes_total, r.duration_ms, round(r.avg_mbps::numeric, 6), r.payload, r.functions, r.warnings
 from run r join station s on s.id = r.station_id order by 1, 2"
SQ_STEP="select s.name, t.run_id, t.idx, t.kind, t.label, t.lun, t.start_sector, t.sectors,
 t.bytes, t.duration_ms, t.result from run r join station s on s.id = r.station_id
 join run_step t on t.run_id = r.id where r.commit_seq is not null"
PG_STEP="select s.name, t.local_id, t.idx, t.kind, t.label, t.lun, t.start_sector, t.sectors,
 t.bytes, t.duration_ms, t.result from run_step t join station s on s.id = t.station_id
 order by 1, 2, 3"
SQ_LOG="select s.name, l.run_id, l.seq, l.text from run r join station s on s.id = r.station_id
 join run_log l on l.run_id = r.id where r.commit_seq is not null"
PG_LOG="select s.name, l.local_id, l.seq, l.text from run_log l join station s on s.id = l.station_id
 order by 1, 2, 3"
SQ_DEV="select serial, usb_serial, hw_id, msm_id, oem_id, model_id, pk_hash from device
 where serial in (select serial from run where commit_seq is not null)"
PG_DEV="select serial, usb_serial, hw_id, msm_id, oem_id, model_id, pk_hash from device order by 1"
SQ_STATION="select name, host from station where id in (select station_id from run where commit_seq is not null)"
PG_STATION="select name, host from station order by 1"

# dump_equal DB...: PostgreSQL holds exactly the union of these stores' runs.
dump_equal() {
	local ok=0 what sq pg db
	for what in RUN STEP LOG DEV STATION; do
		sq=SQ_$what
		pg=PG_$what
		: >"$W/sqlite.$what"
		for db in "$@"; do
			sqlv "$db" "${!sq}" >>"$W/sqlite.$what"
		done
		LC_ALL=C sort -o "$W/sqlite.$what" "$W/sqlite.$what"
		[ "$what" = DEV ] || [ "$what" = STATION ] && LC_ALL=C sort -u -o "$W/sqlite.$what" "$W/sqlite.$what"
		pg_psql "${!pg}" | LC_ALL=C sort >"$W/pg.$what"
		if ! cmp -s "$W/sqlite.$what" "$W/pg.$what"; then
			echo "  $what differs (< sqlite, > postgresql):"
			diff "$W/sqlite.$what" "$W/pg.$what" | head -10
			ok=1
		fi
	done
	[ -s "$W/sqlite.RUN" ] || { echo "  no runs at all"; ok=1; }
	return $ok
}
no_duplicates() {
	[ "$(pg_psql "select count(*) - count(distinct (station_id, local_id)) from run")" = 0 ] &&
		[ "$(pg_psql "select count(*) - count(distinct (station_id, commit_seq)) from run")" = 0 ]
}
no_password() { ! grep -q "$PASSWORD" "$@"; }

case "$TEST" in
rows)
	# 6 units; the one on port 2 refuses a program once: a failed run with its
	# device log, then its retry (retry_of) passes.
	line a "$DB" 1a000001 --devices 6 --fault 2:nak=program -- --count 6
	wait "$LINE_PID"
	rc=$?
	OUT=$W/a.out
	check "station exit 0 (the retry passed)" [ "$rc" -eq 0 ]
	check "7 runs committed in SQLite, one failed" [ "$(sqlv "$DB" "select count(*), sum(result = 'fail'), count(retry_of) from run where commit_seq is not null")" = "7|1|1" ]
	"$EDL" sync status --config "$W/a.ini" >"$W/status.txt" 2>&1
	check "sync status: in sync (exit 0)" [ $? -eq 0 ]
	check "sync status: nothing waiting" grep -q "runs waiting      0" "$W/status.txt"
	check "a failure log line was shipped" [ "$(pg_psql 'select count(*) from run_log')" -ge 1 ]
	check "PostgreSQL equals SQLite, row for row" dump_equal "$DB"
	check "the line is recorded with the station" [ "$(pg_psql "select line from station where name = 'a'")" = L7 ]
	check "the schema version is recorded" [ "$(pg_psql 'select max(version) from edl_schema')" -ge 1 ]
	before=$(pg_psql "select count(*), sum(commit_seq) from run")
	# A resend (the cursor moved back by hand, as after a lost answer) is an upsert.
	sqlite3 "$DB" "update sync_state set last_seq = 0"
	"$EDL" sync push --config "$W/a.ini" >"$W/push.txt" 2>&1
	check "sync push again: exit 0" [ $? -eq 0 ]
	check "the resend shipped the 7 runs again" grep -q "shipped 7 run" "$W/push.txt"
	check "the resend changed nothing" [ "$(pg_psql "select count(*), sum(commit_seq) from run")" = "$before" ]
	check "no duplicates" no_duplicates
	"$EDL" sync status --db "$DB" --database "$URI" --format json >"$W/status.json"
	check "status --format json parses and says in sync" /usr/bin/python3 -c "import json,sys; d=json.load(open('$W/status.json')); sys.exit(0 if d['in_sync'] and d['waiting']==0 and d['last_seq']==7 else 1)"
	check "the password is never printed" no_password "$W/a.out" "$W/status.txt" "$W/push.txt" "$W/status.json"
	check "the cursor's target has no password" [ "$(sqlite3 "$DB" "select count(*) from sync_state where target like '%$PASSWORD%'")" = 0 ]
	# A bad connection string is a config error naming the key, password masked.
	printf '[factory]\ndatabase = host=127.0.0.1 password=%s junk\n' "$PASSWORD" >"$W/bad.ini"
	"$EDL" config check --config "$W/bad.ini" >"$W/bad.txt" 2>&1
	check "config check refuses a bad conninfo" grep -q "bad.ini:2: \[factory\] database" "$W/bad.txt"
	check "... without printing its password" no_password "$W/bad.txt"
	;;
server_down)
	# The server is away for a whole line of units (8 through 4 ports).
	pg_stop
	line a "$DB" 1b000001 --devices 4 --units 8 --swap-delay 0.05
	OUT=$W/a.out
	check "flashing goes on: 8 runs committed with the server down" wait_for 60 has_runs "$DB" 8
	check "all 8 passed" [ "$(sqlv "$DB" "select count(*) from run where result = 'pass'")" = 8 ]
	check "the station says the sync failed" wait_for 10 grep -q "sync-failed: factory database" "$W/a.out"
	check "... once (rate-limited), not at every retry" [ "$(grep -c "sync-failed" "$W/a.out")" = 1 ]
	"$EDL" sync status --config "$W/a.ini" >"$W/status.txt" 2>&1
	check "sync status: behind (exit 1)" [ $? -eq 1 ]
	check "sync status: 8 runs waiting" grep -q "runs waiting      8" "$W/status.txt"
	check "sync status: the last error is shown" grep -q "last error .*connect" "$W/status.txt"
	pg_restart || fail "restart PostgreSQL"
	check "the backlog drains once the server is back" wait_for 30 in_sync a
	check "the station says the sync recovered" wait_for 10 grep -q "sync-ok: factory database .* reachable again" "$W/a.out"
	pid=$(station_pid "$LINE_PID")
	[ -n "$pid" ] && kill -INT "$pid"
	wait "$LINE_PID"
	check "the station exits 0 on SIGINT" [ $? -eq 0 ]
	check "PostgreSQL equals SQLite, row for row" dump_equal "$DB"
	check "no duplicates" no_duplicates
	check "the password is never printed" no_password "$W/a.out" "$W/status.txt"
	;;
pg_killed)
	lock_runs || fail "lock the run table"
	line a "$DB" 1c000001 --devices 4 --units 6 --swap-delay 0.05
	OUT=$W/a.out
	check "a batch is waiting inside its transaction" wait_for 60 sync_waiting_on_lock
	pg_kill
	check "flashing goes on: 6 runs committed" wait_for 60 has_runs "$DB" 6
	pg_restart || fail "restart PostgreSQL"
	check "the backlog drains after the restart" wait_for 30 in_sync a
	pid=$(station_pid "$LINE_PID")
	[ -n "$pid" ] && kill -INT "$pid"
	wait "$LINE_PID"
	check "the station exits 0 on SIGINT" [ $? -eq 0 ]
	check "PostgreSQL equals SQLite, row for row" dump_equal "$DB"
	check "no duplicates" no_duplicates
	;;
two_stations)
	# Both start at the same moment on an empty server: both migrate it.
	line a "$W/a.db" 2a000001 --devices 3 --units 6 --swap-delay 0.05 -- --count 6
	pa=$LINE_PID
	line b "$W/b.db" 2b000001 --devices 3 --units 6 --swap-delay 0.05 -- --count 6
	pb=$LINE_PID
	wait "$pa"
	ra=$?
	wait "$pb"
	rb=$?
	OUT=$W/a.out
	check "station a: exit 0" [ "$ra" -eq 0 ]
	OUT=$W/b.out
	check "station b: exit 0" [ "$rb" -eq 0 ]
	check "station a in sync when it exits" in_sync a
	check "station b in sync when it exits" in_sync b
	check "the schema was migrated once" [ "$(pg_psql 'select count(*) from edl_schema where version = 1')" = 1 ]
	check "two stations on the server" [ "$(pg_psql 'select count(*) from station')" = 2 ]
	check "12 runs on the server" [ "$(pg_psql 'select count(*) from run')" = 12 ]
	check "PostgreSQL equals the union of both stores, row for row" dump_equal "$W/a.db" "$W/b.db"
	check "no duplicates" no_duplicates
	;;
sigkill)
	lock_runs || fail "lock the run table"
	line a "$DB" 3a000001 --devices 4 --units 6 --swap-delay 0.05
	OUT=$W/a.out
	check "a batch is waiting inside its transaction" wait_for 60 sync_waiting_on_lock
	pid=$(station_pid "$LINE_PID")
	check "found the station's process" [ -n "$pid" ]
	[ -n "$pid" ] && kill -KILL "$pid"
	{ wait "$LINE_PID"; } 2>/dev/null
	unlock_runs
	check "the killed batch is not on the server" [ "$(pg_psql 'select count(*) from run')" = 0 ]
	# The restart: one more unit; the worker ships the backlog and it.
	line a "$DB" 3a100001 --devices 1 -- --count 1
	wait "$LINE_PID"
	check "restarted station: exit 0" [ $? -eq 0 ]
	check "in sync when the restarted station exits" in_sync a
	check "PostgreSQL equals SQLite, row for row (nothing missing)" dump_equal "$DB"
	check "no duplicates" no_duplicates
	;;
server_hangs)
	# The server stops answering (SIGSTOP) while the line runs: libpq would wait
	# forever; the watchdog cuts the batch after timeout_s + 2 s, flashing goes on.
	TIMEOUT_S=1
	line a "$DB" 4a000001 --devices 4 --units 8 --swap-delay 0.05
	OUT=$W/a.out
	check "the worker connected" wait_for 30 sh -c "[ \"\$(psql -X -At '$PG_URI' -c \"select count(*) from pg_stat_activity where application_name = 'edlstation-sync'\")\" -ge 1 ]"
	pg_freeze
	check "flashing goes on: 8 runs committed" wait_for 60 has_runs "$DB" 8
	check "the hung batch is cut and said so" wait_for 20 grep -q "sync-failed: .*no answer within 3 s: connection cut" "$W/a.out"
	start=$SECONDS
	timeout -s KILL 60 "$EDL" sync push --config "$W/a.ini" >"$W/push.txt" 2>&1
	rc=$?
	check "sync push to the hung server: exit 1, the cut said (${rc})" [ "$rc" -eq 1 ] && grep -q "no answer within 3 s" "$W/push.txt"
	check "... after the timeout, not forever ($((SECONDS - start)) s)" [ $((SECONDS - start)) -lt 20 ]
	pg_thaw
	check "the backlog drains once the server answers" wait_for 30 in_sync a
	pid=$(station_pid "$LINE_PID")
	[ -n "$pid" ] && kill -INT "$pid"
	wait "$LINE_PID"
	check "the station exits 0 on SIGINT" [ $? -eq 0 ]
	check "PostgreSQL equals SQLite, row for row" dump_equal "$DB"
	check "no duplicates" no_duplicates
	;;
hang_at_stop)
	# The server hangs while the station stops with runs to ship: the stop is
	# bounded (about 1.5 s), not timeout_s = 20 and not forever.
	line a "$DB" 5a000001 --devices 4 --units 6 --swap-delay 0.05 -- --count 6
	OUT=$W/a.out
	check "the worker connected" wait_for 30 sh -c "[ \"\$(psql -X -At '$PG_URI' -c \"select count(*) from pg_stat_activity where application_name = 'edlstation-sync'\")\" -ge 1 ]"
	pg_freeze
	start=$SECONDS
	wait "$LINE_PID"
	rc=$?
	waited=$((SECONDS - start))
	pg_thaw
	check "flashing went on: exit 0, 6 runs committed" [ "$rc" -eq 0 ] && [ "$(finished_runs "$DB")" = 6 ]
	check "the station did not wait for the hung server (${waited} s for the line)" [ "$waited" -lt 15 ]
	"$EDL" sync push --config "$W/a.ini" >"$W/push.txt" 2>&1
	check "sync push once it answers: exit 0" [ $? -eq 0 ]
	check "PostgreSQL equals SQLite, row for row" dump_equal "$DB"
	check "no duplicates" no_duplicates
	;;
*)
	echo "unknown case $TEST"
	exit 2
	;;
esac
check "no sanitizer report, no crash" sh -c "! grep -qiE 'sanitizer|runtime error|segmentation' '$W'/*.out"
exit $fails
