"""The CPU fill kernel and its thread driver.

One kernel, ``fill_rows``, fills any region of a logical tensor: the output is seen
as ``rows x cols`` (C-contiguous) and row ``r`` holds the logical elements
``starts[r] .. starts[r] + cols - 1``. An unsharded tensor is one row; a shard of
an N-D tensor is one row per run along its last axis. Inside a row, the head and
tail (logical index not a multiple of 4) go element by element, and the body goes
block by block in a loop LLVM vectorizes (AVX2 here: ``vpmuludq`` on ymm).

Why Python threads and not ``parallel=True``
--------------------------------------------
``fill_rows`` is serial, ``nogil=True`` and ``cache=True``; a small thread pool
runs tiles of it. Measured on this 2-core AVX2 machine (2026-11-22): a
``parallel=True`` driver costs ~0.45 s of compilation in every new process per
(distribution, dtype), cannot be cached safely (numba#4807: cache corruption
when processes compile concurrently), and a ``prange`` body that inlines the
Philox loop lost vectorization (0.46 vs 1.9 G elements/s for uniform). The
cached serial kernel loads in milliseconds. Tiling does not change any value:
every element is a function of its logical index only.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import literally, njit, types
from numba.extending import overload

from .. import _fmath as _fmath_mod
from .. import _stream as _stream_mod
from .. import distributions as _dist_mod
from .._fmath import f32_to_bf16_bits, f32_to_f16_bits
from .._stream import philox4x32_10
from ..distributions import BITS, SAMPLERS

U64 = np.uint64
_MASK = U64(0xFFFFFFFF)
_S32 = U64(32)
_TWO = U64(2)
_THREE = U64(3)
_BLOCKS = U64((1 << 62) - 1)  # block indices wrap with the element index, mod 2**62

KIND_F32, KIND_F64, KIND_F16, KIND_BF16, KIND_U32 = 0, 1, 2, 3, 4


def _value(x, prm, dist, kind):
    """Stored value of raw word ``x``: sampler ``dist``, output kind ``kind``."""
    raise NotImplementedError("only callable from jitted code")


@overload(_value, inline="always", prefer_literal=True)
def _value_impl(x, prm, dist, kind):
    # Resolved at typing time from the literal codes, so only the one sampler
    # needed is inlined (inlining every branch and pruning later made the IR so
    # large that one kernel took minutes to compile).
    if not isinstance(dist, types.IntegerLiteral) or not isinstance(kind, types.IntegerLiteral):
        raise TypeError("dist and kind must be compile-time literals")
    k = kind.literal_value
    if k == KIND_U32:
        return lambda x, prm, dist, kind: np.uint32(x)
    s32, s64 = SAMPLERS[dist.literal_value]
    if k == KIND_F32:
        return lambda x, prm, dist, kind: s32(x, prm)
    if k == KIND_F64:
        return lambda x, prm, dist, kind: s64(x, prm)
    if k == KIND_F16:
        return lambda x, prm, dist, kind: f32_to_f16_bits(s32(x, prm))
    if k == KIND_BF16:
        return lambda x, prm, dist, kind: f32_to_bf16_bits(s32(x, prm))
    raise TypeError(f"unknown output kind {k}")


@njit(inline="always")
def _one(n, k0, k1, s0, s1, prm, dist, kind):
    """Value of the single logical element n (head/tail of a run)."""
    b = n >> _TWO
    x0, x1, x2, x3 = philox4x32_10(b & _MASK, b >> _S32, s0, s1, k0, k1)
    w = n & _THREE
    x = x0 if w == U64(0) else (x1 if w == U64(1) else (x2 if w == _TWO else x3))
    return _value(x, prm, dist, kind)


@njit(inline="always")
def _run(o, n0, k0, k1, s0, s1, prm, dist, kind):
    """Fill contiguous ``o`` with logical elements n0, n0+1, ... (mod 2**64).

    One fused loop over blocks. A two-loop tile (words into an L1 buffer, then
    words -> values 8 lanes wide) was measured too: uniform fell from 1.96 to
    1.30 G elements/s on 2 threads and normal stayed at 0.37, so it was dropped.
    """
    m = o.size
    i = 0
    while i < m and ((n0 + U64(i)) & _THREE) != U64(0):
        o[i] = _one(n0 + U64(i), k0, k1, s0, s1, prm, dist, kind)
        i += 1
    nb = (m - i) // 4
    b0 = (n0 + U64(i)) >> _TWO
    body = o[i:i + 4 * nb]  # a view indexed from 0: keeps the loop free of wraparound checks
    for j in range(nb):
        b = (b0 + U64(j)) & _BLOCKS
        x0, x1, x2, x3 = philox4x32_10(b & _MASK, b >> _S32, s0, s1, k0, k1)
        body[4 * j] = _value(x0, prm, dist, kind)
        body[4 * j + 1] = _value(x1, prm, dist, kind)
        body[4 * j + 2] = _value(x2, prm, dist, kind)
        body[4 * j + 3] = _value(x3, prm, dist, kind)
    i += 4 * nb
    while i < m:
        o[i] = _one(n0 + U64(i), k0, k1, s0, s1, prm, dist, kind)
        i += 1


@njit(cache=True, nogil=True, error_model="numpy")
def fill_rows(out, starts, r0, r1, c0, c1, k0, k1, s0, s1, prm, dist, kind):
    """Fill ``out[r0:r1, c0:c1]``; element (r, c) is logical ``starts[r] + c``.

    ``dist`` and ``kind`` are compile-time literals: one specialization per
    (distribution, output kind), each cached on disk.
    """
    literally(dist)
    literally(kind)
    for r in range(r0, r1):
        _run(out[r, c0:c1], U64(starts[r]) + U64(c0), k0, k1, s0, s1, prm, dist, kind)


def _stamp_dependencies(dispatcher, modules):
    """Fold the source of the modules a cached kernel inlines into its cache stamp.

    Numba stamps a cache with the mtime and size of the function's own file
    only, so an edit (or upgrade) of ``_stream``, ``_fmath`` or
    ``distributions`` would keep loading the stale kernel: seen here, a fixed
    float64 sampler kept returning the old values. This uses Numba's private
    ``_cache._cache_file._source_stamp``; if that ever moves, caching still
    works as before and ``tests/test_cache.py`` fails to say so.
    """
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if cache_file is None or not hasattr(cache_file, "_source_stamp"):
        return None
    h = hashlib.sha256()
    for mod in modules:
        h.update(pathlib.Path(mod.__file__).read_bytes())
    cache_file._source_stamp = (cache_file._source_stamp, h.hexdigest())
    return cache_file._source_stamp


_CACHE_STAMP = _stamp_dependencies(
    fill_rows, [sys.modules[__name__], _fmath_mod, _stream_mod, _dist_mod])


# ---------------------------------------------------------------- thread driver
_POOL = None
_POOL_LOCK = threading.Lock()
_POOL_PID = None

#: elements per task; 2**20 float32 = 4 MiB, ~0.5 ms of work: Python overhead < 1%
TASK = 1 << 20
#: below this many elements, run in the calling thread
SMALL = 1 << 16


def _pool(n):
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid() or _POOL._max_workers < n:
            _POOL = ThreadPoolExecutor(max_workers=max(n, numba.config.NUMBA_NUM_THREADS),
                                       thread_name_prefix="fastinit")
            _POOL_PID = os.getpid()
        return _POOL


def tiles(rows, cols, nthreads):
    """Split a rows x cols fill into (r0, r1, c0, c1) tiles of about TASK elements."""
    total = rows * cols
    task = min(TASK, max(SMALL, -(-total // (4 * nthreads))))
    cb = min(cols, max(4, task - task % 4))
    rb = max(1, task // cb)
    return [(r0, min(rows, r0 + rb), c0, min(cols, c0 + cb))
            for r0 in range(0, rows, rb) for c0 in range(0, cols, cb)]


def run_tiles(fn, rows, cols, *args):
    """Run ``fn(r0, r1, c0, c1, *args)`` over the tiles, on numba's thread count."""
    nthreads = numba.get_num_threads()
    if rows * cols <= SMALL or nthreads == 1:
        fn(0, rows, 0, cols, *args)
        return
    futures = [_pool(nthreads).submit(fn, *t, *args) for t in tiles(rows, cols, nthreads)]
    for f in futures:
        f.result()


