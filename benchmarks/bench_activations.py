"""Activation benchmarks: fastinit (forward, backward, fused) vs torch eager
(forward under no_grad, autograd backward, forward + backward), with a
parallel copy as the bandwidth reference in every group (``extra_info``
carries the bytes each call moves, so render.py reports % of copy bytes/s).

Groups are ``act:<name>:<mode>|size|dtype|device``. Full run (64M elements):
``FASTINIT_BENCH=full python -m pytest benchmarks/bench_activations.py --benchmark-enable
--benchmark-json=act.json``; then ``python benchmarks/render.py act.json``.
NumPy has no activation functions, so there is no NumPy column.
"""
import os

import numpy as np
import pytest

import fastinit as fi
from fastinit import bench

FULL = os.environ.get("FASTINIT_BENCH") == "full"
SIZES = {"small": 1 << 16, "large": 1 << 26} if FULL else {"small": 1 << 12}
DTYPES = ["float32", "bfloat16"]
ACTS = [a[0] for a in bench.ACTS]


def _cases():
    for label in ACTS:
        for dtype in DTYPES:
            if not FULL and dtype != "float32" and label not in bench.QUICK_ACTS:
                continue  # smoke mode: every activation in float32, the quick ones in bfloat16 too
            for mode in bench.ACT_MODES:
                yield label, mode, dtype


from bench_init import _torch  # noqa: E402  (torch on the same thread count, or None)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("label,mode,dtype", list(_cases()))
@pytest.mark.parametrize("lib", ["copy", "fastinit", "torch"])
def test_activation(benchmark, lib, label, mode, dtype, size):
    n = SIZES[size]
    dt = fi.dispatch.resolve_dtype(dtype)
    benchmark.group = f"act:{label}:{mode}|{size}|{dtype}|cpu"
    if lib == "copy":
        src = np.ones(n, dt).view(np.uint8)
        dst = np.empty_like(src)
        fn = lambda: bench.parallel_copy(dst, src)  # noqa: E731
        nbytes = 2 * dt.itemsize
    else:
        buf = bench.act_buffers(label, n, dtype)
        nbytes = bench.act_bytes(label, mode, dt.itemsize)
        if lib == "torch":
            if _torch() is None:
                pytest.skip("torch is not installed")
            fn = bench.torch_act(label, mode, buf)
        else:
            fn = bench.fastinit_act(label, mode, buf)
    benchmark.extra_info.update(elements=n, lib=lib, op=f"{label}:{mode}", dtype=dtype, bytes_per_element=nbytes)
    fn()  # warm-up: JIT, page faults
    benchmark.pedantic(fn, rounds=3 if FULL else 1, iterations=1)


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_activation_jit_first_call(benchmark, cache, tmp_path_factory):
    """First call of an activation in a fresh interpreter: cold = empty Numba
    cache (compiles the gelu kernel), warm = the cache a previous process left."""
    benchmark.group = "jit|first-call-activation|float32|cpu"
    call = "activations.fused('gelu', fi.ones((1000,)))"
    d = tmp_path_factory.mktemp("numba-cache")
    if cache == "warm":
        bench.jit_latency(call, cache_dir=d)

    def once():
        return bench.jit_latency(call, cache_dir=d if cache == "warm" else tmp_path_factory.mktemp("cold"))

    imp, first = benchmark.pedantic(once, rounds=1, iterations=1)
    benchmark.extra_info.update(import_s=imp, first_call_s=first)
    assert first > 0
