"""The CPU constant fill (``constant_``, ``zeros_``, ``ones_``, ``eye_``, ``dirac_``).

``set_all(arr, bits)`` stores one scalar into every element of a C-contiguous
array on the thread pool (``runtime.run_tiles``). A constant fill does no
compute: its speed is the store path. Outputs of at least
``runtime.STREAM_WRITE_ONLY_BYTES`` go out with streaming stores (``ntstore``: whole 64-byte lines from an L1 tile
of the value, no read for ownership), smaller ones with regular vector stores
that leave them in cache for the next op. numpy's ``arr[...] = v`` is one
thread of regular stores; tiny arrays (``runtime.SMALL`` elements or fewer) still
take it, because a kernel call costs more than their fill.

Every element gets exactly ``bits`` (the storage scalar: float32, float64 or
the uint16 bits of a 16-bit value), as numpy's assignment would store it.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, types

from . import runtime as _rt
from .runtime import _stamp_dependencies, run_tiles, specialize, streams
from .ntstore import line_head, store_fence, stream_copy

#: elements of the streamed tile (4 KiB of float32, a multiple of a line for every dtype)
TILE = 1024


@njit(cache=True, nogil=True, error_model="numpy")
def set_range(out, i0, i1, value, stream):
    """``out[i0:i1] = value``; ``stream``: whole lines with streaming stores,
    then a store fence (``ntstore``)."""
    o = out[i0:i1]  # a view from 0: no wraparound checks in the loop
    n = o.size
    if not stream:
        for i in range(n):
            o[i] = value
        return
    t = np.empty(TILE, o.dtype)
    for i in range(TILE):
        t[i] = value
    # the first chunk ends on a cache line: the others are whole lines
    lh = line_head(o, 0)
    t0 = 0
    t1 = min(n, lh if lh > 0 else TILE)
    while t0 < n:
        stream_copy(o, t0, t, t1 - t0)
        t0 = t1
        t1 = min(n, t1 + TILE)
    store_fence()


_STAMP = _stamp_dependencies(set_range)
_KERNELS = {}


#: below this (and not streamed), numpy's own single-thread fill: on the 2-core Zen 5 (2026-12-01,
#: best of 7, float32) numpy 15.3-15.8 vs the 2-thread kernel 7.8-8.8 G el/s at 4 MiB, 8.8-10.0 vs
#: 14.9-15.2 at 32 MiB (thread hand-over costs more than a 4 MiB fill)
SERIAL_BYTES = 8 << 20


def set_all(arr, bits):
    """Every element of the C-contiguous numpy array ``arr`` = ``bits`` (a
    scalar of ``arr``'s dtype: float32, float64 or uint16 storage bits)."""
    stream = streams(arr.nbytes, write_only=True)
    if (arr.size <= _rt.SMALL or not arr.flags.c_contiguous or not arr.flags.writeable
            or (not stream and arr.nbytes < SERIAL_BYTES)):
        arr[...] = bits
        return
    flat = arr.reshape(-1)
    value = flat.dtype.type(bits)
    key = (flat.dtype, flat.flags.aligned)
    kernel = _KERNELS.get(key)
    if kernel is None:
        kernel = _KERNELS[key] = specialize(
            set_range, (numba.typeof(flat), types.int64, types.int64, numba.typeof(value), types.int64))

    def task(r0, r1, c0, c1):
        kernel(flat, c0, c1, value, stream)

    run_tiles(task, 1, flat.size)


__all__ = ["set_all", "set_range"]
