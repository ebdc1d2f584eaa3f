"""The built-in comparison behind ``fastinit bench`` (and the reference kernels
the benchmark suite shares): fastinit vs NumPy's best way vs torch, each also as
a fraction of the machine's write bandwidth measured in the same run.

Timings are best-of-``repeat`` wall times of one call on a pre-allocated output
(no allocation timed), after one warm-up call (JIT compile not timed; see
``jit_latency`` for that). ``run`` interleaves its calls round by round.
"""
from __future__ import annotations

import functools
import json
import math
import os
import platform
import subprocess
import sys
import time

import numba
import numpy as np
from numba import njit

import fastinit as fi
from fastinit.cpu.runtime import run_tiles
from fastinit.cpu.ntstore import store_fence, stream_copy

__all__ = ["parallel_fill", "parallel_copy", "interleaved", "interleaved_times", "median_ratio", "run", "format_table", "act_run", "format_act_table", "jit_latency",
           "gpu_run", "gpu_act_run", "gpu_times", "gpu_time", "sm_clock_mhz"]


@njit(nogil=True, cache=True)
def _fill_range(out, lo, hi, value):
    o = out[lo:hi]  # a view from 0: no index wraparound checks, vectorized
    for i in range(o.size):
        o[i] = value


@njit(nogil=True, cache=True)
def _copy_range(dst, src, lo, hi):
    d, s = dst[lo:hi], src[lo:hi]
    for i in range(d.size):
        d[i] = s[i]


def _flat(a):
    """``a`` (C-contiguous) as 1-D; 16-bit floats as uint16 (Numba's CPU target has
    no float16/bfloat16 arrays: same bytes)."""
    flat = a.reshape(-1)
    return flat.view(np.uint16) if flat.dtype.itemsize == 2 else flat


# The references run on fastinit's own thread driver, not Numba's parallel=True:
# its OpenMP workers keep spinning after a parallel loop and slowed the call
# timed next (fastinit normal_, 2**23 float32, best of 8, 2-core session
# machine, 2026-11-23: 1.34 G elements/s alone, 0.92-0.98 right after the
# OpenMP fill, 1.24-1.27 only after a 100 ms sleep).
def parallel_fill(out):
    """Write-bandwidth reference: a parallel fill of ``out`` (every element 1)."""
    a = _flat(out)
    v = a.dtype.type(1)
    run_tiles(lambda r0, r1, c0, c1: _fill_range(a, c0, c1, v), 1, a.size)


def parallel_copy(dst, src):
    """Copy-bandwidth reference: parallel ``dst[:] = src`` (1 read + 1 write)."""
    d, s_ = _flat(dst), _flat(src)
    run_tiles(lambda r0, r1, c0, c1: _copy_range(d, s_, c0, c1), 1, d.size)


__all__ += ["stream_fill", "stream_streams", "CPU_OPS"]


def stream_fill(out):
    """Write-bandwidth limit: a parallel fill of ``out`` with streaming stores
    (``cpu/ntstore.py``: whole lines, no read for ownership), every element 1."""
    from .cpu import constant
    a = _flat(out)
    v = a.dtype.type(1)
    kernel = constant.set_range
    run_tiles(lambda r0, r1, c0, c1: kernel(a, c0, c1, v, 1), 1, a.size)


@njit(nogil=True, cache=True)
def _streams_range(a, b, c, nin, y, z, w, nout, lo, hi, stream):
    """Read ``nin`` of (a, b, c), write ``nout`` of (y, z, w), over [lo, hi):
    every output = the xor of the inputs (as unsigned words: no float math);
    ``stream``: through an L1 tile and out with streaming stores
    (``ntstore.stream_copy``), else one direct loop with regular stores."""
    if not stream:
        sa, sb, sc, sy, sz, sw = a[lo:hi], b[lo:hi], c[lo:hi], y[lo:hi], z[lo:hi], w[lo:hi]
        if nin == 1 and nout == 1:
            for i in range(sa.size):
                sy[i] = sa[i]
        elif nin == 2 and nout == 1:
            for i in range(sa.size):
                sy[i] = sa[i] ^ sb[i]
        elif nin == 2 and nout == 2:
            for i in range(sa.size):
                v = sa[i] ^ sb[i]
                sy[i] = v
                sz[i] = v
        elif nin == 3 and nout == 2:
            for i in range(sa.size):
                v = sa[i] ^ sb[i] ^ sc[i]
                sy[i] = v
                sz[i] = v
        elif nin == 3 and nout == 3:
            for i in range(sa.size):
                v = sa[i] ^ sb[i] ^ sc[i]
                sy[i] = v
                sz[i] = v
                sw[i] = v
        else:
            for i in range(sa.size):
                v = sa[i] ^ sb[i] ^ sc[i]
                if nin == 1:
                    v = sa[i]
                elif nin == 2:
                    v = sa[i] ^ sb[i]
                sy[i] = v
                if nout > 1:
                    sz[i] = v
                if nout > 2:
                    sw[i] = v
        return
    t = np.empty(1024, a.dtype)
    t0 = lo
    while t0 < hi:
        t1 = min(hi, t0 + 1024)
        m = t1 - t0
        sa, sb, sc = a[t0:t1], b[t0:t1], c[t0:t1]
        if nin == 1:
            for i in range(m):
                t[i] = sa[i]
        elif nin == 2:
            for i in range(m):
                t[i] = sa[i] ^ sb[i]
        else:
            for i in range(m):
                t[i] = sa[i] ^ sb[i] ^ sc[i]
        for k, o in enumerate((y, z, w)):
            if k < nout:
                stream_copy(o, t0, t, m)
        t0 = t1
    store_fence()


