"""The CPU elementwise kernels (activations) and their thread driver.

Two kernels: ``act_1d`` (one input ``x``) and ``gated_1d`` (``y = f(a) * b``).
Each runs one of four modes over a contiguous index range:

=========  ==========================================  ===================
mode       writes                                      reads
=========  ==========================================  ===================
FORWARD    ``y = f(x)``                                x
BACKWARD   ``gi = g * f'(x)``                          x, g
FUSED      ``y = f(x)`` and ``gi = g * f'(x)``         x, g
FUSED_D    ``y = f(x)`` and ``gi = f'(x)``             x
=========  ==========================================  ===================

The modes and the activation's math come from ``fastinit._act_registry``:
a compile-time literal ``code`` resolved through its ``MATH`` table (this
module knows no activation): one specialization per (activation, array
types, kind), cached on disk. ``kind`` says how 16-bit arrays are read and
written (IEEE half or bfloat16: computed in float32, rounded to nearest-even
once). The four mode loops live in one kernel so one compile serves every
API call.

Threads: like ``cpu/fill.py`` (serial ``nogil`` cached kernel, ``runtime``'s Python
thread pool, tiles of ``TASK`` elements); the value of an element never depends on
the tiling.
"""
from __future__ import annotations

import numpy as np
from numba import literally, njit, types
from numba.extending import overload

from .._act_registry import BACKWARD, FORWARD, FUSED, MATH, N_OUT
from ..storage import KIND_BF16, KIND_F16, KIND_F32, KIND_F64, codec
from .llvm_inline import OPTIONS as _LLVM_INLINE, twin
from .ntstore import line_head, store_fence, stream_copy
from .runtime import _stamp_dependencies, kernel_for, run_tiles, streams


def _tile_in(buf, src, t0, m, kind):
    raise NotImplementedError("only callable from jitted code")


@overload(_tile_in, prefer_literal=True, jit_options=_LLVM_INLINE)
def _tile_in_impl(buf, src, t0, m, kind):
    """``buf[:m] = float32(src[t0:t0+m])`` (16-bit bits widened)."""
    if not isinstance(kind, types.IntegerLiteral):
        return None
    ld = codec(kind.literal_value)[0]

    def impl(buf, src, t0, m, kind):
        s = src[t0:]
        for i in range(m):
            buf[i] = ld(s[i])
    return impl


def _tile_out(dst, buf, t0, m, kind):
    raise NotImplementedError("only callable from jitted code")


@overload(_tile_out, prefer_literal=True, jit_options=_LLVM_INLINE)
def _tile_out_impl(dst, buf, t0, m, kind):
    """``dst[t0:t0+m] = round(buf[:m])`` (to 16-bit bits)."""
    if not isinstance(kind, types.IntegerLiteral):
        return None
    st = codec(kind.literal_value)[1]

    def impl(dst, buf, t0, m, kind):
        d = dst[t0:]
        for i in range(m):
            d[i] = st(buf[i])
    return impl


def _params(kind, prm):
    raise NotImplementedError("only callable from jitted code")


@overload(_params, prefer_literal=True, jit_options=_LLVM_INLINE)
def _params_impl(kind, prm):
    if kind.literal_value == KIND_F64:
        return lambda kind, prm: (prm[0], prm[1], prm[2], prm[3])
    f = np.float32
    return lambda kind, prm: (f(prm[0]), f(prm[1]), f(prm[2]), f(prm[3]))


def _wide(kind):
    raise NotImplementedError("only callable from jitted code")


@overload(_wide, prefer_literal=True, jit_options=_LLVM_INLINE)
def _wide_impl(kind):
    w = kind.literal_value in (KIND_F32, KIND_F64)
    return (lambda kind: True) if w else (lambda kind: False)


#: elements per float32 tile of a 16-bit call (4 KiB per buffer, stays in L1)
TILE16 = 1024


def _act_loops(xs, gs, ys, gis, p, mode, code):
    raise NotImplementedError("only callable from jitted code")


@overload(_act_loops, prefer_literal=True, jit_options=_LLVM_INLINE)
def _act_loops_impl(xs, gs, ys, gis, p, mode, code):
    """The four mode loops over same-typed float arrays (no conversions),
    with the math of literal ``code`` resolved here, at typing time."""
    if not isinstance(code, types.IntegerLiteral):
        return None  # not matched: Numba retries with the literal
    if not isinstance(xs.dtype, types.Float) or xs.dtype != p.dtype:
        # a branch of act_1d that Numba types but never runs for these arrays (the
        # 16-bit arrays in the wide branch, float32 tiles with float64 params):
        # an overload's constant does not prune the branch
        return lambda xs, gs, ys, gis, p, mode, code: None
    fn = twin(MATH[code.literal_value])  # inlined by LLVM, typed once (llvm_inline)

    def impl(xs, gs, ys, gis, p, mode, code):
        n = xs.size
        if mode == FORWARD:
            for i in range(n):
                f, d = fn(xs[i], p)
                ys[i] = f
        elif mode == BACKWARD:
            for i in range(n):
                f, d = fn(xs[i], p)
                gis[i] = gs[i] * d
        elif mode == FUSED:
            for i in range(n):
                f, d = fn(xs[i], p)
                ys[i] = f
                gis[i] = gs[i] * d
        else:
            for i in range(n):
                f, d = fn(xs[i], p)
                ys[i] = f
                gis[i] = d
    return impl


