"""``fastinit bench --device cuda``: ``gpu_run`` and ``gpu_act_run``, timed with CUDA events
in interleaved rounds (``gpu_times``) after a warm-up that lifts the clocks off idle.
numba-cuda and torch's CUDA are imported only when a run starts.
"""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

import fastinit as fi

from ._common import (QUICK_OPS, QUICK_ACTS, _act, _torch, _torch_view, act_buffers, act_bytes, best_time,
                      fastinit_op, machine_info, torch_act, torch_op)


def _cuda_sync():
    from ..gpu import runtime
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
    from ..gpu import runtime
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
    from ..gpu import runtime
    if runtime.SIM:
        return best_time(lambda: (fn(), _cuda_sync()), repeat)
    times, _ = gpu_times({0: fn}, rounds=max(repeat, GPU_ROUNDS))
    return float(np.median(times[0]))


def _gpu_medians(calls, repeat):
    """``({key: median seconds}, [SM clocks, MHz])`` of interleaved GPU calls; the
    simulator: one best-of-``repeat`` wall time each, no clock."""
    from ..gpu import runtime
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
    from ..gpu import runtime
    return runtime.cuda().device_array(shape, fi.dispatch.resolve_dtype(dtype))


def _gpu_fill_ref(buf, torch):
    """Write-bandwidth reference: torch ``fill_`` (BENCHMARKS.md "GPU facts": CuPy's fill
    reached only a quarter of it), else fastinit's own constant fill kernel."""
    if torch is not None:
        return lambda: buf.fill_(1.0)
    view, kind = fi.dispatch.as_target(buf)
    from ..gpu import fill
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
    from .._act_ops import launch
    from .._act_registry import ACTIVATIONS, BACKWARD, FORWARD, FUSED, check_params
    name, params, gated = _act(label)
    e = ACTIVATIONS[name]
    p = check_params(e, dict(params))
    host = act_buffers(label, n, dtype)
    if torch is not None:
        def dev(a):
            return _torch_view(a).to("cuda")
    else:
        from ..gpu import runtime

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
            launch(ACTIVATIONS["relu"], {}, FORWARD, [gv], None, [outs[0]], kind)
    nin = 2 if gated else 1
    calls = {}
    for mode in modes:
        m = {"forward": FORWARD, "backward": BACKWARD, "fused": FUSED}[mode]
        nout = {"forward": 1, "backward": nin, "fused": 1 + nin}[mode]
        o = outs[1:1 + nout] if mode == "backward" else outs[:nout]
        g = None if mode == "forward" else gv

        def call(o=o, g=g, m=m):
            launch(e, p, m, ins[:nin], g, o, kind)
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
