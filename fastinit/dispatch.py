"""Where an array lives, the view the kernels write through, and which kernels run.

This module is the only place that knows array types:

* numpy arrays (float16, float32, float64, ``ml_dtypes.bfloat16``) and torch
  CPU tensors (a zero-copy numpy view; 16-bit types through a uint16 view)
  go to ``fastinit.cpu``;
* CuPy arrays, torch CUDA tensors, Numba device arrays and anything else with
  ``__cuda_array_interface__`` go to ``fastinit.gpu``, through a zero-copy
  Numba device array (16-bit types again as uint16).

Nothing optional is imported to *recognize* an argument: torch is found by
its class's module in ``sys.modules`` (like array-api-compat), CuPy and
Numba device arrays by their ``__cuda_array_interface__`` or module name. So
``import fastinit`` and every CPU call leave cupy, torch, numba.cuda and dask
unimported (``tests/test_dispatch.py`` checks it in a fresh interpreter).

The default device of the allocating functions (``device=None``) is "cpu"
until ``set_default_device("cuda")``.
"""
from __future__ import annotations

import sys
import threading

import numpy as np

from .storage import KIND_BF16, KIND_F16
from .storage import KINDS as _KINDS
from .storage import storage_scalar  # noqa: F401  (the kernels' scalars, here with the dtype rules)

__all__ = ["as_target", "float_kind", "resolve_dtype", "FLOAT_DTYPES", "device_of", "same_device",
           "check_device", "set_default_device", "get_default_device", "empty", "empty_like",
           "storage_scalar", "cupy_module", "gpu_view", "as_source", "memory_span", "is_torch_tensor",
           "fill_kernels", "elementwise_kernels", "DEVICES"]

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
DEVICES = ("cpu", "cuda")
_INSTALL = "pip install 'fastinit-kernels[cuda]'"


# ------------------------------------------------------------------ dtypes
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


# ------------------------------------------------------------------ devices
def is_torch_tensor(x):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _is_numba_device_array(x):
    mod = type(x).__module__
    return mod.startswith(("numba.cuda", "numba_cuda")) and hasattr(x, "copy_to_host")


def _is_cupy(x):
    return type(x).__module__.startswith("cupy")


def device_of(x):
    """"cpu", "cuda", or None when ``x`` is not an array fastinit knows."""
    if isinstance(x, np.ndarray):
        return "cpu"
    if is_torch_tensor(x):
        t = x.device.type
        return t if t in DEVICES else None
    if hasattr(x, "__cuda_array_interface__") or _is_numba_device_array(x):
        return "cuda"
    return None


def same_device(named):
    """The one device of ``named`` = [(name, array-or-None), ...]; TypeError
    naming two arguments on different devices."""
    first = None
    for name, a in named:
        d = None if a is None else device_of(a)
        if d is None:  # not an array: the caller's type check names it
            continue
        if first is None:
            first = (name, d)
        elif d != first[1]:
            raise TypeError(f"{first[0]} is on {first[1]} but {name} is on {d}: "
                            "pass arrays of one device (move one with .get()/cupy.asarray or .to())")
    return first[1] if first else None


_default = {"device": "cpu"}
_default_lock = threading.Lock()


def check_device(device):
    """``device=`` argument -> "cpu" or "cuda" (None: the default device)."""
    if device is None:
        return _default["device"]
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(map(repr, DEVICES))} or None; got {device!r}")
    return device


def set_default_device(device):
    """Device of the allocating functions when ``device=None`` ("cpu" at import)."""
    device = check_device(device)
    with _default_lock:
        _default["device"] = device


def get_default_device():
    """The allocating functions' default device."""
    return _default["device"]


def cupy_module(what):
    """``cupy``, or ImportError saying ``what`` needs it and how to install it."""
    try:
        import cupy
    except Exception as e:  # noqa: BLE001 - ImportError or a CUDA library failing to load
        raise ImportError(f"{what} needs CuPy: {_INSTALL} (import cupy failed: {e})") from e
    return cupy


def _cuda_empty(shape, dtype):
    cupy = cupy_module("device='cuda'")
    from .gpu import runtime
    runtime.cuda()  # a clear error when there is no GPU or numba-cuda
    try:
        return cupy.empty(shape, dtype)
    except (TypeError, ValueError) as e:
        raise TypeError(f"CuPy cannot hold dtype {np.dtype(dtype).name} ({e}); for bfloat16 on the GPU "
                        "initialize a torch bfloat16 CUDA tensor in place") from None


def empty(shape, dtype, device):
    """A new uninitialized array: numpy on "cpu", CuPy on "cuda"."""
    if check_device(device) == "cpu":
        return np.empty(shape, dtype)
    return _cuda_empty(shape, dtype)


def empty_like(a):
    """A new C-contiguous array of ``a``'s shape, dtype and kind of array
    (numpy, CuPy, or a Numba device array for other GPU arrays)."""
    if isinstance(a, np.ndarray):
        return np.empty(a.shape, a.dtype)
    if _is_cupy(a):
        return cupy_module("a CuPy output").empty(a.shape, a.dtype)
    from .gpu import runtime
    return runtime.cuda().device_array(a.shape, a.dtype)


