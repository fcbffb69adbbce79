// SPDX-License-Identifier: MIT

package numballoc

// #include <stdlib.h>
// #include <numballoc.h>
import "C"

import (
	"os"
	"runtime"
	"sync"
	"unsafe"
)

// BufferOptions of OpenBuffer, the fields of struct numballoc_buf_opts.
// Sizes and offsets are in bytes of the caller's buffer.
type BufferOptions struct {
	Capacity    uint64      // bytes, a multiple of Unit; 0 on open: whatever it has
	Unit        uint64      // bytes per bitmap bit; 0 means 1
	MaxCapacity uint64      // growth limit, fixed at creation; 0: max(Capacity, 2^32 units)
	Path        string      // back the allocator by this regular file instead of a name
	Flags       Flags       // Create, Excl
	Mode        os.FileMode // permission bits on creation; 0 means 0600
	// FirstFit asks for first-fit placement (every allocation at the
	// lowest offset where it fits, as pyglet's Allocator places) from a
	// library whose default placement is another (process-local chunks).
	FirstFit bool
}

// bufFirstFit is NUMBALLOC_BUF_FIRST_FIT, the open flag that selects
// first-fit placement instead of the default, process-local chunks.
const bufFirstFit = C.NUMBALLOC_BUF_FIRST_FIT

// BufferStat is what Buffer.Stat counts, the fields of struct numballoc_buf_stat.
type BufferStat struct {
	Capacity           uint64  // bytes managed now
	MaxCapacity        uint64  // the growth limit
	Unit               uint64  // bytes per bitmap bit
	FreeSize           uint64  // all unallocated bytes, a leading gap included
	FragmentedFreeSize uint64  // FreeSize minus the final free block
	LargestFree        uint64  // the largest free range
	Fragmentation      float64 // FragmentedFreeSize / FreeSize; 0 when nothing is free
	Usage              float64 // 1 - FreeSize / Capacity
}

// Region is one merged range of allocated space.
type Region struct {
	Start, Size uint64
}

// Buffer is an open handle on an offset allocator: it hands out offsets in
// a buffer that belongs to the caller (a GPU buffer, a file, a shared
// region). Safe for concurrent goroutines; after Close its methods return
// ErrClosed.
type Buffer struct {
	mu sync.RWMutex // held shared by every call, exclusively by Close
	c  *C.struct_numballoc_buf
}

// OpenBuffer opens the offset allocator name (shared memory), or the file
// opts.Path when name is "", or one private to this process when both are
// "". See numballoc_buf_open(3).
func OpenBuffer(name string, opts BufferOptions) (*Buffer, error) {
	var o C.struct_numballoc_buf_opts
	var h *C.struct_numballoc_buf

	o.capacity = C.uint64_t(opts.Capacity)
	o.unit = C.uint64_t(opts.Unit)
	o.max_capacity = C.uint64_t(opts.MaxCapacity)
	o.flags = C.uint(opts.Flags)
	if opts.FirstFit {
		o.flags |= bufFirstFit
	}
	o.mode = C.uint(opts.Mode.Perm())
	cname, cpath := cstring(name), cstring(opts.Path)
	defer C.free(unsafe.Pointer(cname))
	defer C.free(unsafe.Pointer(cpath))
	o.path = cpath
	if err := check("buf_open", C.numballoc_buf_open(cname, &o, &h)); err != nil {
		return nil, err
	}
	b := &Buffer{c: h}
	runtime.SetFinalizer(b, (*Buffer).Close)
	return b, nil
}

// Close releases the handle; a shared allocator and its allocations stay.
func (b *Buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c == nil {
		return ErrClosed
	}
	err := check("buf_close", C.numballoc_buf_close(b.c))
	b.c = nil
	runtime.SetFinalizer(b, nil)
	return err
}

func (b *Buffer) lock() *C.struct_numballoc_buf {
	b.mu.RLock()
	h := b.c
	if h == nil {
		b.mu.RUnlock()
	}
	return h
}

