#!/bin/sh
# SPDX-License-Identifier: MIT
# basic.sh - the tool as a script meets it: --help, --version, which pool
# is used, allocate creating a missing pool (also when many start at
# once), --file, list's ranges, map, destroy.
. "$(dirname "$0")/lib.sh"

newpool E env
newpool N new
newpool R race
newpool M map
newpool H high
newfile F basic

# The libtool wrapper of the build tree works too (lib.sh runs the program it wraps).
check "the tool as built (\$NUMBALLOC_CLI) runs" sh -c "'$NUMBALLOC_CLI' --version >/dev/null"
"$CLI" --help >"$F.out"
got=$?
check "--help exits 0 (got $got)" test $got = 0
missing=
for c in create allocate free test chown list stat map reclaim pools export import destroy --pool --file --json; do
	grep -q -e "$c" "$F.out" || missing="$missing $c"
done
check "--help names every command and global option${missing:+ (missing:$missing)}" test -z "$missing"
check "--version prints 'numballoc-cli (numballoc) VERSION'" \
	sh -c "'$CLI' --version | grep -Eq '^numballoc-cli \\(numballoc\\) [0-9]+\\.[0-9]+'"

# Which pool: --pool, else $NUMBALLOC_POOL, else "numballoc".
NUMBALLOC_POOL=$E "$CLI" create --capacity 16 >/dev/null
prints "\$NUMBALLOC_POOL names the pool" "0" env NUMBALLOC_POOL="$E" "$CLI" allocate
prints "--pool wins over \$NUMBALLOC_POOL" "1" env NUMBALLOC_POOL="nbt-$$-other" "$CLI" -p "$E" allocate
check "...and the other was not created" test ! -e "/dev/shm/nbt-$$-other"
# Read only: the default pool of this machine, whether it exists or not.
if env -u NUMBALLOC_POOL "$CLI" stat --json >"$F.out" 2>"$F.err"; then
	check "without either, the pool is \"numballoc\" (it exists)" grep -q '"pool": "numballoc"' "$F.out"
else
	check "without either, the pool is \"numballoc\" (it does not exist)" \
		grep -q '^numballoc-cli: pool numballoc: ' "$F.err"
fi

# allocate on a missing pool creates it with capacity 65536, base 0.
outputs "allocate on a missing pool prints 0" "0" -p "$N" allocate
"$CLI" -p "$N" stat >"$F.out"
check "...which was created with capacity 65536" grep -q '^capacity: *65536$' "$F.out"
check "...base 0" grep -q '^base: *0$' "$F.out"
check "...policy lowest" grep -q '^policy: *lowest$' "$F.out"
# Many first calls at once agree on one pool: distinct IDs, one pool.
i=0
while [ $i -lt 12 ]; do
	"$CLI" -p "$R" allocate >"$F.race.$i" 2>&1 &
	TMPFILES="$TMPFILES $F.race.$i"
	i=$((i + 1))
done
wait
cat "$F".race.* >"$F.out"
check "12 concurrent first allocates all succeed, 12 distinct IDs" \
	test "$(grep -c '^[0-9][0-9]*$' "$F.out")" = 12 -a "$(sort -u "$F.out" | wc -l)" = 12
check "...in one pool that has used 12" test "$(stat_used -p "$R")" = 12

# --file PATH: a pool in a regular file.
outputs "--file: allocate creates the file pool" "0 1 2" --file "$F" allocate -n 3
check "...the file exists" test -f "$F"
prints "...list (the holder after each run)" "0-2" sh -c '"$1" --file "$2" list | cut -d" " -f1' sh "$CLI" "$F"
check "...destroy" "$CLI" --file "$F" destroy
check "...removes the file" test ! -e "$F"

# list: ranges "3-7" and single IDs "9".
"$CLI" -p "$N" allocate --id 3 >/dev/null
for id in 4 5 6 7 9 11; do "$CLI" -p "$N" allocate --id $id >/dev/null; done
prints "list prints runs as FIRST-LAST and lone IDs alone" "0 3-7 9 11" \
	sh -c '"$1" -p "$2" list | cut -d" " -f1' sh "$CLI" "$N"

# map: fits 80 columns, shaded by fullness, with a legend and the fill.
"$CLI" -p "$M" create --capacity 2048 >/dev/null
"$CLI" -p "$M" allocate --id 0 >/dev/null
"$CLI" -p "$M" allocate --id 4 >/dev/null
"$CLI" -p "$M" allocate --id 5 >/dev/null
"$CLI" -p "$M" map >"$F.out"
check "map: no line longer than 80 columns" test "$(awk 'length > 80' "$F.out" | wc -l)" = 0
check "map: 16 rows of 64 characters, 2 IDs each" \
	test "$(grep -c '^ *[0-9]* |[-.+*%#]\{64\}|$' "$F.out")" = 16
check "map: half-full, free, full groups are '+', '.', '#'" \
	grep -q '^ *0 |+.#\.\.' "$F.out"
check "map: a legend" grep -q '^legend: ' "$F.out"
check "map: the fill percentage (3 of 2048 is 0.1%)" grep -q '^used 3 of 2048 (0\.1%)' "$F.out"
"$CLI" -p "$H" create --capacity 1000 --base 18446744073709550000 >/dev/null
"$CLI" -p "$H" allocate --count 333 >/dev/null
"$CLI" -p "$H" map >"$F.out"
check "map of IDs with 20 digits: no line longer than 80 columns" \
	test "$(awk 'length > 80' "$F.out" | wc -l)" = 0
check "map: 333 of 1000 is 33.3%" grep -q '^used 333 of 1000 (33\.3%)' "$F.out"
"$CLI" -p "$N" map >"$F.out"
check "map of the default-sized pool fits 80 columns" test "$(awk 'length > 80' "$F.out" | wc -l)" = 0

# create --mode: the permission bits of the new pool.
newpool O mode
(umask 022 && "$CLI" -p "$O" create --mode 0640)
check "create --mode 0640 gives /dev/shm/$O mode 640" \
	test "$(stat -c %a "/dev/shm/$O" 2>/dev/null)" = 640

# The bash completion offers the commands and each command's options.
COMPLETION=$(dirname "$0")/../../tools/numballoc-cli.bash-completion
complete_words() {
	bash -c '
		_init_completion() { words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
			cur=${words[cword]}; prev=${words[cword-1]}; }
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_numballoc_cli; echo "${COMPREPLY[*]}"' sh "$COMPLETION" "$@"
}
if command -v bash >/dev/null 2>&1; then
	prints "completion: the commands" "create allocate free test chown list stat map reclaim pools export import destroy" \
		complete_words numballoc-cli ""
	prints "completion: allocate's options after -p NAME" "--count --in --id --block --align --owner --no-owners --json" \
		complete_words numballoc-cli -p x allocate --
	prints "completion: the policies" "lowest cyclic spread" \
		complete_words numballoc-cli create --policy ""
else
	skip "completion" "no bash"
fi

# destroy, and not of what is not a pool.
check "destroy" "$CLI" -p "$E" destroy
check "...removes /dev/shm/$E" test ! -e "/dev/shm/$E"
status_is 2 "...so test on it is an error" -p "$E" test 0
newpool J junk
head -c 8192 /dev/zero >"/dev/shm/$J"
status_is 1 "destroy of a shared-memory object that is not a pool" -p "$J" destroy
check "...leaves it alone" test -e "/dev/shm/$J"
status_is 0 "destroy --force removes it all the same" -p "$J" destroy --force
check "...it is gone" test ! -e "/dev/shm/$J"

done_testing
