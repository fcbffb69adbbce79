#!/bin/sh
# SPDX-License-Identifier: MIT
# chown.sh - numballoc-cli chown ID PID: a script takes a port, starts a
# server, gives the port to the server and exits; the port stays held while
# the server lives and is reclaimed after it dies. And the errors of chown,
# each changing nothing.
. "$(dirname "$0")/lib.sh"

newpool P chown
newpool N plain
S=
trap 'if [ -n "$S" ]; then kill "$S" 2>/dev/null; fi; cleanup' EXIT

check "create a port pool" "$CLI" -p "$P" create --capacity 100 --base 20000
# The script: allocate, start the "server", hand the port on, exit.
sh -c 'port=$("$1" -p "$2" allocate) || exit 1
	sleep 300 >/dev/null 2>&1 &
	"$1" -p "$2" chown "$port" $! || exit 1
	echo $! >"$3"' sh "$CLI" "$P" "${TMPDIR:-/tmp}/nbt-$$-srv"
TMPFILES="$TMPFILES ${TMPDIR:-/tmp}/nbt-$$-srv"
S=$(cat "${TMPDIR:-/tmp}/nbt-$$-srv")
check "the script ran and exited" test -n "$S"
outputs "the port is the server's" "20000 $S" -p "$P" list
outputs "reclaim after the script died frees nothing" "" -p "$P" reclaim
status_is 0 "...the port is still held" -p "$P" test 20000

BEFORE=$("$CLI" -p "$P" list)
status_is 4 "chown of an ID that is not allocated" -p "$P" chown 20001 "$S"
status_is 1 "chown to a process that is not running" -p "$P" chown 20000 4194303
status_is 2 "chown to PID 0" -p "$P" chown 20000 0
status_is 2 "chown to PID -1" -p "$P" chown 20000 -1
status_is 2 "chown of an ID outside the pool" -p "$P" chown 19999 "$S"
status_is 2 "chown with one argument" -p "$P" chown 20000
status_is 2 "chown ID abc" -p "$P" chown 20000 abc
check "...the pool is unchanged" test "$("$CLI" -p "$P" list)" = "$BEFORE"
"$CLI" -p "$P" chown 20001 "$S" 2>"${TMPDIR:-/tmp}/nbt-$$-srv"
check "...the message says 'not allocated'" grep -q 'is not allocated' "${TMPDIR:-/tmp}/nbt-$$-srv"
"$CLI" -p "$P" chown 20000 4194303 2>"${TMPDIR:-/tmp}/nbt-$$-srv"
check "...the message says 'not running'" grep -q 'is not running' "${TMPDIR:-/tmp}/nbt-$$-srv"

check "create a pool without owners" "$CLI" -p "$N" create --capacity 10 --no-owners
"$CLI" -p "$N" allocate >/dev/null
status_is 1 "chown on a pool without owners" -p "$N" chown 0 "$S"

json=$("$CLI" -p "$P" chown 20000 $$ --json)
check "chown back to this shell, --json: $json" \
	sh -c 'printf "%s" "$1" | grep -q "\"id\": 20000, \"owner\": $2}"' sh "$json" $$
check "chown it to the server again" "$CLI" -p "$P" chown 20000 "$S"
kill "$S"
# Not our child (the script started it): wait until it is gone or a zombie.
i=0
while [ $i -lt 100 ] && [ -r "/proc/$S/stat" ] &&
	! sed 's/.*) //' "/proc/$S/stat" 2>/dev/null | grep -q '^Z'; do
	sleep 0.05
	i=$((i + 1))
done
S=
outputs "after the server dies, reclaim frees the port" "20000" -p "$P" reclaim
outputs "...the pool is empty" "" -p "$P" list

done_testing
