"""``fastinit warmup``: what it compiles, that a later process loads it from the
cache, and that two processes filling the same cache at once leave it valid."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastinit as fi
from fastinit import distributions as D
from fastinit import warmup as W
from fastinit.cli import main


def test_jobs_cover_the_variants():
    labels = [W.label(j) for j in W.jobs(["trunc_normal_", "gelu", "zeros"], ("float32", "float64"))]
    # the truncated normal's three float32 variants (picked by the bounds), float64's one
    for lab in ("trunc_normal_central float32", "trunc_normal float32", "trunc_normal_wide float32",
                "trunc_normal_wide float64", "gelu approximate=none float32", "gelu approximate=tanh float64",
                "constant float32", "constant float64"):
        assert lab in labels
    assert "trunc_normal float64" not in labels
    assert len(labels) == len(set(labels)) == 10
    # aliases and the allocating names map to the same kernels, once
    assert W.jobs(["normal", "normal_", "kaiming_normal_"], ("bfloat16",)) == [("fill", D.NORMAL, D.KIND_BF16)]
    assert W.jobs(["random_bits"], ("float32",)) == [("fill", D.BITS, D.KIND_U32)]


def test_bad_input():
    with pytest.raises(ValueError, match="unknown name 'nope'"):
        W.jobs(["nope"])
    with pytest.raises(ValueError, match="unknown dtype"):
        W.jobs(["normal_"], ("int8",))
    assert main(["warmup"]) == 2
    assert main(["warmup", "--all", "relu"]) == 2
    assert main(["warmup", "nope"]) == 2
    assert main(["warmup", "relu", "--jobs", "0"]) == 2


CHECK = """
import numpy as np, fastinit as fi
from fastinit.cpu import elementwise as ew, fill
x = fi.uniform((3000,), seed=7)
y, g = fi.activations.fused("relu", x - np.float32(0.5))
def n(d): return sum(d.values()) if d else 0
print(x.sum(dtype=np.float64), y.sum(dtype=np.float64), g.sum(dtype=np.float64),
      n(fill.fill_rows.stats.cache_hits), n(fill.fill_rows.stats.cache_misses),
      n(ew.act_1d.stats.cache_hits), n(ew.act_1d.stats.cache_misses))
"""


def test_concurrent_warmups_leave_a_valid_cache(tmp_path):
    # two warmups of the same kernels into one empty cache, at the same time; then a
    # new process loads both kernels from it (no compile) and gets the right values
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "fastinit.cli", "warmup", "uniform_", "relu", "--dtypes", "float32",
           "--jobs", "1", "--quiet"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-3000:]
        assert "2 kernels in the cache" in out
    assert not [f for f in (tmp_path / "cache").rglob("*") if f.is_file() and ".tmp" in f.name]
    r = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    xs, ys, gs, fhit, fmiss, ahit, amiss = r.stdout.split()
    assert (int(fhit), int(fmiss), int(ahit), int(amiss)) == (1, 0, 1, 0)
    x = fi.uniform((3000,), seed=7)
    y, g = fi.activations.fused("relu", x - np.float32(0.5))
    assert float(xs) == x.sum(dtype=np.float64)
    assert float(ys) == y.sum(dtype=np.float64) and float(gs) == g.sum(dtype=np.float64)
