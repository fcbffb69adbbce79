#!/bin/sh
# SPDX-License-Identifier: MIT
# bench-smoke.sh - run numballoc-bench --quick and numballoc-ab once so
# that they cannot rot. It checks that the programs run, print a figure for
# every scenario with the machine-readable keys, and saw no wrong answer;
# never their speed.
bench="${top_builddir:-.}/bench/numballoc-bench"
ab="${top_builddir:-.}/bench/numballoc-ab"
lib="${top_builddir:-.}/lib/.libs/libnumballoc.so"
out="${TMPDIR:-/tmp}/nbt-$$-bench.out"
trap 'rm -f "$out"' EXIT
echo "1..7"
if "$bench" --quick >"$out" 2>&1; then
	echo "ok 1 - numballoc-bench --quick exits 0 (no wrong answers)"
else
	echo "not ok 1 - numballoc-bench --quick exits 0 (no wrong answers)"
	sed 's/^/# /' "$out"
fi
missing=
for fig in pair/lowest/0% pair/cyclic/99.9% pair/spread/1free pair/spread/99%/2^18 \
	pair/lowest/1free/2^18 pair2/spread/99% pair2/cyclic/90%/halves pair2/spread/99%/halves \
	pair2/spread/pool64 first/spread/bottomup-99.9% block8/aligned/99% \
	block64/aligned/50% run8/unaligned/99%/exists run8/unaligned/99%/none \
	lockfile/sh-flock; do
	grep -q "^name=$fig ns=[0-9.]* .*ratio_mutex=.* ratio_hint=" "$out" || missing="$missing $fig"
done
if [ -z "$missing" ]; then
	echo "ok 2 - a machine-readable line for every scenario"
else
	echo "not ok 2 - a machine-readable line for every scenario (missing:$missing)"
fi
# the 1-process pair figures: numballoc and both baselines measured, and
# every one with its run-by-run ratio (the engines' runs in turn)
if grep '^name=pair/' "$out" | grep -v 'mutex_ns=0.0 \|hint_ns=0.0 ' | grep -q 'ratio_mutex=[0-9]' &&
	! grep '^name=pair/' "$out" | grep -vq ' paired_hint=[0-9][0-9.]*\( \|$\)'; then
	echo "ok 3 - baselines measured in the same invocation"
else
	echo "not ok 3 - baselines measured in the same invocation"
fi
# the floor beside spread's and cyclic's two-process figures only (pool64 is
# spaced: no floor), with the wall-time scales the targets are set in and
# the share of each round both children ran (overlap, ok runs)
if grep -q '^name=pair2/spread/99% .* wall_scale=[0-9.]* .*hint_wall_scale=[0-9.]* floor_scale=[0-9][0-9.]* floor_wall_scale=[0-9][0-9.]*$' "$out" &&
	grep -q '^name=pair2/cyclic/99%/halves .* floor_wall_scale=[0-9][0-9.]*$' "$out" &&
	grep -q '^name=pair2/spread/99% .* overlap=[0-9.]* overlap_min=[0-9.]* .*ok_runs=[0-9]* repeated=[0-9]* ' "$out" &&
	! grep '^name=pair2/' "$out" | grep -v '^name=pair2/\(spread\|cyclic\)/[0-9]' | grep -q floor_scale; then
	echo "ok 4 - the floor's scale beside spread's and cyclic's two-process figures, and only there"
else
	echo "not ok 4 - the floor's scale beside spread's and cyclic's two-process figures, and only there"
fi
# numballoc-ab: the built library against itself, then a bad argument
if [ ! -f "$lib" ]; then
	echo "ok 5 # SKIP no shared library to load ($lib)"
	echo "ok 6 # SKIP no shared library to load ($lib)"
	echo "ok 7 # SKIP no shared library to load ($lib)"
	exit 0
fi
if "$ab" --rounds 5 --iters 2000 "$lib" "$lib" spread 1free >"$out" 2>&1 &&
	grep -q '^spread 1free: A [0-9.]* ns, B [0-9.]* ns a pair (medians of 5 rounds); B/A [0-9.]*' "$out"; then
	echo "ok 5 - numballoc-ab compares a build with itself"
else
	echo "not ok 5 - numballoc-ab compares a build with itself"
	sed 's/^/# /' "$out"
fi
if "$ab" "$lib" "$lib" spread 100 >"$out" 2>&1; then
	echo "not ok 6 - numballoc-ab refuses a fill of 100%"
elif grep -q '^usage: numballoc-ab' "$out"; then
	echo "ok 6 - numballoc-ab refuses a fill of 100%"
else
	echo "not ok 6 - numballoc-ab refuses a fill of 100% (no usage)"
	sed 's/^/# /' "$out"
fi
# a build that cannot be loaded, after the first build's pool is made: an
# error, and that pool unlinked (no segment left in /dev/shm)
"$ab" --rounds 5 --iters 2000 "$lib" "${TMPDIR:-/tmp}" spread 0 >"$out" 2>&1 &
pid=$!
if wait "$pid"; then
	echo "not ok 7 - numballoc-ab fails on a build it cannot load"
elif ! grep -q '^numballoc-ab: ' "$out"; then
	echo "not ok 7 - numballoc-ab fails on a build it cannot load (no message)"
	sed 's/^/# /' "$out"
elif [ ! -d /dev/shm ]; then
	echo "ok 7 # SKIP no /dev/shm to look in"
elif [ -e "/dev/shm/numballoc-ab-$pid-0" ]; then
	echo "not ok 7 - numballoc-ab leaves no pool behind when it fails"
	rm -f "/dev/shm/numballoc-ab-$pid-0"
else
	echo "ok 7 - numballoc-ab fails on a build it cannot load and leaves no pool behind"
fi
