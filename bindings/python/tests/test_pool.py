# SPDX-License-Identifier: MIT
"""numballoc.Pool: the ID functions, their errors, and threads."""
import errno
import os
import subprocess
import threading

import pytest

import numballoc


def test_ids(name):
    with numballoc.Pool(name, capacity=64, base=100, create=True) as p:
        assert p.alloc() == 100                     # LOWEST
        assert p.alloc_in(110, 120) == 110
        p.alloc_id(111)
        first = p.alloc_block(8, 8)
        assert first == 116                         # aligned from the base; 108 meets 110
        assert p.test(117) and not p.test(101)
        assert 117 in p and 101 not in p
        assert p.next(101) == 110 and p.next(112) == 116 and p.next(124) is None
        assert list(p) == [100, 110, 111] + list(range(116, 124))
        st = p.stat()
        assert st == numballoc.PoolStat(capacity=64, base=100, used=11, free=53,
                                        largest_free_run=40, policy=numballoc.LOWEST,
                                        owners=False)
        with pytest.raises(numballoc.NotAllocatedError):
            p.free_block(115, 2)
        assert p.test(116), 'a refused free_block freed something'
        p.free_block(116, 8)
        p.free(100)
        with pytest.raises(numballoc.NotAllocatedError) as e:
            p.free(100)
        assert isinstance(e.value, LookupError) and e.value.errno == errno.ENOENT
        assert e.value.op == 'free' and str(e.value).startswith('free: ')
    assert p.closed


def test_error_classes(name):
    p = numballoc.Pool(None, 2)                     # private
    p.alloc(), p.alloc()
    with pytest.raises(MemoryError) as e:
        p.alloc()
    assert isinstance(e.value, numballoc.PoolFullError) and isinstance(e.value, numballoc.Error)
    assert e.value.errno == errno.ENOSPC and e.value.strerror == numballoc.strerror(-errno.ENOSPC)
    with pytest.raises(numballoc.PoolFullError):
        p.alloc_block(1)
    with pytest.raises(ValueError) as e:
        p.alloc_id(1)
    assert isinstance(e.value, numballoc.AlreadyAllocatedError)
    with pytest.raises(numballoc.InvalidArgumentError):
        p.alloc_id(2)                               # outside the pool
    with pytest.raises(numballoc.InvalidArgumentError):
        p.alloc_in(5, 9)
    with pytest.raises(numballoc.InvalidArgumentError):
        p.alloc_block(0)
    with pytest.raises(numballoc.InvalidArgumentError):
        p.test(7)
    assert p.next(7) is None                        # nothing at or above 7
    p.close()
    p.close()                                       # does nothing


