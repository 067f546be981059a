# Shared by the end-to-end scripts (sourced): report a failed check with the
# tail of the station's output ($OUT), run a check, query the results ($DB).
# The caller sets OUT and DB and starts fails=0; it exits with $fails.
fail() {
	echo "FAIL: $*"
	echo "---- station output (last 40 lines)"
	tail -40 "$OUT" 2>/dev/null
	fails=$((fails + 1))
}
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then echo "ok: $what"; else fail "$what"; fi
}
sql() { sqlite3 -batch -noheader "$DB" "$1"; }
