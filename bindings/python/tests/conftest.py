# SPDX-License-Identifier: MIT
"""Fixtures: a shared-memory name unique to the process and the test,
unlinked when the test ends whatever happened; pyglet's allocation module
when it is installed."""
import importlib.util
import itertools
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))
import numballoc  # noqa: E402

_seq = itertools.count()


@pytest.fixture
def shm_name(request):
    names = []

    def make():
        n = 'nbpy-%d-%s-%d' % (os.getpid(), re.sub(r'\W', '_', request.node.name)[:60], next(_seq))
        names.append(n)
        return n
    yield make
    for n in names:
        try:
            numballoc.unlink(n)
        except numballoc.PoolNotFoundError:
            pass


@pytest.fixture
def name(shm_name):
    return shm_name()


def load_pyglet_allocation():
    """pyglet.graphics.allocation loaded from its file (no GL, no display),
    or None when pyglet is not installed."""
    try:
        spec = importlib.util.find_spec('pyglet')
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], 'graphics', 'allocation.py')
    if not os.path.exists(path):
        return None
    mspec = importlib.util.spec_from_file_location('pyglet_allocation_ref', path)
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='session')
def pyglet_allocation():
    mod = load_pyglet_allocation()
    if mod is None:
        pytest.skip('pyglet (python3-pyglet) is not installed for %s' % sys.executable)
    return mod