_ENTRY = {}
_ENTRY_LOCK = threading.Lock()


def specialize(dispatcher, argtypes):
    """Compiled entry point of ``dispatcher`` for ``argtypes`` (literals included).

    Calling a dispatcher whose body uses ``literally`` from Python re-resolves
    the literal specialization on every call (~1.5 s each, measured); the entry
    point of the compiled overload is called directly instead (~11 us a call).
    """
    key = (dispatcher, argtypes)
    ep = _ENTRY.get(key)
    if ep is None:
        with _ENTRY_LOCK:
            ep = _ENTRY.get(key)
            if ep is None:
                dispatcher.compile(argtypes)
                ep = _ENTRY[key] = dispatcher.overloads[argtypes].entry_point
    return ep


_FILL_SCALARS = (types.int64,) * 4 + (types.uint64,) * 4 + (types.UniTuple(types.float64, 8),)


def fill(out2d, starts, words, prm, dist, kind):
    """Fill the C-contiguous 2-D array ``out2d`` (see ``fill_rows``)."""
    rows, cols = out2d.shape
    if rows * cols == 0:
        return
    prm = tuple(float(p) for p in prm) + (0.0,) * (8 - len(prm))
    k0, k1, s0, s1 = words
    sig = (numba.typeof(out2d), numba.typeof(starts)) + _FILL_SCALARS + (
        types.literal(dist), types.literal(kind))
    kernel = specialize(fill_rows, sig)

    def task(r0, r1, c0, c1):
        kernel(out2d, starts, r0, r1, c0, c1, k0, k1, s0, s1, prm, dist, kind)

    run_tiles(task, rows, cols)


__all__ = ["fill", "fill_rows", "tiles", "run_tiles", "BITS",
           "KIND_F32", "KIND_F64", "KIND_F16", "KIND_BF16", "KIND_U32"]
