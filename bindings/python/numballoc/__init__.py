# SPDX-License-Identifier: MIT
"""numballoc - lock-free allocation of IDs and buffer offsets from pools
shared between processes, over the C library libnumballoc.

    import numballoc

    with numballoc.Pool('ports', capacity=1000, base=40000, create=True) as pool:
        port = pool.alloc()         # numballoc.PoolFullError (a MemoryError) when none is free
        ...
        pool.free(port)

numballoc.Allocator is a drop-in for pyglet.graphics.allocation.Allocator
(see its docstring for the only differences), shared between processes
when it is given a name.

The package adds no logic: every method is one library call, and the man
pages in section 3 (numballoc_open(3), numballoc_alloc(3), ...) say what
each does in detail. Errors are exceptions that derive from
numballoc.Error and from the built-in that fits (MemoryError for a full
pool, ValueError for a bad argument, LookupError for an ID that is not
allocated, FileNotFoundError for a pool that does not exist, ...); each
carries the library's errno in .errno.

The library is found as _lib's docstring says ($NUMBALLOC_LIBRARY first);
numballoc.LIBRARY is the path loaded and numballoc.FFI the foreign-function
module in use ('cffi' or 'ctypes').
"""
import collections
import errno as _errno
import os
import threading

from . import _lib

__all__ = [
    'Pool', 'PoolStat', 'unlink', 'strerror',
    'Allocator', 'AllocatorMemoryException',
    'Error', 'PoolFullError', 'InvalidArgumentError', 'AlreadyAllocatedError',
    'NotAllocatedError', 'PoolExistsError', 'PoolNotFoundError', 'CorruptPoolError',
    'PoolVersionError', 'PoolKindError', 'OwnersNotSupportedError', 'NoSuchProcessError',
    'PoolOSError', 'PoolClosedError', 'ReadOnlyError', 'PoolPermissionError',
    'NotSupportedError', 'LeasesNotSupportedError',
    'LOWEST', 'CYCLIC', 'SPREAD', 'LIBRARY', 'FFI',
]

LIBRARY = _lib.PATH
FFI = _lib.FFI

# Allocation policies of an ID pool (enum numballoc_policy).
LOWEST = 0      # the lowest free ID (file descriptors, IDA)
CYCLIC = 1      # the next free ID after the last handed out (PIDs)
SPREAD = 2      # any free ID, threads start apart (throughput)

_CREATE, _EXCL, _OWNERS, _RDONLY = 0x1, 0x2, 0x4, 0x8
# NUMBALLOC_BUF_FIRST_FIT: first-fit placement for a buffer allocator, in
# libraries whose default placement is process-local chunks. pyglet places
# first fit; Allocator asks for it (Allocator.__init__).
_BUF_FIRST_FIT = 0x10

ECORRUPT = _errno.EUCLEAN           # NUMBALLOC_ECORRUPT
EVERSION = _errno.EPROTONOSUPPORT   # NUMBALLOC_EVERSION
EKIND = _errno.EMEDIUMTYPE          # NUMBALLOC_EKIND


def strerror(err):
    """The library's message for an error number, negative or positive
    (numballoc_strerror(3)); never fails."""
    return _lib.string(_lib.lib.numballoc_strerror(int(err)))


# ------------------------------------------------------------------ errors

class Error(Exception):
    """Base of every error the library reports. .errno is the positive
    errno, .strerror the library's message, .op the function."""

    def __init__(self, errno, strerror, op=None):
        super().__init__(errno, strerror)
        self.errno = errno
        self.strerror = strerror
        self.op = op

    def __str__(self):
        """'op: message', or the message alone."""
        return '%s: %s' % (self.op, self.strerror) if self.op else self.strerror


class PoolFullError(Error, MemoryError):
    """No free ID, run or range of the size asked for (ENOSPC)."""


class InvalidArgumentError(Error, ValueError):
    """A bad argument, or options that contradict an existing pool (EINVAL)."""


class AlreadyAllocatedError(Error, ValueError):
    """The ID asked for is already allocated (EEXIST)."""


class NotAllocatedError(Error, LookupError):
    """The ID or range is not allocated, or nothing was found (ENOENT)."""


class PoolExistsError(Error, FileExistsError):
    """The pool exists and exclusive creation was asked for (EEXIST on open)."""


