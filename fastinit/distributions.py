"""Words -> values: the samplers every initializer is built on.

Each sampler is a pure function of ONE raw Philox word ``x`` (a ``uint32``,
see ``_stream``), or for the float32 normal of the word PAIR (2i, 2i+1) of its
block, and of a parameter tuple ``prm`` of eight float64 values that the
sampler's ``prepare`` computes on the host. So element ``n`` depends on
``(seed, stream, n)`` only.

Table (``SAMPLERS``): one ``Sampler`` per code holds everything about a
distribution: its float32 and float64 math, ``prepare`` (the host side:
parameters -> ``prm``), the CPU loop strategy and the GPU register cap. Adding a
distribution is one code, its math and one ``Sampler`` (then its public
initializer in ``init.py``, which checks the arguments and calls ``prepare``);
``cpu/fill.py`` and ``gpu/fill.py`` read the entry.

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

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from ._fmath import (NDTRI_W_SPLIT, fma, hoisted, ndtri_pq, ndtri_pq64, ndtri_pq_central, neg2_log_odd23,
                     sincos_turns, sqrt_f, top_bits_f32, top_bits_odd_f32)
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


# ------------------------------------------------------------------ host side: parameters
def _prepare_uniform(a, b):
    return UNIFORM, (a, b - a)


def _prepare_normal(mean, std):
    return NORMAL, (mean, std)


def _prepare_bits():
    return BITS, ()


def _phi_tails(z):
    """(Phi(z), 1 - Phi(z)) both to full relative precision (erfc, no cancellation)."""
    if z == -math.inf:
        return 0.0, 1.0
    if z == math.inf:
        return 1.0, 0.0
    return 0.5 * math.erfc(-z / math.sqrt(2.0)), 0.5 * math.erfc(z / math.sqrt(2.0))


def _prepare_trunc(mean, std, a, b):
    """``(code, prm)`` of the truncated normal: its sampler code (float64 math,
    ``TRUNC_NORMAL_WIDE``; the central polynomial only; or both) and parameters.

    The sampler computes ``p = Phi(a') + u d`` and ``q = (1 - Phi(a')) - u d``.
    When the interval lies mostly above the mean (``a' + b' > 0``) it is
    reflected, ``[a', b'] -> [-b', -a']`` with ``std -> -std``, so ``q`` never
    comes from cancelling two numbers near 1 (a = 2 std, b = 3 std stays exact).
    """
    alpha, beta = (a - mean) / std, (b - mean) / std
    sign = 1.0
    if alpha + beta > 0:
        alpha, beta, sign = -beta, -alpha, -1.0
    pa, qa = _phi_tails(alpha)
    pb, qb = _phi_tails(beta)
    if beta <= 0:
        d = pb - pa
    elif alpha >= 0:
        d = qa - qb
    else:
        d = 1.0 - pa - qb
    if not d > 1e-290:
        raise ValueError(
            f"trunc_normal_: [a, b] = [{a}, {b}] holds probability {d:.3g} under N({mean}, {std}**2), "
            "too little to sample in float64; move a, b within 37 std of mean")
    # float32 math only where Giles' polynomial was fitted: t = 4 p q >= 1.2e-7
    # (w <= 15.9) at the most extreme u the float32 sampler draws (2**-24 from
    # either end); elsewhere (far tails) the float64 math, rounded to float32.
    p_lo = pa + d * 2.0**-24
    q_lo = qb + d * 2.0**-24
    prm = (pa, qa, d, mean, sign * std, a, b)
    if min(4 * p_lo * (1 - p_lo), 4 * q_lo * (1 - q_lo)) < 1.2e-7:
        return TRUNC_NORMAL_WIDE, prm
    return (TRUNC_NORMAL_CENTRAL if _central32(pa, qa, d) else TRUNC_NORMAL), prm


def _central32(pa, qa, d):
    """Whether the float32 sampler's ``w = -log(4 p q)`` stays below
    ``NDTRI_W_SPLIT`` for every ``u`` it draws, so ``ndtri_pq`` always takes its
    central polynomial and ``TRUNC_NORMAL_CENTRAL`` gives the same bits.

    From the float32 parameters the kernel uses: ``p = pa + u d``, ``q = qa - u d``
    for ``u`` in [2**-24, 1 - 2**-24]; exactly, ``4 p q`` is concave in ``u``,
    so smallest at an end. Its float32 evaluation is within a few ulps
    (relative 1e-6) of that, and ``logf`` within 1 ulp: the 1e-4 relative margin
    on ``t`` covers both many times over.
    """
    pa, qa, d = (float(np.float32(v)) for v in (pa, qa, d))
    t_min = min(4 * (pa + u * d) * (qa - u * d) for u in (2.0**-24, 1 - 2.0**-24))
    return t_min > math.exp(-NDTRI_W_SPLIT) * (1 + 1e-4)


# ------------------------------------------------------------------ the table
#: CPU loop strategies (``cpu/fill.py``, ``_body``): cheap samplers in one fused loop
#: (Philox words -> values -> stores); costly ones tile by tile, Philox words into an L1
#: tile, then words -> values; ``"staged16"``: tiled, and 16-bit outputs through a float32
#: tile and a separate rounding pass (for samplers whose loop spills with the rounding in it)
LOOPS = ("fused", "tiled", "staged16")


@dataclass(frozen=True)
class Sampler:
    """One distribution: all that the host and both devices' kernels need of it.

    Adding a distribution is one code, its math and one ``Sampler`` in ``SAMPLERS``;
    ``init.py`` calls ``prepare``, ``cpu/fill.py`` and ``gpu/fill.py`` compile ``f32``/``f64``
    through ``pair_sampler`` with ``loop`` and ``gpu_max_registers``.
    """
    #: the compile-time literal the kernels are specialized on
    code: int
    #: jitted float32 math: ``f(x, prm) -> value`` of one word, or with ``pair``
    #: ``f(xa, xb, prm) -> (va, vb)`` of the word pair (2i, 2i+1) of a block; None: raw words
    f32: object
    #: jitted float64 math, ``f(x, prm) -> value`` (all 32 bits of the word)
    f64: object
    #: host side: ``prepare(*params) -> (code, prm)``, the code to run (this one or a variant
    #: the parameters call for) and up to eight float64 constants the math reads
    prepare: object
    #: ``f32`` samples the word pair (Box-Muller) rather than one word
    pair: bool = False
    #: CPU loop strategy, one of ``LOOPS``
    loop: str = "tiled"
    #: float64 outputs run this code's kernel (the same float64 math: one compiled kernel fewer)
    f64_code: int = None
    #: ptxas register cap of the GPU fast path (``gpu/fill.FAST_MAX_REGISTERS`` says why); None: none
    gpu_max_registers: int = None

    def __post_init__(self):
        if self.loop not in LOOPS:
            raise ValueError(f"Sampler {self.code}: loop must be one of {LOOPS}, got {self.loop!r}")


#: code -> its ``Sampler``
SAMPLERS = {s.code: s for s in (
    Sampler(UNIFORM, _uniform32, _uniform64, _prepare_uniform, loop="fused", gpu_max_registers=40),
    Sampler(NORMAL, _normal32_pair, _normal64, _prepare_normal, pair=True),
    # the truncated normal's three codes share prepare, which picks one by the bounds
    Sampler(TRUNC_NORMAL, _trunc32, _trunc64, _prepare_trunc, loop="staged16", f64_code=TRUNC_NORMAL_WIDE),
    Sampler(TRUNC_NORMAL_WIDE, _trunc_wide32, _trunc64, _prepare_trunc),
    Sampler(TRUNC_NORMAL_CENTRAL, _trunc_central32, _trunc64, _prepare_trunc, loop="staged16",
            f64_code=TRUNC_NORMAL_WIDE),
    Sampler(BITS, None, None, _prepare_bits, loop="fused", gpu_max_registers=40),
)}


def prepare(code, *params):
    """``(code, prm)`` of sampler ``code`` for already checked ``params`` (``Sampler.prepare``)."""
    return SAMPLERS[code].prepare(*params)


def kernel_code(code, kind):
    """The sampler code whose kernel fills output ``kind`` for ``code`` (``Sampler.f64_code``)."""
    f64_code = SAMPLERS[code].f64_code
    return f64_code if kind == KIND_F64 and f64_code is not None else code


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
    sampler = SAMPLERS[dist]
    if kind == KIND_U32 or sampler.f32 is None:
        def pair(xa, xb, prm):
            return xa, xb
    else:
        if kind not in (KIND_F32, KIND_F64, KIND_F16, KIND_BF16):
            raise ValueError(f"unknown output kind {kind}")
        f = sampler.f64 if kind == KIND_F64 else sampler.f32
        st = store_fn(kind)
        if sampler.pair and kind != KIND_F64:
            def pair(xa, xb, prm):
                va, vb = f(xa, xb, prm)
                return st(va), st(vb)
        else:
            def pair(xa, xb, prm):
                return st(f(xa, prm)), st(f(xb, prm))
    fn = _PAIRS[key] = njit(inline="always")(pair)
    return fn
