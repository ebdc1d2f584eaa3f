"""The bfloat16 rounding of the fills, checked on every finite float32.

The GPU fill kernels round float32 to bfloat16 with ``cvt.rn.bf16x2.f32``
(``fastinit.gpu.runtime._bf16_pair_cuda``), the CPU with the integer form of
``fastinit._fmath.f32_to_bf16_bits``: ``(b + 0x7FFF + lsb) >> 16`` on the bit pattern.
PTX defines ``cvt.rn`` as IEEE 754 round-to-nearest-even (no ``.ftz``: subnormals kept;
values past the largest bfloat16 by half an ulp or more go to inf). This script checks
that the integer form IS that rounding, for all 2**32 - 2**24 finite float32 inputs, against
an emulation written from the definition: the two neighbouring bfloat16 magnitudes
(truncation and the next one up, 2**128 standing for the step past the largest), the
exact distances to each in float64, the nearer one, on a tie the one with an even last bit.

    python benchmarks/bf16_rounding.py [--chunk-bits 28]

2026-12-01, numpy 2.4.6, AMD EPYC Zen 5 (shared 2-core session machine): every finite
float32 agreed (see BENCHMARKS.md "GPU").
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


def integer_rounding(u):
    """``_fmath.f32_to_bf16_bits`` on uint32 bit patterns (numpy twin, same ops)."""
    lsb = (u >> np.uint32(16)) & np.uint32(1)
    return ((u + np.uint32(0x7FFF) + lsb) >> np.uint32(16)).astype(np.uint16)


def nearest_even(u):
    """IEEE 754 round-to-nearest-even of finite float32 bit patterns ``u`` (uint32) to
    bfloat16 bits, from the definition (see the module docstring)."""
    sign = u & np.uint32(0x80000000)
    mag = u & np.uint32(0x7FFFFFFF)
    lower = mag & np.uint32(0xFFFF0000)
    upper = lower + np.uint32(0x10000)
    x = mag.view(np.float32).astype(np.float64)
    lo = lower.view(np.float32).astype(np.float64)
    hi = upper.view(np.float32).astype(np.float64)
    hi[upper == np.uint32(0x7F800000)] = 2.0 ** 128  # the next step past the largest bfloat16
    dlo, dhi = x - lo, hi - x  # exact: float32 values within a factor 2 of each other
    even_lower = (lower & np.uint32(0x10000)) == 0
    pick_upper = (dhi < dlo) | ((dhi == dlo) & ~even_lower)
    r = np.where(pick_upper, upper, lower)
    return ((r | sign) >> np.uint32(16)).astype(np.uint16)


@njit(nogil=True)
def _count_mismatches(start, stop, first):
    """Mismatches of ``integer_rounding`` and ``nearest_even`` over bit patterns
    ``[start, stop)`` (finite float32 only), the same two computations per element
    as the numpy functions above, compiled so that 2**32 inputs take minutes."""
    n = 0
    for v in range(start, stop):
        u = np.uint32(v)
        if u & np.uint32(0x7F800000) == np.uint32(0x7F800000):
            continue
        lsb = (u >> np.uint32(16)) & np.uint32(1)
        got = (u + np.uint32(0x7FFF) + lsb) >> np.uint32(16)
        sign = u & np.uint32(0x80000000)
        mag = u & np.uint32(0x7FFFFFFF)
        lower = mag & np.uint32(0xFFFF0000)
        upper = lower + np.uint32(0x10000)
        x = np.float64(_as_f32(mag))
        lo = np.float64(_as_f32(lower))
        hi = 2.0 ** 128 if upper == np.uint32(0x7F800000) else np.float64(_as_f32(upper))
        dlo, dhi = x - lo, hi - x
        if dhi < dlo or (dhi == dlo and (lower & np.uint32(0x10000)) != 0):
            want = (upper | sign) >> np.uint32(16)
        else:
            want = (lower | sign) >> np.uint32(16)
        if got != want:
            if n < first.size:
                first[n] = u
            n += 1
    return n


@intrinsic
def _as_f32(typingctx, u):
    """The float32 whose bits are the uint32 ``u`` (a bit cast)."""
    sig = types.float32(types.uint32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


def check(u):
    """Bit patterns of ``u`` (finite only are compared) where the two disagree."""
    u = u[(u & np.uint32(0x7F800000)) != np.uint32(0x7F800000)]
    bad = integer_rounding(u) != nearest_even(u)
    return u[bad]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunk-bits", type=int, default=28)
    args = ap.parse_args(argv)
    step = 1 << args.chunk_bits
    t0 = time.perf_counter()
    bad = 0
    first = np.zeros(5, np.uint32)
    for start in range(0, 1 << 32, step):
        k = _count_mismatches(start, start + step, first)
        if k:
            bad += k
            print(f"MISMATCH: {k} in [{start:#x}, {start + step:#x}), first {first[:min(k, 5)]!r}")
    print(f"{'all finite float32 agree' if not bad else f'{bad} mismatches'}: {time.perf_counter() - t0:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
