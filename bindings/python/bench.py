#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench.py - what the Python binding costs. Prints figures, asserts nothing.

  python3 bench.py [--quick]

1. One alloc+free pair on an ID pool (SPREAD, 2^16 IDs): through
   numballoc.Pool with cffi and with ctypes (each in a child process, since
   the module is chosen at import), the raw calls with no Pool method
   around them, and the same pairs made by a loop in C (compiled with cffi
   here when a compiler is available: the C figure). Medians of 5 rounds,
   the rounds of each kind alternating.
2. The buffer benchmark's workload (bench/bench-buffer.c): 2^20 units,
   sizes log-uniform in 1..256, filled to 50% (then 85%) live, then
   operations that keep the live units within 1% of that level: a fair
   coin between allocating a random size and freeing a random live
   allocation, else the one that brings the level back. The same seeded
   sequence through pyglet's pure-Python Allocator (when installed) and
   numballoc.Allocator; microseconds per operation, timed after 2*10^4
   (--quick) or 5*10^4 untimed ones: pyglet's cost grows with its list
   of regions, which takes that long to reach its steady length.
"""
import atexit
import os
import shutil
import random
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'tests'))

ROUNDS = 5


def pair_figures(n):
    """ns per alloc+free pair: {'Pool.alloc/free': [...], 'raw calls': [...], 'C loop': [...]}"""
    import numballoc
    from numballoc import _lib
    cloop = c_loop()
    out = {'Pool.alloc/free': [], 'raw calls': [], 'C loop': []}
    with numballoc.Pool(None, 1 << 16, policy=numballoc.SPREAD) as p:
        alloc, free = p.alloc, p.free
        h = p._h
        la, lf = _lib.lib.numballoc_alloc, _lib.lib.numballoc_free
        idp = _lib.new('uint64_t *')
        for _ in range(ROUNDS):
            t = time.perf_counter()
            for _ in range(n):
                free(alloc())
            out['Pool.alloc/free'].append((time.perf_counter() - t) / n * 1e9)
            t = time.perf_counter()
            for _ in range(n):
                la(h, idp)
                lf(h, idp[0])
            out['raw calls'].append((time.perf_counter() - t) / n * 1e9)
            if cloop and _lib.FFI == 'cffi':
                out['C loop'].append(cloop(h, n * 10) / (n * 10))
    return {k: statistics.median(v) for k, v in out.items() if v}


def c_loop():
    """A C function that makes N pairs and returns the nanoseconds they
    took, compiled with cffi's API mode; None without cffi or a compiler."""
    try:
        import cffi
        from numballoc import _lib
        if _lib.FFI != 'cffi':
            return None
        top = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
        ffi = cffi.FFI()
        ffi.cdef('double nb_pairs(void *p, long n);')
        ffi.set_source('_nb_pairs', '''
#include <time.h>
#include <numballoc.h>
double nb_pairs(void *p, long n)
{
	struct timespec a, b;
	uint64_t id;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		if (numballoc_alloc(p, &id) < 0 || numballoc_free(p, id) < 0)
			return -1;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
}''', include_dirs=[os.path.join(top, 'include'), os.environ.get('NUMBALLOC_INCLUDE', '.')],
            extra_link_args=[_lib.PATH])
        d = tempfile.mkdtemp(prefix='nb-bench-')
        atexit.register(shutil.rmtree, d, True)
        so = ffi.compile(tmpdir=d, verbose=False)
        sys.path.insert(0, d)
        import importlib
        mod = importlib.import_module('_nb_pairs')
        return lambda h, n: mod.lib.nb_pairs(_lib.ffi.cast('void *', h), n)
    except Exception as e:                      # a benchmark: say why, go on
        print('# (no C loop: %s)' % str(e).splitlines()[0][:100])
        return None


def bb_size(rnd):
    return max(1, min(256, int(2 ** (rnd.random() * 8))))


def workload(make, exc, units, pct, warm, nops, seed=1):
    """us per operation over nops operations after warm untimed ones (the
    allocator's regions multiply for the first few 10^4 operations, and
    pyglet's cost with them), and the failures."""
    rnd = random.Random(seed)
    a = make(units)
    live, held = [], 0
    while held < units * pct // 100:
        z = bb_size(rnd)
        live.append((a.alloc(z), z))
        held += z
    lo, hi = units * (pct - 1) // 100, units * (pct + 1) // 100
    fails = 0
    for k in range(warm + nops):
        if k == warm:
            t = time.perf_counter()
        coin = rnd.random() < 0.5
        if (coin and held < hi) or held <= lo or not live:
            z = bb_size(rnd)
            try:
                live.append((a.alloc(z), z))
                held += z
            except exc:
                fails += 1
        else:
            i = rnd.randrange(len(live))
            s, z = live[i]
            live[i] = live[-1]
            live.pop()
            a.dealloc(s, z)
            held -= z
    us = (time.perf_counter() - t) / nops * 1e6
    return us, fails


def main():
    quick = '--quick' in sys.argv
    if os.environ.get('NB_BENCH_CHILD'):
        for k, v in pair_figures(int(os.environ['NB_BENCH_CHILD'])).items():
            print('%s %.1f' % (k.replace(' ', '_'), v))
        return 0
    n = 20000 if quick else 200000
    print('# alloc+free pair on a SPREAD pool of 65536 IDs, ns (medians of %d rounds of %d)'
          % (ROUNDS, n))
    for ffi in ('cffi', 'ctypes'):
        env = dict(os.environ, NUMBALLOC_PY_FFI=ffi, NB_BENCH_CHILD=str(n))
        r = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True)
        if r.returncode:
            print('#   %s: not available (%s)' % (ffi, (r.stderr.strip().splitlines() or ['?'])[-1]))
            continue
        fig = dict(line.split() for line in r.stdout.splitlines() if not line.startswith('#'))
        c = ('C loop %s ns' % fig['C_loop']) if 'C_loop' in fig else 'C loop n/a'
        print('#   %-6s Pool.alloc/free %s ns, raw calls %s ns, %s' % (
            ffi, fig['Pool.alloc/free'], fig['raw_calls'], c))
    import numballoc
    import conftest
    mod = conftest.load_pyglet_allocation()
    units = 1 << 20
    warm = 20000 if quick else 50000
    for pct in (50, 85):
        ours = [workload(lambda u: numballoc.Allocator(u), numballoc.AllocatorMemoryException,
                         units, pct, warm, 20000 if quick else 200000, seed=s)
                for s in range(1, 4)]
        o_us = statistics.median(u for u, f in ours)
        line = '# buffer workload %d%%, %d operations first: numballoc.Allocator (%s) %.2f us/op' % (
            pct, warm, numballoc.FFI, o_us)
        if mod is not None:
            pyg = [workload(mod.Allocator, mod.AllocatorMemoryException, units, pct, warm,
                            2000 if quick else 20000, seed=s) for s in range(1, 2 if quick else 4)]
            p_us = statistics.median(u for u, f in pyg)
            line += ', pyglet Allocator %.1f us/op: %.1fx' % (p_us, p_us / o_us)
        else:
            line += ' (pyglet is not installed: no comparison)'
        print(line, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
