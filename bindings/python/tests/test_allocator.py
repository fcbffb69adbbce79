# SPDX-License-Identifier: MIT
"""numballoc.Allocator as a drop-in for pyglet's Allocator: pyglet's own
allocator test scenarios (fill, deallocation in order, in reverse and
shuffled, mixed sequences, reallocation up and down), a differential run
against the real pyglet Allocator where it is installed, each documented
difference shown against pyglet, the error paths, and sharing by name."""
import random

import pytest

import numballoc


class Checked:
    """Wraps an allocator and checks after every operation what pyglet's
    test harness checks: regions never overlap, and the allocator's merged
    regions cover exactly the regions held."""

    def __init__(self, allocator):
        self.a = allocator
        self.held = []          # [start, size]

    def check(self):
        starts, sizes = self.a.get_allocated_regions()
        assert len(starts) == len(sizes)
        units = sorted(u for s, z in self.held for u in range(s, s + z))
        assert len(units) == len(set(units)), 'overlap in %r' % self.held
        merged = []
        for u in units:
            if merged and merged[-1][0] + merged[-1][1] == u:
                merged[-1][1] += 1
            else:
                merged.append([u, 1])
        assert [tuple(m) for m in merged] == list(zip(starts, sizes))
        assert self.a.starts == starts and self.a.sizes == sizes

    def alloc(self, size):
        r = [self.a.alloc(size), size]
        self.held.append(r)
        self.check()
        return r

    def dealloc(self, r):
        self.a.dealloc(r[0], r[1])
        self.held.remove(r)
        self.check()

    def realloc(self, r, size):
        r[0] = self.a.realloc(r[0], r[1], size)
        r[1] = size
        self.check()


@pytest.mark.parametrize('sizes', [[1] * 10, [2] * 5, [3] * 3, [1, 2] * 5, [5, 3, 7] * 5],
                         ids=['1', '2', '3', 'mix1_2', 'mix5_3_7'])
def test_alloc_fill(sizes):
    c = Checked(numballoc.Allocator(sum(sizes) + (1 if sizes == [3] * 3 else 0)))
    for z in sizes:
        c.alloc(z)
    assert c.a.get_free_size() == c.a.capacity - sum(sizes)


@pytest.mark.parametrize('order', ['order', 'reverse', 'shuffled'])
@pytest.mark.parametrize('sizes,capacity', [([1] * 10, 10), ([1] * 10, 15), ([1, 2] * 5, 15),
                                            ([5, 3, 7] * 5, 75), ([1] * 15, 15)])
def test_dealloc(order, sizes, capacity):
    c = Checked(numballoc.Allocator(capacity))
    regions = [c.alloc(z) for z in sizes]
    if order == 'reverse':
        regions.reverse()
    elif order == 'shuffled':
        random.Random(1).shuffle(regions)
    for r in regions:
        c.dealloc(r)
    assert c.a.get_free_size() == c.a.capacity
    assert c.a.get_allocated_regions() == ([], [])


@pytest.mark.parametrize('choices,count', [([1], 10), ([5, 3, 7], 50), ([1, 2, 9], 400)])
def test_mixed_alloc_dealloc(choices, count):
    rnd = random.Random(1)
    ops, live, j = [], [], 0
    for _ in range(count):
        if live and rnd.random() >= .5:
            k = rnd.choice(live)
            live.remove(k)
            ops.append(('free', k))
        else:
            ops.append(('alloc', rnd.choice(choices)))
            live.append(j)
            j += 1
    ops += [('free', k) for k in live]
    c = Checked(numballoc.Allocator(sum(z for op, z in ops if op == 'alloc')))
    regions = []
    for op, v in ops:
        if op == 'alloc':
            regions.append(c.alloc(v))
        else:
            c.dealloc(regions[v])
    assert c.a.get_free_size() == c.a.capacity


@pytest.mark.parametrize('capacity,first,steps', [(30, 1, [2]), (20, 2, [1]), (20, 2, [1, 2])],
                         ids=['1_2', '2_1', '2_1_2'])
def test_realloc(capacity, first, steps):
    c = Checked(numballoc.Allocator(capacity))
    regions = [c.alloc(first) for _ in range(10)]
    for z in steps:
        for r in regions:
            c.realloc(r, z)
    for r in regions:
        c.dealloc(r)
    assert c.a.get_free_size() == capacity


