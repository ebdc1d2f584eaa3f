"""Float math the kernels need, written so LLVM can vectorize it.

Numba here has no SVML: ``math.log`` inside a loop stays a scalar libm call and
stops the loop from vectorizing. The float32 functions below use only
``+ - * /``, ``sqrt``, selects and bit casts, so the loops that inline them
compile to AVX2/AVX-512 code. No ``fastmath``: without it LLVM never contracts
``a*b+c`` into an FMA, so the vector body, the scalar head/tail of a chunk and
any other IEEE-754 target compute bit-identical results.

Measured accuracy (``tests/test_fmath.py`` re-measures it on every run):

* ``logf``: max error 0.76 ulp (measured) vs float64 ``np.log``, 2**22 points over
  [1e-38, 1] (musl's logf reduction and polynomial).
* ``ndtri_pq`` (float32 inverse normal CDF from ``x = p - q`` and
  ``t = 4 p q``, Giles' single-precision erfinv polynomial): see
  ``NDTRI32_MAX_ULP``, measured over all 2**24 inputs the normal sampler uses.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

F32 = np.float32

#: Max ulp error of the float32 normal transform against float64 ``scipy.special.ndtri``
#: over all 2**24 values of the 24-bit uniform: 4.38 measured (tests/test_fmath.py), abs error < 1e-6.
NDTRI32_MAX_ULP = 5


@intrinsic
def f32_as_u32(typingctx, x):
    """Reinterpret a float32's bits as uint32 (LLVM ``bitcast``, vectorizes)."""
    sig = types.uint32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@intrinsic
