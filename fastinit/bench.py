"""The built-in comparison behind ``fastinit bench`` (and the reference kernels
the benchmark suite shares): fastinit vs NumPy's best way vs torch, each also as
a fraction of the machine's write bandwidth measured in the same run.

Timings are best-of-``repeat`` wall times of one call on a pre-allocated output
(no allocation timed), after one warm-up call (JIT compile not timed; see
``jit_latency`` for that).
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
from numba import njit, prange

import fastinit as fi

__all__ = ["parallel_fill", "parallel_copy", "run", "format_table", "jit_latency"]


@njit(parallel=True, cache=False)
def _pfill(out, value):
    for i in prange(out.size):
        out[i] = value


@njit(parallel=True, cache=False)
def _pcopy(dst, src):
    for i in prange(dst.size):
        dst[i] = src[i]


def parallel_fill(out):
    """Write-bandwidth reference: a parallel fill of ``out`` (flat view)."""
    flat = out.reshape(-1)
    if flat.dtype.itemsize == 2:  # Numba's CPU target has no float16/bfloat16 arrays: same bytes
        flat = flat.view(np.uint16)
    _pfill(flat, flat.dtype.type(1))


def parallel_copy(dst, src):
    """Copy-bandwidth reference: parallel ``dst[:] = src`` (1 read + 1 write)."""
    _pcopy(dst.reshape(-1), src.reshape(-1))


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
OPS = ("uniform", "normal", "trunc_normal", "kaiming_uniform", "xavier_normal", "orthogonal")
QUICK_OPS = OPS[:-1]


def fastinit_op(op, out):
    """The fastinit call of ``op`` on ``out`` (a 2-D array for the fan-based ops)."""
    k = math.sqrt(5)
    return {"uniform": lambda: fi.uniform_(out, -1.0, 1.0, seed=1),
            "normal": lambda: fi.normal_(out, seed=1),
            "trunc_normal": lambda: fi.trunc_normal_(out, seed=1),
            "kaiming_uniform": lambda: fi.kaiming_uniform_(out, a=k, seed=1),
            "xavier_normal": lambda: fi.xavier_normal_(out, seed=1),
            "orthogonal": lambda: fi.orthogonal_(out, seed=1)}[op]


def numpy_op(op, out):
    """NumPy's best way (``Generator`` with ``dtype=``/``out=``), or None where NumPy
    has no such sampler (truncated normal, fan-based, orthogonal) or dtype."""
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
            "orthogonal": lambda: torch.nn.init.orthogonal_(t)}[op]


def run(n=1 << 26, dtypes=("float32", "bfloat16"), repeat=3, ops=None, progress=None):
    """Measure every op; returns a dict ready for JSON (see ``format_table``)."""
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(numba.get_num_threads())
    rows = []
    cols = min(4096, n)
    shape = (n // cols, cols)  # 2-D, so the fan-based ops have fans
    for dtype in dtypes:
        out = np.empty(shape, fi.dispatch.resolve_dtype(dtype))
        t = torch.empty(shape, dtype=getattr(torch, dtype)) if torch is not None else None
        t_fill = best_time(functools.partial(parallel_fill, out), repeat)
        for op in ops or QUICK_OPS:
            if progress:
                progress(f"{op} {dtype}")
            f_np = numpy_op(op, out)
            rows.append({"op": op, "dtype": dtype, "n": out.size, "device": "cpu", "fill_s": t_fill,
                         "fastinit_s": best_time(fastinit_op(op, out), repeat),
                         "numpy_s": best_time(f_np, repeat) if f_np else None,
                         "torch_s": best_time(torch_op(op, t), repeat) if t is not None else None})
        del out, t
    return {"machine": machine_info(), "rows": rows,
            "command": " ".join(sys.argv) if sys.argv else "fastinit.bench.run()"}


def machine_info():
    import llvmlite.binding as ll
    features = ll.get_host_cpu_features()
    simd = "avx512f" if features.get("avx512f") else ("avx2" if features.get("avx2") else "sse")
    torch = sys.modules.get("torch")
    info = {"cpu": ll.get_host_cpu_name(), "simd": simd, "threads": numba.get_num_threads(),
            "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "fastinit": fi.__version__, "torch": getattr(torch, "__version__", None),
            "date": time.strftime("%Y-%m-%d")}
    return info


def format_table(result):
    """Markdown table: G elements/s and ratios vs torch / NumPy, % of fill bandwidth."""
    m = result["machine"]
    lines = [f"machine: {m['cpu']} ({m['simd']}), {m['threads']} threads; fastinit {m['fastinit']}, "
             f"numpy {m['numpy']}, numba {m['numba']}, torch {m['torch']}; {m['date']}",
             "",
             "| op | dtype | device | fastinit G el/s | numpy G el/s | torch G el/s | x torch | x numpy "
             "| % of fill bandwidth |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]

    def rate(s, n):
        return f"{n / s / 1e9:.2f}" if s else "—"

    for r in result["rows"]:
        n = r["n"]
        xt = f"{r['torch_s'] / r['fastinit_s']:.1f}x" if r["torch_s"] else "—"
        xn = f"{r['numpy_s'] / r['fastinit_s']:.1f}x" if r["numpy_s"] else "—"
        bw = f"{100 * r['fill_s'] / r['fastinit_s']:.0f}%"
        lines.append(f"| {r['op']} | {r['dtype']} | {r['device']} | {rate(r['fastinit_s'], n)} | "
                     f"{rate(r['numpy_s'], n)} | {rate(r['torch_s'], n)} | {xt} | {xn} | {bw} |")
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
