#!/bin/bash
# Debian's qdl, a host nobody here wrote, flashes one emulated unit of a device
# profile with a package of that profile's storage kind; the unit's dumped
# storage is checked against the package's rawprogram XML by check_dump.py.
# usage: qdl.sh EDLSTATION_BINARY PROFILE
set -u
EDL=$1
PROFILE=$2
HERE=$(cd "$(dirname "$0")" && pwd)
if ! command -v qdl >/dev/null 2>&1; then
	echo "SKIP: Debian's qdl is not installed (apt-get install qdl)"
	exit 77
fi
W=$(mktemp -d /tmp/edl-qdl.XXXXXX)
export TMPDIR=$W
trap 'rm -rf "$W"' EXIT
pline=$("$EDL" emulate --help | awk -v p="$PROFILE" '$1 == p')
KIND=$(echo "$pline" | sed -n 's/.*; \([a-z]*\), \([0-9]*\)-byte sectors.*/\1/p')
SECTOR=$(echo "$pline" | sed -n 's/.*; \([a-z]*\), \([0-9]*\)-byte sectors.*/\2/p')
[ -n "$KIND" ] && [ -n "$SECTOR" ] || { echo "FAIL: no profile $PROFILE: $pline"; exit 1; }
"$EDL" mkpackage "$W/src" --storage nand --size 8 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }
if [ "$KIND" = nand ] && [ "$SECTOR" = 4096 ]; then
	PKG=$W/src
	RAWS=("$PKG/update/firehose/rawprogram_nand_p4K_b256K_update.xml")
else
	PKG=$W/pkg
	mapfile -t RAWS < <(python3 "$HERE/mkpkg.py" "$W/src" "$PKG" "$KIND" "$SECTOR") ||
		{ echo "FAIL: mkpkg.py"; exit 1; }
fi
# Quectel's XML names images "..\tz.mbn"; Debian's qdl opens names as given (it
# says "Unable to open ..\tz.mbn...ignoring"), so its copy gets '/' (our station
# takes both).
for r in "${RAWS[@]}"; do sed -i 's|\.\.\\|../|g' "$r"; done
base=$(dirname "${RAWS[0]}")
prog=$(ls "$base" | grep '^prog_' | head -1)
patches=()
for r in "${RAWS[@]}"; do
	p="$base/$(basename "$r" | sed 's/^rawprogram_nand_\(.*\)_update/patch_\1/; s/^rawprogram/patch/')"
	[ -f "$p" ] && patches+=("$p")
done
(cd "$base" && timeout -s KILL 180 "$EDL" emulate --profile "$PROFILE" --devices 1 --dump "$W/dump" -- \
	qdl --storage "$KIND" --include "$base" "$base/$prog" "${RAWS[@]}" "${patches[@]}") >"$W/out" 2>&1
rc=$?
fails=0
[ "$rc" -eq 0 ] || { echo "FAIL: qdl exit $rc"; fails=1; }
[ -n "${EDL_QDL_VERBOSE:-}" ] && cat "$W/out"
for r in "${RAWS[@]}"; do
	python3 "$HERE/check_dump.py" "$r" "$W/dump/1a2b3c4d" || fails=1
done
[ "$fails" -eq 0 ] && echo "PASS: Debian's qdl flashed a $PROFILE unit ($KIND), bytes match"
exit "$fails"
