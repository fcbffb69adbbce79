#!/bin/sh
# SPDX-License-Identifier: MIT
# run-tests.sh - the Python package's tests (pytest) for make check, as
# TAP: one line per test. Runs them with the foreign-function module the
# package picks (cffi where it is installed), then again with ctypes (the
# benchmark once only). Skips, with the reason, where configure found no
# python3 that can import pytest or the library is built with sanitizers
# (python3 cannot load an ASan/TSan library without their runtime first).
#
# Environment (from make check): PYTHON3_PYTEST, SAN_CFLAGS,
# abs_top_srcdir, abs_top_builddir.
set -u

if [ -z "${PYTHON3_PYTEST:-}" ]; then
	echo "1..0 # SKIP no python3 that can import pytest (Debian: python3-pytest)"
	exit 0
fi
if [ -n "${SAN_CFLAGS:-}" ]; then
	echo "1..0 # SKIP the library is built with sanitizers ($SAN_CFLAGS)"
	exit 0
fi
lib=$abs_top_builddir/lib/.libs/libnumballoc.so.0
if [ ! -e "$lib" ]; then
	echo "Bail out! no $lib: build the library first"
	exit 1
fi
src=$abs_top_srcdir/bindings/python
export NUMBALLOC_LIBRARY="$lib" PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$src${PYTHONPATH:+:$PYTHONPATH}"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() {	# run NAME [ENV...]: pytest's output in $out/NAME
	name=$1
	shift
	(cd "$out" && env "$@" "$PYTHON3_PYTEST" -m pytest -rA -p no:cacheprovider \
		--rootdir="$src" "$src/tests" >"$out/$name" 2>&1
	echo "pytest-exit $?" >>"$out/$name")
}
ffi=$("$PYTHON3_PYTEST" -c 'import numballoc; print(numballoc.FFI)' 2>&1)
run "$ffi"
if [ "$ffi" = cffi ]; then
	run ctypes NUMBALLOC_PY_FFI=ctypes PYTEST_ADDOPTS=--deselect=tests/test_speed.py::test_speed_printed
fi

for f in "$out"/*; do
	awk -v ffi="${f##*/}" '
	/^pytest-exit / { code = $2; next }
	{ print "# " $0 }
	/^(PASSED|FAILED|ERROR|XPASS|XFAIL|SKIPPED) / {
		n++
		what = $0
		sub(/^[A-Z]+ /, "", what)
		gsub(/[^ ]*\/tests\//, "", what)	# test_x.py::name, not the path
		if ($1 == "PASSED" || $1 == "XFAIL") res[n] = "ok N - " ffi ": " what
		else if ($1 == "SKIPPED") res[n] = "ok N - " ffi ": # SKIP " what
		else { res[n] = "not ok N - " ffi ": " what; bad = 1 }
	}
	END {
		for (i = 1; i <= n; i++) print res[i]
		if (code != 0 && !bad) print "not ok N - " ffi ": pytest exited with status " code
		if (n == 0 && code == 0) print "not ok N - " ffi ": pytest reported no test"
	}' "$f"
done | awk '/^(not )?ok N /{ n++; sub(/ N /, " " n " ") } { print } END { print "1.." n }'
