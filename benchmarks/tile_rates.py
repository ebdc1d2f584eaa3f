"""Per-thread speed of the CPU fill kernels on an L1/L2-resident output.

For kernel work: calls the compiled ``fill_rows`` of each (sampler, dtype) on one
thread, 2**16 elements at a time (256 KiB of float32: no memory-bandwidth limit),
interleaving the kernels round by round (alternating their order) and keeping each
one's best round, so a slow minute of a noisy host hits all of them alike; the last
column is the median over rounds of each row's rate over its sampler's float32 rate
in the same round. Compare rows of one run only.

    python benchmarks/tile_rates.py            # or: --log2n 14 --rounds 9
    python benchmarks/tile_rates.py --clock    # the core's clock, to turn rates into cycles
    python benchmarks/tile_rates.py --rounding # the 16-bit rounding pass alone, cycles/value

2026-11-23, the 2-core Zen 3 session machine, best of two runs each, this script
at 99ac678 / at cae4d10 (before the planar tile and hoisted constants): normal
float32 0.578 / 0.454, bfloat16 0.556 / 0.446, float16 0.559 / 0.455,
trunc_normal float32 0.285 / 0.224, bfloat16 0.272 / 0.217, uniform float32
1.158 / 1.158, raw bits 1.056 / 1.056 G elements/s per thread.

``trunc_central`` is the truncated normal on [-2, 2] as ``trunc_normal_`` runs
it (``TRUNC_NORMAL_CENTRAL``: the host proved the tail polynomial is never
selected); the ``trunc_normal`` rows force the two-polynomial sampler that wider
intervals use. For 16-bit vs float32 at full size, see ``dtype_parity.py``.
"""
from __future__ import annotations

import argparse
import functools
import time

import numba
import numpy as np
from numba import njit, types

import fastinit as fi
from fastinit import distributions as D
from fastinit.bench import interleaved, interleaved_times, median_ratio
from fastinit.cpu import fill as F
from fastinit.cpu import runtime as R

# Phi(-2), 1 - Phi(-2), Phi(2) - Phi(-2): trunc_normal on [-2, 2], as init.py prepares it
_TRUNC = (0.022750131948179195, 0.9772498680518208, 0.9544997361036416, 0.0, 1.0, -2.0, 2.0)
CASES = [
    ("uniform", D.UNIFORM, D.KIND_F32, (0.0, 1.0)),
    ("uniform", D.UNIFORM, D.KIND_BF16, (0.0, 1.0)),
    ("uniform", D.UNIFORM, D.KIND_F16, (0.0, 1.0)),
    ("normal", D.NORMAL, D.KIND_F32, (0.0, 1.0)),
    ("normal", D.NORMAL, D.KIND_BF16, (0.0, 1.0)),
    ("normal", D.NORMAL, D.KIND_F16, (0.0, 1.0)),
    ("trunc_normal", D.TRUNC_NORMAL, D.KIND_F32, _TRUNC),
    ("trunc_normal", D.TRUNC_NORMAL, D.KIND_BF16, _TRUNC),
    ("trunc_normal", D.TRUNC_NORMAL, D.KIND_F16, _TRUNC),
    ("trunc_central", D.TRUNC_NORMAL_CENTRAL, D.KIND_F32, _TRUNC),
    ("trunc_central", D.TRUNC_NORMAL_CENTRAL, D.KIND_BF16, _TRUNC),
    ("trunc_central", D.TRUNC_NORMAL_CENTRAL, D.KIND_F16, _TRUNC),
    ("raw bits", D.BITS, D.KIND_U32, ()),
]
_DTYPE = {D.KIND_F32: (np.float32, "float32"), D.KIND_BF16: (np.uint16, "bfloat16"),
          D.KIND_F16: (np.uint16, "float16"), D.KIND_U32: (np.uint32, "uint32")}


@njit
def _chain(n, x):
    s = 0.0
    for _ in range(n):
        s = s * x + 1.0  # one dependent mul (3 cycles) + add (3 cycles): no FMA without fastmath
    return s


def _round_reps(kind):
    # kind a constant of the closure: a literal to ``_round_tile`` without
    # ``numba.literally``'s per-call re-dispatch (it doubled the figure)
    @njit
    def reps_(vals, out, reps):
        for _ in range(reps):
            F._round_tile(out, vals, vals.size, kind)
    return reps_