def u32_as_f32(typingctx, x):
    """Reinterpret a uint32's bits as float32."""
    sig = types.float32(types.uint32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def f32_to_f16_bits(typingctx, x):
    """Round a float32 to IEEE half (nearest-even, LLVM ``fptrunc``; F16C
    ``vcvtps2ph`` on x86) and return its 16 bits."""
    sig = types.uint16(types.float32)

    def codegen(context, builder, signature, args):
        h = builder.fptrunc(args[0], ir.HalfType())
        return builder.bitcast(h, ir.IntType(16))

    return sig, codegen


@njit(inline="always")
def f32_to_bf16_bits(x):
    """Round a finite float32 to bfloat16, nearest-even, and return its 16 bits.

    Matches ``ml_dtypes.bfloat16`` and torch's ``.to(torch.bfloat16)`` for finite
    values (the samplers never produce NaN: parameters are checked finite).
    """
    b = np.uint32(f32_as_u32(x))
    lsb = (b >> np.uint32(16)) & np.uint32(1)
    return np.uint16((b + np.uint32(0x7FFF) + lsb) >> np.uint32(16))


# musl logf constants (|error| < 1 ulp on normal inputs)
_LN2_HI = F32(6.9313812256e-01)
_LN2_LO = F32(9.0580006145e-06)
_LG1 = F32(0.66666662693)
_LG2 = F32(0.40000972152)
_LG3 = F32(0.28498786688)
_LG4 = F32(0.24279078841)


@njit(inline="always")
def logf(x):
    """Natural log of a positive, finite, normal float32 (no special cases).

    Range reduction to m in [sqrt(2)/2, sqrt(2)) by integer bit arithmetic, then
    musl's minimax polynomial in s = f / (2 + f). Max error 1 ulp (measured).
    """
    ix = np.uint32(f32_as_u32(x)) + np.uint32(0x3F800000 - 0x3F3504F3)
    k = F32(np.int32(ix >> np.uint32(23)) - np.int32(0x7F))
    ix = (ix & np.uint32(0x007FFFFF)) + np.uint32(0x3F3504F3)
    f = u32_as_f32(ix) - F32(1.0)
    s = f / (F32(2.0) + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * _LG4)
    t2 = z * (_LG1 + w * _LG3)
    r = t2 + t1
    hfsq = F32(0.5) * f * f
    return s * (hfsq + r) + k * _LN2_LO - hfsq + f + k * _LN2_HI


# Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011),
# single-precision coefficients: erfinv(x) = x * P(w), w = -log((1-x)(1+x)).
_C = (F32(2.81022636e-08), F32(3.43273939e-07), F32(-3.5233877e-06), F32(-4.39150654e-06),
      F32(0.00021858087), F32(-0.00125372503), F32(-0.00417768164), F32(0.246640727),
      F32(1.50140941))
_T = (F32(-0.000200214257), F32(0.000100950558), F32(0.00134934322), F32(-0.00367342844),
      F32(0.00573950773), F32(-0.0076224613), F32(0.00943887047), F32(1.00167406),
      F32(2.83297682))
_SQRT2_F32 = F32(math.sqrt(2.0))


@njit(inline="always")
def ndtri_pq(x, t):
    """float32 inverse standard-normal CDF, ``Phi^-1(p)``, given ``x = p - q``
    and ``t = 4 p q`` (``q = 1 - p``) computed by the caller without cancellation.

    Passing ``x`` and ``t`` instead of ``p`` keeps both tails accurate: for p
    near 1, ``q`` is known exactly and ``t`` keeps full relative precision.
    Both polynomial branches are evaluated and one is selected, so the loop
    stays branch-free and vectorizes.
    """
    w = -logf(t)
    a = w - F32(2.5)
    p1 = _C[0]
    p1 = _C[1] + p1 * a
    p1 = _C[2] + p1 * a
    p1 = _C[3] + p1 * a
    p1 = _C[4] + p1 * a
    p1 = _C[5] + p1 * a
    p1 = _C[6] + p1 * a
    p1 = _C[7] + p1 * a
    p1 = _C[8] + p1 * a
    b = np.sqrt(w) - F32(3.0)
    p2 = _T[0]
    p2 = _T[1] + p2 * b
    p2 = _T[2] + p2 * b
    p2 = _T[3] + p2 * b
    p2 = _T[4] + p2 * b
    p2 = _T[5] + p2 * b
    p2 = _T[6] + p2 * b
    p2 = _T[7] + p2 * b
    p2 = _T[8] + p2 * b
    # bitwise select: a Python conditional here becomes a phi node that Numba's
    # inliner mis-scopes (NumbaIRAssumptionWarning); the masks vectorize as vblendvps
    m = np.uint32(0) - np.uint32(w < F32(5.0))
    p = u32_as_f32((f32_as_u32(p1) & m) | (f32_as_u32(p2) & ~m))
    return _SQRT2_F32 * (p * x)


_SQRT2 = math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit(error_model="numpy")  # scalar libm calls anyway: a call, not inlined
def ndtri_pq64(p, q):
    """float64 inverse standard-normal CDF from ``p`` and ``q = 1 - p`` (both
    given accurately, either may be as small as 1e-300).

    Start: Giles' polynomial in float64 where it was fitted (``w = -log(4pq) <
    16``, relative error ~1e-7), else the tail asymptote
    ``y**2 = L - log(2 pi y**2)``, ``L = -2 log(min(p, q))`` (a few 1e-3).
    Then Halley steps on ``Phi(z) - p`` (``erf`` near 0, ``erfc`` in the tails,
    so no cancellation) until the step is below 1e-15 |z|. Measured max 5 ulp
    against ``scipy.special.ndtri`` (99th percentile 2, tests/test_distributions.py).
    Scalar libm calls: float64 output is twice the bytes, not the speed target.
    """
    x = p - q
    w = -math.log(4.0 * p * q)
    if w < 16.0:
        if w < 5.0:
            a = w - 2.5
            r = 2.81022636e-08
            r = 3.43273939e-07 + r * a
            r = -3.5233877e-06 + r * a
            r = -4.39150654e-06 + r * a
            r = 0.00021858087 + r * a
            r = -0.00125372503 + r * a
            r = -0.00417768164 + r * a
            r = 0.246640727 + r * a
            r = 1.50140941 + r * a
        else:
            b = math.sqrt(w) - 3.0
            r = -0.000200214257
            r = 0.000100950558 + r * b
            r = 0.00134934322 + r * b
            r = -0.00367342844 + r * b
            r = 0.00573950773 + r * b
            r = -0.0076224613 + r * b
            r = 0.00943887047 + r * b
            r = 1.00167406 + r * b
            r = 2.83297682 + r * b
        z = _SQRT2 * (r * x)
    else:
        big_l = -2.0 * math.log(min(p, q))
        y2 = big_l - math.log(2.0 * math.pi * big_l)
        y2 = big_l - math.log(2.0 * math.pi * y2)
        z = -math.sqrt(y2) if p < q else math.sqrt(y2)
    for _ in range(6):
        if abs(x) < 0.5:  # central: erf keeps relative precision near z = 0
            err = 0.5 * (math.erf(z / _SQRT2) - x)
        elif z < 0.0:
            err = 0.5 * math.erfc(-z / _SQRT2) - p
        else:
            err = q - 0.5 * math.erfc(z / _SQRT2)
        pdf = _INV_SQRT2PI * math.exp(-0.5 * z * z)
        if not pdf > 0.0:
            break
        u = err / pdf
        step = u / (1.0 + 0.5 * z * u)
        z = z - step
        if abs(step) <= 1e-15 * abs(z):
            break
    return z
