"""Words -> values: the samplers every initializer is built on.

Each sampler is a pure function of ONE raw Philox word ``x`` (a ``uint64`` below
2**32, see ``_stream``) and a parameter tuple ``prm`` of eight float64 values that
the host side (``init.py``) prepares. So element ``n`` of any distribution
depends on ``(seed, stream, n)`` only, and on no other word of its block.

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
NORMAL        ``mean + std * Phi^-1(u)``,                           same with ``u = (x + .5) 2**-32``
              ``u = ((x >> 8) + .5) * 2**-24``                       and float64 Phi^-1
TRUNC_NORMAL  ``mean + std * Phi^-1(Phi(a') + u (Phi(b')-Phi(a')))``  same, float64, with
              ``u = ((x >> 9) + .5) * 2**-23``, clamped to [a, b]    ``u = (x + .5) * 2**-32``
============  ====================================================  ===============================

``TRUNC_NORMAL_WIDE`` is the truncated normal computed with float64 math and
rounded to float32: used when the interval's probability is below 1e-28, where
float32 ``p`` would underflow.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._fmath import ndtri_pq, ndtri_pq64

F32 = np.float32
F64 = np.float64
U64 = np.uint64

UNIFORM = 0
NORMAL = 1
TRUNC_NORMAL = 2
TRUNC_NORMAL_WIDE = 3
BITS = 9  # raw words (random_bits): no transform

DIST = {"uniform": UNIFORM, "normal": NORMAL, "truncated_normal": TRUNC_NORMAL}

_2M24 = F32(2.0 ** -24)
_2M32 = 2.0 ** -32


@njit(inline="always")
def _uniform32(x, prm):
    u = F32(np.int32(x >> U64(8))) * _2M24
    return F32(prm[0]) + F32(prm[1]) * u


@njit(inline="always")
def _uniform64(x, prm):
    return prm[0] + prm[1] * (F64(x) * _2M32)


@njit(inline="always")
def _normal32(x, prm):
    # x = 2u - 1 = (2k + 1 - 2**24) / 2**24 is exact in float32 (|numerator| < 2**24)
    k = np.int32(x >> U64(8))
    xs = F32(k + k + np.int32(1 - (1 << 24))) * _2M24
    t = (F32(1.0) - xs) * (F32(1.0) + xs)  # = 4 u (1 - u), no cancellation
    return F32(prm[0]) + F32(prm[1]) * ndtri_pq(xs, t)


@njit(inline="always")
def _normal64(x, prm):
    p = (F64(x) + 0.5) * _2M32
    q = (4294967296.0 - 0.5 - F64(x)) * _2M32
    return prm[0] + prm[1] * ndtri_pq64(p, q)


@njit(inline="always")
def _trunc32(x, prm):
    # prm = (Phi(alpha), 1 - Phi(alpha), Phi(beta) - Phi(alpha), mean, std, a, b, _)
    k = np.int32(x >> U64(9))
    u = F32(k + k + np.int32(1)) * _2M24  # ((x >> 9) + .5) / 2**23, exact
    d = F32(prm[2])
    p = F32(prm[0]) + u * d
    q = F32(prm[1]) - u * d
    t = F32(4.0) * p * q
    v = F32(prm[3]) + F32(prm[4]) * ndtri_pq(p - q, t)
    return min(max(v, F32(prm[5])), F32(prm[6]))


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


#: code -> (float32 sampler, float64 sampler); each is ``f(x, prm) -> value``
SAMPLERS = {
    UNIFORM: (_uniform32, _uniform64),
    NORMAL: (_normal32, _normal64),
    TRUNC_NORMAL: (_trunc32, _trunc64),
    TRUNC_NORMAL_WIDE: (_trunc_wide32, _trunc64),
}
