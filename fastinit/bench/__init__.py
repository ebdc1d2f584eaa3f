"""The built-in comparison behind ``fastinit bench`` (and the reference kernels
the benchmark suite shares): fastinit vs NumPy's best way vs torch, each also as
a fraction of the machine's write bandwidth measured in the same run.

Timings are best-of-``repeat`` wall times of one call on a pre-allocated output
(no allocation timed), after one warm-up call (JIT compile not timed; see
``jit_latency`` for that). ``run`` interleaves its calls round by round.

Split by device: ``_common`` (the ops and activations compared, interleaved timing,
the report: tables, plot, JSON, machine), ``_cpu`` (``run``, ``act_run`` and the
bandwidth references on fastinit's thread driver), ``_gpu`` (``gpu_run``,
``gpu_act_run`` and the CUDA-event timer). Import from ``fastinit.bench``: the
split is not part of the API.
"""
from __future__ import annotations

from ._common import (ACT_MODES, ACTS, CPU_OPS, LATENCY_SCRIPT, OPS, QUICK_ACTS, QUICK_OPS, _act,  # noqa: F401
                      _torch, _torch_view, act_buffers, act_bytes, best_time, fastinit_op, format_act_table,
                      format_table, gpu_name, interleaved, interleaved_times, jit_latency, machine_info,
                      median_ratio, plot, save, torch_act, torch_op)
from ._cpu import (act_run, act_streams, fastinit_act, numpy_op, parallel_copy, parallel_fill,  # noqa: F401
                   run, stream_fill, stream_streams)
from ._gpu import (GPU_LAUNCHES, GPU_ROUNDS, GPU_WARMUP_S, _gpu_buffer, _gpu_fill_ref,  # noqa: F401
                   _torch_cuda, gpu_act_calls, gpu_act_run, gpu_run, gpu_time, gpu_times, sm_clock_mhz)

__all__ = ["parallel_fill", "parallel_copy", "stream_fill", "stream_streams", "interleaved", "interleaved_times",
           "median_ratio", "run", "format_table", "act_run", "format_act_table", "jit_latency", "CPU_OPS",
           "gpu_run", "gpu_act_run", "gpu_times", "gpu_time", "sm_clock_mhz"]
