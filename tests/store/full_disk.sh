#!/bin/sh
# The store on a full disk (issue 10): a small tmpfs holds the database and a
# 1 MiB filler file; tests/store/store_fill records units through the writer
# until the disk is full, goes on while full, restarts on the full disk, then
# deletes the filler and checks that every result was committed once space
# came back and nothing is left running. Needs root (mount); skips otherwise.
# usage: full_disk.sh STORE_FILL
set -eu
fill=$1
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
"$fill" "$dir/r.db" "$dir/filler"
if command -v sqlite3 >/dev/null 2>&1; then
	check=$(sqlite3 "$dir/r.db" 'PRAGMA integrity_check')
	[ "$check" = ok ] || { echo "FAIL: integrity_check: $check"; exit 1; }
	running=$(sqlite3 "$dir/r.db" "SELECT count(*) FROM run WHERE result = 'running'")
	[ "$running" = 0 ] || { echo "FAIL: $running runs left running"; exit 1; }
fi
[ ! -s "$dir/r.db.pending" ] || { echo "FAIL: the journal was not emptied"; exit 1; }
echo "full_disk: ok"
