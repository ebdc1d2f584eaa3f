"""What both devices' benchmarks share: the ops and activations compared (fastinit's and
torch's calls), interleaved timing, and the report (machine, tables, plot, JSON).

``fastinit.bench`` re-exports everything; ``_cpu`` and ``_gpu`` hold the device runs.
"""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time

import numba
import numpy as np

import fastinit as fi


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
