// SPDX-License-Identifier: MIT

//go:build numballoc_pkgconfig

package numballoc

// With -tags numballoc_pkgconfig the flags come from the installed
// libnumballoc.pc (PKG_CONFIG_PATH may name its directory).

// #cgo pkg-config: libnumballoc
import "C"
