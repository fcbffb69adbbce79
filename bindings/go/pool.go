// SPDX-License-Identifier: MIT

package numballoc

// #include <stdlib.h>
// #include <numballoc.h>
//
// /*
//  * The hot pair without a heap allocation per call: cgo makes a Go
//  * variable passed by address, and a pointer argument, escape. The
//  * handle goes as an integer, the ID comes back by value.
//  */
// struct nb_go_id { uint64_t id; int r; };
// static struct nb_go_id nb_go_alloc(uintptr_t p)
// {
// 	struct nb_go_id x;
//
// 	x.r = numballoc_alloc((struct numballoc *)p, &x.id);
// 	return x;
// }
// static int nb_go_free(uintptr_t p, uint64_t id)
// {
// 	return numballoc_free((struct numballoc *)p, id);
// }
import "C"

import (
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Policy is how Alloc chooses an ID in an ID pool.
type Policy uint

// The allocation policies of numballoc_open(3).
const (
	Lowest Policy = C.NUMBALLOC_LOWEST // the lowest free ID (file descriptors, IDA)
	Cyclic Policy = C.NUMBALLOC_CYCLIC // the next free ID after the last handed out (PIDs)
	Spread Policy = C.NUMBALLOC_SPREAD // any free ID, threads start apart (throughput)
)

// Flags of the options of every kind of pool.
type Flags uint

// The flags of numballoc_open(3).
const (
	Create Flags = C.NUMBALLOC_CREATE // create the pool if it does not exist
	Excl   Flags = C.NUMBALLOC_EXCL   // with Create: ErrExist if it exists
	Owners Flags = C.NUMBALLOC_OWNERS // record the holder of every allocation (creation only)
	// ReadOnly opens an existing ID pool read-only (O_RDONLY, a read-only
	// mapping), for a user who may read the pool but not write it. Test,
	// Next, Stat, Range and Owner work; every method that would write
	// returns ErrReadOnly and changes nothing. With Create or Excl, for a
	// private pool, and for Pages and Buffer: ErrInvalid.
	ReadOnly Flags = C.NUMBALLOC_RDONLY
)

// Options of Open, the fields of struct numballoc_opts. The zero value
// opens an existing pool as it is.
type Options struct {
	Capacity uint64      // number of IDs; 0 on open: whatever the pool has
	Base     uint64      // first ID; 0 on open: whatever the pool has
	Path     string      // back the pool by this regular file instead of a name
	Policy   Policy      // Lowest on open: the pool's own
	Flags    Flags       // Create, Excl, Owners, ReadOnly
	Mode     os.FileMode // permission bits on creation; 0 means 0600
}

// Stat is what Pool.Stat counts, the fields of struct numballoc_stat.
type Stat struct {
	Capacity       uint64 // number of IDs in the pool
	Base           uint64 // the first ID
	Used           uint64 // allocated IDs, counted when asked
	Free           uint64 // Capacity - Used
	LargestFreeRun uint64 // longest run of consecutive free IDs
	Policy         Policy
	Flags          Flags // the pool's Owners flag
}

// Pool is an open handle on an ID pool. Its methods may be called from
// any number of goroutines at once; after Close they return ErrClosed.
type Pool struct {
	mu sync.RWMutex // held shared by every call, exclusively by Close
	c  *C.struct_numballoc
}

// cstring returns a C copy of s, or nil for "" (free it with C.free).
func cstring(s string) *C.char {
	if s == "" {
		return nil
	}
	return C.CString(s)
}

// Open opens the ID pool name (a POSIX shared-memory name such as "ports"
// or "/ports"), or the file opts.Path when name is "", or a pool private to
// this process when both are "". With Create in opts.Flags it creates the
// pool; concurrent creators agree on one pool. name may also be a URL,
// redis://HOST[:PORT]/NAME, of a pool in a Redis server (numballoc_redis(7));
// a scheme this build does not serve gives ErrNotSupported. See
// numballoc_open(3).
func Open(name string, opts Options) (*Pool, error) {
	var o C.struct_numballoc_opts
	var h *C.struct_numballoc

	o.capacity = C.uint64_t(opts.Capacity)
	o.base = C.uint64_t(opts.Base)
	o.policy = C.uint(opts.Policy)
	o.flags = C.uint(opts.Flags)
	o.mode = C.uint(opts.Mode.Perm())
	cname, cpath := cstring(name), cstring(opts.Path)
	defer C.free(unsafe.Pointer(cname))
	defer C.free(unsafe.Pointer(cpath))
	o.path = cpath
	if err := check("open", C.numballoc_open(cname, &o, &h)); err != nil {
		return nil, err
	}
	p := &Pool{c: h}
	runtime.SetFinalizer(p, (*Pool).Close)
	return p, nil
}

// Close releases the handle; the pool and its IDs stay. Closing twice
// returns ErrClosed.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c == nil {
		return ErrClosed
	}
	err := check("close", C.numballoc_close(p.c))
	p.c = nil
	runtime.SetFinalizer(p, nil)
	return err
}