class PoolNotFoundError(Error, FileNotFoundError):
    """No such pool, and creation was not asked for (ENOENT on open or unlink)."""


class PoolOSError(Error, OSError):
    """A system error passed through from shm_open(3), open(2), mmap(2) ..."""


class PoolPermissionError(PoolOSError, PermissionError):
    """No permission on the pool's object or its directory (EACCES or EPERM
    on open or unlink); a user who may only read the pool opens it with
    readonly=True."""


class CorruptPoolError(PoolOSError):
    """The segment is not a valid numballoc segment (NUMBALLOC_ECORRUPT)."""


class PoolVersionError(PoolOSError):
    """The segment has a format version this library does not know (NUMBALLOC_EVERSION)."""


class PoolKindError(PoolOSError):
    """The segment holds another kind of pool (NUMBALLOC_EKIND)."""


class NotSupportedError(Error, TypeError):
    """A call the pool does not serve (EOPNOTSUPP): owner calls on a pool
    without owners or in Redis, lease calls on a pool in shared memory, a
    URL scheme this build does not serve."""


class OwnersNotSupportedError(NotSupportedError):
    """An owner function on a pool created without owners=True, or on a
    pool in Redis (EOPNOTSUPP)."""


class LeasesNotSupportedError(NotSupportedError):
    """A lease function (set_holder, renew, holder) on a pool in shared
    memory: leases exist only on pools in Redis (EOPNOTSUPP)."""


class NoSuchProcessError(Error, ProcessLookupError):
    """The process named as an owner is not running (ESRCH)."""


class ReadOnlyError(Error, PermissionError):
    """A call that writes, on a Pool opened with readonly=True (EROFS);
    nothing changed."""


class PoolClosedError(Error, ValueError):
    """The handle was closed (raised by the package, like I/O on a closed file)."""


_BY_ERRNO = {
    _errno.ENOSPC: PoolFullError,
    _errno.EINVAL: InvalidArgumentError,
    _errno.EEXIST: AlreadyAllocatedError,
    _errno.ENOENT: NotAllocatedError,
    ECORRUPT: CorruptPoolError,
    EVERSION: PoolVersionError,
    EKIND: PoolKindError,
    _errno.EOPNOTSUPP: OwnersNotSupportedError,
    _errno.ESRCH: NoSuchProcessError,
    _errno.EROFS: ReadOnlyError,
}
_BY_ERRNO_LEASE = {**_BY_ERRNO, _errno.EOPNOTSUPP: LeasesNotSupportedError}
_BY_ERRNO_OPEN = {**_BY_ERRNO, _errno.EEXIST: PoolExistsError, _errno.ENOENT: PoolNotFoundError,
                  _errno.EOPNOTSUPP: NotSupportedError, _errno.EACCES: PoolPermissionError, _errno.EPERM: PoolPermissionError}


def _error(r, op, table=_BY_ERRNO):
    e = -r
    return table.get(e, PoolOSError)(e, strerror(r), op)


def _closed(op):
    return PoolClosedError(_errno.EBADF, 'the handle is closed', op)


def unlink(name):
    """Remove the name of a shared pool of any kind; open handles keep
    working (numballoc_unlink(3)). PoolNotFoundError if there is none."""
    r = _lib.lib.numballoc_unlink(_lib.cstr(name))
    if r < 0:
        raise _error(r, 'unlink', _BY_ERRNO_OPEN)


# One scratch uint64_t per thread for the IDs the library writes back: a
# new C object per call costs more than the call (see the README section).
_tls = threading.local()


def _scratch():
    p = _tls.u64 = _lib.new('uint64_t *')
    return p


# How many IDs one numballoc_reclaim_ids call may release (Pool.reclaim_ids
# calls again while a batch comes back full; the tests make it small).
_RECLAIM_BATCH = 256

# The longest holder name the library accepts, in bytes (numballoc_set_holder(3)).
_HOLDER_MAX = 200

# The hot calls, looked up once.
_alloc = _lib.lib.numballoc_alloc
_free = _lib.lib.numballoc_free


# --------------------------------------------------------------- ID pools

PoolStat = collections.namedtuple('PoolStat', 'capacity base used free largest_free_run policy owners')
PoolStat.__doc__ = """What Pool.stat() counts (struct numballoc_stat): used, free and
largest_free_run are counted from the words now; owners is True when the
pool records holders."""


