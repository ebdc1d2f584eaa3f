"""fastinit.dask past one machine: Zarr writes, worker scaling, memory per worker, Dask's own RNG.

    python benchmarks/dask_zarr.py [--size 4GiB] [--chunk 128MiB] [--dir /tmp] [--rounds 2] [--skip-cluster]

One run, four figures (float32, shape (size / 16 KiB, 4096), chunks of --chunk whole rows):

1. threaded scheduler, uncompressed Zarr v3 store on --dir: ``fastinit.dask.normal(...).to_zarr``
   against ``da.zeros(...).to_zarr`` of the same shape, chunks and store settings
   (``write_empty_chunks`` on, so the zeros are written too), interleaved rounds, the
   median per-round ratio (target >= 0.70: the disk, not fastinit, is the limit);
2. ``distributed.LocalCluster`` of 2 worker processes vs 1 (one thread each): the same
   write, and the blocks computed without writing (target >= 1.6x);
3. peak RSS of each worker process (VmHWM, from the warmed-up worker on) against 3 chunks + 200 MiB;
4. ``fastinit.dask.normal`` against Dask's ``da.random.default_rng(seed).standard_normal``
   computed without writing (threads, interleaved), and chunk-invariance: the same
   (1024, 1024) array with chunks 256 and 1000 -> identical for fastinit, not for Dask.

Stores are written under --dir and deleted after each timing (``os.sync`` outside the
timed region, so one write's dirty pages do not slow the next).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time

import numba
import numpy as np

import dask
import dask.array as da

import fastinit as fi
import fastinit.dask as fd


def parse_bytes(text):
    return int(dask.utils.parse_bytes(text))


def drain(x):
    """Compute every block and keep one number of it (no write): the generation rate."""
    return da.map_blocks(lambda b: np.full((1,) * b.ndim, b.nbytes, np.int64), x,
                         chunks=tuple((1,) * len(c) for c in x.chunks), dtype=np.int64)


def write(x, path):
    return x.to_zarr(path, compressors=None, config={"write_empty_chunks": True}, compute=False)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def clean(path):
    shutil.rmtree(path, ignore_errors=True)
    os.sync()


def threads_zarr(shape, chunks, root, rounds):
    """Figure 1: fastinit.dask.normal vs da.zeros written by the threaded scheduler."""
    arrays = {"fastinit normal": lambda: fd.normal(shape, seed=0, chunks=chunks),
              "da.zeros": lambda: da.zeros(shape, chunks=chunks, dtype=np.float32)}
    times = {k: [] for k in arrays}
    for r in range(rounds):
        for k in (list(arrays) if r % 2 == 0 else list(arrays)[::-1]):
            path = os.path.join(root, "t.zarr")
            job = write(arrays[k](), path)
            times[k].append(timed(lambda: job.compute(scheduler="threads")))
            clean(path)
    return times


def rng_compare(shape, chunks, rounds):
    """Figure 4: generation rate against Dask's own generator, and chunk-invariance."""
    arrays = {"fastinit.dask.normal": lambda: fd.normal(shape, seed=0, chunks=chunks),
              "da.random.default_rng(0).standard_normal": lambda: da.random.default_rng(0).standard_normal(
                  shape, chunks=chunks, dtype=np.float32)}
    times = {k: [] for k in arrays}
    for r in range(rounds):
        for k in (list(arrays) if r % 2 == 0 else list(arrays)[::-1]):
            job = drain(arrays[k]())
            times[k].append(timed(lambda: job.compute(scheduler="threads")))
    small = (1024, 1024)
    a, b = (fd.normal(small, seed=0, chunks=c).compute() for c in (256, 1000))
    ref = fi.normal(small, seed=0)
    c, d = (da.random.default_rng(0).standard_normal(small, chunks=ch, dtype=np.float32).compute()
            for ch in (256, 1000))
    invariance = {"fastinit identical": bool(np.array_equal(a, b) and np.array_equal(a, ref)),
                  "fastinit equal fraction": float(np.mean(a == b)),
                  "dask identical": bool(np.array_equal(c, d)), "dask equal fraction": float(np.mean(c == d))}
    return times, invariance