def test_open_errors(name, tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        numballoc.Pool(name)
    assert isinstance(e.value, numballoc.PoolNotFoundError) and e.value.errno == errno.ENOENT
    with numballoc.Pool(name, 10, create=True):
        with pytest.raises(FileExistsError) as e:
            numballoc.Pool(name, 10, create=True, exclusive=True)
        assert isinstance(e.value, numballoc.PoolExistsError)
        with pytest.raises(numballoc.InvalidArgumentError):
            numballoc.Pool(name, 11)                # another capacity
        with pytest.raises(numballoc.InvalidArgumentError):
            numballoc.Pool(name, policy=7)
        with numballoc.Pool(name) as q:             # the pool as it is
            assert q.stat().capacity == 10
        with pytest.raises(numballoc.PoolKindError) as e:
            numballoc.Allocator(0, name)
        assert isinstance(e.value, OSError)
    with pytest.raises(numballoc.InvalidArgumentError):
        numballoc.Pool(None, 0)                     # private, no capacity
    with pytest.raises(numballoc.InvalidArgumentError):
        numballoc.Pool(name, 10, path=str(tmp_path / 'x'))   # both a name and a path
    bad = tmp_path / 'zeros'
    bad.write_bytes(bytes(4096))
    with pytest.raises(numballoc.CorruptPoolError) as e:
        numballoc.Pool(path=str(bad))
    assert e.value.errno == numballoc.ECORRUPT
    numballoc.unlink(name)
    with pytest.raises(numballoc.PoolNotFoundError):
        numballoc.unlink(name)


def test_closed(name):
    p = numballoc.Pool(name, 10, create=True)
    p.close()
    assert repr(p) == '<numballoc.Pool closed>'
    calls = [p.alloc, lambda: p.alloc_in(0, 1), lambda: p.alloc_id(1), lambda: p.alloc_block(1),
             lambda: p.free(1), lambda: p.free_block(1, 1), lambda: p.test(1), lambda: p.next(0),
             p.stat, p.set_owner, lambda: p.owner(1), p.reclaim, lambda: p.free_owner(1)]
    for call in calls:
        with pytest.raises(numballoc.PoolClosedError) as e:
            call()
        assert isinstance(e.value, ValueError)


def test_file_pool_and_policies(tmp_path):
    path = str(tmp_path / 'pool')
    with numballoc.Pool(path=path, capacity=100, policy=numballoc.CYCLIC, create=True,
                        mode=0o640) as p:
        assert os.stat(path).st_mode & 0o777 == 0o640
        a = p.alloc()
        p.free(a)
        assert p.alloc() == a + 1                   # cyclic
        with numballoc.Pool(path=path) as q:
            assert q.test(a + 1) and q.stat().policy == numballoc.CYCLIC
    with numballoc.Pool(None, 1000, policy=numballoc.SPREAD) as s:
        ids = {s.alloc() for _ in range(500)}
        assert len(ids) == 500 and s.stat().used == 500


def test_owners(name):
    with numballoc.Pool(name, 50, create=True, owners=True) as p:
        assert p.stat().owners
        i = p.alloc()
        assert p.owner(i) == os.getpid()
        with pytest.raises(numballoc.NotAllocatedError):
            p.owner(i + 1)
        child = subprocess.Popen(['sleep', '60'])
        try:
            p.set_owner(child.pid)
            for _ in range(3):
                p.alloc()
            assert p.reclaim() == 0                 # the holder lives
        finally:
            child.kill()
            child.wait()
        assert p.reclaim() == 3
        with pytest.raises(ProcessLookupError) as e:
            p.set_owner(child.pid)
        assert isinstance(e.value, numballoc.NoSuchProcessError)
        p.set_owner()
        p.alloc()
        assert p.free_owner(os.getpid()) == 2
    with numballoc.Pool(None, 5) as plain:
        for call in (plain.set_owner, lambda: plain.owner(0), plain.reclaim,
                     lambda: plain.free_owner(1)):
            with pytest.raises(numballoc.OwnersNotSupportedError):
                call()


def test_strerror():
    assert numballoc.strerror(-errno.ENOSPC) == numballoc.strerror(errno.ENOSPC)
    assert numballoc.strerror(-numballoc.ECORRUPT) != numballoc.strerror(-errno.EINVAL)
    assert isinstance(numballoc.strerror(-99999), str)
    assert numballoc.FFI in ('cffi', 'ctypes') and os.path.exists(numballoc.LIBRARY)


def test_threads(name):
    """Threads on one handle: a witness per ID, taken under a lock, finds
    it free whenever the pool hands it out."""
    ids = 128
    p = numballoc.Pool(name, ids, policy=numballoc.SPREAD, create=True)
    witness = [0] * ids
    lock = threading.Lock()
    bad = []

    def work(seed):
        import random
        rnd = random.Random(seed)
        held = []
        for _ in range(3000):
            if held and (len(held) > 30 or rnd.random() < 0.5):
                i = held.pop(rnd.randrange(len(held)))
                with lock:
                    witness[i] = 0
                p.free(i)
            else:
                try:
                    i = p.alloc()
                except numballoc.PoolFullError:
                    continue
                with lock:
                    if witness[i]:
                        bad.append(i)
                    witness[i] = 1
                held.append(i)
        for i in held:
            with lock:
                witness[i] = 0
            p.free(i)
    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad
    assert p.stat().used == 0
    p.close()
