# SPDX-License-Identifier: MIT
"""The lease calls of the Redis backend (issue 17): Pool.set_holder(),
Pool.renew() and Pool.holder(), on a shared-memory pool
(LeasesNotSupportedError, EOPNOTSUPP) and on a pool in a real
redis-server that the test starts and stops."""
import errno
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

import numballoc


def test_lease_on_shared_memory(name):
    p = numballoc.Pool(name, capacity=64, create=True, exclusive=True)
    i = p.alloc()
    for call in (lambda: p.set_holder('host-a', 1000), lambda: p.set_holder(None, 0),
                 p.renew, lambda: p.holder(i)):
        with pytest.raises(numballoc.LeasesNotSupportedError) as e:
            call()
        assert e.value.errno == errno.EOPNOTSUPP
        assert isinstance(e.value, numballoc.NotSupportedError)
        assert not isinstance(e.value, numballoc.OwnersNotSupportedError)
    assert p.test(i) and list(p) == [i]
    p.close()
    for call in (lambda: p.set_holder('host-a', 1000), p.renew, lambda: p.holder(i)):
        with pytest.raises(numballoc.PoolClosedError):
            call()


@pytest.fixture
def redis_port():
    """A redis-server on a free loopback port with a temporary directory,
    stopped (kill and wait) when the test ends."""
    # A build without Redis refuses the scheme before it connects.
    try:
        numballoc.Pool('redis://127.0.0.1:1/nbpy-probe').close()
    except numballoc.NotSupportedError:
        pytest.skip('the library was built without Redis (redis:// gives EOPNOTSUPP)')
    except numballoc.Error:
        pass
    server = shutil.which('redis-server')
    if server is None:
        pytest.skip('no redis-server in PATH (Debian: redis-server)')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    d = tempfile.mkdtemp(prefix='nbpy-redis-')
    proc = subprocess.Popen([server, '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                             '--appendonly', 'no', '--dir', d],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):
            try:
                socket.create_connection(('127.0.0.1', port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail('redis-server exited with status %d' % proc.returncode)
                time.sleep(0.02)
        else:
            pytest.fail('redis-server on port %d did not answer in 10 s' % port)
        yield port
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def test_lease_on_redis(redis_port):
    url = 'redis://127.0.0.1:%d/nbpy-%d' % (redis_port, os.getpid())
    with numballoc.Pool(url, capacity=64, create=True, exclusive=True) as p:
        # Errors before any lease: no holder, bad names, bad TTLs.
        with pytest.raises(numballoc.InvalidArgumentError):
            p.renew()
        for bad, ttl in (('', 60000), ('host a', 60000), ('host\ta', 60000), ('x' * 201, 60000),
                         ('host-a', 0), ('host-a', -1), ('host-a', 2**40 + 1)):
            with pytest.raises(numballoc.InvalidArgumentError) as e:
                p.set_holder(bad, ttl)
            assert e.value.errno == errno.EINVAL and isinstance(e.value, ValueError)
        with pytest.raises(numballoc.InvalidArgumentError):
            p.renew()

        # An ID allocated without a holder is not leased.
        plain = p.alloc()
        for i in (plain, plain + 1):
            with pytest.raises(numballoc.NotAllocatedError) as e:
                p.holder(i)
            assert e.value.errno == errno.ENOENT and isinstance(e.value, LookupError)
        with pytest.raises(numballoc.InvalidArgumentError):
            p.holder(64)

        # A holder with a long lease: holder() names it, renew() counts it.
        name = 'host-%d' % os.getpid()
        p.set_holder(name, 60000)
        i = p.alloc()
        first = p.alloc_block(4, 4)
        for x in (i, first, first + 3):
            assert p.holder(x) == name
        assert p.renew() == 5
        p.free(first + 1)
        assert p.renew() == 4
        with pytest.raises(numballoc.NotAllocatedError):
            p.holder(plain)

        # A second handle with a 1 ms lease: its ID is free again once it ends.
        with numballoc.Pool(url) as q:
            q.set_holder('short', 1)
            s = q.alloc()
            time.sleep(0.1)
            assert p.reclaim() == 1
            assert not p.test(s)
            with pytest.raises(numballoc.NotAllocatedError):
                p.holder(s)
            assert q.renew() == 0

        # The long lease is untouched, and set_holder(None) stops leasing.
        assert p.renew() == 4
        p.set_holder(None, 0)
        u = p.alloc()
        with pytest.raises(numballoc.NotAllocatedError):
            p.holder(u)
        with pytest.raises(numballoc.InvalidArgumentError):
            p.renew()
    numballoc.unlink(url)