def _words(a):
    """``a``'s bytes as unsigned words of its item size (xor without float math)."""
    flat = a.reshape(-1)
    return flat.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[flat.dtype.itemsize])


def stream_streams(ins, outs, stream=True):
    """The memory limit of an elementwise op with these streams: a parallel pass
    that reads every array of ``ins`` once and writes every one of ``outs``
    once (1 to 3 each, same size and item size), with streaming stores
    (``stream=False``: regular stores). An activation's fused call reads x and
    grad_out and writes y and grad_in: ``stream_streams([x, g], [y, gi])``."""
    ins, outs = [_words(a) for a in ins], [_words(a) for a in outs]
    a, b, c = (ins + [ins[0]] * 2)[:3]
    y, z, w = (outs + [outs[0]] * 2)[:3]
    nin, nout, st = len(ins), len(outs), 1 if stream else 0
    run_tiles(lambda r0, r1, c0, c1: _streams_range(a, b, c, nin, y, z, w, nout, c0, c1, st), 1, a.size)


def best_time(fn, repeat):
    fn()  # warm-up: JIT, page faults, thread pools
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


#: every op the comparison knows; ``run`` skips orthogonal by default (QR is O(n**1.5))
OPS = ("uniform", "normal", "trunc_normal", "kaiming_uniform", "xavier_normal", "constant", "orthogonal")
QUICK_OPS = OPS[:5]
#: ``run``'s default (CPU): the random ops and ``constant_`` (write-only: the streaming fill's own op)
CPU_OPS = OPS[:6]


def fastinit_op(op, out):
    """The fastinit call of ``op`` on ``out`` (a 2-D array for the fan-based ops)."""
    k = math.sqrt(5)
    return {"uniform": lambda: fi.uniform_(out, -1.0, 1.0, seed=1),
            "normal": lambda: fi.normal_(out, seed=1),
            "trunc_normal": lambda: fi.trunc_normal_(out, seed=1),
            "kaiming_uniform": lambda: fi.kaiming_uniform_(out, a=k, seed=1),
            "xavier_normal": lambda: fi.xavier_normal_(out, seed=1),
            "constant": lambda: fi.constant_(out, 0.5),
            "orthogonal": lambda: fi.orthogonal_(out, seed=1)}[op]


def numpy_op(op, out):
    """NumPy's best way (``Generator`` with ``dtype=``/``out=``), or None where NumPy
    has no such sampler (truncated normal, fan-based, orthogonal) or dtype."""
    if op == "constant":
        return lambda: out.fill(0.5)
    if out.dtype != np.float32 or op not in ("uniform", "normal"):
        return None
    rng = np.random.default_rng(1)
    flat = out.reshape(-1)
    if op == "uniform":
        return lambda: rng.random(out=flat, dtype=np.float32)
    return lambda: rng.standard_normal(out=flat, dtype=np.float32)


def torch_op(op, t):
    """torch's call of ``op`` on tensor ``t`` (``Tensor.*_`` / ``torch.nn.init``)."""
    import torch
    k = math.sqrt(5)
    return {"uniform": lambda: t.uniform_(-1.0, 1.0),
            "normal": lambda: t.normal_(),
            "trunc_normal": lambda: torch.nn.init.trunc_normal_(t),
            "kaiming_uniform": lambda: torch.nn.init.kaiming_uniform_(t, a=k),
            "xavier_normal": lambda: torch.nn.init.xavier_normal_(t),
            "constant": lambda: t.fill_(0.5),
            "orthogonal": lambda: torch.nn.init.orthogonal_(t)}[op]


