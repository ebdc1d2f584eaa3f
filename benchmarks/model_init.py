"""Whole-model init: a Llama-shaped ~1B-parameter model, torch's construction vs
``torch.device("meta")`` construction + ``fastinit.torch.materialize``, against the
physical limit of a fresh process (a parallel first touch of as many freshly
allocated bytes), with the peak RSS of the fastinit path and a cold first run.

    python benchmarks/model_init.py                       # 16 layers, hidden 2048, MLP 5504, vocab 32000
    python benchmarks/model_init.py --rounds 3 --thp      # + a THP_MEM_ALLOC_ENABLE=1 variant of each path
    python benchmarks/model_init.py --layers 2 --hidden 256 --mlp 688 --vocab 4000 --rounds 1   # smoke

Every path runs in its own fresh subprocess (so every byte is freshly mapped, as in a
real job, and ru_maxrss is that path's own peak); the paths alternate round by round
(odd rounds reversed). Inside each child only the construction is timed (not the
interpreter or ``import torch``); fastinit's kernels are warmed up on a tiny model first
(loaded from Numba's disk cache), except in the cold run, which gets an empty
``NUMBA_CACHE_DIR`` and times the first ``materialize`` including the compiles.

Paths (each child times one thing):

* ``torch``: ``Llama(cfg)`` -- torch's own ``reset_parameters`` in every layer.
* ``fastinit``: ``with torch.device("meta"): Llama(cfg)`` then ``materialize(model, seed=0)``;
  also the split: construction on meta, ``to_empty``, the fills, and the same fills again
  on the now touched memory (``reset_parameters``: the kernels alone, no page faults).
* ``touch``: ``torch.empty`` of every tensor of the model, then each first-touched by 2
  threads: ``zero_()`` (torch's parallel fill) and fastinit's ``bench.parallel_fill``
  (Numba, fastinit's thread driver) in two children; the faster is the limit.
* ``populate`` / ``fastinit_populate``: an allocation-strategy experiment, the pages mapped in
  bulk by ``madvise(MADV_POPULATE_WRITE)`` on 2 threads (alone; and between ``to_empty`` and
  the fills). It gave no consistent gain here (BENCHMARKS.md), so ``materialize`` does not do it.

Targets (issue #16): fastinit >= 5x torch, <= 1.3x the first-touch limit,
peak RSS <= model bytes + 5% + 64 MiB, cold first materialize <= torch's construction.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CFG = {"layers": 16, "hidden": 2048, "mlp": 5504, "vocab": 32000}


def build(cfg):
    """The model: plain torch modules with torch's default init (no init code of its own)."""
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, h, f):
            super().__init__()
            self.attn_norm = nn.RMSNorm(h)
            self.q, self.k, self.v, self.o = (nn.Linear(h, h, bias=False) for _ in range(4))
            self.mlp_norm = nn.RMSNorm(h)
            self.gate, self.up = nn.Linear(h, f, bias=False), nn.Linear(h, f, bias=False)
            self.down = nn.Linear(f, h, bias=False)

    class Llama(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.embed = nn.Embedding(c["vocab"], c["hidden"])
            self.layers = nn.ModuleList(Block(c["hidden"], c["mlp"]) for _ in range(c["layers"]))
            self.norm = nn.RMSNorm(c["hidden"])
            self.lm_head = nn.Linear(c["hidden"], c["vocab"], bias=False)

    return Llama(cfg)


def populate(tensors):
    """Map the CPU storage of ``tensors`` in bulk, as a fresh process must before writing it:
    ``madvise(MADV_POPULATE_WRITE)`` (Linux >= 5.14) over each storage's whole pages, in
    64 MiB chunks on 2 threads (ctypes drops the GIL), instead of one page fault per 4 KiB
    page inside the fills. An allocation-strategy experiment, not fastinit's path."""
    import ctypes
    import threading
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    page, chunk, chunks = 4096, 64 << 20, []
    for t in tensors:
        st = t.untyped_storage()
        lo, hi = -(-st.data_ptr() // page) * page, (st.data_ptr() + st.nbytes()) // page * page
        chunks += [(a, min(hi, a + chunk)) for a in range(lo, hi, chunk)]

    def work(k):
        for a, b in chunks[k::2]:
            if libc.madvise(a, b - a, 23):  # MADV_POPULATE_WRITE
                raise OSError(ctypes.get_errno(), "madvise(MADV_POPULATE_WRITE)")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def _rss():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(mode, cfg):
    import torch
    torch.set_num_threads(2)
    out = {"mode": mode}
    if mode == "torch":
        base = _rss()
        t0 = time.perf_counter()
        m = build(cfg)
        out["seconds"] = time.perf_counter() - t0
    elif mode in ("fastinit", "fastinit_populate", "fastinit_split", "cold"):
        import fastinit.torch as ft
        if mode != "cold":  # load the kernels (disk cache) on a tiny model of the same layer types
            with torch.device("meta"):
                tiny = build({"layers": 1, "hidden": 8, "mlp": 8, "vocab": 8})
            ft.materialize(tiny, seed=0)
        base = _rss()
        t0 = time.perf_counter()
        with torch.device("meta"):
            m = build(cfg)
        t1 = time.perf_counter()
        if mode == "fastinit_populate":  # materialize with a bulk populate between to_empty and the fills
            m.to_empty(device="cpu")
            populate(list(m.parameters()))
            ft.reset_parameters(m, seed=0)
            t3 = time.perf_counter()
            out.update(seconds=t3 - t0, meta_build=t1 - t0, materialize=t3 - t1)
        elif mode != "fastinit_split":
            ft.materialize(m, seed=0)
            t3 = time.perf_counter()
            out.update(seconds=t3 - t0, meta_build=t1 - t0, materialize=t3 - t1)
        else:  # what materialize does, step by step: to_empty, then the fills
            m.to_empty(device="cpu")
            t2 = time.perf_counter()
            ft.reset_parameters(m, seed=0)
            t3 = time.perf_counter()
            ft.reset_parameters(m, seed=0)  # again, on touched memory: the kernels alone
            t4 = time.perf_counter()
            out.update(seconds=t3 - t0, meta_build=t1 - t0, to_empty=t2 - t1, fill=t3 - t2, fill_touched=t4 - t3)
    elif mode == "cold_kernels":  # each kernel the model needs, compiled alone, in the order materialize meets them
        import numpy as np
        import fastinit
        base, out["compile"] = _rss(), {}
        for name, f in (("normal float32 (Embedding)", lambda a: fastinit.normal_(a, seed=0)),
                        ("uniform float32 (Linear)", lambda a: fastinit.kaiming_uniform_(a, seed=0)),
                        ("constant (RMSNorm)", fastinit.ones_)):
            t0 = time.perf_counter()
            f(np.empty((8, 8), np.float32))
            out["compile"][name] = time.perf_counter() - t0
        out["seconds"] = sum(out["compile"].values())
    elif mode in ("touch_torch", "touch_numba", "populate"):
        with torch.device("meta"):
            shapes = [(p.shape, p.dtype) for p in build(cfg).parameters()]
        if mode == "touch_numba":
            from fastinit.bench import parallel_fill
            parallel_fill(torch.empty(1 << 20).numpy())  # JIT/cache load, thread pool
        elif mode == "populate":
            populate([torch.empty(1 << 20)])  # libc lookup, threads
        if mode == "touch_torch":
            torch.empty(1 << 20).zero_()  # torch's first fill: its thread pool and code pages (~0.5 s here)
        base, keep = _rss(), []
        t0 = time.perf_counter()
        for shape, dtype in shapes:
            t = torch.empty(shape, dtype=dtype)
            if mode == "touch_torch":
                t.zero_()
            elif mode == "touch_numba":
                parallel_fill(t.numpy())
            keep.append(t)  # every tensor stays alive, like the model's
        if mode == "populate":  # bulk populate, no write
            populate(keep)
        out["seconds"] = time.perf_counter() - t0
    else:
        raise ValueError(f"mode must be torch, fastinit, fastinit_populate, fastinit_split, cold, cold_kernels, "
                         f"touch_torch, touch_numba or populate; got {mode!r}")
    out.setdefault("peak_rss", _rss())
    out["baseline_rss"] = base
    print(json.dumps(out))


def run_child(mode, cfg, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([sys.executable, __file__, "--child", mode, "--cfg", json.dumps(cfg)],
                       capture_output=True, text=True, env=e)
    if p.returncode:
        raise RuntimeError(f"child {mode} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def model_bytes(cfg):
    h, f, v, n = cfg["hidden"], cfg["mlp"], cfg["vocab"], cfg["layers"]
    params = 2 * v * h + n * (4 * h * h + 3 * h * f + 2 * h) + h
    return params, 4 * params


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child")
    ap.add_argument("--cfg")
    for k, v in CFG.items():
        ap.add_argument(f"--{k}", type=int, default=v)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--thp", action="store_true", help="also run each fresh-memory path with THP_MEM_ALLOC_ENABLE=1")
    ap.add_argument("--no-cold", action="store_true")
    a = ap.parse_args(argv)
    if a.child:
        return child(a.child, json.loads(a.cfg))
    cfg = {k: getattr(a, k) for k in CFG}
    params, nbytes = model_bytes(cfg)
    print(f"model: {cfg}, {params / 1e9:.3f} B parameters, {nbytes / 2**30:.2f} GiB float32; "
          f"{os.cpu_count()} CPUs; {a.rounds} rounds, each path in a fresh process", flush=True)
    paths = {"torch": ("torch", {}), "fastinit": ("fastinit", {}), "fastinit_populate": ("fastinit_populate", {}),
             "fastinit_split": ("fastinit_split", {}), "touch_torch": ("touch_torch", {}),
             "touch_numba": ("touch_numba", {}), "populate": ("populate", {})}
    if a.thp:
        thp = {"THP_MEM_ALLOC_ENABLE": "1"}
        paths.update({"fastinit+thp": ("fastinit", thp), "touch_torch+thp": ("touch_torch", thp),
                      "touch_numba+thp": ("touch_numba", thp)})
    res = {k: [] for k in paths}
    items = list(paths.items())
    for r in range(a.rounds):
        for key, (mode, env) in (items if r % 2 == 0 else items[::-1]):
            res[key].append(run_child(mode, cfg, env))
            print(f"  round {r + 1} {key:16s} {res[key][-1]['seconds']:7.3f} s", flush=True)
    best = {k: min(v, key=lambda x: x["seconds"]) for k, v in res.items()}
    sec = {k: v["seconds"] for k, v in best.items()}
    touch_keys = [k for k in sec if k.startswith("touch")]  # the memset references (populate: no write)
    plain = min((k for k in touch_keys if not k.endswith("thp")), key=sec.get)
    limit = min(touch_keys, key=sec.get)
    print(f"\nbest of {a.rounds} (seconds, and GB/s of model bytes):")
    for k, s in sec.items():
        print(f"  {k:16s} {s:7.3f} s  {nbytes / s / 1e9:6.2f} GB/s")
    fi, sp = best["fastinit"], best["fastinit_split"]
    print(f"fastinit: meta build {fi['meta_build']:.3f} s + materialize {fi['materialize']:.3f} s; split (best "
          f"round): meta build {sp['meta_build']:.3f} s, to_empty {sp['to_empty']:.3f} s, fills on fresh memory "
          f"{sp['fill']:.3f} s, the same fills again on touched memory {sp['fill_touched']:.3f} s")
    ratios = [t["seconds"] / f["seconds"] for t, f in zip(res["torch"], res["fastinit"])]
    print(f"fastinit vs torch: {sec['torch'] / sec['fastinit']:.2f}x (best/best), per-round "
          f"{', '.join(f'{x:.2f}' for x in ratios)}  [target >= 5x]")
    print(f"fastinit / first touch with the same allocator ({plain}): {sec['fastinit'] / sec[plain]:.2f}x  "
          f"[target <= 1.3x]; per round "
          + ", ".join(f"{f['seconds'] / min(res[k][r]['seconds'] for k in touch_keys if not k.endswith('thp')):.2f}"
                      for r, f in enumerate(res["fastinit"])))
    nop = [f["seconds"] / n["seconds"] for n, f in zip(res["fastinit_populate"], res["fastinit"])]
    print(f"bulk populate (MADV_POPULATE_WRITE) before the fills: fastinit / fastinit_populate per round "
          f"{', '.join(f'{x:.2f}' for x in nop)}; populate alone {sec['populate']:.3f} s "
          f"= {sec['populate'] / sec[plain]:.2f}x the memset first touch")
    if a.thp:
        pthp = min((k for k in touch_keys if k.endswith("thp")), key=sec.get)
        ft_thp = sec["fastinit+thp"]
        print(f"THP_MEM_ALLOC_ENABLE=1: fastinit+thp {ft_thp:.3f} s = {ft_thp / sec[pthp]:.2f}x its first touch "
              f"({pthp}); vs torch {sec['torch'] / ft_thp:.2f}x")
    best_fi = min((k for k in sec if k.startswith("fastinit") and k != "fastinit_split"), key=sec.get)
    print(f"best fastinit path ({best_fi}) / fastest first touch in this run ({limit}): "
          f"{sec[best_fi] / sec[limit]:.2f}x")
    extra = max(r["peak_rss"] - r["baseline_rss"] for r in res["fastinit"])
    budget = 0.05 * nbytes + 64 * 2**20
    print(f"peak RSS of the fastinit path: {fi['peak_rss'] / 2**30:.3f} GiB, {extra / 2**20:.0f} MiB over its "
          f"pre-construction baseline ({fi['baseline_rss'] / 2**20:.0f} MiB: interpreter, torch, kernels); "
          f"growth - model bytes = {(extra - nbytes) / 2**20:+.0f} MiB, budget 5% + 64 MiB = "
          f"{budget / 2**20:.0f} MiB -> {'OK' if extra - nbytes <= budget else 'OVER'}")
    if not a.no_cold:
        with tempfile.TemporaryDirectory() as d:
            c = run_child("cold", cfg, {"NUMBA_CACHE_DIR": d})
        with tempfile.TemporaryDirectory() as d:
            k = run_child("cold_kernels", cfg, {"NUMBA_CACHE_DIR": d})
        print(f"cold first run (empty NUMBA_CACHE_DIR): meta build {c['meta_build']:.3f} s + first materialize "
              f"{c['materialize']:.3f} s (compiles included) = {c['seconds']:.3f} s; torch's construction "
              f"{sec['torch']:.3f} s (best) .. {max(x['seconds'] for x in res['torch']):.3f} s (worst)  "
              f"[target: cold <= torch]")
        print(f"  of which the kernels' first compiles (another fresh cache, tiny tensors): "
              + ", ".join(f"{n} {v:.1f} s" for n, v in k["compile"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
