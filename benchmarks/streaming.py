"""Streaming (non-temporal) stores: where they pay, and what the kernels reach with them.

``--threshold``: for output sizes from 256 KiB to 256 MiB, a fill written with
regular stores vs streaming stores (``fastinit.cpu.runtime.STREAM_BYTES`` and
``STREAM_WRITE_ONLY_BYTES`` switched per call), each followed by the next op's read of the output (a parallel sum):
regular stores leave a small output in cache for that read, streaming stores
do not read the lines first. Printed per size: the median over interleaved
rounds of (regular time / streamed time) for the fill alone and for fill +
read. The threshold belongs where fill + read turns > 1.

``--limits`` (default): 1 GiB per call, interleaved rounds: the write-bandwidth
references (regular-store and streaming-store parallel fills), ``constant_``,
``random_bits``-style raw words, uniform bfloat16 and uniform/normal float32
with streaming on and off (the same bits), and torch's ``fill_``.

    python benchmarks/streaming.py --threshold
    python benchmarks/streaming.py --limits --size 268435456 --rounds 7
"""
from __future__ import annotations

import argparse
import functools

import numba
import numpy as np
from numba import njit

import fastinit as fi
from fastinit import bench
from fastinit import distributions as D
from fastinit._stream import key_words
from fastinit.cpu import fill as F
from fastinit.cpu import runtime as R


@njit(nogil=True, cache=True, fastmath=True)
def _sum_range(a, lo, hi):
    s = np.float32(0)
    v = a[lo:hi]
    for i in range(v.size):
        s += v[i]
    return s


def parallel_sum(a):
    """The next op: one parallel read of ``a`` (float32)."""
    R.run_tiles(lambda r0, r1, c0, c1: _sum_range(a, c0, c1), 1, a.size)


def with_stream(on, fn):
    """``fn`` with every output streamed (on) or none (off)."""
    def call():
        old = R.STREAM_BYTES, R.STREAM_WRITE_ONLY_BYTES
        R.STREAM_BYTES = R.STREAM_WRITE_ONLY_BYTES = 0 if on else None
        try:
            fn()
        finally:
            R.STREAM_BYTES, R.STREAM_WRITE_ONLY_BYTES = old
    return call


def threshold(rounds):
    print(f"threads {numba.get_num_threads()}; median over {rounds} interleaved rounds of regular time / "
          "streamed time (> 1: streaming faster)")
    print("| output | op | fill alone | fill + next op's read |")
    print("|---:|---|---:|---:|")
    for k in range(18, 29):
        n = (1 << k) // 4
        a = np.ones(n, np.float32)
        ops = {"constant": lambda: fi.constant_(a, 0.5), "uniform": lambda: fi.uniform_(a, seed=1)}
        for name, op in ops.items():
            calls = {}
            for on in (False, True):
                f = with_stream(on, op)
                calls["fill", on] = f
                calls["fill+read", on] = (lambda f=f: (f(), parallel_sum(a)))
            for f in calls.values():
                f()
            reps = max(rounds, min(400, (1 << 30) // (n * 4)))
            t = bench.interleaved_times(calls, reps)
            r1 = bench.median_ratio(t, ("fill", False), ("fill", True))
            r2 = bench.median_ratio(t, ("fill+read", False), ("fill+read", True))
            print(f"| {n * 4 >> 10} KiB | {name} | {r1:.2f} | {r2:.2f} |", flush=True)


def limits(n, rounds):
    torch = bench._torch()
    if torch is not None:
        torch.set_num_threads(numba.get_num_threads())
    a = np.empty(n, np.float32)
    b16 = np.empty(n, np.uint16)
    u32 = np.empty(n, np.uint32)
    starts = np.zeros(1, np.uint64)
    words = key_words(1, 0)
    calls = {
        "regular-store fill (reference)": functools.partial(bench.parallel_fill, a),
        "streaming fill (reference)": functools.partial(bench.stream_fill, a),
        "streaming copy 1R1W (reference)": functools.partial(bench.stream_streams, [u32], [a]),
        "constant_ float32 (default: streams from 64 MiB)": lambda: fi.constant_(a, 0.5),
        "constant_ float32, regular stores": with_stream(False, lambda: fi.constant_(a, 0.5)),
    }
    fills = {
        "raw bits uint32": lambda: F.fill(u32.reshape(1, -1), starts, words, (), D.BITS, D.KIND_U32),
        "uniform bfloat16": lambda: F.fill(b16.reshape(1, -1), starts, words, (0.0, 1.0), D.UNIFORM, D.KIND_BF16),
        "uniform float32": lambda: fi.uniform_(a, seed=1),
        "normal float32": lambda: fi.normal_(a, seed=1),
    }
    for k, f in fills.items():
        calls[k + ", streaming stores"] = with_stream(True, f)
        calls[k + ", regular stores"] = with_stream(False, f)
    if torch is not None:
        t = torch.from_numpy(a)
        calls["torch fill_ float32"] = lambda: t.fill_(0.5)
    for f in calls.values():
        f()
    times = bench.interleaved_times(calls, rounds)
    ref = "streaming fill (reference)"
    print(f"{n:,} elements ({n * 4 / 2**30:.2f} GiB float32), {numba.get_num_threads()} threads, "
          f"best of {rounds} interleaved rounds; ratios: median per round")
    print("| call | G el/s | GB/s written | vs streaming fill | vs regular fill |")
    print("|---|---:|---:|---:|---:|")
    for k, ts in times.items():
        best = min(ts)
        item = 2 if "bfloat16" in k else 4
        gbs = n * item / best / 1e9
        print(f"| {k} | {n / best / 1e9:.2f} | {gbs:.1f} | {bench.median_ratio(times, ref, k):.2f} | "
              f"{bench.median_ratio(times, 'regular-store fill (reference)', k):.2f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threshold", action="store_true")
    p.add_argument("--limits", action="store_true")
    p.add_argument("--size", type=int, default=1 << 28)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    if args.threshold:
        threshold(args.rounds)
    if args.limits or not args.threshold:
        limits(args.size, args.rounds)


if __name__ == "__main__":
    main()