# ------------------------------------------------------------------ kernel views
def as_target(tensor, name="tensor", writable=True):
    """Return ``(array, kind)``: a writable C-contiguous view of ``tensor`` the
    kernels write through (a numpy array on the CPU, a Numba device array on
    the GPU; 16-bit types viewed as uint16) and the kernel output kind.
    ``writable=False``: a view to read from (``as_source``).

    Raises before anything is written: TypeError for what is not a float
    array, ValueError for read-only or non-contiguous outputs.
    """
    if is_torch_tensor(tensor):
        return _torch_target(tensor, name)
    if isinstance(tensor, np.ndarray):
        kind = float_kind(tensor.dtype)
        if writable and not tensor.flags.writeable:
            raise ValueError(f"{name} is read-only; pass a writable array")
        if not tensor.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous; pass np.ascontiguousarray(...) "
                             "and copy back, or a contiguous array")
        if kind in (KIND_F16, KIND_BF16):
            return tensor.view(np.uint16), kind
        return tensor, kind
    if device_of(tensor) == "cuda":
        return _gpu_target(tensor, name, writable)
    raise TypeError(f"{name} must be a numpy.ndarray, a torch tensor, a CuPy array or another "
                    f"array with __cuda_array_interface__; got {type(tensor).__name__}")


def _torch_target(tensor, name):
    import torch
    if tensor.device.type not in DEVICES:
        raise TypeError(f"{name} is a torch tensor on {tensor.device}; fastinit runs on cpu and cuda")
    if not tensor.is_contiguous():
        raise ValueError(f"{name} must be contiguous; call .contiguous() or pass a contiguous tensor")
    t = tensor.detach()
    names = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32",
             torch.float64: "float64"}
    if t.dtype not in names:
        raise TypeError(f"{name} dtype must be one of {', '.join(FLOAT_DTYPES)}; got {t.dtype}")
    kind = _KINDS[names[t.dtype]]
    if kind in (KIND_F16, KIND_BF16):
        t = t.view(torch.int16)
    if t.device.type == "cpu":
        arr = t.numpy()
        return (arr.view(np.uint16) if kind in (KIND_F16, KIND_BF16) else arr), kind
    from .gpu import runtime
    _check_current_device(t.device.index, name)
    arr = runtime.as_device_array(t)
    return (arr.view(np.uint16) if kind in (KIND_F16, KIND_BF16) else arr), kind


def _check_current_device(index, name):
    """The GPU kernels run on Numba's current device: refuse an array on another
    one (a launch would read the wrong memory) with what to do instead."""
    from .gpu import runtime
    if index is None or runtime.SIM:
        return
    current = runtime.cuda().get_current_device().id
    if index != current:
        raise ValueError(f"{name} is on cuda:{index} but fastinit launches on the current device "
                         f"cuda:{current}; call numba.cuda.select_device({index}) first")


def as_source(a, name):
    """``(flat C-contiguous view, kind)`` of an input array that is only read:
    read-only arrays are fine and a strided numpy or CuPy array is copied once
    (other strided GPU arrays are refused, as outputs are)."""
    if isinstance(a, np.ndarray) and not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    elif _is_cupy(a) and not a.flags.c_contiguous:
        a = a.copy()  # C order
    view, kind = as_target(a, name, writable=False)
    return view.reshape(view.size), kind


def memory_span(a):
    """``(first byte address, one past the last)`` of an array's memory (numpy,
    or a GPU array), for overlap checks."""
    if isinstance(a, np.ndarray):
        return getattr(np.lib, "array_utils", np).byte_bounds(a)
    cai = getattr(a, "__cuda_array_interface__", None)
    if cai is not None:
        ptr = cai["data"][0]
    elif hasattr(a, "device_ctypes_pointer"):
        ptr = a.device_ctypes_pointer.value or 0
    else:  # the CUDA simulator's arrays wrap a numpy array
        return memory_span(a._ary)
    return ptr, ptr + a.size * a.dtype.itemsize


def _gpu_target(tensor, name, writable=True):
    from .gpu import runtime
    runtime.cuda()
    try:
        dtype = np.dtype(tensor.dtype)
    except (AttributeError, TypeError):
        dtype = None
    if dtype is None or dtype.name not in _KINDS:
        got = getattr(tensor, "dtype", "unknown")
        raise TypeError(f"{name} dtype must be one of {', '.join(FLOAT_DTYPES)}; got {got}")
    kind = _KINDS[dtype.name]
    cai = getattr(tensor, "__cuda_array_interface__", None)
    if writable and cai is not None and cai.get("data", (0, False))[1]:
        raise ValueError(f"{name} is read-only; pass a writable array")
    if _is_cupy(tensor):
        _check_current_device(tensor.device.id, name)
    view = tensor
    if kind in (KIND_F16, KIND_BF16):
        view = tensor.view(np.uint16)  # CuPy and Numba arrays: a bit view, no copy
    arr = gpu_view(view)
    if not arr.is_c_contiguous():
        raise ValueError(f"{name} must be C-contiguous; pass cupy.ascontiguousarray(...) "
                         "and copy back, or a contiguous array")
    return arr, kind


def gpu_view(a):
    """Zero-copy Numba device array of a GPU array (itself if it is one)."""
    if _is_numba_device_array(a):
        return a
    from .gpu import runtime
    return runtime.as_device_array(a)


def fill_kernels(arr):
    """The fill module (``fill``, and on the GPU ``set_all``/``put``) for a
    view from ``as_target``."""
    if isinstance(arr, np.ndarray):
        from .cpu import fill
        return fill
    from .gpu import fill
    return fill


def elementwise_kernels(arr):
    """The elementwise module (``run``) for a view from ``as_target``."""
    if isinstance(arr, np.ndarray):
        from .cpu import elementwise
        return elementwise
    from .gpu import elementwise
    return elementwise
