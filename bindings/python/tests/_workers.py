# SPDX-License-Identifier: MIT
"""Child processes for test_procs.py (a module of its own so that the
'spawn' start method can import them). Each opens the shared pool by name:
a handle is never inherited."""
import random
import traceback

import numballoc


def report(queue, worker, *args):
    """Run worker(*args) and put its result, or its traceback, on queue."""
    try:
        queue.put(worker(*args))
    except BaseException:
        queue.put(traceback.format_exc())


def ids_worker(name, witness, lock, rounds, seed):
    """Allocate and free at random; mark each ID held in the witness (under
    the lock), which must find it unmarked. Returns (held at the end,
    violations)."""
    rnd = random.Random(seed)
    bad = 0
    held = []
    with numballoc.Pool(name) as p:
        base = p.stat().base
        for _ in range(rounds):
            if held and rnd.random() < 0.5:
                i = held.pop(rnd.randrange(len(held)))
                with lock:
                    witness[i - base] = 0
                p.free(i)
            else:
                try:
                    i = p.alloc()
                except numballoc.PoolFullError:
                    continue
                with lock:
                    if witness[i - base]:
                        bad += 1
                    witness[i - base] = 1
                held.append(i)
    return len(held), bad


def buf_worker(name, witness, lock, rounds, seed):
    """The same with the named Allocator: a witness per unit of the buffer.
    Returns (units held at the end, violations)."""
    rnd = random.Random(seed)
    bad = 0
    held = []
    a = numballoc.Allocator(0, name)
    for _ in range(rounds):
        if held and rnd.random() < 0.5:
            s, z = held.pop(rnd.randrange(len(held)))
            with lock:
                for u in range(s, s + z):
                    witness[u] = 0
            a.dealloc(s, z)
        else:
            z = rnd.randint(1, 8)
            try:
                s = a.alloc(z)
            except numballoc.AllocatorMemoryException:
                continue
            with lock:
                for u in range(s, s + z):
                    if witness[u]:
                        bad += 1
                    witness[u] = 1
            held.append((s, z))
    a.close()
    return sum(z for s, z in held), bad