// Unlink removes the name of a shared pool of any kind (IDs, pages or
// buffer); open handles keep working. See numballoc_unlink(3).
func Unlink(name string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return check("unlink", C.numballoc_unlink(cname))
}

// lock takes the shared lock for one call and returns the handle, or nil
// (and releases the lock) when the pool is closed.
func (p *Pool) lock() *C.struct_numballoc {
	p.mu.RLock()
	h := p.c
	if h == nil {
		p.mu.RUnlock()
	}
	return h
}

// Alloc allocates one ID by the pool's policy. ErrFull only when none is free.
func (p *Pool) Alloc() (uint64, error) {
	h := p.lock()
	if h == nil {
		return 0, ErrClosed
	}
	x := C.nb_go_alloc(C.uintptr_t(uintptr(unsafe.Pointer(h))))
	p.mu.RUnlock()
	return uint64(x.id), check("alloc", x.r)
}

// AllocIn allocates one ID in [min, max], inclusive and clipped to the
// pool; ErrInvalid if the range and the pool are disjoint.
func (p *Pool) AllocIn(min, max uint64) (uint64, error) {
	var id C.uint64_t
	h := p.lock()
	if h == nil {
		return 0, ErrClosed
	}
	defer p.mu.RUnlock()
	err := check("alloc_in", C.numballoc_alloc_in(h, C.uint64_t(min), C.uint64_t(max), &id))
	return uint64(id), err
}

// AllocID claims exactly id: ErrExist if it is held, ErrInvalid if it is
// outside the pool.
func (p *Pool) AllocID(id uint64) error {
	h := p.lock()
	if h == nil {
		return ErrClosed
	}
	defer p.mu.RUnlock()
	return check("alloc_id", C.numballoc_alloc_id(h, C.uint64_t(id)))
}

// AllocBlock allocates count contiguous IDs, the first a multiple of align
// from the base (a power of two; 0 or 1: any), and returns the first.
func (p *Pool) AllocBlock(count, align uint64) (uint64, error) {
	var first C.uint64_t
	h := p.lock()
	if h == nil {
		return 0, ErrClosed
	}
	defer p.mu.RUnlock()
	err := check("alloc_block", C.numballoc_alloc_block(h, C.uint64_t(count), C.uint64_t(align), &first))
	return uint64(first), err
}

// Free frees one ID: ErrNotExist if it is not allocated.
func (p *Pool) Free(id uint64) error {
	h := p.lock()
	if h == nil {
		return ErrClosed
	}
	r := C.nb_go_free(C.uintptr_t(uintptr(unsafe.Pointer(h))), C.uint64_t(id))
	p.mu.RUnlock()
	return check("free", r)
}

// FreeBlock frees count IDs from first: ErrNotExist, and nothing freed,
// if any of them is not allocated.
func (p *Pool) FreeBlock(first, count uint64) error {
	h := p.lock()
	if h == nil {
		return ErrClosed
	}
	defer p.mu.RUnlock()
	return check("free_block", C.numballoc_free_block(h, C.uint64_t(first), C.uint64_t(count)))
}

// Test reports whether id is allocated.
func (p *Pool) Test(id uint64) (bool, error) {
	var r C.int
	h := p.lock()
	if h == nil {
		return false, ErrClosed
	}
	defer p.mu.RUnlock()
	r = C.numballoc_test(h, C.uint64_t(id))
	err := check("test", r)
	return err == nil && r == 1, err
}

// Next returns the first allocated ID >= from; ErrNotExist when there is none.
func (p *Pool) Next(from uint64) (uint64, error) {
	var id C.uint64_t
	h := p.lock()
	if h == nil {
		return 0, ErrClosed
	}
	defer p.mu.RUnlock()
	err := check("next", C.numballoc_next(h, C.uint64_t(from), &id))
	return uint64(id), err
}

