"""The CPU fill kernel.

One kernel, ``fill_rows``, fills any region of a logical tensor: the output is seen
as ``rows x cols`` (C-contiguous) and row ``r`` holds the logical elements
``starts[r] .. starts[r] + cols - 1``. An unsharded tensor is one row; a shard of
an N-D tensor is one row per run along its last axis. Inside a row, the head and
tail (logical index not a multiple of 4) go element by element; the body goes
block by block in vectorized loops (AVX2 here: ``vpmuludq`` on ymm): one fused
loop for cheap samplers (uniform, raw bits), two passes over an L1 tile for the
costly ones, a third (rounding) for 16-bit truncated normals (see ``_run`` and
``_body``). 16-bit values go out two per 32-bit word (``_store_block``).
``tests/test_vectorized.py`` checks the generated code.

``fill_rows`` is serial, ``nogil=True`` and ``cache=True``: ``fill`` runs tiles
of it on the thread pool of ``runtime`` (which says why threads and not
``parallel=True``), whose ``_stamp_dependencies`` makes its disk cache notice
edits of anything it inlines.
"""
from __future__ import annotations

import sys

import numpy as np
from numba import literally, njit, types
from llvmlite import ir
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, populate_array

from .._stream import BLOCK_MOD, MASK32, SHIFT32, THREE, TWO, philox4x32_10
from ..distributions import BITS, SAMPLERS, pair_sampler
from ..storage import KIND_BF16, KIND_F16, KIND_F32, KIND_F64, KIND_U32, store_fn
from .llvm_inline import OPTIONS as _LLVM_INLINE, twin
from .ntstore import line_head, store_fence, stream_copy
from .runtime import _stamp_dependencies, kernel_for, run_tiles, streams

U64 = np.uint64
_MASK, _S32, _TWO, _THREE, _BLOCKS = MASK32, SHIFT32, TWO, THREE, BLOCK_MOD
_CARRY = U64(1 << 32)
#: Philox, inlined by LLVM (``llvm_inline``)
_philox = twin(philox4x32_10)


def _literal(*codes):
    """The values of compile-time integer literals (``dist``, ``kind``, ...), or a
    TypeError: every overload below resolves its code at typing time."""
    if not all(isinstance(c, types.IntegerLiteral) for c in codes):
        raise TypeError("dist and kind must be compile-time literals")
    return tuple(c.literal_value for c in codes)


def _pair(xa, xb, prm, dist, kind):
    """Stored values of the word pair (2i, 2i+1): sampler ``dist``, output ``kind``."""
    raise NotImplementedError("only callable from jitted code")


@overload(_pair, prefer_literal=True, jit_options=_LLVM_INLINE)
def _pair_impl(xa, xb, prm, dist, kind):
    # Resolved at typing time from the literal codes, so only the one sampler
    # needed is compiled (inlining every branch and pruning later made the IR so
    # large that one kernel took minutes to compile). The sampler is a twin
    # (llvm_inline): typed once, inlined by LLVM at each of the five call sites.
    f = twin(pair_sampler(*_literal(dist, kind)))
    return lambda xa, xb, prm, dist, kind: f(xa, xb, prm)


@njit(inline="always")
def _one(n, k0, k1, s0, s1, prm, dist, kind):
    """Value of the single logical element n (head/tail of a run)."""
    b = (n >> _TWO) & _BLOCKS
    x0, x1, x2, x3 = _philox(b & _MASK, b >> _S32, s0, s1, k0, k1)
    w = n & _THREE
    lo = w < _TWO
    va, vb = _pair(np.uint32(x0 if lo else x2), np.uint32(x1 if lo else x3), prm, dist, kind)
    return va if (w & U64(1)) == U64(0) else vb


#: blocks per tile: 256 blocks = 1024 words = 4 KiB of uint32 (4 planes), stays in L1
TILE = 256


