import importlib.util
import os
import pathlib

import numpy as np
import pytest

DATA = pathlib.Path(__file__).parent / "data"
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_ML_DTYPES = importlib.util.find_spec("ml_dtypes") is not None

requires_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
requires_bf16 = pytest.mark.skipif(not HAS_ML_DTYPES, reason="ml_dtypes is not installed")

FLOAT_DTYPES = ["float32", "float64", "float16"] + (["bfloat16"] if HAS_ML_DTYPES else [])


def to_f64(a):
    return np.asarray(a).astype(np.float64)


@pytest.fixture(autouse=True)
def _small_tiles(monkeypatch):
    """Run the thread driver with tiny tiles so small test tensors still exercise
    the multi-tile, multi-thread path (the values must not depend on it)."""
    from fastinit.cpu import runtime
    monkeypatch.setattr(runtime, "TASK", 1 << 12)
    monkeypatch.setattr(runtime, "SMALL", 1 << 10)
    yield


def bf16_bits_reference(u):
    """The CPU kernels' own float32 -> bfloat16 rounding (``_fmath.f32_to_bf16_bits``) of the
    uint32 bit patterns ``u``, element by element: the reference the GPU's ``cvt.rn.bf16x2``
    and the exhaustive nearest-even check are compared with."""
    from numba import njit

    from fastinit._fmath import f32_to_bf16_bits

    @njit
    def ref(x):
        out = np.empty(x.size, np.uint16)
        for i in range(x.size):
            out[i] = f32_to_bf16_bits(x[i])
        return out
    return ref(np.ascontiguousarray(u).view(np.float32))


def repo_root():
    return pathlib.Path(__file__).resolve().parents[1]


os.environ.setdefault("PYTHONHASHSEED", "0")
