#!/bin/sh
# SPDX-License-Identifier: MIT
# recovery.sh - recovery by default: pools the tool creates record owners
# (unless --no-owners); allocate without --owner records the process that
# ran the tool; a script killed with SIGKILL gets its IDs reclaimed, and
# reclaim prints them; --owner PID still names another process; free
# --owner PID frees what PID holds; plain list shows the holders.
. "$(dirname "$0")/lib.sh"

newpool P rec
newpool Q noown
newpool M missing
S=
trap 'if [ -n "$S" ]; then kill "$S" 2>/dev/null; fi; cleanup' EXIT

check "create" "$CLI" -p "$P" create --capacity 32
check "...records owners by default" sh -c '"$1" -p "$2" stat | grep -q "^owners: *yes$"' sh "$CLI" "$P"
check "create --no-owners" "$CLI" -p "$Q" create --capacity 32 --no-owners
check "...records none" sh -c '"$1" -p "$2" stat | grep -q "^owners: *no$"' sh "$CLI" "$Q"
X=$("$CLI" -p "$M" allocate)
check "allocate on a missing pool creates it: $X" test "$X" = 0
check "...with owners" sh -c '"$1" -p "$2" stat | grep -q "^owners: *yes$"' sh "$CLI" "$M"
check "...held by this shell (the tool's parent)" test "$("$CLI" -p "$M" list)" = "0 $$"
status_is 2 "allocate --owner with --no-owners" -p "$M" allocate --owner $$ --no-owners

# A script takes an ID the plain way and is killed with SIGKILL.
sh -c 'id=$("$1" -p "$2" allocate) || exit 1; echo "$id" >"$3"; exec sleep 300' \
	sh "$CLI" "$P" "${TMPDIR:-/tmp}/nbt-$$-rec.id" &
S=$!
TMPFILES="$TMPFILES ${TMPDIR:-/tmp}/nbt-$$-rec.id"
i=0
while [ ! -s "${TMPDIR:-/tmp}/nbt-$$-rec.id" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ID=$(cat "${TMPDIR:-/tmp}/nbt-$$-rec.id" 2>/dev/null)
check "a script's allocate (no --owner) got ID 0" test "$ID" = 0
outputs "...plain list shows the script as its holder" "0 $S" -p "$P" list
outputs "...reclaim while it lives frees nothing" "" -p "$P" reclaim
kill -9 "$S"
wait "$S" 2>/dev/null
S=
outputs "after kill -9, reclaim prints the ID it freed" "0" -p "$P" reclaim
outputs "...and the pool is empty" "" -p "$P" list

# --owner PID still names another process.
sleep 300 >/dev/null 2>&1 &
S=$!
outputs "allocate --owner PID --count 3" "0 1 2" -p "$P" allocate --owner "$S" --count 3
outputs "...list shows that holder" "0-2 $S" -p "$P" list
outputs "allocate (this shell)" "3" -p "$P" allocate --owner $$
outputs "...list shows both holders" "0-2 $S 3 $$" -p "$P" list
json=$("$CLI" -p "$P" free --owner "$S" --json)
check "free --owner PID frees its 3 IDs, the holder alive: $json" \
	sh -c 'printf "%s" "$1" | grep -q "\"owner\": $2, \"freed\": 3}"' sh "$json" "$S"
outputs "...what others hold stays" "3 $$" -p "$P" list
check "free --owner PID again: nothing to free, success" "$CLI" -p "$P" free --owner "$S"
status_is 2 "free --owner with IDs" -p "$P" free --owner "$S" 3
status_is 2 "free --owner -1" -p "$P" free --owner -1
status_is 1 "free --owner on a pool without owners" -p "$Q" free --owner $$
kill "$S"
wait "$S" 2>/dev/null
S=

# reclaim --json names each ID and its dead holder.
sh -c '"$1" -p "$2" allocate -n 2 >/dev/null; exit 0' sh "$CLI" "$P"
json=$("$CLI" -p "$P" reclaim --json)
if printf '%s' "$json" | json_ok; then
	got=$(printf '%s' "$json" | json_get '[.[] | .id] | join(" ")' '" ".join(str(r["id"]) for r in d)')
	check "reclaim --json after a script exited: IDs $got" test "$got" = "0 1"
else
	[ $? -eq 2 ] && skip "reclaim --json" "no jq or python3" || not_ok "reclaim --json parses: $json"
fi
outputs "...only this shell's ID is left" "3 $$" -p "$P" list

done_testing
