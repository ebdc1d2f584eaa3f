"""Numba's disk cache shared by processes that compile the same kernels at once.

The suite runs on two pytest-xdist workers (``.ci/run``) that share one cache, and so do
several jobs of one user. Numba (``numba/core/caching.py``, 0.68) writes every index
(``.nbi``) and data (``.nbc``) file to a temporary name and ``os.replace``s it: a reader sees a
whole old file or a whole new one. Two processes compiling the same specialization write the
same key under the same data name with the same code, in any interleaving, so the entry that
stays is whole and correct; this test runs exactly that and checks the values and that a third
process then loads everything from the cache.

Different specializations saved at once: Numba reads, changes and replaces a function's
index without a lock, so two processes could both give their new key the same data-file
number and leave one key naming the other's code (``specialize`` then fails with a
``KeyError`` in every later process). ``fastinit.cpu.runtime._lock_saves`` takes an exclusive
``flock`` around each save; the second test runs two processes saving different
specializations of the same kernel at once, many times over, and a third must load them all.
"""
import os
import subprocess
import sys

import numpy as np

import fastinit as fi

SCRIPT = """
import sys
import numpy as np
import fastinit as fi
from fastinit.cpu import fill
make = {"bits": lambda: fi.random_bits(4099, seed=5, stream=1, offset=3),
        "uniform": lambda: fi.uniform(4099, seed=5, stream=2),
        "uniform64": lambda: fi.uniform(4099, seed=5, stream=2, dtype="float64"),
        "uniform16": lambda: fi.uniform(4099, seed=5, stream=2, dtype="float16"),
        "normal64": lambda: fi.normal(4099, seed=5, stream=3, dtype="float64")}
vals = {k: make[k]() for k in sys.argv[2].split(",")}
np.savez(sys.argv[1], **vals)
stats = fill.fill_rows.stats
print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
"""
WANT = {"bits": lambda: fi.random_bits(4099, seed=5, stream=1, offset=3),
        "uniform": lambda: fi.uniform(4099, seed=5, stream=2),
        "uniform64": lambda: fi.uniform(4099, seed=5, stream=2, dtype="float64"),
        "uniform16": lambda: fi.uniform(4099, seed=5, stream=2, dtype="float16"),
        "normal64": lambda: fi.normal(4099, seed=5, stream=3, dtype="float64")}


def _start(cache, out, kernels="bits,uniform"):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(out), kernels], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(p):
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    hits, misses = map(int, out.split())
    return hits, misses


def test_two_processes_compiling_the_same_kernels_at_once(tmp_path):
    cache = tmp_path / "numba-cache"
    procs = [_start(cache, tmp_path / f"p{i}.npz") for i in range(2)]
    first = [_finish(p) for p in procs]
    assert all(h + m == 2 for h, m in first)  # each got its two kernels, compiled or loaded
    assert sum(m for _, m in first) >= 2  # the cache was empty: at least one process compiled each
    # a third process finds every kernel in the cache, whole
    hits, misses = _finish(_start(cache, tmp_path / "p2.npz"))
    assert (hits, misses) == (2, 0)
    want = {"bits": fi.random_bits(4099, seed=5, stream=1, offset=3), "uniform": fi.uniform(4099, seed=5, stream=2)}
    for i in range(3):
        with np.load(tmp_path / f"p{i}.npz") as got:
            for k, v in want.items():
                np.testing.assert_array_equal(got[k], v, err_msg=f"process {i}, {k}")


def test_two_processes_saving_different_specializations_at_once(tmp_path):
    cache = tmp_path / "numba-cache"
    sets = ["bits,uniform64,normal64", "uniform,uniform16,uniform64"]
    procs = [_start(cache, tmp_path / f"p{i}.npz", k) for i, k in enumerate(sets)]
    for p in procs:
        _finish(p)
    # every specialization is in the index under its own key, with its own code
    hits, misses = _finish(_start(cache, tmp_path / "p2.npz", "bits,uniform,uniform64,uniform16,normal64"))
    assert (hits, misses) == (5, 0)
    for i, kernels in enumerate(sets + ["bits,uniform,uniform64,uniform16,normal64"]):
        with np.load(tmp_path / f"p{i}.npz") as got:
            for k in kernels.split(","):
                np.testing.assert_array_equal(got[k], WANT[k](), err_msg=f"process {i}, {k}")
