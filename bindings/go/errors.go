// SPDX-License-Identifier: MIT

package numballoc

// #include <numballoc.h>
import "C"

import (
	"errors"
	"syscall"
)

// Sentinel errors, one per negative errno the library returns. Compare
// with errors.Is: every error a function of this package returns for a
// library failure is an *Error, and errors.Is(err, ErrFull) holds when its
// errno is ENOSPC. errors.Is(err, syscall.ENOSPC) (and, through
// syscall.Errno, fs.ErrExist and fs.ErrNotExist) hold as well.
var (
	// ErrInvalid: a bad argument, or options that contradict an existing pool (EINVAL).
	ErrInvalid = errors.New("numballoc: invalid argument")
	// ErrFull: no free ID, run, page run or range of the size asked for (ENOSPC).
	ErrFull = errors.New("numballoc: no free number")
	// ErrExist: already allocated; or the pool exists and Excl was given (EEXIST).
	ErrExist = errors.New("numballoc: already exists")
	// ErrNotExist: not allocated, nothing found; or no such pool and Create was not given (ENOENT).
	ErrNotExist = errors.New("numballoc: does not exist")
	// ErrCorrupt: the segment is not a valid numballoc segment (NUMBALLOC_ECORRUPT).
	ErrCorrupt = errors.New("numballoc: corrupt segment")
	// ErrVersion: the segment has a format version this library does not know (NUMBALLOC_EVERSION).
	ErrVersion = errors.New("numballoc: unknown segment version")
	// ErrKind: the segment holds another kind of pool (NUMBALLOC_EKIND).
	ErrKind = errors.New("numballoc: another kind of pool")
	// ErrNotSupported: owner functions on a pool made without Owners or in
	// Redis; lease functions (SetHolder, Renew, Holder) on a pool in shared
	// memory; a URL scheme this build does not serve (EOPNOTSUPP).
	ErrNotSupported = errors.New("numballoc: not supported by this pool")
	// ErrNoProcess: the process named as an owner is not running (ESRCH).
	ErrNoProcess = errors.New("numballoc: no such process")
	// ErrReadOnly: a method that writes, on a handle opened with ReadOnly (EROFS).
	ErrReadOnly = errors.New("numballoc: handle is read-only")
	// ErrClosed: the handle was closed. Returned by this package, not by the library.
	ErrClosed = errors.New("numballoc: handle is closed")
)

var sentinels = map[syscall.Errno]error{
	syscall.EINVAL:                      ErrInvalid,
	syscall.ENOSPC:                      ErrFull,
	syscall.EEXIST:                      ErrExist,
	syscall.ENOENT:                      ErrNotExist,
	syscall.Errno(C.NUMBALLOC_ECORRUPT): ErrCorrupt,
	syscall.Errno(C.NUMBALLOC_EVERSION): ErrVersion,
	syscall.Errno(C.NUMBALLOC_EKIND):    ErrKind,
	syscall.EOPNOTSUPP:                  ErrNotSupported,
	syscall.ESRCH:                       ErrNoProcess,
	syscall.EROFS:                       ErrReadOnly,
}

// Error is a failure of a library call: the operation and the errno the
// library returned (negated).
type Error struct {
	Op    string        // the method, e.g. "alloc"
	Errno syscall.Errno // the positive errno
}

// Error returns "numballoc: OP: MESSAGE", the message from numballoc_strerror(3).
func (e *Error) Error() string {
	return "numballoc: " + e.Op + ": " + C.GoString(C.numballoc_strerror(C.int(-int(e.Errno))))
}

// Is reports whether target is the sentinel of e's errno.
func (e *Error) Is(target error) bool {
	s, ok := sentinels[e.Errno]
	return ok && s == target
}

// Unwrap returns the syscall.Errno, so that errors.Is(err, syscall.ENOSPC) holds.
func (e *Error) Unwrap() error {
	return e.Errno
}

// check turns a library return value into nil or an *Error.
func check(op string, r C.int) error {
	if r >= 0 {
		return nil
	}
	return &Error{Op: op, Errno: syscall.Errno(-r)}
}