def _body_fused(body, b0, buf, vals, k0, k1, s0, s1, prm, dist, kind):
    # cheap samplers (uniform, raw bits): one loop, values stored as the words
    # come out; the extra pass through buf cost uniform 1.96 -> 1.46 G
    # elements/s (2 threads, float32)
    nb = body.size // 4
    j0 = 0
    while j0 < nb:  # runs of blocks with one high counter word: see _philox_tile
        lo, hi, n = _run_of_blocks(b0 + U64(j0), nb - j0)
        # a view from 0: no wraparound checks in the loop
        o = _block_view(body[4 * j0:4 * (j0 + n)], kind)
        for j in range(n):
            x0, x1, x2, x3 = _philox(lo + U64(j), hi, s0, s1, k0, k1)
            v0, v1 = _pair(np.uint32(x0), np.uint32(x1), prm, dist, kind)
            v2, v3 = _pair(np.uint32(x2), np.uint32(x3), prm, dist, kind)
            _store_block(o, j, v0, v1, v2, v3, kind)
        j0 += n


@njit(inline="always")
def _run_of_blocks(b, nmax):
    """``(lo, hi, n)``: block ``b`` (mod 2**62) is counter words ``(lo, hi)``,
    and the next ``n <= nmax`` blocks are ``(lo + j, hi)`` (no carry into hi)."""
    b = b & _BLOCKS
    lo = b & _MASK
    return lo, b >> _S32, min(nmax, np.int64(_CARRY - lo))


@njit(inline="always")
def _philox_tile(buf, bt, tn, k0, k1, s0, s1):
    """Words of blocks bt .. bt+tn-1 into the planes ``buf[w, j]``.

    In runs of blocks that share the counter's high word (one run, unless the
    tile crosses a multiple of 2**32 blocks): the loop then sees ``hi`` as an
    invariant, and LLVM folds the first round's product of the constant ``c2``
    (the stream word) and the second round's of the then-constant ``c0``.
    """
    j0 = 0
    while j0 < tn:
        lo, hi, n = _run_of_blocks(bt + U64(j0), tn - j0)
        # views from 0: no wraparound checks in the loop (they kept it scalar)
        w0, w1, w2, w3 = buf[0, j0:j0 + n], buf[1, j0:j0 + n], buf[2, j0:j0 + n], buf[3, j0:j0 + n]
        for j in range(n):
            x0, x1, x2, x3 = _philox(lo + U64(j), hi, s0, s1, k0, k1)
            w0[j] = np.uint32(x0)
            w1[j] = np.uint32(x1)
            w2[j] = np.uint32(x2)
            w3[j] = np.uint32(x3)
        j0 += n


@njit(inline="always")
def _pairs_into(dst, buf, tn, prm, dist, kind):
    """Stored values of the tile's blocks 0 .. tn-1, in element order, into
    ``dst[:4 tn]``: both word pairs of a block per iteration (two chains)."""
    w0, w1, w2, w3 = buf[0], buf[1], buf[2], buf[3]
    d = _block_view(dst, kind)
    for j in range(tn):
        v0, v1 = _pair(w0[j], w1[j], prm, dist, kind)
        v2, v3 = _pair(w2[j], w3[j], prm, dist, kind)
        _store_block(d, j, v0, v1, v2, v3, kind)


def _block_view(o, kind):
    """What ``_store_block`` writes a block's four values into: ``o`` itself,
    or for 16-bit kinds ``o`` seen as uint32 words (two values each)."""
    raise NotImplementedError("only callable from jitted code")


def _store_block(d, j, v0, v1, v2, v3, kind):
    """Store the four values of block ``j`` (of a ``_block_view``)."""
    raise NotImplementedError("only callable from jitted code")


def _store_wide(d, j, v0, v1, v2, v3, kind):
    d[4 * j] = v0
    d[4 * j + 1] = v1
    d[4 * j + 2] = v2
    d[4 * j + 3] = v3


def _store_16(d, j, v0, v1, v2, v3, kind):
    d[2 * j] = np.uint32(v0) | (np.uint32(v1) << np.uint32(16))
    d[2 * j + 1] = np.uint32(v2) | (np.uint32(v3) << np.uint32(16))


