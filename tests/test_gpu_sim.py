"""CI has no GPU: run tests/test_gpu.py's GPU-vs-CPU checks (and the GPU
benchmark groups once, in smoke mode) under Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``), which runs the very same ``numba.cuda``
kernels, and the ``@njit`` Philox, samplers and activation math they call, on
the CPU. It must be set before numba is imported, hence the subprocess.

Below it, unit tests of the real-GPU code paths the simulator skips (exact
code generation, the GPU timer), with fakes for numba-cuda."""
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
from conftest import bf16_bits_reference, repo_root


def test_gpu_kernels_under_the_cuda_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    root = repo_root()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                        "tests/test_gpu.py", "benchmarks/bench_gpu.py"],
                       cwd=root, env=env, capture_output=True, text=True, timeout=1500)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-8000:]
    passed = int(re.search(r"(\d+) passed", out).group(1))
    assert passed >= 90, out[-3000:]
    # everything ran but what needs a real GPU's CuPy, torch CUDA or PTX
    reasons = re.findall(r"SKIPPED \[\d+\] [^:]+:\d+: (.*)", out)
    real_gpu_only = ("CuPy", "torch with CUDA", "torch has no CUDA", "PTX", "a real GPU only")
    assert all(any(k in r for k in real_gpu_only) for r in reasons), reasons


# ------------------------------------------------ the real-GPU code paths the simulator skips
def test_exact_codegen_sets_fma_off_and_refuses_lto():
    # the first H100 run: numba-cuda's default LTO re-fused a*b+c (runtime._exact_codegen)
    from fastinit.gpu import runtime
    lib = SimpleNamespace(_nvvm_options={"opt": 3}, _lto=False)
    runtime._exact_codegen(SimpleNamespace(_codelibrary=lib))
    assert lib._nvvm_options == {"opt": 3, "fma": False}
    with pytest.raises(RuntimeError, match="LTO"):
        runtime._exact_codegen(SimpleNamespace(_codelibrary=SimpleNamespace(_nvvm_options={}, _lto=True)))
    with pytest.raises(RuntimeError, match="FMA contraction"):
        runtime._exact_codegen(SimpleNamespace())  # another numba-cuda's layout: refuse, do not guess


def test_jit_turns_lto_off_on_a_real_gpu(monkeypatch):
    from fastinit.gpu import runtime
    seen = {}
    fake = SimpleNamespace(jit=lambda fn, **kw: seen.update(kw) or fn)
    monkeypatch.setattr(runtime, "_cuda", fake)
    monkeypatch.setattr(runtime, "SIM", False)
    runtime.jit(lambda: None)
    assert seen == {"lto": False}


class _FakeGpu:
    """A GPU clock for ``bench.gpu_times``: each call advances it by its cost; events
    read it (what CUDA events measure: device time between two records)."""

    def __init__(self, costs):
        self.now, self.costs, self.log, self.synced = 0.0, costs, [], 0

    def call(self, key):
        def f():
            self.log.append(key)
            self.now += self.costs[key]
        return f

    def events(self):
        marks = {}
        return (lambda: marks.__setitem__("a", self.now), lambda: marks.__setitem__("b", self.now),
                lambda: marks["b"] - marks["a"])

    def sync(self):
        self.synced += 1


def test_gpu_times_warms_up_interleaves_rounds_and_divides_by_launches():
    from fastinit import bench
    gpu = _FakeGpu({"fill": 1e-3, "op": 3e-3, "torch": 2e-3})
    calls = {k: gpu.call(k) for k in ("fill", "op", "torch")}
    clocks = iter([1755, 1980])
    times, seen = bench.gpu_times(calls, rounds=10, launches=5, warmup_s=0.02, events=gpu.events, sync=gpu.sync,
                                  clock=lambda: next(clocks))
    assert seen == [1755, 1980]  # after the warm-up and after the last round
    assert {k: len(v) for k, v in times.items()} == {"fill": 10, "op": 10, "torch": 10}
    for k, cost in gpu.costs.items():  # per call: each sample's events span 5 launches
        assert all(abs(t - cost) < 1e-12 for t in times[k]), (k, times[k])
    timed = gpu.log[-10 * 3 * 5:]
    warm = gpu.log[:-len(timed)]
    assert warm[:3] == ["fill", "op", "torch"] and len(warm) > 3 and gpu.synced >= 2
    samples = [timed[i:i + 5] for i in range(0, len(timed), 5)]
    assert all(len(set(s)) == 1 for s in samples)  # launches back to back, no other call between
    order = [s[0] for s in samples]
    assert order[:3] == ["fill", "op", "torch"] and order[3:6] == ["torch", "op", "fill"]  # odd rounds reversed


def test_gpu_times_rejects_empty_rounds():
    from fastinit import bench
    gpu = _FakeGpu({"a": 1.0})
    with pytest.raises(ValueError, match="rounds and launches"):
        bench.gpu_times({"a": gpu.call("a")}, rounds=0, events=gpu.events, sync=gpu.sync, clock=lambda: None)


