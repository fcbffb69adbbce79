#!/bin/sh
# SPDX-License-Identifier: MIT
# owners.sh - owner records through the tool, as a script uses them:
# create --owners, allocate --owner $$ (and for another live process),
# list --owner, owners in list --json, reclaim after holders die, automatic
# reclaim when the pool is full, and the errors of pools without owners.
. "$(dirname "$0")/lib.sh"

newpool P owners
newpool N plain
newpool A auto
newfile F owners
S=
trap 'if [ -n "$S" ]; then kill "$S" 2>/dev/null; fi; cleanup' EXIT

check "create (owners by default)" "$CLI" -p "$P" create --capacity 20
check "...stat says owners: yes" sh -c "\"\$1\" -p \"\$2\" stat | grep -q '^owners: *yes$'" sh "$CLI" "$P"
outputs "allocate --owner \$\$ --count 3" "0 1 2" -p "$P" allocate --owner $$ --count 3
outputs "...list --owner \$\$" "0-2" -p "$P" list --owner $$

# A holder that lives for a while, then dies.
sleep 300 >/dev/null 2>&1 &
S=$!
outputs "allocate --owner (a live process) --block 4" "3" -p "$P" allocate --owner "$S" --block 4
outputs "allocate --owner (it) --id 10" "10" -p "$P" allocate --owner "$S" --id 10
outputs "...list --owner it" "3-6 10" -p "$P" list --owner "$S"
outputs "...list shows everything, with holders" "0-2 $$ 3-6 $S 10 $S" -p "$P" list
outputs "reclaim while all holders live: nothing" "" -p "$P" reclaim

# list --json: runs split by holder, each with its owner.
json=$("$CLI" -p "$P" list --json)
if printf '%s' "$json" | json_ok; then
	ok "list --json parses"
	got=$(printf '%s' "$json" | json_get \
		'[.[] | "\(.first)+\(.count)@\(.owner)"] | join(" ")' \
		'" ".join("%d+%d@%d" % (r["first"], r["count"], r["owner"]) for r in d)')
	want="0+3@$$ 3+4@$S 10+1@$S"
	if [ "$got" = "$want" ]; then ok "...with owners: $got"; else not_ok "...got '$got', expected '$want'"; fi
else
	[ $? -eq 2 ] && skip "list --json parses" "no jq or python3" || not_ok "list --json parses: $json"
fi

kill "$S"
wait "$S" 2>/dev/null
outputs "reclaim after the holder died prints the 5 IDs" "3 4 5 6 10" -p "$P" reclaim
outputs "...only ours are left" "0-2 $$" -p "$P" list
outputs "...list --owner (the dead one) is empty" "" -p "$P" list --owner "$S"
outputs "reclaim again: nothing" "" -p "$P" reclaim

# Without --owner the holder is the process that ran the tool: this shell.
X=$("$CLI" -p "$P" allocate)
check "allocate without --owner on a pool with owners: $X" test "$X" = 3
check "...held by the shell that ran it" sh -c '"$1" -p "$2" list | grep -qx "0-3 $3"' sh "$CLI" "$P" $$
check "...test --json names it" sh -c '"$1" -p "$2" test 3 --json | grep -q "\"owner\": $3}"' sh "$CLI" "$P" $$
check "...free it" "$CLI" -p "$P" free 3

# The pool full of a dead holder's IDs: allocate reclaims by itself.
check "create --owners (3 IDs)" "$CLI" -p "$A" create --capacity 3 --owners
sleep 300 >/dev/null 2>&1 &
S=$!
outputs "a live holder takes all 3" "0 1 2" -p "$A" allocate --owner "$S" --count 3
status_is 3 "...the pool is full" -p "$A" allocate --owner $$
kill "$S"
wait "$S" 2>/dev/null
outputs "...after it dies allocate succeeds (automatic reclaim)" "0" -p "$A" allocate --owner $$
outputs "...and the rest were reclaimed too" "0 $$" -p "$A" list

# A file-backed pool with owners, and free of an owned ID.
check "create --owners --file" "$CLI" --file "$F" create --capacity 8 --owners
outputs "...allocate --owner \$\$" "0" --file "$F" allocate --owner $$
check "...free it" "$CLI" --file "$F" free 0
outputs "...list is empty" "" --file "$F" list

# Errors: nothing changes.
BEFORE=$("$CLI" -p "$P" list)
status_is 1 "allocate --owner (no such process)" -p "$P" allocate --owner 4194303
status_is 2 "allocate --owner (not a number)" -p "$P" allocate --owner abc
status_is 2 "allocate --owner 0" -p "$P" allocate --owner 0
status_is 2 "list --owner (not a number)" -p "$P" list --owner x
check "...the pool is unchanged" test "$("$CLI" -p "$P" list)" = "$BEFORE"
check "a pool without owners" "$CLI" -p "$N" create --capacity 10 --no-owners
status_is 1 "...reclaim on it" -p "$N" reclaim
status_is 1 "...allocate --owner on it" -p "$N" allocate --owner $$
status_is 1 "...list --owner on it" -p "$N" list --owner $$
status_is 1 "...free --owner on it" -p "$N" free --owner $$
outputs "...nothing was allocated" "" -p "$N" list
status_is 2 "reclaim takes no arguments" -p "$P" reclaim 5

done_testing
