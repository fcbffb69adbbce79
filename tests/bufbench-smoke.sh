#!/bin/sh
# SPDX-License-Identifier: MIT
# bufbench-smoke.sh - run numballoc-bufbench --quick once so that it cannot
# rot: it exits 0 (no allocator handed out a unit twice), prints a figure
# for every allocator and mode at both levels, and either measured Boost
# or said that it was skipped. Never its speed.
bench="${top_builddir:-.}/bench/numballoc-bufbench"
out="${TMPDIR:-/tmp}/nbt-$$-bufbench.out"
trap 'rm -f "$out"' EXIT
echo "1..6"
"$bench" --quick >"$out" 2>&1 &
pid=$!
if wait "$pid"; then
	echo "ok 1 - numballoc-bufbench --quick exits 0"
else
	echo "not ok 1 - numballoc-bufbench --quick exits 0"
	sed 's/^/# /' "$out"
fi
missing=
for lvl in 50 85; do
	for fit in "numballoc" "numballoc first-fit" "segfit+mutex" "floor"; do
		for mode in "1 thread" "2 threads" "2 procs"; do
			grep -q "^name=buf/$lvl%/$fit/$mode ns=[0-9.]* .*fails=[0-9]*$" "$out" ||
				missing="$missing [$lvl/$fit/$mode]"
		done
	done
done
if [ -z "$missing" ]; then
	echo "ok 2 - a figure for every allocator, mode and level"
else
	echo "not ok 2 - a figure for every allocator, mode and level (missing:$missing)"
fi
# the one-thread speed bar (session 5): offset in one-thread mode only, and
# numballoc over it at both levels
if grep -q '^name=buf/50%/offset/1 thread ns=[0-9.]* cpu_ns=[0-9.]* .*fails=0$' "$out" &&
	grep -q '^name=buf/85%/offset/1 thread ns=[0-9.]* cpu_ns=[0-9.]* .*fails=0$' "$out" &&
	! grep -q '^name=buf/[0-9]*%/offset/2' "$out" &&
	grep -q '^target=buf/50%/numballoc over offset/1 thread x=[0-9.]* ' "$out" &&
	grep -q '^target=buf/85%/numballoc over offset/1 thread x=[0-9.]* ' "$out"; then
	echo "ok 3 - offset measured with one thread only, numballoc over offset printed"
else
	echo "not ok 3 - offset measured with one thread only, numballoc over offset printed"
fi
if grep -q '^name=buf/50%/boost.interprocess/2 procs ns=' "$out" ||
	grep -q '^# boost.interprocess: skipped' "$out"; then
	echo "ok 4 - Boost.Interprocess measured, or said to be skipped"
else
	echo "not ok 4 - Boost.Interprocess measured, or said to be skipped"
fi
# the shared-memory objects of its runs (named after its pid) are gone
if [ ! -d /dev/shm ]; then
	echo "ok 5 # SKIP no /dev/shm to look in"
elif ls /dev/shm | grep -q -- "^nb-bufbench-\(boost-\)\{0,1\}$pid\(-\|\$\)"; then
	echo "not ok 5 - nothing left in /dev/shm"
	ls /dev/shm | grep -- "-$pid" | sed 's/^/# /'
	rm -f /dev/shm/nb-bufbench-$pid-* /dev/shm/nb-bufbench-boost-$pid
else
	echo "ok 5 - nothing left in /dev/shm"
fi
# --level: one level only (session 4); another level is refused
if "$bench" --quick --only none --mode 0 --level 85 >"$out" 2>&1 &&
	grep -q '^name=buf/85%/numballoc/1 thread ns=' "$out" &&
	! grep -q '^name=buf/50%' "$out" &&
	! "$bench" --quick --level 70 >/dev/null 2>&1; then
	echo "ok 6 - --level 85 measures that level alone; --level 70 is refused"
else
	echo "not ok 6 - --level 85 measures that level alone; --level 70 is refused"
	sed 's/^/# /' "$out"
fi
