"""Words -> values: the samplers every initializer is built on.

Each sampler is a pure function of ONE raw Philox word ``x`` (a ``uint32``,
see ``_stream``), or for the float32 normal of the word PAIR (2i, 2i+1) of its
block, and of a parameter tuple ``prm`` of eight float64 values that the host
side (``init.py``) prepares. So element ``n`` depends on ``(seed, stream, n)``
only.

Table (``SAMPLERS``): adding a distribution means one code, its two samplers
(float32 math and float64 math) and one entry in ``SAMPLERS``; ``init.py``
prepares its ``prm``.

float32 outputs (and float16/bfloat16, which hold the float32 value rounded to
nearest-even) use the float32 math; float64 outputs use the float64 math, which
reads all 32 bits of the word:

============  ====================================================  ===============================
code          float32 value of word x                               float64 value of word x
============  ====================================================  ===============================
UNIFORM       ``lo + (hi-lo) * (x >> 8) * 2**-24``                   ``lo + (hi-lo) * x * 2**-32``
NORMAL        Box-Muller on words (2i, 2i+1) of the block:          ``mean + std * Phi^-1(u)``,
              ``r = sqrt(-2 log u1)``, ``u1 = ((x_2i >> 9) + .5) 2**-23`` ``u = (x + .5) 2**-32``
              ``u2 = (x_2i+1 >> 8) 2**-24``; word 2i: ``mean + std r cos(2 pi u2)``,
              word 2i+1: ``mean + std r sin(2 pi u2)``
TRUNC_NORMAL  ``mean + std * Phi^-1(Phi(a') + u (Phi(b')-Phi(a')))``  same, float64, with
              ``u = ((x >> 9) + .5) * 2**-23``, clamped to [a, b]    ``u = (x + .5) * 2**-32``
============  ====================================================  ===============================

``TRUNC_NORMAL_WIDE`` is the truncated normal computed with float64 math and
rounded to float32: used when the interval's probability is below 1e-28, where
float32 ``p`` would underflow. ``TRUNC_NORMAL_CENTRAL`` is ``TRUNC_NORMAL`` with
the tail polynomial left out, for intervals where the host proved it is never
selected (within about 2.9 std of the mean): the same bits, half the polynomials.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._fmath import (fma, hoisted, ndtri_pq, ndtri_pq64, ndtri_pq_central, neg2_log_odd23, sincos_turns, sqrt_f,
                     top_bits_f32, top_bits_odd_f32)
from .storage import KIND_BF16, KIND_F16, KIND_F32, KIND_F64, KIND_U32, store_fn

F32 = np.float32
F64 = np.float64
U64 = np.uint64

UNIFORM = 0
NORMAL = 1
TRUNC_NORMAL = 2
TRUNC_NORMAL_WIDE = 3
TRUNC_NORMAL_CENTRAL = 4
BITS = 9  # raw words (random_bits): no transform

_2M24 = F32(2.0 ** -24)
_2M32 = 2.0 ** -32


@njit(inline="always")
def _uniform32(x, prm):
    u = top_bits_f32(x, 8) * _2M24
    return F32(prm[0]) + F32(prm[1]) * u


@njit(inline="always")
def _uniform64(x, prm):
    return prm[0] + prm[1] * (F64(x) * _2M32)


@njit(inline="always")
def _normal32_pair(xa, xb, prm):
    """Box-Muller on the word pair (2i, 2i+1) of a block: word 2i gets the cosine,
    word 2i+1 the sine. ``u1 = ((xa >> 9) + 1/2) 2**-23`` (exact in float32,
    never 0 or 1, so |z| <= 5.77), ``u2 = (xb >> 8) 2**-24``; r = sqrt(-2 log u1),
    theta = 2 pi u2; stored ``fma(std, r cos, mean)``. About five times fewer
    instructions per value than the inverse CDF; the FMA-based log and sincos
    (``_fmath.neg2_log_odd23``) made the tile 1.3 times faster again."""
    r = sqrt_f(neg2_log_odd23(xa))
    s, c = sincos_turns(xb)
    m, sd = F32(prm[0]), F32(prm[1])
    return fma(sd, r * c, m), fma(sd, r * s, m)


@njit(inline="always")
def _normal64(x, prm):
    p = (F64(x) + 0.5) * _2M32
    q = (4294967296.0 - 0.5 - F64(x)) * _2M32
    return prm[0] + prm[1] * ndtri_pq64(p, q)


@njit(inline="always")
def _trunc32_xt(x, prm):
    """``(p - q, 4 p q)`` of the truncated normal's float32 ``p`` for word ``x``.
    prm = (Phi(alpha), 1 - Phi(alpha), Phi(beta) - Phi(alpha), mean, std, a, b, _)."""
    u = top_bits_odd_f32(x, 8) * hoisted(_2M24)  # ((x >> 9) + .5) / 2**23, exact
    d = F32(prm[2])
    p = F32(prm[0]) + u * d
    q = F32(prm[1]) - u * d
    return p - q, F32(4.0) * p * q


@njit(inline="always")
def _trunc32_value(z, prm):
    v = F32(prm[3]) + F32(prm[4]) * z
    return min(max(v, F32(prm[5])), F32(prm[6]))


@njit(inline="always")
def _trunc32(x, prm):
    xq, t = _trunc32_xt(x, prm)
    return _trunc32_value(ndtri_pq(xq, t), prm)


@njit(inline="always")
def _trunc_central32(x, prm):
    # _trunc32 where the host proved every drawn p central (see ndtri_pq_central)
    xq, t = _trunc32_xt(x, prm)
    return _trunc32_value(ndtri_pq_central(xq, t), prm)


@njit(inline="always")
def _trunc64_of_u(u, prm):
    p = prm[0] + u * prm[2]
    q = prm[1] - u * prm[2]
    v = prm[3] + prm[4] * ndtri_pq64(p, q)
    return min(max(v, prm[5]), prm[6])


@njit(inline="always")
def _trunc64(x, prm):
    return _trunc64_of_u((F64(x) + 0.5) * _2M32, prm)


@njit(inline="always")
def _trunc_wide32(x, prm):
    # the float32 sampler's u (top 23 bits), float64 math: float32 values do not
    # depend on which of the two paths the bounds chose
    return F32(_trunc64_of_u((F64(x >> U64(9)) + 0.5) * (2.0 ** -23), prm))


#: samplers of a word PAIR (words 2i, 2i+1 of a block): ``f(xa, xb, prm) -> (va, vb)``
PAIR_SAMPLERS = {_normal32_pair}

#: code -> (float32 sampler, float64 sampler); each is ``f(x, prm) -> value`` of one
#: word, or a pair sampler listed in ``PAIR_SAMPLERS``
SAMPLERS = {
    UNIFORM: (_uniform32, _uniform64),
    NORMAL: (_normal32_pair, _normal64),
    TRUNC_NORMAL: (_trunc32, _trunc64),
    TRUNC_NORMAL_WIDE: (_trunc_wide32, _trunc64),
    TRUNC_NORMAL_CENTRAL: (_trunc_central32, _trunc64),
}


_PAIRS = {}


def pair_sampler(dist, kind):
    """The jitted ``(xa, xb, prm) -> (va, vb)``: stored values of the word pair
    (2i, 2i+1) of a block for sampler ``dist`` and output ``kind`` (16-bit kinds
    as bit patterns, rounded once from the float32 value). Both devices' fill
    kernels call it, so a value's formula lives here only."""
    key = (dist, kind)
    fn = _PAIRS.get(key)
    if fn is not None:
        return fn
    if kind == KIND_U32 or dist == BITS:
        def pair(xa, xb, prm):
            return xa, xb
    else:
        if kind not in (KIND_F32, KIND_F64, KIND_F16, KIND_BF16):
            raise ValueError(f"unknown output kind {kind}")
        s32, s64 = SAMPLERS[dist]
        f = s64 if kind == KIND_F64 else s32
        st = store_fn(kind)
        if f in PAIR_SAMPLERS:
            def pair(xa, xb, prm):
                va, vb = f(xa, xb, prm)
                return st(va), st(vb)
        else:
            def pair(xa, xb, prm):
                return st(f(xa, prm)), st(f(xb, prm))
    fn = _PAIRS[key] = njit(inline="always")(pair)
    return fn
