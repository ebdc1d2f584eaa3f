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
    from fastinit.cpu import fill
    monkeypatch.setattr(fill, "TASK", 1 << 12)
    monkeypatch.setattr(fill, "SMALL", 1 << 10)
    yield


def repo_root():
    return pathlib.Path(__file__).resolve().parents[1]


os.environ.setdefault("PYTHONHASHSEED", "0")
