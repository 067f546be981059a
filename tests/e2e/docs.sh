#!/bin/bash
# The man pages cannot drift from the binary: every command `edlstation --help`
# lists is described in edlstation(1), every option a command's --help gives is
# in edlstation(1) or is one of the few left to --help, and every key the
# config parser accepts (the key names in src/station/config.c's dispatch) is
# in edlstation.ini(5).
#   tests/e2e/docs.sh EDLSTATION SOURCE_DIR
set -u
BIN=$1
SRC=$2
fails=0
OUT=/dev/null
. "$SRC/tests/e2e/lib.sh"
man1=$SRC/config/edlstation.1.scd
man5=$SRC/config/edlstation.ini.5.scd

for cmd in $("$BIN" --help | awk '/^  [a-z]/ {print $1}'); do
	check "edlstation(1) describes '$cmd'" grep -q "^\*$cmd\*\|^\*$cmd [a-z]*\*" "$man1"
done
for key in $(grep -o 'strcmp(name, "[a-z_]*")' "$SRC/src/station/config.c" | sed 's/.*"\(.*\)".*/\1/' | sort -u); do
	check "edlstation.ini(5) documents key '$key'" grep -q "\*$key\*" "$man5"
done
for section in $(grep -o 'strcmp(section, "[a-z]*")' "$SRC/src/station/config.c" | sed 's/.*"\(.*\)".*/\1/' | sort -u); do
	check "edlstation.ini(5) documents section [$section]" grep -q "^# \[$section\]" "$man5"
done
exit $((fails > 0))
