# SPDX-License-Identifier: MIT
"""The calls of issue 19: Pool(readonly=True), Pool.range(), Pool.chown()
and Pool.reclaim_ids(), with their error paths."""
import errno
import os
import signal
import subprocess
import sys

import pytest

import numballoc


def snapshot(p):
    """What the pool holds: {id: holder} (holder None without owners)."""
    st = p.stat()
    return {i: (p.owner(i) if st.owners else None) for i in p}


@pytest.fixture
def sleeper():
    """A child that lives until the test ends."""
    c = subprocess.Popen(['sleep', '600'])
    yield c
    c.kill()
    c.wait()


def dead_pid():
    c = subprocess.Popen(['true'])
    c.wait()
    return c.pid


def test_range(name):
    with numballoc.Pool(name, capacity=1000, base=40000, create=True) as p:
        assert p.range() == (40000, 1000)
        p.alloc()
        assert p.range() == (40000, 1000)           # not what is allocated
    assert numballoc.Pool(None, 7).range() == (0, 7)
    with pytest.raises(numballoc.PoolClosedError):
        p.range()


def test_readonly(name, shm_name, sleeper):
    w = numballoc.Pool(name, 64, 10, create=True, owners=True)
    for i in (10, 11, 20):
        w.alloc_id(i)
    r = numballoc.Pool(name, readonly=True)
    before = snapshot(w)
    # the looks work
    assert r.test(11) and 12 not in r
    assert r.next(12) == 20 and list(r) == [10, 11, 20]
    st = r.stat()
    assert (st.used, st.capacity, st.base, st.owners) == (3, 64, 10, True)
    assert r.range() == (10, 64)
    assert r.owner(20) == os.getpid()
    # every writer raises ReadOnlyError and changes nothing
    writers = {
        'alloc': r.alloc, 'alloc_in': lambda: r.alloc_in(30, 40), 'alloc_id': lambda: r.alloc_id(30),
        'alloc_block': lambda: r.alloc_block(4, 4), 'free': lambda: r.free(11),
        'free_block': lambda: r.free_block(10, 2), 'set_owner': lambda: r.set_owner(sleeper.pid),
        'chown': lambda: r.chown(20, sleeper.pid), 'reclaim': r.reclaim,
        'free_owner': lambda: r.free_owner(os.getpid()), 'reclaim_ids': r.reclaim_ids,
    }
    for op, call in writers.items():
        with pytest.raises(numballoc.ReadOnlyError) as e:
            call()
        assert isinstance(e.value, PermissionError) and isinstance(e.value, OSError)
        assert isinstance(e.value, numballoc.Error)
        assert not isinstance(e.value, (ValueError, LookupError, TypeError))
        assert e.value.errno == errno.EROFS and e.value.op == op
        assert e.value.strerror == numballoc.strerror(-errno.EROFS)
    assert snapshot(w) == before, 'the read-only handle changed the pool'
    # the writer's changes show through the read-only handle
    w.free(11)
    assert not r.test(11)
    r.close()
    # read-only opens what exists, and nothing else
    with pytest.raises(numballoc.InvalidArgumentError):
        numballoc.Pool(name, readonly=True, create=True)
    with pytest.raises(numballoc.InvalidArgumentError):
        numballoc.Pool(name, readonly=True, exclusive=True)
    with pytest.raises(numballoc.InvalidArgumentError):
        numballoc.Pool(None, 10, readonly=True)     # private
    with pytest.raises(numballoc.PoolNotFoundError):
        numballoc.Pool(shm_name(), readonly=True)
    w.close()


def test_chown(name, sleeper):
    with numballoc.Pool(name, 32, 100, create=True, owners=True) as p:
        i = p.alloc()
        p.chown(i, sleeper.pid)
        assert p.owner(i) == sleeper.pid
        assert p.reclaim_ids() == []                # the new holder lives
        before = snapshot(p)
        with pytest.raises(ProcessLookupError) as e:
            p.chown(i, dead_pid())
        assert isinstance(e.value, numballoc.NoSuchProcessError) and e.value.op == 'chown'
        with pytest.raises(LookupError) as e:
            p.chown(i + 1, sleeper.pid)             # a free ID
        assert isinstance(e.value, numballoc.NotAllocatedError)
        for pid in (0, -1):
            with pytest.raises(numballoc.InvalidArgumentError):
                p.chown(i, pid)
        for outside in (99, 132):
            with pytest.raises(numballoc.InvalidArgumentError):
                p.chown(outside, sleeper.pid)
        assert snapshot(p) == before, 'a failed chown changed the pool'
        # the ID is the new holder's: once it dies, the ID is reclaimed
        sleeper.kill()
        sleeper.wait()
        assert p.reclaim_ids() == [(i, sleeper.pid)]
        assert not p.test(i)
    with numballoc.Pool(None, 4) as plain:
        j = plain.alloc()
        with pytest.raises(numballoc.OwnersNotSupportedError):
            plain.chown(j, os.getpid())
    with pytest.raises(numballoc.PoolClosedError):
        plain.chown(j, os.getpid())


