#!/bin/sh
# SPDX-License-Identifier: MIT
# run-tests.sh - the Go package's tests (go test) for make check, as TAP:
# one line per test function. Skips, with the reason, where configure
# found no go command or the library is built with sanitizers (a Go
# program cannot load an ASan/TSan library without their runtime first).
#
# Environment (from make check): GO, SAN_CFLAGS, abs_top_srcdir,
# abs_top_builddir. The package finds the build's header and library
# through CGO_CFLAGS and CGO_LDFLAGS; its build cache lives in the build
# directory (make clean removes it).
set -u

if [ -z "${GO:-}" ]; then
	echo "1..0 # SKIP no go command (configure looked for one; Debian: golang-go)"
	exit 0
fi
if [ -n "${SAN_CFLAGS:-}" ]; then
	echo "1..0 # SKIP the library is built with sanitizers ($SAN_CFLAGS)"
	exit 0
fi
src=$abs_top_srcdir/bindings/go
libs=$abs_top_builddir/lib/.libs
if [ ! -e "$libs/libnumballoc.so" ]; then
	echo "Bail out! no $libs/libnumballoc.so: build the library first"
	exit 1
fi
cache=$abs_top_builddir/bindings/go/cache
mkdir -p "$cache/build" "$cache/path"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
(
	cd "$src" &&
	env GOCACHE="$cache/build" GOPATH="$cache/path" GOENV=off GOPROXY=off \
		GOFLAGS="-mod=mod -buildvcs=false -modcacherw" CGO_ENABLED=1 \
		CGO_CFLAGS="-I$abs_top_srcdir/include -g -O2" \
		CGO_LDFLAGS="-L$libs -Wl,-rpath,$libs -g -O2" \
		LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
		"$GO" test -count=1 -v ./... 2>&1
	echo "go-test-exit $?"
) >"$out"

awk '
/^go-test-exit / { code = $2; next }
{ print "# " $0 }
match($0, /^ *--- (PASS|FAIL|SKIP): [^ ]+/) {
	split(substr($0, RSTART, RLENGTH), f, " ")
	n++
	if (f[2] == "PASS:") res[n] = "ok " n " - " f[3]
	else if (f[2] == "SKIP:") { res[n] = "ok " n " - " f[3] " # SKIP"; skipnext = n }
	else { res[n] = "not ok " n " - " f[3]; bad = 1 }
	next
}
skipnext && /^ +[^ ]/ { sub(/^ +/, ""); res[skipnext] = res[skipnext] " " $0; skipnext = 0 }
END {
	for (i = 1; i <= n; i++) print res[i]
	if (code != 0 && !bad) { n++; print "not ok " n " - go test exited with status " code }
	if (n == 0) { n++; print "not ok 1 - go test reported no test" }
	print "1.." n
}' "$out"