@njit
def _copy_reps(vals, out, reps):
    for _ in range(reps):
        for i in range(vals.size):
            out[i] = vals[i]


def rounding_cycles(ghz, reps=200_000):
    """Cycles per value of ``fill._round_tile`` (float32 tile -> 16-bit output, the
    pass ``_body_staged`` adds for 16-bit truncated normals) on one L1-resident
    tile, and of a float32 tile copy, at ``ghz``. 2026-11-23, Zen 3: float16
    0.25 (one ``vcvtps2ph ymm`` per 2 cycles), bfloat16 0.27, copy 0.125."""
    vals = np.random.default_rng(0).standard_normal(4 * F.TILE).astype(np.float32)
    o16, o32 = np.empty(vals.size, np.uint16), np.empty_like(vals)
    f16, bf16 = _round_reps(D.KIND_F16), _round_reps(D.KIND_BF16)
    calls = {"float16": lambda r: f16(vals, o16, r), "bfloat16": lambda r: bf16(vals, o16, r),
             "float32 copy": lambda r: _copy_reps(vals, o32, r)}
    for call in calls.values():
        call(1)  # compile
    best = interleaved({k: functools.partial(c, reps) for k, c in calls.items()}, 3)
    return {k: t * ghz * 1e9 / (reps * vals.size) for k, t in best.items()}


def clock_ghz(n=300_000_000):
    """The core's clock from a dependent float64 mul+add chain (6 cycles a step on
    Zen 3): 3.2 GHz on the session machine, 2026-11-23."""
    _chain(10, 0.5)
    t = time.perf_counter()
    _chain(n, 0.999999)
    return 6 * n / (time.perf_counter() - t) / 1e9


def kernel_calls(n, reps, rows=None):
    """``{(sampler, dtype): call}``: each call runs the fill kernel ``reps`` times over one
    row of ``n`` elements (regular stores: the tile stays L1-resident), compiled or loaded
    and run once already; ``rows`` (``"sampler dtype"`` strings) keeps only those cases."""
    starts = np.zeros(1, np.uint64)
    k0, k1, s0, s1 = fi._stream.key_words(1, 0)
    calls = {}
    for name, dist, kind, prm in CASES:
        dt, dname = _DTYPE[kind]
        if rows is not None and f"{name} {dname}" not in rows:
            continue
        out = np.empty((1, n), dt)
        prm = tuple(float(p) for p in prm) + (0.0,) * (8 - len(prm))
        sig = (numba.typeof(out), numba.typeof(starts)) + F._FILL_SCALARS + (
            types.literal(dist), types.literal(kind))
        kern = R.specialize(F.fill_rows, sig)

        def call(kern=kern, out=out, prm=prm, dist=dist, kind=kind):
            for _ in range(reps):
                kern(out, starts, 0, 1, 0, n, k0, k1, s0, s1, prm, 0, dist, kind)
        call()  # output into the cache
        calls[name, dname] = call
    return calls


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log2n", type=int, default=16, help="elements per call, as a power of 2")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--clock", action="store_true", help="print the clock estimate and exit")
    ap.add_argument("--rounding", action="store_true",
                    help="print the 16-bit rounding pass's cycles per value and exit")
    args = ap.parse_args(argv)
    if args.clock:
        print(f"{clock_ghz():.2f} GHz (dependent mul+add chain, 6 cycles a step)")
        return
    if args.rounding:
        ghz = clock_ghz()
        print(f"one L1-resident tile of {4 * F.TILE} values, at {ghz:.2f} GHz (cycles per value):")
        for label, c in rounding_cycles(ghz).items():
            print(f"  {label:24s} {c:6.3f}")
        return
    n = 1 << args.log2n
    reps = max(1, (300 << 14) // n)
    calls = kernel_calls(n, reps)
    times = interleaved_times(calls, args.rounds)
    print(f"one thread, {n} elements per call, best of {args.rounds} rounds (G elements/s), and the "
          "median of the per-round ratios to the sampler's float32 row:")
    for name, dname in calls:
        ref = (name, "float32")
        med = f"{median_ratio(times, ref, (name, dname)):6.3f}" if ref in calls else "     -"
        print(f"  {name + ' ' + dname:24s} {n * reps / min(times[name, dname]) / 1e9:6.3f} {med}")


if __name__ == "__main__":
    main()