// Stat counts the pool's IDs now.
func (p *Pool) Stat() (Stat, error) {
	var st C.struct_numballoc_stat
	h := p.lock()
	if h == nil {
		return Stat{}, ErrClosed
	}
	defer p.mu.RUnlock()
	err := check("stat", C.numballoc_stat(h, &st))
	if err != nil {
		return Stat{}, err
	}
	return Stat{
		Capacity:       uint64(st.capacity),
		Base:           uint64(st.base),
		Used:           uint64(st.used),
		Free:           uint64(st.free),
		LargestFreeRun: uint64(st.largest_free_run),
		Policy:         Policy(st.policy),
		Flags:          Flags(st.flags),
	}, nil
}

// SetOwner records pid as the holder of the IDs this handle allocates from
// now on (0: this process, the default). ErrNoProcess if pid is not
// running; ErrNotSupported on a pool made without Owners.
func (p *Pool) SetOwner(pid int) error {
	h := p.lock()
	if h == nil {
		return ErrClosed
	}
	defer p.mu.RUnlock()
	return check("set_owner", C.numballoc_set_owner(h, C.pid_t(pid)))
}

// Owner returns the pid recorded for id; ErrNotExist if id is not allocated.
func (p *Pool) Owner(id uint64) (int, error) {
	var pid C.pid_t
	h := p.lock()
	if h == nil {
		return 0, ErrClosed
	}
	defer p.mu.RUnlock()
	err := check("owner", C.numballoc_owner(h, C.uint64_t(id), &pid))
	return int(pid), err
}

// Reclaim releases every ID whose holder no longer exists and returns how
// many this call released. It never releases an ID of a live holder.
func (p *Pool) Reclaim() (uint64, error) {
	var n C.uint64_t
	h := p.lock()
	if h == nil {
		return 0, ErrClosed
	}
	defer p.mu.RUnlock()
	err := check("reclaim", C.numballoc_reclaim(h, &n))
	return uint64(n), err
}

// FreeOwner releases every ID that pid holds, alive or not, and returns how many.
func (p *Pool) FreeOwner(pid int) (uint64, error) {
	var n C.uint64_t
	h := p.lock()
	if h == nil {
		return 0, ErrClosed
	}
	defer p.mu.RUnlock()
	err := check("free_owner", C.numballoc_free_owner(h, C.pid_t(pid), &n))
	return uint64(n), err
}

// Range returns the pool's first ID and its number of IDs, from the header
// copied into the handle at Open: no word is read, so it costs the same on
// any pool (Stat counts every word). Works on a ReadOnly handle.
// See numballoc_range(3).
func (p *Pool) Range() (base, capacity uint64, err error) {
	var b, c C.uint64_t
	h := p.lock()
	if h == nil {
		return 0, 0, ErrClosed
	}
	defer p.mu.RUnlock()
	if err = check("range", C.numballoc_range(h, &b, &c)); err != nil {
		return 0, 0, err
	}
	return uint64(b), uint64(c), nil
}

// Chown hands the allocated id on to the running process pid: its record
// names pid from now on, and the ID stays held while pid lives (Reclaim
// releases it once pid has died). The change is one compare-and-swap; the
// ID is never free in between. ErrNotExist if id is not allocated,
// ErrNoProcess if pid is not running, ErrInvalid for pid <= 0 or an id
// outside the pool, ErrNotSupported on a pool made without Owners,
// ErrReadOnly on a ReadOnly handle; on error nothing changed.
// See numballoc_chown(3).
func (p *Pool) Chown(id uint64, pid int) error {
	h := p.lock()
	if h == nil {
		return ErrClosed
	}
	defer p.mu.RUnlock()
	return check("chown", C.numballoc_chown(h, C.uint64_t(id), C.pid_t(pid)))
}

// Reclaimed is one ID that ReclaimIDs released, and the dead process that
// held it.
type Reclaimed struct {
	ID     uint64
	Holder int // the pid recorded for ID, no longer running
}

// reclaimBatch is how many IDs one numballoc_reclaim_ids call may release
// (a variable so that the tests can make the loop turn).
var reclaimBatch = 256