class _Handle:
    """What Pool and Allocator share: one library handle (_h) opened by this
    process (_pid), released once by the library function named _CLOSE, and
    never by a child made by fork()."""

    __slots__ = ('_h', '_pid', '__weakref__')
    _CLOSE = None

    def close(self):
        """Release the handle; the pool or allocator and what it holds stay.
        Closing a closed handle does nothing."""
        h, self._h = self._h, None
        if h is not None and self._pid == os.getpid():
            getattr(_lib.lib, self._CLOSE)(h)

    def __del__(self):
        """close() when the last reference goes (not in a forked child)."""
        if getattr(self, '_h', None) is not None:
            self.close()

    def __enter__(self):
        """with X(...) as x: x is the object itself."""
        return self

    def __exit__(self, *exc):
        """close() at the end of the with block; exceptions propagate."""
        self.close()
        return False

    @property
    def closed(self):
        """True after close()."""
        return self._h is None

    def _handle(self, op):
        h = self._h
        if h is None:
            raise _closed(op)
        return h


class Pool(_Handle):
    """An open handle on an ID pool (numballoc_open(3)).

    Pool(name, capacity=0, base=0, *, path=None, policy=LOWEST,
         create=False, exclusive=False, owners=False, mode=0, readonly=False)

    name is a POSIX shared-memory name ('ports' or '/ports'); with name
    None, path names a regular file that backs the pool; with both None the
    pool is private to this process. create=True creates it if it does not
    exist (capacity IDs from base, by policy; owners=True records who holds
    each ID); exclusive=True with create fails with PoolExistsError if it
    exists. When it exists, capacity and base 0 accept the pool's and
    other values must equal them (else InvalidArgumentError).

    name may also be a URL, redis://HOST[:PORT]/NAME: the pool lives in a
    Redis server (numballoc_redis(7)), and its holders are names with
    leases (set_holder, renew, holder) instead of processes.

    readonly=True opens an existing pool read-only (O_RDONLY, a read-only
    mapping), for a user who may read it but not write it: test, next,
    iteration, stat, range and owner work; every method that would write
    raises ReadOnlyError (a PermissionError) and changes nothing. With
    create or exclusive, or for a private pool: InvalidArgumentError.

    A Pool is a context manager (close() at the end of the with block). Its
    methods may be called from several threads at once, but not after or
    while close() runs. A child made by fork() must open its own Pool; a
    Pool inherited across fork() is not closed by the child.
    """

    __slots__ = ()
    _CLOSE = 'numballoc_close'

    def __init__(self, name=None, capacity=0, base=0, *, path=None, policy=LOWEST,
                 create=False, exclusive=False, owners=False, mode=0, readonly=False):
        self._h = None
        flags = (_CREATE if create else 0) | (_EXCL if exclusive else 0) | (_OWNERS if owners else 0)
        if readonly:
            flags |= _RDONLY
        cpath = _lib.cbuf(path)
        o = _lib.new('struct numballoc_opts *')
        o[0].capacity, o[0].base, o[0].path = capacity, base, cpath
        o[0].policy, o[0].flags, o[0].mode = policy, flags, mode
        hp = _lib.new('struct numballoc **')
        r = _lib.lib.numballoc_open(_lib.cstr(name), o, hp)
        if r < 0:
            raise _error(r, 'open', _BY_ERRNO_OPEN)
        self._h = hp[0]
        self._pid = os.getpid()

    def alloc(self):
        """Allocate one ID by the pool's policy and return it.
        PoolFullError only when none is free."""
        try:
            p = _tls.u64
        except AttributeError:
            p = _scratch()
        h = self._h
        if h is None:
            raise _closed('alloc')
        r = _alloc(h, p)
        if r < 0:
            raise _error(r, 'alloc')
        return p[0]

    def alloc_in(self, lo, hi):
        """Allocate one ID in [lo, hi] (inclusive, clipped to the pool;
        InvalidArgumentError if they are disjoint) and return it."""
        try:
            p = _tls.u64
        except AttributeError:
            p = _scratch()
        r = _lib.lib.numballoc_alloc_in(self._handle('alloc_in'), lo, hi, p)
        if r < 0:
            raise _error(r, 'alloc_in')
        return p[0]

    def alloc_id(self, id):
        """Claim exactly id: AlreadyAllocatedError if it is held,
        InvalidArgumentError if it is outside the pool."""
        r = _lib.lib.numballoc_alloc_id(self._handle('alloc_id'), id)
        if r < 0:
            raise _error(r, 'alloc_id')

    def alloc_block(self, count, align=1):
        """Allocate count contiguous IDs, the first a multiple of align from
        the base (a power of two; 0 or 1: any), and return the first."""
        try:
            p = _tls.u64
        except AttributeError:
            p = _scratch()
        r = _lib.lib.numballoc_alloc_block(self._handle('alloc_block'), count, align, p)
        if r < 0:
            raise _error(r, 'alloc_block')
        return p[0]

    def free(self, id):
        """Free one ID: NotAllocatedError if it is not allocated."""
        h = self._h
        if h is None:
            raise _closed('free')
        r = _free(h, id)
        if r < 0:
            raise _error(r, 'free')

    def free_block(self, first, count):
        """Free count IDs from first: NotAllocatedError, and nothing freed,
        if any of them is not allocated."""
        r = _lib.lib.numballoc_free_block(self._handle('free_block'), first, count)
        if r < 0:
            raise _error(r, 'free_block')

    def test(self, id):
        """True if id is allocated, False if it is free."""
        r = _lib.lib.numballoc_test(self._handle('test'), id)
        if r < 0:
            raise _error(r, 'test')
        return r == 1

    def __contains__(self, id):
        """id in pool: test(id)."""
        return self.test(id)

    def next(self, start):
        """The first allocated ID >= start, or None when there is none."""
        try:
            p = _tls.u64
        except AttributeError:
            p = _scratch()
        r = _lib.lib.numballoc_next(self._handle('next'), start, p)
        if r == -_errno.ENOENT:
            return None
        if r < 0:
            raise _error(r, 'next')
        return p[0]

    def __iter__(self):
        """The allocated IDs in increasing order, read as the iteration goes."""
        i, capacity = self.range()
        end = i + capacity
        while i < end:
            i = self.next(i)
            if i is None:
                return
            yield i
            i += 1

    def stat(self):
        """A PoolStat, counted from the pool's words now."""
        st = _lib.new('struct numballoc_stat *')
        r = _lib.lib.numballoc_stat(self._handle('stat'), st)
        if r < 0:
            raise _error(r, 'stat')
        s = st[0]
        return PoolStat(s.capacity, s.base, s.used, s.free, s.largest_free_run, s.policy,
                        bool(s.flags & _OWNERS))

    def set_owner(self, pid=0):
        """Record pid as the holder of the IDs this handle allocates from now
        on (0: this process). NoSuchProcessError if pid is not running;
        OwnersNotSupportedError on a pool created without owners."""
        r = _lib.lib.numballoc_set_owner(self._handle('set_owner'), pid)
        if r < 0:
            raise _error(r, 'set_owner')

    def owner(self, id):
        """The pid recorded for id; NotAllocatedError if it is not allocated."""
        p = _lib.new('int *')
        r = _lib.lib.numballoc_owner(self._handle('owner'), id, p)
        if r < 0:
            raise _error(r, 'owner')
        return p[0]

    def reclaim(self):
        """Release every ID whose holder no longer exists; return how many
        this call released. Never releases an ID of a live holder."""
        p = _lib.new('uint64_t *')
        r = _lib.lib.numballoc_reclaim(self._handle('reclaim'), p)
        if r < 0:
            raise _error(r, 'reclaim')
        return p[0]

    def free_owner(self, pid):
        """Release every ID that pid holds, alive or not; return how many."""
        p = _lib.new('uint64_t *')
        r = _lib.lib.numballoc_free_owner(self._handle('free_owner'), pid, p)
        if r < 0:
            raise _error(r, 'free_owner')
        return p[0]

    def range(self):
        """(base, capacity): the first ID and the number of IDs, from the
        header read at open (numballoc_range(3)); no word is read, so it
        costs the same on any pool, unlike stat(). The pool holds
        range(base, base + capacity)."""
        b = _lib.new('uint64_t *')
        c = _lib.new('uint64_t *')
        r = _lib.lib.numballoc_range(self._handle('range'), b, c)
        if r < 0:
            raise _error(r, 'range')
        return b[0], c[0]

    def chown(self, id, pid):
        """Hand the allocated id on to the running process pid
        (numballoc_chown(3)): its record names pid from now on and the ID
        stays held while pid lives; reclaim() releases it once pid has
        died. One compare-and-swap: the ID is never free in between.
        NotAllocatedError if id is not allocated, NoSuchProcessError if pid
        is not running, InvalidArgumentError for pid <= 0 or an id outside
        the pool, OwnersNotSupportedError on a pool without owners,
        ReadOnlyError on a read-only Pool; on error nothing changed."""
        r = _lib.lib.numballoc_chown(self._handle('chown'), id, pid)
        if r < 0:
            raise _error(r, 'chown')

    def reclaim_ids(self):
        """reclaim() that names what it released: a list of (id, pid)
        pairs, each ID whose holder pid no longer exists, in increasing
        order of ID within each batch of the library's calls
        (numballoc_reclaim_ids(3)). Never releases an ID of a live holder;
        when several processes reclaim at once each ID is named by one of
        them only. OwnersNotSupportedError on a pool without owners,
        ReadOnlyError on a read-only Pool. If a later batch fails, the
        exception's .reclaimed holds the pairs already released."""
        h = self._handle('reclaim_ids')
        size = _RECLAIM_BATCH
        ids = _lib.array('uint64_t', size)
        pids = _lib.array('int', size)
        n = _lib.new('size_t *')
        out = []
        while True:
            r = _lib.lib.numballoc_reclaim_ids(h, ids, pids, size, n)
            if r < 0:
                e = _error(r, 'reclaim_ids')
                e.reclaimed = out
                raise e
            k = n[0]
            out.extend((ids[i], pids[i]) for i in range(k))
            if k < size:
                return out

    # Leases: pools in Redis (numballoc_set_holder(3), numballoc_redis(7)).

    def set_holder(self, name, ttl_ms):
        """Make name the holder of every ID this handle allocates from now
        on, on a pool in Redis (opened by a redis:// URL), with a lease of
        ttl_ms milliseconds (1 to 2**40); name None stops leasing (ttl_ms
        is then ignored). The lease belongs to the holder: each of its
        allocations and each renew() restart it for everything the holder
        holds, and when it ends the server releases all of it. Handles,
        processes and hosts that use one name share its lease.
        InvalidArgumentError (a ValueError) for an empty name, one longer
        than 200 bytes or with a blank, tab or newline, or a ttl_ms out of
        range; LeasesNotSupportedError (EOPNOTSUPP) on a pool in shared
        memory (set_owner() is for holders there); ReadOnlyError on a
        read-only Pool."""
        h = self._handle('set_holder')
        if name is None:
            ttl_ms = 0
        elif ttl_ms < 0:
            raise InvalidArgumentError(_errno.EINVAL, strerror(-_errno.EINVAL), 'set_holder')
        r = _lib.lib.numballoc_set_holder(h, _lib.cstr(name), ttl_ms)
        if r < 0:
            raise _error(r, 'set_holder', _BY_ERRNO_LEASE)

    def renew(self):
        """Restart the lease of this handle's holder on everything it holds,
        in one atomic step on the server, and return how many IDs it holds.
        0 says that the holder holds nothing: its lease had already ended
        (its IDs may now be held by others) or it never held any. Renew
        well within the TTL (a third of it is usual). InvalidArgumentError
        on a handle without a holder; LeasesNotSupportedError (EOPNOTSUPP)
        on a pool in shared memory."""
        p = _lib.new('uint64_t *')
        r = _lib.lib.numballoc_renew(self._handle('renew'), p)
        if r < 0:
            raise _error(r, 'renew', _BY_ERRNO_LEASE)
        return p[0]

    def holder(self, id):
        """The name of the holder that leases id (a str).
        NotAllocatedError (a LookupError) when id is not leased (free, or
        allocated without a holder); InvalidArgumentError for an id outside
        the pool; LeasesNotSupportedError (EOPNOTSUPP) on a pool in shared
        memory (owner() is for holders there)."""
        buf = _lib.charbuf(_HOLDER_MAX + 1)
        r = _lib.lib.numballoc_holder(self._handle('holder'), id, buf, _HOLDER_MAX + 1)
        if r < 0:
            raise _error(r, 'holder', _BY_ERRNO_LEASE)
        return _lib.string(buf)

    def __repr__(self):
        """<numballoc.Pool open> or <numballoc.Pool closed>."""
        return '<numballoc.Pool %s>' % ('closed' if self._h is None else 'open')


from ._allocator import Allocator, AllocatorMemoryException  # noqa: E402
