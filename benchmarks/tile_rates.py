"""Per-thread speed of the CPU fill kernels on an L1/L2-resident output.

For kernel work: calls the compiled ``fill_rows`` of each (sampler, dtype) on one
thread, 2**16 elements at a time (256 KiB of float32: no memory-bandwidth limit),
interleaving the kernels round by round and keeping each one's best round, so a
slow minute of a noisy host hits all of them alike. Compare rows of one run only.

    python benchmarks/tile_rates.py            # or: --log2n 14 --rounds 9

2026-11-23, the 2-core Zen 3 session machine, after the planar tile and hoisted
constants: normal float32 0.57, bfloat16 0.55, float16 0.55, trunc_normal float32
0.29, bfloat16 0.27, uniform bfloat16 1.12 G elements/s per thread (before:
normal 0.45 / 0.44 / 0.45, trunc_normal 0.22 / 0.21 at cae4d10, the same method).
"""
from __future__ import annotations

import argparse
import time

import numba
import numpy as np
from numba import types

import fastinit as fi
from fastinit import distributions as D
from fastinit.cpu import fill as F

# Phi(-2), 1 - Phi(-2), Phi(2) - Phi(-2): trunc_normal on [-2, 2], as init.py prepares it
_TRUNC = (0.022750131948179195, 0.9772498680518208, 0.9544997361036416, 0.0, 1.0, -2.0, 2.0)
CASES = [
    ("uniform", D.UNIFORM, D.KIND_F32, (0.0, 1.0)),
    ("uniform", D.UNIFORM, D.KIND_BF16, (0.0, 1.0)),
    ("normal", D.NORMAL, D.KIND_F32, (0.0, 1.0)),
    ("normal", D.NORMAL, D.KIND_BF16, (0.0, 1.0)),
    ("normal", D.NORMAL, D.KIND_F16, (0.0, 1.0)),
    ("trunc_normal", D.TRUNC_NORMAL, D.KIND_F32, _TRUNC),
    ("trunc_normal", D.TRUNC_NORMAL, D.KIND_BF16, _TRUNC),
    ("raw bits", D.BITS, D.KIND_U32, ()),
]
_DTYPE = {D.KIND_F32: (np.float32, "float32"), D.KIND_BF16: (np.uint16, "bfloat16"),
          D.KIND_F16: (np.uint16, "float16"), D.KIND_U32: (np.uint32, "uint32")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log2n", type=int, default=16, help="elements per call, as a power of 2")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    n = 1 << args.log2n
    reps = max(1, (300 << 14) // n)
    starts = np.zeros(1, np.uint64)
    k0, k1, s0, s1 = fi._stream.key_words(1, 0)
    calls = []
    for name, dist, kind, prm in CASES:
        dt, dname = _DTYPE[kind]
        out = np.empty((1, n), dt)
        prm = tuple(float(p) for p in prm) + (0.0,) * (8 - len(prm))
        sig = (numba.typeof(out), numba.typeof(starts)) + F._FILL_SCALARS + (
            types.literal(dist), types.literal(kind))
        kern = F.specialize(F.fill_rows, sig)

        def call(kern=kern, out=out, prm=prm, dist=dist, kind=kind):
            kern(out, starts, 0, 1, 0, n, k0, k1, s0, s1, prm, dist, kind)
        calls.append((f"{name} {dname}", call))
    best = dict.fromkeys(label for label, _ in calls)
    for _ in range(args.rounds):
        for label, call in calls:
            call()
            t = time.perf_counter()
            for _ in range(reps):
                call()
            rate = n * reps / (time.perf_counter() - t) / 1e9
            best[label] = max(best[label] or 0.0, rate)
    print(f"one thread, {n} elements per call, best of {args.rounds} rounds (G elements/s):")
    for label, rate in best.items():
        print(f"  {label:24s} {rate:6.3f}")


if __name__ == "__main__":
    main()
