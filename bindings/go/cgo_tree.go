// SPDX-License-Identifier: MIT

//go:build !numballoc_pkgconfig

package numballoc

// Where libnumballoc is found by default: the source tree's header, and
// the library of a build in the tree's build/ directory (the out-of-tree
// build the README describes) or of an in-tree build, then the linker's
// default directories (an install under /usr or /usr/local). The rpath
// lets a test binary run without LD_LIBRARY_PATH. CGO_CFLAGS and
// CGO_LDFLAGS in the environment come first (make check passes the build
// directory's paths that way). Build with -tags numballoc_pkgconfig to
// take the installed library's flags from pkg-config instead.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../build/lib/.libs -Wl,-rpath,${SRCDIR}/../../build/lib/.libs
// #cgo LDFLAGS: -L${SRCDIR}/../../lib/.libs -Wl,-rpath,${SRCDIR}/../../lib/.libs
// #cgo LDFLAGS: -lnumballoc
import "C"
