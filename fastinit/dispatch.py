"""What an output argument is, and the view the kernels write through.

numpy arrays (float16, float32, float64, ml_dtypes.bfloat16) and torch CPU
tensors (through a zero-copy numpy view; bfloat16 through a 16-bit view) go to
the CPU kernels. torch is never imported here: a tensor is recognized by its
class's module, looked up in ``sys.modules`` like array-api-compat does.
"""
from __future__ import annotations

import sys

import numpy as np

from .cpu.fill import KIND_BF16, KIND_F16, KIND_F32, KIND_F64

__all__ = ["as_target", "float_kind", "resolve_dtype", "FLOAT_DTYPES"]

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
_KINDS = {"float32": KIND_F32, "float64": KIND_F64, "float16": KIND_F16, "bfloat16": KIND_BF16}


def _is_torch_tensor(x):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def float_kind(dtype):
    """Kernel output kind of a numpy dtype, or TypeError naming the allowed ones."""
    name = np.dtype(dtype).name
    if name not in _KINDS:
        raise TypeError(f"tensor dtype must be one of {', '.join(FLOAT_DTYPES)}; got {name}")
    return _KINDS[name]


def resolve_dtype(dtype):
    """numpy dtype for a ``dtype=`` argument ("float32", "bf16", np.float16, ...)."""
    aliases = {"bf16": "bfloat16", "f16": "float16", "half": "float16", "fp16": "float16",
               "f32": "float32", "float": "float32", "fp32": "float32", "f64": "float64",
               "double": "float64", "fp64": "float64"}
    if isinstance(dtype, str):
        name = aliases.get(dtype, dtype)
        if name == "bfloat16":
            try:
                import ml_dtypes
            except ImportError:  # pragma: no cover - depends on the environment
                raise ImportError("dtype bfloat16 needs the ml_dtypes package: "
                                  "pip install 'fastinit-kernels[bf16]'") from None
            return np.dtype(ml_dtypes.bfloat16)
        if name not in FLOAT_DTYPES:
            raise TypeError(f"dtype must be one of {', '.join(FLOAT_DTYPES)}; got {dtype!r}")
        return np.dtype(name)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be one of {', '.join(FLOAT_DTYPES)}; got {dtype!r}") from None
    float_kind(dt)
    return dt


def as_target(tensor, name="tensor"):
    """Return ``(array, kind)``: a writable C-contiguous numpy view of ``tensor``
    (16-bit types viewed as uint16) and the kernel output kind.

    Raises before anything is written: TypeError for what is not a float array,
    ValueError for read-only or non-contiguous outputs.
    """
    if _is_torch_tensor(tensor):
        if tensor.device.type != "cpu":
            raise TypeError(f"{name} is a torch tensor on {tensor.device}; this build of "
                            "fastinit writes CPU tensors only (the GPU backend is issue #4)")
        if not tensor.is_contiguous():
            raise ValueError(f"{name} must be contiguous; call .contiguous() or pass a contiguous tensor")
        import torch
        t = tensor.detach()
        if t.dtype == torch.bfloat16:
            arr, kind = t.view(torch.int16).numpy().view(np.uint16), KIND_BF16
        elif t.dtype in (torch.float16, torch.float32, torch.float64):
            arr = t.numpy()
            kind = float_kind(arr.dtype)
        else:
            raise TypeError(f"{name} dtype must be one of {', '.join(FLOAT_DTYPES)}; got {t.dtype}")
        if kind == KIND_F16:
            arr = arr.view(np.uint16)
        return arr, kind
    if not isinstance(tensor, np.ndarray):
        if hasattr(tensor, "__cuda_array_interface__"):
            raise TypeError(f"{name} is a GPU array ({type(tensor).__module__}.{type(tensor).__name__}); "
                            "this build of fastinit writes CPU arrays only (the GPU backend is issue #4)")
        raise TypeError(f"{name} must be a numpy.ndarray or a torch CPU tensor, got {type(tensor).__name__}")
    kind = float_kind(tensor.dtype)
    if not tensor.flags.writeable:
        raise ValueError(f"{name} is read-only; pass a writable array")
    if not tensor.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; pass np.ascontiguousarray(...) "
                         "and copy back, or a contiguous array")
    if kind in (KIND_F16, KIND_BF16):
        return tensor.view(np.uint16), kind
    return tensor, kind
