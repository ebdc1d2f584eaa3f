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

The activation's math is a compile-time literal ``code`` resolved through
``_MATH`` (filled by ``fastinit.activations``; this module knows no
activation): one specialization per (activation, array types, kind), cached
on disk. ``kind`` says how 16-bit arrays are read and written (IEEE half or
bfloat16: computed in float32, rounded to nearest-even once). The four
mode loops live in one kernel so one compile serves every API call.

Threads: like ``cpu/fill.py`` (serial ``nogil`` cached kernel, Python thread
pool, tiles of ``TASK`` elements); the value of an element never depends on
the tiling.
"""
from __future__ import annotations

import sys

import numba
import numpy as np
from numba import literally, njit, types
from numba.extending import overload

from .. import _fmath as _fmath_mod
from .._fmath import bf16_bits_to_f32, f16_bits_to_f32, f32_to_bf16_bits_any, f32_to_f16_bits
from .fill import KIND_BF16, KIND_F16, KIND_F32, KIND_F64, _stamp_dependencies, run_tiles, specialize

FORWARD, BACKWARD, FUSED, FUSED_D = 0, 1, 2, 3

#: code -> jitted ``f(x, p) -> (f(x), f'(x))`` (inline), registered by fastinit.activations
_MATH = {}


def register(code, fn):
    """Make ``fn`` (an ``@njit(inline="always")`` function ``(x, p) -> (y, dy)``
    with ``p`` a 4-tuple of x's float type) the math of literal ``code``."""
    if code in _MATH and _MATH[code] is not fn:
        raise ValueError(f"activation code {code} already registered")
    _MATH[code] = fn


def _act(x, p, code):
    raise NotImplementedError("only callable from jitted code")


@overload(_act, inline="always", prefer_literal=True)
def _act_impl(x, p, code):
    if not isinstance(code, types.IntegerLiteral):
        raise TypeError("code must be a compile-time literal")
    fn = _MATH[code.literal_value]
    return lambda x, p, code: fn(x, p)


def _load(v, kind):
    raise NotImplementedError("only callable from jitted code")


@overload(_load, inline="always", prefer_literal=True)
def _load_impl(v, kind):
    k = kind.literal_value
    if k == KIND_F16:
        return lambda v, kind: f16_bits_to_f32(v)
    if k == KIND_BF16:
        return lambda v, kind: bf16_bits_to_f32(v)
    return lambda v, kind: v


def _store(v, kind):
    raise NotImplementedError("only callable from jitted code")


@overload(_store, inline="always", prefer_literal=True)
def _store_impl(v, kind):
    k = kind.literal_value
    if k == KIND_F16:
        return lambda v, kind: f32_to_f16_bits(v)
    if k == KIND_BF16:
        return lambda v, kind: f32_to_bf16_bits_any(v)
    return lambda v, kind: v


def _params(kind, prm):
    raise NotImplementedError("only callable from jitted code")


@overload(_params, inline="always", prefer_literal=True)
def _params_impl(kind, prm):
    if kind.literal_value == KIND_F64:
        return lambda kind, prm: (prm[0], prm[1], prm[2], prm[3])
    f = np.float32
    return lambda kind, prm: (f(prm[0]), f(prm[1]), f(prm[2]), f(prm[3]))


@njit(cache=True, nogil=True, error_model="numpy")
def act_1d(x, g, y, gi, i0, i1, prm, mode, code, kind):
    """One activation over ``[i0, i1)`` of 1-D arrays; see the module table.
    Arrays a mode does not use may be any array of the right type (``x``)."""
    literally(code)
    literally(kind)
    p = _params(kind, prm)
    xs = x[i0:i1]  # views from 0: no wraparound checks in the loops
    n = xs.size
    if mode == FORWARD:
        ys = y[i0:i1]
        for i in range(n):
            f, d = _act(_load(xs[i], kind), p, code)
            ys[i] = _store(f, kind)
    elif mode == BACKWARD:
        gs = g[i0:i1]
        gis = gi[i0:i1]
        for i in range(n):
            f, d = _act(_load(xs[i], kind), p, code)
            gis[i] = _store(_load(gs[i], kind) * d, kind)
    elif mode == FUSED:
        gs = g[i0:i1]
        ys = y[i0:i1]
        gis = gi[i0:i1]
        for i in range(n):
            f, d = _act(_load(xs[i], kind), p, code)
            ys[i] = _store(f, kind)
            gis[i] = _store(_load(gs[i], kind) * d, kind)
    else:
        ys = y[i0:i1]
        gis = gi[i0:i1]
        for i in range(n):
            f, d = _act(_load(xs[i], kind), p, code)
            ys[i] = _store(f, kind)
            gis[i] = _store(d, kind)


@njit(cache=True, nogil=True, error_model="numpy")
def gated_1d(a, b, g, y, ga, gb, i0, i1, prm, mode, code, kind):
    """``y = f(a) * b`` over ``[i0, i1)``; gradients ``ga = g b f'(a)``,
    ``gb = g f(a)`` (``g = 1`` in FUSED_D)."""
    literally(code)
    literally(kind)
    p = _params(kind, prm)
    as_ = a[i0:i1]
    bs = b[i0:i1]
    n = as_.size
    if mode == FORWARD:
        ys = y[i0:i1]
        for i in range(n):
            f, d = _act(_load(as_[i], kind), p, code)
            ys[i] = _store(f * _load(bs[i], kind), kind)
    elif mode == BACKWARD:
        gs = g[i0:i1]
        gas = ga[i0:i1]
        gbs = gb[i0:i1]
        for i in range(n):
            f, d = _act(_load(as_[i], kind), p, code)
            gv = _load(gs[i], kind)
            gas[i] = _store(gv * _load(bs[i], kind) * d, kind)
            gbs[i] = _store(gv * f, kind)
    elif mode == FUSED:
        gs = g[i0:i1]
        ys = y[i0:i1]
        gas = ga[i0:i1]
        gbs = gb[i0:i1]
        for i in range(n):
            f, d = _act(_load(as_[i], kind), p, code)
            bv = _load(bs[i], kind)
            gv = _load(gs[i], kind)
            ys[i] = _store(f * bv, kind)
            gas[i] = _store(gv * bv * d, kind)
            gbs[i] = _store(gv * f, kind)
    else:
        ys = y[i0:i1]
        gas = ga[i0:i1]
        gbs = gb[i0:i1]
        for i in range(n):
            f, d = _act(_load(as_[i], kind), p, code)
            bv = _load(bs[i], kind)
            ys[i] = _store(f * bv, kind)
            gas[i] = _store(bv * d, kind)
            gbs[i] = _store(f, kind)


_CACHE_STAMPS = {}


def stamp(modules):
    """Fold the registry's source (and the float math) into both kernels'
    cache stamps; called once by ``fastinit.activations`` after registering."""
    mods = [sys.modules[__name__], _fmath_mod] + list(modules)
    for k in (act_1d, gated_1d):
        if k not in _CACHE_STAMPS:
            _CACHE_STAMPS[k] = _stamp_dependencies(k, mods)


_SCALARS = (types.int64, types.int64, types.UniTuple(types.float64, 4), types.int64)


def run(arrays, prm, mode, code, kind, gated=False):
    """Run one kernel over 1-D contiguous ``arrays`` (x, g, y, gi) or
    (a, b, g, y, ga, gb) of equal size, on the thread pool."""
    n = arrays[0].size
    if n == 0:
        return
    prm = tuple(float(v) for v in prm) + (0.0,) * (4 - len(prm))
    kernel_fn = gated_1d if gated else act_1d
    sig = tuple(numba.typeof(a) for a in arrays) + _SCALARS + (types.literal(code), types.literal(kind))
    kernel = specialize(kernel_fn, sig)

    def task(r0, r1, c0, c1):
        kernel(*arrays, c0, c1, prm, mode, code, kind)

    run_tiles(task, 1, n)


__all__ = ["FORWARD", "BACKWARD", "FUSED", "FUSED_D", "register", "run", "stamp", "act_1d", "gated_1d",
           "KIND_F32", "KIND_F64", "KIND_F16", "KIND_BF16"]
