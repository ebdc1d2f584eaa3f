"""The dispatch layer without a GPU: what an argument is, device arguments,
mixed devices, what is said when the GPU stack is missing, and that CPU work
never imports an optional backend. (GPU behaviour: tests/test_gpu.py.)"""
import subprocess
import sys

import numpy as np
import pytest

import fastinit as fi
from fastinit import activations as A
from fastinit import dispatch

from conftest import FLOAT_DTYPES, requires_torch


class FakeGpuArray:
    """Looks like a GPU array to dispatch (``__cuda_array_interface__``); nothing
    may ever touch its (null) memory in these tests."""

    def __init__(self, shape=(4,), dtype="float32"):
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.size = int(np.prod(shape))
        self.__cuda_array_interface__ = {"shape": shape, "typestr": self.dtype.str, "data": (0, False),
                                         "version": 3, "strides": None}


def _gpu_usable():
    from fastinit.gpu import runtime
    return runtime.probe()[0] is not None


def test_device_of():
    assert dispatch.device_of(np.zeros(2)) == "cpu"
    assert dispatch.device_of(FakeGpuArray()) == "cuda"
    assert dispatch.device_of([1.0]) is None
    assert dispatch.device_of(3.0) is None


@requires_torch
def test_device_of_torch():
    import torch
    assert dispatch.device_of(torch.zeros(2)) == "cpu"
    assert dispatch.device_of(torch.empty(2, device="meta")) is None


def test_device_argument_is_checked():
    with pytest.raises(ValueError, match="device must be one of 'cpu', 'cuda' or None; got 'tpu'"):
        fi.normal((2, 2), seed=0, device="tpu")
    with pytest.raises(ValueError, match="device must be one of"):
        fi.set_default_device("gpu")
    with pytest.raises(ValueError, match="device must be one of"):
        fi.random_bits(4, seed=0, device="cuda:0")
    assert fi.get_default_device() == "cpu"
    assert isinstance(fi.normal((2, 2), seed=0, device="cpu"), np.ndarray)


def test_default_device_round_trip():
    fi.set_default_device("cpu")
    assert fi.get_default_device() == "cpu"
    assert isinstance(fi.zeros((3,)), np.ndarray)


@pytest.mark.skipif(_gpu_usable(), reason="a GPU is usable here")
def test_cuda_without_the_gpu_stack_says_what_to_install():
    with pytest.raises((ImportError, RuntimeError), match=r"pip install 'fastinit-kernels\[cuda\]'"):
        fi.normal((4, 4), seed=0, device="cuda")
    with pytest.raises((ImportError, RuntimeError), match=r"fastinit-kernels\[cuda\]"):
        fi.normal_(FakeGpuArray(), seed=0)
    fi.set_default_device("cuda")  # allowed: the error comes when something is allocated
    try:
        with pytest.raises((ImportError, RuntimeError), match=r"fastinit-kernels\[cuda\]"):
            fi.uniform((2,), seed=0)
    finally:
        fi.set_default_device("cpu")


def test_mixed_devices_name_both_arguments():
    x = np.linspace(-1, 1, 4).astype(np.float32)
    with pytest.raises(TypeError, match="x is on cpu but out is on cuda"):
        A.forward("gelu", x, out=FakeGpuArray())
    with pytest.raises(TypeError, match="x is on cuda but grad_out is on cpu"):
        A.backward("gelu", x, FakeGpuArray())
    with pytest.raises(TypeError, match="a is on cpu but b is on cuda"):
        A.forward("swiglu", (x, FakeGpuArray()))
    with pytest.raises(TypeError, match="x is on cpu but grad_in is on cuda"):
        A.fused("silu", x, x, grad_in=FakeGpuArray())


@pytest.mark.parametrize("dtype", [d for d in FLOAT_DTYPES if d in ("float16", "bfloat16")])
def test_16bit_constants_round_through_float32_like_torch_fill(dtype):
    dt = dispatch.resolve_dtype(dtype)
    for v in (1.0 / 3.0, 1.0 + 2.0**-9 + 2.0**-30, -7.1e-3, 65504.0, float("inf")):
        got = fi.constant((3,), v, dtype=dtype)
        assert np.array_equal(got.view(np.uint16), np.full(3, np.float32(v)).astype(dt).view(np.uint16)), v


@requires_torch
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_constant_matches_torch_fill(dtype):
    import torch
    for v in (1.0 / 3.0, 1.0 + 2.0**-9 + 2.0**-30, 0.1):
        t = torch.empty(4, dtype=getattr(torch, dtype))
        fi.constant_(t, v)
        assert torch.equal(t, torch.full((4,), v, dtype=getattr(torch, dtype))), v


def test_cpu_work_imports_no_optional_backend():
    code = ("import sys, numpy as np, fastinit as fi;"
            "fi.normal((8, 8), seed=0); fi.trunc_normal((4, 4), seed=0); fi.dirac((4, 2, 3), groups=2);"
            "fi.random_bits(8, seed=1); fi.orthogonal((4, 6), seed=2);"
            "fi.activations.fused('swiglu', (np.ones(5), np.ones(5)), np.ones(5));"
            "fi.activations.forward('gelu', np.ones(3, np.float32), out=np.empty(3, np.float32));"
            "bad = [m for m in ('torch', 'cupy', 'dask', 'numba.cuda', 'fastinit.gpu', 'ml_dtypes') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
