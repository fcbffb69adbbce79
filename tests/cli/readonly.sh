#!/bin/sh
# SPDX-License-Identifier: MIT
# readonly.sh - stat, list, map, test and export as a user who may read
# the pool's object but not write it (nobody, through setpriv or runuser):
# they work and change nothing; what writes is refused with a message that
# says why. A 0600 object (the default mode) cannot be read by others.
#
# /dev/shm objects are made with the mode asked for (0600 by default), so
# the test pool is created with --mode 0644. Skipped when this is not root
# or neither setpriv nor runuser can drop to nobody.
. "$(dirname "$0")/lib.sh"

newpool P ro
newpool Q priv
S=
trap 'if [ -n "$S" ]; then kill "$S" 2>/dev/null; fi; cleanup' EXIT

as_nobody() {
	if command -v setpriv >/dev/null 2>&1; then
		setpriv --reuid=65534 --regid=65534 --clear-groups env LD_LIBRARY_PATH="$LD_LIBRARY_PATH" "$@"
	else
		runuser -u nobody -- env LD_LIBRARY_PATH="$LD_LIBRARY_PATH" "$@"
	fi
}

if [ "$(id -u)" -ne 0 ]; then
	skip "read-only looks as nobody" "not root: cannot become another user"
	done_testing
fi
if ! as_nobody true 2>/dev/null; then
	skip "read-only looks as nobody" "neither setpriv nor runuser can become nobody"
	done_testing
fi
# nobody must reach the tool and its library: the build tree may be private.
if ! as_nobody "$CLI" --version >/dev/null 2>&1; then
	skip "read-only looks as nobody" "nobody cannot run $CLI (build tree not readable)"
	done_testing
fi

sleep 300 >/dev/null 2>&1 &
S=$!
check "create --mode 0644 (readable by all)" "$CLI" -p "$P" create --capacity 100 --base 1000 --mode 0644
"$CLI" -p "$P" allocate --owner "$S" --count 3 >/dev/null
"$CLI" -p "$P" allocate --owner $$ --id 1050 >/dev/null
check "...its object is -rw-r--r--" test "$(stat -c %a "/dev/shm/$P")" = 644
BEFORE=$("$CLI" -p "$P" list; "$CLI" -p "$P" stat; md5sum <"/dev/shm/$P")

prints "nobody: stat" "$("$CLI" -p "$P" stat | tr '\n' ' ' | sed 's/ $//')" \
	as_nobody "$CLI" -p "$P" stat
prints "nobody: list (with holders)" "1000-1002 $S 1050 $$" as_nobody "$CLI" -p "$P" list
prints "nobody: list --owner" "1050" as_nobody "$CLI" -p "$P" list --owner $$
out=$(as_nobody "$CLI" -p "$P" map)
check "nobody: map" sh -c 'printf "%s\n" "$1" | grep -q "^used 4 of 100"' sh "$out"
check "nobody: test 1001 (allocated): exit 0" as_nobody "$CLI" -p "$P" test 1001
as_nobody "$CLI" -p "$P" test 1010
check "nobody: test 1010 (free): exit 1" test $? = 1
out=$(as_nobody "$CLI" -p "$P" test 1050 --json)
check "nobody: test --json: $out" sh -c 'printf "%s" "$1" | grep -q "\"allocated\": true, \"owner\": $2}"' sh "$out" $$
out=$(as_nobody "$CLI" -p "$P" export)
check "nobody: export" sh -c 'printf "%s" "$1" | grep -q "\"used\": 4"' sh "$out"

# Writes are refused, with a reason.
for cmd in "allocate" "free 1000" "reclaim" "chown 1000 $$" "free --owner $S" "destroy"; do
	# shellcheck disable=SC2086
	as_nobody "$CLI" -p "$P" $cmd >/dev/null 2>"${TMPDIR:-/tmp}/nbt-$$-ro.err"
	got=$?
	if [ $got -ne 0 ] && grep -q "ermission denied" "${TMPDIR:-/tmp}/nbt-$$-ro.err"; then
		ok "nobody: $cmd is refused: exit $got, $(cat "${TMPDIR:-/tmp}/nbt-$$-ro.err")"
	else
		not_ok "nobody: $cmd: exit $got, '$(cat "${TMPDIR:-/tmp}/nbt-$$-ro.err")'"
	fi
done
TMPFILES="$TMPFILES ${TMPDIR:-/tmp}/nbt-$$-ro.err"
AFTER=$("$CLI" -p "$P" list; "$CLI" -p "$P" stat; md5sum <"/dev/shm/$P")
check "the pool is unchanged, byte for byte" test "$AFTER" = "$BEFORE"

# The default mode is 0600: others cannot even look.
check "create (default mode)" "$CLI" -p "$Q" create --capacity 10
check "...its object is -rw-------" test "$(stat -c %a "/dev/shm/$Q")" = 600
as_nobody "$CLI" -p "$Q" stat >/dev/null 2>"${TMPDIR:-/tmp}/nbt-$$-ro.err"
got=$?
check "nobody: stat of a 0600 pool fails with 'permission denied' (exit $got)" \
	grep -q "ermission denied" "${TMPDIR:-/tmp}/nbt-$$-ro.err"

done_testing
