#!/bin/sh
# SPDX-License-Identifier: MIT
# idempotent.sh - create twice with the same parameters succeeds and says
# "exists"; with other ones it fails with exit status 5 and names each
# difference; --mode is exact whatever the umask (fchmod at creation).
. "$(dirname "$0")/lib.sh"

newpool P idem
newpool O mode
newpool U mode2
newfile F idem

check "create" "$CLI" -p "$P" create --capacity 1000 --base 20000 --policy cyclic
"$CLI" -p "$P" allocate >/dev/null
"$CLI" -p "$P" create --capacity 1000 --base 20000 --policy cyclic >"$F.out" 2>"$F.err"
got=$?
check "create again, same parameters: exit 0 (got $got)" test $got = 0
check "...says 'exists' on standard error" grep -q "^numballoc-cli: pool $P: exists" "$F.err"
check "...prints nothing on standard output" test ! -s "$F.out"
check "...the pool is untouched (its ID is still held)" test "$(stat_used -p "$P")" = 1
json=$("$CLI" -p "$P" create --capacity 1000 --base 20000 --policy cyclic --json 2>/dev/null)
check "create --json on it says created: false" sh -c 'printf "%s" "$1" | grep -q "\"created\": false"' sh "$json"

# differ WHAT ARGS...: exit 5, the message names WHAT, nothing changed.
differ() {
	what=$1
	shift
	"$CLI" -p "$P" create "$@" >"$F.out" 2>"$F.err"
	got=$?
	if [ $got -eq 5 ] && grep -q "exists with other parameters: .*$what" "$F.err" &&
		[ ! -s "$F.out" ] && [ "$(stat_used -p "$P")" = 1 ]; then
		ok "create with another $what: exit 5, $(cat "$F.err")"
	else
		not_ok "create with another $what: exit $got, '$(cat "$F.err")'"
	fi
}
differ "capacity 1000 (asked: 500)" --capacity 500 --base 20000 --policy cyclic
differ "base 20000 (asked: 0)" --capacity 1000 --policy cyclic
differ "policy cyclic (asked: lowest)" --capacity 1000 --base 20000
differ "owners (asked: --no-owners)" --capacity 1000 --base 20000 --policy cyclic --no-owners
differ "mode 0600 (asked: 0644)" --capacity 1000 --base 20000 --policy cyclic --mode 0644
"$CLI" -p "$P" create --capacity 1 --base 1 >/dev/null 2>"$F.err"
check "...several differences are all named" \
	grep -q "capacity 1000 (asked: 1), base 20000 (asked: 1), policy cyclic (asked: lowest)" "$F.err"

# --mode is exact: the umask takes nothing away.
(umask 077 && "$CLI" -p "$O" create --mode 0664)
check "create --mode 0664 under umask 077 gives 664" test "$(stat -c %a "/dev/shm/$O")" = 664
(umask 077 && "$CLI" -p "$O" create --mode 0664 2>/dev/null)
check "...create again with the same --mode: exit 0" test $? = 0
(umask 022 && "$CLI" -p "$U" allocate --no-owners >/dev/null)
check "allocate on a missing pool: mode 600 whatever the umask" test "$(stat -c %a "/dev/shm/$U")" = 600
(umask 077 && "$CLI" --file "$F" create --mode 0640)
check "--file create --mode 0640 under umask 077 gives 640" test "$(stat -c %a "$F")" = 640

done_testing