#: word-pair stores put element 2i in the low half of word i: little-endian hosts only
#: (every Numba CPU target today); elsewhere 16-bit values go out one by one
_WORD_PAIRS = sys.byteorder == "little"


def _is_16(kind):
    """Whether output ``kind`` (a literal) is stored as 16-bit word pairs."""
    return _WORD_PAIRS and _literal(kind)[0] in (KIND_F16, KIND_BF16)


@overload(_block_view, prefer_literal=True, jit_options=_LLVM_INLINE)
def _block_view_impl(o, kind):
    # 16-bit values go out in pairs, as 32-bit words: LLVM then merges a pair
    # with one vpblendw and interleaves the two pairs of a block with 32-bit
    # unpacks, where 16-bit stores took packs, permutes and byte shuffles
    # (bfloat16 normal loop: 172 -> 160 instructions per 8 blocks).
    if _is_16(kind):
        return lambda o, kind: _as_u32_pairs(o)
    return lambda o, kind: o


@overload(_store_block, prefer_literal=True, jit_options=_LLVM_INLINE)
def _store_block_impl(d, j, v0, v1, v2, v3, kind):
    return _store_16 if _is_16(kind) else _store_wide


@intrinsic
def _as_u32_pairs(typingctx, arr):
    """The C-contiguous uint16 vector ``arr`` (a multiple of 2 long) seen as
    uint32 words, element 2i in the low half of word i (little-endian only),
    at any alignment (a shard's view may start at any element)."""
    retty = types.Array(types.uint32, 1, "C", aligned=False)

    def codegen(context, builder, signature, args):
        src = make_array(signature.args[0])(context, builder, args[0])
        dst = make_array(retty)(context, builder)
        i64 = ir.IntType(64)
        n = builder.lshr(cgutils.unpack_tuple(builder, src.shape, 1)[0], ir.Constant(i64, 1))
        data = builder.bitcast(src.data, ir.IntType(32).as_pointer())
        populate_array(dst, data=data, shape=[n], strides=[ir.Constant(i64, 4)],
                       itemsize=ir.Constant(i64, 4), meminfo=src.meminfo, parent=src.parent)
        return impl_ret_borrowed(context, builder, retty, dst._getvalue())

    return retty(arr), codegen


def _body_tiled(body, b0, buf, vals, k0, k1, s0, s1, prm, dist, kind):
    nb = body.size // 4
    for t0 in range(0, nb, TILE):
        tn = min(TILE, nb - t0)
        _philox_tile(buf, b0 + U64(t0), tn, k0, k1, s0, s1)
        # a view from 0: no wraparound checks in the loop
        _pairs_into(body[4 * t0:4 * (t0 + tn)], buf, tn, prm, dist, kind)


def _body_staged(body, b0, buf, vals, k0, k1, s0, s1, prm, dist, kind):
    # 16-bit outputs of the single-word samplers: the float32 sampler loop
    # itself into the float32 tile ``vals``, then one rounding pass
    nb = body.size // 4
    for t0 in range(0, nb, TILE):
        tn = min(TILE, nb - t0)
        _philox_tile(buf, b0 + U64(t0), tn, k0, k1, s0, s1)
        _pairs_into(vals, buf, tn, prm, dist, KIND_F32)
        _round_tile(body[4 * t0:4 * (t0 + tn)], vals, 4 * tn, kind)


@njit(inline="always")
def _round_tile(o, vals, n, kind):
    """``o[:n]`` = ``vals[:n]`` (float32) stored as 16-bit ``kind``.

    LLVM vectorizes both: 32 values a loop, float16 as four ``vcvtps2ph ymm``
    to memory, bfloat16 as integer rounding. On one L1-resident tile that is
    0.25 (float16: one ``vcvtps2ph`` per 2 cycles on Zen 3) and 0.27 (bfloat16)
    cycles per value, a float32 copy 0.13 (``tile_rates.py --rounding``,
    2026-11-23): ~3% of the truncated normal's ~9 cycles per value, which is
    what 16-bit truncated normals trail float32 by. Not cheaper, measured the
    same day: float16 by integer selects (F. Giesen's rounding, equal bits on
    every finite float32; trunc_central tile 0.349 -> 0.320 G el/s), or the
    rounding folded into the next tile's Philox loop (0.97 of float32 both)."""
    for i in range(n):
        o[i] = _rounded(vals[i], kind)