def test_pyglet_api_shape():
    a = numballoc.Allocator(100)
    assert a.capacity == 100 and a.starts == [] and a.sizes == []
    assert a.alloc(0) == 0 and a.get_allocated_regions() == ([], [])
    assert a.get_free_size() == 100 and a.get_fragmented_free_size() == 0
    assert a.get_usage() == 0.0 and a.get_fragmentation() == 0.0
    assert [a.alloc(10), a.alloc(20), a.alloc(30)] == [0, 10, 30]
    a.dealloc(15, 5)                                # any part of allocated space
    assert (a.starts, a.sizes) == ([0, 20], [15, 40])
    assert a.get_fragmented_free_size() == 5 and a.get_free_size() == 45
    assert a.get_usage() == pytest.approx(0.55) and a.get_fragmentation() == pytest.approx(5 / 45)
    assert str(a) == 'allocs=[(0, 15), (20, 40)]' and repr(a) == '<Allocator allocs=[(0, 15), (20, 40)]>'
    assert a.realloc(20, 40, 45) == 20              # grows in place
    assert a.realloc(20, 45, 10) == 20              # shrinks in place
    assert a.realloc(0, 15, 0) == 0 and a.starts == [20]
    assert a.realloc(0, 0, 5) == 0                  # size 0: an allocation
    with pytest.raises(numballoc.AllocatorMemoryException) as e:
        a.alloc(80)
    assert e.value.requested_capacity == 110 and isinstance(e.value, MemoryError)
    with pytest.raises(numballoc.AllocatorMemoryException) as e:
        a.realloc(20, 10, 90)
    assert e.value.requested_capacity == 120       # end of the last region + 90
    assert (a.starts, a.sizes) == ([0, 20], [5, 10]), 'a failed realloc changed something'
    a.set_capacity(e.value.requested_capacity)
    assert a.capacity == 120
    assert a.realloc(20, 10, 90) == 20              # guaranteed to pass the second time
    exc = numballoc.AllocatorMemoryException(42)
    assert exc.requested_capacity == 42


def test_allocator_errors(tmp_path):
    a = numballoc.Allocator(50)
    a.alloc(10)
    for call in (lambda: a.dealloc(5, 10), lambda: a.dealloc(20, 1), lambda: a.realloc(8, 4, 6)):
        with pytest.raises(AssertionError) as e:    # pyglet asserts there
            call()
        assert isinstance(e.value, numballoc.NotAllocatedError)
    assert (a.starts, a.sizes) == ([0], [10]), 'a refused call changed something'
    for call in (lambda: a.alloc(-1), lambda: a.dealloc(0, -1), lambda: a.realloc(0, 10, -2),
                 lambda: a.set_capacity(40), lambda: a.set_capacity(-5)):
        with pytest.raises(AssertionError) as e:
            call()
        assert isinstance(e.value, numballoc.InvalidArgumentError)
    with pytest.raises(numballoc.InvalidArgumentError):
        numballoc.Allocator(0)                      # the library refuses capacity 0
    b = numballoc.Allocator(10, max_capacity=20)
    with pytest.raises(numballoc.InvalidArgumentError):
        b.set_capacity(21)
    b.close()
    b.close()
    for call in (lambda: b.alloc(1), lambda: b.dealloc(0, 1), lambda: b.realloc(0, 1, 2),
                 lambda: b.set_capacity(15), b.get_allocated_regions, b.get_free_size,
                 b.get_fragmented_free_size, b.get_usage, b.get_fragmentation,
                 lambda: b.capacity, lambda: b.starts, lambda: b.sizes):
        with pytest.raises(numballoc.PoolClosedError):
            call()
    with numballoc.Allocator(10) as c:
        c.alloc(1)
    with pytest.raises(numballoc.PoolClosedError):
        c.alloc(1)


def test_shared_by_name(name, tmp_path):
    a = numballoc.Allocator(64, name)
    b = numballoc.Allocator(64, name)               # the same capacity: the same allocator
    c = numballoc.Allocator(0, name)                # 0: whatever it has
    assert a.alloc(10) == 0 and b.alloc(10) == 10 and c.alloc(4) == 20
    assert a.starts == b.starts == [0] and c.sizes == [24]
    b.dealloc(0, 10)
    assert a.get_free_size() == 50
    a.set_capacity(128)
    assert b.capacity == 128 and c.capacity == 128
    with pytest.raises(numballoc.InvalidArgumentError):
        b.set_capacity(100)                         # another process grew it first
    with pytest.raises(numballoc.InvalidArgumentError):
        numballoc.Allocator(32, name)               # not the capacity it was made with
    with pytest.raises(numballoc.PoolExistsError):
        numballoc.Allocator(64, name, exclusive=True)
    for x in (a, b, c):
        x.close()
    with pytest.raises(numballoc.PoolNotFoundError):
        numballoc.Allocator(0, name + '-none')
    path = str(tmp_path / 'buf')
    with numballoc.Allocator(16, path=path) as f, numballoc.Allocator(0, path=path) as g:
        f.alloc(3)
        assert g.starts == [0] and g.sizes == [3]


# ------------------------------------------------- against pyglet itself

