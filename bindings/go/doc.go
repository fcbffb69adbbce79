// SPDX-License-Identifier: MIT

/*
Package numballoc hands out IDs, page runs and buffer offsets from pools
that many processes share, without locks, over the C library libnumballoc
(cgo). It adds no logic of its own: every call is one library call, and
the man pages in section 3 (numballoc_open(3), numballoc_alloc(3), ...)
say what each does in detail.

# ID pools

	p, err := numballoc.Open("ports", numballoc.Options{
		Capacity: 1000, Base: 40000, Flags: numballoc.Create,
	})
	if err != nil { ... }
	defer p.Close()
	port, err := p.Alloc()          // errors.Is(err, numballoc.ErrFull) when none is free
	...
	err = p.Free(port)

A Pool, Pages or Buffer may be used by any number of goroutines at once.
After Close their methods return ErrClosed. Every other failure is an
*Error carrying the library's errno; compare it with errors.Is against the
sentinels (ErrFull, ErrExist, ErrNotExist, ErrInvalid, ...) or against a
syscall.Errno.

Range reads the pool's base and capacity without counting (Stat counts).
A user who may read a pool but not write it opens it with the ReadOnly
flag; the methods that would write then return ErrReadOnly. On a pool made
with Owners, Chown hands an ID on to another running process, and
ReclaimIDs releases what dead processes held and says which IDs and
holders those were.

A pool named by a URL, redis://HOST[:PORT]/NAME, lives in a Redis server
(numballoc_redis(7)) and is opened with Open like any other. Its holders
are names with leases, not processes: SetHolder leases what the handle
allocates to a name for a TTL, Renew restarts that lease, Holder names the
holder of an ID, and the server releases what a holder held when its
lease ends. On a pool in shared memory these three return ErrNotSupported.

Pages (OpenPages) is a shared page arena: the pages live in the segment and
Pages.Bytes gives their memory in this process. Buffer (OpenBuffer)
hands out offsets in a buffer of the caller's, like pyglet's Allocator.

# The 2015 package

LoadShared, DestroyShared, ConcurrentBitmap, Allocator, SharedMemory and
ErrNoFreeNumber keep the shape of the 2015 Go package numballoc, so that a
program written for it works after only its import path changes. They
differ where its meaning was unsafe or lost information:

  - LoadShared of an existing pool with another size returns ErrInvalid.
    The 2015 package mapped the region with the size it was given and
    crashed with SIGBUS (or silently used part of the numbers).
  - Two processes that create the same pool at once agree on one pool. In
    the 2015 package the loser of the creation race could clear bits the
    winner had already handed out, and numbers were handed out twice.
  - Allocator.Free of a number that is not allocated returns an error
    (ErrNotAllocated, errors.Is ErrNotExist); the 2015 package returned
    nil. A number at or above Max returns ErrInvalid; the 2015 package
    indexed past its bitmap (a panic, or another number's bit).
  - LoadShared with size 0 returns ErrInvalid; the 2015 package's mmap
    failed with a system error.
  - The pool is a numballoc segment (a header, then the bitmap), not a raw
    bitmap: it cannot be shared with processes still running the 2015
    package, and Size reports the size in bytes the pool was loaded with.
  - Allocate hands out the lowest free number (a numballoc Lowest pool);
    the 2015 package started each search at the word of the process's last
    allocation. Both hand out a number only once; which one differs.

# Finding libnumballoc

By default the package is built against the source tree it sits in
(../../include) and the library of a build in ../../build or of an
in-tree build, then the linker's default directories. Build with
-tags numballoc_pkgconfig to use the installed library's pkg-config file
(libnumballoc.pc). CGO_CFLAGS and CGO_LDFLAGS override both.
*/
package numballoc
