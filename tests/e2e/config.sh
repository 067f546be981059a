#!/bin/bash
# End-to-end tests of the configuration a technician relies on and of the CLI's
# usage errors: `config check` and `run --dry-run` on config/station.ini (its
# paths pointed at a temporary package and database through a copy) and on
# broken configs, each asserting the exit code and the line, key and fix in the
# message; INI lines of 1, 200, 4,000 and 100,000 bytes, NUL, CRLF, BOM, a
# missing '='; one-line usage errors of run, list, identify and config.
# usage: config.sh EDLSTATION_BINARY TEST   (TEST: check | dry_run | cli)
set -u
EDL=$1
TEST=$2
HERE=$(cd "$(dirname "$0")" && pwd)
EXAMPLE=$HERE/../../config/station.ini
W=$(mktemp -d /tmp/edl-config.XXXXXX)
export TMPDIR=$W
trap 'rm -rf "$W"' EXIT
OUT=$W/out.txt
DB=$W/db/results.db
fails=0

# shellcheck source=lib.sh
. "$HERE/lib.sh"

# The example with its paths moved into $W: package, database, logs.
good_config() {
	sed -e "s|/srv/firmware/RM502QAEAAR13A03M4G|$W/pkg|" -e "s|/var/lib/edlstation|$W/db|" \
		-e "s|/var/log/edlstation/runs|$W/logs|" "$EXAMPLE"
}
# line_of FILE TEXT: the number of the first line holding TEXT.
line_of() { grep -n -F -- "$2" "$1" | head -1 | cut -d: -f1; }
# expect_check NAME FILE TEXT...: config check exits 2 and prints every TEXT.
expect_check() {
	local name=$1 file=$2
	shift 2
	"$EDL" config check --config "$file" >"$OUT" 2>&1
	local rc=$?
	check "$name: config check exits 2" [ "$rc" -eq 2 ]
	for text in "$@"; do
		check "$name: config check says: $text" grep -q -F -- "$text" "$OUT"
	done
}
# expect_run NAME FILE TEXT...: run --dry-run exits 2 and prints every TEXT.
expect_run() {
	local name=$1 file=$2
	shift 2
	"$EDL" run --dry-run --config "$file" --cache-dir "$W/cache" >"$OUT" 2>&1
	local rc=$?
	check "$name: run --dry-run exits 2" [ "$rc" -eq 2 ]
	for text in "$@"; do
		check "$name: run --dry-run says: $text" grep -q -F -- "$text" "$OUT"
	done
}

mkpackage() {
	"$EDL" mkpackage "$W/pkg" --storage nand --size 8 >/dev/null || { echo "FAIL: mkpackage"; exit 1; }
	mkdir -p "$W/db"
}