def interleaved_times(calls, repeat, progress=None):
    """``{key: [seconds of round 0, 1, ...]}`` of ``repeat`` rounds, each calling
    every one of ``calls`` (``{key: fn}``, already warmed up) once, in turn, odd
    rounds in reverse order: a slow minute of a noisy host then hits every call
    of the round, and no call always runs right after the same neighbour."""
    times = {key: [] for key in calls}
    items = list(calls.items())
    for r in range(repeat):
        if progress:
            progress(f"round {r + 1} of {repeat}")
        for key, f in (items if r % 2 == 0 else items[::-1]):
            t0 = time.perf_counter()
            f()
            times[key].append(time.perf_counter() - t0)
    return times


def interleaved(calls, repeat, progress=None):
    """``{key: best seconds}`` of ``interleaved_times``: their ratios compare."""
    return {key: min(ts) for key, ts in interleaved_times(calls, repeat, progress).items()}


def median_ratio(times, ref, key):
    """Median over the rounds of ``times[ref][r] / times[key][r]`` (``times`` from
    ``interleaved_times``): ``key``'s speed relative to ``ref``'s, taken round by
    round, so a slow minute that hits both cancels."""
    return float(np.median(np.asarray(times[ref]) / np.asarray(times[key])))


def run(n=1 << 26, dtypes=("float32", "bfloat16"), repeat=3, ops=None, progress=None):
    """Measure every op; returns a dict ready for JSON (see ``format_table``).

    Every timed call (the fill reference of each dtype, then each op x dtype x
    library) runs once per round, in turn, and keeps its best of ``repeat``
    rounds: a slow minute of a noisy host then hits every row of the round, so
    the ratios of one run compare (timing one row after another swung the
    1 GiB float32 fill 3.3-6.5 G elements/s between runs on the 2-core session
    machine). Costs memory: the outputs of every dtype, numpy and torch, are
    allocated at once (4 GiB for ``--full``'s 2**28 elements x 3 dtypes).
    """
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(numba.get_num_threads())
    cols = min(4096, n)
    shape = (n // cols, cols)  # 2-D, so the fan-based ops have fans
    ops = ops or CPU_OPS
    calls = {}  # (op, dtype, column) -> call; op None = the dtype's fill references
    for dtype in dtypes:
        out = np.empty(shape, fi.dispatch.resolve_dtype(dtype))
        t = torch.empty(shape, dtype=getattr(torch, dtype)) if torch is not None else None
        calls[None, dtype, "fill_s"] = functools.partial(parallel_fill, out)
        calls[None, dtype, "sfill_s"] = functools.partial(stream_fill, out)
        for op in ops:
            calls[op, dtype, "fastinit_s"] = fastinit_op(op, out)
            f_np = numpy_op(op, out)
            if f_np is not None:
                calls[op, dtype, "numpy_s"] = f_np
            if t is not None:
                calls[op, dtype, "torch_s"] = torch_op(op, t)
    for (op, dtype, col), f in calls.items():  # warm-up: JIT, page faults, thread pools
        if progress and col == "fastinit_s":
            progress(f"{op} {dtype} (first call)")
        f()
    best = interleaved(calls, repeat, progress)
    rows = [{"op": op, "dtype": dtype, "n": shape[0] * shape[1], "device": "cpu",
             "fill_s": best[None, dtype, "fill_s"], "sfill_s": best[None, dtype, "sfill_s"],
             "fastinit_s": best[op, dtype, "fastinit_s"],
             "numpy_s": best.get((op, dtype, "numpy_s")), "torch_s": best.get((op, dtype, "torch_s"))}
            for dtype in dtypes for op in ops]
    return {"machine": machine_info(), "rows": rows,
            "command": " ".join(sys.argv) if sys.argv else "fastinit.bench.run()"}


# ---------------------------------------------------------------- activations
#: (label, registry name, params) for every activation the benchmarks time
ACTS = tuple((n, n, {}) for n, e in fi.activations.ACTIVATIONS.items() if not e.gated) + (
    ("gelu_tanh", "gelu", {"approximate": "tanh"}), ("swiglu", "swiglu", {}), ("geglu", "geglu", {}))
ACT_MODES = ("fused", "forward", "backward")
#: the default ``fastinit bench`` activation: gelu, fused (one, so the main job, first compiles
#: included, stays under 2 minutes on 2 cores: 122 s measured with relu too)
QUICK_ACTS = ("gelu",)


def _act(label):
    for lab, name, params in ACTS:
        if lab == label:
            return name, params, fi.activations.ACTIVATIONS[name].gated
    raise ValueError(f"unknown activation {label!r}; choose from {', '.join(a[0] for a in ACTS)}")


def act_buffers(label, n, dtype, seed=0):
    """Inputs (x or a, b), grad_out and output buffers for one activation."""
    name, params, gated = _act(label)
    dt = fi.dispatch.resolve_dtype(dtype)
    rng = np.random.default_rng(seed)
    ins = [(rng.standard_normal(n, dtype=np.float32) * 3).astype(dt) for _ in range(2 if gated else 1)]
    g = rng.standard_normal(n, dtype=np.float32).astype(dt)
    outs = [np.empty(n, dt) for _ in range(3 if gated else 2)]
    return {"ins": ins, "g": g, "outs": outs}


def act_bytes(label, mode, itemsize):
    """Bytes a kernel must move per element: inputs read + outputs written."""
    gated = _act(label)[2]
    nin = 2 if gated else 1
    nout = {"forward": 1, "backward": nin, "fused": 1 + nin}[mode]
    reads = nin + (0 if mode == "forward" else 1)
    return (reads + nout) * itemsize


def act_streams(label, mode, buf):
    """(arrays read, arrays written) by one call of ``label`` in ``mode`` (as ``act_bytes``
    counts them): forward reads x (a, b), writes y; backward reads x (a, b) and
    grad_out, writes grad_in (ga, gb); fused both."""
    gated = _act(label)[2]
    nin = 2 if gated else 1
    ins, o = list(buf["ins"]), buf["outs"]
    if mode == "forward":
        return ins, [o[0]]
    if mode == "backward":
        return ins + [buf["g"]], o[1:1 + nin]
    return ins + [buf["g"]], o[:1 + nin]


def fastinit_act(label, mode, buf):
    """fastinit's call: ``forward`` / ``backward`` / ``fused`` (with grad_out) into
    the pre-allocated outputs."""
    name, params, gated = _act(label)
    A = fi.activations
    x = tuple(buf["ins"]) if gated else buf["ins"][0]
    o, g = buf["outs"], buf["g"]
    if mode == "forward":
        return lambda: A.forward(name, x, out=o[0], **params)
    if mode == "backward":
        out = (o[1], o[2]) if gated else o[1]
        return lambda: A.backward(name, g, x, out=out, **params)
    gi = (o[1], o[2]) if gated else o[1]
    return lambda: A.fused(name, x, g, out=o[0], grad_in=gi, **params)


def _torch_view(a):
    import torch
    if a.dtype.name == "bfloat16":
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def torch_act(label, mode, buf):
    """torch eager on the same data: ``forward`` under no_grad, ``backward`` =
    ``autograd.grad`` through a recorded graph, ``fused`` = forward + backward
    (what an autograd training step pays for the activation)."""
    import torch
    name, params, gated = _act(label)
    e = fi.activations.ACTIVATIONS[name]
    ins = [a if isinstance(a, torch.Tensor) else _torch_view(a) for a in buf["ins"]]
    g = buf["g"] if isinstance(buf["g"], torch.Tensor) else _torch_view(buf["g"])

    def f(*t):
        return e.torch(torch, *t, **params)

    if mode == "forward":
        def run():
            with torch.no_grad():
                f(*ins)
        return run
    leaves = [t.detach().requires_grad_() for t in ins]
    if mode == "backward":
        y = f(*leaves)
        return lambda: torch.autograd.grad(y, leaves, g, retain_graph=True)

    def step():
        for t in leaves:
            t.grad = None
        f(*leaves).backward(g)
    return step


def act_run(n=1 << 26, dtypes=("float32",), repeat=3, acts=None, modes=("fused",), progress=None):
    """Time every activation and mode; rows as in ``run`` plus the bytes each
    kernel moves and a parallel copy (1 read + 1 write) as the bandwidth
    reference of the same run."""
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(numba.get_num_threads())
    rows = []
    for dtype in dtypes:
        dt = fi.dispatch.resolve_dtype(dtype)
        for label in acts or QUICK_ACTS:
            buf = act_buffers(label, n, dtype)
            # the copy reference next to each activation (this machine's bandwidth drifts
            # by 2x within minutes), into buffers this activation uses anyway
            # timed interleaved round by round, like ``run``
            src, dst = buf["g"].view(np.uint8), buf["outs"][0].view(np.uint8)
            calls = {"copy": functools.partial(parallel_copy, dst, src)}
            for mode in modes:
                # the op's own streams (reads, writes), with streaming stores: its memory limit
                ins, outs = act_streams(label, mode, buf)
                calls["scopy", mode] = functools.partial(stream_streams, ins, outs)
                # the same pass with regular stores: on the 2-core Zen 5 it beat the streaming one
                # (tile version: 1.21-1.31x, fused relu/gelu/sigmoid/hardtanh, 64 Mi float32, 2026-12-01)
                calls["rcopy", mode] = functools.partial(stream_streams, ins, outs, stream=False)
                calls["fastinit", mode] = fastinit_act(label, mode, buf)
                if torch is not None:
                    calls["torch", mode] = torch_act(label, mode, buf)
            if progress:
                progress(f"{label} {dtype}")
            for f in calls.values():  # warm-up: JIT, page faults, autograd graphs
                f()
            best = interleaved(calls, repeat)
            for mode in modes:
                rows.append({"op": f"{label}:{mode}", "dtype": dtype, "n": n, "device": "cpu",
                             "copy_s": best["copy"], "copy_bytes": 2 * dt.itemsize,
                             "scopy_s": best["scopy", mode], "rcopy_s": best["rcopy", mode],
                             "bytes": act_bytes(label, mode, dt.itemsize),
                             "fastinit_s": best["fastinit", mode], "numpy_s": None,
                             "torch_s": best.get(("torch", mode))})
            del buf, calls
    return {"machine": machine_info(), "rows": rows,
            "command": " ".join(sys.argv) if sys.argv else "fastinit.bench.act_run()"}


def format_act_table(result):
    """Markdown table: G elements/s, x torch, the kernel's bytes/s as a
    fraction of the parallel copy's bytes/s measured in the same run, and its
    time against a pass with the op's own reads and writes and no math
    (``stream_streams``; streaming or regular stores, the faster)."""
    lines = ["| activation:mode | dtype | device | fastinit G el/s | torch G el/s | x torch "
             "| GB/s moved | % of copy bandwidth | % of same-streams pass |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        n = r["n"]
        xt = f"{r['torch_s'] / r['fastinit_s']:.1f}x" if r["torch_s"] else "—"
        tr = f"{n / r['torch_s'] / 1e9:.2f}" if r["torch_s"] else "—"
        gbs = n * r["bytes"] / r["fastinit_s"] / 1e9
        pct = 100 * gbs / (n * r["copy_bytes"] / r["copy_s"] / 1e9)
        # the op's own streams (reads, writes), streaming or regular stores, whichever was faster
        lim = min(r.get("scopy_s") or math.inf, r.get("rcopy_s") or math.inf)
        spct = f"{100 * lim / r['fastinit_s']:.0f}%" if lim < math.inf else "—"
        lines.append(f"| {r['op']} | {r['dtype']} | {r['device']} | {n / r['fastinit_s'] / 1e9:.2f} | {tr} "
                     f"| {xt} | {gbs:.1f} | {pct:.0f}% | {spct} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- GPU (--device cuda)
def _cuda_sync():
    from .gpu import runtime
    runtime.cuda().synchronize()


#: seconds of back-to-back calls before timing a GPU op: the lent H100 idles at
#: 345 MHz and one warm-up call left the op timed first after each buffer
#: allocation up to 2x slow (2026-11-23, same kernel: uniform bf16 3.84 ms,
#: kaiming_uniform bf16 1.95 ms in one run)
GPU_WARMUP_S = 0.3
#: back-to-back launches between the two CUDA events of one sample: one kernel of a
#: 1 GiB fill is ~0.3 ms, so a sample is several ms, far above the events' ~0.5 us
#: resolution and the launch gaps of a lone call
GPU_LAUNCHES = 20
#: interleaved rounds (samples per call); the median is reported
GPU_ROUNDS = 10


def _cuda_events():
    """A factory of ``(start, stop, seconds)`` CUDA event pairs on the current
    stream: torch's events when torch has CUDA (torch ops and fastinit's launches
    into torch tensors share torch's current stream), else numba-cuda's."""
    torch = _torch_cuda()
    if torch is not None:
        def pair():
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

            def seconds():
                b.synchronize()
                return a.elapsed_time(b) / 1e3
            return a.record, b.record, seconds
        return pair
    from .gpu import runtime
    c = runtime.cuda()

    def pair():
        a, b = c.event(timing=True), c.event(timing=True)

        def seconds():
            b.synchronize()
            return c.event_elapsed_time(a, b) / 1e3
        return a.record, b.record, seconds
    return pair


def sm_clock_mhz():
    """The current SM clock of GPU 0 in MHz (``nvidia-smi``), or None without it."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=clocks.sm", "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True, timeout=10).stdout
        return int(out.split()[0])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def gpu_times(calls, rounds=GPU_ROUNDS, launches=GPU_LAUNCHES, warmup_s=None, events=None, sync=None,
              clock=None):
    """``({key: [seconds per call, one per round]}, [SM clocks seen, MHz])`` of GPU calls.

    Before timing, every call runs once (compile, allocate, touch its buffers), then
    all of them back to back, in turn, for ``warmup_s`` (``GPU_WARMUP_S``) so the clocks
    leave idle. Each of ``rounds`` rounds then times every call in turn (odd rounds in
    reverse order, like ``interleaved_times``): ``launches`` back-to-back calls between
    two CUDA events, divided by ``launches``; no host sync inside a sample. The
    reference (torch ``fill_``) and the ops of one table share the rounds, so a slow
    moment or a clock change hits all of them. ``clock()`` (``sm_clock_mhz``) is read
    after the warm-up and after the last round. ``events``, ``sync`` and ``clock``:
    ``_cuda_events()``, ``_cuda_sync`` and ``sm_clock_mhz`` unless given (tests)."""
    events = events or _cuda_events()
    sync = sync or _cuda_sync
    clock = clock or sm_clock_mhz
    warmup_s = GPU_WARMUP_S if warmup_s is None else warmup_s
    if rounds < 1 or launches < 1:
        raise ValueError(f"rounds and launches must be >= 1, got {rounds} and {launches}")
    items = list(calls.items())
    for _, f in items:
        f()
    sync()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < warmup_s:
        for _, f in items:
            f()
        sync()
    clocks = [clock()]
    times = {key: [] for key in calls}
    for r in range(rounds):
        for key, f in (items if r % 2 == 0 else items[::-1]):
            start, stop, seconds = events()
            start()
            for _ in range(launches):
                f()
            stop()
            times[key].append(seconds() / launches)
    clocks.append(clock())
    return times, [c for c in clocks if c is not None]


def gpu_time(fn, repeat):
    """Median seconds of one call of ``fn`` on the GPU (``gpu_times`` with
    ``max(repeat, GPU_ROUNDS)`` rounds). Under the CUDA simulator, whose timings
    mean nothing, a short best-of-``repeat`` wall time (smoke runs)."""
    from .gpu import runtime
    if runtime.SIM:
        return best_time(lambda: (fn(), _cuda_sync()), repeat)
    times, _ = gpu_times({0: fn}, rounds=max(repeat, GPU_ROUNDS))
    return float(np.median(times[0]))


def _gpu_medians(calls, repeat):
    """``({key: median seconds}, [SM clocks, MHz])`` of interleaved GPU calls; the
    simulator: one best-of-``repeat`` wall time each, no clock."""
    from .gpu import runtime
    if runtime.SIM:
        return {k: best_time(lambda f=f: (f(), _cuda_sync()), repeat) for k, f in calls.items()}, []
    times, clocks = gpu_times(calls, rounds=max(repeat, GPU_ROUNDS))
    return {k: float(np.median(v)) for k, v in times.items()}, clocks


def _torch_cuda():
    torch = _torch()
    if torch is not None and torch.cuda.is_available():
        return torch
    return None


def _gpu_buffer(shape, dtype, torch):
    """A GPU output: a torch CUDA tensor when torch has CUDA (bfloat16 included),
    else a Numba device array."""
    if torch is not None:
        return torch.empty(shape, dtype=getattr(torch, dtype), device="cuda")
    from .gpu import runtime
    return runtime.cuda().device_array(shape, fi.dispatch.resolve_dtype(dtype))


def _gpu_fill_ref(buf, torch):
    """Write-bandwidth reference: torch ``fill_`` (BENCHMARKS.md "GPU facts": CuPy's fill
    reached only a quarter of it), else fastinit's own constant fill kernel."""
    if torch is not None:
        return lambda: buf.fill_(1.0)
    view, kind = fi.dispatch.as_target(buf)
    from .gpu import fill
    bits = fi.dispatch.storage_scalar(1.0, kind)
    return lambda: fill.set_all(view, bits)


def gpu_run(n=1 << 28, dtypes=("float32", "bfloat16"), repeat=3, ops=None, progress=None):
    """``run`` on the GPU: fastinit (into a torch CUDA tensor, or a Numba device
    array without torch) vs torch's CUDA initializers, and the fill reference."""
    torch = _torch_cuda()
    rows = []
    cols = min(4096, n)
    shape = (n // cols, cols)
    clocks = {}
    for dtype in dtypes:
        buf = _gpu_buffer(shape, dtype, torch)
        ops_here = [op for op in (ops or QUICK_OPS) if op != "orthogonal"]  # QR: not a bandwidth-bound fill
        calls = {"fill": _gpu_fill_ref(buf, torch)}
        for op in ops_here:
            calls[op, "fastinit"] = fastinit_op(op, buf)
            if torch is not None:
                calls[op, "torch"] = torch_op(op, buf)
        if progress:
            progress(f"{dtype} cuda: {len(calls)} calls interleaved")
        med, clocks[dtype] = _gpu_medians(calls, repeat)
        for op in ops_here:
            rows.append({"op": op, "dtype": dtype, "n": n // cols * cols, "device": "cuda", "fill_s": med["fill"],
                         "fastinit_s": med[op, "fastinit"], "numpy_s": None,
                         "torch_s": med.get((op, "torch")), "sm_clock_mhz": clocks[dtype]})
        del buf, calls
    return {"machine": machine_info(), "rows": rows, "sm_clock_mhz": clocks,
            "command": " ".join(sys.argv) if sys.argv else "fastinit.bench.gpu_run()"}


def gpu_act_calls(label, n, dtype, modes, torch):
    """GPU buffers for one activation and the calls to time: ``(copy, {mode:
    (fastinit, torch or None)})``. fastinit runs its kernel through the views
    ``fastinit.torch`` uses; torch is eager forward (+ autograd backward) on the
    same CUDA tensors; the copy is torch ``copy_`` (without torch: fastinit's
    relu forward, one read + one write)."""
    A = fi.activations
    name, params, gated = _act(label)
    e = A.ACTIVATIONS[name]
    p = A._params(e, dict(params))
    host = act_buffers(label, n, dtype)
    if torch is not None:
        def dev(a):
            return _torch_view(a).to("cuda")
    else:
        from .gpu import runtime

        def dev(a):
            return runtime.cuda().to_device(a)
    buf = {"ins": [dev(a) for a in host["ins"]], "g": dev(host["g"]), "outs": [dev(a) for a in host["outs"]]}
    ins = [fi.dispatch.as_target(a)[0].reshape(n) for a in buf["ins"]]
    outs = [fi.dispatch.as_target(a)[0].reshape(n) for a in buf["outs"]]
    gv, kind = fi.dispatch.as_target(buf["g"])
    gv = gv.reshape(n)
    if torch is not None:
        src, dst = buf["g"], buf["outs"][0]

        def copy():
            dst.copy_(src)
    else:
        def copy():
            A._launch(A.ACTIVATIONS["relu"], {}, 0, [gv], None, [outs[0]], kind)
    nin = 2 if gated else 1
    calls = {}
    for mode in modes:
        m = {"forward": 0, "backward": 1, "fused": 2}[mode]
        nout = {"forward": 1, "backward": nin, "fused": 1 + nin}[mode]
        o = outs[1:1 + nout] if mode == "backward" else outs[:nout]
        g = None if mode == "forward" else gv

        def call(o=o, g=g, m=m):
            A._launch(e, p, m, ins[:nin], g, o, kind)
        calls[mode] = (call, torch_act(label, mode, buf) if torch is not None else None)
    return copy, calls


def gpu_act_run(n=1 << 26, dtypes=("float32",), repeat=3, acts=None, modes=("fused",), progress=None):
    """``act_run`` on the GPU (see ``gpu_act_calls``); rows as in ``act_run``."""
    torch = _torch_cuda()
    rows = []
    for dtype in dtypes:
        itemsize = fi.dispatch.resolve_dtype(dtype).itemsize
        for label in acts or QUICK_ACTS:
            copy, calls = gpu_act_calls(label, n, dtype, modes, torch)
            timed = {"copy": copy}
            for mode in modes:
                f_fi, f_t = calls[mode]
                timed["fastinit", mode] = f_fi
                if f_t is not None:
                    timed["torch", mode] = f_t
            if progress:
                progress(f"{label} {dtype} cuda")
            med, clocks = _gpu_medians(timed, repeat)
            for mode in modes:
                rows.append({"op": f"{label}:{mode}", "dtype": dtype, "n": n, "device": "cuda",
                             "copy_s": med["copy"], "copy_bytes": 2 * itemsize,
                             "bytes": act_bytes(label, mode, itemsize),
                             "fastinit_s": med["fastinit", mode], "numpy_s": None,
                             "torch_s": med.get(("torch", mode)), "sm_clock_mhz": clocks})
            del copy, calls, timed
    return {"machine": machine_info(), "rows": rows,
            "command": " ".join(sys.argv) if sys.argv else "fastinit.bench.gpu_act_run()"}


def machine_info():
    import llvmlite.binding as ll
    features = ll.get_host_cpu_features()
    simd = "avx512f" if features.get("avx512f") else ("avx2" if features.get("avx2") else "sse")
    torch = sys.modules.get("torch")
    info = {"cpu": ll.get_host_cpu_name(), "simd": simd, "threads": numba.get_num_threads(),
            "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "fastinit": fi.__version__, "torch": getattr(torch, "__version__", None),
            "date": time.strftime("%Y-%m-%d"), "gpu": gpu_name()}
    return info


def gpu_name():
    """The current GPU's name if the GPU backend is already loaded (this never
    imports numba.cuda itself), "CUDA simulator" under NUMBA_ENABLE_CUDASIM."""
    runtime = sys.modules.get("fastinit.gpu.runtime")
    if runtime is None:
        return None
    try:
        c = runtime.cuda()
    except (ImportError, RuntimeError):
        return None
    if runtime.SIM:
        return "CUDA simulator"
    name = c.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def format_table(result):
    """Markdown table: G elements/s and ratios vs torch / NumPy, % of fill bandwidth."""
    m = result["machine"]
    gpu = f"; GPU: {m['gpu']}" if m.get("gpu") else ""
    lines = [f"machine: {m['cpu']} ({m['simd']}), {m['threads']} threads{gpu}; fastinit {m['fastinit']}, "
             f"numpy {m['numpy']}, numba {m['numba']}, torch {m['torch']}; {m['date']}",
             "",
             "| op | dtype | device | fastinit G el/s | numpy G el/s | torch G el/s | x torch | x numpy "
             "| % of fill bandwidth | % of streaming fill |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]

    def rate(s, n):
        return f"{n / s / 1e9:.2f}" if s else "—"

    for r in result["rows"]:
        n = r["n"]
        xt = f"{r['torch_s'] / r['fastinit_s']:.1f}x" if r["torch_s"] else "—"
        xn = f"{r['numpy_s'] / r['fastinit_s']:.1f}x" if r["numpy_s"] else "—"
        bw = f"{100 * r['fill_s'] / r['fastinit_s']:.0f}%"
        sbw = f"{100 * r['sfill_s'] / r['fastinit_s']:.0f}%" if r.get("sfill_s") else "—"
        lines.append(f"| {r['op']} | {r['dtype']} | {r['device']} | {rate(r['fastinit_s'], n)} | "
                     f"{rate(r['numpy_s'], n)} | {rate(r['torch_s'], n)} | {xt} | {xn} | {bw} | {sbw} |")
    return "\n".join(lines)


def plot(result, path):
    """Bar chart of G elements/s per op and library (matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = result["rows"]
    labels = [f"{r['op']}\n{r['dtype']}" for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(rows)), 4))
    for i, (key, name) in enumerate((("fastinit_s", "fastinit"), ("numpy_s", "numpy"), ("torch_s", "torch"))):
        vals = [r["n"] / r[key] / 1e9 if r[key] else 0 for r in rows]
        ax.bar(x + (i - 1) * 0.27, vals, 0.27, label=name)
    fill = [r["n"] / r["fill_s"] / 1e9 for r in rows]
    ax.plot(x, fill, "k_", markersize=20, label="parallel fill (write bandwidth)")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("G elements / s")
    m = result["machine"]
    ax.set_title(f"fastinit bench — {m['cpu']} ({m['simd']}), {m['threads']} threads, {m['date']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


LATENCY_SCRIPT = r"""
import time
t0 = time.perf_counter()
import fastinit as fi
t1 = time.perf_counter()
fi.{call}
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def jit_latency(call="normal((256, 256), seed=0)", cache_dir=None):
    """(import s, first call s) of a fresh interpreter; ``cache_dir`` selects the
    Numba cache (an empty one measures a cold compile)."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    out = subprocess.run([sys.executable, "-c", LATENCY_SCRIPT.format(call=call)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def save(result, path):
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
