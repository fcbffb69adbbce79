# SPDX-License-Identifier: MIT
"""_lib - find libnumballoc and call it through cffi (ABI mode) or ctypes.

Nothing here adds logic: it loads the library, declares the C API of
include/numballoc.h and gives the rest of the package one small surface,
the same for both foreign-function modules:

  lib          the library's functions (numballoc_open, ...)
  new(ctype)   a zeroed C object of a type named below, as a pointer p
               whose p[0] is the object (p[0].field for a struct)
  NULL, string(cstr), cstr(str)

cffi's ABI mode (no compile step) makes a call about twice as fast as
ctypes on Debian's python3 (see the README section); ctypes is the
fallback when cffi is not installed. NUMBALLOC_PY_FFI=ctypes|cffi forces one.

Where the library is looked for, first found wins:
  1. $NUMBALLOC_LIBRARY, a path to libnumballoc.so;
  2. a build in the source tree this package sits in (bindings/python/numballoc):
     ../../../build/lib/.libs
     (the out-of-tree build of the README) or ../../../lib/.libs (in-tree);
  3. ctypes.util.find_library('numballoc') (the ldconfig cache, the
     linker's default directories: an install under /usr or /usr/local);
  4. the libdir of `pkg-config libnumballoc` (an install elsewhere, with
     PKG_CONFIG_PATH naming it);
  5. the soname libnumballoc.so.0 in the dynamic loader's search path.
"""
import ctypes
import ctypes.util
import os
import subprocess

SONAME = 'libnumballoc.so.0'

CDEF = '''
struct numballoc;
struct numballoc_buf;
struct numballoc_opts {
	uint64_t capacity; uint64_t base; const char *path;
	unsigned int policy; unsigned int flags; unsigned int mode;
	unsigned int reserved_u[5]; uint64_t reserved[6];
};
struct numballoc_stat {
	uint64_t capacity; uint64_t base; uint64_t used; uint64_t free;
	uint64_t largest_free_run; unsigned int policy; unsigned int flags;
	uint64_t reserved[4];
};
struct numballoc_buf_opts {
	uint64_t capacity; uint64_t unit; uint64_t max_capacity; const char *path;
	unsigned int flags; unsigned int mode;
	unsigned int reserved_u[6]; uint64_t reserved[6];
};
struct numballoc_buf_stat {
	uint64_t capacity; uint64_t max_capacity; uint64_t unit; uint64_t free_size;
	uint64_t fragmented_free_size; uint64_t largest_free;
	double fragmentation; double usage; uint64_t reserved[4];
};
int numballoc_open(const char *name, const struct numballoc_opts *opts, struct numballoc **poolp);
int numballoc_close(struct numballoc *pool);
int numballoc_unlink(const char *name);
int numballoc_alloc(struct numballoc *pool, uint64_t *id);
int numballoc_alloc_in(struct numballoc *pool, uint64_t min, uint64_t max, uint64_t *id);
int numballoc_alloc_id(struct numballoc *pool, uint64_t id);
int numballoc_alloc_block(struct numballoc *pool, uint64_t count, uint64_t align, uint64_t *first);
int numballoc_free(struct numballoc *pool, uint64_t id);
int numballoc_free_block(struct numballoc *pool, uint64_t first, uint64_t count);
int numballoc_test(struct numballoc *pool, uint64_t id);
int numballoc_next(struct numballoc *pool, uint64_t from, uint64_t *id);
int numballoc_stat(struct numballoc *pool, struct numballoc_stat *st);
const char *numballoc_strerror(int err);
int numballoc_set_owner(struct numballoc *pool, int pid);
int numballoc_owner(struct numballoc *pool, uint64_t id, int *pid);
int numballoc_reclaim(struct numballoc *pool, uint64_t *count);
int numballoc_free_owner(struct numballoc *pool, int pid, uint64_t *count);
int numballoc_range(struct numballoc *pool, uint64_t *base, uint64_t *capacity);
int numballoc_chown(struct numballoc *pool, uint64_t id, int pid);
int numballoc_reclaim_ids(struct numballoc *pool, uint64_t *ids, int *holders, size_t max, size_t *n);
int numballoc_set_holder(struct numballoc *pool, const char *holder, uint64_t ttl_ms);
int numballoc_renew(struct numballoc *pool, uint64_t *count);
int numballoc_holder(struct numballoc *pool, uint64_t id, char *buf, size_t size);
int numballoc_buf_open(const char *name, const struct numballoc_buf_opts *opts, struct numballoc_buf **bp);
int numballoc_buf_close(struct numballoc_buf *b);
int numballoc_buf_alloc(struct numballoc_buf *b, uint64_t size, uint64_t *start);
int numballoc_buf_needed(struct numballoc_buf *b, uint64_t size, uint64_t *capacity);
int numballoc_buf_dealloc(struct numballoc_buf *b, uint64_t start, uint64_t size);
int numballoc_buf_realloc(struct numballoc_buf *b, uint64_t start, uint64_t size, uint64_t new_size, uint64_t *new_start);
int numballoc_buf_regions(struct numballoc_buf *b, uint64_t *starts, uint64_t *sizes, size_t max, size_t *n);
int numballoc_buf_stat(struct numballoc_buf *b, struct numballoc_buf_stat *st);
int numballoc_buf_set_capacity(struct numballoc_buf *b, uint64_t capacity);
'''