HOLD = '''
import sys, numballoc
p = numballoc.Pool(sys.argv[1])
for _ in range(int(sys.argv[2])):
    print(p.alloc(), flush=True)
print('ready', flush=True)
sys.stdin.read()
'''


def test_reclaim_ids(name, sleeper, monkeypatch):
    p = numballoc.Pool(name, 64, 500, create=True, owners=True)
    for _ in range(30):
        p.alloc()                                   # 500..529, this process's
    for i in range(500, 530, 3):
        p.free(i)                                   # the gaps for the child
    p.chown(501, sleeper.pid)                       # a live holder
    p.chown(502, sleeper.pid)
    # the holder that dies: a child that allocates 12 IDs itself
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(numballoc.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [pkg, os.environ.get('PYTHONPATH')])))
    child = subprocess.Popen([sys.executable, '-c', HOLD, name, '12'], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        got = []
        for line in child.stdout:
            if line.strip() == 'ready':
                break
            got.append(int(line))
        assert got == list(range(500, 530, 3)) + [530, 531]
        assert p.reclaim_ids() == []                # every holder lives
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdin.close()
        child.stdout.close()
    survivors = {i: h for i, h in snapshot(p).items() if i not in got}
    monkeypatch.setattr(numballoc, '_RECLAIM_BATCH', 5)     # the loop turns three times
    assert sorted(p.reclaim_ids()) == [(i, child.pid) for i in got]
    assert snapshot(p) == survivors
    assert p.reclaim_ids() == []
    p.close()
    with pytest.raises(numballoc.PoolClosedError):
        p.reclaim_ids()
    with numballoc.Pool(None, 4) as plain:
        with pytest.raises(numballoc.OwnersNotSupportedError):
            plain.reclaim_ids()


NOBODY = 65534
AS_NOBODY = '''
import json, sys, numballoc
name, out = sys.argv[1], {}
try:
    numballoc.Pool(name)
    out['rw'] = 'opened'
except numballoc.Error as e:
    out['rw'] = [type(e).__name__, e.errno, isinstance(e, PermissionError)]
with numballoc.Pool(name, readonly=True) as r:
    out['looks'] = [r.range(), r.test(3), r.test(4), list(r), r.stat().used]
    try:
        r.alloc()
        out['alloc'] = 'allocated'
    except numballoc.Error as e:
        out['alloc'] = [type(e).__name__, e.errno, isinstance(e, PermissionError)]
try:
    numballoc.Pool(sys.argv[2], readonly=True)
    out['private'] = 'opened'
except numballoc.Error as e:
    out['private'] = [type(e).__name__, e.errno, isinstance(e, PermissionError)]
print(json.dumps(out))
'''


def test_readonly_as_a_reader(shm_name):
    """What readonly is for: a user who may read the pool (mode 0644) but
    not write it opens it read-only, and cannot open a 0600 pool at all."""
    if os.geteuid() != 0:
        pytest.skip('needs root to run a child as nobody')
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(numballoc.__file__)))
    env = dict(os.environ, PYTHONPATH=pkg)
    probe = subprocess.run([sys.executable, '-c', 'import numballoc'], user=NOBODY, group=NOBODY,
                           extra_groups=[], env=env, capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip('nobody cannot load the package and library here: %s' % probe.stderr.strip())
    name, private = shm_name(), shm_name()
    with numballoc.Pool(name, 10, 1, create=True, mode=0o644) as w, \
            numballoc.Pool(private, 10, create=True, mode=0o600):
        w.alloc_id(3)
        w.alloc_id(7)
        before = snapshot(w)
        run = subprocess.run([sys.executable, '-c', AS_NOBODY, name, private], user=NOBODY,
                             group=NOBODY, extra_groups=[], env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        import json
        out = json.loads(run.stdout)
        assert out['rw'] == ['PoolPermissionError', errno.EACCES, True]
        assert out['looks'] == [[1, 10], True, False, [3, 7], 2]
        assert out['alloc'] == ['ReadOnlyError', errno.EROFS, True]
        assert out['private'] == ['PoolPermissionError', errno.EACCES, True]
        assert snapshot(w) == before