@njit(inline="always")
def _first_tile(a):
    """Elements of the first tile over ``a``: up to ``a``'s first cache line
    (then every tile boundary is a line boundary of ``a``), or ``TILE16``."""
    lh = line_head(a, 0)
    return lh if lh > 0 else TILE16


@njit(inline="always")
def _out(o, t, t0, stream):
    """Where a tile's results go: the tile ``t`` (streamed out after), or
    ``o`` itself at ``t0`` (regular stores)."""
    return (t, 0) if stream else (o, t0)


@njit(cache=True, nogil=True, error_model="numpy")
def act_1d(x, g, y, gi, i0, i1, prm, mode, stream, code, kind):
    """One activation over ``[i0, i1)`` of 1-D arrays; see the module table.
    Arrays a mode does not use may be any array of the right type (``x``).

    16-bit data goes through float32 L1 tiles: converted in, the float32
    loops, rounded out. Converting inside one loop made LLVM pick 16 lanes
    (the i16 width) and spill the float math to the stack (28 stack accesses
    in softplus's loop); with the tiles, bfloat16 fused sigmoid 0.55 -> 0.66,
    softplus 0.33 -> 0.35, gelu 0.44 -> 0.45 G elements/s (one core,
    L2-resident, ``benchmarks/act_compute.py``; float32: 0.98, 0.45, 0.62).

    ``stream`` (run time, big outputs): results go through L1 tiles and out
    with streaming stores (``ntstore.stream_copy``), tile boundaries on ``y``'s
    cache lines; the mode loops are inlined once either way (the wide path's
    targets are the tiles or the outputs themselves). Same values."""
    literally(code)
    literally(kind)
    p = _params(kind, prm)
    xs = x[i0:i1]  # views from 0: no wraparound checks in the loops
    gs = g[i0:i1]
    ys = y[i0:i1]
    gis = gi[i0:i1]
    n = xs.size
    oy = np.empty(TILE16, ys.dtype)  # streamed tiles (4 KiB float32)
    og = np.empty(TILE16, gis.dtype)
    if _wide(kind):
        step = TILE16 if stream else n
        t0 = 0
        t1 = min(n, _first_tile(ys)) if stream else n
        while t0 < n:
            m = t1 - t0
            yd = oy[:m] if stream else ys[t0:t1]
            gd = og[:m] if stream else gis[t0:t1]
            _act_loops(xs[t0:t1], gs[t0:t1], yd, gd, p, mode, code)
            if stream:
                if mode != BACKWARD:
                    stream_copy(ys, t0, oy, m)
                if mode != FORWARD:
                    stream_copy(gis, t0, og, m)
            t0 = t1
            t1 = min(n, t1 + step)
        if stream:
            store_fence()
        return
    xb = np.empty(TILE16, np.float32)
    gb = np.empty(TILE16, np.float32)
    yb = np.empty(TILE16, np.float32)
    db = np.empty(TILE16, np.float32)
    t0 = 0
    t1 = min(n, _first_tile(ys)) if stream else min(n, TILE16)
    while t0 < n:
        m = t1 - t0
        _tile_in(xb, xs, t0, m, kind)
        if mode == BACKWARD or mode == FUSED:
            _tile_in(gb, gs, t0, m, kind)
        _act_loops(xb[:m], gb[:m], yb[:m], db[:m], p, mode, code)
        if mode != BACKWARD:
            yo, yt = _out(ys, oy, t0, stream)
            _tile_out(yo, yb, yt, m, kind)
            if stream:
                stream_copy(ys, t0, oy, m)
        if mode != FORWARD:
            go, gt = _out(gis, og, t0, stream)
            _tile_out(go, db, gt, m, kind)
            if stream:
                stream_copy(gis, t0, og, m)
        t0 = t1
        t1 = min(n, t1 + TILE16)
    if stream:
        store_fence()


def _gated_loops(as_, bs, gs, ys, gas, gbs, p, mode, code):
    raise NotImplementedError("only callable from jitted code")


@overload(_gated_loops, prefer_literal=True, jit_options=_LLVM_INLINE)
def _gated_loops_impl(as_, bs, gs, ys, gas, gbs, p, mode, code):
    if not isinstance(code, types.IntegerLiteral):
        return None  # not matched: Numba retries with the literal
    if not isinstance(as_.dtype, types.Float) or as_.dtype != p.dtype:
        return lambda as_, bs, gs, ys, gas, gbs, p, mode, code: None  # see _act_loops_impl
    fn = twin(MATH[code.literal_value])  # inlined by LLVM, typed once (llvm_inline)

    def impl(as_, bs, gs, ys, gas, gbs, p, mode, code):
        n = as_.size
        if mode == FORWARD:
            for i in range(n):
                f, d = fn(as_[i], p)
                ys[i] = f * bs[i]
        elif mode == BACKWARD:
            for i in range(n):
                f, d = fn(as_[i], p)
                gv = gs[i]
                gas[i] = gv * bs[i] * d
                gbs[i] = gv * f
        elif mode == FUSED:
            for i in range(n):
                f, d = fn(as_[i], p)
                bv = bs[i]
                gv = gs[i]
                ys[i] = f * bv
                gas[i] = gv * bv * d
                gbs[i] = gv * f
        else:
            for i in range(n):
                f, d = fn(as_[i], p)
                bv = bs[i]
                ys[i] = f * bv
                gas[i] = bv * d
                gbs[i] = f
    return impl


