#!/bin/sh
# SPDX-License-Identifier: MIT
# hostile.sh - hostile names and paths through the tool: "..", "a/b", very
# long names, names of existing files that are not pools, a --file that is a
# symbolic link (to a pool or to nothing), a directory or a FIFO. Each is
# refused with a message, and what it names is left exactly as it was.
. "$(dirname "$0")/lib.sh"

newfile F hostile
newfile T target
newfile L link
newfile D dangling
newfile Q fifo
newfile R dir
newpool J junk
JUNK=/dev/shm/$J

# refused WANT DESCRIPTION ARGS...: exit status WANT, a "numballoc-cli: ..."
# message on standard error, nothing on standard output.
refused() {
	want=$1
	desc=$2
	shift 2
	"$CLI" "$@" </dev/null >"$F.out" 2>"$F.err"
	got=$?
	why=
	[ "$got" -eq "$want" ] || why="$why, expected $want"
	[ -s "$F.out" ] && why="$why, wrote to stdout"
	grep -q '^numballoc-cli: .*: ' "$F.err" || why="$why, no 'numballoc-cli: WHAT: WHY' message"
	if [ -z "$why" ]; then ok "$desc: exit $got"; else not_ok "$desc: exit $got$why"; fi
}

# Names the library refuses before touching /dev/shm.
for n in .. /.. . a/b ../etc/passwd "/a/b" ""; do
	refused 2 "pool name '$n' (list)" -p "$n" list
	refused 2 "pool name '$n' (allocate, which would create)" -p "$n" allocate
done
long=$(printf 'x%.0s' $(seq 1 201))
refused 2 "a 201-character pool name" -p "$long" create --capacity 5
check "...and nothing of that name exists" test ! -e "/dev/shm/$long"
long200=nbt-$$-$(printf 'y%.0s' $(seq 1 190))
long200=$(printf '%.200s' "$long200")
POOLS="$POOLS $long200"
check "a 200-character pool name is fine" "$CLI" -p "$long200" create --capacity 5
outputs "...and works" "0" -p "$long200" allocate

# An existing file in /dev/shm that is not a pool.
printf 'precious data\n' >"$JUNK"
for cmd in list stat "allocate" "create --capacity 10" "free 0" "test 0" "destroy"; do
	# shellcheck disable=SC2086
	"$CLI" -p "$J" $cmd </dev/null >"$F.out" 2>"$F.err"
	got=$?
	if [ "$got" -ne 0 ] && [ "$(cat "$JUNK")" = "precious data" ] && [ ! -s "$F.out" ]; then
		ok "'$cmd' on a /dev/shm file that is not a pool: exit $got, file untouched"
	else
		not_ok "'$cmd' on a /dev/shm file that is not a pool: exit $got, file now '$(cat "$JUNK")'"
	fi
done
check "destroy --force removes it" "$CLI" -p "$J" destroy --force
check "...it is gone" test ! -e "$JUNK"

# A --file that is a symbolic link: O_NOFOLLOW, whatever it points to.
"$CLI" --file "$T" create --capacity 10 --no-owners >/dev/null && "$CLI" --file "$T" allocate >/dev/null ||
	{ echo "Bail out! cannot make the target pool"; exit 99; }
ln -s "$T" "$L"
refused 1 "--file a symlink to a pool (list)" --file "$L" list
refused 1 "--file a symlink to a pool (allocate)" --file "$L" allocate
refused 1 "--file a symlink to a pool (destroy)" --file "$L" destroy
outputs "...the pool behind it is unchanged" "0" --file "$T" list
check "...and the symlink is still there" test -L "$L"
ln -s "/nonexistent-$$/pool" "$D"
refused 1 "--file a dangling symlink (create)" --file "$D" create --capacity 10
refused 1 "--file a dangling symlink (allocate creates)" --file "$D" allocate
check "...nothing was created where it points" test ! -e "/nonexistent-$$"

# A directory, a FIFO, a device, a missing directory.
mkdir "$R"
refused 1 "--file a directory (list)" --file "$R" list
refused 1 "--file a directory (create)" --file "$R" create --capacity 10
refused 1 "--file a directory (destroy --force)" --file "$R" destroy --force
check "...the directory is still there" test -d "$R"
rmdir "$R"
mkfifo "$Q"
refused 1 "--file a FIFO (create)" --file "$Q" create --capacity 10
check "...the FIFO is still there" test -p "$Q"
refused 1 "--file /dev/null (list)" --file /dev/null list
refused 1 "--file in a missing directory (create)" --file "/nonexistent-$$/pool" create --capacity 3

done_testing