def test_gpu_time_is_the_median_of_at_least_ten_rounds(monkeypatch):
    from fastinit import bench
    from fastinit.gpu import runtime
    monkeypatch.setattr(runtime, "SIM", False)
    seen = {}

    def fake(calls, rounds, **kw):
        seen["rounds"] = rounds
        return {0: [5.0, 1.0, 2.0, 9.0, 3.0, 4.0, 8.0, 7.0, 6.0, 0.5]}, [1980]
    monkeypatch.setattr(bench._gpu, "gpu_times", fake)  # where gpu_time looks it up
    assert bench.gpu_time(lambda: None, repeat=3) == 4.5
    assert seen["rounds"] == 10


def test_sm_clock_reads_nvidia_smi_or_says_none(tmp_path, monkeypatch):
    from fastinit import bench
    monkeypatch.setenv("PATH", str(tmp_path))
    assert bench.sm_clock_mhz() is None  # no nvidia-smi here
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 1980\n")
    smi.chmod(0o755)
    assert bench.sm_clock_mhz() == 1980


# ------------------------------------------------ bfloat16: cvt.rn.bf16x2.f32 == the CPU's integer rounding
def _bf16_module():
    import importlib.util as iu
    spec = iu.spec_from_file_location("bf16_rounding", os.path.join(repo_root(), "benchmarks", "bf16_rounding.py"))
    mod = iu.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _edge_patterns():
    """Every sign and finite exponent (subnormals included) x bfloat16 mantissas at
    both ends of their range x the low 16 bits around every rounding decision."""
    import numpy as np
    low = np.array([0, 1, 0x7FFE, 0x7FFF, 0x8000, 0x8001, 0xFFFE, 0xFFFF], np.uint32)
    top = np.array([0, 1, 2, 0x3F, 0x40, 0x7E, 0x7F], np.uint32) << np.uint32(16)
    expo = np.arange(255, dtype=np.uint32) << np.uint32(23)
    u = (expo[:, None, None] | top[None, :, None] | low[None, None, :]).ravel()
    return np.concatenate([u, u | np.uint32(0x80000000)])


def test_bf16_integer_rounding_is_ieee_nearest_even():
    # benchmarks/bf16_rounding.py runs this on all 2**32 inputs (78 s); CI: the edge patterns
    import numpy as np

    b = _bf16_module()
    u = _edge_patterns()
    want = b.nearest_even(u)
    assert (b.integer_rounding(u) == want).all()
    assert (bf16_bits_reference(u) == want).all()  # the kernels' own function
    first = np.zeros(5, np.uint32)
    assert b._count_mismatches(0x3F7F0000, 0x3F820000, first) == 0  # across a binade, ties included
    assert b._count_mismatches(0x7F7F0000, 0x7F800000, first) == 0  # up to overflow to inf
    # the emulation is not the integer form under another name: round-half-up differs on ties
    tie = np.array([0x3F808000], np.uint32)  # 1.00390625: halfway, lower is even
    assert b.nearest_even(tie)[0] == 0x3F80 and ((tie + np.uint32(0x8000)) >> np.uint32(16))[0] == 0x3F81


# ------------------------------------------------ the grid: one wave of resident blocks
def test_resident_blocks_follow_the_register_file():
    from fastinit.gpu import runtime
    # H100/H200: 2048 threads, 65536 registers per SM; 256-thread blocks; 8-register granularity
    assert [runtime.resident_blocks(r) for r in (16, 32, 33, 40, 46, 54, 60, 64, 128, 255)] == \
        [8, 8, 6, 6, 5, 4, 4, 4, 2, 1]
    assert runtime.resident_blocks(32, threads=128) == 16
    assert runtime.resident_blocks(32, threads=128, threads_per_sm=1536) == 12


def test_grid_is_one_wave_of_resident_blocks(monkeypatch):
    from fastinit.gpu import runtime
    dev = SimpleNamespace(id=7, MULTIPROCESSOR_COUNT=132, MAX_THREADS_PER_MULTIPROCESSOR=2048,
                          MAX_REGISTERS_PER_MULTIPROCESSOR=65536)
    c = SimpleNamespace(get_current_device=lambda: dev)
    monkeypatch.setattr(runtime, "_SM", {})
    assert runtime._grid_blocks(c, SimpleNamespace(regs_per_thread=54)) == 132 * 4
    assert runtime._grid_blocks(c, SimpleNamespace(regs_per_thread=40)) == 132 * 6

    class NoRegs:
        @property
        def regs_per_thread(self):
            raise AttributeError("no driver attributes")
    assert runtime._grid_blocks(c, NoRegs()) == 132 * runtime.BLOCKS_PER_SM  # the fixed grid as before
