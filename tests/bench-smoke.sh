#!/bin/sh
# SPDX-License-Identifier: MIT
# bench-smoke.sh - run numballoc-bench --quick once so that it cannot rot.
# It checks that the program runs, prints a figure for every scenario with
# the machine-readable keys, and saw no wrong answer; never its speed.
bench="${top_builddir:-.}/bench/numballoc-bench"
out="${TMPDIR:-/tmp}/nbt-$$-bench.out"
trap 'rm -f "$out"' EXIT
echo "1..3"
if "$bench" --quick >"$out" 2>&1; then
	echo "ok 1 - numballoc-bench --quick exits 0 (no wrong answers)"
else
	echo "not ok 1 - numballoc-bench --quick exits 0 (no wrong answers)"
	sed 's/^/# /' "$out"
fi
missing=
for fig in pair/lowest/0% pair/cyclic/99.9% pair/spread/1free pair2/spread/99% \
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
# the 1-process pair figures: numballoc and both baselines measured
if grep '^name=pair/' "$out" | grep -v 'mutex_ns=0.0 \|hint_ns=0.0 ' | grep -q 'ratio_mutex=[0-9]'; then
	echo "ok 3 - baselines measured in the same invocation"
else
	echo "not ok 3 - baselines measured in the same invocation"
fi
