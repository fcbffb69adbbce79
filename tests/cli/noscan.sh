#!/bin/sh
# SPDX-License-Identifier: MIT
# noscan.sh - free, test, chown, allocate --id and --in read a few words,
# whatever the pool's size: no whole-pool scan for a single ID.
#
# tests/cli-counted is the tool built over the library's sources with
# NB_COUNT_READS: every bitmap word and owner record read adds one, and
# the count is written to $NB_COUNT_READS_FILE at exit. The pool has 2^24
# IDs (2^18 words); stat, which counts, is the control that shows the
# counter sees a scan.
. "$(dirname "$0")/lib.sh"

COUNTED=${top_builddir:-.}/tests/cli-counted
[ -x "$COUNTED" ] || { echo "Bail out! $COUNTED is not built"; exit 99; }
newpool P big
newpool O bigown
newfile F noscan
CNT=$F.count
TMPFILES="$TMPFILES $CNT"

# reads DESCRIPTION MAX ARGS...: the counted tool with ARGS reads at most MAX words.
reads() {
	desc=$1 max=$2
	shift 2
	rm -f "$CNT"
	NB_COUNT_READS_FILE=$CNT "$COUNTED" "$@" >/dev/null 2>&1
	st=$?
	n=$(cat "$CNT" 2>/dev/null)
	if [ -n "$n" ] && [ "$n" -le "$max" ]; then
		ok "$desc: $n words read (exit $st)"
	else
		not_ok "$desc: '$n' words read, more than $max (exit $st)"
	fi
}

check "create a pool of 2^24 IDs" "$CLI" -p "$P" create --capacity 16777216 --no-owners
"$CLI" -p "$P" allocate --id 12345678 >/dev/null
"$CLI" -p "$P" allocate --id 9000000 >/dev/null

reads "test 12345678" 16 -p "$P" test 12345678
reads "test 42 (free)" 16 -p "$P" test 42
reads "free 9000000" 64 -p "$P" free 9000000
reads "free 9000000 again (not allocated)" 64 -p "$P" free 9000000
reads "allocate --id 7" 64 -p "$P" allocate --id 7
reads "allocate --in 16000000-16000010" 256 -p "$P" allocate --in 16000000-16000010
reads "test --json 7" 16 -p "$P" test 7 --json

# The control: stat counts every word, and the counter sees it.
rm -f "$CNT"
NB_COUNT_READS_FILE=$CNT "$COUNTED" -p "$P" stat >/dev/null
n=$(cat "$CNT")
check "control: stat reads every word ($n >= 262144)" test "$n" -ge 262144

# An owners pool of 2^20 IDs: the owner record is one more word.
check "create an owners pool of 2^20 IDs" "$CLI" -p "$O" create --capacity 1048576
"$CLI" -p "$O" allocate --owner $$ --id 1000000 >/dev/null
reads "owners: test 1000000" 16 -p "$O" test 1000000
reads "owners: chown 1000000 \$\$" 16 -p "$O" chown 1000000 $$
reads "owners: free 1000000" 64 -p "$O" free 1000000

done_testing
