"""CI has no GPU: run tests/test_gpu.py's GPU-vs-CPU checks (and the GPU
benchmark groups once, in smoke mode) under Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``), which runs the very same ``numba.cuda``
kernels, and the ``@njit`` Philox, samplers and activation math they call, on
the CPU. It must be set before numba is imported, hence the subprocess."""
import os
import re
import subprocess
import sys

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
