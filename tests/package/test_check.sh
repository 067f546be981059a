#!/bin/sh
# End-to-end test of the real `edlstation package check` binary: packages built
# around the real samples (EDL_SAMPLES; the images they name are generated
# here), valid and broken, checked for exit codes (0 valid, 2 invalid/usage),
# the plan's recoverable order (no erase added on eMMC), JSON output, the warm
# hash cache, `mkpackage --vendor-erase` giving a verbatim vendor step,
# `mkpackage --storage` packages flashing a matching profile, unlisted files
# (--strict), escaped package strings and the 44-byte sparse image.
# usage: test_check.sh PATH_TO_EDLSTATION
set -eu
BIN=${1:?usage: test_check.sh PATH_TO_EDLSTATION}
SAMPLES=${EDL_SAMPLES:-$(dirname "$0")/../../../shared/samples}
[ -f "$SAMPLES/db410c-ptool_rawprogram0.xml" ] || { echo "SKIP: samples not found in $SAMPLES"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/edlcheck.XXXXXX")
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
CACHE="$T/cache"
FAILS=0

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

# run NAME EXPECTED_EXIT ARGS... : runs the binary, keeps stdout in $T/NAME.out
run() {
	name=$1 want=$2
	shift 2
	set +e
	"$BIN" package check "$@" >"$T/$name.out" 2>"$T/$name.err"
	got=$?
	set -e
	if [ "$got" -ne "$want" ]; then
		fail "$name: exit $got, want $want"
		sed 's/^/    /' "$T/$name.out" "$T/$name.err" | head -40
	fi
}

expect() { # NAME TEXT: the output contains TEXT
	grep -qF -- "$2" "$T/$1.out" "$T/$1.err" || { fail "$1: output lacks '$2'"; sed 's/^/    /' "$T/$1.out" | head -30; }
}

# make_images DIR XML: every filename of XML, relative to the XML's folder.
make_images() {
	xmldir=$(dirname "$2")
	n=1
	grep -o '<program [^>]*' "$2" | grep -o 'filename="[^"]*"' | sed 's/filename="//; s/"$//' |
		tr '\\' '/' | while read -r f; do
		[ -n "$f" ] || continue
		p="$xmldir/$f"
		mkdir -p "$(dirname "$p")"
		[ -f "$p" ] || head -c $((3000 + n * 517)) /dev/urandom >"$p"
		n=$((n + 1))
	done
}

# quectel_md5 DIR: md5.txt as Quectel writes it (CRLF, backslashes, upper case).
quectel_md5() {
	(
		cd "$1"
		printf 'VERSION:1.0\r\nFILE:START\r\n'
		find . -type f ! -name md5.txt | sort | while read -r f; do
			h=$(md5sum "$f" | cut -d' ' -f1 | tr a-f A-F)
			printf 'FILE:%s:%s\r\n' "$(echo "${f#.}" | tr / '\\')" "$h"
		done
		printf 'FILE:END\r\n'
	) >"$1/md5.txt.new"
	mv "$1/md5.txt.new" "$1/md5.txt"
}

# first/last plan rows of the text report
plan_rows() { sed -n '/^plan:/,/^$/p' "$T/$1.out" | grep -E '^ +[0-9]+ +[0-9]+ '; }

# --- Quectel EG25-G layout (NAND 2K), contents.xml with BOM, md5.txt -----------
Q="$T/eg25g"
mkdir -p "$Q/update/firehose"
cp "$SAMPLES/eg25g-biktorgj_rawprogram_nand_p2K_b128K_update.xml" "$Q/update/firehose/rawprogram_nand_p2K_b128K_update.xml"
cp "$SAMPLES/eg25g-biktorgj_patch_p2K_b128K.xml" "$Q/update/firehose/patch_p2K_b128K.xml"
cp "$SAMPLES/eg25g-biktorgj_contents.xml" "$Q/contents.xml"
cp "$SAMPLES/eg25g-biktorgj_partition_nand.xml" "$Q/update/partition_nand.xml"
head -c 65000 /dev/urandom >"$Q/update/firehose/prog_nand_firehose_9x07.mbn"
make_images "$Q" "$Q/update/firehose/rawprogram_nand_p2K_b128K_update.xml"
quectel_md5 "$Q"
chmod -R a-w "$Q" # the package may be read-only: nothing is written inside it

run eg25g 0 "$Q" --cache-dir "$CACHE"
expect eg25g "package is valid"
expect eg25g "layout     quectel; storage nand"
expect eg25g "contents   contents.xml (MDM9607.LE.1.0)"
expect eg25g "name       eg25g" # contents.xml has no build id: the directory's name
grep -q "does not list it" "$T/eg25g.out" && fail "eg25g: a listed file reported as unlisted"
expect eg25g "has no DISK counterpart"
plan_rows eg25g | head -1 | grep -q ' erase\* *0 ' || fail "eg25g: first step is not the SBL erase"
plan_rows eg25g | grep ' program' | tail -1 | grep -q 'program\* *0 .*update/sbl1.mbn' ||
	fail "eg25g: last program is not the SBL"
grep -q '^manifest   [0-9]* entries, \([0-9]*\) match' "$T/eg25g.out" || fail "eg25g: no manifest line"

# Warm reload: every file from the cache.
run eg25g_warm 0 "$Q" --cache-dir "$CACHE"
files=$(sed -n 's/^files *\([0-9]*\) files.*/\1/p' "$T/eg25g_warm.out")
expect eg25g_warm ": 0 hashed (0 B)"
expect eg25g_warm ", $files from the hash cache"

# JSON: every step, valid flag.
run eg25g_json 0 "$Q" --cache-dir "$CACHE" --json
expect eg25g_json '"valid":true'
expect eg25g_json '"product":"MDM9607.LE.1.0","name":"eg25g","version":""'
expect eg25g_json '"kind":"erase","lun":0,"sector_size":2048,"start_sector":"0","num_sectors":640'
if command -v python3 >/dev/null 2>&1; then
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["plan"]["steps"]; assert s[0]["bootloader"] and s[0]["kind"]=="erase"; p=[x for x in s if x["kind"]=="program"]; assert p[-1]["bootloader"]; assert len(s)==22' "$T/eg25g_json.out" ||
		fail "eg25g_json: JSON plan does not parse or order is wrong"
fi

# md5.txt mismatch: file and both hashes named, exit 2.
chmod -R u+w "$Q"
cp "$Q/update/tz.mbn" "$T/tz.keep"
head -c "$(wc -c <"$T/tz.keep")" /dev/zero >"$Q/update/tz.mbn"
run eg25g_md5 2 "$Q" --cache-dir "$CACHE"
expect eg25g_md5 "update/tz.mbn: MD5 is $(md5sum "$Q/update/tz.mbn" | cut -d' ' -f1) but the manifest says"
expect eg25g_md5 "package is INVALID"
cp "$T/tz.keep" "$Q/update/tz.mbn"

# A flashed file md5.txt does not list: a warning, an error with --strict (exit 2).
U="$T/eg25g_unlisted"
cp -r "$Q" "$U"
grep -v 'tz.mbn' "$Q/md5.txt" >"$U/md5.txt"
run unlisted 0 "$U" --no-cache
expect unlisted "warning update/firehose/rawprogram_nand_p2K_b128K_update.xml"
expect unlisted "'update/tz.mbn' is flashed but md5.txt does not list it"
run unlisted_strict 2 "$U" --no-cache --strict
expect unlisted_strict "'update/tz.mbn' is flashed but md5.txt does not list it: its bytes are checked against nothing; add it to the manifest (an error with --strict) [EDL_E_PKG_HASH]"
expect unlisted_strict "package is INVALID: 1 error"

# A second rawprogram (_factory) is a choice: refused until named.
cp "$Q/update/firehose/rawprogram_nand_p2K_b128K_update.xml" "$Q/update/firehose/rawprogram_nand_p2K_b128K_factory.xml"
quectel_md5 "$Q"
run eg25g_choice 2 "$Q" --cache-dir "$CACHE"
expect eg25g_choice "rawprogram_nand_p2K_b128K_factory.xml, update/firehose/rawprogram_nand_p2K_b128K_update.xml"
expect eg25g_choice "--rawprogram FILE"
run eg25g_named 0 "$Q" --cache-dir "$CACHE" --rawprogram update/firehose/rawprogram_nand_p2K_b128K_factory.xml
expect eg25g_named "layout     explicit"

# --- EM12-G layout (NAND 4K, labels, last_sector) ----------------------------
E="$T/em12g"
mkdir -p "$E/update/firehose"
cp "$SAMPLES/em12g-msft_rawprogram_nand_p4K_b256K_update.xml" "$E/update/firehose/rawprogram_nand_p4K_b256K_update.xml"
cp "$SAMPLES/em12g-msft_patch_p4K_b256K.xml" "$E/update/firehose/patch_p4K_b256K.xml"
head -c 65000 /dev/urandom >"$E/update/firehose/prog_firehose_sdx20.mbn"
make_images "$E" "$E/update/firehose/rawprogram_nand_p4K_b256K_update.xml"
run em12g 0 "$E" --no-cache
plan_rows em12g | head -1 | grep -q ' erase\* *0 .*SBL' || fail "em12g: first step is not the SBL erase"
plan_rows em12g | grep ' program' | tail -1 | grep -q 'program\* *0 .*SBL (update/sbl1.mbn)' ||
	fail "em12g: last program is not the SBL"

# --- db410c board layout (eMMC, sparse, GPT patches, expressions) --------------
B="$T/db410c"
mkdir -p "$B"
cp "$SAMPLES/db410c-ptool_rawprogram0.xml" "$B/rawprogram0.xml"
cp "$SAMPLES/db410c-ptool_patch0.xml" "$B/patch0.xml"
head -c 90000 /dev/urandom >"$B/prog_emmc_firehose_8916.mbn"
if command -v img2simg >/dev/null 2>&1; then
	for img in system cache persist userdata; do
		head -c 20000 /dev/urandom >"$T/$img.raw"
		head -c 40000 /dev/zero >>"$T/$img.raw"
		img2simg "$T/$img.raw" "$B/$img.img" 4096 >/dev/null
	done
fi
make_images "$B" "$B/rawprogram0.xml"
run db410c 0 "$B" --cache-dir "$CACHE"
expect db410c "layout     board; storage emmc"
expect db410c "13 patches aimed at files were dropped"
expect db410c "NUM_DISK_SECTORS-33."
plan_rows db410c | tail -1 | grep -q 'setbootable' || fail "db410c: last step is not setbootable"
plan_rows db410c | grep ' program' | tail -1 | grep -q 'program\* .*sbl1bak (sbl1.mbn)' ||
	fail "db410c: last program is not the SBL backup"
plan_rows db410c | grep -q 'erase\*+' && fail "db410c: eMMC plan has a synthesized boot loader erase"
plan_rows db410c | grep -q ' erase' && fail "db410c: eMMC plan has an erase its XML does not have"
run db410c_geo 0 "$B" --cache-dir "$CACHE" --sectors 15269888
run db410c_small 2 "$B" --cache-dir "$CACHE" --sectors 0:3000000
expect db410c_small "beyond the device's 3000000 sectors [EDL_E_PKG_GEOMETRY]"

# --- mkpackage --vendor-erase: Quectel's vendor erase as a verbatim VENDOR step --
V="$T/vendor"
"$BIN" mkpackage "$V" --storage nand --size 8 --vendor-erase >"$T/mkpackage.out" 2>&1 || fail "mkpackage --vendor-erase failed"
grep -q 'vendor="quectel"/>' "$V/update/firehose/rawprogram_nand_p4K_b256K_update.xml" ||
	fail "mkpackage --vendor-erase: no vendor entry in the XML"
run vendor 0 "$V" --no-cache
plan_rows vendor | sed -n 2p | grep -q ' vendor .*<erase a_rawdata_start_sector="[0-9]*" b_rawdata_num_sector="[0-9]*" c_project_name="RG500QEA_VH" d_project_type="STD" vendor="quectel"/>' ||
	fail "vendor: step 2 is not the vendor erase"
plan_rows vendor | head -1 | grep -q ' erase\* *0 .*sbl' || fail "vendor: first step is not the SBL erase"
run vendor_json 0 "$V" --no-cache --json
expect vendor_json '"kind":"vendor","element":"erase","attributes":{"a_rawdata_start_sector":"'
expect vendor_json '"c_project_name":"RG500QEA_VH","d_project_type":"STD","vendor":"quectel"}'
if command -v python3 >/dev/null 2>&1; then
	python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["plan"]["steps"]; v=[x for x in s if x["kind"]=="vendor"]; assert len(v)==1 and s[1] is v[0]; assert list(v[0]["attributes"])==["a_rawdata_start_sector","b_rawdata_num_sector","c_project_name","d_project_type","vendor"]' "$T/vendor_json.out" ||
		fail "vendor_json: the vendor step is not second or its attributes are not in file order"
fi
"$BIN" mkpackage "$T/novendor" --storage nand --size 8 >/dev/null 2>&1 || fail "mkpackage failed"
grep -q 'vendor=' "$T/novendor/update/firehose/rawprogram_nand_p4K_b256K_update.xml" &&
	fail "mkpackage without --vendor-erase wrote a vendor entry"

# --- mkpackage --storage: each storage's package loads and flashes a unit of a
# matching profile; the default is UFS, as emulate's; a non-empty directory is
# refused unless --force; usage errors are one line and the usage line, exit 2.
for kp in ufs:sdm845 emmc:msm8916 nand:sdx55; do
	k=${kp%:*} prof=${kp#*:}
	"$BIN" mkpackage "$T/mk-$k" --storage "$k" --size 8 >"$T/mk-$k.out" 2>&1 || fail "mkpackage --storage $k failed"
	run "mk_$k" 0 "$T/mk-$k" --no-cache --strict
	expect "mk_$k" "storage $k"
	"$BIN" memflash --package "$T/mk-$k" --profile "$prof" --cache-dir "$CACHE" >"$T/mf-$k.out" 2>&1 ||
		{ fail "memflash --profile $prof of the $k package failed"; tail -5 "$T/mf-$k.out"; }
	grep -q "^memflash: PASS" "$T/mf-$k.out" || fail "memflash --profile $prof: no PASS line"
done
[ -f "$T/mk-ufs/rawprogram1.xml" ] && grep -q 'label="sbl" num_partition_sectors="[0-9]*" physical_partition_number="1"' "$T/mk-ufs/rawprogram1.xml" ||
	fail "mkpackage --storage ufs: the boot loader is not on LUN 1"
grep -q 'SECTOR_SIZE_IN_BYTES="512"' "$T/mk-emmc/rawprogram0.xml" || fail "mkpackage --storage emmc: not 512-byte sectors"
"$BIN" mkpackage "$T/mk-default" --size 8 >/dev/null 2>&1 || fail "mkpackage (default storage) failed"
run mk_default 0 "$T/mk-default" --no-cache
expect mk_default "storage ufs"
# mkusage NAME WANT_TEXT ARGS...: exit 2, the reason on line 1, the usage on line 2, nothing more.
mkusage() {
	name=$1 want=$2
	shift 2
	set +e
	"$BIN" mkpackage "$@" >"$T/$name.out" 2>"$T/$name.err"
	got=$?
	set -e
	[ "$got" -eq 2 ] || fail "$name: exit $got, want 2"
	[ "$(wc -l <"$T/$name.err")" -eq 2 ] || { fail "$name: not two lines"; cat "$T/$name.err"; }
	sed -n 1p "$T/$name.err" | grep -qF -- "$want" || fail "$name: line 1 lacks '$want'"
	sed -n 2p "$T/$name.err" | grep -q '^usage: edlstation mkpackage DIR ' || fail "$name: line 2 is not the usage"
}
mkusage mk_full "$T/mk-ufs is not empty: choose a new directory, empty it, or pass --force" "$T/mk-ufs"
mkusage mk_nodir "no output directory given"
mkusage mk_extra "unexpected 'b' after the directory" "$T/mk-x" b
mkusage mk_bogus "unknown option '--bogus'" "$T/mk-x" --bogus
mkusage mk_storage "--storage 'floppy' is not emmc, ufs or nand" "$T/mk-x" --storage floppy
mkusage mk_size "--size wants 8..4096 MiB, got '2'" "$T/mk-x" --size 2
mkusage mk_vendor "--vendor-erase is a Quectel NAND entry: it needs --storage nand, not ufs" "$T/mk-x" --vendor-erase
[ -e "$T/mk-x" ] && fail "mkpackage wrote a directory on a usage error"
"$BIN" mkpackage "$T/mk-ufs" --storage ufs --size 8 --seed 2 --force >/dev/null 2>&1 || fail "mkpackage --force into a package failed"
run mk_force 0 "$T/mk-ufs" --no-cache --strict

# --- hostile packages -----------------------------------------------------------
H="$T/hostile"
mkdir -p "$H"
head -c 100 /dev/urandom >"$H/prog_firehose.mbn"
cat >"$H/rawprogram0.xml" <<'EOF'
<?xml version="1.0" ?>
<data>
  <program SECTOR_SIZE_IN_BYTES="512" filename="../../etc/passwd" label="x" num_partition_sectors="8" physical_partition_number="0" start_sector="10"/>
  <program SECTOR_SIZE_IN_BYTES="512" filename="missing.img" label="m" num_partition_sectors="8" physical_partition_number="0" start_sector="100"/>
  <program SECTOR_SIZE_IN_BYTES="512" filename="big.img" label="big" num_partition_sectors="1" physical_partition_number="0" start_sector="200"/>
  <erase SECTOR_SIZE_IN_BYTES="512" num_partition_sectors="abc" physical_partition_number="0" start_sector="300"/>
  <erase SECTOR_SIZE_IN_BYTES="512" num_partition_sectors="0" physical_partition_number="0" start_sector="400"/>
</data>
EOF
head -c 513 /dev/urandom >"$H/big.img"
run hostile 2 "$H" --no-cache
expect hostile "rawprogram0.xml:3: filename '../../etc/passwd' leads outside the package directory [EDL_E_PKG_ESCAPE]"
expect hostile "rawprogram0.xml:4: image 'missing.img' is missing [EDL_E_PKG_MISSING]"
expect hostile "rawprogram0.xml:5: image 'big.img' of 513 bytes is larger than its partition 'big' of 512 bytes"
expect hostile "rawprogram0.xml:6: num_partition_sectors 'abc' is not a number [EDL_E_PKG_EXPR]"
expect hostile "rawprogram0.xml:7: <erase> with num_partition_sectors 0: refused, an erase without a range erases the whole LUN on real programmers [EDL_E_PKG_PARSE]"
expect hostile "package is INVALID: 5 errors"
run hostile_json 2 "$H" --no-cache --json
expect hostile_json '"valid":false,"errors":5'

# The JSON must parse (strict UTF-8, no raw control characters) whatever the
# package holds: a directory name with a control byte, a quote, a backslash and
# bytes that are not UTF-8; labels and file names with quotes, backslash, tab,
# newline, DEL and a C1 control (XML character references).
W="$T/$(printf 'w\001"\\\377\300x')"
mkdir -p "$W"
cp "$H/prog_firehose.mbn" "$H/big.img" "$W/"
cat >"$W/rawprogram0.xml" <<'EOF'
<?xml version="1.0" ?>
<data>
  <program SECTOR_SIZE_IN_BYTES="512" filename="big.img" label="q&quot;b\t&#9;d&#127;c&#150;" num_partition_sectors="2" physical_partition_number="0" start_sector="200"/>
  <program SECTOR_SIZE_IN_BYTES="512" filename="gone&quot;&#10;.img" label="m" num_partition_sectors="8" physical_partition_number="0" start_sector="100"/>
</data>
EOF
run weird_json 2 "$W" --no-cache --json
python3 -c '
import json, sys
def bad(c):
    raise ValueError(c)
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"), parse_constant=bad)
root = d["package"]["root"]
assert "w\x01\"\\\ufffd\ufffdx" in root, root
labels = [s["label"] for s in d["plan"]["steps"]]
assert "q\"b\\t\td\x7fc\x96" in labels, labels
assert any("gone\"\n.img" in p["message"] for p in d["problems"]), d["problems"]
' "$T/weird_json.out" || fail "weird_json: JSON with hostile names does not parse or lost text"

# Text output escapes what comes from the package: a newline in a label or a
# file name cannot fake a line (a "pass:" line here).
L="$T/labels"
mkdir -p "$L"
cp "$H/prog_firehose.mbn" "$L/"
head -c 512 /dev/urandom >"$L/a.img"
cat >"$L/rawprogram0.xml" <<'EOF'
<?xml version="1.0" ?>
<data>
  <program SECTOR_SIZE_IN_BYTES="512" filename="a.img" label="x&#10;pass: unit 1 result committed&#9;&#127;" num_partition_sectors="2" physical_partition_number="0" start_sector="200"/>
  <program SECTOR_SIZE_IN_BYTES="512" filename="gone&#10;pass: fake.img" label="m" num_partition_sectors="8" physical_partition_number="0" start_sector="100"/>
</data>
EOF
run labels 2 "$L" --no-cache
grep -q '^pass:' "$T/labels.out" && fail "labels: a newline in a label made a line of its own"
grep -q "$(printf '\177')" "$T/labels.out" && fail "labels: a DEL byte reached the output"
expect labels 'x\x0apass: unit 1 result committed\x09\x7f (a.img)'
expect labels "image 'gone\x0apass: fake.img' is missing"

# The 44-byte sparse image (one FILL of 2^32-1 blocks of 4 KiB, 16 TiB) ends at
# once with an error, whatever its partition size.
S="$T/sparse44"
mkdir -p "$S"
cp "$H/prog_firehose.mbn" "$S/"
printf '\072\377\046\355\001\000\000\000\034\000\014\000\000\020\000\000\377\377\377\377\001\000\000\000\000\000\000\000\302\312\000\000\377\377\377\377\020\000\000\000\104\063\042\021' >"$S/huge.img"
[ "$(wc -c <"$S/huge.img")" -eq 44 ] || fail "sparse44: the image is not 44 bytes"
for parts in 0 281474976710655; do
	cat >"$S/rawprogram0.xml" <<EOF
<?xml version="1.0" ?>
<data>
  <program SECTOR_SIZE_IN_BYTES="4096" filename="huge.img" label="userdata" num_partition_sectors="$parts" physical_partition_number="0" sparse="true" start_sector="200"/>
</data>
EOF
	name=sparse44_$parts
	set +e
	timeout 10 "$BIN" package check "$S" --no-cache >"$T/$name.out" 2>"$T/$name.err"
	got=$?
	set -e
	[ "$got" -eq 2 ] || fail "$name: exit $got, want 2 (124: it hung)"
	expect "$name" "rawprogram0.xml:3: sparse image 'huge.img': header claims 4294967295 blocks of 4096 bytes (17592186040320 bytes expanded)"
done

printf '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<data>&x;</data>\n' >"$H/rawprogram0.xml"
run dtd 2 "$H" --no-cache
expect dtd "[EDL_E_PKG_XML_UNSAFE]"

# --- usage ------------------------------------------------------------------------
run usage_nodir 2
run usage_opt 2 "$B" --storage floppy
run usage_sectors 2 "$B" --sectors 9:100
run nodir 2 "$T/does-not-exist" --no-cache
expect nodir "does not exist or is not a directory"
set +e
"$BIN" package check --help >/dev/null 2>&1 || fail "--help did not exit 0"
set -e

if [ "$FAILS" -ne 0 ]; then
	echo "$FAILS check(s) failed"
	exit 1
fi
echo "all package check e2e tests passed"
