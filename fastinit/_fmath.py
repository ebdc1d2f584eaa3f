"""The samplers' float math, and the primitives both math modules share, written so
LLVM can vectorize it. The activations' math is ``fastinit._act_math``.

Numba here has no SVML: ``math.log`` inside a loop stays a scalar libm call and
stops the loop from vectorizing. The float32 functions below use only
``+ - * /``, ``sqrt``, selects and bit casts, so the loops that inline them
compile to AVX2/AVX-512 code. No ``fastmath``: without it LLVM never contracts
``a*b+c`` into an FMA, so the vector body, the scalar head/tail of a chunk and
any other IEEE-754 target compute bit-identical results. Where a fused
multiply-add is wanted it is written (``fma``: IEEE fusedMultiplyAdd, rounded
once on every target).

Measured accuracy (``tests/test_distributions.py`` re-measures it on every run):

* ``logf``: max error 0.953 ulp vs float64 ``np.log`` over every float32 in [2**-26, 1),
  0.930 over every 7th in [1, 2**128) (the test checks <= 1 ulp on 2**20 points over the
  whole normal range).
* ``ndtri_pq`` (float32 inverse normal CDF from ``x = p - q`` and
  ``t = 4 p q``, Giles' single-precision erfinv polynomial): see
  ``NDTRI32_MAX_ULP``, measured over a 2**24 grid of ``u``.
* ``sincos_turns``: max abs error 1.63e-7 over all 2**24 angles of a word.
* ``neg2_log_odd23`` (Box-Muller ``r**2``): ``sqrt`` of it within 0.98 ulp of
  float64 over all 2**23 inputs.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

F32 = np.float32

#: Max ulp error of the float32 inverse normal CDF (the truncated normal's float32 path)
#: against float64 ``scipy.special.ndtri`` over a 2**24 grid of u: 4.38 measured, abs error < 1.1e-6
#: (1.07e-6 at z = -4.45, 2.2 ulp there, since the FMA polynomials; 9.5e-7 before).
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
def top_bits_odd_f32(typingctx, x, shift):
    """``float32((x >> shift) | 1)``, exact for ``shift >= 8``: the odd grid
    ``(2 (x >> (shift + 1)) + 1)``, so ``top_bits_odd_f32(x, 8) * 2**-24`` is
    ``((x >> 9) + 1/2) * 2**-23`` bit for bit, with one integer ``or`` where
    the float form needed a dependent add: 3 cycles off a latency-bound chain.
    truncated normal float32 tile 0.272 -> 0.292 G elements/s per thread (Zen 3,
    2026-11-23). The normal sampler keeps the float form: no gain there, and
    its bfloat16 loop lost 10% to a different register allocation."""
    sig = types.float32(types.uint32, types.int64)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        v = builder.or_(builder.lshr(args[0], builder.trunc(args[1], i32)), ir.Constant(i32, 1))
        return builder.sitofp(v, ir.FloatType())  # v < 2**31: signed conversion is exact

    return sig, codegen


@intrinsic
def select_f32(typingctx, cond, a, b):
    """``a if cond else b`` as one LLVM ``select`` (``vblendvps``), no control flow;
    for floats of one type (float32 here; ``where`` is the same for generic code)."""
    if not isinstance(a, types.Float) or a != b:
        return None
    sig = a(types.boolean, a, b)

    def codegen(context, builder, signature, args):
        c = args[0]
        if c.type != ir.IntType(1):
            c = builder.trunc(c, ir.IntType(1))
        return builder.select(c, args[1], args[2])

    return sig, codegen


@intrinsic
def hoisted(typingctx, x):
    """``x`` itself, as a value LLVM cannot constant-fold: for the constants of
    the samplers' float math.

    Why: Numba's JIT uses the large code model, so a vectorized loop cannot
    fold a constant-pool operand; with 16 ymm registers LLVM re-materializes
    most constants at every use (22 ``movabsq`` + 28 broadcasts: 50 of the 149
    instructions per 16 normals in the old sampler loop). Each re-broadcast also takes a physical
    register, and the Box-Muller loop is bound by how many of its long
    dependency chains fit in the out-of-order window. An opaque value is
    broadcast once before the loop (LICM hoists the call: ``readnone``) and,
    when spilled, folded into the arithmetic as a stack operand. Measured on
    the 2-core Zen 3 (2026-11-23): normal float32 tile 0.50 -> 0.56 G
    elements/s per thread, bits unchanged. An empty x86 inline-asm identity;
    on any other target (PTX) plain ``x``.
    """
    if not isinstance(x, types.Float):
        return None
    sig = x(x)

    def codegen(context, builder, signature, args):
        return opaque(builder, args[0])

    return sig, codegen


def opaque(builder, value):
    """The IR of ``hoisted``: ``value`` (a float or 32-bit integer, a constant
    here) through an empty x86 inline-asm identity that LLVM cannot fold, so a
    loop broadcasts it once; plain ``value`` on any other target. For the
    integer constants of the bit-level intrinsics below (musl's log reduction,
    the quarter-turn reduction): re-broadcast from the constant pool they took
    16 of 188 instructions per 32 normals (``llvm-mca`` input cut from the loop)."""
    if not (builder.module.triple or "").startswith("x86_64"):
        return value
    ty = value.type
    c = builder.asm(ir.FunctionType(ty, [ty]), "", "=r,0" if isinstance(ty, ir.IntType) else "=x,0",
                    [value], False)
    c.attributes.add("readnone")
    c.attributes.add("nounwind")
    return c


def _llvm_unary(name, doc):
    """An intrinsic ``f(x)`` calling ``llvm.<name>`` on a float of any width:
    the same instruction on both targets (x86 ``vsqrtps``/``vroundps``, PTX
    ``sqrt.rn``/``cvt.rmi``), where numpy's ufuncs are not lowered for CUDA."""
    def typer(typingctx, x):
        if not isinstance(x, types.Float):
            return None
        sig = x(x)

        def codegen(context, builder, signature, args):
            ty = args[0].type
            fn = builder.module.declare_intrinsic(f"llvm.{name}", [ty], ir.FunctionType(ty, [ty]))
            return builder.call(fn, args)

        return sig, codegen
    typer.__name__ = f"{name}_f"
    typer.__doc__ = doc
    return intrinsic(typer)


