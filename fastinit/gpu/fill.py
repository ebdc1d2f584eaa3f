"""GPU fill kernels: the random fills (same values as ``fastinit.cpu.fill``)
and the deterministic ones (a constant everywhere, a value at given indices).

``fill`` takes what the CPU's ``fill`` takes: a C-contiguous ``rows x cols``
output whose row ``r`` holds the logical elements ``starts[r] ..
starts[r] + cols - 1``. One work item is one Philox block of one row: thread
``t`` of a grid-stride loop computes block ``starts[r] // 4 + j`` once, turns
its four words into values with ``distributions.pair_sampler`` (the CPU
kernel's function, compiled for the GPU) and stores the ones that fall inside
the row: one 16-byte store when all four do and the address is aligned, else
one store per element. One row starting at a block boundary at an aligned
address (an unsharded tensor) runs ``_fast_kernel`` instead: no index or bounds
arithmetic, fewer registers.
BENCHMARKS.md "GPU facts" measured why: on an H100 a Philox fill with one 16-byte store per
block reached 98% of the write bandwidth, four scalar stores 72%.
"""
from __future__ import annotations

import numpy as np

from numba import njit

from .._stream import BLOCK_MOD, MASK32, SHIFT32, THREE, TWO, philox4x32_10
from ..distributions import BITS, SAMPLERS, pair_sampler
from ..storage import KIND_BF16, KIND_F32, codec
from . import runtime as rt

cuda = rt.cuda()

U64 = np.uint64
I64 = np.int64
_MASK, _S32, _TWO, _THREE, _BLOCKS = MASK32, SHIFT32, TWO, THREE, BLOCK_MOD

_KERNELS = {}

#: ptxas' register cap of the fast path, by sampler (``Sampler.gpu_max_registers``). 40 lets 6
#: blocks of 256 threads reside per SM (65536 registers); uniform and the raw bits need 40 or
#: fewer anyway. Normal and the truncated normal are left uncapped (54 and 60 registers, 4
#: blocks per SM): a cap of 40 costs them instructions in rematerialized constants and loads,
#: normal float32 203 -> 223 and trunc central 327 -> 362 SASS per block (48: 211 and 344), and
#: they are issue-bound (sm_90, ptxas 13.0, ``benchmarks/gpu_ptx.py``). Launch bounds asking for
#: 6 blocks made ptxas go down to 32 registers: uniform float32 84 SASS per block instead of 69.
FAST_MAX_REGISTERS = {c: s.gpu_max_registers for c, s in SAMPLERS.items() if s.gpu_max_registers is not None}


def _block_fn(dist, kind):
    """The jitted ``(b, k0, k1, s0, s1, prm) -> (v0, v1, v2, v3)``: the four stored
    values of Philox block ``b`` (``b`` < 2**62). bfloat16: the float32 values packed
    pairwise by ``runtime.bf16_pair`` (one ``cvt.rn.bf16x2.f32``; the same bits as
    ``pair_sampler``'s integer rounding, which the simulator runs)."""
    key = ("block", dist, kind)
    fn = _KERNELS.get(key)
    if fn is not None:
        return fn
    if kind == KIND_BF16 and dist != BITS:
        pair32 = pair_sampler(dist, KIND_F32)
        pack = rt.bf16_pair

        @njit(inline="always")
        def block(b, k0, k1, s0, s1, prm):
            x0, x1, x2, x3 = philox4x32_10(b & _MASK, b >> _S32, s0, s1, k0, k1)
            a0, a1 = pair32(np.uint32(x0), np.uint32(x1), prm)
            a2, a3 = pair32(np.uint32(x2), np.uint32(x3), prm)
            v0, v1 = pack(a0, a1)
            v2, v3 = pack(a2, a3)
            return v0, v1, v2, v3
    else:
        pair = pair_sampler(dist, kind)

        @njit(inline="always")
        def block(b, k0, k1, s0, s1, prm):
            x0, x1, x2, x3 = philox4x32_10(b & _MASK, b >> _S32, s0, s1, k0, k1)
            v0, v1 = pair(np.uint32(x0), np.uint32(x1), prm)
            v2, v3 = pair(np.uint32(x2), np.uint32(x3), prm)
            return v0, v1, v2, v3
    _KERNELS[key] = block
    return block


