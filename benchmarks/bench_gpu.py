"""GPU benchmarks (torch CUDA, CuPy): the same groups as ``bench_init.py`` and
``bench_activations.py`` with device ``cuda``, each with its bandwidth reference
(torch ``fill_`` for the initializers, ``copy_`` for the activations; BENCHMARKS.md "GPU facts":
CuPy's ``fill`` reached only a quarter of ``fill_``). Skipped without a GPU. Under
the CUDA simulator (``tests/test_gpu_sim.py``) it runs once at a tiny size so it
cannot rot; those timings mean nothing.

    FASTINIT_BENCH=full python -m pytest benchmarks/bench_gpu.py --benchmark-enable --benchmark-json=gpu.json
"""
import math
import os

import pytest

from fastinit import bench
from fastinit.gpu import runtime


CUDA, SIM = runtime.probe()
pytestmark = pytest.mark.skipif(CUDA is None, reason="no GPU")

FULL = os.environ.get("FASTINIT_BENCH") == "full" and not SIM
SMOKE = 1 << 12 if SIM else 1 << 16
SIZES = {"small": 1 << 20, "large": 1 << 28} if FULL else {"small": SMOKE}
ACT_SIZES = {"small": 1 << 20, "large": 1 << 26} if FULL else {"small": SMOKE}
DTYPES = ["float32", "bfloat16"]
OPS = list(bench.QUICK_OPS)


def _timed(fn):
    def run():
        fn()
        CUDA.synchronize()
    run()  # warm-up: compile, allocation
    return run


def _cupy_op(op, dtype, shape):
    if dtype != "float32" or op not in ("uniform", "normal"):
        return None
    try:
        import cupy
    except ImportError:
        return None
    rng = cupy.random.default_rng(1)
    out = cupy.empty(shape, cupy.float32)
    if op == "uniform":
        return lambda: rng.random(out=out, dtype=cupy.float32)
    return lambda: rng.standard_normal(out=out, dtype=cupy.float32)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("lib", ["fill", "fastinit", "torch", "cupy"])
def test_init_gpu(benchmark, lib, op, dtype, size):
    n = SIZES[size]
    shape = (n // 1024, 1024)
    benchmark.group = f"{op}|{size}|{dtype}|cuda"
    benchmark.extra_info.update(elements=math.prod(shape), lib=lib, op=op, dtype=dtype)
    torch = bench._torch_cuda()
    if lib == "cupy":
        fn = _cupy_op(op, dtype, shape)
        if fn is None:
            pytest.skip(f"CuPy has no {op} for {dtype} (or is not installed)")
    else:
        if lib == "torch" and torch is None:
            pytest.skip("torch has no CUDA here")
        buf = bench._gpu_buffer(shape, dtype, torch)
        fn = {"fill": lambda: bench._gpu_fill_ref(buf, torch), "fastinit": lambda: bench.fastinit_op(op, buf),
              "torch": lambda: bench.torch_op(op, buf)}[lib]()
    benchmark.pedantic(_timed(fn), rounds=5 if FULL else 1, iterations=1)


@pytest.mark.parametrize("size", list(ACT_SIZES))
@pytest.mark.parametrize("mode", list(bench.ACT_MODES))
@pytest.mark.parametrize("label", [a[0] for a in bench.ACTS] if FULL else ["gelu", "swiglu"])
@pytest.mark.parametrize("lib", ["copy", "fastinit", "torch"])
def test_activation_gpu(benchmark, lib, label, mode, size):
    n = ACT_SIZES[size]
    torch = bench._torch_cuda()
    if lib == "torch" and torch is None:
        pytest.skip("torch has no CUDA here")
    benchmark.group = f"act:{label}:{mode}|{size}|float32|cuda"
    nbytes = 8 if lib == "copy" else bench.act_bytes(label, mode, 4)
    benchmark.extra_info.update(elements=n, lib=lib, op=f"{label}:{mode}", dtype="float32",
                                bytes_per_element=nbytes)
    copy, calls = bench.gpu_act_calls(label, n, "float32", (mode,), torch)
    fn = copy if lib == "copy" else calls[mode][0 if lib == "fastinit" else 1]
    benchmark.pedantic(_timed(fn), rounds=5 if FULL else 1, iterations=1)