def _rounded(v, kind):
    """The float32 ``v`` stored as output ``kind`` (``storage.store_fn``)."""
    raise NotImplementedError("only callable from jitted code")


@overload(_rounded, prefer_literal=True, jit_options=_LLVM_INLINE)
def _rounded_impl(v, kind):
    f = twin(store_fn(_literal(kind)[0]))
    return lambda v, kind: f(v)


def _body(body, b0, buf, vals, k0, k1, s0, s1, prm, dist, kind):
    """Fill ``body`` (a multiple of 4 elements) with the blocks b0, b0+1, ..."""
    raise NotImplementedError("only callable from jitted code")


@overload(_body, prefer_literal=True, jit_options=_LLVM_INLINE)
def _body_impl(body, b0, buf, vals, k0, k1, s0, s1, prm, dist, kind):
    # One strategy per (dist, kind), chosen at typing time: LLVM never sees the
    # other (behind constant branches it costs no measurable compile time, but
    # each kernel's code is then only what it runs).
    d, k = _literal(dist, kind)
    loop = SAMPLERS[d].loop  # the sampler's strategy ("fused", "tiled", "staged16")
    if k == KIND_U32 or loop == "fused":
        return _body_fused
    # 16-bit outputs of the normal round in the sampler loop. Staging float32
    # values through a tile and rounding them in a second loop paid for float16
    # while the Box-Muller chain was long (0.52 -> 0.55 G elements/s); with the
    # FMA log and sincos it costs (normal tile, one thread, five A/B rounds,
    # Zen 3, 2026-11-23: float16 direct 0.727, staged 0.703; bfloat16 direct
    # 0.718, staged 0.690; float32 0.72-0.75). The truncated normal's loop,
    # four long Giles chains at once, spills: its 16-bit rounding in the loop
    # cost 6-9% against float32, staged 1-3% (trunc_central tile, [-2, 2],
    # one thread, 2026-11-23: float32 0.353, bfloat16 direct 0.317, staged
    # 0.344, float16 direct 0.318, staged 0.347 with its rounding loop still
    # scalar; 1 GiB, 2 threads, benchmarks/dtype_parity.py, two runs each:
    # bfloat16/float32 direct 0.937, 0.943, staged 0.986, 0.990).
    if k in (KIND_F16, KIND_BF16) and loop == "staged16":
        return _body_staged
    return _body_tiled