def run_both(mod, ops, cap):
    """Run the same operations on pyglet's Allocator and ours; compare
    every return value, exception and statistic (the leading gap added to
    pyglet's free sizes: its documented fault)."""
    p, n = mod.Allocator(cap), numballoc.Allocator(cap)
    for op in ops:
        results = []
        for a, exc in ((p, mod.AllocatorMemoryException), (n, numballoc.AllocatorMemoryException)):
            try:
                results.append(getattr(a, op[0])(*op[1:]))
            except exc as e:
                results.append(('nospc', e.requested_capacity))
        assert results[0] == results[1], op
        assert (p.starts, p.sizes) == (n.starts, n.sizes) and p.capacity == n.capacity, op
        lead = p.starts[0] if p.starts else 0
        assert p.get_free_size() + lead == n.get_free_size(), op
        assert p.get_fragmented_free_size() + lead == n.get_fragmented_free_size(), op
        if not lead:
            assert p.get_usage() == pytest.approx(n.get_usage())
            assert p.get_fragmentation() == pytest.approx(n.get_fragmentation())
    n.close()




@pytest.mark.parametrize('seed', range(8))
def test_differential(pyglet_allocation, seed):
    rnd = random.Random(seed)
    cap = rnd.choice([16, 64, 100, 257])
    ops = make_ops(pyglet_allocation, random.Random(seed * 7919), cap, 600)
    run_both(pyglet_allocation, ops, cap)


def make_ops(mod, rnd, cap, nops):
    ref = mod.Allocator(cap)
    held, ops = [], []
    for _ in range(nops):
        x = rnd.random()
        i = None
        if x < 0.3 or (x < 0.9 and not held):
            z = rnd.randint(1, max(1, cap // 8))
            if ref.starts and ref.starts[0] == z:
                continue                            # fault 1
            op = ('alloc', z)
        elif x < 0.6:
            i = rnd.randrange(len(held))
            s, z = held[i]
            off = rnd.randrange(z)
            op = ('dealloc', s + off, rnd.randint(1, z - off))
        elif x < 0.9:
            i = rnd.randrange(len(held))
            s, z = held[i]
            new = rnd.randint(0, max(1, cap // 6))
            if new == z or (ref.starts and ref.starts[0] == new):
                continue                            # faults 4 and 1
            if new > z and s + z == ref.starts[-1] + ref.sizes[-1] and s + new == ref.capacity:
                continue                            # fault 3
            op = ('realloc', s, z, new)
        elif x < 0.92:
            op = ('set_capacity', ref.capacity + rnd.randint(1, 32))
        else:
            op = ('get_allocated_regions',)
        try:
            r = getattr(ref, op[0])(*op[1:])
        except mod.AllocatorMemoryException:
            ops.append(op)
            continue
        if op[0] == 'alloc':
            held.append((r, op[1]))
        elif op[0] == 'dealloc':
            # what is left of the piece stays held, on either side
            hs, hz = held.pop(i)
            s, z = op[1], op[2]
            held += [p for p in ((hs, s - hs), (s + z, hs + hz - s - z)) if p[1] > 0]
        elif op[0] == 'realloc':
            if op[3]:
                held[i] = (r, op[3])
            else:
                held.pop(i)
        ops.append(op)
    return ops


def test_documented_differences(pyglet_allocation):
    """Each difference the docstring lists, shown against pyglet itself."""
    mod = pyglet_allocation
    # 1. a leading gap of exactly the size asked for
    p, n = mod.Allocator(10), numballoc.Allocator(10)
    for a in (p, n):
        a.alloc(3)
        a.alloc(7)
        a.dealloc(0, 3)
    with pytest.raises(mod.AllocatorMemoryException):
        p.alloc(3)                                  # pyglet: no room, although 0..2 is free
    assert n.alloc(3) == 0
    # 2. free sizes forget the leading gap
    p, n = mod.Allocator(10), numballoc.Allocator(10)
    for a in (p, n):
        a.alloc(4)
        a.alloc(4)
        a.dealloc(0, 4)
    assert p.get_free_size() == 2 and n.get_free_size() == 6
    assert p.get_fragmented_free_size() == 0 and n.get_fragmented_free_size() == 4
    # 3. growing the last region to exactly the end of the capacity
    p, n = mod.Allocator(10), numballoc.Allocator(10)
    for a in (p, n):
        a.alloc(4)
    with pytest.raises(mod.AllocatorMemoryException):
        p.realloc(0, 4, 10)                         # pyglet moves: nowhere to go
    assert n.realloc(0, 4, 10) == 0
    # 4. realloc to the same size
    p, n = mod.Allocator(10), numballoc.Allocator(10)
    for a in (p, n):
        a.alloc(4)
        a.alloc(6)
    with pytest.raises(mod.AllocatorMemoryException):
        p.realloc(0, 4, 4)                          # pyglet moves: nowhere to go
    assert n.realloc(0, 4, 4) == 0
    # 5. a range that is not allocated: pyglet asserts, we raise an AssertionError too
    p = mod.Allocator(10)
    p.alloc(2)
    with pytest.raises(AssertionError):
        p.dealloc(5, 1)
    # 6. pyglet hands out its own lists; ours are copies
    p, n = mod.Allocator(10), numballoc.Allocator(10)
    ps, ns = p.get_allocated_regions()[0], n.get_allocated_regions()[0]
    p.alloc(1)
    n.alloc(1)
    assert ps == [0] and ns == []
