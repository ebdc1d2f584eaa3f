"""``fastinit bench`` on the CPU: ``run`` (initializers) and ``act_run`` (activations), and the
bandwidth references they divide by (a parallel fill and copy, streaming-store passes with an op's
own reads and writes), run on fastinit's own thread driver.
"""
from __future__ import annotations

import functools
import sys

import numba
import numpy as np
from numba import njit

import fastinit as fi
from fastinit.cpu.runtime import run_tiles
from fastinit.cpu.ntstore import store_fence, stream_copy

from ._common import (CPU_OPS, QUICK_ACTS, _act, _torch, act_buffers, act_bytes, fastinit_op, interleaved,
                      machine_info, torch_act, torch_op)


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



def stream_fill(out):
    """Write-bandwidth limit: a parallel fill of ``out`` with streaming stores
    (``cpu/ntstore.py``: whole lines, no read for ownership), every element 1."""
    from ..cpu import constant
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
