// SPDX-License-Identifier: MIT

package numballoc

import (
	"errors"
	"syscall"
)

// The shape of the 2015 Go package numballoc (LoadShared, DestroyShared,
// ConcurrentBitmap, Allocator, ErrNoFreeNumber), over an ID pool. See the
// package documentation for where it answers with an error where the old
// package crashed or handed out a number twice.

// ErrNoFreeNumber is what Allocator.Allocate returns when every number
// below Max is held. It is ErrFull itself, so both == and errors.Is work.
var ErrNoFreeNumber = ErrFull

// ErrNotAllocated is what Allocator.Free returns for a number that is not
// allocated (the 2015 package returned nil). errors.Is(err, ErrNotExist) holds.
var ErrNotAllocated = &Error{Op: "free", Errno: syscall.ENOENT}

// SharedMemory is a named pool loaded by LoadShared.
type SharedMemory interface {
	// Size is the pool's size in bytes: its capacity in numbers / 8.
	Size() uint32
	// Close releases this process's handle; the pool and its numbers stay.
	Close() error
	pool() *Pool
}

// Allocator hands out numbers from [0, Max()).
type Allocator interface {
	// Max is how many numbers the allocator may hand out.
	Max() uint64
	// Allocate returns a free number below Max, or ErrNoFreeNumber.
	Allocate() (uint64, error)
	// Free releases a number; an error if it is not allocated.
	Free(uint64) error
}

type sharedMemory struct {
	p    *Pool
	size uint32
}

// LoadShared opens the pool name, creating it if it does not exist, with
// room for size*8 numbers (size is in bytes, as in the 2015 package). The
// pool's lowest free number is handed out first. Opening an existing pool
// with another size returns ErrInvalid (the 2015 package mapped the wrong
// size and crashed with SIGBUS), as does size 0. Concurrent creators agree
// on one pool.
func LoadShared(name string, size uint32) (SharedMemory, error) {
	if size == 0 {
		return nil, &Error{Op: "open", Errno: syscall.EINVAL}
	}
	p, err := Open(name, Options{Capacity: uint64(size) * 8, Policy: Lowest, Flags: Create})
	if err != nil {
		return nil, err
	}
	return &sharedMemory{p: p, size: size}, nil
}

// DestroyShared removes the pool's name; handles open on it keep working.
func DestroyShared(name string) error {
	return Unlink(name)
}

func (m *sharedMemory) Size() uint32 { return m.size }
func (m *sharedMemory) Close() error { return m.p.Close() }
func (m *sharedMemory) pool() *Pool  { return m.p }

type concurrentBitmap struct {
	p   *Pool
	max uint64
}

// ConcurrentBitmap returns an Allocator over mem's numbers below max, or
// all of them (size*8) when max is 0 or larger. The numbers are the pool's
// bits: any process that loads the same name shares them.
func ConcurrentBitmap(mem SharedMemory, max uint64) Allocator {
	all := uint64(mem.Size()) * 8
	if max == 0 || max > all {
		max = all
	}
	return &concurrentBitmap{p: mem.pool(), max: max}
}

func (a *concurrentBitmap) Max() uint64 { return a.max }

func (a *concurrentBitmap) Allocate() (uint64, error) {
	n, err := a.p.AllocIn(0, a.max-1)
	if errors.Is(err, ErrFull) {
		return 0, ErrNoFreeNumber
	}
	return n, err
}

func (a *concurrentBitmap) Free(n uint64) error {
	if n >= a.max {
		return &Error{Op: "free", Errno: syscall.EINVAL}
	}
	err := a.p.Free(n)
	if errors.Is(err, ErrNotExist) {
		return ErrNotAllocated
	}
	return err
}
