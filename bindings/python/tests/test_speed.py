# SPDX-License-Identifier: MIT
"""Runs bench.py --quick and shows what it prints (pytest -s): the cost of
an alloc+free pair through the binding beside C, and numballoc.Allocator
beside pyglet's on the buffer workload. Figures are printed, never
asserted; the test fails only if the benchmark cannot run."""
import os
import subprocess
import sys


def test_speed_printed():
    bench = os.path.join(os.path.dirname(__file__), '..', 'bench.py')
    r = subprocess.run([sys.executable, bench, '--quick'], capture_output=True, text=True,
                       timeout=600)
    print()
    print(r.stdout, end='')
    assert r.returncode == 0, r.stderr