sqrt_f = _llvm_unary("sqrt", "Correctly rounded square root (``np.sqrt`` on a scalar; IEEE on both targets).")
floor_f = _llvm_unary("floor", "Round toward -inf, result in the same float type (``np.floor`` on a scalar).")


def _i32(v):
    return ir.Constant(ir.IntType(32), v & 0xFFFFFFFF)


def _log_split(builder, v, kbias, const):
    """musl's logf range reduction in IR, for ``logf_reduce`` and
    ``log_reduce_odd23``: a positive normal float32 ``v = 2**(k + kbias) (1 + f)``
    -> ``(float32(k), 1 + f)``, ``1 + f`` in [sqrt(2)/2, sqrt(2)), in integer
    lanes. ``const`` makes the i32 constants (``_i32``, or ``opaque`` ones)."""
    i32, f32 = ir.IntType(32), ir.FloatType()
    ix = builder.add(builder.bitcast(v, i32), const(0x3F800000 - 0x3F3504F3))
    k = builder.sub(builder.lshr(ix, _i32(23)), const(0x7F + kbias))
    m = builder.add(builder.and_(ix, const(0x007FFFFF)), const(0x3F3504F3))
    return builder.sitofp(k, f32), builder.bitcast(m, f32)


@intrinsic
def logf_reduce(typingctx, x):
    """Range reduction of logf in 32-bit lanes: returns ``(k, f)`` with
    ``x = 2**k * (1 + f)``, ``1 + f`` in [sqrt(2)/2, sqrt(2)) (musl's bit trick)."""
    sig = types.UniTuple(types.float32, 2)(types.float32)

    def codegen(context, builder, signature, args):
        kf, m = _log_split(builder, args[0], 0, _i32)
        f = builder.fsub(m, ir.Constant(ir.FloatType(), 1.0))
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


