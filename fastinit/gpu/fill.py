"""GPU fill kernels: the random fills (same values as ``fastinit.cpu.fill``)
and the deterministic ones (a constant everywhere, a value at given indices).

``fill`` takes what the CPU's ``fill`` takes: a C-contiguous ``rows x cols``
output whose row ``r`` holds the logical elements ``starts[r] ..
starts[r] + cols - 1``. One work item is one Philox block of one row: thread
``t`` of a grid-stride loop computes block ``starts[r] // 4 + j`` once, turns
its four words into values with ``distributions.pair_sampler`` (the CPU
kernel's function, compiled for the GPU) and stores the ones that fall inside
the row: one 16-byte store when all four do and the address is aligned (the
unsharded case, except at a row's ends), else one store per element.
GPU_NOTES.md measured why: on an H100 a Philox fill with one 16-byte store per
block reached 98% of the write bandwidth, four scalar stores 72%.
"""
from __future__ import annotations

import numpy as np

from numba import njit

from .._stream import BLOCK_MOD, MASK32, SHIFT32, THREE, TWO, philox4x32_10
from ..distributions import codec, pair_sampler
from . import runtime as rt

cuda = rt.cuda()

U64 = np.uint64
I64 = np.int64
_MASK, _S32, _TWO, _THREE, _BLOCKS = MASK32, SHIFT32, TWO, THREE, BLOCK_MOD

_KERNELS = {}


def _fill_kernel(dist, kind):
    key = ("fill", dist, kind)
    kernel = _KERNELS.get(key)
    if kernel is not None:
        return kernel
    pair = pair_sampler(dist, kind)
    store4, aligned = rt.store4, rt.aligned

    @njit(inline="always")
    def block(b, k0, k1, s0, s1, prm):
        """The four stored values of Philox block ``b`` (``b`` < 2**62)."""
        x0, x1, x2, x3 = philox4x32_10(b & _MASK, b >> _S32, s0, s1, k0, k1)
        v0, v1 = pair(np.uint32(x0), np.uint32(x1), prm)
        v2, v3 = pair(np.uint32(x2), np.uint32(x3), prm)
        return v0, v1, v2, v3

    def fill_blocks(out, starts, cols, nb, items, k0, k1, s0, s1, prm):
        t = I64(cuda.grid(1))
        step = I64(cuda.gridsize(1))
        s = starts[0]
        if items == nb and s & _THREE == 0 and aligned(out, I64(0)):
            # One row starting at a block boundary, 16-byte aligned: an unsharded
            # tensor. Block j is elements 4j .. 4j+3, every full block one 16-byte
            # store with no index or bounds arithmetic: 94 SASS instructions per
            # block for uniform float32 against ~140 on the general path below
            # (sm_90, ptxas 13.0). ncu on the H100, 2**28 elements, base clock:
            # 294M -> 200M warp instructions, 513 -> 392 us, 61% -> 80% of DRAM peak.
            base = s >> _TWO
            full = cols >> 2
            while t < full:
                v0, v1, v2, v3 = block((base + U64(t)) & _BLOCKS, k0, k1, s0, s1, prm)
                store4(out, I64(4) * t, v0, v1, v2, v3)
                t += step
            if t == full and cols & 3:  # the partial last block: one thread
                v0, v1, v2, v3 = block((base + U64(full)) & _BLOCKS, k0, k1, s0, s1, prm)
                i = I64(4) * full
                out[i] = v0
                if i + 1 < cols:
                    out[i + 1] = v1
                if i + 2 < cols:
                    out[i + 2] = v2
            return
        one_row = items == nb
        while t < items:
            if one_row:  # one row off the fast path: no 64-bit division or load per block
                r = I64(0)
                j = t
            else:
                r = t // nb
                j = t - r * nb
                s = starts[r]
            v0, v1, v2, v3 = block(((s >> _TWO) + U64(j)) & _BLOCKS, k0, k1, s0, s1, prm)
            col = I64(4) * j - I64(s & _THREE)  # column of the block's word 0
            i = r * cols + col
            if col >= 0 and col + 4 <= cols and aligned(out, i):
                store4(out, i, v0, v1, v2, v3)
            else:
                if 0 <= col < cols:
                    out[i] = v0
                if 0 <= col + 1 < cols:
                    out[i + 1] = v1
                if 0 <= col + 2 < cols:
                    out[i + 2] = v2
                if 0 <= col + 3 < cols:
                    out[i + 3] = v3
            t += step

    kernel = _KERNELS[key] = rt.jit(fill_blocks)
    return kernel


def fill(out2d, starts, words, prm, dist, kind):
    """Fill the C-contiguous device array ``out2d`` (rows x cols, the kind's
    storage dtype) exactly as ``fastinit.cpu.fill.fill`` fills a numpy array."""
    rows, cols = out2d.shape
    if rows * cols == 0:
        return
    prm = tuple(float(p) for p in prm) + (0.0,) * (8 - len(prm))
    k0, k1, s0, s1 = words
    nb = (cols + 3) // 4 + 1  # blocks a row of cols elements can touch
    flat = out2d.reshape(rows * cols)
    d_starts = rt.to_device(np.ascontiguousarray(starts, dtype=np.uint64), flat)
    rt.launch(_fill_kernel(dist, kind), rows * nb, flat, d_starts,
              cols, nb, rows * nb, k0, k1, s0, s1, prm)


def _value_kernels():
    kernel = _KERNELS.get("value")
    if kernel is not None:
        return kernel

    def set_all(out, n, value):
        i = I64(cuda.grid(1))
        step = I64(cuda.gridsize(1))
        while i < n:
            out[i] = value
            i += step

    def put(out, idx, n, value):
        i = I64(cuda.grid(1))
        step = I64(cuda.gridsize(1))
        while i < n:
            out[idx[i]] = value
            i += step

    kernel = _KERNELS["value"] = (rt.jit(set_all), rt.jit(put))
    return kernel


def set_all(out, value):
    """``out[...] = value`` for a contiguous device array; ``value`` a numpy
    scalar of ``out``'s dtype (16-bit types: their bits as uint16)."""
    flat = out.reshape(out.size)
    rt.launch(_value_kernels()[0], flat.size, flat, flat.size, value)


def put(out, flat_index, value):
    """``out.flat[flat_index] = value`` (``flat_index``: host int64 array)."""
    if len(flat_index) == 0:
        return
    flat = out.reshape(out.size)
    idx = rt.to_device(np.ascontiguousarray(flat_index, dtype=np.int64), flat)
    rt.launch(_value_kernels()[1], len(flat_index), flat, idx, len(flat_index), value)


def _cast_kernel(kind):
    key = ("cast", kind)
    kernel = _KERNELS.get(key)
    if kernel is None:
        st = codec(kind)[1]

        def cast(out, src, n):
            i = I64(cuda.grid(1))
            step = I64(cuda.gridsize(1))
            while i < n:
                out[i] = st(src[i])
                i += step

        kernel = _KERNELS[key] = rt.jit(cast)
    return kernel


def store_values(out, src, kind):
    """``out[...] = src`` for a kernel view ``out`` of ``kind`` and a contiguous
    device array ``src`` of the same size (float64 for float64, else float32):
    16-bit values rounded by ``distributions.codec``, like every kernel's."""
    flat, s = out.reshape(out.size), src.reshape(src.size)
    rt.launch(_cast_kernel(kind), flat.size, flat, s, flat.size)


__all__ = ["fill", "set_all", "put", "store_values"]
