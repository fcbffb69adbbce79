#!/bin/sh
# SPDX-License-Identifier: MIT
# badinput.sh - a table of bad inputs, each with its expected exit status,
# and the pool verified unchanged after each (list and stat compared):
# a bad argument changes nothing.
. "$(dirname "$0")/lib.sh"

newpool P bad
newpool M missing
newfile F bad

"$CLI" -p "$P" create --capacity 100 --base 10 --no-owners >/dev/null &&
	"$CLI" -p "$P" allocate --count 5 >/dev/null &&
	"$CLI" -p "$P" allocate --id 50 >/dev/null &&
	"$CLI" -p "$P" allocate --id 109 >/dev/null ||
	{ echo "Bail out! cannot set the pool up"; exit 99; }
BEFORE=$("$CLI" -p "$P" list; "$CLI" -p "$P" stat)
check "the pool is set up: 10-14, 50, 109" \
	test "$("$CLI" -p "$P" list | tr '\n' ' ')" = "10-14 50 109 "

# bad WANT DESCRIPTION ARGS...: exit status WANT, a "numballoc-cli: WHAT: WHY"
# message, nothing on standard output, and the pool unchanged.
bad() {
	want=$1
	desc=$2
	shift 2
	"$CLI" "$@" </dev/null >"$F.out" 2>"$F.err"
	got=$?
	after=$("$CLI" -p "$P" list; "$CLI" -p "$P" stat)
	why=
	[ "$got" -eq "$want" ] || why="$why, expected $want"
	[ "$after" = "$BEFORE" ] || why="$why, POOL CHANGED"
	[ -s "$F.out" ] && why="$why, wrote to stdout"
	grep -q '^numballoc-cli: .*: ' "$F.err" || why="$why, no 'numballoc-cli: WHAT: WHY' message"
	if [ -z "$why" ]; then
		ok "$desc: exit $got, pool unchanged"
	else
		not_ok "$desc: exit $got$why"
	fi
}