// ReclaimIDs is Reclaim that names what it released: every ID whose holder
// no longer exists, with that holder, in increasing order of ID within each
// batch of the library's calls. It never releases an ID of a live holder,
// and when several processes reclaim at once each ID is named by one of
// them only. ErrNotSupported on a pool made without Owners, ErrReadOnly on
// a ReadOnly handle. If a later batch fails, the IDs already released are
// returned with the error. See numballoc_reclaim_ids(3).
func (p *Pool) ReclaimIDs() ([]Reclaimed, error) {
	var out []Reclaimed
	var n C.size_t
	ids := make([]C.uint64_t, reclaimBatch)
	pids := make([]C.pid_t, reclaimBatch)
	h := p.lock()
	if h == nil {
		return nil, ErrClosed
	}
	defer p.mu.RUnlock()
	for {
		r := C.numballoc_reclaim_ids(h, &ids[0], &pids[0], C.size_t(len(ids)), &n)
		if err := check("reclaim_ids", r); err != nil {
			return out, err
		}
		for i := 0; i < int(n); i++ {
			out = append(out, Reclaimed{ID: uint64(ids[i]), Holder: int(pids[i])})
		}
		if int(n) < len(ids) {
			return out, nil
		}
	}
}

// Leases: pools in Redis (numballoc_set_holder(3), numballoc_redis(7)).

// holderMax is the longest holder name the library accepts, in bytes.
const holderMax = 200

// SetHolder makes name the holder of every ID this handle allocates from
// now on, on a pool in Redis (one opened by a redis:// URL), with a lease
// of ttl (rounded up to whole milliseconds, 1 ms to 2^40 ms). The lease
// belongs to the holder: each of its allocations and each Renew restart it
// for everything the holder holds, and when it ends the server releases
// all of it. Handles, processes and hosts that use one name share its
// lease. ErrInvalid for an empty name, one longer than 200 bytes or with a
// blank, tab or newline, or a ttl out of range; ErrNotSupported on a pool
// in shared memory (use SetOwner there); ErrReadOnly on a ReadOnly handle.
func (p *Pool) SetHolder(name string, ttl time.Duration) error {
	var ms uint64
	if ttl > 0 {
		ms = uint64((ttl + time.Millisecond - 1) / time.Millisecond)
	}
	cname := C.CString(name) // "" stays a non-NULL empty name: ErrInvalid
	defer C.free(unsafe.Pointer(cname))
	h := p.lock()
	if h == nil {
		return ErrClosed
	}
	defer p.mu.RUnlock()
	return check("set_holder", C.numballoc_set_holder(h, cname, C.uint64_t(ms)))
}

// ClearHolder stops leasing: IDs this handle allocates from now on are
// held until they are freed. IDs already leased keep their lease.
// ErrNotSupported on a pool in shared memory.
func (p *Pool) ClearHolder() error {
	h := p.lock()
	if h == nil {
		return ErrClosed
	}
	defer p.mu.RUnlock()
	return check("set_holder", C.numballoc_set_holder(h, nil, 0))
}

// Renew restarts the lease of the handle's holder on everything it holds,
// in one atomic step on the server, and returns how many IDs it holds. A
// count of 0 says that the holder holds nothing: its lease had already
// ended (its IDs may now be held by others) or it never held any. Renew
// well within the TTL (a third of it is usual). ErrInvalid on a handle
// without a holder; ErrNotSupported on a pool in shared memory.
func (p *Pool) Renew() (uint64, error) {
	var n C.uint64_t
	h := p.lock()
	if h == nil {
		return 0, ErrClosed
	}
	defer p.mu.RUnlock()
	err := check("renew", C.numballoc_renew(h, &n))
	return uint64(n), err
}

// Holder returns the name of the holder that leases id. ErrNotExist when
// id is not leased (free, or allocated without a holder); ErrInvalid for
// an id outside the pool; ErrNotSupported on a pool in shared memory (use
// Owner there).
func (p *Pool) Holder(id uint64) (string, error) {
	var buf [holderMax + 1]C.char
	h := p.lock()
	if h == nil {
		return "", ErrClosed
	}
	defer p.mu.RUnlock()
	if err := check("holder", C.numballoc_holder(h, C.uint64_t(id), &buf[0], C.size_t(len(buf)))); err != nil {
		return "", err
	}
	return C.GoString(&buf[0]), nil
}
