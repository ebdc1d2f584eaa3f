"""Float math the kernels need, written so LLVM can vectorize it.

Numba here has no SVML: ``math.log`` inside a loop stays a scalar libm call and
stops the loop from vectorizing. The float32 functions below use only
``+ - * /``, ``sqrt``, selects and bit casts, so the loops that inline them
compile to AVX2/AVX-512 code. No ``fastmath``: without it LLVM never contracts
``a*b+c`` into an FMA, so the vector body, the scalar head/tail of a chunk and
any other IEEE-754 target compute bit-identical results.

Measured accuracy (``tests/test_distributions.py`` re-measures it on every run):

* ``logf``: max error 0.76 ulp vs float64 ``np.log`` (2**22 points over [1e-38, 1]
  measured; the test checks <= 1 ulp on 2**20 points over the whole normal range).
* ``ndtri_pq`` (float32 inverse normal CDF from ``x = p - q`` and
  ``t = 4 p q``, Giles' single-precision erfinv polynomial): see
  ``NDTRI32_MAX_ULP``, measured over a 2**24 grid of ``u``.
* ``sincos_turns``: max abs error < 2e-7 over the whole 2**-24 grid of turns.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

F32 = np.float32

#: Max ulp error of the float32 inverse normal CDF (the truncated normal's float32 path)
#: against float64 ``scipy.special.ndtri`` over a 2**24 grid of u: 4.38 measured, abs error < 1e-6.
NDTRI32_MAX_ULP = 5


@intrinsic
def f32_as_u32(typingctx, x):
    """Reinterpret a float32's bits as uint32 (LLVM ``bitcast``, vectorizes)."""
    sig = types.uint32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

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


@intrinsic
def top_bits_f32(typingctx, x, shift):
    """``float32(x >> shift)`` for a uint32 word ``x`` and an int shift
    (8 or 9 here), done in 32-bit lanes.

    Numba types ``uint32 >> int`` as a 64-bit operation; in a loop that halves
    the vector width (4 lanes per ymm instead of 8). This stays i32 -> float.
    """
    sig = types.float32(types.uint32, types.int64)

    def codegen(context, builder, signature, args):
        sh = builder.trunc(args[1], ir.IntType(32))
        v = builder.lshr(args[0], sh)
        return builder.sitofp(v, ir.FloatType())  # v < 2**31: signed conversion is exact

    return sig, codegen


@intrinsic
def select_f32(typingctx, cond, a, b):
    """``a if cond else b`` as one LLVM ``select`` (``vblendvps``), no control flow."""
    sig = types.float32(types.boolean, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        c = args[0]
        if c.type != ir.IntType(1):
            c = builder.trunc(c, ir.IntType(1))
        return builder.select(c, args[1], args[2])

    return sig, codegen


@intrinsic
def logf_reduce(typingctx, x):
    """Range reduction of logf in 32-bit lanes: returns ``(k, f)`` with
    ``x = 2**k * (1 + f)``, ``1 + f`` in [sqrt(2)/2, sqrt(2)) (musl's bit trick)."""
    sig = types.UniTuple(types.float32, 2)(types.float32)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        ix = builder.bitcast(args[0], i32)
        ix = builder.add(ix, ir.Constant(i32, 0x3F800000 - 0x3F3504F3))
        k = builder.sub(builder.lshr(ix, ir.Constant(i32, 23)), ir.Constant(i32, 0x7F))
        m = builder.add(builder.and_(ix, ir.Constant(i32, 0x007FFFFF)), ir.Constant(i32, 0x3F3504F3))
        one = ir.Constant(ir.FloatType(), 1.0)
        f = builder.fsub(builder.bitcast(m, ir.FloatType()), one)
        kf = builder.sitofp(k, ir.FloatType())
        return context.make_tuple(builder, signature.return_type, (kf, f))

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
    k, f = logf_reduce(x)
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
_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                  0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
               0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)
_C = tuple(F32(c) for c in _GILES_CENTRAL)  # float32 copies for the float32 path
_T = tuple(F32(c) for c in _GILES_TAIL)


@njit(inline="always")
def horner(c, a):
    """``c[0] a**8 + ... + c[8]`` by Horner's rule for the 9 Giles coefficients,
    highest first. Straight-line on purpose: a loop here, once inlined, trips
    Numba's SSA check (NumbaIRAssumptionWarning)."""
    return c[8] + (c[7] + (c[6] + (c[5] + (c[4] + (c[3] + (c[2] + (c[1] + c[0] * a) * a) * a) * a)
                                              * a) * a) * a) * a
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
    p1 = horner(_C, w - F32(2.5))
    p2 = horner(_T, np.sqrt(w) - F32(3.0))
    # a Python conditional here becomes a phi node that Numba's inliner mis-scopes
    # (NumbaIRAssumptionWarning); select_f32 is one vblendvps
    p = select_f32(w < F32(5.0), p1, p2)
    return _SQRT2_F32 * (p * x)


# Cephes sinf/cosf minimax polynomials on [-pi/4, pi/4]
_S1, _S2, _S3 = F32(-1.6666654611e-1), F32(8.3321608736e-3), F32(-1.9515295891e-4)
_C1, _C2, _C3 = F32(4.166664568298827e-2), F32(-1.388731625493765e-3), F32(2.443315711809948e-5)
_TWO_PI_F32 = F32(2.0 * math.pi)


@njit(inline="always")
def sincos_turns(t):
    """``(sin(2 pi t), cos(2 pi t))`` for ``t`` in [0, 1) given on the 2**-24 grid.

    Reduction by quarter turns is exact (``t - q/4`` is on the same grid), then
    Cephes' polynomials on [-pi/4, pi/4] and a quadrant swap by selects: no
    table, no branch, vectorizes. Max abs error < 2e-7 over the whole 2**-24 grid
    (tests/test_distributions.py).
    """
    qf = np.floor(t * F32(4.0) + F32(0.5))  # nearest quarter turn, 0..4
    phi = (t - qf * F32(0.25)) * _TWO_PI_F32  # in [-pi/4, pi/4]
    z = phi * phi
    sn = phi + phi * z * (_S1 + z * (_S2 + z * _S3))
    cs = F32(1.0) - F32(0.5) * z + z * z * (_C1 + z * (_C2 + z * _C3))
    odd = (qf == F32(1.0)) | (qf == F32(3.0))
    s0 = select_f32(odd, cs, sn)
    c0 = select_f32(odd, sn, cs)
    # quadrant 1: (cos, -sin); 2: (-sin, -cos); 3: (-cos, sin)
    s1 = select_f32((qf == F32(2.0)) | (qf == F32(3.0)), -s0, s0)
    c1 = select_f32((qf == F32(1.0)) | (qf == F32(2.0)), -c0, c0)
    return s1, c1


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
            r = horner(_GILES_CENTRAL, w - 2.5)
        else:
            r = horner(_GILES_TAIL, math.sqrt(w) - 3.0)
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