@njit(inline="always")
def _run(o, n0, buf, vals, sbuf, k0, k1, s0, s1, prm, stream, dist, kind):
    """Fill contiguous ``o`` with logical elements n0, n0+1, ... (mod 2**64).

    Head and tail (n not a multiple of 4) go element by element; the body
    (``_body``) by blocks, in vectorized loops. Cheap samplers (uniform, raw
    bits) in one fused loop. The others tile by tile in two: Philox blocks
    into the uint32 ``buf`` (64-bit lanes: 4 per ymm, one ``vpmuludq`` per
    multiply), then words -> values in 32-bit lanes (8 per ymm), the two word
    pairs of 8 blocks at a time (Box-Muller needs pairs). One fused loop
    would run the float math at the Philox loop's 4 lanes.

    ``buf`` is planar, ``buf[w, j]`` = word w of the tile's block j: the Philox
    loop then narrows each lane vector with one shuffle and a 16-byte store,
    where the interleaved layout took a 4 x 4 transpose (tile Philox 1.09 ->
    1.41 G words/s per thread), and the sampler loop reads whole vectors of
    each word with no de-interleaving shuffles; its two independent Box-Muller
    chains per iteration also fill the out-of-order window better. Normal
    float32 tile: 0.45 -> 0.50 G elements/s per thread (Zen 3, 2026-11-23).

    ``stream`` (big outputs, see ``STREAM_BYTES``): the body goes in chunks of
    ``TILE`` blocks through the L1 tile ``sbuf`` and out with streaming stores
    (``ntstore.stream_copy``), chunk boundaries on the output's cache lines.
    One code path for both: ``_body`` is inlined once (twice would double the
    compile time), its target is either ``sbuf`` or the whole body.
    """
    m = o.size
    h = min(m, (4 - np.int64(n0 & _THREE)) & 3)  # head: up to the first block boundary
    nb = (m - h) // 4
    body = o[h:h + 4 * nb]
    b0 = (n0 + U64(h)) >> _TWO
    step = nb
    t1 = nb
    if stream:
        step = TILE
        # the first chunk ends on a cache line, so every streamed chunk but the
        # first and last is whole lines (a line shared by two chunks would be
        # written twice with regular stores: a read for ownership each)
        lh = line_head(body, 0)
        first = (lh // 4) % TILE if lh >= 0 and lh % 4 == 0 else 0
        t1 = min(nb, first if first > 0 else TILE)
    t0 = 0
    while t0 < nb:
        tn = t1 - t0
        dst = sbuf[:4 * tn] if stream else body[4 * t0:4 * t1]
        _body(dst, b0 + U64(t0), buf, vals, k0, k1, s0, s1, prm, dist, kind)
        if stream:
            stream_copy(body, 4 * t0, sbuf, 4 * tn)
        t0 = t1
        t1 = min(nb, t1 + step)
    # head and tail element by element, in one loop: one inlined copy of the
    # scalar sampler, not two (normal float32 kernel: 12.1 -> 9.0 s to compile)
    t = h + 4 * nb
    for e in range(h + m - t):
        i = e if e < h else t + e - h
        o[i] = _one(n0 + U64(i), k0, k1, s0, s1, prm, dist, kind)


@njit(cache=True, nogil=True, error_model="numpy")
def fill_rows(out, starts, r0, r1, c0, c1, k0, k1, s0, s1, prm, stream, dist, kind):
    """Fill ``out[r0:r1, c0:c1]``; element (r, c) is logical ``starts[r] + c``.

    ``dist`` and ``kind`` are compile-time literals: one specialization per
    (distribution, output kind), each cached on disk. ``stream`` (run time):
    nonzero writes whole cache lines with streaming stores and ends with a
    store fence (``_run``); the values are the same either way.
    """
    literally(dist)
    literally(kind)
    buf = np.empty((4, TILE), np.uint32)
    vals = np.empty(4 * TILE, np.float32)  # _body_staged's tile (4 KiB; ~0.1 us when unused)
    sbuf = np.empty(4 * TILE, out.dtype)  # the streamed chunk (4 KiB float32)
    for r in range(r0, r1):
        _run(out[r, c0:c1], U64(starts[r]) + U64(c0), buf, vals, sbuf, k0, k1, s0, s1, prm, stream,
             dist, kind)
    if stream:
        store_fence()


_CACHE_STAMP = _stamp_dependencies(fill_rows)


_FILL_SCALARS = (types.int64,) * 4 + (types.uint64,) * 4 + (types.UniTuple(types.float64, 8), types.int64)


def fill(out2d, starts, words, prm, dist, kind):
    """Fill the C-contiguous 2-D array ``out2d`` (see ``fill_rows``)."""
    rows, cols = out2d.shape
    if rows * cols == 0:
        return
    prm = tuple(float(p) for p in prm) + (0.0,) * (8 - len(prm))
    k0, k1, s0, s1 = words
    kernel = kernel_for(fill_rows, (out2d, starts), _FILL_SCALARS, (dist, kind))
    stream = streams(out2d.nbytes)

    def task(r0, r1, c0, c1):
        kernel(out2d, starts, r0, r1, c0, c1, k0, k1, s0, s1, prm, stream, dist, kind)

    run_tiles(task, rows, cols)


__all__ = ["fill", "fill_rows", "BITS",
           "KIND_F32", "KIND_F64", "KIND_F16", "KIND_BF16", "KIND_U32"]
