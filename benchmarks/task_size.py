"""Elements/s of the 1 GiB fills for several thread-pool task sizes (``fill.TASK``).

Each task of the CPU driver (``fastinit.cpu.fill.run_tiles``) costs some Python
and a hand-over between threads; this times the parallel fill reference,
``uniform_`` and ``normal_`` on 2**28 float32 elements for each cap on the task
size, interleaved round by round (best of ``--rounds``).

    python benchmarks/task_size.py            # tasks of 2**20, 2**22, 2**24, 2**26 elements

2026-11-23, the 2-core Zen 3 session machine, two runs: 2**20: uniform 2.31, 2.29,
normal 1.41, 1.42; 2**22: 2.39, 2.37 / 1.45, 1.45; 2**24: 2.42, 2.41 / 1.46, 1.46;
2**26: 2.43, 2.44 / 1.47, 1.46 G elements/s. ``fill.TASK`` is 2**24 since.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import fastinit as fi
from fastinit.bench import parallel_fill
from fastinit.cpu import fill as F


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log2n", type=int, default=28)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tasks", default="20,22,24,26", help="log2 of the task sizes to try")
    args = ap.parse_args(argv)
    out = np.empty(((1 << args.log2n) >> 12, 1 << 12), np.float32)
    sizes = [1 << int(k) for k in args.tasks.split(",")]
    calls = {"fill": lambda: parallel_fill(out), "uniform": lambda: fi.uniform_(out, seed=1),
             "normal": lambda: fi.normal_(out, seed=1)}
    best = {}
    saved = F.TASK
    try:
        for _ in range(args.rounds):
            for task in sizes:
                F.TASK = task
                for name, f in calls.items():
                    f()
                    t = time.perf_counter()
                    f()
                    best[task, name] = min(best.get((task, name), np.inf), time.perf_counter() - t)
    finally:
        F.TASK = saved
    print(f"{out.size:,} float32 elements, best of {args.rounds} interleaved rounds (G elements/s)")
    for task in sizes:
        print(f"TASK 2**{task.bit_length() - 1}: " + "  ".join(
            f"{name} {out.size / best[task, name] / 1e9:.2f}" for name in calls))


if __name__ == "__main__":
    main()
