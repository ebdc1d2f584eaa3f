"""Elements/s of the parallel fills for several thread-pool splits: the cap on a
task's size (``runtime.TASK``) and the tasks per thread below it (``runtime.PER_THREAD``).

Each task of the CPU driver (``fastinit.cpu.runtime.run_tiles``) costs some Python
and a hand-over between threads; this times the parallel fill reference,
``uniform_`` and ``normal_`` on float32 for each split, interleaved round by
round (best of ``--rounds``).

    python benchmarks/task_size.py                          # 1 GiB, tasks of 2**20 .. 2**26
    python benchmarks/task_size.py --log2n 20 --tasks 24 --per-thread 4,1

2026-11-23, the 2-core Zen 3 session machine. TASK (1 GiB, 4 tasks per thread
then), two runs: 2**20: uniform 2.31, 2.29, normal 1.41, 1.42; 2**22: 2.39, 2.37 /
1.45, 1.45; 2**24: 2.42, 2.41 / 1.46, 1.46; 2**26: 2.43, 2.44 / 1.47, 1.46 G
elements/s: TASK is 2**24 since. Tasks per thread 4 -> 1 (best of 9, measured with
the same split patched in): 2**20 elements uniform 1.45 -> 1.68, normal 0.99 ->
1.08; 2**23: 1.98 -> 2.03, 1.22 -> 1.23; 2**26: 2.16 -> 2.18, 1.29 -> 1.32. With
this script (``--log2n 20 --tasks 24 --per-thread 4,1 --rounds 9``): fill 3.67 ->
5.62, uniform 1.64 -> 1.88, normal 1.15 -> 1.25 (then with an untimed call before each
timed one; since, through ``bench.interleaved``: one warm-up, rounds in alternating
order). Same command, two runs with the shared loop late on 2026-11-23: fill 3.19, 3.09
-> 4.53, 4.04; uniform 1.25, 1.23 -> 1.54, 1.47; normal 0.90, 0.87 -> 1.01, 0.95 (the old
loop in the same minutes: 2.08 -> 4.07, 1.16 -> 1.38, 0.83 -> 0.94; the host ran slower
than in the morning).
"""
from __future__ import annotations

import argparse

import numpy as np

import fastinit as fi
from fastinit.bench import interleaved, parallel_fill
from fastinit.cpu import runtime as R


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log2n", type=int, default=28)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tasks", default="20,22,24,26", help="log2 of the task sizes to try")
    ap.add_argument("--per-thread", default="1", help="tasks per thread to try")
    args = ap.parse_args(argv)
    out = np.empty(((1 << args.log2n) >> 12, 1 << 12), np.float32)
    splits = [(1 << int(k), int(p)) for k in args.tasks.split(",") for p in args.per_thread.split(",")]
    calls = {"fill": lambda: parallel_fill(out), "uniform": lambda: fi.uniform_(out, seed=1),
             "normal": lambda: fi.normal_(out, seed=1)}
    def with_split(split, f):
        def call():
            R.TASK, R.PER_THREAD = split
            f()
        return call
    timed = {(split, name): with_split(split, f) for split in splits for name, f in calls.items()}
    saved = R.TASK, R.PER_THREAD
    try:
        for f in timed.values():  # warm-up: JIT, page faults, thread pool
            f()
        best = interleaved(timed, args.rounds)
    finally:
        R.TASK, R.PER_THREAD = saved
    print(f"{out.size:,} float32 elements, best of {args.rounds} interleaved rounds (G elements/s)")
    for split in splits:
        task, per = split
        print(f"TASK 2**{task.bit_length() - 1}, {per} per thread: " + "  ".join(
            f"{name} {out.size / best[split, name] / 1e9:.3g}" for name in calls))


if __name__ == "__main__":
    main()
