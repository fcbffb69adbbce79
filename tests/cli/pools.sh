#!/bin/sh
# SPDX-License-Identifier: MIT
# pools.sh - numballoc-cli pools lists the numballoc pools of this host with
# their kind, capacity and use, and leaves out objects of /dev/shm that
# have no valid numballoc header.
. "$(dirname "$0")/lib.sh"

newpool P pools
newpool J junk
newpool Z empty

check "create a pool of 300" "$CLI" -p "$P" create --capacity 300 --no-owners
"$CLI" -p "$P" allocate -n 7 >/dev/null
head -c 8192 /dev/urandom >"/dev/shm/$J"
: >"/dev/shm/$Z"

"$CLI" pools >"${TMPDIR:-/tmp}/nbt-$$-pools"
got=$?
TMPFILES="$TMPFILES ${TMPDIR:-/tmp}/nbt-$$-pools"
check "pools: exit 0 (got $got)" test $got = 0
check "...a header line" sh -c 'head -1 "$1" | grep -q "^POOL  *KIND  *CAPACITY  *USED$"' sh "${TMPDIR:-/tmp}/nbt-$$-pools"
line=$(grep "^$P " "${TMPDIR:-/tmp}/nbt-$$-pools" | tr -s ' ')
check "...our pool: '$line'" test "$line" = "$P ids 300 7"
check "...not the junk object" sh -c '! grep -q "^$1 " "$2"' sh "$J" "${TMPDIR:-/tmp}/nbt-$$-pools"
check "...not the empty object" sh -c '! grep -q "^$1 " "$2"' sh "$Z" "${TMPDIR:-/tmp}/nbt-$$-pools"
check "...nothing it cannot vouch for: every row is ids, pages or buffer" \
	sh -c 'tail -n +2 "$1" | awk "{ print \$2 }" | grep -qv "^\(ids\|pages\|buffer\)$" && exit 1; exit 0' sh "${TMPDIR:-/tmp}/nbt-$$-pools"
# A page arena and a buffer, made through the library (the tool makes ID pools only).
MKPOOL=${top_builddir:-.}/tests/mkpool
newpool G pages
newpool B buffer
if [ -x "$MKPOOL" ] && "$MKPOOL" pages "$G" 64 5 && "$MKPOOL" buffer "$B" 4096 100; then
	out=$("$CLI" pools)
	line=$(printf '%s\n' "$out" | grep "^$G " | tr -s ' ')
	check "...a page arena: '$line'" test "$line" = "$G pages 64 5"
	line=$(printf '%s\n' "$out" | grep "^$B " | tr -s ' ')
	check "...a buffer: '$line'" test "$line" = "$B buffer 4096 100"
else
	not_ok "tests/mkpool could not make a page arena and a buffer"
fi
status_is 2 "pools takes no arguments" pools x
"$CLI" -p "$P" destroy
check "after destroy it is gone from the list" sh -c '! "$1" pools | grep -q "^$2 "' sh "$CLI" "$P"

done_testing