case "$TEST" in
check)
	mkpackage
	# The example as shipped: both missing paths, each with its line and fix.
	pl=$(line_of "$EXAMPLE" "dir = /srv/firmware")
	dl=$(line_of "$EXAMPLE" "database = /var/lib")
	expect_check "shipped example" "$EXAMPLE" \
		"station.ini:$pl: [package] dir: /srv/firmware/RM502QAEAAR13A03M4G does not exist — copy the package there or set [package] dir" \
		"station.ini:$dl: [results] database: directory /var/lib/edlstation does not exist — create it (install -d -o edlstation /var/lib/edlstation) or set [results] database"
	expect_run "shipped example" "$EXAMPLE" \
		"station.ini:$pl: [package] dir: /srv/firmware/RM502QAEAAR13A03M4G does not exist"

	good_config >"$W/good.ini"
	"$EDL" config check --config "$W/good.ini" >"$OUT" 2>&1
	check "the example pointed at real paths: config ok, exit 0" sh -c "[ $? -eq 0 ] && grep -q '^config ok' '$OUT'"
	# Windows line ends and a BOM change nothing.
	sed -e 's/$/\r/' "$W/good.ini" | sed -e '1s/^/\xef\xbb\xbf/' >"$W/crlf.ini"
	"$EDL" config check --config "$W/crlf.ini" >"$OUT" 2>&1
	check "CRLF and a BOM: config ok" sh -c "[ $? -eq 0 ] && grep -q '^config ok' '$OUT'"

	# Comments of 1, 200, 4,000 and 100,000 bytes are comments, even where inih's
	# 200-byte buffer would have cut them and parsed the tail (the old bug: the
	# tail "verify = bogus" here was read as a key).
	for n in 1 200 4000 100000; do
		{
			# (the example sets retry_ms itself: this one is set again below)
			good_config | grep -v '^retry_ms'
			printf '[store]\n'
			python3 -c "import sys; n=$n; t=' verify = bogus'; sys.stdout.write(';' + 'x'*max(0, n-1-len(t)) + t if n > 20 else ';'*n)"
			printf '\n  ; %s\nretry_ms = 500 ; %s\n' "$(head -c "$n" /dev/zero | tr '\0' c)" "$(head -c "$n" /dev/zero | tr '\0' c)"
		} >"$W/comment$n.ini"
		"$EDL" config check --config "$W/comment$n.ini" >"$OUT" 2>&1
		check "comment lines of $n bytes: config ok" sh -c "[ $? -eq 0 ] && grep -q '^config ok' '$OUT'"
	done
	# Values of 200, 4,000 and 100,000 bytes are refused with the limit, at their line.
	for n in 200 4000 100000; do
		{
			good_config
			printf '[station]\n'
			printf 'name = %s\n' "$(head -c "$n" /dev/zero | tr '\0' v)"
		} | sed '0,/^name = line-1/{/^name = line-1/d}' >"$W/value$n.ini"
		l=$(wc -l <"$W/value$n.ini")
		expect_check "value line of $((n + 7)) bytes" "$W/value$n.ini" \
			"value$n.ini:$l: line is $((n + 7)) bytes, the longest a key line may be is 197"
	done
	# A 1-byte line that is not a comment is unknown text.
	{ good_config; printf 'x\n'; } >"$W/one.ini"
	l=$(wc -l <"$W/one.ini")
	expect_check "1-byte text line" "$W/one.ini" \
		"one.ini:$l: 'x' is not a [section], a key = value line or a comment — write key = value"

	# Ten broken configs: each names file:line, the key and the fix.
	good_config | sed "s|^dir = .*|dir = $W/nope|" >"$W/b1.ini"
	expect_check "1 missing package" "$W/b1.ini" \
		"b1.ini:$(line_of "$W/b1.ini" "dir = $W/nope"): [package] dir: $W/nope does not exist — copy the package there or set [package] dir"
	good_config | sed "s|^database = .*|database = $W/nodir/r.db|" >"$W/b2.ini"
	expect_check "2 missing database directory" "$W/b2.ini" \
		"b2.ini:$(line_of "$W/b2.ini" "database = "): [results] database: directory $W/nodir does not exist — create it (install -d -o edlstation $W/nodir) or set [results] database"
	expect_run "2 missing database directory" "$W/b2.ini" \
		": [results] database: directory $W/nodir does not exist"
	good_config | sed 's/^verify = auto/verfy = no/' >"$W/b3.ini"
	expect_check "3 misspelt key" "$W/b3.ini" \
		"b3.ini:$(line_of "$W/b3.ini" "verfy = no"): [flash] verfy: unknown key — did you mean verify?"
	expect_run "3 misspelt key" "$W/b3.ini" "[flash] verfy: unknown key"
	good_config | sed 's/^inflight = 4 /inflight = 9 /' >"$W/b4.ini"
	expect_check "4 value out of range" "$W/b4.ini" \
		"b4.ini:$(line_of "$W/b4.ini" "inflight = 9"): [flash] inflight: '9' is not accepted — set a whole number from 1 to 8"
	good_config | sed 's/^name = line-1/name = li\x00ne-1/' >"$W/b5.ini"
	expect_check "5 NUL in a value" "$W/b5.ini" \
		"b5.ini:$(grep -n -a '^name = li' "$W/b5.ini" | cut -d: -f1): NUL byte at column 10 — the file must be plain text"
	expect_run "5 NUL in a value" "$W/b5.ini" "NUL byte at column 10"
	good_config | sed 's/^retries = 1 /retries 1 /' >"$W/b6.ini"
	expect_check "6 missing '='" "$W/b6.ini" \
		"b6.ini:$(line_of "$W/b6.ini" "retries 1"): 'retries 1' is not a [section], a key = value line or a comment"
	good_config | sed 's/^1-1.3 = A3/1-1.x = A3/' >"$W/b7.ini"
	expect_check "7 port path" "$W/b7.ini" \
		"b7.ini:$(line_of "$W/b7.ini" "1-1.x"): [ports] 1-1.x: is not a USB port path — write BUS-PORT[.PORT...]"
	good_config | sed 's/^1-1.4 = A4/1-1.4 = A3/' >"$W/b8.ini"
	expect_check "8 slot label twice" "$W/b8.ini" \
		"b8.ini:$(line_of "$W/b8.ini" "1-1.4 = A3"): [ports] 1-1.4: 'A3' is not accepted — give each port its own slot label (port 1-1.3 has it)"
	good_config | sed 's/^1-2.4 = B4/1-2.4 = B4\n1-1.1 = B5/' >"$W/b9.ini"
	expect_check "9 port twice" "$W/b9.ini" \
		"b9.ini:$(line_of "$W/b9.ini" "1-1.1 = B5"): [ports] 1-1.1: set twice — remove one of the two (it is also on line $(line_of "$W/b9.ini" "1-1.1 = A1"))"
	good_config | sed 's/^\[timeouts\]/[timeout]/' >"$W/b10.ini"
	expect_check "10 misspelt section" "$W/b10.ini" \
		"b10.ini:$(line_of "$W/b10.ini" "hello_ms"): [timeout]: unknown section — did you mean [timeouts]?"
	touch "$W/afile"
	good_config | sed "s|^log_dir = .*|log_dir = $W/afile/runs|" >"$W/b11.ini"
	expect_check "11 log_dir under a file" "$W/b11.ini" \
		"b11.ini:$(line_of "$W/b11.ini" "log_dir = "): [results] log_dir: $W/afile/runs does not exist and cannot be created"
	good_config | sed 's/^rawprogram = .*/rawprogram = update\/none.xml/' >"$W/b12.ini"
	expect_check "12 package does not load" "$W/b12.ini" \
		"b12.ini:$(line_of "$W/b12.ini" "rawprogram = update/none.xml"): [package] rawprogram: the package $W/pkg does not load:" \
		"edlstation package check $W/pkg lists every problem"
	# Every problem at once, not only the first.
	cat "$W/b3.ini" | sed 's/^inflight = 4 /inflight = 9 /' >"$W/b13.ini"
	"$EDL" config check --config "$W/b13.ini" >"$OUT" 2>&1
	check "all problems listed" sh -c "grep -q 'verfy: unknown key' '$OUT' && grep -q 'inflight:' '$OUT' && grep -q '2 problem(s)' '$OUT'"
	;;