bad 2 "no command" -p "$P"
bad 2 "unknown command" -p "$P" frobnicate
bad 2 "unknown global option" --frob -p "$P" list
bad 2 "unknown command option" -p "$P" list --frob
bad 2 "global option after the command" list -p "$P"
bad 2 "--pool without a value" --pool
bad 2 "empty pool name" -p "" list
bad 2 "pool name with a slash" -p "a/b" list
bad 2 "--pool and --file together" -p "$P" --file /tmp/x list
bad 2 "--json on allocate --count -1" -p "$P" --json allocate --count -1
bad 2 "allocate --count -1 (negative)" -p "$P" allocate --count -1
bad 2 "allocate --count 2^64 (overflow)" -p "$P" allocate --count 18446744073709551616
bad 2 "allocate --count 0x1ffffffffffffffff (hex overflow)" -p "$P" allocate --count 0x1ffffffffffffffff
bad 2 "allocate --count 5x (junk)" -p "$P" allocate --count 5x
bad 2 "allocate --count ' 5' (space)" -p "$P" allocate --count " 5"
bad 2 "allocate --count +5 (sign)" -p "$P" allocate --count +5
bad 2 "allocate --count '' (empty)" -p "$P" allocate --count ""
bad 2 "allocate --count 0x (no digits)" -p "$P" allocate --count 0x
bad 2 "allocate --count 0" -p "$P" allocate --count 0
bad 2 "allocate --count 101 (more than the pool)" -p "$P" allocate --count 101
bad 2 "allocate --id 9 (below the base)" -p "$P" allocate --id 9
bad 2 "allocate --id 110 (past the end)" -p "$P" allocate --id 110
bad 2 "allocate --id 0xg" -p "$P" allocate --id 0xg
bad 2 "allocate --in 40-20 (reversed)" -p "$P" allocate --in 40-20
bad 2 "allocate --in 5-20 (outside)" -p "$P" allocate --in 5-20
bad 2 "allocate --in 20 (no range)" -p "$P" allocate --in 20
bad 2 "allocate --in 20- (no end)" -p "$P" allocate --in 20-
bad 2 "allocate --in 20-30 --count 12 (more than the range)" -p "$P" allocate --in 20-30 --count 12
bad 2 "allocate --block 0" -p "$P" allocate --block 0
bad 2 "allocate --block 101" -p "$P" allocate --block 101
bad 2 "allocate --block 4 --align 3" -p "$P" allocate --block 4 --align 3
bad 2 "allocate --align 4 without --block" -p "$P" allocate --align 4
bad 2 "allocate --id 20 --count 2" -p "$P" allocate --id 20 --count 2
bad 2 "allocate with an argument" -p "$P" allocate 20
bad 2 "allocate -n without a value" -p "$P" allocate -n
bad 2 "allocate --id 70000 on a missing pool (not created)" -p "$M" allocate --id 70000
check "...and the missing pool was not created" test ! -e "/dev/shm/$M"
bad 2 "free with no ID" -p "$P" free
bad 2 "free 12 abc (junk after a good ID)" -p "$P" free 12 abc
bad 2 "free 12 200 (out of range after a good ID)" -p "$P" free 12 200
bad 2 "free 12 -1 (negative after a good ID)" -p "$P" free 12 -1
bad 2 "free 12 2^64 (overflow after a good ID)" -p "$P" free 12 18446744073709551616
bad 2 "free 12 - (dash not alone)" -p "$P" free 12 -
bad 2 "free --block 12 (no count)" -p "$P" free --block 12
bad 2 "free --block 12 0" -p "$P" free --block 12 0
bad 2 "free --block 100 20 (past the end)" -p "$P" free --block 100 20
bad 2 "test with no ID" -p "$P" test
bad 2 "test 12 13" -p "$P" test 12 13
bad 2 "test abc" -p "$P" test abc
bad 2 "test 9 (below the base)" -p "$P" test 9
bad 2 "list with an argument" -p "$P" list 3
bad 2 "stat --frob" -p "$P" stat --frob
bad 2 "map with an argument" -p "$P" map x
bad 2 "destroy with an argument" -p "$P" destroy x
bad 2 "create --capacity 0" -p "$P" create --capacity 0
bad 2 "create --capacity 2^40+1" -p "$P" create --capacity 0x10000000001
bad 2 "create --base so the end passes 2^64-1" -p "$P" create --capacity 10 --base 18446744073709551610
bad 2 "create --policy random" -p "$P" create --policy random
bad 2 "create --mode 0999" -p "$P" create --mode 0999
bad 5 "create on an existing pool with other parameters (owners)" -p "$P" create --capacity 100 --base 10
bad 1 "free on a pool that does not exist" -p "$M" free 3
bad 1 "list on a pool that does not exist" -p "$M" list
bad 2 "test on a pool that does not exist" -p "$M" test 3
bad 1 "destroy on a pool that does not exist" -p "$M" destroy
check "...and the missing pool was not created" test ! -e "/dev/shm/$M"
bad 3 "allocate --count 94 with 92 free" -p "$P" allocate --count 94
bad 3 "allocate --block 60 (no run that long)" -p "$P" allocate --block 60
bad 4 "allocate --id 12 (already allocated)" -p "$P" allocate --id 12
bad 4 "free 30 (not allocated)" -p "$P" free 30
bad 4 "free --block 10 10 (15-19 not allocated: nothing freed)" -p "$P" free --block 10 10
printf '12 13\nx\n' >"$F.in"
TMPFILES="$TMPFILES $F.in"
"$CLI" -p "$P" free - <"$F.in" >/dev/null 2>&1
got=$?
check "free - with junk on standard input: exit $got (2), nothing freed" \
	test $got = 2 -a "$("$CLI" -p "$P" list; "$CLI" -p "$P" stat)" = "$BEFORE"

done_testing