// Alloc allocates size bytes (rounded up to whole units) and returns
// their offset: the lowest where they fit with FirstFit. Size 0 returns 0 and
// changes nothing. ErrFull only when no free range of that size exists;
// then Needed tells how large to grow.
func (b *Buffer) Alloc(size uint64) (uint64, error) {
	var start C.uint64_t
	h := b.lock()
	if h == nil {
		return 0, ErrClosed
	}
	defer b.mu.RUnlock()
	err := check("buf_alloc", C.numballoc_buf_alloc(h, C.uint64_t(size), &start))
	return uint64(start), err
}

// Needed returns the capacity that makes an allocation of size succeed at
// the end: the end of the last allocated region plus size.
func (b *Buffer) Needed(size uint64) (uint64, error) {
	var c C.uint64_t
	h := b.lock()
	if h == nil {
		return 0, ErrClosed
	}
	defer b.mu.RUnlock()
	err := check("buf_needed", C.numballoc_buf_needed(h, C.uint64_t(size), &c))
	return uint64(c), err
}

// Dealloc frees size bytes from start, any part of allocated space:
// ErrNotExist, and nothing freed, unless all of it is allocated.
func (b *Buffer) Dealloc(start, size uint64) error {
	h := b.lock()
	if h == nil {
		return ErrClosed
	}
	defer b.mu.RUnlock()
	return check("buf_dealloc", C.numballoc_buf_dealloc(h, C.uint64_t(start), C.uint64_t(size)))
}

// Realloc resizes the allocation [start, start+size) to newSize and
// returns its start: the same when it shrinks, stays or the space after
// it is free, else a new place allocated before the old range is freed
// (the caller moves the contents). ErrFull, and nothing changed, when it
// fits nowhere; ErrNotExist when the old range is not entirely allocated.
func (b *Buffer) Realloc(start, size, newSize uint64) (uint64, error) {
	var ns C.uint64_t
	h := b.lock()
	if h == nil {
		return 0, ErrClosed
	}
	defer b.mu.RUnlock()
	err := check("buf_realloc", C.numballoc_buf_realloc(h, C.uint64_t(start), C.uint64_t(size),
		C.uint64_t(newSize), &ns))
	return uint64(ns), err
}

// Regions returns the allocated space as merged regions in address order.
func (b *Buffer) Regions() ([]Region, error) {
	var n C.size_t
	h := b.lock()
	if h == nil {
		return nil, ErrClosed
	}
	defer b.mu.RUnlock()
	for max := 16; ; {
		starts := make([]C.uint64_t, max)
		sizes := make([]C.uint64_t, max)
		err := check("buf_regions", C.numballoc_buf_regions(h, &starts[0], &sizes[0], C.size_t(max), &n))
		if err != nil {
			return nil, err
		}
		if int(n) <= max {
			r := make([]Region, n)
			for i := range r {
				r[i] = Region{uint64(starts[i]), uint64(sizes[i])}
			}
			return r, nil
		}
		max = int(n) + int(n)/4 // another thread may add regions meanwhile
	}
}

// Stat counts the allocator's space now.
func (b *Buffer) Stat() (BufferStat, error) {
	var st C.struct_numballoc_buf_stat
	h := b.lock()
	if h == nil {
		return BufferStat{}, ErrClosed
	}
	defer b.mu.RUnlock()
	if err := check("buf_stat", C.numballoc_buf_stat(h, &st)); err != nil {
		return BufferStat{}, err
	}
	return BufferStat{
		Capacity:           uint64(st.capacity),
		MaxCapacity:        uint64(st.max_capacity),
		Unit:               uint64(st.unit),
		FreeSize:           uint64(st.free_size),
		FragmentedFreeSize: uint64(st.fragmented_free_size),
		LargestFree:        uint64(st.largest_free),
		Fragmentation:      float64(st.fragmentation),
		Usage:              float64(st.usage),
	}, nil
}

// SetCapacity grows the capacity to capacity bytes (a multiple of the
// unit, above today's, at most MaxCapacity: else ErrInvalid) while others
// keep allocating. Existing allocations never move.
func (b *Buffer) SetCapacity(capacity uint64) error {
	h := b.lock()
	if h == nil {
		return ErrClosed
	}
	defer b.mu.RUnlock()
	return check("buf_set_capacity", C.numballoc_buf_set_capacity(h, C.uint64_t(capacity)))
}