def _hwm():
    """Peak resident memory of this process: VmHWM (ru_maxrss would carry the forking
    parent's peak into a spawned worker: Linux keeps it across exec)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_hwm():
    """Start a new peak from the current RSS (Linux: 5 > /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def clusters(shape, chunks, root, rounds):
    """Figures 2 and 3: LocalClusters of 1 and 2 single-thread worker processes, both up
    at once and timed in interleaved rounds (a change in the machine's load hits both)."""
    from distributed import Client, LocalCluster
    res = {n: {"compute_s": [], "write_s": [], "tail_ok": True} for n in (1, 2)}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as c1, \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c2, \
            Client(c1, set_as_default=False) as k1, Client(c2, set_as_default=False) as k2:
        clients = {1: k1, 2: k2}
        for n, client in clients.items():
            client.compute(drain(fd.normal((64, 4096), seed=0, chunks=(16, 4096)))).result()  # load the kernels
            res[n]["base_rss"] = client.run(_hwm)
            client.run(_reset_hwm)
        tail = fi.normal((3, shape[1]), seed=0, global_shape=shape, start=(shape[0] - 3, 0))
        for r in range(rounds):
            for n in ((1, 2) if r % 2 == 0 else (2, 1)):
                client = clients[n]
                res[n]["compute_s"].append(
                    timed(lambda: client.compute(drain(fd.normal(shape, seed=0, chunks=chunks))).result()))
                path = os.path.join(root, f"c{n}.zarr")
                job = write(fd.normal(shape, seed=0, chunks=chunks), path)
                res[n]["write_s"].append(timed(lambda: client.compute(job).result()))
                res[n]["tail_ok"] &= bool(np.array_equal(np.asarray(da.from_zarr(path)[-3:]), tail))
                clean(path)
        for n, client in clients.items():
            res[n]["peak_rss"] = client.run(_hwm)
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="4GiB", help="bytes of the float32 array (default 4GiB)")
    p.add_argument("--chunk", default="128MiB", help="bytes per chunk (whole rows of 4096; default 128MiB)")
    p.add_argument("--dir", default=tempfile.gettempdir(), help="where the stores are written (deleted after)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds for figures 1 and 4")
    p.add_argument("--skip-cluster", action="store_true", help="leave out figures 2 and 3")
    args = p.parse_args(argv)
    cols = 4096
    rows = max(1, parse_bytes(args.size) // (4 * cols))
    crow = max(1, parse_bytes(args.chunk) // (4 * cols))
    shape, chunks = (rows, cols), (crow, cols)
    gib = rows * cols * 4 / 2**30
    root = tempfile.mkdtemp(prefix="fastinit-dask-bench-", dir=args.dir)
    print(f"float32 {shape}, {gib:.2f} GiB, chunks {chunks} ({crow * cols * 4 / 2**20:.0f} MiB), "
          f"{-(-rows // crow)} chunks; stores under {args.dir}; fastinit threads {numba.get_num_threads()}")
    fd.normal((64, cols), seed=0, chunks=(16, cols)).compute()  # load the kernels before any timing
    try:
        t = threads_zarr(shape, chunks, root, args.rounds)
        ratios = [a / b for a, b in zip(t["da.zeros"], t["fastinit normal"])]
        print("\n1. threaded scheduler -> uncompressed Zarr v3 (GiB/s per round)")
        for k, v in t.items():
            print(f"   {k:<16} " + "  ".join(f"{gib / s:6.2f}" for s in v))
        print(f"   fastinit / zeros: median per-round ratio {statistics.median(ratios):.2f} "
              f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.70)")
        if not args.skip_cluster:
            res = clusters(shape, chunks, root, args.rounds)
            print("\n2. LocalCluster, 1 thread per worker process (GiB/s per round)")
            for n, r in res.items():
                label = f"{n} worker{'s' if n > 1 else ' '}"
                print(f"   {label}: compute " + "  ".join(f"{gib / t:6.2f}" for t in r["compute_s"])
                      + "   write to Zarr " + "  ".join(f"{gib / t:6.2f}" for t in r["write_s"])
                      + f"   (last rows are fastinit.normal's: {r['tail_ok']})")
            for what in ("compute", "write"):
                per = [a / b for a, b in zip(res[1][f"{what}_s"], res[2][f"{what}_s"])]
                print(f"   2 vs 1 worker, {what}: median per-round ratio {statistics.median(per):.2f}x "
                      f"(rounds {', '.join(f'{x:.2f}' for x in per)}; target >= 1.6x)")
            budget = 3 * crow * cols * 4 + 200 * 2**20
            print(f"\n3. peak RSS per worker (VmHWM; budget 3 chunks + 200 MiB = {budget / 2**20:.0f} MiB)")
            for n, r in res.items():
                for addr, peak in r["peak_rss"].items():
                    print(f"   {n} worker{'s' if n > 1 else ' '} {addr}: peak {peak / 2**20:7.0f} MiB "
                          f"(warmed-up worker {r['base_rss'][addr] / 2**20:.0f} MiB) -> "
                          f"{'OK' if peak <= budget else 'OVER'}")
        t4, inv = rng_compare(shape, chunks, args.rounds)
        print("\n4. generation without writing, threaded scheduler (GiB/s per round)")
        for k, v in t4.items():
            print(f"   {k:<42} " + "  ".join(f"{gib / s:6.2f}" for s in v))
        r4 = [a / b for a, b in zip(t4["da.random.default_rng(0).standard_normal"], t4["fastinit.dask.normal"])]
        print(f"   fastinit / Dask's: median per-round ratio {statistics.median(r4):.2f}")
        print("   chunk-invariance, (1024, 1024) with chunks 256 vs 1000: "
              f"fastinit identical {inv['fastinit identical']} (equal fraction {inv['fastinit equal fraction']:.4f}); "
              f"Dask identical {inv['dask identical']} (equal fraction {inv['dask equal fraction']:.4f})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
