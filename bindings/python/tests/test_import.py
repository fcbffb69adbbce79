# SPDX-License-Identifier: MIT
"""How the package finds libnumballoc and chooses its foreign-function
module, run in fresh interpreters."""
import os
import shutil
import subprocess
import sys

import pytest

import numballoc

PKG = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
TOP = os.path.abspath(os.path.join(PKG, '..', '..'))


def py(code, python=sys.executable, **env):
    e = dict(os.environ, PYTHONPATH=PKG, PYTHONDONTWRITEBYTECODE='1')
    for k, v in env.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return subprocess.run([python, '-c', code], env=e, capture_output=True, text=True, timeout=60)


def test_environment_library():
    r = py('import numballoc; print(numballoc.LIBRARY)', NUMBALLOC_LIBRARY=numballoc.LIBRARY)
    assert r.returncode == 0 and r.stdout.strip() == numballoc.LIBRARY


@pytest.mark.parametrize('builddir', ['build/lib/.libs', 'lib/.libs'])
def test_source_tree_build(tmp_path, builddir):
    """A tree laid out as a checkout built in build/ or in-tree: the package
    finds that build's library with no NUMBALLOC_LIBRARY (links to this
    build, so it runs wherever make check builds)."""
    pkgdir = tmp_path / 'bindings' / 'python'
    pkgdir.mkdir(parents=True)
    (pkgdir / 'numballoc').symlink_to(os.path.join(PKG, 'numballoc'))
    libdir = tmp_path / builddir
    libdir.mkdir(parents=True)
    (libdir / 'libnumballoc.so.0').symlink_to(numballoc.LIBRARY)
    e = dict(os.environ, PYTHONPATH=str(pkgdir), PYTHONDONTWRITEBYTECODE='1')
    e.pop('NUMBALLOC_LIBRARY', None)
    r = subprocess.run([sys.executable, '-c', 'import numballoc; print(numballoc.LIBRARY)'],
                       env=e, cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(libdir / 'libnumballoc.so.0')


def test_bad_library():
    r = py('import numballoc', NUMBALLOC_LIBRARY='/nonexistent/libnumballoc.so')
    assert r.returncode != 0 and 'cannot load libnumballoc' in r.stderr
    assert 'NUMBALLOC_LIBRARY' in r.stderr


@pytest.mark.parametrize('ffi', ['ctypes', 'cffi'])
def test_choose_ffi(ffi):
    if ffi == 'cffi':
        pytest.importorskip('cffi')
    code = 'import numballoc; p = numballoc.Pool(None, 4); print(numballoc.FFI, p.alloc(), p.alloc())'
    r = py(code, NUMBALLOC_PY_FFI=ffi, NUMBALLOC_LIBRARY=numballoc.LIBRARY)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [ffi, '0', '1']


def test_bad_ffi():
    r = py('import numballoc', NUMBALLOC_PY_FFI='swig', NUMBALLOC_LIBRARY=numballoc.LIBRARY)
    assert r.returncode != 0 and 'NUMBALLOC_PY_FFI' in r.stderr


def test_other_python3():
    """The python3 first on PATH (it may lack pytest, or cffi) imports it too."""
    other = shutil.which('python3')
    if other is None or os.path.realpath(other) == os.path.realpath(sys.executable):
        pytest.skip('no other python3 on PATH')
    r = py('import numballoc; print(numballoc.FFI)', python=other,
           NUMBALLOC_LIBRARY=numballoc.LIBRARY)
    assert r.returncode == 0, r.stderr
