"""fastinit: fast, exactly reproducible weight initialization.

Every random value is a pure function of ``(seed, stream, logical element index)``
through Philox4x32-10 (see ``fastinit._stream``): the same bits for any thread
count, chunking, shard or device. Arrays decide where the work runs
(``fastinit.dispatch``): numpy and torch CPU tensors on the CPU, CuPy arrays,
torch CUDA tensors and other ``__cuda_array_interface__`` arrays on the GPU.
``import fastinit`` needs only numpy and numba; torch, ml_dtypes (bfloat16),
cupy, numba-cuda and dask are optional and imported lazily.
"""
from . import activations
from ._stream import stream_id
from .dispatch import get_default_device, set_default_device
from .fans import calculate_gain, compute_fans
from .init import *  # noqa: F401,F403  (the public initializer API, listed in init.__all__)
from .init import __all__ as _init_all

__version__ = "0.1.0"
__all__ = list(_init_all) + ["activations", "stream_id", "get_default_device", "set_default_device",
                             "__version__"]
