#!/bin/sh
# Benchmark of package loading (issue 3): hashing throughput of a 1 GiB package
# against `md5sum` + `sha256sum` run on the same files at the same time, the
# reload time with a warm hash cache, and peak RSS (at 1 GiB and at 128 MiB, to
# show memory does not grow with image size).
#
# usage: scripts/bench/package.sh [BUILD_DIR]
#   BUILD_DIR defaults to build/ at the repository root; it is configured and
#   edlstation built there when missing. EDL_BENCH_DIR (default $TMPDIR or /tmp)
#   holds the generated package; EDL_BENCH_MB (default 1024) sets its size.
# The files are in the page cache for both tools (same state for both): the
# figures compare hashing work, not the disk.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
MB=${EDL_BENCH_MB:-1024}
RUNS=3

if [ ! -x "$BUILD/src/cli/edlstation" ]; then
	echo "== building edlstation in $BUILD"
	[ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$BUILD" --target edlstation -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
fi
BIN=$BUILD/src/cli/edlstation
WORK=$(mktemp -d "${EDL_BENCH_DIR:-${TMPDIR:-/tmp}}/edlbench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

now_ns() { date +%s%N; }

# Pseudo-random bytes quickly (AES-CTR keystream), so generation does not dominate.
gen() { # FILE BYTES SEED
	openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:$3" </dev/zero 2>/dev/null | head -c "$2" >"$1"
}

# make_pkg DIR TOTAL_MB: a board-style eMMC package, one big image and some small ones.
make_pkg() {
	d=$1 total=$(($2 * 1024 * 1024))
	mkdir -p "$d"
	big=$((total * 55 / 100)) mid=$((total * 25 / 100)) modem=$((total * 15 / 100))
	rest=$((total - big - mid - modem))
	small=$((rest / 4))
	gen "$d/system.img" "$big" 1
	gen "$d/userdata.img" "$mid" 2
	gen "$d/NON-HLOS.bin" "$modem" 3
	gen "$d/boot.img" "$small" 4
	gen "$d/recovery.img" "$small" 5
	gen "$d/tz.mbn" "$small" 6
	gen "$d/sbl1.mbn" "$((rest - 3 * small))" 7
	gen "$d/prog_emmc_firehose_bench.mbn" 500000 8
	s=$((1 << 20)) # partitions of 512 GiB sectors apart: room for any size
	{
		echo '<?xml version="1.0" ?>'
		echo '<data>'
		i=0
		for f in sbl1.mbn tz.mbn boot.img recovery.img NON-HLOS.bin system.img userdata.img; do
			label=${f%%.*}
			echo "  <program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"$f\" label=\"$label\" num_partition_sectors=\"0\" physical_partition_number=\"0\" start_sector=\"$((s * (i + 1) * 8))\"/>"
			i=$((i + 1))
		done
		echo '</data>'
	} >"$d/rawprogram0.xml"
	(cd "$d" && md5sum -- * >MD5SUMS)
}

json_num() { # KEY FILE
	sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$2" | head -1
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== generating a ${MB} MiB package in $WORK"
make_pkg "$WORK/pkg" "$MB"
FILES=$(cd "$WORK/pkg" && ls | grep -v MD5SUMS)
BYTES=$(cd "$WORK/pkg" && cat $FILES | wc -c)
# Warm the page cache once for everyone.
cat "$WORK/pkg"/* >/dev/null

echo "== reference: md5sum + sha256sum on the same files at the same time ($RUNS runs)"
: >"$WORK/ref.ms"
for r in $(seq $RUNS); do
	t0=$(now_ns)
	(cd "$WORK/pkg" && md5sum $FILES >/dev/null) &
	p1=$!
	(cd "$WORK/pkg" && sha256sum $FILES >/dev/null) &
	p2=$!
	wait $p1 $p2
	echo $((($(now_ns) - t0) / 1000000)) >>"$WORK/ref.ms"
done
REF_MS=$(median <"$WORK/ref.ms")

echo "== edlstation package check, no cache ($RUNS runs)"
: >"$WORK/ours.ms"
for r in $(seq $RUNS); do
	"$BIN" package check "$WORK/pkg" --no-cache --json >"$WORK/cold.json" || {
		echo "package check failed"
		exit 1
	}
	json_num hash_ms "$WORK/cold.json" >>"$WORK/ours.ms"
done
OURS_MS=$(median <"$WORK/ours.ms")
HASHED=$(json_num bytes_hashed "$WORK/cold.json")
THREADS=$(json_num threads "$WORK/cold.json")
CHECKED=$(json_num manifest_checked "$WORK/cold.json")

echo "== warm reload with the hash cache"
"$BIN" package check "$WORK/pkg" --cache-dir "$WORK/cache" --json >"$WORK/first.json"
: >"$WORK/warm.ms"
: >"$WORK/warm_wall.ms"
for r in $(seq $RUNS); do
	t0=$(now_ns)
	"$BIN" package check "$WORK/pkg" --cache-dir "$WORK/cache" --json >"$WORK/warm.json"
	echo $((($(now_ns) - t0) / 1000000)) >>"$WORK/warm_wall.ms"
	json_num load_ms "$WORK/warm.json" >>"$WORK/warm.ms"
done
WARM_MS=$(median <"$WORK/warm.ms")
WARM_WALL=$(median <"$WORK/warm_wall.ms")
WARM_HASHED=$(json_num files_hashed "$WORK/warm.json")

echo "== peak RSS (no cache: the hashing pass)"
rss() {
	/usr/bin/time -f %M "$BIN" package check "$1" --no-cache >/dev/null 2>"$WORK/rss.txt" || true
	tail -1 "$WORK/rss.txt"
}
RSS_BIG=$(rss "$WORK/pkg")
make_pkg "$WORK/small" 128
RSS_SMALL=$(rss "$WORK/small")

awk -v bytes="$BYTES" -v hashed="$HASHED" -v ours="$OURS_MS" -v ref="$REF_MS" \
	-v warm="$WARM_MS" -v wall="$WARM_WALL" -v whashed="$WARM_HASHED" -v threads="$THREADS" \
	-v rbig="$RSS_BIG" -v rsmall="$RSS_SMALL" -v checked="$CHECKED" -v mb="$MB" 'BEGIN {
	o = hashed / 1e6 / (ours / 1000); r = bytes / 1e6 / (ref / 1000)
	printf "\npackage benchmark (%d MiB, %d files verified against MD5SUMS, %d hashing threads)\n", mb, checked, threads
	printf "  edlstation hashing (MD5+SHA-256+step digests, one pass): %6.0f MB/s  (%d ms)\n", o, ours
	printf "  md5sum + sha256sum at the same time:                      %6.0f MB/s  (%d ms)\n", r, ref
	printf "  ratio:                                                    %6.2f  (target >= 0.80)\n", o / r
	printf "  warm reload (hash cache): %d ms in the load, %d ms process wall time, %d files rehashed (target < 50 ms)\n", warm, wall, whashed
	printf "  peak RSS: %.1f MiB at %d MiB, %.1f MiB at 128 MiB\n", rbig / 1024, mb, rsmall / 1024
}'