def _candidates():
    env = os.environ.get('NUMBALLOC_LIBRARY')
    if env:
        yield env
        return      # asked for exactly this one
    top = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
    for d in ('build/lib/.libs', 'lib/.libs'):
        p = os.path.join(top, d, SONAME)
        if os.path.exists(p):
            yield p
    found = ctypes.util.find_library('numballoc')
    if found:
        yield found
    try:
        libdir = subprocess.run(['pkg-config', '--variable=libdir', 'libnumballoc'],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        libdir = ''
    if libdir:
        yield os.path.join(libdir, SONAME)
    yield SONAME


def _find():
    errors = []
    for c in _candidates():
        try:
            ctypes.CDLL(c)
            return c
        except OSError as e:
            errors.append('%s: %s' % (c, e))
    raise ImportError('numballoc: cannot load libnumballoc (set NUMBALLOC_LIBRARY to its path): '
                      + '; '.join(errors))


PATH = _find()
_want = os.environ.get('NUMBALLOC_PY_FFI', '')
if _want not in ('', 'cffi', 'ctypes'):
    raise ImportError('numballoc: NUMBALLOC_PY_FFI must be cffi or ctypes, not %r' % _want)

ffi = None
if _want != 'ctypes':
    try:
        import cffi
    except ImportError:
        if _want == 'cffi':
            raise
    else:
        ffi = cffi.FFI()
        ffi.cdef(CDEF)

if ffi is not None:
    FFI = 'cffi'
    lib = ffi.dlopen(PATH)
    NULL = ffi.NULL
    new = ffi.new

    def string(p):
        return ffi.string(p).decode('utf-8', 'replace')

    def array(ctype, n):
        return ffi.new(ctype + '[]', n)

    def charbuf(n):
        return ffi.new('char[]', n)
else:
    FFI = 'ctypes'
    from . import _ctypes_decl as _decl
    lib = _decl.load(PATH)
    NULL = None
    new = _decl.new
    string = _decl.string
    array = _decl.array
    charbuf = _decl.charbuf


def cstr(s):
    """A str or None as a name argument of a library function."""
    if s is None:
        return NULL
    return os.fsencode(s)


def cbuf(s):
    """A str or None as a char * field of an options struct (keep it alive)."""
    if s is None:
        return NULL
    if ffi is not None:
        return ffi.new('char[]', os.fsencode(s))
    return os.fsencode(s)