@njit(cache=True, nogil=True, error_model="numpy")
def gated_1d(a, b, g, y, ga, gb, i0, i1, prm, mode, stream, code, kind):
    """``y = f(a) * b`` over ``[i0, i1)``; gradients ``ga = g b f'(a)``,
    ``gb = g f(a)`` (``g = 1`` in FUSED_D). 16-bit data: float32 tiles, and
    ``stream``: streaming stores through tiles, as in ``act_1d``."""
    literally(code)
    literally(kind)
    p = _params(kind, prm)
    as_ = a[i0:i1]
    bs = b[i0:i1]
    gs = g[i0:i1]
    ys = y[i0:i1]
    gas = ga[i0:i1]
    gbs = gb[i0:i1]
    n = as_.size
    oy = np.empty(TILE16, ys.dtype)
    oa = np.empty(TILE16, gas.dtype)
    ob = np.empty(TILE16, gbs.dtype)
    if _wide(kind):
        step = TILE16 if stream else n
        t0 = 0
        t1 = min(n, _first_tile(ys)) if stream else n
        while t0 < n:
            m = t1 - t0
            yd = oy[:m] if stream else ys[t0:t1]
            ad = oa[:m] if stream else gas[t0:t1]
            bd = ob[:m] if stream else gbs[t0:t1]
            _gated_loops(as_[t0:t1], bs[t0:t1], gs[t0:t1], yd, ad, bd, p, mode, code)
            if stream:
                if mode != BACKWARD:
                    stream_copy(ys, t0, oy, m)
                if mode != FORWARD:
                    stream_copy(gas, t0, oa, m)
                    stream_copy(gbs, t0, ob, m)
            t0 = t1
            t1 = min(n, t1 + step)
        if stream:
            store_fence()
        return
    ab = np.empty(TILE16, np.float32)
    bb = np.empty(TILE16, np.float32)
    gbuf = np.empty(TILE16, np.float32)
    yb = np.empty(TILE16, np.float32)
    gab = np.empty(TILE16, np.float32)
    gbb = np.empty(TILE16, np.float32)
    t0 = 0
    t1 = min(n, _first_tile(ys)) if stream else min(n, TILE16)
    while t0 < n:
        m = t1 - t0
        _tile_in(ab, as_, t0, m, kind)
        _tile_in(bb, bs, t0, m, kind)
        if mode == BACKWARD or mode == FUSED:
            _tile_in(gbuf, gs, t0, m, kind)
        _gated_loops(ab[:m], bb[:m], gbuf[:m], yb[:m], gab[:m], gbb[:m], p, mode, code)
        if mode != BACKWARD:
            yo, yt = _out(ys, oy, t0, stream)
            _tile_out(yo, yb, yt, m, kind)
            if stream:
                stream_copy(ys, t0, oy, m)
        if mode != FORWARD:
            ao, at = _out(gas, oa, t0, stream)
            _tile_out(ao, gab, at, m, kind)
            bo, bt = _out(gbs, ob, t0, stream)
            _tile_out(bo, gbb, bt, m, kind)
            if stream:
                stream_copy(gas, t0, oa, m)
                stream_copy(gbs, t0, ob, m)
        t0 = t1
        t1 = min(n, t1 + TILE16)
    if stream:
        store_fence()


#: both kernels' cache stamps cover the package's source, the math table and the math included
_CACHE_STAMPS = {k: _stamp_dependencies(k) for k in (act_1d, gated_1d)}


_SCALARS = (types.int64, types.int64, types.UniTuple(types.float64, 4), types.int64, types.int64)


def run(arrays, prm, mode, code, kind, gated=False):
    """Run one kernel over 1-D contiguous ``arrays`` (x, g, y, gi) or
    (a, b, g, y, ga, gb) of equal size, on the thread pool."""
    n = arrays[0].size
    if n == 0:
        return
    prm = tuple(float(v) for v in prm) + (0.0,) * (4 - len(prm))
    kernel_fn = gated_1d if gated else act_1d
    kernel = kernel_for(kernel_fn, arrays, _SCALARS, (code, kind))
    stream = streams(n * arrays[0].itemsize * N_OUT[gated][mode])

    def task(r0, r1, c0, c1):
        kernel(*arrays, c0, c1, prm, mode, stream, code, kind)

    run_tiles(task, 1, n)


__all__ = ["run", "act_1d", "gated_1d", "KIND_F32", "KIND_F64", "KIND_F16", "KIND_BF16"]
