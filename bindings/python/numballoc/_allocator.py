# SPDX-License-Identifier: MIT
"""numballoc.Allocator: a drop-in for pyglet.graphics.allocation.Allocator
over the library's offset buffer allocator (numballoc_buf_open(3))."""
import errno as _errno
import os

from . import _lib
from . import (InvalidArgumentError, NotAllocatedError, PoolFullError, _BY_ERRNO,
               _BY_ERRNO_OPEN, _BUF_FIRST_FIT, _CREATE, _EXCL, _Handle, _closed, _error,
               _scratch, _tls)


class AllocatorMemoryException(PoolFullError):
    """The buffer is not large enough to fulfil an allocation.

    As pyglet's: raised by Allocator.alloc and Allocator.realloc when the
    operation failed for lack of space; grow the buffer to at least
    requested_capacity (set_capacity) and retry. It is also a
    numballoc.PoolFullError, hence a MemoryError.
    """

    def __init__(self, requested_capacity):
        super().__init__(_errno.ENOSPC, 'the buffer needs a capacity of %d' % requested_capacity,
                         'alloc')
        self.requested_capacity = requested_capacity


class RegionNotAllocatedError(NotAllocatedError, AssertionError):
    """Allocator: dealloc or realloc of a range that is not entirely
    allocated. pyglet fails an assertion there, hence AssertionError too."""


class AllocatorArgumentError(InvalidArgumentError, AssertionError):
    """Allocator: a negative size, a capacity that does not grow, ... pyglet
    fails an assertion there, hence AssertionError too."""


_buf_alloc = _lib.lib.numballoc_buf_alloc
_buf_dealloc = _lib.lib.numballoc_buf_dealloc

_ALLOC_ERRORS = {**_BY_ERRNO, _errno.ENOENT: RegionNotAllocatedError,
                 _errno.EINVAL: AllocatorArgumentError}


def _nonneg(op, *values):
    for v in values:
        if v < 0:
            raise AllocatorArgumentError(_errno.EINVAL, 'negative size or offset %d' % v, op)