# log1p(f) = f - f**2/2 + f**3 P(f) on [sqrt(2)/2 - 1, sqrt(2) - 1], P degree 7 (the activations'
# log1p fit: a least-squares fit against mpmath, rounded to float32): no division, unlike musl's s = f/(2+f)
_LOGP = (F32(-0.077785424888134), F32(0.1256365329027176), F32(-0.13013379275798798),
         F32(0.1422247588634491), F32(-0.16640791296958923), F32(0.20000772178173065),
         F32(-0.2500030994415283), F32(0.3333333134651184))


@njit(inline="always")
def logf(x):
    """Natural log of a positive, finite, normal float32 (no special cases).

    Range reduction ``x = 2**k (1 + f)``, ``1 + f`` in [sqrt(2)/2, sqrt(2)), by
    integer bit arithmetic (musl's), then ``log1p(f) = f + f**2 (f P(f) - 1/2)``
    with P of degree 7 by FMA Horner steps, and ``k ln 2`` added in two parts
    (``_LN2_HI + _LN2_LO``). Max error 0.953 ulp against float64 ``np.log`` over
    every float32 in [2**-26, 1) (every ``t = 4 p q`` the truncated normal forms;
    musl's division form measured 0.829 there), 0.930 over every 7th float32 in
    [1, 2**128).

    No division: a GPU's correctly rounded ``div.rn`` is a reciprocal, Newton
    steps and a guarded slow path. With the FMA polynomials of ``ndtri_pq`` the
    truncated normal's central loop went from 327 to 225 SASS instructions per
    Philox block of 4 values (sm_90, ``benchmarks/gpu_ptx.py``) and its registers
    from 60 to 48, and on one Zen 5 core from 1.15 to 1.39 G values/s (float32,
    L2-resident, ``benchmarks/tile_min.py``; BENCHMARKS.md). The float32 truncated normal's values moved with
    this (once, before 1.0: README, compatibility note).
    """
    k, f = logf_reduce(x)
    c = (hoisted(_LOGP[0]), hoisted(_LOGP[1]), hoisted(_LOGP[2]), hoisted(_LOGP[3]), hoisted(_LOGP[4]),
         hoisted(_LOGP[5]), hoisted(_LOGP[6]), hoisted(_LOGP[7]))
    p = fma(fma(fma(fma(fma(fma(fma(c[0], f, c[1]), f, c[2]), f, c[3]), f, c[4]), f, c[5]), f, c[6]), f, c[7])
    lf = fma(f * f, fma(f, p, hoisted(F32(-0.5))), f)
    return fma(k, hoisted(_LN2_HI), fma(k, hoisted(_LN2_LO), lf))


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


@njit(inline="always")
def horner_fma(c, a):
    """``horner(c, a)`` with each step one ``fma`` (rounded once): the float32
    polynomials' form (``horner`` stays for the float64 path's starting value).
    8 operations on the dependency chain instead of 16, on both targets: with it
    alone the truncated normal's central loop went from 327 to 299 SASS
    instructions per Philox block (sm_90), the two-polynomial one from 443 to 387.
    Same max ulp error of ``ndtri_pq`` over a 2**24 grid of u (4.38 central,
    3.94 tail; see ``NDTRI32_MAX_ULP``)."""
    return fma(fma(fma(fma(fma(fma(fma(fma(c[0], a, c[1]), a, c[2]), a, c[3]), a, c[4]), a, c[5]),
                       a, c[6]), a, c[7]), a, c[8])


@njit(inline="always")
def _hoisted9(c):
    """The 9 coefficients as ``hoisted`` values (the float32 loop's copies)."""
    return (hoisted(c[0]), hoisted(c[1]), hoisted(c[2]), hoisted(c[3]), hoisted(c[4]),
            hoisted(c[5]), hoisted(c[6]), hoisted(c[7]), hoisted(c[8]))


_SQRT2_F32 = F32(math.sqrt(2.0))


@njit(inline="always")
def _ndtri_central_poly(t):
    """``(w, P(w))``: ``w = -logf(t)`` and Giles' central polynomial at it, the
    part ``ndtri_pq`` and ``ndtri_pq_central`` share (so their bits agree)."""
    w = -logf(t)
    return w, horner_fma(_hoisted9(_C), w - hoisted(F32(2.5)))


