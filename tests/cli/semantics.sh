#!/bin/sh
# SPDX-License-Identifier: MIT
# semantics.sh - what the commands mean: --count all-or-nothing, the cyclic
# policy, --id conflicts, test's exit statuses, free of several IDs,
# blocks, bands, free from standard input.
. "$(dirname "$0")/lib.sh"

newpool A count
newpool C cyclic
newpool L lowest
newpool T test
newfile F sem

# --count: K IDs or none.
"$CLI" -p "$A" create --capacity 10 --no-owners
outputs "allocate --count 7 prints 7 IDs" "0 1 2 3 4 5 6" -p "$A" allocate --count 7
"$CLI" -p "$A" allocate --count 4 >"$F.out" 2>/dev/null
got=$?
check "allocate --count 4 with 3 free exits 3 (got $got)" test $got = 3
check "...prints nothing on standard output" test ! -s "$F.out"
outputs "...and takes nothing: list is 0-6" "0-6" -p "$A" list
"$CLI" -p "$A" allocate --in 2-9 --count 4 >"$F.out" 2>/dev/null
got=$?
check "allocate --in 2-9 --count 4 with 3 free there exits 3 (got $got)" test $got = 3
check "...prints nothing on standard output" test ! -s "$F.out"
outputs "...and gives back the ones it took: list is 0-6" "0-6" -p "$A" list
outputs "allocate --count 3 then takes the last 3" "7 8 9" -p "$A" allocate --count 3
outputs "list is 0-9" "0-9" -p "$A" list

# --policy cyclic: a freed ID comes back only after all the others.
"$CLI" -p "$C" create --capacity 8 --policy cyclic --no-owners
outputs "cyclic: first three" "0 1 2" -p "$C" allocate -n 3
"$CLI" -p "$C" free 1
outputs "cyclic: after free 1 the next is 3, not 1" "3" -p "$C" allocate
outputs "cyclic: then 4-7, still not 1" "4 5 6 7" -p "$C" allocate -n 4
outputs "cyclic: 1 only when nothing else is free" "1" -p "$C" allocate
status_is 3 "cyclic: then the pool is full" -p "$C" allocate
"$CLI" -p "$L" create --capacity 8 --policy lowest --no-owners
"$CLI" -p "$L" allocate -n 3 >/dev/null
"$CLI" -p "$L" free 1
outputs "lowest (for contrast): after free 1 the next is 1" "1" -p "$L" allocate

# --id, test, free of several.
"$CLI" -p "$T" create --capacity 64 --base 1000 --no-owners
outputs "allocate --id 1010 prints it" "1010" -p "$T" allocate --id 1010
"$CLI" -p "$T" allocate --id 1010 >"$F.out" 2>"$F.err"
got=$?
check "allocate --id 1010 again exits 4 (got $got)" test $got = 4
check "...names it: 'numballoc-cli: allocate --id 1010: ...'" \
	grep -q '^numballoc-cli: allocate --id 1010: ' "$F.err"
check "...prints nothing on standard output" test ! -s "$F.out"
status_is 4 "allocate --id 0x3f2 (1010 in hex) exits 4" -p "$T" allocate --id 0x3f2
status_is 0 "test 1010 (allocated)" -p "$T" test 1010
status_is 1 "test 1011 (free)" -p "$T" test 1011
status_is 2 "test 999 (outside the pool)" -p "$T" test 999
status_is 2 "test of a pool that does not exist" -p "nbt-$$-none" test 1
outputs "allocate --in 1020-1022 -n 3" "1020 1021 1022" -p "$T" allocate --in 1020-1022 -n 3
status_is 3 "allocate --in 1020-1022 when the band is full" -p "$T" allocate --in 1020-1022
outputs "allocate --in 0x3e8-0x3e9 -n 2 (hex band)" "1000 1001" -p "$T" allocate --in 0x3e8-0x3e9 -n 2
check "free 1000 1001" "$CLI" -p "$T" free 1000 1001
"$CLI" -p "$T" free 1020 1030 1021 >"$F.out" 2>"$F.err"
got=$?
check "free 1020 1030 1021 (1030 not allocated) exits 4 (got $got)" test $got = 4
check "...names 1030 and only it" \
	test "$(wc -l <"$F.err")" = 1 -a "$(cut -d: -f1-2 "$F.err")" = "numballoc-cli: free 1030"
outputs "...and frees the others: list is 1010, 1022" "1010 1022" -p "$T" list
printf '1010\n  1022\t\n' >"$F.in"
TMPFILES="$TMPFILES $F.in"
check "free - reads IDs from standard input" sh -c "'$CLI' -p '$T' free - <'$F.in'"
outputs "...and frees them" "" -p "$T" list
outputs "allocate --block 8 --align 8 gives an aligned first ID" "1000" -p "$T" allocate --block 8 --align 8
outputs "allocate --id 1009" "1009" -p "$T" allocate --id 1009
outputs "...then --block 8 --align 8 skips to 1016" "1016" -p "$T" allocate --block 8 --align 8
outputs "list shows the runs" "1000-1007 1009 1016-1023" -p "$T" list
check "free --block 1016 8" "$CLI" -p "$T" free --block 1016 8
outputs "...frees the block" "1000-1007 1009" -p "$T" list

done_testing
