#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh [SECONDS] - build the libFuzzer target fuzz_segment with clang
# (-fsanitize=fuzzer,address,undefined) from the library's sources and fuzz
# for SECONDS (default $FUZZ_SECONDS, else 60) from the seed corpus.
# Prints TAP (one test), so the automake TAP driver can record it:
#   build-aux/tap-driver.sh --test-name fuzz --log-file fuzz.log \
#       --trs-file fuzz.trs -- sh tests/fuzz/run.sh 60
# Without clang it prints "1..0 # SKIP". New inputs go to a scratch copy of
# the corpus, never into tests/fuzz/corpus; crashes are kept in the work
# directory (FUZZ_WORKDIR, else a new one under $TMPDIR), which is printed.
set -u

secs=${1:-${FUZZ_SECONDS:-60}}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
CC_FUZZ=${CC_FUZZ:-clang}

if ! command -v "$CC_FUZZ" >/dev/null 2>&1; then
	echo "1..0 # SKIP $CC_FUZZ not found"
	exit 0
fi
if ! urcu=$(pkg-config --cflags --libs liburcu-bp 2>/dev/null); then
	echo "1..0 # SKIP liburcu-bp not found by pkg-config"
	exit 0
fi
work=${FUZZ_WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/nbfuzz.XXXXXX")}
mkdir -p "$work/corpus" "$work/crashes"
echo "1..1"
echo "# work directory: $work"

# config.h: what configure would say that the sources need.
printf '#define _GNU_SOURCE 1\n' >"$work/config.h"
srcs="$top/lib/bitmap.c $top/lib/segment.c $top/lib/idpool.c $top/lib/owners.c $top/lib/error.c"
# The backend seam (lib/backend.c) is part of every ID pool; without
# HAVE_REDIS in config.h it carries no backend, which is all the fuzzer needs.
if [ -f "$top/lib/backend.c" ]; then
	srcs="$srcs $top/lib/backend.c"
fi
defs=
if [ -f "$top/lib/pages.c" ]; then
	srcs="$srcs $top/lib/pages.c"
	defs="$defs -DNB_FUZZ_PAGES"
fi
if [ -f "$top/lib/buffer.c" ]; then
	srcs="$srcs $top/lib/buffer.c"
	defs="$defs -DNB_FUZZ_BUFFER"
fi
# shellcheck disable=SC2086
if ! "$CC_FUZZ" -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-I"$work" -I"$top/include" -I"$top/lib" $defs \
	-o "$work/fuzz_segment" "$top/tests/fuzz/fuzz_segment.c" $srcs $urcu \
	>"$work/build.log" 2>&1; then
	sed 's/^/# /' "$work/build.log"
	echo "not ok 1 - fuzz_segment: build failed"
	exit 1
fi

cp "$here"/corpus/* "$work/corpus/" 2>/dev/null
cd "$work" || exit 1
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	./fuzz_segment -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
	-max_len=20000 -print_final_stats=1 -artifact_prefix="$work/crashes/" \
	"$work/corpus" >"$work/fuzz.log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n 1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log" | tail -n 1)
grep -E '^(INFO: seed corpus|#[0-9]+ +DONE)' "$work/fuzz.log" | sed 's/^/# /'
if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
	echo "ok 1 - fuzz_segment: ${execs} executions in ${secs} s (${speed}/s), no crash"
	exit 0
fi
tail -n 40 "$work/fuzz.log" | sed 's/^/# /'
echo "not ok 1 - fuzz_segment: exit $rc after ${execs:-?} executions; inputs in $work/crashes"
exit 1
