# SPDX-License-Identifier: MIT
"""Several processes (multiprocessing, 'spawn': each opens the pool by
name) on one shared pool, with a witness in shared memory that catches
anything handed to two processes at once."""
import multiprocessing

import numballoc
import _workers

NPROC = 4


def run(worker, name, size, rounds):
    ctx = multiprocessing.get_context('spawn')
    witness = ctx.Array('b', size, lock=False)
    lock = ctx.Lock()
    results = ctx.Queue()
    procs = [ctx.Process(target=_workers.report, args=(results, worker, name, witness, lock,
                                                      rounds, s)) for s in range(NPROC)]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
        assert p.exitcode == 0
    for r in out:
        if isinstance(r, str):
            raise AssertionError('a child failed: ' + r)
    return out


def test_pool_processes(name):
    with numballoc.Pool(name, 96, base=5000, policy=numballoc.SPREAD, create=True) as p:
        results = run(_workers.ids_worker, name, 96, 4000)
        assert [bad for held, bad in results] == [0] * NPROC
        assert p.stat().used == sum(held for held, bad in results)


def test_allocator_processes(name):
    with numballoc.Allocator(256, name) as a:
        results = run(_workers.buf_worker, name, 256, 2000)
        assert [bad for held, bad in results] == [0] * NPROC
        assert a.capacity - a.get_free_size() == sum(held for held, bad in results)
