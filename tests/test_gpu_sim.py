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
import time
from types import SimpleNamespace

import pytest
from conftest import repo_root


def test_gpu_kernels_under_the_cuda_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    root = repo_root()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                        "tests/test_gpu.py", "benchmarks/bench_gpu.py"], cwd=root, env=env, capture_output=True, text=True, timeout=1500)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-8000:]
    passed = int(re.search(r"(\d+) passed", out).group(1))
    assert passed >= 90, out[-3000:]
    # everything ran but what needs a real GPU's CuPy, torch CUDA or PTX
    reasons = re.findall(r"SKIPPED \[\d+\] [^:]+:\d+: (.*)", out)
    real_gpu_only = ("CuPy", "torch with CUDA", "torch has no CUDA", "PTX")
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


def test_gpu_time_warms_up_then_takes_the_median(monkeypatch):
    from fastinit import bench
    from fastinit.gpu import runtime
    monkeypatch.setattr(runtime, "SIM", False)
    monkeypatch.setattr(bench, "_cuda_sync", lambda: None)
    monkeypatch.setattr(bench, "GPU_WARMUP_S", 0.05)
    calls = []
    durations = iter([0.0] * 1000)

    def op():
        calls.append(time.perf_counter())
        time.sleep(next(durations))

    t = bench.gpu_time(op, repeat=3)
    assert len(calls) >= 10 + 2  # compile call + warm-up loop + at least 10 timed calls
    assert calls[-10] - calls[0] >= 0.05  # the timed calls come after the warm-up
    assert 0.0 <= t < 0.05
