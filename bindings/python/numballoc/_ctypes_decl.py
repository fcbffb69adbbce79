# SPDX-License-Identifier: MIT
"""_ctypes_decl - the C API of include/numballoc.h for ctypes, the
fallback of _lib when cffi is not installed (same surface: load, new,
array, string)."""
import ctypes
from ctypes import POINTER, c_char_p, c_double, c_int, c_size_t, c_uint, c_uint64, c_void_p

u64 = c_uint64


class Opts(ctypes.Structure):
    _fields_ = [('capacity', u64), ('base', u64), ('path', c_char_p), ('policy', c_uint),
                ('flags', c_uint), ('mode', c_uint), ('reserved_u', c_uint * 5),
                ('reserved', u64 * 6)]


class Stat(ctypes.Structure):
    _fields_ = [('capacity', u64), ('base', u64), ('used', u64), ('free', u64),
                ('largest_free_run', u64), ('policy', c_uint), ('flags', c_uint),
                ('reserved', u64 * 4)]


class BufOpts(ctypes.Structure):
    _fields_ = [('capacity', u64), ('unit', u64), ('max_capacity', u64), ('path', c_char_p),
                ('flags', c_uint), ('mode', c_uint), ('reserved_u', c_uint * 6),
                ('reserved', u64 * 6)]


class BufStat(ctypes.Structure):
    _fields_ = [('capacity', u64), ('max_capacity', u64), ('unit', u64), ('free_size', u64),
                ('fragmented_free_size', u64), ('largest_free', u64),
                ('fragmentation', c_double), ('usage', c_double), ('reserved', u64 * 4)]


TYPES = {
    'struct numballoc_opts *': Opts,
    'struct numballoc_stat *': Stat,
    'struct numballoc_buf_opts *': BufOpts,
    'struct numballoc_buf_stat *': BufStat,
    'struct numballoc **': c_void_p,
    'struct numballoc_buf **': c_void_p,
    'uint64_t *': u64,
    'size_t *': c_size_t,
    'int *': c_int,
}

P = c_void_p
PU = POINTER(u64)
SIGS = {
    'numballoc_open': (c_char_p, POINTER(Opts), POINTER(c_void_p)),
    'numballoc_close': (P,),
    'numballoc_unlink': (c_char_p,),
    'numballoc_alloc': (P, PU),
    'numballoc_alloc_in': (P, u64, u64, PU),
    'numballoc_alloc_id': (P, u64),
    'numballoc_alloc_block': (P, u64, u64, PU),
    'numballoc_free': (P, u64),
    'numballoc_free_block': (P, u64, u64),
    'numballoc_test': (P, u64),
    'numballoc_next': (P, u64, PU),
    'numballoc_stat': (P, POINTER(Stat)),
    'numballoc_strerror': (c_int,),
    'numballoc_set_owner': (P, c_int),
    'numballoc_owner': (P, u64, POINTER(c_int)),
    'numballoc_reclaim': (P, PU),
    'numballoc_free_owner': (P, c_int, PU),
    'numballoc_range': (P, PU, PU),
    'numballoc_chown': (P, u64, c_int),
    'numballoc_reclaim_ids': (P, PU, POINTER(c_int), c_size_t, POINTER(c_size_t)),
    'numballoc_set_holder': (P, c_char_p, u64),
    'numballoc_renew': (P, PU),
    'numballoc_holder': (P, u64, c_char_p, c_size_t),
    'numballoc_buf_open': (c_char_p, POINTER(BufOpts), POINTER(c_void_p)),
    'numballoc_buf_close': (P,),
    'numballoc_buf_alloc': (P, u64, PU),
    'numballoc_buf_needed': (P, u64, PU),
    'numballoc_buf_dealloc': (P, u64, u64),
    'numballoc_buf_realloc': (P, u64, u64, u64, PU),
    'numballoc_buf_regions': (P, PU, PU, c_size_t, POINTER(c_size_t)),
    'numballoc_buf_stat': (P, POINTER(BufStat)),
    'numballoc_buf_set_capacity': (P, u64),
}


def load(path):
    lib = ctypes.CDLL(path)
    for name, args in SIGS.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = c_char_p if name == 'numballoc_strerror' else c_int
    return lib


def new(ctype, init=None):
    """A pointer to a new zeroed object: p[0] is the object."""
    t = TYPES[ctype]
    obj = t(**init) if init else t()
    return ctypes.pointer(obj)


def array(ctype, n):
    return (TYPES[ctype + ' *'] * n)()


def string(p):
    if isinstance(p, ctypes.Array):
        p = p.value
    return p.decode('utf-8', 'replace')


def charbuf(n):
    """A zeroed char[n] (string() reads it back)."""
    return ctypes.create_string_buffer(n)
