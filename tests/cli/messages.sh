#!/bin/sh
# SPDX-License-Identifier: MIT
# messages.sh - distinct causes, distinct messages: no such pool, an ID
# that is not allocated, a pool that exists with other parameters; "-1"
# read as a negative number; "." and ".." refused with a reason.
. "$(dirname "$0")/lib.sh"

newpool P msg
newpool M missing
newfile F msg

"$CLI" -p "$P" create --capacity 1000 --base 20000 >/dev/null ||
	{ echo "Bail out! cannot create the pool"; exit 99; }

# msg WANT-STATUS DESCRIPTION PATTERN ARGS...: the exit status, and the
# message on standard error matches PATTERN (grep -E).
msg() {
	want=$1 desc=$2 pat=$3
	shift 3
	"$CLI" "$@" >/dev/null 2>"$F.err"
	got=$?
	if [ "$got" -eq "$want" ] && grep -Eq "$pat" "$F.err"; then
		ok "$desc: exit $got, $(cat "$F.err")"
	else
		not_ok "$desc: exit $got (expected $want), message '$(cat "$F.err")' !~ /$pat/"
	fi
}

msg 1 "free on a missing pool" "^numballoc-cli: pool $M: no such pool" -p "$M" free 1
msg 4 "free of an ID that is not allocated" "^numballoc-cli: free 20500: not allocated$" -p "$P" free 20500
msg 5 "create with another capacity" \
	"^numballoc-cli: pool $P: exists with other parameters: capacity 1000 \(asked: 500\)$" \
	-p "$P" create --capacity 500 --base 20000
# The three share no words but the pool's name.
"$CLI" -p "$M" free 1 2>"$F.1"
"$CLI" -p "$P" free 20500 2>"$F.2"
"$CLI" -p "$P" create --capacity 500 --base 20000 2>"$F.3"
TMPFILES="$TMPFILES $F.1 $F.2 $F.3"
check "...the three messages differ" test "$(cat "$F.1" "$F.2" "$F.3" | sed 's/^[^:]*: [^:]*: //' | sort -u | wc -l)" = 3

msg 2 "free -1" "^numballoc-cli: -1: IDs are not negative$" -p "$P" free -1
msg 2 "test -1" "IDs are not negative" -p "$P" test -1
msg 2 "free 20000 -5 (after a good ID)" "IDs are not negative" -p "$P" free 20000 -5
msg 2 "allocate --id -1" "not negative" -p "$P" allocate --id -1
msg 2 "allocate --count -2" "not negative" -p "$P" allocate --count -2
msg 2 "create --capacity -10" "not negative" -p "$M" create --capacity -10
msg 2 "chown 20000 -1" "not negative" -p "$P" chown 20000 -1
msg 2 "-p . stat" "'\.' is not a pool name: it names a directory" -p . stat
msg 2 "-p .. stat" "'\.\.' is not a pool name: it names a directory" -p .. stat
msg 2 "-p /.. allocate" "'\.\.' is not a pool name" -p /.. allocate
msg 2 "-p '' stat" "empty pool name" -p "" stat
msg 2 "-p a/b stat" "no '/' but a leading one" -p a/b stat
check "...nothing was created" test ! -e "/dev/shm/$M"
outputs "...and the pool is unchanged" "" -p "$P" list

done_testing
