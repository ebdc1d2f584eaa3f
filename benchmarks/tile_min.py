"""Per-thread rates of CPU fill kernels on a host other processes are loading.

``tile_rates.py`` times calls of 2**16 elements x reps (tens of milliseconds): on a shared
host most such calls are preempted and its best round measures the host's load. This times
many single calls of 2**14 elements (10-50 microseconds, most inside one scheduler slice),
kernel after kernel, and reports each kernel's fastest call and 5th percentile, in G
elements/s on one thread (same kernels and arguments as ``tile_rates.py``). For an A/B of two
checkouts, run it as alternating processes (each checkout compiles into its own cache first):

    PYTHONPATH=/path/to/a python benchmarks/tile_min.py A      # then B, A, B, ...
    python benchmarks/tile_min.py B --rows "trunc_central float32" "normal float32" --calls 400

2026-12-01, AMD EPYC Zen 5 (2 cores shared with other agents, load 10.4-10.7), at 2d761ff and
6d64f4e alternately, three runs each (BENCHMARKS.md, "FMA polynomials"): trunc_central
float32 1.155-1.203 -> 1.385-1.434, normal float32 (unchanged code) 2.18-2.30 both.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tile_rates as T  # noqa: E402


DEFAULT_ROWS = ("normal float32", "trunc_normal float32", "trunc_central float32", "trunc_central bfloat16")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("label", help="printed first on the output line (e.g. the checkout)")
    ap.add_argument("--rows", nargs="*", default=DEFAULT_ROWS, help="'sampler dtype' rows of tile_rates.CASES")
    ap.add_argument("--calls", type=int, default=400, help="rounds of 5 calls per kernel")
    args = ap.parse_args(argv)
    n = 1 << 14
    calls = {f"{name} {dname}": c for (name, dname), c in T.kernel_calls(n, 1, set(args.rows)).items()}
    times = {k: [] for k in calls}
    clock = time.perf_counter_ns
    for _ in range(args.calls):
        for k, c in calls.items():
            for _ in range(5):
                t = clock()
                c()
                times[k].append(clock() - t)
    print(args.label, " | ".join(f"{k}: min {n / min(v):.3f} p5 {n / np.percentile(v, 5):.3f}"
                                 for k, v in times.items()))


if __name__ == "__main__":
    main()