dry_run)
	mkpackage
	good_config | sed 's/^accept_unmapped = yes/accept_unmapped = no/' >"$W/good.ini"
	# 5 units on 1-1.1..1-1.5: 1-1.5 is not in the example's [ports].
	timeout -s KILL 120 "$EDL" emulate --storage nand --devices 5 -- \
		"$EDL" run --dry-run --config "$W/good.ini" --cache-dir "$W/cache" >"$OUT" 2>&1
	rc=$?
	check "dry run: exit 0" [ "$rc" -eq 0 ]
	check "dry run: package loaded" grep -q "^package: $W/pkg (nand, " "$OUT"
	check "dry run: database opened" grep -q "^database: $DB (opened for writing, closed)" "$OUT"
	check "dry run: 1-1.3 is slot A3, serial 1a2b3c4f, would be flashed" grep -qE '^1-1\.3 +A3 +1a2b3c4f +flash$' "$OUT"
	check "dry run: 1-1.5 refused (unmapped, accept_unmapped = no)" grep -qE '^1-1\.5 +- +[0-9a-f]{8} +refuse: port not in \[ports\] and accept_unmapped = no' "$OUT"
	check "dry run: 4 taken, 1 refused, nothing flashed" grep -q "4 device(s) would be flashed, 1 refused; nothing flashed" "$OUT"
	check "dry run: no run recorded" [ "$(sqlite3 "$DB" 'select count(*) from run')" = 0 ]
	# CRLF: the slot label carries no '\r'.
	sed -e 's/$/\r/' "$W/good.ini" >"$W/crlf.ini"
	timeout -s KILL 120 "$EDL" emulate --storage nand --devices 1 -- \
		"$EDL" run --dry-run --config "$W/crlf.ini" --cache-dir "$W/cache" >"$OUT" 2>&1
	check "dry run, CRLF config: slot A1 as written" grep -qE '^1-1\.1 +A1 +1a2b3c4d +flash$' "$OUT"
	# A package that does not load: its error and exit 2, nothing opened.
	timeout -s KILL 120 "$EDL" run --dry-run --package "$W/db" --db "$W/other.db" >"$OUT" 2>&1
	check "dry run, not a package: exit 2" [ $? -eq 2 ]
	check "dry run, not a package: no database created" [ ! -e "$W/other.db" ]
	# A log directory the station's user cannot create stops the start before
	# "ready", naming the key, its line and the fix (root may write anywhere:
	# tried as nobody).
	if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null; then
		mkdir -p "$W/ro" && chmod 555 "$W/ro" && chmod 755 "$W"
		chmod -R a+rX "$W/pkg"
		printf '[results]\nlog_dir = %s/ro/runs\n' "$W" >"$W/ro.ini"
		chmod 644 "$W/ro.ini"
		timeout -s KILL 60 runuser -u nobody -- "$EDL" run --config "$W/ro.ini" --package "$W/pkg" \
			--db /tmp/edl-config-nobody-$$.db --cache-dir /tmp/edl-config-nobody-$$ >"$OUT" 2>&1
		rc=$?
		rm -rf /tmp/edl-config-nobody-$$*
		check "unwritable log_dir: exit 2 before ready" sh -c "[ $rc -eq 2 ] && ! grep -q 'ready' '$OUT'"
		check "unwritable log_dir: key, line and fix" grep -q "ro.ini:2: \[results\] log_dir: $W/ro/runs does not exist and cannot be created .* — create it" "$OUT"
	fi
	;;