def _fast_kernel(dist, kind):
    """The unsharded fast path as its own kernel: one row that starts at a block
    boundary, 16-byte aligned (the host checks). Block ``base + j`` is elements
    4j .. 4j+3, every full block one vector store with no index or bounds arithmetic.

    Its own kernel so that its registers are its own: sharing a kernel with the
    general path below it took 48 registers for uniform float32 and 62 for normal,
    which caps residency; alone, ``benchmarks/gpu_ptx.py`` counts the registers
    and the SASS per block (sm_90, ptxas of CUDA 13.0: BENCHMARKS.md "GPU")."""
    key = ("fast", dist, kind)
    kernel = _KERNELS.get(key)
    if kernel is not None:
        return kernel
    block = _block_fn(dist, kind)
    store4 = rt.store4
    if kind == KIND_BF16 and dist != BITS:
        # bfloat16: the pairs stay packed as cvt.rn.bf16x2.f32 makes them and go out as one
        # st.global.v2.u32: unpacking to 16-bit values for a v4.u16 store cost 4 SASS
        # instructions per block (2 SHF + 2 PRMT; sm_90, ptxas 13.0)
        pair32 = pair_sampler(dist, KIND_F32)
        pack, store2 = rt.bf16_packed, rt.store2x32

        @njit(inline="always")
        def packed(b, k0, k1, s0, s1, prm):
            x0, x1, x2, x3 = philox4x32_10(b & _MASK, b >> _S32, s0, s1, k0, k1)
            a0, a1 = pair32(np.uint32(x0), np.uint32(x1), prm)
            a2, a3 = pair32(np.uint32(x2), np.uint32(x3), prm)
            return pack(a0, a1), pack(a2, a3)

        def store_block(out, i, b, k0, k1, s0, s1, prm):
            w0, w1 = packed(b, k0, k1, s0, s1, prm)
            store2(out, i, w0, w1)
    else:
        def store_block(out, i, b, k0, k1, s0, s1, prm):
            v0, v1, v2, v3 = block(b, k0, k1, s0, s1, prm)
            store4(out, i, v0, v1, v2, v3)
    if not rt.SIM:  # the simulator's kernels are Python: its arrays cannot enter an @njit function
        store_block = njit(inline="always")(store_block)

    def fill_fast(out, cols, base, k0, k1, s0, s1, prm):
        t = I64(cuda.grid(1))
        step = I64(cuda.gridsize(1))
        full = cols >> 2
        while t < full:
            store_block(out, I64(4) * t, (base + U64(t)) & _BLOCKS, k0, k1, s0, s1, prm)
            t += step
        if t == full and cols & 3:  # the partial last block: one thread
            v0, v1, v2, v3 = block((base + U64(full)) & _BLOCKS, k0, k1, s0, s1, prm)
            i = I64(4) * full
            out[i] = v0
            if i + 1 < cols:
                out[i + 1] = v1
            if i + 2 < cols:
                out[i + 2] = v2

    kernel = _KERNELS[key] = rt.jit(fill_fast, max_registers=FAST_MAX_REGISTERS.get(dist))
    return kernel


def fast_kernel_signature(dist, kind, storage, prm_type):
    """``(kernel, argtypes)`` of the fast path for Numba types (``benchmarks/gpu_ptx.py``)."""
    from numba import types
    return _fast_kernel(dist, kind), (storage[::1], types.int64, types.uint64) + (types.uint64,) * 4 + (prm_type,)


def _fill_kernel(dist, kind):
    """The general path: any rows, any row starts (shards), any alignment."""
    key = ("fill", dist, kind)
    kernel = _KERNELS.get(key)
    if kernel is not None:
        return kernel
    block = _block_fn(dist, kind)
    store4, aligned = rt.store4, rt.aligned

    def fill_blocks(out, starts, cols, nb, items, k0, k1, s0, s1, prm):
        t = I64(cuda.grid(1))
        step = I64(cuda.gridsize(1))
        s = starts[0]
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
    flat = out2d.reshape(rows * cols)
    s = int(starts[0])
    if rows == 1 and s & 3 == 0 and rt.device_address(flat) % rt.vector_alignment(flat.dtype) == 0:
        # one unsharded tensor (or a shard starting at a block boundary): the fast path
        rt.launch(_fast_kernel(dist, kind), (cols + 3) // 4, flat, cols, U64(s >> 2),
                  k0, k1, s0, s1, prm)
        return
    nb = (cols + 3) // 4 + 1  # blocks a row of cols elements can touch
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
    16-bit values rounded by ``storage.codec``, like every kernel's."""
    flat, s = out.reshape(out.size), src.reshape(src.size)
    rt.launch(_cast_kernel(kind), flat.size, flat, s, flat.size)


__all__ = ["fill", "set_all", "put", "store_values"]