@njit(inline="always")
def ndtri_pq(x, t):
    """float32 inverse standard-normal CDF, ``Phi^-1(p)``, given ``x = p - q``
    and ``t = 4 p q`` (``q = 1 - p``) computed by the caller without cancellation.

    Passing ``x`` and ``t`` instead of ``p`` keeps both tails accurate: for p
    near 1, ``q`` is known exactly and ``t`` keeps full relative precision.
    Both polynomial branches are evaluated and one is selected, so the loop
    stays branch-free and vectorizes. Max error 4.38 ulp (central branch) and
    3.94 ulp (tail branch), 1.07e-6 absolute, against float64
    ``scipy.special.ndtri`` over a 2**24 grid of ``u`` (``NDTRI32_MAX_ULP``).
    """
    w, p1 = _ndtri_central_poly(t)
    p2 = horner_fma(_hoisted9(_T), sqrt_f(w) - hoisted(F32(3.0)))
    # a Python conditional here becomes a phi node that Numba's inliner mis-scopes
    # (NumbaIRAssumptionWarning); select_f32 is one vblendvps
    p = select_f32(w < hoisted(F32(NDTRI_W_SPLIT)), p1, p2)
    return hoisted(_SQRT2_F32) * (p * x)


#: ``ndtri_pq`` takes the central polynomial where ``w = -log(4 p q) <`` this
NDTRI_W_SPLIT = 5.0


@njit(inline="always")
def ndtri_pq_central(x, t):
    """``ndtri_pq(x, t)`` for inputs whose ``w = -logf(t)`` is below
    ``NDTRI_W_SPLIT`` (``t > exp(-5)``, ``|Phi^-1(p)| < 2.93``): the central
    polynomial only, the same operations, so the same bits. The caller proves
    the range (``distributions._prepare_trunc``); it holds for the common [-2 std, 2 std]
    of ``trunc_normal_`` and Keras/JAX, and halves the polynomial work."""
    _, p1 = _ndtri_central_poly(t)
    return hoisted(_SQRT2_F32) * (p1 * x)


# Cephes sinf/cosf minimax polynomials on [-pi/4, pi/4]
_S1, _S2, _S3 = F32(-1.6666654611e-1), F32(8.3321608736e-3), F32(-1.9515295891e-4)
_C1, _C2, _C3 = F32(4.166664568298827e-2), F32(-1.388731625493765e-3), F32(2.443315711809948e-5)
_TWO_PI_F32 = F32(2.0 * math.pi)


_PHI_UNIT = F32(_TWO_PI_F32 * F32(2.0 ** -24))  # 2 pi (float32) * 2**-24: exact scaling


@intrinsic
def quarter_turns(typingctx, x):
    """``(float32(k - 2**22 q), q)`` for the angle ``k 2**-24`` turns, ``k = x >> 8``,
    and ``q = (k + 2**21) >> 22``, its nearest quarter turn (0..4), in 32-bit
    integer lanes: exact, so ``phi = offset * 2 pi 2**-24`` rounds once. (The
    float form, ``floor(4 t + 1/2)`` and ``t - q/4``, gave the same bits with
    three more dependent float operations.)"""
    sig = types.Tuple((types.float32, types.uint32))(types.uint32)

    def codegen(context, builder, signature, args):
        k = builder.lshr(args[0], _i32(8))
        q = builder.lshr(builder.add(k, opaque(builder, _i32(1 << 21))), _i32(22))
        d = builder.sitofp(builder.sub(k, builder.shl(q, _i32(22))), ir.FloatType())
        return context.make_tuple(builder, signature.return_type, (d, q))

    return sig, codegen


