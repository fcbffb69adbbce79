#!/bin/sh
# SPDX-License-Identifier: MIT
# concurrent.sh - 16 shell loops allocate 100 IDs each from one pool of
# 1600, at the same time, exactly as scripts would: every ID handed out
# once, then the pool is full (exit 3), and freeing them all empties it.
. "$(dirname "$0")/lib.sh"

newpool P conc
newfile OUT conc
LOOPS=16
EACH=100
TOTAL=$((LOOPS * EACH))

check "create a pool of $TOTAL" "$CLI" -p "$P" create --capacity $TOTAL --no-owners

i=0
pids=
while [ $i -lt $LOOPS ]; do
	(
		j=0
		while [ $j -lt $EACH ]; do
			"$CLI" -p "$P" allocate >>"$OUT.$i" || echo "fail $?" >>"$OUT.$i"
			j=$((j + 1))
		done
	) &
	pids="$pids $!"
	TMPFILES="$TMPFILES $OUT.$i"
	i=$((i + 1))
done
wait $pids

cat "$OUT".* >"$OUT"
check "no allocate failed" sh -c "! grep -q fail '$OUT'"
check "$TOTAL lines of output" test "$(wc -l <"$OUT")" -eq $TOTAL
check "$TOTAL distinct IDs" test "$(sort -u "$OUT" | wc -l)" -eq $TOTAL
check "every ID is a number in 0..$((TOTAL - 1))" \
	test "$(awk -v t=$TOTAL '/^[0-9]+$/ && $1 < t' "$OUT" | wc -l)" -eq $TOTAL
check "stat says used $TOTAL" test "$(stat_used -p "$P")" = $TOTAL
check "list says 0-$((TOTAL - 1))" test "$("$CLI" -p "$P" list)" = "0-$((TOTAL - 1))"
status_is 3 "one more allocate on the full pool" -p "$P" allocate
check "free - of all $TOTAL IDs" sh -c "'$CLI' -p '$P' free - <'$OUT'"
check "stat says used 0" test "$(stat_used -p "$P")" = 0
check "list is empty" test -z "$("$CLI" -p "$P" list)"

done_testing
