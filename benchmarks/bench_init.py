"""Initializer benchmarks: fastinit vs NumPy (Generator with dtype=/out=) vs torch
(nn.init), with a parallel fill as the bandwidth reference in every group.

Groups are ``op|size|dtype|device``. Run for real with
``FASTINIT_BENCH=full python -m pytest benchmarks --benchmark-enable --benchmark-json=run.json``
and render with ``python benchmarks/render.py run.json``.
"""
import math
import os

import numpy as np
import pytest

import fastinit as fi
from fastinit import bench

#: FASTINIT_BENCH=full: 1 GiB float32 ("large") and 4 MiB ("small"); anything else (the
#: test command, CI smoke): a tiny size, each benchmark run once under --benchmark-disable.
FULL = os.environ.get("FASTINIT_BENCH") == "full"

SIZES = {"small": 1 << 20, "large": 1 << 28} if FULL else {"small": 1 << 12}
DTYPES = ["float32", "bfloat16"]
OPS = list(bench.OPS)
COLS = 1024


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count())))
    return torch


def _shape(op, n):
    if op == "orthogonal":  # QR is O(n^1.5): a square matrix of at most 2048**2
        side = min(2048, int(math.isqrt(n)))
        return (side, side)
    return (n // COLS, COLS) if n >= COLS else (n,)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("lib", ["fill", "fastinit", "numpy", "torch"])
def test_init(benchmark, lib, op, dtype, size):
    n = SIZES[size]
    shape = _shape(op, n)
    benchmark.group = f"{op}|{size}|{dtype}|cpu"
    benchmark.extra_info.update(elements=math.prod(shape), lib=lib, op=op, dtype=dtype)
    if lib == "torch":
        torch = _torch()
        if torch is None:
            pytest.skip("torch is not installed")
        if op == "orthogonal" and dtype == "bfloat16":
            pytest.skip("torch's orthogonal_ fails on bfloat16 (no bfloat16 QR)")
        t = torch.empty(shape, dtype=getattr(torch, dtype))
        fn = bench.torch_op(op, t)
    else:
        out = np.empty(shape, fi.dispatch.resolve_dtype(dtype))
        if lib == "fill":
            fn = lambda: bench.parallel_fill(out)  # noqa: E731
        elif lib == "fastinit":
            fn = bench.fastinit_op(op, out)
        else:
            fn = bench.numpy_op(op, out)
            if fn is None:
                pytest.skip(f"NumPy has no {op} for {dtype}")
    fn()  # warm-up outside the timing: JIT (timed on its own below), page faults
    benchmark.pedantic(fn, rounds=3 if FULL else 1, iterations=1)


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_jit_first_call(benchmark, cache, tmp_path_factory):
    """First-call latency in a fresh interpreter: cold = empty Numba cache (compile),
    warm = the cache a previous process left."""
    benchmark.group = "jit|first-call|float32|cpu"
    d = tmp_path_factory.mktemp("numba-cache")
    if cache == "warm":
        bench.jit_latency(cache_dir=d)

    def once():
        return bench.jit_latency(cache_dir=d if cache == "warm" else tmp_path_factory.mktemp("cold"))

    imp, first = benchmark.pedantic(once, rounds=1, iterations=1)
    benchmark.extra_info.update(import_s=imp, first_call_s=first)
    assert first > 0
