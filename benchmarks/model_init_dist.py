"""Sharded whole-model init: 2 gloo ranks each holding half of every parameter
(FSDP2 ``fully_shard``, Shard(0)) of a Llama-shaped model vs one process holding
all of it, both ``torch.device("meta")`` + ``fastinit.torch.materialize``.

    python benchmarks/model_init_dist.py                    # --scale 0.5: 0.235B parameters, 0.88 GiB
    python benchmarks/model_init_dist.py --scale 1          # issue #16's 0.94B model (16 layers,
                                                            # hidden 2048, MLP 5504, vocab 32000)
    python benchmarks/model_init_dist.py --concurrent --pair-check   # ranks at the same time, and
                                                            # what two processes at once cost here
    python benchmarks/model_init_dist.py --scale 0.1 --rounds 1   # smoke

``--scale s`` multiplies hidden, MLP and vocab sizes by ``s`` (rounded to multiples of
64; parameters ~ s**2); the layer count stays 16 unless ``--layers`` says otherwise.

Each path runs in fresh subprocesses (every byte freshly mapped, as in a real job);
the paths alternate round by round (odd rounds reversed). Every process gets the
same resources, ``--threads`` Numba/torch threads (default 1) pinned to its own cores
(rank r on cores r*threads.., the single process on the first ``threads`` cores):
the model of a deployment where each rank has its own device; for the same reason
the ranks' timed parts run one after the other by default (rank 1 waits at a gloo
barrier until rank 0 is done), so that each rank, like the single process, has the
machine to itself (``--concurrent``: both at once, sharing it). Inside each process
fastinit's kernels are loaded first on a tiny model (Numba's disk cache) and the
ranks meet at a barrier; then the timed part: the meta construction, ``fully_shard``
of every block, the embedding, the head and the root (ranks only), and
``materialize(model, "cpu", seed=0)`` (allocation of the local shards, bulk
populate, the fills). Printed per round: the single process's time, each rank's,
and the ratio of the slower rank to the single process (issue #16's target:
<= 0.6x), for ``materialize`` alone and for the whole timed part, with each
process's peak-RSS growth (a rank must hold half the model, never all of it), and
``reset_parameters`` run again on the now touched memory ("refill": the fills alone,
without page faults).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BASE = {"layers": 16, "hidden": 2048, "mlp": 5504, "vocab": 32000}


def config(scale, layers):
    def r64(n):
        return max(64, int(round(n * scale / 64)) * 64)
    return {"layers": layers, "hidden": r64(BASE["hidden"]), "mlp": r64(BASE["mlp"]), "vocab": r64(BASE["vocab"])}


from model_init import build  # noqa: E402  (the same Llama-shaped model; this script's folder is on sys.path)


def n_params(cfg):
    h, f, v, n = cfg["hidden"], cfg["mlp"], cfg["vocab"], cfg["layers"]
    return n * (4 * h * h + 3 * h * f + 2 * h) + 2 * v * h + h


def _rss():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _pin(first, threads):
    cores = sorted(os.sched_getaffinity(0))
    want = {cores[(first + i) % len(cores)] for i in range(threads)}
    os.sched_setaffinity(0, want)


def child(mode, cfg, threads, rank, port, sequential):
    import torch
    torch.set_num_threads(threads)
    import fastinit.torch as ft

    dist = None
    if mode == "rank":
        import torch.distributed as dist
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
        mesh = init_device_mesh("cpu", (2,))

    def shard(m):
        if mode == "rank":
            for blk in m.layers:
                fully_shard(blk, mesh=mesh)
            fully_shard(m.embed, mesh=mesh)
            fully_shard(m.lm_head, mesh=mesh)
            fully_shard(m, mesh=mesh)
        return m

    with torch.device("meta"):  # warm-up: kernels from the disk cache, the FSDP2 code paths
        tiny = build({"layers": 1, "hidden": 64, "mlp": 64, "vocab": 64})
    ft.materialize(shard(tiny), "cpu", seed=0)
    del tiny
    if dist is not None:
        dist.barrier()
        if sequential and rank == 1:
            dist.barrier()  # wait until rank 0 is done: each rank's timed part runs alone
    base = _rss()
    t0 = time.perf_counter()
    with torch.device("meta"):
        m = build(cfg)
    shard(m)
    t1 = time.perf_counter()
    ft.materialize(m, "cpu", seed=0)
    t2 = time.perf_counter()
    ft.reset_parameters(m, seed=0)  # again, on touched memory: the fills alone, no page faults
    t3 = time.perf_counter()
    local = sum((p.to_local() if hasattr(p, "to_local") else p).numel() for p in m.parameters())
    out = {"mode": mode, "rank": rank, "materialize": t2 - t1, "total": t2 - t0, "refill": t3 - t2,
           "local_params": local, "rss_growth": _rss() - base}
    if dist is not None:
        if sequential and rank == 0:
            dist.barrier()  # rank 1 starts now
        dist.barrier()
        dist.destroy_process_group()
    print(json.dumps(out), flush=True)


def pair_child(core, n, threads):
    """Touched float32 array of ``n`` elements, ``kaiming_uniform_`` on it 3 times; prints the best time."""
    import numpy as np
    import fastinit
    a = np.zeros(n, np.float32).reshape(-1, 1024)
    fastinit.kaiming_uniform_(a[:1], seed=0)  # kernel from the disk cache
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fastinit.kaiming_uniform_(a, seed=0)
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"seconds": best}), flush=True)


def pair_check(cfg, threads):
    """The machine alone: one process filling half the model's elements vs two such
    processes at the same time on their own cores (no torch.distributed, no DTensor)."""
    n = (n_params(cfg) // 2 + 1023) // 1024 * 1024
    alone = _collect([_spawn("pair", {"n": n}, threads)])[0]["seconds"]
    both = [x["seconds"] for x in _collect([_spawn("pair", {"n": n}, threads, rank=r) for r in range(2)])]
    return alone, both


def _spawn(mode, cfg, threads, rank=0, port=0, sequential=False):
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", mode, "--cfg", json.dumps(cfg),
                             "--threads", str(threads), "--rank", str(rank), "--port", str(port)]
                            + ([] if sequential else ["--concurrent"]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _collect(procs):
    outs = []
    for p in procs:
        so, se = p.communicate()
        if p.returncode:
            raise RuntimeError(f"child failed:\n{se[-3000:]}")
        outs.append(json.loads(so.strip().splitlines()[-1]))
    return outs


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_single(cfg, threads):
    return _collect([_spawn("single", cfg, threads)])[0]


def run_ranks(cfg, threads, sequential):
    port = _free_port()
    return _collect([_spawn("rank", cfg, threads, rank=r, port=port, sequential=sequential) for r in range(2)])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.5, help="width multiplier of issue #16's model (default 0.5)")
    ap.add_argument("--layers", type=int, default=BASE["layers"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="threads per process (each rank and the single one)")
    ap.add_argument("--concurrent", action="store_true",
                    help="the ranks' timed parts at the same time (default: one after the other, each alone on the "
                         "machine like the single process, as if each rank had its own device)")
    ap.add_argument("--pair-check", action="store_true",
                    help="also time one process filling half the model's elements alone vs two at the same time "
                         "(what running the ranks concurrently costs on this machine, without torch.distributed)")
    ap.add_argument("--child")
    ap.add_argument("--cfg")
    ap.add_argument("--rank", type=int, default=0)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args(argv)
    if a.child:
        _pin(a.rank * a.threads, a.threads)
        if a.child == "pair":
            return pair_child(a.rank, json.loads(a.cfg)["n"], a.threads)
        return child(a.child, json.loads(a.cfg), a.threads, a.rank, a.port, not a.concurrent)
    if a.scale <= 0 or a.layers < 1 or a.rounds < 1 or a.threads < 1:
        ap.error("--scale must be > 0 and --layers, --rounds, --threads >= 1")
    cfg = config(a.scale, a.layers)
    n = n_params(cfg)
    print(f"model {cfg}: {n / 1e9:.3f} B parameters, {4 * n / 2**30:.2f} GiB float32; "
          f"{a.threads} thread(s) per process, {len(os.sched_getaffinity(0))} cores, ranks "
          + ("at the same time" if a.concurrent else "one at a time"))
    print(f"{'round':>5} {'single s':>9} {'rank0 s':>8} {'rank1 s':>8} {'ratio':>6} | "
          f"{'single tot':>10} {'rank tot':>8} {'ratio':>6} | {'refill 1':>8} {'refill r':>8} {'ratio':>6} | "
          f"{'RSS single':>10} {'RSS rank':>9}")
    ratios, tot_ratios, re_ratios, best = [], [], [], {"single": [], "rank": []}
    for r in range(a.rounds):
        order = ("single", "ranks") if r % 2 == 0 else ("ranks", "single")
        res = {}
        for what in order:
            res[what] = run_single(cfg, a.threads) if what == "single" else run_ranks(cfg, a.threads, not a.concurrent)
        s, ranks = res["single"], res["ranks"]
        assert s["local_params"] == n and sum(x["local_params"] for x in ranks) == n
        ratio = max(x["materialize"] for x in ranks) / s["materialize"]
        tot = max(x["total"] for x in ranks) / s["total"]
        re = max(x["refill"] for x in ranks) / s["refill"]
        best["single"].append(s["materialize"])
        best["rank"].append(max(x["materialize"] for x in ranks))
        ratios.append(ratio)
        tot_ratios.append(tot)
        re_ratios.append(re)
        print(f"{r:>5} {s['materialize']:>9.3f} {ranks[0]['materialize']:>8.3f} {ranks[1]['materialize']:>8.3f} "
              f"{ratio:>6.3f} | {s['total']:>10.3f} {max(x['total'] for x in ranks):>8.3f} {tot:>6.3f} | "
              f"{s['refill']:>8.3f} {max(x['refill'] for x in ranks):>8.3f} {re:>6.3f} | "
              f"{s['rss_growth'] / 2**20:>8.0f} M {max(x['rss_growth'] for x in ranks) / 2**20:>7.0f} M",
              flush=True)
    if a.pair_check:
        alone, both = pair_check(cfg, a.threads)
        print(f"pair check: kaiming_uniform_ on {n // 2 / 1e6:.0f} M touched float32 elements, best of 3: alone "
              f"{alone:.3f} s, two processes at once {both[0]:.3f} s and {both[1]:.3f} s "
              f"({max(both) / alone:.2f}x)")
    print(f"best of {a.rounds} rounds: single {min(best['single']):.3f} s, slower rank {min(best['rank']):.3f} s "
          f"({min(best['rank']) / min(best['single']):.3f}x)")
    print(f"median slower-rank / single: materialize {statistics.median(ratios):.3f}, "
          f"meta build + fully_shard + materialize {statistics.median(tot_ratios):.3f} (target <= 0.6); "
          f"refill on touched memory {statistics.median(re_ratios):.3f}")


if __name__ == "__main__":
    main()