@intrinsic
def quadrant_turn(typingctx, sn, cs, q):
    """``(sin, cos)`` of the whole angle from those of its offset from the
    nearest quarter turn ``q`` (see ``quarter_turns``): swap for odd ``q``,
    then flip the sign bit of sin for q = 2, 3 and of cos for q = 1, 2 (q = 4
    is q = 0). Integer bit operations and two blends, where float compares
    took eight instructions more."""
    sig = types.UniTuple(types.float32, 2)(types.float32, types.float32, types.uint32)

    def codegen(context, builder, signature, args):
        sn, cs, q = args
        i32, f32 = ir.IntType(32), ir.FloatType()
        odd = builder.trunc(q, ir.IntType(1))
        s0 = builder.select(odd, cs, sn)
        c0 = builder.select(odd, sn, cs)
        # sign bits: sin's is bit 1 of q, cos's is bit 1 of q + 1, i.e. that xor bit 0
        ss = builder.and_(builder.shl(q, _i32(30)), opaque(builder, _i32(0x80000000)))
        sc = builder.xor(ss, builder.shl(q, _i32(31)))
        s = builder.bitcast(builder.xor(builder.bitcast(s0, i32), ss), f32)
        c = builder.bitcast(builder.xor(builder.bitcast(c0, i32), sc), f32)
        return context.make_tuple(builder, signature.return_type, (s, c))

    return sig, codegen


@njit(inline="always")
def sincos_turns(x):
    """``(sin(2 pi t), cos(2 pi t))`` of the angle ``t = (x >> 8) 2**-24`` turns
    held in the top 24 bits of a uint32 word ``x``.

    Reduction to the nearest quarter turn is exact (integer lanes), then
    Cephes' polynomials on [-pi/4, pi/4] with explicit FMAs and a quadrant swap
    by selects: no table, no branch, vectorizes. Max abs error 1.6e-7 over all
    2**24 angles (tests/test_distributions.py).
    """
    d, q = quarter_turns(x)
    phi = d * hoisted(_PHI_UNIT)  # in [-pi/4, pi/4]
    z = phi * phi
    sn = fma(phi * z, fma(fma(z, hoisted(_S3), hoisted(_S2)), z, hoisted(_S1)), phi)
    cs = fma(z * z, fma(fma(z, hoisted(_C3), hoisted(_C2)), z, hoisted(_C1)),
             fma(z, hoisted(F32(-0.5)), hoisted(F32(1.0))))
    return quadrant_turn(sn, cs, q)


@intrinsic
def log_reduce_odd23(typingctx, x):
    """``(k, f, d)`` with ``u = ((x >> 9) + 1/2) 2**-23 = 2**k (1 + f)``, ``1 + f``
    in [sqrt(2)/2, sqrt(2)), and ``d = (1 + f) + 1``, from the uint32 word ``x``:
    ``2 (x >> 9) + 1`` is converted exactly and the ``2**-24`` goes into ``k``
    (musl's bit trick, as ``logf_reduce``, with no float multiply and add to
    form ``u``). ``d`` is musl's ``2 + f`` (the same real number, so the same
    rounding) without waiting for ``f``."""
    sig = types.UniTuple(types.float32, 3)(types.uint32)

    def codegen(context, builder, signature, args):
        def k32(v):
            return opaque(builder, _i32(v))

        v = builder.sitofp(builder.or_(builder.lshr(args[0], _i32(8)), k32(1)), ir.FloatType())  # < 2**24: exact
        kf, m = _log_split(builder, v, 24, k32)
        one = opaque(builder, ir.Constant(ir.FloatType(), 1.0))
        f = builder.fsub(m, one)  # exact (Sterbenz)
        d = builder.fadd(m, one)
        return context.make_tuple(builder, signature.return_type, (kf, f, d))

    return sig, codegen


_M2LN2 = F32(F32(-2.0) * F32(math.log(2.0)))  # -2 ln 2 in float32 (exact doubling)
# musl's Lg1..Lg4 scaled by powers of 2 (exact) for the polynomial in 4 s**2
_LGQ = (F32(_LG1 / 4), F32(_LG2 / 16), F32(_LG3 / 64), F32(_LG4 / 256))


