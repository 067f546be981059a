#!/bin/sh
# The store on a full disk (issue 10): a small tmpfs holds the database and a
# 1 MiB filler file; tests/store/store_fill records units through the writer
# until the disk is full, goes on while full, restarts on the full disk, then
# deletes the filler and checks that every result was committed once space
# came back and nothing is left running. Then the filesystem is made read-only
# and `report` and `db check` must still read it (immutable). Needs root
# (mount); skips otherwise.
# usage: full_disk.sh STORE_FILL EDLSTATION
set -eu
fill=$1
edl=$2
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: mounting a small tmpfs needs root"
	exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/edl-full-XXXXXX")
if ! mount -t tmpfs -o size=6m tmpfs "$dir" 2>/dev/null; then
	rmdir "$dir"
	echo "SKIP: cannot mount a tmpfs here"
	exit 77
fi
trap 'umount "$dir"; rmdir "$dir"' EXIT
dd if=/dev/zero of="$dir/filler" bs=1024 count=1024 2>/dev/null
filled=$("$fill" "$dir/r.db" "$dir/filler") || { echo "$filled"; echo "FAIL: store_fill"; exit 1; }
echo "$filled"
runs=$(echo "$filled" | sed -n 's/^runs \([0-9]*\),.*/\1/p')
if command -v sqlite3 >/dev/null 2>&1; then
	check=$(sqlite3 "$dir/r.db" 'PRAGMA integrity_check')
	[ "$check" = ok ] || { echo "FAIL: integrity_check: $check"; exit 1; }
	running=$(sqlite3 "$dir/r.db" "SELECT count(*) FROM run WHERE result = 'running'")
	[ "$running" = 0 ] || { echo "FAIL: $running runs left running"; exit 1; }
fi
[ ! -s "$dir/r.db.pending" ] || { echo "FAIL: the journal was not emptied"; exit 1; }

# Read-only media (a copy without -wal/-shm): no WAL index can be made, so the
# reader must open it immutable.
rm -f "$dir/r.db-wal" "$dir/r.db-shm"
mount -o remount,ro "$dir"
out=$("$edl" report --db "$dir/r.db" --format json) || { echo "FAIL: report on read-only media"; exit 1; }
echo "$out" | grep -q "\"passed_runs\": *$runs" || { echo "FAIL: report: $out"; exit 1; }
"$edl" db check --db "$dir/r.db" --full || { echo "FAIL: db check on read-only media"; exit 1; }
set +e
"$edl" db check --db "$dir/missing/r.db" 2>"$dir/../edl-full-err.$$"
rc=$?
set -e
msg=$(cat "$dir/../edl-full-err.$$"); rm -f "$dir/../edl-full-err.$$"
[ $rc = 2 ] || { echo "FAIL: db check of a missing directory exited $rc"; exit 1; }
echo "$msg" | grep -q "missing does not exist: create it or set \[results\] database" ||
	{ echo "FAIL: db check message: $msg"; exit 1; }
echo "full_disk: ok"
