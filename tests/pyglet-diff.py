#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pyglet-diff.py - drive pyglet's Allocator with random operations and print
each operation with what numballoc_buf must answer, for tests/check_pyglet.

pyglet.graphics.allocation is loaded from its file, so no GL context (and
no display) is needed. Where pyglet is absent it prints "skip REASON".

Output, one operation per line (unit 1, sizes and offsets in units):
  new CAP
  alloc SIZE ok START | alloc SIZE nospc NEEDED
  dealloc START SIZE
  realloc START SIZE NEW ok NEWSTART | realloc START SIZE NEW nospc
  grow CAP
  stat CAP FREE FRAGFREE FRAG USAGE LARGEST N S1 Z1 S2 Z2 ...

Allowed differences, and only these (pyglet's documented faults):
  - pyglet refuses a leading gap of exactly the size asked for: such an
    allocation (or realloc that must move) is never generated;
  - pyglet moves (or fails) a realloc that could grow in place up to
    exactly the end of the capacity: never generated;
  - pyglet moves a realloc to the same size when the region is not at the
    end of a run with free space after it (and may even fail); numballoc
    leaves it where it is, by its contract: never generated;
  - pyglet's free size and fragmented free size forget the leading gap:
    the expected statistics add it (and fragmentation and usage follow).
"""
import importlib.util
import os
import random
import sys


def load_allocation():
    try:
        spec = importlib.util.find_spec('pyglet')
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], 'graphics', 'allocation.py')
    if not os.path.exists(path):
        return None
    mspec = importlib.util.spec_from_file_location('pyglet_allocation', path)
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    return mod


def lead(a):
    return a.starts[0] if a.starts else 0


def largest_free(a):
    best, pos = 0, 0
    for s, z in zip(a.starts, a.sizes):
        best = max(best, s - pos)
        pos = s + z
    return max(best, a.capacity - pos)


def stat_line(a):
    g = lead(a)
    free = a.get_free_size() + g
    frag = a.get_fragmented_free_size() + g
    fragmentation = frag / free if free else 0.0
    usage = 1.0 - free / a.capacity
    regs = ' '.join('%d %d' % r for r in zip(a.starts, a.sizes))
    return 'stat %d %d %d %.17g %.17g %d %d %s' % (a.capacity, free, frag, fragmentation,
                                                  usage, largest_free(a), len(a.starts), regs)


def grows_to_exact_end(a, start, size, new):
    """The in-place growth pyglet gets wrong: the last region, up to the end."""
    if not a.starts:
        return False
    s, z = a.starts[-1], a.sizes[-1]
    return start + size == s + z and start >= s and start + new == a.capacity


def run(mod, seed, nops, out):
    rnd = random.Random(seed)
    cap = rnd.choice([16, 64, 100, 257, 400])
    a = mod.Allocator(cap)
    held = []   # (start, size) that we allocated and still hold in full
    out.append('new %d' % cap)
    for _ in range(nops):
        op = rnd.random()
        if op < 0.32:
            size = rnd.randint(1, max(1, cap // 10))
            if a.starts and a.starts[0] == size:
                continue            # pyglet's leading-gap fault
            try:
                s = a.alloc(size)
                held.append((s, size))
                out.append('alloc %d ok %d' % (size, s))
            except mod.AllocatorMemoryException as e:
                out.append('alloc %d nospc %d' % (size, e.requested_capacity))
        elif op < 0.60 and a.starts:
            i = rnd.randrange(len(a.starts))     # any part of allocated space
            s, z = a.starts[i], a.sizes[i]
            off = rnd.randrange(z) if rnd.random() < 0.5 else 0
            n = rnd.randint(1, z - off) if rnd.random() < 0.5 else z - off
            a.dealloc(s + off, n)
            held = [h for h in held if h[0] + h[1] <= s + off or h[0] >= s + off + n]
            out.append('dealloc %d %d' % (s + off, n))
        elif op < 0.90 and held:
            i = rnd.randrange(len(held))
            s, z = held[i]
            new = rnd.randint(1, max(1, cap // 8))
            if new == z:
                continue            # pyglet moves (or fails): numballoc stays, by its contract
            if new > z and grows_to_exact_end(a, s, z, new):
                continue            # pyglet's end-of-capacity fault
            if new > z and a.starts and a.starts[0] == new:
                continue            # a move would meet the leading-gap fault
            try:
                ns = a.realloc(s, z, new)
                held[i] = (ns, new)
                out.append('realloc %d %d %d ok %d' % (s, z, new, ns))
            except mod.AllocatorMemoryException:
                out.append('realloc %d %d %d nospc' % (s, z, new))
        elif op < 0.92:
            if cap < 1024:
                cap += rnd.randint(1, 64)
                a.set_capacity(cap)
                out.append('grow %d' % cap)
        else:
            out.append(stat_line(a))
        if rnd.random() < 0.3:
            out.append(stat_line(a))
    out.append(stat_line(a))


def main():
    mod = load_allocation()
    if mod is None:
        print('skip pyglet (python3-pyglet) is not installed for %s' % sys.executable)
        return 0
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    nops = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    out = []
    run(mod, seed, nops, out)
    print('\n'.join(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