@njit(inline="always")
def neg2_log_odd23(x):
    """``-2 log(u)``, ``u = ((x >> 9) + 1/2) 2**-23``, for a uint32 word ``x``:
    the Box-Muller radius squared.

    musl's logf, ``log1p(f) = f - (hfsq - s (hfsq + R(s**2)))`` with
    ``s = f/(2+f)``, ``hfsq = f**2/2``, ``R(z) = z (Lg1 + Lg2 z + Lg3 z**2 + Lg4 z**3)``,
    evaluated with explicit FMAs, the polynomial by Estrin's scheme, and the
    factor -2 carried in from the start: ``s2 = -2f/(2+f)`` and the
    coefficients for ``s2**2 = 4 s**2`` are musl's times powers of 2, so every
    scaling is exact. Max error of ``sqrt`` of it 0.98 ulp against float64
    over all 2**23 inputs, the same as ``sqrt(-2 logf(u))``. The Box-Muller
    loop is bound by its log -> sqrt dependency chain over the out-of-order
    window, and each FMA takes one operation and 2 cycles off it: with the
    changes in ``sincos_turns``, normal float32 tile 0.526 -> 0.682 G
    elements/s per thread (``benchmarks/tile_rates.py``, Zen 3, 2026-11-23).
    """
    k, f, d = log_reduce_odd23(x)
    m2 = hoisted(F32(-2.0))
    s2 = (f * m2) / d  # -2 s
    z = s2 * s2  # 4 s**2
    z2 = z * z
    ff = f * f
    p = fma(z2, fma(z, hoisted(_LGQ[3]), hoisted(_LGQ[2])), fma(z, hoisted(_LGQ[1]), hoisted(_LGQ[0])))
    t = fma(z, p, hoisted(F32(0.5)) * ff)  # hfsq + R
    w = fma(s2, t, ff)  # -2 (s t - hfsq); ff = 2 hfsq exactly
    return fma(k, hoisted(_M2LN2), fma(f, m2, w))


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



# ------------------------------------------------- shared: 16-bit conversions, fma
# The storage codecs (distributions.codec) and both math modules use these.

@intrinsic
def f16_bits_to_f32(typingctx, h):
    """IEEE half bits -> float32 (LLVM ``fpext``; F16C ``vcvtph2ps``), exact."""
    sig = types.float32(types.uint16)

    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return sig, codegen


@intrinsic
def bf16_bits_to_f32(typingctx, h):
    """bfloat16 bits -> float32 (shift into the high half), exact."""
    sig = types.float32(types.uint16)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        v = builder.shl(builder.zext(args[0], i32), ir.Constant(i32, 16))
        return builder.bitcast(v, ir.FloatType())

    return sig, codegen


@intrinsic
def f32_to_bf16_bits_any(typingctx, x):
    """float32 -> bfloat16 bits, nearest-even, +-inf kept, a NaN kept a quiet
    NaN of the same sign: ``ml_dtypes``' conversion for any input (torch's
    differs only in making every NaN +NaN).
    In 32-bit lanes (``f32_to_bf16_bits`` is the finite-only version)."""
    sig = types.uint16(types.float32)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        b = builder.bitcast(args[0], i32)
        lsb = builder.and_(builder.lshr(b, ir.Constant(i32, 16)), ir.Constant(i32, 1))
        r = builder.lshr(builder.add(builder.add(b, ir.Constant(i32, 0x7FFF)), lsb), ir.Constant(i32, 16))
        nan = builder.fcmp_unordered("uno", args[0], args[0])
        q = builder.or_(builder.lshr(b, ir.Constant(i32, 16)), ir.Constant(i32, 0x40))
        return builder.trunc(builder.select(nan, q, r), ir.IntType(16))

    return sig, codegen


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (``llvm.fma``: ``vfmadd`` on x86-64-v3).

    Explicit, so the vector body and the scalar tail of a loop round the same
    way (a ``fastmath`` contraction could differ between them, and then an
    element's bits would depend on where a tile boundary fell). On a CPU
    without FMA, LLVM calls libm's ``fmaf``: slower, same bits. Horner steps
    with it cut the activation kernels' instruction count: gelu fused 0.48 ->
    0.62 G elements/s on one core (L2-resident, 2026-11-22)."""
    if not isinstance(a, types.Float) or not (a == b == c):
        return None
    sig = a(a, a, a)

    def codegen(context, builder, signature, args):
        ty = args[0].type
        fn = builder.module.declare_intrinsic("llvm.fma", [ty], ir.FunctionType(ty, [ty, ty, ty]))
        return builder.call(fn, args)

    return sig, codegen