class Allocator(_Handle):
    """Buffer space allocation, as pyglet.graphics.allocation.Allocator.

    Allocator(capacity, name=None, *, path=None, max_capacity=0, exclusive=False, mode=0)

    Allocator(capacity) is pyglet's: offsets in a buffer of capacity units,
    private to this process. Given a name (a POSIX shared-memory name) or a
    path, the allocator is shared: every process that opens the same name
    sees and changes the same allocations. It is created with capacity if
    it does not exist (exclusive=True: PoolExistsError if it does); when it
    exists, capacity must be the one it was created with, or 0. It can grow
    (set_capacity) up to max_capacity, fixed at creation (0: the larger of
    capacity and 2^32).

    The same constructor, methods, return values, exception
    (AllocatorMemoryException with requested_capacity) and attributes
    (capacity, starts, sizes) as pyglet's, with these differences, all of
    them pyglet faults or consequences of sharing:

    1. alloc uses a free gap at offset 0 of exactly the size asked for;
       pyglet skips it (it places the region further on, or raises
       AllocatorMemoryException although the space is free).
    2. get_free_size and get_fragmented_free_size count a free gap at
       offset 0; pyglet forgets it (and get_usage and get_fragmentation,
       computed from them, follow).
    3. realloc that grows the last region to exactly the end of the
       capacity grows it in place; pyglet moves it (or raises).
    4. realloc to the same size leaves the region where it is; pyglet may
       move it (or raise) when no free space follows it.
    5. Where pyglet fails an assertion (a range that is not allocated, a
       negative size, set_capacity that does not grow) and corrupts its
       lists under python -O, this raises RegionNotAllocatedError or
       AllocatorArgumentError (both numballoc errors and AssertionErrors)
       and changes nothing. Allocator(0) raises AllocatorArgumentError: the
       library refuses a capacity of 0 (pyglet allows it).
    6. starts and sizes are read-only properties and get_allocated_regions
       returns new lists each call, read from the shared allocator; pyglet
       returns its own live lists.
    7. set_capacity is bounded by max_capacity; and when shared, by what
       another process did: a capacity that is not above today's (another
       process grew it first) raises AllocatorArgumentError.
    """

    __slots__ = ()
    _CLOSE = 'numballoc_buf_close'     # close() and the with block: _Handle's (not in pyglet)

    def __init__(self, capacity, name=None, *, path=None, max_capacity=0, exclusive=False, mode=0):
        self._h = None
        _nonneg('open', capacity, max_capacity)
        shared = name is not None or path is not None
        flags = (_CREATE if shared and capacity else 0) | (_EXCL if exclusive else 0)
        flags |= _BUF_FIRST_FIT        # pyglet's placement: first fit
        cpath = _lib.cbuf(path)
        o = _lib.new('struct numballoc_buf_opts *')
        o[0].capacity, o[0].max_capacity, o[0].path = capacity, max_capacity, cpath
        o[0].flags, o[0].mode = flags, mode
        hp = _lib.new('struct numballoc_buf **')
        r = _lib.lib.numballoc_buf_open(_lib.cstr(name), o, hp)
        if r < 0:
            raise _error(r, 'open', {**_BY_ERRNO_OPEN, _errno.EINVAL: AllocatorArgumentError})
        self._h = hp[0]
        self._pid = os.getpid()

    def _stat(self):
        st = _lib.new('struct numballoc_buf_stat *')
        r = _lib.lib.numballoc_buf_stat(self._handle('stat'), st)
        if r < 0:
            raise _error(r, 'stat')
        return st[0]

    @property
    def capacity(self):
        """The capacity now (read-only: set_capacity grows it)."""
        return self._stat().capacity

    def set_capacity(self, size):
        """Grow the capacity to size, which must be above today's and at
        most max_capacity (else AllocatorArgumentError). Allocations never
        move."""
        _nonneg('set_capacity', size)
        r = _lib.lib.numballoc_buf_set_capacity(self._handle('set_capacity'), size)
        if r < 0:
            raise _error(r, 'set_capacity', _ALLOC_ERRORS)

    def _needed(self, size):
        try:
            p = _tls.u64
        except AttributeError:
            p = _scratch()
        r = _lib.lib.numballoc_buf_needed(self._h, size, p)
        if r < 0:
            raise _error(r, 'needed', _ALLOC_ERRORS)
        return p[0]

    def alloc(self, size):
        """Allocate size units at the lowest offset where they fit and return
        that offset (0 for size 0). AllocatorMemoryException when no free
        range of that size exists; its requested_capacity is the end of the
        last allocated region plus size."""
        try:
            p = _tls.u64
        except AttributeError:
            p = _scratch()
        h = self._h
        if h is None:
            raise _closed('alloc')
        try:
            r = _buf_alloc(h, size, p)
        except OverflowError:                       # cffi: not a uint64_t
            r = -_errno.EINVAL
        if r < 0:
            _nonneg('alloc', size)                  # ctypes passes -1 as 2^64 - 1
            if r == -_errno.ENOSPC:
                raise AllocatorMemoryException(self._needed(size))
            raise _error(r, 'alloc', _ALLOC_ERRORS)
        return p[0]

    def realloc(self, start, size, new_size):
        """Resize the region [start, start+size) to new_size and return its
        start: the same when it shrinks, stays or the space after it is
        free, else a new place allocated before the old region is freed
        (the caller moves the contents). new_size 0 frees it and returns 0;
        size 0 is alloc(new_size). AllocatorMemoryException, and nothing
        changed, when it fits nowhere."""
        _nonneg('realloc', start, size, new_size)
        try:
            p = _tls.u64
        except AttributeError:
            p = _scratch()
        r = _lib.lib.numballoc_buf_realloc(self._handle('realloc'), start, size, new_size, p)
        if r < 0:
            if r == -_errno.ENOSPC:
                raise AllocatorMemoryException(self._needed(new_size))
            raise _error(r, 'realloc', _ALLOC_ERRORS)
        return p[0]

    def dealloc(self, start, size):
        """Free size units from start, any part of allocated space;
        RegionNotAllocatedError, and nothing freed, unless all of it is
        allocated. Size 0 does nothing."""
        h = self._h
        if h is None:
            raise _closed('dealloc')
        try:
            r = _buf_dealloc(h, start, size)
        except OverflowError:
            r = -_errno.EINVAL
        if r < 0:
            _nonneg('dealloc', start, size)
            raise _error(r, 'dealloc', _ALLOC_ERRORS)

    def get_allocated_regions(self):
        """(starts, sizes): the allocated space as merged regions in address
        order, two new lists of the same length."""
        h = self._handle('regions')
        n = _lib.new('size_t *')
        cap = 64
        while True:
            starts = _lib.array('uint64_t', cap)
            sizes = _lib.array('uint64_t', cap)
            r = _lib.lib.numballoc_buf_regions(h, starts, sizes, cap, n)
            if r < 0:
                raise _error(r, 'regions')
            if n[0] <= cap:
                k = n[0]
                return list(starts[0:k]), list(sizes[0:k])
            cap = n[0] + n[0] // 4 + 16     # others may add regions meanwhile

    @property
    def starts(self):
        """The starts of the merged allocated regions (a new list)."""
        return self.get_allocated_regions()[0]

    @property
    def sizes(self):
        """The sizes of the merged allocated regions (a new list)."""
        return self.get_allocated_regions()[1]

    def get_fragmented_free_size(self):
        """The free space not counting the final free block (a leading
        gap included)."""
        return self._stat().fragmented_free_size

    def get_free_size(self):
        """All the free space (a leading gap included)."""
        return self._stat().free_size

    def get_usage(self):
        """The fraction of the capacity allocated."""
        return self._stat().usage

    def get_fragmentation(self):
        """The fraction of the free space that is not the final free block
        (0 when nothing is free)."""
        return self._stat().fragmentation

    def __str__(self):
        """'allocs=[(start, size), ...]', as pyglet's."""
        starts, sizes = self.get_allocated_regions()
        return 'allocs=' + repr(list(zip(starts, sizes)))

    def __repr__(self):
        """'<Allocator allocs=[...]>', as pyglet's."""
        return '<%s %s>' % (self.__class__.__name__, str(self))
