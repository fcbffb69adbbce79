// SPDX-License-Identifier: MIT

package numballoc

// #include <stdlib.h>
// #include <numballoc.h>
import "C"

import (
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// PagesOptions of OpenPages, the fields of struct numballoc_pages_opts.
// A private arena over the caller's memory (opts->mem in C) is not offered:
// cgo forbids C from keeping a pointer to Go memory.
type PagesOptions struct {
	PageSize uint64      // bytes per page, a power of two; 0: the system's page size
	NPages   uint64      // pages in the arena; 0 on open: whatever it has
	Path     string      // back the arena by this regular file instead of a name
	Flags    Flags       // Create, Excl
	Mode     os.FileMode // permission bits on creation; 0 means 0600
}

// PagesStat is what Pages.Stat counts, the fields of struct numballoc_pages_stat.
type PagesStat struct {
	PageSize    uint64 // bytes per page
	Total       uint64 // pages in the arena
	Used        uint64 // allocated pages, counted when asked
	Available   uint64 // Total - Used
	LargestFree uint64 // longest run of free pages
}

// Pages is an open handle on a shared page arena: the segment holds the
// pages, and each process maps it at its own address. Safe for concurrent
// goroutines; after Close its methods return ErrClosed.
type Pages struct {
	mu       sync.RWMutex // held shared by every call, exclusively by Close
	c        *C.struct_numballoc_pages
	pageSize uint64 // fixed at creation
	total    uint64 // fixed at creation
}

// OpenPages opens the page arena name (a POSIX shared-memory name), or
// the file opts.Path when name is "", creating it with Create.
// See numballoc_pages_open(3).
func OpenPages(name string, opts PagesOptions) (*Pages, error) {
	var o C.struct_numballoc_pages_opts
	var h *C.struct_numballoc_pages
	var st C.struct_numballoc_pages_stat

	if name == "" && opts.Path == "" {
		return nil, &Error{Op: "pages_open", Errno: syscall.EINVAL} // EINVAL: no private arena, see PagesOptions
	}
	o.page_size = C.uint64_t(opts.PageSize)
	o.npages = C.uint64_t(opts.NPages)
	o.flags = C.uint(opts.Flags)
	o.mode = C.uint(opts.Mode.Perm())
	cname, cpath := cstring(name), cstring(opts.Path)
	defer C.free(unsafe.Pointer(cname))
	defer C.free(unsafe.Pointer(cpath))
	o.path = cpath
	if err := check("pages_open", C.numballoc_pages_open(cname, &o, &h)); err != nil {
		return nil, err
	}
	if err := check("pages_stat", C.numballoc_pages_stat(h, &st)); err != nil {
		C.numballoc_pages_close(h)
		return nil, err
	}
	pa := &Pages{c: h, pageSize: uint64(st.page_size), total: uint64(st.total)}
	runtime.SetFinalizer(pa, (*Pages).Close)
	return pa, nil
}

// Close releases the handle and unmaps the arena from this process (slices
// from Bytes must not be used after it); the arena and its pages stay.
func (pa *Pages) Close() error {
	pa.mu.Lock()
	defer pa.mu.Unlock()
	if pa.c == nil {
		return ErrClosed
	}
	err := check("pages_close", C.numballoc_pages_close(pa.c))
	pa.c = nil
	runtime.SetFinalizer(pa, nil)
	return err
}

func (pa *Pages) lock() *C.struct_numballoc_pages {
	pa.mu.RLock()
	h := pa.c
	if h == nil {
		pa.mu.RUnlock()
	}
	return h
}

// Alloc allocates num contiguous pages, the first a multiple of align
// pages (a power of two; 0 or 1: any), the lowest such run, and returns
// the first page's number. ErrFull only when no free run fits.
func (pa *Pages) Alloc(num, align uint64) (uint64, error) {
	var first C.uint64_t
	h := pa.lock()
	if h == nil {
		return 0, ErrClosed
	}
	defer pa.mu.RUnlock()
	err := check("pages_alloc", C.numballoc_pages_alloc(h, C.uint64_t(num), C.uint64_t(align), &first))
	return uint64(first), err
}

// Free frees num pages from first: ErrNotExist, and nothing freed, if any
// of them is not allocated.
func (pa *Pages) Free(first, num uint64) error {
	h := pa.lock()
	if h == nil {
		return ErrClosed
	}
	defer pa.mu.RUnlock()
	return check("pages_free", C.numballoc_pages_free(h, C.uint64_t(first), C.uint64_t(num)))
}

// Stat counts the arena's pages now.
func (pa *Pages) Stat() (PagesStat, error) {
	var st C.struct_numballoc_pages_stat
	h := pa.lock()
	if h == nil {
		return PagesStat{}, ErrClosed
	}
	defer pa.mu.RUnlock()
	if err := check("pages_stat", C.numballoc_pages_stat(h, &st)); err != nil {
		return PagesStat{}, err
	}
	return PagesStat{
		PageSize:    uint64(st.page_size),
		Total:       uint64(st.total),
		Used:        uint64(st.used),
		Available:   uint64(st.available),
		LargestFree: uint64(st.largest_free),
	}, nil
}

// PageSize returns the arena's bytes per page.
func (pa *Pages) PageSize() uint64 { return pa.pageSize }

// Bytes returns the memory of num pages from first, as mapped in this
// process (other processes see the same bytes at their own address). It
// stays valid until Close. ErrInvalid when the pages are outside the arena.
func (pa *Pages) Bytes(first, num uint64) ([]byte, error) {
	h := pa.lock()
	if h == nil {
		return nil, ErrClosed
	}
	defer pa.mu.RUnlock()
	if num == 0 || first >= pa.total || num > pa.total-first {
		return nil, &Error{Op: "pages_addr", Errno: syscall.EINVAL}
	}
	addr := C.numballoc_pages_addr(h, C.uint64_t(first))
	if addr == nil {
		return nil, &Error{Op: "pages_addr", Errno: syscall.EINVAL}
	}
	return unsafe.Slice((*byte)(addr), num*pa.pageSize), nil
}