cli)
	# usage_error CMD ARGS...: exit 2, exactly two lines on stderr: what was
	# wrong, then the command's usage line.
	usage_error() {
		local what=$1
		shift
		"$@" >"$W/stdout" 2>"$OUT"
		local rc=$?
		local cmd=$2
		check "$*: exit 2" [ "$rc" -eq 2 ]
		check "$*: says '$what'" sh -c "head -1 '$OUT' | grep -q -F -- \"edlstation $cmd: $what\""
		check "$*: then one usage line" sh -c "[ \$(wc -l <'$OUT') -eq 2 ] && sed -n 2p '$OUT' | grep -q '^usage: edlstation $cmd .*(see edlstation $cmd --help)$'"
	}
	usage_error "unexpected argument 'extra'" "$EDL" run --package "$W" extra
	usage_error "unknown option '--bogus'" "$EDL" run --bogus
	usage_error "--inflight wants a number from 1 to 8, not '0'" "$EDL" run --inflight 0
	usage_error "--inflight wants a number from 1 to 8, not '9'" "$EDL" run --inflight 9
	usage_error "--db needs a value" "$EDL" run --db
	usage_error "--log-format wants auto, text, json or journal, not 'xml'" "$EDL" run --log-format xml
	usage_error "no package: give --package DIR" "$EDL" run
	usage_error "unknown option '--bogus'" "$EDL" list --bogus
	usage_error "unexpected argument 'extra'" "$EDL" list extra
	usage_error "unknown option '--bogus'" "$EDL" identify --bogus
	usage_error "unexpected argument 'extra'" "$EDL" identify extra
	usage_error "no subcommand given" "$EDL" config
	usage_error "unknown subcommand 'frob'" "$EDL" config frob
	usage_error "unexpected argument 'extra'" "$EDL" config check extra
	check "run --help documents --inflight 1-8" sh -c "'$EDL' run --help | grep -q -- '--inflight N .*1-8'"
	"$EDL" bogus >"$W/stdout" 2>"$OUT"
	check "unknown command: exit 2, two lines" sh -c "[ $? -eq 2 ] && [ \$(wc -l <'$OUT') -eq 2 ] && grep -q \"unknown command 'bogus'\" '$OUT'"
	version=$(sed -n 's/^project(edlstation VERSION \([0-9.]*\).*/\1/p' "$HERE/../../CMakeLists.txt")
	check "--version prints edlstation $version" [ "$("$EDL" --version)" = "edlstation $version" ]
	# --db in a missing directory: named as the database (not its .lock), exit 2.
	mkdir -p "$W/pkg"
	"$EDL" run --package "$W/pkg" --db "$W/nodir/r.db" >"$OUT" 2>&1
	rc=$?
	check "--db in a missing directory: exit 2" [ "$rc" -eq 2 ]
	check "--db in a missing directory: names the database's directory and the fix" grep -q -F -- "edlstation run: --db: directory $W/nodir does not exist — create it (install -d -o edlstation $W/nodir) or give another --db" "$OUT"
	check "--db in a missing directory: no .lock named" sh -c "! grep -q '\.lock' '$OUT'"
	# Outside an emulated line there is no EDL device: said, exit 0.
	"$EDL" list >"$OUT" 2>&1
	check "list, no device: exit 0 and said" sh -c "[ $? -eq 0 ] && grep -q '(no EDL devices)' '$OUT'"
	;;
*)
	echo "unknown test $TEST"
	exit 2
	;;
esac
[ "$fails" -eq 0 ] || exit 1
